// SPDX-License-Identifier: GPL-2.0-only
/* Scenario tests of the policy compiler: the upstream TLSRoute conformance
 * tests (reference §8.3) and snigate's own cases, as manifests under
 * tests/policy/ with expected status conditions and SNI -> backend
 * decisions read from the compiled table. Table-driven. */
#include <arpa/inet.h>
#include <check.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "policy.h"
#include "fixture.h"

enum ek {
	E_GW,       /* obj=gateway: condition type/status/reason */
	E_LST,      /* obj=gateway sub=listener: condition */
	E_KINDS,    /* obj sub: status = "TLSRoute" or "" (empty supportedKinds) */
	E_ATT,      /* obj sub: status = attachedRoutes */
	E_ROUTE,    /* obj=route sub=parent index: condition */
	E_PARENTS,  /* obj=route: status = number of parent entries ("0": no object) */
	E_BTLS,     /* obj=policy sub=ancestor gateway: condition */
	E_CLASS,    /* obj=class: status "True" or "-" (no status object) */
	E_SNI,      /* obj=ADDR:PORT sub=SNI: status = decision (see decide()) */
	E_BIND,     /* obj=ADDR:PORT: status = "P", "T", "PT" or "-" (no bind) */
};

struct exp {
	enum ek k;
	const char *obj, *sub, *type, *status, *reason;
};

struct scenario {
	const char *name;
	const char *files[4];
	const struct exp *ex;
	size_t n;
};

#define I "gateway-conformance-infra/"
#define T "True"
#define F "False"
#define SC(nm, arr, ...) { nm, { __VA_ARGS__ }, arr, sizeof(arr) / sizeof(arr[0]) }
#define BASE "tests/policy/base"
#define CONF(x) "tests/policy/conformance/" x
#define CASE(x) "tests/policy/cases/" x

/* ---- §8.3 conformance --------------------------------------------------------- */

static const struct exp ex01[] = {
	{ E_ROUTE, I "gateway-conformance-infra-test", "0", "Accepted", T, "Accepted" },
	{ E_ROUTE, I "gateway-conformance-infra-test", "0", "ResolvedRefs", T, "ResolvedRefs" },
	{ E_GW, I "gateway-tlsroute", NULL, "Accepted", T, "Accepted" },
	{ E_GW, I "gateway-tlsroute", NULL, "Programmed", T, "Programmed" },
	{ E_ATT, I "gateway-tlsroute", "https", NULL, "1", NULL },
	{ E_SNI, ":::443", "abc.example.com", NULL, "gateway-tlsroute/https "
	  "gateway-conformance-infra-test tcp-backend:8443=10.1.0.11:8443,10.1.0.12:8443", NULL },
	{ E_SNI, ":::443", "ABC.example.com", NULL, "gateway-tlsroute/https "
	  "gateway-conformance-infra-test tcp-backend:8443=10.1.0.11:8443,10.1.0.12:8443", NULL },
	{ E_SNI, ":::443", "other.example.com", NULL, "gateway-tlsroute/https -", NULL },
	{ E_SNI, ":::443", "example.com", NULL, "-", NULL },
	{ E_BIND, ":::443", NULL, NULL, "P", NULL },
};

#define X1 "gw-tlsroute-exact-hostname-x-1"
#define X2 "gw-tlsroute-more-specific-wc-hostname-x-2"
#define X3 "gw-tlsroute-less-specific-wc-hostname-x-3"
#define X4 "gw-tlsroute-empty-hostname-x-4"
#define TB "tls-backend:443=10.1.0.1:8443"
#define TB2 "tls-backend-2:443=10.1.0.2:8443"
static const struct exp ex02[] = {
	{ E_ROUTE, I "tlsroute-more-specific-wc-hostname-x-1", "0", "Accepted", T, "Accepted" },
	{ E_ROUTE, I "tlsroute-more-specific-wc-hostname-x-1", "0", "ResolvedRefs", T, "ResolvedRefs" },
	{ E_ROUTE, I "tlsroute-exact-hostname-x-2", "0", "Accepted", T, "Accepted" },
	{ E_ROUTE, I "tlsroute-exact-hostname-x-2", "0", "ResolvedRefs", T, "ResolvedRefs" },
	{ E_ROUTE, I "tlsroute-less-specific-wc-hostname-x-2", "0", "Accepted", T, "Accepted" },
	{ E_ROUTE, I "tlsroute-less-specific-wc-hostname-x-2", "0", "ResolvedRefs", T, "ResolvedRefs" },
	{ E_ROUTE, I "tlsroute-exact-hostname-x-3", "0", "Accepted", T, "Accepted" },
	{ E_ROUTE, I "tlsroute-more-specific-wc-hostname-x-3", "0", "Accepted", T, "Accepted" },
	{ E_ROUTE, I "tlsroute-more-specific-wc-hostname-x-3", "0", "ResolvedRefs", T, "ResolvedRefs" },
	{ E_ROUTE, I "tlsroute-exact-hostname-x-4", "0", "Accepted", T, "Accepted" },
	{ E_ROUTE, I "tlsroute-less-specific-wc-hostname-x-4", "0", "Accepted", T, "Accepted" },
	{ E_ROUTE, I "tlsroute-less-specific-wc-hostname-x-4", "0", "ResolvedRefs", T, "ResolvedRefs" },
	{ E_SNI, "127.0.0.1:443", "abc.example.com", NULL, X1 "/tls tlsroute-more-specific-wc-hostname-x-1 " TB, NULL },
	{ E_SNI, "127.0.0.1:443", "non.matching.com", NULL, "-", NULL },
	{ E_SNI, "127.0.0.2:443", "abc.example.com", NULL, X2 "/tls tlsroute-exact-hostname-x-2 " TB, NULL },
	{ E_SNI, "127.0.0.2:443", "other.example.com", NULL, X2 "/tls tlsroute-less-specific-wc-hostname-x-2 " TB2, NULL },
	{ E_SNI, "127.0.0.2:443", "non.matching.com", NULL, "-", NULL },
	{ E_SNI, "127.0.0.3:443", "abc.example.com", NULL, X3 "/tls tlsroute-exact-hostname-x-3 " TB, NULL },
	{ E_SNI, "127.0.0.3:443", "other.example.com", NULL, X3 "/tls tlsroute-more-specific-wc-hostname-x-3 " TB2, NULL },
	{ E_SNI, "127.0.0.3:443", "non.matching.com", NULL, X3 "/tls -", NULL },
	{ E_SNI, "127.0.0.4:443", "abc.example.com", NULL, X4 "/tls tlsroute-exact-hostname-x-4 " TB, NULL },
	{ E_SNI, "127.0.0.4:443", "other.example.com", NULL, X4 "/tls tlsroute-less-specific-wc-hostname-x-4 " TB2, NULL },
	{ E_SNI, "127.0.0.4:443", "non.matching.org", NULL, X4 "/tls -", NULL },
	{ E_ATT, I X2, "tls", NULL, "2", NULL },
};

