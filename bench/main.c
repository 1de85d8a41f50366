/*
 * main.c - cmap-bench: command line and presets; the run itself is
 * driver.c's.
 *
 * BATCHES
 *
 * --batch N (1 = off) makes the targets that have batch paths (the
 * libcmap backends) issue runs of up to N consecutive loads, stores or
 * deletes of their streams as one batch call; the others, the floor
 * among them, run the same streams one operation at a time (workload.c,
 * BATCHES).
 *
 * BACKEND OPTIONS
 *
 * --opt NAME=VALUE (repeatable; a NAME given again takes the last VALUE)
 * goes through cmap_config_set() to every selected libcmap backend that
 * declares an option NAME, and to no other.  A NAME no selected backend
 * declares, one of the generic names (backend, capacity, seed: those are
 * --backend, --presize and --seed), or a VALUE the library rejects is a
 * usage error (exit 2), found before anything runs.
 */
#include "bench.h"

#include "cmap.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

static _Noreturn void __attribute__((format(printf, 1, 2)))
usage_error(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "cmap-bench: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry 'cmap-bench --help'.\n");
	exit(2);
}

/* ------------------------------------------------------------------ */
/* Presets */

struct preset {
	const char *name;
	const char *mixes;
	const char *dists;
	const char *keys;
	const char *threads;
	double budget; /* 0 = use seconds */
	double seconds;
	const char *what;
};

static const struct preset presets[] = {
    {"default", "read-mostly,churn", "uniform", "1M", "1,2,8", 80, 0,
        "what runs with no arguments: read-mostly and churn, 1M keys, "
        "1/2/8 threads, ~80 s in all"},
    {"quick", "read-mostly,churn", "uniform", "100K", "1,2", 10, 0,
        "a 10-second look: read-mostly and churn, 100K keys, 1/2 threads"},
    {"smoke", "read-mostly,churn", "uniform", "10K", "1,2", 0, 0.2,
        "the test suite's run: 10K keys, 1/2 threads, 0.2 s per cell"},
    {"full", "read-only,read-mostly,balanced,churn,growth,counters",
        "uniform,zipf", "1M", "1,2,4,8", 900, 0,
        "every mix, both distributions, 1M keys, 1/2/4/8 threads, ~15 min"},
    {"hotkeys", "read-mostly,balanced,counters", "zipf", "1M", "1,2,8", 120, 0,
        "zipfian keys (s=0.99): hot keys and hot shards, ~2 min"},
    {"scaling", "read-mostly,churn", "uniform", "1K,100K,1M,10M", "1,2,8", 240,
        0, "key counts from 1K to 10M (cache to DRAM), ~4 min"},
    {"growth", "growth", "uniform", "1M,10M", "1,2,8", 120, 0,
        "inserts into an empty map (add --presize to compare), ~2 min"},
    {"advise", "read-only,read-mostly,balanced,churn,growth,counters",
        "uniform,zipf", "10K,1M", "1,2,8", 420, 0,
        "the advisor's matrix (use with --advise): every mix but grow-read, "
        "both distributions, 10K/1M keys, 1/2/8 threads, ~7 min"},
    {"oversubscribe", "read-mostly,churn", "uniform", "1M", "1,2,4,8,16,32,64",
        150, 0,
        "more threads than cores, up to 64: lock holders preempted, ~2.5 min"},
};

/* ------------------------------------------------------------------ */
/* Parsing */

static uint64_t
parse_count(const char *flag, const char *s, uint64_t min, uint64_t max)
{
	char *end;
	double v;
	uint64_t mult = 1, r;

	errno = 0;
	v = strtod(s, &end);
	if (end == s || errno != 0 || !isfinite(v) || v < 0)
		usage_error("%s: '%s' is not a count", flag, s);
	switch (*end) {
	case 'k':
	case 'K':
		mult = 1000;
		end++;
		break;
	case 'm':
	case 'M':
		mult = 1000000;
		end++;
		break;
	case 'g':
	case 'G':
		mult = 1000000000;
		end++;
		break;
	default:
		break;
	}
	if (*end != '\0')
		usage_error("%s: '%s' is not a count (digits, optionally "
		            "followed by K, M or G)",
		    flag, s);
	v *= (double)mult;
	if (v != floor(v) || v < (double)min || v > (double)max)
		usage_error("%s: %s is out of range [%llu, %llu]", flag, s,
		    (unsigned long long)min, (unsigned long long)max);
	r = (uint64_t)v;
	return r;
}

