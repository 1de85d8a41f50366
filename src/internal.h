/*
 * internal.h - what the backends and the shared pieces under them use.
 *
 * LAYERS (each includes only what is below it)
 *
 *   cmap.c, config.c   the front end: argument checks, configuration and
 *                      options, the re-entrancy guard of update callbacks;
 *                      advise.c (the advisor, on the public metrics calls)
 *   registry.c         the one list of backends
 *   backend_<name>.c   one backend each: a const struct cmap__backend
 *                      (lockfree's table, migration and reclamation
 *                      live in lf_table.c, lf_migrate.c, lf_reclaim.c
 *                      under src/lf.h)
 *   shared pieces      map.c (map header, misuse report), req.h (request
 *                      semantics), table.c (the open-addressing core of
 *                      plain, rwlock and sharded), lock.c, lf_atomic.h,
 *                      metrics.c (per-thread metrics records, recorded
 *                      by the front end, with hooks for what the pieces
 *                      above see; it also holds the public metrics
 *                      calls' snapshot; metrics_expose.c writes it as
 *                      Prometheus text)
 *
 * ADDING A BACKEND: write src/backend_<name>.c defining
 *   CMAP_HIDDEN const struct cmap__backend cmap__<name>_backend = { ... };
 * add it to src/CMakeLists.txt's source list and one line to registry.c.
 * The tests and the benchmark pick it up through its capabilities.
 */
#ifndef CMAP_INTERNAL_H
#define CMAP_INTERNAL_H

#include "cmap.h"
#include "req.h"

#include <stdatomic.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CMAP_CACHE_LINE 64

#if defined(__GNUC__)
#define CMAP_LIKELY(x) __builtin_expect(!!(x), 1)
#define CMAP_UNLIKELY(x) __builtin_expect(!!(x), 0)
#define CMAP_HIDDEN __attribute__((visibility("hidden")))
/* For a function whose callers pass constants it must be specialised on. */
#define CMAP_INLINE inline __attribute__((always_inline))
/* For a slow path kept out of its caller's inlined fast path. */
#define CMAP_NOINLINE __attribute__((noinline))
#else
#define CMAP_LIKELY(x) (x)
#define CMAP_UNLIKELY(x) (x)
#define CMAP_HIDDEN
#define CMAP_INLINE inline
#define CMAP_NOINLINE
#endif

/*
 * Valgrind's helgrind and DRD know pthread locks, not the C11-atomic locks of
 * lock.h: with -DCMAP_HELGRIND=ON the build tells them, through their client
 * requests, where each lock is taken and released (a few instructions, no
 * effect outside valgrind).  Fields read without the lock on purpose (the
 * relaxed counters and prefetch hints, readmostly's seqlocked buckets and
 * epoch records, which its readers use without any lock and which
 * ThreadSanitizer checks instead) are declared benign races there.
 */
#if CMAP_HELGRIND
#include <valgrind/helgrind.h>
#define CMAP_HG_CREATE(l) ANNOTATE_RWLOCK_CREATE(l)
#define CMAP_HG_DESTROY(l) ANNOTATE_RWLOCK_DESTROY(l)
#define CMAP_HG_ACQUIRED(l, w) ANNOTATE_RWLOCK_ACQUIRED(l, w)
#define CMAP_HG_RELEASED(l, w) ANNOTATE_RWLOCK_RELEASED(l, w)
#define CMAP_HG_BENIGN(p, why) ANNOTATE_BENIGN_RACE_SIZED(p, sizeof *(p), why)
#define CMAP_HG_BENIGN_SIZED(p, n, why) ANNOTATE_BENIGN_RACE_SIZED(p, n, why)
#else
#define CMAP_HG_CREATE(l) ((void)(l))
#define CMAP_HG_DESTROY(l) ((void)(l))
#define CMAP_HG_ACQUIRED(l, w) ((void)(l))
#define CMAP_HG_RELEASED(l, w) ((void)(l))
#define CMAP_HG_BENIGN(p, why) ((void)(p))
#define CMAP_HG_BENIGN_SIZED(p, n, why) ((void)(p), (void)(n))
#endif

/* ---------------------------------------------------------------------
 * Backend descriptors.
 *
 * A backend is one file that defines one const struct cmap__backend: its
 * name, capabilities, options and entry points.  registry.c lists them;
 * nothing else in the library knows which backends exist.
 * ------------------------------------------------------------------- */

