/* SPDX-License-Identifier: GPL-2.0-only */
/* The userspace engine: bounded buffers, backpressure, half-close and reset
 * handling. Declarations live in conn.h (copy_start, copy_pump, ...). */
#ifndef SNIGATE_ENGINE_COPY_H
#define SNIGATE_ENGINE_COPY_H

#include "conn.h"

/* Bytes buffered per direction by the copy engine. Large buffers make fewer
 * syscalls (sockmap-facts 4.5: a read/write copy beat splice(2) here). */
#define COPY_BUF_SIZE (256 * 1024)
/* Buffer of a paused sockmap direction: large enough to take the paused
 * socket's whole receive queue (capped at budget / 2) in one recv, so the
 * agent empties it faster than the sender refills it and the direction
 * goes back to the kernel path sooner. */
#define SPLICE_CATCHUP_BUF (2 * 1024 * 1024)

#endif
