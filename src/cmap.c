/*
 * cmap.c - the front end: argument checks, configuration, the update
 * callback's re-entrancy guard, and the mapping from a public call to one
 * request through the backend's ops table.
 *
 * Every public entry point checks its arguments before anything else, so
 * a call that returns an error has touched nothing, and a backend never
 * sees a NULL map or a NULL required out pointer.
 */
#include "internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

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

/* ------------------------------------------------------------ backends */

bool
cmap_backend_available(cmap_backend_t backend)
{
	return cmap__backend_ops(backend) != NULL;
}

cmap_status_t
cmap_backend_from_name(const char *name, cmap_backend_t *out)
{
	if (name == NULL || out == NULL)
		return CMAP_EINVAL;
	for (int b = 0; b < CMAP_BACKEND_COUNT_; b++) {
		const char *n = cmap_backend_name((cmap_backend_t)b);

		if (n != NULL && strcmp(n, name) == 0) {
			*out = (cmap_backend_t)b;
			return CMAP_OK;
		}
	}
	return CMAP_EBACKEND;
}

/* ----------------------------------------------------- config, memory */

static void *
default_alloc(void *ctx, size_t size, size_t align)
{
	void *p;

	(void)ctx;
	if (align < sizeof(void *))
		align = sizeof(void *);
	return posix_memalign(&p, align, size ? size : 1) == 0 ? p : NULL;
}

static void
default_free(void *ctx, void *ptr, size_t size)
{
	(void)ctx;
	(void)size;
	free(ptr);
}

void
cmap_config_init(cmap_config_t *config)
{
	if (config == NULL)
		return;
	memset(config, 0, sizeof *config);
	config->backend = CMAP_BACKEND_PLAIN;
	config->shards = CMAP_DEFAULT_SHARDS;
}

/* A seed for a map that asked for a random one: the kernel's random
 * bytes, or if they are not to be had, a mix of clock, pid and address. */
static uint64_t
random_seed(const void *salt)
{
	uint64_t seed = 0;

	if (getrandom(&seed, sizeof seed, GRND_NONBLOCK) != (ssize_t)sizeof seed) {
		struct timespec ts;

		clock_gettime(CLOCK_MONOTONIC, &ts);
		seed = cmap__hash((uint64_t)ts.tv_nsec ^
		    ((uint64_t)ts.tv_sec << 32) ^ (uint64_t)getpid(),
		    (uint64_t)(uintptr_t)salt);
	}
	return seed != 0 ? seed : UINT64_C(0x9e3779b97f4a7c15);
}

#define KNOWN_FLAGS ((uint32_t)CMAP_FLAG_NO_MISUSE_CHECK)

static cmap_status_t
resolve_config(const cmap_config_t *in, cmap_config_t *out)
{
	*out = *in;
	if ((in->flags & ~KNOWN_FLAGS) != 0)
		return CMAP_EINVAL;
	if ((in->allocator.alloc == NULL) != (in->allocator.free == NULL))
		return CMAP_EINVAL;
	if (cmap__backend_ops(in->backend) == NULL)
		return CMAP_EBACKEND;
	if (in->allocator.alloc == NULL) {
		out->allocator.alloc = default_alloc;
		out->allocator.free = default_free;
		out->allocator.ctx = NULL;
	}
	if (out->shards == 0)
		out->shards = CMAP_DEFAULT_SHARDS;
	if (in->backend == CMAP_BACKEND_SHARDED &&
	    (out->shards > CMAP_MAX_SHARDS ||
	    (out->shards & (out->shards - 1)) != 0))
		return CMAP_ESHARDS;
	if (in->backend != CMAP_BACKEND_SHARDED)
		out->shards = 1;
	if (out->seed == 0)
		out->seed = random_seed(out);
	return CMAP_OK;
}

void *
cmap__map_new(const cmap_config_t *config, size_t size)
{
	struct cmap *m = cmap__alloc(&config->allocator, size, CMAP_CACHE_LINE);

	if (m == NULL)
		return NULL;
	memset(m, 0, size);
	m->config = *config;
	m->self_size = size;
	return m;
}

void
cmap__map_free(cmap_t *map)
{
	cmap_allocator_t a = map->config.allocator;

	cmap__free(&a, map, map->self_size);
}

/* ---------------------------------------------------------- life cycle */

