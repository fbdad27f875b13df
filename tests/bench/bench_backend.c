// SPDX-License-Identifier: GPL-2.0-only
/* Benchmark backend: an epoll TCP server (one SO_REUSEPORT listener per
 * thread) that skips a leading ClientHello and then obeys bench_proto.h. */
#include <arpa/inet.h>
#include <fcntl.h>
#include <getopt.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include "bench_proto.h"

#define BUF_SZ (256 * 1024)

enum conn_state {
	ST_PRE,    /* reading a TLS record header or the command header */
	ST_SKIP,   /* skipping the body of a TLS record (the ClientHello) */
	ST_SINK,   /* counting bytes of an upload */
	ST_ECHO,   /* echoing */
	ST_SOURCE, /* sending a download */
	ST_REPLY,  /* sending a reply, then closing */
	ST_DRAIN,  /* discarding input until EOF */
};

struct conn {
	int fd;
	enum conn_state st;
	uint8_t hdr[16];
	size_t hdr_len;
	uint64_t left;      /* bytes to skip / sink / source / reply */
	uint64_t total;     /* the command's argument */
	uint8_t *pend;      /* unsent output (echo, sink count, hold byte) */
	size_t pend_len, pend_off, pend_cap;
	int want_out;       /* EPOLLOUT currently requested */
};

struct thread_ctx {
	int lfd, ep;
	uint8_t buf[BUF_SZ];
};

static struct sockaddr_storage listen_ss;
static socklen_t listen_len;
static uint8_t zeros[BUF_SZ];

