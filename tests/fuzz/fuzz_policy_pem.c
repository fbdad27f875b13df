// SPDX-License-Identifier: GPL-2.0-only
/* libFuzzer target: Secret/PEM loading of the policy compiler (policy/cert.c:
 * base64 decode, tls.crt/tls.key parse and key match, SANs, CA bundles). */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>

#include "cert.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                        \
	do {                                                               \
		if (!(cond)) {                                             \
			fprintf(stderr, "invariant failed: %s (%s:%d)\n", \
				#cond, __FILE__, __LINE__);                \
			abort();                                           \
		}                                                          \
	} while (0)

/* Input layout: byte 0 selects the mode, the rest is "CRT" [0xff 0xfe "KEY"]:
 *   mode & 3 == 0: stringData (PEM text as is)
 *   mode & 3 == 1: data, both parts base64-encoded by us (decode + PEM)
 *   mode & 3 == 2: data, both parts taken as base64 text (the decoder)
 *   mode & 3 == 3: a ConfigMap ca.crt bundle (CRT part only), twice
 *   mode & 4: Secret type is not kubernetes.io/tls
 * The split marker is two bytes that are not valid UTF-8/PEM, so seeds stay
 * readable and the fuzzer can move it. */
#define SPLIT "\xff\xfe"

static const char b64chars[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static char *b64_encode(const uint8_t *p, size_t n)
{
	char *o = malloc(n / 3 * 4 + 8), *w = o;
	size_t i;

	if (!o)
		abort();
	for (i = 0; i + 2 < n; i += 3) {
		unsigned v = (unsigned)p[i] << 16 | (unsigned)p[i + 1] << 8 | p[i + 2];

		*w++ = b64chars[v >> 18 & 63];
		*w++ = b64chars[v >> 12 & 63];
		*w++ = b64chars[v >> 6 & 63];
		*w++ = b64chars[v & 63];
	}
	if (n - i == 1) {
		unsigned v = (unsigned)p[i] << 16;

		*w++ = b64chars[v >> 18 & 63];
		*w++ = b64chars[v >> 12 & 63];
		*w++ = '=';
		*w++ = '=';
	} else if (n - i == 2) {
		unsigned v = (unsigned)p[i] << 16 | (unsigned)p[i + 1] << 8;

		*w++ = b64chars[v >> 18 & 63];
		*w++ = b64chars[v >> 12 & 63];
		*w++ = b64chars[v >> 6 & 63];
		*w++ = '=';
	}
	*w = '\0';
	return o;
}

/* A JSON string of exactly @n bytes (no UTF-8 check: the policy code must
 * cope with whatever the YAML/JSON loader lets through, embedded NULs too). */
static json_t *jstr(const uint8_t *p, size_t n)
{
	json_t *s = json_stringn_nocheck((const char *)p, n);

	if (!s)
		abort();
	return s;
}

/* No 16-byte window of the key input may show up in the reason text
 * (reasons end up in Kubernetes status and logs). */
static void check_no_key_in(const char *why, const uint8_t *key, size_t klen)
{
	size_t wl = strlen(why), i;

	if (klen < 16 || wl < 16)
		return;
	for (i = 0; i + 16 <= klen && i < 8192; i++)
		CHECK(!memmem(why, wl, key + i, 16));
}

static void check_cert(const struct policy_cert *c)
{
	size_t i, j;

	CHECK(c->chain_pem && c->key_pem);
	CHECK(strlen(c->chain_pem) == c->chain_len);
	CHECK(strlen(c->key_pem) == c->key_len);
	CHECK(!strcmp(c->ref, "ns/fuzz"));
	CHECK(c->n_sans == 0 || c->sans);
	for (i = 0; i < c->n_sans; i++) {
		size_t l = strlen(c->sans[i]);

		CHECK(l >= 1 && l <= SNG_HOSTNAME_MAX);
		for (j = 0; j < l; j++)
			CHECK(!(c->sans[i][j] >= 'A' && c->sans[i][j] <= 'Z'));
	}
}

static void fuzz_secret(unsigned mode, const uint8_t *crt, size_t crt_len, const uint8_t *key,
			size_t key_len)
{
	json_t *sec = json_object(), *d = json_object();
	struct policy_cert c;
	char why[256] = "";
	int rc;

	json_object_set_new(sec, "type",
			    json_string(mode & 4 ? "Opaque" : "kubernetes.io/tls"));
	switch (mode & 3) {
	case 0:
		json_object_set_new(d, "tls.crt", jstr(crt, crt_len));
		if (key)
			json_object_set_new(d, "tls.key", jstr(key, key_len));
		json_object_set_new(sec, "stringData", d);
		break;
	case 1: {
		char *a = b64_encode(crt, crt_len), *b = key ? b64_encode(key, key_len) : NULL;

		json_object_set_new(d, "tls.crt", json_string(a));
		if (b)
			json_object_set_new(d, "tls.key", json_string(b));
		free(a);
		free(b);
		json_object_set_new(sec, "data", d);
		break;
	}
	default:
		json_object_set_new(d, "tls.crt", jstr(crt, crt_len));
		if (key)
			json_object_set_new(d, "tls.key", jstr(key, key_len));
		json_object_set_new(sec, "data", d);
		break;
	}
	rc = cert_from_secret(sec, "ns/fuzz", &c, why, sizeof(why));
	if (getenv("SNG_FUZZ_VERBOSE")) /* seed check: tests/fuzz/make-corpus-pem.sh */
		fprintf(stderr, "secret mode %u: rc %d sans %zu %s\n", mode, rc, c.n_sans, why);
	CHECK(rc == 0 || rc == 1 || rc == -ENOMEM);
	if (rc == 0) {
		check_cert(&c);
		CHECK(!(mode & 4));
	} else {
		CHECK(!c.chain_pem && !c.key_pem && !c.sans && c.n_sans == 0);
		if (rc == 1)
			CHECK(why[0] != '\0');
	}
	CHECK(memchr(why, '\0', sizeof(why)));
	if (key)
		check_no_key_in(why, key, key_len);
	cert_clear(&c);
	cert_clear(NULL);
	json_decref(sec);
}

static void fuzz_ca(const uint8_t *crt, size_t crt_len)
{
	json_t *cm = json_object(), *d = json_object();
	char why[256] = "", *bundle = NULL;
	size_t len = 0, first;
	int rc, i;

	json_object_set_new(d, "ca.crt", jstr(crt, crt_len));
	json_object_set_new(cm, "data", d);
	for (i = 0; i < 2; i++) {
		first = len;
		rc = cert_ca_bundle(cm, &bundle, &len, why, sizeof(why));
		if (getenv("SNG_FUZZ_VERBOSE"))
			fprintf(stderr, "ca bundle: rc %d len %zu %s\n", rc, len, why);
		CHECK(rc == 0 || rc == 1 || rc == -ENOMEM);
		if (rc == 0) {
			CHECK(bundle && len > first && bundle[len] == '\0');
			CHECK(bundle[len - 1] == '\n');
		} else {
			CHECK(len == first);
		}
	}
	free(bundle);
	json_decref(cm);
}

static void fuzz_b64(const uint8_t *p, size_t n)
{
	char *s = malloc(n + 1), *out;
	size_t olen = 0;

	if (!s)
		abort();
	memcpy(s, p, n);
	s[n] = '\0';
	out = cert_b64_decode(s, &olen);
	if (out) {
		CHECK(olen <= strlen(s) * 3 / 4 + 1);
		CHECK(out[olen] == '\0');
		free(out);
	}
	free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *rest, *sep, *key = NULL;
	size_t n, crt_len, key_len = 0;
	unsigned mode;

	if (size < 1 || size > 256 * 1024)
		return 0;
	mode = data[0];
	rest = data + 1;
	n = size - 1;
	sep = memmem(rest, n, SPLIT, 2);
	crt_len = sep ? (size_t)(sep - rest) : n;
	if (sep) {
		key = sep + 2;
		key_len = n - crt_len - 2;
	}
	if ((mode & 3) == 3)
		fuzz_ca(rest, crt_len);
	else
		fuzz_secret(mode, rest, crt_len, key, key_len);
	fuzz_b64(rest, n);
	return 0;
}
