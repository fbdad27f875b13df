// SPDX-License-Identifier: GPL-2.0-only
/* Metrics: the agent-side tallies, the Prometheus text rendering (BPF
 * per-CPU stats summed over CPUs, names from the snapshot) and the server. */
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <microhttpd.h>

#include "agent.h"
#include "conn.h"
#include "log.h"
#include "metrics.h"
#include "policy.h"
#include "reasons.h"

/* ---- agent-side tallies ---------------------------------------------------- */

struct backend_tally {
	uint64_t conns, active, up, down, connect_fail;
};

/* Indexed by id: untouched pages of these arrays cost no memory. Backend
 * ids are generation-relative, at most SNG_MAX_BACKEND_ENTRIES / 2. */
static uint64_t listener_active[SNG_MAX_LISTENERS];
static uint64_t route_active[SNG_MAX_ROUTES];
static struct backend_tally backend_tally[SNG_MAX_BACKEND_ENTRIES / 2];
static uint64_t outcomes[SNG_R__COUNT];
static uint64_t engine_conns[3];

#define ADD(p, v) __atomic_add_fetch((p), (v), __ATOMIC_RELAXED)
#define GET(p) __atomic_load_n((p), __ATOMIC_RELAXED)

void metrics_conn_begin(uint32_t lid, uint32_t rid, uint32_t bid)
{
	if (lid < SNG_MAX_LISTENERS)
		ADD(&listener_active[lid], 1);
	if (rid < SNG_MAX_ROUTES)
		ADD(&route_active[rid], 1);
	if (bid < SNG_MAX_BACKEND_ENTRIES / 2)
		ADD(&backend_tally[bid].active, 1);
}

void metrics_conn_end(const struct accesslog_rec *r, bool begun)
{
	uint32_t lid = r->listener_id, rid = r->route_id, bid = r->backend_id;

	if (r->reason <= 0 && r->reason > -SNG_R__COUNT)
		ADD(&outcomes[-r->reason], 1);
	if (r->engine >= 0 && r->engine < 3)
		ADD(&engine_conns[r->engine], 1);
	if (bid < SNG_MAX_BACKEND_ENTRIES / 2) {
		struct backend_tally *t = &backend_tally[bid];

		if (r->reason == SNG_R_CONNECT_FAIL)
			ADD(&t->connect_fail, 1);
		else if (r->endpoint)
			ADD(&t->conns, 1);
		ADD(&t->up, r->bytes_up);
		ADD(&t->down, r->bytes_down);
		if (begun)
			__atomic_sub_fetch(&t->active, 1, __ATOMIC_RELAXED);
	}
	if (!begun)
		return;
	if (lid < SNG_MAX_LISTENERS)
		__atomic_sub_fetch(&listener_active[lid], 1, __ATOMIC_RELAXED);
	if (rid < SNG_MAX_ROUTES)
		__atomic_sub_fetch(&route_active[rid], 1, __ATOMIC_RELAXED);
}

/* ---- rendering --------------------------------------------------------------- */

/* A label value with Prometheus escapes (\\, \", \n). */
static void label(FILE *f, const char *k, const char *v, bool first)
{
	fprintf(f, "%s%s=\"", first ? "" : ",", k);
	for (; *v; v++) {
		if (*v == '\\' || *v == '"')
			fputc('\\', f);
		if (*v == '\n') {
			fputs("\\n", f);
			continue;
		}
		fputc(*v, f);
	}
	fputc('"', f);
}

static void head(FILE *f, const char *name, const char *type, const char *help)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* Sum per-CPU struct sng_stats of @key in @fd into @out (zero if absent). */
static void stats_sum(int fd, uint32_t key, struct sng_stats *per, int ncpu,
		      struct sng_stats *out)
{
	int c, i;

	memset(out, 0, sizeof(*out));
	if (fd < 0 || !per || bpf_map_lookup_elem(fd, &key, per))
		return;
	for (c = 0; c < ncpu; c++) {
		out->conns += per[c].conns;
		out->bytes_up += per[c].bytes_up;
		out->bytes_down += per[c].bytes_down;
		for (i = 0; i < SNG_R__COUNT; i++)
			out->reasons[i] += per[c].reasons[i];
	}
}

