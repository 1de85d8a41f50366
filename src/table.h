/*
 * table.h - the open-addressing table core shared by the plain, rwlock
 * and sharded backends.
 *
 * The table itself is not thread-safe: a backend wraps it in its own
 * synchronisation.  Two fields are written with relaxed atomic stores so
 * that a backend may read them without its lock (cmap__table_len and the
 * slot pointer for a prefetch); everything else requires the lock.
 */
#ifndef CMAP_TABLE_H
#define CMAP_TABLE_H

#include "internal.h"

#include <stdatomic.h>
#include <stdbool.h>

struct cmap_slot {
	uint64_t key; /* CMAP_TABLE_EMPTY_KEY marks a free slot */
	uint64_t value;
};

/* The key value that marks free slots.  A user key with these bits lives
 * in the table's side slot (zkey_*) instead. */
#define CMAP_TABLE_EMPTY_KEY UINT64_C(0)

struct cmap_table {
	/* Hot: what a lookup reads, in the first cache line. */
	struct cmap_slot *_Atomic slots; /* slots[capacity]; see prefetch */
	uint64_t mask;  /* capacity - 1; capacity a power of two */
	unsigned shift; /* 64 - log2(capacity): slot = hash >> shift */
	_Atomic unsigned pf_shift; /* copy of shift for lock-free prefetch */
	uint64_t seed;
	size_t used;        /* entries in slots[] (not the side slot) */
	size_t grow_at;     /* grow when used would exceed this */
	_Atomic size_t len; /* used + zkey_present; relaxed stores only */
	bool zkey_present;  /* the side slot for the key EMPTY_KEY */
	uint64_t zkey_value;
	/* Cold. */
	size_t min_capacity; /* never shrink below (creation/reserve) */
	uint64_t grows, shrinks;
	const cmap_allocator_t *allocator;
};

/* Smallest capacity the table uses. */
#define CMAP_TABLE_MIN_CAPACITY 16u

/*
 * Initialise an empty table able to hold `entries` entries without
 * growing.  Returns CMAP_OK or CMAP_ENOMEM (then nothing to finalise).
 */
CMAP_HIDDEN cmap_status_t cmap__table_init(struct cmap_table *t,
    const cmap_allocator_t *allocator, uint64_t seed, size_t entries);
CMAP_HIDDEN void cmap__table_fini(struct cmap_table *t);

/*
 * Apply one request.  `hash` is cmap__hash(req->key, t->seed), computed
 * by the caller (the sharded backend needs it to pick the shard).
 * Returns the status the request's kind documents in req.h, or
 * CMAP_ENOMEM (table unchanged) or CMAP_EINVAL (update callback returned
 * an unknown action; table unchanged).  Cost: O(1) expected; O(used) when
 * it resizes.
 */
CMAP_HIDDEN cmap_status_t cmap__table_exec(
    struct cmap_table *t, uint64_t hash, struct cmap_req *req);

/* ---- the lookup, inline: every backend's load path is this ---- */

static inline uint64_t
cmap__table_home(const struct cmap_table *t, uint64_t hash)
{
	return hash >> t->shift;
}

static inline struct cmap_slot *
cmap__table_slots(const struct cmap_table *t)
{
	/* The owner writes `slots` under its lock; relaxed suffices for the
	 * lock holder, and lock-free readers use it only to prefetch. */
	return atomic_load_explicit(&t->slots, memory_order_relaxed);
}

/*
 * Find key (never EMPTY_KEY): its slot, or the free slot where it would
 * go.  Terminates because the table always keeps a free slot (table.c,
 * invariant 2).
 */
static inline size_t
cmap__table_probe(const struct cmap_table *t, const struct cmap_slot *s,
    uint64_t key, uint64_t hash, bool *found)
{
	size_t i = (size_t)cmap__table_home(t, hash);

	for (;;) {
		uint64_t k = s[i].key;

		if (k == key) {
			*found = true;
			return i;
		}
		if (k == CMAP_TABLE_EMPTY_KEY) {
			*found = false;
			return i;
		}
		i = (i + 1) & t->mask;
	}
}

/* A load: true and *value when key is present (hash its seeded hash). */
static inline bool
cmap__table_load(
    const struct cmap_table *t, uint64_t key, uint64_t hash, uint64_t *value)
{
	const struct cmap_slot *s = cmap__table_slots(t);
	bool found;
	size_t i;

	if (CMAP_UNLIKELY(key == CMAP_TABLE_EMPTY_KEY)) {
		if (t->zkey_present)
			*value = t->zkey_value;
		return t->zkey_present;
	}
	i = cmap__table_probe(t, s, key, hash, &found);
	if (found)
		*value = s[i].value;
	return found;
}

/* A store only: cmap__table_exec for CMAP_REQ_STORE, returning CMAP_OK,
 * CMAP_INSERTED or CMAP_ENOMEM. */
