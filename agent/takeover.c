// SPDX-License-Identifier: GPL-2.0-only
/* Zero-downtime restart over a unix SOCK_SEQPACKET socket: the serving side
 * (freeze, send, then commit or thaw) and the side that takes over. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "agent.h"
#include "conn.h"
#include "control.h"
#include "listener.h"
#include "loader.h"
#include "log.h"
#include "metrics.h"
#include "reload.h"
#include "takeover.h"
#include "terminate.h"

#define TK_MAGIC 0x4b474e53u      /* "SNGK" */
#define TK_VERSION 2        /* 2: STATE is followed by BIND records */
#define TK_MAX_WORKERS 256        /* --workers is 1..256 */
#define TK_MAX_LISTENERS 65536
#define TK_MAX_CONNS (SNG_MAX_CONNS)
#define TK_DATA_MAX (32 * 1024)   /* bytes per DATA record: well under the
				   * unix socket's send buffer */
#define TK_BUF_MAX (16u << 20)    /* sanity bound of one side's buffer */
#define TK_IO_MS 10000            /* one record */
#define TK_GO_MS 120000           /* the new agent compiles, loads BPF */
#define TK_READY_MS 30000         /* the new agent starts its workers */
#define TK_TICK_MS 100            /* resync period while the old one lives */

enum tk_type {
	TK_HELLO = 1, TK_STATE, TK_GO, TK_LISTENER, TK_CONN, TK_DATA, TK_END,
	TK_READY, TK_COMMIT, TK_ABORT, TK_BIND,
};

struct tk_hdr {
	uint32_t magic;
	uint16_t version;
	uint16_t type;           /* enum tk_type */
};

struct tk_hello {
	uint32_t pid, abi, conn_size, rsvd;
	char pin_dir[PATH_MAX];
};

struct tk_state {
	uint32_t pid, n_workers, n_fds;  /* fds: pin-dir lock [, verdict link] */
	uint32_t n_binds;                 /* BIND records that follow */
};

/* A bind of the old agent's policy: the new agent's first policy keeps its
 * id (reload_seed_binds), so both route on the same table meanwhile. */
struct tk_bind {
	uint16_t id, port;
	uint8_t has_passthrough, has_terminate, rsvd[2];
	char address[64];
};

struct tk_listener {
	uint32_t worker;
	uint16_t bind_id, port;
	char address[64];
};

/* One side of a connection: struct conn_side minus pointers and buffer. */
struct tk_side {
	uint64_t cookie, consumed, copied, last_cnt, entered0;
	uint32_t cap, len;       /* len bytes follow in DATA records */
	uint32_t pauses, resumes, resume_tries;
	uint8_t eof, fwd_fin, want_out, rdhup, passing, clamped, rsvd[2];
};

struct tk_conn {
	uint32_t worker;         /* index of the worker it ran on */
	uint32_t state;          /* CONN_HELLO (1 fd) or CONN_RUN (2 fds) */
	int32_t engine;
	uint16_t bind_id;
	uint8_t begun, counted;
	uint16_t alpn_len;
	uint8_t sni_len, rsvd;
	uint64_t age_ms;
	struct sockaddr_storage peer, be_addr;
	struct route_decision d;
	struct sng_endpoint ep;
	struct tk_side s[2];
	char sni[SNG_HOSTNAME_MAX + 1];
	uint8_t alpn[256];
};

struct tk_data {
	uint32_t side, len;      /* then len bytes for the last CONN */
};

struct tk_end {
	uint32_t n_listeners, n_conns, n_term, rsvd;
};

struct tk_abort {
	char why[128];
};

/* ---- records -------------------------------------------------------------- */

static int tk_send(int sk, uint16_t type, const void *p, size_t n, const void *p2, size_t n2,
		   const int *fds, unsigned nfds)
{
	struct tk_hdr h = { TK_MAGIC, TK_VERSION, type };
	struct iovec iov[3] = {
		{ &h, sizeof(h) }, { (void *)p, n }, { (void *)p2, n2 },
	};
	union {
		char buf[CMSG_SPACE(sizeof(int) * 2)];
		struct cmsghdr align;
	} u;
	struct msghdr m = { .msg_iov = iov, .msg_iovlen = 3 };
	struct cmsghdr *cm;

	if (nfds) {
		memset(&u, 0, sizeof(u));
		m.msg_control = u.buf;
		m.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
		cm = CMSG_FIRSTHDR(&m);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
		memcpy(CMSG_DATA(cm), fds, sizeof(int) * nfds);
	}
	for (;;) {
		if (sendmsg(sk, &m, MSG_NOSIGNAL) >= 0)
			return 0; /* SOCK_SEQPACKET: all or nothing */
		if (errno != EINTR)
			return -errno;
	}
}

static void close_fds(int *fds, unsigned n)
{
	unsigned i;

	for (i = 0; i < n; i++)
		if (fds[i] >= 0)
			close(fds[i]);
}

/* Receive one record within @timeout_ms (or until @stop_fd is readable:
 * -ECANCELED): its type, payload (returned length, at most @cap) and up to
 * 4 fds. A closed peer is -ECONNRESET, a malformed record -EPROTO. */
