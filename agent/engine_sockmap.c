// SPDX-License-Identifier: GPL-2.0-only
/* sockmap engine: ctl entries, insert backend then client, kick both; then
 * stragglers, flow-control pauses, drained half-close and resets. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <linux/tcp.h> /* struct tcp_info with tcpi_bytes_acked */
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <bpf/bpf.h>

#include "bufpool.h"
#include "engine_copy.h"
#include "engine_sockmap.h"
#include "log.h"

#define SM_BASE_EVENTS (EPOLLRDHUP | EPOLLET)
#define SM_BUCKETS 4096
/* Smallest receive buffer of a paused socket, in segments (see the clamp
 * in sockmap_on_bpf_event). */
#define SM_RCVBUF_MSS 4
/* Zero-delay re-checks of a drain wait before the millisecond timer. */
#define SM_POLL_SPINS 16

/* Cookie -> side of this worker's spliced connections (verdict events
 * name a socket by cookie). Worker-local: no locking. */
static __thread struct conn_side *sm_table[SM_BUCKETS];

static unsigned sm_bucket(uint64_t cookie)
{
	return (unsigned)((cookie * 0x9E3779B97F4A7C15ull) >> 52) & (SM_BUCKETS - 1);
}

static void sm_register(struct conn_side *s)
{
	unsigned b = sm_bucket(s->cookie);

	s->hnext = sm_table[b];
	sm_table[b] = s;
}

static void sm_unregister(struct conn_side *s)
{
	struct conn_side **pp = &sm_table[sm_bucket(s->cookie)];

	for (; *pp; pp = &(*pp)->hnext)
		if (*pp == s) {
			*pp = s->hnext;
			break;
		}
	s->hnext = NULL;
}

static struct conn_side *sm_find(uint64_t cookie)
{
	struct conn_side *s = sm_table[sm_bucket(cookie)];

	while (s && s->cookie != cookie)
		s = s->hnext;
	return s;
}

/* Side i's ctl entry: @ctl_flags (enum sng_ctl_flags; CLIENT and COUNT are
 * added for side 0) with the current consumed count. */
static struct sng_ctl sm_ctl_of(const struct conn *c, unsigned i, __u32 ctl_flags)
{
	struct sng_ctl ctl;

	memset(&ctl, 0, sizeof(ctl));
	ctl.peer = c->s[!i].cookie;
	ctl.consumed = c->s[i].consumed;
	ctl.flags = ctl_flags | (i == 0 ? SNG_CTL_CLIENT | SNG_CTL_COUNT : 0);
	ctl.listener_id = c->d.listener_id;
	ctl.route_id = c->d.route_id;
	return ctl;
}

/* Write side i's ctl entry (sm_ctl_of); @map_flags BPF_ANY, BPF_NOEXIST or
 * BPF_EXIST. */
static int sm_write_ctl(struct conn *c, unsigned i, __u32 ctl_flags, __u64 map_flags)
{
	struct sng_ctl ctl = sm_ctl_of(c, i, ctl_flags);

	return bpf_map_update_elem(agent_maps.ctl, &c->s[i].cookie, &ctl, map_flags) ? -errno : 0;
}

static void sm_interest(struct conn *c)
{
	unsigned k;

	for (k = 0; k < 2; k++) {
		uint32_t ev = SM_BASE_EVENTS;

		if (c->s[k].passing && !c->s[k].eof)
			ev |= EPOLLIN;
		if (c->s[k].want_out)
			ev |= EPOLLOUT;
		conn_set_interest(c, k, ev);
	}
}

/* TCP_INFO of @fd into @ti (zeroed first: older kernels fill less).
 * Returns the length filled, or -errno. */
static int sm_tcp_info(int fd, struct tcp_info *ti)
{
	socklen_t l = sizeof(*ti);

	memset(ti, 0, sizeof(*ti));
	return getsockopt(fd, IPPROTO_TCP, TCP_INFO, ti, &l) ? -errno : (int)l;
}

