/*
 * test_contract.c - the conformance suite: every documented result of
 * cmap.h, run unchanged over every backend this build has.
 *
 * One cmocka group per "variant": every backend cmap_backend_at() lists,
 * plus each backend that takes the option "shards" at 1 and 1024 shards
 * besides its default.  A new backend joins by itself; what a test
 * expects of a backend comes from its capabilities (cmap_backend_info),
 * never from its name.  A last group checks what does not depend on a map
 * (names, messages, config defaults).
 *
 * Every map of a test is created through the checking allocator
 * (tu_chk_alloc), and the teardown fails the test when a block leaked or a
 * free() got the wrong size.
 */
#include <limits.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "testutil.h"

#define GOLD UINT64_C(0x9e3779b97f4a7c15)
#define SENT UINT64_C(0x5e5e5e5e5e5e5e5e) /* "untouched" marker */

struct variant {
	const char *backend;
	uint32_t shards; /* 0 = default */
	char name[64];
};

static struct variant g_v;
static struct tu_chk_alloc g_alloc;

static void
cfg_for(cmap_config_t *cfg, size_t capacity)
{
	tu_config_init(cfg, g_v.backend);
	cfg->shards = g_v.shards;
	cfg->capacity = capacity;
	/* a fixed seed: every run probes the same table layouts */
	cfg->seed = UINT64_C(0x243f6a8885a308d3);
	tu_chk_alloc_install(&g_alloc, cfg);
}

static cmap_t *
mk_cap(size_t capacity)
{
	cmap_config_t cfg;

	cfg_for(&cfg, capacity);
	return tu_create_cfg(&cfg);
}

static cmap_t *
mk(void)
{
	return mk_cap(0);
}

/*
 * A CMAP_CAP_REMOTE backend keeps its entries in a server: it has no table
 * in this process whose capacity, resizes, probe lengths or bytes the
 * tests could check, and each operation is a network round trip.  So the
 * table-shape checks are skipped for it, and the long loops run fewer
 * operations (remote_scaled), by capability.
 */
static bool
local_table(void)
{
	return !tu_has(g_v.backend, CMAP_CAP_REMOTE);
}

static uint64_t
remote_scaled(uint64_t n, uint64_t remote_n)
{
	return local_table() ? n : remote_n;
}

static cmap_stats_t
stats_of(cmap_t *m)
{
	cmap_stats_t s;

	memset(&s, 0, sizeof s);
	assert_int_equal(cmap_stats(m, &s), CMAP_OK);
	return s;
}

/* The shard count a map of `backend` gets from cfg.shards == shards: 1
 * for a backend without the option "shards", else shards or the option's
 * default. */
static uint32_t
shards_of(const char *backend, uint32_t shards)
{
	cmap_option_info_t opt;

	if (!tu_option(backend, "shards", &opt))
		return 1;
	if (shards != 0)
		return shards;
	assert_non_null(opt.default_value);
	return (uint32_t)strtoul(opt.default_value, NULL, 0);
}

static uint32_t
expected_shards(void)
{
	return shards_of(g_v.backend, g_v.shards);
}

static int
setup(void **state)
{
	(void)state;
	tu_chk_alloc_init(&g_alloc);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	return tu_chk_alloc_report(&g_alloc);
}

/* The value the key holds; fails the test when absent. */
static uint64_t
getv(cmap_t *m, uint64_t key)
{
	uint64_t v = SENT;

	assert_int_equal(cmap_load(m, key, &v), CMAP_OK);
	return v;
}

static void
assert_absent(cmap_t *m, uint64_t key)
{
	uint64_t v = SENT;

	assert_int_equal(cmap_load(m, key, &v), CMAP_NOT_FOUND);
	assert_true(v == SENT);
}

/* cmap_store(k, v), which must return CMAP_OK when the model holds k and
 * CMAP_INSERTED otherwise; then the same in the model. */
static void
store_model(cmap_t *m, struct tu_model *model, uint64_t k, uint64_t v)
{
	bool present = tu_model_get(model, k, NULL);

	assert_int_equal(
	    cmap_store(m, k, v), present ? CMAP_OK : CMAP_INSERTED);
	tu_model_put(model, k, v);
}

static bool
count_cb(uint64_t key, uint64_t value, void *ctx)
{
	(void)key;
	(void)value;
	(*(size_t *)ctx)++;
	return true;
}

static size_t
range_count(cmap_t *m)
{
	size_t n = 0;

	assert_int_equal(cmap_range(m, count_cb, &n), CMAP_OK);
	return n;
}

/* ===================================================================
 * Single-key operations
 * ================================================================= */

static void
test_empty(void **state)
{
	(void)state;
	cmap_t *m = mk();
	uint64_t v = SENT;

	assert_string_equal(cmap_backend(m), g_v.backend);
	assert_int_equal(cmap_len(m), 0);
	for (size_t i = 0; i < tu_n_edge_values; i++) {
		uint64_t k = tu_edge_values[i];
		assert_absent(m, k);
		assert_int_equal(cmap_delete(m, k), CMAP_NOT_FOUND);
		assert_int_equal(
		    cmap_load_and_delete(m, k, &v), CMAP_NOT_FOUND);
		assert_true(v == SENT);
		assert_int_equal(
		    cmap_compare_and_swap(m, k, 0, 1), CMAP_NOT_FOUND);
		assert_int_equal(
		    cmap_compare_and_delete(m, k, 0), CMAP_NOT_FOUND);
	}
	assert_int_equal(cmap_len(m), 0);
	assert_int_equal(range_count(m), 0);
	cmap_stats_t s = stats_of(m);
	assert_non_null(s.backend);
	assert_string_equal(s.backend, g_v.backend);
	assert_int_equal(s.len, 0);
	assert_int_equal(s.shards, expected_shards());
	assert_true(s.capacity > 0 || !local_table());
	assert_true(s.bytes > 0);
	assert_int_equal(s.grows, 0);
	assert_int_equal(s.shrinks, 0);
	assert_int_equal(s.min_shard_len, 0);
	assert_int_equal(s.max_shard_len, 0);
	assert_int_equal(s.max_probe, 0);
	assert_true(s.mean_probe == 0.0);
	assert_true(s.seed != 0);
	cmap_destroy(m);
}

/* Every edge key with every edge value, alone and all together. */
static void
test_store_load_edges(void **state)
{
	(void)state;
	const size_t n = tu_n_edge_values;
	cmap_t *m = mk();

	for (size_t i = 0; i < n; i++) {
		uint64_t k = tu_edge_values[i];
		for (size_t j = 0; j < n; j++) {
			uint64_t v = tu_edge_values[j];
			assert_int_equal(cmap_store(m, k, v),
			    j == 0 ? CMAP_INSERTED : CMAP_OK);
			assert_int_equal(cmap_len(m), 1);
			assert_true(getv(m, k) == v);
			/* no other edge key appeared */
			for (size_t o = 0; o < n; o++)
				if (o != i)
					assert_absent(m, tu_edge_values[o]);
		}
		assert_int_equal(cmap_delete(m, k), CMAP_OK);
		assert_absent(m, k);
		assert_int_equal(cmap_len(m), 0);
	}
	/* All edge keys at once, each value rotated, then overwritten. */
	for (size_t round = 0; round < n; round++) {
		for (size_t i = 0; i < n; i++)
			assert_int_equal(cmap_store(m, tu_edge_values[i],
			                     tu_edge_values[(i + round) % n]),
			    round == 0 ? CMAP_INSERTED : CMAP_OK);
		assert_int_equal(cmap_len(m), n);
		for (size_t i = 0; i < n; i++)
			assert_true(getv(m, tu_edge_values[i]) ==
			    tu_edge_values[(i + round) % n]);
	}
	/* Delete them one by one; the others stay. */
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(cmap_delete(m, tu_edge_values[i]), CMAP_OK);
		assert_int_equal(
		    cmap_delete(m, tu_edge_values[i]), CMAP_NOT_FOUND);
		assert_int_equal(cmap_len(m), n - i - 1);
		for (size_t o = i + 1; o < n; o++)
			(void)getv(m, tu_edge_values[o]);
	}
	/* Edge keys mixed with many ordinary keys (forces resizes while
	 * edge keys are in the table). */
	struct tu_model model;
	tu_model_init(&model);
	for (size_t i = 0; i < n; i++)
		store_model(m, &model, tu_edge_values[i], i);
	for (uint64_t i = 2; i < 5000; i++)
		store_model(m, &model, i * GOLD, ~i);
	tu_assert_map_equals_model(m, &model);
	for (uint64_t i = 2; i < 5000; i++) {
		assert_int_equal(cmap_delete(m, i * GOLD), CMAP_OK);
		tu_model_del(&model, i * GOLD);
	}
	tu_assert_map_equals_model(m, &model);
	tu_model_fini(&model);
	cmap_destroy(m);
}

static void
test_load_or_store(void **state)
{
	(void)state;
	cmap_t *m = mk();
	const size_t n = tu_n_edge_values;

	for (size_t i = 0; i < n; i++) {
		for (size_t j = 0; j < n; j++) {
			uint64_t k = tu_edge_values[i];
			uint64_t v = tu_edge_values[j];
			uint64_t other = tu_edge_values[(j + 1) % n];
			uint64_t actual = SENT;

			assert_int_equal(cmap_load_or_store(m, k, v, &actual),
			    CMAP_INSERTED);
			assert_true(actual == v);
			assert_true(getv(m, k) == v);
			actual = SENT;
			assert_int_equal(
			    cmap_load_or_store(m, k, other, &actual), CMAP_OK);
			assert_true(actual == v);
			assert_true(getv(m, k) == v);
			assert_int_equal(cmap_len(m), 1);
			assert_int_equal(cmap_delete(m, k), CMAP_OK);
		}
	}
	assert_int_equal(cmap_len(m), 0);
	cmap_destroy(m);
}

static void
test_load_and_delete(void **state)
{
	(void)state;
	cmap_t *m = mk();
	const size_t n = tu_n_edge_values;

	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; j < n; j++) {
			uint64_t k = tu_edge_values[i];
			uint64_t v = tu_edge_values[j];
			uint64_t got = SENT;

			assert_int_equal(cmap_store(m, k, v), CMAP_INSERTED);
			assert_int_equal(
			    cmap_load_and_delete(m, k, &got), CMAP_OK);
			assert_true(got == v);
			assert_absent(m, k);
			got = SENT;
			assert_int_equal(
			    cmap_load_and_delete(m, k, &got), CMAP_NOT_FOUND);
			assert_true(got == SENT);
			assert_int_equal(cmap_len(m), 0);
		}
	/* delete / load_and_delete leave the other keys alone */
	for (size_t i = 0; i < n; i++)
		assert_int_equal(
		    cmap_store(m, tu_edge_values[i], i), CMAP_INSERTED);
	for (size_t i = 0; i < n; i += 2) {
		uint64_t got = SENT;
		assert_int_equal(
		    cmap_load_and_delete(m, tu_edge_values[i], &got), CMAP_OK);
		assert_true(got == i);
	}
	for (size_t i = 0; i < n; i++) {
		if (i % 2 == 0)
			assert_absent(m, tu_edge_values[i]);
		else
			assert_true(getv(m, tu_edge_values[i]) == i);
	}
	assert_int_equal(cmap_len(m), n / 2);
	cmap_destroy(m);
}

static void
test_swap(void **state)
{
	(void)state;
	cmap_t *m = mk();
	const size_t n = tu_n_edge_values;

	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; j < n; j++) {
			uint64_t k = tu_edge_values[i];
			uint64_t v = tu_edge_values[j];
			uint64_t w = tu_edge_values[(j + 3) % n];
			uint64_t prev = SENT;

			assert_int_equal(
			    cmap_swap(m, k, v, &prev), CMAP_INSERTED);
			assert_true(prev == SENT);
			assert_true(getv(m, k) == v);
			assert_int_equal(cmap_swap(m, k, w, &prev), CMAP_OK);
			assert_true(prev == v);
			assert_true(getv(m, k) == w);
			/* previous is optional */
			assert_int_equal(cmap_swap(m, k, v, NULL), CMAP_OK);
			assert_true(getv(m, k) == v);
			assert_int_equal(cmap_delete(m, k), CMAP_OK);
			assert_int_equal(
			    cmap_swap(m, k, w, NULL), CMAP_INSERTED);
			assert_true(getv(m, k) == w);
			assert_int_equal(cmap_len(m), 1);
			assert_int_equal(cmap_delete(m, k), CMAP_OK);
		}
	cmap_destroy(m);
}

