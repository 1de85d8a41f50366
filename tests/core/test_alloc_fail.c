/*
 * test_alloc_fail.c - allocation-failure injection (label "fault").
 *
 * For every backend and every operation that may allocate, the n-th
 * allocation is made to fail for n = 1, 2, ... until the call succeeds.
 * Each failed call must return CMAP_ENOMEM having changed nothing (the map
 * equals the reference model, len unchanged), the next call must work, and
 * calls that never allocate (loads, overwrites, deletes, clear, range,
 * stats) must succeed even when every allocation fails.  Every map is
 * destroyed with the counting allocator back at zero live bytes.
 * Variants: every backend, and each backend that takes the option "shards"
 * at one shard too; what a variant may do comes from its capabilities.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "testutil.h"

#define GOLD UINT64_C(0x9e3779b97f4a7c15)
#define SENT UINT64_C(0x5e5e5e5e5e5e5e5e)
#define MAX_N 100000 /* no call makes this many allocations */

struct variant {
	const char *backend;
	uint32_t shards;
	bool sharded; /* the backend takes the option "shards" */
	char name[48];
};

static struct variant g_vs[2 * TU_MAX_BACKENDS];
static size_t g_nv;

/*
 * Whether the map's entries come from the allocator.  A persistent
 * backend keeps them in its file (LMDB allocates its pages and
 * transactions with malloc, which the hooks do not see: cmap.h), a remote
 * one in its server (what it allocates here, sessions and pipelines, has
 * fallbacks: cmap.h, REMOTE), so after create nothing of it can fail
 * through the hooks: the tests still run every call with failures
 * injected and check the calls work, but do not require an ENOMEM.
 */
static bool
allocates_entries(const struct variant *v)
{
	return !tu_has(v->backend, CMAP_CAP_PERSISTENT) &&
	    !tu_has(v->backend, CMAP_CAP_REMOTE);
}

static void
cfg_for(const struct variant *v, struct tu_alloc *al, cmap_config_t *cfg,
    size_t capacity)
{
	tu_config_init(cfg, v->backend);
	cfg->shards = v->shards;
	cfg->capacity = capacity;
	cfg->seed = 12345; /* the same grow points on every run */
	tu_alloc_install(al, cfg);
}

static void
assert_no_leak(struct tu_alloc *al)
{
	assert_int_equal(atomic_load(&al->live_bytes), 0);
	assert_int_equal(atomic_load(&al->allocs), atomic_load(&al->frees));
}

/* ---- create ---- */
static void
test_create_fail(void **state)
{
	(void)state;
	const size_t caps[] = {0, 1000, 100000};

	for (size_t vi = 0; vi < g_nv; vi++) {
		print_message("  variant %s\n", g_vs[vi].name);
		for (size_t c = 0; c < sizeof caps / sizeof caps[0]; c++) {
			struct tu_alloc al;
			cmap_config_t cfg;
			long n;

			tu_alloc_init(&al);
			cfg_for(&g_vs[vi], &al, &cfg, caps[c]);
			for (n = 1; n < MAX_N; n++) {
				cmap_t *sentinel = (cmap_t *)(uintptr_t)0x77;
				cmap_t *out = sentinel;
				long failed0 = atomic_load(&al.failed);
				long allocs0 = atomic_load(&al.allocs);

				tu_alloc_fail_nth(&al, n);
				cmap_status_t s = cmap_create(&cfg, &out);
				tu_alloc_fail_nth(&al, 0);
				if (s == CMAP_ENOMEM) {
					assert_ptr_equal(out, sentinel);
					assert_int_equal(
					    atomic_load(&al.failed),
					    failed0 + 1);
					assert_no_leak(&al);
					continue;
				}
				assert_int_equal(s, CMAP_OK);
				if (atomic_load(&al.failed) != failed0) {
					/* a refused allocation the call could
					 * do without: try the next n */
					cmap_destroy(out);
					assert_no_leak(&al);
					continue;
				}
				/* it failed once per allocation it makes */
				assert_int_equal(
				    atomic_load(&al.allocs) - allocs0, n - 1);
				assert_int_equal(
				    atomic_load(&al.failed), failed0);
				assert_int_equal(
				    cmap_store(out, 1, 1), CMAP_INSERTED);
				cmap_destroy(out);
				break;
			}
			assert_true(n > 1); /* create allocates */
			assert_true(n < MAX_N);
			assert_no_leak(&al);
		}
	}
}

