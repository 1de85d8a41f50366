/*
 * test_lf_stress.c - concurrency tests of the lockfree backend (label
 * `stress`, so the ThreadSanitizer build runs them).
 *
 *   edges      keys whose hash tag is 0 (the bits of an EMPTY or SEALED
 *              slot), values 0..7 and the edge values, through growth,
 *              shrink, range and clear.
 *   resize     threads insert, delete and read while the table grows from
 *              1K to 4M entries (scaled) and shrinks back; short-lived
 *              threads come and go; every value read was written for its
 *              key; keys present throughout are found.
 *   add        add() from many threads sums exactly; load_or_store has one
 *              winner per key.
 *   enomem     random allocation failures during resizes: only inserts
 *              fail, nothing is lost, the map stays usable.
 *   oversub    64 threads on 2 cores finish a fixed amount of work.
 *
 * The amount of work scales with CMAP_STRESS_SCALE; under TSan it is
 * divided by 32 so the file runs in well under a minute.  No timing is
 * asserted.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmap.h"
#include "internal.h"
#include "testutil.h"

#if defined(CMAP_TSAN)
#define LF_SCALE_DIV 32
#else
#define LF_SCALE_DIV 1
#endif

static atomic_long g_fails;

#define CHECK(c)                                                               \
	do {                                                                   \
		if (!(c)) {                                                    \
			if (atomic_fetch_add(&g_fails, 1) < 20)                \
				fprintf(stderr, "%s:%d: check failed: %s\n",   \
				    __FILE__, __LINE__, #c);                   \
		}                                                              \
	} while (0)

static long
scaled(long n)
{
	long v = tu_scaled(n) / LF_SCALE_DIV;

	return v < 1 ? 1 : v;
}

static cmap_t *
mk(uint64_t seed, size_t capacity, struct tu_alloc *al)
{
	cmap_config_t cfg;
	cmap_t *m = NULL;

	tu_config_init(&cfg, CMAP_BACKEND_LOCKFREE);
	cfg.seed = seed;
	cfg.capacity = capacity;
	if (al != NULL)
		tu_alloc_install(al, &cfg);
	if (cmap_create(&cfg, &m) != CMAP_OK) {
		fprintf(stderr, "cmap_create failed\n");
		exit(1);
	}
	return m;
}

/* The value a writer stores for key k: its top 32 bits name the key. */
static uint64_t
val_for(uint64_t k, uint64_t seq)
{
	uint64_t x = k * UINT64_C(0x9e3779b97f4a7c15);

	return (x & UINT64_C(0xffffffff00000000)) | (seq & 0xffffffffu);
}

static bool
val_ok(uint64_t k, uint64_t v)
{
	return (v >> 32) == (val_for(k, 0) >> 32);
}

/* ------------------------------------------------------------ edges */
struct count_ctx {
	size_t n;
	uint64_t sum;
};

static bool
count_cb(uint64_t k, uint64_t v, void *ctx)
{
	struct count_ctx *c = ctx;

	c->n++;
	c->sum += k ^ v;
	return true;
}

