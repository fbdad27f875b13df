/* SPDX-License-Identifier: GPL-2.0-only */
/* Prometheus text endpoint (libmicrohttpd): per-listener, route and backend
 * counters from the per-CPU BPF stats and the agent's own tallies. */
#ifndef SNIGATE_METRICS_H
#define SNIGATE_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "accesslog.h"
#include "lookup.h"

struct policy_compiled;

/*
 * Series (labels in braces; L = gateway_namespace, gateway, listener,
 * address, port, mode; R = route_namespace, route; B = namespace, service,
 * port; direction is "up" (client -> backend) or "down"):
 *   snigate_listener_connections_total{L}      routed connections (BPF)
 *   snigate_listener_connections_active{L}     open routed connections (agent)
 *   snigate_listener_bytes_total{L,direction}  bytes (BPF: the verdict's
 *                                              redirected bytes live, the
 *                                              agent's copied bytes at close)
 *   snigate_listener_outcomes_total{L,reason}  every enum sng_reason (BPF)
 *   snigate_listener_handshake_failures_total{L}  = outcomes handshake_fail
 *   snigate_listener_connect_failures_total{L}    = outcomes connect_fail
 *   snigate_route_*{R}                         the same five per route
 *   snigate_backend_connections_total{B}       finished connections (agent)
 *   snigate_backend_connections_active{B}
 *   snigate_backend_bytes_total{B,direction}   bytes of finished connections
 *   snigate_backend_connect_failures_total{B}
 *   snigate_outcomes_total{reason}             every connection's outcome,
 *                                              also those no listener matched
 *   snigate_connections_total{engine}          finished, by engine used
 *   snigate_connections_open                   accepted and not yet closed
 *   snigate_bpf_hello_outcomes_total{reason}   in-kernel parser (sng_chstats)
 *   snigate_engine_info{engine}                1 for the default engine
 *   snigate_policy_serial, snigate_policy_generation
 *   snigate_accesslog_lines_total, snigate_accesslog_dropped_total
 * Ids (listener, route, backend) are those of the current snapshot; after
 * a reload renumbers them, the agent-side gauges of connections begun under
 * the old policy are attributed by their old ids until they end.
 */

/* What the endpoint reads besides the current snapshot. */
struct metrics_options {
	const struct sng_maps *maps; /* stats and config fds; NULL or -1: none */
	int chstats_fd;              /* sng_chstats, -1: none */
	int engine;                  /* default engine in use (enum sng_engine) */
};

/* Start serving GET /metrics, /healthz and /readyz on @addr ("IP:PORT",
 * "[IPv6]:PORT" or ":PORT" for all addresses) in a libmicrohttpd thread.
 * @opt is copied. Call after privileges are dropped (privs_drop wants a
 * single thread); ports < 1024 need CAP_NET_BIND_SERVICE, which is kept.
 * Returns 0 or -errno (-EINVAL: bad address, logged). */
int metrics_start(const char *addr, const struct metrics_options *opt);

/* Stop the server; idempotent. */
void metrics_stop(void);

/* /readyz answers 200 once set (listeners open), 503 before and after
 * metrics_set_ready(false) (draining). /healthz is 200 while serving. */
void metrics_set_ready(bool ready);

/* The agent-side tallies. A routed connection calls begin once (listener,
 * route and picked backend known) and every connection calls end once with
 * its record (begun: whether begin was called, so the gauges balance).
 * Lock-free (relaxed atomics), callable from any worker. */
void metrics_conn_begin(uint32_t listener_id, uint32_t route_id, uint32_t backend_id);
void metrics_conn_end(const struct accesslog_rec *r, bool begun);

/* Render every series for @pc (may be NULL: global series only) into a
 * malloc'd NUL-terminated buffer (*len bytes, caller frees). Pure apart
 * from reading the maps in @opt and the tallies; used by the endpoint
 * and the unit tests. NULL + errno on ENOMEM. */
char *metrics_render(const struct policy_compiled *pc, uint64_t serial,
		     const struct metrics_options *opt, size_t *len);

/* Parse @addr as metrics_start does into a sockaddr. 0 or -EINVAL. */
int metrics_parse_addr(const char *addr, struct sockaddr_storage *ss, socklen_t *sl);

#endif /* SNIGATE_METRICS_H */
