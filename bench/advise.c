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
 * Then the calibration this run measured (measured() below): a row per
 * workload and thread count, its profiles' mean features and its best
 * backend.  It describes this run, so it is a claim to check on another
 * run (--advise=CALIBRATION --seed N), not a result.
 */
#include "bench.h"

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
	return !c[j].rep[0]->target->peer && !c[j].rep[0]->target->variant &&
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
		bool seen =
		    c[i].rep[0]->target->peer || c[i].rep[0]->target->variant;

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
		    "      from %-11s %-11s (%u thr, %4.1f%% writes, %4.1f%% "
		    "deletes, %4.1f%% inserts; distance %.2f) %s\n",
		    name_of(c, g->members[m]), pick,
		    c[g->members[m]].rep[0]->profile.threads,
		    100 * a.write_share, 100 * a.delete_share,
		    100 * a.insert_share, a.distance,
		    g->tied == 1 ? (among_tied(c, g, pick) ? "match" : "MISS")
		                 : (among_tied(c, g, pick) ? "among the tied"
		                                           : "not among the "
		                                             "tied"));
	}
}

/* True when buf[0..len) already has a row of the features of `row` (the
 * text before its '='): a later row as near is never picked, so a
 * zipfian twin of a uniform workload adds nothing. */
static bool
has_row(const char *buf, size_t len, const char *row)
{
	size_t k = (size_t)(strchr(row, '=') + 1 - row);

	for (const char *p = buf; p < buf + len; p++) {
		if (strncmp(p, row, k) == 0)
			return true;
		p = strchr(p, ';');
		if (p == NULL)
			break;
	}
	return false;
}

/* Group g as a calibration row (cmap.h, ADVICE) onto buf at *len: the
 * mean features of its profiles, and its winner (a tie: the best median,
 * order[0]).  Nothing when no member was profiled or the features have a
 * row already. */
static void
group_row(const struct cell *c, const struct group *g, char *buf, size_t cap,
    size_t *len)
{
	double w = 0, d = 0, i = 0, n = 0;
	unsigned k = 0;
	char row[96], t = '1';

	for (size_t m = 0; m < g->n; m++) {
		const struct result *r = c[g->members[m]].rep[0];
		cmap_advice_t a;

		if (advice_of(c, g->members[m], NULL, &a) == NULL)
			continue;
		w += a.write_share;
		d += a.delete_share;
		i += a.insert_share;
		n += (double)r->profile.entries;
		t = a.thread_class; /* one per group: its thread count */
		k++;
	}
	if (k == 0)
		return;
	snprintf(row, sizeof row, "%c:%.4f:%.4f:%.4f:%.0f=%s", t, w / k, d / k,
	    i / k, n / k, name_of(c, g->members[g->order[0]]));
	if (*len < cap && !has_row(buf, *len, row))
		*len += (size_t)snprintf(
		    buf + *len, cap - *len, "%s%s", *len ? ";" : "", row);
}

/* The calibration this run measured: the groups with a winner first, so
 * that where two rows are as near (zipfian and uniform keys look alike
 * to a profile) a winner is preferred to a tie. */
static void
measured(FILE *f, const struct cell *c, const struct group *g, size_t ng)
{
	size_t cap = 64 * (ng + 1), len = 0;
	char *buf = malloc(cap);
	struct judged r;

	if (buf == NULL)
		return;
	buf[0] = '\0';
	for (int pass = 0; pass < 2; pass++)
		for (size_t k = 0; k < ng; k++)
			if ((g[k].tied == 1) == (pass == 0) && g[k].tied > 0)
				group_row(c, &g[k], buf, cap, &len);
	if (len == 0 || len >= cap) {
		free(buf);
		return;
	}
	r = judge(c, g, ng, buf);
	fprintf(f,
	    "\nThe calibration this run measured (a row per workload and "
	    "thread count):\n%s\n  From it the advice named the winner in "
	    "%u of %u (%.0f%%), in ties one of\n  the tied in %u of %u: on "
	    "the run it came from, so check it on another\n  (--advise=... "
	    "--seed 2) before passing it to cmap_advise().\n",
	    buf, r.matched, r.winners, pct(r.matched, r.winners), r.in_tie,
	    r.ties);
	free(buf);
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
	measured(f, c, g, ng);
	free(g);
}