static void
test_edges(void)
{
	const uint64_t seed = UINT64_C(0x1234567890abcdef);
	uint64_t keys[64];
	size_t nk = 0;
	cmap_t *m = mk(seed, 0, NULL);

	/* Hash tag 0: the eight keys whose hash is t << 61. */
	for (uint64_t t = 0; t < 8; t++)
		keys[nk++] = cmap__unhash(t << 61, seed);
	/* Small hashes and hashes with the state bits' patterns. */
	for (uint64_t h = 1; h < 8; h++)
		keys[nk++] = cmap__unhash(h, seed);
	for (size_t i = 0; i < tu_n_edge_values; i++)
		keys[nk++] = tu_edge_values[i];
	for (int round = 0; round < 3; round++) {
		uint64_t expect = 0;

		for (size_t i = 0; i < nk; i++) {
			uint64_t v =
			    i < 8 ? i : tu_edge_values[i % tu_n_edge_values];

			CHECK(cmap_store(m, keys[i], v) == CMAP_INSERTED);
		}
		/* Grow past several migrations with other keys. */
		for (uint64_t i = 0; i < 20000; i++)
			CHECK(
			    cmap_store(m, i * UINT64_C(0x9e3779b97f4a7c15) + 99,
			        i) == CMAP_INSERTED);
		for (size_t i = 0; i < nk; i++) {
			uint64_t v = 0,
			         want = i < 8
			    ? i
			    : tu_edge_values[i % tu_n_edge_values];

			CHECK(cmap_load(m, keys[i], &v) == CMAP_OK);
			CHECK(v == want);
			expect += keys[i] ^ want;
		}
		for (uint64_t i = 0; i < 20000; i++)
			CHECK(cmap_delete(
			          m, i * UINT64_C(0x9e3779b97f4a7c15) + 99) ==
			    CMAP_OK);
		for (uint64_t i = 0; i < 5000; i++) /* shrink checks */
			(void)cmap_delete(m, (UINT64_C(1) << 55) | i);
		{
			struct count_ctx c = {0, 0};

			CHECK(cmap_range(m, count_cb, &c) == CMAP_OK);
			CHECK(c.n == nk);
			CHECK(c.sum == expect);
			CHECK(cmap_len(m) == nk);
		}
		for (size_t i = 0; i < nk; i++) {
			uint64_t v = 0;

			CHECK(cmap_compare_and_swap(m, keys[i],
			          i < 8 ? i
			                : tu_edge_values[i % tu_n_edge_values],
			          ~keys[i]) == CMAP_OK);
			CHECK(cmap_load_and_delete(m, keys[i], &v) == CMAP_OK);
			CHECK(v == ~keys[i]);
			CHECK(cmap_load(m, keys[i], &v) == CMAP_NOT_FOUND);
			CHECK(cmap_add(m, keys[i], 5, &v) == CMAP_INSERTED);
			CHECK(v == 5);
		}
		CHECK(cmap_len(m) == nk);
		CHECK(cmap_clear(m) == CMAP_OK);
		CHECK(cmap_len(m) == 0);
		for (size_t i = 0; i < nk; i++) {
			uint64_t v;

			CHECK(cmap_load(m, keys[i], &v) == CMAP_NOT_FOUND);
		}
	}
	cmap_destroy(m);
}

/* ------------------------------------------------------------ resize */
struct resize_ctx {
	cmap_t *m;
	long n; /* keys per phase */
	int writers;
	atomic_int phase;  /* 0 grow, 1 shrink, 2 stop */
	atomic_long grown; /* writers done with the grow phase */
	atomic_long shrunk;
	atomic_int stop_readers;
};

/* Stable keys: present all the time, checked by readers. */
#define STABLE 512
static uint64_t
stable_key(uint64_t i)
{
	return (UINT64_C(1) << 62) | i;
}

static uint64_t
mov_key(int t, uint64_t i)
{
	return ((uint64_t)(t + 1) << 48) ^ (i * UINT64_C(0xff51afd7ed558ccd));
}

static void
resize_writer(int t, struct resize_ctx *c)
{
	long per = c->n / c->writers;

	for (long i = 0; i < per; i++)
		CHECK(cmap_store(c->m, mov_key(t, (uint64_t)i),
		          val_for(mov_key(t, (uint64_t)i), (uint64_t)i)) ==
		    CMAP_INSERTED);
	atomic_fetch_add(&c->grown, 1);
	for (long i = 0; i < per; i++) {
		uint64_t v = 0, k = mov_key(t, (uint64_t)i);

		CHECK(cmap_load_and_delete(c->m, k, &v) == CMAP_OK);
		CHECK(v == val_for(k, (uint64_t)i));
	}
	atomic_fetch_add(&c->shrunk, 1);
}

