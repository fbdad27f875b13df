// SPDX-License-Identifier: GPL-2.0-only
/* A line-protocol TCP/TLS backend modelled on the Gateway API conformance
 * tcpserver: it says who it is, whether the leg is TLS and the SNI it saw.
 *
 * Protocol (one line each): on connect the server sends
 *   "Gateway API Test TCP Server <name>"; then PING -> PONG, IS_TLS ->
 *   true|false, TEST -> one JSON line {service, isTLS, tls{serverName,
 *   version, cipherSuite}}, QUIT -> close; any other line is echoed back.
 * One thread per connection (a test tool, not a server to benchmark). */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

struct srv_conn {
	int fd;
	SSL *ssl;
};

static const char *srv_name = "backend";
static SSL_CTX *srv_ctx;

static int conn_write(struct srv_conn *c, const char *buf, size_t len)
{
	size_t off = 0;
	ssize_t n;

	while (off < len) {
		if (c->ssl)
			n = SSL_write(c->ssl, buf + off, (int)(len - off));
		else
			n = send(c->fd, buf + off, len - off, MSG_NOSIGNAL);
		if (n <= 0)
			return -1;
		off += (size_t)n;
	}
	return 0;
}

static ssize_t conn_read(struct srv_conn *c, char *buf, size_t len)
{
	if (c->ssl)
		return SSL_read(c->ssl, buf, (int)len);
	return recv(c->fd, buf, len, 0);
}

static void reply_line(struct srv_conn *c, const char *line)
{
	char out[1200];
	const char *sni = NULL;

	if (c->ssl)
		sni = SSL_get_servername(c->ssl, TLSEXT_NAMETYPE_host_name);
	if (!strcmp(line, "PING")) {
		snprintf(out, sizeof(out), "PONG\n");
	} else if (!strcmp(line, "IS_TLS")) {
		snprintf(out, sizeof(out), "%s\n", c->ssl ? "true" : "false");
	} else if (!strcmp(line, "TEST")) {
		if (c->ssl)
			snprintf(out, sizeof(out),
				 "{\"service\":\"%s\",\"isTLS\":true,\"tls\":{\"serverName\":\"%s\","
				 "\"version\":\"%s\",\"cipherSuite\":\"%s\"}}\n",
				 srv_name, sni ? sni : "", SSL_get_version(c->ssl),
				 SSL_get_cipher_name(c->ssl));
		else
			snprintf(out, sizeof(out), "{\"service\":\"%s\",\"isTLS\":false}\n", srv_name);
	} else {
		snprintf(out, sizeof(out), "%s\n", line);
	}
	conn_write(c, out, strlen(out));
}

static void *conn_main(void *arg)
{
	struct srv_conn *c = arg;
	char buf[4096], line[1024], hello[256];
	size_t ll = 0;
	ssize_t n, i;

	if (srv_ctx) {
		c->ssl = SSL_new(srv_ctx);
		if (!c->ssl || !SSL_set_fd(c->ssl, c->fd) || SSL_accept(c->ssl) != 1) {
			ERR_print_errors_fp(stderr);
			goto out;
		}
	}
	snprintf(hello, sizeof(hello), "Gateway API Test TCP Server %s\n", srv_name);
	if (conn_write(c, hello, strlen(hello)))
		goto out;
	while ((n = conn_read(c, buf, sizeof(buf))) > 0) {
		for (i = 0; i < n; i++) {
			if (buf[i] == '\r')
				continue;
			if (buf[i] != '\n' && ll < sizeof(line) - 1) {
				line[ll++] = buf[i];
				continue;
			}
			line[ll] = 0;
			ll = 0;
			if (!strcmp(line, "QUIT"))
				goto out;
			reply_line(c, line);
		}
	}
out:
	if (c->ssl) {
		SSL_shutdown(c->ssl);
		SSL_free(c->ssl);
	}
	close(c->fd);
	free(c);
	return NULL;
}

static int listen_on(const char *spec)
{
	char host[256];
	const char *colon = strrchr(spec, ':');
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE }, *ai;
	int fd, one = 1, rc;

	if (!colon || (size_t)(colon - spec) >= sizeof(host)) {
		fprintf(stderr, "sng_tcpserver: --listen wants HOST:PORT, got '%s'\n", spec);
		return -1;
	}
	memcpy(host, spec, (size_t)(colon - spec));
	host[colon - spec] = 0;
	if (host[0] == '[') { /* [v6]:port */
		memmove(host, host + 1, strlen(host));
		host[strlen(host) - 1] = 0;
	}
	rc = getaddrinfo(host, colon + 1, &hints, &ai);
	if (rc) {
		fprintf(stderr, "sng_tcpserver: %s: %s\n", spec, gai_strerror(rc));
		return -1;
	}
	fd = socket(ai->ai_family, SOCK_STREAM, 0);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    bind(fd, ai->ai_addr, ai->ai_addrlen) || listen(fd, 1024)) {
		fprintf(stderr, "sng_tcpserver: listen %s: %s\n", spec, strerror(errno));
		freeaddrinfo(ai);
		return -1;
	}
	freeaddrinfo(ai);
	return fd;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: sng_tcpserver --listen HOST:PORT [--name NAME] [--cert PEM --key PEM]\n"
		   "  A line-protocol backend: greets with its NAME, answers PING, IS_TLS, TEST\n"
		   "  (JSON with the SNI it saw), QUIT, echoes other lines. TLS with --cert/--key.\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "listen", required_argument, NULL, 'l' },
		{ "name", required_argument, NULL, 'n' },
		{ "cert", required_argument, NULL, 'c' },
		{ "key", required_argument, NULL, 'k' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 } };
	const char *listen_spec = NULL, *cert = NULL, *key = NULL;
	int lfd, o;

	while ((o = getopt_long(argc, argv, "l:n:c:k:h", opts, NULL)) != -1) {
		switch (o) {
		case 'l': listen_spec = optarg; break;
		case 'n': srv_name = optarg; break;
		case 'c': cert = optarg; break;
		case 'k': key = optarg; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (!listen_spec || !!cert != !!key) {
		usage(stderr);
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	if (cert) {
		srv_ctx = SSL_CTX_new(TLS_server_method());
		if (!srv_ctx || SSL_CTX_use_certificate_chain_file(srv_ctx, cert) != 1 ||
		    SSL_CTX_use_PrivateKey_file(srv_ctx, key, SSL_FILETYPE_PEM) != 1) {
			fprintf(stderr, "sng_tcpserver: cannot load %s / %s\n", cert, key);
			ERR_print_errors_fp(stderr);
			return 1;
		}
	}
	lfd = listen_on(listen_spec);
	if (lfd < 0)
		return 1;
	for (;;) {
		struct srv_conn *c;
		pthread_t th;
		int fd = accept(lfd, NULL, NULL);

		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			perror("sng_tcpserver: accept");
			return 1;
		}
		c = calloc(1, sizeof(*c));
		if (!c) {
			close(fd);
			continue;
		}
		c->fd = fd;
		if (pthread_create(&th, NULL, conn_main, c)) {
			close(fd);
			free(c);
			continue;
		}
		pthread_detach(th);
	}
}
