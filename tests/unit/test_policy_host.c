// SPDX-License-Identifier: GPL-2.0-only
/* Unit tests of the policy compiler's hostnames: SNI normalisation, API
 * hostname syntax, intersection, route keys, and the single LPM lookup
 * proven equal to the two-step listener-then-route algorithm. */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "policy.h"

/* ---- policy_sni_normalize ------------------------------------------------- */

static const struct {
	const char *in;
	const char *out; /* NULL: SNG_R_BAD_SNI */
} sni_cases[] = {
	{ "foo.example.com", "foo.example.com" },
	{ "FOO.Example.COM", "foo.example.com" },
	{ "foo.example.com.", "foo.example.com" },   /* one trailing dot stripped */
	{ "foo.example.com..", NULL },               /* only one */
	{ "localhost", "localhost" },
	{ "a-b.c-d", "a-b.c-d" },
	{ "xn--bcher-kva.example", "xn--bcher-kva.example" },
	{ "1.2.3.example", "1.2.3.example" },
	{ "", NULL },
	{ ".", NULL },
	{ ".foo", NULL },
	{ "foo..bar", NULL },
	{ "foo_bar.com", NULL },
	{ "*.example.com", NULL },
	{ "foo bar", NULL },
	{ "192.168.1.1", NULL },                     /* IPv4 literal */
	{ "192.168.1.1.", NULL },
	{ "::1", NULL },                             /* IPv6 literal */
	{ "[::1]", NULL },
	{ "fe80::1%eth0", NULL },
	{ "caf\xc3\xa9.example", NULL },             /* not LDH */
	{ "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.com", NULL }, /* 64 */
};

START_TEST(test_sni_normalize)
{
	char out[SNG_HOSTNAME_MAX + 1];
	int n = policy_sni_normalize(sni_cases[_i].in, strlen(sni_cases[_i].in), out);

	if (!sni_cases[_i].out) {
		ck_assert_msg(n == SNG_R_BAD_SNI, "'%s' gave %d", sni_cases[_i].in, n);
	} else {
		ck_assert_int_eq(n, (int)strlen(sni_cases[_i].out));
		ck_assert_str_eq(out, sni_cases[_i].out);
	}
}
END_TEST

START_TEST(test_sni_length_limits)
{
	char in[300], out[SNG_HOSTNAME_MAX + 1];
	size_t i;

	/* 253 characters of 63-byte labels: valid; 254: invalid. */
	for (i = 0; i < 253; i++)
		in[i] = (i % 64 == 63) ? '.' : 'a';
	ck_assert_int_eq(policy_sni_normalize(in, 253, out), 253);
	in[253] = 'a';
	ck_assert_int_eq(policy_sni_normalize(in, 254, out), SNG_R_BAD_SNI);
	/* 253 plus the trailing dot is still 253. */
	in[253] = '.';
	ck_assert_int_eq(policy_sni_normalize(in, 254, out), 253);
	/* An embedded NUL is not LDH. */
	ck_assert_int_eq(policy_sni_normalize("a\0b", 3, out), SNG_R_BAD_SNI);
}
END_TEST

/* ---- API hostname syntax -------------------------------------------------- */

static const struct {
	const char *h;
	bool ok;
} host_cases[] = {
	{ "foo.example.com", true }, { "*.example.com", true }, { "*.com", true },
	{ "localhost", true }, { "a", true },
	{ "*", false }, { "*.", false }, { "f*.example.com", false }, { "*oo.example.com", false },
	{ "foo.*.com", false }, { "Foo.example.com", false }, { "-foo.com", false },
	{ "foo-.com", false }, { "foo..com", false }, { "foo.com.", false }, { "", false },
	{ "10.0.0.1", false }, { "*.10.0.0.1", false }, { "::1", false },
};

START_TEST(test_host_valid)
{
	ck_assert_msg(host_valid(host_cases[_i].h) == host_cases[_i].ok, "%s", host_cases[_i].h);
}
END_TEST

/* ---- intersection (reference §2.2) ------------------------------------------ */

