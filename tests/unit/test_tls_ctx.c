// SPDX-License-Identifier: GPL-2.0-only
/* Unit tests of agent/tls_ctx.c: SAN matching, certificate choice by SNI,
 * PEM errors, ALPN, ticket rotation and backend verification, over real
 * OpenSSL handshakes on socketpairs with certificates generated at run time. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "terminate.h"
#include "tls_ctx.h"

/* ---- run-time test PKI (never committed keys) ---------------------------- */

struct pem_pair {
	char *crt, *key;
};

static EVP_PKEY *ca_key;
static X509 *ca_crt;
static char *ca_pem;
static struct pem_pair rsa_leaf, ec_leaf, other_leaf;

static char *bio_str(BIO *b)
{
	char *p, *s;
	long n = BIO_get_mem_data(b, &p);

	s = malloc((size_t)n + 1);
	ck_assert_ptr_nonnull(s);
	memcpy(s, p, (size_t)n);
	s[n] = 0;
	BIO_free(b);
	return s;
}

static char *pem_of_crt(X509 *x)
{
	BIO *b = BIO_new(BIO_s_mem());

	ck_assert(PEM_write_bio_X509(b, x));
	return bio_str(b);
}

static void add_ext(X509 *x, X509 *issuer, int nid, const char *val)
{
	X509V3_CTX v3;
	X509_EXTENSION *e;

	X509V3_set_ctx(&v3, issuer, x, NULL, NULL, 0);
	e = X509V3_EXT_conf_nid(NULL, &v3, nid, val);
	ck_assert_ptr_nonnull(e);
	X509_add_ext(x, e, -1);
	X509_EXTENSION_free(e);
}

/* A certificate for @key, signed by the CA (or self-signed when ca_crt is
 * NULL), CN @cn and SAN @san (NULL: none). */
static X509 *make_crt(EVP_PKEY *key, const char *cn, const char *san, int is_ca)
{
	X509 *x = X509_new();
	X509_NAME *n;
	static long serial = 1;

	ASN1_INTEGER_set(X509_get_serialNumber(x), serial++);
	X509_gmtime_adj(X509_getm_notBefore(x), -3600);
	X509_gmtime_adj(X509_getm_notAfter(x), 86400);
	X509_set_version(x, 2);
	X509_set_pubkey(x, key);
	n = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
	X509_set_issuer_name(x, is_ca ? n : X509_get_subject_name(ca_crt));
	if (is_ca) {
		add_ext(x, x, NID_basic_constraints, "critical,CA:TRUE");
		add_ext(x, x, NID_key_usage, "critical,keyCertSign,cRLSign");
	} else {
		add_ext(x, ca_crt, NID_basic_constraints, "CA:FALSE");
		add_ext(x, ca_crt, NID_ext_key_usage, "serverAuth");
	}
	if (san)
		add_ext(x, is_ca ? x : ca_crt, NID_subject_alt_name, san);
	ck_assert(X509_sign(x, is_ca ? key : ca_key, EVP_sha256()));
	return x;
}

static void make_leaf(struct pem_pair *p, EVP_PKEY *key, const char *cn, const char *san)
{
	X509 *x = make_crt(key, cn, san, 0);
	BIO *b = BIO_new(BIO_s_mem());
	char *leaf = pem_of_crt(x);

	/* tls.crt is the chain: leaf then CA, as Kubernetes Secrets carry it */
	p->crt = malloc(strlen(leaf) + strlen(ca_pem) + 1);
	strcpy(p->crt, leaf);
	strcat(p->crt, ca_pem);
	free(leaf);
	ck_assert(PEM_write_bio_PrivateKey(b, key, NULL, NULL, 0, NULL, NULL));
	p->key = bio_str(b);
	X509_free(x);
	EVP_PKEY_free(key);
}

