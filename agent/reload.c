// SPDX-License-Identifier: GPL-2.0-only
/* Policy (re)load: compile, stable bind ids, TLS contexts, new listening
 * sockets, staged snapshot + atomic map swap, worker listener sync, status. */
#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "agent.h"
#include "listener.h"
#include "log.h"
#include "mapsync.h"
#include "reload.h"
#include "snapshot.h"
#include "statusfile.h"
#include "terminate.h"

static pthread_mutex_t reload_lock = PTHREAD_MUTEX_INITIALIZER;
static struct reload_options ropts;
static struct worker **r_workers;
static struct listener_set **r_sets;
static unsigned r_n;
static bool r_draining;
static unsigned long long r_serial;
/* Where the search for a fresh bind id starts: ids are handed out round
 * robin over 1..SNG_BIND_MASK, so a removed bind's id is not reused while a
 * connection accepted on its (now closed) socket may still be routed. */
static uint32_t r_bind_next = 1;
/* reload_seed_binds(): the "previous policy" of the first apply */
static struct policy_compiled r_seed;
/* reload_hold() */
static bool r_held;
static struct policy_input *r_deferred;

int reload_init(const struct reload_options *o)
{
	pthread_mutex_lock(&reload_lock);
	ropts = *o;
	pthread_mutex_unlock(&reload_lock);
	return 0;
}

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

int reload_read_paths(struct policy_input **out, char *why, size_t why_len)
{
	struct policy_input *in = policy_input_new();
	struct policy_error perr;
	size_t i;
	int err;

	*out = NULL;
	if (!in) {
		snprintf(why, why_len, "%s", strerror(ENOMEM));
		return -ENOMEM;
	}
	for (i = 0; i < ropts.n_paths; i++) {
		memset(&perr, 0, sizeof(perr));
		err = policy_input_add_path(in, ropts.paths[i], &perr);
		if (!err)
			continue;
		if (perr.line)
			snprintf(why, why_len, "%s:%d:%d: %s%s%s", perr.file, perr.line, perr.column,
				 perr.path, *perr.path ? ": " : "", perr.msg);
		else
			snprintf(why, why_len, "%s: %s%s%s", *perr.file ? perr.file : ropts.paths[i],
				 perr.path, *perr.path ? ": " : "", perr.msg);
		policy_input_free(in);
		return err;
	}
	*out = in;
	return 0;
}

/* ---- stable bind ids --------------------------------------------------------- */

static const struct policy_bind *bind_find(const struct policy_compiled *pc, const char *addr,
					   uint16_t port)
{
	size_t i;

	for (i = 0; pc && i < pc->n_binds; i++)
		if (pc->binds[i].port == port && !strcmp(pc->binds[i].address, addr))
			return &pc->binds[i];
	return NULL;
}

/* Renumber @pc's binds: an address:port of @old keeps its id, others get
 * ids neither @old uses nor (round robin) recently handed out. Rewrites
 * every place a bind id lives: binds, listeners, route keys. */
