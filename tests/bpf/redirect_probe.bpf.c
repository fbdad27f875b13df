// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Benchmark-only BPF (bench_redirect): the three ways a sockmap program can
 * move one connection's bytes to another socket, to time each against a
 * direct TCP round trip on the same kernel in the same run. Not part of the
 * agent: it answers whether any sockmap shape could bring a proxied round
 * trip within the 1.2x of direct. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

/* One sockhash per shape: a program is attached to a whole map. Keys are
 * small indexes chosen by the loader. */
#define RP_SOCKHASH(name)                        \
	struct {                                 \
		__uint(type, BPF_MAP_TYPE_SOCKHASH); \
		__uint(max_entries, 8);          \
		__type(key, __u32);              \
		__type(value, __u64);            \
	} name SEC(".maps")

RP_SOCKHASH(rp_skb_socks);
RP_SOCKHASH(rp_msg_socks);
RP_SOCKHASH(rp_in_socks);

/* Sender's local TCP port -> key of the socket its bytes go to. A port,
 * not a socket cookie: sk_msg programs cannot call bpf_get_socket_cookie
 * on 6.1-6.18. The loader keeps the ports of one run distinct. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 8);
	__type(key, __u32);
	__type(value, __u32);
} rp_peer SEC(".maps");

/* The agent's shape: a proxy socket's received skb is sent out of the
 * peer proxy socket (egress redirect: the psock backlog kworker sends it). */
SEC("sk_skb")
int rp_skb_egress(struct __sk_buff *skb)
{
	__u32 port = skb->local_port;
	__u32 *k = bpf_map_lookup_elem(&rp_peer, &port);

	return k ? bpf_sk_redirect_hash(skb, &rp_skb_socks, k, 0) : SK_PASS;
}

/* A local sender's sendmsg goes straight into the far proxy socket's send
 * path (egress, in the sender's context): client -> backend leg, backend
 * -> client leg, each skipping one TCP hop and the kworker. */
SEC("sk_msg")
int rp_msg_egress(struct sk_msg_md *msg)
{
	__u32 port = msg->local_port;
	__u32 *k = bpf_map_lookup_elem(&rp_peer, &port);

	return k ? bpf_msg_redirect_hash(msg, &rp_msg_socks, k, 0) : SK_PASS;
}

/* Socket to socket (Cilium's old sockops acceleration): a local sender's
 * bytes land in the local receiver's queue, no TCP at all. */
SEC("sk_msg")
int rp_msg_ingress(struct sk_msg_md *msg)
{
	__u32 port = msg->local_port;
	__u32 *k = bpf_map_lookup_elem(&rp_peer, &port);

	return k ? bpf_msg_redirect_hash(msg, &rp_in_socks, k, BPF_F_INGRESS) : SK_PASS;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
