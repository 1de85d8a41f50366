/*
 * check.c - the smoke test of cmap-bench (CTest: bench_smoke).
 *
 *   cmap-bench-check BENCH [ARGS...]
 *
 * Runs BENCH ARGS (which must include --json), then checks that:
 *   - it exits 0 and every line on its stdout is one flat JSON object;
 *   - every object has the documented fields with the right types
 *     (docs/bench.md), latency percentiles are ordered, the score is in
 *     [0, 1], a backend without CMAP_CAP_THREAD_SAFE runs at one thread
 *     only;
 *   - every object is a summary of its repetitions: "repetitions" equals
 *     the number of figures in "mops_reps", which lie in [mops_min,
 *     mops_max], and min <= median <= max for throughput, ratios, score
 *     and latencies; and it carries the context (cpu, cores, load,
 *     compiler, build, libcmap_version - the library's own -, git
 *     revision, kernel, date), the same on every row;
 *   - --version exits 0 naming the library's version;
 *   - every backend the library's registry lists (cmap_backend_at), and
 *     every peer cmap-bench was configured with (BENCH_EXPECTED_PEERS),
 *     appears on every workload, and each thread-safe target ran at the
 *     same set of thread counts;
 *   - the floor (the built-in peer "floor", the yardstick of
 *     ratio_to_floor) appears on every workload at one thread only, with
 *     ratio_to_floor 1, and every row of a workload has a ratio_to_floor;
 *     rows of a run without --batch say batch 1;
 *   - invalid flags make BENCH exit with status 2, among them --opt with a
 *     generic name, a name no backend declares, and (for each option the
 *     registry describes) a value out of its range or type;
 *   - a short second run with --opt NAME=DEFAULT for every option the
 *     registry describes reports, in each row's "options", exactly the
 *     options its backend declares;
 *   - a short third run with --batch 32 completes, its rows pass the same
 *     checks, say batch 32, and hold every registry backend and the floor.
 * Every decision about a backend comes from the registry (caps, options),
 * none from its name.  It asserts nothing about speed.
 */
#include "cmap.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#ifndef BENCH_EXPECTED_PEERS
#define BENCH_EXPECTED_PEERS ""
#endif

#define MAX_FIELDS 128
#define MAX_ROWS 4096

enum jtype { J_STR, J_NUM, J_BOOL, J_NULL };

struct jfield {
	char name[48];
	enum jtype type;
	char str[128];
	double num;
	bool b;
};

struct row {
	struct jfield f[MAX_FIELDS];
	int n;
};

static int failures;

static void
fail(const char *fmt, const char *a, long line)
{
	fprintf(stderr, "bench_smoke: ");
	fprintf(stderr, fmt, a);
	if (line > 0)
		fprintf(stderr, " (line %ld)", line);
	fprintf(stderr, "\n");
	failures++;
}

static const char *
skip_ws(const char *p)
{
	while (isspace((unsigned char)*p))
		p++;
	return p;
}

/* A JSON string; escapes as cmap-bench writes them (\" \\ \u00XX), and
 * the other one-letter ones. */
static const char *
parse_string(const char *p, char *out, size_t cap)
{
	size_t n = 0;

	if (*p != '"')
		return NULL;
	for (p++; *p != '"'; p++) {
		char c = *p;

		if (c == '\0')
			return NULL;
		if (c == '\\') {
			p++;
			switch (*p) {
			case '"':
			case '\\':
			case '/':
				c = *p;
				break;
			case 'n':
				c = '\n';
				break;
			case 't':
				c = '\t';
				break;
			case 'r':
				c = '\r';
				break;
			case 'b':
				c = '\b';
				break;
			case 'f':
				c = '\f';
				break;
			case 'u': {
				unsigned v = 0;

				for (int i = 1; i <= 4; i++) {
					if (!isxdigit((unsigned char)p[i]))
						return NULL;
					v = v * 16 +
					    (unsigned)(isdigit(
					                   (unsigned char)p[i])
					            ? p[i] - '0'
					            : (tolower((
					                   unsigned char)p[i]) -
					                  'a' + 10));
				}
				if (v > 0x7f)
					return NULL; /* never written */
				c = (char)v;
				p += 4;
				break;
			}
			default:
				return NULL;
			}
		}
		if (n + 1 < cap)
			out[n++] = c;
	}
	out[n] = '\0';
	return p + 1;
}

