/*
 * names.c - the names of mixes, distributions and operation kinds, and
 * their parsers: apart from workload.c so that the output code links
 * without the worker loop (bench/test_stats.c).
 */
#include "bench.h"

#include <string.h>

static const char *const mix_names[MIX_COUNT_] = {
    [MIX_READ_ONLY] = "read-only",
    [MIX_READ_MOSTLY] = "read-mostly",
    [MIX_BALANCED] = "balanced",
    [MIX_CHURN] = "churn",
    [MIX_GROWTH] = "growth",
    [MIX_COUNTERS] = "counters",
    [MIX_GROW_READ] = "grow-read",
};

static const char *const dist_names[DIST_COUNT_] = {
    [DIST_UNIFORM] = "uniform",
    [DIST_ZIPF] = "zipf",
};

static const char *const op_names[OP_COUNT_] = {
    [OP_LOAD] = "load",
    [OP_STORE] = "store",
    [OP_DELETE] = "delete",
    [OP_ADD] = "add",
};

const char *
bench_mix_name(enum bench_mix mix)
{
	return (unsigned)mix < MIX_COUNT_ ? mix_names[mix] : "?";
}

const char *
bench_dist_name(enum bench_dist dist)
{
	return (unsigned)dist < DIST_COUNT_ ? dist_names[dist] : "?";
}

const char *
bench_op_name(enum bench_op op)
{
	return (unsigned)op < OP_COUNT_ ? op_names[op] : "?";
}

int
bench_mix_parse(const char *s)
{
	for (int i = 0; i < MIX_COUNT_; i++)
		if (strcmp(s, mix_names[i]) == 0)
			return i;
	/* Aliases the issue uses. */
	if (strcmp(s, "write-heavy") == 0)
		return MIX_CHURN;
	if (strcmp(s, "counter") == 0 || strcmp(s, "add") == 0)
		return MIX_COUNTERS;
	return -1;
}

int
bench_dist_parse(const char *s)
{
	for (int i = 0; i < DIST_COUNT_; i++)
		if (strcmp(s, dist_names[i]) == 0)
			return i;
	if (strcmp(s, "zipfian") == 0)
		return DIST_ZIPF;
	return -1;
}