/* The value of one option, parsed and checked by the front end. */
union cmap__optval {
	uint64_t u;    /* CMAP_OPTION_UINT */
	bool b;        /* CMAP_OPTION_BOOL */
	const char *s; /* CMAP_OPTION_STRING: valid during create only */
};

/* The most options one backend may declare. */
#define CMAP__MAX_OPTIONS 16u

/* What create() gets: the resolved config. */
struct cmap__create_args {
	cmap_allocator_t allocator; /* both hooks set */
	uint64_t seed;              /* non-zero */
	size_t capacity;
	/* The front end's: the generic options metrics and metrics_sample
	 * (backends ignore them). */
	bool metrics;
	uint32_t metrics_sample;
	/* opt[i] is the value of the backend's options[i]: the one set, else
	 * its default (a REQUIRED option is always set). */
	const union cmap__optval *opt;
};

/*
 * The descriptor.  Append-only: a slot added later goes after the marker
 * of the version it belongs to, and the front end checks `version` before
 * calling it.  Slots of version 1 are all mandatory.  The front end has
 * checked every argument, so no slot ever sees a NULL map, a NULL required
 * out pointer or an unknown request kind.
 */
#define CMAP__BACKEND_V1 1u
#define CMAP__BACKEND_V2 2u /* the batch slots */
#define CMAP__BACKEND_V3 3u /* sync */

struct cmap__backend {
	uint32_t version; /* CMAP__BACKEND_V<n>: the slots it has */
	const char *name;
	const char *summary;      /* one line for cmap_backend_info */
	uint32_t backend_version; /* the backend's own version */
	uint64_t caps;            /* CMAP_CAP_* */
	const cmap_option_info_t *options;
	size_t n_options;

	/*
	 * create: allocate the backend's struct (which begins with struct
	 * cmap) with cmap__map_new, set it up and store it in *out; on
	 * failure free what was allocated and return CMAP_ENOMEM.  The front
	 * end sets the header's `be` afterwards.
	 */
	cmap_status_t (*create)(
	    const struct cmap__create_args *args, cmap_t **out);
	/* destroy: free what create set up, but not the struct itself
	 * (the front end frees it with cmap__map_free). */
	void (*destroy)(cmap_t *map);
	/* The direct entry points of the two most frequent operations: the
	 * results of cmap_load and cmap_store, no request struct. */
	cmap_status_t (*load)(cmap_t *map, uint64_t key, uint64_t *value);
	cmap_status_t (*store)(cmap_t *map, uint64_t key, uint64_t value);
	/* Every other single-key operation as a request: any kind of req.h
	 * but CMAP_REQ_LOAD, which the front end sends to load. */
	cmap_status_t (*exec)(cmap_t *map, struct cmap_req *req);
	cmap_status_t (*range)(cmap_t *map, cmap_range_fn fn, void *ctx);
	size_t (*len)(const cmap_t *map);
	cmap_status_t (*clear)(cmap_t *map);
	cmap_status_t (*reserve)(cmap_t *map, size_t entries);
	/* stats: every field but backend and seed (the front end's). */
	cmap_status_t (*stats)(cmap_t *map, cmap_stats_t *stats);
	/* end of version 1 */

	/*
	 * batch: n > 0 keys of one kind (req.h, struct cmap__batch), as
	 * cmap.h's "Batches" says.  Optional: NULL makes the front end loop
	 * over the single-key entry points.
	 */
	cmap_status_t (*batch)(
	    cmap_t *map, const struct cmap__batch *b, size_t n);
	/* end of version 2 */

	/* sync: cmap_sync().  Optional: NULL means writes are already as
	 * durable as the backend makes them (CMAP_OK). */
	cmap_status_t (*sync)(cmap_t *map);
	/* end of version 3 */
};

/* registry.c: the index-th backend (NULL past the last), and the one
 * called name (NULL when none is). */
CMAP_HIDDEN const struct cmap__backend *cmap__backend_at(size_t index);
CMAP_HIDDEN const struct cmap__backend *cmap__backend_find(const char *name);

/* ---------------------------------------------------------------------
 * The map header every backend's map struct begins with.
 * ------------------------------------------------------------------- */
struct cmap__metrics;

