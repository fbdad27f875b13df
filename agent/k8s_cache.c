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

struct policy_input *k8s_cache_to_input(struct k8s_cache *c, size_t *n_objs)
{
	struct policy_input *in = policy_input_new();
	struct policy_error err;
	const char *key;
	size_t n = 0;
	json_t *o;
	int i;

	if (!in)
		return NULL;
	pthread_mutex_lock(&c->lock);
	for (i = 0; i < K8S_RES_COUNT; i++) {
		json_object_foreach(c->objs[i], key, o) {
			char name[512];
			char *s = json_dumps(o, JSON_COMPACT);
			int rc;

			if (!s) {
				pthread_mutex_unlock(&c->lock);
				policy_input_free(in);
				errno = ENOMEM;
				return NULL;
			}
			snprintf(name, sizeof(name), "k8s:%s/%s", k8s_resources[i].kind, key);
			memset(&err, 0, sizeof(err));
			rc = policy_input_add_buffer(in, name, s, strlen(s), &err);
			free(s);
			if (rc == -ENOMEM) {
				pthread_mutex_unlock(&c->lock);
				policy_input_free(in);
				errno = ENOMEM;
				return NULL;
			}
			/* A malformed object is skipped; the others still compile. */
			if (rc)
				log_warn("k8s: %s skipped: %s%s%s", name, err.path,
					 *err.path ? ": " : "", err.msg);
			else
				n++;
		}
	}
	pthread_mutex_unlock(&c->lock);
	if (n_objs)
		*n_objs = n;
	return in;
}
