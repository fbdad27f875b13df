// SPDX-License-Identifier: GPL-2.0-only
/* Benchmark of the policy compiler: generates 10,000 TLSRoutes with 100,000
 * hostnames (plus Services and EndpointSlices), then times parse + compile
 * and prints the compiled table's size. Not a unit test: it reports. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "policy.h"

/* Wall and CPU time: the machine is shared, so CPU time is the number that
 * does not depend on what the neighbours run. */
static double clock_ms(clockid_t id)
{
	struct timespec t;

	clock_gettime(id, &t);
	return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

struct buf {
	char *p;
	size_t n, cap;
};

static void put(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void put(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(b->p + b->n, b->cap - b->n, fmt, ap);
		va_end(ap);
		if (n >= 0 && (size_t)n < b->cap - b->n)
			break;
		b->cap = b->cap * 2 + 4096;
		b->p = realloc(b->p, b->cap);
		if (!b->p) {
			perror("realloc");
			exit(1);
		}
	}
	b->n += (size_t)n;
}

int main(int argc, char **argv)
{
	int routes = argc > 1 ? atoi(argv[1]) : 10000, per = argc > 2 ? atoi(argv[2]) : 10;
	int services = 1000, r, h, s, runs = 3, i;
	struct buf b = { 0 };
	double best_wall = 1e9, best_cpu = 1e9;
	struct policy_compiled *pc = NULL;
	struct policy_error err;

	put(&b, "apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata: {name: bench, "
	    "namespace: bench}\nspec:\n  gatewayClassName: snigate\n  listeners:\n"
	    "  - {name: any, protocol: TLS, port: 443, tls: {mode: Passthrough}}\n"
	    "  - {name: wild, protocol: TLS, port: 443, hostname: \"*.w.bench.example\", "
	    "tls: {mode: Passthrough}}\n");
	for (s = 0; s < services; s++)
		put(&b, "---\napiVersion: v1\nkind: Service\nmetadata: {name: svc-%d, namespace: bench}\n"
		    "spec: {clusterIP: 10.96.%d.%d, ports: [{name: tls, port: 443, targetPort: 8443}]}\n"
		    "---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {name: "
		    "svc-%d-a, namespace: bench, labels: {kubernetes.io/service-name: svc-%d}}\n"
		    "addressType: IPv4\nports: [{name: tls, port: 8443}]\nendpoints:\n"
		    "- {addresses: [10.%d.%d.1], conditions: {ready: true}}\n"
		    "- {addresses: [10.%d.%d.2], conditions: {ready: true}}\n"
		    "- {addresses: [10.%d.%d.3], conditions: {ready: false}}\n",
		    s, s / 250, s % 250 + 1, s, s, 100 + s / 250, s % 250, 100 + s / 250, s % 250,
		    100 + s / 250, s % 250);
	for (r = 0; r < routes; r++) {
		put(&b, "---\napiVersion: gateway.networking.k8s.io/v1\nkind: TLSRoute\nmetadata: "
		    "{name: route-%05d, namespace: bench, creationTimestamp: \"2026-01-01T00:00:%02dZ\"}"
		    "\nspec:\n  parentRefs: [{name: bench}]\n  hostnames:\n", r, r % 60);
		for (h = 0; h < per; h++) {
			if (h == 0 && r % 10 == 0)
				put(&b, "  - \"*.r%d.w.bench.example\"\n", r);
			else
				put(&b, "  - h%d.r%d.%s.bench.example\n", h, r, h % 2 ? "w" : "x");
		}
		put(&b, "  rules:\n  - backendRefs:\n    - {name: svc-%d, port: 443, weight: 3}\n"
		    "    - {name: svc-%d, port: 443}\n", r % services, (r * 7 + 1) % services);
	}
	printf("input: %d TLSRoutes x %d hostnames = %d hostnames, %d Services, %.1f MiB YAML\n",
	       routes, per, routes * per, services, (double)b.n / (1 << 20));
	for (i = 0; i < runs; i++) {
		struct policy_input *in = policy_input_new();
		double w0, w1, w2, c0, c1, c2;

		policy_compiled_free(pc); /* outside the timed part */
		pc = NULL;
		w0 = clock_ms(CLOCK_MONOTONIC);
		c0 = clock_ms(CLOCK_PROCESS_CPUTIME_ID);
		if (policy_input_add_buffer(in, "bench.yaml", b.p, b.n, &err)) {
			fprintf(stderr, "parse: %s:%d:%d %s %s\n", err.file, err.line, err.column,
				err.path, err.msg);
			return 1;
		}
		w1 = clock_ms(CLOCK_MONOTONIC);
		c1 = clock_ms(CLOCK_PROCESS_CPUTIME_ID);
		pc = policy_compile(in, NULL);
		w2 = clock_ms(CLOCK_MONOTONIC);
		c2 = clock_ms(CLOCK_PROCESS_CPUTIME_ID);
		if (!pc) {
			perror("policy_compile");
			return 1;
		}
		policy_input_free(in);
		printf("run %d: parse %.0f ms, compile %.0f ms, total %.0f ms wall; "
		       "%.0f + %.0f = %.0f ms cpu\n", i + 1, w1 - w0, w2 - w1, w2 - w0, c1 - c0,
		       c2 - c1, c2 - c0);
		if (w2 - w0 < best_wall)
			best_wall = w2 - w0;
		if (c2 - c0 < best_cpu)
			best_cpu = c2 - c0;
	}
	printf("best of %d: parse+compile %.0f ms wall, %.0f ms cpu (target < 2000 ms)\n", runs,
	       best_wall, best_cpu);
	printf("table: %zu entries, %zu routes, %zu sets, %zu backends, %zu listeners, %zu binds, "
	       "%zu bytes in maps (%.1f MiB)\n", pc->n_entries, pc->n_routes, pc->n_sets,
	       pc->n_backends, pc->n_listeners, pc->n_binds, policy_table_bytes(pc),
	       (double)policy_table_bytes(pc) / (1 << 20));
	policy_compiled_free(pc);
	free(b.p);
	return 0;
}
