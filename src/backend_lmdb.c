/*
 * backend_lmdb.c - a map kept in an LMDB environment (a directory holding
 * data.mdb and lock.mdb): the entries survive the process.
 *
 * DESIGN (docs/design.md, "The lmdb backend", says why)
 *
 * One named database "cmap.u64" with MDB_INTEGERKEY holds the entries,
 * key and value 8 native-endian bytes each, so range order is numeric.
 *
 * Reads run on read-only transactions opened with MDB_NOTLS, so a
 * transaction is not tied to a thread: a pool of reset transactions, one
 * slot per processor, lets a load renew one (no lock, no allocation)
 * instead of beginning a new one.  A load never waits for a writer.
 *
 * Every single-key write runs in a write transaction: read the key,
 * cmap__decide() (req.h), put or delete, commit.  LMDB's writer mutex
 * makes the transactions of all threads and processes one at a time, so
 * every operation is atomic per key.  The durability modes:
 *   sync    one transaction and one flush per call;
 *   group   a caller queues its request; whoever finds no leader leads:
 *           it takes the whole queue, applies it in one transaction and
 *           one flush, and wakes the others (group commit).  Requests with
 *           an update callback skip the queue and commit on their own, so
 *           the callback runs on the caller's thread, exactly once;
 *   nosync  MDB_NOSYNC: commits reach the kernel, the disk at cmap_sync()
 *           or close.
 *
 * The map size.  LMDB maps the file with a fixed ceiling and fails a
 * transaction with MDB_MAP_FULL past it.  A writer checks, with the
 * writer mutex held and before it decides anything, that the free pages
 * above the last one used cover what its transaction can dirty (ROOM
 * below); if not, it aborts and grows the map (doubling it), so no
 * callback ever runs twice and no insert fails while the disk has room.
 * Growing remaps the file: no transaction of this process may be reading
 * pages meanwhile, so every read and write section holds `lock` shared,
 * and growing holds it exclusive (the brlock of lock.h: readers on
 * different processors touch different lines).
 *
 * Global state: LMDB forbids opening one environment twice in a process
 * (the second open would break the locks of the first), so open maps are
 * listed process-wide by device and inode of their directory (`opened`
 * below, under its mutex), and a second cmap_create on the same directory
 * returns CMAP_EBUSY.  This is the one global of the backend.
 *
 * Allocation: the map struct comes from the map's allocator hooks; LMDB
 * allocates its transactions, cursors and page buffers with malloc, which
 * the hooks do not see (cmap.h says so).
 */
#include "lock.h"
#include "metrics.h"

#include <errno.h>
#include <lmdb.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define LM_MAX_MAP (UINT64_C(1) << 46) /* the largest map size */
#define LM_ENTRY_BYTES 64u /* map bytes an entry needs, generously */

enum { OPT_PATH, OPT_DURABILITY, OPT_MAP_SIZE, OPT_COUNT };
enum lm_mode { MODE_SYNC, MODE_GROUP, MODE_NOSYNC };

static const char *const mode_names[] = {"sync", "group", "nosync"};

static const cmap_option_info_t lmdb_options[OPT_COUNT] = {
    [OPT_PATH] = {"path", CMAP_OPTION_STRING, NULL,
        "the map's directory (created if missing; holds data.mdb and "
        "lock.mdb)",
        0, 0, CMAP_OPTION_REQUIRED},
    [OPT_DURABILITY] = {"durability", CMAP_OPTION_STRING, "sync",
        "sync (on disk when a write returns), group (the same, concurrent "
        "writers share one flush) or nosync (on disk at cmap_sync/close)",
        0, 0, 0},
    [OPT_MAP_SIZE] = {"map_size", CMAP_OPTION_UINT, "67108864",
        "the initial map-size ceiling in bytes, doubled whenever a write "
        "needs more",
        UINT64_C(65536), LM_MAX_MAP, 0},
};

#define POOL 16u         /* reset read transactions kept, one per slot */
#define RANGE_BATCH 256u /* entries copied per cursor pass of a range */
#define ROOM(ops) (64u + 16u * (size_t)(ops)) /* free pages a txn needs */

struct lm_pool_slot {
	_Alignas(CMAP_CACHE_LINE) _Atomic(MDB_txn *) txn;
};

/* A request queued for group commit; lives on its caller's stack. */
struct lm_waiter {
	struct cmap_req *req;
	cmap_status_t st;
	int rc; /* the transaction's LMDB code: 0, or why it failed */
	bool done;
	struct lm_waiter *next;
};

