// SPDX-License-Identifier: GPL-2.0-only
/* inotify watches on the -f paths and their parent directories, filtered
 * by name, debounced with a timerfd; all behind one epoll fd. */
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/epoll.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/timerfd.h>

#include "filewatch.h"
#include "log.h"

enum fw_kind {
	FW_CONTENT, /* a -f directory: its manifest entries count */
	FW_NAME,    /* a parent directory: only entries named @name count */
};

struct fw_watch {
	int wd;                /* -1: not watched (directory missing) */
	enum fw_kind kind;
	char dir[PATH_MAX];    /* the watched directory */
	char name[NAME_MAX + 1]; /* FW_NAME: the entry of interest */
};

/* A file of interest being written: seen modified or created, not yet
 * closed. A reload waits for it (a shell's `cat >f` truncates first and
 * writes later: reading in between would apply half a manifest). */
struct fw_open {
	int wd;
	char name[NAME_MAX + 1];
};
#define FW_MAX_OPEN 32

struct filewatch {
	int ep, ino, tfd;
	struct fw_open open[FW_MAX_OPEN];
	size_t n_open;
	struct fw_watch *w;
	size_t n;
	char (*ignore)[PATH_MAX]; /* absolute paths never counted */
	size_t n_ignore;
	uint64_t first_ms;     /* first event of the pending change; 0: none */
	bool rearm;            /* a watched directory went away or moved */
};

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Copy @src into @dst of @n bytes; -ENAMETOOLONG when it does not fit. */
static int cpy(char *dst, size_t n, const char *src)
{
	size_t l = strlen(src);

	if (l >= n)
		return -ENAMETOOLONG;
	memcpy(dst, src, l + 1);
	return 0;
}

/* Split @path into an absolute parent directory and a last component. */
static int split_path(const char *path, char *dir, char *name)
{
	char buf[PATH_MAX], cwd[PATH_MAX];
	char *slash;
	size_t len = strlen(path);

	if (!len || len >= sizeof(buf))
		return -ENAMETOOLONG;
	memcpy(buf, path, len + 1);
	while (len > 1 && buf[len - 1] == '/')
		buf[--len] = '\0';
	slash = strrchr(buf, '/');
	if (!slash) {
		if (!getcwd(cwd, sizeof(cwd)))
			return -errno;
		return cpy(dir, PATH_MAX, cwd) ?: cpy(name, NAME_MAX + 1, buf);
	} else if (slash == buf) {
		return cpy(dir, PATH_MAX, "/") ?: cpy(name, NAME_MAX + 1, slash + 1);
	} else {
		*slash = '\0';
		if (buf[0] != '/') {
			if (!getcwd(cwd, sizeof(cwd)))
				return -errno;
			if (snprintf(dir, PATH_MAX, "%s/%s", cwd, buf) >= PATH_MAX)
				return -ENAMETOOLONG;
		} else if (cpy(dir, PATH_MAX, buf)) {
			return -ENAMETOOLONG;
		}
		return cpy(name, NAME_MAX + 1, slash + 1);
	}
	return 0;
}

#define FW_EVENTS (IN_CLOSE_WRITE | IN_MODIFY | IN_ATTRIB | IN_CREATE | IN_DELETE | \
		   IN_MOVED_FROM | IN_MOVED_TO | IN_DELETE_SELF | IN_MOVE_SELF)

/* (Re)add every watch; a missing directory stays unwatched until the next
 * change of its parent (which a FW_NAME watch sees). */
static void arm(struct filewatch *fw)
{
	size_t i;

	for (i = 0; i < fw->n; i++) {
		struct fw_watch *w = &fw->w[i];

		w->wd = inotify_add_watch(fw->ino, w->dir, FW_EVENTS | IN_ONLYDIR);
		if (w->wd < 0 && errno != ENOENT && errno != ENOTDIR)
			log_warn("watching %s: %s (changes there need a SIGHUP)", w->dir,
				 strerror(errno));
	}
	fw->rearm = false;
}

