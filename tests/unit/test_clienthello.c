// SPDX-License-Identifier: GPL-2.0-only
/* Unit tests of the shared ClientHello parser (bpf/lib/clienthello.h, host
 * build) and its stream wrapper agent/hello.c, on commented byte arrays. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hello.h"
#include "lib/clienthello.h"

/* ---- hand-written hellos, field by field --------------------------------- */

/* The smallest useful ClientHello: one suite, no session id, only SNI. */
static const uint8_t hello_minimal[] = {
	0x16, 0x03, 0x01, 0x00, 0x3f, /* record: handshake(22), version 3.1, length 63 */
	0x01, 0x00, 0x00, 0x3b,       /* handshake: client_hello(1), length 59 */
	0x03, 0x03,                   /* legacy_version 3.3 */
	0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, /* random (32 bytes) */
	0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f,
	0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17,
	0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f,
	0x00,                         /* legacy_session_id: length 0 */
	0x00, 0x02, 0x13, 0x01,       /* cipher_suites: length 2, TLS_AES_128_GCM_SHA256 */
	0x01, 0x00,                   /* compression methods: length 1, null */
	0x00, 0x10,                   /* extensions: length 16 */
	0x00, 0x00, 0x00, 0x0c,       /* server_name(0), length 12 */
	0x00, 0x0a,                   /*   server_name_list length 10 */
	0x00, 0x00, 0x07,             /*   host_name(0), length 7 */
	'f', 'o', 'o', '.', 'b', 'a', 'r', /* "foo.bar" */
};

/* Prefix shared by the hand-written hellos below: everything up to and
 * including the extensions length; fix() patches the two outer lengths. */
#define HELLO_HEAD(ext_len)                                                   \
	0x16, 0x03, 0x01, 0x00, 0x00, /* record (length patched by fix()) */     \
	0x01, 0x00, 0x00, 0x00,       /* client_hello (length patched) */        \
	0x03, 0x03,                   /* legacy_version 3.3 */                   \
	0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, /* random */             \
	0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa,                          \
	0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa,                          \
	0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa,                          \
	0x00,                         /* no session id */                        \
	0x00, 0x04, 0x13, 0x01, 0x13, 0x02, /* 2 cipher suites */                \
	0x01, 0x00,                   /* compression: null */                    \
	(ext_len) >> 8, (ext_len) & 0xff /* extensions length */

/* SNI first, then ALPN and supported_versions (TLS 1.3 + 1.2). */
static uint8_t hello_sni_first[] = {
	HELLO_HEAD(20 + 18 + 9),
	0x00, 0x00, 0x00, 0x10,       /* server_name(0), length 16 */
	0x00, 0x0e, 0x00, 0x00, 0x0b, /*   list 14; host_name(0) length 11 */
	'e', 'x', 'a', 'm', 'p', 'l', 'e', '.', 'c', 'o', 'm',
	0x00, 0x10, 0x00, 0x0e,       /* ALPN(16), length 14 */
	0x00, 0x0c, 0x02, 'h', '2',   /*   list 12: "h2" */
	0x08, 'h', 't', 't', 'p', '/', '1', '.', '1', /* "http/1.1" */
	0x00, 0x2b, 0x00, 0x05,       /* supported_versions(43), length 5 */
	0x04, 0x03, 0x04, 0x03, 0x03, /*   list 4: 3.4, 3.3 */
};

/* Same extensions, SNI last. */
static uint8_t hello_sni_last[] = {
	HELLO_HEAD(20 + 18 + 9),
	0x00, 0x10, 0x00, 0x0e,       /* ALPN(16), length 14 */
	0x00, 0x0c, 0x02, 'h', '2',   /*   list 12: "h2" */
	0x08, 'h', 't', 't', 'p', '/', '1', '.', '1', /* "http/1.1" */
	0x00, 0x2b, 0x00, 0x05,       /* supported_versions(43), length 5 */
	0x04, 0x03, 0x04, 0x03, 0x03, /*   list 4: 3.4, 3.3 */
	0x00, 0x00, 0x00, 0x10,       /* server_name(0), length 16 */
	0x00, 0x0e, 0x00, 0x00, 0x0b, /*   list 14; host_name(0) length 11 */
	'e', 'x', 'a', 'm', 'p', 'l', 'e', '.', 'c', 'o', 'm',
};

/* No server_name at all: ALPN only. */
static uint8_t hello_no_sni[] = {
	HELLO_HEAD(8),
	0x00, 0x10, 0x00, 0x04,       /* ALPN(16), length 4 */
	0x00, 0x02, 0x01, 'x',        /*   list 2: "x" */
};

/* No extensions block at all (legal before TLS 1.3). */
static uint8_t hello_no_ext[] = {
	0x16, 0x03, 0x01, 0x00, 0x00, /* record (length patched) */
	0x01, 0x00, 0x00, 0x00,       /* client_hello (length patched) */
	0x03, 0x01,                   /* legacy_version 3.1 (TLS 1.0) */
	0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, /* random */
	0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa,
	0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa,
	0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa,
	0x00,                         /* no session id */
	0x00, 0x02, 0x00, 0x2f,       /* TLS_RSA_WITH_AES_128_CBC_SHA */
	0x01, 0x00,                   /* compression: null; no extensions */
};

/* host_name of length 0. */
static uint8_t hello_empty_sni[] = {
	HELLO_HEAD(9),
	0x00, 0x00, 0x00, 0x05,       /* server_name(0), length 5 */
	0x00, 0x03, 0x00, 0x00, 0x00, /*   list 3; host_name(0) length 0 */
};

/* Two host_name entries (RFC 6066: at most one per type). */
static uint8_t hello_two_names[] = {
	HELLO_HEAD(4 + 2 + 6 + 6),
	0x00, 0x00, 0x00, 0x0e,       /* server_name(0), length 14 */
	0x00, 0x0c,                   /*   list 12 */
	0x00, 0x00, 0x03, 'a', '.', 'b', /* host_name "a.b" */
	0x00, 0x00, 0x03, 'c', '.', 'd', /* host_name "c.d" */
};

/* An unknown name type only: no host_name, so no SNI. */
static uint8_t hello_other_name_type[] = {
	HELLO_HEAD(4 + 2 + 6),
	0x00, 0x00, 0x00, 0x08,       /* server_name(0), length 8 */
	0x00, 0x06,                   /*   list 6 */
	0x07, 0x00, 0x03, 'a', '.', 'b', /* name_type 7, "a.b" */
};

