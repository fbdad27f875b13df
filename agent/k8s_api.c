// SPDX-License-Identifier: GPL-2.0-only
/* The resource table (kinds, groups, served versions, verbs) shared by the
 * Kubernetes client and the RBAC manifest test, and API path building. */
#include <errno.h>
#include <stdio.h>

#include "k8s_api.h"

#define GW "gateway.networking.k8s.io"

/* Least privilege: watched kinds get list+watch only (the cache never needs
 * a single get); Secrets and ConfigMaps get "get" only, so the agent cannot
 * read any Secret it was not pointed at by name; status is written with
 * merge patches; the Lease needs get/create/update in one namespace. */
const struct k8s_resource k8s_resources[K8S_RES_COUNT] = {
	[K8S_RES_GATEWAYCLASS] = { "GatewayClass", GW, { "v1", "v1beta1" },
		"gatewayclasses", 0, K8S_MODE_WATCH, K8S_LIST | K8S_WATCH, K8S_PATCH },
	[K8S_RES_GATEWAY] = { "Gateway", GW, { "v1", "v1beta1" },
		"gateways", 1, K8S_MODE_WATCH, K8S_LIST | K8S_WATCH, K8S_PATCH },
	[K8S_RES_TLSROUTE] = { "TLSRoute", GW, { "v1", "v1alpha3", "v1alpha2" },
		"tlsroutes", 1, K8S_MODE_WATCH, K8S_LIST | K8S_WATCH, K8S_PATCH },
	[K8S_RES_SERVICE] = { "Service", "", { "v1" },
		"services", 1, K8S_MODE_WATCH, K8S_LIST | K8S_WATCH, 0 },
	[K8S_RES_ENDPOINTSLICE] = { "EndpointSlice", "discovery.k8s.io", { "v1" },
		"endpointslices", 1, K8S_MODE_WATCH, K8S_LIST | K8S_WATCH, 0 },
	[K8S_RES_REFERENCEGRANT] = { "ReferenceGrant", GW, { "v1", "v1beta1" },
		"referencegrants", 1, K8S_MODE_WATCH, K8S_LIST | K8S_WATCH, 0 },
	[K8S_RES_NAMESPACE] = { "Namespace", "", { "v1" },
		"namespaces", 0, K8S_MODE_WATCH, K8S_LIST | K8S_WATCH, 0 },
	[K8S_RES_BACKENDTLSPOLICY] = { "BackendTLSPolicy", GW, { "v1", "v1alpha3" },
		"backendtlspolicies", 1, K8S_MODE_WATCH, K8S_LIST | K8S_WATCH, 0 },
	[K8S_RES_SECRET] = { "Secret", "", { "v1" },
		"secrets", 1, K8S_MODE_BYREF, K8S_GET, 0 },
	[K8S_RES_CONFIGMAP] = { "ConfigMap", "", { "v1" },
		"configmaps", 1, K8S_MODE_BYREF, K8S_GET, 0 },
	[K8S_RES_LEASE] = { "Lease", "coordination.k8s.io", { "v1" },
		"leases", 1, K8S_MODE_LEASE, K8S_GET | K8S_CREATE | K8S_UPDATE, 0 },
};

const char *k8s_verb_name(unsigned verb)
{
	switch (verb) {
	case K8S_GET: return "get";
	case K8S_LIST: return "list";
	case K8S_WATCH: return "watch";
	case K8S_CREATE: return "create";
	case K8S_UPDATE: return "update";
	case K8S_PATCH: return "patch";
	}
	return NULL;
}

int k8s_verb_allowed(enum k8s_res_id id, int status, unsigned verb)
{
	if ((unsigned)id >= K8S_RES_COUNT)
		return 0;
	return !!((status ? k8s_resources[id].status_verbs : k8s_resources[id].verbs) & verb);
}

int k8s_res_api_version(char *buf, size_t len, enum k8s_res_id id, int vidx)
{
	const struct k8s_resource *r = &k8s_resources[id];
	int n;

	if (*r->group)
		n = snprintf(buf, len, "%s/%s", r->group, r->versions[vidx]);
	else
		n = snprintf(buf, len, "%s", r->versions[vidx]);
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

int k8s_res_path(char *buf, size_t len, enum k8s_res_id id, int vidx,
		 const char *ns, const char *name, int status)
{
	const struct k8s_resource *r = &k8s_resources[id];
	int n;

	n = snprintf(buf, len, "%s%s%s%s%s%s/%s%s%s%s",
		     *r->group ? "/apis/" : "/api", r->group, *r->group ? "/" : "/",
		     r->versions[vidx], ns ? "/namespaces/" : "", ns ? ns : "",
		     r->plural, name ? "/" : "", name ? name : "",
		     status ? "/status" : "");
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}
