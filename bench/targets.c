/*
 * targets.c - the libcmap backends as benchmark targets.
 *
 * Backends are discovered only through the public registry: every name
 * cmap_backend_at(i) gives, described by cmap_backend_info().  A backend
 * added to the library (the lockfree one, for instance) is measured
 * without any change here, and every decision about a backend is taken
 * from its capabilities, never from its name: one without
 * CMAP_CAP_THREAD_SAFE runs at one thread only, and the first such backend
 * in registry order is the baseline of the ratios.
 *
 * OPTIONS
 *
 * Each --opt NAME=VALUE goes through cmap_config_set() to every backend
 * that declares an option NAME (cmap_backend_option()), and to no other:
 * the library would reject an option a backend does not take.
 *
 * BATCHES
 *
 * Every backend gets the batch paths (load_batch, store_batch, del_batch)
 * through cmap_load_batch, cmap_store_batch and cmap_delete_batch, which
 * every backend implements (looping over the single-key calls where it has
 * no batch path of its own); --batch N decides whether the worker uses
 * them (workload.c, BATCHES).
 *
 * MEMORY
 *
 * Every map gets a counting allocator through cmap_config_t.allocator.
 * Counts are kept per thread, each thread on its own cache line and
 * written by that thread alone (a relaxed load and store, no locked
 * instruction), so the accounting adds no shared-line traffic to a backend
 * that allocates per operation; the sum over the slots is the live byte
 * count.  Threads the benchmark did not tag (slot 0: the main thread, or
 * any helper thread a backend might start) share slot 0 with atomic adds.
 * A block freed by another thread than the one that allocated it makes
 * the two slots drift in opposite directions; only the sum means anything.
 */
#include "bench.h"

#include "cmap.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

struct count_slot {
	_Alignas(BENCH_CACHE_LINE) atomic_llong bytes;
};

static struct count_slot slots[BENCH_MAX_THREADS + 1];
static _Thread_local unsigned my_slot;

void
counting_set_thread_slot(unsigned slot)
{
	my_slot = slot <= BENCH_MAX_THREADS ? slot : 0;
}

int64_t
counting_live_bytes(void)
{
	int64_t sum = 0;

	for (unsigned i = 0; i <= BENCH_MAX_THREADS; i++)
		sum +=
		    atomic_load_explicit(&slots[i].bytes, memory_order_relaxed);
	return sum;
}

static inline void
count_bytes(int64_t delta)
{
	unsigned s = my_slot;

	if (s == 0) {
		atomic_fetch_add_explicit(
		    &slots[0].bytes, delta, memory_order_relaxed);
	} else {
		/* Single writer: this thread owns slot s. */
		long long v =
		    atomic_load_explicit(&slots[s].bytes, memory_order_relaxed);

		atomic_store_explicit(
		    &slots[s].bytes, v + delta, memory_order_relaxed);
	}
}

static void *
counting_alloc(void *ctx, size_t size, size_t align)
{
	void *p = NULL;

	(void)ctx;
	if (align <= _Alignof(max_align_t)) {
		p = malloc(size);
	} else if (posix_memalign(&p, align, size) != 0) {
		p = NULL;
	}
	if (p != NULL)
		count_bytes((int64_t)size);
	return p;
}

static void
counting_free(void *ctx, void *ptr, size_t size)
{
	(void)ctx;
	count_bytes(-(int64_t)size);
	free(ptr);
}

void *
counting_zalloc(size_t size)
{
	void *p = counting_alloc(NULL, size, BENCH_CACHE_LINE);

	if (p != NULL)
		memset(p, 0, size);
	return p;
}

void
counting_free_sized(void *ptr, size_t size)
{
	if (ptr != NULL)
		counting_free(NULL, ptr, size);
}

/* ------------------------------------------------------------------ */

static void *
lib_create(const struct target_ops *self, const struct target_config *cfg)
{
	cmap_config_t c;
	cmap_t *m = NULL;
	cmap_status_t st;

	cmap_config_init(&c);
	c.backend = self->backend;
	c.capacity = cfg->presize ? (size_t)cfg->keys : 0;
	c.seed = cfg->seed;
	c.flags = cfg->flags | self->cmap_flags;
	c.allocator.alloc = counting_alloc;
	c.allocator.free = counting_free;
	c.allocator.ctx = NULL;
	for (size_t i = 0; i < cfg->nopts; i++) {
		const struct bench_opt *o = &cfg->opts[i];

		if (!target_takes_option(self, o->name))
			continue;
		st = cmap_config_set(&c, o->name, o->value);
		if (cmap_is_error(st)) {
			fprintf(stderr, "cmap-bench: %s: --opt %s=%s: %s\n",
			    self->name, o->name, o->value, cmap_last_error());
			return NULL;
		}
	}
	st = cmap_create(&c, &m);
	if (cmap_is_error(st)) {
		fprintf(stderr, "cmap-bench: cmap_create(%s): %s: %s\n",
		    self->name, cmap_strerror(st), cmap_last_error());
		return NULL;
	}
	return m;
}

