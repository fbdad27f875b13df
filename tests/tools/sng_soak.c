// SPDX-License-Identifier: GPL-2.0-only
/* Soak load: thousands of concurrent long-lived connections, each streaming a
 * position-checked pattern through the gateway to a verbatim echo server.
 *
 *   sng_soak server --listen ADDR:PORT
 *       epoll echo server: every byte read is written back, FIN after FIN.
 *   sng_soak client --connect ADDR:PORT --conns N [--hello FILE | --tls SNI
 *                   [--ca PEM]] [--seconds S] [--rate B] [--chunk B]
 *       N connections (opened 100 per 10 ms), each sends --hello first (a
 *       passthrough ClientHello, echoed back verbatim by the backend) or runs a
 *       real TLS handshake (terminate), then writes --chunk bytes of its own
 *       pattern at --rate bytes/s (at most --window bytes ahead of what came
 *       back), for S seconds; then it stops, waits for every byte to come back,
 *       half-closes and waits for the echo's FIN. Every received byte is
 *       compared with the pattern (per connection seed). Prints one JSON line:
 *       conns, established, failed, bytes sent / verified, mismatches, lost.
 * Exit 0 only if every connection verified every byte it sent. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int parse_addr(const char *spec, struct sockaddr_storage *ss, socklen_t *len)
{
	char host[256];
	const char *colon = strrchr(spec, ':');
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICHOST }, *ai;
	size_t hl;

	if (!colon || (hl = (size_t)(colon - spec)) >= sizeof(host) || hl < 1)
		return -1;
	memcpy(host, spec[0] == '[' ? spec + 1 : spec, spec[0] == '[' ? hl - 2 : hl);
	host[spec[0] == '[' ? hl - 2 : hl] = 0;
	if (getaddrinfo(host, colon + 1, &hints, &ai))
		return -1;
	memcpy(ss, ai->ai_addr, ai->ai_addrlen);
	*len = ai->ai_addrlen;
	freeaddrinfo(ai);
	return 0;
}

static uint64_t parse_size(const char *s)
{
	char *e;
	double v = strtod(s, &e);

	switch (*e) {
	case 'k': case 'K': v *= 1024; break;
	case 'm': case 'M': v *= 1024 * 1024; break;
	case 'g': case 'G': v *= 1024.0 * 1024 * 1024; break;
	}
	return (uint64_t)v;
}

/* ---- echo server ------------------------------------------------------- */

#define ECHO_BUF (64 * 1024)

struct echo {
	int fd;
	size_t off, len;
	bool eof;
	uint8_t buf[ECHO_BUF];
};

static int run_server(const char *listen_spec)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	struct epoll_event ev, evs[256];
	int lfd, ep, one = 1, n, i;

	if (parse_addr(listen_spec, &ss, &sl)) {
		fprintf(stderr, "sng_soak: bad address %s\n", listen_spec);
		return 2;
	}
	lfd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK, 0);
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&ss, sl) || listen(lfd, 4096)) {
		perror("sng_soak: listen");
		return 1;
	}
	ep = epoll_create1(0);
	ev.events = EPOLLIN;
	ev.data.ptr = NULL;
	epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
	for (;;) {
		n = epoll_wait(ep, evs, 256, -1);
		for (i = 0; i < n; i++) {
			struct echo *e = evs[i].data.ptr;
			ssize_t r;

			if (!e) {
				int fd;

				while ((fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
					e = calloc(1, sizeof(*e));
					if (!e) {
						close(fd);
						continue;
					}
					e->fd = fd;
					ev.events = EPOLLIN | EPOLLRDHUP;
					ev.data.ptr = e;
					epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
				}
				continue;
			}
			for (;;) {
				if (e->len > e->off) {
					r = send(e->fd, e->buf + e->off, e->len - e->off, MSG_NOSIGNAL);
					if (r < 0 && errno == EAGAIN)
						break;
					if (r < 0)
						goto drop;
					e->off += (size_t)r;
					continue;
				}
				e->off = e->len = 0;
				if (e->eof) {
					shutdown(e->fd, SHUT_WR);
					goto drop;
				}
				r = recv(e->fd, e->buf, sizeof(e->buf), 0);
				if (r > 0) {
					e->len = (size_t)r;
					continue;
				}
				if (r == 0) {
					e->eof = true;
					continue;
				}
				if (errno == EAGAIN)
					break;
				goto drop;
			}
			ev.events = e->len > e->off ? EPOLLOUT : EPOLLIN | EPOLLRDHUP;
			ev.data.ptr = e;
			epoll_ctl(ep, EPOLL_CTL_MOD, e->fd, &ev);
			continue;
drop:
			epoll_ctl(ep, EPOLL_CTL_DEL, e->fd, NULL);
			close(e->fd);
			free(e);
		}
	}
}

