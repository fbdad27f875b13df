// SPDX-License-Identifier: GPL-2.0-only
/* OpenSSL contexts of the Terminate path: PEM loading, SAN-based certificate
 * choice, rotating session-ticket keys, backend TLS clients, kTLS probe. */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <linux/tls.h>
#include <openssl/core_names.h>
#include <openssl/kdf.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include "log.h"
#include "tls_ctx.h"

#ifndef TCP_ULP
#define TCP_ULP 31
#endif

/* ---- kTLS key material ---------------------------------------------------
 * Debian's OpenSSL 3.0 is built without kTLS, so the keys are handed to the
 * kernel here. TLS 1.3: the keylog callback gives the application traffic
 * secrets (kept per SSL in ex_data until tls_ktls_enable() wipes them); the
 * ticket callback counts the NewSessionTicket records the server already
 * sent under the server traffic key, which is the TX record sequence. */
struct ktls_state {
	uint8_t c_secret[EVP_MAX_MD_SIZE], s_secret[EVP_MAX_MD_SIZE];
	size_t c_len, s_len;
	unsigned tickets;
};

static int ktls_idx = -1;
static pthread_once_t ktls_idx_once = PTHREAD_ONCE_INIT;

static void ktls_state_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl,
			    void *argp)
{
	if (ptr) {
		OPENSSL_cleanse(ptr, sizeof(struct ktls_state));
		free(ptr);
	}
}

static void ktls_idx_init(void)
{
	ktls_idx = SSL_get_ex_new_index(0, NULL, NULL, NULL, ktls_state_free);
}

static struct ktls_state *ktls_state_get(const SSL *s, bool create)
{
	struct ktls_state *ks;

	if (ktls_idx < 0)
		return NULL;
	ks = SSL_get_ex_data(s, ktls_idx);
	if (!ks && create) {
		ks = calloc(1, sizeof(*ks));
		if (ks && !SSL_set_ex_data((SSL *)s, ktls_idx, ks)) {
			free(ks);
			ks = NULL;
		}
	}
	return ks;
}

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* "LABEL <client_random hex> <secret hex>" */
static void keylog_cb(const SSL *s, const char *line)
{
	static const char cl[] = "CLIENT_TRAFFIC_SECRET_0 ", sl[] = "SERVER_TRAFFIC_SECRET_0 ";
	struct ktls_state *ks;
	uint8_t *out;
	size_t *olen, n = 0;
	const char *p;

	if (!strncmp(line, cl, sizeof(cl) - 1))
		p = line + sizeof(cl) - 1;
	else if (!strncmp(line, sl, sizeof(sl) - 1))
		p = line + sizeof(sl) - 1;
	else
		return;
	ks = ktls_state_get(s, true);
	if (!ks)
		return;
	out = line[0] == 'C' ? ks->c_secret : ks->s_secret;
	olen = line[0] == 'C' ? &ks->c_len : &ks->s_len;
	p = strchr(p, ' ');
	if (!p)
		return;
	for (p++; p[0] && p[1] && n < EVP_MAX_MD_SIZE; p += 2) {
		int hi = hexval(p[0]), lo = hexval(p[1]);

		if (hi < 0 || lo < 0)
			break;
		out[n++] = (uint8_t)(hi << 4 | lo);
	}
	*olen = n;
}

/* RFC 8446 7.1 HKDF-Expand-Label(secret, label, "", len) */
static int hkdf_expand_label(const EVP_MD *md, const uint8_t *secret, size_t slen,
			     const char *label, uint8_t *out, size_t olen)
{
	uint8_t info[4 + 6 + 32];
	size_t ll = strlen(label), ilen = 0;
	int mode = EVP_KDF_HKDF_MODE_EXPAND_ONLY, rc = -1;
	OSSL_PARAM params[5];
	EVP_KDF *kdf;
	EVP_KDF_CTX *kctx = NULL;

	if (ll > 32 - 1)
		return -1;
	info[ilen++] = (uint8_t)(olen >> 8);
	info[ilen++] = (uint8_t)olen;
	info[ilen++] = (uint8_t)(6 + ll);
	memcpy(info + ilen, "tls13 ", 6);
	ilen += 6;
	memcpy(info + ilen, label, ll);
	ilen += ll;
	info[ilen++] = 0; /* empty context */
	kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
	if (kdf)
		kctx = EVP_KDF_CTX_new(kdf);
	params[0] = OSSL_PARAM_construct_int(OSSL_KDF_PARAM_MODE, &mode);
	params[1] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST,
						     (char *)EVP_MD_get0_name(md), 0);
	params[2] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)secret, slen);
	params[3] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, info, ilen);
	params[4] = OSSL_PARAM_construct_end();
	if (kctx && EVP_KDF_derive(kctx, out, olen, params) == 1)
		rc = 0;
	EVP_KDF_CTX_free(kctx);
	EVP_KDF_free(kdf);
	return rc;
}

