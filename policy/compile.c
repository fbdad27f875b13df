// SPDX-License-Identifier: GPL-2.0-only
/* policy_compile(): served Gateways and binds, route attachment with its
 * status, and the one LPM route table (listener choice + route choice). */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cert.h"
#include "listener.h"

/* ---- object index ----------------------------------------------------------- */

static void ikey(char *k, size_t cap, const char *kind, const char *ns, const char *name)
{
	snprintf(k, cap, "%s/%s/%s", kind, ns, name);
}

struct pobj *cc_find(struct cctx *c, const char *kind, const char *ns, const char *name)
{
	char k[400];
	json_t *v;

	if (!name)
		return NULL;
	ikey(k, sizeof(k), kind, ns, name);
	v = json_object_get(c->index, k);
	return v ? &c->in->objs[json_integer_value(v)] : NULL;
}

int cc_cmp_pobj(const void *a, const void *b)
{
	const struct pobj *x = *(struct pobj *const *)a, *y = *(struct pobj *const *)b;
	int r = strcmp(x->ns, y->ns);

	return r ? r : strcmp(x->name, y->name);
}

bool cc_granted(struct cctx *c, const char *from_kind, const char *from_ns,
		const char *to_group, const char *to_kind, const char *to_ns, const char *to_name)
{
	json_t *list = json_object_get(c->grants, to_ns), *ix, *e;
	size_t i, j;

	if (!strcmp(from_ns, to_ns))
		return true;
	json_array_foreach(list, i, ix) {
		json_t *spec = json_object_get(c->in->objs[json_integer_value(ix)].o, "spec");
		bool from_ok = false, to_ok = false;

		json_array_foreach(json_object_get(spec, "from"), j, e)
			if (!strcmp(js(e, "group"), GW_GROUP) && !strcmp(js(e, "kind"), from_kind) &&
			    !strcmp(js(e, "namespace"), from_ns))
				from_ok = true;
		json_array_foreach(json_object_get(spec, "to"), j, e)
			if (!strcmp(js(e, "group"), to_group) && !strcmp(js(e, "kind"), to_kind) &&
			    (!js(e, "name") || !strcmp(js(e, "name"), to_name)))
				to_ok = true;
		if (from_ok && to_ok)
			return true;
	}
	return false;
}

static int build_index(struct cctx *c)
{
	const struct policy_input *in = c->in;
	char k[400];
	size_t i;

	for (i = 0; i < in->n; i++) {
		const struct pobj *p = &in->objs[i];

		ikey(k, sizeof(k), p->kind, p->ns, p->name);
		if (json_object_get(c->index, k))
			note_add(c->pc->notes, "%s %s%s%s defined more than once (in %s): the last one "
				 "is used", p->kind, p->ns, *p->ns ? "/" : "", p->name,
				 in->files[p->file]);
		if (json_object_set_new(c->index, k, json_integer((json_int_t)i)))
			return -ENOMEM;
	}
	/* Second pass over the winners only: slices by Service, grants by ns. */
	for (i = 0; i < in->n; i++) {
		const struct pobj *p = &in->objs[i];
		const char *svc;
		json_t *dst, *arr;

		ikey(k, sizeof(k), p->kind, p->ns, p->name);
		if ((size_t)json_integer_value(json_object_get(c->index, k)) != i)
			continue;
		if (!strcmp(p->kind, "EndpointSlice")) {
			svc = js(jpath(p->o, "metadata.labels"), "kubernetes.io/service-name");
			if (!svc)
				continue;
			snprintf(k, sizeof(k), "%s/%s", p->ns, svc);
			dst = c->slices;
		} else if (!strcmp(p->kind, "ReferenceGrant")) {
			snprintf(k, sizeof(k), "%s", p->ns);
			dst = c->grants;
		} else {
			continue;
		}
		arr = json_object_get(dst, k);
		if (!arr) {
			arr = json_array();
			if (!arr || json_object_set_new(dst, k, arr))
				return -ENOMEM;
		}
		if (json_array_append_new(arr, json_integer((json_int_t)i)))
			return -ENOMEM;
	}
	return 0;
}

/* Winning objects of @kind sorted by namespace/name; caller frees. */
static struct pobj **objs_of(struct cctx *c, const char *kind, size_t *n)
{
	struct pobj **v;
	size_t i, m = 0;

	v = calloc(c->in->n + 1, sizeof(*v));
	if (!v)
		return NULL;
	for (i = 0; i < c->in->n; i++) {
		struct pobj *p = &c->in->objs[i];

		if (!strcmp(p->kind, kind) && cc_find(c, kind, p->ns, p->name) == p)
			v[m++] = p;
	}
	qsort(v, m, sizeof(*v), cc_cmp_pobj);
	*n = m;
	return v;
}

