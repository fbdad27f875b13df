/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* The one TLS ClientHello parser, written once: compiled into BPF objects
 * (bytes read from an skb) and into host code (bytes read from a buffer). */
#ifndef SNG_CLIENTHELLO_H
#define SNG_CLIENTHELLO_H

/*
 * Only struct sng_ch_src (an skb in BPF, a buffer on the host), SNG_CH_LOAD
 * and the calling convention of the one global subprogram differ between the
 * two builds; every length check and every byte walked is this one source.
 * Verifier-friendly by construction: no recursion, every loop has a constant
 * bound, every offset is checked against a declared length before it is
 * loaded, and a load that fails (bytes not there yet) always means
 * SNG_R_HELLO_TRUNCATED. A body is walked only once all of it is present,
 * so a short skb or buffer can never produce an SNI.
 *
 * Entry points: sng_ch_parse_record() (BPF: the first TLS record of an skb;
 * also built on the host for the differential tests), sng_ch_parse_body()
 * (a reassembled handshake body: agent/hello.c), sng_ch_record() and
 * sng_ch_hs_header() (framing checks shared with agent/hello.c) and
 * sng_ch_copy_sni().
 *
 * Return-value table (every sng_ch_* function returning int):
 *
 *   SNG_OK                 complete, well formed, exactly one host_name of
 *                          1..SNG_HOSTNAME_MAX bytes (sni_off/sni_len)
 *   SNG_R_HELLO_TRUNCATED  consistent so far but bytes are missing; in the
 *                          BPF entry also "the hello continues in a later
 *                          record" (rec_len < 4 + hello_len): not sound there
 *   SNG_R_NOT_TLS          first byte is not 22 (handshake record)
 *   SNG_R_BAD_VERSION      record version not 3.0..3.4, or
 *                          ClientHello.legacy_version not 3.1..3.4
 *   SNG_R_NOT_HELLO        handshake type is not 1 (client_hello)
 *   SNG_R_MALFORMED        a length is inconsistent: record length 0 or over
 *                          2^14 (RFC 8446 5.1), body shorter than the minimal
 *                          ClientHello, session id over 32, odd or empty
 *                          cipher suites, no compression method, extension
 *                          block not ending the body, extension overrunning
 *                          its block, a duplicated server_name, ALPN or
 *                          supported_versions extension, more than
 *                          SNG_CH_MAX_NAMES server_name entries, a
 *                          ClientHello not ending on its record's boundary
 *   SNG_R_TOO_BIG          handshake message over SNG_HELLO_MAX bytes, or
 *                          more than SNG_CH_MAX_EXT extensions
 *   SNG_R_NO_SNI           no server_name extension or no host_name entry
 *   SNG_R_BAD_SNI          host_name empty or longer than SNG_HOSTNAME_MAX
 *   SNG_R_SEVERAL_SNI      more than one host_name entry (RFC 6066 3)
 *
 * NO_SNI, BAD_SNI and SEVERAL_SNI are reported only after the whole hello
 * was walked and found well formed, so sng_ch_info (ALPN, tls13, ...) is
 * valid for them too. Structural errors stop the walk at once.
 * Name bytes are raw: lowercasing and character rules belong to
 * policy_sni_normalize().
 *
 * Build requirements: BPF: vmlinux.h and <bpf/bpf_helpers.h> first, data
 * from a struct __sk_buff. Host: nothing (string.h is included here).
 */

#include "snigate_abi.h"

#define SNG_TLS_RECORD_MAX 16384 /* TLSPlaintext.length <= 2^14 */
#define SNG_TLS_REC_HDR 5        /* type, version(2), length(2) */
#define SNG_TLS_HS_HDR 4         /* msg_type, length(3) */
/* Smallest body: version(2) random(32) sid_len(1) cs_len(2) suite(2)
 * comp_len(1) method(1). */
#define SNG_CH_BODY_MIN 41
/* Extensions walked. Chrome sends about 18 (GREASE included); 64 costs the
 * verifier 5,942 processed instructions in tests/bpf/clienthello_test. */
