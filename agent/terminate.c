// SPDX-License-Identifier: GPL-2.0-only
/* Terminate listeners: the policy's OpenSSL contexts and the per-connection
 * non-blocking TLS proxy (client TLS <-> plaintext or re-encrypted backend).
 *
 * One connection lives entirely on the worker that accepted it:
 *
 *   client fd --SSL (server)--> up buffer ---> backend fd (TCP or SSL client)
 *             <---------------- down buffer <---
 *
 * States: HANDSHAKE (client TLS, deadline) -> CONNECT (backend_connect_start,
 * failover inside backend.c) -> BACKEND_HS (BackendTLSPolicy only) -> PROXY.
 *
 * The ClientHello: conn.c only PEEKED it (MSG_PEEK) to route on its SNI, so
 * the bytes are still in the socket's receive queue and OpenSSL reads them
 * from the fd itself through its socket BIO. That is the "equivalent" of
 * feeding a memory BIO in Mixed mode: nothing is read twice, nothing is lost,
 * and no copy of the hello is kept. A Terminate connection is never put in
 * the splice sockmap, so its bytes always reach the socket.
 *
 * Backpressure: each direction has one fixed TERM_BUF buffer. A side is read
 * only while its buffer has room, so a slow reader on either side stops the
 * reads on the other, the kernel windows close and the peer is flow
 * controlled. Per-connection memory is bounded by 2 * TERM_BUF + OpenSSL's
 * record buffers (released when idle: SSL_MODE_RELEASE_BUFFERS).
 *
 * Half-close: client close_notify (or FIN) -> shutdown(SHUT_WR) on the
 * backend once `up` is drained; backend FIN -> SSL_shutdown() (close_notify)
 * once `down` is drained, and reading continues until the other way ends.
 * A reset or a TLS error on one side -> RST (SO_LINGER 0) on the other.
 * Rejection (handshake failure, no backend): close, no application data.
 *
 * kTLS: where the kernel has the tls ULP (probed at run time), a client leg
 * to a plaintext backend is moved to kernel TLS once the backend is
 * connected (tls_ktls_enable(): keys and record sequence numbers from
 * OpenSSL). The proxy loop then moves plaintext with recv/send on both fds:
 * the crypto runs in the kernel; the copy through the TERM_BUF buffers
 * stays (splicing that leg with the sockmap engine is not done). Otherwise,
 * and for re-encrypted backends, OpenSSL does the crypto in userspace. */
#include <errno.h>
#include <signal.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <linux/tls.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "accesslog.h"
#include "agent.h"
#include "backend.h"
#include "conn.h"
#include "hello.h"
#include "log.h"
#include "memtrim.h"
#include "metrics.h"
#include "terminate.h"
#include "tls_ctx.h"

/* Plaintext per direction: three full TLS records. The client leg writes
 * through a buffering BIO (term_wbio_push) and reads ahead, so one send(2)
 * carries the three records one SSL_write() made, and one recv(2) brings
 * the records several SSL_read()s take: per 48 KiB, 2 syscalls each way
 * instead of 6 (measured: the kernel's per-skb loopback work was ~30 % of
 * the worker's CPU in a 1-stream TLS download with 16 KiB per call). The
 * struct stays under glibc's mmap threshold (memtrim.h). */
#define TERM_BUF (3 * 16384)
/* The client leg's write buffer: TERM_BUF of plaintext as records. */
#define TERM_WBUF (TERM_BUF + 3 * SSL3_RT_MAX_ENCRYPTED_OVERHEAD)
/* Bytes one pump() call moves before yielding to other connections. */
#define PUMP_BUDGET (256 * 1024)

struct term_policy {
	struct tls_keyring *keys;      /* shared by every listener; carried over */
	struct tls_server **srv;       /* by listener_id; NULL if not Terminate */
	size_t n_srv;
	SSL_CTX **btls;                /* by backend TLS policy index (tls_id) */
	char (*btls_host)[SNG_HOSTNAME_MAX + 1];
	size_t n_btls;
};

struct term_buf {
	size_t off, len;               /* data is d[off, off + len) */
	size_t hwm;                    /* d[0, hwm) was ever written */
	uint8_t d[TERM_BUF];           /* not zeroed: only [off, off + len) is read */
};

/* Each fd is registered once, edge-triggered, for reads and writes: no
 * epoll_ctl on the data path. rblk/wblk say what the last read/write found
 * blocked (EPOLLIN/EPOLLOUT: an SSL read can wait for writability and the
 * reverse); an event carrying that readiness clears them. A blocked side is
 * not retried until then, so an idle direction costs no syscall per pass. */
struct term_side {
	struct ev_handler h;           /* h.fd: -1 when none */
	SSL *ssl;                      /* NULL: plain TCP */
	uint32_t rblk, wblk;           /* what the last read/write waits for */
	bool in_epoll;
	bool rdhup;                    /* EPOLLRDHUP/HUP/ERR seen: read to EOF */
	bool rd_eof;                   /* peer finished sending */
	bool wr_shut;                  /* our FIN / close_notify is out */
	bool shut_sent;                /* SSL_shutdown() done, maybe not flushed */
	bool wflush;                   /* the write BIO holds records: flush first */
	BIO *wbuf;                     /* buffering write BIO (client leg) or NULL */
	bool ssl_dead;                 /* fatal SSL error: no SSL_shutdown */
	bool ktls;                     /* kernel TLS: the fd carries plaintext */
};