struct lmdb_map {
	struct cmap base;
	MDB_env *env;
	MDB_dbi dbi;
	enum lm_mode mode;
	dev_t dev; /* the directory's identity, for `opened` */
	ino_t ino;
	pid_t pid; /* the process that opened it (a fork's child inherits
	              `opened` but not the open environments) */
	struct lmdb_map *next_open;
	atomic_uint_fast64_t grows;
	struct lm_pool_slot pool[POOL];
	/* group commit: the queue and whether a leader is committing */
	pthread_mutex_t gmu;
	pthread_cond_t gcv;
	struct lm_waiter *head, **tail;
	size_t queued, last_batch; /* requests queued; the last batch's */
	bool leading;
	struct cmap__brlock lock; /* last: its stripes follow it */
};

#define LM(m) ((struct lmdb_map *)(m))

/* The maps open in this process (see "Global state" above). */
static pthread_mutex_t opened_mu = PTHREAD_MUTEX_INITIALIZER;
static struct lmdb_map *opened;

/*
 * The write transaction whose update callback runs on this thread, so
 * that cmap_len from inside the callback reads that transaction instead
 * of taking the map's lock a second time.  Per thread, not shared.
 */
static _Thread_local struct lmdb_map *cb_map;
static _Thread_local MDB_txn *cb_txn;

/* ------------------------------------------------------------- errors */

/* A status for an LMDB or errno code, with the message set. */
static cmap_status_t
lm_fail(const struct lmdb_map *m, const char *what, int rc)
{
	const char *path = "?";
	cmap_status_t st;

	if (m != NULL && m->env != NULL)
		(void)mdb_env_get_path(m->env, &path);
	switch (rc) {
	case ENOMEM:
		st = CMAP_ENOMEM;
		break;
	case ENOSPC:
	case EFBIG:
	case EDQUOT:
	case MDB_MAP_FULL:
		st = CMAP_ENOSPC;
		break;
	case MDB_INVALID:
	case MDB_CORRUPTED:
	case MDB_PAGE_NOTFOUND:
	case MDB_VERSION_MISMATCH:
	case MDB_INCOMPATIBLE:
	case MDB_BAD_VALSIZE:
		st = CMAP_ECORRUPT;
		break;
	case MDB_READERS_FULL:
		st = CMAP_EBUSY;
		break;
	default:
		st = CMAP_EIO;
	}
	return cmap__fail(
	    st, "lmdb '%s': %s: %s", path, what, mdb_strerror(rc));
}

/* ------------------------------------------------------ map-size growth */

/*
 * Make the map at least `want` bytes, or adopt the size another process
 * set (want 0).  Holds the lock exclusive: no transaction of this process
 * is reading pages while the file is remapped.
 */
static int
lm_grow(struct lmdb_map *m, size_t want)
{
	MDB_envinfo info;
	int rc = 0;

	cmap__brlock_write_lock(&m->lock);
	(void)mdb_env_info(m->env, &info);
	if (want == 0 || info.me_mapsize < want) {
		uint64_t t0 = cmap__metrics_begin();

		rc = mdb_env_set_mapsize(m->env, want);
		if (rc == 0 && want != 0) {
			atomic_fetch_add(&m->grows, 1);
			cmap__metrics_resize();
		}
		cmap__metrics_work_end(t0);
	}
	cmap__brlock_write_unlock(&m->lock);
	return rc;
}

/*
 * Called in a fresh write transaction (writer mutex held, nothing decided
 * yet): 0 when the pages above the last used one cover ROOM(ops), else
 * MDB_MAP_FULL with the size to grow to in *want.
 */
static int
lm_check_room(struct lmdb_map *m, size_t ops, size_t *want)
{
	MDB_envinfo info;
	MDB_stat st;
	size_t pages;

	(void)mdb_env_info(m->env, &info);
	(void)mdb_env_stat(m->env, &st);
	pages = info.me_mapsize / st.ms_psize;
	if (pages > info.me_last_pgno + 1 + ROOM(ops))
		return 0;
	*want = info.me_mapsize * 2;
	while (*want / st.ms_psize <= info.me_last_pgno + 1 + ROOM(ops))
		*want *= 2;
	return MDB_MAP_FULL;
}

/* ---------------------------------------------------------- read side */

static unsigned
lm_slot(void)
{
	int cpu = sched_getcpu();

	return (unsigned)(cpu < 0 ? 0 : cpu) % POOL;
}

/*
 * A read transaction on the newest snapshot, from the pool when a slot
 * has one.  Call with the lock held shared.  MDB_MAP_RESIZED (another
 * process grew the map) is returned for the caller to adopt the size.
 */
