/*
 * lf_perf.c - a quick measurement of the lockfree backend against the plain
 * backend in the same run, through the public API (issue 3's targets).
 * Built, not registered as a test.
 *
 *   lf_perf [keys=1000000] [seconds-per-case=0.5] [churn-ops=2*keys]
 *
 * Prints, per case, Mops/s of each backend and the ratio lockfree/plain,
 * bytes per entry at `keys`, the peak of live bytes during growth, and
 * for churn (delete one key, insert a new one, `keys` live, churn-ops
 * operations) the peak of live bytes and what is left once every key is
 * deleted, both against the live bytes after the fill.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cmap.h"

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Counting allocator: live bytes and their peak. */
static atomic_long g_live, g_peak;

static void *
c_alloc(void *ctx, size_t size, size_t align)
{
	void *p = NULL;
	long l;

	(void)ctx;
	if (align < sizeof(void *))
		align = sizeof(void *);
	if (posix_memalign(&p, align, size) != 0)
		return NULL;
	l = atomic_fetch_add(&g_live, (long)size) + (long)size;
	for (long pk = atomic_load(&g_peak);
	     l > pk && !atomic_compare_exchange_weak(&g_peak, &pk, l);)
		;
	return p;
}

static void
c_free(void *ctx, void *p, size_t size)
{
	(void)ctx;
	atomic_fetch_sub(&g_live, (long)size);
	free(p);
}

static cmap_t *
mk(const char *b, size_t cap)
{
	cmap_config_t cfg;
	cmap_t *m;

	cmap_config_init(&cfg);
	cfg.backend = b;
	cfg.capacity = cap;
	cfg.flags = CMAP_FLAG_NO_MISUSE_CHECK;
	cfg.allocator.alloc = c_alloc;
	cfg.allocator.free = c_free;
	if (cmap_create(&cfg, &m) != CMAP_OK) {
		fprintf(
		    stderr, "create(%s) failed: %s\n", b, cmap_last_error());
		exit(1);
	}
	return m;
}

