// SPDX-License-Identifier: GPL-2.0-only
/* sng_xfer: checksummed TCP transfer tool for the data-path tests. A server
 * (echo/sink/source) and a client that can prefix a ClientHello, drip it,
 * pipeline data behind it, read slowly, half-close or reset; one JSON line. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <linux/sockios.h>

#define BUF_SZ (256 * 1024)

/* ---- the position-dependent pattern ---------------------------------------
 * Byte p of a stream is byte (p & 7) of (p >> 3) * K + SEED, so a duplicated,
 * lost or reordered byte (at any distance) changes what is seen at p. */
#define PAT_K 0x9E3779B97F4A7C15ull
#define PAT_SEED 0x5eed5eed5eed5eedull

static inline uint8_t pat_byte(uint64_t p)
{
	uint64_t v = (p >> 3) * PAT_K + PAT_SEED;

	return (uint8_t)(v >> ((p & 7) * 8));
}

static void pat_fill(uint8_t *buf, uint64_t off, size_t len)
{
	size_t i = 0;

	while (i < len && ((off + i) & 7))
		buf[i] = pat_byte(off + i), i++;
	for (; i + 8 <= len; i += 8) {
		uint64_t v = ((off + i) >> 3) * PAT_K + PAT_SEED;

		memcpy(buf + i, &v, 8); /* little endian: byte k = v >> 8k */
	}
	for (; i < len; i++)
		buf[i] = pat_byte(off + i);
}

/* Returns the index of the first mismatch or -1. */
static long pat_check(const uint8_t *buf, uint64_t off, size_t len)
{
	uint8_t tmp[4096];
	size_t done = 0;

	while (done < len) {
		size_t n = len - done < sizeof(tmp) ? len - done : sizeof(tmp);

		pat_fill(tmp, off + done, n);
		if (memcmp(tmp, buf + done, n)) {
			size_t k;

			for (k = 0; k < n; k++)
				if (tmp[k] != buf[done + k])
					return (long)(done + k);
		}
		done += n;
	}
	return -1;
}

/* ---- damage tracker --------------------------------------------------------
 * Follows a received pattern stream through its damage: at a mismatch it
 * decodes which source offset the bytes came from (every aligned 8-byte word
 * names its own position: w = (v - SEED) * K^-1), so a report tells a
 * duplicate (the source offset jumps back), a loss (it jumps forward) or a
 * reorder (back and forth) with the exact offsets and lengths. */
#define TRK_MAX_JUMPS 8
#define TRK_LOOKAHEAD 72 /* bytes needed after a mismatch to decode it */

struct trk_jump {
	uint64_t rx;   /* receive offset (payload) where the jump happens */
	uint64_t from; /* source offset expected there */
	uint64_t to;   /* source offset actually seen (UINT64_MAX: garbage) */
	uint64_t len;  /* bytes in sequence from @to before the next jump */
};

struct trk {
	uint64_t rx;   /* payload bytes checked */
	uint64_t src;  /* source offset of the next byte */
	unsigned njumps, dropped;
	uint64_t garbage; /* bytes that decode to no source offset */
	struct trk_jump j[TRK_MAX_JUMPS];
};

static uint64_t pat_kinv(void)
{
	uint64_t x = PAT_K; /* Newton: x = x * (2 - K x), 6 rounds give 64 bits */
	int i;

	for (i = 0; i < 6; i++)
		x *= 2 - PAT_K * x;
	return x;
}

/* Source offset of buf[0] if the next 64 bytes (or all of @n) follow the
 * pattern from there, else UINT64_MAX. */
static uint64_t pat_locate(const uint8_t *buf, size_t n)
{
	static uint64_t kinv;
	size_t d, chk;

	if (!kinv)
		kinv = pat_kinv();
	for (d = 0; d < 8 && d + 8 <= n; d++) {
		uint64_t v, w, s;

		memcpy(&v, buf + d, 8);
		w = (v - PAT_SEED) * kinv;
		if (w >= (1ull << 45) || w * 8 < d)
			continue;
		s = w * 8 - d;
		chk = n < 64 ? n : 64;
		if (pat_check(buf, s, chk) < 0)
			return s;
	}
	return UINT64_MAX;
}

static void trk_note(struct trk *t, uint64_t to)
{
	if (t->njumps && t->j[t->njumps - 1].to != UINT64_MAX)
		t->j[t->njumps - 1].len = t->rx - t->j[t->njumps - 1].rx;
	if (t->njumps >= TRK_MAX_JUMPS) {
		t->dropped++;
		return;
	}
	t->j[t->njumps++] = (struct trk_jump){ .rx = t->rx, .from = t->src, .to = to };
}

/* Check @n received bytes. Returns how many were consumed: fewer than @n
 * only when a mismatch lies too close to the end to decode and !@final
 * (the caller keeps the rest and calls again with more). */
static size_t trk_feed(struct trk *t, const uint8_t *buf, size_t n, bool final)
{
	size_t done = 0;

	while (done < n) {
		long k = pat_check(buf + done, t->src, n - done);
		uint64_t s;

		if (k < 0) {
			t->rx += n - done;
			t->src += n - done;
			return n;
		}
		done += (size_t)k;
		t->rx += (uint64_t)k;
		t->src += (uint64_t)k;
		if (n - done < TRK_LOOKAHEAD && !final)
			return done;
		s = pat_locate(buf + done, n - done);
		if (s != UINT64_MAX) {
			trk_note(t, s);
			t->src = s;
			continue;
		}
		/* undecodable byte: count it, try the next position */
		if (!t->njumps || t->j[t->njumps - 1].to != UINT64_MAX ||
		    t->j[t->njumps - 1].rx + t->j[t->njumps - 1].len != t->rx)
			trk_note(t, UINT64_MAX);
		if (t->njumps && t->j[t->njumps - 1].to == UINT64_MAX)
			t->j[t->njumps - 1].len++;
		t->garbage++;
		t->rx++;
		done++;
	}
	return done;
}

