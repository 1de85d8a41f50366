/*
 * backend_readmostly.c - reads without locks or shared writes, writes one
 * at a time: Go's sync.Map idea (readers use a table they never lock;
 * writers serialise on a mutex) without its dirty map, its promotion copy,
 * its lingering deleted entries or its missing size.
 *
 * LAYOUT
 *   A table is an array of buckets, one cache line each: a meta word and
 *   three {key, value} ways.  The meta word holds which ways are present,
 *   a "moved" bit (migration), an overflow count (how many entries of this
 *   table homed at or before this bucket lie after it) and a version.  A
 *   key's home bucket is ((hash >> 32) * nb) >> 32 (any bucket count, so
 *   growth steps need not double); an insert takes the first free way from
 *   home on, and every bucket it passed counts it in its overflow count.
 *
 * READS (no lock, no atomic read-modify-write, no shared write)
 *   A lookup reads each bucket on the key's path as a seqlock: meta
 *   (acquire), the ways (acquire), meta again; equal and not WRITING means
 *   a consistent snapshot of the bucket.  It stops at the key, or at a
 *   bucket whose overflow count is 0: no entry homed before it lies past
 *   it.  Keys never move inside a table, and a delete frees its way at
 *   once (no tombstone); a lookup that misses a key present for its whole
 *   duration is impossible, since every bucket between the key's home and
 *   its way counts it.  So a hit is linearizable at its validated snapshot
 *   and a miss at a moment the key was absent.
 *
 * WRITES (under one mutex, the map's wordlock)
 *   Bucket updates go through bk_begin/bk_end (WRITING bit, release stores
 *   of the data, version bump).  An insert raises the overflow counts of
 *   the buckets it passes before it fills its way; a delete frees the way
 *   before it lowers them, so a reader never stops early.
 *
 * RESIZE (incremental, as Redis's dict): when len passes 3/4 of the slots,
 *   or falls under 1/4, a table sized for 9/16 load is allocated; every
 *   write then zeroes RM_ZERO_STEP of its buckets, publishes it as the old
 *   table's `next` once all are zero, then moves RM_MOVE_STEP old buckets
 *   (copy the ways, then set MOVED).  A write to a key first moves the
 *   key's own old bucket, then works on the new table only, so the old
 *   table is frozen while it migrates and a reader that finds the key in
 *   an unmoved bucket has its current value; a reader that finds it moved,
 *   or absent, goes on to `next`.  The bound: a write does at most one op,
 *   one bucket moved for its key, RM_MOVE_STEP buckets (24 entries) moved
 *   and RM_ZERO_STEP buckets (4 KiB) zeroed; the step sizes leave the new
 *   table under 3/4 full when the migration ends.  When len drops to 0 the
 *   tables are swapped for a fresh one of the minimum size at once.
 *
 * RECLAMATION (this file's own epochs; the lockfree backend has ck_epoch)
 *   A reader sets its per-thread record's state to (epoch << 1) | 1 before
 *   it loads `cur` and to 0 after.  Retiring a table bumps the epoch after
 *   unlinking it; the table is freed once no record is active with an
 *   epoch at most the one it was retired in.  The store-load order the
 *   reader needs between its state and `cur` comes from
 *   membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED) issued by the retiring
 *   writer (else, and under TSan, from a fence / seq_cst).  Frees happen
 *   under the mutex: at retirement and every RM_POLL_EVERY writes.  A
 *   table of CMAP_RELEASE_MIN bytes or more whose grace period is over
 *   is not freed in one call (with malloc-based hooks the free of a
 *   touched 219 MiB table took 18.3 ms in one store): it joins the release
 *   list, and each write gives back CMAP_RELEASE_STEP bytes of its pages
 *   (cmap__release_step, shared with the lockfree backend) until the
 *   free that ends it costs little.
 *
 * THREAD RECORDS: found through a direct-mapped cache in thread-local
 *   storage keyed by the map's id (process-unique, never reused: the
 *   file's one global counter).  On a miss the thread takes the mutex,
 *   looks for the record owned by its pthread_t in the map's list (a
 *   thread that exited left its record to the next thread given the same
 *   pthread_t), else allocates one.  No registration, no pthread key.  A
 *   thread whose record cannot be allocated reads under the mutex.
 *   Records: one per distinct pthread_t that used the map, freed on
 *   destroy.
 */
#include "lock.h"
#include "metrics.h"

#include <pthread.h>
#include <string.h>

#if !defined(CMAP_TSAN)
#include <unistd.h>
#endif

#define RM_WAYS 3u
#define RM_MIN_BUCKETS 4u
#define RM_MAX_BUCKETS (UINT64_C(1) << 32) /* the home formula's limit */
#define RM_ZERO_STEP 64u /* buckets of the next table zeroed per write */
#define RM_MOVE_STEP 8u  /* old buckets migrated per write */
#define RM_POLL_EVERY 64u
#define RM_RANGE_BUCKETS 64u
#define RM_RANGE_BATCH 256u
#define RM_TLS_CACHE 8u /* a power of two */

/* The meta word of a bucket. */
#define M_WRITING UINT64_C(1)
#define M_PRESENT(w) (UINT64_C(2) << (w))
#define M_PRESENT_ALL (UINT64_C(7) << 1)
#define M_MOVED (UINT64_C(1) << 4)
#define M_OVF_SHIFT 8
#define M_OVF_MAX UINT64_C(0xffff) /* saturated: sticky until migration */
#define M_OVF_MASK (M_OVF_MAX << M_OVF_SHIFT)
#define M_VER_ONE (UINT64_C(1) << 24)

struct rm_bucket {
	_Alignas(CMAP_CACHE_LINE) _Atomic uint64_t meta;
	_Atomic uint64_t key[RM_WAYS];
	_Atomic uint64_t val[RM_WAYS];
};

