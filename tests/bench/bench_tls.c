// SPDX-License-Identifier: GPL-2.0-only
/* Terminate load generator (OpenSSL client): full or resumed handshakes per
 * second with C connections in flight, and TLS bulk throughput. */
#include <getopt.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "bench_proto.h"
#include "bench_cpu.h"

#define IO_SZ (64 * 1024)

enum mode { M_HS, M_RESUME, M_UP, M_DOWN, M_PROBE };

static struct {
	struct sockaddr_storage ss;
	socklen_t sslen;
	enum mode mode;
	const char *sni;
	unsigned concurrency;
	double duration, timeout;
	uint64_t bytes;
	int version;
	int pids[BENCH_MAX_PIDS], npids;
	int bpids[BENCH_MAX_PIDS], nbpids;
} opt = { .mode = M_HS, .concurrency = 1, .duration = 2, .timeout = 60,
	  .bytes = 256ull << 20, .version = TLS1_3_VERSION };

static SSL_CTX *ctx;
static SSL_SESSION *session; /* latest ticket, for M_RESUME */
static char cipher[64] = "none"; /* negotiated by the last completed connection */
static uint8_t iobuf[IO_SZ];

static void die(const char *what)
{
	unsigned long e = ERR_get_error();

	fprintf(stderr, "bench_tls: %s: %s%s%s\n", what, strerror(errno), e ? " / " : "",
		e ? ERR_error_string(e, NULL) : "");
	exit(1);
}

static SSL *new_ssl(int fd)
{
	SSL *s = SSL_new(ctx);

	if (!s || SSL_set_fd(s, fd) != 1 || SSL_set_tlsext_host_name(s, opt.sni) != 1)
		die("SSL_new");
	SSL_set_connect_state(s);
	if (opt.mode == M_RESUME && session)
		SSL_set_session(s, session);
	return s;
}

static void ssl_write_all(SSL *s, const void *p, size_t n)
{
	const uint8_t *b = p;

	while (n) {
		int w = SSL_write(s, b, (int)(n > IO_SZ ? IO_SZ : n));

		if (w <= 0)
			die("SSL_write");
		b += w;
		n -= (size_t)w;
	}
}

static void ssl_read_full(SSL *s, void *p, size_t n)
{
	uint8_t *b = p;

	while (n) {
		int r = SSL_read(s, b, (int)(n > IO_SZ ? IO_SZ : n));

		if (r <= 0)
			die("SSL_read");
		b += r;
		n -= (size_t)r;
	}
}

/* One blocking connection: handshake, command, optional payload. Used for
 * bulk runs and to obtain the first session ticket. */
static SSL *blocking_connect(int *fdp)
{
	int fd = bench_connect(&opt.ss, opt.sslen, 0);
	SSL *s;

	if (fd < 0)
		die("connect");
	s = new_ssl(fd);
	if (SSL_connect(s) != 1)
		die("SSL_connect");
	*fdp = fd;
	return s;
}

static void run_bulk(void)
{
	struct bench_cpu c0, c1;
	struct bench_cmd cmd;
	uint64_t t0, t1, left = opt.bytes;
	int fd;
	SSL *s;

	bench_cpu_sample(&c0, opt.pids, opt.npids, opt.bpids, opt.nbpids);
	t0 = bench_now_ns();
	s = blocking_connect(&fd);
	bench_cmd_fill(&cmd, opt.mode == M_UP ? BENCH_OP_SINK : BENCH_OP_SOURCE, opt.bytes);
	ssl_write_all(s, &cmd, sizeof(cmd));
	if (opt.mode == M_UP) {
		uint64_t cnt;

		while (left) {
			size_t n = left < IO_SZ ? left : IO_SZ;

			ssl_write_all(s, iobuf, n);
			left -= n;
		}
		ssl_read_full(s, &cnt, sizeof(cnt));
		if (be64toh(cnt) != opt.bytes) {
			fprintf(stderr, "bench_tls: backend counted %llu bytes\n",
				(unsigned long long)be64toh(cnt));
			exit(3);
		}
	} else {
		while (left) {
			int r = SSL_read(s, iobuf, (int)(left < IO_SZ ? left : IO_SZ));

			if (r <= 0)
				die("SSL_read");
			left -= (uint64_t)r;
		}
	}
	t1 = bench_now_ns();
	bench_cpu_sample(&c1, opt.pids, opt.npids, opt.bpids, opt.nbpids);
	snprintf(cipher, sizeof(cipher), "%s", SSL_get_cipher_name(s));
	SSL_free(s);
	close(fd);
	printf("{\"mode\":\"tls-%s\",\"bytes\":%llu,\"seconds\":%.6f,\"gbit_s\":%.3f,"
	       "\"cipher\":\"%s\",",
	       opt.mode == M_UP ? "up" : "down", (unsigned long long)opt.bytes,
	       (double)(t1 - t0) / 1e9, (double)opt.bytes * 8 / (double)(t1 - t0), cipher);
	bench_cpu_json(stdout, &c0, &c1);
	printf("}\n");
}

