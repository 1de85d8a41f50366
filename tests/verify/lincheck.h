/*
 * lincheck.h - record concurrent histories of a cmap and check that each
 * key's sub-history is linearizable.
 *
 * RECORDING
 *
 * Worker threads run a random mix of every single-key operation of the
 * public API, the batch calls (cmap_load_batch, cmap_store_batch,
 * cmap_delete_batch) and cmap_range, cmap_len and cmap_clear over a small
 * key set.
 * Each operation gets a call and a return timestamp from one shared atomic
 * counter (a fetch-add just before the call and just after the return), so
 * "a returned before b was called" in the history means exactly that in
 * real time.  Threads record into their own logs; nothing is shared but the
 * counter and the map.
 *
 * CHECKING
 *
 * Linearizability is local (Herlihy & Wing): a history is linearizable iff
 * each key's sub-history is.  For each key the checker runs the Wing & Gong
 * search against a sequential model of one key (absent, or present with a
 * value) with Lowe's memoization of (linearized set, model state).
 *
 * The linearized set is kept as a vector of per-thread prefix lengths:
 * a thread's operations are totally ordered in real time, so any set that
 * can be linearized first is a prefix of each thread's operations.  With T
 * threads the memo key is T counters plus the model state, and the number
 * of distinct keys is bounded by the number of ways the T threads' current
 * operations can overlap: polynomial in the history length for fixed T,
 * instead of the 2^n subsets of the textbook formulation.
 *
 * Cross-key operations become per-key events where the documentation
 * makes a per-key promise:
 *   - a batch call: each key of it is its own load, store or delete whose
 *     call and return are the batch call's ("keys are processed in order,
 *     each atomic on its own as that call is, the batch as a whole not
 *     atomic").  A key that appears twice in one batch gives two
 *     operations of the same thread with the same timestamps; they keep
 *     their order in the batch (struct lc_op.seq), so the per-thread
 *     prefix order above is the batch's processing order.  The batch's
 *     return value must be its first per-key error, or CMAP_OK (checked
 *     while recording);
 *   - cmap_range: each visited (key, value) is a read of that key that
 *     takes effect somewhere inside the range call ("a visited key was
 *     present with the value shown at some moment during the traversal");
 *     a key visited twice, or a key outside the key set, is an error;
 *   - cmap_clear: a removal of every key, each at some moment inside the
 *     call ("concurrent operations see each key either before or after its
 *     removal");
 *   - cmap_len: checked after the search against bounds derived from the
 *     history: keys whose presence is certain over the whole call count
 *     exactly, keys with a presence-changing operation in flight count 0
 *     or 1 (plus a slack of the concurrent writes where the docs allow it).
 *
 * A failed allocation (CMAP_ENOMEM) is a no-op that is only legal where
 * the operation would have inserted (the key is absent in the model).
 */
#ifndef CMAP_VERIFY_LINCHECK_H
#define CMAP_VERIFY_LINCHECK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "cmap.h"

struct tu_alloc; /* testutil.h */

#define LC_MAX_THREADS 16
#define LC_MAX_KEYS 256
/* Under ThreadSanitizer, the most histories test_lincheck and test_faults
 * give a backend checked single-threaded (plain): they give it nothing to
 * find. */
#define LC_TSAN_SERIAL_HISTORIES 25
/* Never a value the workload writes: out parameters start with it so that
 * "*value is unchanged" can be checked. */
#define LC_SENTINEL UINT64_C(0xfeedfacecafef00d)

enum lc_kind {
	LC_LOAD,
	LC_STORE,
	LC_LOS, /* load_or_store */
	LC_LAD, /* load_and_delete */
	LC_DELETE,
	LC_SWAP,
	LC_CAS,
	LC_CAD, /* compare_and_delete */
	LC_ADD,
	LC_UPDATE, /* a = mode of lc_update_apply */
	LC_VISIT,  /* one entry shown by cmap_range (a read) */
	LC_CLEAR,  /* cmap_clear's removal of this key */
	LC_KIND_COUNT
};

/* One operation on one key, as recorded. */
struct lc_op {
	uint64_t call, ret; /* shared-counter timestamps */
	uint64_t key, a, b; /* arguments */
	uint64_t out;       /* out parameter after the call (LC_SENTINEL
	                       before it) */
	int32_t status;     /* cmap_status_t returned */
	uint16_t thread;
	uint8_t kind;  /* enum lc_kind */
	uint8_t batch; /* 1: one key of a batch call (load, store, delete) */
	uint32_t seq;  /* position in its thread's log: the program order of
	                  operations with equal timestamps (set by lc_run) */
};

/* One cmap_len call. */
struct lc_len {
	uint64_t call, ret;
	uint64_t value;
	uint16_t thread;
	bool reserve; /* not a len call: a cmap_reserve (for the len slack) */
};

