/* SPDX-License-Identifier: GPL-2.0-only */
/* Per-thread free lists of the 256 KiB per-connection buffers. */
#ifndef SNIGATE_BUFPOOL_H
#define SNIGATE_BUFPOOL_H

#include <stddef.h>

/* The one size pooled: engine_copy.h's COPY_BUF_SIZE and SPLICE_CATCHUP_BUF. */
#define BUFPOOL_SIZE (256 * 1024)
/* Free buffers a thread keeps (8 MiB of address space, resident only as
 * far as earlier connections touched them). */
#define BUFPOOL_KEEP 32

/* A buffer of @size bytes: from this thread's free list when @size is
 * BUFPOOL_SIZE and one is there, else malloc(). NULL when out of memory. */
void *bufpool_get(size_t size);

/* Give back @buf (of @size bytes, from bufpool_get; NULL is ignored): onto
 * this thread's free list while it holds fewer than BUFPOOL_KEEP, else
 * free(). Any thread may give back any buffer. */
void bufpool_put(void *buf, size_t size);

/* Free every buffer on this thread's list (memtrim's check, after a burst). */
void bufpool_trim(void);

#endif
