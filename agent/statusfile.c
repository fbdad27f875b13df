// SPDX-License-Identifier: GPL-2.0-only
/* Atomic status-file writes: mkstemp next to the target, write, fsync,
 * fchmod, rename, then fsync the directory so the rename is durable. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <time.h>
#include <sys/stat.h>

#include "log.h"
#include "statusfile.h"

char *statusfile_render(json_t *status)
{
	char *s = json_dumps(status, JSON_INDENT(2)), *out;
	size_t n;

	if (!s)
		return NULL;
	n = strlen(s);
	out = realloc(s, n + 2);
	if (!out) {
		free(s);
		return NULL;
	}
	out[n] = '\n';
	out[n + 1] = '\0';
	return out;
}

static int write_all(int fd, const char *p, size_t n)
{
	ssize_t w;

	while (n) {
		w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -errno;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static const char *statusfile_path;

void statusfile_set_path(const char *path)
{
	statusfile_path = path;
}

int statusfile_update(json_t *status)
{
	return statusfile_path ? statusfile_write(statusfile_path, status) : 0;
}

int statusfile_update_failed(json_t *serving, const char *error)
{
	json_t *doc, *md, *ann;
	char ts[32];
	struct tm tm;
	time_t now = time(NULL);
	int err;

	if (!statusfile_path)
		return 0;
	doc = serving ? json_deep_copy(serving) :
			json_pack("{s:s, s:s, s:[]}", "apiVersion", "v1", "kind", "List", "items");
	if (!doc)
		return -ENOMEM;
	gmtime_r(&now, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &tm);
	md = json_object_get(doc, "metadata");
	if (!json_is_object(md)) {
		md = json_object();
		json_object_set_new(doc, "metadata", md);
	}
	ann = json_pack("{s:s, s:s, s:s}", "snigate.io/reload", "rejected",
			"snigate.io/reload-error", error ? error : "unknown", "snigate.io/reload-time", ts);
	if (!md || !ann) {
		json_decref(ann);
		json_decref(doc);
		return -ENOMEM;
	}
	json_object_set_new(md, "annotations", ann);
	err = statusfile_write(statusfile_path, doc);
	json_decref(doc);
	return err;
}

int statusfile_write(const char *path, json_t *status)
{
	char *doc = NULL, *tmp = NULL, *dcopy = NULL;
	int fd = -1, dfd, err;

	doc = statusfile_render(status);
	if (!doc || asprintf(&tmp, "%s.tmp.XXXXXX", path) < 0) {
		tmp = NULL;
		err = -ENOMEM;
		goto out;
	}
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0) {
		err = -errno;
		goto out;
	}
	err = write_all(fd, doc, strlen(doc));
	if (!err && fchmod(fd, 0644))
		err = -errno;
	if (!err && fsync(fd))
		err = -errno;
	if (close(fd) && !err)
		err = -errno;
	fd = -1;
	if (!err && rename(tmp, path))
		err = -errno;
	if (err) {
		unlink(tmp);
		goto out;
	}
	dcopy = strdup(path);
	if (dcopy) {
		dfd = open(dirname(dcopy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (dfd >= 0) {
			fsync(dfd);
			close(dfd);
		}
	}
out:
	if (fd >= 0) {
		close(fd);
		unlink(tmp);
	}
	if (err)
		log_err("status file %s: %s", path, strerror(-err));
	free(dcopy);
	free(tmp);
	free(doc);
	return err;
}