static const struct exp ex03[] = {
	{ E_ROUTE, I "invalid-backend-ref-nonexistent", "0", "Accepted", T, "Accepted" },
	{ E_ROUTE, I "invalid-backend-ref-nonexistent", "0", "ResolvedRefs", F, "BackendNotFound" },
	{ E_SNI, ":::443", "example.com", NULL, "gateway-tlsroute-invalid-backend/tls "
	  "invalid-backend-ref-nonexistent !invalid", NULL },
};

static const struct exp ex04[] = {
	{ E_ROUTE, I "invalid-backend-ref-unknown-kind", "0", "Accepted", T, "Accepted" },
	{ E_ROUTE, I "invalid-backend-ref-unknown-kind", "0", "ResolvedRefs", F, "InvalidKind" },
	{ E_SNI, ":::443", "example.com", NULL, "gateway-tlsroute-invalid-backend/tls "
	  "invalid-backend-ref-unknown-kind !invalid", NULL },
};

static const struct exp ex05[] = {
	{ E_ROUTE, I "tlsroute-hostname-mismatch-1", "0", "Accepted", F, "NoMatchingListenerHostname" },
	{ E_ROUTE, I "tlsroute-hostname-mismatch-2", "0", "Accepted", F, "NoMatchingListenerHostname" },
	{ E_PARENTS, I "tlsroute-hostname-mismatch-1", NULL, NULL, "1", NULL },
	{ E_ATT, I "gateway-tls-exact-hostname", "tls", NULL, "0", NULL },
	{ E_ATT, I "gateway-tls-wildcard-hostname", "tls", NULL, "0", NULL },
	{ E_SNI, "127.0.0.1:443", "www.nomatch.com", NULL, "-", NULL },
	{ E_SNI, "127.0.0.2:443", "www.different.com", NULL, "-", NULL },
};

static const struct exp ex06[] = {
	{ E_ROUTE, I "tlsroute-not-allowed-protocol-http", "0", "Accepted", F, "NotAllowedByListeners" },
	{ E_ROUTE, I "tlsroute-not-allowed-protocol-https", "0", "Accepted", F, "NotAllowedByListeners" },
	{ E_ROUTE, I "tlsroute-no-matching-section-name", "0", "Accepted", F, "NoMatchingParent" },
	{ E_PARENTS, I "tlsroute-no-matching-section-name", NULL, NULL, "1", NULL },
	{ E_ATT, I "gateway-tlsroute-http-only", "http", NULL, "0", NULL },
	{ E_ATT, I "gateway-tlsroute-https-only", "https", NULL, "0", NULL },
	{ E_LST, I "gateway-tlsroute-http-only", "http", "Accepted", F, "UnsupportedProtocol" },
	{ E_KINDS, I "gateway-tlsroute-https-only", "https", NULL, "", NULL },
	{ E_BIND, "127.0.0.3:443", NULL, NULL, "-", NULL },
	{ E_SNI, "127.0.0.1:443", "tls.example.com", NULL, "gateway-tlsroute-tls-passthrough-only/tls-passthrough -", NULL },
};

static const struct exp ex07[] = {
	{ E_ROUTE, I "gateway-conformance-infra-test", "0", "Accepted", T, "Accepted" },
	{ E_ROUTE, I "gateway-conformance-infra-test", "0", "ResolvedRefs", F, "RefNotPermitted" },
	{ E_SNI, ":::443", "abc.example.com", NULL, "gateway-tlsroute-referencegrant/https "
	  "gateway-conformance-infra-test !invalid", NULL },
};

static const struct exp ex08[] = {
	{ E_LST, I "gateway-tlsroute-passthrough-supported-kinds", "tls-passthrough", "ResolvedRefs", F, "InvalidRouteKinds" },
	{ E_KINDS, I "gateway-tlsroute-passthrough-supported-kinds", "tls-passthrough", NULL, "TLSRoute", NULL },
	{ E_ATT, I "gateway-tlsroute-passthrough-supported-kinds", "tls-passthrough", NULL, "0", NULL },
};

static const struct exp ex10[] = {
	{ E_LST, I "gateway-tlsroute-terminate-supported-kinds", "tls-terminate", "Accepted", T, "Accepted" },
	{ E_LST, I "gateway-tlsroute-terminate-supported-kinds", "tls-terminate", "ResolvedRefs", T, "ResolvedRefs" },
	{ E_LST, I "gateway-tlsroute-terminate-supported-kinds", "tls-terminate", "Programmed", T, "Programmed" },
	{ E_KINDS, I "gateway-tlsroute-terminate-supported-kinds", "tls-terminate", NULL, "TLSRoute", NULL },
	{ E_ATT, I "gateway-tlsroute-terminate-supported-kinds", "tls-terminate", NULL, "0", NULL },
	{ E_BIND, ":::8443", NULL, NULL, "T", NULL },
};

static const struct exp ex11[] = {
	{ E_LST, I "gateway-tlsroute-mixed-termination-not-supported", "tls-terminate", "Accepted", T, "Accepted" },
	{ E_LST, I "gateway-tlsroute-mixed-termination-not-supported", "tls-passthrough", "Accepted", T, "Accepted" },
	{ E_LST, I "gateway-tlsroute-mixed-termination-not-supported", "tls-passthrough", "Conflicted", F, "NoConflicts" },
	{ E_BIND, ":::8443", NULL, NULL, "PT", NULL },
};

static const struct exp ex12[] = {
	{ E_ROUTE, I "tlsroute-terminated-test", "0", "Accepted", T, "Accepted" },
	{ E_ROUTE, I "tlsroute-terminated-test", "0", "ResolvedRefs", T, "ResolvedRefs" },
	{ E_SNI, ":::8443", "tls.example.com", NULL, "gateway-tlsroute-terminate/tlsterminate(T) "
	  "tlsroute-terminated-test tcp-backend:3000=10.1.0.11:3000,10.1.0.12:3000", NULL },
};

