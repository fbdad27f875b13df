// SPDX-License-Identifier: GPL-2.0-only
/* The Kubernetes source's watch thread: list + watch per resource on one curl
 * multi handle (resourceVersion, bookmarks, 410 -> relist, backoff + jitter),
 * by-name gets of referenced Secrets/ConfigMaps, debounced policy inputs. */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "k8s_internal.h"
#include "log.h"

#define BACKOFF_MIN_MS 250u
#define BACKOFF_MAX_MS 30000u
#define NOT_SERVED_RECHECK_MS 60000u
#define MISSING_REF_RECHECK_MS 10000u
#define LIST_PAGE 500
#define LINE_MAX_BYTES (16u << 20) /* one watch event; bigger is an error */

enum refl_state { R_IDLE, R_LIST, R_WATCH };

/* One listed + watched resource. */
struct reflector {
	struct k8s_source *src;
	enum k8s_res_id id;
	int vidx;               /* index into versions[] currently served */
	enum refl_state state;
	CURL *easy;
	struct curl_slist *hdrs;
	struct k8s_buf body;    /* list body, or the error body of a watch */
	struct k8s_buf line;    /* partial watch event line */
	char rv[128];           /* last seen resourceVersion; "" = must list */
	char *cont;             /* list continue token */
	json_t *staging;        /* objects of a paginated list in progress */
	uint64_t next_ms;       /* when to start the next request (R_IDLE) */
	uint64_t started_ms;
	unsigned backoff_ms;
	unsigned events;        /* events received on the current watch */
	int synced;             /* listed at least once (or not served) */
	int not_served;
	int relist;             /* an ERROR 410 event was seen */
	int abort_reason;       /* set when the write callback aborted */
};

/* One Secret or ConfigMap a listener or BackendTLSPolicy refers to. */
struct ref {
	struct k8s_source *src;
	enum k8s_res_id id;
	char ns[64], name[254];
	CURL *easy;
	struct curl_slist *hdrs;
	struct k8s_buf body;
	uint64_t next_ms;
	unsigned backoff_ms;
	int wanted, done_once;
};

struct k8s_source {
	struct k8s_options opt;
	char *strs[16];         /* copies of the option strings */
	struct k8s_conn conn;
	struct k8s_cache cache;
	CURLM *multi;
	pthread_t thr;
	int thr_started;
	atomic_int stop;
	struct reflector refl[K8S_RES_COUNT];
	struct ref **refs;
	size_t n_refs;
	int refs_dirty;
	k8s_input_fn fn;
	void *arg;
	int ready;
	int dirty;
	uint64_t dirty_first_ms, dirty_last_ms;
	uint64_t serial;
	int tlsroute_vidx;      /* read by the status thread (atomic) */
	struct k8s_status *st;
};

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Exponential backoff with "equal jitter": half fixed, half random. */
static unsigned backoff_next(unsigned *b)
{
	*b = *b ? *b * 2 : BACKOFF_MIN_MS;
	if (*b > BACKOFF_MAX_MS)
		*b = BACKOFF_MAX_MS;
	return *b / 2 + (unsigned)(random() % (*b / 2 + 1));
}

static void mark_dirty(struct k8s_source *s)
{
	uint64_t t = now_ms();

	if (!s->dirty)
		s->dirty_first_ms = t;
	s->dirty = 1;
	s->dirty_last_ms = t;
}

/* Give a listed object its apiVersion and kind (list items of built-in kinds
 * come without them) and drop managedFields. */
static void set_type(json_t *obj, enum k8s_res_id id, int vidx)
{
	char av[128];

	k8s_res_api_version(av, sizeof(av), id, vidx);
	json_object_set_new(obj, "apiVersion", json_string(av));
	json_object_set_new(obj, "kind", json_string(k8s_resources[id].kind));
	json_object_del(json_object_get(obj, "metadata"), "managedFields");
}

static void note_change(struct reflector *r, int changed)
{
	if (changed <= 0)
		return;
	mark_dirty(r->src);
	if (r->id == K8S_RES_GATEWAY || r->id == K8S_RES_BACKENDTLSPOLICY)
		r->src->refs_dirty = 1;
}

