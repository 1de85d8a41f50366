/*
 * test_batch.c - the batch calls of cmap.h ("Batches"): cmap_load_batch,
 * cmap_store_batch and cmap_delete_batch (labels "contract" and "stress").
 *
 * The promise under test: status[i] (and values[i] for loads) is what the
 * single-key call would have returned for keys[i], keys processed in
 * order, each atomic on its own; the call returns CMAP_OK or the first
 * per-key error, every key still attempted; EINVAL (nothing done) for a
 * NULL map or a NULL array with n > 0; ERECURSE from inside an update
 * callback on the same map.
 *
 * Variants (one cmocka group each): every backend of the build, each
 * backend that takes the option "shards" at 1 and 1024 shards too, and
 * every backend but a remote one again behind a copy of its descriptor
 * that makes the front end loop over the single-key calls: one with no batch
 * slot (batch NULL), one that declares descriptor version 1 while its batch
 * slot points to a trap that must never be called.  What a test expects comes
 * from the capabilities, never from a backend's name.
 *
 *   contract  batches of 0, 1, 31, 32, 33, 64, 100 and 1000 keys, present
 *             and absent keys, the edge keys, duplicates within a batch
 *             (also across the CMAP_BATCH_GROUP boundary), compared key
 *             by key with a reference model AND with the single-key calls
 *             on a twin map; len and contents checked after every batch;
 *             10,000 keys stored into an empty map in batches of 100 (the
 *             table grows) and deleted again in batches (it shrinks), and
 *             100,000 keys in one batch of each kind;
 *             random batch sequences; batches from inside a range
 *             callback; bad input; ERECURSE.
 *   alloc     the n-th allocation from now fails (n = 1, 2, ... until the
 *             batch needs fewer) during a store batch that grows the
 *             table: the first error is returned, a key whose status is an
 *             error is absent, a key with a success status holds its
 *             value, the map works afterwards and nothing leaks; with
 *             every allocation failing, overwrites, loads and deletes in
 *             batches still succeed, also from a thread new to the map.
 *   stress    (thread-safe variants) 4 threads, each batching stores,
 *             deletes and loads of its own keys (exact per-thread model)
 *             while adding to shared keys with single cmap_add calls that
 *             the others batch-load (monotone, bounded by the adds
 *             started); contents exact after the join.
 *
 * Every map of the contract group goes through the checking allocator;
 * the teardown fails a test that leaked or freed with a wrong size.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

/* internal.h: the descriptor copies of the front-end loop variants. */
#include "internal.h"
#include "testutil.h"

#define GOLD UINT64_C(0x9e3779b97f4a7c15)
#define SENT UINT64_C(0x5e5e5e5e5e5e5e5e) /* "untouched" marker */
/* Never a status: the "untouched" marker of status arrays. */
#define POISON ((cmap_status_t)0x55)
#define MAX_N 100000 /* no batch here makes this many allocations */

/* ThreadSanitizer runs this test (label "stress") about 20 times slower:
 * less work there, most of all in the single-threaded parts. */
#if defined(CMAP_TSAN)
#define STRESS_ROUNDS 4000
#define HUGE_BATCH 20000
#define FULL_CHECK_EVERY 8 /* checked_batch: len always, contents 1 in 8 */
#else
#define STRESS_ROUNDS 50000
#define HUGE_BATCH 100000
#define FULL_CHECK_EVERY 1
#endif

/* How a variant's batches reach the backend. */
enum path {
	PATH_BACKEND, /* the backend's own batch slot */
	PATH_NULL,    /* descriptor copy with batch = NULL: front-end loop */
	PATH_V1,      /* copy declaring version 1, batch = trap: loop too */
};

struct variant {
	const char *backend;
	uint32_t shards; /* 0 = default */
	enum path path;
	bool fb_ready;
	struct cmap__backend fb; /* the copy, for PATH_NULL and PATH_V1 */
	char name[64];
};

static struct variant g_vs[5 * TU_MAX_BACKENDS];
static size_t g_nv;
static struct variant *g_v;
static struct tu_chk_alloc g_alloc;
static atomic_long g_trap_calls;
static unsigned long g_nchecked;

static cmap_status_t
trap_batch(cmap_t *map, const struct cmap__batch *b, size_t n)
{
	(void)map;
	(void)b;
	(void)n;
	atomic_fetch_add(&g_trap_calls, 1);
	return CMAP_EINVAL;
}

/* Point a fresh map of g_v at the variant's descriptor copy. */
static cmap_t *
route(cmap_t *m)
{
	if (g_v->path == PATH_BACKEND)
		return m;
	if (!g_v->fb_ready) {
		g_v->fb = *m->be;
		if (g_v->path == PATH_NULL) {
			g_v->fb.batch = NULL;
		} else {
			g_v->fb.version = CMAP__BACKEND_V1;
			g_v->fb.batch = trap_batch;
		}
		g_v->fb_ready = true;
	}
	m->be = &g_v->fb;
	return m;
}

/*
 * A persistent backend keeps its entries in its file, a remote one in its
 * server: its allocator holds the map struct only, so it never grows or
 * shrinks a table there, and the growth, shrink and allocation-failure
 * checks below are for the in-memory backends.
 */
static bool
in_memory(void)
{
	return !tu_has(g_v->backend, CMAP_CAP_PERSISTENT) &&
	    !tu_has(g_v->backend, CMAP_CAP_REMOTE);
}

static void
cfg_for(cmap_config_t *cfg, size_t capacity)
{
	tu_config_init(cfg, g_v->backend);
	cfg->shards = g_v->shards;
	cfg->capacity = capacity;
	cfg->seed = UINT64_C(0x243f6a8885a308d3);
	tu_chk_alloc_install(&g_alloc, cfg);
}

static cmap_t *
mk_cap(size_t capacity)
{
	cmap_config_t cfg;

	cfg_for(&cfg, capacity);
	return route(tu_create_cfg(&cfg));
}

static cmap_t *
mk(void)
{
	return mk_cap(0);
}

/* The twin of the differential checks: same backend and seed, reached
 * through the backend's real descriptor, used with single-key calls. */
static cmap_t *
mk_twin(void)
{
	cmap_config_t cfg;

	cfg_for(&cfg, 0);
	return tu_create_cfg(&cfg);
}

static cmap_stats_t
stats_of(cmap_t *m)
{
	cmap_stats_t s;

	memset(&s, 0, sizeof s);
	assert_int_equal(cmap_stats(m, &s), CMAP_OK);
	return s;
}

static int
setup(void **state)
{
	(void)state;
	tu_chk_alloc_init(&g_alloc);
	atomic_store(&g_trap_calls, 0);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	if (atomic_load(&g_trap_calls) != 0) {
		fprintf(stderr,
		    "the front end called the batch slot of a version-1 "
		    "descriptor %ld times\n",
		    atomic_load(&g_trap_calls));
		return -1;
	}
	return tu_chk_alloc_report(&g_alloc);
}

/* ===================================================================
 * Batches, single-key calls and the model, side by side
 * ================================================================= */

enum bk { BK_LOAD, BK_STORE, BK_DELETE };
static const char *const bk_names[] = {"load", "store", "delete"};

/* One batch call: in = the values of a store, out = those of a load. */
static cmap_status_t
do_batch(cmap_t *m, enum bk k, size_t n, const uint64_t *keys,
    const uint64_t *in, uint64_t *out, cmap_status_t *st)
{
	switch (k) {
	case BK_LOAD:
		return cmap_load_batch(m, n, keys, out, st);
	case BK_STORE:
		return cmap_store_batch(m, n, keys, in, st);
	default:
		return cmap_delete_batch(m, n, keys, st);
	}
}

/* The single-key call a batch key stands for. */
static cmap_status_t
single(cmap_t *m, enum bk k, uint64_t key, uint64_t in, uint64_t *out)
{
	switch (k) {
	case BK_LOAD:
		return cmap_load(m, key, out);
	case BK_STORE:
		return cmap_store(m, key, in);
	default:
		return cmap_delete(m, key);
	}
}

/* The same in the model: the RESULTS table of cmap.h. */
static cmap_status_t
model_apply(
    struct tu_model *md, enum bk k, uint64_t key, uint64_t in, uint64_t *out)
{
	bool present = tu_model_get(md, key, k == BK_LOAD ? out : NULL);

	switch (k) {
	case BK_LOAD:
		return present ? CMAP_OK : CMAP_NOT_FOUND;
	case BK_STORE:
		tu_model_put(md, key, in);
		return present ? CMAP_OK : CMAP_INSERTED;
	default:
		tu_model_del(md, key);
		return present ? CMAP_OK : CMAP_NOT_FOUND;
	}
}