static const struct {
	const char *l, *r, *out; /* out NULL: no intersection */
} isect_cases[] = {
	{ "", "foo.example.com", "foo.example.com" },
	{ "", "*.example.com", "*.example.com" },
	{ "foo.example.com", "foo.example.com", "foo.example.com" },
	{ "foo.example.com", "bar.example.com", NULL },
	{ "*.example.com", "sub.domain.example.com", "sub.domain.example.com" },
	{ "*.example.com", "example.com", NULL },
	{ "*.example.com", "test.example.net", NULL },
	{ "www.example.com", "*.example.com", "www.example.com" },
	{ "a.b.example.com", "*.example.com", "a.b.example.com" },
	{ "example.com", "*.example.com", NULL },
	{ "*.com", "*.example.com", "*.example.com" },
	{ "*.example.com", "*.com", "*.example.com" },
	{ "*.example.com", "*.example.com", "*.example.com" },
	{ "*.example.com", "*.example.net", NULL },
	{ "*.ample.com", "*.example.com", NULL }, /* label boundary, not characters */
	{ "*.ample.com", "example.com", NULL },
	{ "abc.example.com", "", "abc.example.com" }, /* v1alpha2 route without hostnames */
	{ "", "", "" },
};

START_TEST(test_intersect)
{
	char out[SNG_HOSTNAME_MAX + 1] = "unset";
	bool r = host_intersect(isect_cases[_i].l, isect_cases[_i].r, out);

	ck_assert_msg(r == (isect_cases[_i].out != NULL), "%s ^ %s", isect_cases[_i].l,
		      isect_cases[_i].r);
	if (r)
		ck_assert_str_eq(out, isect_cases[_i].out);
}
END_TEST

/* ---- keys ------------------------------------------------------------------- */

START_TEST(test_keys)
{
	struct sng_route_key k;

	host_key(&k, 3, "foo.example.com");
	ck_assert_uint_eq(k.bind, htons(3));
	ck_assert_uint_eq(k.prefixlen, 16 + 8 * 16);
	ck_assert_int_eq(memcmp(k.name, "moc.elpmaxe.oof\0", 16), 0);
	host_key(&k, 3, "*.example.com");
	ck_assert_uint_eq(k.prefixlen, 16 + 8 * 12);
	ck_assert_int_eq(memcmp(k.name, "moc.elpmaxe.", 12), 0);
	ck_assert_int_eq(k.name[12], 0);
	host_key(&k, 0x7fff, "");
	ck_assert_uint_eq(k.prefixlen, 16);
	ck_assert_uint_eq(k.bind, htons(0x7fff));
	ck_assert_int_eq(policy_route_key(&k, 9, "abc.example.com"), 0);
	ck_assert_uint_eq(k.prefixlen, 16 + 8 * SNG_NAME_MAX);
	ck_assert_int_eq(memcmp(k.name, "moc.elpmaxe.cba\0", 16), 0);
	ck_assert_int_eq(policy_route_key(&k, 9, ""), -EINVAL);
	ck_assert_int_eq(policy_route_key(&k, 0x8000, "a.b"), -EINVAL); /* gen bit is the agent's */
	/* rank orders like the key length for nested names */
	ck_assert_int_gt(host_rank("foo.example.com"), host_rank("*.example.com"));
	ck_assert_int_gt(host_rank("*.foo.example.com"), host_rank("*.example.com"));
	ck_assert_int_gt(host_rank("*.com"), host_rank(""));
	ck_assert_int_gt(host_rank("a.b"), host_rank("*.very-long-suffix.example.com"));
}
END_TEST

/* ---- one LPM lookup == listener choice, then route choice -------------------- *
 * Random Gateways on one bind, routes attached to random listeners; for every
 * probe SNI compare policy_lookup() on the compiled table with a direct
 * implementation of reference §2.3: pick the most specific listener whose
 * hostname matches, then, among that listener's routes only, the most
 * specific intersected hostname (ties: older, then namespace/name). */

static const char *const labels[] = { "a", "b", "c", "example", "com", "org", "x" };
#define N_LABELS (sizeof(labels) / sizeof(labels[0]))

static unsigned rnd_state = 12345;

static unsigned rnd(unsigned n)
{
	rnd_state = rnd_state * 1103515245u + 12345u;
	return (rnd_state >> 8) % n;
}

