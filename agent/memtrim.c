// SPDX-License-Identifier: GPL-2.0-only
/* Agent heap policy (B11): a fixed mmap threshold for the big per-connection
 * buffers, and malloc_trim() once a burst of connections has ended.
 *
 * Why both: a passthrough connection's copy/catch-up buffers (256 KiB per
 * side) no longer grow the heap: when no free chunk of the arena fits one,
 * it gets its own mapping, which free() unmaps whole (with glibc's dynamic
 * threshold the heap grew instead, and kept every such buffer). Everything
 * else a connection holds (struct conn, a Terminate connection's 96 KiB of
 * buffers, OpenSSL's SSL, handshake and record buffers) is under the mmap threshold and comes
 * from the worker's glibc arena; glibc gives an arena's memory back only
 * from its top, so after a burst most of it stays resident although it is
 * free (measured: 1.3 MB in use, 24 MB resident after 300 Terminate
 * connections). malloc_trim(0) returns the free pages of every arena
 * (MADV_DONTNEED). It runs on a worker thread, at most once per
 * MEMTRIM_DELAY_MS per worker, only when the open connections dropped, so
 * a steady load reuses its memory and never pays for re-faulting it.
 *
 * Transparent huge pages are off for the agent (PR_SET_THP_DISABLE): with
 * THP "always" (Debian's 6.1 and 6.12 kernels) khugepaged collapses any
 * 2 MiB-aligned range of a worker arena with at least one touched page
 * (max_ptes_none 511) into a huge page, so RSS can jump by 2 MiB for a few
 * KiB in use (the likely cause of 42-slowreader's one failure on the 6.1
 * guest, +2232 KiB against +36 to +296 KiB on every other run, not
 * reproduced with the agent itself; a test program's 8 MiB of 33 KiB blocks
 * in a thread arena became 8 MiB of AnonHugePages in 3 s on 6.18 with
 * "always" and khugepaged scanning every 100 ms, 0 with the prctl), and
 * malloc_trim() cannot give back part of a huge page without the kernel
 * splitting it. Small per-connection buffers gain nothing from huge pages;
 * a bounded, predictable RSS per connection is what a DaemonSet's memory
 * limit needs. */
#include <errno.h>
#include <malloc.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#include "bufpool.h"
#include "pipepool.h"
#include "conn.h"
#include "log.h"
#include "memtrim.h"
#include "terminate.h"

/* Open connections at the last trim, raised by samples at each end. */
static long peak;
static unsigned long trims;
static int trimming;

/* This thread's check timer and the worker it is armed on. */
static __thread struct ev_timer check_timer;
static __thread struct worker *check_worker;

void memtrim_init(void)
{
	/* inherited by every thread started later (and kept across fork) */
	if (prctl(PR_SET_THP_DISABLE, 1, 0, 0, 0))
		log_warn("prctl(PR_SET_THP_DISABLE): %s; with THP \"always\" the agent's RSS "
			 "may grow in 2 MiB steps", strerror(errno));
	/* also fixes the trim threshold (no dynamic adjustment either) */
	if (!mallopt(M_MMAP_THRESHOLD, MEMTRIM_MMAP_THRESHOLD))
		log_warn("mallopt(M_MMAP_THRESHOLD): refused; agent RSS may not come back "
			 "after load");
}

static long open_now(void)
{
	return __atomic_load_n(&conn_open_count, __ATOMIC_RELAXED) +
	       __atomic_load_n(&term_open_count, __ATOMIC_RELAXED);
}

/* Resident set size in KiB (/proc/self/statm), 0 if unknown. */
static long rss_kb(void)
{
	long size, rss = 0;
	FILE *f = fopen("/proc/self/statm", "re");

	if (!f)
		return 0;
	if (fscanf(f, "%ld %ld", &size, &rss) != 2)
		rss = 0;
	fclose(f);
	return rss * (sysconf(_SC_PAGESIZE) / 1024);
}

/* This thread's CPU time in ms: a slow trim that used little CPU waited
 * (preempted, or for an arena lock), one that used much walked a big heap. */
static uint64_t thread_cpu_ms(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts))
		return 0;
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void check(struct worker *w, struct ev_timer *t)
{
	long open = open_now(), pk = __atomic_load_n(&peak, __ATOMIC_RELAXED);
	long drop = pk - open, rss0, rss1;
	uint64_t t0, c0, ms, cpu;

	(void)w;
	(void)t;
	/* this thread's free buffers and pipes: at most once a second, so
	 * a steady load re-makes at most BUFPOOL_KEEP buffers and
	 * PIPEPOOL_KEEP pipes a second */
	bufpool_trim();
	pipepool_trim();
	if (drop < MEMTRIM_MIN_DROP || drop < pk / 4)
		return; /* the next end re-arms the check */
	if (__atomic_exchange_n(&trimming, 1, __ATOMIC_ACQUIRE))
		return; /* the other worker is at it */
	__atomic_store_n(&peak, open, __ATOMIC_RELAXED);
	rss0 = rss_kb();
	t0 = worker_now_ms();
	c0 = thread_cpu_ms();
	malloc_trim(0);
	ms = worker_now_ms() - t0;
	cpu = thread_cpu_ms() - c0;
	rss1 = rss_kb();
	__atomic_add_fetch(&trims, 1, __ATOMIC_RELAXED);
	__atomic_store_n(&trimming, 0, __ATOMIC_RELEASE);
	/* worth a line when it gave back much or held the arenas long */
	if (rss0 - rss1 >= 16 * 1024 || ms >= 20)
		log_info("memtrim: %ld connections ended (%ld open): RSS %ld -> %ld MiB, "
			 "malloc_trim took %llu ms (%llu ms CPU)", drop, open, rss0 >> 10,
			 rss1 >> 10, (unsigned long long)ms, (unsigned long long)cpu);
	else
		log_dbg("memtrim: %ld connections ended (%ld open): RSS %ld -> %ld KiB in %llu ms "
			"(%llu ms CPU)", drop, open, rss0, rss1, (unsigned long long)ms,
			(unsigned long long)cpu);
}

void memtrim_conn_freed(struct worker *w)
{
	long open = open_now() + 1, pk = __atomic_load_n(&peak, __ATOMIC_RELAXED);

	/* the level just before this end: a lower bound of the real peak,
	 * good enough to tell a burst's end from steady churn */
	while (open > pk && !__atomic_compare_exchange_n(&peak, &pk, open, true,
							 __ATOMIC_RELAXED, __ATOMIC_RELAXED))
		;
	if (check_worker != w) { /* first use on this thread (or a new worker) */
		check_worker = w;
		check_timer.fn = check;
		check_timer.deadline_ms = 0;
	}
	if (!check_timer.deadline_ms)
		worker_timer_set(w, &check_timer, MEMTRIM_DELAY_MS);
}

unsigned long memtrim_count(void)
{
	return __atomic_load_n(&trims, __ATOMIC_RELAXED);
}
