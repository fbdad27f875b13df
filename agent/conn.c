// SPDX-License-Identifier: GPL-2.0-only
/* Passthrough connection lifecycle: ClientHello peek with deadline and size
 * limit, routing from the maps, reject by close, backend connect, engine. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <bpf/bpf.h>

#include "accesslog.h"
#include "conn.h"
#include "hello.h"
#include "loader.h"
#include "log.h"
#include "bufpool.h"
#include "engine_copy.h"
#include "pipepool.h"
#include "memtrim.h"
#include "metrics.h"
#include "policy.h"
#include "reasons.h"
#include "terminate.h"

struct conn_config conn_cfg = { .engine = SNG_ENGINE_USERSPACE };
long conn_open_count;

/* This worker thread's open connections. */
static __thread struct conn *conn_list;

/* Peek scratch, one per worker thread. */
static __thread uint8_t peek_buf[HELLO_STREAM_MAX];

static uint32_t rnd32(void)
{
	static __thread uint64_t s;

	if (!s) {
		if (getrandom(&s, sizeof(s), GRND_NONBLOCK) != sizeof(s))
			s = (uint64_t)worker_now_ms() * 0x9E3779B97F4A7C15ull;
		s |= 1;
	}
	/* xorshift64*: weighted picks need spread, not secrecy */
	s ^= s >> 12;
	s ^= s << 25;
	s ^= s >> 27;
	return (uint32_t)((s * 0x2545F4914F6CDD1Dull) >> 32);
}

void conn_count(uint32_t lid, uint32_t rid, int reason, bool add_reason,
		uint64_t conns, uint64_t up, uint64_t down)
{
	struct sng_count_args a = {
		.listener_id = lid, .route_id = rid, .reason = reason,
		.add_reason = add_reason, .conns = conns, .bytes_up = up, .bytes_down = down,
	};

	if (!conn_cfg.loader || lid == SNG_NO_ROUTE)
		return;
	loader_count(conn_cfg.loader, &a);
}

/* Make a routed connection's deferred connection count (conns + SNG_OK),
 * unless it was made already (here, or by the verdict: SNG_CTL_COUNT). */
static void conn_count_open(struct conn *c)
{
	if (!c->open_count)
		return;
	c->open_count = false;
	conn_count(c->d.listener_id, c->d.route_id, SNG_OK, true, 1, 0, 0);
}

int conn_side_watch(struct conn *c, unsigned i, uint32_t ev)
{
	struct conn_side *s = &c->s[i];
	int err;

	err = s->watched ? worker_modify(c->w, &s->h, ev) : worker_watch(c->w, &s->h, ev);
	if (!err) {
		s->watched = true;
		s->interest = ev;
	}
	return err;
}

void conn_set_interest(struct conn *c, unsigned i, uint32_t ev)
{
	struct conn_side *s = &c->s[i];

	if (s->h.fd < 0 || s->interest == ev)
		return;
	if (worker_modify(c->w, &s->h, ev) == 0)
		s->interest = ev;
}


static void free_later(struct worker *w, void *arg)
{
	struct conn *c = arg;

	bufpool_put(c->s[0].buf, c->s[0].cap);
	bufpool_put(c->s[1].buf, c->s[1].cap);
	pipepool_close(c->s[0].pipe); /* may hold bytes: never pooled */
	pipepool_close(c->s[1].pipe);
	free(c);
	memtrim_conn_freed(w);
}

/* Outcome names for the log: the shared table (agent/reasons.c). */
static const char *reason_str(int r)
{
	return r == SNG_OK ? "done" : reason_name(r);
}

/* The connection's end for the metrics tallies and the access log. Bytes:
 * what the verdict redirected (sng_cnt, as sockmap_forget read it when it
 * deleted the entry) plus what the agent copied, per direction. */