struct cmap {
	const struct cmap__backend *be;
	cmap_allocator_t allocator; /* resolved: both hooks set */
	uint64_t seed;              /* the hash seed, non-zero */
	size_t self_size;           /* bytes of the backend's map struct */
	/* Set by the front end after create, read-only afterwards: the
	 * map's metrics (metrics.h), NULL when off, which is the one branch
	 * an operation pays for them, and their id (0 when off: what a
	 * thread's last-used record is keyed by, read from this line rather
	 * than the metrics' own); and its shard count (the option "shards",
	 * else 1), a label of the metrics. */
	struct cmap__metrics *metrics;
	uint64_t metrics_id;
	uint32_t shards;
};

/* ---------------------------------------------------------------------
 * Allocation through the map's hooks.
 * ------------------------------------------------------------------- */
static inline void *
cmap__alloc(const cmap_allocator_t *a, size_t size, size_t align)
{
	return a->alloc(a->ctx, size, align);
}

static inline void
cmap__free(const cmap_allocator_t *a, void *ptr, size_t size)
{
	if (ptr != NULL)
		a->free(a->ctx, ptr, size);
}

/*
 * map.c: the allocator of a config without hooks (malloc for small blocks,
 * mmap for large ones), and cmap__discard - tell the allocator that bytes
 * [off, off + len) of a block of `size` bytes are no longer needed though
 * the block stays allocated: afterwards they read as zero, or keep what
 * they held.  In a block of 64 KiB or more the whole pages among them go
 * back to the kernel at once (madvise MADV_DONTNEED, Linux), whichever
 * allocator the block came from, so that a large block freed later costs
 * little (munmap of touched pages, glibc's free of an mmapped chunk: about
 * 5 ms per 64 MiB here) and the resident set follows the map's bytes.
 */
CMAP_HIDDEN extern const cmap_allocator_t cmap__default_allocator;
/* Returns where the pages given back end (off + len rounded down to a page
 * boundary; off when no whole page lay inside; off + len in a block too
 * small to discard), so that a caller going through a block in chunks
 * resumes there and leaves no page behind between two chunks. */
CMAP_HIDDEN size_t cmap__discard(
    void *block, size_t size, size_t off, size_t len);

/*
 * map.c: stepwise release of a large block that nobody reads any more
 * (a retired table after its grace period), shared by the lockfree and
 * readmostly backends.  A block of at least CMAP_RELEASE_MIN bytes is not
 * freed in one call (the free of a touched 201 MiB table took about 18 ms
 * with malloc-based hooks): its owner sets its `released` counter to
 * CMAP_RELEASE_KEEP (the first page, holding the block's header, stays)
 * and calls cmap__release_step once per operation; each call gives back
 * the next CMAP_RELEASE_STEP bytes (cmap__discard, about 0.1 ms) and
 * returns false, until nothing but the header is left: then it does
 * nothing and returns true, and the owner frees the block, which now
 * costs little.  One caller at a time per block.
 */
#define CMAP_RELEASE_MIN ((size_t)4 << 20)
#define CMAP_RELEASE_STEP ((size_t)1 << 20)
#define CMAP_RELEASE_KEEP ((size_t)4096)
CMAP_HIDDEN bool cmap__release_step(void *block, size_t size, size_t *released);

/*
 * map.c: true when every block of `size` bytes that allocator a hands out
 * is zero-filled (the default allocator's blocks from mmap), so that a
 * caller may skip clearing it, and leave its pages to be faulted in on
 * first use rather than all at once.
 */
CMAP_HIDDEN bool cmap__alloc_zeroes(const cmap_allocator_t *a, size_t size);

/*
 * map.c: one step of clearing a new table before anyone reads it: bytes
 * [off, off + len) of block set to zero.  When the block came zeroed
 * (zeroed: cmap__alloc_zeroes said so), this writes one zero byte in each
 * 4 KiB of the range instead, so that every page is first touched by a
 * write.  Left untouched, a page first read maps the kernel's shared zero
 * page, and the write after it copies that page and flushes the TLB of
 * every CPU the process runs on: one cross-CPU call per page, which waits
 * for the other CPU to answer (0.5-1.5 ms when it is descheduled, on the
 * 2-vCPU machine of docs/design.md, "Fresh pages").
 */
CMAP_HIDDEN void cmap__clear_step(
    void *block, size_t off, size_t len, bool zeroed);

/*
 * map.c: the process-wide memory barrier of readers that pin without a
 * fence (lockfree, readmostly).  cmap__membarrier_setup registers the
 * process for membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED) and returns 1,
 * or 0 when the kernel lacks it (and always under ThreadSanitizer, which
 * does not model it): then readers must fence themselves.
 * cmap__membarrier issues it (Linux); a no-op under ThreadSanitizer.
 */