static void xfer_done(struct k8s_source *s, CURL **e, struct curl_slist **h)
{
	if (*e) {
		curl_multi_remove_handle(s->multi, *e);
		curl_easy_cleanup(*e);
	}
	curl_slist_free_all(*h);
	*e = NULL;
	*h = NULL;
}

/* ---- watch stream parsing ---------------------------------------------------- */

static void set_rv(struct reflector *r, json_t *obj)
{
	const char *rv = json_string_value(json_object_get(json_object_get(obj, "metadata"),
							    "resourceVersion"));

	if (rv && strlen(rv) < sizeof(r->rv))
		strcpy(r->rv, rv);
}

/* Apply one event line. Returns 0, or -1 to end the watch. */
static int watch_event(struct reflector *r, const char *line, size_t len)
{
	const struct k8s_resource *res = &k8s_resources[r->id];
	json_error_t jerr;
	json_t *ev, *obj;
	const char *type;
	char key[400];
	int rc = 0;

	ev = json_loadb(line, len, 0, &jerr);
	if (!ev) {
		log_warn("k8s: %s watch: bad event (%s at column %d); re-watching",
			 res->plural, jerr.text, jerr.column);
		return -1;
	}
	type = json_string_value(json_object_get(ev, "type"));
	obj = json_object_get(ev, "object");
	if (!type || !json_is_object(obj)) {
		log_warn("k8s: %s watch: event without type or object; re-watching", res->plural);
		rc = -1;
	} else if (!strcmp(type, "ADDED") || !strcmp(type, "MODIFIED")) {
		set_rv(r, obj);
		json_incref(obj);
		set_type(obj, r->id, r->vidx);
		note_change(r, k8s_cache_put(&r->src->cache, r->id, obj));
		r->events++;
	} else if (!strcmp(type, "DELETED")) {
		set_rv(r, obj);
		if (!k8s_obj_key(obj, key, sizeof(key)))
			note_change(r, k8s_cache_del(&r->src->cache, r->id, key));
		r->events++;
	} else if (!strcmp(type, "BOOKMARK")) {
		set_rv(r, obj);
		r->events++;
	} else if (!strcmp(type, "ERROR")) {
		json_int_t code = json_integer_value(json_object_get(obj, "code"));
		char msg[600];

		k8s_describe_error((long)code, obj, msg, sizeof(msg));
		if (code == 410) {
			log_info("k8s: %s watch expired (%s): relisting", res->plural, msg);
			r->relist = 1;
		} else {
			log_warn("k8s: %s watch error event: %s", res->plural, msg);
		}
		rc = -1;
	} else {
		log_warn("k8s: %s watch: unknown event type \"%s\" ignored", res->plural, type);
	}
	json_decref(ev);
	return rc;
}

static size_t watch_write(char *d, size_t sz, size_t n, void *arg)
{
	struct reflector *r = arg;
	size_t total = sz * n, start = 0, i;
	long code = 0;

	curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &code);
	if (code != 200)
		return k8s_buf_add(&r->body, d, total) ? 0 : total;
	for (i = 0; i < total; i++) {
		if (d[i] != '\n')
			continue;
		if (r->line.len) {
			if (k8s_buf_add(&r->line, d + start, i - start))
				return 0;
			if (watch_event(r, r->line.p, r->line.len))
				return 0;
			r->line.len = 0;
		} else if (i > start && watch_event(r, d + start, i - start)) {
			return 0;
		}
		start = i + 1;
	}
	if (start < total) {
		if (r->line.len + total - start > LINE_MAX_BYTES) {
			log_warn("k8s: %s watch: event larger than %u bytes; re-watching",
				 k8s_resources[r->id].plural, LINE_MAX_BYTES);
			return 0;
		}
		if (k8s_buf_add(&r->line, d + start, total - start))
			return 0;
	}
	return total;
}

static size_t body_write(char *d, size_t sz, size_t n, void *arg)
{
	return k8s_buf_add(arg, d, sz * n) ? 0 : sz * n;
}

/* ---- starting requests -------------------------------------------------------- */

