// SPDX-License-Identifier: GPL-2.0-only
/* Unit tests of the policy input reader: YAML and JSON, lists, files and
 * directories, and malformed input (syntax, wrong types, truncation,
 * oversized and hostile documents) giving file:line:column + JSON path. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"
#include "policy.h"
#include "fixture.h"

static const char gw_yaml[] =
	"apiVersion: gateway.networking.k8s.io/v1\n"
	"kind: Gateway\n"
	"metadata:\n"
	"  name: g\n"
	"spec:\n"
	"  gatewayClassName: c\n"
	"  listeners:\n"
	"  - name: tls\n"
	"    protocol: TLS\n"
	"    port: 443\n"
	"    tls:\n"
	"      mode: Passthrough\n";

/* ---- malformed input: where and why ------------------------------------------ */

static const struct bad {
	const char *name, *text;
	int line, column;      /* 0: not checked */
	const char *path;      /* JSON pointer, "" none */
	const char *msg;       /* substring of the message */
} bad_cases[] = {
	{ "port-string.yaml",
	  "apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata: {name: g}\n"
	  "spec:\n  gatewayClassName: c\n  listeners:\n  - name: tls\n    protocol: TLS\n"
	  "    port: \"443\"\n", 9, 11, "/spec/listeners/0/port", "must be an integer" },
	{ "port-range.yaml",
	  "apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata: {name: g}\n"
	  "spec:\n  gatewayClassName: c\n  listeners:\n  - name: tls\n    protocol: TLS\n"
	  "    port: 70000\n", 9, 11, "/spec/listeners/0/port", "out of range" },
	{ "port-huge.yaml",
	  "apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata: {name: g}\n"
	  "spec:\n  gatewayClassName: c\n  listeners:\n  - name: tls\n    protocol: TLS\n"
	  "    port: 99999999999999999999999\n", 9, 11, "/spec/listeners/0/port",
	  "must be an integer" },
	{ "backend-port.yaml",
	  "apiVersion: gateway.networking.k8s.io/v1\nkind: TLSRoute\nmetadata: {name: r}\n"
	  "spec:\n  hostnames: [a.example.com]\n  rules:\n  - backendRefs:\n"
	  "    - {name: a, port: 1}\n    - {name: b, port: [1]}\n", 9, 23,
	  "/spec/rules/0/backendRefs/1/port", "must be an integer" },
	{ "weight.yaml",
	  "apiVersion: gateway.networking.k8s.io/v1\nkind: TLSRoute\nmetadata: {name: r}\n"
	  "spec:\n  hostnames: [a.example.com]\n  rules:\n  - backendRefs:\n"
	  "    - {name: a, port: 1, weight: 1000001}\n", 8, 0,
	  "/spec/rules/0/backendRefs/0/weight", "out of range" },
	{ "listeners-not-list.yaml",
	  "apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata: {name: g}\n"
	  "spec:\n  gatewayClassName: c\n  listeners: {name: tls}\n", 6, 14, "/spec/listeners",
	  "must be an array" },
	{ "no-name.yaml", "apiVersion: v1\nkind: Service\nmetadata: {namespace: x}\n", 3, 11,
	  "/metadata/name", "required" },
	{ "no-kind.yaml", "apiVersion: v1\nmetadata: {name: x}\n", 1, 1, "/kind", "required" },
	{ "no-spec.yaml", "apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\n"
	  "metadata: {name: g}\n", 1, 1, "/spec", "required" },
	{ "no-rules.yaml", "apiVersion: gateway.networking.k8s.io/v1\nkind: TLSRoute\n"
	  "metadata: {name: r}\nspec:\n  hostnames: [a.b]\n", 5, 3, "/spec/rules", "required" },
	{ "no-hostnames-v1.yaml", "apiVersion: gateway.networking.k8s.io/v1\nkind: TLSRoute\n"
	  "metadata: {name: r}\nspec:\n  rules: [{backendRefs: [{name: a, port: 1}]}]\n", 0, 0,
	  "/spec/hostnames", "v1alpha2" },
	{ "two-rules-v1.yaml", "apiVersion: gateway.networking.k8s.io/v1\nkind: TLSRoute\n"
	  "metadata: {name: r}\nspec:\n  hostnames: [a.b]\n  rules:\n"
	  "  - backendRefs: [{name: a, port: 1}]\n  - backendRefs: [{name: a, port: 1}]\n", 7, 3,
	  "/spec/rules", "exactly one" },
	{ "too-many-backends.yaml", "apiVersion: gateway.networking.k8s.io/v1\nkind: TLSRoute\n"
	  "metadata: {name: r}\nspec:\n  hostnames: [a.b]\n  rules:\n  - backendRefs: [{name: a},"
	  "{name: a},{name: a},{name: a},{name: a},{name: a},{name: a},{name: a},{name: a},"
	  "{name: a},{name: a},{name: a},{name: a},{name: a},{name: a},{name: a},{name: a}]\n",
	  7, 18, "/spec/rules/0/backendRefs", "at most 16" },
	{ "bad-hostname.yaml", "apiVersion: gateway.networking.k8s.io/v1\nkind: TLSRoute\n"
	  "metadata: {name: r}\nspec:\n  hostnames: [ok.example.com, \"Foo.Example.com\"]\n"
	  "  rules: [{backendRefs: [{name: a, port: 1}]}]\n", 5, 31, "/spec/hostnames/1",
	  "invalid hostname" },
	{ "ip-hostname.yaml", "apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\n"
	  "metadata: {name: g}\nspec:\n  gatewayClassName: c\n  listeners:\n"
	  "  - {name: a, protocol: TLS, port: 1, hostname: 10.0.0.1}\n", 7, 49,
	  "/spec/listeners/0/hostname", "invalid hostname" },
	{ "dup-listener.yaml", "apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\n"
	  "metadata: {name: g}\nspec:\n  gatewayClassName: c\n  listeners:\n"
	  "  - {name: a, protocol: TLS, port: 1}\n  - {name: a, protocol: TLS, port: 2}\n", 8, 12,
	  "/spec/listeners/1/name", "duplicate listener" },
	{ "labels.yaml", "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: n\n  labels: {a: 1}\n",
	  5, 0, "/metadata/labels/a", "must be a string" },
	{ "second-doc.yaml", "apiVersion: v1\nkind: Service\nmetadata: {name: a}\n---\n"
	  "apiVersion: v1\nkind: Service\nmetadata: {name: b}\nspec: {ports: [{port: x}]}\n", 8, 23,
	  "/spec/ports/0/port", "must be an integer" },
	{ "list-item.yaml", "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Service\n"
	  "  metadata: {name: a}\n- apiVersion: v1\n  kind: Service\n  metadata: {name: 7}\n", 9, 20,
	  "/items/1/metadata/name", "must be a string" },
	{ "list-no-items.yaml", "apiVersion: v1\nkind: List\nitems: 3\n", 3, 8, "/items",
	  "needs an array" },
	{ "scalar-doc.yaml", "just a string\n", 0, 0, "", "not an object" },
	{ "unclosed-quote.yaml", "apiVersion: \"v1\nkind: Service\n", 3, 1, "", "YAML" },
	{ "bad-indent.yaml", "apiVersion: v1\nkind: Service\n metadata: {name: a}\n", 3, 10, "",
	  "YAML" },
	{ "dup-key.yaml", "apiVersion: v1\nkind: Service\nkind: Secret\nmetadata: {name: a}\n", 3, 1,
	  "", "duplicate key" },
	{ "tab.yaml", "apiVersion: v1\nkind: Service\nmetadata:\n\tname: a\n", 4, 1, "", "YAML" },
	{ "nul.yaml", "apiVersion: v1\nkind: Service\n\0metadata: {name: a}\n", 0, 0, "", "NUL" },
	{ "bad-utf8.yaml", "apiVersion: v1\nkind: Service\nmetadata: {name: \"\xff\xfe\"}\n", 0, 0,
	  "", "" },
	{ "deep.yaml", NULL, 0, 0, "", "nested too deeply" }, /* built in test_bad */
	{ "laughs.yaml",
	  "a: &a [x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x]\n"
	  "b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
	  "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
	  "d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
	  "e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\n"
	  "f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e, *e, *e, *e, *e, *e, *e]\n"
	  "g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f, *f, *f, *f, *f, *f, *f, *f]\n",
	  0, 0, "", "too large" },
	/* JSON */
	{ "port.json",
	  "{\n  \"apiVersion\": \"gateway.networking.k8s.io/v1\",\n  \"kind\": \"TLSRoute\",\n"
	  "  \"metadata\": {\"name\": \"r\"},\n  \"spec\": {\n    \"hostnames\": [\"a.b\"],\n"
	  "    \"rules\": [{\"backendRefs\": [{\"name\": \"a\", \"port\": 1},\n"
	  "                                 {\"name\": \"b\", \"port\": \"x\"}]}]\n  }\n}\n",
	  8, 56, "/spec/rules/0/backendRefs/1/port", "must be an integer" },
	{ "truncated.json", "{\n  \"apiVersion\": \"v1\",\n  \"kind\": \"Service\",\n  \"metadata\": {\"na",
	  4, 0, "", "JSON" },
	{ "trailing-comma.json", "{\"apiVersion\": \"v1\", \"kind\": \"Service\",}\n", 1, 0, "",
	  "JSON" },
	{ "dup.json", "{\"apiVersion\": \"v1\", \"kind\": \"Service\", \"kind\": \"Secret\"}\n", 1, 0,
	  "", "JSON" },
	{ "second.json", "{\"apiVersion\": \"v1\", \"kind\": \"Service\", \"metadata\": {\"name\": \"a\"}}\n"
	  "\n{\"apiVersion\": \"v1\", \"kind\": \"Service\", \"metadata\": {\"name\": \"b\"}}\n"
	  "{\"apiVersion\": \"v1\", \"kind\": \"Service\", \"metadata\": {\"name\": \"c\"} ,,\n", 4, 0, "",
	  "JSON" },
	{ "kubectl-list.json",
	  "{\"apiVersion\": \"v1\", \"kind\": \"List\", \"items\": [\n"
	  " {\"apiVersion\": \"v1\", \"kind\": \"Service\", \"metadata\": {\"name\": \"a\"},\n"
	  "  \"spec\": {\"ports\": [{\"port\": true}]}}]}\n", 3, 31, "/items/0/spec/ports/0/port",
	  "must be an integer" },
};