/* server_name twice (RFC 8446 4.2: one extension of each type). */
static uint8_t hello_dup_sni_ext[] = {
	HELLO_HEAD(2 * 10),
	0x00, 0x00, 0x00, 0x06, 0x00, 0x04, 0x00, 0x00, 0x01, 'a', /* "a" */
	0x00, 0x00, 0x00, 0x06, 0x00, 0x04, 0x00, 0x00, 0x01, 'b', /* "b" */
};

/* A server_name list length that disagrees with the extension length. */
static uint8_t hello_bad_list_len[] = {
	HELLO_HEAD(10),
	0x00, 0x00, 0x00, 0x06,       /* server_name(0), length 6 */
	0x00, 0x05, 0x00, 0x00, 0x01, 'a', /* list claims 5, has 4 */
};

/* An extension that overruns the extensions block. */
static uint8_t hello_ext_overrun[] = {
	HELLO_HEAD(6),
	0x00, 0x17, 0x00, 0x09,       /* extended_master_secret, length 9 (!) */
	0x00, 0x00,
};

/* Patch the record and handshake lengths of a single-record hello. */
static void fix(uint8_t *h, size_t n)
{
	h[3] = (uint8_t)((n - 5) >> 8);
	h[4] = (uint8_t)(n - 5);
	h[6] = 0;
	h[7] = (uint8_t)((n - 9) >> 8);
	h[8] = (uint8_t)(n - 9);
}

/* ---- real captures ------------------------------------------------------- */

/* `openssl s_client -tls1_2 -servername foo.example.com` (OpenSSL 3.0.22),
 * captured by tests/fuzz/make-corpus.sh (openssl-tls1_2.bin). */
static const uint8_t hello_openssl_tls12[] = {
	0x16, 0x03, 0x01, 0x00, 0xcf, /* record: handshake(22), version 3.1, length 207 */
	0x01, 0x00, 0x00, 0xcb, /* handshake: client_hello(1), length 203 */
	0x03, 0x03, /* legacy_version 3.3 (TLS 1.2) */
	0x96, 0x23, 0xd0, 0xca, 0xb2, 0x62, 0x74, 0x06, 0x24, 0x21, /* random (32 bytes) */
	0x8c, 0xab, 0x92, 0xa1, 0x97, 0x2e, 0xc9, 0xf4, 0xea, 0x4e,
	0x84, 0xba, 0x0e, 0x59, 0x2a, 0x1f, 0x9f, 0x9d, 0xcd, 0x1c,
	0x4a, 0xd6,
	0x00, /* legacy_session_id length 0 */
	0x00, 0x38, /* cipher_suites length 56 */
	0xc0, 0x2c, 0xc0, 0x30, 0x00, 0x9f, 0xcc, 0xa9, 0xcc, 0xa8, /* cipher suites (28) */
	0xcc, 0xaa, 0xc0, 0x2b, 0xc0, 0x2f, 0x00, 0x9e, 0xc0, 0x24,
	0xc0, 0x28, 0x00, 0x6b, 0xc0, 0x23, 0xc0, 0x27, 0x00, 0x67,
	0xc0, 0x0a, 0xc0, 0x14, 0x00, 0x39, 0xc0, 0x09, 0xc0, 0x13,
	0x00, 0x33, 0x00, 0x9d, 0x00, 0x9c, 0x00, 0x3d, 0x00, 0x3c,
	0x00, 0x35, 0x00, 0x2f, 0x00, 0xff,
	0x01, 0x00, /* compression methods: 1, null */
	0x00, 0x6a, /* extensions length 106 */
	0x00, 0x00, 0x00, 0x14, /* server_name(0), length 20 */
		0x00, 0x12, 0x00, 0x00, 0x0f, 0x66, 0x6f, 0x6f, 0x2e, 0x65, /* list 18: host_name(0) len 15 "foo.example.com" */
		0x78, 0x61, 0x6d, 0x70, 0x6c, 0x65, 0x2e, 0x63, 0x6f, 0x6d,
	0x00, 0x0b, 0x00, 0x04, /* ec_point_formats(11), length 4 */
		0x03, 0x00, 0x01, 0x02, /* ec_point_formats */
	0x00, 0x0a, 0x00, 0x0c, /* supported_groups(10), length 12 */
		0x00, 0x0a, 0x00, 0x1d, 0x00, 0x17, 0x00, 0x1e, 0x00, 0x19, /* supported_groups */
		0x00, 0x18,
	0x00, 0x23, 0x00, 0x00, /* session_ticket(35), length 0 */
	0x00, 0x16, 0x00, 0x00, /* encrypt_then_mac(22), length 0 */
	0x00, 0x17, 0x00, 0x00, /* extended_master_secret(23), length 0 */
	0x00, 0x0d, 0x00, 0x2a, /* signature_algorithms(13), length 42 */
		0x00, 0x28, 0x04, 0x03, 0x05, 0x03, 0x06, 0x03, 0x08, 0x07, /* signature_algorithms */
		0x08, 0x08, 0x08, 0x09, 0x08, 0x0a, 0x08, 0x0b, 0x08, 0x04,
		0x08, 0x05, 0x08, 0x06, 0x04, 0x01, 0x05, 0x01, 0x06, 0x01,
		0x03, 0x03, 0x03, 0x01, 0x03, 0x02, 0x04, 0x02, 0x05, 0x02,
		0x06, 0x02,
};

/* `openssl s_client -tls1_3 -servername foo.example.com` (OpenSSL 3.0.22),
 * captured by tests/fuzz/make-corpus.sh (openssl-tls1_3.bin). */