static void pki_setup(void)
{
	ca_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	ck_assert_ptr_nonnull(ca_key);
	ca_crt = make_crt(ca_key, "snigate test CA", NULL, 1);
	ca_pem = pem_of_crt(ca_crt);
	make_leaf(&rsa_leaf, EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048), "rsa.example.com",
		  "DNS:bar.example.com,DNS:rsa.example.com");
	make_leaf(&ec_leaf, EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256"), "ec",
		  "DNS:*.example.com,DNS:ec.example.org");
	make_leaf(&other_leaf, EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256"), "Other.Example.NET",
		  NULL);
}

/* ---- helpers -------------------------------------------------------------- */

static struct policy_cert pcerts[3];

static struct policy_listener *listener(const struct pem_pair **pp, size_t n, const char *alpn)
{
	static struct policy_listener l;
	size_t i;

	memset(&l, 0, sizeof(l));
	strcpy(l.gateway_ns, "default");
	strcpy(l.gateway_name, "gw");
	strcpy(l.name, "tls-terminate");
	l.mode = SNG_MODE_TERMINATE;
	for (i = 0; i < n; i++) {
		memset(&pcerts[i], 0, sizeof(pcerts[i]));
		snprintf(pcerts[i].ref, sizeof(pcerts[i].ref), "default/cert-%zu", i);
		pcerts[i].chain_pem = pp[i]->crt;
		pcerts[i].key_pem = pp[i]->key;
		pcerts[i].chain_len = strlen(pp[i]->crt);
		pcerts[i].key_len = strlen(pp[i]->key);
	}
	l.certs = pcerts;
	l.n_certs = n;
	if (alpn)
		memcpy(l.alpn, alpn, strlen(alpn));
	return &l;
}

static SSL_CTX *client_ctx(int max_version)
{
	SSL_CTX *c = SSL_CTX_new(TLS_client_method());
	X509_STORE *st = SSL_CTX_get_cert_store(c);

	X509_STORE_add_cert(st, ca_crt);
	SSL_CTX_set_verify(c, SSL_VERIFY_PEER, NULL);
	if (max_version)
		SSL_CTX_set_max_proto_version(c, max_version);
	SSL_CTX_set_session_cache_mode(c, SSL_SESS_CACHE_CLIENT);
	return c;
}

/* Drive both ends over a non-blocking socketpair; 1 on success. For TLS 1.3
 * a byte is exchanged so the client processes the NewSessionTicket. */
static int handshake(SSL *c, SSL *s)
{
	int sv[2], i, rc_c = 0, rc_s = 0;
	char b = 'x';

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
	SSL_set_fd(c, sv[0]);
	SSL_set_fd(s, sv[1]);
	for (i = 0; i < 200 && (rc_c != 1 || rc_s != 1); i++) {
		if (rc_c != 1)
			rc_c = SSL_do_handshake(c);
		if (rc_s != 1)
			rc_s = SSL_do_handshake(s);
		if (rc_c <= 0 && SSL_get_error(c, rc_c) != SSL_ERROR_WANT_READ &&
		    SSL_get_error(c, rc_c) != SSL_ERROR_WANT_WRITE)
			break;
		if (rc_s <= 0 && SSL_get_error(s, rc_s) != SSL_ERROR_WANT_READ &&
		    SSL_get_error(s, rc_s) != SSL_ERROR_WANT_WRITE)
			break;
	}
	if (rc_c == 1 && rc_s == 1) {
		ck_assert_int_eq(SSL_write(s, &b, 1), 1);
		for (i = 0; i < 50 && SSL_read(c, &b, 1) != 1; i++)
			;
	}
	ERR_clear_error();
	return rc_c == 1 && rc_s == 1;
}

static void ssl_close(SSL *s)
{
	int fd = SSL_get_fd(s);

	/* a clean close_notify: freeing an SSL without one marks its session
	 * not resumable (OpenSSL's bad-session rule) */
	SSL_shutdown(s);
	ERR_clear_error();
	SSL_free(s);
	if (fd >= 0)
		close(fd);
}

