// SPDX-License-Identifier: GPL-2.0-only
/* 64-byte round trips through each sockmap redirect shape, against direct
 * TCP, on loopback in the caller's network namespace. It answers one design
 * question with numbers from the same run: could any sockmap shape bring a
 * proxied round trip within 1.2x of direct (issue 4)? Shapes:
 *   direct      client -> backend, plain TCP (the baseline)
 *   sk_skb      client -> proxy A =sk_skb egress=> proxy B -> backend, and
 *               back the same way: the agent's engine (a kworker sends each
 *               redirected skb)
 *   sk_msg      the client's and the backend's sendmsg go straight into the
 *               far proxy socket's send path (sk_msg egress): needs both
 *               ends to be local senders whose sockets are in our sockhash
 *   sk_msg_in   the client's bytes land in the backend's receive queue and
 *               back (sk_msg ingress): socket to socket, no TCP at all
 * One process plays every part; the echo side runs on its own thread.
 * Output: one JSON line {"shape","count","p50_us","p99_us","client_tcp_bytes"};
 * it fails if the bytes did not take the path the shape names (TCP_INFO of
 * the client socket). */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <linux/tcp.h> /* struct tcp_info with tcpi_bytes_acked; TCP_NODELAY */
#include <sys/socket.h>
#include <sys/time.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "redirect_probe.skel.h"

#define MSG 64
#define WARMUP 1000

enum shape { S_DIRECT, S_SKB, S_MSG, S_MSG_IN };
static const char *const shape_names[] = { "direct", "sk_skb", "sk_msg", "sk_msg_in" };

static void die(const char *what)
{
	fprintf(stderr, "bench_redirect: %s: %s\n", what, strerror(errno));
	exit(1);
}

static struct sockaddr_in lo_addr(uint16_t port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	return a;
}

static int listen_on(uint16_t *port)
{
	struct sockaddr_in a = lo_addr(0);
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) || listen(fd, 8) ||
	    getsockname(fd, (struct sockaddr *)&a, &len))
		die("listen on 127.0.0.1");
	*port = ntohs(a.sin_port);
	return fd;
}

/* TCP_NODELAY, and a receive timeout: bytes a broken redirect strands
 * end the run with an error instead of hanging the benchmark. */
static void nodelay(int fd)
{
	struct timeval tv = { .tv_sec = 5 };
	int one = 1;

	if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) ||
	    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)))
		die("setsockopt");
}

static int connect_to(uint16_t port)
{
	struct sockaddr_in a = lo_addr(port);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)))
		die("connect");
	nodelay(fd);
	return fd;
}

static int accept_one(int lfd)
{
	int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);

	if (fd < 0)
		die("accept");
	nodelay(fd);
	return fd;
}

static uint32_t local_port(int fd)
{
	struct sockaddr_in a;
	socklen_t len = sizeof(a);

	if (getsockname(fd, (struct sockaddr *)&a, &len))
		die("getsockname");
	return ntohs(a.sin_port);
}

static int read_full(int fd, char *buf, size_t n)
{
	size_t got = 0;

	while (got < n) {
		ssize_t r = read(fd, buf + got, n - got);

		if (r <= 0)
			return -1;
		got += (size_t)r;
	}
	return 0;
}

struct echo_arg {
	int fd;
	unsigned rounds;
};

static void *echo_main(void *p)
{
	struct echo_arg *e = p;
	char buf[MSG];
	unsigned i;

	for (i = 0; i < e->rounds; i++)
		if (read_full(e->fd, buf, MSG) || write(e->fd, buf, MSG) != MSG)
			break;
	return NULL;
}

static double now_us(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec * 1e6 + (double)t.tv_nsec / 1e3;
}

/* Bytes the socket's own TCP got acknowledged: 0 when every byte it was
 * asked to send took a redirect instead. */
static uint64_t tcp_bytes_acked(int fd)
{
	struct tcp_info ti;
	socklen_t len = sizeof(ti);

	memset(&ti, 0, sizeof(ti));
	if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len))
		die("TCP_INFO");
	return ti.tcpi_bytes_acked;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* Attach @prog to the sockhash @m, insert @socks at keys 0..n-1, and send
 * what @from[0] carries to the socket at key 1 and what @from[1] carries to
 * the one at key 0. */
static void wire(struct redirect_probe_bpf *skel, struct bpf_program *prog, struct bpf_map *m,
		 enum bpf_attach_type type, const int *socks, uint32_t n, const int from[2])
{
	int map = bpf_map__fd(m), peer = bpf_map__fd(skel->maps.rp_peer);
	uint32_t key, port, to;
	unsigned i;

	if (bpf_prog_attach(bpf_program__fd(prog), map, type, 0))
		die("attach the verdict program");
	for (key = 0; key < n; key++) {
		uint64_t v = (uint64_t)socks[key];

		if (bpf_map_update_elem(map, &key, &v, BPF_ANY))
			die("sockhash insert");
	}
	for (i = 0; i < 2; i++) {
		port = local_port(from[i]);
		to = 1 - i;
		if (bpf_map_update_elem(peer, &port, &to, BPF_ANY))
			die("peer map update");
	}
}

