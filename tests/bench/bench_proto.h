/* SPDX-License-Identifier: GPL-2.0-only */
/* Wire protocol between the benchmark load generators (bench_load, bench_tls)
 * and bench_backend, plus small helpers both sides share (header only). */
#ifndef SNIGATE_BENCH_PROTO_H
#define SNIGATE_BENCH_PROTO_H

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <endian.h>
#include <netdb.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

/*
 * A connection to the backend starts with an optional TLS ClientHello
 * record (passthrough paths: the proxy forwards it unchanged; the backend
 * skips it, it never answers TLS) and then one command header. For the
 * Terminate paths the proxy speaks TLS and sends the header in plaintext.
 *
 *   op             backend behaviour                         arg
 *   BENCH_OP_SINK    read arg bytes, reply 8-byte count (BE)  bytes
 *   BENCH_OP_SOURCE  send arg bytes, then keep reading to EOF bytes
 *   BENCH_OP_ECHO    echo every byte until EOF               -
 *   BENCH_OP_REPLY   send arg bytes, then close              bytes
 *   BENCH_OP_HOLD    send one byte, then wait for EOF        -
 *
 * Sizes are decided by the client, so no measurement depends on a proxy
 * propagating a half-close (only BENCH_OP_REPLY relies on the close, which
 * is what a connection-rate test must exercise anyway).
 */
#define BENCH_MAGIC 0x424e4348u /* "BNCH" */

enum bench_op {
	BENCH_OP_SINK = 1,
	BENCH_OP_SOURCE = 2,
	BENCH_OP_ECHO = 3,
	BENCH_OP_REPLY = 4,
	BENCH_OP_HOLD = 5,
};

/* The command header, all fields big endian. */
struct bench_cmd {
	uint32_t magic;
	uint32_t op;
	uint64_t arg;
};
_Static_assert(sizeof(struct bench_cmd) == 16, "bench_cmd size");

static inline void bench_cmd_fill(struct bench_cmd *c, uint32_t op, uint64_t arg)
{
	c->magic = htobe32(BENCH_MAGIC);
	c->op = htobe32(op);
	c->arg = htobe64(arg);
}

/* Monotonic time in nanoseconds. */
static inline uint64_t bench_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Raise RLIMIT_NOFILE to its hard limit (10,000 idle connections need
 * more than the default 1024). Returns the soft limit now in force. */
static inline unsigned long bench_raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl))
		return 0;
	if (rl.rlim_max < 1048576) {
		struct rlimit want = { 1048576, 1048576 };

		if (!setrlimit(RLIMIT_NOFILE, &want))
			return 1048576;
	}
	rl.rlim_cur = rl.rlim_max;
	setrlimit(RLIMIT_NOFILE, &rl);
	return rl.rlim_cur;
}

/* Parse a size with an optional K/M/G suffix (binary). Returns 0 on
 * success, -EINVAL on garbage. */
static inline int bench_parse_size(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s)
		return -EINVAL;
	switch (*end) {
	case 'K': case 'k': v <<= 10; end++; break;
	case 'M': case 'm': v <<= 20; end++; break;
	case 'G': case 'g': v <<= 30; end++; break;
	default: break;
	}
	if (*end)
		return -EINVAL;
	*out = v;
	return 0;
}

/* Parse "HOST:PORT" or "[V6]:PORT" into @ss. Returns 0 or -EINVAL. */
static inline int bench_parse_hostport(const char *s, struct sockaddr_storage *ss, socklen_t *len)
{
	char host[128];
	const char *colon = strrchr(s, ':');
	struct addrinfo hints = { .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV }, *res;
	size_t hl;

	if (!colon || colon == s)
		return -EINVAL;
	hl = (size_t)(colon - s);
	if (s[0] == '[' && colon[-1] == ']') {
		s++;
		hl -= 2;
	}
	if (hl >= sizeof(host))
		return -EINVAL;
	memcpy(host, s, hl);
	host[hl] = 0;
	if (getaddrinfo(host, colon + 1, &hints, &res))
		return -EINVAL;
	memcpy(ss, res->ai_addr, res->ai_addrlen);
	*len = res->ai_addrlen;
	freeaddrinfo(res);
	return 0;
}

/* A TCP socket (TCP_NODELAY) connecting to @ss: blocking, or non-blocking
 * with the connect in progress. Returns the fd, or -1 when connect() failed
 * at once; a failing socket() is fatal. */
static inline int bench_connect(const struct sockaddr_storage *ss, socklen_t len, int nonblock)
{
	int one = 1, fd = socket(ss->ss_family, SOCK_STREAM | SOCK_CLOEXEC |
				 (nonblock ? SOCK_NONBLOCK : 0), 0);

	if (fd < 0) {
		fprintf(stderr, "bench: socket: %s\n", strerror(errno));
		exit(1);
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(fd, (const struct sockaddr *)ss, len) && errno != EINPROGRESS) {
		close(fd);
		return -1;
	}
	return fd;
}

#endif /* SNIGATE_BENCH_PROTO_H */
