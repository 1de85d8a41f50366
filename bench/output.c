/*
 * output.c - ratios, scores, the comparison table, the recommendation,
 * JSON lines and CSV.
 *
 * SCORE
 *
 * The article's weighted score, computed over the results of one "group":
 * the same workload, distribution, key count, prefill/presize setting and
 * thread count in this run (comparing across thread counts or workloads
 * would mix different questions):
 *
 *   score = 0.40 * mops / best_mops
 *         + 0.35 * best_p99 / p99
 *         + 0.25 * best_bytes_per_entry / bytes_per_entry
 *
 * where best_* is the best value of the group (highest throughput, lowest
 * p99, fewest bytes per entry), so each term is 1 for the best target and
 * smaller for the others, and a perfect score is 1.  p99 is over all
 * sampled operations of the run; values below 1 ns count as 1 ns.  A term
 * whose figure is unknown (no samples, or no memory figure) contributes 0.
 *
 * RATIOS
 *
 * ratio_to_plain (the JSON name of 0.x, kept) is a result's throughput over
 * the 1-thread throughput of the baseline target on the same workload: the
 * first libcmap backend without CMAP_CAP_THREAD_SAFE in registry order
 * (plain), as targets.c marks it.  Null when the baseline did not run.
 *
 * ratio_to_floor (the table's xfloor) is the same over the 1-thread
 * throughput of the floor (floor.c: a minimal single-threaded table with
 * no API layer, run one operation at a time even with --batch), so it
 * says how far a target is from the cheapest lookup this machine does.
 * Null when the floor did not run.
 *
 * JSON AND CSV
 *
 * Both are produced from one list of fields (result_fields), so the CSV
 * columns are exactly the JSON keys in the same order; docs/bench.md has
 * the schema.  Fields are only ever appended, never reordered.  Unknown
 * values are null in JSON and empty in CSV.  Strings
 * are escaped for JSON, and quoted for CSV when they need it (the options
 * field holds text the user gave).
 */
#include "bench.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

const char bench_score_formula[] =
    "score = 0.40*mops/best_mops + 0.35*best_p99/p99 + "
    "0.25*best_bytes_per_entry/bytes_per_entry  "
    "(best = best of the same workload and thread count in this run)";

static bool
same_workload(const struct result *a, const struct result *b)
{
	return a->w.mix == b->w.mix && a->w.dist == b->w.dist &&
	    (a->w.dist != DIST_ZIPF || a->w.zipf_s == b->w.zipf_s) &&
	    a->w.keys == b->w.keys && a->prefill == b->prefill &&
	    a->presize == b->presize && a->w.batch == b->w.batch;
}

static bool
same_group(const struct result *a, const struct result *b)
{
	return same_workload(a, b) && a->threads == b->threads;
}

void
results_finish(struct result *r, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		double best_mops = 0, best_p99 = INFINITY, best_mem = INFINITY;
		double base = -1, flo = -1;

		for (size_t j = 0; j < n; j++) {
			if (same_workload(&r[i], &r[j]) &&
			    r[j].target->baseline && r[j].threads == 1 &&
			    r[j].mops > 0)
				base = r[j].mops;
			if (same_workload(&r[i], &r[j]) && r[j].target->floor &&
			    r[j].threads == 1 && r[j].mops > 0)
				flo = r[j].mops;
			if (!same_group(&r[i], &r[j]))
				continue;
			if (r[j].mops > best_mops)
				best_mops = r[j].mops;
			if (r[j].all.p99 >= 0 &&
			    fmax(r[j].all.p99, 1) < best_p99)
				best_p99 = fmax(r[j].all.p99, 1);
			if (r[j].bytes_per_entry > 0 &&
			    r[j].bytes_per_entry < best_mem)
				best_mem = r[j].bytes_per_entry;
		}
		r[i].ratio_to_plain = base > 0 ? r[i].mops / base : -1;
		r[i].ratio_to_floor = flo > 0 ? r[i].mops / flo : -1;
		r[i].score = 0;
		if (best_mops > 0)
			r[i].score += SCORE_W_MOPS * r[i].mops / best_mops;
		if (r[i].all.p99 >= 0 && isfinite(best_p99))
			r[i].score +=
			    SCORE_W_P99 * best_p99 / fmax(r[i].all.p99, 1);
		if (r[i].bytes_per_entry > 0 && isfinite(best_mem))
			r[i].score +=
			    SCORE_W_MEM * best_mem / r[i].bytes_per_entry;
	}
}

