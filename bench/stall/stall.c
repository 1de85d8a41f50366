/*
 * stall.c - the worst single call while a map grows (issue 11).
 *
 *   cmap-stall [--keys N] [--repetitions R] [--backends a,b,...]
 *              [--hooks off|on|both] [--no-reader] [--top K]
 *
 * For each backend (default: plain, rwlock, sharded, lockfree,
 * readmostly), with and without allocator hooks (malloc-based:
 * posix_memalign and free, as a caller would supply them), R times
 * (default 3): one thread stores N keys (default 10,000,000) into an empty
 * map, timing every store in its own CPU time (CLOCK_THREAD_CPUTIME_ID:
 * what the call itself did, immune to the machine's load; capped at the
 * call's wall time, since that clock jumps now and then on this machine)
 * and in wall time (CLOCK_MONOTONIC: what the caller waited, preemption
 * included).
 * Meanwhile, on a thread-safe backend, a second thread loads keys stored
 * early in a loop and records its worst load in wall time.  After each
 * store the same clocks time an empty interval; the worst of those
 * (idle_cpu) is what the machine alone took from an interval with no work
 * in it, the floor of the store figures; total_cpu is the CPU time of
 * all the stores (ms), what the growth cost as a whole.  One line per
 * run, then one line of medians per backend and hooks setting; with
 * --top K, the K stores of the run with the most CPU time, each with its
 * index (the map's length before it), to find which resize step it was.
 *
 * It asserts nothing: a tool, not a test.  Run it alone on the machine
 * for the wall figures (flock /tmp/libcmap-bench.lock ...).
 */
#define _POSIX_C_SOURCE 200809L
#include <cmap.h>

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_REPS 15
#define MAX_TOP 32
#define READ_KEYS 1000u
#define GOLDEN UINT64_C(0x9e3779b97f4a7c15)

struct worst {
	uint64_t cpu_ns, wall_ns, index;
};

struct run {
	uint64_t store_cpu, store_wall, store_at, load_wall, over_1ms;
	uint64_t idle_cpu;  /* the worst empty interval */
	uint64_t total_cpu; /* CPU time of all the stores together */
	struct worst top[MAX_TOP];
};

struct reader {
	cmap_t *map;
	atomic_int done;
	uint64_t worst;
	uint64_t loads;
};

