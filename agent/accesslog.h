/* SPDX-License-Identifier: GPL-2.0-only */
/* Access log: one JSON line per finished connection, formatted on the worker
 * and handed to a writer thread through a bounded double buffer. */
#ifndef SNIGATE_ACCESSLOG_H
#define SNIGATE_ACCESSLOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "snigate_abi.h"

struct policy_compiled;

/* What a connection was, filled by the data path when it ends. Pointers
 * are borrowed for the duration of the call only. */
struct accesslog_rec {
	const struct policy_compiled *pc;   /* names of ids; NULL: ids only */
	const struct sockaddr_storage *client; /* NULL: unknown */
	uint16_t bind_id;                   /* listening socket group; 0: the listener's */
	uint32_t listener_id;               /* SNG_NO_ROUTE: none matched */
	uint32_t route_id;                  /* SNG_NO_ROUTE: none */
	uint32_t backend_id;                /* SNG_NO_ROUTE: none picked */
	const char *sni;                    /* as sent; NULL or "" = none */
	size_t sni_len;                     /* bytes of @sni (may hold NULs) */
	const uint8_t *alpn;                /* offered, wire format; NULL = none */
	size_t alpn_len;
	const struct sng_endpoint *endpoint;/* connected endpoint; NULL = none */
	int engine;                         /* enum sng_engine; AUTO = none yet */
	uint8_t mode;                       /* enum sng_mode; 0 = unknown */
	uint64_t bytes_up;                  /* client -> backend */
	uint64_t bytes_down;                /* backend -> client */
	uint64_t duration_ms;
	int reason;                         /* SNG_OK or a negative enum sng_reason */
};

/*
 * Line format (keys always present, in this order; absent values null;
 * "time" is when the connection ended, UTC, milliseconds):
 * {"time":"2026-12-01T09:00:00.123Z","client":"192.0.2.1:51234",
 *  "bind":1,"gateway":"ns/gw","listener":"tls","sni":"a.example.com",
 *  "alpn":["h2","http/1.1"],"route":"ns/route","backend":"ns/svc:443",
 *  "endpoint":"10.0.0.5:8443","engine":"sockmap","mode":"Passthrough",
 *  "bytesUp":517,"bytesDown":4096,"durationMs":12,"outcome":"routed"}
 * "outcome" is reason_name() of the record's reason ("routed" = SNG_OK).
 * Strings are JSON-escaped byte for byte (non-UTF-8 and control bytes of an
 * SNI as \u00XX), so a line is always valid JSON.
 */

/* Format @r as one JSON line (with '\n') into @buf of @cap bytes. Returns
 * the length, or -ENOSPC when it does not fit (nothing usable written).
 * Pure: no state, thread-safe (the unit tests call it directly). */
int accesslog_format(const struct accesslog_rec *r, char *buf, size_t cap);

/* Open the log: @path NULL or "-" is stdout, else the file (O_APPEND,
 * created 0640). Call before privileges are dropped. Starts the writer
 * thread. Returns 0 or -errno (logged with the path). */
int accesslog_open(const char *path);

/* Queue one line for @r. Never blocks on I/O: the worker only formats the
 * line and copies it into the current buffer under a short lock; when the
 * writer falls more than ACCESSLOG_BUF_BYTES behind, the line is dropped
 * and counted. No-op (returns quickly) when the log is not open. */
void accesslog_write(const struct accesslog_rec *r);

/* Ask the writer to reopen the file (log rotation after SIGHUP; call from
 * a thread, e.g. the signalfd loop, not from a signal handler). The reopen
 * happens on the writer thread; stdout is never reopened. */
void accesslog_reopen(void);

/* Flush what is queued and close; joins the writer thread. Idempotent. */
void accesslog_close(void);

/* True when the log is open. */
bool accesslog_enabled(void);

/* Lines queued and lines dropped (writer more than a buffer behind). */
uint64_t accesslog_lines(void);
uint64_t accesslog_dropped(void);

/* Bytes each of the two buffers holds. */
#define ACCESSLOG_BUF_BYTES (1u << 20)

#endif /* SNIGATE_ACCESSLOG_H */