/* A flat object: {"k":v,...} with v a string, number, true, false, null. */
static bool
parse_row(const char *p, struct row *r)
{
	r->n = 0;
	p = skip_ws(p);
	if (*p++ != '{')
		return false;
	p = skip_ws(p);
	if (*p == '}')
		return *skip_ws(p + 1) == '\0';
	for (;;) {
		struct jfield *f;
		char *end;

		if (r->n == MAX_FIELDS)
			return false;
		f = &r->f[r->n++];
		p = parse_string(skip_ws(p), f->name, sizeof f->name);
		if (p == NULL)
			return false;
		p = skip_ws(p);
		if (*p++ != ':')
			return false;
		p = skip_ws(p);
		if (*p == '"') {
			f->type = J_STR;
			p = parse_string(p, f->str, sizeof f->str);
			if (p == NULL)
				return false;
		} else if (strncmp(p, "true", 4) == 0) {
			f->type = J_BOOL;
			f->b = true;
			p += 4;
		} else if (strncmp(p, "false", 5) == 0) {
			f->type = J_BOOL;
			f->b = false;
			p += 5;
		} else if (strncmp(p, "null", 4) == 0) {
			f->type = J_NULL;
			p += 4;
		} else {
			f->type = J_NUM;
			f->num = strtod(p, &end);
			if (end == p)
				return false;
			p = end;
		}
		p = skip_ws(p);
		if (*p == ',') {
			p++;
			continue;
		}
		if (*p++ != '}')
			return false;
		return *skip_ws(p) == '\0';
	}
}

static const struct jfield *
get(const struct row *r, const char *name)
{
	for (int i = 0; i < r->n; i++)
		if (strcmp(r->f[i].name, name) == 0)
			return &r->f[i];
	return NULL;
}

static const char *
sget(const struct row *r, const char *name)
{
	const struct jfield *f = get(r, name);

	return f != NULL && f->type == J_STR ? f->str : "";
}

static double
nget(const struct row *r, const char *name)
{
	const struct jfield *f = get(r, name);

	return f != NULL && f->type == J_NUM ? f->num : -1;
}

/* Required fields: name and allowed types (bit per enum jtype). */
static const struct {
	const char *name;
	unsigned types;
} required[] = {
    {"backend", 1u << J_STR},
    {"peer", 1u << J_BOOL},
    {"options", 1u << J_STR},
    {"workload", 1u << J_STR},
    {"distribution", 1u << J_STR},
    {"keys", 1u << J_NUM},
    {"threads", 1u << J_NUM},
    {"ops", 1u << J_NUM},
    {"seconds", 1u << J_NUM},
    {"mops", 1u << J_NUM},
    {"ratio_to_plain", 1u << J_NUM | 1u << J_NULL},
    {"p50_ns", 1u << J_NUM | 1u << J_NULL},
    {"p99_ns", 1u << J_NUM | 1u << J_NULL},
    {"p999_ns", 1u << J_NUM | 1u << J_NULL},
    {"max_ns", 1u << J_NUM | 1u << J_NULL},
    {"bytes_per_entry", 1u << J_NUM | 1u << J_NULL},
    {"score", 1u << J_NUM},
    {"ratio_to_floor", 1u << J_NUM | 1u << J_NULL},
    {"batch", 1u << J_NUM},
    {"repetitions", 1u << J_NUM},
    {"mops_min", 1u << J_NUM},
    {"mops_max", 1u << J_NUM},
    {"mops_reps", 1u << J_STR},
    {"cpu", 1u << J_STR},
    {"cores", 1u << J_NUM},
    {"load_avg_start", 1u << J_NUM | 1u << J_NULL},
    {"load_avg_end", 1u << J_NUM | 1u << J_NULL},
    {"compiler", 1u << J_STR},
    {"build_type", 1u << J_STR},
    {"c_flags", 1u << J_STR},
    {"libcmap_version", 1u << J_STR},
    {"git_revision", 1u << J_STR},
    {"kernel", 1u << J_STR},
    {"date", 1u << J_STR},
    {"warmup", 1u << J_STR},
};