static int refl_start(struct reflector *r, int watch)
{
	struct k8s_source *s = r->src;
	char path[512], q[2048];
	char *esc = NULL;
	int rc;

	if (!k8s_verb_allowed(r->id, 0, watch ? K8S_WATCH : K8S_LIST))
		return -EPERM;
	rc = k8s_res_path(path, sizeof(path), r->id, r->vidx, NULL, NULL, 0);
	if (rc)
		return rc;
	r->easy = curl_easy_init();
	if (!r->easy)
		return -ENOMEM;
	if (watch) {
		/* Spread reconnects: the server-side timeout varies by up to 1/4. */
		unsigned to = s->opt.watch_timeout_s;

		to += (unsigned)(random() % (to / 4 + 1));
		esc = curl_easy_escape(r->easy, r->rv, 0);
		snprintf(q, sizeof(q), "%s?watch=1&allowWatchBookmarks=true&resourceVersion=%s"
			 "&timeoutSeconds=%u", path, esc ? esc : "", to);
		/* Client-side cap in case the server never ends the stream. */
		curl_easy_setopt(r->easy, CURLOPT_TIMEOUT, (long)to + 30);
		curl_easy_setopt(r->easy, CURLOPT_WRITEFUNCTION, watch_write);
		curl_easy_setopt(r->easy, CURLOPT_WRITEDATA, r);
		r->events = 0;
		r->relist = 0;
		r->line.len = 0;
	} else {
		if (r->cont)
			esc = curl_easy_escape(r->easy, r->cont, 0);
		snprintf(q, sizeof(q), "%s?limit=%u%s%s", path, s->opt.list_limit,
			 esc ? "&continue=" : "", esc ? esc : "");
		curl_easy_setopt(r->easy, CURLOPT_TIMEOUT, 120L);
		curl_easy_setopt(r->easy, CURLOPT_WRITEFUNCTION, body_write);
		curl_easy_setopt(r->easy, CURLOPT_WRITEDATA, &r->body);
	}
	curl_free(esc);
	r->body.len = 0;
	rc = k8s_conn_setup(&s->conn, r->easy, "GET", q, NULL, &r->hdrs);
	if (rc) {
		xfer_done(s, &r->easy, &r->hdrs);
		return rc;
	}
	curl_easy_setopt(r->easy, CURLOPT_PRIVATE, r);
	if (curl_multi_add_handle(s->multi, r->easy) != CURLM_OK) {
		xfer_done(s, &r->easy, &r->hdrs);
		return -ENOMEM;
	}
	r->state = watch ? R_WATCH : R_LIST;
	r->started_ms = now_ms();
	log_dbg("k8s: GET %s", q);
	return 0;
}

static void refl_retry(struct reflector *r, unsigned delay_ms)
{
	r->state = R_IDLE;
	r->next_ms = now_ms() + delay_ms;
}

static void refl_fail(struct reflector *r, const char *what, long code, CURLcode cc)
{
	const struct k8s_resource *res = &k8s_resources[r->id];
	unsigned d = backoff_next(&r->backoff_ms);
	char msg[700];

	if (cc != CURLE_OK) {
		snprintf(msg, sizeof(msg), "%s", curl_easy_strerror(cc));
	} else {
		json_t *st = r->body.p ? json_loadb(r->body.p, r->body.len, 0, NULL) : NULL;

		k8s_describe_error(code, st, msg, sizeof(msg));
		json_decref(st);
	}
	if (code == 401 || code == 403)
		log_err("k8s: %s %s on %s: %s; retrying in %u ms", what, res->plural,
			r->src->conn.server, msg, d);
	else
		log_warn("k8s: %s %s on %s: %s; retrying in %u ms", what, res->plural,
			 r->src->conn.server, msg, d);
	refl_retry(r, d);
}

/* ---- completions ----------------------------------------------------------- */

