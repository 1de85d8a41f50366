/*
 * lock.h - the locks of the blocking backends.
 *
 * Both are written with C11 atomics, so ThreadSanitizer sees every access
 * in the sanitizer build with no annotation.  A waiter spins briefly (a
 * few microseconds, about the length of a contended critical section),
 * then sleeps in the kernel on a futex (Linux futex(2); elsewhere it
 * yields instead, see lock.c) until the holder wakes it.  Sleeping is what
 * keeps them from collapsing when threads outnumber cores: a waiter that
 * spins or yields burns the processor that a descheduled holder needs.
 * The uncontended paths never enter the kernel.  docs/design.md has the
 * measurements behind the choice.
 *
 * Wake-ups do not stampede: readers sleep on one futex word and writers on
 * another; a releasing writer wakes the sleeping readers (all of them:
 * they can share the lock) and one writer.  Fairness is eventual: a
 * waiter that has waited past a short bound (1 ms) claims a hand-off bit
 * (RTURN for readers, WTURN for writers) that every other arrival
 * respects, so it is the next to get in.  lock.c proves that no sleeper is
 * left unwoken.
 *
 * cmap__brlock ("big reader" lock, for the rwlock backend): readers
 *   announce themselves in a per-processor cache-line-sized counter, so
 *   readers on different cores never write the same line; a writer takes
 *   the writer word, then waits for every stripe to drain.  Read lock: one
 *   uncontended atomic increment and a load; write lock: O(processors).
 *
 * cmap__wordlock (for each shard of the sharded backend): a reader-writer
 *   lock in one 32-bit word (writer bit, flags, reader count) plus the
 *   writers' futex word: 8 bytes, so a shard's lock shares a cache line
 *   with its table header.  Read lock: one atomic increment and a check.
 */
#ifndef CMAP_LOCK_H
#define CMAP_LOCK_H

#include "internal.h"

#include <sched.h>
#include <stdatomic.h>

/*
 * The bits both locks keep in their writer word.  WRITER is the lock;
 * RPARKED and WPARKED say that readers sleep on the word itself and
 * writers on `wseq` (the releaser must wake them); RTURN and WTURN are the
 * hand-off claims of a waiter that has waited past the bound, at most one
 * of the two set at a time.
 */
#define CMAP_LOCK_WRITER 1u
#define CMAP_LOCK_PENDING                                                      \
	2u /* wordlock: a writer waits, readers stand back                     \
	    */
#define CMAP_LOCK_RPARKED 4u
#define CMAP_LOCK_WPARKED 8u
#define CMAP_LOCK_RTURN 16u /* a late reader: writers stand back */
#define CMAP_LOCK_WTURN 32u /* a late writer: other writers stand back */

/*
 * For a wait that is on no lock word (a seqlock reader waiting out the
 * writer of the one bucket it reads, a few instructions): spin SPINS
 * times with the processor's pause, then yield on each further call, so
 * that a descheduled writer can run.
 */
CMAP_HIDDEN void cmap__spin_backoff(unsigned *spins);

/* ---------------------------------------------------------------- brlock */
#define CMAP_BRLOCK_MAX_STRIPES 64u
/* In a stripe: the writer sleeps until this stripe drains. */
#define CMAP_BRLOCK_DRAIN 0x80000000u

struct cmap__brlock_stripe {
	_Alignas(CMAP_CACHE_LINE) atomic_uint readers; /* + DRAIN */
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
	_Alignas(CMAP_CACHE_LINE) atomic_uint writer; /* CMAP_LOCK_* bits */
	atomic_uint wseq; /* writers sleep here; bumped on each wake */
	unsigned mask;    /* stripes - 1 */
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
CMAP_HIDDEN void cmap__brlock_drained(struct cmap__brlock *l, unsigned stripe);

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
	 * other, so a reader and a writer are never both inside.  Any flag
	 * sends the reader to the slow path, which stays in unless WRITER is
	 * set.
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
	 * writer's acquire load of this stripe sees it drained.  The last
	 * reader out of a stripe a writer sleeps on wakes it. */
	if (CMAP_UNLIKELY(
	        atomic_fetch_sub_explicit(&l->stripe[stripe].readers, 1,
	            memory_order_release) == CMAP_BRLOCK_DRAIN + 1))
		cmap__brlock_drained(l, stripe);
}

CMAP_HIDDEN void cmap__brlock_write_lock(struct cmap__brlock *l);
CMAP_HIDDEN void cmap__lock_wake(
    atomic_uint *word, atomic_uint *wseq, unsigned old);

