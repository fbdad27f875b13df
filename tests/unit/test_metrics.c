// SPDX-License-Identifier: GPL-2.0-only
/* Metrics, status file and control socket without BPF: rendering with names
 * from a compiled policy, the agent-side tallies, the HTTP endpoint (curl on
 * loopback), the atomic status file and the control socket round trip. */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <curl/curl.h>
#include <jansson.h>

#include "agent.h"
#include "control.h"
#include "metrics.h"
#include "policy.h"
#include "snapshot.h"
#include "statusfile.h"
#include "fixture.h"

static const char manifest[] =
	"apiVersion: gateway.networking.k8s.io/v1\n"
	"kind: Gateway\n"
	"metadata: {name: gw, namespace: infra}\n"
	"spec:\n"
	"  gatewayClassName: snigate\n"
	"  listeners:\n"
	"  - {name: tls, port: 8443, protocol: TLS, tls: {mode: Passthrough},\n"
	"     allowedRoutes: {namespaces: {from: All}}}\n"
	"---\n"
	"apiVersion: gateway.networking.k8s.io/v1alpha2\n"
	"kind: TLSRoute\n"
	"metadata: {name: \"web\", namespace: app}\n"
	"spec:\n"
	"  parentRefs: [{name: gw, namespace: infra}]\n"
	"  hostnames: [a.example.com]\n"
	"  rules: [{backendRefs: [{name: websvc, port: 443}]}]\n"
	"---\n"
	"apiVersion: v1\n"
	"kind: Service\n"
	"metadata: {name: websvc, namespace: app}\n"
	"spec: {ports: [{name: https, port: 443, targetPort: 8443}]}\n";

static struct policy_compiled *compile(void)
{
	struct policy_compiled *pc = fixture_compile(manifest);

	ck_assert_uint_eq(pc->n_listeners, 1);
	ck_assert_uint_eq(pc->n_routes, 1);
	ck_assert_uint_eq(pc->n_backends, 1);
	return pc;
}

/* The value of the series line starting with @series + " " in @text. */
static long long value_of(const char *text, const char *series)
{
	size_t n = strlen(series);
	const char *p = text;

	while ((p = strstr(p, series))) {
		if ((p == text || p[-1] == '\n') && p[n] == ' ')
			return strtoll(p + n + 1, NULL, 10);
		p += n;
	}
	ck_abort_msg("series %s not found in:\n%s", series, text);
	return -1;
}

#define LST "{gateway_namespace=\"infra\",gateway=\"gw\",listener=\"tls\",address=\"::\",port=\"8443\",mode=\"Passthrough\""
#define RT "{route_namespace=\"app\",route=\"web\""
#define BE "{namespace=\"app\",service=\"websvc\",port=\"443\""

START_TEST(test_render_names_and_tallies)
{
	struct policy_compiled *pc = compile();
	struct metrics_options mo = { .maps = NULL, .chstats_fd = -1,
				      .engine = SNG_ENGINE_SOCKMAP };
	struct sng_endpoint ep = { .family = AF_INET };
	struct accesslog_rec r = { .pc = pc, .listener_id = 0, .route_id = 0, .backend_id = 0,
				   .endpoint = &ep, .engine = SNG_ENGINE_USERSPACE,
				   .bytes_up = 100, .bytes_down = 2000, .reason = SNG_OK };
	size_t len;
	char *t;

	metrics_conn_begin(0, 0, 0);
	metrics_conn_begin(0, 0, 0);
	t = metrics_render(pc, 7, &mo, &len);
	ck_assert_ptr_nonnull(t);
	ck_assert_uint_eq(strlen(t), len);
	ck_assert_int_eq(value_of(t, "snigate_policy_serial"), 7);
	ck_assert_int_eq(value_of(t, "snigate_engine_info{engine=\"sockmap\"}"), 1);
	ck_assert_int_eq(value_of(t, "snigate_listener_connections_active" LST "}"), 2);
	ck_assert_int_eq(value_of(t, "snigate_route_connections_active" RT "}"), 2);
	ck_assert_int_eq(value_of(t, "snigate_backend_connections_active" BE "}"), 2);
	/* no maps: BPF counters read as 0 but every series is there */
	ck_assert_int_eq(value_of(t, "snigate_listener_connections_total" LST "}"), 0);
	ck_assert_int_eq(value_of(t, "snigate_listener_bytes_total" LST ",direction=\"up\"}"), 0);
	ck_assert_int_eq(value_of(t, "snigate_route_outcomes_total" RT ",reason=\"no_route\"}"), 0);
	ck_assert_int_eq(value_of(t, "snigate_listener_handshake_failures_total" LST "}"), 0);
	ck_assert_ptr_nonnull(strstr(t, "# TYPE snigate_listener_bytes_total counter\n"));
	ck_assert_ptr_nonnull(strstr(t, "# TYPE snigate_listener_connections_active gauge\n"));
	free(t);

	metrics_conn_end(&r, true);
	r.reason = SNG_R_CONNECT_FAIL;
	r.endpoint = NULL;
	r.bytes_up = r.bytes_down = 0;
	metrics_conn_end(&r, true);
	r.listener_id = r.route_id = r.backend_id = SNG_NO_ROUTE;
	r.reason = SNG_R_NO_LISTENER;
	r.engine = SNG_ENGINE_AUTO;
	metrics_conn_end(&r, false);
	t = metrics_render(pc, 7, &mo, &len);
	ck_assert_ptr_nonnull(t);
	ck_assert_int_eq(value_of(t, "snigate_listener_connections_active" LST "}"), 0);
	ck_assert_int_eq(value_of(t, "snigate_backend_connections_active" BE "}"), 0);
	ck_assert_int_eq(value_of(t, "snigate_backend_connections_total" BE "}"), 1);
	ck_assert_int_eq(value_of(t, "snigate_backend_connect_failures_total" BE "}"), 1);
	ck_assert_int_eq(value_of(t, "snigate_backend_bytes_total" BE ",direction=\"up\"}"), 100);
	ck_assert_int_eq(value_of(t, "snigate_backend_bytes_total" BE ",direction=\"down\"}"), 2000);
	ck_assert_int_eq(value_of(t, "snigate_outcomes_total{reason=\"routed\"}"), 1);
	ck_assert_int_eq(value_of(t, "snigate_outcomes_total{reason=\"connect_fail\"}"), 1);
	ck_assert_int_eq(value_of(t, "snigate_outcomes_total{reason=\"no_listener\"}"), 1);
	ck_assert_int_eq(value_of(t, "snigate_connections_total{engine=\"userspace\"}"), 2);
	free(t);
	/* without a snapshot: the global series only */
	t = metrics_render(NULL, 0, &mo, &len);
	ck_assert_ptr_nonnull(t);
	ck_assert_ptr_null(strstr(t, "snigate_listener_"));
	free(t);
	policy_compiled_free(pc);
}
END_TEST

