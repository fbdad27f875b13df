// SPDX-License-Identifier: GPL-2.0-only
/* Backend connect: non-blocking connect(2) per endpoint with a per-attempt
 * timeout, failing over to the next endpoint up to a bounded attempt count. */
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include "backend.h"
#include "log.h"

static void attempt_next(struct worker *w, struct backend_conn *bc, int err);

static int ep_to_sockaddr(const struct sng_endpoint *ep, struct sockaddr_storage *ss,
			  socklen_t *len)
{
	memset(ss, 0, sizeof(*ss));
	if (ep->family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)ss;

		sin->sin_family = AF_INET;
		sin->sin_port = ep->port;
		memcpy(&sin->sin_addr, ep->addr, 4);
		*len = sizeof(*sin);
		return 0;
	}
	if (ep->family == AF_INET6) {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = ep->port;
		memcpy(&sin6->sin6_addr, ep->addr, 16);
		*len = sizeof(*sin6);
		return 0;
	}
	return -EAFNOSUPPORT;
}

static void attempt_close(struct worker *w, struct backend_conn *bc)
{
	if (bc->h.fd < 0)
		return;
	worker_unwatch(w, &bc->h);
	close(bc->h.fd);
	bc->h.fd = -1;
}

static void finish(struct worker *w, struct backend_conn *bc, int fd, int err)
{
	backend_done_fn done = bc->done;

	worker_timer_cancel(w, &bc->t);
	bc->done = NULL;
	if (done)
		done(w, bc, fd, err);
}

static void on_writable(struct worker *w, struct ev_handler *h, uint32_t events)
{
	struct backend_conn *bc = container_of(h, struct backend_conn, h);
	socklen_t sl = sizeof(int);
	int soerr = 0, fd;

	/* A connect that failed reports EPOLLERR (or EPOLLHUP); a plain
	 * EPOLLOUT is a completed connect, with no error to read. */
	if ((events & (EPOLLERR | EPOLLHUP)) &&
	    getsockopt(h->fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0)
		soerr = errno;
	if (!soerr && (events & (EPOLLERR | EPOLLHUP)))
		soerr = ECONNREFUSED;
	if (soerr) {
		char a[INET6_ADDRSTRLEN] = "?";

		inet_ntop(bc->ep.family, bc->ep.addr, a, sizeof(a));
		log_dbg("backend %s port %u: connect: %s", a, ntohs(bc->ep.port), strerror(soerr));
		attempt_close(w, bc);
		attempt_next(w, bc, -soerr);
		return;
	}
	fd = h->fd;
	bc->h.fd = -1;
	bc->watched = true; /* see backend.h */
	finish(w, bc, fd, 0);
}

static void on_timeout(struct worker *w, struct ev_timer *t)
{
	struct backend_conn *bc = container_of(t, struct backend_conn, t);
	struct pollfd p = { bc->h.fd, POLLOUT, 0 };

	/* A worker that did not run for a while (CPU starvation: measured
	 * in loaded VMs, a 3 s timer served 8 s late) sees the deadline
	 * before the completion event that is queued behind it: a connect
	 * that finished meanwhile is not a failure. */
	if (poll(&p, 1, 0) == 1 && (p.revents & (POLLOUT | POLLERR | POLLHUP))) {
		on_writable(w, &bc->h, (p.revents & POLLOUT ? EPOLLOUT : 0) |
				       (p.revents & POLLERR ? EPOLLERR : 0) |
				       (p.revents & POLLHUP ? EPOLLHUP : 0));
		return;
	}
	log_dbg("backend connect attempt timed out after %u ms", bc->timeout_ms);
	attempt_close(w, bc);
	attempt_next(w, bc, -ETIMEDOUT);
}

/* Try endpoints until one connect is in flight (or done), or give up. */
static void attempt_next(struct worker *w, struct backend_conn *bc, int err)
{
	while (bc->tried < bc->max_attempts && bc->tried < bc->be.n) {
		const struct sng_endpoint *ep = &bc->be.ep[bc->next % bc->be.n];
		socklen_t alen;
		int fd, one = 1;

		bc->next++;
		bc->tried++;
		bc->ep = *ep;
		err = ep_to_sockaddr(ep, &bc->addr, &alen);
		if (err)
			continue;
		fd = socket(ep->family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (fd < 0) {
			err = -errno;
			continue;
		}
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		if (connect(fd, (struct sockaddr *)&bc->addr, alen) == 0) {
			bc->watched = false;
			finish(w, bc, fd, 0);
			return;
		}
		if (errno != EINPROGRESS) {
			err = -errno;
			close(fd);
			continue;
		}
		bc->h.fd = fd;
		bc->h.fn = on_writable;
		err = worker_watch(w, &bc->h, EPOLLOUT);
		if (err) {
			close(fd);
			bc->h.fd = -1;
			continue;
		}
		worker_timer_set(w, &bc->t, bc->timeout_ms);
		return;
	}
	finish(w, bc, -1, err ? err : -ECONNREFUSED);
}

int backend_connect_start(struct worker *w, struct backend_conn *bc,
			  const struct sng_backend *be, uint32_t rnd,
			  unsigned timeout_ms, unsigned max_attempts,
			  backend_done_fn done)
{
	if (!be || !done)
		return -EINVAL;
	if (!be->n || be->n > SNG_MAX_ENDPOINTS)
		return -ENOENT;
	memset(bc, 0, sizeof(*bc));
	bc->h.fd = -1;
	bc->be = *be;
	bc->next = rnd % be->n;
	bc->max_attempts = max_attempts ? max_attempts : 1;
	bc->timeout_ms = timeout_ms ? timeout_ms : 3000;
	bc->done = done;
	bc->t.fn = on_timeout;
	attempt_next(w, bc, 0);
	return 0;
}

void backend_connect_cancel(struct worker *w, struct backend_conn *bc)
{
	struct linger l = { 1, 0 };

	if (!bc->done)
		return;
	worker_timer_cancel(w, &bc->t);
	/* The client is gone: abort (RST) rather than send the backend an
	 * empty request ending in a FIN. */
	if (bc->h.fd >= 0)
		setsockopt(bc->h.fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
	attempt_close(w, bc);
	bc->done = NULL;
}