static void
resize_reader(int t, struct resize_ctx *c)
{
	tu_rng_t r = {(uint64_t)t * 77 + 1};
	long rounds = 0;

	while (!atomic_load(&c->stop_readers) || rounds < 1000) {
		uint64_t v = 0, i = tu_rng_below(&r, STABLE);
		uint64_t k = stable_key(i);
		cmap_status_t s = cmap_load(c->m, k, &v);

		CHECK(s == CMAP_OK);
		CHECK(v == val_for(k, i));
		/* A moving key: absent or a value written for it. */
		k = mov_key((int)tu_rng_below(&r, (uint64_t)c->writers),
		    tu_rng_below(&r, (uint64_t)(c->n / c->writers)));
		s = cmap_load(c->m, k, &v);
		CHECK(s == CMAP_OK || s == CMAP_NOT_FOUND);
		if (s == CMAP_OK)
			CHECK(val_ok(k, v));
		/* Overwrites of a stable key with the same value. */
		if ((rounds & 15) == 0)
			CHECK(cmap_store(c->m, stable_key(i),
			          val_for(stable_key(i), i)) == CMAP_OK);
		rounds++;
	}
}

struct short_ctx {
	struct resize_ctx *rc;
	int id;
};

/* A thread that does a few operations and exits, handing its record
 * back. */
static void *
short_lived(void *arg)
{
	struct short_ctx *s = arg;
	cmap_t *m = s->rc->m;

	for (uint64_t i = 0; i < 200; i++) {
		uint64_t k = (UINT64_C(3) << 60) | ((uint64_t)s->id << 20) | i;
		uint64_t v;

		CHECK(cmap_store(m, k, val_for(k, i)) == CMAP_INSERTED);
		CHECK(cmap_load(m, stable_key(i % STABLE), &v) == CMAP_OK);
		CHECK(cmap_delete(m, k) == CMAP_OK);
	}
	return NULL;
}

static void
resize_churner(struct resize_ctx *c)
{
	int id = 0;

	while (!atomic_load(&c->stop_readers)) {
		pthread_t th[2];
		struct short_ctx sc[2];

		for (int i = 0; i < 2; i++) {
			sc[i].rc = c;
			sc[i].id = id++;
			if (pthread_create(&th[i], NULL, short_lived, &sc[i]))
				return;
		}
		for (int i = 0; i < 2; i++)
			pthread_join(th[i], NULL);
	}
}

static void
resize_thread(int i, void *arg)
{
	struct resize_ctx *c = arg;

	if (i < c->writers) {
		resize_writer(i, c);
		if (atomic_load(&c->shrunk) == c->writers)
			atomic_store(&c->stop_readers, 1);
	} else if (i == c->writers) {
		resize_churner(c);
	} else {
		resize_reader(i, c);
	}
}

static void
test_resize(void)
{
	struct resize_ctx c;
	cmap_stats_t st;

	memset(&c, 0, sizeof c);
	c.m = mk(0, 0, NULL);
	/* The 1K -> 4M growth in every build, TSan included. */
	c.n = tu_scaled(4L << 20);
	c.writers = 2;
	for (uint64_t i = 0; i < STABLE; i++)
		CHECK(cmap_store(c.m, stable_key(i),
		          val_for(stable_key(i), i)) == CMAP_INSERTED);
	tu_run_threads(c.writers + 3, resize_thread, &c);
	CHECK(cmap_len(c.m) == STABLE);
	CHECK(cmap_stats(c.m, &st) == CMAP_OK);
	CHECK(st.grows > 0);
	CHECK(st.shrinks > 0);
	fprintf(stderr,
	    "resize: %ld keys, grows %llu shrinks %llu, final "
	    "capacity %llu\n",
	    c.n, (unsigned long long)st.grows, (unsigned long long)st.shrinks,
	    (unsigned long long)st.capacity);
	for (uint64_t i = 0; i < STABLE; i++) {
		uint64_t v = 0;

		CHECK(cmap_load(c.m, stable_key(i), &v) == CMAP_OK);
		CHECK(v == val_for(stable_key(i), i));
	}
	cmap_destroy(c.m);
}