static int
lm_rtxn(struct lmdb_map *m, MDB_txn **out)
{
	MDB_txn *t = atomic_exchange(&m->pool[lm_slot()].txn, NULL);
	int rc;

	if (t != NULL) {
		if ((rc = mdb_txn_renew(t)) == 0) {
			*out = t;
			return 0;
		}
		mdb_txn_abort(t);
		if (rc == MDB_MAP_RESIZED)
			return rc;
	}
	return mdb_txn_begin(m->env, NULL, MDB_RDONLY, out);
}

static void
lm_rtxn_done(struct lmdb_map *m, MDB_txn *t)
{
	MDB_txn *none = NULL;

	mdb_txn_reset(t);
	if (!atomic_compare_exchange_strong(&m->pool[lm_slot()].txn, &none, t))
		mdb_txn_abort(t);
}

/* Reads the value of an entry the cursor or mdb_get returned. */
static int
lm_value(const MDB_val *v, uint64_t *out)
{
	if (v->mv_size != sizeof *out)
		return MDB_CORRUPTED;
	memcpy(out, v->mv_data, sizeof *out);
	return 0;
}

/* Run fn(m, txn, arg) in a read transaction, holding the lock shared. */
typedef int (*lm_read_fn)(struct lmdb_map *m, MDB_txn *t, void *arg);

/*
 * Take the lock shared (its stripe in *s) and begin a read transaction,
 * adopting first a map size that another process grew.  The lock is held
 * on return, whatever the result.
 */
static int
lm_begin_read(struct lmdb_map *m, MDB_txn **t, unsigned *s)
{
	int rc;

	*s = cmap__brlock_read_lock(&m->lock);
	while ((rc = lm_rtxn(m, t)) == MDB_MAP_RESIZED) {
		cmap__brlock_read_unlock(&m->lock, *s);
		rc = lm_grow(m, 0);
		*s = cmap__brlock_read_lock(&m->lock);
		if (rc != 0)
			break;
	}
	return rc;
}

static int
lm_read(struct lmdb_map *m, lm_read_fn fn, void *arg)
{
	unsigned s;
	MDB_txn *t;
	int rc = lm_begin_read(m, &t, &s);

	if (rc == 0) {
		rc = fn(m, t, arg);
		lm_rtxn_done(m, t);
	}
	cmap__brlock_read_unlock(&m->lock, s);
	return rc;
}

struct lm_get_arg {
	uint64_t key;
	uint64_t *value;
	bool found;
};

static int
lm_get_fn(struct lmdb_map *m, MDB_txn *t, void *arg)
{
	struct lm_get_arg *a = arg;
	MDB_val k = {sizeof a->key, &a->key}, v;
	int rc = mdb_get(t, m->dbi, &k, &v);

	if (rc == MDB_NOTFOUND)
		return 0;
	if (rc == 0 && (rc = lm_value(&v, a->value)) == 0)
		a->found = true;
	return rc;
}

static cmap_status_t
lmdb_load(cmap_t *map, uint64_t key, uint64_t *value)
{
	struct lm_get_arg a = {key, value, false};
	int rc = lm_read(LM(map), lm_get_fn, &a);

	if (rc != 0)
		return lm_fail(LM(map), "load", rc);
	return a.found ? CMAP_OK : CMAP_NOT_FOUND;
}

/* ---------------------------------------------------------- write side */

/* Apply one request in write transaction t; its status to *st.  A non-zero
 * return is an LMDB error: the transaction must be aborted. */
static int
lm_apply(struct lmdb_map *m, MDB_txn *t, struct cmap_req *q, cmap_status_t *st)
{
	MDB_val k = {sizeof q->key, &q->key}, v;
	struct cmap_effect e;
	uint64_t old = 0, nv;
	cmap_status_t s;
	int rc = mdb_get(t, m->dbi, &k, &v);

	if (rc != 0 && rc != MDB_NOTFOUND)
		return rc;
	if (rc == 0 && (rc = lm_value(&v, &old)) != 0)
		return rc;
	if (q->kind == CMAP_REQ_UPDATE) {
		cb_map = m;
		cb_txn = t;
	}
	s = cmap__decide(q, rc == 0, old, &e);
	cb_map = NULL;
	if (cmap_is_error(s)) {
		*st = s;
		return 0;
	}
	if (e.act == CMAP_ACT_SET) {
		nv = e.value;
		v.mv_size = sizeof nv;
		v.mv_data = &nv;
		rc = mdb_put(t, m->dbi, &k, &v, 0);
	} else if (e.act == CMAP_ACT_DELETE) {
		rc = mdb_del(t, m->dbi, &k, NULL);
	}
	if (rc != 0 && rc != MDB_NOTFOUND)
		return rc;
	q->out = e.out;
	*st = s;
	return 0;
}

/*
 * The work of one write transaction: n requests, or a clear (reqs NULL).
 * Statuses go to st[i]; applied once per call, so a callback runs once.
 */
