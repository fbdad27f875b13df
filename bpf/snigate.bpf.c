// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* snigate BPF programs: thin entry points over the bpf/lib headers. The logic and
 * every map live in the library headers; each program says why it exists. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

#include "lib/maps.h"
#include "lib/stats.h"
#include "lib/splice.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/*
 * sng_verdict: attached as BPF_SK_SKB_VERDICT to sng_socks. It exists to
 * move a spliced connection's bytes between the client and backend sockets
 * inside the kernel (bpf_sk_redirect_hash), with no agent copy, and to hand
 * bytes to the agent (SK_PASS) when ordering or flow control requires it.
 * libbpf 1.1 has no "sk_skb/verdict" section: the loader sets the expected
 * attach type by hand (sockmap-facts 1.2).
 */
SEC("sk_skb")
int sng_verdict(struct __sk_buff *skb)
{
	return sng_splice_verdict(skb);
}

/*
 * sng_count: BPF_PROG_TYPE_SYSCALL, run by the agent with BPF_PROG_RUN. It
 * exists so the agent's own counts (connections, rejections, bytes it
 * copied) land in the per-CPU stats the way the verdict's do; a userspace
 * read-modify-write of a per-CPU value would lose concurrent increments.
 */
SEC("syscall")
int sng_count(struct sng_count_args *a)
{
	__u32 lid = a->listener_id, rid = a->route_id;

	if (lid == SNG_NO_ROUTE)
		return 0;
	sng_stats_add(lid, rid, a->conns, a->bytes_up, a->bytes_down);
	if (a->add_reason)
		sng_stats_reason(lid, rid, a->reason);
	return 0;
}
