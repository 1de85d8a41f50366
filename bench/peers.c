/*
 * peers.c - the best-known C concurrent hash tables, measured beside
 * libcmap on the same streams.  Each is compiled in only when its package
 * was found at configure time (BENCH_HAVE_URCU, BENCH_HAVE_CK,
 * BENCH_HAVE_GLIB), and every result it gives is marked "peer": true.
 * The first peer is always the floor (floor.c): no package, one thread,
 * the yardstick of the xfloor column.  No peer has a batch path: with
 * --batch they run one operation at a time.
 *
 * Each adapter uses its table the way a careful user would for 64-bit keys
 * and values, with the synchronisation the table needs and nothing more:
 *
 * rculfhash (liburcu-cds, lock-free resizable split-ordered list)
 *   Flavour: urcu-memb.  Readers take rcu_read_lock/unlock around each
 *   operation (a per-thread counter and a compiler barrier; the memory
 *   barrier is moved to the writer side by the membarrier system call).
 *   We did not choose urcu-qsbr although its read side is free: QSBR makes
 *   every registered thread announce quiescent states itself, and a thread
 *   that is registered but idle (our main thread while it sleeps through a
 *   run, or a thread of any real program) stalls every grace period.  A
 *   general-purpose map cannot ask that of its callers, and libcmap does
 *   not; memb is the flavour such a program would use.  urcu-mb (a full
 *   fence in every read lock) and urcu-signal (signals to the readers) are
 *   slower or intrusive; urcu-bp needs no registration but costs more per
 *   read.  Workers register with rcu_register_thread(), which libcmap never
 *   asks of its users.  We do not define _LGPL_SOURCE, so the read lock is
 *   a call into liburcu rather than inlined LGPL code (a few ns per op;
 *   configure with -DCMAP_BENCH_URCU_LGPL=ON to inline it).
 *   Nodes: {lfht node, key, value, rcu_head}, malloc'ed on insert, freed
 *   through call_rcu() on delete.  A store to a present key writes the
 *   node's value atomically in place (no node replacement); add is an
 *   atomic fetch-add on it.  CDS_LFHT_AUTO_RESIZE | CDS_LFHT_ACCOUNTING;
 *   1024 buckets to start with (and as the minimum allocation), or
 *   the key count rounded up to a power of two with --presize.  Hash:
 * splitmix64's finaliser of key ^ seed.
 *
 * ck_ht (Concurrency Kit, single writer / many readers, open addressing)
 *   Direct mode (64-bit keys and values inline in the table) with
 *   CK_HT_WORKLOAD_DELETE.  Readers call ck_ht_get_spmc() with no lock.
 *   Writers (store, delete, add) serialise on one pthread mutex, as the
 *   table's contract requires; the hash is computed before taking it.
 *   Memory that ck_ht frees with defer=true (an old table after a grow,
 *   which readers may still be probing) is parked and freed when the run's
 *   threads have joined: a grace period without ck_epoch, so the readers
 *   pay nothing for reclamation (slightly favourable to ck_ht).  Keys 0
 *   and ~0 are reserved by ck_ht; the benchmark never generates them.
 *
 * glib (GLib GHashTable behind a pthread_rwlock_t)
 *   Keys and values stored directly as pointers (64-bit platforms),
 *   g_direct_hash/g_direct_equal: no allocation per entry.  Loads take the
 *   read lock, everything else the write lock.  GHashTable has no capacity
 *   hint, so --presize does not apply to it.
 *
 * Memory for peers is the growth of the resident set (/proc/self/statm)
 * measured by the driver; ck_ht's allocator hooks are not used for that
 * because the other peers have none, and one method across peers is
 * easier to compare.
 */
#include "bench.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