static double
parse_real(const char *flag, const char *s, double min, double max)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (end == s || *end != '\0' || errno != 0 || !isfinite(v))
		usage_error("%s: '%s' is not a number", flag, s);
	if (v < min || v > max)
		usage_error(
		    "%s: %s is out of range [%g, %g]", flag, s, min, max);
	return v;
}

/* Split a comma list into at most cap items of a writable copy. */
static size_t
split(const char *flag, const char *s, char *buf, size_t bufsz, char **item,
    size_t cap)
{
	size_t n = 0;
	char *save = NULL, *tok;

	if (strlen(s) >= bufsz)
		usage_error("%s: list too long", flag);
	strcpy(buf, s);
	for (tok = strtok_r(buf, ",", &save); tok != NULL;
	     tok = strtok_r(NULL, ",", &save)) {
		if (n == cap)
			usage_error("%s: at most %zu items", flag, cap);
		item[n++] = tok;
	}
	if (n == 0)
		usage_error("%s: empty list", flag);
	return n;
}

static void
set_mixes(struct options *o, const char *s)
{
	char buf[512], *it[16];
	size_t n = split("--mix", s, buf, sizeof buf, it, 16);

	o->nmixes = 0;
	for (size_t i = 0; i < n; i++) {
		int m = bench_mix_parse(it[i]);

		if (strcmp(it[i], "all") == 0) {
			o->nmixes = 0;
			for (int k = 0; k < MIX_COUNT_; k++)
				o->mixes[o->nmixes++] = (enum bench_mix)k;
			return;
		}
		if (m < 0)
			usage_error("--mix: unknown mix '%s' (read-only, "
			            "read-mostly, balanced, churn, growth, "
			            "counters, all)",
			    it[i]);
		for (size_t k = 0; k < o->nmixes; k++)
			if (o->mixes[k] == (enum bench_mix)m)
				usage_error("--mix: '%s' given twice", it[i]);
		o->mixes[o->nmixes++] = (enum bench_mix)m;
	}
}

static void
set_dists(struct options *o, const char *s)
{
	char buf[128], *it[8];
	size_t n = split("--dist", s, buf, sizeof buf, it, 8);

	o->ndists = 0;
	for (size_t i = 0; i < n; i++) {
		int d = bench_dist_parse(it[i]);

		if (d < 0)
			usage_error(
			    "--dist: unknown distribution '%s' (uniform, "
			    "zipf)",
			    it[i]);
		for (size_t k = 0; k < o->ndists; k++)
			if (o->dists[k] == (enum bench_dist)d)
				usage_error("--dist: '%s' given twice", it[i]);
		o->dists[o->ndists++] = (enum bench_dist)d;
	}
}

static void
set_keys(struct options *o, const char *s)
{
	char buf[512], *it[BENCH_MAX_LIST];
	size_t n = split("--keys", s, buf, sizeof buf, it, BENCH_MAX_LIST);

	o->nkeys = n;
	for (size_t i = 0; i < n; i++)
		o->keys[i] = parse_count("--keys", it[i], 1000, 1000000000);
}

static void
set_threads(struct options *o, const char *s)
{
	char buf[512], *it[BENCH_MAX_LIST];
	size_t n = split("--threads", s, buf, sizeof buf, it, BENCH_MAX_LIST);

	o->nthreads = n;
	for (size_t i = 0; i < n; i++) {
		o->threads[i] = (unsigned)parse_count(
		    "--threads", it[i], 1, BENCH_MAX_THREADS);
		for (size_t k = 0; k < i; k++)
			if (o->threads[k] == o->threads[i])
				usage_error(
				    "--threads: %u given twice", o->threads[i]);
	}
}

static bool
has_target(const struct options *o, const struct target_ops *t)
{
	for (size_t i = 0; i < o->ntargets; i++)
		if (o->targets[i] == t)
			return true;
	return false;
}

/* NAME+metrics, NAME a libcmap backend: its variant joins o->all (once),
 * after every other target. */
