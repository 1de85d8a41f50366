/*
 * metrics_expose.c - the metrics of any number of maps as Prometheus text
 * (cmap.h, cmap_metrics_expose and cmap_metrics_text).  It reads each map
 * through the snapshots of metrics.c (cmap__metrics_get and _op_get), as
 * a caller of cmap_metrics would, and never takes a lock.
 */
#include "internal.h"
#include "metrics.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* The result label of each index of cmap__mop.res. */
static const char *const res_name[5] = {
    "ok", "not_found", "error", "mismatch", "inserted"};

/* ---------------------------------------------------------------------
 * The Prometheus text format (0.0.4)
 * ------------------------------------------------------------------- */

/* A buffered writer: text goes to fn in pieces of up to sizeof buf. */
struct w {
	cmap_metrics_write_fn fn;
	void *ctx;
	bool failed;
	size_t len;
	char buf[4096];
};

static void
w_flush(struct w *w)
{
	if (!w->failed && w->len > 0 && w->fn(w->ctx, w->buf, w->len) != 0)
		w->failed = true;
	w->len = 0;
}

static void
w_put(struct w *w, const char *s, size_t n)
{
	while (n > 0) {
		size_t k = sizeof w->buf - w->len;

		if (k == 0) {
			w_flush(w);
			continue;
		}
		if (k > n)
			k = n;
		memcpy(w->buf + w->len, s, k);
		w->len += k;
		s += k;
		n -= k;
	}
}

static void
w_str(struct w *w, const char *s)
{
	w_put(w, s, strlen(s));
}

static void
w_u64(struct w *w, uint64_t v)
{
	char t[24];
	int n = snprintf(t, sizeof t, "%llu", (unsigned long long)v);

	w_put(w, t, (size_t)n);
}

/* Nanoseconds as exact decimal seconds ("0.000000032", "2"). */
static void
w_seconds(struct w *w, uint64_t ns)
{
	char t[48];
	int n = snprintf(t, sizeof t, "%llu.%09llu",
	    (unsigned long long)(ns / 1000000000u),
	    (unsigned long long)(ns % 1000000000u));

	while (t[n - 1] == '0')
		n--;
	if (t[n - 1] == '.')
		n--;
	w_put(w, t, (size_t)n);
}

/* A label value, escaped: backslash, double quote and newline. */
static void
w_escaped(struct w *w, const char *s)
{
	for (; *s != '\0'; s++) {
		if (*s == '\\')
			w_str(w, "\\\\");
		else if (*s == '"')
			w_str(w, "\\\"");
		else if (*s == '\n')
			w_str(w, "\\n");
		else
			w_put(w, s, 1);
	}
}

static void
w_family(struct w *w, const char *name, const char *type, const char *help)
{
	w_str(w, "# HELP ");
	w_str(w, name);
	w_str(w, " ");
	w_str(w, help);
	w_str(w, "\n# TYPE ");
	w_str(w, name);
	w_str(w, " ");
	w_str(w, type);
	w_str(w, "\n");
}

/* name{impl_type="..",shard_count="..",<caller's>[,op=".."][,extra]}  */
static void
w_series(struct w *w, const char *name, const cmap_metrics_source_t *src,
    const char *op, const char *extra_name, const char *extra_value)
{
	w_str(w, name);
	w_str(w, "{impl_type=\"");
	w_escaped(w, src->map->be->name);
	w_str(w, "\",shard_count=\"");
	w_u64(w, src->map->shards);
	w_str(w, "\"");
	for (size_t i = 0; i < src->n_labels; i++) {
		w_str(w, ",");
		w_str(w, src->labels[i].name);
		w_str(w, "=\"");
		w_escaped(w, src->labels[i].value);
		w_str(w, "\"");
	}
	if (op != NULL) {
		w_str(w, ",op=\"");
		w_str(w, op);
		w_str(w, "\"");
	}
	if (extra_name != NULL) {
		w_str(w, ",");
		w_str(w, extra_name);
		w_str(w, "=\"");
		w_str(w, extra_value);
		w_str(w, "\"");
	}
	w_str(w, "} ");
}

static bool
label_name_ok(const char *s)
{
	static const char *const reserved[] = {
	    "impl_type", "shard_count", "op", "result", "le"};

	if (s == NULL ||
	    !((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
	        *s == '_'))
		return false;
	if (s[0] == '_' && s[1] == '_')
		return false;
	for (const char *p = s + 1; *p != '\0'; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		        (*p >= '0' && *p <= '9') || *p == '_'))
			return false;
	for (size_t i = 0; i < sizeof reserved / sizeof reserved[0]; i++)
		if (strcmp(s, reserved[i]) == 0)
			return false;
	return true;
}

