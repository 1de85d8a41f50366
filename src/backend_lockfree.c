/*
 * backend_lockfree.c - the lockfree backend: an open-addressing table of
 * 16-byte slots changed only by compare-and-swap, resized while in use by
 * cooperative chunked migration, with memory reclaimed through ck_epoch.
 *
 * docs/lockfree.md is the long form of this comment (with the memory
 * ordering argument per operation); what must stay true is repeated here.
 *
 * SLOTS
 *
 * A slot is a pair of words {w, v} (struct lf_pair) always written together
 * by one 16-byte CAS (cmpxchg16b).  v is the user's value, all 64 bits of
 * it.  w is the key's seeded hash h shifted left by three, with a state in
 * the three low bits:
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
 * of the slot.  Range and migration use that to get h (and the key) back.
 * No value is reserved either: states live in w only.
 *
 * Transitions (each one CAS of the whole pair):
 *   EMPTY -> LIVE (insert), LIVE -> LIVE (overwrite), LIVE -> TOMB
 *   (delete), TOMB -> LIVE (insert again), and, once the table has a
 *   successor: EMPTY -> SEALED, LIVE -> FROZEN, TOMB -> GONE.
 *   FROZEN, GONE and SEALED are final.  A slot that holds a key holds it
 *   for the table's whole life, so a key has at most one slot per table,
 *   and v changes only in transitions to LIVE.
 *
 * TABLES AND MIGRATION
 *
 * map->cur is the oldest table still in use; each table may point to a
 * successor (next), set once by CAS.  A writer that finds next set on its
 * way first moves its own key (freezes its slot, or seals the EMPTY slot
 * that ends its probe, and copies a frozen entry), then continues in next;
 * every writer also migrates one chunk of LF_CHUNK slots of a migrating
 * table.  Copies insert a key only where it has never been seen in the
 * target ("copy if absent"), so copying the same frozen entry twice, from
 * any thread, is harmless, and nobody waits for the thread that froze it.
 * When every chunk is done (a chunk's flag set by whoever finishes it
 * first; the last one is found by a counter), cur moves on by CAS and the
 * old table is retired through ck_epoch.
 *
 * READERS
 *
 * A load probes cur; it stops at its key's slot or at an EMPTY slot.  A
 * FROZEN slot gives a fallback value and sends it to next; there, finding
 * the key (in any state) overrides the fallback, and an EMPTY end of probe
 * means the copy has not happened yet, so the fallback is the value.
 *
 * RECLAMATION
 *
 * Each map has its own ck_epoch domain and one record per thread that uses
 * it (THREAD RECORDS below).  Readers enter the epoch without a fence when the
 * kernel offers membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED): the thread that
 * retires a table issues the membarrier after unlinking it and before
 * ck_epoch_call, which is what the fence in ck_epoch_begin would have bought.
 * Frees run in ck_epoch_poll, called every LF_POLL_EVERY operations by a thread
 * that has something pending; never ck_epoch_synchronize or ck_epoch_barrier.
 * One freed table of the current size is kept for the next migration to
 * that size (lf_recycle): under churn every migration keeps the size.
 */
#include "internal.h"
#include "lf_atomic.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include <ck_epoch.h>

#if !defined(CMAP_TSAN)
#include <linux/membarrier.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

#if defined(CMAP_TSAN)
void __tsan_acquire(void *addr);
void __tsan_release(void *addr);
#endif

/* ---------------------------------------------------------------------
 * Parameters
 * ------------------------------------------------------------------- */
#define LF_CHUNK 1024u       /* slots migrated per help step */
#define LF_MIN_CAP 256u      /* smallest table (a multiple of 8) */
#define LF_DEFAULT_CAP 384u  /* capacity hint 0; doubles to 1.5M at 1M */
#define LF_STRIPES 8u        /* per-table used-slot counters */
#define LF_POLL_EVERY 64u    /* ops between ck_epoch_poll when pending */
#define LF_SHRINK_EVERY 256u /* deletes between shrink checks (a thread) */
#define LF_SPARE_CAP 64u     /* the spare drop table of cmap_clear */
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

#define LF_EMPTY 0u
#define LF_LIVE 1u
#define LF_TOMB 2u
#define LF_FROZEN 3u
#define LF_GONE 4u
#define LF_SEALED 5u

#define LF_ST(w) ((unsigned)((w)&7u))
/* True when w is a slot of the key whose tag is t (states LIVE..GONE). */
#define LF_KEYED(w, t) (((w) & ~(uint64_t)7) == (t) && LF_ST(w) - 1u < 4u)

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
	ck_epoch_entry_t entry;       /* for ck_epoch_call */
	struct lf_table *orphan_next; /* link in map->orphans */

	/* Written during a migration of this table. */
	struct lf_table *next __attribute__((aligned(CMAP_CACHE_LINE)));
	uint64_t claim; /* next chunk to hand out (fetch-and-add) */
	uint64_t ndone; /* chunks finished */
	uint64_t over;  /* 1 once used >= soft was seen */
	uint64_t full;  /* 1 once used >= hard, or a probe out of reach */
	struct lf_stripe used[LF_STRIPES]; /* slots taken (EMPTY -> LIVE) */
};

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
	struct lf_map *reg_prev, *reg_next; /* live maps, under lf_reg_lock */
	int memb; /* readers pin without a fence (membarrier) */

	struct lf_table *cur __attribute__((aligned(CMAP_CACHE_LINE)));
	uint64_t cur_cap; /* cur's capacity, for lf_recycle */

	ck_epoch_t epoch __attribute__((aligned(CMAP_CACHE_LINE)));
	struct lf_rec *recs; /* pushed by CAS, freed at destroy */
	uint64_t nrecs;
	struct lf_table *orphans; /* retired tables waiting for a record */
	struct lf_table *spare;   /* a drop table for clear, or NULL */
	struct lf_table *recycle; /* a retired table kept for reuse, or NULL */
	uint64_t naked;           /* ops running without a record */
	uint64_t naked_live;      /* len delta of ops without a record */
	uint64_t bytes;           /* allocated from the hooks, now */
	uint64_t pending_bytes;   /* retired, not yet freed */
	uint64_t grows, shrinks;
	char tsan_sync; /* the address of the grace-period annotation */
};

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
static uint64_t
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

static void *
lf_alloc(struct lf_map *m, size_t size, size_t align)
{
	void *p = cmap__alloc(&m->alloc, size, align);

	if (p != NULL)
		lf_faa_64(&m->bytes, size);
	return p;
}

static void
lf_free(struct lf_map *m, void *p, size_t size)
{
	if (p == NULL)
		return;
	cmap__free(&m->alloc, p, size);
	lf_faa_64(&m->bytes, -(uint64_t)size);
}

/* ---------------------------------------------------------------------
 * Tables
 * ------------------------------------------------------------------- */
static uint64_t
lf_round_cap(uint64_t want)
{
	uint64_t c = (want + 7) & ~(uint64_t)7;

	return c < LF_MIN_CAP ? LF_MIN_CAP : c;
}