/* Bytes that entered @fd's TCP write queue so far (acked + still queued).
 * The queued part is SIOCOUTQ (write_seq - snd_una); with no segment in
 * flight (tcpi_unacked, i.e. packets_out, is 0) snd_una == snd_nxt and it
 * equals tcpi_notsent_bytes (write_seq - snd_nxt), so the ioctl is only
 * needed while segments are unacknowledged. */
static int sm_tcp_entered(int fd, uint64_t *entered, uint64_t *acked)
{
	struct tcp_info ti;
	int outq = 0, l = sm_tcp_info(fd, &ti);

	if (l < 0)
		return l;
	if ((size_t)l < offsetof(struct tcp_info, tcpi_notsent_bytes) + sizeof(ti.tcpi_notsent_bytes) ||
	    ti.tcpi_unacked)
		outq = -1;
	else
		outq = (int)ti.tcpi_notsent_bytes;
	if (outq < 0 && ioctl(fd, SIOCOUTQ, &outq))
		return -errno;
	*acked = ti.tcpi_bytes_acked;
	*entered = ti.tcpi_bytes_acked + (uint64_t)(outq > 0 ? outq : 0);
	return 0;
}

static void sm_arm_poll(struct conn *c)
{
	if (c->poll.deadline_ms)
		return;
	/* The wait is for the psock kworker (on the other CPU, usually
	 * within microseconds): re-check at once a few times before the
	 * millisecond timer, whose first tick cost every close about 1 ms
	 * (drained FIN forwarding: serial conn/s 0.6x the copy engine). */
	if (c->poll_spins < SM_POLL_SPINS) {
		c->poll_spins++;
		worker_timer_set(c->w, &c->poll, 0);
		return;
	}
	worker_timer_set(c->w, &c->poll, c->poll_ms);
	c->poll_ms = c->poll_ms * 2 > SOCKMAP_POLL_MAX_MS ? SOCKMAP_POLL_MAX_MS : c->poll_ms * 2;
}

/* The agent may write direction i's bytes (or its FIN) to the other side
 * only once every byte redirected before has left the other side's psock
 * queue, else it would overtake them (facts 4.3). Its own writes need no
 * budget check: they go straight into the other side's write queue, which
 * its sndbuf bounds (EAGAIN, then EPOLLOUT). */
/* Set while another agent may consume this agent's verdict events (after a
 * takeover, until the old agent exits): a lost "redirected again" event
 * would leave `ordered` stale, so the gate then re-checks every write. */
static bool sm_events_shared;

void sockmap_set_events_shared(bool shared)
{
	__atomic_store_n(&sm_events_shared, shared, __ATOMIC_RELEASE);
}

static bool sm_gate(struct conn *c, unsigned i)
{
	struct conn_side *src = &c->s[i], *dst = &c->s[!i];
	struct sng_cnt cnt;
	uint64_t entered = 0, acked = 0, pushed;

	if (src->ordered && !__atomic_load_n(&sm_events_shared, __ATOMIC_ACQUIRE))
		return true;
	if (src->red_final) {
		/* after the FIN: sm_eof_ok read the count, which cannot grow */
		cnt.redirected = src->redirected;
	} else if (bpf_map_lookup_elem(agent_maps.cnt, &src->cookie, &cnt)) {
		return true; /* cannot tell: the peer is gone, the write will say */
	}
	if (!cnt.redirected) {
		/* Nothing was redirected (yet): only the agent's own writes,
		 * which went straight into the peer's write queue, are ahead
		 * of this one. A redirect after the lookup is the verdict's
		 * race with any check, handled by the events as before. */
		src->ordered = true;
		c->poll_ms = 1;
		c->poll_spins = 0;
		return true;
	}
	if (sm_tcp_entered(dst->h.fd, &entered, &acked))
		return true;
	pushed = cnt.redirected + src->consumed;
	/* measured: without the start offset the gate of the client ->
	 * backend direction opened with one redirected byte still queued */
	entered = entered > dst->entered0 ? entered - dst->entered0 : 0;
	if (entered < pushed) {
		sm_arm_poll(c);
		return false;
	}
	src->ordered = true;
	c->poll_ms = 1;
	c->poll_spins = 0;
	return true;
}