/* ------------------------------------------------------------ add, los */
struct add_ctx {
	cmap_t *m;
	long per;
	int nkeys;
	atomic_long wins[256];
	uint64_t winner_val[256];
};

static void
add_thread(int t, void *arg)
{
	struct add_ctx *c = arg;
	tu_rng_t r = {(uint64_t)t + 100};

	for (long i = 0; i < c->per; i++) {
		uint64_t k = tu_rng_below(&r, (uint64_t)c->nkeys);

		CHECK(!cmap_is_error(cmap_add(c->m, k, 1, NULL)));
		/* One winner per key for load_or_store. */
		uint64_t lk = (UINT64_C(1) << 40) | (uint64_t)(i % c->nkeys);
		uint64_t actual = 0;
		uint64_t mine = ((uint64_t)t << 32) | (uint64_t)i;
		cmap_status_t s = cmap_load_or_store(c->m, lk, mine, &actual);

		if (s == CMAP_INSERTED) {
			atomic_fetch_add(&c->wins[i % c->nkeys], 1);
			c->winner_val[i % c->nkeys] = mine;
			CHECK(actual == mine);
		} else {
			CHECK(s == CMAP_OK);
			CHECK(actual != mine); /* another thread's value */
		}
	}
}

static void
test_add(void)
{
	struct add_ctx *c = calloc(1, sizeof *c);
	int threads = 4;
	uint64_t total = 0;

	c->m = mk(0, 0, NULL);
	c->per = scaled(400000);
	c->nkeys = 256;
	tu_run_threads(threads, add_thread, c);
	for (int k = 0; k < c->nkeys; k++) {
		uint64_t v = 0, lk = (UINT64_C(1) << 40) | (uint64_t)k;

		if (cmap_load(c->m, (uint64_t)k, &v) == CMAP_OK)
			total += v;
		if (k < c->per) {
			CHECK(atomic_load(&c->wins[k]) == 1);
			CHECK(cmap_load(c->m, lk, &v) == CMAP_OK);
			CHECK(v == c->winner_val[k]);
		}
	}
	CHECK(total == (uint64_t)threads * (uint64_t)c->per);
	cmap_destroy(c->m);
	free(c);
}

/* ------------------------------------------------------------ enomem */
struct enomem_ctx {
	cmap_t *m;
	long per;
	atomic_long enomem;
	atomic_int stop;
	atomic_int writers_done;
};

static void
enomem_thread(int t, void *arg)
{
	struct enomem_ctx *c = arg;

	if (t == 3) { /* a reader */
		tu_rng_t r = {9};

		while (!atomic_load(&c->stop)) {
			uint64_t v, i = tu_rng_below(&r, (uint64_t)c->per);
			uint64_t k = mov_key((int)tu_rng_below(&r, 3), i);
			cmap_status_t s = cmap_load(c->m, k, &v);

			CHECK(s == CMAP_OK || s == CMAP_NOT_FOUND);
			if (s == CMAP_OK)
				CHECK(val_ok(k, v));
		}
		return;
	}
	for (long i = 0; i < c->per; i++) {
		uint64_t k = mov_key(t, (uint64_t)i);
		cmap_status_t s;

		/* Retry until it lands: ENOMEM must have changed nothing. */
		while ((s = cmap_store(c->m, k, val_for(k, (uint64_t)i))) ==
		    CMAP_ENOMEM) {
			uint64_t v;

			atomic_fetch_add(&c->enomem, 1);
			CHECK(cmap_load(c->m, k, &v) == CMAP_NOT_FOUND);
		}
		CHECK(s == CMAP_INSERTED);
		if (i % 3 == 0) {
			CHECK(cmap_delete(c->m, k) == CMAP_OK);
			s = cmap_store(c->m, k, val_for(k, (uint64_t)i));
			CHECK(s == CMAP_INSERTED || s == CMAP_ENOMEM);
		}
	}
	if (atomic_fetch_add(&c->writers_done, 1) == 2)
		atomic_store(&c->stop, 1);
}

