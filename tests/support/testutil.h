/*
 * testutil.h - helpers shared by every test program.
 *
 *   - the list of backends this build has (tu_backends / tu_nbackends);
 *   - a counting allocator that can fail the n-th allocation, for fault
 *     injection and for live-byte accounting (tu_alloc_*);
 *   - a reference model: the simplest possible exact map (tu_model_*);
 *   - a small deterministic PRNG (tu_rng_*);
 *   - thread helpers (tu_run_threads).
 */
#ifndef CMAP_TESTUTIL_H
#define CMAP_TESTUTIL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cmap.h"

/* ---- backends ----
 * Tests choose backends by what they advertise (cmap_backend_info), never
 * by name: a backend added to the registry is picked up by every test
 * whose capabilities it has. */
#define TU_MAX_BACKENDS 32
/* Fills out[] with the name of every backend of the build; returns how
 * many. */
size_t tu_backends(const char *out[TU_MAX_BACKENDS]);
/* Same, but only those with every capability bit of `caps`. */
size_t tu_backends_with(uint64_t caps, const char *out[TU_MAX_BACKENDS]);
/* Same as tu_backends_with(CMAP_CAP_THREAD_SAFE, out). */
size_t tu_thread_safe_backends(const char *out[TU_MAX_BACKENDS]);
/* The capability bits of a backend (0 when unknown). */
uint64_t tu_caps(const char *backend);
/* True when the backend has every bit of `caps`. */
bool tu_has(const char *backend, uint64_t caps);
/* True when the backend takes an option called `name`; its description
 * goes to *opt when opt is not NULL. */
bool tu_option(const char *backend, const char *name, cmap_option_info_t *opt);
/*
 * The test environment of backends that need one.  A backend with a
 * REQUIRED option cannot be created from a bare config: the tests give it
 * what it needs here, by capability, never by name.
 *   CMAP_CAP_PERSISTENT  option "path": a fresh directory under
 *                        $CMAP_TEST_DIR (default $TMPDIR, else /tmp), made
 *                        for each config and removed at exit;
 *   CMAP_CAP_REMOTE      option "servers" from $CMAP_TEST_REDIS (the
 *                        addresses of a server tests/run.sh started),
 *                        option "namespace", unique to each config, and
 *                        option "buckets" 16 where the backend has it
 *                        (len, range and clear cost a command per bucket:
 *                        the suites call them after a few operations;
 *                        test_remote and the benchmark keep the default).
 * A backend whose environment is missing ($CMAP_TEST_REDIS unset) is left
 * out of tu_backends() and tu_backends_with(), with one line on stderr.
 */
/* True when the tests can create maps of this backend here. */
bool tu_backend_runnable(const char *backend);
/* cmap_config_init(cfg), cfg->backend = backend, then the environment's
 * options for that backend.  Use it instead of cmap_config_init in tests. */
void tu_config_init(cmap_config_t *cfg, const char *backend);

/* Create a map or fail the test (cmocka assert). */
cmap_t *tu_create(const char *backend, size_t capacity);
cmap_t *tu_create_cfg(const cmap_config_t *cfg);

/* ---- counting / failing allocator ---- */
struct tu_alloc {
	atomic_long live_bytes; /* bytes allocated and not yet freed */
	atomic_long peak_bytes; /* highest live_bytes seen */
	atomic_long allocs;     /* successful allocations */
	atomic_long frees;
	atomic_long fail_at;       /* the fail_at-th allocation from now fails
	                              (1 = the next); 0 = never */
	atomic_long failed;        /* allocations refused */
	atomic_uint fail_permille; /* random failures, per mille (0 = none) */
	atomic_ullong rng;         /* state for random failures */
};
void tu_alloc_init(struct tu_alloc *a);
/* Fill cfg->allocator with hooks that use a. */
void tu_alloc_install(struct tu_alloc *a, cmap_config_t *cfg);
/* Make the n-th allocation from now fail (n >= 1); 0 turns it off. */
void tu_alloc_fail_nth(struct tu_alloc *a, long n);

