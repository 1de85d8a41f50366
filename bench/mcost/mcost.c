/*
 * mcost.c - what metrics cost in time, measured so that a few percent
 * shows through this machine's noise.
 *
 *   cmap-mcost [--keys N] [--threads LIST] [--rounds R] [--slice OPS]
 *              [--write-pct P] [BACKEND...]
 *
 * For each backend (default: every in-memory one) and thread count, two
 * maps of N keys (default 1M), one without metrics and one with
 * CMAP_FLAG_METRICS, get the same workload (cmap-bench's read-mostly mix:
 * loads of uniform keys from the prefilled universe, P% writes (default
 * 10), half stores, half deletes) in short slices of OPS operations per
 * thread (default 100,000), in the order off, on, on, off, then on, off,
 * off, on in the next round, and so on for R rounds (default 40).  Each
 * round gives one ratio, on/off throughput over its four slices, so that
 * a slow period of the machine (whole runs here differ by 20% and more)
 * weighs on both maps alike; the output is the median of the rounds'
 * ratios with their quartiles and range, and each map's median speed.
 * A backend without CMAP_CAP_THREAD_SAFE runs at 1 thread only.
 * docs/design.md, "Metrics", has the figures.
 */
#include <cmap.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_THREADS 64
#define MAX_ROUNDS 1000

static uint64_t g_keys = 1000000, g_slice = 100000, g_write_pct = 10;
static unsigned g_rounds = 40;

struct pool {
	pthread_barrier_t start, done;
	cmap_t *map; /* the map of the slice to run; NULL: exit */
	unsigned n;
	uint64_t sink;
};

struct worker {
	struct pool *p;
	uint64_t rng;
	pthread_t tid;
};

static uint64_t
key_of(uint64_t i)
{
	uint64_t x = (i + 1) * 0x9e3779b97f4a7c15u;

	return x ^ (x >> 29);
}

static uint64_t
next(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return *s = x;
}

static void
slice(cmap_t *m, uint64_t *rng, uint64_t *sink)
{
	uint64_t v, acc = 0;

	for (uint64_t i = 0; i < g_slice; i++) {
		uint64_t r = next(rng);
		uint64_t k = key_of((r >> 8) % g_keys);
		unsigned op = (unsigned)(r & 0xff) * 100u / 256u;

		if (op >= g_write_pct)
			acc += cmap_load(m, k, &v) == CMAP_OK ? v : 0;
		else if (op * 2 < g_write_pct)
			(void)cmap_store(m, k, r);
		else
			(void)cmap_delete(m, k);
	}
	*sink += acc;
}

static void *
worker_main(void *arg)
{
	struct worker *w = arg;
	uint64_t sink = 0;

	for (;;) {
		cmap_t *m;

		pthread_barrier_wait(&w->p->start);
		m = w->p->map;
		if (m == NULL)
			break;
		slice(m, &w->rng, &sink);
		pthread_barrier_wait(&w->p->done);
	}
	__atomic_fetch_add(&w->p->sink, sink, __ATOMIC_RELAXED);
	return NULL;
}

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Seconds for one slice of every thread on m. */
static double
run_slice(struct pool *p, cmap_t *m)
{
	double t0 = now();

	p->map = m;
	pthread_barrier_wait(&p->start);
	pthread_barrier_wait(&p->done);
	return now() - t0;
}

