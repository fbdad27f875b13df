/* SPDX-License-Identifier: GPL-2.0-only */
/* The agent's root-only unix control socket: `snigate status` asks it for
 * the live status of the Gateways and TLSRoutes of the current snapshot. */
#ifndef SNIGATE_CONTROL_H
#define SNIGATE_CONTROL_H

#include <jansson.h>

#define CONTROL_DEFAULT_PATH "/run/snigate/control.sock"

/*
 * Protocol: one request line, one JSON reply, then the server closes.
 *   "status\n" -> {"serial": N, "status": <kind: List, as snigate check>,
 *                  "notes": [...], "table": {"binds": [{"id", "address",
 *                  "port", "passthrough", "terminate"}], "listeners": n,
 *                  "routes": n, "entries": n, "sets": n, "backends": n}}
 *   "ping\n"   -> {"pong": true}
 *   else       -> {"error": "unknown request ..."}
 * A peer whose SO_PEERCRED uid is not 0 gets {"error": "permission denied"}
 * (the socket is also mode 0600 in a 0700 directory).
 */

/* Create the socket at @path (parent directory made 0700 if missing; a
 * stale socket nobody answers on is replaced, a live one is -EADDRINUSE)
 * and serve it from a thread. Call after privileges are dropped. Returns 0
 * or -errno (logged). */
int control_start(const char *path);

/* Stop the thread and unlink the socket. Idempotent. */
void control_stop(void);

/* The reply to @request (without the newline) for the current snapshot:
 * a new reference the caller drops. Used by the server and unit tests. */
json_t *control_handle(const char *request);

/* Client side: send @request to the agent at @path and parse its reply.
 * Returns a new reference, or NULL with errno set (ENOENT/ECONNREFUSED:
 * no agent; EPROTO: a reply that is not JSON; ETIMEDOUT). */
json_t *control_request(const char *path, const char *request, int timeout_ms);

struct sockaddr_un;
/* Fill @sa for the unix socket @path (also the takeover socket's).
 * 0, or -ENAMETOOLONG when @path does not fit sun_path. */
int control_unix_addr(const char *path, struct sockaddr_un *sa);

#endif /* SNIGATE_CONTROL_H */
