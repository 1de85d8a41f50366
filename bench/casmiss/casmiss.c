/*
 * casmiss.c - what a 16-byte compare-and-swap costs when the slot it
 * writes is a cache miss, against a plain store: the measurement behind
 * the lockfree backend's insert cost (docs/lockfree.md, Figures).
 *
 *   cmap-casmiss [slots=1572864] [ops=4000000]
 *
 * One thread writes random slots of a table of 16-byte slots (by default
 * the size of the lockfree table holding 1M keys, 24 MiB), three ways:
 * load then plain store of both words, load then a 16-byte CAS (lock
 * cmpxchg16b, the instruction ck_pr_cas_64_2 gives the backend), and
 * load only.  The locked instruction waits for its line
 * and for every earlier store, and later loads wait for it, so the misses
 * of consecutive operations no longer overlap.  Prints ns per operation
 * and the ratio to the plain store, from the same run.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct slot {
	uint64_t w, v;
} __attribute__((aligned(16)));

static volatile uint64_t g_sink; /* keeps the loads */

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static uint64_t
mix(uint64_t z)
{
	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

enum { STORE, CAS, LOAD, NMODES };
static const char *const mode_name[NMODES] = {
    "load + plain store", "load + cmpxchg16b", "load only"};

static double
run(struct slot *t, uint64_t slots, uint64_t ops, int mode, uint64_t *sink)
{
	double t0 = now();
	uint64_t acc = 0;

	for (uint64_t i = 0; i < ops; i++) {
		uint64_t h = mix(i * NMODES + (uint64_t)mode);
		struct slot *p = &t[(unsigned __int128)h * slots >> 64];
		uint64_t w = __atomic_load_n(&p->w, __ATOMIC_RELAXED);
		uint64_t v = __atomic_load_n(&p->v, __ATOMIC_RELAXED);

		switch (mode) {
		case STORE:
			p->w = h;
			p->v = i;
			break;
		case CAS: {
			unsigned __int128 cmp = (unsigned __int128)v << 64 | w;
			unsigned __int128 set = (unsigned __int128)i << 64 | h;

			acc += __sync_bool_compare_and_swap(
			    (unsigned __int128 *)(void *)p, cmp, set);
			break;
		}
		default:
			acc += w ^ v;
			break;
		}
	}
	*sink += acc;
	return (now() - t0) / (double)ops * 1e9;
}

int
main(int argc, char **argv)
{
	uint64_t slots = argc > 1 ? strtoull(argv[1], NULL, 10) : 1572864;
	uint64_t ops = argc > 2 ? strtoull(argv[2], NULL, 10) : 4000000;
	uint64_t sink = 0;
	double ns[NMODES];
	struct slot *t;

	if (slots == 0 || ops == 0) {
		fprintf(stderr, "usage: %s [slots] [ops]\n", argv[0]);
		return 2;
	}
	t = aligned_alloc(64, (slots * sizeof *t + 63) & ~(size_t)63);
	if (t == NULL) {
		perror("aligned_alloc");
		return 1;
	}
	memset(t, 0, slots * sizeof *t);
	(void)run(t, slots, ops / 4, STORE, &sink); /* warm up, fault in */
	for (int m = 0; m < NMODES; m++)
		ns[m] = run(t, slots, ops, m, &sink);
	printf("cmap-casmiss: %llu slots (%.1f MiB), %llu random writes per "
	       "mode\n",
	    (unsigned long long)slots, (double)(slots * sizeof *t) / 1048576.0,
	    (unsigned long long)ops);
	for (int m = 0; m < NMODES; m++)
		printf("  %-20s %6.1f ns/op  %.2fx plain store\n", mode_name[m],
		    ns[m], ns[m] / ns[STORE]);
	free(t);
	g_sink = sink;
	return 0;
}
