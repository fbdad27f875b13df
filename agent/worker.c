// SPDX-License-Identifier: GPL-2.0-only
/* Per-thread event loop: epoll, a binary min-heap of millisecond timers and
 * an eventfd that carries stop requests and posted callbacks across threads. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>

#include "log.h"
#include "worker.h"

#define WORKER_MAX_EVENTS 256

struct worker_post {
	struct worker_post *next;
	void (*fn)(struct worker *, void *);
	void *arg;
};

struct worker {
	unsigned id;
	int epfd;
	struct ev_handler wake;       /* eventfd: stop and posted work */
	int stop;                     /* set on the loop thread only */
	int stop_req;                 /* atomic: written by worker_stop() */
	int running;                  /* atomic: inside worker_run() on @tid */
	pthread_t tid;                /* the loop's thread while running */
	pthread_mutex_t post_lock;
	struct worker_post *posts;    /* LIFO under post_lock, run reversed */
	struct ev_timer **heap;
	size_t n_heap, cap_heap;
};

uint64_t worker_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void wake_drain(struct worker *w, struct ev_handler *h, uint32_t events)
{
	uint64_t v;

	if (read(h->fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		log_warn("worker %u: eventfd read: %s", w->id, strerror(errno));
	if (__atomic_load_n(&w->stop_req, __ATOMIC_ACQUIRE))
		w->stop = 1;
}

/* Posted callbacks run after the whole epoll batch has been dispatched, so a
 * post from a handler (e.g. a deferred free) can never free an object whose
 * event is still pending in the same batch. */
static void run_posts(struct worker *w)
{
	struct worker_post *list, *rev = NULL, *p;

	if (!__atomic_load_n(&w->posts, __ATOMIC_ACQUIRE))
		return;
	pthread_mutex_lock(&w->post_lock);
	list = w->posts;
	w->posts = NULL;
	pthread_mutex_unlock(&w->post_lock);
	/* reverse to run posts in the order they were queued */
	while (list) {
		p = list->next;
		list->next = rev;
		rev = list;
		list = p;
	}
	while (rev) {
		p = rev->next;
		rev->fn(w, rev->arg);
		free(rev);
		rev = p;
	}
}

struct worker *worker_new(unsigned id)
{
	struct worker *w;
	int err;

	w = calloc(1, sizeof(*w));
	if (!w)
		return NULL;
	w->id = id;
	w->wake.fd = -1;
	w->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (w->epfd < 0)
		goto fail;
	w->wake.fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (w->wake.fd < 0)
		goto fail;
	w->wake.fn = wake_drain;
	pthread_mutex_init(&w->post_lock, NULL);
	if (worker_watch(w, &w->wake, EPOLLIN) < 0)
		goto fail_mutex;
	return w;

fail_mutex:
	pthread_mutex_destroy(&w->post_lock);
fail:
	err = errno;
	if (w->wake.fd >= 0)
		close(w->wake.fd);
	if (w->epfd >= 0)
		close(w->epfd);
	free(w);
	errno = err;
	return NULL;
}

void worker_free(struct worker *w)
{
	if (!w)
		return;
	/* Callbacks posted after the loop ended (deferred frees of the
	 * connections closed on stop) still run, on the caller's thread. */
	run_posts(w);
	pthread_mutex_destroy(&w->post_lock);
	close(w->wake.fd);
	close(w->epfd);
	free(w->heap);
	free(w);
}

unsigned worker_id(const struct worker *w)
{
	return w->id;
}

int worker_watch(struct worker *w, struct ev_handler *h, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.ptr = h };

	return epoll_ctl(w->epfd, EPOLL_CTL_ADD, h->fd, &ev) ? -errno : 0;
}

int worker_modify(struct worker *w, struct ev_handler *h, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.ptr = h };

	return epoll_ctl(w->epfd, EPOLL_CTL_MOD, h->fd, &ev) ? -errno : 0;
}

int worker_unwatch(struct worker *w, struct ev_handler *h)
{
	return epoll_ctl(w->epfd, EPOLL_CTL_DEL, h->fd, NULL) ? -errno : 0;
}

/* ---- timer heap: heap[0] has the earliest deadline ------------------------ */

static void heap_swap(struct worker *w, size_t a, size_t b)
{
	struct ev_timer *t = w->heap[a];

	w->heap[a] = w->heap[b];
	w->heap[b] = t;
	w->heap[a]->heap_idx = a;
	w->heap[b]->heap_idx = b;
}

static void heap_up(struct worker *w, size_t i)
{
	while (i > 0) {
		size_t p = (i - 1) / 2;

		if (w->heap[p]->deadline_ms <= w->heap[i]->deadline_ms)
			break;
		heap_swap(w, i, p);
		i = p;
	}
}