cmap_status_t
cmap_create(const cmap_config_t *config, cmap_t **out)
{
	const struct cmap_backend_ops *ops;
	cmap_config_t resolved;
	cmap_t *map = NULL;
	cmap_status_t st;

	if (config == NULL || out == NULL)
		return CMAP_EINVAL;
	st = resolve_config(config, &resolved);
	if (st != CMAP_OK)
		return st;
	ops = cmap__backend_ops(resolved.backend);
	if (ops->version < CMAP_OPS_VERSION_1)
		return CMAP_EBACKEND;
	st = ops->create(&resolved, &map);
	if (st != CMAP_OK)
		return st;
	map->ops = ops;
	*out = map;
	return CMAP_OK;
}

void
cmap_destroy(cmap_t *map)
{
	if (map == NULL)
		return;
	map->ops->destroy(map);
	cmap__map_free(map);
}

cmap_backend_t
cmap_backend(const cmap_t *map)
{
	return map != NULL ? map->ops->id : CMAP_BACKEND_COUNT_;
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
	return map->ops->exec(map, req);
}

cmap_status_t
cmap_load(cmap_t *map, uint64_t key, uint64_t *value)
{
	struct cmap_req req = { .kind = CMAP_REQ_LOAD, .key = key };
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
cmap_store(cmap_t *map, uint64_t key, uint64_t value)
{
	struct cmap_req req = { .kind = CMAP_REQ_STORE, .key = key, .a = value };

	CHECK_MAP(map);
	return exec(map, &req);
}

cmap_status_t
cmap_load_or_store(cmap_t *map, uint64_t key, uint64_t value,
    uint64_t *actual)
{
	struct cmap_req req = { .kind = CMAP_REQ_LOAD_OR_STORE, .key = key,
		.a = value };
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
	struct cmap_req req = { .kind = CMAP_REQ_LOAD_AND_DELETE, .key = key };
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
	struct cmap_req req = { .kind = CMAP_REQ_DELETE, .key = key };

	CHECK_MAP(map);
	return exec(map, &req);
}

cmap_status_t
cmap_swap(cmap_t *map, uint64_t key, uint64_t value, uint64_t *previous)
{
	struct cmap_req req = { .kind = CMAP_REQ_SWAP, .key = key, .a = value };
	cmap_status_t st;

	CHECK_MAP(map);
	st = exec(map, &req);
	if (st == CMAP_OK && previous != NULL)
		*previous = req.out;
	return st;
}

cmap_status_t
cmap_compare_and_swap(cmap_t *map, uint64_t key, uint64_t expected,
    uint64_t desired)
{
	struct cmap_req req = { .kind = CMAP_REQ_CAS, .key = key,
		.a = expected, .b = desired };

	CHECK_MAP(map);
	return exec(map, &req);
}

cmap_status_t
cmap_compare_and_delete(cmap_t *map, uint64_t key, uint64_t expected)
{
	struct cmap_req req = { .kind = CMAP_REQ_CAD, .key = key,
		.a = expected };

	CHECK_MAP(map);
	return exec(map, &req);
}

cmap_status_t
cmap_add(cmap_t *map, uint64_t key, uint64_t delta, uint64_t *result)
{
	struct cmap_req req = { .kind = CMAP_REQ_ADD, .key = key, .a = delta };
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
	struct cmap_req req = { .kind = CMAP_REQ_UPDATE, .key = key,
		.fn = fn, .ctx = ctx };
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
	if (st == CMAP_OK && value_out != NULL)
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
	return map->ops->range(map, fn, ctx);
}

size_t
cmap_len(const cmap_t *map)
{
	return map != NULL ? map->ops->len(map) : 0;
}

cmap_status_t
cmap_clear(cmap_t *map)
{
	CHECK_MAP(map);
	return map->ops->clear(map);
}

cmap_status_t
cmap_reserve(cmap_t *map, size_t entries)
{
	CHECK_MAP(map);
	return map->ops->reserve(map, entries);
}

cmap_status_t
cmap_stats(cmap_t *map, cmap_stats_t *stats)
{
	cmap_stats_t st;
	cmap_status_t s;

	CHECK_MAP(map);
	if (stats == NULL)
		return CMAP_EINVAL;
	memset(&st, 0, sizeof st);
	s = map->ops->stats(map, &st);
	if (s != CMAP_OK)
		return s;
	st.backend = map->ops->id;
	st.seed = map->config.seed;
	*stats = st;
	return CMAP_OK;
}

/* ------------------------------------------------------ misuse report */

void
cmap__misuse(const cmap_t *map, const char *what)
{
	char line[256];
	int n = snprintf(line, sizeof line,
	    "cmap: fatal error: %s (backend %s, map %p)\n", what,
	    map->ops != NULL ? map->ops->name : "?", (const void *)map);

	if (n > 0) {
		ssize_t w = write(STDERR_FILENO, line,
		    (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
		(void)w;
	}
	abort();
}