static void list_done(struct reflector *r, CURLcode cc, long code)
{
	const struct k8s_resource *res = &k8s_resources[r->id];
	json_t *doc, *items, *it, *md;
	const char *cont, *rv;
	size_t i;

	if (cc == CURLE_OK && code == 404 && !r->cont) {
		if (r->vidx + 1 < K8S_MAX_VERSIONS && res->versions[r->vidx + 1]) {
			log_info("k8s: %s %s not served, trying %s", res->plural,
				 res->versions[r->vidx], res->versions[r->vidx + 1]);
			r->vidx++;
			refl_retry(r, 0);
			return;
		}
		if (!r->not_served)
			log_warn("k8s: %s: no served version (tried %s%s%s%s%s); treated as "
				 "empty, re-checking every %u s", res->plural, res->versions[0],
				 res->versions[1] ? ", " : "", res->versions[1] ? res->versions[1] : "",
				 res->versions[2] ? ", " : "", res->versions[2] ? res->versions[2] : "",
				 NOT_SERVED_RECHECK_MS / 1000);
		r->not_served = 1;
		r->synced = 1;
		r->vidx = 0;
		r->rv[0] = 0;
		note_change(r, k8s_cache_replace(&r->src->cache, r->id, json_object()));
		refl_retry(r, NOT_SERVED_RECHECK_MS);
		return;
	}
	if (cc == CURLE_OK && code == 410 && r->cont) {
		/* The continue token expired: start the list again. */
		log_info("k8s: %s list continue token expired: relisting", res->plural);
		free(r->cont);
		r->cont = NULL;
		json_decref(r->staging);
		r->staging = NULL;
		refl_retry(r, 0);
		return;
	}
	if (cc != CURLE_OK || code != 200) {
		free(r->cont);
		r->cont = NULL;
		json_decref(r->staging);
		r->staging = NULL;
		refl_fail(r, "list", code, cc);
		return;
	}
	doc = json_loadb(r->body.p ? r->body.p : "", r->body.len, 0, NULL);
	items = json_object_get(doc, "items");
	if (!doc || !(json_is_array(items) || json_is_null(items) || !items)) {
		json_decref(doc);
		log_warn("k8s: list %s: response is not a list", res->plural);
		refl_fail(r, "list", 0, CURLE_WEIRD_SERVER_REPLY);
		return;
	}
	if (!r->staging)
		r->staging = json_object();
	json_array_foreach(items, i, it) {
		char key[400];

		if (k8s_obj_key(it, key, sizeof(key)))
			continue;
		json_incref(it);
		set_type(it, r->id, r->vidx);
		json_object_set_new(r->staging, key, it);
	}
	md = json_object_get(doc, "metadata");
	cont = json_string_value(json_object_get(md, "continue"));
	free(r->cont);
	r->cont = cont && *cont ? strdup(cont) : NULL;
	if (r->cont) {
		json_decref(doc);
		refl_retry(r, 0);
		return;
	}
	rv = json_string_value(json_object_get(md, "resourceVersion"));
	snprintf(r->rv, sizeof(r->rv), "%s", rv ? rv : "");
	if (r->not_served || !r->synced)
		log_info("k8s: %s (%s): listed %zu objects at resourceVersion %s", res->plural,
			 res->versions[r->vidx], json_object_size(r->staging), r->rv);
	else
		log_info("k8s: %s: relisted %zu objects at resourceVersion %s", res->plural,
			 json_object_size(r->staging), r->rv);
	r->not_served = 0;
	if (r->id == K8S_RES_TLSROUTE)
		__atomic_store_n(&r->src->tlsroute_vidx, r->vidx, __ATOMIC_RELEASE);
	note_change(r, k8s_cache_replace(&r->src->cache, r->id, r->staging));
	r->staging = NULL;
	r->synced = 1;
	json_decref(doc);
	if (!r->rv[0]) {
		/* Nothing to watch from: list again later, not in a tight loop. */
		log_warn("k8s: list %s: no metadata.resourceVersion; relisting", res->plural);
		refl_retry(r, backoff_next(&r->backoff_ms));
		return;
	}
	r->backoff_ms = 0;
	refl_retry(r, 0);
}

static void watch_done(struct reflector *r, CURLcode cc, long code)
{
	const struct k8s_resource *res = &k8s_resources[r->id];
	uint64_t lasted = now_ms() - r->started_ms;

	if (r->relist || (cc == CURLE_OK && (code == 410 || code == 404))) {
		if (code == 410)
			log_info("k8s: %s watch: 410 Gone: relisting", res->plural);
		if (code == 404)
			r->vidx = 0;
		r->rv[0] = 0;
		refl_retry(r, 0);
		return;
	}
	if (code == 200 && (cc == CURLE_OK || cc == CURLE_OPERATION_TIMEDOUT ||
			    cc == CURLE_PARTIAL_FILE || cc == CURLE_RECV_ERROR ||
			    cc == CURLE_WRITE_ERROR)) {
		/* The stream ended (server timeout, or we stopped it on a bad
		 * event). Reconnect at once if it was useful, else back off. */
		if (cc != CURLE_OK && cc != CURLE_OPERATION_TIMEDOUT)
			log_info("k8s: %s watch ended: %s", res->plural, curl_easy_strerror(cc));
		if (r->events || lasted >= 5000) {
			r->backoff_ms = 0;
			refl_retry(r, 0);
		} else {
			refl_retry(r, backoff_next(&r->backoff_ms));
		}
		return;
	}
	refl_fail(r, "watch", code, cc);
}

