/*
 * output.c - the comparison tables, JSON lines and CSV, one row per cell
 * (target, workload, thread count) summarising its repetitions (stats.c).
 *
 * SCORE
 *
 * The article's weighted score, computed per repetition over the results
 * of one "group": the same workload, distribution, key count,
 * prefill/presize setting, thread count and repetition (comparing across
 * thread counts or workloads would mix different questions):
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
 * the 1-thread throughput of the baseline target on the same workload in
 * the same repetition: the first libcmap backend without
 * CMAP_CAP_THREAD_SAFE in registry order (plain), as targets.c marks it.
 * ratio_to_floor (the table's xfloor) is the same over the floor's
 * (floor.c).  Null when the yardstick did not run.  Both are then
 * summarised over the repetitions like every other figure.
 *
 * UNITS
 *
 * One scheme everywhere: plain numbers, the unit in the column header or
 * right after the number in text (Mops/s, ns, us, B/entry), never a
 * scale letter in a value.  A table cell is "median (min-max)".
 *
 * JSON AND CSV
 *
 * Both are produced from one list of fields (result_fields), so the CSV
 * columns are exactly the JSON keys in the same order; docs/bench.md has
 * the schema.  The fields of 1.0 keep their names and places and now hold
 * the median over the repetitions; the spreads and the context are
 * appended.  Unknown values are null in JSON and empty in CSV.  Strings
 * are escaped for JSON, and quoted for CSV when they need it (the options
 * field holds text the user gave).
 */
#include "bench.h"

#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

const char bench_score_formula[] =
    "score = 0.40*mops/best_mops + 0.35*best_p99/p99 + "
    "0.25*best_bytes_per_entry/bytes_per_entry  "
    "(best = best of the same workload, thread count and repetition)";

/* The name of the ratios' baseline among the cells, or NULL. */
const char *
baseline_name(const struct cell *c, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (c[i].rep[0]->target->baseline)
			return c[i].rep[0]->target->name;
	return NULL;
}

static bool
floor_ran(const struct cell *c, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (c[i].rep[0]->target->floor)
			return true;
	return false;
}

const char *
fmt_spread(char *buf, size_t n, const struct spread *s, int prec, double scale)
{
	if (s->n == 0)
		snprintf(buf, n, "-");
	else if (s->n == 1 || s->min == s->max)
		snprintf(buf, n, "%.*f", prec, s->med * scale);
	else
		snprintf(buf, n, "%.*f (%.*f-%.*f)", prec, s->med * scale, prec,
		    s->min * scale, prec, s->max * scale);
	return buf;
}

const char *
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
group_title(FILE *f, const struct result *r, unsigned reps)
{
	char kb[32];

	fprintf(f, "\n== %s, %s", bench_mix_name(r->w.mix),
	    bench_dist_name(r->w.dist));
	if (r->w.dist == DIST_ZIPF)
		fprintf(f, " s=%.2f", r->w.zipf_s);
	fprintf(f, ", %s keys, %s, %s, batch=%u; %u repetition%s ==\n",
	    fmt_keys(kb, sizeof kb, r->w.keys),
	    bench_mix_from_empty(r->w.mix) ? "from empty"
	        : r->prefill               ? "prefilled"
	                                   : "not prefilled",
	    r->presize ? "presized" : "no capacity hint",
	    r->w.batch > 1 ? r->w.batch : 1, reps, reps == 1 ? "" : "s");
}

/* The median of a uint64_t field of struct result over c's repetitions. */
static uint64_t
median_u64(const struct cell *c, size_t offset)
{
	double v[BENCH_MAX_REPS];
	struct spread s;

	for (unsigned i = 0; i < c->reps; i++) {
		uint64_t x;

		memcpy(&x, (const char *)c->rep[i] + offset, sizeof x);
		v[i] = (double)x;
	}
	spread_of(&s, v, c->reps);
	return s.n > 0 ? (uint64_t)llround(s.med) : 0;
}

static void
row_speed(FILE *f, const struct cell *c)
{
	const struct result *r = c->rep[0];
	char a[64], b[64], x[64], y[64];

	fprintf(f, "%-10s %-4s %3u  %-22s %-17s %-17s %-20s\n", r->target->name,
	    r->target->peer ? "peer" : "lib", r->threads,
	    fmt_spread(a, sizeof a, &c->mops, 3, 1),
	    fmt_spread(x, sizeof x, &c->ratio_to_plain, 2, 1),
	    fmt_spread(y, sizeof y, &c->ratio_to_floor, 2, 1),
	    fmt_spread(b, sizeof b, &c->score, 3, 1));
}

