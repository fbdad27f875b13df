/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* The splice verdict (sockmap-facts 6.4): redirect a spliced socket's skbs
 * to its peer, or leave them to the agent (SK_PASS) and say why. */
#ifndef SNG_BPF_SPLICE_H
#define SNG_BPF_SPLICE_H

#include "lib/maps.h"
#include "lib/stats.h"
#include "lib/clienthello.h"

/*
 * How close TCP is to its memory limits (tcp_mem, pages): 0 below tcp_mem[0],
 * 1 above it, 2 under memory pressure (above tcp_mem[1], or the pressure
 * flag still set). Bytes queued in psock queues count in TCP's memory, but
 * no socket's window or buffer limit holds them back. Measured in 1 GiB VMs
 * (tcp_mem 10.7k/14.3k/21.4k pages) with four spliced 48 MiB echoes and
 * slow readers: they pushed TCP past tcp_mem[2], where every receive
 * allocation fails; every receiver dropped every segment (empty receive
 * queues, sk_drops up), the senders backed off to 108 s RTOs and the
 * transfers stalled for minutes (B14). Passing only under pressure was
 * not enough: psock queues filled to the budget before it (4 MiB each)
 * still pushed TCP over in 1 of 4 echoes. So above tcp_mem[0] nothing more
 * is queued in a non-empty psock queue, and under pressure nothing at all:
 * the bytes wait in the receiving socket's own queue, where TCP's window
 * holds the sender back. Read through the socket's struct proto (the
 * variables are not in BTF on every kernel).
 */
static __always_inline int sng_tcp_mem_level(const struct tcp_sock *tp)
{
	struct proto *prot = BPF_CORE_READ(tp, inet_conn.icsk_inet.sk.__sk_common.skc_prot);
	unsigned long *flag = NULL, pressure = 0;
	atomic_long_t *alloc = NULL;
	long *limits = NULL, lim[2] = {}, pages = 0;

	if (!prot || !bpf_core_field_exists(struct proto, memory_pressure))
		return 0;
	flag = BPF_CORE_READ(prot, memory_pressure);
	alloc = BPF_CORE_READ(prot, memory_allocated);
	limits = BPF_CORE_READ(prot, sysctl_mem);
	if (flag && !bpf_probe_read_kernel(&pressure, sizeof(pressure), flag) && pressure)
		return 2;
	if (!alloc || !limits || bpf_probe_read_kernel(&pages, sizeof(pages), alloc) ||
	    bpf_probe_read_kernel(lim, sizeof(lim), limits))
		return 0;
	if (pages > lim[1])
		return 2;
	return pages > lim[0] ? 1 : 0;
}

/* Bytes pushed towards the peer (redirected + agent-written) that have not
 * entered the peer's TCP write queue yet: the peer's psock queue. Egress
 * redirect puts no limit on it and no TCP accounting sees it
 * (sockmap-facts 1.7), so this is what flow control bounds; the peer's
 * write queue itself is ordinary TCP memory, bounded by its sndbuf.
 * entered = bytes_acked + (write_seq - snd_una): every byte that went into
 * the write queue, acked or not. Returns 0 when the peer cannot be looked
 * at (not in the map yet, or closing). CO-RE reads of struct tcp_sock.
 * *mem: sng_tcp_mem_level() seen through the peer, when it could be seen;
 * *room: the peer's write queue space (sndbuf - wmem_queued, truesize
 * bytes), when it could be seen and the queue is not empty. */
static __always_inline __u64 sng_splice_lag(const struct sng_ctl *ctl,
					    const struct sng_cnt *cnt, int *mem, __s64 *room)
{
	__u64 peer = ctl->peer, pushed, entered = 0;
	struct bpf_sock *sk;
	struct tcp_sock *tp;

	sk = bpf_map_lookup_elem(&sng_socks, &peer);
	if (!sk)
		return 0;
	tp = bpf_skc_to_tcp_sock(sk);
	if (tp) {
		entered = BPF_CORE_READ(tp, bytes_acked) +
			  (__u32)(BPF_CORE_READ(tp, write_seq) - BPF_CORE_READ(tp, snd_una));
		*mem = sng_tcp_mem_level(tp);
		int queued = BPF_CORE_READ(tp, inet_conn.icsk_inet.sk.sk_wmem_queued);

		/* an empty write queue takes one skb whatever its size */
		if (queued > 0)
			*room = (__s64)BPF_CORE_READ(tp, inet_conn.icsk_inet.sk.sk_sndbuf) - queued;
	}
	bpf_sk_release(sk);
	pushed = cnt->redirected + ctl->consumed;
	return pushed > entered ? pushed - entered : 0;
}

