/*
 * test_table.c - the table core's incremental resize, white-box.
 *
 * The contract suite sees the table core only through the backends, where
 * a resize in progress is a passing state that few of its checks land in.
 * Here the core itself (src/table.h) runs random requests against the
 * reference model with small step counts, and whenever a resize is in
 * progress — zeroing a new array, or draining the old one — checks
 * everything a caller can see: every model key loads with its value, keys
 * not in the model miss, len matches, and a range shows each entry exactly
 * once.  The requests include deletes that hit the old array while it
 * drains (backward shifts there), inserts while zeroing, shrinks started
 * by deletes, reserve and clear in the middle of a resize, the side slot
 * (key 0), and allocation refusals while growing (the insert retries, and
 * only fails at 7/8 full).  Also the stepwise release of a large freed
 * block that the lockfree and readmostly backends share (map.c,
 * cmap__release_step).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "table.h"
#include "testutil.h"

#define SEED UINT64_C(0x5eed5eed12345678)

struct tt {
	struct tu_alloc al;
	cmap_allocator_t hooks;
	struct cmap_table t;
	struct tu_model model;
	tu_rng_t rng;
	long checks_zeroing, checks_draining;
};

static void
tt_init(struct tt *x, size_t entries)
{
	cmap_config_t cfg;

	memset(x, 0, sizeof *x);
	tu_alloc_init(&x->al);
	cmap_config_init(&cfg);
	tu_alloc_install(&x->al, &cfg);
	x->hooks = cfg.allocator;
	tu_model_init(&x->model);
	x->rng.s = 7;
	assert_int_equal(
	    cmap__table_init(&x->t, &x->hooks, SEED, entries), CMAP_OK);
}

static void
tt_fini(struct tt *x)
{
	cmap__table_fini(&x->t);
	tu_model_fini(&x->model);
	assert_int_equal(atomic_load(&x->al.live_bytes), 0);
}

static cmap_status_t
tt_exec(struct tt *x, enum cmap_req_kind kind, uint64_t key, uint64_t a)
{
	struct cmap_req req = {.kind = kind, .key = key, .a = a};

	return cmap__table_exec(&x->t, cmap__hash(key, SEED), &req);
}

static bool
tt_range_cb(uint64_t key, uint64_t value, void *ctx)
{
	struct tt *x = ctx;
	size_t i = tu_model_index(&x->model, key);

	assert_true(i != SIZE_MAX); /* no invented key */
	assert_true(x->model.vals[i] == value);
	/* seen: flip the top bit of the model's value, restored below */
	x->model.vals[i] ^= UINT64_C(1) << 63;
	return true;
}

static void
nop(void *arg)
{
	(void)arg;
}

/* Everything a caller can see, against the model. */
static void
tt_check(struct tt *x)
{
	const struct cmap_table *t = &x->t;
	uint64_t v;

	if (t->next != NULL)
		x->checks_zeroing++;
	if (t->old != NULL)
		x->checks_draining++;
	assert_int_equal(cmap__table_len(t), x->model.len);
	for (size_t i = 0; i < x->model.len; i++) {
		uint64_t k = x->model.keys[i];

		assert_true(cmap__table_load(t, k, cmap__hash(k, SEED), &v));
		assert_true(v == x->model.vals[i]);
	}
	for (int i = 0; i < 64; i++) {
		uint64_t k = tu_rng_next(&x->rng) | 1; /* odd: never a key */

		assert_false(cmap__table_load(t, k, cmap__hash(k, SEED), &v));
	}
	for (size_t i = 0; i < x->model.len; i++)
		x->model.vals[i] &= ~(UINT64_C(1) << 63);
	assert_false(cmap__table_range(&x->t, nop, nop, NULL, tt_range_cb, x));
	for (size_t i = 0; i < x->model.len; i++) {
		assert_true(x->model.vals[i] >> 63); /* seen once */
		x->model.vals[i] &= ~(UINT64_C(1) << 63);
	}
}

