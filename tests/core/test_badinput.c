/*
 * test_badinput.c - every public function given bad input: NULL map, NULL
 * required out pointer, NULL callback, NULL config, unknown backend, bad
 * shard counts, unknown flags, half-set allocator hooks, absurd sizes.
 *
 * What must hold (cmap.h, RESULTS): the call returns its own error, does
 * not crash or print, leaves *out unchanged, and the map holds exactly
 * what it held and stays usable.
 */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "testutil.h"

#define SENT UINT64_C(0x5e5e5e5e5e5e5e5e)

static cmap_backend_t g_backends[CMAP_BACKEND_COUNT_];
static size_t g_nbackends;

static cmap_update_action_t
store_cb(uint64_t key, uint64_t *value, bool present, void *ctx)
{
	(void)key;
	(void)present;
	(void)ctx;
	*value = 1;
	return CMAP_UPDATE_STORE;
}

static bool
count_cb(uint64_t key, uint64_t value, void *ctx)
{
	(void)key;
	(void)value;
	(*(int *)ctx)++;
	return true;
}

static void
fill(cmap_t *m, struct tu_model *model)
{
	for (size_t i = 0; i < tu_n_edge_values; i++) {
		assert_int_equal(cmap_store(m, tu_edge_values[i], i), CMAP_OK);
		tu_model_put(model, tu_edge_values[i], i);
	}
	for (uint64_t i = 100; i < 400; i++) {
		assert_int_equal(cmap_store(m, i, ~i), CMAP_OK);
		tu_model_put(model, i, ~i);
	}
}

/* The map is intact and still takes writes. */
static void
check_usable(cmap_t *m, struct tu_model *model)
{
	static uint64_t next = 1000000;

	tu_assert_map_equals_model(m, model);
	assert_int_equal(cmap_store(m, next, 1), CMAP_OK);
	tu_model_put(model, next, 1);
	assert_int_equal(cmap_delete(m, next), CMAP_OK);
	tu_model_del(model, next);
	next++;
	tu_assert_map_equals_model(m, model);
}

/* NULL map: every function.  No map exists to corrupt. */
static void
test_null_map(void **state)
{
	(void)state;
	uint64_t v = SENT;
	int calls = 0;
	cmap_stats_t st;

	assert_int_equal(cmap_load(NULL, 1, &v), CMAP_EINVAL);
	assert_int_equal(cmap_store(NULL, 1, 2), CMAP_EINVAL);
	assert_int_equal(cmap_load_or_store(NULL, 1, 2, &v), CMAP_EINVAL);
	assert_int_equal(cmap_load_and_delete(NULL, 1, &v), CMAP_EINVAL);
	assert_int_equal(cmap_delete(NULL, 1), CMAP_EINVAL);
	assert_int_equal(cmap_swap(NULL, 1, 2, &v), CMAP_EINVAL);
	assert_int_equal(cmap_swap(NULL, 1, 2, NULL), CMAP_EINVAL);
	assert_int_equal(cmap_compare_and_swap(NULL, 1, 2, 3), CMAP_EINVAL);
	assert_int_equal(cmap_compare_and_delete(NULL, 1, 2), CMAP_EINVAL);
	assert_int_equal(cmap_add(NULL, 1, 2, &v), CMAP_EINVAL);
	assert_int_equal(cmap_add(NULL, 1, 2, NULL), CMAP_EINVAL);
	assert_int_equal(cmap_update(NULL, 1, store_cb, NULL, &v), CMAP_EINVAL);
	assert_int_equal(cmap_update(NULL, 1, NULL, NULL, NULL), CMAP_EINVAL);
	assert_int_equal(cmap_range(NULL, count_cb, &calls), CMAP_EINVAL);
	assert_int_equal(cmap_range(NULL, NULL, NULL), CMAP_EINVAL);
	assert_int_equal(calls, 0);
	assert_int_equal(cmap_len(NULL), 0);
	assert_int_equal(cmap_clear(NULL), CMAP_EINVAL);
	assert_int_equal(cmap_reserve(NULL, 10), CMAP_EINVAL);
	memset(&st, 0x5a, sizeof st);
	cmap_stats_t before = st;
	assert_int_equal(cmap_stats(NULL, &st), CMAP_EINVAL);
	assert_memory_equal(&st, &before, sizeof st);
	assert_int_equal(cmap_stats(NULL, NULL), CMAP_EINVAL);
	assert_true(v == SENT);
	cmap_destroy(NULL);
	/* cmap_backend(NULL) has no documented result; it must not crash */
	(void)cmap_backend(NULL);
}

