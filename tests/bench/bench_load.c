// SPDX-License-Identifier: GPL-2.0-only
/* Passthrough load generator: every connection opens with a real OpenSSL
 * ClientHello carrying the SNI, then drives bench_backend (bench_proto.h). */
#include <getopt.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <openssl/bio.h>
#include <openssl/ssl.h>

#include "bench_proto.h"
#include "bench_cpu.h"

#define IO_SZ (256 * 1024)
#define MAX_HELLO 4096

enum mode { M_UP, M_DOWN, M_RR, M_CONN, M_IDLE, M_PROBE };

/* A prefix: ClientHello record(s) + command header, for one SNI. */
struct prefix {
	uint8_t *buf;
	size_t len;
};

static struct {
	struct sockaddr_storage ss;
	socklen_t sslen;
	enum mode mode;
	unsigned streams, concurrency, conns;
	uint64_t bytes, count;
	double duration, timeout;
	int pids[BENCH_MAX_PIDS], npids;
	int bpids[BENCH_MAX_PIDS], nbpids;
	struct prefix *pre; /* per SNI */
	unsigned npre;
} opt = {
	.mode = M_UP, .streams = 1, .concurrency = 1, .conns = 1000,
	.bytes = 1ull << 30, .count = 10000, .duration = 2, .timeout = 60,
};

static uint8_t iobuf[IO_SZ];

static void die(const char *what)
{
	fprintf(stderr, "bench_load: %s: %s\n", what, strerror(errno));
	exit(1);
}

/* Let OpenSSL write the ClientHello it would send to @sni. Returns its
 * length, or -1. */
static int make_hello(SSL_CTX *ctx, const char *sni, uint8_t *out, size_t cap)
{
	BIO *rb = BIO_new(BIO_s_mem()), *wb = BIO_new(BIO_s_mem());
	SSL *s = SSL_new(ctx);
	char *p;
	long n;

	if (!s || !rb || !wb)
		return -1;
	SSL_set_bio(s, rb, wb);
	SSL_set_connect_state(s);
	if (SSL_set_tlsext_host_name(s, sni) != 1)
		return -1;
	SSL_do_handshake(s); /* WANT_READ after writing the ClientHello */
	n = BIO_get_mem_data(wb, &p);
	if (n <= 5 || (size_t)n > cap || p[0] != 0x16) {
		SSL_free(s);
		return -1;
	}
	memcpy(out, p, (size_t)n);
	SSL_free(s);
	return (int)n;
}

/* Build one prefix per SNI with command @op/@arg. */
static void build_prefixes(char **snis, unsigned n, uint32_t op, uint64_t arg)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	unsigned i;

	if (!ctx)
		die("SSL_CTX_new");
	opt.pre = calloc(n, sizeof(*opt.pre));
	if (!opt.pre)
		die("calloc");
	for (i = 0; i < n; i++) {
		uint8_t h[MAX_HELLO];
		int hl = snis[i] ? make_hello(ctx, snis[i], h, sizeof(h)) : 0;
		struct bench_cmd cmd;

		if (hl < 0) {
			fprintf(stderr, "bench_load: cannot build a ClientHello for '%s'\n", snis[i]);
			exit(2);
		}
		opt.pre[i].buf = malloc((size_t)hl + sizeof(cmd));
		if (!opt.pre[i].buf)
			die("malloc");
		memcpy(opt.pre[i].buf, h, (size_t)hl);
		bench_cmd_fill(&cmd, op, arg);
		memcpy(opt.pre[i].buf + hl, &cmd, sizeof(cmd));
		opt.pre[i].len = (size_t)hl + sizeof(cmd);
	}
	opt.npre = n;
	SSL_CTX_free(ctx);
}

static int write_all(int fd, const void *p, size_t n)
{
	const uint8_t *b = p;

	while (n) {
		ssize_t w = send(fd, b, n, MSG_NOSIGNAL);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		b += w;
		n -= (size_t)w;
	}
	return 0;
}

