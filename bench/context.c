/*
 * context.c - what a reader of a result needs to judge it: the machine
 * (processor, cores, kernel), how busy it was when the run started (the
 * load average: on a shared machine the first thing to look at), how
 * cmap-bench was built (compiler, build type, flags, libcmap version, git
 * revision at build time) and when it ran.  Printed above the tables and
 * carried by every JSON and CSV row (output.c), so a row keeps its context
 * when rows of several runs are put together.
 */
#include "bench.h"

#include "cmap.h"

#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "bench_git.h" /* BENCH_GIT_REV, written at build time */

#ifndef BENCH_BUILD_TYPE
#define BENCH_BUILD_TYPE "unknown"
#endif
#ifndef BENCH_C_FLAGS
#define BENCH_C_FLAGS ""
#endif

static void
cpu_model(char *buf, size_t cap)
{
	FILE *f = fopen("/proc/cpuinfo", "r");
	char line[512];

	snprintf(buf, cap, "unknown");
	if (f == NULL)
		return;
	while (fgets(line, sizeof line, f) != NULL) {
		char *colon = strchr(line, ':');

		if (strncmp(line, "model name", 10) != 0 || colon == NULL)
			continue;
		colon += 1 + strspn(colon + 1, " \t");
		colon[strcspn(colon, "\n")] = '\0';
		snprintf(buf, cap, "%s", colon);
		break;
	}
	fclose(f);
}

static void
compiler_name(char *buf, size_t cap)
{
#if defined(__clang__)
	snprintf(buf, cap, "clang %d.%d.%d", __clang_major__, __clang_minor__,
	    __clang_patchlevel__);
#elif defined(__GNUC__)
	snprintf(buf, cap, "gcc %d.%d.%d", __GNUC__, __GNUC_MINOR__,
	    __GNUC_PATCHLEVEL__);
#else
	snprintf(buf, cap, "unknown");
#endif
}

void
context_gather(struct bench_context *c)
{
	struct utsname u;
	double load[1];
	time_t now = time(NULL);
	struct tm tm;
	long cores = sysconf(_SC_NPROCESSORS_ONLN);

	cpu_model(c->cpu, sizeof c->cpu);
	c->cores = cores > 0 ? (unsigned)cores : 0;
	c->load_start = getloadavg(load, 1) == 1 ? load[0] : -1;
	c->load_end = -1;
	compiler_name(c->compiler, sizeof c->compiler);
	snprintf(c->build_type, sizeof c->build_type, "%s",
	    BENCH_BUILD_TYPE[0] ? BENCH_BUILD_TYPE : "none");
	snprintf(c->cflags, sizeof c->cflags, "%s", BENCH_C_FLAGS);
	snprintf(c->version, sizeof c->version, "%s", cmap_version_string());
	snprintf(c->git, sizeof c->git, "%s", BENCH_GIT_REV);
	if (uname(&u) == 0)
		snprintf(c->kernel, sizeof c->kernel, "%.64s %.64s %.64s",
		    u.sysname, u.release, u.machine);
	else
		snprintf(c->kernel, sizeof c->kernel, "unknown");
	gmtime_r(&now, &tm);
	strftime(c->date, sizeof c->date, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

void
context_finish(struct bench_context *c)
{
	double load[1];

	c->load_end = getloadavg(load, 1) == 1 ? load[0] : -1;
}

void
context_print(FILE *f, const struct bench_context *c)
{
	fprintf(f, "cmap-bench %s, git %s, %s, %s build (%s)\n", c->version,
	    c->git, c->compiler, c->build_type, c->cflags);
	fprintf(f, "machine: %s, %u cores, %s\n", c->cpu, c->cores, c->kernel);
	if (c->load_start >= 0)
		fprintf(f, "load average (1 min): %.2f at start, %.2f at end",
		    c->load_start, c->load_end);
	else
		fprintf(f, "load average: unknown");
	fprintf(f, "; started %s\n", c->date);
	fprintf(f, "method: %u repetition%s, interleaved across targets; %s\n",
	    c->reps, c->reps == 1 ? "" : "s", c->warmup);
}

void
context_version_line(FILE *f)
{
	char comp[96];

	compiler_name(comp, sizeof comp);
	fprintf(f, "cmap-bench %s (git %s, %s, %s build)\n",
	    cmap_version_string(), BENCH_GIT_REV, comp,
	    BENCH_BUILD_TYPE[0] ? BENCH_BUILD_TYPE : "none");
}