#ifndef SNG_CH_MAX_EXT
#define SNG_CH_MAX_EXT 64
#endif
/* server_name entries walked; RFC 6066 allows one per name type. */
#ifndef SNG_CH_MAX_NAMES
#define SNG_CH_MAX_NAMES 4
#endif
/* supported_versions entries scanned for 0x0304 (GREASE + 1.3 + 1.2 are
 * typical); later entries are ignored for the tls13 flag only. */
#ifndef SNG_CH_MAX_VERSIONS
#define SNG_CH_MAX_VERSIONS 16
#endif

#define SNG_TLS_CT_HANDSHAKE 22
#define SNG_TLS_HS_CLIENT_HELLO 1
#define SNG_TLS_EXT_SERVER_NAME 0
#define SNG_TLS_EXT_ALPN 16
#define SNG_TLS_EXT_SUPPORTED_VERSIONS 43
#define SNG_TLS_SNI_HOST_NAME 0

enum sng_ch_flags {
	SNG_CH_F_TLS13 = 1 << 0,     /* supported_versions offers 0x0304 */
	SNG_CH_F_SNI_EXT = 1 << 1,   /* a server_name extension was seen */
	SNG_CH_F_HOST_NAME = 1 << 2, /* a host_name entry was seen */
	SNG_CH_F_ALPN = 1 << 3,      /* an ALPN extension was seen */
	SNG_CH_F_VERSIONS = 1 << 4,  /* a supported_versions ext was seen */
};

/* Parser output. Offsets are in the source the parser read (skb offset in
 * BPF, buffer offset on the host). In BPF, keep it in map memory (e.g. a
 * per-CPU scratch value): the verifier does not track map contents, so
 * the flags do not multiply verifier states. */
struct sng_ch_info {
	__u32 hello_len;      /* ClientHello body bytes (handshake hdr excluded) */
	__u32 rec_len;        /* first record's length (sng_ch_parse_record) */
	__u32 sni_off;        /* host_name bytes: valid when SNG_OK */
	__u32 alpn_off;       /* ProtocolNameList entries (after the list len) */
	__u16 sni_len;
	__u16 alpn_len;       /* 0: no ALPN */
	__u16 legacy_version; /* ClientHello.legacy_version */
	__u16 record_version; /* first record's version (sng_ch_parse_record) */
	__u16 n_ext;          /* extensions walked */
	__u8 flags;           /* enum sng_ch_flags */
	__s8 sni_err;         /* pending BAD_SNI / SEVERAL_SNI, else 0 */
	__u32 pad;
};
_Static_assert(sizeof(struct sng_ch_info) == 32, "sng_ch_info size");

#ifdef __bpf__

#define SNG_CH_INLINE static __always_inline

/* BPF source: the skb of an sk_skb (or tc) program; offset 0 is the first
 * byte of the TCP payload for sk_skb. Keep the struct on the stack: the
 * verifier tracks the spilled ctx pointer. */
struct sng_ch_src {
	struct __sk_buff *skb;
};

/* bpf_skb_load_bytes: @len must be a constant or a value with a proven
 * non-zero minimum (sockmap-facts 4.2); every call below passes either a
 * literal or a length checked to be in 1..N just before. */
#define SNG_CH_LOAD(src, off, dst, len) \
	bpf_skb_load_bytes((src)->skb, (off), (dst), (len))

/* One extension is parsed by a global (non-static, noinline) function: the
 * verifier checks it once, on its own, instead of once per loop iteration
 * and per path of the caller (157,844 processed instructions when inlined,
 * 5,942 this way; tests/sock/bpf_hello_check prints it). A global function
 * must receive the ctx itself, not a struct holding it. */
#define SNG_CH_SUBPROG __attribute__((noinline))
#define SNG_CH_SUB_SRC struct __sk_buff *
#define SNG_CH_SUB_ARG(src) ((src)->skb)
#define SNG_CH_SUB_OPEN(name, arg)                     \
	struct sng_ch_src name##_ = { .skb = (arg) }; \
	const struct sng_ch_src *name = &name##_

#else /* host */

#include <string.h>