static void heap_down(struct worker *w, size_t i)
{
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;

		if (l < w->n_heap && w->heap[l]->deadline_ms < w->heap[m]->deadline_ms)
			m = l;
		if (r < w->n_heap && w->heap[r]->deadline_ms < w->heap[m]->deadline_ms)
			m = r;
		if (m == i)
			break;
		heap_swap(w, i, m);
		i = m;
	}
}

static void heap_remove(struct worker *w, size_t i)
{
	size_t last = --w->n_heap;

	w->heap[i]->deadline_ms = 0;
	if (i != last) {
		w->heap[i] = w->heap[last];
		w->heap[i]->heap_idx = i;
		heap_down(w, i);
		heap_up(w, i);
	}
}

void worker_timer_cancel(struct worker *w, struct ev_timer *t)
{
	if (!t->deadline_ms)
		return;
	if (t->heap_idx < w->n_heap && w->heap[t->heap_idx] == t)
		heap_remove(w, t->heap_idx);
	t->deadline_ms = 0;
}

void worker_timer_set(struct worker *w, struct ev_timer *t, uint64_t ms)
{
	worker_timer_cancel(w, t);
	if (w->n_heap == w->cap_heap) {
		size_t cap = w->cap_heap ? 2 * w->cap_heap : 64;
		struct ev_timer **nh = realloc(w->heap, cap * sizeof(*nh));

		if (!nh) {
			/* cannot happen in practice; a lost timer would leak a
			 * connection, so fail loudly */
			log_err("worker %u: timer heap: out of memory", w->id);
			abort();
		}
		w->heap = nh;
		w->cap_heap = cap;
	}
	/* deadline 0 means "not armed": never store it */
	t->deadline_ms = worker_now_ms() + ms;
	if (!t->deadline_ms)
		t->deadline_ms = 1;
	t->heap_idx = w->n_heap;
	w->heap[w->n_heap++] = t;
	heap_up(w, t->heap_idx);
}

static int next_timeout(struct worker *w)
{
	uint64_t now;

	if (!w->n_heap)
		return -1;
	now = worker_now_ms();
	if (w->heap[0]->deadline_ms <= now)
		return 0;
	if (w->heap[0]->deadline_ms - now > 60000)
		return 60000;
	return (int)(w->heap[0]->deadline_ms - now);
}

static void run_timers(struct worker *w)
{
	uint64_t now = worker_now_ms();

	while (w->n_heap && w->heap[0]->deadline_ms <= now) {
		struct ev_timer *t = w->heap[0];

		heap_remove(w, 0);
		t->fn(w, t);
	}
}

int worker_run(struct worker *w)
{
	struct epoll_event evs[WORKER_MAX_EVENTS];
	int n, i, err = 0;

	w->tid = pthread_self();
	__atomic_store_n(&w->running, 1, __ATOMIC_RELEASE);
	while (!w->stop) {
		/* a callback posted from this thread did not write the eventfd
		 * (worker_post): do not sleep on it */
		n = epoll_wait(w->epfd, evs, WORKER_MAX_EVENTS,
			       __atomic_load_n(&w->posts, __ATOMIC_ACQUIRE) ? 0 : next_timeout(w));
		if (n < 0) {
			if (errno == EINTR)
				continue;
			err = -errno;
			log_err("worker %u: epoll_wait: %s", w->id, strerror(errno));
			break;
		}
		for (i = 0; i < n; i++) {
			struct ev_handler *h = evs[i].data.ptr;

			h->fn(w, h, evs[i].events);
		}
		run_posts(w);
		run_timers(w);
		run_posts(w);
	}
	__atomic_store_n(&w->running, 0, __ATOMIC_RELEASE);
	return err;
}

static void wake(struct worker *w)
{
	uint64_t one = 1;

	if (write(w->wake.fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		log_warn("worker %u: eventfd write: %s", w->id, strerror(errno));
}

void worker_stop(struct worker *w)
{
	__atomic_store_n(&w->stop_req, 1, __ATOMIC_RELEASE);
	wake(w);
}

int worker_post(struct worker *w, void (*fn)(struct worker *, void *), void *arg)
{
	struct worker_post *p = malloc(sizeof(*p));

	if (!p)
		return -ENOMEM;
	p->fn = fn;
	p->arg = arg;
	pthread_mutex_lock(&w->post_lock);
	p->next = w->posts;
	w->posts = p;
	pthread_mutex_unlock(&w->post_lock);
	/* From the loop's own thread (deferred frees, pump continuations: the
	 * common case) the loop runs the posts after this batch and polls
	 * without sleeping while any are queued: no eventfd write and read. */
	if (!(__atomic_load_n(&w->running, __ATOMIC_ACQUIRE) &&
	      pthread_equal(w->tid, pthread_self())))
		wake(w);
	return 0;
}
