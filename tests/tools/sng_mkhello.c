// SPDX-License-Identifier: GPL-2.0-only
/* sng_mkhello: write a synthetic TLS 1.3 ClientHello to stdout for the
 * data-path tests: chosen SNI, padding, SNI first or last, record split. */
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint8_t body[70000];
static size_t blen;

static void put(const void *p, size_t n)
{
	if (blen + n > sizeof(body)) {
		fprintf(stderr, "sng_mkhello: too big\n");
		exit(2);
	}
	memcpy(body + blen, p, n);
	blen += n;
}

static void put8(unsigned v) { uint8_t b = (uint8_t)v; put(&b, 1); }
static void put16(unsigned v) { put8(v >> 8); put8(v & 0xff); }

static void ext_sni(const char *sni)
{
	size_t n = strlen(sni);

	put16(0);               /* server_name */
	put16((unsigned)n + 5);
	put16((unsigned)n + 3); /* server_name_list */
	put8(0);                /* host_name */
	put16((unsigned)n);
	put(sni, n);
}

static void ext_rest(size_t pad)
{
	static const uint8_t key[32] = { 0x11, 0x22, 0x33 };

	put16(43); put16(3); put8(2); put16(0x0304);             /* supported_versions */
	put16(10); put16(4); put16(2); put16(0x001d);            /* supported_groups */
	put16(13); put16(4); put16(2); put16(0x0804);            /* signature_algorithms */
	put16(51); put16(38); put16(36); put16(0x001d); put16(32); put(key, 32); /* key_share */
	if (pad) {
		put16(21);                                       /* padding */
		put16((unsigned)pad);
		while (pad--)
			put8(0);
	}
}

int main(int argc, char **argv)
{
	const char *sni = "foo.example.com";
	size_t pad = 0, rec = 16384, i, ext_len_at, hs_len;
	int sni_last = 0, no_sni = 0, c;
	uint8_t rnd[32] = { 0 };
	uint8_t *hs;

	while ((c = getopt(argc, argv, "s:p:r:lnh")) != -1) {
		switch (c) {
		case 's': sni = optarg; break;
		case 'p': pad = (size_t)atol(optarg); break;
		case 'r': rec = (size_t)atol(optarg); break;
		case 'l': sni_last = 1; break;
		case 'n': no_sni = 1; break;
		default:
			fprintf(stderr, "usage: sng_mkhello [-s SNI] [-p PAD] [-r RECORD_BYTES] [-l sni last] [-n no sni] > hello.bin\n");
			return c == 'h' ? 0 : 2;
		}
	}
	if (pad > 65000 || rec < 1 || rec > 16384) {
		fprintf(stderr, "sng_mkhello: -p up to 65000, -r 1..16384\n");
		return 2;
	}
	for (i = 0; i < 32; i++)
		rnd[i] = (uint8_t)(i * 7 + 1);
	put16(0x0303);
	put(rnd, 32);
	put8(32);
	put(rnd, 32);                       /* legacy_session_id */
	put16(6); put16(0x1301); put16(0x1302); put16(0x1303);
	put8(1); put8(0);                   /* compression: null */
	ext_len_at = blen;
	put16(0);
	if (!no_sni && !sni_last)
		ext_sni(sni);
	ext_rest(pad);
	if (!no_sni && sni_last)
		ext_sni(sni);
	body[ext_len_at] = (uint8_t)((blen - ext_len_at - 2) >> 8);
	body[ext_len_at + 1] = (uint8_t)(blen - ext_len_at - 2);
	hs_len = blen + 4;
	hs = malloc(hs_len);
	if (!hs)
		return 1;
	hs[0] = 1;
	hs[1] = (uint8_t)(blen >> 16);
	hs[2] = (uint8_t)(blen >> 8);
	hs[3] = (uint8_t)blen;
	memcpy(hs + 4, body, blen);
	for (i = 0; i < hs_len; i += rec) {
		size_t n = hs_len - i < rec ? hs_len - i : rec;
		uint8_t h[5] = { 22, 3, 1, (uint8_t)(n >> 8), (uint8_t)n };

		fwrite(h, 1, 5, stdout);
		fwrite(hs + i, 1, n, stdout);
	}
	free(hs);
	return 0;
}
