/*
 * stats.c - repetitions: ratios and scores within each repetition, the
 * median and range of every figure over a cell's repetitions, and the
 * verdict of the recommendation.
 *
 * WHY RATIOS WITHIN A REPETITION
 *
 * The repetitions of a run are interleaved: repetition 1 of every target,
 * then repetition 2, so a slow spell of the machine (another job, a
 * frequency drop) hits the targets of one repetition alike.  A ratio is
 * therefore only taken between results of the same repetition (a row over
 * the baseline's or the floor's figure measured minutes apart would carry
 * the drift between them), and then summarised like any other figure.
 * The score is likewise computed per repetition, over the targets of the
 * same workload and thread count in that repetition.
 *
 * WHY MEDIAN AND MIN-MAX
 *
 * The median, because one disturbed repetition (a neighbour's burst) must
 * not move it.  The range min-max, not a 95% interval: with n repetitions
 * the distribution-free interval for the median from order statistics is
 * [x(1), x(n)] itself for n up to 5 (its coverage is 1 - 2^(1-n): 75% at
 * 3, 94% at 5, 97% at 6), and a normal-theory interval assumes a
 * distribution that timings on a shared machine do not have.  So the
 * range is what the figures can honestly claim, and it is simple to read.
 *
 * THE VERDICT
 *
 * A candidate wins only when its lowest per-repetition score is above the
 * highest of every other candidate: the ranges do not overlap.  For two
 * candidates of 3 repetitions each with no true difference, all three of
 * one lie above all three of the other with probability 1/C(6,3) = 1/20
 * (the exact Mann-Whitney test at U = 0), so the rule is a one-sided 5%
 * test at the default; at 5 repetitions 1/252.  Otherwise the top is a tie
 * of the candidates whose range reaches the best median's lowest score.
 */
#include "bench.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

void
spread_of(struct spread *s, const double *v, size_t n)
{
	double k[BENCH_MAX_REPS];
	unsigned m = 0;

	for (size_t i = 0; i < n && m < BENCH_MAX_REPS; i++)
		if (v[i] >= 0)
			k[m++] = v[i];
	memset(s, 0, sizeof *s);
	s->n = m;
	if (m == 0)
		return;
	qsort(k, m, sizeof k[0], cmp_double);
	s->min = k[0];
	s->max = k[m - 1];
	s->med = m % 2 ? k[m / 2] : (k[m / 2 - 1] + k[m / 2]) / 2;
}

/* ------------------------------------------------------------------ */
/* Ratios and scores, per repetition */

bool
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
	return same_workload(a, b) && a->threads == b->threads &&
	    a->rep == b->rep;
}

/* The 1-thread mops of the baseline (or the floor) in r's repetition. */
static double
yardstick(const struct result *r, size_t n, size_t i, bool floor)
{
	for (size_t j = 0; j < n; j++)
		if (same_workload(&r[i], &r[j]) && r[j].rep == r[i].rep &&
		    r[j].threads == 1 && r[j].mops > 0 &&
		    (floor ? r[j].target->floor : r[j].target->baseline))
			return r[j].mops;
	return -1;
}

static void
score_one(struct result *r, size_t n, size_t i)
{
	double best_mops = 0, best_p99 = INFINITY, best_mem = INFINITY;
	struct result *x = &r[i];

	for (size_t j = 0; j < n; j++) {
		if (!same_group(x, &r[j]))
			continue;
		best_mops = fmax(best_mops, r[j].mops);
		if (r[j].all.p99 >= 0)
			best_p99 = fmin(best_p99, fmax(r[j].all.p99, 1));
		if (r[j].bytes_per_entry > 0)
			best_mem = fmin(best_mem, r[j].bytes_per_entry);
	}
	x->score = 0;
	if (best_mops > 0)
		x->score += SCORE_W_MOPS * x->mops / best_mops;
	if (x->all.p99 >= 0 && isfinite(best_p99))
		x->score += SCORE_W_P99 * best_p99 / fmax(x->all.p99, 1);
	if (x->bytes_per_entry > 0 && isfinite(best_mem))
		x->score += SCORE_W_MEM * best_mem / x->bytes_per_entry;
}

void
results_finish(struct result *r, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		double base = yardstick(r, n, i, false);
		double flo = yardstick(r, n, i, true);

		r[i].ratio_to_plain = base > 0 ? r[i].mops / base : -1;
		r[i].ratio_to_floor = flo > 0 ? r[i].mops / flo : -1;
		score_one(r, n, i);
	}
}

/* ------------------------------------------------------------------ */
/* Cells */

static void
spread_field(const struct cell *c, size_t offset, struct spread *s)
{
	double v[BENCH_MAX_REPS];

	for (unsigned i = 0; i < c->reps; i++)
		memcpy(&v[i], (const char *)c->rep[i] + offset, sizeof v[i]);
	spread_of(s, v, c->reps);
}

double
cell_median(const struct cell *c, size_t offset)
{
	struct spread s;

	spread_field(c, offset, &s);
	return s.n > 0 ? s.med : -1;
}

static void
cell_summarise(struct cell *c)
{
#define SP(field, member)                                                      \
	spread_field(c, offsetof(struct result, member), &c->field)
	SP(mops, mops);
	SP(ratio_to_plain, ratio_to_plain);
	SP(ratio_to_floor, ratio_to_floor);
	SP(score, score);
	SP(p50, all.p50);
	SP(p99, all.p99);
	SP(p999, all.p999);
	SP(max, all.max);
	SP(bytes_per_entry, bytes_per_entry);
#undef SP
}

static bool
same_cell(const struct result *a, const struct result *b)
{
	return a->target == b->target && same_workload(a, b) &&
	    a->threads == b->threads;
}

size_t
cells_build(const struct result *r, size_t n, struct cell **out)
{
	struct cell *c = calloc(n ? n : 1, sizeof *c);
	size_t nc = 0;

	*out = c;
	if (c == NULL)
		return 0;
	for (size_t i = 0; i < n; i++) {
		size_t k;

		for (k = 0; k < nc && !same_cell(c[k].rep[0], &r[i]); k++)
			;
		if (k == nc)
			nc++;
		if (c[k].reps < BENCH_MAX_REPS)
			c[k].rep[c[k].reps++] = &r[i];
	}
	for (size_t k = 0; k < nc; k++)
		cell_summarise(&c[k]);
	return nc;
}

/* ------------------------------------------------------------------ */
/* The verdict */

size_t
bench_verdict(const struct spread *s, size_t n, size_t *order)
{
	size_t m = 0, tied = 1;

	/* Insertion sort by median, unknowns last: n is a dozen at most. */
	for (size_t i = 0; i < n; i++) {
		size_t k = m++;

		while (k > 0 &&
		    (s[i].n > 0 &&
		        (s[order[k - 1]].n == 0 ||
		            s[order[k - 1]].med < s[i].med))) {
			order[k] = order[k - 1];
			k--;
		}
		order[k] = i;
	}
	if (n == 0 || s[order[0]].n == 0)
		return 0;
	/* The tied ones need not be adjacent by median (a wide range may
	 * sit below a narrow one): bring them up behind order[0]. */
	for (size_t i = 1; i < n; i++) {
		size_t x = order[i];

		if (s[x].n == 0 || s[x].max < s[order[0]].min)
			continue;
		memmove(&order[tied + 1], &order[tied],
		    (i - tied) * sizeof order[0]);
		order[tied++] = x;
	}
	return tied;
}