static void ops_conn_end(struct conn *c, int reason)
{
	struct accesslog_rec r = {
		.client = &c->peer, .bind_id = c->bind_id, .listener_id = c->d.listener_id,
		.route_id = c->d.route_id, .sni = c->sni, .sni_len = c->sni_len,
		.alpn = c->alpn, .alpn_len = c->alpn_len, .mode = c->d.mode,
		.bytes_up = c->s[0].copied, .bytes_down = c->s[1].copied,
		.duration_ms = worker_now_ms() - c->start_ms, .reason = reason,
	};
	struct agent_snapshot *snap = NULL;
	unsigned i;

	if (c->handed_off)
		return;
	r.backend_id = c->begun ? c->d.backend_id : SNG_NO_ROUTE;
	if (c->state == CONN_RUN) {
		r.engine = c->engine;
		r.endpoint = &c->bc.ep;
		for (i = 0; c->engine == SNG_ENGINE_SOCKMAP && i < 2; i++)
			if (c->s[i].cookie && c->s[i].red_final)
				*(i ? &r.bytes_down : &r.bytes_up) += c->s[i].redirected;
	}
	metrics_conn_end(&r, c->begun);
	if (!accesslog_enabled())
		return;
	snap = c->snap ? c->snap : agent_snapshot_acquire();
	r.pc = snap ? snap->pc : NULL;
	accesslog_write(&r);
	if (snap != c->snap)
		agent_snapshot_release(snap);
}

static void conn_link(struct conn *c)
{
	c->lprev = NULL;
	c->lnext = conn_list;
	if (conn_list)
		conn_list->lprev = c;
	conn_list = c;
}

static void conn_unlink(struct conn *c)
{
	if (c->lprev)
		c->lprev->lnext = c->lnext;
	else if (conn_list == c)
		conn_list = c->lnext;
	if (c->lnext)
		c->lnext->lprev = c->lprev;
	c->lprev = c->lnext = NULL;
}

