/*
 * lf.h - what the files of the lockfree backend share: its parameters, the
 * slot encoding, the structs of tables, records and the map, the inline
 * pieces of the hot paths, and the entry points each file gives the others.
 *
 * docs/lockfree.md is the long form of these files' comments (with the
 * memory ordering argument per operation); what must stay true is repeated
 * in them.
 *
 * FILES
 *
 *   lf.h                this header.  Besides the structs: everything a
 *                       load or a store runs on its common path, static
 *                       inline (finding the thread's record, pin, unpin,
 *                       the fast lookup), so that it costs no call.
 *   lf_atomic.h         the atomics, each with its ordering in its name.
 *   lf_table.c          slots and probing: table allocation and sizing,
 *                       lookups (the fallback walk of lf_find), range's
 *                       per-slot questions.
 *   lf_migrate.c        migration (start, freeze, copy, help, advance) and
 *                       the write path, which drives it.
 *   lf_reclaim.c        epochs, retiring and freeing tables, orphans,
 *                       recycling, thread records and the process-wide
 *                       registry of live maps.
 *   backend_lockfree.c  the ops table: the descriptor and its entry points.
 *
 * What one of these files gives the others is declared below, CMAP_HIDDEN
 * and named cmap__lf_*; everything else is static, named lf_*.
 *
 * SLOTS
 *
 * A slot is a pair of words {w, v} (struct lf_pair, lf_atomic.h) always
 * written together by one 16-byte CAS (cmpxchg16b).  v is the user's
 * value, all 64 bits of it.  w is the key's seeded hash h shifted left by
 * three, with a state in the three low bits:
 *
 *   0 EMPTY   w == 0: never used in this table
 *   1 LIVE    (h<<3)|1, v = the key's value
 *   2 TOMB    (h<<3)|2: the key was deleted; the slot stays the key's
 *   3 FROZEN  (h<<3)|3: LIVE frozen by a migration; v is kept until the
 *             entry is copied into the next table (readers may use it)
 *   4 GONE    (h<<3)|4: TOMB frozen by a migration
 *   5 SEALED  w == 5: EMPTY frozen by a migration (no key)
 *
 * The hash is a bijection of the key (cmap__hash), so no key is reserved;
 * the three high bits of h that the shift drops are recovered from the
 * slot's position: with a capacity C divisible by 8, the home slot
 * mulhi(h, C) of the 8 hashes that share h's low 61 bits are C/8 apart,
 * and a probe never goes further than C/8 - 1 slots from home (a longer
 * one forces a migration), so exactly one of the 8 homes is within reach
 * of the slot.  Range and migration use that to get h (and the key) back
 * (lf_slot_hash).  No value is reserved either: states live in w only.
 *
 * Transitions (each one CAS of the whole pair):
 *   EMPTY -> LIVE (insert), LIVE -> LIVE (overwrite), LIVE -> TOMB
 *   (delete), TOMB -> LIVE (insert again), and, once the table has a
 *   successor: EMPTY -> SEALED, LIVE -> FROZEN, TOMB -> GONE.
 *   GONE and SEALED are final; FROZEN is final but for FROZEN -> GONE,
 *   made when the entry's copy runs into the target of a clear further
 *   down the chain (lf_migrate.c, lf_copy_dropped).  A slot that holds a
 *   key holds it for the table's whole life, so a key has at most one slot
 *   per table, and v changes only in transitions to LIVE.
 */
#ifndef CMAP_LF_H
#define CMAP_LF_H

#include "internal.h"
#include "lf_atomic.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <ck_epoch.h>

#if defined(CMAP_TSAN)
void __tsan_acquire(void *addr);
void __tsan_release(void *addr);
#endif

/* ---------------------------------------------------------------------
 * Parameters
 * ------------------------------------------------------------------- */
#define LF_CHUNK 256u        /* slots migrated per help step */
#define LF_MIN_CAP 256u      /* smallest table (a multiple of 8) */
#define LF_DEFAULT_CAP 384u  /* capacity hint 0; doubles to 1.5M at 1M */
#define LF_STRIPES 8u        /* per-table used-slot counters */
#define LF_POLL_EVERY 64u    /* ops between ck_epoch_poll when pending */
#define LF_SHRINK_EVERY 256u /* deletes between shrink checks (a thread) */
#define LF_SPARE_CAP 64u     /* the spare drop table of cmap_clear */
/* A successor table is cleared in steps of this many bytes (a byte per
 * page written when it came zeroed), claimed by the writers that meet its
 * predecessor, before it is published (lf_migrate.c, PREPARATION). */
