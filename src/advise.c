/*
 * advise.c - the advisor (cmap.h, ADVICE): a map's metrics digested into
 * a profile, and the decision tree that picks a backend for a profile.
 *
 * Front end: it reads a map through the public metrics calls only, and
 * the backends through the public registry calls.  The tree and why its
 * rules are these: docs/design.md, "The advisor".
 */
#include "internal.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ------------------------------------------------------------ profile */

/* The counts of a profile, which cmap_profile_since subtracts. */
static const size_t counts[] = {
    offsetof(cmap_profile_t, calls),
    offsetof(cmap_profile_t, reads),
    offsetof(cmap_profile_t, deletes),
    offsetof(cmap_profile_t, inserts),
    offsetof(cmap_profile_t, load_or_store),
    offsetof(cmap_profile_t, load_or_store_in),
    offsetof(cmap_profile_t, ranges),
    offsetof(cmap_profile_t, mismatches),
    offsetof(cmap_profile_t, retries),
    offsetof(cmap_profile_t, lock_contended),
    offsetof(cmap_profile_t, lock_wait_ns),
    offsetof(cmap_profile_t, resizes),
    offsetof(cmap_profile_t, samples),
    offsetof(cmap_profile_t, sample_ns),
};

static uint64_t *
count_at(cmap_profile_t *p, size_t i)
{
	return (uint64_t *)(void *)((char *)p + counts[i]);
}

/* Kind k's figures added to *p. */
static void
add_kind(cmap_profile_t *p, cmap_op_t k, const cmap_metrics_op_t *o)
{
	switch (k) {
	case CMAP_OP_RANGE:
		p->ranges += o->ops;
		return;
	case CMAP_OP_CLEAR:
	case CMAP_OP_RESERVE:
	case CMAP_OP_SYNC:
		return; /* whole-map calls: no keys */
	case CMAP_OP_LOAD:
	case CMAP_OP_LOAD_BATCH:
		p->reads += o->keys;
		break;
	case CMAP_OP_LOAD_OR_STORE:
		p->reads += o->ok;
		p->load_or_store += o->keys;
		p->load_or_store_in += o->inserted;
		break;
	case CMAP_OP_DELETE:
	case CMAP_OP_LOAD_AND_DELETE:
	case CMAP_OP_COMPARE_AND_DELETE:
	case CMAP_OP_DELETE_BATCH:
		p->deletes += o->keys;
		break;
	default:
		break;
	}
	p->calls += o->keys;
	p->inserts += o->inserted;
	p->mismatches += o->mismatch;
	p->retries += o->retries;
	p->lock_contended += o->lock_contended;
	p->lock_wait_ns += o->lock_wait_ns;
	p->resizes += o->resizes;
	p->samples += o->samples;
	p->sample_ns += o->sample_ns;
}

cmap_status_t
cmap_profile_sized(cmap_t *map, cmap_profile_t *out, size_t size)
{
	cmap_profile_t p;
	cmap_metrics_t m;
	cmap_backend_info_t bi;
	cmap_status_t st;
	long cores = sysconf(_SC_NPROCESSORS_ONLN);

	if (out == NULL || size == 0)
		return CMAP_EINVAL;
	st = cmap_metrics(map, &m);
	if (st != CMAP_OK)
		return st;
	if (!m.enabled)
		return cmap__fail(CMAP_EINVAL,
		    "cmap_profile: the %s map has no metrics (create it with "
		    "CMAP_FLAG_METRICS or the option metrics=true)",
		    m.backend);
	memset(&p, 0, sizeof p);
	p.backend = m.backend;
	if (cmap_backend_info(m.backend, &bi) == CMAP_OK)
		p.caps = bi.caps;
	p.threads = m.records > UINT32_MAX ? UINT32_MAX : (uint32_t)m.records;
	p.cores = cores > 0 ? (uint32_t)cores : 1;
	p.entries = m.len;
	for (unsigned k = 0; k < CMAP_OP_COUNT_; k++) {
		cmap_metrics_op_t o;

		st = cmap_metrics_op(map, (cmap_op_t)k, &o);
		if (st != CMAP_OK)
			return st;
		add_kind(&p, (cmap_op_t)k, &o);
	}
	cmap__copy_sized(out, size, &p, sizeof p);
	return CMAP_OK;
}