struct rm_table {
	uint64_t nb;                   /* buckets; immutable once shared */
	struct rm_table *_Atomic next; /* the table it migrates into */
	struct rm_table *retired_next; /* retired list (writer) */
	uint64_t retire_epoch;         /* epoch it was retired in */
	size_t released;               /* bytes given back (release list) */
	size_t used;                   /* entries present, not moved */
	struct rm_bucket b[];          /* 64-byte aligned */
};

struct rm_rec {
	_Alignas(CMAP_CACHE_LINE) _Atomic uint64_t state; /* owner writes */
	pthread_t owner;                                  /* under lock */
	struct rm_rec *next;                              /* under lock */
};

struct rm_map {
	struct cmap base;
	/* What every read reads: written only when a migration ends. */
	_Alignas(CMAP_CACHE_LINE) struct rm_table *_Atomic cur;
	_Atomic uint64_t epoch;
	uint64_t id;
	int memb; /* membarrier registered */
	/* The writers' line. */
	_Alignas(CMAP_CACHE_LINE) cmap__wordlock_t lock;
	_Atomic size_t len;    /* relaxed stores under the lock */
	struct rm_table *next; /* being zeroed or migrated into, or NULL */
	bool migrating;        /* next is published, cursor runs */
	uint64_t zeroed;       /* buckets of next zeroed so far */
	bool next_fresh;       /* next came zeroed (rm_comes_zeroed) */
	uint64_t cursor;       /* next old bucket to migrate */
	uint64_t min_nb;       /* creation capacity / reserve */
	struct rm_table *retired;
	struct rm_table *release; /* unreadable, giving back pages */
	struct rm_rec *recs;
	size_t nrecs;
	unsigned writes;
	uint64_t grows, shrinks;
};

#define RM(m) ((struct rm_map *)(m))

struct rm_tls_ent {
	uint64_t id;
	struct rm_rec *rec;
};

#if defined(__GNUC__) && !defined(CMAP_TSAN)
#define RM_TLS_MODEL __attribute__((tls_model("initial-exec")))
#else
#define RM_TLS_MODEL
#endif

static _Thread_local struct rm_tls_ent rm_tls[RM_TLS_CACHE] RM_TLS_MODEL;
static _Atomic uint64_t rm_next_id;

/* Under TSan the reader's store-load order is seq_cst, which it models. */
#if defined(CMAP_TSAN)
#define RM_ORD_PUB memory_order_seq_cst
#else
#define RM_ORD_PUB memory_order_acquire
#endif

/* ---------------------------------------------------------------------
 * Buckets and tables
 * ------------------------------------------------------------------- */
static inline uint64_t
rm_home(const struct rm_table *t, uint64_t h)
{
	return ((h >> 32) * t->nb) >> 32;
}

static inline uint64_t
rm_succ(const struct rm_table *t, uint64_t i)
{
	return i + 1 == t->nb ? 0 : i + 1;
}

static inline uint64_t
ovf_of(uint64_t meta)
{
	return (meta & M_OVF_MASK) >> M_OVF_SHIFT;
}

static size_t
rm_table_bytes(uint64_t nb)
{
	return sizeof(struct rm_table) + (size_t)nb * sizeof(struct rm_bucket);
}

/* A table of nb buckets, not zeroed (rm_zero does it, in steps). */
static struct rm_table *
rm_table_alloc(struct rm_map *m, uint64_t nb)
{
	struct rm_table *t;

	if (nb > RM_MAX_BUCKETS ||
	    nb > (SIZE_MAX - sizeof *t) / sizeof(struct rm_bucket))
		return NULL;
	t = cmap__alloc(
	    &m->base.allocator, rm_table_bytes(nb), CMAP_CACHE_LINE);
	if (t == NULL)
		return NULL;
	memset(t, 0, sizeof *t);
	t->nb = nb;
	/* Seqlocked: readers take no lock (internal.h, CMAP_HG_*). */
	CMAP_HG_BENIGN_SIZED(t, rm_table_bytes(nb), "seqlocked buckets");
	return t;
}

/* Whether a fresh table of nb buckets comes zeroed (fresh kernel pages,
 * map.c): then nothing zeroes it, and its pages fault in as written. */
static bool
rm_comes_zeroed(const struct rm_map *m, uint64_t nb)
{
	return cmap__alloc_zeroes(&m->base.allocator, rm_table_bytes(nb));
}

/* Zero buckets [from, to) of t; fresh: t came zeroed, and only its pages'
 * first bytes are written (cmap__clear_step). */
static void
rm_zero(struct rm_table *t, uint64_t from, uint64_t to, bool fresh)
{
	cmap__clear_step(t->b, (size_t)from * sizeof t->b[0],
	    (size_t)(to - from) * sizeof t->b[0], fresh);
}

/* A table of nb buckets zeroed now, for use at once; NULL on failure. */
static struct rm_table *
rm_table_new(struct rm_map *m, uint64_t nb)
{
	struct rm_table *t = rm_table_alloc(m, nb);

	if (t != NULL && !rm_comes_zeroed(m, nb))
		rm_zero(t, 0, nb, false);
	return t;
}

static void
rm_table_free(struct rm_map *m, struct rm_table *t)
{
	if (t != NULL)
		cmap__free(&m->base.allocator, t, rm_table_bytes(t->nb));
}

/* Writer side of the bucket seqlock. */
static uint64_t
bk_begin(struct rm_bucket *b)
{
	uint64_t meta = atomic_load_explicit(&b->meta, memory_order_relaxed);

	/* The data stores after it are releases: a reader that sees one
	 * sees WRITING in its second meta load. */
	atomic_store_explicit(&b->meta, meta | M_WRITING, memory_order_relaxed);
	return meta;
}

