/*
 * lockchoice.c - which lock for the rwlock backend?
 *
 * Runs the table core (src/table.c) behind each candidate lock on the
 * mix the issue names: 90% load / 10% store of present keys, 1M keys,
 * at 1, 2 and 16 threads (16 on a 2-core machine: oversubscribed), and
 * prints throughput and the ratio to the same lock's 1-thread figure.
 * Candidates: pthread_rwlock_t (default and writer-preferring),
 * pthread_mutex_t, ck_rwlock (spinning), and libcmap's brlock and
 * wordlock (lock.h).  Keys are drawn before the clock starts.
 *
 *   cmap-lockchoice [seconds-per-cell] [keys]
 *   CMAP_LOCKCHOICE_ONLY=brlock cmap-lockchoice   (one candidate)
 */
#include "lock.h"
#include "table.h"

#include <ck_rwlock.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum lock_kind {
	L_PTHREAD_RW,
	L_PTHREAD_RW_WP,
	L_MUTEX,
	L_CK_RW,
	L_BRLOCK,
	L_WORDLOCK,
	L_COUNT
};
static const char *const lock_names[L_COUNT] = {"pthread_rwlock",
    "pthread_rwlock(writer-pref)", "pthread_mutex", "ck_rwlock", "cmap brlock",
    "cmap wordlock"};

static struct {
	enum lock_kind kind;
	pthread_rwlock_t prw;
	pthread_mutex_t mtx;
	ck_rwlock_t ckrw;
	struct cmap__brlock *br;
	cmap__wordlock_t wl;
	struct cmap_table table;
	cmap_allocator_t alloc;
	uint64_t seed;
	uint64_t *keys;
	size_t nkeys;
	atomic_int stop;
} g;

#define STREAM (1u << 20)

struct worker {
	_Alignas(64) uint64_t ops;
	uint64_t *stream; /* key | (is_write << 0) in a separate array */
	uint8_t *write;
	pthread_t th;
};