static void
test_compare_and_swap(void **state)
{
	(void)state;
	cmap_t *m = mk();
	const size_t n = tu_n_edge_values;

	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; j < n; j++) {
			uint64_t k = tu_edge_values[i];
			uint64_t v = tu_edge_values[j];

			/* absent: never inserts */
			assert_int_equal(
			    cmap_compare_and_swap(m, k, v, v), CMAP_NOT_FOUND);
			assert_int_equal(
			    cmap_compare_and_swap(m, k, 0, v), CMAP_NOT_FOUND);
			assert_absent(m, k);
			assert_int_equal(cmap_len(m), 0);

			assert_int_equal(cmap_store(m, k, v), CMAP_INSERTED);
			for (size_t e = 0; e < n; e++) {
				uint64_t ex = tu_edge_values[e];
				if (ex == v)
					continue;
				assert_int_equal(
				    cmap_compare_and_swap(m, k, ex, ex),
				    CMAP_MISMATCH);
				assert_true(getv(m, k) == v);
			}
			/* expected == desired succeeds and keeps the value */
			assert_int_equal(
			    cmap_compare_and_swap(m, k, v, v), CMAP_OK);
			assert_true(getv(m, k) == v);
			for (size_t d = 0; d < n; d++) {
				uint64_t cur = getv(m, k);
				uint64_t des = tu_edge_values[d];
				assert_int_equal(
				    cmap_compare_and_swap(m, k, cur, des),
				    CMAP_OK);
				assert_true(getv(m, k) == des);
			}
			assert_int_equal(cmap_len(m), 1);
			assert_int_equal(cmap_delete(m, k), CMAP_OK);
		}
	cmap_destroy(m);
}

static void
test_compare_and_delete(void **state)
{
	(void)state;
	cmap_t *m = mk();
	const size_t n = tu_n_edge_values;

	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; j < n; j++) {
			uint64_t k = tu_edge_values[i];
			uint64_t v = tu_edge_values[j];

			assert_int_equal(
			    cmap_compare_and_delete(m, k, v), CMAP_NOT_FOUND);
			assert_int_equal(cmap_store(m, k, v), CMAP_INSERTED);
			for (size_t e = 0; e < n; e++) {
				if (tu_edge_values[e] == v)
					continue;
				assert_int_equal(cmap_compare_and_delete(
				                     m, k, tu_edge_values[e]),
				    CMAP_MISMATCH);
				assert_true(getv(m, k) == v);
			}
			assert_int_equal(
			    cmap_compare_and_delete(m, k, v), CMAP_OK);
			assert_absent(m, k);
			assert_int_equal(cmap_len(m), 0);
			assert_int_equal(
			    cmap_compare_and_delete(m, k, v), CMAP_NOT_FOUND);
		}
	cmap_destroy(m);
}

static void
test_add(void **state)
{
	(void)state;
	cmap_t *m = mk();
	const size_t n = tu_n_edge_values;
	uint64_t r;

	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; j < n; j++) {
			uint64_t k = tu_edge_values[i];
			uint64_t d = tu_edge_values[j];
			uint64_t d2 = tu_edge_values[(j + 2) % n];

			/* absent counts as 0 and is inserted with delta */
			r = SENT;
			assert_int_equal(cmap_add(m, k, d, &r), CMAP_INSERTED);
			assert_true(r == d);
			assert_true(getv(m, k) == d);
			/* modulo 2^64 */
			r = SENT;
			assert_int_equal(cmap_add(m, k, d2, &r), CMAP_OK);
			assert_true(r == (uint64_t)(d + d2));
			assert_true(getv(m, k) == (uint64_t)(d + d2));
			/* subtract with the two's complement */
			assert_int_equal(
			    cmap_add(m, k, (uint64_t)0 - d2, NULL), CMAP_OK);
			assert_true(getv(m, k) == d);
			assert_int_equal(cmap_len(m), 1);
			assert_int_equal(cmap_delete(m, k), CMAP_OK);
		}
	/* explicit wrap-around */
	assert_int_equal(cmap_store(m, 7, UINT64_MAX), CMAP_INSERTED);
	assert_int_equal(cmap_add(m, 7, 1, &r), CMAP_OK);
	assert_true(r == 0);
	assert_true(getv(m, 7) == 0);
	assert_int_equal(cmap_add(m, 7, UINT64_MAX, &r), CMAP_OK);
	assert_true(r == UINT64_MAX);
	assert_int_equal(cmap_add(m, 7, UINT64_MAX, &r), CMAP_OK);
	assert_true(r == UINT64_MAX - 1);
	/* add 0 to an absent key inserts 0; result optional */
	assert_int_equal(cmap_add(m, 8, 0, NULL), CMAP_INSERTED);
	assert_true(getv(m, 8) == 0);
	assert_int_equal(cmap_len(m), 2);
	/* many adds accumulate */
	for (uint64_t i = 1; i <= 1000; i++)
		assert_int_equal(
		    cmap_add(m, 9, i, NULL), i == 1 ? CMAP_INSERTED : CMAP_OK);
	assert_true(getv(m, 9) == 500500);
	cmap_destroy(m);
}

/* ---- update ---- */
struct upd {
	int action;      /* returned by the callback */
	uint64_t newval; /* written to *value */
	bool scribble;   /* write newval even when not storing */
	int calls;
	uint64_t seen_key;
	bool seen_present;
	uint64_t seen_value;
};

static cmap_update_action_t
upd_cb(uint64_t key, uint64_t *value, bool present, void *ctx)
{
	struct upd *u = ctx;

	u->calls++;
	u->seen_key = key;
	u->seen_present = present;
	u->seen_value = *value;
	if (u->action == CMAP_UPDATE_STORE || u->scribble)
		*value = u->newval;
	return (cmap_update_action_t)u->action;
}

/* The callback ran once per call, or at least once where the backend
 * lacks CMAP_CAP_UPDATE_ONCE. */
static void
check_calls(int calls)
{
	if (tu_has(g_v.backend, CMAP_CAP_UPDATE_ONCE))
		assert_int_equal(calls, 1);
	else
		assert_true(calls >= 1);
}

static void
test_update_actions(void **state)
{
	(void)state;
	cmap_t *m = mk();
	const size_t n = tu_n_edge_values;

	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; j < n; j++) {
			uint64_t k = tu_edge_values[i];
			uint64_t v = tu_edge_values[j];
			uint64_t w = tu_edge_values[(j + 1) % n];
			uint64_t out = SENT;
			struct upd u;

			/* KEEP on absent: not inserted, saw present=false
			 * and value 0, even when it scribbles on *value */
			u = (struct upd){.action = CMAP_UPDATE_KEEP,
			    .newval = v,
			    .scribble = true};
			assert_int_equal(cmap_update(m, k, upd_cb, &u, &out),
			    CMAP_NOT_FOUND);
			check_calls(u.calls);
			assert_true(u.seen_key == k);
			assert_false(u.seen_present);
			assert_true(u.seen_value == 0);
			assert_true(out == SENT);
			assert_absent(m, k);

			/* DELETE on absent: no-op */
			u = (struct upd){.action = CMAP_UPDATE_DELETE};
			assert_int_equal(cmap_update(m, k, upd_cb, &u, &out),
			    CMAP_NOT_FOUND);
			assert_true(out == SENT);
			assert_absent(m, k);
			assert_int_equal(cmap_len(m), 0);

			/* STORE on absent: inserts */
			u = (struct upd){
			    .action = CMAP_UPDATE_STORE, .newval = v};
			assert_int_equal(
			    cmap_update(m, k, upd_cb, &u, &out), CMAP_INSERTED);
			check_calls(u.calls);
			assert_false(u.seen_present);
			assert_true(out == v);
			assert_true(getv(m, k) == v);
			assert_int_equal(cmap_len(m), 1);

			/* KEEP on present: sees the value, keeps it even
			 * when it scribbles */
			u = (struct upd){.action = CMAP_UPDATE_KEEP,
			    .newval = w,
			    .scribble = true};
			out = SENT;
			assert_int_equal(
			    cmap_update(m, k, upd_cb, &u, &out), CMAP_OK);
			check_calls(u.calls);
			assert_true(u.seen_key == k);
			assert_true(u.seen_present);
			assert_true(u.seen_value == v);
			assert_true(out == v);
			assert_true(getv(m, k) == v);

			/* STORE on present: overwrites; value_out optional */
			u = (struct upd){
			    .action = CMAP_UPDATE_STORE, .newval = w};
			assert_int_equal(
			    cmap_update(m, k, upd_cb, &u, NULL), CMAP_OK);
			assert_true(u.seen_present);
			assert_true(u.seen_value == v);
			assert_true(getv(m, k) == w);
			assert_int_equal(cmap_len(m), 1);

			/* DELETE on present: OK (the key was present), and
			 * *value_out the value it had, whatever the callback
			 * scribbled */
			u = (struct upd){.action = CMAP_UPDATE_DELETE,
			    .newval = v,
			    .scribble = true};
			out = SENT;
			assert_int_equal(
			    cmap_update(m, k, upd_cb, &u, &out), CMAP_OK);
			check_calls(u.calls);
			assert_true(u.seen_present);
			assert_true(u.seen_value == w);
			assert_true(out == w);
			assert_absent(m, k);
			assert_int_equal(cmap_len(m), 0);
		}
	cmap_destroy(m);
}

static void
test_update_invalid_action(void **state)
{
	(void)state;
	cmap_t *m = mk();
	struct tu_model model;
	const int bad[] = {3, 4, 7, 1000, INT_MAX, -1};

	tu_model_init(&model);
	for (uint64_t i = 0; i < 100; i++)
		store_model(m, &model, i, i * 10);
	for (size_t b = 0; b < sizeof bad / sizeof bad[0]; b++) {
		for (size_t e = 0; e < tu_n_edge_values; e++) {
			uint64_t k = tu_edge_values[e];
			struct upd u = {.action = bad[b],
			    .newval = 12345,
			    .scribble = true};
			uint64_t out = SENT;
			bool present = tu_model_get(&model, k, NULL);

			assert_int_equal(
			    cmap_update(m, k, upd_cb, &u, &out), CMAP_EINVAL);
			assert_true(u.calls >= 1);
			assert_true(out == SENT);
			assert_int_equal(u.seen_present, present);
			tu_assert_map_equals_model(m, &model);
			/* the map stays usable: the key lock / guard was
			 * released */
			store_model(m, &model, k, k ^ 1);
			u = (struct upd){.action = CMAP_UPDATE_KEEP};
			assert_int_equal(
			    cmap_update(m, k, upd_cb, &u, &out), CMAP_OK);
			assert_true(out == (k ^ 1));
		}
	}
	tu_assert_map_equals_model(m, &model);
	tu_model_fini(&model);
	cmap_destroy(m);
}

/* ---- re-entrancy ---- */
struct recur {
	cmap_t *m;     /* the map being updated */
	cmap_t *other; /* another map */
	size_t len_before;
	size_t len_alt; /* also accepted for len inside the callback (an
	                   update of an absent key is a write in progress) */
	int failures;   /* checks that failed inside the callback */
	int stage;      /* 0 = outer callback, 1 = inside other's range */
	int range_calls;
	cmap_update_action_t ret;
	uint64_t newval;
};

#define RCHECK(r, cond)                                                        \
	do {                                                                   \
		if (!(cond)) {                                                 \
			fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, \
			    __LINE__, #cond);                                  \
			(r)->failures++;                                       \
		}                                                              \
	} while (0)

static bool
never_cb(uint64_t key, uint64_t value, void *ctx)
{
	(void)key;
	(void)value;
	(*(int *)ctx)++;
	return true;
}

