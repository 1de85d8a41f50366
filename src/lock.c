/*
 * lock.c - slow paths of the locks in lock.h: spinning, sleeping, waking.
 *
 * WAITING.  A waiter spins SPINS times (a few microseconds), then sleeps
 * on a futex word.  Readers sleep on the writer word itself (brlock's
 * `writer`, the wordlock's `word`), having set RPARKED in it; writers
 * sleep on `wseq`, having set WPARKED.  Woken, or returned early (the
 * word changed, a signal), a waiter re-reads the word and decides again.
 *
 * FAIRNESS.  Once a waiter has slept and still cannot get in FAIR_NS
 * after its first sleep, it claims the hand-off: RTURN (a reader; writers
 * may not take the lock while it is set, readers may enter whenever no
 * writer holds it) or WTURN (a writer; no other writer takes the lock,
 * and on the wordlock PENDING keeps new readers out).  A claim is taken
 * with a CAS only when neither is set, and dropped by its owner once it is
 * in: the owner is then the next to enter, after the present holder (and,
 * for a writer, the readers inside).  This is eventual fairness, as in
 * parking_lot: not FIFO, but no waiter is passed over for long.  On the
 * wordlock a reader that has slept also goes ahead of the waiting writers
 * (PENDING), except a writer that holds WTURN: that is the readers' turn
 * between two writers, and WTURN bounds it (a late writer waits for the
 * readers inside, never for readers that arrive after its claim).
 *
 * LIVENESS: NO SLEEPER IS LEFT UNWOKEN.  Four rules:
 *  1. A waiter sets its PARKED flag with a CAS from the value it judged
 *     "cannot enter", then sleeps only if the futex word still holds what
 *     it expects: a reader expects the word with RPARKED set (any later
 *     change makes futex(2) return at once); a writer expects the value of
 *     `wseq` it loaded before that CAS.
 *  2. Whoever clears a PARKED flag wakes that flag's sleepers: the
 *     releasing writer (write_unlock clears both and wakes the readers and
 *     one writer, or every writer while WTURN is set, so that WTURN's owner
 *     is among them), RTURN's owner as it drops the claim (drop_rturn()),
 *     and on the wordlock the reader that drains the count to zero while
 *     no writer holds the lock (drained()).  A waker bumps
 *     `wseq` after its clearing RMW and before futex(FUTEX_WAKE).
 *  3. A writer that has slept acquires with WPARKED set (it cannot know
 *     whether it was the one woken, and the others are still asleep), so
 *     its own release wakes the next; a woken waiter that cannot get in
 *     sets its flag again before sleeping again (rule 1).  So a woken
 *     thread that cannot proceed always leaves the flag set behind it.
 *  4. A waiter sleeps only on a condition whose end clears the flag: a
 *     writer holding the lock (its release clears it), readers inside the
 *     wordlock (the last one out), RTURN (its owner drops it), WTURN (its owner
 * takes the lock, then releases), PENDING (set only by a writer in its slow
 * path, which takes the lock, then releases; a wordlock reader that has slept
 * ignores it).  A brlock writer that holds the lock sleeps on a stripe with
 * DRAIN set; the reader that takes that stripe's count to zero wakes it
 * (read_unlock, and the undo in read_slow). Rule 1 against rule 2: the
 * sleeper's CAS and the waker's clearing RMW are RMWs of one word, so one comes
 * first.  If the CAS does, the waker sees the flag and wakes; for a writer, the
 * waker's bump of `wseq` comes after the sleeper's seq_cst load of it (that
 * load precedes the CAS, the CAS precedes the waker's RMW, which precedes the
 * bump), so futex(2) either sees the bumped value and returns, or the sleeper
 * is queued and the wake finds it.  If the waker's RMW comes first, the CAS
 * fails (the word changed) and the waiter decides again.  A value that returns
 * to what the waiter saw (ABA) is a new state that blocks it just as well, and
 * whoever ends it follows rule 2.  The kernel orders futex(2)'s check of the
 * word and its queueing against FUTEX_WAKE.
 *
 * On systems other than Linux there is no futex: a "sleep" is a
 * sched_yield and a wake does nothing, so waiters poll (the old
 * behaviour), and every rule above still holds.
 */
