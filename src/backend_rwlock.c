/*
 * backend_rwlock.c - one table behind one reader-writer lock.
 *
 * Loads take the lock shared; every other operation takes it exclusive,
 * so each operation is atomic per key (and across keys).  The lock is the
 * striped "big reader" lock of lock.h: readers on different cores touch
 * different cache lines, which is what lets reads scale; see
 * docs/design.md for why it beat pthread_rwlock_t and ck_rwlock here.
 */
#include "lock.h"
#include "table.h"

struct rwlock_map {
	struct cmap base;
	struct cmap_table table;
	struct cmap__brlock lock; /* last: its stripes follow it */
};

#define RW(m) ((struct rwlock_map *)(m))

static cmap_status_t
rwlock_create(const struct cmap__create_args *args, cmap_t **out)
{
	unsigned stripes = cmap__brlock_stripes();
	struct rwlock_map *r = cmap__map_new(
	    args, sizeof *r + cmap__brlock_size(stripes) - sizeof r->lock);

	if (r == NULL)
		return CMAP_ENOMEM;
	if (cmap__table_init(&r->table, &r->base.allocator, args->seed,
	        args->capacity) != CMAP_OK) {
		cmap__map_free(&r->base);
		return CMAP_ENOMEM;
	}
	cmap__brlock_init(&r->lock, stripes);
	*out = &r->base;
	return CMAP_OK;
}

static void
rwlock_destroy(cmap_t *m)
{
	cmap__brlock_destroy(&RW(m)->lock);
	cmap__table_fini(&RW(m)->table);
}

static cmap_status_t
rwlock_load(cmap_t *m, uint64_t key, uint64_t *value)
{
	struct rwlock_map *r = RW(m);
	uint64_t hash = cmap__hash(key, r->table.seed);
	unsigned stripe = cmap__brlock_read_lock(&r->lock);
	bool found = cmap__table_load(&r->table, key, hash, value);

	cmap__brlock_read_unlock(&r->lock, stripe);
	return found ? CMAP_OK : CMAP_NOT_FOUND;
}

static cmap_status_t
rwlock_store(cmap_t *m, uint64_t key, uint64_t value)
{
	struct rwlock_map *r = RW(m);
	uint64_t hash = cmap__hash(key, r->table.seed);
	cmap_status_t st;

	cmap__brlock_write_lock(&r->lock);
	st = cmap__table_store(&r->table, key, hash, value);
	cmap__brlock_write_unlock(&r->lock);
	return st;
}

static cmap_status_t
rwlock_exec(cmap_t *m, struct cmap_req *req)
{
	struct rwlock_map *r = RW(m);
	uint64_t hash = cmap__hash(req->key, r->table.seed);
	cmap_status_t st;

	cmap__brlock_write_lock(&r->lock);
	st = cmap__table_exec(&r->table, hash, req);
	cmap__brlock_write_unlock(&r->lock);
	return st;
}

/* Range batches hold the read lock; the stripe travels through arg. */
struct rw_range_arg {
	struct rwlock_map *map;
	unsigned stripe;
};

static void
rw_range_lock(void *arg)
{
	struct rw_range_arg *a = arg;

	a->stripe = cmap__brlock_read_lock(&a->map->lock);
}

static void
rw_range_unlock(void *arg)
{
	struct rw_range_arg *a = arg;

	cmap__brlock_read_unlock(&a->map->lock, a->stripe);
}

static cmap_status_t
rwlock_range(cmap_t *m, cmap_range_fn fn, void *ctx)
{
	struct rw_range_arg a = {RW(m), 0};

	(void)cmap__table_range(
	    &RW(m)->table, rw_range_lock, rw_range_unlock, &a, fn, ctx);
	return CMAP_OK;
}

/* Batch groups hold the lock shared (loads) or exclusive (writes). */
static void
rw_batch_lock(void *arg, bool write)
{
	struct rw_range_arg *a = arg;

	if (write)
		cmap__brlock_write_lock(&a->map->lock);
	else
		a->stripe = cmap__brlock_read_lock(&a->map->lock);
}

static void
rw_batch_unlock(void *arg, bool write)
{
	struct rw_range_arg *a = arg;

	if (write)
		cmap__brlock_write_unlock(&a->map->lock);
	else
		cmap__brlock_read_unlock(&a->map->lock, a->stripe);
}

static cmap_status_t
rwlock_batch(cmap_t *m, const struct cmap__batch *b, size_t n)
{
	struct rw_range_arg a = {RW(m), 0};

	return cmap__table_batch(
	    &RW(m)->table, b, n, rw_batch_lock, rw_batch_unlock, &a);
}

static size_t
rwlock_len(const cmap_t *m)
{
	return cmap__table_len(&((const struct rwlock_map *)m)->table);
}

static cmap_status_t
rwlock_clear(cmap_t *m)
{
	cmap__brlock_write_lock(&RW(m)->lock);
	cmap__table_clear(&RW(m)->table);
	cmap__brlock_write_unlock(&RW(m)->lock);
	return CMAP_OK;
}

static cmap_status_t
rwlock_reserve(cmap_t *m, size_t entries)
{
	cmap_status_t st;

	cmap__brlock_write_lock(&RW(m)->lock);
	st = cmap__table_reserve(&RW(m)->table, entries);
	cmap__brlock_write_unlock(&RW(m)->lock);
	return st;
}

static cmap_status_t
rwlock_stats(cmap_t *m, cmap_stats_t *st)
{
	struct rwlock_map *r = RW(m);
	uint64_t sum = 0;

	unsigned stripe = cmap__brlock_read_lock(&r->lock);

	cmap__table_stats_add(&r->table, st, &sum);
	cmap__brlock_read_unlock(&r->lock, stripe);
	cmap__table_stats_done(st, sum, r->base.self_size);
	return CMAP_OK;
}

CMAP_HIDDEN const struct cmap__backend cmap__rwlock_backend = {
    .version = CMAP__BACKEND_V2,
    .name = CMAP_BACKEND_RWLOCK,
    .summary = "one table behind one reader-writer lock with per-CPU "
               "reader counters: reads in parallel, writes one at a time",
    .backend_version = 1,
    .caps = CMAP_CAP_THREAD_SAFE | CMAP_CAP_LINEARIZABLE |
        CMAP_CAP_UPDATE_ONCE | CMAP_CAP_LEN_EXACT | CMAP_CAP_RANGE_ONCE,
    .create = rwlock_create,
    .destroy = rwlock_destroy,
    .load = rwlock_load,
    .store = rwlock_store,
    .exec = rwlock_exec,
    .range = rwlock_range,
    .len = rwlock_len,
    .clear = rwlock_clear,
    .reserve = rwlock_reserve,
    .stats = rwlock_stats,
    .batch = rwlock_batch,
};