#define LF_PREP_STEP ((size_t)8 << 10)
/* Times a writer that finds a full table whose successor another thread
 * is preparing yields before it makes one of its own (lf_migrate.c,
 * lf_late). */
#define LF_LATE_YIELDS 64u
/*
 * Most bytes of retired tables that may wait for their grace period before
 * a new migration is refused: 4 times the table being replaced plus
 * 64 MiB.  Retired bytes accrue at about 21 bytes per insert of a new key
 * (a table of C slots is replaced after at most 3C/4 of them), and wait as
 * long as the slowest read section in progress (a descheduled thread: tens
 * of milliseconds when threads outnumber cores), so the fixed part covers
 * a few million inserts in one such pause.
 */
#define LF_PENDING_CAP(t) (4 * (uint64_t)(t)->bytes + (UINT64_C(64) << 20))

/* ---------------------------------------------------------------------
 * Slot states (SLOTS above)
 * ------------------------------------------------------------------- */
#define LF_EMPTY 0u
#define LF_LIVE 1u
#define LF_TOMB 2u
#define LF_FROZEN 3u
#define LF_GONE 4u
#define LF_SEALED 5u

#define LF_ST(w) ((unsigned)((w)&7u))
/* True when w is a slot of the key whose tag is t (states LIVE..GONE). */
#define LF_KEYED(w, t) (((w) & ~(uint64_t)7) == (t) && LF_ST(w) - 1u < 4u)

/* ---------------------------------------------------------------------
 * Tables, records, the map
 * ------------------------------------------------------------------- */
struct lf_map;

struct lf_stripe {
	uint64_t n;
	char pad[CMAP_CACHE_LINE - sizeof(uint64_t)];
};

struct lf_table {
	/* Read-only after publication. */
	uint64_t cap;  /* slots, a multiple of 8, >= LF_MIN_CAP */
	uint64_t dmax; /* longest probe: cap / 8 - 1 */
	uint64_t soft; /* used slots that start a migration: 3/4 */
	uint64_t hard; /* used slots past which inserts need next: 15/16 */
	uint64_t nchunks;
	uint64_t batch;      /* slots a record counts before adding to used */
	uint64_t inv_eighth; /* 2^64 / (cap / 8), rounded down */
	struct lf_pair *slots;
	uint64_t *chunk_done; /* 0/1 per chunk, set once by CAS */
	struct lf_map *map;
	size_t bytes; /* the whole allocation */
	int drop;     /* target of a clear: frozen entries are dropped */
	bool fresh;   /* came zeroed: its clear steps touch pages only */
	ck_epoch_entry_t entry;       /* for ck_epoch_call */
	struct lf_table *orphan_next; /* link in map->orphans or ->release */
	size_t released;              /* bytes given back (map->release) */

	/* Written during a migration of this table. */
	struct lf_table *next __attribute__((aligned(CMAP_CACHE_LINE)));
	uint64_t claim; /* next chunk to hand out (fetch-and-add) */
	uint64_t ndone; /* chunks finished */
	uint64_t over;  /* 1 once used >= soft was seen */
	uint64_t full;  /* 1 once used >= hard, or a probe out of reach */
	uint64_t reach; /* 1 once a probe ran out of reach */
	/* The successor while it is cleared (lf_migrate.c, PREPARATION):
	 * set once (release), after prep_steps; it becomes next when its
	 * last step is done, or is freed with this table if next was set
	 * otherwise (lf_prep_unpublished). */
	struct lf_table *prep;
	uint64_t prep_steps; /* LF_PREP_STEP steps that clear prep's body */
	uint64_t prep_claim; /* next step to hand out (fetch-and-add) */
	uint64_t prep_done;  /* steps finished (fetch-and-add) */
	uint64_t claim_new;  /* 1 while (or once) a thread allocates prep */
	/* slots taken (EMPTY -> LIVE) */
	struct lf_stripe used[LF_STRIPES]
	    __attribute__((aligned(CMAP_CACHE_LINE)));
};