START_TEST(test_parse_addr)
{
	struct sockaddr_storage ss;
	socklen_t sl;

	ck_assert_int_eq(metrics_parse_addr("127.0.0.1:9100", &ss, &sl), 0);
	ck_assert_int_eq(ss.ss_family, AF_INET);
	ck_assert_int_eq(ntohs(((struct sockaddr_in *)&ss)->sin_port), 9100);
	ck_assert_int_eq(metrics_parse_addr("[::1]:9100", &ss, &sl), 0);
	ck_assert_int_eq(ss.ss_family, AF_INET6);
	ck_assert_int_eq(metrics_parse_addr(":9100", &ss, &sl), 0);
	ck_assert_int_eq(ss.ss_family, AF_INET6);
	ck_assert_int_eq(metrics_parse_addr("9100", &ss, &sl), -EINVAL);
	ck_assert_int_eq(metrics_parse_addr("::1:9100", &ss, &sl), -EINVAL);
	ck_assert_int_eq(metrics_parse_addr("127.0.0.1:0", &ss, &sl), -EINVAL);
	ck_assert_int_eq(metrics_parse_addr("127.0.0.1:70000", &ss, &sl), -EINVAL);
	ck_assert_int_eq(metrics_parse_addr("localhost:9100", &ss, &sl), -EINVAL);
	ck_assert_int_eq(metrics_parse_addr("[::1]9100", &ss, &sl), -EINVAL);
}
END_TEST

static size_t collect(char *p, size_t sz, size_t n, void *arg)
{
	FILE *f = arg;

	return fwrite(p, sz, n, f);
}

/* GET @url; returns the HTTP code, body in *body (malloc'd). */
static long http_get(const char *url, char **body)
{
	size_t len = 0;
	FILE *f = open_memstream(body, &len);
	CURL *c = curl_easy_init();
	long code = 0;

	ck_assert_ptr_nonnull(c);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, f);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 5L);
	curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
	ck_assert_int_eq(curl_easy_perform(c), CURLE_OK);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
	curl_easy_cleanup(c);
	fclose(f);
	return code;
}

static int free_port(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t l = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port;

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(bind(fd, (void *)&a, sizeof(a)), 0);
	getsockname(fd, (void *)&a, &l);
	port = ntohs(a.sin_port);
	close(fd);
	return port;
}

