/*
 * bench.h - what the parts of cmap-bench share.
 *
 * LAYOUT
 *
 *   main.c      command line, presets, the plan of cells, the time budget,
 *               the driver loop (prefill once per target and workload, then
 *               one cell per thread count)
 *   workload.c  keys, distributions and the pre-generated per-thread
 *               operation streams; the timed worker loop
 *   hist.c      the clock (calibrated TSC or clock_gettime) and the
 *               log-linear latency histogram
 *   targets.c   libcmap backends, discovered through the public registry,
 *               with a counting allocator
 *   peers.c     liburcu rculfhash, ck_ht and GLib's GHashTable (each only
 *               when its package was found at configure time)
 *   floor.c     the floor: a minimal single-threaded linear-probing table
 *               with no API layer, always built; the yardstick of xfloor
 *   stats.c     repetitions: ratios and scores within each repetition,
 *               their medians and spreads per cell, and the verdict (a
 *               winner only where its margin exceeds the spread)
 *   context.c   the context block: machine, load, compiler, build, version
 *   output.c    the tables, JSON lines and CSV
 *   recommend.c the recommendation per workload
 *   persist.c   --suite persistent: disk backends beside RocksDB, SQLite
 *
 * A "target" is anything that can be measured: a libcmap backend or a peer.
 * A "cell" is one measurement: one target, one workload, one distribution,
 * one key count, one thread count.
 */
#ifndef CMAP_BENCH_H
#define CMAP_BENCH_H

#include "cmap.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

#if defined(__x86_64__)
#include <x86intrin.h>
#endif

#define BENCH_CACHE_LINE 64
#define BENCH_MAX_THREADS 64
#define BENCH_MAX_TARGETS 32
#define BENCH_MAX_LIST 16
/* --batch N: at most this many operations per batch call. */
#define BENCH_MAX_BATCH 1024

/* ---------------------------------------------------------------------
 * Workloads
 * ------------------------------------------------------------------- */
enum bench_mix {
	MIX_READ_ONLY,
	MIX_READ_MOSTLY, /* 90% load, 5% store, 5% delete */
	MIX_BALANCED,    /* 50% load, 25% store, 25% delete */
	MIX_CHURN,       /* delete one key, insert another: size stays put */
	MIX_GROWTH,      /* inserts of distinct keys into an empty map */
	MIX_COUNTERS,    /* cmap_add(key, 1) */
	MIX_GROW_READ,   /* one thread grows an empty map, the others load */
	MIX_COUNT_
};

/* The mixes that start from an empty map and insert every key once. */
static inline bool
bench_mix_from_empty(enum bench_mix mix)
{
	return mix == MIX_GROWTH || mix == MIX_GROW_READ;
}

enum bench_dist { DIST_UNIFORM, DIST_ZIPF, DIST_COUNT_ };

/* Operation kinds as they sit in a stream; OP_SAMPLE marks the ops whose
 * latency is timed (chosen when the stream is generated). */
enum bench_op { OP_LOAD, OP_STORE, OP_DELETE, OP_ADD, OP_COUNT_ };
#define OP_KIND_MASK 0x7u
#define OP_SAMPLE 0x80u

const char *bench_mix_name(enum bench_mix mix);
const char *bench_dist_name(enum bench_dist dist);
const char *bench_op_name(enum bench_op op);
int bench_mix_parse(const char *s);  /* -1 when unknown */
int bench_dist_parse(const char *s); /* -1 when unknown */

/* ---------------------------------------------------------------------
 * Clock and histogram (hist.c)
 * ------------------------------------------------------------------- */

/* Ticks of the sampling clock: TSC on x86-64 when it is invariant,
 * otherwise nanoseconds from CLOCK_MONOTONIC (see hist.c).  The two reads
 * are inline so that the worker loop pays no call for them. */
extern bool bench_clock_tsc;
void bench_clock_init(bool force_gettime);

static inline uint64_t
bench_mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * UINT64_C(1000000000) +
	    (uint64_t)ts.tv_nsec;
}

/* Read before a timed operation: nothing of it starts before the read. */
static inline uint64_t
bench_tick_begin(void)
{
#if defined(__x86_64__)
	if (bench_clock_tsc) {
		uint64_t t;

		_mm_lfence();
		t = __rdtsc();
		_mm_lfence();
		return t;
	}
#endif
	return bench_mono_ns();
}

