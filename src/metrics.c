/*
 * metrics.c - per-thread metrics records and their snapshot (cmap.h,
 * METRICS); the Prometheus text is metrics_expose.c's.
 *
 * RECORDS.  A thread's record in a map is the one it used last when the
 * map is the one it recorded into last (one thread-local word holds that
 * map's metrics id, compared with the map header's copy), else found
 * through a direct-mapped cache of CMAP__MCACHE entries in thread-local
 * storage, keyed by the id too (a process-wide counter: never reused, so
 * an entry left by a destroyed map, or one whose memory a new map got,
 * never matches).  On a miss the thread walks the map's list of records:
 * one it owns (the cache lost it), else one whose owner exited (claimed
 * by a CAS of its owner word from 0), else a new one, allocated through
 * the map's allocator and pushed on the list by CAS; records are freed
 * only with the map.  The list thus holds at most as many records as
 * threads used the map at once, whatever number of threads come and go.
 * A reused record keeps its counts: a map's figures are the sums over its
 * records.
 *
 * THREAD EXIT.  A thread's first record arms one process-wide pthread
 * key; its destructor walks the registry of live maps with metrics and
 * hands back (owner word 0, release) every record the thread owns.  The
 * walk, cmap__metrics_attach and cmap__metrics_free hold the registry's
 * mutex, so a map's records are never freed under a walk; no operation
 * takes it.  The registry, the two id counters and the key are this
 * file's process-wide state (docs/design.md, "Allocation and global
 * state").  A thread for which the key cannot be armed runs unrecorded
 * (its calls count as dropped).
 *
 * ORDERING.  Counters are written by their owner only, with relaxed loads
 * and stores (cmap__mbump), and read by snapshots with relaxed loads: a
 * snapshot is a sum of counters each read at some moment.  A record
 * changes owner through a release store (the exiting thread) and an
 * acquire CAS (the next owner), so the owner-only fields (countdown, rng)
 * pass between them ordered.  A histogram is published with a release
 * store of its pointer after it was zeroed; readers load it with acquire.
 */
#include "metrics.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

CMAP_HIDDEN _Thread_local struct cmap__mtls cmap__mtls CMAP__MTLS_MODEL;
static _Thread_local uint64_t m_tid CMAP__MTLS_MODEL;

static struct cmap__registry m_reg = CMAP__REGISTRY_INIT;
static _Atomic uint64_t m_next_id;
static _Atomic uint64_t m_next_tid;
static pthread_once_t m_key_once = PTHREAD_ONCE_INIT;
static pthread_key_t m_exit_key;
static int m_key_ok;

#define HIST_BYTES (CMAP_METRICS_BUCKETS * sizeof(uint64_t))

/* ---------------------------------------------------------------------
 * Kinds of call
 * ------------------------------------------------------------------- */

/* Results a kind can return (bit i: index i of cmap__mop.res). */
#define R_OK (1u << 0)
#define R_NF (1u << 1)
#define R_ERR (1u << 2)
#define R_MM (1u << 3)
#define R_INS (1u << 4)

