/*
 * table.c - open addressing with linear probing and backward-shift
 * deletion, shared by the plain, rwlock and sharded backends.
 *
 * LAYOUT
 *   slots[] holds {key, value} pairs, 16 bytes, four to a cache line, so a
 *   lookup usually touches one line.  A slot whose key is EMPTY_KEY (0) is
 *   free; the user key 0 lives in a side slot (zkey_present, zkey_value),
 *   so no key is reserved from the user.  A key's home slot is the top
 *   log2(capacity) bits of its seeded hash; the sharded backend picks the
 *   shard from the low bits, so the two choices are independent.
 *
 * INVARIANTS
 *   (1) every entry lies at or after its home slot (cyclically), with no
 *       free slot between the two: a lookup stops at the first free slot;
 *   (2) used <= grow_at = 3/4 of capacity, so a free slot always exists
 *       and the expected probe count stays small (about 2.5 slots for a
 *       hit, 8.5 for a miss at the highest load, far fewer on average);
 *   (3) no tombstones: a delete shifts the following entries of its
 *       cluster back (Knuth's algorithm R), so probe lengths after heavy
 *       churn are those of a fresh table and memory never fills with
 *       deleted entries;
 *   (4) capacity >= min_capacity; a delete that leaves the table under
 *       1/8 full halves it (or more), down to min_capacity, and the new
 *       table is at most 3/8 full, so grow and shrink cannot alternate.
 *
 * WHY LINEAR PROBING: it is the scheme with the fewest cache lines per
 * lookup at load <= 3/4 (the next slots are in the same or the next
 * line), deletion needs no tombstones, and inserts do no displacement
 * work.  docs/design.md records what was measured.
 *
 * RESIZE COST: a resize rehashes the whole table in the call that crosses
 * the threshold: O(used).  Amortised over the inserts that filled the
 * table it is O(1) per insert.
 */
#include "table.h"

#include <string.h>

/* Capacity (a power of two) able to hold `entries` at load <= 3/4, or 0
 * when that would overflow. */
static size_t
capacity_for(size_t entries)
{
	size_t cap = CMAP_TABLE_MIN_CAPACITY;

	while (cap / 4 * 3 < entries) {
		if (cap > SIZE_MAX / 2 / sizeof(struct cmap_slot))
			return 0;
		cap <<= 1;
	}
	return cap;
}

static unsigned
log2_of(size_t pow2)
{
	unsigned k = 0;

	while (((size_t)1 << k) < pow2)
		k++;
	return k;
}

static struct cmap_slot *
slots_alloc(const cmap_allocator_t *a, size_t cap)
{
	struct cmap_slot *s = cmap__alloc(a, cap * sizeof *s, CMAP_CACHE_LINE);

	if (s != NULL)
		memset(s, 0, cap * sizeof *s);
	return s;
}

static void
set_len(struct cmap_table *t)
{
	/* Single writer (the lock holder): a relaxed store, no RMW. */
	atomic_store_explicit(
	    &t->len, t->used + (t->zkey_present ? 1 : 0), memory_order_relaxed);
}

static void
install(struct cmap_table *t, struct cmap_slot *slots, size_t cap)
{
	t->mask = cap - 1;
	t->shift = 64 - log2_of(cap);
	atomic_store_explicit(&t->pf_shift, t->shift, memory_order_relaxed);
	t->grow_at = cap / 4 * 3;
	atomic_store_explicit(&t->slots, slots, memory_order_relaxed);
}

cmap_status_t
cmap__table_init(struct cmap_table *t, const cmap_allocator_t *allocator,
    uint64_t seed, size_t entries)
{
	size_t cap = capacity_for(entries);
	struct cmap_slot *s;

	memset(t, 0, sizeof *t);
	if (cap == 0)
		return CMAP_ENOMEM;
	s = slots_alloc(allocator, cap);
	if (s == NULL)
		return CMAP_ENOMEM;
	t->allocator = allocator;
	t->seed = seed;
	t->min_capacity = cap;
	install(t, s, cap);
	CMAP_HG_BENIGN(&t->len, "relaxed counter read without the lock");
	CMAP_HG_BENIGN(&t->slots, "prefetch hint read without the lock");
	CMAP_HG_BENIGN(&t->pf_shift, "prefetch hint read without the lock");
	return CMAP_OK;
}