/* ---- referenced Secrets and ConfigMaps ------------------------------------------ */

static struct ref *ref_find(struct k8s_source *s, enum k8s_res_id id, const char *ns,
			    const char *name)
{
	size_t i;

	for (i = 0; i < s->n_refs; i++)
		if (s->refs[i]->id == id && !strcmp(s->refs[i]->ns, ns) &&
		    !strcmp(s->refs[i]->name, name))
			return s->refs[i];
	return NULL;
}

static void ref_want(struct k8s_source *s, enum k8s_res_id id, const char *ns, const char *name)
{
	struct ref *f, **n;

	if (!ns || !name || strlen(ns) >= sizeof(f->ns) || strlen(name) >= sizeof(f->name))
		return;
	f = ref_find(s, id, ns, name);
	if (f) {
		f->wanted = 1;
		return;
	}
	f = calloc(1, sizeof(*f));
	n = realloc(s->refs, (s->n_refs + 1) * sizeof(*n));
	if (!f || !n) {
		free(f);
		if (n)
			s->refs = n;
		return;
	}
	s->refs = n;
	f->src = s;
	f->id = id;
	strcpy(f->ns, ns);
	strcpy(f->name, name);
	f->wanted = 1;
	s->refs[s->n_refs++] = f;
}

/* group "" (or absent) and @kind (or absent = @kind). */
static int ref_is(json_t *ref, const char *kind)
{
	const char *g = json_string_value(json_object_get(ref, "group"));
	const char *k = json_string_value(json_object_get(ref, "kind"));

	return (!g || !*g) && (!k || !strcmp(k, kind));
}

/* Recompute which Secrets and ConfigMaps are referenced. */
static void refs_update(struct k8s_source *s)
{
	const char *key;
	json_t *o;
	size_t i, j, k;

	for (i = 0; i < s->n_refs; i++)
		s->refs[i]->wanted = 0;
	pthread_mutex_lock(&s->cache.lock);
	json_object_foreach(s->cache.objs[K8S_RES_GATEWAY], key, o) {
		const char *gns = json_string_value(json_object_get(json_object_get(o, "metadata"),
								    "namespace"));
		json_t *ls = json_object_get(json_object_get(o, "spec"), "listeners"), *l;

		json_array_foreach(ls, j, l) {
			json_t *refs = json_object_get(json_object_get(l, "tls"), "certificateRefs");
			json_t *ref;

			json_array_foreach(refs, k, ref) {
				const char *ns = json_string_value(json_object_get(ref, "namespace"));

				if (ref_is(ref, "Secret"))
					ref_want(s, K8S_RES_SECRET, ns ? ns : gns ? gns : "default",
						 json_string_value(json_object_get(ref, "name")));
			}
		}
	}
	json_object_foreach(s->cache.objs[K8S_RES_BACKENDTLSPOLICY], key, o) {
		const char *pns = json_string_value(json_object_get(json_object_get(o, "metadata"),
								    "namespace"));
		json_t *refs = json_object_get(json_object_get(json_object_get(o, "spec"),
							       "validation"), "caCertificateRefs");
		json_t *ref;

		json_array_foreach(refs, k, ref)
			if (ref_is(ref, "ConfigMap"))
				ref_want(s, K8S_RES_CONFIGMAP, pns ? pns : "default",
					 json_string_value(json_object_get(ref, "name")));
	}
	pthread_mutex_unlock(&s->cache.lock);
	/* Forget what is no longer referenced: the compiler must stop seeing it. */
	for (i = 0; i < s->n_refs;) {
		struct ref *f = s->refs[i];
		char ckey[400];

		if (f->wanted) {
			i++;
			continue;
		}
		xfer_done(s, &f->easy, &f->hdrs);
		snprintf(ckey, sizeof(ckey), "%s/%s", f->ns, f->name);
		if (k8s_cache_del(&s->cache, f->id, ckey))
			mark_dirty(s);
		k8s_buf_free(&f->body);
		free(f);
		s->refs[i] = s->refs[--s->n_refs];
	}
}

