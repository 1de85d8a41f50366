/*
 * metrics.h - the metrics every map can keep (cmap.h, METRICS): what the
 * front end records around each call, and the hooks through which the
 * pieces under the backends add what only they see.
 *
 * A map created with CMAP_FLAG_METRICS has a struct cmap__metrics, which
 * its header points at (struct cmap, `metrics`; NULL when off, so an
 * operation on a map without metrics pays one predictable branch).  Each
 * thread that uses the map records into its own record (struct
 * cmap__mrec), found through a small thread-local cache keyed by the
 * metrics' id (unique in the process, never reused); only its owner
 * writes a record, with relaxed atomic loads and stores (no lock prefix,
 * no shared cache line), and a scrape sums the records with relaxed loads.
 * metrics.c says how records are found, handed back and reused.
 *
 * HOOKS.  While the front end runs a recorded call, the thread-local
 * cmap__mcur points at the calling thread's counters of that call's kind
 * (NULL otherwise: no map with metrics, or between calls), and these
 * inline hooks add to them, for any backend:
 *   cmap__metrics_resize()        a resize (or a migration) starts;
 *   cmap__metrics_begin() + ..._work_end(t0)   time spent moving entries
 *                                 for a resize (table.c, readmostly,
 *                                 lockfree's chunks);
 *   cmap__metrics_begin() + ..._wait_end(t0)   a lock acquisition that
 *                                 had to wait, and how long (lock.c).
 * Each costs one thread-local load when metrics are off; they sit on
 * paths that are already slow (a resize step, a contended lock).
 */
#ifndef CMAP_METRICS_H
#define CMAP_METRICS_H

#include "internal.h"

#include <stdatomic.h>
#include <stdint.h>
#include <time.h>

/* The counters of one thread for one kind of call (cmap_op_t); what
 * every call touches (countdown, res) in its first cache line. */
struct cmap__mop {
	_Alignas(
	    CMAP_CACHE_LINE) uint32_t countdown; /* owner only: calls
	                                            until the next sample */
	_Atomic uint64_t res[5]; /* ok, not_found, error, mismatch, inserted
	                            (index: cmap__metrics_res) */
	_Atomic uint64_t ops;    /* batch kinds only: calls */
	_Atomic uint64_t retries;
	_Atomic uint64_t lock_contended;
	_Atomic uint64_t lock_wait_ns;
	_Atomic uint64_t resizes;
	_Atomic uint64_t migrate_ns;
	_Atomic uint64_t samples;
	_Atomic uint64_t sample_ns;
	/* The histogram, allocated at the first sample (owner: release
	 * store; scraper: acquire load); CMAP_METRICS_BUCKETS counters. */
	_Atomic(_Atomic uint64_t *) hist;
};

/* A thread's metrics state: where the counters of the call in progress
 * go (NULL between calls), the record of the map it recorded into last
 * (keyed by that map's metrics id, struct cmap's metrics_id: the one
 * compare a recorded call makes to find its record), and a cache of its
 * records in the maps it used before (struct cmap__mrec), keyed by id
 * too.  One block, so that one thread-pointer offset reaches all. */
#define CMAP__MCACHE 8u
struct cmap__mrec;
struct cmap__mcache_ent {
	uint64_t id;
	struct cmap__mrec *rec;
};
struct cmap__mtls {
	struct cmap__mop *cur;
	uint64_t last_id; /* 0: none (ids start at 1) */
	struct cmap__mrec *last_rec;
	struct cmap__mcache_ent cache[CMAP__MCACHE];
};
/* initial-exec: one %fs-relative access, no __tls_get_addr call, in the
 * shared library too (its TLS block is small and it is not dlopen'ed
 * after start in practice; the lockfree and readmostly backends do the
 * same); not under TSan, as readmostly. */
#if defined(__GNUC__) && !defined(CMAP_TSAN)
#define CMAP__MTLS_MODEL __attribute__((tls_model("initial-exec")))
#else
#define CMAP__MTLS_MODEL
#endif
CMAP_HIDDEN extern _Thread_local struct cmap__mtls cmap__mtls CMAP__MTLS_MODEL;
#define cmap__mcur (cmap__mtls.cur)

/* Owner-only increment: a relaxed load and store, no atomic RMW. */
static inline void
cmap__mbump(_Atomic uint64_t *c, uint64_t n)
{
	atomic_store_explicit(c,
	    atomic_load_explicit(c, memory_order_relaxed) + n,
	    memory_order_relaxed);
}

