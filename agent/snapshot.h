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
 * snapshot loses the reference the agent held (NULL: just drop it). */
void agent_snapshot_install(struct agent_snapshot *s);

#endif
