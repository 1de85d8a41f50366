#include "testutil.h"

#include <ftw.h>
#include <sys/stat.h>
#include <pthread.h>
#include <setjmp.h>
#include <unistd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

const uint64_t tu_edge_values[] = {
    0,
    1,
    UINT64_MAX,
    UINT64_MAX - 1,
    UINT64_C(1) << 63,
    (UINT64_C(1) << 63) - 1,
    UINT64_C(0xdeadbeefdeadbeef),
};
const size_t tu_n_edge_values =
    sizeof(tu_edge_values) / sizeof(tu_edge_values[0]);

uint64_t
tu_caps(const char *backend)
{
	cmap_backend_info_t info;

	return cmap_backend_info(backend, &info) == CMAP_OK ? info.caps : 0;
}

bool
tu_has(const char *backend, uint64_t caps)
{
	return (tu_caps(backend) & caps) == caps;
}

bool
tu_option(const char *backend, const char *name, cmap_option_info_t *opt)
{
	cmap_backend_info_t info;
	cmap_option_info_t o;

	if (cmap_backend_info(backend, &info) != CMAP_OK)
		return false;
	for (size_t i = 0; i < info.n_options; i++)
		if (cmap_backend_option(backend, i, &o) == CMAP_OK &&
		    strcmp(o.name, name) == 0) {
			if (opt != NULL)
				*opt = o;
			return true;
		}
	return false;
}

/* ---- the environment of persistent and remote backends ---- */

static pthread_mutex_t env_lock = PTHREAD_MUTEX_INITIALIZER;
static char env_root[3072]; /* this process's directory of map dirs */
static unsigned long env_serial;

