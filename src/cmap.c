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

/* Copy a filled struct of `have` bytes into the caller's of `size` bytes:
 * the common prefix, and zeros past what this library knows. */
static void
copy_sized(void *dst, size_t size, const void *src, size_t have)
{
	memcpy(dst, src, size < have ? size : have);
	if (size > have)
		memset((char *)dst + have, 0, size - have);
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
	copy_sized(info, size, &i, sizeof i);
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
	copy_sized(opt, size, &be->options[index], sizeof *opt);
	return CMAP_OK;
}

/* ---------------------------------------------------------- life cycle */

cmap_status_t
cmap_create(const cmap_config_t *config, cmap_t **out)
{
	union cmap__optval vals[CMAP__MAX_OPTIONS];
	const struct cmap__backend *be;
	struct cmap__create_args args;
	cmap_t *map = NULL;
	cmap_status_t st;

	if (config == NULL || out == NULL)
		return cmap__fail(
		    CMAP_EINVAL, "cmap_create: NULL config or out");
	if ((st = cmap__resolve(config, &be, &args, vals)) != CMAP_OK)
		return st;
	if ((st = be->create(&args, &map)) != CMAP_OK) {
		if (st == CMAP_ENOMEM)
			(void)cmap__fail(
			    st, "backend '%s': out of memory", be->name);
		return st;
	}
	map->be = be;
	*out = map;
	return CMAP_OK;
}

void
cmap_destroy(cmap_t *map)
{
	if (map == NULL)
		return;
	map->be->destroy(map);
	cmap__map_free(map);
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

/* --------------------------------------------------- single-key ops */

static inline cmap_status_t
exec(cmap_t *map, struct cmap_req *req)
{
	return map->be->exec(map, req);
}

cmap_status_t
cmap_load(cmap_t *map, uint64_t key, uint64_t *value)
{
	CHECK_MAP(map);
	if (CMAP_UNLIKELY(value == NULL))
		return CMAP_EINVAL;
	return map->be->load(map, key, value);
}

cmap_status_t
cmap_store(cmap_t *map, uint64_t key, uint64_t value)
{
	CHECK_MAP(map);
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
	st = exec(map, &req);
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
	st = exec(map, &req);
	if (st == CMAP_OK)
		*value = req.out;
	return st;
}

cmap_status_t
cmap_delete(cmap_t *map, uint64_t key)
{
	struct cmap_req req = {.kind = CMAP_REQ_DELETE, .key = key};

	CHECK_MAP(map);
	return exec(map, &req);
}

cmap_status_t
cmap_swap(cmap_t *map, uint64_t key, uint64_t value, uint64_t *previous)
{
	struct cmap_req req = {.kind = CMAP_REQ_SWAP, .key = key, .a = value};
	cmap_status_t st;

	CHECK_MAP(map);
	st = exec(map, &req);
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
	return exec(map, &req);
}

cmap_status_t
cmap_compare_and_delete(cmap_t *map, uint64_t key, uint64_t expected)
{
	struct cmap_req req = {.kind = CMAP_REQ_CAD, .key = key, .a = expected};

	CHECK_MAP(map);
	return exec(map, &req);
}

cmap_status_t
cmap_add(cmap_t *map, uint64_t key, uint64_t delta, uint64_t *result)
{
	struct cmap_req req = {.kind = CMAP_REQ_ADD, .key = key, .a = delta};
	cmap_status_t st;

	CHECK_MAP(map);
	st = exec(map, &req);
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
	st = exec(map, &req);
	update_frames = frame.up;
	if ((st == CMAP_OK || st == CMAP_INSERTED) && value_out != NULL)
		*value_out = req.out;
	return st;
}

/* ---------------------------------------------------- whole-map ops */

cmap_status_t
cmap_range(cmap_t *map, cmap_range_fn fn, void *ctx)
{
	CHECK_MAP(map);
	if (fn == NULL)
		return CMAP_EINVAL;
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
	return map->be->clear(map);
}

cmap_status_t
cmap_reserve(cmap_t *map, size_t entries)
{
	CHECK_MAP(map);
	return map->be->reserve(map, entries);
}

cmap_status_t
cmap_sync(cmap_t *map)
{
	const struct cmap__backend *be;

	CHECK_MAP(map);
	be = map->be;
	if (be->version >= CMAP__BACKEND_V3 && be->sync != NULL)
		return be->sync(map);
	return CMAP_OK;
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
	copy_sized(stats, size, &st, sizeof st);
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
batch(cmap_t *map, const struct cmap__batch *b, size_t n)
{
	const struct cmap__backend *be;

	CHECK_MAP(map);
	be = map->be;
	if (n == 0)
		return CMAP_OK;
	if (b->keys == NULL || b->status == NULL ||
	    (b->kind != CMAP__BATCH_DELETE && b->in == NULL && b->out == NULL))
		return CMAP_EINVAL;
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

			b->status[i] = exec(map, &req);
			break;
		}
		}
	}
	return cmap__batch_result(n, b->status);
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