/* ---- Gateways --------------------------------------------------------------- */

static bool class_served(struct cctx *c, const char *cls)
{
	struct pobj *gc;

	if (c->opt && c->opt->gateway_class && strcmp(c->opt->gateway_class, cls))
		return false;
	gc = cc_find(c, "GatewayClass", "", cls);
	return !gc || !strcmp(jsd(jpath(gc->o, "spec"), "controllerName", ""), c->ctrl);
}

static void gw_addresses(struct cctx *c, struct cgw *g)
{
	json_t *addrs = jpath(g->p->o, "spec.addresses"), *a;
	const char *def = c->opt && c->opt->default_address ? c->opt->default_address : "::";
	unsigned char buf[16];
	size_t i;

	json_array_foreach(addrs, i, a) {
		const char *type = jsd(a, "type", "IPAddress"), *v = js(a, "value");
		int fam = strchr(v, ':') ? AF_INET6 : AF_INET;

		if (strcmp(type, "IPAddress")) {
			g->addr_bad = true;
			snprintf(g->addr_msg, sizeof(g->addr_msg), "spec.addresses[%zu] type %s is not "
				 "supported (IPAddress only)", i, type);
			return;
		}
		if (inet_pton(fam, v, buf) != 1) {
			g->addr_bad = true;
			snprintf(g->addr_msg, sizeof(g->addr_msg), "spec.addresses[%zu] %s is not an IP "
				 "address", i, v);
			return;
		}
		if (g->n_addrs < GW_MAX_ADDRS) {
			size_t k;

			inet_ntop(fam, buf, g->addrs[g->n_addrs], sizeof(g->addrs[0]));
			for (k = 0; k < g->n_addrs; k++) /* the same address twice: one bind */
				if (!strcmp(g->addrs[k], g->addrs[g->n_addrs]))
					break;
			if (k == g->n_addrs)
				g->n_addrs++;
		}
	}
	if (!json_array_size(addrs))
		snprintf(g->addrs[g->n_addrs++], sizeof(g->addrs[0]), "%s", def);
}

static int build_gateways(struct cctx *c)
{
	struct pobj **gws;
	size_t n, i, j, nl = 0;
	int rc = 0;

	gws = objs_of(c, "Gateway", &n);
	if (!gws)
		return -ENOMEM;
	c->gws = calloc(n + 1, sizeof(*c->gws));
	for (i = 0; i < n; i++)
		nl += json_array_size(jpath(gws[i]->o, "spec.listeners"));
	c->ls = calloc(nl + 1, sizeof(*c->ls));
	if (!c->gws || !c->ls) {
		free(gws);
		return -ENOMEM;
	}
	for (i = 0; i < n; i++) {
		struct cgw *g = &c->gws[c->n_gws];
		json_t *l;

		if (!class_served(c, js(json_object_get(gws[i]->o, "spec"), "gatewayClassName")))
			continue;
		c->n_gws++;
		g->p = gws[i];
		gw_addresses(c, g);
		g->ls = &c->ls[c->n_ls];
		json_array_foreach(jpath(g->p->o, "spec.listeners"), j, l) {
			struct clst *x = &c->ls[c->n_ls++];

			x->gw = g;
			x->l = l;
			g->n_ls++;
			rc = listener_validate(c, x);
			if (rc)
				goto out;
		}
	}
	listener_conflicts(c);
out:
	free(gws);
	return rc;
}

/* ---- binds and served listeners ---------------------------------------------- */

static long bind_get(struct policy_compiled *pc, const char *addr, int port)
{
	struct policy_bind *nb;
	size_t i;

	for (i = 0; i < pc->n_binds; i++)
		if (pc->binds[i].port == port && !strcmp(pc->binds[i].address, addr))
			return (long)i;
	if (pc->n_binds >= SNG_BIND_MASK)
		return -E2BIG;
	nb = realloc(pc->binds, (pc->n_binds + 1) * sizeof(*nb));
	if (!nb)
		return -ENOMEM;
	pc->binds = nb;
	memset(&nb[pc->n_binds], 0, sizeof(*nb));
	nb[pc->n_binds].id = (uint16_t)(pc->n_binds + 1);
	nb[pc->n_binds].port = (uint16_t)port;
	snprintf(nb[pc->n_binds].address, sizeof(nb->address), "%s", addr);
	return (long)pc->n_binds++;
}

