/*
 * cmap.c - the front end: argument checks, the update callback's
 * re-entrancy guard, backend information, and each public call mapped to
 * its backend's entry point (config.c resolves the configuration).
 *
 * Every public entry point checks its arguments before anything else, so
 * a call that returns an error has touched nothing, and a backend never
 * sees a NULL map or a NULL required out pointer.  The checks of the hot
 * calls are one compare each on the success path.
 */
#include "config.h"
#include "metrics.h"

#include <string.h>

/* ------------------------------------------------------------ statuses */

const char *
cmap_strerror(cmap_status_t status)
{
	switch (status) {
#define CMAP_STATUS_MSG_(name, value, msg)                                     \
	case CMAP_##name:                                                      \
		return msg;
		CMAP_STATUS_MAP(CMAP_STATUS_MSG_)
#undef CMAP_STATUS_MSG_
	}
	return "unknown status";
}

const char *
cmap_status_name(cmap_status_t status)
{
	switch (status) {
#define CMAP_STATUS_NAME_(name, value, msg)                                    \
	case CMAP_##name:                                                      \
		return #name;
		CMAP_STATUS_MAP(CMAP_STATUS_NAME_)
#undef CMAP_STATUS_NAME_
	}
	return "UNKNOWN";
}

/* ------------------------------------------------------------ versions */

unsigned
cmap_version(void)
{
	return CMAP_VERSION;
}

const char *
cmap_version_string(void)
{
	return CMAP_VERSION_STRING;
}

/* ------------------------------------------------------------ backends */

const char *
cmap_backend_at(size_t index)
{
	const struct cmap__backend *be = cmap__backend_at(index);

	return be != NULL ? be->name : NULL;
}

bool
cmap_backend_available(const char *name)
{
	return name != NULL && cmap__backend_find(name) != NULL;
}

static cmap_status_t
find_named(const char *name, const struct cmap__backend **be)
{
	*be = cmap__backend_find(name);
	if (*be == NULL)
		return cmap__fail(CMAP_EBACKEND,
		    "no backend called '%s' in this build", name);
	return CMAP_OK;
}

cmap_status_t
cmap_backend_info_sized(
    const char *name, cmap_backend_info_t *info, size_t size)
{
	const struct cmap__backend *be;
	cmap_backend_info_t i;
	cmap_status_t st;

	if (name == NULL || info == NULL || size == 0)
		return cmap__fail(CMAP_EINVAL,
		    "cmap_backend_info: NULL name or info, or size 0");
	if ((st = find_named(name, &be)) != CMAP_OK)
		return st;
	memset(&i, 0, sizeof i);
	i.name = be->name;
	i.summary = be->summary;
	i.version = be->backend_version;
	i.caps = be->caps;
	i.n_options = be->n_options;
	cmap__copy_sized(info, size, &i, sizeof i);
	return CMAP_OK;
}

cmap_status_t
cmap_backend_option_sized(
    const char *name, size_t index, cmap_option_info_t *opt, size_t size)
{
	const struct cmap__backend *be;
	cmap_status_t st;

	if (name == NULL || opt == NULL || size == 0)
		return cmap__fail(CMAP_EINVAL,
		    "cmap_backend_option: NULL name or opt, or size 0");
	if ((st = find_named(name, &be)) != CMAP_OK)
		return st;
	if (index >= be->n_options)
		return cmap__fail(CMAP_EINVAL,
		    "backend '%s' has %zu options: no option %zu", name,
		    be->n_options, index);
	cmap__copy_sized(opt, size, &be->options[index], sizeof *opt);
	return CMAP_OK;
}

/* ---------------------------------------------------------- life cycle */

/* The shard count a map is labelled with: its option "shards", else 1. */
static uint32_t
shards_of(const struct cmap__backend *be, const union cmap__optval *vals)
{
	for (size_t k = 0; k < be->n_options; k++)
		if (strcmp(be->options[k].name, "shards") == 0 &&
		    be->options[k].type == CMAP_OPTION_UINT)
			return (uint32_t)vals[k].u;
	return 1;
}