/* A thread's record in one map (lf_reclaim.c, THREAD RECORDS). */
struct lf_rec {
	ck_epoch_record_t er; /* first: ck_epoch hands back &er */
	int64_t live;         /* entries added minus removed by its owners */
	uint64_t ops;         /* operations, to pace polls */
	uint64_t dels;        /* deletes, to pace shrink checks */
	struct lf_table *ut;  /* the table whose slots it is counting */
	uint64_t un;          /* slots taken in ut, not yet added to used */
	int poll_now;         /* retired a table in this operation */
	unsigned stripe;
	struct lf_map *map;
	struct lf_rec *next_all; /* every record of the map, never unlinked */
	uint64_t owner;          /* the owning thread's id; 0 when free */
} __attribute__((aligned(CMAP_CACHE_LINE)));

struct lf_map {
	struct cmap base;
	cmap_allocator_t alloc;
	uint64_t seed;
	uint64_t min_cap; /* from the capacity hint and cmap_reserve */
	uint64_t id;      /* unique in the process, never reused */
	/* What lf_load compares a thread's cached record with: id when its
	 * fast path may pin (membarrier, or TSan's ck_epoch_begin), else
	 * LF_NO_FAST, which no cache entry holds; on id's cache line, so
	 * that one compare does both tests (set by cmap__lf_register_map). */
	uint64_t fast_id;
	struct cmap__link reg; /* in lf_reclaim.c's registry of live maps */
	int memb;              /* readers pin without a fence (membarrier) */

	struct lf_table *cur __attribute__((aligned(CMAP_CACHE_LINE)));
	uint64_t cur_cap; /* cur's capacity, for lf_recycle */

	ck_epoch_t epoch __attribute__((aligned(CMAP_CACHE_LINE)));
	struct lf_rec *recs; /* pushed by CAS, freed at destroy */
	uint64_t nrecs;
	struct lf_table *orphans; /* retired tables waiting for a record */
	struct lf_table *release; /* freed tables giving back their pages */
	struct lf_table *spare;   /* a drop table for clear, or NULL */
	struct lf_table *recycle; /* a retired table kept for reuse, or NULL */
	uint64_t naked;           /* ops running without a record */
	uint64_t naked_live;      /* len delta of ops without a record */
	uint64_t bytes;           /* allocated from the hooks, now */
	uint64_t pending_bytes;   /* retired, not yet freed */
	uint64_t grows, shrinks;
	char tsan_sync; /* the address of the grace-period annotation */
};

/*
 * The thread-local cache of records (lf_reclaim.c, THREAD RECORDS):
 * direct-mapped, keyed by map id.  Defined in lf_reclaim.c; read here by
 * lf_rec_get.
 */
#define LF_TLS_CACHE 8u       /* a power of two */
#define LF_NO_FAST UINT64_MAX /* never a map id (ids count up from 1) */

struct lf_tls_ent {
	uint64_t map_id; /* 0: empty (map ids start at 1) */
	struct lf_rec *rec;
};

struct lf_tls {
	uint64_t tid; /* this thread's id, 0 before its first operation */
	struct lf_tls_ent cache[LF_TLS_CACHE];
};

#if defined(__GNUC__)
#define LF_TLS_MODEL __attribute__((tls_model("initial-exec")))
#else
#define LF_TLS_MODEL
#endif

CMAP_HIDDEN extern _Thread_local struct lf_tls cmap__lf_tls LF_TLS_MODEL;

/* ---------------------------------------------------------------------
 * lf_table.c: tables and lookups
 * ------------------------------------------------------------------- */
/* Slots needed to hold n entries below the soft limit (UINT64_MAX when
 * n is beyond any table). */
CMAP_HIDDEN uint64_t cmap__lf_cap_for(uint64_t n);
/* A cleared table of cap slots (the recycled one if it has that size),
 * marked as a clear's target if drop; NULL when it cannot be allocated. */
CMAP_HIDDEN struct lf_table *cmap__lf_table_new(
    struct lf_map *m, uint64_t cap, int drop);
/* The same with only its header set: *steps is the number of
 * LF_PREP_STEP steps (cmap__lf_table_clear_step) that clear the rest
 * (write a byte per page of it when the block came zeroed: t->fresh). */
CMAP_HIDDEN struct lf_table *cmap__lf_table_alloc(
    struct lf_map *m, uint64_t cap, uint64_t *steps);
