/* SPDX-License-Identifier: GPL-2.0-only */
/* ClientHello from peeked stream bytes: TLS record reassembly around the one
 * shared parser (bpf/lib/clienthello.h). No libbpf, no OpenSSL, no sockets. */
#ifndef SNIGATE_HELLO_H
#define SNIGATE_HELLO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "snigate_abi.h"

/* Stream bytes hello_parse_stream() may need to look at: a ClientHello of
 * SNG_HELLO_MAX bytes in two records plus headers fits easily; a hello cut
 * into tiny records (6 stream bytes per hello byte with 1-byte records) is
 * TOO_BIG once its records run past this. Peek with a buffer this large. */
#define HELLO_STREAM_MAX 32768

/* ALPN ProtocolNameList bytes kept (whole entries only, see alpn_clipped). */
#define HELLO_ALPN_MAX 256

struct hello_info {
	/* server_name host_name bytes exactly as sent (not lowercased, not
	 * validated beyond 1..SNG_HOSTNAME_MAX bytes), NUL-terminated. The
	 * name may contain any byte, NUL included: use sni_len. Normalise
	 * with policy_sni_normalize() before any lookup. */
	char sni[SNG_HOSTNAME_MAX + 1];
	size_t sni_len;                  /* 0: no usable SNI */
	/* ALPN ProtocolNameList in wire format (1-byte length + name, ...),
	 * without the list's own 2-byte length. Entries are copied whole, in
	 * order, while they are well formed and fit HELLO_ALPN_MAX. */
	uint8_t alpn[HELLO_ALPN_MAX];
	size_t alpn_len;                 /* 0: no ALPN extension */
	bool alpn_clipped;               /* some entries were not copied */
	bool tls13;                      /* supported_versions offers 0x0304 */
	uint16_t legacy_version;         /* ClientHello.legacy_version (0x0303..) */
	uint16_t record_version;         /* first record's legacy_record_version */
	size_t hello_len;  /* stream bytes of the records carrying the hello */
	size_t body_len;   /* ClientHello handshake body bytes (no 4-byte header) */
	unsigned int records;            /* TLS records the hello spans */
	unsigned int n_ext;              /* extensions walked */
};

/* Find the ClientHello at the start of @buf (@len bytes peeked from a TCP
 * stream; the caller keeps ownership and never has to consume them).
 * Reassembles the handshake message across TLS records of any size (1-byte
 * records included) and across any TCP segmentation, then runs the shared
 * parser over the whole message. Pure function of (@buf, @len): no state
 * between calls, thread-safe; uses about 16 KiB of stack (SNG_HELLO_MAX).
 * @out is always zeroed first. It is filled (hello_len, alpn, tls13, ...)
 * when the return is SNG_OK, SNG_R_NO_SNI, SNG_R_BAD_SNI or
 * SNG_R_SEVERAL_SNI; sni/sni_len are set only for SNG_OK.
 * Returns:
 *   SNG_OK                 complete ClientHello with one valid-length SNI
 *   SNG_R_HELLO_TRUNCATED  consistent so far, more bytes needed: peek again
 *                          (with more data; @len == 0 also gives this)
 *   SNG_R_NOT_TLS          first byte is not a handshake record (HTTP,
 *                          SSLv2-style hello, random bytes)
 *   SNG_R_BAD_VERSION      record or hello version outside TLS 1.0..1.3
 *   SNG_R_NOT_HELLO        the handshake message is not a ClientHello
 *   SNG_R_MALFORMED        a length is inconsistent, a record is empty or
 *                          longer than 2^14, another record type interleaves,
 *                          or the hello does not end on a record boundary
 *   SNG_R_TOO_BIG          handshake message over SNG_HELLO_MAX bytes, over
 *                          SNG_CH_MAX_EXT extensions, or its records run
 *                          past HELLO_STREAM_MAX stream bytes
 *   SNG_R_NO_SNI           no server_name extension / no host_name entry
 *   SNG_R_BAD_SNI          empty or over-long (> SNG_HOSTNAME_MAX) host_name
 *   SNG_R_SEVERAL_SNI      more than one host_name entry
 * The final codes do not change when more bytes arrive, and with
 * @len >= HELLO_STREAM_MAX the answer is never SNG_R_HELLO_TRUNCATED. */
int hello_parse_stream(const uint8_t *buf, size_t len, struct hello_info *out);

/* Short stable name of a parser outcome ("ok", "truncated", "not_tls", ...)
 * for logs and tests; "unknown" for anything else. Never NULL. */
const char *hello_reason_name(int rc);

#endif /* SNIGATE_HELLO_H */