/* Read after it: waits for the operation to complete. */
static inline uint64_t
bench_tick_end(void)
{
#if defined(__x86_64__)
	if (bench_clock_tsc) {
		unsigned int aux;
		uint64_t t = __rdtscp(&aux);

		_mm_lfence();
		return t;
	}
#endif
	return bench_mono_ns();
}

double bench_ticks_to_ns(double ticks);
const char *bench_clock_name(void);
double bench_timer_overhead_ns(void); /* one empty timed interval */
uint64_t bench_timer_overhead_ticks(void);
double bench_now_s(void); /* CLOCK_MONOTONIC, seconds */

/* persist.c: cmap-bench --suite persistent ...: runs it and returns the
 * exit code, or -1 when argv asks for something else. */
int bench_persist_main(int argc, char **argv);

/*
 * Log-linear histogram of tick counts: values below 2^HIST_SUB_BITS are
 * counted exactly; above, each power of two is split into 2^HIST_SUB_BITS
 * equal buckets, so a bucket is at most 1/32 (3.1%) of its value wide.
 */
#define HIST_SUB_BITS 5
#define HIST_SUB (1u << HIST_SUB_BITS)
#define HIST_MAX_EXP 44 /* values up to 2^44 ticks (~1.5 h at 3 GHz) */
#define HIST_BUCKETS ((HIST_MAX_EXP - HIST_SUB_BITS + 2) * HIST_SUB)

struct bench_hist {
	uint64_t count;
	uint64_t max;
	uint64_t bucket[HIST_BUCKETS];
};

void hist_reset(struct bench_hist *h);
void hist_record(struct bench_hist *h, uint64_t ticks);
void hist_merge(struct bench_hist *into, const struct bench_hist *from);
/* The value (ticks) at quantile q in [0, 1]: the upper edge of the bucket
 * holding it, never above the maximum seen.  0 when empty. */
uint64_t hist_quantile(const struct bench_hist *h, double q);

/* ---------------------------------------------------------------------
 * Targets (targets.c, peers.c)
 * ------------------------------------------------------------------- */
/* One --opt NAME=VALUE: a backend option, given to every libcmap backend
 * that declares an option of that name (cmap_backend_option). */
#define BENCH_MAX_OPTS 16
#define BENCH_OPT_NAME 64
#define BENCH_OPT_VALUE 256
/* Room for all of them as "a=1 b=2". */
#define BENCH_OPTS_TEXT (BENCH_MAX_OPTS * (BENCH_OPT_NAME + BENCH_OPT_VALUE))

struct bench_opt {
	char name[BENCH_OPT_NAME];
	char value[BENCH_OPT_VALUE];
};

struct target_config {
	uint64_t keys;  /* the key universe of the workload */
	bool presize;   /* ask for room for `keys` entries up front */
	uint64_t seed;  /* hash seed where the target takes one */
	uint32_t flags; /* libcmap: extra CMAP_FLAG_* (--no-misuse-check) */
	const struct bench_opt *opts; /* libcmap: --opt, each given to the */
	size_t nopts;                 /*   backends that declare it       */
};

struct target_ops {
	const char *name;
	bool peer;              /* not libcmap */
	bool single_thread;     /* not thread-safe: run at one thread only */
	bool baseline;          /* the ratios' baseline: the first libcmap
	                           backend without CMAP_CAP_THREAD_SAFE */
	bool floor;             /* the floor peer: yardstick of xfloor */
	bool variant;           /* BACKEND+metrics: chosen by name only,
	                           never recommended */
	const char *backend;    /* libcmap: the backend's name */
	uint32_t cmap_flags;    /* libcmap: flags every map of it gets */
	const char *mem_source; /* "allocator" or "process" (rss/heap) */
	const char *note;       /* one line for --list and the docs */
	uint64_t caps;          /* libcmap: CMAP_CAP_*; peers: 0 */

	/* NULL when the map cannot be made (a message is printed). */
	void *(*create)(
	    const struct target_ops *self, const struct target_config *cfg);
	void (*destroy)(void *map);
	/* Called on every thread that uses the map, before and after. */
	void (*thread_enter)(void *map);
	void (*thread_exit)(void *map);
	bool (*load)(void *map, uint64_t key, uint64_t *value);
	void (*store)(void *map, uint64_t key, uint64_t value);
	bool (*del)(void *map, uint64_t key);
	void (*add)(void *map, uint64_t key, uint64_t delta);
	uint64_t (*len)(void *map);
	/* Bytes the map holds now from its allocator; -1 when unknown (the
	 * driver then uses the growth of the resident set). */
	int64_t (*bytes)(void *map);
	/* After a run's threads have joined: finish deferred reclamation. */
	void (*quiesce)(void *map);
	/* Batch paths (--batch N > 1), n in [1, BENCH_MAX_BATCH]: keys[i]
	 * in order, as the single-key calls.  NULL when the target has none:
	 * it then runs the operations one at a time.  load_batch writes
	 * values[i] (unchanged for an absent key); load and del return how
	 * many keys were present. */
	uint64_t (*load_batch)(
	    void *map, size_t n, const uint64_t *keys, uint64_t *values);
	void (*store_batch)(
	    void *map, size_t n, const uint64_t *keys, const uint64_t *values);
	uint64_t (*del_batch)(void *map, size_t n, const uint64_t *keys);
};