struct lm_work {
	struct cmap_req **reqs;
	cmap_status_t *st;
	size_t n;
};

static int
lm_txn_body(struct lmdb_map *m, MDB_txn *t, const struct lm_work *w)
{
	int rc = 0;

	if (w->reqs == NULL)
		return mdb_drop(t, m->dbi, 0);
	for (size_t i = 0; i < w->n && rc == 0; i++)
		rc = lm_apply(m, t, w->reqs[i], &w->st[i]);
	return rc;
}

/* True when re-running w could run an update callback a second time. */
static bool
lm_once_only(const struct lm_work *w)
{
	for (size_t i = 0; i < w->n && w->reqs != NULL; i++)
		if (w->reqs[i]->kind == CMAP_REQ_UPDATE)
			return true;
	return false;
}

/*
 * Run work w in one write transaction and commit it (with a flush unless
 * nosync).  Grows the map before anything is decided when the room is
 * short; adopts a size grown by another process.  Returns an LMDB code.
 */
static int
lm_write(struct lmdb_map *m, const struct lm_work *w)
{
	for (;;) {
		unsigned s = cmap__brlock_read_lock(&m->lock);
		size_t want = 0;
		MDB_txn *t;
		int rc = mdb_txn_begin(m->env, NULL, 0, &t);

		if (rc == 0 && (rc = lm_check_room(m, w->n, &want)) != 0) {
			mdb_txn_abort(t);
		} else if (rc == 0 && (rc = lm_txn_body(m, t, w)) != 0) {
			mdb_txn_abort(t);
		} else if (rc == 0) {
			rc = mdb_txn_commit(t); /* frees t, also on error */
		}
		cmap__brlock_read_unlock(&m->lock, s);
		/* MDB_MAP_FULL past the room check means ROOM was short: the
		 * work is redone on a doubled map unless that would run an
		 * update callback twice (then it fails, nothing changed). */
		if (rc == MDB_MAP_FULL && want == 0 && !lm_once_only(w)) {
			MDB_envinfo info;

			(void)mdb_env_info(m->env, &info);
			want = info.me_mapsize * 2;
		}
		if (rc != MDB_MAP_RESIZED && (rc != MDB_MAP_FULL || want == 0))
			return rc;
		if ((rc = lm_grow(m, rc == MDB_MAP_RESIZED ? 0 : want)) != 0)
			return rc;
	}
}

static cmap_status_t
lm_write_one(struct lmdb_map *m, struct cmap_req *q, const char *what)
{
	cmap_status_t st = CMAP_OK;
	struct lm_work w = {&q, &st, 1};
	int rc = lm_write(m, &w);

	return rc == 0 ? st : lm_fail(m, what, rc);
}

/*
 * Group commit: queue the request; the thread that finds no leader takes
 * the whole queue into one transaction and one flush.  Waiters sleep on
 * gcv; `done` and the statuses are written under gmu.
 */
static void
lm_lead(struct lmdb_map *m, struct lm_waiter *batch)
{
	struct cmap_req *reqs[64];
	cmap_status_t st[64];
	struct lm_waiter *w = batch, *first;

	while (w != NULL) {
		struct lm_work work = {reqs, st, 0};
		int rc;

		for (first = w; w != NULL && work.n < 64; w = w->next)
			reqs[work.n++] = w->req;
		rc = lm_write(m, &work);
		pthread_mutex_lock(&m->gmu);
		for (size_t i = 0; i < work.n; i++, first = first->next) {
			first->st = st[i];
			first->rc = rc;
			first->done = true;
		}
		pthread_mutex_unlock(&m->gmu);
	}
}

/*
 * Called by a new leader with gmu held.  The writers of the last batch
 * were all woken at once; the first to queue its next request leads, and
 * would commit it alone while the others queue behind it (batches of one,
 * then seven).  So it first yields, at most GATHER_YIELDS times, until as
 * many requests wait as the last batch held: microseconds, against a
 * flush's milliseconds.
 */
#define GATHER_YIELDS 32

static void
lm_gather(struct lmdb_map *m)
{
	for (int i = 0; i < GATHER_YIELDS && m->queued < m->last_batch; i++) {
		pthread_mutex_unlock(&m->gmu);
		sched_yield();
		pthread_mutex_lock(&m->gmu);
	}
}

