// SPDX-License-Identifier: GPL-2.0-only
/* `snigate status`: ask the running agent (control socket) for the live
 * status of its Gateways and TLSRoutes; print it like `snigate check`. */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "control.h"
#include "policy.h"

enum { OUT_JSON, OUT_YAML, OUT_TEXT };

static void usage(FILE *f)
{
	fprintf(f,
		"usage: snigate status [-o json|yaml|text] [--control-socket PATH]\n\n"
		"Print the live status of the Gateways, TLSRoutes, GatewayClasses and\n"
		"BackendTLSPolicies the running agent serves, asked over its control socket\n"
		"(root only). The JSON and YAML output is the kind: List `snigate check`\n"
		"prints for the same manifests; text is a summary with the policy serial,\n"
		"the binds and every condition that is not in its good state.\n\n"
		"options:\n"
		"  -o, --output FORMAT      json (default), yaml or text\n"
		"  -s, --control-socket P   the agent's socket (default " CONTROL_DEFAULT_PATH ";\n"
		"                           snigate run --control-socket)\n"
		"      --timeout S          give up after S seconds (default 5)\n"
		"  -h, --help               this help\n\n"
		"exit status: 0 printed, 1 no agent answers or it has no policy, 2 bad usage.\n");
}

/* The condition @type of @conds: its status ("Unknown" if absent). */
static const char *cond(json_t *conds, const char *type, const char **reason, const char **msg)
{
	json_t *c;
	size_t i;

	json_array_foreach(conds, i, c) {
		const char *t = json_string_value(json_object_get(c, "type"));

		if (!t || strcmp(t, type))
			continue;
		*reason = json_string_value(json_object_get(c, "reason"));
		*msg = json_string_value(json_object_get(c, "message"));
		if (!*reason)
			*reason = "";
		if (!*msg)
			*msg = "";
		return json_string_value(json_object_get(c, "status")) ?: "Unknown";
	}
	*reason = *msg = "";
	return "Unknown";
}

/* Conditions not in their good state (Conflicted good = False). */
static void print_bad(const char *indent, json_t *conds)
{
	json_t *c;
	size_t i;

	json_array_foreach(conds, i, c) {
		const char *t = json_string_value(json_object_get(c, "type"));
		const char *st = json_string_value(json_object_get(c, "status"));
		const char *good = t && !strcmp(t, "Conflicted") ? "False" : "True";

		if (!t || !st || !strcmp(st, good))
			continue;
		printf("%s%s=%s %s: %s\n", indent, t, st,
		       json_string_value(json_object_get(c, "reason")) ?: "",
		       json_string_value(json_object_get(c, "message")) ?: "");
	}
}