static const struct exp ex13[] = {
	{ E_ROUTE, I "gateway-conformance-mixed-passthroughroute", "0", "Accepted", T, "Accepted" },
	{ E_ROUTE, I "gateway-conformance-mixed-terminateroute", "0", "Accepted", T, "Accepted" },
	{ E_LST, I "gateway-tlsroute-mixed-termination", "tls-terminate", "Accepted", T, "Accepted" },
	{ E_LST, I "gateway-tlsroute-mixed-termination", "tls-passthrough", "Accepted", T, "Accepted" },
	{ E_ATT, I "gateway-tlsroute-mixed-termination", "tls-terminate", NULL, "1", NULL },
	{ E_ATT, I "gateway-tlsroute-mixed-termination", "tls-passthrough", NULL, "1", NULL },
	{ E_KINDS, I "gateway-tlsroute-mixed-termination", "tls-passthrough", NULL, "TLSRoute", NULL },
	{ E_SNI, ":::8883", "tls.example.com", NULL, "gateway-tlsroute-mixed-termination/tls-terminate(T) "
	  "gateway-conformance-mixed-terminateroute tcp-backend:3000=10.1.0.11:3000,10.1.0.12:3000", NULL },
	{ E_SNI, ":::8883", "abc.example.com", NULL, "gateway-tlsroute-mixed-termination/tls-passthrough "
	  "gateway-conformance-mixed-passthroughroute tcp-backend:8443=10.1.0.11:8443,10.1.0.12:8443", NULL },
	{ E_SNI, ":::8883", "other.example.com", NULL, "-", NULL },
	{ E_BIND, ":::8883", NULL, NULL, "PT", NULL },
};

static const struct exp ex14[] = {
	{ E_ROUTE, I "backendtlspolicy-tlsroute-terminate", "0", "Accepted", T, "Accepted" },
	{ E_BTLS, I "btls-tlsroute-terminate-test", I "gateway-backendtlspolicy-tlsroute", "Accepted", T, "Accepted" },
	{ E_BTLS, I "btls-tlsroute-terminate-test", I "gateway-backendtlspolicy-tlsroute", "ResolvedRefs", T, "ResolvedRefs" },
	{ E_SNI, ":::8443", "tls.example.com", NULL, "gateway-backendtlspolicy-tlsroute/tls-terminate(T) "
	  "backendtlspolicy-tlsroute-terminate btls-terminate-tls-backend:8443=10.1.0.11:8443,"
	  "10.1.0.12:8443+tls(abc.example.com)", NULL },
};

/* ---- snigate's own cases -------------------------------------------------------- */

static const struct exp ex_lc[] = {
	{ E_LST, "lc/gw-proto", "tls", "Accepted", F, "ProtocolConflict" },
	{ E_LST, "lc/gw-proto", "tls", "Programmed", F, "ProtocolConflict" },
	{ E_LST, "lc/gw-proto", "tls", "Conflicted", T, "ProtocolConflict" },
	{ E_KINDS, "lc/gw-proto", "tls", NULL, "", NULL },
	{ E_LST, "lc/gw-proto", "web", "Accepted", F, "ProtocolConflict" },
	{ E_LST, "lc/gw-proto", "tls2", "Accepted", T, "Accepted" },
	{ E_LST, "lc/gw-proto", "tls2", "Conflicted", F, "NoConflicts" },
	{ E_LST, "lc/gw-proto", "dns", "Accepted", F, "UnsupportedProtocol" },
	{ E_GW, "lc/gw-proto", NULL, "Accepted", T, "ListenersNotValid" },
	{ E_BIND, "127.0.1.1:443", NULL, NULL, "-", NULL },
	{ E_BIND, "127.0.1.1:444", NULL, NULL, "P", NULL },
	{ E_LST, "lc/gw-host-a", "same", "Conflicted", T, "HostnameConflict" },
	{ E_LST, "lc/gw-host-a", "same", "Accepted", F, "HostnameConflict" },
	{ E_LST, "lc/gw-host-b", "same", "Conflicted", T, "HostnameConflict" },
	{ E_LST, "lc/gw-host-a", "other", "Accepted", T, "Accepted" },
	{ E_GW, "lc/gw-host-b", NULL, "Accepted", F, "ListenersNotValid" },
	{ E_GW, "lc/gw-host-b", NULL, "Programmed", F, "Invalid" },
	{ E_SNI, "127.0.1.2:443", "same.example.com", NULL, "-", NULL },
	{ E_SNI, "127.0.1.2:443", "other.example.com", NULL, "gw-host-a/other -", NULL },
	{ E_LST, "lc/gw-values", "no-mode", "Accepted", F, "UnsupportedValue" },
	{ E_LST, "lc/gw-values", "no-tls", "Accepted", F, "UnsupportedValue" },
	{ E_LST, "lc/gw-values", "bad-engine", "Accepted", F, "UnsupportedValue" },
	{ E_LST, "lc/gw-values", "unknown-key", "Accepted", F, "UnsupportedValue" },
	{ E_LST, "lc/gw-values", "alpn-passthrough", "Accepted", F, "UnsupportedValue" },
	{ E_LST, "lc/gw-values", "bad-from", "Accepted", F, "UnsupportedValue" },
	{ E_LST, "lc/gw-values", "bad-mode", "Accepted", F, "UnsupportedValue" },
	{ E_KINDS, "lc/gw-values", "bad-mode", NULL, "", NULL },
	{ E_LST, "lc/gw-values", "good-options", "Accepted", T, "Accepted" },
	{ E_LST, "lc/gw-values", "good-options", "Programmed", T, "Programmed" },
	{ E_LST, "lc/gw-values", "sockmap", "Accepted", T, "Accepted" },
	{ E_GW, "lc/gw-bad-address", NULL, "Accepted", F, "UnsupportedAddress" },
	{ E_LST, "lc/gw-bad-address", "tls", "Programmed", F, "Invalid" },
};

static const struct exp ex_certs[] = {
	{ E_LST, "certs/gw-certs", "good", "ResolvedRefs", T, "ResolvedRefs" },
	{ E_LST, "certs/gw-certs", "good", "Programmed", T, "Programmed" },
	{ E_LST, "certs/gw-certs", "missing", "ResolvedRefs", F, "InvalidCertificateRef" },
	{ E_LST, "certs/gw-certs", "missing", "Programmed", F, "Invalid" },
	{ E_LST, "certs/gw-certs", "missing", "Accepted", T, "Accepted" },
	{ E_LST, "certs/gw-certs", "wrong-kind", "ResolvedRefs", F, "InvalidCertificateRef" },
	{ E_LST, "certs/gw-certs", "opaque", "ResolvedRefs", F, "InvalidCertificateRef" },
	{ E_LST, "certs/gw-certs", "garbage", "ResolvedRefs", F, "InvalidCertificateRef" },
	{ E_LST, "certs/gw-certs", "mismatch", "ResolvedRefs", F, "InvalidCertificateRef" },
	{ E_LST, "certs/gw-certs", "no-key", "ResolvedRefs", F, "InvalidCertificateRef" },
	{ E_LST, "certs/gw-certs", "cross-granted", "ResolvedRefs", T, "ResolvedRefs" },
	{ E_LST, "certs/gw-certs", "cross-denied", "ResolvedRefs", F, "RefNotPermitted" },
	{ E_LST, "certs/gw-certs", "none", "ResolvedRefs", F, "InvalidCertificateRef" },
	{ E_LST, "certs/gw-certs", "one-bad", "ResolvedRefs", F, "InvalidCertificateRef" },
	{ E_LST, "certs/gw-certs", "one-bad", "Programmed", T, "Programmed" },
	{ E_BIND, ":::2001", NULL, NULL, "T", NULL },
	{ E_BIND, ":::2002", NULL, NULL, "-", NULL },
	{ E_BIND, ":::2011", NULL, NULL, "T", NULL },
};

