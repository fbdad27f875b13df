/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* snigate kernel/user ABI: every BPF map key and value, limits and reason
 * codes. Included by bpf/, agent/, policy/ and tests/; never mirror it. */
#ifndef SNIGATE_ABI_H
#define SNIGATE_ABI_H

#ifdef __bpf__
/* BPF side: vmlinux.h (included before this header) provides __u8..__u64. */
#else
#include <linux/types.h>
#endif

#define SNG_ABI_VERSION 1

/* ---- limits ----------------------------------------------------------- */

/* Route-table key name bytes: a DNS name is at most 253 characters, plus a
 * terminator for exact entries. 2 (bind) + 254 = 256 = LPM_DATA_SIZE_MAX. */
#define SNG_NAME_MAX 254
#define SNG_HOSTNAME_MAX 253
/* TLSRoute backendRefs maxItems is 16. */
#define SNG_MAX_BACKENDS 16
/* Endpoints kept per backend (Service port); more are ignored with a note. */
#define SNG_MAX_ENDPOINTS 64
/* ClientHello bytes the agent will hold before giving up. */
#define SNG_HELLO_MAX 16384

/* Map sizes. Each generation gets a half of the array maps (see SNG_GEN_*). */
#define SNG_MAX_ROUTE_ENTRIES 262144
#define SNG_MAX_SETS 65536
#define SNG_MAX_BACKEND_ENTRIES 65536
#define SNG_MAX_LISTENERS 4096
#define SNG_MAX_ROUTES 65536
#define SNG_MAX_CONNS 131072 /* sockets, i.e. 2 per spliced connection */

/* ---- generations -------------------------------------------------------
 * A policy swap writes a complete table under the inactive generation, then
 * flips sng_config.gen in one array-element update, then deletes the old
 * generation. Lookups read gen first, so no lookup ever sees half a table.
 * The generation is the top bit of the route key's bind id and selects the
 * upper or lower half of the id space of sng_sets and sng_backends. */
#define SNG_GEN_BIT 0x8000
#define SNG_BIND_MASK 0x7fff

/* ---- route table (LPM trie) -------------------------------------------
 * Key data: bind id (big endian, gen bit included) followed by the
 * lowercased SNI reversed label-wise by characters: "foo.example.com" is
 * stored as "moc.elpmaxe.oof\0" (exact: includes the terminator) and
 * "*.example.com" as "moc.elpmaxe." (wildcard: the prefix). The longest
 * prefix is then exact > longest wildcard > shorter wildcard > listener
 * without hostname (prefixlen 16: only the bind). */
struct sng_route_key {
	__u32 prefixlen; /* in bits, 16 + 8 * name bytes */
	__u16 bind;      /* big endian: SNG_GEN_BIT | bind id */
	__u8 name[SNG_NAME_MAX];
};
_Static_assert(sizeof(struct sng_route_key) == 260, "sng_route_key size");

enum sng_route_action {
	SNG_ACT_ROUTE = 1,   /* forward through set_id */
	SNG_ACT_REJECT = 2,  /* listener matched, no route: close */
};

enum sng_mode {
	SNG_MODE_PASSTHROUGH = 1,
	SNG_MODE_TERMINATE = 2,
};

struct sng_route_val {
	__u32 listener_id; /* index into sng_lstats and the compiled listeners */
	__u32 route_id;    /* index into sng_rstats; SNG_NO_ROUTE on reject */
	__u32 set_id;      /* index into sng_sets (generation-relative) */
	__u8 action;       /* enum sng_route_action */
	__u8 mode;         /* enum sng_mode */
	__u8 engine;       /* enum sng_engine: preference of the listener */
	__u8 pad;
};
_Static_assert(sizeof(struct sng_route_val) == 16, "sng_route_val size");
#define SNG_NO_ROUTE 0xffffffffu

/* ---- weighted backend sets (hash, key = gen * SNG_MAX_SETS + id) ------ */
struct sng_set_member {
	__u32 weight;     /* 0: no traffic */
	__u32 backend_id; /* index into sng_backends (generation-relative) */
	__s32 status;     /* 0 or a negative enum sng_reason: reject its share */
	__u32 pad;
};
_Static_assert(sizeof(struct sng_set_member) == 16, "sng_set_member size");