/* TLS 1.2 key block: PRF(master, "key expansion", server_random + client_random) */
static int tls12_key_block(SSL *s, const EVP_MD *md, uint8_t *out, size_t olen)
{
	uint8_t master[SSL_MAX_MASTER_KEY_LENGTH], seed[13 + 2 * SSL3_RANDOM_SIZE];
	size_t mlen;
	OSSL_PARAM params[4];
	EVP_KDF *kdf;
	EVP_KDF_CTX *kctx = NULL;
	int rc = -1;

	mlen = SSL_SESSION_get_master_key(SSL_get_session(s), master, sizeof(master));
	memcpy(seed, "key expansion", 13);
	SSL_get_server_random(s, seed + 13, SSL3_RANDOM_SIZE);
	SSL_get_client_random(s, seed + 13 + SSL3_RANDOM_SIZE, SSL3_RANDOM_SIZE);
	kdf = EVP_KDF_fetch(NULL, "TLS1-PRF", NULL);
	if (kdf)
		kctx = EVP_KDF_CTX_new(kdf);
	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST,
						     (char *)EVP_MD_get0_name(md), 0);
	params[1] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SECRET, master, mlen);
	params[2] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SEED, seed, sizeof(seed));
	params[3] = OSSL_PARAM_construct_end();
	if (mlen && kctx && EVP_KDF_derive(kctx, out, olen, params) == 1)
		rc = 0;
	EVP_KDF_CTX_free(kctx);
	EVP_KDF_free(kdf);
	OPENSSL_cleanse(master, sizeof(master));
	return rc;
}

union ktls_info {
	struct tls_crypto_info info;
	struct tls12_crypto_info_aes_gcm_128 g128;
	struct tls12_crypto_info_aes_gcm_256 g256;
	struct tls12_crypto_info_chacha20_poly1305 cc;
};

/* Fill @ci for one direction. @iv: 12 bytes (1.3, ChaCha) or the 4-byte
 * fixed IV (1.2 GCM). Returns the size to pass to setsockopt. */
static socklen_t ktls_fill(union ktls_info *ci, uint16_t version, int nid, const uint8_t *key,
			   const uint8_t *iv, uint64_t seq)
{
	uint8_t rs[8];
	int i;

	for (i = 0; i < 8; i++)
		rs[i] = (uint8_t)(seq >> (56 - 8 * i));
	memset(ci, 0, sizeof(*ci));
	ci->info.version = version;
	if (nid == NID_aes_128_gcm || nid == NID_aes_256_gcm) {
		bool is128 = nid == NID_aes_128_gcm;
		unsigned char *c_iv = is128 ? ci->g128.iv : ci->g256.iv;
		unsigned char *c_salt = is128 ? ci->g128.salt : ci->g256.salt;

		ci->info.cipher_type = is128 ? TLS_CIPHER_AES_GCM_128 : TLS_CIPHER_AES_GCM_256;
		memcpy(is128 ? ci->g128.key : ci->g256.key, key, is128 ? 16 : 32);
		memcpy(is128 ? ci->g128.rec_seq : ci->g256.rec_seq, rs, 8);
		memcpy(c_salt, iv, 4);
		if (version == TLS_1_3_VERSION)
			memcpy(c_iv, iv + 4, 8);
		else
			memcpy(c_iv, rs, 8); /* explicit nonce = sequence, as OpenSSL sends */
		return is128 ? sizeof(ci->g128) : sizeof(ci->g256);
	}
	ci->info.cipher_type = TLS_CIPHER_CHACHA20_POLY1305;
	memcpy(ci->cc.key, key, 32);
	memcpy(ci->cc.iv, iv, 12);
	memcpy(ci->cc.rec_seq, rs, 8);
	return sizeof(ci->cc);
}


/* ---- session-ticket keys ------------------------------------------------
 * Key serial s lives in slot[s % TK_SLOTS]. Tickets are encrypted with the
 * current serial and accepted for TLS_TICKET_KEEP serials. A rotation writes
 * the slot of serial cur + 1, which held cur + 1 - TK_SLOTS = cur -
 * TLS_TICKET_KEEP: already outside the accepted window, so no reader wants
 * it. Each slot is still a seqlock (readers retry if a writer was inside),
 * which covers a reader stalled for a whole rotation period. Key words are
 * read and written with relaxed atomics so the retry loop is race-free C11.
 * Nothing on the handshake path blocks: rotation is a trylock. */
#define TK_SLOTS (TLS_TICKET_KEEP + 1)
#define TK_WORDS 8 /* 32-byte AES-256 key + 32-byte HMAC-SHA256 key */

struct tls_tkey {
	atomic_uint seq;              /* odd while being written */
	_Atomic uint64_t serial;      /* 0 = empty */
	_Atomic uint64_t born_ms;
	_Atomic uint64_t w[TK_WORDS];
};

struct tls_keyring {
	atomic_int refs;
	_Atomic uint64_t cur;         /* serial of the encrypting key */
	uint64_t rotate_ms;
	pthread_mutex_t rot;          /* rotators only; never held by readers */
	uint8_t prefix[8];            /* random: first half of every key name */
	struct tls_tkey slot[TK_SLOTS];
};

