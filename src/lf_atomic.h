/*
 * lf_atomic.h - the atomics of the lockfree backend, each with its ordering
 * in its name.
 *
 * The algorithm in the lf*.c files (lf.h) is written against these few
 * operations only.  In normal builds they are Concurrency Kit's ck_pr
 * primitives (with the compiler fences ck_pr needs to turn a plain ck_pr
 * load or store into an acquire or release access); when CMAP_TSAN is
 * defined they are C11/GNU atomics, which ThreadSanitizer understands, so
 * that TSan checks the very same algorithm.  ck_pr's inline assembly is
 * invisible to TSan, and CK_USE_CC_BUILTINS still leaves ck_pr_load and
 * ck_pr_store as plain volatile accesses, hence this header.
 *
 *   lf_load_acq_*   load-acquire: later accesses are not moved before it.
 *   lf_load_rlx_*   relaxed load (atomic, no ordering).
 *   lf_store_rel_*  store-release: earlier accesses are not moved after it.
 *   lf_store_rlx_*  relaxed store.
 *   lf_cas_*        compare-and-swap, sequentially consistent (a locked
 *                   instruction on x86); on failure *expected receives the
 *                   value found.
 *   lf_faa_64       fetch-and-add, sequentially consistent; returns the old
 *                   value.
 *   lf_cas_pair     compare-and-swap of an aligned pair of 64-bit words
 *                   (cmpxchg16b: ck_pr_cas_64_2_value), sequentially
 *                   consistent; on failure *expected receives the pair found.
 *
 * No stand-alone fence is used by the algorithm (TSan does not model them);
 * every ordering constraint is carried by an access.
 */
#ifndef CMAP_LF_ATOMIC_H
#define CMAP_LF_ATOMIC_H

#include <stdbool.h>
#include <stdint.h>

/* A slot: two words changed together by lf_cas_pair. */
struct lf_pair {
	uint64_t w; /* hash tag and state bits, see lf.h */
	uint64_t v; /* the value */
} __attribute__((aligned(16)));

#if defined(CMAP_TSAN)

#include <stdatomic.h>

#define LF_A64(p) ((_Atomic uint64_t *)(void *)(p))
#define LF_APTR(p) ((_Atomic(void *) *)(void *)(p))

static inline uint64_t
lf_load_acq_64(const uint64_t *p)
{
	return atomic_load_explicit(LF_A64(p), memory_order_acquire);
}

static inline uint64_t
lf_load_rlx_64(const uint64_t *p)
{
	return atomic_load_explicit(LF_A64(p), memory_order_relaxed);
}

static inline void
lf_store_rel_64(uint64_t *p, uint64_t v)
{
	atomic_store_explicit(LF_A64(p), v, memory_order_release);
}

static inline void
lf_store_rlx_64(uint64_t *p, uint64_t v)
{
	atomic_store_explicit(LF_A64(p), v, memory_order_relaxed);
}

static inline bool
lf_cas_64(uint64_t *p, uint64_t *expected, uint64_t desired)
{
	return atomic_compare_exchange_strong_explicit(LF_A64(p), expected,
	    desired, memory_order_seq_cst, memory_order_seq_cst);
}

static inline uint64_t
lf_faa_64(uint64_t *p, uint64_t d)
{
	return atomic_fetch_add_explicit(LF_A64(p), d, memory_order_seq_cst);
}

static inline uint64_t
lf_load_sc_64(const uint64_t *p)
{
	return atomic_load_explicit(LF_A64(p), memory_order_seq_cst);
}

static inline void *
lf_load_acq_ptr(void *const *p)
{
	return atomic_load_explicit(LF_APTR(p), memory_order_acquire);
}

static inline void
lf_store_rel_ptr(void **p, void *v)
{
	atomic_store_explicit(LF_APTR(p), v, memory_order_release);
}

