/*
 * lock.c - slow paths of the locks in lock.h.
 */
#include "lock.h"

#include <sched.h>
#include <unistd.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define cpu_relax() _mm_pause()
#elif defined(__aarch64__)
#define cpu_relax() __asm__ __volatile__("yield" ::: "memory")
#else
#define cpu_relax() ((void)0)
#endif

/* Spin this many times before yielding: a few hundred nanoseconds, about
 * the length of a critical section of these locks. */
#define SPINS_BEFORE_YIELD 64u

void
cmap__lock_backoff(unsigned *spins)
{
	if (*spins < SPINS_BEFORE_YIELD) {
		(*spins)++;
		cpu_relax();
	} else {
		sched_yield();
	}
}

/* ---------------------------------------------------------------- brlock */

unsigned
cmap__brlock_stripes(void)
{
	long n = sysconf(_SC_NPROCESSORS_CONF);
	unsigned s = 1;

	while (s < CMAP_BRLOCK_MAX_STRIPES && (long)s < n)
		s <<= 1;
	return s;
}

void
cmap__brlock_init(struct cmap__brlock *l, unsigned stripes)
{
	atomic_init(&l->writer, 0);
	l->mask = stripes - 1;
	CMAP_HG_BENIGN(&l->writer, "lock word");
	for (unsigned i = 0; i < stripes; i++) {
		atomic_init(&l->stripe[i].readers, 0);
		CMAP_HG_BENIGN(&l->stripe[i].readers, "lock word");
	}
	CMAP_HG_CREATE(l);
}

/* A writer was seen after the increment: step back, wait, retry. */
unsigned
cmap__brlock_read_slow(struct cmap__brlock *l, unsigned s)
{
	for (;;) {
		unsigned spins = 0;

		atomic_fetch_sub_explicit(
		    &l->stripe[s].readers, 1, memory_order_relaxed);
		while (
		    atomic_load_explicit(&l->writer, memory_order_relaxed) != 0)
			cmap__lock_backoff(&spins);
		/* As in cmap__brlock_read_lock (lock.h). */
		atomic_fetch_add_explicit(
		    &l->stripe[s].readers, 1, memory_order_seq_cst);
		if (atomic_load_explicit(&l->writer, memory_order_seq_cst) == 0)
			return s;
	}
}

void
cmap__brlock_write_lock(struct cmap__brlock *l)
{
	unsigned spins = 0;
	unsigned expected = 0;

	while (!atomic_compare_exchange_weak_explicit(&l->writer, &expected, 1,
	    memory_order_seq_cst, memory_order_relaxed)) {
		expected = 0;
		cmap__lock_backoff(&spins);
	}
	/* Wait for the readers already inside; seq_cst pairs with the
	 * readers' increments (above), and includes the acquire that pairs
	 * with their release decrement in read_unlock. */
	for (unsigned i = 0; i <= l->mask; i++) {
		spins = 0;
		while (atomic_load_explicit(
		           &l->stripe[i].readers, memory_order_seq_cst) != 0)
			cmap__lock_backoff(&spins);
	}
	CMAP_HG_ACQUIRED(l, 1);
}

/* -------------------------------------------------------------- wordlock */

void
cmap__wordlock_read_slow(cmap__wordlock_t *l)
{
	const unsigned busy = CMAP_WORDLOCK_WRITER | CMAP_WORDLOCK_PENDING;

	for (;;) {
		unsigned spins = 0;

		/* Undo the optimistic increment, wait out the writer. */
		atomic_fetch_sub_explicit(
		    l, CMAP_WORDLOCK_READER, memory_order_relaxed);
		while (atomic_load_explicit(l, memory_order_relaxed) & busy)
			cmap__lock_backoff(&spins);
		/* Acquire: pairs with write_unlock's release. */
		if (!(atomic_fetch_add_explicit(
		          l, CMAP_WORDLOCK_READER, memory_order_acquire) &
		        busy))
			return;
	}
}

void
cmap__wordlock_write_slow(cmap__wordlock_t *l)
{
	unsigned spins = 0;

	for (;;) {
		unsigned v = atomic_load_explicit(l, memory_order_relaxed);

		if ((v & ~CMAP_WORDLOCK_PENDING) == 0) {
			/* Free (maybe with our or another writer's pending
			 * bit): take it, clearing the pending bit; other
			 * waiting writers set it again. */
			if (atomic_compare_exchange_weak_explicit(l, &v,
			        CMAP_WORDLOCK_WRITER, memory_order_acquire,
			        memory_order_relaxed))
				return;
		} else if (!(v & CMAP_WORDLOCK_PENDING)) {
			/* Keep new readers out so the present ones drain. */
			atomic_fetch_or_explicit(
			    l, CMAP_WORDLOCK_PENDING, memory_order_relaxed);
		}
		cmap__lock_backoff(&spins);
	}
}