/* Every call on r->m must answer CMAP_ERECURSE and change nothing. */
static void
all_calls_recurse(struct recur *r)
{
	cmap_t *m = r->m;
	uint64_t v = SENT;
	int calls = 0;
	cmap_stats_t st;
	struct upd u = {.action = CMAP_UPDATE_STORE, .newval = 1};

	RCHECK(r, cmap_load(m, 1, &v) == CMAP_ERECURSE);
	RCHECK(r, cmap_load(m, 424242, &v) == CMAP_ERECURSE);
	RCHECK(r, v == SENT);
	RCHECK(r, cmap_store(m, 1, 99) == CMAP_ERECURSE);
	RCHECK(r, cmap_store(m, 424242, 99) == CMAP_ERECURSE);
	RCHECK(r, cmap_load_or_store(m, 424242, 1, &v) == CMAP_ERECURSE);
	RCHECK(r, cmap_load_or_store(m, 1, 1, &v) == CMAP_ERECURSE);
	RCHECK(r, v == SENT);
	RCHECK(r, cmap_load_and_delete(m, 1, &v) == CMAP_ERECURSE);
	RCHECK(r, v == SENT);
	RCHECK(r, cmap_delete(m, 1) == CMAP_ERECURSE);
	RCHECK(r, cmap_delete(m, 2) == CMAP_ERECURSE);
	RCHECK(r, cmap_swap(m, 1, 5, &v) == CMAP_ERECURSE);
	RCHECK(r, cmap_swap(m, 424242, 5, NULL) == CMAP_ERECURSE);
	RCHECK(r, v == SENT);
	RCHECK(r, cmap_compare_and_swap(m, 1, 10, 11) == CMAP_ERECURSE);
	RCHECK(r, cmap_compare_and_delete(m, 1, 10) == CMAP_ERECURSE);
	RCHECK(r, cmap_add(m, 1, 1, &v) == CMAP_ERECURSE);
	RCHECK(r, cmap_add(m, 424242, 1, NULL) == CMAP_ERECURSE);
	RCHECK(r, v == SENT);
	RCHECK(r, cmap_update(m, 1, upd_cb, &u, &v) == CMAP_ERECURSE);
	RCHECK(r, cmap_update(m, 424242, upd_cb, &u, NULL) == CMAP_ERECURSE);
	RCHECK(r, u.calls == 0);
	RCHECK(r, v == SENT);
	RCHECK(r, cmap_range(m, never_cb, &calls) == CMAP_ERECURSE);
	RCHECK(r, calls == 0);
	RCHECK(r, cmap_clear(m) == CMAP_ERECURSE);
	RCHECK(r, cmap_reserve(m, 100000) == CMAP_ERECURSE);
	RCHECK(r, cmap_reserve(m, 0) == CMAP_ERECURSE);
	memset(&st, 0x5a, sizeof st);
	RCHECK(r, cmap_stats(m, &st) == CMAP_ERECURSE);
	/* len never takes a lock and is allowed */
	RCHECK(r, cmap_len(m) == r->len_before || cmap_len(m) == r->len_alt);
	RCHECK(r,
	    cmap_backend(m) != NULL &&
	        strcmp(cmap_backend(m), g_v.backend) == 0);
}

static bool
recur_other_range_cb(uint64_t key, uint64_t value, void *ctx)
{
	struct recur *r = ctx;

	(void)key;
	(void)value;
	r->range_calls++;
	/* still inside r->m's update callback */
	all_calls_recurse(r);
	return true;
}

static cmap_update_action_t
recur_inner_cb(uint64_t key, uint64_t *value, bool present, void *ctx)
{
	struct recur *r = ctx;

	(void)key;
	/* inside other's callback, inside m's callback: both refuse */
	all_calls_recurse(r);
	RCHECK(r, cmap_store(r->other, 5, 5) == CMAP_ERECURSE);
	*value = present ? *value + 1 : 1;
	return CMAP_UPDATE_STORE;
}

static cmap_update_action_t
recur_cb(uint64_t key, uint64_t *value, bool present, void *ctx)
{
	struct recur *r = ctx;
	uint64_t v = SENT;

	(void)key;
	(void)present;
	all_calls_recurse(r);
	if (r->other != NULL) {
		/* the other map works normally from inside the callback */
		RCHECK(r, cmap_store(r->other, 1, 100) == CMAP_INSERTED);
		RCHECK(r, cmap_load(r->other, 1, &v) == CMAP_OK && v == 100);
		RCHECK(r,
		    cmap_update(r->other, 2, recur_inner_cb, r, &v) ==
		        CMAP_INSERTED);
		RCHECK(r, v == 1);
		RCHECK(r,
		    cmap_update(r->other, 2, recur_inner_cb, r, &v) == CMAP_OK);
		RCHECK(r, v == 2);
		RCHECK(r,
		    cmap_range(r->other, recur_other_range_cb, r) == CMAP_OK);
		RCHECK(r, r->range_calls == 2);
		RCHECK(r, cmap_len(r->other) == 2);
		RCHECK(r, cmap_reserve(r->other, 1000) == CMAP_OK);
		RCHECK(r, cmap_delete(r->other, 1) == CMAP_OK);
		/* after the nested update returned, m still refuses */
		all_calls_recurse(r);
	}
	*value = r->newval;
	return r->ret;
}

static void
fill_small(cmap_t *m, struct tu_model *model)
{
	for (uint64_t i = 1; i <= 50; i++)
		store_model(m, model, i, i * 10);
}

static void
test_update_recursion(void **state)
{
	(void)state;
	cmap_t *m = mk();
	struct tu_model model;
	uint64_t out = SENT;

	tu_model_init(&model);
	fill_small(m, &model);

	/* on a present key, KEEP */
	struct recur r = {.m = m,
	    .len_before = model.len,
	    .len_alt = model.len,
	    .ret = CMAP_UPDATE_KEEP};
	assert_int_equal(cmap_update(m, 1, recur_cb, &r, &out), CMAP_OK);
	assert_int_equal(r.failures, 0);
	assert_true(out == 10);
	tu_assert_map_equals_model(m, &model);

	/* on an absent key, STORE: the outer update still applies */
	r = (struct recur){.m = m,
	    .len_before = model.len,
	    .len_alt = model.len + 1,
	    .ret = CMAP_UPDATE_STORE,
	    .newval = 777};
	assert_int_equal(
	    cmap_update(m, 1000, recur_cb, &r, &out), CMAP_INSERTED);
	assert_int_equal(r.failures, 0);
	assert_true(out == 777);
	tu_model_put(&model, 1000, 777);
	tu_assert_map_equals_model(m, &model);

	/* DELETE after the refused calls */
	r = (struct recur){.m = m,
	    .len_before = model.len,
	    .len_alt = model.len,
	    .ret = CMAP_UPDATE_DELETE};
	assert_int_equal(cmap_update(m, 2, recur_cb, &r, NULL), CMAP_OK);
	assert_int_equal(r.failures, 0);
	tu_model_del(&model, 2);
	tu_assert_map_equals_model(m, &model);

	/* and afterwards every call works again on this thread */
	assert_int_equal(cmap_store(m, 2, 20), CMAP_INSERTED);
	tu_model_put(&model, 2, 20);
	assert_int_equal(cmap_reserve(m, 200), CMAP_OK);
	tu_assert_map_equals_model(m, &model);
	cmap_stats_t st = stats_of(m);
	assert_int_equal(st.len, model.len);
	tu_model_fini(&model);
	cmap_destroy(m);
}

/* A nested update on a different map inside the callback works, and the
 * guard of the outer map survives the nested call returning. */
static void
test_update_nested_other_map(void **state)
{
	(void)state;
	cmap_t *m = mk();
	cmap_t *other = mk();
	struct tu_model model;
	uint64_t v = SENT;

	tu_model_init(&model);
	fill_small(m, &model);
	struct recur r = {.m = m,
	    .other = other,
	    .len_before = model.len,
	    .len_alt = model.len,
	    .ret = CMAP_UPDATE_STORE,
	    .newval = 4242};
	assert_int_equal(cmap_update(m, 3, recur_cb, &r, &v), CMAP_OK);
	assert_int_equal(r.failures, 0);
	assert_true(v == 4242);
	tu_model_put(&model, 3, 4242);
	tu_assert_map_equals_model(m, &model);
	assert_int_equal(cmap_len(other), 1);
	assert_true(getv(other, 2) == 2);
	assert_absent(other, 1);
	assert_absent(other, 5);
	cmap_destroy(other);
	tu_model_fini(&model);
	cmap_destroy(m);
}

/* The same with the other map of a different backend (every pair). */
static void
test_update_nested_cross_backend(void **state)
{
	(void)state;
	const char *all[TU_MAX_BACKENDS];
	size_t nb = tu_backends(all);

	for (size_t b = 0; b < nb; b++) {
		cmap_t *m = mk();
		cmap_config_t cfg;
		struct tu_model model;
		uint64_t v = SENT;

		tu_config_init(&cfg, all[b]);
		tu_chk_alloc_install(&g_alloc, &cfg);
		cmap_t *other = tu_create_cfg(&cfg);
		tu_model_init(&model);
		fill_small(m, &model);
		struct recur r = {.m = m,
		    .other = other,
		    .len_before = model.len,
		    .len_alt = model.len,
		    .ret = CMAP_UPDATE_KEEP};
		assert_int_equal(cmap_update(m, 4, recur_cb, &r, &v), CMAP_OK);
		assert_int_equal(r.failures, 0);
		assert_true(v == 40);
		tu_assert_map_equals_model(m, &model);
		assert_true(getv(other, 2) == 2);
		cmap_destroy(other);
		tu_model_fini(&model);
		cmap_destroy(m);
	}
}

/* From a range callback, update works; its callback still gets
 * CMAP_ERECURSE; after it returns, the range callback may write again. */
struct range_upd {
	cmap_t *m;
	int failures;
	int visits;
};

static cmap_update_action_t
range_upd_inner(uint64_t key, uint64_t *value, bool present, void *ctx)
{
	struct range_upd *ru = ctx;
	uint64_t v;

	(void)key;
	if (!present || cmap_store(ru->m, 99999, 1) != CMAP_ERECURSE ||
	    cmap_load(ru->m, key, &v) != CMAP_ERECURSE ||
	    cmap_range(ru->m, never_cb, &ru->visits) != CMAP_ERECURSE)
		ru->failures++;
	*value += 1;
	return CMAP_UPDATE_STORE;
}

static bool
range_upd_cb(uint64_t key, uint64_t value, void *ctx)
{
	struct range_upd *ru = ctx;
	uint64_t v = SENT;

	if (cmap_update(ru->m, key, range_upd_inner, ru, &v) != CMAP_OK ||
	    v != value + 1)
		ru->failures++;
	if (cmap_store(ru->m, key, v + 1) != CMAP_OK)
		ru->failures++;
	return true;
}

static void
test_range_calls_update(void **state)
{
	(void)state;
	cmap_t *m = mk();
	struct tu_model model;

	tu_model_init(&model);
	fill_small(m, &model);
	struct range_upd ru = {.m = m};
	assert_int_equal(cmap_range(m, range_upd_cb, &ru), CMAP_OK);
	assert_int_equal(ru.failures, 0);
	assert_int_equal(ru.visits, 0);
	for (size_t i = 0; i < model.len; i++)
		model.vals[i] += 2;
	tu_assert_map_equals_model(m, &model);
	tu_model_fini(&model);
	cmap_destroy(m);
}

/* ===================================================================
 * Range
 * ================================================================= */

struct stop_ctx {
	size_t calls;
	size_t stop_at; /* return false on this call (1-based) */
};

static bool
stop_cb(uint64_t key, uint64_t value, void *ctx)
{
	struct stop_ctx *s = ctx;

	(void)key;
	(void)value;
	s->calls++;
	return s->calls < s->stop_at;
}

static void
test_range_early_stop(void **state)
{
	(void)state;
	cmap_t *m = mk();
	const size_t n = 300;
	const size_t stops[] = {1, 2, 3, 17, 64, 150, 299, 300};

	for (uint64_t i = 0; i < n; i++)
		assert_int_equal(cmap_store(m, i * GOLD, i), CMAP_INSERTED);
	for (size_t s = 0; s < sizeof stops / sizeof stops[0]; s++) {
		struct stop_ctx c = {0, stops[s]};
		assert_int_equal(cmap_range(m, stop_cb, &c), CMAP_OK);
		assert_int_equal(c.calls, stops[s]);
	}
	/* a callback that never stops sees everything exactly n times */
	struct stop_ctx all = {0, SIZE_MAX};
	assert_int_equal(cmap_range(m, stop_cb, &all), CMAP_OK);
	assert_int_equal(all.calls, n);
	/* empty map: no call */
	assert_int_equal(cmap_clear(m), CMAP_OK);
	struct stop_ctx none = {0, 1};
	assert_int_equal(cmap_range(m, stop_cb, &none), CMAP_OK);
	assert_int_equal(none.calls, 0);
	cmap_destroy(m);
}

static void
test_range_exact(void **state)
{
	(void)state;
	cmap_t *m = mk();
	struct tu_model model;

	tu_model_init(&model);
	for (size_t i = 0; i < tu_n_edge_values; i++)
		store_model(m, &model, tu_edge_values[i],
		    tu_edge_values[tu_n_edge_values - 1 - i]);
	tu_assert_map_equals_model(m, &model);
	for (uint64_t i = 0; i < 3000; i++)
		store_model(m, &model, i * GOLD + 12345, i);
	tu_assert_map_equals_model(m, &model);
	tu_model_fini(&model);
	cmap_destroy(m);
}