static void
add_variant(struct options *o, const char *name)
{
	const char *plus = strrchr(name, '+');
	size_t len = plus != NULL ? (size_t)(plus - name) : 0;

	if (plus == NULL || strcmp(plus, "+metrics") != 0)
		return;
	for (size_t k = 0; k < o->nall; k++)
		if (strcmp(o->all[k]->name, name) == 0)
			return; /* named before */
	for (size_t k = 0; k < o->nall; k++) {
		const struct target_ops *t = o->all[k], *v;

		if (t->peer || t->variant || strlen(t->name) != len ||
		    strncmp(t->name, name, len) != 0)
			continue;
		v = target_metrics_variant(t);
		if (v == NULL || o->nall == BENCH_MAX_TARGETS)
			usage_error(
			    "--backend: too many targets at '%s'", name);
		o->all[o->nall++] = v;
		return;
	}
}

static void
set_backends(struct options *o, const char *s)
{
	char buf[512], *it[32];
	size_t n = split("--backend", s, buf, sizeof buf, it, 32);

	o->ntargets = 0;
	for (size_t i = 0; i < n; i++) {
		bool any = false;

		add_variant(o, it[i]);
		for (size_t k = 0; k < o->nall; k++) {
			const struct target_ops *t = o->all[k];
			bool hit = strcmp(it[i], t->name) == 0 ||
			    (!t->variant &&
			        (strcmp(it[i], "all") == 0 ||
			            (strcmp(it[i], "libcmap") == 0 &&
			                !t->peer) ||
			            (strcmp(it[i], "peers") == 0 && t->peer)));

			if (hit) {
				any = true;
				if (!has_target(o, t))
					o->targets[o->ntargets++] = t;
			}
		}
		if (!any) {
			char names[512] = "";

			for (size_t k = 0; k < o->nall; k++) {
				strcat(names, o->all[k]->name);
				strcat(names, ", ");
			}
			if (strcmp(it[i], "rculfhash") == 0 ||
			    strcmp(it[i], "ck_ht") == 0 ||
			    strcmp(it[i], "glib") == 0)
				usage_error(
				    "--backend: peer '%s' was not found when "
				    "cmap-bench was configured",
				    it[i]);
			usage_error(
			    "--backend: unknown backend '%s' (available: "
			    "%sall, libcmap, peers)",
			    it[i], names);
		}
	}
	/* Keep discovery order whatever order the names came in. */
	{
		const struct target_ops *sorted[BENCH_MAX_TARGETS];
		size_t m = 0;

		for (size_t k = 0; k < o->nall; k++)
			if (has_target(o, o->all[k]))
				sorted[m++] = o->all[k];
		memcpy(o->targets, sorted, m * sizeof sorted[0]);
		o->ntargets = m;
	}
}

/* --opt NAME=VALUE: checked against the backends once all are parsed. */
static void
add_opt(struct options *o, const char *s)
{
	static const char *const generic[][2] = {{"backend", "--backend"},
	    {"capacity", "--presize"}, {"seed", "--seed"}};
	const char *eq = strchr(s, '=');
	size_t nlen = eq != NULL ? (size_t)(eq - s) : 0;
	struct bench_opt *opt = NULL;

	if (eq == NULL || nlen == 0)
		usage_error("--opt: '%s' is not NAME=VALUE", s);
	if (nlen >= BENCH_OPT_NAME)
		usage_error("--opt: option name too long in '%s'", s);
	if (strlen(eq + 1) >= BENCH_OPT_VALUE)
		usage_error("--opt: value too long in '%s'", s);
	for (size_t i = 0; i < sizeof generic / sizeof generic[0]; i++)
		if (strlen(generic[i][0]) == nlen &&
		    strncmp(s, generic[i][0], nlen) == 0)
			usage_error("--opt: '%s' is a generic option, not a "
			            "backend's; use %s",
			    generic[i][0], generic[i][1]);
	for (size_t i = 0; i < o->nopts && opt == NULL; i++)
		if (strlen(o->opts[i].name) == nlen &&
		    strncmp(o->opts[i].name, s, nlen) == 0)
			opt = &o->opts[i]; /* given again: the last wins */
	if (opt == NULL) {
		if (o->nopts == BENCH_MAX_OPTS)
			usage_error(
			    "--opt: at most %d options", BENCH_MAX_OPTS);
		opt = &o->opts[o->nopts++];
	}
	memcpy(opt->name, s, nlen);
	opt->name[nlen] = '\0';
	snprintf(opt->value, sizeof opt->value, "%s", eq + 1);
}

/* Every --opt must be declared by a selected backend, and its value
 * accepted by each backend that declares it. */