void conn_close(struct conn *c, int reason, bool rst)
{
	unsigned i;

	if (c->state == CONN_DEAD)
		return;
	worker_timer_cancel(c->w, &c->timer);
	worker_timer_cancel(c->w, &c->poll);
	if (c->state == CONN_CONNECT)
		backend_connect_cancel(c->w, &c->bc);
	for (i = 0; i < 2; i++) {
		struct conn_side *s = &c->s[i];

		if (s->h.fd < 0)
			continue;
		/* No EPOLL_CTL_DEL: this fd is the socket's only one (a
		 * hand-over unwatches before it passes fds on, conn_freeze),
		 * so close() takes it out of the epoll set. */
		if (rst) {
			struct linger l = { 1, 0 };

			setsockopt(s->h.fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
		}
		close(s->h.fd);
		s->h.fd = -1;
	}
	/* Closing removed both sockets from sng_socks; now the rest (this
	 * also reads the final counts ops_conn_end reports). */
	if (c->engine == SNG_ENGINE_SOCKMAP && c->state == CONN_RUN)
		sockmap_forget(c); /* clears open_count if the verdict counted */
	conn_count_open(c);
	ops_conn_end(c, reason);
	if (!c->counted && c->d.listener_id != SNG_NO_ROUTE) {
		bool bad = reason != SNG_OK && reason != SNG_R_CLIENT_CLOSED;

		/* nothing to add (all bytes spliced, a good end): no call */
		if (bad || c->s[0].copied || c->s[1].copied)
			conn_count(c->d.listener_id, c->d.route_id, reason, bad, 0,
				   c->s[0].copied, c->s[1].copied);
	}
	c->counted = true;
	log_dbg("conn %p closed: %s after %llu ms (agent copied %llu up, %llu down; "
		"passing %u/%u, resumed %u/%u of %u/%u tries)",
		(void *)c, reason_str(reason), (unsigned long long)(worker_now_ms() - c->start_ms),
		(unsigned long long)c->s[0].copied, (unsigned long long)c->s[1].copied,
		c->s[0].pauses, c->s[1].pauses, c->s[0].resumes, c->s[1].resumes,
		c->s[0].resume_tries, c->s[1].resume_tries);
	c->state = CONN_DEAD;
	conn_unlink(c);
	if (c->snap)
		agent_snapshot_release(c->snap);
	c->snap = NULL;
	__atomic_sub_fetch(&conn_open_count, 1, __ATOMIC_RELAXED);
	/* Deferred: an event for this conn may still be in the current batch. */
	if (worker_post(c->w, free_later, c))
		log_err("conn %p: cannot defer free: leaked", (void *)c);
}

/* Count outcome @reason of a connection that ended before the SNI picked a
 * listener (not_tls, no_sni, hello_timeout, client_closed, ...) on the first
 * listener of its bind (bugs B1): per-listener counters are what dump stats
 * and the metrics show, and a bind has no counters of its own. */
static void count_prerouting(struct conn *c, int reason)
{
	struct agent_snapshot *snap = agent_snapshot_acquire();
	size_t i;

	if (!snap)
		return;
	for (i = 0; snap->pc && i < snap->pc->n_listeners; i++)
		if (snap->pc->listeners[i].bind_id == c->bind_id) {
			conn_count(snap->pc->listeners[i].id, SNG_NO_ROUTE, reason, true, 0, 0, 0);
			break;
		}
	agent_snapshot_release(snap);
}

/* Reject before routing completed: drop what was peeked so close() sends a
 * FIN rather than a RST, never a TLS alert. */
static void reject(struct conn *c, int reason)
{
	int fd = c->s[0].h.fd;
	ssize_t n;

	log_dbg("conn %p rejected: %s", (void *)c, reason_str(reason));
	if (c->d.listener_id == SNG_NO_ROUTE) {
		count_prerouting(c, reason);
	} else {
		conn_count_open(c);
		conn_count(c->d.listener_id, c->d.route_id, reason, true, 0, 0, 0);
		c->counted = true;
	}
	if (fd >= 0) {
		do
			n = recv(fd, peek_buf, sizeof(peek_buf), MSG_DONTWAIT);
		while (n > 0);
		shutdown(fd, SHUT_WR);
	}
	conn_close(c, reason, false);
}

/* Checks per idle timeout. Activity is seen by polling counters (the
 * verdict's bytes are not timestamped), so a connection closes at most
 * 1/IDLE_CHECKS of the timeout late. (One check per timeout, re-armed for
 * a full period on any activity, closed up to 2x late.) */
#define IDLE_CHECKS 8

/* (Re)arm the idle timer of a running connection: fire at the next check
 * or when the timeout after the last seen activity runs out. */
static void idle_arm(struct conn *c)
{
	uint64_t now = worker_now_ms(), idle = agent_opts.idle_timeout_ms;
	uint64_t left = now - c->idle_mark_ms < idle ? idle - (now - c->idle_mark_ms) : 1;
	uint64_t step = idle / IDLE_CHECKS ? idle / IDLE_CHECKS : 1;

	worker_timer_set(c->w, &c->timer, left < step ? left : step);
}

static void idle_fire(struct worker *w, struct ev_timer *t)
{
	struct conn *c = container_of(t, struct conn, timer);
	uint64_t now = worker_now_ms();

	if (c->state == CONN_HELLO) {
		reject(c, SNG_R_HELLO_TIMEOUT);
		return;
	}
	if (c->state != CONN_RUN)
		return;
	if (c->engine == SNG_ENGINE_SOCKMAP ? sockmap_active(c) :
	    (c->s[0].copied + c->s[1].copied != c->s[0].last_cnt)) {
		c->s[0].last_cnt = c->s[0].copied + c->s[1].copied;
		c->idle_mark_ms = now;
	}
	if (c->state != CONN_RUN)
		return; /* sockmap_active() may have finished it */
	if (now - c->idle_mark_ms < agent_opts.idle_timeout_ms) {
		idle_arm(c);
		return;
	}
	log_dbg("conn %p idle for %llu ms: closing", (void *)c,
		(unsigned long long)(now - c->idle_mark_ms));
	conn_close(c, SNG_R_IDLE_TIMEOUT, false);
}

static void start_engine(struct conn *c)
{
	int want = conn_cfg.engine, err;

	/* A listener's tls.options engine wins over auto, never over an
	 * explicit --engine=userspace, and only where sockmap works. */
	if (agent_opts.engine == SNG_ENGINE_AUTO && c->d.engine != SNG_ENGINE_AUTO)
		want = c->d.engine;
	if (want == SNG_ENGINE_SOCKMAP && !conn_cfg.sockmap_ok)
		want = SNG_ENGINE_USERSPACE;
	c->state = CONN_RUN;
	c->idle_mark_ms = worker_now_ms();
	idle_arm(c);
	if (want == SNG_ENGINE_SOCKMAP) {
		c->engine = SNG_ENGINE_SOCKMAP;
		err = sockmap_start(c);
		if (!err)
			return;
		if (c->state == CONN_DEAD)
			return;
		if (err == -ENOTCONN)
			log_dbg("conn %p: a side is no longer ESTABLISHED: userspace engine",
				(void *)c);
		else
			log_warn("conn %p: sockmap splice failed (%s): userspace engine",
				 (void *)c, strerror(-err));
	}
	c->engine = SNG_ENGINE_USERSPACE;
	conn_count_open(c);
	err = copy_start(c);
	if (err)
		conn_close(c, SNG_R_CONNECT_FAIL, true);
}

static void on_backend(struct worker *w, struct backend_conn *bc, int fd, int err)
{
	struct conn *c = container_of(bc, struct conn, bc);

	if (fd < 0) {
		log_dbg("conn %p: every backend attempt failed: %s", (void *)c, strerror(-err));
		reject(c, SNG_R_CONNECT_FAIL);
		return;
	}
	c->s[1].h.fd = fd; /* TCP_NODELAY: set by backend.c before connect() */
	c->s[1].watched = bc->watched; /* the engines re-point it (backend.h) */
	start_engine(c);
}

static void route(struct conn *c, const struct hello_info *hi)
{
	char sni[SNG_HOSTNAME_MAX + 1];
	int rc, fd;

	c->sni_len = (uint8_t)hi->sni_len;
	memcpy(c->sni, hi->sni, hi->sni_len);
	c->alpn_len = (uint16_t)(hi->alpn_len < sizeof(c->alpn) ? hi->alpn_len : sizeof(c->alpn));
	memcpy(c->alpn, hi->alpn, c->alpn_len);
	rc = policy_sni_normalize(hi->sni, hi->sni_len, sni);
	if (rc < 0) {
		reject(c, rc);
		return;
	}
	rc = lookup_decide(&agent_maps, c->bind_id, sni, rnd32(), &c->d);
	if (rc != SNG_OK) {
		reject(c, rc);
		return;
	}
	/* Counted once the engine is known: by the verdict on the hello
	 * for a spliced connection (no BPF_PROG_RUN), else by the agent. */
	c->open_count = true;
	c->counted = false;
	metrics_conn_begin(c->d.listener_id, c->d.route_id, c->d.backend_id);
	c->begun = true;
	if (c->d.mode == SNG_MODE_TERMINATE) {
		conn_count_open(c);
		fd = c->s[0].h.fd;
		worker_unwatch(c->w, &c->s[0].h);
		c->s[0].watched = false;
		c->s[0].h.fd = -1;
		worker_timer_cancel(c->w, &c->timer);
		/* term_conn_start keeps the reference it is given */
		c->snap = agent_snapshot_acquire_gen(c->d.gen);
		term_conn_start(c->w, fd, hi, &c->d, c->snap, &c->peer);
		c->snap = NULL;
		c->counted = true;
		c->handed_off = true;
		conn_close(c, SNG_OK, false);
		return;
	}
	c->state = CONN_CONNECT;
	log_dbg("conn %p: %s -> listener %u route %u backend %u", (void *)c, sni,
		c->d.listener_id, c->d.route_id, c->d.backend_id);
	rc = backend_connect_start(c->w, &c->bc, &c->d.backend, rnd32(),
				   agent_opts.connect_timeout_ms, agent_opts.connect_attempts,
				   on_backend);
	if (rc)
		reject(c, SNG_R_NO_ENDPOINT);
}

static void on_client_hello(struct worker *w, struct ev_handler *h, uint32_t events)
{
	struct conn *c = container_of(h, struct conn, s[0].h);
	struct hello_info hi;
	ssize_t n;
	int rc;

	if (c->state == CONN_CONNECT) {
		/* A half-close after the hello is legitimate; a reset is not. */
		if (events & (EPOLLERR | EPOLLHUP))
			conn_close(c, SNG_R_CLIENT_CLOSED, true);
		return;
	}
	if (c->state != CONN_HELLO)
		return;
	n = recv(h->fd, peek_buf, sizeof(peek_buf), MSG_PEEK | MSG_DONTWAIT);
	if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
		count_prerouting(c, SNG_R_CLIENT_CLOSED);
		conn_close(c, SNG_R_CLIENT_CLOSED, n < 0);
		return;
	}
	if (n < 0)
		return;
	rc = hello_parse_stream(peek_buf, (size_t)n, &hi);
	if (rc == SNG_R_HELLO_TRUNCATED) {
		if ((size_t)n >= sizeof(peek_buf))
			reject(c, SNG_R_TOO_BIG);
		else if (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
			count_prerouting(c, SNG_R_CLIENT_CLOSED);
			conn_close(c, SNG_R_CLIENT_CLOSED, false);
		}
		return; /* edge-triggered: the next segment wakes us */
	}
	if (rc != SNG_OK) {
		reject(c, rc);
		return;
	}
	route(c, &hi);
}

