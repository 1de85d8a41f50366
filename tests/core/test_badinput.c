/*
 * test_badinput.c - every public function given bad input: NULL map, NULL
 * required out pointer, NULL callback, NULL config, unknown backend names,
 * bad shard counts, unknown flags, half-set allocator hooks, absurd sizes.
 * Backends are chosen by what they advertise, never by name.
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

static const char *g_backends[TU_MAX_BACKENDS];
static size_t g_nbackends;

/* The default of the UINT option `name` of `backend`. */
static uint64_t
option_default(const char *backend, const char *name)
{
	cmap_backend_info_t info;
	cmap_option_info_t opt;

	assert_int_equal(cmap_backend_info(backend, &info), CMAP_OK);
	for (size_t i = 0; i < info.n_options; i++) {
		assert_int_equal(
		    cmap_backend_option(backend, i, &opt), CMAP_OK);
		if (strcmp(opt.name, name) == 0) {
			assert_int_equal(opt.type, CMAP_OPTION_UINT);
			assert_non_null(opt.default_value);
			return strtoull(opt.default_value, NULL, 0);
		}
	}
	fail_msg("backend %s has no option %s", backend, name);
	return 0;
}

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
		assert_int_equal(
		    cmap_store(m, tu_edge_values[i], i), CMAP_INSERTED);
		tu_model_put(model, tu_edge_values[i], i);
	}
	for (uint64_t i = 100; i < 400; i++) {
		assert_int_equal(cmap_store(m, i, ~i), CMAP_INSERTED);
		tu_model_put(model, i, ~i);
	}
}