const struct cmap__op_info cmap__op_info[CMAP_OP_COUNT_] = {
    [CMAP_OP_LOAD] = {"load", R_OK | R_NF | R_ERR, false},
    [CMAP_OP_STORE] = {"store", R_OK | R_INS | R_ERR, false},
    [CMAP_OP_LOAD_OR_STORE] = {"load_or_store", R_OK | R_INS | R_ERR, false},
    [CMAP_OP_LOAD_AND_DELETE] = {"load_and_delete", R_OK | R_NF | R_ERR, false},
    [CMAP_OP_DELETE] = {"delete", R_OK | R_NF | R_ERR, false},
    [CMAP_OP_SWAP] = {"swap", R_OK | R_INS | R_ERR, false},
    [CMAP_OP_COMPARE_AND_SWAP] = {"compare_and_swap",
        R_OK | R_NF | R_MM | R_ERR, false},
    [CMAP_OP_COMPARE_AND_DELETE] = {"compare_and_delete",
        R_OK | R_NF | R_MM | R_ERR, false},
    [CMAP_OP_ADD] = {"add", R_OK | R_INS | R_ERR, false},
    [CMAP_OP_UPDATE] = {"update", R_OK | R_INS | R_NF | R_ERR, false},
    [CMAP_OP_LOAD_BATCH] = {"load_batch", R_OK | R_NF | R_ERR, true},
    [CMAP_OP_STORE_BATCH] = {"store_batch", R_OK | R_INS | R_ERR, true},
    [CMAP_OP_DELETE_BATCH] = {"delete_batch", R_OK | R_NF | R_ERR, true},
    [CMAP_OP_RANGE] = {"range", R_OK | R_ERR, false},
    [CMAP_OP_CLEAR] = {"clear", R_OK | R_ERR, false},
    [CMAP_OP_RESERVE] = {"reserve", R_OK | R_ERR, false},
    [CMAP_OP_SYNC] = {"sync", R_OK | R_ERR, false},
};

const char *
cmap_op_name(cmap_op_t op)
{
	return (unsigned)op < CMAP_OP_COUNT_ ? cmap__op_info[op].name : NULL;
}

/* ---------------------------------------------------------------------
 * Buckets
 * ------------------------------------------------------------------- */

/* cmap.h's layout: x = ns - 1; under 8 bucket 0; else four per power of
 * two, so bucket b holds (lo, hi]. */
static unsigned
bucket_of(uint64_t ns)
{
	uint64_t x = ns != 0 ? ns - 1 : 0;
	unsigned k, b;

	if (x < 8)
		return 0;
	k = 63u - (unsigned)__builtin_clzll(x);
	b = (k - 3) * 4 + (unsigned)((x >> (k - 2)) & 3) + 1;
	return b < CMAP_METRICS_BUCKETS ? b : CMAP_METRICS_BUCKETS - 1;
}

uint64_t
cmap_metrics_bucket_bound(unsigned b)
{
	unsigned k, s;

	if (b == 0)
		return 8;
	if (b >= CMAP_METRICS_BUCKETS - 1)
		return UINT64_MAX;
	k = (b - 1) / 4 + 3;
	s = (b - 1) % 4;
	return (UINT64_C(1) << k) +
	    (uint64_t)(s + 1) * (UINT64_C(1) << (k - 2));
}

/* ---------------------------------------------------------------------
 * The counting allocator
 * ------------------------------------------------------------------- */
static void *
m_alloc(void *ctx, size_t size, size_t align)
{
	struct cmap__metrics *mx = ctx;
	void *p = cmap__alloc(&mx->inner, size, align);

	if (p != NULL)
		atomic_fetch_add_explicit(
		    &mx->bytes, (int64_t)size, memory_order_relaxed);
	return p;
}

static void
m_free(void *ctx, void *ptr, size_t size)
{
	struct cmap__metrics *mx = ctx;

	atomic_fetch_sub_explicit(
	    &mx->bytes, (int64_t)size, memory_order_relaxed);
	cmap__free(&mx->inner, ptr, size);
}

const cmap_allocator_t *
cmap__metrics_inner(const cmap_allocator_t *a)
{
	return a->alloc == m_alloc ? &((struct cmap__metrics *)a->ctx)->inner
	                           : a;
}

/* ---------------------------------------------------------------------
 * Life cycle and the registry
 * ------------------------------------------------------------------- */
struct cmap__metrics *
cmap__metrics_new(const cmap_allocator_t *inner, uint32_t sample_every,
    cmap_allocator_t *wrapped)
{
	struct cmap__metrics *mx =
	    cmap__alloc(inner, sizeof *mx, CMAP_CACHE_LINE);

	if (mx == NULL)
		return NULL;
	memset(mx, 0, sizeof *mx);
	mx->id = atomic_fetch_add(&m_next_id, 1) + 1;
	mx->inner = *inner;
	mx->sample_every = sample_every;
	atomic_init(&mx->bytes, (int64_t)sizeof *mx);
	wrapped->alloc = m_alloc;
	wrapped->free = m_free;
	wrapped->ctx = mx;
	return mx;
}