void
cmap__table_fini(struct cmap_table *t)
{
	cmap__free(t->allocator, cmap__table_slots(t), cmap__table_bytes(t));
	atomic_store_explicit(&t->slots, NULL, memory_order_relaxed);
}

/* Move every entry into a new table of `cap` slots.  On allocation
 * failure the table is unchanged. */
static cmap_status_t
rehash(struct cmap_table *t, size_t cap)
{
	struct cmap_slot *old = cmap__table_slots(t);
	size_t old_cap = (size_t)t->mask + 1;
	struct cmap_slot *s = slots_alloc(t->allocator, cap);

	if (s == NULL)
		return CMAP_ENOMEM;
	install(t, s, cap);
	for (size_t i = 0; i < old_cap; i++) {
		bool found;
		size_t j;

		if (old[i].key == CMAP_TABLE_EMPTY_KEY)
			continue;
		j = cmap__table_probe(
		    t, s, old[i].key, cmap__hash(old[i].key, t->seed), &found);
		s[j] = old[i];
	}
	cmap__free(t->allocator, old, old_cap * sizeof *old);
	if (cap > old_cap)
		t->grows++;
	else
		t->shrinks++;
	return CMAP_OK;
}

/* Backward-shift deletion of the entry at slot i (invariant 3). */
static void
remove_at(struct cmap_table *t, struct cmap_slot *s, size_t i)
{
	size_t j = i;

	for (;;) {
		uint64_t k, h;

		j = (j + 1) & t->mask;
		k = s[j].key;
		if (k == CMAP_TABLE_EMPTY_KEY)
			break;
		h = cmap__table_home(t, cmap__hash(k, t->seed));
		/* The entry at j may fill the hole at i when i lies on its
		 * probe path, i.e. between its home h and j. */
		if (((j - h) & t->mask) >= ((j - i) & t->mask)) {
			s[i] = s[j];
			i = j;
		}
	}
	s[i].key = CMAP_TABLE_EMPTY_KEY;
	s[i].value = 0;
	t->used--;
}

/* After a delete: shrink when under 1/8 full (invariant 4).  A failed
 * allocation only leaves the table larger than needed. */
static void
maybe_shrink(struct cmap_table *t)
{
	size_t cap = (size_t)t->mask + 1;
	size_t want;

	if (t->used >= cap / 8 || cap <= t->min_capacity)
		return;
	want = capacity_for(t->used * 2);
	if (want < t->min_capacity)
		want = t->min_capacity;
	if (want < cap)
		(void)rehash(t, want);
}

/* The key EMPTY_KEY, kept in the side slot: never allocates. */
static cmap_status_t
exec_zkey(struct cmap_table *t, struct cmap_req *req)
{
	struct cmap_effect e;
	cmap_status_t st =
	    cmap__decide(req, t->zkey_present, t->zkey_value, &e);

	if (e.act == CMAP_ACT_SET) {
		t->zkey_present = true;
		t->zkey_value = e.value;
	} else if (e.act == CMAP_ACT_DELETE) {
		t->zkey_present = false;
		t->zkey_value = 0;
	}
	set_len(t);
	req->out = e.out;
	return st;
}

/*
 * Apply one request: find the key once, decide, write.  Inline in both of
 * its callers below, so that cmap__table_store keeps only the store case
 * of cmap__decide.
 */
