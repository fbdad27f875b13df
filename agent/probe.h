/* SPDX-License-Identifier: GPL-2.0-only */
/* Kernel feature probes at start: sockmap/sockhash, the sk_skb verdict
 * attach (link or legacy), kTLS (TCP_ULP "tls"), and the engine choice. */
#ifndef SNIGATE_PROBE_H
#define SNIGATE_PROBE_H

#include <stdbool.h>
#include <stddef.h>

struct loader;

struct probe_result {
	int kmajor, kminor;  /* uname release */
	bool kernel_ok;      /* >= 6.6: verdict-only sockmap fixes (facts 1.9) */
	bool sockmap;        /* BPF_MAP_TYPE_SOCKMAP can be created */
	bool sockhash;       /* BPF_MAP_TYPE_SOCKHASH can be created */
	bool verdict;        /* sng_verdict is attached to sng_socks */
	bool verdict_link;   /* ... with a bpf_link (6.10+) */
	bool ktls;           /* setsockopt(TCP_ULP, "tls") works */
	char sockhash_err[64];
	char ktls_err[64];
};

/* Probe what does not need the snigate object (kernel version, map types,
 * kTLS). Never fails: unknown features read as absent. */
void probe_kernel(struct probe_result *p);

/* Record the verdict attach outcome of @l into @p. */
void probe_note_loader(struct probe_result *p, const struct loader *l);

/* Choose the engine for @requested (enum sng_engine) given @p: AUTO gives
 * SOCKMAP when the verdict is attached and the kernel is new enough, else
 * USERSPACE; SOCKMAP without support is an error (-ENOTSUP). Writes a
 * one-line reason into @why. Returns the engine or -ENOTSUP. */
int probe_choose_engine(const struct probe_result *p, int requested, char *why, size_t n);

#endif
