/*
 * advise.c - the advisor (cmap.h, ADVICE): a map's metrics digested into
 * a profile, and the pick for a profile: the best backend of the nearest
 * measured workload of a calibration.
 *
 * Front end: it reads a map through the public metrics calls only, and
 * the backends through the registry.  Where the calibration comes from
 * and how well it does: docs/design.md, "The advisor".
 */
#include "internal.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
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

/* ---------------------------------------------------------- calibration
 *
 * A calibration is cmap-bench's matrix, one row per measured workload and
 * thread count: "T:W:D:I:N=backend", rows separated by ';' (cmap.h,
 * ADVICE).  cmap_advise scans the rows once and keeps the nearest to the
 * profile; nothing is stored, so a calibration costs no memory.
 */

/* What a profile and a row are compared on: the thread class ('1' one
 * thread, 'c' up to one per core, 'o' more than the cores), the write,
 * delete and insert shares of the calls, and the entries. */
struct features {
	char t;
	double w, d, i, n;
};

static char
tclass_of(uint32_t threads, uint32_t cores)
{
	return threads <= 1 ? '1' : threads <= cores ? 'c' : 'o';
}

static const char *
tclass_words(char t)
{
	return t == '1' ? "1 thread"
	    : t == 'c'  ? "up to a thread per core"
	                : "more threads than cores";
}

/* log2(1 + n), to within 0.09: the top bit's place plus the linear
 * interpolation below the next (no libm in the library). */
static double
bits_of(double n)
{
	uint64_t x = n >= 1.8e19 ? UINT64_MAX : (uint64_t)n + 1;
	int top = 63 - __builtin_clzll(x);

	return top + ((double)x / (double)(UINT64_C(1) << top) - 1);
}

/* Rows of another thread class count only when none of the profile's is
 * left; within a class: the shares' distances plus a tenth of the
 * distance in powers of two of entries, about a third of a share per
 * decade (10K against 1M: 0.66, as far as churn's share of deletes is
 * from read-mostly's, 0.5 against 0.05, plus their inserts). */
static double
distance(const struct features *r, const struct features *f)
{
	return (r->t != f->t ? 100 : 0) + fabs(r->w - f->w) +
	    fabs(r->d - f->d) + fabs(r->i - f->i) +
	    fabs(bits_of(r->n) - bits_of(f->n)) / 10;
}

static cmap_status_t
bad_row(const char *s, const char *end, const char *why)
{
	int len = end - s > 48 ? 48 : (int)(end - s);

	return cmap__fail(CMAP_EINVAL,
	    "cmap_advise: calibration row '%.*s%s': %s (a row is "
	    "T:W:D:I:N=backend: T 1, c or o; W, D, I shares in [0, 1]; N "
	    "entries)",
	    len, s, len < end - s ? "..." : "", why);
}

/* The row [s, end) into *r and its backend's name into name. */
static cmap_status_t
row_parse(const char *s, const char *end, struct features *r, char *name)
{
	char buf[160];
	int used = -1;

	if ((size_t)(end - s) >= sizeof buf)
		return bad_row(s, end, "too long");
	memcpy(buf, s, (size_t)(end - s));
	buf[end - s] = '\0';
	if (sscanf(buf, "%c:%lf:%lf:%lf:%lf=%31[a-z_]%n", &r->t, &r->w, &r->d,
	        &r->i, &r->n, name, &used) != 6 ||
	    used != end - s)
		return bad_row(s, end, "not T:W:D:I:N=backend");
	if ((r->t != '1' && r->t != 'c' && r->t != 'o') ||
	    !(r->w >= 0 && r->w <= 1 && r->d >= 0 && r->d <= 1 && r->i >= 0 &&
	        r->i <= 1 && r->n >= 0 && r->n <= 1e18))
		return bad_row(s, end, "a value out of range");
	return CMAP_OK;
}

/* The nearest row of `text` to *f whose backend this build has: its
 * features in *best, its backend (the registry's static name) in *pick,
 * its distance in *dist.  EINVAL for a malformed row, or when no row names
 * a backend of this build (rows that name another are skipped: a
 * calibration measured where lmdb was built still serves a build
 * without it). */
static cmap_status_t
nearest(const char *text, const struct features *f, struct features *best,
    const char **pick, double *dist)
{
	*pick = NULL;
	for (;;) {
		const char *end = strchr(text, ';');
		const struct cmap__backend *be;
		struct features r;
		char name[32];
		cmap_status_t st;
		double d;

		if (end == NULL)
			end = text + strlen(text);
		st = row_parse(text, end, &r, name);
		if (st != CMAP_OK)
			return st;
		be = cmap__backend_find(name);
		d = be != NULL ? distance(&r, f) : 0;
		if (be != NULL && (*pick == NULL || d < *dist)) {
			*best = r;
			*pick = be->name;
			*dist = d;
		}
		if (*end == '\0')
			break;
		text = end + 1;
	}
	if (*pick == NULL)
		return cmap__fail(CMAP_EINVAL,
		    "cmap_advise: no calibration row names a backend of this "
		    "build");
	return CMAP_OK;
}

/* Measured by `cmap-bench --preset advise --advise --seed 5` on the
 * 2-core development machine (docs/design.md, "The advisor"): a row per
 * workload and thread count, those with a winner first, a row whose
 * features an earlier one has left out (it could never be picked). */