static const struct exp ex_attach[] = {
	{ E_PARENTS, "ns-a/from-a", NULL, NULL, "10", NULL }, /* 3 foreign refs: no entry */
	{ E_ROUTE, "ns-a/from-a", "0", "Accepted", F, "NotAllowedByListeners" }, /* Same */
	{ E_ROUTE, "ns-a/from-a", "1", "Accepted", T, "Accepted" },              /* All */
	{ E_ROUTE, "ns-a/from-a", "2", "Accepted", T, "Accepted" },              /* Selector */
	{ E_ROUTE, "ns-a/from-a", "3", "Accepted", F, "NotAllowedByListeners" }, /* NotIn */
	{ E_ROUTE, "ns-a/from-a", "4", "Accepted", F, "NotAllowedByListeners" }, /* metadata.name */
	{ E_ROUTE, "ns-a/from-a", "5", "Accepted", F, "NotAllowedByListeners" }, /* kinds */
	{ E_ROUTE, "ns-a/from-a", "6", "Accepted", F, "NotAllowedByListeners" }, /* HTTP */
	{ E_ROUTE, "ns-a/from-a", "7", "Accepted", F, "NoMatchingParent" },      /* section+port */
	{ E_ROUTE, "ns-a/from-a", "8", "Accepted", F, "NoMatchingParent" },      /* port */
	{ E_ROUTE, "ns-a/from-a", "9", "Accepted", T, "Accepted" },              /* port 1002 */
	{ E_ROUTE, "ns-a/from-a", "0", "ResolvedRefs", F, "RefNotPermitted" },
	{ E_ROUTE, "ns-b/from-b", "0", "Accepted", F, "NotAllowedByListeners" },
	{ E_ROUTE, "ns-b/from-b", "1", "Accepted", T, "Accepted" },
	{ E_ROUTE, "ns-b/from-b", "2", "Accepted", T, "Accepted" },
	{ E_ROUTE, "ns-b/from-b", "3", "Accepted", F, "NoMatchingListenerHostname" },
	{ E_ROUTE, "ns-b/hostname-over-kinds", "0", "Accepted", F, "NoMatchingListenerHostname" },
	{ E_ROUTE, "gw/whole-gateway", "0", "Accepted", T, "Accepted" },
	{ E_PARENTS, "gw/only-foreign-parents", NULL, NULL, "0", NULL },
	{ E_ATT, "gw/gw", "same", NULL, "1", NULL },      /* whole-gateway */
	{ E_ATT, "gw/gw", "all", NULL, "2", NULL },       /* from-a (twice: counted once) + whole */
	{ E_ATT, "gw/gw", "sel", NULL, "1", NULL },
	{ E_ATT, "gw/gw", "expr", NULL, "2", NULL },      /* from-b + whole (ns gw has no team) */
	{ E_ATT, "gw/gw", "narrow", NULL, "0", NULL },
	{ E_ATT, "gw/gw", "also-1002", NULL, "0", NULL },
	{ E_LST, "gw/gw", "http-kinds", "ResolvedRefs", F, "InvalidRouteKinds" },
	{ E_KINDS, "gw/gw", "http-kinds", NULL, "", NULL },
	{ E_CLASS, "other-class", NULL, NULL, "-", NULL },
	{ E_CLASS, "snigate", NULL, "Accepted", T, "Accepted" },
	{ E_GW, "gw/not-ours", NULL, NULL, "-", NULL },
	{ E_SNI, "127.0.3.1:1002", "a.example.com", NULL, "gw/all from-a !invalid", NULL },
	{ E_SNI, "127.0.3.1:1002", "w.example.com", NULL, "gw/all whole-gateway !invalid", NULL },
	{ E_SNI, "127.0.3.1:1002", "x.example.org", NULL, "gw/also-1002 -", NULL },
};

#define RP(l, r, b) "gw/" l " " r " " b
#define S1 "s1:443=10.96.1.1:443"
#define S2 "s2:443=10.96.1.2:443"
#define S3 "s3:443=10.96.1.3:443"
static const struct exp ex_prec[] = {
	{ E_SNI, "127.0.2.1:443", "dup.example.com", NULL, RP("l-wild", "r-old", S1), NULL },
	{ E_SNI, "127.0.2.1:443", "DUP.Example.COM.", NULL, RP("l-wild", "r-old", S1), NULL },
	{ E_SNI, "127.0.2.1:443", "new-only.example.com", NULL, RP("l-wild", "a-new", S2), NULL },
	{ E_SNI, "127.0.2.1:443", "tie.example.com", NULL, RP("l-wild", "tie-a", S1), NULL },
	{ E_SNI, "127.0.2.1:443", "foo.example.com", NULL, RP("l-exact", "on-exact", S1), NULL },
	{ E_SNI, "127.0.2.1:443", "bar.example.com", NULL, RP("l-wild", "wild-all", S2), NULL },
	{ E_SNI, "127.0.2.1:443", "a.b.example.com", NULL, RP("l-wild", "wild-all", S2), NULL },
	{ E_SNI, "127.0.2.1:443", "x.deep.example.com", NULL, RP("l-deep", "wild-all", S2), NULL },
	{ E_SNI, "127.0.2.1:443", "abc.other.org", NULL, RP("l-any", "on-any", S3), NULL },
	{ E_SNI, "127.0.2.1:443", "z.other.org", NULL, RP("l-any", "on-any", S3), NULL },
	{ E_SNI, "127.0.2.1:443", "other.org", NULL, "gw/l-any -", NULL },
	{ E_SNI, "127.0.2.1:443", "example.com", NULL, "gw/l-any -", NULL },
	{ E_SNI, "127.0.2.1:443", "w.example.com", NULL, RP("l-wild", "weights",
	  "s1:443*3=10.96.1.1:443 s2:443*0=10.96.1.2:443 !invalid"), NULL },
	{ E_SNI, "127.0.2.1:443", "1.2.3.4", NULL, "bad", NULL },
	{ E_SNI, "127.0.2.1:443", "a..b", NULL, "bad", NULL },
	{ E_SNI, "127.0.2.1:444", "x.foo.com", NULL, RP("l-foo-com", "wc-specific", S1), NULL },
	{ E_SNI, "127.0.2.1:444", "x.y.foo.com", NULL, RP("l-foo-com", "wc-specific", S1), NULL },
	{ E_SNI, "127.0.2.1:444", "foo.com", NULL, "-", NULL },
	{ E_SNI, "127.0.2.1:445", "anything.at.all", NULL, RP("l-v1a2", "v1a2-any", S1 " " S2), NULL },
	{ E_SNI, "127.0.2.1:446", "only.example.net", NULL, RP("l-v1a2-host", "v1a2-any", S1 " " S2), NULL },
	{ E_SNI, "127.0.2.1:446", "other.example.net", NULL, "-", NULL },
	{ E_ROUTE, "rp/a-new", "0", "Accepted", T, "Accepted" },   /* losers stay Accepted */
	{ E_ROUTE, "rp/tie-b", "0", "Accepted", T, "Accepted" },
	{ E_ROUTE, "rp/wc-broad", "0", "Accepted", T, "Accepted" },
	{ E_ROUTE, "rp/weights", "0", "ResolvedRefs", F, "BackendNotFound" },
	{ E_ATT, "rp/gw", "l-wild", NULL, "6", NULL },
	{ E_ATT, "rp/gw", "l-any", NULL, "1", NULL },
};

