/*
 * test_stress.c - concurrency stress for the thread-safe backends (label
 * "stress"; the ThreadSanitizer build runs these).
 *
 * Every case has an invariant that a lost update, a torn value, a
 * duplicated or invented entry breaks:
 *   disjoint     threads on their own keys: exact final content
 *   swap_chain   threads swap shared keys: every value written is either
 *                returned once as a previous value or is the final value
 *   add          add from N threads: exact sums, and the results returned
 *                for a key are exactly 1..total
 *   los_winner   load_or_store: exactly one winner per key, all others see
 *                the winner's value
 *   cas_incr     load + compare_and_swap loops lose no increment
 *   update_incr  update-callback increments are exact (callback once per
 *                call where the backend promises it)
 *   range        range beside writers: stable keys exactly once, never a
 *                key twice, never a value that was not written for the key
 *   len          len beside writers stays within the documented bounds
 *   whole_map    clear/reserve/stats/range beside writers: a writer's own
 *                key reads as its last value or absent, nothing else
 *   reserve_grow a reserve far beyond a small map's size while writers
 *                fill it: no insert fails for want of room
 *   oversub      16 threads on 2 cores complete a fixed amount of work
 *   guard        the re-entrancy guard is per thread: another thread's
 *                calls during an update callback never get CMAP_ERECURSE
 * over every backend with CMAP_CAP_THREAD_SAFE, and each of those that
 * takes the option "shards" at 1, 2 and 1024 shards too.  What a case
 * allows a backend (an update callback run again, slack in len) comes
 * from its capabilities, never from its name.
 *
 * Worker threads never call cmocka: they count failures in an atomic that
 * the main thread asserts after joining.  Op counts scale with the
 * environment variable CMAP_STRESS_SCALE (default 1).
 */
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "testutil.h"

#define GOLD UINT64_C(0x9e3779b97f4a7c15)
#define SENT UINT64_C(0x5e5e5e5e5e5e5e5e)
#define NT 4 /* threads in most cases */

struct variant {
	const char *backend;
	uint32_t shards;      /* cfg.shards; 0 = default */
	uint32_t shard_count; /* the shards its maps have (1 if unsharded) */
	char name[48];
};

static struct variant g_vs[4 * TU_MAX_BACKENDS];
static size_t g_nv;
static const struct variant *g_cur;

static atomic_long g_fails;

static void
wfail(int line, const char *what)
{
	if (atomic_fetch_add(&g_fails, 1) < 10)
		fprintf(stderr, "  [%s] %s:%d: check failed: %s\n",
		    g_cur ? g_cur->name : "?", __FILE__, line, what);
}

