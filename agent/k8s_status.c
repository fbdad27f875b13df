// SPDX-License-Identifier: GPL-2.0-only
/* Status write-back: leader election on a coordination.k8s.io/v1 Lease and,
 * while leader, JSON merge patches of /status where the compiler's status
 * differs from the API server's. Runs on its own thread. */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "k8s_internal.h"
#include "log.h"

#define REQ_TIMEOUT_MS 5000L
#define MERGE_PATCH "application/merge-patch+json"

struct k8s_status {
	const struct k8s_conn *conn;
	struct k8s_cache *cache;
	const int *tlsroute_vidx;
	char controller[256];
	char identity[256];
	char lease_ns[64], lease_name[254];
	unsigned duration_s, renew_ms;

	pthread_t thr;
	int thr_started;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int stop;
	json_t *desired;     /* last published status list (under lock) */
	int desired_new;

	atomic_int leader;
	/* Lease state, thread-local. */
	json_t *observed;    /* last seen Lease spec */
	uint64_t observed_ms;
	uint64_t renewed_ms; /* last successful acquire/renew */
	json_t *memo;        /* "Kind/ns/name" -> [body, live resourceVersion] */
};

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- leader election -------------------------------------------------------------- */

static json_t *lease_spec(struct k8s_status *st, json_t *old)
{
	const char *holder = json_string_value(json_object_get(old, "holderIdentity"));
	json_int_t trans = json_integer_value(json_object_get(old, "leaseTransitions"));
	int mine = holder && !strcmp(holder, st->identity);
	char now[40];

	k8s_time_now(now, sizeof(now), 1);
	return json_pack("{s:s, s:i, s:s, s:s, s:I}",
			 "holderIdentity", st->identity,
			 "leaseDurationSeconds", (int)st->duration_s,
			 "acquireTime", mine && json_object_get(old, "acquireTime")
				? json_string_value(json_object_get(old, "acquireTime")) : now,
			 "renewTime", now,
			 "leaseTransitions", (json_int_t)(mine || !old ? trans : trans + 1));
}

static void set_leader(struct k8s_status *st, int on, const char *why)
{
	if (atomic_load(&st->leader) == on)
		return;
	atomic_store(&st->leader, on);
	if (on) {
		/* A new term: forget what an earlier term sent. */
		json_object_clear(st->memo);
		log_info("k8s: status leader: %s holds Lease %s/%s", st->identity,
			 st->lease_ns, st->lease_name);
	} else {
		log_warn("k8s: status leadership lost (%s); not writing status", why);
	}
}

/* One round of client-go's tryAcquireOrRenew. Expiry is judged on our own
 * clock from when we last saw the record change, never on the holder's
 * renewTime, so clock skew between nodes does not matter. */