#define SNG_CH_INLINE static inline __attribute__((always_inline))
#define SNG_CH_SUBPROG static inline
#define SNG_CH_SUB_SRC const struct sng_ch_src *
#define SNG_CH_SUB_ARG(src) (src)
#define SNG_CH_SUB_OPEN(name, arg) const struct sng_ch_src *name = (arg)

/* Host source: a byte buffer; the caller keeps ownership. */
struct sng_ch_src {
	const __u8 *buf;
	__u32 len;
};

/* Copy @len bytes at @off, or fail (-1) like bpf_skb_load_bytes does when
 * they are not all there. */
SNG_CH_INLINE int sng_ch_host_load(const struct sng_ch_src *src, __u32 off,
				   void *dst, __u32 len)
{
	if (off > src->len || len > src->len - off)
		return -1;
	memcpy(dst, src->buf + off, len);
	return 0;
}

#define SNG_CH_LOAD(src, off, dst, len) sng_ch_host_load((src), (off), (dst), (len))

#endif /* __bpf__ */

/* Big-endian 16-bit field at @b. */
SNG_CH_INLINE __u32 sng_ch_be16(const __u8 *b)
{
	return (__u32)b[0] << 8 | b[1];
}

/* Check the TLS record header at @off: handshake type, version 3.0..3.4,
 * length 1..2^14. The type is checked as soon as one byte is there and the
 * version as soon as three are, so HTTP or an SSLv2 hello is rejected
 * early. On success *@version and *@rec_len are set.
 * Returns 0 or SNG_R_HELLO_TRUNCATED / NOT_TLS / BAD_VERSION / MALFORMED. */
SNG_CH_INLINE int sng_ch_record(const struct sng_ch_src *src, __u32 off,
				__u16 *version, __u32 *rec_len)
{
	__u8 h[SNG_TLS_REC_HDR];
	__u32 n;

	if (SNG_CH_LOAD(src, off, h, 1))
		return SNG_R_HELLO_TRUNCATED;
	if (h[0] != SNG_TLS_CT_HANDSHAKE)
		return SNG_R_NOT_TLS;
	if (SNG_CH_LOAD(src, off, h, 3))
		return SNG_R_HELLO_TRUNCATED;
	/* RFC 5246 E.1: a client may send {3,0} as record version. */
	if (h[1] != 3 || h[2] > 4)
		return SNG_R_BAD_VERSION;
	if (SNG_CH_LOAD(src, off, h, SNG_TLS_REC_HDR))
		return SNG_R_HELLO_TRUNCATED;
	n = sng_ch_be16(h + 3);
	/* RFC 8446 5.1: no zero-length handshake fragments, and a record
	 * over 2^14 is record_overflow. */
	if (n == 0 || n > SNG_TLS_RECORD_MAX)
		return SNG_R_MALFORMED;
	*version = (__u16)sng_ch_be16(h + 1);
	*rec_len = n;
	return 0;
}

/* Check the handshake header: @h holds its first @have bytes (0..4).
 * On success *@body_len is the ClientHello body length.
 * Returns 0 or SNG_R_HELLO_TRUNCATED / NOT_HELLO / TOO_BIG / MALFORMED. */
SNG_CH_INLINE int sng_ch_hs_header(const __u8 *h, __u32 have, __u32 *body_len)
{
	__u32 n;

	if (have < 1)
		return SNG_R_HELLO_TRUNCATED;
	if (h[0] != SNG_TLS_HS_CLIENT_HELLO)
		return SNG_R_NOT_HELLO;
	if (have < SNG_TLS_HS_HDR)
		return SNG_R_HELLO_TRUNCATED;
	n = (__u32)h[1] << 16 | (__u32)h[2] << 8 | h[3];
	if (n > SNG_HELLO_MAX - SNG_TLS_HS_HDR)
		return SNG_R_TOO_BIG;
	if (n < SNG_CH_BODY_MIN)
		return SNG_R_MALFORMED;
	*body_len = n;
	return 0;
}

