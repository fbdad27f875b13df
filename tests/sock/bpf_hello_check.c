// SPDX-License-Identifier: GPL-2.0-only
/* Differential proof of the shared ClientHello parser: loads the sk_skb test
 * program, runs it in the kernel over inputs and compares with the host build. */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "clienthello_test.skel.h"
#include "hello.h"
#include "bpf/clienthello_test.h"

/* BPF_PROG_TEST_RUN is not implemented for sk_skb (the kernel answers
 * ENOTSUPP, 524; probed and printed at start), so each input is sent over a
 * real loopback TCP connection whose receiving socket sits in the test
 * sockmap with the program attached as BPF_SK_SKB_VERDICT: the program
 * parses a real first skb, exactly as the data path would. */
#define CHK_INPUT_MAX (64 * 1024)
#define ETH_HLEN 14

struct check_stats {
	unsigned int inputs, agree, differ, kernel_ok, stream_checked;
	unsigned int split; /* the first skb held fewer bytes than were sent */
};

struct kernel_rig {
	int prog_fd, out_fd, socks_fd, lfd;
	int home_ns, client_ns; /* -n: client sockets live in another netns */
	struct sockaddr_in addr;
};

static char verifier_log[1 << 20];
static int verbose;

static int libbpf_print(enum libbpf_print_level lvl, const char *fmt, va_list ap)
{
	if (lvl == LIBBPF_DEBUG && !verbose)
		return 0;
	return vfprintf(stderr, fmt, ap);
}

/* What BPF_PROG_TEST_RUN says about sk_skb on this kernel. */
static void probe_test_run(int prog_fd)
{
	uint8_t frame[ETH_HLEN + 64] = { 0 };
	LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = frame,
		    .data_size_in = sizeof(frame), .repeat = 1);
	int err = bpf_prog_test_run_opts(prog_fd, &opts);

	printf("test_run: BPF_PROG_TEST_RUN on sk_skb returns %d (%s): using real sockets\n",
	       err, err == -524 ? "ENOTSUPP" : err ? strerror(-err) : "ok");
}