static void usage(void)
{
	fprintf(stderr, "usage: bench_redirect --shape direct|sk_skb|sk_msg|sk_msg_in [--count N]\n"
			"  N round trips of %d bytes (default 20000) after %d warm-up ones;\n"
			"  needs root (BPF) and a loopback interface that is up.\n", MSG, WARMUP);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "shape", required_argument, NULL, 's' },
		{ "count", required_argument, NULL, 'n' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	struct redirect_probe_bpf *skel = NULL;
	int shape = -1, lfd_proxy, lfd_backend, c, a = -1, b = -1, d, o, err;
	unsigned count = 20000, i;
	uint64_t acked;
	uint16_t proxy_port, backend_port;
	struct echo_arg echo;
	pthread_t th;
	double *lat;
	char buf[MSG];

	while ((o = getopt_long(argc, argv, "s:n:h", opts, NULL)) != -1) {
		switch (o) {
		case 's':
			for (i = 0; i < sizeof(shape_names) / sizeof(shape_names[0]); i++)
				if (!strcmp(optarg, shape_names[i]))
					shape = (int)i;
			break;
		case 'n':
			count = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 'h':
			usage();
			return 0;
		default:
			usage();
			return 2;
		}
	}
	if (shape < 0 || count < 100 || optind != argc) {
		usage();
		return 2;
	}
	lat = calloc(count, sizeof(*lat));
	if (!lat)
		die("calloc");
	lfd_proxy = listen_on(&proxy_port);
	lfd_backend = listen_on(&backend_port);
	if (shape == S_DIRECT || shape == S_MSG_IN) {
		c = connect_to(backend_port);
		d = accept_one(lfd_backend);
	} else {
		c = connect_to(proxy_port);
		a = accept_one(lfd_proxy);
		b = connect_to(backend_port);
		d = accept_one(lfd_backend);
	}
	if (shape != S_DIRECT) {
		skel = redirect_probe_bpf__open();
		if (!skel)
			die("open BPF");
		bpf_program__set_expected_attach_type(skel->progs.rp_skb_egress, BPF_SK_SKB_VERDICT);
		err = redirect_probe_bpf__load(skel);
		if (err) {
			errno = -err;
			die("load BPF");
		}
	}
	/* Every socket is established and idle: inserting now cannot race
	 * queued bytes (the ordering hazards of sockmap-facts do not arise). */
	if (shape == S_SKB) {
		int socks[] = { a, b }, from[] = { a, b };

		wire(skel, skel->progs.rp_skb_egress, skel->maps.rp_skb_socks,
		     BPF_SK_SKB_VERDICT, socks, 2, from);
	} else if (shape == S_MSG) {
		int socks[] = { a, b, c, d }, from[] = { c, d }; /* c -> B, d -> A */

		wire(skel, skel->progs.rp_msg_egress, skel->maps.rp_msg_socks,
		     BPF_SK_MSG_VERDICT, socks, 4, from);
	} else if (shape == S_MSG_IN) {
		int socks[] = { c, d }, from[] = { c, d };

		wire(skel, skel->progs.rp_msg_ingress, skel->maps.rp_in_socks,
		     BPF_SK_MSG_VERDICT, socks, 2, from);
	}
	echo.fd = d;
	echo.rounds = count + WARMUP;
	if (pthread_create(&th, NULL, echo_main, &echo))
		die("pthread_create");
	memset(buf, 'x', sizeof(buf));
	for (i = 0; i < count + WARMUP; i++) {
		double t0 = now_us();

		if (write(c, buf, MSG) != MSG || read_full(c, buf, MSG)) {
			fprintf(stderr, "bench_redirect: %s: round trip %u failed (%s)\n",
				shape_names[shape], i, errno ? strerror(errno) : "EOF");
			return 1;
		}
		if (i >= WARMUP)
			lat[i - WARMUP] = now_us() - t0;
	}
	pthread_join(th, NULL);
	/* The sk_msg shapes must not have used the client's TCP at all (else
	 * sk_msg_in would silently time plain TCP); the others must have. A
	 * few bytes of slack: tcpi_bytes_acked counts the SYN. */
	acked = tcp_bytes_acked(c);
	if ((shape == S_MSG || shape == S_MSG_IN) ? acked > 1 : acked < (uint64_t)MSG * count) {
		fprintf(stderr, "bench_redirect: %s: the client's TCP carried %llu bytes: the "
			"redirect %s\n", shape_names[shape], (unsigned long long)acked,
			shape == S_MSG || shape == S_MSG_IN ? "did not take them" : "skipped TCP");
		return 1;
	}
	qsort(lat, count, sizeof(*lat), cmp_double);
	printf("{\"shape\":\"%s\",\"count\":%u,\"p50_us\":%.1f,\"p99_us\":%.1f,"
	       "\"client_tcp_bytes\":%llu}\n", shape_names[shape], count, lat[count / 2],
	       lat[(size_t)count * 99 / 100], (unsigned long long)acked);
	close(c);
	close(d);
	if (a >= 0)
		close(a);
	if (b >= 0)
		close(b);
	close(lfd_proxy);
	close(lfd_backend);
	redirect_probe_bpf__destroy(skel);
	free(lat);
	return 0;
}