START_TEST(test_bad)
{
	const struct bad *b = &bad_cases[_i];
	struct policy_input *in = policy_input_new();
	struct policy_error err;
	size_t len;
	int rc;

	char deep[400];
	const char *text = b->text;

	if (!text) { /* 100 nested flow sequences */
		int n = sprintf(deep, "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\ndata: "), k;

		for (k = 0; k < 100; k++)
			deep[n++] = '[';
		for (k = 0; k < 100; k++)
			deep[n++] = ']';
		strcpy(deep + n, "\n");
		text = deep;
	}
	len = strlen(text);
	if (!strcmp(b->name, "nul.yaml"))
		len = sizeof("apiVersion: v1\nkind: Service\n\0metadata: {name: a}\n") - 1;
	ck_assert_ptr_nonnull(in);
	/* a good object first: it must stay, the bad file must add nothing */
	ck_assert_int_eq(policy_input_add_buffer(in, "good.yaml", gw_yaml, strlen(gw_yaml), &err), 0);
	rc = policy_input_add_buffer(in, b->name, text, len, &err);
	ck_assert_msg(rc == -EINVAL, "%s: rc %d (%s)", b->name, rc, err.msg);
	ck_assert_str_eq(err.file, b->name);
	ck_assert_msg(strstr(err.msg, b->msg), "%s: message '%s' lacks '%s'", b->name, err.msg, b->msg);
	ck_assert_msg(!strcmp(err.path, b->path), "%s: path '%s', want '%s'", b->name, err.path,
		      b->path);
	if (b->line)
		ck_assert_msg(err.line == b->line, "%s: line %d, want %d", b->name, err.line, b->line);
	if (b->column)
		ck_assert_msg(err.column == b->column, "%s: column %d, want %d", b->name, err.column,
			      b->column);
	{
		struct policy_compiled *pc = policy_compile(in, NULL);
		json_t *items;

		ck_assert_ptr_nonnull(pc);
		items = json_object_get(pc->status, "items");
		ck_assert_uint_eq(json_array_size(items), 1); /* only Gateway g */
		policy_compiled_free(pc);
	}
	policy_input_free(in);
}
END_TEST

