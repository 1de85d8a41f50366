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
 *   rules      the nearest measured workload of a given calibration, on
 *              synthetic profiles: by thread class, shares and entries;
 *              rows of backends this build lacks; the built-in one;
 *   findings   each finding, on and just off its threshold, and the text;
 *   calib      calibration rows cmap_advise refuses, *out unchanged;
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

/* A calibration of four measured workloads (cmap.h, ADVICE). */
#define CAL                                                                    \
	"1:0.1:0.05:0.01:1000000=plain;1:1:0.5:0.5:10000=lockfree;"            \
	"c:0.1:0.05:0.01:1000000=lockfree;c:1:0.5:0.5:1000000=sharded;"        \
	"o:0:0:0:10000=rwlock"

static void
test_rules(void **state)
{
	cmap_profile_t p = synth("rwlock", 1, 100000, 90000, 5000, 1000000);
	cmap_advice_t a, b;

	(void)state;
	p.inserts = 1000;
	assert_int_equal(cmap_advise(&p, CAL, &a), CMAP_OK);
	assert_string_equal(a.backend, "plain");
	assert_true(a.distance < 1e-9);
	assert_true(a.findings & CMAP_FINDING_ONE_THREAD);
	assert_true(a.write_share > 0.0999 && a.write_share < 0.1001);
	assert_true(a.delete_share > 0.0499 && a.delete_share < 0.0501);
	assert_true(a.insert_share > 0.0099 && a.insert_share < 0.0101);
	assert_int_equal(a.thread_class, '1');
	assert_non_null(strstr(a.text, "use plain"));
	assert_non_null(strstr(a.text, "nearest measured workload: 1 thread"));

	/* Same thread class: the nearest row by shares and entries. */
	p.deletes = 45000; /* nearer churn by shares than read-mostly */
	p.reads = 10000;
	p.inserts = 45000;
	assert_string_equal(pick(&p, CAL), "lockfree");
	p.threads = 2;
	assert_string_equal(pick(&p, CAL), "sharded");
	assert_int_equal(cmap_advise(&p, CAL, &a), CMAP_OK);
	assert_int_equal(a.thread_class, 'c');
	/* Entries weigh about a third of a share per decade: 20K entries are
	 * nearer the 1M read-mostly row than the 10K churn row, until the
	 * shares move toward churn's. */
	p = synth("sharded", 1, 100000, 90000, 5000, 20000);
	p.inserts = 1000;
	assert_string_equal(pick(&p, CAL), "plain");
	p.deletes = 30000;
	p.reads = 40000;
	p.inserts = 30000;
	assert_string_equal(pick(&p, CAL), "lockfree");

	/* More threads than cores: its own class, however far. */
	p = synth("sharded", 8, 100000, 50000, 20000, 1000000);
	assert_int_equal(cmap_advise(&p, CAL, &a), CMAP_OK);
	assert_string_equal(a.backend, "rwlock");
	assert_int_equal(a.thread_class, 'o');
	assert_true(a.distance > 0.5 && a.distance < 100);
	/* No row of the class: the nearest of another, at distance >= 100. */
	assert_int_equal(cmap_advise(&p, "c:0:0:0:10=sharded", &a), CMAP_OK);
	assert_string_equal(a.backend, "sharded");
	assert_true(a.distance >= 100);
	/* Rows of backends this build lacks are skipped. */
	assert_string_equal(pick(&p,
	                        "o:0.5:0.2:0:1000000=nosuch;c:0:0:0:10="
	                        "plain"),
	    "plain");
	assert_int_equal(cmap_advise(&p, "o:0:0:0:1=nosuch", &a), CMAP_EINVAL);
	assert_non_null(strstr(cmap_last_error(), "no calibration row"));

	/* A profile of no calls: shares 0; still an advice. */
	p = synth("rwlock", 2, 0, 0, 0, 0);
	assert_int_equal(cmap_advise(&p, CAL, &a), CMAP_OK);
	assert_true(a.write_share == 0 && a.delete_share == 0);
	assert_true(a.load_or_store_miss == -1);
	assert_true(a.findings & CMAP_FINDING_FEW_CALLS);

	/* NULL and "" are the built-in calibration, and it names backends
	 * of this build. */
	p = synth("rwlock", 2, 100000, 90000, 5000, 1000000);
	assert_int_equal(cmap_advise(&p, NULL, &a), CMAP_OK);
	assert_int_equal(cmap_advise(&p, "", &b), CMAP_OK);
	assert_string_equal(a.text, b.text);
	assert_true(cmap_backend_available(a.backend));
}

