/*
 * test_advise.c - the advisor (cmap.h, ADVICE; label "contract"):
 *   profile    cmap_profile on every backend the tests can run here, after
 *              a known sequence of calls: each count exact, threads 1;
 *   threads    three threads calling at once: threads 3, and the advice
 *              is not plain;
 *   since      cmap_profile_since: the counts between two profiles, and
 *              the profiles it refuses (unchanged);
 *   errors     NULL pointers, size 0, a map without metrics (with
 *              cmap_last_error saying so), a call from inside an update
 *              callback;
 *   rules      each rule of the tree on synthetic profiles, with the
 *              built-in calibration and with given ones;
 *   findings   each finding, on and just off its threshold, and the text;
 *   calib      calibrations cmap_advise refuses, *out unchanged;
 *   abi        the _sized calls with smaller and bigger structs.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "testutil.h"

static cmap_t *
metrics_map(const char *backend)
{
	cmap_config_t cfg;

	tu_config_init(&cfg, backend);
	cfg.flags |= CMAP_FLAG_METRICS;
	return tu_create_cfg(&cfg);
}

/* Backends whose map lives in this process (the others are run too, by
 * test_profile, where the tests can reach them). */
static bool
in_memory(const char *backend)
{
	return !tu_has(backend, CMAP_CAP_PERSISTENT | CMAP_CAP_REMOTE);
}

static bool
range_stop(uint64_t key, uint64_t value, void *ctx)
{
	(void)key;
	(void)value;
	++*(int *)ctx;
	return false;
}

/* 100 stores (inserts), 60 loads (40 hits, 20 misses), 30 load_or_store
 * (10 found, 20 inserted), 25 deletes, a batch of 8 loads, 2 ranges,
 * a compare_and_swap that mismatches. */
static void
known_calls(cmap_t *m)
{
	uint64_t v, keys[8], vals[8];
	cmap_status_t st[8];
	int visited = 0;

	for (uint64_t k = 1; k <= 100; k++)
		assert_int_equal(cmap_store(m, k, k), CMAP_INSERTED);
	for (uint64_t k = 61; k <= 120; k++)
		(void)cmap_load(m, k, &v);
	for (uint64_t k = 91; k <= 120; k++)
		(void)cmap_load_or_store(m, k, k, &v);
	for (uint64_t k = 1; k <= 25; k++)
		assert_int_equal(cmap_delete(m, k), CMAP_OK);
	for (int i = 0; i < 8; i++)
		keys[i] = 50 + (uint64_t)i;
	assert_int_equal(cmap_load_batch(m, 8, keys, vals, st), CMAP_OK);
	assert_int_equal(cmap_range(m, range_stop, &visited), CMAP_OK);
	assert_int_equal(cmap_range(m, range_stop, &visited), CMAP_OK);
	assert_int_equal(cmap_compare_and_swap(m, 30, 999, 1), CMAP_MISMATCH);
}

static void
test_profile(void **state)
{
	const char *b[TU_MAX_BACKENDS];
	size_t n = tu_backends(b);

	(void)state;
	for (size_t i = 0; i < n; i++) {
		cmap_t *m = metrics_map(b[i]);
		cmap_profile_t p;

		known_calls(m);
		assert_int_equal(cmap_profile(m, &p), CMAP_OK);
		assert_string_equal(p.backend, b[i]);
		assert_true(p.caps == tu_caps(b[i]));
		assert_int_equal(p.threads, 1);
		assert_true(p.cores >= 1);
		assert_int_equal(p.entries, 100 + 20 - 25);
		assert_int_equal(p.calls, 100 + 60 + 30 + 25 + 8 + 1);
		assert_int_equal(p.reads, 60 + 10 + 8);
		assert_int_equal(p.deletes, 25);
		assert_int_equal(p.inserts, 100 + 20);
		assert_int_equal(p.load_or_store, 30);
		assert_int_equal(p.load_or_store_in, 20);
		assert_int_equal(p.ranges, 2);
		assert_int_equal(p.mismatches, 1);
		assert_int_equal(p.retries, 0);
		assert_true(p.samples >= 1 && p.samples <= p.calls + 2);
		cmap_destroy(m);
	}
}

struct together {
	cmap_t *m;
	pthread_barrier_t bar;
};

