// SPDX-License-Identifier: GPL-2.0-only
/* Shape checks of the objects the compiler reads (what the API server's
 * OpenAPI schema would reject): types, required fields, ranges, sizes. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"

enum ftype { T_OBJ, T_ARR, T_STR, T_INT, T_BOOL, T_INTSTR, T_MAP, T_ANY };

#define F_REQ 1u   /* required */
#define F_HOST 2u  /* string is an API hostname */

struct field {
	const char *key;
	enum ftype type;
	unsigned flags;
	long min, max;            /* int range, string length, array items */
	enum ftype item;          /* array item type */
	const struct field *sub;  /* fields of an object (or of array items) */
};

static const char *tname(enum ftype t)
{
	switch (t) {
	case T_OBJ: return "an object";
	case T_ARR: return "an array";
	case T_STR: return "a string";
	case T_INT: return "an integer";
	case T_BOOL: return "a boolean";
	case T_INTSTR: return "an integer or a string";
	case T_MAP: return "a map of strings";
	default: return "a value";
	}
}

struct vc {
	struct policy_error *err;
	char path[256];
};

static int vfail(struct vc *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int vfail(struct vc *c, const char *fmt, ...)
{
	va_list ap;

	snprintf(c->err->path, sizeof(c->err->path), "%s", c->path);
	va_start(ap, fmt);
	vsnprintf(c->err->msg, sizeof(c->err->msg), fmt, ap);
	va_end(ap);
	return -EINVAL;
}

static bool type_ok(json_t *v, enum ftype t)
{
	switch (t) {
	case T_OBJ: case T_MAP: return json_is_object(v);
	case T_ARR: return json_is_array(v);
	case T_STR: return json_is_string(v);
	case T_INT: return json_is_integer(v);
	case T_BOOL: return json_is_boolean(v);
	case T_INTSTR: return json_is_integer(v) || json_is_string(v);
	default: return true;
	}
}

static int check_fields(struct vc *c, json_t *o, const struct field *f);

static int check_value(struct vc *c, json_t *v, enum ftype t, const struct field *f)
{
	size_t plen = strlen(c->path), i;
	json_t *it;
	const char *k;
	int rc;

	if (!type_ok(v, t))
		return vfail(c, "must be %s", tname(t));
	switch (t) {
	case T_STR: {
		long n = (long)json_string_length(v);

		if (f->max && n > f->max)
			return vfail(c, "string is %ld characters, at most %ld allowed", n, f->max);
		if (f->min && n < f->min)
			return vfail(c, "must not be empty");
		if (f->flags & F_HOST && !host_valid(json_string_value(v)))
			return vfail(c, "invalid hostname \"%.200s\" (lowercase RFC 1123 name or "
				     "\"*.\" wildcard, no IP)", json_string_value(v));
		return 0;
	}
	case T_INT: {
		json_int_t x = json_integer_value(v);

		if ((f->min || f->max) && (x < f->min || x > f->max))
			return vfail(c, "value %lld out of range %ld..%ld", (long long)x, f->min, f->max);
		return 0;
	}
	case T_INTSTR:
		if (json_is_integer(v) && (json_integer_value(v) < 1 || json_integer_value(v) > 65535))
			return vfail(c, "port out of range 1..65535");
		return 0;
	case T_MAP:
		json_object_foreach(v, k, it) {
			if (!json_is_string(it)) {
				snprintf(c->path + plen, sizeof(c->path) - plen, "/%s", k);
				return vfail(c, "must be a string");
			}
		}
		return 0;
	case T_OBJ:
		return f->sub ? check_fields(c, v, f->sub) : 0;
	case T_ARR:
		if (f->max && (long)json_array_size(v) > f->max)
			return vfail(c, "has %zu items, at most %ld allowed", json_array_size(v), f->max);
		if (f->min && (long)json_array_size(v) < f->min)
			return vfail(c, "needs at least %ld item(s)", f->min);
		json_array_foreach(v, i, it) {
			struct field itf = { .type = f->item, .sub = f->sub, .flags = f->flags };

			snprintf(c->path + plen, sizeof(c->path) - plen, "/%zu", i);
			if (f->item == T_STR)
				itf.max = SNG_HOSTNAME_MAX;
			rc = check_value(c, it, f->item, &itf);
			if (rc)
				return rc;
			c->path[plen] = '\0';
		}
		return 0;
	default:
		return 0;
	}
}

static int check_fields(struct vc *c, json_t *o, const struct field *f)
{
	size_t plen = strlen(c->path);
	json_t *v;
	int rc;

	for (; f->key; f++) {
		v = json_object_get(o, f->key);
		snprintf(c->path + plen, sizeof(c->path) - plen, "/%s", f->key);
		if (!v || (json_is_null(v) && !(f->flags & F_REQ))) {
			if (f->flags & F_REQ)
				return vfail(c, "required field is missing");
			continue;
		}
		rc = check_value(c, v, f->type, f);
		if (rc)
			return rc;
		c->path[plen] = '\0';
	}
	c->path[plen] = '\0';
	return 0;
}

#define END { NULL, T_ANY, 0, 0, 0, T_ANY, NULL }

static const struct field f_meta[] = {
	{ "name", T_STR, F_REQ, 1, 253, T_ANY, NULL },
	{ "namespace", T_STR, 0, 1, 63, T_ANY, NULL },
	{ "labels", T_MAP, 0, 0, 0, T_ANY, NULL },
	{ "creationTimestamp", T_STR, 0, 0, 64, T_ANY, NULL },
	{ "generation", T_INT, 0, 0, 0, T_ANY, NULL },
	END,
};
static const struct field f_objref[] = { /* group/kind/name/namespace refs */
	{ "group", T_STR, 0, 0, 253, T_ANY, NULL },
	{ "kind", T_STR, 0, 0, 63, T_ANY, NULL },
	{ "name", T_STR, F_REQ, 1, 253, T_ANY, NULL },
	{ "namespace", T_STR, 0, 1, 63, T_ANY, NULL },
	END,
};
static const struct field f_gwc_spec[] = {
	{ "controllerName", T_STR, F_REQ, 1, 253, T_ANY, NULL },
	END,
};
static const struct field f_tls[] = {
	{ "mode", T_STR, 0, 0, 64, T_ANY, NULL },
	{ "certificateRefs", T_ARR, 0, 0, 64, T_OBJ, f_objref },
	{ "options", T_MAP, 0, 0, 0, T_ANY, NULL },
	END,
};
static const struct field f_expr[] = {
	{ "key", T_STR, F_REQ, 1, 317, T_ANY, NULL },
	{ "operator", T_STR, F_REQ, 1, 64, T_ANY, NULL },
	{ "values", T_ARR, 0, 0, 0, T_STR, NULL },
	END,
};
static const struct field f_selector[] = {
	{ "matchLabels", T_MAP, 0, 0, 0, T_ANY, NULL },
	{ "matchExpressions", T_ARR, 0, 0, 0, T_OBJ, f_expr },
	END,
};
static const struct field f_rns[] = {
	{ "from", T_STR, 0, 0, 64, T_ANY, NULL },
	{ "selector", T_OBJ, 0, 0, 0, T_ANY, f_selector },
	END,
};
static const struct field f_rgk[] = {
	{ "group", T_STR, 0, 0, 253, T_ANY, NULL },
	{ "kind", T_STR, F_REQ, 1, 63, T_ANY, NULL },
	END,
};
static const struct field f_allowed[] = {
	{ "namespaces", T_OBJ, 0, 0, 0, T_ANY, f_rns },
	{ "kinds", T_ARR, 0, 0, 8, T_OBJ, f_rgk },
	END,
};
static const struct field f_listener[] = {
	{ "name", T_STR, F_REQ, 1, 253, T_ANY, NULL },
	{ "protocol", T_STR, F_REQ, 1, 255, T_ANY, NULL },
	{ "port", T_INT, F_REQ, 1, 65535, T_ANY, NULL },
	{ "hostname", T_STR, F_HOST, 1, 253, T_ANY, NULL },
	{ "tls", T_OBJ, 0, 0, 0, T_ANY, f_tls },
	{ "allowedRoutes", T_OBJ, 0, 0, 0, T_ANY, f_allowed },
	END,
};
static const struct field f_addr[] = {
	{ "type", T_STR, 0, 0, 253, T_ANY, NULL },
	{ "value", T_STR, F_REQ, 1, 253, T_ANY, NULL },
	END,
};
static const struct field f_gw_spec[] = {
	{ "gatewayClassName", T_STR, F_REQ, 1, 253, T_ANY, NULL },
	{ "listeners", T_ARR, F_REQ, 1, 64, T_OBJ, f_listener },
	{ "addresses", T_ARR, 0, 0, 16, T_OBJ, f_addr },
	END,
};
static const struct field f_parentref[] = {
	{ "group", T_STR, 0, 0, 253, T_ANY, NULL },
	{ "kind", T_STR, 0, 0, 63, T_ANY, NULL },
	{ "name", T_STR, F_REQ, 1, 253, T_ANY, NULL },
	{ "namespace", T_STR, 0, 1, 63, T_ANY, NULL },
	{ "sectionName", T_STR, 0, 1, 253, T_ANY, NULL },
	{ "port", T_INT, 0, 1, 65535, T_ANY, NULL },
	END,
};
static const struct field f_backendref[] = {
	{ "group", T_STR, 0, 0, 253, T_ANY, NULL },
	{ "kind", T_STR, 0, 0, 63, T_ANY, NULL },
	{ "name", T_STR, F_REQ, 1, 253, T_ANY, NULL },
	{ "namespace", T_STR, 0, 1, 63, T_ANY, NULL },
	{ "port", T_INT, 0, 1, 65535, T_ANY, NULL },
	{ "weight", T_INT, 0, 0, 1000000, T_ANY, NULL },
	END,
};
static const struct field f_rule[] = {
	{ "name", T_STR, 0, 1, 253, T_ANY, NULL },
	{ "backendRefs", T_ARR, F_REQ, 1, SNG_MAX_BACKENDS, T_OBJ, f_backendref },
	END,
};
static const struct field f_route_spec[] = {
	{ "parentRefs", T_ARR, 0, 0, 32, T_OBJ, f_parentref },
	{ "hostnames", T_ARR, F_HOST, 0, 1024, T_STR, NULL },
	{ "rules", T_ARR, F_REQ, 1, 16, T_OBJ, f_rule },
	END,
};
static const struct field f_svcport[] = {
	{ "name", T_STR, 0, 0, 63, T_ANY, NULL },
	{ "port", T_INT, F_REQ, 1, 65535, T_ANY, NULL },
	{ "targetPort", T_INTSTR, 0, 0, 0, T_ANY, NULL },
	{ "protocol", T_STR, 0, 0, 16, T_ANY, NULL },
	{ "appProtocol", T_STR, 0, 0, 253, T_ANY, NULL },
	END,
};
static const struct field f_svc_spec[] = {
	{ "ports", T_ARR, 0, 0, 0, T_OBJ, f_svcport },
	{ "clusterIP", T_STR, 0, 0, 64, T_ANY, NULL },
	{ "type", T_STR, 0, 0, 64, T_ANY, NULL },
	END,
};
static const struct field f_epcond[] = {
	{ "ready", T_BOOL, 0, 0, 0, T_ANY, NULL },
	END,
};
static const struct field f_endpoint[] = {
	{ "addresses", T_ARR, F_REQ, 1, 100, T_STR, NULL },
	{ "conditions", T_OBJ, 0, 0, 0, T_ANY, f_epcond },
	END,
};
static const struct field f_epport[] = {
	{ "name", T_STR, 0, 0, 63, T_ANY, NULL },
	{ "port", T_INT, 0, 1, 65535, T_ANY, NULL },
	{ "protocol", T_STR, 0, 0, 16, T_ANY, NULL },
	END,
};
static const struct field f_eps[] = {
	{ "addressType", T_STR, F_REQ, 1, 16, T_ANY, NULL },
	{ "endpoints", T_ARR, 0, 0, 0, T_OBJ, f_endpoint },
	{ "ports", T_ARR, 0, 0, 0, T_OBJ, f_epport },
	END,
};
static const struct field f_secret[] = {
	{ "type", T_STR, 0, 0, 253, T_ANY, NULL },
	{ "data", T_MAP, 0, 0, 0, T_ANY, NULL },
	{ "stringData", T_MAP, 0, 0, 0, T_ANY, NULL },
	END,
};
static const struct field f_cm[] = {
	{ "data", T_MAP, 0, 0, 0, T_ANY, NULL },
	END,
};
static const struct field f_grant_from[] = {
	{ "group", T_STR, F_REQ, 0, 253, T_ANY, NULL },
	{ "kind", T_STR, F_REQ, 1, 63, T_ANY, NULL },
	{ "namespace", T_STR, F_REQ, 1, 63, T_ANY, NULL },
	END,
};
static const struct field f_grant_to[] = {
	{ "group", T_STR, F_REQ, 0, 253, T_ANY, NULL },
	{ "kind", T_STR, F_REQ, 1, 63, T_ANY, NULL },
	{ "name", T_STR, 0, 1, 253, T_ANY, NULL },
	END,
};
static const struct field f_grant_spec[] = {
	{ "from", T_ARR, F_REQ, 1, 16, T_OBJ, f_grant_from },
	{ "to", T_ARR, F_REQ, 1, 16, T_OBJ, f_grant_to },
	END,
};
static const struct field f_target[] = {
	{ "group", T_STR, F_REQ, 0, 253, T_ANY, NULL },
	{ "kind", T_STR, F_REQ, 1, 63, T_ANY, NULL },
	{ "name", T_STR, F_REQ, 1, 253, T_ANY, NULL },
	{ "sectionName", T_STR, 0, 1, 253, T_ANY, NULL },
	END,
};
static const struct field f_validation[] = {
	{ "caCertificateRefs", T_ARR, 0, 0, 8, T_OBJ, f_objref },
	{ "wellKnownCACertificates", T_STR, 0, 0, 64, T_ANY, NULL },
	{ "hostname", T_STR, F_REQ | F_HOST, 1, 253, T_ANY, NULL },
	END,
};
static const struct field f_btls_spec[] = {
	{ "targetRefs", T_ARR, F_REQ, 1, 16, T_OBJ, f_target },
	{ "validation", T_OBJ, F_REQ, 0, 0, T_ANY, f_validation },
	END,
};

struct kind_schema {
	const char *kind;
	const char *where;          /* "spec" or "" (fields at top level) */
	const struct field *fields;
	bool spec_required;
};

static const struct kind_schema kinds[] = {
	{ "GatewayClass", "spec", f_gwc_spec, true },
	{ "Gateway", "spec", f_gw_spec, true },
	{ "TLSRoute", "spec", f_route_spec, true },
	{ "Service", "spec", f_svc_spec, false },
	{ "EndpointSlice", "", f_eps, false },
	{ "Secret", "", f_secret, false },
	{ "ConfigMap", "", f_cm, false },
	{ "ReferenceGrant", "spec", f_grant_spec, true },
	{ "BackendTLSPolicy", "spec", f_btls_spec, true },
};

/* Rules no table expresses: per-version TLSRoute limits, unique listener
 * names. */
static int check_extra(struct vc *c, json_t *obj, const char *kind, size_t plen)
{
	const char *api = js(obj, "apiVersion");
	json_t *spec = json_object_get(obj, "spec"), *ls, *l, *l2;
	size_t i, j;

	if (!strcmp(kind, "TLSRoute")) {
		bool alpha2 = api && !strcmp(api, GW_GROUP "/v1alpha2");

		if (!alpha2 && !json_object_get(spec, "hostnames")) {
			snprintf(c->path + plen, sizeof(c->path) - plen, "/spec/hostnames");
			return vfail(c, "required field is missing (optional only in v1alpha2)");
		}
		if (!alpha2 && json_array_size(json_object_get(spec, "hostnames")) < 1) {
			snprintf(c->path + plen, sizeof(c->path) - plen, "/spec/hostnames");
			return vfail(c, "needs at least 1 item");
		}
		if (!alpha2 && json_array_size(json_object_get(spec, "rules")) > 1) {
			snprintf(c->path + plen, sizeof(c->path) - plen, "/spec/rules");
			return vfail(c, "has %zu rules; %s allows exactly one",
				     json_array_size(json_object_get(spec, "rules")), api ? api : "v1");
		}
	}
	if (!strcmp(kind, "Gateway")) {
		ls = json_object_get(spec, "listeners");
		json_array_foreach(ls, i, l) {
			for (j = 0; j < i; j++) {
				l2 = json_array_get(ls, j);
				if (!strcmp(js(l, "name"), js(l2, "name"))) {
					snprintf(c->path + plen, sizeof(c->path) - plen,
						 "/spec/listeners/%zu/name", i);
					return vfail(c, "duplicate listener name \"%.200s\"", js(l, "name"));
				}
			}
		}
	}
	return 0;
}

int schema_check(json_t *obj, const char *base, struct policy_error *err)
{
	struct vc c = { .err = err };
	static const struct field top[] = {
		{ "apiVersion", T_STR, F_REQ, 1, 253, T_ANY, NULL },
		{ "kind", T_STR, F_REQ, 1, 63, T_ANY, NULL },
		{ "metadata", T_OBJ, F_REQ, 0, 0, T_ANY, f_meta },
		END,
	};
	const char *kind;
	size_t i, plen;
	int rc;

	snprintf(c.path, sizeof(c.path), "%s", base);
	plen = strlen(c.path);
	rc = check_fields(&c, obj, top);
	if (rc)
		return rc;
	kind = js(obj, "kind");
	for (i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		const struct kind_schema *k = &kinds[i];
		json_t *where = obj;

		if (strcmp(kind, k->kind))
			continue;
		if (*k->where) {
			where = json_object_get(obj, k->where);
			snprintf(c.path + plen, sizeof(c.path) - plen, "/%s", k->where);
			if (!where && !k->spec_required)
				return 0;
			if (!json_is_object(where))
				return vfail(&c, "%s", where ? "must be an object" :
					     "required field is missing");
		}
		rc = check_fields(&c, where, k->fields);
		if (rc)
			return rc;
		c.path[plen] = '\0';
		return check_extra(&c, obj, kind, plen);
	}
	return 0;
}
