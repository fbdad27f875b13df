// SPDX-License-Identifier: GPL-2.0-only
/* The object cache of the Kubernetes source: every listed/watched object by
 * resource and key, change detection that ignores status-only updates. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "k8s_internal.h"
#include "log.h"

int k8s_cache_init(struct k8s_cache *c)
{
	int i;

	memset(c, 0, sizeof(*c));
	pthread_mutex_init(&c->lock, NULL);
	c->warned = json_object();
	if (!c->warned)
		return -ENOMEM;
	for (i = 0; i < K8S_RES_COUNT; i++) {
		c->objs[i] = json_object();
		if (!c->objs[i])
			return -ENOMEM;
	}
	return 0;
}

void k8s_cache_free(struct k8s_cache *c)
{
	int i;

	for (i = 0; i < K8S_RES_COUNT; i++)
		json_decref(c->objs[i]);
	json_decref(c->warned);
	pthread_mutex_destroy(&c->lock);
	memset(c, 0, sizeof(*c));
}

int k8s_obj_key(const json_t *obj, char *key, size_t len)
{
	json_t *md = json_object_get(obj, "metadata");
	const char *ns = json_string_value(json_object_get(md, "namespace"));
	const char *name = json_string_value(json_object_get(md, "name"));
	int n;

	if (!name || !*name)
		return -EINVAL;
	n = snprintf(key, len, "%s/%s", ns ? ns : "", name);
	return n < 0 || (size_t)n >= len ? -EINVAL : 0;
}

/* What the compiler sees of an object: everything but status,
 * metadata.resourceVersion and metadata.managedFields. New reference. */
static json_t *semantic_view(json_t *obj)
{
	json_t *v = json_copy(obj), *md;

	if (!v)
		return NULL;
	json_object_del(v, "status");
	md = json_copy(json_object_get(v, "metadata"));
	if (md) {
		json_object_del(md, "resourceVersion");
		json_object_del(md, "managedFields");
		json_object_set_new(v, "metadata", md);
	}
	return v;
}

static int semantic_equal(json_t *a, json_t *b)
{
	json_t *va = semantic_view(a), *vb = semantic_view(b);
	int eq = va && vb && json_equal(va, vb);

	json_decref(va);
	json_decref(vb);
	return eq;
}

int k8s_cache_put(struct k8s_cache *c, enum k8s_res_id id, json_t *obj)
{
	char key[400];
	json_t *old;
	int changed;

	json_object_del(json_object_get(obj, "metadata"), "managedFields");
	if (k8s_obj_key(obj, key, sizeof(key))) {
		json_decref(obj);
		return -EINVAL;
	}
	pthread_mutex_lock(&c->lock);
	old = json_object_get(c->objs[id], key);
	changed = !old || !semantic_equal(old, obj);
	json_object_set_new(c->objs[id], key, obj);
	if (changed)
		c->changes++;
	pthread_mutex_unlock(&c->lock);
	return changed;
}

int k8s_cache_del(struct k8s_cache *c, enum k8s_res_id id, const char *key)
{
	int removed;

	pthread_mutex_lock(&c->lock);
	removed = json_object_del(c->objs[id], key) == 0;
	if (removed)
		c->changes++;
	pthread_mutex_unlock(&c->lock);
	return removed;
}

int k8s_cache_replace(struct k8s_cache *c, enum k8s_res_id id, json_t *objs)
{
	const char *key;
	json_t *o, *old;
	int changed;

	pthread_mutex_lock(&c->lock);
	old = c->objs[id];
	changed = json_object_size(old) != json_object_size(objs);
	json_object_foreach(objs, key, o) {
		json_t *prev;

		if (changed)
			break;
		prev = json_object_get(old, key);
		changed = !prev || !semantic_equal(prev, o);
	}
	c->objs[id] = objs;
	if (changed)
		c->changes++;
	pthread_mutex_unlock(&c->lock);
	json_decref(old);
	return changed;
}

json_t *k8s_cache_get(struct k8s_cache *c, enum k8s_res_id id, const char *key)
{
	json_t *o;

	pthread_mutex_lock(&c->lock);
	o = json_deep_copy(json_object_get(c->objs[id], key));
	pthread_mutex_unlock(&c->lock);
	return o;
}

