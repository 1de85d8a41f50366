/*
 * churnmem.c - a map's memory under insert/delete churn, as issue 13 asks:
 * fill LIVE keys, then OPS operations of churn (delete the oldest key,
 * insert a new one: the live set stays LIVE), then delete every key.  The
 * bytes come from a counting allocator hook, so they are what the map
 * holds from its allocator (tables, records, retired tables waiting for
 * their grace period), not the process's resident set.
 *
 *   cc -O2 -Iinclude bench/churnmem.c BUILD/src/libcmap.a -lck -lpthread \
 *       -o /tmp/churnmem
 *   /tmp/churnmem BACKEND [LIVE [OPS]]      (defaults 1000000, 50000000)
 *
 * Prints, for the fill, the churn and after deleting everything, the peak
 * and final bytes, and their ratio to LIVE * 16 (the bytes of the live
 * keys and values).
 */
#include "cmap.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

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
	cmap_config_t cfg;
	cmap_t *m;

	if (argc < 2) {
		fprintf(stderr, "usage: churnmem BACKEND [LIVE [OPS]]\n");
		return 2;
	}
	cmap_config_init(&cfg);
	cfg.backend = argv[1];
	cfg.allocator.alloc = count_alloc;
	cfg.allocator.free = count_free;
	if (cmap_create(&cfg, &m) != CMAP_OK) {
		fprintf(stderr, "churnmem: %s\n", cmap_last_error());
		return 1;
	}
	printf("%s: %llu live keys, %llu churn operations\n", argv[1],
	    (unsigned long long)live, (unsigned long long)ops);
	for (uint64_t i = 0; i < live; i++)
		if (cmap_store(m, key_of(i), i) != CMAP_INSERTED)
			return 1;
	report("fill", live);
	/* Each pair deletes key i - live and inserts key i. */
	for (uint64_t i = live; i < live + ops / 2; i++)
		if (cmap_delete(m, key_of(i - live)) != CMAP_OK ||
		    cmap_store(m, key_of(i), i) != CMAP_INSERTED)
			return 1;
	report("churn", live);
	for (uint64_t i = ops / 2; i < live + ops / 2; i++)
		if (cmap_delete(m, key_of(i)) != CMAP_OK)
			return 1;
	printf("  deleted every key: %ld B held (len %zu)\n",
	    atomic_load(&live_bytes), cmap_len(m));
	cmap_destroy(m);
	return atomic_load(&live_bytes) == 0 ? 0 : 1;
}
