// SPDX-License-Identifier: GPL-2.0-only
/* `snigate check`: compile manifests offline and print the Kubernetes
 * status (JSON, YAML or a readable summary), table stats and SNI decisions. */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cmd.h"
#include "policy.h"

enum { OUT_JSON, OUT_YAML, OUT_TEXT };

static void usage(FILE *f)
{
	fprintf(f,
		"usage: snigate check -f FILE_OR_DIR [-f ...] [options]\n\n"
		"Compile Gateway API manifests (YAML or JSON; objects, multi-document files,\n"
		"kind: List; directories: their *.yaml, *.yml, *.json files in name order)\n"
		"and print the status snigate would write, as a kind: List.\n\n"
		"options:\n"
		"  -f, --file PATH          manifest file or directory (repeatable, required;\n"
		"                           - reads stdin, e.g. kubectl get ... -o json)\n"
		"  -o, --output FORMAT      json (default), yaml or text (a readable summary\n"
		"                           that says why each listener or route is rejected)\n"
		"      --gateway-class NAME serve only Gateways of this class\n"
		"      --controller-name N  controller name [" POLICY_DEFAULT_CONTROLLER "]\n"
		"      --address ADDR       bind address of Gateways without spec.addresses\n"
		"                           [:: = all IPv4 and IPv6]\n"
		"      --max-input-bytes N  budget on the total size of the input (k, M, G\n"
		"                           suffixes) [64M]; over it: exit 2 before parsing\n"
		"      --stats              print table size and compile time on stderr\n"
		"      --sni PORT:NAME      print the routing decision for SNI NAME on every\n"
		"                           bind of PORT (repeatable); prints the decisions\n"
		"                           instead of the status unless -o is given too\n"
		"  -h, --help               this help\n\n"
		"Notes (ignored kinds, superseded hostnames, ...) go to stderr.\n"
		"exit status: 0 input parsed (whatever was rejected), 2 malformed input or\n"
		"bad usage (file:line:column: /json/path: message on stderr), 1 failure.\n");
}

static const char *cond_str(json_t *conds, const char *type, const char **reason,
			    const char **msg)
{
	json_t *c;
	size_t i;

	json_array_foreach(conds, i, c) {
		if (strcmp(json_string_value(json_object_get(c, "type")), type))
			continue;
		*reason = json_string_value(json_object_get(c, "reason"));
		*msg = json_string_value(json_object_get(c, "message"));
		return json_string_value(json_object_get(c, "status"));
	}
	*reason = *msg = "";
	return "Unknown";
}

/* Print every condition that is not in its good state, with its message. */
static void print_bad(FILE *f, const char *indent, json_t *conds)
{
	const char *types[] = { "Accepted", "Programmed", "ResolvedRefs", "Conflicted" };
	const char *st, *reason, *msg;
	size_t i;

	for (i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		st = cond_str(conds, types[i], &reason, &msg);
		if (!strcmp(st, "Unknown"))
			continue;
		if (!strcmp(st, i == 3 ? "False" : "True") && (i || !strcmp(reason, "Accepted")))
			continue;
		fprintf(f, "%s%s=%s %s: %s\n", indent, types[i], st, reason, msg);
	}
}