/* Every prefix of a valid multi-document file parses or fails cleanly. */
START_TEST(test_truncated_everywhere)
{
	static const char full[] =
		"apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata:\n  name: g\n"
		"spec:\n  gatewayClassName: c\n  listeners:\n  - name: tls\n    protocol: TLS\n"
		"    port: 443\n    hostname: \"*.example.com\"\n    tls: {mode: Passthrough}\n---\n"
		"apiVersion: gateway.networking.k8s.io/v1\nkind: TLSRoute\nmetadata: {name: r}\n"
		"spec:\n  parentRefs: [{name: g}]\n  hostnames: [a.example.com]\n  rules:\n"
		"  - backendRefs:\n    - {name: s, port: 443, weight: 2}\n";
	static const char full_json[] =
		"{\"apiVersion\":\"v1\",\"kind\":\"List\",\"items\":[{\"apiVersion\":"
		"\"gateway.networking.k8s.io/v1\",\"kind\":\"TLSRoute\",\"metadata\":{\"name\":\"r\"},"
		"\"spec\":{\"parentRefs\":[{\"name\":\"g\"}],\"hostnames\":[\"a.example.com\"],"
		"\"rules\":[{\"backendRefs\":[{\"name\":\"s\",\"port\":443}]}]}}]}";
	size_t n, ok = 0, bad = 0;
	int json;

	for (json = 0; json < 2; json++) {
		const char *src = json ? full_json : full;
		size_t len = strlen(src);

		for (n = 0; n <= len; n++) {
			struct policy_input *in = policy_input_new();
			struct policy_compiled *pc;
			struct policy_error err;
			char *cut = malloc(n + 1);
			int rc;

			memcpy(cut, src, n);
			cut[n] = '\0';
			rc = policy_input_add_buffer(in, json ? "cut.json" : "cut.yaml", cut, n, &err);
			ck_assert_msg(rc == 0 || (rc == -EINVAL && *err.msg), "prefix %zu: rc %d", n, rc);
			if (rc) {
				bad++;
			} else {
				ok++;
				pc = policy_compile(in, NULL);
				ck_assert_ptr_nonnull(pc);
				policy_compiled_free(pc);
			}
			free(cut);
			policy_input_free(in);
		}
	}
	ck_assert_uint_gt(ok, 1);
	ck_assert_uint_gt(bad, 100);
}
END_TEST

