/*
 * test_lincheck.c - record concurrent histories on every backend and check
 * them for per-key linearizability (see lincheck.h); then prove that the
 * checker catches planted bugs.
 *
 * Every backend of the build, chosen by its capabilities (cmap.h,
 * GUARANTEES).  Per thread-safe linearizable backend: H histories (H =
 * 2000 x CMAP_VERIFY_SCALE; the ThreadSanitizer build defaults to scale
 * 0.15, 300 histories, and there gives plain at most 25), each of 4 threads x
 * 2,000 operations over 8 to 64 keys with a small value set, a quarter of them
 * on a map created with the smallest capacity so that they span resizes (clear
 * shrinks the table back, so they span several).  A disk backend gets an eighth
 * of the histories; a remote one (CMAP_CAP_REMOTE) a fortieth, each history's
 * threads split between this process and a forked child that opens the
 * same map (lincheck.h, twin).  A backend that is not thread-safe (plain)
 * gets single-threaded histories of 8,000 operations.  cmap_len is checked
 * against exact bounds where the backend has CMAP_CAP_LEN_EXACT, with the
 * documented slack otherwise.
 *
 * Histories include the batch calls (lincheck.h): each key of a batch is
 * its own operation spanning the batch call.
 *
 * Planted bugs: a test-only backend wrapper forwards to a real map of the
 * first backend that is thread-safe, linearizable and exact in len, but
 * (1) does CAS as load, yield, store; (2) now and then answers a load
 * with a value the thread read earlier; (3) does add as load, yield,
 * store; (4) processes the keys of a batch in reverse order; (5) does a
 * store batch as a load batch, yield, store batch, and reports INSERTED
 * for the keys that the load batch did not find.  Each must be flagged; a
 * wrapper with no bug must pass.
 *
 * test_lincheck BACKEND: that backend's histories alone, no planted bugs
 * (test_lincheck_cluster: redis over a Redis Cluster); exits 77 when the
 * backend cannot run here (a remote one with no server given).
 *
 * Plain C program: exits non-zero on failure; prints one summary line.
 */
#include <inttypes.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "internal.h"
#include "lincheck.h"
#include "testutil.h"

#if defined(CMAP_TSAN)
#define LC_DEFAULT_SCALE 0.15
#else
#define LC_DEFAULT_SCALE 1.0
#endif

/* ------------------------------------------------ the broken backend */

enum bug {
	BUG_NONE,
	BUG_CAS,
	BUG_STALE,
	BUG_ADD,
	BUG_BATCH_ORDER,
	BUG_BATCH_SPLIT,
	BUG_COUNT
};
static const char *const bug_names[BUG_COUNT] = {
    "none (control)",
    "cas-as-load-then-store",
    "stale-read",
    "add-as-load-then-store",
    "batch-in-reverse-order",
    "store-batch-as-load-then-store",
};
static const char *const bug_short[BUG_COUNT] = {
    "none", "cas", "stale", "add", "batch-order", "batch-split"};

static const struct cmap__backend *real_be;
static struct cmap__backend broken_be;
static atomic_int bug_mode;

struct stale_slot {
	uint64_t key, value;
	bool valid;
};
static _Thread_local struct stale_slot stale_cache[64];
static _Thread_local uint64_t stale_rng = 0x9e3779b97f4a7c15u;

/* BUG_STALE: now and then answer a successful load of a key with a value
 * this thread read for it earlier. */
static void
stale_filter(uint64_t key, uint64_t *value)
{
	struct stale_slot *c = &stale_cache[(key * 0x9e3779b97f4a7c15u) >> 58];
	tu_rng_t r = {stale_rng};

	stale_rng = tu_rng_next(&r);
	if (c->valid && c->key == key && c->value != *value &&
	    stale_rng % 8 == 0) {
		*value = c->value; /* an older value of this key */
	} else {
		c->key = key;
		c->value = *value;
		c->valid = true;
	}
}

