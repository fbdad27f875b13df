// SPDX-License-Identifier: GPL-2.0-only
/* Kernel feature probes: sockmap/sockhash map creation, verdict attach mode,
 * kTLS through a loopback TCP_ULP probe, and the resulting engine choice. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/utsname.h>
#include <bpf/bpf.h>

#include "loader.h"
#include "probe.h"
#include "snigate_abi.h"

#ifndef TCP_ULP
#define TCP_ULP 31
#endif

static bool probe_map(enum bpf_map_type type, char *err, size_t n)
{
	int fd = bpf_map_create(type, NULL, sizeof(__u64), sizeof(__u64), 2, NULL);

	if (fd < 0) {
		if (err)
			snprintf(err, n, "%s", strerror(errno));
		return false;
	}
	close(fd);
	return true;
}

/* TCP_ULP needs an established socket: connect over loopback to a
 * listener bound to an ephemeral port, then try "tls" on the client. */
static bool probe_ktls(char *err, size_t n)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t al = sizeof(a);
	int l = -1, c = -1, s = -1;
	bool ok = false;

	l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (l < 0 || c < 0 || bind(l, (struct sockaddr *)&a, sizeof(a)) || listen(l, 1) ||
	    getsockname(l, (struct sockaddr *)&a, &al) ||
	    connect(c, (struct sockaddr *)&a, sizeof(a))) {
		snprintf(err, n, "loopback probe: %s", strerror(errno));
		goto out;
	}
	s = accept(l, NULL, NULL);
	if (setsockopt(c, IPPROTO_TCP, TCP_ULP, "tls", sizeof("tls")) == 0)
		ok = true;
	else
		snprintf(err, n, "TCP_ULP tls: %s", strerror(errno));
out:
	if (s >= 0)
		close(s);
	if (c >= 0)
		close(c);
	if (l >= 0)
		close(l);
	return ok;
}

void probe_kernel(struct probe_result *p)
{
	struct utsname u;

	memset(p, 0, sizeof(*p));
	if (uname(&u) == 0)
		sscanf(u.release, "%d.%d", &p->kmajor, &p->kminor);
	p->kernel_ok = p->kmajor > 6 || (p->kmajor == 6 && p->kminor >= 6);
	p->sockmap = probe_map(BPF_MAP_TYPE_SOCKMAP, NULL, 0);
	p->sockhash = probe_map(BPF_MAP_TYPE_SOCKHASH, p->sockhash_err, sizeof(p->sockhash_err));
	p->ktls = probe_ktls(p->ktls_err, sizeof(p->ktls_err));
}

void probe_note_loader(struct probe_result *p, const struct loader *l)
{
	p->verdict = l && l->verdict_attached;
	p->verdict_link = l && l->verdict_link >= 0;
}

int probe_choose_engine(const struct probe_result *p, int requested, char *why, size_t n)
{
	if (requested == SNG_ENGINE_USERSPACE) {
		snprintf(why, n, "userspace engine (--engine=userspace)");
		return SNG_ENGINE_USERSPACE;
	}
	if (!p->sockhash || !p->verdict) {
		if (requested == SNG_ENGINE_SOCKMAP) {
			snprintf(why, n, "--engine=sockmap but the kernel %s",
				 !p->sockhash ? "cannot create a sockhash" :
				 "refused the sk_skb verdict attach");
			return -ENOTSUP;
		}
		snprintf(why, n, "userspace engine: %s", !p->sockhash ?
			 "no sockhash map in this kernel" : "sk_skb verdict attach failed");
		return SNG_ENGINE_USERSPACE;
	}
	if (!p->kernel_ok && requested != SNG_ENGINE_SOCKMAP) {
		snprintf(why, n, "userspace engine: kernel %d.%d < 6.6 has verdict-only sockmap "
			 "data stalls (use --engine=sockmap to force)", p->kmajor, p->kminor);
		return SNG_ENGINE_USERSPACE;
	}
	snprintf(why, n, "sockmap engine: kernel %d.%d, sockhash + sk_skb verdict attached with %s%s",
		 p->kmajor, p->kminor, p->verdict_link ? "bpf_link" : "bpf_prog_attach",
		 requested == SNG_ENGINE_SOCKMAP ? " (--engine=sockmap)" : " (auto)");
	return SNG_ENGINE_SOCKMAP;
}
