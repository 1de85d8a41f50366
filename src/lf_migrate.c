/*
 * lf_migrate.c - the lockfree backend's migration (a table's successor,
 * freezing, copying, helping, advancing map->cur) and its write path,
 * which drives migration: every writer that meets a migrating table helps.
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
 * old table is retired through ck_epoch (lf_reclaim.c).
 *
 * A table whose successor is a clear's target (drop) does not copy: the
 * thread whose CAS froze a LIVE slot counts it out of len instead.  A copy
 * that runs into a drop table through a middle table turns its FROZEN
 * source slot into GONE, and the thread whose CAS does that counts it out.
 *
 * WRITES
 *
 * A write probes from home, one table of the chain after the other, and
 * at each slot does what that slot's situation asks (lf_write_at): the
 * key's LIVE or TOMB slot in a table not migrating is decided and CASed
 * (lf_write_key), the EMPTY end of its probe takes a new key
 * (lf_write_new); in a migrating table the key's slot is frozen
 * (lf_freeze_own), or the EMPTY end of its probe sealed (lf_seal_end),
 * and the write goes on in next, as it does past the key's FROZEN or GONE
 * slot (lf_write_moved), a SEALED slot, or the end of its reach
 * (lf_write_out_of_reach).  A failed CAS looks again at the pair it
 * found.  A copy (lf_copy) walks the same way with its own, shorter rule.
 */
#include "lf.h"
#include "metrics.h"

#include <sched.h>
#include <stdbool.h>
#include <stdint.h>

/* ---------------------------------------------------------------------
 * Used slots: when a table must migrate
 * ------------------------------------------------------------------- */
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
 * Migration
 * ------------------------------------------------------------------- */

/* Advance map->cur past every finished table; retire each one passed. */
CMAP_HIDDEN void
cmap__lf_advance(struct lf_map *m, struct lf_rec *r)
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
			cmap__lf_retire(m, r, c);
		}
	}
}

/*
 * The capacity of t's successor, sized for the live entries (reason: t is
 * past its limits, or nearly empty, or a reserve asks for want_cap).
 */