/* ---- handshakes: C connections in flight in one epoll loop --------------- */

enum slot_state { S_CONNECT, S_HANDSHAKE, S_WRITE, S_READ, S_EOF };

struct slot {
	int fd;
	SSL *ssl;
	enum slot_state st;
	size_t got;
	uint64_t t0;
};

static struct slot *slots;
static int ep;
static uint64_t nconns, nerrors, nreused;
static char last_error[160] = "none";

static void slot_watch(unsigned i, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.u32 = i };

	epoll_ctl(ep, EPOLL_CTL_MOD, slots[i].fd, &ev);
}

static void slot_start(unsigned i)
{
	struct epoll_event ev = { .events = EPOLLOUT, .data.u32 = i };
	struct slot *s = &slots[i];

	memset(s, 0, sizeof(*s));
	s->t0 = bench_now_ns();
	s->fd = bench_connect(&opt.ss, opt.sslen, 1);
	if (s->fd < 0) {
		nerrors++;
		return;
	}
	s->ssl = new_ssl(s->fd);
	if (epoll_ctl(ep, EPOLL_CTL_ADD, s->fd, &ev))
		die("epoll_ctl");
}

static void slot_end(unsigned i, int ok)
{
	struct slot *s = &slots[i];

	if (ok) {
		nconns++;
		snprintf(cipher, sizeof(cipher), "%s", SSL_get_cipher_name(s->ssl));
		if (SSL_session_reused(s->ssl))
			nreused++;
		if (opt.mode == M_RESUME) {
			SSL_SESSION *n = SSL_get1_session(s->ssl);

			if (n) {
				SSL_SESSION_free(session);
				session = n;
			}
		}
	} else {
		unsigned long e = ERR_peek_last_error();

		nerrors++;
		snprintf(last_error, sizeof(last_error), "%s in state %d, errno %s",
			 e ? ERR_reason_error_string(e) : "no TLS error", (int)s->st,
			 strerror(errno));
	}
	if (s->fd >= 0) {
		epoll_ctl(ep, EPOLL_CTL_DEL, s->fd, NULL);
		close(s->fd);
	}
	/* A session freed without a shutdown is marked not resumable. */
	if (ok && s->ssl)
		SSL_shutdown(s->ssl);
	SSL_free(s->ssl);
	s->ssl = NULL;
	s->fd = -1;
}

/* Map an SSL result to the events to wait for; -1 on a real error. */
static int ssl_wait(struct slot *s, int ret, uint32_t *ev)
{
	switch (SSL_get_error(s->ssl, ret)) {
	case SSL_ERROR_WANT_READ: *ev = EPOLLIN; return 0;
	case SSL_ERROR_WANT_WRITE: *ev = EPOLLOUT; return 0;
	default: return -1;
	}
}

/* Advance a slot. Returns 1 when done, -1 on error, 0 to wait. */
static int slot_step(unsigned i)
{
	struct slot *s = &slots[i];
	struct bench_cmd cmd;
	uint32_t ev;
	int r;

	for (;;) {
		ERR_clear_error();
		switch (s->st) {
		case S_CONNECT:
		case S_HANDSHAKE:
			s->st = S_HANDSHAKE;
			r = SSL_connect(s->ssl);
			if (r != 1)
				goto wait;
			s->st = S_WRITE;
			break;
		case S_WRITE:
			bench_cmd_fill(&cmd, BENCH_OP_REPLY, 64);
			r = SSL_write(s->ssl, &cmd, sizeof(cmd));
			if (r <= 0)
				goto wait;
			s->st = S_READ;
			break;
		case S_READ:
		case S_EOF:
			r = SSL_read(s->ssl, iobuf, sizeof(iobuf));
			if (r > 0) {
				s->got += (size_t)r;
				break;
			}
			if (s->got >= 64) {
				int e = SSL_get_error(s->ssl, r);

				/* close_notify or a bare FIN after the reply: done */
				if (e == SSL_ERROR_ZERO_RETURN || e == SSL_ERROR_SYSCALL)
					return 1;
			}
			goto wait;
		}
	}
wait:
	if (ssl_wait(s, r, &ev))
		return -1;
	slot_watch(i, ev);
	return 0;
}

