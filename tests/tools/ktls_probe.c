// SPDX-License-Identifier: GPL-2.0-only
/* ktls_probe: report the kernel features snigate relies on (sockmap, sockhash,
 * sk_skb verdict attach, sk_msg, sockops, sockmap bpf_link) and prove kTLS works.
 *
 * The BPF part uses libbpf_probe_bpf_{map,prog}_type() plus real attaches of
 * a two-instruction program. The kTLS part runs in a private network namespace
 * over loopback TCP with a fixed AES-GCM-128 key:
 *   1. TLS 1.3, kernel TX -> kernel RX, 64 KiB pattern checked byte for byte;
 *   2. TLS 1.2, kernel TX -> raw socket, the record decrypted with OpenSSL;
 *   3. TLS 1.2, record encrypted with OpenSSL -> kernel RX;
 * then /proc/net/tls_stat must count exactly those software TX/RX contexts.
 *
 * Usage: ktls_probe [--features] [--ktls] [--require-ktls] [-v]
 *   (no selection = both). One "name: yes|no (detail)" line per feature.
 * Exit: 0 = mandatory features present (and kTLS works if --require-ktls),
 *       1 = a mandatory feature is missing or kTLS is broken, 2 = usage/setup error.
 */
#include <errno.h>
#include <getopt.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/tls.h>
#include <openssl/evp.h>

#ifndef SOL_TLS
#define SOL_TLS 282
#endif

#define KTLS_BULK (64 * 1024)
#define KTLS_CHUNK (16 * 1024)
#define IO_TIMEOUT_S 5

static bool verbose;

/* result: print one "name: yes|no (detail)" line; returns @ok. */
static bool result(const char *name, bool ok, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static bool result(const char *name, bool ok, const char *fmt, ...)
{
	char detail[256] = "";
	va_list ap;

	if (fmt) {
		va_start(ap, fmt);
		vsnprintf(detail, sizeof(detail), fmt, ap);
		va_end(ap);
	}
	printf("%-24s %s%s%s%s\n", name, ok ? "yes" : "no", detail[0] ? " (" : "", detail,
	       detail[0] ? ")" : "");
	return ok;
}

static int libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	if (!verbose)
		return 0;
	return vfprintf(stderr, fmt, ap);
}

/* ---- BPF features ------------------------------------------------------- */

/* "r0 = 1 (SK_PASS); exit": verifies as sk_skb, sk_msg and sockops. */
static const struct bpf_insn pass_insns[] = {
	{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = 1 },
	{ .code = BPF_JMP | BPF_EXIT },
};

/* load_pass: load pass_insns as @type; returns an fd or -errno. */
static int load_pass(enum bpf_prog_type type, const char *name)
{
	int fd = bpf_prog_load(type, name, "GPL", pass_insns, 2, NULL);

	return fd < 0 ? -errno : fd;
}

/* report_probe: print a libbpf_probe_bpf_*_type() answer @r (1 = supported,
 * 0 = not, <0 = probe error -errno); returns true when supported.
 */
static bool report_probe(const char *name, int r)
{
	if (r < 0)
		return result(name, false, "probe failed: %s", strerror(-r));
	return result(name, r == 1, r == 1 ? NULL : "kernel rejects the type");
}

/* probe_attach: load a @ptype pass program and attach it to a new @mtype map
 * with @atype, through bpf_prog_attach() or (@link) bpf_link_create().
 * Returns 0 on success or -errno of the failing step; *step names it.
 */
static int probe_attach(enum bpf_map_type mtype, enum bpf_prog_type ptype,
			enum bpf_attach_type atype, bool link, const char **step)
{
	int map_fd, prog_fd = -1, link_fd = -1, err;

	*step = "map create";
	map_fd = bpf_map_create(mtype, "sng_probe_map", 4, 4, 1, NULL);
	if (map_fd < 0)
		return -errno;
	*step = "prog load";
	prog_fd = load_pass(ptype, "sng_probe");
	if (prog_fd < 0) {
		err = prog_fd;
		goto cleanup;
	}
	if (link) {
		*step = "bpf_link_create";
		link_fd = bpf_link_create(prog_fd, map_fd, atype, NULL);
		err = link_fd < 0 ? -errno : 0;
	} else {
		*step = "bpf_prog_attach";
		err = bpf_prog_attach(prog_fd, map_fd, atype, 0) ? -errno : 0;
		if (!err)
			bpf_prog_detach2(prog_fd, map_fd, atype);
	}
cleanup:
	if (link_fd >= 0)
		close(link_fd);
	if (prog_fd >= 0)
		close(prog_fd);
	close(map_fd);
	return err;
}