struct lc_history {
	struct lc_op *ops;
	size_t nops, capops;
	struct lc_len *lens;
	size_t nlens, caplens;
	uint64_t keys[LC_MAX_KEYS];
	size_t nkeys;
	int nthreads;
	/* Errors found while recording (a range that showed a key twice or
	 * an unknown key); the first message is kept. */
	unsigned long record_errors;
	char record_msg[256];
	/* Counts, for the summary. */
	unsigned long nranges, nclears, nenomem, nbatches;
};

/* The operation mix, in weights (any scale). */
enum lc_mix_slot {
	LC_M_LOAD,
	LC_M_STORE,
	LC_M_LOS,
	LC_M_LAD,
	LC_M_DELETE,
	LC_M_SWAP,
	LC_M_CAS,
	LC_M_CAD,
	LC_M_ADD,
	LC_M_UPDATE,
	LC_M_RANGE,
	LC_M_LEN,
	LC_M_CLEAR,
	LC_M_RESERVE,
	LC_M_LOAD_BATCH, /* cmap_load_batch of 1..batch_max keys */
	LC_M_STORE_BATCH,
	LC_M_DELETE_BATCH,
	LC_M_COUNT
};

struct lc_workload {
	int nthreads; /* 1..LC_MAX_THREADS */
	int ops_per_thread;
	size_t nkeys;     /* 1..LC_MAX_KEYS */
	unsigned nvalues; /* values come from a set of this size (1..8) */
	unsigned mix[LC_M_COUNT];
	uint64_t seed;
	/* Keys per batch call: 1..batch_max, drawn from the key set with
	 * repetition (so a batch often names a key twice); 1..LC_MAX_BATCH. */
	unsigned batch_max;
	/* NULL, or the config of a second process: threads [nthreads / 2,
	 * nthreads) then run in a child made by fork(), on a map it creates
	 * from this config, which must name the same entries as the map
	 * given to lc_run (a remote backend's servers and namespace).  The
	 * timestamps come from a counter in memory both processes share, so
	 * the history is checked as one. */
	const cmap_config_t *twin;
};

#define LC_MAX_BATCH 64

/* The default mix: every operation, CAS-heavy, a few range/len/clear,
 * batches of 1 to 8 keys. */
void lc_workload_default(struct lc_workload *w);

void lc_history_init(struct lc_history *h);
void lc_history_fini(struct lc_history *h);

/* Run the workload on map (threads started together) and record the
 * history into h (its previous contents are dropped). */
void lc_run(cmap_t *map, const struct lc_workload *w, struct lc_history *h);

/* The deterministic update callback used by the workload, and the same
 * function for the model.  Modes: see lincheck.c. */
#define LC_UPDATE_MODES 3
cmap_update_action_t lc_update_apply(
    unsigned mode, bool present, uint64_t *value);

struct lc_stats {
	unsigned long histories;    /* histories checked */
	unsigned long subhistories; /* (history, key) pairs checked */
	unsigned long ops;          /* operations, including range visits
	                               and per-key clear events */
	unsigned long overlapping;  /* ops overlapping another thread's op
	                               on the same key */
	unsigned long states;       /* search states explored */
	unsigned long lens;         /* len calls checked */
	unsigned long ranges, clears, enomem;
	unsigned long batches;  /* batch calls (their keys count in ops) */
	unsigned long failures; /* histories found not linearizable */
};

/*
 * Check h.  len_slack_writes: when true, cmap_len may be off by the
 * number of concurrent presence-changing writes (the documented contract
 * of striped counters); when false, it must lie within the exact bounds.
 * On failure, prints a counterexample to `out` (when not NULL) and returns
 * false.  Adds to *st.
 */
bool lc_check(const struct lc_history *h, bool len_slack_writes, FILE *out,
    struct lc_stats *st);

/* The len_slack_writes a backend's histories are checked with: exact
 * bounds for a backend with CMAP_CAP_LEN_EXACT, the documented slack
 * otherwise. */
bool lc_len_slack(const char *backend);

/* How many threads a history of this backend may use: `want` for a
 * thread-safe linearizable backend, 1 otherwise (a sequential history is
 * checked against the same model). */
int lc_threads_for(const char *backend, int want);

/*
 * A map of the backend (shards as given: the option "shards" where the
 * backend has it, ignored otherwise) whose allocations go through *al,
 * initialised here with its failure generator seeded by rng; NULL (and a
 * message on stderr) if it cannot be created.
 */
cmap_t *lc_map_new(
    const char *backend, uint32_t shards, struct tu_alloc *al, uint64_t rng);

/* CMAP_VERIFY_SCALE from the environment (default `dflt`), clamped to
 * [0.001, 1000]. */
double lc_scale(double dflt);

const char *lc_kind_name(enum lc_kind k);

#endif
