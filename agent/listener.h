/* SPDX-License-Identifier: GPL-2.0-only */
/* Listening sockets: one SO_REUSEPORT socket per bind and per worker, so
 * the kernel spreads accepted connections over the workers. */
#ifndef SNIGATE_LISTENER_H
#define SNIGATE_LISTENER_H

#include "policy.h"
#include "worker.h"

struct listener_set;

/* Bind and listen on every bind of @pc that has a listener, on @w's loop.
 * "::" binds all IPv6 and IPv4 addresses (dual stack). NULL + errno on
 * failure (the failing address is logged). */
struct listener_set *listener_open_all(struct worker *w, const struct policy_compiled *pc);
/* Stop watching and close; accepts NULL. */
void listener_close_all(struct worker *w, struct listener_set *ls);

#endif