static void sm_step(struct conn *c);

/* recv() returned 0 on a spliced socket: that is the FIN only once every
 * byte the verdict passed has been read. Bytes passed while the socket's
 * psock backlog was busy go through the kworker to the receive queue, and
 * until they land there tcp_bpf reports EOF after a FIN (measured: 16 of
 * 64 MiB lost in an echo run before this check). */
static bool sm_eof_ok(struct conn *c, unsigned i)
{
	struct conn_side *s = &c->s[i];
	struct sng_cnt cnt;

	if (bpf_map_lookup_elem(agent_maps.cnt, &s->cookie, &cnt))
		return true;
	if (cnt.passed <= s->consumed + s->len) {
		/* The FIN and every skb before it went through the verdict
		 * (under the socket lock, before recv() could see the FIN):
		 * redirected is final, and sm_gate need not read it again. */
		s->redirected = cnt.redirected;
		s->red_final = true;
		return true;
	}
	sm_arm_poll(c);
	return false;
}

static const struct pump_hooks sm_hooks = { .gate = sm_gate, .eof_ok = sm_eof_ok };

static void sm_poll_fire(struct worker *w, struct ev_timer *t)
{
	sm_step(container_of(t, struct conn, poll));
}

/* A passing direction has nothing buffered and its socket said EAGAIN:
 * publish consumed; the verdict redirects again once passed == consumed. */
static void sm_caught_up(struct conn *c, unsigned i)
{
	struct conn_side *s = &c->s[i];
	struct sng_cnt cnt;

	if (s->rdhup)
		return; /* reading on until FIN */
	s->resume_tries++;
	if (sm_write_ctl(c, i, SNG_CTL_ENABLE, BPF_EXIST))
		return;
	/* From here the verdict may redirect again, and then pass once
	 * more: bytes redirected meanwhile must drain before the agent's
	 * next write, so ordering is re-checked in every case. */
	s->ordered = false;
	if (bpf_map_lookup_elem(agent_maps.cnt, &s->cookie, &cnt) == 0 &&
	    cnt.passed == s->consumed) {
		s->passing = false;
		s->ordered = false;
		s->resumes++;
	}
}

static void sm_step(struct conn *c)
{
	unsigned i, pass;
	int r[2] = { 0, 0 };

	if (c->state != CONN_RUN)
		return;
	for (pass = 0; pass < 4; pass++) {
		bool again = false;

		for (i = 0; i < 2; i++) {
			struct conn_side *s = &c->s[i];

			if (!s->passing) {
				r[i] = s->fwd_fin;
				continue;
			}
			r[i] = copy_pump(c, i, &sm_hooks);
			if (r[i] < 0)
				break;
			if (r[i] == 0 && !s->len && !s->eof && !s->want_out && s->passing) {
				sm_caught_up(c, i);
				again |= s->passing; /* more was passed meanwhile */
			}
		}
		if (r[0] < 0 || r[1] < 0 || !again)
			break;
	}
	if (r[0] < 0 || r[1] < 0) {
		log_dbg("conn %p: splice: %s", (void *)c, strerror(-(r[0] < 0 ? r[0] : r[1])));
		conn_close(c, SNG_R_RESET, true);
		return;
	}
	if (r[0] == 1 && r[1] == 1) {
		conn_close(c, SNG_OK, false);
		return;
	}
	sm_interest(c);
}

