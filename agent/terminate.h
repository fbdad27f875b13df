/* SPDX-License-Identifier: GPL-2.0-only */
/* Terminate listeners: OpenSSL contexts built from a compiled policy, and
 * the per-connection TLS proxy run on a worker's event loop. */
#ifndef SNIGATE_TERMINATE_H
#define SNIGATE_TERMINATE_H

#include <sys/socket.h>
#include "policy.h"
#include "lookup.h"
#include "worker.h"

struct hello_info;
struct agent_snapshot;
struct term_policy;

/* Build the SSL_CTXs of every Terminate listener and every backend TLS
 * policy of @pc. @prev (may be NULL) carries session-ticket keys over a
 * reload. NULL + errno on failure (logged with the listener's name). */
struct term_policy *term_policy_build(const struct policy_compiled *pc,
				      const struct term_policy *prev);
/* Free; accepts NULL. */
void term_policy_free(struct term_policy *tp);

/* Take over an accepted client socket whose ClientHello was peeked (not
 * consumed) and routed to a Terminate listener by @d. @snap: a reference
 * the callee keeps until the connection ends. Ownership of @client_fd
 * passes to the callee in every case. Returns 0 or -errno (fd closed). */
int term_conn_start(struct worker *w, int client_fd, const struct hello_info *hi,
		    const struct route_decision *d, struct agent_snapshot *snap,
		    const struct sockaddr_storage *client_addr);

/* Close every open Terminate connection of the calling worker thread (on
 * stop, after the drain), so none outlives its worker. */
void term_close_all(struct worker *w);

/* Terminate connections open in the whole agent (from term_conn_start()
 * to their end), for the SIGTERM drain. Relaxed atomic. */
extern long term_open_count;

#endif