static void
check_opts(struct options *o)
{
	for (size_t i = 0; i < o->nopts; i++) {
		bool taken = false;

		for (size_t t = 0; t < o->ntargets; t++)
			taken |=
			    target_takes_option(o->targets[t], o->opts[i].name);
		if (!taken) {
			char known[1024] = "", buf[512];

			for (size_t t = 0; t < o->ntargets; t++) {
				size_t n = strlen(known);

				target_declared_options(
				    o->targets[t], false, buf, sizeof buf);
				if (buf[0] != '\0' && n + 1 < sizeof known)
					snprintf(known + n, sizeof known - n,
					    "%s%s: %s", n ? "; " : "",
					    o->targets[t]->name, buf);
			}
			usage_error("--opt %s=%s: no selected backend declares "
			            "an option '%s' (%s%s)",
			    o->opts[i].name, o->opts[i].value, o->opts[i].name,
			    known[0] ? "options: " : "",
			    known[0] ? known
			             : "the selected backends take no options");
		}
	}
	for (size_t t = 0; t < o->ntargets && o->nopts > 0; t++) {
		const char *err;
		char buf[BENCH_OPTS_TEXT];

		if (target_options_text(o->targets[t], o->opts, o->nopts, buf,
		        sizeof buf)[0] == '\0')
			continue;
		err = target_try_options(o->targets[t], o->opts, o->nopts);
		if (err != NULL)
			usage_error("--opt: %s",
			    err[0] ? err : "rejected by the library");
	}
	for (size_t k = 0; k < o->nall; k++)
		target_options_text(o->all[k], o->opts, o->nopts,
		    o->all_opts[k], sizeof o->all_opts[k]);
}

/* The --opt target t took ("" for none). */
const char *
opts_of(const struct options *o, const struct target_ops *t)
{
	for (size_t k = 0; k < o->nall; k++)
		if (o->all[k] == t)
			return o->all_opts[k];
	return "";
}

/* "shards=64 (sharded), misuse_check=false (plain)"; "" without --opt. */
const char *
opts_summary(const struct options *o, char *buf, size_t cap)
{
	buf[0] = '\0';
	for (size_t i = 0; i < o->nopts; i++) {
		size_t n = strlen(buf);
		bool first = true;

		if (n + 1 >= cap)
			break;
		snprintf(buf + n, cap - n, "%s%s=%s (", i ? ", " : "",
		    o->opts[i].name, o->opts[i].value);
		for (size_t t = 0; t < o->ntargets; t++) {
			if (!target_takes_option(
			        o->targets[t], o->opts[i].name))
				continue;
			n = strlen(buf);
			snprintf(buf + n, cap - n, "%s%s", first ? "" : " ",
			    o->targets[t]->name);
			first = false;
		}
		n = strlen(buf);
		snprintf(buf + n, cap - n, ")");
	}
	return buf;
}

static void
apply_preset(struct options *o, const char *name)
{
	for (size_t i = 0; i < sizeof presets / sizeof presets[0]; i++) {
		const struct preset *p = &presets[i];

		if (strcmp(p->name, name) != 0)
			continue;
		set_mixes(o, p->mixes);
		set_dists(o, p->dists);
		set_keys(o, p->keys);
		set_threads(o, p->threads);
		o->budget = p->budget;
		o->seconds = p->seconds;
		o->preset = p->name;
		return;
	}
	usage_error("--preset: unknown preset '%s' (see --help)", name);
}