/* ---- inserting operations ---- */
enum iop { I_STORE, I_LOS, I_SWAP, I_ADD, I_UPDATE, I_COUNT_ };
static const char *const iop_names[] = {
    "store", "load_or_store", "swap", "add", "update"};

static cmap_update_action_t
store_ctx_cb(uint64_t key, uint64_t *value, bool present, void *ctx)
{
	(void)key;
	(void)present;
	*value = *(uint64_t *)ctx;
	return CMAP_UPDATE_STORE;
}

/* Insert absent key k with value v through op; returns the status, which
 * is CMAP_INSERTED for every op when the insert succeeds. */
static cmap_status_t
do_insert(cmap_t *m, enum iop op, uint64_t k, uint64_t v)
{
	uint64_t out = SENT;
	cmap_status_t s;

	switch (op) {
	case I_STORE:
		return cmap_store(m, k, v);
	case I_LOS:
		s = cmap_load_or_store(m, k, v, &out);
		if (s == CMAP_INSERTED)
			assert_true(out == v);
		else
			assert_true(out == SENT);
		return s;
	case I_SWAP:
		s = cmap_swap(m, k, v, &out);
		assert_true(out == SENT);
		return s;
	case I_ADD:
		s = cmap_add(m, k, v, &out);
		if (s == CMAP_INSERTED)
			assert_true(out == v);
		else
			assert_true(out == SENT);
		return s;
	case I_UPDATE:
		s = cmap_update(m, k, store_ctx_cb, &v, &out);
		if (s == CMAP_INSERTED)
			assert_true(out == v);
		else
			assert_true(out == SENT);
		return s;
	default:
		fail();
	}
	return CMAP_EINVAL;
}