static cmap_t *
make(const char *backend, uint32_t flags)
{
	cmap_config_t c;
	cmap_t *m;

	cmap_config_init(&c);
	c.backend = backend;
	c.flags = flags;
	if (cmap_create(&c, &m) != CMAP_OK) {
		fprintf(
		    stderr, "cmap-mcost: %s: %s\n", backend, cmap_last_error());
		exit(1);
	}
	for (uint64_t i = 0; i < g_keys; i++)
		if (cmap_is_error(cmap_store(m, key_of(i), i))) {
			fprintf(stderr, "cmap-mcost: %s: prefill failed\n",
			    backend);
			exit(1);
		}
	return m;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* The q-quantile of sorted v[n], by linear interpolation. */
static double
quantile(const double *v, unsigned n, double q)
{
	double pos = q * (n - 1);
	unsigned i = (unsigned)pos;

	return i + 1 < n ? v[i] + (pos - i) * (v[i + 1] - v[i]) : v[n - 1];
}

static void
measure(const char *backend, unsigned threads)
{
	static double ratio[MAX_ROUNDS], off_mops[MAX_ROUNDS],
	    on_mops[MAX_ROUNDS];
	struct worker w[MAX_THREADS];
	struct pool p = {.n = threads};
	cmap_t *m[2] = {make(backend, 0), make(backend, CMAP_FLAG_METRICS)};
	double ops = (double)g_slice * threads * 2;

	pthread_barrier_init(&p.start, NULL, threads + 1);
	pthread_barrier_init(&p.done, NULL, threads + 1);
	for (unsigned i = 0; i < threads; i++) {
		w[i].p = &p;
		w[i].rng = key_of(i + 7) | 1;
		pthread_create(&w[i].tid, NULL, worker_main, &w[i]);
	}
	(void)run_slice(&p, m[0]); /* warm-up, untimed */
	(void)run_slice(&p, m[1]);
	for (unsigned r = 0; r < g_rounds; r++) {
		unsigned a = r & 1; /* off first in even rounds */
		double t[2] = {0, 0};

		t[a] += run_slice(&p, m[a]);
		t[!a] += run_slice(&p, m[!a]);
		t[!a] += run_slice(&p, m[!a]);
		t[a] += run_slice(&p, m[a]);
		ratio[r] = t[0] / t[1];
		off_mops[r] = ops / t[0] / 1e6;
		on_mops[r] = ops / t[1] / 1e6;
	}
	p.map = NULL;
	pthread_barrier_wait(&p.start);
	for (unsigned i = 0; i < threads; i++)
		pthread_join(w[i].tid, NULL);
	qsort(ratio, g_rounds, sizeof ratio[0], cmp_double);
	qsort(off_mops, g_rounds, sizeof off_mops[0], cmp_double);
	qsort(on_mops, g_rounds, sizeof on_mops[0], cmp_double);
	printf("%-11s %7u %9.2f %9.2f   %.3f (%.3f-%.3f) [%.3f-%.3f]\n",
	    backend, threads, quantile(off_mops, g_rounds, 0.5),
	    quantile(on_mops, g_rounds, 0.5), quantile(ratio, g_rounds, 0.5),
	    quantile(ratio, g_rounds, 0.25), quantile(ratio, g_rounds, 0.75),
	    ratio[0], ratio[g_rounds - 1]);
	fflush(stdout);
	pthread_barrier_destroy(&p.start);
	pthread_barrier_destroy(&p.done);
	cmap_destroy(m[0]);
	cmap_destroy(m[1]);
}

static uint64_t
count_arg(const char *flag, const char *s, uint64_t lo, uint64_t hi)
{
	char *end;
	unsigned long long v = strtoull(s, &end, 10);

	if (*end == 'K')
		v *= 1000, end++;
	else if (*end == 'M')
		v *= 1000000, end++;
	if (end == s || *end != '\0' || v < lo || v > hi) {
		fprintf(stderr, "cmap-mcost: %s: bad value '%s'\n", flag, s);
		exit(2);
	}
	return v;
}

int
main(int argc, char **argv)
{
	unsigned threads[8] = {1, 2}, nthreads = 2;
	const char *backends[32];
	unsigned nb = 0;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : "";

		if (strcmp(a, "--keys") == 0)
			g_keys = count_arg(a, v, 1, 1u << 30), i++;
		else if (strcmp(a, "--rounds") == 0)
			g_rounds = (unsigned)count_arg(a, v, 2, MAX_ROUNDS),
			i++;
		else if (strcmp(a, "--slice") == 0)
			g_slice = count_arg(a, v, 1, 1u << 30), i++;
		else if (strcmp(a, "--write-pct") == 0)
			g_write_pct = count_arg(a, v, 0, 100), i++;
		else if (strcmp(a, "--threads") == 0) {
			char buf[64], *save = NULL;

			snprintf(buf, sizeof buf, "%s", v);
			nthreads = 0;
			for (char *t = strtok_r(buf, ",", &save);
			     t != NULL && nthreads < 8;
			     t = strtok_r(NULL, ",", &save))
				threads[nthreads++] =
				    (unsigned)count_arg(a, t, 1, MAX_THREADS);
			i++;
		} else if (a[0] == '-') {
			fprintf(stderr,
			    "usage: cmap-mcost [--keys N] [--threads LIST] "
			    "[--rounds R] [--slice OPS] [--write-pct P] "
			    "[BACKEND...]\n");
			return 2;
		} else if (nb < 32)
			backends[nb++] = a;
	}
	if (nb == 0) {
		const char *name;

		for (size_t i = 0; (name = cmap_backend_at(i)) != NULL; i++) {
			cmap_backend_info_t info;

			if (cmap_backend_available(name) &&
			    cmap_backend_info(name, &info) == CMAP_OK &&
			    !(info.caps &
			        (CMAP_CAP_PERSISTENT | CMAP_CAP_REMOTE)) &&
			    nb < 32)
				backends[nb++] = name;
		}
	}
	printf("# %llu keys, %llu%% writes, %u rounds of 4 slices of %llu "
	       "operations per thread\n",
	    (unsigned long long)g_keys, (unsigned long long)g_write_pct,
	    g_rounds, (unsigned long long)g_slice);
	printf("%-11s %7s %9s %9s   %s\n", "backend", "threads", "off Mops",
	    "on Mops", "on/off median (quartiles) [range]");
	for (unsigned b = 0; b < nb; b++) {
		cmap_backend_info_t info;

		if (cmap_backend_info(backends[b], &info) != CMAP_OK) {
			fprintf(stderr, "cmap-mcost: unknown backend '%s'\n",
			    backends[b]);
			return 2;
		}
		for (unsigned t = 0; t < nthreads; t++)
			if (threads[t] == 1 ||
			    (info.caps & CMAP_CAP_THREAD_SAFE))
				measure(backends[b], threads[t]);
	}
	return 0;
}