struct tk_copy {
	uint64_t serial, born_ms;
	uint8_t aes[32], hmac[32];
};

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Copy the key of @serial out of its slot; false if the slot holds another
 * serial (rotated away or never installed). */
static bool tk_read(struct tls_keyring *kr, uint64_t serial, struct tk_copy *out)
{
	struct tls_tkey *k = &kr->slot[serial % TK_SLOTS];
	uint64_t w[TK_WORDS];
	unsigned s1, s2, i;

	do {
		s1 = atomic_load_explicit(&k->seq, memory_order_acquire);
		if (s1 & 1)
			continue;
		out->serial = atomic_load_explicit(&k->serial, memory_order_relaxed);
		out->born_ms = atomic_load_explicit(&k->born_ms, memory_order_relaxed);
		for (i = 0; i < TK_WORDS; i++)
			w[i] = atomic_load_explicit(&k->w[i], memory_order_relaxed);
		atomic_thread_fence(memory_order_acquire);
		s2 = atomic_load_explicit(&k->seq, memory_order_relaxed);
	} while ((s1 & 1) || s1 != s2);
	memcpy(out->aes, w, 32);
	memcpy(out->hmac, (uint8_t *)w + 32, 32);
	OPENSSL_cleanse(w, sizeof(w));
	return out->serial == serial;
}

/* Install serial cur + 1 (caller holds kr->rot). 0 or -EIO. */
static int tk_install_next(struct tls_keyring *kr)
{
	uint64_t next = atomic_load(&kr->cur) + 1, w[TK_WORDS];
	struct tls_tkey *k = &kr->slot[next % TK_SLOTS];
	unsigned i;

	if (RAND_priv_bytes((unsigned char *)w, sizeof(w)) != 1) {
		log_openssl(LOG_ERROR, "session ticket key: RAND_priv_bytes");
		return -EIO;
	}
	atomic_fetch_add_explicit(&k->seq, 1, memory_order_relaxed);
	atomic_thread_fence(memory_order_release);
	atomic_store_explicit(&k->serial, next, memory_order_relaxed);
	atomic_store_explicit(&k->born_ms, mono_ms(), memory_order_relaxed);
	for (i = 0; i < TK_WORDS; i++)
		atomic_store_explicit(&k->w[i], w[i], memory_order_relaxed);
	atomic_fetch_add_explicit(&k->seq, 1, memory_order_release);
	OPENSSL_cleanse(w, sizeof(w));
	atomic_store_explicit(&kr->cur, next, memory_order_release);
	return 0;
}

struct tls_keyring *tls_keyring_new(unsigned rotate_s)
{
	struct tls_keyring *kr = calloc(1, sizeof(*kr));

	if (!kr) {
		errno = ENOMEM;
		return NULL;
	}
	atomic_init(&kr->refs, 1);
	kr->rotate_ms = (uint64_t)(rotate_s ? rotate_s : TLS_TICKET_ROTATE_S) * 1000;
	pthread_mutex_init(&kr->rot, NULL);
	if (RAND_bytes(kr->prefix, sizeof(kr->prefix)) != 1 || tk_install_next(kr)) {
		log_openssl(LOG_ERROR, "session ticket keyring");
		pthread_mutex_destroy(&kr->rot);
		free(kr);
		errno = EIO;
		return NULL;
	}
	return kr;
}

struct tls_keyring *tls_keyring_ref(struct tls_keyring *kr)
{
	if (kr)
		atomic_fetch_add(&kr->refs, 1);
	return kr;
}

void tls_keyring_unref(struct tls_keyring *kr)
{
	if (!kr || atomic_fetch_sub(&kr->refs, 1) != 1)
		return;
	pthread_mutex_destroy(&kr->rot);
	OPENSSL_cleanse(kr, sizeof(*kr));
	free(kr);
}

bool tls_keyring_rotate(struct tls_keyring *kr, bool force)
{
	struct tk_copy cur;
	bool done = false;

	if (!kr || pthread_mutex_trylock(&kr->rot))
		return false;
	tk_read(kr, atomic_load(&kr->cur), &cur);
	if (force || mono_ms() - cur.born_ms >= kr->rotate_ms) {
		done = tk_install_next(kr) == 0;
		if (done)
			log_info("session ticket key rotated (serial %llu)",
				 (unsigned long long)atomic_load(&kr->cur));
	}
	OPENSSL_cleanse(&cur, sizeof(cur));
	pthread_mutex_unlock(&kr->rot);
	return done;
}

uint64_t tls_keyring_serial(const struct tls_keyring *kr)
{
	return kr ? atomic_load(&((struct tls_keyring *)kr)->cur) : 0;
}

static int tk_set_mac(EVP_MAC_CTX *hctx, uint8_t *hmac)
{
	OSSL_PARAM params[3];

	params[0] = OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY, hmac, 32);
	params[1] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, "SHA256", 0);
	params[2] = OSSL_PARAM_construct_end();
	return EVP_MAC_CTX_set_params(hctx, params);
}

