/*
 * test_lf_limits.c - the lockfree backend's bounds on the work of one call
 * and on memory (issue 11), with the measured figures in SUMMARY lines.
 *
 *   growth  one thread stores keys into a map that starts empty (no
 *           capacity hint) until it holds 3M keys (scaled), while another
 *           loads keys already stored.  Each store's wall time and the
 *           thread's CPU time for it are taken; the CPU time (which
 *           preemption on a loaded machine does not inflate) of the
 *           slowest store may be at most LG_MAX_STORE_CPU_MS.  Before the
 *           fix, the store that started a migration cleared the whole new
 *           table (96 MiB at 3M keys): 73 ms of CPU time in one store.
 *           Reported: store p99.9 and max wall time, the slowest store's
 *           CPU time, the slowest concurrent load (wall).  Not bounded
 *           under ThreadSanitizer, whose runtime does O(size) work of its
 *           own on every mmap and munmap.
 *   hooked  the same growth, one thread, 2M keys (scaled), in a map with
 *           the test's counting allocator hooks, whose blocks do not come
 *           zeroed: a successor table is cleared 8 KiB per insert before
 *           it is published.  The slowest store's CPU time may be at most
 *           LH_MAX_STORE_CPU_MS (with 1M keys or more, outside the
 *           sanitizers).  Before the fix, the store that started a
 *           migration cleared the whole new table (48 MiB at 2M keys):
 *           36.5 ms of CPU time in one store.  Nothing may leak (the
 *           hooks' live bytes after cmap_destroy).
 *   churn   with 1, 2 and 8 threads, each with its own window of live
 *           keys (insert the key ahead, delete the one behind; 200K live
 *           keys in all, scaled), thread 0 samples the map's bytes
 *           (cmap_stats).  Reference: the filled map, one table (after
 *           cmap_reserve(map, 0) finished any migration).  The largest
 *           sample may be 2.0x that (+1 MiB) with 1 thread, 3.0x with 2
 *           and 8.0x with 8: a retired table waits for a grace period,
 *           which a thread descheduled inside an operation delays
 *           (docs/lockfree.md, Costs: the measured figures are 2.00x,
 *           2.00x and 4.0-5.0x; before this round 2.00x, 2.00-3.00x and
 *           8.0-9.0x).
 *
 * Arguments (for figures outside CI): test_lf_limits [growth_keys
 * [churn_live [churn_ops_per_thread [hooked_keys]]]] (hooked_keys 0: that
 * case is skipped).  Plain C program: exits non-zero
 * on failure.
 */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cmap.h"
#include "testutil.h"

#if defined(CMAP_TSAN) || defined(__SANITIZE_ADDRESS__)
#define LG_DIV 8
#else
#define LG_DIV 1
#endif

/* Under ThreadSanitizer the runtime's own work on every mmap and munmap
 * (its shadow of the range) is O(the table) in the store that maps or
 * unmaps one: 75 ms measured at 375K keys; there the figure is reported,
 * not bounded. */
#if defined(CMAP_TSAN)
#define LG_MAX_STORE_CPU_MS 1e9
#else
#define LG_MAX_STORE_CPU_MS 20.0
#endif
#if defined(CMAP_TSAN) || defined(__SANITIZE_ADDRESS__)
#define LH_MAX_STORE_CPU_MS 1e9
#else
#define LH_MAX_STORE_CPU_MS 15.0
#endif
#define GOLD UINT64_C(0x9e3779b97f4a7c15)

static int failed;

