// SPDX-License-Identifier: GPL-2.0-only
/* Access log: JSON line formatting (pure) and the writer thread. Workers
 * append to the front buffer under a mutex held for a memcpy; the writer
 * swaps buffers and does the write(2) outside the lock. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include "accesslog.h"
#include "log.h"
#include "policy.h"
#include "reasons.h"

/* ---- formatting ---------------------------------------------------------- */

struct out {
	char *p;
	size_t len, cap;
	bool full;
};

static void put(struct out *o, const char *s, size_t n)
{
	if (o->full || o->len + n >= o->cap) {
		o->full = true;
		return;
	}
	memcpy(o->p + o->len, s, n);
	o->len += n;
}

static void puts_(struct out *o, const char *s)
{
	put(o, s, strlen(s));
}

static void putf(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void putf(struct out *o, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (o->full)
		return;
	va_start(ap, fmt);
	n = vsnprintf(o->p + o->len, o->cap - o->len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= o->cap - o->len) {
		o->full = true;
		return;
	}
	o->len += (size_t)n;
}

/* A JSON string of @n bytes; bytes outside printable ASCII as \u00XX, so
 * an arbitrary SNI can never break the line or its UTF-8 validity. */
static void put_jstr(struct out *o, const char *s, size_t n)
{
	size_t i;

	put(o, "\"", 1);
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '"' || c == '\\') {
			char e[2] = { '\\', (char)c };

			put(o, e, 2);
		} else if (c < 0x20 || c >= 0x7f) {
			putf(o, "\\u%04x", c);
		} else {
			put(o, (const char *)&c, 1);
		}
	}
	put(o, "\"", 1);
}

static void put_key(struct out *o, const char *k, bool first)
{
	if (!first)
		put(o, ",", 1);
	put(o, "\"", 1);
	puts_(o, k);
	put(o, "\":", 2);
}

static void put_null(struct out *o)
{
	put(o, "null", 4);
}

static void put_sockaddr(struct out *o, const struct sockaddr_storage *ss)
{
	char a[INET6_ADDRSTRLEN], buf[INET6_ADDRSTRLEN + 10];

	if (ss && ss->ss_family == AF_INET) {
		const struct sockaddr_in *in = (const void *)ss;

		inet_ntop(AF_INET, &in->sin_addr, a, sizeof(a));
		snprintf(buf, sizeof(buf), "%s:%u", a, ntohs(in->sin_port));
	} else if (ss && ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const void *)ss;

		/* a v4 client of a dual-stack "::" listener: print it as v4 */
		if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr)) {
			inet_ntop(AF_INET, &in6->sin6_addr.s6_addr[12], a, sizeof(a));
			snprintf(buf, sizeof(buf), "%s:%u", a, ntohs(in6->sin6_port));
		} else {
			inet_ntop(AF_INET6, &in6->sin6_addr, a, sizeof(a));
			snprintf(buf, sizeof(buf), "[%s]:%u", a, ntohs(in6->sin6_port));
		}
	} else {
		put_null(o);
		return;
	}
	put_jstr(o, buf, strlen(buf));
}

static void put_endpoint(struct out *o, const struct sng_endpoint *ep)
{
	char a[INET6_ADDRSTRLEN], buf[INET6_ADDRSTRLEN + 10];

	if (!ep || (ep->family != AF_INET && ep->family != AF_INET6) ||
	    !inet_ntop(ep->family, ep->addr, a, sizeof(a))) {
		put_null(o);
		return;
	}
	snprintf(buf, sizeof(buf), ep->family == AF_INET6 ? "[%s]:%u" : "%s:%u", a,
		 ntohs(ep->port));
	put_jstr(o, buf, strlen(buf));
}

/* ALPN wire format (1-byte length + name, ...) as a JSON array; a
 * malformed tail ends the list. */
static void put_alpn(struct out *o, const uint8_t *p, size_t n)
{
	size_t off = 0;
	bool first = true;

	if (!p || !n) {
		put_null(o);
		return;
	}
	put(o, "[", 1);
	while (off < n && p[off] && off + 1 + p[off] <= n) {
		if (!first)
			put(o, ",", 1);
		put_jstr(o, (const char *)p + off + 1, p[off]);
		off += 1 + (size_t)p[off];
		first = false;
	}
	put(o, "]", 1);
}

static void put_time(struct out *o)
{
	struct timespec ts;
	struct tm tm;
	char buf[40];

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm);
	putf(o, "\"%s.%03ldZ\"", buf, ts.tv_nsec / 1000000);
}

