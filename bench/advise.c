/*
 * advise.c - --advise: the advisor's check (cmap.h, ADVICE).
 *
 * For each workload and thread count the measured best is the verdict
 * among the libcmap backends run there (bench_verdict on their
 * per-repetition scores: one winner, or a tie).  Each backend's profile of
 * the same cell (driver.c, THE ADVISOR) gets an advice, so a cell is
 * judged once per backend that recorded it: where the best is a winner,
 * the advice matches when it names it; where it is a tie, the report says
 * how often the pick was one of the tied.
 *
 * The fit: every calibration of a small grid (fit() below) is judged the
 * same way over the same profiles and the one with the most matches is
 * printed (the first in grid order among equals: rules off before on,
 * lower thresholds first).  It fits this run, so it is a claim to check
 * on another run (--advise=CALIBRATION --seed N), not a result.
 */
#include "bench.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

struct group {
	size_t cell; /* one cell of the group (for its title) */
	size_t tied; /* bench_verdict's */
	size_t order[BENCH_MAX_TARGETS];
	size_t members[BENCH_MAX_TARGETS]; /* cell indices */
	size_t n;
};

struct judged {
	unsigned matched, winners; /* advices that named the winner / all */
	unsigned in_tie, ties;     /* picks among the tied / all in ties */
};

static const char *
name_of(const struct cell *c, size_t j)
{
	return c[j].rep[0]->target->name;
}

static bool
in_group(const struct cell *c, size_t g, size_t j)
{
	return !c[j].rep[0]->target->peer &&
	    same_workload(c[g].rep[0], c[j].rep[0]) &&
	    c[g].rep[0]->threads == c[j].rep[0]->threads;
}

/* The groups (workload x thread count) of the libcmap cells; *out is
 * malloc'ed. */
static size_t
groups_build(const struct cell *c, size_t n, struct group **out)
{
	struct group *g = calloc(n > 0 ? n : 1, sizeof *g);
	size_t ng = 0;

	if (g == NULL) {
		fprintf(stderr, "cmap-bench: out of memory\n");
		exit(3);
	}
	for (size_t i = 0; i < n; i++) {
		struct spread s[BENCH_MAX_TARGETS];
		bool seen = c[i].rep[0]->target->peer;

		for (size_t k = 0; k < ng && !seen; k++)
			seen = in_group(c, g[k].cell, i);
		if (seen)
			continue;
		g[ng].cell = i;
		for (size_t j = i; j < n && g[ng].n < BENCH_MAX_TARGETS; j++)
			if (in_group(c, i, j)) {
				s[g[ng].n] = c[j].score;
				g[ng].members[g[ng].n++] = j;
			}
		g[ng].tied = bench_verdict(s, g[ng].n, g[ng].order);
		ng++;
	}
	*out = g;
	return ng;
}

/* The advice of cell j's profile; NULL when it has none. */
static const char *
advice_of(
    const struct cell *c, size_t j, const char *calibration, cmap_advice_t *a)
{
	if (!c[j].rep[0]->profiled ||
	    cmap_advise(&c[j].rep[0]->profile, calibration, a) != CMAP_OK)
		return NULL;
	return a->backend;
}

static bool
among_tied(const struct cell *c, const struct group *g, const char *pick)
{
	for (size_t k = 0; k < g->tied; k++)
		if (strcmp(name_of(c, g->members[g->order[k]]), pick) == 0)
			return true;
	return false;
}

static struct judged
judge(const struct cell *c, const struct group *g, size_t ng,
    const char *calibration)
{
	struct judged r = {0, 0, 0, 0};

	for (size_t k = 0; k < ng; k++)
		for (size_t m = 0; m < g[k].n && g[k].tied > 0; m++) {
			cmap_advice_t a;
			const char *pick =
			    advice_of(c, g[k].members[m], calibration, &a);
			bool hit;

			if (pick == NULL)
				continue;
			hit = among_tied(c, &g[k], pick);
			if (g[k].tied == 1) {
				r.winners++;
				r.matched += hit;
			} else {
				r.ties++;
				r.in_tie += hit;
			}
		}
	return r;
}

static double
pct(unsigned a, unsigned b)
{
	return b > 0 ? 100.0 * a / b : 0;
}