static inline bool
lf_cas_ptr(void **p, void **expected, void *desired)
{
	return atomic_compare_exchange_strong_explicit(LF_APTR(p), expected,
	    desired, memory_order_seq_cst, memory_order_seq_cst);
}

static inline void *
lf_xchg_ptr(void **p, void *v)
{
	return atomic_exchange_explicit(LF_APTR(p), v, memory_order_seq_cst);
}

/*
 * C11 has no 16-byte compare-and-swap on a non-_Atomic object; the GNU
 * builtin is the same operation and TSan instruments it (gcc calls
 * __tsan_atomic128_compare_exchange_*; clang needs -mcx16).
 */
static inline bool
lf_cas_pair(struct lf_pair *p, struct lf_pair *expected, struct lf_pair desired)
{
	unsigned __int128 e, d;
	bool ok;

	__builtin_memcpy(&e, expected, sizeof e);
	__builtin_memcpy(&d, &desired, sizeof d);
	ok = __atomic_compare_exchange_n((unsigned __int128 *)(void *)p, &e, d,
	    false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
	__builtin_memcpy(expected, &e, sizeof e);
	return ok;
}

#else /* ck_pr */

#include <ck_pr.h>

#if !defined(CK_F_PR_CAS_64_2_VALUE)
#error                                                                         \
    "libcmap's lockfree backend needs a 16-byte CAS (ck_pr_cas_64_2_value); build with -DCMAP_WITH_LOCKFREE=OFF on this platform"
#endif

static inline uint64_t
lf_load_acq_64(const uint64_t *p)
{
	uint64_t v = ck_pr_load_64(p);

	ck_pr_fence_load(); /* a compiler barrier on TSO machines */
	return v;
}

static inline uint64_t
lf_load_rlx_64(const uint64_t *p)
{
	return ck_pr_load_64(p);
}

static inline void
lf_store_rel_64(uint64_t *p, uint64_t v)
{
	ck_pr_fence_store();
	ck_pr_store_64(p, v);
}

static inline void
lf_store_rlx_64(uint64_t *p, uint64_t v)
{
	ck_pr_store_64(p, v);
}

static inline bool
lf_cas_64(uint64_t *p, uint64_t *expected, uint64_t desired)
{
	uint64_t found;
	bool ok = ck_pr_cas_64_value(p, *expected, desired, &found);

	*expected = found;
	return ok;
}

static inline uint64_t
lf_faa_64(uint64_t *p, uint64_t d)
{
	return ck_pr_faa_64(p, d);
}

static inline uint64_t
lf_load_sc_64(const uint64_t *p)
{
	/* Only ever paired with a locked RMW in the algorithm. */
	ck_pr_fence_memory();
	return ck_pr_load_64(p);
}

static inline void *
lf_load_acq_ptr(void *const *p)
{
	void *v = ck_pr_load_ptr(p);

	ck_pr_fence_load();
	return v;
}

static inline void
lf_store_rel_ptr(void **p, void *v)
{
	ck_pr_fence_store();
	ck_pr_store_ptr(p, v);
}

static inline bool
lf_cas_ptr(void **p, void **expected, void *desired)
{
	void *found;
	bool ok = ck_pr_cas_ptr_value(p, *expected, desired, &found);

	*expected = found;
	return ok;
}

static inline void *
lf_xchg_ptr(void **p, void *v)
{
	return ck_pr_fas_ptr(p, v);
}

static inline bool
lf_cas_pair(struct lf_pair *p, struct lf_pair *expected, struct lf_pair desired)
{
	uint64_t cmp[2] = {expected->w, expected->v};
	uint64_t set[2] = {desired.w, desired.v};
	uint64_t found[2];
	bool ok = ck_pr_cas_64_2_value((uint64_t *)(void *)p, cmp, set, found);

	expected->w = found[0];
	expected->v = found[1];
	return ok;
}

#endif

#endif /* CMAP_LF_ATOMIC_H */