static void print_text(FILE *f, const struct policy_compiled *pc)
{
	json_t *items = json_object_get(pc->status, "items"), *it, *x;
	size_t i, j;

	json_array_foreach(items, i, it) {
		const char *kind = json_string_value(json_object_get(it, "kind"));
		json_t *md = json_object_get(it, "metadata"), *st = json_object_get(it, "status");
		const char *ns = json_string_value(json_object_get(md, "namespace"));
		const char *name = json_string_value(json_object_get(md, "name"));
		const char *s1, *r1, *m1;

		fprintf(f, "%s %s%s%s", kind, ns ? ns : "", ns ? "/" : "", name);
		if (!strcmp(kind, "TLSRoute")) {
			fprintf(f, "\n");
			json_array_foreach(json_object_get(st, "parents"), j, x) {
				json_t *pr = json_object_get(x, "parentRef");
				const char *sec = json_string_value(json_object_get(pr, "sectionName"));

				s1 = cond_str(json_object_get(x, "conditions"), "Accepted", &r1, &m1);
				fprintf(f, "  parent Gateway %s/%s%s%s: %s\n",
					json_string_value(json_object_get(pr, "namespace")),
					json_string_value(json_object_get(pr, "name")),
					sec ? " listener " : "", sec ? sec : "",
					!strcmp(s1, "True") ? "attached" : "REJECTED");
				print_bad(f, "    ", json_object_get(x, "conditions"));
			}
			continue;
		}
		if (!strcmp(kind, "BackendTLSPolicy")) {
			fprintf(f, "\n");
			json_array_foreach(json_object_get(st, "ancestors"), j, x) {
				json_t *ar = json_object_get(x, "ancestorRef");

				fprintf(f, "  ancestor Gateway %s/%s\n",
					json_string_value(json_object_get(ar, "namespace")),
					json_string_value(json_object_get(ar, "name")));
				print_bad(f, "    ", json_object_get(x, "conditions"));
			}
			continue;
		}
		s1 = cond_str(json_object_get(st, "conditions"), "Programmed", &r1, &m1);
		fprintf(f, ": %s\n", !strcmp(s1, "True") ? "served" :
			!strcmp(kind, "GatewayClass") ? "accepted" : "NOT SERVED");
		print_bad(f, "  ", json_object_get(st, "conditions"));
		json_array_foreach(json_object_get(st, "listeners"), j, x) {
			s1 = cond_str(json_object_get(x, "conditions"), "Programmed", &r1, &m1);
			fprintf(f, "  listener %s: %s, %lld attached route(s)\n",
				json_string_value(json_object_get(x, "name")),
				!strcmp(s1, "True") ? "served" : "NOT SERVED",
				(long long)json_integer_value(json_object_get(x, "attachedRoutes")));
			print_bad(f, "    ", json_object_get(x, "conditions"));
		}
	}
	fprintf(f, "table: %zu binds, %zu listeners, %zu routes, %zu entries, %zu sets, "
		"%zu backends\n", pc->n_binds, pc->n_listeners, pc->n_routes, pc->n_entries,
		pc->n_sets, pc->n_backends);
	for (i = 0; i < pc->n_binds; i++)
		fprintf(f, "  bind %u: %s port %u%s%s\n", pc->binds[i].id, pc->binds[i].address,
			pc->binds[i].port, pc->binds[i].has_passthrough ? " passthrough" : "",
			pc->binds[i].has_terminate ? " terminate" : "");
}

static void print_endpoint(FILE *f, const struct sng_endpoint *e)
{
	char a[INET6_ADDRSTRLEN];

	inet_ntop(e->family, e->addr, a, sizeof(a));
	fprintf(f, e->family == AF_INET6 ? "[%s]:%u" : "%s:%u", a, ntohs(e->port));
}

/* One --sni PORT:NAME query on every bind of PORT. */
static int print_sni(FILE *f, const struct policy_compiled *pc, const char *q)
{
	char *end, name[SNG_HOSTNAME_MAX + 1];
	long port = strtol(q, &end, 10);
	const char *sni = end + 1;
	size_t b, i, seen = 0;
	int n;

	if (end == q || *end != ':' || port < 1 || port > 65535) {
		fprintf(stderr, "snigate check: --sni %s: expected PORT:NAME\n", q);
		return EXIT_BADINPUT;
	}
	n = policy_sni_normalize(sni, strlen(sni), name);
	for (b = 0; b < pc->n_binds; b++) {
		const struct policy_bind *bd = &pc->binds[b];
		const struct policy_listener *l;
		const struct sng_route_val *v;
		long e;

		if (bd->port != port)
			continue;
		seen++;
		fprintf(f, "sni %ld %s on %s: ", port, sni, bd->address);
		if (n < 0) {
			fprintf(f, "rejected (bad SNI)\n");
			continue;
		}
		e = policy_lookup(pc, bd->id, name);
		if (e < 0) {
			fprintf(f, "rejected (no listener)\n");
			continue;
		}
		v = &pc->vals[e];
		l = &pc->listeners[v->listener_id];
		fprintf(f, "listener %s/%s/%s (%s)", l->gateway_ns, l->gateway_name, l->name,
			l->mode == SNG_MODE_TERMINATE ? "terminate" : "passthrough");
		if (v->action != SNG_ACT_ROUTE) {
			fprintf(f, ", rejected (no route)\n");
			continue;
		}
		fprintf(f, ", route %s/%s ->", pc->routes[v->route_id].ns,
			pc->routes[v->route_id].name);
		for (i = 0; i < pc->sets[v->set_id].n; i++) {
			const struct sng_set_member *m = &pc->sets[v->set_id].m[i];
			const struct sng_backend *bk;
			uint32_t k;

			if (m->status) {
				fprintf(f, " [invalid, weight %u: rejected]", m->weight);
				continue;
			}
			bk = &pc->backends[m->backend_id];
			fprintf(f, " [%s/%s:%u weight %u:", pc->backend_info[m->backend_id].ns,
				pc->backend_info[m->backend_id].name,
				pc->backend_info[m->backend_id].port, m->weight);
			for (k = 0; k < bk->n; k++) {
				fputc(' ', f);
				print_endpoint(f, &bk->ep[k]);
			}
			fprintf(f, "%s%s]", bk->n ? "" : " no endpoint",
				bk->flags & SNG_BF_BACKEND_TLS ? " (re-encrypt)" : "");
		}
		fprintf(f, "\n");
	}
	if (!seen)
		fprintf(f, "sni %ld %s: rejected (no listener on port %ld)\n", port, sni, port);
	return 0;
}

