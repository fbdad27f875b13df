// SPDX-License-Identifier: GPL-2.0-only
/* Unit tests of agent/filewatch.c on a real inotify in a temporary directory:
 * rename-replace, in-place writes held open, deletion, ignored paths and
 * unrelated names, a watched directory replaced; debounce timing. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>

#include "filewatch.h"
#include "fixture.h"

static char dir[256];

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* Dispatch until a change is reported or @ms passed; returns the ms it took
 * or -1 when nothing was reported. */
static double wait_change(struct filewatch *fw, int ms)
{
	double t0 = now_ms();
	struct pollfd p = { .fd = filewatch_fd(fw), .events = POLLIN };

	while (now_ms() - t0 < ms) {
		if (poll(&p, 1, 20) == 1 && filewatch_dispatch(fw))
			return now_ms() - t0;
	}
	return -1;
}

static void put(const char *name, const char *text)
{
	fixture_write(dir, name, text);
}

static void path(char *out, size_t n, const char *name)
{
	snprintf(out, n, "%s/%s", dir, name);
}

static void setup(void)
{
	snprintf(dir, sizeof(dir), "/tmp/sng-fw-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void teardown(void)
{
	char cmd[300];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	ck_assert_int_eq(system(cmd), 0);
}

START_TEST(file_rename_replace_and_append)
{
	char a[512], tmp[512];
	const char *paths[1];
	struct filewatch *fw;
	double t;

	put("gw.yaml", "kind: Gateway\n");
	path(a, sizeof(a), "gw.yaml");
	paths[0] = a;
	fw = filewatch_new(paths, 1, NULL);
	ck_assert_ptr_nonnull(fw);
	ck_assert(wait_change(fw, 300) < 0); /* nothing yet */
	/* an editor's save: temporary file renamed over the original */
	put(".gw.yaml.swp", "x");
	put("gw.yaml.tmp", "kind: Gateway\n# v2\n");
	path(tmp, sizeof(tmp), "gw.yaml.tmp");
	ck_assert_int_eq(rename(tmp, a), 0);
	t = wait_change(fw, 2000);
	ck_assert_msg(t >= FILEWATCH_DEBOUNCE_MS - 20, "reported after %.0f ms", t);
	/* only once */
	ck_assert(wait_change(fw, 400) < 0);
	/* an in-place append */
	put("other.yaml", "unrelated\n"); /* not a -f path: ignored */
	ck_assert(wait_change(fw, 400) < 0);
	{
		FILE *f = fopen(a, "a");

		fputs("# v3\n", f);
		fclose(f);
	}
	ck_assert(wait_change(fw, 2000) >= 0);
	/* deletion, then re-creation */
	ck_assert_int_eq(unlink(a), 0);
	ck_assert(wait_change(fw, 2000) >= 0);
	put("gw.yaml", "kind: Gateway\n");
	ck_assert(wait_change(fw, 2000) >= 0);
	filewatch_free(fw);
}
END_TEST

START_TEST(writer_held_open_delays_the_report)
{
	char d[512];
	const char *paths[1];
	struct filewatch *fw;
	double t0, t;
	int fd;

	paths[0] = dir;
	fw = filewatch_new(paths, 1, NULL);
	ck_assert_ptr_nonnull(fw);
	/* `cat >f` style: truncate/create, write some, pause, write the rest */
	path(d, sizeof(d), "svc.yaml");
	fd = open(d, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, "kind: ", 6), 6);
	t0 = now_ms();
	/* 600 ms pause: well past the debounce, the file is still open */
	t = wait_change(fw, 600);
	ck_assert_msg(t < 0, "reported a file still open for writing after %.0f ms", t);
	ck_assert_int_eq(write(fd, "Service\n", 8), 8);
	close(fd);
	t = wait_change(fw, 2000);
	ck_assert_msg(t >= 0, "no report after the writer closed");
	ck_assert(now_ms() - t0 >= 600);
	filewatch_free(fw);
}
END_TEST

START_TEST(ignored_paths_and_names)
{
	char st[512];
	const char *paths[1], *ignore[2];
	struct filewatch *fw;

	path(st, sizeof(st), "status.json");
	paths[0] = dir;
	ignore[0] = st;
	ignore[1] = NULL;
	fw = filewatch_new(paths, 1, ignore);
	ck_assert_ptr_nonnull(fw);
	put("status.json", "{}"); /* the agent's own status file */
	put("notes.txt", "x");    /* not a manifest name */
	put(".hidden.yaml", "x"); /* editor temporaries */
	ck_assert(wait_change(fw, 500) < 0);
	put("route.json", "{}");
	ck_assert(wait_change(fw, 2000) >= 0);
	filewatch_free(fw);
}
END_TEST

START_TEST(directory_replaced)
{
	char d[512], d2[512], f[600];
	const char *paths[1];
	struct filewatch *fw;
	FILE *fp;

	path(d, sizeof(d), "m");
	path(d2, sizeof(d2), "m.new");
	ck_assert_int_eq(mkdir(d, 0755), 0);
	paths[0] = d;
	fw = filewatch_new(paths, 1, NULL);
	ck_assert_ptr_nonnull(fw);
	/* a new directory renamed over the old one (a -f directory swap) */
	ck_assert_int_eq(mkdir(d2, 0755), 0);
	snprintf(f, sizeof(f), "%s/a.yaml", d2);
	fp = fopen(f, "w");
	fputs("x\n", fp);
	fclose(fp);
	{
		char cmd[1600];

		snprintf(cmd, sizeof(cmd), "rm -rf '%s' && mv '%s' '%s'", d, d2, d);
		ck_assert_int_eq(system(cmd), 0);
	}
	ck_assert(wait_change(fw, 2000) >= 0);
	/* the new directory is watched now */
	snprintf(f, sizeof(f), "%s/b.yaml", d);
	fp = fopen(f, "w");
	fputs("y\n", fp);
	fclose(fp);
	ck_assert_msg(wait_change(fw, 2000) >= 0, "a file in the replacing directory not seen");
	filewatch_free(fw);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("filewatch");
	TCase *tc = tcase_create("inotify");
	SRunner *sr;
	int failed;

	tcase_set_timeout(tc, 30);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, file_rename_replace_and_append);
	tcase_add_test(tc, writer_held_open_delays_the_report);
	tcase_add_test(tc, ignored_paths_and_names);
	tcase_add_test(tc, directory_replaced);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