static ssize_t tk_recv(int sk, int stop_fd, int timeout_ms, uint16_t *type, void *p, size_t cap,
		       int *fds, unsigned *nfds)
{
	struct pollfd pf[2] = { { sk, POLLIN, 0 }, { stop_fd, POLLIN, 0 } };
	struct tk_hdr h;
	struct iovec iov[2] = { { &h, sizeof(h) }, { p, cap } };
	union {
		char buf[CMSG_SPACE(sizeof(int) * 4)];
		struct cmsghdr align;
	} u;
	struct msghdr m = { .msg_iov = iov, .msg_iovlen = 2, .msg_control = u.buf,
			    .msg_controllen = sizeof(u.buf) };
	struct cmsghdr *cm;
	ssize_t n;
	int r;

	*nfds = 0;
	do
		r = poll(pf, stop_fd >= 0 ? 2 : 1, timeout_ms);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		return -errno;
	if (r == 0)
		return -ETIMEDOUT;
	if (pf[1].revents)
		return -ECANCELED;
	do
		n = recvmsg(sk, &m, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	for (cm = CMSG_FIRSTHDR(&m); cm; cm = CMSG_NXTHDR(&m, cm)) {
		size_t k, cnt;

		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
			continue;
		cnt = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (k = 0; k < cnt; k++) {
			int fd;

			memcpy(&fd, CMSG_DATA(cm) + k * sizeof(int), sizeof(fd));
			if (*nfds < 4)
				fds[(*nfds)++] = fd;
			else
				close(fd);
		}
	}
	if (n == 0) {
		close_fds(fds, *nfds);
		*nfds = 0;
		return -ECONNRESET;
	}
	if ((m.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) || (size_t)n < sizeof(h) ||
	    h.magic != TK_MAGIC || h.version != TK_VERSION) {
		close_fds(fds, *nfds);
		*nfds = 0;
		return -EPROTO;
	}
	*type = h.type;
	return n - (ssize_t)sizeof(h);
}

static void tk_abort(int sk, const char *why)
{
	struct tk_abort a = {};

	snprintf(a.why, sizeof(a.why), "%s", why);
	tk_send(sk, TK_ABORT, &a, sizeof(a), NULL, 0, NULL, 0);
}

/* Log the peer's ABORT reason (if @type is one) and return -EPERM, else
 * -EPROTO: an unexpected record. */
static int tk_unexpected(uint16_t type, const void *p, ssize_t n, const char *wanted)
{
	if (type == TK_ABORT && n == (ssize_t)sizeof(struct tk_abort)) {
		const struct tk_abort *a = p;

		log_err("takeover: the other agent refused: %.*s", (int)sizeof(a->why), a->why);
		return -EPERM;
	}
	log_err("takeover: protocol error: record type %u (%zd bytes) where %s was expected",
		type, n, wanted);
	return -EPROTO;
}

/* ---- workers -------------------------------------------------------------- */

static struct {
	pthread_mutex_t lock;
	struct worker *w[TK_MAX_WORKERS];
	struct listener_set *ls[TK_MAX_WORKERS];
	unsigned n;              /* highest registered id + 1 */
} reg = { .lock = PTHREAD_MUTEX_INITIALIZER };

/* Completion of jobs posted to the workers. */
struct tk_wait {
	pthread_mutex_t m;
	pthread_cond_t c;
	unsigned left;
};

static void wait_init(struct tk_wait *wt)
{
	pthread_mutex_init(&wt->m, NULL);
	pthread_cond_init(&wt->c, NULL);
	wt->left = 0;
}

static void wait_done(struct tk_wait *wt)
{
	pthread_mutex_lock(&wt->m);
	if (!--wt->left)
		pthread_cond_broadcast(&wt->c);
	pthread_mutex_unlock(&wt->m);
}

/* Workers run posted jobs promptly; the agent stops them only after
 * takeover_stop() joined this module's thread, so this wait ends. */
static void wait_all(struct tk_wait *wt)
{
	pthread_mutex_lock(&wt->m);
	while (wt->left)
		pthread_cond_wait(&wt->c, &wt->m);
	pthread_mutex_unlock(&wt->m);
	pthread_mutex_destroy(&wt->m);
	pthread_cond_destroy(&wt->c);
}

static void resync_job(struct worker *w, void *arg)
{
	conn_resync_all(w);
}

static void post_resync(void)
{
	unsigned i;

	pthread_mutex_lock(&reg.lock);
	for (i = 0; i < reg.n; i++)
		if (reg.w[i])
			worker_post(reg.w[i], resync_job, NULL);
	pthread_mutex_unlock(&reg.lock);
}

/* ---- the side that takes over (new agent) ---------------------------------- */

struct rx_conn {
	struct tk_conn r;
	int fd[2];
	uint8_t *buf[2];
	uint32_t got[2];
};

static struct {
	int sk;                  /* to the old agent; -1 */
	pid_t pid;
	unsigned workers;
	struct tk_listener *l;
	int *lfd;
	bool *lused;
	size_t n_l, cap_l;
	struct rx_conn *c;
	size_t n_c, cap_c;
	unsigned n_term;
	bool received;
} cli = { .sk = -1 };

static void cli_free(void)
{
	size_t i;

	for (i = 0; i < cli.n_l; i++)
		if (cli.lfd[i] >= 0)
			close(cli.lfd[i]);
	for (i = 0; i < cli.n_c; i++) {
		close_fds(cli.c[i].fd, 2);
		free(cli.c[i].buf[0]);
		free(cli.c[i].buf[1]);
	}
	free(cli.l);
	free(cli.lfd);
	free(cli.lused);
	free(cli.c);
	cli.l = NULL;
	cli.lfd = NULL;
	cli.lused = NULL;
	cli.c = NULL;
	cli.n_l = cli.cap_l = cli.n_c = cli.cap_c = 0;
	cli.received = false;
}

/* Give up: closing the socket makes the old agent thaw and serve on. */
static void cli_abort(void)
{
	cli_free();
	if (cli.sk >= 0)
		close(cli.sk);
	cli.sk = -1;
}

static int pin_dir_canon(const char *dir, char *out)
{
	if (realpath(dir, out))
		return 0;
	if (strlen(dir) >= PATH_MAX)
		return -ENAMETOOLONG;
	strcpy(out, dir);
	return 0;
}

int takeover_default_path(const char *pin_dir, char *buf, size_t len)
{
	size_t i, n;
	int k;

	k = snprintf(buf, len, "%s/takeover%s.sock", TAKEOVER_DIR, pin_dir);
	if (k < 0 || (size_t)k >= len || (size_t)k >= sizeof(((struct sockaddr_un *)0)->sun_path))
		return -ENAMETOOLONG;
	n = strlen(TAKEOVER_DIR) + strlen("/takeover");
	for (i = n; buf[i] && i < n + strlen(pin_dir); i++)
		if (buf[i] == '/')
			buf[i] = '_';
	return 0;
}

/* The @n BIND records after STATE, into reload_seed_binds(). */
static int rx_binds(int sk, uint32_t n)
{
	struct policy_bind *b;
	struct tk_bind t;
	int fds[4], err = 0;
	unsigned nfds;
	uint16_t type;
	ssize_t got;
	uint32_t i;

	if (n > SNG_BIND_MASK) {
		log_err("takeover: malformed STATE record (%u binds)", n);
		return -EPROTO;
	}
	b = calloc(n ? n : 1, sizeof(*b));
	if (!b)
		return -ENOMEM;
	for (i = 0; !err && i < n; i++) {
		got = tk_recv(sk, -1, TK_IO_MS, &type, &t, sizeof(t), fds, &nfds);
		close_fds(fds, nfds);
		if (got < 0)
			err = (int)got;
		else if (type != TK_BIND || got != (ssize_t)sizeof(t) || nfds ||
			 !t.id || t.id > SNG_BIND_MASK || !memchr(t.address, 0, sizeof(t.address)))
			err = -EPROTO;
		if (err)
			break;
		b[i].id = t.id;
		b[i].port = t.port;
		b[i].has_passthrough = t.has_passthrough;
		b[i].has_terminate = t.has_terminate;
		memcpy(b[i].address, t.address, sizeof(b[i].address));
	}
	if (!err)
		err = reload_seed_binds(b, n);
	if (err)
		log_err("takeover: receiving the running agent's binds: %s", strerror(-err));
	free(b);
	return err;
}

int takeover_begin(const char *path, const char *pin_dir)
{
	struct tk_hello *h = calloc(1, sizeof(*h));
	union {
		struct tk_state st;
		struct tk_abort ab;    /* a refusal is longer */
	} u;
	struct sockaddr_un sa;
	int fds[4], err, sk = -1;
	unsigned nfds = 0;
	uint16_t type;
	ssize_t n;

	if (!h)
		return -ENOMEM;
	err = control_unix_addr(path, &sa);
	if (err) {
		log_err("takeover: socket path %s is too long", path);
		goto out;
	}
	sk = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (sk < 0 || connect(sk, (struct sockaddr *)&sa, sizeof(sa))) {
		err = -errno;
		log_err("takeover: no agent answers on %s (%s): is `snigate run` on this pin "
			"directory running (with the same --takeover-socket)?", path, strerror(-err));
		goto out;
	}
	{
		struct ucred cr;
		socklen_t crl = sizeof(cr);

		/* fds from a non-root peer would be someone else's sockets */
		if (getsockopt(sk, SOL_SOCKET, SO_PEERCRED, &cr, &crl) || cr.uid != 0) {
			log_err("takeover: %s is not served by a root process: refused", path);
			err = -EPERM;
			goto out;
		}
	}
	h->pid = (uint32_t)getpid();
	h->abi = SNG_ABI_VERSION;
	h->conn_size = sizeof(struct tk_conn);
	err = pin_dir_canon(pin_dir, h->pin_dir);
	if (!err)
		err = tk_send(sk, TK_HELLO, h, sizeof(*h), NULL, 0, NULL, 0);
	if (err) {
		log_err("takeover: sending the hello: %s", strerror(-err));
		goto out;
	}
	n = tk_recv(sk, -1, TK_IO_MS, &type, &u, sizeof(u), fds, &nfds);
	if (n < 0) {
		err = (int)n;
		log_err("takeover: %s from the running agent: %s",
			err == -EPROTO ? "a malformed answer" : "no answer", strerror(-err));
		goto out;
	}
	if (type != TK_STATE || n != (ssize_t)sizeof(u.st) || nfds != u.st.n_fds ||
	    (nfds != 1 && nfds != 2)) {
		close_fds(fds, nfds);
		err = type == TK_STATE ? -EPROTO : tk_unexpected(type, &u, n, "STATE");
		if (err == -EPROTO && type == TK_STATE)
			log_err("takeover: malformed STATE record (%zd bytes, %u fds)", n, nfds);
		goto out;
	}
	err = rx_binds(sk, u.st.n_binds);
	if (err) {
		close_fds(fds, nfds);
		goto out;
	}
	loader_inherit(fds[0], nfds > 1 ? fds[1] : -1);
	cli.sk = sk;
	cli.pid = (pid_t)u.st.pid;
	cli.workers = u.st.n_workers;
	sk = -1;
	log_info("takeover: agent PID %d on %s answered (%u workers); pin directory lock%s "
		 "received", (int)cli.pid, path, cli.workers, nfds > 1 ? " and verdict link" : "");
out:
	if (sk >= 0)
		close(sk);
	free(h);
	return err;
}

static int rx_check_conn(const struct tk_conn *r, unsigned nfds)
{
	unsigned i;

	if (r->state == CONN_HELLO) {
		if (nfds != 1 || r->s[0].len || r->s[1].len)
			return -EPROTO;
	} else if (r->state == CONN_RUN) {
		if (nfds != 2 ||
		    (r->engine != SNG_ENGINE_SOCKMAP && r->engine != SNG_ENGINE_USERSPACE))
			return -EPROTO;
	} else {
		return -EPROTO;
	}
	if (r->sni_len > SNG_HOSTNAME_MAX || r->alpn_len > sizeof(r->alpn))
		return -EPROTO;
	for (i = 0; i < 2; i++)
		if (r->s[i].len > r->s[i].cap || r->s[i].cap > TK_BUF_MAX)
			return -EPROTO;
	return 0;
}

/* Each spliced socket must be the very one the record names. */
static int rx_check_cookies(const struct rx_conn *rx)
{
	unsigned i;

	if (rx->r.state != CONN_RUN || rx->r.engine != SNG_ENGINE_SOCKMAP)
		return 0;
	for (i = 0; i < 2; i++) {
		uint64_t ck = 0;
		socklen_t l = sizeof(ck);

		if (getsockopt(rx->fd[i], SOL_SOCKET, SO_COOKIE, &ck, &l) || ck != rx->r.s[i].cookie)
			return -EPROTO;
	}
	return 0;
}

static int rx_listener(const void *p, ssize_t n, int *fds, unsigned nfds)
{
	if (n != (ssize_t)sizeof(struct tk_listener) || nfds != 1 || cli.n_l >= TK_MAX_LISTENERS)
		return -EPROTO;
	if (cli.n_l == cli.cap_l) {
		size_t cap = cli.cap_l ? cli.cap_l * 2 : 16;
		struct tk_listener *l = realloc(cli.l, cap * sizeof(*l));
		int *lfd;
		bool *used;

		if (l)
			cli.l = l;
		lfd = l ? realloc(cli.lfd, cap * sizeof(*lfd)) : NULL;
		if (lfd)
			cli.lfd = lfd;
		used = lfd ? realloc(cli.lused, cap * sizeof(*used)) : NULL;
		if (!used)
			return -ENOMEM;
		cli.lused = used;
		cli.cap_l = cap;
	}
	memcpy(&cli.l[cli.n_l], p, sizeof(*cli.l));
	cli.l[cli.n_l].address[sizeof(cli.l->address) - 1] = '\0';
	cli.lfd[cli.n_l] = fds[0];
	cli.lused[cli.n_l] = false;
	fds[0] = -1;
	cli.n_l++;
	return 0;
}

static int rx_conn(const void *p, ssize_t n, int *fds, unsigned nfds)
{
	struct rx_conn *rx;
	unsigned i;
	int err;

	if (n != (ssize_t)sizeof(struct tk_conn) || cli.n_c >= TK_MAX_CONNS)
		return -EPROTO;
	if (cli.n_c == cli.cap_c) {
		size_t cap = cli.cap_c ? cli.cap_c * 2 : 64;
		struct rx_conn *c = realloc(cli.c, cap * sizeof(*c));

		if (!c)
			return -ENOMEM;
		cli.c = c;
		cli.cap_c = cap;
	}
	rx = &cli.c[cli.n_c];
	memset(rx, 0, sizeof(*rx));
	memcpy(&rx->r, p, sizeof(rx->r));
	rx->fd[0] = rx->fd[1] = -1;
	err = rx_check_conn(&rx->r, nfds);
	if (err)
		return err;
	for (i = 0; i < nfds; i++) {
		rx->fd[i] = fds[i];
		fds[i] = -1;
	}
	cli.n_c++; /* from here cli_free() closes its fds */
	err = rx_check_cookies(rx);
	if (err) {
		log_err("takeover: a spliced socket's cookie does not match its record");
		return err;
	}
	for (i = 0; i < 2; i++) {
		if (!rx->r.s[i].len)
			continue;
		rx->buf[i] = malloc(rx->r.s[i].cap);
		if (!rx->buf[i])
			return -ENOMEM;
	}
	return 0;
}

static int rx_data(const uint8_t *p, ssize_t n, unsigned nfds)
{
	struct tk_data d;
	struct rx_conn *rx;

	if (nfds || n < (ssize_t)sizeof(d) || !cli.n_c)
		return -EPROTO;
	memcpy(&d, p, sizeof(d));
	rx = &cli.c[cli.n_c - 1];
	if (d.side > 1 || d.len != (size_t)n - sizeof(d) || !rx->buf[d.side] ||
	    d.len > rx->r.s[d.side].len - rx->got[d.side])
		return -EPROTO;
	memcpy(rx->buf[d.side] + rx->got[d.side], p + sizeof(d), d.len);
	rx->got[d.side] += d.len;
	return 0;
}

int takeover_receive(void)
{
	size_t cap = sizeof(struct tk_conn) + sizeof(struct tk_data) + TK_DATA_MAX;
	uint8_t *buf = malloc(cap);
	struct tk_end end;
	int fds[4], err = 0;
	unsigned nfds;
	uint16_t type;
	ssize_t n;
	size_t i;

	if (!buf) {
		cli_abort();
		return -ENOMEM;
	}
	err = tk_send(cli.sk, TK_GO, NULL, 0, NULL, 0, NULL, 0);
	for (; !err;) {
		n = tk_recv(cli.sk, -1, TK_IO_MS, &type, buf, cap, fds, &nfds);
		if (n < 0) {
			err = (int)n;
			break;
		}
		if (type == TK_LISTENER)
			err = rx_listener(buf, n, fds, nfds);
		else if (type == TK_CONN)
			err = rx_conn(buf, n, fds, nfds);
		else if (type == TK_DATA)
			err = rx_data(buf, n, nfds);
		else if (type == TK_END && n == (ssize_t)sizeof(end) && !nfds)
			break;
		else
			err = tk_unexpected(type, buf, n, "LISTENER, CONN, DATA or END");
		close_fds(fds, nfds);
	}
	if (!err) {
		memcpy(&end, buf, sizeof(end));
		if (end.n_listeners != cli.n_l || end.n_conns != cli.n_c)
			err = -EPROTO;
		for (i = 0; !err && i < cli.n_c; i++)
			if (cli.c[i].got[0] != cli.c[i].r.s[0].len ||
			    cli.c[i].got[1] != cli.c[i].r.s[1].len)
				err = -EPROTO;
		cli.n_term = end.n_term;
	}
	free(buf);
	if (err) {
		log_err("takeover: receiving from PID %d: %s (it resumes serving)", (int)cli.pid,
			strerror(-err));
		cli_abort();
		return err;
	}
	cli.received = true;
	log_info("takeover: received %zu listening sockets and %zu connections from PID %d",
		 cli.n_l, cli.n_c, (int)cli.pid);
	return 0;
}

/* A new dup of @fd (close-on-exec), or -errno. */
static int dup_fd(int fd)
{
	int d = fcntl(fd, F_DUPFD_CLOEXEC, 0);

	return d < 0 ? -errno : d;
}

static int adopt_bind(struct worker *w, struct listener_set *ls, const struct policy_bind *b)
{
	unsigned nw = agent_opts.workers ? agent_opts.workers : 1, me = worker_id(w) % nw;
	size_t i, m = 0, rank = 0, added = 0, share = SIZE_MAX;
	int fd, err;

	for (i = 0; i < cli.n_l; i++)
		if (cli.l[i].port == b->port && !strcmp(cli.l[i].address, b->address))
			m++;
	for (i = 0; i < cli.n_l; i++) {
		if (cli.l[i].port != b->port || strcmp(cli.l[i].address, b->address))
			continue;
		if (rank == me % (m ? m : 1))
			share = i;
		if (rank++ % nw != me)
			continue;
		fd = dup_fd(cli.lfd[i]);
		err = fd < 0 ? fd : listener_add(w, ls, fd, b);
		if (err)
			return err;
		pthread_mutex_lock(&reg.lock);
		cli.lused[i] = true;
		pthread_mutex_unlock(&reg.lock);
		added++;
	}
	if (added)
		return 0;
	if (share != SIZE_MAX) {
		/* fewer received sockets than workers: share one (two loops
		 * watching one listening socket: one accept wins, the other
		 * sees EAGAIN) */
		fd = dup_fd(cli.lfd[share]);
	} else {
		fd = listener_socket(b);
		if (fd >= 0 && me == 0)
			log_info("takeover: bind %s:%u is new: listening on a new socket", b->address,
				 b->port);
	}
	return fd < 0 ? fd : listener_add(w, ls, fd, b);
}

struct listener_set *takeover_listeners_open(struct worker *w, const struct policy_compiled *pc)
{
	struct policy_compiled none = { 0 };
	struct listener_set *ls;
	unsigned id = worker_id(w);
	size_t i;
	int err = 0;

	if (!cli.received) {
		ls = listener_open_all(w, pc);
	} else {
		ls = listener_open_all(w, &none); /* an empty set */
		for (i = 0; ls && !err && i < pc->n_binds; i++)
			if (listener_bind_served(&pc->binds[i]))
				err = adopt_bind(w, ls, &pc->binds[i]);
		if (err) {
			listener_close_all(w, ls);
			errno = -err;
			return NULL;
		}
	}
	if (ls && id < TK_MAX_WORKERS) {
		pthread_mutex_lock(&reg.lock);
		reg.w[id] = w;
		reg.ls[id] = ls;
		if (id >= reg.n)
			reg.n = id + 1;
		pthread_mutex_unlock(&reg.lock);
	}
	return ls;
}

struct import_job {
	struct rx_conn **v;
	size_t n;
	struct tk_wait *wt;
};

static void import_one(struct worker *w, struct rx_conn *rx)
{
	const struct tk_conn *r = &rx->r;
	uint64_t now = worker_now_ms();
	struct conn *c = conn_adopt(w);
	unsigned i;

	if (!c)
		return; /* rx keeps its fds: closed by cli_free() */
	c->state = (enum conn_state)r->state;
	c->engine = r->engine;
	c->bind_id = r->bind_id;
	c->start_ms = now > r->age_ms ? now - r->age_ms : 0;
	c->peer = r->peer;
	c->d = r->d;
	c->bc.ep = r->ep;
	c->bc.addr = r->be_addr;
	c->counted = r->counted;
	c->begun = r->begun;
	c->sni_len = r->sni_len;
	memcpy(c->sni, r->sni, r->sni_len);
	c->sni[r->sni_len] = '\0';
	c->alpn_len = r->alpn_len;
	memcpy(c->alpn, r->alpn, r->alpn_len);
	for (i = 0; i < 2; i++) {
		struct conn_side *s = &c->s[i];
		const struct tk_side *t = &r->s[i];

		s->h.fd = rx->fd[i];
		rx->fd[i] = -1;
		s->cookie = t->cookie;
		s->consumed = t->consumed;
		s->copied = t->copied;
		s->last_cnt = t->last_cnt;
		s->entered0 = t->entered0;
		s->pauses = t->pauses;
		s->resumes = t->resumes;
		s->resume_tries = t->resume_tries;
		s->eof = t->eof;
		s->fwd_fin = t->fwd_fin;
		s->want_out = t->want_out;
		s->rdhup = t->rdhup;
		s->passing = t->passing;
		s->clamped = t->clamped;
		if (rx->buf[i]) {
			s->buf = rx->buf[i];
			s->cap = t->cap;
			s->off = 0;
			s->len = t->len;
			rx->buf[i] = NULL;
		}
	}
	if (c->begun)
		metrics_conn_begin(c->d.listener_id, c->d.route_id, c->d.backend_id);
	conn_resume(c);
}

static void import_job(struct worker *w, void *arg)
{
	struct import_job *j = arg;
	size_t i;

	for (i = 0; i < j->n; i++)
		import_one(w, j->v[i]);
	wait_done(j->wt);
}

static int install_conns(void)
{
	struct import_job jobs[TK_MAX_WORKERS] = {};
	struct rx_conn **slots;
	struct tk_wait wt;
	unsigned nw, i;
	size_t k, off = 0, cnt[TK_MAX_WORKERS] = {};

	pthread_mutex_lock(&reg.lock);
	nw = reg.n;
	pthread_mutex_unlock(&reg.lock);
	if (!nw)
		return -ENODEV;
	slots = calloc(cli.n_c ? cli.n_c : 1, sizeof(*slots));
	if (!slots)
		return -ENOMEM;
	for (k = 0; k < cli.n_c; k++)
		cnt[cli.c[k].r.worker % nw]++;
	for (i = 0; i < nw; i++) {
		jobs[i].v = slots + off;
		off += cnt[i];
	}
	for (k = 0; k < cli.n_c; k++) {
		struct import_job *j = &jobs[cli.c[k].r.worker % nw];

		j->v[j->n++] = &cli.c[k];
	}
	wait_init(&wt);
	pthread_mutex_lock(&wt.m);
	for (i = 0; i < nw; i++) {
		if (!jobs[i].n)
			continue;
		jobs[i].wt = &wt;
		if (reg.w[i] && !worker_post(reg.w[i], import_job, &jobs[i]))
			wt.left++;
		else
			log_err("takeover: worker %u cannot take %zu connections", i, jobs[i].n);
	}
	pthread_mutex_unlock(&wt.m);
	wait_all(&wt);
	free(slots);
	return 0;
}

/* The new agent's thread follows the old one until it exits. */
static struct {
	pthread_t th;
	bool running;
	int lfd, stop_pipe[2];
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	dev_t dev;
	ino_t ino;
	int follow_sk;           /* new agent: to the old one, until it exits */
	pid_t follow_pid;
	int handed_sk;           /* old agent: to the new one, after COMMIT */
	bool handed_over;
} srv = { .lfd = -1, .stop_pipe = { -1, -1 }, .follow_sk = -1, .handed_sk = -1 };

int takeover_install(void)
{
	size_t i, n_splice = 0, n_copy = 0, n_hello = 0, unused = 0;
	int fds[4], err;
	unsigned nfds;
	uint16_t type;
	ssize_t n;
	uint8_t buf[sizeof(struct tk_abort)];

	if (!cli.received)
		return -EINVAL;
	err = tk_send(cli.sk, TK_READY, NULL, 0, NULL, 0, NULL, 0);
	if (!err) {
		n = tk_recv(cli.sk, -1, TK_READY_MS, &type, buf, sizeof(buf), fds, &nfds);
		close_fds(fds, nfds);
		if (n < 0)
			err = (int)n;
		else if (type != TK_COMMIT)
			err = tk_unexpected(type, buf, n, "COMMIT");
	}
	if (err) {
		log_err("takeover: PID %d did not commit: %s (it resumes serving)", (int)cli.pid,
			strerror(-err));
		cli_abort();
		return err;
	}
	/* From here the connections are ours alone: the old agent closed its
	 * fds. Every worker holds dups of the listening sockets it took. */
	for (i = 0; i < cli.n_l; i++)
		if (!cli.lused[i])
			unused++;
	for (i = 0; i < cli.n_c; i++) {
		if (cli.c[i].r.state == CONN_HELLO)
			n_hello++;
		else if (cli.c[i].r.engine == SNG_ENGINE_SOCKMAP)
			n_splice++;
		else
			n_copy++;
	}
	loader_takeover_commit(conn_cfg.loader);
	sockmap_set_events_shared(true); /* until the old agent exits */
	err = install_conns();
	if (err)
		log_err("takeover: cannot start the received connections: %s", strerror(-err));
	log_info("takeover: running %zu spliced, %zu userspace-copied and %zu not yet routed "
		 "connections and %zu listening sockets of PID %d; it drains %u Terminate "
		 "connections and exits", n_splice, n_copy, n_hello, cli.n_l - unused,
		 (int)cli.pid, cli.n_term);
	if (unused)
		log_warn("takeover: %zu received listening sockets match no bind of this policy: "
			 "closed (connections in their backlog are reset)", unused);
	srv.follow_sk = cli.sk;
	srv.follow_pid = cli.pid;
	cli.sk = -1;
	cli_free();
	return err;
}

/* ---- the serving side (old agent) ------------------------------------------ */

struct tk_export {
	struct listener_set *ls;
	int *lfd;
	struct policy_bind *lb;
	size_t n_l, cap_l;
	struct conn **conns;
	size_t n_c;
	int err;
	struct tk_wait *wt;
};

static void export_job(struct worker *w, void *arg)
{
	struct tk_export *e = arg;

	/* sized here, on the worker: a reload may change the set */
	e->cap_l = listener_count(e->ls);
	e->lfd = calloc(e->cap_l + 1, sizeof(*e->lfd));
	e->lb = calloc(e->cap_l + 1, sizeof(*e->lb));
	if (!e->lfd || !e->lb) {
		e->err = -ENOMEM;
	} else {
		e->n_l = listener_detach_all(w, e->ls, e->lfd, e->lb, e->cap_l);
		e->err = conn_freeze_all(w, &e->conns, &e->n_c);
	}
	wait_done(e->wt);
}

/* The bind of the current policy for a detached listener (its flags). */
static const struct policy_bind *bind_now(const struct policy_compiled *pc,
					  const struct policy_bind *b)
{
	size_t i;

	for (i = 0; pc && i < pc->n_binds; i++)
		if (pc->binds[i].port == b->port && !strcmp(pc->binds[i].address, b->address))
			return &pc->binds[i];
	return b;
}

static void thaw_job(struct worker *w, void *arg)
{
	struct tk_export *e = arg;
	struct agent_snapshot *snap = agent_snapshot_acquire();
	size_t i;

	for (i = 0; i < e->n_l; i++)
		if (listener_add(w, e->ls, e->lfd[i], bind_now(snap ? snap->pc : NULL, &e->lb[i])))
			log_err("takeover abandoned: listener %s port %u lost", e->lb[i].address,
				e->lb[i].port);
	e->n_l = 0;
	agent_snapshot_release(snap);
	for (i = 0; i < e->n_c; i++)
		conn_thaw(e->conns[i]);
	e->n_c = 0;
	wait_done(e->wt);
}

static int run_jobs(struct tk_export *ex, unsigned nw, void (*fn)(struct worker *, void *))
{
	struct tk_wait wt;
	unsigned i;
	int err = 0;

	wait_init(&wt);
	pthread_mutex_lock(&wt.m);
	for (i = 0; i < nw; i++) {
		if (!reg.w[i])
			continue;
		ex[i].wt = &wt;
		if (worker_post(reg.w[i], fn, &ex[i]))
			err = -ENOMEM;
		else
			wt.left++;
	}
	pthread_mutex_unlock(&wt.m);
	wait_all(&wt);
	return err;
}

static void pack_conn(const struct conn *c, unsigned worker, uint64_t now, struct tk_conn *r)
{
	unsigned i;

	memset(r, 0, sizeof(*r));
	r->worker = worker;
	r->state = c->state;
	r->engine = c->engine;
	r->bind_id = c->bind_id;
	r->begun = c->begun;
	r->counted = c->counted;
	r->age_ms = now > c->start_ms ? now - c->start_ms : 0;
	r->peer = c->peer;
	r->be_addr = c->bc.addr;
	r->d = c->d;
	r->ep = c->bc.ep;
	r->sni_len = c->sni_len;
	memcpy(r->sni, c->sni, c->sni_len);
	r->alpn_len = c->alpn_len;
	memcpy(r->alpn, c->alpn, c->alpn_len);
	for (i = 0; i < 2; i++) {
		const struct conn_side *s = &c->s[i];
		struct tk_side *t = &r->s[i];

		t->cookie = s->cookie;
		t->consumed = s->consumed;
		t->copied = s->copied;
		t->last_cnt = s->last_cnt;
		t->entered0 = s->entered0;
		t->cap = s->buf ? (uint32_t)s->cap : 0;
		t->len = s->buf ? (uint32_t)s->len : 0;
		t->pauses = s->pauses;
		t->resumes = s->resumes;
		t->resume_tries = s->resume_tries;
		t->eof = s->eof;
		t->fwd_fin = s->fwd_fin;
		t->want_out = s->want_out;
		t->rdhup = s->rdhup;
		t->passing = s->passing;
		t->clamped = s->clamped;
	}
}

static int send_conn(int sk, const struct conn *c, unsigned worker, uint64_t now)
{
	struct tk_conn *r = malloc(sizeof(*r));
	int fds[2] = { c->s[0].h.fd, c->s[1].h.fd };
	unsigned i;
	int err;

	if (!r)
		return -ENOMEM;
	pack_conn(c, worker, now, r);
	err = tk_send(sk, TK_CONN, r, sizeof(*r), NULL, 0, fds, c->state == CONN_RUN ? 2 : 1);
	for (i = 0; !err && i < 2; i++) {
		const struct conn_side *s = &c->s[i];
		size_t done = 0;

		while (!err && done < r->s[i].len) {
			struct tk_data d = { i, 0 };
			size_t k = r->s[i].len - done;

			d.len = (uint32_t)(k > TK_DATA_MAX ? TK_DATA_MAX : k);
			err = tk_send(sk, TK_DATA, &d, sizeof(d), s->buf + s->off + done, d.len,
				      NULL, 0);
			done += d.len;
		}
	}
	free(r);
	return err;
}

static int send_all(int sk, struct tk_export *ex, unsigned nw, size_t *nl, size_t *nc)
{
	uint64_t now = worker_now_ms();
	struct tk_end end = {};
	unsigned i;
	size_t k;
	int err = 0;

	for (i = 0; !err && i < nw; i++)
		for (k = 0; !err && k < ex[i].n_l; k++) {
			struct tk_listener t = { .worker = i, .bind_id = ex[i].lb[k].id,
						 .port = ex[i].lb[k].port };

			snprintf(t.address, sizeof(t.address), "%s", ex[i].lb[k].address);
			err = tk_send(sk, TK_LISTENER, &t, sizeof(t), NULL, 0, &ex[i].lfd[k], 1);
			end.n_listeners++;
		}
	for (i = 0; !err && i < nw; i++)
		for (k = 0; !err && k < ex[i].n_c; k++) {
			err = send_conn(sk, ex[i].conns[k], i, now);
			end.n_conns++;
		}
	end.n_term = (uint32_t)__atomic_load_n(&term_open_count, __ATOMIC_RELAXED);
	if (!err)
		err = tk_send(sk, TK_END, &end, sizeof(end), NULL, 0, NULL, 0);
	*nl = end.n_listeners;
	*nc = end.n_conns;
	return err;
}

static int srv_bind(void);

static void srv_unlink_own(void)
{
	struct stat st;

	if (*srv.path && !stat(srv.path, &st) && st.st_dev == srv.dev && st.st_ino == srv.ino)
		unlink(srv.path);
}

/* Serve one hand-over on @sk. true once committed (the connections are
 * the new agent's); false when it did not happen (everything resumed). */
static bool serve_handover(int sk)
{
	struct tk_hello *h = calloc(1, sizeof(*h));
	char mine[PATH_MAX];
	struct tk_export *ex = NULL;
	struct loader *l = conn_cfg.loader;
	struct tk_state st = {};
	struct ucred cr;
	socklen_t crl = sizeof(cr);
	int fds[4], lfds[2], err;
	unsigned nfds, nw = 0, i;
	size_t nl = 0, nc = 0;
	uint16_t type;
	ssize_t n;
	bool committed = false, frozen = false, held = false;
	struct agent_snapshot *cur;

	if (!h)
		goto out;
	if (getsockopt(sk, SOL_SOCKET, SO_PEERCRED, &cr, &crl) || cr.uid != 0) {
		tk_abort(sk, "permission denied");
		goto out;
	}
	n = tk_recv(sk, srv.stop_pipe[0], TK_IO_MS, &type, h, sizeof(*h), fds, &nfds);
	close_fds(fds, nfds);
	if (n < 0)
		goto out;
	if (type != TK_HELLO || n != (ssize_t)sizeof(*h)) {
		tk_abort(sk, "bad hello");
		goto out;
	}
	h->pin_dir[sizeof(h->pin_dir) - 1] = '\0';
	if (h->abi != SNG_ABI_VERSION || h->conn_size != sizeof(struct tk_conn)) {
		log_warn("takeover by PID %u refused: another build (ABI %u, record %u bytes; "
			 "this one %u, %zu)", h->pid, h->abi, h->conn_size, SNG_ABI_VERSION,
			 sizeof(struct tk_conn));
		tk_abort(sk, "another build: ABI or record size differ");
		goto out;
	}
	if (!l || l->lock_fd < 0 || pin_dir_canon(agent_opts.pin_dir, mine) ||
	    strcmp(mine, h->pin_dir)) {
		log_warn("takeover by PID %u refused: it asks for pin directory %s", h->pid,
			 h->pin_dir);
		tk_abort(sk, "this agent serves another pin directory");
		goto out;
	}
	pthread_mutex_lock(&reg.lock);
	nw = reg.n;
	pthread_mutex_unlock(&reg.lock);
	st.pid = (uint32_t)getpid();
	st.n_workers = nw;
	lfds[0] = l->lock_fd;
	lfds[1] = l->verdict_link;
	st.n_fds = l->verdict_link >= 0 ? 2 : 1;
	/* From here the maps, binds and listener sets stay as the new agent
	 * sees them: reloads wait (the last input is kept) until we serve on
	 * (reload_hold waits for one in progress). /readyz turns 503: on a
	 * shared (host network) metrics port, the new agent's readiness probe
	 * must not see this agent as ready. */
	reload_hold();
	held = true;
	metrics_set_ready(false);
	cur = agent_snapshot_acquire();
	st.n_binds = cur && cur->pc ? (uint32_t)cur->pc->n_binds : 0;
	err = tk_send(sk, TK_STATE, &st, sizeof(st), NULL, 0, lfds, st.n_fds);
	for (i = 0; !err && i < st.n_binds; i++) {
		const struct policy_bind *b = &cur->pc->binds[i];
		struct tk_bind t = { .id = b->id, .port = b->port,
				     .has_passthrough = b->has_passthrough,
				     .has_terminate = b->has_terminate };

		snprintf(t.address, sizeof(t.address), "%s", b->address);
		err = tk_send(sk, TK_BIND, &t, sizeof(t), NULL, 0, NULL, 0);
	}
	agent_snapshot_release(cur);
	if (err)
		goto out;
	log_info("takeover: PID %u is loading on our pins; waiting for it", h->pid);
	n = tk_recv(sk, srv.stop_pipe[0], TK_GO_MS, &type, NULL, 0, fds, &nfds);
	close_fds(fds, nfds);
	if (n < 0 || type != TK_GO) {
		log_warn("takeover by PID %u abandoned before it began (%s): serving on", h->pid,
			 n < 0 ? strerror((int)-n) : "unexpected record");
		goto out;
	}

	/* Point of no return for our endpoints: the new agent binds them. */
	srv_unlink_own();
	close(srv.lfd);
	srv.lfd = -1;
	control_stop();
	metrics_stop();
	ex = calloc(nw ? nw : 1, sizeof(*ex));
	err = ex ? 0 : -ENOMEM;
	pthread_mutex_lock(&reg.lock);
	for (i = 0; !err && i < nw; i++)
		ex[i].ls = reg.ls[i];
	pthread_mutex_unlock(&reg.lock);
	if (!err) {
		size_t fl = 0, fc = 0;

		run_jobs(ex, nw, export_job);
		frozen = true;
		for (i = 0; i < nw; i++) {
			if (ex[i].err)
				err = ex[i].err;
			fl += ex[i].n_l;
			fc += ex[i].n_c;
		}
		log_info("takeover: stopped accepting; %zu listening sockets and %zu connections "
			 "frozen for PID %u", fl, fc, h->pid);
	}
	if (!err)
		err = send_all(sk, ex, nw, &nl, &nc);
	if (!err) {
		n = tk_recv(sk, srv.stop_pipe[0], TK_READY_MS, &type, NULL, 0, fds, &nfds);
		close_fds(fds, nfds);
		err = n < 0 ? (int)n : type == TK_READY ? 0 : -EPROTO;
	}
	if (!err)
		err = tk_send(sk, TK_COMMIT, NULL, 0, NULL, 0, NULL, 0);
	if (err) {
		log_warn("takeover by PID %u failed (%s): resuming %zu connections and the "
			 "listeners here; control socket and metrics stay off until a restart",
			 h->pid, strerror(-err), nc);
		if (frozen)
			run_jobs(ex, nw, thaw_job);
		if (srv_bind())
			log_warn("takeover socket %s not recreated", srv.path);
		goto out;
	}
	/* Committed: the new agent holds dups of every socket. Closing ours
	 * leaves the sockets (and their sockhash entries) alone. */
	for (i = 0; i < nw; i++) {
		size_t k;

		for (k = 0; k < ex[i].n_l; k++)
			close(ex[i].lfd[k]);
		for (k = 0; k < ex[i].n_c; k++)
			conn_release(ex[i].conns[k]);
		ex[i].n_l = ex[i].n_c = 0;
	}
	log_info("takeover: handed %zu listening sockets and %zu connections to PID %u", nl, nc,
		 h->pid);
	committed = true;
out:
	/* failed: apply what changed meanwhile; committed: stopping, the new
	 * agent owns the maps now */
	if (held)
		reload_release(!committed);
	if (held && !committed)
		metrics_set_ready(reload_serial() > 0);
	for (i = 0; ex && i < nw; i++) {
		free(ex[i].lfd);
		free(ex[i].lb);
		free(ex[i].conns);
	}
	free(ex);
	free(h);
	return committed;
}

/* After a hand-over: stop as on SIGTERM. The only connections left are
 * Terminate ones (their TLS state cannot move): the SIGTERM drain lets
 * them end, up to --drain-timeout. */
static void stop_self(void)
{
	long left = __atomic_load_n(&term_open_count, __ATOMIC_RELAXED);

	log_info("takeover: done; this agent stops (%ld Terminate connection(s) drain here)",
		 left);
	kill(getpid(), SIGTERM);
}

static void follow_check(bool tick)
{
	char b;
	ssize_t n;

	if (tick) {
		post_resync();
		return;
	}
	n = recv(srv.follow_sk, &b, 1, MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	/* the old agent keeps its end open until it exits */
	sockmap_set_events_shared(false);
	post_resync();
	log_info("takeover: PID %d exited (or, with --linger, stopped reading the verdict "
		 "events)", (int)srv.follow_pid);
	close(srv.follow_sk);
	srv.follow_sk = -1;
}

static void *srv_main(void *arg)
{
	for (;;) {
		struct pollfd p[3] = {
			{ srv.stop_pipe[0], POLLIN, 0 },
			{ srv.lfd, POLLIN, 0 },
			{ srv.follow_sk, POLLIN, 0 },
		};
		int r, fd;

		r = poll(p, 3, srv.follow_sk >= 0 ? TK_TICK_MS : -1);
		if (r < 0 && errno != EINTR) {
			log_warn("takeover socket: poll: %s", strerror(errno));
			return NULL;
		}
		if (r < 0)
			continue;
		if (p[0].revents)
			return NULL;
		if (srv.follow_sk >= 0)
			follow_check(!p[2].revents);
		if (srv.lfd < 0 || !(p[1].revents & POLLIN))
			continue;
		fd = accept4(srv.lfd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0)
			continue;
		if (serve_handover(fd)) {
			/* fd stays open until this process exits (or
			 * takeover_release_peer()): the new agent takes its
			 * end's EOF as "the old one exited" */
			srv.handed_sk = fd;
			__atomic_store_n(&srv.handed_over, true, __ATOMIC_RELEASE);
			stop_self();
			return NULL;
		}
		close(fd);
	}
}

/* Bind srv.path (a stale socket nobody answers on is replaced). */
static int srv_bind(void)
{
	struct sockaddr_un sa;
	struct stat st;
	char dir[sizeof(srv.path)], *slash;
	int fd, err, rc;

	err = control_unix_addr(srv.path, &sa);
	if (err)
		return err;
	strcpy(dir, srv.path);
	slash = strrchr(dir, '/');
	if (slash && slash != dir) {
		*slash = '\0';
		if (mkdir(dir, 0700) && errno != EEXIST)
			return -errno;
	}
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	rc = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
	if (rc && errno == EADDRINUSE) {
		int probe = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
		bool live = probe >= 0 && !connect(probe, (struct sockaddr *)&sa, sizeof(sa));

		if (probe >= 0)
			close(probe);
		if (live) {
			close(fd);
			return -EADDRINUSE;
		}
		unlink(srv.path); /* stale: its agent is gone */
		rc = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
	}
	/* root only: mode 0600 (the directory is 0700), SO_PEERCRED checked */
	if (rc || chmod(srv.path, 0600) || listen(fd, 4) || stat(srv.path, &st)) {
		err = -errno;
		close(fd);
		return err;
	}
	srv.dev = st.st_dev;
	srv.ino = st.st_ino;
	srv.lfd = fd;
	return 0;
}

/* Remove the hand-over sockets of agents that died without cleaning up
 * (SIGKILL): TAKEOVER_DIR entries named takeover*.sock that refuse a
 * connection, so no agent is behind them. Bounded; errors are ignored. */
static void sweep_stale(void)
{
	DIR *d = opendir(TAKEOVER_DIR);
	struct dirent *e;
	unsigned n = 0, removed = 0;

	if (!d)
		return;
	while ((e = readdir(d)) && n++ < 4096) {
		struct sockaddr_un sa;
		char path[sizeof(sa.sun_path)];
		size_t l = strlen(e->d_name);
		int fd, k;

		if (strncmp(e->d_name, "takeover", 8) || l < 13 || strcmp(e->d_name + l - 5, ".sock"))
			continue;
		k = snprintf(path, sizeof(path), "%s/%s", TAKEOVER_DIR, e->d_name);
		if (k < 0 || (size_t)k >= sizeof(path) || control_unix_addr(path, &sa))
			continue;
		fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
		if (fd < 0)
			break;
		if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) && errno == ECONNREFUSED &&
		    !unlink(path))
			removed++;
		close(fd);
	}
	closedir(d);
	if (removed)
		log_dbg("takeover: removed %u stale hand-over sockets in %s", removed, TAKEOVER_DIR);
}

