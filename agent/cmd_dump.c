// SPDX-License-Identifier: GPL-2.0-only
/* `snigate dump routes|conns|stats` and `snigate cleanup`: read (or remove)
 * the pinned maps directly, without the running agent. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <sys/socket.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <jansson.h>

#include "cmd.h"
#include "reasons.h"
#include "snigate_abi.h"

#define DEFAULT_PIN_DIR "/sys/fs/bpf/snigate"

static const char *const pinned_maps[] = {
	"sng_routes", "sng_sets", "sng_backends", "sng_config", "sng_socks",
	"sng_ctl", "sng_cnt", "sng_lstats", "sng_rstats", "sng_chstats", "sng_events",
	"sng_fc", "sng_chscratch",
};

static int open_pinned(const char *dir, const char *name)
{
	char path[4096];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = bpf_obj_get(path);
	if (fd < 0)
		fprintf(stderr, "snigate: cannot open pinned map %s: %s%s\n", path, strerror(errno),
			errno == ENOENT ? " (is snigate running with this --pin-dir?)" : "");
	return fd;
}

/* Turn a route key back into the hostname it was built from. */
static void key_hostname(const struct sng_route_key *k, char *out, size_t outlen)
{
	int nbytes = ((int)k->prefixlen - 16) / 8, i, o = 0;
	int exact = nbytes > 0 && k->name[nbytes - 1] == 0;
	int len = exact ? nbytes - 1 : nbytes;

	if (nbytes <= 0) {
		snprintf(out, outlen, "(any)");
		return;
	}
	if (!exact && o < (int)outlen - 1)
		out[o++] = '*';
	for (i = len - 1; i >= 0 && o < (int)outlen - 1; i--)
		out[o++] = (char)k->name[i];
	out[o] = 0;
}

static void endpoint_str(const struct sng_endpoint *ep, char *out, size_t len)
{
	char a[INET6_ADDRSTRLEN] = "?";

	inet_ntop(ep->family == AF_INET6 ? AF_INET6 : AF_INET, ep->addr, a, sizeof(a));
	snprintf(out, len, ep->family == AF_INET6 ? "[%s]:%u" : "%s:%u", a, ntohs(ep->port));
}

static json_t *backend_json(int backends_fd, __u32 key)
{
	struct sng_backend be;
	json_t *eps = json_array();
	char buf[80];
	__u32 i;

	if (bpf_map_lookup_elem(backends_fd, &key, &be))
		return json_null();
	for (i = 0; i < be.n && i < SNG_MAX_ENDPOINTS; i++) {
		endpoint_str(&be.ep[i], buf, sizeof(buf));
		json_array_append_new(eps, json_string(buf));
	}
	return json_pack("{s:o,s:b}", "endpoints", eps, "backendTLS",
			 (be.flags & SNG_BF_BACKEND_TLS) != 0);
}

