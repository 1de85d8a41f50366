/*
 * fuzz_diff.c - differential fuzzing of every backend against a trivial
 * reference model, through the public API only.
 *
 * INPUT FORMAT (every byte string is a valid input)
 *
 *   byte 0   capacity hint: 0, 1, 16, 100, 1000 (value % 5)
 *   byte 1   shard count: 1, 2, 4, 32 (value % 4)
 *   byte 2   bit 0: make the first cmap_create fail its first allocation
 *            (must return CMAP_ENOMEM and leak nothing)
 *   then operations, each an opcode byte, a key and a value:
 *     key    a byte < 232 picks one of 24 keys (small ints, 0, edge
 *            values); otherwise the next 8 bytes are the key
 *     value  a byte < 240 picks one of 16 values; otherwise 8 raw bytes
 *   opcodes (byte % 18): load, store, load_or_store, load_and_delete,
 *   delete, swap, CAS, compare_and_delete, add, update (4 modes, one of
 *   which calls back into the map and must get CMAP_ERECURSE), range with
 *   a full comparison, range deleting the odd-valued entries from inside
 *   the callback, range stopped early, len, clear, reserve, stats, and
 *   "fail the n-th allocation of the next operation" (n = 1..3).
 *
 * Every backend runs the same operations with its own model and its own
 * counting allocator.  An injected failure may hit one backend and not
 * another (their tables grow at different moments), so each backend's
 * model only skips an operation that returned CMAP_ENOMEM, and only when
 * an allocation of that backend really failed during it and the operation
 * could have needed memory.  After every operation the result and the out
 * values are compared; at the end, the whole contents (len, load of every
 * key, range), then destroy must give every byte back.
 *
 * Any difference prints the backend, the operation and the expectation
 * and calls abort(), which libFuzzer and the replay driver report.
 */
#include "fuzz_diff.h"

#include <inttypes.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmap.h"

struct fuzz_counts fuzz_counts;

/* Backends run per input: every one of the build, up to this many. */
#define FZ_MAX_BACKENDS 32

static const uint64_t fz_keys[24] = {
    0,
    1,
    2,
    3,
    4,
    5,
    6,
    7,
    8,
    9,
    10,
    11,
    12,
    13,
    UINT64_MAX,
    UINT64_MAX - 1,
    UINT64_C(1) << 63,
    (UINT64_C(1) << 63) - 1,
    UINT64_C(0xdeadbeefdeadbeef),
    UINT64_C(0x100000000),
    64,
    1024,
    UINT64_C(0x8000000000000001),
    UINT64_C(0xffffffff),
};
static const uint64_t fz_vals[16] = {
    0,
    1,
    2,
    3,
    4,
    5,
    6,
    7,
    UINT64_MAX,
    UINT64_MAX - 1,
    UINT64_C(1) << 63,
    100,
    1000,
    UINT64_C(0xdeadbeefdeadbeef),
    8,
    9,
};

/* ---------------------------------------------------- the allocator */

struct fz_alloc {
	atomic_long live;
	atomic_long fail_at; /* the fail_at-th allocation from now fails */
	atomic_long failed;
};

static void *
fz_alloc_fn(void *ctx, size_t size, size_t align)
{
	struct fz_alloc *a = ctx;
	long n = atomic_load(&a->fail_at);
	void *p;

	if (n > 0) {
		atomic_store(&a->fail_at, n - 1);
		if (n == 1) {
			atomic_fetch_add(&a->failed, 1);
			return NULL;
		}
	}
	if (align < sizeof(void *))
		align = sizeof(void *);
	if (posix_memalign(&p, align, size ? size : 1) != 0)
		return NULL;
	atomic_fetch_add(&a->live, (long)size);
	return p;
}

static void
fz_free_fn(void *ctx, void *ptr, size_t size)
{
	struct fz_alloc *a = ctx;

	atomic_fetch_sub(&a->live, (long)size);
	free(ptr);
}

/* ---------------------------------------------------- the model */

