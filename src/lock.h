/*
 * lock.h - the locks of the blocking backends.
 *
 * Both are written with C11 atomics, so ThreadSanitizer sees every
 * access in the sanitizer build with no annotation, and neither ever puts
 * a thread to sleep in the kernel: a waiter spins briefly, then yields the
 * processor (sched_yield) so that a preempted lock holder can run.  That
 * is what keeps them from collapsing when threads outnumber cores (a pure
 * spinlock burns whole time slices waiting for a descheduled holder) and
 * from the sleep/wake-up cost that pthread_rwlock_t pays on every
 * contended write.  docs/design.md has the measurements behind the choice.
 *
 * cmap__brlock ("big reader" lock, for the rwlock backend): readers
 *   announce themselves in a per-processor cache-line-sized counter, so
 *   readers on different cores never write the same line; a writer takes
 *   the writer word, then waits for every stripe to drain.  Read lock: one
 *   uncontended atomic increment and a load; write lock: O(processors).
 *
 * cmap__wordlock (for each shard of the sharded backend): a reader-writer
 *   lock in one 32-bit word (writer bit + reader count), so a shard's
 *   lock shares a cache line with its table header.
 */
#ifndef CMAP_LOCK_H
#define CMAP_LOCK_H

#include "internal.h"

#include <sched.h>
#include <stdatomic.h>

/* Called after spinning for a while: lets a preempted holder run. */
CMAP_HIDDEN void cmap__lock_backoff(unsigned *spins);

/* ---------------------------------------------------------------- brlock */
#define CMAP_BRLOCK_MAX_STRIPES 64u

struct cmap__brlock_stripe {
	_Alignas(CMAP_CACHE_LINE) atomic_uint readers;
};

/*
 * One stripe per processor (the number of configured processors rounded
 * up to a power of two, at most 64): a reader counts itself in the stripe
 * of the processor it runs on, so readers on different processors never
 * share a line, and a writer scans as many lines as there are processors.
 * A reader that migrates between lock and unlock still decrements the
 * stripe it incremented (read_lock returns it).  The struct is followed
 * by its stripes: allocate cmap__brlock_size(n) bytes.
 */
struct cmap__brlock {
	_Alignas(CMAP_CACHE_LINE) atomic_uint writer; /* 0 free, 1 held */
	unsigned mask;                                /* stripes - 1 */
	struct cmap__brlock_stripe stripe[];
};

/* Stripes for this machine. */
CMAP_HIDDEN unsigned cmap__brlock_stripes(void);

static inline size_t
cmap__brlock_size(unsigned stripes)
{
	return sizeof(struct cmap__brlock) +
	    stripes * sizeof(struct cmap__brlock_stripe);
}

CMAP_HIDDEN void cmap__brlock_init(struct cmap__brlock *l, unsigned stripes);

static inline void
cmap__brlock_destroy(struct cmap__brlock *l)
{
	CMAP_HG_DESTROY(l);
}
CMAP_HIDDEN unsigned cmap__brlock_read_slow(
    struct cmap__brlock *l, unsigned stripe);

/* Returns the stripe to pass to cmap__brlock_read_unlock. */
static inline unsigned
cmap__brlock_read_lock(struct cmap__brlock *l)
{
	int cpu = sched_getcpu(); /* rseq or vDSO: no system call */
	unsigned s = (unsigned)(cpu < 0 ? 0 : cpu) & l->mask;

	/*
	 * Dekker with the writer: the reader's seq_cst increment then seq_cst
	 * load of `writer`, against the writer's seq_cst CAS of `writer` then
	 * seq_cst loads of the stripes (write_lock).  One of the two sees the
	 * other, so a reader and a writer are never both inside.
	 */
	atomic_fetch_add_explicit(
	    &l->stripe[s].readers, 1, memory_order_seq_cst);
	if (CMAP_UNLIKELY(
	        atomic_load_explicit(&l->writer, memory_order_seq_cst) != 0))
		s = cmap__brlock_read_slow(l, s);
	CMAP_HG_ACQUIRED(l, 0);
	return s;
}

static inline void
cmap__brlock_read_unlock(struct cmap__brlock *l, unsigned stripe)
{
	CMAP_HG_RELEASED(l, 0);
	/* Release: the reads of the critical section happen before a
	 * writer's acquire load of this stripe sees it drained. */
	atomic_fetch_sub_explicit(
	    &l->stripe[stripe].readers, 1, memory_order_release);
}

CMAP_HIDDEN void cmap__brlock_write_lock(struct cmap__brlock *l);

static inline void
cmap__brlock_write_unlock(struct cmap__brlock *l)
{
	CMAP_HG_RELEASED(l, 1);
	/* Release: pairs with the readers' seq_cst load of `writer` and the
	 * next writer's CAS. */
	atomic_store_explicit(&l->writer, 0, memory_order_release);
}

/* -------------------------------------------------------------- wordlock */
#define CMAP_WORDLOCK_WRITER 1u  /* held by a writer */
#define CMAP_WORDLOCK_PENDING 2u /* a writer waits: new readers back off */
#define CMAP_WORDLOCK_READER 4u  /* one reader (count in the upper bits) */

typedef atomic_uint cmap__wordlock_t;

static inline void
cmap__wordlock_init(cmap__wordlock_t *l)
{
	atomic_init(l, 0);
	CMAP_HG_BENIGN(l, "lock word");
	CMAP_HG_CREATE(l);
}

static inline void
cmap__wordlock_destroy(cmap__wordlock_t *l)
{
	CMAP_HG_DESTROY(l);
}

CMAP_HIDDEN void cmap__wordlock_read_slow(cmap__wordlock_t *l);
CMAP_HIDDEN void cmap__wordlock_write_slow(cmap__wordlock_t *l);

static inline void
cmap__wordlock_read_lock(cmap__wordlock_t *l)
{
	/* Acquire: pairs with the release in write_unlock. */
	unsigned v = atomic_fetch_add_explicit(
	    l, CMAP_WORDLOCK_READER, memory_order_acquire);

	if (CMAP_UNLIKELY(v & (CMAP_WORDLOCK_WRITER | CMAP_WORDLOCK_PENDING)))
		cmap__wordlock_read_slow(l);
	CMAP_HG_ACQUIRED(l, 0);
}

static inline void
cmap__wordlock_read_unlock(cmap__wordlock_t *l)
{
	CMAP_HG_RELEASED(l, 0);
	/* Release: pairs with the writer's acquire CAS from 0. */
	atomic_fetch_sub_explicit(
	    l, CMAP_WORDLOCK_READER, memory_order_release);
}

static inline void
cmap__wordlock_write_lock(cmap__wordlock_t *l)
{
	unsigned expected = 0;

	/* Acquire: pairs with the release of the previous holder(s). */
	if (CMAP_UNLIKELY(!atomic_compare_exchange_strong_explicit(l, &expected,
	        CMAP_WORDLOCK_WRITER, memory_order_acquire,
	        memory_order_relaxed)))
		cmap__wordlock_write_slow(l);
	CMAP_HG_ACQUIRED(l, 1);
}

static inline void
cmap__wordlock_write_unlock(cmap__wordlock_t *l)
{
	CMAP_HG_RELEASED(l, 1);
	/* Release: pairs with the acquire of the next reader or writer.
	 * An RMW, not a store: readers that are backing off may have their
	 * increments in the word. */
	atomic_fetch_and_explicit(
	    l, ~CMAP_WORDLOCK_WRITER, memory_order_release);
}

#endif /* CMAP_LOCK_H */