static void
call_together(int i, void *arg)
{
	struct together *t = arg;
	uint64_t v;

	for (uint64_t k = 0; k < 1000; k++) {
		(void)cmap_store(t->m, (uint64_t)i * 1000 + k, k);
		(void)cmap_load(t->m, k, &v);
	}
	/* Every thread holds its record until all have called. */
	pthread_barrier_wait(&t->bar);
}

static void
test_threads(void **state)
{
	const char *b[TU_MAX_BACKENDS];
	size_t n = tu_thread_safe_backends(b);

	(void)state;
	for (size_t i = 0; i < n; i++) {
		struct together t;
		cmap_profile_t p;
		cmap_advice_t a;

		if (!in_memory(b[i]))
			continue;
		t.m = metrics_map(b[i]);
		assert_int_equal(pthread_barrier_init(&t.bar, NULL, 3), 0);
		tu_run_threads(3, call_together, &t);
		pthread_barrier_destroy(&t.bar);
		assert_int_equal(cmap_profile(t.m, &p), CMAP_OK);
		assert_int_equal(p.threads, 3);
		assert_int_equal(p.calls, 6000);
		assert_int_equal(p.reads, 3000);
		assert_int_equal(cmap_advise(&p, NULL, &a), CMAP_OK);
		assert_string_not_equal(a.backend, "plain");
		assert_false(a.findings & CMAP_FINDING_ONE_THREAD);
		cmap_destroy(t.m);
	}
}

static void
test_since(void **state)
{
	cmap_t *m = metrics_map("sharded"), *o = metrics_map("rwlock");
	cmap_profile_t then, now, keep, other;
	uint64_t v;

	(void)state;
	known_calls(m);
	assert_int_equal(cmap_profile(m, &then), CMAP_OK);
	for (uint64_t k = 0; k < 40; k++)
		(void)cmap_load(m, k, &v);
	for (uint64_t k = 200; k < 210; k++)
		(void)cmap_store(m, k, k);
	assert_int_equal(cmap_profile(m, &now), CMAP_OK);
	keep = now;
	/* Older minus newer: refused, nothing changed. */
	assert_int_equal(cmap_profile_since(&then, &now), CMAP_EINVAL);
	assert_non_null(strstr(cmap_last_error(), "not older"));
	/* Two backends: refused. */
	assert_int_equal(cmap_profile(o, &other), CMAP_OK);
	assert_int_equal(cmap_profile_since(&now, &other), CMAP_EINVAL);
	assert_memory_equal(&now, &keep, sizeof now);
	assert_int_equal(cmap_profile_since(NULL, &then), CMAP_EINVAL);
	assert_int_equal(cmap_profile_since(&now, NULL), CMAP_EINVAL);

	assert_int_equal(cmap_profile_since(&now, &then), CMAP_OK);
	assert_int_equal(now.calls, 50);
	assert_int_equal(now.reads, 40);
	assert_int_equal(now.inserts, 10);
	assert_int_equal(now.deletes, 0);
	assert_int_equal(now.ranges, 0);
	assert_int_equal(now.load_or_store, 0);
	assert_int_equal(now.entries, keep.entries);
	assert_int_equal(now.threads, 1);
	cmap_destroy(m);
	cmap_destroy(o);
}

struct inside {
	cmap_t *map;
	cmap_status_t got;
};

static cmap_update_action_t
profile_inside(uint64_t key, uint64_t *value, bool present, void *ctx)
{
	struct inside *in = ctx;
	cmap_profile_t p;

	(void)key;
	(void)present;
	in->got = cmap_profile(in->map, &p);
	*value = 1;
	return CMAP_UPDATE_STORE;
}

static void
test_errors(void **state)
{
	cmap_t *m = metrics_map("rwlock"), *plain_m;
	cmap_profile_t p;
	cmap_advice_t a;
	struct inside in = {m, CMAP_OK};
	uint64_t v;

	(void)state;
	assert_int_equal(cmap_profile(NULL, &p), CMAP_EINVAL);
	assert_int_equal(cmap_profile(m, NULL), CMAP_EINVAL);
	assert_int_equal(cmap_profile_sized(m, &p, 0), CMAP_EINVAL);
	plain_m = tu_create("plain", 0);
	assert_int_equal(cmap_profile(plain_m, &p), CMAP_EINVAL);
	assert_non_null(strstr(cmap_last_error(), "no metrics"));
	cmap_destroy(plain_m);
	assert_int_equal(
	    cmap_update(m, 7, profile_inside, &in, &v), CMAP_INSERTED);
	assert_int_equal(in.got, CMAP_ERECURSE);
	assert_int_equal(cmap_profile(m, &p), CMAP_OK);
	assert_int_equal(cmap_advise(NULL, NULL, &a), CMAP_EINVAL);
	assert_int_equal(cmap_advise(&p, NULL, NULL), CMAP_EINVAL);
	assert_int_equal(cmap_advise_sized(&p, NULL, &a, 0), CMAP_EINVAL);
	cmap_destroy(m);
}

