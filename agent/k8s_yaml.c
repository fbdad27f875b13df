// SPDX-License-Identifier: GPL-2.0-only
/* A small YAML-to-JSON loader on libyaml, for kubeconfig files and for the
 * tests that read the deploy/ manifests. Not the policy compiler's parser. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "k8s_internal.h"

#define YAML_MAX_DEPTH 64

/* A plain (unquoted) scalar as JSON: int, bool, null, else string. */
static json_t *plain_scalar(const char *s, size_t len)
{
	char *end;
	long long v;

	if (!len || !strcmp(s, "~") || !strcmp(s, "null") || !strcmp(s, "Null"))
		return json_null();
	if (!strcmp(s, "true") || !strcmp(s, "True"))
		return json_true();
	if (!strcmp(s, "false") || !strcmp(s, "False"))
		return json_false();
	if ((s[0] >= '0' && s[0] <= '9') || (s[0] == '-' && len > 1)) {
		errno = 0;
		v = strtoll(s, &end, 10);
		if (!errno && *end == '\0')
			return json_integer(v);
	}
	return json_stringn(s, len);
}

/* Attach @v (stolen) to @parent: append to an array or set @key of an object. */
static int attach(json_t *parent, char **key, json_t *v)
{
	int rc;

	if (json_is_array(parent))
		return json_array_append_new(parent, v);
	rc = json_object_set_new(parent, *key, v);
	free(*key);
	*key = NULL;
	return rc;
}

json_t *k8s_yaml_load_file(const char *path, char *err, size_t errlen)
{
	json_t *docs = NULL, *stack[YAML_MAX_DEPTH];
	char *keys[YAML_MAX_DEPTH] = { 0 };
	yaml_parser_t p;
	yaml_event_t ev;
	int depth = 0, done = 0, i;
	FILE *f;

	f = fopen(path, "r");
	if (!f) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return NULL;
	}
	if (!yaml_parser_initialize(&p)) {
		fclose(f);
		snprintf(err, errlen, "%s: out of memory", path);
		return NULL;
	}
	yaml_parser_set_input_file(&p, f);
	docs = json_array();
	while (!done) {
		json_t *v = NULL;
		int open = 0;

		if (!yaml_parser_parse(&p, &ev)) {
			snprintf(err, errlen, "%s:%zu:%zu: %s", path,
				 p.problem_mark.line + 1, p.problem_mark.column + 1,
				 p.problem ? p.problem : "YAML error");
			goto fail;
		}
		switch (ev.type) {
		case YAML_STREAM_END_EVENT:
			done = 1;
			break;
		case YAML_DOCUMENT_START_EVENT:
			stack[0] = docs;
			depth = 1;
			break;
		case YAML_ALIAS_EVENT:
			snprintf(err, errlen, "%s:%zu:%zu: YAML aliases are not supported",
				 path, ev.start_mark.line + 1, ev.start_mark.column + 1);
			yaml_event_delete(&ev);
			goto fail;
		case YAML_SCALAR_EVENT: {
			const char *s = (const char *)ev.data.scalar.value;
			size_t n = ev.data.scalar.length;
			json_t *top = stack[depth - 1];

			if (json_is_object(top) && !keys[depth - 1]) {
				keys[depth - 1] = strndup(s, n);
				break;
			}
			if (ev.data.scalar.style == YAML_PLAIN_SCALAR_STYLE && !ev.data.scalar.tag)
				v = plain_scalar(s, n);
			else
				v = json_stringn(s, n);
			break;
		}
		case YAML_SEQUENCE_START_EVENT:
			v = json_array();
			open = 1;
			break;
		case YAML_MAPPING_START_EVENT:
			v = json_object();
			open = 1;
			break;
		case YAML_SEQUENCE_END_EVENT:
		case YAML_MAPPING_END_EVENT:
			depth--;
			break;
		default:
			break;
		}
		if (v) {
			json_t *top = stack[depth - 1];

			if (json_is_object(top) && !keys[depth - 1]) {
				/* complex (non-scalar) mapping keys: not in kubeconfig */
				json_decref(v);
				snprintf(err, errlen, "%s:%zu:%zu: non-scalar mapping key",
					 path, ev.start_mark.line + 1, ev.start_mark.column + 1);
				yaml_event_delete(&ev);
				goto fail;
			}
			if (open && depth >= YAML_MAX_DEPTH) {
				json_decref(v);
				snprintf(err, errlen, "%s:%zu:%zu: nesting deeper than %d",
					 path, ev.start_mark.line + 1, ev.start_mark.column + 1,
					 YAML_MAX_DEPTH);
				yaml_event_delete(&ev);
				goto fail;
			}
			if (open)
				json_incref(v);
			attach(top, &keys[depth - 1], v);
			if (open)
				stack[depth++] = v;
			if (open)
				json_decref(v);
		}
		yaml_event_delete(&ev);
	}
	yaml_parser_delete(&p);
	fclose(f);
	return docs;
fail:
	for (i = 0; i < YAML_MAX_DEPTH; i++)
		free(keys[i]);
	yaml_parser_delete(&p);
	fclose(f);
	json_decref(docs);
	return NULL;
}