static cmap_status_t
broken_load(cmap_t *map, uint64_t key, uint64_t *value)
{
	int mode = atomic_load_explicit(&bug_mode, memory_order_relaxed);
	cmap_status_t st = real_be->load(map, key, value);

	if (mode == BUG_STALE && st == CMAP_OK)
		stale_filter(key, value);
	return st;
}

static cmap_status_t
broken_exec(cmap_t *map, struct cmap_req *req)
{
	int mode = atomic_load_explicit(&bug_mode, memory_order_relaxed);
	uint64_t old = 0;
	cmap_status_t st;

	if (mode == BUG_CAS && req->kind == CMAP_REQ_CAS) {
		st = real_be->load(map, req->key, &old);
		if (st != CMAP_OK)
			return st;
		if (old != req->a)
			return CMAP_MISMATCH;
		sched_yield();
		/* What a correct CAS returns when it swapped: the race
		 * alone must give the bug away, not the result code. */
		st = real_be->store(map, req->key, req->b);
		return cmap_is_error(st) ? st : CMAP_OK;
	}
	if (mode == BUG_ADD && req->kind == CMAP_REQ_ADD) {
		st = real_be->load(map, req->key, &old);
		if (st != CMAP_OK)
			old = 0;
		sched_yield();
		if (cmap_is_error(real_be->store(map, req->key, old + req->a)))
			return CMAP_ENOMEM;
		req->out = old + req->a;
		return st == CMAP_OK ? CMAP_OK : CMAP_INSERTED;
	}
	st = real_be->exec(map, req);
	if (mode == BUG_STALE && req->kind == CMAP_REQ_LOAD && st == CMAP_OK)
		stale_filter(req->key, &req->out);
	return st;
}

/* A batch on the real backend: its batch path, or key by key where it
 * has none (as the front end does). */
static cmap_status_t
real_batch(cmap_t *map, const struct cmap__batch *b, size_t n)
{
	if (real_be->version >= CMAP__BACKEND_V2 && real_be->batch != NULL)
		return real_be->batch(map, b, n);
	for (size_t i = 0; i < n; i++) {
		struct cmap_req req = {
		    .kind = CMAP_REQ_DELETE, .key = b->keys[i]};

		if (b->kind == CMAP__BATCH_LOAD)
			b->status[i] =
			    real_be->load(map, b->keys[i], &b->out[i]);
		else if (b->kind == CMAP__BATCH_STORE)
			b->status[i] =
			    real_be->store(map, b->keys[i], b->in[i]);
		else
			b->status[i] = real_be->exec(map, &req);
	}
	for (size_t i = 0; i < n; i++)
		if (cmap_is_error(b->status[i]))
			return b->status[i];
	return CMAP_OK;
}

static cmap_status_t
broken_batch(cmap_t *map, const struct cmap__batch *b, size_t n)
{
	int mode = atomic_load_explicit(&bug_mode, memory_order_relaxed);
	uint64_t keys[LC_MAX_BATCH], in[LC_MAX_BATCH], out[LC_MAX_BATCH];
	cmap_status_t st[LC_MAX_BATCH], st2[LC_MAX_BATCH];
	struct cmap__batch r = *b;
	cmap_status_t ret;

	if (n > LC_MAX_BATCH ||
	    (mode != BUG_BATCH_ORDER &&
	        (mode != BUG_BATCH_SPLIT || b->kind != CMAP__BATCH_STORE)))
		return real_batch(map, b, n);
	if (mode == BUG_BATCH_ORDER) {
		/* The right statuses and values, in the wrong order. */
		for (size_t i = 0; i < n; i++) {
			keys[i] = b->keys[n - 1 - i];
			in[i] = b->in != NULL ? b->in[n - 1 - i] : 0;
			out[i] = b->out != NULL ? b->out[n - 1 - i] : 0;
		}
		r.keys = keys;
		r.in = b->in != NULL ? in : NULL;
		r.out = b->out != NULL ? out : NULL;
		r.status = st;
		ret = real_batch(map, &r, n);
		for (size_t i = 0; i < n; i++) {
			b->status[i] = st[n - 1 - i];
			if (b->out != NULL)
				b->out[i] = out[n - 1 - i];
		}
		return ret;
	}
	/* BUG_BATCH_SPLIT: check, yield, act. */
	r.kind = CMAP__BATCH_LOAD;
	r.in = NULL;
	r.out = out;
	r.status = st;
	(void)real_batch(map, &r, n);
	sched_yield();
	r = *b;
	r.status = st2;
	ret = real_batch(map, &r, n);
	for (size_t i = 0; i < n; i++)
		b->status[i] = cmap_is_error(st2[i]) ? st2[i]
		    : st[i] == CMAP_OK               ? CMAP_OK
		                                     : CMAP_INSERTED;
	return ret;
}