/* "read-mostly (uniform), 1M keys, 2 thr: lockfree 1.000 (0.914-1.000)
 * over sharded 0.878 (0.831-0.921)" or "... tie: lockfree, sharded". */
static void
group_title(FILE *f, const struct cell *c, const struct group *g)
{
	const struct result *r = c[g->cell].rep[0];
	char kb[32], s0[64], s1[64];

	fprintf(f, "  %s (%s), %s keys, %u thr: ", bench_mix_name(r->w.mix),
	    bench_dist_name(r->w.dist), fmt_keys(kb, sizeof kb, r->w.keys),
	    r->threads);
	if (g->tied == 1) {
		size_t w = g->members[g->order[0]];

		fprintf(f, "best %s %s", name_of(c, w),
		    fmt_spread(s0, sizeof s0, &c[w].score, 3, 1));
		if (g->n > 1) {
			size_t r2 = g->members[g->order[1]];

			fprintf(f, " over %s %s", name_of(c, r2),
			    fmt_spread(s1, sizeof s1, &c[r2].score, 3, 1));
		}
	} else {
		fprintf(f, "tie:");
		for (size_t k = 0; k < g->tied; k++)
			fprintf(f, " %s", name_of(c, g->members[g->order[k]]));
	}
	fprintf(f, "\n");
}

