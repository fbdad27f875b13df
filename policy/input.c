// SPDX-License-Identifier: GPL-2.0-only
/* The policy input set: reads files, directories and buffers of manifests,
 * checks each object's shape, and keeps the objects the compiler uses. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"

/* Kinds the compiler reads, with the API group they must come from, and
 * how many of each one input may hold. Gateways and TLSRoutes are capped
 * at what the maps could ever serve (a Gateway has at least one listener,
 * a route takes a route id), so an input of a million routes stops at the
 * first one too many, while it is read, not after a long compile; the
 * other kinds share POLICY_MAX_OBJECTS. */
static const struct {
	const char *kind, *group; /* group "" = core (apiVersion "v1") */
	bool cluster;             /* cluster-scoped: no namespace */
	unsigned max;             /* objects of this kind per input */
	const char *why;          /* what the cap is, for the error */
} known[] = {
	{ "GatewayClass", GW_GROUP, true, POLICY_MAX_OBJECTS, NULL },
	{ "Gateway", GW_GROUP, false, SNG_MAX_LISTENERS, "the listener table holds" },
	{ "TLSRoute", GW_GROUP, false, SNG_MAX_ROUTES, "the route table holds" },
	{ "ReferenceGrant", GW_GROUP, false, POLICY_MAX_OBJECTS, NULL },
	{ "BackendTLSPolicy", GW_GROUP, false, POLICY_MAX_OBJECTS, NULL },
	{ "Service", "", false, POLICY_MAX_OBJECTS, NULL },
	{ "Secret", "", false, POLICY_MAX_OBJECTS, NULL },
	{ "ConfigMap", "", false, POLICY_MAX_OBJECTS, NULL },
	{ "Namespace", "", true, POLICY_MAX_OBJECTS, NULL },
	{ "EndpointSlice", "discovery.k8s.io", false, POLICY_MAX_OBJECTS, NULL },
};
#define N_KNOWN (sizeof(known) / sizeof(known[0]))
_Static_assert(N_KNOWN <= sizeof(((struct policy_input *)0)->n_kind) / sizeof(unsigned),
	       "policy_input.n_kind too small for the kind table");

/* Budget of inputs created from now on (policy_input_default_budget). */
static uint64_t default_budget = POLICY_DEFAULT_MAX_INPUT_BYTES;

void policy_input_default_budget(uint64_t max)
{
	default_budget = max ? max : 1;
}

void policy_input_set_budget(struct policy_input *in, uint64_t max)
{
	if (in)
		in->max_bytes = max ? max : 1;
}

uint64_t policy_input_budget_left(const struct policy_input *in)
{
	return in && in->bytes < in->max_bytes ? in->max_bytes - in->bytes : 0;
}

/* @what of @len bytes would take @in over its budget: say so in @err. */
static int over_budget(const struct policy_input *in, const char *what, uint64_t len,
		       struct policy_error *err)
{
	snprintf(err->msg, sizeof(err->msg),
		 "%s %llu bytes, which takes the input to %llu bytes, over its budget of "
		 "%llu bytes (--max-input-bytes)", what, (unsigned long long)len,
		 (unsigned long long)(in->bytes + len), (unsigned long long)in->max_bytes);
	return -EINVAL;
}

/* Index of @kind (a pointer into known[]) in the table. */
static size_t kind_index(const char *kind)
{
	size_t i;

	for (i = 0; i < N_KNOWN; i++)
		if (known[i].kind == kind)
			break;
	return i;
}

struct policy_input *policy_input_new(void)
{
	struct policy_input *in = calloc(1, sizeof(*in));

	if (!in)
		return NULL;
	in->max_bytes = default_budget;
	in->notes = json_array();
	if (!in->notes) {
		free(in);
		errno = ENOMEM;
		return NULL;
	}
	return in;
}

void policy_input_free(struct policy_input *in)
{
	size_t i;

	if (!in)
		return;
	for (i = 0; i < in->n; i++)
		json_decref(in->objs[i].o);
	for (i = 0; i < in->n_files; i++)
		free(in->files[i]);
	free(in->files);
	free(in->objs);
	json_decref(in->notes);
	free(in);
}

json_t *policy_input_notes(const struct policy_input *in)
{
	return in ? in->notes : NULL;
}

