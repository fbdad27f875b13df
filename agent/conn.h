/* SPDX-License-Identifier: GPL-2.0-only */
/* A passthrough connection from accept to close: ClientHello peek, routing,
 * backend connect, then one of the two engines (sockmap or userspace). */
#ifndef SNIGATE_CONN_H
#define SNIGATE_CONN_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "agent.h"
#include "backend.h"
#include "lookup.h"
#include "worker.h"

struct loader;

enum conn_state {
	CONN_HELLO = 1,   /* peeking the ClientHello */
	CONN_CONNECT,     /* backend connect in flight */
	CONN_RUN,         /* spliced (sockmap) or copied (userspace) */
	CONN_DEAD,        /* closed, waiting for the deferred free */
};

/* One socket of a connection and the direction that starts from it. */
struct conn_side {
	struct ev_handler h;     /* h.fd: the socket; -1 once closed */
	struct conn *c;
	unsigned idx;            /* 0 client, 1 backend */
	uint32_t interest;       /* epoll events currently asked for */
	bool watched;            /* h.fd is in c->w's epoll (to any handler) */
	uint64_t cookie;         /* SO_COOKIE (sockmap engine) */
	/* direction this side -> other side */
	uint8_t *buf;            /* bounded copy buffer (userspace path) */
	size_t cap, off, len;
	struct pipe_buf *pipe;   /* splice mode: len bytes wait in this pipe
				  * instead of buf (never both) */
	bool eof;                /* read side reached FIN */
	bool fwd_fin;            /* FIN forwarded (shutdown(other, SHUT_WR)) */
	bool want_out;           /* the other side's pump waits for EPOLLOUT here */
	bool readable;           /* copy engine: bytes (or the EOF) may be queued
				  * to read; cleared by EAGAIN or a short read,
				  * set by the next EPOLLIN/RDHUP edge */
	/* sockmap engine */
	bool rdhup;              /* EPOLLRDHUP seen (both engines) */
	bool passing;            /* the verdict passes: the agent forwards */
	bool ordered;            /* psock queue drained since passing began */
	bool clamped;            /* SO_RCVBUF capped at the first pause */
	unsigned pauses, resumes, resume_tries; /* sockmap flow control */
	uint64_t consumed;       /* passed bytes read here and written to the other */
	uint64_t copied;         /* bytes the agent moved in this direction */
	uint64_t last_cnt;       /* redirected + passed at the last idle check */
	uint64_t entered0;       /* sm_tcp_entered() of this socket at splice
				  * start: a connect()ed socket's bytes_acked
				  * counts its SYN (1), an accepted one's not */
	struct conn_side *hnext; /* cookie table chain */
	uint64_t redirected;     /* sng_cnt.redirected, valid once red_final:
				  * set by the EOF check (no byte can be
				  * redirected after the FIN) or at close */
	bool red_final;
};

struct conn {
	struct worker *w;
	enum conn_state state;
	int engine;                  /* enum sng_engine actually used */
	uint16_t bind_id;
	struct conn_side s[2];
	struct ev_timer timer;       /* hello deadline, then idle timeout */
	struct ev_timer poll;        /* sockmap: drain / ordering waits */
	unsigned poll_ms;
	unsigned poll_spins;         /* sockmap: zero-delay re-checks so far */
	struct backend_conn bc;
	struct route_decision d;
	struct agent_snapshot *snap;
	struct sockaddr_storage peer;
	uint64_t start_ms;
	uint64_t idle_mark_ms;       /* idle timer: when bytes last moved, as
				      * far as its checks could tell */
	bool counted;                /* outcome already counted */
	bool open_count;             /* routed, its connection count (conns +
				      * SNG_OK) not made yet: made by the verdict
				      * (SNG_CTL_COUNT) or by conn_count_open() */
	/* ops (metrics gauges, access log) */
	bool begun;                  /* metrics_conn_begin called */
	bool handed_off;             /* Terminate: terminate.c logs the end */
	uint8_t sni_len;             /* ClientHello SNI and ALPN offered */
	uint16_t alpn_len;
	char sni[SNG_HOSTNAME_MAX + 1];
	uint8_t alpn[256];
	struct conn *lprev, *lnext;  /* the worker's open connections */
};

/* Run-time settings the connections use, set by cmd_run before workers. */
struct conn_config {
	int engine;                  /* resolved default: SOCKMAP or USERSPACE */
	bool sockmap_ok;             /* listeners may ask for sockmap */
	struct loader *loader;       /* counters (sng_count), events */
};
extern struct conn_config conn_cfg;

/* Take over an accepted client socket @fd (non-blocking) on @w for bind
 * @bind_id. Ownership of @fd passes in every case. */
void conn_accept(struct worker *w, int fd, uint16_t bind_id,
		 const struct sockaddr_storage *peer);

/* Close both sockets, remove map entries, count @reason, free later.
 * @rst: abort (SO_LINGER {1,0}) the sockets still open. */
void conn_close(struct conn *c, int reason, bool rst);

/* Close every open connection of the calling worker thread (on stop), so
 * no map entry outlives the agent. */
void conn_close_all(struct worker *w);

