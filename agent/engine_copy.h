/* SPDX-License-Identifier: GPL-2.0-only */
/* The userspace engine: bounded buffers, backpressure, half-close and reset
 * handling. Declarations live in conn.h (copy_start, copy_pump, ...). */
#ifndef SNIGATE_ENGINE_COPY_H
#define SNIGATE_ENGINE_COPY_H

#include "conn.h"

/* Bytes buffered per direction by the copy engine. Large buffers make fewer
 * syscalls (sockmap-facts 4.5: a read/write copy beat splice(2) here). */
#define COPY_BUF_SIZE (256 * 1024)
/* Buffer of a paused sockmap direction (userspace memory the agent holds
 * per paused direction; 2 MiB was tried and did not make catching up
 * measurably more likely). */
#define SPLICE_CATCHUP_BUF (256 * 1024)

#endif