/* ------------------------------------------------------------------ */
/* Table */

/* The name of the ratios' baseline among the results, or NULL. */
static const char *
baseline_name(const struct result *r, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (r[i].target->baseline)
			return r[i].target->name;
	return NULL;
}

/* True when the floor is among the results. */
static bool
floor_ran(const struct result *r, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (r[i].target->floor)
			return true;
	return false;
}

/* "1.23", or "-" for a negative (unknown) ratio. */
static const char *
fmt_ratio(char *buf, size_t n, double x)
{
	if (x >= 0)
		snprintf(buf, n, "%.2f", x);
	else
		snprintf(buf, n, "-");
	return buf;
}

static const char *
fmt_ns(char *buf, size_t n, double ns)
{
	if (ns < 0)
		snprintf(buf, n, "-");
	else if (ns < 10000)
		snprintf(buf, n, "%.0f", ns);
	else if (ns < 1e7)
		snprintf(buf, n, "%.1fu", ns / 1e3);
	else if (ns < 1e10)
		snprintf(buf, n, "%.1fm", ns / 1e6);
	else
		snprintf(buf, n, "%.1fs", ns / 1e9);
	return buf;
}

static const char *
fmt_keys(char *buf, size_t n, uint64_t k)
{
	if (k >= 1000000 && k % 1000000 == 0)
		snprintf(buf, n, "%lluM", (unsigned long long)(k / 1000000));
	else if (k >= 1000 && k % 1000 == 0)
		snprintf(buf, n, "%lluK", (unsigned long long)(k / 1000));
	else
		snprintf(buf, n, "%llu", (unsigned long long)k);
	return buf;
}

static void
group_title(FILE *f, const struct result *r)
{
	char kb[32];

	fprintf(f, "\n== %s, %s", bench_mix_name(r->w.mix),
	    bench_dist_name(r->w.dist));
	if (r->w.dist == DIST_ZIPF)
		fprintf(f, " s=%.2f", r->w.zipf_s);
	fprintf(f, ", %s keys, %s, %s, batch=%u ==\n",
	    fmt_keys(kb, sizeof kb, r->w.keys),
	    bench_mix_from_empty(r->w.mix) ? "from empty"
	        : r->prefill               ? "prefilled"
	                                   : "not prefilled",
	    r->presize ? "presized" : "no capacity hint",
	    r->w.batch > 1 ? r->w.batch : 1);
}

void
output_table(const struct output_opts *o, const struct result *r, size_t n)
{
	FILE *f = o->table;
	bool *done = calloc(n ? n : 1, sizeof *done);
	const char *bname = baseline_name(r, n);

	if (done == NULL)
		return;
	for (size_t i = 0; i < n; i++) {
		unsigned tmax = 0;

		if (done[i])
			continue;
		group_title(f, &r[i]);
		fprintf(f,
		    "%-10s %-4s %3s %9s %7s %7s %7s %7s %7s %7s %8s %9s "
		    "%6s\n",
		    "target", "kind", "thr", "Mops/s", "xbase", "xfloor",
		    "p50ns", "p99ns", "p999ns", "maxns", "B/entry", "entries",
		    "score");
		for (size_t j = i; j < n; j++)
			if (same_workload(&r[i], &r[j]) && r[j].threads > tmax)
				tmax = r[j].threads;
		/* Rows by thread count, then in run order. */
		for (unsigned t = 1; t <= tmax; t++) {
			for (size_t j = i; j < n; j++) {
				char a[16], b[16], c[16], d[16], x[16], y[16];
				char m[16];

				if (done[j] || !same_workload(&r[i], &r[j]) ||
				    r[j].threads != t)
					continue;
				done[j] = true;
				if (r[j].bytes_per_entry > 0)
					snprintf(m, sizeof m, "%.1f",
					    r[j].bytes_per_entry);
				else
					snprintf(m, sizeof m, "-");
				fprintf(f,
				    "%-10s %-4s %3u %9.3f %7s %7s %7s %7s %7s "
				    "%7s %8s %9llu %6.3f\n",
				    r[j].target->name,
				    r[j].target->peer ? "peer" : "lib",
				    r[j].threads, r[j].mops,
				    fmt_ratio(x, sizeof x, r[j].ratio_to_plain),
				    fmt_ratio(y, sizeof y, r[j].ratio_to_floor),
				    fmt_ns(a, sizeof a, r[j].all.p50),
				    fmt_ns(b, sizeof b, r[j].all.p99),
				    fmt_ns(c, sizeof c, r[j].all.p999),
				    fmt_ns(d, sizeof d, r[j].all.max), m,
				    (unsigned long long)r[j].entries,
				    r[j].score);
			}
		}
	}
	fprintf(f,
	    "\n(xbase: Mops/s over %s's 1-thread Mops/s on the same workload;"
	    "\n xfloor: %s;",
	    bname != NULL ? bname : "the baseline (not run)",
	    floor_ran(r, n) ? "the same over floor's (a minimal "
	                      "single-threaded table, no API layer)"
	                    : "- (the floor did not run)");
	if (n > 0 && r[0].w.batch > 1)
		fprintf(f,
		    "\n batch=%u: libcmap backends issue up to %u consecutive "
		    "loads, stores or deletes\n per cmap_*_batch call; peers, "
		    "floor included, run one at a time; a sampled\n batch's "
		    "time / its keys is each of its operations' latency;",
		    r[0].w.batch, r[0].w.batch);
	fprintf(f,
	    "\n ns columns: u = microseconds, m = milliseconds; B/entry: "
	    "allocator count for libcmap\n and floor, the larger of "
	    "resident-set and malloc-heap growth for the other peers)\n");
	fprintf(f, "%s\n", bench_score_formula);
	free(done);
}