/* Clear step k of t's slots and chunk flags. */
CMAP_HIDDEN void cmap__lf_table_clear_step(struct lf_table *t, uint64_t k);
/* Give the map a spare drop table if it has none (see lf_clear). */
CMAP_HIDDEN void cmap__lf_spare_refill(struct lf_map *m);
/* The lookup of h from t when lf_find_fast met a migration. */
CMAP_HIDDEN bool cmap__lf_find_slow(
    struct lf_table *t, uint64_t h, uint64_t *out);
/* Range: is the key of hash h in t, in any state?  And its value from
 * slot s of t, which holds w. */
CMAP_HIDDEN bool cmap__lf_has_slot(const struct lf_table *t, uint64_t h);
CMAP_HIDDEN bool cmap__lf_slot_value(
    struct lf_table *t, uint64_t s, uint64_t w, uint64_t h, uint64_t *out);

/* ---------------------------------------------------------------------
 * lf_migrate.c: migration and the write path
 * ------------------------------------------------------------------- */
/* OK: t has a successor; NOMEM: it could not be allocated; DEFERRED: too
 * many retired bytes wait for their grace period; ROOM: not started, as a
 * retired table still waits and t has room: keep filling t. */
enum { LF_MIG_OK, LF_MIG_NOMEM, LF_MIG_DEFERRED, LF_MIG_ROOM };

/* Write request q on the key of hash h, starting at table t. */
CMAP_HIDDEN cmap_status_t cmap__lf_write(struct lf_map *m, struct lf_rec *r,
    struct lf_table *t, uint64_t h, struct cmap_req *q);
/* A store's common case (lf_migrate.c): the status, or LF_GENERAL for
 * cmap__lf_write. */
#define LF_GENERAL (-1000)
CMAP_HIDDEN int cmap__lf_store_fast(struct lf_map *m, struct lf_rec *r,
    struct lf_table *t, uint64_t h, uint64_t value);
/* Give t a successor (LF_MIG_*), at least want_cap slots. */
CMAP_HIDDEN int cmap__lf_start_migration(
    struct lf_map *m, struct lf_table *t, uint64_t want_cap);
/* Migrate chunk c of t (which has a successor). */
CMAP_HIDDEN cmap_status_t cmap__lf_migrate_chunk(
    struct lf_map *m, struct lf_rec *r, struct lf_table *t, uint64_t c);
/* Finish every migration in progress. */
CMAP_HIDDEN cmap_status_t cmap__lf_help_all(struct lf_map *m, struct lf_rec *r);
/* Advance map->cur past every finished table, retiring each. */
CMAP_HIDDEN void cmap__lf_advance(struct lf_map *m, struct lf_rec *r);

/* ---------------------------------------------------------------------
 * lf_reclaim.c: reclamation, records, the registry of maps
 * ------------------------------------------------------------------- */
/* Add m to (take it off) the process-wide list of live maps. */
CMAP_HIDDEN void cmap__lf_register_map(struct lf_map *m);
CMAP_HIDDEN void cmap__lf_unregister_map(struct lf_map *m);
/* This thread's record in m when the cache misses (NULL: none). */
CMAP_HIDDEN struct lf_rec *cmap__lf_rec_slow(struct lf_map *m);
/* Reclaim what can be; called outside read sections. */
CMAP_HIDDEN void cmap__lf_poll(struct lf_map *m, struct lf_rec *r);
/* After an operation that found reclamation work due (lf_after_op): give
 * back a step of pages, poll when it is time. */
CMAP_HIDDEN void cmap__lf_after_op_work(struct lf_map *m, struct lf_rec *r);
/* Retire t, which map->cur no longer leads to. */
CMAP_HIDDEN void cmap__lf_retire(
    struct lf_map *m, struct lf_rec *r, struct lf_table *t);
/* len: the sum of the records' counters. */
CMAP_HIDDEN uint64_t cmap__lf_len_of(struct lf_map *m);

/* ---------------------------------------------------------------------
 * Small helpers
 * ------------------------------------------------------------------- */
static inline uint64_t
lf_mulhi(uint64_t a, uint64_t b)
{
	return (uint64_t)(((unsigned __int128)a * b) >> 64);
}

static inline uint64_t
lf_home(uint64_t h, uint64_t cap)
{
	return lf_mulhi(h, cap);
}

