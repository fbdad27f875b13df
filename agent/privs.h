/* SPDX-License-Identifier: GPL-2.0-only */
/* Least privilege: after the BPF objects are loaded, pinned and the maps
 * written, the agent drops every capability it no longer needs. */
#ifndef SNIGATE_PRIVS_H
#define SNIGATE_PRIVS_H

#include <stdint.h>

/* The capabilities a running agent keeps (measured, see docs/reliability.md):
 *  CAP_NET_BIND_SERVICE  workers bind listeners on ports < 1024 after the drop
 *                        (and again when a reload adds a port).
 * Not kept, because nothing after setup needs them on kernels >= 6.5 (the
 * bpf() command checks moved into map/prog creation): map lookups/updates,
 * sockhash inserts, BPF_PROG_RUN of the counting program and the ring
 * buffer all act on fds opened during setup. CAP_BPF, CAP_NET_ADMIN,
 * CAP_PERFMON, CAP_SYS_ADMIN, CAP_SYS_RESOURCE and all others go. The
 * agent stays uid 0 without CAP_DAC_OVERRIDE: files it opens later (the
 * access log on SIGHUP, the control socket) need root-owned, owner-writable
 * paths, which is what they use. */
#define PRIVS_KEEP_DEFAULT "cap_net_bind_service"

/* Parse a comma-separated list of capability names ("cap_bpf,net_admin",
 * case-insensitive, "cap_" optional; "" or "none" = empty) into a bit mask
 * of capability numbers. Returns 0 or -EINVAL (unknown name). */
int privs_parse(const char *list, uint64_t *mask);

/* Drop every capability not in the keep set from the effective, permitted,
 * inheritable, ambient and bounding sets, set no_new_privs, and keep the
 * process dumpable off (no core with key material). The keep set is
 * PRIVS_KEEP_DEFAULT, or $SNIGATE_CAPS_KEEP when set (an ops/test override:
 * a list for privs_parse, or "all" to skip the drop). Capabilities are per
 * thread: call it from the only thread, before workers start; -EBUSY if
 * the process already has more threads. Logs the kept set. Returns 0 or
 * -errno. */
int privs_drop(void);

/* The effective capability mask of the calling thread (for tests/logs). */
uint64_t privs_effective(void);

#endif /* SNIGATE_PRIVS_H */
