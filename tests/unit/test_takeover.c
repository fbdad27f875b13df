// SPDX-License-Identifier: GPL-2.0-only
/* Unit tests of agent/takeover.c's client side against a fake running agent
 * on a unix socket: the default path, no agent, and malformed answers. */
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "log.h"
#include "takeover.h"

/* The record header as agent/takeover.c writes it (magic "SNGK", version 2).
 * Mirrored on purpose: the test checks what the wire carries. */
struct fake_hdr {
	uint32_t magic;
	uint16_t version;
	uint16_t type;
};

enum { FAKE_BAD_MAGIC, FAKE_ABORT, FAKE_STATE_NO_FDS, FAKE_CLOSE };

struct fake {
	int lfd;
	int mode;
};

static void *fake_agent(void *arg)
{
	struct fake *f = arg;
	uint8_t buf[8192];
	int fd = accept(f->lfd, NULL, NULL);

	if (fd < 0)
		return NULL;
	if (recv(fd, buf, sizeof(buf), 0) > 0) {
		struct fake_hdr h = { 0x4b474e53u, 2, 0 };
		uint8_t out[sizeof(h) + 128] = { 0 };
		size_t n = sizeof(h);

		switch (f->mode) {
		case FAKE_BAD_MAGIC:
			h.magic = 0xdeadbeef;
			h.type = 2;
			n += 16;
			break;
		case FAKE_ABORT:
			h.type = 10; /* ABORT, why: 128 bytes */
			snprintf((char *)out + sizeof(h), 128, "a test refusal");
			n += 128;
			break;
		case FAKE_STATE_NO_FDS: {
			uint32_t st[4] = { 1, 2, 2, 0 }; /* says 2 fds, sends none */

			h.type = 2;
			memcpy(out + sizeof(h), st, sizeof(st));
			n += sizeof(st);
			break;
		}
		default:
			n = 0;
		}
		memcpy(out, &h, sizeof(h));
		if (n && send(fd, out, n, 0) < 0)
			perror("fake agent send");
	}
	close(fd);
	return NULL;
}

/* Run takeover_begin() against a fake agent in @mode; its return value. */
static int against(int mode)
{
	char path[108];
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct fake f = { .mode = mode };
	pthread_t th;
	int err;

	snprintf(path, sizeof(path), "/tmp/sng-test-takeover-%d.sock", (int)getpid());
	unlink(path);
	strcpy(sa.sun_path, path);
	f.lfd = socket(AF_UNIX, SOCK_SEQPACKET, 0);
	ck_assert_int_ge(f.lfd, 0);
	ck_assert_int_eq(bind(f.lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert_int_eq(listen(f.lfd, 1), 0);
	ck_assert_int_eq(pthread_create(&th, NULL, fake_agent, &f), 0);
	err = takeover_begin(path, "/tmp");
	pthread_join(th, NULL);
	close(f.lfd);
	unlink(path);
	return err;
}

START_TEST(default_path)
{
	char buf[108], longdir[200];

	ck_assert_int_eq(takeover_default_path("/sys/fs/bpf/snigate", buf, sizeof(buf)), 0);
	ck_assert_str_eq(buf, "/run/snigate/takeover_sys_fs_bpf_snigate.sock");
	memset(longdir, 'a', sizeof(longdir) - 1);
	longdir[0] = '/';
	longdir[sizeof(longdir) - 1] = '\0';
	ck_assert_int_eq(takeover_default_path(longdir, buf, sizeof(buf)), -ENAMETOOLONG);
}
END_TEST

START_TEST(no_agent)
{
	int err = takeover_begin("/tmp/sng-test-takeover-nobody.sock", "/tmp");

	ck_assert_msg(err == -ENOENT || err == -ECONNREFUSED, "got %d", err);
}
END_TEST

START_TEST(malformed_answers)
{
	if (geteuid() != 0)
		return; /* takeover_begin wants a root peer */
	ck_assert_int_eq(against(FAKE_BAD_MAGIC), -EPROTO);
	ck_assert_int_eq(against(FAKE_ABORT), -EPERM);
	ck_assert_int_eq(against(FAKE_STATE_NO_FDS), -EPROTO);
	ck_assert_int_eq(against(FAKE_CLOSE), -ECONNRESET);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("takeover");
	TCase *tc = tcase_create("client");
	SRunner *sr;
	int failed;

	log_verbosity = LOG_ERROR;
	tcase_add_test(tc, default_path);
	tcase_add_test(tc, no_agent);
	tcase_add_test(tc, malformed_answers);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