static void trk_close(struct trk *t)
{
	if (t->njumps && t->j[t->njumps - 1].to != UINT64_MAX)
		t->j[t->njumps - 1].len = t->rx - t->j[t->njumps - 1].rx;
}

/* ",\"damage\":[...]" for the JSON lines (empty when intact) */
static const char *trk_json(struct trk *t, char *out, size_t cap)
{
	size_t l = 0;
	unsigned i;

	out[0] = 0;
	if (!t->njumps)
		return out;
	trk_close(t);
	l += (size_t)snprintf(out + l, cap - l, ",\"damage\":[");
	for (i = 0; i < t->njumps && l < cap; i++) {
		const struct trk_jump *j = &t->j[i];

		if (j->to == UINT64_MAX)
			l += (size_t)snprintf(out + l, cap - l,
					      "%s{\"at\":%llu,\"expected\":%llu,\"garbage\":%llu}",
					      i ? "," : "", (unsigned long long)j->rx,
					      (unsigned long long)j->from, (unsigned long long)j->len);
		else
			l += (size_t)snprintf(out + l, cap - l,
					      "%s{\"at\":%llu,\"expected\":%llu,\"got\":%llu,"
					      "\"%s\":%llu,\"then\":%llu}",
					      i ? "," : "", (unsigned long long)j->rx,
					      (unsigned long long)j->from, (unsigned long long)j->to,
					      j->to < j->from ? "dup" : "lost",
					      (unsigned long long)(j->to < j->from ? j->from - j->to :
								   j->to - j->from),
					      (unsigned long long)j->len);
	}
	if (l < cap)
		snprintf(out + l, cap - l, "]%s", t->dropped ? ",\"damage_more\":true" : "");
	return out;
}

/* A tracker fed chunk by chunk: keeps the few bytes after a mismatch that
 * a chunk boundary cut off, so the next chunk decodes them. */
struct rxchk {
	struct trk t;
	size_t nc;
	uint8_t carry[TRK_LOOKAHEAD];
	uint8_t *tmp; /* carry + one chunk, allocated on first use */
};

/* Feed @n bytes (n <= BUF_SZ); @final at the end of the stream. */
static void rxchk_feed(struct rxchk *c, const uint8_t *p, size_t n, bool final)
{
	size_t used;

	if (c->nc) {
		if (!c->tmp)
			c->tmp = malloc(BUF_SZ + TRK_LOOKAHEAD);
		if (!c->tmp)
			abort();
		memcpy(c->tmp, c->carry, c->nc);
		memcpy(c->tmp + c->nc, p, n);
		p = c->tmp;
		n += c->nc;
		c->nc = 0;
	}
	used = trk_feed(&c->t, p, n, final);
	if (used < n) {
		c->nc = n - used;
		memcpy(c->carry, p + used, c->nc);
	}
}

/* ---- options ------------------------------------------------------------ */
struct opts {
	const char *addr;
	const char *mode;      /* server: echo|sink|source; client: echo|up|down|rtt|many */
	uint64_t bytes;
	const char *hello_file;
	uint8_t *hello;
	size_t hello_len;
	bool drip;
	unsigned drip_us;
	unsigned gap_ms;
	uint64_t read_rate;    /* bytes/s, 0 = unlimited */
	bool no_shut;          /* client up: do not shutdown(SHUT_WR) */
	bool shut_early;       /* client down: shutdown(SHUT_WR) right after hello */
	int64_t rst_after;     /* send RST after this many payload bytes; -1 off */
	unsigned timeout_s;
	unsigned count;        /* many: connections; server: exit after N */
	unsigned conc;         /* many: concurrency */
	unsigned rtt_n;
	size_t chunk;          /* client: bytes per send() (0: BUF_SZ) */
	unsigned send_gap_ms;  /* client: sleep after each payload send() */
	uint64_t pause_at;     /* client: once this much payload is sent, */
	unsigned pause_ms;     /* ... sleep this long (0: no pause) */
	uint64_t overlap_at;   /* client up: at this payload offset inject a */
	size_t overlap_len;    /* ... retransmission overlapping received data */
	unsigned msg;          /* rtt message size */
	int expect_fail;       /* client: expect the connection to be closed */
	size_t skip_in;        /* server: bytes of prefix (ClientHello) to verify/skip */
	const char *report;    /* server: JSON lines file */
	const char *progress;  /* "<unix ms> <bytes> <queued>" lines every 100 ms
				* (echo client: "<unix ms> <sent> <outq> <recv> <inq>") */
	bool progress_rx;      /* this end receives the counted bytes */
};

static struct opts o = { .drip_us = 1000, .rst_after = -1, .timeout_s = 60, .count = 1,
			 .conc = 1, .rtt_n = 1000, .msg = 64 };
static pthread_mutex_t report_lock = PTHREAD_MUTEX_INITIALIZER;

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int parse_addr(const char *s, struct sockaddr_storage *ss, socklen_t *len)
{
	char host[256], *port;
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV }, *ai;
	int rc;

	if (strlen(s) >= sizeof(host))
		return -EINVAL;
	strcpy(host, s);
	port = strrchr(host, ':');
	if (!port)
		return -EINVAL;
	*port++ = 0;
	if (host[0] == '[') {
		size_t l = strlen(host);

		if (host[l - 1] != ']')
			return -EINVAL;
		host[l - 1] = 0;
		memmove(host, host + 1, l - 1);
	}
	rc = getaddrinfo(host[0] ? host : NULL, port, &hints, &ai);
	if (rc) {
		fprintf(stderr, "sng_xfer: %s: %s\n", s, gai_strerror(rc));
		return -EINVAL;
	}
	memcpy(ss, ai->ai_addr, ai->ai_addrlen);
	*len = ai->ai_addrlen;
	freeaddrinfo(ai);
	return 0;
}