void sockmap_on_event(struct worker *w, struct ev_handler *h, uint32_t events)
{
	struct conn_side *s = container_of(h, struct conn_side, h);
	struct conn *c = s->c;

	if (c->state != CONN_RUN)
		return;
	if (events & (EPOLLERR | EPOLLHUP)) {
		int err = 0;
		socklen_t l = sizeof(err);

		/* A pending error shows as EPOLLERR (tcp_poll); a plain
		 * EPOLLHUP after both FINs has none to read. */
		if (events & EPOLLERR)
			getsockopt(h->fd, SOL_SOCKET, SO_ERROR, &err, &l);
		if (err || !(events & EPOLLRDHUP)) {
			/* RST (or a dead socket): reset the other side (facts 1.6) */
			log_dbg("conn %p: side %u reset: %s", (void *)c, s->idx, strerror(err));
			conn_close(c, SNG_R_RESET, true);
			return;
		}
	}
	if ((events & EPOLLRDHUP) && !s->rdhup) {
		/* FIN: read what was passed up to it, then forward the FIN
		 * once the redirected bytes drained (facts 1.6). */
		s->rdhup = true;
		if (!s->passing)
			s->ordered = false;
		s->passing = true;
	}
	sm_step(c);
}

/* net.core.rmem_max, read once: SO_RCVBUF takes at most that (the kernel
 * then doubles it); 0 if it cannot be read. */
static unsigned long sm_rmem_max_v;
static pthread_once_t sm_rmem_max_once = PTHREAD_ONCE_INIT;

static void sm_rmem_max_read(void)
{
	FILE *f = fopen("/proc/sys/net/core/rmem_max", "r");

	if (f) {
		if (fscanf(f, "%lu", &sm_rmem_max_v) != 1)
			sm_rmem_max_v = 0;
		fclose(f);
	}
}

/*
 * At a socket's first pause: while paused, its receive queue holds what the
 * window lets in. Fix its buffer at budget / 2, or where it is if receive
 * autotuning grew it past that in the fast phase, so a direction holds at
 * most budget + that buffer (+ the peer's write queue). Set even when it is
 * smaller now: SO_RCVBUF also turns autotuning off, which otherwise grows
 * it later (measured: 768 KB at the first pause, 6.8 MB = tcp_rmem[2] a
 * second later, while the agent forwarded the paused bytes; 12.7 MB held
 * against an 11.3 MB bound, 1 run in 15).
 * Never shrunk: TCP does not take back a window it advertised, so bytes
 * sent into it land past the smaller buffer, and past its backlog limit
 * the socket drops every segment that arrives while it is owned, ACKs
 * included (B13, 1 run in 75 of the takeover loops: 4.6 MB held by a
 * socket cut to 2 MiB, 64 drops, the echo crawled at RTO pace).
 * SO_RCVBUF sets at most 2 x net.core.rmem_max (Debian's default, 212,992,
 * allows 416 KiB): the buffer is fixed at that where it is still larger
 * than the current one, else left to autotuning (up to tcp_rmem[2]).
 * Never below SM_RCVBUF_MSS segments of this socket's MSS: the window is
 * about half the buffer, and a window under one MSS stalls the sender (it
 * will not split a full segment to fit; only window probes, one per RTO,
 * got through: 64 KiB budget, loopback MSS 65,483, 6 MB in 5 s then
 * nothing).
 */
static void sm_fix_rcvbuf(struct conn_side *s)
{
	uint64_t cap = agent_opts.conn_budget / 2, floor = 0;
	int cur = 0, v;
	socklen_t l = sizeof(cur);
	struct tcp_info ti;

	if (sm_tcp_info(s->h.fd, &ti) >= 0)
		floor = (uint64_t)SM_RCVBUF_MSS *
			(ti.tcpi_advmss > ti.tcpi_rcv_mss ? ti.tcpi_advmss : ti.tcpi_rcv_mss);
	if (cap < floor)
		cap = floor;
	if (cap > (1u << 30))
		cap = 1u << 30;
	if (getsockopt(s->h.fd, SOL_SOCKET, SO_RCVBUF, &cur, &l))
		return;
	if ((uint64_t)cur > cap)
		cap = (uint64_t)cur;
	pthread_once(&sm_rmem_max_once, sm_rmem_max_read);
	if (cap / 2 > sm_rmem_max_v)
		cap = 2 * (uint64_t)sm_rmem_max_v; /* what SO_RCVBUF can set */
	if (cap < (uint64_t)cur) {
		log_dbg("conn %p: side %u: receive buffer %d left to autotuning: net.core.rmem_max "
			"%lu cannot hold it", (void *)s->c, s->idx, cur, sm_rmem_max_v);
		return;
	}
	v = (int)(cap / 2);
	setsockopt(s->h.fd, SOL_SOCKET, SO_RCVBUF, &v, sizeof(v));
}