static void
row_latency(FILE *f, const struct cell *c)
{
	const struct result *r = c->rep[0];
	char a[64], b[64], d[64], x[64], m[32];

	if (c->bytes_per_entry.n > 0)
		snprintf(m, sizeof m, "%.1f", c->bytes_per_entry.med);
	else
		snprintf(m, sizeof m, "-");
	fprintf(f, "%-10s %-4s %3u  %-17s %-19s %-22s %-26s %8s %9llu\n",
	    r->target->name, r->target->peer ? "peer" : "lib", r->threads,
	    fmt_spread(a, sizeof a, &c->p50, 0, 1),
	    fmt_spread(b, sizeof b, &c->p99, 0, 1),
	    fmt_spread(d, sizeof d, &c->p999, 0, 1),
	    fmt_spread(x, sizeof x, &c->max, 1, 1e-3), m,
	    (unsigned long long)median_u64(
	        c, offsetof(struct result, entries)));
}

/* Rows of the workload of c[i], by thread count then in run order. */
static void
table_rows(FILE *f, const struct cell *c, size_t n, size_t i, bool speed)
{
	unsigned tmax = 0;

	for (size_t j = i; j < n; j++)
		if (same_workload(c[i].rep[0], c[j].rep[0]))
			tmax = c[j].rep[0]->threads > tmax
			    ? c[j].rep[0]->threads
			    : tmax;
	for (unsigned t = 1; t <= tmax; t++)
		for (size_t j = i; j < n; j++) {
			if (!same_workload(c[i].rep[0], c[j].rep[0]) ||
			    c[j].rep[0]->threads != t)
				continue;
			if (speed)
				row_speed(f, &c[j]);
			else
				row_latency(f, &c[j]);
		}
}

static void
table_footer(FILE *f, const struct cell *c, size_t n)
{
	const char *bname = baseline_name(c, n);
	unsigned batch = n > 0 ? c[0].rep[0]->w.batch : 1;

	fprintf(f,
	    "\n(each figure: median (min-max) over the repetitions;\n xbase: "
	    "Mops/s over %s's 1-thread Mops/s on the same workload in the "
	    "same\n repetition; xfloor: %s;",
	    bname != NULL ? bname : "the baseline (not run)",
	    floor_ran(c, n) ? "the same over floor's (a minimal "
	                      "single-threaded table,\n no API layer)"
	                    : "- (the floor did not run)");
	if (batch > 1)
		fprintf(f,
		    "\n batch=%u: libcmap backends issue up to %u consecutive "
		    "loads, stores or deletes\n per cmap_*_batch call; peers, "
		    "floor included, run one at a time; a sampled\n batch's "
		    "time / its keys is each of its operations' latency;",
		    batch, batch);
	fprintf(f,
	    "\n latencies in ns, max in us; B/entry (median): allocator count "
	    "for libcmap and\n floor, the larger of resident-set and "
	    "malloc-heap growth for the other peers)\n");
	fprintf(f, "%s\n", bench_score_formula);
}

void
output_table(const struct output_opts *o, const struct cell *c, size_t n)
{
	FILE *f = o->table;

	for (size_t i = 0; i < n; i++) {
		bool first = true;

		for (size_t j = 0; j < i && first; j++)
			first = !same_workload(c[i].rep[0], c[j].rep[0]);
		if (!first)
			continue;
		group_title(f, c[i].rep[0], c[i].reps);
		fprintf(f, "%-10s %-4s %3s  %-22s %-17s %-17s %-20s\n",
		    "target", "kind", "thr", "Mops/s", "xbase", "xfloor",
		    "score");
		table_rows(f, c, n, i, true);
		fprintf(f, "%-10s %-4s %3s  %-17s %-19s %-22s %-26s %8s %9s\n",
		    "target", "kind", "thr", "p50_ns", "p99_ns", "p999_ns",
		    "max_us", "B/entry", "entries");
		table_rows(f, c, n, i, false);
	}
	table_footer(f, c, n);
}

/* ------------------------------------------------------------------ */
/* Sampling check */