/* Slots needed to hold n entries below the soft limit. */
static uint64_t
lf_cap_for(uint64_t n)
{
	if (n > (UINT64_MAX / 8))
		return UINT64_MAX;
	return lf_round_cap(n + n / 3 + 1);
}

static void lf_table_free(struct lf_map *m, struct lf_table *t);

static struct lf_table *
lf_table_new(struct lf_map *m, uint64_t cap, int drop)
{
	uint64_t nchunks = (cap + LF_CHUNK - 1) / LF_CHUNK;
	size_t head = (sizeof(struct lf_table) + CMAP_CACHE_LINE - 1) &
	    ~(size_t)(CMAP_CACHE_LINE - 1);
	size_t bytes;
	struct lf_table *t;
	uint64_t q;

	if (cap > (SIZE_MAX - head) / 32)
		return NULL;
	bytes =
	    head + cap * sizeof(struct lf_pair) + nchunks * sizeof(uint64_t);
	/* A retired table of this size (see lf_table_free_cb): its pages are
	 * resident, so clearing it costs no page faults. */
	t = lf_xchg_ptr((void **)&m->recycle, NULL);
	if (t != NULL && t->bytes != bytes) {
		lf_table_free(m, t);
		t = NULL;
	}
	if (t == NULL)
		t = lf_alloc(m, bytes, CMAP_CACHE_LINE);
	if (t == NULL)
		return NULL;
	memset(t, 0, bytes);
	t->cap = cap;
	t->dmax = cap / 8 - 1;
	t->inv_eighth = UINT64_MAX / (cap / 8);
	t->soft = cap - cap / 4;
	t->hard = cap - cap / 16;
	t->nchunks = nchunks;
	for (q = 1; q < 64 && q * 4096 <= cap; q *= 2)
		;
	t->batch = q;
	t->slots = (struct lf_pair *)(void *)((char *)t + head);
	t->chunk_done = (uint64_t *)(void *)(t->slots + cap);
	t->map = m;
	t->bytes = bytes;
	t->drop = drop;
	return t;
}

static void
lf_table_free(struct lf_map *m, struct lf_table *t)
{
	lf_free(m, t, t->bytes);
}

/* Give the map a spare drop table if it has none (see lf_clear). */
static void
lf_spare_refill(struct lf_map *m)
{
	struct lf_table *t = lf_table_new(m, LF_SPARE_CAP, 1);
	void *exp = NULL;

	if (t != NULL && !lf_cas_ptr((void **)&m->spare, &exp, t))
		lf_table_free(m, t);
}

static uint64_t
lf_table_used(struct lf_table *t)
{
	uint64_t u = 0;

	for (unsigned i = 0; i < LF_STRIPES; i++)
		u += lf_load_rlx_64(&t->used[i].n);
	return u;
}

/*
 * A slot of t went EMPTY -> LIVE.  A record counts them in batches of
 * t->batch (1 below 8K slots, up to 64 from 256K) before one fetch-and-add
 * on its stripe of t->used, then sums the stripes: past 3/4 of the slots
 * (soft), new keys go to a successor; past 15/16 (hard), they need one.
 * The count may lag by a batch per thread, and a table whose count a
 * record drops (it moved on to another table) is past use or nearly so;
 * a probe out of reach marks the table full whatever the count says.
 */
static void
lf_used_add(struct lf_rec *r, struct lf_table *t)
{
	uint64_t n = 1, all;

	if (r != NULL) {
		if (r->ut != t) {
			r->ut = t;
			r->un = 0;
		}
		if (++r->un < t->batch)
			return;
		n = r->un;
		r->un = 0;
	}
	lf_faa_64(&t->used[r != NULL ? r->stripe : 0].n, n);
	all = lf_table_used(t);
	if (all >= t->hard)
		lf_store_rlx_64(&t->full, 1);
	if (all >= t->soft)
		lf_store_rlx_64(&t->over, 1);
}

/* ---------------------------------------------------------------------
 * Records and the epoch
 * ------------------------------------------------------------------- */
#if !defined(CMAP_TSAN)
static void
lf_membarrier(void)
{
	(void)syscall(__NR_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0);
}

static int
lf_membarrier_setup(void)
{
	long q = syscall(__NR_membarrier, MEMBARRIER_CMD_QUERY, 0, 0);

	if (q < 0 || !(q & MEMBARRIER_CMD_PRIVATE_EXPEDITED))
		return 0;
	return syscall(__NR_membarrier,
	           MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0) == 0;
}
#endif

static void
lf_orphan_push(struct lf_map *m, struct lf_table *t)
{
	void *head = lf_load_acq_ptr((void **)&m->orphans);

	do {
		t->orphan_next = head;
	} while (!lf_cas_ptr((void **)&m->orphans, &head, t));
}

/*
 * Keep t (retired, its grace period over) as the map's one recycled table
 * if it has the current table's size and nobody else is kept.  The map
 * then holds at most two tables of that size between migrations, as it
 * does during one; a migration to another size (a shrink after deletes,
 * growth), clear and destroy free it.
 */
static bool
lf_recycle(struct lf_map *m, struct lf_table *t)
{
	void *exp = NULL;

	/* cur_cap, not cur->cap: this runs outside any read section. */
	return !t->drop && lf_load_rlx_64(&m->cur_cap) == t->cap &&
	    lf_cas_ptr((void **)&m->recycle, &exp, t);
}

/*
 * ck_epoch callback: the grace period of a retired table is over.  A
 * thread that runs without a record (its record could not be allocated)
 * is not seen by the epoch; while one runs, the table waits on the orphan
 * list.  The seq_cst load pairs with the seq_cst increment in lf_pin: a
 * recordless reader that incremented later also loads map->cur later, and
 * cur no longer leads to this table.
 */
static void
lf_table_free_cb(ck_epoch_entry_t *e)
{
	struct lf_table *t = (struct lf_table *)(void *)((char *)e -
	    offsetof(struct lf_table, entry));
	struct lf_map *m = t->map;

#if defined(CMAP_TSAN)
	/* Pairs with __tsan_release in lf_unpin: every read section that
	 * could see t has ended before this callback runs. */
	__tsan_acquire(&m->tsan_sync);
#endif
	if (lf_load_sc_64(&m->naked) != 0) {
		lf_orphan_push(m, t);
		return;
	}
	lf_faa_64(&m->pending_bytes, -(uint64_t)t->bytes);
	/* Keep a table of the current one's size for the next migration:
	 * under churn, migrations that clean tombstones keep the size, and a
	 * fresh table would cost a page fault per 4 KiB. */
	if (lf_recycle(m, t))
		return;
	lf_table_free(m, t);
}