static void conn_close(struct thread_ctx *t, struct conn *c)
{
	epoll_ctl(t->ep, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	free(c->pend);
	free(c);
}

static int conn_events(struct thread_ctx *t, struct conn *c, int want_out)
{
	struct epoll_event ev = { .events = EPOLLIN | EPOLLRDHUP, .data.ptr = c };

	if (want_out == c->want_out)
		return 0;
	c->want_out = want_out;
	if (want_out)
		ev.events |= EPOLLOUT;
	/* While output is pending (echo), stop reading: backpressure. */
	if (want_out && c->st != ST_SOURCE && c->st != ST_REPLY)
		ev.events &= ~EPOLLIN;
	return epoll_ctl(t->ep, EPOLL_CTL_MOD, c->fd, &ev);
}

/* Queue @n bytes of output. Returns 0 or -ENOMEM. */
static int conn_queue(struct conn *c, const void *p, size_t n)
{
	if (c->pend_off == c->pend_len)
		c->pend_off = c->pend_len = 0;
	if (c->pend_len + n > c->pend_cap) {
		size_t cap = c->pend_cap ? c->pend_cap * 2 : 4096;
		uint8_t *nb;

		while (cap < c->pend_len + n)
			cap *= 2;
		nb = realloc(c->pend, cap);
		if (!nb)
			return -ENOMEM;
		c->pend = nb;
		c->pend_cap = cap;
	}
	memcpy(c->pend + c->pend_len, p, n);
	c->pend_len += n;
	return 0;
}

/* Write what we can. Returns 1 when everything is out, 0 if blocked,
 * -1 on error. */
static int conn_flush(struct conn *c)
{
	while (c->pend_off < c->pend_len) {
		ssize_t w = send(c->fd, c->pend + c->pend_off, c->pend_len - c->pend_off,
				 MSG_NOSIGNAL | MSG_DONTWAIT);
		if (w < 0)
			return (errno == EAGAIN || errno == EINTR) ? 0 : -1;
		c->pend_off += (size_t)w;
	}
	return 1;
}

/* Send the rest of a SOURCE/REPLY payload. Same returns as conn_flush. */
static int conn_send_left(struct conn *c)
{
	while (c->left) {
		size_t n = c->left < BUF_SZ ? c->left : BUF_SZ;
		ssize_t w = send(c->fd, zeros, n, MSG_NOSIGNAL | MSG_DONTWAIT);

		if (w < 0)
			return (errno == EAGAIN || errno == EINTR) ? 0 : -1;
		c->left -= (uint64_t)w;
	}
	return 1;
}

/* Act on a complete command header. Returns 0, or -1 to close. */
static int conn_command(struct conn *c)
{
	struct bench_cmd cmd;
	uint8_t one = 'k';

	memcpy(&cmd, c->hdr, sizeof(cmd));
	if (be32toh(cmd.magic) != BENCH_MAGIC) {
		fprintf(stderr, "bench_backend: bad command magic, closing\n");
		return -1;
	}
	c->left = c->total = be64toh(cmd.arg);
	switch (be32toh(cmd.op)) {
	case BENCH_OP_SINK:
		c->st = ST_SINK;
		if (!c->left) {
			uint64_t z = 0;

			c->st = ST_DRAIN;
			return conn_queue(c, &z, sizeof(z));
		}
		return 0;
	case BENCH_OP_SOURCE:
		c->st = ST_SOURCE;
		return 0;
	case BENCH_OP_ECHO:
		c->st = ST_ECHO;
		return 0;
	case BENCH_OP_REPLY:
		c->st = ST_REPLY;
		return 0;
	case BENCH_OP_HOLD:
		c->st = ST_DRAIN;
		return conn_queue(c, &one, 1);
	default:
		fprintf(stderr, "bench_backend: unknown op %u, closing\n", be32toh(cmd.op));
		return -1;
	}
}

/* Consume received bytes. Returns 0, or -1 to close. */
static int conn_input(struct conn *c, const uint8_t *p, size_t n)
{
	while (n) {
		size_t k;

		switch (c->st) {
		case ST_PRE: {
			size_t need = (c->hdr_len && c->hdr[0] == 0x16) ? 5 : 16;

			if (!c->hdr_len && p[0] == 0x16)
				need = 5;
			k = need - c->hdr_len;
			if (k > n)
				k = n;
			memcpy(c->hdr + c->hdr_len, p, k);
			c->hdr_len += k;
			p += k;
			n -= k;
			if (c->hdr_len < need)
				break;
			c->hdr_len = 0;
			if (need == 5) {
				c->left = (uint64_t)c->hdr[3] << 8 | c->hdr[4];
				c->st = c->left ? ST_SKIP : ST_PRE;
			} else if (conn_command(c)) {
				return -1;
			}
			break;
		}
		case ST_SKIP:
			k = c->left < n ? (size_t)c->left : n;
			c->left -= k;
			p += k;
			n -= k;
			if (!c->left)
				c->st = ST_PRE;
			break;
		case ST_SINK:
			k = c->left < n ? (size_t)c->left : n;
			c->left -= k;
			p += k;
			n -= k;
			if (!c->left) {
				/* We only get here once all of it arrived. */
				uint64_t got = htobe64(c->total);

				c->st = ST_DRAIN;
				if (conn_queue(c, &got, sizeof(got)))
					return -1;
			}
			break;
		case ST_ECHO:
			if (conn_queue(c, p, n))
				return -1;
			n = 0;
			break;
		default: /* SOURCE, REPLY, DRAIN: discard */
			n = 0;
			break;
		}
	}
	return 0;
}

/* Drive output after input or EPOLLOUT. Returns 0, or -1 to close. */
static int conn_output(struct thread_ctx *t, struct conn *c)
{
	int r = conn_flush(c);

	if (r < 0)
		return -1;
	if (r > 0 && (c->st == ST_SOURCE || c->st == ST_REPLY)) {
		r = conn_send_left(c);
		if (r < 0)
			return -1;
		if (r > 0) {
			if (c->st == ST_REPLY)
				return -1; /* reply sent: close */
			c->st = ST_DRAIN;
		}
	}
	return conn_events(t, c, r == 0);
}

static void conn_readable(struct thread_ctx *t, struct conn *c)
{
	for (;;) {
		ssize_t r = recv(c->fd, t->buf, sizeof(t->buf), MSG_DONTWAIT);

		if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR))
			goto close;
		if (r < 0)
			break;
		if (conn_input(c, t->buf, (size_t)r))
			goto close;
		if (c->pend_len > c->pend_off || c->st == ST_SOURCE || c->st == ST_REPLY)
			break; /* flush before reading more */
		if ((size_t)r < sizeof(t->buf))
			break;
	}
	if (conn_output(t, c))
		goto close;
	return;
