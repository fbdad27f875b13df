/* SPDX-License-Identifier: GPL-2.0-only */
/* Agent-wide state shared by the workers: run options and the current
 * policy snapshot (compiled table + terminate contexts), swapped on reload. */
#ifndef SNIGATE_AGENT_H
#define SNIGATE_AGENT_H

#include <stdbool.h>
#include <stdint.h>
#include "policy.h"
#include "lookup.h"

struct term_policy;

/* Options of `snigate run` (defaults in cmd_run.c, documented in --help). */
struct agent_options {
	const char *pin_dir;          /* default /sys/fs/bpf/snigate */
	const char *default_address;  /* --address; NULL = all v4+v6 */
	unsigned workers;             /* --workers; default nproc */
	int engine;                   /* --engine: enum sng_engine */
	bool userspace_copy;          /* --userspace-io copy: the userspace
				       * engine reads and writes instead of
				       * splicing through pipes (default splice) */
	unsigned hello_timeout_ms;    /* ClientHello deadline, default 10000 */
	unsigned idle_timeout_ms;     /* default 3600000 */
	unsigned connect_timeout_ms;  /* per attempt, default 3000 */
	unsigned connect_attempts;    /* endpoints tried, default 3 */
	uint64_t conn_budget;         /* kernel bytes queued per direction before
				       * flow control pauses, default 4 MiB */
	unsigned handshake_timeout_ms;/* Terminate handshake deadline, 10000 */
};

/* An immutable policy snapshot. Workers hold a reference for as long as a
 * connection uses it; reload installs a new one. */
struct agent_snapshot {
	int refs;                      /* atomic */
	uint64_t serial;               /* sng_config.serial it was written as */
	struct policy_compiled *pc;    /* owned */
	struct term_policy *term;      /* owned; NULL when no Terminate listener */
};

/* The current snapshot with a reference taken (never NULL while running). */
struct agent_snapshot *agent_snapshot_acquire(void);
/* The snapshot a route decision read from map generation @gen (route_decision
 * .gen) was compiled with, reference taken: its listener ids and TLS
 * contexts match the decision even while a reload flips the maps (see
 * agent_snapshot_stage()). Falls back to the current snapshot. */
struct agent_snapshot *agent_snapshot_acquire_gen(uint32_t gen);
/* Drop a reference; the last one frees pc and term. Accepts NULL. */
void agent_snapshot_release(struct agent_snapshot *s);

/* Global run state, set up by cmd_run before workers start. */
extern struct agent_options agent_opts;
extern struct sng_maps agent_maps;

#endif
