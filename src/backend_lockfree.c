/*
 * backend_lockfree.c - the lockfree backend: an open-addressing table of
 * 16-byte slots changed only by compare-and-swap, resized while in use by
 * cooperative chunked migration, with memory reclaimed through ck_epoch.
 *
 * This file is its ops table: the descriptor and the entry points, each a
 * read section around the pieces of the other files (lf.h lists them: slots
 * and lookups in lf_table.c, migration and writes in lf_migrate.c,
 * reclamation and thread records in lf_reclaim.c).  docs/lockfree.md is the
 * long form of their comments.
 *
 * Every operation finds its thread's record (lf_rec_get), enters a read
 * section of the map's epoch (lf_pin), starts at map->cur, leaves the
 * section (lf_unpin) and then polls for frees when it is time
 * (lf_after_op): no table it reached can be freed under it.
 */
#include "lf.h"
#include "metrics.h"

#include <stdbool.h>
#include <stdint.h>

/* ---------------------------------------------------------------------
 * The ops table
 * ------------------------------------------------------------------- */
static void lf_destroy(cmap_t *map);

/* Free t, and its successor in preparation if it was never published. */
static void
lf_free_with_prep(struct lf_map *m, struct lf_table *t)
{
	if (lf_prep_unpublished(t) != NULL)
		lf_table_free(m, lf_prep_unpublished(t));
	lf_table_free(m, t);
}

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
	cap =
	    args->capacity ? cmap__lf_cap_for(args->capacity) : LF_DEFAULT_CAP;
	m->min_cap = cap;
	ck_epoch_init(&m->epoch);
	t = cmap__lf_table_new(m, cap, 0);
	if (t == NULL) {
		cmap__map_free(&m->base);
		return CMAP_ENOMEM;
	}
	m->cur = t;
	m->cur_cap = t->cap;
	m->memb = cmap__membarrier_setup();
	cmap__lf_register_map(m);
	cmap__lf_spare_refill(m);
	/* The creating thread's record now, so that its first operations
	 * allocate nothing (a thread without one gets it on first use). */
	if (m->spare == NULL || cmap__lf_rec_slow(m) == NULL) {
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
	cmap__lf_unregister_map(m);
	/* Nothing runs on the map any more: every deferred free is safe. */
	for (r = m->recs; r != NULL; r = r->next_all)
		ck_epoch_reclaim(&r->er);
	for (t = m->orphans; t != NULL; t = tn) {
		tn = t->orphan_next;
		lf_free_with_prep(m, t);
	}
	for (t = m->release; t != NULL; t = tn) {
		tn = t->orphan_next;
		lf_table_free(m, t);
	}
	for (t = m->cur; t != NULL; t = tn) {
		tn = t->next;
		lf_free_with_prep(m, t);
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

/* A load in every case: any record (or none), any read section, any
 * table state. */
static __attribute__((noinline)) cmap_status_t
lf_load_slow(struct lf_map *m, uint64_t key, uint64_t *value)
{
	struct lf_rec *r = lf_rec_get(m);
	uint64_t h = cmap__hash(key, m->seed);
	struct lf_table *t;
	bool found;
	int fast;

	lf_pin(m, r);
	t = lf_load_acq_ptr((void **)&m->cur);
	fast = lf_find_fast(t, h, value);
	found = fast >= 0 ? fast : cmap__lf_find_slow(t, h, value);
	lf_unpin(m, r);
	lf_after_op(m, r);
	return found ? CMAP_OK : CMAP_NOT_FOUND;
}

static __attribute__((noinline)) cmap_status_t
lf_load_after(struct lf_map *m, struct lf_rec *r, int found)
{
	cmap__lf_after_op_work(m, r);
	return found ? CMAP_OK : CMAP_NOT_FOUND;
}

/* The end of a load pinned by lf_pin_fast in r whose probe returned
 * found (lf_find_fast's result): the unpin, then the general path when
 * the probe met a migration (found < 0), the reclamation work when due. */
static inline cmap_status_t
lf_load_end(struct lf_map *m, struct lf_rec *r, uint64_t key, uint64_t *value,
    int found)
{
	lf_unpin_fast(m, r);
	if (CMAP_UNLIKELY(found < 0))
		return lf_load_slow(m, key, value);
	if (CMAP_UNLIKELY(lf_after_op_due(m, r)))
		return lf_load_after(m, r, found);
	return found ? CMAP_OK : CMAP_NOT_FOUND;
}

/* The rest of lf_load when the key's home slot did not decide: the whole
 * probe of t, then lf_load_end. */
static __attribute__((noinline)) cmap_status_t
lf_load_probe(struct lf_map *m, struct lf_rec *r, const struct lf_table *t,
    uint64_t key, uint64_t h, uint64_t *value)
{
	return lf_load_end(m, r, key, value, lf_find_fast(t, h, value));
}

/*
 * A load in the common case (the thread's record cached, no read section
 * open, membarrier, the key LIVE in its home slot or that slot EMPTY,
 * nothing to reclaim) without a call and without saved registers: the
 * first slot is lf_find_fast's first step, and every other case leaves by
 * a tail call (lf_load_probe, which probes on from the home slot, or
 * lf_load_slow, which does the whole load again: a probe that met a
 * migration changed nothing).
 */
static cmap_status_t
lf_load(cmap_t *map, uint64_t key, uint64_t *value)
{
	struct lf_map *m = (struct lf_map *)map;
	const struct lf_tls_ent *c = lf_tls_ent(m);
	const struct lf_table *t;
	struct lf_rec *r;
	struct lf_pair *home;
	uint64_t h, w;
	int found;

	/* One compare: the record is cached and m->memb set (fast_id). */
	if (CMAP_UNLIKELY(c->map_id != m->fast_id))
		return lf_load_slow(m, key, value);
	r = c->rec;
	if (CMAP_UNLIKELY(!lf_pin_fast_memb(m, r)))
		return lf_load_slow(m, key, value);
	t = lf_load_acq_ptr((void **)&m->cur);
	h = cmap__hash(key, m->seed);
	home = &t->slots[lf_home(h, t->cap)];
	/* Acquire: as in lf_find_fast. */
	w = lf_load_acq_64(&home->w);
	if (CMAP_LIKELY(w == (h << 3 | LF_LIVE))) {
		*value = lf_load_rlx_64(&home->v);
		found = 1;
	} else if (w == LF_EMPTY) {
		found = 0;
	} else {
		return lf_load_probe(m, r, t, key, h, value);
	}
	return lf_load_end(m, r, key, value, found);
}

static cmap_status_t
lf_exec(cmap_t *map, struct cmap_req *q)
{
	struct lf_map *m = (struct lf_map *)map;
	struct lf_rec *r = lf_rec_get(m);
	uint64_t h = cmap__hash(q->key, m->seed);
	cmap_status_t st;

	lf_pin(m, r);
	st = cmap__lf_write(m, r, lf_load_acq_ptr((void **)&m->cur), h, q);
	lf_unpin(m, r);
	lf_after_op(m, r);
	return st;
}

/* A store: its common case (cmap__lf_store_fast), else the general
 * write, in the same read section. */
static cmap_status_t
lf_store(cmap_t *map, uint64_t key, uint64_t value)
{
	struct lf_map *m = (struct lf_map *)map;
	struct lf_rec *r = lf_rec_get(m);
	uint64_t h = cmap__hash(key, m->seed);
	int st;

	lf_pin(m, r);
	st = cmap__lf_store_fast(
	    m, r, lf_load_acq_ptr((void **)&m->cur), h, value);
	if (st == LF_GENERAL) {
		struct cmap_req q = {
		    .kind = CMAP_REQ_STORE, .key = key, .a = value};

		st = cmap__lf_write(
		    m, r, lf_load_acq_ptr((void **)&m->cur), h, &q);
	}
	lf_unpin(m, r);
	lf_after_op(m, r);
	return (cmap_status_t)st;
}

/*
 * A batch: per group of CMAP_BATCH_GROUP keys, one record lookup and one
 * read section; each key's home slot in the current table is prefetched
 * before the first probe of the group, so that the group's cache misses
 * overlap.  Each key is then one lookup or one cmap__lf_write, exactly as its
 * single-key call, so each stays linearizable on its own.
 */
static cmap_status_t
lf_batch(cmap_t *map, const struct cmap__batch *b, size_t n)
{
	struct lf_map *m = (struct lf_map *)map;
	uint64_t h[CMAP_BATCH_GROUP];

	for (size_t i = 0; i < n; i += CMAP_BATCH_GROUP) {
		size_t g = n - i < CMAP_BATCH_GROUP ? n - i : CMAP_BATCH_GROUP;
		struct lf_rec *r = lf_rec_get(m);
		struct lf_table *t;

		lf_pin(m, r);
		t = lf_load_acq_ptr((void **)&m->cur);
		for (size_t j = 0; j < g; j++) {
			h[j] = cmap__hash(b->keys[i + j], m->seed);
			__builtin_prefetch(&t->slots[lf_home(h[j], t->cap)]);
		}
		for (size_t j = 0; j < g; j++) {
			struct cmap_req q = {.key = b->keys[i + j]};
			cmap_status_t *st = &b->status[i + j];

			t = lf_load_acq_ptr((void **)&m->cur);
			switch (b->kind) {
			case CMAP__BATCH_LOAD: {
				uint64_t *out = &b->out[i + j];
				int fast = lf_find_fast(t, h[j], out);

				if (fast < 0)
					fast = cmap__lf_find_slow(t, h[j], out);
				*st = fast ? CMAP_OK : CMAP_NOT_FOUND;
				continue;
			}
			case CMAP__BATCH_STORE:
				q.kind = CMAP_REQ_STORE;
				q.a = b->in[i + j];
				break;
			case CMAP__BATCH_DELETE:
				q.kind = CMAP_REQ_DELETE;
				break;
			}
			*st = cmap__lf_write(m, r, t, h[j], &q);
		}
		lf_unpin(m, r);
		lf_after_op(m, r);
	}
	return cmap__batch_result(n, b->status);
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
	(void)cmap__lf_help_all(m, r);
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
				seen = cmap__lf_has_slot(e, h);
			if (seen || !cmap__lf_slot_value(t, s, w, h, &v))
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
	return (size_t)cmap__lf_len_of((struct lf_map *)(uintptr_t)map);
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

	d = cmap__lf_table_new(m, lf_load_rlx_64(&m->min_cap), 1);
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
	if (d->cap < t->cap) {
		lf_faa_64(&m->shrinks, 1);
		cmap__metrics_resize();
	}
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
				(void)cmap__lf_migrate_chunk(m, r, u, c);
		cmap__lf_advance(m, r);
	}
	cmap__lf_advance(m, r);
	lf_unpin(m, r);
	if (lf_load_acq_ptr((void **)&m->spare) == NULL)
		cmap__lf_spare_refill(m);
	lf_after_op(m, r);
	return CMAP_OK;
}

static cmap_status_t
lf_reserve(cmap_t *map, size_t entries)
{
	struct lf_map *m = (struct lf_map *)map;
	struct lf_rec *r = lf_rec_get(m);
	uint64_t want = cmap__lf_cap_for(entries);
	cmap_status_t st = CMAP_OK;

	if (want == UINT64_MAX)
		return CMAP_ENOMEM;
	lf_pin(m, r);
	for (;;) {
		struct lf_table *t;

		st = cmap__lf_help_all(m, r);
		if (st != CMAP_OK)
			break;
		t = lf_load_acq_ptr((void **)&m->cur);
		/* Enough room, even in a table smaller than want (the spare
		 * drop table after a clear). */
		if (t->cap >= want || entries + entries / 3 + 1 <= t->cap)
			break;
		if (lf_load_acq_ptr((void **)&t->next) != NULL)
			continue;
		if (cmap__lf_start_migration(m, t, want) != LF_MIG_OK) {
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
	out->len = cmap__lf_len_of(m);
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
    .version = CMAP__BACKEND_V2,
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
    .batch = lf_batch,
};
