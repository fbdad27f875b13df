// SPDX-License-Identifier: GPL-2.0-only
/* Listening sockets per worker (SO_REUSEPORT), IPv4 and IPv6, and the
 * accept loop that hands each new socket to conn_accept(). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include "conn.h"
#include "listener.h"
#include "log.h"

struct listener {
	struct ev_handler h;
	uint16_t bind_id;
};

struct listener_set {
	struct listener *l;
	size_t n;
};

static void on_accept(struct worker *w, struct ev_handler *h, uint32_t events)
{
	struct listener *l = container_of(h, struct listener, h);
	int i;

	for (i = 0; i < 64; i++) {
		struct sockaddr_storage peer;
		socklen_t pl = sizeof(peer);
		int fd = accept4(h->fd, (struct sockaddr *)&peer, &pl, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0) {
			if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
				log_warn("accept: %s", strerror(errno));
			return;
		}
		conn_accept(w, fd, l->bind_id, &peer);
	}
}

static int open_one(const struct policy_bind *b, struct listener *l)
{
	struct sockaddr_storage ss = {};
	socklen_t sl;
	int fd, one = 1, zero = 0;
	struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;

	if (inet_pton(AF_INET, b->address, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons(b->port);
		sl = sizeof(*sin);
	} else if (inet_pton(AF_INET6, b->address, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(b->port);
		sl = sizeof(*sin6);
	} else {
		log_err("listener address '%s' is not a numeric IPv4/IPv6 address", b->address);
		return -EINVAL;
	}
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
	/* "::" serves IPv4 too (mapped addresses) */
	if (ss.ss_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
	if (bind(fd, (struct sockaddr *)&ss, sl) || listen(fd, 4096)) {
		int err = -errno;

		log_err("listen on %s%s%s:%u: %s", ss.ss_family == AF_INET6 ? "[" : "", b->address,
			ss.ss_family == AF_INET6 ? "]" : "", b->port, strerror(-err));
		close(fd);
		return err;
	}
	l->h.fd = fd;
	l->h.fn = on_accept;
	l->bind_id = b->id;
	return 0;
}

struct listener_set *listener_open_all(struct worker *w, const struct policy_compiled *pc)
{
	struct listener_set *ls = calloc(1, sizeof(*ls));
	size_t i;
	int err;

	if (!ls)
		return NULL;
	ls->l = calloc(pc->n_binds ? pc->n_binds : 1, sizeof(*ls->l));
	if (!ls->l) {
		free(ls);
		return NULL;
	}
	for (i = 0; i < pc->n_binds; i++) {
		const struct policy_bind *b = &pc->binds[i];

		if (!b->has_passthrough && !b->has_terminate)
			continue;
		err = open_one(b, &ls->l[ls->n]);
		if (!err)
			err = worker_watch(w, &ls->l[ls->n].h, EPOLLIN);
		if (err) {
			listener_close_all(w, ls);
			errno = -err;
			return NULL;
		}
		if (worker_id(w) == 0)
			log_info("listening on %s port %u (bind %u%s%s)", b->address, b->port, b->id,
				 b->has_passthrough ? ", passthrough" : "",
				 b->has_terminate ? ", terminate" : "");
		ls->n++;
	}
	return ls;
}

void listener_close_all(struct worker *w, struct listener_set *ls)
{
	size_t i;

	if (!ls)
		return;
	for (i = 0; i < ls->n; i++) {
		worker_unwatch(w, &ls->l[i].h);
		close(ls->l[i].h.fd);
	}
	free(ls->l);
	free(ls);
}