/* report_attach: run probe_attach() and print the outcome as feature @name. */
static bool report_attach(const char *name, enum bpf_map_type mtype, enum bpf_prog_type ptype,
			  enum bpf_attach_type atype, bool link, const char *what)
{
	const char *step;
	int err = probe_attach(mtype, ptype, atype, link, &step);

	if (err)
		return result(name, false, "%s: %s", step, strerror(-err));
	return result(name, true, "%s", what);
}

/* probe_features: print every BPF feature; returns true when the mandatory
 * ones (sockmap, sockhash, sk_skb, stream verdict attach) are all present.
 */
static bool probe_features(void)
{
	bool ok = true;

	ok &= report_probe("sockmap", libbpf_probe_bpf_map_type(BPF_MAP_TYPE_SOCKMAP, NULL));
	ok &= report_probe("sockhash", libbpf_probe_bpf_map_type(BPF_MAP_TYPE_SOCKHASH, NULL));
	ok &= report_probe("sk_skb", libbpf_probe_bpf_prog_type(BPF_PROG_TYPE_SK_SKB, NULL));
	ok &= report_attach("sk_skb_verdict_sockmap", BPF_MAP_TYPE_SOCKMAP, BPF_PROG_TYPE_SK_SKB,
			    BPF_SK_SKB_STREAM_VERDICT, false, "bpf_prog_attach to sockmap");
	ok &= report_attach("sk_skb_verdict_sockhash", BPF_MAP_TYPE_SOCKHASH, BPF_PROG_TYPE_SK_SKB,
			    BPF_SK_SKB_STREAM_VERDICT, false, "bpf_prog_attach to sockhash");
	/* Informational from here on: snigate has fallbacks or does not need them. */
	report_attach("sk_skb_verdict", BPF_MAP_TYPE_SOCKMAP, BPF_PROG_TYPE_SK_SKB,
		      BPF_SK_SKB_VERDICT, false, "BPF_SK_SKB_VERDICT, 5.13+");
	report_probe("sk_msg", libbpf_probe_bpf_prog_type(BPF_PROG_TYPE_SK_MSG, NULL));
	report_attach("sk_msg_verdict", BPF_MAP_TYPE_SOCKHASH, BPF_PROG_TYPE_SK_MSG,
		      BPF_SK_MSG_VERDICT, false, "bpf_prog_attach to sockhash");
	report_probe("sockops", libbpf_probe_bpf_prog_type(BPF_PROG_TYPE_SOCK_OPS, NULL));
	report_attach("sockmap_link", BPF_MAP_TYPE_SOCKMAP, BPF_PROG_TYPE_SK_SKB,
		      BPF_SK_SKB_STREAM_VERDICT, true, "bpf_link_create on sockmap, 6.10+");
	return ok;
}

/* ---- kTLS ------------------------------------------------------------------ */

struct ktls_key {
	struct tls12_crypto_info_aes_gcm_128 ci;
};

/* ktls_key_init: the fixed test key; @version TLS_1_2_VERSION or TLS_1_3_VERSION. */
static void ktls_key_init(struct ktls_key *k, unsigned int version)
{
	int i;

	memset(k, 0, sizeof(*k));
	k->ci.info.version = version;
	k->ci.info.cipher_type = TLS_CIPHER_AES_GCM_128;
	for (i = 0; i < TLS_CIPHER_AES_GCM_128_KEY_SIZE; i++)
		k->ci.key[i] = (unsigned char)(0x10 + i);
	for (i = 0; i < TLS_CIPHER_AES_GCM_128_IV_SIZE; i++)
		k->ci.iv[i] = (unsigned char)(0xa0 + i);
	for (i = 0; i < TLS_CIPHER_AES_GCM_128_SALT_SIZE; i++)
		k->ci.salt[i] = (unsigned char)(0xc0 + i);
	/* A non-zero starting sequence number checks that it reaches the AAD. */
	k->ci.rec_seq[7] = 5;
}

