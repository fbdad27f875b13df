/* SPDX-License-Identifier: GPL-2.0-only */
/* The Kubernetes resources snigate uses and the verbs it uses on each: one
 * table that the client checks every request against and the RBAC test reads. */
#ifndef SNIGATE_K8S_API_H
#define SNIGATE_K8S_API_H

#include <stddef.h>

/* Verbs, as RBAC spells them. */
enum k8s_verb {
	K8S_GET = 1 << 0,
	K8S_LIST = 1 << 1,
	K8S_WATCH = 1 << 2,
	K8S_CREATE = 1 << 3,
	K8S_UPDATE = 1 << 4,
	K8S_PATCH = 1 << 5,
};

/* How the source follows a resource. */
enum k8s_mode {
	K8S_MODE_WATCH,  /* list + watch, whole cluster */
	K8S_MODE_BYREF,  /* get by name, only the objects listeners reference */
	K8S_MODE_LEASE,  /* leader election, in the agent's namespace only */
};

#define K8S_MAX_VERSIONS 3

/* One resource. Index in k8s_resources[] is the resource id. */
struct k8s_resource {
	const char *kind;        /* "TLSRoute" */
	const char *group;       /* "" for the core group */
	const char *versions[K8S_MAX_VERSIONS]; /* preferred first; NULL-ended */
	const char *plural;      /* "tlsroutes" */
	int namespaced;
	enum k8s_mode mode;
	unsigned verbs;          /* on the resource itself */
	unsigned status_verbs;   /* on <plural>/status; 0 = never written */
};

enum k8s_res_id {
	K8S_RES_GATEWAYCLASS,
	K8S_RES_GATEWAY,
	K8S_RES_TLSROUTE,
	K8S_RES_SERVICE,
	K8S_RES_ENDPOINTSLICE,
	K8S_RES_REFERENCEGRANT,
	K8S_RES_NAMESPACE,
	K8S_RES_BACKENDTLSPOLICY,
	K8S_RES_SECRET,
	K8S_RES_CONFIGMAP,
	K8S_RES_LEASE,
	K8S_RES_COUNT,
};

extern const struct k8s_resource k8s_resources[K8S_RES_COUNT];

/* RBAC spelling of a verb bit ("get", ...); NULL for an unknown bit. */
const char *k8s_verb_name(unsigned verb);

/* Whether the agent may issue @verb on resource @id (@status: on its /status
 * subresource). Every request the client makes is checked with this first,
 * so the table is the complete list of what the agent does. */
int k8s_verb_allowed(enum k8s_res_id id, int status, unsigned verb);

/* Build the API path prefix of @id in version @vidx into @buf:
 * "/apis/GROUP/VERSION" or "/api/v1", then "/namespaces/NS" when @ns is
 * non-NULL, then "/PLURAL", then "/NAME" when @name is non-NULL, then
 * "/status" when @status. Returns 0 or -ENAMETOOLONG. */
int k8s_res_path(char *buf, size_t len, enum k8s_res_id id, int vidx,
		 const char *ns, const char *name, int status);

/* "group/version" or "v1" for the core group: the apiVersion of objects. */
int k8s_res_api_version(char *buf, size_t len, enum k8s_res_id id, int vidx);

#endif /* SNIGATE_K8S_API_H */