/*
 * Run one batch on m and check every key: status[i] (and values[i]) must
 * equal what the model gives and what the single-key call gives on the
 * twin (when not NULL), applied in order; loads are also compared with
 * single loads on m itself.  The batch must return CMAP_OK.  Then len and
 * the whole contents of m (and of the twin) must equal the model (the
 * contents after every FULL_CHECK_EVERY-th batch: every one but under
 * TSan).
 */
static void
checked_batch(cmap_t *m, cmap_t *twin, struct tu_model *md, enum bk k, size_t n,
    const uint64_t *keys, const uint64_t *in)
{
	uint64_t *out = malloc((n + 1) * sizeof *out);
	cmap_status_t *st = malloc((n + 1) * sizeof *st);
	cmap_status_t ret;

	assert_non_null(out);
	assert_non_null(st);
	for (size_t i = 0; i < n; i++) {
		out[i] = SENT;
		st[i] = POISON;
	}
	ret = do_batch(m, k, n, keys, in, out, st);
	if (ret != CMAP_OK)
		fail_msg("%s: %s batch of %zu returned %s", g_v->name,
		    bk_names[k], n, cmap_status_name(ret));
	for (size_t i = 0; i < n; i++) {
		uint64_t mv = SENT, tv = SENT, sv = SENT;
		uint64_t a = k == BK_STORE ? in[i] : 0;
		cmap_status_t exp = model_apply(md, k, keys[i], a, &mv);
		cmap_status_t ts =
		    twin != NULL ? single(twin, k, keys[i], a, &tv) : exp;

		if (twin == NULL)
			tv = mv;
		if (st[i] != exp || ts != exp)
			fail_msg("%s: %s batch of %zu, key %zu (%#llx): "
			         "status %s, single-key call %s, model %s",
			    g_v->name, bk_names[k], n, i,
			    (unsigned long long)keys[i],
			    cmap_status_name(st[i]), cmap_status_name(ts),
			    cmap_status_name(exp));
		if (k != BK_LOAD)
			continue;
		if (out[i] != mv || tv != mv)
			fail_msg("%s: load batch of %zu, key %zu (%#llx): "
			         "value %#llx, single-key call %#llx, model "
			         "%#llx (%#llx = untouched)",
			    g_v->name, n, i, (unsigned long long)keys[i],
			    (unsigned long long)out[i], (unsigned long long)tv,
			    (unsigned long long)mv, (unsigned long long)SENT);
		/* loads change nothing: the single load on m agrees too */
		assert_int_equal(cmap_load(m, keys[i], &sv), st[i]);
		assert_true(sv == out[i]);
	}
	assert_int_equal(cmap_len(m), md->len);
	if (twin != NULL)
		assert_int_equal(cmap_len(twin), md->len);
	/* a remote backend's full check is a round trip per key: 1 in 64 */
	if (++g_nchecked %
	        (tu_has(g_v->backend, CMAP_CAP_REMOTE) ? 64
	                                               : FULL_CHECK_EVERY) ==
	    0) {
		tu_assert_map_equals_model(m, md);
		if (twin != NULL)
			tu_assert_map_equals_model(twin, md);
	}
	free(out);
	free(st);
}

/* Prefill m (and the twin) through single stores. */
static void
fill(cmap_t *m, cmap_t *twin, struct tu_model *md, uint64_t key, uint64_t v)
{
	bool present = tu_model_get(md, key, NULL);
	cmap_status_t want = present ? CMAP_OK : CMAP_INSERTED;

	assert_int_equal(cmap_store(m, key, v), want);
	if (twin != NULL)
		assert_int_equal(cmap_store(twin, key, v), want);
	tu_model_put(md, key, v);
}

static uint64_t
rnd_value(tu_rng_t *r)
{
	if (tu_rng_below(r, 4) == 0)
		return tu_edge_values[tu_rng_below(r, tu_n_edge_values)];
	return tu_rng_next(r);
}

/*
 * n keys mixing the edge keys, keys the model holds, fresh (absent) keys,
 * keys of a small pool that recur from batch to batch, and duplicates of
 * earlier keys of the same batch.
 */
static void
gen_keys(tu_rng_t *r, const struct tu_model *md, size_t n, uint64_t *keys)
{
	for (size_t i = 0; i < n; i++) {
		switch (tu_rng_below(r, 6)) {
		case 0:
			keys[i] =
			    tu_edge_values[tu_rng_below(r, tu_n_edge_values)];
			break;
		case 1:
		case 2:
			keys[i] = md->len > 0
			    ? md->keys[tu_rng_below(r, md->len)]
			    : tu_rng_next(r);
			break;
		case 3:
			keys[i] = tu_rng_next(r);
			break;
		case 4:
			keys[i] = i > 0 ? keys[tu_rng_below(r, i)]
			                : tu_rng_below(r, 16) * GOLD;
			break;
		default:
			keys[i] = (tu_rng_below(r, 16) + 1) * GOLD;
			break;
		}
	}
}

/* ===================================================================
 * Contract
 * ================================================================= */

/* n = 0: OK, with NULL arrays too, and nothing touched. */
static void
test_empty_batches(void **state)
{
	(void)state;
	cmap_t *m = mk();
	struct tu_model md;
	uint64_t keys[3] = {1, 2, 3}, vals[3] = {SENT, SENT, SENT};
	cmap_status_t st[3] = {POISON, POISON, POISON};

	tu_model_init(&md);
	fill(m, NULL, &md, 1, 10);
	fill(m, NULL, &md, 0, 20);
	assert_int_equal(cmap_load_batch(m, 0, NULL, NULL, NULL), CMAP_OK);
	assert_int_equal(cmap_store_batch(m, 0, NULL, NULL, NULL), CMAP_OK);
	assert_int_equal(cmap_delete_batch(m, 0, NULL, NULL), CMAP_OK);
	assert_int_equal(cmap_load_batch(m, 0, keys, vals, st), CMAP_OK);
	assert_int_equal(cmap_store_batch(m, 0, keys, vals, st), CMAP_OK);
	assert_int_equal(cmap_delete_batch(m, 0, keys, st), CMAP_OK);
	for (size_t i = 0; i < 3; i++) {
		assert_true(vals[i] == SENT);
		assert_int_equal(st[i], POISON);
	}
	tu_assert_map_equals_model(m, &md);
	/* and on an empty map */
	cmap_t *e = mk();
	struct tu_model none;
	tu_model_init(&none);
	assert_int_equal(cmap_load_batch(e, 0, NULL, NULL, NULL), CMAP_OK);
	assert_int_equal(cmap_delete_batch(e, 0, NULL, NULL), CMAP_OK);
	tu_assert_map_equals_model(e, &none);
	cmap_destroy(e);
	cmap_destroy(m);
	tu_model_fini(&md);
}

/* The sizes around the group boundary, present and absent keys. */
static void
test_sizes(void **state)
{
	(void)state;
	static const size_t sizes[] = {1, 2, 31, 32, 33, 63, 64, 65, 100, 1000};
	cmap_t *m = mk(), *twin = mk_twin();
	struct tu_model md;
	tu_rng_t r = {42};
	uint64_t keys[1000], vals[1000];

	tu_model_init(&md);
	for (uint64_t i = 0; i < 300; i++)
		fill(m, twin, &md, (i + 100) * GOLD, ~i);
	fill(m, twin, &md, 0, 5);
	fill(m, twin, &md, UINT64_MAX, 0);
	for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
		size_t n = sizes[s];

		gen_keys(&r, &md, n, keys);
		for (size_t i = 0; i < n; i++)
			vals[i] = rnd_value(&r);
		checked_batch(m, twin, &md, BK_LOAD, n, keys, NULL);
		checked_batch(m, twin, &md, BK_STORE, n, keys, vals);
		checked_batch(m, twin, &md, BK_LOAD, n, keys, NULL);
		gen_keys(&r, &md, n, keys);
		checked_batch(m, twin, &md, BK_DELETE, n, keys, NULL);
		checked_batch(m, twin, &md, BK_LOAD, n, keys, NULL);
		/* delete what is left of them: all NOT_FOUND now */
		checked_batch(m, twin, &md, BK_DELETE, n, keys, NULL);
	}
	cmap_destroy(m);
	cmap_destroy(twin);
	tu_model_fini(&md);
}