static inline uint64_t
cmap__metrics_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* A start time when this thread records, else 0. */
static inline uint64_t
cmap__metrics_begin(void)
{
	return CMAP_UNLIKELY(cmap__mcur != NULL) ? cmap__metrics_now() : 0;
}

static inline void
cmap__metrics_resize(void)
{
	struct cmap__mop *o = cmap__mcur;

	if (CMAP_UNLIKELY(o != NULL))
		cmap__mbump(&o->resizes, 1);
}

static inline void
cmap__metrics_work_end(uint64_t t0)
{
	struct cmap__mop *o;

	if (CMAP_LIKELY(t0 == 0))
		return;
	o = cmap__mcur;
	if (o != NULL)
		cmap__mbump(&o->migrate_ns, cmap__metrics_now() - t0);
}

static inline void
cmap__metrics_wait_end(uint64_t t0)
{
	struct cmap__mop *o;

	if (CMAP_LIKELY(t0 == 0))
		return;
	o = cmap__mcur;
	if (o != NULL) {
		cmap__mbump(&o->lock_contended, 1);
		cmap__mbump(&o->lock_wait_ns, cmap__metrics_now() - t0);
	}
}

/* ---------------------------------------------------------------------
 * The front end's side (cmap.c).
 * ------------------------------------------------------------------- */

/* A thread's record in one map: its counters per kind of call.  Cache-
 * line aligned, so that two threads' records never share a line. */
struct cmap__mrec {
	_Alignas(CMAP_CACHE_LINE) struct cmap__mop op[CMAP_OP_COUNT_];
	_Atomic uint64_t owner;          /* thread id; 0: free for reuse */
	struct cmap__mrec *_Atomic next; /* the map's list; set before push */
	uint64_t rng;                    /* owner only: sampling intervals */
};

struct cmap__metrics {
	uint64_t id; /* unique in the process, never reused */
	cmap_allocator_t inner;
	uint32_t sample_every;
	struct cmap__mrec *_Atomic recs;
	_Atomic uint64_t nrecs;
	_Atomic uint64_t dropped;
	_Atomic int64_t bytes; /* through the counting allocator */
	struct cmap__link reg; /* in metrics.c's registry */
};

/*
 * cmap__metrics_new - the metrics of a map about to be created, sampling
 * 1 call in `sample_every`: allocated through *inner, which it keeps;
 * *wrapped receives the allocator the map must use instead (it counts the
 * bytes and calls *inner).  NULL when the allocation fails.
 * cmap__metrics_attach registers them for the thread-exit hand-back once
 * the map exists; cmap__metrics_free frees them, after the map struct.
 */
CMAP_HIDDEN struct cmap__metrics *cmap__metrics_new(
    const cmap_allocator_t *inner, uint32_t sample_every,
    cmap_allocator_t *wrapped);
CMAP_HIDDEN void cmap__metrics_attach(struct cmap__metrics *mx);
CMAP_HIDDEN void cmap__metrics_free(struct cmap__metrics *mx);

/* map.c: the allocator behind a possibly counting one: what
 * cmap__alloc_zeroes and cmap__discard look at. */
CMAP_HIDDEN const cmap_allocator_t *cmap__metrics_inner(
    const cmap_allocator_t *a);

/* This thread's record in mx, from the cache or the map's list, or
 * allocated; NULL when none can be.  It becomes the thread's last. */
CMAP_HIDDEN struct cmap__mrec *cmap__metrics_rec_slow(struct cmap__metrics *mx);

/* This thread's record in map (which has metrics): its last one when map
 * is the map it recorded into last, else through cmap__metrics_rec_slow. */
static inline struct cmap__mrec *
cmap__metrics_rec(const cmap_t *map)
{
	return CMAP_LIKELY(cmap__mtls.last_id == map->metrics_id)
	    ? cmap__mtls.last_rec
	    : cmap__metrics_rec_slow(map->metrics);
}

/*
 * One recorded call: cmap__metrics_enter before it (finds the record,
 * picks whether to time it, points cmap__mcur at its counters, saving
 * the value it had), then cmap__metrics_leave with its status (which
 * counts it and restores cmap__mcur).  A thread without a record counts
 * the call as dropped and runs it anyway.  The calls that run the
 * caller's code (range, update: it may call other maps) come this way.
 */