cmap_status_t
cmap_profile_since(cmap_profile_t *now, const cmap_profile_t *then)
{
	cmap_profile_t d;

	if (now == NULL || then == NULL || now->backend == NULL ||
	    then->backend == NULL)
		return CMAP_EINVAL;
	if (strcmp(now->backend, then->backend) != 0)
		return cmap__fail(CMAP_EINVAL,
		    "cmap_profile_since: profiles of two backends (%s, %s)",
		    then->backend, now->backend);
	d = *now;
	for (size_t i = 0; i < sizeof counts / sizeof counts[0]; i++) {
		uint64_t a = *count_at(now, i);
		uint64_t b = *count_at((cmap_profile_t *)(uintptr_t)then, i);

		if (b > a)
			return cmap__fail(CMAP_EINVAL,
			    "cmap_profile_since: 'then' is not older than "
			    "'now' (a count went down)");
		*count_at(&d, i) = a - b;
	}
	d.threads = now->threads > then->threads ? now->threads : then->threads;
	*now = d;
	return CMAP_OK;
}

/* ---------------------------------------------------------- calibration */

/* The thresholds of the tree (cmap.h, ADVICE); a share of -1 turns its
 * rule off. */
struct calib {
	double solo_churn_deletes;
	double solo_growth_inserts;
	double solo_growth_keys;
	double readmostly_writes;
	double rwlock_writes;
	double rwlock_keys;
	double churn_deletes;
	double churn_keys;
};

/* Fitted by `cmap-bench --preset advise --advise --seed 3` on the 2-core
 * development machine and checked on a run with seed 4 (docs/design.md,
 * "The advisor").  The churn rule is off: where a large map churns,
 * sharded won with uniform keys and lockfree with zipfian ones, which a
 * profile cannot tell apart, and lockfree's cells were the more. */
static const struct calib builtin = {0.15, 0.6, 32768, -1, 0, 32768, -1, 0};

static const struct {
	const char *name;
	size_t off;
	double min, max; /* -1 is also allowed where min is 0 and max 1 */
} calib_names[] = {
    {"solo_churn_deletes", offsetof(struct calib, solo_churn_deletes), 0, 1},
    {"solo_growth_inserts", offsetof(struct calib, solo_growth_inserts), 0, 1},
    {"solo_growth_keys", offsetof(struct calib, solo_growth_keys), 0, 1e18},
    {"readmostly_writes", offsetof(struct calib, readmostly_writes), 0, 1},
    {"rwlock_writes", offsetof(struct calib, rwlock_writes), 0, 1},
    {"rwlock_keys", offsetof(struct calib, rwlock_keys), 0, 1e18},
    {"churn_deletes", offsetof(struct calib, churn_deletes), 0, 1},
    {"churn_keys", offsetof(struct calib, churn_keys), 0, 1e18},
};

/* One "name=value" of [s, end) into *c. */
static cmap_status_t
calib_one(struct calib *c, const char *s, const char *end)
{
	const char *eq = memchr(s, '=', (size_t)(end - s));
	char num[64];
	char *stop;
	double v;

	if (eq == NULL)
		return cmap__fail(CMAP_EINVAL,
		    "cmap_advise: calibration: '%.*s' is not name=value",
		    (int)(end - s), s);
	for (size_t i = 0; i < sizeof calib_names / sizeof calib_names[0];
	     i++) {
		if (strlen(calib_names[i].name) != (size_t)(eq - s) ||
		    memcmp(calib_names[i].name, s, (size_t)(eq - s)) != 0)
			continue;
		if ((size_t)(end - eq - 1) >= sizeof num || end == eq + 1)
			break;
		memcpy(num, eq + 1, (size_t)(end - eq - 1));
		num[end - eq - 1] = '\0';
		errno = 0;
		v = strtod(num, &stop);
		if (*stop != '\0' || errno != 0 || !isfinite(v) ||
		    ((v < calib_names[i].min || v > calib_names[i].max) &&
		        !(v == -1 && calib_names[i].max == 1)))
			break;
		*(double *)(void *)((char *)c + calib_names[i].off) = v;
		return CMAP_OK;
	}
	return cmap__fail(CMAP_EINVAL,
	    "cmap_advise: calibration: '%.*s': unknown name or value out of "
	    "range (shares: 0 to 1 or -1; *_keys: 0 to 1e18)",
	    (int)(end - s), s);
}