static int dump_routes(const char *dir, int as_json, int all_gens)
{
	int routes = open_pinned(dir, "sng_routes"), sets = open_pinned(dir, "sng_sets");
	int backends = open_pinned(dir, "sng_backends"), cfg = open_pinned(dir, "sng_config");
	struct sng_route_key key, next, *prev = NULL;
	struct sng_config config = { 0 };
	json_t *list = json_array();
	__u32 zero = 0;
	int rc = EXIT_FAIL;

	if (routes < 0 || sets < 0 || backends < 0 || cfg < 0)
		goto out;
	if (bpf_map_lookup_elem(cfg, &zero, &config)) {
		fprintf(stderr, "snigate: cannot read sng_config: %s\n", strerror(errno));
		goto out;
	}
	while (bpf_map_get_next_key(routes, prev, &next) == 0) {
		struct sng_route_val val;
		__u16 bind = ntohs(next.bind);
		__u32 gen = (bind & SNG_GEN_BIT) ? 1 : 0;
		char host[SNG_NAME_MAX + 2];
		json_t *e;

		key = next;
		prev = &key;
		if (!all_gens && gen != config.gen)
			continue;
		if (bpf_map_lookup_elem(routes, &key, &val))
			continue;
		key_hostname(&key, host, sizeof(host));
		e = json_pack("{s:i,s:i,s:s,s:s,s:i,s:s}", "generation", gen, "bind",
			      bind & SNG_BIND_MASK, "hostname", host, "action",
			      val.action == SNG_ACT_ROUTE ? "route" : "reject", "listener",
			      val.listener_id, "mode",
			      val.mode == SNG_MODE_TERMINATE ? "Terminate" : "Passthrough");
		if (val.action == SNG_ACT_ROUTE) {
			__u32 skey = gen * SNG_MAX_SETS + val.set_id, i;
			struct sng_set set;
			json_t *members = json_array();

			json_object_set_new(e, "route", json_integer(val.route_id));
			if (!bpf_map_lookup_elem(sets, &skey, &set)) {
				for (i = 0; i < set.n && i < SNG_MAX_BACKENDS; i++) {
					json_t *m = json_pack("{s:i,s:i}", "weight", set.m[i].weight,
							      "backend", set.m[i].backend_id);

					if (set.m[i].status)
						json_object_set_new(m, "invalid", json_integer(set.m[i].status));
					else
						json_object_set_new(m, "target", backend_json(backends,
							gen * SNG_MAX_BACKEND_ENTRIES + set.m[i].backend_id));
					json_array_append_new(members, m);
				}
			}
			json_object_set_new(e, "backends", members);
		}
		json_array_append_new(list, e);
	}
	if (as_json) {
		json_t *doc = json_pack("{s:I,s:i,s:o}", "serial", (json_int_t)config.serial,
					"generation", config.gen, "entries", list);

		list = NULL;
		json_dumpf(doc, stdout, JSON_INDENT(2));
		putchar('\n');
		json_decref(doc);
	} else {
		size_t i;
		json_t *e;

		printf("serial %llu, active generation %u, %zu entries\n",
		       (unsigned long long)config.serial, config.gen, json_array_size(list));
		printf("%-4s %-40s %-12s %-8s %-6s %s\n", "bind", "hostname", "mode", "listener",
		       "route", "backends (weight -> endpoints)");
		json_array_foreach(list, i, e) {
			json_t *m, *members = json_object_get(e, "backends");
			size_t j;
			char route[16] = "-";

			if (json_object_get(e, "route"))
				snprintf(route, sizeof(route), "%lld",
					 json_integer_value(json_object_get(e, "route")));
			printf("%-4lld %-40s %-12s %-8lld %-6s", json_integer_value(json_object_get(e, "bind")),
			       json_string_value(json_object_get(e, "hostname")),
			       json_string_value(json_object_get(e, "mode")),
			       json_integer_value(json_object_get(e, "listener")), route);
			if (!members)
				printf(" reject");
			json_array_foreach(members, j, m) {
				json_t *t = json_object_get(m, "target"), *eps, *ep;
				size_t k;

				printf(" %lld->", json_integer_value(json_object_get(m, "weight")));
				if (!t) {
					printf("(invalid)");
					continue;
				}
				eps = json_object_get(t, "endpoints");
				if (!json_array_size(eps))
					printf("(no endpoint)");
				json_array_foreach(eps, k, ep)
					printf("%s%s", k ? "," : "", json_string_value(ep));
			}
			putchar('\n');
		}
	}
	rc = EXIT_OK;
out:
	json_decref(list);
	if (routes >= 0) close(routes);
	if (sets >= 0) close(sets);
	if (backends >= 0) close(backends);
	if (cfg >= 0) close(cfg);
	return rc;
}