/* Add agent-side counts through sng_count (no-op without the program). */
void conn_count(uint32_t lid, uint32_t rid, int reason, bool add_reason,
		uint64_t conns, uint64_t up, uint64_t down);

/* Connections open in the whole agent. */
extern long conn_open_count;

/* ---- engines (engine_sockmap.c, engine_copy.c) --------------------------- */

/* Start splicing c->s[0] (client) and c->s[1] (backend) in the kernel.
 * Returns 0 or -errno (the caller then falls back to the copy engine:
 * nothing was inserted). */
int sockmap_start(struct conn *c);
/* Per-event handler of a spliced socket. */
void sockmap_on_event(struct worker *w, struct ev_handler *h, uint32_t events);
/* A verdict event (struct sng_event) for @cookie, on the worker thread. */
void sockmap_on_bpf_event(struct worker *w, uint64_t cookie, uint32_t type, uint64_t lag);
/* Idle check: true if bytes moved since the last call. */
bool sockmap_active(struct conn *c);
/* Remove c's map entries (after the sockets are closed). */
void sockmap_forget(struct conn *c);

/* Start (or, for a connection taken over, resume) the userspace copy
 * engine on both sides: each is registered or re-pointed (conn_side_watch),
 * then what is queued or buffered moves. 0 or -errno. */
int copy_start(struct conn *c);
void copy_on_event(struct worker *w, struct ev_handler *h, uint32_t events);
/* Checks the sockmap engine's straggler path adds to copy_pump(). */
struct pump_hooks {
	/* May direction i write (or forward its FIN) now? false: wait (the
	 * hook arms its own wake-up). */
	bool (*gate)(struct conn *c, unsigned i);
	/* recv() said 0: is it the end of the stream, or are passed bytes
	 * still on their way to the socket's queue (then false: retry)? */
	bool (*eof_ok)(struct conn *c, unsigned i);
};

/* Move bytes c->s[i] -> c->s[!i] until blocked. Returns 0, 1 when the
 * direction finished (FIN forwarded), or -errno on a socket error. Used by
 * the copy engine (@hooks NULL) and by the sockmap engine's straggler path. */
int copy_pump(struct conn *c, unsigned i, const struct pump_hooks *hooks);
/* Give side @s's buffer back to the worker's list if it holds no byte. */
void pump_buf_release(struct conn_side *s);
/* Set the epoll interest of side @i to @ev (only if it changed). */
void conn_set_interest(struct conn *c, unsigned i, uint32_t ev);
/* Register side @i's fd in the worker's epoll for @ev (EPOLL_CTL_MOD when
 * it is registered already, to another handler or for other events, else
 * ADD) and note it (watched, interest). 0 or -errno. */
int conn_side_watch(struct conn *c, unsigned i, uint32_t ev);

/* ---- hand-over to a new agent (agent/takeover.c) --------------------------
 * A frozen connection is out of its worker's loop (not watched, no timer,
 * not in the cookie table nor in the worker's list) with its sockets, map
 * entries and buffered bytes untouched: nothing reads or writes it. */

/* Freeze every open connection of the calling worker thread. A connection
 * whose backend connect was in flight goes back to the ClientHello state
 * (the hello is only peeked: it is routed again). *out: malloc'd array of
 * *n connections (NULL when none). 0 or -ENOMEM (then nothing frozen). */
int conn_freeze_all(struct worker *w, struct conn ***out, size_t *n);
/* Give a frozen connection back to its worker (on that worker's thread)
 * and resume it: used when a hand-over is abandoned. */
void conn_thaw(struct conn *c);
/* A frozen connection was handed over: close this process's fds (the
 * sockets live on in the new agent), free it. Map entries, counters and
 * the access log are the new agent's. Any thread. */
void conn_release(struct conn *c);
/* A blank connection of worker @w (on its thread) for takeover.c to fill
 * from a received record, then conn_resume(). NULL on ENOMEM. */
struct conn *conn_adopt(struct worker *w);
/* Start a frozen or adopted connection in its state: CONN_HELLO peeks the
 * hello again (deadline: what is left of --hello-timeout), CONN_RUN runs
 * its engine (sockmap: resynchronised with the verdict's counters, since
 * events of the hand-over window went to the old agent). On failure the
 * connection is closed (reset). */
void conn_resume(struct conn *c);
/* Re-check every spliced connection of the calling worker for verdict
 * events consumed by another agent (see sockmap_resync()). */
void conn_resync_all(struct worker *w);

/* sockmap engine side of the above (engine_sockmap.c) */
void sockmap_freeze(struct conn *c);
/* Watch both sides again, resync and step. 0 or -errno. */
int sockmap_resume(struct conn *c);
/* While @shared, the verdict's events may go to another agent (a takeover's
 * old agent, until it exits): the ordering gate trusts no cached state. */
void sockmap_set_events_shared(bool shared);
/* A direction whose verdict passed bytes the agent has not consumed while
 * it believes the splice runs missed its event: start forwarding. */
void sockmap_resync(struct conn *c);
/* SIGUSR1: log every connection of this worker with its engine state
 * (conn_log_all), the sockmap engine's side of it (sockmap_describe). */
void conn_log_all(struct worker *w);
void sockmap_describe(struct conn *c, unsigned i, char *buf, size_t len);

#endif