/*
 * The hash stored at slot s as w (see SLOTS above), and its probe
 * distance.
 */
static inline uint64_t
lf_slot_hash(const struct lf_table *t, uint64_t s, uint64_t w, uint64_t *dist)
{
	uint64_t low = w >> 3;
	uint64_t eighth = t->cap / 8;
	uint64_t base = lf_mulhi(low, t->cap);
	uint64_t off = s >= base ? s - base : s + t->cap - base;
	/* off / eighth without a division: an estimate off by at most one
	 * from the reciprocal, then corrected. */
	uint64_t top = lf_mulhi(off, t->inv_eighth);

	if (top * eighth > off)
		top--;
	else if ((top + 1) * eighth <= off)
		top++;

	if (dist != NULL)
		*dist = off - top * eighth;
	return (top << 61) | low;
}

/* Allocation through the map's hooks, counted in map->bytes. */
static inline void *
lf_alloc(struct lf_map *m, size_t size, size_t align)
{
	void *p = cmap__alloc(&m->alloc, size, align);

	if (p != NULL)
		lf_faa_64(&m->bytes, size);
	return p;
}

static inline void
lf_free(struct lf_map *m, void *p, size_t size)
{
	if (p == NULL)
		return;
	cmap__free(&m->alloc, p, size);
	lf_faa_64(&m->bytes, -(uint64_t)size);
}

static inline void
lf_table_free(struct lf_map *m, struct lf_table *t)
{
	lf_free(m, t, t->bytes);
}

/*
 * t's successor in preparation that was never published (next was set by
 * a clear, a reserve or a writer that could not wait for it), or NULL:
 * it dies with t, whose grace period covers every thread that reached it
 * through t->prep.  Only for a table nobody else can reach (in its free
 * callback, or at destroy).
 */
static inline struct lf_table *
lf_prep_unpublished(const struct lf_table *t)
{
	return t->prep != t->next ? t->prep : NULL;
}

/* len: count d entries in (or out), on the record if there is one. */
static inline void
lf_len_add(struct lf_map *m, struct lf_rec *r, int64_t d)
{
	if (CMAP_LIKELY(r != NULL))
		lf_store_rlx_64((uint64_t *)&r->live,
		    lf_load_rlx_64((uint64_t *)&r->live) + (uint64_t)d);
	else
		lf_faa_64(&m->naked_live, (uint64_t)d);
}

/* ---------------------------------------------------------------------
 * The hot path of every operation: record, read section, lookup
 * ------------------------------------------------------------------- */
/* The entry of this thread's record cache where m's record would be. */
static inline const struct lf_tls_ent *
lf_tls_ent(const struct lf_map *m)
{
	return &cmap__lf_tls.cache[m->id & (LF_TLS_CACHE - 1)];
}

/* This thread's record in m: one thread-local load and one compare. */
static inline struct lf_rec *
lf_rec_get(struct lf_map *m)
{
	const struct lf_tls_ent *c = lf_tls_ent(m);

	if (CMAP_LIKELY(c->map_id == m->id))
		return c->rec;
	return cmap__lf_rec_slow(m);
}

/*
 * Enter a read section.  With membarrier, no fence: the thread that
 * retires a table runs membarrier() between unlinking it and deferring
 * its free (cmap__lf_retire), which orders this store of `active` before
 * that thread's later epoch scans, or else orders our later loads of table
 * pointers after the unlink.  Without membarrier (or under TSan),
 * ck_epoch_begin's fence does the same.  Without a record, a seq_cst
 * increment of map->naked, paired with lf_table_free_cb (lf_reclaim.c).
 */
/* The common case of lf_pin, record r (not NULL) outside any read
 * section: true when pinned; false, with nothing done, when the caller
 * must use lf_pin (no membarrier, or a section already open).
 * lf_pin_fast_memb is the same for a caller that knows m->memb is set
 * (lf_load, through fast_id). */
static inline bool
lf_pin_fast_memb(struct lf_map *m, struct lf_rec *r)
{
#if defined(CMAP_TSAN)
	(void)m;
	ck_epoch_begin(&r->er, NULL);
	return true;
#else
	if (CMAP_UNLIKELY(r->er.active != 0))
		return false;
	ck_pr_store_uint(&r->er.active, 1);
	ck_pr_barrier();
	ck_pr_store_uint(&r->er.epoch, ck_pr_load_uint(&m->epoch.epoch));
	ck_pr_barrier();
	return true;
#endif
}

