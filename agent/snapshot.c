// SPDX-License-Identifier: GPL-2.0-only
/* The current policy snapshot: reference counted, swapped on reload; the
 * last reference frees the compiled table and the terminate contexts. */
#include <pthread.h>
#include <stdlib.h>

#include "agent.h"
#include "snapshot.h"
#include "terminate.h"

struct agent_options agent_opts;
struct sng_maps agent_maps = { -1, -1, -1, -1, -1, -1, -1, -1, -1, NULL };

static pthread_mutex_t snap_lock = PTHREAD_MUTEX_INITIALIZER;
static struct agent_snapshot *snap_current;
/* by map generation: the compile each generation was written from */
static struct agent_snapshot *snap_gen[2];

struct agent_snapshot *agent_snapshot_acquire(void)
{
	struct agent_snapshot *s;

	pthread_mutex_lock(&snap_lock);
	s = snap_current;
	if (s)
		__atomic_add_fetch(&s->refs, 1, __ATOMIC_ACQ_REL);
	pthread_mutex_unlock(&snap_lock);
	return s;
}

void agent_snapshot_release(struct agent_snapshot *s)
{
	if (!s || __atomic_sub_fetch(&s->refs, 1, __ATOMIC_ACQ_REL))
		return;
	if (s->term)
		term_policy_free(s->term);
	policy_compiled_free(s->pc);
	free(s);
}

struct agent_snapshot *agent_snapshot_new(struct policy_compiled *pc, struct term_policy *term,
					  uint64_t serial)
{
	struct agent_snapshot *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->refs = 1;
	s->pc = pc;
	s->term = term;
	s->serial = serial;
	return s;
}

void agent_snapshot_install(struct agent_snapshot *s)
{
	struct agent_snapshot *old, *g0 = NULL, *g1 = NULL;

	pthread_mutex_lock(&snap_lock);
	old = snap_current;
	snap_current = s;
	if (!s) {
		g0 = snap_gen[0];
		g1 = snap_gen[1];
		snap_gen[0] = snap_gen[1] = NULL;
	}
	pthread_mutex_unlock(&snap_lock);
	agent_snapshot_release(old);
	agent_snapshot_release(g0);
	agent_snapshot_release(g1);
}

void agent_snapshot_stage(struct agent_snapshot *s, uint32_t gen)
{
	struct agent_snapshot *old;

	if (s)
		__atomic_add_fetch(&s->refs, 1, __ATOMIC_ACQ_REL);
	pthread_mutex_lock(&snap_lock);
	old = snap_gen[gen & 1];
	snap_gen[gen & 1] = s;
	pthread_mutex_unlock(&snap_lock);
	agent_snapshot_release(old);
}

struct agent_snapshot *agent_snapshot_acquire_gen(uint32_t gen)
{
	struct agent_snapshot *s;

	pthread_mutex_lock(&snap_lock);
	s = snap_gen[gen & 1] ? snap_gen[gen & 1] : snap_current;
	if (s)
		__atomic_add_fetch(&s->refs, 1, __ATOMIC_ACQ_REL);
	pthread_mutex_unlock(&snap_lock);
	return s;
}