/* lo_up: bring up loopback in the current (fresh) netns; 0 or -errno. */
static int lo_up(void)
{
	struct ifreq ifr = { 0 };
	int fd, err = 0;

	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "lo");
	if (ioctl(fd, SIOCGIFFLAGS, &ifr) < 0)
		err = -errno;
	ifr.ifr_flags |= IFF_UP;
	if (!err && ioctl(fd, SIOCSIFFLAGS, &ifr) < 0)
		err = -errno;
	close(fd);
	return err;
}

/* tcp_pair: a connected loopback TCP pair (*cli, *srv); 0 or -errno. */
static int tcp_pair(int *cli, int *srv)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct timeval tv = { .tv_sec = IO_TIMEOUT_S };
	socklen_t len = sizeof(a);
	int lfd, c = -1, s = -1, err = 0;

	lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (lfd < 0)
		return -errno;
	if (bind(lfd, (struct sockaddr *)&a, sizeof(a)) || listen(lfd, 1) ||
	    getsockname(lfd, (struct sockaddr *)&a, &len)) {
		err = -errno;
		goto cleanup;
	}
	c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c < 0 || connect(c, (struct sockaddr *)&a, sizeof(a))) {
		err = -errno;
		goto cleanup;
	}
	s = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	if (s < 0) {
		err = -errno;
		goto cleanup;
	}
	setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(c, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(s, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	*cli = c;
	*srv = s;
	c = s = -1;
cleanup:
	if (s >= 0)
		close(s);
	if (c >= 0)
		close(c);
	close(lfd);
	return err;
}

/* ktls_set: attach the "tls" ULP and install @k for @dir (TLS_TX / TLS_RX).
 * Returns 0 or -errno; *step names the failing call.
 */
static int ktls_set(int fd, int dir, const struct ktls_key *k, const char **step)
{
	*step = "setsockopt(TCP_ULP, \"tls\")";
	if (setsockopt(fd, IPPROTO_TCP, TCP_ULP, "tls", sizeof("tls")) && errno != EEXIST)
		return -errno;
	*step = dir == TLS_TX ? "setsockopt(SOL_TLS, TLS_TX)" : "setsockopt(SOL_TLS, TLS_RX)";
	if (setsockopt(fd, SOL_TLS, dir, &k->ci, sizeof(k->ci)))
		return -errno;
	return 0;
}

/* io_all: send or receive exactly @len bytes; 0, -errno, or -EPIPE on EOF. */
static int io_all(int fd, void *buf, size_t len, bool tx)
{
	size_t done = 0;
	ssize_t n;

	while (done < len) {
		n = tx ? send(fd, (char *)buf + done, len - done, MSG_NOSIGNAL)
		       : recv(fd, (char *)buf + done, len - done, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EPIPE;
		done += (size_t)n;
	}
	return 0;
}

static void fill_pattern(unsigned char *p, size_t len, unsigned int seed)
{
	size_t i;

	for (i = 0; i < len; i++)
		p[i] = (unsigned char)((i * 131 + seed + (i >> 8)) & 0xff);
}

/* gcm: AES-128-GCM one shot with OpenSSL. @enc: encrypt @in into @out and
 * write the tag to @tag; else decrypt and verify @tag. Returns 0 or -EBADMSG.
 */
static int gcm(bool enc, const unsigned char *key, const unsigned char nonce[12],
	       const unsigned char *aad, int aad_len, const unsigned char *in, int len,
	       unsigned char *out, unsigned char tag[16])
{
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	int n, ok;

	if (!ctx)
		return -ENOMEM;
	ok = EVP_CipherInit_ex(ctx, EVP_aes_128_gcm(), NULL, key, nonce, enc) &&
	     EVP_CipherUpdate(ctx, NULL, &n, aad, aad_len) &&
	     EVP_CipherUpdate(ctx, out, &n, in, len) && n == len;
	if (ok && !enc)
		ok = EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, 16, tag);
	ok = ok && EVP_CipherFinal_ex(ctx, out + n, &n);
	if (ok && enc)
		ok = EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, 16, tag);
	EVP_CIPHER_CTX_free(ctx);
	return ok ? 0 : -EBADMSG;
}

/* tls12_aad: seq(8) || type || version(2) || length(2), RFC 5246 6.2.3.3. */
static void tls12_aad(unsigned char aad[13], const unsigned char seq[8], unsigned int len)
{
	memcpy(aad, seq, 8);
	aad[8] = 0x17;
	aad[9] = 0x03;
	aad[10] = 0x03;
	aad[11] = (unsigned char)(len >> 8);
	aad[12] = (unsigned char)len;
}