static uint64_t
lf_next_cap(struct lf_map *m, struct lf_table *t, uint64_t want_cap)
{
	uint64_t live = cmap__lf_len_of(m);
	uint64_t minc = lf_load_rlx_64(&m->min_cap);
	uint64_t nc = t->cap;

	if (lf_load_rlx_64(&t->reach)) {
		/* Out of probe reach: a rehash at the same size would meet
		 * the same clusters, so at least double.  (Out of room, with
		 * live entries that fit, is the live rule's case below: a
		 * table filled by tombstones keeps its size.) */
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
	return nc;
}

/* Too many retired bytes wait for their grace period (LF_PENDING_CAP):
 * no new table for t now. */
static bool
lf_too_pending(struct lf_map *m, struct lf_table *t)
{
	return lf_load_rlx_64(&m->pending_bytes) > LF_PENDING_CAP(t);
}

/* LF_MIG_OK if t has a successor by now, else what failed. */
static int
lf_mig_fail(struct lf_table *t, int why)
{
	return lf_load_acq_ptr((void **)&t->next) != NULL ? LF_MIG_OK : why;
}

/*
 * Publish n, whose contents are initialised, as t's successor: the CAS of
 * t->next (its release half pairs with the acquire loads of next by every
 * probe, so whoever finds n there reads its header and cleared slots).
 * False when t had a successor already (n was then never published).
 */
static bool
lf_publish(struct lf_map *m, struct lf_table *t, struct lf_table *n)
{
	void *exp = NULL;

	if (!lf_cas_ptr((void **)&t->next, &exp, n))
		return false;
	if (n->cap > t->cap)
		lf_faa_64(&m->grows, 1);
	else if (n->cap < t->cap)
		lf_faa_64(&m->shrinks, 1);
	cmap__metrics_resize();
	return true;
}

/*
 * Give t a successor of at least want_cap slots now: allocated, cleared
 * in this call (O(its size) when its block does not come zeroed) and
 * published.  For cmap_reserve, and for a writer that needs room in a
 * full t whose successor in preparation is still not finished after
 * lf_late's wait (PREPARATION).
 */
static int
lf_migrate_now(struct lf_map *m, struct lf_table *t, uint64_t want_cap)
{
	struct lf_table *n;

	if (lf_too_pending(m, t))
		return lf_mig_fail(t, LF_MIG_DEFERRED);
	n = cmap__lf_table_new(m, lf_next_cap(m, t, want_cap), 0);
	if (n == NULL)
		return lf_mig_fail(t, LF_MIG_NOMEM);
	if (!lf_publish(m, t, n))
		lf_table_free(m, n); /* never published, never seen */
	return LF_MIG_OK;
}

/*
 * PREPARATION
 *
 * A successor is cleared before it is published, in steps of
 * LF_PREP_STEP bytes, by the writers that meet t meanwhile (a block that
 * came zeroed, fresh pages from the kernel, only has a byte per page
 * written, so that no page of it is first read: cmap__clear_step); t keeps
 * taking new keys until then (it has room up to its hard limit, 15/16,
 * from its soft limit, 3/4, where the successor is allocated).  Clearing
 * it in the one call that allocates it took 398 ms for the 192 MiB table
 * of growth to 10M keys.
 *
 * One writer allocates it (the CAS of claim_new from 0; reset when the
 * allocation fails, so a later writer retries), sets prep_steps and
 * publishes the table as t->prep (release; the acquire load of t->prep
 * pairs with it: prep_steps and n's header are set for whoever reads
 * it).  Each writer that then asks t for a successor (a new key past the
 * soft limit, which lf_write_new sends here; t->over is set so that
 * store's fast path sends them all; a delete, lf_shrink_check) claims
 * steps by fetch-and-add on prep_claim and clears them: as many as
 * ceil(left / (room + 1)), where left is the steps not yet claimed and
 * room the inserts t takes before its hard limit, so that every step is
 * claimed before t fills (the ratio never falls as room shrinks).
 * Growth from soft claims one step per insert: a doubling's 2C slots are
 * C/256 steps, against 3C/16 inserts of room.  The writer whose
 * fetch-and-add on prep_done completes the last step (seq_cst: its
 * acquire side pairs with the release side of every earlier step's, so
 * it sees every step's stores) publishes n as next; so does anyone who
 * then reads prep_done complete (acquire, same pairing), since the last
 * stepper may be slow to.
 *
 * Late: a writer that needs room in a full t (hard limit, or a probe out
 * of reach) while n is not published claims and clears every remaining
 * step itself; if a step claimed by another thread is still not done (or
 * n is still being allocated), it yields a bounded number of times for
 * that thread to finish (lf_late), then allocates and clears a successor
 * of its own (lf_migrate_now, O(the table) as before PREPARATION), and n
 * is abandoned, as it is when a clear or a reserve sets next first.  An
 * abandoned n may still be written by a stepper that read t->prep, which
 * t's grace period covers, so it is freed with t (lf_prep_unpublished).
 * Both late cases need inserts to outrun the steps (a stepper preempted
 * for 3/16 of t's inserts, or a successor whose allocation waited for a
 * grace period, "No third table while one waits").
 */

/* Steps a writer that takes a slot of t claims now (at least one). */
static uint64_t
lf_prep_quota(struct lf_table *t)
{
	uint64_t steps = lf_load_rlx_64(&t->prep_steps);
	uint64_t claimed = lf_load_rlx_64(&t->prep_claim);
	uint64_t used, room, left;

	if (claimed >= steps)
		return 0;
	left = steps - claimed;
	used = lf_table_used(t);
	room = used < t->hard ? t->hard - used : 0;
	return left / (room + 1) + (left % (room + 1) != 0);
}

/*
 * Claim and clear up to k steps of n, t's successor in preparation, then
 * publish n if every step is done.  True when t has a successor
 * afterwards.
 */
static bool
lf_prep_steps(
    struct lf_map *m, struct lf_table *t, struct lf_table *n, uint64_t k)
{
	const uint64_t steps = lf_load_rlx_64(&t->prep_steps);

	/* The relaxed pre-check keeps the claim counter's line shared once
	 * every step is handed out. */
	for (; k > 0 && lf_load_rlx_64(&t->prep_claim) < steps; k--) {
		uint64_t c = lf_faa_64(&t->prep_claim, 1);

		if (c >= steps)
			break;
		cmap__lf_table_clear_step(n, c);
		/* seq_cst: releases this step's stores; the last one
		 * acquires every earlier step's (PREPARATION). */
		if (lf_faa_64(&t->prep_done, 1) + 1 == steps)
			(void)lf_publish(m, t, n);
	}
	/* Acquire: pairs with the steps' fetch-and-adds, as above. */
	if (lf_load_acq_64(&t->prep_done) == steps)
		(void)lf_publish(m, t, n);
	return lf_load_acq_ptr((void **)&t->next) != NULL;
}

/*
 * A writer needs room in t, which is full, and t's successor is not
 * published: another thread is allocating it, or clearing a step it
 * claimed, and may be descheduled (threads outnumber cores).  Making a
 * successor of its own costs this writer O(the table) (lf_migrate_now),
 * and every late writer did so: growing to 1M keys with 16 threads on 2
 * cores, 25 of 27 such tables were cleared and thrown away.  So first
 * give the processor away, at most LF_LATE_YIELDS times (a step is 8 KiB,
 * microseconds of work for its thread once it runs), taking any steps
 * that become free, until t has a successor.  Bounded: the wait never
 * depends on another thread beyond that, and the writer then goes on
 * alone.  t->prep is set once, and a reserve (want_cap) comes here only
 * when it is large enough (cmap__lf_start_migration).
 */
static int
lf_late(struct lf_map *m, struct lf_table *t, uint64_t want_cap)
{
	for (unsigned i = 0; i < LF_LATE_YIELDS; i++) {
		struct lf_table *n;

		if (lf_load_acq_ptr((void **)&t->next) != NULL)
			return LF_MIG_OK;
		/* Acquire: pairs with the release store in lf_prep_begin. */
		n = lf_load_acq_ptr((void **)&t->prep);
		if (n != NULL && lf_prep_steps(m, t, n, UINT64_MAX))
			return LF_MIG_OK;
		sched_yield();
	}
	return lf_migrate_now(m, t, want_cap);
}

/*
 * lf_prep_steps, then, when t still has no successor: LF_MIG_ROOM, or
 * when late (t is full) lf_late's successor (want_cap slots at least).
 * LF_MIG_OK when t has a successor.
 */
static int
lf_prep_work(struct lf_map *m, struct lf_table *t, struct lf_table *n,
    uint64_t k, bool late, uint64_t want_cap)
{
	if (lf_prep_steps(m, t, n, k))
		return LF_MIG_OK;
	return late ? lf_late(m, t, want_cap) : LF_MIG_ROOM;
}

/*
 * The writer that won t->claim_new: allocate t's successor, publish it as
 * t->prep (PREPARATION) and take the first steps.  late: t is full.
 */
static int
lf_prep_begin(struct lf_map *m, struct lf_table *t, bool late)
{
	bool deferred = lf_too_pending(m, t);
	struct lf_table *n = NULL;
	uint64_t steps = 0;

	if (!deferred)
		n = cmap__lf_table_alloc(m, lf_next_cap(m, t, 0), &steps);
	if (n == NULL) {
		/* Reopen the claim for a later writer (relaxed: it orders
		 * nothing; the next claimer's CAS reads it). */
		lf_store_rlx_64(&t->claim_new, 0);
		return lf_mig_fail(
		    t, deferred ? LF_MIG_DEFERRED : LF_MIG_NOMEM);
	}
	lf_store_rlx_64(&t->prep_steps, steps);
	/* Release: prep_steps and n's header before n is seen here. */
	lf_store_rel_ptr((void **)&t->prep, n);
	/* New keys leave store's fast path (a shrink's t is below soft). */
	lf_store_rlx_64(&t->over, 1);
	return lf_prep_work(
	    m, t, n, late ? UINT64_MAX : lf_prep_quota(t), late, 0);
}

/*
 * Give t a successor sized for the live entries (reason: t is past its
 * limits, or nearly empty, or a reserve asks for want_cap), or work
 * towards it (PREPARATION).  Returns LF_MIG_OK when t has a successor
 * afterwards (ours or a racing thread's), LF_MIG_NOMEM when it could not
 * be allocated, LF_MIG_DEFERRED when too many retired tables wait to be
 * freed, LF_MIG_ROOM when t is not full and keeps taking new keys: its
 * successor is being prepared or allocated, or a retired table waits.
 * NOMEM and DEFERRED come only when t is full or want_cap is set.
 */
CMAP_HIDDEN int
cmap__lf_start_migration(
    struct lf_map *m, struct lf_table *t, uint64_t want_cap)
{
	struct lf_table *n;
	uint64_t zero = 0;
	bool late;

	if (lf_load_acq_ptr((void **)&t->next) != NULL)
		return LF_MIG_OK;
	late = lf_load_rlx_64(&t->full) != 0;
	/* Acquire: pairs with the release store in lf_prep_begin. */
	n = lf_load_acq_ptr((void **)&t->prep);
	if (want_cap != 0) {
		/* A reserve finishes a successor in preparation that is
		 * large enough, else makes its own. */
		if (n != NULL && n->cap >= want_cap)
			return lf_prep_work(
			    m, t, n, UINT64_MAX, true, want_cap);
		return lf_migrate_now(m, t, want_cap);
	}
	if (n != NULL)
		return lf_prep_work(
		    m, t, n, late ? UINT64_MAX : lf_prep_quota(t), late, 0);
	/* A retired table still waits for its grace period (a reader was
	 * descheduled in a read section): while t has room (below hard),
	 * keep filling it rather than allocate a third table beside t and
	 * that one.  This is what keeps the map within 2x of its filled size
	 * under churn (and growth within 1.5x of the final size) when
	 * threads outnumber cores; a table that is full migrates anyway. */
	if (!late && lf_load_rlx_64(&m->pending_bytes) != 0)
		return LF_MIG_ROOM;
	/* One writer allocates (seq_cst CAS; claim_new is only ever compared
	 * with itself); the others keep filling t meanwhile, or, when t is
	 * full, wait for it a bounded while (lf_late). */
	if (lf_cas_64(&t->claim_new, &zero, 1))
		return lf_prep_begin(m, t, late);
	return late ? lf_late(m, t, 0) : LF_MIG_ROOM;
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
		cmap__lf_advance(m, r);
}

CMAP_HIDDEN cmap_status_t
cmap__lf_migrate_chunk(
    struct lf_map *m, struct lf_rec *r, struct lf_table *t, uint64_t c)
{
	struct lf_table *n = lf_load_acq_ptr((void **)&t->next);
	uint64_t end = (c + 1) * LF_CHUNK;
	uint64_t t0 = cmap__metrics_begin(); /* migration time */

	if (end > t->cap)
		end = t->cap;
	for (uint64_t s = c * LF_CHUNK; s < end; s++) {
		cmap_status_t st = lf_freeze_slot(m, r, t, n, s);

		if (st != CMAP_OK) {
			cmap__metrics_work_end(t0);
			return st;
		}
	}
	lf_chunk_done(m, r, t, c);
	cmap__metrics_work_end(t0);
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
			(void)cmap__lf_migrate_chunk(m, r, t, c);
			return;
		}
	}
	if (lf_load_acq_64(&t->ndone) >= t->nchunks) {
		cmap__lf_advance(m, r);
		return;
	}
	for (c = 0; c < t->nchunks; c++) {
		if (lf_load_acq_64(&t->chunk_done[c]) == 0) {
			(void)cmap__lf_migrate_chunk(m, r, t, c);
			return;
		}
	}
	cmap__lf_advance(m, r);
}

