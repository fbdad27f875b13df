/* SPDX-License-Identifier: GPL-2.0-only */
/* Non-blocking connect to a backend's endpoints with bounded attempts, a
 * per-attempt timeout and failover to the next endpoint. */
#ifndef SNIGATE_BACKEND_H
#define SNIGATE_BACKEND_H

#include <stdint.h>
#include <sys/socket.h>
#include "snigate_abi.h"
#include "worker.h"

struct backend_conn;

/* Completion: @fd is a connected non-blocking TCP socket (ownership passes
 * to the callee) or -1 with @err = -errno of the last attempt. */
typedef void (*backend_done_fn)(struct worker *w, struct backend_conn *bc,
				int fd, int err);

/* Embed in the connection object; all fields private except `ep`. */
struct backend_conn {
	struct ev_handler h;
	struct ev_timer t;
	struct sng_backend be;        /* endpoints to try (copied) */
	unsigned next, tried, max_attempts, timeout_ms;
	backend_done_fn done;
	/* For done() with an fd: the fd is still registered in the worker's
	 * epoll (to &h, level-triggered EPOLLOUT: the connect completed
	 * there). done() moves it to its own handler with worker_modify()
	 * (one epoll_ctl instead of a DEL and an ADD) or closes it. */
	bool watched;
	struct sng_endpoint ep;       /* the endpoint connected (on success) */
	struct sockaddr_storage addr; /* same, as a sockaddr */
};

/* Start connecting: endpoints are tried from index @rnd % n on. Returns 0
 * (done() will be called exactly once, possibly before this returns) or
 * -errno (done() will not be called). */
int backend_connect_start(struct worker *w, struct backend_conn *bc,
			  const struct sng_backend *be, uint32_t rnd,
			  unsigned timeout_ms, unsigned max_attempts,
			  backend_done_fn done);
/* Abort a pending connect (closes its socket); no-op if finished. */
void backend_connect_cancel(struct worker *w, struct backend_conn *bc);

#endif