/* Sleep so that @done bytes since @t0 do not exceed the read rate. */
static void rate_wait(double t0, uint64_t done)
{
	double due;

	if (!o.read_rate)
		return;
	due = t0 + (double)done / (double)o.read_rate;
	while (now_s() < due)
		usleep(1000);
}

static void send_rst(int fd)
{
	struct linger l = { 1, 0 };

	setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
	close(fd);
}

static int write_all(int fd, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	while (len) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static void report(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void report(const char *fmt, ...)
{
	va_list ap;
	FILE *f = stdout;

	pthread_mutex_lock(&report_lock);
	if (o.report)
		f = fopen(o.report, "a");
	if (f) {
		va_start(ap, fmt);
		vfprintf(f, fmt, ap);
		va_end(ap);
		fputc('\n', f);
		if (f != stdout)
			fclose(f);
		else
			fflush(f);
	}
	pthread_mutex_unlock(&report_lock);
}

/* Append "<unix ms> <bytes> <queued>" to the progress file at most every
 * 100 ms (queued: SIOCOUTQ of a sender, SIOCINQ of a receiver):
 * client = payload bytes sent (up) or received (down); server sink =
 * payload received, source = payload sent. The tests compare the two.
 * An echo client (@rx_bytes >= 0) appends "<unix ms> <sent> <outq> <recv>
 * <inq>": what it holds in flight between the two is what the proxy and
 * the echo server hold. */
static void progress_sample(int fd, uint64_t bytes, int64_t rx_bytes, bool force)
{
	int q = 0, iq = 0;
	static __thread double last;
	struct timespec ts;
	double t = now_s();
	FILE *f;

	if (!o.progress || (!force && t - last < 0.1))
		return;
	last = t;
	/* what this end's own kernel still holds: unsent (sender) or unread
	 * (receiver) bytes, so the tests can tell the proxy's share */
	if (fd >= 0 && ioctl(fd, o.progress_rx ? SIOCINQ : SIOCOUTQ, &q))
		q = 0;
	if (rx_bytes >= 0 && fd >= 0 && ioctl(fd, SIOCINQ, &iq))
		iq = 0;
	clock_gettime(CLOCK_REALTIME, &ts);
	f = fopen(o.progress, "a");
	if (!f)
		return;
	if (rx_bytes >= 0)
		fprintf(f, "%lld %llu %d %lld %d\n",
			(long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000,
			(unsigned long long)bytes, q, (long long)rx_bytes, iq);
	else
		fprintf(f, "%lld %llu %d\n", (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000,
			(unsigned long long)bytes, q);
	fclose(f);
}

static void progress_tick(int fd, uint64_t bytes, bool force)
{
	progress_sample(fd, bytes, -1, force);
}

/* ---- server ------------------------------------------------------------- */

/* Read and verify the ClientHello prefix (o.skip_in bytes, compared with
 * o.hello when given). Returns 0, or -1 with *why set. */
static int server_read_prefix(int fd, const char **why, uint64_t *in)
{
	uint8_t buf[4096];
	size_t got = 0;

	while (got < o.skip_in) {
		size_t want = o.skip_in - got < sizeof(buf) ? o.skip_in - got : sizeof(buf);
		ssize_t n = recv(fd, buf, want, 0);

		if (n <= 0) {
			*why = n == 0 ? "eof in prefix" : "error in prefix";
			return -1;
		}
		if (o.hello && memcmp(buf, o.hello + got, (size_t)n)) {
			*why = "prefix mismatch";
			return -1;
		}
		got += (size_t)n;
		*in += (uint64_t)n;
	}
	return 0;
}

static const char *end_name(ssize_t n)
{
	if (n == 0)
		return "eof";
	return errno == ECONNRESET ? "reset" : "error";
}

static void *server_conn(void *arg)
{
	int fd = (int)(intptr_t)arg;
	uint8_t *buf = malloc(BUF_SZ);
	uint64_t in = 0, out = 0, payload = 0;
	const char *why = NULL, *end = "eof";
	double t0 = now_s();
	struct rxchk chk = { 0 };
	char dmg[1024] = "";
	ssize_t n = 0;

	if (!buf)
		goto out;
	if (server_read_prefix(fd, &why, &in))
		goto done;
	if (!strcmp(o.mode, "sink")) {
		for (;;) {
			size_t want = BUF_SZ;

			if (o.read_rate && want > o.read_rate / 100 + 1)
				want = o.read_rate / 100 + 1;
			n = recv(fd, buf, want, 0);
			if (n <= 0)
				break;
			rxchk_feed(&chk, buf, (size_t)n, false);
			if (chk.t.njumps && !why)
				why = "pattern mismatch";
			payload += (uint64_t)n;
			in += (uint64_t)n;
			progress_tick(fd, payload, false);
			rate_wait(t0, payload);
		}
		end = end_name(n);
		rxchk_feed(&chk, buf, 0, true);
		if (chk.t.njumps && !why)
			why = "pattern mismatch";
		trk_json(&chk.t, dmg, sizeof(dmg));
		if (n == 0) {
			/* half-close test: answer after the client's FIN; the
			 * first damage (payload offset, source offset seen
			 * there) follows BAD for the client's report */
			char line[128];
			int l = snprintf(line, sizeof(line), "SINK %llu %s", (unsigned long long)payload,
					 why ? "BAD" : "OK");

			if (chk.t.njumps)
				l += snprintf(line + l, sizeof(line) - (size_t)l, " at %llu got %lld",
					      (unsigned long long)chk.t.j[0].rx,
					      chk.t.j[0].to == UINT64_MAX ? -1ll :
					      (long long)chk.t.j[0].to);
			l += snprintf(line + l, sizeof(line) - (size_t)l, "\n");

			if (write_all(fd, line, (size_t)l) == 0)
				out += (uint64_t)l;
		}
	} else if (!strcmp(o.mode, "source")) {
		while (out < o.bytes) {
			size_t len = o.bytes - out < BUF_SZ ? o.bytes - out : BUF_SZ;

			if (o.rst_after >= 0 && out + len > (uint64_t)o.rst_after)
				len = (uint64_t)o.rst_after - out;
			if (!len && o.rst_after >= 0) {
				send_rst(fd);
				fd = -1;
				end = "sent-rst";
				goto done;
			}
			pat_fill(buf, out, len);
			if (write_all(fd, buf, len)) {
				why = "write failed";
				end = errno == ECONNRESET || errno == EPIPE ? "reset" : "error";
				goto done;
			}
			out += len;
			progress_tick(fd, out, false);
		}
		progress_tick(fd, out, true);
		shutdown(fd, SHUT_WR);
		/* wait for the client's FIN (or reset) */
		while ((n = recv(fd, buf, BUF_SZ, 0)) > 0)
			in += (uint64_t)n;
		end = end_name(n);
	} else { /* echo */
		for (;;) {
			n = recv(fd, buf, BUF_SZ, 0);
			if (n <= 0)
				break;
			in += (uint64_t)n;
			if (write_all(fd, buf, (size_t)n)) {
				n = -1;
				break;
			}
			out += (uint64_t)n;
			rate_wait(t0, in);
		}
		end = end_name(n);
		shutdown(fd, SHUT_WR);
	}
done:
	report("{\"role\":\"server\",\"mode\":\"%s\",\"bytes_in\":%llu,\"bytes_out\":%llu,"
	       "\"payload_in\":%llu,\"end\":\"%s\",\"secs\":%.3f,\"verdict\":\"%s\"%s%s%s%s}",
	       o.mode, (unsigned long long)in, (unsigned long long)out,
	       (unsigned long long)payload, end, now_s() - t0, why ? "fail" : "ok",
	       why ? ",\"error\":\"" : "", why ? why : "", why ? "\"" : "", dmg);
out:
	free(chk.tmp);
	free(buf);
	if (fd >= 0)
		close(fd);
	return NULL;
}

static int run_server(void)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	int lfd, one = 1, zero = 0;
	unsigned served = 0;

	if (parse_addr(o.addr, &ss, &sl))
		return 2;
	lfd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (lfd < 0)
		return perror("socket"), 1;
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (ss.ss_family == AF_INET6)
		setsockopt(lfd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
	if (bind(lfd, (struct sockaddr *)&ss, sl) || listen(lfd, 4096))
		return perror("bind/listen"), 1;
	fprintf(stderr, "sng_xfer: %s server on %s\n", o.mode, o.addr);
	for (;;) {
		pthread_t th;
		pthread_attr_t at;
		int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);

		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED || errno == EMFILE)
				continue;
			return perror("accept"), 1;
		}
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		pthread_attr_init(&at);
		pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
		pthread_attr_setstacksize(&at, 256 * 1024);
		if (pthread_create(&th, &at, server_conn, (void *)(intptr_t)fd)) {
			close(fd);
			continue;
		}
		pthread_attr_destroy(&at);
		if (o.count > 1 && ++served >= o.count)
			break;
	}
	sleep(2); /* let the last connections finish */
	return 0;
}

/* ---- client ------------------------------------------------------------- */

struct result {
	uint64_t sent, recvd;
	double secs;
	const char *why;
	char detail[1024];  /* damage JSON or the sink's line */
	const char *end;
	double p50, p99;
};

static int client_connect(void)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	int fd, one = 1;
	struct timeval tv = { .tv_sec = o.timeout_s };

	if (parse_addr(o.addr, &ss, &sl))
		return -EINVAL;
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&ss, sl)) {
		int e = -errno;

		close(fd);
		return e;
	}
	return fd;
}

