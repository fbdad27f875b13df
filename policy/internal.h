/* SPDX-License-Identifier: GPL-2.0-only */
/* Private declarations shared by the policy compiler's files: the parsed
 * input, document loading, schema checks, hostnames and status helpers. */
#ifndef SNIGATE_POLICY_INTERNAL_H
#define SNIGATE_POLICY_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <jansson.h>

#include "policy.h"

/* Input limits: bad or hostile input must fail cleanly, never exhaust us. */
#define POLICY_MAX_FILE_BYTES (256u << 20) /* one file or buffer */
#define POLICY_MAX_NODES (16u << 20)       /* YAML/JSON nodes per file */
#define POLICY_MAX_DEPTH 64                /* nesting of one document */
#define POLICY_MAX_OBJECTS (1u << 20)      /* objects per input set */
#define POLICY_MAX_FILES 65536

#define GW_GROUP "gateway.networking.k8s.io"

/* One Kubernetes object of the input. */
struct pobj {
	json_t *o;          /* the object (owned reference) */
	const char *kind;   /* points into o */
	char ns[64];        /* "default" when metadata.namespace is absent */
	char name[254];
	unsigned file;      /* index into policy_input.files */
	unsigned doc;       /* 0-based document index in that file */
	unsigned seq;       /* insertion order */
};

struct policy_input {
	struct pobj *objs;
	size_t n, cap;
	char **files;
	size_t n_files;
	json_t *notes;
	uint64_t bytes;         /* input bytes accepted so far */
	uint64_t max_bytes;     /* budget on bytes (policy_input_set_budget) */
	unsigned n_kind[16];    /* objects per kind (input.c's table order) */
};

/* Called for each object (top level, or each item of a kind: List) of a
 * loaded document. @path is the object's JSON pointer inside the document
 * ("" or "/items/3"). Return 0, or -EINVAL with err->msg/path set. */
typedef int (*doc_object_fn)(json_t *obj, unsigned doc, const char *path,
			     void *arg, struct policy_error *err);

/* Parse @buf (YAML stream or JSON values) into jansson documents and call
 * @fn on every object. Fills err->line/column/msg on syntax errors.
 * Returns 0 or -EINVAL / -ENOMEM / -E2BIG. */
int doc_load(const char *buf, size_t len, bool json, doc_object_fn fn, void *arg,
	     struct policy_error *err);
/* Resolve a plain YAML scalar as the YAML 1.2 core schema does (null,
 * bool, int, float, else string). New reference, NULL on bad UTF-8. */
json_t *doc_plain_scalar(const char *s);
/* Find the line/column (1-based) of JSON pointer @path in document @doc of
 * @buf, re-parsing it with libyaml (JSON is a YAML subset). Leaves @err
 * untouched when it cannot tell. */
void doc_locate(const char *buf, size_t len, unsigned doc, const char *path,
		struct policy_error *err);

/* Check one object's shape (types, required fields, ranges) for the kinds
 * the compiler reads. @base is the object's path prefix. Returns 0 or
 * -EINVAL with err->path and err->msg set. Unknown kinds pass. */
int schema_check(json_t *obj, const char *base, struct policy_error *err);

/* ---- hostnames ---------------------------------------------------------- */

/* Validate an API hostname (precise or "*." wildcard, lowercase LDH, no IP).
 * Returns true when valid. */
bool host_valid(const char *h);
/* True when @h is a wildcard ("*.suffix"). */
static inline bool host_is_wild(const char *h) { return h[0] == '*'; }
/* Does the hostname set @outer (""= everything) contain @inner (""= all)? */
bool host_covers(const char *outer, const char *inner);
/* Intersect listener hostname @l ("" none) with route hostname @r ("" none)
 * into @out. Returns true when they intersect. */
bool host_intersect(const char *l, const char *r, char *out);
/* Specificity rank: larger is more specific (exact > longer wildcard > "").
 * Equals the route-key name length in bytes, so it orders like the trie. */
int host_rank(const char *h);
/* Fill the route-table key for API hostname @h ("" = bind only). */
void host_key(struct sng_route_key *k, uint16_t bind, const char *h);

/* ---- status helpers ----------------------------------------------------- */

/* Fixed lastTransitionTime so that output is reproducible (see README). */
#define POLICY_LTT "1970-01-01T00:00:00Z"
/* Append a condition {type, status, reason, message, observedGeneration,
 * lastTransitionTime} to array @conds. */
void cond_add(json_t *conds, const char *type, bool status, const char *reason,
	      json_int_t gen, const char *fmt, ...) __attribute__((format(printf, 6, 7)));

/* ---- small json accessors (NULL-safe) ------------------------------------ */
const char *js(json_t *o, const char *key);              /* string or NULL */
const char *jsd(json_t *o, const char *key, const char *def); /* or @def */
json_t *jpath(json_t *o, const char *dotted);            /* "spec.tls.mode" */
json_int_t jgen(json_t *obj);                            /* metadata.generation, default 1 */

/* Add a formatted note to array @notes. */
void note_add(json_t *notes, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif /* SNIGATE_POLICY_INTERNAL_H */
