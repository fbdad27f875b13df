// SPDX-License-Identifier: GPL-2.0-only
/* `snigate run`: load the BPF maps and the policy (manifests or the Kubernetes
 * API), start the workers, reload on changes, drain and stop on SIGTERM. */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <bpf/libbpf.h>

#include "accesslog.h"
#include "agent.h"
#include "cmd.h"
#include "conn.h"
#include "control.h"
#include "filewatch.h"
#include "k8s.h"
#include "listener.h"
#include "loader.h"
#include "log.h"
#include "mapsync.h"
#include "metrics.h"
#include "policy.h"
#include "privs.h"
#include "probe.h"
#include "reload.h"
#include "snapshot.h"
#include "statusfile.h"
#include "takeover.h"
#include "terminate.h"
#include "worker.h"

struct run_worker {
	pthread_t th;
	struct worker *w;
	struct listener_set *ls;
	const struct policy_compiled *pc;
	int err;
	pthread_mutex_t *lock;
	pthread_cond_t *cond;
	unsigned *ready;
};

/* --kubernetes --takeover: the longest wait for the API server's initial
 * list (the old agent waits 120 s for the hand-over to begin). */
#define K8S_TAKEOVER_LIST_S 90

static struct run_worker *run_workers;
static unsigned run_n_workers;

static void usage(FILE *f)
{
	fprintf(f,
		"usage: snigate run -f MANIFESTS [-f ...] [options]\n"
		"       snigate run --kubernetes [--kubeconfig FILE] [options]\n\n"
		"Serve the Gateways of the given Gateway API manifests (files or directories):\n"
		"Passthrough listeners are routed on the ClientHello's SNI and spliced in the\n"
		"kernel (sockmap) or copied by the userspace engine; Terminate listeners are\n"
		"served by the OpenSSL engine. Needs root (BPF, privileged ports).\n\n"
		"options:\n"
		"  -f, --file PATH          manifests (YAML/JSON file or directory); repeatable.\n"
		"                           Watched (inotify): a change reloads the policy\n"
		"      --kubernetes         take the policy from the Kubernetes API server\n"
		"                           (in-cluster service account; exclusive with -f):\n"
		"                           watch Gateway API objects, reload on changes, the\n"
		"                           Lease holder writes their status\n"
		"      --kubeconfig FILE    reach the API server with FILE's current context\n"
		"      --address ADDR       bind address for Gateways without spec.addresses\n"
		"                           (default \"::\", all IPv4 and IPv6 addresses)\n"
		"      --pin-dir DIR        bpffs directory for the maps (default /sys/fs/bpf/snigate)\n"
		"      --engine E           auto | sockmap | userspace (default auto)\n"
		"      --userspace-io M     how the userspace engine moves bytes: splice\n"
		"                           (splice(2) through pooled pipes, the bytes never\n"
		"                           copied; a connection copies while no pipe can be\n"
		"                           had) or copy (recv/send through a buffer);\n"
		"                           default splice\n"
		"      --workers N          worker threads (default: number of CPUs)\n"
		"      --hello-timeout S    ClientHello deadline in seconds (default 10)\n"
		"      --handshake-timeout S  Terminate: TLS handshake deadline, client and\n"
		"                           backend TLS each (default 10)\n"
		"      --idle-timeout S     idle connection timeout in seconds (default 3600)\n"
		"      --connect-timeout S  per backend connect attempt (default 3)\n"
		"      --connect-attempts N endpoints tried per connection (default 3)\n"
		"      --conn-budget BYTES  kernel bytes queued per direction before flow\n"
		"                           control pauses the splice (default 4M; k/M/G)\n"
		"      --max-input-bytes N  budget on the total size of the manifests (k/M/G;\n"
		"                           default 64M): over it, an input error\n"
		"      --gateway-class NAME serve only this GatewayClass\n"
		"      --metrics ADDR:PORT  Prometheus /metrics, /healthz, /readyz on ADDR:PORT\n"
		"                           (127.0.0.1:9090, [::1]:9090, :9090 = all; default off)\n"
		"      --access-log FILE    one JSON line per finished connection to FILE\n"
		"                           (- = stdout; kill -HUP reopens it; default off)\n"
		"      --control-socket P   unix socket for `snigate status` (root only, 0600;\n"
		"                           default " CONTROL_DEFAULT_PATH ", none = off)\n"
		"      --status-file FILE   write the status (as snigate check -o json) to FILE\n"
		"                           atomically on every compile (a rejected reload adds\n"
		"                           snigate.io/reload-error to the List's annotations)\n"
		"      --drain-timeout S    on SIGTERM/SIGINT: stop accepting, wait up to S\n"
		"                           seconds for open connections to end, then close\n"
		"                           them (default 30; 0 = close at once; a second\n"
		"                           signal stops at once)\n"
		"      --takeover           take over from the agent running on this pin\n"
		"                           directory: its listening sockets and open\n"
		"                           passthrough connections move here without a byte\n"
		"                           lost, then it exits (Terminate ones drain there).\n"
		"                           With --kubernetes: the API server is listed first\n"
		"                           (the old agent serves meanwhile), then the hand-over\n"
		"      --takeover=auto      take over when an agent answers on the hand-over\n"
		"                           socket, else start as without --takeover\n"
		"      --linger             once taken over and drained, stay (idle) until\n"
		"                           SIGTERM instead of exiting: for containers that are\n"
		"                           restarted when they exit (DaemonSet pods)\n"
		"      --takeover-socket P  hand-over unix socket (root only, 0600; default\n"
		"                           " TAKEOVER_DIR "/takeover<pin dir, / as _>.sock;\n"
		"                           none = this agent cannot be taken over)\n"
		"  -v, --verbose            debug logging (libbpf and verifier logs too)\n"
		"  -h, --help               this text\n\n"
		"Reload: SIGHUP (and any change of a -f path, debounced 150 ms) re-reads\n"
		"and compiles the manifests and swaps them in atomically: new routes and\n"
		"listeners serve, removed ones stop accepting, certificates are re-read;\n"
		"established connections are not touched. An invalid policy is rejected\n"
		"(logged with file:line:column), the previous one keeps serving. SIGHUP\n"
		"also reopens the access log. SIGUSR1 logs every open connection's state\n"
		"(engine, flow control, kernel counters: for debugging a stuck one).\n\n"
		"Exit codes: 0 clean stop, 1 runtime failure, 2 bad input or usage.\n");
}

