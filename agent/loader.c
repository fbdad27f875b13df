// SPDX-License-Identifier: GPL-2.0-only
/* BPF object loader: skeleton load with pinned, BTF-carrying maps, and the
 * sk_skb verdict attach (link on 6.10+, prog_attach before). */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "loader.h"
#include "log.h"
#include "snigate.skel.h"

/* libbpf hands over whole verifier logs in one message: split it into
 * lines so each keeps the log prefix and none is truncated. */
static int libbpf_log(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	char *text = NULL, *line, *save = NULL;

	if (level == LIBBPF_DEBUG && log_verbosity < LOG_DEBUG)
		return 0;
	if (vasprintf(&text, fmt, ap) < 0)
		return 0;
	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		if (level == LIBBPF_WARN)
			log_warn("%s", line);
		else
			log_dbg("%s", line);
	}
	free(text);
	return 0;
}

void loader_forward_libbpf_log(void)
{
	libbpf_set_print(libbpf_log);
}

static int mkdir_p(const char *dir)
{
	char tmp[256];
	size_t i, n = strlen(dir);

	if (n >= sizeof(tmp))
		return -ENAMETOOLONG;
	memcpy(tmp, dir, n + 1);
	for (i = 1; i <= n; i++) {
		if (tmp[i] != '/' && tmp[i] != 0)
			continue;
		tmp[i] = 0;
		if (mkdir(tmp, 0700) && errno != EEXIST)
			return -errno;
		tmp[i] = i < n ? '/' : 0;
	}
	return 0;
}

/* Hand-over state for the next loader_open() (see loader_inherit()). */
static int inherit_lock_fd = -1, inherit_link_fd = -1;

void loader_inherit(int lock_fd, int link_fd)
{
	if (inherit_lock_fd >= 0)
		close(inherit_lock_fd);
	if (inherit_link_fd >= 0)
		close(inherit_link_fd);
	inherit_lock_fd = lock_fd;
	inherit_link_fd = link_fd;
}

/* Hand-over: is the pin of @map at @path reusable as is (or absent)? */
static bool pin_reusable(struct bpf_map *map, const char *path)
{
	struct bpf_map_info info = {};
	__u32 len = sizeof(info);
	int fd = bpf_obj_get(path);
	bool ok;

	if (fd < 0)
		return true;
	ok = bpf_obj_get_info_by_fd(fd, &info, &len) == 0 &&
	     info.type == bpf_map__type(map) &&
	     info.key_size == bpf_map__key_size(map) &&
	     info.value_size == bpf_map__value_size(map) &&
	     info.max_entries == bpf_map__max_entries(map) &&
	     info.map_flags == bpf_map__map_flags(map);
	close(fd);
	return ok;
}

/* Hand-over: @fd is the previous agent's lock of @dir (the same open file,
 * received over SCM_RIGHTS, so the flock was never released). */
static int adopt_pin_lock(struct loader *l, const char *dir, int fd)
{
	struct stat a, b;

	l->lock_fd = fd;
	if (fstat(fd, &a) || stat(dir, &b) || a.st_dev != b.st_dev || a.st_ino != b.st_ino) {
		log_err("takeover: the previous agent's pin directory is not %s", dir);
		return -EXDEV;
	}
	/* same open file description: a no-op conversion that must succeed */
	if (flock(fd, LOCK_EX | LOCK_NB)) {
		log_err("takeover: pin directory lock of %s: %s", dir, strerror(errno));
		return -errno;
	}
	return 0;
}

/* Hand-over: keep the previous agent's verdict link (the verdict stays
 * attached throughout); loader_takeover_commit() swaps this build's
 * program in once the hand-over can no longer be abandoned. */
static int adopt_verdict_link(struct loader *l, int fd)
{
	l->verdict_link = fd;
	l->verdict_attached = true;
	return 0;
}