int accesslog_format(const struct accesslog_rec *r, char *buf, size_t cap)
{
	const struct policy_compiled *pc = r->pc;
	const struct policy_listener *l = NULL;
	struct out o = { buf, 0, cap, false };
	char tmp[600];

	if (pc && r->listener_id < pc->n_listeners)
		l = &pc->listeners[r->listener_id];
	put(&o, "{", 1);
	put_key(&o, "time", true);
	put_time(&o);
	put_key(&o, "client", false);
	put_sockaddr(&o, r->client);
	put_key(&o, "bind", false);
	putf(&o, "%u", r->bind_id || !l ? r->bind_id : l->bind_id);
	put_key(&o, "gateway", false);
	if (l) {
		snprintf(tmp, sizeof(tmp), "%s/%s", l->gateway_ns, l->gateway_name);
		put_jstr(&o, tmp, strlen(tmp));
	} else {
		put_null(&o);
	}
	put_key(&o, "listener", false);
	if (l)
		put_jstr(&o, l->name, strlen(l->name));
	else if (r->listener_id != SNG_NO_ROUTE)
		putf(&o, "%u", r->listener_id);
	else
		put_null(&o);
	put_key(&o, "sni", false);
	if (r->sni && r->sni_len)
		put_jstr(&o, r->sni, r->sni_len);
	else
		put_null(&o);
	put_key(&o, "alpn", false);
	put_alpn(&o, r->alpn, r->alpn_len);
	put_key(&o, "route", false);
	if (pc && r->route_id < pc->n_routes) {
		snprintf(tmp, sizeof(tmp), "%s/%s", pc->routes[r->route_id].ns,
			 pc->routes[r->route_id].name);
		put_jstr(&o, tmp, strlen(tmp));
	} else if (r->route_id != SNG_NO_ROUTE) {
		putf(&o, "%u", r->route_id);
	} else {
		put_null(&o);
	}
	put_key(&o, "backend", false);
	if (pc && r->backend_id < pc->n_backends && pc->backend_info) {
		const struct policy_backend_info *b = &pc->backend_info[r->backend_id];

		snprintf(tmp, sizeof(tmp), "%s/%s:%u", b->ns, b->name, b->port);
		put_jstr(&o, tmp, strlen(tmp));
	} else if (r->backend_id != SNG_NO_ROUTE) {
		putf(&o, "%u", r->backend_id);
	} else {
		put_null(&o);
	}
	put_key(&o, "endpoint", false);
	put_endpoint(&o, r->endpoint);
	put_key(&o, "engine", false);
	if (r->engine == SNG_ENGINE_SOCKMAP || r->engine == SNG_ENGINE_USERSPACE)
		putf(&o, "\"%s\"", engine_name(r->engine));
	else
		put_null(&o);
	put_key(&o, "mode", false);
	if (r->mode == SNG_MODE_PASSTHROUGH || r->mode == SNG_MODE_TERMINATE)
		puts_(&o, r->mode == SNG_MODE_TERMINATE ? "\"Terminate\"" : "\"Passthrough\"");
	else
		put_null(&o);
	put_key(&o, "bytesUp", false);
	putf(&o, "%llu", (unsigned long long)r->bytes_up);
	put_key(&o, "bytesDown", false);
	putf(&o, "%llu", (unsigned long long)r->bytes_down);
	put_key(&o, "durationMs", false);
	putf(&o, "%llu", (unsigned long long)r->duration_ms);
	put_key(&o, "outcome", false);
	putf(&o, "\"%s\"", reason_name(r->reason));
	put(&o, "}\n", 2);
	if (o.full)
		return -ENOSPC;
	buf[o.len] = '\0';
	return (int)o.len;
}

/* ---- writer --------------------------------------------------------------- */

/* Longest line: every string field at its limit, escaped 6x. */
#define LINE_MAX_BYTES 8192

static struct {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	pthread_t th;
	bool open, stop;
	int fd;                 /* owned by the writer after open */
	char *path;             /* NULL: stdout */
	char *front, *back;     /* workers fill front; the writer drains back */
	size_t front_len;
	uint64_t lines, dropped;
	int reopen;             /* set by accesslog_reopen, read by the writer */
} al = { .lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER, .fd = -1 };

static int open_path(const char *path)
{
	int fd;

	if (!path) {
		fd = fcntl(STDOUT_FILENO, F_DUPFD_CLOEXEC, 3);
		return fd < 0 ? -errno : fd;
	}
	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0640);
	return fd < 0 ? -errno : fd;
}