/* ---- PRNG (splitmix64) ---- */
typedef struct {
	uint64_t s;
} tu_rng_t;
static inline uint64_t
tu_rng_next(tu_rng_t *r)
{
	uint64_t z = (r->s += UINT64_C(0x9e3779b97f4a7c15));
	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}
static inline uint64_t
tu_rng_below(tu_rng_t *r, uint64_t n)
{
	return n ? tu_rng_next(r) % n : 0;
}

/* ---- reference model: exact, slow, obviously right ---- */
struct tu_model {
	uint64_t *keys;
	uint64_t *vals;
	size_t len, cap;
	/* Hash index over keys[0..len), so that lookups stay O(1) with
	 * hundreds of thousands of keys: idx[slot] = position + 1, 0 = empty
	 * (linear probing, backward-shift deletion).  Maintained by the
	 * tu_model_* functions only: do not edit keys/vals/len directly. */
	size_t *idx;
	size_t idx_cap; /* power of two, or 0 before the first insert */
};
void tu_model_init(struct tu_model *m);
void tu_model_fini(struct tu_model *m);
bool tu_model_get(const struct tu_model *m, uint64_t key, uint64_t *val);
void tu_model_put(struct tu_model *m, uint64_t key, uint64_t val);
bool tu_model_del(struct tu_model *m, uint64_t key);
void tu_model_clear(struct tu_model *m);
/* Assert (cmocka) that map holds exactly the model's entries, via
 * cmap_len, cmap_load of every model key (cmap_load_batch on a
 * CMAP_CAP_REMOTE map: a round trip per 1,000 keys, not per key) and a
 * full cmap_range. */
void tu_assert_map_equals_model(cmap_t *map, const struct tu_model *m);

/* Index of key in m->keys/m->vals, or SIZE_MAX when absent. */
size_t tu_model_index(const struct tu_model *m, uint64_t key);

/* ---- threads ---- */
/* Run fn(i, arg) on n threads (i = 0..n-1) started together; join all. */
void tu_run_threads(int n, void (*fn)(int i, void *arg), void *arg);

/* Keys that a table core may treat specially, to be tested as ordinary
 * keys and values: 0, 1, UINT64_MAX, UINT64_MAX - 1, 1 << 63,
 * (1 << 63) - 1 and 0xdeadbeefdeadbeef. */
extern const uint64_t tu_edge_values[];
extern const size_t tu_n_edge_values;

/* ---- stress scaling ---- */
/* The factor in the environment variable CMAP_STRESS_SCALE (a positive
 * number, default 1; invalid values count as 1). */
/* Seconds on the monotonic clock, for the tests' run-time reports. */
double tu_now_s(void);
double tu_stress_scale(void);
/* n * tu_stress_scale(), at least 1. */
long tu_scaled(long n);

/* ---- checking allocator ----
 * Like struct tu_alloc, but verifies every call the library makes: the
 * alignment is a power of two in [1, 4096], the returned block is
 * aligned, and free() receives the size the block was allocated with
 * (each block carries a hidden header).  Problems are counted, never
 * asserted, so the hooks are safe in any thread. */
struct tu_chk_alloc {
	atomic_long live_bytes; /* bytes allocated and not yet freed */
	atomic_long live_blocks;
	atomic_long allocs;
	atomic_long bad_align; /* align argument not a power of two <= 4096 */
	atomic_long bad_size;  /* free() size differs from the alloc size */
	atomic_long bad_ptr;   /* free() of a block not from this allocator */
	atomic_long fail_at;   /* as tu_alloc.fail_at */
	atomic_long failed;
};
void tu_chk_alloc_init(struct tu_chk_alloc *a);
void tu_chk_alloc_install(struct tu_chk_alloc *a, cmap_config_t *cfg);
/* For cmocka teardowns: 0 when no block is live and no bad call was
 * seen; else a line on stderr saying what, and -1. */
int tu_chk_alloc_report(struct tu_chk_alloc *a);
/* cmocka-assert: no block live, no bad call seen. */
void tu_chk_alloc_assert_clean(struct tu_chk_alloc *a);

#endif