static int dump_conns(const char *dir, int as_json)
{
	int ctl = open_pinned(dir, "sng_ctl"), cnt = open_pinned(dir, "sng_cnt");
	__u64 key, next, *prev = NULL;
	json_t *list = json_array();
	int rc = EXIT_FAIL;
	size_t i;
	json_t *e;

	if (ctl < 0 || cnt < 0)
		goto out;
	while (bpf_map_get_next_key(ctl, prev, &next) == 0) {
		struct sng_ctl c;
		struct sng_cnt n = { 0 };

		key = next;
		prev = &key;
		if (bpf_map_lookup_elem(ctl, &key, &c))
			continue;
		bpf_map_lookup_elem(cnt, &key, &n);
		json_array_append_new(list, json_pack("{s:I,s:I,s:s,s:b,s:i,s:i,s:I,s:I,s:I,s:I}",
			"cookie", (json_int_t)key, "peer", (json_int_t)c.peer, "side",
			(c.flags & SNG_CTL_CLIENT) ? "client" : "backend", "redirect",
			(c.flags & SNG_CTL_ENABLE) != 0, "listener", c.listener_id, "route",
			c.route_id, "consumed", (json_int_t)c.consumed, "passed",
			(json_int_t)n.passed, "redirected", (json_int_t)n.redirected,
			"redirectFailures", (json_int_t)n.redirect_fail));
	}
	if (as_json) {
		json_dumpf(list, stdout, JSON_INDENT(2));
		putchar('\n');
	} else {
		printf("%zu spliced sockets\n%-20s %-20s %-8s %-8s %-6s %-14s %-14s\n",
		       json_array_size(list), "cookie", "peer", "side", "redirect", "route",
		       "redirected", "passed");
		json_array_foreach(list, i, e)
			printf("%-20lld %-20lld %-8s %-8s %-6lld %-14lld %-14lld\n",
			       json_integer_value(json_object_get(e, "cookie")),
			       json_integer_value(json_object_get(e, "peer")),
			       json_string_value(json_object_get(e, "side")),
			       json_is_true(json_object_get(e, "redirect")) ? "on" : "paused",
			       json_integer_value(json_object_get(e, "route")),
			       json_integer_value(json_object_get(e, "redirected")),
			       json_integer_value(json_object_get(e, "passed")));
	}
	rc = EXIT_OK;
out:
	json_decref(list);
	if (ctl >= 0) close(ctl);
	if (cnt >= 0) close(cnt);
	return rc;
}

/* Sum one per-CPU stats map into JSON objects keyed by id. */
static json_t *sum_stats(int fd)
{
	int ncpu = libbpf_num_possible_cpus();
	struct sng_stats *per = NULL;
	__u32 key, next, *prev = NULL;
	json_t *out = json_object();

	if (ncpu <= 0 || !(per = calloc((size_t)ncpu, sizeof(*per))))
		return out;
	while (bpf_map_get_next_key(fd, prev, &next) == 0) {
		struct sng_stats s = { 0 };
		json_t *r = json_object();
		char id[16];
		int c, i;

		key = next;
		prev = &key;
		if (bpf_map_lookup_elem(fd, &key, per))
			continue;
		for (c = 0; c < ncpu; c++) {
			s.conns += per[c].conns;
			s.bytes_up += per[c].bytes_up;
			s.bytes_down += per[c].bytes_down;
			for (i = 0; i < SNG_R__COUNT; i++)
				s.reasons[i] += per[c].reasons[i];
		}
		for (i = 0; i < SNG_R__COUNT; i++)
			if (s.reasons[i])
				json_object_set_new(r, reason_name_idx((unsigned)i), json_integer((json_int_t)s.reasons[i]));
		snprintf(id, sizeof(id), "%u", key);
		json_object_set_new(out, id, json_pack("{s:I,s:I,s:I,s:o}", "connections",
			(json_int_t)s.conns, "bytesUp", (json_int_t)s.bytes_up, "bytesDown",
			(json_int_t)s.bytes_down, "outcomes", r));
	}
	free(per);
	return out;
}

static int dump_stats(const char *dir, int as_json)
{
	int l = open_pinned(dir, "sng_lstats"), r = open_pinned(dir, "sng_rstats");
	json_t *doc;

	if (l < 0 || r < 0) {
		if (l >= 0) close(l);
		if (r >= 0) close(r);
		return EXIT_FAIL;
	}
	doc = json_pack("{s:o,s:o}", "listeners", sum_stats(l), "routes", sum_stats(r));
	close(l);
	close(r);
	/* Counters are nested objects either way; text mode indents the JSON. */
	(void)as_json;
	json_dumpf(doc, stdout, JSON_INDENT(2) | JSON_SORT_KEYS);
	putchar('\n');
	json_decref(doc);
	return EXIT_OK;
}

