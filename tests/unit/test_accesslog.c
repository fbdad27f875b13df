// SPDX-License-Identifier: GPL-2.0-only
/* Access log and reason names: line format (every key, names from a
 * compiled policy, escaping, ALPN), the writer thread, reopen after rotate. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <jansson.h>

#include "accesslog.h"
#include "policy.h"
#include "reasons.h"
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
	"metadata: {name: web, namespace: app}\n"
	"spec:\n"
	"  parentRefs: [{name: gw, namespace: infra}]\n"
	"  hostnames: [a.example.com]\n"
	"  rules: [{backendRefs: [{name: websvc, port: 443}]}]\n"
	"---\n"
	"apiVersion: v1\n"
	"kind: Service\n"
	"metadata: {name: websvc, namespace: app}\n"
	"spec: {ports: [{name: https, port: 443, targetPort: 8443}]}\n"
	"---\n"
	"apiVersion: discovery.k8s.io/v1\n"
	"kind: EndpointSlice\n"
	"metadata: {name: websvc-1, namespace: app, labels: {kubernetes.io/service-name: websvc}}\n"
	"addressType: IPv4\n"
	"ports: [{name: https, port: 8443}]\n"
	"endpoints: [{addresses: [10.0.0.5], conditions: {ready: true}}]\n";

static struct policy_compiled *compile(void)
{
	struct policy_compiled *pc = fixture_compile(manifest);

	ck_assert_uint_eq(pc->n_listeners, 1);
	ck_assert_uint_eq(pc->n_routes, 1);
	ck_assert_uint_ge(pc->n_backends, 1);
	return pc;
}

static json_t *parse_line(const char *buf, int n)
{
	json_error_t e;
	json_t *j;

	ck_assert_int_gt(n, 0);
	ck_assert_int_eq(buf[n - 1], '\n');
	ck_assert_ptr_null(memchr(buf, '\n', (size_t)n - 1));
	j = json_loadb(buf, (size_t)n, JSON_ALLOW_NUL, &e);
	ck_assert_msg(j != NULL, "not JSON: %s (%s)", e.text, buf);
	return j;
}

#define STR(j, k) json_string_value(json_object_get((j), (k)))
#define INT(j, k) json_integer_value(json_object_get((j), (k)))

START_TEST(test_format_full)
{
	struct policy_compiled *pc = compile();
	struct sockaddr_storage ss = { 0 };
	struct sockaddr_in *in = (void *)&ss;
	struct sng_endpoint ep = { .family = AF_INET, .port = htons(8443), .addr = { 10, 0, 0, 5 } };
	static const uint8_t alpn[] = { 2, 'h', '2', 8, 'h', 't', 't', 'p', '/', '1', '.', '1' };
	struct accesslog_rec r = {
		.pc = pc, .client = &ss, .bind_id = pc->binds[0].id, .listener_id = 0,
		.route_id = 0, .backend_id = pc->sets[pc->vals[0].set_id].m[0].backend_id,
		.sni = "a.example.com", .sni_len = 13, .alpn = alpn, .alpn_len = sizeof(alpn),
		.endpoint = &ep, .engine = SNG_ENGINE_SOCKMAP, .mode = SNG_MODE_PASSTHROUGH,
		.bytes_up = 1048576, .bytes_down = 123456789012ull, .duration_ms = 42,
		.reason = SNG_OK,
	};
	char buf[4096];
	json_t *j, *a;
	int n;

	in->sin_family = AF_INET;
	in->sin_port = htons(51234);
	inet_pton(AF_INET, "192.0.2.1", &in->sin_addr);
	n = accesslog_format(&r, buf, sizeof(buf));
	j = parse_line(buf, n);
	ck_assert_str_eq(STR(j, "client"), "192.0.2.1:51234");
	ck_assert_str_eq(STR(j, "gateway"), "infra/gw");
	ck_assert_str_eq(STR(j, "listener"), "tls");
	ck_assert_str_eq(STR(j, "sni"), "a.example.com");
	a = json_object_get(j, "alpn");
	ck_assert_uint_eq(json_array_size(a), 2);
	ck_assert_str_eq(json_string_value(json_array_get(a, 0)), "h2");
	ck_assert_str_eq(json_string_value(json_array_get(a, 1)), "http/1.1");
	ck_assert_str_eq(STR(j, "route"), "app/web");
	ck_assert_str_eq(STR(j, "backend"), "app/websvc:443");
	ck_assert_str_eq(STR(j, "endpoint"), "10.0.0.5:8443");
	ck_assert_str_eq(STR(j, "engine"), "sockmap");
	ck_assert_str_eq(STR(j, "mode"), "Passthrough");
	ck_assert_int_eq(INT(j, "bytesUp"), 1048576);
	ck_assert_int_eq(INT(j, "bytesDown"), 123456789012ll);
	ck_assert_int_eq(INT(j, "durationMs"), 42);
	ck_assert_str_eq(STR(j, "outcome"), "routed");
	ck_assert_int_eq(strlen(STR(j, "time")), strlen("2026-12-01T09:00:00.123Z"));
	ck_assert_int_eq(STR(j, "time")[23], 'Z');
	json_decref(j);
	/* too small a buffer: an error, never a cut line */
	ck_assert_int_eq(accesslog_format(&r, buf, 64), -ENOSPC);
	policy_compiled_free(pc);
}
END_TEST