static int read_full(int fd, void *p, size_t n)
{
	uint8_t *b = p;

	while (n) {
		ssize_t r = recv(fd, b, n, 0);

		if (r <= 0) {
			if (r < 0 && errno == EINTR)
				continue;
			return -1;
		}
		b += r;
		n -= (size_t)r;
	}
	return 0;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static double pct(uint64_t *v, size_t n, double p)
{
	size_t i;

	if (!n)
		return 0;
	i = (size_t)ceil(p * (double)n) - 1;
	if (i >= n)
		i = n - 1;
	return (double)v[i] / 1000.0;
}

/* ---- bulk: up or down, N streams in one epoll loop ---------------------- */

struct stream {
	int fd;
	size_t pre_off;
	uint64_t left;   /* payload bytes still to send or receive */
	size_t got;      /* reply bytes (upload count) */
	uint8_t reply[8];
	int done;
};

static void run_bulk(void)
{
	struct stream *st = calloc(opt.streams, sizeof(*st));
	uint64_t per = opt.bytes / opt.streams, t0, t1, moved = 0;
	struct bench_cpu c0, c1;
	unsigned i, done = 0;
	int ep = epoll_create1(0);

	if (!st || ep < 0)
		die("setup");
	bench_cpu_sample(&c0, opt.pids, opt.npids, opt.bpids, opt.nbpids);
	t0 = bench_now_ns();
	for (i = 0; i < opt.streams; i++) {
		struct epoll_event ev = { .events = EPOLLOUT | EPOLLIN, .data.u32 = i };

		st[i].fd = bench_connect(&opt.ss, opt.sslen, 1);
		if (st[i].fd < 0)
			die("connect");
		st[i].left = per;
		if (epoll_ctl(ep, EPOLL_CTL_ADD, st[i].fd, &ev))
			die("epoll_ctl");
	}
	while (done < opt.streams) {
		struct epoll_event evs[64];
		int k, n = epoll_wait(ep, evs, 64, 1000);

		if (n < 0 && errno != EINTR)
			die("epoll_wait");
		if ((double)(bench_now_ns() - t0) / 1e9 > opt.timeout) {
			fprintf(stderr, "bench_load: bulk timed out after %.0f s\n", opt.timeout);
			exit(3);
		}
		for (k = 0; k < n; k++) {
			struct stream *s = &st[evs[k].data.u32];
			const struct prefix *p = &opt.pre[evs[k].data.u32 % opt.npre];
			ssize_t r;

			if (s->done)
				continue;
			if (evs[k].events & (EPOLLERR | EPOLLHUP) && !(evs[k].events & EPOLLIN)) {
				fprintf(stderr, "bench_load: stream %u failed\n", evs[k].data.u32);
				exit(3);
			}
			if (s->pre_off < p->len) {
				r = send(s->fd, p->buf + s->pre_off, p->len - s->pre_off,
					 MSG_NOSIGNAL | MSG_DONTWAIT);
				if (r < 0 && errno != EAGAIN)
					die("send prefix");
				if (r > 0)
					s->pre_off += (size_t)r;
				if (s->pre_off < p->len)
					continue;
				if (opt.mode == M_DOWN) {
					struct epoll_event ev = { .events = EPOLLIN,
								  .data.u32 = evs[k].data.u32 };
					epoll_ctl(ep, EPOLL_CTL_MOD, s->fd, &ev);
				}
			}
			if (opt.mode == M_UP && s->left) {
				size_t want = s->left < IO_SZ ? s->left : IO_SZ;

				r = send(s->fd, iobuf, want, MSG_NOSIGNAL | MSG_DONTWAIT);
				if (r < 0 && errno != EAGAIN)
					die("send");
				if (r > 0)
					s->left -= (uint64_t)r;
				if (!s->left) {
					struct epoll_event ev = { .events = EPOLLIN,
								  .data.u32 = evs[k].data.u32 };
					epoll_ctl(ep, EPOLL_CTL_MOD, s->fd, &ev);
				}
				continue;
			}
			if (!(evs[k].events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
				continue;
			if (opt.mode == M_UP) {
				r = recv(s->fd, s->reply + s->got, sizeof(s->reply) - s->got, MSG_DONTWAIT);
				if (r <= 0) {
					if (r < 0 && errno == EAGAIN)
						continue;
					fprintf(stderr, "bench_load: upload stream closed before its count\n");
					exit(3);
				}
				s->got += (size_t)r;
				if (s->got == sizeof(s->reply)) {
					uint64_t cnt;

					memcpy(&cnt, s->reply, 8);
					moved += be64toh(cnt);
					s->done = 1;
					done++;
				}
			} else {
				r = recv(s->fd, iobuf, IO_SZ, MSG_DONTWAIT);
				if (r <= 0) {
					if (r < 0 && errno == EAGAIN)
						continue;
					fprintf(stderr, "bench_load: download stream closed early\n");
					exit(3);
				}
				s->left -= (uint64_t)r < s->left ? (uint64_t)r : s->left;
				moved += (uint64_t)r;
				if (!s->left) {
					s->done = 1;
					done++;
				}
			}
		}
	}
	t1 = bench_now_ns();
	bench_cpu_sample(&c1, opt.pids, opt.npids, opt.bpids, opt.nbpids);
	for (i = 0; i < opt.streams; i++)
		close(st[i].fd);
	printf("{\"mode\":\"%s\",\"streams\":%u,\"bytes\":%llu,\"seconds\":%.6f,"
	       "\"gbit_s\":%.3f,", opt.mode == M_UP ? "up" : "down", opt.streams,
	       (unsigned long long)moved, (double)(t1 - t0) / 1e9,
	       (double)moved * 8 / ((double)(t1 - t0)));
	bench_cpu_json(stdout, &c0, &c1);
	printf("}\n");
}

/* ---- round trip: one connection, 64-byte ping-pong ----------------------- */

static void run_rr(void)
{
	uint64_t *lat = calloc(opt.count, sizeof(*lat)), sum = 0;
	uint8_t msg[64] = { 0 };
	unsigned warm = 200, i;
	int fd = bench_connect(&opt.ss, opt.sslen, 0);

	if (!lat || fd < 0)
		die("connect");
	if (write_all(fd, opt.pre[0].buf, opt.pre[0].len))
		die("send prefix");
	for (i = 0; i < opt.count + warm; i++) {
		uint64_t t = bench_now_ns();

		msg[0] = (uint8_t)i;
		if (write_all(fd, msg, sizeof(msg)) || read_full(fd, msg, sizeof(msg))) {
			fprintf(stderr, "bench_load: round trip %u failed\n", i);
			exit(3);
		}
		if (msg[0] != (uint8_t)i) {
			fprintf(stderr, "bench_load: echo mismatch at %u\n", i);
			exit(3);
		}
		if (i >= warm)
			lat[i - warm] = bench_now_ns() - t;
	}
	close(fd);
	for (i = 0; i < opt.count; i++)
		sum += lat[i];
	qsort(lat, opt.count, sizeof(*lat), cmp_u64);
	printf("{\"mode\":\"rr\",\"count\":%llu,\"p50_us\":%.2f,\"p99_us\":%.2f,"
	       "\"avg_us\":%.2f}\n", (unsigned long long)opt.count, pct(lat, opt.count, 0.5),
	       pct(lat, opt.count, 0.99), (double)sum / (double)opt.count / 1000.0);
}

/* ---- connections: C slots, open/ClientHello/reply/close, or hold ---------- */

struct slot {
	int fd;
	unsigned pre;   /* prefix index */
	size_t off;     /* prefix bytes sent */
	size_t got;     /* reply bytes received */
	uint64_t t0;
	int held;
};

static struct slot *slots;
static int ep;
static uint64_t nconns, nerrors, nopen;
static uint64_t *lat;
static size_t nlat, lat_cap;
static unsigned next_pre;

static void slot_start(unsigned i)
{
	struct epoll_event ev = { .events = EPOLLOUT | EPOLLIN | EPOLLRDHUP, .data.u32 = i };
	struct slot *s = &slots[i];

	memset(s, 0, sizeof(*s));
	s->pre = next_pre++ % opt.npre;
	s->t0 = bench_now_ns();
	s->fd = bench_connect(&opt.ss, opt.sslen, 1);
	if (s->fd < 0) {
		nerrors++;
		s->fd = -1;
		return;
	}
	nopen++;
	if (epoll_ctl(ep, EPOLL_CTL_ADD, s->fd, &ev))
		die("epoll_ctl");
}

static void slot_end(unsigned i, int ok)
{
	struct slot *s = &slots[i];

	if (s->fd >= 0) {
		epoll_ctl(ep, EPOLL_CTL_DEL, s->fd, NULL);
		close(s->fd);
		nopen--;
	}
	s->fd = -1;
	if (!ok) {
		nerrors++;
		return;
	}
	nconns++;
	if (nlat == lat_cap) {
		lat_cap = lat_cap ? lat_cap * 2 : 65536;
		lat = realloc(lat, lat_cap * sizeof(*lat));
		if (!lat)
			die("realloc");
	}
	lat[nlat++] = bench_now_ns() - s->t0;
}

/* Advance slot @i on @events. Returns 1 when the connection finished
 * (reply + EOF in conn mode, one byte in hold mode), -1 on error, 0 else. */
static int slot_step(unsigned i, uint32_t events)
{
	struct slot *s = &slots[i];
	const struct prefix *p = &opt.pre[s->pre];
	size_t want = opt.mode == M_IDLE ? 1 : 64;
	ssize_t r;

	if (s->off < p->len) {
		if (events & EPOLLERR)
			return -1;
		r = send(s->fd, p->buf + s->off, p->len - s->off, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (r < 0)
			return errno == EAGAIN ? 0 : -1;
		s->off += (size_t)r;
		if (s->off == p->len) {
			struct epoll_event ev = { .events = EPOLLIN | EPOLLRDHUP, .data.u32 = i };

			epoll_ctl(ep, EPOLL_CTL_MOD, s->fd, &ev);
		}
		return 0;
	}
	for (;;) {
		r = recv(s->fd, iobuf, sizeof(iobuf), MSG_DONTWAIT);
		if (r < 0)
			return errno == EAGAIN ? 0 : -1;
		if (r == 0) /* EOF: the backend's close reached us */
			return s->got >= want ? 1 : -1;
		s->got += (size_t)r;
		if (opt.mode == M_IDLE && s->got >= 1)
			return 1;
	}
}

static void expire_slots(unsigned n, uint64_t now, double limit_s)
{
	unsigned i;

	for (i = 0; i < n; i++)
		if (slots[i].fd >= 0 && !slots[i].held &&
		    (double)(now - slots[i].t0) / 1e9 > limit_s)
			slot_end(i, 0);
}

static void run_conn(void)
{
	uint64_t t0, t1, tend;
	struct bench_cpu c0, c1;
	unsigned i;

	slots = calloc(opt.concurrency, sizeof(*slots));
	ep = epoll_create1(0);
	if (!slots || ep < 0)
		die("setup");
	bench_cpu_sample(&c0, opt.pids, opt.npids, opt.bpids, opt.nbpids);
	t0 = bench_now_ns();
	tend = t0 + (uint64_t)(opt.duration * 1e9);
	for (i = 0; i < opt.concurrency; i++)
		slot_start(i);
	for (;;) {
		struct epoll_event evs[256];
		uint64_t now = bench_now_ns();
		int k, n;

		if (now >= tend)
			break;
		n = epoll_wait(ep, evs, 256, 100);
		for (k = 0; k < n; k++) {
			unsigned j = evs[k].data.u32;
			int r = slot_step(j, evs[k].events);

			if (r) {
				slot_end(j, r > 0);
				if (bench_now_ns() < tend)
					slot_start(j);
			}
		}
		now = bench_now_ns();
		expire_slots(opt.concurrency, now, 5.0);
		for (i = 0; i < opt.concurrency; i++)
			if (slots[i].fd < 0 && now < tend)
				slot_start(i);
	}
	t1 = bench_now_ns();
	bench_cpu_sample(&c1, opt.pids, opt.npids, opt.bpids, opt.nbpids);
	for (i = 0; i < opt.concurrency; i++)
		if (slots[i].fd >= 0)
			close(slots[i].fd);
	qsort(lat, nlat, sizeof(*lat), cmp_u64);
	printf("{\"mode\":\"conn\",\"concurrency\":%u,\"conns\":%llu,\"errors\":%llu,"
	       "\"seconds\":%.6f,\"conn_s\":%.1f,\"lat_p50_us\":%.1f,\"lat_p99_us\":%.1f,",
	       opt.concurrency, (unsigned long long)nconns, (unsigned long long)nerrors,
	       (double)(t1 - t0) / 1e9, (double)nconns / ((double)(t1 - t0) / 1e9),
	       pct(lat, nlat, 0.5), pct(lat, nlat, 0.99));
	bench_cpu_json(stdout, &c0, &c1);
	printf("}\n");
	if (!nconns) {
		fprintf(stderr, "bench_load: no connection completed (%llu errors)\n",
			(unsigned long long)nerrors);
		exit(3);
	}
}

/* Open opt.conns connections (at most opt.concurrency connecting at once),
 * each acknowledged by the backend, print "READY n", hold them until a line
 * (or EOF) arrives on stdin, then print the result. */
static void run_idle(void)
{
	unsigned started = 0, held = 0, i, active = 0;
	uint64_t t0 = bench_now_ns(), t1;
	char line[64];

	slots = calloc(opt.conns, sizeof(*slots));
	ep = epoll_create1(0);
	if (!slots || ep < 0)
		die("setup");
	for (i = 0; i < opt.conns; i++)
		slots[i].fd = -1;
	while (held + nerrors < opt.conns) {
		struct epoll_event evs[256];
		int k, n;

		while (active < opt.concurrency && started < opt.conns) {
			slot_start(started++);
			active++;
		}
		if ((double)(bench_now_ns() - t0) / 1e9 > opt.timeout) {
			fprintf(stderr, "bench_load: idle setup timed out (%u held)\n", held);
			break;
		}
		n = epoll_wait(ep, evs, 256, 100);
		for (k = 0; k < n; k++) {
			unsigned j = evs[k].data.u32;
			int r;

			if (slots[j].held || slots[j].fd < 0)
				continue;
			r = slot_step(j, evs[k].events);
			if (r > 0) {
				slots[j].held = 1;
				held++;
				active--;
				epoll_ctl(ep, EPOLL_CTL_DEL, slots[j].fd, NULL);
			} else if (r < 0) {
				slot_end(j, 0);
				active--;
			}
		}
		for (i = 0; i < started; i++)
			if (slots[i].fd >= 0 && !slots[i].held &&
			    (double)(bench_now_ns() - slots[i].t0) / 1e9 > 10.0) {
				slot_end(i, 0);
				active--;
			}
	}
	t1 = bench_now_ns();
	printf("READY %u\n", held);
	fflush(stdout);
	if (!fgets(line, sizeof(line), stdin))
		line[0] = 0;
	printf("{\"mode\":\"idle\",\"conns\":%u,\"errors\":%llu,\"open_seconds\":%.3f}\n",
	       held, (unsigned long long)nerrors, (double)(t1 - t0) / 1e9);
	fflush(stdout);
	for (i = 0; i < opt.conns; i++)
		if (slots[i].fd >= 0)
			close(slots[i].fd);
}

/* One connection per SNI: ClientHello, 64-byte reply, EOF, within
 * opt.timeout. Exit 0 if every SNI was answered (route works), else 1. */
static int run_probe(void)
{
	struct timeval tv = { .tv_sec = (time_t)opt.timeout,
			      .tv_usec = (suseconds_t)((opt.timeout - (double)(time_t)opt.timeout) * 1e6) };
	unsigned i;

	for (i = 0; i < opt.npre; i++) {
		size_t got = 0;
		ssize_t r;
		int fd = bench_connect(&opt.ss, opt.sslen, 0);

		if (fd < 0)
			return 1;
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
		if (write_all(fd, opt.pre[i].buf, opt.pre[i].len)) {
			close(fd);
			return 1;
		}
		while ((r = recv(fd, iobuf, sizeof(iobuf), 0)) > 0)
			got += (size_t)r;
		close(fd);
		if (r < 0 || got != 64)
			return 1;
	}
	return 0;
}

static void usage(void)
{
	fprintf(stderr,
		"usage: bench_load --connect HOST:PORT --mode up|down|rr|conn|idle|probe [options]\n"
		"  --sni NAME          SNI of the ClientHello (repeatable; cycled)\n"
		"  --sni-fmt FMT --sni-count N   SNIs FMT %% i for i < N (e.g. h%%d.bench.test)\n"
		"  --no-hello          send no ClientHello (plain backends)\n"
		"  --streams N         up/down: parallel streams (default 1)\n"
		"  --bytes SIZE        up/down: total payload (default 1G)\n"
		"  --count N           rr: round trips (default 10000)\n"
		"  --concurrency N     conn: connections in flight; idle: connecting at once\n"
		"  --duration SEC      conn: run time (default 2)\n"
		"  --conns N           idle: connections to hold (default 1000)\n"
		"  --cpu-pids P,P      proxy processes whose CPU time to report\n"
		"  --cpu-backend P,P   backend processes whose CPU time to report\n"
		"  --timeout SEC       give up (default 60)\n");
	exit(2);
}

int main(int argc, char **argv)
{
	static const struct option lopts[] = {
		{ "connect", required_argument, NULL, 'c' },
		{ "mode", required_argument, NULL, 'm' },
		{ "sni", required_argument, NULL, 's' },
		{ "sni-fmt", required_argument, NULL, 'F' },
		{ "sni-count", required_argument, NULL, 'N' },
		{ "no-hello", no_argument, NULL, 'H' },
		{ "streams", required_argument, NULL, 'S' },
		{ "bytes", required_argument, NULL, 'b' },
		{ "count", required_argument, NULL, 'n' },
		{ "concurrency", required_argument, NULL, 'C' },
		{ "duration", required_argument, NULL, 'd' },
		{ "conns", required_argument, NULL, 'k' },
		{ "cpu-pids", required_argument, NULL, 'p' },
		{ "cpu-backend", required_argument, NULL, 'P' },
		{ "timeout", required_argument, NULL, 't' },
		{ 0 }
	};
	char *snis[1024], *fmt = NULL;
	unsigned nsni = 0, fmt_count = 0, i;
	int o, no_hello = 0;
	uint32_t op;
	uint64_t arg = 0;

	while ((o = getopt_long(argc, argv, "", lopts, NULL)) != -1) {
		switch (o) {
		case 'c':
			if (bench_parse_hostport(optarg, &opt.ss, &opt.sslen))
				usage();
			break;
		case 'm':
			if (!strcmp(optarg, "up")) opt.mode = M_UP;
			else if (!strcmp(optarg, "down")) opt.mode = M_DOWN;
			else if (!strcmp(optarg, "rr")) opt.mode = M_RR;
			else if (!strcmp(optarg, "conn")) opt.mode = M_CONN;
			else if (!strcmp(optarg, "idle")) opt.mode = M_IDLE;
			else if (!strcmp(optarg, "probe")) opt.mode = M_PROBE;
			else usage();
			break;
		case 's':
			if (nsni < 1024)
				snis[nsni++] = optarg;
			break;
		case 'F': fmt = optarg; break;
		case 'N': fmt_count = (unsigned)strtoul(optarg, NULL, 10); break;
		case 'H': no_hello = 1; break;
		case 'S': opt.streams = (unsigned)strtoul(optarg, NULL, 10); break;
		case 'b':
			if (bench_parse_size(optarg, &opt.bytes))
				usage();
			break;
		case 'n': opt.count = strtoull(optarg, NULL, 10); break;
		case 'C': opt.concurrency = (unsigned)strtoul(optarg, NULL, 10); break;
		case 'd': opt.duration = strtod(optarg, NULL); break;
		case 'k': opt.conns = (unsigned)strtoul(optarg, NULL, 10); break;
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
	if (!opt.sslen || !opt.streams || !opt.concurrency || !opt.count || !opt.conns ||
	    opt.streams > 1024)
		usage();
	if (fmt) {
		static char names[1024][256];
		char *mark = strstr(fmt, "%d");

		if (!mark) {
			fprintf(stderr, "bench_load: --sni-fmt needs a %%d\n");
			return 2;
		}
		for (i = 0; i < fmt_count && nsni < 1024; i++) {
			snprintf(names[nsni], sizeof(names[0]), "%.*s%u%s", (int)(mark - fmt), fmt,
				 i, mark + 2);
			snis[nsni] = names[nsni];
			nsni++;
		}
	}
	if (no_hello) {
		nsni = 1;
		snis[0] = NULL;
	}
	if (!nsni) {
		fprintf(stderr, "bench_load: need --sni, --sni-fmt or --no-hello\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	bench_raise_nofile();
	switch (opt.mode) {
	case M_UP: op = BENCH_OP_SINK; arg = opt.bytes / opt.streams; break;
	case M_DOWN: op = BENCH_OP_SOURCE; arg = opt.bytes / opt.streams; break;
	case M_RR: op = BENCH_OP_ECHO; break;
	case M_CONN: case M_PROBE: op = BENCH_OP_REPLY; arg = 64; break;
	default: op = BENCH_OP_HOLD; break;
	}
	build_prefixes(snis, nsni, op, arg);
	switch (opt.mode) {
	case M_UP: case M_DOWN: run_bulk(); break;
	case M_RR: run_rr(); break;
	case M_CONN: run_conn(); break;
	case M_IDLE: run_idle(); break;
	case M_PROBE: return run_probe();
	}
	return 0;
}