void
cmap__metrics_attach(struct cmap__metrics *mx)
{
	cmap__registry_add(&m_reg, &mx->reg);
}

void
cmap__metrics_free(struct cmap__metrics *mx)
{
	struct cmap__mrec *r, *rn;
	cmap_allocator_t a;

	if (mx == NULL)
		return;
	cmap__registry_remove(&m_reg, &mx->reg);
	a = mx->inner;
	for (r = atomic_load(&mx->recs); r != NULL; r = rn) {
		rn = atomic_load_explicit(&r->next, memory_order_relaxed);
		for (unsigned k = 0; k < CMAP_OP_COUNT_; k++)
			cmap__free(&a,
			    (void *)atomic_load_explicit(
			        &r->op[k].hist, memory_order_relaxed),
			    HIST_BYTES);
		cmap__free(&a, r, sizeof *r);
	}
	cmap__free(&a, mx, sizeof *mx);
}

/* Hand back the records of one map's metrics that the exiting thread
 * *arg (its id) owns. */
static void
m_hand_back(struct cmap__link *l, void *arg)
{
	struct cmap__metrics *mx =
	    CMAP__CONTAINER(l, struct cmap__metrics, reg);
	uint64_t tid = *(const uint64_t *)arg;

	for (struct cmap__mrec *r =
	         atomic_load_explicit(&mx->recs, memory_order_acquire);
	     r != NULL;
	     r = atomic_load_explicit(&r->next, memory_order_relaxed))
		if (atomic_load_explicit(&r->owner, memory_order_relaxed) ==
		    tid)
			/* Release: pairs with the next owner's CAS. */
			atomic_store_explicit(
			    &r->owner, 0, memory_order_release);
}

/* The key's destructor: the thread `arg` (its id) exits. */
static void
m_thread_exit(void *arg)
{
	uint64_t tid = (uint64_t)(uintptr_t)arg;

	cmap__registry_each(&m_reg, m_hand_back, &tid);
	/* A later destructor of this thread that uses a map starts afresh
	 * (and re-arms the key). */
	memset(&cmap__mtls, 0, sizeof cmap__mtls);
	m_tid = 0;
}

static void
m_key_init(void)
{
	m_key_ok = pthread_key_create(&m_exit_key, m_thread_exit) == 0;
}

/* This thread's id with the exit hook armed, or 0 when it cannot be. */
static uint64_t
m_thread_id(void)
{
	uint64_t tid;

	if (m_tid != 0)
		return m_tid;
	(void)pthread_once(&m_key_once, m_key_init);
	tid = atomic_fetch_add(&m_next_tid, 1) + 1;
	if (!m_key_ok ||
	    pthread_setspecific(m_exit_key, (void *)(uintptr_t)tid) != 0)
		return 0;
	m_tid = tid;
	return tid;
}

/* A record for this thread (id tid) in mx: one it owns, else one whose
 * owner exited, else a new one pushed on the list; NULL when none can be
 * allocated. */