/* The value of label `name` in src, or NULL. */
static const char *
label_of(const cmap_metrics_source_t *src, const char *name)
{
	for (size_t i = 0; i < src->n_labels; i++)
		if (strcmp(src->labels[i].name, name) == 0)
			return src->labels[i].value;
	return NULL;
}

/* Same backend, shard count and labels: their series would collide. */
static bool
same_series(const cmap_metrics_source_t *a, const cmap_metrics_source_t *b)
{
	if (a->map->be != b->map->be || a->map->shards != b->map->shards ||
	    a->n_labels != b->n_labels)
		return false;
	for (size_t i = 0; i < a->n_labels; i++) {
		const char *v = label_of(b, a->labels[i].name);

		if (v == NULL || strcmp(v, a->labels[i].value) != 0)
			return false;
	}
	return true;
}

static cmap_status_t
check_sources(const cmap_metrics_source_t *maps, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const cmap_metrics_source_t *s = &maps[i];

		if (s->map == NULL || (s->n_labels > 0 && s->labels == NULL))
			return cmap__fail(CMAP_EINVAL,
			    "cmap_metrics_expose: map %zu is NULL, or its "
			    "labels are",
			    i);
		for (size_t j = 0; j < s->n_labels; j++) {
			const cmap_metrics_label_t *l = &s->labels[j];

			if (!label_name_ok(l->name) || l->value == NULL)
				return cmap__fail(CMAP_EINVAL,
				    "cmap_metrics_expose: map %zu: label '%s' "
				    "is not allowed (or its value is NULL)",
				    i, l->name != NULL ? l->name : "(null)");
			for (size_t k = 0; k < j; k++)
				if (strcmp(s->labels[k].name, l->name) == 0)
					return cmap__fail(CMAP_EINVAL,
					    "cmap_metrics_expose: map %zu: "
					    "label '%s' given twice",
					    i, l->name);
		}
		for (size_t k = 0; k < i; k++)
			if (same_series(&maps[k], s))
				return cmap__fail(CMAP_EINVAL,
				    "cmap_metrics_expose: maps %zu and %zu "
				    "have the same backend, shard count and "
				    "labels: add a label that tells them "
				    "apart",
				    k, i);
	}
	return CMAP_OK;
}

/* Per-kind counter families: which field, and for which kinds. */
enum fam_kind { F_HIST, F_RESULTS, F_BATCH, F_U64, F_SECONDS };

static const struct fam {
	const char *name, *type, *help;
	enum fam_kind kind;
	size_t field; /* offsetof in cmap_metrics_op_t (F_U64, F_SECONDS) */
	int only_op;  /* -1: every kind */
} fams[] = {
    {"map_operation_duration_seconds", "histogram",
        "Latency of the sampled calls (1 in metrics_sample per thread).",
        F_HIST, 0, -1},
    {"map_operations_total", "counter",
        "Keys operated on, by kind of call and result.", F_RESULTS, 0, -1},
    {"map_batch_calls_total", "counter", "Batch calls.", F_BATCH, 0, -1},
    {"map_update_retries_total", "counter",
        "Update callbacks run again after a lost race.", F_U64,
        offsetof(cmap_metrics_op_t, retries), CMAP_OP_UPDATE},
    {"map_lock_contended_total", "counter",
        "Lock acquisitions that had to wait.", F_U64,
        offsetof(cmap_metrics_op_t, lock_contended), -1},
    {"map_lock_wait_seconds_total", "counter", "Time spent waiting for locks.",
        F_SECONDS, offsetof(cmap_metrics_op_t, lock_wait_ns), -1},
    {"map_resizes_total", "counter", "Resizes (migrations) started.", F_U64,
        offsetof(cmap_metrics_op_t, resizes), -1},
    {"map_migration_seconds_total", "counter",
        "Time spent moving entries for resizes.", F_SECONDS,
        offsetof(cmap_metrics_op_t, migrate_ns), -1},
};
#define N_FAMS (sizeof fams / sizeof fams[0])

/* The exported histogram bounds: 2^k ns for k = 5, 7, ..., 31 (each the
 * upper bound of internal bucket 4k - 12). */
#define LE_FIRST 5u
#define LE_LAST 31u