static const char *mode_str(uint8_t mode)
{
	return mode == SNG_MODE_TERMINATE ? "Terminate" : "Passthrough";
}

static const struct policy_bind *bind_of(const struct policy_compiled *pc, uint16_t id)
{
	size_t i;

	for (i = 0; i < pc->n_binds; i++)
		if (pc->binds[i].id == id)
			return &pc->binds[i];
	return NULL;
}

static void listener_labels(FILE *f, const struct policy_compiled *pc,
			    const struct policy_listener *l)
{
	const struct policy_bind *b = bind_of(pc, l->bind_id);
	char port[8];

	snprintf(port, sizeof(port), "%u", l->port);
	label(f, "gateway_namespace", l->gateway_ns, true);
	label(f, "gateway", l->gateway_name, false);
	label(f, "listener", l->name, false);
	label(f, "address", b ? b->address : "", false);
	label(f, "port", port, false);
	label(f, "mode", mode_str(l->mode), false);
}

static void route_labels(FILE *f, const struct policy_route *r)
{
	label(f, "route_namespace", r->ns, true);
	label(f, "route", r->name, false);
}

static void backend_labels(FILE *f, const struct policy_backend_info *b)
{
	char port[8];

	snprintf(port, sizeof(port), "%u", b->port);
	label(f, "namespace", b->ns, true);
	label(f, "service", b->name, false);
	label(f, "port", port, false);
}

/* The five series of the listener or route stats: @kind "listener" or
 * "route"; @st[i] the summed stats and @active[i] the gauge of item i. */
static void render_stats(FILE *f, const struct policy_compiled *pc, bool routes,
			 const struct sng_stats *st, size_t n)
{
	const char *kind = routes ? "route" : "listener";
	char name[96];
	size_t i;
	unsigned r;

#define EACH(body)                                                                        \
	for (i = 0; i < n; i++) {                                                         \
		fprintf(f, "%s{", name);                                                  \
		if (routes)                                                               \
			route_labels(f, &pc->routes[i]);                                  \
		else                                                                      \
			listener_labels(f, pc, &pc->listeners[i]);                        \
		body;                                                                     \
	}
	snprintf(name, sizeof(name), "snigate_%s_connections_total", kind);
	head(f, name, "counter", routes ? "Connections routed to the route." :
		"Connections routed on the listener.");
	EACH(fprintf(f, "} %llu\n", (unsigned long long)st[i].conns));
	snprintf(name, sizeof(name), "snigate_%s_connections_active", kind);
	head(f, name, "gauge", "Routed connections open now.");
	EACH(fprintf(f, "} %llu\n", (unsigned long long)GET(routes ? &route_active[i] :
							      &listener_active[i])));
	snprintf(name, sizeof(name), "snigate_%s_bytes_total", kind);
	head(f, name, "counter", "Bytes forwarded; direction up is client to backend.");
	EACH(fprintf(f, ",direction=\"up\"} %llu\n", (unsigned long long)st[i].bytes_up));
	EACH(fprintf(f, ",direction=\"down\"} %llu\n", (unsigned long long)st[i].bytes_down));
	snprintf(name, sizeof(name), "snigate_%s_outcomes_total", kind);
	head(f, name, "counter", "Connection outcomes by reason (routed = success).");
	for (r = 0; r < SNG_R__COUNT; r++)
		EACH(fprintf(f, ",reason=\"%s\"} %llu\n", reason_name_idx(r),
			     (unsigned long long)st[i].reasons[r]));
	snprintf(name, sizeof(name), "snigate_%s_handshake_failures_total", kind);
	head(f, name, "counter", "Terminate TLS handshakes that failed.");
	EACH(fprintf(f, "} %llu\n",
		     (unsigned long long)st[i].reasons[-SNG_R_HANDSHAKE_FAIL]));
	snprintf(name, sizeof(name), "snigate_%s_connect_failures_total", kind);
	head(f, name, "counter", "Connections whose every backend connect attempt failed.");
	EACH(fprintf(f, "} %llu\n",
		     (unsigned long long)st[i].reasons[-SNG_R_CONNECT_FAIL]));
#undef EACH
}

