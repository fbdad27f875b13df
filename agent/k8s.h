/* SPDX-License-Identifier: GPL-2.0-only */
/* Kubernetes config source: lists and watches the Gateway API objects on the
 * API server, feeds policy inputs to a callback, and writes status back. */
#ifndef SNIGATE_K8S_H
#define SNIGATE_K8S_H

#include <jansson.h>

#include "policy.h"

/* How to reach the API server and how the source behaves. Every pointer may
 * be NULL (defaults in brackets). Strings are copied by k8s_source_start(). */
struct k8s_options {
	/* Connection. With @kubeconfig set it is used (current-context); else
	 * @server when set; else the in-cluster service account
	 * (KUBERNETES_SERVICE_HOST/PORT, token and CA from @sa_dir). */
	const char *kubeconfig;      /* kubeconfig file */
	const char *context;         /* kubeconfig context [current-context] */
	const char *server;          /* e.g. https://127.0.0.1:6443 */
	const char *sa_dir;          /* [/var/run/secrets/kubernetes.io/serviceaccount] */
	const char *token_file;      /* overrides the token (re-read per request) */
	const char *ca_file;         /* overrides the CA bundle */
	int insecure;                /* skip server certificate checks (tests) */

	/* Behaviour. */
	const char *controller_name; /* [POLICY_DEFAULT_CONTROLLER] */
	unsigned debounce_ms;        /* quiet time before a recompile [100] */
	unsigned max_delay_ms;       /* longest a change waits under churn [1000] */
	unsigned watch_timeout_s;    /* server-side watch timeout [300] */
	unsigned ref_resync_s;       /* re-get referenced Secrets/ConfigMaps [60] */
	unsigned list_limit;         /* objects per list page [500] */

	/* Status write-back and leader election. */
	int no_status;               /* never write status, never take the Lease */
	const char *identity;        /* holderIdentity [$POD_NAME, $NODE_NAME, hostname] */
	const char *lease_namespace; /* [$POD_NAMESPACE or K8S_DEFAULT_NAMESPACE] */
	const char *lease_name;      /* [K8S_DEFAULT_LEASE] */
	unsigned lease_duration_s;   /* [15] */
	unsigned renew_interval_ms;  /* [lease_duration * 1000 / 3] */
};

/* Defaults shared with deploy/ (the RBAC Role names the Lease). */
#define K8S_DEFAULT_NAMESPACE "snigate-system"
#define K8S_DEFAULT_LEASE "snigate-status-leader"

struct k8s_source;

/* Called on the source's thread after the initial list of every resource and
 * then after each debounced change. @in holds every cached object (one buffer
 * per object, named "k8s:<kind>/<ns>/<name>"); the callee owns it and must
 * policy_input_free() it. Must not call k8s_source_stop(). */
typedef void (*k8s_input_fn)(struct policy_input *in, void *arg);

/* Resolve the connection, then start the watch thread (and the status thread
 * unless o->no_status). Returns NULL with errno set and the reason logged on
 * a configuration error (bad kubeconfig, missing token, ...). API errors at
 * run time (401, 403, 5xx, network) are logged and retried with backoff. */
struct k8s_source *k8s_source_start(const struct k8s_options *o,
				    k8s_input_fn on_input, void *arg);

/* Stop both threads and free everything; accepts NULL. */
void k8s_source_stop(struct k8s_source *src);

/* Hand the compiler's status (a kind: List, as policy_compiled.status) to the
 * status writer. The list is deep-copied; the caller keeps its reference.
 * Thread-safe. The writer patches, while it holds the Lease, the /status of
 * each GatewayClass whose controllerName is ours, each Gateway of such a
 * class and our controller's entries in each TLSRoute's status.parents, only
 * where they differ from what the API server has. Returns 0, or -ENOTSUP when
 * status writing is disabled, or -ENOMEM. */
int k8s_status_publish(struct k8s_source *src, json_t *status_list);

/* Whether this agent holds the status Lease right now (thread-safe). */
int k8s_source_is_leader(struct k8s_source *src);

#endif /* SNIGATE_K8S_H */