static int ref_start(struct ref *f)
{
	struct k8s_source *s = f->src;
	char path[512];
	int rc;

	rc = k8s_res_path(path, sizeof(path), f->id, 0, f->ns, f->name, 0);
	if (rc)
		return rc;
	if (!k8s_verb_allowed(f->id, 0, K8S_GET))
		return -EPERM;
	f->easy = curl_easy_init();
	if (!f->easy)
		return -ENOMEM;
	f->body.len = 0;
	curl_easy_setopt(f->easy, CURLOPT_TIMEOUT, 30L);
	curl_easy_setopt(f->easy, CURLOPT_WRITEFUNCTION, body_write);
	curl_easy_setopt(f->easy, CURLOPT_WRITEDATA, &f->body);
	rc = k8s_conn_setup(&s->conn, f->easy, "GET", path, NULL, &f->hdrs);
	if (!rc)
		curl_easy_setopt(f->easy, CURLOPT_PRIVATE, f);
	if (rc || curl_multi_add_handle(s->multi, f->easy) != CURLM_OK) {
		xfer_done(s, &f->easy, &f->hdrs);
		return rc ? rc : -ENOMEM;
	}
	return 0;
}

static void ref_done(struct ref *f, CURLcode cc, long code)
{
	struct k8s_source *s = f->src;
	const char *kind = k8s_resources[f->id].kind;
	char key[400], msg[700];
	json_t *obj;

	snprintf(key, sizeof(key), "%s/%s", f->ns, f->name);
	if (cc == CURLE_OK && code == 200) {
		obj = json_loadb(f->body.p ? f->body.p : "", f->body.len, 0, NULL);
		if (json_is_object(obj)) {
			set_type(obj, f->id, 0);
			if (k8s_cache_put(&s->cache, f->id, obj) > 0)
				mark_dirty(s);
			f->backoff_ms = 0;
			f->done_once = 1;
			f->next_ms = now_ms() + s->opt.ref_resync_s * 1000ull;
			return;
		}
		json_decref(obj);
		code = 0;
		cc = CURLE_WEIRD_SERVER_REPLY;
	}
	if (cc == CURLE_OK && code == 404) {
		if (k8s_cache_del(&s->cache, f->id, key))
			mark_dirty(s);
		unsigned again = s->opt.ref_resync_s * 1000 < MISSING_REF_RECHECK_MS
				 ? s->opt.ref_resync_s * 1000 : MISSING_REF_RECHECK_MS;

		if (!f->done_once)
			log_info("k8s: %s %s not found (referenced; re-checking every %u ms)",
				 kind, key, again);
		f->done_once = 1;
		f->next_ms = now_ms() + again;
		return;
	}
	if (cc != CURLE_OK) {
		snprintf(msg, sizeof(msg), "%s", curl_easy_strerror(cc));
	} else {
		json_t *st = json_loadb(f->body.p ? f->body.p : "", f->body.len, 0, NULL);

		k8s_describe_error(code, st, msg, sizeof(msg));
		json_decref(st);
	}
	/* Unreadable counts as absent, so the listener reports the bad ref
	 * instead of the whole source waiting for it. */
	if ((code == 401 || code == 403) && k8s_cache_del(&s->cache, f->id, key))
		mark_dirty(s);
	f->done_once = 1;
	f->next_ms = now_ms() + backoff_next(&f->backoff_ms);
	log_warn("k8s: get %s %s: %s", kind, key, msg);
}

/* ---- the thread -------------------------------------------------------------- */

static void emit_input(struct k8s_source *s)
{
	struct policy_input *in;
	uint64_t t0 = now_ms();
	size_t n = 0;

	in = k8s_cache_to_input(&s->cache, &n);
	if (!in) {
		log_err("k8s: building the policy input: %s", strerror(errno));
		return;
	}
	s->dirty = 0;
	s->serial++;
	log_info("k8s: input #%llu: %zu objects (built in %llu ms)", (unsigned long long)s->serial,
		 n, (unsigned long long)(now_ms() - t0));
	s->fn(in, s->arg);
}

