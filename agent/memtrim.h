/* SPDX-License-Identifier: GPL-2.0-only */
/* Agent heap policy: per-connection buffers as their own mappings, the
 * heap freed after a burst of connections handed back to the kernel (B11),
 * and no transparent huge pages. */
#ifndef SNIGATE_MEMTRIM_H
#define SNIGATE_MEMTRIM_H

#include "worker.h"

/* Allocations of at least this many bytes that no free chunk of the arena
 * fits get their own mmap (munmap on free) instead of growing the heap: the
 * 256 KiB copy and catch-up buffers of engine_copy.h. */
#define MEMTRIM_MMAP_THRESHOLD (128 * 1024)
/* A trim is due once this many connections, and a quarter of the peak
 * since the last trim, have ended... */
#define MEMTRIM_MIN_DROP 64
/* ...checked this long after a connection end (so a burst of ends costs
 * one trim, and continuous churn at a steady level costs none). */
#define MEMTRIM_DELAY_MS 1000

/* Turn transparent huge pages off for the agent (see memtrim.c) and fix
 * glibc's mmap threshold at MEMTRIM_MMAP_THRESHOLD. Call once at start,
 * before any thread. glibc's default raises the threshold to the
 * size of the first mmapped block freed (up to 32 MiB), after which the
 * 256 KiB buffers come from the worker arenas, fragment them, and are not
 * returned: RSS grew by each round of connections. */
void memtrim_init(void);

/* A connection's memory was freed on worker @w (its thread). Arms @w's
 * check timer; the check trims the heap (malloc_trim) when the open
 * connections (passthrough + Terminate) fell by MEMTRIM_MIN_DROP and by a
 * quarter of their peak since the last trim. */
void memtrim_conn_freed(struct worker *w);

/* Trims done so far (for tests and the log). */
unsigned long memtrim_count(void);

#endif