static const uint8_t hello_openssl_tls13[] = {
	0x16, 0x03, 0x01, 0x00, 0xf4, /* record: handshake(22), version 3.1, length 244 */
	0x01, 0x00, 0x00, 0xf0, /* handshake: client_hello(1), length 240 */
	0x03, 0x03, /* legacy_version 3.3 (TLS 1.2) */
	0x89, 0x6c, 0x69, 0x84, 0x73, 0xfc, 0x84, 0x19, 0x02, 0x86, /* random (32 bytes) */
	0x65, 0x64, 0xf7, 0x52, 0xc5, 0x4c, 0x27, 0x49, 0xa5, 0x54,
	0xae, 0x59, 0x08, 0x1f, 0x1d, 0x43, 0x07, 0xe3, 0x4b, 0xdd,
	0x54, 0x5b,
	0x20, /* legacy_session_id length 32 */
	0x19, 0x69, 0x12, 0x44, 0x44, 0x65, 0x26, 0x2e, 0xd7, 0x21, /* session id */
	0xea, 0xb0, 0xe9, 0xc6, 0x3c, 0xc2, 0x14, 0xc5, 0xe3, 0x4f,
	0x5f, 0x54, 0x78, 0xcb, 0x9d, 0xfc, 0xca, 0x7f, 0xf8, 0x23,
	0xab, 0x96,
	0x00, 0x08, /* cipher_suites length 8 */
	0x13, 0x02, 0x13, 0x03, 0x13, 0x01, 0x00, 0xff, /* cipher suites (4) */
	0x01, 0x00, /* compression methods: 1, null */
	0x00, 0x9f, /* extensions length 159 */
	0x00, 0x00, 0x00, 0x14, /* server_name(0), length 20 */
		0x00, 0x12, 0x00, 0x00, 0x0f, 0x66, 0x6f, 0x6f, 0x2e, 0x65, /* list 18: host_name(0) len 15 "foo.example.com" */
		0x78, 0x61, 0x6d, 0x70, 0x6c, 0x65, 0x2e, 0x63, 0x6f, 0x6d,
	0x00, 0x0b, 0x00, 0x04, /* ec_point_formats(11), length 4 */
		0x03, 0x00, 0x01, 0x02, /* ec_point_formats */
	0x00, 0x0a, 0x00, 0x16, /* supported_groups(10), length 22 */
		0x00, 0x14, 0x00, 0x1d, 0x00, 0x17, 0x00, 0x1e, 0x00, 0x19, /* supported_groups */
		0x00, 0x18, 0x01, 0x00, 0x01, 0x01, 0x01, 0x02, 0x01, 0x03,
		0x01, 0x04,
	0x00, 0x23, 0x00, 0x00, /* session_ticket(35), length 0 */
	0x00, 0x16, 0x00, 0x00, /* encrypt_then_mac(22), length 0 */
	0x00, 0x17, 0x00, 0x00, /* extended_master_secret(23), length 0 */
	0x00, 0x0d, 0x00, 0x1e, /* signature_algorithms(13), length 30 */
		0x00, 0x1c, 0x04, 0x03, 0x05, 0x03, 0x06, 0x03, 0x08, 0x07, /* signature_algorithms */
		0x08, 0x08, 0x08, 0x09, 0x08, 0x0a, 0x08, 0x0b, 0x08, 0x04,
		0x08, 0x05, 0x08, 0x06, 0x04, 0x01, 0x05, 0x01, 0x06, 0x01,
	0x00, 0x2b, 0x00, 0x03, /* supported_versions(43), length 3 */
		0x02, 0x03, 0x04, /* list length 2: TLS 1.3 (3.4) */
	0x00, 0x2d, 0x00, 0x02, /* psk_key_exchange_modes(45), length 2 */
		0x01, 0x01, /* psk_key_exchange_modes */
	0x00, 0x33, 0x00, 0x26, /* key_share(51), length 38 */
		0x00, 0x24, 0x00, 0x1d, 0x00, 0x20, 0xa3, 0xad, 0xe5, 0xf9, /* key_share */
		0x1f, 0x71, 0xc5, 0xa9, 0x64, 0x8c, 0x97, 0x54, 0xa0, 0x2b,
		0x9a, 0x24, 0xef, 0x1a, 0x67, 0xfd, 0x31, 0x8b, 0x9a, 0x26,
		0x90, 0x2e, 0x65, 0xb4, 0x05, 0x42, 0x98, 0x6c,
};

/* ---- builders for the large and split cases ------------------------------ */

struct buf {
	uint8_t b[128 * 1024];
	size_t n;
};

static void put(struct buf *b, const void *p, size_t n)
{
	ck_assert_uint_le(b->n + n, sizeof(b->b));
	memcpy(b->b + b->n, p, n);
	b->n += n;
}

static void put8(struct buf *b, unsigned int v)
{
	uint8_t x = (uint8_t)v;

	put(b, &x, 1);
}

static void put16(struct buf *b, unsigned int v)
{
	put8(b, v >> 8);
	put8(b, v);
}

/* Append extension @type with @n bytes of @data (NULL: @fill bytes). */
static void put_ext(struct buf *b, unsigned int type, const void *data, size_t n, uint8_t fill)
{
	put16(b, type);
	put16(b, (unsigned int)n);
	if (data) {
		put(b, data, n);
	} else {
		ck_assert_uint_le(b->n + n, sizeof(b->b));
		memset(b->b + b->n, fill, n);
		b->n += n;
	}
}

static void put_sni(struct buf *b, const char *name, size_t len)
{
	put16(b, 0);
	put16(b, (unsigned int)(len + 5));
	put16(b, (unsigned int)(len + 3));
	put8(b, 0);
	put16(b, (unsigned int)len);
	put(b, name, len);
}

/* A handshake message (4-byte header + body) around extensions @ext. */
static void make_msg(struct buf *m, const struct buf *ext)
{
	static const uint8_t random[32] = { 1, 2, 3 };
	size_t body = 2 + 32 + 1 + 4 + 2 + 2 + ext->n;

	m->n = 0;
	put8(m, 1);
	put8(m, (unsigned int)(body >> 16));
	put16(m, (unsigned int)(body & 0xffff));
	put16(m, 0x0303);
	put(m, random, 32);
	put8(m, 0);
	put16(m, 2);
	put16(m, 0x1301);
	put16(m, 0x0100);
	put16(m, (unsigned int)ext->n);
	put(m, ext->b, ext->n);
}

/* Frame @msg into records: the first of @first bytes (0: @size), the rest
 * of @size bytes each. */
static void make_records(struct buf *out, const uint8_t *msg, size_t n, size_t first,
			 size_t size)
{
	size_t off = 0, take;

	out->n = 0;
	while (off < n) {
		take = off == 0 && first ? first : size;
		if (take > n - off)
			take = n - off;
		put8(out, 22);
		put16(out, 0x0301);
		put16(out, (unsigned int)take);
		put(out, msg + off, take);
		off += take;
	}
}

