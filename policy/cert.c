// SPDX-License-Identifier: GPL-2.0-only
/* Certificates from Secrets and CA bundles from ConfigMaps: base64 decode,
 * PEM parse and key match with OpenSSL (no I/O), SAN extraction. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "cert.h"

static int b64val(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+' || c == '-')
		return 62;
	if (c == '/' || c == '_')
		return 63;
	return -1;
}

char *cert_b64_decode(const char *s, size_t *out_len)
{
	size_t n = strlen(s), o = 0, i;
	unsigned acc = 0;
	int bits = 0, v;
	char *out = malloc(n / 4 * 3 + 4);

	if (!out)
		return NULL;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '=')
			break;
		if (c == '\n' || c == '\r' || c == ' ' || c == '\t')
			continue;
		v = b64val(c);
		if (v < 0) {
			free(out);
			errno = EINVAL;
			return NULL;
		}
		acc = (acc << 6) | (unsigned)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (char)((acc >> bits) & 0xff);
		}
	}
	out[o] = '\0';
	*out_len = o;
	return out;
}

/* Fetch key @k of a Secret: stringData wins over data (as the API server
 * merges them). Returns a malloc'ed NUL-terminated copy or NULL. */
static char *secret_value(json_t *secret, const char *k, size_t *len, char *why, size_t cap)
{
	const char *s = js(json_object_get(secret, "stringData"), k);
	char *out;

	if (s) {
		*len = strlen(s);
		return strdup(s);
	}
	s = js(json_object_get(secret, "data"), k);
	if (!s) {
		snprintf(why, cap, "has no %s", k);
		return NULL;
	}
	out = cert_b64_decode(s, len);
	if (!out)
		snprintf(why, cap, "data.%s is not base64", k);
	else if (strlen(out) != *len) {
		snprintf(why, cap, "%s is not PEM text", k);
		free(out);
		out = NULL;
	}
	return out;
}

static void ossl_reason(char *why, size_t cap, const char *what)
{
	unsigned long e = ERR_get_error();
	char buf[256] = "";

	if (e)
		ERR_error_string_n(e, buf, sizeof(buf));
	ERR_clear_error();
	snprintf(why, cap, "%s%s%s", what, *buf ? ": " : "", buf);
}

/* Count the certificates of a PEM bundle; 0 when none parses. */
static int pem_certs(const char *pem, size_t len, X509 **leaf)
{
	BIO *b = BIO_new_mem_buf(pem, (int)len);
	X509 *x;
	int n = 0;

	if (!b)
		return 0;
	while ((x = PEM_read_bio_X509(b, NULL, NULL, NULL))) {
		if (n == 0 && leaf)
			*leaf = x;
		else
			X509_free(x);
		n++;
	}
	ERR_clear_error(); /* the expected "no start line" at the end */
	BIO_free(b);
	return n;
}

static int collect_sans(X509 *x, struct policy_cert *pc)
{
	GENERAL_NAMES *gens = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
	int i, n;

	if (!gens)
		return 0;
	n = sk_GENERAL_NAME_num(gens);
	pc->sans = calloc((size_t)n + 1, sizeof(char *));
	if (!pc->sans) {
		GENERAL_NAMES_free(gens);
		return -ENOMEM;
	}
	for (i = 0; i < n; i++) {
		GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
		const unsigned char *d;
		int len, j;
		char *s;

		if (g->type != GEN_DNS)
			continue;
		d = ASN1_STRING_get0_data(g->d.dNSName);
		len = ASN1_STRING_length(g->d.dNSName);
		if (len <= 0 || len > SNG_HOSTNAME_MAX || memchr(d, '\0', (size_t)len))
			continue;
		s = malloc((size_t)len + 1);
		if (!s)
			break;
		for (j = 0; j < len; j++)
			s[j] = (char)(d[j] >= 'A' && d[j] <= 'Z' ? d[j] - 'A' + 'a' : d[j]);
		s[len] = '\0';
		pc->sans[pc->n_sans++] = s;
	}
	GENERAL_NAMES_free(gens);
	return 0;
}

int cert_from_secret(json_t *secret, const char *ref, struct policy_cert *out, char *why,
		     size_t cap)
{
	const char *type = js(secret, "type");
	X509 *leaf = NULL;
	EVP_PKEY *key = NULL;
	BIO *b = NULL;
	int rc = 1;

	memset(out, 0, sizeof(*out));
	snprintf(out->ref, sizeof(out->ref), "%s", ref);
	if (!type || strcmp(type, "kubernetes.io/tls")) {
		snprintf(why, cap, "is of type %s, not kubernetes.io/tls", type ? type : "Opaque");
		goto out;
	}
	out->chain_pem = secret_value(secret, "tls.crt", &out->chain_len, why, cap);
	if (!out->chain_pem)
		goto out;
	out->key_pem = secret_value(secret, "tls.key", &out->key_len, why, cap);
	if (!out->key_pem)
		goto out;
	if (pem_certs(out->chain_pem, out->chain_len, &leaf) < 1) {
		ossl_reason(why, cap, "tls.crt holds no parseable PEM certificate");
		goto out;
	}
	b = BIO_new_mem_buf(out->key_pem, (int)out->key_len);
	key = b ? PEM_read_bio_PrivateKey(b, NULL, NULL, (void *)"") : NULL;
	if (!key) {
		ossl_reason(why, cap, "tls.key holds no parseable PEM private key");
		goto out;
	}
	if (X509_check_private_key(leaf, key) != 1) {
		ossl_reason(why, cap, "tls.key does not match the certificate in tls.crt");
		goto out;
	}
	rc = collect_sans(leaf, out) ? -ENOMEM : 0;
out:
	ERR_clear_error();
	EVP_PKEY_free(key);
	BIO_free(b);
	X509_free(leaf);
	if (rc)
		cert_clear(out);
	return rc;
}

void cert_clear(struct policy_cert *c)
{
	size_t i;

	if (!c)
		return;
	if (c->key_pem) {
		OPENSSL_cleanse(c->key_pem, c->key_len);
		free(c->key_pem);
	}
	free(c->chain_pem);
	for (i = 0; i < c->n_sans; i++)
		free(c->sans[i]);
	free(c->sans);
	memset(c, 0, sizeof(*c));
}

int cert_ca_bundle(json_t *configmap, char **bundle, size_t *len, char *why, size_t cap)
{
	const char *ca = js(json_object_get(configmap, "data"), "ca.crt");
	size_t n;
	char *nb;

	if (!ca) {
		snprintf(why, cap, "has no data key ca.crt");
		return 1;
	}
	n = strlen(ca);
	if (pem_certs(ca, n, NULL) < 1) {
		snprintf(why, cap, "ca.crt holds no parseable PEM certificate");
		return 1;
	}
	nb = realloc(*bundle, *len + n + 2);
	if (!nb)
		return -ENOMEM;
	memcpy(nb + *len, ca, n);
	*len += n;
	if (n && ca[n - 1] != '\n')
		nb[(*len)++] = '\n';
	nb[*len] = '\0';
	*bundle = nb;
	return 0;
}
