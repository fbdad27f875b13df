// SPDX-License-Identifier: GPL-2.0-only
/* Test harness for the Kubernetes config source: runs k8s_source against an
 * API server (or the stand-in), compiles each input, prints one JSON line per
 * compile and hands the status to the status writer. */
#include <errno.h>
#include <pthread.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <openssl/evp.h>

#include "k8s.h"
#include "log.h"
#include "policy.h"

struct harness {
	struct k8s_source *src;
	struct policy_options popt;
	const char *status_out;
	unsigned long serial;
	unsigned long max;
	pthread_mutex_t lock;
	json_t *pending;  /* status compiled before h->src was known */
};

static volatile sig_atomic_t stop_flag;

static void on_signal(int sig)
{
	stop_flag = 1;
}

static double wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void digest(json_t *j, char out[65])
{
	unsigned char md[32];
	unsigned int n = 0, i;
	char *s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);

	EVP_Digest(s ? s : "", s ? strlen(s) : 0, md, &n, EVP_sha256(), NULL);
	for (i = 0; i < 32; i++)
		sprintf(out + 2 * i, "%02x", md[i]);
	free(s);
}

static void on_input(struct policy_input *in, void *arg)
{
	struct harness *h = arg;
	struct policy_compiled *pc;
	json_t *line, *routes;
	char dg[65];
	size_t i, certs = 0;

	struct k8s_source *src;

	pthread_mutex_lock(&h->lock);
	src = h->src;
	pthread_mutex_unlock(&h->lock);
	pc = policy_compile(in, &h->popt);
	policy_input_free(in);
	if (!pc) {
		fprintf(stderr, "k8s_watch: policy_compile: %s\n", strerror(errno));
		return;
	}
	routes = json_array();
	for (i = 0; i < pc->n_listeners; i++)
		certs += pc->listeners[i].n_certs;
	for (i = 0; i < pc->n_routes; i++)
		json_array_append_new(routes, json_sprintf("%s/%s", pc->routes[i].ns,
							   pc->routes[i].name));
	digest(pc->status, dg);
	line = json_pack("{s:I, s:f, s:I, s:I, s:I, s:I, s:o, s:s, s:b}",
			 "serial", (json_int_t)++h->serial, "wall_ms", wall_ms(),
			 "listeners", (json_int_t)pc->n_listeners,
			 "entries", (json_int_t)pc->n_entries,
			 "backends", (json_int_t)pc->n_backends,
			 "certs", (json_int_t)certs,
			 "routes", routes, "status_digest", dg,
			 "leader", src ? k8s_source_is_leader(src) : 0);
	if (line) {
		char *s = json_dumps(line, JSON_COMPACT);

		printf("%s\n", s);
		fflush(stdout);
		free(s);
		json_decref(line);
	}
	if (h->status_out) {
		char tmp[4200];

		snprintf(tmp, sizeof(tmp), "%s.tmp", h->status_out);
		if (!json_dump_file(pc->status, tmp, JSON_INDENT(1) | JSON_SORT_KEYS))
			rename(tmp, h->status_out);
	}
	/* h->src is set after k8s_source_start() returns; the first input can
	 * come earlier: main() publishes it then. */
	pthread_mutex_lock(&h->lock);
	if (h->src) {
		k8s_status_publish(h->src, pc->status);
	} else {
		json_decref(h->pending);
		h->pending = json_deep_copy(pc->status);
	}
	pthread_mutex_unlock(&h->lock);
	policy_compiled_free(pc);
	if (h->max && h->serial >= h->max)
		stop_flag = 1;
}

static void usage(void)
{
	fprintf(stderr,
		"usage: k8s_watch (--server URL | --kubeconfig FILE [--context C]) [options]\n"
		"  --token-file F --ca F --insecure --sa-dir D\n"
		"  --identity ID --lease-namespace NS --lease-duration S --renew-ms MS\n"
		"  --no-status --debounce-ms MS --watch-timeout S --controller-name N\n"
		"  --ref-resync S --list-limit N --status-out FILE --duration S --max-compiles N -v\n");
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "server", 1, 0, 's' }, { "kubeconfig", 1, 0, 'k' }, { "context", 1, 0, 'C' },
		{ "token-file", 1, 0, 't' }, { "ca", 1, 0, 'a' }, { "insecure", 0, 0, 'I' },
		{ "sa-dir", 1, 0, 'S' }, { "identity", 1, 0, 'i' },
		{ "lease-namespace", 1, 0, 'n' }, { "lease-duration", 1, 0, 'L' },
		{ "renew-ms", 1, 0, 'r' }, { "no-status", 0, 0, 'N' },
		{ "debounce-ms", 1, 0, 'd' }, { "watch-timeout", 1, 0, 'w' },
		{ "controller-name", 1, 0, 'c' }, { "status-out", 1, 0, 'o' },
		{ "duration", 1, 0, 'D' }, { "max-compiles", 1, 0, 'm' },
		{ "ref-resync", 1, 0, 'R' }, { "list-limit", 1, 0, 'l' }, { "verbose", 0, 0, 'v' }, { 0 }
	};
	struct k8s_options o = { 0 };
	struct harness h = { 0 };
	double duration = 0, start;
	struct sigaction sa = { .sa_handler = on_signal };
	int c;

	while ((c = getopt_long(argc, argv, "v", lo, NULL)) != -1) {
		switch (c) {
		case 's': o.server = optarg; break;
		case 'k': o.kubeconfig = optarg; break;
		case 'C': o.context = optarg; break;
		case 't': o.token_file = optarg; break;
		case 'a': o.ca_file = optarg; break;
		case 'I': o.insecure = 1; break;
		case 'S': o.sa_dir = optarg; break;
		case 'i': o.identity = optarg; break;
		case 'n': o.lease_namespace = optarg; break;
		case 'L': o.lease_duration_s = (unsigned)atoi(optarg); break;
		case 'r': o.renew_interval_ms = (unsigned)atoi(optarg); break;
		case 'N': o.no_status = 1; break;
		case 'd': o.debounce_ms = (unsigned)atoi(optarg); break;
		case 'w': o.watch_timeout_s = (unsigned)atoi(optarg); break;
		case 'c': o.controller_name = optarg; h.popt.controller_name = optarg; break;
		case 'o': h.status_out = optarg; break;
		case 'D': duration = atof(optarg); break;
		case 'm': h.max = strtoul(optarg, NULL, 10); break;
		case 'R': o.ref_resync_s = (unsigned)atoi(optarg); break;
		case 'l': o.list_limit = (unsigned)atoi(optarg); break;
		case 'v': log_verbosity = LOG_DEBUG; break;
		default: usage(); return 2;
		}
	}
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	pthread_mutex_init(&h.lock, NULL);
	{
		struct k8s_source *src = k8s_source_start(&o, on_input, &h);

		if (!src) {
			fprintf(stderr, "k8s_watch: cannot start the kubernetes source: %s\n",
				strerror(errno));
			return 1;
		}
		pthread_mutex_lock(&h.lock);
		h.src = src;
		if (h.pending)
			k8s_status_publish(src, h.pending);
		json_decref(h.pending);
		h.pending = NULL;
		pthread_mutex_unlock(&h.lock);
	}
	start = wall_ms();
	while (!stop_flag && (!duration || wall_ms() - start < duration * 1000)) {
		usleep(20000);
	}
	k8s_source_stop(h.src);
	return 0;
}
