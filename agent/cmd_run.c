// SPDX-License-Identifier: GPL-2.0-only
/* `snigate run`: compile the manifests, load and fill the BPF maps, probe
 * the kernel, start the workers and serve until SIGTERM/SIGINT. */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <bpf/libbpf.h>

#include "accesslog.h"
#include "agent.h"
#include "cmd.h"
#include "conn.h"
#include "control.h"
#include "listener.h"
#include "loader.h"
#include "log.h"
#include "mapsync.h"
#include "metrics.h"
#include "policy.h"
#include "privs.h"
#include "probe.h"
#include "snapshot.h"
#include "statusfile.h"
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

static struct run_worker *run_workers;
static unsigned run_n_workers;

static void usage(FILE *f)
{
	fprintf(f,
		"usage: snigate run -f MANIFESTS [-f ...] [options]\n\n"
		"Serve the Gateways of the given Gateway API manifests (files or directories):\n"
		"Passthrough listeners are routed on the ClientHello's SNI and spliced in the\n"
		"kernel (sockmap) or copied by the userspace engine; Terminate listeners are\n"
		"served by the OpenSSL engine. Needs root (BPF, privileged ports).\n\n"
		"options:\n"
		"  -f, --file PATH          manifests (YAML/JSON file or directory); repeatable\n"
		"      --address ADDR       bind address for Gateways without spec.addresses\n"
		"                           (default \"::\", all IPv4 and IPv6 addresses)\n"
		"      --pin-dir DIR        bpffs directory for the maps (default /sys/fs/bpf/snigate)\n"
		"      --engine E           auto | sockmap | userspace (default auto)\n"
		"      --workers N          worker threads (default: number of CPUs)\n"
		"      --hello-timeout S    ClientHello deadline in seconds (default 10)\n"
		"      --idle-timeout S     idle connection timeout in seconds (default 3600)\n"
		"      --connect-timeout S  per backend connect attempt (default 3)\n"
		"      --connect-attempts N endpoints tried per connection (default 3)\n"
		"      --conn-budget BYTES  kernel bytes queued per direction before flow\n"
		"                           control pauses the splice (default 4M; k/M/G)\n"
		"      --gateway-class NAME serve only this GatewayClass\n"
		"      --metrics ADDR:PORT  Prometheus /metrics, /healthz, /readyz on ADDR:PORT\n"
		"                           (127.0.0.1:9090, [::1]:9090, :9090 = all; default off)\n"
		"      --access-log FILE    one JSON line per finished connection to FILE\n"
		"                           (- = stdout; kill -HUP reopens it; default off)\n"
		"      --control-socket P   unix socket for `snigate status` (root only, 0600;\n"
		"                           default " CONTROL_DEFAULT_PATH ", none = off)\n"
		"      --status-file FILE   write the status (as snigate check -o json) to FILE\n"
		"                           atomically on every compile\n"
		"  -v, --verbose            debug logging (libbpf and verifier logs too)\n"
		"  -h, --help               this text\n\n"
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

	rw->ls = listener_open_all(rw->w, rw->pc);
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

/* The main thread: signals and the verdict's event ring. */
static int main_loop(struct loader *l)
{
	struct ring_buffer *rb = NULL;
	struct epoll_event ev;
	sigset_t set;
	int sfd, ep, rbfd = -1, n, stop = 0;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sfd = signalfd(-1, &set, SFD_CLOEXEC);
	ep = epoll_create1(EPOLL_CLOEXEC);
	if (sfd < 0 || ep < 0)
		return -errno;
	ev.events = EPOLLIN;
	ev.data.fd = sfd;
	epoll_ctl(ep, EPOLL_CTL_ADD, sfd, &ev);
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
		n = epoll_wait(ep, &ev, 1, -1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (n && ev.data.fd == sfd) {
			struct signalfd_siginfo si;

			if (read(sfd, &si, sizeof(si)) != sizeof(si))
				continue;
			if (si.ssi_signo == SIGHUP) {
				/* ops: reopen the access log (rotation). A policy
				 * reload belongs here too, and its compile must
				 * call statusfile_update(new status). */
				log_info("signal HUP: reopening the access log");
				accesslog_reopen();
				continue;
			}
			log_info("signal %s: stopping", si.ssi_signo == SIGTERM ? "TERM" : "INT");
			stop = 1;
		} else if (n && rb) {
			ring_buffer__consume(rb);
		}
	}
	ring_buffer__free(rb);
	close(ep);
	close(sfd);
	return 0;
}

int cmd_run(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "file", required_argument, NULL, 'f' },
		{ "address", required_argument, NULL, 'a' },
		{ "pin-dir", required_argument, NULL, 'p' },
		{ "engine", required_argument, NULL, 'e' },
		{ "workers", required_argument, NULL, 'w' },
		{ "hello-timeout", required_argument, NULL, 'H' },
		{ "idle-timeout", required_argument, NULL, 'I' },
		{ "connect-timeout", required_argument, NULL, 'C' },
		{ "connect-attempts", required_argument, NULL, 'A' },
		{ "conn-budget", required_argument, NULL, 'B' },
		{ "gateway-class", required_argument, NULL, 'g' },
		{ "metrics", required_argument, NULL, 'M' },
		{ "access-log", required_argument, NULL, 'L' },
		{ "control-socket", required_argument, NULL, 'S' },
		{ "status-file", required_argument, NULL, 'F' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct policy_options po = { 0 };
	struct policy_input *in = NULL;
	struct policy_compiled *pc = NULL;
	struct agent_snapshot *snap = NULL;
	struct term_policy *term = NULL;
	struct probe_result pr;
	struct loader l = { .verdict_link = -1, .count_prog = -1 };
	struct policy_error perr;
	pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
	pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
	const char **files;
	size_t n_files = 0, i;
	unsigned ready = 0, started = 0;
	uint64_t serial = 0;
	char why[256];
	int opt, rc = EXIT_FAIL, err, engine;
	long ncpu;
	sigset_t set;
	bool loaded = false, has_term = false;
	/* ops: metrics, access log, control socket, status file */
	const char *metrics_addr = NULL, *access_log = NULL, *status_file = NULL;
	const char *control_path = CONTROL_DEFAULT_PATH;
	bool control_explicit = false;
	struct metrics_options mo;

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
		case 'H': case 'I': case 'C': {
			unsigned *dst = opt == 'H' ? &agent_opts.hello_timeout_ms :
					opt == 'I' ? &agent_opts.idle_timeout_ms :
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
	if (!n_files || optind < argc) {
		fprintf(stderr, "snigate run: %s\n", n_files ? "unexpected argument" :
			"no manifests: give -f FILE_OR_DIR");
		usage(stderr);
		rc = EXIT_BADINPUT;
		goto out;
	}
	po.default_address = agent_opts.default_address;

	/* 1. manifests -> compiled table */
	in = policy_input_new();
	if (!in)
		goto out;
	for (i = 0; i < n_files; i++) {
		err = policy_input_add_path(in, files[i], &perr);
		if (!err)
			continue;
		fprintf(stderr, "snigate run: %s", perr.file);
		if (perr.line)
			fprintf(stderr, ":%d:%d", perr.line, perr.column);
		fprintf(stderr, ": %s%s%s\n", perr.path, *perr.path ? ": " : "", perr.msg);
		rc = err == -EINVAL || err == -ENOENT || err == -EISDIR || err == -EACCES ?
		     EXIT_BADINPUT : EXIT_FAIL;
		goto out;
	}
	pc = policy_compile(in, &po);
	if (!pc) {
		log_err("compile failed: %s", strerror(errno));
		goto out;
	}
	for (i = 0; i < pc->n_listeners; i++)
		if (pc->listeners[i].mode == SNG_MODE_TERMINATE)
			has_term = true;
	if (!pc->n_binds)
		log_warn("no listener was accepted: nothing to serve (see snigate check)");
	statusfile_set_path(status_file);
	if (statusfile_update(pc->status))
		goto out;

	/* 2. kernel features, BPF object, maps */
	probe_kernel(&pr);
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
	log_info("%s; kTLS %s; budget %llu bytes per direction; %u workers", why,
		 pr.ktls ? "available" : "unavailable", (unsigned long long)agent_opts.conn_budget,
		 agent_opts.workers);
	conn_cfg.engine = engine;
	conn_cfg.sockmap_ok = engine == SNG_ENGINE_SOCKMAP ||
			      (pr.verdict && agent_opts.engine == SNG_ENGINE_AUTO);
	conn_cfg.loader = &l;
	err = mapsync_set_budget(l.fc_fd, agent_opts.conn_budget);
	if (!err)
		err = mapsync_apply(&agent_maps, pc, &serial);
	if (err) {
		log_err("writing the policy to the maps: %s", strerror(-err));
		goto out;
	}
	if (has_term) {
		term = term_policy_build(pc, NULL);
		if (!term) {
			log_err("building the Terminate listeners' TLS contexts failed");
			goto out;
		}
	}
	snap = agent_snapshot_new(pc, term, serial);
	if (!snap)
		goto out;
	pc = NULL;
	term = NULL;
	agent_snapshot_install(snap);

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
	sigaddset(&set, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
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
	log_info("serving (policy serial %llu, %zu binds)", (unsigned long long)serial,
		 snap->pc->n_binds);
	metrics_set_ready(true);
	main_loop(&l);
	metrics_set_ready(false);
	rc = EXIT_OK;
stop:
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
	if (term)
		term_policy_free(term);
	policy_compiled_free(pc);
	policy_input_free(in);
	if (loaded)
		loader_close(&l);
	free(files);
	return rc;
}
