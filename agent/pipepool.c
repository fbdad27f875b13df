// SPDX-License-Identifier: GPL-2.0-only
/* Per-thread free lists of pipes for the userspace engine's splice(2) mode.
 *
 * A connection takes a pipe when it reads and gives it back as soon as the
 * pipe is empty (as bufpool.c does with copy buffers), so a worker needs
 * about one pipe per direction in flight, not two per open connection:
 * fds and the pipe pages (charged to fs.pipe-user-pages-soft) stay
 * bounded by the bytes actually moving. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include "pipepool.h"

struct free_pipe {
	struct pipe_buf p;
	struct free_pipe *next;
};

static __thread struct free_pipe *pool;
static __thread unsigned pool_len;

struct pipe_buf *pipepool_get(void)
{
	struct free_pipe *f = pool;
	int fds[2], sz, e;

	if (f) {
		pool = f->next;
		pool_len--;
		return &f->p;
	}
	f = malloc(sizeof(*f));
	if (!f)
		return NULL;
	if (pipe2(fds, O_NONBLOCK | O_CLOEXEC)) {
		free(f);
		return NULL;
	}
	sz = fcntl(fds[1], F_SETPIPE_SZ, PIPEPOOL_SIZE);
	if (sz < PIPEPOOL_SIZE) {
		e = sz < 0 ? errno : ENOBUFS;
		close(fds[0]);
		close(fds[1]);
		free(f);
		errno = e;
		return NULL;
	}
	f->p.rd = fds[0];
	f->p.wr = fds[1];
	f->p.cap = (size_t)sz;
	return &f->p;
}

static void pipe_close(struct free_pipe *f)
{
	close(f->p.rd);
	close(f->p.wr);
	free(f);
}

void pipepool_close(struct pipe_buf *p)
{
	if (p)
		pipe_close((struct free_pipe *)p);
}

void pipepool_put(struct pipe_buf *p)
{
	struct free_pipe *f = (struct free_pipe *)p; /* p is the first member */

	if (!f)
		return;
	if (pool_len >= PIPEPOOL_KEEP) {
		pipe_close(f);
		return;
	}
	f->next = pool;
	pool = f;
	pool_len++;
}

void pipepool_trim(void)
{
	struct free_pipe *f;

	while ((f = pool)) {
		pool = f->next;
		pipe_close(f);
	}
	pool_len = 0;
}
