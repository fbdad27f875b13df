// SPDX-License-Identifier: GPL-2.0-only
/* Unit tests of agent/lookup.c and agent/mapsync.c on real BPF maps (root):
 * exact > wildcard > listener-only, weighted picks, rejecting shares, no
 * endpoint, generation swaps that leave no old entry behind. */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <bpf/bpf.h>

#include "loader.h"
#include "log.h"
#include "lookup.h"
#include "mapsync.h"
#include "policy.h"

static struct loader ld;
static struct sng_maps maps;

/* ---- a hand-built compiled table ------------------------------------------ */
static struct policy_bind binds[2] = { { .id = 1, .port = 443 }, { .id = 2, .port = 8443 } };
static struct policy_listener lis[2] = { { .id = 0, .bind_id = 1, .mode = SNG_MODE_PASSTHROUGH },
					 { .id = 1, .bind_id = 2, .mode = SNG_MODE_TERMINATE } };
static struct policy_route routes[3] = { { .id = 0 }, { .id = 1 }, { .id = 2 } };
static struct sng_route_key keys[8];
static struct sng_route_val vals[8];
static struct sng_set sets[4];
static struct sng_backend bes[2];

/* Route entry: @name "" = listener only, "*.x" = wildcard, else exact. */
static void add_entry(struct policy_compiled *pc, uint16_t bind, const char *name,
		      uint32_t lid, uint32_t rid, uint32_t set, uint8_t act, uint8_t mode)
{
	struct sng_route_key *k = &keys[pc->n_entries];
	struct sng_route_val *v = &vals[pc->n_entries];

	if (!*name) {
		memset(k, 0, sizeof(*k));
		k->bind = htons(bind);
		k->prefixlen = 16;
	} else if (name[0] == '*') {
		char probe[300];

		/* "x.example.com" reversed is "moc.elpmaxe.x": keep "moc.elpmaxe." */
		snprintf(probe, sizeof(probe), "x%s", name + 1);
		ck_assert_int_eq(policy_route_key(k, bind, probe), 0);
		k->prefixlen = 16 + 8 * (uint32_t)(strlen(name) - 1);
	} else {
		ck_assert_int_eq(policy_route_key(k, bind, name), 0);
		k->prefixlen = 16 + 8 * (uint32_t)(strlen(name) + 1);
	}
	*v = (struct sng_route_val){ .listener_id = lid, .route_id = rid, .set_id = set,
				     .action = act, .mode = mode };
	pc->n_entries++;
}

static void build(struct policy_compiled *pc, uint16_t ep_port)
{
	memset(pc, 0, sizeof(*pc));
	memset(sets, 0, sizeof(sets));
	memset(bes, 0, sizeof(bes));
	pc->binds = binds; pc->n_binds = 2;
	pc->listeners = lis; pc->n_listeners = 2;
	pc->routes = routes; pc->n_routes = 3;
	pc->keys = keys; pc->vals = vals;
	pc->sets = sets; pc->n_sets = 4;
	pc->backends = bes; pc->n_backends = 2;
	/* set 0: all to backend 0; set 1: 1:3 between backends 0 and 1;
	 * set 2: one invalid share; set 3: weights 0 */
	sets[0] = (struct sng_set){ .n = 1, .total_weight = 1, .m = { { .weight = 1, .backend_id = 0 } } };
	sets[1] = (struct sng_set){ .n = 2, .total_weight = 4,
				    .m = { { .weight = 1, .backend_id = 0 }, { .weight = 3, .backend_id = 1 } } };
	sets[2] = (struct sng_set){ .n = 1, .total_weight = 5,
				    .m = { { .weight = 5, .backend_id = 0, .status = SNG_R_INVALID_BACKEND } } };
	sets[3] = (struct sng_set){ .n = 1, .total_weight = 0, .m = { { .weight = 0 } } };
	bes[0].n = 1;
	bes[0].ep[0] = (struct sng_endpoint){ .family = AF_INET, .port = htons(ep_port),
					      .addr = { 10, 0, 0, 1 } };
	bes[1].n = 0; /* no ready endpoint */
	add_entry(pc, 1, "foo.example.com", 0, 0, 0, SNG_ACT_ROUTE, SNG_MODE_PASSTHROUGH);
	add_entry(pc, 1, "*.example.com", 0, 1, 1, SNG_ACT_ROUTE, SNG_MODE_PASSTHROUGH);
	add_entry(pc, 1, "", 0, SNG_NO_ROUTE, 0, SNG_ACT_REJECT, SNG_MODE_PASSTHROUGH);
	add_entry(pc, 2, "bar.example.com", 1, 2, 2, SNG_ACT_ROUTE, SNG_MODE_TERMINATE);
	add_entry(pc, 2, "zero.example.com", 1, 2, 3, SNG_ACT_ROUTE, SNG_MODE_TERMINATE);
}

static size_t count_keys(int fd, size_t ksz)
{
	uint8_t k[300], next[300];
	void *prev = NULL;
	size_t n = 0;

	while (bpf_map_get_next_key(fd, prev, next) == 0) {
		memcpy(k, next, ksz);
		prev = k;
		n++;
	}
	return n;
}