/* "name=value,..." over the built-in calibration; NULL or "": as is. */
static cmap_status_t
calib_parse(struct calib *c, const char *text)
{
	*c = builtin;
	if (text == NULL || *text == '\0')
		return CMAP_OK;
	for (;;) {
		const char *end = strchr(text, ',');
		cmap_status_t st;

		if (end == NULL)
			end = text + strlen(text);
		st = calib_one(c, text, end);
		if (st != CMAP_OK || *end == '\0')
			return st;
		text = end + 1;
	}
}

/* --------------------------------------------------------------- advice */

static double
share(uint64_t part, uint64_t whole)
{
	return whole > 0 ? (double)part / (double)whole : 0;
}

/* Rule and pick (cmap.h, ADVICE, the tree). */
static void
pick(const cmap_profile_t *p, const struct calib *c, cmap_advice_t *a)
{
	double ins = share(p->inserts, p->calls);

	if (p->threads <= 1) {
		a->backend = "lockfree";
		if (c->solo_churn_deletes >= 0 &&
		    a->delete_share >= c->solo_churn_deletes) {
			a->rule = "one-thread churn";
		} else if (c->solo_growth_inserts >= 0 &&
		    ins >= c->solo_growth_inserts &&
		    (double)p->entries >= c->solo_growth_keys) {
			a->rule = "one-thread growth";
		} else {
			a->backend = "plain";
			a->rule = "one thread";
		}
	} else if (c->readmostly_writes >= 0 &&
	    a->write_share <= c->readmostly_writes) {
		a->backend = "readmostly";
		a->rule = "read-mostly";
	} else if (c->rwlock_writes >= 0 &&
	    a->write_share <= c->rwlock_writes &&
	    (double)p->entries < c->rwlock_keys) {
		a->backend = "rwlock";
		a->rule = "small read-only";
	} else if (c->churn_deletes >= 0 &&
	    a->delete_share >= c->churn_deletes &&
	    (double)p->entries >= c->churn_keys) {
		a->backend = "sharded";
		a->rule = "churn";
	} else {
		a->backend = "lockfree";
		a->rule = "default";
	}
	if (cmap__backend_find(a->backend) == NULL)
		a->backend = "sharded"; /* built without lockfree */
}

/* printf onto the end of a->text (cut to fit). */
static void __attribute__((format(printf, 2, 3)))
say(cmap_advice_t *a, const char *fmt, ...)
{
	size_t len = strlen(a->text);
	va_list ap;

	if (len + 1 >= sizeof a->text)
		return;
	va_start(ap, fmt);
	(void)vsnprintf(a->text + len, sizeof a->text - len, fmt, ap);
	va_end(ap);
}

static void
findings(const cmap_profile_t *p, cmap_advice_t *a)
{
	const uint64_t got = cmap__backend_find(a->backend)->caps;
	uint64_t aside = CMAP_CAP_THREAD_SAFE | CMAP_CAP_PERSISTENT |
	    CMAP_CAP_REMOTE | CMAP_CAP_MISUSE_CHECK;

	if (p->threads <= 1)
		a->findings |= CMAP_FINDING_ONE_THREAD;
	if (a->load_or_store_miss > 0.65)
		a->findings |= CMAP_FINDING_LOAD_OR_STORE_MISSES;
	if (p->calls > 0 && p->lock_contended * 100 >= p->calls)
		a->findings |= CMAP_FINDING_LOCK_WAITS;
	if (p->resizes > 0)
		a->findings |= CMAP_FINDING_RESIZES;
	if (p->retries > 0)
		a->findings |= CMAP_FINDING_RETRIES;
	if (p->calls < 10000)
		a->findings |= CMAP_FINDING_FEW_CALLS;
	if (p->caps & (CMAP_CAP_PERSISTENT | CMAP_CAP_REMOTE))
		a->findings |= CMAP_FINDING_STORAGE;
	/* One thread: linearizable and lock-free by default. */
	if ((got & CMAP_CAP_THREAD_SAFE) == 0)
		aside |= CMAP_CAP_LINEARIZABLE | CMAP_CAP_LOCK_FREE;
	a->lost_caps = p->caps & ~got & ~aside;
	if (a->lost_caps != 0)
		a->findings |= CMAP_FINDING_LOSES_CAPS;
}