static void lease_step(struct k8s_status *st)
{
	char path[512], err[600], msg[700];
	json_t *resp = NULL, *lease = NULL, *spec, *nspec;
	const char *holder;
	char *body = NULL;
	uint64_t t = now_ms();
	long code;

	k8s_res_path(path, sizeof(path), K8S_RES_LEASE, 0, st->lease_ns, st->lease_name, 0);
	if (k8s_request(st->conn, "GET", path, NULL, NULL, REQ_TIMEOUT_MS, &code, &resp,
			err, sizeof(err))) {
		log_warn("k8s: lease: %s", err);
		goto check_deadline;
	}
	if (code == 404) {
		json_decref(resp);
		nspec = lease_spec(st, NULL);
		lease = json_pack("{s:s, s:s, s:{s:s, s:s}, s:o}", "apiVersion",
				  "coordination.k8s.io/v1", "kind", "Lease", "metadata",
				  "name", st->lease_name, "namespace", st->lease_ns, "spec", nspec);
		body = json_dumps(lease, JSON_COMPACT);
		k8s_res_path(path, sizeof(path), K8S_RES_LEASE, 0, st->lease_ns, NULL, 0);
		if (k8s_request(st->conn, "POST", path, "application/json", body, REQ_TIMEOUT_MS,
				&code, &resp, err, sizeof(err))) {
			log_warn("k8s: lease create: %s", err);
			goto check_deadline;
		}
		if (code == 201 || code == 200) {
			json_decref(st->observed);
			st->observed = json_deep_copy(json_object_get(resp, "spec"));
			st->observed_ms = st->renewed_ms = t;
			set_leader(st, 1, NULL);
		} else if (code != 409) {
			k8s_describe_error(code, resp, msg, sizeof(msg));
			log_warn("k8s: lease create %s: %s", path, msg);
		}
		goto out;
	}
	if (code != 200) {
		k8s_describe_error(code, resp, msg, sizeof(msg));
		log_warn("k8s: lease get %s: %s", path, msg);
		goto check_deadline;
	}
	spec = json_object_get(resp, "spec");
	if (!st->observed || !json_equal(st->observed, spec)) {
		json_decref(st->observed);
		st->observed = json_deep_copy(spec);
		st->observed_ms = t;
	}
	holder = json_string_value(json_object_get(spec, "holderIdentity"));
	if (holder && *holder && strcmp(holder, st->identity)) {
		json_int_t d = json_integer_value(json_object_get(spec, "leaseDurationSeconds"));

		if (d <= 0)
			d = st->duration_s;
		if (st->observed_ms + (uint64_t)d * 1000 > t) {
			set_leader(st, 0, "held by another agent");
			log_dbg("k8s: lease held by %s", holder);
			goto out;
		}
		log_info("k8s: lease of %s expired (unchanged for %llds): taking over", holder,
			 (long long)d);
	}
	nspec = lease_spec(st, spec);
	lease = json_deep_copy(resp);
	json_object_set_new(lease, "spec", nspec);
	body = json_dumps(lease, JSON_COMPACT);
	json_decref(resp);
	resp = NULL;
	if (k8s_request(st->conn, "PUT", path, "application/json", body, REQ_TIMEOUT_MS, &code,
			&resp, err, sizeof(err))) {
		log_warn("k8s: lease update: %s", err);
		goto check_deadline;
	}
	if (code == 200) {
		json_decref(st->observed);
		st->observed = json_deep_copy(json_object_get(resp, "spec"));
		st->observed_ms = st->renewed_ms = t;
		set_leader(st, 1, NULL);
		goto out;
	}
	if (code == 409) {
		set_leader(st, 0, "lost the update race (409 Conflict)");
		goto out;
	}
	k8s_describe_error(code, resp, msg, sizeof(msg));
	log_warn("k8s: lease update %s: %s", path, msg);
check_deadline:
	/* Step down before the Lease can expire for the others (renew
	 * deadline 2/3 of the duration, as client-go's defaults). */
	if (atomic_load(&st->leader) && t - st->renewed_ms > st->duration_s * 2000ull / 3)
		set_leader(st, 0, "could not renew the Lease in time");
out:
	free(body);
	json_decref(lease);
	json_decref(resp);
}

/* Give the Lease up on shutdown so another agent takes over at once. */
static void lease_release(struct k8s_status *st)
{
	char path[512], err[600];
	json_t *resp = NULL, *lease;
	char *body;
	long code;

	if (!atomic_load(&st->leader))
		return;
	k8s_res_path(path, sizeof(path), K8S_RES_LEASE, 0, st->lease_ns, st->lease_name, 0);
	if (k8s_request(st->conn, "GET", path, NULL, NULL, REQ_TIMEOUT_MS, &code, &resp, err,
			sizeof(err)) || code != 200)
		goto out;
	lease = json_deep_copy(resp);
	json_object_set_new(json_object_get(lease, "spec"), "holderIdentity", json_string(""));
	json_object_set_new(json_object_get(lease, "spec"), "leaseDurationSeconds",
			    json_integer(1));
	body = json_dumps(lease, JSON_COMPACT);
	json_decref(lease);
	json_decref(resp);
	resp = NULL;
	if (body && !k8s_request(st->conn, "PUT", path, "application/json", body,
				 REQ_TIMEOUT_MS, &code, &resp, err, sizeof(err)) && code == 200)
		log_info("k8s: released Lease %s/%s", st->lease_ns, st->lease_name);
	free(body);
out:
	json_decref(resp);
	atomic_store(&st->leader, 0);
}