CMAP_HIDDEN cmap_status_t cmap__table_store(
    struct cmap_table *t, uint64_t key, uint64_t hash, uint64_t value);

/* Remove everything; shrink back to min_capacity when that allocation
 * succeeds (else keep the slots, emptied).  Never fails. */
CMAP_HIDDEN void cmap__table_clear(struct cmap_table *t);

/* Make room for `entries` entries and keep at least that capacity.
 * Returns CMAP_OK or CMAP_ENOMEM (unchanged). */
CMAP_HIDDEN cmap_status_t cmap__table_reserve(
    struct cmap_table *t, size_t entries);

/*
 * Prefetch the home slot of `hash` without holding the owner's lock, so
 * that the cache miss on the slot overlaps the one on the lock.  The two
 * relaxed loads may come from different generations of the table during
 * a resize; the address is then wrong, which costs a useless prefetch and
 * nothing else (a prefetch never faults, and the address is formed with
 * integer arithmetic, never dereferenced).
 */
static inline void
cmap__table_prefetch(const struct cmap_table *t, uint64_t hash)
{
	uintptr_t s =
	    (uintptr_t)atomic_load_explicit(&t->slots, memory_order_relaxed);
	unsigned shift =
	    atomic_load_explicit(&t->pf_shift, memory_order_relaxed);

	__builtin_prefetch((const void *)(s +
	    (uintptr_t)(hash >> shift) * sizeof(struct cmap_slot)));
}

/* Bytes of slot memory the table holds now. */
static inline size_t
cmap__table_bytes(const struct cmap_table *t)
{
	return (size_t)(t->mask + 1) * sizeof(struct cmap_slot);
}

static inline size_t
cmap__table_len(const struct cmap_table *t)
{
	/* Pairs with the relaxed stores under the owner's lock: any value
	 * the count has had; never torn. */
	return atomic_load_explicit(&t->len, memory_order_relaxed);
}

/*
 * Add one table's figures into *st (len, capacity, bytes, grows, shrinks,
 * shards, min/max_shard_len, max_probe) and its probe distances into
 * *sum_probe; the caller starts from a zeroed *st and finishes with
 * cmap__table_stats_done.  Cost: O(capacity).
 */
CMAP_HIDDEN void cmap__table_stats_add(
    const struct cmap_table *t, cmap_stats_t *st, uint64_t *sum_probe);
CMAP_HIDDEN void cmap__table_stats_done(
    cmap_stats_t *st, uint64_t sum_probe, size_t map_struct_bytes);

/*
 * Range support: the table is traversed in chunks of hash space, so that
 * a traversal stays correct when the table is resized between chunks (a
 * key's hash never changes; its slot does).
 *
 * cmap__table_collect copies into buf[] every entry whose hash lies in
 * [lo, *hi] and returns how many.  When more than `room` entries lie in
 * the interval, it narrows *hi (never below lo) until they fit; since the
 * hash is a bijection, an interval of one hash holds at most one entry,
 * so this always succeeds.  cmap__table_chunk_end suggests the end of the
 * next interval starting at lo (about `slots` home slots of the current
 * table).
 */
CMAP_HIDDEN size_t cmap__table_collect(const struct cmap_table *t, uint64_t lo,
    uint64_t *hi, struct cmap_slot *buf, size_t room);
CMAP_HIDDEN uint64_t cmap__table_chunk_end(
    const struct cmap_table *t, uint64_t lo, unsigned slots);

/*
 * Batches.  cmap__table_batch_apply runs the batch's operation on keys
 * [i, i + m) of b, whose hashes are h[0..m), with whatever the table needs
 * held by the caller.  cmap__table_batch runs a whole batch of n keys on
 * one table: in groups of CMAP_BATCH_GROUP keys, each group hashed and its
 * home slots prefetched without the lock, then applied between
 * lock(arg, write) and unlock(arg, write).  Returns the batch's result.
 */
CMAP_HIDDEN void cmap__table_batch_apply(struct cmap_table *t,
    const struct cmap__batch *b, size_t i, size_t m, const uint64_t *h);
CMAP_HIDDEN cmap_status_t cmap__table_batch(struct cmap_table *t,
    const struct cmap__batch *b, size_t n, void (*lock)(void *arg, bool write),
    void (*unlock)(void *arg, bool write), void *arg);

/* Entries a range callback batch holds (on the caller's stack). */
#define CMAP_RANGE_BATCH 256u

/*
 * Traverse `t` in hash-ordered batches, calling fn for each entry with no
 * lock held.  lock(arg)/unlock(arg) bracket each batch's collection (read
 * lock, or misuse check for plain).  Returns true when fn stopped the
 * traversal.  Shared by every backend built on the table core.
 */
CMAP_HIDDEN bool cmap__table_range(struct cmap_table *t,
    void (*lock)(void *arg), void (*unlock)(void *arg), void *arg,
    cmap_range_fn fn, void *ctx);

#endif /* CMAP_TABLE_H */
