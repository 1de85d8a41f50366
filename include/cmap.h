/*
 * cmap.h - libcmap, concurrent maps of 64-bit keys to 64-bit values.
 *
 * This header is the whole public API and its manual: what is not declared
 * here is private and may change.
 *
 * OVERVIEW
 *
 * A map is created from a configuration whose `backend` field chooses the
 * implementation.  Every backend implements every operation with the same
 * results, so a program moves from one thread to many readers to many
 * writers by changing one enum value:
 *
 *   CMAP_BACKEND_PLAIN     no synchronisation; the fastest map for one
 *                          thread.  Concurrent misuse (two writers, or a
 *                          reader beside a writer) is detected on a best
 *                          effort basis and stops the program with a
 *                          message, like Go's "concurrent map writes".
 *   CMAP_BACKEND_RWLOCK    one reader-writer lock around one table.
 *   CMAP_BACKEND_SHARDED   N independently locked tables (N a power of two,
 *                          default 32), chosen by bits of the seeded hash.
 *   CMAP_BACKEND_LOCKFREE  a CAS-based table that resizes while in use and
 *                          takes no lock on any path (docs/lockfree.md).
 *                          Built unless -DCMAP_WITH_LOCKFREE=OFF (it needs
 *                          Concurrency Kit and a 16-byte CAS): see
 *                          cmap_backend_available().
 *
 * KEYS AND VALUES
 *
 * Keys and values are uint64_t and every one of the 2^64 values of each is
 * allowed: no key or value is reserved.  Programs with signed data cast; the
 * map never interprets the bits except in cmap_add(), which adds modulo 2^64.
 *
 * RESULTS
 *
 * Every call that can fail returns a cmap_status_t.  Values >= 0 are
 * ordinary results (CMAP_OK, CMAP_NOT_FOUND, CMAP_EXISTS, CMAP_MISMATCH);
 * values < 0 are errors.  A call that returns an error has changed nothing:
 * the map holds exactly what it held and stays usable.  The library never
 * prints and never aborts on bad input; the plain backend's misuse detector
 * is the one deliberate exception (see CMAP_FLAG_NO_MISUSE_CHECK).
 *
 * THREAD SAFETY VOCABULARY (used per function below)
 *
 *   not thread-safe  the caller must make sure no other thread uses the map
 *                    at the same time (plain backend, and cmap_destroy()).
 *   blocking         safe from any number of threads; may wait for a lock.
 *   lock-free        safe from any number of threads; takes no lock, and
 *                    some thread always completes its operation.
 *
 * Per backend: plain is not thread-safe; rwlock and sharded are blocking;
 * lockfree is lock-free.  Each single-key operation is linearizable (atomic
 * per key) on rwlock, sharded and lockfree.  No thread ever has to register
 * with the library.
 *
 * RE-ENTRANCY
 *
 * The callback of cmap_update() runs while the key is locked (rwlock,
 * sharded).  A call made from inside that callback on the same map returns
 * CMAP_ERECURSE on every backend instead of deadlocking or tripping the
 * misuse detector.  The callback of cmap_range() runs with no lock held and
 * may call anything on the same map, including store and delete.
 *
 * COSTS
 *
 * "O(1)" below means expected constant time with the seeded hash: the probe
 * sequence of a lookup is short on average whatever keys are inserted.  A
 * store or delete that crosses a load threshold resizes one table, which is
 * O(entries of that table) for that one call (on sharded, one shard's table).
 */
#ifndef CMAP_H
#define CMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(CMAP_STATIC_DEFINE)
#define CMAP_API
#elif defined(__GNUC__)
#define CMAP_API __attribute__((visibility("default")))
#else
#define CMAP_API
#endif

#define CMAP_VERSION_MAJOR 0
#define CMAP_VERSION_MINOR 1
#define CMAP_VERSION_PATCH 0

/* ---------------------------------------------------------------------
 * Status codes
 *
 * One X-macro holds each code, its value and its message.  Codes are never
 * renumbered; new ones are appended.
 * ------------------------------------------------------------------- */