static void
insert_with_failures(
    const struct variant *var, enum iop op, size_t nkeys, size_t capacity)
{
	struct tu_alloc al;
	cmap_config_t cfg;
	struct tu_model model;
	long enomem = 0, absorbed = 0;

	tu_alloc_init(&al);
	cfg_for(var, &al, &cfg, capacity);
	cmap_t *m = tu_create_cfg(&cfg);
	tu_model_init(&model);

	for (size_t i = 0; i < nkeys; i++) {
		uint64_t k = i < tu_n_edge_values ? tu_edge_values[i]
		                                  : (uint64_t)i * GOLD;
		uint64_t v = ~k;
		long n;

		for (n = 1; n < MAX_N; n++) {
			size_t len0 = cmap_len(m);
			long failed0 = atomic_load(&al.failed);
			long live0 = atomic_load(&al.live_bytes);
			cmap_stats_t st0, st1;

			tu_alloc_fail_nth(&al, n);
			cmap_status_t s = do_insert(m, op, k, v);
			tu_alloc_fail_nth(&al, 0);
			if (s == CMAP_ENOMEM) {
				enomem++;
				/* a failure was really injected */
				assert_int_equal(
				    atomic_load(&al.failed), failed0 + 1);
				assert_int_equal(cmap_len(m), len0);
				uint64_t got = SENT;
				assert_int_equal(
				    cmap_load(m, k, &got), CMAP_NOT_FOUND);
				assert_true(got == SENT);
				assert_int_equal(
				    atomic_load(&al.live_bytes), live0);
				assert_int_equal(cmap_stats(m, &st0), CMAP_OK);
				tu_assert_map_equals_model(m, &model);
				/* the next call works: an overwrite */
				if (model.len > 0) {
					assert_int_equal(
					    cmap_store(m, model.keys[0],
					        model.vals[0] + 1),
					    CMAP_OK);
					assert_int_equal(
					    cmap_store(m, model.keys[0],
					        model.vals[0]),
					    CMAP_OK);
				}
				assert_int_equal(cmap_stats(m, &st1), CMAP_OK);
				assert_int_equal(st1.capacity, st0.capacity);
				continue;
			}
			if (s != CMAP_INSERTED)
				fail_msg("%s/%s key %zu: %s", var->name,
				    iop_names[op], i, cmap_status_name(s));
			tu_model_put(&model, k, v);
			assert_int_equal(cmap_len(m), model.len);
			assert_true(cmap_load(m, k, &v) == CMAP_OK && v == ~k);
			if (atomic_load(&al.failed) != failed0) {
				/* the call did without a refused allocation;
				 * undo it and refuse the next one */
				absorbed++;
				assert_int_equal(cmap_delete(m, k), CMAP_OK);
				tu_model_del(&model, k);
				continue;
			}
			break;
		}
		assert_true(n < MAX_N);
	}
	tu_assert_map_equals_model(m, &model);
	/* growing from small to nkeys must have met a refusal at least once:
	 * reported as ENOMEM, or absorbed (the table core retries its growth
	 * from 3/4 to 7/8 full: src/table.c, RESIZE) */
	if (capacity == 0 && allocates_entries(var))
		assert_true(enomem + absorbed > 0);
	print_message("    %s/%s: %ld ENOMEM, %ld refusals absorbed\n",
	    var->name, iop_names[op], enomem, absorbed);
	cmap_destroy(m);
	tu_model_fini(&model);
	assert_no_leak(&al);
}

static void
test_insert_fail(void **state)
{
	(void)state;
	for (size_t vi = 0; vi < g_nv; vi++)
		for (int op = 0; op < I_COUNT_; op++)
			insert_with_failures(&g_vs[vi], (enum iop)op, 3000, 0);
}

/* With a capacity hint, inserting up to it needs no allocation at all. */
static void
test_insert_within_capacity(void **state)
{
	(void)state;
	for (size_t vi = 0; vi < g_nv; vi++) {
		print_message("  variant %s\n", g_vs[vi].name);
		struct tu_alloc al;
		cmap_config_t cfg;

		tu_alloc_init(&al);
		cfg_for(&g_vs[vi], &al, &cfg, 2000);
		cmap_t *m = tu_create_cfg(&cfg);
		atomic_store(&al.fail_permille, 1000);
		for (uint64_t i = 0; i < 2000; i++)
			assert_int_equal(
			    cmap_store(m, i * GOLD, i), CMAP_INSERTED);
		assert_int_equal(cmap_len(m), 2000);
		atomic_store(&al.fail_permille, 0);
		cmap_destroy(m);
		assert_no_leak(&al);
	}
}

/* ---- calls that never allocate succeed when every allocation fails ---- */
static bool
check_range_cb(uint64_t key, uint64_t value, void *ctx)
{
	(void)key;
	(void)value;
	(*(size_t *)ctx)++;
	return true;
}

static cmap_update_action_t
action_cb(uint64_t key, uint64_t *value, bool present, void *ctx)
{
	(void)key;
	(void)present;
	*value += 1;
	return *(cmap_update_action_t *)ctx;
}

