/* SPDX-License-Identifier: GPL-2.0-only */
/* --status-file: the compiled status (same bytes as `snigate check -o json`)
 * written atomically, temp file + rename, on every (re)compile. */
#ifndef SNIGATE_STATUSFILE_H
#define SNIGATE_STATUSFILE_H

#include <jansson.h>

/* Serialise @status as `snigate check -o json` prints it (2-space indent,
 * trailing newline). Returns a malloc'd string or NULL (ENOMEM). */
char *statusfile_render(json_t *status);

/* Write @status to @path atomically: a temporary file in the same
 * directory (mode 0644), fsync, rename over @path, fsync of the directory.
 * Readers see the old or the new document, never a partial one. Returns 0
 * or -errno (logged with the path); on failure @path is untouched. */
int statusfile_write(const char *path, json_t *status);

/* The agent's --status-file: set once at start (NULL: none; the string must
 * outlive the agent), then every (re)compile, accepted or rejected, calls
 * statusfile_update() with the status to publish. update is a no-op
 * returning 0 without a path; else statusfile_write()'s return. Not
 * thread-safe: call from the thread that compiles. */
void statusfile_set_path(const char *path);
int statusfile_update(json_t *status);

/* A rejected reload (unreadable manifests, compile or apply failure): the
 * file keeps describing what is served, @serving (the status of the policy
 * still in force; NULL before any: an empty List), with the failure added
 * as annotations of the List, which `snigate check` never emits:
 *   metadata.annotations["snigate.io/reload"]       "rejected"
 *   metadata.annotations["snigate.io/reload-error"] @error (file:line:col: why)
 *   metadata.annotations["snigate.io/reload-time"]  RFC 3339 UTC
 * The next accepted (re)compile writes the plain status again. Same
 * returns and thread rules as statusfile_update(). */
int statusfile_update_failed(json_t *serving, const char *error);

#endif /* SNIGATE_STATUSFILE_H */
