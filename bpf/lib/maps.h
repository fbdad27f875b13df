/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Every snigate BPF map, defined once. Names carry the sng_ prefix and fit
 * the kernel's 15-character object names. Keys/values: include/snigate_abi.h. */
#ifndef SNG_BPF_MAPS_H
#define SNG_BPF_MAPS_H

#include "snigate_abi.h"
#include "lib/clienthello.h" /* struct sng_ch_info (sng_chscratch) */

/* Route table: SNI (reversed) -> listener/route/set. Written by the agent. */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, SNG_MAX_ROUTE_ENTRIES);
	__type(key, struct sng_route_key);
	__type(value, struct sng_route_val);
} sng_routes SEC(".maps");

/* Weighted backend sets, both generations: key gen * SNG_MAX_SETS + id.
 * Hash maps without preallocation: memory follows the policy size. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 2 * SNG_MAX_SETS);
	__type(key, __u32);
	__type(value, struct sng_set);
} sng_sets SEC(".maps");

/* Backends with their endpoints, both generations. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 2 * SNG_MAX_BACKEND_ENTRIES);
	__type(key, __u32);
	__type(value, struct sng_backend);
} sng_backends SEC(".maps");

/* Active generation and ABI version (one element). Mmapable: the agent
 * reads it twice per routing decision (agent/lookup.c) from its mapping
 * instead of with two bpf() calls. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct sng_config);
} sng_config SEC(".maps");

/* Spliced sockets, keyed by socket cookie; the verdict redirects here. */
struct {
	__uint(type, BPF_MAP_TYPE_SOCKHASH);
	__uint(max_entries, SNG_MAX_CONNS);
	__type(key, __u64);
	__type(value, __u64);
} sng_socks SEC(".maps");

/* Per-socket control, written by the agent only. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, SNG_MAX_CONNS);
	__type(key, __u64);
	__type(value, struct sng_ctl);
} sng_ctl SEC(".maps");

/* Per-socket byte counters, written by BPF only. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, SNG_MAX_CONNS);
	__type(key, __u64);
	__type(value, struct sng_cnt);
} sng_cnt SEC(".maps");

/* Per-CPU counters per listener and per route (the agent creates the
 * entries when it writes a policy; BPF only updates existing ones). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, SNG_MAX_LISTENERS);
	__type(key, __u32);
	__type(value, struct sng_stats);
} sng_lstats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, SNG_MAX_ROUTES);
	__type(key, __u32);
	__type(value, struct sng_stats);
} sng_rstats SEC(".maps");

/* ClientHello outcomes of the in-kernel parser on the first skb of each
 * spliced client socket, by -reason (diagnostic: the agent's host build of
 * the same parser made the routing decision). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, SNG_R__COUNT);
	__type(key, __u32);
	__type(value, __u64);
} sng_chstats SEC(".maps");

/* Verdict -> agent events (struct sng_event): a socket started passing. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} sng_events SEC(".maps");

/* Flow-control budget (struct sng_fc, one element), written by the agent. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct sng_fc);
} sng_fc SEC(".maps");

/* Per-CPU scratch for the in-kernel ClientHello walk. The parser's state
 * in a map value instead of on the stack keeps the verifier's state count
 * small (on the stack it ran past the 1M-instruction limit). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct sng_ch_info);
} sng_chscratch SEC(".maps");

#endif
