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
	struct cmap_brlock lock; /* last: its stripes follow it */
};

#define RW(m) ((struct rwlock_map *)(m))

static cmap_status_t
rwlock_create(const cmap_config_t *config, cmap_t **out)
{
	unsigned stripes = cmap_brlock_stripes();
	struct rwlock_map *r = cmap__map_new(config,
	    sizeof *r + cmap_brlock_size(stripes) - sizeof r->lock);

	if (r == NULL)
		return CMAP_ENOMEM;
	if (cmap_table_init(&r->table, &r->base.config.allocator,
	    config->seed, config->capacity) != CMAP_OK) {
		cmap__map_free(&r->base);
		return CMAP_ENOMEM;
	}
	cmap_brlock_init(&r->lock, stripes);
	*out = &r->base;
	return CMAP_OK;
}

static void
rwlock_destroy(cmap_t *m)
{
	cmap_brlock_destroy(&RW(m)->lock);
	cmap_table_fini(&RW(m)->table);
}

static cmap_status_t
rwlock_exec(cmap_t *m, struct cmap_req *req)
{
	struct rwlock_map *r = RW(m);
	uint64_t hash = cmap__hash(req->key, r->table.seed);
	cmap_status_t st;

	if (cmap__req_is_read(req->kind)) {
		unsigned stripe = cmap_brlock_read_lock(&r->lock);
		bool found = cmap_table_load(&r->table, req->key, hash,
		    &req->out);

		cmap_brlock_read_unlock(&r->lock, stripe);
		return found ? CMAP_OK : CMAP_NOT_FOUND;
	}
	cmap_brlock_write_lock(&r->lock);
	st = cmap_table_exec(&r->table, hash, req);
	cmap_brlock_write_unlock(&r->lock);
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

	a->stripe = cmap_brlock_read_lock(&a->map->lock);
}

static void
rw_range_unlock(void *arg)
{
	struct rw_range_arg *a = arg;

	cmap_brlock_read_unlock(&a->map->lock, a->stripe);
}

static cmap_status_t
rwlock_range(cmap_t *m, cmap_range_fn fn, void *ctx)
{
	struct rw_range_arg a = { RW(m), 0 };

	(void)cmap_table_range(&RW(m)->table, rw_range_lock, rw_range_unlock,
	    &a, fn, ctx);
	return CMAP_OK;
}

static size_t
rwlock_len(const cmap_t *m)
{
	return cmap_table_len(&((const struct rwlock_map *)m)->table);
}

static cmap_status_t
rwlock_clear(cmap_t *m)
{
	cmap_brlock_write_lock(&RW(m)->lock);
	cmap_table_clear(&RW(m)->table);
	cmap_brlock_write_unlock(&RW(m)->lock);
	return CMAP_OK;
}

static cmap_status_t
rwlock_reserve(cmap_t *m, size_t entries)
{
	cmap_status_t st;

	cmap_brlock_write_lock(&RW(m)->lock);
	st = cmap_table_reserve(&RW(m)->table, entries);
	cmap_brlock_write_unlock(&RW(m)->lock);
	return st;
}

static cmap_status_t
rwlock_stats(cmap_t *m, cmap_stats_t *st)
{
	struct rwlock_map *r = RW(m);
	uint64_t sum = 0;

	unsigned stripe = cmap_brlock_read_lock(&r->lock);

	cmap_table_stats_add(&r->table, st, &sum);
	cmap_brlock_read_unlock(&r->lock, stripe);
	cmap_table_stats_done(st, sum, r->base.self_size);
	return CMAP_OK;
}

CMAP_HIDDEN const struct cmap_backend_ops cmap__rwlock_ops = {
	.version = CMAP_OPS_VERSION_1,
	.id = CMAP_BACKEND_RWLOCK,
	.name = "rwlock",
	.caps = CMAP_CAP_THREAD_SAFE | CMAP_CAP_UPDATE_ONCE,
	.create = rwlock_create,
	.destroy = rwlock_destroy,
	.exec = rwlock_exec,
	.range = rwlock_range,
	.len = rwlock_len,
	.clear = rwlock_clear,
	.reserve = rwlock_reserve,
	.stats = rwlock_stats,
};