enum term_state { TC_HANDSHAKE, TC_CONNECT, TC_BACKEND_HS, TC_PROXY, TC_DEAD };

struct term_conn {
	struct worker *w;
	struct agent_snapshot *snap;
	enum term_state st;
	struct term_side cli, be;
	struct backend_conn bc;
	struct ev_timer timer;         /* handshake deadline, then idle timeout */
	uint64_t last_ms;              /* last byte moved (idle timeout) */
	uint64_t up_bytes, down_bytes;
	bool pump_posted;              /* a pump_again() is queued */
	struct route_decision d;
	char peer[INET6_ADDRSTRLEN + 8];
	/* ops: the access-log record's fields known at start */
	struct sockaddr_storage client;
	uint64_t start_ms;
	bool backend_up;               /* bc.ep is the connected endpoint */
	uint8_t sni_len;
	uint16_t alpn_len;
	char sni[SNG_HOSTNAME_MAX + 1];
	uint8_t alpn[HELLO_ALPN_MAX];
	struct term_conn *lprev, *lnext; /* the worker's open connections */
	/* last: term_conn_start() zeroes everything before them, and a
	 * connection's end wipes only what was written */
	struct term_buf up, down;      /* up: client -> backend */
};

long term_open_count;
/* This worker thread's open Terminate connections (term_close_all()). */
static __thread struct term_conn *term_list;

/* ---- policy --------------------------------------------------------------- */

void term_policy_free(struct term_policy *tp)
{
	size_t i;

	if (!tp)
		return;
	for (i = 0; i < tp->n_srv; i++)
		tls_server_free(tp->srv[i]);
	for (i = 0; i < tp->n_btls; i++)
		SSL_CTX_free(tp->btls[i]);
	free(tp->srv);
	free(tp->btls);
	free(tp->btls_host);
	tls_keyring_unref(tp->keys);
	free(tp);
}

struct term_policy *term_policy_build(const struct policy_compiled *pc,
				      const struct term_policy *prev)
{
	struct term_policy *tp;
	size_t i, n_term = 0;
	int err = ENOMEM;

	if (!pc) {
		errno = EINVAL;
		return NULL;
	}
	/* SSL_write() reaches write(2) through the socket BIO: a peer that
	 * went away must give EPIPE, not kill the agent. */
	signal(SIGPIPE, SIG_IGN);
	tp = calloc(1, sizeof(*tp));
	if (!tp)
		goto fail;
	/* ticket keys survive reloads: clients resume across a certificate
	 * rotation, and tickets issued before the reload stay valid */
	tp->keys = prev && prev->keys ? tls_keyring_ref(prev->keys) : tls_keyring_new(0);
	if (!tp->keys) {
		err = errno;
		goto fail;
	}
	tp->srv = calloc(pc->n_listeners ? pc->n_listeners : 1, sizeof(*tp->srv));
	if (!tp->srv)
		goto fail;
	tp->n_srv = pc->n_listeners;
	for (i = 0; i < pc->n_listeners; i++) {
		const struct policy_listener *l = &pc->listeners[i];

		if (l->mode != SNG_MODE_TERMINATE)
			continue;
		tp->srv[i] = tls_server_new(l, tp->keys);
		if (!tp->srv[i]) {
			err = errno;
			log_err("listener %s/%s/%s: cannot build its TLS context", l->gateway_ns,
				l->gateway_name, l->name);
			goto fail;
		}
		n_term++;
	}
	if (pc->n_backend_tls) {
		tp->btls = calloc(pc->n_backend_tls, sizeof(*tp->btls));
		tp->btls_host = calloc(pc->n_backend_tls, sizeof(*tp->btls_host));
		if (!tp->btls || !tp->btls_host)
			goto fail;
		tp->n_btls = pc->n_backend_tls;
		for (i = 0; i < pc->n_backend_tls; i++) {
			const struct policy_backend_tls *bt = &pc->backend_tls[i];

			tp->btls[i] = tls_client_ctx_new(bt);
			if (!tp->btls[i]) {
				err = errno;
				log_err("BackendTLSPolicy %s: cannot build its TLS client context",
					bt->policy);
				goto fail;
			}
			memcpy(tp->btls_host[i], bt->hostname, sizeof(tp->btls_host[i]));
		}
	}
	if (n_term && !tls_ktls_available())
		log_info("terminate: %zu listener(s), userspace copy (no kTLS)", n_term);
	else if (n_term)
		log_info("terminate: %zu listener(s); kTLS available: client legs to plaintext "
			 "backends move to kernel TLS after the handshake", n_term);
	return tp;
fail:
	term_policy_free(tp);
	errno = err;
	return NULL;
}

/* ---- connection ------------------------------------------------------------ */

static void conn_free_cb(struct worker *w, void *arg)
{
	struct term_conn *c = arg;

	agent_snapshot_release(c->snap);
	/* plaintext passed through here: wipe what was written (all of
	 * both buffers for a long connection, a few bytes for a short one) */
	OPENSSL_cleanse(c->up.d, c->up.hwm);
	OPENSSL_cleanse(c->down.d, c->down.hwm);
	free(c);
	memtrim_conn_freed(w);
}