static struct cmap__mrec *
m_rec_find(struct cmap__metrics *mx, uint64_t tid)
{
	struct cmap__mrec *r, *head;
	cmap_allocator_t a;

	head = atomic_load_explicit(&mx->recs, memory_order_acquire);
	for (r = head; r != NULL;
	     r = atomic_load_explicit(&r->next, memory_order_relaxed))
		if (atomic_load_explicit(&r->owner, memory_order_relaxed) ==
		    tid)
			return r;
	for (r = head; r != NULL;
	     r = atomic_load_explicit(&r->next, memory_order_relaxed)) {
		uint64_t zero = 0;

		/* Acquire: pairs with the exiting owner's release. */
		if (atomic_load_explicit(&r->owner, memory_order_relaxed) ==
		        0 &&
		    atomic_compare_exchange_strong_explicit(&r->owner, &zero,
		        tid, memory_order_acquire, memory_order_relaxed))
			return r;
	}
	a.alloc = m_alloc;
	a.free = m_free;
	a.ctx = mx;
	r = cmap__alloc(&a, sizeof *r, CMAP_CACHE_LINE);
	if (r == NULL)
		return NULL;
	memset(r, 0, sizeof *r);
	for (unsigned k = 0; k < CMAP_OP_COUNT_; k++)
		r->op[k].countdown = 1; /* the first call of each kind */
	r->rng = cmap__hash(tid, (uint64_t)(uintptr_t)r) | 1;
	atomic_store_explicit(&r->owner, tid, memory_order_relaxed);
	atomic_fetch_add_explicit(&mx->nrecs, 1, memory_order_relaxed);
	/* Release: the record's zeroed fields before it is reachable. */
	do {
		atomic_store_explicit(&r->next, head, memory_order_relaxed);
	} while (!atomic_compare_exchange_weak_explicit(
	    &mx->recs, &head, r, memory_order_release, memory_order_acquire));
	return r;
}

struct cmap__mrec *
cmap__metrics_rec_slow(struct cmap__metrics *mx)
{
	struct cmap__mcache_ent *c =
	    &cmap__mtls.cache[mx->id & (CMAP__MCACHE - 1)];
	struct cmap__mrec *r;

	if (c->id == mx->id) {
		r = c->rec;
	} else {
		uint64_t tid = m_thread_id();

		if (tid == 0 || (r = m_rec_find(mx, tid)) == NULL)
			return NULL;
		c->id = mx->id;
		c->rec = r;
	}
	cmap__mtls.last_id = mx->id;
	cmap__mtls.last_rec = r;
	return r;
}

/* ---------------------------------------------------------------------
 * Recording
 * ------------------------------------------------------------------- */
void
cmap__metrics_sampled(struct cmap__mcall *c)
{
	struct cmap__mop *o = c->op;
	struct cmap__mrec *r = c->rec;
	uint64_t d = cmap__metrics_now() - c->t0;
	_Atomic uint64_t *h =
	    atomic_load_explicit(&o->hist, memory_order_relaxed);
	uint64_t n = c->mx->sample_every, x;

	if (CMAP_UNLIKELY(h == NULL)) {
		cmap_allocator_t a = {m_alloc, m_free, c->mx};

		h = cmap__alloc(&a, HIST_BYTES, CMAP_CACHE_LINE);
		if (h == NULL) {
			atomic_fetch_add_explicit(
			    &c->mx->dropped, 1, memory_order_relaxed);
			goto next;
		}
		for (unsigned b = 0; b < CMAP_METRICS_BUCKETS; b++)
			atomic_init(&h[b], 0);
		atomic_store_explicit(&o->hist, h, memory_order_release);
	}
	cmap__mbump(&h[bucket_of(d)], 1);
	cmap__mbump(&o->samples, 1);
	cmap__mbump(&o->sample_ns, d);
next:
	/* The next sample after 1 to 2n - 1 calls (mean n): xorshift64. */
	x = r->rng;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	r->rng = x;
	o->countdown = n <= 1 ? 1 : 1 + (uint32_t)(x % (2 * n - 1));
}

void
cmap__metrics_leave_batch(
    struct cmap__mcall *c, size_t n, const cmap_status_t *status)
{
	struct cmap__mop *o = c->op;
	uint64_t res[5] = {0};

	if (o == NULL)
		return;
	cmap__mcur = c->prev;
	cmap__mbump(&o->ops, 1);
	for (size_t i = 0; i < n; i++)
		res[cmap__metrics_res(status[i])]++;
	for (unsigned i = 0; i < 5; i++)
		if (res[i] != 0)
			cmap__mbump(&o->res[i], res[i]);
	if (c->t0 != 0)
		cmap__metrics_sampled(c);
}