/*
 * THREAD RECORDS
 *
 * A thread's record in a map is found through a small direct-mapped cache
 * in thread-local storage, keyed by the map's id (unique in the process
 * and never reused, so an entry left by a destroyed map never matches
 * again): one thread-local load and one compare per operation.  On a
 * miss, the thread looks for a record it owns in the map's list (it was
 * evicted from the cache), else recycles a record handed back by an
 * exited thread (ck_epoch_recycle), else allocates one.  No map keeps a
 * pthread key, so any number of maps may be live.
 *
 * When a thread exits, one process-wide pthread key's destructor hands
 * back every record the thread owns in every live lockfree map: its
 * pending frees go to the map's orphans, and the record becomes free for
 * recycling.  That walk, cmap_create and cmap_destroy of this backend hold
 * lf_reg_lock, which guards the list of live maps, so a map is never freed
 * under a walk; no operation on a map ever takes it.  These few variables
 * are the backend's only process-wide state.
 */
#define LF_TLS_CACHE 8u /* a power of two */

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

static _Thread_local struct lf_tls lf_tls LF_TLS_MODEL;
static pthread_mutex_t lf_reg_lock = PTHREAD_MUTEX_INITIALIZER;
static struct lf_map *lf_reg_head; /* live maps, under lf_reg_lock */
static uint64_t lf_next_map_id;    /* atomic */
static uint64_t lf_next_tid;       /* atomic */
static pthread_once_t lf_key_once = PTHREAD_ONCE_INIT;
static pthread_key_t lf_exit_key;
static int lf_key_ok;

/* Hand a record back: its pending callbacks to orphans, itself to
 * recycling.  The owner word is cleared first: after the unregister,
 * another thread may recycle the record and write its own id there. */
static void
lf_rec_release(struct lf_rec *r)
{
	struct lf_map *m = r->map;

	for (unsigned i = 0; i < CK_EPOCH_LENGTH; i++) {
		ck_stack_entry_t *e = r->er.pending[i].head;

		r->er.pending[i].head = NULL;
		while (e != NULL) {
			ck_stack_entry_t *n = e->next;
			ck_epoch_entry_t *ee =
			    (ck_epoch_entry_t *)(void *)((char *)e -
			        offsetof(ck_epoch_entry_t, stack_entry));
			struct lf_table *t =
			    (struct lf_table *)(void *)((char *)ee -
			        offsetof(struct lf_table, entry));

			lf_orphan_push(m, t);
			e = n;
		}
	}
	r->er.n_pending = 0;
	lf_store_rlx_64(&r->owner, 0);
#if defined(CMAP_TSAN)
	/* ck_epoch_recycle's hand-over happens inside libck, which TSan
	 * does not see; pairs with __tsan_acquire in lf_rec_slow. */
	__tsan_release(r);
#endif
	ck_epoch_unregister(&r->er);
}

/* The process-wide key's destructor: the thread `arg` (its id) exits. */
static void
lf_thread_exit(void *arg)
{
	uint64_t tid = (uint64_t)(uintptr_t)arg;

	pthread_mutex_lock(&lf_reg_lock);
	for (struct lf_map *m = lf_reg_head; m != NULL; m = m->reg_next)
		for (struct lf_rec *r = lf_load_acq_ptr((void **)&m->recs);
		     r != NULL; r = r->next_all)
			if (lf_load_rlx_64(&r->owner) == tid)
				lf_rec_release(r);
	pthread_mutex_unlock(&lf_reg_lock);
	/* A later destructor of this thread that uses a map starts afresh
	 * (and re-arms the key: its destructors run again). */
	memset(&lf_tls, 0, sizeof lf_tls);
}

static void
lf_key_init(void)
{
	lf_key_ok = pthread_key_create(&lf_exit_key, lf_thread_exit) == 0;
}

/* This thread's id, given on first use with the exit hook armed; 0 when
 * the hook cannot be armed (the thread then runs without records). */
static uint64_t
lf_thread_id(void)
{
	uint64_t tid;

	if (CMAP_LIKELY(lf_tls.tid != 0))
		return lf_tls.tid;
	(void)pthread_once(&lf_key_once, lf_key_init);
	tid = lf_faa_64(&lf_next_tid, 1) + 1;
	if (!lf_key_ok ||
	    pthread_setspecific(lf_exit_key, (void *)(uintptr_t)tid) != 0)
		return 0;
	lf_tls.tid = tid;
	return tid;
}

static void
lf_register_map(struct lf_map *m)
{
	m->id = lf_faa_64(&lf_next_map_id, 1) + 1;
	pthread_mutex_lock(&lf_reg_lock);
	m->reg_next = lf_reg_head;
	if (lf_reg_head != NULL)
		lf_reg_head->reg_prev = m;
	lf_reg_head = m;
	pthread_mutex_unlock(&lf_reg_lock);
}

static void
lf_unregister_map(struct lf_map *m)
{
	pthread_mutex_lock(&lf_reg_lock);
	if (m->reg_prev != NULL)
		m->reg_prev->reg_next = m->reg_next;
	else if (lf_reg_head == m)
		lf_reg_head = m->reg_next;
	if (m->reg_next != NULL)
		m->reg_next->reg_prev = m->reg_prev;
	m->reg_prev = m->reg_next = NULL;
	pthread_mutex_unlock(&lf_reg_lock);
}

static struct lf_rec *
lf_rec_slow(struct lf_map *m)
{
	struct lf_tls_ent *c = &lf_tls.cache[m->id & (LF_TLS_CACHE - 1)];
	uint64_t tid = lf_thread_id();
	ck_epoch_record_t *er;
	struct lf_rec *r;

	if (tid == 0)
		return NULL;
	/* A record of ours that the cache lost. */
	for (r = lf_load_acq_ptr((void **)&m->recs); r != NULL; r = r->next_all)
		if (lf_load_rlx_64(&r->owner) == tid)
			goto found;
	er = ck_epoch_recycle(&m->epoch, NULL);
	if (er != NULL) {
		r = (struct lf_rec *)(void *)er;
#if defined(CMAP_TSAN)
		__tsan_acquire(r);
#endif
		lf_store_rlx_64(&r->owner, tid);
	} else {
		void *head;

		r = lf_alloc(m, sizeof *r, CMAP_CACHE_LINE);
		if (r == NULL)
			return NULL;
		memset(r, 0, sizeof *r);
		r->map = m;
		r->owner = tid;
		r->stripe = (unsigned)(lf_faa_64(&m->nrecs, 1) % LF_STRIPES);
		ck_epoch_register(&m->epoch, &r->er, NULL);
		head = lf_load_acq_ptr((void **)&m->recs);
		do {
			r->next_all = head;
		} while (!lf_cas_ptr((void **)&m->recs, &head, r));
	}
found:
	c->map_id = m->id;
	c->rec = r;
	return r;
}

static inline struct lf_rec *
lf_rec_get(struct lf_map *m)
{
	const struct lf_tls_ent *c = &lf_tls.cache[m->id & (LF_TLS_CACHE - 1)];

	if (CMAP_LIKELY(c->map_id == m->id))
		return c->rec;
	return lf_rec_slow(m);
}