/* Every status of a batch, as expected explicitly. */
static void
expect_batch(cmap_t *m, enum bk k, size_t n, const uint64_t *keys,
    const uint64_t *in, const cmap_status_t *want, const uint64_t *want_out)
{
	uint64_t out[128];
	cmap_status_t st[128];

	assert_true(n <= 128);
	for (size_t i = 0; i < n; i++) {
		out[i] = SENT;
		st[i] = POISON;
	}
	assert_int_equal(do_batch(m, k, n, keys, in, out, st), CMAP_OK);
	for (size_t i = 0; i < n; i++) {
		if (st[i] != want[i])
			fail_msg("%s: %s batch key %zu (%#llx): %s, expected "
			         "%s",
			    g_v->name, bk_names[k], i,
			    (unsigned long long)keys[i],
			    cmap_status_name(st[i]), cmap_status_name(want[i]));
		if (k == BK_LOAD)
			assert_true(out[i] == want_out[i]);
	}
}

/* Duplicate keys within one batch are processed in order. */
static void
test_duplicates(void **state)
{
	(void)state;
	cmap_t *m = mk();
	const cmap_status_t I = CMAP_INSERTED, O = CMAP_OK, N = CMAP_NOT_FOUND;

	for (int z = 0; z < 2; z++) {
		/* key 7, and key 0 (the table core's side slot) */
		uint64_t k = z == 0 ? 7 : 0;
		uint64_t kk[2] = {k, k};
		uint64_t v12[2] = {1, 2}, v33[2] = {3, 3}, out2[2];
		cmap_status_t io[2] = {I, O}, oo[2] = {O, O}, on[2] = {O, N},
		              nn[2] = {N, N};

		expect_batch(m, BK_STORE, 2, kk, v12, io, NULL);
		out2[0] = out2[1] = 2;
		expect_batch(m, BK_LOAD, 2, kk, NULL, oo, out2);
		expect_batch(m, BK_STORE, 2, kk, v33, oo, NULL);
		out2[0] = out2[1] = 3;
		expect_batch(m, BK_LOAD, 2, kk, NULL, oo, out2);
		expect_batch(m, BK_DELETE, 2, kk, NULL, on, NULL);
		out2[0] = out2[1] = SENT;
		expect_batch(m, BK_LOAD, 2, kk, NULL, nn, out2);
		expect_batch(m, BK_DELETE, 2, kk, NULL, nn, NULL);
		assert_int_equal(cmap_len(m), 0);
	}

	/* One key at positions on both sides of the group boundaries
	 * (CMAP_BATCH_GROUP keys are processed under one lock), the
	 * others distinct and new: the last value wins. */
	{
		enum { N70 = 70 };
		static const size_t at[] = {0, 1, 31, 32, 33, 63, 64, 69};
		uint64_t keys[N70], vals[N70], out[N70];
		cmap_status_t want[N70];
		const uint64_t K = UINT64_C(0xfeedbeef);
		size_t na = sizeof at / sizeof at[0];

		for (size_t i = 0; i < N70; i++) {
			keys[i] = (i + 1000) * GOLD;
			vals[i] = i;
			want[i] = I;
		}
		for (size_t a = 0; a < na; a++) {
			keys[at[a]] = K;
			want[at[a]] = a == 0 ? I : O;
		}
		expect_batch(m, BK_STORE, N70, keys, vals, want, NULL);
		assert_int_equal(cmap_len(m), N70 - na + 1);
		for (size_t i = 0; i < N70; i++) {
			out[i] = keys[i] == K ? 69 : i;
			want[i] = O;
		}
		expect_batch(m, BK_LOAD, N70, keys, NULL, want, out);
		for (size_t i = 0; i < N70; i++)
			want[i] = keys[i] == K && i != 0 ? N : O;
		expect_batch(m, BK_DELETE, N70, keys, NULL, want, NULL);
		assert_int_equal(cmap_len(m), 0);
		for (size_t i = 0; i < N70; i++) {
			out[i] = SENT;
			want[i] = N;
		}
		expect_batch(m, BK_LOAD, N70, keys, NULL, want, out);
	}

	/* A store batch that makes the table grow in the middle, with its
	 * first key again at the end: the overwrite finds the key that was
	 * inserted before the resize. */
	{
		enum { NG = 120 };
		uint64_t keys[NG], vals[NG], out[NG];
		cmap_status_t want[NG];

		for (size_t i = 0; i < NG - 1; i++) {
			keys[i] = (i + 5000) * GOLD;
			vals[i] = i;
			want[i] = I;
		}
		keys[NG - 1] = keys[0];
		vals[NG - 1] = 424242;
		want[NG - 1] = O;
		expect_batch(m, BK_STORE, NG, keys, vals, want, NULL);
		assert_int_equal(cmap_len(m), NG - 1);
		for (size_t i = 0; i < NG; i++) {
			out[i] = i == 0 || i == NG - 1 ? 424242 : vals[i];
			want[i] = O;
		}
		expect_batch(m, BK_LOAD, NG, keys, NULL, want, out);
		/* delete them in one batch with each key twice in a row */
		for (size_t i = 0; i < NG - 1; i += 32) {
			uint64_t d[64];
			cmap_status_t w[64];
			size_t nd = 0;

			for (size_t j = i; j < i + 32 && j < NG - 1; j++) {
				d[nd] = d[nd + 1] = keys[j];
				w[nd] = O;
				w[nd + 1] = N;
				nd += 2;
			}
			expect_batch(m, BK_DELETE, nd, d, NULL, w, NULL);
		}
		assert_int_equal(cmap_len(m), 0);
	}
	cmap_destroy(m);
}

/* The edge keys as keys and as values. */
static void
test_edges(void **state)
{
	(void)state;
	cmap_t *m = mk(), *twin = mk_twin();
	struct tu_model md;
	const size_t ne = tu_n_edge_values;
	uint64_t keys[16], vals[16];

	tu_model_init(&md);
	assert_true(ne <= 16);
	for (size_t i = 0; i < ne; i++) {
		keys[i] = tu_edge_values[i];
		vals[i] = tu_edge_values[ne - 1 - i];
	}
	checked_batch(m, twin, &md, BK_LOAD, ne, keys, NULL);
	checked_batch(m, twin, &md, BK_STORE, ne, keys, vals); /* INSERTED */
	checked_batch(m, twin, &md, BK_LOAD, ne, keys, NULL);
	checked_batch(m, twin, &md, BK_STORE, ne, keys, keys); /* OK */
	checked_batch(m, twin, &md, BK_LOAD, ne, keys, NULL);
	checked_batch(m, twin, &md, BK_DELETE, ne, keys, NULL); /* OK */
	assert_int_equal(cmap_len(m), 0);
	checked_batch(m, twin, &md, BK_LOAD, ne, keys, NULL); /* NOT_FOUND */
	checked_batch(m, twin, &md, BK_DELETE, ne, keys, NULL);
	/* each edge key twice, with every edge value */
	for (size_t i = 0; i < 2 * ne; i++) {
		keys[i] = tu_edge_values[i % ne];
		vals[i] = tu_edge_values[(i + 3) % ne];
	}
	checked_batch(m, twin, &md, BK_STORE, 2 * ne, keys, vals);
	checked_batch(m, twin, &md, BK_LOAD, 2 * ne, keys, NULL);
	checked_batch(m, twin, &md, BK_DELETE, 2 * ne, keys, NULL);
	assert_int_equal(cmap_len(m), 0);
	cmap_destroy(m);
	cmap_destroy(twin);
	tu_model_fini(&md);
}

/* 10,000 new keys in batches of 100 into an empty map, then deleted in
 * batches: the table grows and shrinks inside batches. */