struct cmap__mcall {
	struct cmap__mop *op;   /* NULL: dropped */
	struct cmap__mop *prev; /* cmap__mcur before */
	uint64_t t0;            /* start time when sampled, else 0 */
	struct cmap__mrec *rec;
	struct cmap__metrics *mx;
};

static inline void
cmap__metrics_enter(cmap_t *map, cmap_op_t op, struct cmap__mcall *c)
{
	struct cmap__mrec *r = cmap__metrics_rec(map);
	struct cmap__mop *o;

	c->mx = map->metrics;
	c->rec = r;
	c->prev = cmap__mcur;
	c->t0 = 0;
	if (CMAP_UNLIKELY(r == NULL)) {
		c->op = NULL;
		atomic_fetch_add_explicit(
		    &c->mx->dropped, 1, memory_order_relaxed);
		return;
	}
	o = &r->op[op];
	c->op = o;
	cmap__mcur = o;
	if (CMAP_UNLIKELY(--o->countdown == 0))
		c->t0 = cmap__metrics_now();
}

/*
 * The common case, for the calls that run no caller's code (load, store
 * and the other single-key calls but update): this thread's counters of
 * kind op when map is the map it recorded into last and this call is not
 * to be timed (the countdown then moves on); NULL otherwise, and the
 * caller goes through cmap__metrics_enter and cmap__metrics_leave.  The
 * caller then sets cmap__mcur to them for the call, to NULL after it
 * (no save: such a call does not nest in another of this thread, but for
 * one from a range or update callback, and those put cmap__mcur back
 * when the callback returns), and counts the status
 * (cmap__metrics_count).
 */
static inline struct cmap__mop *
cmap__metrics_fast(const cmap_t *map, cmap_op_t op)
{
	struct cmap__mop *o;
	uint32_t left;

	if (CMAP_UNLIKELY(cmap__mtls.last_id != map->metrics_id))
		return NULL;
	o = &cmap__mtls.last_rec->op[op];
	left = o->countdown - 1;
	if (CMAP_UNLIKELY(left == 0))
		return NULL;
	o->countdown = left;
	return o;
}

/* The timed half of cmap__metrics_leave (out of line: 1 call in N). */
CMAP_HIDDEN void cmap__metrics_sampled(struct cmap__mcall *c);

/* The index of status st in cmap__mop.res: OK 0, NOT_FOUND 1, an error
 * 2, MISMATCH 3, INSERTED 4. */
static inline unsigned
cmap__metrics_res(cmap_status_t st)
{
	return (unsigned)st <= 4u ? (unsigned)st : 2u;
}

/* Count a call of status st in o (the error case apart, so that the
 * common one indexes by the status itself). */
static inline void
cmap__metrics_count(struct cmap__mop *o, cmap_status_t st)
{
	if (CMAP_UNLIKELY((unsigned)st > 4u))
		cmap__mbump(&o->res[2], 1);
	else
		cmap__mbump(&o->res[(unsigned)st], 1);
}

static inline void
cmap__metrics_leave(struct cmap__mcall *c, cmap_status_t st)
{
	struct cmap__mop *o = c->op;

	if (CMAP_UNLIKELY(o == NULL))
		return;
	cmap__mcur = c->prev;
	cmap__metrics_count(o, st);
	if (CMAP_UNLIKELY(c->t0 != 0))
		cmap__metrics_sampled(c);
}

/* A batch: one call (ops), n keys counted by their statuses. */
CMAP_HIDDEN void cmap__metrics_leave_batch(
    struct cmap__mcall *c, size_t n, const cmap_status_t *status);

/* The kinds of call: the `op` label's name, the results each can return
 * (bit i: index i of cmap__mop.res) and whether it is a batch. */
struct cmap__op_info {
	const char *name;
	unsigned results;
	bool batch;
};
CMAP_HIDDEN extern const struct cmap__op_info cmap__op_info[CMAP_OP_COUNT_];

/* The bodies of cmap_metrics_sized and cmap_metrics_op_sized, for a map
 * and arguments the front end has checked (op is checked here); also the
 * exposition's (metrics_expose.c) only way into the counters. */
CMAP_HIDDEN cmap_status_t cmap__metrics_get(
    cmap_t *map, cmap_metrics_t *out, size_t size);
CMAP_HIDDEN cmap_status_t cmap__metrics_op_get(
    cmap_t *map, cmap_op_t op, cmap_metrics_op_t *out, size_t size);

#endif /* CMAP_METRICS_H */