static const char builtin[] = "1:0.0000:0.0000:0.0000:10000=plain;"
                              "o:0.0000:0.0000:0.0000:10000=rwlock;"
                              "1:0.0000:0.0000:0.0000:1000000=plain;"
                              "c:0.0000:0.0000:0.0000:1000000=lockfree;"
                              "o:0.0000:0.0000:0.0000:1000000=lockfree;"
                              "c:0.0000:0.0000:0.0000:10000=rwlock;"
                              "c:0.0996:0.0492:0.0115:7616=lockfree;"
                              "o:0.1002:0.0500:0.0044:7598=lockfree;"
                              "c:0.1000:0.0499:0.0021:922450=lockfree;"
                              "o:0.0996:0.0497:0.0019:928671=lockfree;"
                              "c:0.1003:0.0500:0.0193:8893=lockfree;"
                              "o:0.1000:0.0497:0.0160:8952=lockfree;"
                              "c:0.1002:0.0501:0.0167:967974=lockfree;"
                              "o:0.1000:0.0500:0.0165:969245=lockfree;"
                              "1:0.4974:0.2496:0.1172:5173=plain;"
                              "c:0.5007:0.2502:0.1158:5146=lockfree;"
                              "o:0.5027:0.2520:0.0865:5190=lockfree;"
                              "c:0.4997:0.2505:0.0283:796009=lockfree;"
                              "o:0.5004:0.2502:0.0285:798282=lockfree;"
                              "c:0.4966:0.2462:0.1131:7146=lockfree;"
                              "o:0.5006:0.2512:0.1025:7132=lockfree;"
                              "c:0.5004:0.2506:0.0933:916608=lockfree;"
                              "o:0.5002:0.2502:0.0934:916375=lockfree;"
                              "1:1.0000:0.5000:0.5000:10000=lockfree;"
                              "c:1.0000:0.5000:0.5000:10000=lockfree;"
                              "o:1.0000:0.5000:0.5000:10000=lockfree;"
                              "c:1.0000:0.5000:0.5000:1000000=sharded;"
                              "o:1.0000:0.5000:0.5000:1000000=sharded;"
                              "1:1.0000:0.5000:0.5000:1000000=lockfree;"
                              "c:1.0000:0.0000:1.0000:10000=sharded;"
                              "1:1.0000:0.0000:1.0000:709171=lockfree;"
                              "c:1.0000:0.0000:1.0000:694560=lockfree;"
                              "o:1.0000:0.0000:1.0000:704600=lockfree;"
                              "1:1.0000:0.0000:0.0000:10000=plain;"
                              "c:1.0000:0.0000:0.0000:10000=lockfree;"
                              "o:1.0000:0.0000:0.0000:10000=lockfree;"
                              "c:1.0000:0.0000:0.0000:1000000=lockfree;"
                              "o:1.0000:0.0000:0.0000:1000000=lockfree;"
                              "1:0.1005:0.0507:0.0122:7557=plain;"
                              "1:0.1000:0.0499:0.0012:954597=lockfree;"
                              "1:0.1020:0.0520:0.0198:8848=plain;"
                              "1:0.0996:0.0499:0.0157:974923=plain;"
                              "1:0.4993:0.2501:0.0199:850069=plain;"
                              "1:0.4999:0.2470:0.1142:7187=lockfree;"
                              "1:0.5006:0.2502:0.0918:924778=plain;"
                              "1:1.0000:0.0000:1.0000:10000=plain;"
                              "1:1.0000:0.0000:0.0000:1000000=lockfree";

/* --------------------------------------------------------------- advice */

static double
share(uint64_t part, uint64_t whole)
{
	return whole > 0 ? (double)part / (double)whole : 0;
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
write_text(
    const cmap_profile_t *p, const struct features *row, cmap_advice_t *a)
{
	uint32_t f = a->findings;

	say(a,
	    "use %s (%u thread%s at once on %u cores, %.1f%% writes, %.1f%% "
	    "deletes, %.1f%% inserts, %llu entries, %llu calls; nearest "
	    "measured workload: %s, %.1f%%, %.1f%%, %.1f%%, %.0f entries, "
	    "distance %.2f)",
	    a->backend, p->threads, p->threads == 1 ? "" : "s", p->cores,
	    100 * a->write_share, 100 * a->delete_share, 100 * a->insert_share,
	    (unsigned long long)p->entries, (unsigned long long)p->calls,
	    tclass_words(row->t), 100 * row->w, 100 * row->d, 100 * row->i,
	    row->n, a->distance);
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
	const cmap_profile_t *p = profile;
	struct features f, row = {0, 0, 0, 0, 0};
	cmap_advice_t a;
	cmap_status_t st;

	if (p == NULL || out == NULL || size == 0)
		return CMAP_EINVAL;
	memset(&a, 0, sizeof a);
	a.write_share =
	    p->calls > p->reads ? share(p->calls - p->reads, p->calls) : 0;
	a.delete_share = share(p->deletes, p->calls);
	a.insert_share = share(p->inserts, p->calls);
	a.load_or_store_miss = p->load_or_store > 0
	    ? share(p->load_or_store_in, p->load_or_store)
	    : -1;
	a.thread_class = tclass_of(p->threads, p->cores);
	f = (struct features){a.thread_class, a.write_share, a.delete_share,
	    a.insert_share, (double)p->entries};
	st = nearest(
	    calibration != NULL && *calibration != '\0' ? calibration : builtin,
	    &f, &row, &a.backend, &a.distance);
	if (st != CMAP_OK)
		return st;
	findings(p, &a);
	write_text(p, &row, &a);
	cmap__copy_sized(out, size, &a, sizeof a);
	return CMAP_OK;
}