static void
test_grow_shrink(void **state)
{
	(void)state;
	enum { TOTAL = 10000, B = 100 };
	cmap_t *m = mk();
	struct tu_model md;
	cmap_stats_t fresh = stats_of(m), full, empty;
	uint64_t keys[B], vals[B];

	tu_model_init(&md);
	for (size_t b = 0; b < TOTAL / B; b++) {
		for (size_t j = 0; j < B; j++) {
			uint64_t i = b * B + j;
			keys[j] = i < tu_n_edge_values ? tu_edge_values[i]
			                               : (i + 1) * GOLD;
			vals[j] = ~i;
		}
		checked_batch(m, NULL, &md, BK_STORE, B, keys, vals);
	}
	full = stats_of(m);
	assert_int_equal(full.len, TOTAL);
	assert_true(full.grows > fresh.grows || !in_memory());
	assert_true(
	    full.capacity >= TOTAL || tu_has(g_v->backend, CMAP_CAP_REMOTE));
	/* loads in batches of 100, every key present */
	for (size_t b = 0; b < TOTAL / B; b++) {
		for (size_t j = 0; j < B; j++)
			keys[j] = md.keys[b * B + j];
		checked_batch(m, NULL, &md, BK_LOAD, B, keys, NULL);
	}
	/* deleted in batches of 100, each batch also naming a key deleted
	 * before (NOT_FOUND) */
	while (md.len > 0) {
		size_t nk = md.len < B - 1 ? md.len : B - 1;

		for (size_t j = 0; j < nk; j++)
			keys[j] = md.keys[md.len - 1 - j];
		keys[nk] = UINT64_C(0xabcdef0123456789); /* never stored */
		checked_batch(m, NULL, &md, BK_DELETE, nk + 1, keys, NULL);
	}
	empty = stats_of(m);
	assert_int_equal(empty.len, 0);
	if (in_memory()) {
		assert_true(empty.shrinks > full.shrinks);
		assert_true(empty.capacity <= 4 * fresh.capacity);
	}
	print_message("    %s: capacity %llu -> %llu -> %llu, %llu grows, "
	              "%llu shrinks\n",
	    g_v->name, (unsigned long long)fresh.capacity,
	    (unsigned long long)full.capacity,
	    (unsigned long long)empty.capacity, (unsigned long long)empty.grows,
	    (unsigned long long)empty.shrinks);
	cmap_destroy(m);
	tu_model_fini(&md);
}

/* One batch of 100,000 keys (20,000 under TSan): the table grows many
 * times inside one store batch and shrinks inside one delete batch. */
static void
test_huge_batch(void **state)
{
	(void)state;
	enum { H = HUGE_BATCH };
	uint64_t *keys = malloc(H * sizeof *keys);
	uint64_t *vals = malloc(H * sizeof *vals);
	cmap_status_t *st = malloc(H * sizeof *st);
	cmap_t *m = mk();
	struct tu_model md;
	cmap_stats_t s0 = stats_of(m), s1, s2;

	assert_non_null(keys);
	assert_non_null(vals);
	assert_non_null(st);
	tu_model_init(&md);
	for (size_t i = 0; i < H; i++) {
		keys[i] =
		    i < tu_n_edge_values ? tu_edge_values[i] : (i + 1) * GOLD;
		vals[i] = i;
		tu_model_put(&md, keys[i], i);
	}
	assert_int_equal(cmap_store_batch(m, H, keys, vals, st), CMAP_OK);
	for (size_t i = 0; i < H; i++)
		assert_int_equal(st[i], CMAP_INSERTED);
	s1 = stats_of(m);
	assert_true(s1.grows > s0.grows || !in_memory());
	tu_assert_map_equals_model(m, &md);
	for (size_t i = 0; i < H; i++)
		vals[i] = SENT;
	assert_int_equal(cmap_load_batch(m, H, keys, vals, st), CMAP_OK);
	for (size_t i = 0; i < H; i++)
		assert_true(st[i] == CMAP_OK && vals[i] == i);
	assert_int_equal(cmap_delete_batch(m, H, keys, st), CMAP_OK);
	for (size_t i = 0; i < H; i++)
		assert_int_equal(st[i], CMAP_OK);
	s2 = stats_of(m);
	assert_int_equal(s2.len, 0);
	assert_true(s2.shrinks > s1.shrinks || !in_memory());
	tu_model_clear(&md);
	tu_assert_map_equals_model(m, &md);
	cmap_destroy(m);
	tu_model_fini(&md);
	free(keys);
	free(vals);
	free(st);
}

/* Random batch sequences over a small key pool (many duplicates) and a
 * larger one (growth and shrinking), against the twin and the model. */
static void
test_random(void **state)
{
	(void)state;
	cmap_t *m = mk(), *twin = mk_twin();
	struct tu_model md;
	tu_rng_t r = {7};
	uint64_t keys[300], vals[300];

	tu_model_init(&md);
	for (int round = 0; round < 600; round++) {
		bool small = round < 300;
		uint64_t pool = small ? 48 : 3000;
		size_t n = (size_t)tu_rng_below(&r, small ? 150 : 300) + 1;
		/* the large phase alternates inserting and deleting */
		unsigned pick = (unsigned)tu_rng_below(&r, 10);
		enum bk k = pick < 3                               ? BK_LOAD
		    : pick < (small || round % 100 < 50 ? 7u : 4u) ? BK_STORE
		                                                   : BK_DELETE;

		for (size_t i = 0; i < n; i++) {
			uint64_t j = tu_rng_below(&r, pool);
			keys[i] =
			    j < tu_n_edge_values ? tu_edge_values[j] : j * GOLD;
			vals[i] = rnd_value(&r);
		}
		if (tu_rng_below(&r, 50) == 0)
			n = 0;
		checked_batch(m, twin, &md, k, n, keys, vals);
	}
	cmap_destroy(m);
	cmap_destroy(twin);
	tu_model_fini(&md);
}

/*
 * Batches from inside a range callback on the same map (cmap.h: "fn runs
 * with no lock held and may call any function on the same map"): per key
 * of the original set visited, a load batch of it twice, a store batch of
 * a key of a second set, and every other time a delete batch of it again.
 */
struct rb {
	cmap_t *m;
	uint64_t n;
	unsigned char *seen;
	long visits, fails;
};

static uint64_t
rb_key(uint64_t i)
{
	return (i + 1) * GOLD;
}

static uint64_t
rb_key2(uint64_t i)
{
	return (i + 1) * GOLD + 1;
}

static bool
rb_cb(uint64_t key, uint64_t value, void *ctx)
{
	struct rb *r = ctx;
	uint64_t i = value, keys[2], vals[2] = {SENT, SENT};
	cmap_status_t st[2];

	if (i >= r->n || key != rb_key(i))
		return true; /* a key of the second set */
	r->fails += r->seen[i]++ != 0;
	r->visits++;
	keys[0] = keys[1] = key;
	r->fails += cmap_load_batch(r->m, 2, keys, vals, st) != CMAP_OK;
	r->fails += st[0] != CMAP_OK || st[1] != CMAP_OK;
	r->fails += vals[0] != i || vals[1] != i;
	keys[0] = rb_key2(i);
	vals[0] = UINT64_MAX - i; /* never < n: not mistaken for the set */
	r->fails += cmap_store_batch(r->m, 1, keys, vals, st) != CMAP_OK;
	r->fails += st[0] != CMAP_INSERTED;
	if (i % 2 == 0) {
		r->fails += cmap_delete_batch(r->m, 1, keys, st) != CMAP_OK;
		r->fails += st[0] != CMAP_OK;
	}
	return true;
}

static void
test_range_calls_batch(void **state)
{
	(void)state;
	cmap_t *m = mk();
	struct tu_model md;
	struct rb r = {m, 2000, NULL, 0, 0};

	tu_model_init(&md);
	r.seen = calloc(r.n, 1);
	assert_non_null(r.seen);
	for (uint64_t i = 0; i < r.n; i++)
		fill(m, NULL, &md, rb_key(i), i);
	assert_int_equal(cmap_range(m, rb_cb, &r), CMAP_OK);
	assert_int_equal(r.fails, 0);
	/* each key of the set, present with one value throughout, was
	 * visited exactly once */
	assert_int_equal(r.visits, (long)r.n);
	for (uint64_t i = 0; i < r.n; i++)
		if (i % 2 == 1)
			tu_model_put(&md, rb_key2(i), UINT64_MAX - i);
	tu_assert_map_equals_model(m, &md);
	free(r.seen);
	cmap_destroy(m);
	tu_model_fini(&md);
}