static void
w_hist(struct w *w, const cmap_metrics_source_t *src, const char *op,
    const cmap_metrics_op_t *o)
{
	uint64_t cum = 0;
	unsigned b = 0;

	for (unsigned k = LE_FIRST; k <= LE_LAST; k += 2) {
		char le[48];

		for (; b <= 4 * k - 12; b++)
			cum += o->buckets[b];
		{
			/* the bound as decimal seconds */
			uint64_t ns = UINT64_C(1) << k;
			int n = snprintf(le, sizeof le, "%llu.%09llu",
			    (unsigned long long)(ns / 1000000000u),
			    (unsigned long long)(ns % 1000000000u));

			while (le[n - 1] == '0')
				le[--n] = '\0';
			if (le[n - 1] == '.')
				le[--n] = '\0';
		}
		w_series(w, "map_operation_duration_seconds_bucket", src, op,
		    "le", le);
		w_u64(w, cum);
		w_str(w, "\n");
	}
	w_series(
	    w, "map_operation_duration_seconds_bucket", src, op, "le", "+Inf");
	w_u64(w, o->samples);
	w_str(w, "\n");
	w_series(w, "map_operation_duration_seconds_sum", src, op, NULL, NULL);
	w_seconds(w, o->sample_ns);
	w_str(w, "\n");
	w_series(
	    w, "map_operation_duration_seconds_count", src, op, NULL, NULL);
	w_u64(w, o->samples);
	w_str(w, "\n");
}

static void
w_op_family(struct w *w, const struct fam *f, const cmap_metrics_source_t *src,
    unsigned k, const cmap_metrics_op_t *o)
{
	const char *op = cmap__op_info[k].name;
	uint64_t res[5];

	if (f->only_op >= 0 && (unsigned)f->only_op != k)
		return;
	switch (f->kind) {
	case F_HIST:
		w_hist(w, src, op, o);
		return;
	case F_RESULTS:
		res[0] = o->ok;
		res[1] = o->not_found;
		res[2] = o->errors;
		res[3] = o->mismatch;
		res[4] = o->inserted;
		for (unsigned j = 0; j < 5; j++) {
			/* ok, inserted, not_found, mismatch, error */
			static const unsigned order[5] = {0, 4, 1, 3, 2};
			unsigned i = order[j];

			if (cmap__op_info[k].results & (1u << i)) {
				w_series(w, "map_operations_total", src, op,
				    "result", res_name[i]);
				w_u64(w, res[i]);
				w_str(w, "\n");
			}
		}
		return;
	case F_BATCH:
		if (!cmap__op_info[k].batch)
			return;
		w_series(w, "map_batch_calls_total", src, op, NULL, NULL);
		w_u64(w, o->ops);
		w_str(w, "\n");
		return;
	case F_U64:
	case F_SECONDS: {
		uint64_t v;

		memcpy(&v, (const char *)o + f->field, sizeof v);
		w_series(w, f->name, src, op, NULL, NULL);
		if (f->kind == F_U64)
			w_u64(w, v);
		else
			w_seconds(w, v);
		w_str(w, "\n");
		return;
	}
	}
}

/* Whether family f has a series for maps[0..n) (so that no family is
 * announced without samples). */
static bool
fam_used(const struct fam *f, size_t n, const uint64_t *ops)
{
	for (size_t i = 0; i < n; i++)
		for (unsigned k = 0; k < CMAP_OP_COUNT_; k++)
			if (ops[i * CMAP_OP_COUNT_ + k] != 0 &&
			    (f->only_op < 0 || (unsigned)f->only_op == k) &&
			    (f->kind != F_BATCH || cmap__op_info[k].batch))
				return true;
	return false;
}

static void
w_gauge(struct w *w, const char *name, const char *type, const char *help,
    const cmap_metrics_source_t *maps, size_t n, const cmap_metrics_t *m,
    size_t field, bool all)
{
	bool any = false;

	for (size_t i = 0; i < n; i++)
		any = any || all || m[i].enabled;
	if (!any)
		return;
	w_family(w, name, type, help);
	for (size_t i = 0; i < n; i++) {
		uint64_t v;

		if (!all && !m[i].enabled)
			continue;
		memcpy(&v, (const char *)&m[i] + field, sizeof v);
		w_series(w, name, &maps[i], NULL, NULL, NULL);
		w_u64(w, v);
		w_str(w, "\n");
	}
}

/*
 * The exposition: family by family, map by map.  The map figures and the
 * call count of every kind are summed once, up front (past 16 maps into
 * scratch memory from the first map's allocator); each family then sums
 * the kinds it writes again, so two families may show a map a few calls
 * apart while calls run.
 */
