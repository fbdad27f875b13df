// SPDX-License-Identifier: GPL-2.0-only
/* Route-change latency: run a trigger command (a manifest write, kill -HUP),
 * then probe a gateway every millisecond until the route is (or is no longer)
 * served; prints one JSON line with the milliseconds from the trigger. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/wait.h>

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* One probe: connect, send the ClientHello, wait up to @wait_ms for the
 * backend to answer a byte (served) or the gateway to close (not served).
 * 1 served, 0 not served (refused, closed, reset, timeout). */
static int probe(const struct sockaddr_in *sa, const unsigned char *hello, size_t hlen,
		 int wait_ms)
{
	struct pollfd p;
	char c;
	int fd, one = 1, rc = 0;

	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return 0;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(fd, (const struct sockaddr *)sa, sizeof(*sa)))
		goto out;
	if (write(fd, hello, hlen) != (ssize_t)hlen || write(fd, "PING\n", 5) != 5)
		goto out;
	p.fd = fd;
	p.events = POLLIN;
	if (poll(&p, 1, wait_ms) == 1 && recv(fd, &c, 1, 0) == 1)
		rc = 1;
out:
	close(fd);
	return rc;
}

static void usage(void)
{
	fprintf(stderr,
		"usage: sng_routewait --connect IP:PORT --hello FILE [--until served|gone]\n"
		"                     [--timeout-ms MS] [--probe-wait-ms MS] -- TRIGGER_CMD...\n"
		"Runs TRIGGER_CMD, then probes every 1 ms until the state is reached.\n"
		"Prints {\"ms\":..,\"probes\":..,\"reached\":true|false,\"wall_ms\":..} (wall_ms:\n"
		"CLOCK_REALTIME when the state was seen); exit 0 when reached.\n");
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "connect", 1, 0, 'c' }, { "hello", 1, 0, 'H' }, { "until", 1, 0, 'u' },
		{ "timeout-ms", 1, 0, 't' }, { "probe-wait-ms", 1, 0, 'w' }, { 0 }
	};
	const char *connect_to = NULL, *hello_path = NULL, *until = "served";
	unsigned char hello[16384];
	struct sockaddr_in sa = { .sin_family = AF_INET };
	struct timespec wall;
	double t0, t;
	long timeout_ms = 5000, wait_ms = 200, probes = 0;
	size_t hlen;
	char host[64], *colon;
	int c, want, reached = 0, status;
	pid_t pid;
	FILE *f;

	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case 'c': connect_to = optarg; break;
		case 'H': hello_path = optarg; break;
		case 'u': until = optarg; break;
		case 't': timeout_ms = atol(optarg); break;
		case 'w': wait_ms = atol(optarg); break;
		default: usage(); return 2;
		}
	}
	if (!connect_to || !hello_path || optind >= argc ||
	    (strcmp(until, "served") && strcmp(until, "gone"))) {
		usage();
		return 2;
	}
	want = !strcmp(until, "served");
	snprintf(host, sizeof(host), "%s", connect_to);
	colon = strrchr(host, ':');
	if (colon)
		*colon = '\0';
	if (!colon || inet_pton(AF_INET, host, &sa.sin_addr) != 1) {
		fprintf(stderr, "sng_routewait: --connect %s: expected IPv4:PORT\n", connect_to);
		return 2;
	}
	sa.sin_port = htons((uint16_t)atoi(colon + 1));
	f = fopen(hello_path, "rb");
	if (!f) {
		fprintf(stderr, "sng_routewait: %s: %s\n", hello_path, strerror(errno));
		return 2;
	}
	hlen = fread(hello, 1, sizeof(hello), f);
	fclose(f);
	t0 = now_ms();
	pid = fork();
	if (pid < 0)
		return 1;
	if (!pid) {
		execvp(argv[optind], argv + optind);
		_exit(127);
	}
	if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status)) {
		fprintf(stderr, "sng_routewait: trigger %s failed\n", argv[optind]);
		return 1;
	}
	for (;;) {
		probes++;
		if (probe(&sa, hello, hlen, (int)wait_ms) == want) {
			reached = 1;
			break;
		}
		if (now_ms() - t0 > timeout_ms)
			break;
		usleep(1000);
	}
	t = now_ms() - t0;
	clock_gettime(CLOCK_REALTIME, &wall);
	printf("{\"until\":\"%s\",\"ms\":%.1f,\"probes\":%ld,\"reached\":%s,\"wall_ms\":%.1f}\n",
	       until, t, probes, reached ? "true" : "false",
	       wall.tv_sec * 1e3 + wall.tv_nsec / 1e6);
	return reached ? 0 : 1;
}