static const struct {
	uint64_t cap;
	const char *name;
} cap_names[] = {
    {CMAP_CAP_LOCK_FREE, "lock freedom"},
    {CMAP_CAP_LINEARIZABLE, "linearizability"},
    {CMAP_CAP_UPDATE_ONCE, "update callbacks run once"},
    {CMAP_CAP_LEN_EXACT, "exact len"},
    {CMAP_CAP_RANGE_ONCE, "ranges visiting a key once"},
    {CMAP_CAP_RANGE_SNAPSHOT, "snapshot ranges"},
};

static void
write_text(const cmap_profile_t *p, cmap_advice_t *a)
{
	uint32_t f = a->findings;

	say(a,
	    "use %s (%s rule: %u thread%s at once on %u cores, %.1f%% "
	    "writes, %.1f%% deletes, %llu entries, %llu calls seen)",
	    a->backend, a->rule, p->threads, p->threads == 1 ? "" : "s",
	    p->cores, 100 * a->write_share, 100 * a->delete_share,
	    (unsigned long long)p->entries, (unsigned long long)p->calls);
	if (f & CMAP_FINDING_STORAGE)
		say(a,
		    "; for the same calls in memory: the %s map's disk or "
		    "server is not weighed",
		    p->backend);
	if (f & CMAP_FINDING_LOAD_OR_STORE_MISSES)
		say(a,
		    "; alarm: %.0f%% of load_or_store calls inserted "
		    "(over 65%%)",
		    100 * a->load_or_store_miss);
	if (f & CMAP_FINDING_LOCK_WAITS)
		say(a, "; %.1f%% of calls waited for a lock",
		    100 * share(p->lock_contended, p->calls));
	if (f & CMAP_FINDING_RESIZES)
		say(a, "; %llu resizes: a capacity of %llu avoids them",
		    (unsigned long long)p->resizes,
		    (unsigned long long)p->entries);
	if (f & CMAP_FINDING_RETRIES)
		say(a, "; %llu update callbacks ran again",
		    (unsigned long long)p->retries);
	if (f & CMAP_FINDING_FEW_CALLS)
		say(a, "; few calls: a guess");
	if (f & CMAP_FINDING_LOSES_CAPS) {
		const char *sep = "";

		say(a, "; %s lacks %s's ", a->backend, p->backend);
		for (size_t i = 0; i < sizeof cap_names / sizeof cap_names[0];
		     i++)
			if (a->lost_caps & cap_names[i].cap) {
				say(a, "%s%s", sep, cap_names[i].name);
				sep = ", ";
			}
	}
}

cmap_status_t
cmap_advise_sized(const cmap_profile_t *profile, const char *calibration,
    cmap_advice_t *out, size_t size)
{
	struct calib c;
	cmap_advice_t a;
	cmap_status_t st;

	if (profile == NULL || out == NULL || size == 0)
		return CMAP_EINVAL;
	st = calib_parse(&c, calibration);
	if (st != CMAP_OK)
		return st;
	memset(&a, 0, sizeof a);
	a.write_share = profile->calls > profile->reads
	    ? share(profile->calls - profile->reads, profile->calls)
	    : 0;
	a.delete_share = share(profile->deletes, profile->calls);
	a.load_or_store_miss = profile->load_or_store > 0
	    ? share(profile->load_or_store_in, profile->load_or_store)
	    : -1;
	pick(profile, &c, &a);
	findings(profile, &a);
	write_text(profile, &a);
	cmap__copy_sized(out, size, &a, sizeof a);
	return CMAP_OK;
}