cmap_status_t
cmap_metrics_expose(const cmap_metrics_source_t *maps, size_t n,
    cmap_metrics_write_fn fn, void *ctx)
{
	struct w w;
	cmap_metrics_t mm[16], *m = mm;
	uint64_t opsbuf[16 * CMAP_OP_COUNT_], *ops = opsbuf;
	const cmap_allocator_t *a = NULL;
	cmap_metrics_op_t o;
	cmap_status_t st;

	if ((maps == NULL && n > 0) || fn == NULL)
		return cmap__fail(
		    CMAP_EINVAL, "cmap_metrics_expose: NULL maps or writer");
	if ((st = check_sources(maps, n)) != CMAP_OK)
		return st;
	if (n > 16) {
		/* Scratch for many maps, from the first one's allocator. */
		a = &maps[0].map->allocator;
		m = cmap__alloc(a, n * sizeof *m, CMAP_CACHE_LINE);
		ops = cmap__alloc(
		    a, n * CMAP_OP_COUNT_ * sizeof *ops, CMAP_CACHE_LINE);
		if (m == NULL || ops == NULL) {
			cmap__free(a, m, n * sizeof *m);
			cmap__free(a, ops, n * CMAP_OP_COUNT_ * sizeof *ops);
			return cmap__fail(CMAP_ENOMEM,
			    "cmap_metrics_expose: out of memory for %zu maps",
			    n);
		}
	}
	w.fn = fn;
	w.ctx = ctx;
	w.failed = false;
	w.len = 0;
	for (size_t i = 0; i < n; i++) {
		(void)cmap__metrics_get(maps[i].map, &m[i], sizeof m[i]);
		for (unsigned k = 0; k < CMAP_OP_COUNT_; k++) {
			(void)cmap__metrics_op_get(
			    maps[i].map, (cmap_op_t)k, &o, sizeof o);
			ops[i * CMAP_OP_COUNT_ + k] = o.ops;
		}
	}
	for (size_t f = 0; f < N_FAMS; f++) {
		if (!fam_used(&fams[f], n, ops))
			continue;
		w_family(&w, fams[f].name, fams[f].type, fams[f].help);
		for (size_t i = 0; i < n; i++)
			for (unsigned k = 0; k < CMAP_OP_COUNT_; k++) {
				if (ops[i * CMAP_OP_COUNT_ + k] == 0)
					continue;
				(void)cmap__metrics_op_get(
				    maps[i].map, (cmap_op_t)k, &o, sizeof o);
				w_op_family(&w, &fams[f], &maps[i], k, &o);
			}
	}
	w_gauge(&w, "map_entries", "gauge", "Entries in the map.", maps, n, m,
	    offsetof(cmap_metrics_t, len), true);
	w_gauge(&w, "map_bytes", "gauge",
	    "Bytes the map holds from its allocator.", maps, n, m,
	    offsetof(cmap_metrics_t, bytes), false);
	w_gauge(&w, "map_threads", "gauge",
	    "Threads holding a metrics record in the map.", maps, n, m,
	    offsetof(cmap_metrics_t, threads), false);
	w_gauge(&w, "map_metrics_dropped_total", "counter",
	    "Calls (or samples) not recorded for lack of memory.", maps, n, m,
	    offsetof(cmap_metrics_t, dropped), false);
	w_flush(&w);
	if (m != mm) {
		cmap__free(a, m, n * sizeof *m);
		cmap__free(a, ops, n * CMAP_OP_COUNT_ * sizeof *ops);
	}
	return w.failed ? CMAP_EIO : CMAP_OK;
}

/* cmap_metrics_text's writer: into the buffer, counting all. */
struct textbuf {
	char *buf;
	size_t size, len;
};

static int
text_write(void *ctx, const char *s, size_t n)
{
	struct textbuf *t = ctx;

	if (t->size > 0 && t->len < t->size - 1) {
		size_t k = t->size - 1 - t->len;

		memcpy(t->buf + t->len, s, k < n ? k : n);
	}
	t->len += n;
	return 0;
}

cmap_status_t
cmap_metrics_text(const cmap_metrics_source_t *maps, size_t n, char *buf,
    size_t size, size_t *length)
{
	struct textbuf t = {buf, size, 0};
	cmap_status_t st;

	if (buf == NULL && size > 0)
		return cmap__fail(
		    CMAP_EINVAL, "cmap_metrics_text: NULL buf with size > 0");
	st = cmap_metrics_expose(maps, n, text_write, &t);
	if (st != CMAP_OK)
		return st;
	if (size > 0)
		buf[t.len < size ? t.len : size - 1] = '\0';
	if (length != NULL)
		*length = t.len;
	return CMAP_OK;
}