static int send_hello(int fd)
{
	size_t i;

	if (!o.hello_len)
		return 0;
	if (!o.drip)
		return write_all(fd, o.hello, o.hello_len);
	for (i = 0; i < o.hello_len; i++) {
		int rc = write_all(fd, o.hello + i, 1);

		if (rc)
			return rc;
		usleep(o.drip_us);
	}
	return 0;
}

static uint16_t csum_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

static uint32_t csum_add(uint32_t sum, const void *p, size_t len)
{
	const uint8_t *b = p;
	size_t i;

	for (i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)(b[i] << 8 | b[i + 1]);
	if (len & 1)
		sum += (uint32_t)(b[len - 1] << 8);
	return sum;
}

/*
 * --overlap-at OFF:LEN (IPv4, root): inject one TCP segment on @fd's
 * connection, as a retransmission would look: payload [OFF - LEN, OFF + LEN)
 * where the peer has received everything up to OFF (@payload_sent == OFF,
 * all acked) and not the LEN bytes after it. The peer's TCP queues such a
 * segment whole (seq < rcv_nxt < end_seq); a reader must skip the first LEN
 * bytes. The socket then sends from OFF on itself (a duplicate the peer
 * drops). Sequence numbers come from TCP_REPAIR (read only); TCP timestamps
 * must be off (sysctl net.ipv4.tcp_timestamps=0) or PAWS drops the segment.
 * Returns 0 or -errno.
 */