#define CMAP_STATUS_MAP(X)                                                     \
	X(OK, 0, "success")                                                    \
	X(NOT_FOUND, 1, "key not found")                                       \
	X(EXISTS, 2, "key already present")                                    \
	X(MISMATCH, 3, "value did not match the expected value")               \
	X(EINVAL, -1, "invalid argument (NULL pointer or bad value)")         \
	X(ENOMEM, -2, "out of memory")                                         \
	X(EBACKEND, -3, "unknown or unavailable backend")                      \
	X(ESHARDS, -4, "shard count is not a power of two in range")          \
	X(ERECURSE, -5,                                                        \
	  "recursive call into the map from inside its update callback")

typedef enum cmap_status {
#define CMAP_STATUS_ENUM_(name, value, msg) CMAP_##name = (value),
	CMAP_STATUS_MAP(CMAP_STATUS_ENUM_)
#undef CMAP_STATUS_ENUM_
} cmap_status_t;

/*
 * cmap_strerror - the message of a status ("key not found").
 * cmap_status_name - the status's name without prefix ("NOT_FOUND").
 *
 * Return a static string; for a value that is no status, "unknown status"
 * and "UNKNOWN".  Thread safety: any thread.  Cost: O(1).
 */
CMAP_API const char *cmap_strerror(cmap_status_t status);
CMAP_API const char *cmap_status_name(cmap_status_t status);

/* True for error codes (< 0), false for ordinary results. */
static inline bool
cmap_is_error(cmap_status_t status)
{
	return (int)status < 0;
}

/* ---------------------------------------------------------------------
 * Backends
 * ------------------------------------------------------------------- */
typedef enum cmap_backend {
	CMAP_BACKEND_PLAIN = 0,
	CMAP_BACKEND_RWLOCK = 1,
	CMAP_BACKEND_SHARDED = 2,
	CMAP_BACKEND_LOCKFREE = 3,
	CMAP_BACKEND_COUNT_ /* number of enum values; not a backend */
} cmap_backend_t;

/*
 * cmap_backend_name - the name of a backend ("sharded"), or NULL when
 * `backend` is not a value of the enum or not compiled into this build.
 *
 * cmap_backend_from_name - parse a name ("plain", "rwlock", "sharded",
 * "lockfree"; exact, lower case) into *out.
 *   Returns CMAP_OK; CMAP_EINVAL if name or out is NULL; CMAP_EBACKEND if
 *   no backend of this build has that name (then *out is unchanged).
 *
 * cmap_backend_available - true when the backend is compiled into this
 * build of the library (a known enum value may still be left out).
 * Programs list the backends of a build by testing every value below
 * CMAP_BACKEND_COUNT_.
 *
 * Thread safety: any thread.  Cost: O(number of backends).
 */
CMAP_API const char *cmap_backend_name(cmap_backend_t backend);
CMAP_API cmap_status_t cmap_backend_from_name(const char *name,
    cmap_backend_t *out);
CMAP_API bool cmap_backend_available(cmap_backend_t backend);

/* ---------------------------------------------------------------------
 * Configuration
 * ------------------------------------------------------------------- */

/*
 * Allocator hooks.  Every byte the library uses goes through them.
 *   alloc(ctx, size, align) returns memory of `size` bytes aligned to
 *     `align` (a power of two, at most 4096), or NULL on failure; the
 *     library then returns CMAP_ENOMEM and changes nothing.
 *   free(ctx, ptr, size) releases a block, with the size it was allocated
 *     with.  Never called with NULL.
 * Both may be called from any thread that uses the map, concurrently.
 */
typedef struct cmap_allocator {
	void *(*alloc)(void *ctx, size_t size, size_t align);
	void (*free)(void *ctx, void *ptr, size_t size);
	void *ctx;
} cmap_allocator_t;

/* Flags for cmap_config_t.flags. */
enum {
	/* Turn off the plain backend's misuse detector. */
	CMAP_FLAG_NO_MISUSE_CHECK = 1u << 0,
};

#define CMAP_DEFAULT_SHARDS 32u
#define CMAP_MAX_SHARDS 65536u