/* The ticket cipher, fetched once: passing EVP_aes_256_cbc() would make
 * OpenSSL 3 look it up by name (a locked store search) on every ticket. */
static EVP_CIPHER *tk_cipher;
static pthread_once_t tk_cipher_once = PTHREAD_ONCE_INIT;

static void tk_cipher_fetch(void)
{
	tk_cipher = EVP_CIPHER_fetch(NULL, "AES-256-CBC", NULL);
}

static const EVP_CIPHER *ticket_cipher(void)
{
	pthread_once(&tk_cipher_once, tk_cipher_fetch);
	return tk_cipher ? tk_cipher : EVP_aes_256_cbc();
}

/* SSL_CTX_set_tlsext_ticket_key_evp_cb(): key name = 8-byte ring prefix +
 * big-endian serial. Returns 1 (use), 2 (decrypted with an old key: issue a
 * new ticket), 0 (unknown or expired key: full handshake), -1 (error). */
static int ticket_key_cb(SSL *s, unsigned char key_name[16], unsigned char *iv,
			 EVP_CIPHER_CTX *cctx, EVP_MAC_CTX *hctx, int enc)
{
	struct tls_keyring *kr = SSL_CTX_get_app_data(SSL_get_SSL_CTX(s));
	struct tk_copy k;
	uint64_t serial, cur;
	int rc = -1, i;

	if (!kr)
		return -1;
	if (enc) {
		cur = atomic_load_explicit(&kr->cur, memory_order_acquire);
		if (!tk_read(kr, cur, &k))
			goto out;
		if (mono_ms() - k.born_ms >= kr->rotate_ms && tls_keyring_rotate(kr, false)) {
			cur = atomic_load_explicit(&kr->cur, memory_order_acquire);
			if (!tk_read(kr, cur, &k))
				goto out;
		}
		memcpy(key_name, kr->prefix, 8);
		for (i = 0; i < 8; i++)
			key_name[8 + i] = (unsigned char)(cur >> (56 - 8 * i));
		if (RAND_bytes(iv, EVP_CIPHER_get_iv_length(ticket_cipher())) != 1 ||
		    !EVP_EncryptInit_ex(cctx, ticket_cipher(), NULL, k.aes, iv) ||
		    !tk_set_mac(hctx, k.hmac))
			goto out;
		{
			struct ktls_state *ks = ktls_state_get(s, false);

			if (ks) /* one NewSessionTicket record per ticket */
				ks->tickets++;
		}
		rc = 1;
		goto out;
	}
	if (memcmp(key_name, kr->prefix, 8)) {
		rc = 0;
		goto out;
	}
	for (serial = 0, i = 0; i < 8; i++)
		serial = serial << 8 | key_name[8 + i];
	cur = atomic_load_explicit(&kr->cur, memory_order_acquire);
	if (serial > cur || cur - serial >= TLS_TICKET_KEEP || !tk_read(kr, serial, &k)) {
		rc = 0;
		goto out;
	}
	if (!tk_set_mac(hctx, k.hmac) ||
	    !EVP_DecryptInit_ex(cctx, ticket_cipher(), NULL, k.aes, iv))
		goto out;
	/* 2 = renew. TLS 1.3 clients treat tickets as single use (OpenSSL
	 * marks a used session not resumable) and OpenSSL servers send no new
	 * ticket on a resumption unless asked to renew: always renew there,
	 * so a client can keep resuming. TLS 1.2: renew only old keys. */
	rc = (serial == cur && SSL_version(s) != TLS1_3_VERSION) ? 1 : 2;
out:
	OPENSSL_cleanse(&k, sizeof(k));
	return rc;
}

/* ---- certificate names and choice --------------------------------------- */

int tls_name_match(const char *pattern, const char *sni)
{
	size_t pl, sl;
	const char *dot;

	if (!pattern || !sni || !*pattern || !*sni)
		return 0;
	if (!strcmp(pattern, sni))
		return 1000 + (int)strlen(pattern);
	if (pattern[0] != '*' || pattern[1] != '.')
		return 0;
	pl = strlen(pattern + 1); /* ".example.com" */
	sl = strlen(sni);
	if (pl < 2 || sl <= pl || strcmp(sni + sl - pl, pattern + 1))
		return 0;
	/* the wildcard covers exactly one label */
	dot = memchr(sni, '.', sl - pl);
	if (dot)
		return 0;
	return (int)pl;
}

size_t tls_server_pick(const struct tls_server *srv, const char *sni)
{
	size_t i, j, best = 0;
	int best_score = 0, s;

	if (!sni || !*sni)
		return 0;
	for (i = 0; i < srv->n_certs; i++)
		for (j = 0; j < srv->certs[i].n_names; j++) {
			s = tls_name_match(srv->certs[i].names[j], sni);
			if (s > best_score) {
				best_score = s;
				best = i;
			}
		}
	return best;
}