static void get_first_session(void)
{
	struct bench_cmd cmd;
	uint8_t reply[64];
	int fd;
	SSL *s = blocking_connect(&fd);

	bench_cmd_fill(&cmd, BENCH_OP_REPLY, 64);
	ssl_write_all(s, &cmd, sizeof(cmd));
	ssl_read_full(s, reply, sizeof(reply)); /* NewSessionTicket arrives before */
	session = SSL_get1_session(s);
	SSL_shutdown(s); /* quiet: keeps the session resumable */
	SSL_free(s);
	if (!session || !SSL_SESSION_is_resumable(session)) {
		fprintf(stderr, "bench_tls: the server issued no resumable session\n");
		exit(3);
	}
	close(fd);
}

/* One blocking handshake + 64-byte request/answer within opt.timeout.
 * Returns the exit code: 0 when the path works. */
static int run_probe(void)
{
	struct timeval tv = { .tv_sec = (time_t)opt.timeout };
	struct bench_cmd cmd;
	uint8_t reply[64];
	size_t got = 0;
	int fd = bench_connect(&opt.ss, opt.sslen, 0);
	SSL *s;

	if (fd < 0)
		return 1;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	s = new_ssl(fd);
	if (SSL_connect(s) != 1)
		goto fail;
	bench_cmd_fill(&cmd, BENCH_OP_REPLY, sizeof(reply));
	if (SSL_write(s, &cmd, sizeof(cmd)) != (int)sizeof(cmd))
		goto fail;
	while (got < sizeof(reply)) {
		int r = SSL_read(s, reply + got, (int)(sizeof(reply) - got));

		if (r <= 0)
			goto fail;
		got += (size_t)r;
	}
	SSL_free(s);
	close(fd);
	return 0;
fail:
	fprintf(stderr, "bench_tls: probe failed after %zu reply bytes: %s\n", got,
		ERR_reason_error_string(ERR_peek_last_error()) ?: strerror(errno));
	SSL_free(s);
	close(fd);
	return 1;
}

static void run_hs(void)
{
	struct bench_cpu c0, c1;
	uint64_t t0, t1, tend;
	unsigned i;

	if (opt.mode == M_RESUME)
		get_first_session();
	slots = calloc(opt.concurrency, sizeof(*slots));
	ep = epoll_create1(0);
	if (!slots || ep < 0)
		die("setup");
	bench_cpu_sample(&c0, opt.pids, opt.npids, opt.bpids, opt.nbpids);
	t0 = bench_now_ns();
	tend = t0 + (uint64_t)(opt.duration * 1e9);
	for (i = 0; i < opt.concurrency; i++)
		slot_start(i);
	while (bench_now_ns() < tend) {
		struct epoll_event evs[256];
		int k, n = epoll_wait(ep, evs, 256, 100);
		uint64_t now;

		for (k = 0; k < n; k++) {
			unsigned j = evs[k].data.u32;
			int r;

			if (slots[j].fd < 0)
				continue;
			r = slot_step(j);
			if (r) {
				slot_end(j, r > 0);
				if (bench_now_ns() < tend)
					slot_start(j);
			}
		}
		now = bench_now_ns();
		for (i = 0; i < opt.concurrency; i++) {
			if (slots[i].fd >= 0 && (double)(now - slots[i].t0) / 1e9 > 5.0)
				slot_end(i, 0);
			if (slots[i].fd < 0 && now < tend)
				slot_start(i);
		}
	}
	t1 = bench_now_ns();
	bench_cpu_sample(&c1, opt.pids, opt.npids, opt.bpids, opt.nbpids);
	printf("{\"mode\":\"%s\",\"concurrency\":%u,\"conns\":%llu,\"reused\":%llu,"
	       "\"errors\":%llu,\"seconds\":%.6f,\"hs_s\":%.1f,\"cipher\":\"%s\",",
	       opt.mode == M_RESUME ? "resume" : "full", opt.concurrency,
	       (unsigned long long)nconns, (unsigned long long)nreused,
	       (unsigned long long)nerrors, (double)(t1 - t0) / 1e9,
	       (double)(opt.mode == M_RESUME ? nreused : nconns) / ((double)(t1 - t0) / 1e9),
	       cipher);
	bench_cpu_json(stdout, &c0, &c1);
	printf("}\n");
	if (!nconns || (opt.mode == M_RESUME && !nreused)) {
		fprintf(stderr, "bench_tls: %s (%llu errors; last: %s)\n",
			nconns ? "no connection resumed its session" : "no handshake completed",
			(unsigned long long)nerrors, last_error);
		exit(3);
	}
}

