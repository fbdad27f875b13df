// SPDX-License-Identifier: GPL-2.0-only
/* Userspace engine: splice(2) through a pooled pipe per direction in
 * flight (--userspace-io splice, the default) or recv/send through one
 * bounded buffer (copy, and whenever no pipe can be had); edge-triggered
 * epoll, FIN forwarded after the pipe or buffer drained. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include "bufpool.h"
#include "engine_copy.h"
#include "log.h"
#include "pipepool.h"

#define COPY_EVENTS (EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET)

/* An empty buffer goes back to the worker's list at once: a connection
 * holds one only while bytes are in it, so a worker's list serves every
 * connection it runs (measured: at 32 short connections in flight, two
 * buffers held per connection overflowed the list, and the mmap + munmap
 * of the overflow cost ~5 % of the agent's CPU). */
void pump_buf_release(struct conn_side *s)
{
	if (s->buf && !s->len) {
		bufpool_put(s->buf, s->cap);
		s->buf = NULL;
		s->off = 0;
	}
}

static void pump_pipe_release(struct conn_side *s)
{
	if (s->pipe && !s->len) {
		pipepool_put(s->pipe);
		s->pipe = NULL;
	}
}

/* splice(2) mode: the bytes go socket -> pipe -> socket as page
 * references; the agent never touches them. */
static int pipe_pump(struct conn *c, unsigned i)
{
	struct conn_side *src = &c->s[i], *dst = &c->s[!i];
	ssize_t n;

	for (;;) {
		while (src->len) {
			n = splice(src->pipe->rd, NULL, dst->h.fd, NULL, src->len,
				   SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
			if (n < 0) {
				if (errno == EAGAIN) {
					dst->want_out = true;
					return 0;
				}
				if (errno == EINTR)
					continue;
				return -errno;
			}
			src->len -= (size_t)n;
			src->copied += (uint64_t)n;
			src->consumed += (uint64_t)n;
		}
		dst->want_out = false;
		if (src->eof) {
			shutdown(dst->h.fd, SHUT_WR);
			src->fwd_fin = true;
			pump_pipe_release(src);
			return 1;
		}
		if (!src->readable) {
			pump_pipe_release(src);
			return 0;
		}
		if (!src->pipe) {
			src->pipe = pipepool_get();
			if (!src->pipe)
				return 2; /* copy instead */
		}
		/* A short splice does not mean the socket is drained (the
		 * pipe may run out of slots first): read on to EAGAIN. */
		n = splice(src->h.fd, NULL, src->pipe->wr, NULL, src->pipe->cap,
			   SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
		if (n > 0) {
			src->len = (size_t)n;
			continue;
		}
		if (n == 0) {
			src->eof = true;
			continue;
		}
		if (errno == EAGAIN) {
			src->readable = false;
			pump_pipe_release(src);
			return 0;
		}
		if (errno == EINTR)
			continue;
		return -errno;
	}
}

int copy_pump(struct conn *c, unsigned i, const struct pump_hooks *hooks)
{
	bool (*gate)(struct conn *, unsigned) = hooks ? hooks->gate : NULL;
	struct conn_side *src = &c->s[i], *dst = &c->s[!i];
	ssize_t n;

	if (src->fwd_fin)
		return 1;
	/* Unhooked (the userspace engine) it splices unless told to copy;
	 * the sockmap engine's catch-up copies through its small buffer. */
	if (!hooks && (src->pipe || (!agent_opts.userspace_copy && !src->buf))) {
		int r = pipe_pump(c, i);

		if (r != 2)
			return r;
	}
	for (;;) {
		/* flush what is buffered */
		while (src->len) {
			if (gate && !gate(c, i))
				return 0; /* the gate arms its own wake-up */
			n = send(dst->h.fd, src->buf + src->off, src->len, MSG_NOSIGNAL | MSG_DONTWAIT);
			if (n < 0) {
				if (errno == EAGAIN) {
					dst->want_out = true;
					return 0;
				}
				if (errno == EINTR)
					continue;
				return -errno;
			}
			src->off += (size_t)n;
			src->len -= (size_t)n;
			src->copied += (uint64_t)n;
			src->consumed += (uint64_t)n;
		}
		dst->want_out = false;
		src->off = 0;
		if (src->eof) {
			if (gate && !gate(c, i))
				return 0;
			shutdown(dst->h.fd, SHUT_WR);
			src->fwd_fin = true;
			pump_buf_release(src);
			return 1;
		}
		if (!gate && !src->readable) {
			pump_buf_release(src);
			return 0; /* drained: the next edge sets it again */
		}
		if (!src->buf) {
			src->cap = gate ? SPLICE_CATCHUP_BUF : COPY_BUF_SIZE;
			src->buf = bufpool_get(src->cap);
			if (!src->buf)
				return -ENOMEM;
		}
		n = recv(src->h.fd, src->buf, src->cap, MSG_DONTWAIT);
		if (n > 0) {
			/* Edge-triggered: every arrival after this read is a
			 * new event, so a short read drained the socket. Not
			 * after EPOLLRDHUP: the FIN's edge was this one, and
			 * only reading on finds the EOF. */
			if ((size_t)n < src->cap && !src->rdhup)
				src->readable = false;
			src->len = (size_t)n;
			continue;
		}
		if (n == 0) {
			if (hooks && hooks->eof_ok && !hooks->eof_ok(c, i))
				return 0;
			src->eof = true;
			continue;
		}
		if (errno == EAGAIN) {
			src->readable = false;
			pump_buf_release(src);
			return 0;
		}
		if (errno == EINTR)
			continue;
		return -errno;
	}
}

/* Both directions done, or an error: finish the connection. */
static void copy_step(struct conn *c)
{
	int r0, r1;

	r0 = copy_pump(c, 0, NULL);
	if (c->state == CONN_DEAD)
		return;
	r1 = copy_pump(c, 1, NULL);
	if (r0 < 0 || r1 < 0) {
		int e = r0 < 0 ? r0 : r1;

		log_dbg("conn %p: copy: %s", (void *)c, strerror(-e));
		conn_close(c, e == -ECONNRESET || e == -EPIPE ? SNG_R_RESET : SNG_R_RESET, true);
		return;
	}
	if (r0 == 1 && r1 == 1)
		conn_close(c, SNG_OK, false);
}

void copy_on_event(struct worker *w, struct ev_handler *h, uint32_t events)
{
	struct conn_side *s = container_of(h, struct conn_side, h);
	struct conn *c = s->c;

	if (c->state != CONN_RUN)
		return;
	if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
		s->readable = true;
	if (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR))
		s->rdhup = true;
	if (events & EPOLLERR) {
		int err = 0;
		socklen_t l = sizeof(err);

		getsockopt(h->fd, SOL_SOCKET, SO_ERROR, &err, &l);
		if (err) {
			/* RST from this side: abort the other one (facts 1.6) */
			log_dbg("conn %p: side %u: %s", (void *)c, s->idx, strerror(err));
			conn_close(c, SNG_R_RESET, true);
			return;
		}
	}
	copy_step(c);
}

int copy_start(struct conn *c)
{
	unsigned i;
	int err;

	for (i = 0; i < 2; i++) {
		c->s[i].h.fn = copy_on_event;
		c->s[i].readable = true; /* unknown: read until EAGAIN once */
		err = conn_side_watch(c, i, COPY_EVENTS);
		if (err)
			return err;
	}
	copy_step(c);
	return 0;
}