static int remap_binds(struct policy_compiled *pc, const struct policy_compiled *old)
{
	uint16_t *map = calloc(SNG_BIND_MASK + 1, sizeof(*map));
	uint8_t *used = calloc(SNG_BIND_MASK + 1, 1);
	size_t i, tries;
	int err = 0;

	if (!map || !used) {
		err = -ENOMEM;
		goto out;
	}
	for (i = 0; old && i < old->n_binds; i++)
		used[old->binds[i].id & SNG_BIND_MASK] = 1;
	for (i = 0; i < pc->n_binds; i++) {
		const struct policy_bind *o = bind_find(old, pc->binds[i].address, pc->binds[i].port);

		if (o)
			map[pc->binds[i].id & SNG_BIND_MASK] = o->id;
	}
	for (i = 0; i < pc->n_binds; i++) {
		uint16_t cid = pc->binds[i].id & SNG_BIND_MASK;

		if (map[cid])
			continue;
		for (tries = 0; tries < SNG_BIND_MASK; tries++) {
			uint32_t id = r_bind_next;

			r_bind_next = r_bind_next >= SNG_BIND_MASK ? 1 : r_bind_next + 1;
			if (!used[id]) {
				used[id] = 1;
				map[cid] = (uint16_t)id;
				break;
			}
		}
		if (!map[cid]) {
			err = -E2BIG;
			goto out;
		}
	}
	for (i = 0; i < pc->n_binds; i++)
		pc->binds[i].id = map[pc->binds[i].id & SNG_BIND_MASK];
	for (i = 0; i < pc->n_listeners; i++)
		pc->listeners[i].bind_id = map[pc->listeners[i].bind_id & SNG_BIND_MASK];
	for (i = 0; i < pc->n_entries; i++) {
		uint16_t b = ntohs(pc->keys[i].bind);

		if (b & SNG_GEN_BIT || !map[b]) {
			err = -EINVAL; /* the compiler's contract: ids of its binds */
			goto out;
		}
		pc->keys[i].bind = htons(map[b]);
	}
out:
	free(map);
	free(used);
	return err;
}

/* ---- worker jobs ---------------------------------------------------------------- */

/* One round of work posted to every worker; the last to finish (a worker
 * or the waiter giving up) frees it. */
struct reload_round {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	unsigned pending;              /* workers not done yet */
	unsigned refs;                 /* pending workers + the waiter */
	struct agent_snapshot *snap;   /* reference: prune against snap->pc */
	unsigned n_workers;
	size_t n_new;
	struct policy_bind *binds;     /* n_new */
	int *fds;                      /* [worker * n_new + k] */
	size_t closed, added;
	bool stop_all;
};

struct reload_job {
	struct reload_round *r;
	unsigned idx;
	struct listener_set *ls;
};

static void round_unref(struct reload_round *r)
{
	bool last;
	size_t i;

	pthread_mutex_lock(&r->lock);
	last = --r->refs == 0;
	pthread_mutex_unlock(&r->lock);
	if (!last)
		return;
	for (i = 0; r->fds && i < (size_t)r->n_workers * r->n_new; i++)
		if (r->fds[i] >= 0)
			close(r->fds[i]);
	agent_snapshot_release(r->snap);
	free(r->fds);
	free(r->binds);
	pthread_mutex_destroy(&r->lock);
	pthread_cond_destroy(&r->cond);
	free(r);
}

static void job_run(struct worker *w, void *arg)
{
	struct reload_job *j = arg;
	struct reload_round *r = j->r;
	size_t k, closed, added = 0;
	int err;

	if (r->stop_all) {
		closed = listener_close_each(w, j->ls);
	} else {
		closed = listener_prune(w, j->ls, r->snap->pc);
		for (k = 0; k < r->n_new; k++) {
			int *fd = &r->fds[(size_t)j->idx * r->n_new + k];

			err = listener_add(w, j->ls, *fd, &r->binds[k]);
			*fd = -1; /* owned by the set now (or closed) */
			if (err)
				log_err("worker %u: cannot accept on %s port %u: %s", worker_id(w),
					r->binds[k].address, r->binds[k].port, strerror(-err));
			else
				added++;
		}
	}
	free(j);
	pthread_mutex_lock(&r->lock);
	r->closed += closed;
	r->added += added;
	r->pending--;
	pthread_cond_broadcast(&r->cond);
	pthread_mutex_unlock(&r->lock);
	round_unref(r);
}

/* Post @r to every worker and wait (5 s at most: a worker stuck that long
 * is logged, the round finishes without us). Called with reload_lock. */