static void
test_findings(void **state)
{
	cmap_profile_t p = synth("rwlock", 2, 100000, 90000, 5000, 1000000);
	cmap_advice_t a;

	(void)state;
	assert_int_equal(cmap_advise(&p, CAL, &a), CMAP_OK);
	/* lockfree lacks rwlock's update-once and exact len, nothing else. */
	assert_int_equal(a.findings, CMAP_FINDING_LOSES_CAPS);
	assert_true(a.lost_caps == (CMAP_CAP_UPDATE_ONCE | CMAP_CAP_LEN_EXACT));
	assert_non_null(strstr(a.text, "use lockfree"));
	assert_non_null(strstr(a.text, "exact len"));
	assert_non_null(strstr(a.text, "10.0% writes"));

	p.load_or_store = 1000;
	p.load_or_store_in = 650;
	assert_int_equal(cmap_advise(&p, CAL, &a), CMAP_OK);
	assert_false(a.findings & CMAP_FINDING_LOAD_OR_STORE_MISSES);
	p.load_or_store_in = 651;
	assert_int_equal(cmap_advise(&p, CAL, &a), CMAP_OK);
	assert_true(a.findings & CMAP_FINDING_LOAD_OR_STORE_MISSES);
	assert_true(
	    a.load_or_store_miss > 0.650 && a.load_or_store_miss < 0.652);
	assert_non_null(strstr(a.text, "alarm: 65% of load_or_store"));

	p.lock_contended = 999;
	assert_int_equal(cmap_advise(&p, CAL, &a), CMAP_OK);
	assert_false(a.findings & CMAP_FINDING_LOCK_WAITS);
	p.lock_contended = 1000;
	assert_int_equal(cmap_advise(&p, CAL, &a), CMAP_OK);
	assert_true(a.findings & CMAP_FINDING_LOCK_WAITS);

	p.resizes = 3;
	p.retries = 2;
	assert_int_equal(cmap_advise(&p, CAL, &a), CMAP_OK);
	assert_true(a.findings & CMAP_FINDING_RESIZES);
	assert_true(a.findings & CMAP_FINDING_RETRIES);
	assert_non_null(strstr(a.text, "3 resizes"));

	p = synth("sharded", 2, 9999, 9000, 0, 10);
	assert_int_equal(cmap_advise(&p, CAL, &a), CMAP_OK);
	assert_true(a.findings & CMAP_FINDING_FEW_CALLS);
	p.calls = 10000;
	assert_int_equal(cmap_advise(&p, CAL, &a), CMAP_OK);
	assert_false(a.findings & CMAP_FINDING_FEW_CALLS);

	/* A map on disk: the pick is the in-memory one, said so. */
	p.caps |= CMAP_CAP_PERSISTENT;
	assert_int_equal(cmap_advise(&p, CAL, &a), CMAP_OK);
	assert_true(a.findings & CMAP_FINDING_STORAGE);
	assert_false(a.lost_caps & CMAP_CAP_PERSISTENT);

	/* plain for one thread: no linearizability "lost". */
	p = synth("lockfree", 1, 100000, 90000, 5000, 1000);
	assert_int_equal(cmap_advise(&p, CAL, &a), CMAP_OK);
	assert_string_equal(a.backend, "plain");
	assert_false(a.findings & CMAP_FINDING_LOSES_CAPS);
	assert_true(strlen(a.text) < sizeof a.text);
}

static void
test_calib(void **state)
{
	static const char *bad[] = {"x", "c:0.1:0.05:0.01:1000000",
	    "c:0.1:0.05:0.01:1000000=", "c:0.1:0.05:0.01=lockfree",
	    "x:0.1:0.05:0.01:1000000=lockfree", "c:1.5:0:0:10=lockfree",
	    "c:-0.1:0:0:10=lockfree", "c:0:0:0:-1=lockfree",
	    "c:nan:0:0:10=lockfree", "c:0:0:0:10=lockfree;",
	    ";c:0:0:0:10=lockfree", "c:0:0:0:10=lockfree x",
	    " c:0:0:0:10=lockfree", "c:0:0:0:10=Lockfree",
	    "c:0:0:0:1e19=lockfree"};
	cmap_profile_t p = synth("rwlock", 2, 100000, 90000, 5000, 1000000);
	cmap_advice_t a, keep;
	char longrow[300];

	(void)state;
	memset(&a, 0x5e, sizeof a);
	keep = a;
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		assert_int_equal(cmap_advise(&p, bad[i], &a), CMAP_EINVAL);
		assert_non_null(strstr(cmap_last_error(), "calibration row"));
		assert_memory_equal(&a, &keep, sizeof a);
	}
	memset(longrow, '0', sizeof longrow - 1);
	longrow[sizeof longrow - 1] = '\0';
	memcpy(longrow, "c:0.", 4);
	assert_int_equal(cmap_advise(&p, longrow, &a), CMAP_EINVAL);
	assert_non_null(strstr(cmap_last_error(), "too long"));
	assert_int_equal(cmap_advise(&p, CAL, &a), CMAP_OK);
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
