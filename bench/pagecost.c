/*
 * pagecost.c - what the kernel charges for a table's pages on this
 * machine (Linux), the two figures docs/design.md and docs/lockfree.md
 * quote when they explain why a resize zeroes its new table a few KiB per
 * write and gives drained pages back as it goes:
 *   - the first touch of fresh anonymous memory, per 8 KiB (the step a
 *     resize zeroes per write): the page faults and the kernel's zeroing;
 *   - one munmap of a block of 50 and 64 MiB whose pages are all resident
 *     (the free of a drained table in one call).
 * Each is the median of 9 trials, min and max beside it; wall time
 * (CLOCK_MONOTONIC), so run it on a quiet machine.  No libcmap code runs.
 *
 *   BUILD/bench/cmap-pagecost    (or: cc -O2 bench/pagecost.c -o /tmp/pagecost)
 */
#ifndef _GNU_SOURCE /* the build may define it */
#define _GNU_SOURCE
#endif
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>

#define TRIALS 9

static double
now_us(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec * 1e6 + (double)t.tv_nsec / 1e3;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* One block of `size` bytes: mapped, touched page by page, unmapped.
 * Returns 0, or -1 if the kernel refused the mapping. */
static int
trial(size_t size, double *touch_us_per_8k, double *unmap_ms)
{
	volatile char *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	double t0;

	if (p == MAP_FAILED)
		return -1;
	t0 = now_us();
	for (size_t off = 0; off < size; off += 4096)
		p[off] = 1;
	*touch_us_per_8k = (now_us() - t0) / ((double)size / 8192);
	t0 = now_us();
	munmap((void *)p, size);
	*unmap_ms = (now_us() - t0) / 1e3;
	return 0;
}

int
main(void)
{
	static const size_t mib[] = {50, 64};

	for (size_t k = 0; k < sizeof mib / sizeof mib[0]; k++) {
		double touch[TRIALS], unmap[TRIALS];

		for (int i = 0; i < TRIALS; i++)
			if (trial(mib[k] << 20, &touch[i], &unmap[i]) != 0) {
				perror("pagecost: mmap");
				return 1;
			}
		qsort(touch, TRIALS, sizeof touch[0], cmp_double);
		qsort(unmap, TRIALS, sizeof unmap[0], cmp_double);
		printf("%zu MiB: first touch %.2f us per 8 KiB (%.2f-%.2f), "
		       "munmap %.2f ms (%.2f-%.2f); medians of %d\n",
		    mib[k], touch[TRIALS / 2], touch[0], touch[TRIALS - 1],
		    unmap[TRIALS / 2], unmap[0], unmap[TRIALS - 1], TRIALS);
	}
	return 0;
}
