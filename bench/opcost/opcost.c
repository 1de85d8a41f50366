/*
 * opcost.c - instructions per operation, for callgrind.
 *
 *   valgrind --tool=callgrind --toggle-collect=op_load \
 *       build/bench/opcost/cmap-opcost lockfree 200000
 *
 * fills a map of BACKEND with 131,072 keys, then runs N operations of
 * each kind in its own function (op_load, op_miss, op_store, op_add,
 * op_load_or_store, op_load_batch: 32 keys a call), so that callgrind's
 * --toggle-collect=FUNCTION counts the instructions of one kind alone: Ir / N
 * is the cost of one call, the loop's few instructions included.
 * bench/opcost/run.sh prints the table for every in-memory backend of the
 * build (--list names them: lmdb and redis are left out, their cost is the
 * disk and the network, not instructions).  It
 * measures instructions, not time: repeatable to the instruction whatever else
 * the machine does.  A third argument --metrics creates the map with
 * CMAP_FLAG_METRICS (what recording them costs per call).
 */
#include <cmap.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NKEYS (1u << 17)

static uint64_t keys[NKEYS];

#define OP_FN(name, expr)                                                      \
	__attribute__((noinline)) static uint64_t name(cmap_t *m, long n)      \
	{                                                                      \
		uint64_t s = 0, v = 0;                                         \
		for (long i = 0; i < n; i++) {                                 \
			uint64_t k = keys[i & (NKEYS - 1)];                    \
			s += (uint64_t)(expr) + v;                             \
		}                                                              \
		return s;                                                      \
	}

OP_FN(op_load, cmap_load(m, k, &v))
OP_FN(op_miss, cmap_load(m, ~k, &v))
OP_FN(op_store, cmap_store(m, k, (uint64_t)i))
OP_FN(op_add, cmap_add(m, k, 1, &v))
OP_FN(op_load_or_store, cmap_load_or_store(m, k, 1, &v))

/* Loads in batches of 32: Ir / N is the cost per key. */
__attribute__((noinline)) static uint64_t
op_load_batch(cmap_t *m, long n)
{
	uint64_t s = 0, v[32];
	cmap_status_t st[32];

	for (long i = 0; i + 32 <= n; i += 32) {
		s += (uint64_t)cmap_load_batch(
		    m, 32, &keys[i & (NKEYS - 1)], v, st);
		s += v[0] + v[31] + (uint64_t)st[7];
	}
	return s;
}

int
main(int argc, char **argv)
{
	uint64_t x = UINT64_C(88172645463325252), s = 0;
	cmap_config_t cfg;
	cmap_t *m;
	long n;

	if (argc == 2 && strcmp(argv[1], "--list") == 0) {
		const uint64_t away = CMAP_CAP_PERSISTENT | CMAP_CAP_REMOTE;
		cmap_backend_info_t info;
		const char *b;

		for (size_t i = 0; (b = cmap_backend_at(i)) != NULL; i++)
			if (!cmap_is_error(cmap_backend_info(b, &info)) &&
			    (info.caps & away) == 0)
				printf("%s\n", b);
		return 0;
	}
	if (argc < 3 || argc > 4 || (n = atol(argv[2])) <= 0 ||
	    (argc == 4 && strcmp(argv[3], "--metrics") != 0)) {
		fprintf(stderr, "usage: %s BACKEND N [--metrics]\n", argv[0]);
		return 2;
	}
	cmap_config_init(&cfg);
	cfg.backend = argv[1];
	if (argc == 4)
		cfg.flags |= CMAP_FLAG_METRICS;
	if (cmap_create(&cfg, &m) < 0) {
		fprintf(stderr, "%s: %s\n", argv[1], cmap_last_error());
		return 1;
	}
	for (unsigned i = 0; i < NKEYS; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		keys[i] = x;
		if (cmap_store(m, x, i) < 0)
			return 1;
	}
	s += op_load(m, n) + op_miss(m, n) + op_store(m, n) + op_add(m, n) +
	    op_load_or_store(m, n) + op_load_batch(m, n);
	printf("%llu\n", (unsigned long long)s);
	cmap_destroy(m);
	return 0;
}
