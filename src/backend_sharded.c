/*
 * backend_sharded.c - N tables, each behind its own lock.
 *
 * The shard of a key is the low bits of its seeded hash; the slot within
 * the shard's table is the high bits, so the two are independent and a
 * shard's table is as evenly filled as a whole table would be.  Each
 * shard (lock + table header) sits on its own cache lines, so threads
 * working on different shards share nothing.  A hot key still serialises
 * everything on its shard: sharding divides contention by N, it does not
 * remove it.  N is the option "shards" (or the config's typed field): a
 * power of two in [1, CMAP_MAX_SHARDS], default 32.
 *
 * Loads take their shard's lock shared, other operations exclusive: each
 * operation is atomic per key.  len sums the per-shard counters without
 * locking (O(shards)); range, clear and stats visit the shards in turn.
 */
#include "lock.h"
#include "table.h"

struct shard {
	_Alignas(CMAP_CACHE_LINE) cmap__wordlock_t lock;
	struct cmap_table table;
};

struct sharded_map {
	struct cmap base;
	uint32_t mask; /* shards - 1 */
	struct shard *shards;
};

#define SH(m) ((struct sharded_map *)(m))

static inline struct shard *
shard_of(struct sharded_map *s, uint64_t hash)
{
	return &s->shards[hash & s->mask];
}

/*
 * Entries per shard for `entries` in all.  The hash spreads keys over the
 * shards binomially, so each shard gets the mean plus eight standard
 * deviations plus eight: the chance that any shard of a map still has to
 * grow before `entries` keys are in is below 1e-12 for a random seed (and
 * the margin vanishes in the power-of-two rounding of large tables).  Keys
 * crafted against a known fixed seed can still pile into one shard; that
 * shard then grows, which costs time, never correctness.
 */
static size_t
per_shard(size_t entries, uint32_t shards)
{
	size_t mean = entries / shards, root = 0;

	if (entries == 0)
		return 0;
	while ((root + 1) * (root + 1) <= mean)
		root++;
	return mean + 8 * (root + 1) + 8;
}

static void
free_shards(struct sharded_map *s, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++) {
		cmap__wordlock_destroy(&s->shards[i].lock);
		cmap__table_fini(&s->shards[i].table);
	}
	cmap__free(&s->base.allocator, s->shards,
	    (size_t)(s->mask + 1) * sizeof *s->shards);
}

enum { OPT_SHARDS };

static const cmap_option_info_t sharded_options[] = {
    [OPT_SHARDS] = {"shards", CMAP_OPTION_UINT, "32",
        "independently locked tables, a power of two (contention is "
        "divided by it; each costs a table of at least 16 slots)",
        1, CMAP_MAX_SHARDS, CMAP_OPTION_POW2},
};

static cmap_status_t
sharded_create(const struct cmap__create_args *args, cmap_t **out)
{
	struct sharded_map *s = cmap__map_new(args, sizeof *s);
	uint32_t n = (uint32_t)args->opt[OPT_SHARDS].u;
	size_t each = per_shard(args->capacity, n);

	if (s == NULL)
		return CMAP_ENOMEM;
	s->mask = n - 1;
	s->shards = cmap__alloc(
	    &s->base.allocator, (size_t)n * sizeof *s->shards, CMAP_CACHE_LINE);
	if (s->shards == NULL) {
		cmap__map_free(&s->base);
		return CMAP_ENOMEM;
	}
	for (uint32_t i = 0; i < n; i++) {
		cmap__wordlock_init(&s->shards[i].lock);
		if (cmap__table_init(&s->shards[i].table, &s->base.allocator,
		        args->seed, each) != CMAP_OK) {
			free_shards(s, i);
			cmap__map_free(&s->base);
			return CMAP_ENOMEM;
		}
	}
	*out = &s->base;
	return CMAP_OK;
}

static void
sharded_destroy(cmap_t *m)
{
	free_shards(SH(m), SH(m)->mask + 1);
}

static cmap_status_t
sharded_load(cmap_t *m, uint64_t key, uint64_t *value)
{
	struct sharded_map *s = SH(m);
	uint64_t hash = cmap__hash(key, s->base.seed);
	struct shard *sh = shard_of(s, hash);
	bool found;

	cmap__table_prefetch(&sh->table, hash);
	cmap__wordlock_read_lock(&sh->lock);
	found = cmap__table_load(&sh->table, key, hash, value);
	cmap__wordlock_read_unlock(&sh->lock);
	return found ? CMAP_OK : CMAP_NOT_FOUND;
}

static cmap_status_t
sharded_store(cmap_t *m, uint64_t key, uint64_t value)
{
	struct sharded_map *s = SH(m);
	uint64_t hash = cmap__hash(key, s->base.seed);
	struct shard *sh = shard_of(s, hash);
	cmap_status_t st;

	cmap__table_prefetch(&sh->table, hash);
	cmap__wordlock_write_lock(&sh->lock);
	st = cmap__table_store(&sh->table, key, hash, value);
	cmap__wordlock_write_unlock(&sh->lock);
	return st;
}

static cmap_status_t
sharded_exec(cmap_t *m, struct cmap_req *req)
{
	struct sharded_map *s = SH(m);
	uint64_t hash = cmap__hash(req->key, s->base.seed);
	struct shard *sh = shard_of(s, hash);
	cmap_status_t st;

	cmap__table_prefetch(&sh->table, hash);
	cmap__wordlock_write_lock(&sh->lock);
	st = cmap__table_exec(&sh->table, hash, req);
	cmap__wordlock_write_unlock(&sh->lock);
	return st;
}