static void render_backends(FILE *f, const struct policy_compiled *pc)
{
	size_t i, n = pc->n_backends < SNG_MAX_BACKEND_ENTRIES / 2 ? pc->n_backends :
		      SNG_MAX_BACKEND_ENTRIES / 2;

	if (!pc->backend_info)
		return;
#define EACH(body)                                                                        \
	for (i = 0; i < n; i++) {                                                         \
		fprintf(f, "%s{", name);                                                  \
		backend_labels(f, &pc->backend_info[i]);                                  \
		body;                                                                     \
	}
	{
		const char *name = "snigate_backend_connections_total";

		head(f, name, "counter", "Finished connections that reached the backend.");
		EACH(fprintf(f, "} %llu\n", (unsigned long long)GET(&backend_tally[i].conns)));
		name = "snigate_backend_connections_active";
		head(f, name, "gauge", "Open connections routed to the backend.");
		EACH(fprintf(f, "} %llu\n", (unsigned long long)GET(&backend_tally[i].active)));
		name = "snigate_backend_bytes_total";
		head(f, name, "counter", "Bytes of finished connections; up is client to backend.");
		EACH(fprintf(f, ",direction=\"up\"} %llu\n",
			     (unsigned long long)GET(&backend_tally[i].up)));
		EACH(fprintf(f, ",direction=\"down\"} %llu\n",
			     (unsigned long long)GET(&backend_tally[i].down)));
		name = "snigate_backend_connect_failures_total";
		head(f, name, "counter", "Connections whose every connect attempt to the backend failed.");
		EACH(fprintf(f, "} %llu\n",
			     (unsigned long long)GET(&backend_tally[i].connect_fail)));
	}
#undef EACH
}

static void render_reason_table(FILE *f, const char *name, const char *help, const uint64_t *v)
{
	unsigned r;

	head(f, name, "counter", help);
	for (r = 0; r < SNG_R__COUNT; r++)
		fprintf(f, "%s{reason=\"%s\"} %llu\n", name, reason_name_idx(r),
			(unsigned long long)v[r]);
}