/* Run the shared ClientHello parser over the first skb of a client socket
 * and count the outcome. Diagnostic only: the verdict sees one skb, which
 * on an MTU-1500 path without a stream parser is one segment, and misses a
 * hello split across records (sockmap-facts 4.2), so the agent's host
 * build over peeked bytes stays the routing authority.
 * A global (noinline) function, so the verifier checks it once on its own
 * instead of once per path of the verdict. */
__attribute__((noinline)) int sng_splice_count_hello(struct __sk_buff *skb)
{
	struct sng_ch_src src = { .skb = skb };
	struct sng_ch_info *info;
	__u32 zero = 0;

	if (!skb)
		return 0;
	info = bpf_map_lookup_elem(&sng_chscratch, &zero);
	if (!info)
		return 0;
	__builtin_memset(info, 0, sizeof(*info));
	sng_stats_hello(sng_ch_parse_record(&src, info));
	return 0;
}

/* bpf_cast_to_kern_ctx (6.2+) turns the verdict's context into the kernel
 * sk_buff, whose control block holds the TCP sequence number. Weak: on a
 * kernel without it (6.1) the object still loads, the verifier drops that
 * branch, and the other one reads the same field through the context
 * pointer itself: an sk_skb program's context *is* the kernel's sk_buff
 * (the verifier rewrites __sk_buff reads into sk_buff ones), and a program
 * loaded with CAP_PERFMON may hand its address to bpf_probe_read_kernel
 * (no pointer-leak check then). The offset of cb is a CO-RE relocation. */
extern void *bpf_cast_to_kern_ctx(void *obj) __ksym __weak;

/* Most bytes a trim may cut: bpf_skb_adjust_room shrinks an sk_skb by at
 * most 0xfff bytes per call (net/core/filter.c, sk_skb_adjust_room), and a
 * repeated head is at most one retransmitted skb (64 KiB GSO limit; a
 * larger one, BIG TCP, fails the cut and resets the connection). */
#define SNG_TRIM_STEP 0xfff
#define SNG_TRIM_STEPS 32

/*
 * Bytes at the head of @skb (@len bytes, > 0) that this socket's verdict
 * has seen already, or 0; @len if all of them were. Bugs B9, measured on
 * 6.18: when a retransmitted segment overlaps data TCP has received already
 * (seq < rcv_nxt < end_seq, e.g. the sender merged segments on retransmit
 * after receive-buffer drops, or a spurious RTO under CPU load),
 * tcp_data_queue() queues it untrimmed; tcp_recvmsg() skips the old part by
 * copied_seq, but tcp_read_skb() hands the verdict the whole skb, so the
 * old bytes were spliced a second time (a 65,483-byte skb repeated inside
 * a 1 GiB upload, 7 of 87 uploads under load). The sequence number comes
 * from the kernel skb (TCP_SKB_CB(skb)->seq: the first member of the
 * control block); seq_next in sng_cnt follows the stream.
 */
static __always_inline __u32 sng_splice_overlap(struct __sk_buff *skb, struct sng_cnt *cnt,
						__u32 len)
{
	struct sk_buff *kskb;
	__u32 seq = 0;
	__s32 d;

	if (bpf_cast_to_kern_ctx)
		kskb = bpf_cast_to_kern_ctx(skb);
	else
		kskb = (struct sk_buff *)skb;
	if (bpf_probe_read_kernel(&seq, sizeof(seq), &kskb->cb[0]))
		return 0;
	if (!cnt->seq_known) {
		/* first skb since insertion: nothing was read from the
		 * socket before (the hello is only peeked), so it starts
		 * the stream the verdict sees */
		cnt->seq_known = 1;
		cnt->seq_next = seq + len;
		return 0;
	}
	d = (__s32)(cnt->seq_next - seq);
	if (d <= 0) {
		/* in order (or a gap, which TCP never hands over) */
		cnt->seq_next = seq + len;
		return 0;
	}
	if ((__u32)d >= len)
		return len;
	cnt->seq_next = seq + len;
	return (__u32)d;
}

