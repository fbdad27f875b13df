// SPDX-License-Identifier: GPL-2.0-only
/* Backends: backendRefs -> Services -> ports -> ready EndpointSlice
 * endpoints, weighted sets with rejecting shares, and BackendTLSPolicy. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "cert.h"
#include "compile.h"

/* Check one backendRef. Returns true when valid; else @reason and a
 * message line. On success *svc and *port are set. */
static bool eval_ref(struct cctx *c, struct pobj *route, json_t *ref, size_t idx,
		     const char **reason, char *msg, size_t cap, struct pobj **svc, int *port)
{
	const char *group = jsd(ref, "group", ""), *kind = jsd(ref, "kind", "Service");
	const char *name = js(ref, "name"), *ns = jsd(ref, "namespace", route->ns);
	json_t *pv = json_object_get(ref, "port"), *sp;
	const char *type;
	size_t i;

	if (*group || strcmp(kind, "Service")) {
		*reason = "InvalidKind";
		snprintf(msg, cap, "backendRefs[%zu] %s/%s %s: unsupported kind (only core Services)",
			 idx, *group ? group : "core", kind, name);
		return false;
	}
	if (strcmp(ns, route->ns) &&
	    !cc_granted(c, "TLSRoute", route->ns, "", "Service", ns, name)) {
		*reason = "RefNotPermitted";
		snprintf(msg, cap, "backendRefs[%zu] Service %s/%s: no ReferenceGrant in namespace "
			 "%s allows TLSRoutes from %s", idx, ns, name, ns, route->ns);
		return false;
	}
	*svc = cc_find(c, "Service", ns, name);
	if (!*svc) {
		*reason = "BackendNotFound";
		snprintf(msg, cap, "backendRefs[%zu] Service %s/%s not found", idx, ns, name);
		return false;
	}
	if (!json_is_integer(pv)) {
		*reason = "BackendNotFound";
		snprintf(msg, cap, "backendRefs[%zu] Service %s/%s: port is required", idx, ns, name);
		return false;
	}
	*port = (int)json_integer_value(pv);
	type = js(json_object_get((*svc)->o, "spec"), "type");
	if (type && !strcmp(type, "ExternalName")) {
		*reason = "InvalidKind";
		snprintf(msg, cap, "backendRefs[%zu] Service %s/%s: ExternalName Services are not "
			 "supported", idx, ns, name);
		return false;
	}
	json_array_foreach(jpath((*svc)->o, "spec.ports"), i, sp)
		if (json_integer_value(json_object_get(sp, "port")) == *port)
			return true;
	*reason = "BackendNotFound";
	snprintf(msg, cap, "backendRefs[%zu] Service %s/%s has no port %d", idx, ns, name, *port);
	return false;
}

/* Iterate every backendRef of every rule (v1alpha2 may have several rules;
 * their refs form one set since TLSRoute rules have no matches). */
#define for_each_ref(route, ri, bi, rule, ref, n)                                         \
	json_array_foreach(jpath((route)->o, "spec.rules"), ri, rule)                     \
		json_array_foreach(json_object_get(rule, "backendRefs"), bi, ref)         \
			if (++(n), 1)

bool backend_route_refs(struct cctx *c, struct pobj *route, const char **reason, char *msg,
			size_t cap)
{
	size_t ri, bi, n = 0, used = 0;
	json_t *rule, *ref;
	struct pobj *svc;
	const char *r;
	char line[600];
	int port;
	bool ok = true;

	*msg = '\0';
	for_each_ref(route, ri, bi, rule, ref, n) {
		if (eval_ref(c, route, ref, n - 1, &r, line, sizeof(line), &svc, &port))
			continue;
		if (ok)
			*reason = r;
		ok = false;
		used += (size_t)snprintf(msg + used, used < cap ? cap - used : 0, "%s%s",
					 used ? "; " : "", line);
		if (used >= cap)
			used = cap;
	}
	return ok;
}

static int family_of(const char *addr_type)
{
	if (!strcmp(addr_type, "IPv4"))
		return AF_INET;
	if (!strcmp(addr_type, "IPv6"))
		return AF_INET6;
	return 0;
}