static const struct exp ex_backends[] = {
	{ E_SNI, "127.0.4.1:443", "named.example.com", NULL,
	  "gw/tls named named:443=10.3.0.1:9443,10.3.0.3:9443,[fd00::1]:9443", NULL },
	{ E_SNI, "127.0.4.1:443", "numeric.example.com", NULL,
	  "gw/tls numeric numeric:443=10.3.1.1:8443 numeric:80*2=10.3.1.1:80", NULL },
	{ E_SNI, "127.0.4.1:443", "misc.example.com", NULL, "gw/tls misc "
	  "cluster-only:443=10.96.2.3:443 headless:443= not-ready:443= elsewhere:443=10.96.2.7:443", NULL },
	{ E_ROUTE, "be/misc", "0", "ResolvedRefs", T, "ResolvedRefs" },
	{ E_ROUTE, "be/external", "0", "ResolvedRefs", F, "InvalidKind" },
	{ E_ROUTE, "be/no-port", "0", "ResolvedRefs", F, "BackendNotFound" },
	{ E_ROUTE, "be/wrong-port", "0", "ResolvedRefs", F, "BackendNotFound" },
	{ E_ROUTE, "be/wrong-port", "0", "Accepted", T, "Accepted" },
	{ E_SNI, "127.0.4.1:443", "wrong-port.example.com", NULL, "gw/tls wrong-port !invalid !invalid", NULL },
};

static const struct exp ex_btls[] = {
	{ E_SNI, "127.0.5.1:443", "r.example.com", NULL, "gw/term(T) r "
	  "svc:1001=10.96.3.1:1001+tls(whole.example.com) svc:1002=10.96.3.1:1002+tls(b.example.com) "
	  "!invalid", NULL },
	{ E_BTLS, "bt/whole-old", "bt/gw", "Accepted", T, "Accepted" },
	{ E_BTLS, "bt/whole-new", "bt/gw", "Accepted", F, "Conflicted" },
	{ E_BTLS, "bt/port-b", "bt/gw", "Accepted", T, "Accepted" },
	{ E_BTLS, "bt/bad-ca", "bt/gw", "Accepted", F, "NoValidCACertificate" },
	{ E_BTLS, "bt/bad-ca", "bt/gw", "ResolvedRefs", F, "InvalidCACertificateRef" },
};

static const struct exp ex_seed[] = {
	{ E_GW, "default/example-gateway", NULL, "Accepted", T, "ListenersNotValid" },
	{ E_LST, "default/example-gateway", "tls", "Programmed", T, "Programmed" },
	{ E_LST, "default/example-gateway", "tls-terminate", "ResolvedRefs", F, "InvalidCertificateRef" },
	{ E_ATT, "default/example-gateway", "tls-terminate", NULL, "1", NULL },
	{ E_ROUTE, "default/foo-route", "0", "Accepted", T, "Accepted" },
	{ E_ROUTE, "default/foo-route", "0", "ResolvedRefs", F, "BackendNotFound" },
	{ E_ROUTE, "default/bar-route", "0", "Accepted", T, "Accepted" },
	{ E_SNI, ":::443", "foo.example.com", NULL, "example-gateway/tls foo-route !invalid", NULL },
	{ E_SNI, ":::443", "bar.example.com", NULL, "example-gateway/tls -", NULL },
	{ E_BIND, ":::8443", NULL, NULL, "-", NULL },
};

static const struct scenario scenarios[] = {
	SC("conf-01-simple-same-namespace", ex01, BASE, CONF("01-simple-same-namespace.yaml")),
	SC("conf-02-hostname-intersection", ex02, BASE, CONF("02-hostname-intersection.yaml")),
	SC("conf-03-invalid-backend-nonexistent", ex03, BASE, CONF("03-invalid-backend-nonexistent.yaml")),
	SC("conf-04-invalid-backend-unknown-kind", ex04, BASE, CONF("04-invalid-backend-unknown-kind.yaml")),
	SC("conf-05-no-matching-listener-hostname", ex05, BASE, CONF("05-no-matching-listener-hostname.yaml")),
	SC("conf-06-no-matching-listener", ex06, BASE, CONF("06-no-matching-listener.yaml")),
	SC("conf-07-invalid-reference-grant", ex07, BASE, CONF("07-invalid-reference-grant.yaml")),
	SC("conf-08-passthrough-supported-kinds", ex08, BASE, CONF("08-passthrough-supported-kinds.yaml")),
	SC("conf-10-terminate-supported-kinds", ex10, BASE, CONF("10-terminate-supported-kinds.yaml")),
	SC("conf-11-mixed-same-port", ex11, BASE, CONF("11-mixed-same-port.yaml")),
	SC("conf-12-terminate-simple", ex12, BASE, CONF("12-terminate-simple.yaml")),
	SC("conf-13-mixed-termination", ex13, BASE, CONF("13-mixed-termination.yaml")),
	SC("conf-14-backendtlspolicy-terminate", ex14, BASE, CONF("14-backendtlspolicy-terminate.yaml")),
	SC("listener-conflicts", ex_lc, BASE, CASE("listener-conflicts.yaml")),
	SC("listener-certs", ex_certs, BASE, CASE("listener-certs.yaml")),
	SC("routes-attach", ex_attach, BASE, CASE("routes-attach.yaml")),
	SC("route-precedence", ex_prec, CASE("route-precedence.yaml")),
	SC("backends", ex_backends, CASE("backends.yaml")),
	SC("btls", ex_btls, BASE, CASE("btls.yaml")),
	SC("seed", ex_seed, "tests/policy/seed-example.yaml"),
};