#include "lock.h"
#include "metrics.h"

#include <limits.h>
#include <sched.h>
#include <stdint.h>
#include <time.h>
#include <unistd.h>

#if defined(__linux__)
#include <linux/futex.h>
#include <sys/syscall.h>
#endif

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define cpu_relax() _mm_pause()
#elif defined(__aarch64__)
#define cpu_relax() __asm__ __volatile__("yield" ::: "memory")
#else
#define cpu_relax() ((void)0)
#endif

/* Spin this many times before sleeping: a few microseconds, several
 * critical sections of these locks. */
#define SPINS 128u
/* A waiter past this since its first sleep claims the hand-off. */
#define FAIR_NS 1000000u

#define W CMAP_LOCK_WRITER
#define PENDING CMAP_LOCK_PENDING
#define RPARKED CMAP_LOCK_RPARKED
#define WPARKED CMAP_LOCK_WPARKED
#define RTURN CMAP_LOCK_RTURN
#define WTURN CMAP_LOCK_WTURN
#define READER CMAP_WORDLOCK_READER
#define READERS CMAP_WORDLOCK_READERS

/* Sleep while *word == val (Linux: futex(2)); may return early. */
void
cmap__spin_backoff(unsigned *spins)
{
	if (*spins < SPINS) {
		(*spins)++;
		cpu_relax();
	} else {
		sched_yield();
	}
}

static void
park(atomic_uint *word, unsigned val)
{
#if defined(__linux__)
	syscall(
	    SYS_futex, (void *)word, FUTEX_WAIT_PRIVATE, val, NULL, NULL, 0);
#else
	(void)word;
	(void)val;
	sched_yield();
#endif
}

static void
unpark(atomic_uint *word, int n)
{
#if defined(__linux__)
	syscall(SYS_futex, (void *)word, FUTEX_WAKE_PRIVATE, n, NULL, NULL, 0);
#else
	(void)word;
	(void)n;
#endif
}

static uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* One thread's wait for one lock. */
struct wait {
	unsigned spins;
	bool slept;     /* rule 3 */
	bool claimed;   /* owns RTURN or WTURN */
	uint64_t since; /* first time it was about to sleep; 0 before */
};

/* Spin once more, unless the waiter has spun enough. */
static bool
keep_spinning(struct wait *w)
{
	if (w->spins >= SPINS)
		return false;
	w->spins++;
	cpu_relax();
	return true;
}

/*
 * Claim the hand-off (`bits`: RTURN, or WTURN with what goes with it) if
 * this waiter is overdue and nobody holds a claim.  Returns false when it
 * did not try; true when it tried, *v then holding the word's value.
 */
static bool
try_claim(atomic_uint *word, unsigned *v, unsigned bits, struct wait *w)
{
	uint64_t now;

	if (w->claimed || (*v & (RTURN | WTURN)))
		return false;
	now = now_ns();
	if (w->since == 0)
		w->since = now;
	if (now - w->since < FAIR_NS)
		return false;
	if (atomic_compare_exchange_strong(word, v, *v | bits)) {
		w->claimed = true;
		*v |= bits;
	}
	return true;
}

/* Rule 1 for a reader: sleep on the word; *v is its value afterwards. */
static void
reader_park(atomic_uint *word, unsigned *v, struct wait *w)
{
	unsigned want = *v | RPARKED;

	if (atomic_compare_exchange_strong(word, v, want)) {
		park(word, want);
		w->slept = true;
		*v = atomic_load_explicit(word, memory_order_relaxed);
	}
}

/* Rule 1 for a writer: sleep on wseq; *v is the word's value afterwards. */
static void
writer_park(atomic_uint *word, atomic_uint *wseq, unsigned *v, struct wait *w)
{
	/* seq_cst: before the CAS in the single total order (the proof). */
	unsigned seq = atomic_load(wseq);

	if (atomic_compare_exchange_strong(word, v, *v | WPARKED)) {
		park(wseq, seq);
		w->slept = true;
		*v = atomic_load_explicit(word, memory_order_relaxed);
	}
}

/* Rule 2, for whoever cleared WPARKED: WTURN's owner may be any sleeper. */
static void
wake_writers(atomic_uint *wseq, unsigned old)
{
	atomic_fetch_add(wseq, 1); /* seq_cst: after the clearing RMW */
	unpark(wseq, old & WTURN ? INT_MAX : 1);
}

