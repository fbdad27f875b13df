// SPDX-License-Identifier: GPL-2.0-only
/* Document loading: YAML streams (libyaml) and JSON values (jansson) into
 * jansson trees, kind: List unwrapping, and path -> line/column lookup. */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "internal.h"

struct yconv {
	yaml_document_t *doc;
	size_t nodes;      /* nodes converted so far (aliases count again) */
	size_t doc_nodes;  /* the same, in the current document */
	struct policy_error *err;
};

/* Aliases may repeat nodes, but not blow a document up: past this many
 * converted nodes, at most DOC_ALIAS_RATIO times the document's own nodes
 * (a 393-byte "billion laughs" otherwise costs 16M nodes, 1.5 GB, 19 s). */
#define DOC_ALIAS_FLOOR 65536
#define DOC_ALIAS_RATIO 16

static int yerr(struct yconv *c, yaml_node_t *n, int rc, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int yerr(struct yconv *c, yaml_node_t *n, int rc, const char *fmt, ...)
{
	va_list ap;

	if (n) {
		c->err->line = (int)n->start_mark.line + 1;
		c->err->column = (int)n->start_mark.column + 1;
	}
	va_start(ap, fmt);
	vsnprintf(c->err->msg, sizeof(c->err->msg), fmt, ap);
	va_end(ap);
	return rc;
}

static bool all_digits(const char *s, int base)
{
	if (!*s)
		return false;
	for (; *s; s++) {
		if (base == 10 && (*s < '0' || *s > '9'))
			return false;
		if (base == 16 && !((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f') ||
				    (*s >= 'A' && *s <= 'F')))
			return false;
		if (base == 8 && (*s < '0' || *s > '7'))
			return false;
	}
	return true;
}

json_t *doc_plain_scalar(const char *s)
{
	const char *d = s;
	char *end;
	double v;

	if (!*s || !strcmp(s, "~") || !strcmp(s, "null") || !strcmp(s, "Null") ||
	    !strcmp(s, "NULL"))
		return json_null();
	if (!strcmp(s, "true") || !strcmp(s, "True") || !strcmp(s, "TRUE"))
		return json_true();
	if (!strcmp(s, "false") || !strcmp(s, "False") || !strcmp(s, "FALSE"))
		return json_false();
	if (*d == '-' || *d == '+')
		d++;
	if (all_digits(d, 10) || (d[0] == '0' && d[1] == 'x' && all_digits(d + 2, 16)) ||
	    (d[0] == '0' && d[1] == 'o' && all_digits(d + 2, 8))) {
		long long x;
		int base = d[1] == 'x' ? 16 : d[1] == 'o' ? 8 : 10;

		errno = 0;
		x = strtoll(base == 10 ? d : d + 2, &end, base);
		if (errno == 0 && !*end)
			return json_integer(*s == '-' ? -x : x);
		return json_string(s); /* out of range: keep the text */
	}
	if (!strcmp(d, ".inf") || !strcmp(d, ".Inf") || !strcmp(d, ".INF"))
		return json_string(s); /* jansson has no infinities */
	if ((*d >= '0' && *d <= '9') || (*d == '.' && d[1] >= '0' && d[1] <= '9')) {
		v = strtod(s, &end);
		if (!*end && isfinite(v))
			return json_real(v);
	}
	return json_string(s);
}

static json_t *yconv_node(struct yconv *c, yaml_node_t *n, int depth, int *rc)
{
	json_t *out = NULL, *v;
	yaml_node_pair_t *p;
	yaml_node_item_t *it;
	const char *tag;

	if (!n) {
		*rc = yerr(c, NULL, -EINVAL, "dangling YAML node");
		return NULL;
	}
	if (++c->nodes > POLICY_MAX_NODES) {
		*rc = yerr(c, n, -E2BIG, "document too large (over %s nodes, alias expansion?)",
			   "16777216");
		return NULL;
	}
	if (++c->doc_nodes > DOC_ALIAS_FLOOR &&
	    c->doc_nodes > DOC_ALIAS_RATIO * (size_t)(c->doc->nodes.top - c->doc->nodes.start)) {
		*rc = yerr(c, n, -E2BIG, "document too large: aliases expand it over %d times its %zu nodes",
			   DOC_ALIAS_RATIO, (size_t)(c->doc->nodes.top - c->doc->nodes.start));
		return NULL;
	}
	if (depth > POLICY_MAX_DEPTH) {
		*rc = yerr(c, n, -E2BIG, "document nested too deeply");
		return NULL;
	}
	tag = (const char *)n->tag;
	switch (n->type) {
	case YAML_SCALAR_NODE: {
		const char *s = (const char *)n->data.scalar.value;

		if (strlen(s) != n->data.scalar.length) {
			*rc = yerr(c, n, -EINVAL, "NUL byte in a YAML scalar");
			return NULL;
		}
		/* The loader tags every untagged scalar !!str, so an explicit
		 * !!str on a plain scalar cannot be told apart: style decides. */
		(void)tag;
		if (n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
			out = json_string(s);
		else
			out = doc_plain_scalar(s);
		if (!out) /* invalid UTF-8 */
			*rc = yerr(c, n, -EINVAL, "scalar is not valid UTF-8");
		return out;
	}
	case YAML_SEQUENCE_NODE:
		out = json_array();
		if (!out)
			goto nomem;
		for (it = n->data.sequence.items.start; it < n->data.sequence.items.top; it++) {
			v = yconv_node(c, yaml_document_get_node(c->doc, *it), depth + 1, rc);
			if (!v)
				goto fail;
			if (json_array_append_new(out, v))
				goto nomem;
		}
		return out;
	case YAML_MAPPING_NODE:
		out = json_object();
		if (!out)
			goto nomem;
		for (p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
			yaml_node_t *k = yaml_document_get_node(c->doc, p->key);
			const char *ks;

			if (!k || k->type != YAML_SCALAR_NODE) {
				*rc = yerr(c, k ? k : n, -EINVAL, "mapping key is not a scalar");
				goto fail;
			}
			ks = (const char *)k->data.scalar.value;
			if (strlen(ks) != k->data.scalar.length) {
				*rc = yerr(c, k, -EINVAL, "NUL byte in a mapping key");
				goto fail;
			}
			if (json_object_get(out, ks)) {
				*rc = yerr(c, k, -EINVAL, "duplicate key \"%.200s\"", ks);
				goto fail;
			}
			v = yconv_node(c, yaml_document_get_node(c->doc, p->value), depth + 1, rc);
			if (!v)
				goto fail;
			if (json_object_set_new(out, ks, v)) {
				*rc = yerr(c, k, -EINVAL, "invalid mapping key \"%.200s\"", ks);
				goto fail;
			}
		}
		return out;
	default:
		*rc = yerr(c, n, -EINVAL, "empty YAML node");
		return NULL;
	}
nomem:
	*rc = yerr(c, n, -ENOMEM, "out of memory");
fail:
	json_decref(out);
	return NULL;
}

/* Hand one document root to @fn, unwrapping lists. */
static int emit_root(json_t *root, unsigned doc, doc_object_fn fn, void *arg,
		     struct policy_error *err)
{
	const char *kind;
	json_t *items, *it;
	size_t i;
	char path[32];
	int rc;

	if (json_is_null(root))
		return 0; /* empty document */
	if (!json_is_object(root)) {
		snprintf(err->msg, sizeof(err->msg),
			 "document is not an object (a Kubernetes manifest is a mapping)");
		return -EINVAL;
	}
	kind = js(root, "kind");
	items = json_object_get(root, "items");
	if (kind && strlen(kind) >= 4 && !strcmp(kind + strlen(kind) - 4, "List")) {
		if (!json_is_array(items)) {
			snprintf(err->path, sizeof(err->path), "/items");
			snprintf(err->msg, sizeof(err->msg), "kind %s needs an array \"items\"", kind);
			return -EINVAL;
		}
		json_array_foreach(items, i, it) {
			snprintf(path, sizeof(path), "/items/%zu", i);
			if (!json_is_object(it)) {
				snprintf(err->path, sizeof(err->path), "%s", path);
				snprintf(err->msg, sizeof(err->msg), "list item is not an object");
				return -EINVAL;
			}
			rc = fn(it, doc, path, arg, err);
			if (rc)
				return rc;
		}
		return 0;
	}
	return fn(root, doc, "", arg, err);
}

/* libyaml's scanner re-checks the simple key of every open flow level on
 * each token, so "[[[[..." costs O(depth^2) inside yaml_parser_load (30,000
 * levels: 29 s; a million: hours) before yconv_node could refuse it. Walk
 * the events first, stopping at the depth limit. Syntax errors are left to
 * the loader, which reports them. Returns 0, -E2BIG (err filled), -ENOMEM. */
static int yaml_depth_check(const char *buf, size_t len, struct policy_error *err)
{
	yaml_parser_t p;
	yaml_event_t ev;
	int depth = 0, rc = 0;
	bool end;

	if (!yaml_parser_initialize(&p))
		return -ENOMEM;
	yaml_parser_set_input_string(&p, (const unsigned char *)buf, len);
	while (yaml_parser_parse(&p, &ev)) {
		if (ev.type == YAML_SEQUENCE_START_EVENT || ev.type == YAML_MAPPING_START_EVENT) {
			if (++depth > POLICY_MAX_DEPTH + 1) {
				err->line = (int)ev.start_mark.line + 1;
				err->column = (int)ev.start_mark.column + 1;
				snprintf(err->msg, sizeof(err->msg), "document nested too deeply");
				rc = -E2BIG;
			}
		} else if (ev.type == YAML_SEQUENCE_END_EVENT || ev.type == YAML_MAPPING_END_EVENT) {
			depth--;
		}
		end = ev.type == YAML_STREAM_END_EVENT;
		yaml_event_delete(&ev);
		if (rc || end)
			break;
	}
	yaml_parser_delete(&p);
	return rc;
}

static int load_yaml(const char *buf, size_t len, doc_object_fn fn, void *arg,
		     struct policy_error *err)
{
	yaml_parser_t parser;
	yaml_document_t ydoc;
	struct yconv c = { .err = err };
	unsigned doc = 0;
	json_t *root;
	int rc = 0;

	rc = yaml_depth_check(buf, len, err);
	if (rc)
		return rc;
	if (!yaml_parser_initialize(&parser))
		return -ENOMEM;
	yaml_parser_set_input_string(&parser, (const unsigned char *)buf, len);
	for (;; doc++) {
		yaml_node_t *rn;

		if (!yaml_parser_load(&parser, &ydoc)) {
			err->line = (int)parser.problem_mark.line + 1;
			err->column = (int)parser.problem_mark.column + 1;
			snprintf(err->msg, sizeof(err->msg), "YAML: %s%s%s",
				 parser.context ? parser.context : "",
				 parser.context ? ": " : "",
				 parser.problem ? parser.problem : "syntax error");
			rc = parser.error == YAML_MEMORY_ERROR ? -ENOMEM : -EINVAL;
			break;
		}
		rn = yaml_document_get_root_node(&ydoc);
		if (!rn) { /* end of stream */
			yaml_document_delete(&ydoc);
			break;
		}
		c.doc = &ydoc;
		c.doc_nodes = 0;
		root = yconv_node(&c, rn, 0, &rc);
		yaml_document_delete(&ydoc);
		if (!root)
			break;
		rc = emit_root(root, doc, fn, arg, err);
		json_decref(root);
		if (rc) {
			if (!err->line)
				doc_locate(buf, len, doc, err->path, err);
			break;
		}
	}
	yaml_parser_delete(&parser);
	return rc;
}

static int load_json(const char *buf, size_t len, doc_object_fn fn, void *arg,
		     struct policy_error *err)
{
	size_t off = 0, line0 = 0, i;
	unsigned doc = 0;
	json_error_t je;
	json_t *root;
	int rc;

	for (;; doc++) {
		while (off < len && strchr(" \t\r\n", buf[off])) {
			if (buf[off] == '\n')
				line0++;
			off++;
		}
		if (off >= len)
			return 0;
		root = json_loadb(buf + off, len - off,
				  JSON_DISABLE_EOF_CHECK | JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &je);
		if (!root) {
			err->line = je.line + (int)line0;
			err->column = je.column;
			snprintf(err->msg, sizeof(err->msg), "JSON: %s", je.text);
			return -EINVAL;
		}
		rc = emit_root(root, doc, fn, arg, err);
		json_decref(root);
		if (rc) {
			/* Positions: a single JSON document is valid YAML flow. */
			if (!err->line && doc == 0)
				doc_locate(buf, len, 0, err->path, err);
			return rc;
		}
		for (i = off; i < off + je.position && i < len; i++)
			if (buf[i] == '\n')
				line0++;
		off += je.position;
	}
}

int doc_load(const char *buf, size_t len, bool json, doc_object_fn fn, void *arg,
	     struct policy_error *err)
{
	if (len > POLICY_MAX_FILE_BYTES) {
		snprintf(err->msg, sizeof(err->msg), "input is %zu bytes, over the %u byte limit",
			 len, POLICY_MAX_FILE_BYTES);
		return -E2BIG;
	}
	if (memchr(buf, '\0', len) && !json) {
		snprintf(err->msg, sizeof(err->msg), "input contains a NUL byte (binary file?)");
		return -EINVAL;
	}
	return json ? load_json(buf, len, fn, arg, err) : load_yaml(buf, len, fn, arg, err);
}

/* Decode the next JSON pointer segment of *p into @seg. */
static bool ptr_next(const char **p, char *seg, size_t cap)
{
	const char *s = *p;
	size_t n = 0;

	if (*s != '/')
		return false;
	for (s++; *s && *s != '/'; s++) {
		char ch = *s;

		if (ch == '~' && (s[1] == '0' || s[1] == '1'))
			ch = *++s == '0' ? '~' : '/';
		if (n + 1 < cap)
			seg[n++] = ch;
	}
	seg[n] = '\0';
	*p = s;
	return true;
}

void doc_locate(const char *buf, size_t len, unsigned doc, const char *path,
		struct policy_error *err)
{
	yaml_parser_t parser;
	yaml_document_t ydoc;
	yaml_node_t *n;
	unsigned i;
	char seg[256];
	const char *p = path;

	if (!yaml_parser_initialize(&parser))
		return;
	yaml_parser_set_input_string(&parser, (const unsigned char *)buf, len);
	for (i = 0;; i++) {
		if (!yaml_parser_load(&parser, &ydoc))
			goto out;
		n = yaml_document_get_root_node(&ydoc);
		if (!n) {
			yaml_document_delete(&ydoc);
			goto out;
		}
		if (i == doc)
			break;
		yaml_document_delete(&ydoc);
	}
	while (n && ptr_next(&p, seg, sizeof(seg))) {
		yaml_node_t *next = NULL;

		if (n->type == YAML_MAPPING_NODE) {
			yaml_node_pair_t *pr;

			for (pr = n->data.mapping.pairs.start; pr < n->data.mapping.pairs.top; pr++) {
				yaml_node_t *k = yaml_document_get_node(&ydoc, pr->key);

				if (k && k->type == YAML_SCALAR_NODE &&
				    !strcmp((const char *)k->data.scalar.value, seg)) {
					next = yaml_document_get_node(&ydoc, pr->value);
					break;
				}
			}
		} else if (n->type == YAML_SEQUENCE_NODE) {
			char *end;
			long idx = strtol(seg, &end, 10);

			if (!*end && idx >= 0 &&
			    idx < n->data.sequence.items.top - n->data.sequence.items.start)
				next = yaml_document_get_node(&ydoc,
							      n->data.sequence.items.start[idx]);
		}
		if (!next)
			break;
		n = next;
	}
	if (n) {
		err->line = (int)n->start_mark.line + 1;
		err->column = (int)n->start_mark.column + 1;
	}
	yaml_document_delete(&ydoc);
out:
	yaml_parser_delete(&parser);
}