static void
bk_end(struct rm_bucket *b, uint64_t meta)
{
	/* Release: pairs with the reader's first (acquire) meta load. */
	atomic_store_explicit(
	    &b->meta, (meta + M_VER_ONE) & ~M_WRITING, memory_order_release);
}

static uint64_t
bk_meta(const struct rm_bucket *b)
{
	return atomic_load_explicit(&b->meta, memory_order_relaxed);
}

static uint64_t
bk_key(const struct rm_bucket *b, unsigned w)
{
	return atomic_load_explicit(&b->key[w], memory_order_relaxed);
}

static uint64_t
bk_val(const struct rm_bucket *b, unsigned w)
{
	return atomic_load_explicit(&b->val[w], memory_order_relaxed);
}

/*
 * One seqlock read of bucket b for key: false when a writer was in it
 * (the caller reads it again).  Else *meta is the bucket's meta word and
 * *w key's way with its value in *v, or RM_WAYS when key is not in b.
 */
static CMAP_INLINE bool
rm_snap(const struct rm_bucket *b, uint64_t key, uint64_t *meta, unsigned *w,
    uint64_t *v)
{
	uint64_t m1 = atomic_load_explicit(&b->meta, memory_order_acquire);
	uint64_t k0 = atomic_load_explicit(&b->key[0], memory_order_acquire);
	uint64_t k1 = atomic_load_explicit(&b->key[1], memory_order_acquire);
	uint64_t k2 = atomic_load_explicit(&b->key[2], memory_order_acquire);

	*w = k0 == key && (m1 & M_PRESENT(0))  ? 0
	    : k1 == key && (m1 & M_PRESENT(1)) ? 1
	    : k2 == key && (m1 & M_PRESENT(2)) ? 2
	                                       : RM_WAYS;
	*v = *w < RM_WAYS
	    ? atomic_load_explicit(&b->val[*w], memory_order_acquire)
	    : 0;
	*meta = m1;
	/* Ordered after the acquire loads above. */
	return !(m1 & M_WRITING) &&
	    atomic_load_explicit(&b->meta, memory_order_relaxed) == m1;
}

/*
 * A reader's look at one table: true and *value when key is present in a
 * bucket not moved.  Otherwise the caller goes on to t->next.  A bucket
 * whose snapshot fails (a writer is in it) is read again.
 */
static bool
rm_table_read(
    const struct rm_table *t, uint64_t key, uint64_t h, uint64_t *value)
{
	uint64_t nb = t->nb, i = rm_home(t, h), n = nb, meta, v;
	unsigned spins = 0, w;

	while (n != 0) {
		if (CMAP_UNLIKELY(!rm_snap(&t->b[i], key, &meta, &w, &v))) {
			cmap__spin_backoff(&spins);
			continue;
		}
		if (w < RM_WAYS) {
			if (meta & M_MOVED)
				return false;
			*value = v;
			return true;
		}
		if (!(meta & M_OVF_MASK))
			return false;
		i = rm_succ(t, i);
		n--;
	}
	return false;
}

/* A lookup through the chain of tables from t. */
static CMAP_NOINLINE cmap_status_t
rm_read_chain(
    const struct rm_table *t, uint64_t key, uint64_t h, uint64_t *value)
{
	while (t != NULL) {
		if (rm_table_read(t, key, h, value))
			return CMAP_OK;
		t = atomic_load_explicit(&t->next, RM_ORD_PUB);
	}
	return CMAP_NOT_FOUND;
}

/*
 * A lookup.  Inline, the common cases: key in its home bucket of cur, or
 * absent from a home bucket that nothing overflows past while no
 * migration runs (the same answers rm_read_chain gives); the rest, out of
 * line.
 */
static CMAP_INLINE cmap_status_t
rm_read(struct rm_map *m, uint64_t key, uint64_t h, uint64_t *value)
{
	const struct rm_table *t = atomic_load_explicit(&m->cur, RM_ORD_PUB);
	uint64_t meta, v;
	unsigned w;

	if (CMAP_LIKELY(rm_snap(&t->b[rm_home(t, h)], key, &meta, &w, &v))) {
		if (w < RM_WAYS && !(meta & M_MOVED)) {
			*value = v;
			return CMAP_OK;
		}
		if (w == RM_WAYS && !(meta & M_OVF_MASK) &&
		    atomic_load_explicit(&t->next, RM_ORD_PUB) == NULL)
			return CMAP_NOT_FOUND;
	}
	return rm_read_chain(t, key, h, value);
}

/* Writer: the bucket and way of key in t, if present (moved or not). */
static bool
rm_find(struct rm_table *t, uint64_t key, uint64_t h, struct rm_bucket **bp,
    unsigned *wp)
{
	uint64_t i = rm_home(t, h);

	for (uint64_t n = 0; n < t->nb; n++, i = rm_succ(t, i)) {
		struct rm_bucket *b = &t->b[i];
		uint64_t meta = bk_meta(b);

		for (unsigned w = 0; w < RM_WAYS; w++)
			if ((meta & M_PRESENT(w)) && bk_key(b, w) == key) {
				*bp = b;
				*wp = w;
				return true;
			}
		if (ovf_of(meta) == 0)
			return false;
	}
	return false;
}

/* Raise (+1) or lower (-1) the overflow counts of buckets [from, to). */
static void
rm_ovf_add(struct rm_table *t, uint64_t from, uint64_t to, int d)
{
	for (uint64_t i = from; i != to; i = rm_succ(t, i)) {
		struct rm_bucket *b = &t->b[i];
		uint64_t meta = bk_meta(b), c = ovf_of(meta);

		if (c == M_OVF_MAX)
			continue;
		c = d > 0 ? c + 1 : c - 1;
		/* No data changes: one release store, no WRITING. */
		atomic_store_explicit(&b->meta,
		    (meta & ~M_OVF_MASK) | (c << M_OVF_SHIFT),
		    memory_order_release);
	}
}