/* A reader in with RTURN drops it; writers that slept on it wake. */
static void
drop_rturn(atomic_uint *word, atomic_uint *wseq)
{
	unsigned old = atomic_fetch_and(word, ~(RTURN | WPARKED));

	if (old & WPARKED)
		wake_writers(wseq, old);
}

void
cmap__lock_wake(atomic_uint *word, atomic_uint *wseq, unsigned old)
{
	if (old & WPARKED)
		wake_writers(wseq, old);
	if (old & RPARKED)
		unpark(word, INT_MAX);
}

/* What a writer that takes the lock leaves in the word (rule 3); clears
 * PENDING and WTURN. */
static unsigned
taken(unsigned v, const struct wait *w)
{
	return (v & (RPARKED | WPARKED)) | W | (w->slept ? WPARKED : 0);
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
	atomic_init(&l->wseq, 0);
	l->mask = stripes - 1;
	CMAP_HG_BENIGN(&l->writer, "lock word");
	CMAP_HG_BENIGN(&l->wseq, "lock word");
	for (unsigned i = 0; i < stripes; i++) {
		atomic_init(&l->stripe[i].readers, 0);
		CMAP_HG_BENIGN(&l->stripe[i].readers, "lock word");
	}
	CMAP_HG_CREATE(l);
}

void
cmap__brlock_drained(struct cmap__brlock *l, unsigned stripe)
{
	unpark(&l->stripe[stripe].readers, 1);
}

/* A writer holds the lock: step back, wait, retry (maybe on another
 * stripe: the processor may have changed). */
unsigned
cmap__brlock_read_slow(struct cmap__brlock *l, unsigned s)
{
	struct wait w = {0};
	/* As in cmap__brlock_read_lock (lock.h): after our increment. */
	unsigned v = atomic_load(&l->writer);
	uint64_t t0 = (v & W) ? cmap__metrics_begin() : 0;

	while (v & W) {
		if (atomic_fetch_sub_explicit(&l->stripe[s].readers, 1,
		        memory_order_relaxed) == CMAP_BRLOCK_DRAIN + 1)
			cmap__brlock_drained(l, s);
		while (v & W) {
			if (keep_spinning(&w))
				v = atomic_load_explicit(
				    &l->writer, memory_order_relaxed);
			else if (!try_claim(&l->writer, &v, RTURN, &w))
				reader_park(&l->writer, &v, &w);
		}
		int cpu = sched_getcpu();

		s = (unsigned)(cpu < 0 ? 0 : cpu) & l->mask;
		/* As in cmap__brlock_read_lock (lock.h). */
		atomic_fetch_add(&l->stripe[s].readers, 1);
		v = atomic_load(&l->writer);
	}
	if (w.claimed)
		drop_rturn(&l->writer, &l->wseq);
	cmap__metrics_wait_end(t0);
	return s;
}

/* Holding the writer word: wait until stripe i has no reader (rule 4). */
static void
brlock_drain(struct cmap__brlock *l, unsigned i, uint64_t *t0)
{
	atomic_uint *r = &l->stripe[i].readers;
	unsigned spins = 0;

	/* seq_cst: pairs with the readers' increments (Dekker, lock.h), and
	 * includes the acquire that pairs with their release decrement. */
	while (atomic_load(r) != 0) {
		unsigned v;

		if (*t0 == 0)
			*t0 = cmap__metrics_begin(); /* it waits (metrics.h) */
		if (spins < SPINS) {
			spins++;
			cpu_relax();
			continue;
		}
		v = atomic_fetch_or(r, CMAP_BRLOCK_DRAIN);
		if (v != 0)
			park(r, v | CMAP_BRLOCK_DRAIN);
		atomic_fetch_and_explicit(
		    r, ~CMAP_BRLOCK_DRAIN, memory_order_relaxed);
	}
}

