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
	/* While a resize drains the previous slots: those, else NULL.  A key
	 * is in exactly one of slots[] and old[] (table.c, RESIZE). */
	struct cmap_slot *old;
	uint64_t seed;
	size_t used;        /* entries in slots[] */
	size_t grow_at;     /* start a resize when used would exceed this */
	_Atomic size_t len; /* used + old_used + zkey; relaxed stores only */
	bool zkey_present;  /* the side slot for the key EMPTY_KEY */
	uint64_t zkey_value;
	/* The resize in progress (cold). */
	uint64_t old_mask;
	unsigned old_shift;
	size_t old_used;        /* entries left in old[] */
	size_t drain_pos;       /* next slot of old[] to move */
	size_t drain_left;      /* slots of old[] not yet visited */
	size_t drain_mark;      /* first drained slot not yet discarded */
	struct cmap_slot *next; /* being zeroed; becomes slots[] when done */
	size_t next_cap;
	size_t next_zeroed; /* bytes of next[] zeroed so far */
	bool next_fresh;    /* next[] came zeroed (cmap__alloc_zeroes) */
	/* Cold. */
	size_t hard_at;      /* an insert beyond this finishes a resize now */
	size_t min_capacity; /* never shrink below (creation/reserve) */
	uint64_t grows, shrinks;
	const cmap_allocator_t *allocator;
};

/* Smallest capacity the table uses. */
#define CMAP_TABLE_MIN_CAPACITY 16u
/* Slots of the old array one write moves during a resize, and bytes of
 * the new array it zeroes before that (table.c, RESIZE). */
#define CMAP_TABLE_STEP_SLOTS 128u
#define CMAP_TABLE_STEP_ZERO 8192u
/* Drained slots of the old array given back to the system at a time. */
#define CMAP_TABLE_DISCARD_SLOTS 4096u
/* A resize to at most this many slots (from at most 8 times as many) is
 * done at once, in the write that starts it: about 0.1 ms here. */
#define CMAP_TABLE_SYNC_SLOTS 16384u

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
 * an unknown action; table unchanged).  Cost: O(1) expected, resizes
 * included: every call that writes advances a resize in progress by at
 * most CMAP_TABLE_STEP_SLOTS slots plus the rest of one cluster
 * (table.c, RESIZE).
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
 * Find key (never EMPTY_KEY) in slots s[mask + 1] whose home slots are
 * hash >> shift: its slot, or the free slot where it would go.
 * Terminates because a table always keeps a free slot (table.c,
 * invariant 2).
 */
static inline size_t
cmap__probe(const struct cmap_slot *s, uint64_t mask, unsigned shift,
    uint64_t key, uint64_t hash, bool *found)
{
	size_t i = (size_t)(hash >> shift);

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
		i = (i + 1) & mask;
	}
}

/* While a resize drains old[]: true when the home of `hash` in old[] is
 * among the slots not yet visited.  Then the key, if present, is in old[]
 * (unless it was inserted after the resize began); otherwise it is not in
 * old[] (table.c, RESIZE). */
static inline bool
cmap__table_home_unvisited(const struct cmap_table *t, uint64_t hash)
{
	return (((hash >> t->old_shift) - t->drain_pos) & t->old_mask) <
	    t->drain_left;
}

/* The lookup in old[] of cmap__table_load while draining: true and *value
 * when key is there. */
static inline bool
cmap__table_load_old(
    const struct cmap_table *t, uint64_t key, uint64_t hash, uint64_t *value)
{
	bool found = false;
	size_t i;

	if (!cmap__table_home_unvisited(t, hash))
		return false;
	i = cmap__probe(t->old, t->old_mask, t->old_shift, key, hash, &found);
	if (found)
		*value = t->old[i].value;
	return found;
}

/* A load: true and *value when key is present (hash its seeded hash).
 * Reads one array; while a resize drains old[], the one the key is most
 * likely in first (table.c, RESIZE). */
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
	if (CMAP_UNLIKELY(t->old != NULL) &&
	    cmap__table_load_old(t, key, hash, value))
		return true;
	i = cmap__probe(s, t->mask, t->shift, key, hash, &found);
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

/* Bytes of slot memory the table holds now (during a resize, all of
 * its arrays). */
static inline size_t
cmap__table_bytes(const struct cmap_table *t)
{
	size_t n = (size_t)(t->mask + 1);

	if (t->old != NULL)
		n += (size_t)(t->old_mask + 1);
	if (t->next != NULL)
		n += t->next_cap;
	return n * sizeof(struct cmap_slot);
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
 * Traverse `t` in batches of at most CMAP_RANGE_BATCH entries, calling fn
 * for each entry with no lock held.  lock(arg)/unlock(arg) bracket each
 * batch's collection (read lock, or misuse check for plain).  Returns
 * true when fn stopped the traversal.  Shared by every backend built on
 * the table core.
 *
 * The traversal walks the hash space upwards in intervals whose width is
 * fixed when it starts (CMAP_RANGE_BATCH / 2 home slots of the table
 * then); an interval that holds more than a batch is cut after the
 * CMAP_RANGE_BATCH entries of lowest hash.  A key's hash never changes,
 * so a resize between batches neither hides a key present throughout nor
 * shows one twice.  Its work is bounded whatever the callback does:
 * at most C / 128 + V / CMAP_RANGE_BATCH + 1 batches for a table of C
 * slots at the start and V visits, and a key is visited at most once, so
 * V <= the entries present at the start plus those inserted during the
 * traversal ahead of its position.  A callback that inserts k new random
 * keys per visit ends the traversal after about (e^k - 1) / k times the
 * entries present at its start (1.72 for k = 1): it always terminates.
 */
CMAP_HIDDEN bool cmap__table_range(struct cmap_table *t,
    void (*lock)(void *arg), void (*unlock)(void *arg), void *arg,
    cmap_range_fn fn, void *ctx);

#endif /* CMAP_TABLE_H */
