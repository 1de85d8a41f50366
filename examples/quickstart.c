/*
 * quickstart.c - count words from several threads in one libcmap map.
 *
 * The backend comes from the command line ("plain" only with one
 * thread), so the same program moves from one thread to many by changing
 * one name:  ./cmap_example_quickstart sharded 4
 */
#include <cmap.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#define KEYS 1000u
#define ROUNDS 200u

static cmap_t *counts;

static void *
worker(void *arg)
{
	(void)arg;
	for (unsigned r = 0; r < ROUNDS; r++)
		for (uint64_t k = 0; k < KEYS; k++)
			if (cmap_add(counts, k, 1, NULL) < 0)
				return "add failed";
	return NULL;
}

static bool
check(uint64_t key, uint64_t value, void *ctx)
{
	uint64_t *want = ctx;

	(void)key;
	if (value != *want) {
		*want = 0;
		return false;
	}
	return true;
}

int
main(int argc, char **argv)
{
	const char *name = argc > 1 ? argv[1] : "sharded";
	unsigned nthreads = argc > 2 ? (unsigned)atoi(argv[2]) : 4;
	cmap_config_t cfg;
	cmap_status_t st;
	pthread_t th[64];

	cmap_config_init(&cfg);
	st = cmap_backend_from_name(name, &cfg.backend);
	if (st != CMAP_OK) {
		fprintf(stderr, "%s: %s\n", name, cmap_strerror(st));
		return 2;
	}
	if (cfg.backend == CMAP_BACKEND_PLAIN || nthreads == 0)
		nthreads = 1; /* plain is for one thread at a time */
	if (nthreads > 64)
		nthreads = 64;
	st = cmap_create(&cfg, &counts);
	if (st != CMAP_OK) {
		fprintf(stderr, "cmap_create: %s\n", cmap_strerror(st));
		return 1;
	}
	for (unsigned i = 0; i < nthreads; i++)
		pthread_create(&th[i], NULL, worker, NULL);
	for (unsigned i = 0; i < nthreads; i++) {
		void *err;

		pthread_join(th[i], &err);
		if (err != NULL) {
			fprintf(stderr, "%s\n", (const char *)err);
			return 1;
		}
	}
	uint64_t want = (uint64_t)nthreads * ROUNDS;
	size_t len = cmap_len(counts);
	bool ok;

	cmap_range(counts, check, &want);
	ok = want != 0 && len == KEYS;
	printf("%s: %zu keys, each counted %u times by %u threads: %s\n",
	    cmap_backend_name(cfg.backend), len, (unsigned)(nthreads * ROUNDS),
	    nthreads, ok ? "ok" : "WRONG");
	cmap_destroy(counts);
	return ok ? 0 : 1;
}