/* ---- evaluation ----------------------------------------------------------------- */

static json_t *find_item(json_t *status, const char *kind, const char *nsname)
{
	json_t *it;
	size_t i;
	char buf[600];

	json_array_foreach(json_object_get(status, "items"), i, it) {
		json_t *md = json_object_get(it, "metadata");
		const char *ns = json_string_value(json_object_get(md, "namespace"));

		snprintf(buf, sizeof(buf), "%s%s%s", ns ? ns : "", ns ? "/" : "",
			 json_string_value(json_object_get(md, "name")));
		if (!strcmp(json_string_value(json_object_get(it, "kind")), kind) &&
		    !strcmp(buf, nsname))
			return it;
	}
	return NULL;
}

static json_t *find_named(json_t *arr, const char *key, const char *name)
{
	json_t *it;
	size_t i;

	json_array_foreach(arr, i, it)
		if (!strcmp(json_string_value(json_object_get(it, key)), name))
			return it;
	return NULL;
}

static void check_cond(const char *what, json_t *conds, const struct exp *e)
{
	json_t *c = find_named(conds, "type", e->type);

	ck_assert_msg(c, "%s: no condition %s", what, e->type);
	ck_assert_msg(!strcmp(json_string_value(json_object_get(c, "status")), e->status) &&
		      !strcmp(json_string_value(json_object_get(c, "reason")), e->reason),
		      "%s: %s is %s/%s (%s), want %s/%s", what, e->type,
		      json_string_value(json_object_get(c, "status")),
		      json_string_value(json_object_get(c, "reason")),
		      json_string_value(json_object_get(c, "message")), e->status, e->reason);
	ck_assert_msg(json_is_integer(json_object_get(c, "observedGeneration")),
		      "%s: observedGeneration missing", what);
}

static const struct policy_bind *find_bind(const struct policy_compiled *pc, const char *ap)
{
	const char *colon = strrchr(ap, ':');
	size_t i;

	for (i = 0; i < pc->n_binds; i++)
		if (pc->binds[i].port == atoi(colon + 1) &&
		    strlen(pc->binds[i].address) == (size_t)(colon - ap) &&
		    !strncmp(pc->binds[i].address, ap, (size_t)(colon - ap)))
			return &pc->binds[i];
	return NULL;
}

/* Decision for SNI @sni on @b as "GW/LISTENER[(T)] ROUTE BACKEND..." with
 * BACKEND = "svc:port[*weight]=ep,ep[+tls(name)]" or "!invalid[*w]";
 * "GW/LISTENER -" when the listener has no route; "-" no listener; "bad"
 * an SNI policy_sni_normalize() rejects. */
static void decide(const struct policy_compiled *pc, const struct policy_bind *b,
		   const char *sni, char *out, size_t cap)
{
	char name[SNG_HOSTNAME_MAX + 1], ep[INET6_ADDRSTRLEN];
	const struct sng_route_val *v;
	const struct policy_listener *l;
	const struct sng_set *s;
	size_t u = 0;
	uint32_t i, k;
	long e;

	if (policy_sni_normalize(sni, strlen(sni), name) < 0) {
		snprintf(out, cap, "bad");
		return;
	}
	e = policy_lookup(pc, b->id, name);
	if (e < 0) {
		snprintf(out, cap, "-");
		return;
	}
	v = &pc->vals[e];
	ck_assert_uint_lt(v->listener_id, pc->n_listeners);
	l = &pc->listeners[v->listener_id];
	ck_assert_uint_eq(l->bind_id, b->id);
	ck_assert_uint_eq(v->mode, l->mode);
	u += (size_t)snprintf(out + u, cap - u, "%s/%s%s", l->gateway_name, l->name,
			      l->mode == SNG_MODE_TERMINATE ? "(T)" : "");
	if (v->action == SNG_ACT_REJECT) {
		ck_assert_uint_eq(v->route_id, SNG_NO_ROUTE);
		snprintf(out + u, cap - u, " -");
		return;
	}
	ck_assert_uint_eq(v->action, SNG_ACT_ROUTE);
	ck_assert_uint_lt(v->route_id, pc->n_routes);
	ck_assert_uint_lt(v->set_id, pc->n_sets);
	u += (size_t)snprintf(out + u, cap - u, " %s", pc->routes[v->route_id].name);
	s = &pc->sets[v->set_id];
	for (i = 0, k = 0; i < s->n; i++)
		k += s->m[i].weight;
	ck_assert_uint_eq(k, s->total_weight);
	for (i = 0; i < s->n; i++) {
		const struct sng_set_member *m = &s->m[i];
		const struct sng_backend *bk;

		if (m->status) {
			ck_assert_int_eq(m->status, SNG_R_INVALID_BACKEND);
			u += (size_t)snprintf(out + u, cap - u, " !invalid");
			if (m->weight != 1)
				u += (size_t)snprintf(out + u, cap - u, "*%u", m->weight);
			continue;
		}
		ck_assert_uint_lt(m->backend_id, pc->n_backends);
		bk = &pc->backends[m->backend_id];
		u += (size_t)snprintf(out + u, cap - u, " %s:%u", pc->backend_info[m->backend_id].name,
				      pc->backend_info[m->backend_id].port);
		if (m->weight != 1)
			u += (size_t)snprintf(out + u, cap - u, "*%u", m->weight);
		u += (size_t)snprintf(out + u, cap - u, "=");
		for (k = 0; k < bk->n; k++) {
			inet_ntop(bk->ep[k].family, bk->ep[k].addr, ep, sizeof(ep));
			u += (size_t)snprintf(out + u, cap - u, bk->ep[k].family == AF_INET6 ?
					      "%s[%s]:%u" : "%s%s:%u", k ? "," : "", ep,
					      ntohs(bk->ep[k].port));
		}
		if (bk->flags & SNG_BF_BACKEND_TLS) {
			ck_assert_uint_lt(bk->tls_id, pc->n_backend_tls);
			u += (size_t)snprintf(out + u, cap - u, "+tls(%s)",
					      pc->backend_tls[bk->tls_id].hostname);
		}
	}
}