/* Insert key (absent from t) into the first free way from its home. */
static void
rm_insert(struct rm_table *t, uint64_t key, uint64_t h, uint64_t value)
{
	uint64_t home = rm_home(t, h), i = home;
	struct rm_bucket *b;
	uint64_t meta;
	unsigned w;

	while ((bk_meta(&t->b[i]) & M_PRESENT_ALL) == M_PRESENT_ALL)
		i = rm_succ(t, i); /* ends: t->used < 3 * nb */
	rm_ovf_add(t, home, i, +1);
	b = &t->b[i];
	meta = bk_meta(b);
	for (w = 0; meta & M_PRESENT(w); w++)
		;
	meta = bk_begin(b);
	atomic_store_explicit(&b->key[w], key, memory_order_release);
	atomic_store_explicit(&b->val[w], value, memory_order_release);
	bk_end(b, meta | M_PRESENT(w));
	t->used++;
}

static void
rm_remove(struct rm_map *m, struct rm_table *t, struct rm_bucket *b, unsigned w)
{
	uint64_t h = cmap__hash(bk_key(b, w), m->base.seed);

	/* Free the way first, then lower the counts: a reader never stops
	 * before a key that is still there. */
	bk_end(b, bk_meta(b) & ~M_PRESENT(w));
	rm_ovf_add(t, rm_home(t, h), (uint64_t)(b - t->b), -1);
	t->used--;
}

static void
rm_set_value(struct rm_bucket *b, unsigned w, uint64_t value)
{
	uint64_t meta = bk_begin(b);

	atomic_store_explicit(&b->val[w], value, memory_order_release);
	bk_end(b, meta);
}

/* ---------------------------------------------------------------------
 * Reclamation
 * ------------------------------------------------------------------- */
static void
rm_enter(struct rm_map *m, struct rm_rec *r)
{
	/* Acquire: pairs with the seq_cst epoch bump in rm_retire, after
	 * the unlink: a reader of the new epoch sees the new cur. */
	uint64_t e = atomic_load_explicit(&m->epoch, memory_order_acquire);

#if defined(CMAP_TSAN)
	atomic_store_explicit(&r->state, e << 1 | 1, memory_order_seq_cst);
#else
	/* Release: the scan that reads it also sees the reader's earlier
	 * sections as ended. */
	atomic_store_explicit(&r->state, e << 1 | 1, memory_order_release);
	/* Store-load with the load of cur: membarrier in rm_retire stands
	 * for the fence on the writer's side when it is registered. */
	if (m->memb)
		atomic_signal_fence(memory_order_seq_cst);
	else
		atomic_thread_fence(memory_order_seq_cst);
#endif
}

static void
rm_leave(struct rm_rec *r)
{
	/* Release: the section's reads happen before a scan sees it end. */
	atomic_store_explicit(&r->state, 0, memory_order_release);
}

/* Free t, which no reader can be in: at once when small, else a step
 * per write (rm_release_step). */
static void
rm_table_drop(struct rm_map *m, struct rm_table *t)
{
	if (t == NULL)
		return;
	if (rm_table_bytes(t->nb) < CMAP_RELEASE_MIN) {
		rm_table_free(m, t);
		return;
	}
	t->released = CMAP_RELEASE_KEEP;
	t->retired_next = m->release;
	m->release = t;
}

/* One step of the release list: CMAP_RELEASE_STEP bytes of its first
 * table given back, or that table freed once only its header is left. */
static void
rm_release_step(struct rm_map *m)
{
	struct rm_table *t = m->release;

	if (t != NULL &&
	    cmap__release_step(t, rm_table_bytes(t->nb), &t->released)) {
		m->release = t->retired_next;
		rm_table_free(m, t);
	}
}

/* Drop the retired tables no reader can still be in. */
static void
rm_poll(struct rm_map *m)
{
	uint64_t min = UINT64_MAX;
	struct rm_table **pp = &m->retired;

	for (struct rm_rec *r = m->recs; r != NULL; r = r->next) {
		uint64_t s = atomic_load_explicit(&r->state, RM_ORD_PUB);

		if ((s & 1) && (s >> 1) < min)
			min = s >> 1;
	}
	while (*pp != NULL) {
		struct rm_table *t = *pp;

		if (t->retire_epoch < min) {
			*pp = t->retired_next;
			rm_table_drop(m, t);
		} else
			pp = &t->retired_next;
	}
}

/* Retire a and b (either may be NULL), which cur no longer leads to. */
static void
rm_retire(struct rm_map *m, struct rm_table *a, struct rm_table *b)
{
	uint64_t e = atomic_load_explicit(&m->epoch, memory_order_relaxed);
	struct rm_table *t[2] = {a, b};

	atomic_store_explicit(&m->epoch, e + 1, memory_order_seq_cst);
#if !defined(CMAP_TSAN)
	if (m->memb)
		cmap__membarrier();
#endif
	for (int i = 0; i < 2; i++)
		if (t[i] != NULL) {
			t[i]->retire_epoch = e;
			t[i]->retired_next = m->retired;
			m->retired = t[i];
		}
	rm_poll(m);
}