cmap_status_t
cmap_create(const cmap_config_t *config, cmap_t **out)
{
	union cmap__optval vals[CMAP__MAX_OPTIONS];
	const struct cmap__backend *be;
	struct cmap__create_args args;
	struct cmap__metrics *mx = NULL;
	cmap_t *map = NULL;
	cmap_status_t st;

	if (config == NULL || out == NULL)
		return cmap__fail(
		    CMAP_EINVAL, "cmap_create: NULL config or out");
	if ((st = cmap__resolve(config, &be, &args, vals)) != CMAP_OK)
		return st;
	/* With metrics, the backend allocates through their counting
	 * allocator, which wraps the resolved one. */
	if (args.metrics) {
		mx = cmap__metrics_new(
		    &args.allocator, args.metrics_sample, &args.allocator);
		if (mx == NULL)
			return cmap__fail(CMAP_ENOMEM,
			    "backend '%s': out of memory for the metrics",
			    be->name);
	}
	if ((st = be->create(&args, &map)) != CMAP_OK) {
		cmap__metrics_free(mx);
		if (st == CMAP_ENOMEM)
			(void)cmap__fail(
			    st, "backend '%s': out of memory", be->name);
		return st;
	}
	map->be = be;
	map->metrics = mx;
	map->metrics_id = mx != NULL ? mx->id : 0;
	map->shards = shards_of(be, vals);
	if (mx != NULL)
		cmap__metrics_attach(mx);
	*out = map;
	return CMAP_OK;
}

void
cmap_destroy(cmap_t *map)
{
	struct cmap__metrics *mx;

	if (map == NULL)
		return;
	mx = map->metrics;
	map->be->destroy(map);
	cmap__map_free(map);
	cmap__metrics_free(mx);
}

const char *
cmap_backend(const cmap_t *map)
{
	return map != NULL ? map->be->name : NULL;
}

/* ------------------------------------------------- re-entrancy guard */

/*
 * The update callbacks running on this thread, innermost first: one
 * frame on the caller's stack per cmap_update in progress.  A call on a
 * map that has a frame here comes from inside that map's callback and
 * returns CMAP_ERECURSE (on rwlock and sharded it would deadlock on the
 * lock the callback runs under).  The list is empty except inside a
 * callback, so the check costs one thread-local load.  This thread-local
 * pointer is per thread, not shared state.
 */
struct update_frame {
	const cmap_t *map;
	struct update_frame *up;
};

#if defined(__GNUC__)
#define TLS_MODEL __attribute__((tls_model("initial-exec")))
#else
#define TLS_MODEL
#endif

static _Thread_local struct update_frame *update_frames TLS_MODEL;

static inline bool
in_update(const cmap_t *map)
{
	for (const struct update_frame *f = update_frames; f != NULL; f = f->up)
		if (f->map == map)
			return true;
	return false;
}

/* Common checks of every entry point taking a map. */
#define CHECK_MAP(map)                                                         \
	do {                                                                   \
		if (CMAP_UNLIKELY((map) == NULL))                              \
			return CMAP_EINVAL;                                    \
		if (CMAP_UNLIKELY(update_frames != NULL) && in_update(map))    \
			return CMAP_ERECURSE;                                  \
	} while (0)

/* ------------------------------------------------------------ metrics */

/*
 * A call on a map with metrics (metrics.h): counted, sometimes timed, and
 * with cmap__mcur pointing at its counters while it runs.  The hot calls
 * branch on the header's `metrics` only, to an out-of-line metered copy
 * of themselves (inlined, it would make clang set up a frame for every
 * call, metrics or not: without them a call ends in a jump to the
 * backend); its common case (cmap__metrics_fast: the thread's last
 * record, call not timed) is METERED, the rest METERED_SLOW, out of line.
 */
#define METERED(o, call)                                                       \
	do {                                                                   \
		cmap_status_t st_;                                             \
                                                                               \
		cmap__mcur = (o);                                              \
		st_ = (call);                                                  \
		cmap__mcur = NULL;                                             \
		cmap__metrics_count((o), st_);                                 \
		return st_;                                                    \
	} while (0)

