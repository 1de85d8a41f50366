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
 *   (2) used <= hard_at = 7/8 of capacity, so a free slot always exists;
 *       a resize starts at grow_at = 3/4 and the table is rarely fuller
 *       than 3/4 + 1/128 (RESIZE), so the expected probe count stays
 *       small (about 2.5 slots for a hit, 8.5 for a miss at 3/4, far
 *       fewer on average);
 *   (3) no tombstones: a delete shifts the following entries of its
 *       cluster back (Knuth's algorithm R), so probe lengths after heavy
 *       churn are those of a fresh table and memory never fills with
 *       deleted entries;
 *   (4) capacity >= min_capacity; a delete that leaves the table under
 *       1/8 full shrinks it, by at most 8 times and down to min_capacity,
 *       and the new table is at most 3/8 full, so grow and shrink cannot
 *       alternate.
 *
 * WHY LINEAR PROBING: it is the scheme with the fewest cache lines per
 * lookup at load <= 3/4 (the next slots are in the same or the next
 * line), deletion needs no tombstones, and inserts do no displacement
 * work.  docs/design.md records what was measured.
 *
 * RESIZE (incremental, as Redis's dict): no call does work proportional
 * to the table's size.  A resize goes through two phases, each advanced
 * by every call that writes (store, delete, any request but a load that
 * reaches the table core), and never by loads, which may run under a
 * shared lock:
 *   zeroing   next[] is allocated (not touched), and each write zeroes
 *             CMAP_TABLE_STEP_ZERO more bytes of it.  So the page faults
 *             of a fresh table are spread too: two pages per write.  With
 *             the default allocator a large block comes zeroed from the
 *             kernel (cmap__alloc_zeroes) and a step only writes a byte
 *             per page: the first touch of each page is then a write,
 *             never a read that a write would follow with a copy of the
 *             zero page and a cross-CPU TLB flush (cmap__clear_step).
 *             Inserts still go to slots[], which meanwhile fills past 3/4
 *             by at most 1/128 (zeroing 32 bytes per slot of the old
 *             capacity takes capacity / 128 writes when growing 2x).
 *   draining  next[] becomes slots[]; the previous slots become old[].
 *             New keys go to slots[]; a key found in old[] is updated or
 *             deleted there (old[] takes no inserts, so its free slots
 *             stay free); each write moves CMAP_TABLE_STEP_SLOTS slots of
 *             old[] into slots[], then on to the end of the cluster it
 *             is in.  Moving starts at a free slot and stops only at
 *             one, so no cluster of old[] is ever half moved and a
 *             lookup in old[] stays correct: a lookup reads
 *             slots[], then old[] if it missed.  Growing 2x, old[] is
 *             empty after capacity / 128 writes, long before slots[] can
 *             reach 3/4 (and shrinking at most 8x, likewise).  A lookup
 *             (or a write) while draining reads old[] first when the
 *             key's home there is not yet visited, else only slots[]: so
 *             it reads one array, unless the key was inserted after the
 *             resize began.  That matters because loads never advance a
 *             resize: a map filled, then only read, keeps draining.  The
 *             pages of old[] that draining has emptied go back to the
 *             system as it goes (cmap__discard, with any allocator), so
 *             the free of old[] at the end is cheap too (munmap of
 *             touched pages costs about 4 ms per 64 MiB here, by
 *             bench/pagecost.c).
 * A resize to at most CMAP_TABLE_SYNC_SLOTS slots is done at once by the
 * write that starts it (about 0.1 ms), so small tables and the shards of
 * a sharded map are never left half moved.
 * An insert that finds slots[] at hard_at (7/8) finishes the zeroing at
 * once: that happens only after the allocation of next[] failed (it is
 * retried by each insert from 3/4 on), and is then O(capacity) once.
 * cmap__table_reserve resizes at once (it is the caller asking).
 */
#include "table.h"
#include "metrics.h"

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

static void
slots_free(struct cmap_table *t, struct cmap_slot *s, size_t cap)
{
	cmap__free(t->allocator, s, cap * sizeof *s);
}

static void
set_len(struct cmap_table *t)
{
	/* Single writer (the lock holder): a relaxed store, no RMW. */
	atomic_store_explicit(&t->len,
	    t->used + t->old_used + (t->zkey_present ? 1 : 0),
	    memory_order_relaxed);
}

static void
install(struct cmap_table *t, struct cmap_slot *slots, size_t cap)
{
	t->mask = cap - 1;
	t->shift = 64 - log2_of(cap);
	atomic_store_explicit(&t->pf_shift, t->shift, memory_order_relaxed);
	t->grow_at = cap / 4 * 3;
	t->hard_at = cap / 8 * 7;
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
	s = cmap__alloc(allocator, cap * sizeof *s, CMAP_CACHE_LINE);
	if (s == NULL)
		return CMAP_ENOMEM;
	memset(s, 0, cap * sizeof *s);
	t->allocator = allocator;
	t->seed = seed;
	t->min_capacity = cap;
	install(t, s, cap);
	CMAP_HG_BENIGN(&t->len, "relaxed counter read without the lock");
	CMAP_HG_BENIGN(&t->slots, "prefetch hint read without the lock");
	CMAP_HG_BENIGN(&t->pf_shift, "prefetch hint read without the lock");
	return CMAP_OK;
}

/* Drop a resize in progress (its arrays) without moving anything. */
static void
drop_resize(struct cmap_table *t)
{
	if (t->next != NULL)
		slots_free(t, t->next, t->next_cap);
	if (t->old != NULL)
		slots_free(t, t->old, (size_t)t->old_mask + 1);
	t->next = NULL;
	t->old = NULL;
	t->old_used = 0;
}

void
cmap__table_fini(struct cmap_table *t)
{
	drop_resize(t);
	slots_free(t, cmap__table_slots(t), (size_t)t->mask + 1);
	atomic_store_explicit(&t->slots, NULL, memory_order_relaxed);
}

/* ------------------------------------------------------------ resize */

static bool
resizing(const struct cmap_table *t)
{
	return t->next != NULL || t->old != NULL;
}

/* Begin a resize to `cap` slots: allocate next[] (zeroed later).  False
 * when the allocation fails (nothing changed; retried later). */
static bool
resize_begin(struct cmap_table *t, size_t cap)
{
	struct cmap_slot *n =
	    cmap__alloc(t->allocator, cap * sizeof *n, CMAP_CACHE_LINE);

	if (n == NULL)
		return false;
	t->next = n;
	t->next_cap = cap;
	t->next_zeroed = 0;
	/* Fresh pages from the kernel are zero already: the zeroing steps
	 * then only write a byte per page (cmap__clear_step says why). */
	t->next_fresh = cmap__alloc_zeroes(t->allocator, cap * sizeof *n);
	return true;
}

/* next[] is zeroed: make it slots[] and start draining the old slots from
 * just after a free one. */
static void
resize_flip(struct cmap_table *t)
{
	size_t old_cap = (size_t)t->mask + 1;
	struct cmap_slot *o = cmap__table_slots(t);
	size_t start = 0;

	while (o[start].key != CMAP_TABLE_EMPTY_KEY)
		start++; /* one exists: invariant 2 */
	if (t->next_cap > old_cap)
		t->grows++;
	else
		t->shrinks++;
	cmap__metrics_resize();
	t->old = o;
	t->old_mask = t->mask;
	t->old_shift = t->shift;
	t->old_used = t->used;
	t->drain_pos = (start + 1) & t->old_mask;
	t->drain_mark = t->drain_pos;
	t->drain_left = old_cap - 1;
	t->used = 0;
	install(t, t->next, t->next_cap);
	t->next = NULL;
}

/* Move the entry of old[i] into slots[] (it is in no other slot). */
static void
move_entry(struct cmap_table *t, const struct cmap_slot *e)
{
	struct cmap_slot *s = cmap__table_slots(t);
	bool found;
	size_t j = cmap__probe(
	    s, t->mask, t->shift, e->key, cmap__hash(e->key, t->seed), &found);

	s[j] = *e;
	t->used++;
}

/* Give back the pages of old[] that draining has emptied, a run of
 * CMAP_TABLE_DISCARD_SLOTS at a time (visited slots stay free: old[]
 * takes no inserts, and a delete shifts entries within their cluster,
 * which is wholly unvisited), so that freeing old[] at the end costs
 * little and the resident set follows what the map holds. */
static void
discard_drained(struct cmap_table *t)
{
	size_t cap = (size_t)t->old_mask + 1;
	bool wrapped = t->drain_pos < t->drain_mark;
	size_t end = wrapped ? cap : t->drain_pos, upto;

	if (!wrapped && end - t->drain_mark < CMAP_TABLE_DISCARD_SLOTS)
		return;
	upto = cmap__discard(t->old, cap * sizeof(struct cmap_slot),
	    t->drain_mark * sizeof(struct cmap_slot),
	    (end - t->drain_mark) * sizeof(struct cmap_slot));
	/* The next run starts at the page this one stopped short of (runs
	 * ending mid-page used to leave a page in 16 resident, and the final
	 * free paid for them: 0.8 ms at 8M slots).  old[] is cache-line
	 * aligned, so upto falls on a slot. */
	t->drain_mark = wrapped ? 0 : (size_t)(upto / sizeof(struct cmap_slot));
}

/* Move up to `slots` slots of old[] (and on to the end of the cluster the
 * last one is in); free old[] once every slot was visited. */
static void
drain(struct cmap_table *t, size_t slots)
{
	struct cmap_slot *o = t->old;
	size_t n = 0;

	while (t->drain_left > 0) {
		size_t i = t->drain_pos;

		if (o[i].key == CMAP_TABLE_EMPTY_KEY && n >= slots)
			break; /* stop at a free slot (RESIZE) */
		t->drain_pos = (i + 1) & t->old_mask;
		t->drain_left--;
		n++;
		if (o[i].key != CMAP_TABLE_EMPTY_KEY) {
			move_entry(t, &o[i]);
			o[i].key = CMAP_TABLE_EMPTY_KEY;
			t->old_used--;
		}
	}
	if (t->drain_left > 0) {
		discard_drained(t);
		return;
	}
	slots_free(t, o, (size_t)t->old_mask + 1);
	t->old = NULL;
}

/* Finish a resize in progress now: O(capacity). */
static void
resize_finish(struct cmap_table *t)
{
	if (t->next != NULL) {
		memset(t->next, 0, t->next_cap * sizeof(struct cmap_slot));
		t->next_zeroed = t->next_cap * sizeof(struct cmap_slot);
		resize_flip(t);
	}
	if (t->old != NULL)
		drain(t, SIZE_MAX);
}

/* One write's share of a resize in progress (RESIZE at the top). */
static void
resize_step_work(struct cmap_table *t)
{
	if (t->next != NULL && t->next_cap <= CMAP_TABLE_SYNC_SLOTS &&
	    t->mask < 8 * (uint64_t)CMAP_TABLE_SYNC_SLOTS) {
		resize_finish(t); /* small: bounded, and no table left half
		                     moved under loads alone */
		return;
	}
	if (t->next != NULL) {
		size_t bytes = t->next_cap * sizeof(struct cmap_slot);
		size_t z = bytes - t->next_zeroed;

		if (z > CMAP_TABLE_STEP_ZERO)
			z = CMAP_TABLE_STEP_ZERO;
		cmap__clear_step(t->next, t->next_zeroed, z, t->next_fresh);
		t->next_zeroed += z;
		if (t->next_zeroed < bytes)
			return;
		resize_flip(t);
	}
	if (t->old != NULL)
		drain(t, CMAP_TABLE_STEP_SLOTS);
}

/* The same, its time counted as migration time (metrics.h). */
static CMAP_NOINLINE void
resize_step(struct cmap_table *t)
{
	uint64_t t0 = cmap__metrics_begin();

	resize_step_work(t);
	cmap__metrics_work_end(t0);
}

/*
 * Before inserting into slots[]: begin growing at grow_at; at hard_at,
 * finish the resize now (only after failed allocations: RESIZE).  False
 * when the insert cannot be done for lack of memory (nothing changed).
 */
static bool
room_for_insert(struct cmap_table *t)
{
	if (t->used + 1 <= t->grow_at)
		return true;
	if (!resizing(t))
		(void)resize_begin(t, capacity_for(t->used + t->old_used + 1));
	if (t->used + 1 <= t->hard_at)
		return true;
	/* At hard_at: only after failed allocations (RESIZE); settle now. */
	resize_finish(t);
	if (t->used + 1 <= t->grow_at)
		return true;
	if (resize_begin(t, capacity_for(t->used + 1)))
		resize_finish(t);
	return t->used + 1 <= t->hard_at;
}

/* After a delete: shrink when under 1/8 full (invariant 4).  A failed
 * allocation only leaves the table larger than needed. */
static void
maybe_shrink(struct cmap_table *t)
{
	size_t cap = (size_t)t->mask + 1;
	size_t want;

	if (resizing(t) || t->used >= cap / 8 || cap <= t->min_capacity)
		return;
	want = capacity_for(t->used * 2);
	if (want < t->min_capacity)
		want = t->min_capacity;
	if (want < cap / 8)
		want = cap / 8;
	if (want < cap)
		(void)resize_begin(t, want);
}

/* ------------------------------------------------------- single keys */

/* Backward-shift deletion of the entry at slot i of s[mask + 1]
 * (invariant 3); returns nothing: the caller counts. */
static void
remove_at(const struct cmap_table *t, struct cmap_slot *s, uint64_t mask,
    unsigned shift, size_t i)
{
	size_t j = i;

	for (;;) {
		uint64_t k, h;

		j = (j + 1) & mask;
		k = s[j].key;
		if (k == CMAP_TABLE_EMPTY_KEY)
			break;
		h = cmap__hash(k, t->seed) >> shift;
		/* The entry at j may fill the hole at i when i lies on its
		 * probe path, i.e. between its home h and j. */
		if (((j - h) & mask) >= ((j - i) & mask)) {
			s[i] = s[j];
			i = j;
		}
	}
	s[i].key = CMAP_TABLE_EMPTY_KEY;
	s[i].value = 0;
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

/* Insert key (absent from both arrays) into slots[]; false for ENOMEM. */
static bool
insert(struct cmap_table *t, uint64_t key, uint64_t hash, uint64_t value)
{
	struct cmap_slot *s;
	bool found;
	size_t i;

	if (!room_for_insert(t))
		return false;
	s = cmap__table_slots(t);
	i = cmap__probe(s, t->mask, t->shift, key, hash, &found);
	s[i].key = key;
	s[i].value = value;
	t->used++;
	return true;
}

/*
 * Apply one request: find the key once, decide, write, then advance a
 * resize in progress by one step.  Inlined (forced: it is too big for the
 * compiler's own choice) in both of its callers below, so that
 * cmap__table_store keeps only the store case of cmap__decide.
 */
static CMAP_INLINE cmap_status_t
apply(struct cmap_table *t, uint64_t hash, struct cmap_req *req)
{
	struct cmap_slot *s = cmap__table_slots(t);
	uint64_t mask = t->mask;
	unsigned shift = t->shift;
	struct cmap_effect e;
	cmap_status_t st;
	bool found, in_old = false;
	size_t i;

	if (CMAP_UNLIKELY(req->key == CMAP_TABLE_EMPTY_KEY)) {
		/* A copy, so that req's address does not escape and the
		 * compiler keeps its fields in registers (cmap__table_store's
		 * kind then folds its cmap__decide to the store case). */
		struct cmap_req z = *req;

		st = exec_zkey(t, &z);
		req->out = z.out;
		return st;
	}
	if (CMAP_UNLIKELY(t->old != NULL) &&
	    cmap__table_home_unvisited(t, hash)) {
		size_t j = cmap__probe(
		    t->old, t->old_mask, t->old_shift, req->key, hash, &found);

		if (found) { /* act on it where it is (RESIZE) */
			s = t->old;
			mask = t->old_mask;
			shift = t->old_shift;
			i = j;
			in_old = true;
		}
	}
	if (!in_old)
		i = cmap__probe(s, mask, shift, req->key, hash, &found);
	st = cmap__decide(req, found, found ? s[i].value : 0, &e);
	switch (e.act) {
	case CMAP_ACT_NONE:
		break;
	case CMAP_ACT_SET:
		if (found) {
			s[i].value = e.value;
			break;
		}
		if (!insert(t, req->key, hash, e.value))
			return CMAP_ENOMEM;
		set_len(t);
		break;
	case CMAP_ACT_DELETE:
		remove_at(t, s, mask, shift, i);
		if (in_old)
			t->old_used--;
		else
			t->used--;
		set_len(t);
		maybe_shrink(t);
		break;
	}
	if (CMAP_UNLIKELY(resizing(t)))
		resize_step(t);
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

/* ------------------------------------------------------- whole table */

void
cmap__table_clear(struct cmap_table *t)
{
	size_t cap = (size_t)t->mask + 1;

	drop_resize(t);
	t->zkey_present = false;
	t->zkey_value = 0;
	t->used = 0;
	set_len(t);
	if (cap > t->min_capacity) {
		struct cmap_slot *s = cmap__alloc(
		    t->allocator, t->min_capacity * sizeof *s, CMAP_CACHE_LINE);

		if (s != NULL) {
			struct cmap_slot *old = cmap__table_slots(t);

			memset(s, 0, t->min_capacity * sizeof *s);
			install(t, s, t->min_capacity);
			slots_free(t, old, cap);
			t->shrinks++;
			cmap__metrics_resize();
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
	if (cap > (size_t)t->mask + 1) {
		/* The caller asks for the work: settle a resize in progress,
		 * then resize to cap at once. */
		uint64_t t0 = cmap__metrics_begin();

		resize_finish(t);
		if (cap > (size_t)t->mask + 1) {
			if (!resize_begin(t, cap)) {
				cmap__metrics_work_end(t0);
				return CMAP_ENOMEM;
			}
			resize_finish(t);
		}
		cmap__metrics_work_end(t0);
	}
	if (cap > t->min_capacity)
		t->min_capacity = cap;
	return CMAP_OK;
}

/* Probe figures of one array into *st and *sum_probe. */
static void
stats_slots(const struct cmap_table *t, const struct cmap_slot *s,
    uint64_t mask, unsigned shift, cmap_stats_t *st, uint64_t *sum_probe)
{
	for (size_t i = 0; i <= mask; i++) {
		uint64_t d;

		if (s[i].key == CMAP_TABLE_EMPTY_KEY)
			continue;
		d = (i - (cmap__hash(s[i].key, t->seed) >> shift)) & mask;
		if (d > st->max_probe)
			st->max_probe = d;
		*sum_probe += d;
	}
}

void
cmap__table_stats_add(
    const struct cmap_table *t, cmap_stats_t *st, uint64_t *sum_probe)
{
	uint64_t len = cmap__table_len(t);

	stats_slots(t, cmap__table_slots(t), t->mask, t->shift, st, sum_probe);
	if (t->old != NULL)
		stats_slots(
		    t, t->old, t->old_mask, t->old_shift, st, sum_probe);
	if (st->shards == 0 || len < st->min_shard_len)
		st->min_shard_len = len;
	if (len > st->max_shard_len)
		st->max_shard_len = len;
	st->shards++;
	st->len += len;
	st->capacity += t->mask + 1 + (t->old != NULL ? t->old_mask + 1 : 0);
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

/* ------------------------------------------------------------- range */

/*
 * One batch of a traversal: the entries whose hash lies in [lo, hi], or,
 * when more than CMAP_RANGE_BATCH do, the CMAP_RANGE_BATCH of lowest hash
 * (kept in a max-heap on the hash while collecting; hi is then cut to the
 * highest hash kept).
 */
struct range_batch {
	struct cmap_slot e[CMAP_RANGE_BATCH];
	uint64_t h[CMAP_RANGE_BATCH];
	size_t n;
	bool full; /* more than CMAP_RANGE_BATCH were offered */
};

static void
batch_swap(struct range_batch *b, size_t i, size_t j)
{
	struct cmap_slot e = b->e[i];
	uint64_t h = b->h[i];

	b->e[i] = b->e[j];
	b->h[i] = b->h[j];
	b->e[j] = e;
	b->h[j] = h;
}

/* Restore the max-heap order from the root down. */
static void
batch_sift_down(struct range_batch *b)
{
	size_t i = 0;

	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;

		if (l < b->n && b->h[l] > b->h[m])
			m = l;
		if (r < b->n && b->h[r] > b->h[m])
			m = r;
		if (m == i)
			return;
		batch_swap(b, i, m);
		i = m;
	}
}

static void
batch_offer(struct range_batch *b, struct cmap_slot e, uint64_t h)
{
	if (b->n < CMAP_RANGE_BATCH) {
		size_t i = b->n++;

		b->e[i] = e;
		b->h[i] = h;
		while (i > 0 && b->h[(i - 1) / 2] < b->h[i]) {
			batch_swap(b, i, (i - 1) / 2);
			i = (i - 1) / 2;
		}
		return;
	}
	b->full = true;
	if (h < b->h[0]) {
		b->e[0] = e;
		b->h[0] = h;
		batch_sift_down(b);
	}
}

/*
 * Offer every entry of s[mask + 1] whose hash lies in [lo, hi].  Those
 * have their home in [home(lo), home(hi)] and, by invariant (1), lie
 * between their home and the first free slot after it: scan from home(lo)
 * over every slot up to home(hi), then on (wrapping) to a free slot.
 */
static void
collect(const struct cmap_table *t, const struct cmap_slot *s, uint64_t mask,
    unsigned shift, uint64_t lo, uint64_t hi, struct range_batch *b)
{
	size_t start = (size_t)(lo >> shift);
	size_t span = (size_t)((hi >> shift) - (lo >> shift)) + 1;

	for (size_t c = 0; c <= mask; c++) {
		size_t p = (start + c) & mask;
		uint64_t h;

		if (s[p].key == CMAP_TABLE_EMPTY_KEY) {
			/* Past home(hi), or, with a full batch, past the home
			 * of the highest hash kept: entries after this free
			 * slot have their home after it, so higher hashes. */
			if (c >= span)
				break;
			if (b->n == CMAP_RANGE_BATCH &&
			    c > (b->h[0] >> shift) - (lo >> shift)) {
				b->full = true; /* the rest: after h[0] */
				break;
			}
			continue;
		}
		h = cmap__hash(s[p].key, t->seed);
		if (h >= lo && h <= hi)
			batch_offer(b, s[p], h);
	}
}

/* Fill b from [lo, *hi] of every array of t; cut *hi when b is full. */
static void
collect_all(const struct cmap_table *t, uint64_t lo, uint64_t *hi,
    struct range_batch *b)
{
	uint64_t zhash = cmap__hash(CMAP_TABLE_EMPTY_KEY, t->seed);

	b->n = 0;
	b->full = false;
	if (t->zkey_present && zhash >= lo && zhash <= *hi)
		batch_offer(b,
		    (struct cmap_slot){CMAP_TABLE_EMPTY_KEY, t->zkey_value},
		    zhash);
	collect(t, cmap__table_slots(t), t->mask, t->shift, lo, *hi, b);
	if (t->old != NULL)
		collect(t, t->old, t->old_mask, t->old_shift, lo, *hi, b);
	if (b->full)
		*hi = b->h[0]; /* the highest hash kept */
}

bool
cmap__table_range(struct cmap_table *t, void (*lock)(void *arg),
    void (*unlock)(void *arg), void *arg, cmap_range_fn fn, void *ctx)
{
	struct range_batch b;
	uint64_t lo = 0, width;
	unsigned shift;

	lock(arg);
	shift = t->shift;
	unlock(arg);
	/* CMAP_RANGE_BATCH / 2 home slots of the table as it is now. */
	width = shift >= 64 - 7 ? 0 : (uint64_t)(CMAP_RANGE_BATCH / 2) << shift;
	for (;;) {
		uint64_t hi = width == 0 || UINT64_MAX - lo < width - 1
		    ? UINT64_MAX
		    : lo + width - 1;

		lock(arg);
		collect_all(t, lo, &hi, &b);
		unlock(arg);
		for (size_t i = 0; i < b.n; i++)
			if (!fn(b.e[i].key, b.e[i].value, ctx))
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
