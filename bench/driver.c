/*
 * driver.c - the run: the plan of cells, the time budget, repetitions and
 * warm-up, and the driver loop.
 *
 * THE PLAN
 *
 * For each workload (mix x distribution x key count) the streams of every
 * thread count are generated once and shared by all targets.  Then, for
 * each target: when the workload starts from a prefilled map (every mix
 * but growth, unless --no-prefill), one map is created and prefilled, and
 * the thread counts run on it one after the other (churn restores the
 * prefilled key set after each run; read-mostly and balanced drift toward
 * their steady state, which is what they measure).  Growth and
 * --no-prefill runs get a fresh empty map per cell.  A backend without
 * CMAP_CAP_THREAD_SAFE (plain) runs at one thread only, always; the first
 * one in registry order is the baseline of xbase (ratio_to_plain).  The
 * floor peer (floor.c) runs at one thread too and is the yardstick of
 * xfloor (ratio_to_floor).
 *
 * REPETITIONS AND WARM-UP
 *
 * --repetitions N (default 3) measures every cell N times, interleaved:
 * repetition 1 of every target, then repetition 2, and so on, each
 * repetition starting one target further down the list, so that a slow
 * spell of the machine hits the targets alike and no target always runs
 * right after the same neighbour.  Each repetition of a target gets a
 * fresh map and its own prefill (one map lives at a time, which the
 * memory figures need).  The streams are generated once per workload and
 * shared by every repetition and target.  Before each measured cell a
 * warm-up runs the same streams on the same map and threads, sampling
 * off, its figures dropped: WARMUP_FRAC of the cell's time (at least
 * WARMUP_MIN_S) or of its --ops.  It brings the map's lines back into the
 * caches and TLB after another target ran, and the cores out of idle.
 * Mixes that start from an empty map (growth, grow-read) get none: it
 * would fill the map they measure.  stats.c summarises the repetitions.
 *
 * THE TIME BUDGET
 *
 * With neither --seconds nor --ops, each cell's run time comes from the
 * budget (--budget, default 80 s for the whole run): before every cell,
 *   per_cell = (budget - elapsed - expected overhead) / cells left,
 * where the expected overhead is the prefills and stream generations
 * still to come (estimated from the ones done so far, per key and per
 * operation) plus a measured per-cell overhead (thread start, restoring
 * churn, memory figures); a cell's warm-up comes out of its share.  So a
 * slow prefill early shortens later cells instead of overrunning.
 *
 * THE ADVISOR
 *
 * With --advise, after repetition 1 of a libcmap backend on a workload,
 * each thread count runs once more, its figures dropped (its time comes
 * out of the budget, as a prefill's does): on a fresh map of the backend
 * created with metrics, prefilled by a thread that then exits (so its metrics
 * record goes to a worker and the map's `threads` is the workers'), for
 * ADVISE_S.  The profile of the run alone (cmap_profile_since the one after the
 * prefill) goes into the cell's result; advise.c compares the advice it gives
 * with the measured best.  The timed cells never have metrics on.
 */
#include "bench.h"

#include <malloc.h>
#include <pthread.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ------------------------------------------------------------------ */
/* Memory */

static int64_t
rss_bytes(void)
{
	FILE *f = fopen("/proc/self/statm", "r");
	unsigned long size = 0, resident = 0;

	if (f == NULL)
		return -1;
	if (fscanf(f, "%lu %lu", &size, &resident) != 2)
		resident = 0;
	fclose(f);
	return (int64_t)resident * (int64_t)sysconf(_SC_PAGESIZE);
}

/* Bytes malloc has handed out and not taken back, all arenas, including
 * its own chunk headers and the blocks it mmaps. */
static int64_t
heap_bytes(void)
{
	struct mallinfo2 mi = mallinfo2();

	return (int64_t)(mi.uordblks + mi.hblkhd);
}

/* ------------------------------------------------------------------ */
/* Driver */

/* The warm-up (REPETITIONS AND WARM-UP at the top). */
#define WARMUP_FRAC 0.2
#define WARMUP_MIN_S 0.02