void
cmap__brlock_write_lock(struct cmap__brlock *l)
{
	struct wait w = {0};
	unsigned v = 0;
	uint64_t t0 = 0; /* set once it has to wait (metrics.h) */

	for (;;) {
		if (!(v & (W | RTURN)) && (!(v & WTURN) || w.claimed)) {
			/* seq_cst: the writer's half of the Dekker (lock.h). */
			if (atomic_compare_exchange_weak_explicit(&l->writer,
			        &v, taken(v, &w), memory_order_seq_cst,
			        memory_order_relaxed))
				break;
		} else if (t0 == 0 && (t0 = cmap__metrics_begin()) != 0) {
			continue;
		} else if (keep_spinning(&w)) {
			v = atomic_load_explicit(
			    &l->writer, memory_order_relaxed);
		} else if (!try_claim(&l->writer, &v, WTURN, &w)) {
			writer_park(&l->writer, &l->wseq, &v, &w);
		}
	}
	for (unsigned i = 0; i <= l->mask; i++)
		brlock_drain(l, i, &t0);
	cmap__metrics_wait_end(t0);
	CMAP_HG_ACQUIRED(l, 1);
}

/* -------------------------------------------------------------- wordlock */

/* Rule 2 on the wordlock: the readers drained with a writer asleep. */
void
cmap__wordlock_drained(cmap__wordlock_t *l)
{
	unsigned old = atomic_fetch_and(&l->word, ~WPARKED);

	if (old & WPARKED)
		wake_writers(&l->wseq, old);
}

/* Take back an optimistic increment; returns the word after it. */
static unsigned
wordlock_undo(cmap__wordlock_t *l)
{
	unsigned v =
	    atomic_fetch_sub_explicit(&l->word, READER, memory_order_relaxed) -
	    READER;

	if ((v & (READERS | W | WPARKED)) == WPARKED)
		cmap__wordlock_drained(l);
	return v;
}

/* A reader that has slept (woken by a writer's release, or it found the
 * word changed) goes ahead of the writers that wait (PENDING), which is
 * what gives the readers their turn between two writers; not ahead of a
 * writer that holds WTURN, so that a stream of readers cannot hold off a
 * late writer. */
static bool
reader_may_enter(unsigned v, const struct wait *w)
{
	return !(v & W) &&
	    (!(v & PENDING) || (v & RTURN) || (w->slept && !(v & WTURN)));
}

void
cmap__wordlock_read_slow(cmap__wordlock_t *l)
{
	struct wait w = {0};
	unsigned v = wordlock_undo(l);
	uint64_t t0 = cmap__metrics_begin();

	for (;;) {
		if (reader_may_enter(v, &w)) {
			/* Acquire: pairs with write_unlock's release. */
			v = atomic_fetch_add_explicit(
			    &l->word, READER, memory_order_acquire);
			if (reader_may_enter(v, &w))
				break;
			v = wordlock_undo(l);
		} else if (keep_spinning(&w)) {
			v = atomic_load_explicit(
			    &l->word, memory_order_relaxed);
		} else if (!try_claim(&l->word, &v, RTURN, &w)) {
			reader_park(&l->word, &v, &w);
		}
	}
	if (w.claimed)
		drop_rturn(&l->word, &l->wseq);
	cmap__metrics_wait_end(t0);
}

void
cmap__wordlock_write_slow(cmap__wordlock_t *l)
{
	struct wait w = {0};
	unsigned v = atomic_load_explicit(&l->word, memory_order_relaxed);
	uint64_t t0 = cmap__metrics_begin();

	for (;;) {
		if (!(v & (W | RTURN | READERS)) &&
		    (!(v & WTURN) || w.claimed)) {
			/* Acquire: pairs with the release of the previous
			 * holder(s). */
			if (atomic_compare_exchange_weak_explicit(&l->word, &v,
			        taken(v, &w), memory_order_acquire,
			        memory_order_relaxed)) {
				cmap__metrics_wait_end(t0);
				return;
			}
		} else if (!(v & PENDING)) {
			/* Keep new readers out so the present ones drain. */
			atomic_compare_exchange_weak_explicit(&l->word, &v,
			    v | PENDING, memory_order_relaxed,
			    memory_order_relaxed);
		} else if (keep_spinning(&w)) {
			v = atomic_load_explicit(
			    &l->word, memory_order_relaxed);
		} else if (!try_claim(&l->word, &v, WTURN | PENDING, &w)) {
			writer_park(&l->word, &l->wseq, &v, &w);
		}
	}
}