static cmap_status_t
lm_group(struct lmdb_map *m, struct cmap_req *q)
{
	struct lm_waiter me = {q, CMAP_OK, 0, false, NULL};
	struct lm_waiter *batch;
	cmap_status_t st;

	pthread_mutex_lock(&m->gmu);
	*m->tail = &me;
	m->tail = &me.next;
	m->queued++;
	while (!me.done) {
		if (m->leading) {
			pthread_cond_wait(&m->gcv, &m->gmu);
			continue;
		}
		m->leading = true;
		lm_gather(m);
		batch = m->head;
		m->head = NULL;
		m->tail = &m->head;
		m->last_batch = m->queued;
		m->queued = 0;
		pthread_mutex_unlock(&m->gmu);
		lm_lead(m, batch);
		pthread_mutex_lock(&m->gmu);
		m->leading = false;
		pthread_cond_broadcast(&m->gcv);
	}
	st = me.st;
	pthread_mutex_unlock(&m->gmu);
	/* The message is set here, on the caller's thread. */
	return me.rc == 0 ? st : lm_fail(m, "group commit", me.rc);
}

static cmap_status_t
lmdb_exec(cmap_t *map, struct cmap_req *req)
{
	struct lmdb_map *m = LM(map);

	if (m->mode == MODE_GROUP && req->kind != CMAP_REQ_UPDATE)
		return lm_group(m, req);
	return lm_write_one(m, req, "write");
}

static cmap_status_t
lmdb_store(cmap_t *map, uint64_t key, uint64_t value)
{
	struct cmap_req req = {.kind = CMAP_REQ_STORE, .key = key, .a = value};

	return lmdb_exec(map, &req);
}

/* ------------------------------------------------------- whole map */

/*
 * Copy up to RANGE_BATCH entries from key *from on, in snapshot t, with
 * a cursor of its own (a cursor keeps page addresses, which a growth of
 * the map between two passes would leave dangling).  *more becomes false
 * at the end of the map.
 */
static int
lm_fill(struct lmdb_map *m, MDB_txn *t, uint64_t *from, bool *more,
    uint64_t *keys, uint64_t *vals, size_t *n)
{
	MDB_val k = {sizeof *from, from}, v;
	MDB_cursor *c;
	int rc = mdb_cursor_open(t, m->dbi, &c);

	*n = 0;
	if (rc != 0)
		return rc;
	rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
	while (rc == 0 && *n < RANGE_BATCH) {
		if (k.mv_size != sizeof *keys) {
			rc = MDB_CORRUPTED;
			break;
		}
		memcpy(&keys[*n], k.mv_data, sizeof *keys);
		if ((rc = lm_value(&v, &vals[*n])) != 0)
			break;
		(*n)++;
		rc = mdb_cursor_get(c, &k, &v, MDB_NEXT);
	}
	mdb_cursor_close(c);
	if (rc == MDB_NOTFOUND || (rc == 0 && keys[*n - 1] == UINT64_MAX)) {
		*more = false;
		return 0;
	}
	if (rc == 0)
		*from = keys[*n - 1] + 1;
	return rc;
}

/*
 * One read transaction for the whole walk, so it shows one snapshot;
 * the lock is held only while a batch is copied, never while fn runs (fn
 * may write, and a write may grow the map).
 */
static cmap_status_t
lmdb_range(cmap_t *map, cmap_range_fn fn, void *ctx)
{
	struct lmdb_map *m = LM(map);
	uint64_t keys[RANGE_BATCH], vals[RANGE_BATCH], from = 0;
	bool more = true, go = true;
	unsigned s;
	MDB_txn *t;
	size_t n;
	int rc = lm_begin_read(m, &t, &s);

	cmap__brlock_read_unlock(&m->lock, s);
	if (rc != 0)
		return lm_fail(m, "range", rc);
	while (more && go && rc == 0) {
		s = cmap__brlock_read_lock(&m->lock);
		rc = lm_fill(m, t, &from, &more, keys, vals, &n);
		cmap__brlock_read_unlock(&m->lock, s);
		for (size_t i = 0; i < n && go && rc == 0; i++)
			go = fn(keys[i], vals[i], ctx);
	}
	lm_rtxn_done(m, t);
	return rc == 0 ? CMAP_OK : lm_fail(m, "range", rc);
}

static int
lm_len_fn(struct lmdb_map *m, MDB_txn *t, void *arg)
{
	MDB_stat st;
	int rc = mdb_stat(t, m->dbi, &st);

	*(size_t *)arg = rc == 0 ? st.ms_entries : 0;
	return rc;
}

/* The entry count of the newest snapshot (from inside an update
 * callback: of the callback's own transaction).  0 on an I/O error. */
static size_t
lmdb_len(const cmap_t *map)
{
	struct lmdb_map *m = (struct lmdb_map *)(uintptr_t)map;
	size_t n = 0;

	if (cb_map == m)
		(void)lm_len_fn(m, cb_txn, &n);
	else
		(void)lm_read(m, lm_len_fn, &n);
	return n;
}

