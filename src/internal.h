/*
 * internal.h - what the front end (cmap.c) and the backends share.
 *
 * ARCHITECTURE
 *
 *   cmap.h (public API) -> cmap.c (argument checks, re-entrancy guard,
 *   result mapping) -> struct cmap_backend_ops (one const table per backend,
 *   looked up in registry.c) -> the backend file (backend_<name>.c) -> the
 *   shared open-addressing table (table.c), for plain, rwlock and sharded.
 *
 * Every single-key operation reaches a backend as one request (struct
 * cmap_req) through one entry point, ops->exec: a backend locks (or not)
 * and hands the request to the table core, which finds the key once and
 * then applies the operation.  The front end has already checked every
 * argument, so a backend never sees a NULL map, a NULL required out
 * pointer or an unknown request kind.
 *
 * ADDING A BACKEND
 *
 *   1. write src/backend_<name>.c defining
 *        const struct cmap_backend_ops cmap__<name>_ops = { ... };
 *      whose create() allocates a struct that begins with struct cmap;
 *   2. add one enum value in cmap.h (append only) and one line in
 *      registry.c;
 *   3. add the file to CMAKE's source list.
 *   The contract suite (tests/) then runs over it with no other change.
 */
#ifndef CMAP_INTERNAL_H
#define CMAP_INTERNAL_H

#include "cmap.h"

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define CMAP_CACHE_LINE 64

#if defined(__GNUC__)
#define CMAP_LIKELY(x) __builtin_expect(!!(x), 1)
#define CMAP_UNLIKELY(x) __builtin_expect(!!(x), 0)
#define CMAP_HIDDEN __attribute__((visibility("hidden")))
#else
#define CMAP_LIKELY(x) (x)
#define CMAP_UNLIKELY(x) (x)
#define CMAP_HIDDEN
#endif

/*
 * Valgrind's helgrind and DRD know pthread locks, not the C11-atomic locks of lock.h: with
 * -DCMAP_HELGRIND=ON the build tells them, through their client requests,
 * where each lock is taken and released (a few instructions, no effect
 * outside valgrind).  Fields read without the lock on purpose (the
 * relaxed counters and prefetch hints) are declared benign races there.
 */
#if CMAP_HELGRIND
#include <valgrind/helgrind.h>
#define CMAP_HG_CREATE(l) ANNOTATE_RWLOCK_CREATE(l)
#define CMAP_HG_DESTROY(l) ANNOTATE_RWLOCK_DESTROY(l)
#define CMAP_HG_ACQUIRED(l, w) ANNOTATE_RWLOCK_ACQUIRED(l, w)
#define CMAP_HG_RELEASED(l, w) ANNOTATE_RWLOCK_RELEASED(l, w)
#define CMAP_HG_BENIGN(p, why) ANNOTATE_BENIGN_RACE_SIZED(p, sizeof *(p), why)
#else
#define CMAP_HG_CREATE(l) ((void)(l))
#define CMAP_HG_DESTROY(l) ((void)(l))
#define CMAP_HG_ACQUIRED(l, w) ((void)(l))
#define CMAP_HG_RELEASED(l, w) ((void)(l))
#define CMAP_HG_BENIGN(p, why) ((void)(p))
#endif

/* ---------------------------------------------------------------------
 * Requests: one single-key operation, as the backends see it.
 * ------------------------------------------------------------------- */
enum cmap_req_kind {
	CMAP_REQ_LOAD,            /* -> OK (out = value) | NOT_FOUND */
	CMAP_REQ_STORE,           /* a = value -> OK */
	CMAP_REQ_LOAD_OR_STORE,   /* a = value -> OK (inserted) | EXISTS; out */
	CMAP_REQ_LOAD_AND_DELETE, /* -> OK (out = old) | NOT_FOUND */
	CMAP_REQ_DELETE,          /* -> OK | NOT_FOUND */
	CMAP_REQ_SWAP,            /* a = value -> OK (out = old) | NOT_FOUND */
	CMAP_REQ_CAS,             /* a = expected, b = desired -> OK|MISMATCH|NF */
	CMAP_REQ_CAD,             /* a = expected -> OK | MISMATCH | NOT_FOUND */
	CMAP_REQ_ADD,             /* a = delta -> OK | NOT_FOUND (inserted); out */
	CMAP_REQ_UPDATE,          /* fn, ctx -> OK (out = value) | NOT_FOUND */
	CMAP_REQ_KIND_COUNT_
};