static int
env_rm(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void
env_cleanup(void)
{
	if (env_root[0] != '\0')
		(void)nftw(env_root, env_rm, 16, FTW_DEPTH | FTW_PHYS);
}

/* A new empty directory for one persistent map, in out[4096]. */
static void
env_new_dir(char *out)
{
	pthread_mutex_lock(&env_lock);
	if (env_root[0] == '\0') {
		const char *base = getenv("CMAP_TEST_DIR");

		if (base == NULL || base[0] == '\0')
			base = getenv("TMPDIR");
		if (base == NULL || base[0] == '\0')
			base = "/tmp";
		snprintf(
		    env_root, sizeof env_root, "%s/cmap-test.XXXXXX", base);
		if (mkdtemp(env_root) == NULL) {
			fprintf(
			    stderr, "testutil: mkdtemp(%s) failed\n", env_root);
			abort();
		}
		atexit(env_cleanup);
	}
	snprintf(out, 4096, "%s/map%lu", env_root, env_serial++);
	pthread_mutex_unlock(&env_lock);
	if (mkdir(out, 0700) != 0) {
		fprintf(stderr, "testutil: mkdir(%s) failed\n", out);
		abort();
	}
}

bool
tu_backend_runnable(const char *backend)
{
	static atomic_int told;
	const char *servers;

	if (!tu_has(backend, CMAP_CAP_REMOTE))
		return true;
	servers = getenv("CMAP_TEST_REDIS");
	if (servers != NULL && servers[0] != '\0')
		return true;
	if (atomic_exchange(&told, 1) == 0)
		fprintf(stderr,
		    "testutil: CMAP_TEST_REDIS is not set: backend "
		    "'%s' is left out (tests/run.sh starts a server "
		    "and sets it)\n",
		    backend);
	return false;
}

void
tu_config_init(cmap_config_t *cfg, const char *backend)
{
	cmap_config_init(cfg);
	cfg->backend = backend;
	if (backend == NULL)
		return;
	if (tu_has(backend, CMAP_CAP_PERSISTENT) &&
	    tu_option(backend, "path", NULL)) {
		char dir[4096];

		env_new_dir(dir);
		(void)cmap_config_set(cfg, "path", dir);
	}
	if (tu_has(backend, CMAP_CAP_REMOTE)) {
		const char *servers = getenv("CMAP_TEST_REDIS");
		char ns[64];

		if (servers != NULL && tu_option(backend, "servers", NULL))
			(void)cmap_config_set(cfg, "servers", servers);
		pthread_mutex_lock(&env_lock);
		snprintf(ns, sizeof ns, "test-%ld-%lu-%lx", (long)getpid(),
		    env_serial++, (unsigned long)time(NULL));
		pthread_mutex_unlock(&env_lock);
		if (tu_option(backend, "namespace", NULL))
			(void)cmap_config_set(cfg, "namespace", ns);
		if (tu_option(backend, "buckets", NULL))
			(void)cmap_config_set(cfg, "buckets", "16");
	}
}

size_t
tu_backends_with(uint64_t caps, const char *out[TU_MAX_BACKENDS])
{
	const char *name;
	size_t n = 0;

	for (size_t i = 0; (name = cmap_backend_at(i)) != NULL; i++)
		if (n < TU_MAX_BACKENDS && tu_has(name, caps) &&
		    tu_backend_runnable(name))
			out[n++] = name;
	return n;
}

size_t
tu_backends(const char *out[TU_MAX_BACKENDS])
{
	return tu_backends_with(0, out);
}

size_t
tu_thread_safe_backends(const char *out[TU_MAX_BACKENDS])
{
	return tu_backends_with(CMAP_CAP_THREAD_SAFE, out);
}

cmap_t *
tu_create_cfg(const cmap_config_t *cfg)
{
	cmap_t *m = NULL;
	cmap_status_t s = cmap_create(cfg, &m);

	assert_int_equal(s, CMAP_OK);
	assert_non_null(m);
	return m;
}

cmap_t *
tu_create(const char *backend, size_t capacity)
{
	cmap_config_t cfg;

	tu_config_init(&cfg, backend);
	cfg.capacity = capacity;
	return tu_create_cfg(&cfg);
}

/* ---- allocator ---- */
#define TU_ALLOC_MAX_SIZE ((size_t)1 << 39)

void
tu_alloc_init(struct tu_alloc *a)
{
	memset(a, 0, sizeof *a);
	atomic_store(&a->rng, UINT64_C(0x1234567));
}

static bool
tu_alloc_should_fail(struct tu_alloc *a)
{
	long n = atomic_load(&a->fail_at);

	while (n > 0) {
		if (atomic_compare_exchange_weak(&a->fail_at, &n, n - 1))
			return n == 1;
	}
	unsigned pm = atomic_load(&a->fail_permille);
	if (pm != 0) {
		tu_rng_t r = {
		    atomic_fetch_add(&a->rng, UINT64_C(0x9e3779b97f4a7c15))};
		return tu_rng_next(&r) % 1000 < pm;
	}
	return false;
}

static void *
tu_alloc_alloc(void *ctx, size_t size, size_t align)
{
	struct tu_alloc *a = ctx;
	void *p;

	if (tu_alloc_should_fail(a)) {
		atomic_fetch_add(&a->failed, 1);
		return NULL;
	}
	if (align < sizeof(void *))
		align = sizeof(void *);
	/* Refuse absurd sizes as malloc would, before the sanitizers'
	 * allocators (which abort on them) see them. */
	if (size > TU_ALLOC_MAX_SIZE)
		return NULL;
	if (posix_memalign(&p, align, size ? size : 1) != 0)
		return NULL;
	long live = atomic_fetch_add(&a->live_bytes, (long)size) + (long)size;
	long peak = atomic_load(&a->peak_bytes);
	while (live > peak &&
	    !atomic_compare_exchange_weak(&a->peak_bytes, &peak, live))
		;
	atomic_fetch_add(&a->allocs, 1);
	return p;
}

static void
tu_alloc_free(void *ctx, void *ptr, size_t size)
{
	struct tu_alloc *a = ctx;

	atomic_fetch_sub(&a->live_bytes, (long)size);
	atomic_fetch_add(&a->frees, 1);
	free(ptr);
}

void
tu_alloc_install(struct tu_alloc *a, cmap_config_t *cfg)
{
	cfg->allocator.alloc = tu_alloc_alloc;
	cfg->allocator.free = tu_alloc_free;
	cfg->allocator.ctx = a;
}

void
tu_alloc_fail_nth(struct tu_alloc *a, long n)
{
	atomic_store(&a->fail_at, n);
}

double
tu_now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* ---- model ---- */
void
tu_model_init(struct tu_model *m)
{
	memset(m, 0, sizeof *m);
}

void
tu_model_fini(struct tu_model *m)
{
	free(m->keys);
	free(m->vals);
	free(m->idx);
	memset(m, 0, sizeof *m);
}

static size_t
tu_model_slot0(const struct tu_model *m, uint64_t key)
{
	uint64_t z = key + UINT64_C(0x9e3779b97f4a7c15);

	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	z ^= z >> 31;
	return (size_t)z & (m->idx_cap - 1);
}

/* The index slot holding key, or the empty slot where it would go. */
static size_t
tu_model_slot(const struct tu_model *m, uint64_t key)
{
	size_t s = tu_model_slot0(m, key);

	while (m->idx[s] != 0 && m->keys[m->idx[s] - 1] != key)
		s = (s + 1) & (m->idx_cap - 1);
	return s;
}

static void
tu_model_reindex(struct tu_model *m, size_t cap)
{
	free(m->idx);
	m->idx = calloc(cap, sizeof *m->idx);
	assert_non_null(m->idx);
	m->idx_cap = cap;
	for (size_t i = 0; i < m->len; i++)
		m->idx[tu_model_slot(m, m->keys[i])] = i + 1;
}

size_t
tu_model_index(const struct tu_model *m, uint64_t key)
{
	if (m->idx_cap == 0)
		return SIZE_MAX;
	size_t s = tu_model_slot(m, key);
	return m->idx[s] == 0 ? SIZE_MAX : m->idx[s] - 1;
}

static size_t
tu_model_find(const struct tu_model *m, uint64_t key)
{
	return tu_model_index(m, key);
}

bool
tu_model_get(const struct tu_model *m, uint64_t key, uint64_t *val)
{
	size_t i = tu_model_find(m, key);

	if (i == SIZE_MAX)
		return false;
	if (val)
		*val = m->vals[i];
	return true;
}

void
tu_model_put(struct tu_model *m, uint64_t key, uint64_t val)
{
	size_t i = tu_model_find(m, key);

	if (i != SIZE_MAX) {
		m->vals[i] = val;
		return;
	}
	if (m->len == m->cap) {
		m->cap = m->cap ? 2 * m->cap : 64;
		m->keys = realloc(m->keys, m->cap * sizeof *m->keys);
		m->vals = realloc(m->vals, m->cap * sizeof *m->vals);
		assert_non_null(m->keys);
		assert_non_null(m->vals);
	}
	m->keys[m->len] = key;
	m->vals[m->len] = val;
	m->len++;
	/* Keep the index at most half full. */
	if (2 * m->len > m->idx_cap)
		tu_model_reindex(m, m->idx_cap ? 2 * m->idx_cap : 128);
	else
		m->idx[tu_model_slot(m, key)] = m->len;
}

/* Remove index slot s by backward shifting the entries after it. */
static void
tu_model_unindex(struct tu_model *m, size_t s)
{
	size_t mask = m->idx_cap - 1;
	size_t hole = s;

	for (size_t j = (s + 1) & mask; m->idx[j] != 0; j = (j + 1) & mask) {
		size_t home = tu_model_slot0(m, m->keys[m->idx[j] - 1]);
		/* The entry at j may move to the hole when its home is not
		 * cyclically within (hole, j]. */
		if (((j - home) & mask) >= ((j - hole) & mask)) {
			m->idx[hole] = m->idx[j];
			hole = j;
		}
	}
	m->idx[hole] = 0;
}

bool
tu_model_del(struct tu_model *m, uint64_t key)
{
	if (m->idx_cap == 0)
		return false;
	size_t s = tu_model_slot(m, key);
	if (m->idx[s] == 0)
		return false;
	size_t i = m->idx[s] - 1;
	tu_model_unindex(m, s);
	m->len--;
	if (i != m->len) {
		/* Move the last entry into position i. */
		m->keys[i] = m->keys[m->len];
		m->vals[i] = m->vals[m->len];
		m->idx[tu_model_slot(m, m->keys[i])] = i + 1;
	}
	return true;
}

void
tu_model_clear(struct tu_model *m)
{
	m->len = 0;
	if (m->idx_cap != 0)
		memset(m->idx, 0, m->idx_cap * sizeof *m->idx);
}

struct tu_range_check {
	const struct tu_model *model;
	size_t visited;
	unsigned char *seen;
};

static bool
tu_range_check_cb(uint64_t key, uint64_t value, void *ctx)
{
	struct tu_range_check *rc = ctx;
	size_t i = tu_model_find(rc->model, key);

	assert_true(i != SIZE_MAX); /* no invented key */
	assert_true(rc->model->vals[i] == value);
	assert_int_equal(rc->seen[i], 0); /* never twice */
	rc->seen[i] = 1;
	rc->visited++;
	return true;
}

/* The model's keys loaded 1,000 a batch: on a remote map a load is a
 * round trip, a batch one per node (single loads are checked by the
 * suites themselves). */
static void
tu_assert_loads_batched(cmap_t *map, const struct tu_model *m)
{
	enum { B = 1000 };
	static _Thread_local uint64_t out[B];
	static _Thread_local cmap_status_t st[B];

	for (size_t i = 0; i < m->len; i += B) {
		size_t n = m->len - i < B ? m->len - i : B;

		assert_int_equal(
		    cmap_load_batch(map, n, &m->keys[i], out, st), CMAP_OK);
		for (size_t j = 0; j < n; j++) {
			assert_int_equal(st[j], CMAP_OK);
			assert_true(out[j] == m->vals[i + j]);
		}
	}
}

void
tu_assert_map_equals_model(cmap_t *map, const struct tu_model *m)
{
	struct tu_range_check rc = {m, 0, calloc(m->len + 1, 1)};

	assert_non_null(rc.seen);
	assert_int_equal(cmap_len(map), m->len);
	if (tu_has(cmap_backend(map), CMAP_CAP_REMOTE)) {
		tu_assert_loads_batched(map, m);
	} else {
		for (size_t i = 0; i < m->len; i++) {
			uint64_t v = ~m->vals[i];
			assert_int_equal(
			    cmap_load(map, m->keys[i], &v), CMAP_OK);
			assert_true(v == m->vals[i]);
		}
	}
	assert_int_equal(cmap_range(map, tu_range_check_cb, &rc), CMAP_OK);
	assert_int_equal(rc.visited, m->len);
	free(rc.seen);
}

/* ---- threads ---- */
struct tu_thread_arg {
	int i;
	void (*fn)(int, void *);
	void *arg;
	pthread_barrier_t *start;
};

static void *
tu_thread_main(void *p)
{
	struct tu_thread_arg *t = p;

	pthread_barrier_wait(t->start);
	t->fn(t->i, t->arg);
	return NULL;
}

void
tu_run_threads(int n, void (*fn)(int i, void *arg), void *arg)
{
	pthread_t *th = calloc((size_t)n, sizeof *th);
	struct tu_thread_arg *ta = calloc((size_t)n, sizeof *ta);
	pthread_barrier_t start;

	assert_non_null(th);
	assert_non_null(ta);
	pthread_barrier_init(&start, NULL, (unsigned)n);
	for (int i = 0; i < n; i++) {
		ta[i] = (struct tu_thread_arg){i, fn, arg, &start};
		assert_int_equal(
		    pthread_create(&th[i], NULL, tu_thread_main, &ta[i]), 0);
	}
	for (int i = 0; i < n; i++)
		pthread_join(th[i], NULL);
	pthread_barrier_destroy(&start);
	free(th);
	free(ta);
}

/* ---- stress scaling ---- */
double
tu_stress_scale(void)
{
	const char *s = getenv("CMAP_STRESS_SCALE");
	char *end;
	double f;

	if (s == NULL || *s == '\0')
		return 1.0;
	f = strtod(s, &end);
	if (*end != '\0' || !(f > 0.0) || f > 1e6)
		return 1.0;
	return f;
}

long
tu_scaled(long n)
{
	double v = (double)n * tu_stress_scale();

	return v < 1.0 ? 1 : (long)v;
}

/* ---- checking allocator ---- */
/* The hidden header in front of each block; the block itself starts
 * max(align, sizeof header) bytes after the raw allocation. */
struct tu_chk_hdr {
	uint64_t magic;
	uint64_t size;
	uint64_t offset; /* from the raw allocation to the block */
	uint64_t pad;
};
#define TU_CHK_MAGIC UINT64_C(0x636d61702d63686b)

void
tu_chk_alloc_init(struct tu_chk_alloc *a)
{
	memset(a, 0, sizeof *a);
}

static void *
tu_chk_alloc_alloc(void *ctx, size_t size, size_t align)
{
	struct tu_chk_alloc *a = ctx;
	long n = atomic_load(&a->fail_at);
	size_t off;
	void *raw;

	while (n > 0) {
		if (atomic_compare_exchange_weak(&a->fail_at, &n, n - 1)) {
			if (n == 1) {
				atomic_fetch_add(&a->failed, 1);
				return NULL;
			}
			break;
		}
	}
	if (align == 0 || (align & (align - 1)) != 0 || align > 4096) {
		atomic_fetch_add(&a->bad_align, 1);
		align = 4096;
	}
	off = align > sizeof(struct tu_chk_hdr) ? align
	                                        : sizeof(struct tu_chk_hdr);
	if (size > TU_ALLOC_MAX_SIZE)
		return NULL;
	if (posix_memalign(&raw,
	        align < sizeof(void *) ? sizeof(void *) : align,
	        off + size) != 0)
		return NULL;
	char *p = (char *)raw + off;
	struct tu_chk_hdr h = {TU_CHK_MAGIC, size, off, 0};
	memcpy(p - sizeof h, &h, sizeof h);
	atomic_fetch_add(&a->live_bytes, (long)size);
	atomic_fetch_add(&a->live_blocks, 1);
	atomic_fetch_add(&a->allocs, 1);
	return p;
}

static void
tu_chk_alloc_free(void *ctx, void *ptr, size_t size)
{
	struct tu_chk_alloc *a = ctx;
	struct tu_chk_hdr h;

	if (ptr == NULL) {
		atomic_fetch_add(&a->bad_ptr, 1);
		return;
	}
	memcpy(&h, (char *)ptr - sizeof h, sizeof h);
	if (h.magic != TU_CHK_MAGIC) {
		atomic_fetch_add(&a->bad_ptr, 1);
		return; /* leak rather than corrupt the heap */
	}
	if (h.size != size)
		atomic_fetch_add(&a->bad_size, 1);
	h.magic = 0;
	memcpy((char *)ptr - sizeof h, &h, sizeof h);
	atomic_fetch_sub(&a->live_bytes, (long)h.size);
	atomic_fetch_sub(&a->live_blocks, 1);
	free((char *)ptr - h.offset);
}

void
tu_chk_alloc_install(struct tu_chk_alloc *a, cmap_config_t *cfg)
{
	cfg->allocator.alloc = tu_chk_alloc_alloc;
	cfg->allocator.free = tu_chk_alloc_free;
	cfg->allocator.ctx = a;
}

void
tu_chk_alloc_assert_clean(struct tu_chk_alloc *a)
{
	assert_int_equal(atomic_load(&a->bad_align), 0);
	assert_int_equal(atomic_load(&a->bad_size), 0);
	assert_int_equal(atomic_load(&a->bad_ptr), 0);
	assert_int_equal(atomic_load(&a->live_blocks), 0);
	assert_int_equal(atomic_load(&a->live_bytes), 0);
}

int
tu_chk_alloc_report(struct tu_chk_alloc *a)
{
	if (atomic_load(&a->live_blocks) == 0 &&
	    atomic_load(&a->live_bytes) == 0 &&
	    atomic_load(&a->bad_align) == 0 && atomic_load(&a->bad_size) == 0 &&
	    atomic_load(&a->bad_ptr) == 0)
		return 0;
	fprintf(stderr,
	    "allocator not clean: live_blocks=%ld live_bytes=%ld "
	    "bad_align=%ld bad_size=%ld bad_ptr=%ld\n",
	    atomic_load(&a->live_blocks), atomic_load(&a->live_bytes),
	    atomic_load(&a->bad_align), atomic_load(&a->bad_size),
	    atomic_load(&a->bad_ptr));
	return -1;
}
