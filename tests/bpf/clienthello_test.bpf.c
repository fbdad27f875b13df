// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* BPF proof of the shared ClientHello parser: an sk_skb program that runs
 * sng_ch_parse_record() on its skb and stores the outcome for the loader. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

#include "clienthello_test.h"

/* Test-only map (not part of bpf/lib/maps.h): one result record. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct sng_cht_out);
} sng_cht_out SEC(".maps");

/* The loader inserts the receiving socket of each test connection here. */
struct {
	__uint(type, BPF_MAP_TYPE_SOCKMAP);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} sng_cht_socks SEC(".maps");

/* Attached as BPF_SK_SKB_VERDICT on sng_cht_socks, the data path's attach
 * type, so it parses a real first skb. Only the first skb after a reset
 * (runs == 0) is parsed; later ones are counted. It always passes. */
SEC("sk_skb")
int sng_cht_parse(struct __sk_buff *skb)
{
	struct sng_ch_src src = { .skb = skb };
	struct sng_cht_out *o;
	__u32 key = 0;

	o = bpf_map_lookup_elem(&sng_cht_out, &key);
	if (!o)
		return SK_PASS;
	if (o->runs++ || skb->len == 0)
		return SK_PASS;
	__builtin_memset(&o->info, 0, sizeof(o->info));
	o->skb_len = skb->len;
	o->copy_rc = 0;
	o->rc = sng_ch_parse_record(&src, &o->info);
	if (o->rc == SNG_OK)
		o->copy_rc = sng_ch_copy_sni(&src, &o->info, o->sni);
	return SK_PASS;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