struct cmap_req {
	enum cmap_req_kind kind;
	uint64_t key;
	uint64_t a;
	uint64_t b;
	cmap_update_fn fn;
	void *ctx;
	uint64_t out; /* result value, as the kind says above */
};

/* True for the kinds that never change the map. */
static inline int
cmap__req_is_read(enum cmap_req_kind kind)
{
	return kind == CMAP_REQ_LOAD;
}

/*
 * What a request does to its key, given whether the key is present and
 * its value: the semantics of every kind, written once.  Sets req->out as
 * the kind says, *act to what must happen to the key and *value to the
 * value to store for CMAP_ACT_SET.  Returns the request's status, or
 * CMAP_EINVAL for an update callback's unknown action (then CMAP_ACT_NONE).
 * A backend calls it where it holds the key (under its lock, or with the
 * value it is about to CAS); it may call it again after a lost race, which
 * re-runs an update callback.
 */
enum cmap_act { CMAP_ACT_NONE, CMAP_ACT_SET, CMAP_ACT_DELETE };

static inline cmap_status_t
cmap__req_apply(struct cmap_req *req, int present, uint64_t old,
    enum cmap_act *act, uint64_t *value)
{
	uint64_t v;

	*act = CMAP_ACT_NONE;
	switch (req->kind) {
	case CMAP_REQ_LOAD:
		if (!present)
			return CMAP_NOT_FOUND;
		req->out = old;
		return CMAP_OK;
	case CMAP_REQ_STORE:
		*act = CMAP_ACT_SET;
		*value = req->a;
		return CMAP_OK;
	case CMAP_REQ_LOAD_OR_STORE:
		if (present) {
			req->out = old;
			return CMAP_EXISTS;
		}
		req->out = req->a;
		*act = CMAP_ACT_SET;
		*value = req->a;
		return CMAP_OK;
	case CMAP_REQ_LOAD_AND_DELETE:
	case CMAP_REQ_DELETE:
		if (!present)
			return CMAP_NOT_FOUND;
		req->out = old;
		*act = CMAP_ACT_DELETE;
		return CMAP_OK;
	case CMAP_REQ_SWAP:
		*act = CMAP_ACT_SET;
		*value = req->a;
		if (!present)
			return CMAP_NOT_FOUND;
		req->out = old;
		return CMAP_OK;
	case CMAP_REQ_CAS:
	case CMAP_REQ_CAD:
		if (!present)
			return CMAP_NOT_FOUND;
		req->out = old;
		if (old != req->a)
			return CMAP_MISMATCH;
		*act = req->kind == CMAP_REQ_CAS ? CMAP_ACT_SET :
		    CMAP_ACT_DELETE;
		*value = req->b;
		return CMAP_OK;
	case CMAP_REQ_ADD:
		req->out = (present ? old : 0) + req->a;
		*act = CMAP_ACT_SET;
		*value = req->out;
		return present ? CMAP_OK : CMAP_NOT_FOUND;
	case CMAP_REQ_UPDATE:
		v = present ? old : 0;
		switch (req->fn(req->key, &v, present != 0, req->ctx)) {
		case CMAP_UPDATE_KEEP:
			if (!present)
				return CMAP_NOT_FOUND;
			req->out = old;
			return CMAP_OK;
		case CMAP_UPDATE_STORE:
			req->out = v;
			*act = CMAP_ACT_SET;
			*value = v;
			return CMAP_OK;
		case CMAP_UPDATE_DELETE:
			if (present)
				*act = CMAP_ACT_DELETE;
			return CMAP_NOT_FOUND;
		}
		return CMAP_EINVAL;
	case CMAP_REQ_KIND_COUNT_:
		break;
	}
	return CMAP_EINVAL;
}

/* ---------------------------------------------------------------------
 * The map header every backend's map struct begins with.
 * ------------------------------------------------------------------- */
struct cmap_backend_ops;

struct cmap {
	const struct cmap_backend_ops *ops;
	cmap_config_t config; /* resolved: seed != 0, allocator set, shards */
	size_t self_size;     /* bytes of the backend's map struct */
};

/* ---------------------------------------------------------------------
 * The backend vtable.  Append-only: a slot added later goes after the
 * marker of the version it belongs to, and the front end checks `version`
 * before calling it.  Slots of version 1 are all mandatory.
 * ------------------------------------------------------------------- */