typedef struct cmap_config {
	cmap_backend_t backend;  /* default CMAP_BACKEND_PLAIN */
	size_t capacity;         /* entries to hold without resizing; 0 = small */
	uint32_t shards;         /* sharded: power of two in [1, CMAP_MAX_SHARDS];
				    0 = CMAP_DEFAULT_SHARDS; ignored by others */
	uint32_t flags;          /* CMAP_FLAG_* */
	uint64_t seed;           /* hash seed; 0 = a fresh random seed per map */
	cmap_allocator_t allocator; /* alloc and free both NULL = malloc/free */
} cmap_config_t;

/*
 * cmap_config_init - fill *config with the defaults: plain backend, no
 * capacity hint, 32 shards, no flags, random seed, malloc/free.  Does
 * nothing when config is NULL.  Thread safety: any thread.  Cost: O(1).
 */
CMAP_API void cmap_config_init(cmap_config_t *config);

/* ---------------------------------------------------------------------
 * Life cycle
 * ------------------------------------------------------------------- */
typedef struct cmap cmap_t;

/*
 * cmap_create - make an empty map as `config` says; store it in *out.
 *   Returns CMAP_OK;
 *     CMAP_EINVAL    config or out is NULL, unknown flags, or only one of
 *                    allocator.alloc / allocator.free is set;
 *     CMAP_EBACKEND  the backend is not a value of the enum or is not
 *                    compiled in;
 *     CMAP_ESHARDS   sharded backend with a shard count that is not a power
 *                    of two in [1, CMAP_MAX_SHARDS];
 *     CMAP_ENOMEM    an allocation failed (nothing is leaked).
 *   On error *out is left unchanged.  The map copies the config; the caller
 *   keeps ownership of it.
 * Thread safety: any thread.  Cost: O(capacity) (the table is allocated).
 */
CMAP_API cmap_status_t cmap_create(const cmap_config_t *config, cmap_t **out);

/*
 * cmap_destroy - free the map and everything it holds.  NULL is a no-op.
 * Thread safety: not thread-safe: no other call on this map may be running
 * or start.  Cost: O(capacity).
 */
CMAP_API void cmap_destroy(cmap_t *map);

/* The backend the map was created with. */
CMAP_API cmap_backend_t cmap_backend(const cmap_t *map);

/* ---------------------------------------------------------------------
 * Single-key operations.
 *
 * All: map NULL -> CMAP_EINVAL; a required out pointer NULL -> CMAP_EINVAL;
 * called from inside this map's update callback -> CMAP_ERECURSE.
 * Thread safety: as the backend (see the top of this file); each is atomic
 * per key on rwlock, sharded and lockfree.  Cost: O(1); a call that inserts
 * or deletes may resize (see COSTS).
 * ------------------------------------------------------------------- */

/*
 * cmap_load - read the value of key into *value.
 *   Returns CMAP_OK, or CMAP_NOT_FOUND (then *value is unchanged).
 *   Never allocates.
 */
CMAP_API cmap_status_t cmap_load(cmap_t *map, uint64_t key, uint64_t *value);

/*
 * cmap_store - insert key, or overwrite its value.
 *   Returns CMAP_OK, or CMAP_ENOMEM when inserting needed a larger table
 *   that could not be allocated.
 */
CMAP_API cmap_status_t cmap_store(cmap_t *map, uint64_t key, uint64_t value);

/*
 * cmap_load_or_store - insert key with `value` if it is absent; otherwise
 * leave it.  *actual receives the value the key has after the call.
 *   Returns CMAP_OK when this call inserted, CMAP_EXISTS when the key was
 *   already present, CMAP_ENOMEM.
 */
CMAP_API cmap_status_t cmap_load_or_store(cmap_t *map, uint64_t key,
    uint64_t value, uint64_t *actual);

/*
 * cmap_load_and_delete - remove key and return the value it had in *value.
 *   Returns CMAP_OK, or CMAP_NOT_FOUND (then *value is unchanged).
 *   Never fails for lack of memory: a shrink that cannot allocate is
 *   skipped.
 */
CMAP_API cmap_status_t cmap_load_and_delete(cmap_t *map, uint64_t key,
    uint64_t *value);

/*
 * cmap_delete - remove key.  Returns CMAP_OK or CMAP_NOT_FOUND.
 */