static void round_run(struct reload_round *r)
{
	struct timespec dl;
	unsigned i;

	r->pending = r->n_workers;
	r->refs = r->n_workers + 1;
	for (i = 0; i < r->n_workers; i++) {
		struct reload_job *j = calloc(1, sizeof(*j));

		if (j) {
			j->r = r;
			j->idx = i;
			j->ls = r_sets[i];
		}
		if (!j || worker_post(r_workers[i], job_run, j)) {
			free(j);
			log_err("worker %u: cannot post the listener update", i);
			pthread_mutex_lock(&r->lock);
			r->pending--;
			pthread_mutex_unlock(&r->lock);
			round_unref(r);
		}
	}
	clock_gettime(CLOCK_REALTIME, &dl);
	dl.tv_sec += 5;
	pthread_mutex_lock(&r->lock);
	while (r->pending)
		if (pthread_cond_timedwait(&r->cond, &r->lock, &dl)) {
			log_err("listener update: %u worker(s) did not answer within 5 s",
				r->pending);
			break;
		}
	pthread_mutex_unlock(&r->lock);
}

static struct reload_round *round_new(void)
{
	struct reload_round *r = calloc(1, sizeof(*r));

	if (!r)
		return NULL;
	r->n_workers = r_n;
	pthread_mutex_init(&r->lock, NULL);
	pthread_cond_init(&r->cond, NULL);
	return r;
}

/* Listening sockets for the served binds of @pc that @old does not serve,
 * one per worker, into a new round. NULL + errno (EADDRINUSE, ...). */
static struct reload_round *open_new_binds(const struct policy_compiled *pc,
					   const struct policy_compiled *old)
{
	struct reload_round *r = round_new();
	size_t i, k;
	unsigned wi;
	int err = ENOMEM;

	if (!r)
		return NULL;
	r->binds = calloc(pc->n_binds ? pc->n_binds : 1, sizeof(*r->binds));
	if (!r->binds)
		goto fail;
	for (i = 0; i < pc->n_binds; i++) {
		const struct policy_bind *o = bind_find(old, pc->binds[i].address, pc->binds[i].port);

		if (listener_bind_served(&pc->binds[i]) && !(o && listener_bind_served(o)))
			r->binds[r->n_new++] = pc->binds[i];
	}
	r->fds = malloc(((size_t)r_n * r->n_new + 1) * sizeof(*r->fds));
	if (!r->fds)
		goto fail;
	for (i = 0; i < (size_t)r_n * r->n_new; i++)
		r->fds[i] = -1;
	for (k = 0; k < r->n_new; k++)
		for (wi = 0; wi < r_n; wi++) {
			int fd = listener_socket(&r->binds[k]);

			if (fd < 0) {
				err = -fd;
				goto fail;
			}
			r->fds[(size_t)wi * r->n_new + k] = fd;
		}
	return r;
fail:
	r->refs = 1;
	round_unref(r);
	errno = err;
	return NULL;
}

/* ---- the pipeline ---------------------------------------------------------------- */

static void reject(const char *origin, const char *why, const struct agent_snapshot *cur)
{
	if (cur)
		log_err("reload (%s) rejected: %s; the previous policy (serial %llu) keeps serving",
			origin, why, (unsigned long long)cur->serial);
	else
		log_err("policy load (%s) failed: %s", origin, why);
	statusfile_update_failed(cur && cur->pc ? cur->pc->status : NULL, why);
}

static bool has_terminate(const struct policy_compiled *pc)
{
	size_t i;

	for (i = 0; i < pc->n_listeners; i++)
		if (pc->listeners[i].mode == SNG_MODE_TERMINATE)
			return true;
	return false;
}