static int inject_overlap(int fd, uint64_t payload_sent)
{
	struct sockaddr_in la, ra;
	socklen_t l = sizeof(la);
	uint32_t wseq = 0, rnxt = 0, sum;
	int one = 1, zero = 0, q, raw, outq = 1, i, err = 0;
	size_t plen = 2 * o.overlap_len, tlen = sizeof(struct iphdr) + sizeof(struct tcphdr) + plen;
	uint8_t *pkt = calloc(1, tlen);
	struct iphdr *ip = (struct iphdr *)pkt;
	struct tcphdr *th = (struct tcphdr *)(pkt + sizeof(*ip));
	struct {
		uint32_t src, dst;
		uint8_t zero, proto;
		uint16_t len;
	} __attribute__((packed)) ph;

	if (!pkt)
		return -ENOMEM;
	if (getsockname(fd, (struct sockaddr *)&la, &l) || la.sin_family != AF_INET ||
	    (l = sizeof(ra), getpeername(fd, (struct sockaddr *)&ra, &l))) {
		free(pkt);
		return -EAFNOSUPPORT;
	}
	for (i = 0; i < 2000 && outq; i++) { /* everything up to OFF acked */
		if (ioctl(fd, SIOCOUTQ, &outq))
			break;
		usleep(1000);
	}
	if (setsockopt(fd, IPPROTO_TCP, TCP_REPAIR, &one, sizeof(one))) {
		free(pkt);
		return -errno;
	}
	l = sizeof(wseq);
	q = TCP_SEND_QUEUE;
	if (setsockopt(fd, IPPROTO_TCP, TCP_REPAIR_QUEUE, &q, sizeof(q)) ||
	    getsockopt(fd, IPPROTO_TCP, TCP_QUEUE_SEQ, &wseq, &l))
		err = -errno;
	q = TCP_RECV_QUEUE;
	l = sizeof(rnxt);
	if (!err && (setsockopt(fd, IPPROTO_TCP, TCP_REPAIR_QUEUE, &q, sizeof(q)) ||
		     getsockopt(fd, IPPROTO_TCP, TCP_QUEUE_SEQ, &rnxt, &l)))
		err = -errno;
	setsockopt(fd, IPPROTO_TCP, TCP_REPAIR, &zero, sizeof(zero));
	if (err) {
		free(pkt);
		return err;
	}
	ip->version = 4;
	ip->ihl = 5;
	ip->tot_len = htons((uint16_t)tlen);
	ip->frag_off = htons(IP_DF);
	ip->ttl = 64;
	ip->protocol = IPPROTO_TCP;
	ip->saddr = la.sin_addr.s_addr;
	ip->daddr = ra.sin_addr.s_addr;
	th->source = la.sin_port;
	th->dest = ra.sin_port;
	th->seq = htonl(wseq - (uint32_t)o.overlap_len);
	th->ack_seq = htonl(rnxt);
	th->doff = 5;
	th->ack = 1;
	th->psh = 1;
	th->window = htons(0xffff);
	pat_fill(pkt + sizeof(*ip) + sizeof(*th), payload_sent - o.overlap_len, plen);
	ph.src = ip->saddr;
	ph.dst = ip->daddr;
	ph.zero = 0;
	ph.proto = IPPROTO_TCP;
	ph.len = htons((uint16_t)(sizeof(*th) + plen));
	sum = csum_add(0, &ph, sizeof(ph));
	sum = csum_add(sum, th, sizeof(*th) + plen);
	th->check = htons(csum_fold(sum));
	raw = socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_RAW);
	if (raw < 0 || sendto(raw, pkt, tlen, 0, (struct sockaddr *)&ra, sizeof(ra)) != (ssize_t)tlen)
		err = -errno;
	if (raw >= 0)
		close(raw);
	free(pkt);
	return err;
}

/* Verify a received chunk at stream position @pos: the hello first (when
 * @with_hello), then the pattern. Returns NULL or why. */
static const char *check_chunk(struct rxchk *c, const uint8_t *in, size_t n, uint64_t pos,
			       bool with_hello)
{
	uint64_t hl = with_hello ? o.hello_len : 0;
	size_t h = 0;

	if (pos < hl) {
		h = hl - pos < n ? (size_t)(hl - pos) : n;
		if (memcmp(in, o.hello + pos, h))
			return "hello echo mismatch";
	}
	if (h < n)
		rxchk_feed(c, in + h, n - h, false);
	return c->t.njumps ? "pattern mismatch" : NULL;
}

static void set_nonblock(int fd)
{
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
}

/* echo: send hello + N pattern bytes full duplex, expect the same back.
 * up:   send hello + N bytes, shutdown(SHUT_WR), expect "SINK N OK".
 * down: send hello (shutdown early if asked), expect N pattern bytes + EOF. */