/* Listen on @listen_ip (port 0: any). */
static int rig_setup(struct kernel_rig *r, const char *listen_ip)
{
	socklen_t alen = sizeof(r->addr);
	int one = 1;

	r->lfd = socket(AF_INET, SOCK_STREAM, 0);
	if (r->lfd < 0)
		return -errno;
	setsockopt(r->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	memset(&r->addr, 0, sizeof(r->addr));
	r->addr.sin_family = AF_INET;
	if (inet_pton(AF_INET, listen_ip, &r->addr.sin_addr) != 1)
		return -EINVAL;
	if (bind(r->lfd, (struct sockaddr *)&r->addr, sizeof(r->addr)) ||
	    listen(r->lfd, 16) ||
	    getsockname(r->lfd, (struct sockaddr *)&r->addr, &alen))
		return -errno;
	if (bpf_prog_attach(r->prog_fd, r->socks_fd, BPF_SK_SKB_VERDICT, 0))
		return -errno;
	return 0;
}

static int send_all(int fd, const uint8_t *p, size_t n)
{
	ssize_t w;

	while (n) {
		w = send(fd, p, n, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -errno;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Send @payload on a fresh connection and collect what the verdict
 * program saw in the first skb into @o. Returns 0 or -errno. */
static int kernel_parse(struct kernel_rig *r, const uint8_t *payload, size_t n,
			struct sng_cht_out *o)
{
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };
	__u32 key = 0;
	int c = -1, s = -1, err = 0, i;
	__u64 sfd;

	memset(o, 0, sizeof(*o));
	if (bpf_map_update_elem(r->out_fd, &key, o, BPF_ANY))
		return -errno;
	/* A socket stays in the netns it was created in: create the client in
	 * the far namespace (a veth path with real segmentation), then return. */
	if (r->client_ns >= 0 && setns(r->client_ns, CLONE_NEWNET))
		return -errno;
	c = socket(AF_INET, SOCK_STREAM, 0);
	if (r->client_ns >= 0 && setns(r->home_ns, CLONE_NEWNET)) {
		err = -errno;
		goto out;
	}
	if (c < 0)
		return -errno;
	/* RST on close: no TIME_WAIT pile-up over thousands of inputs. */
	setsockopt(c, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	if (connect(c, (struct sockaddr *)&r->addr, sizeof(r->addr))) {
		err = -errno;
		goto out;
	}
	s = accept(r->lfd, NULL, NULL);
	if (s < 0) {
		err = -errno;
		goto out;
	}
	sfd = (__u64)s;
	if (bpf_map_update_elem(r->socks_fd, &key, &sfd, BPF_ANY)) {
		err = -errno;
		goto out;
	}
	err = send_all(c, payload, n);
	if (err)
		goto out;
	for (i = 0; i < 2000; i++) {
		if (bpf_map_lookup_elem(r->out_fd, &key, o)) {
			err = -errno;
			goto out;
		}
		if (o->runs)
			break;
		usleep(1000);
	}
	if (!o->runs)
		err = -ETIMEDOUT;
	else if (o->skb_len == 0 || o->skb_len > n)
		err = -EPROTO;
out:
	if (s >= 0)
		close(s); /* also leaves the sockmap */
	if (c >= 0)
		close(c);
	return err;
}

/* One input: kernel vs host sng_ch_parse_record(), and vs
 * hello_parse_stream() where the whole hello sits in the first record. */
static int check_one(struct kernel_rig *r, const char *what,
		     const uint8_t *in, size_t n, struct check_stats *st)
{
	struct sng_ch_src src = { .buf = in, .len = 0 };
	struct sng_ch_info host;
	struct sng_cht_out k;
	struct hello_info h;
	int rc, src_rc, err, bad = 0;

	err = kernel_parse(r, in, n, &k);
	if (err) {
		fprintf(stderr, "%s: kernel run failed: %s\n", what, strerror(-err));
		return err;
	}
	/* Compare on exactly the bytes the program saw. */
	if (k.skb_len < n) {
		st->split++;
		n = k.skb_len;
	}
	src.len = (__u32)n;
	memset(&host, 0, sizeof(host));
	rc = sng_ch_parse_record(&src, &host);
	st->inputs++;
	if (k.rc != rc || memcmp(&k.info, &host, sizeof(host)))
		bad = 1;
	if (rc == SNG_OK) {
		st->kernel_ok += k.rc == SNG_OK;
		if (k.copy_rc != host.sni_len ||
		    memcmp(k.sni, in + host.sni_off, host.sni_len) ||
		    k.sni[host.sni_len] != 0)
			bad = 1;
	}
	/* The agent's wrapper must agree wherever the BPF entry is sound. */
	src_rc = hello_parse_stream(in, n, &h);
	if (rc != SNG_R_HELLO_TRUNCATED && src_rc != SNG_R_HELLO_TRUNCATED) {
		st->stream_checked++;
		if (src_rc != rc)
			bad = 1;
		if (rc == SNG_OK && (h.sni_len != host.sni_len ||
				     memcmp(h.sni, in + host.sni_off, h.sni_len)))
			bad = 1;
	}
	if (bad) {
		st->differ++;
		fprintf(stderr, "DIFFER %s (%zu B): kernel %s sni_len %u ext %u, host %s sni_len %u ext %u, stream %s\n",
			what, n, hello_reason_name(k.rc), k.info.sni_len, k.info.n_ext,
			hello_reason_name(rc), host.sni_len, host.n_ext,
			hello_reason_name(src_rc));
		return 0;
	}
	st->agree++;
	return 0;
}

static uint32_t rng_state = 0x5eed1234;

static uint32_t rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 17;
	rng_state ^= rng_state << 5;
	return rng_state;
}

/* Corpus file @path: itself, its prefixes (all of them up to 2 KiB, then
 * 256 evenly spread cuts) and @mutations mutants (1-4 random byte edits). */
static int check_file(struct kernel_rig *r, const char *path, int mutations,
		      struct check_stats *st)
{
	static uint8_t buf[CHK_INPUT_MAX], mut[CHK_INPUT_MAX];
	struct sng_cht_out k;
	const char *base;
	char what[512];
	size_t n, i, step;
	FILE *f;
	int m, err, j;

	f = fopen(path, "rb");
	if (!f) {
		fprintf(stderr, "%s: %s\n", path, strerror(errno));
		return -errno;
	}
	n = fread(buf, 1, sizeof(buf), f);
	fclose(f);
	if (n == 0)
		return 0;
	base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;

	err = check_one(r, path, buf, n, st);
	if (err)
		return err;
	err = kernel_parse(r, buf, n, &k);
	if (err)
		return err;
	printf("  %-32s %6zu B  first skb %6u B  kernel %-11s sni=%s\n", base, n,
	       k.skb_len, hello_reason_name(k.rc), k.rc == SNG_OK ? (char *)k.sni : "-");

	step = n <= 2048 ? 1 : n / 256;
	for (i = 1; i < n; i += step) {
		snprintf(what, sizeof(what), "%s[:%zu]", path, i);
		err = check_one(r, what, buf, i, st);
		if (err)
			return err;
	}
	for (m = 0; m < mutations; m++) {
		memcpy(mut, buf, n);
		for (j = 0; j < 1 + (int)(rng() % 4); j++) {
			i = rng() % n;
			switch (rng() % 3) {
			case 0: mut[i] ^= (uint8_t)(1u << (rng() % 8)); break;
			case 1: mut[i] = (uint8_t)rng(); break;
			default: mut[i] = (uint8_t)(mut[i] + 1); break;
			}
		}
		snprintf(what, sizeof(what), "%s#mut%d", path, m);
		err = check_one(r, what, mut, n, st);
		if (err)
			return err;
	}
	return 0;
}

static void usage(const char *me)
{
	fprintf(stderr, "usage: %s [-v] [-m MUTATIONS] [-a LISTEN_IPV4] [-n CLIENT_NETNS_PATH] CORPUS_DIR_OR_FILE...\n"
		"  default: loopback; with -a/-n the client connects from another netns\n", me);
}

int main(int argc, char **argv)
{
	struct clienthello_test_bpf *skel = NULL;
	struct check_stats st = { 0 };
	struct kernel_rig rig = { .lfd = -1, .home_ns = -1, .client_ns = -1 };
	const char *listen_ip = "127.0.0.1", *client_ns = NULL;
	struct bpf_prog_info info;
	__u32 info_len = sizeof(info);
	int err, i, mutations = 200, c;
	char *line;

	while ((c = getopt(argc, argv, "vm:a:n:")) != -1) {
		switch (c) {
		case 'v': verbose = 1; break;
		case 'm': mutations = atoi(optarg); break;
		case 'a': listen_ip = optarg; break;
		case 'n': client_ns = optarg; break;
		default: usage(argv[0]); return 2;
		}
	}
	if (optind >= argc) {
		usage(argv[0]);
		return 2;
	}
	libbpf_set_print(libbpf_print);

	skel = clienthello_test_bpf__open();
	if (!skel) {
		fprintf(stderr, "open skeleton: %s\n", strerror(errno));
		return 1;
	}
	/* The data path attaches its sk_skb program as BPF_SK_SKB_VERDICT;
	 * verify under the same expected type. log_level 4 = stats only: a
	 * full log of a bounded loop overflows (sockmap-facts 4.2). */
	bpf_program__set_expected_attach_type(skel->progs.sng_cht_parse, BPF_SK_SKB_VERDICT);
	bpf_program__set_log_level(skel->progs.sng_cht_parse, 4);
	bpf_program__set_log_buf(skel->progs.sng_cht_parse, verifier_log, sizeof(verifier_log));
	err = clienthello_test_bpf__load(skel);
	if (err) {
		fprintf(stderr, "load: %s\n%s\n", strerror(-err), verifier_log);
		goto cleanup;
	}
	rig.prog_fd = bpf_program__fd(skel->progs.sng_cht_parse);
	rig.out_fd = bpf_map__fd(skel->maps.sng_cht_out);
	rig.socks_fd = bpf_map__fd(skel->maps.sng_cht_socks);
	memset(&info, 0, sizeof(info));
	if (bpf_obj_get_info_by_fd(rig.prog_fd, &info, &info_len) == 0)
		printf("verifier: SNG_CH_MAX_EXT=%d verified_insns=%u xlated=%u B (%u insns) jited=%u B\n",
		       SNG_CH_MAX_EXT, info.verified_insns, info.xlated_prog_len,
		       info.xlated_prog_len / 8, info.jited_prog_len);
	for (line = strtok(verifier_log, "\n"); line; line = strtok(NULL, "\n"))
		printf("verifier: %s\n", line);

	probe_test_run(rig.prog_fd);
	if (client_ns) {
		rig.home_ns = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
		rig.client_ns = open(client_ns, O_RDONLY | O_CLOEXEC);
		if (rig.home_ns < 0 || rig.client_ns < 0) {
			err = -errno;
			fprintf(stderr, "netns %s: %s\n", client_ns, strerror(errno));
			goto cleanup;
		}
	}
	err = rig_setup(&rig, listen_ip);
	if (err) {
		fprintf(stderr, "socket rig: %s\n", strerror(-err));
		goto cleanup;
	}

	for (i = optind; i < argc && !err; i++) {
		struct stat sb;

		if (stat(argv[i], &sb) == 0 && S_ISDIR(sb.st_mode)) {
			struct dirent **ents;
			int n = scandir(argv[i], &ents, NULL, alphasort), j;

			if (n < 0) {
				err = -errno;
				break;
			}
			for (j = 0; j < n; j++) {
				char p[4096];

				if (!err && ents[j]->d_type == DT_REG) {
					snprintf(p, sizeof(p), "%s/%s", argv[i], ents[j]->d_name);
					err = check_file(&rig, p, mutations, &st);
				}
				free(ents[j]);
			}
			free(ents);
		} else {
			err = check_file(&rig, argv[i], mutations, &st);
		}
	}
	printf("inputs %u: agree %u, differ %u; kernel found SNI in %u; stream parser compared on %u final outcomes; %u inputs arrived in more than one skb\n",
	       st.inputs, st.agree, st.differ, st.kernel_ok, st.stream_checked, st.split);
	if (!err && (st.differ || st.inputs == 0))
		err = -EPROTO;
cleanup:
	if (rig.lfd >= 0)
		close(rig.lfd);
	if (rig.home_ns >= 0)
		close(rig.home_ns);
	if (rig.client_ns >= 0)
		close(rig.client_ns);
	clienthello_test_bpf__destroy(skel);
	return err ? 1 : 0;
}
