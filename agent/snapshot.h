/* SPDX-License-Identifier: GPL-2.0-only */
/* Creating and installing policy snapshots (agent.h has acquire/release);
 * used by cmd_run at start and by reloads. */
#ifndef SNIGATE_SNAPSHOT_H
#define SNIGATE_SNAPSHOT_H

#include <stdint.h>
#include "agent.h"

/* A snapshot owning @pc and @term (either may be NULL), refs = 1 (the
 * caller's). NULL + errno on ENOMEM (nothing is freed then). */
struct agent_snapshot *agent_snapshot_new(struct policy_compiled *pc, struct term_policy *term,
					  uint64_t serial);
/* Make @s current, taking over the caller's reference; the previous
 * snapshot loses the reference the agent held (NULL: just drop it, and
 * forget the staged ones too). */
void agent_snapshot_install(struct agent_snapshot *s);

/* Stage @s (a reference is taken; NULL clears the slot) as the snapshot of
 * map generation @gen (0 or 1), before the maps flip to it: a connection
 * routed from generation @gen then finds its own snapshot through
 * agent_snapshot_acquire_gen() even before agent_snapshot_install(), so a
 * route decision and the TLS contexts / listener ids it indexes always come
 * from the same compile. */
void agent_snapshot_stage(struct agent_snapshot *s, uint32_t gen);

#endif