static int parse_seconds(const char *s, unsigned *ms)
{
	char *end;
	double v = strtod(s, &end);

	if (end == s || *end || v <= 0 || v > 86400 * 365)
		return -EINVAL;
	*ms = (unsigned)(v * 1000);
	if (!*ms)
		*ms = 1;
	return 0;
}

static int parse_bytes(const char *s, uint64_t *out)
{
	char *end;
	double v = strtod(s, &end);

	if (end == s || v < 0)
		return -EINVAL;
	switch (*end) {
	case 0: break;
	case 'k': case 'K': v *= 1024; end++; break;
	case 'm': case 'M': v *= 1024 * 1024; end++; break;
	case 'g': case 'G': v *= 1024.0 * 1024 * 1024; end++; break;
	default: return -EINVAL;
	}
	if (*end == 'i' || *end == 'B')
		end++;
	if (*end)
		return -EINVAL;
	*out = (uint64_t)v;
	return 0;
}

static void *worker_main(void *arg)
{
	struct run_worker *rw = arg;

	rw->ls = takeover_listeners_open(rw->w, rw->pc); /* = listener_open_all() unless taking over */
	pthread_mutex_lock(rw->lock);
	rw->err = rw->ls ? 0 : -errno;
	(*rw->ready)++;
	pthread_cond_broadcast(rw->cond);
	pthread_mutex_unlock(rw->lock);
	if (!rw->ls)
		return NULL;
	rw->err = worker_run(rw->w);
	listener_close_all(rw->w, rw->ls);
	rw->ls = NULL;
	conn_close_all(rw->w);
	term_close_all(rw->w); /* what the drain left open */
	return NULL;
}

/* Verdict events: post each to every worker; the owner finds it by cookie. */
static void post_event(struct worker *w, void *arg)
{
	struct sng_event *e = arg;

	sockmap_on_bpf_event(w, e->cookie, e->type, e->lag);
	if (__atomic_sub_fetch(&e->len, 1, __ATOMIC_ACQ_REL) == 0)
		free(e);
}

static void log_conns_job(struct worker *w, void *arg)
{
	conn_log_all(w);
}

static int on_ring_event(void *ctx, void *data, size_t size)
{
	struct sng_event *e;
	unsigned i;

	if (size < sizeof(*e) || !run_n_workers)
		return 0;
	e = malloc(sizeof(*e));
	if (!e)
		return 0;
	memcpy(e, data, sizeof(*e));
	e->len = run_n_workers; /* reused as the reference count */
	for (i = 0; i < run_n_workers; i++)
		if (worker_post(run_workers[i].w, post_event, e) &&
		    __atomic_sub_fetch(&e->len, 1, __ATOMIC_ACQ_REL) == 0)
			free(e);
	return 0;
}

/* Connections still open anywhere in the agent (passthrough + Terminate). */
static long open_conns(void)
{
	return __atomic_load_n(&conn_open_count, __ATOMIC_RELAXED) +
	       __atomic_load_n(&term_open_count, __ATOMIC_RELAXED);
}

