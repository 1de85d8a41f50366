/*
 * targets.c - the libcmap backends as benchmark targets.
 *
 * Backends are discovered only through the public registry: every value
 * b in [0, CMAP_BACKEND_COUNT_) for which cmap_backend_available(b) holds,
 * named by cmap_backend_name(b).  A backend added to the library (the
 * lockfree one, for instance) is measured without any change here.  The
 * only backend singled out is CMAP_BACKEND_PLAIN, which is not thread-safe
 * and therefore runs at one thread only, as the baseline of the ratios.
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

#include <stdatomic.h>
#include <stdlib.h>

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

/* ------------------------------------------------------------------ */

static void *
lib_create(const struct target_ops *self, const struct target_config *cfg)
{
	cmap_config_t c;
	cmap_t *m = NULL;
	cmap_status_t st;

	cmap_config_init(&c);
	c.backend = (cmap_backend_t)self->id;
	c.capacity = cfg->presize ? (size_t)cfg->keys : 0;
	c.seed = cfg->seed;
	c.flags = cfg->flags;
	c.allocator.alloc = counting_alloc;
	c.allocator.free = counting_free;
	c.allocator.ctx = NULL;
	st = cmap_create(&c, &m);
	if (st != CMAP_OK) {
		fprintf(stderr, "cmap-bench: cmap_create(%s): %s\n", self->name,
		    cmap_strerror(st));
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
	return cmap_load(map, key, value) == CMAP_OK;
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
	return cmap_delete(map, key) == CMAP_OK;
}

static void
lib_add(void *map, uint64_t key, uint64_t delta)
{
	cmap_status_t st = cmap_add(map, key, delta, NULL);

	if (__builtin_expect(cmap_is_error(st), 0))
		lib_fail("cmap_add", st);
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

static struct target_ops lib_targets[CMAP_BACKEND_COUNT_];

size_t
targets_libcmap(const struct target_ops **out, size_t cap)
{
	size_t n = 0;

	for (int b = 0; b < (int)CMAP_BACKEND_COUNT_ && n < cap; b++) {
		struct target_ops *t = &lib_targets[b];

		if (!cmap_backend_available((cmap_backend_t)b) ||
		    cmap_backend_name((cmap_backend_t)b) == NULL)
			continue;
		t->name = cmap_backend_name((cmap_backend_t)b);
		t->peer = false;
		t->single_thread = b == CMAP_BACKEND_PLAIN;
		t->mem_source = "allocator";
		t->note = b == CMAP_BACKEND_PLAIN
		    ? "libcmap, not thread-safe: 1 thread only, the ratio "
		      "baseline"
		    : "libcmap";
		t->id = b;
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
		out[n++] = t;
	}
	return n;
}

size_t
targets_all(const struct target_ops **out, size_t cap)
{
	size_t n = targets_libcmap(out, cap);

	return n + peers_all(out + n, cap - n);
}