#define WCHECK(cond)                                                           \
	do {                                                                   \
		if (!(cond))                                                   \
			wfail(__LINE__, #cond);                                \
	} while (0)

static cmap_t *
mk(size_t capacity)
{
	cmap_config_t cfg;

	tu_config_init(&cfg, g_cur->backend);
	cfg.shards = g_cur->shards;
	cfg.capacity = capacity;
	return tu_create_cfg(&cfg);
}

/* A map of no capacity hint; with allocator hooks counting in *a when
 * hooks (their blocks never come zeroed, unlike the default allocator's
 * large ones), else a stays at zero. */
static cmap_t *
mk_counted(struct tu_alloc *a, bool hooks)
{
	cmap_config_t cfg;

	tu_alloc_init(a);
	tu_config_init(&cfg, g_cur->backend);
	cfg.shards = g_cur->shards;
	if (hooks)
		tu_alloc_install(a, &cfg);
	return tu_create_cfg(&cfg);
}

/* Op counts: CMAP_STRESS_SCALE, and a twentieth for a disk backend,
 * which commits each write (tens of microseconds, one at a time; much
 * more under ThreadSanitizer), and for a remote one, where each operation
 * is a network round trip (the interleavings are the server's; the
 * threads are what is tested). */
static bool
slow_backend(void)
{
	return tu_has(g_cur->backend, CMAP_CAP_PERSISTENT) ||
	    tu_has(g_cur->backend, CMAP_CAP_REMOTE);
}

static long
scaled(long n)
{
	long s = tu_scaled(n);

	return slow_backend() && s >= 20 ? s / 20 : s;
}

static uint32_t
shard_count(void)
{
	return g_cur->shard_count;
}

/* The option "shards" of `backend` in *opt; false when it has none. */
static bool
shards_option(const char *backend, cmap_option_info_t *opt)
{
	cmap_backend_info_t info;

	if (cmap_backend_info(backend, &info) != CMAP_OK)
		return false;
	for (size_t i = 0; i < info.n_options; i++)
		if (cmap_backend_option(backend, i, opt) == CMAP_OK &&
		    strcmp(opt->name, "shards") == 0)
			return true;
	return false;
}

static void
begin(void)
{
	atomic_store(&g_fails, 0);
}

static void
end(void)
{
	assert_int_equal(atomic_load(&g_fails), 0);
}

/* ===================================================================
 * disjoint: each thread owns keys [t*K, (t+1)*K) mixed with the others'
 * in the same table.
 * ================================================================= */
struct disjoint {
	cmap_t *m;
	long k; /* keys per thread */
	long rounds;
};

static uint64_t
dkey(int t, long j)
{
	return ((uint64_t)t << 40 | (uint64_t)j) * GOLD;
}

static void
disjoint_worker(int t, void *arg)
{
	struct disjoint *d = arg;
	uint64_t v;

	for (long r = 0; r < d->rounds; r++) {
		uint64_t base = (uint64_t)r << 32;
		/* the keys are absent at the start of every round */
		for (long j = 0; j < d->k; j++)
			WCHECK(cmap_store(d->m, dkey(t, j),
			           base + (uint64_t)j) == CMAP_INSERTED);
		for (long j = 0; j < d->k; j++) {
			uint64_t out = SENT;
			WCHECK(cmap_add(d->m, dkey(t, j), 1, &out) == CMAP_OK);
			WCHECK(out == base + (uint64_t)j + 1);
		}
		for (long j = 0; j < d->k; j++)
			WCHECK(cmap_compare_and_swap(d->m, dkey(t, j),
			           base + (uint64_t)j + 1,
			           base + (uint64_t)j + 2) == CMAP_OK);
		for (long j = 0; j < d->k; j++) {
			uint64_t out = SENT;
			if (j % 2) {
				WCHECK(cmap_load_and_delete(
				           d->m, dkey(t, j), &out) == CMAP_OK);
				WCHECK(out == base + (uint64_t)j + 2);
			} else {
				WCHECK(cmap_swap(d->m, dkey(t, j), ~(uint64_t)j,
				           &out) == CMAP_OK);
				WCHECK(out == base + (uint64_t)j + 2);
			}
		}
		for (long j = 0; j < d->k; j++) {
			v = SENT;
			cmap_status_t s = cmap_load(d->m, dkey(t, j), &v);
			if (j % 2) {
				WCHECK(s == CMAP_NOT_FOUND && v == SENT);
			} else {
				WCHECK(s == CMAP_OK && v == ~(uint64_t)j);
			}
		}
		/* the last round leaves the even keys for the main thread */
		if (r + 1 < d->rounds)
			for (long j = 0; j < d->k; j += 2)
				WCHECK(cmap_compare_and_delete(d->m, dkey(t, j),
				           ~(uint64_t)j) == CMAP_OK);
	}
}

static void
case_disjoint(void)
{
	struct disjoint d = {mk(0), scaled(10000), 3};

	begin();
	tu_run_threads(NT, disjoint_worker, &d);
	end();
	assert_int_equal(
	    cmap_len(d.m), (size_t)NT * (size_t)(d.k / 2 + d.k % 2));
	for (int t = 0; t < NT; t++)
		for (long j = 0; j < d.k; j++) {
			uint64_t v = SENT;
			cmap_status_t s = cmap_load(d.m, dkey(t, j), &v);
			if (j % 2)
				assert_int_equal(s, CMAP_NOT_FOUND);
			else {
				assert_int_equal(s, CMAP_OK);
				assert_true(v == ~(uint64_t)j);
			}
		}
	cmap_destroy(d.m);
}

/* ===================================================================
 * swap_chain: every write is a swap, so every value written is observed
 * exactly once: as some later swap's previous value, or as the final one.
 * ================================================================= */
#define SC_KEYS 32

struct swap_chain {
	cmap_t *m;
	long ops;
	uint64_t *prev[NT]; /* previous values returned, per thread */
	long nprev[NT];
	long inserts[NT];
};

static uint64_t
sc_value(int t, uint64_t k, long seq)
{
	return (uint64_t)(t + 1) << 56 | k << 32 | (uint64_t)seq;
}

static void
swap_chain_worker(int t, void *arg)
{
	struct swap_chain *c = arg;
	tu_rng_t r = {(uint64_t)t + 1};

	for (long i = 0; i < c->ops; i++) {
		uint64_t k = tu_rng_below(&r, SC_KEYS);
		uint64_t prev = SENT;
		cmap_status_t s = cmap_swap(c->m, k, sc_value(t, k, i), &prev);

		if (s == CMAP_OK) {
			/* the previous value was written for this key */
			WCHECK(((prev >> 32) & 0xffffff) == k);
			WCHECK((prev >> 56) >= 1 && (prev >> 56) <= NT);
			c->prev[t][c->nprev[t]++] = prev;
		} else {
			WCHECK(s == CMAP_INSERTED);
			WCHECK(prev == SENT);
			c->inserts[t]++;
		}
		if (i % 16 == 0) {
			uint64_t v = SENT;
			uint64_t k2 = tu_rng_below(&r, SC_KEYS);
			if (cmap_load(c->m, k2, &v) == CMAP_OK)
				WCHECK(((v >> 32) & 0xffffff) == k2);
		}
	}
}

static void
case_swap_chain(void)
{
	struct swap_chain c;
	struct tu_model written; /* value -> times observed */
	long total_inserts = 0;

	memset(&c, 0, sizeof c);
	c.m = mk(0);
	c.ops = scaled(50000);
	for (int t = 0; t < NT; t++) {
		c.prev[t] = calloc((size_t)c.ops, sizeof(uint64_t));
		assert_non_null(c.prev[t]);
	}
	begin();
	tu_run_threads(NT, swap_chain_worker, &c);
	end();

	/* Rebuild every written value from the deterministic streams. */
	tu_model_init(&written);
	for (int t = 0; t < NT; t++) {
		tu_rng_t r = {(uint64_t)t + 1};
		for (long i = 0; i < c.ops; i++) {
			uint64_t k = tu_rng_below(&r, SC_KEYS);
			tu_model_put(&written, sc_value(t, k, i), 0);
			if (i % 16 == 0)
				(void)tu_rng_below(&r, SC_KEYS);
		}
		total_inserts += c.inserts[t];
	}
	assert_int_equal(written.len, (size_t)NT * (size_t)c.ops);
	for (int t = 0; t < NT; t++)
		for (long i = 0; i < c.nprev[t]; i++) {
			uint64_t seen = 99;
			assert_true(
			    tu_model_get(&written, c.prev[t][i], &seen));
			assert_int_equal(seen, 0); /* never returned twice */
			tu_model_put(&written, c.prev[t][i], 1);
		}
	for (uint64_t k = 0; k < SC_KEYS; k++) {
		uint64_t v = SENT, seen = 99;
		assert_int_equal(cmap_load(c.m, k, &v), CMAP_OK);
		assert_true(tu_model_get(&written, v, &seen));
		assert_int_equal(seen, 0);
		tu_model_put(&written, v, 1);
	}
	/* one insert per key, and every value accounted for */
	assert_int_equal(total_inserts, SC_KEYS);
	for (size_t i = 0; i < written.len; i++)
		assert_int_equal(written.vals[i], 1);
	tu_model_fini(&written);
	for (int t = 0; t < NT; t++)
		free(c.prev[t]);
	cmap_destroy(c.m);
}

/* ===================================================================
 * add: exact sums; the values returned for one key are a permutation of
 * 1..total.
 * ================================================================= */
#define ADD_KEYS 8

struct addc {
	cmap_t *m;
	long ops;
	uint64_t *res[NT]; /* result of each add, per thread */
	atomic_long inserted;
};

static void
add_worker(int t, void *arg)
{
	struct addc *a = arg;

	for (long i = 0; i < a->ops; i++) {
		uint64_t k = (uint64_t)(i + t) % ADD_KEYS;
		uint64_t out = SENT;
		cmap_status_t s = cmap_add(a->m, k, 1, &out);

		WCHECK(s == CMAP_OK || s == CMAP_INSERTED);
		if (s == CMAP_INSERTED) {
			WCHECK(out == 1);
			atomic_fetch_add(&a->inserted, 1);
		}
		a->res[t][i] = out;
	}
}

static void
case_add(void)
{
	struct addc a;
	uint64_t total[ADD_KEYS] = {0};

	memset(&a, 0, sizeof a);
	a.m = mk(0);
	a.ops = scaled(100000);
	for (int t = 0; t < NT; t++) {
		a.res[t] = calloc((size_t)a.ops, sizeof(uint64_t));
		assert_non_null(a.res[t]);
	}
	begin();
	tu_run_threads(NT, add_worker, &a);
	end();
	for (int t = 0; t < NT; t++)
		for (long i = 0; i < a.ops; i++)
			total[(uint64_t)(i + t) % ADD_KEYS]++;
	assert_int_equal(atomic_load(&a.inserted), ADD_KEYS);
	for (uint64_t k = 0; k < ADD_KEYS; k++) {
		uint64_t v = SENT;
		assert_int_equal(cmap_load(a.m, k, &v), CMAP_OK);
		assert_true(v == total[k]);
		unsigned char *seen = calloc(total[k] + 1, 1);
		assert_non_null(seen);
		for (int t = 0; t < NT; t++)
			for (long i = 0; i < a.ops; i++) {
				if ((uint64_t)(i + t) % ADD_KEYS != k)
					continue;
				uint64_t r = a.res[t][i];
				assert_true(r >= 1 && r <= total[k]);
				assert_int_equal(seen[r], 0);
				seen[r] = 1;
			}
		free(seen);
	}
	for (int t = 0; t < NT; t++)
		free(a.res[t]);
	cmap_destroy(a.m);
}

/* ===================================================================
 * load_or_store: exactly one winner per key.
 * ================================================================= */
struct los {
	cmap_t *m;
	long keys;
	atomic_int *wins; /* per key */
	uint64_t *actual; /* [t * keys + k] */
};

static void
los_worker(int t, void *arg)
{
	struct los *l = arg;

	for (long i = 0; i < l->keys; i++) {
		/* each thread starts at its own place in the key space */
		long k = (i + t * (l->keys / NT)) % l->keys;
		uint64_t out = SENT;
		uint64_t mine = (uint64_t)k << 8 | (uint64_t)t;
		cmap_status_t s =
		    cmap_load_or_store(l->m, (uint64_t)k * GOLD, mine, &out);

		if (s == CMAP_INSERTED) {
			WCHECK(out == mine);
			atomic_fetch_add(&l->wins[k], 1);
		} else {
			WCHECK(s == CMAP_OK);
			WCHECK(out >> 8 == (uint64_t)k);
		}
		l->actual[(size_t)t * (size_t)l->keys + (size_t)k] = out;
	}
}

static void
case_los_winner(void)
{
	struct los l;

	l.m = mk(0);
	l.keys = scaled(20000);
	l.wins = calloc((size_t)l.keys, sizeof *l.wins);
	l.actual = calloc((size_t)l.keys * NT, sizeof *l.actual);
	assert_non_null(l.wins);
	assert_non_null(l.actual);
	for (int round = 0; round < 3; round++) {
		for (long k = 0; k < l.keys; k++)
			atomic_store(&l.wins[k], 0);
		begin();
		tu_run_threads(NT, los_worker, &l);
		end();
		assert_int_equal(cmap_len(l.m), l.keys);
		for (long k = 0; k < l.keys; k++) {
			uint64_t v = SENT;
			assert_int_equal(atomic_load(&l.wins[k]), 1);
			assert_int_equal(
			    cmap_load(l.m, (uint64_t)k * GOLD, &v), CMAP_OK);
			/* everyone saw the winner's value */
			for (int t = 0; t < NT; t++)
				assert_true(
				    l.actual[(size_t)t * (size_t)l.keys +
				        (size_t)k] == v);
		}
		assert_int_equal(cmap_clear(l.m), CMAP_OK);
	}
	free(l.wins);
	free(l.actual);
	cmap_destroy(l.m);
}

/* ===================================================================
 * cas_incr and update_incr
 * ================================================================= */
#define INC_KEYS 4

struct incr {
	cmap_t *m;
	long ops;
	atomic_long cb_calls;
	atomic_long retries;
	atomic_long inserted; /* updates that returned CMAP_INSERTED */
};

static void
cas_worker(int t, void *arg)
{
	struct incr *c = arg;

	for (long i = 0; i < c->ops; i++) {
		uint64_t k = (uint64_t)(i + t) % INC_KEYS;
		for (;;) {
			uint64_t v = SENT;
			WCHECK(cmap_load(c->m, k, &v) == CMAP_OK);
			cmap_status_t s =
			    cmap_compare_and_swap(c->m, k, v, v + 1);
			if (s == CMAP_OK)
				break;
			WCHECK(s == CMAP_MISMATCH);
			if (s != CMAP_MISMATCH)
				return;
			atomic_fetch_add(&c->retries, 1);
		}
	}
}

static cmap_update_action_t
incr_cb(uint64_t key, uint64_t *value, bool present, void *ctx)
{
	struct incr *c = ctx;

	(void)key;
	atomic_fetch_add(&c->cb_calls, 1);
	*value = present ? *value + 1 : 1;
	return CMAP_UPDATE_STORE;
}

static void
update_worker(int t, void *arg)
{
	struct incr *c = arg;

	for (long i = 0; i < c->ops; i++) {
		uint64_t k = (uint64_t)(i + t) % INC_KEYS + 100;
		uint64_t out = 0;
		cmap_status_t s = cmap_update(c->m, k, incr_cb, c, &out);
		WCHECK(s == CMAP_OK || s == CMAP_INSERTED);
		if (s == CMAP_INSERTED) {
			/* the first increment of the key */
			WCHECK(out == 1);
			atomic_fetch_add(&c->inserted, 1);
		} else {
			WCHECK(out >= 2);
		}
	}
}

/* increments key k gets: thread t hits (i + t) % INC_KEYS */
static uint64_t
incr_expected(long ops, uint64_t k)
{
	uint64_t n = 0;

	for (int t = 0; t < NT; t++)
		for (long i = 0; i < ops; i++)
			n += (uint64_t)(i + t) % INC_KEYS == k;
	return n;
}

static void
case_cas_incr(void)
{
	struct incr c = {.m = mk(0), .ops = scaled(50000)};
	uint64_t sum = 0;

	for (uint64_t k = 0; k < INC_KEYS; k++)
		assert_int_equal(cmap_store(c.m, k, 0), CMAP_INSERTED);
	begin();
	tu_run_threads(NT, cas_worker, &c);
	end();
	for (uint64_t k = 0; k < INC_KEYS; k++) {
		uint64_t v = SENT;
		assert_int_equal(cmap_load(c.m, k, &v), CMAP_OK);
		assert_true(v == incr_expected(c.ops, k));
		sum += v;
	}
	assert_true(sum == (uint64_t)(NT * c.ops));
	cmap_destroy(c.m);
}

static void
case_update_incr(void)
{
	struct incr c = {.m = mk(0), .ops = scaled(50000)};

	begin();
	tu_run_threads(NT, update_worker, &c);
	end();
	for (uint64_t k = 0; k < INC_KEYS; k++) {
		uint64_t v = SENT;
		assert_int_equal(cmap_load(c.m, k + 100, &v), CMAP_OK);
		assert_true(v == incr_expected(c.ops, k));
	}
	/* one insert per key */
	assert_int_equal(atomic_load(&c.inserted), INC_KEYS);
	if (tu_has(g_cur->backend, CMAP_CAP_UPDATE_ONCE))
		assert_int_equal(atomic_load(&c.cb_calls), NT * c.ops);
	else
		assert_true(atomic_load(&c.cb_calls) >= NT * c.ops);
	assert_int_equal(cmap_len(c.m), INC_KEYS);
	cmap_destroy(c.m);
}

/* ===================================================================
 * range beside writers
 * ================================================================= */
#define RG_STABLE 2000
#define RG_CHURN_BASE (UINT64_C(1) << 40)
#define RG_CHURN_PER_THREAD 4000

static uint64_t
rg_stable_value(uint64_t k)
{
	return k * 7 + 3;
}

/* a churn value names its key: key in the high bits, a version below */
static uint64_t
rg_churn_value(uint64_t k, uint64_t ver)
{
	return (k - RG_CHURN_BASE) << 24 | (ver & 0xffffff);
}

struct rg {
	cmap_t *m;
	long ranges;
	atomic_int done;
	int writers;
	atomic_long churn_ops;
};

struct rg_visit {
	unsigned char *stable;
	unsigned char *churn;
	size_t nchurn;
	long visits;
	bool write_in_cb;
	cmap_t *m;
	tu_rng_t r;
};

static bool
rg_cb(uint64_t key, uint64_t value, void *ctx)
{
	struct rg_visit *v = ctx;

	v->visits++;
	if (key < RG_STABLE) {
		WCHECK(v->stable[key] == 0);
		v->stable[key]++;
		WCHECK(value == rg_stable_value(key));
	} else if (key >= RG_CHURN_BASE && key - RG_CHURN_BASE < v->nchurn) {
		WCHECK(v->churn[key - RG_CHURN_BASE] == 0);
		v->churn[key - RG_CHURN_BASE]++;
		WCHECK(value >> 24 == key - RG_CHURN_BASE);
	} else {
		WCHECK(!"invented key");
	}
	if (v->write_in_cb) {
		/* the callback writes too (no lock is held) */
		uint64_t k = RG_CHURN_BASE + tu_rng_below(&v->r, v->nchurn);
		if (tu_rng_below(&v->r, 2)) {
			/* present or not: a writer may have it */
			cmap_status_t s =
			    cmap_store(v->m, k, rg_churn_value(k, 7));
			WCHECK(s == CMAP_OK || s == CMAP_INSERTED);
		} else
			(void)cmap_delete(v->m, k);
	}
	return true;
}

static cmap_update_action_t
rg_bump_cb(uint64_t key, uint64_t *value, bool present, void *ctx)
{
	(void)key;
	(void)ctx;
	if (!present)
		return CMAP_UPDATE_KEEP;
	*value = (*value & ~UINT64_C(0xffffff)) | ((*value + 1) & 0xffffff);
	return CMAP_UPDATE_STORE;
}

static void
rg_worker(int t, void *arg)
{
	struct rg *g = arg;

	if (t == 0) {
		/* the ranger */
		struct rg_visit v;
		memset(&v, 0, sizeof v);
		v.nchurn = (size_t)g->writers * RG_CHURN_PER_THREAD;
		v.stable = malloc(RG_STABLE);
		v.churn = malloc(v.nchurn);
		v.m = g->m;
		v.r.s = 77;
		WCHECK(v.stable != NULL && v.churn != NULL);
		for (long i = 0; i < g->ranges && v.stable && v.churn; i++) {
			memset(v.stable, 0, RG_STABLE);
			memset(v.churn, 0, v.nchurn);
			v.write_in_cb = i % 2 == 1;
			WCHECK(cmap_range(g->m, rg_cb, &v) == CMAP_OK);
			for (size_t k = 0; k < RG_STABLE; k++)
				WCHECK(v.stable[k] == 1);
		}
		free(v.stable);
		free(v.churn);
		atomic_store(&g->done, 1);
		return;
	}
	/* writers: fill a block (the table grows), churn it, empty it (the
	 * table shrinks), until the ranger is done */
	tu_rng_t r = {(uint64_t)t * 31};
	uint64_t base = RG_CHURN_BASE + (uint64_t)(t - 1) * RG_CHURN_PER_THREAD;
	uint64_t ver = 0;
	long ops = 0;
	do {
		ver++;
		/* absent unless the ranger's callback stored it since */
		for (uint64_t j = 0; j < RG_CHURN_PER_THREAD; j++) {
			cmap_status_t s = cmap_store(
			    g->m, base + j, rg_churn_value(base + j, ver));
			WCHECK(s == CMAP_OK || s == CMAP_INSERTED);
		}
		for (int i = 0; i < RG_CHURN_PER_THREAD; i++) {
			uint64_t k =
			    base + tu_rng_below(&r, RG_CHURN_PER_THREAD);
			uint64_t out = 0;
			switch (tu_rng_below(&r, 4)) {
			case 0:
				(void)cmap_delete(g->m, k);
				break;
			case 1:
				/* +1 if present, never inserts */
				(void)cmap_update(
				    g->m, k, rg_bump_cb, NULL, &out);
				break;
			case 2:
				WCHECK(
				    cmap_swap(g->m, k, rg_churn_value(k, ver),
				        NULL) != CMAP_ENOMEM);
				break;
			default:
				(void)cmap_load_or_store(
				    g->m, k, rg_churn_value(k, ver), &out);
			}
		}
		for (uint64_t j = 0; j < RG_CHURN_PER_THREAD; j++)
			(void)cmap_delete(g->m, base + j);
		ops += 3 * RG_CHURN_PER_THREAD;
	} while (!atomic_load(&g->done));
	atomic_fetch_add(&g->churn_ops, ops);
}

static void
case_range(void)
{
	struct rg g = {.m = mk(0), .ranges = scaled(40), .writers = NT - 1};

	for (uint64_t k = 0; k < RG_STABLE; k++)
		assert_int_equal(
		    cmap_store(g.m, k, rg_stable_value(k)), CMAP_INSERTED);
	begin();
	tu_run_threads(NT, rg_worker, &g);
	end();
	/* stable keys untouched */
	for (uint64_t k = 0; k < RG_STABLE; k++) {
		uint64_t v = SENT;
		assert_int_equal(cmap_load(g.m, k, &v), CMAP_OK);
		assert_true(v == rg_stable_value(k));
	}
	assert_true(atomic_load(&g.churn_ops) > 0);
	cmap_destroy(g.m);
}

/* ===================================================================
 * len beside writers
 * ================================================================= */
#define LEN_BASE 1000

struct lenc {
	cmap_t *m;
	long reads;
	atomic_int done;
	bool moving; /* writers use a new key each time (crossing shards) */
	uint64_t hi; /* largest len allowed */
	atomic_ulong seen_min, seen_max;
};

static void
len_worker(int t, void *arg)
{
	struct lenc *c = arg;

	if (t == 0) {
		for (long i = 0; i < c->reads; i++) {
			size_t n = cmap_len(c->m);
			WCHECK(n >= LEN_BASE);
			WCHECK(n <= c->hi);
			if (n < atomic_load(&c->seen_min))
				atomic_store(&c->seen_min, n);
			if (n > atomic_load(&c->seen_max))
				atomic_store(&c->seen_max, n);
			if (i % 64 == 0)
				sched_yield();
		}
		atomic_store(&c->done, 1);
		return;
	}
	uint64_t seq = 0;
	do {
		uint64_t k = (uint64_t)1 << 50 | (uint64_t)t << 32 |
		    (c->moving ? seq : 0);
		/* the writer's own key, absent between its calls */
		WCHECK(cmap_store(c->m, k * GOLD, seq) == CMAP_INSERTED);
		WCHECK(cmap_delete(c->m, k * GOLD) == CMAP_OK);
		seq++;
	} while (!atomic_load(&c->done));
}

static void
case_len(void)
{
	for (int moving = 0; moving < 2; moving++) {
		/* a read costs O(shards): keep the total work bounded */
		struct lenc c = {.m = mk(0),
		    .reads = scaled(20000) /
		        (shard_count() > 32 ? shard_count() / 32 : 1),
		    .moving = moving};
		uint64_t writers = NT - 1;

		/* exact bound for one count (CMAP_CAP_LEN_EXACT, one
		 * shard); one key per writer means one shard per writer;
		 * keys that move may be counted once per shard the reader
		 * walks past (LEN_EXACT), or once per per-thread count or
		 * stripe (without it) */
		if (!moving)
			c.hi = LEN_BASE + writers;
		else if (tu_has(g_cur->backend, CMAP_CAP_LEN_EXACT))
			c.hi = LEN_BASE + writers * shard_count();
		else
			c.hi = LEN_BASE + writers * 4096;
		for (uint64_t k = 0; k < LEN_BASE; k++)
			assert_int_equal(cmap_store(c.m, k, k), CMAP_INSERTED);
		atomic_store(&c.seen_min, UINT64_MAX);
		begin();
		tu_run_threads(NT, len_worker, &c);
		end();
		assert_int_equal(cmap_len(c.m), LEN_BASE);
		assert_true(atomic_load(&c.seen_min) >= LEN_BASE);
		cmap_destroy(c.m);
	}
}

/* ===================================================================
 * whole-map operations beside writers
 * ================================================================= */
struct whole {
	cmap_t *m;
	long rounds;
	atomic_int done;
};

#define WH_OWN (UINT64_C(1) << 62) /* writer t's own key: WH_OWN + t */

static bool
whole_range_cb(uint64_t key, uint64_t value, void *ctx)
{
	(void)ctx;
	/* a writer's own key holds values with t in the top byte; filler
	 * keys (below WH_OWN) hold a sequence number */
	if (key >= WH_OWN)
		WCHECK(value >> 56 == key - WH_OWN);
	else
		WCHECK(key >> 40 >= 1 && key >> 40 < NT &&
		    ((key & ((UINT64_C(1) << 40) - 1)) >> 6) == value % 200);
	return true;
}

static void
whole_worker(int t, void *arg)
{
	struct whole *w = arg;

	if (t == 0) {
		for (long i = 0; i < w->rounds; i++) {
			cmap_stats_t st;
			switch (i % 4) {
			case 0:
				WCHECK(cmap_clear(w->m) == CMAP_OK);
				break;
			case 1:
				/* now and then far beyond the map's size: the
				 * new table is built while writers fill the
				 * old one (readmostly ran out of room there) */
				WCHECK(cmap_reserve(w->m,
				           i % 3 == 0 ? (size_t)1 << 16
				                      : (size_t)(i % 7) *
				                   1000) == CMAP_OK);
				break;
			case 2:
				WCHECK(cmap_stats(w->m, &st) == CMAP_OK);
				WCHECK(st.min_shard_len <= st.max_shard_len);
				break;
			default:
				WCHECK(cmap_range(w->m, whole_range_cb, NULL) ==
				    CMAP_OK);
			}
			sched_yield();
		}
		atomic_store(&w->done, 1);
		return;
	}
	/* each writer owns key t*GOLD plus a block of filler keys; its own
	 * key must read as its last value or as absent (cleared) */
	uint64_t key = WH_OWN + (uint64_t)t;
	uint64_t last = 0;
	bool have = false;
	uint64_t seq = 0;
	do {
		uint64_t v = SENT;
		cmap_status_t s = cmap_load(w->m, key, &v);
		if (s == CMAP_OK)
			WCHECK(have && v == last);
		else
			WCHECK(s == CMAP_NOT_FOUND && v == SENT);
		last = (uint64_t)t << 56 | ++seq;
		/* only this thread inserts its key: absent before means
		 * INSERTED; present may have been cleared since */
		cmap_status_t s2 = cmap_store(w->m, key, last);
		if (s == CMAP_OK)
			WCHECK(s2 == CMAP_OK || s2 == CMAP_INSERTED);
		else
			WCHECK(s2 == CMAP_INSERTED);
		have = true;
		for (int j = 0; j < 50; j++)
			WCHECK(!cmap_is_error(cmap_store(w->m,
			    (uint64_t)t << 40 | (seq % 200) * 64 | (uint64_t)j,
			    seq)));
	} while (!atomic_load(&w->done));
}

/* Twice: with the default allocator, and with counting hooks (a resize
 * then zeroes its new table as it goes). */
static void
case_whole_map(void)
{
	for (int hooks = 0; hooks < 2; hooks++) {
		struct tu_alloc a;
		struct whole w = {
		    .rounds = scaled(100), .m = mk_counted(&a, hooks)};
		begin();
		tu_run_threads(NT, whole_worker, &w);
		end();
		cmap_destroy(w.m);
		assert_int_equal(atomic_load(&a.live_bytes), 0);
	}
}

/* ===================================================================
 * reserve_grow: a cmap_reserve far beyond a small map's size while
 * writers fill it.  The new table is being built while inserts still go
 * into the old one; none may fail for want of room (readmostly did).
 * ================================================================= */
struct reserve_grow {
	cmap_t *m;
	uint64_t keys;      /* inserted by each writer */
	atomic_int started; /* writers that began, then that ended */
};

static void
reserve_grow_worker(int t, void *arg)
{
	struct reserve_grow *g = arg;

	if (t == 0) {
		/* once the first table is nearly full */
		while (cmap_len(g->m) < 9 && atomic_load(&g->started) < NT)
			sched_yield();
		WCHECK(cmap_reserve(g->m, (size_t)1 << 16) == CMAP_OK);
		return;
	}
	atomic_fetch_add(&g->started, 1);
	for (uint64_t j = 0; j < g->keys; j++)
		WCHECK(cmap_store(g->m, (uint64_t)t << 32 | j, j) ==
		    CMAP_INSERTED);
	atomic_fetch_add(&g->started, 1);
}

static void
case_reserve_grow(void)
{
	long rounds = scaled(20);
	/* a disk backend commits each insert, a remote one sends it: a
	 * tenth of them */
	uint64_t keys = slow_backend() ? 300 : 3000;

	for (long r = 0; r < rounds; r++) {
		for (int hooks = 0; hooks < 2; hooks++) {
			struct tu_alloc a;
			struct reserve_grow g = {.keys = keys};

			g.m = mk_counted(&a, hooks);
			begin();
			tu_run_threads(NT, reserve_grow_worker, &g);
			end();
			assert_int_equal(cmap_len(g.m), (NT - 1) * keys);
			cmap_destroy(g.m);
			assert_int_equal(atomic_load(&a.live_bytes), 0);
		}
	}
}

/* ===================================================================
 * oversubscription: 16 threads on 2 cores, fixed work
 * ================================================================= */
#define OV_THREADS 16
#define OV_KEYS 256

struct oversub {
	cmap_t *m;
	long ops;
	atomic_long incs;
	atomic_long inserted; /* adds and updates that returned INSERTED */
	atomic_long stored;   /* stores that returned INSERTED */
};

static cmap_update_action_t
ov_cb(uint64_t key, uint64_t *value, bool present, void *ctx)
{
	(void)key;
	(void)ctx;
	*value = present ? *value + 1 : 1;
	return CMAP_UPDATE_STORE;
}

static void
oversub_worker(int t, void *arg)
{
	struct oversub *o = arg;
	tu_rng_t r = {(uint64_t)t + 1000};
	long incs = 0;

	for (long i = 0; i < o->ops; i++) {
		uint64_t k = tu_rng_below(&r, OV_KEYS);
		uint64_t v;
		unsigned p = (unsigned)tu_rng_below(&r, 100);

		if (p < 70) {
			v = SENT;
			cmap_status_t s = cmap_load(o->m, k, &v);
			WCHECK(s == CMAP_OK || s == CMAP_NOT_FOUND);
			if (s == CMAP_OK && k < OV_KEYS / 2)
				WCHECK(v == k * 3);
		} else if (p < 80) {
			cmap_status_t s = cmap_store(
			    o->m, k % (OV_KEYS / 2), k % (OV_KEYS / 2) * 3);
			WCHECK(s == CMAP_OK || s == CMAP_INSERTED);
			if (s == CMAP_INSERTED)
				atomic_fetch_add(&o->stored, 1);
		} else {
			cmap_status_t s = p < 90
			    ? cmap_add(o->m, OV_KEYS + k % 8, 1, NULL)
			    : cmap_update(
			          o->m, OV_KEYS + k % 8, ov_cb, NULL, NULL);
			WCHECK(s == CMAP_OK || s == CMAP_INSERTED);
			if (s == CMAP_INSERTED)
				atomic_fetch_add(&o->inserted, 1);
			incs++;
		}
	}
	atomic_fetch_add(&o->incs, incs);
}

static void
case_oversub(void)
{
	struct oversub o = {.m = mk(0), .ops = scaled(10000)};
	uint64_t sum = 0;
	long present = 0;

	begin();
	tu_run_threads(OV_THREADS, oversub_worker, &o);
	end();
	for (uint64_t k = OV_KEYS; k < OV_KEYS + 8; k++) {
		uint64_t v = 0;
		if (cmap_load(o.m, k, &v) == CMAP_OK) {
			sum += v;
			present++;
		}
	}
	assert_true(sum == (uint64_t)atomic_load(&o.incs));
	/* each counter key was inserted exactly once */
	assert_int_equal(atomic_load(&o.inserted), present);
	/* and each stored key */
	present = 0;
	for (uint64_t k = 0; k < OV_KEYS / 2; k++) {
		uint64_t v = 0;
		present += cmap_load(o.m, k, &v) == CMAP_OK;
	}
	assert_int_equal(atomic_load(&o.stored), present);
	cmap_destroy(o.m);
}

/* ===================================================================
 * guard: the re-entrancy guard is per thread.  While thread A is inside an
 * update callback on the map, thread B's calls on the same map wait (or
 * not) but never get CMAP_ERECURSE.
 * ================================================================= */
struct guard {
	cmap_t *m;
	atomic_int in_cb;
	atomic_int b_started;
};

static void
bounded_wait(atomic_int *flag)
{
	/* at most ~5 s, so a bug cannot hang the test */
	for (int i = 0; i < 50000 && !atomic_load(flag); i++) {
		struct timespec ts = {0, 100000};
		nanosleep(&ts, NULL);
	}
}

static cmap_update_action_t
guard_cb(uint64_t key, uint64_t *value, bool present, void *ctx)
{
	struct guard *g = ctx;
	struct timespec ts = {0, 5000000};

	(void)key;
	(void)present;
	atomic_store(&g->in_cb, 1);
	bounded_wait(&g->b_started);
	nanosleep(&ts, NULL); /* let B's calls reach the map */
	*value = 42;
	return CMAP_UPDATE_STORE;
}

static bool
guard_range_cb(uint64_t key, uint64_t value, void *ctx)
{
	(void)key;
	(void)value;
	(void)ctx;
	return true;
}

static void
guard_worker(int t, void *arg)
{
	struct guard *g = arg;

	if (t == 0) {
		uint64_t out = 0;
		WCHECK(
		    cmap_update(g->m, 1, guard_cb, g, &out) == CMAP_INSERTED);
		WCHECK(out == 42);
		return;
	}
	bounded_wait(&g->in_cb);
	atomic_store(&g->b_started, 1);
	uint64_t v = 0;
	cmap_status_t s = cmap_store(g->m, 2, 2);
	WCHECK(s == CMAP_INSERTED);
	s = cmap_load(g->m, 1, &v);
	WCHECK(s == CMAP_OK || s == CMAP_NOT_FOUND);
	WCHECK(cmap_range(g->m, guard_range_cb, NULL) == CMAP_OK);
	WCHECK(cmap_add(g->m, 3, 1, NULL) == CMAP_INSERTED);
}

static void
case_guard(void)
{
	for (int round = 0; round < 3; round++) {
		struct guard g = {.m = mk(0)};

		begin();
		tu_run_threads(2, guard_worker, &g);
		end();
		assert_int_equal(cmap_len(g.m), 3);
		cmap_destroy(g.m);
	}
}

/* ===================================================================
 * Runner: one cmocka test per case, each over every variant.
 * ================================================================= */
static void
each_variant(void (*fn)(void))
{
	for (size_t i = 0; i < g_nv; i++) {
		struct timespec t0, t1;
		g_cur = &g_vs[i];
		clock_gettime(CLOCK_MONOTONIC, &t0);
		fn();
		clock_gettime(CLOCK_MONOTONIC, &t1);
		print_message("  variant %-14s %.3f s\n", g_cur->name,
		    (double)(t1.tv_sec - t0.tv_sec) +
		        (double)(t1.tv_nsec - t0.tv_nsec) * 1e-9);
	}
	g_cur = NULL;
}

#define CASE(name)                                                             \
	static void test_##name(void **state)                                  \
	{                                                                      \
		(void)state;                                                   \
		each_variant(case_##name);                                     \
	}
CASE(disjoint)
CASE(swap_chain)
CASE(add)
CASE(los_winner)
CASE(cas_incr)
CASE(update_incr)
CASE(range)
CASE(len)
CASE(whole_map)
CASE(reserve_grow)
CASE(oversub)
CASE(guard)

int
main(void)
{
	const char *ts[TU_MAX_BACKENDS];
	size_t n = tu_thread_safe_backends(ts);
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_disjoint),
	    cmocka_unit_test(test_swap_chain),
	    cmocka_unit_test(test_add),
	    cmocka_unit_test(test_los_winner),
	    cmocka_unit_test(test_cas_incr),
	    cmocka_unit_test(test_update_incr),
	    cmocka_unit_test(test_range),
	    cmocka_unit_test(test_len),
	    cmocka_unit_test(test_whole_map),
	    cmocka_unit_test(test_reserve_grow),
	    cmocka_unit_test(test_oversub),
	    cmocka_unit_test(test_guard),
	};

	for (size_t i = 0; i < n; i++) {
		cmap_option_info_t opt;
		bool sharded = shards_option(ts[i], &opt);
		uint32_t def = sharded && opt.default_value
		    ? (uint32_t)strtoul(opt.default_value, NULL, 0)
		    : 1;

		g_vs[g_nv] = (struct variant){ts[i], 0, def, ""};
		snprintf(g_vs[g_nv].name, sizeof g_vs[g_nv].name, "%s", ts[i]);
		g_nv++;
		if (sharded) {
			const uint32_t extra[] = {1, 2, 1024};
			for (size_t e = 0; e < 3; e++) {
				if (extra[e] < opt.min || extra[e] > opt.max)
					continue;
				g_vs[g_nv] = (struct variant){
				    ts[i], extra[e], extra[e], ""};
				snprintf(g_vs[g_nv].name,
				    sizeof g_vs[g_nv].name, "%s/%u", ts[i],
				    (unsigned)extra[e]);
				g_nv++;
			}
		}
	}
	return cmocka_run_group_tests_name("stress", tests, NULL, NULL);
}