/* The X25519MLKEM768 post-quantum shape: a 1216-byte key share before SNI. */
static void make_pq(struct buf *m, int sni_last)
{
	static struct buf ext, ks;
	static const uint8_t sv[] = { 0x04, 0x03, 0x04, 0x03, 0x03 };
	static const uint8_t groups[] = { 0x00, 0x04, 0x11, 0xec, 0x00, 0x1d };

	ext.n = ks.n = 0;
	put16(&ks, 1216 + 4 + 32 + 4);
	put16(&ks, 0x11ec);
	put16(&ks, 1216);
	for (int i = 0; i < 1216; i++)
		put8(&ks, (unsigned int)(i * 7));
	put16(&ks, 0x001d);
	put16(&ks, 32);
	for (int i = 0; i < 32; i++)
		put8(&ks, 0x11);
	if (!sni_last)
		put_sni(&ext, "pq.example.com", 14);
	put_ext(&ext, 43, sv, sizeof(sv), 0);
	put_ext(&ext, 10, groups, sizeof(groups), 0);
	put_ext(&ext, 13, NULL, 30, 0x04);
	put_ext(&ext, 0xfe0d, NULL, 200, 0); /* an ECH-sized GREASE blob */
	put_ext(&ext, 51, ks.b, ks.n, 0);
	if (sni_last)
		put_sni(&ext, "pq.example.com", 14);
	make_msg(m, &ext);
}

static int parse(const uint8_t *b, size_t n, struct hello_info *h)
{
	return hello_parse_stream(b, n, h);
}

/* Every strict prefix must say TRUNCATED and leave no SNI behind. */
static void assert_prefixes_truncated(const uint8_t *b, size_t n, size_t step)
{
	struct hello_info h;
	size_t i;
	int rc;

	for (i = 0; i < n; i += step) {
		rc = parse(b, i, &h);
		if (rc != SNG_R_HELLO_TRUNCATED)
			ck_abort_msg("prefix %zu/%zu: %s, expected truncated", i, n,
				     hello_reason_name(rc));
		ck_assert_uint_eq(h.sni_len, 0);
	}
}

/* Host build of the BPF entry (first record only). */
static int parse_record(const uint8_t *b, size_t n, struct sng_ch_info *info)
{
	struct sng_ch_src src = { .buf = b, .len = (__u32)n };

	memset(info, 0, sizeof(*info));
	return sng_ch_parse_record(&src, info);
}

/* ---- tests: hand-written hellos ---------------------------------------- */

START_TEST(t_minimal)
{
	struct hello_info h;
	struct sng_ch_info info;

	ck_assert_int_eq(parse(hello_minimal, sizeof(hello_minimal), &h), SNG_OK);
	ck_assert_str_eq(h.sni, "foo.bar");
	ck_assert_uint_eq(h.sni_len, 7);
	ck_assert_uint_eq(h.hello_len, sizeof(hello_minimal));
	ck_assert_uint_eq(h.body_len, 59);
	ck_assert_uint_eq(h.records, 1);
	ck_assert_uint_eq(h.n_ext, 1);
	ck_assert(!h.tls13);
	ck_assert_uint_eq(h.alpn_len, 0);
	ck_assert_uint_eq(h.legacy_version, 0x0303);
	ck_assert_uint_eq(h.record_version, 0x0301);
	/* BPF entry, host build: same answer, offsets into the buffer. */
	ck_assert_int_eq(parse_record(hello_minimal, sizeof(hello_minimal), &info), SNG_OK);
	ck_assert_uint_eq(info.sni_off, sizeof(hello_minimal) - 7);
	ck_assert_uint_eq(info.sni_len, 7);
	ck_assert_uint_eq(info.rec_len, 63);
	ck_assert_uint_eq(info.hello_len, 59);
	assert_prefixes_truncated(hello_minimal, sizeof(hello_minimal), 1);
}
END_TEST

static void check_sni_alpn_tls13(uint8_t *hello, size_t n)
{
	static const uint8_t alpn[] = { 2, 'h', '2', 8, 'h', 't', 't', 'p', '/', '1', '.', '1' };
	struct hello_info h;

	fix(hello, n);
	ck_assert_int_eq(parse(hello, n, &h), SNG_OK);
	ck_assert_str_eq(h.sni, "example.com");
	ck_assert(h.tls13);
	ck_assert_uint_eq(h.alpn_len, sizeof(alpn));
	ck_assert_mem_eq(h.alpn, alpn, sizeof(alpn));
	ck_assert(!h.alpn_clipped);
	ck_assert_uint_eq(h.n_ext, 3);
	assert_prefixes_truncated(hello, n, 1);
}

START_TEST(t_sni_first)
{
	check_sni_alpn_tls13(hello_sni_first, sizeof(hello_sni_first));
}
END_TEST

START_TEST(t_sni_last)
{
	check_sni_alpn_tls13(hello_sni_last, sizeof(hello_sni_last));
}
END_TEST

START_TEST(t_no_sni)
{
	struct hello_info h;

	fix(hello_no_sni, sizeof(hello_no_sni));
	ck_assert_int_eq(parse(hello_no_sni, sizeof(hello_no_sni), &h), SNG_R_NO_SNI);
	ck_assert_uint_eq(h.sni_len, 0);
	/* The rest of the hello is still reported (terminate may use it). */
	ck_assert_uint_eq(h.alpn_len, 2);
	ck_assert_uint_eq(h.hello_len, sizeof(hello_no_sni));

	fix(hello_no_ext, sizeof(hello_no_ext));
	ck_assert_int_eq(parse(hello_no_ext, sizeof(hello_no_ext), &h), SNG_R_NO_SNI);
	ck_assert_uint_eq(h.legacy_version, 0x0301);

	fix(hello_other_name_type, sizeof(hello_other_name_type));
	ck_assert_int_eq(parse(hello_other_name_type, sizeof(hello_other_name_type), &h),
			 SNG_R_NO_SNI);
}
END_TEST

START_TEST(t_bad_sni)
{
	struct hello_info h;

	fix(hello_empty_sni, sizeof(hello_empty_sni));
	ck_assert_int_eq(parse(hello_empty_sni, sizeof(hello_empty_sni), &h), SNG_R_BAD_SNI);
	ck_assert_uint_eq(h.sni_len, 0);

	fix(hello_two_names, sizeof(hello_two_names));
	ck_assert_int_eq(parse(hello_two_names, sizeof(hello_two_names), &h), SNG_R_SEVERAL_SNI);
	ck_assert_uint_eq(h.sni_len, 0);
}
END_TEST