CMAP_HIDDEN int cmap__membarrier_setup(void);
CMAP_HIDDEN void cmap__membarrier(void);

/*
 * map.c: a process-wide list of live objects under its own mutex, for the
 * thread-exit hooks that must find every object a thread has a record in
 * (the lockfree backend's maps, the metrics of maps).  The object embeds
 * a struct cmap__link; add and remove take the lock; cmap__registry_each
 * calls fn on every link under it (fn must not add or remove).  The
 * registries are static in their files: the global state those hooks need.
 */
struct cmap__link {
	struct cmap__link *prev, *next;
};
struct cmap__registry {
	pthread_mutex_t lock;
	struct cmap__link *head;
};
#define CMAP__REGISTRY_INIT                                                    \
	{                                                                      \
		PTHREAD_MUTEX_INITIALIZER, NULL                                \
	}
/* The object of type `type` whose member `member` is at ptr. */
#define CMAP__CONTAINER(ptr, type, member)                                     \
	((type *)(void *)((char *)(ptr)-offsetof(type, member)))
CMAP_HIDDEN void cmap__registry_add(
    struct cmap__registry *r, struct cmap__link *l);
CMAP_HIDDEN void cmap__registry_remove(
    struct cmap__registry *r, struct cmap__link *l);
CMAP_HIDDEN void cmap__registry_each(struct cmap__registry *r,
    void (*fn)(struct cmap__link *l, void *arg), void *arg);

/*
 * map.c: cmap__map_new - allocate a backend's map struct of `size` bytes
 * (which begins with struct cmap), zeroed, cache-line aligned, with its
 * header's allocator, seed and self_size filled in; NULL when the
 * allocation fails.  cmap__map_free - free it again.
 */
CMAP_HIDDEN void *cmap__map_new(
    const struct cmap__create_args *args, size_t size);
CMAP_HIDDEN void cmap__map_free(cmap_t *map);

/* ---------------------------------------------------------------------
 * The seeded hash: a bijection of 64-bit words (xor with the seed, then
 * two multiply-xorshift rounds of the splitmix64/murmur3 finaliser), so
 * distinct keys always have distinct hashes.  Table slots use the high
 * bits, shards the low bits.
 * ------------------------------------------------------------------- */
static inline uint64_t
cmap__hash(uint64_t key, uint64_t seed)
{
	uint64_t x = key ^ seed;

	x ^= x >> 32;
	x *= UINT64_C(0xd6e8feb86659fd93);
	x ^= x >> 32;
	x *= UINT64_C(0xd6e8feb86659fd93);
	x ^= x >> 32;
	return x;
}

/* The inverse of cmap__hash: the key whose hash is h.  0xcfee...a89b is
 * the multiplicative inverse of the mixer's constant modulo 2^64. */
static inline uint64_t
cmap__unhash(uint64_t h, uint64_t seed)
{
	uint64_t x = h;

	x ^= x >> 32;
	x *= UINT64_C(0xcfee444d8b59a89b);
	x ^= x >> 32;
	x *= UINT64_C(0xcfee444d8b59a89b);
	x ^= x >> 32;
	return x ^ seed;
}

/* map.c: copy a filled struct of `have` bytes into the caller's of `size`
 * bytes (a _sized call): the common prefix, and zeros past what this
 * library knows (cmap.h, VERSIONS AND THE ABI). */
CMAP_HIDDEN void cmap__copy_sized(
    void *dst, size_t size, const void *src, size_t have);

/*
 * map.c: cmap__fail - record the detail that cmap_last_error() returns on
 * this thread (printf-style, cut at 255 bytes) and return st.  For the
 * failure paths of create and of the config and info calls, and for the
 * I/O errors of persistent and remote backends (cmap.h, cmap_last_error).
 */
CMAP_HIDDEN cmap_status_t cmap__fail(cmap_status_t st, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3), cold))
#endif
    ;

/* map.c: a batch's return value: CMAP_OK, or the first per-key error. */
CMAP_HIDDEN cmap_status_t cmap__batch_result(
    size_t n, const cmap_status_t *status);

/* map.c: the fatal misuse report of a backend with CMAP_CAP_MISUSE_CHECK:
 * writes one line to stderr and aborts. */
CMAP_HIDDEN void cmap__misuse(const cmap_t *map, const char *what)
#if defined(__GNUC__)
    __attribute__((noreturn, cold))
#endif
    ;

#endif /* CMAP_INTERNAL_H */
