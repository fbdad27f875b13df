/* SPDX-License-Identifier: GPL-2.0-only */
/* Listening sockets: one SO_REUSEPORT socket per bind and per worker, so
 * the kernel spreads accepted connections over the workers. */
#ifndef SNIGATE_LISTENER_H
#define SNIGATE_LISTENER_H

#include <stdbool.h>
#include "policy.h"
#include "worker.h"

struct listener_set;

/* Whether @b gets a listening socket (it has a served listener). */
static inline bool listener_bind_served(const struct policy_bind *b)
{
	return b->has_passthrough || b->has_terminate;
}

/* Bind and listen on every bind of @pc that has a listener, on @w's loop.
 * "::" binds all IPv6 and IPv4 addresses (dual stack). NULL + errno on
 * failure (the failing address is logged). */
struct listener_set *listener_open_all(struct worker *w, const struct policy_compiled *pc);
/* Stop watching and close; accepts NULL. Call on @w's thread. */
void listener_close_all(struct worker *w, struct listener_set *ls);

/* A non-blocking listening socket (SO_REUSEPORT, backlog 4096) for @b, not
 * yet watched by any loop: connections queue in its backlog until a worker
 * adds it. Thread-safe. Returns the fd or -errno (the address is logged). */
int listener_socket(const struct policy_bind *b);

/* Take over listening socket @fd for bind @b (id, address and port are
 * copied) and start accepting on @w. On @w's thread. Ownership of @fd
 * passes in every case (closed on failure). 0 or -errno. */
int listener_add(struct worker *w, struct listener_set *ls, int fd, const struct policy_bind *b);

/* After a reload to @pc: close each listener of @ls whose address:port is
 * not a served bind of @pc (connections still in its backlog are reset;
 * established ones are not touched) and take the bind id @pc gives the
 * others. On @w's thread. Returns how many were closed. */
size_t listener_prune(struct worker *w, struct listener_set *ls, const struct policy_compiled *pc);

/* Stop accepting: close every listener of @ls, keep the (empty) set. On
 * @w's thread. Returns how many were closed. */
size_t listener_close_each(struct worker *w, struct listener_set *ls);

/* Listening sockets currently open in @ls (accepts NULL: 0). */
size_t listener_count(const struct listener_set *ls);

/* Hand-over (agent/takeover.c): stop watching every listener of @ls and
 * take it out of the set without closing its socket (connections keep
 * queueing in its backlog). Up to @max fds go to @fds (ownership passes;
 * any beyond are closed) and their id, address and port to @binds (may be
 * NULL; has_passthrough set, so listener_add() takes them back). On @w's
 * thread. Returns how many fds were stored. */
size_t listener_detach_all(struct worker *w, struct listener_set *ls, int *fds,
			   struct policy_bind *binds, size_t max);

#endif
