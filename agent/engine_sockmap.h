/* SPDX-License-Identifier: GPL-2.0-only */
/* The sockmap engine ("peek, insert, kick"; sockmap-facts 6). Declarations
 * live in conn.h (sockmap_start, sockmap_on_event, ...). */
#ifndef SNIGATE_ENGINE_SOCKMAP_H
#define SNIGATE_ENGINE_SOCKMAP_H

#include "conn.h"

/* Longest wait between two drain/ordering checks of one connection. */
#define SOCKMAP_POLL_MAX_MS 64
/* TCP_WINDOW_CLAMP of a throttled (squeezed) socket. Measured on loopback
 * (64 KiB GSO segments): 16 KiB, below one segment, stalls the sender and
 * bulk fell to ~0.4 Gbit/s; 64 KiB keeps it at 3.5-6.5 Gbit/s. */
#define SOCKMAP_SQUEEZE (64 * 1024)

#endif
