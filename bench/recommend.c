/*
 * recommend.c - the recommendation: per workload, the thread-safe libcmap
 * backend to use, or a tie when the measurements cannot tell.
 *
 * A candidate's figure is, per repetition, its mean score over the thread
 * counts run (each score taken within that repetition, stats.c); over the
 * repetitions that gives a median and a range.  bench_verdict() names a
 * winner only when its lowest such figure is above every other
 * candidate's highest, and a tie of the overlapping ones otherwise
 * (stats.c says why that rule).  The peers get the same treatment, apart.
 */
#include "bench.h"

#include <stdlib.h>
#include <string.h>

struct cand {
	const struct target_ops *t;
	struct spread s; /* per-repetition mean score over thread counts */
};

/* The per-repetition mean scores of t on the workload of cell g. */
static void
cand_scores(const struct cell *c, size_t n, size_t g,
    const struct target_ops *t, struct spread *out)
{
	double sum[BENCH_MAX_REPS] = {0}, v[BENCH_MAX_REPS];
	unsigned cnt[BENCH_MAX_REPS] = {0}, reps = 0;

	for (size_t j = 0; j < n; j++) {
		if (c[j].rep[0]->target != t ||
		    !same_workload(c[g].rep[0], c[j].rep[0]))
			continue;
		for (unsigned r = 0; r < c[j].reps; r++) {
			sum[r] += c[j].rep[r]->score;
			cnt[r]++;
		}
		reps = c[j].reps > reps ? c[j].reps : reps;
	}
	for (unsigned r = 0; r < reps; r++)
		v[r] = cnt[r] > 0 ? sum[r] / cnt[r] : -1;
	spread_of(out, v, reps);
}

static size_t
collect(const struct cell *c, size_t n, size_t g, bool peers, struct cand *k,
    size_t cap)
{
	size_t nk = 0;

	for (size_t j = 0; j < n && nk < cap; j++) {
		const struct target_ops *t = c[j].rep[0]->target;
		bool seen = false;

		if (!same_workload(c[g].rep[0], c[j].rep[0]) ||
		    t->peer != peers || t->single_thread || t->variant)
			continue;
		for (size_t i = 0; i < nk; i++)
			seen |= k[i].t == t;
		if (seen)
			continue;
		k[nk].t = t;
		cand_scores(c, n, g, t, &k[nk].s);
		nk++;
	}
	return nk;
}

/* " (1.17x plain, 0.85x floor)": the median ratios known of cell j. */
static void
describe_ratios(FILE *f, const struct cell *c, size_t n, size_t j)
{
	const char *bname = baseline_name(c, n);
	const struct target_ops *t = c[j].rep[0]->target;
	bool base = c[j].ratio_to_plain.n > 0 && !t->baseline && bname;
	bool flo = c[j].ratio_to_floor.n > 0 && !t->floor;

	if (!base && !flo)
		return;
	fprintf(f, " (");
	if (base)
		fprintf(f, "%.2fx %s", c[j].ratio_to_plain.med, bname);
	if (flo)
		fprintf(f, "%s%.2fx floor", base ? ", " : "",
		    c[j].ratio_to_floor.med);
	fprintf(f, ")");
}

/* "1 thr 10.20 (9.80-10.60) Mops/s (1.17x plain, 0.85x floor), p99 80
 * ns, 24.0 B/entry": cell j's medians, the throughput with its range. */
static void
describe_cell(FILE *f, const struct cell *c, size_t n, size_t j)
{
	char m[64];

	fprintf(f, "%u thr %s Mops/s", c[j].rep[0]->threads,
	    fmt_spread(m, sizeof m, &c[j].mops, 2, 1));
	describe_ratios(f, c, n, j);
	if (c[j].p99.n > 0)
		fprintf(f, ", p99 %.0f ns", c[j].p99.med);
	if (c[j].bytes_per_entry.n > 0 && c[j].bytes_per_entry.med > 0)
		fprintf(f, ", %.1f B/entry", c[j].bytes_per_entry.med);
}

static void
describe(
    FILE *f, const struct cell *c, size_t n, size_t g, const struct cand *k)
{
	char sc[64];

	fprintf(f, "    %s, score %s:\n", k->t->name,
	    fmt_spread(sc, sizeof sc, &k->s, 3, 1));
	for (size_t j = 0; j < n; j++) {
		if (c[j].rep[0]->target != k->t ||
		    !same_workload(c[g].rep[0], c[j].rep[0]))
			continue;
		fprintf(f, "      ");
		describe_cell(f, c, n, j);
		fprintf(f, "\n");
	}
}

/* win X ("use X") or "tie: X, Y"; order[] gets the candidates in verdict order
 * (bench_verdict) and the return value is how many share the top. */
static size_t
print_verdict(
    FILE *f, const char *win, const struct cand *k, size_t nk, size_t *order)
{
	struct spread s[BENCH_MAX_TARGETS];
	size_t tied;

	for (size_t i = 0; i < nk; i++)
		s[i] = k[i].s;
	tied = bench_verdict(s, nk, order);
	if (tied == 0) {
		fprintf(f, "no figures\n");
	} else if (tied == 1) {
		fprintf(f, "%s%s\n", win, k[order[0]].t->name);
	} else {
		fprintf(f, "tie: ");
		for (size_t i = 0; i < tied; i++)
			fprintf(f, "%s%s", i ? ", " : "", k[order[i]].t->name);
		fprintf(f, "\n");
	}
	return tied;
}