/* Cut @n bytes off the head of @skb. 0, or -1 if the helper failed or @n
 * exceeds SNG_TRIM_STEPS * SNG_TRIM_STEP. */
static __always_inline int sng_splice_trim(struct __sk_buff *skb, __u32 n)
{
	__u32 i, k;

	for (i = 0; i < SNG_TRIM_STEPS && n; i++) {
		k = n > SNG_TRIM_STEP ? SNG_TRIM_STEP : n;
		if (bpf_skb_adjust_room(skb, -(__s32)k, 0, 0))
			return -1;
		n -= k;
	}
	return n ? -1 : 0;
}

static __always_inline void sng_splice_event(__u64 cookie, __u32 type, __u32 len, __u64 lag)
{
	struct sng_event *e;

	e = bpf_ringbuf_reserve(&sng_events, sizeof(*e), 0);
	if (!e)
		return; /* the agent also re-checks passed bytes on its timers */
	e->cookie = cookie;
	e->type = type;
	e->len = len;
	e->lag = lag;
	bpf_ringbuf_submit(e, BPF_RB_FORCE_WAKEUP);
}

/* Leave @len bytes to the socket's own queue. An event is sent only on the
 * transition out of the in-sync state, where the agent was not reading. */
static __always_inline int sng_splice_pass(__u64 cookie, struct sng_cnt *cnt,
					   const struct sng_ctl *ctl, __u32 len,
					   __u32 type, __u64 lag)
{
	int was_in_sync = ctl && cnt->passed == ctl->consumed;

	__sync_fetch_and_add(&cnt->passed, len);
	if (was_in_sync)
		sng_splice_event(cookie, type, len, lag);
	return SK_PASS;
}

