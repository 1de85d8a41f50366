/*
 * lf_reclaim.c - the lockfree backend's memory reclamation and thread
 * records: retiring tables, freeing them after their grace period (or
 * keeping one for reuse), the orphans of records handed back, the records
 * themselves and the process-wide registry that hands them back when a
 * thread exits.  The read side (lf_pin, lf_unpin, lf_after_op) is inline
 * in lf.h.
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
 *
 * A thread that runs without a record (its record could not be allocated)
 * increments map->naked (seq_cst) around its work, and a table's free
 * callback defers again, to the orphan list, while that counter is
 * non-zero.  Orphans (also the pending frees of a record handed back) are
 * adopted by the next thread that polls.
 *
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
 * the lock of lf_reg, the registry of live maps (map.c), so a map is never
 * freed under a walk; no operation on a map ever takes it.  These few variables
 * are the backend's only process-wide state.
 *
 * len is the sum of the records' counters (each written only by its
 * owner; a record reused by a new thread keeps its count) and of one
 * shared counter for operations that ran without a record.
 */
#include "lf.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

/* ---------------------------------------------------------------------
 * Freeing retired tables
 * ------------------------------------------------------------------- */
/* Push t on a list of tables linked by orphan_next (map->orphans or
 * map->release).  Lists are only ever taken whole (exchange), so a push
 * by CAS has no ABA problem. */
static void
lf_list_push(struct lf_table **list, struct lf_table *t)
{
	void *head = lf_load_acq_ptr((void **)list);

	do {
		t->orphan_next = head;
	} while (!lf_cas_ptr((void **)list, &head, t));
}

