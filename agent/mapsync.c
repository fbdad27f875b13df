// SPDX-License-Identifier: GPL-2.0-only
/* Policy swap into the BPF maps under the inactive generation, then one
 * sng_config update flips it, then the old generation is deleted. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "log.h"
#include "mapsync.h"

static int is_gen_route(const struct sng_route_key *k, uint32_t gen)
{
	return !!(ntohs(k->bind) & SNG_GEN_BIT) == !!gen;
}

/* Delete every route entry of generation @gen. */
static int delete_routes(int fd, uint32_t gen)
{
	struct sng_route_key k, next, *batch = NULL;
	size_t n = 0, cap = 0, i;
	void *prev = NULL;
	int err = 0;

	/* Collect first: deleting while walking get_next_key restarts it. */
	while (bpf_map_get_next_key(fd, prev, &next) == 0) {
		if (is_gen_route(&next, gen)) {
			if (n == cap) {
				struct sng_route_key *nb;

				cap = cap ? cap * 2 : 256;
				nb = realloc(batch, cap * sizeof(*nb));
				if (!nb) {
					free(batch);
					return -ENOMEM;
				}
				batch = nb;
			}
			batch[n++] = next;
		}
		k = next;
		prev = &k;
	}
	for (i = 0; i < n; i++)
		if (bpf_map_delete_elem(fd, &batch[i]) && errno != ENOENT)
			err = -errno;
	free(batch);
	return err;
}

/* Delete keys [lo, lo + span) of a u32-keyed hash. */
static int delete_range(int fd, uint32_t lo, uint32_t span)
{
	uint32_t k, next, *batch = NULL;
	size_t n = 0, cap = 0, i;
	void *prev = NULL;
	int err = 0;

	while (bpf_map_get_next_key(fd, prev, &next) == 0) {
		if (next >= lo && next - lo < span) {
			if (n == cap) {
				uint32_t *nb;

				cap = cap ? cap * 2 : 256;
				nb = realloc(batch, cap * sizeof(*nb));
				if (!nb) {
					free(batch);
					return -ENOMEM;
				}
				batch = nb;
			}
			batch[n++] = next;
		}
		k = next;
		prev = &k;
	}
	for (i = 0; i < n; i++)
		if (bpf_map_delete_elem(fd, &batch[i]) && errno != ENOENT)
			err = -errno;
	free(batch);
	return err;
}

static int delete_gen(const struct sng_maps *m, uint32_t gen)
{
	int e1 = delete_routes(m->routes, gen);
	int e2 = delete_range(m->sets, gen * SNG_MAX_SETS, SNG_MAX_SETS);
	int e3 = delete_range(m->backends, gen * SNG_MAX_BACKEND_ENTRIES, SNG_MAX_BACKEND_ENTRIES);

	return e1 ? e1 : e2 ? e2 : e3;
}

/* Zeroed per-CPU stats entry unless one exists. */
static int ensure_stats(int fd, uint32_t id)
{
	int ncpu = libbpf_num_possible_cpus();
	struct sng_stats *zero;
	int err = 0;

	if (ncpu <= 0)
		return ncpu ? ncpu : -EINVAL;
	zero = calloc((size_t)ncpu, sizeof(*zero));
	if (!zero)
		return -ENOMEM;
	if (bpf_map_update_elem(fd, &id, zero, BPF_NOEXIST) && errno != EEXIST)
		err = -errno;
	free(zero);
	return err;
}

static int write_gen(const struct sng_maps *m, const struct policy_compiled *pc, uint32_t gen)
{
	size_t i;
	uint32_t k;

	if (pc->n_sets > SNG_MAX_SETS || pc->n_backends > SNG_MAX_BACKEND_ENTRIES)
		return -E2BIG;
	for (i = 0; i < pc->n_backends; i++) {
		k = gen * SNG_MAX_BACKEND_ENTRIES + (uint32_t)i;
		if (bpf_map_update_elem(m->backends, &k, &pc->backends[i], BPF_ANY))
			return -errno;
	}
	for (i = 0; i < pc->n_sets; i++) {
		k = gen * SNG_MAX_SETS + (uint32_t)i;
		if (bpf_map_update_elem(m->sets, &k, &pc->sets[i], BPF_ANY))
			return -errno;
	}
	/* Routes last: an entry must never point at a set not written yet. */
	for (i = 0; i < pc->n_entries; i++) {
		struct sng_route_key key = pc->keys[i];

		if (ntohs(key.bind) & SNG_GEN_BIT)
			return -EINVAL;
		if (gen)
			key.bind |= htons(SNG_GEN_BIT);
		if (bpf_map_update_elem(m->routes, &key, &pc->vals[i], BPF_ANY))
			return -errno;
	}
	return 0;
}

int mapsync_apply(const struct sng_maps *m, const struct policy_compiled *pc, uint64_t *serial)
{
	struct sng_config cfg = {}, next;
	uint32_t zero = 0, old, gen;
	size_t i;
	int err;

	if (bpf_map_lookup_elem(m->config, &zero, &cfg))
		return -errno;
	/* A fresh map (abi 0) has no active table: write generation 0. */
	old = cfg.abi == SNG_ABI_VERSION ? (cfg.gen & 1) : 1;
	gen = old ^ 1;
	/* Leftovers of an interrupted swap, or of a fresh map's "old" half. */
	err = delete_gen(m, gen);
	if (err)
		return err;
	for (i = 0; i < pc->n_listeners; i++) {
		err = ensure_stats(m->lstats, pc->listeners[i].id);
		if (err)
			return err;
	}
	for (i = 0; i < pc->n_routes; i++) {
		err = ensure_stats(m->rstats, pc->routes[i].id);
		if (err)
			return err;
	}
	err = write_gen(m, pc, gen);
	if (err) {
		log_err("policy swap: writing generation %u: %s", gen, strerror(-err));
		delete_gen(m, gen);
		return err;
	}
	next.abi = SNG_ABI_VERSION;
	next.gen = gen;
	next.serial = (cfg.abi == SNG_ABI_VERSION ? cfg.serial : 0) + 1;
	/* The flip: one array element, updated atomically for readers. */
	if (bpf_map_update_elem(m->config, &zero, &next, BPF_ANY)) {
		err = -errno;
		delete_gen(m, gen);
		return err;
	}
	err = delete_gen(m, old);
	if (err)
		log_warn("policy swap: deleting generation %u: %s", old, strerror(-err));
	if (serial)
		*serial = next.serial;
	log_dbg("policy swap: generation %u active, serial %llu, %zu route entries, "
		"%zu sets, %zu backends", gen, (unsigned long long)next.serial, pc->n_entries,
		pc->n_sets, pc->n_backends);
	return 0;
}

int mapsync_set_budget(int fc_fd, uint64_t budget)
{
	struct sng_fc fc = { .budget = budget };
	uint32_t zero = 0;

	return bpf_map_update_elem(fc_fd, &zero, &fc, BPF_ANY) ? -errno : 0;
}