int reload_apply(struct policy_input *in, const char *origin, json_t **status)
{
	struct agent_snapshot *cur, *snap = NULL;
	struct policy_compiled *pc = NULL;
	struct term_policy *term = NULL;
	struct reload_round *round = NULL;
	const struct policy_compiled *old;
	double t0 = now_ms(), t_compile, t_maps, t_listen;
	size_t removed = 0, added = 0, i;
	uint64_t serial = 0;
	uint32_t gen;
	char why[768];
	int err;

	if (status)
		*status = NULL;
	pthread_mutex_lock(&reload_lock);
	cur = agent_snapshot_acquire();
	old = cur ? cur->pc : r_seed.n_binds ? &r_seed : NULL;
	if (r_held && !r_draining) {
		log_info("reload (%s) deferred: a takeover of this agent is in progress", origin);
		policy_input_free(r_deferred);
		r_deferred = in;
		err = -EAGAIN;
		goto out;
	}
	if (r_draining) {
		log_dbg("reload (%s) ignored: draining", origin);
		policy_input_free(in);
		err = -ESHUTDOWN;
		goto out;
	}
	pc = policy_compile(in, &ropts.po);
	policy_input_free(in);
	if (!pc) {
		err = -errno;
		snprintf(why, sizeof(why), "compile: %s", err == -E2BIG ?
			 "the table exceeds the map limits of include/snigate_abi.h" : strerror(-err));
		goto reject;
	}
	t_compile = now_ms();
	err = remap_binds(pc, old);
	if (err) {
		snprintf(why, sizeof(why), "bind ids: %s", strerror(-err));
		goto reject;
	}
	if (has_terminate(pc)) {
		term = term_policy_build(pc, cur ? cur->term : NULL);
		if (!term) {
			err = -errno;
			snprintf(why, sizeof(why), "building the Terminate TLS contexts: %s",
				 strerror(-err));
			goto reject;
		}
	}
	if (r_n) {
		round = open_new_binds(pc, old);
		if (!round) {
			err = -errno;
			snprintf(why, sizeof(why), "opening the new listeners: %s", strerror(-err));
			goto reject;
		}
		for (i = 0; old && i < old->n_binds; i++) {
			const struct policy_bind *n = bind_find(pc, old->binds[i].address,
								 old->binds[i].port);

			if (listener_bind_served(&old->binds[i]) && !(n && listener_bind_served(n)))
				removed++;
		}
	}
	err = mapsync_next_gen(&agent_maps, &gen);
	if (err) {
		snprintf(why, sizeof(why), "reading sng_config: %s", strerror(-err));
		goto reject;
	}
	snap = agent_snapshot_new(pc, term, 0);
	if (!snap) {
		err = -ENOMEM;
		snprintf(why, sizeof(why), "%s", strerror(ENOMEM));
		goto reject;
	}
	pc = NULL;
	term = NULL;
	/* Before the flip: a connection routed from the new generation must
	 * find the new listener ids and TLS contexts (agent_snapshot_stage). */
	agent_snapshot_stage(snap, gen);
	err = mapsync_apply(&agent_maps, snap->pc, &serial);
	if (err) {
		agent_snapshot_stage(NULL, gen);
		snprintf(why, sizeof(why), "writing the maps: %s", strerror(-err));
		goto reject;
	}
	t_maps = now_ms();
	snap->serial = serial;
	r_serial = serial;
	agent_snapshot_install(snap);
	if (status)
		*status = json_incref(snap->pc->status);
	if (round) {
		/* the round's own reference: a worker late past the wait
		 * still prunes against a live table */
		__atomic_add_fetch(&snap->refs, 1, __ATOMIC_ACQ_REL);
		round->snap = snap;
		added = round->n_new;
		round_run(round);
		round_unref(round);
		round = NULL;
	}
	t_listen = now_ms();
	statusfile_update(snap->pc->status);
	log_info("policy %s (%s): serial %llu, %zu binds, %zu listeners, %zu routes, "
		 "%zu table entries; listeners +%zu -%zu; %.1f ms (compile %.1f, tls+maps %.1f, "
		 "workers %.1f)",
		 cur ? "reloaded" : "loaded", origin, (unsigned long long)serial,
		 snap->pc->n_binds, snap->pc->n_listeners, snap->pc->n_routes,
		 snap->pc->n_entries, added, removed, now_ms() - t0, t_compile - t0,
		 t_maps - t_compile, t_listen - t_maps);
	err = 0;
	goto out;
reject:
	reject(origin, why, cur);
	if (snap)
		agent_snapshot_release(snap);
	if (term)
		term_policy_free(term);
	policy_compiled_free(pc);
	if (round) {
		round->refs = 1;
		round_unref(round);
	}
out:
	agent_snapshot_release(cur);
	pthread_mutex_unlock(&reload_lock);
	return err;
}