#define METERED_SLOW(map, op, call)                                            \
	do {                                                                   \
		struct cmap__mcall mc_;                                        \
		cmap_status_t st_;                                             \
                                                                               \
		cmap__metrics_enter((map), (op), &mc_);                        \
		st_ = (call);                                                  \
		cmap__metrics_leave(&mc_, st_);                                \
		return st_;                                                    \
	} while (0)

static CMAP_NOINLINE cmap_status_t
load_slow(cmap_t *map, uint64_t key, uint64_t *value)
{
	METERED_SLOW(map, CMAP_OP_LOAD, map->be->load(map, key, value));
}

static CMAP_NOINLINE cmap_status_t
load_metered(cmap_t *map, uint64_t key, uint64_t *value)
{
	struct cmap__mop *o = cmap__metrics_fast(map, CMAP_OP_LOAD);

	if (CMAP_UNLIKELY(o == NULL))
		return load_slow(map, key, value);
	METERED(o, map->be->load(map, key, value));
}

static CMAP_NOINLINE cmap_status_t
store_slow(cmap_t *map, uint64_t key, uint64_t value)
{
	METERED_SLOW(map, CMAP_OP_STORE, map->be->store(map, key, value));
}

static CMAP_NOINLINE cmap_status_t
store_metered(cmap_t *map, uint64_t key, uint64_t value)
{
	struct cmap__mop *o = cmap__metrics_fast(map, CMAP_OP_STORE);

	if (CMAP_UNLIKELY(o == NULL))
		return store_slow(map, key, value);
	METERED(o, map->be->store(map, key, value));
}

static const cmap_op_t req_op[CMAP_REQ_KIND_COUNT_] = {
    [CMAP_REQ_LOAD] = CMAP_OP_LOAD,
    [CMAP_REQ_STORE] = CMAP_OP_STORE,
    [CMAP_REQ_LOAD_OR_STORE] = CMAP_OP_LOAD_OR_STORE,
    [CMAP_REQ_LOAD_AND_DELETE] = CMAP_OP_LOAD_AND_DELETE,
    [CMAP_REQ_DELETE] = CMAP_OP_DELETE,
    [CMAP_REQ_SWAP] = CMAP_OP_SWAP,
    [CMAP_REQ_CAS] = CMAP_OP_COMPARE_AND_SWAP,
    [CMAP_REQ_CAD] = CMAP_OP_COMPARE_AND_DELETE,
    [CMAP_REQ_ADD] = CMAP_OP_ADD,
    [CMAP_REQ_UPDATE] = CMAP_OP_UPDATE,
};

/* An update callback that counts its runs: every backend that runs it
 * again after a lost race (lockfree, redis) shows in the retries.  It
 * puts cmap__mcur back after the caller's callback, which may have made
 * recorded calls on other maps (METERED leaves NULL behind). */
struct counted_update {
	cmap_update_fn fn;
	void *ctx;
	uint64_t runs;
	struct cmap__mop *op;
};

static cmap_update_action_t
counted_update_fn(uint64_t key, uint64_t *value, bool present, void *ctx)
{
	struct counted_update *c = ctx;
	cmap_update_action_t act;

	c->runs++;
	act = c->fn(key, value, present, c->ctx);
	cmap__mcur = c->op;
	return act;
}

static CMAP_NOINLINE cmap_status_t
exec_slow(cmap_t *map, struct cmap_req *req)
{
	struct counted_update cu;
	struct cmap__mcall mc;
	cmap_status_t st;

	cmap__metrics_enter(map, req_op[req->kind], &mc);
	if (req->kind == CMAP_REQ_UPDATE) {
		cu.fn = req->fn;
		cu.ctx = req->ctx;
		cu.runs = 0;
		cu.op = mc.op;
		req->fn = counted_update_fn;
		req->ctx = &cu;
	}
	st = map->be->exec(map, req);
	if (req->kind == CMAP_REQ_UPDATE && cu.runs > 1 && mc.op != NULL)
		cmap__mbump(&mc.op->retries, cu.runs - 1);
	cmap__metrics_leave(&mc, st);
	return st;
}