/* Fill out[] with every libcmap backend the registry lists
 * (cmap_backend_at), then every peer compiled in; returns how many. */
size_t targets_all(const struct target_ops **out, size_t cap);
size_t targets_libcmap(const struct target_ops **out, size_t cap);
size_t peers_all(const struct target_ops **out, size_t cap);
extern const struct target_ops floor_target; /* floor.c */
/* A new target: base (a libcmap backend) with CMAP_FLAG_METRICS on every
 * map, named "BACKEND+metrics" (main.c makes one per name given); NULL
 * for a peer or when the table of them is full. */
const struct target_ops *target_metrics_variant(const struct target_ops *base);

/* True when t is a libcmap backend that declares an option `name`. */
bool target_takes_option(const struct target_ops *t, const char *name);
/* Write into buf the options of opts[] that t takes, as "a=1 b=2" ("" for
 * none); returns buf. */
char *target_options_text(const struct target_ops *t,
    const struct bench_opt *opts, size_t nopts, char *buf, size_t cap);
/* Create and destroy a small map of t with the options of opts[] it takes:
 * NULL when the library accepts them, else its message (cmap_last_error).
 */
const char *target_try_options(
    const struct target_ops *t, const struct bench_opt *opts, size_t nopts);
/* Write into buf the options t declares: with full, as "shards (uint,
 * power of two in [1, 65536], default 32): doc"; else their names only.
 * "" for none.  Returns buf. */
char *target_declared_options(
    const struct target_ops *t, bool full, char *buf, size_t cap);

/* Counting allocator shared by the libcmap targets: threads tag
 * themselves so that their counts land on their own cache line. */
void counting_set_thread_slot(unsigned slot);
int64_t counting_live_bytes(void);
/* The same count for targets that allocate themselves (the floor):
 * `size` zeroed bytes aligned to a cache line, NULL when out of memory;
 * counting_free takes the size given. */
void *counting_zalloc(size_t size);
void counting_free_sized(void *ptr, size_t size);

/* Keys 0 and ~0 are never generated (ck_ht reserves them). */

/* ---------------------------------------------------------------------
 * Streams and runs (workload.c)
 * ------------------------------------------------------------------- */
struct workload {
	enum bench_mix mix;
	enum bench_dist dist;
	double zipf_s;
	uint64_t keys;
	uint64_t seed;
	unsigned sample_every; /* 1 in N ops timed; 0 = none */
	unsigned batch;        /* --batch: ops per batch call; 1 = off */
	double write_pct;      /* --write-pct: read-mostly's writes, % */
};

/* One thread's operation stream: keys[i] with kinds[i].  Cyclic (the
 * worker wraps around) except for growth, which runs it once. */
struct stream {
	uint64_t *keys;
	uint8_t *kinds;
	size_t len;
	bool cyclic;
	bool ends_run; /* grow-read's inserter: the run ends when it is done */
	/* Churn: every clean_every ops the thread's slots hold the prefilled
	 * keys again; a worker stops only there.  0 = anywhere. */
	size_t clean_every;
};

/* Churn slots per round, over all threads, and at least per thread (see
 * workload.c). */
#define CHURN_ROUND_PICKS 32768
#define CHURN_MIN_ROUND 1024

struct stream_set {
	unsigned threads;
	struct stream s[BENCH_MAX_THREADS];
};

/* The key of slot id (0 <= id < 2 * keys): a bijective scramble, so keys
 * are distinct, spread over 64 bits, and never 0 or ~0. */
uint64_t bench_key(const struct workload *w, uint64_t id);

/* Generate the streams of `threads` threads holding `total_ops` ops in
 * all.  Returns false when memory runs out. */
bool streams_generate(struct stream_set *set, const struct workload *w,
    unsigned threads, size_t total_ops);
void streams_free(struct stream_set *set);
size_t streams_bytes(const struct stream_set *set);