static int build_listeners(struct cctx *c)
{
	struct policy_compiled *pc = c->pc;
	size_t i, a, n = 0;
	long b;

	for (i = 0; i < c->n_ls; i++) {
		struct clst *l = &c->ls[i];

		l->programmed = l->accepted && l->tls && !l->gw->addr_bad && l->gw->n_addrs &&
				(l->mode != SNG_MODE_TERMINATE || l->n_certs);
		if (l->programmed)
			n += l->gw->n_addrs;
	}
	if (n > SNG_MAX_LISTENERS)
		return -E2BIG;
	pc->listeners = calloc(n + 1, sizeof(*pc->listeners));
	if (!pc->listeners)
		return -ENOMEM;
	for (i = 0; i < c->n_ls; i++) {
		struct clst *l = &c->ls[i];

		if (!l->programmed)
			continue;
		l->first_id = (uint32_t)pc->n_listeners;
		for (a = 0; a < l->gw->n_addrs; a++) {
			struct policy_listener *pl = &pc->listeners[pc->n_listeners];

			b = bind_get(pc, l->gw->addrs[a], l->port);
			if (b < 0)
				return (int)b;
			l->bind_ids[a] = pc->binds[b].id;
			if (l->mode == SNG_MODE_PASSTHROUGH)
				pc->binds[b].has_passthrough = 1;
			else
				pc->binds[b].has_terminate = 1;
			pl->id = (uint32_t)pc->n_listeners++;
			pl->bind_id = pc->binds[b].id;
			pl->port = (uint16_t)l->port;
			pl->mode = l->mode;
			pl->engine = l->engine;
			snprintf(pl->gateway_ns, sizeof(pl->gateway_ns), "%s", l->gw->p->ns);
			snprintf(pl->gateway_name, sizeof(pl->gateway_name), "%s", l->gw->p->name);
			snprintf(pl->name, sizeof(pl->name), "%s", l->name);
			snprintf(pl->hostname, sizeof(pl->hostname), "%s", l->hostname);
			memcpy(pl->alpn, l->alpn, sizeof(pl->alpn));
			/* The entries of one listener (consecutive ids, one per
			 * address) share its certificates; freed once. */
			pl->certs = l->certs;
			pl->n_certs = l->n_certs;
		}
	}
	return 0;
}

/* ---- routes ------------------------------------------------------------------ */

/* A candidate route-table entry. */
struct cand {
	struct sng_route_key key;
	struct sng_route_val val;
	int orig_rank;           /* specificity of the route's own hostname */
	const char *ts;          /* creationTimestamp or NULL */
	const struct pobj *route; /* NULL: the listener's reject entry */
	struct croute *cr;       /* the route's compile state */
};

struct cands {
	struct cand *v;
	size_t n, cap;
};

static int cand_add(struct cands *cs, const struct cand *x)
{
	if (cs->n == cs->cap) {
		size_t cap = cs->cap ? cs->cap * 2 : 1024;
		struct cand *n = realloc(cs->v, cap * sizeof(*n));

		if (!n)
			return -ENOMEM;
		cs->v = n;
		cs->cap = cap;
	}
	cs->v[cs->n++] = *x;
	return 0;
}

/* One route attached to one listener with its intersected hostnames. */
struct attach {
	struct clst *l;
	char (*hosts)[SNG_HOSTNAME_MAX + 1]; /* intersections */
	int *orig;                           /* rank of the original hostname */
	size_t n;
};

struct croute {
	struct pobj *p;
	struct attach *att;
	size_t n_att;
	bool resolved;
	const char *rr_reason;
	char rr_msg[2048];
	json_t *parents;
	json_t *lost;            /* object "ns/gw" -> array of superseded notes */
};

static void croute_free(struct croute *r)
{
	size_t i;

	for (i = 0; i < r->n_att; i++) {
		free(r->att[i].hosts);
		free(r->att[i].orig);
	}
	free(r->att);
	json_decref(r->parents);
	json_decref(r->lost);
}

/* Intersect route @r with listener @l; adds an attachment if non-empty. */
static int route_attach(struct croute *r, struct clst *l, bool *any)
{
	json_t *hs = jpath(r->p->o, "spec.hostnames");
	size_t n = json_array_size(hs), i, k;
	struct attach *a;
	char out[SNG_HOSTNAME_MAX + 1];
	const char *rh;

	for (k = 0; k < r->n_att; k++)
		if (r->att[k].l == l) {
			*any = true; /* already attached through another parentRef */
			return 0;
		}
	a = realloc(r->att, (r->n_att + 1) * sizeof(*a));
	if (!a)
		return -ENOMEM;
	r->att = a;
	a = &r->att[r->n_att];
	memset(a, 0, sizeof(*a));
	a->l = l;
	a->hosts = calloc(n ? n : 1, sizeof(*a->hosts));
	a->orig = calloc(n ? n : 1, sizeof(*a->orig));
	if (!a->hosts || !a->orig) {
		free(a->hosts);
		free(a->orig);
		return -ENOMEM;
	}
	for (i = 0; i < (n ? n : 1); i++) {
		rh = n ? json_string_value(json_array_get(hs, i)) : ""; /* v1alpha2: none */
		if (!host_intersect(l->hostname, rh, out))
			continue;
		for (k = 0; k < a->n; k++)
			if (!strcmp(a->hosts[k], out))
				break;
		if (k < a->n) {
			if (host_rank(rh) > a->orig[k])
				a->orig[k] = host_rank(rh);
			continue;
		}
		strcpy(a->hosts[a->n], out);
		a->orig[a->n++] = host_rank(rh);
	}
	if (!a->n) {
		free(a->hosts);
		free(a->orig);
		return 0;
	}
	r->n_att++;
	l->attached++;
	*any = true;
	return 0;
}