/* ---- status building ---------------------------------------------------------------- */

/* Keep lastTransitionTime of conditions whose status did not change; stamp
 * transitions with now (the API requires the field). */
static void carry_conditions(json_t *nconds, json_t *oconds, const char *now)
{
	json_t *c, *o;
	size_t i, j;

	json_array_foreach(nconds, i, c) {
		const char *type = json_string_value(json_object_get(c, "type"));
		const char *status = json_string_value(json_object_get(c, "status"));
		json_t *ltt = NULL;

		json_array_foreach(oconds, j, o) {
			const char *ot = json_string_value(json_object_get(o, "type"));
			const char *os = json_string_value(json_object_get(o, "status"));

			if (type && ot && !strcmp(type, ot) && status && os && !strcmp(status, os))
				ltt = json_object_get(o, "lastTransitionTime");
		}
		/* The compiler's own stamp (if any) is not authoritative: it
		 * cannot know when the condition last changed on the server. */
		json_object_set_new(c, "lastTransitionTime",
				    ltt ? json_incref(ltt) : json_string(now));
	}
}

static json_t *find_by(json_t *arr, const char *field, json_t *val)
{
	json_t *it;
	size_t i;

	json_array_foreach(arr, i, it)
		if (json_equal(json_object_get(it, field), val))
			return it;
	return NULL;
}

static int is_ours(struct k8s_status *st, json_t *parent)
{
	const char *cn = json_string_value(json_object_get(parent, "controllerName"));

	return cn && !strcmp(cn, st->controller);
}

/* The status the object should have: the compiler's, merged with what the
 * server has (other controllers' route parents, transition times). */
static json_t *build_status(struct k8s_status *st, enum k8s_res_id id, json_t *want,
			    json_t *live)
{
	json_t *n = json_deep_copy(want), *it;
	char now[40];
	size_t i;

	if (!n)
		return NULL;
	k8s_time_now(now, sizeof(now), 0);
	if (id == K8S_RES_TLSROUTE) {
		json_t *parents = json_array(), *lp = json_object_get(live, "parents");

		json_array_foreach(lp, i, it)
			if (!is_ours(st, it))
				json_array_append(parents, it);
		json_array_foreach(json_object_get(want, "parents"), i, it) {
			json_t *p = json_deep_copy(it), *old = NULL, *o;
			size_t j;

			if (!json_object_get(p, "controllerName"))
				json_object_set_new(p, "controllerName", json_string(st->controller));
			json_array_foreach(lp, j, o)
				if (is_ours(st, o) && json_equal(json_object_get(o, "parentRef"),
								 json_object_get(p, "parentRef")))
					old = o;
			carry_conditions(json_object_get(p, "conditions"),
					 json_object_get(old, "conditions"), now);
			json_array_append_new(parents, p);
		}
		json_object_set_new(n, "parents", parents);
		return n;
	}
	carry_conditions(json_object_get(n, "conditions"), json_object_get(live, "conditions"),
			 now);
	json_array_foreach(json_object_get(n, "listeners"), i, it) {
		json_t *old = find_by(json_object_get(live, "listeners"), "name",
				      json_object_get(it, "name"));

		carry_conditions(json_object_get(it, "conditions"),
				 json_object_get(old, "conditions"), now);
	}
	return n;
}

/* Is the object ours to write? GatewayClass: controllerName; Gateway: its
 * class is one of ours. Routes are always merged per parent entry. */
