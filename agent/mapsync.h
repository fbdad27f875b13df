/* SPDX-License-Identifier: GPL-2.0-only */
/* Write a compiled policy into the BPF maps as one atomic swap: fill the
 * inactive generation, flip sng_config, delete the old generation. */
#ifndef SNIGATE_MAPSYNC_H
#define SNIGATE_MAPSYNC_H

#include <stdint.h>
#include "lookup.h"
#include "policy.h"

/* Apply @pc to the maps @m (see include/snigate_abi.h "generations").
 * Lookups see the old table until the flip and the new one after it, never
 * a mix. Creates zeroed per-CPU stats entries for every listener and route
 * id (existing counters are kept). On failure the active generation is
 * untouched and the partial new one is deleted. @serial gets the new
 * sng_config.serial. Returns 0 or -errno. */
int mapsync_apply(const struct sng_maps *m, const struct policy_compiled *pc,
		  uint64_t *serial);

/* The generation the next mapsync_apply() on @m will write and flip to
 * (the inactive one; 0 on fresh maps). Lets the caller stage what must be
 * in place before readers can see that generation. The agent is the only
 * writer of sng_config, so the answer holds until its next apply. 0 or
 * -errno. */
int mapsync_next_gen(const struct sng_maps *m, uint32_t *gen);

/* Set the flow-control budget (bytes of lag per direction; 0 disables).
 * @fc_fd: the sng_fc map. Returns 0 or -errno. */
int mapsync_set_budget(int fc_fd, uint64_t budget);

#endif