static void dump_usage(FILE *f)
{
	fprintf(f, "usage: snigate dump routes|conns|stats [--pin-dir DIR] [-o text|json] [--all-generations]\n\n"
		   "Read the pinned BPF maps directly (no running agent needed):\n"
		   "  routes  the route table of the active generation: hostname -> listener,\n"
		   "          route, weighted backends and their endpoints\n"
		   "  conns   spliced sockets: peer, redirect on/paused, bytes redirected/passed\n"
		   "  stats   per-listener and per-route counters summed over CPUs\n"
		   "options:\n"
		   "  --pin-dir DIR        where the maps are pinned (default " DEFAULT_PIN_DIR ")\n"
		   "  -o, --output FORMAT  text (default) or json\n"
		   "  --all-generations    routes: include the inactive generation\n");
}

int cmd_dump(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "pin-dir", required_argument, NULL, 'p' },
		{ "output", required_argument, NULL, 'o' },
		{ "all-generations", no_argument, NULL, 'a' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 } };
	const char *dir = DEFAULT_PIN_DIR, *what;
	int o, as_json = 0, all = 0;

	while ((o = getopt_long(argc, argv, "p:o:h", opts, NULL)) != -1) {
		switch (o) {
		case 'p': dir = optarg; break;
		case 'o':
			if (strcmp(optarg, "json") && strcmp(optarg, "text")) {
				fprintf(stderr, "snigate dump: -o wants text or json\n");
				return EXIT_BADINPUT;
			}
			as_json = !strcmp(optarg, "json");
			break;
		case 'a': all = 1; break;
		case 'h': dump_usage(stdout); return EXIT_OK;
		default: dump_usage(stderr); return EXIT_BADINPUT;
		}
	}
	if (optind != argc - 1) {
		dump_usage(stderr);
		return EXIT_BADINPUT;
	}
	what = argv[optind];
	if (!strcmp(what, "routes"))
		return dump_routes(dir, as_json, all);
	if (!strcmp(what, "conns"))
		return dump_conns(dir, as_json);
	if (!strcmp(what, "stats"))
		return dump_stats(dir, as_json);
	fprintf(stderr, "snigate dump: unknown table '%s' (routes, conns or stats)\n", what);
	return EXIT_BADINPUT;
}

int cmd_cleanup(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "pin-dir", required_argument, NULL, 'p' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 } };
	const char *dir = DEFAULT_PIN_DIR;
	char path[4096];
	size_t i;
	int o, rc = EXIT_OK;

	while ((o = getopt_long(argc, argv, "p:h", opts, NULL)) != -1) {
		switch (o) {
		case 'p': dir = optarg; break;
		case 'h':
			printf("usage: snigate cleanup [--pin-dir DIR]\n\n"
			       "Remove snigate's pinned maps and programs (default " DEFAULT_PIN_DIR ").\n"
			       "Run it only when no agent uses DIR: spliced connections of a running\n"
			       "agent keep working (it holds the maps), but a restart can no longer\n"
			       "reuse them.\n");
			return EXIT_OK;
		default: return EXIT_BADINPUT;
		}
	}
	for (i = 0; i < sizeof(pinned_maps) / sizeof(pinned_maps[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, pinned_maps[i]);
		if (unlink(path) && errno != ENOENT) {
			fprintf(stderr, "snigate cleanup: %s: %s\n", path, strerror(errno));
			rc = EXIT_FAIL;
		}
	}
	if (rmdir(dir) && errno != ENOENT) {
		fprintf(stderr, "snigate cleanup: %s: %s (unknown files left there)\n", dir, strerror(errno));
		rc = EXIT_FAIL;
	}
	return rc;
}