/* A size with an optional k/M/G (KiB, MiB, GiB) suffix into *out (>= 1).
 * 0 or -EINVAL. */
static int parse_size(const char *s, uint64_t *out)
{
	unsigned long long v;
	char *end;
	int shift = 0;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (end == s || errno || *s == '-')
		return -EINVAL;
	switch (*end) {
	case 'k': case 'K': shift = 10; end++; break;
	case 'm': case 'M': shift = 20; end++; break;
	case 'g': case 'G': shift = 30; end++; break;
	}
	if (*end == 'i' || *end == 'B')
		end++;
	if (*end || !v || v > (UINT64_MAX >> shift))
		return -EINVAL;
	*out = (uint64_t)v << shift;
	return 0;
}

/* -f -: the whole of stdin as one file named "<stdin>" (at most the input's
 * budget + 1 bytes are read). */
static int add_stdin(struct policy_input *in, struct policy_error *err)
{
	/* no more than budget + 1 bytes: enough to know it is over */
	uint64_t left = policy_input_budget_left(in);
	size_t len = 0, cap = 1 << 16, want;
	char *buf = malloc(cap), *nb;
	size_t n;
	int rc;

	for (;;) {
		want = cap - len;
		if (want > left + 1 - len)
			want = (size_t)(left + 1 - len);
		if (!buf || !want || !(n = fread(buf + len, 1, want, stdin)))
			break;
		len += n;
		if (len == cap) {
			nb = realloc(buf, cap * 2);
			if (!nb) {
				free(buf);
				buf = NULL;
				break;
			}
			buf = nb;
			cap *= 2;
		}
	}
	if (!buf || ferror(stdin)) {
		free(buf);
		memset(err, 0, sizeof(*err));
		snprintf(err->file, sizeof(err->file), "<stdin>");
		snprintf(err->msg, sizeof(err->msg), "cannot read: %s", strerror(errno));
		return -EIO;
	}
	if (len > left) {
		free(buf);
		memset(err, 0, sizeof(*err));
		snprintf(err->file, sizeof(err->file), "<stdin>");
		snprintf(err->msg, sizeof(err->msg), "more than %llu bytes: over the input's "
			 "budget (--max-input-bytes)", (unsigned long long)left);
		return -EINVAL;
	}
	rc = policy_input_add_buffer(in, "<stdin>", buf, len, err);
	free(buf);
	return rc;
}