static void
test_enomem(void)
{
	struct tu_alloc al;
	struct enomem_ctx c;
	long missing = 0, refused = 0;
	cmap_t *m;

	tu_alloc_init(&al);
	m = mk(0, 0, &al);
	for (int round = 0; round < 4; round++) {
		memset(&c, 0, sizeof c);
		c.m = m;
		c.per = scaled(100000);
		atomic_store(&al.fail_permille, 400);
		tu_run_threads(4, enomem_thread, &c); /* 3 writers, a reader */
		atomic_store(&al.fail_permille, 0);
		refused += atomic_load(&c.enomem);
		long miss = 0;
		for (int t = 0; t < 3; t++) {
			for (long i = 0; i < c.per; i++) {
				uint64_t v = 0, k = mov_key(t, (uint64_t)i);
				cmap_status_t s = cmap_load(m, k, &v);

				if (s != CMAP_OK) {
					/* a re-store after its delete may
					 * have met ENOMEM */
					CHECK(i % 3 == 0);
					miss++;
					continue;
				}
				CHECK(v == val_for(k, (uint64_t)i));
			}
		}
		CHECK(cmap_len(m) == (size_t)(3 * c.per - miss));
		missing += miss;
		/* Still usable. */
		for (uint64_t i = 0; i < 1000; i++)
			CHECK(cmap_store(m, i, i) == CMAP_INSERTED);
		CHECK(cmap_clear(m) == CMAP_OK);
		CHECK(cmap_len(m) == 0);
	}
	fprintf(stderr,
	    "enomem: %ld inserts refused, %ld re-stores lost "
	    "to ENOMEM, %ld allocations failed\n",
	    refused, missing, atomic_load(&al.failed));
	CHECK(refused > 0);
	cmap_destroy(m);
	CHECK(atomic_load(&al.live_bytes) == 0);
}

/* ------------------------------------------------------------ oversub */
struct over_ctx {
	cmap_t *m;
	long per;
};

static void
over_thread(int t, void *arg)
{
	struct over_ctx *c = arg;

	for (long i = 0; i < c->per; i++) {
		uint64_t k = mov_key(t, (uint64_t)i), v = 0;

		CHECK(cmap_store(c->m, k, val_for(k, (uint64_t)i)) ==
		    CMAP_INSERTED);
		CHECK(cmap_load(c->m, k, &v) == CMAP_OK);
		CHECK(v == val_for(k, (uint64_t)i));
		CHECK(!cmap_is_error(cmap_add(c->m, 7, 1, NULL)));
		if (i & 1)
			CHECK(cmap_delete(c->m, k) == CMAP_OK);
	}
}

static void
test_oversub(void)
{
	struct over_ctx c = {mk(0, 0, NULL), scaled(20000)};
	uint64_t v = 0;

	tu_run_threads(64, over_thread, &c);
	CHECK(cmap_load(c.m, 7, &v) == CMAP_OK);
	CHECK(v == 64 * (uint64_t)c.per);
	CHECK(cmap_len(c.m) == 1 + 64 * (size_t)((c.per + 1) / 2));
	cmap_destroy(c.m);
}

int
main(void)
{
	if (!cmap_backend_available(CMAP_BACKEND_LOCKFREE)) {
		fprintf(stderr, "lockfree backend not built; skipped\n");
		return 0;
	}
	test_edges();
	fprintf(stderr, "edges: %s\n", atomic_load(&g_fails) ? "FAIL" : "ok");
	test_add();
	fprintf(stderr, "add: %s\n", atomic_load(&g_fails) ? "FAIL" : "ok");
	test_enomem();
	fprintf(stderr, "enomem: %s\n", atomic_load(&g_fails) ? "FAIL" : "ok");
	test_oversub();
	fprintf(stderr, "oversub: %s\n", atomic_load(&g_fails) ? "FAIL" : "ok");
	test_resize();
	fprintf(stderr, "resize: %s\n", atomic_load(&g_fails) ? "FAIL" : "ok");
	return atomic_load(&g_fails) ? 1 : 0;
}
