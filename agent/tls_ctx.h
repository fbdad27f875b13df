/* SPDX-License-Identifier: GPL-2.0-only */
/* OpenSSL contexts of the Terminate path: listener server contexts (certs
 * picked by SNI, no default ALPN, rotating ticket keys) and backend clients. */
#ifndef SNIGATE_TLS_CTX_H
#define SNIGATE_TLS_CTX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <openssl/ssl.h>

#include "policy.h"

/* Session-ticket keys shared by every listener of a policy and carried over
 * reloads (a new policy takes a reference on the previous policy's ring), so
 * clients resume across reloads and certificate rotations. */
struct tls_keyring;

/* Ticket key lifetime: a key encrypts new tickets for TLS_TICKET_ROTATE_S
 * seconds, then only decrypts (and renews) for TLS_TICKET_KEEP - 1 more
 * periods. 12 h of accepted tickets at most: TLS 1.3 ticket_lifetime_hint
 * is set to the same bound. */
#define TLS_TICKET_ROTATE_S 3600u
#define TLS_TICKET_KEEP 12u

/* Create a ring with one fresh random key; @rotate_s: seconds a key encrypts
 * new tickets (0: TLS_TICKET_ROTATE_S). NULL + errno (ENOMEM, EIO: no
 * entropy). The caller owns the one reference. */
struct tls_keyring *tls_keyring_new(unsigned rotate_s);
/* Take a reference (thread-safe); returns @kr. Accepts NULL. */
struct tls_keyring *tls_keyring_ref(struct tls_keyring *kr);
/* Drop a reference; the last one wipes the keys. Accepts NULL. */
void tls_keyring_unref(struct tls_keyring *kr);
/* Rotate now if the current key is older than the period (or @force).
 * Lock-free for readers: at most one rotator at a time (a trylock: a
 * concurrent rotation is skipped, not waited for). Returns true if a new key
 * was installed. Also called lazily from the ticket callback, so rotation
 * needs no dedicated thread. */
bool tls_keyring_rotate(struct tls_keyring *kr, bool force);
/* Keys installed so far (tests, metrics). */
uint64_t tls_keyring_serial(const struct tls_keyring *kr);

/* One certificate of a listener: its SSL_CTX and the DNS names it serves. */
struct tls_cert {
	SSL_CTX *ctx;
	char ref[300];        /* Secret namespace/name, for logs */
	char **names;         /* lowercase SAN DNS names (CN when no SAN) */
	size_t n_names;
	int key_type;         /* EVP_PKEY_RSA, EVP_PKEY_EC, ... */
};

/* The server side of one Terminate listener. */
struct tls_server {
	char name[600];       /* gateway ns/name/listener, for logs */
	struct tls_cert *certs; /* certs[0] is the default */
	size_t n_certs;
	struct tls_keyring *keys; /* referenced */
	unsigned char alpn[256];  /* wire-format list from tls.options */
	unsigned alpn_len;        /* 0: no ALPN advertised */
};

/* Build the server contexts of @l (mode Terminate, n_certs >= 1): one SSL_CTX
 * per certificateRef, TLS 1.2 minimum, AEAD ECDHE suites, no renegotiation,
 * no compression, ALPN only if l->alpn is set, stateless tickets from @kr
 * (referenced), no server-side session cache. Errors are logged with the
 * listener and the Secret (never key material). NULL + errno: EINVAL (bad
 * PEM, key does not match certificate, no certificate), ENOMEM. */
struct tls_server *tls_server_new(const struct policy_listener *l,
				  struct tls_keyring *kr);
/* Free; accepts NULL. Live SSL objects keep their SSL_CTX alive. */
void tls_server_free(struct tls_server *srv);
/* A new server-side SSL for one accepted connection (SNI callback chooses
 * among srv->certs). NULL on ENOMEM (logged). */
SSL *tls_server_ssl_new(struct tls_server *srv);

/* Score of DNS @pattern (SAN, lowercase, "*." wildcard allowed as the whole
 * left-most label) for the normalised @sni: 0 = no match; otherwise larger
 * is better: exact > longer wildcard suffix > shorter. */
int tls_name_match(const char *pattern, const char *sni);
/* Index of the cert serving @sni: the best tls_name_match over each cert's
 * names, the earlier cert on a tie, 0 (default) when none matches or @sni is
 * NULL/empty. */
size_t tls_server_pick(const struct tls_server *srv, const char *sni);

/* Client context for a BackendTLSPolicy: TLS 1.2 minimum, peer verification
 * against bt->ca_pem (and the system store if bt->system_ca or no CA given).
 * NULL + errno (EINVAL: unusable CA bundle, logged with the policy name). */
SSL_CTX *tls_client_ctx_new(const struct policy_backend_tls *bt);
/* A client SSL on @ctx sending @hostname as SNI and verifying the backend's
 * certificate against it (SAN DNS, RFC 6125). NULL on failure (logged). */
SSL *tls_client_ssl_new(SSL_CTX *ctx, const char *hostname);

/* Whether the kernel offers kTLS (TCP_ULP "tls"), probed once on an
 * unconnected socket: ENOTCONN means the ULP exists, ENOENT that it does
 * not; SNIGATE_KTLS=off in the environment reports false (to compare the
 * paths). Thread-safe; the result is cached. */
bool tls_ktls_available(void);

/* Move an established server-side @s (TLS 1.2 or 1.3; AES-128/256-GCM or
 * ChaCha20-Poly1305) on @fd to kernel TLS: TCP_ULP "tls", then TLS_TX and
 * TLS_RX with the negotiated keys (TLS 1.3 traffic secrets from the keylog
 * callback + HKDF-Expand-Label; TLS 1.2 key block from the master secret)
 * and the record sequence numbers OpenSSL reached (1.3: tickets sent / 0;
 * 1.2: 1 / 1, the Finished records). Call right after the handshake, before
 * any SSL_read/SSL_write. Afterwards the fd carries plaintext: records the
 * kernel cannot pass as data (alerts, KeyUpdate) come back through
 * recvmsg() with a TLS_GET_RECORD_TYPE cmsg. Returns 0 (the caller must not
 * use @s for I/O any more), -EOPNOTSUPP (not applicable; @fd untouched: keep
 * using OpenSSL) or another -errno (@fd is half configured: abort it). */
int tls_ktls_enable(SSL *s, int fd);

#endif /* SNIGATE_TLS_CTX_H */