/* server_name extension data at @pos, @elen bytes (RFC 6066 3). */
SNG_CH_INLINE int sng_ch_ext_sni(const struct sng_ch_src *src, __u32 pos,
				 __u32 elen, struct sng_ch_info *out)
{
	__u32 p, end = pos + elen, nlen;
	__u8 b[3];
	int j;

	if (out->flags & SNG_CH_F_SNI_EXT)
		return SNG_R_MALFORMED;
	out->flags |= SNG_CH_F_SNI_EXT;
	/* list length(2) + at least one entry: type(1) length(2) */
	if (elen < 2 + 3)
		return SNG_R_MALFORMED;
	if (SNG_CH_LOAD(src, pos, b, 2))
		return SNG_R_HELLO_TRUNCATED;
	if (sng_ch_be16(b) + 2 != elen)
		return SNG_R_MALFORMED;
	p = pos + 2;
	for (j = 0; j < SNG_CH_MAX_NAMES; j++) {
		if (p >= end)
			break;
		if (p + 3 > end)
			return SNG_R_MALFORMED;
		if (SNG_CH_LOAD(src, p, b, 3))
			return SNG_R_HELLO_TRUNCATED;
		nlen = sng_ch_be16(b + 1);
		p += 3;
		if (p + nlen > end)
			return SNG_R_MALFORMED;
		if (b[0] == SNG_TLS_SNI_HOST_NAME) {
			if (out->flags & SNG_CH_F_HOST_NAME) {
				out->sni_err = SNG_R_SEVERAL_SNI;
			} else {
				out->flags |= SNG_CH_F_HOST_NAME;
				if (nlen == 0 || nlen > SNG_HOSTNAME_MAX) {
					out->sni_err = SNG_R_BAD_SNI;
				} else {
					out->sni_off = p;
					out->sni_len = (__u16)nlen;
				}
			}
		}
		p += nlen;
	}
	if (p < end)
		return SNG_R_MALFORMED;
	return 0;
}

/* application_layer_protocol_negotiation data (RFC 7301 3.1): only the
 * list length is checked; the entries are handed on as they are. */
SNG_CH_INLINE int sng_ch_ext_alpn(const struct sng_ch_src *src, __u32 pos,
				  __u32 elen, struct sng_ch_info *out)
{
	__u8 b[2];
	__u32 n;

	if (out->flags & SNG_CH_F_ALPN)
		return SNG_R_MALFORMED;
	out->flags |= SNG_CH_F_ALPN;
	if (elen < 2 + 2)
		return SNG_R_MALFORMED;
	if (SNG_CH_LOAD(src, pos, b, 2))
		return SNG_R_HELLO_TRUNCATED;
	n = sng_ch_be16(b);
	if (n + 2 != elen)
		return SNG_R_MALFORMED;
	out->alpn_off = pos + 2;
	out->alpn_len = (__u16)n;
	return 0;
}

/* supported_versions data in a ClientHello (RFC 8446 4.2.1): 1-byte list
 * length 2..254, even; sets SNG_CH_F_TLS13 when 0x0304 is offered among
 * the first SNG_CH_MAX_VERSIONS entries. */
SNG_CH_INLINE int sng_ch_ext_versions(const struct sng_ch_src *src, __u32 pos,
				      __u32 elen, struct sng_ch_info *out)
{
	__u32 n;
	__u8 b[2];
	int k;

	if (out->flags & SNG_CH_F_VERSIONS)
		return SNG_R_MALFORMED;
	out->flags |= SNG_CH_F_VERSIONS;
	if (elen < 1 + 2)
		return SNG_R_MALFORMED;
	if (SNG_CH_LOAD(src, pos, b, 1))
		return SNG_R_HELLO_TRUNCATED;
	n = b[0];
	if (n + 1 != elen || (n & 1))
		return SNG_R_MALFORMED;
	for (k = 0; k < SNG_CH_MAX_VERSIONS; k++) {
		if ((__u32)k * 2 >= n)
			break;
		if (SNG_CH_LOAD(src, pos + 1 + (__u32)k * 2, b, 2))
			return SNG_R_HELLO_TRUNCATED;
		if (b[0] == 3 && b[1] == 4) {
			out->flags |= SNG_CH_F_TLS13;
			break;
		}
	}
	return 0;
}

/* Dispatch one extension (@type, data at @pos, @n bytes) to its parser;
 * other types are skipped. Returns 0 or a negative reason. */