static uint64_t
now(clockid_t clk)
{
	struct timespec t;

	clock_gettime(clk, &t);
	return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

static void *
hook_alloc(void *ctx, size_t size, size_t align)
{
	void *p;

	(void)ctx;
	if (align < sizeof(void *))
		align = sizeof(void *);
	return posix_memalign(&p, align, size) != 0 ? NULL : p;
}

static void
hook_free(void *ctx, void *ptr, size_t size)
{
	(void)ctx;
	(void)size;
	free(ptr);
}

static void *
reader_main(void *arg)
{
	struct reader *r = arg;
	uint64_t v, i = 0;

	while (!atomic_load_explicit(&r->done, memory_order_relaxed)) {
		uint64_t t = now(CLOCK_MONOTONIC);

		(void)cmap_load(r->map, (i++ % READ_KEYS) * GOLDEN, &v);
		t = now(CLOCK_MONOTONIC) - t;
		if (t > r->worst)
			r->worst = t;
	}
	r->loads = i;
	return NULL;
}

/* The CPU time since the read `start`, of an interval that took `wall`
 * ns of wall time.  A call's CPU time is at most its wall time, but this
 * machine's thread CPU clock jumps now and then (a store of 2 us wall
 * once read 1.48 ms of CPU): capped. */
static uint64_t
cpu_of(uint64_t start, uint64_t wall)
{
	uint64_t c = now(CLOCK_THREAD_CPUTIME_ID) - start;

	return c < wall ? c : wall;
}

/* Keep the k stores with the most CPU time, most first. */
static void
top_add(struct worst *top, unsigned k, struct worst w)
{
	unsigned i = k;

	if (k == 0 || w.cpu_ns <= top[k - 1].cpu_ns)
		return;
	while (i > 0 && top[i - 1].cpu_ns < w.cpu_ns) {
		if (i < k)
			top[i] = top[i - 1];
		i--;
	}
	top[i] = w;
}

static int
one_run(const char *backend, bool hooks, bool reader, uint64_t n, unsigned k,
    struct run *out)
{
	cmap_config_t cfg;
	cmap_t *m;
	struct reader rd;
	pthread_t th;
	bool threaded = false;

	cmap_config_init(&cfg);
	cfg.backend = backend;
	if (hooks) {
		cfg.allocator.alloc = hook_alloc;
		cfg.allocator.free = hook_free;
	}
	if (cmap_create(&cfg, &m) != CMAP_OK) {
		fprintf(
		    stderr, "cmap-stall: %s: %s\n", backend, cmap_last_error());
		return -1;
	}
	memset(out, 0, sizeof *out);
	memset(&rd, 0, sizeof rd);
	rd.map = m;
	atomic_init(&rd.done, 0);
	if (reader) {
		if (pthread_create(&th, NULL, reader_main, &rd) != 0) {
			fprintf(stderr, "cmap-stall: no reader thread\n");
			cmap_destroy(m);
			return -1;
		}
		threaded = true;
	}
	for (uint64_t i = 0; i < n; i++) {
		uint64_t c = now(CLOCK_THREAD_CPUTIME_ID);
		uint64_t w = now(CLOCK_MONOTONIC);
		cmap_status_t st = cmap_store(m, i * GOLDEN, i);

		w = now(CLOCK_MONOTONIC) - w;
		c = cpu_of(c, w);
		/* The same clocks around nothing, after each store: the worst
		 * of these is what the machine alone (the kernel, the
		 * hypervisor) took from an interval with no work in it. */
		{
			uint64_t ic = now(CLOCK_THREAD_CPUTIME_ID);
			uint64_t iw = now(CLOCK_MONOTONIC);

			iw = now(CLOCK_MONOTONIC) - iw;
			ic = cpu_of(ic, iw);
			if (ic > out->idle_cpu)
				out->idle_cpu = ic;
		}
		if (st < 0) {
			fprintf(stderr, "cmap-stall: %s: store %llu: %s\n",
			    backend, (unsigned long long)i,
			    cmap_status_name(st));
			break;
		}
		out->total_cpu += c;
		if (c > out->store_cpu) {
			out->store_cpu = c;
			out->store_at = i;
		}
		if (w > out->store_wall)
			out->store_wall = w;
		if (c > 1000000u)
			out->over_1ms++;
		top_add(out->top, k, (struct worst){c, w, i});
	}
	atomic_store_explicit(&rd.done, 1, memory_order_relaxed);
	if (threaded)
		pthread_join(th, NULL);
	out->load_wall = rd.worst;
	cmap_destroy(m);
	return 0;
}

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static double
median_ms(const struct run *runs, unsigned r, size_t field)
{
	uint64_t v[MAX_REPS];

	for (unsigned i = 0; i < r; i++)
		memcpy(&v[i], (const char *)&runs[i] + field, sizeof v[i]);
	qsort(v, r, sizeof v[0], cmp_u64);
	return (r % 2 ? (double)v[r / 2]
	              : ((double)v[r / 2 - 1] + (double)v[r / 2]) / 2) /
	    1e6;
}

/* A figure in ms, or "n/a" when no reader ran (buf: 32 bytes). */
static const char *
ms_or_na(bool have, double ms, char *buf)
{
	if (!have)
		return "n/a";
	snprintf(buf, 32, "%.3f", ms);
	return buf;
}

static bool
thread_safe(const char *backend)
{
	cmap_backend_info_t info;

	return cmap_backend_info(backend, &info) == CMAP_OK &&
	    (info.caps & CMAP_CAP_THREAD_SAFE);
}

static void
usage(void)
{
	fprintf(stderr,
	    "usage: cmap-stall [--keys N] [--repetitions R] "
	    "[--backends a,b,...]\n"
	    "                  [--hooks off|on|both] [--no-reader] "
	    "[--top K]\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	const char *backends = "plain,rwlock,sharded,lockfree,readmostly";
	uint64_t n = 10000000;
	unsigned reps = 3, top = 0;
	int hooks_lo = 0, hooks_hi = 1;
	bool want_reader = true;
	char list[256];

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (strcmp(a, "--no-reader") == 0) {
			want_reader = false;
			continue;
		}
		if (v == NULL)
			usage();
		i++;
		if (strcmp(a, "--keys") == 0)
			n = strtoull(v, NULL, 10);
		else if (strcmp(a, "--repetitions") == 0)
			reps = (unsigned)strtoul(v, NULL, 10);
		else if (strcmp(a, "--backends") == 0)
			backends = v;
		else if (strcmp(a, "--top") == 0)
			top = (unsigned)strtoul(v, NULL, 10);
		else if (strcmp(a, "--hooks") == 0 && strcmp(v, "off") == 0)
			hooks_hi = 0;
		else if (strcmp(a, "--hooks") == 0 && strcmp(v, "on") == 0)
			hooks_lo = 1;
		else if (strcmp(a, "--hooks") != 0 || strcmp(v, "both") != 0)
			usage();
	}
	if (n == 0 || reps == 0 || reps > MAX_REPS || top > MAX_TOP ||
	    strlen(backends) >= sizeof list)
		usage();
	printf("# cmap-stall: %llu keys from empty, one storing thread; "
	       "ms, medians of %u runs\n",
	    (unsigned long long)n, reps);
	snprintf(list, sizeof list, "%s", backends);
	for (char *save = NULL, *b = strtok_r(list, ",", &save); b != NULL;
	     b = strtok_r(NULL, ",", &save)) {
		bool reader = want_reader && thread_safe(b);

		for (int hooks = hooks_lo; hooks <= hooks_hi; hooks++) {
			struct run runs[MAX_REPS];
			char buf[32];

			for (unsigned r = 0; r < reps; r++) {
				struct run *x = &runs[r];

				if (one_run(b, hooks, reader, n, top, x) != 0)
					return 1;
				printf("run %-10s hooks=%-3s rep=%u "
				       "store_cpu=%.3f store_wall=%.3f "
				       "at=%llu over_1ms=%llu load_wall=%s "
				       "idle_cpu=%.3f total_cpu=%.0f\n",
				    b, hooks ? "on" : "off", r + 1,
				    x->store_cpu / 1e6, x->store_wall / 1e6,
				    (unsigned long long)x->store_at,
				    (unsigned long long)x->over_1ms,
				    ms_or_na(reader, x->load_wall / 1e6, buf),
				    x->idle_cpu / 1e6, x->total_cpu / 1e6);
				for (unsigned t = 0; t < top; t++)
					printf("  top%-2u cpu=%.3f wall=%.3f "
					       "at=%llu\n",
					    t + 1, x->top[t].cpu_ns / 1e6,
					    x->top[t].wall_ns / 1e6,
					    (unsigned long long)x->top[t]
					        .index);
				fflush(stdout);
			}
			printf("median %-10s hooks=%-3s store_cpu=%.3f "
			       "store_wall=%.3f load_wall=%s idle_cpu=%.3f "
			       "total_cpu=%.0f\n",
			    b, hooks ? "on" : "off",
			    median_ms(
			        runs, reps, offsetof(struct run, store_cpu)),
			    median_ms(
			        runs, reps, offsetof(struct run, store_wall)),
			    ms_or_na(reader,
			        median_ms(runs, reps,
			            offsetof(struct run, load_wall)),
			        buf),
			    median_ms(
			        runs, reps, offsetof(struct run, idle_cpu)),
			    median_ms(
			        runs, reps, offsetof(struct run, total_cpu)));
			fflush(stdout);
		}
	}
	return 0;
}