char *metrics_render(const struct policy_compiled *pc, uint64_t serial,
		     const struct metrics_options *opt, size_t *len)
{
	const struct sng_maps *m = opt ? opt->maps : NULL;
	struct sng_stats *per = NULL, *st = NULL;
	struct sng_config cfg = { 0 };
	uint64_t tmp[SNG_R__COUNT] = { 0 }, hello[SNG_R__COUNT] = { 0 };
	int ncpu = libbpf_num_possible_cpus(), e;
	char *buf = NULL;
	size_t i, n;
	FILE *f;
	__u32 zero = 0;

	f = open_memstream(&buf, len);
	if (!f)
		return NULL;
	if (ncpu > 0)
		per = calloc((size_t)ncpu, sizeof(*per));
	if (pc) {
		n = pc->n_listeners > pc->n_routes ? pc->n_listeners : pc->n_routes;
		st = calloc(n ? n : 1, sizeof(*st));
	}
	if ((ncpu > 0 && !per) || (pc && !st))
		goto nomem;

	head(f, "snigate_policy_serial", "gauge", "Serial of the policy being served.");
	fprintf(f, "snigate_policy_serial %llu\n", (unsigned long long)serial);
	if (m && m->config >= 0 && !bpf_map_lookup_elem(m->config, &zero, &cfg)) {
		head(f, "snigate_policy_generation", "gauge", "Active map generation (0 or 1).");
		fprintf(f, "snigate_policy_generation %u\n", cfg.gen);
	}
	if (opt) {
		head(f, "snigate_engine_info", "gauge", "Default passthrough engine in use.");
		fprintf(f, "snigate_engine_info{engine=\"%s\"} 1\n", engine_name(opt->engine));
	}
	head(f, "snigate_connections_open", "gauge",
	     "Passthrough-path connections accepted and not yet closed.");
	fprintf(f, "snigate_connections_open %ld\n", __atomic_load_n(&conn_open_count,
								      __ATOMIC_RELAXED));
	head(f, "snigate_connections_total", "counter", "Finished connections by engine used.");
	for (e = SNG_ENGINE_SOCKMAP; e <= SNG_ENGINE_USERSPACE; e++)
		fprintf(f, "snigate_connections_total{engine=\"%s\"} %llu\n", engine_name(e),
			(unsigned long long)GET(&engine_conns[e]));
	for (i = 0; i < SNG_R__COUNT; i++)
		tmp[i] = GET(&outcomes[i]);
	render_reason_table(f, "snigate_outcomes_total",
			    "Outcome of every finished connection, with or without a listener.", tmp);
	if (opt && opt->chstats_fd >= 0 && per) {
		__u64 *pv = (__u64 *)per; /* ncpu * sizeof(sng_stats) >= ncpu * 8 */
		int c;

		for (i = 0; i < SNG_R__COUNT; i++) {
			__u32 k = (__u32)i;

			if (bpf_map_lookup_elem(opt->chstats_fd, &k, pv))
				continue;
			for (c = 0; c < ncpu; c++)
				hello[i] += pv[c];
		}
		render_reason_table(f, "snigate_bpf_hello_outcomes_total",
				    "In-kernel ClientHello parser outcomes on spliced client sockets.",
				    hello);
	}
	head(f, "snigate_accesslog_lines_total", "counter", "Access-log lines queued.");
	fprintf(f, "snigate_accesslog_lines_total %llu\n", (unsigned long long)accesslog_lines());
	head(f, "snigate_accesslog_dropped_total", "counter",
	     "Access-log lines dropped because the writer was a buffer behind.");
	fprintf(f, "snigate_accesslog_dropped_total %llu\n",
		(unsigned long long)accesslog_dropped());

	if (pc) {
		for (i = 0; i < pc->n_listeners; i++)
			stats_sum(m ? m->lstats : -1, (uint32_t)i, per, ncpu, &st[i]);
		render_stats(f, pc, false, st, pc->n_listeners < SNG_MAX_LISTENERS ?
			     pc->n_listeners : SNG_MAX_LISTENERS);
		for (i = 0; i < pc->n_routes; i++)
			stats_sum(m ? m->rstats : -1, (uint32_t)i, per, ncpu, &st[i]);
		render_stats(f, pc, true, st, pc->n_routes < SNG_MAX_ROUTES ? pc->n_routes :
			     SNG_MAX_ROUTES);
		render_backends(f, pc);
	}
	free(per);
	free(st);
	if (fclose(f)) {
		free(buf);
		errno = ENOMEM;
		return NULL;
	}
	return buf;
nomem:
	free(per);
	free(st);
	fclose(f);
	free(buf);
	errno = ENOMEM;
	return NULL;
}

/* ---- server ------------------------------------------------------------------ */

static struct MHD_Daemon *mhd;
static struct metrics_options mopt;
static int ready;

void metrics_set_ready(bool r)
{
	__atomic_store_n(&ready, r ? 1 : 0, __ATOMIC_RELEASE);
}