static uint64_t
rng_next(uint64_t *s)
{
	uint64_t z = (*s += UINT64_C(0x9e3779b97f4a7c15));

	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

static void *
sys_alloc(void *ctx, size_t size, size_t align)
{
	void *p;

	(void)ctx;
	return posix_memalign(&p, align < 8 ? 8 : align, size) ? NULL : p;
}

static void
sys_free(void *ctx, void *p, size_t size)
{
	(void)ctx;
	(void)size;
	free(p);
}

static void
op(uint64_t key, int write)
{
	uint64_t hash = cmap__hash(key, g.seed), v;
	struct cmap_req req = {.kind = CMAP_REQ_STORE, .key = key, .a = key};
	unsigned s;

	switch (g.kind) {
	case L_PTHREAD_RW:
	case L_PTHREAD_RW_WP:
		if (write) {
			pthread_rwlock_wrlock(&g.prw);
			cmap__table_exec(&g.table, hash, &req);
		} else {
			pthread_rwlock_rdlock(&g.prw);
			cmap__table_load(&g.table, key, hash, &v);
		}
		pthread_rwlock_unlock(&g.prw);
		break;
	case L_MUTEX:
		pthread_mutex_lock(&g.mtx);
		if (write)
			cmap__table_exec(&g.table, hash, &req);
		else
			cmap__table_load(&g.table, key, hash, &v);
		pthread_mutex_unlock(&g.mtx);
		break;
	case L_CK_RW:
		if (write) {
			ck_rwlock_write_lock(&g.ckrw);
			cmap__table_exec(&g.table, hash, &req);
			ck_rwlock_write_unlock(&g.ckrw);
		} else {
			ck_rwlock_read_lock(&g.ckrw);
			cmap__table_load(&g.table, key, hash, &v);
			ck_rwlock_read_unlock(&g.ckrw);
		}
		break;
	case L_BRLOCK:
		if (write) {
			cmap__brlock_write_lock(g.br);
			cmap__table_exec(&g.table, hash, &req);
			cmap__brlock_write_unlock(g.br);
		} else {
			s = cmap__brlock_read_lock(g.br);
			cmap__table_load(&g.table, key, hash, &v);
			cmap__brlock_read_unlock(g.br, s);
		}
		break;
	case L_WORDLOCK:
		if (write) {
			cmap__wordlock_write_lock(&g.wl);
			cmap__table_exec(&g.table, hash, &req);
			cmap__wordlock_write_unlock(&g.wl);
		} else {
			cmap__wordlock_read_lock(&g.wl);
			cmap__table_load(&g.table, key, hash, &v);
			cmap__wordlock_read_unlock(&g.wl);
		}
		break;
	case L_COUNT:
		break;
	}
}

static void *
run(void *p)
{
	struct worker *w = p;
	uint64_t n = 0;

	while (!atomic_load_explicit(&g.stop, memory_order_relaxed)) {
		for (unsigned i = 0; i < 1024; i++, n++) {
			size_t j = n & (STREAM - 1);

			op(w->stream[j], w->write[j]);
		}
	}
	w->ops = n;
	return NULL;
}

static double
cell(enum lock_kind kind, int threads, double seconds, struct worker *ws)
{
	struct timespec t0, t1;
	uint64_t total = 0;

	g.kind = kind;
	atomic_store(&g.stop, 0);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (int i = 0; i < threads; i++)
		pthread_create(&ws[i].th, NULL, run, &ws[i]);
	struct timespec d = {
	    (time_t)seconds, (long)((seconds - (double)(time_t)seconds) * 1e9)};
	nanosleep(&d, NULL);
	atomic_store(&g.stop, 1);
	for (int i = 0; i < threads; i++) {
		pthread_join(ws[i].th, NULL);
		total += ws[i].ops;
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (double)total /
	    ((double)(t1.tv_sec - t0.tv_sec) +
	        (double)(t1.tv_nsec - t0.tv_nsec) * 1e-9) /
	    1e6;
}

int
main(int argc, char **argv)
{
	double seconds = argc > 1 ? atof(argv[1]) : 1.0;
	size_t nkeys = argc > 2 ? (size_t)atol(argv[2]) : 1000000;
	const int threads[] = {1, 2, 16};
	struct worker ws[16];
	uint64_t rs = 42;
	pthread_rwlockattr_t wp;

	g.alloc = (cmap_allocator_t){sys_alloc, sys_free, NULL};
	g.seed = UINT64_C(0x5eed);
	g.nkeys = nkeys;
	g.keys = malloc(nkeys * sizeof *g.keys);
	if (g.keys == NULL ||
	    cmap_is_error(cmap__table_init(&g.table, &g.alloc, g.seed, 0)))
		return 1;
	for (size_t i = 0; i < nkeys; i++) {
		struct cmap_req req = {.kind = CMAP_REQ_STORE};

		g.keys[i] = req.key = rng_next(&rs) | 1;
		cmap__table_exec(&g.table, cmap__hash(req.key, g.seed), &req);
	}
	for (int t = 0; t < 16; t++) {
		memset(&ws[t], 0, sizeof ws[t]);
		ws[t].stream = malloc(STREAM * sizeof(uint64_t));
		ws[t].write = malloc(STREAM);
		for (unsigned i = 0; i < STREAM; i++) {
			ws[t].stream[i] = g.keys[rng_next(&rs) % nkeys];
			ws[t].write[i] = rng_next(&rs) % 100 < 10;
		}
	}
	pthread_rwlock_init(&g.prw, NULL);
	pthread_mutex_init(&g.mtx, NULL);
	ck_rwlock_init(&g.ckrw);
	g.br = aligned_alloc(
	    CMAP_CACHE_LINE, cmap__brlock_size(cmap__brlock_stripes()));
	cmap__brlock_init(g.br, cmap__brlock_stripes());
	cmap__wordlock_init(&g.wl);
	printf(
	    "# 90%% load / 10%% store, %zu keys, %.1f s per cell, %ld cpus\n",
	    nkeys, seconds, sysconf(_SC_NPROCESSORS_ONLN));
	printf("%-28s %10s %10s %10s %8s %8s\n", "lock", "1T Mops", "2T Mops",
	    "16T Mops", "2T/1T", "16T/1T");
	const char *only = getenv("CMAP_LOCKCHOICE_ONLY");

	for (int k = 0; k < L_COUNT; k++) {
		double r[3];

		if (only != NULL && strstr(lock_names[k], only) == NULL)
			continue;
		if (k == L_PTHREAD_RW_WP) {
			pthread_rwlock_destroy(&g.prw);
			pthread_rwlockattr_init(&wp);
			pthread_rwlockattr_setkind_np(
			    &wp, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
			pthread_rwlock_init(&g.prw, &wp);
		}
		for (int i = 0; i < 3; i++)
			r[i] = cell((enum lock_kind)k, threads[i], seconds, ws);
		printf("%-28s %10.2f %10.2f %10.2f %8.2f %8.2f\n",
		    lock_names[k], r[0], r[1], r[2], r[1] / r[0], r[2] / r[0]);
		fflush(stdout);
	}
	return 0;
}