/* Add one object as its own buffer. 0, -ENOMEM, or another -errno when the
 * compiler refused it (logged, skipped). */
static int add_one(struct k8s_cache *c, struct policy_input *in, enum k8s_res_id id,
		   const char *key, json_t *o)
{
	const char *rv = json_string_value(json_object_get(json_object_get(o, "metadata"),
							    "resourceVersion"));
	const char *seen;
	struct policy_error err;
	char name[512];
	char *s = json_dumps(o, JSON_COMPACT);
	int rc;

	if (!s)
		return -ENOMEM;
	snprintf(name, sizeof(name), "k8s:%s/%s", k8s_resources[id].kind, key);
	memset(&err, 0, sizeof(err));
	rc = policy_input_add_buffer(in, name, s, strlen(s), &err);
	free(s);
	if (!rc || rc == -ENOMEM)
		return rc;
	/* Once per object version, not on every compile. */
	seen = json_string_value(json_object_get(c->warned, name));
	if (!seen || !rv || strcmp(seen, rv)) {
		log_warn("k8s: %s skipped: %s%s%s", name, err.path, *err.path ? ": " : "", err.msg);
		json_object_set_new(c->warned, name, json_string(rv ? rv : ""));
	}
	return rc;
}

/* Add @n objects (@keys/@objs) of @id as one kind: List buffer: one parse
 * and one input "file" per chunk keeps big clusters fast and under the
 * compiler's file limit. When the compiler refuses the chunk, add its
 * objects one by one so that only the malformed ones are skipped. Returns
 * the number added or -ENOMEM. */
static long add_chunk(struct k8s_cache *c, struct policy_input *in, enum k8s_res_id id,
		      const char **keys, json_t **objs, size_t n)
{
	struct policy_error err;
	json_t *list, *items;
	char name[128];
	size_t i;
	long added = 0;
	char *s;
	int rc;

	items = json_array();
	list = json_pack("{s:s, s:s, s:o}", "apiVersion", "v1", "kind", "List", "items", items);
	if (!list)
		return -ENOMEM;
	for (i = 0; i < n; i++)
		json_array_append(items, objs[i]);
	s = json_dumps(list, JSON_COMPACT);
	json_decref(list);
	if (!s)
		return -ENOMEM;
	snprintf(name, sizeof(name), "k8s:%s", k8s_resources[id].plural);
	memset(&err, 0, sizeof(err));
	rc = policy_input_add_buffer(in, name, s, strlen(s), &err);
	free(s);
	if (!rc)
		return (long)n;
	if (rc == -ENOMEM)
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		rc = add_one(c, in, id, keys[i], objs[i]);
		if (rc == -ENOMEM)
			return -ENOMEM;
		added += !rc;
	}
	return added;
}

#define INPUT_CHUNK 1000

struct policy_input *k8s_cache_to_input(struct k8s_cache *c, size_t *n_objs)
{
	struct policy_input *in = policy_input_new();
	const char *keys[INPUT_CHUNK];
	json_t *objs[INPUT_CHUNK], *o;
	const char *key;
	size_t total = 0, k;
	long r;
	int i;

	if (!in)
		return NULL;
	pthread_mutex_lock(&c->lock);
	for (i = 0; i < K8S_RES_COUNT; i++) {
		k = 0;
		json_object_foreach(c->objs[i], key, o) {
			keys[k] = key;
			objs[k++] = o;
			if (k < INPUT_CHUNK)
				continue;
			r = add_chunk(c, in, i, keys, objs, k);
			if (r < 0)
				goto nomem;
			total += (size_t)r;
			k = 0;
		}
		if (k) {
			r = add_chunk(c, in, i, keys, objs, k);
			if (r < 0)
				goto nomem;
			total += (size_t)r;
		}
	}
	pthread_mutex_unlock(&c->lock);
	if (n_objs)
		*n_objs = total;
	return in;
nomem:
	pthread_mutex_unlock(&c->lock);
	policy_input_free(in);
	errno = ENOMEM;
	return NULL;
}