static void client_xfer(int fd, struct result *r)
{
	bool echo = !strcmp(o.mode, "echo"), up = !strcmp(o.mode, "up");
	uint64_t tx_total = o.hello_len + ((echo || up) ? o.bytes : 0);
	uint64_t rx_total = echo ? o.hello_len + o.bytes : (up ? 0 : o.bytes);
	uint8_t *out = malloc(BUF_SZ), *in = malloc(BUF_SZ);
	uint64_t sent = 0, got = 0;
	char line[128] = "";
	size_t line_len = 0;
	double t0 = now_s();
	bool shut = false, eof = false;
	struct rxchk chk = { 0 };

	r->end = "eof";
	if (!out || !in) {
		r->why = "oom";
		goto done;
	}
	if (send_hello(fd)) {
		r->why = "send hello";
		r->end = errno == ECONNRESET ? "reset" : "error";
		goto done;
	}
	sent = o.hello_len;
	if (o.gap_ms)
		usleep(o.gap_ms * 1000);
	set_nonblock(fd);
	while (!eof) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		int rc;

		if (sent < tx_total) {
			pfd.events |= POLLOUT;
		} else if (!shut && ((up && !o.no_shut) || (echo && (!o.no_shut || got >= rx_total)) ||
				     (!up && !echo && (o.shut_early || got >= rx_total)))) {
			/* up: FIN after the data; echo --no-shut and down:
			 * FIN after the reply; down --shut-early: FIN right
			 * after the hello (and --gap-ms) */
			shutdown(fd, SHUT_WR);
			shut = true;
		}
		if (o.read_rate) {
			/* slow reader: only read when the rate allows it */
			double due = t0 + (double)got / (double)o.read_rate;

			if (now_s() < due)
				pfd.events &= ~POLLIN;
		}
		rc = poll(&pfd, 1, pfd.events & POLLIN ? (int)o.timeout_s * 1000 : 2);
		if (rc < 0) {
			r->why = "poll";
			goto done;
		}
		if (rc == 0 && (pfd.events & POLLIN)) {
			r->why = "timeout";
			r->end = "timeout";
			goto done;
		}
		if (pfd.revents & POLLOUT) {
			size_t len = tx_total - sent < BUF_SZ ? (size_t)(tx_total - sent) : BUF_SZ;
			ssize_t n;

			if (o.rst_after >= 0 && sent - o.hello_len + len > (uint64_t)o.rst_after)
				len = (size_t)((uint64_t)o.rst_after - (sent - o.hello_len));
			if (o.chunk && len > o.chunk)
				len = o.chunk;
			if (o.pause_ms && sent - o.hello_len < o.pause_at &&
			    sent - o.hello_len + len > o.pause_at)
				len = (size_t)(o.pause_at - (sent - o.hello_len));
			if (o.overlap_len && sent - o.hello_len < o.overlap_at &&
			    sent - o.hello_len + len > o.overlap_at)
				len = (size_t)(o.overlap_at - (sent - o.hello_len));
			if (!len) {
				send_rst(fd);
				fd = -1;
				r->end = "sent-rst";
				goto done;
			}
			pat_fill(out, sent - o.hello_len, len);
			n = send(fd, out, len, MSG_NOSIGNAL);
			if (n < 0 && errno != EAGAIN) {
				r->why = "send";
				r->end = errno == ECONNRESET || errno == EPIPE ? "reset" : "error";
				goto done;
			}
			if (n > 0) {
				sent += (uint64_t)n;
				/* --send-gap-ms / --pause-at: segment boundaries
				 * and quiet periods a test can aim at */
				if (o.send_gap_ms)
					usleep(o.send_gap_ms * 1000);
				if (o.pause_ms && sent - o.hello_len == o.pause_at)
					usleep(o.pause_ms * 1000);
				if (o.overlap_len && sent - o.hello_len == o.overlap_at) {
					int e = inject_overlap(fd, o.overlap_at);

					if (e) {
						fprintf(stderr, "sng_xfer: --overlap-at: %s\n", strerror(-e));
						r->why = "overlap injection failed";
						goto done;
					}
				}
			}
			if (!echo && up)
				progress_tick(fd, sent - o.hello_len, false);
			else if (echo)
				progress_sample(fd, sent - o.hello_len, (int64_t)got, false);
		}
		if (pfd.revents & (POLLIN | POLLHUP | POLLERR)) {
			size_t want = BUF_SZ;
			ssize_t n;

			if (o.read_rate && want > o.read_rate / 100 + 1)
				want = o.read_rate / 100 + 1;
			n = recv(fd, in, want, 0);
			if (n == 0) {
				eof = true;
				break;
			}
			if (n < 0) {
				if (errno == EAGAIN || errno == EINTR)
					continue;
				r->why = "recv";
				r->end = errno == ECONNRESET ? "reset" : "error";
				goto done;
			}
			if (up) {
				size_t c = (size_t)n < sizeof(line) - 1 - line_len ?
					   (size_t)n : sizeof(line) - 1 - line_len;

				memcpy(line + line_len, in, c);
				line_len += c;
				line[line_len] = 0;
			} else if (!r->why) {
				r->why = check_chunk(&chk, in, (size_t)n, got, echo);
			}
			got += (uint64_t)n;
			if (!echo && !up)
				progress_tick(fd, got, false);
			else if (echo)
				progress_sample(fd, sent - o.hello_len, (int64_t)got, false);
		}
		if (o.rst_after >= 0 && !echo && !up && got >= (uint64_t)o.rst_after) {
			send_rst(fd);
			fd = -1;
			r->end = "sent-rst";
			goto done;
		}
	}
	if (!up && !r->why) {
		rxchk_feed(&chk, in, 0, true);
		if (chk.t.njumps)
			r->why = "pattern mismatch";
	}
	if (r->why)
		goto done;
	if (sent < tx_total)
		r->why = "eof before all was sent";
	else if (up) {
		unsigned long long cnt = 0;
		char verdict[8] = "";

		if (sscanf(line, "SINK %llu %7s", &cnt, verdict) != 2)
			r->why = "no sink report";
		else if (cnt != o.bytes || strcmp(verdict, "OK"))
			r->why = "sink saw wrong bytes";
		if (r->why) {
			size_t l = strcspn(line, "\r\n\"\\");

			snprintf(r->detail, sizeof(r->detail), ",\"sink\":\"%.*s\"", (int)l, line);
		}
	} else if (got != rx_total) {
		r->why = got < rx_total ? "short" : "too many bytes";
	}
done:
	r->sent = sent;
	r->recvd = got;
	r->secs = now_s() - t0;
	if (chk.t.njumps)
		trk_json(&chk.t, r->detail, sizeof(r->detail));
	free(chk.tmp);
	if (fd >= 0)
		close(fd);
	free(out);
	free(in);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* rtt: hello, then N ping-pongs of o.msg bytes through an echo server. */