static void
test_no_alloc_ops(void **state)
{
	(void)state;
	for (size_t vi = 0; vi < g_nv; vi++) {
		print_message("  variant %s\n", g_vs[vi].name);
		struct tu_alloc al;
		cmap_config_t cfg;
		struct tu_model model;
		const uint64_t n = 20000;
		uint64_t out;
		size_t cnt = 0;

		tu_alloc_init(&al);
		cfg_for(&g_vs[vi], &al, &cfg, 0);
		cmap_t *m = tu_create_cfg(&cfg);
		tu_model_init(&model);
		for (uint64_t i = 0; i < n; i++) {
			assert_int_equal(cmap_store(m, i, i), CMAP_INSERTED);
			tu_model_put(&model, i, i);
		}
		atomic_store(&al.fail_permille, 1000);
		long live_full = atomic_load(&al.live_bytes);

		for (uint64_t i = 0; i < n; i++) {
			uint64_t k = i;
			switch (i % 8) {
			case 0:
				assert_int_equal(
				    cmap_store(m, k, k + 1), CMAP_OK);
				break;
			case 1:
				assert_int_equal(
				    cmap_swap(m, k, k + 1, &out), CMAP_OK);
				assert_true(out == k);
				break;
			case 2:
				assert_int_equal(
				    cmap_add(m, k, 1, &out), CMAP_OK);
				assert_true(out == k + 1);
				break;
			case 3: {
				cmap_update_action_t a = CMAP_UPDATE_STORE;
				assert_int_equal(
				    cmap_update(m, k, action_cb, &a, &out),
				    CMAP_OK);
				assert_true(out == k + 1);
				break;
			}
			case 4:
				assert_int_equal(
				    cmap_load_or_store(m, k, 0, &out), CMAP_OK);
				assert_true(out == k);
				assert_int_equal(
				    cmap_store(m, k, k + 1), CMAP_OK);
				break;
			case 5:
				assert_int_equal(
				    cmap_compare_and_swap(m, k, k, k + 1),
				    CMAP_OK);
				break;
			case 6: {
				cmap_update_action_t a = CMAP_UPDATE_KEEP;
				assert_int_equal(
				    cmap_update(m, k, action_cb, &a, &out),
				    CMAP_OK);
				assert_true(out == k);
				assert_int_equal(
				    cmap_store(m, k, k + 1), CMAP_OK);
				break;
			}
			default:
				assert_int_equal(
				    cmap_load(m, k, &out), CMAP_OK);
				assert_true(out == k);
				assert_int_equal(
				    cmap_store(m, k, k + 1), CMAP_OK);
				break;
			}
			tu_model_put(&model, k, k + 1);
		}
		tu_assert_map_equals_model(m, &model);
		cmap_stats_t st;
		assert_int_equal(cmap_stats(m, &st), CMAP_OK);
		assert_int_equal(st.len, n);
		assert_int_equal(cmap_range(m, check_range_cb, &cnt), CMAP_OK);
		assert_int_equal(cnt, n);

		/* deletes of every kind: shrinks that cannot allocate are
		 * skipped, the calls still succeed */
		for (uint64_t i = 0; i < n - 100; i++) {
			uint64_t k = i;
			switch (i % 4) {
			case 0:
				assert_int_equal(cmap_delete(m, k), CMAP_OK);
				break;
			case 1:
				assert_int_equal(
				    cmap_load_and_delete(m, k, &out), CMAP_OK);
				assert_true(out == k + 1);
				break;
			case 2:
				assert_int_equal(
				    cmap_compare_and_delete(m, k, k + 1),
				    CMAP_OK);
				break;
			default: {
				cmap_update_action_t a = CMAP_UPDATE_DELETE;
				assert_int_equal(
				    cmap_update(m, k, action_cb, &a, NULL),
				    CMAP_OK);
				break;
			}
			}
			tu_model_del(&model, k);
			if (i % 1000 == 0)
				assert_int_equal(cmap_len(m), model.len);
		}
		tu_assert_map_equals_model(m, &model);
		/* absent keys: nothing to allocate either */
		assert_int_equal(cmap_delete(m, 0), CMAP_NOT_FOUND);
		assert_int_equal(
		    cmap_compare_and_swap(m, 0, 0, 1), CMAP_NOT_FOUND);
		/* clear never fails for lack of memory */
		assert_int_equal(cmap_clear(m), CMAP_OK);
		tu_model_clear(&model);
		tu_assert_map_equals_model(m, &model);
		assert_int_equal(cmap_reserve(m, 0), CMAP_OK);
		/* the skipped shrinks and the clear freed memory, if any */
		assert_true(atomic_load(&al.live_bytes) <= live_full);

		/* allocation works again: the map is usable */
		atomic_store(&al.fail_permille, 0);
		for (uint64_t i = 0; i < 5000; i++) {
			assert_int_equal(
			    cmap_store(m, i * GOLD, i), CMAP_INSERTED);
			tu_model_put(&model, i * GOLD, i);
		}
		tu_assert_map_equals_model(m, &model);
		cmap_destroy(m);
		tu_model_fini(&model);
		assert_no_leak(&al);
	}
}

