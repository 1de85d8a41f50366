/*
 * backend_plain.c - one table, no synchronisation, and Go's misuse
 * detector.
 *
 * The detector (after Go's runtime map, hashWriting): every write sets
 * `writing` for its duration and checks it was not set before and is
 * still set after; every read checks it is clear.  A second writer, or a
 * reader running beside a writer, then usually sees the mark and the
 * program stops with "concurrent map writes" or "concurrent map read and
 * map write".  It is best effort (two threads may interleave without ever
 * overlapping a check) but cheap: relaxed loads and stores, which compile
 * to plain moves, and no read-modify-write on any path.  The accesses are
 * atomic only so that the race they detect is not itself undefined
 * behaviour.  CMAP_FLAG_NO_MISUSE_CHECK turns it off.
 */
#include "table.h"

struct plain_map {
	struct cmap base;
	atomic_uint writing; /* 1 while a write runs: the misuse mark */
	bool check;          /* detector on */
	struct cmap_table table;
};

#define PLAIN(m) ((struct plain_map *)(m))

static inline void
read_check(struct plain_map *p)
{
	if (p->check && CMAP_UNLIKELY(atomic_load_explicit(&p->writing,
	    memory_order_relaxed)))
		cmap__misuse(&p->base, "concurrent map read and map write");
}

static inline void
write_begin(struct plain_map *p)
{
	if (!p->check)
		return;
	if (CMAP_UNLIKELY(atomic_load_explicit(&p->writing,
	    memory_order_relaxed)))
		cmap__misuse(&p->base, "concurrent map writes");
	atomic_store_explicit(&p->writing, 1, memory_order_relaxed);
	/* Keep the compiler from moving table writes above the mark. */
	atomic_signal_fence(memory_order_seq_cst);
}

static inline void
write_end(struct plain_map *p)
{
	if (!p->check)
		return;
	atomic_signal_fence(memory_order_seq_cst);
	/* Another writer that entered beside us has cleared the mark. */
	if (CMAP_UNLIKELY(!atomic_load_explicit(&p->writing,
	    memory_order_relaxed)))
		cmap__misuse(&p->base, "concurrent map writes");
	atomic_store_explicit(&p->writing, 0, memory_order_relaxed);
}

static cmap_status_t
plain_create(const cmap_config_t *config, cmap_t **out)
{
	struct plain_map *p = cmap__map_new(config, sizeof *p);

	if (p == NULL)
		return CMAP_ENOMEM;
	if (cmap_table_init(&p->table, &p->base.config.allocator,
	    config->seed, config->capacity) != CMAP_OK) {
		cmap__map_free(&p->base);
		return CMAP_ENOMEM;
	}
	atomic_init(&p->writing, 0);
	CMAP_HG_BENIGN(&p->writing, "the misuse detector's mark");
	p->check = !(config->flags & CMAP_FLAG_NO_MISUSE_CHECK);
	*out = &p->base;
	return CMAP_OK;
}

static void
plain_destroy(cmap_t *m)
{
	cmap_table_fini(&PLAIN(m)->table);
}

static cmap_status_t
plain_exec(cmap_t *m, struct cmap_req *req)
{
	struct plain_map *p = PLAIN(m);
	uint64_t hash = cmap__hash(req->key, p->table.seed);
	cmap_status_t st;

	if (cmap__req_is_read(req->kind)) {
		read_check(p);
		if (!cmap_table_load(&p->table, req->key, hash, &req->out))
			return CMAP_NOT_FOUND;
		return CMAP_OK;
	}
	write_begin(p);
	st = cmap_table_exec(&p->table, hash, req);
	write_end(p);
	return st;
}

/* Range batches on plain take no lock: each is bracketed by a read check. */
static void
plain_range_check(void *arg)
{
	read_check(arg);
}

static cmap_status_t
plain_range(cmap_t *m, cmap_range_fn fn, void *ctx)
{
	struct plain_map *p = PLAIN(m);

	(void)cmap_table_range(&p->table, plain_range_check, plain_range_check,
	    p, fn, ctx);
	return CMAP_OK;
}

static size_t
plain_len(const cmap_t *m)
{
	return cmap_table_len(&((const struct plain_map *)m)->table);
}

static cmap_status_t
plain_clear(cmap_t *m)
{
	write_begin(PLAIN(m));
	cmap_table_clear(&PLAIN(m)->table);
	write_end(PLAIN(m));
	return CMAP_OK;
}

static cmap_status_t
plain_reserve(cmap_t *m, size_t entries)
{
	cmap_status_t st;

	write_begin(PLAIN(m));
	st = cmap_table_reserve(&PLAIN(m)->table, entries);
	write_end(PLAIN(m));
	return st;
}

static cmap_status_t
plain_stats(cmap_t *m, cmap_stats_t *st)
{
	struct plain_map *p = PLAIN(m);
	uint64_t sum = 0;

	read_check(p);
	cmap_table_stats_add(&p->table, st, &sum);
	read_check(p);
	cmap_table_stats_done(st, sum, sizeof *p);
	return CMAP_OK;
}

CMAP_HIDDEN const struct cmap_backend_ops cmap__plain_ops = {
	.version = CMAP_OPS_VERSION_1,
	.id = CMAP_BACKEND_PLAIN,
	.name = "plain",
	.caps = CMAP_CAP_UPDATE_ONCE,
	.create = plain_create,
	.destroy = plain_destroy,
	.exec = plain_exec,
	.range = plain_range,
	.len = plain_len,
	.clear = plain_clear,
	.reserve = plain_reserve,
	.stats = plain_stats,
};