/* The backend the planted bugs wrap: the first one that promises what
 * the control run is checked against (linearizable, exact len). */
static const char *
wrapped_backend(void)
{
	const char *bs[TU_MAX_BACKENDS];
	size_t n =
	    tu_backends_with(CMAP_CAP_THREAD_SAFE | CMAP_CAP_LINEARIZABLE |
	            CMAP_CAP_LEN_EXACT | CMAP_CAP_UPDATE_ONCE,
	        bs);

	return n > 0 ? bs[0] : NULL;
}

static cmap_t *
make_broken(enum bug mode, struct lc_workload *w)
{
	cmap_config_t cfg;
	cmap_t *m = NULL;

	tu_config_init(&cfg, wrapped_backend());
	if (cmap_create(&cfg, &m) != CMAP_OK) {
		fprintf(stderr, "cannot create the wrapped map: %s\n",
		    cmap_last_error());
		exit(1);
	}
	real_be = m->be;
	broken_be = *real_be;
	broken_be.load = broken_load;
	broken_be.exec = broken_exec;
	broken_be.version = CMAP__BACKEND_V2;
	broken_be.batch = broken_batch;
	broken_be.name = "broken";
	m->be = &broken_be;
	atomic_store(&bug_mode, mode);
	memset(stale_cache, 0, sizeof stale_cache);

	lc_workload_default(w);
	memset(w->mix, 0, sizeof w->mix);
	switch (mode) {
	case BUG_CAS:
		w->nkeys = 2;
		w->nvalues = 2;
		w->mix[LC_M_CAS] = 600;
		w->mix[LC_M_LOAD] = 200;
		w->mix[LC_M_STORE] = 100;
		w->mix[LC_M_DELETE] = 50;
		w->mix[LC_M_LOS] = 50;
		break;
	case BUG_ADD:
		w->nkeys = 2;
		w->mix[LC_M_ADD] = 600;
		w->mix[LC_M_LOAD] = 250;
		w->mix[LC_M_STORE] = 50;
		w->mix[LC_M_DELETE] = 50;
		break;
	case BUG_BATCH_ORDER:
		/* Batches of a few keys out of two, so that they repeat
		 * keys: only the order within a batch gives the bug away. */
		w->nkeys = 2;
		w->batch_max = 4;
		w->mix[LC_M_STORE_BATCH] = 400;
		w->mix[LC_M_DELETE_BATCH] = 200;
		w->mix[LC_M_LOAD_BATCH] = 200;
		w->mix[LC_M_LOAD] = 200;
		break;
	case BUG_BATCH_SPLIT:
		/* Batches of distinct keys are not enough here: one key
		 * each, so that only the race gives the bug away. */
		w->nkeys = 2;
		w->batch_max = 1;
		w->mix[LC_M_STORE_BATCH] = 500;
		w->mix[LC_M_DELETE] = 250;
		w->mix[LC_M_LOAD] = 250;
		break;
	default: /* stale reads and the control: the full mix */
		lc_workload_default(w);
		w->nkeys = 4;
		break;
	}
	return m;
}