/* Handshake with SNI @sni; returns the key type of the served leaf, -1 on
 * failure. *@sess_out gets the client session if non-NULL; @sess_in is
 * offered for resumption and *@reused set. */
static int connect_sni(struct tls_server *srv, SSL_CTX *cc, const char *sni,
		       SSL_SESSION *sess_in, SSL_SESSION **sess_out, int *reused,
		       const unsigned char *alpn, unsigned alpn_len, char *alpn_got)
{
	SSL *c = SSL_new(cc), *s = tls_server_ssl_new(srv);
	X509 *peer;
	int type = -1;

	ck_assert_ptr_nonnull(c);
	ck_assert_ptr_nonnull(s);
	if (sni) {
		SSL_set_tlsext_host_name(c, sni);
		SSL_set1_host(c, sni);
	}
	if (alpn)
		SSL_set_alpn_protos(c, alpn, alpn_len);
	if (sess_in)
		SSL_set_session(c, sess_in);
	SSL_set_connect_state(c);
	if (handshake(c, s)) {
		ck_assert_int_eq(SSL_get_verify_result(c), X509_V_OK);
		peer = SSL_get1_peer_certificate(c);
		ck_assert_ptr_nonnull(peer);
		type = EVP_PKEY_get_base_id(X509_get0_pubkey(peer));
		X509_free(peer);
		if (reused)
			*reused = SSL_session_reused(c);
		if (sess_out)
			*sess_out = SSL_get1_session(c);
		if (alpn_got) {
			const unsigned char *p;
			unsigned len;

			SSL_get0_alpn_selected(c, &p, &len);
			if (len)
				memcpy(alpn_got, p, len);
			alpn_got[len] = 0;
		}
	}
	ssl_close(c);
	ssl_close(s);
	return type;
}

/* ---- tests ---------------------------------------------------------------- */

START_TEST(test_name_match)
{
	static const struct {
		const char *pat, *sni;
		int match;
	} t[] = {
		{ "foo.example.com", "foo.example.com", 1 },
		{ "foo.example.com", "bar.example.com", 0 },
		{ "*.example.com", "foo.example.com", 1 },
		{ "*.example.com", "a.b.example.com", 0 }, /* one label only */
		{ "*.example.com", "example.com", 0 },
		{ "*.example.com", ".example.com", 0 },
		{ "*.com", "example.com", 1 },
		{ "*", "example.com", 0 },
		{ "f*.example.com", "foo.example.com", 0 }, /* no partial wildcards */
		{ "", "a", 0 },
	};
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		ck_assert_msg(!!tls_name_match(t[i].pat, t[i].sni) == t[i].match, "%s vs %s",
			      t[i].pat, t[i].sni);
	/* exact beats any wildcard; longer wildcard beats shorter */
	ck_assert_int_gt(tls_name_match("foo.example.com", "foo.example.com"),
			 tls_name_match("*.example.com", "foo.example.com"));
	ck_assert_int_gt(tls_name_match("*.example.com", "foo.example.com"),
			 tls_name_match("*.com", "example.com"));
}
END_TEST

