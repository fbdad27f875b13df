// SPDX-License-Identifier: GPL-2.0-only
/* Policy swap into the BPF maps under the inactive generation, then one
 * sng_config update flips it, then the old generation is deleted. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "log.h"
#include "mapsync.h"

/* Which keys a generation owns: route keys by the bind's generation bit,
 * set and backend keys by their [lo, lo + span) id range. */
struct gen_match {
	uint32_t gen, lo, span;
};

static bool route_in_gen(const void *key, const struct gen_match *m)
{
	const struct sng_route_key *k = key;

	return !!(ntohs(k->bind) & SNG_GEN_BIT) == !!m->gen;
}

static bool id_in_range(const void *key, const struct gen_match *m)
{
	uint32_t id = *(const uint32_t *)key;

	return id >= m->lo && id - m->lo < m->span;
}

/* Delete every key of @fd (keys of @key_size bytes) that @match accepts. */
static int delete_matching(int fd, size_t key_size,
			   bool (*match)(const void *key, const struct gen_match *m),
			   const struct gen_match *m)
{
	unsigned char cur[sizeof(struct sng_route_key)], next[sizeof(struct sng_route_key)];
	unsigned char *batch = NULL;
	size_t n = 0, cap = 0, i;
	void *prev = NULL;
	int err = 0;

	if (key_size > sizeof(cur))
		return -EINVAL;
	/* Collect first: deleting while walking get_next_key restarts it. */
	while (bpf_map_get_next_key(fd, prev, next) == 0) {
		if (match(next, m)) {
			if (n == cap) {
				unsigned char *nb;

				cap = cap ? cap * 2 : 256;
				nb = realloc(batch, cap * key_size);
				if (!nb) {
					free(batch);
					return -ENOMEM;
				}
				batch = nb;
			}
			memcpy(batch + n++ * key_size, next, key_size);
		}
		memcpy(cur, next, key_size);
		prev = cur;
	}
	for (i = 0; i < n; i++)
		if (bpf_map_delete_elem(fd, batch + i * key_size) && errno != ENOENT)
			err = -errno;
	free(batch);
	return err;
}

static int delete_gen(const struct sng_maps *m, uint32_t gen)
{
	const struct gen_match routes = { .gen = gen };
	const struct gen_match sets = { gen, gen * SNG_MAX_SETS, SNG_MAX_SETS };
	const struct gen_match backends = { gen, gen * SNG_MAX_BACKEND_ENTRIES,
					    SNG_MAX_BACKEND_ENTRIES };
	int e1 = delete_matching(m->routes, sizeof(struct sng_route_key), route_in_gen, &routes);
	int e2 = delete_matching(m->sets, sizeof(uint32_t), id_in_range, &sets);
	int e3 = delete_matching(m->backends, sizeof(uint32_t), id_in_range, &backends);

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

int mapsync_next_gen(const struct sng_maps *m, uint32_t *gen)
{
	struct sng_config cfg = {};
	uint32_t zero = 0;

	if (bpf_map_lookup_elem(m->config, &zero, &cfg))
		return -errno;
	/* as mapsync_apply(): a fresh map (abi 0) counts as "1 active" */
	*gen = (cfg.abi == SNG_ABI_VERSION ? (cfg.gen & 1) : 1) ^ 1;
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
