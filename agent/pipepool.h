/* SPDX-License-Identifier: GPL-2.0-only */
/* Per-thread free lists of the pipes the userspace engine splices through. */
#ifndef SNIGATE_PIPEPOOL_H
#define SNIGATE_PIPEPOOL_H

#include <stddef.h>

struct pipe_buf {
	int rd, wr;            /* the pipe's two ends, O_NONBLOCK | O_CLOEXEC */
	size_t cap;            /* its capacity (F_GETPIPE_SZ) */
};

/* A pipe holding PIPEPOOL_SIZE bytes: from this thread's free list when
 * one is there, else a new one. NULL with errno set when the kernel will
 * not make one that large (EPERM: over fs.pipe-user-pages-soft, EMFILE,
 * ENFILE, ENOMEM): the caller copies instead. */
struct pipe_buf *pipepool_get(void);

/* Give back @p (empty; NULL is ignored): onto this thread's free list while
 * it holds fewer than PIPEPOOL_KEEP, else closed. Any thread may give back
 * any pipe. */
void pipepool_put(struct pipe_buf *p);

/* Close @p (NULL is ignored): for a pipe that may still hold bytes. */
void pipepool_close(struct pipe_buf *p);

/* Close every pipe on this thread's list. */
void pipepool_trim(void);

/* Bytes a pooled pipe holds: the copy buffer's size (engine_copy.h). */
#define PIPEPOOL_SIZE (256 * 1024)
#define PIPEPOOL_KEEP 32

#endif