static int owned(struct k8s_status *st, enum k8s_res_id id, json_t *live)
{
	const char *cls, *cn;
	char key[300];
	json_t *gc;
	int ok;

	if (id == K8S_RES_TLSROUTE)
		return 1;
	if (id == K8S_RES_GATEWAYCLASS) {
		cn = json_string_value(json_object_get(json_object_get(live, "spec"),
						       "controllerName"));
		return cn && !strcmp(cn, st->controller);
	}
	cls = json_string_value(json_object_get(json_object_get(live, "spec"),
						"gatewayClassName"));
	if (!cls)
		return 0;
	snprintf(key, sizeof(key), "/%s", cls);
	gc = k8s_cache_get(st->cache, K8S_RES_GATEWAYCLASS, key);
	ok = owned(st, K8S_RES_GATEWAYCLASS, gc);
	json_decref(gc);
	return ok;
}

static int kind_id(const char *kind, enum k8s_res_id *id)
{
	static const enum k8s_res_id ids[] = { K8S_RES_GATEWAYCLASS, K8S_RES_GATEWAY,
					       K8S_RES_TLSROUTE };
	size_t i;

	for (i = 0; kind && i < sizeof(ids) / sizeof(ids[0]); i++)
		if (!strcmp(kind, k8s_resources[ids[i]].kind)) {
			*id = ids[i];
			return 0;
		}
	return -ENOENT;
}

/* Patch one object's status when it differs. */
static void reconcile_one(struct k8s_status *st, enum k8s_res_id id, json_t *item)
{
	json_t *md = json_object_get(item, "metadata");
	const char *ns = json_string_value(json_object_get(md, "namespace"));
	const char *name = json_string_value(json_object_get(md, "name"));
	json_t *live = NULL, *lstat, *want, *patch = NULL, *body = NULL, *resp = NULL, *memo;
	const char *k, *rv;
	char key[400], mkey[450], path[600], err[600], msg[700];
	char *sbody = NULL;
	json_t *v;
	long code;
	int vidx = 0;

	if (!name)
		return;
	if (!k8s_resources[id].namespaced)
		ns = NULL;
	else if (!ns)
		ns = "default";
	snprintf(key, sizeof(key), "%s/%s", ns ? ns : "", name);
	snprintf(mkey, sizeof(mkey), "%s/%s", k8s_resources[id].kind, key);
	live = k8s_cache_get(st->cache, id, key);
	if (!live || !owned(st, id, live))
		goto out;
	lstat = json_object_get(live, "status");
	if (!json_is_object(lstat))
		lstat = NULL;
	want = build_status(st, id, json_object_get(item, "status"), lstat);
	if (!want)
		goto out;
	/* Equal apart from nothing: only write when it changed. */
	if (lstat && json_equal(want, lstat)) {
		json_decref(want);
		json_object_del(st->memo, mkey);
		goto out;
	}
	/* A merge patch merges objects: null out top-level status fields the
	 * compiler no longer reports, so the result equals @want. */
	patch = json_deep_copy(want);
	json_object_foreach(lstat, k, v)
		if (!json_object_get(want, k))
			json_object_set_new(patch, k, json_null());
	json_decref(want);
	rv = json_string_value(json_object_get(json_object_get(live, "metadata"),
					       "resourceVersion"));
	/* resourceVersion makes the patch conditional: with a stale cache the
	 * server answers 409 and the next round retries on fresh data. */
	body = json_pack("{s:{s:s?}, s:O}", "metadata", "resourceVersion", rv, "status", patch);
	sbody = json_dumps(body, JSON_COMPACT | JSON_SORT_KEYS);
	if (!sbody)
		goto out;
	memo = json_object_get(st->memo, mkey);
	if (memo && !strcmp(json_string_value(json_array_get(memo, 0)) ?: "", sbody))
		goto out; /* sent for this version already; the watch is behind */
	if (id == K8S_RES_TLSROUTE)
		vidx = __atomic_load_n(st->tlsroute_vidx, __ATOMIC_ACQUIRE);
	if (!k8s_verb_allowed(id, 1, K8S_PATCH))
		goto out;
	k8s_res_path(path, sizeof(path), id, vidx, ns, name, 1);
	if (k8s_request(st->conn, "PATCH", path, MERGE_PATCH, sbody, REQ_TIMEOUT_MS, &code, &resp,
			err, sizeof(err))) {
		log_warn("k8s: status: %s", err);
		goto out;
	}
	if (code == 200) {
		log_info("k8s: status of %s %s written", k8s_resources[id].kind, key);
		json_object_set_new(st->memo, mkey, json_pack("[s]", sbody));
	} else if (code == 409) {
		log_dbg("k8s: status of %s %s: 409 Conflict, retrying", k8s_resources[id].kind,
			key);
		json_object_del(st->memo, mkey);
	} else {
		k8s_describe_error(code, resp, msg, sizeof(msg));
		log_warn("k8s: status patch %s: %s", path, msg);
		/* Do not hammer the server with a patch it refused. */
		json_object_set_new(st->memo, mkey, json_pack("[s]", sbody));
	}
out:
	free(sbody);
	json_decref(body);
	json_decref(patch);
	json_decref(resp);
	json_decref(live);
}