static __always_inline int sng_splice_verdict(struct __sk_buff *skb)
{
	__u64 cookie = bpf_get_socket_cookie(skb), peer, lag = 0, budget = 0;
	__u32 len = skb->len, zero = 0, ov;
	struct sng_ctl *ctl;
	struct sng_cnt *cnt;
	struct sng_fc *fc;
	long rc;

	/* The FIN-carrying skb has len 0: never redirect it (facts 1.3:
	 * EPIPE on the peer). Nor pass it: measured here, a zero-length
	 * SK_PASS that lands while the socket's psock backlog still holds
	 * redirected bytes for it goes through sk_psock_backlog, whose
	 * handler returns 0 for it and takes 0 as a hard error: sk_err =
	 * EPIPE and TX disabled, so later bytes redirected to this socket
	 * are dropped (about 4 in 10,000 request/response connections).
	 * Dropping it loses nothing: the FIN itself is TCP state
	 * (RCV_SHUTDOWN, EPOLLRDHUP, recv() == 0), not skb payload. */
	if (!len)
		return SK_DROP;
	cnt = bpf_map_lookup_elem(&sng_cnt, &cookie);
	if (!cnt)
		return SK_PASS; /* not ours: the agent creates cnt before insert */
	ov = sng_splice_overlap(skb, cnt, len);
	if (ov) {
		/* A repeated head: cut it off before the bytes go anywhere
		 * (the kernel then also advances copied_seq by the rest
		 * only). All of it repeated: nothing new, drop. If the cut
		 * fails, dropping loses the new tail and passing or
		 * redirecting duplicates the head: drop and have the agent
		 * reset the connection rather than corrupt it. */
		if (ov == len)
			return SK_DROP;
		if (sng_splice_trim(skb, ov)) {
			sng_splice_event(cookie, SNG_EV_TRIM_FAIL, len, ov);
			return SK_DROP;
		}
		cnt->trimmed++; /* verdicts of one socket run under its lock */
		len = skb->len;
	}
	ctl = bpf_map_lookup_elem(&sng_ctl, &cookie);
	if (!ctl)
		return sng_splice_pass(cookie, cnt, ctl, len, SNG_EV_DISABLED, 0);
	if ((ctl->flags & SNG_CTL_CLIENT) && !cnt->passed && !cnt->redirected) {
		/* the first skb of the client (the peeked hello): each
		 * path below adds its len to passed or redirected */
		sng_splice_count_hello(skb);
		if (ctl->flags & SNG_CTL_COUNT) {
			/* the connection count the agent would otherwise make
			 * with a BPF_PROG_RUN of sng_count */
			sng_stats_add(ctl->listener_id, ctl->route_id, 1, 0, 0);
			sng_stats_reason(ctl->listener_id, ctl->route_id, SNG_OK);
		}
	}
	/* Stragglers pending (passed != consumed): the agent forwards them;
	 * redirecting now would overtake them (facts 4.3 design C). */
	if (!(ctl->flags & SNG_CTL_ENABLE) || cnt->passed != ctl->consumed)
		return sng_splice_pass(cookie, cnt, ctl, len, SNG_EV_DISABLED, 0);
	fc = bpf_map_lookup_elem(&sng_fc, &zero);
	if (fc)
		budget = fc->budget;
	/* Flow control: over the budget the verdict passes, so the bytes
	 * wait in this socket's own (accounted) queue, its window closes as
	 * the rcvbuf fills, and the agent forwards them until it catches up.
	 * (A first step that only throttled the sender with a window clamp
	 * while redirecting on was tried: it halved the agent's copying in a
	 * receiver-limited bulk run but let in-flight windows past the
	 * budget; not kept.) */
	if (budget) {
		__s64 room = 1ll << 62;
		int mem = 0;

		lag = sng_splice_lag(ctl, cnt, &mem, &room);
		if (lag + len > budget)
			return sng_splice_pass(cookie, cnt, ctl, len, SNG_EV_PAUSE, lag);
		/* B13: redirect only what the peer's write queue takes now.
		 * Bytes parked in the peer's psock queue sit in front of every
		 * byte the peer's own verdict passes: those wait there
		 * unaccounted (sk_psock_verdict_apply charges a passed skb
		 * only onto an empty queue), the peer's window stays open and
		 * its sender fills memory without bound (measured: an echo
		 * whose client writes fast and reads at 16 MB/s left 192 MB
		 * in the client socket's receive memory, 2 MiB rcvbuf).
		 * Parked bytes wait only for the kernel worker then, not for
		 * a slow reader. */
		if ((__s64)(lag + len) > room)
			return sng_splice_pass(cookie, cnt, ctl, len, SNG_EV_PEER_FULL, lag);
		/* TCP near its memory limits (B14): the agent forwards, as
		 * the userspace engine does, which measured fine in the same
		 * squeeze; above tcp_mem[0] only onto an empty psock queue */
		if (mem == 2 || (mem == 1 && lag))
			return sng_splice_pass(cookie, cnt, ctl, len, SNG_EV_MEM_PRESSURE, lag);
	}
	peer = ctl->peer;
	rc = bpf_sk_redirect_hash(skb, &sng_socks, &peer, 0);
	if (rc != SK_PASS) {
		/* SK_DROP here would lose data (facts 5.4): pass it instead */
		__sync_fetch_and_add(&cnt->redirect_fail, 1);
		sng_stats_reason(ctl->listener_id, ctl->route_id, SNG_R_REDIRECT_FAIL);
		return sng_splice_pass(cookie, cnt, ctl, len, SNG_EV_REDIRECT_FAIL, lag);
	}
	__sync_fetch_and_add(&cnt->redirected, len);
	if (ctl->flags & SNG_CTL_CLIENT)
		sng_stats_add(ctl->listener_id, ctl->route_id, 0, len, 0);
	else
		sng_stats_add(ctl->listener_id, ctl->route_id, 0, 0, len);
	return SK_PASS;
}

#endif