int loader_takeover_commit(struct loader *l)
{
	int prog;

	if (!l || !l->inherited || l->verdict_link < 0 || !l->skel)
		return 0;
	prog = bpf_program__fd(l->skel->progs.sng_verdict);
	if (bpf_link_update(l->verdict_link, prog, NULL)) {
		int err = -errno;

		log_warn("takeover: cannot put the new sng_verdict into the verdict link (%s): "
			 "the previous agent's program stays attached", strerror(-err));
		return err;
	}
	log_info("takeover: verdict link taken over, sng_verdict replaced in place");
	return 0;
}

/* sng_config (one element, BPF_F_MMAPABLE) mapped read-only for
 * lookup_decide(), or NULL (then it reads it with bpf()). Never unmapped:
 * one page, and workers may be deciding until the process exits. */
static const struct sng_config *map_config(int fd)
{
	void *p = mmap(NULL, (size_t)sysconf(_SC_PAGESIZE), PROT_READ, MAP_SHARED, fd, 0);

	if (p == MAP_FAILED) {
		log_warn("mmap of sng_config: %s (routing decisions read it with bpf())",
			 strerror(errno));
		return NULL;
	}
	return p;
}

/* Unlink the pin of @map when it would not be reusable by libbpf. */
static void drop_incompatible_pin(struct bpf_map *map, const char *path)
{
	struct bpf_map_info info = {};
	__u32 len = sizeof(info);
	int fd = bpf_obj_get(path);

	if (fd < 0)
		return; /* no pin (or not a map: libbpf will report it) */
	if (bpf_obj_get_info_by_fd(fd, &info, &len) == 0 &&
	    info.type == bpf_map__type(map) &&
	    info.key_size == bpf_map__key_size(map) &&
	    info.value_size == bpf_map__value_size(map) &&
	    info.max_entries == bpf_map__max_entries(map) &&
	    info.map_flags == bpf_map__map_flags(map)) {
		close(fd);
		return;
	}
	close(fd);
	log_warn("pinned map %s does not match this build (old layout): replacing it", path);
	unlink(path);
}

/* PID holding a flock on the inode of @fd (from /proc/locks), or 0. */
static long lock_holder(int fd)
{
	char line[256];
	struct stat st;
	long pid = 0;
	FILE *f;

	if (fstat(fd, &st))
		return 0;
	f = fopen("/proc/locks", "re");
	if (!f)
		return 0;
	while (!pid && fgets(line, sizeof(line), f)) {
		unsigned long long ino;
		unsigned maj, min;
		long p;

		if (strstr(line, "FLOCK") &&
		    sscanf(line, "%*s FLOCK %*s %*s %ld %x:%x:%llu", &p, &maj, &min, &ino) == 4 &&
		    ino == (unsigned long long)st.st_ino)
			pid = p;
	}
	fclose(f);
	return pid;
}

/* Hold the pin directory exclusively (bugs B4): a second agent on the same
 * pins would overwrite the route maps and attach a second verdict. */
static int lock_pin_dir(struct loader *l, const char *dir)
{
	long pid;

	l->lock_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (l->lock_fd < 0) {
		log_err("open pin directory %s: %s", dir, strerror(errno));
		return -errno;
	}
	if (!flock(l->lock_fd, LOCK_EX | LOCK_NB))
		return 0;
	pid = lock_holder(l->lock_fd);
	/* /proc/locks names the process that took the lock: after a
	 * takeover (the lock's open file passed on) that one has exited */
	if (pid && kill((pid_t)pid, 0) && errno == ESRCH)
		log_err("pin dir %s in use by another snigate run (it took the lock over from "
			"PID %ld, which has exited)", dir, pid);
	else if (pid)
		log_err("pin dir %s in use by PID %ld (another snigate run)", dir, pid);
	else
		log_err("pin dir %s in use by another snigate run", dir);
	return -EBUSY;
}

/* Delete every entry of the agent-written per-socket map @fd (bugs B3):
 * with the pin directory locked, no live socket belongs to a previous
 * agent, whose fds died with it. Returns the number deleted. */