CMAP_API cmap_status_t cmap_delete(cmap_t *map, uint64_t key);

/*
 * cmap_swap - store value and return the previous one in *previous
 * (optional: may be NULL).
 *   Returns CMAP_OK when the key was present (previous value written),
 *   CMAP_NOT_FOUND when it was inserted (*previous unchanged), CMAP_ENOMEM.
 */
CMAP_API cmap_status_t cmap_swap(cmap_t *map, uint64_t key, uint64_t value,
    uint64_t *previous);

/*
 * cmap_compare_and_swap - set key to `desired` if its value is `expected`.
 *   Returns CMAP_OK when swapped, CMAP_MISMATCH when the key holds another
 *   value, CMAP_NOT_FOUND when it is absent.  Never inserts, never
 *   allocates.
 */
CMAP_API cmap_status_t cmap_compare_and_swap(cmap_t *map, uint64_t key,
    uint64_t expected, uint64_t desired);

/*
 * cmap_compare_and_delete - remove key if its value is `expected`.
 *   Returns CMAP_OK when removed, CMAP_MISMATCH, CMAP_NOT_FOUND.
 */
CMAP_API cmap_status_t cmap_compare_and_delete(cmap_t *map, uint64_t key,
    uint64_t expected);

/*
 * cmap_add - atomically add delta (modulo 2^64) to key's value; an absent
 * key counts as 0 and is inserted with value delta.  The value after the
 * addition goes to *result (optional: may be NULL).  To subtract, pass the
 * two's complement ((uint64_t)-n).
 *   Returns CMAP_OK when the key existed, CMAP_NOT_FOUND when it was
 *   inserted, CMAP_ENOMEM.
 */
CMAP_API cmap_status_t cmap_add(cmap_t *map, uint64_t key, uint64_t delta,
    uint64_t *result);

/*
 * Update callback: called with the key, whether it is present, and its
 * value in *value (0 when absent).  It returns what to do:
 *   CMAP_UPDATE_KEEP    leave the map as it is;
 *   CMAP_UPDATE_STORE   store *value (insert when absent);
 *   CMAP_UPDATE_DELETE  delete the key (no-op when absent).
 * On rwlock and sharded it runs exactly once, under the key's lock: keep it
 * short, and do not call into the same map (that call returns
 * CMAP_ERECURSE).  On lockfree it may run more than once per call (retried
 * after a lost race) and must have no side effects.  On plain it runs once.
 */
typedef enum cmap_update_action {
	CMAP_UPDATE_KEEP = 0,
	CMAP_UPDATE_STORE = 1,
	CMAP_UPDATE_DELETE = 2,
} cmap_update_action_t;

typedef cmap_update_action_t (*cmap_update_fn)(uint64_t key, uint64_t *value,
    bool present, void *ctx);

/*
 * cmap_update - read-modify-write one key atomically through fn.
 * *value_out (optional) receives the value after the call when the key is
 * present after it.
 *   Returns CMAP_OK when the key is present after the call, CMAP_NOT_FOUND
 *   when absent after it; CMAP_EINVAL when fn is NULL or returns an unknown
 *   action (map unchanged); CMAP_ENOMEM when a store needed memory.
 */
CMAP_API cmap_status_t cmap_update(cmap_t *map, uint64_t key,
    cmap_update_fn fn, void *ctx, uint64_t *value_out);

/* ---------------------------------------------------------------------
 * Whole-map operations
 * ------------------------------------------------------------------- */

/*
 * Range callback: return true to go on, false to stop.
 */
typedef bool (*cmap_range_fn)(uint64_t key, uint64_t value, void *ctx);

/*
 * cmap_range - call fn for the entries of the map, in no particular order,
 * until it returns false.
 *   Guarantee (weakly consistent, every backend): a key present, with one
 *   value, for the whole traversal is visited exactly once with that value;
 *   a key is never visited twice; a visited key was present with the value
 *   shown at some moment during the traversal.  Keys inserted or deleted
 *   during the traversal may or may not be visited.
 *   fn runs with no lock held and may call any function on the same map
 *   (store, delete, even cmap_range), except cmap_destroy.
 *   Returns CMAP_OK (also when fn stopped early); CMAP_EINVAL when map or fn
 *   is NULL; CMAP_ERECURSE from inside an update callback.  Never
 *   allocates.
 * Thread safety: as the backend.  Blocking backends hold a lock only while
 *   copying a small batch of entries, never while fn runs.
 * Cost: O(capacity + entries) plus fn.
 */