/* Insert every key the workload expects present before it starts. */
void workload_prefill(
    const struct workload *w, const struct target_ops *t, void *map);

struct run_result {
	uint64_t ops;
	double seconds;
	double cpu_seconds; /* summed over the workers */
	uint64_t op_count[OP_COUNT_];
	struct bench_hist hist[OP_COUNT_]; /* merged over threads, ticks */
	uint64_t samples;
};

/*
 * Run one cell: `threads` workers start together on a barrier, each runs
 * its stream until `seconds` have passed (seconds > 0) or it has done its
 * share of `ops` (ops > 0), or (growth) its stream ends.  Churn workers
 * then finish their round untimed so the map holds the prefilled key set
 * again.  `sample` false ignores the sample marks.
 */
bool workload_run(const struct workload *w, const struct target_ops *t,
    void *map, const struct stream_set *set, double seconds, uint64_t ops,
    bool sample, struct run_result *out);

/* ---------------------------------------------------------------------
 * Results and output (output.c)
 * ------------------------------------------------------------------- */
struct lat {
	double p50, p99, p999, max; /* ns; negative = no samples */
	uint64_t ops;
};

/* One repetition of one cell. */
struct result {
	const struct target_ops *target;
	struct workload w;
	bool prefill, presize;
	unsigned threads;
	unsigned rep; /* 0-based repetition */
	uint64_t ops;
	double seconds;
	double mops;
	double ratio_to_plain; /* to the baseline target's 1-thread mops on
	                          the same workload in the same repetition;
	                          negative when it did not run (JSON name
	                          kept from 0.x) */
	double ratio_to_floor; /* likewise to the floor's */
	const char *options;   /* the --opt this target took, "a=1 b=2" */
	struct lat all;
	struct lat per_op[OP_COUNT_];
	uint64_t entries;
	double bytes_per_entry;      /* negative when unknown */
	double rss_bytes_per_entry;  /* growth of the resident set / entries */
	double heap_bytes_per_entry; /* growth of malloc's bytes in use */
	const char *mem_source;      /* where bytes_per_entry came from */
	double mops_unsampled;       /* --check-sampling only; else negative */
	double ops_per_cpu_us_on;    /* --check-sampling: ops per CPU-us, */
	double ops_per_cpu_us_off;   /*   sampling on and off */
	double score;                /* negative until computed */
	uint64_t samples;
	/* --advise, repetition 0 of a libcmap backend: the workload as a
	 * metrics map of the backend saw it (driver.c, THE ADVISOR). */
	bool profiled;
	cmap_profile_t profile;
};

/* ---------------------------------------------------------------------
 * Command line (main.c) and the run (driver.c)
 * ------------------------------------------------------------------- */
struct options {
	const struct target_ops *all[BENCH_MAX_TARGETS];
	size_t nall;
	const struct target_ops *targets[BENCH_MAX_TARGETS];
	size_t ntargets;
	enum bench_mix mixes[MIX_COUNT_];
	size_t nmixes;
	enum bench_dist dists[DIST_COUNT_];
	size_t ndists;
	double zipf_s;
	double write_pct; /* read-mostly's write share (default 10) */
	uint64_t keys[BENCH_MAX_LIST];
	size_t nkeys;
	unsigned threads[BENCH_MAX_LIST];
	size_t nthreads;
	double seconds; /* per cell; 0 = from the budget */
	uint64_t ops;   /* per cell; 0 = by time */
	double budget;
	unsigned reps; /* --repetitions */
	bool prefill, presize;
	bool json, csv;
	const char *json_path, *csv_path;
	uint64_t seed;
	unsigned sample_every;
	unsigned batch; /* --batch; 1 = off */
	bool check_sampling;
	bool force_gettime;
	bool quiet;
	uint32_t cmap_flags; /* --no-misuse-check, --metrics */
	struct bench_opt opts[BENCH_MAX_OPTS]; /* --opt */
	size_t nopts;
	/* The --opt each of all[] takes, as text ("" for none). */
	char all_opts[BENCH_MAX_TARGETS][BENCH_OPTS_TEXT];
	const char *preset;
	bool advise;             /* --advise: the advisor's check */
	const char *calibration; /* --advise=CALIBRATION; NULL: built in */
};

/* The --opt target t took ("" for none). */
const char *opts_of(const struct options *o, const struct target_ops *t);
/* "shards=64 (sharded), misuse_check=false (plain)"; "" without --opt. */
const char *opts_summary(const struct options *o, char *buf, size_t cap);
struct output_opts;
/* Run every cell of o, then write the tables, JSON and CSV to out. */
void bench_drive(const struct options *o, struct output_opts *out);

