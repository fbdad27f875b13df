// SPDX-License-Identifier: GPL-2.0-only
/* Gateway listeners: protocol, TLS mode and options, allowed route kinds
 * and namespaces, certificate references, and per-port conflicts. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cert.h"
#include "listener.h"

static void reject(struct clst *l, const char *reason, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void reject(struct clst *l, const char *reason, const char *fmt, ...)
{
	va_list ap;

	if (!l->accepted)
		return; /* keep the first reason */
	l->accepted = false;
	l->acc_reason = reason;
	va_start(ap, fmt);
	vsnprintf(l->acc_msg, sizeof(l->acc_msg), fmt, ap);
	va_end(ap);
}

static void unresolved(struct clst *l, const char *reason, const char *msg)
{
	size_t n = strlen(l->rr_msg);

	if (l->resolved) {
		l->resolved = false;
		l->rr_reason = reason;
	}
	snprintf(l->rr_msg + n, sizeof(l->rr_msg) - n, "%s%s", n ? "; " : "", msg);
}

/* tls.options: snigate.io/engine and snigate.io/alpn; other snigate.io/
 * keys are errors (a typo must not pass silently); keys of other domains
 * belong to other implementations and are ignored with a note. */
static void listener_options(struct cctx *c, struct clst *l, json_t *opts)
{
	const char *k, *v;
	json_t *jv;

	json_object_foreach(opts, k, jv) {
		v = json_string_value(jv);
		if (!strcmp(k, "snigate.io/engine")) {
			if (!strcmp(v, "sockmap"))
				l->engine = SNG_ENGINE_SOCKMAP;
			else if (!strcmp(v, "userspace"))
				l->engine = SNG_ENGINE_USERSPACE;
			else if (!strcmp(v, "auto"))
				l->engine = SNG_ENGINE_AUTO;
			else
				reject(l, "UnsupportedValue", "tls.options snigate.io/engine \"%.100s\" is "
				       "not one of sockmap, userspace, auto", v);
		} else if (!strcmp(k, "snigate.io/alpn")) {
			const char *p = v, *comma;
			size_t used = 0, n;

			if (l->mode != SNG_MODE_TERMINATE) {
				reject(l, "UnsupportedValue", "tls.options snigate.io/alpn applies to "
				       "Terminate listeners only");
				continue;
			}
			while (*p) {
				comma = strchr(p, ',');
				n = comma ? (size_t)(comma - p) : strlen(p);
				while (n && *p == ' ')
					p++, n--;
				while (n && p[n - 1] == ' ')
					n--;
				if (!n || n > 255 || used + 1 + n >= sizeof(l->alpn)) {
					reject(l, "UnsupportedValue", "tls.options snigate.io/alpn \"%.100s\" "
					       "is not a comma list of protocol names (1..255 bytes, "
					       "255 in total)", v);
					l->alpn[0] = '\0';
					break;
				}
				l->alpn[used++] = (char)n;
				memcpy(l->alpn + used, p, n);
				used += n;
				l->alpn[used] = '\0';
				p = comma ? comma + 1 : p + n + strlen(p + n);
			}
		} else if (!strncmp(k, "snigate.io/", 11)) {
			reject(l, "UnsupportedValue", "unknown tls.options key %.100s (snigate.io/ keys: "
			       "engine, alpn)", k);
		} else {
			note_add(c->pc->notes, "Gateway %s/%s listener %s: tls.options key %s is not "
				 "snigate's, ignored", l->gw->p->ns, l->gw->p->name, l->name, k);
		}
	}
}

/* allowedRoutes: kinds and namespaces. */
static void listener_allowed(struct clst *l)
{
	json_t *ar = json_object_get(l->l, "allowedRoutes"), *kinds, *k, *e;
	const char *from = jsd(jpath(ar, "namespaces"), "from", "Same");
	char msg[300];
	size_t i;

	kinds = json_object_get(ar, "kinds");
	l->kind_tlsroute = !json_array_size(kinds);
	json_array_foreach(kinds, i, k) {
		const char *g = jsd(k, "group", GW_GROUP), *kd = js(k, "kind");

		if (!strcmp(g, GW_GROUP) && !strcmp(kd, "TLSRoute")) {
			l->kind_tlsroute = true;
			continue;
		}
		snprintf(msg, sizeof(msg), "route kind %s/%s is not supported on a TLS listener",
			 *g ? g : "core", kd);
		unresolved(l, "InvalidRouteKinds", msg);
	}
	if (!strcmp(from, "Same")) {
		l->from = 0;
	} else if (!strcmp(from, "All")) {
		l->from = 1;
	} else if (!strcmp(from, "Selector")) {
		l->from = 2;
		l->selector = jpath(ar, "namespaces.selector");
		if (!l->selector)
			reject(l, "UnsupportedValue", "allowedRoutes.namespaces.from Selector needs a "
			       "selector");
		json_array_foreach(json_object_get(l->selector, "matchExpressions"), i, e) {
			const char *op = js(e, "operator");

			if (strcmp(op, "In") && strcmp(op, "NotIn") && strcmp(op, "Exists") &&
			    strcmp(op, "DoesNotExist"))
				reject(l, "UnsupportedValue", "label selector operator %.64s is not "
				       "In, NotIn, Exists or DoesNotExist", op);
		}
	} else {
		reject(l, "UnsupportedValue", "allowedRoutes.namespaces.from %.64s is not Same, All "
		       "or Selector", from);
	}
}

