/*
 * floor.c - the floor: the smallest fast map of 64-bit keys to 64-bit
 * values we know how to write, as the yardstick of every other target
 * (the xfloor column, "ratio_to_floor").
 *
 * Single-threaded, no API layer, no status codes, no options, no misuse
 * detector: each operation is one function (called, like every target's,
 * through the one function pointer of the worker loop) with the table code
 * inlined into it.
 *
 *   - open addressing with linear probing over a power-of-two array of
 *     16-byte {key, value} slots, aligned to a cache line;
 *   - the home slot of a key is the top bits of a seeded 64-bit mixer
 *     (murmur3's finaliser of key ^ seed): two multiplies;
 *   - key 0 marks a free slot; the key 0 itself lives in a side slot, so
 *     every 64-bit key is allowed (the benchmark never generates it);
 *   - load factor at most 3/4: an insert that would pass it doubles the
 *     table first (16 slots to start with, or room for the key count with
 *     --presize); deletes never shrink it;
 *   - deletion by backward shift (no tombstones): the entries after the
 *     hole move back while that keeps them at or after their home slot,
 *     so every probe sequence stays a contiguous run.
 *
 * It is not thread-safe and runs at one thread only (single_thread), like
 * plain.  Its memory goes through the benchmark's counting allocator, so
 * its bytes per entry are counted exactly as the libcmap backends' are.
 * It has no batch path: with --batch it runs one operation at a time.
 */
#include "bench.h"

#include <stdlib.h>
#include <string.h>

struct floor_slot {
	uint64_t key; /* 0 = free */
	uint64_t value;
};

struct floor_map {
	struct floor_slot *slots; /* hot: what a lookup reads */
	uint64_t seed;
	uint64_t mask;  /* capacity - 1 */
	unsigned shift; /* 64 - log2(capacity) */
	size_t used;    /* entries in slots[] */
	size_t grow_at; /* 3/4 of the capacity */
	bool zero_present;
	uint64_t zero_value;
};

#define FLOOR_MIN_CAP 16u

static inline uint64_t
floor_hash(const struct floor_map *m, uint64_t key)
{
	uint64_t x = key ^ m->seed;

	x ^= x >> 33;
	x *= UINT64_C(0xff51afd7ed558ccd);
	x ^= x >> 33;
	x *= UINT64_C(0xc4ceb9fe1a85ec53);
	x ^= x >> 33;
	return x;
}

static inline size_t
floor_home(const struct floor_map *m, uint64_t key)
{
	return (size_t)(floor_hash(m, key) >> m->shift);
}

static bool
floor_alloc(struct floor_map *m, size_t cap)
{
	unsigned lg = 0;

	m->slots = counting_zalloc(cap * sizeof *m->slots);
	if (m->slots == NULL)
		return false;
	while ((size_t)1 << lg < cap)
		lg++;
	m->mask = cap - 1;
	m->shift = 64 - lg;
	m->grow_at = cap / 4 * 3;
	return true;
}

static __attribute__((noinline)) void
floor_grow(struct floor_map *m)
{
	struct floor_slot *old = m->slots;
	size_t cap = (size_t)m->mask + 1;

	if (!floor_alloc(m, 2 * cap)) {
		fprintf(stderr, "cmap-bench: floor: out of memory\n");
		exit(3);
	}
	for (size_t i = 0; i < cap; i++) {
		size_t j;

		if (old[i].key == 0)
			continue;
		for (j = floor_home(m, old[i].key); m->slots[j].key != 0;
		     j = (j + 1) & m->mask)
			;
		m->slots[j] = old[i];
	}
	counting_free_sized(old, cap * sizeof *old);
}

/* The slot of key (not 0), inserted with value 0 when absent. */
static inline struct floor_slot *
floor_put(struct floor_map *m, uint64_t key)
{
	for (;;) {
		size_t i = floor_home(m, key);
		struct floor_slot *s;

		for (;;) {
			s = &m->slots[i];
			if (s->key == key)
				return s;
			if (s->key == 0)
				break;
			i = (i + 1) & m->mask;
		}
		if (__builtin_expect(m->used < m->grow_at, 1)) {
			m->used++;
			s->key = key;
			s->value = 0;
			return s;
		}
		floor_grow(m);
	}
}