static void ep_add(struct cctx *c, struct sng_backend *b, const char *what, int family,
		   const char *addr, int port)
{
	struct sng_endpoint e = { .family = (uint8_t)family, .port = htons((uint16_t)port) };
	uint32_t i;

	if (inet_pton(family, addr, e.addr) != 1) {
		note_add(c->pc->notes, "%s: endpoint address %s is not a valid %s address", what,
			 addr, family == AF_INET ? "IPv4" : "IPv6");
		return;
	}
	for (i = 0; i < b->n; i++)
		if (!memcmp(&b->ep[i], &e, sizeof(e)))
			return;
	if (b->n >= SNG_MAX_ENDPOINTS) {
		note_add(c->pc->notes, "%s: more than %d endpoints, extra ones ignored", what,
			 SNG_MAX_ENDPOINTS);
		return;
	}
	b->ep[b->n++] = e;
}

/* Port number of Service port @sp in EndpointSlice @slice, or 0. */
static int slice_port(json_t *slice, json_t *sp)
{
	const char *pname = jsd(sp, "name", ""), *tname;
	json_t *tp = json_object_get(sp, "targetPort"), *p;
	size_t i;

	json_array_foreach(json_object_get(slice, "ports"), i, p)
		if (!strcmp(jsd(p, "name", ""), pname) &&
		    !strcmp(jsd(p, "protocol", "TCP"), "TCP") &&
		    json_is_integer(json_object_get(p, "port")))
			return (int)json_integer_value(json_object_get(p, "port"));
	if (!tp)
		return (int)json_integer_value(json_object_get(sp, "port"));
	if (json_is_integer(tp))
		return (int)json_integer_value(tp);
	tname = json_string_value(tp);
	json_array_foreach(json_object_get(slice, "ports"), i, p)
		if (!strcmp(jsd(p, "name", ""), tname) &&
		    json_is_integer(json_object_get(p, "port")))
			return (int)json_integer_value(json_object_get(p, "port"));
	return 0;
}

static int grow(void **arr, size_t *cap, size_t need, size_t elem)
{
	size_t ncap;
	void *n;

	if (need <= *cap)
		return 0;
	ncap = *cap ? *cap * 2 : 64;
	while (ncap < need)
		ncap *= 2;
	n = realloc(*arr, ncap * elem);
	if (!n)
		return -ENOMEM;
	memset((char *)n + *cap * elem, 0, (ncap - *cap) * elem);
	*arr = n;
	*cap = ncap;
	return 0;
}

static int cmp_slice(const void *a, const void *b)
{
	return cc_cmp_pobj(a, b);
}