/* A synthetic profile: `threads` threads, `calls` calls of which reads and
 * deletes, `entries` entries, on `backend`. */
static cmap_profile_t
synth(const char *backend, uint32_t threads, uint64_t calls, uint64_t reads,
    uint64_t deletes, uint64_t entries)
{
	cmap_profile_t p;

	memset(&p, 0, sizeof p);
	p.backend = backend;
	p.caps = tu_caps(backend);
	p.threads = threads;
	p.cores = 2;
	p.calls = calls;
	p.reads = reads;
	p.deletes = deletes;
	p.entries = entries;
	return p;
}

static const char *
pick(const cmap_profile_t *p, const char *calibration)
{
	cmap_advice_t a;

	assert_int_equal(cmap_advise(p, calibration, &a), CMAP_OK);
	return a.backend;
}

/* Every threshold named, so that the rules are tested whatever the
 * built-in calibration is; a name given again later overrides. */
#define BASE                                                                   \
	"solo_churn_deletes=0.3,solo_growth_inserts=0.9,"                      \
	"solo_growth_keys=131072,readmostly_writes=-1,rwlock_writes=-1,"       \
	"rwlock_keys=0,churn_deletes=0.4,churn_keys=131072"

static void
test_rules(void **state)
{
	cmap_profile_t one = synth("rwlock", 1, 100000, 90000, 5000, 1000000);
	cmap_profile_t rm = synth("rwlock", 4, 100000, 99500, 250, 1000000);
	cmap_profile_t churn = synth("rwlock", 2, 100000, 0, 50000, 1000000);
	cmap_profile_t small = synth("rwlock", 2, 100000, 0, 50000, 1000);
	cmap_profile_t none = synth("rwlock", 2, 0, 0, 0, 0);
	cmap_advice_t a, b;

	(void)state;
	assert_int_equal(cmap_advise(&one, BASE, &a), CMAP_OK);
	assert_string_equal(a.backend, "plain");
	assert_string_equal(a.rule, "one thread");
	assert_true(a.findings & CMAP_FINDING_ONE_THREAD);
	assert_true(a.write_share > 0.0999 && a.write_share < 0.1001);
	assert_true(a.delete_share > 0.0499 && a.delete_share < 0.0501);

	/* One thread: churn and the growth of a large map go to lockfree. */
	one.deletes = 30000;
	assert_int_equal(cmap_advise(&one, BASE, &a), CMAP_OK);
	assert_string_equal(a.backend, "lockfree");
	assert_string_equal(a.rule, "one-thread churn");
	assert_true(a.findings & CMAP_FINDING_ONE_THREAD);
	assert_string_equal(
	    pick(&one, BASE ",solo_churn_deletes=0.31"), "plain");
	assert_string_equal(pick(&one, BASE ",solo_churn_deletes=-1"), "plain");
	one = synth("rwlock", 1, 100000, 0, 0, 1000000);
	one.inserts = 90000;
	assert_int_equal(cmap_advise(&one, BASE, &a), CMAP_OK);
	assert_string_equal(a.rule, "one-thread growth");
	assert_string_equal(a.backend, "lockfree");
	assert_string_equal(
	    pick(&one, BASE ",solo_growth_inserts=0.91"), "plain");
	assert_string_equal(
	    pick(&one, BASE ",solo_growth_keys=1000001"), "plain");
	one.entries = 1000;
	assert_string_equal(pick(&one, BASE), "plain");
	assert_string_equal(
	    pick(&one, BASE ",solo_growth_keys=1000"), "lockfree");

	/* More threads: the read-mostly rule, then the small read-only one,
	 * then churn, then lockfree. */
	assert_string_equal(pick(&rm, BASE), "lockfree");
	assert_string_equal(
	    pick(&rm, BASE ",readmostly_writes=0.005"), "readmostly");
	assert_string_equal(
	    pick(&rm, BASE ",readmostly_writes=0.004"), "lockfree");
	assert_string_equal(
	    pick(&rm, BASE ",rwlock_writes=0.005,rwlock_keys=1000001"),
	    "rwlock");
	assert_int_equal(
	    cmap_advise(
	        &rm, BASE ",rwlock_writes=0.005,rwlock_keys=1000001", &a),
	    CMAP_OK);
	assert_string_equal(a.rule, "small read-only");
	assert_string_equal(
	    pick(&rm, BASE ",rwlock_writes=0.005,rwlock_keys=1000000"),
	    "lockfree");
	assert_string_equal(
	    pick(&rm, BASE ",rwlock_writes=0.004,rwlock_keys=1000001"),
	    "lockfree");
	assert_string_equal(pick(&rm,
	                        BASE ",readmostly_writes=0.005,rwlock_writes=0."
	                             "005,rwlock_keys=1000001"),
	    "readmostly");
	assert_string_equal(
	    pick(&churn, BASE ",readmostly_writes=1,churn_deletes=0"),
	    "readmostly");

	assert_int_equal(cmap_advise(&churn, BASE, &a), CMAP_OK);
	assert_string_equal(a.backend, "sharded");
	assert_string_equal(a.rule, "churn");
	assert_string_equal(pick(&small, BASE), "lockfree");
	assert_string_equal(pick(&small, BASE ",churn_keys=1000"), "sharded");
	assert_string_equal(pick(&small, BASE ",churn_keys=1001"), "lockfree");
	assert_string_equal(pick(&churn, BASE ",churn_deletes=-1"), "lockfree");
	assert_string_equal(
	    pick(&churn, BASE ",churn_deletes=0.51"), "lockfree");

	assert_int_equal(cmap_advise(&none, BASE, &a), CMAP_OK);
	assert_string_equal(a.backend, "lockfree");
	assert_true(a.write_share == 0 && a.delete_share == 0);
	assert_true(a.load_or_store_miss == -1);
	assert_true(a.findings & CMAP_FINDING_FEW_CALLS);

	/* NULL and "" are the built-in calibration. */
	assert_int_equal(cmap_advise(&churn, NULL, &a), CMAP_OK);
	assert_int_equal(cmap_advise(&churn, "", &b), CMAP_OK);
	assert_string_equal(a.text, b.text);
}