/* Why listener @l does not take route @r, or NULL when it does. */
static const char *not_allowed(struct cctx *c, const struct clst *l, const struct croute *r)
{
	if (!l->tls)
		return "protocol is not TLS";
	if (!l->accepted)
		return "listener is not accepted";
	if (!l->kind_tlsroute)
		return "allowedRoutes.kinds excludes TLSRoute";
	if (!listener_allows_ns(c, l, r->p->ns))
		return "allowedRoutes.namespaces excludes the route's namespace";
	return NULL;
}

/* Process parentRef @ref of route @r; appends its status entry. */
static int route_parent(struct cctx *c, struct croute *r, json_t *ref, json_t *gw_keys)
{
	const char *group = jsd(ref, "group", GW_GROUP), *kind = jsd(ref, "kind", "Gateway");
	const char *ns = jsd(ref, "namespace", r->p->ns), *name = js(ref, "name");
	const char *sec = js(ref, "sectionName"), *why = NULL, *reason;
	json_t *port = json_object_get(ref, "port"), *echo, *conds, *entry;
	struct cgw *g = NULL;
	bool matched = false, allowed = false, any = false;
	char msg[1024] = "", key[400];
	size_t i;
	int rc;

	if (strcmp(group, GW_GROUP) || strcmp(kind, "Gateway"))
		return 0; /* not a parent snigate serves */
	for (i = 0; i < c->n_gws; i++)
		if (!strcmp(c->gws[i].p->ns, ns) && !strcmp(c->gws[i].p->name, name))
			g = &c->gws[i];
	if (!g)
		return 0; /* absent or another controller's: no entry at all */
	for (i = 0; i < g->n_ls; i++) {
		struct clst *l = &g->ls[i];

		if ((sec && strcmp(sec, l->name)) ||
		    (port && json_integer_value(port) != l->port))
			continue;
		matched = true;
		why = not_allowed(c, l, r);
		if (why) {
			size_t u = strlen(msg);

			snprintf(msg + u, sizeof(msg) - u, "%slistener %s: %s", u ? "; " : "", l->name,
				 why);
			continue;
		}
		allowed = true;
		rc = route_attach(r, l, &any);
		if (rc)
			return rc;
	}
	conds = json_array();
	if (!matched) {
		reason = "NoMatchingParent";
		snprintf(msg, sizeof(msg), "no listener of Gateway %s/%s matches%s%s", ns, name,
			 sec ? " sectionName " : "", sec ? sec : "");
		if (port)
			snprintf(msg + strlen(msg), sizeof(msg) - strlen(msg), " port %lld",
				 (long long)json_integer_value(port));
	} else if (!allowed) {
		reason = "NotAllowedByListeners";
	} else if (!any) {
		reason = "NoMatchingListenerHostname";
		snprintf(msg, sizeof(msg), "no route hostname intersects the hostnames of the "
			 "matching listeners of Gateway %s/%s", ns, name);
	} else {
		reason = "Accepted";
		snprintf(msg, sizeof(msg), "attached to Gateway %s/%s", ns, name);
		snprintf(key, sizeof(key), "%s/%s", ns, name);
		json_object_set_new(gw_keys, key, json_true());
	}
	cond_add(conds, "Accepted", any, reason, jgen(r->p->o), "%s", msg);
	cond_add(conds, "ResolvedRefs", r->resolved, r->rr_reason, jgen(r->p->o), "%s",
		 r->resolved ? "all backendRefs resolved" : r->rr_msg);
	echo = json_pack("{s:s, s:s, s:s, s:s}", "group", group, "kind", kind, "namespace", ns,
			 "name", name);
	if (sec)
		json_object_set_new(echo, "sectionName", json_string(sec));
	if (port)
		json_object_set_new(echo, "port", json_integer(json_integer_value(port)));
	entry = json_pack("{s:o, s:s, s:o}", "parentRef", echo, "controllerName", c->ctrl,
			  "conditions", conds);
	if (!entry || json_array_append_new(r->parents, entry))
		return -ENOMEM;
	return 0;
}