/* The map is intact and still takes writes. */
static void
check_usable(cmap_t *m, struct tu_model *model)
{
	static uint64_t next = 1000000;

	tu_assert_map_equals_model(m, model);
	assert_int_equal(cmap_store(m, next, 1), CMAP_INSERTED);
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
	assert_null(cmap_backend(NULL));
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
		tu_config_init(&cfg, g_backends[b]);
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
			/* a remote backend reserves nothing here: the server
			 * sizes its own tables */
			assert_int_equal(s,
			    tu_has(g_backends[b], CMAP_CAP_REMOTE)
			        ? CMAP_OK
			        : CMAP_ENOMEM);
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
		fail_msg("cmap_create(backend %s, shards %u, flags %#x) = "
		         "%s, want %s (%s)",
		    cfg && cfg->backend ? cfg->backend : "(null)",
		    cfg ? (unsigned)cfg->shards : 0,
		    cfg ? (unsigned)cfg->flags : 0, cmap_status_name(s),
		    cmap_status_name(want), cmap_last_error());
	if (want == CMAP_OK) {
		assert_true(out != sentinel);
		assert_non_null(out);
		assert_int_equal(cmap_store(out, 1, 2), CMAP_INSERTED);
		cmap_destroy(out);
	} else {
		assert_ptr_equal(out, sentinel);
		/* cmap_last_error says what was wrong */
		assert_true(cmap_last_error()[0] != '\0');
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

	/* unknown backends: EBACKEND, and cmap_last_error names them */
	static const char *const badb[] = {"", "PLAIN", "Plain", "plain ",
	    " plain", "plai", "plainx", "shard", "rw", "lock-free",
	    "lockfree\n", "none", "count", "99", "no such backend"};
	for (size_t i = 0; i < sizeof badb / sizeof badb[0]; i++) {
		cmap_config_init(&cfg);
		tu_alloc_install(&al, &cfg);
		cfg.backend = badb[i];
		expect_create(&cfg, CMAP_EBACKEND);
		if (badb[i][0] != '\0' && strchr(badb[i], '\n') == NULL)
			assert_non_null(strstr(cmap_last_error(), badb[i]));
	}
	/* every backend the build lists, and NULL (plain) */
	for (size_t b = 0; b < g_nbackends; b++) {
		tu_config_init(&cfg, g_backends[b]);
		tu_alloc_install(&al, &cfg);
		expect_create(&cfg, CMAP_OK);
	}
	cmap_config_init(&cfg);
	tu_alloc_install(&al, &cfg);
	cfg.backend = NULL;
	expect_create(&cfg, CMAP_OK);
	/* the built-in names: OK when built, EBACKEND when left out */
	static const char *const builtin[] = {CMAP_BACKEND_PLAIN,
	    CMAP_BACKEND_RWLOCK, CMAP_BACKEND_SHARDED, CMAP_BACKEND_LOCKFREE};
	for (size_t b = 0; b < sizeof builtin / sizeof builtin[0]; b++) {
		tu_config_init(&cfg, builtin[b]);
		tu_alloc_install(&al, &cfg);
		expect_create(&cfg,
		    cmap_backend_available(builtin[b]) ? CMAP_OK
		                                       : CMAP_EBACKEND);
	}

	/* shard counts (cfg.shards): a power of two in [1, CMAP_MAX_SHARDS]
	 * for a backend with the option "shards", CMAP_EINVAL naming the
	 * option otherwise; ignored by the other backends */
	const struct {
		uint32_t shards;
		cmap_status_t want;
	} sh[] = {
	    {0, CMAP_OK},
	    {1, CMAP_OK},
	    {2, CMAP_OK},
	    {3, CMAP_EINVAL},
	    {6, CMAP_EINVAL},
	    {12, CMAP_EINVAL},
	    {33, CMAP_EINVAL},
	    {64, CMAP_OK},
	    {65535, CMAP_EINVAL},
	    {CMAP_MAX_SHARDS, CMAP_OK},
	    {CMAP_MAX_SHARDS + 1, CMAP_EINVAL},
	    {CMAP_MAX_SHARDS * 2, CMAP_EINVAL},
	    {UINT32_C(1) << 31, CMAP_EINVAL},
	    {UINT32_MAX, CMAP_EINVAL},
	};
	size_t with_shards = 0;
	for (size_t b = 0; b < g_nbackends; b++) {
		bool takes = tu_option(g_backends[b], "shards", NULL);

		with_shards += takes;
		for (size_t i = 0; i < sizeof sh / sizeof sh[0]; i++) {
			tu_config_init(&cfg, g_backends[b]);
			tu_alloc_install(&al, &cfg);
			cfg.shards = sh[i].shards;
			if (!takes) {
				expect_create(&cfg, CMAP_OK);
				continue;
			}
			expect_create(&cfg, sh[i].want);
			if (sh[i].want != CMAP_OK) {
				assert_non_null(
				    strstr(cmap_last_error(), "shards"));
				continue;
			}
			cmap_stats_t st;
			assert_int_equal(cmap_create(&cfg, &out), CMAP_OK);
			assert_int_equal(cmap_stats(out, &st), CMAP_OK);
			assert_int_equal(st.shards,
			    sh[i].shards
			        ? sh[i].shards
			        : option_default(g_backends[b], "shards"));
			cmap_destroy(out);
		}
	}
	assert_true(with_shards >= 1);

	/* flags: only CMAP_FLAG_NO_MISUSE_CHECK and CMAP_FLAG_METRICS are
	 * known */
	const uint32_t badf[] = {1u << 2, 1u << 3, 1u << 31, 0xffffffffu,
	    CMAP_FLAG_NO_MISUSE_CHECK | (1u << 5),
	    CMAP_FLAG_METRICS | (1u << 7)};
	for (size_t b = 0; b < g_nbackends; b++) {
		for (size_t i = 0; i < sizeof badf / sizeof badf[0]; i++) {
			tu_config_init(&cfg, g_backends[b]);
			tu_alloc_install(&al, &cfg);
			cfg.flags = badf[i];
			expect_create(&cfg, CMAP_EINVAL);
		}
		tu_config_init(&cfg, g_backends[b]);
		cfg.flags = CMAP_FLAG_NO_MISUSE_CHECK;
		expect_create(&cfg, CMAP_OK);
		tu_config_init(&cfg, g_backends[b]);
		cfg.flags = CMAP_FLAG_NO_MISUSE_CHECK | CMAP_FLAG_METRICS;
		expect_create(&cfg, CMAP_OK);
		/* a bad option value is EINVAL on every backend */
		tu_config_init(&cfg, g_backends[b]);
		tu_alloc_install(&al, &cfg);
		assert_int_equal(
		    cmap_config_set(&cfg, "capacity", "lots"), CMAP_OK);
		expect_create(&cfg, CMAP_EINVAL);
		assert_non_null(strstr(cmap_last_error(), "capacity"));
		tu_config_init(&cfg, g_backends[b]);
		tu_alloc_install(&al, &cfg);
		assert_int_equal(
		    cmap_config_set(&cfg, "no_such_option", "1"), CMAP_OK);
		expect_create(&cfg, CMAP_EINVAL);
		assert_non_null(strstr(cmap_last_error(), "no_such_option"));
		/* an option of another backend is unknown to this one */
		for (size_t o = 0; o < g_nbackends; o++) {
			cmap_backend_info_t info;
			cmap_option_info_t opt;

			assert_int_equal(
			    cmap_backend_info(g_backends[o], &info), CMAP_OK);
			for (size_t i = 0; i < info.n_options; i++) {
				assert_int_equal(
				    cmap_backend_option(g_backends[o], i, &opt),
				    CMAP_OK);
				if (opt.default_value == NULL ||
				    tu_option(g_backends[b], opt.name, NULL))
					continue;
				tu_config_init(&cfg, g_backends[b]);
				tu_alloc_install(&al, &cfg);
				assert_int_equal(cmap_config_set(&cfg, opt.name,
				                     opt.default_value),
				    CMAP_OK);
				expect_create(&cfg, CMAP_EINVAL);
				assert_non_null(
				    strstr(cmap_last_error(), opt.name));
			}
		}

		/* only one allocator hook */
		tu_config_init(&cfg, g_backends[b]);
		tu_alloc_install(&al, &cfg);
		cfg.allocator.free = NULL;
		expect_create(&cfg, CMAP_EINVAL);
		tu_config_init(&cfg, g_backends[b]);
		tu_alloc_install(&al, &cfg);
		cfg.allocator.alloc = NULL;
		expect_create(&cfg, CMAP_EINVAL);

		/* an absurd capacity hint: an error, nothing leaked */
		const size_t huge[] = {
		    SIZE_MAX, SIZE_MAX / 2, SIZE_MAX / 16, (size_t)1 << 62};
		for (size_t h = 0; h < sizeof huge / sizeof huge[0]; h++) {
			cmap_t *sentinel = (cmap_t *)(uintptr_t)0x1234;
			out = sentinel;
			tu_config_init(&cfg, g_backends[b]);
			cfg.capacity = huge[h];
			tu_alloc_install(&al, &cfg);
			if (tu_has(g_backends[b], CMAP_CAP_REMOTE)) {
				/* no local table: the hint allocates nothing */
				assert_int_equal(
				    cmap_create(&cfg, &out), CMAP_OK);
				cmap_destroy(out);
				continue;
			}
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

	tu_config_init(&cfg, "no such backend");
	assert_true(cmap_is_error(cmap_create(&cfg, NULL)));
	for (size_t b = 0; b < g_nbackends; b++) {
		tu_config_init(&cfg, g_backends[b]);
		cfg.shards = 3;
		assert_true(cmap_is_error(cmap_create(&cfg, NULL)));
		tu_config_init(&cfg, g_backends[b]);
		cfg.flags = 1u << 30;
		assert_true(cmap_is_error(cmap_create(&cfg, NULL)));
		tu_config_init(&cfg, g_backends[b]);
		assert_int_equal(cmap_create(&cfg, NULL), CMAP_EINVAL);
	}
}

static void
test_names_bad(void **state)
{
	(void)state;
	cmap_backend_info_t info, before;
	cmap_option_info_t opt;
	cmap_config_t cfg, cfg0;

	memset(&info, 0x55, sizeof info);
	before = info;
	assert_int_equal(cmap_backend_info(NULL, NULL), CMAP_EINVAL);
	assert_int_equal(cmap_backend_info(NULL, &info), CMAP_EINVAL);
	assert_int_equal(cmap_backend_info(g_backends[0], NULL), CMAP_EINVAL);
	assert_int_equal(cmap_backend_info("x", &info), CMAP_EBACKEND);
	assert_memory_equal(&info, &before, sizeof info);
	assert_int_equal(cmap_backend_option(NULL, 0, &opt), CMAP_EINVAL);
	assert_int_equal(
	    cmap_backend_option(g_backends[0], 0, NULL), CMAP_EINVAL);
	assert_int_equal(cmap_backend_option("x", 0, &opt), CMAP_EBACKEND);
	for (size_t b = 0; b < g_nbackends; b++) {
		assert_int_equal(
		    cmap_backend_info(g_backends[b], &info), CMAP_OK);
		assert_int_equal(
		    cmap_backend_option(g_backends[b], info.n_options, &opt),
		    CMAP_EINVAL);
		assert_int_equal(
		    cmap_backend_option(g_backends[b], SIZE_MAX, &opt),
		    CMAP_EINVAL);
	}
	assert_false(cmap_backend_available("x"));
	assert_false(cmap_backend_available(""));
	assert_false(cmap_backend_available(NULL));
	assert_null(cmap_backend_at(SIZE_MAX));
	assert_string_equal(
	    cmap_strerror((cmap_status_t)12345), "unknown status");
	assert_string_equal(cmap_status_name((cmap_status_t)-12345), "UNKNOWN");

	/* cmap_config_set: bad arguments change nothing */
	cmap_config_init(&cfg);
	assert_int_equal(cmap_config_set(&cfg, "capacity", "10"), CMAP_OK);
	memcpy(&cfg0, &cfg, sizeof cfg);
	assert_int_equal(cmap_config_set(NULL, "capacity", "1"), CMAP_EINVAL);
	assert_int_equal(cmap_config_set(&cfg, NULL, "1"), CMAP_EINVAL);
	assert_int_equal(cmap_config_set(&cfg, "capacity", NULL), CMAP_EINVAL);
	assert_int_equal(cmap_config_set(&cfg, "", "1"), CMAP_EINVAL);
	assert_int_equal(cmap_config_set(&cfg, "a=b", "1"), CMAP_EINVAL);
	assert_int_equal(cmap_config_set(&cfg, "=", "1"), CMAP_EINVAL);
	assert_int_equal(cmap_config_set(&cfg, "capacity=", "1"), CMAP_EINVAL);
	assert_memory_equal(&cfg, &cfg0, sizeof cfg);
	assert_null(cmap_config_get(NULL, "capacity"));
	assert_null(cmap_config_get(&cfg, NULL));
	assert_null(cmap_config_get(&cfg, ""));
	assert_null(cmap_config_get(&cfg, "capacit"));
	assert_null(cmap_config_get(&cfg, "capacityx"));
	assert_string_equal(cmap_config_get(&cfg, "capacity"), "10");
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