/* A random name of 1..3 labels, wildcard with probability 1/3 when @wild. */
static void rnd_name(char *out, bool wild)
{
	int n = 1 + (int)rnd(3), i;

	out[0] = '\0';
	if (wild && rnd(3) == 0)
		strcat(out, "*.");
	for (i = 0; i < n; i++) {
		if (i)
			strcat(out, ".");
		strcat(out, labels[rnd(N_LABELS)]);
	}
}

struct ref_l {
	char name[32], host[64];
};

struct ref_r {
	char name[32], ts[32];
	int listener;
	char hosts[3][64];
	int n_hosts;
};

/* Written independently of the library: "" any, "*.S" any name ending in
 * ".S" (one or more labels), else equality. */
static bool matches(const char *pattern, const char *sni)
{
	size_t n = strlen(sni), s;

	if (!*pattern)
		return true;
	if (pattern[0] != '*')
		return !strcmp(pattern, sni);
	s = strlen(pattern + 1);
	return n > s && !strcmp(sni + n - s, pattern + 1);
}

/* Specificity: exact > longer wildcard suffix > no hostname. */
static int spec(const char *h)
{
	if (!*h)
		return 0;
	return h[0] == '*' ? (int)strlen(h) : 1000 + (int)strlen(h);
}

/* Two-step reference: writes "listener/route", "listener/-" or "-". */
static void two_step(const struct ref_l *ls, int nl, const struct ref_r *rs, int nr,
		     const char *sni, char *out)
{
	int best_l = -1, best_r = -1, best_rank = -1, best_orig = -1, i, j;
	char isect[SNG_HOSTNAME_MAX + 1];

	for (i = 0; i < nl; i++)
		if (matches(ls[i].host, sni) &&
		    (best_l < 0 || spec(ls[i].host) > spec(ls[best_l].host)))
			best_l = i;
	if (best_l < 0) {
		strcpy(out, "-");
		return;
	}
	for (i = 0; i < nr; i++) {
		if (rs[i].listener != best_l)
			continue;
		for (j = 0; j < rs[i].n_hosts; j++) {
			int rank, orig = spec(rs[i].hosts[j]);
			bool better;

			if (!host_intersect(ls[best_l].host, rs[i].hosts[j], isect) ||
			    !matches(isect, sni))
				continue;
			rank = spec(isect);
			better = best_r < 0 || rank > best_rank ||
				 (rank == best_rank && orig > best_orig) ||
				 (rank == best_rank && orig == best_orig &&
				  strcmp(rs[i].ts, rs[best_r].ts) < 0);
			if (better) {
				best_rank = rank;
				best_orig = orig;
				best_r = i;
			}
		}
	}
	sprintf(out, "%s/%s", ls[best_l].name, best_r < 0 ? "-" : rs[best_r].name);
}