static void check_exp(const struct policy_compiled *pc, const struct exp *e)
{
	json_t *st = pc->status, *it, *x;
	char what[700], got[2048];
	const struct policy_bind *b;
	size_t idx;

	snprintf(what, sizeof(what), "%s %s", e->obj, e->sub ? e->sub : "");
	switch (e->k) {
	case E_GW:
		it = find_item(st, "Gateway", e->obj);
		if (!strcmp(e->status, "-")) {
			ck_assert_msg(!it, "%s: unexpected status", what);
			return;
		}
		ck_assert_msg(it, "%s: no Gateway status", what);
		check_cond(what, json_object_get(json_object_get(it, "status"), "conditions"), e);
		return;
	case E_LST: case E_KINDS: case E_ATT:
		it = find_item(st, "Gateway", e->obj);
		ck_assert_msg(it, "%s: no Gateway status", what);
		x = find_named(json_object_get(json_object_get(it, "status"), "listeners"), "name",
			       e->sub);
		ck_assert_msg(x, "%s: no listener status", what);
		if (e->k == E_LST) {
			check_cond(what, json_object_get(x, "conditions"), e);
		} else if (e->k == E_ATT) {
			ck_assert_msg(json_integer_value(json_object_get(x, "attachedRoutes")) ==
				      atoi(e->status), "%s: attachedRoutes %lld, want %s", what,
				      (long long)json_integer_value(json_object_get(x, "attachedRoutes")),
				      e->status);
		} else {
			json_t *k = json_object_get(x, "supportedKinds");

			if (!*e->status)
				ck_assert_msg(json_array_size(k) == 0, "%s: supportedKinds not empty", what);
			else
				ck_assert_msg(find_named(k, "kind", e->status), "%s: no %s in "
					      "supportedKinds", what, e->status);
		}
		return;
	case E_ROUTE: case E_PARENTS:
		it = find_item(st, "TLSRoute", e->obj);
		if (e->k == E_PARENTS) {
			size_t n = json_array_size(json_object_get(json_object_get(it, "status"),
								   "parents"));

			ck_assert_msg(!strcmp(e->status, "0") ? !it : n == (size_t)atoi(e->status),
				      "%s: %zu parent entries, want %s", what, n, e->status);
			return;
		}
		ck_assert_msg(it, "%s: no TLSRoute status", what);
		x = json_array_get(json_object_get(json_object_get(it, "status"), "parents"),
				   (size_t)atoi(e->sub));
		ck_assert_msg(x, "%s: no parent entry", what);
		ck_assert_str_eq(json_string_value(json_object_get(x, "controllerName")),
				 POLICY_DEFAULT_CONTROLLER);
		check_cond(what, json_object_get(x, "conditions"), e);
		return;
	case E_BTLS:
		it = find_item(st, "BackendTLSPolicy", e->obj);
		ck_assert_msg(it, "%s: no BackendTLSPolicy status", what);
		json_array_foreach(json_object_get(json_object_get(it, "status"), "ancestors"),
				   idx, x) {
			json_t *ar = json_object_get(x, "ancestorRef");
			char key[600];

			snprintf(key, sizeof(key), "%s/%s",
				 json_string_value(json_object_get(ar, "namespace")),
				 json_string_value(json_object_get(ar, "name")));
			if (!strcmp(key, e->sub)) {
				check_cond(what, json_object_get(x, "conditions"), e);
				return;
			}
		}
		ck_abort_msg("%s: no ancestor entry", what);
		return;
	case E_CLASS:
		it = find_item(st, "GatewayClass", e->obj);
		if (!strcmp(e->status, "-")) {
			ck_assert_msg(!it, "%s: unexpected GatewayClass status", what);
			return;
		}
		ck_assert_msg(it, "%s: no GatewayClass status", what);
		check_cond(what, json_object_get(json_object_get(it, "status"), "conditions"), e);
		return;
	case E_BIND:
		b = find_bind(pc, e->obj);
		if (!strcmp(e->status, "-")) {
			ck_assert_msg(!b, "%s: unexpected bind", what);
			return;
		}
		ck_assert_msg(b, "%s: no bind", what);
		snprintf(got, sizeof(got), "%s%s", b->has_passthrough ? "P" : "",
			 b->has_terminate ? "T" : "");
		ck_assert_msg(!strcmp(got, e->status), "%s: bind %s, want %s", what, got, e->status);
		return;
	case E_SNI:
		b = find_bind(pc, e->obj);
		if (!b) {
			ck_assert_msg(!strcmp(e->status, "-"), "%s: no bind", what);
			return;
		}
		decide(pc, b, e->sub, got, sizeof(got));
		ck_assert_msg(!strcmp(got, e->status), "%s:\n  got  %s\n  want %s", what, got,
			      e->status);
		return;
	}
}

static struct policy_compiled *compile_files(const char *const *files, struct policy_input **inp)
{
	struct policy_input *in = policy_input_new();
	struct policy_error err;
	struct policy_compiled *pc;
	size_t i;

	ck_assert_ptr_nonnull(in);
	for (i = 0; i < 4 && files[i]; i++)
		ck_assert_msg(policy_input_add_path(in, files[i], &err) == 0, "%s:%d:%d: %s: %s",
			      err.file, err.line, err.column, err.path, err.msg);
	pc = policy_compile(in, NULL);
	ck_assert_ptr_nonnull(pc);
	*inp = in;
	return pc;
}

START_TEST(test_scenario)
{
	const struct scenario *s = &scenarios[_i];
	struct policy_input *in;
	struct policy_compiled *pc;
	size_t i;

	fixture_go_to_srcdir();
	pc = compile_files(s->files, &in);
	for (i = 0; i < s->n; i++)
		check_exp(pc, &s->ex[i]);
	policy_compiled_free(pc);
	policy_input_free(in);
}
END_TEST

/* ---- compiled-table details the status does not show -------------------------- */

START_TEST(test_listener_options_compiled)
{
	const char *files[] = { BASE, CASE("listener-conflicts.yaml"), NULL, NULL };
	struct policy_input *in;
	struct policy_compiled *pc;
	const struct policy_listener *good = NULL, *sm = NULL;
	size_t i;

	fixture_go_to_srcdir();
	pc = compile_files(files, &in);
	for (i = 0; i < pc->n_listeners; i++) {
		ck_assert_uint_eq(pc->listeners[i].id, i);
		if (!strcmp(pc->listeners[i].name, "good-options"))
			good = &pc->listeners[i];
		if (!strcmp(pc->listeners[i].name, "sockmap"))
			sm = &pc->listeners[i];
	}
	ck_assert_ptr_nonnull(good);
	ck_assert_ptr_nonnull(sm);
	ck_assert_uint_eq(good->engine, SNG_ENGINE_USERSPACE);
	ck_assert_uint_eq(sm->engine, SNG_ENGINE_SOCKMAP);
	ck_assert_uint_eq(good->mode, SNG_MODE_TERMINATE);
	ck_assert_str_eq(good->alpn, "\x0apostgresql\x02h2");
	ck_assert_str_eq(sm->alpn, "");
	ck_assert_uint_eq(good->n_certs, 1);
	ck_assert_str_eq(good->certs[0].ref, "gateway-conformance-infra/tls-terminate-checks-certificate");
	ck_assert_ptr_nonnull(strstr(good->certs[0].chain_pem, "BEGIN CERTIFICATE"));
	ck_assert_ptr_nonnull(strstr(good->certs[0].key_pem, "PRIVATE KEY"));
	ck_assert_uint_eq(good->certs[0].n_sans, 1);
	ck_assert_str_eq(good->certs[0].sans[0], "tls.example.com");
	policy_compiled_free(pc);
	policy_input_free(in);
}
END_TEST

