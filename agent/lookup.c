// SPDX-License-Identifier: GPL-2.0-only
/* The routing decision from the BPF maps: LPM route lookup under the active
 * generation, weighted backend pick, endpoint set. Shared by both paths. */
#include <arpa/inet.h>
#include <errno.h>
#include <string.h>
#include <bpf/bpf.h>

#include "lookup.h"
#include "policy.h"

/* The active generation and the swap serial: the serial tells two
 * swaps apart that land on the same generation (old -> new -> old). */
static int read_gen(const struct sng_maps *m, uint32_t *gen, uint64_t *serial)
{
	struct sng_config cfg;
	uint32_t zero = 0;

	if (m->config_mm) {
		/* The swap writes the element with one copy (the kernel's
		 * memcpy), so abi, gen and serial may be read half old, half
		 * new: then the second read_gen() of lookup_decide() differs
		 * from the first and the decision is retried. */
		cfg.abi = __atomic_load_n(&m->config_mm->abi, __ATOMIC_ACQUIRE);
		cfg.gen = __atomic_load_n(&m->config_mm->gen, __ATOMIC_ACQUIRE);
		cfg.serial = __atomic_load_n(&m->config_mm->serial, __ATOMIC_ACQUIRE);
	} else if (bpf_map_lookup_elem(m->config, &zero, &cfg)) {
		return -errno;
	}
	if (cfg.abi != SNG_ABI_VERSION)
		return -ENOENT; /* no policy written yet */
	*gen = cfg.gen & 1;
	*serial = cfg.serial;
	return 0;
}

/* One attempt under generation @gen. */
static int decide_once(const struct sng_maps *m, uint32_t gen, uint16_t bind_id,
		       const char *sni, uint32_t rnd, struct route_decision *d)
{
	struct sng_route_key key;
	struct sng_route_val val;
	struct sng_set set;
	uint32_t k, pick, acc = 0, i;

	if (policy_route_key(&key, bind_id, sni))
		return d->reason = SNG_R_BAD_SNI;
	if (gen)
		key.bind |= htons(SNG_GEN_BIT);
	if (bpf_map_lookup_elem(m->routes, &key, &val))
		return d->reason = SNG_R_NO_LISTENER;
	d->listener_id = val.listener_id;
	d->route_id = val.route_id;
	d->set_id = val.set_id;
	d->mode = val.mode;
	d->engine = val.engine;
	if (val.action != SNG_ACT_ROUTE || val.route_id == SNG_NO_ROUTE)
		return d->reason = SNG_R_NO_ROUTE;
	k = gen * SNG_MAX_SETS + val.set_id;
	if (val.set_id >= SNG_MAX_SETS || bpf_map_lookup_elem(m->sets, &k, &set))
		return d->reason = SNG_R_NO_BACKEND;
	if (!set.total_weight || !set.n || set.n > SNG_MAX_BACKENDS)
		return d->reason = SNG_R_NO_BACKEND;
	/* Weighted pick: member i owns [acc, acc + weight) of total_weight.
	 * An invalid member keeps its share and rejects it (Gateway API:
	 * requests to an invalid backendRef fail in proportion to weight). */
	pick = rnd % set.total_weight;
	for (i = 0; i < set.n; i++) {
		acc += set.m[i].weight;
		if (pick < acc)
			break;
	}
	if (i == set.n)
		return d->reason = SNG_R_NO_BACKEND; /* weights do not add up */
	d->backend_id = set.m[i].backend_id;
	if (set.m[i].status)
		return d->reason = set.m[i].status < 0 ? set.m[i].status : SNG_R_INVALID_BACKEND;
	k = gen * SNG_MAX_BACKEND_ENTRIES + d->backend_id;
	if (d->backend_id >= SNG_MAX_BACKEND_ENTRIES ||
	    bpf_map_lookup_elem(m->backends, &k, &d->backend))
		return d->reason = SNG_R_NO_ENDPOINT;
	if (!d->backend.n || d->backend.n > SNG_MAX_ENDPOINTS)
		return d->reason = SNG_R_NO_ENDPOINT;
	return d->reason = SNG_OK;
}

int lookup_decide(const struct sng_maps *m, uint16_t bind_id, const char *sni,
		  uint32_t rnd, struct route_decision *d)
{
	uint32_t gen = 0, gen2 = 0;
	uint64_t serial = 0, serial2 = 0;
	int tries;

	memset(d, 0, sizeof(*d));
	d->route_id = SNG_NO_ROUTE;
	d->listener_id = SNG_NO_ROUTE;
	for (tries = 0; tries < 3; tries++) {
		if (read_gen(m, &gen, &serial))
			return d->reason = SNG_R_NO_LISTENER;
		d->gen = gen;
		decide_once(m, gen, bind_id, sni, rnd, d);
		/* A swap deletes the old generation right after flipping: a
		 * lookup that straddled the flip may have missed. Retry it. */
		if (read_gen(m, &gen2, &serial2) || (gen2 == gen && serial2 == serial))
			return d->reason;
		memset(d, 0, sizeof(*d));
		d->route_id = SNG_NO_ROUTE;
		d->listener_id = SNG_NO_ROUTE;
	}
	return d->reason;
}