/* ---- client ------------------------------------------------------------ */

enum cstate { C_CONNECT, C_HANDSHAKE, C_RUN, C_DRAIN, C_SHUT, C_DONE, C_FAIL };

struct cl {
	int fd;
	enum cstate st;
	SSL *ssl;
	uint32_t seed;
	uint64_t sent, got;     /* pattern bytes */
	size_t hello_sent, hello_got;
	double t_run;           /* when the stream started (pacing) */
	const char *why;
};

static struct {
	struct sockaddr_storage ss;
	socklen_t sl;
	unsigned conns;
	uint8_t *hello;
	size_t hello_len;
	const char *sni, *ca;
	double seconds;
	uint64_t rate, chunk, window;
	SSL_CTX *ctx;
} o = { .conns = 100, .seconds = 10, .rate = 16 * 1024, .chunk = 4096, .window = 256 * 1024 };

static inline uint8_t pat(uint32_t seed, uint64_t p)
{
	uint64_t x = (p >> 3) * 0x9E3779B97F4A7C15ull + seed;

	return (uint8_t)(x >> ((p & 7) * 8));
}

static int ep;

static char first_detail[256];

static void cl_fail(struct cl *c, const char *why)
{
	if (c->st == C_FAIL || c->st == C_DONE)
		return;
	if (!first_detail[0]) {
		unsigned long e = ERR_peek_error();
		char eb[160] = "";

		if (e)
			ERR_error_string_n(e, eb, sizeof(eb));
		snprintf(first_detail, sizeof(first_detail), "%s: state %d, sent %llu got %llu, errno %d%s%s",
			 why, (int)c->st, (unsigned long long)c->sent, (unsigned long long)c->got, errno,
			 eb[0] ? ", " : "", eb);
	}
	ERR_clear_error();
	c->why = why;
	c->st = C_FAIL;
	if (c->fd >= 0) {
		epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
		close(c->fd);
		c->fd = -1;
	}
}

static void cl_start(struct cl *c, unsigned idx)
{
	struct epoll_event ev = { .events = EPOLLOUT | EPOLLIN, .data.ptr = c };
	int one = 1;

	c->seed = idx * 2654435761u + 1;
	c->fd = socket(o.ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK, 0);
	if (c->fd < 0) {
		c->st = C_FAIL;
		c->why = "socket";
		return;
	}
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(c->fd, (struct sockaddr *)&o.ss, o.sl) && errno != EINPROGRESS) {
		close(c->fd);
		c->fd = -1;
		c->st = C_FAIL;
		c->why = "connect";
		return;
	}
	c->st = C_CONNECT;
	epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
}

/* Write up to @n bytes; returns bytes written, 0 on EAGAIN, -1 on error. */
static ssize_t cl_write(struct cl *c, const uint8_t *p, size_t n)
{
	ssize_t w;

	if (c->ssl) {
		int r;

		ERR_clear_error();
		r = SSL_write(c->ssl, p, (int)n);
		if (r > 0)
			return r;
		r = SSL_get_error(c->ssl, r);
		return r == SSL_ERROR_WANT_READ || r == SSL_ERROR_WANT_WRITE ? 0 : -1;
	}
	w = send(c->fd, p, n, MSG_NOSIGNAL);
	if (w < 0)
		return errno == EAGAIN ? 0 : -1;
	return w;
}

/* Read into @p; returns bytes, 0 on EAGAIN, -1 on error, -2 on EOF. */
static ssize_t cl_read(struct cl *c, uint8_t *p, size_t n)
{
	ssize_t r;

	if (c->ssl) {
		int e;

		ERR_clear_error();
		e = SSL_read(c->ssl, p, (int)n);
		if (e > 0)
			return e;
		e = SSL_get_error(c->ssl, e);
		if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
			return 0;
		return e == SSL_ERROR_ZERO_RETURN ? -2 : -1;
	}
	r = recv(c->fd, p, n, 0);
	if (r > 0)
		return r;
	if (r == 0)
		return -2;
	return errno == EAGAIN ? 0 : -1;
}

static void cl_interest(struct cl *c, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.ptr = c };

	epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
}

/* One step: finish connect/handshake, read and verify what is there (when
 * @readable), then write the next chunk if the pacing allows it. */