/* No key material may reach the status or the notes. */
START_TEST(test_no_key_in_status)
{
	const char *files[] = { BASE, CASE("listener-certs.yaml"), NULL, NULL };
	struct policy_input *in;
	struct policy_compiled *pc;
	char *st, *nt;

	fixture_go_to_srcdir();
	pc = compile_files(files, &in);
	st = json_dumps(pc->status, 0);
	nt = json_dumps(pc->notes, 0);
	ck_assert_ptr_null(strstr(st, "PRIVATE KEY"));
	ck_assert_ptr_null(strstr(st, "LS0tLS1CRUdJTi")); /* base64 of "-----BEGIN" */
	ck_assert_ptr_null(strstr(nt, "PRIVATE KEY"));
	free(st);
	free(nt);
	policy_compiled_free(pc);
	policy_input_free(in);
}
END_TEST

START_TEST(test_btls_compiled)
{
	const char *files[] = { BASE, CASE("btls.yaml"), CONF("14-backendtlspolicy-terminate.yaml"),
				NULL };
	struct policy_input *in;
	struct policy_compiled *pc;
	size_t i, sys = 0, ca = 0;

	fixture_go_to_srcdir();
	pc = compile_files(files, &in);
	for (i = 0; i < pc->n_backend_tls; i++) {
		const struct policy_backend_tls *t = &pc->backend_tls[i];

		ck_assert_uint_eq(t->id, i);
		if (t->system_ca) {
			sys++;
			ck_assert_ptr_null(t->ca_pem);
		} else {
			ca++;
			ck_assert_ptr_nonnull(strstr(t->ca_pem, "BEGIN CERTIFICATE"));
			ck_assert_str_eq(t->hostname, "abc.example.com");
			ck_assert_str_eq(t->policy, "gateway-conformance-infra/btls-tlsroute-terminate-test");
		}
	}
	/* whole-old, port-b (whole-new lost, bad-ca unusable), and the §8.3 one */
	ck_assert_uint_eq(sys, 2);
	ck_assert_uint_eq(ca, 1);
	policy_compiled_free(pc);
	policy_input_free(in);
}
END_TEST

/* Options: --gateway-class restricts, --controller-name changes ownership,
 * default_address replaces "::". */
START_TEST(test_options)
{
	const char *files[] = { CASE("routes-attach.yaml"), NULL, NULL, NULL };
	struct policy_options o = { 0 };
	struct policy_input *in;
	struct policy_compiled *pc;

	fixture_go_to_srcdir();
	pc = compile_files(files, &in);
	ck_assert_ptr_nonnull(find_item(pc->status, "Gateway", "gw/gw"));
	ck_assert_ptr_null(find_item(pc->status, "Gateway", "gw/not-ours"));
	policy_compiled_free(pc);

	o.gateway_class = "other-class";
	pc = policy_compile(in, &o);
	ck_assert_ptr_nonnull(pc);
	/* other-class belongs to another controller: nothing is served */
	ck_assert_ptr_null(find_item(pc->status, "Gateway", "gw/gw"));
	ck_assert_ptr_null(find_item(pc->status, "Gateway", "gw/not-ours"));
	policy_compiled_free(pc);

	o.controller_name = "example.com/other-controller";
	pc = policy_compile(in, &o);
	ck_assert_ptr_nonnull(find_item(pc->status, "Gateway", "gw/not-ours"));
	ck_assert_ptr_nonnull(find_item(pc->status, "GatewayClass", "other-class"));
	ck_assert_ptr_null(find_item(pc->status, "Gateway", "gw/gw"));
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(json_object_get(
		json_object_get(find_item(pc->status, "TLSRoute", "ns-a/from-a"), "status"),
		"parents"), 0), "controllerName")), "example.com/other-controller");
	policy_compiled_free(pc);

	policy_input_free(in);

	/* Gateways without spec.addresses bind the default address. */
	files[0] = CONF("01-simple-same-namespace.yaml");
	pc = compile_files(files, &in);
	ck_assert_ptr_nonnull(find_bind(pc, ":::443"));
	policy_compiled_free(pc);
	o.controller_name = NULL;
	o.gateway_class = "snigate";
	o.default_address = "127.0.0.9";
	pc = policy_compile(in, &o);
	ck_assert_ptr_nonnull(pc);
	ck_assert_ptr_nonnull(find_bind(pc, "127.0.0.9:443"));
	ck_assert_ptr_null(find_bind(pc, ":::443"));
	policy_compiled_free(pc);
	policy_input_free(in);
}
END_TEST

/* A route that loses a hostname stays Accepted and says so (§4). */
START_TEST(test_superseded_visible)
{
	const char *files[] = { CASE("route-precedence.yaml"), NULL, NULL, NULL };
	struct policy_input *in;
	struct policy_compiled *pc;
	json_t *acc;
	const char *msg;

	fixture_go_to_srcdir();
	pc = compile_files(files, &in);
	acc = json_array_get(json_object_get(json_array_get(json_object_get(json_object_get(
		find_item(pc->status, "TLSRoute", "rp/a-new"), "status"), "parents"), 0),
		"conditions"), 0);
	msg = json_string_value(json_object_get(acc, "message"));
	ck_assert_ptr_nonnull(strstr(msg, "hostname dup.example.com on listener l-wild is served "
				     "by TLSRoute rp/r-old"));
	acc = json_array_get(json_object_get(json_array_get(json_object_get(json_object_get(
		find_item(pc->status, "TLSRoute", "rp/r-old"), "status"), "parents"), 0),
		"conditions"), 0);
	ck_assert_ptr_null(strstr(json_string_value(json_object_get(acc, "message")), "served by"));
	policy_compiled_free(pc);
	policy_input_free(in);
}
END_TEST

static Suite *scen_suite(void)
{
	Suite *s = suite_create("policy_scenarios");
	TCase *tc = tcase_create("scenarios");

	tcase_set_timeout(tc, 30);
	tcase_add_loop_test(tc, test_scenario, 0, sizeof(scenarios) / sizeof(scenarios[0]));
	tcase_add_test(tc, test_listener_options_compiled);
	tcase_add_test(tc, test_no_key_in_status);
	tcase_add_test(tc, test_btls_compiled);
	tcase_add_test(tc, test_options);
	tcase_add_test(tc, test_superseded_visible);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(scen_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
