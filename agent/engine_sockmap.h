/* SPDX-License-Identifier: GPL-2.0-only */
/* The sockmap engine ("peek, insert, kick"; sockmap-facts 6). Declarations
 * live in conn.h (sockmap_start, sockmap_on_event, ...). */
#ifndef SNIGATE_ENGINE_SOCKMAP_H
#define SNIGATE_ENGINE_SOCKMAP_H

#include "conn.h"

/* Longest wait between two drain/ordering checks of one connection. */
#define SOCKMAP_POLL_MAX_MS 64

#endif