static CMAP_NOINLINE cmap_status_t
exec_metered(cmap_t *map, struct cmap_req *req, cmap_op_t op)
{
	struct cmap__mop *o =
	    op != CMAP_OP_UPDATE ? cmap__metrics_fast(map, op) : NULL;

	if (CMAP_UNLIKELY(o == NULL))
		return exec_slow(map, req);
	METERED(o, map->be->exec(map, req));
}

/* --------------------------------------------------- single-key ops */

/* A request of kind op (a constant in each caller, so that the common
 * case of a recorded call folds to a few instructions, as for loads). */
static inline cmap_status_t
exec(cmap_t *map, struct cmap_req *req, cmap_op_t op)
{
	if (CMAP_UNLIKELY(map->metrics != NULL))
		return exec_metered(map, req, op);
	return map->be->exec(map, req);
}

cmap_status_t
cmap_load(cmap_t *map, uint64_t key, uint64_t *value)
{
	CHECK_MAP(map);
	if (CMAP_UNLIKELY(value == NULL))
		return CMAP_EINVAL;
	if (CMAP_UNLIKELY(map->metrics != NULL))
		return load_metered(map, key, value);
	return map->be->load(map, key, value);
}

cmap_status_t
cmap_store(cmap_t *map, uint64_t key, uint64_t value)
{
	CHECK_MAP(map);
	if (CMAP_UNLIKELY(map->metrics != NULL))
		return store_metered(map, key, value);
	return map->be->store(map, key, value);
}

cmap_status_t
cmap_load_or_store(cmap_t *map, uint64_t key, uint64_t value, uint64_t *actual)
{
	struct cmap_req req = {
	    .kind = CMAP_REQ_LOAD_OR_STORE, .key = key, .a = value};
	cmap_status_t st;

	CHECK_MAP(map);
	if (actual == NULL)
		return CMAP_EINVAL;
	st = exec(map, &req, CMAP_OP_LOAD_OR_STORE);
	if (!cmap_is_error(st))
		*actual = req.out;
	return st;
}

cmap_status_t
cmap_load_and_delete(cmap_t *map, uint64_t key, uint64_t *value)
{
	struct cmap_req req = {.kind = CMAP_REQ_LOAD_AND_DELETE, .key = key};
	cmap_status_t st;

	CHECK_MAP(map);
	if (value == NULL)
		return CMAP_EINVAL;
	st = exec(map, &req, CMAP_OP_LOAD_AND_DELETE);
	if (st == CMAP_OK)
		*value = req.out;
	return st;
}

cmap_status_t
cmap_delete(cmap_t *map, uint64_t key)
{
	struct cmap_req req = {.kind = CMAP_REQ_DELETE, .key = key};

	CHECK_MAP(map);
	return exec(map, &req, CMAP_OP_DELETE);
}

cmap_status_t
cmap_swap(cmap_t *map, uint64_t key, uint64_t value, uint64_t *previous)
{
	struct cmap_req req = {.kind = CMAP_REQ_SWAP, .key = key, .a = value};
	cmap_status_t st;

	CHECK_MAP(map);
	st = exec(map, &req, CMAP_OP_SWAP);
	if (st == CMAP_OK && previous != NULL)
		*previous = req.out;
	return st;
}

cmap_status_t
cmap_compare_and_swap(
    cmap_t *map, uint64_t key, uint64_t expected, uint64_t desired)
{
	struct cmap_req req = {
	    .kind = CMAP_REQ_CAS, .key = key, .a = expected, .b = desired};

	CHECK_MAP(map);
	return exec(map, &req, CMAP_OP_COMPARE_AND_SWAP);
}

cmap_status_t
cmap_compare_and_delete(cmap_t *map, uint64_t key, uint64_t expected)
{
	struct cmap_req req = {.kind = CMAP_REQ_CAD, .key = key, .a = expected};

	CHECK_MAP(map);
	return exec(map, &req, CMAP_OP_COMPARE_AND_DELETE);
}

