/*
 * test_stats.c - cmap-bench's statistics on synthetic figures (CTest:
 * bench_stats): medians and ranges, ratios taken within a repetition,
 * the verdict (a winner only beyond the spread, a tie otherwise, with the
 * tied ones named), and the JSON rows' medians, ranges and context.
 */
#include "bench.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static int failures;

#define CHECK(cond)                                                            \
	do {                                                                   \
		if (!(cond)) {                                                 \
			fprintf(stderr, "%s:%d: CHECK(%s) failed\n", __FILE__, \
			    __LINE__, #cond);                                  \
			failures++;                                            \
		}                                                              \
	} while (0)

#define NEAR(a, b) (fabs((a) - (b)) < 1e-9)

static struct spread
sp(double a, double b, double c)
{
	double v[3] = {a, b, c};
	struct spread s;

	spread_of(&s, v, 3);
	return s;
}

static void
test_spread(void)
{
	double even[4] = {4, 1, 3, 2}, some[4] = {-1, 5, -1, 7};
	double none[2] = {-1, -1};
	struct spread s = sp(3, 1, 2);

	CHECK(s.n == 3 && NEAR(s.med, 2) && NEAR(s.min, 1) && NEAR(s.max, 3));
	spread_of(&s, even, 4);
	CHECK(s.n == 4 && NEAR(s.med, 2.5));
	spread_of(&s, some, 4); /* unknown (negative) values left out */
	CHECK(s.n == 2 && NEAR(s.med, 6) && NEAR(s.min, 5));
	spread_of(&s, none, 2);
	CHECK(s.n == 0);
}

static void
test_verdict(void)
{
	struct spread s[4];
	size_t order[4];

	/* Clear winner: 0's lowest above 1's highest. */
	s[0] = sp(0.90, 0.91, 0.92);
	s[1] = sp(0.80, 0.85, 0.89);
	CHECK(bench_verdict(s, 2, order) == 1 && order[0] == 0);
	/* Listed the other way round: the same winner. */
	s[2] = s[0];
	s[0] = s[1];
	s[1] = s[2];
	CHECK(bench_verdict(s, 2, order) == 1 && order[0] == 1);
	/* Overlap: a tie of 0 and 1; 2 is clearly below and not tied. */
	s[0] = sp(0.90, 0.95, 0.99);
	s[1] = sp(0.85, 0.88, 0.91);
	s[2] = sp(0.50, 0.60, 0.70);
	CHECK(bench_verdict(s, 3, order) == 2);
	CHECK(order[0] == 0 && order[1] == 1 && order[2] == 2);
	/* Touching ranges are a tie too. */
	s[1] = sp(0.80, 0.85, 0.90);
	CHECK(bench_verdict(s, 2, order) == 2);
	/* A wide range below a narrow one still ties with the best: 0 best
	 * median; 1 second median but below 0's lowest; 2 third median
	 * whose range reaches 0's lowest. */
	s[0] = sp(0.90, 0.91, 0.92);
	s[1] = sp(0.88, 0.89, 0.895);
	s[2] = sp(0.70, 0.80, 0.95);
	CHECK(bench_verdict(s, 3, order) == 2);
	CHECK(order[0] == 0 && order[1] == 2 && order[2] == 1);
	/* No figure at all: last, never tied; nothing known: 0. */
	memset(&s[3], 0, sizeof s[3]);
	CHECK(bench_verdict(s, 4, order) == 2 && order[3] == 3);
	CHECK(bench_verdict(&s[3], 1, order) == 0);
	CHECK(bench_verdict(s, 0, order) == 0);
}

/* Synthetic results: target t[k] at 1 thread, repetition r, mops m. */
static const struct target_ops tgt[3] = {
    {.name = "base", .baseline = true, .single_thread = true},
    {.name = "alpha"},
    {.name = "beta"},
};
static struct result res[16];
static size_t nres;

static void
put(size_t k, unsigned rep, double mops)
{
	struct result *r = &res[nres++];

	memset(r, 0, sizeof *r);
	r->target = &tgt[k];
	r->w.mix = MIX_CHURN;
	r->w.keys = 1000;
	r->w.batch = 1;
	r->threads = 1;
	r->rep = rep;
	r->mops = mops;
	r->all.p50 = r->all.p99 = r->all.p999 = r->all.max = -1;
	r->bytes_per_entry = -1;
	for (unsigned i = 0; i < OP_COUNT_; i++)
		r->per_op[i].p50 = r->per_op[i].p99 = r->per_op[i].p999 =
		    r->per_op[i].max = -1;
	r->mops_unsampled = r->rss_bytes_per_entry = -1;
	r->heap_bytes_per_entry = -1;
}

/* Ratios come from the same repetition: 20/10 and 12/5, whose median
 * 2.2 is not the ratio of the medians (16/7.5). */
static void
test_ratios(void)
{
	struct cell *c;
	size_t n;

	nres = 0;
	put(0, 0, 10);
	put(1, 0, 20);
	put(0, 1, 5);
	put(1, 1, 12);
	results_finish(res, nres);
	n = cells_build(res, nres, &c);
	CHECK(n == 2 && c != NULL);
	if (n == 2) {
		CHECK(c[1].reps == 2 && c[1].rep[0]->target == &tgt[1]);
		CHECK(NEAR(c[1].ratio_to_plain.med, 2.2));
		CHECK(NEAR(c[1].ratio_to_plain.min, 2.0));
		CHECK(NEAR(c[1].ratio_to_plain.max, 2.4));
		CHECK(NEAR(c[1].mops.med, 16));
		CHECK(c[1].ratio_to_floor.n == 0); /* no floor ran */
	}
	free(c);
}

/* Run the recommendation (or, with json, the JSON lines) over res[] with
 * the context ctx, and return the text. */
static char *
output_text(bool json, struct bench_context *ctx)
{
	static char buf[16384];
	struct output_opts o = {NULL, NULL, NULL, false, ctx};
	struct cell *c;
	FILE *f = tmpfile();
	size_t n, len;

	results_finish(res, nres);
	n = cells_build(res, nres, &c);
	buf[0] = '\0';
	if (f == NULL || c == NULL) {
		CHECK(!"set-up");
		return buf;
	}
	o.table = o.json = f;
	if (json)
		output_json(&o, c, n);
	else
		output_recommendation(&o, c, n);
	rewind(f);
	len = fread(buf, 1, sizeof buf - 1, f);
	buf[len] = '\0';
	fclose(f);
	free(c);
	return buf;
}

static void
test_recommendation(void)
{
	static const double tie[3][2] = {{10, 9}, {9, 10}, {10, 9.5}};
	struct bench_context ctx = {.reps = 3};
	char *text;

	/* alpha ahead in two repetitions of three, beta in one: a tie. */
	nres = 0;
	for (unsigned r = 0; r < 3; r++) {
		put(1, r, tie[r][0]);
		put(2, r, tie[r][1]);
	}
	text = output_text(false, &ctx);
	CHECK(strstr(text, "tie: alpha, beta\n") != NULL);
	CHECK(strstr(text, "use ") == NULL);
	/* alpha twice as fast in every repetition: the winner. */
	nres = 0;
	for (unsigned r = 0; r < 3; r++) {
		put(1, r, 10 + r);
		put(2, r, 5 + r);
	}
	text = output_text(false, &ctx);
	CHECK(strstr(text, "use alpha\n") != NULL);
	CHECK(strstr(text, "tie:") == NULL);
	CHECK(strstr(text, "runner-up") != NULL);
}

/* A JSON row carries the median, the range and the context. */
static void
test_json(void)
{
	struct bench_context ctx = {
	    .cores = 2, .load_start = 1.5, .load_end = 2.5, .reps = 3};
	const char *buf;

	snprintf(ctx.cpu, sizeof ctx.cpu, "Test CPU");
	snprintf(ctx.git, sizeof ctx.git, "abc123");
	nres = 0;
	put(1, 0, 3);
	put(1, 1, 1);
	put(1, 2, 2);
	buf = output_text(true, &ctx);
	CHECK(strchr(buf, '\n') == buf + strlen(buf) - 1); /* one row */
	CHECK(strstr(buf, "\"mops\":2.0000,") != NULL);
	CHECK(strstr(buf, "\"mops_min\":1.0000,\"mops_max\":3.0000") != NULL);
	CHECK(strstr(buf, "\"repetitions\":3,") != NULL);
	CHECK(strstr(buf, "\"mops_reps\":\"3.0000 1.0000 2.0000\"") != NULL);
	CHECK(strstr(buf, "\"cpu\":\"Test CPU\",\"cores\":2,") != NULL);
	CHECK(strstr(buf, "\"load_avg_start\":1.50,\"load_avg_end\":2.50") !=
	    NULL);
	CHECK(strstr(buf, "\"git_revision\":\"abc123\"") != NULL);
	CHECK(strstr(buf, "\"p99_ns\":null,") != NULL);
}

int
main(void)
{
	test_spread();
	test_verdict();
	test_ratios();
	test_recommendation();
	test_json();
	if (failures) {
		fprintf(stderr, "bench_stats: %d checks failed\n", failures);
		return 1;
	}
	printf("bench_stats: all checks passed\n");
	return 0;
}
