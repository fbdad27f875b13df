// SPDX-License-Identifier: GPL-2.0-only
/* Agent heap policy (agent/memtrim.c, B11): 256 KiB buffers are their own
 * mappings after memtrim_init(), no transparent huge pages, and a burst of
 * connection ends on a real worker loop trims the freed arena memory back
 * to the kernel (RSS). */
#include <check.h>
#include <malloc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "conn.h"
#include "memtrim.h"
#include "worker.h"

static long rss_kb(void)
{
	long pages = 0, rss = 0;
	FILE *f = fopen("/proc/self/statm", "r");

	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(fscanf(f, "%ld %ld", &pages, &rss), 2);
	fclose(f);
	return rss * (sysconf(_SC_PAGESIZE) / 1024);
}

#ifndef MADV_COLLAPSE
#define MADV_COLLAPSE 25 /* Linux 6.1 */
#endif

/* KiB of this process's anonymous memory in transparent huge pages */
static long anon_huge_kb(void)
{
	FILE *f = fopen("/proc/self/smaps_rollup", "r");
	char line[256];
	long kb = -1;

	ck_assert_ptr_nonnull(f);
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "AnonHugePages: %ld", &kb) == 1)
			break;
	fclose(f);
	return kb;
}

/* No transparent huge pages after memtrim_init(): MADV_COLLAPSE asks the
 * kernel for one synchronously, whatever the sysfs THP mode (it is what
 * khugepaged does in the background with THP "always", where one touched
 * 4 KiB page of an arena could become 2 MiB of RSS); without the prctl it
 * succeeds here (measured on 6.18 with "madvise" and "always"). Before 6.1
 * MADV_COLLAPSE is EINVAL either way: there only the prctl check tells. */
START_TEST(test_no_huge_pages)
{
	size_t len = 4 << 20, huge = 2 << 20;
	char *p, *aligned;

	memtrim_init();
	ck_assert_int_eq(prctl(PR_GET_THP_DISABLE, 0, 0, 0, 0), 1);
	p = malloc(len);
	ck_assert_ptr_nonnull(p);
	memset(p, 0x5a, len);
	aligned = (char *)(((uintptr_t)p + huge - 1) & ~(uintptr_t)(huge - 1));
	ck_assert_int_eq(madvise(aligned, huge, MADV_COLLAPSE), -1);
	ck_assert_int_eq(anon_huge_kb(), 0);
	free(p);
}
END_TEST

/* glibc's default would serve the second 256 KiB block from the heap (the
 * threshold rises to the size of the first mmapped block freed). */
START_TEST(test_big_buffers_are_mappings)
{
	struct mallinfo2 m0, m1;
	void *a, *b;
	int i;

	memtrim_init();
	for (i = 0; i < 3; i++) {
		m0 = mallinfo2();
		a = malloc(256 * 1024);
		b = malloc(256 * 1024);
		ck_assert_ptr_nonnull(a);
		ck_assert_ptr_nonnull(b);
		memset(a, 1, 256 * 1024);
		m1 = mallinfo2();
		ck_assert_uint_eq(m1.hblks, m0.hblks + 2);
		ck_assert_uint_ge(m1.hblkhd, m0.hblkhd + 2 * 256 * 1024);
		free(a);
		free(b);
		ck_assert_uint_eq(mallinfo2().hblks, m0.hblks);
	}
}
END_TEST

struct burst {
	struct worker *w;
	long rss_full, rss_freed;
	unsigned long trims_before;
};

#define BURST_N 3000
#define BURST_SIZE (33 * 1024) /* a Terminate connection's struct */

/* On the worker: what a burst of connections leaves behind. Every other
 * block is freed first and one small block stays between them, so glibc
 * cannot return the heap from its top: only a trim gives it back. */
static void burst_run(struct worker *w, void *arg)
{
	static void *big[BURST_N], *small[BURST_N];
	struct burst *b = arg;
	int i;

	__atomic_store_n(&conn_open_count, BURST_N, __ATOMIC_RELAXED);
	for (i = 0; i < BURST_N; i++) {
		big[i] = malloc(BURST_SIZE);
		ck_assert_ptr_nonnull(big[i]);
		memset(big[i], 0x5a, BURST_SIZE);
		small[i] = malloc(64);
	}
	b->rss_full = rss_kb();
	for (i = 0; i < BURST_N; i++) {
		free(big[i]);
		if (i % 2)
			free(small[i]);
		__atomic_sub_fetch(&conn_open_count, 1, __ATOMIC_RELAXED);
		memtrim_conn_freed(w);
	}
	b->rss_freed = rss_kb();
}

static void *loop(void *arg)
{
	worker_run(arg);
	return NULL;
}

START_TEST(test_trim_after_burst)
{
	struct burst b = { 0 };
	pthread_t th;
	long after;
	int i;

	b.w = worker_new(0);
	ck_assert_ptr_nonnull(b.w);
	b.trims_before = memtrim_count();
	ck_assert_int_eq(pthread_create(&th, NULL, loop, b.w), 0);
	ck_assert_int_eq(worker_post(b.w, burst_run, &b), 0);
	/* the check runs MEMTRIM_DELAY_MS after the first end */
	for (i = 0; i < 50 && memtrim_count() == b.trims_before; i++)
		usleep(100 * 1000);
	after = rss_kb();
	worker_stop(b.w);
	pthread_join(th, NULL);
	worker_free(b.w);
	ck_assert_uint_eq(memtrim_count(), b.trims_before + 1);
	/* ~97 MiB allocated, and resident until the trim */
	ck_assert_int_gt(b.rss_full, BURST_N * 32);
	ck_assert_int_gt(b.rss_freed, b.rss_full - 16 * 1024);
	ck_assert_msg(after < b.rss_full - 64 * 1024, "RSS %ld KiB full, %ld freed, %ld trimmed",
		      b.rss_full, b.rss_freed, after);
}
END_TEST

/* Steady churn (the open count does not fall) never trims. */
static void churn_run(struct worker *w, void *arg)
{
	int i;

	(void)arg;
	__atomic_store_n(&conn_open_count, 500, __ATOMIC_RELAXED);
	for (i = 0; i < 2000; i++) {
		free(malloc(BURST_SIZE));
		memtrim_conn_freed(w); /* one ends, one starts: 500 open */
	}
}

START_TEST(test_no_trim_at_steady_load)
{
	struct worker *w = worker_new(1);
	unsigned long before = memtrim_count();
	pthread_t th;

	ck_assert_ptr_nonnull(w);
	ck_assert_int_eq(pthread_create(&th, NULL, loop, w), 0);
	ck_assert_int_eq(worker_post(w, churn_run, NULL), 0);
	usleep((MEMTRIM_DELAY_MS + 500) * 1000);
	worker_stop(w);
	pthread_join(th, NULL);
	worker_free(w);
	ck_assert_uint_eq(memtrim_count(), before);
	__atomic_store_n(&conn_open_count, 0, __ATOMIC_RELAXED);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("memtrim");
	TCase *tc = tcase_create("memtrim");
	SRunner *sr;
	int failed;

	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_big_buffers_are_mappings);
	tcase_add_test(tc, test_no_huge_pages);
	tcase_add_test(tc, test_no_trim_at_steady_load);
	tcase_add_test(tc, test_trim_after_burst);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