static void usage(void)
{
	fprintf(stderr,
		"usage: bench_tls --connect HOST:PORT --sni NAME --mode full|resume|up|down|probe\n"
		"  [--concurrency N] [--duration SEC] [--bytes SIZE] [--tls 1.2|1.3]\n"
		"  [--cpu-pids P,P] [--timeout SEC]\n"
		"The server certificate is not verified (benchmark only).\n");
	exit(2);
}

int main(int argc, char **argv)
{
	static const struct option lopts[] = {
		{ "connect", required_argument, NULL, 'c' },
		{ "mode", required_argument, NULL, 'm' },
		{ "sni", required_argument, NULL, 's' },
		{ "concurrency", required_argument, NULL, 'C' },
		{ "duration", required_argument, NULL, 'd' },
		{ "bytes", required_argument, NULL, 'b' },
		{ "tls", required_argument, NULL, 'v' },
		{ "cpu-pids", required_argument, NULL, 'p' },
		{ "cpu-backend", required_argument, NULL, 'P' },
		{ "timeout", required_argument, NULL, 't' },
		{ 0 }
	};
	int o;

	while ((o = getopt_long(argc, argv, "", lopts, NULL)) != -1) {
		switch (o) {
		case 'c':
			if (bench_parse_hostport(optarg, &opt.ss, &opt.sslen))
				usage();
			break;
		case 'm':
			if (!strcmp(optarg, "full")) opt.mode = M_HS;
			else if (!strcmp(optarg, "resume")) opt.mode = M_RESUME;
			else if (!strcmp(optarg, "up")) opt.mode = M_UP;
			else if (!strcmp(optarg, "down")) opt.mode = M_DOWN;
			else if (!strcmp(optarg, "probe")) opt.mode = M_PROBE;
			else usage();
			break;
		case 's': opt.sni = optarg; break;
		case 'C': opt.concurrency = (unsigned)strtoul(optarg, NULL, 10); break;
		case 'd': opt.duration = strtod(optarg, NULL); break;
		case 'b':
			if (bench_parse_size(optarg, &opt.bytes))
				usage();
			break;
		case 'v':
			if (!strcmp(optarg, "1.2")) opt.version = TLS1_2_VERSION;
			else if (!strcmp(optarg, "1.3")) opt.version = TLS1_3_VERSION;
			else usage();
			break;
		case 'p':
			opt.npids = bench_cpu_parse_pids(optarg, opt.pids);
			if (!opt.npids)
				usage();
			break;
		case 'P':
			opt.nbpids = bench_cpu_parse_pids(optarg, opt.bpids);
			if (!opt.nbpids)
				usage();
			break;
		case 't': opt.timeout = strtod(optarg, NULL); break;
		default: usage();
		}
	}
	if (!opt.sslen || !opt.sni || !opt.concurrency)
		usage();
	signal(SIGPIPE, SIG_IGN);
	bench_raise_nofile();
	ctx = SSL_CTX_new(TLS_client_method());
	if (!ctx)
		die("SSL_CTX_new");
	SSL_CTX_set_min_proto_version(ctx, opt.version);
	SSL_CTX_set_max_proto_version(ctx, opt.version);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT);
	/* SSL_shutdown sends nothing: the peer closes first in every test. */
	SSL_CTX_set_quiet_shutdown(ctx, 1);
	if (opt.mode == M_PROBE)
		return run_probe();
	if (opt.mode == M_UP || opt.mode == M_DOWN)
		run_bulk();
	else
		run_hs();
	return 0;
}
