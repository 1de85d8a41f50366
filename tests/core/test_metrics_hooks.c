/*
 * test_metrics_hooks.c - white-box: where the thread's current counters
 * (cmap__mcur, src/metrics.h) point, on every in-memory backend.  The
 * hooks under the backends (lock waits, resizes, migration time) add to
 * them, so they must be a call's own while it runs and NULL between
 * calls, and a range or update whose callback makes recorded calls on
 * another map (which leave NULL behind on their common path) must get
 * its own back when the callback returns.  test_contract's
 * test_metrics_nested checks the same through the counts an update's
 * resizes reach.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "metrics.h"
#include "testutil.h"

static const char *g_backend;

static cmap_t *
mk(const char *sample)
{
	cmap_config_t c;

	tu_config_init(&c, g_backend);
	c.flags |= CMAP_FLAG_METRICS;
	assert_int_equal(
	    cmap_config_set(&c, "metrics_sample", sample), CMAP_OK);
	return tu_create_cfg(&c);
}

struct nest {
	cmap_t *other;
	struct cmap__mop *seen; /* cmap__mcur at the first callback */
	unsigned calls;
};

/* Two loads on the other map: the first makes it the thread's last map
 * (the slow path, which restores cmap__mcur), the second takes the
 * common path (which leaves NULL). */
static void
nest_loads(struct nest *n, uint64_t key)
{
	uint64_t v;

	assert_true(cmap_load(n->other, key, &v) >= 0);
	assert_true(cmap_load(n->other, key + 1, &v) >= 0);
	assert_null(cmap__mcur);
}

static void
nest_seen(struct nest *n)
{
	assert_non_null(cmap__mcur);
	if (n->calls++ == 0)
		n->seen = cmap__mcur;
	assert_ptr_equal(cmap__mcur, n->seen);
}

static bool
range_cb(uint64_t key, uint64_t value, void *ctx)
{
	(void)value;
	nest_seen(ctx);
	nest_loads(ctx, key);
	return true;
}

static cmap_update_action_t
update_cb(uint64_t key, uint64_t *value, bool present, void *ctx)
{
	(void)present;
	nest_seen(ctx);
	nest_loads(ctx, key);
	*value = key;
	return CMAP_UPDATE_STORE;
}

static void
test_current(void **state)
{
	(void)state;
	cmap_t *m = mk("65536"), *other = mk("65536");
	struct nest n = {other, NULL, 0};
	uint64_t v, keys[4] = {1, 2, 3, 4}, vals[4];
	cmap_status_t st[4];

	for (uint64_t k = 1; k <= 100; k++) {
		assert_true(cmap_store(m, k, k) >= 0);
		assert_null(cmap__mcur);
		assert_true(cmap_load(m, k, &v) >= 0);
		assert_null(cmap__mcur);
		assert_true(cmap_add(m, k, 1, NULL) >= 0);
		assert_null(cmap__mcur);
	}
	assert_int_equal(cmap_load_batch(m, 4, keys, vals, st), CMAP_OK);
	assert_null(cmap__mcur);
	assert_int_equal(cmap_range(m, range_cb, &n), CMAP_OK);
	assert_null(cmap__mcur);
	assert_int_equal(n.calls, 100);
	n.seen = NULL;
	n.calls = 0;
	for (uint64_t k = 1; k <= 100; k++)
		assert_true(cmap_update(m, k, update_cb, &n, NULL) >= 0);
	assert_null(cmap__mcur);
	assert_true(n.calls >= 100);
	cmap_destroy(other);
	cmap_destroy(m);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {cmocka_unit_test(test_current)};
	const char *names[TU_MAX_BACKENDS];
	size_t nb = tu_backends(names);
	int fails = 0;

	for (size_t i = 0; i < nb; i++) {
		if (tu_has(names[i], CMAP_CAP_PERSISTENT) ||
		    tu_has(names[i], CMAP_CAP_REMOTE))
			continue;
		g_backend = names[i];
		fails +=
		    cmocka_run_group_tests_name(names[i], tests, NULL, NULL);
	}
	return fails != 0;
}