struct add_ctx {
	struct policy_input *in;
	size_t first;   /* objects added before this file (rollback point) */
	unsigned file;
	const char *name;
	json_t *notes;  /* this file's notes, appended on success */
};

static int add_object(json_t *obj, unsigned doc, const char *path, void *arg,
		      struct policy_error *err)
{
	struct add_ctx *c = arg;
	struct policy_input *in = c->in;
	const char *kind, *api, *ns, *slash;
	struct pobj *p;
	size_t i, glen;
	int rc;

	kind = js(obj, "kind");
	api = js(obj, "apiVersion");
	if (!kind || !api) /* let the schema say what is wrong */
		return schema_check(obj, path, err);
	slash = strrchr(api, '/');
	glen = slash ? (size_t)(slash - api) : 0;
	for (i = 0; i < N_KNOWN; i++)
		if (!strcmp(kind, known[i].kind))
			break;
	if (i == N_KNOWN || strlen(known[i].group) != glen ||
	    strncmp(api, known[i].group, glen)) {
		note_add(c->notes, "%s: ignoring %s %s %s (not a kind snigate reads)", c->name,
			 api, kind, jsd(json_object_get(obj, "metadata"), "name", "(unnamed)"));
		return 0;
	}
	rc = schema_check(obj, path, err);
	if (rc)
		return rc;
	if (in->n >= POLICY_MAX_OBJECTS) {
		snprintf(err->path, sizeof(err->path), "%s", path);
		snprintf(err->msg, sizeof(err->msg), "more than %u objects in the input",
			 POLICY_MAX_OBJECTS);
		return -E2BIG;
	}
	if (in->n_kind[i] >= known[i].max) {
		snprintf(err->path, sizeof(err->path), "%s", path);
		snprintf(err->msg, sizeof(err->msg), "more than %u %s objects in the input%s%s%s",
			 known[i].max, known[i].kind, known[i].why ? " (" : "",
			 known[i].why ? known[i].why : "", known[i].why ? " at most that many)" : "");
		return -E2BIG;
	}
	if (in->n == in->cap) {
		size_t cap = in->cap ? in->cap * 2 : 256;
		struct pobj *n = realloc(in->objs, cap * sizeof(*n));

		if (!n) {
			snprintf(err->msg, sizeof(err->msg), "out of memory");
			return -ENOMEM;
		}
		in->objs = n;
		in->cap = cap;
	}
	p = &in->objs[in->n];
	memset(p, 0, sizeof(*p));
	ns = js(json_object_get(obj, "metadata"), "namespace");
	if (known[i].cluster)
		ns = "";
	else if (!ns)
		ns = "default";
	snprintf(p->ns, sizeof(p->ns), "%s", ns);
	snprintf(p->name, sizeof(p->name), "%s", js(json_object_get(obj, "metadata"), "name"));
	p->o = json_incref(obj);
	p->kind = known[i].kind;
	p->file = c->file;
	p->doc = doc;
	p->seq = (unsigned)in->n;
	in->n++;
	in->n_kind[i]++;
	return 0;
}

static bool looks_json(const char *name, const char *buf, size_t len)
{
	size_t n = strlen(name), i;

	if (n >= 5 && !strcmp(name + n - 5, ".json"))
		return true;
	for (i = 0; i < len; i++) {
		if (buf[i] == ' ' || buf[i] == '\t' || buf[i] == '\r' || buf[i] == '\n')
			continue;
		return buf[i] == '{' || buf[i] == '[';
	}
	return false;
}