/* This thread's record in m, or NULL when none can be allocated. */
static struct rm_rec *
rm_rec_slow(struct rm_map *m)
{
	struct rm_tls_ent *c = &rm_tls[m->id & (RM_TLS_CACHE - 1)];
	pthread_t self = pthread_self();
	struct rm_rec *r;

	cmap__wordlock_write_lock(&m->lock);
	for (r = m->recs; r != NULL; r = r->next)
		if (pthread_equal(r->owner, self))
			break;
	if (r == NULL) {
		r = cmap__alloc(&m->base.allocator, sizeof *r, CMAP_CACHE_LINE);
		if (r != NULL) {
			memset(r, 0, sizeof *r);
			CMAP_HG_BENIGN(r, "epoch record, written lock-free");
			r->owner = self;
			r->next = m->recs;
			m->recs = r;
			m->nrecs++;
		}
	}
	cmap__wordlock_write_unlock(&m->lock);
	if (r != NULL) {
		c->id = m->id;
		c->rec = r;
	}
	return r;
}

static inline struct rm_rec *
rm_rec(struct rm_map *m)
{
	const struct rm_tls_ent *c = &rm_tls[m->id & (RM_TLS_CACHE - 1)];

	return CMAP_LIKELY(c->id == m->id) ? c->rec : rm_rec_slow(m);
}

/* ---------------------------------------------------------------------
 * Migration
 * ------------------------------------------------------------------- */
/* Buckets for n entries at 9/16 load, at least min; 0 if too many. */
static uint64_t
rm_nb_for(uint64_t n, uint64_t min)
{
	uint64_t nb = n / 27 * 16 + (n % 27 * 16 + 26) / 27;

	if (nb < min)
		nb = min;
	return nb > RM_MAX_BUCKETS ? 0 : nb;
}

/* Buckets that hold n entries without growing (3/4 load). */
static uint64_t
rm_nb_room(uint64_t n)
{
	uint64_t nb = n / 9 * 4 + (n % 9 * 4 + 8) / 9;

	if (nb < RM_MIN_BUCKETS)
		nb = RM_MIN_BUCKETS;
	return nb > RM_MAX_BUCKETS ? 0 : nb;
}

static cmap_status_t
rm_start(struct rm_map *m, uint64_t nb)
{
	struct rm_table *cur =
	    atomic_load_explicit(&m->cur, memory_order_relaxed);

	if (nb == 0 || (m->next = rm_table_alloc(m, nb)) == NULL)
		return CMAP_ENOMEM;
	m->zeroed = 0;
	m->next_fresh = rm_comes_zeroed(m, nb);
	m->cursor = 0;
	m->migrating = false;
	if (nb > cur->nb)
		m->grows++;
	else
		m->shrinks++;
	cmap__metrics_resize();
	return CMAP_OK;
}

static void
rm_move_bucket(struct rm_map *m, struct rm_table *old, struct rm_bucket *b)
{
	uint64_t meta = bk_meta(b);

	for (unsigned w = 0; w < RM_WAYS; w++)
		if (meta & M_PRESENT(w)) {
			uint64_t k = bk_key(b, w);

			rm_insert(m->next, k, cmap__hash(k, m->base.seed),
			    bk_val(b, w));
			old->used--;
		}
	/* After the copies: a reader that sees MOVED finds them in next. */
	bk_end(b, meta | M_MOVED);
}

/*
 * Buckets of the next table to zero in this write, `left` still to do:
 * RM_ZERO_STEP, or more when old would fill first.  Until the next table
 * is published, inserts go into old; room is how many more it takes
 * below 15/16 (rm_apply), so the zeroing ends within room + 1 writes,
 * this one included.  Only a cmap_reserve far beyond the current size
 * needs more than RM_ZERO_STEP: a growth from nb buckets at 3/4 zeroes
 * 4nb/3 buckets in nb/48 writes, while old has room for 9nb/16 inserts.
 */
static uint64_t
rm_zero_step(const struct rm_table *old, uint64_t left)
{
	uint64_t cap = old->nb * RM_WAYS * 15 / 16;
	uint64_t room = cap > old->used + 1 ? cap - old->used - 1 : 0;
	uint64_t step = left / (room + 1) + (left % (room + 1) != 0);

	return step > RM_ZERO_STEP ? step : RM_ZERO_STEP;
}

/* The work a write does for a resize in progress (the bound in COSTS). */
static void
rm_step_work(struct rm_map *m)
{
	struct rm_table *old =
	    atomic_load_explicit(&m->cur, memory_order_relaxed);
	struct rm_table *nt = m->next;

	if (nt == NULL)
		return;
	if (!m->migrating) {
		uint64_t to = m->zeroed + rm_zero_step(old, nt->nb - m->zeroed);

		rm_zero(
		    nt, m->zeroed, to < nt->nb ? to : nt->nb, m->next_fresh);
		m->zeroed = to < nt->nb ? to : nt->nb;
		if (m->zeroed < nt->nb)
			return;
		/* Published: readers of old may now go on to nt. */
		atomic_store_explicit(&old->next, nt, memory_order_seq_cst);
		m->migrating = true;
		return;
	}
	for (unsigned k = 0; k < RM_MOVE_STEP && m->cursor < old->nb;
	     k++, m->cursor++)
		if (!(bk_meta(&old->b[m->cursor]) & M_MOVED))
			rm_move_bucket(m, old, &old->b[m->cursor]);
	if (m->cursor < old->nb)
		return;
	atomic_store_explicit(&m->cur, nt, memory_order_seq_cst);
	m->next = NULL;
	m->migrating = false;
	rm_retire(m, old, NULL);
}

/* The same, its time counted as migration time (metrics.h); nothing to
 * do (and no clock read) when no resize runs. */
static void
rm_step(struct rm_map *m)
{
	uint64_t t0;

	if (m->next == NULL)
		return;
	t0 = cmap__metrics_begin();
	rm_step_work(m);
	cmap__metrics_work_end(t0);
}