START_TEST(t_malformed_ext)
{
	struct hello_info h;

	fix(hello_dup_sni_ext, sizeof(hello_dup_sni_ext));
	ck_assert_int_eq(parse(hello_dup_sni_ext, sizeof(hello_dup_sni_ext), &h), SNG_R_MALFORMED);
	fix(hello_bad_list_len, sizeof(hello_bad_list_len));
	ck_assert_int_eq(parse(hello_bad_list_len, sizeof(hello_bad_list_len), &h), SNG_R_MALFORMED);
	fix(hello_ext_overrun, sizeof(hello_ext_overrun));
	ck_assert_int_eq(parse(hello_ext_overrun, sizeof(hello_ext_overrun), &h), SNG_R_MALFORMED);
}
END_TEST

/* Name length limits: 253 is the longest DNS name, 254 is refused. */
START_TEST(t_name_length)
{
	static struct buf ext, msg, rec;
	struct hello_info h;
	char name[300];

	memset(name, 'a', sizeof(name));
	for (size_t len = 252; len <= 256; len++) {
		ext.n = 0;
		put_sni(&ext, name, len);
		make_msg(&msg, &ext);
		make_records(&rec, msg.b, msg.n, 0, 16384);
		int rc = parse(rec.b, rec.n, &h);

		if (len <= SNG_HOSTNAME_MAX) {
			ck_assert_int_eq(rc, SNG_OK);
			ck_assert_uint_eq(h.sni_len, len);
			ck_assert_uint_eq(strlen(h.sni), len);
		} else {
			ck_assert_int_eq(rc, SNG_R_BAD_SNI);
			ck_assert_uint_eq(h.sni_len, 0);
		}
	}
}
END_TEST

/* ---- tests: framing ------------------------------------------------------ */

START_TEST(t_record_limits)
{
	static struct buf b;
	struct hello_info h;
	uint8_t r[5];

	/* RFC 8446 5.1: 2^14 + 1 is record_overflow, told by the header alone. */
	memcpy(r, (uint8_t[]){ 0x16, 0x03, 0x01, 0x40, 0x01 }, 5);
	ck_assert_int_eq(parse(r, 5, &h), SNG_R_MALFORMED);
	/* Zero-length handshake fragments are forbidden too. */
	memcpy(r, (uint8_t[]){ 0x16, 0x03, 0x03, 0x00, 0x00 }, 5);
	ck_assert_int_eq(parse(r, 5, &h), SNG_R_MALFORMED);
	/* A 2^14 record is fine as far as framing goes. */
	b.n = 0;
	put(&b, (uint8_t[]){ 0x16, 0x03, 0x01, 0x40, 0x00, 0x01, 0x00, 0x3f, 0xfc }, 9);
	ck_assert_int_eq(parse(b.b, b.n, &h), SNG_R_HELLO_TRUNCATED);
	/* Record version 2.0 or 3.5: not TLS 1.0..1.3 framing. */
	memcpy(r, (uint8_t[]){ 0x16, 0x02, 0x00, 0x00, 0x10 }, 5);
	ck_assert_int_eq(parse(r, 3, &h), SNG_R_BAD_VERSION);
	memcpy(r, (uint8_t[]){ 0x16, 0x03, 0x05, 0x00, 0x10 }, 5);
	ck_assert_int_eq(parse(r, 5, &h), SNG_R_BAD_VERSION);
}
END_TEST

START_TEST(t_not_tls)
{
	static const char http[] = "GET / HTTP/1.1\r\nHost: foo.example.com\r\n\r\n";
	/* SSLv2-compatible CLIENT-HELLO (RFC 5246 E.2): 2-byte length with the
	 * top bit set, msg_type 1, version 3.1, cipher specs, challenge. */
	static const uint8_t sslv2[] = {
		0x80, 0x1f,             /* SSLv2 record, length 31 */
		0x01, 0x03, 0x01,       /* CLIENT-HELLO, version 3.1 */
		0x00, 0x06, 0x00, 0x00, 0x00, 0x10, /* specs 6, session 0, challenge 16 */
		0x00, 0x00, 0x2f, 0x00, 0x00, 0x35, /* two cipher specs */
		0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, /* challenge */
	};
	struct hello_info h;
	uint8_t rnd[4096];
	uint32_t x = 12345;

	ck_assert_int_eq(parse((const uint8_t *)http, strlen(http), &h), SNG_R_NOT_TLS);
	ck_assert_int_eq(parse((const uint8_t *)http, 1, &h), SNG_R_NOT_TLS); /* at once */
	ck_assert_int_eq(parse(sslv2, sizeof(sslv2), &h), SNG_R_NOT_TLS);
	ck_assert_int_eq(parse(sslv2, 1, &h), SNG_R_NOT_TLS);
	ck_assert_int_eq(parse(NULL, 0, &h), SNG_R_HELLO_TRUNCATED);
	/* Random bytes: a clean verdict every time, never OK. */
	for (int round = 0; round < 2000; round++) {
		size_t n = 1 + round % sizeof(rnd);
		int rc;

		for (size_t i = 0; i < n; i++) {
			x ^= x << 13;
			x ^= x >> 17;
			x ^= x << 5;
			rnd[i] = (uint8_t)x;
		}
		if (round & 1) { /* give it a plausible record header */
			rnd[0] = 0x16;
			rnd[1] = 0x03;
			rnd[2] = 0x01;
		}
		rc = parse(rnd, n, &h);
		ck_assert_int_ne(rc, SNG_OK);
		ck_assert_str_ne(hello_reason_name(rc), "unknown");
	}
}
END_TEST

START_TEST(t_not_hello)
{
	/* A ServerHello (type 2) where a ClientHello must be: known from the
	 * first handshake byte. */
	static const uint8_t server_hello[] = { 0x16, 0x03, 0x03, 0x00, 0x30, 0x02 };
	struct hello_info h;
	struct sng_ch_info info;
	uint8_t copy[sizeof(hello_minimal)];

	ck_assert_int_eq(parse(server_hello, sizeof(server_hello), &h), SNG_R_NOT_HELLO);
	ck_assert_int_eq(parse_record(server_hello, sizeof(server_hello), &info), SNG_R_NOT_HELLO);
	/* ClientHello.legacy_version 3.0 (SSL 3.0) is refused. */
	memcpy(copy, hello_minimal, sizeof(copy));
	copy[10] = 0x00;
	ck_assert_int_eq(parse(copy, sizeof(copy), &h), SNG_R_BAD_VERSION);
	/* Handshake length below the smallest ClientHello. */
	memcpy(copy, hello_minimal, sizeof(copy));
	copy[8] = 40;
	copy[4] = 44;
	ck_assert_int_eq(parse(copy, 49, &h), SNG_R_MALFORMED);
}
END_TEST

