/* SPDX-License-Identifier: GPL-2.0-only */
/* Internals shared by the agent/k8s_*.c files: the API connection, the
 * synchronous request helper, the object cache and the YAML loader. */
#ifndef SNIGATE_K8S_INTERNAL_H
#define SNIGATE_K8S_INTERNAL_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <curl/curl.h>
#include <jansson.h>

#include "k8s.h"
#include "k8s_api.h"

/* ---- connection (k8s_conn.c) --------------------------------------------- */

/* Where the API server is and how to authenticate. Strings owned. */
struct k8s_conn {
	char *server;          /* "https://host:port", no trailing slash */
	char *token;           /* static bearer token, or NULL */
	char *token_file;      /* re-read on every request (rotated tokens) */
	char *ca_file;         /* CA bundle path, or NULL */
	char *ca_data;         /* CA bundle PEM (kubeconfig *-data), or NULL */
	size_t ca_len;
	char *cert_file, *key_file;   /* client certificate auth */
	char *cert_data, *key_data;   /* client certificate auth, PEM */
	size_t cert_len, key_len;
	int insecure;
	char where[600];       /* for messages: "kubeconfig F context C" */
	char user_agent[300];  /* "snigate/1 (IDENTITY)": audit logs tell agents apart */
};

/* Resolve the connection from @o (kubeconfig, server URL or in-cluster).
 * Returns 0, or -errno with a specific message in @err. */
int k8s_conn_init(struct k8s_conn *c, const struct k8s_options *o,
		  char *err, size_t errlen);
/* Free the strings of @c (wipes key material); accepts a zeroed struct. */
void k8s_conn_free(struct k8s_conn *c);

/* Prepare @e for a request: URL = server + @path_query, TLS and auth options,
 * Accept JSON; @content_type adds a Content-Type header. *@hdrs receives the
 * header list the caller frees after the transfer. 0 or -errno. */
int k8s_conn_setup(const struct k8s_conn *c, CURL *e, const char *method,
		   const char *path_query, const char *content_type,
		   struct curl_slist **hdrs);

/* A growing byte buffer. */
struct k8s_buf {
	char *p;
	size_t len, cap;
};
/* Append; 0 or -ENOMEM. Keeps p NUL-terminated. */
int k8s_buf_add(struct k8s_buf *b, const void *d, size_t n);
/* Free and reset to empty. */
void k8s_buf_free(struct k8s_buf *b);

/* One synchronous request (status writer, Lease). @body may be NULL.
 * Sets *@code (HTTP status, 0 on transport failure) and *@resp (parsed JSON
 * body or NULL; caller decrefs). Returns 0 when a response arrived, or
 * -EIO with the curl error in @err. Timeout: @timeout_ms. */
int k8s_request(const struct k8s_conn *c, const char *method, const char *path,
		const char *content_type, const char *body, long timeout_ms,
		long *code, json_t **resp, char *err, size_t errlen);

/* Describe a failed response for a log line: "401 Unauthorized: <message>"
 * plus a hint for 401/403. */
void k8s_describe_error(long code, const json_t *status, char *buf, size_t len);

/* ---- YAML (k8s_yaml.c) ------------------------------------------------------ */

/* Load every document of a YAML (or JSON) file as a JSON array. Plain
 * scalars become integers, booleans or null where they look like one.
 * Returns NULL with a message (file:line:column) in @err. */
json_t *k8s_yaml_load_file(const char *path, char *err, size_t errlen);

/* ---- object cache (k8s_cache.c) -------------------------------------------- */

/* Objects by resource id, keyed "ns/name" ("/name" when cluster-scoped).
 * The lock is taken by every function; the watch thread writes, the status
 * thread reads. */
struct k8s_cache {
	pthread_mutex_t lock;
	json_t *objs[K8S_RES_COUNT];
	uint64_t changes;  /* incremented on every semantic change */
	json_t *warned;    /* "Kind/key" -> resourceVersion of refused objects */
};

/* Initialise an empty cache. 0 or -ENOMEM (then k8s_cache_free() it). */
int k8s_cache_init(struct k8s_cache *c);
/* Free every object and the lock. */
void k8s_cache_free(struct k8s_cache *c);
/* Build the key of @obj (metadata.namespace/name) into @key. 0 or -EINVAL. */
int k8s_obj_key(const json_t *obj, char *key, size_t len);
/* Store @obj (stolen) under its key. Returns 1 when the change matters to
 * the compiler (anything besides status, resourceVersion, managedFields),
 * 0 when not, -EINVAL for an object without a name. */
int k8s_cache_put(struct k8s_cache *c, enum k8s_res_id id, json_t *obj);
/* Remove by key. Returns 1 when something was removed (a change). */
int k8s_cache_del(struct k8s_cache *c, enum k8s_res_id id, const char *key);
/* Replace every object of @id by @objs (object key -> obj, stolen).
 * Returns 1 when the set differs semantically. */
int k8s_cache_replace(struct k8s_cache *c, enum k8s_res_id id, json_t *objs);
/* Deep copy of one object (caller decrefs) or NULL. */
json_t *k8s_cache_get(struct k8s_cache *c, enum k8s_res_id id, const char *key);
/* Feed every cached object into a new policy input (kind: List buffers of
 * up to 1000 objects per resource; a refused buffer is retried object by
 * object so a malformed object only skips itself). *@n_objs gets the number
 * of objects added. NULL + errno on ENOMEM. */
struct policy_input *k8s_cache_to_input(struct k8s_cache *c, size_t *n_objs);

/* ---- status writer (k8s_status.c) ------------------------------------------ */

struct k8s_status;

/* Start the Lease + status thread. @conn, @cache and @tlsroute_vidx (the
 * TLSRoute version index the watch found served) are borrowed and must
 * outlive it. NULL + errno on failure. */
struct k8s_status *k8s_status_start(const struct k8s_options *o,
				    const struct k8s_conn *conn,
				    struct k8s_cache *cache,
				    const int *tlsroute_vidx);
/* Stop (releases the Lease when held) and free; accepts NULL. */
void k8s_status_stop(struct k8s_status *st);
/* Store a deep copy of @status_list and wake the writer (see
 * k8s_status_publish()). 0 or -ENOMEM. Thread-safe. */
int k8s_status_set(struct k8s_status *st, json_t *status_list);
/* 1 while this agent holds the Lease. Thread-safe. */
int k8s_status_leader(struct k8s_status *st);

/* The Lease holderIdentity: o->identity, $POD_NAME, $NODE_NAME or the
 * hostname, in that order. */
void k8s_identity(const struct k8s_options *o, char *buf, size_t len);

/* RFC 3339 UTC time with microseconds ("MicroTime") or seconds. */
void k8s_time_now(char *buf, size_t len, int micro);

#endif /* SNIGATE_K8S_INTERNAL_H */