static const char hello[] = "hello-ktls from snigate ktls_probe";
#define HELLO_LEN ((int)sizeof(hello) - 1)

/* test_bulk: TLS 1.3 kernel TX -> kernel RX, KTLS_BULK bytes in chunks. */
static int test_bulk(char *err, size_t errlen)
{
	static unsigned char tx[KTLS_BULK], rx[KTLS_BULK];
	struct ktls_key k;
	const char *step;
	int c, s, r;
	size_t off;

	r = tcp_pair(&c, &s);
	if (r) {
		snprintf(err, errlen, "loopback TCP: %s", strerror(-r));
		return r;
	}
	ktls_key_init(&k, TLS_1_3_VERSION);
	r = ktls_set(c, TLS_TX, &k, &step);
	if (!r)
		r = ktls_set(s, TLS_RX, &k, &step);
	if (r) {
		snprintf(err, errlen, "%s: %s", step, strerror(-r));
		goto cleanup;
	}
	fill_pattern(tx, sizeof(tx), 7);
	memset(rx, 0, sizeof(rx));
	/* Chunked so the sender never blocks on a receiver that is not reading. */
	for (off = 0; off < sizeof(tx); off += KTLS_CHUNK) {
		r = io_all(c, tx + off, KTLS_CHUNK, true);
		if (!r)
			r = io_all(s, rx + off, KTLS_CHUNK, false);
		if (r) {
			snprintf(err, errlen, "TLS 1.3 transfer at byte %zu: %s", off, strerror(-r));
			goto cleanup;
		}
	}
	if (memcmp(tx, rx, sizeof(tx))) {
		snprintf(err, errlen, "TLS 1.3 kernel RX returned different bytes");
		r = -EBADMSG;
	}
cleanup:
	close(c);
	close(s);
	return r;
}

/* test_tx_wire: TLS 1.2 kernel TX; read the raw record, decrypt with OpenSSL. */
static int test_tx_wire(char *err, size_t errlen)
{
	unsigned char rec[5 + 8 + HELLO_LEN + 16], nonce[12], aad[13], plain[HELLO_LEN + 16];
	struct ktls_key k;
	const char *step;
	int c, s, r;

	r = tcp_pair(&c, &s);
	if (r) {
		snprintf(err, errlen, "loopback TCP: %s", strerror(-r));
		return r;
	}
	ktls_key_init(&k, TLS_1_2_VERSION);
	r = ktls_set(c, TLS_TX, &k, &step);
	if (r) {
		snprintf(err, errlen, "%s: %s", step, strerror(-r));
		goto cleanup;
	}
	r = io_all(c, (void *)hello, HELLO_LEN, true);
	if (!r)
		r = io_all(s, rec, sizeof(rec), false);
	if (r) {
		snprintf(err, errlen, "TLS 1.2 TX record: %s", strerror(-r));
		goto cleanup;
	}
	/* Header: application_data, TLS 1.2, length = nonce + data + tag. */
	if (rec[0] != 0x17 || rec[1] != 3 || rec[2] != 3 ||
	    ((rec[3] << 8) | rec[4]) != 8 + HELLO_LEN + 16) {
		snprintf(err, errlen, "TLS 1.2 TX record header %02x %02x%02x len %u", rec[0], rec[1],
			 rec[2], (rec[3] << 8) | rec[4]);
		r = -EBADMSG;
		goto cleanup;
	}
	if (!memcmp(rec + 13, hello, HELLO_LEN)) {
		snprintf(err, errlen, "TLS 1.2 TX sent plaintext");
		r = -EBADMSG;
		goto cleanup;
	}
	memcpy(nonce, k.ci.salt, 4);
	memcpy(nonce + 4, rec + 5, 8); /* explicit nonce from the record */
	tls12_aad(aad, k.ci.rec_seq, HELLO_LEN);
	r = gcm(false, k.ci.key, nonce, aad, sizeof(aad), rec + 13, HELLO_LEN, plain,
		rec + 13 + HELLO_LEN);
	if (r || memcmp(plain, hello, HELLO_LEN)) {
		snprintf(err, errlen, "OpenSSL cannot authenticate the kernel's TLS 1.2 record");
		r = -EBADMSG;
	}
cleanup:
	close(c);
	close(s);
	return r;
}