/* SIGTERM/SIGINT: stop accepting and let open connections end, up to
 * @drain_ms; returns the deadline (0: stop now). */
static uint64_t drain_start(const char *sig, unsigned drain_ms)
{
	size_t closed;

	metrics_set_ready(false);
	if (!drain_ms) {
		log_info("signal %s: stopping", sig);
		return 0;
	}
	closed = reload_stop_listening();
	log_info("signal %s: draining: %zu listening sockets closed, %ld connection(s) open, "
		 "waiting up to %.1f s (another signal stops at once)", sig, closed, open_conns(),
		 drain_ms / 1000.0);
	return worker_now_ms() + drain_ms;
}

struct run_k8s;
static void k8s_stop(struct run_k8s *k);

/* The main thread: signals, policy reloads (SIGHUP, -f changes), the
 * verdict's event ring, the drain. */
static int main_loop(struct loader *l, struct filewatch *fw, unsigned drain_ms, bool linger,
		     struct run_k8s *rk)
{
	bool lingering = false;
	struct ring_buffer *rb = NULL;
	struct epoll_event ev;
	sigset_t set;
	int sfd, ep, rbfd = -1, n, stop = 0, timeout;
	uint64_t drain_end = 0, now;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGUSR1);
	sfd = signalfd(-1, &set, SFD_CLOEXEC);
	ep = epoll_create1(EPOLL_CLOEXEC);
	if (sfd < 0 || ep < 0)
		return -errno;
	ev.events = EPOLLIN;
	ev.data.fd = sfd;
	epoll_ctl(ep, EPOLL_CTL_ADD, sfd, &ev);
	if (fw) {
		ev.data.fd = filewatch_fd(fw);
		epoll_ctl(ep, EPOLL_CTL_ADD, ev.data.fd, &ev);
	}
	if (l->events_fd >= 0) {
		rb = ring_buffer__new(l->events_fd, on_ring_event, NULL, NULL);
		if (rb) {
			rbfd = ring_buffer__epoll_fd(rb);
			ev.data.fd = rbfd;
			epoll_ctl(ep, EPOLL_CTL_ADD, rbfd, &ev);
		} else {
			log_warn("verdict event ring unavailable: stragglers found by idle checks only");
		}
	}
	while (!stop) {
		timeout = -1;
		if (drain_end) {
			now = worker_now_ms();
			if (!open_conns()) {
				log_info("drained: every connection ended");
			} else if (now >= drain_end) {
				log_info("drain timeout: closing %ld open connection(s)%s", open_conns(),
					 linger && takeover_handed_over() ? " at the exit" : "");
			} else {
				timeout = drain_end - now < 50 ? (int)(drain_end - now) : 50;
				goto wait;
			}
			if (!linger || !takeover_handed_over())
				break;
			/* --linger: the verdict's events are the new agent's alone
			 * from now on; then tell it we are done */
			if (rb)
				epoll_ctl(ep, EPOLL_CTL_DEL, rbfd, NULL);
			ring_buffer__free(rb);
			rb = NULL;
			takeover_release_peer();
			log_info("takeover: handed over; idle until SIGTERM (--linger)");
			drain_end = 0;
			lingering = true;
			continue;
		}
wait:
		n = epoll_wait(ep, &ev, 1, timeout);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (n && ev.data.fd == sfd) {
			struct signalfd_siginfo si;
			const char *name;
			bool self;

			if (read(sfd, &si, sizeof(si)) != sizeof(si))
				continue;
			if (si.ssi_signo == SIGUSR1) {
				unsigned i;

				log_info("signal USR1: logging every connection's state");
				for (i = 0; i < run_n_workers; i++)
					worker_post(run_workers[i].w, log_conns_job, NULL);
				continue;
			}
			if (si.ssi_signo == SIGHUP) {
				log_info("signal HUP: reopening the access log%s",
					 fw && !drain_end ? ", reloading the policy" : "");
				accesslog_reopen();
				if (fw && !drain_end)
					reload_files("SIGHUP");
				continue;
			}
			name = si.ssi_signo == SIGTERM ? "TERM" : "INT";
			self = si.ssi_pid == (uint32_t)getpid(); /* the takeover's stop */
			if (lingering) {
				log_info("signal %s: stopping (this agent was handed over)", name);
				break;
			}
			if (drain_end && !self && linger && takeover_handed_over()) {
				log_info("signal %s: exiting once drained (handed over)", name);
				linger = false;
				continue;
			}
			if (drain_end) {
				log_info("signal %s while draining: stopping now (%ld connection(s) open)",
					 name, open_conns());
				break;
			}
			if (self && takeover_handed_over()) {
				/* the new agent has its own source: release
				 * the status Lease now, not at the exit */
				k8s_stop(rk);
			}
			drain_end = drain_start(name, drain_ms);
			if (!drain_end && self && linger && takeover_handed_over()) {
				drain_end = worker_now_ms(); /* nothing to drain: linger */
				continue;
			}
			if (!drain_end)
				stop = 1;
		} else if (n && fw && ev.data.fd == filewatch_fd(fw)) {
			if (filewatch_dispatch(fw) && !drain_end)
				reload_files("file change");
		} else if (n && rb) {
			ring_buffer__consume(rb);
		}
	}
	ring_buffer__free(rb);
	close(ep);
	close(sfd);
	return 0;
}

