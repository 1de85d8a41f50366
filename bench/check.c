/*
 * check.c - the smoke test of cmap-bench (CTest: bench_smoke).
 *
 *   cmap-bench-check BENCH [ARGS...]
 *
 * Runs BENCH ARGS (which must include --json), then checks that:
 *   - it exits 0 and every line on its stdout is one flat JSON object;
 *   - every object has the documented fields with the right types
 *     (docs/bench.md), latency percentiles are ordered, the score is in
 *     [0, 1], plain runs at one thread only;
 *   - every backend that the library's registry reports available, and
 *     every peer cmap-bench was configured with (BENCH_EXPECTED_PEERS),
 *     appears on every workload, and each thread-safe target ran at the
 *     same set of thread counts;
 *   - invalid flags make BENCH exit non-zero.
 * It asserts nothing about speed.
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

#define MAX_FIELDS 96
#define MAX_ROWS 4096

enum jtype { J_STR, J_NUM, J_BOOL, J_NULL };

struct jfield {
	char name[48];
	enum jtype type;
	char str[64];
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

static const char *
parse_string(const char *p, char *out, size_t cap)
{
	size_t n = 0;

	if (*p != '"')
		return NULL;
	for (p++; *p != '"'; p++) {
		if (*p == '\0' || *p == '\\')
			return NULL; /* cmap-bench never escapes */
		if (n + 1 < cap)
			out[n++] = *p;
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
};

static struct row rows[MAX_ROWS];

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
	if (strcmp(sget(r, "backend"), "plain") == 0 && nget(r, "threads") != 1)
		fail("%s ran at more than one thread", "plain", line);
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

int
main(int argc, char **argv)
{
	static char cmd[8192], line[65536];
	char workloads[8][64];
	int nwork = 0, nrows = 0;
	long lineno = 0;
	FILE *f;
	int st;

	if (argc < 2) {
		fprintf(stderr, "usage: cmap-bench-check BENCH [ARGS...]\n");
		return 2;
	}

	/* 1. Invalid flags fail with a non-zero exit. */
	{
		static const char *const bad[] = {"--no-such-flag",
		    "--threads 0", "--threads 65", "--mix nonsense",
		    "--keys lots", "--backend nonsense", "stray"};

		for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
			snprintf(cmd, sizeof cmd, "'%s' %s >/dev/null 2>&1",
			    argv[1], bad[i]);
			if (exit_code(system(cmd)) <= 0)
				fail("'%s' did not fail", bad[i], 0);
		}
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

		for (int b = 0; b < (int)CMAP_BACKEND_COUNT_; b++) {
			const char *name = cmap_backend_name((cmap_backend_t)b);

			if (!cmap_backend_available((cmap_backend_t)b))
				continue;
			if (!appears(nrows, name, workloads[k])) {
				fail("backend %s missing", name, 0);
				continue;
			}
			if (b == CMAP_BACKEND_PLAIN)
				continue;
			if (ref == 0)
				ref = thread_set(nrows, name, workloads[k]);
			else if (thread_set(nrows, name, workloads[k]) != ref)
				fail("backend %s ran at other thread counts",
				    name, 0);
		}
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
		cmap_backend_t e;
		bool peer = get(&rows[i], "peer")->b;

		if (!peer && cmap_backend_from_name(b, &e) != CMAP_OK)
			fail("'%s' is marked libcmap but the registry does not "
			     "know it",
			    b, 0);
		if (peer && cmap_backend_from_name(b, &e) == CMAP_OK)
			fail(
			    "'%s' is a libcmap backend marked as a peer", b, 0);
	}
	if (failures)
		return 1;
	printf("bench_smoke: %d results, %d workloads, every backend and peer "
	       "present\n",
	    nrows, nwork);
	return 0;
}
