/*
 * persist.c - cmap-bench --suite persistent: the persistent backends of
 * libcmap (CMAP_CAP_PERSISTENT with option "path") beside RocksDB and
 * SQLite, in one run, on files in --dir.
 *
 *   cmap-bench --suite persistent [--keys N] [--seconds S] [--reps R]
 *              [--dir DIR] [--part all|reads|writes]
 *
 * Each engine is filled with N keys (random 64-bit keys, values = index)
 * without a flush per write, flushed, and reopened.  Then, per engine:
 *   reads    warm random loads of present keys from 1 and 2 threads (after
 *            one pass over every key), ops/s;
 *   writes   durable random stores (half overwrites, half new keys) from 8
 *            threads: libcmap's durability modes "group" and "sync",
 *            RocksDB with WAL and sync=true, SQLite in WAL mode with
 *            synchronous=FULL;
 *   size     bytes of the engine's files per entry after the fill.
 * Each figure is the median of R runs of S seconds; ratios are of medians
 * of this run.  Operations cost microseconds to milliseconds, so this is
 * a suite of its own, not a workload of the in-memory run.
 */
#include "bench.h"

#include <cmap.h>
#include <errno.h>
#include <ftw.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#if defined(BENCH_HAVE_ROCKSDB)
#include <rocksdb/c.h>
#endif
#if defined(BENCH_HAVE_SQLITE)
#include <sqlite3.h>
#endif

#define PB_MAX_THREADS 8
#define PB_MAX_REPS 15

struct pb_opts {
	long keys;
	double seconds;
	int reps;
	char dir[3072];
	const char *part; /* all, reads or writes */
};

/* Does the run measure part ("reads" or "writes")? */
static bool
pb_part(const struct pb_opts *o, const char *part)
{
	return strcmp(o->part, "all") == 0 || strcmp(o->part, part) == 0;
}