static void cl_step(struct cl *c, bool readable, bool writing, double t)
{
	static uint8_t buf[64 * 1024], out[64 * 1024];
	ssize_t r;
	size_t i;

	if (c->st == C_CONNECT) {
		int err = 0;
		socklen_t el = sizeof(err);

		getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el);
		if (err) {
			cl_fail(c, "connect");
			return;
		}
		cl_interest(c, EPOLLIN);
		readable = true;
		if (o.sni) {
			c->ssl = SSL_new(o.ctx);
			SSL_set_fd(c->ssl, c->fd);
			SSL_set_tlsext_host_name(c->ssl, o.sni);
			SSL_set1_host(c->ssl, o.sni);
			c->st = C_HANDSHAKE;
		} else {
			c->st = C_RUN;
		}
	}
	if (c->st == C_HANDSHAKE) {
		int e;

		ERR_clear_error();
		e = SSL_connect(c->ssl);
		if (e != 1) {
			e = SSL_get_error(c->ssl, e);
			if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE)
				cl_fail(c, "handshake");
			else
				cl_interest(c, e == SSL_ERROR_WANT_WRITE ? EPOLLOUT : EPOLLIN);
			return;
		}
		cl_interest(c, EPOLLIN);
		c->st = C_RUN;
	}
	if (!c->t_run)
		c->t_run = t;
	if (c->st == C_RUN && !writing)
		c->st = C_DRAIN; /* came up after the stop: drain at once */
	/* read and verify everything available */
	while (readable) {
		r = cl_read(c, buf, sizeof(buf));
		if (r == 0)
			break;
		if (r == -1) {
			cl_fail(c, "recv");
			return;
		}
		if (r == -2) {
			if (c->st == C_SHUT && c->got == c->sent) {
				c->st = C_DONE;
				epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
				if (c->ssl)
					SSL_free(c->ssl);
				c->ssl = NULL;
				close(c->fd);
				c->fd = -1;
			} else {
				cl_fail(c, "eof");
			}
			return;
		}
		i = 0;
		while (c->hello_got < o.hello_len && i < (size_t)r) {
			if (buf[i] != o.hello[c->hello_got]) {
				cl_fail(c, "mismatch");
				return;
			}
			i++;
			c->hello_got++;
		}
		for (; i < (size_t)r; i++, c->got++)
			if (c->got >= c->sent || buf[i] != pat(c->seed, c->got)) {
				cl_fail(c, "mismatch");
				return;
			}
	}
	if (c->st != C_RUN && c->st != C_DRAIN)
		return;
	while (c->hello_sent < o.hello_len) {
		r = cl_write(c, o.hello + c->hello_sent, o.hello_len - c->hello_sent);
		if (r < 0) {
			cl_fail(c, "send");
			return;
		}
		if (r == 0)
			return;
		c->hello_sent += (size_t)r;
	}
	if (c->st == C_RUN && writing && c->sent - c->got < o.window &&
	    (double)c->sent < (double)o.rate * (t - c->t_run + 0.001)) {
		size_t n = o.chunk > sizeof(out) ? sizeof(out) : o.chunk;

		for (i = 0; i < n; i++)
			out[i] = pat(c->seed, c->sent + i);
		r = cl_write(c, out, n);
		if (r < 0) {
			cl_fail(c, "send");
			return;
		}
		c->sent += (uint64_t)r;
	}
	if (c->st == C_DRAIN && c->got == c->sent && c->hello_got == o.hello_len) {
		if (c->ssl)
			SSL_shutdown(c->ssl); /* close_notify: the agent FINs the backend */
		else
			shutdown(c->fd, SHUT_WR);
		c->st = C_SHUT;
	}
}