static int name_add(struct tls_cert *c, const unsigned char *p, int len)
{
	char **nn, *s;
	int i;

	if (len <= 0 || len > 253 || memchr(p, 0, (size_t)len))
		return 0; /* not a usable DNS name: ignore it */
	s = malloc((size_t)len + 1);
	if (!s)
		return -ENOMEM;
	for (i = 0; i < len; i++)
		s[i] = (char)((p[i] >= 'A' && p[i] <= 'Z') ? p[i] + 32 : p[i]);
	s[len] = 0;
	if (len > 1 && s[len - 1] == '.')
		s[len - 1] = 0;
	nn = realloc(c->names, (c->n_names + 1) * sizeof(*nn));
	if (!nn) {
		free(s);
		return -ENOMEM;
	}
	c->names = nn;
	c->names[c->n_names++] = s;
	return 0;
}

/* SAN DNS names of @x, or its subject CN when it has none. */
static int cert_names(struct tls_cert *c, X509 *x)
{
	GENERAL_NAMES *gens = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
	int i, n, err = 0;

	if (gens) {
		n = sk_GENERAL_NAME_num(gens);
		for (i = 0; i < n && !err; i++) {
			const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);

			if (g->type == GEN_DNS)
				err = name_add(c, ASN1_STRING_get0_data(g->d.dNSName),
					       ASN1_STRING_length(g->d.dNSName));
		}
		GENERAL_NAMES_free(gens);
	}
	if (!err && !c->n_names) {
		X509_NAME *subj = X509_get_subject_name(x);
		int idx = X509_NAME_get_index_by_NID(subj, NID_commonName, -1);

		if (idx >= 0) {
			ASN1_STRING *cn = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subj, idx));

			err = name_add(c, ASN1_STRING_get0_data(cn), ASN1_STRING_length(cn));
		}
	}
	return err;
}

/* Never prompt for a passphrase: an encrypted key is an input error. */
static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
	return 0;
}

/* Server-side defaults shared by every listener context. */
static int server_ctx_defaults(SSL_CTX *ctx, const unsigned char *sid, unsigned sid_len,
			       struct tls_keyring *kr)
{
	static const char ciphers12[] =
		"ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
		"ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
		"ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";

	if (!SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) ||
	    !SSL_CTX_set_cipher_list(ctx, ciphers12) ||
	    !SSL_CTX_set1_groups_list(ctx, "X25519:P-256:P-384") ||
	    !SSL_CTX_set_session_id_context(ctx, sid, sid_len))
		return -EINVAL;
	/* IGNORE_UNEXPECTED_EOF: a client FIN without close_notify is a TCP
	 * half-close to forward, not an error (the bytes are opaque TCP). */
	SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
				 SSL_OP_IGNORE_UNEXPECTED_EOF);
	/* RELEASE_BUFFERS bounds idle per-connection memory; the two others
	 * are what non-blocking SSL_write retries need. */
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ENABLE_PARTIAL_WRITE |
			      SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	/* The chain is exactly tls.crt (leaf + intermediates): no chain
	 * building from a store on every handshake (this context's store is
	 * empty: it would find nothing, at the price of an X509 verify). */
	SSL_CTX_set_mode(ctx, SSL_MODE_NO_AUTO_CHAIN);
	/* Read ahead: one read(2) takes a record's header and body (and
	 * what follows) instead of one read for each. Not where kTLS may take
	 * the connection over: nothing past the handshake may sit in
	 * OpenSSL's buffer then (terminate.c turns it on if kTLS does not
	 * apply to the connection). */
	if (!tls_ktls_available())
		SSL_CTX_set_read_ahead(ctx, 1);
	/* Stateless tickets only: no shared, locked server session cache. */
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_num_tickets(ctx, 1);
	SSL_CTX_set_timeout(ctx, (long)(kr->rotate_ms / 1000) * TLS_TICKET_KEEP);
	SSL_CTX_set_app_data(ctx, kr);
	if (!SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx, ticket_key_cb))
		return -EINVAL;
	return 0;
}

static int servername_cb(SSL *s, int *al, void *arg)
{
	struct tls_server *srv = arg;
	const char *sni = SSL_get_servername(s, TLSEXT_NAMETYPE_host_name);
	char low[256];
	size_t i, idx;

	if (!sni || srv->n_certs < 2)
		return SSL_TLSEXT_ERR_OK;
	for (i = 0; sni[i] && i < sizeof(low) - 1; i++)
		low[i] = (char)((sni[i] >= 'A' && sni[i] <= 'Z') ? sni[i] + 32 : sni[i]);
	low[i] = 0;
	if (i > 1 && low[i - 1] == '.')
		low[i - 1] = 0;
	idx = tls_server_pick(srv, low);
	if (idx && !SSL_set_SSL_CTX(s, srv->certs[idx].ctx))
		log_openssl(LOG_WARN, srv->name);
	/* never an alert: the route was chosen on this SNI already */
	return SSL_TLSEXT_ERR_OK;
}

