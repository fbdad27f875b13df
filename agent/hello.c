// SPDX-License-Identifier: GPL-2.0-only
/* ClientHello from peeked stream bytes: reassembles the handshake message
 * across TLS records, then runs the shared parser (bpf/lib/clienthello.h). */
#include <string.h>

#include "hello.h"
#include "reasons.h"
#include "lib/clienthello.h"

/* Copy the ALPN ProtocolNameList entries at @list (@n bytes) into @out,
 * whole entries only, stopping at the first empty or overrunning entry or
 * when HELLO_ALPN_MAX would be exceeded (alpn_clipped then). */
static void hello_copy_alpn(const uint8_t *list, size_t n, struct hello_info *out)
{
	size_t p = 0, e;

	while (p < n) {
		e = list[p];
		if (e == 0 || p + 1 + e > n || p + 1 + e > HELLO_ALPN_MAX) {
			out->alpn_clipped = true;
			break;
		}
		p += 1 + e;
	}
	memcpy(out->alpn, list, p);
	out->alpn_len = p;
}

int hello_parse_stream(const uint8_t *buf, size_t len, struct hello_info *out)
{
	/* The reassembled handshake message: header + body, at most
	 * SNG_HELLO_MAX bytes (sng_ch_hs_header() enforces it). */
	uint8_t msg[SNG_HELLO_MAX];
	struct sng_ch_src src;
	struct sng_ch_info info;
	size_t off = 0, have = 0, total = 0, pay, avail, start;
	unsigned int records = 0;
	__u32 rec_len, body = 0;
	__u16 ver;
	int rc;

	memset(out, 0, sizeof(*out));
	if (len > HELLO_STREAM_MAX)
		len = HELLO_STREAM_MAX; /* nothing beyond can belong to the hello */
	src.buf = buf;
	src.len = (__u32)len;

	/* Each record is >= 6 stream bytes (empty ones are MALFORMED), so this
	 * loop ends within HELLO_STREAM_MAX / 6 rounds. */
	for (;;) {
		if (off + SNG_TLS_REC_HDR + 1 > HELLO_STREAM_MAX)
			return SNG_R_TOO_BIG;
		rc = sng_ch_record(&src, (__u32)off, &ver, &rec_len);
		if (rc == SNG_R_NOT_TLS && records > 0)
			return SNG_R_MALFORMED; /* RFC 8446 5.1: no interleaving */
		if (rc < 0)
			return rc;
		if (records == 0)
			out->record_version = ver;
		if (off + SNG_TLS_REC_HDR + rec_len > HELLO_STREAM_MAX)
			return SNG_R_TOO_BIG;
		pay = off + SNG_TLS_REC_HDR;
		avail = len - pay < rec_len ? len - pay : rec_len;
		start = have;
		if (total == 0) {
			/* Header bytes may arrive one record at a time. */
			while (have < SNG_TLS_HS_HDR && have - start < avail) {
				msg[have] = buf[pay + (have - start)];
				have++;
			}
			rc = sng_ch_hs_header(msg, (__u32)have, &body);
			if (rc < 0 && rc != SNG_R_HELLO_TRUNCATED)
				return rc;
			if (rc == 0)
				total = SNG_TLS_HS_HDR + body;
		}
		/* RFC 8446 5.1: a ClientHello ends on a record boundary, so no
		 * record may carry bytes past its end. */
		if (total && start + rec_len > total)
			return SNG_R_MALFORMED;
		if (total) {
			memcpy(msg + have, buf + pay + (have - start),
			       avail - (have - start));
			have = start + avail;
		}
		if (avail < rec_len)
			return SNG_R_HELLO_TRUNCATED;
		off = pay + rec_len;
		records++;
		if (total && have == total)
			break;
	}

	memset(&info, 0, sizeof(info));
	src.buf = msg;
	src.len = (__u32)total;
	rc = sng_ch_parse_body(&src, SNG_TLS_HS_HDR, body, &info);
	if (rc != SNG_OK && rc != SNG_R_NO_SNI && rc != SNG_R_BAD_SNI &&
	    rc != SNG_R_SEVERAL_SNI)
		return rc;

	out->hello_len = off;
	out->body_len = body;
	out->records = records;
	out->n_ext = info.n_ext;
	out->legacy_version = info.legacy_version;
	out->tls13 = !!(info.flags & SNG_CH_F_TLS13);
	if (info.alpn_len)
		hello_copy_alpn(msg + info.alpn_off, info.alpn_len, out);
	if (rc == SNG_OK) {
		memcpy(out->sni, msg + info.sni_off, info.sni_len);
		out->sni[info.sni_len] = '\0';
		out->sni_len = info.sni_len;
	}
	return rc;
}

const char *hello_reason_name(int rc)
{
	/* The parser's own short names for its two non-final outcomes; every
	 * final parser code uses the shared label (agent/reasons.c). */
	switch (rc) {
	case SNG_OK: return "ok";
	case SNG_R_HELLO_TRUNCATED: return "truncated";
	case SNG_R_NOT_TLS: case SNG_R_BAD_VERSION: case SNG_R_NOT_HELLO:
	case SNG_R_MALFORMED: case SNG_R_TOO_BIG: case SNG_R_NO_SNI:
	case SNG_R_BAD_SNI: case SNG_R_SEVERAL_SNI:
		return reason_name(rc);
	default: return "unknown";
	}
}