int takeover_serve_start(const char *path)
{
	int err;

	if (srv.running)
		return -EALREADY;
	if (!path && srv.follow_sk < 0)
		return 0;
	if (path && strlen(path) >= sizeof(srv.path)) {
		log_err("takeover socket path %s is too long", path);
		return -ENAMETOOLONG;
	}
	snprintf(srv.path, sizeof(srv.path), "%s", path ? path : "");
	sweep_stale();
	err = path ? srv_bind() : 0;
	if (err) {
		log_err("takeover socket %s: %s%s", path, strerror(-err),
			err == -EADDRINUSE ? " (another agent serves it)" : "");
		*srv.path = '\0';
		return err;
	}
	if (pipe2(srv.stop_pipe, O_CLOEXEC) ||
	    pthread_create(&srv.th, NULL, srv_main, NULL)) {
		err = -errno;
		log_err("takeover socket: cannot start its thread: %s", strerror(-err));
		takeover_stop();
		return err;
	}
	srv.running = true;
	if (path)
		log_info("takeover socket %s (snigate run --takeover hands this agent over)",
			 path);
	return 0;
}

bool takeover_handed_over(void)
{
	return __atomic_load_n(&srv.handed_over, __ATOMIC_ACQUIRE);
}

void takeover_release_peer(void)
{
	int fd = __atomic_exchange_n(&srv.handed_sk, -1, __ATOMIC_ACQ_REL);

	if (fd >= 0)
		close(fd);
}