/* ------------------------------------------------------------------ */
/* Recommendation */

struct cand {
	const struct target_ops *t;
	double sum;
	unsigned n;
};

static size_t
collect(const struct result *r, size_t n, size_t g, bool peers, struct cand *c,
    size_t cap)
{
	size_t nc = 0;

	for (size_t j = 0; j < n; j++) {
		size_t k;

		if (!same_workload(&r[g], &r[j]) ||
		    r[j].target->peer != peers || r[j].target->single_thread)
			continue;
		for (k = 0; k < nc && c[k].t != r[j].target; k++)
			;
		if (k == nc) {
			if (nc == cap)
				continue;
			c[nc].t = r[j].target;
			c[nc].sum = 0;
			c[nc].n = 0;
			nc++;
		}
		c[k].sum += r[j].score;
		c[k].n++;
	}
	return nc;
}

static size_t
best_cand(const struct cand *c, size_t nc, size_t skip)
{
	size_t best = nc;

	for (size_t k = 0; k < nc; k++) {
		if (k == skip || c[k].n == 0)
			continue;
		if (best == nc || c[k].sum / c[k].n > c[best].sum / c[best].n)
			best = k;
	}
	return best;
}

/* " (1.17x plain, 0.85x floor)": the ratios known of r[j]; nothing when
 * neither is.  The floor's own row has no ratio to itself. */
static void
describe_ratios(FILE *f, const struct result *r, size_t n, size_t j)
{
	const char *bname = baseline_name(r, n);
	bool base =
	    r[j].ratio_to_plain >= 0 && !r[j].target->baseline && bname != NULL;
	bool flo = r[j].ratio_to_floor >= 0 && !r[j].target->floor;

	if (!base && !flo)
		return;
	fprintf(f, " (");
	if (base)
		fprintf(f, "%.2fx %s", r[j].ratio_to_plain, bname);
	if (flo)
		fprintf(
		    f, "%s%.2fx floor", base ? ", " : "", r[j].ratio_to_floor);
	fprintf(f, ")");
}

/* "1 thr 10.2 Mops/s (1.17x plain, 0.85x floor), p99 80 ns, 24.0
 * B/entry; 2 thr ..." */
static void
describe(FILE *f, const struct result *r, size_t n, size_t g,
    const struct target_ops *t)
{
	bool first = true;

	for (size_t j = 0; j < n; j++) {
		char p[16];

		if (!same_workload(&r[g], &r[j]) || r[j].target != t)
			continue;
		fprintf(f, "%s%u thr %.2f Mops/s", first ? "" : "; ",
		    r[j].threads, r[j].mops);
		describe_ratios(f, r, n, j);
		fprintf(f, ", p99 %s ns", fmt_ns(p, sizeof p, r[j].all.p99));
		if (r[j].bytes_per_entry > 0)
			fprintf(f, ", %.1f B/entry", r[j].bytes_per_entry);
		first = false;
	}
}