/* The backend id of Service @svc port @port, building it on first use. */
static long backend_get(struct cctx *c, struct pobj *svc, int port)
{
	struct policy_compiled *pc = c->pc;
	struct sng_backend *b;
	struct policy_backend_info *bi;
	char key[400], what[400];
	json_t *id, *sp = NULL, *slices, *it, *ep;
	struct pobj **sl = NULL;
	size_t i, j, n_sl;
	const char *cip;

	snprintf(key, sizeof(key), "%s/%s:%d", svc->ns, svc->name, port);
	id = json_object_get(c->backend_ids, key);
	if (id)
		return (long)json_integer_value(id);
	if (pc->n_backends >= SNG_MAX_BACKEND_ENTRIES / 2)
		return -E2BIG;
	if (grow((void **)&pc->backends, &c->cap_backends, pc->n_backends + 1, sizeof(*b)))
		return -ENOMEM;
	bi = realloc(pc->backend_info, c->cap_backends * sizeof(*bi));
	if (!bi)
		return -ENOMEM;
	pc->backend_info = bi;
	b = &pc->backends[pc->n_backends];
	bi = &pc->backend_info[pc->n_backends];
	memset(b, 0, sizeof(*b));
	memset(bi, 0, sizeof(*bi));
	bi->id = (uint32_t)pc->n_backends;
	snprintf(bi->ns, sizeof(bi->ns), "%s", svc->ns);
	snprintf(bi->name, sizeof(bi->name), "%s", svc->name);
	bi->port = (uint16_t)port;
	snprintf(what, sizeof(what), "Service %s/%s port %d", svc->ns, svc->name, port);

	json_array_foreach(jpath(svc->o, "spec.ports"), i, it)
		if (json_integer_value(json_object_get(it, "port")) == port)
			sp = it;
	snprintf(key, sizeof(key), "%s/%s", svc->ns, svc->name);
	slices = json_object_get(c->slices, key);
	n_sl = json_array_size(slices);
	if (!n_sl) {
		cip = js(json_object_get(svc->o, "spec"), "clusterIP");
		if (cip && *cip && strcmp(cip, "None"))
			ep_add(c, b, what, strchr(cip, ':') ? AF_INET6 : AF_INET, cip, port);
	} else {
		sl = calloc(n_sl, sizeof(*sl));
		if (!sl)
			return -ENOMEM;
		json_array_foreach(slices, i, it)
			sl[i] = &c->in->objs[json_integer_value(it)];
		qsort(sl, n_sl, sizeof(*sl), cmp_slice);
	}
	for (i = 0; i < n_sl; i++) {
		json_t *so = sl[i]->o;
		int fam = family_of(jsd(so, "addressType", ""));
		int tport = sp ? slice_port(so, sp) : 0;

		if (!fam) {
			note_add(pc->notes, "%s: EndpointSlice %s addressType %s ignored", what,
				 sl[i]->name, js(so, "addressType"));
			continue;
		}
		if (!tport) {
			note_add(pc->notes, "%s: EndpointSlice %s has no matching port", what,
				 sl[i]->name);
			continue;
		}
		json_array_foreach(json_object_get(so, "endpoints"), j, ep) {
			json_t *ready = jpath(ep, "conditions.ready");

			if (ready && !json_is_true(ready))
				continue;
			ep_add(c, b, what, fam,
			       json_string_value(json_array_get(json_object_get(ep, "addresses"), 0)),
			       tport);
		}
	}
	free(sl);
	if (!b->n)
		note_add(pc->notes, "%s has no ready endpoint: its connections are rejected", what);
	snprintf(key, sizeof(key), "%s/%s:%d", svc->ns, svc->name, port);
	json_object_set_new(c->backend_ids, key, json_integer((json_int_t)pc->n_backends));
	json_array_append_new(c->backend_gws, json_object());
	return (long)pc->n_backends++;
}

int backend_route_set(struct cctx *c, struct pobj *route, json_t *gw_keys, uint32_t *set_id)
{
	struct policy_compiled *pc = c->pc;
	size_t ri, bi, n = 0;
	json_t *rule, *ref;
	struct sng_set *s;
	struct pobj *svc;
	const char *reason, *gk;
	char line[600];
	json_t *dummy;
	int port;
	long id;

	if (pc->n_sets >= SNG_MAX_SETS / 2)
		return -E2BIG;
	if (grow((void **)&pc->sets, &c->cap_sets, pc->n_sets + 1, sizeof(*s)))
		return -ENOMEM;
	s = &pc->sets[pc->n_sets];
	memset(s, 0, sizeof(*s));
	for_each_ref(route, ri, bi, rule, ref, n) {
		struct sng_set_member *m;
		json_t *w = json_object_get(ref, "weight");

		if (s->n >= SNG_MAX_BACKENDS)
			break;
		m = &s->m[s->n++];
		m->weight = json_is_integer(w) ? (uint32_t)json_integer_value(w) : 1;
		s->total_weight += m->weight;
		if (!eval_ref(c, route, ref, n - 1, &reason, line, sizeof(line), &svc, &port)) {
			m->backend_id = SNG_NO_ROUTE;
			m->status = SNG_R_INVALID_BACKEND;
			continue;
		}
		id = backend_get(c, svc, port);
		if (id < 0)
			return (int)id;
		m->backend_id = (uint32_t)id;
		json_object_foreach(gw_keys, gk, dummy)
			json_object_set_new(json_array_get(c->backend_gws, (size_t)id), gk,
					    json_true());
	}
	*set_id = (uint32_t)pc->n_sets++;
	return 0;
}