START_TEST(test_lookup_equals_two_step)
{
	struct policy_input *in = policy_input_new();
	struct policy_compiled *pc;
	struct policy_error err;
	struct ref_l ls[8];
	struct ref_r rs[12];
	int nl, nr, i, j, p, checked = 0;
	char *y = malloc(1 << 16), sni[64], want[80], got[80];
	size_t u = 0;

	rnd_state = 7919u * (unsigned)_i + 1;
	nl = 2 + (int)rnd(6);
	nr = 1 + (int)rnd(12);
	ck_assert_ptr_nonnull(in);
	u += (size_t)sprintf(y + u, "apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\n"
			     "metadata: {name: g, namespace: t}\nspec:\n  gatewayClassName: c\n"
			     "  listeners:\n");
	for (i = 0; i < nl; i++) {
		/* distinct hostnames: a duplicate would be HostnameConflict */
		do {
			if (rnd(5) == 0)
				ls[i].host[0] = '\0';
			else
				rnd_name(ls[i].host, true);
			for (j = 0; j < i && strcmp(ls[j].host, ls[i].host); j++)
				;
		} while (j < i);
		sprintf(ls[i].name, "l%d", i);
		u += (size_t)sprintf(y + u, "  - {name: %s, protocol: TLS, port: 443, %s%s%s"
				     "tls: {mode: Passthrough}}\n", ls[i].name,
				     *ls[i].host ? "hostname: \"" : "", ls[i].host,
				     *ls[i].host ? "\", " : "");
	}
	for (i = 0; i < nr; i++) {
		sprintf(rs[i].name, "r%02d", i);
		/* distinct timestamps so the reference needs no name tie-break */
		sprintf(rs[i].ts, "2020-01-01T00:00:%02dZ", nr - i);
		rs[i].listener = (int)rnd((unsigned)nl);
		rs[i].n_hosts = 1 + (int)rnd(3);
		u += (size_t)sprintf(y + u, "---\napiVersion: gateway.networking.k8s.io/v1\n"
				     "kind: TLSRoute\nmetadata: {name: %s, namespace: t, "
				     "creationTimestamp: \"%s\"}\nspec:\n  parentRefs: [{name: g, "
				     "sectionName: %s}]\n  hostnames:\n", rs[i].name, rs[i].ts,
				     ls[rs[i].listener].name);
		for (j = 0; j < rs[i].n_hosts; j++) {
			rnd_name(rs[i].hosts[j], true);
			u += (size_t)sprintf(y + u, "  - \"%s\"\n", rs[i].hosts[j]);
		}
		u += (size_t)sprintf(y + u, "  rules: [{backendRefs: [{name: s, port: 1}]}]\n");
	}
	ck_assert_msg(policy_input_add_buffer(in, "gen.yaml", y, u, &err) == 0, "%s: %s", err.path,
		      err.msg);
	pc = policy_compile(in, NULL);
	ck_assert_ptr_nonnull(pc);
	ck_assert_uint_eq(pc->n_binds, 1);
	for (p = 0; p < 200; p++) {
		long e;

		const char *from = NULL;

		/* Probes: random names, and names made from a listener's or a
		 * route's hostname ("*" replaced by one or two labels). */
		switch (rnd(3)) {
		case 0:
			from = ls[rnd((unsigned)nl)].host;
			break;
		case 1:
			i = (int)rnd((unsigned)nr);
			from = rs[i].hosts[rnd((unsigned)rs[i].n_hosts)];
			break;
		}
		if (from && *from == '*')
			snprintf(sni, sizeof(sni), "%s%s%s", rnd(2) ? "q." : "", labels[rnd(N_LABELS)],
				 from + 1);
		else if (from && *from)
			snprintf(sni, sizeof(sni), "%s", from);
		else
			rnd_name(sni, false);
		if (!from && rnd(2))
			sprintf(sni + strlen(sni), ".%s", labels[rnd(N_LABELS)]);
		two_step(ls, nl, rs, nr, sni, want);
		e = policy_lookup(pc, pc->binds[0].id, sni);
		if (e < 0) {
			strcpy(got, "-");
		} else {
			const struct sng_route_val *v = &pc->vals[e];

			snprintf(got, sizeof(got), "%.30s/%.30s", pc->listeners[v->listener_id].name,
				v->action == SNG_ACT_ROUTE ? pc->routes[v->route_id].name : "-");
		}
		ck_assert_msg(!strcmp(want, got), "case %d sni %s: two-step %s, lookup %s\n%s", _i,
			      sni, want, got, y);
		checked += strcmp(want, "-") != 0;
	}
	ck_assert_int_gt(checked, 0); /* some probes hit a listener */
	policy_compiled_free(pc);
	policy_input_free(in);
	free(y);
}
END_TEST

static Suite *host_suite(void)
{
	Suite *s = suite_create("policy_host");
	TCase *tc = tcase_create("hostnames");

	tcase_add_loop_test(tc, test_sni_normalize, 0, sizeof(sni_cases) / sizeof(sni_cases[0]));
	tcase_add_test(tc, test_sni_length_limits);
	tcase_add_loop_test(tc, test_host_valid, 0, sizeof(host_cases) / sizeof(host_cases[0]));
	tcase_add_loop_test(tc, test_intersect, 0, sizeof(isect_cases) / sizeof(isect_cases[0]));
	tcase_add_test(tc, test_keys);
	suite_add_tcase(s, tc);
	tc = tcase_create("lookup");
	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, test_lookup_equals_two_step, 0, 300);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(host_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
