/* SPDX-License-Identifier: GPL-2.0-only */
/* Zero-downtime restart: a new `snigate run --takeover` receives the pin
 * directory lock, the verdict link, the listening sockets and every open
 * passthrough connection of the running agent over a unix socket. */
#ifndef SNIGATE_TAKEOVER_H
#define SNIGATE_TAKEOVER_H

#include <stdbool.h>
#include <stddef.h>

#include "policy.h"
#include "worker.h"

struct listener_set;

/* Directory of the default hand-over sockets (next to the control socket). */
#define TAKEOVER_DIR "/run/snigate"

/*
 * Protocol (SOCK_SEQPACKET, one message per record, fds by SCM_RIGHTS; both
 * ends must be the same build: version and record size are checked):
 *   new -> old  HELLO    pid, ABI version, record size, pin directory
 *   old -> new  STATE    pid, workers, binds + fds: pin-dir lock [, verdict link]
 *               BIND     one per bind of its policy: address, port, id (the
 *                        new agent's first policy keeps these ids); from
 *                        here the old agent holds its reloads, /readyz 503
 *               (the new agent loads its BPF object on the same pins and
 *               writes its first policy: -f, or the Kubernetes source's
 *               first snapshot)
 *   new -> old  GO       the old agent stops accepting and freezes its
 *                        connections (no more reads or writes by it)
 *   old -> new  LISTENER bind address/port + the listening socket (one each)
 *               CONN     a connection's state + its 1 or 2 sockets, then
 *               DATA     bytes the old agent had read and not yet written
 *               END      counts
 *   new -> old  READY    every record received, listeners adopted
 *   old -> new  COMMIT   the old agent dropped its fds (not the kernel
 *                        state); the new one starts the connections
 * Before COMMIT nothing was touched by the new agent: on any error or
 * timeout the old agent thaws its connections and listeners and serves on.
 * After COMMIT the old agent stops as on SIGTERM: its drain lets its
 * Terminate connections end (those are not handed over: their TLS state
 * lives in OpenSSL), up to its --drain-timeout.
 */

/* The default hand-over socket of the agent on @pin_dir: TAKEOVER_DIR
 * "/takeover" + the pin directory with '/' as '_' + ".sock" (so agents on
 * different pin directories never collide). 0, or -ENAMETOOLONG when it
 * does not fit a unix socket address (then give --takeover-socket). */
int takeover_default_path(const char *pin_dir, char *buf, size_t len);

/* New agent, before loader_open(): connect to the agent listening on
 * @path, check that it serves @pin_dir, and receive its pin-directory lock
 * and verdict link (handed to loader_inherit(), so the next loader_open()
 * shares them). 0 or -errno (logged; the old agent is untouched). */
int takeover_begin(const char *path, const char *pin_dir);

/* New agent, after the maps are written and before the ops endpoints and
 * the workers: make the old agent stop accepting and receive its listening
 * sockets and connections (kept until takeover_install()). The old agent
 * stops its control socket and metrics endpoint here, so the new one can
 * bind them. 0 or -errno (logged; the old agent resumes). */
int takeover_receive(void);

/* The listening sockets of worker @w (called on its thread, as
 * listener_open_all): without a takeover in progress it is
 * listener_open_all(); else each served bind of @pc gets the received
 * sockets of the same address:port (spread over the workers, shared when
 * there are fewer than workers), a new socket only where none came. Also
 * registers @w for posting connections and hand-over jobs. NULL + errno. */
struct listener_set *takeover_listeners_open(struct worker *w, const struct policy_compiled *pc);

/* New agent, once every worker listens: tell the old agent all was
 * received, wait for its COMMIT and start every connection on the worker
 * numbered old worker index % workers. 0 or -errno (logged). */
int takeover_install(void);

/* Serve hand-overs on @path (root only: mode 0600, SO_PEERCRED uid 0; a
 * stale socket is replaced, a live one is -EADDRINUSE) from a thread; NULL:
 * none. After a successful hand-over the agent stops as on SIGTERM (its
 * drain lets the Terminate connections end). In a new agent the thread
 * first follows the old one until it exits, re-checking the spliced
 * connections every 100 ms for verdict events the old one consumed. Call
 * after takeover_install(), with the workers running. 0 or -errno (logged). */
int takeover_serve_start(const char *path);

/* Old agent: true once this agent was handed over (committed). */
bool takeover_handed_over(void);

/* Old agent, handed over and lingering (--linger): close our end of the
 * hand-over socket, which the new agent takes as "it exited": call once
 * this agent no longer consumes the verdict's event ring. Idempotent. */
void takeover_release_peer(void);

/* --takeover=auto: does an agent accept connections on @path? (A probe
 * connection, closed at once; the agent ignores it.) */
bool takeover_peer_present(const char *path);

/* Stop the thread, abort an unfinished takeover (the old agent resumes)
 * and unlink the socket. Call before stopping the workers. Idempotent. */
void takeover_stop(void);

#endif