/*
 * Range with a callback that writes.  Keys fall into classes:
 *   stable    never written during the traversal: exactly once, own value
 *   selfdel   deleted by the callback when visited: exactly once
 *   victim    deleted at some callback: at most once, original value
 *   modified  overwritten at some callback: at most once, old or new value
 *   new       inserted by the callback: at most once, inserted value
 * and no other key may appear.  After the traversal the map equals the
 * model, which the callback keeps in step.
 */
enum kclass { K_STABLE, K_SELFDEL, K_VICTIM, K_MODIFIED, K_NEW };

struct mut_ctx {
	cmap_t *m;
	struct tu_model *model; /* the map's content, kept in step */
	struct tu_model visits; /* key -> visit count */
	struct tu_model cls;    /* key -> class */
	struct tu_model orig;   /* key -> value at start (or inserted) */
	uint64_t *victims;
	size_t nvictims, next_victim;
	uint64_t *modified;
	size_t nmodified, next_modified;
	uint64_t next_new;
	unsigned news_per_visit;
	unsigned victims_per_visit;
	size_t calls;
	size_t clear_at; /* 0 = never */
	bool cleared;
};

static uint64_t
new_value(uint64_t k)
{
	return ~k * 3;
}

static bool
mut_cb(uint64_t key, uint64_t value, void *ctx)
{
	struct mut_ctx *c = ctx;
	uint64_t cls, cnt = 0, orig;

	c->calls++;
	assert_true(tu_model_get(&c->cls, key, &cls)); /* no invented key */
	tu_model_get(&c->visits, key, &cnt);
	assert_int_equal(cnt, 0); /* never twice */
	tu_model_put(&c->visits, key, cnt + 1);
	assert_true(tu_model_get(&c->orig, key, &orig));
	if (cls == K_MODIFIED)
		assert_true(value == orig || value == ~orig);
	else
		assert_true(value == orig);

	if (c->cleared)
		return true;
	if (cls == K_SELFDEL) {
		assert_int_equal(cmap_delete(c->m, key), CMAP_OK);
		tu_model_del(c->model, key);
	}
	for (unsigned i = 0;
	     i < c->victims_per_visit && c->next_victim < c->nvictims; i++) {
		uint64_t k = c->victims[c->next_victim++];
		assert_int_equal(cmap_delete(c->m, k), CMAP_OK);
		tu_model_del(c->model, k);
	}
	if (c->next_modified < c->nmodified) {
		uint64_t k = c->modified[c->next_modified++];
		assert_true(tu_model_get(&c->orig, k, &orig));
		store_model(c->m, c->model, k, ~orig);
	}
	for (unsigned i = 0; i < c->news_per_visit; i++) {
		uint64_t k = c->next_new++;
		tu_model_put(&c->cls, k, K_NEW);
		tu_model_put(&c->orig, k, new_value(k));
		store_model(c->m, c->model, k, new_value(k));
	}
	if (c->clear_at != 0 && c->calls == c->clear_at) {
		assert_int_equal(cmap_clear(c->m), CMAP_OK);
		tu_model_clear(c->model);
		c->cleared = true;
	}
	return true;
}

static void
run_mutating_range(size_t n, unsigned news, unsigned victims_per_visit,
    size_t clear_at, bool reserve_first)
{
	cmap_t *m = mk();
	struct tu_model model;
	struct mut_ctx c;

	memset(&c, 0, sizeof c);
	tu_model_init(&model);
	tu_model_init(&c.visits);
	tu_model_init(&c.cls);
	tu_model_init(&c.orig);
	c.m = m;
	c.model = &model;
	c.victims = calloc(n, sizeof *c.victims);
	c.modified = calloc(n, sizeof *c.modified);
	assert_non_null(c.victims);
	assert_non_null(c.modified);
	c.news_per_visit = news;
	c.victims_per_visit = victims_per_visit;
	c.next_new = UINT64_C(1) << 40;
	c.clear_at = clear_at;

	for (size_t i = 0; i < n + tu_n_edge_values; i++) {
		uint64_t k = i < tu_n_edge_values ? tu_edge_values[i]
		                                  : (uint64_t)i * GOLD;
		uint64_t v = k ^ UINT64_C(0x0123456789abcdef);
		enum kclass cl;

		if (i < tu_n_edge_values)
			cl = K_STABLE;
		else if (victims_per_visit > 1)
			cl = i % 4 == 0 ? K_STABLE : K_VICTIM;
		else
			cl = (enum kclass)(i % 4);
		if (cl == K_VICTIM)
			c.victims[c.nvictims++] = k;
		if (cl == K_MODIFIED)
			c.modified[c.nmodified++] = k;
		tu_model_put(&c.cls, k, cl);
		tu_model_put(&c.orig, k, v);
		store_model(m, &model, k, v);
	}
	/* victims in a scrambled order, so some are deleted before and
	 * some after their visit */
	for (size_t i = c.nvictims; i > 1; i--) {
		size_t j = (size_t)((i * GOLD) >> 7) % i;
		uint64_t t = c.victims[i - 1];
		c.victims[i - 1] = c.victims[j];
		c.victims[j] = t;
	}
	if (reserve_first)
		assert_int_equal(cmap_reserve(m, 8 * n), CMAP_OK);

	assert_int_equal(cmap_range(m, mut_cb, &c), CMAP_OK);

	/* every stable and self-deleting key exactly once */
	for (size_t i = 0; i < c.cls.len; i++) {
		uint64_t k = c.cls.keys[i], cnt = 0;
		tu_model_get(&c.visits, k, &cnt);
		if (c.cleared)
			assert_true(cnt <= 1);
		else if (c.cls.vals[i] == K_STABLE ||
		    c.cls.vals[i] == K_SELFDEL)
			assert_int_equal(cnt, 1);
		else
			assert_true(cnt <= 1);
	}
	tu_assert_map_equals_model(m, &model);
	if (c.cleared)
		assert_int_equal(cmap_len(m), 0);
	free(c.victims);
	free(c.modified);
	tu_model_fini(&c.visits);
	tu_model_fini(&c.cls);
	tu_model_fini(&c.orig);
	tu_model_fini(&model);
	cmap_destroy(m);
}

/* stores and deletes, including the visited key and unvisited keys */
static void
test_range_mutating(void **state)
{
	(void)state;
	run_mutating_range(2000, 1, 1, 0, false);
}

/* the callback inserts so much that the table grows several times */
static void
test_range_grows_during(void **state)
{
	(void)state;
	/* remote: no table to grow, and every key inserted into a bucket
	 * not yet fetched is visited and inserts again: keep that chain
	 * short */
	run_mutating_range(1000, (unsigned)remote_scaled(8, 1), 1, 0, false);
}

/* same, with the room reserved first (no resize) */
static void
test_range_reserved(void **state)
{
	(void)state;
	run_mutating_range(1000, (unsigned)remote_scaled(4, 1), 1, 0, true);
}

/* the callback deletes most keys, so the table shrinks while ranged */
static void
test_range_shrinks_during(void **state)
{
	(void)state;
	run_mutating_range(6000, 0, 3, 0, false);
}

/* the callback clears the map on its 10th call */
static void
test_range_clear_during(void **state)
{
	(void)state;
	run_mutating_range(2000, 1, 1, 10, false);
}

struct nest_ctx {
	cmap_t *m;
	struct tu_model *model;
	unsigned char *seen;
	size_t outer;
	int depth;
};

static bool
nest_inner_cb(uint64_t key, uint64_t value, void *ctx)
{
	struct nest_ctx *c = ctx;
	size_t i = tu_model_index(c->model, key);
	uint64_t dummy = 0;

	assert_true(i != SIZE_MAX);
	assert_true(c->model->vals[i] == value);
	assert_int_equal(c->seen[i], 0);
	c->seen[i] = 1;
	if (c->depth == 1 && key == c->model->keys[0]) {
		/* a third level, from the inner callback */
		size_t cnt = 0;
		assert_int_equal(cmap_range(c->m, count_cb, &cnt), CMAP_OK);
		assert_int_equal(cnt, c->model->len);
	}
	assert_int_equal(cmap_load(c->m, key, &dummy), CMAP_OK);
	return true;
}

static bool
nest_outer_cb(uint64_t key, uint64_t value, void *ctx)
{
	struct nest_ctx *c = ctx;

	(void)key;
	(void)value;
	c->outer++;
	memset(c->seen, 0, c->model->len);
	c->depth = 1;
	assert_int_equal(cmap_range(c->m, nest_inner_cb, c), CMAP_OK);
	c->depth = 0;
	for (size_t i = 0; i < c->model->len; i++)
		assert_int_equal(c->seen[i], 1);
	return true;
}

static void
test_range_nested(void **state)
{
	(void)state;
	cmap_t *m = mk();
	struct tu_model model;

	tu_model_init(&model);
	for (uint64_t i = 0; i < 150; i++)
		store_model(m, &model, i * GOLD, i);
	store_model(m, &model, UINT64_MAX, 0);
	struct nest_ctx c = {m, &model, calloc(model.len, 1), 0, 0};
	assert_non_null(c.seen);
	assert_int_equal(cmap_range(m, nest_outer_cb, &c), CMAP_OK);
	assert_int_equal(c.outer, model.len);
	free(c.seen);
	tu_assert_map_equals_model(m, &model);
	tu_model_fini(&model);
	cmap_destroy(m);
}

/* ===================================================================
 * Capacity: growth, shrink, clear, reserve
 * ================================================================= */

/*
 * A persistent backend keeps its entries in its file, a remote one in its
 * server: the allocator holds their structs only, and "grows" counts
 * growths of the file's map, so the figures about table memory below apply
 * to the in-memory backends only.
 */
static bool
in_memory(void)
{
	return !tu_has(g_v.backend, CMAP_CAP_PERSISTENT) && local_table();
}

static uint64_t
big_key(uint64_t i)
{
	return i < tu_n_edge_values ? tu_edge_values[i] : i * GOLD + 1;
}

static void
test_growth_1m(void **state)
{
	(void)state;
	/* A disk backend commits each store (tens of microseconds): a
	 * fiftieth of the keys keeps the test within seconds. */
	const uint64_t n = in_memory() ? 1000000 : remote_scaled(20000, 5000);
	cmap_t *m = mk();
	cmap_stats_t fresh = stats_of(m);
	uint64_t v;

	for (uint64_t i = 0; i < n; i++)
		if (cmap_store(m, big_key(i), ~i) != CMAP_INSERTED)
			fail_msg("store %llu failed", (unsigned long long)i);
	assert_int_equal(cmap_len(m), n);
	cmap_stats_t full = stats_of(m);
	assert_int_equal(full.len, n);
	assert_true(full.capacity >= n || !local_table());
	if (in_memory()) {
		assert_true(full.grows > 0);
		assert_true(full.bytes >= n * 16);
		assert_true(full.bytes > fresh.bytes);
	}
	assert_true(full.min_shard_len <= full.max_shard_len);
	assert_true(full.max_shard_len <= n);
	assert_true(full.mean_probe <= (double)full.max_probe);
	assert_true(full.mean_probe < 8.0);
	assert_int_equal((long)full.bytes, atomic_load(&g_alloc.live_bytes));
	for (uint64_t i = 0; i < n; i++) {
		v = SENT;
		if (cmap_load(m, big_key(i), &v) != CMAP_OK || v != ~i)
			fail_msg("key %llu lost", (unsigned long long)i);
	}
	assert_int_equal(range_count(m), n);
	/* absent keys stay absent */
	for (uint64_t i = 0; i < remote_scaled(10000, 1000); i++)
		assert_absent(m, i * GOLD + 2);

	/* delete all, alternating delete and load_and_delete */
	for (uint64_t i = 0; i < n; i++) {
		cmap_status_t s;
		v = SENT;
		if (i % 2)
			s = cmap_delete(m, big_key(i));
		else
			s = cmap_load_and_delete(m, big_key(i), &v);
		if (s != CMAP_OK || (i % 2 == 0 && v != ~i))
			fail_msg("delete %llu failed", (unsigned long long)i);
		if (i % (n / 10) == 0)
			assert_int_equal(cmap_len(m), n - i - 1);
	}
	assert_int_equal(cmap_len(m), 0);
	assert_int_equal(range_count(m), 0);
	cmap_stats_t empty = stats_of(m);
	assert_int_equal(empty.len, 0);
	if (in_memory())
		assert_true(empty.shrinks > 0);
	/* memory given back: capacity and bytes back near a fresh map's */
	if (in_memory())
		assert_true(empty.capacity <= 4 * fresh.capacity);
	assert_true(empty.bytes <= 4 * fresh.bytes);
	assert_int_equal((long)empty.bytes, atomic_load(&g_alloc.live_bytes));
	/* and it still works */
	for (uint64_t i = 0; i < 1000; i++)
		assert_int_equal(cmap_store(m, big_key(i), i), CMAP_INSERTED);
	assert_int_equal(cmap_len(m), 1000);
	cmap_destroy(m);
}