static uint64_t
key(uint64_t i)
{
	uint64_t z = i + UINT64_C(0x9e3779b97f4a7c15);

	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

static uint64_t g_n;
static double g_secs;

struct thr {
	cmap_t *m;
	int kind; /* 0 loads, 1 90/5/5 mix */
	int id;
	atomic_int *go;
	atomic_int *stop;
	uint64_t ops;
	uint64_t sink;
};

static void *
worker(void *arg)
{
	struct thr *t = arg;
	uint64_t x = (uint64_t)t->id * 7919 + 1, ops = 0, sink = 0, v;

	while (!atomic_load(t->go))
		;
	while (!atomic_load_explicit(t->stop, memory_order_relaxed)) {
		for (int j = 0; j < 256; j++) {
			x = x * UINT64_C(6364136223846793005) +
			    1442695040888963407u;
			uint64_t k = key((x >> 20) % g_n);

			if (t->kind == 0) {
				if (cmap_load(t->m, k, &v) == CMAP_OK)
					sink += v;
			} else {
				unsigned r = (unsigned)(x >> 60);

				if (r >= 2)
					sink += cmap_load(t->m, k, &v);
				else if (r == 1)
					(void)cmap_store(t->m, k, x);
				else
					(void)cmap_delete(t->m, k);
			}
		}
		ops += 256;
	}
	t->ops = ops;
	t->sink = sink;
	return NULL;
}

static double
run_threads(cmap_t *m, int kind, int n)
{
	pthread_t th[64];
	struct thr t[64];
	atomic_int go = 0, stop = 0;
	uint64_t total = 0;
	struct timespec ts = {
	    (time_t)g_secs, (long)((g_secs - (double)(time_t)g_secs) * 1e9)};
	double t0;

	for (int i = 0; i < n; i++) {
		t[i] = (struct thr){m, kind, i, &go, &stop, 0, 0};
		pthread_create(&th[i], NULL, worker, &t[i]);
	}
	t0 = now();
	atomic_store(&go, 1);
	nanosleep(&ts, NULL);
	atomic_store(&stop, 1);
	for (int i = 0; i < n; i++) {
		pthread_join(th[i], NULL);
		total += t[i].ops;
	}
	return (double)total / (now() - t0) / 1e6;
}

static void
fill(cmap_t *m, uint64_t n)
{
	for (uint64_t i = 0; i < n; i++)
		(void)cmap_store(m, key(i), i);
}

/* Growth from empty: Mops/s, bytes/entry at the end, peak/final. */
static double
grow(const char *b, uint64_t n, double *bpe, double *peak_ratio)
{
	long live0 = atomic_load(&g_live);
	cmap_t *m;
	double t0, t;

	atomic_store(&g_peak, live0);
	m = mk(b, 0);
	t0 = now();
	fill(m, n);
	t = now() - t0;
	{
		cmap_stats_t st;

		cmap_stats(m, &st);
		*bpe = (double)(atomic_load(&g_live) - live0) / (double)n;
		*peak_ratio = (double)(atomic_load(&g_peak) - live0) /
		    (double)(atomic_load(&g_live) - live0);
	}
	cmap_destroy(m);
	return (double)n / t / 1e6;
}

/* ops = delete + insert pairs; *peak and *left relative to the fill. */
static double
churn(const char *b, uint64_t n, uint64_t ops, double *peak, double *left)
{
	cmap_t *m = mk(b, 0);
	long live_fill;
	double t0, t;

	fill(m, n);
	live_fill = atomic_load(&g_live);
	atomic_store(&g_peak, live_fill);
	t0 = now();
	for (uint64_t i = 0; i < ops; i++) {
		(void)cmap_delete(m, key(i));
		(void)cmap_store(m, key(i + n), i);
	}
	t = now() - t0;
	*peak = (double)atomic_load(&g_peak) / (double)live_fill;
	for (uint64_t i = ops; i < ops + n; i++)
		(void)cmap_delete(m, key(i));
	*left = (double)atomic_load(&g_live) / (double)live_fill;
	cmap_destroy(m);
	return 2.0 * (double)ops / t / 1e6;
}

int
main(int argc, char **argv)
{
	uint64_t n = argc > 1 ? strtoull(argv[1], NULL, 10) : 1000000;
	double pm, lm, bpe_p, bpe_l, pk_p, pk_l, left_p, left_l;
	uint64_t churn_ops;
	cmap_t *p, *l;

	g_secs = argc > 2 ? atof(argv[2]) : 0.5;
	churn_ops = argc > 3 ? strtoull(argv[3], NULL, 10) : 2 * n;
	g_n = n;
	printf("lf_perf: %llu keys, %.2f s per case\n", (unsigned long long)n,
	    g_secs);

	pm = grow(CMAP_BACKEND_PLAIN, n, &bpe_p, &pk_p);
	lm = grow(CMAP_BACKEND_LOCKFREE, n, &bpe_l, &pk_l);
	printf("grow from empty      plain %7.2f  lockfree %7.2f Mops/s  "
	       "ratio %.2f\n",
	    pm, lm, lm / pm);
	printf(
	    "bytes/entry          plain %7.2f  lockfree %7.2f\n", bpe_p, bpe_l);
	printf(
	    "growth peak/final    plain %7.2f  lockfree %7.2f\n", pk_p, pk_l);

	p = mk(CMAP_BACKEND_PLAIN, 0);
	l = mk(CMAP_BACKEND_LOCKFREE, 0);
	fill(p, n);
	fill(l, n);
	pm = run_threads(p, 0, 1);
	lm = run_threads(l, 0, 1);
	printf("load 1 thread        plain %7.2f  lockfree %7.2f Mops/s  "
	       "ratio %.2f\n",
	    pm, lm, lm / pm);
	pm = run_threads(p, 0, 16);
	lm = run_threads(l, 0, 16);
	printf("load 16 threads      plain %7.2f  lockfree %7.2f Mops/s  "
	       "ratio %.2f\n",
	    pm, lm, lm / pm);
	cmap_destroy(p);
	{
		double m1 = run_threads(l, 1, 1);
		double m2 = run_threads(l, 1, 2);
		double m16 = run_threads(l, 1, 16);

		printf("90/5/5 lockfree      1t %7.2f  2t %7.2f (x%.2f)  16t "
		       "%7.2f (x%.2f of 2t) Mops/s\n",
		    m1, m2, m2 / m1, m16, m16 / m2);
	}
	cmap_destroy(l);

	pm = churn(CMAP_BACKEND_PLAIN, n, churn_ops / 2, &pk_p, &left_p);
	lm = churn(CMAP_BACKEND_LOCKFREE, n, churn_ops / 2, &pk_l, &left_l);
	printf("churn 1 thread       plain %7.2f  lockfree %7.2f Mops/s  "
	       "ratio %.2f  (%llu ops)\n",
	    pm, lm, lm / pm, (unsigned long long)churn_ops);
	printf(
	    "churn peak/fill      plain %7.3f  lockfree %7.3f\n", pk_p, pk_l);
	printf("all deleted/fill     plain %7.2f  lockfree %7.2f\n", left_p,
	    left_l);

	g_n = 10000;
	p = mk(CMAP_BACKEND_PLAIN, 0);
	l = mk(CMAP_BACKEND_LOCKFREE, 0);
	fill(p, g_n);
	fill(l, g_n);
	pm = run_threads(p, 0, 1);
	lm = run_threads(l, 0, 1);
	printf("load 10K 1 thread    plain %7.2f  lockfree %7.2f Mops/s  "
	       "ratio %.2f\n",
	    pm, lm, lm / pm);
	cmap_destroy(p);
	cmap_destroy(l);
	return 0;
}