cmap_status_t
cmap_add(cmap_t *map, uint64_t key, uint64_t delta, uint64_t *result)
{
	struct cmap_req req = {.kind = CMAP_REQ_ADD, .key = key, .a = delta};
	cmap_status_t st;

	CHECK_MAP(map);
	st = exec(map, &req, CMAP_OP_ADD);
	if (!cmap_is_error(st) && result != NULL)
		*result = req.out;
	return st;
}

cmap_status_t
cmap_update(cmap_t *map, uint64_t key, cmap_update_fn fn, void *ctx,
    uint64_t *value_out)
{
	struct cmap_req req = {
	    .kind = CMAP_REQ_UPDATE, .key = key, .fn = fn, .ctx = ctx};
	struct update_frame frame;
	cmap_status_t st;

	CHECK_MAP(map);
	if (fn == NULL)
		return CMAP_EINVAL;
	frame.map = map;
	frame.up = update_frames;
	update_frames = &frame;
	st = exec(map, &req, CMAP_OP_UPDATE);
	update_frames = frame.up;
	if ((st == CMAP_OK || st == CMAP_INSERTED) && value_out != NULL)
		*value_out = req.out;
	return st;
}

/* ---------------------------------------------------- whole-map ops */

/* A range callback that puts cmap__mcur back after the caller's, which
 * may have made recorded calls (METERED leaves NULL behind). */
struct metered_range {
	cmap_range_fn fn;
	void *ctx;
	struct cmap__mop *op;
};

static bool
metered_range_fn(uint64_t key, uint64_t value, void *ctx)
{
	struct metered_range *m = ctx;
	bool more = m->fn(key, value, m->ctx);

	cmap__mcur = m->op;
	return more;
}

static CMAP_NOINLINE cmap_status_t
range_metered(cmap_t *map, cmap_range_fn fn, void *ctx)
{
	struct metered_range m = {fn, ctx, NULL};
	struct cmap__mcall mc;
	cmap_status_t st;

	cmap__metrics_enter(map, CMAP_OP_RANGE, &mc);
	m.op = mc.op;
	st = map->be->range(map, metered_range_fn, &m);
	cmap__metrics_leave(&mc, st);
	return st;
}

cmap_status_t
cmap_range(cmap_t *map, cmap_range_fn fn, void *ctx)
{
	CHECK_MAP(map);
	if (fn == NULL)
		return CMAP_EINVAL;
	if (map->metrics != NULL)
		return range_metered(map, fn, ctx);
	return map->be->range(map, fn, ctx);
}

size_t
cmap_len(const cmap_t *map)
{
	return map != NULL ? map->be->len(map) : 0;
}

cmap_status_t
cmap_clear(cmap_t *map)
{
	CHECK_MAP(map);
	if (map->metrics != NULL)
		METERED_SLOW(map, CMAP_OP_CLEAR, map->be->clear(map));
	return map->be->clear(map);
}

cmap_status_t
cmap_reserve(cmap_t *map, size_t entries)
{
	CHECK_MAP(map);
	if (map->metrics != NULL)
		METERED_SLOW(
		    map, CMAP_OP_RESERVE, map->be->reserve(map, entries));
	return map->be->reserve(map, entries);
}

static cmap_status_t
sync_call(cmap_t *map)
{
	const struct cmap__backend *be = map->be;

	if (be->version >= CMAP__BACKEND_V3 && be->sync != NULL)
		return be->sync(map);
	return CMAP_OK;
}

cmap_status_t
cmap_sync(cmap_t *map)
{
	CHECK_MAP(map);
	if (map->metrics != NULL)
		METERED_SLOW(map, CMAP_OP_SYNC, sync_call(map));
	return sync_call(map);
}