#define CMAP_OPS_VERSION_1 1u

/* Capability bits a backend advertises. */
enum {
	CMAP_CAP_THREAD_SAFE = 1u << 0, /* any number of threads at once */
	CMAP_CAP_LOCK_FREE = 1u << 1,   /* no lock on any path */
	CMAP_CAP_UPDATE_ONCE = 1u << 2, /* update callback runs exactly once */
};

struct cmap_backend_ops {
	uint32_t version;      /* CMAP_OPS_VERSION_1 */
	cmap_backend_t id;
	const char *name;
	uint32_t caps;         /* CMAP_CAP_* */

	/*
	 * create: the config is resolved (seed non-zero, allocator set,
	 * shards a valid power of two).  Allocate the backend's struct
	 * (which begins with struct cmap) with cmap__map_new, set it up and
	 * store it in *out; on failure free what was allocated and return
	 * CMAP_ENOMEM.  The front end sets `ops` afterwards.
	 */
	cmap_status_t (*create)(const cmap_config_t *config, cmap_t **out);
	/* destroy: free what create set up, but not the struct itself
	 * (the front end frees it with cmap__map_free). */
	void (*destroy)(cmap_t *map);
	cmap_status_t (*exec)(cmap_t *map, struct cmap_req *req);
	cmap_status_t (*range)(cmap_t *map, cmap_range_fn fn, void *ctx);
	size_t (*len)(const cmap_t *map);
	cmap_status_t (*clear)(cmap_t *map);
	cmap_status_t (*reserve)(cmap_t *map, size_t entries);
	/* stats: backend, len, capacity, bytes, grows, shrinks, shards,
	 * min/max_shard_len, probes.  seed is filled by the front end. */
	cmap_status_t (*stats)(cmap_t *map, cmap_stats_t *stats);
	/* end of version 1 */
};

/* registry.c: the ops of a backend, or NULL when unknown/not built. */
CMAP_HIDDEN const struct cmap_backend_ops *cmap__backend_ops(
    cmap_backend_t backend);

/* ---------------------------------------------------------------------
 * Allocation through the map's hooks.
 * ------------------------------------------------------------------- */
static inline void *
cmap__alloc(const cmap_allocator_t *a, size_t size, size_t align)
{
	return a->alloc(a->ctx, size, align);
}

static inline void
cmap__free(const cmap_allocator_t *a, void *ptr, size_t size)
{
	if (ptr != NULL)
		a->free(a->ctx, ptr, size);
}

/*
 * cmap__map_new - allocate a backend's map struct of `size` bytes (which
 * begins with struct cmap), zeroed, cache-line aligned, with its header's
 * config and self_size filled in; NULL when the allocation fails.
 * cmap__map_free - free it again.
 */
CMAP_HIDDEN void *cmap__map_new(const cmap_config_t *config, size_t size);
CMAP_HIDDEN void cmap__map_free(cmap_t *map);

/* ---------------------------------------------------------------------
 * The seeded hash: a bijection of 64-bit words (xor with the seed, then
 * two multiply-xorshift rounds of the splitmix64/murmur3 finaliser), so
 * distinct keys always have distinct hashes.  Table slots use the high
 * bits, shards the low bits.
 * ------------------------------------------------------------------- */
static inline uint64_t
cmap__hash(uint64_t key, uint64_t seed)
{
	uint64_t x = key ^ seed;

	x ^= x >> 32;
	x *= UINT64_C(0xd6e8feb86659fd93);
	x ^= x >> 32;
	x *= UINT64_C(0xd6e8feb86659fd93);
	x ^= x >> 32;
	return x;
}

/* The inverse of cmap__hash: the key whose hash is h.  0xcfee...a89b is
 * the multiplicative inverse of the mixer's constant modulo 2^64. */
static inline uint64_t
cmap__unhash(uint64_t h, uint64_t seed)
{
	uint64_t x = h;

	x ^= x >> 32;
	x *= UINT64_C(0xcfee444d8b59a89b);
	x ^= x >> 32;
	x *= UINT64_C(0xcfee444d8b59a89b);
	x ^= x >> 32;
	return x ^ seed;
}

/* The plain backend's fatal misuse report: prints one line and aborts. */
CMAP_HIDDEN void cmap__misuse(const cmap_t *map, const char *what)
#if defined(__GNUC__)
    __attribute__((noreturn, cold))
#endif
    ;

#endif /* CMAP_INTERNAL_H */