/* NULL map, NULL arrays with n > 0: EINVAL, nothing done. */
static void
test_bad_input(void **state)
{
	(void)state;
	cmap_t *m = mk();
	struct tu_model md;
	uint64_t keys[40], vals[40], out[40];
	cmap_status_t st[40];

	tu_model_init(&md);
	fill(m, NULL, &md, 1, 10);
	fill(m, NULL, &md, 0, 11);
	for (size_t i = 0; i < 40; i++) {
		keys[i] = i < 2 ? i : (i + 77) * GOLD; /* 0 and 1 present */
		vals[i] = 1000 + i;
		out[i] = SENT;
		st[i] = POISON;
	}
#define UNTOUCHED()                                                            \
	do {                                                                   \
		for (size_t i_ = 0; i_ < 40; i_++) {                           \
			assert_int_equal(st[i_], POISON);                      \
			assert_true(out[i_] == SENT);                          \
		}                                                              \
		tu_assert_map_equals_model(m, &md);                            \
	} while (0)

	/* map NULL, whatever n */
	assert_int_equal(
	    cmap_load_batch(NULL, 0, NULL, NULL, NULL), CMAP_EINVAL);
	assert_int_equal(
	    cmap_store_batch(NULL, 0, NULL, NULL, NULL), CMAP_EINVAL);
	assert_int_equal(cmap_delete_batch(NULL, 0, NULL, NULL), CMAP_EINVAL);
	assert_int_equal(cmap_load_batch(NULL, 40, keys, out, st), CMAP_EINVAL);
	assert_int_equal(
	    cmap_store_batch(NULL, 40, keys, vals, st), CMAP_EINVAL);
	assert_int_equal(cmap_delete_batch(NULL, 40, keys, st), CMAP_EINVAL);
	UNTOUCHED();

	for (size_t n = 1; n <= 40; n += 39) {
		/* keys NULL */
		assert_int_equal(
		    cmap_load_batch(m, n, NULL, out, st), CMAP_EINVAL);
		assert_int_equal(
		    cmap_store_batch(m, n, NULL, vals, st), CMAP_EINVAL);
		assert_int_equal(
		    cmap_delete_batch(m, n, NULL, st), CMAP_EINVAL);
		UNTOUCHED();
		/* values NULL */
		assert_int_equal(
		    cmap_load_batch(m, n, keys, NULL, st), CMAP_EINVAL);
		assert_int_equal(
		    cmap_store_batch(m, n, keys, NULL, st), CMAP_EINVAL);
		UNTOUCHED();
		/* status NULL: the store and the delete must not happen */
		assert_int_equal(
		    cmap_load_batch(m, n, keys, out, NULL), CMAP_EINVAL);
		assert_int_equal(
		    cmap_store_batch(m, n, keys, vals, NULL), CMAP_EINVAL);
		assert_int_equal(
		    cmap_delete_batch(m, n, keys, NULL), CMAP_EINVAL);
		UNTOUCHED();
		/* everything NULL */
		assert_int_equal(
		    cmap_load_batch(m, n, NULL, NULL, NULL), CMAP_EINVAL);
		assert_int_equal(
		    cmap_store_batch(m, n, NULL, NULL, NULL), CMAP_EINVAL);
		assert_int_equal(
		    cmap_delete_batch(m, n, NULL, NULL), CMAP_EINVAL);
		UNTOUCHED();
	}
#undef UNTOUCHED
	/* the map still works */
	cmap_t *twin = mk_twin();
	assert_int_equal(cmap_store(twin, 1, 10), CMAP_INSERTED);
	assert_int_equal(cmap_store(twin, 0, 11), CMAP_INSERTED);
	checked_batch(m, twin, &md, BK_STORE, 40, keys, vals);
	checked_batch(m, twin, &md, BK_LOAD, 40, keys, NULL);
	checked_batch(m, twin, &md, BK_DELETE, 40, keys, NULL);
	cmap_destroy(twin);
	cmap_destroy(m);
	tu_model_fini(&md);
}

/* ---- re-entrancy: batches from inside an update callback ---- */
struct recur {
	cmap_t *m;     /* the map whose callback runs */
	cmap_t *other; /* another map: batches on it work */
	long fails;
	long other_ok;
};