/* Every way of cutting the real TLS 1.3 hello into two records, and every
 * prefix of each (TCP segmentation): TRUNCATED until the end, then OK. */
START_TEST(t_split_every_position)
{
	static struct buf rec;
	const uint8_t *msg = hello_openssl_tls13 + 5;
	size_t n = sizeof(hello_openssl_tls13) - 5, k;
	struct hello_info h;
	struct sng_ch_info info;

	for (k = 1; k < n; k++) {
		make_records(&rec, msg, n, k, n);
		ck_assert_int_eq(parse(rec.b, rec.n, &h), SNG_OK);
		ck_assert_str_eq(h.sni, "foo.example.com");
		ck_assert_uint_eq(h.records, 2);
		ck_assert_uint_eq(h.hello_len, rec.n);
		assert_prefixes_truncated(rec.b, rec.n, 1);
		/* The BPF entry cannot reassemble; it must say so, not guess. */
		ck_assert_int_eq(parse_record(rec.b, rec.n, &info), SNG_R_HELLO_TRUNCATED);
	}
}
END_TEST

START_TEST(t_one_byte_records)
{
	static struct buf rec, msg, ext;
	struct hello_info h;

	make_records(&rec, hello_openssl_tls13 + 5, sizeof(hello_openssl_tls13) - 5, 0, 1);
	ck_assert_uint_eq(rec.n, 6 * (sizeof(hello_openssl_tls13) - 5));
	ck_assert_int_eq(parse(rec.b, rec.n, &h), SNG_OK);
	ck_assert_str_eq(h.sni, "foo.example.com");
	ck_assert(h.tls13);
	ck_assert_uint_eq(h.records, sizeof(hello_openssl_tls13) - 5);
	assert_prefixes_truncated(rec.b, rec.n, 1);

	/* 1-byte records of a bigger hello run past HELLO_STREAM_MAX. */
	ext.n = 0;
	put_sni(&ext, "big.example.com", 15);
	put_ext(&ext, 21, NULL, 6000, 0);
	make_msg(&msg, &ext);
	make_records(&rec, msg.b, msg.n, 0, 1);
	ck_assert_uint_gt(rec.n, HELLO_STREAM_MAX);
	ck_assert_int_eq(parse(rec.b, rec.n, &h), SNG_R_TOO_BIG);
	ck_assert_int_eq(parse(rec.b, HELLO_STREAM_MAX, &h), SNG_R_TOO_BIG);
	ck_assert_int_eq(parse(rec.b, HELLO_STREAM_MAX - 6, &h), SNG_R_HELLO_TRUNCATED);
}
END_TEST

START_TEST(t_interleave_and_trailing)
{
	static struct buf rec, bad;
	const uint8_t *msg = hello_minimal + 5;
	size_t n = sizeof(hello_minimal) - 5;
	struct hello_info h;

	/* An alert record between two fragments (RFC 8446 5.1). */
	make_records(&rec, msg, n, 10, n);
	bad.n = 0;
	put(&bad, rec.b, 15);
	put(&bad, (uint8_t[]){ 0x15, 0x03, 0x03, 0x00, 0x02, 0x01, 0x00 }, 7);
	put(&bad, rec.b + 15, rec.n - 15);
	ck_assert_int_eq(parse(bad.b, bad.n, &h), SNG_R_MALFORMED);

	/* Bytes after the ClientHello in its own record: not on a boundary. */
	bad.n = 0;
	put(&bad, hello_minimal, sizeof(hello_minimal));
	put8(&bad, 0x00);
	bad.b[4]++;
	ck_assert_int_eq(parse(bad.b, bad.n, &h), SNG_R_MALFORMED);
	ck_assert_int_eq(parse(bad.b, 9, &h), SNG_R_MALFORMED); /* told by headers */

	/* Application data pipelined right behind the hello is not part of it. */
	bad.n = 0;
	put(&bad, hello_minimal, sizeof(hello_minimal));
	put(&bad, (uint8_t[]){ 0x17, 0x03, 0x03, 0x00, 0x02, 'h', 'i' }, 7);
	ck_assert_int_eq(parse(bad.b, bad.n, &h), SNG_OK);
	ck_assert_uint_eq(h.hello_len, sizeof(hello_minimal));
}
END_TEST

/* ---- tests: sizes -------------------------------------------------------- */

START_TEST(t_post_quantum)
{
	static struct buf msg, rec;
	struct hello_info h;
	struct sng_ch_info info;

	for (int last = 0; last <= 1; last++) {
		make_pq(&msg, last);
		make_records(&rec, msg.b, msg.n, 0, 16384);
		ck_assert_uint_gt(rec.n, 1448); /* more than one MTU-1500 segment */
		ck_assert_uint_lt(rec.n, 1600);
		ck_assert_int_eq(parse(rec.b, rec.n, &h), SNG_OK);
		ck_assert_str_eq(h.sni, "pq.example.com");
		ck_assert(h.tls13);
		/* The first segment alone (1448 B) is not enough: TRUNCATED, in
		 * both entries, whether or not SNI came early (sockmap-facts 4.2). */
		ck_assert_int_eq(parse(rec.b, 1448, &h), SNG_R_HELLO_TRUNCATED);
		ck_assert_int_eq(parse_record(rec.b, 1448, &info), SNG_R_HELLO_TRUNCATED);
		ck_assert_int_eq(parse_record(rec.b, rec.n, &info), SNG_OK);
		assert_prefixes_truncated(rec.b, rec.n, 1);
	}
}
END_TEST

/* Decision: SNG_HELLO_MAX bounds the handshake message (header + body), i.e.
 * any ClientHello that fits one maximal record is accepted; the 20 KB
 * 2-record hello (OpenSSL with 100 ALPN names) is TOO_BIG, decided from the
 * handshake header alone, before its bytes are held. */
