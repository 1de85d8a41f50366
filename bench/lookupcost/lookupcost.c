/*
 * lookupcost.c - where the time of a lockfree lookup goes, against the
 * floor, one layer at a time (issue "lookups at the floor").
 *
 *   cmap-lookupcost [--keys N[,N...]] [--rounds R] [--slice OPS]
 *
 * Fills the floor (bench/floor.c, cmap-bench's yardstick), a plain, a
 * lockfree and a sharded map with the same N keys (default 1M, no capacity
 * hint, as cmap-bench fills them), then times hits of uniform random keys
 * through a ladder of lookups, each adding one layer to the one before:
 *
 *   floor       the floor's load (a 16-byte {key, value} slot, key 0 free,
 *               power-of-two capacity, murmur3's finaliser)
 *   lf-min      the lockfree map's current table probed by the least code
 *               that can read it: cmap__hash, home slot, compare w with the
 *               key's LIVE word, stop at EMPTY (no other state, no reach)
 *   lf-find     lf_find_fast, the backend's probe (every state, reach)
 *   lf-pin      + the read section (lf_pin_fast / lf_unpin_fast) on a
 *               record looked up once
 *   lf-rec      + the record lookup (lf_rec_get) and the check for
 *               reclamation work: the body of the backend's load
 *   lf-load     the backend's load entry point (be->load), as the front
 *               end calls it
 *   lockfree    cmap_load (the front end: NULL checks, metrics branch,
 *               the indirect call)
 *   plain-load  plain's load entry point
 *   plain       cmap_load on the plain map
 *   floor+rmw   the floor's load between an atomic fetch-and-add and a
 *               fetch-and-sub of one word: a reader lock's two locked
 *               instructions, as the sharded backend's load takes them
 *   sharded     cmap_load on a sharded map (default shards)
 *
 * Every lookup is called through one function pointer from the same loop,
 * which makes its key from a random index by an ALU mixer (no key array to
 * read), as cmap-bench's worker calls every target.  The kernels run in
 * short slices of OPS lookups (default 50,000, a few milliseconds) in
 * rounds (default 201), in an order rotated every round; each round gives
 * each kernel's time per lookup and its ratio of speed to the floor's in
 * that round, and the output is the median (quartiles) [range] of the
 * rounds, so that a slow period of this machine weighs on every kernel
 * alike.  The machine must be otherwise idle.
 *
 * With several key counts (--keys 1000000,1200000,...) it measures each and
 * ends with the geometric mean of each kernel's median ratio: every table
 * here grows by doubling at 3/4 full, from different first sizes, so at
 * one key count their load factors differ by chance (at 1M keys the floor
 * holds 2^21 slots, 0.48 full, lockfree 1.5M, 0.64 full; at 1.5M keys it
 * is the other way round), and a sweep over one doubling averages that
 * out.
 *
 * The kernels from lf-min to lf-rec read the backend's internals (src/lf.h)
 * and are only valid single-threaded with no writer, as here.
 * docs/lockfree.md, "Where a lookup's time goes", has the figures.
 */
#include "bench.h"
#include "lf.h"

#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_ROUNDS 999

/* The floor's allocator (bench/floor.c calls these; cmap-bench's own count
 * bytes for its B/entry column, which this tool does not print). */
void *
counting_zalloc(size_t size)
{
	return calloc(1, size);
}

void
counting_free_sized(void *ptr, size_t size)
{
	(void)size;
	free(ptr);
}

int64_t
counting_live_bytes(void)
{
	return -1;
}

static uint64_t g_keys, g_slice = 50000;
static unsigned g_rounds = 201;

static void *g_floor;
static cmap_t *g_lf, *g_plain, *g_sharded;

/* Key i of the universe: a bijective mixer, so keys are distinct; never 0
 * for i < 2^63 (the floor holds key 0 aside). */