struct sng_set {
	__u32 n;            /* members used */
	__u32 total_weight; /* sum of member weights */
	struct sng_set_member m[SNG_MAX_BACKENDS];
};
_Static_assert(sizeof(struct sng_set) == 8 + 16 * SNG_MAX_BACKENDS, "sng_set size");

/* ---- backends: one Service port's ready endpoints -----------------------
 * (hash, key = gen * SNG_MAX_BACKEND_ENTRIES + id) */
struct sng_endpoint {
	__u8 family; /* AF_INET or AF_INET6 */
	__u8 pad;
	__u16 port;  /* network order */
	__u8 addr[16];
};
_Static_assert(sizeof(struct sng_endpoint) == 20, "sng_endpoint size");

enum sng_backend_flags {
	SNG_BF_BACKEND_TLS = 1 << 0, /* BackendTLSPolicy: re-encrypt (tls_id) */
};

struct sng_backend {
	__u32 n;       /* endpoints used */
	__u32 flags;   /* enum sng_backend_flags */
	__u32 tls_id;  /* index into the compiled backend TLS policies */
	__u32 pad;
	struct sng_endpoint ep[SNG_MAX_ENDPOINTS];
};
_Static_assert(sizeof(struct sng_backend) == 16 + 20 * SNG_MAX_ENDPOINTS, "sng_backend size");

/* ---- global config (array of 1) ---------------------------------------- */
struct sng_config {
	__u32 abi;     /* SNG_ABI_VERSION */
	__u32 gen;     /* active generation: 0 or 1 */
	__u64 serial;  /* bumped on every successful policy swap */
};
_Static_assert(sizeof(struct sng_config) == 16, "sng_config size");

/* ---- per-socket state, keyed by socket cookie ---------------------------
 * ctl is written only by the agent; cnt only by BPF. Keeping them apart
 * matters: a userspace hash update swaps the element, and BPF increments to
 * the old element would be lost (sockmap-facts §4.1). */
enum sng_ctl_flags {
	SNG_CTL_ENABLE = 1 << 0, /* redirect to peer; else SK_PASS */
	SNG_CTL_CLIENT = 1 << 1, /* this socket is the client side */
	SNG_CTL_COUNT = 1 << 2,  /* client side: the verdict counts the
				  * connection (conns + SNG_OK) on its first
				  * skb, the peeked ClientHello */
};

struct sng_ctl {
	__u64 peer;      /* peer socket cookie */
	__u64 consumed;  /* passed bytes the agent has read and forwarded */
	__u32 flags;     /* enum sng_ctl_flags */
	__u32 listener_id;
	__u32 route_id;
	__u32 pad;
};
_Static_assert(sizeof(struct sng_ctl) == 32, "sng_ctl size");

struct sng_cnt {
	__u64 passed;     /* bytes the verdict left to the socket (SK_PASS) */
	__u64 redirected; /* bytes redirected to the peer */
	__u64 redirect_fail;
	/* Retransmit overlap (bugs B9): TCP sequence number after the last
	 * byte the verdict saw, valid when seq_known; trimmed counts skbs
	 * whose head repeated bytes seen already (cut off by the verdict).
	 * These replace a former pad field: same size and layout. */
	__u32 seq_next;
	__u16 seq_known;
	__u16 trimmed;
};
_Static_assert(sizeof(struct sng_cnt) == 32, "sng_cnt size");

/* ---- reasons: negative, stable, append-only. Never reuse a value. ------ */
enum sng_reason {
	SNG_OK = 0,
	SNG_R_HELLO_TRUNCATED = -1,  /* need more bytes */
	SNG_R_NOT_TLS = -2,          /* first byte is not a handshake record */
	SNG_R_BAD_VERSION = -3,      /* record/hello version not TLS 1.0..1.3 */
	SNG_R_NOT_HELLO = -4,        /* handshake type is not ClientHello */
	SNG_R_MALFORMED = -5,        /* a length field is inconsistent */
	SNG_R_TOO_BIG = -6,          /* ClientHello over SNG_HELLO_MAX */
	SNG_R_NO_SNI = -7,           /* no server_name extension */
	SNG_R_BAD_SNI = -8,          /* empty, over-long, IP literal, bad chars */
	SNG_R_HELLO_TIMEOUT = -9,    /* ClientHello deadline passed */
	SNG_R_NO_LISTENER = -10,     /* SNI matches no listener hostname */
	SNG_R_NO_ROUTE = -11,        /* listener matched, no route hostname */
	SNG_R_NO_BACKEND = -12,      /* all weights 0 */
	SNG_R_INVALID_BACKEND = -13, /* picked an invalid backend share */
	SNG_R_NO_ENDPOINT = -14,     /* backend has no ready endpoint */
	SNG_R_CONNECT_FAIL = -15,    /* every connect attempt failed */
	SNG_R_CLIENT_CLOSED = -16,   /* client left before routing */
	SNG_R_IDLE_TIMEOUT = -17,
	SNG_R_HANDSHAKE_FAIL = -18,  /* terminate: TLS handshake failed */
	SNG_R_RESET = -19,           /* a side reset the connection */
	SNG_R_REDIRECT_FAIL = -20,   /* BPF redirect to peer failed */
	SNG_R_OVERLOAD = -21,        /* connection table full */
	SNG_R_SEVERAL_SNI = -22,     /* more than one host_name entry */
	SNG_R__COUNT = 23,           /* keep last: number of codes incl. 0 */
};