START_TEST(t_size_limit)
{
	static struct buf ext, msg, rec;
	struct hello_info h;
	size_t pad;

	ext.n = 0;
	put_sni(&ext, "max.example.com", 15);
	put_ext(&ext, 21, NULL, 0, 0);
	make_msg(&msg, &ext);
	pad = SNG_HELLO_MAX - msg.n;
	/* Exactly SNG_HELLO_MAX bytes, in one record and in two. */
	ext.n = 0;
	put_sni(&ext, "max.example.com", 15);
	put_ext(&ext, 21, NULL, pad, 0);
	make_msg(&msg, &ext);
	ck_assert_uint_eq(msg.n, SNG_HELLO_MAX);
	make_records(&rec, msg.b, msg.n, 0, 16384);
	ck_assert_int_eq(parse(rec.b, rec.n, &h), SNG_OK);
	make_records(&rec, msg.b, msg.n, 10000, 16384);
	ck_assert_int_eq(parse(rec.b, rec.n, &h), SNG_OK);
	ck_assert_uint_eq(h.records, 2);
	/* One byte more: TOO_BIG from the first 9 bytes. */
	ext.n = 0;
	put_sni(&ext, "max.example.com", 15);
	put_ext(&ext, 21, NULL, pad + 1, 0);
	make_msg(&msg, &ext);
	make_records(&rec, msg.b, msg.n, 0, 16384);
	ck_assert_uint_eq(rec.n, msg.n + 10);
	ck_assert_int_eq(parse(rec.b, rec.n, &h), SNG_R_TOO_BIG);
	ck_assert_int_eq(parse(rec.b, 9, &h), SNG_R_TOO_BIG);
	/* A 20 KB hello in 2 records, as OpenSSL sends it. */
	ext.n = 0;
	put_sni(&ext, "big.example.com", 15);
	put_ext(&ext, 16, NULL, 20000, 0x05);
	make_msg(&msg, &ext);
	make_records(&rec, msg.b, msg.n, 0, 16384);
	ck_assert_uint_gt(rec.n, 20000);
	ck_assert_int_eq(parse(rec.b, rec.n, &h), SNG_R_TOO_BIG);
}
END_TEST

/* More than SNG_CH_MAX_EXT extensions: refused, not half-walked. */
START_TEST(t_many_extensions)
{
	static struct buf ext, msg, rec;
	struct hello_info h;

	for (int count = SNG_CH_MAX_EXT - 1; count <= SNG_CH_MAX_EXT + 1; count++) {
		ext.n = 0;
		for (int i = 0; i < count - 1; i++)
			put_ext(&ext, 0x1000 + (unsigned int)i, NULL, 0, 0);
		put_sni(&ext, "x.example.com", 13);
		make_msg(&msg, &ext);
		make_records(&rec, msg.b, msg.n, 0, 16384);
		ck_assert_int_eq(parse(rec.b, rec.n, &h),
				 count <= SNG_CH_MAX_EXT ? SNG_OK : SNG_R_TOO_BIG);
	}
}
END_TEST

START_TEST(t_alpn_clip)
{
	static struct buf ext, msg, rec, alpn;
	struct hello_info h;

	/* 5 entries of 100 bytes: 2 fit HELLO_ALPN_MAX whole. */
	alpn.n = 0;
	put16(&alpn, 5 * 101);
	for (int i = 0; i < 5; i++) {
		put8(&alpn, 100);
		for (int j = 0; j < 100; j++)
			put8(&alpn, 'a' + (unsigned int)i);
	}
	ext.n = 0;
	put_ext(&ext, 16, alpn.b, alpn.n, 0);
	put_sni(&ext, "alpn.example.com", 16);
	make_msg(&msg, &ext);
	make_records(&rec, msg.b, msg.n, 0, 16384);
	ck_assert_int_eq(parse(rec.b, rec.n, &h), SNG_OK);
	ck_assert(h.alpn_clipped);
	ck_assert_uint_eq(h.alpn_len, 2 * 101);
	ck_assert_mem_eq(h.alpn, alpn.b + 2, 2 * 101);
}
END_TEST

/* ---- tests: real hellos -------------------------------------------------- */

START_TEST(t_real_embedded)
{
	struct hello_info h;

	ck_assert_int_eq(parse(hello_openssl_tls12, sizeof(hello_openssl_tls12), &h), SNG_OK);
	ck_assert_str_eq(h.sni, "foo.example.com");
	ck_assert(!h.tls13);
	ck_assert_uint_eq(h.n_ext, 7);
	assert_prefixes_truncated(hello_openssl_tls12, sizeof(hello_openssl_tls12), 1);

	ck_assert_int_eq(parse(hello_openssl_tls13, sizeof(hello_openssl_tls13), &h), SNG_OK);
	ck_assert_str_eq(h.sni, "foo.example.com");
	ck_assert(h.tls13);
	ck_assert_uint_eq(h.n_ext, 10);
	assert_prefixes_truncated(hello_openssl_tls13, sizeof(hello_openssl_tls13), 1);
}
END_TEST

/* The corpus: captures of openssl s_client, curl and python3 ssl plus the
 * synthetic ones (tests/fuzz/make-corpus.sh), with the expected outcome. */
static const struct corpus_case {
	const char *file;
	int rc;
	const char *sni;
	int tls13;
	unsigned int records;
} corpus[] = {
	{ "openssl-default.bin", SNG_OK, "foo.example.com", 1, 1 },
	{ "openssl-tls1_2.bin", SNG_OK, "foo.example.com", 0, 1 },
	{ "openssl-tls1_3.bin", SNG_OK, "foo.example.com", 1, 1 },
	{ "openssl-ffdhe8192.bin", SNG_OK, "foo.example.com", 1, 1 },
	{ "openssl-alpn.bin", SNG_OK, "foo.example.com", 1, 1 },
	{ "openssl-alpn-5k.bin", SNG_OK, "foo.example.com", 1, 1 },
	{ "openssl-alpn-20k.bin", SNG_R_TOO_BIG, NULL, 0, 0 },
	{ "openssl-nosni.bin", SNG_R_NO_SNI, NULL, 1, 1 },
	{ "curl.bin", SNG_OK, "foo.example.com", 1, 1 },
	{ "curl-tls1_2.bin", SNG_OK, "foo.example.com", 0, 1 },
	{ "python-ssl.bin", SNG_OK, "foo.example.com", 1, 1 },
	{ "synth-pq-sni-last.bin", SNG_OK, "pq.example.com", 1, 1 },
	{ "synth-pq-sni-first.bin", SNG_OK, "pq.example.com", 1, 1 },
	{ "synth-6k-sni-last.bin", SNG_OK, "pq.example.com", 1, 1 },
	{ "synth-pq-1000b-records.bin", SNG_OK, "pq.example.com", 1, 2 },
	{ "synth-small-1b-records.bin", SNG_OK, "foo.example.com", 1, 124 },
	{ "synth-small-7b-records.bin", SNG_OK, "foo.example.com", 1, 18 },
	{ "synth-16k-max.bin", SNG_OK, "pq.example.com", 1, 1 },
	{ "synth-pipelined.bin", SNG_OK, "foo.example.com", 1, 1 },
	{ "http-get.bin", SNG_R_NOT_TLS, NULL, 0, 0 },
	{ "sslv2-hello.bin", SNG_R_NOT_TLS, NULL, 0, 0 },
};