static void print_text(json_t *reply)
{
	json_t *items = json_object_get(json_object_get(reply, "status"), "items"), *it, *x;
	json_t *table = json_object_get(reply, "table");
	const char *r, *m;
	size_t i, j;

	printf("policy serial %lld\n", json_integer_value(json_object_get(reply, "serial")));
	json_array_foreach(items, i, it) {
		const char *kind = json_string_value(json_object_get(it, "kind")) ?: "?";
		json_t *md = json_object_get(it, "metadata"), *st = json_object_get(it, "status");
		const char *ns = json_string_value(json_object_get(md, "namespace"));
		const char *name = json_string_value(json_object_get(md, "name")) ?: "?";

		printf("%s %s%s%s", kind, ns ? ns : "", ns ? "/" : "", name);
		if (!strcmp(kind, "TLSRoute") || !strcmp(kind, "BackendTLSPolicy")) {
			bool route = !strcmp(kind, "TLSRoute");

			printf("\n");
			json_array_foreach(json_object_get(st, route ? "parents" : "ancestors"), j, x) {
				json_t *pr = json_object_get(x, route ? "parentRef" : "ancestorRef");
				const char *sec = json_string_value(json_object_get(pr, "sectionName"));
				const char *acc = cond(json_object_get(x, "conditions"), "Accepted", &r, &m);

				printf("  %s Gateway %s/%s%s%s: %s\n", route ? "parent" : "ancestor",
				       json_string_value(json_object_get(pr, "namespace")) ?: "",
				       json_string_value(json_object_get(pr, "name")) ?: "",
				       sec ? " listener " : "", sec ? sec : "",
				       !strcmp(acc, "True") ? "accepted" : "REJECTED");
				print_bad("    ", json_object_get(x, "conditions"));
			}
			continue;
		}
		printf(": %s\n", !strcmp(cond(json_object_get(st, "conditions"), "Programmed", &r,
					      &m), "True") ? "served" :
		       !strcmp(kind, "GatewayClass") ? "accepted" : "NOT SERVED");
		print_bad("  ", json_object_get(st, "conditions"));
		json_array_foreach(json_object_get(st, "listeners"), j, x) {
			printf("  listener %s: %s, %lld attached route(s)\n",
			       json_string_value(json_object_get(x, "name")) ?: "?",
			       !strcmp(cond(json_object_get(x, "conditions"), "Programmed", &r, &m),
				       "True") ? "served" : "NOT SERVED",
			       json_integer_value(json_object_get(x, "attachedRoutes")));
			print_bad("    ", json_object_get(x, "conditions"));
		}
	}
	if (table) {
		printf("table: %lld binds, %lld listeners, %lld routes, %lld entries, %lld sets, "
		       "%lld backends\n", (long long)json_array_size(json_object_get(table, "binds")),
		       json_integer_value(json_object_get(table, "listeners")),
		       json_integer_value(json_object_get(table, "routes")),
		       json_integer_value(json_object_get(table, "entries")),
		       json_integer_value(json_object_get(table, "sets")),
		       json_integer_value(json_object_get(table, "backends")));
		json_array_foreach(json_object_get(table, "binds"), i, x)
			printf("  bind %lld: %s port %lld%s%s\n",
			       json_integer_value(json_object_get(x, "id")),
			       json_string_value(json_object_get(x, "address")) ?: "?",
			       json_integer_value(json_object_get(x, "port")),
			       json_is_true(json_object_get(x, "passthrough")) ? " passthrough" : "",
			       json_is_true(json_object_get(x, "terminate")) ? " terminate" : "");
	}
	if (json_array_size(json_object_get(reply, "notes")))
		printf("notes:\n");
	json_array_foreach(json_object_get(reply, "notes"), i, x)
		printf("  %s\n", json_string_value(x) ?: "");
}

int cmd_status(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "output", required_argument, NULL, 'o' },
		{ "control-socket", required_argument, NULL, 's' },
		{ "timeout", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *path = CONTROL_DEFAULT_PATH, *err;
	int out = OUT_JSON, opt, timeout_ms = 5000, rc = EXIT_FAIL;
	json_t *reply, *status;
	char *end;
	double t;

	optind = 1;
	while ((opt = getopt_long(argc, argv, "o:s:h", opts, NULL)) != -1) {
		switch (opt) {
		case 'o':
			if (!strcmp(optarg, "json"))
				out = OUT_JSON;
			else if (!strcmp(optarg, "yaml"))
				out = OUT_YAML;
			else if (!strcmp(optarg, "text"))
				out = OUT_TEXT;
			else {
				fprintf(stderr, "snigate status: -o %s: expected json, yaml or text\n",
					optarg);
				return EXIT_BADINPUT;
			}
			break;
		case 's':
			path = optarg;
			break;
		case 't':
			t = strtod(optarg, &end);
			if (end == optarg || *end || t <= 0 || t > 3600) {
				fprintf(stderr, "snigate status: --timeout %s: expected seconds\n", optarg);
				return EXIT_BADINPUT;
			}
			timeout_ms = (int)(t * 1000) ?: 1;
			break;
		case 'h':
			usage(stdout);
			return EXIT_OK;
		default:
			usage(stderr);
			return EXIT_BADINPUT;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "snigate status: unexpected argument '%s'\n", argv[optind]);
		usage(stderr);
		return EXIT_BADINPUT;
	}
	reply = control_request(path, "status", timeout_ms);
	if (!reply) {
		fprintf(stderr, "snigate status: %s: %s%s\n", path, strerror(errno),
			errno == ENOENT || errno == ECONNREFUSED ?
			" (is snigate run serving with this --control-socket?)" :
			errno == EACCES ? " (root only)" : "");
		return EXIT_FAIL;
	}
	err = json_string_value(json_object_get(reply, "error"));
	status = json_object_get(reply, "status");
	if (err || !json_is_object(status)) {
		fprintf(stderr, "snigate status: the agent says: %s\n", err ? err : "no status");
		goto out;
	}
	if (out == OUT_JSON) {
		json_dumpf(status, stdout, JSON_INDENT(2));
		fputc('\n', stdout);
	} else if (out == OUT_YAML) {
		if (policy_write_yaml(stdout, status))
			goto out;
	} else {
		print_text(reply);
	}
	rc = fflush(stdout) ? EXIT_FAIL : EXIT_OK;
out:
	json_decref(reply);
	return rc;
}