static bool manifest_name(const char *n)
{
	size_t l = strlen(n);

	if (!strcmp(n, "..data"))
		return true;
	if (n[0] == '.')
		return false; /* editor swap files, hidden temporaries */
	return (l > 5 && !strcmp(n + l - 5, ".yaml")) || (l > 4 && !strcmp(n + l - 4, ".yml")) ||
	       (l > 5 && !strcmp(n + l - 5, ".json"));
}

static bool ignored(const struct filewatch *fw, const char *dir, const char *name)
{
	char p[PATH_MAX + NAME_MAX + 2];
	size_t i;

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	for (i = 0; i < fw->n_ignore; i++)
		if (!strcmp(p, fw->ignore[i]))
			return true;
	return false;
}

static void open_track(struct filewatch *fw, const struct fw_watch *w,
		       const struct inotify_event *ev)
{
	char p[PATH_MAX + NAME_MAX + 2];
	struct stat st;
	size_t i;

	for (i = 0; i < fw->n_open; i++)
		if (fw->open[i].wd == ev->wd && !strcmp(fw->open[i].name, ev->name))
			break;
	if (ev->mask & (IN_CLOSE_WRITE | IN_DELETE | IN_MOVED_FROM)) {
		if (i < fw->n_open)
			fw->open[i] = fw->open[--fw->n_open];
		return;
	}
	if (!(ev->mask & (IN_MODIFY | IN_CREATE)) || (ev->mask & IN_ISDIR) || i < fw->n_open)
		return;
	/* a created symlink or directory has no writer to wait for */
	snprintf(p, sizeof(p), "%s/%s", w->dir, ev->name);
	if (lstat(p, &st) || !S_ISREG(st.st_mode) || fw->n_open == FW_MAX_OPEN)
		return;
	fw->open[fw->n_open].wd = ev->wd;
	memcpy(fw->open[fw->n_open].name, ev->name, strlen(ev->name) + 1);
	fw->n_open++;
}

/* Does @ev concern a watched path? */
static bool relevant(struct filewatch *fw, const struct inotify_event *ev)
{
	const char *name = ev->len ? ev->name : "";
	bool hit = false;
	size_t i;

	if (ev->mask & (IN_IGNORED | IN_DELETE_SELF | IN_MOVE_SELF | IN_Q_OVERFLOW)) {
		fw->rearm = true;
		return true;
	}
	for (i = 0; i < fw->n; i++) {
		const struct fw_watch *w = &fw->w[i];

		if (w->wd != ev->wd)
			continue;
		if (*name && ignored(fw, w->dir, name))
			return false;
		if (w->kind == FW_CONTENT ? manifest_name(name) :
		    (!strcmp(name, w->name) || !strcmp(name, "..data"))) {
			hit = true;
			if (*name && strlen(name) <= NAME_MAX)
				open_track(fw, w, ev);
			/* a directory of interest appeared or went: re-watch */
			if (ev->mask & (IN_CREATE | IN_MOVED_TO | IN_DELETE | IN_MOVED_FROM))
				fw->rearm = true;
		}
	}
	return hit;
}

static void timer_arm(struct filewatch *fw, uint64_t ms)
{
	struct itimerspec its = { .it_value = { .tv_sec = (time_t)(ms / 1000),
						.tv_nsec = (long)(ms % 1000) * 1000000 } };

	timerfd_settime(fw->tfd, 0, &its, NULL);
}

bool filewatch_dispatch(struct filewatch *fw)
{
	char buf[8192] __attribute__((aligned(__alignof__(struct inotify_event))));
	uint64_t now, exp;
	bool hit = false;
	ssize_t n;
	char *p;

	for (;;) {
		n = read(fw->ino, buf, sizeof(buf));
		if (n <= 0)
			break;
		for (p = buf; p < buf + n;) {
			const struct inotify_event *ev = (const struct inotify_event *)p;

			if (relevant(fw, ev))
				hit = true;
			p += sizeof(*ev) + ev->len;
		}
	}
	now = mono_ms();
	if (hit) {
		uint64_t due = now + FILEWATCH_DEBOUNCE_MS;

		if (!fw->first_ms)
			fw->first_ms = now;
		if (due > fw->first_ms + FILEWATCH_MAX_DELAY_MS)
			due = fw->first_ms + FILEWATCH_MAX_DELAY_MS;
		timer_arm(fw, due > now ? due - now : 1);
	}
	if (read(fw->tfd, &exp, sizeof(exp)) != sizeof(exp) || !fw->first_ms)
		return false;
	if (fw->n_open && now - fw->first_ms < FILEWATCH_OPEN_MAX_MS) {
		timer_arm(fw, FILEWATCH_DEBOUNCE_MS); /* a writer is not done yet */
		return false;
	}
	fw->n_open = 0;
	/* quiet long enough (or waited the longest allowed): report it */
	fw->first_ms = 0;
	if (fw->rearm)
		arm(fw);
	return true;
}