static void
workload_title(FILE *f, const struct result *r)
{
	char kb[32];

	fprintf(f, "\n  %s (%s", bench_mix_name(r->w.mix),
	    bench_dist_name(r->w.dist));
	if (r->w.dist == DIST_ZIPF)
		fprintf(f, " s=%.2f", r->w.zipf_s);
	if (r->w.mix == MIX_READ_MOSTLY)
		fprintf(f, ", %g%% writes", r->w.write_pct);
	fprintf(f, ", %s keys%s%s): ", fmt_keys(kb, sizeof kb, r->w.keys),
	    r->presize ? ", presized" : "",
	    !bench_mix_from_empty(r->w.mix) && !r->prefill ? ", not prefilled"
	                                                   : "");
}

/* The verdict among the libcmap backends, with the figures of the tied
 * ones (or the winner and its runner-up). */
static void
recommend_lib(FILE *f, const struct cell *c, size_t n, size_t g, struct cand *k,
    size_t *nk, size_t *order)
{
	size_t tied;

	*nk = collect(c, n, g, false, k, BENCH_MAX_TARGETS);
	if (*nk == 0) {
		fprintf(f, "no thread-safe libcmap backend was run.\n");
		return;
	}
	tied = print_verdict(f, "use ", k, *nk, order);
	for (size_t i = 0; i < tied; i++)
		describe(f, c, n, g, &k[order[i]]);
	if (tied == 1 && *nk > 1) {
		fprintf(f,
		    "    runner-up (its highest score below %s's "
		    "lowest):\n",
		    k[order[0]].t->name);
		describe(f, c, n, g, &k[order[1]]);
	}
}

/* lib_max: the highest per-repetition score of any libcmap candidate. */
static void
recommend_peers(
    FILE *f, const struct cell *c, size_t n, size_t g, double lib_max)
{
	struct cand k[BENCH_MAX_TARGETS];
	size_t order[BENCH_MAX_TARGETS], nk, tied;

	nk = collect(c, n, g, true, k, BENCH_MAX_TARGETS);
	if (nk == 0)
		return;
	fprintf(f, "    best peer: ");
	tied = print_verdict(f, "", k, nk, order);
	for (size_t i = 0; i < tied; i++)
		describe(f, c, n, g, &k[order[i]]);
	if (lib_max >= 0 && tied > 0 && k[order[0]].s.min > lib_max)
		fprintf(f,
		    "    note: the peer %s scores higher than every libcmap "
		    "backend on this workload,\n    in every repetition.\n",
		    k[order[0]].t->name);
}

static void
single_thread_rows(FILE *f, const struct cell *c, size_t n, size_t g)
{
	for (size_t j = 0; j < n; j++) {
		if (!same_workload(c[g].rep[0], c[j].rep[0]) ||
		    !c[j].rep[0]->target->single_thread)
			continue;
		fprintf(f, "    single thread only: %s ",
		    c[j].rep[0]->target->name);
		describe_cell(f, c, n, j);
		fprintf(f, "\n");
	}
}

void
output_recommendation(
    const struct output_opts *o, const struct cell *c, size_t n)
{
	FILE *f = o->table;

	fprintf(f,
	    "\nRecommendation (per repetition, each backend's mean score "
	    "over the thread counts\nrun; a winner only when its lowest is "
	    "above every other's highest, else a tie;\nbackends that are not "
	    "thread-safe are left out):\n");
	if (n > 0 && c[0].reps < 3)
		fprintf(f,
		    "(only %u repetition%s: no spread to judge by, so a "
		    "winner here may be noise;\n use --repetitions 3 or "
		    "more)\n",
		    c[0].reps, c[0].reps == 1 ? "" : "s");
	for (size_t i = 0; i < n; i++) {
		struct cand lib[BENCH_MAX_TARGETS];
		size_t order[BENCH_MAX_TARGETS], nk = 0;
		double lib_max = -1;
		bool first = true;

		for (size_t j = 0; j < i && first; j++)
			first = !same_workload(c[i].rep[0], c[j].rep[0]);
		if (!first)
			continue;
		workload_title(f, c[i].rep[0]);
		recommend_lib(f, c, n, i, lib, &nk, order);
		for (size_t k = 0; k < nk; k++)
			if (lib[k].s.n > 0 && lib[k].s.max > lib_max)
				lib_max = lib[k].s.max;
		recommend_peers(f, c, n, i, lib_max);
		if (c[i].rep[0]->w.mix == MIX_READ_MOSTLY)
			/* No figure here: the crossover depends on the
			 * machine (docs/design.md, "The readmostly backend",
			 * has the development machine's, from
			 * bench/readmostly-table.sh). */
			fprintf(f,
			    "    readmostly pays only below some write share: "
			    "rerun with --write-pct P\n    (1, 5, 10, ...) "
			    "to find where it stops beating lockfree and "
			    "sharded here.\n");
		single_thread_rows(f, c, n, i);
	}
}