static void
lib_destroy(void *map)
{
	cmap_destroy(map);
}

static void
lib_nothing(void *map)
{
	(void)map;
}

static _Noreturn void
lib_fail(const char *what, cmap_status_t st)
{
	fprintf(stderr, "cmap-bench: %s failed: %s\n", what, cmap_strerror(st));
	exit(3);
}

static bool
lib_load(void *map, uint64_t key, uint64_t *value)
{
	cmap_status_t st = cmap_load(map, key, value);

	if (__builtin_expect(cmap_is_error(st), 0))
		lib_fail("cmap_load", st);
	return st == CMAP_OK;
}

static void
lib_store(void *map, uint64_t key, uint64_t value)
{
	cmap_status_t st = cmap_store(map, key, value);

	if (__builtin_expect(cmap_is_error(st), 0))
		lib_fail("cmap_store", st);
}

static bool
lib_del(void *map, uint64_t key)
{
	cmap_status_t st = cmap_delete(map, key);

	if (__builtin_expect(cmap_is_error(st), 0))
		lib_fail("cmap_delete", st);
	return st == CMAP_OK;
}

static void
lib_add(void *map, uint64_t key, uint64_t delta)
{
	cmap_status_t st = cmap_add(map, key, delta, NULL);

	if (__builtin_expect(cmap_is_error(st), 0))
		lib_fail("cmap_add", st);
}

/* Batches (--batch): the library's batch calls, whose per-key statuses
 * are what the single-key calls return. */
static uint64_t
lib_load_batch(void *map, size_t n, const uint64_t *keys, uint64_t *values)
{
	cmap_status_t st[BENCH_MAX_BATCH];
	cmap_status_t r = cmap_load_batch(map, n, keys, values, st);
	uint64_t found = 0;

	if (__builtin_expect(cmap_is_error(r), 0))
		lib_fail("cmap_load_batch", r);
	for (size_t i = 0; i < n; i++)
		found += st[i] == CMAP_OK;
	return found;
}

static void
lib_store_batch(
    void *map, size_t n, const uint64_t *keys, const uint64_t *values)
{
	cmap_status_t st[BENCH_MAX_BATCH];
	cmap_status_t r = cmap_store_batch(map, n, keys, values, st);

	if (__builtin_expect(cmap_is_error(r), 0))
		lib_fail("cmap_store_batch", r);
}

static uint64_t
lib_del_batch(void *map, size_t n, const uint64_t *keys)
{
	cmap_status_t st[BENCH_MAX_BATCH];
	cmap_status_t r = cmap_delete_batch(map, n, keys, st);
	uint64_t found = 0;

	if (__builtin_expect(cmap_is_error(r), 0))
		lib_fail("cmap_delete_batch", r);
	for (size_t i = 0; i < n; i++)
		found += st[i] == CMAP_OK;
	return found;
}

static uint64_t
lib_len(void *map)
{
	return cmap_len(map);
}

static int64_t
lib_bytes(void *map)
{
	(void)map;
	/* One map exists at a time, so the allocator's total is this map's. */
	return counting_live_bytes();
}

static struct target_ops lib_targets[BENCH_MAX_TARGETS];
static char lib_notes[BENCH_MAX_TARGETS][256];

bool
target_takes_option(const struct target_ops *t, const char *name)
{
	cmap_backend_info_t info;
	cmap_option_info_t opt;

	if (t->peer || cmap_is_error(cmap_backend_info(t->backend, &info)))
		return false;
	for (size_t i = 0; i < info.n_options; i++)
		if (!cmap_is_error(cmap_backend_option(t->backend, i, &opt)) &&
		    strcmp(opt.name, name) == 0)
			return true;
	return false;
}

