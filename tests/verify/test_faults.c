/*
 * test_faults.c - concurrent histories with 1% of allocations failing at
 * random must stay linearizable, with every CMAP_ENOMEM a no-op that is
 * only legal where the operation would have inserted; after each history
 * the map's memory goes back to zero on destroy (nothing leaks on the
 * failure paths).
 *
 * The workload uses 64 to 256 keys and frequent cmap_clear calls, so that
 * tables keep shrinking and growing back: allocations happen all the time
 * and a good share of them fail.  Per backend (every one of the build):
 * 500 x CMAP_VERIFY_SCALE histories (the ThreadSanitizer build defaults
 * to scale 0.3, AddressSanitizer to 0.5) of 4 threads x 2,000 operations;
 * a backend that is not thread-safe and linearizable (plain) gets
 * single-threaded histories (at most 25 under ThreadSanitizer); a remote
 * backend (CMAP_CAP_REMOTE) a twentieth of the histories.
 *
 * Plain C program: exits non-zero on failure; prints one summary line.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "lincheck.h"
#include "testutil.h"

/* The sanitizer builds run it at a fraction of the histories (CI's
 * time): ThreadSanitizer about 20 times slower, ASan about 5. */
#if defined(CMAP_TSAN)
#define FT_DEFAULT_SCALE 0.3
#elif defined(__SANITIZE_ADDRESS__)
#define FT_DEFAULT_SCALE 0.5
#else
#define FT_DEFAULT_SCALE 1.0
#endif

int
main(void)
{
	double scale = lc_scale(FT_DEFAULT_SCALE);
	long H = (long)(500 * scale + 0.5);
	const char *bs[TU_MAX_BACKENDS];
	size_t nb = tu_backends(bs);
	struct lc_history h;
	struct lc_stats total = {0};
	unsigned long injected = 0, allocs = 0;
	int failed = 0;
	double t0 = tu_now_s();

	if (H < 1)
		H = 1;
	lc_history_init(&h);
	for (size_t bi = 0; bi < nb; bi++) {
		const char *b = bs[bi];
		int nthreads = lc_threads_for(b, 4);
		bool slack = lc_len_slack(b);
		struct lc_stats st = {0};
		unsigned long b_injected = 0, b_allocs = 0, printed = 0;
		double tb = tu_now_s();

		/* A persistent backend takes nothing from the allocator after
		 * create (LMDB allocates with malloc): there is nothing to
		 * fail here.  Its faults are I/O faults (tests/persist) and
		 * its histories are checked by test_lincheck. */
		if (tu_has(b, CMAP_CAP_PERSISTENT)) {
			printf("faults: %-8s left out: no allocation through "
			       "the hooks after create\n",
			    b);
			continue;
		}
		/* A remote backend pays a round trip per operation: a
		 * twentieth of the histories. */
		long Hb = tu_has(b, CMAP_CAP_REMOTE) ? (H + 19) / 20 : H;
#if defined(CMAP_TSAN)
		/* Single-threaded histories give ThreadSanitizer nothing to
		 * find (ASan checks their failure paths). */
		if (nthreads == 1 && Hb > LC_TSAN_SERIAL_HISTORIES)
			Hb = LC_TSAN_SERIAL_HISTORIES;
#endif

		for (long i = 0; i < Hb; i++) {
			static const size_t nkeys[3] = {64, 128, 256};
			struct tu_alloc al;
			struct lc_workload w;
			cmap_t *m = lc_map_new(b, i % 2 ? 1 : 4, &al,
			    UINT64_C(0xfa17) + (uint64_t)i);

			if (m == NULL)
				return 1;
			atomic_store(&al.fail_permille, 10u); /* 1% */

			lc_workload_default(&w);
			w.nthreads = nthreads;
			w.ops_per_thread = nthreads > 1 ? 2000 : 8000;
			w.nkeys = nkeys[i % 3];
			w.mix[LC_M_CLEAR] = 10;
			w.mix[LC_M_STORE] += 100;
			w.mix[LC_M_LOS] += 50;
			w.seed =
			    UINT64_C(0xfa) + (uint64_t)i * 7919u + (uint64_t)bi;
			lc_run(m, &w, &h);
			atomic_store(&al.fail_permille, 0u);
			if (!lc_check(
			        &h, slack, printed < 3 ? stdout : NULL, &st)) {
				printf("faults: FAIL backend %s history %ld "
				       "(seed %" PRIu64 ")\n",
				    b, i, w.seed);
				printed++;
				failed = 1;
			}
			/* The map still works after all those failures. */
			if (cmap_is_error(cmap_store(m, 42, 42)) ||
			    cmap_clear(m) != CMAP_OK || cmap_len(m) != 0 ||
			    cmap_store(m, 42, 42) != CMAP_INSERTED ||
			    cmap_store(m, 42, 43) != CMAP_OK) {
				printf("faults: FAIL backend %s: map unusable "
				       "after injected failures\n",
				    b);
				failed = 1;
			}
			cmap_destroy(m);
			if (atomic_load(&al.live_bytes) != 0) {
				printf("faults: FAIL backend %s: %ld bytes "
				       "leaked\n",
				    b, (long)atomic_load(&al.live_bytes));
				failed = 1;
			}
			b_injected += (unsigned long)atomic_load(&al.failed);
			b_allocs += (unsigned long)atomic_load(&al.allocs);
		}
		printf("faults: %-8s histories=%lu ops=%lu allocations=%lu "
		       "failures-injected=%lu ENOMEM-results=%lu failures=%lu "
		       " %.1fs\n",
		    b, st.histories, st.ops, b_allocs, b_injected, st.enomem,
		    st.failures, tu_now_s() - tb);
		total.histories += st.histories;
		total.ops += st.ops;
		total.enomem += st.enomem;
		total.failures += st.failures;
		injected += b_injected;
		allocs += b_allocs;
		if (b_injected == 0) {
			printf("faults: FAIL backend %s: no allocation failed; "
			       "the test did not exercise anything\n",
			    b);
			failed = 1;
		}
	}
	printf("SUMMARY faults: backends=%zu histories=%lu ops=%lu "
	       "allocations=%lu allocation-failures-injected=%lu "
	       "ENOMEM-results=%lu non-linearizable=%lu; %.1fs\n",
	    nb, total.histories, total.ops, allocs, injected, total.enomem,
	    total.failures, tu_now_s() - t0);
	lc_history_fini(&h);
	return failed;
}