/* Wrong types anywhere: replace each scalar of a valid route with a list
 * and with a map; either a clean schema error or an accepted object. */
START_TEST(test_wrong_types_everywhere)
{
	static const char *const vals[] = { "[1]", "{a: 1}", "~", "-5", "\"\"", "true" };
	static const char tmpl[] =
		"apiVersion: gateway.networking.k8s.io/v1\nkind: TLSRoute\n"
		"metadata: {name: @, namespace: @, creationTimestamp: @, generation: @}\n"
		"spec:\n  parentRefs: [{name: @, namespace: @, sectionName: @, port: @, kind: @,"
		" group: @}]\n  hostnames: [@]\n  rules:\n  - name: @\n    backendRefs:\n"
		"    - {name: @, namespace: @, port: @, weight: @, kind: @, group: @}\n";
	static const char *const good[] = { "r", "ns", "\"2020-01-01T00:00:00Z\"", "3", "g", "ns",
		"l", "443", "Gateway", "gateway.networking.k8s.io", "a.example.com", "rule", "s", "ns",
		"443", "1", "Service", "\"\"" };
	size_t slots = sizeof(good) / sizeof(good[0]), s, v, errors = 0;
	char buf[2048];

	for (s = 0; s < slots; s++) {
		for (v = 0; v < sizeof(vals) / sizeof(vals[0]); v++) {
			struct policy_input *in = policy_input_new();
			struct policy_error err;
			struct policy_compiled *pc;
			const char *t;
			size_t u = 0, k = 0;
			int rc;

			for (t = tmpl; *t; t++) {
				if (*t != '@') {
					buf[u++] = *t;
					continue;
				}
				u += (size_t)sprintf(buf + u, "%s", k == s ? vals[v] : good[k]);
				k++;
			}
			buf[u] = '\0';
			rc = policy_input_add_buffer(in, "t.yaml", buf, u, &err);
			ck_assert_msg(rc == 0 || (rc == -EINVAL && *err.path && err.line > 0),
				      "slot %zu value %s: rc %d path '%s' line %d", s, vals[v], rc,
				      err.path, err.line);
			errors += rc != 0;
			pc = policy_compile(in, NULL);
			ck_assert_ptr_nonnull(pc);
			policy_compiled_free(pc);
			policy_input_free(in);
		}
	}
	ck_assert_uint_gt(errors, slots * 3);
}
END_TEST

/* ---- accepted shapes --------------------------------------------------------- */

static json_t *status_of(struct policy_input *in, const char *kind, const char *name)
{
	struct policy_compiled *pc = policy_compile(in, NULL);
	json_t *it, *r = NULL;
	size_t i;

	ck_assert_ptr_nonnull(pc);
	json_array_foreach(json_object_get(pc->status, "items"), i, it)
		if (!strcmp(json_string_value(json_object_get(it, "kind")), kind) &&
		    !strcmp(json_string_value(json_object_get(json_object_get(it, "metadata"),
							      "name")), name))
			r = json_incref(it);
	policy_compiled_free(pc);
	return r;
}