struct fz_model {
	uint64_t *k, *v;
	size_t n, cap;
};

static size_t
fz_find(const struct fz_model *m, uint64_t key)
{
	for (size_t i = 0; i < m->n; i++)
		if (m->k[i] == key)
			return i;
	return SIZE_MAX;
}

static void
fz_put(struct fz_model *m, uint64_t key, uint64_t val)
{
	size_t i = fz_find(m, key);

	if (i != SIZE_MAX) {
		m->v[i] = val;
		return;
	}
	if (m->n == m->cap) {
		m->cap = m->cap ? 2 * m->cap : 32;
		m->k = realloc(m->k, m->cap * sizeof *m->k);
		m->v = realloc(m->v, m->cap * sizeof *m->v);
		if (m->k == NULL || m->v == NULL)
			abort();
	}
	m->k[m->n] = key;
	m->v[m->n++] = val;
}

static void
fz_del(struct fz_model *m, uint64_t key)
{
	size_t i = fz_find(m, key);

	if (i != SIZE_MAX) {
		m->n--;
		m->k[i] = m->k[m->n];
		m->v[i] = m->v[m->n];
	}
}

/* ---------------------------------------------------- one backend */

struct fz_be {
	const char *backend;
	bool update_once; /* CMAP_CAP_UPDATE_ONCE */
	cmap_t *map;
	struct fz_model model;
	struct fz_alloc alloc;
};

struct fz_op {
	unsigned code;
	uint64_t key, val, val2;
	unsigned small; /* a small parameter: update mode, range limit, n */
};

static const char *const fz_op_names[18] = {
    "load",
    "store",
    "load_or_store",
    "load_and_delete",
    "delete",
    "swap",
    "cas",
    "compare_and_delete",
    "add",
    "update",
    "range",
    "range-delete-odd",
    "range-stop-early",
    "len",
    "clear",
    "reserve",
    "stats",
    "fail-next-alloc",
};

static void
fz_fail(const struct fz_be *b, const struct fz_op *op, const char *what,
    long long got, long long want)
{
	fprintf(stderr,
	    "fuzz_diff: backend %s, op %s(key %#" PRIx64 ", value %#" PRIx64
	    ", %#" PRIx64 ", param %u): %s: got %lld, "
	    "expected %lld\n",
	    b->backend, fz_op_names[op->code], op->key, op->val, op->val2,
	    op->small, what, got, want);
	abort();
}

#define FZ_EXPECT(b, op, what, got, want)                                      \
	do {                                                                   \
		if ((long long)(got) != (long long)(want))                     \
			fz_fail(                                               \
			    b, op, what, (long long)(got), (long long)(want)); \
	} while (0)

/* Update callback modes; mode 3 re-enters the map. */
struct fz_upd {
	cmap_t *map;
	unsigned mode;
	int calls;
	cmap_status_t reentry;
};

static cmap_update_action_t
fz_update_apply(unsigned mode, bool present, uint64_t *v)
{
	switch (mode) {
	case 0:
		return CMAP_UPDATE_KEEP;
	case 1:
		*v = present ? *v * 3 + 1 : 42;
		return CMAP_UPDATE_STORE;
	case 2:
		return CMAP_UPDATE_DELETE;
	default:
		*v += 7;
		return CMAP_UPDATE_STORE;
	}
}

static cmap_update_action_t
fz_update_cb(uint64_t key, uint64_t *value, bool present, void *ctx)
{
	struct fz_upd *u = ctx;
	uint64_t dummy;

	u->calls++;
	if (u->mode == 3) {
		cmap_status_t a = cmap_load(u->map, key, &dummy);
		cmap_status_t b = cmap_store(u->map, key ^ 1, 5);

		u->reentry = a == CMAP_ERECURSE && b == CMAP_ERECURSE
		    ? CMAP_ERECURSE
		    : (a != CMAP_ERECURSE ? a : b);
	}
	return fz_update_apply(u->mode, present, value);
}