/*
 * A batch: per group of keys, hash each and prefetch its shard's lock and
 * home slot, then lock each key's shard for that key alone (a group's keys
 * are spread over the shards).
 */
static cmap_status_t
sharded_batch(cmap_t *m, const struct cmap__batch *b, size_t n)
{
	struct sharded_map *s = SH(m);
	bool write = b->kind != CMAP__BATCH_LOAD;
	uint64_t h[CMAP_BATCH_GROUP];

	for (size_t i = 0; i < n; i += CMAP_BATCH_GROUP) {
		size_t g = n - i < CMAP_BATCH_GROUP ? n - i : CMAP_BATCH_GROUP;

		for (size_t j = 0; j < g; j++) {
			struct shard *sh;

			h[j] = cmap__hash(b->keys[i + j], s->base.seed);
			sh = shard_of(s, h[j]);
			__builtin_prefetch(&sh->lock, 1);
			cmap__table_prefetch(&sh->table, h[j]);
		}
		for (size_t j = 0; j < g; j++) {
			struct shard *sh = shard_of(s, h[j]);

			if (write)
				cmap__wordlock_write_lock(&sh->lock);
			else
				cmap__wordlock_read_lock(&sh->lock);
			cmap__table_batch_apply(&sh->table, b, i + j, 1, &h[j]);
			if (write)
				cmap__wordlock_write_unlock(&sh->lock);
			else
				cmap__wordlock_read_unlock(&sh->lock);
		}
	}
	return cmap__batch_result(n, b->status);
}

static void
shard_read_lock(void *arg)
{
	cmap__wordlock_read_lock(&((struct shard *)arg)->lock);
}

static void
shard_read_unlock(void *arg)
{
	cmap__wordlock_read_unlock(&((struct shard *)arg)->lock);
}

static cmap_status_t
sharded_range(cmap_t *m, cmap_range_fn fn, void *ctx)
{
	struct sharded_map *s = SH(m);

	for (uint32_t i = 0; i <= s->mask; i++) {
		struct shard *sh = &s->shards[i];

		if (cmap__table_range(&sh->table, shard_read_lock,
		        shard_read_unlock, sh, fn, ctx))
			break;
	}
	return CMAP_OK;
}

static size_t
sharded_len(const cmap_t *m)
{
	const struct sharded_map *s = (const struct sharded_map *)m;
	size_t n = 0;

	for (uint32_t i = 0; i <= s->mask; i++)
		n += cmap__table_len(&s->shards[i].table);
	return n;
}

static cmap_status_t
sharded_clear(cmap_t *m)
{
	struct sharded_map *s = SH(m);

	for (uint32_t i = 0; i <= s->mask; i++) {
		cmap__wordlock_write_lock(&s->shards[i].lock);
		cmap__table_clear(&s->shards[i].table);
		cmap__wordlock_write_unlock(&s->shards[i].lock);
	}
	return CMAP_OK;
}

static cmap_status_t
sharded_reserve(cmap_t *m, size_t entries)
{
	struct sharded_map *s = SH(m);
	size_t each = per_shard(entries, s->mask + 1);
	cmap_status_t st = CMAP_OK;

	/* Contents never change; on CMAP_ENOMEM some shards may have grown
	 * already, which only costs memory. */
	for (uint32_t i = 0; i <= s->mask && st == CMAP_OK; i++) {
		cmap__wordlock_write_lock(&s->shards[i].lock);
		st = cmap__table_reserve(&s->shards[i].table, each);
		cmap__wordlock_write_unlock(&s->shards[i].lock);
	}
	return st;
}

static cmap_status_t
sharded_stats(cmap_t *m, cmap_stats_t *st)
{
	struct sharded_map *s = SH(m);
	uint64_t sum = 0;

	for (uint32_t i = 0; i <= s->mask; i++) {
		cmap__wordlock_read_lock(&s->shards[i].lock);
		cmap__table_stats_add(&s->shards[i].table, st, &sum);
		cmap__wordlock_read_unlock(&s->shards[i].lock);
	}
	cmap__table_stats_done(
	    st, sum, sizeof *s + (size_t)(s->mask + 1) * sizeof *s->shards);
	return CMAP_OK;
}

CMAP_HIDDEN const struct cmap__backend cmap__sharded_backend = {
    .version = CMAP__BACKEND_V2,
    .name = CMAP_BACKEND_SHARDED,
    .summary = "N tables, each behind its own lock, chosen by the seeded "
               "hash: many threads writing different keys",
    .backend_version = 1,
    .caps = CMAP_CAP_THREAD_SAFE | CMAP_CAP_LINEARIZABLE |
        CMAP_CAP_UPDATE_ONCE | CMAP_CAP_LEN_EXACT | CMAP_CAP_RANGE_ONCE,
    .options = sharded_options,
    .n_options = sizeof sharded_options / sizeof sharded_options[0],
    .create = sharded_create,
    .destroy = sharded_destroy,
    .load = sharded_load,
    .store = sharded_store,
    .exec = sharded_exec,
    .range = sharded_range,
    .len = sharded_len,
    .clear = sharded_clear,
    .reserve = sharded_reserve,
    .stats = sharded_stats,
    .batch = sharded_batch,
};