static void side_close(struct term_conn *c, struct term_side *s, bool rst)
{
	/* No EPOLL_CTL_DEL: the fd is never duplicated or passed on, so
	 * close() drops its registration; a stale event of the current batch
	 * finds the connection TC_DEAD (freed only after the batch). */
	s->in_epoll = false;
	if (s->ssl) {
		SSL_free(s->ssl);
		s->ssl = NULL;
	}
	if (s->h.fd >= 0) {
		if (rst) {
			struct linger lg = { .l_onoff = 1, .l_linger = 0 };

			setsockopt(s->h.fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
		}
		close(s->h.fd);
		s->h.fd = -1;
	}
}

/* The metrics tallies (conn.c called metrics_conn_begin when it routed the
 * connection here) and the access-log line of a Terminate connection. */
static void ops_term_end(struct term_conn *c, int reason)
{
	struct accesslog_rec r = {
		.pc = c->snap ? c->snap->pc : NULL, .client = &c->client,
		.listener_id = c->d.listener_id, .route_id = c->d.route_id,
		.backend_id = c->d.backend_id, .sni = c->sni, .sni_len = c->sni_len,
		.alpn = c->alpn, .alpn_len = c->alpn_len,
		.endpoint = c->backend_up ? &c->bc.ep : NULL, .engine = SNG_ENGINE_USERSPACE,
		.mode = SNG_MODE_TERMINATE, .bytes_up = c->up_bytes, .bytes_down = c->down_bytes,
		.duration_ms = worker_now_ms() - c->start_ms, .reason = reason,
	};

	metrics_conn_end(&r, true);
	accesslog_write(&r);
}

/* End the connection. @rst: reset both sockets (a side reset or broke the
 * protocol) instead of a FIN. @reason: enum sng_reason for the log. The
 * memory is freed after the current event batch (another event of this
 * connection may still be queued in it). */
static void conn_end(struct term_conn *c, bool rst, int reason)
{
	if (c->st == TC_DEAD)
		return;
	log_dbg("terminate %s: closed (%s%d) after %llu bytes up, %llu down", c->peer,
		rst ? "reset, reason " : "reason ", reason, (unsigned long long)c->up_bytes,
		(unsigned long long)c->down_bytes);
	c->st = TC_DEAD;
	__atomic_sub_fetch(&term_open_count, 1, __ATOMIC_RELAXED);
	if (c->lprev)
		c->lprev->lnext = c->lnext;
	else if (term_list == c)
		term_list = c->lnext;
	if (c->lnext)
		c->lnext->lprev = c->lprev;
	c->lprev = c->lnext = NULL;
	/* conn.c counted the connection when it routed it; add the bytes and
	 * any failure reason to the listener and route counters */
	conn_count(c->d.listener_id, c->d.route_id, reason, reason != SNG_OK, 0, c->up_bytes,
		   c->down_bytes);
	ops_term_end(c, reason);
	worker_timer_cancel(c->w, &c->timer);
	backend_connect_cancel(c->w, &c->bc);
	side_close(c, &c->cli, rst);
	side_close(c, &c->be, rst);
	if (worker_post(c->w, conn_free_cb, c))
		log_err("terminate %s: cannot schedule free: leaking %zu bytes", c->peer,
			sizeof(*c));
}

/* Register @s once for everything, edge-triggered (so an fd we have no use
 * for at the moment cannot spin the loop with EPOLLHUP). 0 or -errno. */
#define TERM_EVENTS (EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET)
static int side_register(struct term_conn *c, struct term_side *s)
{
	int err;

	if (s->h.fd < 0 || s->in_epoll)
		return 0;
	err = worker_watch(c->w, &s->h, TERM_EVENTS);
	if (!err)
		s->in_epoll = true;
	return err;
}

/* Note the readiness an event reports: it unblocks what waits for it. */
static void side_event(struct term_side *s, uint32_t ev)
{
	if (ev & (EPOLLERR | EPOLLHUP)) {
		s->rblk = s->wblk = 0;
		s->rdhup = true;
		return;
	}
	if (ev & EPOLLRDHUP)
		s->rdhup = true;
	if (s->rblk & ev)
		s->rblk = 0;
	if (s->wblk & ev)
		s->wblk = 0;
}

/* Map an SSL_get_error() after an I/O call to our convention: sets *blk for
 * WANT_READ/WANT_WRITE and returns -EAGAIN, 0 for a clean close, -errno. */
static int ssl_result(struct term_side *s, int rc, uint32_t *blk, const char *what,
		      const struct term_conn *c)
{
	int e = SSL_get_error(s->ssl, rc);

	switch (e) {
	case SSL_ERROR_WANT_READ:
		*blk = EPOLLIN;
		return -EAGAIN;
	case SSL_ERROR_WANT_WRITE:
		*blk = EPOLLOUT;
		return -EAGAIN;
	case SSL_ERROR_ZERO_RETURN:
		return 0;
	case SSL_ERROR_SYSCALL:
		s->ssl_dead = true;
		if (errno == 0) /* EOF without close_notify, not ignored */
			return 0;
		return errno == EPIPE ? -ECONNRESET : -errno;
	default: {
		char ctx[160];

		s->ssl_dead = true;
		snprintf(ctx, sizeof(ctx), "terminate %s: %s", c->peer, what);
		log_openssl(LOG_DEBUG, ctx);
		return -EPROTO;
	}
	}
}

/* recv() on a kTLS socket: data records come back as plaintext; a
 * close_notify alert is the peer's EOF; any other control record (another
 * alert, a KeyUpdate) cannot be handled once the keys are in the kernel: the
 * connection is reset. >0 bytes, 0 (block or EOF), <0 -errno. */
static ssize_t ktls_recv(struct term_side *s, uint8_t *buf, size_t room)
{
	char cbuf[CMSG_SPACE(sizeof(unsigned char))];
	struct iovec iov = { .iov_base = buf, .iov_len = room };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf,
			    .msg_controllen = sizeof(cbuf) };
	struct cmsghdr *cm;
	ssize_t n;

	do
		n = recvmsg(s->h.fd, &m, 0);
	while (n < 0 && errno == EINTR);
	if (n < 0) {
		if (errno == EAGAIN) {
			s->rblk = EPOLLIN;
			return 0;
		}
		return -errno;
	}
	if (n == 0) {
		s->rd_eof = true;
		return 0;
	}
	cm = CMSG_FIRSTHDR(&m);
	if (cm && cm->cmsg_level == SOL_TLS && cm->cmsg_type == TLS_GET_RECORD_TYPE &&
	    *CMSG_DATA(cm) != 23 /* application_data */) {
		if (*CMSG_DATA(cm) == 21 && n >= 2 && buf[1] == 0 /* close_notify */) {
			s->rd_eof = true;
			return 0;
		}
		log_dbg("kTLS: control record type %u (%zd bytes): reset", *CMSG_DATA(cm), n);
		return -EPROTO;
	}
	return n;
}