static unsigned purge_map(int fd)
{
	__u64 key, next;
	unsigned n = 0;

	while (!bpf_map_get_next_key(fd, NULL, &next)) {
		key = next;
		if (bpf_map_delete_elem(fd, &key))
			break;
		n++;
	}
	return n;
}

static int attach_verdict(struct loader *l)
{
	int prog = bpf_program__fd(l->skel->progs.sng_verdict);
	int map = bpf_map__fd(l->skel->maps.sng_socks);
	int fd, err;

	fd = bpf_link_create(prog, map, BPF_SK_SKB_VERDICT, NULL);
	if (fd >= 0) {
		l->verdict_link = fd;
		l->verdict_attached = true;
		log_dbg("sng_verdict attached to sng_socks with a bpf_link");
		return 0;
	}
	err = -errno;
	log_dbg("bpf_link_create(sk_skb verdict): %s; trying bpf_prog_attach", strerror(-err));
	if (bpf_prog_attach(prog, map, BPF_SK_SKB_VERDICT, 0)) {
		err = -errno;
		log_err("attach sng_verdict to sng_socks: %s", strerror(-err));
		return err;
	}
	l->verdict_attached = true;
	log_dbg("sng_verdict attached to sng_socks with bpf_prog_attach");
	return 0;
}

