/*
 * churnmem.c - a map's memory under insert/delete churn, as issue 13 asks:
 * fill LIVE keys, then OPS operations of churn (delete the oldest key,
 * insert a new one: the live set stays LIVE), then delete every key.  The
 * bytes come from a counting allocator hook, so they are what the map
 * holds from its allocator (tables, records, retired tables waiting for
 * their grace period), not the process's resident set.
 *
 *   BUILD/bench/cmap-churnmem BACKEND [LIVE [OPS [HINT [twin]]]]
 *                           (defaults 1000000, 50000000, no capacity hint)
 *
 * With "twin", the churn is over a bounded key set instead, as
 * cmap-bench's: slot s of LIVE holds key s or its twin s + LIVE, and a
 * pair at a random slot deletes the one present and inserts the other.
 *
 * Prints, for the fill, the churn and after deleting everything, the peak
 * and final bytes, and their ratio to LIVE * 16 (the bytes of the live
 * keys and values); and the churn's rate (wall time: run it alone) and
 * the slots before and after it, which is what a capacity hint HINT
 * trades memory for (a lockfree table's deleted slots are only reclaimed by
 * migrating it: docs/lockfree.md, "Churn").
 */
#include "cmap.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static _Atomic long live_bytes, peak_bytes;

static void *
count_alloc(void *ctx, size_t size, size_t align)
{
	void *p;
	long now;

	(void)ctx;
	if (posix_memalign(
	        &p, align < sizeof(void *) ? sizeof(void *) : align, size) != 0)
		return NULL;
	now = atomic_fetch_add(&live_bytes, (long)size) + (long)size;
	for (long pk = atomic_load(&peak_bytes);
	     now > pk && !atomic_compare_exchange_weak(&peak_bytes, &pk, now);)
		;
	return p;
}

static void
count_free(void *ctx, void *p, size_t size)
{
	(void)ctx;
	atomic_fetch_sub(&live_bytes, (long)size);
	free(p);
}

static uint64_t
key_of(uint64_t i)
{
	return i * UINT64_C(0x9e3779b97f4a7c15) + 1;
}

/* The twin mode's slot state: 1 when slot s holds its twin. */
static unsigned char *twin_of;

static uint64_t
rng_next(uint64_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 7;
	*x ^= *x << 17;
	return *x;
}

/* OPS / 2 pairs of churn; false when a call did not do what it must. */
static bool
churn(cmap_t *m, uint64_t live, uint64_t ops)
{
	uint64_t x = 88172645463325252u;

	if (twin_of == NULL) { /* delete key i - live, insert key i */
		for (uint64_t i = live; i < live + ops / 2; i++)
			if (cmap_delete(m, key_of(i - live)) != CMAP_OK ||
			    cmap_store(m, key_of(i), i) != CMAP_INSERTED)
				return false;
		return true;
	}
	for (uint64_t i = 0; i < ops / 2; i++) {
		uint64_t s = rng_next(&x) % live, t = twin_of[s];

		if (cmap_delete(m, key_of(s + t * live)) != CMAP_OK ||
		    cmap_store(m, key_of(s + (1 - t) * live), s) !=
		        CMAP_INSERTED)
			return false;
		twin_of[s] = (unsigned char)(1 - t);
	}
	return true;
}

/* The key present after the churn in the place of fill key i. */
static uint64_t
present_key(uint64_t live, uint64_t ops, uint64_t i)
{
	if (twin_of == NULL)
		return key_of(i + ops / 2);
	return key_of(i + twin_of[i] * live);
}

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void
report(const char *phase, uint64_t live)
{
	double raw = (double)(live ? live : 1) * 16.0;

	printf("  %-7s peak %11ld B (%.2fx live)  now %11ld B (%.2fx)\n", phase,
	    atomic_load(&peak_bytes), (double)atomic_load(&peak_bytes) / raw,
	    atomic_load(&live_bytes), (double)atomic_load(&live_bytes) / raw);
	atomic_store(&peak_bytes, atomic_load(&live_bytes));
}

int
main(int argc, char **argv)
{
	uint64_t live = argc > 2 ? strtoull(argv[2], NULL, 0) : 1000000;
	uint64_t ops = argc > 3 ? strtoull(argv[3], NULL, 0) : 50000000;
	size_t hint = argc > 4 ? (size_t)strtoull(argv[4], NULL, 0) : 0;
	cmap_config_t cfg;
	cmap_stats_t st0, st1;
	cmap_t *m;
	double t0, t;

	if (argc < 2 || (argc > 5 && strcmp(argv[5], "twin") != 0)) {
		fprintf(stderr,
		    "usage: churnmem BACKEND [LIVE [OPS [HINT [twin]]]]\n");
		return 2;
	}
	if (argc > 5 && (twin_of = calloc(live ? live : 1, 1)) == NULL)
		return 1;
	cmap_config_init(&cfg);
	cfg.backend = argv[1];
	cfg.capacity = hint;
	cfg.allocator.alloc = count_alloc;
	cfg.allocator.free = count_free;
	if (cmap_create(&cfg, &m) != CMAP_OK) {
		fprintf(stderr, "churnmem: %s\n", cmap_last_error());
		return 1;
	}
	printf("%s: %llu live keys, %llu churn operations%s, capacity hint "
	       "%zu\n",
	    argv[1], (unsigned long long)live, (unsigned long long)ops,
	    twin_of != NULL ? " (twin keys)" : "", hint);
	for (uint64_t i = 0; i < live; i++)
		if (cmap_store(m, key_of(i), i) != CMAP_INSERTED)
			return 1;
	report("fill", live);
	if (cmap_stats(m, &st0) != CMAP_OK)
		return 1;
	t0 = now_s();
	if (!churn(m, live, ops))
		return 1;
	t = now_s() - t0;
	report("churn", live);
	if (cmap_stats(m, &st1) != CMAP_OK)
		return 1;
	printf("  churn   %.2f Mops/s, %llu slots at the start, %llu at the "
	       "end\n",
	    (double)(ops / 2 * 2) / t / 1e6, (unsigned long long)st0.capacity,
	    (unsigned long long)st1.capacity);
	for (uint64_t i = 0; i < live; i++)
		if (cmap_delete(m, present_key(live, ops, i)) != CMAP_OK)
			return 1;
	printf("  deleted every key: %ld B held (len %zu)\n",
	    atomic_load(&live_bytes), cmap_len(m));
	cmap_destroy(m);
	return atomic_load(&live_bytes) == 0 ? 0 : 1;
}