/* close_notify through kTLS: an alert record, then our FIN. 1, 0 (blocked),
 * <0 -errno. */
static int ktls_close_notify(struct term_side *s)
{
	char cbuf[CMSG_SPACE(sizeof(unsigned char))];
	unsigned char alert[2] = { 1 /* warning */, 0 /* close_notify */ };
	struct iovec iov = { .iov_base = alert, .iov_len = sizeof(alert) };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf,
			    .msg_controllen = sizeof(cbuf) };
	struct cmsghdr *cm = CMSG_FIRSTHDR(&m);
	ssize_t n;

	cm->cmsg_level = SOL_TLS;
	cm->cmsg_type = TLS_SET_RECORD_TYPE;
	cm->cmsg_len = CMSG_LEN(sizeof(unsigned char));
	*CMSG_DATA(cm) = 21; /* alert */
	do
		n = sendmsg(s->h.fd, &m, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	if (n < 0 && errno == EAGAIN) {
		s->wblk = EPOLLOUT;
		return 0;
	}
	s->wr_shut = true;
	shutdown(s->h.fd, SHUT_WR);
	return 1;
}

/* Read into @b's free space. >0 bytes, 0 nothing (EOF sets rd_eof, block
 * sets rblk), <0 -errno. */
static ssize_t side_read(struct term_conn *c, struct term_side *s, struct term_buf *b)
{
	size_t room;
	ssize_t n;

	if (s->rblk || s->rd_eof || b->len == TERM_BUF)
		return 0;
	if (b->off + b->len == TERM_BUF) {
		memmove(b->d, b->d + b->off, b->len);
		b->off = 0;
	}
	room = TERM_BUF - b->off - b->len;
	if (s->ssl) {
		int rc;

		ERR_clear_error();
		rc = SSL_read(s->ssl, b->d + b->off + b->len, (int)room);
		if (rc > 0) {
			n = rc;
			/* more records already in OpenSSL's buffer (read
			 * ahead): take them without another recv(2) */
			while ((size_t)n < room && SSL_has_pending(s->ssl)) {
				rc = SSL_read(s->ssl, b->d + b->off + b->len + (size_t)n,
					      (int)(room - (size_t)n));
				if (rc <= 0) {
					/* none complete yet: the error waits
					 * for the next call */
					ERR_clear_error();
					break;
				}
				n += rc;
			}
		} else {
			n = ssl_result(s, rc, &s->rblk, "SSL_read", c);
			if (n == -EAGAIN)
				return 0;
			if (n == 0)
				s->rd_eof = true;
			return n;
		}
	} else if (s->ktls) {
		n = ktls_recv(s, b->d + b->off + b->len, room);
		if (n <= 0)
			return n;
	} else {
		do
			n = recv(s->h.fd, b->d + b->off + b->len, room, 0);
		while (n < 0 && errno == EINTR);
		if (n < 0) {
			if (errno == EAGAIN) {
				s->rblk = EPOLLIN;
				return 0;
			}
			return -errno;
		}
		if (n == 0) {
			s->rd_eof = true;
			return 0;
		}
		/* A short read drained the socket: the next segment raises a new
		 * edge, so skip the read that would only say EAGAIN. Not once the
		 * peer's FIN was signalled: that edge is already consumed and the
		 * EOF must still be read. */
		if ((size_t)n < room && !s->rdhup)
			s->rblk = EPOLLIN;
	}
	b->len += (size_t)n;
	if (b->off + b->len > b->hwm)
		b->hwm = b->off + b->len;
	return n;
}