/* ---- engines ------------------------------------------------------------ */
enum sng_engine {
	SNG_ENGINE_AUTO = 0,
	SNG_ENGINE_SOCKMAP = 1,
	SNG_ENGINE_USERSPACE = 2,
};

/* ---- per-CPU counters (per-CPU hashes) ----------------------------------
 * sng_lstats: key = listener_id; sng_rstats: key = route_id. */
struct sng_stats {
	__u64 conns;        /* connections routed */
	__u64 bytes_up;     /* client -> backend */
	__u64 bytes_down;   /* backend -> client */
	__u64 reasons[SNG_R__COUNT]; /* outcomes by -reason (0 = routed) */
	__u64 pad;
};
_Static_assert(sizeof(struct sng_stats) == 8 * (4 + SNG_R__COUNT), "sng_stats size");

/* ---- data-path events (ring buffer sng_events), BPF -> agent ------------
 * The verdict emits one event when a spliced socket leaves the redirecting
 * state (its first SK_PASS while passed == consumed), so the agent can
 * serve the passed bytes without watching EPOLLIN on every spliced socket. */
enum sng_event_type {
	SNG_EV_PAUSE = 1,     /* flow control: lag to the peer over the budget */
	SNG_EV_REDIRECT_FAIL, /* bpf_sk_redirect_hash failed: bytes passed */
	SNG_EV_DISABLED,      /* ctl enable bit clear (agent paused it) */
	SNG_EV_TRIM_FAIL,     /* a retransmit overlap could not be cut off:
			       * the verdict dropped the skb, reset the conn */
	SNG_EV_MEM_PRESSURE,  /* flow control: TCP near its memory limits
			       * (past tcp_mem[0] with bytes queued to the
			       * peer, or past tcp_mem[1]): the agent forwards */
	SNG_EV_PEER_FULL,     /* flow control: the peer's TCP write queue cannot
			       * take the skb now (bugs B13): the agent forwards */
};

struct sng_event {
	__u64 cookie;  /* the socket whose verdict passed bytes */
	__u32 type;    /* enum sng_event_type */
	__u32 len;     /* bytes of the skb that was passed */
	__u64 lag;     /* bytes redirected + consumed - peer bytes_acked */
};
_Static_assert(sizeof(struct sng_event) == 24, "sng_event size");

/* ---- flow-control budget (array of 1), written by the agent ------------ */
struct sng_fc {
	__u64 budget;  /* max lag in bytes per direction; 0 = no flow control */
};
_Static_assert(sizeof(struct sng_fc) == 8, "sng_fc size");

/* ---- agent-side counter updates (BPF_PROG_TYPE_SYSCALL sng_count) ------
 * The agent adds its own counts (connections, rejections, bytes it copied)
 * to the per-CPU stats through a BPF_PROG_RUN of sng_count, so they are
 * added on one CPU's slot by the kernel like the verdict's increments; a
 * userspace read-modify-write of the per-CPU value would race with them. */
struct sng_count_args {
	__u32 listener_id; /* SNG_NO_ROUTE: none */
	__u32 route_id;    /* SNG_NO_ROUTE: none */
	__s32 reason;      /* counted in reasons[-reason] when add_reason */
	__u32 add_reason;  /* 0 or 1 */
	__u64 conns;
	__u64 bytes_up;
	__u64 bytes_down;
};
_Static_assert(sizeof(struct sng_count_args) == 40, "sng_count_args size");

#endif /* SNIGATE_ABI_H */