/*
 * Finish every migration in progress, redoing chunks others hold if need
 * be (nobody is waited for).  Returns CMAP_OK when map->cur has no
 * successor at some moment during the call, CMAP_ENOMEM when a copy could
 * not find room because a table could not be allocated.
 */
CMAP_HIDDEN cmap_status_t
cmap__lf_help_all(struct lf_map *m, struct lf_rec *r)
{
	for (;;) {
		struct lf_table *t = lf_load_acq_ptr((void **)&m->cur);

		if (lf_load_acq_ptr((void **)&t->next) == NULL)
			return CMAP_OK;
		for (uint64_t c = 0; c < t->nchunks; c++) {
			if (lf_load_acq_64(&t->chunk_done[c]) != 0)
				continue;
			cmap_status_t st = cmap__lf_migrate_chunk(m, r, t, c);

			if (st != CMAP_OK)
				return st;
		}
		cmap__lf_advance(m, r);
	}
}

/* ---------------------------------------------------------------------
 * The probe of a write or a copy
 * ------------------------------------------------------------------- */
/*
 * Where a write or a copy of one key is in the chain, and what it found
 * there.  n caches t->next: NULL until a read of it has seen a successor
 * (each place that asks "is t migrating?" reads it again while NULL).
 */
struct lf_probe {
	struct lf_map *m;
	struct lf_rec *r;   /* the caller's record, or NULL */
	uint64_t h, tag;    /* the key's hash, and h << 3 */
	struct lf_table *t; /* the table probed */
	struct lf_table *n; /* t->next as last read */
	uint64_t s, d;      /* the slot, and its distance from home */
	struct lf_pair cur; /* slot s as read, or as a failed CAS found it */
	cmap_status_t st;   /* the result, once LF_DONE */
};

