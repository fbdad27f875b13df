// SPDX-License-Identifier: GPL-2.0-only
/* Output helpers: a jansson value as a YAML document (libyaml emitter) and
 * the size of a compiled table in map bytes. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <yaml.h>

#include "internal.h"

static int emit(yaml_emitter_t *e, yaml_event_t *ev)
{
	return yaml_emitter_emit(e, ev) ? 0 : -EIO;
}

static int emit_scalar(yaml_emitter_t *e, const char *s, bool quote)
{
	yaml_event_t ev;

	if (!yaml_scalar_event_initialize(&ev, NULL, NULL, (yaml_char_t *)s, (int)strlen(s),
					  !quote, 1, quote ? YAML_DOUBLE_QUOTED_SCALAR_STYLE :
					  YAML_ANY_SCALAR_STYLE))
		return -ENOMEM;
	return emit(e, &ev);
}

/* Would @s read back as something other than this string? Besides the
 * YAML 1.2 core types, quote what YAML 1.1 readers resolve differently
 * (timestamps and other digit-led words, yes/no/on/off). */
static bool needs_quotes(const char *s)
{
	static const char *const words[] = { "y", "n", "yes", "no", "on", "off" };
	json_t *v;
	bool q;
	size_t i;

	if ((*s >= '0' && *s <= '9') || *s == '-' || *s == '+' || *s == '.')
		return true;
	for (i = 0; i < sizeof(words) / sizeof(words[0]); i++)
		if (!strcasecmp(s, words[i]))
			return true;
	v = doc_plain_scalar(s);
	q = !json_is_string(v);
	json_decref(v);
	return q;
}

static int emit_value(yaml_emitter_t *e, json_t *v)
{
	yaml_event_t ev;
	const char *k;
	json_t *x;
	size_t i;
	char buf[64];
	int rc;

	switch (json_typeof(v)) {
	case JSON_OBJECT:
		if (!yaml_mapping_start_event_initialize(&ev, NULL, NULL, 1, YAML_BLOCK_MAPPING_STYLE))
			return -ENOMEM;
		if ((rc = emit(e, &ev)))
			return rc;
		json_object_foreach(v, k, x) {
			if ((rc = emit_scalar(e, k, needs_quotes(k))) || (rc = emit_value(e, x)))
				return rc;
		}
		yaml_mapping_end_event_initialize(&ev);
		return emit(e, &ev);
	case JSON_ARRAY:
		if (!yaml_sequence_start_event_initialize(&ev, NULL, NULL, 1,
							  json_array_size(v) ? YAML_BLOCK_SEQUENCE_STYLE :
							  YAML_FLOW_SEQUENCE_STYLE))
			return -ENOMEM;
		if ((rc = emit(e, &ev)))
			return rc;
		json_array_foreach(v, i, x)
			if ((rc = emit_value(e, x)))
				return rc;
		yaml_sequence_end_event_initialize(&ev);
		return emit(e, &ev);
	case JSON_STRING:
		return emit_scalar(e, json_string_value(v), needs_quotes(json_string_value(v)));
	case JSON_INTEGER:
		snprintf(buf, sizeof(buf), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
		return emit_scalar(e, buf, false);
	case JSON_REAL:
		snprintf(buf, sizeof(buf), "%.17g", json_real_value(v));
		return emit_scalar(e, buf, false);
	case JSON_TRUE:
		return emit_scalar(e, "true", false);
	case JSON_FALSE:
		return emit_scalar(e, "false", false);
	default:
		return emit_scalar(e, "null", false);
	}
}

int policy_write_yaml(FILE *f, json_t *v)
{
	yaml_emitter_t e;
	yaml_event_t ev;
	int rc = -ENOMEM;

	if (!yaml_emitter_initialize(&e))
		return -ENOMEM;
	yaml_emitter_set_output_file(&e, f);
	yaml_emitter_set_unicode(&e, 1);
	yaml_emitter_set_width(&e, -1);
	if (!yaml_stream_start_event_initialize(&ev, YAML_UTF8_ENCODING))
		goto out;
	if ((rc = emit(&e, &ev)))
		goto out;
	rc = -ENOMEM;
	if (!yaml_document_start_event_initialize(&ev, NULL, NULL, NULL, 1))
		goto out;
	if ((rc = emit(&e, &ev)) || (rc = emit_value(&e, v)))
		goto out;
	yaml_document_end_event_initialize(&ev, 1);
	if ((rc = emit(&e, &ev)))
		goto out;
	yaml_stream_end_event_initialize(&ev);
	rc = emit(&e, &ev);
	if (!rc && !yaml_emitter_flush(&e))
		rc = -EIO;
out:
	yaml_emitter_delete(&e);
	return rc;
}

size_t policy_table_bytes(const struct policy_compiled *pc)
{
	if (!pc)
		return 0;
	return pc->n_entries * (sizeof(struct sng_route_key) + sizeof(struct sng_route_val)) +
	       pc->n_sets * sizeof(struct sng_set) + pc->n_backends * sizeof(struct sng_backend);
}