static int run_client(void)
{
	struct cl *cs = calloc(o.conns, sizeof(*cs));
	struct epoll_event evs[512];
	unsigned started = 0, i, est = 0, failed = 0, done = 0, mism = 0;
	uint64_t sent = 0, got = 0;
	double t0 = now_s(), t_stop, t_end, last_tick = 0, last_open = 0;
	const char *first_why = NULL;
	bool draining = false;

	if (!cs)
		return 1;
	ep = epoll_create1(0);
	t_stop = t0 + o.seconds;
	t_end = t_stop + 60;
	while (now_s() < t_end) {
		double t = now_s();
		int n, k;

		/* open in bursts of 100 per 10 ms (listen backlogs) */
		if (t - last_open >= 0.01) {
			last_open = t;
			for (k = 0; k < 100 && started < o.conns; k++, started++)
				cl_start(&cs[started], started);
		}
		if (!draining && t >= t_stop) {
			draining = true;
			for (i = 0; i < started; i++)
				if (cs[i].st == C_RUN)
					cs[i].st = C_DRAIN;
		}
		n = epoll_wait(ep, evs, 512, 10);
		t = now_s();
		for (k = 0; k < n; k++)
			cl_step(evs[k].data.ptr, true, !draining, t);
		/* a pacing tick for everyone every 20 ms: writes only */
		if (t - last_tick >= 0.02) {
			last_tick = t;
			for (i = 0; i < started; i++)
				if (cs[i].st == C_RUN || cs[i].st == C_DRAIN)
					cl_step(&cs[i], false, !draining, t);
		}
		if (draining) {
			for (i = 0, done = 0; i < started; i++)
				done += cs[i].st == C_DONE || cs[i].st == C_FAIL;
			if (done == o.conns)
				break;
		}
	}
	for (i = 0; i < o.conns; i++) {
		struct cl *c = &cs[i];

		if (c->st == C_DONE)
			est++;
		else {
			failed++;
			if (!c->why)
				c->why = "timeout";
			if (!first_why)
				first_why = c->why;
			if (c->why && !strcmp(c->why, "mismatch"))
				mism++;
		}
		sent += c->sent;
		got += c->got;
	}
	printf("{\"role\":\"soak-client\",\"conns\":%u,\"done\":%u,\"failed\":%u,\"mismatches\":%u,"
	       "\"bytes_sent\":%llu,\"bytes_verified\":%llu,\"bytes_lost\":%llu,\"secs\":%.1f,"
	       "\"tls\":%s,\"verdict\":\"%s\"%s%s%s}\n",
	       o.conns, est, failed, mism, (unsigned long long)sent, (unsigned long long)got,
	       (unsigned long long)(sent - got), now_s() - t0, o.sni ? "true" : "false",
	       failed ? "fail" : "ok", first_why ? ",\"first_error\":\"" : "",
	       first_detail[0] ? first_detail : first_why ? first_why : "", first_why ? "\"" : "");
	return failed ? 1 : 0;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: sng_soak server --listen ADDR:PORT\n"
		   "       sng_soak client --connect ADDR:PORT --conns N [--hello FILE | --tls SNI [--ca PEM]]\n"
		   "                       [--seconds S] [--rate B/s] [--chunk B] [--window B]\n"
		   "  client: N concurrent connections streaming a checked pattern to an echo\n"
		   "  server for S seconds (--rate: bytes per second per connection, default\n"
		   "  16k; --chunk: bytes per write, default 4k; --window: max bytes not yet\n"
		   "  echoed, default 256k); one JSON line.\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "listen", 1, 0, 'l' }, { "connect", 1, 0, 'c' }, { "conns", 1, 0, 'n' },
		{ "hello", 1, 0, 'H' }, { "tls", 1, 0, 't' }, { "ca", 1, 0, 'a' },
		{ "seconds", 1, 0, 's' }, { "rate", 1, 0, 'r' }, { "chunk", 1, 0, 'k' },
		{ "window", 1, 0, 'w' },
		{ "help", 0, 0, 'h' }, { 0 } };
	const char *listen_spec = NULL, *connect_spec = NULL, *hello = NULL;
	bool server;
	int c;

	if (argc < 2 || (strcmp(argv[1], "server") && strcmp(argv[1], "client"))) {
		usage(argc > 1 && !strcmp(argv[1], "--help") ? stdout : stderr);
		return argc > 1 && !strcmp(argv[1], "--help") ? 0 : 2;
	}
	server = !strcmp(argv[1], "server");
	optind = 2;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'l': listen_spec = optarg; break;
		case 'c': connect_spec = optarg; break;
		case 'n': o.conns = (unsigned)atoi(optarg); break;
		case 'H': hello = optarg; break;
		case 't': o.sni = optarg; break;
		case 'a': o.ca = optarg; break;
		case 's': o.seconds = atof(optarg); break;
		case 'r': o.rate = parse_size(optarg); break;
		case 'k': o.chunk = parse_size(optarg); break;
		case 'w': o.window = parse_size(optarg); break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	signal(SIGPIPE, SIG_IGN);
	if (server) {
		if (!listen_spec) {
			usage(stderr);
			return 2;
		}
		return run_server(listen_spec);
	}
	if (!connect_spec || parse_addr(connect_spec, &o.ss, &o.sl) || !o.conns || !o.chunk) {
		usage(stderr);
		return 2;
	}
	if (hello) {
		FILE *f = fopen(hello, "rb");

		o.hello = malloc(65536);
		if (!f || !o.hello) {
			perror(hello);
			return 2;
		}
		o.hello_len = fread(o.hello, 1, 65536, f);
		fclose(f);
	}
	if (o.sni) {
		o.ctx = SSL_CTX_new(TLS_client_method());
		if (!o.ctx)
			return 1;
		SSL_CTX_set_verify(o.ctx, o.ca ? SSL_VERIFY_PEER : SSL_VERIFY_NONE, NULL);
		if (o.ca && SSL_CTX_load_verify_locations(o.ctx, o.ca, NULL) != 1) {
			fprintf(stderr, "sng_soak: cannot load CA %s\n", o.ca);
			return 2;
		}
	}
	return run_client();
}
