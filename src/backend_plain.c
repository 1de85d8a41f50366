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
 * behaviour.  The option misuse_check=false (or CMAP_FLAG_NO_MISUSE_CHECK)
 * turns it off.
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
	if (p->check &&
	    CMAP_UNLIKELY(
	        atomic_load_explicit(&p->writing, memory_order_relaxed)))
		cmap__misuse(&p->base, "concurrent map read and map write");
}

static inline void
write_begin(struct plain_map *p)
{
	if (!p->check)
		return;
	if (CMAP_UNLIKELY(
	        atomic_load_explicit(&p->writing, memory_order_relaxed)))
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
	if (CMAP_UNLIKELY(
	        !atomic_load_explicit(&p->writing, memory_order_relaxed)))
		cmap__misuse(&p->base, "concurrent map writes");
	atomic_store_explicit(&p->writing, 0, memory_order_relaxed);
}

enum { OPT_MISUSE_CHECK };

static const cmap_option_info_t plain_options[] = {
    [OPT_MISUSE_CHECK] = {"misuse_check", CMAP_OPTION_BOOL, "true",
        "stop the program on concurrent use (best effort, a few "
        "instructions per call)",
        0, 0, 0},
};

static cmap_status_t
plain_create(const struct cmap__create_args *args, cmap_t **out)
{
	struct plain_map *p = cmap__map_new(args, sizeof *p);

	if (p == NULL)
		return CMAP_ENOMEM;
	if (cmap__table_init(&p->table, &p->base.allocator, args->seed,
	        args->capacity) != CMAP_OK) {
		cmap__map_free(&p->base);
		return CMAP_ENOMEM;
	}
	atomic_init(&p->writing, 0);
	CMAP_HG_BENIGN(&p->writing, "the misuse detector's mark");
	p->check = args->opt[OPT_MISUSE_CHECK].b;
	*out = &p->base;
	return CMAP_OK;
}

static void
plain_destroy(cmap_t *m)
{
	cmap__table_fini(&PLAIN(m)->table);
}

static cmap_status_t
plain_load(cmap_t *m, uint64_t key, uint64_t *value)
{
	struct plain_map *p = PLAIN(m);

	read_check(p);
	return cmap__table_load(
	           &p->table, key, cmap__hash(key, p->table.seed), value)
	    ? CMAP_OK
	    : CMAP_NOT_FOUND;
}

static cmap_status_t
plain_store(cmap_t *m, uint64_t key, uint64_t value)
{
	struct plain_map *p = PLAIN(m);
	cmap_status_t st;

	write_begin(p);
	st = cmap__table_store(
	    &p->table, key, cmap__hash(key, p->table.seed), value);
	write_end(p);
	return st;
}

static cmap_status_t
plain_exec(cmap_t *m, struct cmap_req *req)
{
	struct plain_map *p = PLAIN(m);
	cmap_status_t st;

	write_begin(p);
	st = cmap__table_exec(
	    &p->table, cmap__hash(req->key, p->table.seed), req);
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

	(void)cmap__table_range(
	    &p->table, plain_range_check, plain_range_check, p, fn, ctx);
	return CMAP_OK;
}

/* Batch groups: a load group is bracketed by read checks, a write group
 * is one write for the detector. */
static void
plain_batch_lock(void *arg, bool write)
{
	if (write)
		write_begin(arg);
	else
		read_check(arg);
}

static void
plain_batch_unlock(void *arg, bool write)
{
	if (write)
		write_end(arg);
	else
		read_check(arg);
}

static cmap_status_t
plain_batch(cmap_t *m, const struct cmap__batch *b, size_t n)
{
	return cmap__table_batch(
	    &PLAIN(m)->table, b, n, plain_batch_lock, plain_batch_unlock, m);
}

static size_t
plain_len(const cmap_t *m)
{
	return cmap__table_len(&((const struct plain_map *)m)->table);
}

static cmap_status_t
plain_clear(cmap_t *m)
{
	write_begin(PLAIN(m));
	cmap__table_clear(&PLAIN(m)->table);
	write_end(PLAIN(m));
	return CMAP_OK;
}

static cmap_status_t
plain_reserve(cmap_t *m, size_t entries)
{
	cmap_status_t st;

	write_begin(PLAIN(m));
	st = cmap__table_reserve(&PLAIN(m)->table, entries);
	write_end(PLAIN(m));
	return st;
}

static cmap_status_t
plain_stats(cmap_t *m, cmap_stats_t *st)
{
	struct plain_map *p = PLAIN(m);
	uint64_t sum = 0;

	read_check(p);
	cmap__table_stats_add(&p->table, st, &sum);
	read_check(p);
	cmap__table_stats_done(st, sum, sizeof *p);
	return CMAP_OK;
}

CMAP_HIDDEN const struct cmap__backend cmap__plain_backend = {
    .version = CMAP__BACKEND_V2,
    .name = CMAP_BACKEND_PLAIN,
    .summary = "one table, no synchronisation, with a misuse detector: "
               "the map one thread owns",
    .backend_version = 1,
    .caps = CMAP_CAP_UPDATE_ONCE | CMAP_CAP_LEN_EXACT | CMAP_CAP_RANGE_ONCE |
        CMAP_CAP_MISUSE_CHECK,
    .options = plain_options,
    .n_options = sizeof plain_options / sizeof plain_options[0],
    .create = plain_create,
    .destroy = plain_destroy,
    .load = plain_load,
    .store = plain_store,
    .exec = plain_exec,
    .range = plain_range,
    .len = plain_len,
    .clear = plain_clear,
    .reserve = plain_reserve,
    .stats = plain_stats,
    .batch = plain_batch,
};