static void setup(void)
{
	struct policy_compiled pc;
	uint64_t serial = 0;

	log_verbosity = LOG_WARN;
	ck_assert_int_eq(loader_open(NULL, false, &ld, &maps), 0);
	build(&pc, 443);
	ck_assert_int_eq(mapsync_apply(&maps, &pc, &serial), 0);
	ck_assert_uint_eq(serial, 1);
}

static void teardown(void)
{
	loader_close(&ld);
}

START_TEST(exact_wildcard_listener)
{
	struct route_decision d;

	ck_assert_int_eq(lookup_decide(&maps, 1, "foo.example.com", 7, &d), SNG_OK);
	ck_assert_uint_eq(d.route_id, 0);
	ck_assert_uint_eq(d.backend.n, 1);
	ck_assert_uint_eq(ntohs(d.backend.ep[0].port), 443);
	ck_assert_uint_eq(d.mode, SNG_MODE_PASSTHROUGH);
	/* wildcard: one or more labels in front */
	ck_assert_int_eq(lookup_decide(&maps, 1, "a.b.example.com", 0, &d), SNG_OK);
	ck_assert_uint_eq(d.route_id, 1);
	/* "example.com" itself is not under "*.example.com": listener only */
	ck_assert_int_eq(lookup_decide(&maps, 1, "example.com", 0, &d), SNG_R_NO_ROUTE);
	ck_assert_uint_eq(d.listener_id, 0);
	ck_assert_int_eq(lookup_decide(&maps, 1, "other.org", 0, &d), SNG_R_NO_ROUTE);
	/* a bind with no listener-only entry */
	ck_assert_int_eq(lookup_decide(&maps, 2, "nothing.org", 0, &d), SNG_R_NO_LISTENER);
	ck_assert_int_eq(lookup_decide(&maps, 3, "foo.example.com", 0, &d), SNG_R_NO_LISTENER);
}
END_TEST

START_TEST(weighted_and_rejecting_shares)
{
	struct route_decision d;
	unsigned ok = 0, noep = 0, r;

	for (r = 0; r < 400; r++) {
		int rc = lookup_decide(&maps, 1, "w.example.com", r, &d);

		if (rc == SNG_OK) {
			ok++;
			ck_assert_uint_eq(d.backend_id, 0);
		} else {
			ck_assert_int_eq(rc, SNG_R_NO_ENDPOINT);
			ck_assert_uint_eq(d.backend_id, 1);
			noep++;
		}
	}
	ck_assert_uint_eq(ok, 100);
	ck_assert_uint_eq(noep, 300);
	ck_assert_int_eq(lookup_decide(&maps, 2, "bar.example.com", 3, &d), SNG_R_INVALID_BACKEND);
	ck_assert_uint_eq(d.mode, SNG_MODE_TERMINATE);
	ck_assert_uint_eq(d.listener_id, 1);
	ck_assert_int_eq(lookup_decide(&maps, 2, "zero.example.com", 3, &d), SNG_R_NO_BACKEND);
	/* an SNI the key cannot hold */
	{
		char big[300];

		memset(big, 'a', sizeof(big) - 1);
		big[sizeof(big) - 1] = 0;
		ck_assert_int_eq(lookup_decide(&maps, 1, big, 0, &d), SNG_R_BAD_SNI);
	}
}
END_TEST

START_TEST(swap_generations)
{
	struct policy_compiled pc;
	struct route_decision d;
	struct sng_config cfg;
	uint64_t serial = 0;
	uint32_t zero = 0;
	int i;

	for (i = 0; i < 3; i++) {
		build(&pc, (uint16_t)(1000 + i));
		ck_assert_int_eq(mapsync_apply(&maps, &pc, &serial), 0);
		ck_assert_uint_eq(serial, 2 + (uint64_t)i);
		ck_assert_int_eq(bpf_map_lookup_elem(maps.config, &zero, &cfg), 0);
		ck_assert_uint_eq(cfg.gen, (uint32_t)(i & 1) ^ 1);
		ck_assert_int_eq(lookup_decide(&maps, 1, "foo.example.com", 0, &d), SNG_OK);
		ck_assert_uint_eq(ntohs(d.backend.ep[0].port), 1000 + i);
		ck_assert_uint_eq(d.gen, cfg.gen);
		/* the old generation is gone: exactly one table in the maps */
		ck_assert_uint_eq(count_keys(maps.routes, sizeof(struct sng_route_key)), pc.n_entries);
		ck_assert_uint_eq(count_keys(maps.sets, 4), pc.n_sets);
		ck_assert_uint_eq(count_keys(maps.backends, 4), pc.n_backends);
	}
	/* stats entries exist for every listener and route */
	ck_assert_uint_eq(count_keys(maps.lstats, 4), 2);
	ck_assert_uint_eq(count_keys(maps.rstats, 4), 3);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("lookup");
	TCase *tc = tcase_create("maps");
	SRunner *sr;
	int failed;

	if (geteuid() != 0) {
		/* loud: these need real BPF maps */
		printf("SKIP test_lookup: needs root (BPF maps); run it with sudo\n");
		return 0;
	}
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, exact_wildcard_listener);
	tcase_add_test(tc, weighted_and_rejecting_shares);
	tcase_add_test(tc, swap_generations);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