/* Figures summarised as median, _min and _max. */
static const char *const spread_fields[] = {"mops", "ratio_to_plain",
    "ratio_to_floor", "p50_ns", "p99_ns", "p999_ns", "max_ns", "score",
    "bytes_per_entry"};

/* The context fields: the same on every row of a run. */
static const char *const context_fields[] = {"cpu", "compiler", "build_type",
    "c_flags", "libcmap_version", "git_revision", "kernel", "date", "warmup"};

/* The built-in peer that is the yardstick of ratio_to_floor. */
#define FLOOR_NAME "floor"

static struct row rows[MAX_ROWS];

/* True when the registry has a backend `name` that the in-memory run
 * measures (disk and server backends have their own --suite); its caps in
 * *caps. */
static bool
lib_backend(const char *name, uint64_t *caps)
{
	cmap_backend_info_t info;

	if (!cmap_backend_available(name) ||
	    cmap_is_error(cmap_backend_info(name, &info)) ||
	    (info.caps & (CMAP_CAP_PERSISTENT | CMAP_CAP_REMOTE)))
		return false;
	*caps = info.caps;
	return true;
}

/* True when the backend `name` declares an option `opt`. */
static bool
declares(const char *name, const char *opt)
{
	cmap_backend_info_t info;
	cmap_option_info_t o;

	if (cmap_is_error(cmap_backend_info(name, &info)))
		return false;
	for (size_t i = 0; i < info.n_options; i++)
		if (!cmap_is_error(cmap_backend_option(name, i, &o)) &&
		    strcmp(o.name, opt) == 0)
			return true;
	return false;
}

/* min <= median <= max wherever the median is known, and the
 * repetitions' Mops/s in [mops_min, mops_max]. */
static void
check_spreads(const struct row *r, long line)
{
	char name[64];
	const char *b = sget(r, "backend");
	const char *p = sget(r, "mops_reps");
	int reps = 0;

	for (size_t i = 0; i < sizeof spread_fields / sizeof spread_fields[0];
	     i++) {
		const struct jfield *m = get(r, spread_fields[i]), *lo, *hi;

		snprintf(name, sizeof name, "%s_min", spread_fields[i]);
		lo = get(r, name);
		snprintf(name, sizeof name, "%s_max", spread_fields[i]);
		hi = get(r, name);
		if (lo == NULL || hi == NULL) {
			fail("field %s_min or _max missing", spread_fields[i],
			    line);
			continue;
		}
		if (m == NULL || m->type != J_NUM)
			continue;
		if (lo->type != J_NUM || hi->type != J_NUM ||
		    !(lo->num <= m->num && m->num <= hi->num))
			fail("%s: a median outside its min-max", b, line);
	}
	for (char *end; *p != '\0'; p = end, reps++) {
		double v = strtod(p, &end);

		if (end == p) {
			fail("%s: mops_reps is not a list of numbers", b, line);
			return;
		}
		if (v < nget(r, "mops_min") - 1e-4 ||
		    v > nget(r, "mops_max") + 1e-4)
			fail("%s: a repetition outside mops_min-max", b, line);
	}
	if (reps < 1 || reps != (int)nget(r, "repetitions"))
		fail("%s: repetitions does not match mops_reps", b, line);
}

/* The context is there, the library's own version, and the same on
 * every row (compared with the first row, *first). */
static void
check_context(const struct row *r, const struct row *first, long line)
{
	if (sget(r, "cpu")[0] == '\0' || nget(r, "cores") < 1 ||
	    sget(r, "compiler")[0] == '\0' || sget(r, "kernel")[0] == '\0' ||
	    sget(r, "date")[0] == '\0' || sget(r, "git_revision")[0] == '\0')
		fail("%s: an empty context field", sget(r, "backend"), line);
	if (strcmp(sget(r, "libcmap_version"), cmap_version_string()) != 0)
		fail("libcmap_version is not the library's (%s)",
		    cmap_version_string(), line);
	for (size_t i = 0; i < sizeof context_fields / sizeof context_fields[0];
	     i++)
		if (strcmp(sget(r, context_fields[i]),
		        sget(first, context_fields[i])) != 0)
			fail("context field %s differs between rows",
			    context_fields[i], line);
}