/* NULL out pointers and NULL callbacks on a live map of every backend. */
static void
test_null_args(void **state)
{
	(void)state;
	for (size_t b = 0; b < g_nbackends; b++) {
		struct tu_alloc al;
		cmap_config_t cfg;
		struct tu_model model;
		cmap_stats_t st;
		uint64_t v = SENT;

		tu_alloc_init(&al);
		cmap_config_init(&cfg);
		cfg.backend = g_backends[b];
		tu_alloc_install(&al, &cfg);
		cmap_t *m = tu_create_cfg(&cfg);
		tu_model_init(&model);
		fill(m, &model);

		/* load: present and absent key */
		assert_int_equal(cmap_load(m, 100, NULL), CMAP_EINVAL);
		assert_int_equal(cmap_load(m, 99, NULL), CMAP_EINVAL);
		check_usable(m, &model);
		/* load_or_store: absent key must not be inserted */
		assert_int_equal(
		    cmap_load_or_store(m, 99, 5, NULL), CMAP_EINVAL);
		assert_int_equal(
		    cmap_load_or_store(m, 100, 5, NULL), CMAP_EINVAL);
		check_usable(m, &model);
		/* load_and_delete: present key must not be deleted */
		assert_int_equal(
		    cmap_load_and_delete(m, 100, NULL), CMAP_EINVAL);
		assert_int_equal(cmap_load_and_delete(m, 0, NULL), CMAP_EINVAL);
		assert_int_equal(
		    cmap_load_and_delete(m, 99, NULL), CMAP_EINVAL);
		check_usable(m, &model);
		/* update: NULL fn, on present and absent keys */
		assert_int_equal(
		    cmap_update(m, 100, NULL, NULL, &v), CMAP_EINVAL);
		assert_int_equal(
		    cmap_update(m, 99, NULL, NULL, &v), CMAP_EINVAL);
		assert_int_equal(
		    cmap_update(m, 99, NULL, NULL, NULL), CMAP_EINVAL);
		assert_true(v == SENT);
		check_usable(m, &model);
		/* range: NULL fn */
		assert_int_equal(cmap_range(m, NULL, NULL), CMAP_EINVAL);
		assert_int_equal(cmap_range(m, NULL, &v), CMAP_EINVAL);
		check_usable(m, &model);
		/* stats: NULL out */
		assert_int_equal(cmap_stats(m, NULL), CMAP_EINVAL);
		check_usable(m, &model);
		/* optional out pointers are really optional */
		assert_int_equal(cmap_swap(m, 100, 7, NULL), CMAP_OK);
		tu_model_put(&model, 100, 7);
		assert_int_equal(cmap_add(m, 100, 1, NULL), CMAP_OK);
		tu_model_put(&model, 100, 8);
		assert_int_equal(
		    cmap_update(m, 101, store_cb, NULL, NULL), CMAP_OK);
		tu_model_put(&model, 101, 1);
		check_usable(m, &model);
		/* absurd reserve sizes: an error, nothing changed */
		const size_t huge[] = {SIZE_MAX, SIZE_MAX / 2, SIZE_MAX / 16,
		    SIZE_MAX / 17 + 3, (size_t)1 << 62, (size_t)1 << 59};
		for (size_t h = 0; h < sizeof huge / sizeof huge[0]; h++) {
			cmap_stats_t before, after;
			assert_int_equal(cmap_stats(m, &before), CMAP_OK);
			long live = atomic_load(&al.live_bytes);
			cmap_status_t s = cmap_reserve(m, huge[h]);
			assert_int_equal(s, CMAP_ENOMEM);
			assert_int_equal(cmap_stats(m, &after), CMAP_OK);
			assert_int_equal(after.capacity, before.capacity);
			assert_int_equal(after.bytes, before.bytes);
			assert_int_equal(atomic_load(&al.live_bytes), live);
			check_usable(m, &model);
		}
		memset(&st, 0, sizeof st);
		assert_int_equal(cmap_stats(m, &st), CMAP_OK);
		assert_int_equal(st.len, model.len);
		cmap_destroy(m);
		tu_model_fini(&model);
		assert_int_equal(atomic_load(&al.live_bytes), 0);
	}
}