START_TEST(test_pick_by_sni)
{
	const struct pem_pair *pp[] = { &rsa_leaf, &ec_leaf, &other_leaf };
	struct tls_keyring *kr = tls_keyring_new(0);
	struct tls_server *srv = tls_server_new(listener(pp, 3, NULL), kr);
	SSL_CTX *cc = client_ctx(0);

	ck_assert_ptr_nonnull(srv);
	ck_assert_int_eq(srv->n_certs, 3);
	ck_assert_int_eq(srv->certs[0].key_type, EVP_PKEY_RSA);
	ck_assert_int_eq(srv->certs[1].key_type, EVP_PKEY_EC);
	ck_assert_int_eq(srv->certs[0].n_names, 2);
	ck_assert_str_eq(srv->certs[0].names[0], "bar.example.com");
	/* no SAN: the CN, lowercased */
	ck_assert_int_eq(srv->certs[2].n_names, 1);
	ck_assert_str_eq(srv->certs[2].names[0], "other.example.net");

	ck_assert_int_eq(tls_server_pick(srv, "bar.example.com"), 0);
	ck_assert_int_eq(tls_server_pick(srv, "foo.example.com"), 1); /* wildcard */
	ck_assert_int_eq(tls_server_pick(srv, "ec.example.org"), 1);
	ck_assert_int_eq(tls_server_pick(srv, "other.example.net"), 2);
	ck_assert_int_eq(tls_server_pick(srv, "nothing.test"), 0); /* default */
	ck_assert_int_eq(tls_server_pick(srv, NULL), 0);

	/* real handshakes: the served leaf follows the SNI, verified by the CA */
	ck_assert_int_eq(connect_sni(srv, cc, "bar.example.com", NULL, NULL, NULL, NULL, 0, NULL),
			 EVP_PKEY_RSA);
	ck_assert_int_eq(connect_sni(srv, cc, "Foo.Example.com", NULL, NULL, NULL, NULL, 0, NULL),
			 EVP_PKEY_EC);
	ck_assert_int_eq(connect_sni(srv, cc, "other.example.net", NULL, NULL, NULL, NULL, 0,
				     NULL), EVP_PKEY_EC);
	SSL_CTX_free(cc);
	tls_server_free(srv);
	tls_keyring_unref(kr);
}
END_TEST

START_TEST(test_versions_and_alpn)
{
	const struct pem_pair *pp[] = { &ec_leaf };
	static const unsigned char offer[] = "\x02h2\x08http/1.1\x0apostgresql";
	struct tls_keyring *kr = tls_keyring_new(0);
	struct tls_server *srv = tls_server_new(listener(pp, 1, NULL), kr), *srv2;
	SSL_CTX *c12 = client_ctx(TLS1_2_VERSION), *c13 = client_ctx(0), *c11;
	char got[64] = "unset";

	ck_assert_ptr_nonnull(srv);
	ck_assert_int_eq(connect_sni(srv, c12, "a.example.com", NULL, NULL, NULL, NULL, 0, NULL),
			 EVP_PKEY_EC);
	/* no ALPN advertised by default, even when the client offers h2 */
	ck_assert_int_eq(connect_sni(srv, c13, "a.example.com", NULL, NULL, NULL, offer,
				     sizeof(offer) - 1, got), EVP_PKEY_EC);
	ck_assert_str_eq(got, "");
	/* TLS 1.1 is refused */
	c11 = client_ctx(TLS1_1_VERSION);
	SSL_CTX_set_min_proto_version(c11, TLS1_VERSION);
	SSL_CTX_set_security_level(c11, 0);
	ck_assert_int_eq(connect_sni(srv, c11, "a.example.com", NULL, NULL, NULL, NULL, 0, NULL),
			 -1);
	/* configured ALPN: selected when offered, nothing when no overlap */
	srv2 = tls_server_new(listener(pp, 1, "\x0apostgresql"), kr);
	ck_assert_ptr_nonnull(srv2);
	ck_assert_int_eq(connect_sni(srv2, c13, "a.example.com", NULL, NULL, NULL, offer,
				     sizeof(offer) - 1, got), EVP_PKEY_EC);
	ck_assert_str_eq(got, "postgresql");
	ck_assert_int_eq(connect_sni(srv2, c13, "a.example.com", NULL, NULL, NULL,
				     (const unsigned char *)"\x02h2", 3, got), EVP_PKEY_EC);
	ck_assert_str_eq(got, "");
	SSL_CTX_free(c11);
	SSL_CTX_free(c12);
	SSL_CTX_free(c13);
	tls_server_free(srv);
	tls_server_free(srv2);
	tls_keyring_unref(kr);
}
END_TEST

/* Resume once with @in on @srv; returns reused and the fresh session. TLS
 * 1.3 clients use a ticket once, so every step uses an unused session. */