cmap_status_t
cmap_stats_sized(cmap_t *map, cmap_stats_t *stats, size_t size)
{
	cmap_stats_t st;
	cmap_status_t s;

	CHECK_MAP(map);
	if (stats == NULL || size == 0)
		return CMAP_EINVAL;
	memset(&st, 0, sizeof st);
	s = map->be->stats(map, &st);
	if (s != CMAP_OK)
		return s;
	st.backend = map->be->name;
	st.seed = map->seed;
	cmap__copy_sized(stats, size, &st, sizeof st);
	return CMAP_OK;
}

/* ------------------------------------------------------------ batches */

/*
 * The three batch calls: their argument checks (the values are needed
 * by loads and stores), then the backend's batch path when it has one
 * (descriptor version 2), else key by key through the single-key entry
 * points.
 */
static cmap_status_t
batch_run(cmap_t *map, const struct cmap__batch *b, size_t n)
{
	const struct cmap__backend *be = map->be;

	if (be->version >= CMAP__BACKEND_V2 && be->batch != NULL)
		return be->batch(map, b, n);
	for (size_t i = 0; i < n; i++) {
		switch (b->kind) {
		case CMAP__BATCH_LOAD:
			b->status[i] = be->load(map, b->keys[i], &b->out[i]);
			break;
		case CMAP__BATCH_STORE:
			b->status[i] = be->store(map, b->keys[i], b->in[i]);
			break;
		case CMAP__BATCH_DELETE: {
			struct cmap_req req = {
			    .kind = CMAP_REQ_DELETE, .key = b->keys[i]};

			b->status[i] = be->exec(map, &req);
			break;
		}
		}
	}
	return cmap__batch_result(n, b->status);
}

static const cmap_op_t batch_op[] = {
    [CMAP__BATCH_LOAD] = CMAP_OP_LOAD_BATCH,
    [CMAP__BATCH_STORE] = CMAP_OP_STORE_BATCH,
    [CMAP__BATCH_DELETE] = CMAP_OP_DELETE_BATCH,
};

static cmap_status_t
batch(cmap_t *map, const struct cmap__batch *b, size_t n)
{
	struct cmap__mcall mc;
	cmap_status_t st;

	CHECK_MAP(map);
	if (n == 0)
		return CMAP_OK;
	if (b->keys == NULL || b->status == NULL ||
	    (b->kind != CMAP__BATCH_DELETE && b->in == NULL && b->out == NULL))
		return CMAP_EINVAL;
	if (CMAP_LIKELY(map->metrics == NULL))
		return batch_run(map, b, n);
	cmap__metrics_enter(map, batch_op[b->kind], &mc);
	st = batch_run(map, b, n);
	cmap__metrics_leave_batch(&mc, n, b->status);
	return st;
}

/* ------------------------------------------------------ metrics calls */

cmap_status_t
cmap_metrics_sized(cmap_t *map, cmap_metrics_t *out, size_t size)
{
	CHECK_MAP(map);
	if (out == NULL || size == 0)
		return CMAP_EINVAL;
	return cmap__metrics_get(map, out, size);
}

cmap_status_t
cmap_metrics_op_sized(
    cmap_t *map, cmap_op_t op, cmap_metrics_op_t *out, size_t size)
{
	CHECK_MAP(map);
	if (out == NULL || size == 0)
		return CMAP_EINVAL;
	return cmap__metrics_op_get(map, op, out, size);
}

cmap_status_t
cmap_load_batch(cmap_t *map, size_t n, const uint64_t *keys, uint64_t *values,
    cmap_status_t *status)
{
	struct cmap__batch b = {CMAP__BATCH_LOAD, keys, NULL, values, status};

	return batch(map, &b, n);
}

cmap_status_t
cmap_store_batch(cmap_t *map, size_t n, const uint64_t *keys,
    const uint64_t *values, cmap_status_t *status)
{
	struct cmap__batch b = {CMAP__BATCH_STORE, keys, values, NULL, status};

	return batch(map, &b, n);
}

cmap_status_t
cmap_delete_batch(
    cmap_t *map, size_t n, const uint64_t *keys, cmap_status_t *status)
{
	struct cmap__batch b = {CMAP__BATCH_DELETE, keys, NULL, NULL, status};

	return batch(map, &b, n);
}
