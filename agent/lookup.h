/* SPDX-License-Identifier: GPL-2.0-only */
/* The routing decision, SNI -> listener -> route -> weighted backend, made
 * from the BPF maps. The one lookup both the splice and terminate paths use. */
#ifndef SNIGATE_LOOKUP_H
#define SNIGATE_LOOKUP_H

#include <stdint.h>
#include "snigate_abi.h"

/* File descriptors of the pinned maps (see bpf/lib/maps.h); -1 if absent. */
struct sng_maps {
	int routes, sets, backends, config;
	int socks, ctl, cnt, lstats, rstats;
	/* sng_config mapped read-only (BPF_F_MMAPABLE), or NULL: then it is
	 * read with bpf(). Mapped for the process's lifetime. */
	const struct sng_config *config_mm;
};

struct route_decision {
	int reason;              /* SNG_OK or a negative enum sng_reason */
	uint32_t listener_id;    /* valid when reason is not NO_LISTENER */
	uint32_t route_id;       /* SNG_NO_ROUTE when none */
	uint32_t set_id, backend_id;
	uint8_t mode;            /* enum sng_mode */
	uint8_t engine;          /* enum sng_engine of the listener */
	uint32_t gen;            /* generation the decision was read from */
	struct sng_backend backend; /* the picked backend (endpoints copied) */
};

/* Decide for a normalised SNI (see policy_sni_normalize) on bind @bind_id.
 * @rnd picks the weighted backend. Fills @d; returns d->reason. */
int lookup_decide(const struct sng_maps *m, uint16_t bind_id, const char *sni,
		  uint32_t rnd, struct route_decision *d);

#endif