void
output_recommendation(
    const struct output_opts *o, const struct result *r, size_t n)
{
	FILE *f = o->table;
	bool *done = calloc(n ? n : 1, sizeof *done);

	if (done == NULL)
		return;
	fprintf(f,
	    "\nRecommendation (highest mean score over the thread counts "
	    "run; backends that\nare not thread-safe are left out):\n");
	for (size_t i = 0; i < n; i++) {
		struct cand lib[BENCH_MAX_TARGETS], peer[BENCH_MAX_TARGETS];
		size_t nl, np, b, b2, bp;
		char kb[32];

		if (done[i])
			continue;
		for (size_t j = i; j < n; j++)
			if (same_workload(&r[i], &r[j]))
				done[j] = true;
		nl = collect(r, n, i, false, lib, BENCH_MAX_TARGETS);
		np = collect(r, n, i, true, peer, BENCH_MAX_TARGETS);
		fprintf(f, "\n  %s (%s", bench_mix_name(r[i].w.mix),
		    bench_dist_name(r[i].w.dist));
		if (r[i].w.dist == DIST_ZIPF)
			fprintf(f, " s=%.2f", r[i].w.zipf_s);
		if (r[i].w.mix == MIX_READ_MOSTLY)
			fprintf(f, ", %g%% writes", r[i].w.write_pct);
		fprintf(f,
		    ", %s keys%s%s): ", fmt_keys(kb, sizeof kb, r[i].w.keys),
		    r[i].presize ? ", presized" : "",
		    !bench_mix_from_empty(r[i].w.mix) && !r[i].prefill
		        ? ", not prefilled"
		        : "");
		b = best_cand(lib, nl, nl);
		if (b == nl) {
			fprintf(f, "no thread-safe libcmap backend was run.\n");
		} else {
			fprintf(f,
			    "use %s (mean score %.3f over %u thread count%s)\n",
			    lib[b].t->name, lib[b].sum / lib[b].n, lib[b].n,
			    lib[b].n == 1 ? "" : "s");
			fprintf(f, "    %s: ", lib[b].t->name);
			describe(f, r, n, i, lib[b].t);
			fprintf(f, "\n");
			b2 = best_cand(lib, nl, b);
			if (b2 != nl) {
				fprintf(f, "    runner-up %s (%.3f): ",
				    lib[b2].t->name, lib[b2].sum / lib[b2].n);
				describe(f, r, n, i, lib[b2].t);
				fprintf(f, "\n");
			}
		}
		bp = best_cand(peer, np, np);
		if (bp != np) {
			fprintf(f,
			    "    best peer %s (%.3f): ", peer[bp].t->name,
			    peer[bp].sum / peer[bp].n);
			describe(f, r, n, i, peer[bp].t);
			fprintf(f, "\n");
			if (b != nl &&
			    peer[bp].sum / peer[bp].n > lib[b].sum / lib[b].n)
				fprintf(f,
				    "    note: the peer %s scores higher than "
				    "every libcmap backend on this workload.\n",
				    peer[bp].t->name);
		}
		if (r[i].w.mix == MIX_READ_MOSTLY)
			/* The crossover of docs/design.md ("The readmostly
			 * backend"), measured with bench/readmostly-table.sh.
			 */
			fprintf(f,
			    "    readmostly against lockfree and sharded: on "
			    "the 2-core development machine\n    (heavily "
			    "loaded) it was ahead at 2 threads at no write "
			    "share from 1%% to 50%%;\n    rerun with "
			    "--write-pct P to find where it stops paying "
			    "here.\n");
		for (size_t j = 0; j < n; j++) {
			char p[16];

			if (!same_workload(&r[i], &r[j]) ||
			    !r[j].target->single_thread)
				continue;
			fprintf(f, "    single thread only: %s %.2f Mops/s",
			    r[j].target->name, r[j].mops);
			describe_ratios(f, r, n, j);
			fprintf(f, ", p99 %s ns",
			    fmt_ns(p, sizeof p, r[j].all.p99));
			if (r[j].bytes_per_entry > 0)
				fprintf(
				    f, ", %.1f B/entry", r[j].bytes_per_entry);
			fprintf(f, "\n");
		}
	}
	free(done);
}

/* ------------------------------------------------------------------ */
/* Sampling check */