struct plan {
	size_t cells_left;
	uint64_t prefill_keys_left; /* keys of the prefills still to do */
	uint64_t gen_ops_left;      /* stream operations still to generate */
	double t0;
	/* estimates, refined as we go */
	double s_per_prefill_key;
	double s_per_gen_op;
	double cell_overhead_s;
	unsigned cells_done;
	/* time spent so far in runs, prefills and stream generation; the
	 * rest of the elapsed time (destroying maps, starting threads,
	 * restoring churn rounds, memory figures) is charged to the cells */
	double run_s, prefill_s, gen_s;
};

static struct result *results;
static size_t nresults, cap_results;
static size_t total_cells;

static struct result *
new_result(void)
{
	if (nresults == cap_results) {
		size_t cap = cap_results ? cap_results * 2 : 64;
		struct result *r = realloc(results, cap * sizeof *r);

		if (r == NULL) {
			fprintf(stderr, "cmap-bench: out of memory\n");
			exit(3);
		}
		results = r;
		cap_results = cap;
	}
	memset(&results[nresults], 0, sizeof results[0]);
	return &results[nresults++];
}

/* Growth inserts distinct keys: the distribution does not apply, so with
 * both distributions selected it runs once (as uniform). */
static bool
skip_workload(const struct options *o, enum bench_mix mix, enum bench_dist d)
{
	if (!bench_mix_from_empty(mix) || d == DIST_UNIFORM)
		return false;
	for (size_t i = 0; i < o->ndists; i++)
		if (o->dists[i] == DIST_UNIFORM)
			return true;
	return false;
}

static size_t
stream_total_ops(const struct workload *w, unsigned threads)
{
	uint64_t n;

	(void)threads;
	if (bench_mix_from_empty(w->mix))
		return (size_t)w->keys;
	/* Long enough to spread over the key universe, bounded in memory
	 * (9 bytes per op): a cycle of 2 x keys operations. */
	n = 2 * w->keys;
	if (n < 65536)
		n = 65536;
	if (n > (UINT64_C(1) << 22))
		n = UINT64_C(1) << 22;
	return (size_t)n;
}

static double
cell_seconds(const struct options *o, const struct plan *p)
{
	double left, overhead, s;

	if (o->seconds > 0 || o->ops > 0)
		return o->seconds;
	left = o->budget - (bench_now_s() - p->t0);
	overhead = (double)p->prefill_keys_left * p->s_per_prefill_key +
	    (double)p->gen_ops_left * p->s_per_gen_op +
	    (double)p->cells_left * p->cell_overhead_s;
	s = (left - overhead) / (double)(p->cells_left ? p->cells_left : 1);
	/* The warm-up comes out of the cell's share. */
	s /= 1 + WARMUP_FRAC;
	return s < 0.05 ? 0.05 : s;
}

static void
fill_lat(struct lat *l, const struct bench_hist *h)
{
	if (h->count == 0) {
		l->p50 = l->p99 = l->p999 = l->max = -1;
		return;
	}
	l->p50 = bench_ticks_to_ns((double)hist_quantile(h, 0.50));
	l->p99 = bench_ticks_to_ns((double)hist_quantile(h, 0.99));
	l->p999 = bench_ticks_to_ns((double)hist_quantile(h, 0.999));
	l->max = bench_ticks_to_ns((double)h->max);
}