void conn_accept(struct worker *w, int fd, uint16_t bind_id, const struct sockaddr_storage *peer)
{
	struct conn *c;
	int one = 1;

	if (__atomic_load_n(&conn_open_count, __ATOMIC_RELAXED) >= SNG_MAX_CONNS / 2) {
		log_warn("connection table full (%d): closing a new connection", SNG_MAX_CONNS / 2);
		close(fd);
		return;
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		close(fd);
		return;
	}
	__atomic_add_fetch(&conn_open_count, 1, __ATOMIC_RELAXED);
	c->lnext = conn_list;
	if (conn_list)
		conn_list->lprev = c;
	conn_list = c;
	c->w = w;
	c->bind_id = bind_id;
	c->state = CONN_HELLO;
	c->start_ms = worker_now_ms();
	c->peer = *peer;
	c->d.listener_id = SNG_NO_ROUTE;
	c->d.route_id = SNG_NO_ROUTE;
	c->counted = true;
	c->s[0].c = c->s[1].c = c;
	c->s[0].idx = 0;
	c->s[1].idx = 1;
	c->s[0].h.fd = fd;
	c->s[1].h.fd = -1;
	c->s[0].h.fn = on_client_hello;
	c->timer.fn = idle_fire;
	c->bc.h.fd = -1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (conn_side_watch(c, 0, EPOLLIN | EPOLLRDHUP | EPOLLET)) {
		conn_close(c, SNG_R_OVERLOAD, false);
		return;
	}
	worker_timer_set(w, &c->timer, agent_opts.hello_timeout_ms);
	/* The hello may already be queued: an edge was possibly missed. */
	on_client_hello(w, &c->s[0].h, EPOLLIN);
}