/* cmap_create with bad configs: *out unchanged, nothing leaked. */
static void
expect_create(const cmap_config_t *cfg, cmap_status_t want)
{
	cmap_t *sentinel = (cmap_t *)(uintptr_t)0x1234;
	cmap_t *out = sentinel;
	cmap_status_t s = cmap_create(cfg, &out);

	if (s != want)
		fail_msg("cmap_create(backend %d, shards %u, flags %#x) = "
		         "%s, want %s",
		    cfg ? (int)cfg->backend : -1,
		    cfg ? (unsigned)cfg->shards : 0,
		    cfg ? (unsigned)cfg->flags : 0, cmap_status_name(s),
		    cmap_status_name(want));
	if (want == CMAP_OK) {
		assert_true(out != sentinel);
		assert_non_null(out);
		assert_int_equal(cmap_store(out, 1, 2), CMAP_OK);
		cmap_destroy(out);
	} else {
		assert_ptr_equal(out, sentinel);
	}
}

static void
test_create_bad(void **state)
{
	(void)state;
	cmap_config_t cfg;
	cmap_t *out = NULL;
	struct tu_alloc al;

	tu_alloc_init(&al);
	/* NULL config, NULL out */
	expect_create(NULL, CMAP_EINVAL);
	cmap_config_init(&cfg);
	assert_int_equal(cmap_create(&cfg, NULL), CMAP_EINVAL);
	assert_int_equal(cmap_create(NULL, NULL), CMAP_EINVAL);

	/* unknown backends */
	const int badb[] = {CMAP_BACKEND_COUNT_, CMAP_BACKEND_COUNT_ + 1, 99,
	    1000, INT_MAX, -1};
	for (size_t i = 0; i < sizeof badb / sizeof badb[0]; i++) {
		cmap_config_init(&cfg);
		tu_alloc_install(&al, &cfg);
		cfg.backend = (cmap_backend_t)badb[i];
		expect_create(&cfg, CMAP_EBACKEND);
	}
	/* known but not built */
	for (int b = 0; b < CMAP_BACKEND_COUNT_; b++) {
		cmap_config_init(&cfg);
		tu_alloc_install(&al, &cfg);
		cfg.backend = (cmap_backend_t)b;
		expect_create(&cfg,
		    cmap_backend_available((cmap_backend_t)b) ? CMAP_OK
		                                              : CMAP_EBACKEND);
	}

	/* shard counts */
	const struct {
		uint32_t shards;
		cmap_status_t want;
	} sh[] = {
	    {0, CMAP_OK},
	    {1, CMAP_OK},
	    {2, CMAP_OK},
	    {3, CMAP_ESHARDS},
	    {6, CMAP_ESHARDS},
	    {12, CMAP_ESHARDS},
	    {33, CMAP_ESHARDS},
	    {64, CMAP_OK},
	    {65535, CMAP_ESHARDS},
	    {CMAP_MAX_SHARDS, CMAP_OK},
	    {CMAP_MAX_SHARDS + 1, CMAP_ESHARDS},
	    {CMAP_MAX_SHARDS * 2, CMAP_ESHARDS},
	    {UINT32_C(1) << 31, CMAP_ESHARDS},
	    {UINT32_MAX, CMAP_ESHARDS},
	};
	for (size_t i = 0; i < sizeof sh / sizeof sh[0]; i++) {
		cmap_config_init(&cfg);
		tu_alloc_install(&al, &cfg);
		cfg.backend = CMAP_BACKEND_SHARDED;
		cfg.shards = sh[i].shards;
		expect_create(&cfg, sh[i].want);
		if (sh[i].want == CMAP_OK) {
			cmap_stats_t st;
			assert_int_equal(cmap_create(&cfg, &out), CMAP_OK);
			assert_int_equal(cmap_stats(out, &st), CMAP_OK);
			assert_int_equal(st.shards,
			    sh[i].shards ? sh[i].shards : CMAP_DEFAULT_SHARDS);
			cmap_destroy(out);
		}
		/* other backends ignore the shard count */
		for (size_t b = 0; b < g_nbackends; b++) {
			if (g_backends[b] == CMAP_BACKEND_SHARDED)
				continue;
			cfg.backend = g_backends[b];
			expect_create(&cfg, CMAP_OK);
		}
	}

	/* flags: only CMAP_FLAG_NO_MISUSE_CHECK is known */
	const uint32_t badf[] = {1u << 1, 1u << 2, 1u << 31, 0xffffffffu,
	    CMAP_FLAG_NO_MISUSE_CHECK | (1u << 5)};
	for (size_t b = 0; b < g_nbackends; b++) {
		for (size_t i = 0; i < sizeof badf / sizeof badf[0]; i++) {
			cmap_config_init(&cfg);
			tu_alloc_install(&al, &cfg);
			cfg.backend = g_backends[b];
			cfg.flags = badf[i];
			expect_create(&cfg, CMAP_EINVAL);
		}
		cmap_config_init(&cfg);
		cfg.backend = g_backends[b];
		cfg.flags = CMAP_FLAG_NO_MISUSE_CHECK;
		expect_create(&cfg, CMAP_OK);

		/* only one allocator hook */
		cmap_config_init(&cfg);
		cfg.backend = g_backends[b];
		tu_alloc_install(&al, &cfg);
		cfg.allocator.free = NULL;
		expect_create(&cfg, CMAP_EINVAL);
		cmap_config_init(&cfg);
		cfg.backend = g_backends[b];
		tu_alloc_install(&al, &cfg);
		cfg.allocator.alloc = NULL;
		expect_create(&cfg, CMAP_EINVAL);

		/* an absurd capacity hint: an error, nothing leaked */
		const size_t huge[] = {
		    SIZE_MAX, SIZE_MAX / 2, SIZE_MAX / 16, (size_t)1 << 62};
		for (size_t h = 0; h < sizeof huge / sizeof huge[0]; h++) {
			cmap_t *sentinel = (cmap_t *)(uintptr_t)0x1234;
			out = sentinel;
			cmap_config_init(&cfg);
			cfg.backend = g_backends[b];
			cfg.capacity = huge[h];
			tu_alloc_install(&al, &cfg);
			assert_int_equal(cmap_create(&cfg, &out), CMAP_ENOMEM);
			assert_ptr_equal(out, sentinel);
			assert_int_equal(atomic_load(&al.live_bytes), 0);
		}
	}
	/* every bad config above went through the counting allocator */
	assert_int_equal(atomic_load(&al.live_bytes), 0);
	assert_int_equal(atomic_load(&al.allocs), atomic_load(&al.frees));
}

