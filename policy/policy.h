/* SPDX-License-Identifier: GPL-2.0-only */
/* Policy compiler API: Gateway API manifests in, route tables (ABI structs)
 * and Kubernetes status out. Pure library: no libbpf, no sockets, no I/O
 * besides reading the input files. */
#ifndef SNIGATE_POLICY_H
#define SNIGATE_POLICY_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <jansson.h>

#include "snigate_abi.h"

#define POLICY_DEFAULT_CONTROLLER "snigate.io/gateway-controller"

/*
 * Semantics (reference gateway-api-tlsroute.md §1-7, §11) and the choices
 * the reference leaves open, as implemented:
 *
 * Input. Schema violations (wrong types, missing required fields, ranges,
 * hostname syntax, more than one rule in v1/v1alpha3, duplicate listener
 * names, duplicate keys) are input errors (what the API server would
 * refuse): -EINVAL, file:line:column and a JSON pointer. Explicit YAML
 * tags are ignored (plain scalars resolve by the YAML 1.2 core schema).
 * Caps: 256 MiB per file, 16 Mi nodes (aliases count per use), depth 64,
 * 1 Mi objects. The same kind/namespace/name twice: the last one wins
 * (note). Unknown kinds and kinds of other API groups: ignored (note).
 *
 * Served objects. A Gateway is served when its GatewayClass is absent from
 * the input or has our controllerName, and (with gateway_class set) the
 * class name matches. Only served Gateways, routes' parentRefs to them and
 * our GatewayClasses get status; a TLSRoute with no such parentRef gets no
 * status object at all (a note says so).
 *
 * Listeners. Protocols other than TLS: Accepted=False/UnsupportedProtocol.
 * TLS without tls.mode, a mode other than Passthrough/Terminate, an unknown
 * allowedRoutes.namespaces.from, a bad selector operator, and tls.options
 * errors are Accepted=False/UnsupportedValue. tls.options: snigate.io/engine
 * (sockmap | userspace | auto), snigate.io/alpn (Terminate only; comma list
 * -> wire format); any other snigate.io/ key is UnsupportedValue (a typo
 * must not pass silently); keys of other domains are ignored with a note.
 * Certificates: RefNotPermitted (cross-namespace, no grant) is checked
 * before existence; missing Secret, wrong group/kind/type, unparseable or
 * mismatched key: InvalidCertificateRef. A Terminate listener with at least
 * one usable certificate is served (ResolvedRefs may still be False);
 * with none it stays Accepted but is not Programmed (Programmed=False).
 * TLS sharing an address+port with HTTP/HTTPS/TCP: ProtocolConflict on all
 * of them; two TLS listeners with the same hostname on one address+port
 * (other Gateways): HostnameConflict on both. Conflicts set Accepted=False,
 * Programmed=False and Conflicted=True with the conflict reason.
 * Passthrough and Terminate on one port is Mixed mode (supported).
 * Gateway spec.addresses: IPAddress only (else Accepted=False/
 * UnsupportedAddress); every address is a bind, each listener gets one
 * policy_listener per address (consecutive ids, sharing certs).
 * Gateway Accepted: True/Accepted when every listener is Accepted, resolved
 * and unconflicted; True/ListenersNotValid when some are; else False.
 *
 * Routes. Per parentRef: NoMatchingParent (sectionName/port match no
 * listener) > NotAllowedByListeners (protocol, listener not accepted,
 * kinds, namespaces) > NoMatchingListenerHostname. attachedRoutes counts
 * routes Accepted on the listener after hostname intersection (a route
 * attached twice through two refs counts once). ResolvedRefs is per route:
 * the first bad backendRef's reason (InvalidKind, RefNotPermitted,
 * BackendNotFound; ExternalName is InvalidKind; a missing or unknown Service
 * port is BackendNotFound), the message lists all bad refs. v1alpha2 routes
 * without hostnames match what the listener matches; their rules' refs
 * form one set.
 *
 * Table. See struct sng_route_key. A route entry of listener L1 is dropped
 * when a more specific listener on the same bind covers it (isolation), so
 * one longest-prefix lookup = listener choice then route choice. Same key
 * on one listener: the route whose own hostname is more specific wins, then
 * the oldest creationTimestamp (absent = newest), then namespace/name;
 * losers stay Accepted (a note names the winner). An invalid backendRef is
 * a member with backend_id SNG_NO_ROUTE and status SNG_R_INVALID_BACKEND; a
 * Service without ready endpoints is a valid backend with n = 0. Limits:
 * entries <= SNG_MAX_ROUTE_ENTRIES / 2, sets <= SNG_MAX_SETS / 2, backends
 * <= SNG_MAX_BACKEND_ENTRIES / 2 (one generation's half), listeners <=
 * SNG_MAX_LISTENERS; beyond: policy_compile() fails with E2BIG.
 *
 * BackendTLSPolicy. Targets are Service (+ sectionName = port name); the
 * port-specific policy beats the whole-Service one; the older policy wins a
 * contested target, the other gets Accepted=False/Conflicted. Exactly one of
 * caCertificateRefs (ConfigMaps, same namespace, key ca.crt) and
 * wellKnownCACertificates: System. An unusable CA gives ResolvedRefs=False/
 * InvalidCACertificateRef, Accepted=False/NoValidCACertificate, and the
 * backend's shares are rejected (never plaintext instead of TLS). Ancestors
 * are the Gateways whose routes use the backend. Passthrough ignores it.
 *
 * Status is deterministic: items sorted (GatewayClasses, Gateways,
 * TLSRoutes, BackendTLSPolicies, each by namespace/name), conditions in a
 * fixed order, lastTransitionTime fixed at 1970-01-01T00:00:00Z (callers
 * writing to an API server keep the old time when status is unchanged),
 * observedGeneration = metadata.generation (1 when absent).
 */