void sockmap_on_bpf_event(struct worker *w, uint64_t cookie, uint32_t type, uint64_t lag)
{
	struct conn_side *s = sm_find(cookie);

	if (!s || s->c->state != CONN_RUN)
		return;
	if (type == SNG_EV_TRIM_FAIL) {
		/* the verdict dropped an skb it could not cut a repeated
		 * head off (bugs B9): the stream has a hole, end it */
		log_warn("conn %p: side %u: retransmit overlap of %llu bytes could not be cut off: "
			 "reset", (void *)s->c, s->idx, (unsigned long long)lag);
		conn_close(s->c, SNG_R_RESET, true);
		return;
	}
	if (s->passing) {
		/* a new transition: something was redirected in between */
		s->ordered = false;
		return;
	}
	if (log_verbosity >= LOG_DEBUG) {
		struct sng_cnt k = {};
		uint64_t ent = 0, ack = 0;

		bpf_map_lookup_elem(agent_maps.cnt, &s->cookie, &k);
		sm_tcp_entered(s->c->s[!s->idx].h.fd, &ent, &ack);
		log_dbg("conn %p: side %u passing (%s): verdict lag %llu; now redirected %llu "
			"+ consumed %llu, peer entered %llu (acked %llu)", (void *)s->c, s->idx,
			type == SNG_EV_PAUSE ? "flow control" :
			type == SNG_EV_MEM_PRESSURE ? "TCP memory" :
			type == SNG_EV_PEER_FULL ? "peer write queue full" :
			type == SNG_EV_REDIRECT_FAIL ? "redirect failed" : "stragglers",
			(unsigned long long)lag, (unsigned long long)k.redirected,
			(unsigned long long)s->consumed, (unsigned long long)ent,
			(unsigned long long)ack);
	}
	s->passing = true;
	s->ordered = false;
	s->pauses++;
	if ((type == SNG_EV_PAUSE || type == SNG_EV_MEM_PRESSURE || type == SNG_EV_PEER_FULL) &&
	    !s->clamped && agent_opts.conn_budget) {
		sm_fix_rcvbuf(s);
		s->clamped = true;
	}
	sm_step(s->c);
}

bool sockmap_active(struct conn *c)
{
	uint64_t sum = 0;
	unsigned i;

	for (i = 0; i < 2; i++) {
		struct sng_cnt cnt;

		if (bpf_map_lookup_elem(agent_maps.cnt, &c->s[i].cookie, &cnt))
			continue;
		sum += cnt.redirected + cnt.passed;
		/* Safety net for a lost event (ring buffer full). */
		if (cnt.passed != c->s[i].consumed && !c->s[i].passing) {
			c->s[i].passing = true;
			c->s[i].ordered = false;
			sm_step(c);
			if (c->state != CONN_RUN)
				return true;
		}
	}
	sum += c->s[0].copied + c->s[1].copied;
	if (sum == c->s[1].last_cnt)
		return false;
	c->s[1].last_cnt = sum;
	return true;
}

#ifndef ENOTSUPP
#define ENOTSUPP 524 /* the kernel's internal "not supported" */
#endif

/* Lookup-and-delete needs 5.14 for hash maps: remembered once it fails. */
static bool sm_no_lookup_delete;