SNG_CH_SUBPROG int sng_ch_ext(SNG_CH_SUB_SRC arg, __u32 type, __u32 pos, __u32 n,
			      struct sng_ch_info *out)
{
	SNG_CH_SUB_OPEN(src, arg);

	if (!out) /* a global BPF function must prove its pointer args */
		return SNG_R_MALFORMED;
	if (type == SNG_TLS_EXT_SERVER_NAME)
		return sng_ch_ext_sni(src, pos, n, out);
	if (type == SNG_TLS_EXT_ALPN)
		return sng_ch_ext_alpn(src, pos, n, out);
	if (type == SNG_TLS_EXT_SUPPORTED_VERSIONS)
		return sng_ch_ext_versions(src, pos, n, out);
	return 0;
}

/* Parse a ClientHello body: @len bytes at @off in @src (the 4-byte
 * handshake header precedes it and was checked by sng_ch_hs_header()).
 * @len comes from that header, so nothing past @off + @len is read.
 * Fills @out (zero it first; hello_len is set here). Returns the table
 * above. */
SNG_CH_INLINE int sng_ch_parse_body(const struct sng_ch_src *src, __u32 off,
				    __u32 len, struct sng_ch_info *out)
{
	__u32 pos = off, end = off + len, n, type;
	__u8 b[4];
	int i, rc;

	out->hello_len = len;
	if (len < SNG_CH_BODY_MIN || len > SNG_HELLO_MAX)
		return SNG_R_MALFORMED;
	/* All of the body first: the walk records offsets (SNI, ALPN) without
	 * loading those bytes, and a partial body must never look complete. */
	if (SNG_CH_LOAD(src, end - 1, b, 1))
		return SNG_R_HELLO_TRUNCATED;
	if (SNG_CH_LOAD(src, pos, b, 2))
		return SNG_R_HELLO_TRUNCATED;
	out->legacy_version = (__u16)sng_ch_be16(b);
	if (b[0] != 3 || b[1] < 1 || b[1] > 4)
		return SNG_R_BAD_VERSION;
	pos += 2 + 32; /* version, random */

	if (SNG_CH_LOAD(src, pos, b, 1))
		return SNG_R_HELLO_TRUNCATED;
	if (b[0] > 32)
		return SNG_R_MALFORMED;
	pos += 1 + b[0]; /* legacy_session_id */

	/* Fixed part so far is at most 2 + 32 + 1 + 32 = 67 bytes; the body
	 * minimum (41) does not cover it, so check before each field. */
	if (pos + 2 > end)
		return SNG_R_MALFORMED;
	if (SNG_CH_LOAD(src, pos, b, 2))
		return SNG_R_HELLO_TRUNCATED;
	n = sng_ch_be16(b);
	if (n < 2 || (n & 1))
		return SNG_R_MALFORMED;
	pos += 2 + n; /* cipher_suites */

	if (pos + 1 > end)
		return SNG_R_MALFORMED;
	if (SNG_CH_LOAD(src, pos, b, 1))
		return SNG_R_HELLO_TRUNCATED;
	if (b[0] < 1)
		return SNG_R_MALFORMED;
	pos += 1 + b[0]; /* legacy_compression_methods */
	if (pos > end)
		return SNG_R_MALFORMED;
	if (pos == end)
		return SNG_R_NO_SNI; /* no extensions at all (TLS 1.2 allows) */

	if (pos + 2 > end)
		return SNG_R_MALFORMED;
	if (SNG_CH_LOAD(src, pos, b, 2))
		return SNG_R_HELLO_TRUNCATED;
	pos += 2;
	if (pos + sng_ch_be16(b) != end)
		return SNG_R_MALFORMED;

	for (i = 0; i < SNG_CH_MAX_EXT; i++) {
		if (pos >= end)
			break;
		if (pos + 4 > end)
			return SNG_R_MALFORMED;
		if (SNG_CH_LOAD(src, pos, b, 4))
			return SNG_R_HELLO_TRUNCATED;
		type = sng_ch_be16(b);
		n = sng_ch_be16(b + 2);
		pos += 4;
		if (pos + n > end)
			return SNG_R_MALFORMED;
		out->n_ext++;
		rc = sng_ch_ext(SNG_CH_SUB_ARG(src), type, pos, n, out);
		if (rc < 0)
			return rc;
		pos += n;
	}
	if (pos < end)
		return SNG_R_TOO_BIG; /* more than SNG_CH_MAX_EXT extensions */

	if (out->sni_err)
		return out->sni_err;
	if (!(out->flags & SNG_CH_F_HOST_NAME))
		return SNG_R_NO_SNI;
	return SNG_OK;
}