static enum MHD_Result reply(struct MHD_Connection *conn, unsigned code, const char *type,
			     char *body, size_t len, bool owned)
{
	struct MHD_Response *resp;
	enum MHD_Result rc;

	resp = MHD_create_response_from_buffer(len, body, owned ? MHD_RESPMEM_MUST_FREE :
					       MHD_RESPMEM_PERSISTENT);
	if (!resp) {
		if (owned)
			free(body);
		return MHD_NO;
	}
	MHD_add_response_header(resp, "Content-Type", type);
	rc = MHD_queue_response(conn, code, resp);
	MHD_destroy_response(resp);
	return rc;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
				  const char *method, const char *version,
				  const char *upload_data, size_t *upload_size, void **state)
{
	static const char text[] = "text/plain; charset=utf-8";
	struct agent_snapshot *s;
	char *body;
	size_t len;

	(void)cls;
	(void)version;
	(void)upload_data;
	if (!*state) {
		/* First call: headers only. Answer on the second. */
		*state = (void *)1;
		return MHD_YES;
	}
	if (*upload_size)
		return reply(conn, MHD_HTTP_BAD_REQUEST, text, "no body expected\n", 17, false);
	if (strcmp(method, "GET") && strcmp(method, "HEAD"))
		return reply(conn, MHD_HTTP_METHOD_NOT_ALLOWED, text, "GET only\n", 9, false);
	if (!strcmp(url, "/healthz"))
		return reply(conn, MHD_HTTP_OK, text, "ok\n", 3, false);
	if (!strcmp(url, "/readyz"))
		return __atomic_load_n(&ready, __ATOMIC_ACQUIRE) ?
		       reply(conn, MHD_HTTP_OK, text, "ready\n", 6, false) :
		       reply(conn, MHD_HTTP_SERVICE_UNAVAILABLE, text, "not ready\n", 10, false);
	if (strcmp(url, "/metrics"))
		return reply(conn, MHD_HTTP_NOT_FOUND, text,
			     "not found: /metrics, /healthz or /readyz\n", 41, false);
	s = agent_snapshot_acquire();
	body = metrics_render(s ? s->pc : NULL, s ? s->serial : 0, &mopt, &len);
	agent_snapshot_release(s);
	if (!body)
		return reply(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, text, "out of memory\n", 14,
			     false);
	return reply(conn, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8", body, len,
		     true);
}

int metrics_parse_addr(const char *addr, struct sockaddr_storage *ss, socklen_t *sl)
{
	struct addrinfo hints = { .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE,
				  .ai_socktype = SOCK_STREAM };
	struct addrinfo *ai = NULL;
	char host[80];
	const char *colon, *port;
	size_t hl;
	char *end;
	long p;

	if (!addr)
		return -EINVAL;
	if (addr[0] == '[') {
		colon = strstr(addr, "]:");
		if (!colon)
			return -EINVAL;
		hl = (size_t)(colon - addr - 1);
		if (hl >= sizeof(host))
			return -EINVAL;
		memcpy(host, addr + 1, hl);
		host[hl] = 0;
		port = colon + 2;
	} else {
		colon = strrchr(addr, ':');
		if (!colon || strchr(addr, ':') != colon)
			return -EINVAL;
		hl = (size_t)(colon - addr);
		if (hl >= sizeof(host))
			return -EINVAL;
		memcpy(host, addr, hl);
		host[hl] = 0;
		port = colon + 1;
	}
	p = strtol(port, &end, 10);
	if (!*port || *end || p < 1 || p > 65535)
		return -EINVAL;
	if (!*host)
		snprintf(host, sizeof(host), "::");
	if (getaddrinfo(host, port, &hints, &ai) || !ai)
		return -EINVAL;
	memcpy(ss, ai->ai_addr, ai->ai_addrlen);
	*sl = ai->ai_addrlen;
	freeaddrinfo(ai);
	return 0;
}

int metrics_start(const char *addr, const struct metrics_options *opt)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL | MHD_USE_ERROR_LOG;

	if (mhd)
		return -EALREADY;
	if (metrics_parse_addr(addr, &ss, &sl)) {
		log_err("--metrics %s: expected IP:PORT, [IPv6]:PORT or :PORT", addr);
		return -EINVAL;
	}
	if (ss.ss_family == AF_INET6)
		flags |= MHD_USE_DUAL_STACK;
	mopt = *opt;
	mhd = MHD_start_daemon(flags, 0, NULL, NULL, on_request, NULL,
			       MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
			       MHD_OPTION_CONNECTION_LIMIT, 32u,
			       MHD_OPTION_CONNECTION_TIMEOUT, 10u,
			       MHD_OPTION_END);
	if (!mhd) {
		int err = errno ? errno : EADDRINUSE;

		log_err("metrics: cannot listen on %s: %s", addr, strerror(err));
		return -err;
	}
	log_info("metrics on http://%s/metrics (/healthz, /readyz)", addr);
	return 0;
}

void metrics_stop(void)
{
	if (!mhd)
		return;
	MHD_stop_daemon(mhd);
	mhd = NULL;
	metrics_set_ready(false);
}