static double
clock_s(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* ------------------------------------------------------------ growth */

struct lg_ctx {
	cmap_t *map;
	long keys;
	atomic_long stored; /* keys 0..stored-1 are in the map */
	atomic_int done;
	double load_max;
	long load_errors;
};

static void *
lg_loader(void *p)
{
	struct lg_ctx *c = p;
	tu_rng_t rng = {12345};
	double worst = 0;

	while (!atomic_load(&c->done)) {
		long n = atomic_load(&c->stored);
		uint64_t k, v;
		double t0, dt;

		if (n == 0) {
			sched_yield();
			continue;
		}
		k = tu_rng_below(&rng, (uint64_t)n);
		t0 = clock_s(CLOCK_MONOTONIC);
		if (cmap_load(c->map, k * GOLD, &v) != CMAP_OK || v != k)
			c->load_errors++;
		dt = clock_s(CLOCK_MONOTONIC) - t0;
		if (dt > worst)
			worst = dt;
	}
	c->load_max = worst;
	return NULL;
}

static void
test_growth(long keys)
{
	struct lg_ctx c = {.keys = keys};
	double *lat = malloc(sizeof *lat * (size_t)keys);
	double cpu_worst = 0, p999;
	long errors = 0;
	pthread_t th;

	c.map = tu_create(CMAP_BACKEND_LOCKFREE, 0);
	if (c.map == NULL || lat == NULL ||
	    pthread_create(&th, NULL, lg_loader, &c) != 0)
		abort();
	for (long i = 0; i < keys; i++) {
		double c0 = clock_s(CLOCK_THREAD_CPUTIME_ID);
		double t0 = clock_s(CLOCK_MONOTONIC), cpu;

		errors += cmap_store(c.map, (uint64_t)i * GOLD, (uint64_t)i) !=
		    CMAP_INSERTED;
		lat[i] = clock_s(CLOCK_MONOTONIC) - t0;
		cpu = clock_s(CLOCK_THREAD_CPUTIME_ID) - c0;
		if (cpu > cpu_worst)
			cpu_worst = cpu;
		atomic_store(&c.stored, i + 1);
	}
	atomic_store(&c.done, 1);
	pthread_join(th, NULL);
	qsort(lat, (size_t)keys, sizeof *lat, cmp_double);
	p999 = lat[(size_t)((double)keys * 0.999)];
	printf("SUMMARY lf_limits growth: %ld keys from empty: store p99.9 "
	       "%.1f us, max %.3f ms; slowest store %.3f ms of CPU time "
	       "(limit %g); slowest concurrent load %.3f ms; %ld+%ld "
	       "errors\n",
	    keys, p999 * 1e6, lat[keys - 1] * 1e3, cpu_worst * 1e3,
	    LG_MAX_STORE_CPU_MS, c.load_max * 1e3, errors, c.load_errors);
	if (errors || c.load_errors || cpu_worst * 1e3 > LG_MAX_STORE_CPU_MS) {
		fprintf(stderr, "lf_limits growth: FAILED\n");
		failed = 1;
	}
	cmap_destroy(c.map);
	free(lat);
}

/* ------------------------------------------------------------ hooked */

static void
test_hooked(long keys)
{
	struct tu_alloc al;
	cmap_config_t cfg;
	cmap_t *map = NULL;
	cmap_stats_t st;
	double cpu_worst = 0, wall_worst = 0, bound;
	long errors = 0, worst_at = 0;

	tu_alloc_init(&al);
	tu_config_init(&cfg, CMAP_BACKEND_LOCKFREE);
	tu_alloc_install(&al, &cfg);
	if (cmap_create(&cfg, &map) != CMAP_OK)
		abort();
	for (long i = 0; i < keys; i++) {
		double c0 = clock_s(CLOCK_THREAD_CPUTIME_ID);
		double t0 = clock_s(CLOCK_MONOTONIC), cpu, wall;

		errors += cmap_store(map, (uint64_t)i * GOLD, (uint64_t)i) !=
		    CMAP_INSERTED;
		wall = clock_s(CLOCK_MONOTONIC) - t0;
		cpu = clock_s(CLOCK_THREAD_CPUTIME_ID) - c0;
		if (cpu > cpu_worst)
			cpu_worst = cpu, worst_at = i;
		if (wall > wall_worst)
			wall_worst = wall;
	}
	if (cmap_stats(map, &st) != CMAP_OK || st.len != (size_t)keys)
		errors++;
	cmap_destroy(map);
	bound = keys >= 1000000 ? LH_MAX_STORE_CPU_MS : 1e9;
	printf("SUMMARY lf_limits hooked: %ld keys from empty, allocator "
	       "hooks: slowest store %.3f ms of CPU time (store %ld; limit "
	       "%g), %.3f ms wall; %ld errors, %ld bytes left after "
	       "destroy\n",
	    keys, cpu_worst * 1e3, worst_at, bound, wall_worst * 1e3, errors,
	    atomic_load(&al.live_bytes));
	if (errors || atomic_load(&al.live_bytes) != 0 ||
	    cpu_worst * 1e3 > bound) {
		fprintf(stderr, "lf_limits hooked: FAILED\n");
		failed = 1;
	}
}

/* ------------------------------------------------------------- churn */

struct lc_ctx {
	cmap_t *map;
	long live, ops; /* per thread */
	int nthreads;
	atomic_int filled;
	uint64_t peak;
	long errors;
};

static uint64_t
map_bytes(cmap_t *map)
{
	cmap_stats_t st;

	if (cmap_stats(map, &st) != CMAP_OK)
		abort();
	return st.bytes;
}

/* The filled map: its one table once any migration is finished (the
 * bytes of retired tables waiting for their grace period, which depend on
 * the scheduling of the moment, are left out of the reference). */
static uint64_t
fill_bytes(cmap_t *map)
{
	cmap_stats_t st;

	if (cmap_reserve(map, 0) != CMAP_OK || cmap_stats(map, &st) != CMAP_OK)
		abort();
	return st.capacity * 16;
}

static void
lc_worker(int t, void *p)
{
	struct lc_ctx *c = p;
	uint64_t base = (uint64_t)(t + 1) << 40;
	long errors = 0, every = c->ops / 256 > 0 ? c->ops / 256 : 1;

	for (long i = 0; i < c->live; i++)
		errors += cmap_store(c->map, (base + (uint64_t)i) * GOLD, 1) !=
		    CMAP_INSERTED;
	atomic_fetch_add(&c->filled, 1);
	while (atomic_load(&c->filled) < c->nthreads + 1)
		sched_yield();
	for (long i = 0; i < c->ops; i++) {
		errors +=
		    cmap_store(c->map, (base + (uint64_t)(i + c->live)) * GOLD,
		        (uint64_t)i) != CMAP_INSERTED;
		errors +=
		    cmap_delete(c->map, (base + (uint64_t)i) * GOLD) != CMAP_OK;
		if (t == 0 && i % every == 0) {
			uint64_t b = map_bytes(c->map);

			if (b > c->peak)
				c->peak = b;
		}
	}
	__atomic_fetch_add(&c->errors, errors, __ATOMIC_RELAXED);
}

static void
lc_filler_wait(struct lc_ctx *c)
{
	while (atomic_load(&c->filled) < c->nthreads)
		sched_yield();
}

static void *
lc_run(void *p)
{
	struct lc_ctx *c = p;

	tu_run_threads(c->nthreads, lc_worker, c);
	return NULL;
}

static void
test_churn(long live, long ops)
{
	static const int counts[] = {1, 2, 8};
	static const uint64_t limit[] = {2, 3, 8};
	char line[256];
	size_t used = 0;

	for (size_t k = 0; k < sizeof counts / sizeof counts[0]; k++) {
		struct lc_ctx c = {.nthreads = counts[k]};
		uint64_t fill;
		pthread_t th;
		double ratio;

		c.map = tu_create(CMAP_BACKEND_LOCKFREE, 0);
		c.live = live / c.nthreads;
		c.ops = ops / c.nthreads;
		if (c.map == NULL || pthread_create(&th, NULL, lc_run, &c) != 0)
			abort();
		lc_filler_wait(&c);
		fill = fill_bytes(c.map);
		c.peak = fill;
		atomic_fetch_add(&c.filled, 1);
		pthread_join(th, NULL);
		ratio = (double)c.peak / (double)fill;
		used += (size_t)snprintf(line + used, sizeof line - used,
		    "%s%d thread(s) %.2fx", k ? ", " : "", c.nthreads, ratio);
		if (c.errors ||
		    c.peak > limit[k] * fill + (UINT64_C(1) << 20)) {
			fprintf(stderr,
			    "lf_limits churn: %d threads: peak %llu bytes, "
			    "fill %llu, %ld errors: FAILED\n",
			    c.nthreads, (unsigned long long)c.peak,
			    (unsigned long long)fill, c.errors);
			failed = 1;
		}
		cmap_destroy(c.map);
	}
	printf("SUMMARY lf_limits churn: %ld live keys, %ld insert+delete "
	       "pairs: peak bytes / the filled map: %s (limits 2, 3, 8)\n",
	    live, ops, line);
}

int
main(int argc, char **argv)
{
	long gk = argc > 1 ? atol(argv[1]) : tu_scaled(3000000) / LG_DIV;
	long cl = argc > 2 ? atol(argv[2]) : tu_scaled(200000) / LG_DIV;
	long co = argc > 3 ? atol(argv[3]) : tu_scaled(4000000) / LG_DIV;
	long hk = argc > 4 ? atol(argv[4]) : tu_scaled(2000000) / LG_DIV;

	if (!cmap_backend_available(CMAP_BACKEND_LOCKFREE)) {
		fprintf(stderr, "lockfree backend not built; skipped\n");
		return 0;
	}
	test_growth(gk > 1000 ? gk : 1000);
	if (hk > 0)
		test_hooked(hk);
	test_churn(cl > 800 ? cl : 800, co > 1000 ? co : 1000);
	return failed;
}