static void
check_row(const struct row *r, long line)
{
	const struct jfield *f;
	double p[4];
	const char *q[4] = {"p50_ns", "p99_ns", "p999_ns", "max_ns"};
	bool have_p = true;

	for (size_t i = 0; i < sizeof required / sizeof required[0]; i++) {
		f = get(r, required[i].name);
		if (f == NULL)
			fail("field %s missing", required[i].name, line);
		else if (!(required[i].types & (1u << f->type)))
			fail("field %s has the wrong type", required[i].name,
			    line);
	}
	if (failures)
		return;
	if (nget(r, "threads") < 1 || nget(r, "keys") < 1)
		fail("%s: threads or keys below 1", sget(r, "backend"), line);
	if (nget(r, "ops") < 1 || nget(r, "seconds") <= 0 ||
	    nget(r, "mops") <= 0)
		fail("%s: no operations measured", sget(r, "backend"), line);
	f = get(r, "score");
	if (f->num < 0 || f->num > 1.0001)
		fail("%s: score outside [0, 1]", sget(r, "backend"), line);
	for (int i = 0; i < 4; i++) {
		f = get(r, q[i]);
		have_p &= f->type == J_NUM;
		p[i] = f->num;
	}
	if (have_p && !(p[0] <= p[1] && p[1] <= p[2] && p[2] <= p[3]))
		fail("%s: percentiles out of order", sget(r, "backend"), line);
	if (nget(r, "batch") < 1 || nget(r, "batch") > 1024)
		fail("%s: batch outside [1, 1024]", sget(r, "backend"), line);
	check_spreads(r, line);
	if (strcmp(sget(r, "backend"), FLOOR_NAME) == 0) {
		if (!get(r, "peer")->b)
			fail("%s is not marked as a peer", FLOOR_NAME, line);
		if (nget(r, "threads") != 1)
			fail(
			    "%s ran at more than one thread", FLOOR_NAME, line);
		f = get(r, "ratio_to_floor");
		if (f->type != J_NUM || f->num < 0.999 || f->num > 1.001)
			fail("%s: ratio_to_floor is not 1", FLOOR_NAME, line);
	}
	{
		uint64_t caps;

		if (!get(r, "peer")->b &&
		    lib_backend(sget(r, "backend"), &caps) &&
		    !(caps & CMAP_CAP_THREAD_SAFE) && nget(r, "threads") != 1)
			fail("%s is not thread-safe but ran at more than one "
			     "thread",
			    sget(r, "backend"), line);
	}
}

static bool
appears(int nrows, const char *backend, const char *workload)
{
	for (int i = 0; i < nrows; i++)
		if (strcmp(sget(&rows[i], "backend"), backend) == 0 &&
		    strcmp(sget(&rows[i], "workload"), workload) == 0)
			return true;
	return false;
}

/* The thread counts a target ran at, as a bit set. */
static unsigned long long
thread_set(int nrows, const char *backend, const char *workload)
{
	unsigned long long s = 0;

	for (int i = 0; i < nrows; i++)
		if (strcmp(sget(&rows[i], "backend"), backend) == 0 &&
		    strcmp(sget(&rows[i], "workload"), workload) == 0)
			s |= 1ull << ((unsigned)nget(&rows[i], "threads") & 63);
	return s;
}

static void
append_quoted(char *cmd, size_t cap, const char *arg)
{
	size_t n = strlen(cmd);

	if (n + 1 < cap)
		cmd[n++] = ' ';
	if (n + 1 < cap)
		cmd[n++] = '\'';
	for (; *arg && n + 5 < cap; arg++) {
		if (*arg == '\'') {
			memcpy(cmd + n, "'\\''", 4);
			n += 4;
		} else {
			cmd[n++] = *arg;
		}
	}
	if (n + 1 < cap)
		cmd[n++] = '\'';
	cmd[n] = '\0';
}

