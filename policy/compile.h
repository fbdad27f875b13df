/* SPDX-License-Identifier: GPL-2.0-only */
/* State of one policy_compile() run, shared by the files that build the
 * listeners, the route table, the backend sets and the status. */
#ifndef SNIGATE_POLICY_COMPILE_H
#define SNIGATE_POLICY_COMPILE_H

#include "internal.h"

#define GW_MAX_ADDRS 16

struct cgw;

/* One listener of a served Gateway, as validated. */
struct clst {
	struct cgw *gw;
	json_t *l;               /* the listener object of the Gateway spec */
	const char *name, *proto;
	int port;
	char hostname[SNG_HOSTNAME_MAX + 1];
	bool tls;                /* protocol TLS */
	uint8_t mode, engine;    /* enum sng_mode (0 if not TLS), sng_engine */
	char alpn[256];          /* wire format */
	bool accepted;           /* Accepted=True */
	const char *acc_reason;
	char acc_msg[512];
	bool resolved;           /* ResolvedRefs=True */
	const char *rr_reason;
	char rr_msg[1024];
	const char *conflict;    /* NULL or HostnameConflict / ProtocolConflict */
	bool kind_tlsroute;      /* TLSRoute is among the supported kinds */
	int from;                /* 0 Same, 1 All, 2 Selector */
	json_t *selector;
	struct policy_cert *certs;
	size_t n_certs;
	bool programmed;         /* served: in policy_compiled.listeners */
	unsigned attached;       /* attachedRoutes */
	uint32_t first_id;       /* listener_id of its first bind */
	uint16_t bind_ids[GW_MAX_ADDRS];
};

/* A served Gateway. */
struct cgw {
	struct pobj *p;
	char addrs[GW_MAX_ADDRS][64];
	size_t n_addrs;
	bool addr_bad;
	char addr_msg[512];
	struct clst *ls;         /* into cctx.ls */
	size_t n_ls;
};

struct cctx {
	const struct policy_input *in;
	const char *ctrl;
	const struct policy_options *opt;
	struct policy_compiled *pc;
	json_t *index;           /* "Kind/ns/name" -> index into in->objs */
	json_t *slices;          /* "ns/service" -> array of object indices */
	json_t *grants;          /* ns -> array of ReferenceGrant indices */
	json_t *backend_ids;     /* "ns/name:port" -> backend id */
	json_t *backend_gws;     /* array by backend id: object of "ns/gw" -> true */
	size_t cap_backends, cap_sets;
	struct cgw *gws;
	size_t n_gws;
	struct clst *ls;
	size_t n_ls;
};

/* Find an object by kind, namespace ("" for cluster-scoped) and name. */
struct pobj *cc_find(struct cctx *c, const char *kind, const char *ns, const char *name);
/* Is a reference from a @from_kind in @from_ns to (@to_group, @to_kind,
 * @to_name) in @to_ns allowed? Same namespace always is; else a
 * ReferenceGrant in @to_ns must match every field. */
bool cc_granted(struct cctx *c, const char *from_kind, const char *from_ns,
		const char *to_group, const char *to_kind, const char *to_ns, const char *to_name);
/* Sort helper: compare two pobj pointers by namespace then name. */
int cc_cmp_pobj(const void *a, const void *b);

/* Resolve the backendRefs of route @route (its rules) into a new set.
 * Sets *set_id; fills the route's ResolvedRefs result (@ok, @reason,
 * @msg). Records @gw_key ("ns/name" list of the Gateways it attaches to,
 * an object) for BackendTLSPolicy ancestors. Returns 0 or -ENOMEM. */
int backend_route_set(struct cctx *c, struct pobj *route, json_t *gw_keys, uint32_t *set_id);
/* Evaluate ResolvedRefs of @route without building anything (routes that
 * attach nowhere still report it). @msg gets the bad refs. */
bool backend_route_refs(struct cctx *c, struct pobj *route, const char **reason, char *msg,
			size_t cap);
/* Apply BackendTLSPolicies to the built backends; appends policy objects
 * with status to @status_items. Returns 0 or -ENOMEM. */
int backend_tls_apply(struct cctx *c, json_t *status_items);

#endif