static void
test_clear(void **state)
{
	(void)state;
	const size_t hints[] = {0, remote_scaled(20000, 500)};

	for (size_t h = 0; h < 2; h++) {
		cmap_t *m = mk_cap(hints[h]);
		cmap_stats_t fresh = stats_of(m);
		long fresh_live = atomic_load(&g_alloc.live_bytes);

		assert_int_equal(cmap_clear(m), CMAP_OK); /* empty: fine */
		assert_int_equal(cmap_len(m), 0);
		/* a disk or server backend pays a commit or a round trip
		 * per store: fewer keys */
		const uint64_t fill =
		    in_memory() ? 100000 : remote_scaled(25000, 2000);

		for (int round = 0; round < 3; round++) {
			/* after round 0 the refill below left the first
			 * hints[h] keys present */
			for (uint64_t i = 0; i < fill; i++)
				assert_int_equal(cmap_store(m, big_key(i), i),
				    round > 0 && i < hints[h] ? CMAP_OK
				                              : CMAP_INSERTED);
			cmap_stats_t full = stats_of(m);
			assert_int_equal(full.len, fill);
			assert_int_equal(cmap_clear(m), CMAP_OK);
			assert_int_equal(cmap_len(m), 0);
			assert_int_equal(range_count(m), 0);
			for (uint64_t i = 0; i < 1000; i++)
				assert_absent(m, big_key(i));
			cmap_stats_t cl = stats_of(m);
			assert_int_equal(cl.len, 0);
			assert_true(cl.bytes < full.bytes || !in_memory());
			assert_true(cl.bytes <= fresh.bytes);
			/* down to the capacity asked for at creation (the
			 * refill below checks it is not less than asked) */
			assert_true(
			    cl.capacity <= fresh.capacity || !in_memory());
			assert_true(
			    atomic_load(&g_alloc.live_bytes) <= fresh_live);
			assert_int_equal(cl.max_probe, 0);
			/* the hint still holds: refill without growing */
			for (uint64_t i = 0; i < hints[h]; i++)
				assert_int_equal(cmap_store(m, big_key(i), i),
				    CMAP_INSERTED);
			cmap_stats_t re = stats_of(m);
			assert_int_equal(re.grows, cl.grows);
			assert_int_equal(cmap_len(m), hints[h]);
			for (uint64_t i = 0; i < hints[h]; i++)
				assert_true(getv(m, big_key(i)) == i);
		}
		cmap_destroy(m);
	}
}

static void
test_reserve(void **state)
{
	(void)state;
	if (!local_table())
		skip(); /* checks the local table (see local_table) */
	const size_t sizes[] = {1, 100, 5000, 50000};

	for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
		size_t n = sizes[s];

		/* reserve on a fresh map, then fill: no grow */
		cmap_t *m = mk();
		assert_int_equal(cmap_reserve(m, 0), CMAP_OK);
		assert_int_equal(cmap_reserve(m, n), CMAP_OK);
		cmap_stats_t r = stats_of(m);
		assert_true(r.capacity >= n);
		for (uint64_t i = 0; i < n; i++)
			assert_int_equal(
			    cmap_store(m, big_key(i), i), CMAP_INSERTED);
		cmap_stats_t f = stats_of(m);
		assert_int_equal(f.grows, r.grows);
		assert_int_equal(f.capacity, r.capacity);
		/* smaller reserve: nothing changes */
		assert_int_equal(cmap_reserve(m, n / 2), CMAP_OK);
		cmap_stats_t g = stats_of(m);
		assert_int_equal(g.capacity, f.capacity);
		assert_int_equal(g.grows, f.grows);
		assert_int_equal(g.shrinks, f.shrinks);
		/* reserved capacity is kept when entries are deleted */
		for (uint64_t i = 0; i < n; i++)
			assert_int_equal(cmap_delete(m, big_key(i)), CMAP_OK);
		cmap_stats_t d = stats_of(m);
		assert_true(d.capacity >= n);
		/* and after clear */
		for (uint64_t i = 0; i < n; i++)
			assert_int_equal(
			    cmap_store(m, big_key(i), i), CMAP_INSERTED);
		assert_int_equal(cmap_clear(m), CMAP_OK);
		for (uint64_t i = 0; i < n; i++)
			assert_int_equal(
			    cmap_store(m, big_key(i) + 5, i), CMAP_INSERTED);
		cmap_stats_t c = stats_of(m);
		assert_int_equal(c.grows, r.grows);
		assert_int_equal(cmap_len(m), n);
		cmap_destroy(m);

		/* reserve on a filled map keeps every entry */
		m = mk();
		struct tu_model model;
		tu_model_init(&model);
		for (uint64_t i = 0; i < n / 2 + 1; i++)
			store_model(m, &model, big_key(i), i);
		cmap_stats_t b = stats_of(m);
		assert_int_equal(cmap_reserve(m, 2 * n), CMAP_OK);
		tu_assert_map_equals_model(m, &model);
		b = stats_of(m);
		for (uint64_t i = n / 2 + 1; i < 2 * n; i++)
			store_model(m, &model, big_key(i), i);
		cmap_stats_t a = stats_of(m);
		assert_int_equal(a.grows, b.grows);
		tu_assert_map_equals_model(m, &model);
		tu_model_fini(&model);
		cmap_destroy(m);
	}
	/* a capacity hint at creation works like reserve */
	cmap_t *m = mk_cap(30000);
	cmap_stats_t r = stats_of(m);
	assert_true(r.capacity >= 30000);
	assert_int_equal(r.grows, 0);
	for (uint64_t i = 0; i < 30000; i++)
		assert_int_equal(cmap_store(m, big_key(i), i), CMAP_INSERTED);
	assert_int_equal(stats_of(m).grows, 0);
	cmap_destroy(m);
}

/* reserve(n) is a promise for any n keys and any seed, not only for
 * typical ones: on sharded, the keys may fall unevenly on the shards. */
static void
test_reserve_any_seed(void **state)
{
	(void)state;
	if (!local_table())
		skip(); /* checks the local table (see local_table) */
	const size_t n = 10000;
	int grew = 0;

	for (uint64_t seed = 1; seed <= 100; seed++) {
		cmap_config_t cfg;
		cmap_stats_t a, b;

		cfg_for(&cfg, 0);
		cfg.seed = seed;
		cmap_t *m = tu_create_cfg(&cfg);
		assert_int_equal(cmap_reserve(m, n), CMAP_OK);
		a = stats_of(m);
		for (uint64_t i = 0; i < n; i++)
			assert_int_equal(
			    cmap_store(m, i * GOLD + 1, i), CMAP_INSERTED);
		b = stats_of(m);
		if (b.grows != a.grows) {
			print_message(
			    "    seed %llu: reserve(%zu) then %zu "
			    "inserts grew %llu times (max_shard_len %llu)\n",
			    (unsigned long long)seed, n, n,
			    (unsigned long long)(b.grows - a.grows),
			    (unsigned long long)b.max_shard_len);
			grew++;
		}
		cmap_destroy(m);
	}
	assert_int_equal(grew, 0);
}

/* ===================================================================
 * Stats, seeds, allocator
 * ================================================================= */

static void
test_stats(void **state)
{
	(void)state;
	if (!local_table())
		skip(); /* checks the local table (see local_table) */
	cmap_t *m = mk();
	const uint64_t n = 20000;
	cmap_stats_t s;

	for (uint64_t i = 0; i < n; i++)
		assert_int_equal(cmap_store(m, big_key(i), i), CMAP_INSERTED);
	s = stats_of(m);
	assert_non_null(s.backend);
	assert_string_equal(s.backend, g_v.backend);
	assert_int_equal(s.len, n);
	assert_int_equal(s.len, cmap_len(m));
	assert_true(s.capacity >= n);
	assert_int_equal(s.shards, expected_shards());
	assert_true(s.min_shard_len <= s.max_shard_len);
	if (s.shards == 1) {
		assert_int_equal(s.min_shard_len, n);
		assert_int_equal(s.max_shard_len, n);
	} else {
		assert_true(s.min_shard_len * s.shards <= n);
		assert_true(s.max_shard_len * s.shards >= n);
		assert_true(s.max_shard_len < n);
	}
	assert_true(s.mean_probe >= 0.0);
	assert_true(s.mean_probe <= (double)s.max_probe);
	assert_true(s.max_probe < s.capacity);
	assert_true(s.grows > 0 || !in_memory());
	/* bytes is what the map holds from its allocator, exactly */
	assert_int_equal((long)s.bytes, atomic_load(&g_alloc.live_bytes));
	cmap_destroy(m);
}

static void
test_seed(void **state)
{
	(void)state;
	cmap_config_t cfg;
	const uint64_t seeds[] = {1, 42, UINT64_MAX, UINT64_C(1) << 63};
	cmap_t *maps[8];

	for (size_t i = 0; i < sizeof seeds / sizeof seeds[0]; i++) {
		cfg_for(&cfg, 0);
		cfg.seed = seeds[i];
		cmap_t *a = tu_create_cfg(&cfg);
		cfg_for(&cfg, 0); /* a persistent map's own directory */
		cfg.seed = seeds[i];
		cmap_t *b = tu_create_cfg(&cfg);
		assert_true(stats_of(a).seed == seeds[i]);
		assert_true(stats_of(b).seed == seeds[i]);
		/* the seed survives growth and clear */
		for (uint64_t k = 0; k < remote_scaled(5000, 500); k++)
			assert_int_equal(cmap_store(a, k, k), CMAP_INSERTED);
		assert_int_equal(cmap_clear(a), CMAP_OK);
		assert_true(stats_of(a).seed == seeds[i]);
		cmap_destroy(a);
		cmap_destroy(b);
	}
	/* seed 0: a fresh random non-zero seed per map */
	for (size_t i = 0; i < 8; i++) {
		cfg_for(&cfg, 0);
		cfg.seed = 0;
		maps[i] = tu_create_cfg(&cfg);
		uint64_t si = stats_of(maps[i]).seed;
		assert_true(si != 0);
		for (size_t j = 0; j < i; j++)
			assert_true(stats_of(maps[j]).seed != si);
	}
	for (size_t i = 0; i < 8; i++)
		cmap_destroy(maps[i]);
	/* the caller's config is copied, not kept, and not modified; the
	 * backend's name need only live until cmap_create() returns */
	char bname[64];
	snprintf(bname, sizeof bname, "%s", g_v.backend);
	cfg_for(&cfg, 0);
	cfg.backend = bname;
	assert_int_equal(cmap_config_set(&cfg, "capacity", "100"), CMAP_OK);
	cmap_config_t copy = cfg;
	cmap_t *m = tu_create_cfg(&cfg);
	assert_int_equal(cfg.size, copy.size);
	assert_ptr_equal(cfg.backend, copy.backend);
	assert_string_equal(bname, g_v.backend);
	assert_int_equal(cfg.capacity, copy.capacity);
	assert_int_equal(cfg.shards, copy.shards);
	assert_int_equal(cfg.flags, copy.flags);
	assert_true(cfg.seed == copy.seed);
	assert_ptr_equal(cfg.allocator.alloc, copy.allocator.alloc);
	assert_ptr_equal(cfg.allocator.free, copy.allocator.free);
	assert_ptr_equal(cfg.allocator.ctx, copy.allocator.ctx);
	assert_int_equal(cfg.n_options_, copy.n_options_);
	assert_memory_equal(cfg.options_, copy.options_, sizeof cfg.options_);
	assert_string_equal(cmap_config_get(&cfg, "capacity"), "100");
	memset(&cfg, 0xff, sizeof cfg);
	memset(bname, 'x', sizeof bname - 1);
	assert_int_equal(cmap_store(m, 1, 2), CMAP_INSERTED);
	assert_string_equal(cmap_backend(m), g_v.backend);
	assert_string_equal(stats_of(m).backend, g_v.backend);
	assert_int_equal(stats_of(m).shards, expected_shards());
	assert_true(stats_of(m).capacity >= 100 || !local_table());
	cmap_destroy(m);
}