static int all_synced(struct k8s_source *s)
{
	size_t i;
	int id;

	for (id = 0; id < K8S_RES_COUNT; id++)
		if (k8s_resources[id].mode == K8S_MODE_WATCH && !s->refl[id].synced)
			return 0;
	for (i = 0; i < s->n_refs; i++)
		if (!s->refs[i]->done_once)
			return 0;
	return 1;
}

static void handle_done(struct k8s_source *s, CURLMsg *m)
{
	CURL *e = m->easy_handle;
	CURLcode cc = m->data.result;
	long code = 0;
	void *p = NULL;
	int id;

	curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &code);
	curl_easy_getinfo(e, CURLINFO_PRIVATE, (char **)&p);
	for (id = 0; id < K8S_RES_COUNT; id++) {
		struct reflector *r = &s->refl[id];

		if (p != r)
			continue;
		xfer_done(s, &r->easy, &r->hdrs);
		if (r->state == R_LIST)
			list_done(r, cc, code);
		else
			watch_done(r, cc, code);
		return;
	}
	for (size_t i = 0; i < s->n_refs; i++) {
		struct ref *f = s->refs[i];

		if (p != f)
			continue;
		xfer_done(s, &f->easy, &f->hdrs);
		ref_done(f, cc, code);
		return;
	}
}

static void *watch_thread(void *arg)
{
	struct k8s_source *s = arg;
	int id, running;

	while (!atomic_load(&s->stop)) {
		uint64_t t = now_ms(), wake = t + 1000;
		CURLMsg *m;
		int left;
		size_t i;

		for (id = 0; id < K8S_RES_COUNT; id++) {
			struct reflector *r = &s->refl[id];

			if (k8s_resources[id].mode != K8S_MODE_WATCH || r->state != R_IDLE)
				continue;
			if (r->next_ms <= t) {
				int watch = r->rv[0] && !r->cont;

				if (refl_start(r, watch))
					refl_retry(r, backoff_next(&r->backoff_ms));
			}
			if (r->state == R_IDLE && r->next_ms < wake)
				wake = r->next_ms;
		}
		if (s->refs_dirty) {
			s->refs_dirty = 0;
			refs_update(s);
		}
		for (i = 0; i < s->n_refs; i++) {
			struct ref *f = s->refs[i];

			if (f->easy)
				continue;
			if (f->next_ms <= t && ref_start(f))
				f->next_ms = t + backoff_next(&f->backoff_ms);
			if (!f->easy && f->next_ms < wake)
				wake = f->next_ms;
		}
		curl_multi_perform(s->multi, &running);
		while ((m = curl_multi_info_read(s->multi, &left)))
			if (m->msg == CURLMSG_DONE)
				handle_done(s, m);
		if (s->refs_dirty)
			continue;
		t = now_ms();
		if (!s->ready && all_synced(s)) {
			s->ready = 1;
			log_info("k8s: initial list complete");
			emit_input(s);
		} else if (s->ready && s->dirty) {
			uint64_t due = s->dirty_last_ms + s->opt.debounce_ms;
			uint64_t cap = s->dirty_first_ms + s->opt.max_delay_ms;

			if (cap < due)
				due = cap;
			if (due <= t)
				emit_input(s);
			else if (due < wake)
				wake = due;
		}
		t = now_ms();
		curl_multi_poll(s->multi, NULL, 0, wake > t ? (int)(wake - t) : 0, NULL);
	}
	return NULL;
}

/* ---- public API ------------------------------------------------------------------- */

static const char *keep(struct k8s_source *s, int *n, const char *v)
{
	if (!v)
		return NULL;
	s->strs[*n] = strdup(v);
	return s->strs[(*n)++];
}