/* Does another served listener on bind @bind, more specific than @l, own
 * SNI set @h? Then @h's entry on @l would steal its connections. */
static bool isolated_away(struct cctx *c, const struct clst *l, uint16_t bind, const char *h,
			  struct clst **on_bind, size_t n_on_bind)
{
	int lr = host_rank(l->hostname);
	size_t i;

	(void)c;
	(void)bind;
	for (i = 0; i < n_on_bind; i++) {
		const struct clst *o = on_bind[i];

		if (o != l && host_rank(o->hostname) > lr && host_covers(o->hostname, h))
			return true;
	}
	return false;
}

static int cmp_cand(const void *a, const void *b)
{
	const struct cand *x = a, *y = b;
	int r;

	if (x->key.bind != y->key.bind)
		return ntohs(x->key.bind) < ntohs(y->key.bind) ? -1 : 1;
	if (x->key.prefixlen != y->key.prefixlen)
		return x->key.prefixlen < y->key.prefixlen ? -1 : 1;
	r = memcmp(x->key.name, y->key.name, (x->key.prefixlen - 16) / 8);
	if (r)
		return r;
	/* Same key: a route beats the listener's reject entry; then §4. */
	if (!x->route != !y->route)
		return x->route ? -1 : 1;
	if (!x->route)
		return 0;
	if (x->orig_rank != y->orig_rank)
		return x->orig_rank > y->orig_rank ? -1 : 1;
	if (x->ts && y->ts && (r = strcmp(x->ts, y->ts)))
		return r;
	if (!x->ts != !y->ts)
		return x->ts ? -1 : 1;
	r = cc_cmp_pobj(&x->route, &y->route);
	return r;
}

static bool same_key(const struct cand *x, const struct cand *y)
{
	return x->key.bind == y->key.bind && x->key.prefixlen == y->key.prefixlen &&
	       !memcmp(x->key.name, y->key.name, (x->key.prefixlen - 16) / 8);
}

/* The API hostname of route key @k ("*.example.com", "a.example.com"). */
static void key_host(const struct sng_route_key *k, char *out)
{
	size_t nb = (k->prefixlen - 16) / 8, i, o = 0;

	if (!nb) {
		strcpy(out, "(any)");
		return;
	}
	if (k->name[nb - 1] == '\0')
		nb--;
	else
		out[o++] = '*';
	for (i = 0; i < nb; i++)
		out[o++] = (char)k->name[nb - 1 - i];
	out[o] = '\0';
}

/* Route x->cr lost hostname entry @x to @winner: note it, and keep it for
 * the Accepted message of the parent Gateway (§4: make it visible). */
static int record_lost(struct policy_compiled *pc, const struct cand *x,
		       const struct pobj *winner)
{
	const struct policy_listener *l = &pc->listeners[x->val.listener_id];
	char host[SNG_HOSTNAME_MAX + 2], gk[400], msg[900];
	json_t *arr;

	key_host(&x->key, host);
	snprintf(msg, sizeof(msg), "hostname %s on listener %s is served by TLSRoute %s/%s "
		 "(more specific hostname, older, or first by namespace/name)", host, l->name,
		 winner->ns, winner->name);
	note_add(pc->notes, "TLSRoute %s/%s: %s", x->route->ns, x->route->name, msg);
	if (!x->cr->lost && !(x->cr->lost = json_object()))
		return -ENOMEM;
	snprintf(gk, sizeof(gk), "%s/%s", l->gateway_ns, l->gateway_name);
	arr = json_object_get(x->cr->lost, gk);
	if (!arr && json_object_set_new(x->cr->lost, gk, arr = json_array()))
		return -ENOMEM;
	return json_array_append_new(arr, json_string(msg)) ? -ENOMEM : 0;
}

/* Append the superseded hostnames to the Accepted message of the parents. */
static void show_lost(struct croute *r)
{
	json_t *p, *acc, *arr, *m;
	size_t i, j;
	char key[400], buf[4096];

	json_array_foreach(r->parents, i, p) {
		json_t *ref = json_object_get(p, "parentRef");

		snprintf(key, sizeof(key), "%s/%s", js(ref, "namespace"), js(ref, "name"));
		arr = json_object_get(r->lost, key);
		acc = json_array_get(json_object_get(p, "conditions"), 0);
		if (!arr || strcmp(jsd(acc, "status", ""), "True"))
			continue;
		snprintf(buf, sizeof(buf), "%s", jsd(acc, "message", ""));
		json_array_foreach(arr, j, m)
			snprintf(buf + strlen(buf), sizeof(buf) - strlen(buf), "; %s",
				 json_string_value(m));
		json_object_set_new(acc, "message", json_string(buf));
	}
}