/* An input error: where and why. Exit code 2 for the CLI. */
struct policy_error {
	char file[512];
	int line;    /* 1-based, 0 if unknown */
	int column;  /* 1-based, 0 if unknown */
	char path[256];  /* JSON pointer inside the document, e.g. /spec/rules/0 */
	char msg[512];
};

/* Options of one compilation. */
struct policy_options {
	const char *controller_name; /* NULL: POLICY_DEFAULT_CONTROLLER */
	const char *gateway_class;   /* NULL: serve every class (see above) */
	const char *default_address; /* NULL: bind "::" (all v4 and v6) */
};

/* The parsed input: every object by kind. Opaque. */
struct policy_input;

/* Create an empty input set. Returns NULL with errno set on ENOMEM. */
struct policy_input *policy_input_new(void);
/* Free an input set; accepts NULL. */
void policy_input_free(struct policy_input *in);
/* Add one file (YAML multi-document or JSON, objects or kind: List) or every
 * .yaml, .yml and .json file of a directory (sorted by name). Returns 0, or
 * -EINVAL with *err filled on malformed input, or -errno on I/O failure
 * (err filled too). Nothing is added from a file that fails. */
int policy_input_add_path(struct policy_input *in, const char *path,
			  struct policy_error *err);
/* Add a buffer as if it were a file named @name. Same returns. */
int policy_input_add_buffer(struct policy_input *in, const char *name,
			    const char *buf, size_t len, struct policy_error *err);
/* Notes collected while reading (unknown kinds ignored, ...): a JSON array
 * of strings owned by @in. */
json_t *policy_input_notes(const struct policy_input *in);

/* Budget on the total bytes of one input set (every file and buffer added
 * to it; `--max-input-bytes`): an input over it is refused before the file
 * over the line is read, so a huge manifest costs neither the time nor the
 * memory of parsing it (about 14 bytes of memory per input byte). */
#define POLICY_DEFAULT_MAX_INPUT_BYTES (64ull << 20)
/* Set the budget of input sets created after the call (process-wide; call
 * before any thread creates one). @max: bytes, >= 1. */
void policy_input_default_budget(uint64_t max);
/* Set @in's budget (bytes, >= 1); inputs start with the default above. */
void policy_input_set_budget(struct policy_input *in, uint64_t max);
/* Bytes @in may still take before its budget is exhausted (a reader of a
 * stream stops after this many + 1). */
uint64_t policy_input_budget_left(const struct policy_input *in);

/* ---- compiled output ---------------------------------------------------- */

/* One socket group to bind: an address and a port; all listeners (of all
 * served Gateways) on it share a bind id, the route keys' prefix. */
struct policy_bind {
	uint16_t id;          /* 1..SNG_BIND_MASK */
	uint16_t port;        /* host order */
	char address[64];     /* numeric IPv4/IPv6, "::" means all */
	uint8_t has_passthrough;
	uint8_t has_terminate;
};