struct k8s_source *k8s_source_start(const struct k8s_options *o, k8s_input_fn on_input,
				    void *arg)
{
	struct k8s_source *s;
	char err[1024] = "";
	int rc, n = 0, id;

	s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->opt = *o;
	s->opt.kubeconfig = keep(s, &n, o->kubeconfig);
	s->opt.context = keep(s, &n, o->context);
	s->opt.server = keep(s, &n, o->server);
	s->opt.sa_dir = keep(s, &n, o->sa_dir);
	s->opt.token_file = keep(s, &n, o->token_file);
	s->opt.ca_file = keep(s, &n, o->ca_file);
	s->opt.controller_name = keep(s, &n, o->controller_name ? o->controller_name
						: POLICY_DEFAULT_CONTROLLER);
	s->opt.identity = keep(s, &n, o->identity);
	s->opt.lease_namespace = keep(s, &n, o->lease_namespace);
	s->opt.lease_name = keep(s, &n, o->lease_name);
	if (!s->opt.debounce_ms)
		s->opt.debounce_ms = 100;
	if (!s->opt.max_delay_ms)
		s->opt.max_delay_ms = 1000;
	if (!s->opt.watch_timeout_s)
		s->opt.watch_timeout_s = 300;
	if (!s->opt.ref_resync_s)
		s->opt.ref_resync_s = 60;
	if (!s->opt.list_limit)
		s->opt.list_limit = LIST_PAGE;
	s->fn = on_input;
	s->arg = arg;
	srandom((unsigned)time(NULL) ^ (unsigned)getpid());
	curl_global_init(CURL_GLOBAL_DEFAULT);
	rc = k8s_conn_init(&s->conn, &s->opt, err, sizeof(err));
	if (rc) {
		log_err("k8s: %s", err);
		goto fail;
	}
	{
		char ident[256];

		k8s_identity(&s->opt, ident, sizeof(ident));
		snprintf(s->conn.user_agent, sizeof(s->conn.user_agent), "snigate/1 (%s)", ident);
	}
	if (!s->conn.token && !s->conn.token_file && !s->conn.cert_file && !s->conn.cert_data)
		log_warn("k8s: %s: no credentials (no token, no client certificate)", s->conn.where);
	rc = k8s_cache_init(&s->cache);
	if (rc)
		goto fail;
	s->multi = curl_multi_init();
	if (!s->multi) {
		rc = -ENOMEM;
		goto fail;
	}
	for (id = 0; id < K8S_RES_COUNT; id++) {
		s->refl[id].src = s;
		s->refl[id].id = id;
	}
	log_info("k8s: using %s", s->conn.where);
	if (!s->opt.no_status) {
		s->st = k8s_status_start(&s->opt, &s->conn, &s->cache, &s->tlsroute_vidx);
		if (!s->st) {
			rc = -errno;
			goto fail;
		}
	}
	rc = -pthread_create(&s->thr, NULL, watch_thread, s);
	if (rc)
		goto fail;
	s->thr_started = 1;
	return s;
fail:
	k8s_source_stop(s);
	errno = rc < 0 ? -rc : EINVAL;
	return NULL;
}

void k8s_source_stop(struct k8s_source *s)
{
	size_t i;
	int id;

	if (!s)
		return;
	if (s->thr_started) {
		atomic_store(&s->stop, 1);
		curl_multi_wakeup(s->multi);
		pthread_join(s->thr, NULL);
	}
	k8s_status_stop(s->st);
	for (id = 0; id < K8S_RES_COUNT; id++) {
		struct reflector *r = &s->refl[id];

		xfer_done(s, &r->easy, &r->hdrs);
		k8s_buf_free(&r->body);
		k8s_buf_free(&r->line);
		free(r->cont);
		json_decref(r->staging);
	}
	for (i = 0; i < s->n_refs; i++) {
		xfer_done(s, &s->refs[i]->easy, &s->refs[i]->hdrs);
		k8s_buf_free(&s->refs[i]->body);
		free(s->refs[i]);
	}
	free(s->refs);
	if (s->multi)
		curl_multi_cleanup(s->multi);
	if (s->cache.objs[0])
		k8s_cache_free(&s->cache);
	k8s_conn_free(&s->conn);
	for (i = 0; i < sizeof(s->strs) / sizeof(s->strs[0]); i++)
		free(s->strs[i]);
	free(s);
}

int k8s_status_publish(struct k8s_source *s, json_t *status_list)
{
	if (!s->st)
		return -ENOTSUP;
	return k8s_status_set(s->st, status_list);
}

int k8s_source_is_leader(struct k8s_source *s)
{
	return s->st ? k8s_status_leader(s->st) : 0;
}