void conn_close_all(struct worker *w)
{
	while (conn_list)
		conn_close(conn_list, SNG_R_CLIENT_CLOSED, false);
}

/* ---- hand-over to a new agent (agent/takeover.c) -------------------------- */

/* The hand-over sends buffered bytes from a side's copy buffer: move what
 * waits in a splice pipe there. 0, or -errno (the connection cannot go). */
static int pipe_to_buf(struct conn_side *s, size_t *moved)
{
	size_t got = 0;
	ssize_t n;

	if (!s->pipe)
		return 0;
	if (s->len) {
		s->cap = COPY_BUF_SIZE; /* >= PIPEPOOL_SIZE, the most a pipe holds */
		s->buf = bufpool_get(s->cap);
		if (!s->buf)
			return -ENOMEM;
		while (got < s->len) {
			n = read(s->pipe->rd, s->buf + got, s->len - got);
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				return n ? -errno : -EIO; /* not len bytes in it */
			got += (size_t)n;
		}
		s->off = 0;
		*moved += got;
	}
	pipepool_close(s->pipe);
	s->pipe = NULL;
	return 0;
}

static int conn_freeze(struct conn *c, size_t *moved)
{
	unsigned i;
	int err;

	for (i = 0; i < 2; i++) {
		err = pipe_to_buf(&c->s[i], moved);
		if (err) {
			log_err("conn %p: cannot hand over the %llu bytes in its pipe (%s): reset",
				(void *)c, (unsigned long long)c->s[i].len, strerror(-err));
			conn_close(c, SNG_R_RESET, true);
			return err;
		}
	}
	worker_timer_cancel(c->w, &c->timer);
	worker_timer_cancel(c->w, &c->poll);
	if (c->state == CONN_CONNECT) {
		/* The hello is only peeked: routing it again is exact. The
		 * listener's connection counter then counts it twice, and an
		 * abandoned hand-over leaves this process's active gauge one
		 * too high (docs: takeover). */
		backend_connect_cancel(c->w, &c->bc);
		conn_count_open(c);
		c->state = CONN_HELLO;
		c->d.listener_id = SNG_NO_ROUTE;
		c->d.route_id = SNG_NO_ROUTE;
		c->counted = true;
		c->begun = false;
	}
	for (i = 0; i < 2; i++) {
		if (c->s[i].h.fd >= 0 && c->s[i].watched)
			worker_unwatch(c->w, &c->s[i].h);
		c->s[i].watched = false;
	}
	if (c->state == CONN_RUN && c->engine == SNG_ENGINE_SOCKMAP)
		sockmap_freeze(c);
	conn_unlink(c);
	return 0;
}