/* Keys are even (tt_check's misses are odd); 0 is the side slot's key. */
static uint64_t
tt_key(struct tt *x, uint64_t universe)
{
	return 2 * tu_rng_below(&x->rng, universe);
}

static void
tt_store(struct tt *x, uint64_t k, uint64_t v)
{
	bool present = tu_model_get(&x->model, k, &(uint64_t){0});

	assert_int_equal(tt_exec(x, CMAP_REQ_STORE, k, v),
	    present ? CMAP_OK : CMAP_INSERTED);
	tu_model_put(&x->model, k, v);
}

static void
tt_delete(struct tt *x, uint64_t k)
{
	bool present = tu_model_del(&x->model, k);

	assert_int_equal(tt_exec(x, CMAP_REQ_DELETE, k, 0),
	    present ? CMAP_OK : CMAP_NOT_FOUND);
}

/* Grow to n keys, then shrink to a few, checking in every resize state:
 * stores, overwrites, deletes and adds interleaved. */
static void
test_grow_shrink(void **state)
{
	struct tt x;
	const uint64_t universe = 40000;

	(void)state;
	tt_init(&x, 0);
	for (long op = 0; op < 60000; op++) {
		uint64_t k = tt_key(&x, universe);
		unsigned pick = (unsigned)tu_rng_below(&x.rng, 10);

		if (pick < 7) {
			/* values below 2^62: tt_check marks bit 63 */
			tt_store(&x, k, tu_rng_next(&x.rng) >> 2);
		} else if (pick < 9) {
			tt_delete(&x, k);
		} else {
			uint64_t old = 0;
			bool present = tu_model_get(&x.model, k, &old);

			assert_int_equal(tt_exec(&x, CMAP_REQ_ADD, k, 3),
			    present ? CMAP_OK : CMAP_INSERTED);
			tu_model_put(&x.model, k, old + 3);
		}
		if ((x.t.next != NULL || x.t.old != NULL) && op % 17 == 0)
			tt_check(&x);
	}
	tt_check(&x);
	/* delete nearly everything: shrinks, by at most 8x each */
	while (x.model.len > 10) {
		tt_delete(&x, x.model.keys[x.model.len - 1]);
		if ((x.t.next != NULL || x.t.old != NULL) &&
		    x.model.len % 53 == 0)
			tt_check(&x);
	}
	tt_check(&x);
	assert_true(x.t.shrinks > 0 && x.t.grows > 0);
	print_message("    grows %llu, shrinks %llu; checks while zeroing %ld, "
	              "while draining %ld\n",
	    (unsigned long long)x.t.grows, (unsigned long long)x.t.shrinks,
	    x.checks_zeroing, x.checks_draining);
	assert_true(x.checks_zeroing > 0 && x.checks_draining > 0);
	tt_fini(&x);
}

/* The side slot (key 0) and deletes of keys still in the old array. */
static void
test_old_array_writes(void **state)
{
	struct tt x;
	long deleted_in_old = 0, updated_in_old = 0;

	(void)state;
	tt_init(&x, 0);
	tt_store(&x, 0, 99);
	for (uint64_t i = 1; i <= 30000; i++) {
		tt_store(&x, 2 * i, i);
		if (x.t.old == NULL || x.t.old_used < 2)
			continue;
		/* a key from the old array: the first model key not found in
		 * the new one */
		for (size_t j = 0; j < x.model.len; j += 7) {
			uint64_t k = x.model.keys[j], v = 0;
			bool found;

			if (k == 0)
				continue;
			(void)cmap__probe(cmap__table_slots(&x.t), x.t.mask,
			    x.t.shift, k, cmap__hash(k, SEED), &found);
			if (found)
				continue;
			assert_true(
			    cmap__table_load(&x.t, k, cmap__hash(k, SEED), &v));
			if ((deleted_in_old + updated_in_old) % 2 == 0) {
				tt_delete(&x, k);
				deleted_in_old++;
			} else {
				tt_store(&x, k, v + 1);
				updated_in_old++;
			}
			break;
		}
		if (i % 61 == 0)
			tt_check(&x);
	}
	tt_check(&x);
	print_message("    deleted %ld and updated %ld keys in the old array\n",
	    deleted_in_old, updated_in_old);
	assert_true(deleted_in_old > 0 && updated_in_old > 0);
	tt_fini(&x);
}