struct fz_range {
	struct fz_be *b;
	const struct fz_op *op;
	unsigned char *seen; /* per model index */
	size_t visited, limit;
	bool delete_odd;
};

static bool
fz_range_cb(uint64_t key, uint64_t value, void *ctx)
{
	struct fz_range *r = ctx;
	size_t i = fz_find(&r->b->model, key);

	if (i == SIZE_MAX)
		fz_fail(r->b, r->op, "range showed a key not in the model",
		    (long long)key, 0);
	FZ_EXPECT(r->b, r->op, "range value", value, r->b->model.v[i]);
	FZ_EXPECT(r->b, r->op, "range showed a key twice", r->seen[i], 0);
	r->seen[i] = 1;
	r->visited++;
	if (r->delete_odd && (value & 1))
		FZ_EXPECT(r->b, r->op, "delete from inside range",
		    cmap_delete(r->b->map, key), CMAP_OK);
	return r->limit == 0 || r->visited < r->limit;
}

static void
fz_check_all(struct fz_be *b, const struct fz_op *op)
{
	struct fz_range r = {b, op, calloc(b->model.n + 1, 1), 0, 0, false};

	if (r.seen == NULL)
		abort();
	FZ_EXPECT(b, op, "cmap_len", cmap_len(b->map), b->model.n);
	for (size_t i = 0; i < b->model.n; i++) {
		uint64_t v = ~b->model.v[i];

		FZ_EXPECT(b, op, "load of a model key",
		    cmap_load(b->map, b->model.k[i], &v), CMAP_OK);
		FZ_EXPECT(b, op, "value of a model key", v == b->model.v[i], 1);
	}
	FZ_EXPECT(
	    b, op, "cmap_range", cmap_range(b->map, fz_range_cb, &r), CMAP_OK);
	FZ_EXPECT(b, op, "range visited", r.visited, b->model.n);
	free(r.seen);
}

/* Might this op need memory when the key is (not) present? */
static bool
fz_may_allocate(const struct fz_op *op, bool present)
{
	switch (op->code) {
	case 1:
	case 2:
	case 5:
	case 8:
		return !present;
	case 9:
		return !present && (op->small == 1 || op->small == 3);
	case 15:
		return true;
	default:
		return false;
	}
}