int conn_freeze_all(struct worker *w, struct conn ***out, size_t *n)
{
	struct conn *c, *next, **v;
	size_t k = 0, moved = 0;

	*out = NULL;
	*n = 0;
	for (c = conn_list; c; c = c->lnext)
		k++;
	if (!k)
		return 0;
	v = calloc(k, sizeof(*v));
	if (!v)
		return -ENOMEM;
	k = 0;
	for (c = conn_list; c; c = next) {
		next = c->lnext;
		if (!conn_freeze(c, &moved))
			v[k++] = c;
	}
	if (moved)
		log_info("takeover: %zu bytes moved from splice pipes into hand-over buffers", moved);
	*out = v;
	*n = k;
	return 0;
}

void conn_thaw(struct conn *c)
{
	conn_link(c);
	conn_resume(c);
}

void conn_release(struct conn *c)
{
	unsigned i;

	for (i = 0; i < 2; i++)
		if (c->s[i].h.fd >= 0)
			close(c->s[i].h.fd);
	if (c->snap)
		agent_snapshot_release(c->snap);
	__atomic_sub_fetch(&conn_open_count, 1, __ATOMIC_RELAXED);
	bufpool_put(c->s[0].buf, c->s[0].cap);
	bufpool_put(c->s[1].buf, c->s[1].cap);
	pipepool_close(c->s[0].pipe); /* may hold bytes: never pooled */
	pipepool_close(c->s[1].pipe);
	free(c);
}