static void
test_findings(void **state)
{
	cmap_profile_t p = synth("rwlock", 2, 100000, 90000, 5000, 1000000);
	cmap_advice_t a;

	(void)state;
	assert_int_equal(cmap_advise(&p, BASE, &a), CMAP_OK);
	/* lockfree lacks rwlock's update-once and exact len, nothing else. */
	assert_int_equal(a.findings, CMAP_FINDING_LOSES_CAPS);
	assert_true(a.lost_caps == (CMAP_CAP_UPDATE_ONCE | CMAP_CAP_LEN_EXACT));
	assert_non_null(strstr(a.text, "use lockfree"));
	assert_non_null(strstr(a.text, "exact len"));
	assert_non_null(strstr(a.text, "10.0% writes"));

	p.load_or_store = 1000;
	p.load_or_store_in = 650;
	assert_int_equal(cmap_advise(&p, BASE, &a), CMAP_OK);
	assert_false(a.findings & CMAP_FINDING_LOAD_OR_STORE_MISSES);
	p.load_or_store_in = 651;
	assert_int_equal(cmap_advise(&p, BASE, &a), CMAP_OK);
	assert_true(a.findings & CMAP_FINDING_LOAD_OR_STORE_MISSES);
	assert_true(
	    a.load_or_store_miss > 0.650 && a.load_or_store_miss < 0.652);
	assert_non_null(strstr(a.text, "alarm: 65% of load_or_store"));

	p.lock_contended = 999;
	assert_int_equal(cmap_advise(&p, BASE, &a), CMAP_OK);
	assert_false(a.findings & CMAP_FINDING_LOCK_WAITS);
	p.lock_contended = 1000;
	assert_int_equal(cmap_advise(&p, BASE, &a), CMAP_OK);
	assert_true(a.findings & CMAP_FINDING_LOCK_WAITS);

	p.resizes = 3;
	p.retries = 2;
	assert_int_equal(cmap_advise(&p, BASE, &a), CMAP_OK);
	assert_true(a.findings & CMAP_FINDING_RESIZES);
	assert_true(a.findings & CMAP_FINDING_RETRIES);
	assert_non_null(strstr(a.text, "3 resizes"));

	p = synth("sharded", 2, 9999, 9000, 0, 10);
	assert_int_equal(cmap_advise(&p, BASE, &a), CMAP_OK);
	assert_true(a.findings & CMAP_FINDING_FEW_CALLS);
	p.calls = 10000;
	assert_int_equal(cmap_advise(&p, BASE, &a), CMAP_OK);
	assert_false(a.findings & CMAP_FINDING_FEW_CALLS);

	/* A map on disk: the pick is the in-memory one, said so. */
	p.caps |= CMAP_CAP_PERSISTENT;
	assert_int_equal(cmap_advise(&p, BASE, &a), CMAP_OK);
	assert_true(a.findings & CMAP_FINDING_STORAGE);
	assert_false(a.lost_caps & CMAP_CAP_PERSISTENT);

	/* plain for one thread: no linearizability "lost". */
	p = synth("lockfree", 1, 100000, 90000, 5000, 1000);
	assert_int_equal(cmap_advise(&p, BASE, &a), CMAP_OK);
	assert_string_equal(a.backend, "plain");
	assert_false(a.findings & CMAP_FINDING_LOSES_CAPS);
	assert_true(strlen(a.text) < sizeof a.text);
}