/*
 * Enter a read section.  With membarrier, no fence: the thread that
 * retires a table runs membarrier() between unlinking it and deferring
 * its free (lf_retire), which orders this store of `active` before that
 * thread's later epoch scans, or else orders our later loads of table
 * pointers after the unlink.  Without membarrier (or under TSan),
 * ck_epoch_begin's fence does the same.  Without a record, a seq_cst
 * increment of map->naked, paired with lf_table_free_cb.
 */
static inline void
lf_pin(struct lf_map *m, struct lf_rec *r)
{
	if (CMAP_UNLIKELY(r == NULL)) {
		lf_faa_64(&m->naked, 1);
		return;
	}
#if !defined(CMAP_TSAN)
	if (CMAP_LIKELY(m->memb)) {
		unsigned a = r->er.active;

		if (a == 0) {
			ck_pr_store_uint(&r->er.active, 1);
			ck_pr_barrier();
			ck_pr_store_uint(
			    &r->er.epoch, ck_pr_load_uint(&m->epoch.epoch));
			ck_pr_barrier();
		} else {
			ck_pr_store_uint(&r->er.active, a + 1);
		}
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

/* Move orphaned retired tables into r's own deferral lists. */
static void
lf_adopt_orphans(struct lf_map *m, struct lf_rec *r)
{
	struct lf_table *t;

	if (lf_load_acq_ptr((void **)&m->orphans) == NULL)
		return;
	t = lf_xchg_ptr((void **)&m->orphans, NULL);
	while (t != NULL) {
		struct lf_table *n = t->orphan_next;

		ck_epoch_call(&r->er, &t->entry, lf_table_free_cb);
		t = n;
	}
}

/* Reclaim what can be; called outside read sections. */
static void
lf_poll(struct lf_map *m, struct lf_rec *r)
{
	lf_adopt_orphans(m, r);
	if (r->er.n_pending != 0)
		ck_epoch_poll(&r->er);
}

static inline void
lf_after_op(struct lf_map *m, struct lf_rec *r)
{
	/* Not inside an outer read section (a range callback): a poll
	 * there could not free anything that section may still see, but
	 * ck_epoch_poll also rewrites the record's epoch. */
	if (CMAP_UNLIKELY(r == NULL) || r->er.active != 0)
		return;
	if (CMAP_UNLIKELY(r->er.n_pending != 0 ||
	        lf_load_acq_ptr((void **)&m->orphans) != NULL)) {
		/* Right after retiring (often nobody else is reading, and
		 * the table goes back at once), then every LF_POLL_EVERY
		 * operations. */
		if (r->poll_now || (++r->ops % LF_POLL_EVERY) == 0 ||
		    lf_load_rlx_64(&m->pending_bytes) > (UINT64_C(1) << 20)) {
			r->poll_now = 0;
			lf_poll(m, r);
		}
	}
}

/*
 * Retire a table that map->cur no longer leads to (the CAS on cur is the
 * unlink).  The membarrier is what lets readers pin without a fence: after
 * it, every thread still reading t is visible as active to the scans that
 * the deferral waits for.
 */
static void
lf_retire(struct lf_map *m, struct lf_rec *r, struct lf_table *t)
{
	lf_faa_64(&m->pending_bytes, t->bytes);
#if !defined(CMAP_TSAN)
	if (m->memb)
		lf_membarrier();
#endif
	if (r != NULL) {
		ck_epoch_call(&r->er, &t->entry, lf_table_free_cb);
		r->poll_now = 1;
	} else
		lf_orphan_push(m, t);
}

static void
lf_len_add(struct lf_map *m, struct lf_rec *r, int64_t d)
{
	if (CMAP_LIKELY(r != NULL))
		lf_store_rlx_64((uint64_t *)&r->live,
		    lf_load_rlx_64((uint64_t *)&r->live) + (uint64_t)d);
	else
		lf_faa_64(&m->naked_live, (uint64_t)d);
}

static uint64_t
lf_len_of(struct lf_map *m)
{
	int64_t sum = (int64_t)lf_load_rlx_64(&m->naked_live);
	struct lf_rec *r = lf_load_acq_ptr((void **)&m->recs);

	for (; r != NULL; r = r->next_all)
		sum += (int64_t)lf_load_rlx_64((uint64_t *)&r->live);
	return sum < 0 ? 0 : (uint64_t)sum;
}

/* ---------------------------------------------------------------------
 * Migration
 * ------------------------------------------------------------------- */

/* Advance map->cur past every finished table; retire each one passed. */
static void
lf_advance(struct lf_map *m, struct lf_rec *r)
{
	for (;;) {
		struct lf_table *c = lf_load_acq_ptr((void **)&m->cur);
		struct lf_table *n = lf_load_acq_ptr((void **)&c->next);
		void *exp = c;

		if (n == NULL || lf_load_acq_64(&c->ndone) < c->nchunks)
			return;
		if (lf_cas_ptr((void **)&m->cur, &exp, n)) {
			/* May be stored out of order with a racing advance:
			 * then one table is freed rather than kept. */
			lf_store_rlx_64(&m->cur_cap, n->cap);
			lf_retire(m, r, c);
		}
	}
}

enum { LF_MIG_OK, LF_MIG_NOMEM, LF_MIG_DEFERRED };

/*
 * Give t a successor sized for the live entries (reason: t is past its
 * limits, or nearly empty, or a reserve asks for want_cap).  Returns
 * LF_MIG_OK when t has a successor afterwards (ours or a racing thread's),
 * LF_MIG_NOMEM when it could not be allocated, LF_MIG_DEFERRED when too
 * many retired tables wait to be freed.
 */
static int
lf_start_migration(struct lf_map *m, struct lf_table *t, uint64_t want_cap)
{
	uint64_t live, nc, minc;
	struct lf_table *n;
	void *exp = NULL;

	if (lf_load_acq_ptr((void **)&t->next) != NULL)
		return LF_MIG_OK;
	live = lf_len_of(m);
	minc = lf_load_rlx_64(&m->min_cap);
	nc = t->cap;
	if (lf_load_rlx_64(&t->full)) {
		/* Out of room or out of probe reach: a rehash at the same
		 * size would meet the same clusters, so at least double. */
		nc *= 2;
	} else {
		while (nc / 2 >= minc && (nc / 2) % 8 == 0 && live * 8 <= nc)
			nc /= 2;
	}
	/* Double while live > 2/3: a table filled by new keys (live near
	 * its 3/4 limit) doubles; one filled by tombstones keeps its size,
	 * so under churn at most two tables of the size growth reached are
	 * alive at once (old and new, during the migration). */
	while (live * 3 > nc * 2)
		nc *= 2;
	if (nc < minc)
		nc = minc;
	if (nc < want_cap)
		nc = want_cap;
	/* Cap what waits to be freed (LF_PENDING_CAP): past it, do not
	 * start another table. */
	if (lf_load_rlx_64(&m->pending_bytes) > LF_PENDING_CAP(t))
		return lf_load_acq_ptr((void **)&t->next) ? LF_MIG_OK
		                                          : LF_MIG_DEFERRED;
	n = lf_table_new(m, nc, 0);
	if (n == NULL)
		return lf_load_acq_ptr((void **)&t->next) ? LF_MIG_OK
		                                          : LF_MIG_NOMEM;
	if (!lf_cas_ptr((void **)&t->next, &exp, n)) {
		lf_table_free(m, n); /* never published */
		return LF_MIG_OK;
	}
	if (nc > t->cap)
		lf_faa_64(&m->grows, 1);
	else if (nc < t->cap)
		lf_faa_64(&m->shrinks, 1);
	return LF_MIG_OK;
}

static cmap_status_t lf_copy(struct lf_map *m, struct lf_rec *r,
    struct lf_table *t, uint64_t h, uint64_t v, struct lf_pair *src);

/*
 * Freeze slot s of t (whose successor n is set).  On return the slot is
 * final (FROZEN, GONE or SEALED) and, if it holds a live entry, that entry
 * is in n's chain (or dropped, when n is a clear's target).  A LIVE ->
 * FROZEN winner that drops the entry counts it out of len.
 */
static cmap_status_t
lf_freeze_slot(struct lf_map *m, struct lf_rec *r, struct lf_table *t,
    struct lf_table *n, uint64_t s)
{
	struct lf_pair *p = &t->slots[s];
	struct lf_pair cur;

	cur.w = lf_load_acq_64(&p->w);
	cur.v = lf_load_rlx_64(&p->v);
	for (;;) {
		struct lf_pair nw = cur;

		switch (LF_ST(cur.w)) {
		case LF_EMPTY:
			nw.w = LF_SEALED;
			break;
		case LF_LIVE:
			nw.w = (cur.w & ~(uint64_t)7) | LF_FROZEN;
			break;
		case LF_TOMB:
			nw.w = (cur.w & ~(uint64_t)7) | LF_GONE;
			break;
		case LF_FROZEN:
			if (n->drop)
				return CMAP_OK;
			return lf_copy(
			    m, r, n, lf_slot_hash(t, s, cur.w, NULL), cur.v, p);
		default: /* GONE, SEALED */
			return CMAP_OK;
		}
		if (lf_cas_pair(p, &cur, nw)) {
			if (LF_ST(nw.w) != LF_FROZEN)
				return CMAP_OK;
			if (n->drop) {
				lf_len_add(m, r, -1);
				return CMAP_OK;
			}
			return lf_copy(
			    m, r, n, lf_slot_hash(t, s, nw.w, NULL), nw.v, p);
		}
		/* cur holds what the CAS found: try again from there. */
	}
}

static void
lf_chunk_done(
    struct lf_map *m, struct lf_rec *r, struct lf_table *t, uint64_t c)
{
	uint64_t zero = 0;

	if (lf_cas_64(&t->chunk_done[c], &zero, 1) &&
	    lf_faa_64(&t->ndone, 1) + 1 == t->nchunks)
		lf_advance(m, r);
}

static cmap_status_t
lf_migrate_chunk(
    struct lf_map *m, struct lf_rec *r, struct lf_table *t, uint64_t c)
{
	struct lf_table *n = lf_load_acq_ptr((void **)&t->next);
	uint64_t end = (c + 1) * LF_CHUNK;

	if (end > t->cap)
		end = t->cap;
	for (uint64_t s = c * LF_CHUNK; s < end; s++) {
		cmap_status_t st = lf_freeze_slot(m, r, t, n, s);

		if (st != CMAP_OK)
			return st;
	}
	lf_chunk_done(m, r, t, c);
	return CMAP_OK;
}

/*
 * One help step on a migrating table: the next unclaimed chunk, or, when
 * all are claimed but some are not done (their owner is slow or failed),
 * the first such chunk, migrated again (idempotent).  Bounded work:
 * LF_CHUNK slots plus the scan of the chunk flags.
 */
static void
lf_help_one(struct lf_map *m, struct lf_rec *r, struct lf_table *t)
{
	uint64_t c;

	if (lf_load_rlx_64(&t->claim) < t->nchunks) {
		c = lf_faa_64(&t->claim, 1);
		if (c < t->nchunks) {
			(void)lf_migrate_chunk(m, r, t, c);
			return;
		}
	}
	if (lf_load_acq_64(&t->ndone) >= t->nchunks) {
		lf_advance(m, r);
		return;
	}
	for (c = 0; c < t->nchunks; c++) {
		if (lf_load_acq_64(&t->chunk_done[c]) == 0) {
			(void)lf_migrate_chunk(m, r, t, c);
			return;
		}
	}
	lf_advance(m, r);
}

/*
 * Finish every migration in progress, redoing chunks others hold if need
 * be (nobody is waited for).  Returns CMAP_OK when map->cur has no
 * successor at some moment during the call, CMAP_ENOMEM when a copy could
 * not find room because a table could not be allocated.
 */
static cmap_status_t
lf_help_all(struct lf_map *m, struct lf_rec *r)
{
	for (;;) {
		struct lf_table *t = lf_load_acq_ptr((void **)&m->cur);

		if (lf_load_acq_ptr((void **)&t->next) == NULL)
			return CMAP_OK;
		for (uint64_t c = 0; c < t->nchunks; c++) {
			if (lf_load_acq_64(&t->chunk_done[c]) != 0)
				continue;
			cmap_status_t st = lf_migrate_chunk(m, r, t, c);

			if (st != CMAP_OK)
				return st;
		}
		lf_advance(m, r);
	}
}

/* ---------------------------------------------------------------------
 * Single-key operations
 * ------------------------------------------------------------------- */
/*
 * The lookup of hash h starting at table t, with an optional fallback
 * value (a FROZEN entry of an older table whose copy may not have landed
 * yet).  Returns true and *out when the key is present.
 */
static inline bool
lf_find(
    struct lf_table *t, uint64_t h, bool have_fb, uint64_t fb, uint64_t *out)
{
	const uint64_t tag = h << 3;

	for (;;) {
		const uint64_t cap = t->cap;
		const uint64_t dmax = t->dmax;
		struct lf_pair *slots = t->slots;
		uint64_t s = lf_home(h, cap);
		uint64_t d = 0;

		for (;;) {
			/* Acquire pairs with the CAS that wrote this slot:
			 * v (read after) is then the one written with w or
			 * a later one (see lf_load's argument). */
			uint64_t w = lf_load_acq_64(&slots[s].w);

			if (LF_KEYED(w, tag)) {
				unsigned st = LF_ST(w);

				if (st == LF_LIVE) {
					*out = lf_load_rlx_64(&slots[s].v);
					return true;
				}
				if (st == LF_TOMB)
					return false;
				have_fb = st == LF_FROZEN;
				if (have_fb)
					fb = lf_load_rlx_64(&slots[s].v);
				goto next;
			}
			if (w == LF_EMPTY)
				goto end;
			if (w == LF_SEALED)
				goto next;
			if (++d > dmax) {
				if (lf_load_acq_ptr((void **)&t->next) == NULL)
					goto end;
				goto next;
			}
			s = s + 1 == cap ? 0 : s + 1;
		}
	next:
		/* Non-NULL: every frozen state is written after next is
		 * published (release CAS) and read here after an acquire. */
		t = lf_load_acq_ptr((void **)&t->next);
		if (t->drop)
			have_fb = false;
	}
end:
	if (have_fb)
		*out = fb;
	return have_fb;
}

/*
 * A write request (or, with copy set, the copy of (h, cv) from an older
 * table: insert only where h was never seen) starting at table t.
 */
static cmap_status_t
lf_write(struct lf_map *m, struct lf_rec *r, struct lf_table *t, uint64_t h,
    struct cmap_req *q, bool copy, uint64_t cv, struct lf_pair *src)
{
	const uint64_t tag = h << 3;
	bool helped = copy;

	for (;;) {
		struct lf_table *n;
		struct lf_pair *slots = t->slots;
		const uint64_t cap = t->cap;
		uint64_t s = lf_home(h, cap);
		uint64_t d = 0;
		struct lf_pair cur;

		if (copy && t->drop) {
			/*
			 * The copy went through a table that is migrating
			 * into a clear's target: the entry is removed by that
			 * clear, but no LIVE -> FROZEN freeze toward the drop
			 * table counted it out of len (it was sealed out of
			 * the middle table).  Count it out exactly once: the
			 * copier whose CAS turns its FROZEN source slot into
			 * GONE does.  GONE reads as "no fallback", which is
			 * what readers conclude anyway on reaching t.
			 */
			struct lf_pair fz = {tag | LF_FROZEN, cv};
			struct lf_pair gone = {tag | LF_GONE, cv};

			if (lf_cas_pair(src, &fz, gone))
				lf_len_add(m, r, -1);
			return CMAP_OK;
		}
		n = lf_load_acq_ptr((void **)&t->next);
		if (n != NULL && !helped) {
			helped = true;
			lf_help_one(m, r, t);
		}
		cur.w = lf_load_acq_64(&slots[s].w);
		cur.v = lf_load_rlx_64(&slots[s].v);
		for (;;) {
			unsigned st = LF_ST(cur.w);
			bool keyed = LF_KEYED(cur.w, tag);

			if (keyed && st >= LF_FROZEN) {
				if (copy)
					return CMAP_OK; /* seen here */
				n = lf_load_acq_ptr((void **)&t->next);
				if (st == LF_FROZEN && !n->drop) {
					cmap_status_t e = lf_copy(
					    m, r, n, h, cur.v, &slots[s]);
					if (e != CMAP_OK)
						return e;
				}
				break; /* on to n */
			}
			if (cur.w == LF_SEALED)
				break;
			if (keyed || cur.w == LF_EMPTY) {
				if (n == NULL)
					n = lf_load_acq_ptr((void **)&t->next);
				if (n != NULL && keyed) {
					/* Move this key's slot, then go on. */
					cmap_status_t e;

					if (copy)
						return CMAP_OK;
					e = lf_freeze_slot(m, r, t, n, s);
					if (e != CMAP_OK)
						return e;
					break;
				}
				if (n != NULL) {
					/* Seal the end of this key's probe
					 * so that nobody inserts it into t
					 * any more.  If the slot was taken
					 * meanwhile, look at it again: it
					 * may be this key's, or the probe
					 * goes on past it. */
					struct lf_pair nw = {LF_SEALED, cur.v};

					if (lf_cas_pair(&slots[s], &cur, nw))
						break;
					continue;
				}
			}
			if (keyed) {
				/* LIVE or TOMB in a table not migrating. */
				bool present = st == LF_LIVE;
				struct lf_pair nw = cur;
				struct cmap_effect e;
				cmap_status_t res;

				if (copy)
					return CMAP_OK;
				res = cmap__decide(q, present, cur.v, &e);
				if (e.act == CMAP_ACT_NONE) {
					q->out = e.out;
					return res;
				}
				if (e.act == CMAP_ACT_SET)
					nw.w = tag | LF_LIVE, nw.v = e.value;
				else
					nw.w = tag | LF_TOMB;
				if (lf_cas_pair(&slots[s], &cur, nw)) {
					if (!present)
						lf_len_add(m, r, 1);
					else if (e.act == CMAP_ACT_DELETE) {
						lf_len_add(m, r, -1);
						if (r != NULL &&
						    (++r->dels %
						        LF_SHRINK_EVERY) == 0 &&
						    t->cap / 2 >=
						        lf_load_rlx_64(
						            &m->min_cap) &&
						    lf_len_of(m) * 8 < t->cap)
							(void)
							    lf_start_migration(
							        m, t, 0);
					}
					q->out = e.out;
					return res;
				}
				continue; /* cur holds the new contents */
			}
			if (cur.w == LF_EMPTY) {
				/* Not migrating; the key is absent. */
				struct cmap_effect e = {CMAP_ACT_SET, cv, 0};
				cmap_status_t res = CMAP_OK;
				struct lf_pair nw;

				if (!copy) {
					res = cmap__decide(q, false, 0, &e);
					if (e.act != CMAP_ACT_SET) {
						q->out = e.out;
						return res;
					}
					if (lf_load_rlx_64(&t->over) ||
					    lf_load_rlx_64(&t->full)) {
						/* t is past its soft limit:
						 * a new key goes to a
						 * successor.  If none can be
						 * allocated, fail without a
						 * change; if only reclamation
						 * lags, fill t up to hard. */
						int mg =
						    lf_start_migration(m, t, 0);

						if (lf_load_acq_ptr(
						        (void **)&t->next) !=
						    NULL)
							continue; /* seal it */
						if (mg == LF_MIG_NOMEM ||
						    lf_load_rlx_64(&t->full))
							return CMAP_ENOMEM;
					}
				}
				nw.w = tag | LF_LIVE;
				nw.v = e.value;
				if (lf_cas_pair(&slots[s], &cur, nw)) {
					lf_used_add(r, t);
					if (!copy) {
						lf_len_add(m, r, 1);
						q->out = e.out;
					}
					return res;
				}
				continue;
			}
			/* Another key's slot: probe on. */
			if (++d > t->dmax) {
				/* No room within reach: the key is not in
				 * t and never will be. */
				n = lf_load_acq_ptr((void **)&t->next);
				if (n == NULL) {
					/* Fail with ENOMEM below only for
					 * a request that would insert. */
					if (!copy) {
						struct cmap_effect e;
						cmap_status_t res =
						    cmap__decide(
						        q, false, 0, &e);

						if (e.act != CMAP_ACT_SET) {
							q->out = e.out;
							return res;
						}
					}
					lf_store_rlx_64(&t->full, 1);
					if (lf_start_migration(m, t, 0) !=
					    LF_MIG_OK)
						return CMAP_ENOMEM;
				}
				break;
			}
			s = s + 1 == cap ? 0 : s + 1;
			cur.w = lf_load_acq_64(&slots[s].w);
			cur.v = lf_load_rlx_64(&slots[s].v);
		}
		t = lf_load_acq_ptr((void **)&t->next);
	}
}

static cmap_status_t
lf_copy(struct lf_map *m, struct lf_rec *r, struct lf_table *t, uint64_t h,
    uint64_t v, struct lf_pair *src)
{
	return lf_write(m, r, t, h, NULL, true, v, src);
}

/* ---------------------------------------------------------------------
 * The ops table
 * ------------------------------------------------------------------- */
static void lf_destroy(cmap_t *map);

static cmap_status_t
lf_create(const struct cmap__create_args *args, cmap_t **out)
{
	struct lf_map *m = cmap__map_new(args, sizeof *m);
	struct lf_table *t;
	uint64_t cap;

	if (m == NULL)
		return CMAP_ENOMEM;
	m->alloc = args->allocator;
	m->bytes = sizeof *m;
	m->seed = args->seed;
	cap = args->capacity ? lf_cap_for(args->capacity) : LF_DEFAULT_CAP;
	m->min_cap = cap;
	ck_epoch_init(&m->epoch);
	t = lf_table_new(m, cap, 0);
	if (t == NULL) {
		cmap__map_free(&m->base);
		return CMAP_ENOMEM;
	}
	m->cur = t;
	m->cur_cap = t->cap;
#if !defined(CMAP_TSAN)
	m->memb = lf_membarrier_setup();
#endif
	lf_register_map(m);
	lf_spare_refill(m);
	/* The creating thread's record now, so that its first operations
	 * allocate nothing (a thread without one gets it on first use). */
	if (m->spare == NULL || lf_rec_slow(m) == NULL) {
		lf_destroy(&m->base);
		cmap__map_free(&m->base);
		return CMAP_ENOMEM;
	}
	*out = &m->base;
	return CMAP_OK;
}

static void
lf_destroy(cmap_t *map)
{
	struct lf_map *m = (struct lf_map *)map;
	struct lf_rec *r, *rn;
	struct lf_table *t, *tn;

	/* After this no exiting thread walks m's records.  Entries for m in
	 * the caches of live threads stay, but m's id never matches again. */
	lf_unregister_map(m);
	/* Nothing runs on the map any more: every deferred free is safe. */
	for (r = m->recs; r != NULL; r = r->next_all)
		ck_epoch_reclaim(&r->er);
	for (t = m->orphans; t != NULL; t = tn) {
		tn = t->orphan_next;
		lf_table_free(m, t);
	}
	for (t = m->cur; t != NULL; t = tn) {
		tn = t->next;
		lf_table_free(m, t);
	}
	if (m->spare != NULL)
		lf_table_free(m, m->spare);
	if (m->recycle != NULL)
		lf_table_free(m, m->recycle);
	for (r = m->recs; r != NULL; r = rn) {
		rn = r->next_all;
		lf_free(m, r, sizeof *r);
	}
	/* The front end frees the map struct itself. */
}

static cmap_status_t
lf_load(cmap_t *map, uint64_t key, uint64_t *value)
{
	struct lf_map *m = (struct lf_map *)map;
	struct lf_rec *r = lf_rec_get(m);
	uint64_t h = cmap__hash(key, m->seed);
	bool found;

	lf_pin(m, r);
	found = lf_find(lf_load_acq_ptr((void **)&m->cur), h, false, 0, value);
	lf_unpin(m, r);
	lf_after_op(m, r);
	return found ? CMAP_OK : CMAP_NOT_FOUND;
}

static cmap_status_t
lf_exec(cmap_t *map, struct cmap_req *q)
{
	struct lf_map *m = (struct lf_map *)map;
	struct lf_rec *r = lf_rec_get(m);
	uint64_t h = cmap__hash(q->key, m->seed);
	cmap_status_t st;

	lf_pin(m, r);
	st = lf_write(
	    m, r, lf_load_acq_ptr((void **)&m->cur), h, q, false, 0, NULL);
	lf_unpin(m, r);
	lf_after_op(m, r);
	return st;
}

static cmap_status_t
lf_store(cmap_t *map, uint64_t key, uint64_t value)
{
	struct cmap_req q = {.kind = CMAP_REQ_STORE, .key = key, .a = value};

	return lf_exec(map, &q);
}

/*
 * Is the key of hash h in t, in any state?  (A slot, once a key's, stays
 * that key's for the table's life.)
 */
static bool
lf_has_slot(const struct lf_table *t, uint64_t h)
{
	const uint64_t tag = h << 3;
	uint64_t s = lf_home(h, t->cap);

	for (uint64_t d = 0; d <= t->dmax; d++) {
		uint64_t w = lf_load_acq_64(&t->slots[s].w);

		if (LF_KEYED(w, tag))
			return true;
		if (w == LF_EMPTY)
			return false;
		s = s + 1 == t->cap ? 0 : s + 1;
	}
	return false;
}

/*
 * The value of the key whose slot s of t holds w (read with acquire),
 * from that slot on: lf_find's rule, without probing again to the slot.
 */
static bool
lf_slot_value(
    struct lf_table *t, uint64_t s, uint64_t w, uint64_t h, uint64_t *out)
{
	struct lf_table *n;

	switch (LF_ST(w)) {
	case LF_LIVE:
		*out = lf_load_rlx_64(&t->slots[s].v);
		return true;
	case LF_FROZEN:
		n = lf_load_acq_ptr((void **)&t->next);
		return lf_find(
		    n, h, !n->drop, lf_load_rlx_64(&t->slots[s].v), out);
	case LF_GONE:
		return lf_find(
		    lf_load_acq_ptr((void **)&t->next), h, false, 0, out);
	default: /* TOMB */
		return false;
	}
}

/*
 * Range: finish any migration first, so that usually one table holds
 * every key present at that moment; then walk the tables from map->cur
 * to the last one of that moment (more than one only when a migration
 * could not finish for lack of memory).  A key is decided at its slot in
 * the first of those tables that has one, by the lookup rule from there:
 * visited with the value found, or not at all.  Slots are never taken
 * from a key, so a later table's slot of a key that also has one in an
 * earlier table is skipped, and each key is visited at most once.  A key
 * present for the whole walk has a slot in one of the tables of the
 * start (the newest of them keeps receiving inserts until it has a
 * successor), so it is visited.  The walk stays in one read section so
 * no table can be freed under it.
 */
static cmap_status_t
lf_range(cmap_t *map, cmap_range_fn fn, void *ctx)
{
	struct lf_map *m = (struct lf_map *)map;
	struct lf_rec *r = lf_rec_get(m);
	struct lf_table *first, *last, *t;
	bool stop = false;

	lf_pin(m, r);
	(void)lf_help_all(m, r);
	first = last = lf_load_acq_ptr((void **)&m->cur);
	while (lf_load_acq_ptr((void **)&last->next) != NULL)
		last = lf_load_acq_ptr((void **)&last->next);
	for (t = first; !stop; t = lf_load_acq_ptr((void **)&t->next)) {
		for (uint64_t s = 0; s < t->cap && !stop; s++) {
			uint64_t w = lf_load_acq_64(&t->slots[s].w), h, v;
			bool seen = false;

			if (LF_ST(w) - 1u >= 4u) /* EMPTY, SEALED */
				continue;
			h = lf_slot_hash(t, s, w, NULL);
			for (struct lf_table *e = first; e != t && !seen;
			     e = lf_load_acq_ptr((void **)&e->next))
				seen = lf_has_slot(e, h);
			if (seen || !lf_slot_value(t, s, w, h, &v))
				continue;
			stop = !fn(cmap__unhash(h, m->seed), v, ctx);
		}
		stop = stop || t == last;
	}
	lf_unpin(m, r);
	lf_after_op(m, r);
	return CMAP_OK;
}

static size_t
lf_len(const cmap_t *map)
{
	return (size_t)lf_len_of((struct lf_map *)(uintptr_t)map);
}

/*
 * Clear: attach a table marked `drop` at the end of the chain of tables
 * (entries frozen into it are removed, each counted out of len once by
 * the thread whose CAS froze it), then migrate every table before it.
 * Each key is removed once, when its newest slot before the drop table
 * is frozen; writes that come later land in the drop table or after it.
 * The migrations before the drop table cannot fail: their copies end in
 * a table that has a successor, or in the drop table.  So the one thing
 * clear needs is that table: a new one, or else the map's spare
 * (allocated at create, replaced after use); with neither, CMAP_ENOMEM
 * and nothing changed.
 */
static cmap_status_t
lf_clear(cmap_t *map)
{
	struct lf_map *m = (struct lf_map *)map;
	struct lf_rec *r = lf_rec_get(m);
	struct lf_table *d, *t;

	d = lf_table_new(m, lf_load_rlx_64(&m->min_cap), 1);
	if (d == NULL)
		d = lf_xchg_ptr((void **)&m->spare, NULL);
	if (d == NULL)
		return CMAP_ENOMEM;
	lf_pin(m, r);
	for (;;) {
		void *exp = NULL;

		t = lf_load_acq_ptr((void **)&m->cur);
		while (lf_load_acq_ptr((void **)&t->next) != NULL)
			t = lf_load_acq_ptr((void **)&t->next);
		if (lf_cas_ptr((void **)&t->next, &exp, d))
			break;
	}
	if (d->cap < t->cap)
		lf_faa_64(&m->shrinks, 1);
	/* Finish the tables before d (others may finish them too).  When d
	 * is not found on the way from map->cur, it was passed already. */
	for (;;) {
		struct lf_table *u = NULL;

		for (t = lf_load_acq_ptr((void **)&m->cur); t != NULL && t != d;
		     t = lf_load_acq_ptr((void **)&t->next))
			if (u == NULL && lf_load_acq_64(&t->ndone) < t->nchunks)
				u = t;
		if (t == NULL || u == NULL)
			break;
		for (uint64_t c = 0; c < u->nchunks; c++)
			if (lf_load_acq_64(&u->chunk_done[c]) == 0)
				(void)lf_migrate_chunk(m, r, u, c);
		lf_advance(m, r);
	}
	lf_advance(m, r);
	lf_unpin(m, r);
	if (lf_load_acq_ptr((void **)&m->spare) == NULL)
		lf_spare_refill(m);
	lf_after_op(m, r);
	return CMAP_OK;
}

static cmap_status_t
lf_reserve(cmap_t *map, size_t entries)
{
	struct lf_map *m = (struct lf_map *)map;
	struct lf_rec *r = lf_rec_get(m);
	uint64_t want = lf_cap_for(entries);
	cmap_status_t st = CMAP_OK;

	if (want == UINT64_MAX)
		return CMAP_ENOMEM;
	lf_pin(m, r);
	for (;;) {
		struct lf_table *t;

		st = lf_help_all(m, r);
		if (st != CMAP_OK)
			break;
		t = lf_load_acq_ptr((void **)&m->cur);
		/* Enough room, even in a table smaller than want (the spare
		 * drop table after a clear). */
		if (t->cap >= want || entries + entries / 3 + 1 <= t->cap)
			break;
		if (lf_load_acq_ptr((void **)&t->next) != NULL)
			continue;
		if (lf_start_migration(m, t, want) != LF_MIG_OK) {
			st = CMAP_ENOMEM;
			break;
		}
	}
	if (st == CMAP_OK) {
		uint64_t old = lf_load_rlx_64(&m->min_cap);

		while (old < want && !lf_cas_64(&m->min_cap, &old, want))
			;
	}
	lf_unpin(m, r);
	lf_after_op(m, r);
	return st;
}

static cmap_status_t
lf_stats(cmap_t *map, cmap_stats_t *out)
{
	struct lf_map *m = (struct lf_map *)map;
	struct lf_rec *r = lf_rec_get(m);
	uint64_t n = 0, sum = 0, maxp = 0, cap = 0;

	lf_pin(m, r);
	for (struct lf_table *t = lf_load_acq_ptr((void **)&m->cur); t != NULL;
	     t = lf_load_acq_ptr((void **)&t->next)) {
		cap += t->cap;
		for (uint64_t s = 0; s < t->cap; s++) {
			uint64_t w = lf_load_acq_64(&t->slots[s].w), d;

			if (LF_ST(w) != LF_LIVE)
				continue;
			(void)lf_slot_hash(t, s, w, &d);
			n++;
			sum += d;
			if (d > maxp)
				maxp = d;
		}
	}
	lf_unpin(m, r);
	out->len = lf_len_of(m);
	out->capacity = cap;
	out->bytes = lf_load_rlx_64(&m->bytes);
	out->grows = lf_load_rlx_64(&m->grows);
	out->shrinks = lf_load_rlx_64(&m->shrinks);
	out->shards = 1;
	out->min_shard_len = out->len;
	out->max_shard_len = out->len;
	out->max_probe = maxp;
	out->mean_probe = n ? (double)sum / (double)n : 0.0;
	lf_after_op(m, r);
	return CMAP_OK;
}

CMAP_HIDDEN const struct cmap__backend cmap__lockfree_backend = {
    .version = CMAP__BACKEND_V1,
    .name = CMAP_BACKEND_LOCKFREE,
    .summary = "compare-and-swap slots, resized while in use by every "
               "writer, epoch reclamation: no lock on any path",
    .backend_version = 1,
    .caps = CMAP_CAP_THREAD_SAFE | CMAP_CAP_LOCK_FREE | CMAP_CAP_LINEARIZABLE |
        CMAP_CAP_RANGE_ONCE,
    .create = lf_create,
    .destroy = lf_destroy,
    .load = lf_load,
    .store = lf_store,
    .exec = lf_exec,
    .range = lf_range,
    .len = lf_len,
    .clear = lf_clear,
    .reserve = lf_reserve,
    .stats = lf_stats,
};
