/* SPDX-License-Identifier: GPL-2.0-only */
/* Watch the -f manifest paths with inotify and say, after a quiet time,
 * when they changed (debounced), so `snigate run` reloads. */
#ifndef SNIGATE_FILEWATCH_H
#define SNIGATE_FILEWATCH_H

#include <stdbool.h>
#include <stddef.h>

/*
 * What is watched, per -f path P:
 *  - P a directory: its entries (*.yaml, *.yml, *.json, and "..data", the
 *    symlink a Kubernetes ConfigMap/Secret volume swaps atomically), and
 *    P's parent for P itself being replaced, renamed or removed;
 *  - P a file (or missing): its parent directory, for P's name only, so
 *    editors that write a temporary file and rename it over P, in-place
 *    writes, deletion and re-creation are all seen.
 * A change is reported once no event came for FILEWATCH_DEBOUNCE_MS and no
 * manifest is still open for writing (up to FILEWATCH_OPEN_MAX_MS).
 * Watches are re-added after each change, so a replaced directory is
 * followed. Events for the @ignore paths (the status file, the access log:
 * the agent's own writes) never count.
 */

/* Quiet time after the last event before a change is reported, and the
 * longest a change waits under a steady stream of events. */
#define FILEWATCH_DEBOUNCE_MS 150
#define FILEWATCH_MAX_DELAY_MS 1000
/* A manifest seen modified but not yet closed by its writer holds the
 * report back (half-written files are not read), this long at most. */
#define FILEWATCH_OPEN_MAX_MS 3000

struct filewatch;

/* Watch @paths (@n of them; copied). @ignore: NULL-terminated list or NULL.
 * NULL + errno on failure (inotify limits: logged). */
struct filewatch *filewatch_new(const char *const *paths, size_t n, const char *const *ignore);
/* One pollable fd (an epoll set of the inotify fd and the debounce timer):
 * readable when filewatch_dispatch() has work. */
int filewatch_fd(const struct filewatch *fw);
/* Read what is pending; true once a change has been quiet for
 * FILEWATCH_DEBOUNCE_MS (then reload). Never blocks. */
bool filewatch_dispatch(struct filewatch *fw);
/* Free; accepts NULL. */
void filewatch_free(struct filewatch *fw);

#endif /* SNIGATE_FILEWATCH_H */