/* ---- BackendTLSPolicy ----------------------------------------------------- */

struct btp {
	struct pobj *p;
	bool accepted, resolved;
	const char *acc_reason, *rr_reason;
	char acc_msg[512], rr_msg[512];
	long tls_id;         /* index into pc->backend_tls or -1 */
	json_t *ancestors;   /* object "ns/gw" -> true */
};

static int cmp_btp_age(const void *a, const void *b)
{
	const struct btp *x = a, *y = b;
	const char *tx = js(json_object_get(x->p->o, "metadata"), "creationTimestamp");
	const char *ty = js(json_object_get(y->p->o, "metadata"), "creationTimestamp");
	int r;

	if (tx && ty && (r = strcmp(tx, ty)))
		return r;
	if (!tx != !ty)
		return tx ? -1 : 1; /* a timestamp is older than none */
	return cc_cmp_pobj(&x->p, &y->p);
}

static int cmp_btp_name(const void *a, const void *b)
{
	const struct btp *x = a, *y = b;

	return cc_cmp_pobj(&x->p, &y->p);
}

/* Validate the CA side of policy @t; builds its policy_backend_tls entry
 * when @make_entry. */
static int btp_resolve(struct cctx *c, struct btp *t, bool make_entry)
{
	struct policy_compiled *pc = c->pc;
	json_t *val = jpath(t->p->o, "spec.validation"), *refs, *r;
	const char *wk = js(val, "wellKnownCACertificates");
	struct policy_backend_tls *bt, *nb;
	char *bundle = NULL, why[300];
	size_t len = 0, i;
	int rc;

	refs = json_object_get(val, "caCertificateRefs");
	t->accepted = t->resolved = true;
	t->acc_reason = "Accepted";
	t->rr_reason = "ResolvedRefs";
	if ((wk && json_array_size(refs)) || (!wk && !json_array_size(refs))) {
		t->accepted = false;
		t->acc_reason = "Invalid";
		snprintf(t->acc_msg, sizeof(t->acc_msg), "exactly one of caCertificateRefs and "
			 "wellKnownCACertificates must be set");
		return 0;
	}
	if (wk && strcmp(wk, "System")) {
		t->accepted = false;
		t->acc_reason = "Invalid";
		snprintf(t->acc_msg, sizeof(t->acc_msg), "wellKnownCACertificates %s is not supported "
			 "(only System)", wk);
		return 0;
	}
	json_array_foreach(refs, i, r) {
		const char *g = jsd(r, "group", ""), *k = jsd(r, "kind", "ConfigMap");
		struct pobj *cm;

		if (*g || strcmp(k, "ConfigMap")) {
			t->resolved = false;
			t->rr_reason = "InvalidKind";
			snprintf(t->rr_msg, sizeof(t->rr_msg), "caCertificateRefs[%zu] %s/%s is not a "
				 "ConfigMap", i, *g ? g : "core", k);
			break;
		}
		cm = cc_find(c, "ConfigMap", t->p->ns, js(r, "name"));
		if (!cm) {
			t->resolved = false;
			t->rr_reason = "InvalidCACertificateRef";
			snprintf(t->rr_msg, sizeof(t->rr_msg), "caCertificateRefs[%zu] ConfigMap %s/%s "
				 "not found", i, t->p->ns, js(r, "name"));
			break;
		}
		rc = cert_ca_bundle(cm->o, &bundle, &len, why, sizeof(why));
		if (rc < 0) {
			free(bundle);
			return rc;
		}
		if (rc) {
			t->resolved = false;
			t->rr_reason = "InvalidCACertificateRef";
			snprintf(t->rr_msg, sizeof(t->rr_msg), "caCertificateRefs[%zu] ConfigMap %s/%s %s",
				 i, t->p->ns, js(r, "name"), why);
			break;
		}
	}
	if (!t->resolved) {
		free(bundle);
		t->accepted = false;
		t->acc_reason = "NoValidCACertificate";
		snprintf(t->acc_msg, sizeof(t->acc_msg), "%s", t->rr_msg);
		return 0;
	}
	if (!make_entry) {
		free(bundle);
		return 0;
	}
	nb = realloc(pc->backend_tls, (pc->n_backend_tls + 1) * sizeof(*nb));
	if (!nb) {
		free(bundle);
		return -ENOMEM;
	}
	pc->backend_tls = nb;
	bt = &pc->backend_tls[pc->n_backend_tls];
	memset(bt, 0, sizeof(*bt));
	bt->id = (uint32_t)pc->n_backend_tls;
	snprintf(bt->hostname, sizeof(bt->hostname), "%s", js(val, "hostname"));
	bt->ca_pem = bundle;
	bt->system_ca = wk != NULL;
	snprintf(bt->policy, sizeof(bt->policy), "%s/%s", t->p->ns, t->p->name);
	t->tls_id = (long)pc->n_backend_tls++;
	return 0;
}