static int resume(struct tls_server *srv, SSL_CTX *cc, SSL_SESSION *in, SSL_SESSION **out)
{
	int reused = -1;

	ck_assert_int_eq(connect_sni(srv, cc, "bar.example.com", in, out, &reused, NULL, 0, NULL),
			 EVP_PKEY_RSA);
	return reused;
}

static void check_resumption(int version)
{
	const struct pem_pair *pp[] = { &rsa_leaf, &ec_leaf };
	struct tls_keyring *kr = tls_keyring_new(0), *kr2 = tls_keyring_new(0);
	struct tls_server *srv = tls_server_new(listener(pp, 2, NULL), kr), *srv_reload, *srv2;
	SSL_CTX *cc = client_ctx(version);
	SSL_SESSION *s[8] = { 0 };
	unsigned i;

	ck_assert_ptr_nonnull(srv);
	ck_assert_int_eq(tls_keyring_serial(kr), 1);
	ck_assert_int_eq(resume(srv, cc, NULL, &s[0]), 0);
	for (i = 1; i < 4; i++) /* unused tickets of key 1, for later */
		ck_assert_int_eq(resume(srv, cc, NULL, &s[i]), 0);
	ck_assert_int_eq(resume(srv, cc, s[0], &s[4]), 1);
	/* the resumed connection handed out a ticket that resumes again */
	ck_assert_int_eq(resume(srv, cc, s[4], &s[5]), 1);
	/* a reload builds new contexts but carries the ring: still resumes */
	srv_reload = tls_server_new(listener(pp, 2, NULL), kr);
	ck_assert_ptr_nonnull(srv_reload);
	ck_assert_int_eq(resume(srv_reload, cc, s[5], &s[6]), 1);
	/* after a rotation the previous key still decrypts (and renews) */
	ck_assert(tls_keyring_rotate(kr, true));
	ck_assert(!tls_keyring_rotate(kr, false)); /* not due yet */
	ck_assert_int_eq(tls_keyring_serial(kr), 2);
	ck_assert_int_eq(resume(srv_reload, cc, s[1], &s[7]), 1);
	/* a ring of another policy (or process) does not decrypt */
	srv2 = tls_server_new(listener(pp, 2, NULL), kr2);
	ck_assert_int_eq(resume(srv2, cc, s[2], NULL), 0);
	/* once key 1 is out of the window, its tickets give a full handshake,
	 * while a ticket of a key still in the window resumes */
	for (i = 0; i < TLS_TICKET_KEEP - 2; i++)
		ck_assert(tls_keyring_rotate(kr, true));
	ck_assert_int_eq(resume(srv_reload, cc, s[7], NULL), 1); /* key 2 */
	ck_assert(tls_keyring_rotate(kr, true));
	ck_assert_int_eq(resume(srv_reload, cc, s[3], NULL), 0); /* key 1 */
	for (i = 0; i < 8; i++)
		SSL_SESSION_free(s[i]);
	SSL_CTX_free(cc);
	tls_server_free(srv);
	tls_server_free(srv_reload);
	tls_server_free(srv2);
	tls_keyring_unref(kr);
	tls_keyring_unref(kr2);
}

START_TEST(test_resumption_tls12)
{
	check_resumption(TLS1_2_VERSION);
}
END_TEST

START_TEST(test_resumption_tls13)
{
	check_resumption(0);
}
END_TEST