static int alpn_select_cb(SSL *s, const unsigned char **out, unsigned char *outlen,
			  const unsigned char *in, unsigned int inlen, void *arg)
{
	const struct tls_server *srv = arg;
	unsigned char *sel;

	if (SSL_select_next_proto(&sel, outlen, srv->alpn, srv->alpn_len, in, inlen) !=
	    OPENSSL_NPN_NEGOTIATED)
		return SSL_TLSEXT_ERR_NOACK; /* no overlap: no ALPN, no alert */
	*out = sel;
	return SSL_TLSEXT_ERR_OK;
}

/* A wire-format ProtocolNameList: 1-byte length + name, lengths 1..255. */
static bool alpn_wire_ok(const unsigned char *p, size_t len)
{
	size_t off = 0;

	while (off < len) {
		if (!p[off] || off + 1 + p[off] > len)
			return false;
		off += 1 + p[off];
	}
	return len > 0;
}

/* Load one Secret's chain and key into @c->ctx. 0 or -EINVAL (logged). */
static int cert_load(struct tls_server *srv, struct tls_cert *c, const struct policy_cert *pc)
{
	BIO *bio = NULL;
	X509 *leaf = NULL, *x;
	EVP_PKEY *key = NULL;
	char what[1000];
	int err = -EINVAL;

	snprintf(what, sizeof(what), "listener %s: Secret %s", srv->name, pc->ref);
	if (!pc->chain_pem || !pc->key_pem) {
		log_err("%s: missing tls.crt or tls.key", what);
		return -EINVAL;
	}
	ERR_clear_error();
	bio = BIO_new_mem_buf(pc->chain_pem, (int)strlen(pc->chain_pem));
	if (!bio)
		goto fail;
	leaf = PEM_read_bio_X509(bio, NULL, no_passphrase, NULL);
	if (!leaf) {
		log_openssl(LOG_ERROR, what);
		log_err("%s: tls.crt holds no PEM certificate", what);
		goto out;
	}
	if (SSL_CTX_use_certificate(c->ctx, leaf) != 1)
		goto fail;
	while ((x = PEM_read_bio_X509(bio, NULL, no_passphrase, NULL)))
		if (!SSL_CTX_add0_chain_cert(c->ctx, x)) {
			X509_free(x);
			goto fail;
		}
	ERR_clear_error(); /* the end of the chain is a PEM "no start line" */
	BIO_free(bio);
	bio = BIO_new_mem_buf(pc->key_pem, (int)strlen(pc->key_pem));
	if (!bio)
		goto fail;
	key = PEM_read_bio_PrivateKey(bio, NULL, no_passphrase, NULL);
	if (!key) {
		ERR_clear_error();
		log_err("%s: tls.key holds no usable PEM private key (encrypted keys are not supported)",
			what);
		goto out;
	}
	if (SSL_CTX_use_PrivateKey(c->ctx, key) != 1 || SSL_CTX_check_private_key(c->ctx) != 1) {
		ERR_clear_error();
		log_err("%s: tls.key does not match the certificate in tls.crt", what);
		goto out;
	}
	c->key_type = EVP_PKEY_get_base_id(key);
	err = cert_names(c, leaf);
	if (err)
		goto out;
	goto out;
fail:
	log_openssl(LOG_ERROR, what);
out:
	EVP_PKEY_free(key);
	X509_free(leaf);
	BIO_free(bio);
	return err;
}

void tls_server_free(struct tls_server *srv)
{
	size_t i, j;

	if (!srv)
		return;
	for (i = 0; i < srv->n_certs; i++) {
		SSL_CTX_free(srv->certs[i].ctx);
		for (j = 0; j < srv->certs[i].n_names; j++)
			free(srv->certs[i].names[j]);
		free(srv->certs[i].names);
	}
	free(srv->certs);
	tls_keyring_unref(srv->keys);
	free(srv);
}

struct tls_server *tls_server_new(const struct policy_listener *l, struct tls_keyring *kr)
{
	unsigned char sid[SHA256_DIGEST_LENGTH];
	struct tls_server *srv;
	size_t i, alen;
	int err = -ENOMEM;

