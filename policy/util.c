// SPDX-License-Identifier: GPL-2.0-only
/* Small helpers of the policy compiler: NULL-safe jansson accessors, notes
 * and Kubernetes condition objects. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"

const char *js(json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

const char *jsd(json_t *o, const char *key, const char *def)
{
	const char *s = js(o, key);

	return s ? s : def;
}

json_t *jpath(json_t *o, const char *dotted)
{
	char seg[128];
	const char *p = dotted, *dot;
	size_t n;

	while (o && *p) {
		dot = strchr(p, '.');
		n = dot ? (size_t)(dot - p) : strlen(p);
		if (n >= sizeof(seg))
			return NULL;
		memcpy(seg, p, n);
		seg[n] = '\0';
		o = json_object_get(o, seg);
		p += n + (dot ? 1 : 0);
	}
	return o;
}

json_int_t jgen(json_t *obj)
{
	json_t *g = jpath(obj, "metadata.generation");

	return json_is_integer(g) ? json_integer_value(g) : 1;
}

/* A string that is valid UTF-8 even when %.Ns cut a character in two:
 * non-ASCII bytes become '?' if the text does not validate. */
static json_t *safe_string(char *s)
{
	json_t *v = json_string(s);
	char *p;

	if (v)
		return v;
	for (p = s; *p; p++)
		if ((unsigned char)*p >= 0x80)
			*p = '?';
	return json_string(s);
}

void note_add(json_t *notes, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	json_array_append_new(notes, safe_string(buf));
}

void cond_add(json_t *conds, const char *type, bool status, const char *reason,
	      json_int_t gen, const char *fmt, ...)
{
	char msg[2048];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	json_array_append_new(conds,
			      json_pack("{s:s, s:s, s:s, s:o, s:I, s:s}", "type", type, "status",
					status ? "True" : "False", "reason", reason, "message",
					safe_string(msg), "observedGeneration", (json_int_t)gen,
					"lastTransitionTime", POLICY_LTT));
}
