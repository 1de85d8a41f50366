/*
 * hist.c - the sampling clock and the log-linear latency histogram.
 *
 * CLOCK
 *
 * A sampled operation is bracketed by two clock reads.  On x86-64 with an
 * invariant TSC (cpuinfo flags constant_tsc and nonstop_tsc) the clock is
 * the TSC: "lfence; rdtsc; lfence" before the operation (nothing of the
 * operation starts before the read) and "rdtscp; lfence" after (the read
 * waits for the operation's loads and stores to complete, and nothing
 * after it starts early).  Ticks are converted to nanoseconds with a rate
 * calibrated against CLOCK_MONOTONIC over 50 ms at start-up.  Elsewhere, or
 * with --clock=gettime, the clock is clock_gettime(CLOCK_MONOTONIC) in
 * nanoseconds (a vDSO call when the kernel's clocksource allows it).
 *
 * The cost of an empty bracket (median of 4096 back-to-back pairs) is
 * measured once and subtracted from every sample, so a sample estimates
 * the operation alone; it is reported as timer_overhead_ns.
 *
 * HISTOGRAM
 *
 * Values below 2^HIST_SUB_BITS ticks are counted exactly; each higher
 * power of two [2^e, 2^(e+1)) is split into 2^HIST_SUB_BITS equal buckets,
 * so a bucket spans at most 1/32 of its values: quantiles are within 3.1%
 * (HdrHistogram's layout with 5 significant bits).  Recording is a count
 * leading zeros, a shift and an increment; one histogram per thread and
 * operation kind, merged after the run.
 */
#include "bench.h"

#include <stdlib.h>
#include <string.h>

bool bench_clock_tsc;
static double ns_per_tick = 1.0;
static uint64_t overhead_ticks;

double
bench_now_s(void)
{
	return (double)bench_mono_ns() * 1e-9;
}

#if defined(__x86_64__)
static bool
tsc_invariant(void)
{
	FILE *f = fopen("/proc/cpuinfo", "r");
	char line[4096];
	bool constant = false, nonstop = false;

	if (f == NULL)
		return false;
	while (fgets(line, sizeof line, f) != NULL) {
		if (strncmp(line, "flags", 5) != 0)
			continue;
		constant = strstr(line, " constant_tsc") != NULL;
		nonstop = strstr(line, " nonstop_tsc") != NULL;
		break;
	}
	fclose(f);
	return constant && nonstop;
}
#endif

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x > y) - (x < y);
}

void
bench_clock_init(bool force_gettime)
{
#if defined(__x86_64__)
	bench_clock_tsc = !force_gettime && tsc_invariant();
	if (bench_clock_tsc) {
		uint64_t n0 = bench_mono_ns(), c0 = bench_tick_begin(), n1, c1;

		do {
			n1 = bench_mono_ns();
		} while (n1 - n0 < 50000000u);
		c1 = bench_tick_end();
		ns_per_tick = (double)(n1 - n0) / (double)(c1 - c0);
	}
#else
	(void)force_gettime;
	bench_clock_tsc = false;
#endif
	enum { N = 4096 };
	static uint64_t d[N];

	for (int i = 0; i < N; i++) {
		uint64_t a = bench_tick_begin();
		uint64_t b = bench_tick_end();

		d[i] = b - a;
	}
	qsort(d, N, sizeof d[0], cmp_u64);
	overhead_ticks = d[N / 2];
}

double
bench_ticks_to_ns(double ticks)
{
	return ticks * ns_per_tick;
}

const char *
bench_clock_name(void)
{
	return bench_clock_tsc ? "tsc" : "clock_gettime";
}

double
bench_timer_overhead_ns(void)
{
	return (double)overhead_ticks * ns_per_tick;
}

uint64_t
bench_timer_overhead_ticks(void)
{
	return overhead_ticks;
}

/* ------------------------------------------------------------------ */

static inline unsigned
hist_index(uint64_t v)
{
	unsigned e, sub;

	if (v < HIST_SUB)
		return (unsigned)v;
	e = 63u - (unsigned)__builtin_clzll(v);
	if (e >= HIST_MAX_EXP)
		return HIST_BUCKETS - 1;
	sub = (unsigned)(v >> (e - HIST_SUB_BITS)) & (HIST_SUB - 1);
	return (e - HIST_SUB_BITS + 1) * HIST_SUB + sub;
}

static uint64_t
hist_upper(unsigned idx)
{
	unsigned e, sub;
	uint64_t lower;

	if (idx < HIST_SUB)
		return idx;
	e = idx / HIST_SUB - 1 + HIST_SUB_BITS;
	sub = idx % HIST_SUB;
	lower = (uint64_t)(HIST_SUB + sub) << (e - HIST_SUB_BITS);
	return lower + (UINT64_C(1) << (e - HIST_SUB_BITS)) - 1;
}

void
hist_reset(struct bench_hist *h)
{
	memset(h, 0, sizeof *h);
}

void
hist_record(struct bench_hist *h, uint64_t ticks)
{
	h->bucket[hist_index(ticks)]++;
	h->count++;
	if (ticks > h->max)
		h->max = ticks;
}

void
hist_merge(struct bench_hist *into, const struct bench_hist *from)
{
	for (unsigned i = 0; i < HIST_BUCKETS; i++)
		into->bucket[i] += from->bucket[i];
	into->count += from->count;
	if (from->max > into->max)
		into->max = from->max;
}

uint64_t
hist_quantile(const struct bench_hist *h, double q)
{
	uint64_t rank, seen = 0;

	if (h->count == 0)
		return 0;
	if (q >= 1.0)
		return h->max;
	/* The smallest value v with at least ceil(q * count) samples <= v. */
	rank = (uint64_t)(q * (double)h->count);
	if ((double)rank < q * (double)h->count)
		rank++;
	if (rank == 0)
		rank = 1;
	for (unsigned i = 0; i < HIST_BUCKETS; i++) {
		seen += h->bucket[i];
		if (seen >= rank) {
			uint64_t up = hist_upper(i);

			return up < h->max ? up : h->max;
		}
	}
	return h->max;
}