/* GatewayClasses: the compiler may leave them out of its list; an owned
 * class we serve is Accepted. */
static void reconcile_classes(struct k8s_status *st, json_t *items)
{
	json_t *all, *o, *it;
	const char *key;
	size_t i;

	pthread_mutex_lock(&st->cache->lock);
	all = json_deep_copy(st->cache->objs[K8S_RES_GATEWAYCLASS]);
	pthread_mutex_unlock(&st->cache->lock);
	json_object_foreach(all, key, o) {
		const char *name = json_string_value(json_object_get(json_object_get(o, "metadata"),
								     "name"));
		json_int_t gen;
		json_t *item;
		int listed = 0;

		json_array_foreach(items, i, it) {
			const char *k = json_string_value(json_object_get(it, "kind"));
			const char *n = json_string_value(json_object_get(json_object_get(it, "metadata"),
									  "name"));

			if (k && n && name && !strcmp(k, "GatewayClass") && !strcmp(n, name))
				listed = 1;
		}
		if (listed || !owned(st, K8S_RES_GATEWAYCLASS, o))
			continue;
		gen = json_integer_value(json_object_get(json_object_get(o, "metadata"),
							 "generation"));
		item = json_pack("{s:s, s:{s:s}, s:{s:[{s:s, s:s, s:s, s:s, s:I}]}}",
				 "kind", "GatewayClass", "metadata", "name", name, "status",
				 "conditions", "type", "Accepted", "status", "True", "reason",
				 "Accepted", "message", "Handled by snigate", "observedGeneration",
				 gen ? gen : (json_int_t)1);
		if (item)
			reconcile_one(st, K8S_RES_GATEWAYCLASS, item);
		json_decref(item);
	}
	json_decref(all);
}

static void reconcile(struct k8s_status *st, json_t *desired)
{
	json_t *items = json_object_get(desired, "items"), *it;
	enum k8s_res_id id;
	size_t i;

	json_array_foreach(items, i, it) {
		if (!atomic_load(&st->leader))
			return;
		if (!kind_id(json_string_value(json_object_get(it, "kind")), &id))
			reconcile_one(st, id, it);
	}
	reconcile_classes(st, items);
}