/* A certificate of a Terminate listener (from a kubernetes.io/tls Secret). */
struct policy_cert {
	char ref[300];        /* namespace/name of the Secret */
	char *chain_pem;      /* tls.crt, NUL-terminated, owned */
	char *key_pem;        /* tls.key, NUL-terminated, owned; never log */
	size_t chain_len, key_len;
	char **sans;          /* DNS subjectAltNames of the leaf, lowercased */
	size_t n_sans;        /* (owned); for picking the longest SNI match */
};

/* A served listener (Accepted=True). Index = listener_id. */
struct policy_listener {
	uint32_t id;
	uint16_t bind_id;
	uint16_t port;
	uint8_t mode;          /* enum sng_mode */
	uint8_t engine;        /* enum sng_engine, from tls.options */
	char gateway_ns[64], gateway_name[254], name[254];
	char hostname[SNG_HOSTNAME_MAX + 1]; /* "" = none */
	struct policy_cert *certs; /* Terminate: first is the default; shared
				    * by the entries of one listener */
	size_t n_certs;
	char alpn[256];        /* wire-format ALPN list from tls.options; "" none */
};

/* A route as served on one listener. Index = route_id (per route, shared by
 * the listeners it attaches to). */
struct policy_route {
	uint32_t id;
	char ns[64], name[254];
};

/* A BackendTLSPolicy applied to a backend (re-encrypt). */
struct policy_backend_tls {
	uint32_t id;
	char hostname[SNG_HOSTNAME_MAX + 1]; /* SNI and verification name */
	char *ca_pem;          /* concatenated ca.crt bundles, owned */
	int system_ca;         /* wellKnownCACertificates: System */
	char policy[320];      /* namespace/name */
};

/* A backend as listed in a set (for logs, metrics and dump). */
struct policy_backend_info {
	uint32_t id;
	char ns[64], name[254]; /* Service */
	uint16_t port;          /* Service port */
};

/* The compiled table. All arrays owned by the struct. The ABI structs are
 * generation-agnostic here: the agent adds the generation when writing. */
struct policy_compiled {
	struct policy_bind *binds; size_t n_binds;
	struct policy_listener *listeners; size_t n_listeners;
	struct policy_route *routes; size_t n_routes;
	/* route table entries: keys carry bind ids without SNG_GEN_BIT */
	struct sng_route_key *keys; struct sng_route_val *vals; size_t n_entries;
	struct sng_set *sets; size_t n_sets;           /* index = set_id */
	struct sng_backend *backends; size_t n_backends; /* index = backend_id */
	struct policy_backend_info *backend_info;      /* n_backends entries */
	struct policy_backend_tls *backend_tls; size_t n_backend_tls;
	json_t *status;  /* kind: List of Gateways, TLSRoutes, ... with status */
	json_t *notes;   /* array of strings */
};

/* Compile @in. Returns NULL with errno set (ENOMEM) on failure; rejected
 * objects are not failures: they show in ->status. */
struct policy_compiled *policy_compile(const struct policy_input *in,
				       const struct policy_options *opt);
/* Free a compiled table; accepts NULL. Wipes private keys. */
void policy_compiled_free(struct policy_compiled *pc);

/* ---- lookup helpers shared with the agent and tests ---------------------- */

/* Normalise an SNI for lookup: lowercase, strip one trailing dot, validate
 * (LDH labels, no IP literal). Writes into @out (SNG_HOSTNAME_MAX + 1).
 * Returns the length or a negative enum sng_reason (SNG_R_BAD_SNI). */
int policy_sni_normalize(const char *sni, size_t len, char *out);
/* Build the route-table lookup key for a normalised SNI on @bind (the
 * caller ORs in the generation bit). Returns 0 or -EINVAL. */
int policy_route_key(struct sng_route_key *key, uint16_t bind, const char *sni);

/* Evaluate the compiled table without maps (tests, `snigate check --sni`):
 * the same longest-prefix rule the LPM trie applies. Returns the matching
 * entry index or -1. */
long policy_lookup(const struct policy_compiled *pc, uint16_t bind, const char *sni);

/* ---- output helpers ------------------------------------------------------ */

/* Write @v as a YAML document to @f (strings that would read back as
 * another type are quoted). Returns 0 or -EIO / -ENOMEM. */
int policy_write_yaml(FILE *f, json_t *v);

/* Bytes the compiled table occupies in the BPF maps (route entries, sets,
 * backends), for `snigate check --stats` and logs. */
size_t policy_table_bytes(const struct policy_compiled *pc);

#endif /* SNIGATE_POLICY_H */