static int build_table(struct cctx *c, struct croute *rs, size_t n_rs)
{
	struct policy_compiled *pc = c->pc;
	struct clst ***by_bind = NULL;
	size_t *n_by_bind = NULL, i, j, k, a, out, first;
	struct cands cs = { 0 };
	struct cand x;
	int rc = -ENOMEM;

	by_bind = calloc(pc->n_binds + 1, sizeof(*by_bind));
	n_by_bind = calloc(pc->n_binds + 1, sizeof(*n_by_bind));
	if (!by_bind || !n_by_bind)
		goto out;
	for (i = 0; i < c->n_ls; i++) {
		struct clst *l = &c->ls[i];

		for (a = 0; l->programmed && a < l->gw->n_addrs; a++) {
			uint16_t b = l->bind_ids[a];
			struct clst **nv = realloc(by_bind[b], (n_by_bind[b] + 1) * sizeof(*nv));

			if (!nv)
				goto out;
			by_bind[b] = nv;
			nv[n_by_bind[b]++] = l;
			memset(&x, 0, sizeof(x));
			host_key(&x.key, b, l->hostname);
			x.val.listener_id = l->first_id + (uint32_t)a;
			x.val.route_id = SNG_NO_ROUTE;
			x.val.action = SNG_ACT_REJECT;
			x.val.mode = l->mode;
			x.val.engine = l->engine;
			if (cand_add(&cs, &x))
				goto out;
		}
	}
	for (i = 0; i < n_rs; i++) {
		struct croute *r = &rs[i];
		uint32_t rid = SNG_NO_ROUTE, sid = 0;
		json_t *gw_keys;

		for (j = 0; j < r->n_att && rid == SNG_NO_ROUTE; j++)
			if (r->att[j].l->programmed)
				rid = 0;
		if (rid == SNG_NO_ROUTE)
			continue;
		gw_keys = json_object();
		for (j = 0; j < r->n_att; j++) {
			char key[400];

			snprintf(key, sizeof(key), "%s/%s", r->att[j].l->gw->p->ns,
				 r->att[j].l->gw->p->name);
			json_object_set_new(gw_keys, key, json_true());
		}
		rc = backend_route_set(c, r->p, gw_keys, &sid);
		json_decref(gw_keys);
		if (rc)
			goto out;
		rc = -ENOMEM;
		{
			struct policy_route *nr = realloc(pc->routes,
							  (pc->n_routes + 1) * sizeof(*nr));

			if (!nr)
				goto out;
			pc->routes = nr;
			rid = (uint32_t)pc->n_routes++;
			nr[rid].id = rid;
			snprintf(nr[rid].ns, sizeof(nr[rid].ns), "%s", r->p->ns);
			snprintf(nr[rid].name, sizeof(nr[rid].name), "%s", r->p->name);
		}
		for (j = 0; j < r->n_att; j++) {
			struct attach *at = &r->att[j];
			struct clst *l = at->l;

			for (a = 0; l->programmed && a < l->gw->n_addrs; a++) {
				uint16_t b = l->bind_ids[a];

				for (k = 0; k < at->n; k++) {
					if (isolated_away(c, l, b, at->hosts[k], by_bind[b], n_by_bind[b]))
						continue;
					memset(&x, 0, sizeof(x));
					host_key(&x.key, b, at->hosts[k]);
					x.val.listener_id = l->first_id + (uint32_t)a;
					x.val.route_id = rid;
					x.val.set_id = sid;
					x.val.action = SNG_ACT_ROUTE;
					x.val.mode = l->mode;
					x.val.engine = l->engine;
					x.orig_rank = at->orig[k];
					x.ts = js(json_object_get(r->p->o, "metadata"), "creationTimestamp");
					x.route = r->p;
					x.cr = r;
					if (cand_add(&cs, &x))
						goto out;
				}
			}
		}
	}
	if (cs.n)
		qsort(cs.v, cs.n, sizeof(*cs.v), cmp_cand);
	pc->keys = calloc(cs.n + 1, sizeof(*pc->keys));
	pc->vals = calloc(cs.n + 1, sizeof(*pc->vals));
	if (!pc->keys || !pc->vals)
		goto out;
	for (i = 0, out = 0, first = 0; i < cs.n; i++) {
		if (i && same_key(&cs.v[first], &cs.v[i])) {
			const struct pobj *w = cs.v[first].route, *lo = cs.v[i].route;

			if (lo && w && lo != w && record_lost(pc, &cs.v[i], w))
				goto out;
			continue;
		}
		first = i;
		pc->keys[out] = cs.v[i].key;
		pc->vals[out++] = cs.v[i].val;
	}
	pc->n_entries = out;
	for (i = 0; i < n_rs; i++)
		if (rs[i].lost)
			show_lost(&rs[i]);
	if (out > SNG_MAX_ROUTE_ENTRIES / 2) {
		rc = -E2BIG;
		goto out;
	}
	rc = 0;
out:
	for (i = 0; by_bind && i <= pc->n_binds; i++)
		free(by_bind[i]);
	free(by_bind);
	free(n_by_bind);
	free(cs.v);
	return rc;
}