static cmap_status_t
lmdb_clear(cmap_t *map)
{
	cmap_status_t st = CMAP_OK;
	struct lm_work w = {NULL, &st, 0};
	int rc = lm_write(LM(map), &w);

	return rc == 0 ? CMAP_OK : lm_fail(LM(map), "clear", rc);
}

/*
 * A B-tree needs no reservation; the map size is grown to hold `entries`
 * at LM_ENTRY_BYTES each, so those inserts never stop to remap.  More
 * than the largest map_size allowed is CMAP_ENOMEM.
 */

static cmap_status_t
lmdb_reserve(cmap_t *map, size_t entries)
{
	int rc;

	if (entries > LM_MAX_MAP / LM_ENTRY_BYTES)
		return CMAP_ENOMEM;
	rc = lm_grow(LM(map), entries * LM_ENTRY_BYTES);
	return rc == 0 ? CMAP_OK : lm_fail(LM(map), "reserve", rc);
}

/*
 * len and the tree's depth from one snapshot; capacity is what the
 * current map size holds at LM_ENTRY_BYTES an entry; bytes is the map
 * struct (the entries live in the file).
 */
static int
lm_stats_fn(struct lmdb_map *m, MDB_txn *t, void *arg)
{
	cmap_stats_t *s = arg;
	MDB_envinfo info;
	MDB_stat st;
	int rc = mdb_stat(t, m->dbi, &st);

	if (rc != 0)
		return rc;
	(void)mdb_env_info(m->env, &info);
	s->len = st.ms_entries;
	s->capacity = info.me_mapsize / LM_ENTRY_BYTES;
	if (s->capacity < s->len)
		s->capacity = s->len;
	s->max_probe = st.ms_depth;
	s->mean_probe = st.ms_depth;
	return 0;
}

static cmap_status_t
lmdb_stats(cmap_t *map, cmap_stats_t *s)
{
	struct lmdb_map *m = LM(map);
	int rc = lm_read(m, lm_stats_fn, s);

	if (rc != 0)
		return lm_fail(m, "stats", rc);
	s->bytes = m->base.self_size;
	s->grows = atomic_load(&m->grows);
	s->shards = 1;
	s->min_shard_len = s->max_shard_len = s->len;
	return CMAP_OK;
}

static cmap_status_t
lmdb_sync(cmap_t *map)
{
	struct lmdb_map *m = LM(map);
	int rc = m->mode == MODE_NOSYNC ? mdb_env_sync(m->env, 1) : 0;

	return rc == 0 ? CMAP_OK : lm_fail(m, "sync", rc);
}

/* -------------------------------------------------------------- batch */

struct lm_load_arg {
	const struct cmap__batch *b;
	size_t i, n;
};

static int
lm_load_group(struct lmdb_map *m, MDB_txn *t, void *arg)
{
	struct lm_load_arg *a = arg;
	int rc = 0;

	for (size_t j = a->i; j < a->i + a->n && rc == 0; j++) {
		MDB_val k = {sizeof a->b->keys[j], (void *)&a->b->keys[j]}, v;

		rc = mdb_get(t, m->dbi, &k, &v);
		a->b->status[j] = rc == 0 ? CMAP_OK : CMAP_NOT_FOUND;
		if (rc == MDB_NOTFOUND)
			rc = 0;
		else if (rc == 0)
			rc = lm_value(&v, &a->b->out[j]);
	}
	return rc;
}

/* A group of stores or deletes in one write transaction (one flush). */
static int
lm_write_group(
    struct lmdb_map *m, const struct cmap__batch *b, size_t i, size_t n)
{
	struct cmap_req q[CMAP_BATCH_GROUP], *qp[CMAP_BATCH_GROUP];
	struct lm_work w = {qp, b->status + i, n};

	for (size_t j = 0; j < n; j++) {
		q[j] = (struct cmap_req){.key = b->keys[i + j]};
		q[j].kind = b->kind == CMAP__BATCH_STORE ? CMAP_REQ_STORE
		                                         : CMAP_REQ_DELETE;
		if (b->kind == CMAP__BATCH_STORE)
			q[j].a = b->in[i + j];
		qp[j] = &q[j];
	}
	return lm_write(m, &w);
}

/* Groups of CMAP_BATCH_GROUP keys share one transaction; a group whose
 * transaction fails gets the error for each of its keys. */
static cmap_status_t
lmdb_batch(cmap_t *map, const struct cmap__batch *b, size_t n)
{
	struct lmdb_map *m = LM(map);

	for (size_t i = 0; i < n; i += CMAP_BATCH_GROUP) {
		size_t g = n - i < CMAP_BATCH_GROUP ? n - i : CMAP_BATCH_GROUP;
		struct lm_load_arg a = {b, i, g};
		int rc = b->kind == CMAP__BATCH_LOAD
		    ? lm_read(m, lm_load_group, &a)
		    : lm_write_group(m, b, i, g);

		if (rc != 0) {
			cmap_status_t st = lm_fail(m, "batch", rc);

			for (size_t j = i; j < i + g; j++)
				b->status[j] = st;
		}
	}
	return cmap__batch_result(n, b->status);
}