void sockmap_forget(struct conn *c)
{
	__u64 keys[2];
	__u32 n = 0, k;
	unsigned i;

	for (i = 0; i < 2; i++) {
		struct conn_side *s = &c->s[i];
		struct sng_cnt cnt;
		int rc = -1;

		if (!s->cookie)
			continue;
		sm_unregister(s);
		keys[n++] = s->cookie;
		/* One call reads the final counts (the sockets are closed:
		 * no verdict runs any more) and removes the entry. */
		if (!__atomic_load_n(&sm_no_lookup_delete, __ATOMIC_RELAXED)) {
			rc = bpf_map_lookup_and_delete_elem(agent_maps.cnt, &s->cookie, &cnt);
			if (rc && (errno == EINVAL || errno == ENOTSUPP || errno == EOPNOTSUPP))
				__atomic_store_n(&sm_no_lookup_delete, true, __ATOMIC_RELAXED);
			if (rc && errno == ENOENT)
				continue;
		}
		if (rc) {
			rc = bpf_map_lookup_elem(agent_maps.cnt, &s->cookie, &cnt);
			bpf_map_delete_elem(agent_maps.cnt, &s->cookie);
			if (rc)
				continue;
		}
		s->redirected = cnt.redirected;
		s->red_final = true;
		/* the verdict saw the client's first skb: it counted the
		 * connection (SNG_CTL_COUNT) */
		if (i == 0 && (cnt.passed || cnt.redirected))
			c->open_count = false;
		if (cnt.trimmed)
			log_dbg("conn %p: side %u: the verdict cut %u retransmit overlaps (B9)",
				(void *)c, i, cnt.trimmed);
	}
	/* Both ctl entries in one call; per entry if that stopped early (an
	 * entry missing, or a kernel without batch ops). */
	k = n;
	if (n && bpf_map_delete_batch(agent_maps.ctl, keys, &k, NULL) && k < n)
		for (; k < n; k++)
			bpf_map_delete_elem(agent_maps.ctl, &keys[k]);
}

/* The kick: a recv on an inserted socket makes the kernel run the verdict
 * over bytes queued before insertion (facts 1.5). It should say EAGAIN;
 * bytes it does return were passed and are forwarded like stragglers. */
static int sm_kick(struct conn *c, unsigned i)
{
	struct conn_side *s = &c->s[i];
	ssize_t n;

	if (!s->buf) {
		s->cap = SPLICE_CATCHUP_BUF;
		s->buf = bufpool_get(s->cap);
		if (!s->buf)
			return -ENOMEM;
	}
	n = recv(s->h.fd, s->buf, s->cap, MSG_DONTWAIT);
	if (n > 0) {
		s->len = (size_t)n;
		s->passing = true;
		s->ordered = false;
	} else if (n == 0) {
		s->eof = true;
		s->rdhup = true;
		s->passing = true;
	} else if (errno != EAGAIN) {
		return -errno;
	}
	pump_buf_release(s);
	return 0;
}

/* Write both sides' ctl entries (enabled) and zeroed cnt entries: one
 * batch call per map, per entry on a kernel without batch ops. */
static int sm_write_entries(struct conn *c)
{
	LIBBPF_OPTS(bpf_map_batch_opts, opts, .elem_flags = BPF_ANY);
	__u64 keys[2] = { c->s[0].cookie, c->s[1].cookie };
	struct sng_ctl ctl[2];
	struct sng_cnt zero[2];
	__u32 n = 2;
	unsigned i;

	memset(zero, 0, sizeof(zero));
	for (i = 0; i < 2; i++)
		ctl[i] = sm_ctl_of(c, i, SNG_CTL_ENABLE);
	if (!bpf_map_update_batch(agent_maps.ctl, keys, ctl, &n, &opts)) {
		n = 2;
		if (!bpf_map_update_batch(agent_maps.cnt, keys, zero, &n, &opts))
			return 0;
	}
	for (i = 0; i < 2; i++) {
		int err = sm_write_ctl(c, i, SNG_CTL_ENABLE, BPF_ANY);

		if (err)
			return err;
		if (bpf_map_update_elem(agent_maps.cnt, &c->s[i].cookie, &zero[i], BPF_ANY))
			return -errno;
	}
	return 0;
}