/* What a probe does after looking at slot s. */
enum lf_step {
	LF_DONE, /* return p->st */
	LF_LOOK, /* look at p->cur: a CAS found it, or it is the next slot */
	LF_NEXT  /* go on in t->next */
};

/* What slot s holds, for the key probed. */
enum lf_at {
	LF_AT_KEY,    /* the key's slot, LIVE or TOMB */
	LF_AT_MOVED,  /* the key's slot, FROZEN or GONE */
	LF_AT_EMPTY,  /* EMPTY: the end of the key's probe */
	LF_AT_SEALED, /* SEALED: the end of the probe, frozen */
	LF_AT_OTHER   /* another key's slot: probe on */
};

/* Start at the home slot of the key in t. */
static inline void
lf_probe_enter(struct lf_probe *p, struct lf_table *t)
{
	p->t = t;
	p->s = lf_home(p->h, t->cap);
	p->d = 0;
	p->n = lf_load_acq_ptr((void **)&t->next);
}

static inline void
lf_probe_read(struct lf_probe *p)
{
	p->cur.w = lf_load_acq_64(&p->t->slots[p->s].w);
	p->cur.v = lf_load_rlx_64(&p->t->slots[p->s].v);
}

static inline enum lf_at
lf_probe_at(const struct lf_probe *p)
{
	if (LF_KEYED(p->cur.w, p->tag))
		return LF_ST(p->cur.w) >= LF_FROZEN ? LF_AT_MOVED : LF_AT_KEY;
	if (p->cur.w == LF_EMPTY)
		return LF_AT_EMPTY;
	if (p->cur.w == LF_SEALED)
		return LF_AT_SEALED;
	return LF_AT_OTHER;
}

