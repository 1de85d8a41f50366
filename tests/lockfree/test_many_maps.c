/*
 * test_many_maps.c - many maps live at once, used by threads that come
 * and go (labels stress and contract: the normal, AddressSanitizer and
 * ThreadSanitizer builds all run it).
 *
 * For every thread-safe backend (chosen by CMAP_CAP_THREAD_SAFE):
 *
 *   live     10,000 maps live at once, each with its own checking
 *            allocator (tu_chk_alloc); every cmap_create must return
 *            CMAP_OK.  (The lockfree backend once used one pthread key per
 *            map, so its 1,025th live map failed with CMAP_ENOMEM: no
 *            backend may spend a per-process resource per map.)  4 threads
 *            each store, load, overwrite and delete keys of their own and
 *            add to one shared key, in every map, then exit.  With the
 *            threads gone the main thread checks every map's contents
 *            (len, a load of every key kept or deleted, a full range),
 *            destroys every map, and checks that every allocator got every
 *            byte back and saw only well-formed calls.
 *   outlive  the same, but the maps are checked and destroyed while the
 *            threads that used them are still alive (blocked on a
 *            barrier); every allocator must be clean right after destroy.
 *            Then a second set of 10,000 maps is created (the allocator
 *            hands out the same addresses again, typically) and the same
 *            threads use it before they exit; it is checked and destroyed
 *            as above, and the first set's allocators must not have been
 *            called again (at thread exit, say).  A backend that kept
 *            per-thread state of a destroyed map and touched it later
 *            crashes or fails here, or the sanitizers report it.
 *
 * The number of maps is fixed; the keys per map scale with
 * CMAP_STRESS_SCALE and are divided by 4 under ThreadSanitizer.  Worker
 * threads never call cmocka: they count failures that the main thread
 * asserts after the barrier or the join.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "testutil.h"

#if defined(CMAP_TSAN)
#define MM_SCALE_DIV 4
#else
#define MM_SCALE_DIV 1
#endif

#define MM_MAPS 10000
#define MM_THREADS 4
#define MM_SHARED_KEY UINT64_MAX /* every thread adds 1 to it, per map */
#define GOLD UINT64_C(0x9e3779b97f4a7c15)

static const char *g_backend;
static atomic_long g_fails;

static void
wfail(int line, const char *what, size_t map)
{
	if (atomic_fetch_add(&g_fails, 1) < 10)
		fprintf(stderr, "  [%s] %s:%d: map %zu: check failed: %s\n",
		    g_backend, __FILE__, line, map, what);
}

