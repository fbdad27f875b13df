/* SPDX-License-Identifier: GPL-2.0-only */
/* BPF object loader: skeleton load, maps pinned under the pin directory
 * (reused when compatible, replaced when not), verdict attached to sng_socks. */
#ifndef SNIGATE_LOADER_H
#define SNIGATE_LOADER_H

#include <stdbool.h>
#include "lookup.h"
#include "snigate_abi.h"

struct loader {
	struct snigate_bpf *skel;
	char pin_dir[256];
	int verdict_link;     /* bpf_link fd, or -1 when attached with prog_attach */
	bool verdict_attached;
	int count_prog;       /* sng_count program fd, -1 if it did not load */
	int events_fd, fc_fd, chstats_fd;
	int lock_fd;          /* pin directory, flock(LOCK_EX) for the agent's life */
	bool inherited;       /* lock and link came from the previous agent */
};

/* Route libbpf's messages to the agent log (warnings as warn, info and
 * debug, including verifier logs, as debug). Idempotent. */
void loader_forward_libbpf_log(void);

/* Open and load the BPF object, pinning every map under @pin_dir (created
 * if missing; "" or NULL: do not pin). A pinned map whose type, key/value
 * size, max_entries or flags differ from this build is unlinked and
 * replaced (logged); compatible pins are reused, so a restart keeps the
 * counters. With @attach_verdict, attach sng_verdict to sng_socks as
 * BPF_SK_SKB_VERDICT (bpf_link, falling back to bpf_prog_attach). Fills
 * @maps with the map fds (owned by the loader). Returns 0 or -errno. */
int loader_open(const char *pin_dir, bool attach_verdict, struct loader *l,
		struct sng_maps *maps);

/* Hand-over (agent/takeover.c): the next loader_open() adopts @lock_fd,
 * the previous agent's pin-directory lock (the same open file, so the lock
 * is held throughout), instead of locking; refuses pins of another layout
 * (-ESTALE) instead of replacing them; keeps the sng_ctl / sng_cnt entries
 * of the previous agent's connections; and with attach_verdict takes over
 * @link_fd (its verdict bpf_link, kept attached; -1: it used prog_attach,
 * attach anew). Ownership of both fds passes (closed by loader_close or a
 * failed loader_open). */
void loader_inherit(int lock_fd, int link_fd);

/* Hand-over committed: swap this build's sng_verdict into the inherited
 * verdict link (BPF_LINK_UPDATE; sockets already spliced keep the program
 * they were inserted with). No-op without an inherited link. 0 or -errno
 * (logged; the previous program then stays attached, on the same maps). */
int loader_takeover_commit(struct loader *l);

/* Detach a verdict link and free the object. Pins are kept. Accepts a
 * loader that failed to open. */
void loader_close(struct loader *l);

/* Add @a to the per-CPU stats through the sng_count program. Returns 0,
 * -ENOSYS when the program did not load, or -errno. */
int loader_count(const struct loader *l, const struct sng_count_args *a);

#endif