static __attribute__((unused)) uint64_t
peer_hash(uint64_t x)
{
	x = (x ^ (x >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	x = (x ^ (x >> 27)) * UINT64_C(0x94d049bb133111eb);
	return x ^ (x >> 31);
}

static __attribute__((unused)) int64_t
peer_bytes_unknown(void *map)
{
	(void)map;
	return -1;
}

static __attribute__((unused)) void
peer_nothing(void *map)
{
	(void)map;
}

static __attribute__((unused)) _Noreturn void
peer_oom(const char *who)
{
	fprintf(stderr, "cmap-bench: %s: out of memory\n", who);
	exit(3);
}

static __attribute__((unused)) uint64_t
next_pow2(uint64_t x)
{
	uint64_t p = 1;

	while (p < x)
		p <<= 1;
	return p;
}

/* ================================================================== */
#ifdef BENCH_HAVE_URCU
#ifdef BENCH_URCU_LGPL
#define _LGPL_SOURCE 1
#endif
#include <urcu/urcu-memb.h>
#include <urcu/rculfhash.h>

struct lf_map {
	struct cds_lfht *ht;
	uint64_t seed;
};

struct lf_node {
	struct cds_lfht_node node;
	uint64_t key;
	_Atomic uint64_t value;
	struct rcu_head rcu;
};

static int
lf_match(struct cds_lfht_node *n, const void *key)
{
	const struct lf_node *e = caa_container_of(n, struct lf_node, node);

	return e->key == *(const uint64_t *)key;
}

static void
lf_free_node(struct rcu_head *head)
{
	free(caa_container_of(head, struct lf_node, rcu));
}

static void *
lf_create(const struct target_ops *self, const struct target_config *cfg)
{
	struct lf_map *m = malloc(sizeof *m);
	/* Not 1: with min_nr_alloc_buckets = 1, liburcu 0.13.2 stalls (1M
	 * inserts from one bucket did not finish in 30 s; see docs/bench.md).
	 * 1024 buckets (16 KB) is a small start that then resizes well. */
	unsigned long init = cfg->presize && cfg->keys > 1024
	    ? (unsigned long)next_pow2(cfg->keys)
	    : 1024;

	(void)self;
	if (m == NULL)
		return NULL;
	m->seed = cfg->seed;
	m->ht = cds_lfht_new_flavor(init, 1024, 0,
	    CDS_LFHT_AUTO_RESIZE | CDS_LFHT_ACCOUNTING, &urcu_memb_flavor,
	    NULL);
	if (m->ht == NULL) {
		free(m);
		fprintf(stderr, "cmap-bench: cds_lfht_new failed\n");
		return NULL;
	}
	return m;
}

/* Called with the main thread registered and outside a read section. */
static void
lf_destroy(void *map)
{
	struct lf_map *m = map;
	struct cds_lfht_iter iter;
	struct lf_node *e;

	urcu_memb_read_lock();
	cds_lfht_for_each_entry(m->ht, &iter, e, node)
	{
		if (cds_lfht_del(m->ht, &e->node) == 0)
			urcu_memb_call_rcu(&e->rcu, lf_free_node);
	}
	urcu_memb_read_unlock();
	urcu_memb_barrier();
	if (cds_lfht_destroy(m->ht, NULL) != 0)
		fprintf(stderr, "cmap-bench: cds_lfht_destroy failed\n");
	free(m);
}

static void
lf_enter(void *map)
{
	(void)map;
	urcu_memb_register_thread();
}

static void
lf_exit(void *map)
{
	(void)map;
	urcu_memb_unregister_thread();
}

static struct lf_node *
lf_find(struct lf_map *m, uint64_t key, unsigned long h)
{
	struct cds_lfht_iter iter;
	struct cds_lfht_node *n;

	cds_lfht_lookup(m->ht, h, lf_match, &key, &iter);
	n = cds_lfht_iter_get_node(&iter);
	return n != NULL ? caa_container_of(n, struct lf_node, node) : NULL;
}

static bool
lf_load(void *map, uint64_t key, uint64_t *value)
{
	struct lf_map *m = map;
	unsigned long h = (unsigned long)peer_hash(key ^ m->seed);
	struct lf_node *e;

	urcu_memb_read_lock();
	e = lf_find(m, key, h);
	if (e != NULL)
		*value = atomic_load_explicit(&e->value, memory_order_relaxed);
	urcu_memb_read_unlock();
	return e != NULL;
}

/* Insert key with `value` or, when present, apply op to its value:
 * op 0 = store value, op 1 = add value. */
static void
lf_upsert(struct lf_map *m, uint64_t key, uint64_t value, int op)
{
	unsigned long h = (unsigned long)peer_hash(key ^ m->seed);
	struct lf_node *e, *fresh;
	struct cds_lfht_node *got;

	urcu_memb_read_lock();
	e = lf_find(m, key, h);
	if (e == NULL) {
		fresh = malloc(sizeof *fresh);
		if (fresh == NULL)
			peer_oom("rculfhash");
		cds_lfht_node_init(&fresh->node);
		fresh->key = key;
		atomic_init(&fresh->value, value);
		got =
		    cds_lfht_add_unique(m->ht, h, lf_match, &key, &fresh->node);
		if (got == &fresh->node) {
			urcu_memb_read_unlock();
			return;
		}
		free(fresh); /* never published */
		e = caa_container_of(got, struct lf_node, node);
	}
	if (op == 0)
		atomic_store_explicit(&e->value, value, memory_order_relaxed);
	else
		atomic_fetch_add_explicit(
		    &e->value, value, memory_order_relaxed);
	urcu_memb_read_unlock();
}

static void
lf_store(void *map, uint64_t key, uint64_t value)
{
	lf_upsert(map, key, value, 0);
}

static void
lf_add(void *map, uint64_t key, uint64_t delta)
{
	lf_upsert(map, key, delta, 1);
}

static bool
lf_del(void *map, uint64_t key)
{
	struct lf_map *m = map;
	unsigned long h = (unsigned long)peer_hash(key ^ m->seed);
	struct lf_node *e;
	bool done = false;

	urcu_memb_read_lock();
	e = lf_find(m, key, h);
	if (e != NULL && cds_lfht_del(m->ht, &e->node) == 0) {
		urcu_memb_call_rcu(&e->rcu, lf_free_node);
		done = true;
	}
	urcu_memb_read_unlock();
	return done;
}

static uint64_t
lf_len(void *map)
{
	struct lf_map *m = map;
	long before, after;
	unsigned long count;

	urcu_memb_read_lock();
	cds_lfht_count_nodes(m->ht, &before, &count, &after);
	urcu_memb_read_unlock();
	return count;
}

static void
lf_quiesce(void *map)
{
	(void)map;
	urcu_memb_barrier(); /* run the pending frees */
}

static const struct target_ops peer_rculfhash = {
    .name = "rculfhash",
    .peer = true,
    .mem_source = "process",
    .note = "peer: liburcu-cds lock-free resizable hash (urcu-memb flavour)",
    .create = lf_create,
    .destroy = lf_destroy,
    .thread_enter = lf_enter,
    .thread_exit = lf_exit,
    .load = lf_load,
    .store = lf_store,
    .del = lf_del,
    .add = lf_add,
    .len = lf_len,
    .bytes = peer_bytes_unknown,
    .quiesce = lf_quiesce,
};
#endif /* BENCH_HAVE_URCU */

/* ================================================================== */
#ifdef BENCH_HAVE_CK
#include <ck_ht.h>

struct ckh_map {
	ck_ht_t ht;
	pthread_mutex_t wlock;
};

/* Blocks ck_ht freed with defer=true; freed after the run (see top). */
static pthread_mutex_t ck_limbo_lock = PTHREAD_MUTEX_INITIALIZER;
static void **ck_limbo;
static size_t ck_limbo_len, ck_limbo_cap;

static void *
ck_malloc_cb(size_t size)
{
	return malloc(size);
}

static void *
ck_realloc_cb(void *p, size_t old, size_t size, bool defer)
{
	(void)old;
	(void)defer; /* ck_ht does not call realloc */
	return realloc(p, size);
}

static void
ck_free_cb(void *p, size_t size, bool defer)
{
	(void)size;
	if (!defer) {
		free(p);
		return;
	}
	pthread_mutex_lock(&ck_limbo_lock);
	if (ck_limbo_len == ck_limbo_cap) {
		size_t cap = ck_limbo_cap ? ck_limbo_cap * 2 : 16;
		void **n = realloc(ck_limbo, cap * sizeof *n);

		if (n == NULL)
			peer_oom("ck_ht");
		ck_limbo = n;
		ck_limbo_cap = cap;
	}
	ck_limbo[ck_limbo_len++] = p;
	pthread_mutex_unlock(&ck_limbo_lock);
}

static struct ck_malloc ck_allocator = {
    .malloc = ck_malloc_cb,
    .realloc = ck_realloc_cb,
    .free = ck_free_cb,
};

static void
ckh_quiesce(void *map)
{
	(void)map;
	pthread_mutex_lock(&ck_limbo_lock);
	for (size_t i = 0; i < ck_limbo_len; i++)
		free(ck_limbo[i]);
	ck_limbo_len = 0;
	pthread_mutex_unlock(&ck_limbo_lock);
}

static void *
ckh_create(const struct target_ops *self, const struct target_config *cfg)
{
	struct ckh_map *m = malloc(sizeof *m);

	(void)self;
	if (m == NULL)
		return NULL;
	if (!ck_ht_init(&m->ht, CK_HT_MODE_DIRECT | CK_HT_WORKLOAD_DELETE, NULL,
	        &ck_allocator, cfg->presize ? (CK_HT_TYPE)cfg->keys : 16,
	        cfg->seed)) {
		free(m);
		fprintf(stderr, "cmap-bench: ck_ht_init failed\n");
		return NULL;
	}
	pthread_mutex_init(&m->wlock, NULL);
	return m;
}

static void
ckh_destroy(void *map)
{
	struct ckh_map *m = map;

	ck_ht_destroy(&m->ht);
	ckh_quiesce(NULL);
	pthread_mutex_destroy(&m->wlock);
	free(m);
}

static bool
ckh_load(void *map, uint64_t key, uint64_t *value)
{
	struct ckh_map *m = map;
	ck_ht_entry_t e;
	ck_ht_hash_t h;

	ck_ht_hash_direct(&h, &m->ht, (uintptr_t)key);
	ck_ht_entry_key_set_direct(&e, (uintptr_t)key);
	if (!ck_ht_get_spmc(&m->ht, h, &e))
		return false;
	*value = ck_ht_entry_value_direct(&e);
	return true;
}

static void
ckh_store(void *map, uint64_t key, uint64_t value)
{
	struct ckh_map *m = map;
	ck_ht_entry_t e;
	ck_ht_hash_t h;
	bool ok;

	ck_ht_hash_direct(&h, &m->ht, (uintptr_t)key);
	ck_ht_entry_set_direct(&e, h, (uintptr_t)key, (uintptr_t)value);
	pthread_mutex_lock(&m->wlock);
	ok = ck_ht_set_spmc(&m->ht, h, &e);
	pthread_mutex_unlock(&m->wlock);
	if (!ok)
		peer_oom("ck_ht");
}

static bool
ckh_del(void *map, uint64_t key)
{
	struct ckh_map *m = map;
	ck_ht_entry_t e;
	ck_ht_hash_t h;
	bool ok;

	ck_ht_hash_direct(&h, &m->ht, (uintptr_t)key);
	ck_ht_entry_key_set_direct(&e, (uintptr_t)key);
	pthread_mutex_lock(&m->wlock);
	ok = ck_ht_remove_spmc(&m->ht, h, &e);
	pthread_mutex_unlock(&m->wlock);
	return ok;
}

static void
ckh_add(void *map, uint64_t key, uint64_t delta)
{
	struct ckh_map *m = map;
	ck_ht_entry_t e;
	ck_ht_hash_t h;
	uint64_t v = 0;
	bool ok;

	ck_ht_hash_direct(&h, &m->ht, (uintptr_t)key);
	pthread_mutex_lock(&m->wlock);
	ck_ht_entry_key_set_direct(&e, (uintptr_t)key);
	if (ck_ht_get_spmc(&m->ht, h, &e))
		v = ck_ht_entry_value_direct(&e);
	ck_ht_entry_set_direct(&e, h, (uintptr_t)key, (uintptr_t)(v + delta));
	ok = ck_ht_set_spmc(&m->ht, h, &e);
	pthread_mutex_unlock(&m->wlock);
	if (!ok)
		peer_oom("ck_ht");
}

static uint64_t
ckh_len(void *map)
{
	struct ckh_map *m = map;

	return ck_ht_count(&m->ht);
}

static const struct target_ops peer_ck_ht = {
    .name = "ck_ht",
    .peer = true,
    .mem_source = "process",
    .note = "peer: Concurrency Kit ck_ht, lock-free readers, writers behind a "
            "mutex",
    .create = ckh_create,
    .destroy = ckh_destroy,
    .thread_enter = peer_nothing,
    .thread_exit = peer_nothing,
    .load = ckh_load,
    .store = ckh_store,
    .del = ckh_del,
    .add = ckh_add,
    .len = ckh_len,
    .bytes = peer_bytes_unknown,
    .quiesce = ckh_quiesce,
};
#endif /* BENCH_HAVE_CK */

/* ================================================================== */
#ifdef BENCH_HAVE_GLIB
#include <glib.h>

struct gl_map {
	pthread_rwlock_t lock;
	GHashTable *ht;
};

#define G_KEY(k) ((gpointer)(uintptr_t)(k))

static void *
gl_create(const struct target_ops *self, const struct target_config *cfg)
{
	struct gl_map *m = malloc(sizeof *m);

	(void)self;
	(void)cfg;
	if (m == NULL)
		return NULL;
	pthread_rwlock_init(&m->lock, NULL);
	m->ht = g_hash_table_new(g_direct_hash, g_direct_equal);
	return m;
}

static void
gl_destroy(void *map)
{
	struct gl_map *m = map;

	g_hash_table_destroy(m->ht);
	pthread_rwlock_destroy(&m->lock);
	free(m);
}

static bool
gl_load(void *map, uint64_t key, uint64_t *value)
{
	struct gl_map *m = map;
	gpointer v = NULL;
	gboolean found;

	pthread_rwlock_rdlock(&m->lock);
	found = g_hash_table_lookup_extended(m->ht, G_KEY(key), NULL, &v);
	pthread_rwlock_unlock(&m->lock);
	if (found)
		*value = (uint64_t)(uintptr_t)v;
	return found;
}

static void
gl_store(void *map, uint64_t key, uint64_t value)
{
	struct gl_map *m = map;

	pthread_rwlock_wrlock(&m->lock);
	g_hash_table_insert(m->ht, G_KEY(key), G_KEY(value));
	pthread_rwlock_unlock(&m->lock);
}

static bool
gl_del(void *map, uint64_t key)
{
	struct gl_map *m = map;
	gboolean found;

	pthread_rwlock_wrlock(&m->lock);
	found = g_hash_table_remove(m->ht, G_KEY(key));
	pthread_rwlock_unlock(&m->lock);
	return found;
}

static void
gl_add(void *map, uint64_t key, uint64_t delta)
{
	struct gl_map *m = map;
	gpointer v = NULL;

	pthread_rwlock_wrlock(&m->lock);
	(void)g_hash_table_lookup_extended(m->ht, G_KEY(key), NULL, &v);
	g_hash_table_insert(
	    m->ht, G_KEY(key), G_KEY((uint64_t)(uintptr_t)v + delta));
	pthread_rwlock_unlock(&m->lock);
}

static uint64_t
gl_len(void *map)
{
	struct gl_map *m = map;
	uint64_t n;

	pthread_rwlock_rdlock(&m->lock);
	n = g_hash_table_size(m->ht);
	pthread_rwlock_unlock(&m->lock);
	return n;
}

static const struct target_ops peer_glib = {
    .name = "glib",
    .peer = true,
    .mem_source = "process",
    .note = "peer: GLib GHashTable behind a pthread_rwlock_t (no presize)",
    .create = gl_create,
    .destroy = gl_destroy,
    .thread_enter = peer_nothing,
    .thread_exit = peer_nothing,
    .load = gl_load,
    .store = gl_store,
    .del = gl_del,
    .add = gl_add,
    .len = gl_len,
    .bytes = peer_bytes_unknown,
    .quiesce = peer_nothing,
};
#endif /* BENCH_HAVE_GLIB */

size_t
peers_all(const struct target_ops **out, size_t cap)
{
	size_t n = 0;

	if (n < cap)
		out[n++] = &floor_target;
#ifdef BENCH_HAVE_URCU
	if (n < cap)
		out[n++] = &peer_rculfhash;
#endif
#ifdef BENCH_HAVE_CK
	if (n < cap)
		out[n++] = &peer_ck_ht;
#endif
#ifdef BENCH_HAVE_GLIB
	if (n < cap)
		out[n++] = &peer_glib;
#endif
	return n;
}