/* Swap every table for a fresh empty one of min_nb buckets; false when
 * it cannot be allocated (nothing changed). */
static bool
rm_fresh(struct rm_map *m)
{
	struct rm_table *cur =
	    atomic_load_explicit(&m->cur, memory_order_relaxed);
	struct rm_table *t = rm_table_new(m, m->min_nb);

	if (t == NULL)
		return false;
	if (t->nb < cur->nb) {
		m->shrinks++;
		cmap__metrics_resize();
	}
	atomic_store_explicit(&m->cur, t, memory_order_seq_cst);
	if (m->next != NULL && !m->migrating)
		rm_table_drop(m, m->next);                /* never published */
	rm_retire(m, cur, m->migrating ? m->next : NULL); /* may free them */
	m->next = NULL;
	m->migrating = false;
	atomic_store_explicit(&m->len, 0, memory_order_relaxed);
	return true;
}

/* After a write: start a shrink when len fell under 1/4 of the slots
 * (growth starts before the insert that needs it, in rm_apply). */
static void
rm_after_write(struct rm_map *m)
{
	struct rm_table *cur =
	    atomic_load_explicit(&m->cur, memory_order_relaxed);
	size_t len = atomic_load_explicit(&m->len, memory_order_relaxed);

	if (len == 0 && (cur->nb > m->min_nb || m->next != NULL))
		(void)rm_fresh(m);
	else if (m->next == NULL && len < cur->nb * 3 / 4 &&
	    cur->nb > m->min_nb) {
		/* At most a quarter at a time: the step sizes then keep the
		 * new table under 3/4 however many writes are inserts. */
		uint64_t nb = rm_nb_for(len, m->min_nb);

		if (nb < cur->nb / 4)
			nb = cur->nb / 4;
		if (nb < cur->nb)
			(void)rm_start(m, nb);
	}
	if (m->retired != NULL && ++m->writes % RM_POLL_EVERY == 0)
		rm_poll(m);
	rm_release_step(m);
}

/*
 * The table a write to key works on: the new one while migrating, after
 * moving the key's own old bucket there if it is not yet moved.
 */
static struct rm_table *
rm_write_table(struct rm_map *m, uint64_t key, uint64_t h)
{
	struct rm_table *cur =
	    atomic_load_explicit(&m->cur, memory_order_relaxed);
	struct rm_bucket *b;
	unsigned w;

	if (!m->migrating)
		return cur;
	if (rm_find(cur, key, h, &b, &w) && !(bk_meta(b) & M_MOVED))
		rm_move_bucket(m, cur, b);
	return m->next;
}

/* ---------------------------------------------------------------------
 * Entry points
 * ------------------------------------------------------------------- */
static cmap_status_t
rm_create(const struct cmap__create_args *args, cmap_t **out)
{
	struct rm_map *m = cmap__map_new(args, sizeof *m);
	uint64_t nb = rm_nb_room(args->capacity);
	struct rm_table *t;

	if (m == NULL)
		return CMAP_ENOMEM;
	t = nb != 0 ? rm_table_new(m, nb) : NULL;
	if (t == NULL) {
		cmap__map_free(&m->base);
		return CMAP_ENOMEM;
	}
	m->min_nb = nb;
	atomic_init(&m->cur, t);
	atomic_init(&m->epoch, 1);
	atomic_init(&m->len, 0);
	cmap__wordlock_init(&m->lock);
	m->id = atomic_fetch_add(&rm_next_id, 1) + 1;
	m->memb = cmap__membarrier_setup();
	/* The creating thread's record, so that a fresh map's bytes are
	 * what it holds once that thread has read. */
	if (rm_rec_slow(m) == NULL) {
		rm_table_free(m, t);
		cmap__map_free(&m->base);
		return CMAP_ENOMEM;
	}
	*out = &m->base;
	return CMAP_OK;
}

static void
rm_destroy(cmap_t *mm)
{
	struct rm_map *m = RM(mm);

	rm_table_free(m, atomic_load_explicit(&m->cur, memory_order_relaxed));
	rm_table_free(m, m->next);
	while (m->retired != NULL) {
		struct rm_table *t = m->retired;

		m->retired = t->retired_next;
		rm_table_free(m, t);
	}
	while (m->release != NULL) {
		struct rm_table *t = m->release;

		m->release = t->retired_next;
		rm_table_free(m, t);
	}
	while (m->recs != NULL) {
		struct rm_rec *r = m->recs;

		m->recs = r->next;
		cmap__free(&m->base.allocator, r, sizeof *r);
	}
	cmap__wordlock_destroy(&m->lock);
}

static cmap_status_t
rm_load(cmap_t *mm, uint64_t key, uint64_t *value)
{
	struct rm_map *m = RM(mm);
	uint64_t h = cmap__hash(key, m->base.seed);
	struct rm_rec *r = rm_rec(m);
	cmap_status_t st;

	if (CMAP_UNLIKELY(r == NULL)) {
		/* No record: the mutex keeps every table alive. */
		cmap__wordlock_write_lock(&m->lock);
		st = rm_read(m, key, h, value);
		cmap__wordlock_write_unlock(&m->lock);
		return st;
	}
	rm_enter(m, r);
	st = rm_read(m, key, h, value);
	rm_leave(r);
	return st;
}