int policy_input_add_buffer(struct policy_input *in, const char *name,
			    const char *buf, size_t len, struct policy_error *err)
{
	struct add_ctx c = { .in = in, .first = in->n, .name = name };
	struct policy_error local;
	char **files;
	size_t i;
	int rc;

	if (!err)
		err = &local;
	memset(err, 0, sizeof(*err));
	snprintf(err->file, sizeof(err->file), "%s", name);
	if (in->n_files >= POLICY_MAX_FILES) {
		snprintf(err->msg, sizeof(err->msg), "more than %u input files", POLICY_MAX_FILES);
		return -E2BIG;
	}
	if (len > policy_input_budget_left(in))
		return over_budget(in, "this input is", len, err);
	files = realloc(in->files, (in->n_files + 1) * sizeof(*files));
	if (!files)
		return -ENOMEM;
	in->files = files;
	c.file = (unsigned)in->n_files;
	c.notes = json_array();
	in->files[in->n_files] = strdup(name);
	if (!c.notes || !in->files[in->n_files]) {
		json_decref(c.notes);
		free(in->files[in->n_files]);
		snprintf(err->msg, sizeof(err->msg), "out of memory");
		return -ENOMEM;
	}
	in->n_files++;
	rc = doc_load(buf, len, looks_json(name, buf, len), add_object, &c, err);
	if (rc) {
		for (i = c.first; i < in->n; i++) {
			in->n_kind[kind_index(in->objs[i].kind)]--;
			json_decref(in->objs[i].o);
		}
		in->n = c.first;
		json_decref(c.notes);
		return rc == -E2BIG ? -EINVAL : rc;
	}
	json_array_extend(in->notes, c.notes);
	json_decref(c.notes);
	in->bytes += len;
	return 0;
}

static int add_file(struct policy_input *in, const char *path, struct policy_error *err)
{
	struct stat st;
	char *buf = NULL;
	size_t len = 0;
	ssize_t r;
	int fd, rc;

	/* this file's name, also when it fails before policy_input_add_buffer */
	snprintf(err->file, sizeof(err->file), "%s", path);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st)) {
		rc = -errno;
		goto ioerr;
	}
	if (st.st_size > (off_t)POLICY_MAX_FILE_BYTES) {
		close(fd);
		snprintf(err->msg, sizeof(err->msg), "file is %lld bytes, over the %u byte limit",
			 (long long)st.st_size, POLICY_MAX_FILE_BYTES);
		return -EINVAL;
	}
	/* before reading it: a file over the budget costs one stat() */
	if ((uint64_t)st.st_size > policy_input_budget_left(in)) {
		close(fd);
		return over_budget(in, "file is", (uint64_t)st.st_size, err);
	}
	buf = malloc((size_t)st.st_size + 1);
	if (!buf) {
		rc = -ENOMEM;
		goto ioerr;
	}
	while (len < (size_t)st.st_size) {
		r = read(fd, buf + len, (size_t)st.st_size - len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			rc = -errno;
			goto ioerr;
		}
		if (r == 0)
			break;
		len += (size_t)r;
	}
	close(fd);
	buf[len] = '\0';
	rc = policy_input_add_buffer(in, path, buf, len, err);
	free(buf);
	return rc;
ioerr:
	if (fd >= 0)
		close(fd);
	free(buf);
	snprintf(err->msg, sizeof(err->msg), "cannot read: %s", strerror(-rc));
	return rc;
}

static int manifest_filter(const struct dirent *d)
{
	size_t n = strlen(d->d_name);

	if (d->d_name[0] == '.')
		return 0;
	return (n > 5 && !strcmp(d->d_name + n - 5, ".yaml")) ||
	       (n > 4 && !strcmp(d->d_name + n - 4, ".yml")) ||
	       (n > 5 && !strcmp(d->d_name + n - 5, ".json"));
}

int policy_input_add_path(struct policy_input *in, const char *path,
			  struct policy_error *err)
{
	struct policy_error local;
	struct dirent **ents = NULL;
	struct stat st;
	char full[4096];
	int n, i, rc = 0;

	if (!err)
		err = &local;
	memset(err, 0, sizeof(*err));
	snprintf(err->file, sizeof(err->file), "%s", path);
	if (stat(path, &st)) {
		rc = -errno;
		snprintf(err->msg, sizeof(err->msg), "cannot read: %s", strerror(errno));
		return rc;
	}
	if (!S_ISDIR(st.st_mode))
		return add_file(in, path, err);
	n = scandir(path, &ents, manifest_filter, alphasort);
	if (n < 0) {
		rc = -errno;
		snprintf(err->msg, sizeof(err->msg), "cannot list directory: %s", strerror(errno));
		return rc;
	}
	for (i = 0; i < n; i++) {
		if (!rc) {
			snprintf(full, sizeof(full), "%s/%s", path, ents[i]->d_name);
			if (!stat(full, &st) && S_ISREG(st.st_mode))
				rc = add_file(in, full, err);
		}
		free(ents[i]);
	}
	free(ents);
	return rc;
}