static bool
floor_load(void *map, uint64_t key, uint64_t *value)
{
	const struct floor_map *m = map;
	size_t i;

	if (__builtin_expect(key == 0, 0)) {
		if (m->zero_present)
			*value = m->zero_value;
		return m->zero_present;
	}
	for (i = floor_home(m, key);; i = (i + 1) & m->mask) {
		const struct floor_slot *s = &m->slots[i];

		if (s->key == key) {
			*value = s->value;
			return true;
		}
		if (s->key == 0)
			return false;
	}
}

static void
floor_store(void *map, uint64_t key, uint64_t value)
{
	struct floor_map *m = map;

	if (__builtin_expect(key == 0, 0)) {
		m->zero_present = true;
		m->zero_value = value;
		return;
	}
	floor_put(m, key)->value = value;
}

static void
floor_add(void *map, uint64_t key, uint64_t delta)
{
	struct floor_map *m = map;

	if (__builtin_expect(key == 0, 0)) {
		m->zero_value = m->zero_present ? m->zero_value + delta : delta;
		m->zero_present = true;
		return;
	}
	floor_put(m, key)->value += delta;
}

static bool
floor_del(void *map, uint64_t key)
{
	struct floor_map *m = map;
	size_t i, j;

	if (__builtin_expect(key == 0, 0)) {
		bool was = m->zero_present;

		m->zero_present = false;
		return was;
	}
	for (i = floor_home(m, key); m->slots[i].key != key;
	     i = (i + 1) & m->mask)
		if (m->slots[i].key == 0)
			return false;
	/* Backward shift: i is the hole.  The entry at j may fill it when
	 * the hole lies between its home and j (cyclically). */
	for (j = (i + 1) & m->mask; m->slots[j].key != 0;
	     j = (j + 1) & m->mask) {
		size_t h = floor_home(m, m->slots[j].key);

		if (((j - h) & m->mask) >= ((j - i) & m->mask)) {
			m->slots[i] = m->slots[j];
			i = j;
		}
	}
	m->slots[i].key = 0;
	m->used--;
	return true;
}

static void *
floor_create(const struct target_ops *self, const struct target_config *cfg)
{
	struct floor_map *m = counting_zalloc(sizeof *m);
	size_t cap = FLOOR_MIN_CAP;

	(void)self;
	if (m == NULL)
		return NULL;
	while (cfg->presize && cap / 4 * 3 < cfg->keys)
		cap *= 2;
	m->seed = cfg->seed;
	if (!floor_alloc(m, cap)) {
		counting_free_sized(m, sizeof *m);
		return NULL;
	}
	return m;
}

static void
floor_destroy(void *map)
{
	struct floor_map *m = map;

	counting_free_sized(m->slots, ((size_t)m->mask + 1) * sizeof *m->slots);
	counting_free_sized(m, sizeof *m);
}

static void
floor_nothing(void *map)
{
	(void)map;
}

static uint64_t
floor_len(void *map)
{
	const struct floor_map *m = map;

	return m->used + m->zero_present;
}

static int64_t
floor_bytes(void *map)
{
	(void)map;
	/* As the libcmap targets: one map at a time, so the count is its. */
	return counting_live_bytes();
}

const struct target_ops floor_target = {
    .name = "floor",
    .peer = true,
    .single_thread = true,
    .floor = true,
    .mem_source = "allocator",
    .note = "peer: the floor, a minimal single-threaded linear-probing "
            "table, no API layer (1 thread only, the xfloor yardstick)",
    .create = floor_create,
    .destroy = floor_destroy,
    .thread_enter = floor_nothing,
    .thread_exit = floor_nothing,
    .load = floor_load,
    .store = floor_store,
    .del = floor_del,
    .add = floor_add,
    .len = floor_len,
    .bytes = floor_bytes,
    .quiesce = floor_nothing,
};
