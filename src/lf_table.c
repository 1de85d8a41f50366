/*
 * lf_table.c - the lockfree backend's tables: allocation and sizing, and
 * the lookups that read them (lf.h has the slot encoding and the fast
 * lookup that loads try first).
 *
 * TABLES
 *
 * A table is one allocation: its header, cap slots of 16 bytes (cap a
 * multiple of 8, at least LF_MIN_CAP) and one done-flag per chunk of
 * LF_CHUNK slots.  It migrates when 3/4 of its slots have been used (soft)
 * and takes no new key past 15/16 (hard); a probe never goes further than
 * cap/8 - 1 slots from home (dmax).  The map keeps one retired table of
 * the current size for reuse (lf_reclaim.c, lf_recycle); a new table of
 * that size is that one.  A table for a migration is cleared by the
 * writers in steps before it is published (lf_migrate.c, PREPARATION;
 * a block that came zeroed has a byte per page written instead); every
 * other new table (the first, a clear's target, a reserve's) is cleared
 * in the call that allocates it, unless its block came zeroed.
 *
 * READERS
 *
 * A load probes cur; it stops at its key's slot or at an EMPTY slot.  A
 * FROZEN slot gives a fallback value and sends it to next; there, finding
 * the key (in any state) overrides the fallback, and an EMPTY end of probe
 * means the copy has not happened yet, so the fallback is the value
 * (writers copy a frozen entry before they touch the key in a newer
 * table).  Entering a table that is the target of a clear drops the
 * fallback.  Readers never help migrations.
 */
#include "lf.h"

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

/* ---------------------------------------------------------------------
 * Allocation and sizing
 * ------------------------------------------------------------------- */
static uint64_t
lf_round_cap(uint64_t want)
{
	uint64_t c = (want + 7) & ~(uint64_t)7;

	return c < LF_MIN_CAP ? LF_MIN_CAP : c;
}

/* Slots needed to hold n entries below the soft limit. */
CMAP_HIDDEN uint64_t
cmap__lf_cap_for(uint64_t n)
{
	if (n > (UINT64_MAX / 8))
		return UINT64_MAX;
	return lf_round_cap(n + n / 3 + 1);
}

/* The bytes of a table's header (a whole number of cache lines). */
static size_t
lf_head_bytes(void)
{
	return (sizeof(struct lf_table) + CMAP_CACHE_LINE - 1) &
	    ~(size_t)(CMAP_CACHE_LINE - 1);
}

/*
 * A table of cap slots with its header set: the recycled one if it has
 * that size (lf_reclaim.c, lf_recycle), else a new block.  Its body (the
 * slots and chunk flags) is cleared here if clear, else left to the
 * caller: *steps is then the number of LF_PREP_STEP steps that clear it
 * (that only write a byte per page when the block came zeroed, fresh
 * pages from mmap: cmap__alloc_zeroes, t->fresh).
 */
static struct lf_table *
lf_table_get(
    struct lf_map *m, uint64_t cap, int drop, bool clear, uint64_t *steps)
{
	uint64_t nchunks = (cap + LF_CHUNK - 1) / LF_CHUNK;
	size_t head = lf_head_bytes();
	size_t bytes, body;
	struct lf_table *t;
	bool zero = false;
	uint64_t q;

	if (cap > (SIZE_MAX - head) / 32)
		return NULL;
	body = cap * sizeof(struct lf_pair) + nchunks * sizeof(uint64_t);
	bytes = head + body;
	/* A retired table of this size: its pages are resident, so
	 * clearing it costs no page faults (but it must be cleared). */
	t = lf_xchg_ptr((void **)&m->recycle, NULL);
	if (t != NULL && t->bytes != bytes) {
		lf_table_free(m, t);
		t = NULL;
	}
	if (t == NULL) {
		t = lf_alloc(m, bytes, CMAP_CACHE_LINE);
		if (t == NULL)
			return NULL;
		/* A block that comes zeroed is not cleared here: that
		 * would fault in every page in this one call (73 ms of CPU
		 * time for the 96 MiB table that growth to 3M keys
		 * allocates); its preparation steps write a byte per page
		 * instead, a few pages per call, so that no page is first
		 * read (cmap__clear_step). */
		zero = cmap__alloc_zeroes(&m->alloc, bytes);
	}
	memset(t, 0, head);
	if (clear && !zero)
		memset((char *)t + head, 0, body);
	/* A zeroed block is still stepped through, a byte per page
	 * (cmap__clear_step: its pages' first touch a write). */
	t->fresh = zero && !clear;
	*steps = clear ? 0 : (body + LF_PREP_STEP - 1) / LF_PREP_STEP;
	t->cap = cap;
	t->dmax = cap / 8 - 1;
	t->inv_eighth = UINT64_MAX / (cap / 8);
	t->soft = cap - cap / 4;
	t->hard = cap - cap / 16;
	t->nchunks = nchunks;
	for (q = 1; q < 64 && q * 4096 <= cap; q *= 2)
		;
	t->batch = q;
	t->slots = (struct lf_pair *)(void *)((char *)t + head);
	t->chunk_done = (uint64_t *)(void *)(t->slots + cap);
	t->map = m;
	t->bytes = bytes;
	t->drop = drop;
	return t;
}

