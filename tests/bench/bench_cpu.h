/* SPDX-License-Identifier: GPL-2.0-only */
/* CPU accounting for benchmark runs (header only, shared by bench_load and
 * bench_tls): the load generator itself, a list of peer processes, every
 * kernel thread (kworkers run sk_psock_backlog) and the whole system. */
#ifndef SNIGATE_BENCH_CPU_H
#define SNIGATE_BENCH_CPU_H

#include <ctype.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#define BENCH_PF_KTHREAD 0x00200000ul
#define BENCH_MAX_PIDS 64

/* One snapshot, all in seconds. */
struct bench_cpu {
	double self;     /* this process, user + system */
	double pids;     /* the processes given with --cpu-pids (the proxy) */
	double backend;  /* the processes given with --cpu-backend */
	double kthreads; /* every kernel thread, user + system */
	double system;   /* /proc/stat: every CPU, busy (not idle/iowait) */
};

/* Pids to watch, from "1,2,3". Returns the count (0 on garbage). */
static inline int bench_cpu_parse_pids(const char *s, int *pids)
{
	int n = 0;

	while (s && *s && n < BENCH_MAX_PIDS) {
		char *end;
		long v = strtol(s, &end, 10);

		if (end == s || v <= 0)
			return 0;
		pids[n++] = (int)v;
		s = *end == ',' ? end + 1 : end;
		if (*end && *end != ',')
			return 0;
	}
	return n;
}

/* utime + stime (ticks) and flags of /proc/PID/stat; -1 if gone. */
static inline long long bench_cpu_pid_ticks(const char *pid, unsigned long *flags)
{
	char path[320], buf[1024], *p;
	unsigned long long ut, st;
	unsigned long fl;
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "/proc/%s/stat", pid);
	f = fopen(path, "r");
	if (!f)
		return -1;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = 0;
	p = strrchr(buf, ')'); /* comm may hold spaces */
	if (!p)
		return -1;
	/* after ") ": state ppid pgrp session tty tpgid flags minflt cminflt
	 * majflt cmajflt utime stime */
	if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %lu %*u %*u %*u %*u %llu %llu",
		   &fl, &ut, &st) != 3)
		return -1;
	if (flags)
		*flags = fl;
	return (long long)(ut + st);
}

static inline double bench_cpu_pids_s(const int *pids, int npids)
{
	long long pt = 0;
	char pid[16];
	int i;

	for (i = 0; i < npids; i++) {
		long long t;

		snprintf(pid, sizeof(pid), "%d", pids[i]);
		t = bench_cpu_pid_ticks(pid, NULL);
		if (t > 0)
			pt += t;
	}
	return (double)pt / (double)sysconf(_SC_CLK_TCK);
}

/* Snapshot: @pids are the proxy's processes, @bpids the backend's. */
static inline void bench_cpu_sample(struct bench_cpu *c, const int *pids, int npids,
				    const int *bpids, int nbpids)
{
	double hz = (double)sysconf(_SC_CLK_TCK);
	unsigned long long v[10] = { 0 };
	struct rusage ru;
	struct dirent *de;
	long long kt = 0;
	DIR *d;
	FILE *f;

	memset(c, 0, sizeof(*c));
	getrusage(RUSAGE_SELF, &ru);
	c->self = (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
		  (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
	c->pids = bench_cpu_pids_s(pids, npids);
	c->backend = bench_cpu_pids_s(bpids, nbpids);
	d = opendir("/proc");
	while (d && (de = readdir(d))) {
		unsigned long fl = 0;
		long long t;

		if (!isdigit((unsigned char)de->d_name[0]))
			continue;
		t = bench_cpu_pid_ticks(de->d_name, &fl);
		if (t > 0 && (fl & BENCH_PF_KTHREAD))
			kt += t;
	}
	if (d)
		closedir(d);
	c->kthreads = (double)kt / hz;
	f = fopen("/proc/stat", "r");
	if (f) {
		/* cpu user nice system idle iowait irq softirq steal guest gnice */
		if (fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2],
			   &v[3], &v[4], &v[5], &v[6], &v[7]) == 8)
			c->system = (double)(v[0] + v[1] + v[2] + v[5] + v[6] + v[7]) / hz;
		fclose(f);
	}
}

/* Print the difference @b - @a as a JSON object member "cpu". */
static inline void bench_cpu_json(FILE *out, const struct bench_cpu *a, const struct bench_cpu *b)
{
	fprintf(out, "\"cpu\":{\"load_s\":%.3f,\"proxy_s\":%.3f,\"backend_s\":%.3f,"
		     "\"kthreads_s\":%.3f,\"system_s\":%.3f}", b->self - a->self,
		b->pids - a->pids, b->backend - a->backend, b->kthreads - a->kthreads,
		b->system - a->system);
}

#endif /* SNIGATE_BENCH_CPU_H */