#define WCHECK(cond, map)                                                      \
	do {                                                                   \
		if (!(cond))                                                   \
			wfail(__LINE__, #cond, map);                           \
	} while (0)

/* Keys per thread per map: j = 0..keys-1; the even ones stay, the odd
 * ones are deleted. */
static int
mm_keys(void)
{
	long n = tu_scaled(16) / MM_SCALE_DIV;

	return n < 2 ? 2 : n > 4096 ? 4096 : (int)n;
}

static uint64_t
mm_key(int t, size_t map, int j)
{
	return ((uint64_t)(t + 1) << 56) | ((uint64_t)map << 16) | (uint64_t)j;
}

/* The value stored first (round 0) and the one it is overwritten with
 * (round 1), for one set of maps. */
static uint64_t
mm_val(unsigned set, int round, uint64_t key)
{
	uint64_t z = (key ^ ((uint64_t)set << 40) ^ (uint64_t)round) * GOLD;

	return z ^ (z >> 29);
}

/* One set of maps, with an allocator each. */
struct mm_set {
	cmap_t **maps;
	struct tu_chk_alloc *al;
	size_t n;
	unsigned id; /* changes the values stored */
};

/* A persistent map holds three open files (data, lock, and the
 * synchronous descriptor of its header): 10,000 of them would pass the
 * process's file limit, so 200.  A remote one holds a connection per
 * thread that used it, and its create costs round trips: 50. */
static int
mm_nmaps(void)
{
	return tu_has(g_backend, CMAP_CAP_REMOTE)    ? 50
	    : tu_has(g_backend, CMAP_CAP_PERSISTENT) ? 200
	                                             : MM_MAPS;
}

static void
mm_set_create(struct mm_set *s, unsigned id)
{
	s->n = (size_t)mm_nmaps();
	s->id = id;
	s->maps = calloc(s->n, sizeof *s->maps);
	s->al = calloc(s->n, sizeof *s->al);
	assert_non_null(s->maps);
	assert_non_null(s->al);
	for (size_t i = 0; i < s->n; i++) {
		cmap_config_t cfg;
		cmap_status_t st;

		tu_config_init(&cfg, g_backend);
		tu_chk_alloc_init(&s->al[i]);
		tu_chk_alloc_install(&s->al[i], &cfg);
		st = cmap_create(&cfg, &s->maps[i]);
		if (st != CMAP_OK)
			fprintf(stderr,
			    "  [%s] cmap_create of live map %zu "
			    "returned %s: %s\n",
			    g_backend, i + 1, cmap_status_name(st),
			    cmap_last_error());
		assert_int_equal(st, CMAP_OK);
		assert_non_null(s->maps[i]);
	}
}

/* Destroy every map, then check that each allocator is clean. */
static void
mm_set_destroy(struct mm_set *s)
{
	for (size_t i = 0; i < s->n; i++) {
		cmap_destroy(s->maps[i]);
		s->maps[i] = NULL;
	}
	for (size_t i = 0; i < s->n; i++) {
		if (atomic_load(&s->al[i].live_bytes) != 0)
			fprintf(stderr,
			    "  [%s] map %zu: %ld bytes in %ld "
			    "blocks left after destroy\n",
			    g_backend, i,
			    (long)atomic_load(&s->al[i].live_bytes),
			    (long)atomic_load(&s->al[i].live_blocks));
		tu_chk_alloc_assert_clean(&s->al[i]);
	}
}

static void
mm_set_free(struct mm_set *s)
{
	free(s->maps);
	free(s->al);
	memset(s, 0, sizeof *s);
}

/*
 * Thread t's work on a set: a first pass over every map stores its keys
 * (each absent: INSERTED) and reads them back; a second pass, in another
 * order, overwrites the even ones (OK), deletes the odd ones (OK, then
 * NOT_FOUND) and adds 1 to the shared key.  Threads start at different
 * maps, so they meet on some maps and not on others.
 */
static void
mm_use(const struct mm_set *s, int t, int keys)
{
	size_t n = s->n;

	for (size_t k = 0; k < n; k++) {
		size_t i = (k + (size_t)t * n / MM_THREADS) % n;
		cmap_t *m = s->maps[i];

		for (int j = 0; j < keys; j++) {
			uint64_t key = mm_key(t, i, j);

			WCHECK(cmap_store(m, key, mm_val(s->id, 0, key)) ==
			        CMAP_INSERTED,
			    i);
		}
		for (int j = 0; j < keys; j++) {
			uint64_t key = mm_key(t, i, j), v = 0;

			WCHECK(cmap_load(m, key, &v) == CMAP_OK, i);
			WCHECK(v == mm_val(s->id, 0, key), i);
		}
	}
	for (size_t k = n; k-- > 0;) {
		size_t i = (k + (size_t)t * n / MM_THREADS) % n;
		cmap_t *m = s->maps[i];
		cmap_status_t st;

		for (int j = 0; j < keys; j++) {
			uint64_t key = mm_key(t, i, j), v = 0;

			if (j % 2 == 0) {
				WCHECK(cmap_store(m, key,
				           mm_val(s->id, 1, key)) == CMAP_OK,
				    i);
				continue;
			}
			WCHECK(cmap_load_and_delete(m, key, &v) == CMAP_OK, i);
			WCHECK(v == mm_val(s->id, 0, key), i);
			WCHECK(cmap_delete(m, key) == CMAP_NOT_FOUND, i);
			WCHECK(cmap_load(m, key, &v) == CMAP_NOT_FOUND, i);
		}
		st = cmap_add(m, MM_SHARED_KEY, 1, NULL);
		WCHECK(st == CMAP_OK || st == CMAP_INSERTED, i);
	}
}

struct mm_range {
	size_t map;
	int keys;
	unsigned set;
	size_t visited;
	bool bad;
};

static bool
mm_range_cb(uint64_t key, uint64_t value, void *ctx)
{
	struct mm_range *r = ctx;
	int t = (int)(key >> 56) - 1;
	int j = (int)(key & 0xffff);

	r->visited++;
	if (key == MM_SHARED_KEY) {
		r->bad |= value != MM_THREADS;
		return true;
	}
	/* Only the even keys of this map's threads, with their second
	 * value. */
	r->bad |= t < 0 || t >= MM_THREADS || j >= r->keys || j % 2 != 0 ||
	    key != mm_key(t, r->map, j) || value != mm_val(r->set, 1, key);
	return true;
}

/* With no thread using the set: every map holds exactly what mm_use left
 * (run by every thread). */
static void
mm_set_check(const struct mm_set *s, int keys)
{
	const size_t want = (size_t)MM_THREADS * (((size_t)keys + 1) / 2) + 1;

	for (size_t i = 0; i < s->n; i++) {
		cmap_t *m = s->maps[i];
		struct mm_range r = {i, keys, s->id, 0, false};
		uint64_t v = 0;

		assert_int_equal(cmap_len(m), want);
		assert_int_equal(cmap_load(m, MM_SHARED_KEY, &v), CMAP_OK);
		assert_int_equal(v, MM_THREADS);
		for (int t = 0; t < MM_THREADS; t++)
			for (int j = 0; j < keys; j++) {
				uint64_t key = mm_key(t, i, j);

				v = 0;
				if (j % 2 != 0) {
					assert_int_equal(cmap_load(m, key, &v),
					    CMAP_NOT_FOUND);
					continue;
				}
				assert_int_equal(
				    cmap_load(m, key, &v), CMAP_OK);
				assert_true(v == mm_val(s->id, 1, key));
			}
		assert_int_equal(cmap_range(m, mm_range_cb, &r), CMAP_OK);
		assert_false(r.bad);
		assert_int_equal(r.visited, want);
	}
}

/* ------------------------------------------------------------- live */

struct mm_live {
	const struct mm_set *set;
	int keys;
};

static void
mm_live_thread(int t, void *arg)
{
	struct mm_live *c = arg;

	mm_use(c->set, t, c->keys);
}

static void
mm_live_one(void)
{
	struct mm_set s;
	struct mm_live c;
	int keys = mm_keys();
	double t0 = tu_now_s();

	mm_set_create(&s, 1);
	c = (struct mm_live){&s, keys};
	tu_run_threads(MM_THREADS, mm_live_thread, &c); /* they exit */
	assert_int_equal(atomic_load(&g_fails), 0);
	mm_set_check(&s, keys);
	mm_set_destroy(&s);
	mm_set_free(&s);
	fprintf(stderr,
	    "  [%s] live: %d maps, %d threads x %d keys per map, "
	    "threads exited before the check: ok (%.1fs)\n",
	    g_backend, mm_nmaps(), MM_THREADS, keys, tu_now_s() - t0);
}

/* ---------------------------------------------------------- outlive */

struct mm_outlive {
	struct mm_set *_Atomic cur; /* the set the threads use next */
	int keys;
	pthread_barrier_t bar;
};

struct mm_outlive_arg {
	struct mm_outlive *c;
	int t;
};

static void *
mm_outlive_thread(void *p)
{
	struct mm_outlive_arg *a = p;
	struct mm_outlive *c = a->c;

	mm_use(atomic_load(&c->cur), a->t, c->keys);
	pthread_barrier_wait(&c->bar); /* done with the first set */
	pthread_barrier_wait(&c->bar); /* it is destroyed, a second is up */
	mm_use(atomic_load(&c->cur), a->t, c->keys);
	return NULL; /* and exit */
}

static void
mm_outlive_one(void)
{
	struct mm_outlive c;
	struct mm_outlive_arg args[MM_THREADS];
	pthread_t th[MM_THREADS];
	struct mm_set first, second;
	long allocs_after_destroy = 0;
	int keys = mm_keys();
	double t0 = tu_now_s();

	c.keys = keys;
	assert_int_equal(pthread_barrier_init(&c.bar, NULL, MM_THREADS + 1), 0);
	mm_set_create(&first, 2);
	atomic_init(&c.cur, &first);
	for (int t = 0; t < MM_THREADS; t++) {
		args[t] = (struct mm_outlive_arg){&c, t};
		assert_int_equal(
		    pthread_create(&th[t], NULL, mm_outlive_thread, &args[t]),
		    0);
	}
	pthread_barrier_wait(&c.bar);
	/* The threads are alive and idle: check, then destroy under them. */
	assert_int_equal(atomic_load(&g_fails), 0);
	mm_set_check(&first, keys);
	mm_set_destroy(&first);
	for (size_t i = 0; i < first.n; i++)
		allocs_after_destroy += atomic_load(&first.al[i].allocs);

	mm_set_create(&second, 3);
	atomic_store(&c.cur, &second);
	pthread_barrier_wait(&c.bar);
	for (int t = 0; t < MM_THREADS; t++)
		assert_int_equal(pthread_join(th[t], NULL), 0);
	pthread_barrier_destroy(&c.bar);
	assert_int_equal(atomic_load(&g_fails), 0);

	/* The threads are gone.  The first set's allocators saw no call
	 * since its maps were destroyed (none at thread exit either). */
	{
		long allocs = 0;

		for (size_t i = 0; i < first.n; i++) {
			tu_chk_alloc_assert_clean(&first.al[i]);
			allocs += atomic_load(&first.al[i].allocs);
		}
		assert_int_equal(allocs, allocs_after_destroy);
	}
	mm_set_free(&first);
	mm_set_check(&second, keys);
	mm_set_destroy(&second);
	mm_set_free(&second);
	fprintf(stderr,
	    "  [%s] outlive: %d maps destroyed under %d live "
	    "threads, %d new maps used by the same threads: ok (%.1fs)\n",
	    g_backend, mm_nmaps(), MM_THREADS, mm_nmaps(), tu_now_s() - t0);
}

/* ------------------------------------------------------------ cases */

static void
for_each_thread_safe(void (*fn)(void))
{
	const char *bs[TU_MAX_BACKENDS];
	size_t n = tu_thread_safe_backends(bs);

	assert_true(n > 0);
	for (size_t i = 0; i < n; i++) {
		g_backend = bs[i];
		atomic_store(&g_fails, 0);
		fn();
	}
	g_backend = NULL;
}

static void
test_live(void **state)
{
	(void)state;
	for_each_thread_safe(mm_live_one);
}

static void
test_outlive(void **state)
{
	(void)state;
	for_each_thread_safe(mm_outlive_one);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_live),
	    cmocka_unit_test(test_outlive),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