/* On to the next slot; false when that would be out of reach. */
static inline bool
lf_probe_on(struct lf_probe *p)
{
	if (++p->d > p->t->dmax)
		return false;
	p->s = p->s + 1 == p->t->cap ? 0 : p->s + 1;
	lf_probe_read(p);
	return true;
}

/* Has t a successor?  (Read again while none was seen.) */
static inline bool
lf_migrating(struct lf_probe *p)
{
	if (p->n == NULL)
		p->n = lf_load_acq_ptr((void **)&p->t->next);
	return p->n != NULL;
}

static inline enum lf_step
lf_end(struct lf_probe *p, cmap_status_t st)
{
	p->st = st;
	return LF_DONE;
}

/* The end of write q: its status, and its result value into q->out. */
static inline enum lf_step
lf_reply(struct lf_probe *p, struct cmap_req *q, cmap_status_t st, uint64_t out)
{
	q->out = out;
	return lf_end(p, st);
}

/*
 * The EMPTY slot that ends the key's probe in a migrating table: seal it
 * so that nobody inserts the key into t any more, then go on in next.  If
 * the slot was taken meanwhile, look at it again: it may be this key's,
 * or the probe goes on past it.
 */
static inline enum lf_step
lf_seal_end(struct lf_probe *p)
{
	struct lf_pair nw = {LF_SEALED, p->cur.v};

	return lf_cas_pair(&p->t->slots[p->s], &p->cur, nw) ? LF_NEXT : LF_LOOK;
}

/* Put the key, with value v, into the EMPTY slot s of a table not
 * migrating; false when the slot was taken meanwhile. */
static inline bool
lf_insert(struct lf_probe *p, uint64_t v)
{
	struct lf_pair nw = {p->tag | LF_LIVE, v};

	if (!lf_cas_pair(&p->t->slots[p->s], &p->cur, nw))
		return false;
	lf_used_add(p->r, p->t);
	return true;
}

/* No room for the key within reach in t, which has no successor: mark t
 * full and start one.  False when none could be had. */