CMAP_API cmap_status_t cmap_range(cmap_t *map, cmap_range_fn fn, void *ctx);

/*
 * cmap_len - the number of entries.
 *   Exact when no other operation runs concurrently.  Otherwise: a value
 *   the count had at some moment during the call (plain, rwlock); the sum
 *   of per-shard counts each read at some moment, within the number of
 *   concurrent writes of the truth (sharded); the sum of per-thread counts
 *   each read at some moment, within the number of operations other than
 *   loads in progress on other threads (lockfree: any of them, range and
 *   clear included, may be moving an entry for a migration and count it a
 *   moment after its compare-and-swap).
 *   Never walks the table.  Returns 0 for a NULL map.  May be called from
 *   inside an update callback (it takes no lock).
 * Thread safety: as the backend; never takes a lock.
 * Cost: O(1) (rwlock, plain), O(shards) (sharded), O(stripes) (lockfree).
 */
CMAP_API size_t cmap_len(const cmap_t *map);

/*
 * cmap_clear - remove every entry and give the table memory back (down to
 * the capacity asked for at creation or by cmap_reserve).
 *   Returns CMAP_OK; CMAP_EINVAL; CMAP_ERECURSE; on lockfree only,
 *   CMAP_ENOMEM (nothing removed) when neither a new table nor the spare
 *   one each map keeps for this can be had: it takes two allocation
 *   failures in a row.  The lock-based backends never fail for lack of
 *   memory here.  Concurrent operations see each key either before or
 *   after its removal, which happens once per key (on sharded, shard by
 *   shard).
 * Cost: O(capacity).
 */
CMAP_API cmap_status_t cmap_clear(cmap_t *map);

/*
 * cmap_reserve - make room for `entries` entries in all without resizing,
 * and keep at least that capacity when entries are deleted.  On sharded
 * each shard gets its share plus a margin of eight standard deviations of
 * the random spread of keys over shards: with a random seed the chance
 * that a shard still grows is below 1e-12.  The capacity hint of the
 * config makes the same promise.
 *   Returns CMAP_OK; CMAP_ENOMEM (contents unchanged; on sharded, shards
 *   reserved before the failure keep their larger tables); CMAP_EINVAL;
 *   CMAP_ERECURSE.
 * Cost: O(entries) when the table grows.
 */
CMAP_API cmap_status_t cmap_reserve(cmap_t *map, size_t entries);

/*
 * Statistics.  The struct only ever grows at its end.
 */
typedef struct cmap_stats {
	cmap_backend_t backend;
	uint64_t len;           /* as cmap_len() */
	uint64_t capacity;      /* slots in all tables */
	uint64_t bytes;         /* bytes the map holds from its allocator now */
	uint64_t grows;         /* resizes to a larger table since creation */
	uint64_t shrinks;       /* resizes to a smaller table since creation */
	uint32_t shards;        /* 1 unless sharded */
	uint64_t min_shard_len; /* smallest and largest shard (== len unless */
	uint64_t max_shard_len; /*   sharded)                                */
	uint64_t max_probe;     /* longest probe distance of any entry, slots */
	double mean_probe;      /* mean probe distance over entries, slots */
	uint64_t seed;          /* the hash seed in use */
} cmap_stats_t;

/*
 * cmap_stats - fill *stats.
 *   Returns CMAP_OK; CMAP_EINVAL when map or stats is NULL; CMAP_ERECURSE.
 * Thread safety: as the backend; on blocking backends takes each read lock
 *   in turn, so figures of different shards are from different moments.
 * Cost: O(capacity) (the probe figures walk the tables).
 */
CMAP_API cmap_status_t cmap_stats(cmap_t *map, cmap_stats_t *stats);

#ifdef __cplusplus
}
#endif

#endif /* CMAP_H */