/* ---- reserve ---- */
static void
test_reserve_fail(void **state)
{
	(void)state;
	for (size_t vi = 0; vi < g_nv; vi++) {
		print_message("  variant %s\n", g_vs[vi].name);
		struct tu_alloc al;
		cmap_config_t cfg;
		struct tu_model model;
		long n;

		tu_alloc_init(&al);
		cfg_for(&g_vs[vi], &al, &cfg, 0);
		cmap_t *m = tu_create_cfg(&cfg);
		tu_model_init(&model);
		for (uint64_t i = 0; i < 500; i++) {
			assert_int_equal(
			    cmap_store(m, i * GOLD, i), CMAP_INSERTED);
			tu_model_put(&model, i * GOLD, i);
		}
		cmap_stats_t before;
		assert_int_equal(cmap_stats(m, &before), CMAP_OK);
		for (n = 1; n < MAX_N; n++) {
			long failed0 = atomic_load(&al.failed);
			long live0 = atomic_load(&al.live_bytes);
			cmap_stats_t st;

			tu_alloc_fail_nth(&al, n);
			cmap_status_t s = cmap_reserve(m, 50000);
			tu_alloc_fail_nth(&al, 0);
			if (s == CMAP_ENOMEM) {
				assert_int_equal(
				    atomic_load(&al.failed), failed0 + 1);
				assert_int_equal(cmap_stats(m, &st), CMAP_OK);
				assert_int_equal((long)st.bytes,
				    atomic_load(&al.live_bytes));
				if (g_vs[vi].sharded) {
					/* cmap.h: shards reserved before the
					 * failure keep their larger tables */
					assert_true(
					    st.capacity >= before.capacity);
				} else {
					assert_int_equal(
					    atomic_load(&al.live_bytes), live0);
					assert_int_equal(
					    st.capacity, before.capacity);
					assert_int_equal(
					    st.grows, before.grows);
				}
				tu_assert_map_equals_model(m, &model);
				continue;
			}
			assert_int_equal(s, CMAP_OK);
			break;
		}
		assert_true(n > 1 || !allocates_entries(&g_vs[vi]));
		assert_true(n < MAX_N);
		if (tu_has(g_vs[vi].backend, CMAP_CAP_REMOTE)) {
			/* nothing reserved here: the server sizes its own
			 * tables (cmap.h, REMOTE) */
			cmap_destroy(m);
			tu_model_fini(&model);
			assert_no_leak(&al);
			continue;
		}
		cmap_stats_t after;
		assert_int_equal(cmap_stats(m, &after), CMAP_OK);
		assert_true(after.capacity >= 50000);
		tu_assert_map_equals_model(m, &model);
		/* the reservation holds: filling needs no allocation */
		atomic_store(&al.fail_permille, 1000);
		for (uint64_t i = 500; i < 50000; i++)
			assert_int_equal(
			    cmap_store(m, i * GOLD, i), CMAP_INSERTED);
		atomic_store(&al.fail_permille, 0);
		assert_int_equal(cmap_len(m), 50000);
		cmap_destroy(m);
		tu_model_fini(&model);
		assert_no_leak(&al);
	}
}