int cmd_check(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "file", required_argument, NULL, 'f' },
		{ "output", required_argument, NULL, 'o' },
		{ "gateway-class", required_argument, NULL, 'g' },
		{ "controller-name", required_argument, NULL, 'c' },
		{ "address", required_argument, NULL, 'a' },
		{ "stats", no_argument, NULL, 's' },
		{ "max-input-bytes", required_argument, NULL, 'm' },
		{ "sni", required_argument, NULL, 'n' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct policy_options po = { 0 };
	struct policy_input *in = NULL;
	struct policy_compiled *pc = NULL;
	struct policy_error err;
	const char **files = NULL, **snis = NULL;
	size_t n_files = 0, n_snis = 0, i;
	int out = OUT_JSON, out_given = 0, stats = 0, opt, rc = EXIT_FAIL;
	uint64_t budget = POLICY_DEFAULT_MAX_INPUT_BYTES;
	struct timespec t0, t1, t2;
	json_t *note;

	files = calloc((size_t)argc + 1, sizeof(*files));
	snis = calloc((size_t)argc + 1, sizeof(*snis));
	if (!files || !snis)
		goto out;
	optind = 1;
	while ((opt = getopt_long(argc, argv, "f:o:h", opts, NULL)) != -1) {
		switch (opt) {
		case 'f':
			files[n_files++] = optarg;
			break;
		case 'o':
			out_given = 1;
			if (!strcmp(optarg, "json"))
				out = OUT_JSON;
			else if (!strcmp(optarg, "yaml"))
				out = OUT_YAML;
			else if (!strcmp(optarg, "text"))
				out = OUT_TEXT;
			else {
				fprintf(stderr, "snigate check: -o %s: expected json, yaml or text\n",
					optarg);
				rc = EXIT_BADINPUT;
				goto out;
			}
			break;
		case 'g':
			po.gateway_class = optarg;
			break;
		case 'c':
			po.controller_name = optarg;
			break;
		case 'a':
			po.default_address = optarg;
			break;
		case 's':
			stats = 1;
			break;
		case 'm':
			if (parse_size(optarg, &budget)) {
				fprintf(stderr, "snigate check: --max-input-bytes %s: expected a size "
					"of at least 1 byte (k, M, G suffixes)\n", optarg);
				rc = EXIT_BADINPUT;
				goto out;
			}
			break;
		case 'n':
			snis[n_snis++] = optarg;
			break;
		case 'h':
			usage(stdout);
			rc = EXIT_OK;
			goto out;
		default:
			usage(stderr);
			rc = EXIT_BADINPUT;
			goto out;
		}
	}
	if (!n_files || optind < argc) {
		fprintf(stderr, "snigate check: %s\n", n_files ? "unexpected argument" :
			"no input: give -f FILE_OR_DIR");
		usage(stderr);
		rc = EXIT_BADINPUT;
		goto out;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	in = policy_input_new();
	if (!in)
		goto out;
	policy_input_set_budget(in, budget);
	for (i = 0; i < n_files; i++) {
		int r = strcmp(files[i], "-") ? policy_input_add_path(in, files[i], &err) :
			add_stdin(in, &err);

		if (!r)
			continue;
		fprintf(stderr, "snigate check: %s", err.file);
		if (err.line)
			fprintf(stderr, ":%d:%d", err.line, err.column);
		fprintf(stderr, ": %s%s%s\n", err.path, *err.path ? ": " : "", err.msg);
		rc = r == -EINVAL || r == -ENOENT || r == -EISDIR || r == -EACCES ? EXIT_BADINPUT :
		     EXIT_FAIL;
		goto out;
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	pc = policy_compile(in, &po);
	clock_gettime(CLOCK_MONOTONIC, &t2);
	if (!pc) {
		fprintf(stderr, "snigate check: compile failed: %s\n", errno == E2BIG ?
			"the table exceeds the map limits of include/snigate_abi.h" : strerror(errno));
		goto out;
	}
	json_array_foreach(pc->notes, i, note)
		if (out != OUT_TEXT)
			fprintf(stderr, "note: %s\n", json_string_value(note));
	if (!n_snis || out_given) {
		if (out == OUT_JSON) {
			json_dumpf(pc->status, stdout, JSON_INDENT(2));
			fputc('\n', stdout);
		} else if (out == OUT_YAML) {
			if (policy_write_yaml(stdout, pc->status))
				goto out;
		} else {
			print_text(stdout, pc);
			if (json_array_size(pc->notes))
				printf("notes:\n");
			json_array_foreach(pc->notes, i, note)
				printf("  %s\n", json_string_value(note));
		}
	}
	for (i = 0; i < n_snis; i++) {
		rc = print_sni(stdout, pc, snis[i]);
		if (rc)
			goto out;
	}
	if (stats)
		fprintf(stderr, "stats: %zu entries, %zu sets, %zu backends, %zu listeners, %zu binds, "
			"%zu bytes; parse %.3f ms, compile %.3f ms\n", pc->n_entries, pc->n_sets,
			pc->n_backends, pc->n_listeners, pc->n_binds, policy_table_bytes(pc),
			(double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6,
			(double)(t2.tv_sec - t1.tv_sec) * 1e3 + (double)(t2.tv_nsec - t1.tv_nsec) / 1e6);
	rc = fflush(stdout) ? EXIT_FAIL : EXIT_OK;
out:
	policy_compiled_free(pc);
	policy_input_free(in);
	free(files);
	free(snis);
	return rc;
}