static void
fz_apply(struct fz_be *b, const struct fz_op *op, long arm)
{
	struct fz_model *m = &b->model;
	size_t i = fz_find(m, op->key);
	bool present = i != SIZE_MAX;
	uint64_t old = present ? m->v[i] : 0;
	const uint64_t S = UINT64_C(0x5a5a5a5a5a5a5a5a);
	uint64_t out = S;
	long failed_before = atomic_load(&b->alloc.failed);
	cmap_status_t st = CMAP_OK;

	atomic_store(&b->alloc.fail_at, arm);
	switch (op->code) {
	case 0:
		st = cmap_load(b->map, op->key, &out);
		break;
	case 1:
		st = cmap_store(b->map, op->key, op->val);
		break;
	case 2:
		st = cmap_load_or_store(b->map, op->key, op->val, &out);
		break;
	case 3:
		st = cmap_load_and_delete(b->map, op->key, &out);
		break;
	case 4:
		st = cmap_delete(b->map, op->key);
		break;
	case 5:
		st = cmap_swap(b->map, op->key, op->val, &out);
		break;
	case 6:
		st = cmap_compare_and_swap(b->map, op->key, op->val, op->val2);
		break;
	case 7:
		st = cmap_compare_and_delete(b->map, op->key, op->val);
		break;
	case 8:
		st = cmap_add(b->map, op->key, op->val, &out);
		break;
	case 9: {
		struct fz_upd u = {b->map, op->small, 0, CMAP_ERECURSE};

		st = cmap_update(b->map, op->key, fz_update_cb, &u, &out);
		FZ_EXPECT(b, op, "calls into the map from the update callback",
		    u.reentry, CMAP_ERECURSE);
		if (b->update_once)
			FZ_EXPECT(b, op, "update callback calls", u.calls, 1);
		else
			FZ_EXPECT(
			    b, op, "update callback ran", u.calls >= 1, 1);
		break;
	}
	case 10:
		atomic_store(&b->alloc.fail_at, 0);
		fz_check_all(b, op);
		return;
	case 11:
	case 12: {
		struct fz_range r = {b, op, calloc(m->n + 1, 1), 0,
		    op->code == 12 ? op->small + 1 : 0, op->code == 11};
		size_t n = m->n;

		if (r.seen == NULL)
			abort();
		FZ_EXPECT(b, op, "cmap_range",
		    cmap_range(b->map, fz_range_cb, &r), CMAP_OK);
		FZ_EXPECT(b, op, "entries visited", r.visited,
		    op->code == 12 && n > r.limit ? r.limit : n);
		free(r.seen);
		for (size_t j = 0; op->code == 11 && j < m->n;) {
			if (m->v[j] & 1)
				fz_del(m, m->k[j]);
			else
				j++;
		}
		atomic_store(&b->alloc.fail_at, 0);
		fuzz_counts.ops++;
		return;
	}
	case 13:
		FZ_EXPECT(b, op, "cmap_len", cmap_len(b->map), m->n);
		break;
	case 14:
		st = cmap_clear(b->map);
		break;
	case 15:
		st = cmap_reserve(b->map, (size_t)(op->val & 4095));
		break;
	case 16: {
		cmap_stats_t s;

		FZ_EXPECT(b, op, "cmap_stats", cmap_stats(b->map, &s), CMAP_OK);
		FZ_EXPECT(b, op, "stats.len", s.len, m->n);
		FZ_EXPECT(b, op, "stats.backend is the backend's name",
		    s.backend != NULL && strcmp(s.backend, b->backend) == 0, 1);
		break;
	}
	default:
		break;
	}
	atomic_store(&b->alloc.fail_at, 0);
	fuzz_counts.ops++;

	if (st == CMAP_ENOMEM) {
		/* Legal only if this backend's allocation failed now and the
		 * op could need memory; then nothing may have changed. */
		FZ_EXPECT(b, op, "ENOMEM without a failed allocation",
		    atomic_load(&b->alloc.failed) > failed_before, 1);
		FZ_EXPECT(b, op, "ENOMEM from an op that needs no memory",
		    fz_may_allocate(op, present), 1);
		if (op->code != 15)
			FZ_EXPECT(b, op, "out written on ENOMEM", out == S, 1);
		fuzz_counts.enomem++;
		fz_check_all(b, op);
		return;
	}

	switch (op->code) {
	case 0:
		FZ_EXPECT(
		    b, op, "status", st, present ? CMAP_OK : CMAP_NOT_FOUND);
		FZ_EXPECT(b, op, "value", out == (present ? old : S), 1);
		break;
	case 1:
		FZ_EXPECT(
		    b, op, "status", st, present ? CMAP_OK : CMAP_INSERTED);
		fz_put(m, op->key, op->val);
		break;
	case 2:
		FZ_EXPECT(
		    b, op, "status", st, present ? CMAP_OK : CMAP_INSERTED);
		FZ_EXPECT(b, op, "actual", out == (present ? old : op->val), 1);
		if (!present)
			fz_put(m, op->key, op->val);
		break;
	case 3:
	case 4:
		FZ_EXPECT(
		    b, op, "status", st, present ? CMAP_OK : CMAP_NOT_FOUND);
		if (op->code == 3)
			FZ_EXPECT(
			    b, op, "value", out == (present ? old : S), 1);
		fz_del(m, op->key);
		break;
	case 5:
		FZ_EXPECT(
		    b, op, "status", st, present ? CMAP_OK : CMAP_INSERTED);
		FZ_EXPECT(b, op, "previous", out == (present ? old : S), 1);
		fz_put(m, op->key, op->val);
		break;
	case 6:
	case 7:
		FZ_EXPECT(b, op, "status", st,
		    !present             ? CMAP_NOT_FOUND
		        : old != op->val ? CMAP_MISMATCH
		                         : CMAP_OK);
		if (present && old == op->val) {
			if (op->code == 6)
				fz_put(m, op->key, op->val2);
			else
				fz_del(m, op->key);
		}
		break;
	case 8:
		FZ_EXPECT(
		    b, op, "status", st, present ? CMAP_OK : CMAP_INSERTED);
		FZ_EXPECT(b, op, "result", out == old + op->val, 1);
		fz_put(m, op->key, old + op->val);
		break;
	case 9: {
		uint64_t v = old;
		cmap_update_action_t act =
		    fz_update_apply(op->small, present, &v);

		/* Present before: OK whatever fn says; absent: INSERTED
		 * when fn stores, NOT_FOUND otherwise. */
		FZ_EXPECT(b, op, "status", st,
		    present                        ? CMAP_OK
		        : act == CMAP_UPDATE_STORE ? CMAP_INSERTED
		                                   : CMAP_NOT_FOUND);
		if (act == CMAP_UPDATE_STORE)
			fz_put(m, op->key, v);
		else if (act == CMAP_UPDATE_DELETE)
			fz_del(m, op->key);
		if (fz_find(m, op->key) != SIZE_MAX)
			FZ_EXPECT(b, op, "value after update",
			    out == m->v[fz_find(m, op->key)], 1);
		break;
	}
	case 14:
		FZ_EXPECT(b, op, "status", st, CMAP_OK);
		m->n = 0;
		break;
	case 15:
		FZ_EXPECT(b, op, "status", st, CMAP_OK);
		break;
	default:
		break;
	}
	FZ_EXPECT(b, op, "cmap_len after the op", cmap_len(b->map), m->n);
}