static uint64_t
pb_key(uint64_t i)
{
	uint64_t x = i + UINT64_C(0x9e3779b97f4a7c15);

	x = (x ^ (x >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	x = (x ^ (x >> 27)) * UINT64_C(0x94d049bb133111eb);
	return x ^ (x >> 31);
}

static void
pb_die(const char *what, const char *why)
{
	fprintf(stderr, "cmap-bench --suite persistent: %s: %s\n", what, why);
	exit(1);
}

/* ------------------------------------------------------------ libcmap */

static const char *pb_lmdb_backend;

static void *
lm_open(const char *dir, const char *mode)
{
	cmap_config_t cfg;
	cmap_t *m = NULL;

	cmap_config_init(&cfg);
	cfg.backend = pb_lmdb_backend;
	if (cmap_config_set(&cfg, "path", dir) != CMAP_OK ||
	    cmap_config_set(&cfg, "durability", mode) != CMAP_OK ||
	    cmap_config_set(&cfg, "map_size", "4294967296") != CMAP_OK ||
	    cmap_create(&cfg, &m) != CMAP_OK)
		pb_die(dir, cmap_last_error());
	return m;
}

static void
lm_close(void *db)
{
	cmap_destroy(db);
}

static void *
same(void *db)
{
	return db;
}

static void
nothing(void *th)
{
	(void)th;
}

static bool
lm_get(void *th, uint64_t k, uint64_t *v)
{
	return cmap_load(th, k, v) == CMAP_OK;
}

static bool
lm_put(void *th, uint64_t k, uint64_t v)
{
	return !cmap_is_error(cmap_store(th, k, v));
}

static void
lm_flush(void *db)
{
	(void)cmap_sync(db);
}

/* ------------------------------------------------------------ RocksDB */
#if defined(BENCH_HAVE_ROCKSDB)
struct rk {
	rocksdb_t *db;
	rocksdb_options_t *o;
	rocksdb_readoptions_t *ro;
	rocksdb_writeoptions_t *wo;
	rocksdb_cache_t *cache;
	rocksdb_block_based_table_options_t *bb;
};

static void *
rk_open(const char *dir, const char *mode)
{
	struct rk *r = calloc(1, sizeof *r);
	char *err = NULL;

	if (r == NULL)
		pb_die("rocksdb", "out of memory");
	r->o = rocksdb_options_create();
	rocksdb_options_set_create_if_missing(r->o, 1);
	rocksdb_options_increase_parallelism(r->o, 2);
	/* A block cache that holds the whole data set: warm reads. */
	r->cache = rocksdb_cache_create_lru((size_t)512 << 20);
	r->bb = rocksdb_block_based_options_create();
	rocksdb_block_based_options_set_block_cache(r->bb, r->cache);
	rocksdb_options_set_block_based_table_factory(r->o, r->bb);
	r->db = rocksdb_open(r->o, dir, &err);
	if (err != NULL)
		pb_die(dir, err);
	r->ro = rocksdb_readoptions_create();
	r->wo = rocksdb_writeoptions_create();
	rocksdb_writeoptions_set_sync(r->wo, strcmp(mode, "sync") == 0);
	return r;
}

static void
rk_close(void *db)
{
	struct rk *r = db;

	rocksdb_close(r->db);
	rocksdb_readoptions_destroy(r->ro);
	rocksdb_writeoptions_destroy(r->wo);
	rocksdb_options_destroy(r->o);
	rocksdb_block_based_options_destroy(r->bb);
	rocksdb_cache_destroy(r->cache);
	free(r);
}

/* Keys big-endian, so RocksDB's bytewise order is numeric. */
static void
be64(uint64_t k, char *out)
{
	for (int i = 0; i < 8; i++)
		out[i] = (char)(k >> (56 - 8 * i));
}

static bool
rk_get(void *th, uint64_t k, uint64_t *v)
{
	struct rk *r = th;
	char key[8], *err = NULL, *val;
	size_t len;

	be64(k, key);
	val = rocksdb_get(r->db, r->ro, key, 8, &len, &err);
	if (val == NULL || len != 8) {
		rocksdb_free(val);
		return false;
	}
	memcpy(v, val, 8);
	rocksdb_free(val);
	return true;
}

static bool
rk_put(void *th, uint64_t k, uint64_t v)
{
	struct rk *r = th;
	char key[8], *err = NULL;

	be64(k, key);
	rocksdb_put(r->db, r->wo, key, 8, (const char *)&v, 8, &err);
	return err == NULL;
}

static void
rk_flush(void *db)
{
	struct rk *r = db;
	rocksdb_flushoptions_t *f = rocksdb_flushoptions_create();
	char *err = NULL;

	rocksdb_flushoptions_set_wait(f, 1);
	rocksdb_flush(r->db, f, &err);
	rocksdb_flushoptions_destroy(f);
}
#endif

/* ------------------------------------------------------------- SQLite */
#if defined(BENCH_HAVE_SQLITE)
struct sq_db {
	char path[3200];
	const char *sync; /* the synchronous pragma */
};

struct sq_th {
	sqlite3 *c;
	sqlite3_stmt *get, *put;
};

static void *
sq_open(const char *dir, const char *mode)
{
	struct sq_db *d = calloc(1, sizeof *d);

	if (d == NULL)
		pb_die("sqlite", "out of memory");
	(void)mkdir(dir, 0755);
	snprintf(d->path, sizeof d->path, "%s/kv.db", dir);
	d->sync = strcmp(mode, "sync") == 0 ? "FULL" : "OFF";
	return d;
}

static void
sq_close(void *db)
{
	free(db);
}

static void
sq_exec(sqlite3 *c, const char *sql)
{
	char *err = NULL;

	if (sqlite3_exec(c, sql, NULL, NULL, &err) != SQLITE_OK)
		pb_die(sql, err != NULL ? err : "?");
}

/* One connection per thread (SQLite's own advice for threads). */
static void *
sq_thread(void *db)
{
	struct sq_db *d = db;
	struct sq_th *t = calloc(1, sizeof *t);
	char sql[128];

	if (t == NULL ||
	    sqlite3_open_v2(d->path, &t->c,
	        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
	            SQLITE_OPEN_NOMUTEX,
	        NULL) != SQLITE_OK)
		pb_die(d->path, "cannot open");
	sqlite3_busy_timeout(t->c, 60000);
	sq_exec(t->c, "PRAGMA journal_mode=WAL");
	snprintf(sql, sizeof sql, "PRAGMA synchronous=%s", d->sync);
	sq_exec(t->c, sql);
	sq_exec(t->c, "PRAGMA cache_size=-262144"); /* 256 MiB: warm */
	sq_exec(t->c,
	    "CREATE TABLE IF NOT EXISTS kv(k INTEGER PRIMARY KEY, "
	    "v INTEGER NOT NULL)");
	sqlite3_prepare_v2(t->c, "SELECT v FROM kv WHERE k=?", -1, &t->get, 0);
	sqlite3_prepare_v2(
	    t->c, "INSERT OR REPLACE INTO kv VALUES(?,?)", -1, &t->put, 0);
	return t;
}

static void
sq_thread_done(void *th)
{
	struct sq_th *t = th;

	sqlite3_finalize(t->get);
	sqlite3_finalize(t->put);
	sqlite3_close(t->c);
	free(t);
}

static bool
sq_get(void *th, uint64_t k, uint64_t *v)
{
	struct sq_th *t = th;
	bool found;

	sqlite3_bind_int64(t->get, 1, (sqlite3_int64)k);
	found = sqlite3_step(t->get) == SQLITE_ROW;
	if (found)
		*v = (uint64_t)sqlite3_column_int64(t->get, 0);
	sqlite3_reset(t->get);
	return found;
}

static bool
sq_put(void *th, uint64_t k, uint64_t v)
{
	struct sq_th *t = th;
	int rc;

	sqlite3_bind_int64(t->put, 1, (sqlite3_int64)k);
	sqlite3_bind_int64(t->put, 2, (sqlite3_int64)v);
	rc = sqlite3_step(t->put);
	sqlite3_reset(t->put);
	return rc == SQLITE_DONE;
}
#endif

/* ------------------------------------------------------------- fills */

#define PB_FILL_GROUP 1000

/*
 * The fill stores key pb_key(i) = value i for i < n, in ascending key
 * order: each engine then appends to its tree or log instead of
 * rewriting random pages (a random-order fill of 1M keys took LMDB 35 s
 * and RocksDB 52 s on the loaded test machine).  pb_fill_order[j] is the
 * index i of the j-th smallest key.
 */
static uint64_t *pb_fill_order;

static int
pb_cmp_key(const void *a, const void *b)
{
	uint64_t x = pb_key(*(const uint64_t *)a),
	         y = pb_key(*(const uint64_t *)b);

	return (x > y) - (x < y);
}

static void
pb_make_order(long n)
{
	pb_fill_order = malloc((size_t)n * sizeof *pb_fill_order);
	if (pb_fill_order == NULL)
		pb_die("fill", "out of memory");
	for (long i = 0; i < n; i++)
		pb_fill_order[i] = (uint64_t)i;
	qsort(pb_fill_order, (size_t)n, sizeof *pb_fill_order, pb_cmp_key);
}

static void
lm_fill(void *db, long n)
{
	static uint64_t k[PB_FILL_GROUP], v[PB_FILL_GROUP];
	static cmap_status_t st[PB_FILL_GROUP];

	for (long i = 0; i < n; i += PB_FILL_GROUP) {
		size_t g =
		    (size_t)(n - i < PB_FILL_GROUP ? n - i : PB_FILL_GROUP);

		for (size_t j = 0; j < g; j++) {
			v[j] = pb_fill_order[(size_t)i + j];
			k[j] = pb_key(v[j]);
		}
		if (cmap_store_batch(db, g, k, v, st) != CMAP_OK)
			pb_die("lmdb fill", cmap_last_error());
	}
}

#if defined(BENCH_HAVE_ROCKSDB)
static void
rk_fill(void *db, long n)
{
	struct rk *r = db;
	rocksdb_writebatch_t *b = rocksdb_writebatch_create();
	char key[8], *err = NULL;

	rocksdb_writeoptions_disable_WAL(r->wo, 1); /* flushed after */
	for (long i = 0; i < n; i++) {
		uint64_t v = pb_fill_order[i];

		be64(pb_key(v), key);
		rocksdb_writebatch_put(b, key, 8, (const char *)&v, 8);
		if ((i + 1) % PB_FILL_GROUP == 0 || i + 1 == n) {
			rocksdb_write(r->db, r->wo, b, &err);
			if (err != NULL)
				pb_die("rocksdb fill", err);
			rocksdb_writebatch_clear(b);
		}
	}
	rocksdb_writebatch_destroy(b);
}
#endif

#if defined(BENCH_HAVE_SQLITE)
static void
sq_fill(void *db, long n)
{
	struct sq_th *t = sq_thread(db);

	for (long i = 0; i < n; i += 100000) {
		sq_exec(t->c, "BEGIN");
		for (long j = i; j < n && j < i + 100000; j++)
			if (!sq_put(
			        t, pb_key(pb_fill_order[j]), pb_fill_order[j]))
				pb_die("sqlite fill", sqlite3_errmsg(t->c));
		sq_exec(t->c, "COMMIT");
	}
	sq_exec(t->c, "PRAGMA wal_checkpoint(TRUNCATE)");
	sq_thread_done(t);
}
#endif

/* ------------------------------------------------------------ engines */

struct pb_kind {
	const char *name;
	void *(*open)(const char *dir, const char *mode);
	void (*close)(void *db);
	void *(*thread)(void *db);
	void (*thread_done)(void *th);
	bool (*get)(void *th, uint64_t k, uint64_t *v);
	bool (*put)(void *th, uint64_t k, uint64_t v);
	void (*fill)(void *db, long n);
	void (*flush)(void *db);
	/* the durable write rows: mode names as open() takes them */
	const char *durable[2], *labels[2];
	const char *fast; /* the mode of the fill and the reads */
};

static const struct pb_kind pb_kinds[] = {
    {"lmdb", lm_open, lm_close, same, nothing, lm_get, lm_put, lm_fill,
        lm_flush, {"group", "sync"}, {"lmdb group", "lmdb sync"}, "nosync"},
#if defined(BENCH_HAVE_ROCKSDB)
    {"rocksdb", rk_open, rk_close, same, nothing, rk_get, rk_put, rk_fill,
        rk_flush, {"sync", NULL}, {"rocksdb sync=true", NULL}, "fast"},
#endif
#if defined(BENCH_HAVE_SQLITE)
    {"sqlite", sq_open, sq_close, sq_thread, sq_thread_done, sq_get, sq_put,
        sq_fill, NULL, {"sync", NULL}, {"sqlite synchronous=FULL", NULL},
        "fast"},
#endif
};
#define PB_NKINDS (sizeof pb_kinds / sizeof pb_kinds[0])

/* ------------------------------------------------------- timed runs */

struct pb_run {
	const struct pb_kind *k;
	void *db;
	long keys;
	double seconds;
	bool write;
	atomic_bool stop;
	atomic_long ops, errors;
	pthread_barrier_t start;
};

struct pb_arg {
	struct pb_run *r;
	uint64_t seed;
};

static void *
pb_worker(void *p)
{
	struct pb_arg *a = p;
	struct pb_run *r = a->r;
	void *th = r->k->thread(r->db);
	uint64_t s = a->seed, v;
	long ops = 0, errors = 0;

	pthread_barrier_wait(&r->start);
	while (!atomic_load_explicit(&r->stop, memory_order_relaxed)) {
		for (int i = 0; i < 16; i++) {
			s = s * 6364136223846793005u + 1442695040888963407u;
			if (r->write) {
				/* half overwrites, half new keys */
				uint64_t i2 =
				    (s >> 20) % (2 * (uint64_t)r->keys);

				errors += !r->k->put(th, pb_key(i2), s);
			} else {
				uint64_t i1 = (s >> 20) % (uint64_t)r->keys;

				errors += !r->k->get(th, pb_key(i1), &v);
			}
			ops++;
		}
	}
	atomic_fetch_add(&r->ops, ops);
	atomic_fetch_add(&r->errors, errors);
	r->k->thread_done(th);
	return NULL;
}

/* Operations per second of one run of `seconds` on `threads` threads. */
static double
pb_time(struct pb_run *r, int threads)
{
	pthread_t tid[PB_MAX_THREADS];
	struct pb_arg a[PB_MAX_THREADS];
	struct timespec ts;
	double t0, t1;

	atomic_store(&r->stop, false);
	atomic_store(&r->ops, 0);
	atomic_store(&r->errors, 0);
	pthread_barrier_init(&r->start, NULL, (unsigned)threads + 1);
	for (int t = 0; t < threads; t++) {
		a[t] = (struct pb_arg){r, bench_now_s() * 1e9 + t * 7919};
		pthread_create(&tid[t], NULL, pb_worker, &a[t]);
	}
	pthread_barrier_wait(&r->start);
	t0 = bench_now_s();
	ts.tv_sec = (time_t)r->seconds;
	ts.tv_nsec = (long)((r->seconds - (double)ts.tv_sec) * 1e9);
	nanosleep(&ts, NULL);
	atomic_store(&r->stop, true);
	for (int t = 0; t < threads; t++)
		pthread_join(tid[t], NULL);
	t1 = bench_now_s();
	pthread_barrier_destroy(&r->start);
	if (atomic_load(&r->errors) != 0)
		pb_die(r->k->name,
		    r->write ? "a write failed"
		             : "a key was "
		               "not found");
	return (double)atomic_load(&r->ops) / (t1 - t0);
}

static int
pb_cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double
pb_median(struct pb_run *r, int threads, int reps)
{
	double v[PB_MAX_REPS];

	for (int i = 0; i < reps; i++)
		v[i] = pb_time(r, threads);
	qsort(v, (size_t)reps, sizeof v[0], pb_cmp);
	return v[reps / 2];
}

/* ------------------------------------------------------------ driver */

static int
pb_rm(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb, (void)flag, (void)ftw;
	return remove(path);
}

static uint64_t pb_bytes;

static int
pb_du(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)path, (void)ftw;
	if (flag == FTW_F)
		pb_bytes += (uint64_t)sb->st_size;
	return 0;
}

struct pb_result {
	double reads[2], writes[2], bytes_per_entry;
};

static void
pb_engine(
    const struct pb_kind *k, const struct pb_opts *o, struct pb_result *res)
{
	struct pb_run r = {.k = k, .keys = o->keys, .seconds = o->seconds};
	char dir[3200];
	uint64_t v;
	double t0 = bench_now_s();

	snprintf(dir, sizeof dir, "%s/%s", o->dir, k->name);
	(void)nftw(dir, pb_rm, 16, FTW_DEPTH | FTW_PHYS);
	r.db = k->open(dir, k->fast);
	k->fill(r.db, o->keys);
	if (k->flush != NULL)
		k->flush(r.db);
	k->close(r.db);
	pb_bytes = 0;
	(void)nftw(dir, pb_du, 16, FTW_PHYS);
	res->bytes_per_entry = (double)pb_bytes / (double)o->keys;
	fprintf(stderr, "  %s: filled %ld keys in %.1f s\n", k->name, o->keys,
	    bench_now_s() - t0);
	if (pb_part(o, "reads")) {
		void *th;

		r.db = k->open(dir, k->fast);
		th = k->thread(r.db);
		for (long i = 0; i < o->keys; i++) /* warm every key once */
			if (!k->get(th, pb_key((uint64_t)i), &v) ||
			    v != (uint64_t)i)
				pb_die(k->name, "a key of the fill is missing");
		k->thread_done(th);
		for (int t = 0; t < 2; t++)
			res->reads[t] = pb_median(&r, t + 1, o->reps);
		k->close(r.db);
	}
}

/*
 * Durable writes from 8 threads, every engine and mode once per
 * repetition, in turn: the disk is shared, and a flush's cost drifts with
 * what else writes to it, so the rows of one repetition are measured
 * side by side rather than each row's repetitions in a block.
 */
static void
pb_writes(const struct pb_opts *o, struct pb_result *res)
{
	double v[PB_NKINDS][2][PB_MAX_REPS];

	for (int rep = 0; rep < o->reps; rep++)
		for (size_t i = 0; i < PB_NKINDS; i++)
			for (int d = 0; d < 2 && pb_kinds[i].durable[d]; d++) {
				const struct pb_kind *k = &pb_kinds[i];
				struct pb_run r = {.k = k,
				    .keys = o->keys,
				    .seconds = o->seconds,
				    .write = true};
				char dir[3200];

				snprintf(
				    dir, sizeof dir, "%s/%s", o->dir, k->name);
				r.db = k->open(dir, k->durable[d]);
				v[i][d][rep] = pb_time(&r, PB_MAX_THREADS);
				k->close(r.db);
			}
	for (size_t i = 0; i < PB_NKINDS; i++)
		for (int d = 0; d < 2 && pb_kinds[i].durable[d]; d++) {
			qsort(v[i][d], (size_t)o->reps, sizeof v[i][d][0],
			    pb_cmp);
			res[i].writes[d] = v[i][d][o->reps / 2];
		}
}

/* A figure of the report, or "-" for a part the run did not measure. */
static void
pb_cell(int width, const char *fmt, double v, bool measured)
{
	if (measured)
		printf(fmt, width, v);
	else
		printf("%*s", width, "-");
}

static void
pb_report(const struct pb_opts *o, const struct pb_result *res)
{
	const struct pb_result *l = &res[0];
	bool rd = pb_part(o, "reads"), wr = pb_part(o, "writes");

	printf("== persistent: %ld keys, median of %d runs of %.2f s, in %s "
	       "==\n",
	    o->keys, o->reps, o->seconds, o->dir);
	printf("%-26s %12s %12s %9s\n", "engine", "reads 1 thr", "reads 2 thr",
	    "B/entry");
	for (size_t i = 0; i < PB_NKINDS; i++) {
		printf("%-26s ", pb_kinds[i].name);
		pb_cell(12, "%*.0f", res[i].reads[0], rd);
		pb_cell(13, "%*.0f", res[i].reads[1], rd);
		printf(" %9.1f\n", res[i].bytes_per_entry);
	}
	if (wr) {
		printf("%-26s %12s\n", "durable writes", "8 thr ops/s");
		for (size_t i = 0; i < PB_NKINDS; i++)
			for (int d = 0; d < 2 && pb_kinds[i].durable[d]; d++)
				printf("%-26s %12.0f\n", pb_kinds[i].labels[d],
				    res[i].writes[d]);
	}
	for (size_t i = 1; i < PB_NKINDS; i++) {
		printf("ratio lmdb/%s: reads 1 thr ", pb_kinds[i].name);
		pb_cell(0, "%*.2f", l->reads[0] / res[i].reads[0], rd);
		printf(", 2 thr ");
		pb_cell(0, "%*.2f", l->reads[1] / res[i].reads[1], rd);
		printf("; durable writes (lmdb group) ");
		pb_cell(0, "%*.2f", l->writes[0] / res[i].writes[0], wr);
		printf("\n");
	}
	if (wr)
		printf("ratio lmdb group/lmdb sync, 8 writers: %.2f\n",
		    l->writes[0] / l->writes[1]);
}

static const char *
pb_persistent_backend(void)
{
	const char *name;

	for (size_t i = 0; (name = cmap_backend_at(i)) != NULL; i++) {
		cmap_backend_info_t info;
		cmap_option_info_t opt;

		if (cmap_backend_info(name, &info) != CMAP_OK ||
		    !(info.caps & CMAP_CAP_PERSISTENT))
			continue;
		for (size_t j = 0; j < info.n_options; j++)
			if (cmap_backend_option(name, j, &opt) == CMAP_OK &&
			    strcmp(opt.name, "durability") == 0)
				return name;
	}
	return NULL;
}

int
bench_persist_main(int argc, char **argv)
{
	struct pb_opts o = {1000000, 1.0, 3, "", "all"};
	struct pb_result res[PB_NKINDS];
	const char *tmp = getenv("TMPDIR");

	if (argc < 3 || strcmp(argv[1], "--suite") != 0 ||
	    strcmp(argv[2], "persistent") != 0)
		return -1;
	snprintf(o.dir, sizeof o.dir, "%s/cmap-bench-persist.%ld",
	    tmp != NULL && tmp[0] != '\0' ? tmp : "/tmp", (long)getpid());
	for (int i = 3; i + 1 < argc; i += 2) {
		if (strcmp(argv[i], "--keys") == 0)
			o.keys = atol(argv[i + 1]);
		else if (strcmp(argv[i], "--seconds") == 0)
			o.seconds = atof(argv[i + 1]);
		else if (strcmp(argv[i], "--reps") == 0)
			o.reps = atoi(argv[i + 1]);
		else if (strcmp(argv[i], "--dir") == 0)
			snprintf(o.dir, sizeof o.dir, "%s", argv[i + 1]);
		else if (strcmp(argv[i], "--part") == 0)
			o.part = argv[i + 1];
		else
			pb_die(argv[i],
			    "unknown option (--keys --seconds "
			    "--reps --dir --part)");
	}
	if ((argc - 3) % 2 != 0 || o.keys < 1 || o.seconds <= 0 || o.reps < 1 ||
	    o.reps > PB_MAX_REPS ||
	    (!pb_part(&o, "reads") && !pb_part(&o, "writes")))
		pb_die("usage",
		    "cmap-bench --suite persistent [--keys N] "
		    "[--seconds S] [--reps R<=15] [--dir D] "
		    "[--part all|reads|writes]");
	pb_lmdb_backend = pb_persistent_backend();
	if (pb_lmdb_backend == NULL)
		pb_die("libcmap", "this build has no persistent backend");
	if (mkdir(o.dir, 0755) != 0 && errno != EEXIST)
		pb_die(o.dir, strerror(errno));
	memset(res, 0, sizeof res);
	pb_make_order(o.keys);
	for (size_t i = 0; i < PB_NKINDS; i++)
		pb_engine(&pb_kinds[i], &o, &res[i]);
	free(pb_fill_order);
	if (pb_part(&o, "writes"))
		pb_writes(&o, res);
	for (size_t i = 0; i < PB_NKINDS; i++) {
		char dir[3200];

		snprintf(dir, sizeof dir, "%s/%s", o.dir, pb_kinds[i].name);
		(void)nftw(dir, pb_rm, 16, FTW_DEPTH | FTW_PHYS);
	}
	(void)rmdir(o.dir);
	pb_report(&o, res);
	return 0;
}