static void
help(const struct options *o)
{
	printf(
	    "Usage: cmap-bench [OPTION]...\n"
	    "Measure every libcmap backend and the peer hash tables side by "
	    "side on\n"
	    "this machine, and recommend a backend per workload.  With no "
	    "options it\n"
	    "runs the 'default' preset (about 80 s).\n"
	    "\n"
	    "Selection\n"
	    "  --backend LIST     comma list of targets (default: all).  Also "
	    "'all',\n"
	    "                     'libcmap' (every libcmap backend), 'peers';\n"
	    "                     NAME+metrics: libcmap backend NAME with\n"
	    "                     CMAP_FLAG_METRICS (what metrics cost, in "
	    "the\n"
	    "                     same run).\n"
	    "  --mix LIST         read-only, read-mostly (90%% load/5%% "
	    "store/5%% delete),\n"
	    "                     balanced (50/25/25), churn (delete+insert, "
	    "steady size;\n"
	    "                     alias write-heavy), growth (inserts into an "
	    "empty map),\n"
	    "                     counters (cmap_add), grow-read (one "
	    "thread grows an\n"
	    "                     empty map, the others load: resize "
	    "latency; use\n"
	    "                     --sample 1), or all.\n"
	    "  --dist LIST        uniform, zipf (zipfian: hot keys).\n"
	    "  --zipf-s S         zipf exponent, > 0 (default 0.99).\n"
	    "  --write-pct P      read-mostly's write share in %%, half "
	    "stores, "
	    "half\n"
	    "                     deletes (default 10; 1 gives a 99/1 mix).\n"
	    "  --keys LIST        key counts, 1K..1G, suffixes K M G (default "
	    "1M).\n"
	    "  --threads LIST     thread counts, 1..64, more than the cores "
	    "allowed\n"
	    "                     (default 1,2,8).  Backends that are not "
	    "thread-safe\n"
	    "                     (plain) always run at 1 thread only.\n"
	    "  --preset NAME      a named set of the above (see below); later "
	    "options\n"
	    "                     override it.\n"
	    "\n"
	    "Run length (per cell: one target, workload and thread count)\n"
	    "  --seconds S        run each cell S seconds.\n"
	    "  --ops N            run each cell N operations in all (split "
	    "over threads).\n"
	    "  --budget S         with neither of the above: share S seconds "
	    "among all\n"
	    "                     cells, prefills included (default 80).\n"
	    "  --repetitions N    measure every cell N times (1..99, default "
	    "3),\n"
	    "                     interleaved across targets; each figure is "
	    "the median\n"
	    "                     (min-max) of the N, ratios taken within a "
	    "repetition.\n"
	    "                     Each cell starts with an untimed warm-up "
	    "(docs/bench.md).\n"
	    "\n"
	    "Map set-up\n"
	    "  --prefill          insert the key universe before measuring "
	    "(default;\n"
	    "                     growth always starts empty).\n"
	    "  --no-prefill       start every cell from an empty map.\n"
	    "  --presize          ask for capacity for all keys up front "
	    "(libcmap\n"
	    "                     capacity, rculfhash buckets, ck_ht size; not "
	    "GLib).\n"
	    "  --no-presize       no capacity hint (default).\n"
	    "  --seed N           seed of keys, streams and hashes (default "
	    "1).\n"
	    "  --opt NAME=VALUE   set the backend option NAME (repeatable) on "
	    "every\n"
	    "                     selected libcmap backend that declares it "
	    "(listed under\n"
	    "                     Targets below), e.g. --opt shards=64.  A "
	    "NAME that no\n"
	    "                     selected backend declares is an error; "
	    "backend, capacity\n"
	    "                     and seed are --backend, --presize and "
	    "--seed.\n"
	    "\n"
	    "Measurement\n"
	    "  --sample N         time 1 operation in N (default 128; 0 = no "
	    "latency).\n"
	    "  --batch N          1..1024 (default 1 = off): the libcmap "
	    "backends "
	    "issue runs\n"
	    "                     of up to N consecutive loads, stores or "
	    "deletes as one\n"
	    "                     cmap_*_batch call (a sampled batch counts "
	    "its "
	    "time / N\n"
	    "                     per operation); peers, floor included, still "
	    "run one\n"
	    "                     operation at a time.\n"
	    "  --check-sampling   run every cell as four quarters, timing off, "
	    "on, on,\n"
	    "                     off, and print the throughput cost of the "
	    "sampling.\n"
	    "  --clock NAME       tsc (default when invariant) or gettime.\n"
	    "\n"
	    "Output\n"
	    "  --json[=FILE]      one JSON object per result per line, to FILE "
	    "or to\n"
	    "                     stdout (the table then goes to stderr).\n"
	    "  --csv[=FILE]       the same fields as CSV with a header line.\n"
	    "  --quiet            no progress lines on stderr.\n"
	    "  --no-misuse-check  create maps with CMAP_FLAG_NO_MISUSE_CHECK "
	    "(plain's\n"
	    "                     misuse_check=false: what the detector "
	    "costs).\n"
	    "  --metrics          create maps with CMAP_FLAG_METRICS (what "
	    "recording\n"
	    "                     the metrics costs).\n"
	    "  --advise[=CALIBRATION]\n"
	    "                     after the timed cells, run each libcmap "
	    "backend once more\n"
	    "                     with metrics, ask cmap_advise() which "
	    "backend to use, and\n"
	    "                     compare with the measured best; print the "
	    "calibration this\n"
	    "                     run measured (cmap.h, ADVICE).  Without "
	    "--backend: the\n"
	    "                     in-memory libcmap backends.  Use with "
	    "--preset advise.\n"
	    "  --list             list the targets found and exit.\n"
	    "  --version          the version, git revision and build, and "
	    "exit.\n"
	    "  --help             this text.\n"
	    "\n"
	    "Presets\n");
	for (size_t i = 0; i < sizeof presets / sizeof presets[0]; i++)
		printf("  %-14s %s\n", presets[i].name, presets[i].what);
	printf("\nTargets in this build\n");
	for (size_t i = 0; i < o->nall; i++) {
		char buf[1024];

		printf("  %-14s %s\n", o->all[i]->name, o->all[i]->note);
		if (target_declared_options(
		        o->all[i], true, buf, sizeof buf)[0])
			printf("  %-14s   options: %s\n", "", buf);
	}
	printf(
	    "\n"
	    "Figures, each the median (min-max) over the repetitions: Mops/s; "
	    "ratio to\n"
	    "the baseline's 1-thread Mops/s on the same workload in the same "
	    "repetition\n"
	    "(xbase: the first libcmap backend that is not "
	    "thread-safe, plain)\n"
	    "and to the floor's (xfloor: a minimal single-threaded table with "
	    "no API);\n"
	    "p50/p99/p99.9 latency in ns and max in us from sampled "
	    "operations; bytes per\n"
	    "entry (allocator count for libcmap, resident-set or heap growth "
	    "for peers);\n"
	    "and\n"
	    "  %s\n"
	    "See docs/bench.md.\n",
	    bench_score_formula);
}