/* Push what the buffering write BIO holds to the socket. 1 done, 0 blocked
 * (wflush and wblk set: the next EPOLLOUT edge resumes it), <0 -errno. */
static int wbuf_flush(struct term_side *s)
{
	if (BIO_flush(s->wbuf) > 0) {
		s->wflush = false;
		return 1;
	}
	s->wflush = true;
	if (BIO_should_retry(s->wbuf)) {
		s->wblk = EPOLLOUT;
		return 0;
	}
	return errno == EPIPE || !errno ? -ECONNRESET : -errno;
}

/* Write @b's data. >0 bytes, 0 nothing (block sets wblk), <0 -errno. */
static ssize_t side_write(struct term_conn *c, struct term_side *s, struct term_buf *b)
{
	ssize_t n;

	if (s->wblk)
		return 0;
	if (s->wflush) {
		int rc = wbuf_flush(s);

		if (rc <= 0)
			return rc;
	}
	if (!b->len)
		return 0;
	if (s->ssl) {
		int rc;

		ERR_clear_error();
		rc = SSL_write(s->ssl, b->d + b->off, (int)b->len);
		if (rc > 0) {
			n = rc;
			if (s->wbuf) {
				int f = wbuf_flush(s);

				if (f < 0)
					return f;
			}
		} else {
			n = ssl_result(s, rc, &s->wblk, "SSL_write", c);
			if (n == -EAGAIN)
				return 0;
			return n ? n : -ECONNRESET;
		}
	} else {
		do
			n = send(s->h.fd, b->d + b->off, b->len, MSG_NOSIGNAL);
		while (n < 0 && errno == EINTR);
		if (n < 0) {
			if (errno == EAGAIN) {
				s->wblk = EPOLLOUT;
				return 0;
			}
			return errno == EPIPE ? -ECONNRESET : -errno;
		}
		/* a short send filled the socket buffer: wait for its edge */
		if ((size_t)n < b->len)
			s->wblk = EPOLLOUT;
	}
	b->off += (size_t)n;
	b->len -= (size_t)n;
	if (!b->len)
		b->off = 0;
	return n;
}

/* Send our FIN (plain) or close_notify (TLS). 1 done, 0 blocked, <0 -errno. */
static int side_shut(struct term_conn *c, struct term_side *s)
{
	int rc;

	if (s->wr_shut)
		return 1;
	if (s->wblk)
		return 0;
	if (s->ktls)
		return ktls_close_notify(s);
	if (s->wflush && !s->ssl_dead) {
		rc = wbuf_flush(s);
		if (rc <= 0)
			return rc;
	}
	if (s->shut_sent) {
		s->wr_shut = true; /* and now flushed */
		return 1;
	}
	if (!s->ssl || s->ssl_dead) {
		if (shutdown(s->h.fd, SHUT_WR) && errno != ENOTCONN)
			return -errno;
		s->wr_shut = true;
		return 1;
	}
	ERR_clear_error();
	rc = SSL_shutdown(s->ssl);
	if (rc >= 0) {
		/* the alert may sit in the buffering BIO: out before the
		 * connection may end on wr_shut */
		s->shut_sent = true;
		if (s->wbuf) {
			rc = wbuf_flush(s);
			if (rc <= 0)
				return rc;
		}
		s->wr_shut = true;
		return 1;
	}
	rc = ssl_result(s, rc, &s->wblk, "SSL_shutdown", c);
	if (rc == -EAGAIN)
		return 0;
	/* the alert could not go out: the peer is gone or broken; a FIN */
	s->wr_shut = true;
	shutdown(s->h.fd, SHUT_WR);
	return 1;
}

static void pump(struct term_conn *c);

static void pump_again(struct worker *w, void *arg)
{
	struct term_conn *c = arg;

	c->pump_posted = false;
	if (c->st == TC_PROXY)
		pump(c);
}

/* Move bytes both ways until nothing progresses, then re-arm interest.
 * After PUMP_BUDGET bytes the rest is posted to run after the other ready
 * connections of this worker (fairness); epoll alone could not resume it
 * because OpenSSL may hold decrypted bytes the socket no longer signals. */
static void pump(struct term_conn *c)
{
	uint64_t moved = 0;
	bool progress;
	ssize_t n;
	int rc;

	do {
		progress = false;
		n = side_read(c, &c->cli, &c->up);
		if (n < 0)
			goto reset;
		progress |= n > 0;
		n = side_write(c, &c->be, &c->up);
		if (n < 0)
			goto reset;
		c->up_bytes += (uint64_t)(n > 0 ? n : 0);
		moved += (uint64_t)(n > 0 ? n : 0);
		progress |= n > 0;
		n = side_read(c, &c->be, &c->down);
		if (n < 0)
			goto reset;
		progress |= n > 0;
		n = side_write(c, &c->cli, &c->down);
		if (n < 0)
			goto reset;
		c->down_bytes += (uint64_t)(n > 0 ? n : 0);
		moved += (uint64_t)(n > 0 ? n : 0);
		progress |= n > 0;
		if (c->cli.rd_eof && !c->up.len && !c->be.wr_shut) {
			rc = side_shut(c, &c->be);
			if (rc < 0) {
				n = rc;
				goto reset;
			}
		}
		if (c->be.rd_eof && !c->down.len && !c->cli.wr_shut) {
			rc = side_shut(c, &c->cli);
			if (rc < 0) {
				n = rc;
				goto reset;
			}
		}
		if (progress && moved >= PUMP_BUDGET && !c->pump_posted &&
		    worker_post(c->w, pump_again, c) == 0) {
			c->pump_posted = true;
			return;
		}
	} while (progress);

	if (c->cli.rd_eof && c->be.rd_eof && c->cli.wr_shut && c->be.wr_shut)
		conn_end(c, false, SNG_OK);
	/* else both fds stay registered: their next edge resumes us */
	return;
reset:
	log_dbg("terminate %s: %s", c->peer, strerror((int)-n));
	conn_end(c, true, SNG_R_RESET);
}