static void *status_thread(void *arg)
{
	struct k8s_status *st = arg;
	uint64_t next_lease = 0;

	pthread_mutex_lock(&st->lock);
	while (!st->stop) {
		uint64_t t = now_ms();
		json_t *desired;
		struct timespec ts;

		if (t >= next_lease) {
			pthread_mutex_unlock(&st->lock);
			lease_step(st);
			pthread_mutex_lock(&st->lock);
			next_lease = now_ms() + st->renew_ms;
		}
		desired = json_incref(st->desired);
		st->desired_new = 0;
		if (desired && atomic_load(&st->leader)) {
			pthread_mutex_unlock(&st->lock);
			reconcile(st, desired);
			pthread_mutex_lock(&st->lock);
		}
		json_decref(desired);
		if (st->stop || st->desired_new)
			continue;
		clock_gettime(CLOCK_REALTIME, &ts);
		t = now_ms();
		if (next_lease > t) {
			uint64_t d = next_lease - t;

			ts.tv_sec += d / 1000;
			ts.tv_nsec += (long)(d % 1000) * 1000000;
			if (ts.tv_nsec >= 1000000000) {
				ts.tv_sec++;
				ts.tv_nsec -= 1000000000;
			}
			pthread_cond_timedwait(&st->cond, &st->lock, &ts);
		}
	}
	pthread_mutex_unlock(&st->lock);
	lease_release(st);
	return NULL;
}

void k8s_identity(const struct k8s_options *o, char *buf, size_t len)
{
	const char *id = o->identity;
	char host[256] = "";

	if (!id)
		id = getenv("POD_NAME");
	if (!id)
		id = getenv("NODE_NAME");
	if (!id && !gethostname(host, sizeof(host) - 1))
		id = host;
	snprintf(buf, len, "%s", id && *id ? id : "snigate");
}

struct k8s_status *k8s_status_start(const struct k8s_options *o, const struct k8s_conn *conn,
				    struct k8s_cache *cache, const int *tlsroute_vidx)
{
	struct k8s_status *st = calloc(1, sizeof(*st));
	int rc;

	if (!st)
		return NULL;
	st->conn = conn;
	st->cache = cache;
	st->tlsroute_vidx = tlsroute_vidx;
	snprintf(st->controller, sizeof(st->controller), "%s",
		 o->controller_name ? o->controller_name : POLICY_DEFAULT_CONTROLLER);
	k8s_identity(o, st->identity, sizeof(st->identity));
	snprintf(st->lease_ns, sizeof(st->lease_ns), "%s",
		 o->lease_namespace ? o->lease_namespace
		 : getenv("POD_NAMESPACE") ? getenv("POD_NAMESPACE") : K8S_DEFAULT_NAMESPACE);
	snprintf(st->lease_name, sizeof(st->lease_name), "%s",
		 o->lease_name ? o->lease_name : K8S_DEFAULT_LEASE);
	st->duration_s = o->lease_duration_s ? o->lease_duration_s : 15;
	st->renew_ms = o->renew_interval_ms ? o->renew_interval_ms : st->duration_s * 1000 / 3;
	st->memo = json_object();
	pthread_mutex_init(&st->lock, NULL);
	pthread_cond_init(&st->cond, NULL);
	rc = pthread_create(&st->thr, NULL, status_thread, st);
	if (rc) {
		k8s_status_stop(st);
		errno = rc;
		return NULL;
	}
	st->thr_started = 1;
	log_info("k8s: status writer: identity %s, Lease %s/%s (%us)", st->identity,
		 st->lease_ns, st->lease_name, st->duration_s);
	return st;
}

void k8s_status_stop(struct k8s_status *st)
{
	if (!st)
		return;
	if (st->thr_started) {
		pthread_mutex_lock(&st->lock);
		st->stop = 1;
		pthread_cond_signal(&st->cond);
		pthread_mutex_unlock(&st->lock);
		pthread_join(st->thr, NULL);
	}
	pthread_mutex_destroy(&st->lock);
	pthread_cond_destroy(&st->cond);
	json_decref(st->desired);
	json_decref(st->observed);
	json_decref(st->memo);
	free(st);
}

int k8s_status_set(struct k8s_status *st, json_t *status_list)
{
	json_t *copy = json_deep_copy(status_list);

	if (!copy)
		return -ENOMEM;
	pthread_mutex_lock(&st->lock);
	json_decref(st->desired);
	st->desired = copy;
	st->desired_new = 1;
	pthread_cond_signal(&st->cond);
	pthread_mutex_unlock(&st->lock);
	return 0;
}

int k8s_status_leader(struct k8s_status *st)
{
	return atomic_load(&st->leader);
}