static inline cmap_status_t
apply(struct cmap_table *t, uint64_t hash, struct cmap_req *req)
{
	struct cmap_effect e;
	struct cmap_slot *s;
	cmap_status_t st;
	bool found;
	size_t i;

	if (CMAP_UNLIKELY(req->key == CMAP_TABLE_EMPTY_KEY))
		return exec_zkey(t, req);
	s = cmap__table_slots(t);
	i = cmap__table_probe(t, s, req->key, hash, &found);
	st = cmap__decide(req, found, found ? s[i].value : 0, &e);
	switch (e.act) {
	case CMAP_ACT_NONE:
		break;
	case CMAP_ACT_SET:
		if (found) {
			s[i].value = e.value;
			break;
		}
		if (t->used + 1 > t->grow_at) {
			size_t cap = capacity_for(t->used + 1);

			if (cap == 0 || rehash(t, cap) != CMAP_OK)
				return CMAP_ENOMEM;
			s = cmap__table_slots(t);
			i = cmap__table_probe(t, s, req->key, hash, &found);
		}
		s[i].key = req->key;
		s[i].value = e.value;
		t->used++;
		set_len(t);
		break;
	case CMAP_ACT_DELETE:
		remove_at(t, s, i);
		set_len(t);
		maybe_shrink(t);
		break;
	}
	req->out = e.out;
	return st;
}

cmap_status_t
cmap__table_exec(struct cmap_table *t, uint64_t hash, struct cmap_req *req)
{
	return apply(t, hash, req);
}

cmap_status_t
cmap__table_store(
    struct cmap_table *t, uint64_t key, uint64_t hash, uint64_t value)
{
	struct cmap_req req = {.kind = CMAP_REQ_STORE, .key = key, .a = value};

	return apply(t, hash, &req);
}

void
cmap__table_clear(struct cmap_table *t)
{
	size_t cap = (size_t)t->mask + 1;

	t->zkey_present = false;
	t->zkey_value = 0;
	t->used = 0;
	set_len(t);
	if (cap > t->min_capacity) {
		struct cmap_slot *s =
		    slots_alloc(t->allocator, t->min_capacity);

		if (s != NULL) {
			struct cmap_slot *old = cmap__table_slots(t);

			install(t, s, t->min_capacity);
			cmap__free(t->allocator, old, cap * sizeof *old);
			t->shrinks++;
			return;
		}
	}
	memset(cmap__table_slots(t), 0, cap * sizeof(struct cmap_slot));
}

cmap_status_t
cmap__table_reserve(struct cmap_table *t, size_t entries)
{
	size_t cap = capacity_for(entries);

	if (cap == 0)
		return CMAP_ENOMEM;
	if (cap > (size_t)t->mask + 1 && rehash(t, cap) != CMAP_OK)
		return CMAP_ENOMEM;
	if (cap > t->min_capacity)
		t->min_capacity = cap;
	return CMAP_OK;
}

void
cmap__table_stats_add(
    const struct cmap_table *t, cmap_stats_t *st, uint64_t *sum_probe)
{
	const struct cmap_slot *s = cmap__table_slots(t);
	uint64_t len = cmap__table_len(t);

	for (size_t i = 0; i <= t->mask; i++) {
		uint64_t d;

		if (s[i].key == CMAP_TABLE_EMPTY_KEY)
			continue;
		d = (i - cmap__table_home(t, cmap__hash(s[i].key, t->seed))) &
		    t->mask;
		if (d > st->max_probe)
			st->max_probe = d;
		*sum_probe += d;
	}
	if (st->shards == 0 || len < st->min_shard_len)
		st->min_shard_len = len;
	if (len > st->max_shard_len)
		st->max_shard_len = len;
	st->shards++;
	st->len += len;
	st->capacity += t->mask + 1;
	st->bytes += cmap__table_bytes(t);
	st->grows += t->grows;
	st->shrinks += t->shrinks;
}

void
cmap__table_stats_done(
    cmap_stats_t *st, uint64_t sum_probe, size_t map_struct_bytes)
{
	st->bytes += map_struct_bytes;
	st->mean_probe = st->len ? (double)sum_probe / (double)st->len : 0.0;
}

uint64_t
cmap__table_chunk_end(const struct cmap_table *t, uint64_t lo, unsigned slots)
{
	uint64_t span;

	if ((uint64_t)slots > t->mask)
		return UINT64_MAX;
	span = (uint64_t)slots << t->shift;
	return UINT64_MAX - lo < span - 1 ? UINT64_MAX : lo + span - 1;
}