static inline bool
lf_overflow(struct lf_probe *p)
{
	lf_store_rlx_64(&p->t->reach, 1);
	lf_store_rlx_64(&p->t->full, 1);
	return cmap__lf_start_migration(p->m, p->t, 0) == LF_MIG_OK;
}

/* ---------------------------------------------------------------------
 * Copy: the insert of a frozen entry into the newer tables
 * ------------------------------------------------------------------- */
/*
 * The copy went through a table that is migrating into a clear's target
 * (t, the table reached, is that target): the entry is removed by that
 * clear, but no LIVE -> FROZEN freeze toward the drop table counted it out
 * of len (it was sealed out of the middle table).  Count it out exactly
 * once: the copier whose CAS turns its FROZEN source slot into GONE does.
 * GONE reads as "no fallback", which is what readers conclude anyway on
 * reaching t.
 */
static cmap_status_t
lf_copy_dropped(struct lf_probe *p, uint64_t v, struct lf_pair *src)
{
	struct lf_pair fz = {p->tag | LF_FROZEN, v};
	struct lf_pair gone = {p->tag | LF_GONE, v};

	if (lf_cas_pair(src, &fz, gone))
		lf_len_add(p->m, p->r, -1);
	return CMAP_OK;
}

/* Out of reach in t: go on in next, making one if t has none. */
static inline enum lf_step
lf_copy_out_of_reach(struct lf_probe *p)
{
	p->n = lf_load_acq_ptr((void **)&p->t->next);
	if (p->n == NULL && !lf_overflow(p))
		return lf_end(p, CMAP_ENOMEM);
	return LF_NEXT;
}

/* One look at slot s for the copy of the key with value v. */
static inline enum lf_step
lf_copy_at(struct lf_probe *p, uint64_t v)
{
	switch (lf_probe_at(p)) {
	case LF_AT_KEY:
	case LF_AT_MOVED:
		/* Seen here, in any state: t holds newer news of the key. */
		return lf_end(p, CMAP_OK);
	case LF_AT_SEALED:
		return LF_NEXT;
	case LF_AT_EMPTY:
		if (lf_migrating(p))
			return lf_seal_end(p);
		return lf_insert(p, v) ? lf_end(p, CMAP_OK) : LF_LOOK;
	default:
		return lf_probe_on(p) ? LF_LOOK : lf_copy_out_of_reach(p);
	}
}

/*
 * Copy the entry (h, v), frozen at src in an older table, into t or the
 * tables after it: insert it only where h was never seen ("copy if
 * absent").  Never counts in len, never helps; CMAP_ENOMEM when it finds
 * no room and no successor can be had (the entry stays frozen, and
 * readable, at src).
 */
static cmap_status_t
lf_copy(struct lf_map *m, struct lf_rec *r, struct lf_table *t, uint64_t h,
    uint64_t v, struct lf_pair *src)
{
	struct lf_probe p = {.m = m, .r = r, .h = h, .tag = h << 3};

	for (;; t = lf_load_acq_ptr((void **)&t->next)) {
		enum lf_step k;

		if (t->drop)
			return lf_copy_dropped(&p, v, src);
		lf_probe_enter(&p, t);
		lf_probe_read(&p);
		while ((k = lf_copy_at(&p, v)) == LF_LOOK)
			;
		if (k == LF_DONE)
			return p.st;
	}
}

/* ---------------------------------------------------------------------
 * Write: one function per situation of the slot looked at
 * ------------------------------------------------------------------- */
/* A delete of ours: one step of a successor in preparation, else every
 * LF_SHRINK_EVERY of a thread, shrink a table that is nearly empty
 * (live < cap / 8). */
static inline void
lf_shrink_check(struct lf_probe *p)
{
	struct lf_rec *r = p->r;
	struct lf_table *t = p->t;

	/* A successor in preparation (a shrink's): a step per delete.
	 * Acquire: pairs with the release store in lf_prep_begin. */
	if (lf_load_acq_ptr((void **)&t->prep) != NULL) {
		(void)cmap__lf_start_migration(p->m, t, 0);
		return;
	}
	if (r != NULL && (++r->dels % LF_SHRINK_EVERY) == 0 &&
	    t->cap / 2 >= lf_load_rlx_64(&p->m->min_cap) &&
	    cmap__lf_len_of(p->m) * 8 < t->cap)
		(void)cmap__lf_start_migration(p->m, t, 0);
}