enum {
	OPT_BACKEND = 256,
	OPT_MIX,
	OPT_DIST,
	OPT_ZIPF_S,
	OPT_KEYS,
	OPT_THREADS,
	OPT_SECONDS,
	OPT_OPS,
	OPT_BUDGET,
	OPT_PREFILL,
	OPT_NO_PREFILL,
	OPT_PRESIZE,
	OPT_NO_PRESIZE,
	OPT_JSON,
	OPT_CSV,
	OPT_SEED,
	OPT_SAMPLE,
	OPT_BATCH,
	OPT_CHECK_SAMPLING,
	OPT_CLOCK,
	OPT_QUIET,
	OPT_NO_MISUSE_CHECK,
	OPT_METRICS,
	OPT_LIST,
	OPT_HELP,
	OPT_PRESET,
	OPT_OPT,
	OPT_WRITE_PCT,
	OPT_REPETITIONS,
	OPT_VERSION,
	OPT_ADVISE,
};

static const struct option long_opts[] = {
    {"backend", required_argument, NULL, OPT_BACKEND},
    {"mix", required_argument, NULL, OPT_MIX},
    {"dist", required_argument, NULL, OPT_DIST},
    {"zipf-s", required_argument, NULL, OPT_ZIPF_S},
    {"keys", required_argument, NULL, OPT_KEYS},
    {"threads", required_argument, NULL, OPT_THREADS},
    {"seconds", required_argument, NULL, OPT_SECONDS},
    {"ops", required_argument, NULL, OPT_OPS},
    {"budget", required_argument, NULL, OPT_BUDGET},
    {"prefill", no_argument, NULL, OPT_PREFILL},
    {"no-prefill", no_argument, NULL, OPT_NO_PREFILL},
    {"presize", no_argument, NULL, OPT_PRESIZE},
    {"no-presize", no_argument, NULL, OPT_NO_PRESIZE},
    {"json", optional_argument, NULL, OPT_JSON},
    {"csv", optional_argument, NULL, OPT_CSV},
    {"seed", required_argument, NULL, OPT_SEED},
    {"sample", required_argument, NULL, OPT_SAMPLE},
    {"batch", required_argument, NULL, OPT_BATCH},
    {"check-sampling", no_argument, NULL, OPT_CHECK_SAMPLING},
    {"clock", required_argument, NULL, OPT_CLOCK},
    {"quiet", no_argument, NULL, OPT_QUIET},
    {"no-misuse-check", no_argument, NULL, OPT_NO_MISUSE_CHECK},
    {"metrics", no_argument, NULL, OPT_METRICS},
    {"list", no_argument, NULL, OPT_LIST},
    {"help", no_argument, NULL, OPT_HELP},
    {"preset", required_argument, NULL, OPT_PRESET},
    {"opt", required_argument, NULL, OPT_OPT},
    {"write-pct", required_argument, NULL, OPT_WRITE_PCT},
    {"repetitions", required_argument, NULL, OPT_REPETITIONS},
    {"version", no_argument, NULL, OPT_VERSION},
    {"advise", optional_argument, NULL, OPT_ADVISE},
    {NULL, 0, NULL, 0},
};

