// SPDX-License-Identifier: GPL-2.0-only
/* Hostnames: API hostname validation, listener/route intersection, SNI
 * normalisation, and the reversed-name LPM keys with their lookup. */
#include <arpa/inet.h>
#include <errno.h>
#include <string.h>

#include "internal.h"

/* A precise name: LDH labels of 1..63, no leading/trailing '-' (the CRD
 * pattern), not an IPv4 literal. */
static bool precise_valid(const char *h, size_t n)
{
	size_t i, lab = 0, labels = 1;
	bool digits_only = true;

	if (n == 0 || n > SNG_HOSTNAME_MAX)
		return false;
	for (i = 0; i < n; i++) {
		char c = h[i];

		if (c == '.') {
			if (lab == 0 || h[i - 1] == '-')
				return false;
			lab = 0;
			labels++;
			continue;
		}
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'))
			return false;
		if (c == '-' && lab == 0)
			return false;
		if (!(c >= '0' && c <= '9'))
			digits_only = false;
		if (++lab > 63)
			return false;
	}
	if (lab == 0 || h[n - 1] == '-')
		return false;
	return !(digits_only && labels == 4);
}

bool host_valid(const char *h)
{
	size_t n = strlen(h);

	if (n > SNG_HOSTNAME_MAX)
		return false;
	if (h[0] == '*')
		return n > 2 && h[1] == '.' && precise_valid(h + 2, n - 2);
	return precise_valid(h, n);
}

/* Does @name end with the label suffix @suf (".example.com" form)? */
static bool ends_with(const char *name, const char *suf)
{
	size_t n = strlen(name), s = strlen(suf);

	return n > s && !strcmp(name + n - s, suf);
}

bool host_covers(const char *outer, const char *inner)
{
	if (!*outer)
		return true;
	if (!*inner)
		return false;
	if (!host_is_wild(outer))
		return !strcmp(outer, inner);
	if (!host_is_wild(inner))
		return ends_with(inner, outer + 1);
	/* *.T inside *.S: T == S or T ends with .S */
	return !strcmp(inner, outer) || ends_with(inner + 1, outer + 1);
}

bool host_intersect(const char *l, const char *r, char *out)
{
	const char *res = NULL;

	if (!*l)
		res = r;
	else if (!*r)
		res = l;
	else if (host_covers(l, r))
		res = r;
	else if (host_covers(r, l))
		res = l;
	if (!res)
		return false;
	strcpy(out, res);
	return true;
}

int host_rank(const char *h)
{
	size_t n = strlen(h);

	if (!n)
		return 0;
	if (host_is_wild(h))
		return (int)n - 1;
	return 0x10000 + (int)n + 1;
}

static void put_reversed(uint8_t *dst, const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		dst[i] = (uint8_t)s[n - 1 - i];
}

void host_key(struct sng_route_key *k, uint16_t bind, const char *h)
{
	size_t n = strlen(h);

	memset(k, 0, sizeof(*k));
	k->bind = htons(bind);
	if (!n) {
		k->prefixlen = 16;
	} else if (host_is_wild(h)) {
		put_reversed(k->name, h + 1, n - 1);
		k->prefixlen = 16 + 8 * (uint32_t)(n - 1);
	} else {
		put_reversed(k->name, h, n);
		k->name[n] = '\0';
		k->prefixlen = 16 + 8 * (uint32_t)(n + 1);
	}
}

int policy_sni_normalize(const char *sni, size_t len, char *out)
{
	size_t i, lab = 0, labels = 1;
	bool digits_only = true;

	if (len && sni[len - 1] == '.')
		len--;
	if (len == 0 || len > SNG_HOSTNAME_MAX)
		return SNG_R_BAD_SNI;
	for (i = 0; i < len; i++) {
		char c = sni[i];

		if (c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		if (c == '.') {
			if (lab == 0)
				return SNG_R_BAD_SNI;
			lab = 0;
			labels++;
		} else if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-') {
			if (!(c >= '0' && c <= '9'))
				digits_only = false;
			if (++lab > 63)
				return SNG_R_BAD_SNI;
		} else {
			return SNG_R_BAD_SNI; /* includes ':' of IPv6 literals, '*', '_' */
		}
		out[i] = c;
	}
	if (lab == 0 || (digits_only && labels == 4))
		return SNG_R_BAD_SNI;
	out[len] = '\0';
	return (int)len;
}

int policy_route_key(struct sng_route_key *key, uint16_t bind, const char *sni)
{
	size_t n = sni ? strlen(sni) : 0;

	if (!n || n > SNG_HOSTNAME_MAX || bind > SNG_BIND_MASK)
		return -EINVAL;
	memset(key, 0, sizeof(*key));
	key->bind = htons(bind);
	put_reversed(key->name, sni, n);
	key->prefixlen = 16 + 8 * SNG_NAME_MAX;
	return 0;
}

long policy_lookup(const struct policy_compiled *pc, uint16_t bind, const char *sni)
{
	struct sng_route_key k;
	uint32_t best_len = 0;
	long best = -1;
	size_t i;

	if (!pc || policy_route_key(&k, bind, sni))
		return -1;
	for (i = 0; i < pc->n_entries; i++) {
		const struct sng_route_key *e = &pc->keys[i];
		size_t nb = (e->prefixlen - 16) / 8;

		if (e->bind != k.bind || e->prefixlen < 16 || nb > SNG_NAME_MAX)
			continue;
		if (best >= 0 && e->prefixlen <= best_len)
			continue;
		if (memcmp(e->name, k.name, nb))
			continue;
		best = (long)i;
		best_len = e->prefixlen;
	}
	return best;
}