/* ---- status ------------------------------------------------------------------- */

static json_t *meta_of(const struct pobj *p)
{
	json_t *m = json_pack("{s:s}", "name", p->name);

	if (*p->ns)
		json_object_set_new(m, "namespace", json_string(p->ns));
	return m;
}

static json_t *gateway_status(const struct cgw *g)
{
	json_int_t gen = jgen(g->p->o);
	json_t *conds = json_array(), *ls = json_array(), *addrs = json_array(), *st;
	bool all_valid = true, any_acc = false, any_prog = false;
	size_t i;

	for (i = 0; i < g->n_ls; i++) {
		const struct clst *l = &g->ls[i];

		if (!l->accepted || !l->resolved || l->conflict)
			all_valid = false;
		any_acc |= l->accepted;
		any_prog |= l->programmed;
		json_array_append_new(ls, listener_status(l, gen));
	}
	if (g->addr_bad)
		cond_add(conds, "Accepted", false, "UnsupportedAddress", gen, "%s", g->addr_msg);
	else if (all_valid)
		cond_add(conds, "Accepted", true, "Accepted", gen, "Gateway is valid");
	else
		cond_add(conds, "Accepted", any_acc, "ListenersNotValid", gen, "%s",
			 any_acc ? "some listeners are not valid; the others are served" :
			 "no listener is valid");
	if (any_prog)
		cond_add(conds, "Programmed", true, "Programmed", gen, "listeners are served");
	else
		cond_add(conds, "Programmed", false, "Invalid", gen, "no listener is served");
	for (i = 0; !g->addr_bad && i < g->n_addrs; i++)
		if (strcmp(g->addrs[i], "::") && strcmp(g->addrs[i], "0.0.0.0"))
			json_array_append_new(addrs, json_pack("{s:s, s:s}", "type", "IPAddress",
							       "value", g->addrs[i]));
	st = json_pack("{s:o, s:o}", "conditions", conds, "listeners", ls);
	if (json_array_size(addrs))
		json_object_set(st, "addresses", addrs);
	json_decref(addrs);
	return json_pack("{s:s, s:s, s:o, s:o}", "apiVersion", js(g->p->o, "apiVersion"), "kind",
			 "Gateway", "metadata", meta_of(g->p), "status", st);
}

static int build_status(struct cctx *c, struct croute *rs, size_t n_rs, json_t *btls)
{
	json_t *items = json_array(), *it;
	struct pobj **gcs;
	size_t n, i;

	gcs = objs_of(c, "GatewayClass", &n);
	if (!items || !gcs) {
		free(gcs);
		json_decref(items);
		return -ENOMEM;
	}
	for (i = 0; i < n; i++) {
		json_t *conds;

		if (strcmp(jsd(jpath(gcs[i]->o, "spec"), "controllerName", ""), c->ctrl))
			continue;
		conds = json_array();
		cond_add(conds, "Accepted", true, "Accepted", jgen(gcs[i]->o),
			 "handled by %s", c->ctrl);
		json_array_append_new(items, json_pack("{s:s, s:s, s:o, s:{s:o}}", "apiVersion",
						       js(gcs[i]->o, "apiVersion"), "kind",
						       "GatewayClass", "metadata", meta_of(gcs[i]),
						       "status", "conditions", conds));
	}
	free(gcs);
	for (i = 0; i < c->n_gws; i++)
		json_array_append_new(items, gateway_status(&c->gws[i]));
	for (i = 0; i < n_rs; i++) {
		if (!json_array_size(rs[i].parents)) {
			note_add(c->pc->notes, "TLSRoute %s/%s: no parentRef names a Gateway served by "
				 "this controller", rs[i].p->ns, rs[i].p->name);
			continue;
		}
		it = json_pack("{s:s, s:s, s:o, s:{s:O}}", "apiVersion", js(rs[i].p->o, "apiVersion"),
			       "kind", "TLSRoute", "metadata", meta_of(rs[i].p), "status", "parents",
			       rs[i].parents);
		json_array_append_new(items, it);
	}
	json_array_extend(items, btls);
	c->pc->status = json_pack("{s:s, s:s, s:o, s:{}}", "apiVersion", "v1", "kind", "List",
				  "items", items, "metadata");
	return c->pc->status ? 0 : -ENOMEM;
}