static void
lf_orphan_push(struct lf_map *m, struct lf_table *t)
{
	lf_list_push(&m->orphans, t);
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
 * Free t, whose grace period is over.  A large table first gives its
 * pages back a step per operation (lf_release_step, cmap__release_step in
 * map.c: with any allocator), so that no one call pays for unmapping all
 * of it (the hooks' free of a touched 201 MiB table took about 18 ms).
 */
static void
lf_table_drop(struct lf_map *m, struct lf_table *t)
{
	if (t->bytes < CMAP_RELEASE_MIN) {
		lf_table_free(m, t);
		return;
	}
	t->released = CMAP_RELEASE_KEEP;
	lf_list_push(&m->release, t);
}

/*
 * One step: take the whole list (the exchange makes this thread its only
 * user until it pushes the tables back, so no two threads give back the
 * same pages), give back CMAP_RELEASE_STEP bytes of the first table, free it
 * once nothing is left but its header, and push the rest back.
 */
static void
lf_release_step(struct lf_map *m)
{
	struct lf_table *t = lf_xchg_ptr((void **)&m->release, NULL), *rest;

	if (t == NULL)
		return;
	rest = t->orphan_next;
	if (!cmap__release_step(t, t->bytes, &t->released))
		lf_list_push(&m->release, t);
	else
		lf_table_free(m, t);
	while (rest != NULL) {
		struct lf_table *n = rest->orphan_next;

		lf_list_push(&m->release, rest);
		rest = n;
	}
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
	/* A successor that was never published dies with t (lf.h). */
	if (lf_prep_unpublished(t) != NULL)
		lf_table_drop(m, lf_prep_unpublished(t));
	t->prep = NULL;
	/* Keep a table of the current one's size for the next migration:
	 * under churn, migrations that clean tombstones keep the size, and a
	 * fresh table would cost a page fault per 4 KiB. */
	if (lf_recycle(m, t))
		return;
	lf_table_drop(m, t);
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

CMAP_HIDDEN void
cmap__lf_after_op_work(struct lf_map *m, struct lf_rec *r)
{
	if (lf_load_acq_ptr((void **)&m->release) != NULL)
		lf_release_step(m);
	/* Not inside an outer read section (a range callback): a poll
	 * there could not free anything that section may still see, but
	 * ck_epoch_poll also rewrites the record's epoch. */
	if (r->er.active != 0)
		return;
	if (r->er.n_pending != 0 ||
	    lf_load_acq_ptr((void **)&m->orphans) != NULL) {
		/* Right after retiring (often nobody else is reading, and
		 * the table goes back at once), then every LF_POLL_EVERY
		 * operations. */
		if (r->poll_now || (++r->ops % LF_POLL_EVERY) == 0 ||
		    lf_load_rlx_64(&m->pending_bytes) > (UINT64_C(1) << 20)) {
			r->poll_now = 0;
			cmap__lf_poll(m, r);
		}
	}
}

/* Reclaim what can be; called outside read sections. */
CMAP_HIDDEN void
cmap__lf_poll(struct lf_map *m, struct lf_rec *r)
{
	lf_adopt_orphans(m, r);
	if (r->er.n_pending != 0)
		ck_epoch_poll(&r->er);
}

/*
 * Retire a table that map->cur no longer leads to (the CAS on cur is the
 * unlink).  The membarrier is what lets readers pin without a fence: after
 * it, every thread still reading t is visible as active to the scans that
 * the deferral waits for.
 */
CMAP_HIDDEN void
cmap__lf_retire(struct lf_map *m, struct lf_rec *r, struct lf_table *t)
{
	lf_faa_64(&m->pending_bytes, t->bytes);
#if !defined(CMAP_TSAN)
	if (m->memb)
		cmap__membarrier();
#endif
	if (r != NULL) {
		ck_epoch_call(&r->er, &t->entry, lf_table_free_cb);
		r->poll_now = 1;
	} else
		lf_orphan_push(m, t);
}

/* ---------------------------------------------------------------------
 * Thread records and the registry of live maps
 * ------------------------------------------------------------------- */
CMAP_HIDDEN _Thread_local struct lf_tls cmap__lf_tls LF_TLS_MODEL;
static struct cmap__registry lf_reg = CMAP__REGISTRY_INIT; /* live maps */
static uint64_t lf_next_map_id;                            /* atomic */
static uint64_t lf_next_tid;                               /* atomic */
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
	 * does not see; pairs with __tsan_acquire in cmap__lf_rec_slow. */
	__tsan_release(r);
#endif
	ck_epoch_unregister(&r->er);
}

/* Hand back the records of one live map that the exiting thread *arg
 * (its id) owns. */
static void
lf_hand_back(struct cmap__link *l, void *arg)
{
	struct lf_map *m = CMAP__CONTAINER(l, struct lf_map, reg);
	uint64_t tid = *(const uint64_t *)arg;

	for (struct lf_rec *r = lf_load_acq_ptr((void **)&m->recs); r != NULL;
	     r = r->next_all)
		if (lf_load_rlx_64(&r->owner) == tid)
			lf_rec_release(r);
}

/* The process-wide key's destructor: the thread `arg` (its id) exits. */
static void
lf_thread_exit(void *arg)
{
	uint64_t tid = (uint64_t)(uintptr_t)arg;

	cmap__registry_each(&lf_reg, lf_hand_back, &tid);
	/* A later destructor of this thread that uses a map starts afresh
	 * (and re-arms the key: its destructors run again). */
	memset(&cmap__lf_tls, 0, sizeof cmap__lf_tls);
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

	if (CMAP_LIKELY(cmap__lf_tls.tid != 0))
		return cmap__lf_tls.tid;
	(void)pthread_once(&lf_key_once, lf_key_init);
	tid = lf_faa_64(&lf_next_tid, 1) + 1;
	if (!lf_key_ok ||
	    pthread_setspecific(lf_exit_key, (void *)(uintptr_t)tid) != 0)
		return 0;
	cmap__lf_tls.tid = tid;
	return tid;
}

CMAP_HIDDEN void
cmap__lf_register_map(struct lf_map *m)
{
	m->id = lf_faa_64(&lf_next_map_id, 1) + 1;
#if defined(CMAP_TSAN)
	m->fast_id = m->id; /* lf_pin_fast_memb needs no membarrier there */
#else
	m->fast_id = m->memb ? m->id : LF_NO_FAST;
#endif
	cmap__registry_add(&lf_reg, &m->reg);
}

CMAP_HIDDEN void
cmap__lf_unregister_map(struct lf_map *m)
{
	cmap__registry_remove(&lf_reg, &m->reg);
}

CMAP_HIDDEN struct lf_rec *
cmap__lf_rec_slow(struct lf_map *m)
{
	struct lf_tls_ent *c = &cmap__lf_tls.cache[m->id & (LF_TLS_CACHE - 1)];
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

CMAP_HIDDEN uint64_t
cmap__lf_len_of(struct lf_map *m)
{
	int64_t sum = (int64_t)lf_load_rlx_64(&m->naked_live);
	struct lf_rec *r = lf_load_acq_ptr((void **)&m->recs);

	for (; r != NULL; r = r->next_all)
		sum += (int64_t)lf_load_rlx_64((uint64_t *)&r->live);
	return sum < 0 ? 0 : (uint64_t)sum;
}