static void
test_calib(void **state)
{
	static const char *bad[] = {"churn", "churn_deletes",
	    "churn_deletes=", "churn_deletes=1.5", "churn_deletes=-0.5",
	    "churn_deletes=0.4x", "churn_keys=-1", "readmostly_writes=nan",
	    "speed=1", "churn_keys=1,", ",", "churn_keys=1e19",
	    " churn_deletes=0.5", "=1"};
	cmap_profile_t p = synth("rwlock", 2, 100000, 90000, 5000, 1000000);
	cmap_advice_t a, keep;

	(void)state;
	memset(&a, 0x5e, sizeof a);
	keep = a;
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		assert_int_equal(cmap_advise(&p, bad[i], &a), CMAP_EINVAL);
		assert_non_null(strstr(cmap_last_error(), "calibration"));
		assert_memory_equal(&a, &keep, sizeof a);
	}
	assert_int_equal(
	    cmap_advise(
	        &p, "churn_keys=5,readmostly_writes=-1,churn_deletes=1", &a),
	    CMAP_OK);
}

static void
test_abi(void **state)
{
	cmap_t *m = metrics_map("sharded");
	cmap_profile_t full;
	cmap_advice_t afull;
	union {
		cmap_profile_t p;
		cmap_advice_t a;
		unsigned char b[sizeof(cmap_advice_t) + 64];
	} u;
	size_t half = offsetof(cmap_profile_t, calls);

	(void)state;
	known_calls(m);
	assert_int_equal(cmap_profile(m, &full), CMAP_OK);
	memset(u.b, 0x5e, sizeof u.b);
	assert_int_equal(cmap_profile_sized(m, &u.p, half), CMAP_OK);
	assert_memory_equal(u.b, &full, half);
	assert_int_equal(u.b[half], 0x5e);
	memset(u.b, 0x5e, sizeof u.b);
	assert_int_equal(
	    cmap_profile_sized(m, &u.p, sizeof full + 64), CMAP_OK);
	assert_memory_equal(u.b, &full, sizeof full);
	for (size_t i = sizeof full; i < sizeof full + 64; i++)
		assert_int_equal(u.b[i], 0);

	assert_int_equal(cmap_advise(&full, NULL, &afull), CMAP_OK);
	memset(u.b, 0x5e, sizeof u.b);
	assert_int_equal(cmap_advise_sized(&full, NULL, &u.a,
	                     offsetof(cmap_advice_t, findings)),
	    CMAP_OK);
	assert_ptr_equal(u.a.backend, afull.backend);
	assert_int_equal(u.b[offsetof(cmap_advice_t, findings)], 0x5e);
	memset(u.b, 0x5e, sizeof u.b);
	assert_int_equal(
	    cmap_advise_sized(&full, NULL, &u.a, sizeof afull + 64), CMAP_OK);
	assert_string_equal(u.a.text, afull.text);
	for (size_t i = sizeof afull; i < sizeof afull + 64; i++)
		assert_int_equal(u.b[i], 0);
	cmap_destroy(m);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_profile),
	    cmocka_unit_test(test_threads),
	    cmocka_unit_test(test_since),
	    cmocka_unit_test(test_errors),
	    cmocka_unit_test(test_rules),
	    cmocka_unit_test(test_findings),
	    cmocka_unit_test(test_calib),
	    cmocka_unit_test(test_abi),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