static void sockmap_undo_close(struct conn *c)
{
	unsigned i;

	for (i = 0; i < 2; i++) {
		bpf_map_delete_elem(agent_maps.ctl, &c->s[i].cookie);
		bpf_map_delete_elem(agent_maps.cnt, &c->s[i].cookie);
		c->s[i].cookie = 0;
	}
	c->engine = SNG_ENGINE_USERSPACE; /* nothing left to forget */
	conn_close(c, SNG_R_RESET, true);
}

/* @fd's TCP state is ESTABLISHED (the only one a sockhash takes) */
static bool sm_established(int fd)
{
	struct tcp_info ti;

	return sm_tcp_info(fd, &ti) >= 0 && ti.tcpi_state == BPF_TCP_ESTABLISHED;
}

int sockmap_start(struct conn *c)
{
	socklen_t l = sizeof(uint64_t);
	unsigned i;
	int err;

	c->poll.fn = sm_poll_fire;
	c->poll_ms = 1;
	/* Only ESTABLISHED sockets can be inserted (facts 1.1): a client that
	 * already sent its FIN (CLOSE_WAIT) is served by the copy engine. */
	for (i = 0; i < 2; i++) {
		struct tcp_info ti;
		uint64_t acked;

		err = sm_tcp_info(c->s[i].h.fd, &ti);
		if (err < 0)
			return err;
		if (ti.tcpi_state != BPF_TCP_ESTABLISHED) /* == TCP_ESTABLISHED */
			return -ENOTCONN;
		/* Nothing was written to either socket yet (the hello is only
		 * peeked): what they count now is the SYN, or 0. Established,
		 * nothing unacked or unsent means an empty write queue, so
		 * the SIOCOUTQ of sm_tcp_entered() would say 0. */
		if (ti.tcpi_unacked || ti.tcpi_notsent_bytes) {
			err = sm_tcp_entered(c->s[i].h.fd, &c->s[i].entered0, &acked);
			if (err)
				return err;
		} else {
			c->s[i].entered0 = ti.tcpi_bytes_acked;
		}
		if (getsockopt(c->s[i].h.fd, SOL_SOCKET, SO_COOKIE, &c->s[i].cookie, &l))
			return -errno;
	}
	/* ctl and cnt entries first: the verdict must know the peer before
	 * the first skb (facts 1.5 data stall, 4.3 lessons). */
	err = sm_write_entries(c);
	if (err)
		goto undo;
	/* Backend first, then client: the client's queued hello is only
	 * redirected once its target is in the map. */
	for (i = 2; i-- > 0;) {
		__u64 fd = (__u64)c->s[i].h.fd;

		if (bpf_map_update_elem(agent_maps.socks, &c->s[i].cookie, &fd, BPF_NOEXIST)) {
			struct sng_cnt bc = {};

			err = -errno;
			log_dbg("sockhash insert (side %u): %s", i, strerror(-err));
			/* a socket that left ESTABLISHED since the check above
			 * (its peer closed) is refused with EOPNOTSUPP
			 * (facts 1.1): the same case as that check's */
			if (err == -EOPNOTSUPP && !sm_established(c->s[i].h.fd))
				err = -ENOTCONN;
			if (i == 1)
				goto undo;
			/* The backend is in already. Taking it out drops its
			 * psock and any bytes its verdict passed meanwhile:
			 * only safe when it passed nothing. */
			bpf_map_lookup_elem(agent_maps.cnt, &c->s[1].cookie, &bc);
			bpf_map_delete_elem(agent_maps.socks, &c->s[1].cookie);
			if (bc.passed || bc.redirected) {
				log_warn("conn %p: client left the ESTABLISHED state during splice "
					 "setup with backend bytes in flight: reset", (void *)c);
				sockmap_undo_close(c);
				return 0;
			}
			goto undo;
		}
	}
	for (i = 0; i < 2; i++) {
		c->s[i].h.fn = sockmap_on_event;
		sm_register(&c->s[i]);
	}
	/* Both sides are registered already (the client from the hello
	 * phase, the backend from its connect): switch them to RDHUP only
	 * (level-triggered EPOLLIN busy-loops on spliced sockets, facts 5.7). */
	err = conn_side_watch(c, 0, SM_BASE_EVENTS);
	if (!err)
		err = conn_side_watch(c, 1, SM_BASE_EVENTS);
	if (!err)
		err = sm_kick(c, 1);
	if (!err)
		err = sm_kick(c, 0);
	if (err) {
		/* Inserted already: no way back to the copy engine. */
		log_warn("conn %p: splice setup: %s", (void *)c, strerror(-err));
		conn_close(c, SNG_R_RESET, true);
		return 0;
	}
	sm_step(c);
	return 0;

undo:
	for (i = 0; i < 2; i++) {
		bpf_map_delete_elem(agent_maps.ctl, &c->s[i].cookie);
		bpf_map_delete_elem(agent_maps.cnt, &c->s[i].cookie);
		c->s[i].cookie = 0;
	}
	return err;
}