/* Apply e (decided for key in t) and return st, or CMAP_ENOMEM. */
static cmap_status_t
rm_apply(struct rm_map *m, struct rm_table *t, struct rm_bucket *b, unsigned w,
    const struct cmap_req *req, uint64_t h, const struct cmap_effect *e,
    cmap_status_t st)
{
	size_t len = atomic_load_explicit(&m->len, memory_order_relaxed);

	if (e->act == CMAP_ACT_SET && st == CMAP_INSERTED) {
		/* Past 3/4 of the slots: the next table first, or ENOMEM
		 * with nothing changed.  During a migration the step sizes
		 * keep the new table under 3/4; 15/16 is the safety net. */
		if (m->next == NULL && len + 1 > t->nb * 9 / 4 &&
		    rm_start(m, rm_nb_for(len + 1, m->min_nb)) != CMAP_OK)
			return CMAP_ENOMEM;
		if (t->used + 1 > t->nb * RM_WAYS * 15 / 16)
			return CMAP_ENOMEM;
		rm_insert(t, req->key, h, e->value);
		len++;
	} else if (e->act == CMAP_ACT_SET)
		rm_set_value(b, w, e->value);
	else if (e->act == CMAP_ACT_DELETE) {
		rm_remove(m, t, b, w);
		len--;
	}
	atomic_store_explicit(&m->len, len, memory_order_relaxed);
	return st;
}

static cmap_status_t
rm_exec(cmap_t *mm, struct cmap_req *req)
{
	struct rm_map *m = RM(mm);
	uint64_t h = cmap__hash(req->key, m->base.seed);
	struct rm_bucket *b = NULL;
	struct cmap_effect e;
	struct rm_table *t;
	cmap_status_t st;
	unsigned w = 0;
	bool found;

	cmap__wordlock_write_lock(&m->lock);
	rm_step(m);
	t = rm_write_table(m, req->key, h);
	found = rm_find(t, req->key, h, &b, &w);
	st = cmap__decide(req, found, found ? bk_val(b, w) : 0, &e);
	if (st >= 0)
		st = rm_apply(m, t, b, w, req, h, &e, st);
	if (st >= 0)
		req->out = e.out;
	if (st != CMAP_ENOMEM)
		rm_after_write(m); /* ENOMEM: nothing changed, nothing freed */
	cmap__wordlock_write_unlock(&m->lock);
	return st;
}

static cmap_status_t
rm_store(cmap_t *mm, uint64_t key, uint64_t value)
{
	struct cmap_req req = {.kind = CMAP_REQ_STORE, .key = key, .a = value};

	return rm_exec(mm, &req);
}

static size_t
rm_len(const cmap_t *mm)
{
	return atomic_load_explicit(
	    &((const struct rm_map *)mm)->len, memory_order_relaxed);
}

/* Remove every entry of t in place (no allocation): the ways first, the
 * overflow counts after, as rm_remove orders them. */
static void
rm_empty_in_place(struct rm_table *t)
{
	for (uint64_t i = 0; i < t->nb; i++)
		if (bk_meta(&t->b[i]) & M_PRESENT_ALL)
			bk_end(&t->b[i], bk_meta(&t->b[i]) & ~M_PRESENT_ALL);
	for (uint64_t i = 0; i < t->nb; i++)
		atomic_store_explicit(&t->b[i].meta,
		    bk_meta(&t->b[i]) & ~M_OVF_MASK, memory_order_release);
	t->used = 0;
}

static cmap_status_t
rm_clear(cmap_t *mm)
{
	struct rm_map *m = RM(mm);
	struct rm_table *cur;

	cmap__wordlock_write_lock(&m->lock);
	cur = atomic_load_explicit(&m->cur, memory_order_relaxed);
	if ((cur->nb != m->min_nb || m->next != NULL) && rm_fresh(m)) {
		cmap__wordlock_write_unlock(&m->lock);
		return CMAP_OK;
	}
	/* The right size already, or no memory for a fresh table. */
	rm_empty_in_place(cur);
	if (m->migrating)
		rm_empty_in_place(m->next);
	atomic_store_explicit(&m->len, 0, memory_order_relaxed);
	cmap__wordlock_write_unlock(&m->lock);
	return CMAP_OK;
}

static cmap_status_t
rm_reserve(cmap_t *mm, size_t entries)
{
	struct rm_map *m = RM(mm);
	uint64_t need = rm_nb_room(entries), was;
	cmap_status_t st = CMAP_OK;

	if (need == 0)
		return CMAP_ENOMEM;
	cmap__wordlock_write_lock(&m->lock);
	was = m->min_nb;
	if (need > m->min_nb)
		m->min_nb = need;
	/* Drive resizes to the end a step at a time, letting other writers
	 * in between steps: no call holds the lock for a whole copy. */
	for (;;) {
		struct rm_table *cur =
		    atomic_load_explicit(&m->cur, memory_order_relaxed);

		if (m->next == NULL && cur->nb >= need)
			break;
		if (m->next == NULL && rm_start(m, need) != CMAP_OK) {
			m->min_nb = was;
			st = CMAP_ENOMEM;
			break;
		}
		rm_step(m);
		cmap__wordlock_write_unlock(&m->lock);
		cmap__wordlock_write_lock(&m->lock);
	}
	cmap__wordlock_write_unlock(&m->lock);
	return st;
}

/* ---- range: hash-ordered chunks collected under the lock ---- */
struct rm_pair {
	uint64_t key, value;
};

/* Entries of t with hash in [lo, hi] into buf[*n..room); false when they
 * do not fit.  skip_moved: the old table of a migration. */
static bool
rm_collect_table(const struct rm_map *m, const struct rm_table *t,
    bool skip_moved, uint64_t lo, uint64_t hi, struct rm_pair *buf, size_t *n,
    size_t room)
{
	uint64_t i = rm_home(t, lo), span = rm_home(t, hi) - i;

	for (uint64_t k = 0; k < t->nb; k++, i = rm_succ(t, i)) {
		const struct rm_bucket *b = &t->b[i];
		uint64_t meta = bk_meta(b);

		for (unsigned w = 0; w < RM_WAYS; w++) {
			uint64_t key = bk_key(b, w), h;

			if (!(meta & M_PRESENT(w)) ||
			    (skip_moved && (meta & M_MOVED)))
				continue;
			h = cmap__hash(key, m->base.seed);
			if (h < lo || h > hi)
				continue;
			if (*n == room)
				return false;
			buf[(*n)++] = (struct rm_pair){key, bk_val(b, w)};
		}
		if (k >= span && ovf_of(meta) == 0)
			break;
	}
	return true;
}

