// SPDX-License-Identifier: GPL-2.0-only
/* Unit tests of the Kubernetes client plumbing: kubeconfig parsing (token,
 * client certificate, relative paths, errors), in-cluster configuration,
 * API paths per resource and version, the YAML loader's scalar typing. */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "k8s.h"
#include "k8s_api.h"
#include "k8s_internal.h"
#include "fixture.h"

static char dir[] = "/tmp/test_k8s_conn.XXXXXX";

static void write_file(const char *name, const char *text)
{
	fixture_write(dir, name, text);
}

static int load(const char *name, const char *context, struct k8s_conn *c, char *err)
{
	struct k8s_options o = { 0 };
	char p[256];

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	o.kubeconfig = p;
	o.context = context;
	return k8s_conn_init(c, &o, err, 1024);
}

#define KC_HEAD                                                                  \
	"apiVersion: v1\nkind: Config\ncurrent-context: a\n"                     \
	"clusters:\n- name: c1\n  cluster:\n    server: https://10.0.0.1:6443/\n" \
	"    certificate-authority: ca.pem\n"                                    \
	"- name: c2\n  cluster:\n    server: https://[fd00::1]:443\n"            \
	"    insecure-skip-tls-verify: true\n"                                   \
	"contexts:\n- name: a\n  context: {cluster: c1, user: u1}\n"             \
	"- name: b\n  context: {cluster: c2, user: u2}\n"                        \
	"- name: x\n  context: {cluster: c1, user: u3}\n"                        \
	"- name: nocluster\n  context: {cluster: zz, user: u1}\n"

START_TEST(kubeconfig_token_and_cert)
{
	struct k8s_conn c;
	char err[1024] = "";

	write_file("ca.pem", "dummy\n");
	write_file("kc.yaml", KC_HEAD
		   "users:\n- name: u1\n  user:\n    token: abc.def\n"
		   "- name: u2\n  user:\n    client-certificate-data: aGVsbG8=\n"
		   "    client-key-data: a2V5IQ==\n"
		   "- name: u3\n  user:\n    exec: {command: aws}\n");
	ck_assert_msg(!load("kc.yaml", NULL, &c, err), "%s", err);
	ck_assert_str_eq(c.server, "https://10.0.0.1:6443");   /* trailing / dropped */
	ck_assert_str_eq(c.token, "abc.def");
	ck_assert(c.ca_file && strstr(c.ca_file, dir) && strstr(c.ca_file, "/ca.pem"));
	ck_assert(!c.insecure);
	k8s_conn_free(&c);

	ck_assert_msg(!load("kc.yaml", "b", &c, err), "%s", err);
	ck_assert_str_eq(c.server, "https://[fd00::1]:443");
	ck_assert(c.insecure);
	ck_assert_uint_eq(c.cert_len, 5);
	ck_assert(!memcmp(c.cert_data, "hello", 5));
	ck_assert_uint_eq(c.key_len, 4);
	ck_assert(!memcmp(c.key_data, "key!", 4));
	k8s_conn_free(&c);

	ck_assert_int_lt(load("kc.yaml", "x", &c, err), 0);
	ck_assert_msg(strstr(err, "exec and auth-provider plugins are not supported"), "%s", err);
	ck_assert_int_lt(load("kc.yaml", "nope", &c, err), 0);
	ck_assert_msg(strstr(err, "context \"nope\" not found"), "%s", err);
	ck_assert_int_lt(load("kc.yaml", "nocluster", &c, err), 0);
	ck_assert_msg(strstr(err, "cluster \"zz\" not found"), "%s", err);
}
END_TEST

START_TEST(kubeconfig_errors)
{
	struct k8s_conn c;
	char err[1024] = "";

	write_file("nocur.yaml", "apiVersion: v1\nkind: Config\nclusters: []\n");
	ck_assert_int_lt(load("nocur.yaml", NULL, &c, err), 0);
	ck_assert_msg(strstr(err, "no current-context"), "%s", err);
	write_file("badb64.yaml", KC_HEAD "users:\n- name: u1\n  user:\n"
		   "    client-certificate-data: '%%%'\n    client-key-data: a2V5IQ==\n");
	ck_assert_int_lt(load("badb64.yaml", NULL, &c, err), 0);
	ck_assert_msg(strstr(err, "client-certificate-data is not valid base64"), "%s", err);
	write_file("halfcert.yaml", KC_HEAD "users:\n- name: u1\n  user:\n"
		   "    client-certificate-data: aGVsbG8=\n");
	ck_assert_int_lt(load("halfcert.yaml", NULL, &c, err), 0);
	ck_assert_msg(strstr(err, "must be given together"), "%s", err);
	write_file("missingca.yaml", "current-context: a\nclusters:\n- name: c1\n  cluster:\n"
		   "    server: https://h\n    certificate-authority: /nonexistent/ca\n"
		   "contexts:\n- name: a\n  context: {cluster: c1}\n");
	ck_assert_int_lt(load("missingca.yaml", NULL, &c, err), 0);
	ck_assert_msg(strstr(err, "/nonexistent/ca"), "%s", err);
	write_file("syntax.yaml", "clusters: [\n  - {\n");
	ck_assert_int_lt(load("syntax.yaml", NULL, &c, err), 0);
	ck_assert_msg(strstr(err, "syntax.yaml:") && strchr(err, ':'), "%s", err);
	write_file("alias.yaml", "a: &x 1\nb: *x\n");
	ck_assert_int_lt(load("alias.yaml", NULL, &c, err), 0);
	ck_assert_msg(strstr(err, "aliases are not supported"), "%s", err);
}
END_TEST