static void
destroy_broken(cmap_t *m)
{
	m->be = real_be;
	cmap_destroy(m);
}

/* ------------------------------------------------------------- main */

int
main(int argc, char **argv)
{
	/* test_lincheck [BACKEND]: that backend's histories alone, with no
	 * planted bugs (which the full run checks); test_lincheck_cluster
	 * runs it on redis over a Redis Cluster. */
	const char *only = argc > 1 ? argv[1] : NULL;
	double scale = lc_scale(LC_DEFAULT_SCALE);
	long H = (long)(2000 * scale + 0.5);
	const char *bs[TU_MAX_BACKENDS];
	size_t nb = tu_backends(bs);
	struct lc_history h;
	struct lc_stats total = {0};
	int failed = 0;
	char summary[1024];
	char bugsum[256] = " none (one backend only)";
	size_t sl = 0;
	double t0 = tu_now_s();

	if (H < 1)
		H = 1;
	lc_history_init(&h);
	printf("lincheck: %ld histories per backend (CMAP_VERIFY_SCALE=%g)\n",
	    H, scale);
	if (only != NULL) {
		if (!tu_backend_runnable(only)) {
			printf("lincheck: backend %s cannot run here\n", only);
			return 77;
		}
		bs[0] = only;
		nb = 1;
	}
	for (size_t bi = 0; bi < nb; bi++) {
		const char *b = bs[bi];
		int nthreads = lc_threads_for(b, 4);
		bool ts = nthreads > 1;
		bool slack = lc_len_slack(b);
		struct lc_stats st = {0};
		unsigned long resized = 0, printed = 0;
		double tb = tu_now_s();
		long Hb = H;

#if defined(CMAP_TSAN)
		/* A backend checked with single-threaded histories gives
		 * ThreadSanitizer nothing to find: spend its time on the
		 * others. */
		if (!ts && Hb > LC_TSAN_SERIAL_HISTORIES)
			Hb = LC_TSAN_SERIAL_HISTORIES;
#endif
		/* A disk backend commits every write (tens of microseconds
		 * each, one at a time): an eighth of the histories. */
		if (tu_has(b, CMAP_CAP_PERSISTENT))
			Hb = (Hb + 7) / 8;
		/* A remote backend pays a round trip per operation: a
		 * fortieth of the histories (50 at scale 1, about 60 s of
		 * CI on 1/20), each from two processes (the map's promise
		 * is per key across every client). */
		bool procs = tu_has(b, CMAP_CAP_REMOTE);
		if (procs)
			Hb = (Hb + 39) / 40;
		for (long i = 0; i < Hb; i++) {
			static const size_t nkeys[4] = {8, 16, 32, 64};
			static const uint32_t shards[3] = {1, 4, 32};
			struct lc_workload w;
			cmap_config_t cfg;
			cmap_stats_t sts;
			cmap_t *m = NULL;

			tu_config_init(&cfg, b);
			cfg.capacity = i % 4 == 0 ? 1 : i % 4 == 1 ? 0 : 64;
			cfg.shards = shards[i % 3];
			if (cmap_create(&cfg, &m) != CMAP_OK) {
				fprintf(stderr, "cmap_create(%s) failed: %s\n",
				    b, cmap_last_error());
				return 1;
			}
			lc_workload_default(&w);
			w.nthreads = nthreads;
			w.ops_per_thread = ts ? 2000 : 8000;
			w.nkeys = nkeys[(i / 4) % 4];
			w.nvalues = 3 + (unsigned)(i % 3);
			w.seed = (uint64_t)i + 1 + (uint64_t)bi * 1000003u;
			w.twin = procs ? &cfg : NULL;
			lc_run(m, &w, &h);
			if (cmap_stats(m, &sts) == CMAP_OK &&
			    sts.grows + sts.shrinks > 0)
				resized++;
			if (!lc_check(
			        &h, slack, printed < 3 ? stdout : NULL, &st)) {
				printf("lincheck: FAIL backend %s history %ld "
				       "(seed %" PRIu64 ", %zu keys, capacity "
				       "%zu, shards %u)\n",
				    b, i, w.seed, w.nkeys, cfg.capacity,
				    cfg.shards);
				printed++;
				failed = 1;
			}
			cmap_destroy(m);
		}
		printf(
		    "lincheck: %-8s histories=%lu (with resizes %lu) "
		    "per-key=%lu ops=%lu (overlapping %lu) states=%lu len=%lu "
		    "range=%lu clear=%lu batches=%lu failures=%lu  %.1fs\n",
		    b, st.histories, resized, st.subhistories, st.ops,
		    st.overlapping, st.states, st.lens, st.ranges, st.clears,
		    st.batches, st.failures, tu_now_s() - tb);
		if (st.enomem != 0) {
			/* The allocator here never fails (malloc). */
			printf("lincheck: FAIL backend %s returned CMAP_ENOMEM "
			       "%lu times with no allocation failing\n",
			    b, st.enomem);
			failed = 1;
		}
		total.histories += st.histories;
		total.subhistories += st.subhistories;
		total.ops += st.ops;
		total.overlapping += st.overlapping;
		total.states += st.states;
		total.batches += st.batches;
		total.failures += st.failures;
		sl += (size_t)snprintf(summary + sl, sizeof summary - sl,
		    "%s%s=%lu", bi ? " " : "", b, st.histories);
	}

	/* Planted bugs: each must be caught; the control must pass. */
	if (only == NULL) {
		const long N = 10;
		size_t bl = 0;

		bugsum[0] = '\0';
		if (wrapped_backend() == NULL) {
			printf(
			    "lincheck: FAIL: no backend is thread-safe, "
			    "linearizable and exact in len: the planted bugs "
			    "have nothing to wrap\n");
			failed = 1;
		} else {
			printf("lincheck: planted bugs wrap backend %s\n",
			    wrapped_backend());
		}
		for (int bug = 0; bug < BUG_COUNT && wrapped_backend(); bug++) {
			long caught = 0;

			for (long i = 0; i < N; i++) {
				struct lc_workload w;
				struct lc_stats st = {0};
				cmap_t *m = make_broken((enum bug)bug, &w);

				w.seed = 777 + (uint64_t)i;
				lc_run(m, &w, &h);
				if (!lc_check(&h, false,
				        caught == 0 && bug != BUG_NONE ? stdout
				                                       : NULL,
				        &st))
					caught++;
				destroy_broken(m);
			}
			printf("lincheck: planted bug %-24s flagged in %ld/%ld "
			       "histories\n",
			    bug_names[bug], caught, N);
			if (bug == BUG_NONE ? caught != 0 : caught == 0) {
				printf("lincheck: FAIL: %s\n",
				    bug == BUG_NONE
				        ? "the bug-free wrapper was flagged"
				        : "a planted bug went undetected");
				failed = 1;
			}
			if (bug != BUG_NONE)
				bl += (size_t)snprintf(bugsum + bl,
				    sizeof bugsum - bl, " %s=%ld/%ld",
				    bug_short[bug], caught, N);
		}
	}
	printf("SUMMARY lincheck: histories=%lu (%s) per-key "
	       "sub-histories=%lu ops=%lu (overlapping %lu) "
	       "search-states=%lu batch-calls=%lu "
	       "failures=%lu; "
	       "planted bugs flagged:%s; %.1fs\n",
	    total.histories, summary, total.subhistories, total.ops,
	    total.overlapping, total.states, total.batches, total.failures,
	    bugsum, tu_now_s() - t0);
	lc_history_fini(&h);
	return failed;
}
