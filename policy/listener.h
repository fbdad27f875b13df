/* SPDX-License-Identifier: GPL-2.0-only */
/* Gateway listener validation, conflicts and status (policy compiler
 * internals). */
#ifndef SNIGATE_POLICY_LISTENER_H
#define SNIGATE_POLICY_LISTENER_H

#include "compile.h"

/* Validate listener @l (l->l and l->gw set): protocol, tls.mode, options,
 * allowedRoutes, certificateRefs (certs loaded into l->certs). Sets the
 * Accepted/ResolvedRefs results. Returns 0 or -ENOMEM. */
int listener_validate(struct cctx *c, struct clst *l);
/* Mark ProtocolConflict / HostnameConflict across every listener of the
 * served Gateways that share a port and an address. */
void listener_conflicts(struct cctx *c);
/* Does listener @l admit routes from namespace @ns (allowedRoutes)? */
bool listener_allows_ns(struct cctx *c, const struct clst *l, const char *ns);
/* status.listeners[] entry of @l; @gen is the Gateway's generation. New
 * reference. */
json_t *listener_status(const struct clst *l, json_int_t gen);

#endif