START_TEST(test_http_endpoint)
{
	struct metrics_options mo = { .chstats_fd = -1, .engine = SNG_ENGINE_USERSPACE };
	struct agent_snapshot *s = agent_snapshot_new(compile(), NULL, 11);
	char addr[64], url[128], *body = NULL;
	int port = free_port();

	ck_assert_ptr_nonnull(s);
	agent_snapshot_install(s);
	snprintf(addr, sizeof(addr), "127.0.0.1:%d", port);
	ck_assert_int_eq(metrics_start(addr, &mo), 0);
	ck_assert_int_eq(metrics_start(addr, &mo), -EALREADY);
	snprintf(url, sizeof(url), "http://%s/healthz", addr);
	ck_assert_int_eq(http_get(url, &body), 200);
	free(body);
	snprintf(url, sizeof(url), "http://%s/readyz", addr);
	ck_assert_int_eq(http_get(url, &body), 503);
	free(body);
	metrics_set_ready(true);
	ck_assert_int_eq(http_get(url, &body), 200);
	free(body);
	snprintf(url, sizeof(url), "http://%s/nope", addr);
	ck_assert_int_eq(http_get(url, &body), 404);
	free(body);
	snprintf(url, sizeof(url), "http://%s/metrics", addr);
	ck_assert_int_eq(http_get(url, &body), 200);
	ck_assert_int_eq(value_of(body, "snigate_policy_serial"), 11);
	ck_assert_int_eq(value_of(body, "snigate_engine_info{engine=\"userspace\"}"), 1);
	ck_assert_ptr_nonnull(strstr(body, "snigate_route_connections_total" RT "} "));
	free(body);
	metrics_stop();
	metrics_stop();
	agent_snapshot_install(NULL);
}
END_TEST

START_TEST(test_statusfile)
{
	struct policy_compiled *pc = compile();
	char dir[] = "/tmp/sng-status-XXXXXX", path[300], *want, *got;
	size_t n;
	FILE *f;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/status.json", dir);
	ck_assert_int_eq(statusfile_write(path, pc->status), 0);
	ck_assert_int_eq(unlink(path), 0);
	ck_assert_int_eq(statusfile_update(pc->status), 0); /* no path: no-op */
	ck_assert_int_ne(access(path, F_OK), 0);
	statusfile_set_path(path);
	ck_assert_int_eq(statusfile_update(pc->status), 0); /* the agent's path */
	statusfile_set_path(NULL);
	ck_assert_int_eq(statusfile_write(path, pc->status), 0); /* replaces */
	want = statusfile_render(pc->status);
	f = fopen(path, "r");
	ck_assert_ptr_nonnull(f);
	got = calloc(1, strlen(want) + 16);
	n = fread(got, 1, strlen(want) + 15, f);
	fclose(f);
	ck_assert_uint_eq(n, strlen(want));
	ck_assert_str_eq(got, want);
	ck_assert_int_eq(got[n - 1], '\n');
	/* no temporary left behind; an unwritable directory is an error */
	ck_assert_int_eq(unlink(path), 0);
	ck_assert_int_eq(rmdir(dir), 0);
	ck_assert_int_eq(statusfile_write("/nonexistent-dir/status.json", pc->status), -ENOENT);
	free(got);
	free(want);
	policy_compiled_free(pc);
}
END_TEST

START_TEST(test_control_roundtrip)
{
	struct policy_compiled *pc = compile();
	char dir[] = "/tmp/sng-ctl-XXXXXX", path[300], *a, *b;
	struct agent_snapshot *s;
	json_t *r;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/run/control.sock", dir);
	/* no snapshot yet */
	r = control_handle("status");
	ck_assert_ptr_nonnull(json_object_get(r, "error"));
	json_decref(r);
	s = agent_snapshot_new(pc, NULL, 5);
	agent_snapshot_install(s);
	ck_assert_int_eq(control_start(path), 0);
	r = control_request(path, "ping", 2000);
	ck_assert_ptr_nonnull(r);
	if (geteuid() != 0) {
		/* the server answers root only */
		ck_assert_str_eq(json_string_value(json_object_get(r, "error")), "permission denied");
		json_decref(r);
		goto stop;
	}
	ck_assert(json_is_true(json_object_get(r, "pong")));
	json_decref(r);
	r = control_request(path, "status", 2000);
	ck_assert_ptr_nonnull(r);
	ck_assert_int_eq(json_integer_value(json_object_get(r, "serial")), 5);
	/* the status printed by `snigate status` is the compiler's, unchanged */
	a = json_dumps(json_object_get(r, "status"), JSON_INDENT(2));
	b = json_dumps(pc->status, JSON_INDENT(2));
	ck_assert_str_eq(a, b);
	free(a);
	free(b);
	ck_assert_int_eq(json_array_size(json_object_get(json_object_get(r, "table"), "binds")), 1);
	json_decref(r);
	r = control_request(path, "bogus", 2000);
	ck_assert_ptr_nonnull(json_object_get(r, "error"));
	json_decref(r);
	/* a second server on a live socket is refused */
	ck_assert_int_eq(control_start(path), -EALREADY);
stop:
	control_stop();
	ck_assert_int_ne(access(path, F_OK), 0);
	ck_assert_ptr_null(control_request(path, "status", 500));
	agent_snapshot_install(NULL);
	snprintf(path, sizeof(path), "%s/run", dir);
	rmdir(path);
	rmdir(dir);
}
END_TEST

static Suite *metrics_suite(void)
{
	Suite *s = suite_create("metrics");
	TCase *tc = tcase_create("core");

	tcase_set_timeout(tc, 20);
	tcase_add_test(tc, test_render_names_and_tallies);
	tcase_add_test(tc, test_parse_addr);
	tcase_add_test(tc, test_http_endpoint);
	tcase_add_test(tc, test_statusfile);
	tcase_add_test(tc, test_control_roundtrip);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(metrics_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
