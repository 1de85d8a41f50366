/*
 * fuzz_replay.c - run the differential fuzz target without libFuzzer:
 * every file of a corpus directory, then N fresh pseudo-random inputs.
 * Works with any compiler; ctest runs it (label fuzz), under ASan+UBSan in
 * the sanitizer build.
 *
 *   fuzz_replay CORPUS_DIR [FRESH_INPUTS [SEED]]
 *   fuzz_replay --write-corpus DIR COUNT   (writes a seed corpus)
 *
 * FRESH_INPUTS is multiplied by CMAP_VERIFY_SCALE.  A failing input
 * aborts inside the target; the driver first prints which input it was,
 * and writes a fresh one to ./fuzz-failure.bin so it can be replayed.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fuzz_diff.h"

#define FZ_MAX_INPUT (64 * 1024)

static uint8_t buf[FZ_MAX_INPUT];

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int
write_corpus(const char *dir, long count)
{
	for (long i = 0; i < count; i++) {
		char path[4096];
		/* Sizes from 32 bytes to ~4 KB, a few larger ones. */
		size_t cap = i % 10 == 9 ? 6000 : 32 + (size_t)(i * 97) % 3000;
		size_t n = fuzz_generate((uint64_t)i + 1, buf, cap);
		FILE *f;

		snprintf(path, sizeof path, "%s/seed-%03ld", dir, i);
		f = fopen(path, "wb");
		if (f == NULL || fwrite(buf, 1, n, f) != n) {
			perror(path);
			return 1;
		}
		fclose(f);
		LLVMFuzzerTestOneInput(buf, n); /* each seed must pass */
	}
	printf("wrote %ld inputs to %s\n", count, dir);
	return 0;
}

int
main(int argc, char **argv)
{
	const char *dir;
	long fresh = 0, files = 0;
	unsigned long seed = 1;
	double scale = 1.0, t0 = now_s();
	const char *sc = getenv("CMAP_VERIFY_SCALE");
	char **names = NULL;
	size_t nnames = 0, capnames = 0;
	DIR *d;
	struct dirent *e;

	if (argc >= 4 && strcmp(argv[1], "--write-corpus") == 0)
		return write_corpus(argv[2], strtol(argv[3], NULL, 10));
	if (argc < 2) {
		fprintf(
		    stderr, "usage: %s CORPUS_DIR [FRESH [SEED]]\n", argv[0]);
		return 2;
	}
	dir = argv[1];
	if (argc >= 3)
		fresh = strtol(argv[2], NULL, 10);
	if (argc >= 4)
		seed = strtoul(argv[3], NULL, 10);
	if (sc != NULL && *sc != '\0')
		scale = strtod(sc, NULL);
	fresh = (long)((double)fresh * scale);

	d = opendir(dir);
	if (d == NULL) {
		fprintf(stderr, "%s: %s\n", dir, strerror(errno));
		return 2;
	}
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		if (nnames == capnames) {
			capnames = capnames ? 2 * capnames : 128;
			names = realloc(names, capnames * sizeof *names);
			if (names == NULL)
				abort();
		}
		names[nnames++] = strdup(e->d_name);
	}
	closedir(d);
	qsort(names, nnames, sizeof *names, cmp_str);
	for (size_t i = 0; i < nnames; i++) {
		char path[4096];
		FILE *f;
		size_t n;

		snprintf(path, sizeof path, "%s/%s", dir, names[i]);
		f = fopen(path, "rb");
		if (f == NULL) {
			perror(path);
			return 2;
		}
		n = fread(buf, 1, sizeof buf, f);
		fclose(f);
		/* the input a failure aborts in (stderr is unbuffered) */
		fprintf(stderr, "fuzz_replay: %s\n", path);
		LLVMFuzzerTestOneInput(buf, n);
		files++;
		free(names[i]);
	}
	free(names);
	if (files == 0) { /* an emptied corpus would replay nothing */
		fprintf(stderr, "%s: no corpus input\n", dir);
		return 2;
	}
	for (long i = 0; i < fresh; i++) {
		size_t n;

		if (i % 2 == 0) {
			n = fuzz_generate(
			    seed * 1000003u + (unsigned long)i, buf, 4096);
		} else {
			/* Raw random bytes: every byte string is an input. */
			uint64_t s = seed * 7919u + (uint64_t)i * 104729u + 1;

			n = 16 + (size_t)(i * 31) % 2000;
			for (size_t j = 0; j < n; j++) {
				s ^= s << 13;
				s ^= s >> 7;
				s ^= s << 17;
				buf[j] = (uint8_t)(s >> 24);
			}
		}
		{
			FILE *f = fopen("fuzz-failure.bin", "wb");

			if (f != NULL) {
				fwrite(buf, 1, n, f);
				fclose(f);
			}
		}
		LLVMFuzzerTestOneInput(buf, n);
	}
	remove("fuzz-failure.bin");
	printf("SUMMARY fuzz: corpus inputs replayed=%ld fresh inputs=%ld "
	       "ops=%lu (all backends) allocation failures armed=%lu "
	       "injected=%lu ENOMEM results checked=%lu; %.1fs\n",
	    files, fresh, fuzz_counts.ops, fuzz_counts.armed,
	    fuzz_counts.injected, fuzz_counts.enomem, now_s() - t0);
	return 0;
}