START_TEST(test_bad_pem)
{
	struct pem_pair bad_crt = { "not a certificate", ec_leaf.key };
	struct pem_pair no_key = { ec_leaf.crt, "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n" };
	struct pem_pair mismatch = { ec_leaf.crt, rsa_leaf.key };
	const struct pem_pair *pp[1];
	struct tls_keyring *kr = tls_keyring_new(0);

	pp[0] = &bad_crt;
	errno = 0;
	ck_assert_ptr_null(tls_server_new(listener(pp, 1, NULL), kr));
	ck_assert_int_eq(errno, EINVAL);
	pp[0] = &no_key;
	errno = 0;
	ck_assert_ptr_null(tls_server_new(listener(pp, 1, NULL), kr));
	ck_assert_int_eq(errno, EINVAL);
	pp[0] = &mismatch;
	errno = 0;
	ck_assert_ptr_null(tls_server_new(listener(pp, 1, NULL), kr));
	ck_assert_int_eq(errno, EINVAL);
	errno = 0;
	ck_assert_ptr_null(tls_server_new(listener(pp, 0, NULL), kr));
	ck_assert_int_eq(errno, EINVAL);
	/* malformed ALPN list (length overruns) */
	pp[0] = &ec_leaf;
	errno = 0;
	ck_assert_ptr_null(tls_server_new(listener(pp, 1, "\x05h2"), kr));
	ck_assert_int_eq(errno, EINVAL);
	tls_keyring_unref(kr);
}
END_TEST

/* Backend leg: the client verifies the backend against the policy CA and
 * the validation hostname, and sends it as SNI. */
static int backend_handshake(const struct policy_backend_tls *bt, struct tls_server *backend,
			     const char *host, char *sni_seen)
{
	SSL_CTX *cc = tls_client_ctx_new(bt);
	SSL *c, *s;
	int ok;

	ck_assert_ptr_nonnull(cc);
	c = tls_client_ssl_new(cc, host);
	ck_assert_ptr_nonnull(c);
	s = tls_server_ssl_new(backend);
	ok = handshake(c, s);
	if (sni_seen) {
		const char *n = SSL_get_servername(s, TLSEXT_NAMETYPE_host_name);

		strcpy(sni_seen, n ? n : "");
	}
	if (!ok)
		ck_assert_int_ne(SSL_get_verify_result(c), X509_V_OK);
	ssl_close(c);
	ssl_close(s);
	SSL_CTX_free(cc);
	return ok;
}

START_TEST(test_backend_client)
{
	const struct pem_pair *pp[] = { &rsa_leaf };
	struct tls_keyring *kr = tls_keyring_new(0);
	struct tls_server *backend = tls_server_new(listener(pp, 1, NULL), kr);
	struct policy_backend_tls bt = { .ca_pem = ca_pem };
	struct policy_backend_tls bad = { .ca_pem = (char *)"garbage" };
	struct policy_backend_tls sys = { .system_ca = 1 };
	char sni[256];

	strcpy(bt.policy, "default/btls");
	strcpy(bt.hostname, "rsa.example.com");
	ck_assert(backend_handshake(&bt, backend, "rsa.example.com", sni));
	ck_assert_str_eq(sni, "rsa.example.com");
	/* hostname not in the backend's SANs: verification fails */
	ck_assert(!backend_handshake(&bt, backend, "abc.example.com", sni));
	ck_assert_str_eq(sni, "abc.example.com");
	/* system CAs do not know our test CA */
	strcpy(sys.policy, "default/sys");
	ck_assert(!backend_handshake(&sys, backend, "rsa.example.com", NULL));
	errno = 0;
	strcpy(bad.policy, "default/bad");
	ck_assert_ptr_null(tls_client_ctx_new(&bad));
	ck_assert_int_eq(errno, EINVAL);
	tls_server_free(backend);
	tls_keyring_unref(kr);
}
END_TEST

/* The compiled policy of real manifests -> term_policy_build(): Terminate
 * listeners with two certificateRefs, a BackendTLSPolicy, and a rebuild
 * with the previous policy (ticket keys carried over, either freed first). */
static char *b64(const char *s)
{
	size_t n = strlen(s);
	char *out = malloc(4 * ((n + 2) / 3) + 1);

	EVP_EncodeBlock((unsigned char *)out, (const unsigned char *)s, (int)n);
	return out;
}