int backend_tls_apply(struct cctx *c, json_t *status_items)
{
	struct policy_compiled *pc = c->pc;
	const struct policy_input *in = c->in;
	json_t *claims = json_object(), *tr, *anc;
	struct btp *t = NULL;
	size_t n = 0, i, j, k;
	char key[600];
	int rc = -ENOMEM;

	if (!claims)
		return -ENOMEM;
	for (i = 0; i < in->n; i++)
		if (in->objs[i].kind && !strcmp(in->objs[i].kind, "BackendTLSPolicy") &&
		    cc_find(c, "BackendTLSPolicy", in->objs[i].ns, in->objs[i].name) == &in->objs[i])
			n++;
	t = calloc(n ? n : 1, sizeof(*t));
	if (!t)
		goto out;
	for (i = 0, j = 0; i < in->n; i++)
		if (!strcmp(in->objs[i].kind, "BackendTLSPolicy") &&
		    cc_find(c, "BackendTLSPolicy", in->objs[i].ns, in->objs[i].name) == &in->objs[i])
			t[j++].p = &in->objs[i];
	/* Oldest first: the older policy wins a contested target. */
	qsort(t, n, sizeof(*t), cmp_btp_age);
	for (i = 0; i < n; i++) {
		t[i].tls_id = -1;
		t[i].ancestors = json_object();
		if (!t[i].ancestors)
			goto out;
		bool lost = false;
		size_t won = 0;
		char lost_key[600] = "";

		json_array_foreach(jpath(t[i].p->o, "spec.targetRefs"), j, tr) {
			const char *sec = js(tr, "sectionName");

			if (*jsd(tr, "group", "") || strcmp(js(tr, "kind"), "Service"))
				continue;
			snprintf(key, sizeof(key), "%s/%s#%s", t[i].p->ns, js(tr, "name"),
				 sec ? sec : "");
			if (json_object_get(claims, key)) {
				lost = true;
				snprintf(lost_key, sizeof(lost_key), "%s", key);
				continue;
			}
			json_object_set_new(claims, key, json_integer((json_int_t)i));
			won++;
		}
		/* Only a policy that applies somewhere gets a compiled entry. */
		rc = btp_resolve(c, &t[i], won > 0);
		if (rc)
			goto out;
		rc = -ENOMEM;
		if (lost && t[i].accepted) {
			t[i].accepted = false;
			t[i].acc_reason = "Conflicted";
			snprintf(t[i].acc_msg, sizeof(t[i].acc_msg), "target %.300s is already "
				 "claimed by an older policy", lost_key);
		}
	}
	/* Each backend takes the policy for its port name, else for the Service. */
	for (k = 0; k < pc->n_backends; k++) {
		struct policy_backend_info *bi = &pc->backend_info[k];
		struct pobj *svc = cc_find(c, "Service", bi->ns, bi->name);
		const char *pname = "", *gk;
		json_t *sp, *cl, *dummy;
		struct btp *w;

		json_array_foreach(jpath(svc ? svc->o : NULL, "spec.ports"), j, sp)
			if (json_integer_value(json_object_get(sp, "port")) == bi->port)
				pname = jsd(sp, "name", "");
		cl = NULL;
		if (*pname) {
			snprintf(key, sizeof(key), "%s/%s#%s", bi->ns, bi->name, pname);
			cl = json_object_get(claims, key);
		}
		if (!cl) {
			snprintf(key, sizeof(key), "%s/%s#", bi->ns, bi->name);
			cl = json_object_get(claims, key);
		}
		if (!cl)
			continue;
		w = &t[json_integer_value(cl)];
		/* The winner and every policy that lost this target to it
		 * report for the Gateways that use the backend. */
		for (i = 0; i < n; i++) {
			bool targets = &t[i] == w;

			json_array_foreach(jpath(t[i].p->o, "spec.targetRefs"), j, tr) {
				const char *sec = js(tr, "sectionName");
				char k2[600];

				snprintf(k2, sizeof(k2), "%s/%s#%s", t[i].p->ns, js(tr, "name"),
					 sec ? sec : "");
				if (!*jsd(tr, "group", "") && !strcmp(js(tr, "kind"), "Service") &&
				    !strcmp(k2, key))
					targets = true;
			}
			if (!targets)
				continue;
			json_object_foreach(json_array_get(c->backend_gws, k), gk, dummy)
				json_object_set_new(t[i].ancestors, gk, json_true());
		}
		if (w->tls_id >= 0) {
			pc->backends[k].flags |= SNG_BF_BACKEND_TLS;
			pc->backends[k].tls_id = (uint32_t)w->tls_id;
			continue;
		}
		/* An unusable policy must not fall back to plaintext: reject. */
		note_add(pc->notes, "Service %s/%s port %u: BackendTLSPolicy %s/%s is not usable, "
			 "its connections are rejected", bi->ns, bi->name, bi->port, w->p->ns,
			 w->p->name);
		for (i = 0; i < pc->n_sets; i++)
			for (j = 0; j < pc->sets[i].n; j++)
				if (pc->sets[i].m[j].backend_id == k)
					pc->sets[i].m[j].status = SNG_R_INVALID_BACKEND;
	}
	qsort(t, n, sizeof(*t), cmp_btp_name);
	for (i = 0; i < n; i++) {
		json_t *ancs = json_array(), *obj, *d;
		const char *gk;

		if (!ancs)
			goto out;
		json_object_foreach(t[i].ancestors, gk, d) {
			const char *slash = strchr(gk, '/');
			json_t *conds = json_array();

			anc = json_pack("{s:{s:s, s:s, s:s%, s:s}, s:s, s:o}", "ancestorRef", "group",
					GW_GROUP, "kind", "Gateway", "namespace", gk,
					(size_t)(slash - gk), "name", slash + 1, "controllerName",
					c->ctrl, "conditions", conds);
			if (!anc)
				goto out;
			cond_add(conds, "Accepted", t[i].accepted, t[i].acc_reason, jgen(t[i].p->o),
				 "%s", t[i].accepted ? "policy applies to this Gateway's backends" :
				 t[i].acc_msg);
			cond_add(conds, "ResolvedRefs", t[i].resolved, t[i].rr_reason,
				 jgen(t[i].p->o), "%s", t[i].resolved ? "CA references resolved" :
				 t[i].rr_msg);
			json_array_append_new(ancs, anc);
		}
		obj = json_pack("{s:s, s:s, s:{s:s, s:s}, s:{s:o}}", "apiVersion",
				js(t[i].p->o, "apiVersion"), "kind", "BackendTLSPolicy", "metadata",
				"name", t[i].p->name, "namespace", t[i].p->ns, "status", "ancestors",
				ancs);
		if (!obj)
			goto out;
		json_array_append_new(status_items, obj);
	}
	rc = 0;
out:
	for (i = 0; t && i < n; i++)
		json_decref(t[i].ancestors);
	free(t);
	json_decref(claims);
	return rc;
}