/* A certificate that cannot be valid for the listener's precise hostname
 * (SAN rules: a "*." matches exactly one label) still serves, with a note:
 * clients will refuse it, and the status cannot say why. */
static void warn_san(struct cctx *c, const struct clst *l, const struct policy_cert *pc)
{
	const char *h = l->hostname, *dot = strchr(h, '.');
	size_t i;

	if (!*h || host_is_wild(h) || !pc->n_sans)
		return;
	for (i = 0; i < pc->n_sans; i++) {
		const char *s = pc->sans[i];

		if (!strcmp(s, h) || (s[0] == '*' && s[1] == '.' && dot && !strcmp(s + 1, dot)))
			return;
	}
	note_add(c->pc->notes, "Gateway %s/%s listener %s: certificate %s has no subjectAltName "
		 "for %s", l->gw->p->ns, l->gw->p->name, l->name, pc->ref, h);
}

/* tls.certificateRefs of a Terminate listener. */
static int listener_certs(struct cctx *c, struct clst *l, json_t *refs)
{
	const char *gns = l->gw->p->ns;
	char msg[700], why[300], ref[330];
	json_t *r;
	size_t i;
	int rc;

	if (!json_array_size(refs)) {
		unresolved(l, "InvalidCertificateRef", "a Terminate listener needs certificateRefs");
		return 0;
	}
	l->certs = calloc(json_array_size(refs), sizeof(*l->certs));
	if (!l->certs)
		return -ENOMEM;
	json_array_foreach(refs, i, r) {
		const char *g = jsd(r, "group", ""), *k = jsd(r, "kind", "Secret");
		const char *ns = jsd(r, "namespace", gns), *name = js(r, "name");
		struct pobj *sec;

		snprintf(ref, sizeof(ref), "%s/%s", ns, name);
		if (*g || strcmp(k, "Secret")) {
			snprintf(msg, sizeof(msg), "certificateRefs[%zu] %s/%s %s is not a core Secret",
				 i, *g ? g : "core", k, name);
			unresolved(l, "InvalidCertificateRef", msg);
			continue;
		}
		if (strcmp(ns, gns) && !cc_granted(c, "Gateway", gns, "", "Secret", ns, name)) {
			snprintf(msg, sizeof(msg), "certificateRefs[%zu] Secret %s: no ReferenceGrant in "
				 "namespace %s allows Gateways from %s", i, ref, ns, gns);
			unresolved(l, "RefNotPermitted", msg);
			continue;
		}
		sec = cc_find(c, "Secret", ns, name);
		if (!sec) {
			snprintf(msg, sizeof(msg), "certificateRefs[%zu] Secret %s not found", i, ref);
			unresolved(l, "InvalidCertificateRef", msg);
			continue;
		}
		rc = cert_from_secret(sec->o, ref, &l->certs[l->n_certs], why, sizeof(why));
		if (rc < 0)
			return rc;
		if (rc) {
			snprintf(msg, sizeof(msg), "certificateRefs[%zu] Secret %s %s", i, ref, why);
			unresolved(l, "InvalidCertificateRef", msg);
			continue;
		}
		warn_san(c, l, &l->certs[l->n_certs]);
		l->n_certs++;
	}
	return 0;
}

int listener_validate(struct cctx *c, struct clst *l)
{
	json_t *tls = json_object_get(l->l, "tls");
	const char *mode = js(tls, "mode"), *h = js(l->l, "hostname");

	l->name = js(l->l, "name");
	l->proto = js(l->l, "protocol");
	l->port = (int)json_integer_value(json_object_get(l->l, "port"));
	snprintf(l->hostname, sizeof(l->hostname), "%s", h ? h : "");
	l->accepted = l->resolved = true;
	l->acc_reason = "Accepted";
	l->rr_reason = "ResolvedRefs";
	l->tls = !strcmp(l->proto, "TLS");
	if (!l->tls) {
		reject(l, "UnsupportedProtocol", "protocol %.64s is not served by snigate (TLS only)",
		       l->proto);
		return 0;
	}
	if (!mode)
		reject(l, "UnsupportedValue", "tls.mode must be set for protocol TLS");
	else if (!strcmp(mode, "Passthrough"))
		l->mode = SNG_MODE_PASSTHROUGH;
	else if (!strcmp(mode, "Terminate"))
		l->mode = SNG_MODE_TERMINATE;
	else
		reject(l, "UnsupportedValue", "tls.mode %.64s is not Passthrough or Terminate", mode);
	listener_options(c, l, json_object_get(tls, "options"));
	listener_allowed(l);
	if (l->mode == SNG_MODE_TERMINATE)
		return listener_certs(c, l, json_object_get(tls, "certificateRefs"));
	return 0;
}