/* Parse the ClientHello in the first TLS record of @src (offset 0 = first
 * stream byte). Sound only when the whole ClientHello is in that record and
 * in @src: a hello continued in a later record gives
 * SNG_R_HELLO_TRUNCATED with out->rec_len < 4 + out->hello_len; a short
 * skb gives SNG_R_HELLO_TRUNCATED too. Fills @out (zero it first).
 * Returns the table above. */
SNG_CH_INLINE int sng_ch_parse_record(const struct sng_ch_src *src,
				      struct sng_ch_info *out)
{
	__u8 h[SNG_TLS_HS_HDR];
	__u32 rec_len = 0, body = 0;
	__u16 ver = 0;
	int rc;

	rc = sng_ch_record(src, 0, &ver, &rec_len);
	if (rc < 0)
		return rc;
	out->record_version = ver;
	out->rec_len = rec_len;
	if (SNG_CH_LOAD(src, SNG_TLS_REC_HDR, h, 1))
		return SNG_R_HELLO_TRUNCATED;
	/* With one byte only the type can be judged: NOT_HELLO early. */
	rc = sng_ch_hs_header(h, 1, &body);
	if (rc != SNG_R_HELLO_TRUNCATED)
		return rc;
	/* The header itself is split over records: not for this entry. */
	if (rec_len < SNG_TLS_HS_HDR)
		return SNG_R_HELLO_TRUNCATED;
	if (SNG_CH_LOAD(src, SNG_TLS_REC_HDR, h, SNG_TLS_HS_HDR))
		return SNG_R_HELLO_TRUNCATED;
	rc = sng_ch_hs_header(h, SNG_TLS_HS_HDR, &body);
	if (rc < 0)
		return rc;
	out->hello_len = body;
	/* RFC 8446 5.1: a ClientHello ends on a record boundary. */
	if (SNG_TLS_HS_HDR + body < rec_len)
		return SNG_R_MALFORMED;
	if (SNG_TLS_HS_HDR + body > rec_len)
		return SNG_R_HELLO_TRUNCATED; /* continues in the next record */
	return sng_ch_parse_body(src, SNG_TLS_REC_HDR + SNG_TLS_HS_HDR, body, out);
}

/* Copy the host_name found by a parse that returned SNG_OK into @dst, which
 * must hold SNG_HOSTNAME_MAX + 1 bytes, and NUL-terminate it.
 * Returns the length or SNG_R_BAD_SNI / SNG_R_HELLO_TRUNCATED. */
SNG_CH_INLINE int sng_ch_copy_sni(const struct sng_ch_src *src,
				  const struct sng_ch_info *info, __u8 *dst)
{
	__u32 len = info->sni_len, m;

	/* The verifier needs len >= 1 proven on the very register given to
	 * bpf_skb_load_bytes (sockmap-facts 4.2). clang turns "len < 1" into
	 * "len == 0", and older verifiers learn no minimum from the
	 * "!= 0" branch (6.1: "R3 min value is outside of the allowed memory
	 * range"; 6.12 and 6.18 accept it). So bound m = len - 1 with one unsigned compare, hide it
	 * from the optimiser, and pass m + 1: [1, MAX] on every verifier. */
	m = len - 1;
	if (m > SNG_HOSTNAME_MAX - 1)
		return SNG_R_BAD_SNI;
#ifdef __bpf__
	asm volatile("" : "+r"(m));
#endif
	len = m + 1;
	if (SNG_CH_LOAD(src, info->sni_off, dst, len))
		return SNG_R_HELLO_TRUNCATED;
	dst[len] = 0;
	return (int)len;
}

#endif /* SNG_CLIENTHELLO_H */