size_t
cmap__table_collect(const struct cmap_table *t, uint64_t lo, uint64_t *hi,
    struct cmap_slot *buf, size_t room)
{
	const struct cmap_slot *s = cmap__table_slots(t);
	uint64_t zhash = cmap__hash(CMAP_TABLE_EMPTY_KEY, t->seed);
	size_t n;

again:
	n = 0;
	if (t->zkey_present && zhash >= lo && zhash <= *hi)
		buf[n++] =
		    (struct cmap_slot){CMAP_TABLE_EMPTY_KEY, t->zkey_value};
	/*
	 * Entries whose hash is in [lo, hi] have their home in
	 * [home(lo), home(hi)] and, by invariant (1), lie between their home
	 * and the first free slot after it.  So scan from home(lo) over every
	 * slot up to home(hi), then on (wrapping) to the next free slot.
	 */
	size_t start = (size_t)cmap__table_home(t, lo);
	size_t span =
	    (size_t)(cmap__table_home(t, *hi) - cmap__table_home(t, lo)) + 1;

	for (size_t c = 0; c <= t->mask; c++) {
		size_t p = (start + c) & t->mask;
		uint64_t h;

		if (s[p].key == CMAP_TABLE_EMPTY_KEY) {
			if (c >= span)
				break;
			continue;
		}
		h = cmap__hash(s[p].key, t->seed);
		if (h < lo || h > *hi)
			continue;
		if (n == room) {
			/* Too many for the batch: halve the interval.  An
			 * interval of a single hash holds one entry. */
			*hi = lo + (*hi - lo) / 2;
			goto again;
		}
		buf[n++] = s[p];
	}
	return n;
}

bool
cmap__table_range(struct cmap_table *t, void (*lock)(void *arg),
    void (*unlock)(void *arg), void *arg, cmap_range_fn fn, void *ctx)
{
	struct cmap_slot buf[CMAP_RANGE_BATCH];
	uint64_t lo = 0;

	for (;;) {
		uint64_t hi;
		size_t n;

		lock(arg);
		hi = cmap__table_chunk_end(t, lo, CMAP_RANGE_BATCH / 2);
		n = cmap__table_collect(t, lo, &hi, buf, CMAP_RANGE_BATCH);
		unlock(arg);
		for (size_t i = 0; i < n; i++)
			if (!fn(buf[i].key, buf[i].value, ctx))
				return true;
		if (hi == UINT64_MAX)
			return false;
		lo = hi + 1;
	}
}

void
cmap__table_batch_apply(struct cmap_table *t, const struct cmap__batch *b,
    size_t i, size_t m, const uint64_t *h)
{
	for (size_t j = 0; j < m; j++) {
		uint64_t k = b->keys[i + j];
		cmap_status_t *st = &b->status[i + j];

		switch (b->kind) {
		case CMAP__BATCH_LOAD:
			*st = cmap__table_load(t, k, h[j], &b->out[i + j])
			    ? CMAP_OK
			    : CMAP_NOT_FOUND;
			break;
		case CMAP__BATCH_STORE:
			*st = cmap__table_store(t, k, h[j], b->in[i + j]);
			break;
		case CMAP__BATCH_DELETE: {
			struct cmap_req req = {
			    .kind = CMAP_REQ_DELETE, .key = k};

			*st = cmap__table_exec(t, h[j], &req);
			break;
		}
		}
	}
}

cmap_status_t
cmap__table_batch(struct cmap_table *t, const struct cmap__batch *b, size_t n,
    void (*lock)(void *arg, bool write), void (*unlock)(void *arg, bool write),
    void *arg)
{
	bool write = b->kind != CMAP__BATCH_LOAD;
	uint64_t h[CMAP_BATCH_GROUP];

	for (size_t i = 0; i < n; i += CMAP_BATCH_GROUP) {
		size_t m = n - i < CMAP_BATCH_GROUP ? n - i : CMAP_BATCH_GROUP;

		for (size_t j = 0; j < m; j++) {
			h[j] = cmap__hash(b->keys[i + j], t->seed);
			cmap__table_prefetch(t, h[j]);
		}
		lock(arg, write);
		cmap__table_batch_apply(t, b, i, m, h);
		unlock(arg, write);
	}
	return cmap__batch_result(n, b->status);
}