/* Protocols that take a TCP port (UDP does not collide with TLS). */
static bool tcp_proto(const char *p)
{
	return !strcmp(p, "TLS") || !strcmp(p, "HTTP") || !strcmp(p, "HTTPS") ||
	       !strcmp(p, "TCP");
}

static void conflict(struct clst *l, const char *reason, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void conflict(struct clst *l, const char *reason, const char *fmt, ...)
{
	va_list ap;

	l->conflict = reason;
	l->accepted = false;
	l->acc_reason = reason;
	va_start(ap, fmt);
	vsnprintf(l->acc_msg, sizeof(l->acc_msg), fmt, ap);
	va_end(ap);
}

void listener_conflicts(struct cctx *c)
{
	size_t i, j, a, b;

	/* Two listeners collide when they share a port and a bind address. */
	for (i = 0; i < c->n_ls; i++) {
		struct clst *x = &c->ls[i];
		bool other_proto = false, same_host = false;

		if (!tcp_proto(x->proto))
			continue;
		for (j = 0; j < c->n_ls; j++) {
			struct clst *y = &c->ls[j];
			bool shared = false;

			if (i == j || x->port != y->port || !tcp_proto(y->proto))
				continue;
			for (a = 0; a < x->gw->n_addrs && !shared; a++)
				for (b = 0; b < y->gw->n_addrs && !shared; b++)
					shared = !strcmp(x->gw->addrs[a], y->gw->addrs[b]);
			if (!shared)
				continue;
			if (strcmp(x->proto, y->proto) && (x->tls || y->tls))
				other_proto = true;
			else if (x->tls && y->tls && !strcmp(x->hostname, y->hostname))
				same_host = true;
		}
		if (other_proto)
			conflict(x, "ProtocolConflict", "protocol %s shares port %d with a listener of "
				 "another protocol", x->proto, x->port);
		else if (same_host)
			conflict(x, "HostnameConflict", "hostname \"%s\" is used by another TLS listener "
				 "on port %d", x->hostname, x->port);
	}
}

static bool label_match(json_t *labels, json_t *sel)
{
	const char *k, *v;
	json_t *jv, *e, *vals, *x;
	size_t i, j;

	json_object_foreach(json_object_get(sel, "matchLabels"), k, jv) {
		v = js(labels, k);
		if (!v || strcmp(v, json_string_value(jv)))
			return false;
	}
	json_array_foreach(json_object_get(sel, "matchExpressions"), i, e) {
		const char *op = js(e, "operator");
		bool in = false;

		v = js(labels, js(e, "key"));
		vals = json_object_get(e, "values");
		json_array_foreach(vals, j, x)
			if (v && json_is_string(x) && !strcmp(v, json_string_value(x)))
				in = true;
		if ((!strcmp(op, "In") && !in) || (!strcmp(op, "NotIn") && in) ||
		    (!strcmp(op, "Exists") && !v) || (!strcmp(op, "DoesNotExist") && v))
			return false;
	}
	return true;
}

bool listener_allows_ns(struct cctx *c, const struct clst *l, const char *ns)
{
	struct pobj *nso;
	json_t *labels;
	bool ok;

	if (l->from == 1)
		return true;
	if (l->from == 0)
		return !strcmp(ns, l->gw->p->ns);
	nso = cc_find(c, "Namespace", "", ns);
	labels = json_deep_copy(jpath(nso ? nso->o : NULL, "metadata.labels"));
	if (!labels)
		labels = json_object();
	/* The API server always sets this label on every Namespace. */
	json_object_set_new(labels, "kubernetes.io/metadata.name", json_string(ns));
	ok = label_match(labels, l->selector);
	json_decref(labels);
	return ok;
}

json_t *listener_status(const struct clst *l, json_int_t gen)
{
	json_t *kinds = json_array(), *conds = json_array();
	bool shown = l->accepted && l->kind_tlsroute;

	if (shown)
		json_array_append_new(kinds, json_pack("{s:s, s:s}", "group", GW_GROUP, "kind",
						       "TLSRoute"));
	cond_add(conds, "Accepted", l->accepted, l->acc_reason, gen, "%s",
		 l->accepted ? "listener is valid" : l->acc_msg);
	if (l->programmed)
		cond_add(conds, "Programmed", true, "Programmed", gen, "listener is served");
	else
		cond_add(conds, "Programmed", false, l->conflict ? l->conflict : "Invalid", gen, "%s",
			 !l->accepted ? l->acc_msg : !l->gw->n_addrs || l->gw->addr_bad ?
			 "the Gateway has no usable address" : l->rr_msg[0] ? l->rr_msg :
			 "listener is not served");
	cond_add(conds, "ResolvedRefs", l->resolved, l->rr_reason, gen, "%s",
		 l->resolved ? "references resolved" : l->rr_msg);
	if (l->conflict)
		cond_add(conds, "Conflicted", true, l->conflict, gen, "%s", l->acc_msg);
	else
		cond_add(conds, "Conflicted", false, "NoConflicts", gen, "no conflicts");
	return json_pack("{s:s, s:o, s:I, s:o}", "name", l->name, "supportedKinds", kinds,
			 "attachedRoutes", (json_int_t)l->attached, "conditions", conds);
}