static inline uint64_t
key_of(uint64_t i)
{
	uint64_t x = i + UINT64_C(0x9e3779b97f4a7c15);

	x = (x ^ (x >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	x = (x ^ (x >> 27)) * UINT64_C(0x94d049bb133111eb);
	return (x ^ (x >> 31)) | UINT64_C(1) << 63;
}

/* ------------------------------------------------------------ kernels */
/*
 * Each kernel is called through a pointer from the timing loop, exactly
 * once per lookup: the floor's load and the lf-* bodies as bool functions
 * of the map, the entry points (be->load, cmap_load) as themselves, so that
 * every lookup pays the same one call (cmap_load's own jump to be->load is
 * part of what it measures).
 */
typedef bool (*bool_fn)(void *map, uint64_t key, uint64_t *value);
typedef cmap_status_t (*status_fn)(cmap_t *map, uint64_t key, uint64_t *value);

static bool
k_lf_min(void *map, uint64_t key, uint64_t *value)
{
	const struct lf_map *m = map;
	const struct lf_table *t = m->cur;
	uint64_t h = cmap__hash(key, m->seed), live = h << 3 | LF_LIVE;
	uint64_t s = lf_home(h, t->cap);

	for (;;) {
		uint64_t w = t->slots[s].w;

		if (w == live) {
			*value = t->slots[s].v;
			return true;
		}
		if (w == LF_EMPTY)
			return false;
		s = s + 1 == t->cap ? 0 : s + 1;
	}
}

static bool
k_lf_find(void *map, uint64_t key, uint64_t *value)
{
	const struct lf_map *m = map;

	return lf_find_fast(m->cur, cmap__hash(key, m->seed), value) > 0;
}

static struct lf_rec *g_rec;

static bool
k_lf_pin(void *map, uint64_t key, uint64_t *value)
{
	struct lf_map *m = map;
	int found;

	if (!lf_pin_fast(m, g_rec))
		abort(); /* a record whose section is open: not this tool's */
	found = lf_find_fast(
	    lf_load_acq_ptr((void **)&m->cur), cmap__hash(key, m->seed), value);
	lf_unpin_fast(m, g_rec);
	return found > 0;
}

static bool
k_lf_rec(void *map, uint64_t key, uint64_t *value)
{
	struct lf_map *m = map;
	struct lf_rec *r = lf_rec_get(m);
	int found;

	if (!lf_pin_fast(m, r))
		abort();
	found = lf_find_fast(
	    lf_load_acq_ptr((void **)&m->cur), cmap__hash(key, m->seed), value);
	lf_unpin_fast(m, r);
	lf_after_op(m, r);
	return found > 0;
}

/* The floor inside a reader lock's two atomic read-modify-writes, as the
 * sharded backend's load takes its shard's lock (lock.h, wordlock): what
 * the locked instructions alone cost a lookup. */
static _Atomic unsigned g_word;

static bool
k_floor_rmw(void *map, uint64_t key, uint64_t *value)
{
	bool found;

	atomic_fetch_add_explicit(&g_word, 2, memory_order_acquire);
	found = floor_target.load(map, key, value);
	atomic_fetch_sub_explicit(&g_word, 2, memory_order_release);
	return found;
}

/* Which map a kernel reads. */
enum { ON_FLOOR, ON_LF, ON_PLAIN, ON_SHARDED };

static struct kernel {
	const char *name;
	int on;
	bool_fn b;   /* one of these two; with neither, fill sets the */
	status_fn s; /* floor's load or the map's be->load */
} kernels[] = {
    {"floor", ON_FLOOR, NULL, NULL}, /* first: the ratios' yardstick */
    {"lf-min", ON_LF, k_lf_min, NULL},
    {"lf-find", ON_LF, k_lf_find, NULL},
    {"lf-pin", ON_LF, k_lf_pin, NULL},
    {"lf-rec", ON_LF, k_lf_rec, NULL},
    {"lf-load", ON_LF, NULL, NULL},
    {"lockfree", ON_LF, NULL, cmap_load},
    {"plain-load", ON_PLAIN, NULL, NULL},
    {"plain", ON_PLAIN, NULL, cmap_load},
    {"floor+rmw", ON_FLOOR, k_floor_rmw, NULL},
    {"sharded", ON_SHARDED, NULL, cmap_load},
};
#define NK (sizeof kernels / sizeof kernels[0])

/* ------------------------------------------------------------ timing */
static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static uint64_t g_sink;

static void
check_found(uint64_t found, uint64_t n)
{
	if (found != n) {
		fprintf(stderr, "cmap-lookupcost: a key was not found\n");
		exit(1);
	}
}

/* The next random key of the stream (xorshift64, then an index). */
#define NEXT_KEY(x)                                                            \
	((x) ^= (x) << 13, (x) ^= (x) >> 7, (x) ^= (x) << 17,                  \
	    key_of(lf_mulhi((x), g_keys)))

/* n hits of random keys through k; the stream continues across slices. */
static __attribute__((noinline)) void
run(const struct kernel *k, void *map, uint64_t n, uint64_t *state)
{
	uint64_t x = *state, sum = 0, found = 0, v = 0;

	if (k->b != NULL) {
		bool_fn volatile fv = k->b;
		bool_fn fn = fv;

		for (uint64_t i = 0; i < n; i++) {
			found += fn(map, NEXT_KEY(x), &v);
			sum += v;
		}
	} else {
		status_fn volatile fv = k->s;
		status_fn fn = fv;

		for (uint64_t i = 0; i < n; i++) {
			found += fn(map, NEXT_KEY(x), &v) == CMAP_OK;
			sum += v;
		}
	}
	check_found(found, n);
	*state = x;
	g_sink += sum;
}

static void *
map_of(const struct kernel *k)
{
	switch (k->on) {
	case ON_FLOOR:
		return g_floor;
	case ON_LF:
		return g_lf;
	case ON_PLAIN:
		return g_plain;
	default:
		return g_sharded;
	}
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* The q-quantile of the sorted v[0..n), by the nearest rank. */
static double
quantile(const double *v, unsigned n, double q)
{
	return v[(unsigned)(q * (n - 1) + 0.5)];
}

static cmap_t *
make(const char *backend)
{
	cmap_config_t c;
	cmap_t *m = NULL;

	cmap_config_init(&c);
	c.backend = backend;
	if (cmap_create(&c, &m) != CMAP_OK) {
		fprintf(stderr, "cmap-lookupcost: cannot create %s\n", backend);
		exit(1);
	}
	return m;
}

/* Fill the three maps with keys 0..n-1 of the universe. */
static void
fill(uint64_t n)
{
	struct target_config cfg = {.keys = n, .seed = 1};

	g_keys = n;
	g_floor = floor_target.create(&floor_target, &cfg);
	if (g_floor == NULL) {
		fprintf(stderr, "cmap-lookupcost: cannot create the floor\n");
		exit(1);
	}
	g_lf = make("lockfree");
	g_plain = make("plain");
	g_sharded = make("sharded");
	for (uint64_t i = 0; i < n; i++) {
		floor_target.store(g_floor, key_of(i), i);
		if (cmap_is_error(cmap_store(g_lf, key_of(i), i)) ||
		    cmap_is_error(cmap_store(g_plain, key_of(i), i)) ||
		    cmap_is_error(cmap_store(g_sharded, key_of(i), i))) {
			fprintf(stderr, "cmap-lookupcost: a store failed\n");
			exit(1);
		}
	}
	/* The kernels whose function is known only now: the floor's load,
	 * and a map's own entry point (be->load) where neither is given. */
	for (size_t k = 0; k < NK; k++) {
		if (kernels[k].b != NULL || kernels[k].s != NULL)
			continue;
		if (kernels[k].on == ON_FLOOR)
			kernels[k].b = floor_target.load;
		else
			kernels[k].s =
			    ((cmap_t *)map_of(&kernels[k]))->be->load;
	}
	/* The record: the first load makes it, later ones find it cached. */
	cmap_load(g_lf, key_of(0), &(uint64_t){0});
	g_rec = lf_rec_get((struct lf_map *)g_lf);
}

static void
unfill(void)
{
	floor_target.destroy(g_floor);
	cmap_destroy(g_lf);
	cmap_destroy(g_plain);
	cmap_destroy(g_sharded);
}

/*
 * The ladder at n keys: prints each kernel's time per lookup and ratio to
 * the floor, median (quartiles) [range] of the rounds; returns the median
 * ratios in med[].
 */
static void
measure(uint64_t n, double med[NK])
{
	static double ns[NK][MAX_ROUNDS], ratio[NK][MAX_ROUNDS];
	uint64_t state = UINT64_C(0x2545f4914f6cdd1d);

	fill(n);
	for (size_t k = 0; k < NK; k++) { /* warm-up */
		run(&kernels[k], map_of(&kernels[k]), g_slice, &state);
	}
	for (unsigned r = 0; r < g_rounds; r++) {
		double t[NK];

		for (size_t j = 0; j < NK; j++) {
			size_t k = (j + r) % NK;
			double t0 = now();

			run(&kernels[k], map_of(&kernels[k]), g_slice, &state);
			t[k] = now() - t0;
		}
		for (size_t k = 0; k < NK; k++) {
			ns[k][r] = t[k] * 1e9 / (double)g_slice;
			ratio[k][r] = t[0] / t[k];
		}
	}
	unfill();

	printf("%llu keys, %u rounds of %llu lookups per kernel "
	       "(median (quartiles) [range])\n",
	    (unsigned long long)n, g_rounds, (unsigned long long)g_slice);
	printf("%-11s %26s %30s\n", "kernel", "ns per lookup", "x floor");
	for (size_t k = 0; k < NK; k++) {
		double q[2][5];
		static const double at[5] = {0.5, 0.25, 0.75, 0, 1};

		qsort(ns[k], g_rounds, sizeof ns[k][0], cmp_double);
		qsort(ratio[k], g_rounds, sizeof ratio[k][0], cmp_double);
		for (int i = 0; i < 5; i++) {
			q[0][i] = quantile(ns[k], g_rounds, at[i]);
			q[1][i] = quantile(ratio[k], g_rounds, at[i]);
		}
		printf("%-11s %6.1f (%5.1f-%5.1f) [%5.1f-%5.1f]   "
		       "%5.2f (%4.2f-%4.2f) [%4.2f-%4.2f]\n",
		    kernels[k].name, q[0][0], q[0][1], q[0][2], q[0][3],
		    q[0][4], q[1][0], q[1][1], q[1][2], q[1][3], q[1][4]);
		med[k] = q[1][0];
	}
	printf("\n");
}

static void
usage(void)
{
	fprintf(stderr,
	    "usage: cmap-lookupcost [--keys N[,N...]] "
	    "[--rounds R] [--slice OPS]\n");
	exit(2);
}

#define MAX_SIZES 32

int
main(int argc, char **argv)
{
	static double med[MAX_SIZES][NK];
	uint64_t sizes[MAX_SIZES] = {1000000};
	unsigned nsizes = 1;

	for (int i = 1; i < argc; i++) {
		if (i + 1 >= argc)
			usage();
		if (strcmp(argv[i], "--keys") == 0) {
			char *p = argv[++i], *end;

			for (nsizes = 0; nsizes < MAX_SIZES; p = end + 1) {
				sizes[nsizes] = strtoull(p, &end, 10);
				if (end == p || sizes[nsizes] == 0)
					usage();
				nsizes++;
				if (*end != ',')
					break;
			}
			if (*end != '\0')
				usage();
		} else if (strcmp(argv[i], "--rounds") == 0) {
			g_rounds = (unsigned)strtoul(argv[++i], NULL, 10);
		} else if (strcmp(argv[i], "--slice") == 0) {
			g_slice = strtoull(argv[++i], NULL, 10);
		} else {
			usage();
		}
	}
	if (g_slice == 0 || g_rounds == 0 || g_rounds > MAX_ROUNDS)
		usage();

	for (unsigned i = 0; i < nsizes; i++)
		measure(sizes[i], med[i]);
	if (nsizes < 2)
		return 0;
	/* Over several sizes: where each falls between two doublings of a
	 * table (its load factor) weighs less in the geometric mean. */
	printf(
	    "geometric mean of the median ratios over the %u sizes:\n", nsizes);
	for (size_t k = 0; k < NK; k++) {
		double lg = 0;

		for (unsigned i = 0; i < nsizes; i++)
			lg += log(med[i][k]);
		printf("%-11s %5.2f\n", kernels[k].name, exp(lg / nsizes));
	}
	return 0;
}