START_TEST(test_json_list_and_defaults)
{
	static const char j[] =
		"{\"apiVersion\":\"v1\",\"kind\":\"List\",\"metadata\":{\"resourceVersion\":\"\"},"
		"\"items\":[{\"apiVersion\":\"gateway.networking.k8s.io/v1\",\"kind\":\"Gateway\","
		"\"metadata\":{\"name\":\"g\",\"generation\":7},\"spec\":{\"gatewayClassName\":\"c\","
		"\"listeners\":[{\"name\":\"tls\",\"protocol\":\"TLS\",\"port\":443,\"tls\":{\"mode\":"
		"\"Passthrough\"}}]}},{\"apiVersion\":\"gateway.networking.k8s.io/v1alpha3\",\"kind\":"
		"\"TLSRoute\",\"metadata\":{\"name\":\"r\",\"namespace\":\"default\",\"generation\":4},"
		"\"spec\":{\"parentRefs\":[{\"name\":\"g\"}],\"hostnames\":[\"a.example.com\"],"
		"\"rules\":[{\"backendRefs\":[{\"name\":\"s\",\"port\":1}]}]}},"
		"{\"apiVersion\":\"apps/v1\",\"kind\":\"Deployment\",\"metadata\":{\"name\":\"d\"}},"
		"{\"apiVersion\":\"example.com/v1\",\"kind\":\"Gateway\",\"metadata\":{\"name\":\"x\"}}]}";
	struct policy_input *in = policy_input_new();
	struct policy_error err;
	json_t *gw, *rt, *notes, *c;

	ck_assert_msg(policy_input_add_buffer(in, "k8s:list", j, strlen(j), &err) == 0, "%s: %s",
		      err.path, err.msg);
	notes = policy_input_notes(in);
	ck_assert_uint_eq(json_array_size(notes), 2); /* Deployment, foreign Gateway */
	ck_assert_ptr_nonnull(strstr(json_string_value(json_array_get(notes, 0)), "Deployment"));
	gw = status_of(in, "Gateway", "g");
	ck_assert_ptr_nonnull(gw);
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(gw, "metadata"),
							   "namespace")), "default");
	c = json_array_get(json_object_get(json_object_get(gw, "status"), "conditions"), 0);
	ck_assert_int_eq(json_integer_value(json_object_get(c, "observedGeneration")), 7);
	ck_assert_str_eq(json_string_value(json_object_get(c, "lastTransitionTime")),
			 "1970-01-01T00:00:00Z");
	rt = status_of(in, "TLSRoute", "r");
	ck_assert_ptr_nonnull(rt);
	ck_assert_str_eq(json_string_value(json_object_get(rt, "apiVersion")),
			 "gateway.networking.k8s.io/v1alpha3");
	c = json_array_get(json_object_get(json_array_get(json_object_get(json_object_get(rt,
		"status"), "parents"), 0), "conditions"), 0);
	ck_assert_int_eq(json_integer_value(json_object_get(c, "observedGeneration")), 4);
	ck_assert_str_eq(json_string_value(json_object_get(c, "reason")), "Accepted");
	json_decref(gw);
	json_decref(rt);
	policy_input_free(in);
}
END_TEST

START_TEST(test_yaml_forms)
{
	/* comments, empty documents, document end markers, anchors, flow style,
	 * quoted numbers as strings, a leading "---" */
	static const char y[] =
		"# leading comment\n---\n---\n"
		"apiVersion: v1\nkind: Service\nmetadata: &m {name: s}\n"
		"spec:\n  clusterIP: \"10.0.0.1\"\n  ports: [{name: \"443\", port: 443}]\n...\n"
		"---\n# only a comment\n---\n"
		"apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata: {name: g}\n"
		"spec: {gatewayClassName: c, listeners: [{name: \"0\", protocol: TLS, port: 0x1bb,"
		" tls: {mode: Passthrough}}]}\n";
	struct policy_input *in = policy_input_new();
	struct policy_error err;
	json_t *gw, *l;

	ck_assert_msg(policy_input_add_buffer(in, "forms.yaml", y, strlen(y), &err) == 0,
		      "%d:%d %s %s", err.line, err.column, err.path, err.msg);
	gw = status_of(in, "Gateway", "g");
	ck_assert_ptr_nonnull(gw);
	l = json_array_get(json_object_get(json_object_get(gw, "status"), "listeners"), 0);
	ck_assert_str_eq(json_string_value(json_object_get(l, "name")), "0");
	json_decref(gw);
	policy_input_free(in);
}
END_TEST

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	fclose(f);
}