static void write_all(int fd, const char *p, size_t n)
{
	ssize_t w;

	while (n) {
		w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			log_warn("access log: write failed: %s (%zu bytes lost)",
				 w < 0 ? strerror(errno) : "short write", n);
			return;
		}
		p += w;
		n -= (size_t)w;
	}
}

static void *writer_main(void *arg)
{
	char *buf;
	size_t len;
	bool stop;
	int fd;

	(void)arg;
	for (;;) {
		pthread_mutex_lock(&al.lock);
		while (!al.front_len && !al.stop && !__atomic_load_n(&al.reopen, __ATOMIC_ACQUIRE))
			pthread_cond_wait(&al.cond, &al.lock);
		buf = al.front;
		len = al.front_len;
		al.front = al.back;
		al.back = buf;
		al.front_len = 0;
		stop = al.stop;
		pthread_mutex_unlock(&al.lock);
		if (len)
			write_all(al.fd, buf, len);
		if (__atomic_exchange_n(&al.reopen, 0, __ATOMIC_ACQ_REL) && al.path) {
			fd = open_path(al.path);
			if (fd < 0) {
				log_warn("access log: reopen %s: %s (keeping the old file)", al.path,
					 strerror(-fd));
			} else {
				close(al.fd);
				al.fd = fd;
				log_info("access log: reopened %s", al.path);
			}
		}
		if (stop)
			return NULL;
	}
}

int accesslog_open(const char *path)
{
	int fd, err;

	if (al.open)
		return -EALREADY;
	if (path && !strcmp(path, "-"))
		path = NULL;
	fd = open_path(path);
	if (fd < 0) {
		log_err("access log %s: %s", path ? path : "stdout", strerror(-fd));
		return fd;
	}
	al.path = path ? strdup(path) : NULL;
	al.front = malloc(ACCESSLOG_BUF_BYTES);
	al.back = malloc(ACCESSLOG_BUF_BYTES);
	if ((path && !al.path) || !al.front || !al.back) {
		err = -ENOMEM;
		goto fail;
	}
	al.fd = fd;
	al.front_len = 0;
	al.stop = false;
	err = -pthread_create(&al.th, NULL, writer_main, NULL);
	if (err)
		goto fail;
	__atomic_store_n(&al.open, true, __ATOMIC_RELEASE);
	return 0;
fail:
	log_err("access log: cannot start: %s", strerror(-err));
	close(fd);
	al.fd = -1;
	free(al.path);
	free(al.front);
	free(al.back);
	al.path = al.front = al.back = NULL;
	return err;
}

void accesslog_write(const struct accesslog_rec *r)
{
	char line[LINE_MAX_BYTES];
	int n;

	if (!__atomic_load_n(&al.open, __ATOMIC_ACQUIRE))
		return;
	n = accesslog_format(r, line, sizeof(line));
	pthread_mutex_lock(&al.lock);
	if (n < 0 || al.stop || al.front_len + (size_t)n > ACCESSLOG_BUF_BYTES) {
		al.dropped++;
	} else {
		memcpy(al.front + al.front_len, line, (size_t)n);
		if (!al.front_len)
			pthread_cond_signal(&al.cond);
		al.front_len += (size_t)n;
		al.lines++;
	}
	pthread_mutex_unlock(&al.lock);
}

void accesslog_reopen(void)
{
	pthread_mutex_lock(&al.lock);
	__atomic_store_n(&al.reopen, 1, __ATOMIC_RELEASE);
	pthread_cond_signal(&al.cond);
	pthread_mutex_unlock(&al.lock);
}

void accesslog_close(void)
{
	if (!__atomic_load_n(&al.open, __ATOMIC_ACQUIRE))
		return;
	pthread_mutex_lock(&al.lock);
	al.stop = true;
	pthread_cond_signal(&al.cond);
	pthread_mutex_unlock(&al.lock);
	pthread_join(al.th, NULL);
	__atomic_store_n(&al.open, false, __ATOMIC_RELEASE);
	close(al.fd);
	al.fd = -1;
	free(al.path);
	free(al.front);
	free(al.back);
	al.path = al.front = al.back = NULL;
}

bool accesslog_enabled(void)
{
	return __atomic_load_n(&al.open, __ATOMIC_ACQUIRE);
}

uint64_t accesslog_lines(void)
{
	uint64_t v;

	pthread_mutex_lock(&al.lock);
	v = al.lines;
	pthread_mutex_unlock(&al.lock);
	return v;
}

uint64_t accesslog_dropped(void)
{
	uint64_t v;

	pthread_mutex_lock(&al.lock);
	v = al.dropped;
	pthread_mutex_unlock(&al.lock);
	return v;
}
