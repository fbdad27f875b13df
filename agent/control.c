// SPDX-License-Identifier: GPL-2.0-only
/* Control socket: a thread accepting on a unix stream socket, answering one
 * request per connection from the current snapshot; and the client side. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <poll.h>
#include <stdbool.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "agent.h"
#include "control.h"
#include "log.h"
#include "policy.h"

static struct {
	pthread_t th;
	int lfd, stop_pipe[2];
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	bool running;
} ctl = { .lfd = -1, .stop_pipe = { -1, -1 } };

static json_t *table_json(const struct policy_compiled *pc)
{
	json_t *binds = json_array();
	size_t i;

	for (i = 0; i < pc->n_binds; i++)
		json_array_append_new(binds, json_pack("{s:i,s:s,s:i,s:b,s:b}", "id",
			pc->binds[i].id, "address", pc->binds[i].address, "port",
			pc->binds[i].port, "passthrough", pc->binds[i].has_passthrough,
			"terminate", pc->binds[i].has_terminate));
	return json_pack("{s:o,s:I,s:I,s:I,s:I,s:I}", "binds", binds, "listeners",
			 (json_int_t)pc->n_listeners, "routes", (json_int_t)pc->n_routes,
			 "entries", (json_int_t)pc->n_entries, "sets", (json_int_t)pc->n_sets,
			 "backends", (json_int_t)pc->n_backends);
}

json_t *control_handle(const char *req)
{
	struct agent_snapshot *s;
	json_t *r;

	if (!strcmp(req, "ping"))
		return json_pack("{s:b}", "pong", 1);
	if (strcmp(req, "status"))
		return json_pack("{s:s}", "error", "unknown request (status or ping)");
	s = agent_snapshot_acquire();
	if (!s || !s->pc) {
		agent_snapshot_release(s);
		return json_pack("{s:s}", "error", "no policy loaded yet");
	}
	/* The snapshot is immutable: its status is shared (incref), not copied. */
	r = json_pack("{s:I,s:O,s:O,s:o}", "serial", (json_int_t)s->serial, "status",
		      s->pc->status, "notes", s->pc->notes ? s->pc->notes : json_array(),
		      "table", table_json(s->pc));
	agent_snapshot_release(s);
	return r;
}

static void send_json(int fd, json_t *j)
{
	char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
	size_t n, off = 0;
	ssize_t w;

	if (!s)
		s = strdup("{\"error\":\"out of memory\"}");
	if (!s)
		return;
	n = strlen(s);
	while (off < n) {
		w = send(fd, s + off, n - off, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			break;
		off += (size_t)w;
	}
	free(s);
}

static void serve_one(int fd)
{
	struct timeval tv = { 2, 0 };
	struct ucred cr;
	socklen_t cl = sizeof(cr);
	char req[64];
	size_t len = 0;
	ssize_t n;
	json_t *r;

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &cl) || cr.uid != 0) {
		r = json_pack("{s:s}", "error", "permission denied");
		goto reply;
	}
	while (len < sizeof(req) - 1) {
		n = recv(fd, req + len, sizeof(req) - 1 - len, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
		if (memchr(req, '\n', len))
			break;
	}
	req[len] = '\0';
	req[strcspn(req, "\r\n")] = '\0';
	r = control_handle(req);
reply:
	send_json(fd, r);
	json_decref(r);
}

static void *control_main(void *arg)
{
	struct pollfd p[2];
	int fd;

	(void)arg;
	p[0].fd = ctl.lfd;
	p[0].events = POLLIN;
	p[1].fd = ctl.stop_pipe[0];
	p[1].events = POLLIN;
	for (;;) {
		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			log_warn("control socket: poll: %s", strerror(errno));
			return NULL;
		}
		if (p[1].revents)
			return NULL;
		if (!(p[0].revents & POLLIN))
			continue;
		fd = accept4(ctl.lfd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0)
			continue;
		serve_one(fd);
		close(fd);
	}
}

int control_unix_addr(const char *path, struct sockaddr_un *sa)
{
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sa->sun_path))
		return -ENAMETOOLONG;
	strcpy(sa->sun_path, path);
	return 0;
}