START_TEST(test_files_and_dirs)
{
	char dir[] = "/tmp/sng-policy-XXXXXX", p[300];
	struct policy_input *in;
	struct policy_error err;
	json_t *gw;
	int fd;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(p, sizeof(p), "%s/b.yml", dir);
	write_file(p, "apiVersion: gateway.networking.k8s.io/v1\nkind: TLSRoute\n"
		   "metadata: {name: r}\nspec: {parentRefs: [{name: g}], hostnames: [a.b], rules: "
		   "[{backendRefs: [{name: s, port: 1}]}]}\n");
	snprintf(p, sizeof(p), "%s/a.yaml", dir);
	write_file(p, gw_yaml);
	snprintf(p, sizeof(p), "%s/c.json", dir);
	write_file(p, "{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":{\"name\":\"s\"},"
		   "\"spec\":{\"clusterIP\":\"10.0.0.1\",\"ports\":[{\"port\":1}]}}");
	snprintf(p, sizeof(p), "%s/notes.txt", dir);
	write_file(p, "not a manifest: ignored by extension\n");
	snprintf(p, sizeof(p), "%s/.hidden.yaml", dir);
	write_file(p, "{{{ broken\n");

	in = policy_input_new();
	ck_assert_msg(policy_input_add_path(in, dir, &err) == 0, "%s: %s", err.file, err.msg);
	gw = status_of(in, "TLSRoute", "r");
	ck_assert_ptr_nonnull(gw);
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(json_object_get(
		json_array_get(json_object_get(json_object_get(gw, "status"), "parents"), 0),
		"conditions"), 1), "reason")), "ResolvedRefs");
	json_decref(gw);
	policy_input_free(in);

	/* missing file: -ENOENT with the name */
	in = policy_input_new();
	snprintf(p, sizeof(p), "%s/missing.yaml", dir);
	ck_assert_int_eq(policy_input_add_path(in, p, &err), -ENOENT);
	ck_assert_str_eq(err.file, p);
	ck_assert_ptr_nonnull(strstr(err.msg, "No such file"));
	/* an oversized file is refused before it is read (sparse: no disk) */
	snprintf(p, sizeof(p), "%s/huge.yaml", dir);
	fd = open(p, O_CREAT | O_WRONLY, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(ftruncate(fd, (off_t)300 << 20), 0);
	close(fd);
	ck_assert_int_eq(policy_input_add_path(in, p, &err), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err.msg, "limit"));
	unlink(p);
	/* a broken file in a directory: its name in the error */
	snprintf(p, sizeof(p), "%s/z.yaml", dir);
	write_file(p, "apiVersion: v1\nkind: Service\nmetadata: {name: [x]}\n");
	ck_assert_int_eq(policy_input_add_path(in, dir, &err), -EINVAL);
	ck_assert_str_eq(err.file, p);
	ck_assert_str_eq(err.path, "/metadata/name");
	ck_assert_int_eq(err.line, 3);
	policy_input_free(in);

	snprintf(p, sizeof(p), "rm -rf %s", dir);
	ck_assert_int_eq(system(p), 0);
}
END_TEST

/* The same object twice: the last one wins, with a note. */
START_TEST(test_duplicates)
{
	static const char y[] =
		"apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec: {clusterIP: 10.0.0.1, "
		"ports: [{port: 1}]}\n---\n"
		"apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec: {clusterIP: 10.0.0.2, "
		"ports: [{port: 1}]}\n";
	struct policy_input *in = policy_input_new();
	struct policy_compiled *pc;
	struct policy_error err;
	char *notes;

	ck_assert_int_eq(policy_input_add_buffer(in, "dup.yaml", y, strlen(y), &err), 0);
	pc = policy_compile(in, NULL);
	notes = json_dumps(pc->notes, 0);
	ck_assert_ptr_nonnull(strstr(notes, "more than once"));
	free(notes);
	policy_compiled_free(pc);
	policy_input_free(in);
}
END_TEST


/* -o yaml output reads back (with the same loader) as the JSON status. */
static int collect(json_t *obj, unsigned doc, const char *path, void *arg,
		   struct policy_error *err)
{
	return json_array_append(arg, obj) ? -ENOMEM : 0;
}