/* ---------------------------------------------------- decoding */

struct fz_rd {
	const uint8_t *p;
	size_t n, i;
};

static uint8_t
fz_byte(struct fz_rd *r)
{
	return r->i < r->n ? r->p[r->i++] : 0;
}

static uint64_t
fz_u64(struct fz_rd *r)
{
	uint64_t x = 0;

	for (int i = 0; i < 8; i++)
		x = (x << 8) | fz_byte(r);
	return x;
}

static uint64_t
fz_key(struct fz_rd *r)
{
	uint8_t c = fz_byte(r);

	return c < 232 ? fz_keys[c % 24] : fz_u64(r);
}

static uint64_t
fz_val(struct fz_rd *r)
{
	uint8_t c = fz_byte(r);

	return c < 240 ? fz_vals[c % 16] : fz_u64(r);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const size_t caps[5] = {0, 1, 16, 100, 1000};
	static const uint32_t shards[4] = {1, 2, 4, 32};
	struct fz_be be[FZ_MAX_BACKENDS];
	const char *name;
	struct fz_rd r = {data, size, 0};
	size_t nb = 0, cap = caps[fz_byte(&r) % 5];
	uint32_t nsh = shards[fz_byte(&r) % 4];
	bool fail_create = fz_byte(&r) & 1;
	long arm = 0;

	fuzz_counts.inputs++;
	memset(be, 0, sizeof be);
	for (size_t bk = 0;
	     nb < FZ_MAX_BACKENDS && (name = cmap_backend_at(bk)) != NULL;
	     bk++) {
		struct fz_be *b = &be[nb];
		cmap_backend_info_t info;
		cmap_config_t cfg;
		cmap_t *m = NULL;

		if (cmap_backend_info(name, &info) != CMAP_OK)
			abort();
		/* A remote backend needs a server, which a fuzzer run has
		 * not: its operations are checked by the contract suite and
		 * the linearizability checker against a real one. */
		if (info.caps & CMAP_CAP_REMOTE)
			continue;
		/* A persistent backend would need a fresh directory per
		 * input and commits each write to a file: the fuzzer would
		 * spend its time in mkdir and fsync.  Its requests go through
		 * the same cmap__decide() as every backend's; the contract
		 * suite, test_lincheck and tests/persist check it. */
		if (info.caps & CMAP_CAP_PERSISTENT)
			continue;
		b->backend = name;
		b->update_once = (info.caps & CMAP_CAP_UPDATE_ONCE) != 0;
		cmap_config_init(&cfg);
		cfg.backend = b->backend;
		cfg.capacity = cap;
		cfg.shards = nsh;
		cfg.allocator.alloc = fz_alloc_fn;
		cfg.allocator.free = fz_free_fn;
		cfg.allocator.ctx = &b->alloc;
		if (fail_create) {
			atomic_store(&b->alloc.fail_at, 1);
			if (cmap_create(&cfg, &m) != CMAP_ENOMEM || m != NULL ||
			    atomic_load(&b->alloc.live) != 0) {
				fprintf(stderr,
				    "fuzz_diff: %s: failed create "
				    "did not return ENOMEM cleanly\n",
				    b->backend);
				abort();
			}
			atomic_store(&b->alloc.fail_at, 0);
			fuzz_counts.injected++;
		}
		if (cmap_create(&cfg, &b->map) != CMAP_OK)
			abort();
		nb++;
	}

	while (r.i < r.n) {
		struct fz_op op = {0};

		op.code = fz_byte(&r) % 18;
		op.key = fz_key(&r);
		op.val = fz_val(&r);
		op.val2 = op.code == 6 ? fz_val(&r) : 0;
		op.small = op.code == 9 ? (unsigned)(op.val & 3)
		    : op.code == 12     ? (unsigned)(op.val & 7)
		                        : 0;
		if (op.code == 17) {
			arm = 1 + (long)(op.val % 3);
			fuzz_counts.armed++;
			continue;
		}
		for (size_t i = 0; i < nb; i++) {
			long before = atomic_load(&be[i].alloc.failed);

			fz_apply(&be[i], &op, arm);
			fuzz_counts.injected +=
			    (unsigned long)(atomic_load(&be[i].alloc.failed) -
			        before);
		}
		arm = 0;
	}

	for (size_t i = 0; i < nb; i++) {
		struct fz_op fin = {.code = 10};

		fz_check_all(&be[i], &fin);
		cmap_destroy(be[i].map);
		if (atomic_load(&be[i].alloc.live) != 0) {
			fprintf(stderr, "fuzz_diff: %s leaked %ld bytes\n",
			    be[i].backend,
			    (long)atomic_load(&be[i].alloc.live));
			abort();
		}
		free(be[i].model.k);
		free(be[i].model.v);
	}
	return 0;
}