struct conn *conn_adopt(struct worker *w)
{
	struct conn *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	__atomic_add_fetch(&conn_open_count, 1, __ATOMIC_RELAXED);
	conn_link(c);
	c->w = w;
	c->state = CONN_HELLO;
	c->start_ms = worker_now_ms();
	c->d.listener_id = SNG_NO_ROUTE;
	c->d.route_id = SNG_NO_ROUTE;
	c->counted = true;
	c->s[0].c = c->s[1].c = c;
	c->s[0].idx = 0;
	c->s[1].idx = 1;
	c->s[0].h.fd = -1;
	c->s[1].h.fd = -1;
	c->timer.fn = idle_fire;
	c->bc.h.fd = -1;
	return c;
}

void conn_resume(struct conn *c)
{
	uint64_t age = worker_now_ms() - c->start_ms;
	int err = -EINVAL;

	c->timer.fn = idle_fire;
	if (c->state == CONN_HELLO && c->s[0].h.fd >= 0) {
		c->s[0].h.fn = on_client_hello;
		err = conn_side_watch(c, 0, EPOLLIN | EPOLLRDHUP | EPOLLET);
		if (!err) {
			worker_timer_set(c->w, &c->timer, age < agent_opts.hello_timeout_ms ?
					 agent_opts.hello_timeout_ms - age : 1);
			on_client_hello(c->w, &c->s[0].h, EPOLLIN);
			return;
		}
	} else if (c->state == CONN_RUN && c->s[0].h.fd >= 0 && c->s[1].h.fd >= 0) {
		c->idle_mark_ms = worker_now_ms();
		idle_arm(c);
		err = c->engine == SNG_ENGINE_SOCKMAP ? sockmap_resume(c) : copy_start(c);
		if (!err)
			return;
	}
	log_warn("conn %p: cannot resume after the hand-over: %s", (void *)c, strerror(-err));
	conn_close(c, SNG_R_RESET, true);
}

void conn_resync_all(struct worker *w)
{
	struct conn *c, *next;

	for (c = conn_list; c; c = next) {
		next = c->lnext;
		if (c->state == CONN_RUN && c->engine == SNG_ENGINE_SOCKMAP)
			sockmap_resync(c);
	}
}

void conn_log_all(struct worker *w)
{
	uint64_t now = worker_now_ms();
	struct conn *c;
	unsigned i, n = 0;

	for (c = conn_list; c; c = c->lnext) {
		char side[2][320];

		for (i = 0; i < 2; i++) {
			const struct conn_side *s = &c->s[i];
			int k = snprintf(side[i], sizeof(side[i]),
					 "fd %d ev %#x%s%s%s%s%s buf %zu/%zu copied %llu",
					 s->h.fd, s->interest, s->eof ? " eof" : "",
					 s->rdhup ? " rdhup" : "", s->fwd_fin ? " fin-sent" : "",
					 s->want_out ? " want-out" : "", s->readable ? " readable" : "",
					 s->len, s->cap, (unsigned long long)s->copied);

			if (c->engine == SNG_ENGINE_SOCKMAP && k > 0 && (size_t)k < sizeof(side[i]))
				sockmap_describe(c, i, side[i] + k, sizeof(side[i]) - (size_t)k);
		}
		log_info("conn %p: state %d engine %s age %llu ms, poll %s%llu ms | client: %s | "
			 "backend: %s", (void *)c, c->state,
			 c->engine == SNG_ENGINE_SOCKMAP ? "sockmap" : "userspace",
			 (unsigned long long)(now - c->start_ms),
			 c->poll.deadline_ms ? "in " : "off ",
			 (unsigned long long)(c->poll.deadline_ms > now ? c->poll.deadline_ms - now : 0),
			 side[0], side[1]);
		n++;
	}
	log_info("worker %p: %u connection(s)", (void *)w, n);
}