/* ---- random failures under a random workload ---- */
static void
test_random_failures(void **state)
{
	(void)state;
	for (size_t vi = 0; vi < g_nv; vi++) {
		print_message("  variant %s\n", g_vs[vi].name);
		struct tu_alloc al;
		cmap_config_t cfg;
		struct tu_model model;
		tu_rng_t r = {2024 + vi};
		long enomem = 0;

		tu_alloc_init(&al);
		cfg_for(&g_vs[vi], &al, &cfg, 0);
		cmap_t *m = tu_create_cfg(&cfg);
		tu_model_init(&model);
		atomic_store(&al.fail_permille, 300);
		for (int op = 0; op < 80000; op++) {
			/* phases of 10000 ops: mostly inserts, then mostly
			 * deletes, so tables grow and shrink again and again */
			bool deleting = (op / 10000) % 2 == 1;
			uint64_t k = tu_rng_below(&r, 8000);
			uint64_t v = tu_rng_next(&r), mv = 0, out = SENT;
			bool present = tu_model_get(&model, k, &mv);
			cmap_status_t s;
			unsigned sel = (unsigned)tu_rng_below(&r, 8);

			if (deleting && tu_rng_below(&r, 20) < 19)
				sel = 5;
			if (tu_rng_below(&r, 20000) == 0) {
				/* clear never fails for lack of memory on the
				 * lock-based backends; a lock-free one may
				 * (two failures in a row: no table, no
				 * spare), and then it removed nothing */
				s = cmap_clear(m);
				if (s == CMAP_ENOMEM &&
				    tu_has(
				        g_vs[vi].backend, CMAP_CAP_LOCK_FREE)) {
					tu_assert_map_equals_model(m, &model);
					continue;
				}
				assert_int_equal(s, CMAP_OK);
				tu_model_clear(&model);
				continue;
			}
			switch (sel) {
			case 0:
				s = cmap_store(m, k, v);
				break;
			case 1:
				s = cmap_load_or_store(m, k, v, &out);
				if (present) {
					/* nothing to insert: never ENOMEM */
					assert_int_equal(s, CMAP_OK);
					assert_true(out == mv);
					continue;
				}
				break;
			case 2:
				s = cmap_swap(m, k, v, &out);
				break;
			case 3:
				s = cmap_add(m, k, v, &out);
				v += present ? mv : 0;
				break;
			case 4: {
				s = cmap_update(m, k, store_ctx_cb, &v, &out);
				break;
			}
			case 5:
				s = cmap_delete(m, k);
				assert_int_equal(
				    s, present ? CMAP_OK : CMAP_NOT_FOUND);
				tu_model_del(&model, k);
				continue;
			case 6:
				s = cmap_load(m, k, &out);
				assert_int_equal(
				    s, present ? CMAP_OK : CMAP_NOT_FOUND);
				continue;
			default:
				if (tu_rng_below(&r, 200) == 0) {
					s = cmap_reserve(
					    m, (size_t)tu_rng_below(&r, 300));
					if (s != CMAP_ENOMEM)
						assert_int_equal(s, CMAP_OK);
					tu_assert_map_equals_model(m, &model);
				}
				continue;
			}
			if (s == CMAP_ENOMEM) {
				/* only an insert may fail; nothing changed */
				assert_false(present);
				assert_false(cmap_load(m, k, &out) == CMAP_OK);
				enomem++;
				continue;
			}
			assert_int_equal(s, present ? CMAP_OK : CMAP_INSERTED);
			tu_model_put(&model, k, v);
			if (op % 10000 == 0)
				tu_assert_map_equals_model(m, &model);
		}
		atomic_store(&al.fail_permille, 0);
		tu_assert_map_equals_model(m, &model);
		/* failures were injected; a backend that grows early may
		 * absorb them all, so ENOMEM itself is not required here
		 * (test_insert_fail requires it) */
		assert_true(atomic_load(&al.failed) > 0 ||
		    !allocates_entries(&g_vs[vi]));
		cmap_stats_t st;
		assert_int_equal(cmap_stats(m, &st), CMAP_OK);
		print_message("    %s: %ld ENOMEM, %ld refusals, %llu grows, "
		              "%llu shrinks\n",
		    g_vs[vi].name, enomem, atomic_load(&al.failed),
		    (unsigned long long)st.grows,
		    (unsigned long long)st.shrinks);
		cmap_destroy(m);
		tu_model_fini(&model);
		assert_no_leak(&al);
	}
}