static inline bool
lf_pin_fast(struct lf_map *m, struct lf_rec *r)
{
#if !defined(CMAP_TSAN)
	if (CMAP_UNLIKELY(!m->memb))
		return false;
#endif
	return lf_pin_fast_memb(m, r);
}

static inline void
lf_pin(struct lf_map *m, struct lf_rec *r)
{
	if (CMAP_UNLIKELY(r == NULL)) {
		lf_faa_64(&m->naked, 1);
		return;
	}
	if (CMAP_LIKELY(lf_pin_fast(m, r)))
		return;
#if !defined(CMAP_TSAN)
	if (m->memb) { /* nested: only the count */
		ck_pr_store_uint(&r->er.active, r->er.active + 1);
		return;
	}
#endif
	ck_epoch_begin(&r->er, NULL);
}

static inline void
lf_unpin(struct lf_map *m, struct lf_rec *r)
{
	if (CMAP_UNLIKELY(r == NULL)) {
		lf_faa_64(&m->naked, (uint64_t)-1);
		return;
	}
#if defined(CMAP_TSAN)
	__tsan_release(&m->tsan_sync);
#endif
	/* ck_epoch_end: a release fence, then the store of active. */
	ck_epoch_end(&r->er, NULL);
}

/* lf_unpin after lf_pin_fast returned true: the section is not nested,
 * so the count goes back to 0 without reading it. */
static inline void
lf_unpin_fast(struct lf_map *m, struct lf_rec *r)
{
#if defined(CMAP_TSAN)
	lf_unpin(m, r);
#else
	(void)m;
	/* ck_epoch_end's order: a release fence, then the store. */
	ck_pr_fence_release();
	ck_pr_store_uint(&r->er.active, 0);
#endif
}

/* Is there reclamation work for lf_after_op?  Two loads: the record's
 * pending count, and the map's two lists (orphans, release), which share a
 * cache line that only changes when a table is retired or freed. */
static inline bool
lf_after_op_due(const struct lf_map *m, const struct lf_rec *r)
{
	return r->er.n_pending != 0 ||
	    ((uintptr_t)lf_load_acq_ptr((void **)&m->orphans) |
	        (uintptr_t)lf_load_acq_ptr((void **)&m->release)) != 0;
}

/* After an operation, outside its read section: poll when it is time
 * (lf_reclaim.c). */
static inline void
lf_after_op(struct lf_map *m, struct lf_rec *r)
{
	if (CMAP_LIKELY(r != NULL) && CMAP_UNLIKELY(lf_after_op_due(m, r)))
		cmap__lf_after_op_work(m, r);
}

/*
 * The common case of a lookup, with as little state as the processor can
 * keep in registers: probe t for h and decide only where lf_find
 * (lf_table.c) would decide the same at once (a LIVE or TOMB slot of the
 * key, or an EMPTY end of probe, in the first table).  Returns 1 (present,
 * *out set), 0 (absent), or -1 when the probe met a migration (a FROZEN,
 * GONE or SEALED slot, or no room within reach): then cmap__lf_find_slow
 * decides.
 */
static inline int
lf_find_fast(const struct lf_table *t, uint64_t h, uint64_t *out)
{
	const uint64_t tag = h << 3, cap = t->cap, dmax = t->dmax;
	struct lf_pair *slots = t->slots;
	uint64_t s = lf_home(h, cap), d = 0;

	for (;;) {
		/* Acquire: as in lf_find. */
		uint64_t w = lf_load_acq_64(&slots[s].w);

		/* The key LIVE (a hit) first: one compare. */
		if (CMAP_LIKELY(w == (tag | LF_LIVE))) {
			*out = lf_load_rlx_64(&slots[s].v);
			return 1;
		}
		if ((w ^ tag) < 8u) /* the key, in another state */
			return LF_ST(w) == LF_TOMB ? 0 : -1;
		if (w == LF_EMPTY)
			return 0;
		if (w == LF_SEALED || ++d > dmax)
			return -1;
		s = s + 1 == cap ? 0 : s + 1;
	}
}

#endif /* CMAP_LF_H */