void
output_sampling_check(
    const struct output_opts *o, const struct result *r, size_t n)
{
	FILE *f = o->table;
	double sum = 0, worst = 0, csum = 0, cworst = 0;
	unsigned cnt = 0;

	fprintf(f,
	    "\nSampling overhead (each cell in four quarters: sampling "
	    "off, on (1 in %u ops), on, off):\n",
	    n ? r[0].w.sample_every : 0);
	fprintf(f, "%-12s %-10s %3s %10s %10s %9s %11s %11s %9s\n", "workload",
	    "target", "thr", "Mops(off)", "Mops(on)", "wall", "ops/cpu-us",
	    "ops/cpu-us", "cpu");
	fprintf(f, "%-12s %-10s %3s %10s %10s %9s %11s %11s %9s\n", "", "", "",
	    "", "", "overhead", "(off)", "(on)", "overhead");
	for (size_t i = 0; i < n; i++) {
		double ov, oc = 0;

		if (r[i].mops_unsampled <= 0)
			continue;
		ov = 100.0 * (r[i].mops_unsampled - r[i].mops) /
		    r[i].mops_unsampled;
		if (r[i].ops_per_cpu_us_off > 0 && r[i].ops_per_cpu_us_on > 0)
			oc = 100.0 *
			    (r[i].ops_per_cpu_us_off - r[i].ops_per_cpu_us_on) /
			    r[i].ops_per_cpu_us_off;
		fprintf(f,
		    "%-12s %-10s %3u %10.3f %10.3f %8.1f%% %11.3f %11.3f "
		    "%8.1f%%\n",
		    bench_mix_name(r[i].w.mix), r[i].target->name, r[i].threads,
		    r[i].mops_unsampled, r[i].mops, ov, r[i].ops_per_cpu_us_off,
		    r[i].ops_per_cpu_us_on, oc);
		sum += ov;
		csum += oc;
		if (ov > worst)
			worst = ov;
		if (oc > cworst)
			cworst = oc;
		cnt++;
	}
	if (cnt > 0)
		fprintf(f,
		    "over %u cells: wall-clock overhead mean %.1f%%, "
		    "worst %.1f%%; CPU-time overhead mean %.1f%%, worst "
		    "%.1f%%\n"
		    "(negative = noise larger than the cost; CPU time leaves "
		    "out "
		    "the time other processes took the cores)\n",
		    cnt, sum / cnt, worst, csum / cnt, cworst);
}

/* ------------------------------------------------------------------ */
/* JSON and CSV */

enum fkind { F_STR, F_BOOL, F_U64, F_NUM };

struct field {
	const char *name;
	enum fkind kind;
	bool null;
	const char *s;
	bool b;
	uint64_t u;
	double d;
	int prec;
};

#define MAX_FIELDS 64