void sockmap_describe(struct conn *c, unsigned i, char *buf, size_t len)
{
	const struct conn_side *s = &c->s[i];
	struct sng_cnt cnt;
	uint64_t ent = 0, ack = 0;

	memset(&cnt, 0, sizeof(cnt));
	bpf_map_lookup_elem(agent_maps.cnt, &s->cookie, &cnt);
	sm_tcp_entered(s->h.fd, &ent, &ack);
	snprintf(buf, len, "%s%s consumed %llu pauses %u resumes %u/%u | kernel: redirected %llu "
		 "passed %llu | write queue: entered %llu (since splice %llu) acked %llu",
		 s->passing ? " passing" : " redirecting", s->ordered ? " ordered" : "",
		 (unsigned long long)s->consumed, s->pauses, s->resumes, s->resume_tries,
		 (unsigned long long)cnt.redirected, (unsigned long long)cnt.passed,
		 (unsigned long long)ent,
		 (unsigned long long)(ent > s->entered0 ? ent - s->entered0 : 0),
		 (unsigned long long)ack);
}

/* ---- hand-over (agent/takeover.c) ---------------------------------------- */

void sockmap_freeze(struct conn *c)
{
	unsigned i;

	for (i = 0; i < 2; i++)
		if (c->s[i].cookie)
			sm_unregister(&c->s[i]);
}

void sockmap_resync(struct conn *c)
{
	bool step = false;
	unsigned i;

	for (i = 0; i < 2; i++) {
		struct conn_side *s = &c->s[i];
		struct sng_cnt cnt;

		if (s->passing || bpf_map_lookup_elem(agent_maps.cnt, &s->cookie, &cnt))
			continue;
		if (cnt.passed != s->consumed) {
			s->passing = true;
			s->ordered = false;
			s->pauses++;
			step = true;
		}
	}
	if (step)
		sm_step(c);
}

int sockmap_resume(struct conn *c)
{
	unsigned i;
	int err;

	c->poll.fn = sm_poll_fire;
	c->poll_ms = 1;
	for (i = 0; i < 2; i++) {
		struct conn_side *s = &c->s[i];

		s->h.fn = sockmap_on_event;
		/* re-checked by sm_gate: the ordering the previous owner saw
		 * may be stale by now */
		s->ordered = false;
		err = conn_side_watch(c, i, SM_BASE_EVENTS);
		if (err)
			return err;
	}
	for (i = 0; i < 2; i++)
		sm_register(&c->s[i]);
	sockmap_resync(c);
	/* a FIN or reset of the hand-over window shows as the first event
	 * (epoll reports a pending condition when a socket is added) */
	sm_step(c);
	return 0;
}