/* ---------------------------------------------------------------------
 * Repetitions (stats.c)
 * ------------------------------------------------------------------- */
#define BENCH_MAX_REPS 99

/* The median and range of one figure over the repetitions of a cell;
 * n = 0 when no repetition had it (JSON null). */
struct spread {
	double med, min, max;
	unsigned n;
};

/* Over the n values of v[] that are >= 0 (negative = unknown). */
void spread_of(struct spread *s, const double *v, size_t n);

/* One cell over its repetitions: rep[i] is repetition i's result. */
struct cell {
	const struct result *rep[BENCH_MAX_REPS];
	unsigned reps;
	struct spread mops, ratio_to_plain, ratio_to_floor, score;
	struct spread p50, p99, p999, max, bytes_per_entry;
};

/* Ratios and scores of every result, each within its own repetition. */
void results_finish(struct result *r, size_t n);
/* Group the results into cells, in the order of their first repetition;
 * *out is malloc'ed (NULL and 0 when out of memory). */
size_t cells_build(const struct result *r, size_t n, struct cell **out);
/* The median over c's repetitions of the double at `offset` in struct
 * result (offsetof), unknown (negative) values left out; -1 if none. */
double cell_median(const struct cell *c, size_t offset);

/*
 * The verdict among n candidates, each a spread of per-repetition scores
 * (higher is better): order[] receives the candidates, best median first;
 * the return value is how many of them share the top.  1 means order[0]
 * wins: its lowest score is above every other candidate's highest.
 * Otherwise the first k of order[] are tied: order[0] and every candidate
 * whose highest score reaches order[0]'s lowest.  Candidates with n = 0
 * come last and are never tied.  0 when no candidate has a score.
 */
size_t bench_verdict(const struct spread *s, size_t n, size_t *order);

/* ---------------------------------------------------------------------
 * Context (context.c)
 * ------------------------------------------------------------------- */
struct bench_context {
	char cpu[128];
	unsigned cores;
	double load_start; /* 1-minute load average; negative = unknown */
	double load_end;
	char compiler[96];
	char build_type[32];
	char cflags[256];
	char version[32]; /* cmap_version_string() */
	char git[64];     /* at build time; "unknown" outside a checkout */
	char kernel[256];
	char date[32]; /* UTC, ISO 8601 */
	unsigned reps;
	char warmup[96]; /* what the warm-up was, in words */
};

void context_gather(struct bench_context *c);
void context_finish(struct bench_context *c); /* the load at the end */
void context_print(FILE *f, const struct bench_context *c);
/* "cmap-bench 1.0.0 (git abc123, gcc 12.2.0, Release)" */
void context_version_line(FILE *f);

struct output_opts {
	FILE *table; /* human table and recommendation (stdout or stderr) */
	FILE *json;  /* NULL = none */
	FILE *csv;   /* NULL = none */
	bool check_sampling;
	const struct bench_context *ctx;
};

void output_table(const struct output_opts *o, const struct cell *c, size_t n);
void output_recommendation(
    const struct output_opts *o, const struct cell *c, size_t n);
void output_json(const struct output_opts *o, const struct cell *c, size_t n);
void output_csv(const struct output_opts *o, const struct cell *c, size_t n);
void output_sampling_check(
    const struct output_opts *o, const struct cell *c, size_t n);
/* advise.c: the advisor's picks against the measured best, per cell, and
 * the calibration that fits this run best. */
void output_advice(const struct output_opts *o, const struct cell *c, size_t n,
    const char *calibration);

/* Shared by output.c and recommend.c. */
bool same_workload(const struct result *a, const struct result *b);
const char *baseline_name(const struct cell *c, size_t n);
const char *fmt_keys(char *buf, size_t n, uint64_t k);
/* "12.3 (11.9-13.0)" with `prec` decimals, scaled by `scale` (1 for ns,
 * 1e-3 for us); "-" when unknown; the range left out with one value. */
const char *fmt_spread(
    char *buf, size_t n, const struct spread *s, int prec, double scale);

/* Score weights (the article's). */
#define SCORE_W_MOPS 0.40
#define SCORE_W_P99 0.35
#define SCORE_W_MEM 0.25
extern const char bench_score_formula[];

/* remote.c: `--suite remote` (its exit code), or -1 for other runs. */
int bench_remote_main(int argc, char **argv);

#endif /* CMAP_BENCH_H */