/* --advise without --backend: the backends the advisor picks from, the
 * in-memory libcmap ones (cmap.h, ADVICE). */
static void
advise_targets(struct options *o)
{
	o->ntargets = 0;
	for (size_t i = 0; i < o->nall; i++)
		if (!o->all[i]->peer &&
		    (o->all[i]->caps &
		        (CMAP_CAP_PERSISTENT | CMAP_CAP_REMOTE)) == 0)
			o->targets[o->ntargets++] = o->all[i];
}

static void
check_calibration(const char *calibration)
{
	cmap_profile_t p = {.backend = "plain", .threads = 1};
	cmap_advice_t a;

	if (cmap_advise(&p, calibration, &a) != CMAP_OK)
		usage_error("--advise: %s", cmap_last_error());
}

static void
parse_args(struct options *o, int argc, char **argv)
{
	bool list = false, want_help = false, backends_given = false;
	const char *preset = "default";
	int c;

	memset(o, 0, sizeof *o);
	o->nall = targets_all(o->all, BENCH_MAX_TARGETS);
	o->zipf_s = 0.99;
	o->write_pct = 10;
	o->prefill = true;
	o->seed = 1;
	o->sample_every = 128;
	o->batch = 1;
	o->reps = 3;
	for (size_t i = 0; i < o->nall; i++)
		o->targets[o->ntargets++] = o->all[i];

	/* Pass 1: the preset, so that every other option overrides it
	 * wherever it stands.  Errors are reported in pass 2. */
	opterr = 0;
	while ((c = getopt_long(argc, argv, "", long_opts, NULL)) != -1)
		if (c == OPT_PRESET)
			preset = optarg;
	apply_preset(o, preset);

	optind = 0; /* glibc: full re-initialisation */
	opterr = 1;
	while ((c = getopt_long(argc, argv, "", long_opts, NULL)) != -1) {
		switch (c) {
		case OPT_BACKEND:
			set_backends(o, optarg);
			backends_given = true;
			break;
		case OPT_MIX:
			set_mixes(o, optarg);
			break;
		case OPT_DIST:
			set_dists(o, optarg);
			break;
		case OPT_ZIPF_S:
			o->zipf_s = parse_real("--zipf-s", optarg, 1e-3, 10);
			break;
		case OPT_WRITE_PCT:
			o->write_pct =
			    parse_real("--write-pct", optarg, 0, 100);
			break;
		case OPT_KEYS:
			set_keys(o, optarg);
			break;
		case OPT_THREADS:
			set_threads(o, optarg);
			break;
		case OPT_SECONDS:
			o->seconds =
			    parse_real("--seconds", optarg, 0.001, 86400);
			o->ops = 0;
			break;
		case OPT_OPS:
			o->ops =
			    parse_count("--ops", optarg, 1, UINT64_C(1) << 50);
			o->seconds = 0;
			break;
		case OPT_BUDGET:
			o->budget = parse_real("--budget", optarg, 0.1, 864000);
			o->seconds = 0;
			o->ops = 0;
			break;
		case OPT_PREFILL:
			o->prefill = true;
			break;
		case OPT_NO_PREFILL:
			o->prefill = false;
			break;
		case OPT_PRESIZE:
			o->presize = true;
			break;
		case OPT_NO_PRESIZE:
			o->presize = false;
			break;
		case OPT_JSON:
			o->json = true;
			o->json_path = optarg;
			break;
		case OPT_CSV:
			o->csv = true;
			o->csv_path = optarg;
			break;
		case OPT_SEED:
			o->seed =
			    parse_count("--seed", optarg, 0, UINT64_C(1) << 53);
			break;
		case OPT_SAMPLE:
			o->sample_every = (unsigned)parse_count(
			    "--sample", optarg, 0, 1u << 20);
			break;
		case OPT_BATCH:
			o->batch = (unsigned)parse_count(
			    "--batch", optarg, 1, BENCH_MAX_BATCH);
			break;
		case OPT_CHECK_SAMPLING:
			o->check_sampling = true;
			break;
		case OPT_CLOCK:
			if (strcmp(optarg, "tsc") == 0)
				o->force_gettime = false;
			else if (strcmp(optarg, "gettime") == 0)
				o->force_gettime = true;
			else
				usage_error(
				    "--clock: '%s' is not tsc or gettime",
				    optarg);
			break;
		case OPT_NO_MISUSE_CHECK:
			o->cmap_flags |= CMAP_FLAG_NO_MISUSE_CHECK;
			break;
		case OPT_METRICS:
			o->cmap_flags |= CMAP_FLAG_METRICS;
			break;
		case OPT_QUIET:
			o->quiet = true;
			break;
		case OPT_LIST:
			list = true;
			break;
		case OPT_HELP:
			want_help = true;
			break;
		case OPT_OPT:
			add_opt(o, optarg);
			break;
		case OPT_REPETITIONS:
			o->reps = (unsigned)parse_count(
			    "--repetitions", optarg, 1, BENCH_MAX_REPS);
			break;
		case OPT_VERSION:
			context_version_line(stdout);
			exit(0);
		case OPT_ADVISE:
			o->advise = true;
			o->calibration = optarg;
			break;
		case OPT_PRESET:
			break; /* pass 1 */
		default:
			/* getopt_long has printed what was wrong. */
			fprintf(stderr, "Try 'cmap-bench --help'.\n");
			exit(2);
		}
	}
	if (optind < argc)
		usage_error("unexpected argument '%s' (options start with --)",
		    argv[optind]);
	if (want_help) {
		help(o);
		exit(0);
	}
	if (list) {
		for (size_t i = 0; i < o->nall; i++) {
			char buf[1024];

			printf("%s\t%s\t%s\t%s\n", o->all[i]->name,
			    o->all[i]->peer ? "peer" : "libcmap",
			    o->all[i]->note,
			    target_declared_options(
			        o->all[i], true, buf, sizeof buf));
		}
		exit(0);
	}
	if (o->json && o->csv && o->json_path == NULL && o->csv_path == NULL)
		usage_error("--json and --csv cannot both write to stdout; "
		            "give one a file (--csv=FILE)");
	if (o->advise && !backends_given)
		advise_targets(o);
	if (o->advise)
		check_calibration(o->calibration);
	if (o->ntargets == 0)
		usage_error("no target selected");
	check_opts(o);
	if (o->check_sampling && o->sample_every == 0)
		usage_error("--check-sampling needs --sample N with N > 0");
	for (size_t i = 0; i < o->nmixes; i++)
		for (size_t k = 0; k < o->nkeys; k++)
			for (size_t t = 0; t < o->nthreads; t++)
				if (o->keys[k] < 4 * (uint64_t)o->threads[t])
					usage_error(
					    "--keys %llu is too few for %u "
					    "threads",
					    (unsigned long long)o->keys[k],
					    o->threads[t]);
}