START_TEST(in_cluster)
{
	struct k8s_options o = { 0 };
	struct k8s_conn c;
	char err[1024] = "";

	o.sa_dir = dir;
	unsetenv("KUBERNETES_SERVICE_HOST");
	ck_assert_int_lt(k8s_conn_init(&c, &o, err, sizeof(err)), 0);
	ck_assert_msg(strstr(err, "KUBERNETES_SERVICE_HOST/PORT unset"), "%s", err);
	setenv("KUBERNETES_SERVICE_HOST", "fd00::10", 1);
	setenv("KUBERNETES_SERVICE_PORT", "443", 1);
	ck_assert_int_lt(k8s_conn_init(&c, &o, err, sizeof(err)), 0);
	ck_assert_msg(strstr(err, "service account files missing"), "%s", err);
	write_file("token", "tok\n");
	write_file("ca.crt", "ca\n");
	ck_assert_msg(!k8s_conn_init(&c, &o, err, sizeof(err)), "%s", err);
	ck_assert_str_eq(c.server, "https://[fd00::10]:443");
	ck_assert(strstr(c.token_file, "/token") && strstr(c.ca_file, "/ca.crt"));
	k8s_conn_free(&c);
	unsetenv("KUBERNETES_SERVICE_HOST");
	unsetenv("KUBERNETES_SERVICE_PORT");
}
END_TEST

START_TEST(api_paths)
{
	char p[512];

	ck_assert(!k8s_res_path(p, sizeof(p), K8S_RES_TLSROUTE, 0, NULL, NULL, 0));
	ck_assert_str_eq(p, "/apis/gateway.networking.k8s.io/v1/tlsroutes");
	ck_assert(!k8s_res_path(p, sizeof(p), K8S_RES_TLSROUTE, 2, "ns1", "r", 1));
	ck_assert_str_eq(p, "/apis/gateway.networking.k8s.io/v1alpha2/namespaces/ns1/tlsroutes/r/status");
	ck_assert(!k8s_res_path(p, sizeof(p), K8S_RES_SECRET, 0, "default", "s", 0));
	ck_assert_str_eq(p, "/api/v1/namespaces/default/secrets/s");
	ck_assert(!k8s_res_path(p, sizeof(p), K8S_RES_GATEWAYCLASS, 0, NULL, "c", 1));
	ck_assert_str_eq(p, "/apis/gateway.networking.k8s.io/v1/gatewayclasses/c/status");
	ck_assert(!k8s_res_path(p, sizeof(p), K8S_RES_ENDPOINTSLICE, 0, NULL, NULL, 0));
	ck_assert_str_eq(p, "/apis/discovery.k8s.io/v1/endpointslices");
	ck_assert_int_eq(k8s_res_path(p, 10, K8S_RES_TLSROUTE, 0, NULL, NULL, 0), -ENAMETOOLONG);
	ck_assert(!k8s_res_api_version(p, sizeof(p), K8S_RES_NAMESPACE, 0));
	ck_assert_str_eq(p, "v1");
	/* The verb table is what the client may do. */
	ck_assert(k8s_verb_allowed(K8S_RES_SECRET, 0, K8S_GET));
	ck_assert(!k8s_verb_allowed(K8S_RES_SECRET, 0, K8S_LIST));
	ck_assert(!k8s_verb_allowed(K8S_RES_SECRET, 0, K8S_WATCH));
	ck_assert(k8s_verb_allowed(K8S_RES_TLSROUTE, 1, K8S_PATCH));
	ck_assert(!k8s_verb_allowed(K8S_RES_SERVICE, 1, K8S_PATCH));
}
END_TEST

START_TEST(yaml_scalars)
{
	char err[1024], p[256];
	json_t *d, *o;

	write_file("s.yaml", "a: 1\nb: '1'\nc: true\nd: ~\ne: -3\nf: 1.5\ng: x\n---\n- 1\n");
	snprintf(p, sizeof(p), "%s/s.yaml", dir);
	d = k8s_yaml_load_file(p, err, sizeof(err));
	ck_assert_msg(d, "%s", err);
	ck_assert_uint_eq(json_array_size(d), 2);
	o = json_array_get(d, 0);
	ck_assert(json_integer_value(json_object_get(o, "a")) == 1);
	ck_assert_str_eq(json_string_value(json_object_get(o, "b")), "1");
	ck_assert(json_is_true(json_object_get(o, "c")));
	ck_assert(json_is_null(json_object_get(o, "d")));
	ck_assert(json_integer_value(json_object_get(o, "e")) == -3);
	ck_assert_str_eq(json_string_value(json_object_get(o, "f")), "1.5");
	ck_assert_str_eq(json_string_value(json_object_get(o, "g")), "x");
	ck_assert(json_integer_value(json_array_get(json_array_get(d, 1), 0)) == 1);
	json_decref(d);
}
END_TEST

static void setup(void)
{
	ck_assert(mkdtemp(dir));
}

static void teardown(void)
{
	char cmd[300];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	ck_assert(!system(cmd));
}

int main(void)
{
	Suite *s = suite_create("k8s_conn");
	TCase *tc = tcase_create("conn");
	SRunner *sr;
	int failed;

	tcase_add_unchecked_fixture(tc, setup, teardown);
	tcase_add_test(tc, kubeconfig_token_and_cert);
	tcase_add_test(tc, kubeconfig_errors);
	tcase_add_test(tc, in_cluster);
	tcase_add_test(tc, api_paths);
	tcase_add_test(tc, yaml_scalars);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