static int
exit_code(int status)
{
	return status != -1 && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* BENCH ARGS (already quoted where needed) must exit with status 2. */
static void
expect_usage_error(const char *bench, const char *args)
{
	static char cmd[4096];

	snprintf(cmd, sizeof cmd, "'%s' %s >/dev/null 2>&1", bench, args);
	if (exit_code(system(cmd)) != 2)
		fail("'%s' did not exit with status 2", args, 0);
}

/* --version: exit 0, one line naming the library's version. */
static void
check_version(const char *bench)
{
	static char cmd[4096], line[512];
	FILE *f;

	snprintf(cmd, sizeof cmd, "'%s' --version", bench);
	f = popen(cmd, "r");
	if (f == NULL || fgets(line, sizeof line, f) == NULL)
		line[0] = '\0';
	if (f != NULL && exit_code(pclose(f)) != 0)
		fail("%s", "--version did not exit with status 0", 0);
	if (strncmp(line, "cmap-bench ", 11) != 0 ||
	    strstr(line, cmap_version_string()) == NULL)
		fail("--version does not name libcmap %s",
		    cmap_version_string(), 0);
}

/* For every option the registry describes: a value it must reject. */
static void
check_bad_option_values(const char *bench)
{
	const char *b;
	char args[512];

	for (size_t i = 0; (b = cmap_backend_at(i)) != NULL; i++) {
		cmap_backend_info_t info;
		cmap_option_info_t o;
		uint64_t caps;

		if (!lib_backend(b, &caps) ||
		    cmap_is_error(cmap_backend_info(b, &info)))
			continue;
		for (size_t k = 0; k < info.n_options; k++) {
			if (cmap_is_error(cmap_backend_option(b, k, &o)))
				continue;
			if (o.type == CMAP_OPTION_UINT && o.max < UINT64_MAX)
				snprintf(args, sizeof args,
				    "--backend '%s' --opt '%s=%llu'", b, o.name,
				    (unsigned long long)o.max + 1);
			else if (o.type == CMAP_OPTION_BOOL)
				snprintf(args, sizeof args,
				    "--backend '%s' --opt '%s=maybe'", b,
				    o.name);
			else
				continue;
			expect_usage_error(bench, args);
		}
	}
}

/* Run BENCH briefly with every option of the registry set to its default,
 * and check that each row shows exactly the options its backend declares
 * (in the order given).  Returns the rows read, or -1. */
static int
check_option_run(const char *bench)
{
	static char cmd[8192], line[65536];
	struct {
		const char *name, *value;
	} set[32];
	size_t nset = 0;
	const char *b;
	int nrows = 0;
	long lineno = 0;
	FILE *f;

	for (size_t i = 0; (b = cmap_backend_at(i)) != NULL; i++) {
		cmap_backend_info_t info;
		cmap_option_info_t o;
		uint64_t caps;

		if (!lib_backend(b, &caps) ||
		    cmap_is_error(cmap_backend_info(b, &info)))
			continue;
		for (size_t k = 0; k < info.n_options && nset < 32; k++) {
			size_t j;

			if (cmap_is_error(cmap_backend_option(b, k, &o)) ||
			    o.default_value == NULL)
				continue;
			for (j = 0; j < nset && strcmp(set[j].name, o.name);
			     j++)
				;
			if (j == nset) {
				set[nset].name = o.name;
				set[nset++].value = o.default_value;
			}
		}
	}
	if (nset == 0)
		return 0; /* no backend takes an option */
	snprintf(cmd, sizeof cmd,
	    "'%s' --seconds 0.05 --keys 1000 --threads 1 --mix read-mostly "
	    "--dist uniform --backend libcmap --repetitions 1 --json --quiet",
	    bench);
	for (size_t j = 0; j < nset; j++) {
		char arg[512];

		snprintf(
		    arg, sizeof arg, "--opt=%s=%s", set[j].name, set[j].value);
		append_quoted(cmd, sizeof cmd, arg);
	}
	f = popen(cmd, "r");
	if (f == NULL) {
		perror("popen");
		return -1;
	}
	while (fgets(line, sizeof line, f) != NULL && nrows < MAX_ROWS) {
		size_t len = strlen(line);
		char want[512] = "";
		const char *name;

		lineno++;
		if (len > 0 && line[len - 1] == '\n')
			line[--len] = '\0';
		if (!parse_row(line, &rows[nrows])) {
			fail("--opt run: not a flat JSON object: %.80s", line,
			    lineno);
			continue;
		}
		name = sget(&rows[nrows], "backend");
		for (size_t j = 0; j < nset; j++) {
			size_t n = strlen(want);

			if (declares(name, set[j].name))
				snprintf(want + n, sizeof want - n, "%s%s=%s",
				    n ? " " : "", set[j].name, set[j].value);
		}
		if (strcmp(sget(&rows[nrows], "options"), want) != 0)
			fail("--opt run: %s: wrong \"options\"", name, lineno);
		nrows++;
	}
	if (exit_code(pclose(f)) != 0)
		fail("%s", "the --opt run exited with a failure", 0);
	if (nrows == 0)
		fail("%s", "the --opt run wrote no JSON lines", 0);
	return nrows;
}

/* A short run with --batch 32: it must complete, and its rows pass
 * check_row, say batch 32, and hold every registry backend and the floor.
 * Returns the rows read, or -1. */
static int
check_batch_run(const char *bench)
{
	static char cmd[4096], line[65536];
	int nrows = 0;
	long lineno = 0;
	const char *name;
	FILE *f;

	snprintf(cmd, sizeof cmd,
	    "'%s' --seconds 0.05 --keys 10000 --threads 1,2 --mix "
	    "read-only,read-mostly --dist uniform --backend libcmap,%s "
	    "--batch 32 --repetitions 2 --json --quiet",
	    bench, FLOOR_NAME);
	f = popen(cmd, "r");
	if (f == NULL) {
		perror("popen");
		return -1;
	}
	while (fgets(line, sizeof line, f) != NULL && nrows < MAX_ROWS) {
		size_t len = strlen(line);

		lineno++;
		if (len > 0 && line[len - 1] == '\n')
			line[--len] = '\0';
		if (!parse_row(line, &rows[nrows])) {
			fail("--batch run: not a flat JSON object: %.80s", line,
			    lineno);
			continue;
		}
		check_row(&rows[nrows], lineno);
		if (nget(&rows[nrows], "batch") != 32)
			fail("--batch run: %s: batch is not 32",
			    sget(&rows[nrows], "backend"), lineno);
		nrows++;
	}
	if (exit_code(pclose(f)) != 0)
		fail("%s", "the --batch 32 run exited with a failure", 0);
	if (nrows == 0)
		fail("%s", "the --batch 32 run wrote no JSON lines", 0);
	for (size_t b = 0; (name = cmap_backend_at(b)) != NULL; b++) {
		uint64_t caps;

		if (lib_backend(name, &caps) &&
		    !appears(nrows, name, "read-mostly"))
			fail("--batch run: backend %s missing", name, 0);
	}
	if (!appears(nrows, FLOOR_NAME, "read-mostly"))
		fail("--batch run: %s missing", FLOOR_NAME, 0);
	return nrows;
}

int
main(int argc, char **argv)
{
	static char cmd[8192], line[65536];
	char workloads[8][sizeof rows[0].f[0].str];
	int nwork = 0, nrows = 0;
	long lineno = 0;
	FILE *f;
	int st;

	if (argc < 2) {
		fprintf(stderr, "usage: cmap-bench-check BENCH [ARGS...]\n");
		return 2;
	}

	/* 1. Invalid flags fail with status 2. */
	{
		static const char *const bad[] = {"--no-such-flag",
		    "--threads 0", "--threads 65", "--mix nonsense",
		    "--keys lots", "--backend nonsense", "stray", "--opt",
		    "--opt shards", "--opt =1", "--opt backend=plain",
		    "--opt capacity=10", "--opt seed=1",
		    "--opt no_backend_declares_this=1",
		    "--backend peers --opt no_backend_declares_this=1",
		    "--batch 0", "--batch 1025", "--batch many",
		    "--repetitions 0", "--repetitions 100", "--repetitions x"};

		for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
			expect_usage_error(argv[1], bad[i]);
		check_bad_option_values(argv[1]);
		check_version(argv[1]);
	}

	/* 2. The run itself. */
	cmd[0] = '\0';
	for (int i = 1; i < argc; i++)
		append_quoted(cmd, sizeof cmd, argv[i]);
	f = popen(cmd, "r");
	if (f == NULL) {
		perror("popen");
		return 1;
	}
	while (fgets(line, sizeof line, f) != NULL) {
		size_t len = strlen(line);

		lineno++;
		if (len > 0 && line[len - 1] == '\n')
			line[--len] = '\0';
		if (nrows == MAX_ROWS) {
			fail("%s", "too many lines", lineno);
			break;
		}
		if (!parse_row(line, &rows[nrows])) {
			fail("not a flat JSON object: %.80s", line, lineno);
			continue;
		}
		check_row(&rows[nrows], lineno);
		check_context(&rows[nrows], &rows[0], lineno);
		if (failures)
			break;
		nrows++;
	}
	st = pclose(f);
	if (exit_code(st) != 0)
		fail("%s exited with a failure", argv[1], 0);
	if (nrows == 0)
		fail("%s", "no JSON lines (was --json given?)", 0);
	if (failures)
		return 1;

	/* 3. Every backend and peer on every workload. */
	for (int i = 0; i < nrows; i++) {
		const char *w = sget(&rows[i], "workload");
		int k;

		for (k = 0; k < nwork && strcmp(workloads[k], w) != 0; k++)
			;
		if (k == nwork && nwork < 8)
			snprintf(
			    workloads[nwork++], sizeof workloads[0], "%s", w);
	}
	for (int k = 0; k < nwork; k++) {
		unsigned long long ref = 0;
		char peers[256], *save = NULL, *tok;

		const char *name;

		for (size_t b = 0; (name = cmap_backend_at(b)) != NULL; b++) {
			uint64_t caps;

			if (!lib_backend(name, &caps))
				continue;
			if (!appears(nrows, name, workloads[k])) {
				fail("backend %s missing", name, 0);
				continue;
			}
			if (!(caps & CMAP_CAP_THREAD_SAFE))
				continue; /* at one thread only */
			if (ref == 0)
				ref = thread_set(nrows, name, workloads[k]);
			else if (thread_set(nrows, name, workloads[k]) != ref)
				fail("backend %s ran at other thread counts",
				    name, 0);
		}
		if (!appears(nrows, FLOOR_NAME, workloads[k]))
			fail("peer %s missing", FLOOR_NAME, 0);
		snprintf(peers, sizeof peers, "%s", BENCH_EXPECTED_PEERS);
		for (tok = strtok_r(peers, ",", &save); tok != NULL;
		     tok = strtok_r(NULL, ",", &save)) {
			if (!appears(nrows, tok, workloads[k]))
				fail("peer %s missing", tok, 0);
			else if (ref != 0 &&
			    thread_set(nrows, tok, workloads[k]) != ref)
				fail("peer %s ran at other thread counts", tok,
				    0);
		}
	}
	for (int i = 0; i < nrows; i++) {
		const char *b = sget(&rows[i], "backend");
		uint64_t caps;
		bool peer = get(&rows[i], "peer")->b;

		if (!peer && !lib_backend(b, &caps))
			fail("'%s' is marked libcmap but the registry does not "
			     "know it",
			    b, 0);
		if (peer && lib_backend(b, &caps))
			fail(
			    "'%s' is a libcmap backend marked as a peer", b, 0);
		if (appears(nrows, FLOOR_NAME, sget(&rows[i], "workload")) &&
		    get(&rows[i], "ratio_to_floor")->type != J_NUM)
			fail("%s: ratio_to_floor is null although the floor "
			     "ran",
			    b, 0);
		if (nget(&rows[i], "batch") != 1)
			fail("%s: batch is not 1 without --batch", b, 0);
	}
	if (failures)
		return 1;

	/* 4. --opt reaches exactly the backends that declare the option.
	 * 5. --batch 32 runs and says so. */
	{
		int n = check_option_run(argv[1]), nb;

		if (failures || n < 0)
			return 1;
		nb = check_batch_run(argv[1]);
		if (failures || nb < 0)
			return 1;
		printf("bench_smoke: %d results, %d workloads, every backend "
		       "and peer present (floor included); --opt run: %d "
		       "results; --batch 32 run: %d results\n",
		    nrows, nwork, n, nb);
	}
	return 0;
}