static inline void
cmap__brlock_write_unlock(struct cmap__brlock *l)
{
	unsigned old;

	CMAP_HG_RELEASED(l, 1);
	/* Release (seq_cst for the wake-up proof in lock.c): pairs with the
	 * readers' seq_cst load of `writer` and the next writer's CAS.  The
	 * sleepers' flags go with the writer bit; whoever clears one wakes
	 * its sleepers. */
	old = atomic_fetch_and_explicit(&l->writer,
	    ~(CMAP_LOCK_WRITER | CMAP_LOCK_RPARKED | CMAP_LOCK_WPARKED),
	    memory_order_seq_cst);
	if (CMAP_UNLIKELY(old & (CMAP_LOCK_RPARKED | CMAP_LOCK_WPARKED)))
		cmap__lock_wake(&l->writer, &l->wseq, old);
}

/* -------------------------------------------------------------- wordlock */
/* The word: CMAP_LOCK_* bits below, the reader count above. */
#define CMAP_WORDLOCK_WRITER CMAP_LOCK_WRITER
#define CMAP_WORDLOCK_PENDING CMAP_LOCK_PENDING
#define CMAP_WORDLOCK_READER 64u /* one reader */
#define CMAP_WORDLOCK_READERS (~(CMAP_WORDLOCK_READER - 1u))

typedef struct cmap__wordlock {
	atomic_uint word; /* readers sleep here */
	atomic_uint wseq; /* writers sleep here; bumped on each wake */
} cmap__wordlock_t;

static inline void
cmap__wordlock_init(cmap__wordlock_t *l)
{
	atomic_init(&l->word, 0);
	atomic_init(&l->wseq, 0);
	CMAP_HG_BENIGN(&l->word, "lock word");
	CMAP_HG_BENIGN(&l->wseq, "lock word");
	CMAP_HG_CREATE(l);
}

static inline void
cmap__wordlock_destroy(cmap__wordlock_t *l)
{
	CMAP_HG_DESTROY(l);
}

CMAP_HIDDEN void cmap__wordlock_read_slow(cmap__wordlock_t *l);
CMAP_HIDDEN void cmap__wordlock_write_slow(cmap__wordlock_t *l);
CMAP_HIDDEN void cmap__wordlock_drained(cmap__wordlock_t *l);

static inline void
cmap__wordlock_read_lock(cmap__wordlock_t *l)
{
	/* Acquire: pairs with the release in write_unlock. */
	unsigned v = atomic_fetch_add_explicit(
	    &l->word, CMAP_WORDLOCK_READER, memory_order_acquire);

	if (CMAP_UNLIKELY(v & (CMAP_WORDLOCK_WRITER | CMAP_WORDLOCK_PENDING)))
		cmap__wordlock_read_slow(l);
	CMAP_HG_ACQUIRED(l, 0);
}

static inline void
cmap__wordlock_read_unlock(cmap__wordlock_t *l)
{
	unsigned v;

	CMAP_HG_RELEASED(l, 0);
	/* Release: pairs with the writer's acquire CAS from no readers.  The
	 * last reader out wakes a sleeping writer. */
	v = atomic_fetch_sub_explicit(
	    &l->word, CMAP_WORDLOCK_READER, memory_order_release);
	if (CMAP_UNLIKELY((v & (CMAP_WORDLOCK_READERS | CMAP_LOCK_WPARKED)) ==
	        (CMAP_WORDLOCK_READER | CMAP_LOCK_WPARKED)))
		cmap__wordlock_drained(l);
}

static inline void
cmap__wordlock_write_lock(cmap__wordlock_t *l)
{
	unsigned expected = 0;

	/* Acquire: pairs with the release of the previous holder(s). */
	if (CMAP_UNLIKELY(!atomic_compare_exchange_strong_explicit(&l->word,
	        &expected, CMAP_WORDLOCK_WRITER, memory_order_acquire,
	        memory_order_relaxed)))
		cmap__wordlock_write_slow(l);
	CMAP_HG_ACQUIRED(l, 1);
}

static inline void
cmap__wordlock_write_unlock(cmap__wordlock_t *l)
{
	unsigned old;

	CMAP_HG_RELEASED(l, 1);
	/* Release (seq_cst for lock.c's proof): pairs with the acquire of the
	 * next reader or writer.  An RMW, not a store: readers that are
	 * backing off may have their increments in the word. */
	old = atomic_fetch_and_explicit(&l->word,
	    ~(CMAP_LOCK_WRITER | CMAP_LOCK_RPARKED | CMAP_LOCK_WPARKED),
	    memory_order_seq_cst);
	if (CMAP_UNLIKELY(old & (CMAP_LOCK_RPARKED | CMAP_LOCK_WPARKED)))
		cmap__lock_wake(&l->word, &l->wseq, old);
}

#endif /* CMAP_LOCK_H */