START_TEST(test_format_reject_escapes)
{
	/* a hostile SNI (quotes, backslash, newline, NUL, high bytes) and an
	 * IPv6 client; no listener matched */
	static const char sni[] = "a\"b\\c\nd\0e\xff";
	static const uint8_t bad_alpn[] = { 2, 'h', '2', 9, 'x' }; /* tail runs past */
	struct sockaddr_storage ss = { 0 };
	struct sockaddr_in6 *in6 = (void *)&ss;
	struct accesslog_rec r = {
		.client = &ss, .bind_id = 3, .listener_id = SNG_NO_ROUTE, .route_id = SNG_NO_ROUTE,
		.backend_id = SNG_NO_ROUTE, .sni = sni, .sni_len = sizeof(sni) - 1,
		.alpn = bad_alpn, .alpn_len = sizeof(bad_alpn), .reason = SNG_R_NO_LISTENER,
	};
	char buf[4096];
	json_t *j;
	size_t len;
	const char *s;
	int n;

	in6->sin6_family = AF_INET6;
	in6->sin6_port = htons(443);
	inet_pton(AF_INET6, "2001:db8::1", &in6->sin6_addr);
	n = accesslog_format(&r, buf, sizeof(buf));
	j = parse_line(buf, n);
	ck_assert_str_eq(STR(j, "client"), "[2001:db8::1]:443");
	json_decref(j);
	inet_pton(AF_INET6, "::ffff:192.0.2.7", &in6->sin6_addr);
	j = parse_line(buf, accesslog_format(&r, buf, sizeof(buf)));
	ck_assert_str_eq(STR(j, "client"), "192.0.2.7:443");
	json_decref(j);
	inet_pton(AF_INET6, "2001:db8::1", &in6->sin6_addr);
	n = accesslog_format(&r, buf, sizeof(buf));
	j = parse_line(buf, n);
	ck_assert(json_is_null(json_object_get(j, "gateway")));
	ck_assert(json_is_null(json_object_get(j, "listener")));
	ck_assert(json_is_null(json_object_get(j, "route")));
	ck_assert(json_is_null(json_object_get(j, "backend")));
	ck_assert(json_is_null(json_object_get(j, "endpoint")));
	ck_assert(json_is_null(json_object_get(j, "engine")));
	ck_assert(json_is_null(json_object_get(j, "mode")));
	ck_assert_uint_eq(json_array_size(json_object_get(j, "alpn")), 1);
	ck_assert_str_eq(STR(j, "outcome"), "no_listener");
	/* the SNI round-trips byte for byte (high bytes as U+00XX) */
	s = STR(j, "sni");
	len = json_string_length(json_object_get(j, "sni"));
	ck_assert_uint_eq(len, sizeof(sni) - 1 + 1); /* U+00FF is 2 UTF-8 bytes */
	ck_assert_int_eq(memcmp(s, sni, sizeof(sni) - 2), 0);
	json_decref(j);
}
END_TEST