/* --------------------------------------------------------- life cycle */

/* List the map as open, or fail with EBUSY when its directory is. */
static cmap_status_t
lm_register(struct lmdb_map *m, const char *path)
{
	cmap_status_t st = CMAP_OK;

	pthread_mutex_lock(&opened_mu);
	for (struct lmdb_map *o = opened; o != NULL; o = o->next_open)
		if (o->dev == m->dev && o->ino == m->ino && o->pid == m->pid)
			st = cmap__fail(CMAP_EBUSY,
			    "lmdb '%s': already open in this process (LMDB "
			    "allows one open per process)",
			    path);
	if (st == CMAP_OK) {
		m->next_open = opened;
		opened = m;
	}
	pthread_mutex_unlock(&opened_mu);
	return st;
}

static void
lm_unregister(struct lmdb_map *m)
{
	pthread_mutex_lock(&opened_mu);
	for (struct lmdb_map **p = &opened; *p != NULL; p = &(*p)->next_open)
		if (*p == m) {
			*p = m->next_open;
			break;
		}
	pthread_mutex_unlock(&opened_mu);
}

/* The options' values, checked; the directory made if missing. */
static cmap_status_t
lm_check_args(
    const struct cmap__create_args *args, enum lm_mode *mode, struct stat *sb)
{
	const char *path = args->opt[OPT_PATH].s;
	const char *dur = args->opt[OPT_DURABILITY].s;
	unsigned i;

	for (i = 0; i < 3 && strcmp(dur, mode_names[i]) != 0; i++)
		;
	if (i == 3)
		return cmap__fail(CMAP_EINVAL,
		    "backend 'lmdb': option 'durability': '%s' is not sync, "
		    "group or nosync",
		    dur);
	*mode = (enum lm_mode)i;
	if (path[0] == '\0')
		return cmap__fail(
		    CMAP_EINVAL, "backend 'lmdb': option 'path' is empty");
	if (mkdir(path, 0755) != 0 && errno != EEXIST)
		return cmap__fail(CMAP_EIO,
		    "lmdb '%s': cannot create the directory: %s", path,
		    strerror(errno));
	if (stat(path, sb) != 0)
		return cmap__fail(
		    CMAP_EIO, "lmdb '%s': %s", path, strerror(errno));
	if (!S_ISDIR(sb->st_mode))
		return cmap__fail(CMAP_EINVAL,
		    "backend 'lmdb': option 'path': '%s' is not a directory",
		    path);
	return CMAP_OK;
}

/*
 * Open the named database, creating it in a new environment.  An
 * environment that holds other databases but not ours is a foreign one.
 */
static int
lm_open_db(struct lmdb_map *m, const char *path, cmap_status_t *st)
{
	MDB_txn *t;
	MDB_dbi main_db;
	MDB_stat ms;
	int rc = mdb_txn_begin(m->env, NULL, 0, &t);

	if (rc != 0)
		return rc;
	rc = mdb_dbi_open(t, "cmap.u64", MDB_INTEGERKEY, &m->dbi);
	if (rc == MDB_NOTFOUND &&
	    (rc = mdb_dbi_open(t, NULL, 0, &main_db)) == 0 &&
	    (rc = mdb_stat(t, main_db, &ms)) == 0) {
		if (ms.ms_entries != 0) {
			mdb_txn_abort(t);
			*st = cmap__fail(CMAP_ECORRUPT,
			    "lmdb '%s': an LMDB environment that is not a "
			    "libcmap map",
			    path);
			return MDB_INCOMPATIBLE;
		}
		rc = mdb_dbi_open(
		    t, "cmap.u64", MDB_INTEGERKEY | MDB_CREATE, &m->dbi);
	}
	if (rc == 0)
		return mdb_txn_commit(t);
	mdb_txn_abort(t);
	return rc;
}

/* The option map_size, or more when the capacity hint needs it. */
static size_t
lm_initial_size(const struct cmap__create_args *args)
{
	uint64_t size = args->opt[OPT_MAP_SIZE].u;

	if (args->capacity > size / LM_ENTRY_BYTES)
		size = (uint64_t)args->capacity * LM_ENTRY_BYTES;
	return (size_t)size;
}