/* Errors are reported in the documented order of precedence only where
 * the header fixes it; here: a NULL out is EINVAL whatever the config. */
static void
test_create_null_out_any_config(void **state)
{
	(void)state;
	cmap_config_t cfg;

	cmap_config_init(&cfg);
	cfg.backend = (cmap_backend_t)99;
	assert_true(cmap_is_error(cmap_create(&cfg, NULL)));
	cmap_config_init(&cfg);
	cfg.backend = CMAP_BACKEND_SHARDED;
	cfg.shards = 3;
	assert_true(cmap_is_error(cmap_create(&cfg, NULL)));
}

static void
test_names_bad(void **state)
{
	(void)state;
	cmap_backend_t b = (cmap_backend_t)55;

	assert_int_equal(cmap_backend_from_name(NULL, NULL), CMAP_EINVAL);
	assert_int_equal(cmap_backend_from_name(NULL, &b), CMAP_EINVAL);
	assert_int_equal(b, 55);
	assert_int_equal(cmap_backend_from_name("x", &b), CMAP_EBACKEND);
	assert_int_equal(b, 55);
	assert_null(cmap_backend_name((cmap_backend_t)12345));
	assert_false(cmap_backend_available((cmap_backend_t)12345));
	assert_string_equal(
	    cmap_strerror((cmap_status_t)12345), "unknown status");
	assert_string_equal(cmap_status_name((cmap_status_t)-12345), "UNKNOWN");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_null_map),
	    cmocka_unit_test(test_null_args),
	    cmocka_unit_test(test_create_bad),
	    cmocka_unit_test(test_create_null_out_any_config),
	    cmocka_unit_test(test_names_bad),
	};

	g_nbackends = tu_backends(g_backends);
	return cmocka_run_group_tests_name("badinput", tests, NULL, NULL);
}