/* --kubernetes: each debounced snapshot of the API objects goes through the
 * reload pipeline; the compiled status goes to the status writer (it
 * patches only while this agent holds the Lease).
 * With --takeover the source starts gated: the first snapshot is applied
 * by the main thread before the hand-over (maps and snapshot only: no
 * worker listens yet, so no socket of the old agent's binds is opened),
 * later ones are held (the last wins) until the workers run on the
 * received listeners, then applied in order. */
struct run_k8s {
	pthread_mutex_t lock;
	pthread_cond_t cond;     /* signalled when @held is set */
	pthread_mutex_t apply;   /* serialises applies: none overtakes another */
	struct k8s_source *src;  /* NULL until k8s_source_start() returned */
	json_t *pending;         /* status compiled before that */
	bool gated;
	struct policy_input *held;
};

/* reload_apply() of one snapshot, then readiness and status. With k->apply. */
static int k8s_apply(struct run_k8s *k, struct policy_input *in)
{
	json_t *status = NULL;
	int err;

	err = reload_apply(in, "kubernetes", &status);
	if (err)
		return err;
	metrics_set_ready(true);
	pthread_mutex_lock(&k->lock);
	if (k->src) {
		k8s_status_publish(k->src, status);
	} else {
		json_decref(k->pending);
		k->pending = json_incref(status);
	}
	pthread_mutex_unlock(&k->lock);
	json_decref(status);
	return 0;
}

static void on_k8s_input(struct policy_input *in, void *arg)
{
	struct run_k8s *k = arg;

	pthread_mutex_lock(&k->apply);
	pthread_mutex_lock(&k->lock);
	if (k->gated) {
		policy_input_free(k->held);
		k->held = in;
		pthread_cond_broadcast(&k->cond);
		pthread_mutex_unlock(&k->lock);
		pthread_mutex_unlock(&k->apply);
		return;
	}
	pthread_mutex_unlock(&k->lock);
	k8s_apply(k, in);
	pthread_mutex_unlock(&k->apply);
}

/* Stop the source (and release the Lease); idempotent. Not from a callback. */
static void k8s_stop(struct run_k8s *k)
{
	struct k8s_source *src;

	pthread_mutex_lock(&k->lock);
	src = k->src;
	k->src = NULL;
	pthread_mutex_unlock(&k->lock);
	k8s_source_stop(src);
}

/* Start the source (after privs_drop: it wants one thread). 0 or -errno. */
static int k8s_start(struct run_k8s *k, const struct k8s_options *ko)
{
	struct k8s_source *src = k8s_source_start(ko, on_k8s_input, k);

	if (!src) {
		log_err("cannot start the Kubernetes source: %s", strerror(errno));
		return -EINVAL;
	}
	pthread_mutex_lock(&k->lock);
	k->src = src;
	if (k->pending)
		k8s_status_publish(src, k->pending);
	json_decref(k->pending);
	k->pending = NULL;
	pthread_mutex_unlock(&k->lock);
	return 0;
}

/* --takeover: apply the first snapshot (the old agent serves meanwhile),
 * waiting up to @ms for the initial list. 0 or -errno (logged). */
static int k8s_first_snapshot(struct run_k8s *k, unsigned ms)
{
	struct policy_input *in;
	struct timespec dl;
	int err = 0;

	clock_gettime(CLOCK_REALTIME, &dl);
	dl.tv_sec += ms / 1000;
	pthread_mutex_lock(&k->lock);
	while (!k->held && !err)
		err = pthread_cond_timedwait(&k->cond, &k->lock, &dl);
	in = k->held;
	k->held = NULL;
	pthread_mutex_unlock(&k->lock);
	if (!in) {
		log_err("takeover: no snapshot of the API server within %u s (initial list "
			"incomplete): the running agent serves on", ms / 1000);
		return -ETIMEDOUT;
	}
	pthread_mutex_lock(&k->apply);
	err = k8s_apply(k, in);
	pthread_mutex_unlock(&k->apply);
	if (err)
		log_err("takeover: the API server's first snapshot was not applied (%s): the "
			"running agent serves on", strerror(-err));
	return err;
}

/* --takeover: the workers run; apply what came meanwhile, then every
 * snapshot directly. */