static int add_watch_entry(struct filewatch *fw, enum fw_kind kind, const char *dir,
			   const char *name)
{
	struct fw_watch *nw = realloc(fw->w, (fw->n + 1) * sizeof(*nw));

	if (!nw)
		return -ENOMEM;
	fw->w = nw;
	memset(&nw[fw->n], 0, sizeof(*nw));
	nw[fw->n].wd = -1;
	nw[fw->n].kind = kind;
	if (cpy(nw[fw->n].dir, sizeof(nw[fw->n].dir), dir) ||
	    cpy(nw[fw->n].name, sizeof(nw[fw->n].name), name))
		return -ENAMETOOLONG;
	fw->n++;
	return 0;
}

struct filewatch *filewatch_new(const char *const *paths, size_t n, const char *const *ignore)
{
	struct filewatch *fw = calloc(1, sizeof(*fw));
	struct epoll_event ev = { .events = EPOLLIN };
	char dir[PATH_MAX], name[NAME_MAX + 1], full[PATH_MAX + NAME_MAX + 2];
	size_t i;
	int err = ENOMEM;

	if (!fw)
		return NULL;
	fw->ino = fw->tfd = -1;
	fw->ep = epoll_create1(EPOLL_CLOEXEC);
	fw->ino = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	fw->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (fw->ep < 0 || fw->ino < 0 || fw->tfd < 0) {
		err = errno;
		log_err("inotify: %s", strerror(err));
		goto fail;
	}
	ev.data.fd = fw->ino;
	if (epoll_ctl(fw->ep, EPOLL_CTL_ADD, fw->ino, &ev))
		goto fail_errno;
	ev.data.fd = fw->tfd;
	if (epoll_ctl(fw->ep, EPOLL_CTL_ADD, fw->tfd, &ev))
		goto fail_errno;
	for (i = 0; i < n; i++) {
		struct stat st;
		int e = split_path(paths[i], dir, name);

		if (e) {
			err = -e;
			goto fail;
		}
		snprintf(full, sizeof(full), "%s/%s", dir, name);
		if (!stat(full, &st) && S_ISDIR(st.st_mode) &&
		    add_watch_entry(fw, FW_CONTENT, full, ""))
			goto fail;
		if (add_watch_entry(fw, FW_NAME, dir, name))
			goto fail;
	}
	for (i = 0; ignore && ignore[i]; i++) {
		char (*ni)[PATH_MAX] = realloc(fw->ignore, (fw->n_ignore + 1) * sizeof(*ni));

		if (!ni)
			goto fail;
		fw->ignore = ni;
		if (split_path(ignore[i], dir, name))
			continue;
		snprintf(full, sizeof(full), "%s/%s", dir, name);
		if (!cpy(fw->ignore[fw->n_ignore], PATH_MAX, full))
			fw->n_ignore++;
	}
	arm(fw);
	return fw;
fail_errno:
	err = errno;
fail:
	filewatch_free(fw);
	errno = err;
	return NULL;
}

int filewatch_fd(const struct filewatch *fw)
{
	return fw->ep;
}

void filewatch_free(struct filewatch *fw)
{
	if (!fw)
		return;
	if (fw->ep >= 0)
		close(fw->ep);
	if (fw->ino >= 0)
		close(fw->ino);
	if (fw->tfd >= 0)
		close(fw->tfd);
	free(fw->w);
	free(fw->ignore);
	free(fw);
}