void
output_sampling_check(
    const struct output_opts *o, const struct cell *c, size_t n)
{
	FILE *f = o->table;
	double sum = 0, worst = 0, csum = 0, cworst = 0;
	unsigned cnt = 0;

	fprintf(f,
	    "\nSampling overhead (each cell in four quarters: sampling "
	    "off, on (1 in %u ops), on, off;\nmedians over the "
	    "repetitions):\n",
	    n ? c[0].rep[0]->w.sample_every : 0);
	fprintf(f, "%-12s %-10s %3s %10s %10s %9s %11s %11s %9s\n", "workload",
	    "target", "thr", "Mops(off)", "Mops(on)", "wall", "ops/cpu-us",
	    "ops/cpu-us", "cpu");
	fprintf(f, "%-12s %-10s %3s %10s %10s %9s %11s %11s %9s\n", "", "", "",
	    "", "", "overhead", "(off)", "(on)", "overhead");
	for (size_t i = 0; i < n; i++) {
		const struct result *r = c[i].rep[0];
		double off =
		    cell_median(&c[i], offsetof(struct result, mops_unsampled));
		double on = c[i].mops.med, ov, oc = 0;
		double coff = cell_median(
		    &c[i], offsetof(struct result, ops_per_cpu_us_off));
		double con = cell_median(
		    &c[i], offsetof(struct result, ops_per_cpu_us_on));

		if (off <= 0)
			continue;
		ov = 100.0 * (off - on) / off;
		if (coff > 0 && con > 0)
			oc = 100.0 * (coff - con) / coff;
		fprintf(f,
		    "%-12s %-10s %3u %10.3f %10.3f %8.1f%% %11.3f %11.3f "
		    "%8.1f%%\n",
		    bench_mix_name(r->w.mix), r->target->name, r->threads, off,
		    on, ov, coff, con, oc);
		sum += ov;
		csum += oc;
		worst = fmax(worst, ov);
		cworst = fmax(cworst, oc);
		cnt++;
	}
	if (cnt > 0)
		fprintf(f,
		    "over %u cells: wall-clock overhead mean %.1f%%, "
		    "worst %.1f%%; CPU-time overhead mean %.1f%%, worst "
		    "%.1f%%\n"
		    "(negative = noise larger than the cost; CPU time leaves "
		    "out the time other processes took the cores)\n",
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

#define MAX_FIELDS 128

struct fields {
	struct field f[MAX_FIELDS];
	size_t n;
	char reps_text[BENCH_MAX_REPS * 16]; /* mops_reps */
};

static void
add(struct fields *b, struct field x)
{
	if (b->n < MAX_FIELDS)
		b->f[b->n++] = x;
}

static void
fs(struct fields *b, const char *nm, const char *v)
{
	add(b, (struct field){.name = nm, .kind = F_STR, .s = v});
}

static void
fb(struct fields *b, const char *nm, bool v)
{
	add(b, (struct field){.name = nm, .kind = F_BOOL, .b = v});
}

static void
fu(struct fields *b, const char *nm, uint64_t v)
{
	add(b, (struct field){.name = nm, .kind = F_U64, .u = v});
}

/* A number; null when `known` is false. */
static void
fd(struct fields *b, const char *nm, double v, int prec, bool known)
{
	add(b,
	    (struct field){.name = nm,
	        .kind = F_NUM,
	        .d = v,
	        .prec = prec,
	        .null = !known});
}

/* The median of a double of struct result at `off`, null when unknown. */
static void
fmed(struct fields *b, const char *nm, const struct cell *c, size_t off,
    int prec)
{
	double v = cell_median(c, off);

	fd(b, nm, v, prec, v >= 0);
}

#define OFF(member) offsetof(struct result, member)
#define OP_OFF(k, member)                                                      \
	(offsetof(struct result, per_op) + (k) * sizeof(struct lat) +          \
	    offsetof(struct lat, member))

static void
fields_per_op(struct fields *b, const struct cell *c)
{
	static const char *const names[OP_COUNT_][5] = {
	    {"load_ops", "load_p50_ns", "load_p99_ns", "load_p999_ns",
	        "load_max_ns"},
	    {"store_ops", "store_p50_ns", "store_p99_ns", "store_p999_ns",
	        "store_max_ns"},
	    {"delete_ops", "delete_p50_ns", "delete_p99_ns", "delete_p999_ns",
	        "delete_max_ns"},
	    {"add_ops", "add_p50_ns", "add_p99_ns", "add_p999_ns",
	        "add_max_ns"},
	};

	for (unsigned k = 0; k < OP_COUNT_; k++) {
		fu(b, names[k][0], median_u64(c, OP_OFF(k, ops)));
		fmed(b, names[k][1], c, OP_OFF(k, p50), 1);
		fmed(b, names[k][2], c, OP_OFF(k, p99), 1);
		fmed(b, names[k][3], c, OP_OFF(k, p999), 1);
		fmed(b, names[k][4], c, OP_OFF(k, max), 1);
	}
}

/* The fields of 1.0, in their places, each the median of the cell. */
static void
fields_1_0(struct fields *b, const struct cell *c)
{
	const struct result *r = c->rep[0];

	fs(b, "backend", r->target->name);
	fb(b, "peer", r->target->peer);
	fs(b, "workload", bench_mix_name(r->w.mix));
	fs(b, "distribution", bench_dist_name(r->w.dist));
	fu(b, "keys", r->w.keys);
	fu(b, "threads", r->threads);
	fu(b, "ops", median_u64(c, OFF(ops)));
	fmed(b, "seconds", c, OFF(seconds), 4);
	fd(b, "mops", c->mops.med, 4, c->mops.n > 0);
	fd(b, "ratio_to_plain", c->ratio_to_plain.med, 4,
	    c->ratio_to_plain.n > 0);
	fd(b, "p50_ns", c->p50.med, 1, c->p50.n > 0);
	fd(b, "p99_ns", c->p99.med, 1, c->p99.n > 0);
	fd(b, "p999_ns", c->p999.med, 1, c->p999.n > 0);
	fd(b, "max_ns", c->max.med, 1, c->max.n > 0);
	fd(b, "bytes_per_entry", c->bytes_per_entry.med, 2,
	    c->bytes_per_entry.n > 0 && c->bytes_per_entry.med > 0);
	fd(b, "score", c->score.med, 4, c->score.n > 0);
	fd(b, "zipf_s", r->w.zipf_s, 3, r->w.dist == DIST_ZIPF);
	fd(b, "write_pct", r->w.write_pct, 2, r->w.mix == MIX_READ_MOSTLY);
	fb(b, "prefill", r->prefill);
	fb(b, "presize", r->presize);
	fu(b, "entries", median_u64(c, OFF(entries)));
	fs(b, "mem_source", r->mem_source ? r->mem_source : "none");
	fmed(b, "rss_bytes_per_entry", c, OFF(rss_bytes_per_entry), 2);
	fmed(b, "heap_bytes_per_entry", c, OFF(heap_bytes_per_entry), 2);
	fu(b, "samples", median_u64(c, OFF(samples)));
	fu(b, "sample_every", r->w.sample_every);
	fs(b, "clock", bench_clock_name());
	fd(b, "timer_overhead_ns", bench_timer_overhead_ns(), 1, true);
	fu(b, "seed", r->w.seed);
	fmed(b, "mops_unsampled", c, OFF(mops_unsampled), 4);
	fields_per_op(b, c);
	/* 1.0: last, so that the columns of 0.x keep their places. */
	fs(b, "options", r->options ? r->options : "");
	/* Appended after 1.0: the floor's ratio, then --batch. */
	fd(b, "ratio_to_floor", c->ratio_to_floor.med, 4,
	    c->ratio_to_floor.n > 0);
	fu(b, "batch", r->w.batch > 1 ? r->w.batch : 1);
}

/* Appended in 1.1: the repetitions and the range of each summarised
 * figure, then every repetition's Mops/s (for error bars and checks). */
static void
fields_spread(struct fields *b, const struct cell *c)
{
	static const char *const names[][2] = {{"mops_min", "mops_max"},
	    {"ratio_to_plain_min", "ratio_to_plain_max"},
	    {"ratio_to_floor_min", "ratio_to_floor_max"},
	    {"p50_ns_min", "p50_ns_max"}, {"p99_ns_min", "p99_ns_max"},
	    {"p999_ns_min", "p999_ns_max"}, {"max_ns_min", "max_ns_max"},
	    {"score_min", "score_max"},
	    {"bytes_per_entry_min", "bytes_per_entry_max"}};
	const struct spread *sp[] = {&c->mops, &c->ratio_to_plain,
	    &c->ratio_to_floor, &c->p50, &c->p99, &c->p999, &c->max, &c->score,
	    &c->bytes_per_entry};
	size_t len = 0;

	fu(b, "repetitions", c->reps);
	for (size_t i = 0; i < sizeof sp / sizeof sp[0]; i++) {
		int prec = i < 3 || i == 7 ? 4 : i == 8 ? 2 : 1;

		fd(b, names[i][0], sp[i]->min, prec, sp[i]->n > 0);
		fd(b, names[i][1], sp[i]->max, prec, sp[i]->n > 0);
	}
	b->reps_text[0] = '\0';
	for (unsigned i = 0; i < c->reps && len + 16 < sizeof b->reps_text; i++)
		len += (size_t)snprintf(b->reps_text + len,
		    sizeof b->reps_text - len, "%s%.4f", i ? " " : "",
		    c->rep[i]->mops);
	fs(b, "mops_reps", b->reps_text);
}

/* Appended in 1.1: the context block, the same on every row of a run. */
static void
fields_context(struct fields *b, const struct bench_context *x)
{
	fs(b, "cpu", x->cpu);
	fu(b, "cores", x->cores);
	fd(b, "load_avg_start", x->load_start, 2, x->load_start >= 0);
	fd(b, "load_avg_end", x->load_end, 2, x->load_end >= 0);
	fs(b, "compiler", x->compiler);
	fs(b, "build_type", x->build_type);
	fs(b, "c_flags", x->cflags);
	fs(b, "libcmap_version", x->version);
	fs(b, "git_revision", x->git);
	fs(b, "kernel", x->kernel);
	fs(b, "date", x->date);
	fs(b, "warmup", x->warmup);
}

/* Appended in 1.1: --advise's profile of the cell (driver.c, THE
 * ADVISOR), null without one; cmap_advise() can be applied to them. */
static void
fields_profile(struct fields *b, const struct cell *c)
{
	const struct result *r = c->rep[0];
	const cmap_profile_t *p = &r->profile;
	const struct {
		const char *name;
		uint64_t v;
	} f[] = {{"profile_threads", p->threads},
	    {"profile_entries", p->entries}, {"profile_calls", p->calls},
	    {"profile_reads", p->reads}, {"profile_deletes", p->deletes},
	    {"profile_inserts", p->inserts},
	    {"profile_load_or_store", p->load_or_store},
	    {"profile_lock_contended", p->lock_contended},
	    {"profile_resizes", p->resizes}, {"profile_samples", p->samples},
	    {"profile_sample_ns", p->sample_ns}};

	for (size_t i = 0; i < sizeof f / sizeof f[0]; i++)
		fd(b, f[i].name, (double)f[i].v, 0, r->profiled);
}

static void
result_fields(
    struct fields *b, const struct cell *c, const struct bench_context *x)
{
	b->n = 0;
	fields_1_0(b, c);
	fields_spread(b, c);
	fields_context(b, x);
	fields_profile(b, c);
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
output_json(const struct output_opts *o, const struct cell *c, size_t n)
{
	static struct fields b; /* large: keep off the stack */
	FILE *f = o->json;

	for (size_t i = 0; i < n; i++) {
		result_fields(&b, &c[i], o->ctx);
		fputc('{', f);
		for (size_t k = 0; k < b.n; k++) {
			fprintf(f, "%s\"%s\":", k ? "," : "", b.f[k].name);
			put_value(f, &b.f[k], true);
		}
		fputs("}\n", f);
	}
	fflush(f);
}

void
output_csv(const struct output_opts *o, const struct cell *c, size_t n)
{
	static struct fields b;
	FILE *f = o->csv;

	if (n == 0)
		return;
	/* The header comes from the field list itself. */
	result_fields(&b, &c[0], o->ctx);
	for (size_t k = 0; k < b.n; k++)
		fprintf(f, "%s%s", k ? "," : "", b.f[k].name);
	fputc('\n', f);
	for (size_t i = 0; i < n; i++) {
		result_fields(&b, &c[i], o->ctx);
		for (size_t k = 0; k < b.n; k++) {
			if (k)
				fputc(',', f);
			put_value(f, &b.f[k], false);
		}
		fputc('\n', f);
	}
	fflush(f);
}