/*
 * On a lock-free backend clear needs a table: a new one, or the spare each
 * map keeps (cmap.h, cmap_clear).  With every allocation failing, the
 * first clear uses the spare, the second returns CMAP_ENOMEM having
 * removed nothing; once allocation works, clear succeeds again and the
 * spare is back.  The lock-based backends never fail here (the "clear
 * never fails" checks of test_no_alloc_ops).
 */
static void
test_lock_free_clear_spare(void **state)
{
	const char *lf[TU_MAX_BACKENDS];
	size_t nlf = tu_backends_with(CMAP_CAP_LOCK_FREE, lf);

	(void)state;
	if (nlf == 0)
		skip();
	for (size_t b = 0; b < nlf; b++) {
		struct tu_alloc al;
		cmap_config_t cfg;
		cmap_t *m;
		uint64_t v = 0;

		print_message("  backend %s\n", lf[b]);
		tu_alloc_init(&al);
		tu_config_init(&cfg, lf[b]);
		tu_alloc_install(&al, &cfg);
		m = tu_create_cfg(&cfg);
		for (int round = 0; round < 2; round++) {
			for (uint64_t i = 0; i < 1000; i++)
				assert_int_equal(
				    cmap_store(m, i * GOLD, i), CMAP_INSERTED);
			atomic_store(&al.fail_permille, 1000);
			assert_int_equal(cmap_clear(m), CMAP_OK); /* spare */
			assert_int_equal(cmap_len(m), 0);
			assert_int_equal(
			    cmap_load(m, GOLD, &v), CMAP_NOT_FOUND);
			/* fits in the spare: no allocation */
			assert_int_equal(cmap_store(m, 7, 7), CMAP_INSERTED);
			assert_int_equal(cmap_clear(m), CMAP_ENOMEM);
			assert_int_equal(cmap_len(m), 1);
			assert_int_equal(cmap_load(m, 7, &v), CMAP_OK);
			assert_int_equal(v, 7);
			atomic_store(&al.fail_permille, 0);
			assert_int_equal(cmap_clear(m), CMAP_OK); /* refills */
			assert_int_equal(cmap_len(m), 0);
		}
		cmap_destroy(m);
		assert_no_leak(&al);
	}
}

int
main(void)
{
	const char *all[TU_MAX_BACKENDS];
	size_t nb = tu_backends(all);
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_create_fail),
	    cmocka_unit_test(test_insert_fail),
	    cmocka_unit_test(test_insert_within_capacity),
	    cmocka_unit_test(test_no_alloc_ops),
	    cmocka_unit_test(test_reserve_fail),
	    cmocka_unit_test(test_random_failures),
	    cmocka_unit_test(test_lock_free_clear_spare),
	};

	for (size_t i = 0; i < nb; i++) {
		bool sharded = tu_option(all[i], "shards", NULL);

		g_vs[g_nv] = (struct variant){all[i], 0, sharded, ""};
		snprintf(g_vs[g_nv].name, sizeof g_vs[g_nv].name, "%s", all[i]);
		g_nv++;
		if (sharded) {
			g_vs[g_nv] = (struct variant){all[i], 1, true, ""};
			snprintf(g_vs[g_nv].name, sizeof g_vs[g_nv].name,
			    "%s/1", all[i]);
			g_nv++;
		}
	}
	return cmocka_run_group_tests_name("alloc_fail", tests, NULL, NULL);
}