#define RCHECK(r, cond)                                                        \
	do {                                                                   \
		if (!(cond)) {                                                 \
			(r)->fails++;                                          \
			fprintf(stderr, "  %s:%d: %s\n", __FILE__, __LINE__,   \
			    #cond);                                            \
		}                                                              \
	} while (0)

static void
batches_recurse(struct recur *r)
{
	static const size_t ns[] = {0, 1, 40};
	uint64_t keys[40], vals[40], out[40];
	cmap_status_t st[40];

	for (size_t i = 0; i < 40; i++) {
		keys[i] = i < 3 ? i : (i + 500) * GOLD; /* 0..2 present */
		vals[i] = 7000 + i;
		out[i] = SENT;
		st[i] = POISON;
	}
	RCHECK(r, cmap_load_batch(r->m, 0, NULL, NULL, NULL) == CMAP_ERECURSE);
	RCHECK(r, cmap_store_batch(r->m, 0, NULL, NULL, NULL) == CMAP_ERECURSE);
	RCHECK(r, cmap_delete_batch(r->m, 0, NULL, NULL) == CMAP_ERECURSE);
	for (size_t k = 0; k < sizeof ns / sizeof ns[0]; k++) {
		size_t n = ns[k];

		RCHECK(r,
		    cmap_load_batch(r->m, n, keys, out, st) == CMAP_ERECURSE);
		RCHECK(r,
		    cmap_store_batch(r->m, n, keys, vals, st) == CMAP_ERECURSE);
		RCHECK(
		    r, cmap_delete_batch(r->m, n, keys, st) == CMAP_ERECURSE);
	}
	for (size_t i = 0; i < 40; i++)
		RCHECK(r, st[i] == POISON && out[i] == SENT);
	if (r->other != NULL) {
		/* another map works normally from inside the callback */
		RCHECK(r,
		    cmap_store_batch(r->other, 40, keys, vals, st) == CMAP_OK);
		RCHECK(
		    r, cmap_load_batch(r->other, 40, keys, out, st) == CMAP_OK);
		for (size_t i = 0; i < 40; i++)
			RCHECK(r, st[i] == CMAP_OK && out[i] == vals[i]);
		RCHECK(r, cmap_delete_batch(r->other, 40, keys, st) == CMAP_OK);
		for (size_t i = 0; i < 40; i++)
			RCHECK(r, st[i] == CMAP_OK);
		RCHECK(r, cmap_len(r->other) == 0);
		r->other_ok++;
	}
}

static cmap_update_action_t
recur_cb(uint64_t key, uint64_t *value, bool present, void *ctx)
{
	(void)key;
	batches_recurse(ctx);
	*value = present ? *value + 1 : 99;
	return CMAP_UPDATE_STORE;
}

/* The callback of an update on `other` batches on `m`, which no callback
 * guards: that works. */
static cmap_update_action_t
cross_cb(uint64_t key, uint64_t *value, bool present, void *ctx)
{
	struct recur *r = ctx;
	uint64_t keys[3] = {0, 1, 2}, out[3] = {SENT, SENT, SENT};
	cmap_status_t st[3];

	(void)key;
	(void)present;
	RCHECK(r, cmap_load_batch(r->m, 3, keys, out, st) == CMAP_OK);
	RCHECK(r, st[0] == CMAP_OK && st[1] == CMAP_OK && st[2] == CMAP_OK);
	r->other_ok++;
	*value = 1;
	return CMAP_UPDATE_STORE;
}

static void
test_recursion(void **state)
{
	(void)state;
	cmap_t *m = mk(), *other = mk();
	struct tu_model md;
	struct recur r = {m, NULL, 0, 0};
	uint64_t out = SENT;

	tu_model_init(&md);
	for (uint64_t k = 0; k < 3; k++)
		fill(m, NULL, &md, k, k + 10);
	/* present key */
	assert_int_equal(cmap_update(m, 1, recur_cb, &r, &out), CMAP_OK);
	assert_int_equal(r.fails, 0);
	assert_true(out == 12);
	tu_model_put(&md, 1, 12);
	tu_assert_map_equals_model(m, &md);
	/* absent key, with another map batched inside */
	r.other = other;
	assert_int_equal(
	    cmap_update(m, 12345, recur_cb, &r, &out), CMAP_INSERTED);
	assert_int_equal(r.fails, 0);
	assert_true(r.other_ok >= 1);
	assert_true(out == 99);
	tu_model_put(&md, 12345, 99);
	tu_assert_map_equals_model(m, &md);
	/* inside other's callback, m is free */
	r.other_ok = 0;
	assert_int_equal(
	    cmap_update(other, 5, cross_cb, &r, &out), CMAP_INSERTED);
	assert_int_equal(r.fails, 0);
	assert_true(r.other_ok >= 1);
	/* after the callbacks, batches on m work again */
	{
		uint64_t keys[2] = {1, 12345}, vals[2];
		cmap_status_t st[2];

		assert_int_equal(
		    cmap_load_batch(m, 2, keys, vals, st), CMAP_OK);
		assert_true(st[0] == CMAP_OK && vals[0] == 12);
		assert_true(st[1] == CMAP_OK && vals[1] == 99);
	}
	cmap_destroy(m);
	cmap_destroy(other);
	tu_model_fini(&md);
}

/* ===================================================================
 * Allocation failure
 * ================================================================= */

static cmap_t *
mk_failing(struct tu_alloc *al, size_t capacity)
{
	cmap_config_t cfg;

	tu_alloc_init(al);
	tu_config_init(&cfg, g_v->backend);
	cfg.shards = g_v->shards;
	cfg.capacity = capacity;
	cfg.seed = 12345;
	tu_alloc_install(al, &cfg);
	return route(tu_create_cfg(&cfg));
}

static void
assert_no_leak(struct tu_alloc *al)
{
	assert_int_equal(atomic_load(&al->live_bytes), 0);
	assert_int_equal(atomic_load(&al->allocs), atomic_load(&al->frees));
}

/*
 * A store batch's statuses, checked in order against the model: a success
 * is what the store gives (then the model takes the value), an error may
 * only be CMAP_ENOMEM of a key that was absent (it changed nothing).  The
 * batch's return value must be the first error, or CMAP_OK.  Returns the
 * number of ENOMEM statuses.
 */
static size_t
check_store_statuses(struct tu_model *md, size_t n, const uint64_t *keys,
    const uint64_t *vals, const cmap_status_t *st, cmap_status_t ret)
{
	cmap_status_t first = CMAP_OK;
	size_t enomem = 0;

	for (size_t i = 0; i < n; i++) {
		bool present = tu_model_get(md, keys[i], NULL);

		if (st[i] == CMAP_ENOMEM) {
			if (present)
				fail_msg("%s: key %zu (%#llx) was present: an "
				         "overwrite returned ENOMEM",
				    g_v->name, i, (unsigned long long)keys[i]);
			if (first == CMAP_OK)
				first = st[i];
			enomem++;
			continue;
		}
		if (st[i] != (present ? CMAP_OK : CMAP_INSERTED))
			fail_msg("%s: key %zu (%#llx): %s, expected %s",
			    g_v->name, i, (unsigned long long)keys[i],
			    cmap_status_name(st[i]),
			    present ? "OK" : "INSERTED");
		tu_model_put(md, keys[i], vals[i]);
	}
	if (ret != first)
		fail_msg("%s: the batch returned %s, its first error is %s",
		    g_v->name, cmap_status_name(ret), cmap_status_name(first));
	return enomem;
}

/* A fresh map of the variant through *al, holding 8 keys. */
static cmap_t *
mk_failing8(struct tu_alloc *al, struct tu_model *md)
{
	cmap_t *m = mk_failing(al, 0);

	tu_model_init(md);
	for (uint64_t k = 1; k <= 8; k++) {
		assert_int_equal(cmap_store(m, k * GOLD, k), CMAP_INSERTED);
		tu_model_put(md, k * GOLD, k);
	}
	return m;
}

/* A store batch of B keys: every 10th an overwrite of one of the 8 keys
 * of mk_failing8, every 7th a new key of earlier in the batch again, the
 * others new (edge keys among them). */
static void
sweep_keys(size_t B, uint64_t *keys, uint64_t *vals)
{
	for (size_t i = 0; i < B; i++) {
		if (i % 10 == 0)
			keys[i] = (i / 10 % 8 + 1) * GOLD;
		else if (i % 7 == 0)
			keys[i] = keys[i / 2];
		else
			keys[i] = i < 4 ? tu_edge_values[i] : (i + 100) * GOLD;
		vals[i] = ~(uint64_t)i;
	}
}

/*
 * The smallest store batch (of 300, 1,000, 3,000, 10,000 keys) that makes
 * the map of mk_failing8 grow, i.e. allocate: a backend whose smallest
 * table already holds 300 keys (or whose shards share them out) gets a
 * larger one.  Then for n = 1, 2, ... (every n up to 32, then steps of a
 * quarter): the same fresh map and batch with the n-th allocation from
 * the start of the batch failing, until the batch makes fewer than n
 * allocations.
 */
static void
test_alloc_fail_sweep(void **state)
{
	(void)state;
	static const size_t sizes[] = {300, 1000, 3000, 10000};
	uint64_t *keys = NULL, *vals = NULL;
	cmap_status_t *st = NULL;
	long n, enomem_batches = 0, absorbed_batches = 0, sweeps = 0,
	        allocs = 0;
	size_t B = 0;

	if (!in_memory()) {
		print_message("    %s: no table in the allocator (entries in "
		              "its file or server): no growth to fail\n",
		    g_v->name);
		return;
	}
	for (size_t z = 0; z < sizeof sizes / sizeof sizes[0]; z++) {
		struct tu_alloc al;
		struct tu_model md;
		cmap_t *m = mk_failing8(&al, &md);
		long a0 = atomic_load(&al.allocs);

		B = sizes[z];
		keys = realloc(keys, B * sizeof *keys);
		vals = realloc(vals, B * sizeof *vals);
		st = realloc(st, B * sizeof *st);
		assert_non_null(keys);
		assert_non_null(vals);
		assert_non_null(st);
		sweep_keys(B, keys, vals);
		assert_int_equal(
		    cmap_store_batch(m, B, keys, vals, st), CMAP_OK);
		allocs = atomic_load(&al.allocs) - a0;
		cmap_destroy(m);
		tu_model_fini(&md);
		assert_no_leak(&al);
		if (allocs > 0)
			break;
	}
	/* every backend's table grows somewhere below 10,000 new keys */
	assert_true(allocs > 0);
	for (n = 1; n < MAX_N; n += n < 32 ? 1 : n / 4) {
		struct tu_alloc al;
		struct tu_model md;
		cmap_t *m = mk_failing8(&al, &md);
		cmap_status_t ret;
		long failed0, left;
		size_t ne;

		failed0 = atomic_load(&al.failed);
		for (size_t i = 0; i < B; i++)
			st[i] = POISON;
		tu_alloc_fail_nth(&al, n);
		ret = cmap_store_batch(m, B, keys, vals, st);
		left = atomic_load(&al.fail_at);
		tu_alloc_fail_nth(&al, 0);
		ne = check_store_statuses(&md, B, keys, vals, st, ret);
		if (atomic_load(&al.failed) == failed0)
			assert_int_equal(ne, 0); /* no failure, no error */
		/* keys with an error absent, the others hold their value */
		tu_assert_map_equals_model(m, &md);
		if (ret == CMAP_ENOMEM)
			enomem_batches++;
		else if (atomic_load(&al.failed) != failed0)
			absorbed_batches++;
		/* the map works afterwards: the same batch completes */
		for (size_t i = 0; i < B; i++)
			st[i] = POISON;
		ret = cmap_store_batch(m, B, keys, vals, st);
		assert_int_equal(
		    check_store_statuses(&md, B, keys, vals, st, ret), 0);
		assert_int_equal(ret, CMAP_OK);
		tu_assert_map_equals_model(m, &md);
		cmap_destroy(m);
		tu_model_fini(&md);
		assert_no_leak(&al);
		sweeps++;
		if (left > 0)
			break; /* the batch made fewer than n allocations */
	}
	assert_true(n < MAX_N);
	/* failing an allocation of the growth fails an insert, or the table
	 * absorbs it (the table core retries its growth from 3/4 to 7/8
	 * full: src/table.c, RESIZE) */
	assert_true(enomem_batches + absorbed_batches > 0);
	print_message("    %s: batch of %zu keys, %ld allocations; %ld "
	              "failure points tried, %ld batches returned ENOMEM, "
	              "%ld absorbed a refusal\n",
	    g_v->name, B, allocs, sweeps, enomem_batches, absorbed_batches);
	free(keys);
	free(vals);
	free(st);
}

/* With every allocation failing: overwrites, loads and deletes in batches
 * succeed; inserts beyond the capacity may fail, inserts within the
 * capacity hint never do. */
static void
test_alloc_fail_all(void **state)
{
	(void)state;
	enum { B = 2000 };
	static uint64_t keys[B], vals[B], out[B];
	static cmap_status_t st[B];
	struct tu_alloc al;
	struct tu_model md;
	cmap_t *m = mk_failing(&al, 0);
	size_t ne;
	cmap_status_t ret;

	tu_model_init(&md);
	for (uint64_t k = 1; k <= 8; k++) {
		assert_int_equal(cmap_store(m, k * GOLD, k), CMAP_INSERTED);
		tu_model_put(&md, k * GOLD, k);
	}
	for (size_t i = 0; i < B; i++) {
		keys[i] = i % 4 == 0 ? (i / 4 % 8 + 1) * GOLD : (i + 9) * GOLD;
		vals[i] = i;
	}
	atomic_store(&al.fail_permille, 1000);
	ret = cmap_store_batch(m, B, keys, vals, st);
	ne = check_store_statuses(&md, B, keys, vals, st, ret);
	tu_assert_map_equals_model(m, &md);
	/* loads and deletes never allocate */
	assert_int_equal(cmap_load_batch(m, B, keys, out, st), CMAP_OK);
	for (size_t i = 0; i < B; i++) {
		uint64_t v;
		bool present = tu_model_get(&md, keys[i], &v);

		assert_int_equal(st[i], present ? CMAP_OK : CMAP_NOT_FOUND);
		if (present)
			assert_true(out[i] == v);
	}
	assert_int_equal(cmap_delete_batch(m, B, keys, st), CMAP_OK);
	for (size_t i = 0; i < B; i++) {
		bool present = tu_model_del(&md, keys[i]);

		assert_int_equal(st[i], present ? CMAP_OK : CMAP_NOT_FOUND);
	}
	tu_assert_map_equals_model(m, &md);
	atomic_store(&al.fail_permille, 0);
	print_message("    %s: %zu of %d stores ENOMEM with every allocation "
	              "failing\n",
	    g_v->name, ne, B);
	cmap_destroy(m);
	assert_no_leak(&al);

	/* within the capacity hint: no allocation at all */
	m = mk_failing(&al, B);
	atomic_store(&al.fail_permille, 1000);
	for (size_t i = 0; i < B; i++)
		keys[i] = (i + 1) * GOLD;
	assert_int_equal(cmap_store_batch(m, B, keys, vals, st), CMAP_OK);
	for (size_t i = 0; i < B; i++)
		assert_int_equal(st[i], CMAP_INSERTED);
	assert_int_equal(cmap_len(m), B);
	assert_int_equal(cmap_delete_batch(m, B, keys, st), CMAP_OK);
	assert_int_equal(cmap_len(m), 0);
	atomic_store(&al.fail_permille, 0);
	cmap_destroy(m);
	tu_model_fini(&md);
	assert_no_leak(&al);
}

/* A thread that never used the map batches on it while every allocation
 * fails (whatever per-thread state a backend would set up for it cannot
 * be had): loads, overwrites and deletes still succeed. */
struct fresh {
	cmap_t *m;
	long fails;
};

static void
fresh_worker(int t, void *arg)
{
	struct fresh *f = arg;
	uint64_t keys[64], vals[64];
	cmap_status_t st[64];

	(void)t;
	for (size_t i = 0; i < 64; i++)
		keys[i] = (i % 8 + 1) * GOLD; /* the 8 keys, each 8 times */
	f->fails += cmap_load_batch(f->m, 64, keys, vals, st) != CMAP_OK;
	for (size_t i = 0; i < 64; i++) {
		f->fails += st[i] != CMAP_OK || vals[i] != i % 8 + 1;
		vals[i] = 100 + i;
	}
	f->fails += cmap_store_batch(f->m, 64, keys, vals, st) != CMAP_OK;
	for (size_t i = 0; i < 64; i++)
		f->fails += st[i] != CMAP_OK;
	f->fails += cmap_load_batch(f->m, 8, keys, vals, st) != CMAP_OK;
	for (size_t i = 0; i < 8; i++)
		f->fails += st[i] != CMAP_OK || vals[i] != 100 + 56 + i;
	f->fails += cmap_delete_batch(f->m, 64, keys, st) != CMAP_OK;
	for (size_t i = 0; i < 64; i++)
		f->fails += st[i] != (i < 8 ? CMAP_OK : CMAP_NOT_FOUND);
}

static void
test_alloc_fail_fresh_thread(void **state)
{
	(void)state;
	struct tu_alloc al;
	struct tu_model md;
	struct fresh f;

	if (!tu_has(g_v->backend, CMAP_CAP_THREAD_SAFE))
		skip();
	f.m = mk_failing8(&al, &md);
	f.fails = 0;
	atomic_store(&al.fail_permille, 1000);
	tu_run_threads(1, fresh_worker, &f);
	atomic_store(&al.fail_permille, 0);
	assert_int_equal(f.fails, 0);
	assert_int_equal(cmap_len(f.m), 0);
	cmap_destroy(f.m);
	tu_model_fini(&md);
	assert_no_leak(&al);
}

/* ===================================================================
 * Stress (thread-safe variants)
 * ================================================================= */
#define NT 4
#define OWN 1024  /* keys of each thread's own range */
#define SHARED 64 /* keys every thread adds to and batch-loads */
#define MAXB 100  /* batch sizes 1..MAXB */

struct stress {
	cmap_t *m;
	long rounds;
	uint64_t own[NT][OWN];
	uint64_t shared[SHARED];
	atomic_ullong started[SHARED]; /* adds begun on each shared key */
	/* per thread, written by its thread only, read after the join */
	bool present[NT][OWN];
	uint64_t value[NT][OWN];
	uint64_t adds[NT][SHARED];
	long batches[NT], keys_done[NT];
	long overlapped[NT]; /* batches begun while another was running */
	atomic_int inside;   /* threads inside a batch call now */
};

static atomic_long g_wfails;

static void
wfail(int line, const char *what)
{
	if (atomic_fetch_add(&g_wfails, 1) < 10)
		fprintf(stderr, "  [%s] %s:%d: check failed: %s\n",
		    g_v ? g_v->name : "?", __FILE__, line, what);
}

#define WCHECK(cond)                                                           \
	do {                                                                   \
		if (!(cond))                                                   \
			wfail(__LINE__, #cond);                                \
	} while (0)

static void
stress_worker(int t, void *arg)
{
	struct stress *s = arg;
	tu_rng_t r = {UINT64_C(0xba7c4) + (uint64_t)t * GOLD};
	uint64_t keys[MAXB], vals[MAXB];
	size_t idx[MAXB];
	bool shared[MAXB];
	cmap_status_t st[MAXB];
	uint64_t seen[SHARED] = {0}; /* lower bound of each shared key */

	for (long round = 0; round < s->rounds; round++) {
		/* phases of 200 rounds: insert-heavy, then delete-heavy
		 * (few of a thread's own keys stay), so tables grow and shrink
		 * while the others work */
		bool filling = (round / 200) % 2 == 0;
		unsigned pick = (unsigned)tu_rng_below(&r, 20);
		size_t n = (size_t)tu_rng_below(&r, MAXB) + 1;
		cmap_status_t ret;

		if (pick >= 4)
			s->overlapped[t] += atomic_fetch_add(&s->inside, 1) > 0;
		if (pick < 4) {
			/* single adds on shared keys */
			for (int a = 0; a < 4; a++) {
				size_t j = (size_t)tu_rng_below(&r, SHARED);
				uint64_t res = 0;
				cmap_status_t sa;

				atomic_fetch_add(&s->started[j], 1);
				sa = cmap_add(s->m, s->shared[j], 1, &res);

				WCHECK(sa == CMAP_OK || sa == CMAP_INSERTED);
				WCHECK(res > seen[j]);
				WCHECK(res <= atomic_load(&s->started[j]));
				seen[j] = res;
				s->adds[t][j]++;
			}
			continue;
		}
		if (pick < 10) {
			/* load batch: own keys and shared ones */
			for (size_t i = 0; i < n; i++) {
				shared[i] = tu_rng_below(&r, 3) == 0;
				idx[i] = (size_t)tu_rng_below(
				    &r, shared[i] ? SHARED : OWN);
				keys[i] = shared[i] ? s->shared[idx[i]]
				                    : s->own[t][idx[i]];
				vals[i] = SENT;
				st[i] = POISON;
			}
			ret = cmap_load_batch(s->m, n, keys, vals, st);
			WCHECK(ret == CMAP_OK);
			for (size_t i = 0; i < n; i++) {
				size_t j = idx[i];

				if (!shared[i]) {
					bool p = s->present[t][j];

					WCHECK(st[i] ==
					    (p ? CMAP_OK : CMAP_NOT_FOUND));
					WCHECK(vals[i] ==
					    (p ? s->value[t][j] : SENT));
					continue;
				}
				/* only ever incremented: monotone, and at
				 * most the adds begun by now */
				if (st[i] == CMAP_NOT_FOUND) {
					WCHECK(seen[j] == 0);
					WCHECK(vals[i] == SENT);
					continue;
				}
				WCHECK(st[i] == CMAP_OK);
				WCHECK(vals[i] >= seen[j] && vals[i] >= 1);
				WCHECK(vals[i] <= atomic_load(&s->started[j]));
				seen[j] = vals[i];
			}
		} else if (pick < (filling ? 18u : 11u)) {
			/* store batch of own keys (duplicates possible) */
			for (size_t i = 0; i < n; i++) {
				idx[i] = (size_t)tu_rng_below(&r, OWN);
				keys[i] = s->own[t][idx[i]];
				vals[i] = rnd_value(&r);
				st[i] = POISON;
			}
			ret = cmap_store_batch(s->m, n, keys, vals, st);
			WCHECK(ret == CMAP_OK);
			for (size_t i = 0; i < n; i++) {
				size_t j = idx[i];

				WCHECK(st[i] ==
				    (s->present[t][j] ? CMAP_OK
				                      : CMAP_INSERTED));
				s->present[t][j] = true;
				s->value[t][j] = vals[i];
			}
		} else {
			/* delete batch of own keys */
			for (size_t i = 0; i < n; i++) {
				idx[i] = (size_t)tu_rng_below(&r, OWN);
				keys[i] = s->own[t][idx[i]];
				st[i] = POISON;
			}
			ret = cmap_delete_batch(s->m, n, keys, st);
			WCHECK(ret == CMAP_OK);
			for (size_t i = 0; i < n; i++) {
				size_t j = idx[i];

				WCHECK(st[i] ==
				    (s->present[t][j] ? CMAP_OK
				                      : CMAP_NOT_FOUND));
				s->present[t][j] = false;
			}
		}
		atomic_fetch_sub(&s->inside, 1);
		s->batches[t]++;
		s->keys_done[t] += (long)n;
	}
}

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static void
stress_one(void)
{
	struct stress *s = calloc(1, sizeof *s);
	uint64_t *all = malloc((NT * OWN + SHARED) * sizeof *all);
	struct tu_model md;
	cmap_config_t cfg;
	size_t na = 0;
	long batches = 0, keys = 0, overlapped = 0;

	assert_non_null(s);
	assert_non_null(all);
	/* own keys (the edge keys among them: key 0 is thread 0's) and
	 * shared keys, all distinct */
	for (int t = 0; t < NT; t++)
		for (size_t j = 0; j < OWN; j++) {
			uint64_t k = ((uint64_t)(t + 1) << 40 | j) * GOLD;
			size_t e = j * NT + (size_t)t;

			if (j < 2 && e < tu_n_edge_values)
				k = tu_edge_values[e];
			s->own[t][j] = all[na++] = k;
		}
	for (size_t j = 0; j < SHARED; j++)
		s->shared[j] = all[na++] =
		    ((uint64_t)(NT + 1) << 40 | j) * GOLD;
	qsort(all, na, sizeof *all, cmp_u64);
	for (size_t i = 1; i < na; i++)
		assert_true(all[i] != all[i - 1]);
	free(all);

	tu_config_init(&cfg, g_v->backend);
	cfg.shards = g_v->shards;
	s->m = route(tu_create_cfg(&cfg));
	/* a disk backend commits each write group, a remote one pays a
	 * round trip: a twentieth */
	s->rounds = tu_scaled(STRESS_ROUNDS) / (in_memory() ? 1 : 20);
	for (size_t j = 0; j < SHARED; j++)
		atomic_init(&s->started[j], 0);
	atomic_init(&s->inside, 0);
	atomic_store(&g_wfails, 0);
	atomic_store(&g_trap_calls, 0);
	tu_run_threads(NT, stress_worker, s);
	assert_int_equal(atomic_load(&g_wfails), 0);
	assert_int_equal(atomic_load(&g_trap_calls), 0);

	/* after the join: exactly each thread's own keys as its model
	 * says, and each shared key with the number of adds made to it */
	tu_model_init(&md);
	for (int t = 0; t < NT; t++) {
		for (size_t j = 0; j < OWN; j++)
			if (s->present[t][j])
				tu_model_put(&md, s->own[t][j], s->value[t][j]);
		batches += s->batches[t];
		keys += s->keys_done[t];
		overlapped += s->overlapped[t];
	}
	for (size_t j = 0; j < SHARED; j++) {
		uint64_t sum = 0;

		for (int t = 0; t < NT; t++)
			sum += s->adds[t][j];
		assert_true(sum == atomic_load(&s->started[j]));
		if (sum > 0)
			tu_model_put(&md, s->shared[j], sum);
	}
	tu_assert_map_equals_model(s->m, &md);
	{
		cmap_stats_t stt = stats_of(s->m);

		print_message("    %s: %ld batches (%ld begun while another "
		              "ran), %ld batch keys, %llu grows, %llu "
		              "shrinks\n",
		    g_v->name, batches, overlapped, keys,
		    (unsigned long long)stt.grows,
		    (unsigned long long)stt.shrinks);
	}
	cmap_destroy(s->m);
	tu_model_fini(&md);
	free(s);
}

static void
test_stress(void **state)
{
	size_t ran = 0;

	(void)state;
	for (size_t i = 0; i < g_nv; i++) {
		double t0;

		if (!tu_has(g_vs[i].backend, CMAP_CAP_THREAD_SAFE))
			continue;
		g_v = &g_vs[i];
		t0 = tu_now_s();
		stress_one();
		print_message(
		    "  variant %-16s %.3f s\n", g_v->name, tu_now_s() - t0);
		ran++;
	}
	g_v = NULL;
	if (ran == 0)
		skip();
}

/* ===================================================================
 * Runner
 * ================================================================= */

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

static const struct CMUnitTest variant_tests[] = {
    T(test_empty_batches),
    T(test_sizes),
    T(test_duplicates),
    T(test_edges),
    T(test_grow_shrink),
    T(test_huge_batch),
    T(test_random),
    T(test_range_calls_batch),
    T(test_bad_input),
    T(test_recursion),
    T(test_alloc_fail_sweep),
    T(test_alloc_fail_all),
    T(test_alloc_fail_fresh_thread),
};

static const struct CMUnitTest stress_tests[] = {
    cmocka_unit_test(test_stress),
};

static void
add_variant(const char *b, uint32_t shards, enum path p)
{
	static const char *const suffix[] = {"", "/loop", "/v1"};
	struct variant *v = &g_vs[g_nv++];

	memset(v, 0, sizeof *v);
	v->backend = b;
	v->shards = shards;
	v->path = p;
	if (shards != 0)
		snprintf(v->name, sizeof v->name, "%s/%u%s", b,
		    (unsigned)shards, suffix[p]);
	else
		snprintf(v->name, sizeof v->name, "%s%s", b, suffix[p]);
}

int
main(int argc, char **argv)
{
	const char *all[TU_MAX_BACKENDS];
	size_t nb = tu_backends(all);
	int failed = 0;

	/* An optional argument limits the run to one variant by name
	 * ("plain", "sharded/1", "rwlock/loop", ...) or to "stress". */
	for (size_t i = 0; i < nb; i++) {
		cmap_option_info_t opt;

		add_variant(all[i], 0, PATH_BACKEND);
		if (tu_option(all[i], "shards", &opt)) {
			const uint32_t extra[] = {1, 1024};
			for (size_t e = 0; e < 2; e++)
				if (extra[e] >= opt.min && extra[e] <= opt.max)
					add_variant(
					    all[i], extra[e], PATH_BACKEND);
		}
		/* The front-end loop and the 1.0 descriptor are the
		 * library's code, the same for every backend: checked on
		 * all but a remote one, where it is a round trip per key
		 * (40 s of CI for nothing its own batch path misses). */
		if (tu_has(all[i], CMAP_CAP_REMOTE))
			continue;
		add_variant(all[i], 0, PATH_NULL);
		add_variant(all[i], 0, PATH_V1);
	}
	for (size_t i = 0; i < g_nv; i++) {
		char group[96];

		if (argc > 1 && strcmp(argv[1], g_vs[i].name) != 0)
			continue;
		g_v = &g_vs[i];
		snprintf(group, sizeof group, "batch/%s", g_vs[i].name);
		failed += cmocka_run_group_tests_name(
		    group, variant_tests, NULL, NULL);
	}
	g_v = NULL;
	if (argc <= 1 || strcmp(argv[1], "stress") == 0)
		failed += cmocka_run_group_tests_name(
		    "batch/stress", stress_tests, NULL, NULL);
	return failed != 0;
}
