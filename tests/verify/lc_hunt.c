/*
 * lc_hunt.c - keep generating and checking concurrent histories on one
 * backend until a time limit, to hunt for rare linearizability failures.
 * Not a ctest test: a tool, run by hand, typically several copies at once
 * so that threads outnumber cores (docs/testing.md, "Hunting").
 *
 *   lc_hunt BACKEND SECONDS [FAIL_PERMILLE [CLEAR_WEIGHT [SEED0]]]
 *
 * Each history uses a fresh map and a seed derived from SEED0 (default:
 * the time and the pid) and the history's number; a failure prints the
 * checker's report and the seed.  FAIL_PERMILLE makes that share of the
 * map's allocations fail (as test_faults does).  Exits 1 if any history
 * failed.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "lincheck.h"
#include "testutil.h"

int
main(int argc, char **argv)
{
	static const size_t nkeys[3] = {64, 128, 256};
	const char *b;
	double secs, t0 = tu_now_s();
	unsigned fail_pm, clear_w;
	uint64_t seed0;
	struct lc_history h;
	struct lc_stats st = {0};
	long i;

	if (argc < 3 || !cmap_backend_available(argv[1])) {
		const char *name;

		fprintf(stderr,
		    "usage: %s BACKEND SECONDS [FAIL_PERMILLE "
		    "[CLEAR_WEIGHT [SEED0]]]\nbackends:",
		    argv[0]);
		for (size_t k = 0; (name = cmap_backend_at(k)) != NULL; k++)
			fprintf(stderr, " %s", name);
		fprintf(stderr, "\n");
		return 2;
	}
	b = argv[1];
	secs = atof(argv[2]);
	fail_pm = argc > 3 ? (unsigned)atoi(argv[3]) : 0;
	clear_w = argc > 4 ? (unsigned)atoi(argv[4]) : 2;
	seed0 = argc > 5 ? strtoull(argv[5], NULL, 0)
	                 : ((uint64_t)time(NULL) << 20) ^ (uint64_t)getpid();
	lc_history_init(&h);
	for (i = 0; tu_now_s() - t0 < secs; i++) {
		struct tu_alloc al;
		struct lc_workload w;
		cmap_t *m =
		    lc_map_new(b, i % 2 ? 1 : 4, &al, seed0 ^ (uint64_t)i);

		if (m == NULL)
			return 2;
		atomic_store(&al.fail_permille, fail_pm);
		lc_workload_default(&w);
		w.nthreads = lc_threads_for(b, 4);
		w.ops_per_thread = 2000;
		w.nkeys = nkeys[i % 3];
		w.mix[LC_M_CLEAR] = clear_w;
		w.seed = seed0 + (uint64_t)i * 7919u;
		lc_run(m, &w, &h);
		atomic_store(&al.fail_permille, 0u);
		if (!lc_check(&h, lc_len_slack(b), stdout, &st))
			printf("hunt: FAIL backend %s history %ld seed %" PRIu64
			       " fail_permille %u\n",
			    argv[1], i, w.seed, fail_pm);
		cmap_destroy(m);
		if (atomic_load(&al.live_bytes) != 0) {
			printf("hunt: FAIL %ld bytes leaked (seed %" PRIu64
			       ")\n",
			    (long)atomic_load(&al.live_bytes), w.seed);
			st.failures++;
		}
		fflush(stdout);
	}
	printf("hunt: %s histories=%lu ops=%lu clears=%lu enomem=%lu "
	       "failures=%lu %.0fs\n",
	    argv[1], st.histories, st.ops, st.clears, st.enomem, st.failures,
	    tu_now_s() - t0);
	lc_history_fini(&h);
	return st.failures != 0;
}
