/*
 * quickstart.c - count words from several threads in one libcmap map.
 *
 *   cmap_example_quickstart [BACKEND [THREADS [NAME=VALUE...]]]
 *
 * The backend is chosen by name, so the same program moves from one
 * thread to many by changing one word; backend options are text, set with
 * cmap_config_set().  With no arguments: sharded, 4 threads, shards=64.
 * A backend that is not thread-safe (plain) runs with one thread.
 */
#include <cmap.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KEYS 1000u
#define ROUNDS 200u
#define MAX_THREADS 64

static cmap_t *counts;

struct worker {
	pthread_t th;
	unsigned inserted; /* adds that found the key absent: INSERTED */
	const char *error;
};

static void *
work(void *arg)
{
	struct worker *w = arg;

	for (unsigned r = 0; r < ROUNDS; r++) {
		for (uint64_t k = 0; k < KEYS; k++) {
			cmap_status_t st = cmap_add(counts, k, 1, NULL);

			if (cmap_is_error(st)) { /* every success is >= 0 */
				w->error = cmap_strerror(st);
				return NULL;
			}
			if (st == CMAP_INSERTED)
				w->inserted++; /* the first add of k */
		}
	}
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
	static const char *const defaults[] = {"", "sharded", "4", "shards=64"};
	const char *const *args =
	    argc > 1 ? (const char *const *)argv : defaults;
	int nargs = argc > 1 ? argc : 4;
	unsigned nthreads = nargs > 2 ? (unsigned)atoi(args[2]) : 4;
	struct worker w[MAX_THREADS];
	cmap_backend_info_t info;
	cmap_config_t cfg;
	cmap_status_t st;
	unsigned inserted = 0;

	cmap_config_init(&cfg);
	cfg.backend = args[1];
	if (cmap_backend_info(cfg.backend, &info) != CMAP_OK) {
		fprintf(stderr, "%s: %s\n", cfg.backend, cmap_last_error());
		return 2;
	}
	for (int i = 3; i < nargs; i++) {
		char name[64];
		const char *eq = strchr(args[i], '=');

		if (eq == NULL || (size_t)(eq - args[i]) >= sizeof name) {
			fprintf(stderr, "%s: not NAME=VALUE\n", args[i]);
			return 2;
		}
		memcpy(name, args[i], (size_t)(eq - args[i]));
		name[eq - args[i]] = '\0';
		if (cmap_config_set(&cfg, name, eq + 1) != CMAP_OK) {
			fprintf(stderr, "%s\n", cmap_last_error());
			return 2;
		}
	}
	if (!(info.caps & CMAP_CAP_THREAD_SAFE) || nthreads == 0)
		nthreads = 1; /* one thread at a time */
	if (nthreads > MAX_THREADS)
		nthreads = MAX_THREADS;
	/* Options are checked here, against the backend. */
	st = cmap_create(&cfg, &counts);
	if (cmap_is_error(st)) {
		fprintf(stderr, "cmap_create: %s\n", cmap_last_error());
		return 1;
	}
	memset(w, 0, sizeof w);
	for (unsigned i = 0; i < nthreads; i++)
		pthread_create(&w[i].th, NULL, work, &w[i]);
	for (unsigned i = 0; i < nthreads; i++) {
		pthread_join(w[i].th, NULL);
		if (w[i].error != NULL) {
			fprintf(stderr, "cmap_add: %s\n", w[i].error);
			return 1;
		}
		inserted += w[i].inserted;
	}

	uint64_t want = (uint64_t)nthreads * ROUNDS;
	size_t len = cmap_len(counts);
	bool ok;

	cmap_range(counts, check, &want);
	/* Each key was INSERTED by exactly one add, whichever thread ran it. */
	ok = want != 0 && len == KEYS && inserted == KEYS;
	printf("%s: %zu keys (%u INSERTED), each counted %u times by %u "
	       "threads: %s\n",
	    cmap_backend(counts), len, inserted, (unsigned)(nthreads * ROUNDS),
	    nthreads, ok ? "ok" : "WRONG");
	cmap_destroy(counts);
	return ok ? 0 : 1;
}