bool takeover_peer_present(const char *path)
{
	struct sockaddr_un sa;
	int fd, ok;

	if (!path || control_unix_addr(path, &sa))
		return false;
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return false;
	ok = !connect(fd, (struct sockaddr *)&sa, sizeof(sa));
	close(fd);
	return ok;
}

void takeover_stop(void)
{
	if (srv.running) {
		if (write(srv.stop_pipe[1], "x", 1) < 0)
			log_warn("takeover socket: stop: %s", strerror(errno));
		pthread_join(srv.th, NULL);
		srv.running = false;
	}
	if (srv.stop_pipe[0] >= 0) {
		close(srv.stop_pipe[0]);
		close(srv.stop_pipe[1]);
		srv.stop_pipe[0] = srv.stop_pipe[1] = -1;
	}
	if (srv.lfd >= 0) {
		close(srv.lfd);
		srv.lfd = -1;
		srv_unlink_own();
	}
	*srv.path = '\0';
	if (srv.follow_sk >= 0)
		close(srv.follow_sk);
	srv.follow_sk = -1;
	takeover_release_peer();
	sockmap_set_events_shared(false);
	cli_abort();
	pthread_mutex_lock(&reg.lock);
	memset(reg.w, 0, sizeof(reg.w));
	memset(reg.ls, 0, sizeof(reg.ls));
	reg.n = 0;
	pthread_mutex_unlock(&reg.lock);
}