	if (!l || !kr || !l->n_certs) {
		if (l)
			log_err("listener %s/%s/%s: Terminate without a certificate",
				l->gateway_ns, l->gateway_name, l->name);
		errno = EINVAL;
		return NULL;
	}
	srv = calloc(1, sizeof(*srv));
	if (!srv)
		goto fail_errno;
	snprintf(srv->name, sizeof(srv->name), "%s/%s/%s", l->gateway_ns, l->gateway_name,
		 l->name);
	srv->keys = tls_keyring_ref(kr);
	srv->certs = calloc(l->n_certs, sizeof(*srv->certs));
	if (!srv->certs)
		goto fail;
	/* one session id context per listener: tickets do not cross listeners */
	SHA256((const unsigned char *)srv->name, strlen(srv->name), sid);
	alen = strnlen(l->alpn, sizeof(l->alpn));
	if (alen && !alpn_wire_ok((const unsigned char *)l->alpn, alen)) {
		log_err("listener %s: malformed ALPN list", srv->name);
		err = -EINVAL;
		goto fail;
	}
	memcpy(srv->alpn, l->alpn, alen);
	srv->alpn_len = (unsigned)alen;
	for (i = 0; i < l->n_certs; i++) {
		struct tls_cert *c = &srv->certs[i];

		c->ctx = SSL_CTX_new(TLS_server_method());
		if (!c->ctx) {
			log_openssl(LOG_ERROR, srv->name);
			goto fail;
		}
		srv->n_certs++;
		snprintf(c->ref, sizeof(c->ref), "%s", l->certs[i].ref);
		err = server_ctx_defaults(c->ctx, sid, sizeof(sid), kr);
		if (err) {
			log_openssl(LOG_ERROR, srv->name);
			goto fail;
		}
		err = cert_load(srv, c, &l->certs[i]);
		if (err)
			goto fail;
		if (tls_ktls_available()) {
			pthread_once(&ktls_idx_once, ktls_idx_init);
			SSL_CTX_set_keylog_callback(c->ctx, keylog_cb);
		}
		SSL_CTX_set_tlsext_servername_callback(c->ctx, servername_cb);
		SSL_CTX_set_tlsext_servername_arg(c->ctx, srv);
		/* ALPN only when configured: advertising h2/http/1.1 on an opaque
		 * TCP listener breaks clients that then speak HTTP. */
		if (srv->alpn_len)
			SSL_CTX_set_alpn_select_cb(c->ctx, alpn_select_cb, srv);
	}
	return srv;
fail:
	tls_server_free(srv);
	errno = -err;
	return NULL;
fail_errno:
	errno = ENOMEM;
	return NULL;
}

SSL *tls_server_ssl_new(struct tls_server *srv)
{
	SSL *s;

	ERR_clear_error();
	s = SSL_new(srv->certs[0].ctx);
	if (!s) {
		log_openssl(LOG_ERROR, srv->name);
		return NULL;
	}
	SSL_set_accept_state(s);
	return s;
}

/* ---- backend TLS clients -------------------------------------------------- */

SSL_CTX *tls_client_ctx_new(const struct policy_backend_tls *bt)
{
	SSL_CTX *ctx;
	STACK_OF(X509_INFO) *infos = NULL;
	BIO *bio = NULL;
	int i, n = 0;

	ERR_clear_error();
	ctx = SSL_CTX_new(TLS_client_method());
	if (!ctx)
		goto fail;
	if (!SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION))
		goto fail;
	SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
				 SSL_OP_IGNORE_UNEXPECTED_EOF);
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ENABLE_PARTIAL_WRITE |
			      SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	SSL_CTX_set_read_ahead(ctx, 1); /* never handed to kTLS */
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	if (bt->ca_pem && *bt->ca_pem) {
		X509_STORE *st = SSL_CTX_get_cert_store(ctx);

		bio = BIO_new_mem_buf(bt->ca_pem, (int)strlen(bt->ca_pem));
		if (!bio)
			goto fail;
		infos = PEM_X509_INFO_read_bio(bio, NULL, no_passphrase, NULL);
		for (i = 0; infos && i < sk_X509_INFO_num(infos); i++) {
			X509_INFO *xi = sk_X509_INFO_value(infos, i);

			if (xi->x509 && X509_STORE_add_cert(st, xi->x509) == 1)
				n++;
		}
		if (!n) {
			ERR_clear_error();
			log_err("BackendTLSPolicy %s: ca.crt holds no usable PEM certificate",
				bt->policy);
			sk_X509_INFO_pop_free(infos, X509_INFO_free);
			BIO_free(bio);
			SSL_CTX_free(ctx);
			errno = EINVAL;
			return NULL;
		}
	}
	if ((bt->system_ca || !n) && SSL_CTX_set_default_verify_paths(ctx) != 1)
		goto fail;
	sk_X509_INFO_pop_free(infos, X509_INFO_free);
	BIO_free(bio);
	return ctx;
fail:
	log_openssl(LOG_ERROR, bt->policy);
	sk_X509_INFO_pop_free(infos, X509_INFO_free);
	BIO_free(bio);
	SSL_CTX_free(ctx);
	errno = EINVAL;
	return NULL;
}