static int build_routes(struct cctx *c, struct croute **out, size_t *n_out)
{
	struct pobj **ps;
	struct croute *rs;
	json_t *ref;
	size_t n, i, j;
	int rc;

	ps = objs_of(c, "TLSRoute", &n);
	if (!ps)
		return -ENOMEM;
	rs = calloc(n + 1, sizeof(*rs));
	if (!rs) {
		free(ps);
		return -ENOMEM;
	}
	*out = rs;
	*n_out = n;
	for (i = 0; i < n; i++) {
		json_t *gw_keys = json_object();

		rs[i].p = ps[i];
		rs[i].parents = json_array();
		rs[i].resolved = backend_route_refs(c, ps[i], &rs[i].rr_reason, rs[i].rr_msg,
						    sizeof(rs[i].rr_msg));
		if (rs[i].resolved)
			rs[i].rr_reason = "ResolvedRefs";
		json_array_foreach(jpath(ps[i]->o, "spec.parentRefs"), j, ref) {
			rc = route_parent(c, &rs[i], ref, gw_keys);
			if (rc) {
				json_decref(gw_keys);
				free(ps);
				return rc;
			}
		}
		json_decref(gw_keys);
	}
	free(ps);
	return 0;
}

struct policy_compiled *policy_compile(const struct policy_input *in,
				       const struct policy_options *opt)
{
	struct cctx c = { .in = in, .opt = opt };
	struct croute *rs = NULL;
	size_t n_rs = 0, i;
	json_t *btls = json_array();
	int rc = -ENOMEM;

	if (!in) {
		errno = EINVAL;
		return NULL;
	}
	c.ctrl = opt && opt->controller_name ? opt->controller_name : POLICY_DEFAULT_CONTROLLER;
	c.pc = calloc(1, sizeof(*c.pc));
	c.index = json_object();
	c.slices = json_object();
	c.grants = json_object();
	c.backend_ids = json_object();
	c.backend_gws = json_array();
	if (!c.pc || !c.index || !c.slices || !c.grants || !c.backend_ids || !c.backend_gws ||
	    !btls)
		goto out;
	c.pc->notes = json_deep_copy(in->notes);
	if (!c.pc->notes)
		goto out;
	rc = build_index(&c);
	if (!rc)
		rc = build_gateways(&c);
	if (!rc)
		rc = build_listeners(&c);
	if (!rc)
		rc = build_routes(&c, &rs, &n_rs);
	if (!rc)
		rc = build_table(&c, rs, n_rs);
	if (!rc)
		rc = backend_tls_apply(&c, btls);
	if (!rc)
		rc = build_status(&c, rs, n_rs, btls);
out:
	for (i = 0; i < c.n_ls; i++) {
		struct clst *l = &c.ls[i];
		size_t k;

		if (l->programmed && !rc)
			continue; /* owned by c.pc->listeners */
		for (k = 0; k < l->n_certs; k++)
			cert_clear(&l->certs[k]);
		free(l->certs);
		if (c.pc) /* drop the pointers into freed memory */
			for (k = 0; k < c.pc->n_listeners; k++)
				if (c.pc->listeners[k].certs == l->certs)
					c.pc->listeners[k].certs = NULL;
	}
	for (i = 0; i < n_rs; i++)
		croute_free(&rs[i]);
	free(rs);
	free(c.gws);
	free(c.ls);
	json_decref(c.index);
	json_decref(c.slices);
	json_decref(c.grants);
	json_decref(c.backend_ids);
	json_decref(c.backend_gws);
	json_decref(btls);
	if (rc) {
		policy_compiled_free(c.pc);
		errno = -rc;
		return NULL;
	}
	return c.pc;
}

void policy_compiled_free(struct policy_compiled *pc)
{
	size_t i, k;

	if (!pc)
		return;
	for (i = 0; i < pc->n_listeners; i++) {
		struct policy_listener *l = &pc->listeners[i];

		if (!l->certs || (i && pc->listeners[i - 1].certs == l->certs))
			continue;
		for (k = 0; k < l->n_certs; k++)
			cert_clear(&l->certs[k]);
		free(l->certs);
	}
	for (i = 0; i < pc->n_backend_tls; i++)
		free(pc->backend_tls[i].ca_pem);
	free(pc->binds);
	free(pc->listeners);
	free(pc->routes);
	free(pc->keys);
	free(pc->vals);
	free(pc->sets);
	free(pc->backends);
	free(pc->backend_info);
	free(pc->backend_tls);
	json_decref(pc->status);
	json_decref(pc->notes);
	free(pc);
}
