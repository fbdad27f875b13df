// SPDX-License-Identifier: GPL-2.0-only
/* Per-thread free lists of the per-connection copy and catch-up buffers.
 *
 * Why: at 256 KiB these buffers are above the fixed mmap threshold
 * (memtrim.h, B11), so each malloc() was an mmap() plus page faults and
 * each free() a munmap() whose TLB shoot-down interrupts every CPU the
 * agent's threads ran on. Measured with perf on the userspace engine,
 * 16 connections in flight, 64-byte request, reply, close: munmap's IPIs
 * (smp_call_function_many_cond, x2apic write) and the mmap lock took
 * ~25 % of the agent's CPU. A connection now takes a buffer off its
 * worker's list when it reads and puts it back as soon as it is empty
 * (pump_buf_release), so a list serves every connection of its worker;
 * nothing is locked (the lists are thread-local). memtrim's check frees a thread's list
 * after a burst, so idle RSS still comes back. */
#include <stdlib.h>

#include "bufpool.h"

struct free_buf {
	struct free_buf *next;
};

static __thread struct free_buf *pool;
static __thread unsigned pool_len;

void *bufpool_get(size_t size)
{
	struct free_buf *b = pool;

	if (size != BUFPOOL_SIZE || !b)
		return malloc(size);
	pool = b->next;
	pool_len--;
	return b;
}

void bufpool_put(void *buf, size_t size)
{
	struct free_buf *b = buf;

	if (!b)
		return;
	if (size != BUFPOOL_SIZE || pool_len >= BUFPOOL_KEEP) {
		free(b);
		return;
	}
	b->next = pool;
	pool = b;
	pool_len++;
}

void bufpool_trim(void)
{
	struct free_buf *b;

	while ((b = pool)) {
		pool = b->next;
		free(b);
	}
	pool_len = 0;
}