/* tests/fuzz/corpus/clienthello from the repo root (where make runs), or
 * relative to this binary (build/tests/unit/). */
static FILE *open_corpus(const char *file)
{
	char path[8192], exe[4096];
	const char *dir = getenv("SNG_CORPUS");
	ssize_t n;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir ? dir : "tests/fuzz/corpus/clienthello", file);
	f = fopen(path, "rb");
	if (f || dir)
		return f;
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n <= 0)
		return NULL;
	exe[n] = 0;
	*strrchr(exe, '/') = 0;
	snprintf(path, sizeof(path), "%s/../../../tests/fuzz/corpus/clienthello/%s", exe, file);
	return fopen(path, "rb");
}

START_TEST(t_corpus)
{
	static uint8_t b[64 * 1024];
	const struct corpus_case *c = &corpus[_i];
	struct hello_info h;
	size_t n;
	FILE *f;
	int rc;

	f = open_corpus(c->file);
	ck_assert_msg(f != NULL, "corpus file %s missing (run tests/fuzz/make-corpus.sh)", c->file);
	n = fread(b, 1, sizeof(b), f);
	fclose(f);
	rc = parse(b, n, &h);
	ck_assert_msg(rc == c->rc, "%s: %s, expected %s", c->file, hello_reason_name(rc),
		      hello_reason_name(c->rc));
	if (c->sni) {
		ck_assert_str_eq(h.sni, c->sni);
		ck_assert_uint_eq(h.sni_len, strlen(c->sni));
	}
	if (c->records) {
		ck_assert_int_eq(h.tls13, c->tls13);
		ck_assert_uint_eq(h.records, c->records);
	}
	if (rc == SNG_OK && h.records == 1 && n > h.hello_len)
		ck_assert_uint_eq(h.hello_len, n - 10); /* synth-pipelined: hello + 10 B */
	else if (rc == SNG_OK)
		ck_assert_uint_eq(h.hello_len, n);
	/* Every cut (TCP segmentation) before the end: TRUNCATED, no SNI. */
	if (rc == SNG_OK || rc == SNG_R_NO_SNI)
		assert_prefixes_truncated(b, h.hello_len, h.hello_len > 4096 ? 7 : 1);
}
END_TEST

/* ---- regressions (each found by a tool; never remove) -------------------- */

/* fuzz_clienthello invariant "BPF entry final => same as stream": with
 * 1-byte records the BPF entry read the handshake header across record
 * headers and answered TOO_BIG where the stream parser said OK. */
START_TEST(t_regress_bpf_entry_split_header)
{
	static struct buf rec;
	struct sng_ch_info info;

	make_records(&rec, hello_minimal + 5, sizeof(hello_minimal) - 5, 0, 1);
	ck_assert_int_eq(parse_record(rec.b, rec.n, &info), SNG_R_HELLO_TRUNCATED);
	make_records(&rec, hello_minimal + 5, sizeof(hello_minimal) - 5, 3, 100);
	ck_assert_int_eq(parse_record(rec.b, rec.n, &info), SNG_R_HELLO_TRUNCATED);
}
END_TEST

/* bpf_hello_check (kernel vs stream): a hello with SNI last, cut inside the
 * name, gave OK with an SNI running past the data, in the kernel and in the
 * host build of the BPF entry alike. */
START_TEST(t_regress_truncated_sni_last)
{
	struct sng_ch_info info;
	size_t n = sizeof(hello_sni_last);

	fix(hello_sni_last, n);
	for (size_t cut = n - 11; cut < n; cut++)
		ck_assert_int_eq(parse_record(hello_sni_last, cut, &info), SNG_R_HELLO_TRUNCATED);
	ck_assert_int_eq(parse_record(hello_sni_last, n, &info), SNG_OK);
}
END_TEST

START_TEST(t_reason_names)
{
	ck_assert_str_eq(hello_reason_name(SNG_OK), "ok");
	ck_assert_str_eq(hello_reason_name(SNG_R_HELLO_TRUNCATED), "truncated");
	ck_assert_str_eq(hello_reason_name(SNG_R_SEVERAL_SNI), "several_sni");
	ck_assert_str_eq(hello_reason_name(SNG_R_NO_ROUTE), "unknown");
}
END_TEST

static Suite *hello_suite(void)
{
	Suite *s = suite_create("clienthello");
	TCase *tc;

	tc = tcase_create("handwritten");
	tcase_add_test(tc, t_minimal);
	tcase_add_test(tc, t_sni_first);
	tcase_add_test(tc, t_sni_last);
	tcase_add_test(tc, t_no_sni);
	tcase_add_test(tc, t_bad_sni);
	tcase_add_test(tc, t_malformed_ext);
	tcase_add_test(tc, t_name_length);
	tcase_add_test(tc, t_reason_names);
	suite_add_tcase(s, tc);

	tc = tcase_create("framing");
	tcase_add_test(tc, t_record_limits);
	tcase_add_test(tc, t_not_tls);
	tcase_add_test(tc, t_not_hello);
	tcase_add_test(tc, t_split_every_position);
	tcase_add_test(tc, t_one_byte_records);
	tcase_add_test(tc, t_interleave_and_trailing);
	tcase_set_timeout(tc, 60);
	suite_add_tcase(s, tc);

	tc = tcase_create("sizes");
	tcase_add_test(tc, t_post_quantum);
	tcase_add_test(tc, t_size_limit);
	tcase_add_test(tc, t_many_extensions);
	tcase_add_test(tc, t_alpn_clip);
	tcase_set_timeout(tc, 60);
	suite_add_tcase(s, tc);

	tc = tcase_create("real");
	tcase_add_test(tc, t_real_embedded);
	tcase_add_loop_test(tc, t_corpus, 0, (int)(sizeof(corpus) / sizeof(corpus[0])));
	tcase_set_timeout(tc, 60);
	suite_add_tcase(s, tc);

	tc = tcase_create("regressions");
	tcase_add_test(tc, t_regress_bpf_entry_split_header);
	tcase_add_test(tc, t_regress_truncated_sni_last);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(hello_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