static void k8s_ungate(struct run_k8s *k)
{
	struct policy_input *in;

	pthread_mutex_lock(&k->apply);
	pthread_mutex_lock(&k->lock);
	k->gated = false;
	in = k->held;
	k->held = NULL;
	pthread_mutex_unlock(&k->lock);
	if (in)
		k8s_apply(k, in);
	pthread_mutex_unlock(&k->apply);
}

int cmd_run(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "file", required_argument, NULL, 'f' },
		{ "address", required_argument, NULL, 'a' },
		{ "pin-dir", required_argument, NULL, 'p' },
		{ "engine", required_argument, NULL, 'e' },
		{ "userspace-io", required_argument, NULL, 'U' },
		{ "workers", required_argument, NULL, 'w' },
		{ "hello-timeout", required_argument, NULL, 'H' },
		{ "handshake-timeout", required_argument, NULL, 'J' },
		{ "idle-timeout", required_argument, NULL, 'I' },
		{ "connect-timeout", required_argument, NULL, 'C' },
		{ "connect-attempts", required_argument, NULL, 'A' },
		{ "conn-budget", required_argument, NULL, 'B' },
		{ "max-input-bytes", required_argument, NULL, 'X' },
		{ "gateway-class", required_argument, NULL, 'g' },
		{ "metrics", required_argument, NULL, 'M' },
		{ "access-log", required_argument, NULL, 'L' },
		{ "control-socket", required_argument, NULL, 'S' },
		{ "status-file", required_argument, NULL, 'F' },
		{ "drain-timeout", required_argument, NULL, 'D' },
		{ "kubernetes", no_argument, NULL, 'K' },
		{ "kubeconfig", required_argument, NULL, 'k' },
		{ "takeover", optional_argument, NULL, 'T' },
		{ "linger", no_argument, NULL, 'G' },
		{ "takeover-socket", required_argument, NULL, 'O' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct policy_options po = { 0 };
	struct policy_input *in = NULL;
	struct agent_snapshot *snap = NULL;
	struct probe_result pr;
	struct loader l = { .verdict_link = -1, .count_prog = -1 };
	struct reload_options ro;
	struct filewatch *fw = NULL;
	struct worker **ws = NULL;
	struct listener_set **lss = NULL;
	/* --kubernetes */
	bool kubernetes = false;
	const char *kubeconfig = NULL;
	struct k8s_options ko = { 0 };
	struct run_k8s rk = { .lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER,
			      .apply = PTHREAD_MUTEX_INITIALIZER };
	unsigned drain_ms = 30000;
	char rwhy[1400];
	pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
	pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
	const char **files;
	size_t n_files = 0, i;
	unsigned ready = 0, started = 0;
	char why[256];
	int opt, rc = EXIT_FAIL, err, engine;
	long ncpu;
	sigset_t set;
	bool loaded = false;
	/* ops: metrics, access log, control socket, status file */
	const char *metrics_addr = NULL, *access_log = NULL, *status_file = NULL;
	const char *control_path = CONTROL_DEFAULT_PATH;
	bool control_explicit = false;
	struct metrics_options mo;
	/* --takeover (agent/takeover.c) */
	bool takeover = false, tk_explicit = false, tk_auto = false, linger = false;
	const char *tk_path = NULL;
	char tk_default[108];

	memset(&agent_opts, 0, sizeof(agent_opts));
	agent_opts.pin_dir = "/sys/fs/bpf/snigate";
	ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	agent_opts.workers = ncpu > 0 ? (unsigned)ncpu : 1;
	agent_opts.engine = SNG_ENGINE_AUTO;
	agent_opts.hello_timeout_ms = 10000;
	agent_opts.idle_timeout_ms = 3600000;
	agent_opts.connect_timeout_ms = 3000;
	agent_opts.connect_attempts = 3;
	agent_opts.conn_budget = 4ull << 20;
	agent_opts.handshake_timeout_ms = 10000;

	files = calloc((size_t)argc + 1, sizeof(*files));
	if (!files)
		return EXIT_FAIL;
	optind = 1;
	/* SIGUSR1 (log the connections) must never kill a starting agent:
	 * held pending until the main loop's signalfd reads it. */
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	while ((opt = getopt_long(argc, argv, "f:vh", opts, NULL)) != -1) {
		switch (opt) {
		case 'f': files[n_files++] = optarg; break;
		case 'a': agent_opts.default_address = optarg; break;
		case 'p': agent_opts.pin_dir = optarg; break;
		case 'g': po.gateway_class = optarg; break;
		case 'v': log_verbosity = LOG_DEBUG; break;
		case 'M': metrics_addr = optarg; break;
		case 'L': access_log = optarg; break;
		case 'S':
			control_path = strcmp(optarg, "none") ? optarg : NULL;
			control_explicit = true;
			break;
		case 'F': status_file = optarg; break;
		case 'K': kubernetes = true; break;
		case 'T':
			if (optarg && strcmp(optarg, "auto")) {
				fprintf(stderr, "snigate run: --takeover=%s: expected --takeover or "
					"--takeover=auto\n", optarg);
				rc = EXIT_BADINPUT;
				goto out;
			}
			takeover = true;
			tk_auto = optarg != NULL;
			break;
		case 'G': linger = true; break;
		case 'O':
			tk_path = strcmp(optarg, "none") ? optarg : NULL;
			tk_explicit = true;
			break;
		case 'k': kubeconfig = optarg; break;
		case 'D': {
			char *end;
			double v = strtod(optarg, &end);

			if (end == optarg || *end || v < 0 || v > 86400) {
				fprintf(stderr, "snigate run: --drain-timeout %s: expected 0..86400 seconds\n",
					optarg);
				rc = EXIT_BADINPUT;
				goto out;
			}
			drain_ms = (unsigned)(v * 1000);
			break;
		}
		case 'e':
			if (!strcmp(optarg, "auto"))
				agent_opts.engine = SNG_ENGINE_AUTO;
			else if (!strcmp(optarg, "sockmap"))
				agent_opts.engine = SNG_ENGINE_SOCKMAP;
			else if (!strcmp(optarg, "userspace"))
				agent_opts.engine = SNG_ENGINE_USERSPACE;
			else {
				fprintf(stderr, "snigate run: --engine %s: expected auto, sockmap or userspace\n", optarg);
				rc = EXIT_BADINPUT;
				goto out;
			}
			break;
		case 'U':
			if (!strcmp(optarg, "splice") || !strcmp(optarg, "copy")) {
				agent_opts.userspace_copy = !strcmp(optarg, "copy");
			} else {
				fprintf(stderr, "snigate run: --userspace-io %s: expected splice or copy\n",
					optarg);
				rc = EXIT_BADINPUT;
				goto out;
			}
			break;
		case 'w': {
			char *end;
			long v = strtol(optarg, &end, 10);

			if (*end || v < 1 || v > 256) {
				fprintf(stderr, "snigate run: --workers %s: expected 1..256\n", optarg);
				rc = EXIT_BADINPUT;
				goto out;
			}
			agent_opts.workers = (unsigned)v;
			break;
		}
		case 'H': case 'I': case 'C': case 'J': {
			unsigned *dst = opt == 'H' ? &agent_opts.hello_timeout_ms :
					opt == 'I' ? &agent_opts.idle_timeout_ms :
					opt == 'J' ? &agent_opts.handshake_timeout_ms :
						     &agent_opts.connect_timeout_ms;

			if (parse_seconds(optarg, dst)) {
				fprintf(stderr, "snigate run: %s: expected a positive number of seconds\n", optarg);
				rc = EXIT_BADINPUT;
				goto out;
			}
			break;
		}
		case 'A': {
			char *end;
			long v = strtol(optarg, &end, 10);

			if (*end || v < 1 || v > SNG_MAX_ENDPOINTS) {
				fprintf(stderr, "snigate run: --connect-attempts %s: expected 1..%d\n",
					optarg, SNG_MAX_ENDPOINTS);
				rc = EXIT_BADINPUT;
				goto out;
			}
			agent_opts.connect_attempts = (unsigned)v;
			break;
		}
		case 'B':
			if (parse_bytes(optarg, &agent_opts.conn_budget)) {
				fprintf(stderr, "snigate run: --conn-budget %s: expected bytes (k/M/G suffix)\n", optarg);
				rc = EXIT_BADINPUT;
				goto out;
			}
			break;
		case 'X': { /* every input set from now on: files, reloads, API objects */
			uint64_t v;

			if (parse_bytes(optarg, &v) || !v) {
				fprintf(stderr, "snigate run: --max-input-bytes %s: expected bytes >= 1 (k/M/G suffix)\n", optarg);
				rc = EXIT_BADINPUT;
				goto out;
			}
			policy_input_default_budget(v);
			break;
		}
		case 'h':
			usage(stdout);
			rc = EXIT_OK;
			goto out;
		default:
			usage(stderr);
			rc = EXIT_BADINPUT;
			goto out;
		}
	}
	if (optind < argc || (!n_files && !kubernetes) || (n_files && kubernetes) ||
	    (kubeconfig && !kubernetes)) {
		fprintf(stderr, "snigate run: %s\n", optind < argc ? "unexpected argument" :
			n_files && kubernetes ? "-f and --kubernetes are exclusive: the policy "
						"comes from the manifests or from the API server" :
			kubeconfig && !kubernetes ? "--kubeconfig needs --kubernetes" :
			"no manifests: give -f FILE_OR_DIR (or --kubernetes)");
		usage(stderr);
		rc = EXIT_BADINPUT;
		goto out;
	}
	if (!tk_explicit) {
		if (!takeover_default_path(agent_opts.pin_dir, tk_default, sizeof(tk_default)))
			tk_path = tk_default;
		else if (takeover)
			log_warn("the default takeover socket path for --pin-dir %s is too long: "
				 "give --takeover-socket", agent_opts.pin_dir);
	}
	if (takeover && !tk_path) {
		fprintf(stderr, "snigate run: --takeover needs a --takeover-socket path\n");
		rc = EXIT_BADINPUT;
		goto out;
	}
	if (tk_auto && !takeover_peer_present(tk_path)) {
		log_info("takeover=auto: no agent answers on %s: starting without a takeover",
			 tk_path);
		takeover = false;
	}
	po.default_address = agent_opts.default_address;
	ro = (struct reload_options){ .paths = files, .n_paths = n_files, .po = po };
	reload_init(&ro);
	statusfile_set_path(status_file);

	/* 1. manifests (the API server's objects come after the start) */
	if (kubernetes) {
		in = policy_input_new();
		if (!in)
			goto out;
	} else {
		err = reload_read_paths(&in, rwhy, sizeof(rwhy));
		if (err) {
			fprintf(stderr, "snigate run: %s\n", rwhy);
			rc = err == -EINVAL || err == -ENOENT || err == -EISDIR || err == -EACCES ?
			     EXIT_BADINPUT : EXIT_FAIL;
			goto out;
		}
	}

	/* 2. kernel features, BPF object, maps */
	probe_kernel(&pr);
	if (takeover && takeover_begin(tk_path, agent_opts.pin_dir))
		goto out; /* logged; the running agent is untouched */
	err = loader_open(agent_opts.pin_dir, pr.sockhash, &l, &agent_maps);
	if (err == -EBUSY)
		goto out; /* the pin directory is another agent's (logged) */
	if (err && pr.sockhash) {
		log_warn("BPF load with the sockmap verdict failed (%s): retrying without it",
			 strerror(-err));
		err = loader_open(agent_opts.pin_dir, false, &l, &agent_maps);
	}
	if (err) {
		log_err("cannot load the BPF maps (%s): snigate routes from BPF maps and needs "
			"root with CAP_BPF, a bpffs at /sys/fs/bpf and BTF", strerror(-err));
		goto out;
	}
	loaded = true;
	probe_note_loader(&pr, &l);
	engine = probe_choose_engine(&pr, agent_opts.engine, why, sizeof(why));
	if (engine < 0) {
		log_err("%s", why);
		goto out;
	}
	log_info("%s; userspace engine %s; kTLS %s; budget %llu bytes per direction; %u workers",
		 why, agent_opts.userspace_copy ? "copies (--userspace-io copy)" : "splices",
		 pr.ktls ? "available" : "unavailable", (unsigned long long)agent_opts.conn_budget,
		 agent_opts.workers);
	conn_cfg.engine = engine;
	conn_cfg.sockmap_ok = engine == SNG_ENGINE_SOCKMAP ||
			      (pr.verdict && agent_opts.engine == SNG_ENGINE_AUTO);
	conn_cfg.loader = &l;
	err = mapsync_set_budget(l.fc_fd, agent_opts.conn_budget);
	if (err) {
		log_err("writing the flow-control budget: %s", strerror(-err));
		goto out;
	}
	/* 2b. the first policy, through the pipeline every reload uses. With
	 * --kubernetes --takeover the maps keep the old agent's table until
	 * the API server's first snapshot replaces it (step 3): an empty
	 * table would refuse the old agent's connections meanwhile. */
	rk.gated = kubernetes && takeover;
	if (!rk.gated) {
		err = reload_apply(in, "startup", NULL);
		in = NULL;
		if (err)
			goto out;
		snap = agent_snapshot_acquire();
		if (!snap)
			goto out;
		if (!snap->pc->n_binds && !kubernetes)
			log_warn("no listener was accepted: nothing to serve (see snigate check)");
	}
	policy_input_free(in);
	in = NULL;

	/* Setup done: keep only what serving needs (threads inherit it). */
	err = privs_drop();
	if (err) {
		log_err("dropping capabilities: %s", strerror(-err));
		goto stop;
	}

	/* 3. workers; signals are taken by the main thread's signalfd */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGUSR1);
	sigaddset(&set, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	ko.kubeconfig = kubeconfig;
	ko.controller_name = po.controller_name;
	if (rk.gated) {
		/* the old agent serves until the first snapshot is in the maps */
		log_info("takeover: listing the API server first (up to %u s); the running "
			 "agent serves meanwhile", K8S_TAKEOVER_LIST_S);
		if (k8s_start(&rk, &ko)) {
			rc = EXIT_BADINPUT;
			goto stop;
		}
		if (k8s_first_snapshot(&rk, K8S_TAKEOVER_LIST_S * 1000))
			goto stop;
		snap = agent_snapshot_acquire();
		if (!snap)
			goto stop;
	}
	/* takeover: the old agent stops accepting and frees its endpoints */
	if (takeover && takeover_receive())
		goto stop;
	/* ops endpoints: after the capability drop (it wants one thread) and
	 * the signal mask (their threads inherit it), before the workers */
	if (access_log && accesslog_open(access_log))
		goto stop;
	mo = (struct metrics_options){ .maps = &agent_maps, .chstats_fd = l.chstats_fd,
				       .engine = engine };
	if (metrics_addr && metrics_start(metrics_addr, &mo))
		goto stop;
	/* The default socket is shared by every agent of the host (and test
	 * netns): without it the agent still serves, only `status` is blind. */
	if (control_path && control_start(control_path)) {
		if (control_explicit)
			goto stop;
		log_warn("serving without a control socket: snigate status cannot reach this agent");
	}
	run_workers = calloc(agent_opts.workers, sizeof(*run_workers));
	if (!run_workers)
		goto out;
	for (i = 0; i < agent_opts.workers; i++) {
		struct run_worker *rw = &run_workers[i];

		rw->w = worker_new((unsigned)i);
		if (!rw->w)
			goto stop;
		rw->pc = snap->pc;
		rw->lock = &lock;
		rw->cond = &cond;
		rw->ready = &ready;
		if (pthread_create(&rw->th, NULL, worker_main, rw)) {
			worker_free(rw->w);
			rw->w = NULL;
			goto stop;
		}
		started++;
	}
	run_n_workers = started;
	pthread_mutex_lock(&lock);
	while (ready < started)
		pthread_cond_wait(&cond, &lock);
	pthread_mutex_unlock(&lock);
	for (i = 0; i < started; i++)
		if (run_workers[i].err) {
			log_err("worker %zu: cannot listen: %s", i, strerror(-run_workers[i].err));
			goto stop;
		}
	ws = calloc(started ? started : 1, sizeof(*ws));
	lss = calloc(started ? started : 1, sizeof(*lss));
	if (!ws || !lss)
		goto stop;
	for (i = 0; i < started; i++) {
		ws[i] = run_workers[i].w;
		lss[i] = run_workers[i].ls;
	}
	if (reload_attach_workers(started, ws, lss))
		goto stop;
	if (takeover && takeover_install())
		goto stop;
	if (takeover_serve_start(tk_path) && tk_explicit)
		goto stop;
	log_info("serving (policy serial %llu, %zu binds)", (unsigned long long)snap->serial,
		 snap->pc->n_binds);
	agent_snapshot_release(snap);
	snap = NULL;
	if (rk.gated) {
		/* snapshots held during the hand-over, then all directly */
		k8s_ungate(&rk);
	} else if (kubernetes) {
		/* after privs_drop (it wants one thread) and the workers: every
		 * snapshot of the API objects reloads, listeners included */
		if (k8s_start(&rk, &ko)) {
			rc = EXIT_BADINPUT;
			goto stop;
		}
	} else {
		/* the agent's own writes are no manifest change */
		const char *ignore[3] = { NULL, NULL, NULL };
		size_t ni = 0;

		if (status_file)
			ignore[ni++] = status_file;
		if (access_log && strcmp(access_log, "-"))
			ignore[ni++] = access_log;
		fw = filewatch_new(files, n_files, ignore);
		if (!fw)
			log_warn("not watching the manifests (%s): reload with SIGHUP",
				 strerror(errno));
		metrics_set_ready(true);
	}
	main_loop(&l, fw, drain_ms, linger, &rk);
	metrics_set_ready(false);
	rc = EXIT_OK;
stop:
	takeover_stop();
	k8s_stop(&rk);
	json_decref(rk.pending);
	policy_input_free(rk.held);
	filewatch_free(fw);
	reload_detach_workers();
	for (i = 0; i < started; i++)
		worker_stop(run_workers[i].w);
	for (i = 0; i < started; i++) {
		pthread_join(run_workers[i].th, NULL);
		if (run_workers[i].err && rc == EXIT_OK)
			rc = EXIT_FAIL;
	}
	run_n_workers = 0;
	for (i = 0; i < started; i++)
		worker_free(run_workers[i].w);
	free(run_workers);
	run_workers = NULL;
	control_stop();
	metrics_stop();
	accesslog_close();
	agent_snapshot_install(NULL);
	log_info("stopped");
out:
	agent_snapshot_release(snap);
	free(ws);
	free(lss);
	policy_input_free(in);
	if (loaded)
		loader_close(&l);
	free(files);
	return rc;
}