/* ---------------------------------------------------------------------
 * Snapshots
 * ------------------------------------------------------------------- */
static uint64_t
rd(const _Atomic uint64_t *c)
{
	return atomic_load_explicit(c, memory_order_relaxed);
}

/* Kind k of mx summed over its records into *o (zeroed first). */
static void
op_sum(struct cmap__metrics *mx, unsigned k, cmap_metrics_op_t *o)
{
	uint64_t res[5] = {0};

	memset(o, 0, sizeof *o);
	for (struct cmap__mrec *r =
	         atomic_load_explicit(&mx->recs, memory_order_acquire);
	     r != NULL;
	     r = atomic_load_explicit(&r->next, memory_order_relaxed)) {
		const struct cmap__mop *p = &r->op[k];
		const _Atomic uint64_t *h =
		    atomic_load_explicit(&p->hist, memory_order_acquire);

		for (unsigned i = 0; i < 5; i++)
			res[i] += rd(&p->res[i]);
		o->ops += rd(&p->ops);
		o->retries += rd(&p->retries);
		o->lock_contended += rd(&p->lock_contended);
		o->lock_wait_ns += rd(&p->lock_wait_ns);
		o->resizes += rd(&p->resizes);
		o->migrate_ns += rd(&p->migrate_ns);
		o->samples += rd(&p->samples);
		o->sample_ns += rd(&p->sample_ns);
		if (h != NULL)
			for (unsigned b = 0; b < CMAP_METRICS_BUCKETS; b++)
				o->buckets[b] += rd(&h[b]);
	}
	o->ok = res[0];
	o->not_found = res[1];
	o->errors = res[2];
	o->mismatch = res[3];
	o->inserted = res[4];
	o->keys = res[0] + res[1] + res[2] + res[3] + res[4];
	if (!cmap__op_info[k].batch)
		o->ops = o->keys;
}

static void
map_sum(cmap_t *map, cmap_metrics_t *m)
{
	struct cmap__metrics *mx = map->metrics;

	memset(m, 0, sizeof *m);
	m->backend = map->be->name;
	m->shards = map->shards;
	m->len = map->be->len(map);
	m->n_ops = CMAP_OP_COUNT_;
	if (mx == NULL)
		return;
	m->enabled = true;
	m->sample_every = mx->sample_every;
	{
		int64_t b =
		    atomic_load_explicit(&mx->bytes, memory_order_relaxed);

		m->bytes = b > 0 ? (uint64_t)b : 0;
	}
	m->records = atomic_load_explicit(&mx->nrecs, memory_order_relaxed);
	m->dropped = atomic_load_explicit(&mx->dropped, memory_order_relaxed);
	for (struct cmap__mrec *r =
	         atomic_load_explicit(&mx->recs, memory_order_acquire);
	     r != NULL;
	     r = atomic_load_explicit(&r->next, memory_order_relaxed))
		m->threads +=
		    atomic_load_explicit(&r->owner, memory_order_relaxed) != 0;
}

cmap_status_t
cmap__metrics_get(cmap_t *map, cmap_metrics_t *out, size_t size)
{
	cmap_metrics_t m;

	map_sum(map, &m);
	cmap__copy_sized(out, size, &m, sizeof m);
	return CMAP_OK;
}

cmap_status_t
cmap__metrics_op_get(
    cmap_t *map, cmap_op_t op, cmap_metrics_op_t *out, size_t size)
{
	cmap_metrics_op_t o;

	if ((unsigned)op >= CMAP_OP_COUNT_)
		return CMAP_EINVAL;
	if (map->metrics != NULL)
		op_sum(map->metrics, (unsigned)op, &o);
	else
		memset(&o, 0, sizeof o);
	cmap__copy_sized(out, size, &o, sizeof o);
	return CMAP_OK;
}