/* ---------------------------------------------------- generation */

size_t
fuzz_generate(uint64_t seed, uint8_t *buf, size_t cap)
{
	uint64_t s = seed * UINT64_C(0x9e3779b97f4a7c15) + 1;
	size_t n = 0, len;
	bool grow;

#define FZ_RND() (s ^= s << 13, s ^= s >> 7, s ^= s << 17, s)
	len = 16 + (size_t)(FZ_RND() % (cap > 16 ? cap - 16 : 1));
	grow = FZ_RND() % 2;
	while (n < len) {
		size_t need = 1 + 9 + 9 + 9;

		if (n + need > cap)
			break;
		if (n < 3) {
			buf[n++] = (uint8_t)FZ_RND();
			continue;
		}
		/* Structured op: opcode, key (raw keys often when growing),
		 * value. */
		{
			unsigned code = (unsigned)(FZ_RND() % 18);

			if (grow && FZ_RND() % 2)
				code = FZ_RND() % 2 ? 1u : 8u;
			buf[n++] = (uint8_t)code;
			if (grow && FZ_RND() % 3 == 0) {
				buf[n++] = 255;
				for (int i = 0; i < 8; i++)
					buf[n++] = (uint8_t)FZ_RND();
			} else {
				buf[n++] = (uint8_t)(FZ_RND() % 232);
			}
			buf[n++] = (uint8_t)FZ_RND();
			if (code == 6)
				buf[n++] = (uint8_t)FZ_RND();
		}
	}
#undef FZ_RND
	return n;
}