/* reserve and clear in the middle of a resize, and growth that meets
 * allocation refusals: absorbed until 7/8, then CMAP_ENOMEM. */
static void
test_reserve_clear_refusals(void **state)
{
	struct tt x;
	uint64_t k = 2;
	size_t cap;
	cmap_status_t st;

	(void)state;
	tt_init(&x, 0);
	while (x.t.old == NULL)
		k += 2, tt_store(&x, k, k);
	assert_int_equal(cmap__table_reserve(&x.t, 100000), CMAP_OK);
	assert_null(x.t.old);
	assert_null(x.t.next);
	tt_check(&x);
	while (x.t.next == NULL)
		k += 2, tt_store(&x, k, k); /* past the reserve: grows again */
	cmap__table_clear(&x.t);
	tu_model_clear(&x.model);
	assert_null(x.t.next);
	tt_check(&x);
	tt_fini(&x);

	/* refusals: every allocation from now fails */
	tt_init(&x, 1000);
	cap = (size_t)x.t.mask + 1;
	atomic_store(&x.al.fail_permille, 1000);
	k = 2;
	while ((st = tt_exec(&x, CMAP_REQ_STORE, k, k)) == CMAP_INSERTED) {
		tu_model_put(&x.model, k, k);
		k += 2;
	}
	assert_int_equal(st, CMAP_ENOMEM);
	assert_int_equal(x.model.len, cap / 8 * 7);
	assert_int_equal((size_t)x.t.mask + 1, cap);
	tt_check(&x);
	atomic_store(&x.al.fail_permille, 0);
	tt_store(&x, k, k); /* grows now */
	tt_check(&x);
	tt_fini(&x);
}

/* cmap__release_step gives a block back CMAP_RELEASE_STEP bytes a call,
 * keeps its header page, and says done only once all the rest is given
 * back (pages of the default allocator's mmapped block then read zero). */
static void
test_release_step(void **state)
{
	const cmap_allocator_t *a = &cmap__default_allocator;
	size_t size = CMAP_RELEASE_MIN + CMAP_RELEASE_STEP / 2, released;
	size_t steps = 0, want;
	unsigned char *b = cmap__alloc(a, size, CMAP_CACHE_LINE);

	(void)state;
	assert_non_null(b);
	memset(b, 0xab, size);
	released = CMAP_RELEASE_KEEP;
	while (!cmap__release_step(b, size, &released)) {
		steps++;
		assert_true(steps <= size / CMAP_RELEASE_STEP + 1);
	}
	want = (size - CMAP_RELEASE_KEEP + CMAP_RELEASE_STEP - 1) /
	    CMAP_RELEASE_STEP;
	assert_int_equal(steps, want);
	assert_int_equal(released, size);
	assert_true(cmap__release_step(b, size, &released)); /* stays done */
	assert_int_equal(b[0], 0xab); /* the header page is kept */
	assert_int_equal(b[CMAP_RELEASE_KEEP - 1], 0xab);
	if (cmap__alloc_zeroes(a, size)) { /* mmapped: discarded pages */
		assert_int_equal(b[CMAP_RELEASE_KEEP], 0);
		assert_int_equal(b[size / 2], 0);
	}
	cmap__free(a, b, size);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_grow_shrink),
	    cmocka_unit_test(test_old_array_writes),
	    cmocka_unit_test(test_reserve_clear_refusals),
	    cmocka_unit_test(test_release_step),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