/* test_rx_wire: a TLS 1.2 record sealed by OpenSSL must decrypt in kernel RX. */
static int test_rx_wire(char *err, size_t errlen)
{
	unsigned char rec[5 + 8 + HELLO_LEN + 16], nonce[12], aad[13], got[HELLO_LEN];
	struct ktls_key k;
	const char *step;
	int c, s, r;

	r = tcp_pair(&c, &s);
	if (r) {
		snprintf(err, errlen, "loopback TCP: %s", strerror(-r));
		return r;
	}
	ktls_key_init(&k, TLS_1_2_VERSION);
	r = ktls_set(c, TLS_RX, &k, &step);
	if (r) {
		snprintf(err, errlen, "%s: %s", step, strerror(-r));
		goto cleanup;
	}
	rec[0] = 0x17;
	rec[1] = rec[2] = 3;
	rec[3] = (unsigned char)((8 + HELLO_LEN + 16) >> 8);
	rec[4] = (unsigned char)(8 + HELLO_LEN + 16);
	memcpy(rec + 5, k.ci.iv, 8);
	memcpy(nonce, k.ci.salt, 4);
	memcpy(nonce + 4, k.ci.iv, 8);
	tls12_aad(aad, k.ci.rec_seq, HELLO_LEN);
	r = gcm(true, k.ci.key, nonce, aad, sizeof(aad), (const unsigned char *)hello, HELLO_LEN,
		rec + 13, rec + 13 + HELLO_LEN);
	if (r) {
		snprintf(err, errlen, "OpenSSL AES-GCM seal failed");
		goto cleanup;
	}
	r = io_all(s, rec, sizeof(rec), true);
	if (!r)
		r = io_all(c, got, sizeof(got), false);
	if (r) {
		snprintf(err, errlen, "TLS 1.2 RX of an OpenSSL record: %s", strerror(-r));
		goto cleanup;
	}
	if (memcmp(got, hello, HELLO_LEN)) {
		snprintf(err, errlen, "kernel RX decrypted different bytes");
		r = -EBADMSG;
	}
cleanup:
	close(c);
	close(s);
	return r;
}

/* tls_stat: value of counter @name in /proc/net/tls_stat, or -1. */
static long tls_stat(const char *name)
{
	char key[64];
	long v, found = -1;
	FILE *f = fopen("/proc/net/tls_stat", "re");

	if (!f)
		return -1;
	while (fscanf(f, "%63s %ld", key, &v) == 2) {
		if (!strcmp(key, name)) {
			found = v;
			break;
		}
	}
	fclose(f);
	return found;
}

/* probe_ktls: 1 = kTLS works, 0 = absent (clean ENOENT etc.), -1 = broken. */
static int probe_ktls(void)
{
	char err[256] = "";
	long txsw, rxsw;
	int r;

	if (unshare(CLONE_NEWNET)) {
		result("ktls", false, "unshare(CLONE_NEWNET): %s (needs root)", strerror(errno));
		return -1;
	}
	r = lo_up();
	if (r) {
		result("ktls", false, "bring up lo: %s", strerror(-r));
		return -1;
	}
	r = test_bulk(err, sizeof(err));
	if (r == -ENOENT || r == -ENOPROTOOPT || r == -EOPNOTSUPP) {
		/* No "tls" ULP registered: CONFIG_TLS off or the module not loadable. */
		result("ktls", false, "absent: %s; kernel without CONFIG_TLS or tls.ko", err);
		return 0;
	}
	if (!r)
		r = test_tx_wire(err, sizeof(err));
	if (!r)
		r = test_rx_wire(err, sizeof(err));
	if (r) {
		result("ktls", false, "BROKEN: %s", err);
		return -1;
	}
	/* Fresh netns: exactly the contexts above (bulk TX + wire TX; bulk RX + wire RX). */
	txsw = tls_stat("TlsTxSw");
	rxsw = tls_stat("TlsRxSw");
	if (txsw >= 0 && (txsw != 2 || rxsw != 2)) {
		result("ktls", false, "BROKEN: /proc/net/tls_stat TlsTxSw %ld TlsRxSw %ld, want 2 2",
		       txsw, rxsw);
		return -1;
	}
	result("ktls", true,
	       "AES-GCM-128 TLS 1.3 %d B kernel->kernel; TLS 1.2 TX and RX checked against OpenSSL; "
	       "tls_stat TlsTxSw %ld TlsRxSw %ld",
	       KTLS_BULK, txsw, rxsw);
	return 1;
}