static FILE *
open_out(const char *path, const char *flag)
{
	FILE *f = fopen(path, "w");

	if (f == NULL) {
		fprintf(stderr, "cmap-bench: %s: cannot write %s: %s\n", flag,
		    path, strerror(errno));
		exit(2);
	}
	return f;
}

int
main(int argc, char **argv)
{
	static struct options o; /* large: keep off the stack */
	struct output_opts out = {stdout, NULL, NULL, false, NULL};
	int suite = bench_persist_main(argc, argv); /* --suite persistent */

	if (suite >= 0)
		return suite;
#if BENCH_HAVE_REMOTE /* --suite remote: its own options (remote.c) */
	suite = bench_remote_main(argc, argv);
	if (suite >= 0)
		return suite;
#endif
	parse_args(&o, argc, argv);
	if (o.json)
		out.json =
		    o.json_path ? open_out(o.json_path, "--json") : stdout;
	if (o.csv)
		out.csv = o.csv_path ? open_out(o.csv_path, "--csv") : stdout;
	if (out.json == stdout || out.csv == stdout)
		out.table = stderr;
	out.check_sampling = o.check_sampling;

	bench_drive(&o, &out);
	if (out.json != NULL && out.json != stdout)
		fclose(out.json);
	if (out.csv != NULL && out.csv != stdout)
		fclose(out.csv);
	return 0;
}