/* Every entry with hash in [lo, *hi], narrowing *hi until they fit. */
static size_t
rm_collect(struct rm_map *m, uint64_t lo, uint64_t *hi, struct rm_pair *buf)
{
	struct rm_table *cur =
	    atomic_load_explicit(&m->cur, memory_order_relaxed);

	for (;;) {
		size_t n = 0;

		if (rm_collect_table(m, cur, m->migrating, lo, *hi, buf, &n,
		        RM_RANGE_BATCH) &&
		    (!m->migrating ||
		        rm_collect_table(m, m->next, false, lo, *hi, buf, &n,
		            RM_RANGE_BATCH)))
			return n;
		/* One hash holds one key at most (cmap__hash is a
		 * bijection): this ends. */
		*hi = lo + (*hi - lo) / 2;
	}
}

static cmap_status_t
rm_range(cmap_t *mm, cmap_range_fn fn, void *ctx)
{
	struct rm_map *m = RM(mm);
	struct rm_pair buf[RM_RANGE_BATCH];
	uint64_t lo = 0;

	for (;;) {
		struct rm_table *cur;
		uint64_t span, hi;
		size_t n;

		cmap__wordlock_write_lock(&m->lock);
		cur = atomic_load_explicit(&m->cur, memory_order_relaxed);
		span = (UINT64_MAX / cur->nb) * RM_RANGE_BUCKETS;
		if (span / RM_RANGE_BUCKETS != UINT64_MAX / cur->nb)
			span = UINT64_MAX;
		hi = UINT64_MAX - lo < span ? UINT64_MAX : lo + span;
		n = rm_collect(m, lo, &hi, buf);
		cmap__wordlock_write_unlock(&m->lock);
		for (size_t i = 0; i < n; i++)
			if (!fn(buf[i].key, buf[i].value, ctx))
				return CMAP_OK;
		if (hi == UINT64_MAX)
			return CMAP_OK;
		lo = hi + 1;
	}
}

/* Add the figures of table t into st and its probe distances to *sum. */
static void
rm_stats_table(const struct rm_map *m, const struct rm_table *t,
    bool skip_moved, cmap_stats_t *st, uint64_t *sum)
{
	st->capacity += t->nb * RM_WAYS;
	for (uint64_t i = 0; i < t->nb; i++) {
		const struct rm_bucket *b = &t->b[i];
		uint64_t meta = bk_meta(b);

		if (skip_moved && (meta & M_MOVED))
			continue;
		for (unsigned w = 0; w < RM_WAYS; w++) {
			uint64_t h, d;

			if (!(meta & M_PRESENT(w)))
				continue;
			h = rm_home(t, cmap__hash(bk_key(b, w), m->base.seed));
			d = i >= h ? i - h : i + t->nb - h;
			*sum += d;
			if (d > st->max_probe)
				st->max_probe = d;
		}
	}
}

static cmap_status_t
rm_stats(cmap_t *mm, cmap_stats_t *st)
{
	struct rm_map *m = RM(mm);
	struct rm_table *cur;
	uint64_t sum = 0;

	cmap__wordlock_write_lock(&m->lock);
	cur = atomic_load_explicit(&m->cur, memory_order_relaxed);
	st->len = atomic_load_explicit(&m->len, memory_order_relaxed);
	st->bytes = m->base.self_size + m->nrecs * sizeof(struct rm_rec) +
	    rm_table_bytes(cur->nb);
	rm_stats_table(m, cur, m->migrating, st, &sum);
	if (m->next != NULL) {
		st->bytes += rm_table_bytes(m->next->nb);
		if (m->migrating)
			rm_stats_table(m, m->next, false, st, &sum);
	}
	for (struct rm_table *t = m->retired; t != NULL; t = t->retired_next)
		st->bytes += rm_table_bytes(t->nb);
	for (struct rm_table *t = m->release; t != NULL; t = t->retired_next)
		st->bytes += rm_table_bytes(t->nb);
	st->grows = m->grows;
	st->shrinks = m->shrinks;
	cmap__wordlock_write_unlock(&m->lock);
	st->shards = 1;
	st->min_shard_len = st->max_shard_len = st->len;
	st->mean_probe = st->len ? (double)sum / (double)st->len : 0.0;
	return CMAP_OK;
}

CMAP_HIDDEN const struct cmap__backend cmap__readmostly_backend = {
    .version = CMAP__BACKEND_V2,
    .name = CMAP_BACKEND_READMOSTLY,
    .summary = "reads with no lock and no shared write (per-bucket "
               "seqlock, per-thread epochs), writes one at a time under a "
               "mutex, resized a few buckets per write: for read-mostly "
               "maps",
    .backend_version = 1,
    .caps = CMAP_CAP_THREAD_SAFE | CMAP_CAP_LINEARIZABLE |
        CMAP_CAP_UPDATE_ONCE | CMAP_CAP_LEN_EXACT | CMAP_CAP_RANGE_ONCE,
    .create = rm_create,
    .destroy = rm_destroy,
    .load = rm_load,
    .store = rm_store,
    .exec = rm_exec,
    .range = rm_range,
    .len = rm_len,
    .clear = rm_clear,
    .reserve = rm_reserve,
    .stats = rm_stats,
};
