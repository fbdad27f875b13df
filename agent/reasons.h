/* SPDX-License-Identifier: GPL-2.0-only */
/* The one table of outcome names (enum sng_reason -> stable snake_case
 * label) shared by `snigate dump`, the metrics endpoint and the access log. */
#ifndef SNIGATE_REASONS_H
#define SNIGATE_REASONS_H

#include "snigate_abi.h"

/* Label of outcome @reason: SNG_OK is "routed", a negative enum sng_reason
 * its snake_case name without the SNG_R_ prefix ("no_route", ...). The
 * labels are part of the metrics and access-log interface: never rename
 * one, append names with the enum. Codes outside the enum give "unknown".
 * Never NULL. */
const char *reason_name(int reason);

/* Label of index @idx of struct sng_stats.reasons (idx = -reason), or
 * NULL when @idx >= SNG_R__COUNT. */
const char *reason_name_idx(unsigned idx);

/* Label of enum sng_engine @engine: "auto", "sockmap", "userspace", or
 * "unknown". Never NULL. */
const char *engine_name(int engine);

#endif /* SNIGATE_REASONS_H */