static void client_rtt(int fd, struct result *r)
{
	double *lat = calloc(o.rtt_n, sizeof(double)), t0 = now_s();
	uint8_t buf[65536], in[65536];
	uint64_t pos = 0;
	unsigned i;

	if (!lat || o.msg > sizeof(buf)) {
		r->why = "bad args";
		goto done;
	}
	if (send_hello(fd)) {
		r->why = "send hello";
		goto done;
	}
	/* the echo server sends the hello back first */
	for (size_t got = 0; got < o.hello_len;) {
		ssize_t n = recv(fd, in, o.hello_len - got < sizeof(in) ? o.hello_len - got : sizeof(in), 0);

		if (n <= 0) {
			r->why = "hello echo";
			goto done;
		}
		if (memcmp(in, o.hello + got, (size_t)n)) {
			r->why = "hello echo mismatch";
			goto done;
		}
		got += (size_t)n;
	}
	for (i = 0; i < o.rtt_n; i++) {
		double s = now_s();
		size_t got = 0;

		pat_fill(buf, pos, o.msg);
		if (write_all(fd, buf, o.msg)) {
			r->why = "send";
			goto done;
		}
		while (got < o.msg) {
			ssize_t n = recv(fd, in + got, o.msg - got, 0);

			if (n <= 0) {
				r->why = "recv";
				goto done;
			}
			got += (size_t)n;
		}
		if (memcmp(in, buf, o.msg)) {
			r->why = "echo mismatch";
			goto done;
		}
		pos += o.msg;
		lat[i] = (now_s() - s) * 1e6;
	}
	qsort(lat, o.rtt_n, sizeof(double), cmp_double);
	r->p50 = lat[o.rtt_n / 2];
	r->p99 = lat[(size_t)((double)o.rtt_n * 0.99)];
	r->sent = r->recvd = pos;
done:
	r->secs = now_s() - t0;
	free(lat);
	close(fd);
}

static void one_conn(struct result *r)
{
	int fd = client_connect();

	if (fd < 0) {
		r->why = "connect";
		r->end = fd == -ECONNREFUSED ? "refused" : "error";
		return;
	}
	if (!strcmp(o.mode, "rtt"))
		client_rtt(fd, r);
	else
		client_xfer(fd, r);
}

struct many_state {
	pthread_mutex_t lock;
	unsigned next, ok, bad;
	const char *first_why;
};

static void *many_thread(void *arg)
{
	struct many_state *m = arg;

	for (;;) {
		struct result r = { 0 };

		pthread_mutex_lock(&m->lock);
		if (m->next >= o.count) {
			pthread_mutex_unlock(&m->lock);
			return NULL;
		}
		m->next++;
		pthread_mutex_unlock(&m->lock);
		one_conn(&r);
		pthread_mutex_lock(&m->lock);
		if (r.why) {
			m->bad++;
			if (!m->first_why)
				m->first_why = r.why;
		} else {
			m->ok++;
		}
		pthread_mutex_unlock(&m->lock);
	}
}

static int run_client(void)
{
	struct result r = { 0 };
	bool failed;

	if (!strcmp(o.mode, "many")) {
		struct many_state m = { .lock = PTHREAD_MUTEX_INITIALIZER };
		pthread_t th[256];
		unsigned i, n = o.conc > 256 ? 256 : (o.conc ? o.conc : 1);
		double t0 = now_s();

		o.mode = "echo";
		for (i = 0; i < n; i++)
			pthread_create(&th[i], NULL, many_thread, &m);
		for (i = 0; i < n; i++)
			pthread_join(th[i], NULL);
		printf("{\"role\":\"client\",\"mode\":\"many\",\"conns\":%u,\"ok\":%u,\"failed\":%u,"
		       "\"secs\":%.3f,\"conn_per_s\":%.0f,\"verdict\":\"%s\"%s%s%s}\n",
		       o.count, m.ok, m.bad, now_s() - t0, (double)o.count / (now_s() - t0),
		       m.bad ? "fail" : "ok", m.first_why ? ",\"error\":\"" : "",
		       m.first_why ? m.first_why : "", m.first_why ? "\"" : "");
		return m.bad ? 1 : 0;
	}
	one_conn(&r);
	failed = r.why != NULL;
	if (o.expect_fail) {
		/* success means the connection was closed on us without data */
		failed = !(r.recvd == 0 && (r.why != NULL));
	}
	printf("{\"role\":\"client\",\"mode\":\"%s\",\"bytes_sent\":%llu,\"bytes_recv\":%llu,"
	       "\"secs\":%.3f,\"gbit_s\":%.3f,", o.mode, (unsigned long long)r.sent,
	       (unsigned long long)r.recvd, r.secs,
	       r.secs > 0 ? (double)(r.sent > r.recvd ? r.sent : r.recvd) * 8 / r.secs / 1e9 : 0);
	if (!strcmp(o.mode, "rtt"))
		printf("\"rtt_p50_us\":%.1f,\"rtt_p99_us\":%.1f,", r.p50, r.p99);
	printf("\"end\":\"%s\",\"verdict\":\"%s\"%s%s%s%s}\n", r.end ? r.end : "eof",
	       failed ? "fail" : "ok", r.why ? ",\"error\":\"" : "", r.why ? r.why : "",
	       r.why ? "\"" : "", r.detail);
	return failed ? 1 : 0;
}

static int load_hello(void)
{
	FILE *f;
	struct stat st;

	if (!o.hello_file)
		return 0;
	f = fopen(o.hello_file, "rb");
	if (!f || fstat(fileno(f), &st)) {
		fprintf(stderr, "sng_xfer: %s: %s\n", o.hello_file, strerror(errno));
		return -1;
	}
	o.hello_len = (size_t)st.st_size;
	o.hello = malloc(o.hello_len + 1);
	if (!o.hello || fread(o.hello, 1, o.hello_len, f) != o.hello_len) {
		fclose(f);
		return -1;
	}
	fclose(f);
	return 0;
}

