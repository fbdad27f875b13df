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

/* Allocated one by one: the loop holds &l->h, so a listener never moves
 * while the set grows or shrinks on reloads. */
struct listener {
	struct ev_handler h;
	uint16_t bind_id;
	uint16_t port;
	char address[64];
};

struct listener_set {
	struct listener **l;
	size_t n, cap;
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

int listener_socket(const struct policy_bind *b)
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
	return fd;
}

int listener_add(struct worker *w, struct listener_set *ls, int fd, const struct policy_bind *b)
{
	struct listener *l;
	int err;

	if (ls->n == ls->cap) {
		size_t cap = ls->cap ? ls->cap * 2 : 8;
		struct listener **nl = realloc(ls->l, cap * sizeof(*nl));

		if (!nl) {
			close(fd);
			return -ENOMEM;
		}
		ls->l = nl;
		ls->cap = cap;
	}
	l = calloc(1, sizeof(*l));
	if (!l) {
		close(fd);
		return -ENOMEM;
	}
	l->h.fd = fd;
	l->h.fn = on_accept;
	l->bind_id = b->id;
	l->port = b->port;
	snprintf(l->address, sizeof(l->address), "%s", b->address);
	err = worker_watch(w, &l->h, EPOLLIN);
	if (err) {
		close(fd);
		free(l);
		return err;
	}
	ls->l[ls->n++] = l;
	if (worker_id(w) == 0)
		log_info("listening on %s port %u (bind %u%s%s)", b->address, b->port, b->id,
			 b->has_passthrough ? ", passthrough" : "",
			 b->has_terminate ? ", terminate" : "");
	return 0;
}

static void close_one(struct worker *w, struct listener *l)
{
	worker_unwatch(w, &l->h);
	close(l->h.fd);
	if (worker_id(w) == 0)
		log_info("closed the listener on %s port %u (bind %u)", l->address, l->port,
			 l->bind_id);
	free(l);
}

struct listener_set *listener_open_all(struct worker *w, const struct policy_compiled *pc)
{
	struct listener_set *ls = calloc(1, sizeof(*ls));
	size_t i;
	int fd, err;

	if (!ls)
		return NULL;
	for (i = 0; i < pc->n_binds; i++) {
		const struct policy_bind *b = &pc->binds[i];

		if (!listener_bind_served(b))
			continue;
		fd = listener_socket(b);
		err = fd < 0 ? fd : listener_add(w, ls, fd, b);
		if (err) {
			listener_close_all(w, ls);
			errno = -err;
			return NULL;
		}
	}
	return ls;
}

size_t listener_close_each(struct worker *w, struct listener_set *ls)
{
	size_t i, n;

	if (!ls)
		return 0;
	for (i = 0; i < ls->n; i++)
		close_one(w, ls->l[i]);
	n = ls->n;
	ls->n = 0;
	return n;
}

void listener_close_all(struct worker *w, struct listener_set *ls)
{
	if (!ls)
		return;
	listener_close_each(w, ls);
	free(ls->l);
	free(ls);
}

size_t listener_prune(struct worker *w, struct listener_set *ls, const struct policy_compiled *pc)
{
	size_t i, j, kept = 0, closed = 0;

	if (!ls)
		return 0;
	for (i = 0; i < ls->n; i++) {
		struct listener *l = ls->l[i];
		const struct policy_bind *b = NULL;

		for (j = 0; pc && j < pc->n_binds; j++)
			if (pc->binds[j].port == l->port && !strcmp(pc->binds[j].address, l->address) &&
			    listener_bind_served(&pc->binds[j])) {
				b = &pc->binds[j];
				break;
			}
		if (!b) {
			close_one(w, l);
			closed++;
			continue;
		}
		l->bind_id = b->id;
		ls->l[kept++] = l;
	}
	ls->n = kept;
	return closed;
}

size_t listener_count(const struct listener_set *ls)
{
	return ls ? ls->n : 0;
}

size_t listener_detach_all(struct worker *w, struct listener_set *ls, int *fds,
			   struct policy_bind *binds, size_t max)
{
	size_t i, n = 0;

	if (!ls)
		return 0;
	for (i = 0; i < ls->n; i++) {
		struct listener *l = ls->l[i];

		worker_unwatch(w, &l->h);
		if (n < max) {
			fds[n] = l->h.fd;
			if (binds) {
				memset(&binds[n], 0, sizeof(binds[n]));
				binds[n].id = l->bind_id;
				binds[n].port = l->port;
				snprintf(binds[n].address, sizeof(binds[n].address), "%s",
					 l->address);
				binds[n].has_passthrough = 1;
			}
			n++;
		} else {
			close(l->h.fd);
		}
		free(l);
	}
	ls->n = 0;
	return n;
}