static void step_handshake(struct term_conn *c);
static void step_backend_handshake(struct term_conn *c);

static void on_client(struct worker *w, struct ev_handler *h, uint32_t events)
{
	struct term_conn *c = container_of(container_of(h, struct term_side, h),
					   struct term_conn, cli);

	if (c->st == TC_DEAD)
		return;
	side_event(&c->cli, events);
	switch (c->st) {
	case TC_HANDSHAKE:
		if (!c->cli.rblk) /* not an edge the handshake waits for */
			step_handshake(c);
		break;
	case TC_PROXY:
		c->last_ms = worker_now_ms();
		pump(c);
		break;
	case TC_CONNECT:
	case TC_BACKEND_HS:
	case TC_DEAD:
		/* the readiness is noted; enter_proxy() tries both ways anyway */
		break;
	}
}

static void on_backend(struct worker *w, struct ev_handler *h, uint32_t events)
{
	struct term_conn *c = container_of(container_of(h, struct term_side, h),
					   struct term_conn, be);

	if (c->st == TC_DEAD)
		return;
	side_event(&c->be, events);
	switch (c->st) {
	case TC_BACKEND_HS:
		if (!c->be.rblk)
			step_backend_handshake(c);
		break;
	case TC_PROXY:
		c->last_ms = worker_now_ms();
		pump(c);
		break;
	default:
		break;
	}
}

static void on_timer(struct worker *w, struct ev_timer *t)
{
	struct term_conn *c = container_of(t, struct term_conn, timer);
	uint64_t now = worker_now_ms(), idle = agent_opts.idle_timeout_ms;

	switch (c->st) {
	case TC_HANDSHAKE:
	case TC_BACKEND_HS:
		log_dbg("terminate %s: %s handshake deadline passed", c->peer,
			c->st == TC_HANDSHAKE ? "client" : "backend");
		conn_end(c, false, c->st == TC_HANDSHAKE ? SNG_R_HANDSHAKE_FAIL :
			 SNG_R_CONNECT_FAIL);
		break;
	case TC_PROXY:
		/* activity only stamps last_ms; the timer re-arms itself for the
		 * remainder, so the hot path never touches the heap */
		if (idle && now - c->last_ms < idle) {
			worker_timer_set(w, &c->timer, idle - (now - c->last_ms));
			break;
		}
		log_dbg("terminate %s: idle for %llu ms", c->peer,
			(unsigned long long)(now - c->last_ms));
		conn_end(c, false, SNG_R_IDLE_TIMEOUT);
		break;
	default:
		break;
	}
}

static void enter_proxy(struct term_conn *c)
{
	/* what the handshakes waited for is no longer known: try each way once */
	c->cli.rblk = c->cli.wblk = c->be.rblk = c->be.wblk = 0;
	c->st = TC_PROXY;
	c->last_ms = worker_now_ms();
	if (agent_opts.idle_timeout_ms)
		worker_timer_set(c->w, &c->timer, agent_opts.idle_timeout_ms);
	else
		worker_timer_cancel(c->w, &c->timer);
	pump(c);
}

static void step_backend_handshake(struct term_conn *c)
{
	uint32_t blk = 0;
	int rc;

	ERR_clear_error();
	rc = SSL_do_handshake(c->be.ssl);
	if (rc == 1) {
		log_dbg("terminate %s: backend TLS %s %s", c->peer, SSL_get_version(c->be.ssl),
			SSL_get_cipher_name(c->be.ssl));
		enter_proxy(c);
		return;
	}
	rc = ssl_result(&c->be, rc, &blk, "backend handshake", c);
	if (rc == -EAGAIN) {
		c->be.rblk = blk; /* the edge that resumes the handshake */
		return;
	}
	log_warn("terminate %s: backend TLS handshake failed (verify: %s)", c->peer,
		 X509_verify_cert_error_string(SSL_get_verify_result(c->be.ssl)));
	/* the client got no application data: a plain close */
	conn_end(c, false, SNG_R_CONNECT_FAIL);
}

/* Hand the client leg to kernel TLS when the kernel has it (plaintext
 * backend only; nothing was read from the client since the handshake, so
 * OpenSSL holds no record the kernel would miss). Returns true if the
 * connection had to be aborted. */