static uint64_t parse_size(const char *s)
{
	char *end;
	double v = strtod(s, &end);

	switch (*end) {
	case 'k': case 'K': v *= 1024; break;
	case 'm': case 'M': v *= 1024 * 1024; break;
	case 'g': case 'G': v *= 1024.0 * 1024 * 1024; break;
	default: break;
	}
	return (uint64_t)v;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: sng_xfer server ADDR:PORT [--mode echo|sink|source] [--bytes N]\n"
		"                [--hello FILE | --skip N] [--read-rate B/s] [--rst-after N]\n"
		"                [--count N] [--report FILE] [--progress FILE]\n"
		"       sng_xfer client ADDR:PORT [--mode echo|up|down|rtt|many] [--bytes N]\n"
		"                [--hello FILE] [--drip] [--drip-us U] [--gap-ms M]\n"
		"                [--read-rate B/s] [--no-shut] [--shut-early] [--rst-after N]\n"
		"                [--count N --conc K] [--rtt-n N --msg B] [--timeout S] [--expect-fail]\n"
		"                [--progress FILE] [--chunk B] [--send-gap-ms M] [--pause-at OFF:MS]\n"
		"                [--overlap-at OFF:LEN]  (up, IPv4, root, tcp_timestamps=0)\n"
		"Pattern: byte p = byte (p%%8) of (p/8)*0x9E3779B97F4A7C15+seed, after the hello.\n"
		"server sink answers \"SINK <bytes> OK|BAD\" after the client's FIN.\n"
		"Sizes take k/m/g suffixes. One JSON line per connection (server) or run (client).\n");
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "mode", 1, 0, 'm' }, { "bytes", 1, 0, 'b' }, { "hello", 1, 0, 'H' },
		{ "drip", 0, 0, 'd' }, { "drip-us", 1, 0, 'D' }, { "gap-ms", 1, 0, 'g' },
		{ "read-rate", 1, 0, 'r' }, { "no-shut", 0, 0, 'n' }, { "shut-early", 0, 0, 'e' },
		{ "rst-after", 1, 0, 'R' }, { "timeout", 1, 0, 't' }, { "count", 1, 0, 'c' },
		{ "conc", 1, 0, 'C' }, { "rtt-n", 1, 0, 'N' }, { "msg", 1, 0, 'M' },
		{ "expect-fail", 0, 0, 'x' }, { "skip", 1, 0, 's' }, { "report", 1, 0, 'o' },
		{ "progress", 1, 0, 'P' }, { "chunk", 1, 0, 'k' }, { "send-gap-ms", 1, 0, 'G' },
		{ "pause-at", 1, 0, 'A' }, { "overlap-at", 1, 0, 'O' }, { "help", 0, 0, 'h' }, { 0 }
	};
	bool server;
	int c;

	if (argc < 3) {
		usage(argc > 1 && !strcmp(argv[1], "--help") ? stdout : stderr);
		return argc > 1 && !strcmp(argv[1], "--help") ? 0 : 2;
	}
	server = !strcmp(argv[1], "server");
	if (!server && strcmp(argv[1], "client")) {
		usage(stderr);
		return 2;
	}
	o.addr = argv[2];
	o.mode = server ? "echo" : "echo";
	optind = 3;
	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case 'm': o.mode = optarg; break;
		case 'b': o.bytes = parse_size(optarg); break;
		case 'H': o.hello_file = optarg; break;
		case 'd': o.drip = true; break;
		case 'D': o.drip_us = (unsigned)atoi(optarg); break;
		case 'g': o.gap_ms = (unsigned)atoi(optarg); break;
		case 'r': o.read_rate = parse_size(optarg); break;
		case 'n': o.no_shut = true; break;
		case 'e': o.shut_early = true; break;
		case 'R': o.rst_after = (int64_t)parse_size(optarg); break;
		case 't': o.timeout_s = (unsigned)atoi(optarg); break;
		case 'c': o.count = (unsigned)atoi(optarg); break;
		case 'C': o.conc = (unsigned)atoi(optarg); break;
		case 'N': o.rtt_n = (unsigned)atoi(optarg); break;
		case 'M': o.msg = (unsigned)atoi(optarg); break;
		case 'x': o.expect_fail = 1; break;
		case 's': o.skip_in = (size_t)parse_size(optarg); break;
		case 'o': o.report = optarg; break;
		case 'P': o.progress = optarg; break;
		case 'k': o.chunk = (size_t)parse_size(optarg); break;
		case 'G': o.send_gap_ms = (unsigned)atoi(optarg); break;
		case 'O': {
			char *colon = strchr(optarg, ':');

			if (!colon) {
				fprintf(stderr, "sng_xfer: --overlap-at OFF:LEN\n");
				return 2;
			}
			*colon = 0;
			o.overlap_at = parse_size(optarg);
			o.overlap_len = (size_t)parse_size(colon + 1);
			if (!o.overlap_len || o.overlap_len > o.overlap_at || o.overlap_len > 16384) {
				fprintf(stderr, "sng_xfer: --overlap-at: 0 < LEN <= min(OFF, 16k)\n");
				return 2;
			}
			break;
		}
		case 'A': {
			char *colon = strchr(optarg, ':');

			if (!colon) {
				fprintf(stderr, "sng_xfer: --pause-at OFF:MS\n");
				return 2;
			}
			*colon = 0;
			o.pause_at = parse_size(optarg);
			o.pause_ms = (unsigned)atoi(colon + 1);
			break;
		}
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (load_hello())
		return 2;
	signal(SIGPIPE, SIG_IGN);
	o.progress_rx = server ? !strcmp(o.mode, "sink") : !strcmp(o.mode, "down");
	if (server) {
		if (o.hello_len && !o.skip_in)
			o.skip_in = o.hello_len;
		if (strcmp(o.mode, "echo") && strcmp(o.mode, "sink") && strcmp(o.mode, "source")) {
			fprintf(stderr, "sng_xfer: server mode must be echo, sink or source\n");
			return 2;
		}
		if (!strcmp(o.mode, "echo"))
			o.skip_in = 0; /* echo returns the hello too */
		return run_server();
	}
	if (strcmp(o.mode, "echo") && strcmp(o.mode, "up") && strcmp(o.mode, "down") &&
	    strcmp(o.mode, "rtt") && strcmp(o.mode, "many")) {
		fprintf(stderr, "sng_xfer: client mode must be echo, up, down, rtt or many\n");
		return 2;
	}
	return run_client();
}