START_TEST(test_reason_names)
{
	unsigned i, k;

	/* every code named, snake_case, and no two alike */
	for (i = 0; i < SNG_R__COUNT; i++) {
		const char *n = reason_name_idx(i);

		ck_assert_ptr_nonnull(n);
		ck_assert_str_ne(n, "unknown");
		ck_assert_uint_eq(strspn(n, "abcdefghijklmnopqrstuvwxyz_"), strlen(n));
		for (k = 0; k < i; k++)
			ck_assert_str_ne(n, reason_name_idx(k));
	}
	ck_assert_ptr_null(reason_name_idx(SNG_R__COUNT));
	ck_assert_str_eq(reason_name(SNG_OK), "routed");
	ck_assert_str_eq(reason_name(SNG_R_NO_ROUTE), "no_route");
	ck_assert_str_eq(reason_name(SNG_R_HANDSHAKE_FAIL), "handshake_fail");
	ck_assert_str_eq(reason_name(SNG_R_SEVERAL_SNI), "several_sni");
	ck_assert_str_eq(reason_name(1), "unknown");
	ck_assert_str_eq(reason_name(-SNG_R__COUNT), "unknown");
	ck_assert_str_eq(engine_name(SNG_ENGINE_SOCKMAP), "sockmap");
	ck_assert_str_eq(engine_name(SNG_ENGINE_USERSPACE), "userspace");
	ck_assert_str_eq(engine_name(7), "unknown");
}
END_TEST

static size_t count_lines(const char *path, uint64_t *sum_up)
{
	char line[8192];
	size_t n = 0;
	FILE *f = fopen(path, "r");

	ck_assert_ptr_nonnull(f);
	while (fgets(line, sizeof(line), f)) {
		json_error_t e;
		json_t *j = json_loads(line, 0, &e);

		ck_assert_msg(j != NULL, "bad line %zu: %s", n, line);
		if (sum_up)
			*sum_up += (uint64_t)INT(j, "bytesUp");
		json_decref(j);
		n++;
	}
	fclose(f);
	return n;
}

START_TEST(test_writer_and_reopen)
{
	char dir[] = "/tmp/sng-alog-XXXXXX", path[300], rotated[300];
	struct accesslog_rec r = {
		.listener_id = SNG_NO_ROUTE, .route_id = SNG_NO_ROUTE, .backend_id = SNG_NO_ROUTE,
		.reason = SNG_OK,
	};
	uint64_t up = 0, want = 0;
	size_t i, a, b;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/access.log", dir);
	snprintf(rotated, sizeof(rotated), "%s/access.log.1", dir);
	ck_assert(!accesslog_enabled());
	accesslog_write(&r); /* not open: a no-op */
	ck_assert_int_eq(accesslog_open(path), 0);
	ck_assert(accesslog_enabled());
	for (i = 0; i < 1000; i++) {
		r.bytes_up = i;
		want += i;
		accesslog_write(&r);
	}
	/* rotate: rename, then reopen; later lines go to the new file */
	usleep(100000);
	ck_assert_int_eq(rename(path, rotated), 0);
	accesslog_reopen();
	usleep(100000);
	for (i = 1000; i < 1500; i++) {
		r.bytes_up = i;
		want += i;
		accesslog_write(&r);
	}
	accesslog_close();
	ck_assert(!accesslog_enabled());
	a = count_lines(rotated, &up);
	b = count_lines(path, &up);
	ck_assert_uint_eq(accesslog_lines(), 1500);
	ck_assert_uint_eq(accesslog_dropped(), 0);
	ck_assert_uint_eq(a + b, 1500);
	ck_assert_uint_ge(b, 1); /* something reached the reopened file */
	ck_assert_uint_eq(up, want);
	unlink(path);
	unlink(rotated);
	rmdir(dir);
}
END_TEST

static Suite *alog_suite(void)
{
	Suite *s = suite_create("accesslog");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_format_full);
	tcase_add_test(tc, test_format_reject_escapes);
	tcase_add_test(tc, test_reason_names);
	tcase_add_test(tc, test_writer_and_reopen);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(alog_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