static bool try_ktls(struct term_conn *c)
{
	static int announced;
	int rc;

	if (!tls_ktls_available())
		return false;
	rc = tls_ktls_enable(c->cli.ssl, c->cli.h.fd);
	if (rc == -EOPNOTSUPP) {
		log_dbg("terminate %s: kTLS not applicable (%s %s): userspace copy", c->peer,
			SSL_get_version(c->cli.ssl), SSL_get_cipher_name(c->cli.ssl));
		/* no hand-off to wait for any more: read whole socket chunks */
		SSL_set_read_ahead(c->cli.ssl, 1);
		SSL_set_default_read_buffer_len(c->cli.ssl, TERM_WBUF);
		return false;
	}
	if (rc) {
		log_warn("terminate %s: enabling kTLS failed half way: %s", c->peer,
			 strerror(-rc));
		conn_end(c, true, SNG_R_RESET);
		return true;
	}
	if (!__atomic_exchange_n(&announced, 1, __ATOMIC_RELAXED))
		log_info("kTLS: terminated connections now use kernel TLS (first: %s %s)",
			 SSL_get_version(c->cli.ssl), SSL_get_cipher_name(c->cli.ssl));
	log_dbg("terminate %s: kTLS on (%s %s)", c->peer, SSL_get_version(c->cli.ssl),
		SSL_get_cipher_name(c->cli.ssl));
	SSL_free(c->cli.ssl); /* the socket BIO does not own the fd */
	c->cli.ssl = NULL;
	c->cli.ktls = true;
	return false;
}

static void backend_done(struct worker *w, struct backend_conn *bc, int fd, int err)
{
	struct term_conn *c = container_of(bc, struct term_conn, bc);
	struct term_policy *tp = c->snap->term;
	uint32_t tls_id;

	if (c->st == TC_DEAD) {
		if (fd >= 0)
			close(fd);
		return;
	}
	if (fd < 0) {
		log_dbg("terminate %s: no backend endpoint reachable: %s", c->peer,
			strerror(-err));
		conn_end(c, false, SNG_R_CONNECT_FAIL);
		return;
	}
	c->be.h.fd = fd;
	c->be.h.fn = on_backend;
	c->backend_up = true;
	if (bc->watched) {
		/* still in epoll from the connect wait: re-point it */
		err = worker_modify(c->w, &c->be.h, TERM_EVENTS);
		c->be.in_epoll = !err;
	} else {
		err = side_register(c, &c->be);
	}
	if (err) {
		log_warn("terminate %s: epoll: %s", c->peer, strerror(-err));
		conn_end(c, true, SNG_R_CONNECT_FAIL);
		return;
	}
	if (!(c->d.backend.flags & SNG_BF_BACKEND_TLS)) {
		if (try_ktls(c))
			return;
		enter_proxy(c);
		return;
	}
	tls_id = c->d.backend.tls_id;
	if (tls_id >= tp->n_btls || !tp->btls[tls_id]) {
		log_warn("terminate %s: backend TLS policy %u unknown", c->peer, tls_id);
		conn_end(c, false, SNG_R_INVALID_BACKEND);
		return;
	}
	c->be.ssl = tls_client_ssl_new(tp->btls[tls_id], tp->btls_host[tls_id]);
	if (!c->be.ssl || !SSL_set_fd(c->be.ssl, fd)) {
		conn_end(c, false, SNG_R_CONNECT_FAIL);
		return;
	}
	c->st = TC_BACKEND_HS;
	worker_timer_set(w, &c->timer, agent_opts.handshake_timeout_ms ?
			 agent_opts.handshake_timeout_ms : 10000);
	step_backend_handshake(c);
}

static uint32_t conn_rand(void)
{
	static __thread uint64_t x;

	if (!x)
		x = worker_now_ms() * 0x9E3779B97F4A7C15ull ^ (uint64_t)(uintptr_t)&x;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return (uint32_t)(x >> 16);
}

static void start_backend(struct term_conn *c)
{
	int err;

	c->st = TC_CONNECT;
	worker_timer_cancel(c->w, &c->timer);
	err = backend_connect_start(c->w, &c->bc, &c->d.backend, conn_rand(),
				    agent_opts.connect_timeout_ms ? agent_opts.connect_timeout_ms : 3000,
				    agent_opts.connect_attempts ? agent_opts.connect_attempts : 3,
				    backend_done);
	if (err) {
		log_dbg("terminate %s: backend connect: %s", c->peer, strerror(-err));
		conn_end(c, false, err == -ENOENT ? SNG_R_NO_ENDPOINT : SNG_R_CONNECT_FAIL);
	}
}

static void step_handshake(struct term_conn *c)
{
	uint32_t blk = 0;
	int rc;

	ERR_clear_error();
	rc = SSL_do_handshake(c->cli.ssl);
	if (rc == 1) {
		log_dbg("terminate %s: client TLS %s %s%s", c->peer, SSL_get_version(c->cli.ssl),
			SSL_get_cipher_name(c->cli.ssl),
			SSL_session_reused(c->cli.ssl) ? " (resumed)" : "");
		start_backend(c);
		return;
	}
	rc = ssl_result(&c->cli, rc, &blk, "handshake", c);
	if (rc == -EAGAIN) {
		c->cli.rblk = blk; /* the edge that resumes the handshake */
		return;
	}
	log_dbg("terminate %s: TLS handshake failed (%s)", c->peer,
		rc ? strerror(-rc) : "peer closed");
	conn_end(c, false, rc == -ECONNRESET ? SNG_R_RESET : SNG_R_HANDSHAKE_FAIL);
}