int reload_files(const char *origin)
{
	struct policy_input *in;
	struct agent_snapshot *cur;
	char why[1400];
	int err;

	err = reload_read_paths(&in, why, sizeof(why));
	if (!err)
		return reload_apply(in, origin, NULL);
	pthread_mutex_lock(&reload_lock);
	cur = agent_snapshot_acquire();
	reject(origin, why, cur);
	agent_snapshot_release(cur);
	pthread_mutex_unlock(&reload_lock);
	return err;
}

int reload_attach_workers(unsigned n, struct worker *const *workers,
			  struct listener_set *const *sets)
{
	struct worker **w = calloc(n ? n : 1, sizeof(*w));
	struct listener_set **s = calloc(n ? n : 1, sizeof(*s));

	if (!w || !s) {
		free(w);
		free(s);
		return -ENOMEM;
	}
	memcpy(w, workers, n * sizeof(*w));
	memcpy(s, sets, n * sizeof(*s));
	pthread_mutex_lock(&reload_lock);
	free(r_workers);
	free(r_sets);
	r_workers = w;
	r_sets = s;
	r_n = n;
	pthread_mutex_unlock(&reload_lock);
	return 0;
}

void reload_detach_workers(void)
{
	pthread_mutex_lock(&reload_lock);
	free(r_workers);
	free(r_sets);
	r_workers = NULL;
	r_sets = NULL;
	r_n = 0;
	pthread_mutex_unlock(&reload_lock);
}

size_t reload_stop_listening(void)
{
	struct reload_round *r;
	size_t closed = 0;

	pthread_mutex_lock(&reload_lock);
	r_draining = true;
	r = r_n ? round_new() : NULL;
	if (r) {
		r->stop_all = true;
		round_run(r);
		pthread_mutex_lock(&r->lock);
		closed = r->closed;
		pthread_mutex_unlock(&r->lock);
		round_unref(r);
	}
	pthread_mutex_unlock(&reload_lock);
	return closed;
}

int reload_seed_binds(const struct policy_bind *binds, size_t n)
{
	struct policy_bind *b = NULL;
	size_t i;

	if (n) {
		b = calloc(n, sizeof(*b));
		if (!b)
			return -ENOMEM;
		memcpy(b, binds, n * sizeof(*b));
	}
	pthread_mutex_lock(&reload_lock);
	free(r_seed.binds);
	r_seed.binds = b;
	r_seed.n_binds = n;
	/* fresh ids start past the seeded ones */
	for (i = 0; i < n; i++) {
		b[i].id &= SNG_BIND_MASK;
		if (b[i].id >= r_bind_next)
			r_bind_next = b[i].id >= SNG_BIND_MASK ? 1 : b[i].id + 1u;
	}
	pthread_mutex_unlock(&reload_lock);
	return 0;
}

void reload_hold(void)
{
	pthread_mutex_lock(&reload_lock);
	r_held = true;
	pthread_mutex_unlock(&reload_lock);
}

void reload_release(bool apply)
{
	struct policy_input *in;

	pthread_mutex_lock(&reload_lock);
	r_held = !apply;
	in = r_deferred;
	r_deferred = NULL;
	pthread_mutex_unlock(&reload_lock);
	if (!in)
		return;
	if (apply)
		reload_apply(in, "deferred during the takeover", NULL);
	else
		policy_input_free(in);
}

unsigned long long reload_serial(void)
{
	return __atomic_load_n(&r_serial, __ATOMIC_RELAXED);
}