START_TEST(test_term_policy_build)
{
	static const char fmt[] =
		"apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\n"
		"metadata: {name: gw, namespace: default}\n"
		"spec:\n  gatewayClassName: c\n  listeners:\n"
		"  - name: t\n    protocol: TLS\n    port: 8443\n    tls:\n"
		"      mode: Terminate\n      certificateRefs: [{name: rsa}, {name: ec}]\n"
		"  - name: p\n    protocol: TLS\n    port: 443\n    tls: {mode: Passthrough}\n"
		"---\napiVersion: v1\nkind: Secret\nmetadata: {name: rsa, namespace: default}\n"
		"type: kubernetes.io/tls\ndata: {tls.crt: %s, tls.key: %s}\n"
		"---\napiVersion: v1\nkind: Secret\nmetadata: {name: ec, namespace: default}\n"
		"type: kubernetes.io/tls\ndata: {tls.crt: %s, tls.key: %s}\n"
		"---\napiVersion: gateway.networking.k8s.io/v1\nkind: TLSRoute\n"
		"metadata: {name: r, namespace: default}\n"
		"spec:\n  parentRefs: [{name: gw, sectionName: t}]\n"
		"  hostnames: [bar.example.com]\n  rules: [{backendRefs: [{name: svc, port: 8080}]}]\n"
		"---\napiVersion: v1\nkind: Service\nmetadata: {name: svc, namespace: default}\n"
		"spec: {ports: [{name: p, port: 8080, targetPort: 8080}]}\n";
	char *parts[4] = { b64(rsa_leaf.crt), b64(rsa_leaf.key), b64(ec_leaf.crt),
			   b64(ec_leaf.key) };
	struct policy_input *in = policy_input_new();
	struct policy_error perr;
	struct policy_compiled *pc;
	struct term_policy *tp, *tp2;
	char *yaml;
	size_t i, n_term = 0;
	int len;

	len = snprintf(NULL, 0, fmt, parts[0], parts[1], parts[2], parts[3]);
	yaml = malloc((size_t)len + 1);
	snprintf(yaml, (size_t)len + 1, fmt, parts[0], parts[1], parts[2], parts[3]);
	ck_assert_int_eq(policy_input_add_buffer(in, "test.yaml", yaml, (size_t)len, &perr), 0);
	pc = policy_compile(in, NULL);
	ck_assert_ptr_nonnull(pc);
	for (i = 0; i < pc->n_listeners; i++)
		if (pc->listeners[i].mode == SNG_MODE_TERMINATE) {
			n_term++;
			ck_assert_int_eq(pc->listeners[i].n_certs, 2);
		}
	ck_assert_int_eq(n_term, 1);
	tp = term_policy_build(pc, NULL);
	ck_assert_ptr_nonnull(tp);
	tp2 = term_policy_build(pc, tp);
	ck_assert_ptr_nonnull(tp2);
	term_policy_free(tp); /* the keyring lives on in tp2 */
	term_policy_free(tp2);
	term_policy_free(NULL);
	policy_compiled_free(pc);
	policy_input_free(in);
	for (i = 0; i < 4; i++)
		free(parts[i]);
	free(yaml);
}
END_TEST

START_TEST(test_ktls_probe)
{
	/* consistent answers, no crash; the value depends on the kernel */
	ck_assert_int_eq(tls_ktls_available(), tls_ktls_available());
}
END_TEST

static Suite *tls_ctx_suite(void)
{
	Suite *s = suite_create("tls_ctx");
	TCase *tc = tcase_create("core");

	tcase_add_unchecked_fixture(tc, pki_setup, NULL);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_name_match);
	tcase_add_test(tc, test_pick_by_sni);
	tcase_add_test(tc, test_versions_and_alpn);
	tcase_add_test(tc, test_resumption_tls12);
	tcase_add_test(tc, test_resumption_tls13);
	tcase_add_test(tc, test_bad_pem);
	tcase_add_test(tc, test_backend_client);
	tcase_add_test(tc, test_term_policy_build);
	tcase_add_test(tc, test_ktls_probe);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(tls_ctx_suite());
	int failed;

	signal(SIGPIPE, SIG_IGN);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