/* ktls_sockhash_try: a fresh pair's server socket in a new sockhash with
 * an sk_skb verdict program (as the sockmap engine's sockets are), and kTLS
 * keys installed on it: after the insert (@ulp_first false: TLS_TX, then
 * TLS_RX, stopping at the first refusal) or TLS_TX before it. 0 or -errno;
 * *step names the failing call. */
static int ktls_sockhash_try(bool ulp_first, const char **step)
{
	struct ktls_key k;
	int map, prog, c = -1, s = -1, key = 0, r;

	ktls_key_init(&k, TLS_1_3_VERSION);
	*step = "sockhash create";
	map = bpf_map_create(BPF_MAP_TYPE_SOCKHASH, "sng_probe_kh", 4, 4, 1, NULL);
	if (map < 0)
		return -errno;
	*step = "verdict load";
	prog = load_pass(BPF_PROG_TYPE_SK_SKB, "sng_probe_kv");
	if (prog < 0) {
		r = prog;
		goto out;
	}
	*step = "verdict attach";
	r = bpf_prog_attach(prog, map, BPF_SK_SKB_VERDICT, 0) ? -errno : 0;
	if (!r) {
		*step = "loopback TCP";
		r = tcp_pair(&c, &s);
	}
	if (!r && ulp_first)
		r = ktls_set(s, TLS_TX, &k, step);
	if (!r) {
		*step = "sockhash insert";
		r = bpf_map_update_elem(map, &key, &s, BPF_ANY) ? -errno : 0;
	}
	if (!r && !ulp_first)
		r = ktls_set(s, TLS_TX, &k, step);
	if (!r && !ulp_first)
		r = ktls_set(s, TLS_RX, &k, step);
out:
	if (c >= 0)
		close(c);
	if (s >= 0)
		close(s);
	if (prog >= 0)
		close(prog);
	close(map);
	return r;
}

/* probe_ktls_sockhash: can a kTLS socket be spliced by the sockmap engine?
 * Informational: "no" is the answer of every kernel we test (Debian 6.1,
 * 6.12, 7.3: a kTLS socket is refused by the sockhash, a sockhash socket
 * refuses TLS_TX and TLS_RX), which keeps Terminate's plaintext leg a
 * userspace copy (issue 5, README). A "yes" here means that can change. */
static void probe_ktls_sockhash(void)
{
	const char *s1 = "", *s2 = "";
	int a = ktls_sockhash_try(false, &s1), b = ktls_sockhash_try(true, &s2);

	if (!a || !b)
		result("ktls_sockhash", true, "kTLS keys %s", !a ? "on a socket already in a sockhash" :
		       "on a socket, then the sockhash insert");
	else
		result("ktls_sockhash", false, "insert, then keys: %s: %s; keys, then insert: %s: %s",
		       s1, strerror(-a), s2, strerror(-b));
}

static void usage(FILE *f)
{
	fprintf(f, "usage: ktls_probe [--features] [--ktls] [--require-ktls] [-v]\n"
		   "  no selection: both. Exit 0 = mandatory features present, 1 = missing\n"
		   "  or kTLS broken (or absent with --require-ktls), 2 = usage error.\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "features", no_argument, NULL, 'f' }, { "ktls", no_argument, NULL, 'k' },
		{ "require-ktls", no_argument, NULL, 'r' }, { "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },	    { NULL, 0, NULL, 0 },
	};
	bool do_feat = false, do_ktls = false, require_ktls = false, ok = true;
	struct utsname u;
	int c, k;

	while ((c = getopt_long(argc, argv, "fkrvh", opts, NULL)) != -1) {
		switch (c) {
		case 'f':
			do_feat = true;
			break;
		case 'k':
			do_ktls = true;
			break;
		case 'r':
			require_ktls = true;
			break;
		case 'v':
			verbose = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		usage(stderr);
		return 2;
	}
	if (!do_feat && !do_ktls)
		do_feat = do_ktls = true;
	libbpf_set_print(libbpf_print);
	if (!uname(&u))
		printf("%-24s %s\n", "kernel", u.release);
	if (do_feat)
		ok &= probe_features();
	if (do_ktls || require_ktls) {
		k = probe_ktls();
		if (k < 0 || (k == 0 && require_ktls))
			ok = false;
		if (k > 0)
			probe_ktls_sockhash();
	}
	fflush(stdout);
	return ok ? 0 : 1;
}