START_TEST(test_yaml_output_round_trip)
{
	struct policy_input *in = policy_input_new();
	struct policy_compiled *pc;
	struct policy_error err;
	json_t *back = json_array();
	char *buf = NULL;
	size_t len = 0;
	FILE *f;

	fixture_go_to_srcdir();
	ck_assert_int_eq(policy_input_add_path(in, "tests/policy/base", &err), 0);
	ck_assert_int_eq(policy_input_add_path(in, "tests/policy/cases/routes-attach.yaml", &err), 0);
	ck_assert_int_eq(policy_input_add_path(in, "tests/policy/cases/btls.yaml", &err), 0);
	pc = policy_compile(in, NULL);
	ck_assert_ptr_nonnull(pc);
	f = open_memstream(&buf, &len);
	ck_assert_int_eq(policy_write_yaml(f, pc->status), 0);
	fclose(f);
	memset(&err, 0, sizeof(err));
	ck_assert_msg(doc_load(buf, len, false, collect, back, &err) == 0, "%d:%d %s", err.line,
		      err.column, err.msg);
	ck_assert_msg(json_equal(back, json_object_get(pc->status, "items")), "YAML differs:\n%s",
		      buf);
	ck_assert_uint_gt(json_array_size(back), 5);
	free(buf);
	json_decref(back);
	policy_compiled_free(pc);
	policy_input_free(in);
}
END_TEST

/* Every example manifest of examples/ is valid input. */
START_TEST(test_examples_parse)
{
	struct policy_input *in = policy_input_new();
	struct policy_compiled *pc;
	struct policy_error err;

	fixture_go_to_srcdir();
	ck_assert_msg(policy_input_add_path(in, "examples", &err) == 0, "%s:%d:%d: %s: %s", err.file,
		      err.line, err.column, err.path, err.msg);
	ck_assert_int_eq(policy_input_add_path(in, "tests/policy/seed-example.yaml", &err), 0);
	pc = policy_compile(in, NULL);
	ck_assert_ptr_nonnull(pc);
	ck_assert_uint_gt(pc->n_entries, 0);
	policy_compiled_free(pc);
	policy_input_free(in);
}
END_TEST

/* ---- budgets: total input bytes, objects per kind ------------------------- */

/* A kind: List of @n Gateways named PREFIX-i, in a malloc'ed buffer. */
static char *gateway_list(const char *prefix, unsigned n, size_t *len)
{
	size_t cap = 256 + (size_t)n * 256, off = 0;
	char *b = malloc(cap);
	unsigned i;

	ck_assert_ptr_nonnull(b);
	off += (size_t)snprintf(b + off, cap - off, "{\"apiVersion\":\"v1\",\"kind\":\"List\",\"items\":[");
	for (i = 0; i < n; i++)
		off += (size_t)snprintf(b + off, cap - off,
			"%s{\"apiVersion\":\"gateway.networking.k8s.io/v1\",\"kind\":\"Gateway\","
			"\"metadata\":{\"name\":\"%s-%u\"},\"spec\":{\"gatewayClassName\":\"c\","
			"\"listeners\":[{\"name\":\"l\",\"protocol\":\"TLS\",\"port\":443,"
			"\"tls\":{\"mode\":\"Passthrough\"}}]}}", i ? "," : "", prefix, i);
	off += (size_t)snprintf(b + off, cap - off, "]}");
	ck_assert_uint_lt(off, cap);
	*len = off;
	return b;
}