SSL *tls_client_ssl_new(SSL_CTX *ctx, const char *hostname)
{
	SSL *s;

	if (!hostname || !*hostname) {
		log_err("backend TLS: no validation hostname");
		return NULL;
	}
	ERR_clear_error();
	s = SSL_new(ctx);
	if (!s || !SSL_set_tlsext_host_name(s, hostname) || !SSL_set1_host(s, hostname)) {
		log_openssl(LOG_ERROR, "backend TLS client");
		SSL_free(s);
		return NULL;
	}
	SSL_set_hostflags(s, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
	SSL_set_connect_state(s);
	return s;
}

/* ---- kTLS ----------------------------------------------------------------- */

int tls_ktls_enable(SSL *s, int fd)
{
	const SSL_CIPHER *cipher = SSL_get_current_cipher(s);
	struct ktls_state *ks = ktls_state_get(s, false);
	uint8_t tx_key[32], rx_key[32], tx_iv[12], rx_iv[12], kb[2 * 32 + 2 * 12];
	union ktls_info tx, rx;
	socklen_t tx_len, rx_len;
	const EVP_MD *md;
	size_t klen, ivlen;
	uint64_t tx_seq, rx_seq;
	uint16_t version;
	int nid, rc = -EOPNOTSUPP;

	if (!tls_ktls_available() || !cipher || SSL_has_pending(s))
		return -EOPNOTSUPP;
	nid = SSL_CIPHER_get_cipher_nid(cipher);
	if (nid == NID_aes_128_gcm)
		klen = 16;
	else if (nid == NID_aes_256_gcm || nid == NID_chacha20_poly1305)
		klen = 32;
	else
		return -EOPNOTSUPP;
	md = SSL_CIPHER_get_handshake_digest(cipher);
	if (!md)
		return -EOPNOTSUPP;
	if (SSL_version(s) == TLS1_3_VERSION) {
		version = TLS_1_3_VERSION;
		if (!ks || !ks->c_len || !ks->s_len ||
		    hkdf_expand_label(md, ks->s_secret, ks->s_len, "key", tx_key, klen) ||
		    hkdf_expand_label(md, ks->s_secret, ks->s_len, "iv", tx_iv, 12) ||
		    hkdf_expand_label(md, ks->c_secret, ks->c_len, "key", rx_key, klen) ||
		    hkdf_expand_label(md, ks->c_secret, ks->c_len, "iv", rx_iv, 12))
			goto out;
		tx_seq = ks->tickets;
		rx_seq = 0;
	} else if (SSL_version(s) == TLS1_2_VERSION) {
		version = TLS_1_2_VERSION;
		ivlen = nid == NID_chacha20_poly1305 ? 12 : 4;
		if (tls12_key_block(s, md, kb, 2 * klen + 2 * ivlen))
			goto out;
		/* client_write_key, server_write_key, client_IV, server_IV */
		memcpy(rx_key, kb, klen);
		memcpy(tx_key, kb + klen, klen);
		memcpy(rx_iv, kb + 2 * klen, ivlen);
		memcpy(tx_iv, kb + 2 * klen + ivlen, ivlen);
		tx_seq = rx_seq = 1; /* each side's Finished was record 0 */
	} else {
		goto out;
	}
	tx_len = ktls_fill(&tx, version, nid, tx_key, tx_iv, tx_seq);
	rx_len = ktls_fill(&rx, version, nid, rx_key, rx_iv, rx_seq);
	if (setsockopt(fd, IPPROTO_TCP, TCP_ULP, "tls", sizeof("tls"))) {
		rc = -EOPNOTSUPP; /* nothing changed on the socket */
		goto out;
	}
	/* from here on a failure leaves the socket half kernel-TLS */
	if (setsockopt(fd, SOL_TLS, TLS_TX, &tx, tx_len)) {
		rc = errno == ENOPROTOOPT || errno == EINVAL ? -EOPNOTSUPP : -errno;
		/* TX not set: the ULP alone does not change the byte stream */
		goto out;
	}
	if (setsockopt(fd, SOL_TLS, TLS_RX, &rx, rx_len)) {
		rc = -errno;
		if (rc == -EOPNOTSUPP)
			rc = -EPROTO;
		goto out;
	}
	rc = 0;
out:
	OPENSSL_cleanse(tx_key, sizeof(tx_key));
	OPENSSL_cleanse(rx_key, sizeof(rx_key));
	OPENSSL_cleanse(kb, sizeof(kb));
	OPENSSL_cleanse(&tx, sizeof(tx));
	OPENSSL_cleanse(&rx, sizeof(rx));
	if (ks)
		OPENSSL_cleanse(ks, sizeof(*ks));
	return rc;
}

static pthread_once_t ktls_once = PTHREAD_ONCE_INIT;
static bool ktls_ok;

static void ktls_probe(void)
{
	const char *env = getenv("SNIGATE_KTLS");
	int fd;

	if (env && !strcmp(env, "off")) {
		log_info("kTLS disabled by SNIGATE_KTLS=off: terminated connections use the userspace copy");
		return;
	}
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0) {
		log_warn("kTLS probe: socket: %s; assuming no kTLS", strerror(errno));
		return;
	}
	/* tls_init() refuses unconnected sockets with ENOTCONN once the ULP is
	 * found (the module is autoloaded for root); ENOENT: no tls ULP. */
	if (setsockopt(fd, IPPROTO_TCP, TCP_ULP, "tls", sizeof("tls")) == 0 || errno == ENOTCONN)
		ktls_ok = true;
	else
		log_info("kTLS unavailable (TCP_ULP \"tls\": %s): terminated connections use the userspace copy",
			 strerror(errno));
	close(fd);
}

bool tls_ktls_available(void)
{
	pthread_once(&ktls_once, ktls_probe);
	return ktls_ok;
}