int control_start(const char *path)
{
	struct sockaddr_un sa;
	char *dcopy;
	mode_t old;
	int fd = -1, err, probe;

	if (ctl.running)
		return -EALREADY;
	err = control_unix_addr(path, &sa);
	if (err)
		goto fail;
	dcopy = strdup(path);
	if (!dcopy) {
		err = -ENOMEM;
		goto fail;
	}
	if (mkdir(dirname(dcopy), 0700) && errno != EEXIST) {
		err = -errno;
		free(dcopy);
		goto fail;
	}
	free(dcopy);
	/* A socket file left by a dead agent refuses connections: replace it.
	 * One that answers belongs to a running agent: do not steal it. */
	probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (probe >= 0) {
		if (!connect(probe, (struct sockaddr *)&sa, sizeof(sa))) {
			close(probe);
			err = -EADDRINUSE;
			goto fail;
		}
		if (errno == ECONNREFUSED)
			unlink(path);
		close(probe);
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		err = -errno;
		goto fail;
	}
	/* umask around bind: the socket is never reachable with wider modes */
	old = umask(0177);
	err = bind(fd, (struct sockaddr *)&sa, sizeof(sa)) ? -errno : 0;
	umask(old);
	if (!err && chmod(path, 0600))
		err = -errno;
	if (!err && listen(fd, 16))
		err = -errno;
	if (err)
		goto fail;
	if (pipe2(ctl.stop_pipe, O_CLOEXEC)) {
		err = -errno;
		goto fail_unlink;
	}
	ctl.lfd = fd;
	snprintf(ctl.path, sizeof(ctl.path), "%s", path);
	err = -pthread_create(&ctl.th, NULL, control_main, NULL);
	if (err) {
		close(ctl.stop_pipe[0]);
		close(ctl.stop_pipe[1]);
		ctl.stop_pipe[0] = ctl.stop_pipe[1] = -1;
		ctl.lfd = -1;
		goto fail_unlink;
	}
	ctl.running = true;
	log_info("control socket %s", path);
	return 0;
fail_unlink:
	unlink(path);
fail:
	if (fd >= 0)
		close(fd);
	log_err("control socket %s: %s%s", path, strerror(-err),
		err == -EADDRINUSE ? " (another agent answers there; use --control-socket)" : "");
	return err;
}

void control_stop(void)
{
	char c = 1;

	if (!ctl.running)
		return;
	if (write(ctl.stop_pipe[1], &c, 1) != 1)
		log_warn("control socket: cannot wake the thread");
	pthread_join(ctl.th, NULL);
	close(ctl.stop_pipe[0]);
	close(ctl.stop_pipe[1]);
	ctl.stop_pipe[0] = ctl.stop_pipe[1] = -1;
	close(ctl.lfd);
	ctl.lfd = -1;
	unlink(ctl.path);
	ctl.running = false;
}

json_t *control_request(const char *path, const char *request, int timeout_ms)
{
	struct timeval tv = { timeout_ms / 1000, (timeout_ms % 1000) * 1000 };
	struct sockaddr_un sa;
	size_t len = 0, cap = 1 << 16;
	char *buf = NULL, *nb;
	json_error_t jerr;
	json_t *r = NULL;
	ssize_t n;
	int fd, err;

	err = control_unix_addr(path, &sa);
	if (err) {
		errno = -err;
		return NULL;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return NULL;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)))
		goto out;
	if (dprintf(fd, "%s\n", request) < 0)
		goto out;
	buf = malloc(cap);
	while (buf) {
		if (len == cap) {
			nb = realloc(buf, cap * 2);
			if (!nb)
				break;
			buf = nb;
			cap *= 2;
		}
		n = recv(fd, buf + len, cap - len, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			if (errno == EAGAIN)
				errno = ETIMEDOUT;
			goto out;
		}
		if (!n)
			break;
		len += (size_t)n;
	}
	if (!buf) {
		errno = ENOMEM;
		goto out;
	}
	r = json_loadb(buf, len, 0, &jerr);
	if (!r)
		errno = EPROTO;
out:
	err = errno;
	free(buf);
	close(fd);
	errno = err;
	return r;
}