START_TEST(test_budget_bytes)
{
	static const char ns_yaml[] = "apiVersion: v1\nkind: Namespace\nmetadata: {name: n}\n";
	char dir[] = "/tmp/sng-budget-XXXXXX", p[300];
	size_t gl = strlen(gw_yaml);
	struct policy_input *in;
	struct policy_error err;
	int fd;

	/* the default, and a new default for inputs created afterwards */
	in = policy_input_new();
	ck_assert_uint_eq(policy_input_budget_left(in), POLICY_DEFAULT_MAX_INPUT_BYTES);
	policy_input_free(in);
	policy_input_default_budget(12345);
	in = policy_input_new();
	ck_assert_uint_eq(policy_input_budget_left(in), 12345);
	policy_input_free(in);
	policy_input_default_budget(POLICY_DEFAULT_MAX_INPUT_BYTES);

	/* buffers: what fits is taken, the first one over is refused whole */
	in = policy_input_new();
	policy_input_set_budget(in, gl + 10);
	ck_assert_int_eq(policy_input_add_buffer(in, "gw.yaml", gw_yaml, gl, &err), 0);
	ck_assert_uint_eq(policy_input_budget_left(in), 10);
	ck_assert_uint_gt(strlen(ns_yaml), 10);
	ck_assert_int_eq(policy_input_add_buffer(in, "ns.yaml", ns_yaml, strlen(ns_yaml), &err),
			 -EINVAL);
	ck_assert_str_eq(err.file, "ns.yaml");
	ck_assert_msg(strstr(err.msg, "budget") && strstr(err.msg, "--max-input-bytes") &&
		      strstr(err.msg, "is 51 bytes"), "%s", err.msg);
	ck_assert_uint_eq(policy_input_budget_left(in), 10); /* nothing of it counted */
	ck_assert_int_eq(policy_input_add_buffer(in, "empty.yaml", "---\n", 4, &err), 0);
	ck_assert_uint_eq(policy_input_budget_left(in), 6);
	policy_input_free(in);

	/* files: over the budget is refused from its size, before reading (a
	 * sparse 200 MB file of NULs: reading it would fail differently) */
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(p, sizeof(p), "%s/huge.yaml", dir);
	fd = open(p, O_CREAT | O_WRONLY, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(ftruncate(fd, (off_t)200 << 20), 0);
	close(fd);
	in = policy_input_new();
	ck_assert_int_eq(policy_input_add_path(in, p, &err), -EINVAL);
	ck_assert_str_eq(err.file, p);
	ck_assert_msg(strstr(err.msg, "file is 209715200 bytes") && strstr(err.msg, "67108864"),
		      "%s", err.msg);
	policy_input_free(in);
	unlink(p);

	/* a directory: the files add up; the one that crosses the line is named */
	snprintf(p, sizeof(p), "%s/a.yaml", dir);
	write_file(p, gw_yaml);
	snprintf(p, sizeof(p), "%s/b.yaml", dir);
	write_file(p, gw_yaml);
	in = policy_input_new();
	policy_input_set_budget(in, 2 * gl - 1);
	ck_assert_int_eq(policy_input_add_path(in, dir, &err), -EINVAL);
	ck_assert_str_eq(err.file, p);
	ck_assert_ptr_nonnull(strstr(err.msg, "budget"));
	policy_input_free(in);
	in = policy_input_new();
	policy_input_set_budget(in, 2 * gl);
	ck_assert_msg(policy_input_add_path(in, dir, &err) == 0, "%s", err.msg);
	ck_assert_uint_eq(policy_input_budget_left(in), 0);
	policy_input_free(in);

	snprintf(p, sizeof(p), "rm -rf %s", dir);
	ck_assert_int_eq(system(p), 0);
}
END_TEST

/* Gateways are capped at SNG_MAX_LISTENERS objects (each has a listener);
 * a refused file gives its objects back to the count. */
START_TEST(test_budget_kinds)
{
	struct policy_input *in = policy_input_new();
	struct policy_error err;
	size_t len;
	char *b;

	b = gateway_list("a", SNG_MAX_LISTENERS - 100, &len);
	ck_assert_msg(policy_input_add_buffer(in, "a.json", b, len, &err) == 0, "%s", err.msg);
	free(b);
	b = gateway_list("b", 101, &len);
	ck_assert_int_eq(policy_input_add_buffer(in, "b.json", b, len, &err), -EINVAL);
	free(b);
	ck_assert_str_eq(err.file, "b.json");
	ck_assert_str_eq(err.path, "/items/100");
	ck_assert_msg(strstr(err.msg, "more than 4096 Gateway objects"), "%s", err.msg);
	b = gateway_list("c", 100, &len);
	ck_assert_msg(policy_input_add_buffer(in, "c.json", b, len, &err) == 0, "%s", err.msg);
	free(b);
	b = gateway_list("d", 1, &len);
	ck_assert_int_eq(policy_input_add_buffer(in, "d.json", b, len, &err), -EINVAL);
	free(b);
	policy_input_free(in);
}
END_TEST

static Suite *input_suite(void)
{
	Suite *s = suite_create("policy_input");
	TCase *tc = tcase_create("input");

	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, test_bad, 0, sizeof(bad_cases) / sizeof(bad_cases[0]));
	tcase_add_test(tc, test_truncated_everywhere);
	tcase_add_test(tc, test_wrong_types_everywhere);
	tcase_add_test(tc, test_json_list_and_defaults);
	tcase_add_test(tc, test_yaml_forms);
	tcase_add_test(tc, test_files_and_dirs);
	tcase_add_test(tc, test_duplicates);
	tcase_add_test(tc, test_yaml_output_round_trip);
	tcase_add_test(tc, test_examples_parse);
	tcase_add_test(tc, test_budget_bytes);
	tcase_add_test(tc, test_budget_kinds);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(input_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