/* Append to buf[cap] (always NUL-terminated, truncated when full). */
static void append(char *buf, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
append(char *buf, size_t cap, const char *fmt, ...)
{
	size_t n = strlen(buf);
	va_list ap;

	if (n + 1 >= cap)
		return;
	va_start(ap, fmt);
	vsnprintf(buf + n, cap - n, fmt, ap);
	va_end(ap);
}

char *
target_options_text(const struct target_ops *t, const struct bench_opt *opts,
    size_t nopts, char *buf, size_t cap)
{
	buf[0] = '\0';
	for (size_t i = 0; i < nopts; i++)
		if (target_takes_option(t, opts[i].name))
			append(buf, cap, "%s%s=%s", buf[0] ? " " : "",
			    opts[i].name, opts[i].value);
	return buf;
}

char *
target_declared_options(
    const struct target_ops *t, bool full, char *buf, size_t cap)
{
	static const char *const types[] = {"bool", "uint", "string"};
	cmap_backend_info_t info;
	cmap_option_info_t opt;

	buf[0] = '\0';
	if (t->peer || cmap_is_error(cmap_backend_info(t->backend, &info)))
		return buf;
	for (size_t i = 0; i < info.n_options; i++) {
		if (cmap_is_error(cmap_backend_option(t->backend, i, &opt)))
			continue;
		if (!full) {
			append(buf, cap, "%s%s", buf[0] ? ", " : "", opt.name);
			continue;
		}
		append(buf, cap, "%s%s (%s", buf[0] ? "; " : "", opt.name,
		    (unsigned)opt.type < 3 ? types[opt.type] : "?");
		if (opt.type == CMAP_OPTION_UINT)
			append(buf, cap, "%s in [%llu, %llu]",
			    opt.flags & CMAP_OPTION_POW2 ? ", power of two"
			                                 : "",
			    (unsigned long long)opt.min,
			    (unsigned long long)opt.max);
		if (opt.default_value != NULL)
			append(buf, cap, ", default %s", opt.default_value);
		else
			append(buf, cap, ", required");
		append(buf, cap, ")%s%s", opt.doc ? ": " : "",
		    opt.doc ? opt.doc : "");
	}
	return buf;
}

const char *
target_try_options(
    const struct target_ops *t, const struct bench_opt *opts, size_t nopts)
{
	cmap_config_t c;
	cmap_t *m = NULL;

	cmap_config_init(&c);
	c.backend = t->name;
	for (size_t i = 0; i < nopts; i++)
		if (target_takes_option(t, opts[i].name) &&
		    cmap_is_error(
		        cmap_config_set(&c, opts[i].name, opts[i].value)))
			return cmap_last_error();
	if (cmap_is_error(cmap_create(&c, &m)))
		return cmap_last_error();
	cmap_destroy(m);
	return NULL;
}

size_t
targets_libcmap(const struct target_ops **out, size_t cap)
{
	const char *name;
	size_t n = 0;
	bool have_baseline = false;

	if (cap > BENCH_MAX_TARGETS)
		cap = BENCH_MAX_TARGETS;
	for (size_t i = 0; n < cap && (name = cmap_backend_at(i)) != NULL;
	     i++) {
		struct target_ops *t = &lib_targets[n];
		cmap_backend_info_t info;

		if (!cmap_backend_available(name) ||
		    cmap_is_error(cmap_backend_info(name, &info)))
			continue;
		/* Disk and server backends cost microseconds an operation:
		 * they have suites of their own (--suite). */
		if (info.caps & (CMAP_CAP_PERSISTENT | CMAP_CAP_REMOTE))
			continue;
		memset(t, 0, sizeof *t);
		t->name = name;
		t->backend = name;
		t->peer = false;
		t->caps = info.caps;
		t->single_thread = !(info.caps & CMAP_CAP_THREAD_SAFE);
		t->baseline = t->single_thread && !have_baseline;
		have_baseline |= t->baseline;
		t->mem_source = "allocator";
		snprintf(lib_notes[n], sizeof lib_notes[n], "libcmap%s%s%s",
		    info.summary != NULL ? ": " : "",
		    info.summary != NULL ? info.summary : "",
		    t->baseline ? " (not thread-safe: 1 thread only, the "
		                  "ratio baseline)"
		        : t->single_thread ? " (not thread-safe: 1 thread only)"
		                           : "");
		t->note = lib_notes[n];
		t->create = lib_create;
		t->destroy = lib_destroy;
		t->thread_enter = lib_nothing;
		t->thread_exit = lib_nothing;
		t->load = lib_load;
		t->store = lib_store;
		t->del = lib_del;
		t->add = lib_add;
		t->len = lib_len;
		t->bytes = lib_bytes;
		t->quiesce = lib_nothing;
		t->load_batch = lib_load_batch;
		t->store_batch = lib_store_batch;
		t->del_batch = lib_del_batch;
		out[n++] = t;
	}
	return n;
}

static struct target_ops variants[BENCH_MAX_TARGETS];
static char variant_names[BENCH_MAX_TARGETS][64];
static size_t nvariants;

const struct target_ops *
target_metrics_variant(const struct target_ops *base)
{
	struct target_ops *v;

	if (base->peer || nvariants == BENCH_MAX_TARGETS)
		return NULL;
	v = &variants[nvariants];
	*v = *base;
	snprintf(variant_names[nvariants], sizeof variant_names[0],
	    "%s+metrics", base->backend);
	v->name = variant_names[nvariants++];
	v->variant = true;
	v->baseline = false;
	v->cmap_flags |= CMAP_FLAG_METRICS;
	v->note = "the backend with CMAP_FLAG_METRICS";
	return v;
}

size_t
targets_all(const struct target_ops **out, size_t cap)
{
	size_t n = targets_libcmap(out, cap);

	return n + peers_all(out + n, cap - n);
}