static void
test_allocator_accounting(void **state)
{
	(void)state;
	cmap_t *m = mk();
	tu_rng_t rng = {7};
	static unsigned char present[20000];

	memset(present, 0, sizeof present);
	/* (a tenth on a remote backend: a round trip each) */
	for (int i = 0; i < (int)remote_scaled(50000, 5000); i++) {
		uint64_t k = tu_rng_below(&rng, 20000);
		if (tu_rng_below(&rng, 3) == 0) {
			assert_int_equal(cmap_delete(m, k),
			    present[k] ? CMAP_OK : CMAP_NOT_FOUND);
			present[k] = 0;
		} else {
			assert_int_equal(cmap_store(m, k, (uint64_t)i),
			    present[k] ? CMAP_OK : CMAP_INSERTED);
			present[k] = 1;
		}
		if (i % 5000 == 0)
			assert_int_equal((long)stats_of(m).bytes,
			    atomic_load(&g_alloc.live_bytes));
	}
	assert_int_equal(cmap_reserve(m, 100000), CMAP_OK);
	assert_int_equal(
	    (long)stats_of(m).bytes, atomic_load(&g_alloc.live_bytes));
	assert_int_equal(cmap_clear(m), CMAP_OK);
	assert_int_equal(
	    (long)stats_of(m).bytes, atomic_load(&g_alloc.live_bytes));
	cmap_destroy(m);
	/* teardown checks that every block came back with its size */
	assert_int_equal(atomic_load(&g_alloc.live_blocks), 0);
}

/* ===================================================================
 * Randomised differential test against the reference model
 * ================================================================= */

enum dop {
	D_LOAD,
	D_STORE,
	D_LOS,
	D_LAD,
	D_DEL,
	D_SWAP,
	D_CAS,
	D_CAD,
	D_ADD,
	D_UPDATE,
	D_COUNT_
};

static uint64_t
rand_value(tu_rng_t *r)
{
	switch (tu_rng_below(r, 4)) {
	case 0:
		return tu_edge_values[tu_rng_below(r, tu_n_edge_values)];
	case 1:
		return tu_rng_below(r, 4);
	default:
		return tu_rng_next(r);
	}
}

static void
differential(uint64_t seed, const uint64_t *keys, size_t nkeys, long ops)
{
	cmap_t *m = mk();
	struct tu_model model;
	tu_rng_t r = {seed};

	tu_model_init(&model);
	for (long op = 0; op < ops; op++) {
		uint64_t k = keys[tu_rng_below(&r, nkeys)];
		uint64_t val = rand_value(&r);
		uint64_t mv = 0, out = SENT;
		bool present = tu_model_get(&model, k, &mv);
		cmap_status_t s;
		unsigned which = (unsigned)tu_rng_below(&r, 100);

		/* rare whole-map operations */
		if (which == 0 && tu_rng_below(&r, 500) == 0) {
			assert_int_equal(cmap_clear(m), CMAP_OK);
			tu_model_clear(&model);
			continue;
		}
		if (which == 1 && tu_rng_below(&r, 200) == 0) {
			assert_int_equal(
			    cmap_reserve(
			        m, (size_t)tu_rng_below(&r, 2 * nkeys)),
			    CMAP_OK);
			continue;
		}
		enum dop d = (enum dop)(which % D_COUNT_);
		switch (d) {
		case D_LOAD:
			s = cmap_load(m, k, &out);
			assert_int_equal(s, present ? CMAP_OK : CMAP_NOT_FOUND);
			assert_true(out == (present ? mv : SENT));
			break;
		case D_STORE:
			assert_int_equal(cmap_store(m, k, val),
			    present ? CMAP_OK : CMAP_INSERTED);
			tu_model_put(&model, k, val);
			break;
		case D_LOS:
			s = cmap_load_or_store(m, k, val, &out);
			assert_int_equal(s, present ? CMAP_OK : CMAP_INSERTED);
			assert_true(out == (present ? mv : val));
			if (!present)
				tu_model_put(&model, k, val);
			break;
		case D_LAD:
			s = cmap_load_and_delete(m, k, &out);
			assert_int_equal(s, present ? CMAP_OK : CMAP_NOT_FOUND);
			assert_true(out == (present ? mv : SENT));
			tu_model_del(&model, k);
			break;
		case D_DEL:
			s = cmap_delete(m, k);
			assert_int_equal(s, present ? CMAP_OK : CMAP_NOT_FOUND);
			tu_model_del(&model, k);
			break;
		case D_SWAP: {
			bool use_out = tu_rng_below(&r, 2);
			s = cmap_swap(m, k, val, use_out ? &out : NULL);
			assert_int_equal(s, present ? CMAP_OK : CMAP_INSERTED);
			if (use_out)
				assert_true(out == (present ? mv : SENT));
			tu_model_put(&model, k, val);
			break;
		}
		case D_CAS: {
			uint64_t ex = present && tu_rng_below(&r, 2)
			    ? mv
			    : rand_value(&r);
			s = cmap_compare_and_swap(m, k, ex, val);
			if (!present)
				assert_int_equal(s, CMAP_NOT_FOUND);
			else if (ex == mv) {
				assert_int_equal(s, CMAP_OK);
				tu_model_put(&model, k, val);
			} else
				assert_int_equal(s, CMAP_MISMATCH);
			break;
		}
		case D_CAD: {
			uint64_t ex = present && tu_rng_below(&r, 2)
			    ? mv
			    : rand_value(&r);
			s = cmap_compare_and_delete(m, k, ex);
			if (!present)
				assert_int_equal(s, CMAP_NOT_FOUND);
			else if (ex == mv) {
				assert_int_equal(s, CMAP_OK);
				tu_model_del(&model, k);
			} else
				assert_int_equal(s, CMAP_MISMATCH);
			break;
		}
		case D_ADD: {
			bool use_out = tu_rng_below(&r, 2);
			uint64_t nv = (present ? mv : 0) + val;
			s = cmap_add(m, k, val, use_out ? &out : NULL);
			assert_int_equal(s, present ? CMAP_OK : CMAP_INSERTED);
			if (use_out)
				assert_true(out == nv);
			tu_model_put(&model, k, nv);
			break;
		}
		case D_UPDATE: {
			struct upd u = {0};
			unsigned a = (unsigned)tu_rng_below(&r, 64);
			u.action = a < 21 ? CMAP_UPDATE_KEEP
			    : a < 42      ? CMAP_UPDATE_STORE
			    : a < 63      ? CMAP_UPDATE_DELETE
			                  : 5;
			u.newval = val;
			u.scribble = tu_rng_below(&r, 2);
			bool use_out = tu_rng_below(&r, 2);
			s = cmap_update(
			    m, k, upd_cb, &u, use_out ? &out : NULL);
			assert_true(u.seen_present == present);
			assert_true(u.seen_value == (present ? mv : 0));
			if (u.action == 5) {
				assert_int_equal(s, CMAP_EINVAL);
				assert_true(out == SENT);
				break;
			}
			uint64_t before = mv;

			if (u.action == CMAP_UPDATE_STORE)
				tu_model_put(&model, k, val);
			else if (u.action == CMAP_UPDATE_DELETE)
				tu_model_del(&model, k);
			bool after = tu_model_get(&model, k, &mv);
			/* OK when the key was present (kept, stored or
			 * deleted); INSERTED when stored into an absent
			 * key; NOT_FOUND when it was and stays absent */
			assert_int_equal(s,
			    present     ? CMAP_OK
			        : after ? CMAP_INSERTED
			                : CMAP_NOT_FOUND);
			check_calls(u.calls);
			/* *value_out: the value after the call, or the
			 * value a deleted key had; untouched when the key
			 * was and stays absent */
			if (use_out)
				assert_true(out ==
				    (after            ? mv
				            : present ? before
				                      : SENT));
			break;
		}
		default:
			fail();
		}
		if (op % (int)remote_scaled(64, 1024) == 0)
			assert_int_equal(cmap_len(m), model.len);
		if (op % 20000 == 0)
			tu_assert_map_equals_model(m, &model);
	}
	tu_assert_map_equals_model(m, &model);
	tu_model_fini(&model);
	cmap_destroy(m);
}

static void
test_differential_small(void **state)
{
	(void)state;
	uint64_t keys[48];
	size_t n = 0;

	for (size_t i = 0; i < tu_n_edge_values; i++)
		keys[n++] = tu_edge_values[i];
	for (; n < 48; n++)
		keys[n] = n;
	differential(1, keys, n, (long)remote_scaled(200000, 10000));
}

static void
test_differential_large(void **state)
{
	(void)state;
	const size_t nk = 60000;
	uint64_t *keys = calloc(nk, sizeof *keys);
	tu_rng_t r = {99};

	assert_non_null(keys);
	for (size_t i = 0; i < nk; i++)
		keys[i] = i < tu_n_edge_values ? tu_edge_values[i]
		    : i % 3 == 0               ? i
		                               : tu_rng_next(&r);
	differential(2, keys, nk, (long)remote_scaled(200000, 10000));
	free(keys);
}

/* ===================================================================
 * Backend-independent API
 * ================================================================= */

static void
test_backend_names(void **state)
{
	(void)state;
	const char *names[TU_MAX_BACKENDS + 1];
	size_t nb = 0;
	const char *nm;

	/* cmap_backend_at lists distinct, available names, then NULL */
	while ((nm = cmap_backend_at(nb)) != NULL) {
		cmap_backend_info_t info;

		assert_true(nb < TU_MAX_BACKENDS);
		assert_true(nm[0] != '\0');
		assert_true(cmap_backend_available(nm));
		assert_int_equal(cmap_backend_info(nm, &info), CMAP_OK);
		assert_string_equal(info.name, nm);
		for (size_t j = 0; j < nb; j++)
			assert_string_not_equal(names[j], nm);
		/* the order is fixed: the same name at the same index */
		assert_string_equal(cmap_backend_at(nb), nm);
		names[nb++] = nm;
	}
	assert_true(nb >= 3);
	assert_null(cmap_backend_at(nb + 1));
	assert_null(cmap_backend_at(SIZE_MAX));
	/* the built-ins the header promises in every build */
	assert_true(cmap_backend_available(CMAP_BACKEND_PLAIN));
	assert_true(cmap_backend_available(CMAP_BACKEND_RWLOCK));
	assert_true(cmap_backend_available(CMAP_BACKEND_SHARDED));
#ifdef CMAP_HAVE_LOCKFREE
	assert_int_equal(cmap_backend_available(CMAP_BACKEND_LOCKFREE),
	    CMAP_HAVE_LOCKFREE != 0);
#endif

	static const char *const bad[] = {"", "PLAIN", "Plain", "plain ",
	    " plain", "plai", "plainx", "shard", "rw", "lock-free",
	    "lockfree\n", "none", "count"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		cmap_backend_info_t info;

		memset(&info, 0x77, sizeof info);
		cmap_backend_info_t before = info;
		assert_false(cmap_backend_available(bad[i]));
		assert_int_equal(
		    cmap_backend_info(bad[i], &info), CMAP_EBACKEND);
		assert_memory_equal(&info, &before, sizeof info);
	}
	assert_false(cmap_backend_available(NULL));

	/* the tu_* helpers agree with the registry and the caps */
	const char *all[TU_MAX_BACKENDS], *ts[TU_MAX_BACKENDS];
	const char *none[TU_MAX_BACKENDS];
	const char *runnable[TU_MAX_BACKENDS];
	size_t na = tu_backends(all), nt = tu_thread_safe_backends(ts);
	size_t want_ts = 0, nr = 0;
	/* the registry's order, less those this environment cannot run (a
	 * remote backend with no server given) */
	for (size_t i = 0; i < nb; i++)
		if (tu_backend_runnable(names[i]))
			runnable[nr++] = names[i];
	assert_int_equal(na, nr);
	for (size_t i = 0; i < na; i++) {
		assert_ptr_equal(all[i], runnable[i]);
		assert_true(tu_caps(all[i]) != 0);
		want_ts += tu_has(all[i], CMAP_CAP_THREAD_SAFE);
	}
	assert_int_equal(nt, want_ts);
	for (size_t i = 0; i < nt; i++)
		assert_true(tu_has(ts[i], CMAP_CAP_THREAD_SAFE));
	assert_int_equal(tu_backends_with(0, none), na);
	assert_int_equal(tu_caps("no such backend"), 0);
	assert_false(tu_has("no such backend", CMAP_CAP_THREAD_SAFE));
	assert_int_equal(
	    tu_backends_with(
	        CMAP_CAP_THREAD_SAFE | CMAP_CAP_MISUSE_CHECK, none),
	    0);
}