static cmap_status_t
lm_open(struct lmdb_map *m, const struct cmap__create_args *args)
{
	const char *path = args->opt[OPT_PATH].s;
	unsigned flags = MDB_NOTLS | (m->mode == MODE_NOSYNC ? MDB_NOSYNC : 0);
	cmap_status_t st = CMAP_OK;
	int dead, rc = mdb_env_create(&m->env);

	if (rc != 0)
		return cmap__fail(
		    CMAP_ENOMEM, "lmdb '%s': %s", path, mdb_strerror(rc));
	if ((rc = mdb_env_set_mapsize(m->env, lm_initial_size(args))) == 0 &&
	    (rc = mdb_env_set_maxdbs(m->env, 2)) == 0 &&
	    (rc = mdb_env_set_maxreaders(m->env, 512)) == 0)
		rc = mdb_env_open(m->env, path, flags, 0644);
	if (rc == 0)
		(void)mdb_reader_check(m->env, &dead); /* readers that died */
	if (rc == 0 && (rc = lm_open_db(m, path, &st)) == 0)
		return CMAP_OK;
	if (st == CMAP_OK) {
		st = lm_fail(NULL, "open", rc);
		(void)cmap__fail(st, "lmdb '%s': cannot open: %s", path,
		    rc == EACCES || rc == EROFS ? "not writable"
		                                : mdb_strerror(rc));
	}
	mdb_env_close(m->env);
	m->env = NULL;
	return st;
}

static cmap_status_t
lmdb_create(const struct cmap__create_args *args, cmap_t **out)
{
	unsigned stripes = cmap__brlock_stripes();
	struct lmdb_map *m;
	enum lm_mode mode = MODE_SYNC;
	struct stat sb;
	cmap_status_t st = lm_check_args(args, &mode, &sb);

	if (st != CMAP_OK)
		return st;
	if (args->capacity > LM_MAX_MAP / LM_ENTRY_BYTES)
		return cmap__fail(CMAP_ENOMEM,
		    "backend 'lmdb': a capacity of %zu entries needs a map "
		    "larger than %llu bytes",
		    args->capacity, (unsigned long long)LM_MAX_MAP);
	m = cmap__map_new(
	    args, sizeof *m + cmap__brlock_size(stripes) - sizeof m->lock);
	if (m == NULL)
		return CMAP_ENOMEM;
	m->mode = mode;
	m->dev = sb.st_dev;
	m->ino = sb.st_ino;
	m->pid = getpid();
	if ((st = lm_register(m, args->opt[OPT_PATH].s)) != CMAP_OK) {
		cmap__map_free(&m->base);
		return st;
	}
	if ((st = lm_open(m, args)) != CMAP_OK) {
		lm_unregister(m);
		cmap__map_free(&m->base);
		return st;
	}
	pthread_mutex_init(&m->gmu, NULL);
	pthread_cond_init(&m->gcv, NULL);
	m->tail = &m->head;
	cmap__brlock_init(&m->lock, stripes);
	*out = &m->base;
	return CMAP_OK;
}

static void
lmdb_destroy(cmap_t *map)
{
	struct lmdb_map *m = LM(map);

	for (unsigned i = 0; i < POOL; i++) {
		MDB_txn *t = atomic_exchange(&m->pool[i].txn, NULL);

		if (t != NULL)
			mdb_txn_abort(t);
	}
	if (m->mode == MODE_NOSYNC)
		(void)mdb_env_sync(m->env, 1); /* nosync's promise at close */
	mdb_env_close(m->env);
	lm_unregister(m);
	cmap__brlock_destroy(&m->lock);
	pthread_cond_destroy(&m->gcv);
	pthread_mutex_destroy(&m->gmu);
}

CMAP_HIDDEN const struct cmap__backend cmap__lmdb_backend = {
    .version = CMAP__BACKEND_V3,
    .name = CMAP_BACKEND_LMDB,
    .summary = "entries kept on disk in an LMDB file: survive the process, "
               "reads on snapshots that never wait, writes durable as the "
               "durability option says",
    .backend_version = 1,
    .caps = CMAP_CAP_THREAD_SAFE | CMAP_CAP_LINEARIZABLE |
        CMAP_CAP_UPDATE_ONCE | CMAP_CAP_LEN_EXACT | CMAP_CAP_RANGE_ONCE |
        CMAP_CAP_RANGE_SNAPSHOT | CMAP_CAP_PERSISTENT,
    .options = lmdb_options,
    .n_options = OPT_COUNT,
    .create = lmdb_create,
    .destroy = lmdb_destroy,
    .load = lmdb_load,
    .store = lmdb_store,
    .exec = lmdb_exec,
    .range = lmdb_range,
    .len = lmdb_len,
    .clear = lmdb_clear,
    .reserve = lmdb_reserve,
    .stats = lmdb_stats,
    .batch = lmdb_batch,
    .sync = lmdb_sync,
};
