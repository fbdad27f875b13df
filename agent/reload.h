/* SPDX-License-Identifier: GPL-2.0-only */
/* The one policy (re)load pipeline, used at startup, on SIGHUP, on -f file
 * changes and by the Kubernetes source: compile, swap maps, serve. */
#ifndef SNIGATE_RELOAD_H
#define SNIGATE_RELOAD_H

#include <stdbool.h>
#include <stddef.h>
#include <jansson.h>

#include "listener.h"
#include "policy.h"
#include "worker.h"

/*
 * reload_apply() in order (any failure before step 5 rejects the new policy:
 * the reason is logged, --status-file records it, the old policy serves on):
 *  1. policy_compile() of the input.
 *  2. Bind ids made stable: an address:port keeps the id it had, a new one
 *     gets an id not used by the serving policy (nor recently), so sockets
 *     and queued connections of a bind never see another bind's table.
 *  3. The Terminate TLS contexts built anew (certificates re-read from the
 *     compiled Secrets: rotation), session-ticket keys carried over.
 *  4. Listening sockets opened (bound, listening, not yet accepted from) for
 *     every new address:port, one per worker: a port that cannot be bound
 *     rejects the reload before anything changed.
 *  5. The snapshot staged for the map generation about to be written, then
 *     mapsync_apply(): the new table is written to the inactive generation
 *     and one sng_config update flips every lookup to it (lookups straddling
 *     the flip retry, see lookup.c), then the old generation is deleted.
 *  6. The snapshot installed; every worker adopts the new sockets and closes
 *     those of removed binds (worker_post, waited for).
 *  7. statusfile_update() with the new status.
 * Established connections are never touched: one whose route or listener
 * was removed keeps flowing until it ends (its backend was picked at
 * connect time); a Terminate connection keeps the TLS context of the
 * snapshot it started under. Reloads are serialised by a lock.
 */

/* Set once, before the first reload. */
struct reload_options {
	const char *const *paths;   /* -f paths (the strings must outlive the agent);
				     * NULL for the Kubernetes source */
	size_t n_paths;
	struct policy_options po;   /* copied; its strings must outlive the agent */
};

/* Remember @o. 0 or -errno. */
int reload_init(const struct reload_options *o);

/* Read every -f path into a new input (*@in, caller owns). On an input error
 * writes "file:line:col: /json/path: message" (as much as known) into @why
 * and returns -EINVAL, -ENOENT, -EISDIR, -EACCES (bad input) or another
 * -errno; nothing is logged (the caller knows the context). */
int reload_read_paths(struct policy_input **in, char *why, size_t why_len);

/* The pipeline above on @in (consumed in every case). @origin names the
 * trigger in logs ("startup", "SIGHUP", "file change", "kubernetes").
 * @status, if not NULL, gets a new reference to the compiled status on
 * success (the caller json_decref()s it). Returns 0 when the new policy
 * serves, else -errno (rejected, logged, status file updated); -ESHUTDOWN
 * once reload_stop_listening() ran. Thread-safe. */
int reload_apply(struct policy_input *in, const char *origin, json_t **status);

/* reload_read_paths() + reload_apply(); a read error rejects the reload
 * (logged with file:line:col, status file updated). 0 or -errno. */
int reload_files(const char *origin);

/* The serving workers and their listener sets (worker i owns sets[i]; both
 * arrays are copied, the pointees must live until reload_detach_workers()).
 * Until attached, reloads change maps and snapshot only (startup: workers
 * then open listeners from the snapshot themselves). */
int reload_attach_workers(unsigned n, struct worker *const *workers,
			  struct listener_set *const *sets);
/* Forget the workers (before they stop). */
void reload_detach_workers(void);

/* Drain start: every worker closes its listening sockets (connections not
 * yet accepted are refused; accepted ones carry on), and later reloads
 * return -ESHUTDOWN. Waits for the workers. Returns the sockets closed. */
size_t reload_stop_listening(void);

/* Takeover, new agent, before the first reload_apply(): the binds of the
 * agent taken over (address, port, id; @n may be 0). The first policy
 * then keeps their ids, as a reload would, so the old agent's listeners
 * and the connections it hands over route on the table this agent writes
 * while the old one still serves. Copied. 0 or -errno. */
int reload_seed_binds(const struct policy_bind *binds, size_t n);

/* Takeover, old agent: from reload_hold() on, reload_apply() keeps only
 * the latest input (the last one wins) and returns -EAGAIN, so that the
 * maps and listener sets stay as the agent taking over saw them.
 * reload_release(true) ends the hold and applies what was kept (the
 * takeover failed: this agent serves on); reload_release(false) drops it
 * and holds on (committed: this agent stops, and must not write the maps
 * the new agent serves from). */
void reload_hold(void);
void reload_release(bool apply);

/* Serial of the policy in force (0 before the first successful apply). */
unsigned long long reload_serial(void);

#endif /* SNIGATE_RELOAD_H */