/* "      advice from rwlock: lockfree (ok)" per profile of the group. */
static void
group_advice(FILE *f, const struct cell *c, const struct group *g,
    const char *calibration)
{
	for (size_t m = 0; m < g->n; m++) {
		cmap_advice_t a;
		const char *pick = advice_of(c, g->members[m], calibration, &a);

		if (pick == NULL)
			continue;
		fprintf(f,
		    "      from %-11s %-11s (%s rule; %u thr, %4.1f%% writes, "
		    "%4.1f%% deletes) %s\n",
		    name_of(c, g->members[m]), pick, a.rule,
		    c[g->members[m]].rep[0]->profile.threads,
		    100 * a.write_share, 100 * a.delete_share,
		    g->tied == 1 ? (among_tied(c, g, pick) ? "match" : "MISS")
		                 : (among_tied(c, g, pick) ? "among the tied"
		                                           : "not among the "
		                                             "tied"));
	}
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* The values of a *_keys axis: 0, then, between each two entry counts
 * the profiles saw that differ by more than 4x, their geometric midpoint
 * rounded to a power of two.  Returns how many. */
static size_t
key_steps(const struct cell *c, size_t n, double *out, size_t cap)
{
	double *e = malloc((n + 1) * sizeof *e);
	size_t ne = 0, k = 0;

	if (e == NULL)
		return 0;
	for (size_t j = 0; j < n; j++)
		if (c[j].rep[0]->profiled && c[j].rep[0]->profile.entries > 0)
			e[ne++] = (double)c[j].rep[0]->profile.entries;
	qsort(e, ne, sizeof *e, cmp_double);
	out[k++] = 0;
	for (size_t j = 1, lo = 0; j < ne && k < cap; j++)
		if (e[j] > 4 * e[lo]) {
			out[k++] = exp2(round(log2(sqrt(e[j] * e[lo]))));
			lo = j;
		}
	free(e);
	return k;
}

/* The calibration's thresholds by their cmap.h names, and the grid of
 * values the fit tries for each (-1, rule off, first; a *_keys axis,
 * KEYS, takes the entry counts of key_steps). */
#define NCAL 8
#define KEYS NULL

static const char *const cal_names[NCAL] = {"solo_churn_deletes",
    "solo_growth_inserts", "solo_growth_keys", "readmostly_writes",
    "rwlock_writes", "rwlock_keys", "churn_deletes", "churn_keys"};
static const double g_solo_d[] = {-1, 0.15, 0.3, 0.45};
static const double g_solo_i[] = {-1, 0.6, 0.9};
static const double g_rm[] = {-1, 0, 0.005, 0.02, 0.05, 0.15};
static const double g_rw[] = {-1, 0, 0.005, 0.02};
static const double g_cd[] = {-1, 0.15, 0.3, 0.45};
static const struct {
	const double *v;
	size_t n;
} axes[NCAL] = {{g_solo_d, 4}, {g_solo_i, 3}, {KEYS, 0}, {g_rm, 6}, {g_rw, 4},
    {KEYS, 0}, {g_cd, 4}, {KEYS, 0}};

static void
cal_text(const double *v, char *buf, size_t cap)
{
	size_t len = 0;

	for (size_t i = 0; i < NCAL && len < cap; i++)
		len += (size_t)snprintf(buf + len, cap - len, "%s%s=%.12g",
		    i ? "," : "", cal_names[i], v[i]);
}

/* The grid over axes [lo, hi), the others held at v[]: v[] gets the
 * values with the most matches (the first such in grid order), *bj
 * their judgement.  A *_keys axis stays at its first value while the
 * share before it is -1 (its rule is off). */
static void
fit_axes(const struct cell *c, const struct group *g, size_t ng,
    const double *ks, size_t nks, size_t lo, size_t hi, double *v,
    struct judged *bj)
{
	size_t idx[NCAL] = {0};
	double best[NCAL], k[NCAL];
	char text[512];
	bool any = false;

	memcpy(k, v, sizeof k);
	memcpy(best, v, sizeof best);
	for (;;) {
		bool skip = false, more = false;

		for (size_t i = lo; i < hi; i++) {
			k[i] = axes[i].v ? axes[i].v[idx[i]] : ks[idx[i]];
			skip |= !axes[i].v && idx[i] > 0 && k[i - 1] < 0;
		}
		if (!skip) {
			struct judged r;

			cal_text(k, text, sizeof text);
			r = judge(c, g, ng, text);
			if (!any || r.matched > bj->matched) {
				*bj = r;
				memcpy(best, k, sizeof best);
				any = true;
			}
		}
		/* The odometer: the last axis turns fastest. */
		for (size_t i = hi; i > lo && !more; i--) {
			more = ++idx[i - 1] <
			    (axes[i - 1].v ? axes[i - 1].n : nks);
			if (!more)
				idx[i - 1] = 0;
		}
		if (!more)
			break;
	}
	memcpy(v, best, sizeof best);
}

/* The one-thread rules (axes 0-2) and the others (3-7) decide disjoint
 * profiles (threads 1, threads above), so each block is fitted with the
 * other held: together, the best of the whole grid. */
static void
fit(FILE *f, const struct cell *c, size_t n, const struct group *g, size_t ng)
{
	double ks[8], v[NCAL] = {0};
	size_t nks = key_steps(c, n, ks, 8);
	struct judged bj = {0, 0, 0, 0};
	char text[512];

	if (nks == 0)
		return;
	for (size_t i = 0; i < NCAL; i++)
		v[i] = axes[i].v ? axes[i].v[0] : ks[0];
	fit_axes(c, g, ng, ks, nks, 0, 3, v, &bj);
	fit_axes(c, g, ng, ks, nks, 3, NCAL, v, &bj);
	cal_text(v, text, sizeof text);
	fprintf(f,
	    "\nThe calibration of the grid that fits this run best:\n"
	    "  %s\n  named the winner in %u of %u (%.0f%%); in ties, one of "
	    "the tied in %u of %u.\n  It fits this run: check it on another "
	    "(--advise='%s' --seed 2)\n  before passing it to cmap_advise().\n",
	    text, bj.matched, bj.winners, pct(bj.matched, bj.winners),
	    bj.in_tie, bj.ties, text);
}

void
output_advice(const struct output_opts *o, const struct cell *c, size_t n,
    const char *calibration)
{
	FILE *f = o->table;
	struct group *g;
	size_t ng = groups_build(c, n, &g);
	struct judged r = judge(c, g, ng, calibration);

	fprintf(f,
	    "\nAdvisor check (cmap_advise with the %s%s%s calibration): per "
	    "workload and\nthread count, the measured best by score (a "
	    "winner only when its lowest is\nabove every other's highest), "
	    "then the advice from each backend's own metrics\nof the same "
	    "workload:\n",
	    calibration ? "'" : "built-in", calibration ? calibration : "",
	    calibration ? "'" : "");
	for (size_t k = 0; k < ng; k++) {
		group_title(f, c, &g[k]);
		group_advice(f, c, &g[k], calibration);
	}
	fprintf(f,
	    "\nThe advice named the measured best in %u of %u (%.0f%%) "
	    "profiles of cells with a\nwinner; in tied cells it named one "
	    "of the tied in %u of %u.\n",
	    r.matched, r.winners, pct(r.matched, r.winners), r.in_tie, r.ties);
	fit(f, c, n, g, ng);
	free(g);
}