static size_t
result_fields(const struct result *r, struct field *f)
{
	static char opnames[OP_COUNT_][5][24];
	size_t n = 0;

#define S(nm, v) f[n++] = (struct field){.name = (nm), .kind = F_STR, .s = (v)}
#define B(nm, v)                                                               \
	f[n++] = (struct field)                                                \
	{                                                                      \
		.name = (nm), .kind = F_BOOL, .b = (v)                         \
	}
#define U(nm, v)                                                               \
	f[n++] = (struct field)                                                \
	{                                                                      \
		.name = (nm), .kind = F_U64, .u = (v)                          \
	}
#define D(nm, v, p, isnull)                                                    \
	f[n++] = (struct field)                                                \
	{                                                                      \
		.name = (nm), .kind = F_NUM, .d = (v), .prec = (p),            \
		.null = (isnull)                                               \
	}

	S("backend", r->target->name);
	B("peer", r->target->peer);
	S("workload", bench_mix_name(r->w.mix));
	S("distribution", bench_dist_name(r->w.dist));
	U("keys", r->w.keys);
	U("threads", r->threads);
	U("ops", r->ops);
	D("seconds", r->seconds, 4, false);
	D("mops", r->mops, 4, false);
	D("ratio_to_plain", r->ratio_to_plain, 4, r->ratio_to_plain < 0);
	D("p50_ns", r->all.p50, 1, r->all.p50 < 0);
	D("p99_ns", r->all.p99, 1, r->all.p99 < 0);
	D("p999_ns", r->all.p999, 1, r->all.p999 < 0);
	D("max_ns", r->all.max, 1, r->all.max < 0);
	D("bytes_per_entry", r->bytes_per_entry, 2, r->bytes_per_entry <= 0);
	D("score", r->score, 4, r->score < 0);
	D("zipf_s", r->w.zipf_s, 3, r->w.dist != DIST_ZIPF);
	D("write_pct", r->w.write_pct, 2, r->w.mix != MIX_READ_MOSTLY);
	B("prefill", r->prefill);
	B("presize", r->presize);
	U("entries", r->entries);
	S("mem_source", r->mem_source ? r->mem_source : "none");
	D("rss_bytes_per_entry", r->rss_bytes_per_entry, 2,
	    r->rss_bytes_per_entry <= 0);
	D("heap_bytes_per_entry", r->heap_bytes_per_entry, 2,
	    r->heap_bytes_per_entry <= 0);
	U("samples", r->samples);
	U("sample_every", r->w.sample_every);
	S("clock", bench_clock_name());
	D("timer_overhead_ns", bench_timer_overhead_ns(), 1, false);
	U("seed", r->w.seed);
	D("mops_unsampled", r->mops_unsampled, 4, r->mops_unsampled <= 0);
	for (unsigned k = 0; k < OP_COUNT_; k++) {
		const struct lat *l = &r->per_op[k];
		static const char *const suf[5] = {
		    "ops", "p50_ns", "p99_ns", "p999_ns", "max_ns"};

		for (unsigned q = 0; q < 5; q++)
			snprintf(opnames[k][q], sizeof opnames[k][q], "%s_%s",
			    bench_op_name((enum bench_op)k), suf[q]);
		U(opnames[k][0], l->ops);
		D(opnames[k][1], l->p50, 1, l->p50 < 0);
		D(opnames[k][2], l->p99, 1, l->p99 < 0);
		D(opnames[k][3], l->p999, 1, l->p999 < 0);
		D(opnames[k][4], l->max, 1, l->max < 0);
	}
	/* 1.0: last, so that the columns of 0.x keep their places. */
	S("options", r->options ? r->options : "");
	/* Appended after 1.0: the floor's ratio, then --batch. */
	D("ratio_to_floor", r->ratio_to_floor, 4, r->ratio_to_floor < 0);
	U("batch", r->w.batch > 1 ? r->w.batch : 1);
#undef S
#undef B
#undef U
#undef D
	return n;
}

static void
put_json_string(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c < 0x20)
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
	fputc('"', f);
}

/* RFC 4180: quoted (quotes doubled) when it holds a comma, quote or line
 * break. */
static void
put_csv_string(FILE *f, const char *s)
{
	if (strpbrk(s, ",\"\r\n") == NULL) {
		fputs(s, f);
		return;
	}
	fputc('"', f);
	for (; *s != '\0'; s++) {
		if (*s == '"')
			fputc('"', f);
		fputc(*s, f);
	}
	fputc('"', f);
}

static void
put_value(FILE *f, const struct field *x, bool json)
{
	if (x->null) {
		if (json)
			fputs("null", f);
		return;
	}
	switch (x->kind) {
	case F_STR:
		if (json)
			put_json_string(f, x->s);
		else
			put_csv_string(f, x->s);
		break;
	case F_BOOL:
		fputs(x->b ? "true" : "false", f);
		break;
	case F_U64:
		fprintf(f, "%llu", (unsigned long long)x->u);
		break;
	case F_NUM:
		fprintf(f, "%.*f", x->prec, x->d);
		break;
	}
}

void
output_json(FILE *f, const struct result *r, size_t n)
{
	struct field fl[MAX_FIELDS];

	for (size_t i = 0; i < n; i++) {
		size_t nf = result_fields(&r[i], fl);

		fputc('{', f);
		for (size_t k = 0; k < nf; k++) {
			fprintf(f, "%s\"%s\":", k ? "," : "", fl[k].name);
			put_value(f, &fl[k], true);
		}
		fputs("}\n", f);
	}
	fflush(f);
}

void
output_csv(FILE *f, const struct result *r, size_t n)
{
	struct field fl[MAX_FIELDS];
	struct result dummy;
	size_t nf;

	/* The header comes from the field list itself. */
	memset(&dummy, 0, sizeof dummy);
	dummy.target = n ? r[0].target : NULL;
	if (n == 0)
		return;
	nf = result_fields(&dummy, fl);
	for (size_t k = 0; k < nf; k++)
		fprintf(f, "%s%s", k ? "," : "", fl[k].name);
	fputc('\n', f);
	for (size_t i = 0; i < n; i++) {
		nf = result_fields(&r[i], fl);
		for (size_t k = 0; k < nf; k++) {
			if (k)
				fputc(',', f);
			put_value(f, &fl[k], false);
		}
		fputc('\n', f);
	}
	fflush(f);
}
