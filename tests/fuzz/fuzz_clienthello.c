// SPDX-License-Identifier: GPL-2.0-only
/* libFuzzer target: hello_parse_stream() (record reassembly + the shared
 * parser) and the host build of the BPF entry, with invariant checks. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hello.h"
#include "lib/clienthello.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                        \
	do {                                                               \
		if (!(cond)) {                                             \
			fprintf(stderr, "invariant failed: %s (%s:%d)\n", \
				#cond, __FILE__, __LINE__);                \
			abort();                                           \
		}                                                          \
	} while (0)

static int known_rc(int rc)
{
	switch (rc) {
	case SNG_OK: case SNG_R_HELLO_TRUNCATED: case SNG_R_NOT_TLS:
	case SNG_R_BAD_VERSION: case SNG_R_NOT_HELLO: case SNG_R_MALFORMED:
	case SNG_R_TOO_BIG: case SNG_R_NO_SNI: case SNG_R_BAD_SNI:
	case SNG_R_SEVERAL_SNI:
		return 1;
	}
	return 0;
}

/* The SNI bytes must come from the input: in order, possibly spread over
 * several records (a subsequence); contiguous when one record carried it. */
static int is_subsequence(const uint8_t *in, size_t n, const char *s, size_t m)
{
	size_t i = 0, j = 0;

	for (; i < n && j < m; i++)
		if (in[i] == (uint8_t)s[j])
			j++;
	return j == m;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct hello_info h, p;
	struct sng_ch_info info;
	struct sng_ch_src src = { .buf = data, .len = (__u32)size };
	int rc, prc, rrc;

	if (size > 4 * HELLO_STREAM_MAX)
		return 0;
	rc = hello_parse_stream(data, size, &h);
	CHECK(known_rc(rc));

	if (rc == SNG_OK) {
		CHECK(h.sni_len >= 1 && h.sni_len <= SNG_HOSTNAME_MAX);
		CHECK(h.sni[h.sni_len] == '\0');
		CHECK(h.hello_len <= size && h.hello_len <= HELLO_STREAM_MAX);
		CHECK(h.body_len + SNG_TLS_HS_HDR <= SNG_HELLO_MAX);
		CHECK(is_subsequence(data, h.hello_len, h.sni, h.sni_len));
		if (h.records == 1)
			CHECK(memmem(data, h.hello_len, h.sni, h.sni_len) != NULL);
	}
	CHECK(h.alpn_len <= HELLO_ALPN_MAX);

	/* Final outcomes do not depend on later bytes: the hello's own bytes
	 * give the same answer, and any prefix gives it or TRUNCATED. */
	if (rc == SNG_OK || rc == SNG_R_NO_SNI || rc == SNG_R_BAD_SNI ||
	    rc == SNG_R_SEVERAL_SNI) {
		prc = hello_parse_stream(data, h.hello_len, &p);
		CHECK(prc == rc && p.sni_len == h.sni_len &&
		      !memcmp(p.sni, h.sni, h.sni_len));
		if (h.hello_len > 0) {
			prc = hello_parse_stream(data, h.hello_len - 1, &p);
			CHECK(prc == SNG_R_HELLO_TRUNCATED);
		}
	}
	if (size > 0) {
		prc = hello_parse_stream(data, size - 1 - (size - 1) / 3, &p);
		CHECK(prc == rc || prc == SNG_R_HELLO_TRUNCATED);
	}

	/* The BPF entry (host build): whatever it decides, the stream parser
	 * decides too, and a hello in one whole record gives the same SNI. */
	memset(&info, 0, sizeof(info));
	rrc = sng_ch_parse_record(&src, &info);
	CHECK(known_rc(rrc));
	if (rrc != SNG_R_HELLO_TRUNCATED)
		CHECK(rrc == rc); /* final in BPF => same final on the host */
	if (rc == SNG_OK && h.records == 1) {
		CHECK(rrc == SNG_OK && info.sni_len == h.sni_len &&
		      !memcmp(data + info.sni_off, h.sni, h.sni_len));
	}
	if (rrc == SNG_OK) {
		uint8_t name[SNG_HOSTNAME_MAX + 1];

		CHECK(sng_ch_copy_sni(&src, &info, name) == info.sni_len);
		CHECK(info.sni_off + info.sni_len <= size);
	}

	/* The body walker alone, on raw bytes (reaches deep paths quickly). */
	if (size >= 1 && size <= SNG_HELLO_MAX) {
		memset(&info, 0, sizeof(info));
		rrc = sng_ch_parse_body(&src, 0, (__u32)size, &info);
		CHECK(known_rc(rrc) && rrc != SNG_R_HELLO_TRUNCATED);
		if (rrc == SNG_OK)
			CHECK(info.sni_off + info.sni_len <= size);
		if (info.alpn_len)
			CHECK(info.alpn_off + info.alpn_len <= size);
	}
	return 0;
}