static void
test_status_strings(void **state)
{
	(void)state;
	struct {
		cmap_status_t code;
		const char *name;
		const char *msg;
		int value;
	} codes[] = {
#define X(n, v, m) {CMAP_##n, #n, m, v},
	    CMAP_STATUS_MAP(X)
#undef X
	};
	size_t nc = sizeof codes / sizeof codes[0];

	assert_int_equal(nc, 14);
	for (size_t i = 0; i < nc; i++) {
		assert_int_equal((int)codes[i].code, codes[i].value);
		assert_string_equal(
		    cmap_status_name(codes[i].code), codes[i].name);
		assert_string_equal(cmap_strerror(codes[i].code), codes[i].msg);
		assert_int_equal(
		    cmap_is_error(codes[i].code), codes[i].value < 0);
		/* names and messages are distinct */
		for (size_t j = 0; j < i; j++) {
			assert_string_not_equal(cmap_status_name(codes[i].code),
			    cmap_status_name(codes[j].code));
			assert_string_not_equal(cmap_strerror(codes[i].code),
			    cmap_strerror(codes[j].code));
		}
	}
	/* the values are part of the ABI */
	assert_int_equal(CMAP_OK, 0);
	assert_int_equal(CMAP_NOT_FOUND, 1);
	assert_int_equal(CMAP_MISMATCH, 3);
	assert_int_equal(CMAP_INSERTED, 4);
	assert_int_equal(CMAP_EINVAL, -1);
	assert_int_equal(CMAP_ENOMEM, -2);
	assert_int_equal(CMAP_EBACKEND, -3);
	assert_int_equal(CMAP_ERECURSE, -5);
	assert_string_equal(cmap_status_name(CMAP_NOT_FOUND), "NOT_FOUND");
	assert_string_equal(cmap_strerror(CMAP_NOT_FOUND), "key not found");
	assert_string_equal(cmap_status_name(CMAP_INSERTED), "INSERTED");
	assert_string_equal(cmap_status_name(CMAP_ERECURSE), "ERECURSE");
	/* 2 and -4 (EXISTS and ESHARDS before 1.0) are retired */
	const int unknown[] = {2, -4, 5, 100, -12, -13, -100, INT_MAX, INT_MIN};
	for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++) {
		assert_string_equal(
		    cmap_strerror((cmap_status_t)unknown[i]), "unknown status");
		assert_string_equal(
		    cmap_status_name((cmap_status_t)unknown[i]), "UNKNOWN");
	}
	assert_false(cmap_is_error(CMAP_OK));
	assert_false(cmap_is_error(CMAP_NOT_FOUND));
	assert_false(cmap_is_error(CMAP_MISMATCH));
	assert_false(cmap_is_error(CMAP_INSERTED));
	assert_true(cmap_is_error(CMAP_EINVAL));
	assert_true(cmap_is_error(CMAP_ENOMEM));
	assert_true(cmap_is_error(CMAP_EBACKEND));
	assert_true(cmap_is_error(CMAP_ERECURSE));
}

static void
test_config_defaults(void **state)
{
	(void)state;
	cmap_config_t cfg;

	memset(&cfg, 0xa5, sizeof cfg);
	cmap_config_init(&cfg);
	assert_int_equal(cfg.size, sizeof cfg);
	assert_null(cfg.backend);
	assert_int_equal(cfg.capacity, 0);
	/* "default shards": cmap.h allows 0 (the backend's default) or
	 * CMAP_DEFAULT_SHARDS; the loop below checks what maps get */
	assert_true(cfg.shards == 0 || cfg.shards == CMAP_DEFAULT_SHARDS);
	assert_int_equal(CMAP_DEFAULT_SHARDS, 32);
	assert_int_equal(cfg.flags, 0);
	assert_true(cfg.seed == 0);
	assert_null(cfg.allocator.alloc);
	assert_null(cfg.allocator.free);
	assert_null(cfg.allocator.ctx);
	assert_int_equal(cfg.n_options_, 0);
	assert_null(cmap_config_get(&cfg, "backend"));
	assert_null(cmap_config_get(&cfg, "shards"));
	cmap_config_init(NULL); /* no-op */

	/* the defaults make a working plain map */
	cmap_t *m = tu_create_cfg(&cfg);
	assert_string_equal(cmap_backend(m), CMAP_BACKEND_PLAIN);
	cmap_stats_t s = stats_of(m);
	assert_string_equal(s.backend, CMAP_BACKEND_PLAIN);
	assert_int_equal(s.shards, 1);
	assert_true(s.seed != 0);
	assert_int_equal(cmap_store(m, 1, 2), CMAP_INSERTED);
	cmap_destroy(m);
	/* a map from the defaults of a backend with the option "shards"
	 * has cfg.shards shards, or the option's default for 0 */
	const char *all[TU_MAX_BACKENDS];
	size_t nb = tu_backends(all), with_shards = 0;
	for (size_t b = 0; b < nb; b++) {
		cmap_option_info_t opt;

		tu_config_init(&cfg, all[b]);
		m = tu_create_cfg(&cfg);
		assert_string_equal(cmap_backend(m), all[b]);
		if (tu_option(all[b], "shards", &opt)) {
			with_shards++;
			assert_int_equal(
			    stats_of(m).shards, shards_of(all[b], cfg.shards));
		} else {
			assert_int_equal(stats_of(m).shards, 1);
		}
		cmap_destroy(m);
	}
	assert_true(with_shards >= 1);
	/* a config with allocator.ctx but no hooks uses malloc/free */
	int dummy;
	cmap_config_init(&cfg);
	cfg.allocator.ctx = &dummy;
	m = tu_create_cfg(&cfg);
	assert_int_equal(cmap_store(m, 1, 2), CMAP_INSERTED);
	cmap_destroy(m);
	cmap_destroy(NULL);
	assert_int_equal(CMAP_VERSION_MAJOR, 1);
	assert_int_equal(cmap_version(), CMAP_VERSION);
}

/* ===================================================================
 * Metrics (cmap.h, METRICS): counters match the calls made
 * ================================================================= */

static cmap_t *
mk_metrics(const char *sample)
{
	cmap_config_t cfg;

	cfg_for(&cfg, 0);
	cfg.flags |= CMAP_FLAG_METRICS;
	if (sample != NULL)
		assert_int_equal(
		    cmap_config_set(&cfg, "metrics_sample", sample), CMAP_OK);
	return tu_create_cfg(&cfg);
}

static uint32_t
map_shards(cmap_t *m)
{
	cmap_metrics_t mx;

	assert_int_equal(cmap_metrics(m, &mx), CMAP_OK);
	return mx.shards;
}

static cmap_metrics_op_t
mop(cmap_t *m, cmap_op_t op)
{
	cmap_metrics_op_t o;

	assert_int_equal(cmap_metrics_op(m, op, &o), CMAP_OK);
	return o;
}

/* The results of kind op are ok, inserted, not_found, mismatch, errors;
 * ops calls; every call timed (metrics_sample=1). */
static void
check_op(cmap_t *m, cmap_op_t op, uint64_t ops, uint64_t ok, uint64_t ins,
    uint64_t nf, uint64_t mm)
{
	cmap_metrics_op_t o = mop(m, op);
	uint64_t sum = 0;

	assert_int_equal(o.ops, ops);
	assert_int_equal(o.ok, ok);
	assert_int_equal(o.inserted, ins);
	assert_int_equal(o.not_found, nf);
	assert_int_equal(o.mismatch, mm);
	assert_int_equal(o.errors, 0);
	assert_int_equal(o.keys, ok + ins + nf + mm);
	assert_int_equal(o.samples, ops);
	for (unsigned b = 0; b < CMAP_METRICS_BUCKETS; b++)
		sum += o.buckets[b];
	assert_int_equal(sum, o.samples);
	assert_true(o.sample_ns > 0 || ops == 0);
}

static void
test_metrics_counts(void **state)
{
	(void)state;
	cmap_t *m = mk_metrics("1");
	const uint64_t n = remote_scaled(300, 50);
	uint64_t keys[8] = {1, 2, 3, 4, 5, 6, 7, 8}, vals[8] = {0};
	cmap_status_t st[8];
	cmap_metrics_t mx;
	struct upd u = {.action = CMAP_UPDATE_STORE, .newval = 6};
	uint64_t v;

	assert_int_equal(cmap_clear(m), CMAP_OK); /* a shared server */
	for (uint64_t k = 1; k <= n; k++)
		assert_int_equal(cmap_store(m, k, k), CMAP_INSERTED);
	for (uint64_t k = 1; k <= n; k++)
		assert_int_equal(cmap_store(m, k, k), CMAP_OK);
	for (uint64_t k = 1; k <= 2 * n; k++)
		(void)cmap_load(m, k, &v);
	for (uint64_t k = n / 2 + 1; k <= n + n / 2; k++)
		(void)cmap_load_or_store(m, k, k, &v);
	for (uint64_t k = 1; k <= n; k++)
		(void)cmap_compare_and_swap(m, k, k + (k & 1), k);
	assert_int_equal(cmap_compare_and_delete(m, 1, 0), CMAP_MISMATCH);
	assert_int_equal(cmap_compare_and_delete(m, 2, 2), CMAP_OK);
	assert_int_equal(cmap_load_and_delete(m, 3, &v), CMAP_OK);
	assert_int_equal(cmap_delete(m, 3), CMAP_NOT_FOUND);
	assert_int_equal(cmap_swap(m, 4, 9, &v), CMAP_OK);
	assert_int_equal(cmap_add(m, 2, 5, &v), CMAP_INSERTED);
	assert_int_equal(cmap_update(m, 5, upd_cb, &u, &v), CMAP_OK);
	assert_int_equal(cmap_load_batch(m, 8, keys, vals, st), CMAP_OK);
	assert_int_equal(cmap_store_batch(m, 8, keys, vals, st), CMAP_OK);
	assert_int_equal(cmap_delete_batch(m, 2, keys, st), CMAP_OK);
	(void)range_count(m); /* asserts CMAP_OK */
	assert_int_equal(cmap_reserve(m, 10), CMAP_OK);
	assert_int_equal(cmap_sync(m), CMAP_OK);
	/* Rejected by the argument checks: not recorded. */
	assert_int_equal(cmap_load(m, 1, NULL), CMAP_EINVAL);

	{
		/* kind, calls, ok, inserted, not_found, mismatch */
		const uint64_t want[][6] = {
		    {CMAP_OP_STORE, 2 * n, n, n, 0, 0},
		    {CMAP_OP_LOAD, 2 * n, n, 0, n, 0},
		    {CMAP_OP_LOAD_OR_STORE, n, n / 2, n - n / 2, 0, 0},
		    {CMAP_OP_COMPARE_AND_SWAP, n, n - (n + 1) / 2, 0, 0,
		        (n + 1) / 2},
		    {CMAP_OP_COMPARE_AND_DELETE, 2, 1, 0, 0, 1},
		    {CMAP_OP_LOAD_AND_DELETE, 1, 1, 0, 0, 0},
		    {CMAP_OP_DELETE, 1, 0, 0, 1, 0},
		    {CMAP_OP_SWAP, 1, 1, 0, 0, 0},
		    {CMAP_OP_ADD, 1, 0, 1, 0, 0},
		    {CMAP_OP_UPDATE, 1, 1, 0, 0, 0},
		    /* keys 1..8 then: 2 re-added, 3 deleted, the rest there */
		    {CMAP_OP_LOAD_BATCH, 1, 7, 0, 1, 0},
		    {CMAP_OP_STORE_BATCH, 1, 7, 1, 0, 0},
		    {CMAP_OP_DELETE_BATCH, 1, 2, 0, 0, 0},
		    {CMAP_OP_RANGE, 1, 1, 0, 0, 0},
		    {CMAP_OP_CLEAR, 1, 1, 0, 0, 0},
		    {CMAP_OP_RESERVE, 1, 1, 0, 0, 0},
		    {CMAP_OP_SYNC, 1, 1, 0, 0, 0},
		};

		for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
			check_op(m, (cmap_op_t)want[i][0], want[i][1],
			    want[i][2], want[i][3], want[i][4], want[i][5]);
	}
	/* One thread, so no lost race: no retry. */
	assert_int_equal(mop(m, CMAP_OP_UPDATE).retries, 0);
	assert_int_equal(cmap_metrics(m, &mx), CMAP_OK);
	assert_true(mx.enabled);
	assert_string_equal(mx.backend, g_v.backend);
	assert_int_equal(mx.sample_every, 1);
	assert_int_equal(mx.threads, 1);
	assert_int_equal(mx.records, 1);
	assert_int_equal(mx.dropped, 0);
	assert_int_equal(mx.n_ops, CMAP_OP_COUNT_);
	assert_int_equal(mx.len, cmap_len(m));
	/* Every byte through the hooks is counted: the checking allocator
	 * sees exactly what the map holds. */
	assert_int_equal(mx.bytes, (uint64_t)atomic_load(&g_alloc.live_bytes));
	if (g_v.shards != 0)
		assert_int_equal(mx.shards, g_v.shards);
	assert_int_equal(
	    cmap_metrics_op(m, CMAP_OP_COUNT_, &(cmap_metrics_op_t){0}),
	    CMAP_EINVAL);
	cmap_destroy(m);
}