int loader_open(const char *pin_dir, bool attach, struct loader *l, struct sng_maps *maps)
{
	struct bpf_map *map;
	int err, inh_lock = inherit_lock_fd, inh_link = inherit_link_fd;

	inherit_lock_fd = inherit_link_fd = -1;
	memset(l, 0, sizeof(*l));
	l->verdict_link = -1;
	l->count_prog = -1;
	l->events_fd = l->fc_fd = l->chstats_fd = -1;
	l->lock_fd = -1;
	l->inherited = inh_lock >= 0;
	if (inh_lock >= 0 && (!pin_dir || !*pin_dir)) {
		log_err("takeover needs a pin directory");
		close(inh_lock);
		if (inh_link >= 0)
			close(inh_link);
		return -EINVAL;
	}
	loader_forward_libbpf_log();
	l->skel = snigate_bpf__open();
	if (!l->skel) {
		err = -errno;
		log_err("open BPF object: %s", strerror(-err));
		goto fail; /* closes inherited fds */
	}
	bpf_program__set_expected_attach_type(l->skel->progs.sng_verdict, BPF_SK_SKB_VERDICT);
	if (pin_dir && *pin_dir) {
		snprintf(l->pin_dir, sizeof(l->pin_dir), "%s", pin_dir);
		err = mkdir_p(pin_dir);
		if (err) {
			log_err("create pin directory %s: %s", pin_dir, strerror(-err));
			goto fail;
		}
		err = inh_lock >= 0 ? adopt_pin_lock(l, pin_dir, inh_lock) :
				      lock_pin_dir(l, pin_dir);
		inh_lock = -1;
		if (err)
			goto fail;
		bpf_object__for_each_map(map, l->skel->obj) {
			char path[512];

			snprintf(path, sizeof(path), "%s/%s", pin_dir, bpf_map__name(map));
			/* the previous agent's connections live in these maps */
			if (l->inherited && !pin_reusable(map, path)) {
				log_err("takeover: pinned map %s has another layout than "
					"this build: stop the running agent and start this "
					"one normally", path);
				err = -ESTALE;
				goto fail;
			}
			drop_incompatible_pin(map, path);
			err = bpf_map__set_pin_path(map, path);
			if (err) {
				log_err("pin path %s: %s", path, strerror(-err));
				goto fail;
			}
		}
	}
	err = snigate_bpf__load(l->skel);
	if (err) {
		/* The counting program needs BPF_PROG_TYPE_SYSCALL (5.14+):
		 * without it the agent keeps its counts to itself. */
		log_warn("BPF load failed (%s); retrying without sng_count", strerror(-err));
		snigate_bpf__destroy(l->skel);
		l->skel = snigate_bpf__open();
		if (!l->skel) {
			err = -errno;
			goto fail;
		}
		bpf_program__set_expected_attach_type(l->skel->progs.sng_verdict,
						      BPF_SK_SKB_VERDICT);
		bpf_program__set_autoload(l->skel->progs.sng_count, false);
		if (*l->pin_dir)
			bpf_object__for_each_map(map, l->skel->obj) {
				char path[512];

				snprintf(path, sizeof(path), "%s/%s", pin_dir, bpf_map__name(map));
				bpf_map__set_pin_path(map, path);
			}
		err = snigate_bpf__load(l->skel);
		if (err) {
			log_err("load BPF object: %s (run with -v for the verifier log)",
				strerror(-err));
			goto fail;
		}
		/* Loud, once: the stats maps now hold the verdict's counts
		 * only (6.1/6.12 once lost every agent-side count silently). */
		log_warn("sng_count did not load (verifier log above with -v): agent-side "
			 "counts (connections, rejections, copied bytes) are not in sng_lstats/"
			 "sng_rstats; only the in-kernel verdict's counts are");
	} else {
		l->count_prog = bpf_program__fd(l->skel->progs.sng_count);
	}
	if (attach && inh_link >= 0) {
		err = adopt_verdict_link(l, inh_link);
		inh_link = -1;
	} else if (attach) {
		err = attach_verdict(l);
		if (err)
			goto fail;
	}
	maps->routes = bpf_map__fd(l->skel->maps.sng_routes);
	maps->sets = bpf_map__fd(l->skel->maps.sng_sets);
	maps->backends = bpf_map__fd(l->skel->maps.sng_backends);
	maps->config = bpf_map__fd(l->skel->maps.sng_config);
	maps->config_mm = map_config(maps->config);
	maps->socks = bpf_map__fd(l->skel->maps.sng_socks);
	maps->ctl = bpf_map__fd(l->skel->maps.sng_ctl);
	maps->cnt = bpf_map__fd(l->skel->maps.sng_cnt);
	maps->lstats = bpf_map__fd(l->skel->maps.sng_lstats);
	maps->rstats = bpf_map__fd(l->skel->maps.sng_rstats);
	l->events_fd = bpf_map__fd(l->skel->maps.sng_events);
	l->fc_fd = bpf_map__fd(l->skel->maps.sng_fc);
	l->chstats_fd = bpf_map__fd(l->skel->maps.sng_chstats);
	if (inh_link >= 0)
		close(inh_link); /* not attaching: the previous agent's link goes */
	if (l->lock_fd >= 0 && !l->inherited) {
		unsigned a = purge_map(maps->ctl), b = purge_map(maps->cnt);

		if (a || b)
			log_info("pins reused: removed %u sng_ctl and %u sng_cnt entries of a "
				 "previous agent", a, b);
	}
	return 0;

fail:
	if (inh_lock >= 0)
		close(inh_lock);
	if (inh_link >= 0)
		close(inh_link);
	loader_close(l);
	return err;
}

void loader_close(struct loader *l)
{
	if (l->verdict_link >= 0)
		close(l->verdict_link);
	l->verdict_link = -1;
	l->verdict_attached = false;
	snigate_bpf__destroy(l->skel);
	l->skel = NULL;
	if (l->lock_fd >= 0)
		close(l->lock_fd); /* releases the flock */
	l->lock_fd = -1;
}

int loader_count(const struct loader *l, const struct sng_count_args *a)
{
	struct sng_count_args copy = *a;
	LIBBPF_OPTS(bpf_test_run_opts, opts, .ctx_in = &copy, .ctx_size_in = sizeof(copy));

	static int warned;
	int err;

	if (l->count_prog < 0)
		return -ENOSYS;
	err = bpf_prog_test_run_opts(l->count_prog, &opts) ? -errno : 0;
	if (err && !__atomic_exchange_n(&warned, 1, __ATOMIC_RELAXED))
		log_warn("BPF_PROG_RUN of sng_count failed (%s): agent-side counts are "
			 "being lost (logged once)", strerror(-err));
	return err;
}
