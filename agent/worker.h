/* SPDX-License-Identifier: GPL-2.0-only */
/* Per-thread event loop: one epoll set, fd handlers and millisecond timers.
 * Each worker owns its connections; nothing here is shared across threads. */
#ifndef SNIGATE_WORKER_H
#define SNIGATE_WORKER_H

#include <stdint.h>
#include <stdbool.h>

struct worker;

/* An fd's callback. Embed it in the owning object and use container_of(). */
struct ev_handler {
	void (*fn)(struct worker *w, struct ev_handler *h, uint32_t events);
	int fd;
};

/* A one-shot timer. Embed it; call worker_timer_cancel() before freeing. */
struct ev_timer {
	void (*fn)(struct worker *w, struct ev_timer *t);
	uint64_t deadline_ms; /* monotonic; 0 when not armed */
	size_t heap_idx;      /* private */
};

#ifndef container_of
#define container_of(ptr, type, member) \
	((type *)((char *)(ptr) - __builtin_offsetof(type, member)))
#endif

/* Monotonic clock in milliseconds. */
uint64_t worker_now_ms(void);

/* Create a worker with index @id (0-based). NULL + errno on failure. */
struct worker *worker_new(unsigned id);
/* Free; accepts NULL. Does not close watched fds. */
void worker_free(struct worker *w);
unsigned worker_id(const struct worker *w);

/* Watch h->fd for @events (EPOLL* flags). 0 or -errno. */
int worker_watch(struct worker *w, struct ev_handler *h, uint32_t events);
/* Change the event mask. 0 or -errno. */
int worker_modify(struct worker *w, struct ev_handler *h, uint32_t events);
/* Stop watching (before close). 0 or -errno. */
int worker_unwatch(struct worker *w, struct ev_handler *h);

/* Arm @t to fire @ms from now (re-arming moves it). */
void worker_timer_set(struct worker *w, struct ev_timer *t, uint64_t ms);
/* Disarm; no-op when not armed. */
void worker_timer_cancel(struct worker *w, struct ev_timer *t);

/* Run until worker_stop(); returns 0 or -errno. */
int worker_run(struct worker *w);
/* Ask the loop to return (thread-safe: writes an eventfd). */
void worker_stop(struct worker *w);
/* Queue @fn(@arg) to run on @w's thread (thread-safe). 0 or -errno. */
int worker_post(struct worker *w, void (*fn)(struct worker *, void *), void *arg);

#endif