/*
 * The key's slot, LIVE or TOMB, in a table not migrating: decide what q
 * does to the key there (present when LIVE) and CAS the pair from exactly
 * what was read to the result; a result that changes nothing is returned
 * without a write.
 */
static inline enum lf_step
lf_write_key(struct lf_probe *p, struct cmap_req *q)
{
	bool present = LF_ST(p->cur.w) == LF_LIVE;
	struct lf_pair nw = p->cur;
	struct cmap_effect e;
	cmap_status_t res = cmap__decide(q, present, p->cur.v, &e);

	if (e.act == CMAP_ACT_NONE)
		return lf_reply(p, q, res, e.out);
	if (e.act == CMAP_ACT_SET)
		nw.w = p->tag | LF_LIVE, nw.v = e.value;
	else
		nw.w = p->tag | LF_TOMB;
	if (!lf_cas_pair(&p->t->slots[p->s], &p->cur, nw))
		return LF_LOOK; /* p->cur holds the new contents */
	if (!present)
		lf_len_add(p->m, p->r, 1);
	else if (e.act == CMAP_ACT_DELETE) {
		lf_len_add(p->m, p->r, -1);
		lf_shrink_check(p);
	}
	return lf_reply(p, q, res, e.out);
}

/*
 * The EMPTY end of the key's probe in a table not migrating: the key is
 * absent.  A request that inserts puts it here, unless t is past its soft
 * limit: then a new key goes to a successor (the slot is looked at again,
 * and sealed).  If none can be allocated, fail without a change; if only
 * reclamation lags, fill t up to hard.
 */
static inline enum lf_step
lf_write_new(struct lf_probe *p, struct cmap_req *q)
{
	struct lf_table *t = p->t;
	struct cmap_effect e;
	cmap_status_t res = cmap__decide(q, false, 0, &e);

	if (e.act != CMAP_ACT_SET)
		return lf_reply(p, q, res, e.out);
	if (lf_load_rlx_64(&t->over) || lf_load_rlx_64(&t->full)) {
		int mg = cmap__lf_start_migration(p->m, t, 0);

		if (lf_load_acq_ptr((void **)&t->next) != NULL)
			return LF_LOOK; /* seal it */
		/* ROOM: t had room when asked; if a racing insert has filled
		 * it since, lf_insert fails and the next look asks again. */
		if (mg == LF_MIG_NOMEM || mg == LF_MIG_DEFERRED)
			return lf_end(p, CMAP_ENOMEM);
	}
	if (!lf_insert(p, e.value))
		return LF_LOOK;
	lf_len_add(p->m, p->r, 1);
	return lf_reply(p, q, res, e.out);
}

/* The key's slot, LIVE or TOMB, in a migrating table: freeze it (a live
 * entry is copied on), then go on in next. */
static inline enum lf_step
lf_freeze_own(struct lf_probe *p)
{
	p->st = lf_freeze_slot(p->m, p->r, p->t, p->n, p->s);
	return p->st != CMAP_OK ? LF_DONE : LF_NEXT;
}

/*
 * The key's slot, FROZEN or GONE: the key has moved on to next.  A FROZEN
 * entry is copied there first (its copy may not have landed yet), unless
 * next is a clear's target.
 */
static inline enum lf_step
lf_write_moved(struct lf_probe *p)
{
	p->n = lf_load_acq_ptr((void **)&p->t->next);
	if (LF_ST(p->cur.w) == LF_FROZEN && !p->n->drop) {
		p->st = lf_copy(
		    p->m, p->r, p->n, p->h, p->cur.v, &p->t->slots[p->s]);
		if (p->st != CMAP_OK)
			return LF_DONE;
	}
	return LF_NEXT;
}

/*
 * No room within reach: the key is not in t and never will be.  Without a
 * successor, a request that would not insert decides on the absent key;
 * one that would marks t full and starts a successor (CMAP_ENOMEM if it
 * cannot).
 */
static inline enum lf_step
lf_write_out_of_reach(struct lf_probe *p, struct cmap_req *q)
{
	struct cmap_effect e;
	cmap_status_t res;

	p->n = lf_load_acq_ptr((void **)&p->t->next);
	if (p->n != NULL)
		return LF_NEXT;
	res = cmap__decide(q, false, 0, &e);
	if (e.act != CMAP_ACT_SET)
		return lf_reply(p, q, res, e.out);
	return lf_overflow(p) ? LF_NEXT : lf_end(p, CMAP_ENOMEM);
}

