/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Per-CPU counters: per listener and route (bytes each way, outcomes) and
 * the in-kernel ClientHello outcome table. Inline helpers only. */
#ifndef SNG_BPF_STATS_H
#define SNG_BPF_STATS_H

#include "lib/maps.h"

/* Add @up/@down bytes and @conns to listener @lid and route @rid. The
 * entries are created by the agent when it writes a policy; a missing one
 * (policy swapped away) is simply not counted. Per-CPU values: plain adds
 * are safe, only this CPU writes its slot while preemption is off. */
static __always_inline void sng_stats_add(__u32 lid, __u32 rid, __u64 conns,
					  __u64 up, __u64 down)
{
	struct sng_stats *s;

	s = bpf_map_lookup_elem(&sng_lstats, &lid);
	if (s) {
		s->conns += conns;
		s->bytes_up += up;
		s->bytes_down += down;
	}
	if (rid == SNG_NO_ROUTE)
		return;
	s = bpf_map_lookup_elem(&sng_rstats, &rid);
	if (s) {
		s->conns += conns;
		s->bytes_up += up;
		s->bytes_down += down;
	}
}

/* Count outcome @reason (0 or a negative enum sng_reason) on @lid/@rid. */
static __always_inline void sng_stats_reason(__u32 lid, __u32 rid, __s32 reason)
{
	__u64 idx;
	struct sng_stats *s;

	if (reason > 0 || reason <= -SNG_R__COUNT)
		return;
	/* A 64-bit index, hidden from the optimiser and then checked: the
	 * compare and both accesses use the one register. With a __u32 the
	 * compiler checked a zero-extended copy; the 6.1 and 6.12 verifiers
	 * did not carry that bound over to the register used for the access
	 * (sng_count rejected, agent-side counts lost; 6.18 accepted it). */
	idx = (__u32)(-reason);
	asm volatile("" : "+r"(idx));
	if (idx >= SNG_R__COUNT)
		return;
	s = bpf_map_lookup_elem(&sng_lstats, &lid);
	if (s)
		s->reasons[idx]++;
	if (rid == SNG_NO_ROUTE)
		return;
	s = bpf_map_lookup_elem(&sng_rstats, &rid);
	if (s)
		s->reasons[idx]++;
}

/* Count one in-kernel ClientHello parse outcome. */
static __always_inline void sng_stats_hello(__s32 reason)
{
	__u32 idx = (__u32)(-reason);
	__u64 *v;

	if (reason > 0 || idx >= SNG_R__COUNT)
		return;
	v = bpf_map_lookup_elem(&sng_chstats, &idx);
	if (v)
		(*v)++;
}

#endif