close:
	conn_close(t, c);
}

static void accept_all(struct thread_ctx *t)
{
	for (;;) {
		int one = 1, fd = accept4(t->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		struct epoll_event ev = { .events = EPOLLIN | EPOLLRDHUP };
		struct conn *c;

		if (fd < 0) {
			if (errno == EMFILE || errno == ENFILE)
				fprintf(stderr, "bench_backend: accept: %s\n", strerror(errno));
			return;
		}
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		c = calloc(1, sizeof(*c));
		if (!c) {
			close(fd);
			continue;
		}
		c->fd = fd;
		ev.data.ptr = c;
		if (epoll_ctl(t->ep, EPOLL_CTL_ADD, fd, &ev)) {
			close(fd);
			free(c);
		}
	}
}

static void *thread_main(void *arg)
{
	struct thread_ctx *t = arg;
	struct epoll_event evs[256];

	for (;;) {
		int i, n = epoll_wait(t->ep, evs, 256, -1);

		for (i = 0; i < n; i++) {
			struct conn *c = evs[i].data.ptr;

			if (!c) {
				accept_all(t);
				continue;
			}
			if (evs[i].events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
				conn_readable(t, c);
			} else if (evs[i].events & EPOLLOUT) {
				if (conn_output(t, c))
					conn_close(t, c);
			}
		}
	}
	return NULL;
}

static int thread_setup(struct thread_ctx *t)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = NULL };
	int one = 1;

	t->lfd = socket(listen_ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (t->lfd < 0)
		return -errno;
	setsockopt(t->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	setsockopt(t->lfd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
	if (bind(t->lfd, (struct sockaddr *)&listen_ss, listen_len) || listen(t->lfd, 65535))
		return -errno;
	t->ep = epoll_create1(EPOLL_CLOEXEC);
	if (t->ep < 0 || epoll_ctl(t->ep, EPOLL_CTL_ADD, t->lfd, &ev))
		return -errno;
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option lopts[] = {
		{ "listen", required_argument, NULL, 'l' },
		{ "threads", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	const char *listen_at = NULL;
	long nthreads = sysconf(_SC_NPROCESSORS_ONLN);
	struct thread_ctx *ts;
	pthread_t tid;
	int o, i, err;

	while ((o = getopt_long(argc, argv, "l:t:h", lopts, NULL)) != -1) {
		switch (o) {
		case 'l': listen_at = optarg; break;
		case 't': nthreads = strtol(optarg, NULL, 10); break;
		default:
			fprintf(stderr, "usage: bench_backend --listen HOST:PORT [--threads N]\n");
			return o == 'h' ? 0 : 2;
		}
	}
	if (!listen_at || bench_parse_hostport(listen_at, &listen_ss, &listen_len) ||
	    nthreads < 1 || nthreads > 64) {
		fprintf(stderr, "bench_backend: need --listen HOST:PORT and 1..64 threads\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	bench_raise_nofile();
	ts = calloc((size_t)nthreads, sizeof(*ts));
	if (!ts)
		return 1;
	for (i = 0; i < nthreads; i++) {
		err = thread_setup(&ts[i]);
		if (err) {
			fprintf(stderr, "bench_backend: listen %s: %s\n", listen_at, strerror(-err));
			return 1;
		}
	}
	for (i = 1; i < nthreads; i++)
		if (pthread_create(&tid, NULL, thread_main, &ts[i])) {
			fprintf(stderr, "bench_backend: pthread_create failed\n");
			return 1;
		}
	thread_main(&ts[0]);
	return 0;
}