CMAP_HIDDEN struct lf_table *
cmap__lf_table_new(struct lf_map *m, uint64_t cap, int drop)
{
	uint64_t steps;

	return lf_table_get(m, cap, drop, true, &steps);
}

CMAP_HIDDEN struct lf_table *
cmap__lf_table_alloc(struct lf_map *m, uint64_t cap, uint64_t *steps)
{
	return lf_table_get(m, cap, 0, false, steps);
}

/* Plain stores: nobody reads the body of a table before it is published
 * (lf_migrate.c, PREPARATION, has the ordering). */
CMAP_HIDDEN void
cmap__lf_table_clear_step(struct lf_table *t, uint64_t k)
{
	size_t head = lf_head_bytes(), body = t->bytes - head;
	size_t lo = (size_t)k * LF_PREP_STEP;
	size_t n = body - lo < LF_PREP_STEP ? body - lo : LF_PREP_STEP;

	cmap__clear_step((char *)t + head, lo, n, t->fresh);
}

/* Give the map a spare drop table if it has none (see lf_clear). */
CMAP_HIDDEN void
cmap__lf_spare_refill(struct lf_map *m)
{
	struct lf_table *t = cmap__lf_table_new(m, LF_SPARE_CAP, 1);
	void *exp = NULL;

	if (t != NULL && !lf_cas_ptr((void **)&m->spare, &exp, t))
		lf_table_free(m, t);
}

/* ---------------------------------------------------------------------
 * Lookups
 * ------------------------------------------------------------------- */
/*
 * The lookup of hash h starting at table t, with an optional fallback
 * value (a FROZEN entry of an older table whose copy may not have landed
 * yet).  Returns true and *out when the key is present.
 */
static inline bool
lf_find(
    struct lf_table *t, uint64_t h, bool have_fb, uint64_t fb, uint64_t *out)
{
	const uint64_t tag = h << 3;

	for (;;) {
		const uint64_t cap = t->cap;
		const uint64_t dmax = t->dmax;
		struct lf_pair *slots = t->slots;
		uint64_t s = lf_home(h, cap);
		uint64_t d = 0;

		for (;;) {
			/* Acquire pairs with the CAS that wrote this slot:
			 * v (read after) is then the one written with w or
			 * a later one (see lf_load's argument). */
			uint64_t w = lf_load_acq_64(&slots[s].w);

			if (LF_KEYED(w, tag)) {
				unsigned st = LF_ST(w);

				if (st == LF_LIVE) {
					*out = lf_load_rlx_64(&slots[s].v);
					return true;
				}
				if (st == LF_TOMB)
					return false;
				have_fb = st == LF_FROZEN;
				if (have_fb)
					fb = lf_load_rlx_64(&slots[s].v);
				goto next;
			}
			if (w == LF_EMPTY)
				goto end;
			if (w == LF_SEALED)
				goto next;
			if (++d > dmax) {
				if (lf_load_acq_ptr((void **)&t->next) == NULL)
					goto end;
				goto next;
			}
			s = s + 1 == cap ? 0 : s + 1;
		}
	next:
		/* Non-NULL: every frozen state is written after next is
		 * published (release CAS) and read here after an acquire. */
		t = lf_load_acq_ptr((void **)&t->next);
		if (t->drop)
			have_fb = false;
	}
end:
	if (have_fb)
		*out = fb;
	return have_fb;
}

/* The rest of a lookup that met a migration: out of line (never inlined,
 * even with LTO), so that the fast path keeps a small frame. */
CMAP_HIDDEN __attribute__((noinline)) bool
cmap__lf_find_slow(struct lf_table *t, uint64_t h, uint64_t *out)
{
	return lf_find(t, h, false, 0, out);
}

/*
 * Is the key of hash h in t, in any state?  (A slot, once a key's, stays
 * that key's for the table's life.)
 */
CMAP_HIDDEN bool
cmap__lf_has_slot(const struct lf_table *t, uint64_t h)
{
	const uint64_t tag = h << 3;
	uint64_t s = lf_home(h, t->cap);

	for (uint64_t d = 0; d <= t->dmax; d++) {
		uint64_t w = lf_load_acq_64(&t->slots[s].w);

		if (LF_KEYED(w, tag))
			return true;
		if (w == LF_EMPTY)
			return false;
		s = s + 1 == t->cap ? 0 : s + 1;
	}
	return false;
}

/*
 * The value of the key whose slot s of t holds w (read with acquire),
 * from that slot on: lf_find's rule, without probing again to the slot.
 */
CMAP_HIDDEN bool
cmap__lf_slot_value(
    struct lf_table *t, uint64_t s, uint64_t w, uint64_t h, uint64_t *out)
{
	struct lf_table *n;

	switch (LF_ST(w)) {
	case LF_LIVE:
		*out = lf_load_rlx_64(&t->slots[s].v);
		return true;
	case LF_FROZEN:
		n = lf_load_acq_ptr((void **)&t->next);
		return lf_find(
		    n, h, !n->drop, lf_load_rlx_64(&t->slots[s].v), out);
	case LF_GONE:
		return lf_find(
		    lf_load_acq_ptr((void **)&t->next), h, false, 0, out);
	default: /* TOMB */
		return false;
	}
}
