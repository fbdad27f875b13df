// SPDX-License-Identifier: GPL-2.0-only
/* Golden-file tests of `snigate check` (cmd_check() run in-process): the
 * JSON, YAML and text outputs, --sni decisions and error messages, compared
 * byte for byte with tests/policy/golden/. UPDATE_GOLDEN=1 rewrites them. */
#include <check.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd.h"
#include "fixture.h"

#define MAXARGS 40

static const struct golden {
	const char *name;   /* tests/policy/golden/NAME */
	int exit_code;
	const char *argv[MAXARGS]; /* after "check" */
} goldens[] = {
	{ "seed.json", 0, { "-f", "tests/policy/seed-example.yaml" } },
	{ "seed.yaml", 0, { "-f", "tests/policy/seed-example.yaml", "-o", "yaml" } },
	{ "seed.txt", 0, { "-f", "tests/policy/seed-example.yaml", "-o", "text" } },
	{ "seed-backends.txt", 0, { "-f", "tests/policy/seed-example.yaml", "-f",
	  "tests/policy/seed-backends.yaml", "-o", "text", "--sni", "443:foo.example.com",
	  "--sni", "8443:bar.example.com", "--sni", "443:FOO.EXAMPLE.COM.", "--sni",
	  "443:bar.example.com", "--sni", "8443:foo.example.com", "--sni", "443:10.0.0.1",
	  "--sni", "9999:foo.example.com" } },
	{ "conf-02-sni.txt", 0, { "-f", "tests/policy/base", "-f",
	  "tests/policy/conformance/02-hostname-intersection.yaml", "--sni", "443:abc.example.com",
	  "--sni", "443:other.example.com", "--sni", "443:non.matching.com", "--sni",
	  "443:non.matching.org" } },
	{ "conf-13-mixed.json", 0, { "-f", "tests/policy/base", "-f",
	  "tests/policy/conformance/13-mixed-termination.yaml" } },
	{ "conf-06.txt", 0, { "-f", "tests/policy/base", "-f",
	  "tests/policy/conformance/06-no-matching-listener.yaml", "-o", "text" } },
	{ "route-precedence.txt", 0, { "-f", "tests/policy/cases/route-precedence.yaml", "-o",
	  "text", "--sni", "443:dup.example.com", "--sni", "443:tie.example.com", "--sni",
	  "443:bar.example.com", "--sni", "443:w.example.com", "--sni", "444:x.y.foo.com" } },
	{ "error-port.txt", 2, { "-f", "tests/policy/golden/bad-port.yaml" } },
	{ "error-json.txt", 2, { "-f", "tests/policy/golden/bad.json" } },
	{ "error-missing.txt", 2, { "-f", "tests/policy/golden/does-not-exist.yaml" } },
	{ "error-usage.txt", 2, { "-o", "xml", "-f", "x" } },
	{ "error-nofile.txt", 2, { "-o", "json" } },
	{ "error-sni.txt", 2, { "-f", "tests/policy/seed-example.yaml", "--sni", "foo.example.com" } },
};

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	long n;

	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	buf = malloc((size_t)n + 1);
	*len = fread(buf, 1, (size_t)n, f);
	buf[*len] = '\0';
	fclose(f);
	return buf;
}

/* Run cmd_check with stdout and stderr captured into one file (stderr
 * lines first would interleave: both are unbuffered to the same file). */
START_TEST(test_golden)
{
	const struct golden *g = &goldens[_i];
	char *argv[MAXARGS + 2], tmp[] = "/tmp/sng-golden-XXXXXX", path[300];
	int fd, out_save, err_save, rc, argc = 0;
	size_t got_len, want_len;
	char *got, *want;

	fixture_go_to_srcdir();
	argv[argc++] = (char *)"check";
	while (g->argv[argc - 1])
		argv[argc] = (char *)g->argv[argc - 1], argc++;
	argv[argc] = NULL;
	fd = mkstemp(tmp);
	ck_assert_int_ge(fd, 0);
	fflush(stdout);
	fflush(stderr);
	out_save = dup(1);
	err_save = dup(2);
	dup2(fd, 1);
	dup2(fd, 2);
	rc = cmd_check(argc, argv);
	fflush(stdout);
	fflush(stderr);
	dup2(out_save, 1);
	dup2(err_save, 2);
	close(out_save);
	close(err_save);
	close(fd);
	got = slurp(tmp, &got_len);
	unlink(tmp);
	ck_assert_ptr_nonnull(got);
	ck_assert_msg(rc == g->exit_code, "%s: exit %d, want %d\n%s", g->name, rc, g->exit_code, got);
	snprintf(path, sizeof(path), "tests/policy/golden/%s", g->name);
	if (getenv("UPDATE_GOLDEN")) {
		FILE *f = fopen(path, "wb");

		ck_assert_ptr_nonnull(f);
		fwrite(got, 1, got_len, f);
		fclose(f);
	}
	want = slurp(path, &want_len);
	ck_assert_msg(want, "%s missing (UPDATE_GOLDEN=1 creates it)", path);
	ck_assert_msg(got_len == want_len && !memcmp(got, want, got_len),
		      "%s differs from the golden file; got:\n%s", g->name, got);
	free(got);
	free(want);
}
END_TEST

static Suite *golden_suite(void)
{
	Suite *s = suite_create("policy_golden");
	TCase *tc = tcase_create("golden");

	tcase_set_timeout(tc, 30);
	tcase_add_loop_test(tc, test_golden, 0, sizeof(goldens) / sizeof(goldens[0]));
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(golden_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