/* Resizes started by the stores that grow a local table. */
static void
test_metrics_resizes(void **state)
{
	(void)state;
	cmap_t *m;
	cmap_metrics_op_t o;

	if (!local_table() || tu_has(g_v.backend, CMAP_CAP_PERSISTENT))
		skip();
	m = mk_metrics(NULL);
	for (uint64_t k = 1; k <= 100000; k++)
		assert_int_equal(cmap_store(m, k, k), CMAP_INSERTED);
	o = mop(m, CMAP_OP_STORE);
	assert_int_equal(o.ops, 100000);
	assert_true(o.resizes >= 1);
	assert_true(o.samples >= 1 && o.samples < o.ops);
	assert_int_equal(mop(m, CMAP_OP_LOAD).ops, 0);
	cmap_destroy(m);
}

/* An update whose callback makes recorded calls on another map still
 * counts the resizes its inserts start (after the callback returned) as
 * its own; the other map's loads count as loads of that map; and the
 * two maps, used in turn, keep their counts apart.  The callback's
 * second load takes the common path (the other map is then the thread's
 * last, and it samples 1 call in 65536), which leaves no counters
 * current behind it: the update must put its own back. */
struct nested_upd {
	cmap_t *other;
	uint64_t loads;
};

static cmap_update_action_t
nested_upd_cb(uint64_t key, uint64_t *value, bool present, void *ctx)
{
	struct nested_upd *n = ctx;
	uint64_t v;

	(void)present;
	assert_true(cmap_load(n->other, key, &v) >= 0);
	assert_true(cmap_load(n->other, key + 1, &v) >= 0);
	n->loads += 2;
	*value = key;
	return CMAP_UPDATE_STORE;
}

static void
test_metrics_nested(void **state)
{
	(void)state;
	cmap_t *m, *other;
	struct nested_upd n = {NULL, 0};
	cmap_metrics_op_t o;

	if (!local_table() || tu_has(g_v.backend, CMAP_CAP_PERSISTENT))
		skip();
	m = mk_metrics(NULL);
	other = mk_metrics("65536");
	n.other = other;
	for (uint64_t k = 1; k <= 20000; k++) {
		assert_int_equal(
		    cmap_update(m, k, nested_upd_cb, &n, NULL), CMAP_INSERTED);
		assert_int_equal(cmap_store(other, k, k), CMAP_INSERTED);
	}
	o = mop(m, CMAP_OP_UPDATE);
	assert_int_equal(o.inserted, 20000);
	assert_true(o.resizes >= 1);
	assert_true(o.migrate_ns > 0);
	assert_int_equal(mop(m, CMAP_OP_LOAD).ops, 0);
	assert_int_equal(mop(m, CMAP_OP_STORE).ops, 0);
	o = mop(other, CMAP_OP_LOAD);
	assert_int_equal(o.ops, n.loads);
	assert_int_equal(o.ok + o.not_found, n.loads);
	assert_int_equal(mop(other, CMAP_OP_STORE).inserted, 20000);
	assert_int_equal(mop(other, CMAP_OP_UPDATE).ops, 0);
	cmap_destroy(other);
	cmap_destroy(m);
}

/* Threads that come and go reuse the records of those that exited. */
static void *
one_store(void *arg)
{
	cmap_t *m = arg;

	assert_true(cmap_store(m, 7, 7) >= 0);
	return NULL;
}

static void
test_metrics_thread_reuse(void **state)
{
	(void)state;
	cmap_t *m = mk_metrics(NULL);
	cmap_metrics_t mx;

	if (!tu_has(g_v.backend, CMAP_CAP_THREAD_SAFE)) {
		cmap_destroy(m);
		skip();
	}
	for (int i = 0; i < 20; i++) {
		pthread_t t;

		assert_int_equal(pthread_create(&t, NULL, one_store, m), 0);
		assert_int_equal(pthread_join(t, NULL), 0);
	}
	assert_int_equal(cmap_metrics(m, &mx), CMAP_OK);
	assert_int_equal(mx.records, 1);
	assert_int_equal(mx.threads, 0);
	assert_int_equal(mop(m, CMAP_OP_STORE).ops, 20);
	cmap_destroy(m);
}

/* Without the flag: nothing recorded, enabled false. */
static void
test_metrics_off(void **state)
{
	(void)state;
	cmap_t *m = mk();
	cmap_metrics_t mx;
	uint64_t v;
	char buf[4096];
	size_t len = 0;
	const cmap_metrics_source_t src = {m, NULL, 0};

	(void)cmap_load(m, 1, &v);
	assert_int_equal(cmap_metrics(m, &mx), CMAP_OK);
	assert_false(mx.enabled);
	assert_int_equal(mx.records, 0);
	assert_int_equal(mop(m, CMAP_OP_LOAD).ops, 0);
	assert_int_equal(
	    cmap_metrics_text(&src, 1, buf, sizeof buf, &len), CMAP_OK);
	assert_true(len < sizeof buf);
	assert_non_null(strstr(buf, "# TYPE map_entries gauge\n"));
	assert_null(strstr(buf, "map_operations_total"));
	cmap_destroy(m);
}

static void
refused(const cmap_metrics_source_t src[2])
{
	size_t len = 0;

	assert_int_equal(cmap_metrics_text(src, 2, NULL, 0, &len), CMAP_EINVAL);
}

/* The text: families once, labels, counts; bad labels refused. */
static void
test_metrics_text(void **state)
{
	(void)state;
	cmap_t *a = mk_metrics(NULL), *b = mk_metrics(NULL);
	const cmap_metrics_label_t la[] = {{"map", "a"}, {"team", "x\"y\\z\n"}};
	const cmap_metrics_label_t lb[] = {{"map", "b"}};
	const cmap_metrics_label_t bad[] = {{"op", "1"}};
	const cmap_metrics_label_t twice[] = {{"map", "1"}, {"map", "2"}};
	cmap_metrics_source_t src[2] = {{a, la, 2}, {b, lb, 1}};
	char line[512], small[16], *buf;
	size_t len = 0, len2 = 0;
	uint64_t v;

	assert_int_equal(cmap_clear(a), CMAP_OK);
	for (uint64_t k = 1; k <= 10; k++)
		(void)cmap_load_or_store(a, k, k, &v);
	(void)cmap_load(b, 1, &v);
	assert_int_equal(cmap_metrics_text(src, 2, NULL, 0, &len), CMAP_OK);
	assert_true(len > 0);
	buf = malloc(len + 4096);
	assert_non_null(buf);
	assert_int_equal(
	    cmap_metrics_text(src, 2, buf, len + 4096, &len2), CMAP_OK);
	assert_true(len2 < len + 4096);
	assert_int_equal(strlen(buf), len2);
	snprintf(line, sizeof line,
	    "map_operations_total{impl_type=\"%s\",shard_count=\"%u\","
	    "map=\"a\",team=\"x\\\"y\\\\z\\n\",op=\"load_or_store\","
	    "result=\"inserted\"} 10\n",
	    g_v.backend, (unsigned)map_shards(a));
	assert_non_null(strstr(buf, line));
	assert_non_null(strstr(buf, "map=\"b\",op=\"load\""));
	assert_non_null(
	    strstr(buf, "# TYPE map_operation_duration_seconds histogram\n"));
	/* each family once */
	{
		const char *p = strstr(buf, "# HELP map_operations_total");

		assert_non_null(p);
		assert_null(strstr(p + 1, "# HELP map_operations_total"));
	}
	/* a buffer too small: cut, NUL-terminated, the whole length told */
	assert_int_equal(
	    cmap_metrics_text(src, 2, small, sizeof small, &len2), CMAP_OK);
	assert_int_equal(strlen(small), sizeof small - 1);
	assert_true(len2 >= len);
	free(buf);
	/* refused: reserved or repeated label names, colliding series, a
	 * NULL map */
	src[1].labels = bad;
	refused(src);
	src[1].labels = twice;
	src[1].n_labels = 2;
	refused(src);
	src[1] = src[0];
	src[1].map = b;
	refused(src);
	src[1].map = NULL;
	refused(src);
	cmap_destroy(a);
	cmap_destroy(b);
}

/* ===================================================================
 * Runner
 * ================================================================= */

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

static const struct CMUnitTest backend_tests[] = {
    T(test_empty),
    T(test_store_load_edges),
    T(test_load_or_store),
    T(test_load_and_delete),
    T(test_swap),
    T(test_compare_and_swap),
    T(test_compare_and_delete),
    T(test_add),
    T(test_update_actions),
    T(test_update_invalid_action),
    T(test_update_recursion),
    T(test_update_nested_other_map),
    T(test_update_nested_cross_backend),
    T(test_range_calls_update),
    T(test_range_early_stop),
    T(test_range_exact),
    T(test_range_mutating),
    T(test_range_grows_during),
    T(test_range_reserved),
    T(test_range_shrinks_during),
    T(test_range_clear_during),
    T(test_range_nested),
    T(test_growth_1m),
    T(test_clear),
    T(test_reserve),
    T(test_reserve_any_seed),
    T(test_stats),
    T(test_seed),
    T(test_allocator_accounting),
    T(test_differential_small),
    T(test_differential_large),
    T(test_metrics_counts),
    T(test_metrics_nested),
    T(test_metrics_resizes),
    T(test_metrics_thread_reuse),
    T(test_metrics_off),
    T(test_metrics_text),
};

static const struct CMUnitTest api_tests[] = {
    cmocka_unit_test(test_backend_names),
    cmocka_unit_test(test_status_strings),
    cmocka_unit_test(test_config_defaults),
};

int
main(int argc, char **argv)
{
	const char *all[TU_MAX_BACKENDS];
	size_t nb = tu_backends(all);
	struct variant vs[3 * TU_MAX_BACKENDS];
	size_t nv = 0, matched = 0;
	int failed = 0;

	/* An optional argument limits the run to one variant by name
	 * ("plain", "sharded", "sharded/1", ...). */
	for (size_t i = 0; i < nb; i++) {
		cmap_option_info_t opt;

		vs[nv] = (struct variant){all[i], 0, ""};
		snprintf(vs[nv].name, sizeof vs[nv].name, "%s", all[i]);
		nv++;
		if (tu_option(all[i], "shards", &opt)) {
			const uint32_t extra[] = {1, 1024};
			for (size_t e = 0; e < 2; e++) {
				if (extra[e] < opt.min || extra[e] > opt.max)
					continue;
				vs[nv] = (struct variant){all[i], extra[e], ""};
				snprintf(vs[nv].name, sizeof vs[nv].name,
				    "%s/%u", all[i], (unsigned)extra[e]);
				nv++;
			}
		}
	}
	failed += cmocka_run_group_tests_name("api", api_tests, NULL, NULL);
	for (size_t i = 0; i < nv; i++) {
		char group[96];

		if (argc > 1 && strcmp(argv[1], vs[i].name) != 0)
			continue;
		g_v = vs[i];
		snprintf(group, sizeof group, "contract/%s", vs[i].name);
		failed += cmocka_run_group_tests_name(
		    group, backend_tests, NULL, NULL);
		matched++;
	}
	/* A variant asked for by name that this run cannot test (not built,
	 * or its server not given) fails rather than pass untested. */
	if (argc > 1 && matched == 0) {
		fprintf(stderr, "test_contract: no variant named %s here\n",
		    argv[1]);
		return 1;
	}
	return failed != 0;
}