/* One look at slot s for write q. */
static inline enum lf_step
lf_write_at(struct lf_probe *p, struct cmap_req *q)
{
	switch (lf_probe_at(p)) {
	case LF_AT_KEY:
		return lf_migrating(p) ? lf_freeze_own(p) : lf_write_key(p, q);
	case LF_AT_MOVED:
		return lf_write_moved(p);
	case LF_AT_EMPTY:
		return lf_migrating(p) ? lf_seal_end(p) : lf_write_new(p, q);
	case LF_AT_SEALED:
		return LF_NEXT;
	default:
		return lf_probe_on(p) ? LF_LOOK : lf_write_out_of_reach(p, q);
	}
}

/*
 * Write request q (any kind but a load) on the key of hash h, starting at
 * table t.  The first migrating table met gets one help step (a chunk) from
 * the writer before it looks at the key's slots there.
 */
CMAP_HIDDEN cmap_status_t
cmap__lf_write(struct lf_map *m, struct lf_rec *r, struct lf_table *t,
    uint64_t h, struct cmap_req *q)
{
	struct lf_probe p = {.m = m, .r = r, .h = h, .tag = h << 3};
	bool helped = false;

	for (;; t = lf_load_acq_ptr((void **)&t->next)) {
		enum lf_step k;

		lf_probe_enter(&p, t);
		if (p.n != NULL && !helped) {
			helped = true;
			lf_help_one(m, r, t);
		}
		lf_probe_read(&p);
		while ((k = lf_write_at(&p, q)) == LF_LOOK)
			;
		if (k == LF_DONE)
			return p.st;
	}
}

/*
 * A store in its common case, for lf_store: the key's LIVE or TOMB slot,
 * or the EMPTY end of its probe, in a table t without a successor, below
 * its soft limit.  Returns the status, or LF_GENERAL (any other case, or a
 * lost CAS; nothing was changed) for cmap__lf_write.  It decides what
 * lf_write_key and lf_write_new decide for a store, with t->next read once
 * before the probe: a successor published after that read cannot hide a
 * newer write, since a writer moves the key's slot of t (freezes or seals
 * it, by CAS) before it writes the key in the successor, and a CAS here on
 * a slot frozen since it was read fails; one frozen after the CAS is
 * copied with this value.
 */
CMAP_HIDDEN int
cmap__lf_store_fast(struct lf_map *m, struct lf_rec *r, struct lf_table *t,
    uint64_t h, uint64_t value)
{
	const uint64_t tag = h << 3;
	struct lf_pair nw = {tag | LF_LIVE, value}, cur;
	struct lf_pair *p;
	uint64_t s = lf_home(h, t->cap);
	unsigned st;

	if (lf_load_acq_ptr((void **)&t->next) != NULL)
		return LF_GENERAL;
	for (uint64_t d = 0;; d++) {
		p = &t->slots[s];
		cur.w = lf_load_acq_64(&p->w);
		if ((cur.w ^ tag) < 8u || cur.w == LF_EMPTY)
			break;
		if (cur.w == LF_SEALED || d == t->dmax)
			return LF_GENERAL;
		s = s + 1 == t->cap ? 0 : s + 1;
	}
	cur.v = lf_load_rlx_64(&p->v);
	st = LF_ST(cur.w);
	if (cur.w == LF_EMPTY) {
		if (lf_load_rlx_64(&t->over) || lf_load_rlx_64(&t->full) ||
		    !lf_cas_pair(p, &cur, nw))
			return LF_GENERAL;
		lf_used_add(r, t);
		lf_len_add(m, r, 1);
		return CMAP_INSERTED;
	}
	if (st != LF_LIVE && st != LF_TOMB)
		return LF_GENERAL;
	if (st == LF_LIVE && cur.v == value)
		return CMAP_OK; /* nothing to write (cmap__decide) */
	if (!lf_cas_pair(p, &cur, nw))
		return LF_GENERAL;
	if (st == LF_LIVE)
		return CMAP_OK;
	lf_len_add(m, r, 1);
	return CMAP_INSERTED;
}
