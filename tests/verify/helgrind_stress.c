/*
 * helgrind_stress.c - a short concurrent stress of the blocking backends
 * (thread-safe and not lock-free by their capabilities: rwlock, sharded
 * in the built-in set) meant to run under valgrind's helgrind or DRD:
 *
 *   valgrind --tool=helgrind --error-exitcode=1 helgrind_stress [OPS]
 *
 * 4 threads x OPS operations (default 2,000) of every kind on 64 shared
 * keys, with a few range/len/clear calls; results are only sanity-checked
 * (the linearizability tests check them properly); the point is the race
 * detector.  The lock-free backends are left out: helgrind and DRD know
 * locks, not the compare-and-swap protocols those use.  Plain C program:
 * exits non-zero on failure (also when no backend qualifies).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "cmap.h"

#define HS_THREADS 4
#define HS_KEYS 64

struct hs {
	cmap_t *map;
	long ops;
	int id;
	unsigned long bad;
};

static cmap_update_action_t
hs_inc(uint64_t key, uint64_t *value, bool present, void *ctx)
{
	(void)key;
	(void)ctx;
	*value = present ? *value + 1 : 1;
	return CMAP_UPDATE_STORE;
}

static bool
hs_range(uint64_t key, uint64_t value, void *ctx)
{
	(void)value;
	*(unsigned long *)ctx += key >= HS_KEYS;
	return true;
}

static void *
hs_main(void *p)
{
	struct hs *h = p;
	uint64_t s = (uint64_t)h->id * 0x9e3779b97f4a7c15u + 1, v;

	for (long i = 0; i < h->ops; i++) {
		uint64_t k, r;

		s ^= s << 13;
		s ^= s >> 7;
		s ^= s << 17;
		k = s % HS_KEYS;
		r = (s >> 8) % 100;
		if (r < 30)
			h->bad += cmap_load(h->map, k, &v) < 0;
		else if (r < 45)
			h->bad += cmap_store(h->map, k, s) < 0;
		else if (r < 55)
			h->bad += cmap_delete(h->map, k) < 0;
		else if (r < 65)
			h->bad += cmap_add(h->map, k, 1, NULL) < 0;
		else if (r < 75)
			h->bad +=
			    cmap_compare_and_swap(h->map, k, s & 3, s & 7) < 0;
		else if (r < 85)
			h->bad +=
			    cmap_update(h->map, k, hs_inc, NULL, NULL) < 0;
		else if (r < 93)
			h->bad += cmap_swap(h->map, k, 2, &v) < 0;
		else if (r < 97)
			h->bad += cmap_range(h->map, hs_range, &h->bad) < 0;
		else if (r < 99)
			(void)cmap_len(h->map);
		else
			h->bad += cmap_clear(h->map) < 0;
	}
	return NULL;
}

int
main(int argc, char **argv)
{
	long ops = argc > 1 ? strtol(argv[1], NULL, 10) : 2000;
	unsigned long bad = 0;
	char names[256] = "";
	size_t used = 0;
	int nb = 0;
	const char *name;

	for (size_t b = 0; (name = cmap_backend_at(b)) != NULL; b++) {
		cmap_backend_info_t info;
		struct hs hs[HS_THREADS];
		pthread_t th[HS_THREADS];
		cmap_config_t cfg;
		cmap_t *m = NULL;

		if (cmap_backend_info(name, &info) != CMAP_OK)
			return 1;
		if ((info.caps & CMAP_CAP_THREAD_SAFE) == 0 ||
		    (info.caps & CMAP_CAP_LOCK_FREE) != 0)
			continue;
		/* Disk and server backends synchronise inside their library
		 * (LMDB's reader table is lock-free, with barriers helgrind
		 * does not follow): ThreadSanitizer's stress runs cover them.
		 */
		if (info.caps & (CMAP_CAP_PERSISTENT | CMAP_CAP_REMOTE))
			continue;
		cmap_config_init(&cfg);
		cfg.backend = name;
		cfg.shards = 4; /* where the backend has shards */
		if (cmap_create(&cfg, &m) != CMAP_OK) {
			fprintf(stderr, "cmap_create(%s) failed: %s\n", name,
			    cmap_last_error());
			return 1;
		}
		for (int i = 0; i < HS_THREADS; i++) {
			hs[i] = (struct hs){m, ops, i, 0};
			if (pthread_create(&th[i], NULL, hs_main, &hs[i]) != 0)
				return 1;
		}
		for (int i = 0; i < HS_THREADS; i++) {
			pthread_join(th[i], NULL);
			bad += hs[i].bad;
		}
		cmap_destroy(m);
		if (used < sizeof names)
			used += (size_t)snprintf(names + used,
			    sizeof names - used, "%s%s", nb ? "," : "", name);
		nb++;
	}
	if (nb == 0) {
		fprintf(stderr,
		    "helgrind_stress: no thread-safe blocking "
		    "backend in this build\n");
		return 1;
	}
	printf("SUMMARY helgrind_stress: backends=%s threads=%d ops=%ld "
	       "errors=%lu\n",
	    names, HS_THREADS, nb * HS_THREADS * ops, bad);
	return bad != 0;
}