/* The client leg's SSL writes through a buffering BIO on its socket BIO
 * (see TERM_BUF); reads stay on the socket BIO (the peeked hello). With
 * read-ahead, OpenSSL's read buffer takes TERM_BUF of records per recv(2).
 * 0 or -ENOMEM. */
static int term_wbio_push(struct term_side *s)
{
	BIO *sock = SSL_get_wbio(s->ssl), *buf = BIO_new(BIO_f_buffer());

	if (!buf || !sock || !BIO_set_write_buffer_size(buf, TERM_WBUF) || !BIO_up_ref(sock)) {
		BIO_free(buf);
		return -ENOMEM;
	}
	/* the chain holds its own reference to the socket BIO; set0 drops
	 * the SSL's wbio reference to it (the rbio keeps the other) */
	BIO_push(buf, sock);
	SSL_set0_wbio(s->ssl, buf);
	s->wbuf = buf;
	if (SSL_get_read_ahead(s->ssl))
		SSL_set_default_read_buffer_len(s->ssl, TERM_WBUF);
	return 0;
}

static void format_peer(char *out, size_t len, const struct sockaddr_storage *ss)
{
	char a[INET6_ADDRSTRLEN] = "?";
	unsigned port = 0;

	if (ss && ss->ss_family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)ss;

		inet_ntop(AF_INET, &sin->sin_addr, a, sizeof(a));
		port = ntohs(sin->sin_port);
	} else if (ss && ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)ss;

		inet_ntop(AF_INET6, &sin6->sin6_addr, a, sizeof(a));
		port = ntohs(sin6->sin6_port);
	}
	snprintf(out, len, "%s:%u", a, port);
}

int term_conn_start(struct worker *w, int client_fd, const struct hello_info *hi,
		    const struct route_decision *d, struct agent_snapshot *snap,
		    const struct sockaddr_storage *client_addr)
{
	struct term_policy *tp = snap ? snap->term : NULL;
	struct tls_server *srv = NULL;
	struct term_conn *c;
	int err;

	if (tp && d && d->listener_id < tp->n_srv)
		srv = tp->srv[d->listener_id];
	if (!srv) {
		log_warn("terminate: listener %u has no TLS context", d ? d->listener_id : 0);
		close(client_fd);
		agent_snapshot_release(snap);
		return -ENOENT;
	}
	/* 97 KiB, nearly all of it the two buffers: zero only the header
	 * (a calloc would clear, and the end wipe again, 96 KiB per handshake) */
	c = malloc(sizeof(*c));
	if (c) {
		memset(c, 0, offsetof(struct term_conn, up));
		c->up.off = c->up.len = c->up.hwm = 0;
		c->down.off = c->down.len = c->down.hwm = 0;
	}
	if (!c) {
		close(client_fd);
		agent_snapshot_release(snap);
		return -ENOMEM;
	}
	__atomic_add_fetch(&term_open_count, 1, __ATOMIC_RELAXED);
	c->lnext = term_list;
	if (term_list)
		term_list->lprev = c;
	term_list = c;
	c->w = w;
	c->snap = snap;
	c->d = *d;
	c->st = TC_HANDSHAKE;
	c->timer.fn = on_timer;
	c->bc.h.fd = -1;
	c->cli.h.fd = client_fd;
	c->cli.h.fn = on_client;
	c->be.h.fd = -1;
	format_peer(c->peer, sizeof(c->peer), client_addr);
	if (client_addr)
		c->client = *client_addr;
	c->start_ms = worker_now_ms();
	if (hi) {
		c->sni_len = (uint8_t)hi->sni_len;
		memcpy(c->sni, hi->sni, hi->sni_len);
		c->alpn_len = (uint16_t)hi->alpn_len;
		memcpy(c->alpn, hi->alpn, hi->alpn_len);
	}
	/* the SSL reads the (peeked, not consumed) ClientHello from the fd */
	c->cli.ssl = tls_server_ssl_new(srv);
	if (!c->cli.ssl || !SSL_set_fd(c->cli.ssl, client_fd) || term_wbio_push(&c->cli)) {
		conn_end(c, false, SNG_R_HANDSHAKE_FAIL);
		return -ENOMEM;
	}
	worker_timer_set(w, &c->timer, agent_opts.handshake_timeout_ms ?
			 agent_opts.handshake_timeout_ms : 10000);
	step_handshake(c);
	/* Registered after the first step, which read the queued hello: the
	 * edge-triggered ADD then reports only what arrived since, and the
	 * first wake-up is not a read that finds nothing. */
	if (c->st == TC_DEAD)
		return 0;
	err = side_register(c, &c->cli);
	if (err) {
		log_warn("terminate %s: epoll: %s", c->peer, strerror(-err));
		conn_end(c, false, SNG_R_HANDSHAKE_FAIL);
	}
	return err;
}

void term_close_all(struct worker *w)
{
	while (term_list)
		conn_end(term_list, false, SNG_R_CLIENT_CLOSED);
}