static void progress(const struct options *o, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
progress(const struct options *o, const char *fmt, ...)
{
	va_list ap;

	if (o->quiet)
		return;
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fflush(stderr);
}

static struct bench_hist merged; /* big: keep off the stack */

/* Create a map for t, with the process's figures before it exists. */
struct mem0 {
	int64_t rss, heap, bytes;
};

static void *
make_map(const struct target_ops *t, const struct workload *w,
    const struct options *o, struct mem0 *m0)
{
	struct target_config cfg = {
	    w->keys, o->presize, w->seed, o->cmap_flags, o->opts, o->nopts};
	void *map;

	malloc_trim(0);
	m0->rss = rss_bytes();
	m0->heap = heap_bytes();
	m0->bytes = counting_live_bytes();
	map = t->create(t, &cfg);
	if (map == NULL) {
		fprintf(
		    stderr, "cmap-bench: cannot create a %s map\n", t->name);
		exit(3);
	}
	t->thread_enter(map);
	return map;
}

static void
drop_map(const struct target_ops *t, void *map)
{
	t->destroy(map);
	t->thread_exit(map);
	malloc_trim(0);
}

static void
one_run(const struct workload *w, const struct target_ops *t, void *map,
    const struct stream_set *set, double secs, uint64_t ops, bool sample,
    struct run_result *rr)
{
	if (!workload_run(w, t, map, set, secs, ops, sample, rr)) {
		fprintf(stderr, "cmap-bench: run failed\n");
		exit(3);
	}
}

static void
merge_run(struct run_result *into, const struct run_result *from)
{
	into->ops += from->ops;
	into->seconds += from->seconds;
	into->cpu_seconds += from->cpu_seconds;
	into->samples += from->samples;
	for (unsigned k = 0; k < OP_COUNT_; k++) {
		into->op_count[k] += from->op_count[k];
		hist_merge(&into->hist[k], &from->hist[k]);
	}
}

/* The sampling check's ABBA: off, on, on, off, a quarter of the cell
 * each, so a drift of the machine's speed cancels out of the comparison.
 * rr gets the sampled halves; the unsampled throughput in out[0], ops per
 * CPU-us with sampling on and off in out[1] and out[2]. */
static void
run_abba(const struct options *o, const struct workload *w,
    const struct target_ops *t, void *map, const struct stream_set *set,
    double secs, struct run_result *rr, double out[3])
{
	struct run_result *q = malloc(sizeof *q);
	double off_ops = 0, off_s = 0, off_cpu = 0;

	if (q == NULL) {
		fprintf(stderr, "cmap-bench: out of memory\n");
		exit(3);
	}
	for (int k = 0; k < 4; k++) {
		bool on = k == 1 || k == 2;

		one_run(w, t, map, set, secs / 4,
		    o->ops > 0 && o->ops < 4 ? 1 : o->ops / 4, on,
		    k == 1 ? rr : q);
		if (!on) {
			off_ops += (double)q->ops;
			off_s += q->seconds;
			off_cpu += q->cpu_seconds;
		} else if (k == 2) {
			merge_run(rr, q);
		}
	}
	out[0] = off_s > 0 ? off_ops / off_s / 1e6 : -1;
	out[2] = off_cpu > 0 ? off_ops / off_cpu / 1e6 : -1;
	out[1] =
	    rr->cpu_seconds > 0 ? (double)rr->ops / rr->cpu_seconds / 1e6 : -1;
	free(q);
}

/* The warm-up before a measured cell (REPETITIONS AND WARM-UP); returns
 * the seconds it took. */
static double
warm_up(const struct options *o, const struct workload *w,
    const struct target_ops *t, void *map, const struct stream_set *set,
    double secs, struct run_result *scratch)
{
	double t0 = bench_now_s();
	uint64_t ops = (uint64_t)((double)o->ops * WARMUP_FRAC);

	if (bench_mix_from_empty(w->mix))
		return 0;
	if (o->ops > 0)
		one_run(w, t, map, set, 0, ops > 0 ? ops : 1, false, scratch);
	else
		one_run(w, t, map, set, fmax(secs * WARMUP_FRAC, WARMUP_MIN_S),
		    0, false, scratch);
	return bench_now_s() - t0;
}

/* Latency and memory figures of a finished run. */
static void
fill_figures(struct result *r, const struct run_result *rr,
    const struct target_ops *t, void *map, const struct mem0 *m0)
{
	int64_t bytes, rss, heap;

	hist_reset(&merged);
	for (unsigned k = 0; k < OP_COUNT_; k++) {
		fill_lat(&r->per_op[k], &rr->hist[k]);
		r->per_op[k].ops = rr->op_count[k];
		hist_merge(&merged, &rr->hist[k]);
	}
	fill_lat(&r->all, &merged);
	r->all.ops = rr->ops;
	r->entries = t->len(map);
	bytes = t->bytes(map);
	rss = rss_bytes() - m0->rss;
	heap = heap_bytes() - m0->heap;
	r->rss_bytes_per_entry =
	    r->entries > 0 && rss > 0 ? (double)rss / (double)r->entries : -1;
	r->heap_bytes_per_entry =
	    r->entries > 0 && heap > 0 ? (double)heap / (double)r->entries : -1;
	if (bytes >= 0) {
		r->bytes_per_entry = r->entries > 0
		    ? (double)(bytes - m0->bytes) / (double)r->entries
		    : -1;
		r->mem_source = "allocator";
	} else if (r->rss_bytes_per_entry >= r->heap_bytes_per_entry) {
		/* Both can only under-count the map (see docs/bench.md):
		 * take the larger. */
		r->bytes_per_entry = r->rss_bytes_per_entry;
		r->mem_source = "rss";
	} else {
		r->bytes_per_entry = r->heap_bytes_per_entry;
		r->mem_source = "heap";
	}
}

/* What the plan learns from a finished cell, and its progress line. */
static void
cell_done(const struct options *o, struct plan *p, const struct result *r,
    double warm_s)
{
	double other;

	p->cells_left--;
	p->cells_done++;
	p->run_s += r->seconds * (o->check_sampling ? 2 : 1) + warm_s;
	other = bench_now_s() - p->t0 - p->run_s - p->prefill_s - p->gen_s;
	p->cell_overhead_s = other > 0 ? other / p->cells_done : 0;
	progress(o,
	    "[%3u/%zu] %5.1f s  rep %u  %-11s %-7s %8llu keys  %-10s %2u thr  "
	    "%5.2f s  %8.3f Mops/s\n",
	    p->cells_done, total_cells, bench_now_s() - p->t0, r->rep + 1,
	    bench_mix_name(r->w.mix), bench_dist_name(r->w.dist),
	    (unsigned long long)r->w.keys, r->target->name, r->threads,
	    r->seconds, r->mops);
}

static void
run_cell(const struct options *o, struct plan *p, const struct workload *w,
    const struct target_ops *t, void *map, const struct stream_set *set,
    const struct mem0 *m0, unsigned rep)
{
	struct result *r;
	struct run_result *rr = malloc(sizeof *rr);
	double secs = cell_seconds(o, p), abba[3] = {-1, -1, -1}, warm_s;

	if (rr == NULL) {
		fprintf(stderr, "cmap-bench: out of memory\n");
		exit(3);
	}
	warm_s = warm_up(o, w, t, map, set, secs, rr);
	if (o->check_sampling && !bench_mix_from_empty(w->mix))
		run_abba(o, w, t, map, set, secs, rr, abba);
	else
		one_run(w, t, map, set, secs, o->ops, w->sample_every > 0, rr);
	r = new_result();
	r->target = t;
	r->options = opts_of(o, t);
	r->w = *w;
	r->prefill = o->prefill && !bench_mix_from_empty(w->mix);
	r->presize = o->presize;
	r->threads = set->threads;
	r->rep = rep;
	r->ops = rr->ops;
	r->seconds = rr->seconds;
	r->mops = rr->seconds > 0 ? (double)rr->ops / rr->seconds / 1e6 : 0;
	r->mops_unsampled = abba[0];
	r->ops_per_cpu_us_on = abba[1];
	r->ops_per_cpu_us_off = abba[2];
	r->samples = rr->samples;
	fill_figures(r, rr, t, map, m0);
	r->score = -1;
	r->ratio_to_plain = -1;
	r->ratio_to_floor = -1;
	free(rr);
	cell_done(o, p, r, warm_s);
}

/* The streams of a workload: one set per thread count of the list, plus
 * one of 1 thread for the targets that are not thread-safe when the list
 * has no 1 (its index in *one; SIZE_MAX when no target needs it).
 * Returns how many sets. */
static size_t
gen_streams(const struct options *o, struct plan *p, const struct workload *w,
    struct stream_set *sets, unsigned *tcounts, size_t *one)
{
	size_t nt = 0, bytes = 0;
	double g0 = bench_now_s();
	uint64_t gen_ops = 0;

	*one = SIZE_MAX;
	for (size_t i = 0; i < o->nthreads; i++) {
		if (o->threads[i] == 1)
			*one = nt;
		tcounts[nt++] = o->threads[i];
	}
	for (size_t i = 0; i < o->ntargets && *one == SIZE_MAX; i++)
		if (o->targets[i]->single_thread) {
			*one = nt;
			tcounts[nt++] = 1;
		}
	for (size_t i = 0; i < nt; i++) {
		size_t total = stream_total_ops(w, tcounts[i]);

		if (!streams_generate(&sets[i], w, tcounts[i], total)) {
			fprintf(stderr,
			    "cmap-bench: out of memory for the "
			    "operation streams\n");
			exit(3);
		}
		gen_ops += total;
		bytes += streams_bytes(&sets[i]);
	}
	p->gen_s += bench_now_s() - g0;
	progress(o,
	    "          %5.1f s  streams of %s: %zu thread counts, %.1f MB, "
	    "%.2f s\n",
	    bench_now_s() - p->t0, bench_mix_name(w->mix), nt,
	    (double)bytes / 1e6, bench_now_s() - g0);
	if (gen_ops > 0) {
		double sp = (bench_now_s() - g0) / (double)gen_ops;

		p->s_per_gen_op =
		    p->s_per_gen_op > 0 ? (p->s_per_gen_op + sp) / 2 : sp;
	}
	p->gen_ops_left -=
	    gen_ops < p->gen_ops_left ? gen_ops : p->gen_ops_left;
	return nt;
}

/* A fresh map of t holding the workload's prefilled keys. */
static void *
prefilled_map(const struct options *o, struct plan *p, const struct workload *w,
    const struct target_ops *t, struct mem0 *m0)
{
	double f0 = bench_now_s(), s;
	void *map = make_map(t, w, o, m0);

	workload_prefill(w, t, map);
	t->quiesce(map);
	p->prefill_s += bench_now_s() - f0;
	s = (bench_now_s() - f0) / (double)w->keys;
	/* Weight the worst: a slow peer prefill later must not overrun the
	 * budget. */
	p->s_per_prefill_key =
	    s > p->s_per_prefill_key ? s : (p->s_per_prefill_key + s) / 2;
	p->prefill_keys_left -= w->keys;
	progress(o, "          %5.1f s  prefill %-10s %llu keys: %.2f s\n",
	    bench_now_s() - p->t0, t->name, (unsigned long long)w->keys,
	    bench_now_s() - f0);
	return map;
}

/* The advisor's run of each thread count (THE ADVISOR). */
#define ADVISE_S 0.1

struct prefill_job {
	const struct workload *w;
	const struct target_ops *t;
	void *map;
};

static void *
prefill_thread(void *arg)
{
	struct prefill_job *j = arg;

	j->t->thread_enter(j->map);
	workload_prefill(j->w, j->t, j->map);
	j->t->thread_exit(j->map);
	return NULL;
}

/* The result of rep 0 of t on w at `threads` (the last one run). */
static struct result *
find_result(
    const struct workload *w, const struct target_ops *t, unsigned threads)
{
	for (size_t i = nresults; i-- > 0;)
		if (results[i].target == t && results[i].threads == threads &&
		    results[i].rep == 0 && results[i].w.mix == w->mix &&
		    results[i].w.dist == w->dist &&
		    results[i].w.keys == w->keys)
			return &results[i];
	return NULL;
}

static void
advise_run(const struct options *o, const struct workload *w,
    const struct target_ops *t, const struct stream_set *set)
{
	struct options mo = *o;
	struct mem0 m0;
	struct run_result *rr = malloc(sizeof *rr);
	struct result *r = find_result(w, t, set->threads);
	cmap_profile_t then, now;
	void *map;

	if (rr == NULL || r == NULL) {
		fprintf(stderr, "cmap-bench: --advise: %s\n",
		    rr == NULL ? "out of memory" : "no result to profile");
		exit(3);
	}
	mo.cmap_flags |= CMAP_FLAG_METRICS;
	map = make_map(t, w, &mo, &m0);
	if (o->prefill && !bench_mix_from_empty(w->mix)) {
		struct prefill_job j = {w, t, map};
		pthread_t th;

		if (pthread_create(&th, NULL, prefill_thread, &j) != 0 ||
		    pthread_join(th, NULL) != 0) {
			fprintf(stderr, "cmap-bench: --advise: no thread\n");
			exit(3);
		}
		t->quiesce(map);
	}
	if (cmap_profile(map, &then) != CMAP_OK) {
		fprintf(stderr, "cmap-bench: cmap_profile(%s): %s\n", t->name,
		    cmap_last_error());
		exit(3);
	}
	one_run(w, t, map, set, o->ops > 0 ? 0 : ADVISE_S,
	    o->ops > 0 ? o->ops : 0, false, rr);
	if (cmap_profile(map, &now) != CMAP_OK ||
	    cmap_profile_since(&now, &then) != CMAP_OK) {
		fprintf(stderr, "cmap-bench: cmap_profile(%s): %s\n", t->name,
		    cmap_last_error());
		exit(3);
	}
	r->profile = now;
	r->profiled = true;
	drop_map(t, map);
	free(rr);
}

/* One repetition of target t on the workload: every thread count. */
static void
run_target(const struct options *o, struct plan *p, const struct workload *w,
    const struct target_ops *t, const struct stream_set *sets, size_t nt,
    size_t one, unsigned rep)
{
	bool reuse = o->prefill && !bench_mix_from_empty(w->mix);
	struct mem0 m0 = {0, 0, 0};
	void *map = reuse ? prefilled_map(o, p, w, t, &m0) : NULL;

	for (size_t i = 0; i < nt; i++) {
		/* Not thread-safe: at one thread only; the others: the list
		 * (sets[nthreads], if present, is the extra 1 of the
		 * former). */
		if (t->single_thread ? i != one : i >= o->nthreads)
			continue;
		if (!reuse)
			map = make_map(t, w, o, &m0);
		run_cell(o, p, w, t, map, &sets[i], &m0, rep);
		if (!reuse)
			drop_map(t, map);
	}
	if (reuse)
		drop_map(t, map);
	for (size_t i = 0; i < nt && o->advise && rep == 0 && !t->peer; i++)
		if (t->single_thread ? i == one : i < o->nthreads)
			advise_run(o, w, t, &sets[i]);
}

static void
run_workload(const struct options *o, struct plan *p, const struct workload *w)
{
	static struct stream_set sets[BENCH_MAX_LIST + 1];
	unsigned tcounts[BENCH_MAX_LIST + 1];
	size_t one, nt = gen_streams(o, p, w, sets, tcounts, &one);

	/* Interleaved: repetition r of every target, starting r targets
	 * down the list. */
	for (unsigned r = 0; r < o->reps; r++)
		for (size_t k = 0; k < o->ntargets; k++)
			run_target(o, p, w, o->targets[(k + r) % o->ntargets],
			    sets, nt, one, r);
	for (size_t i = 0; i < nt; i++)
		streams_free(&sets[i]);
}

static void
plan_workload(const struct options *o, struct plan *p, enum bench_mix mix,
    enum bench_dist dist, uint64_t keys, bool extra_one)
{
	struct workload w = {mix, dist, o->zipf_s, keys, o->seed,
	    o->sample_every, o->batch, o->write_pct};

	if (skip_workload(o, mix, dist))
		return;
	for (size_t t = 0; t < o->nthreads; t++)
		p->gen_ops_left += stream_total_ops(&w, o->threads[t]);
	if (extra_one)
		p->gen_ops_left += stream_total_ops(&w, 1);
	for (size_t t = 0; t < o->ntargets; t++) {
		p->cells_left +=
		    o->reps * (o->targets[t]->single_thread ? 1 : o->nthreads);
		if (o->prefill && !bench_mix_from_empty(mix))
			p->prefill_keys_left += o->reps * keys;
	}
}

/* Count the cells, prefills and stream operations of the whole run, and
 * set the first guesses of the per-unit costs. */
static void
plan_init(const struct options *o, struct plan *p)
{
	bool has_single = false, has_one = false;

	memset(p, 0, sizeof *p);
	p->t0 = bench_now_s();
	p->s_per_prefill_key = 300e-9; /* first guesses, refined as we go */
	p->s_per_gen_op = 20e-9;
	p->cell_overhead_s = 0.02;
	for (size_t i = 0; i < o->ntargets; i++)
		has_single |= o->targets[i]->single_thread;
	for (size_t t = 0; t < o->nthreads; t++)
		has_one |= o->threads[t] == 1;
	for (size_t m = 0; m < o->nmixes; m++)
		for (size_t d = 0; d < o->ndists; d++)
			for (size_t k = 0; k < o->nkeys; k++)
				plan_workload(o, p, o->mixes[m], o->dists[d],
				    o->keys[k], has_single && !has_one);
	total_cells = p->cells_left;
}

/* After the run: results to cells, then JSON, CSV, context, tables and
 * the recommendation. */
static void
report(const struct options *o, const struct output_opts *out, double elapsed,
    const char *optsum)
{
	struct cell *cells = NULL;
	size_t ncells;

	results_finish(results, nresults);
	ncells = cells_build(results, nresults, &cells);
	if (cells == NULL) {
		fprintf(stderr, "cmap-bench: out of memory\n");
		exit(3);
	}
	if (out->json != NULL)
		output_json(out, cells, ncells);
	if (out->csv != NULL)
		output_csv(out, cells, ncells);
	fprintf(out->table, "\n");
	context_print(out->table, out->ctx);
	fprintf(out->table,
	    "run: clock %s, 1 in %u ops timed, batch=%u, %.1f s in all\n",
	    bench_clock_name(), o->sample_every, o->batch, elapsed);
	if (optsum[0])
		fprintf(out->table, "backend options: %s\n", optsum);
	output_table(out, cells, ncells);
	if (o->check_sampling)
		output_sampling_check(out, cells, ncells);
	output_recommendation(out, cells, ncells);
	if (o->advise)
		output_advice(out, cells, ncells, o->calibration);
	free(cells);
}

/* The whole run of the options o, reported to out (main.c opened its
 * files). */
void
bench_drive(const struct options *o, struct output_opts *out)
{
	static struct bench_context ctx;
	static char optsum[2 * BENCH_OPTS_TEXT];
	struct plan plan, *p = &plan;

	out->ctx = &ctx;
	/* No mallopt() here: fixing M_MMAP_THRESHOLD (to make resident-set
	 * figures follow each map more closely) made rculfhash's resizes
	 * stall and its lookups 5x slower; the peers run on glibc's defaults,
	 * as their users' programs do. */
	bench_clock_init(o->force_gettime);

	plan_init(o, p);
	context_gather(&ctx);
	ctx.reps = o->reps;
	snprintf(ctx.warmup, sizeof ctx.warmup,
	    "warm-up before each cell: %.0f%% of its time (at least %.0f ms), "
	    "untimed; none for growth, grow-read",
	    100 * WARMUP_FRAC, 1e3 * WARMUP_MIN_S);
	opts_summary(o, optsum, sizeof optsum);
	progress(o,
	    "cmap-bench: %zu targets, %zu cells, clock %s (timer "
	    "overhead %.1f ns subtracted), 1 in %u ops timed, batch=%u, seed "
	    "%llu, %u repetitions%s%s%s%s\n",
	    o->ntargets, total_cells, bench_clock_name(),
	    bench_timer_overhead_ns(), o->sample_every, o->batch,
	    (unsigned long long)o->seed, o->reps, o->preset ? ", preset " : "",
	    o->preset ? o->preset : "", optsum[0] ? ", options " : "", optsum);
	if (o->seconds == 0 && o->ops == 0)
		progress(o,
		    "cmap-bench: budget %.0f s, about %.2f s per cell\n",
		    o->budget, cell_seconds(o, p));

	for (size_t m = 0; m < o->nmixes; m++)
		for (size_t d = 0; d < o->ndists; d++)
			for (size_t k = 0; k < o->nkeys; k++) {
				struct workload w = {o->mixes[m], o->dists[d],
				    o->zipf_s, o->keys[k], o->seed,
				    o->sample_every, o->batch, o->write_pct};

				if (!skip_workload(o, w.mix, w.dist))
					run_workload(o, p, &w);
			}

	context_finish(&ctx);
	report(o, out, bench_now_s() - p->t0, optsum);
	free(results);
}
