/* SPDX-License-Identifier: GPL-2.0-only */
/* Shared set-up of the unit tests: find the source tree from the binary's
 * path, and compile a manifest given as a string. */
#ifndef SNIGATE_TESTS_FIXTURE_H
#define SNIGATE_TESTS_FIXTURE_H

#include <check.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "policy.h"

/* Run from anywhere: chdir to the source tree (build/tests/unit/x -> root). */
static inline void fixture_go_to_srcdir(void)
{
	char exe[PATH_MAX];
	ssize_t n;

	if (!access("tests/policy/base", F_OK))
		return;
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n > 0) {
		exe[n] = '\0';
		if (chdir(dirname(exe)) == 0 && chdir("../../..") == 0 &&
		    !access("tests/policy/base", F_OK))
			return;
	}
	ck_abort_msg("cannot find tests/policy (run from the source tree)");
}

/* Compile the NUL-terminated manifest @yaml (file name "t.yaml"); fails the
 * test on a parse error or a failed compile. */
static inline struct policy_compiled *fixture_compile(const char *yaml)
{
	struct policy_input *in = policy_input_new();
	struct policy_error err;
	struct policy_compiled *pc;

	ck_assert_ptr_nonnull(in);
	ck_assert_msg(!policy_input_add_buffer(in, "t.yaml", yaml, strlen(yaml), &err),
		      "%s:%d: %s %s", err.file, err.line, err.path, err.msg);
	pc = policy_compile(in, NULL);
	policy_input_free(in);
	ck_assert_ptr_nonnull(pc);
	return pc;
}

/* Write @text to @dir/@name (created or truncated); fails the test if it
 * cannot be opened. */
static inline void fixture_write(const char *dir, const char *name, const char *text)
{
	char p[PATH_MAX];
	FILE *f;

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	f = fopen(p, "w");
	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	fclose(f);
}

#endif
