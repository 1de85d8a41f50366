/*
 * lincheck.c - history recording and the per-key linearizability check.
 * The design is described in lincheck.h.
 *
 * THE SEARCH (one key)
 *
 * ops[t][0..n[t]) are thread t's operations on the key in call order.  A
 * search state is (idx[0..T), model): idx[t] operations of thread t are
 * linearized, and the model (present, value) is the key after them.  From
 * a state, thread t's next operation o can be linearized next iff
 *   o.call < min over threads u of (next unlinearized op of u).ret
 * (no pending operation returned before o was called; it is enough to look
 * at each thread's next operation because a thread's return timestamps
 * increase) and the model accepts o's result.  Depth-first search with an
 * explicit stack; every state pushed is entered into a hash set first, so
 * no state is expanded twice (Lowe's memoization).  The history is
 * linearizable iff a state with every operation linearized is reached.
 */
#include "lincheck.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testutil.h"

/* Values the workload writes (CAS-friendly: few, with edge values). */
static const uint64_t lc_values[8] = {
    0,
    1,
    2,
    UINT64_MAX,
    3,
    UINT64_C(1) << 63,
    UINT64_MAX - 1,
    5,
};

/* Keys: edge values first (0 lives in the table core's side slot). */
static const uint64_t lc_edge_keys[] = {
    0,
    1,
    UINT64_MAX,
    UINT64_C(1) << 63,
    UINT64_MAX - 1,
};

static const char *const lc_kind_names[LC_KIND_COUNT] = {
    "load",
    "store",
    "load_or_store",
    "load_and_delete",
    "delete",
    "swap",
    "cas",
    "compare_and_delete",
    "add",
    "update",
    "range-visit",
    "clear",
};

const char *
lc_kind_name(enum lc_kind k)
{
	return (unsigned)k < LC_KIND_COUNT ? lc_kind_names[k] : "?";
}

bool
lc_len_slack(const char *backend)
{
	return !tu_has(backend, CMAP_CAP_LEN_EXACT);
}

int
lc_threads_for(const char *backend, int want)
{
	return tu_has(backend, CMAP_CAP_THREAD_SAFE | CMAP_CAP_LINEARIZABLE)
	    ? want
	    : 1;
}

cmap_t *
lc_map_new(const char *b, uint32_t shards, struct tu_alloc *al, uint64_t rng)
{
	cmap_config_t cfg;
	cmap_t *m = NULL;

	tu_alloc_init(al);
	atomic_store(&al->rng, rng);
	tu_config_init(&cfg, b);
	cfg.shards = shards;
	tu_alloc_install(al, &cfg);
	if (cmap_create(&cfg, &m) != CMAP_OK) {
		fprintf(stderr, "cmap_create(%s) failed: %s\n", b,
		    cmap_last_error());
		return NULL;
	}
	return m;
}

double
lc_scale(double dflt)
{
	const char *s = getenv("CMAP_VERIFY_SCALE");
	double v = dflt;

	if (s != NULL && *s != '\0')
		v = strtod(s, NULL);
	if (!(v >= 0.001))
		v = 0.001;
	if (v > 1000)
		v = 1000;
	return v;
}

void
lc_workload_default(struct lc_workload *w)
{
	static const unsigned mix[LC_M_COUNT] = {
	    [LC_M_LOAD] = 190,
	    [LC_M_STORE] = 120,
	    [LC_M_LOS] = 80,
	    [LC_M_LAD] = 60,
	    [LC_M_DELETE] = 60,
	    [LC_M_SWAP] = 80,
	    [LC_M_CAS] = 150,
	    [LC_M_CAD] = 60,
	    [LC_M_ADD] = 80,
	    [LC_M_UPDATE] = 100,
	    [LC_M_RANGE] = 5,
	    [LC_M_LEN] = 13,
	    [LC_M_CLEAR] = 2,
	    [LC_M_RESERVE] = 2,
	    [LC_M_LOAD_BATCH] = 30,
	    [LC_M_STORE_BATCH] = 25,
	    [LC_M_DELETE_BATCH] = 15,
	};

	memset(w, 0, sizeof *w);
	w->nthreads = 4;
	w->ops_per_thread = 2000;
	w->nkeys = 8;
	w->nvalues = 4;
	memcpy(w->mix, mix, sizeof mix);
	w->seed = 1;
	w->batch_max = 8;
}

/*
 * Update modes (deterministic functions of the old value, so the model
 * can replay them; without CMAP_CAP_UPDATE_ONCE the callback may run more
 * than once):
 *   0: absent -> keep;   present odd -> delete; even -> store old + 1
 *   1: absent -> store 1; present -> store old ^ 1
 *   2: absent -> store 0; present -> keep
 */
cmap_update_action_t
lc_update_apply(unsigned mode, bool present, uint64_t *value)
{
	switch (mode) {
	case 0:
		if (!present)
			return CMAP_UPDATE_KEEP;
		if (*value & 1)
			return CMAP_UPDATE_DELETE;
		*value += 1;
		return CMAP_UPDATE_STORE;
	case 1:
		*value = present ? *value ^ 1 : 1;
		return CMAP_UPDATE_STORE;
	default:
		if (present)
			return CMAP_UPDATE_KEEP;
		*value = 0;
		return CMAP_UPDATE_STORE;
	}
}

static cmap_update_action_t
lc_update_cb(uint64_t key, uint64_t *value, bool present, void *ctx)
{
	(void)key;
	return lc_update_apply((unsigned)(uintptr_t)ctx, present, value);
}

/* ------------------------------------------------------------ recording */

struct lc_log {
	struct lc_op *ops;
	size_t n, cap;
	struct lc_len *lens;
	size_t nl, capl;
	unsigned long errors, ranges, clears, enomem, batches;
	char msg[256];
	/* range scratch */
	uint64_t *vk, *vv;
	size_t nv, capv;
	unsigned char *seen;
};

/* What the threads share: in the run's context, or in memory shared
 * with the child process of a two-process run. */
struct lc_shared {
	atomic_uint_fast64_t clock;
	pthread_barrier_t start;
};

struct lc_run_ctx {
	cmap_t *map;
	const struct lc_workload *w;
	const uint64_t *keys;
	struct lc_shared *sh;
	struct lc_log logs[LC_MAX_THREADS];
	int ops_per_thread; /* w's, or 0 in a child without its map */
};

struct lc_thread {
	struct lc_run_ctx *c;
	int tid;
};

static void *
lc_xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);

	if (q == NULL) {
		fprintf(stderr, "lincheck: out of memory\n");
		abort();
	}
	return q;
}

static struct lc_op *
lc_log_push(struct lc_log *L)
{
	if (L->n == L->cap) {
		L->cap = L->cap ? 2 * L->cap : 1024;
		L->ops = lc_xrealloc(L->ops, L->cap * sizeof *L->ops);
	}
	return &L->ops[L->n++];
}

static void
lc_log_error(struct lc_log *L, const char *msg)
{
	if (L->errors++ == 0)
		snprintf(L->msg, sizeof L->msg, "%s", msg);
}

static uint64_t
lc_tick(struct lc_run_ctx *c)
{
	/* seq_cst RMWs on one counter: if a's return tick is below b's call
	 * tick, a's return RMW precedes b's call RMW in the counter's
	 * modification order, so a happens before b. */
	return atomic_fetch_add(&c->sh->clock, 1);
}

struct lc_range_ctx {
	struct lc_log *L;
	const uint64_t *keys;
	size_t nkeys;
};

static bool
lc_range_cb(uint64_t key, uint64_t value, void *p)
{
	struct lc_range_ctx *rc = p;
	struct lc_log *L = rc->L;
	size_t i;

	for (i = 0; i < rc->nkeys; i++)
		if (rc->keys[i] == key)
			break;
	if (i == rc->nkeys) {
		char m[128];
		snprintf(m, sizeof m,
		    "range showed key 0x%" PRIx64 " that was never stored",
		    key);
		lc_log_error(L, m);
		return true;
	}
	if (L->seen[i]) {
		char m[128];
		snprintf(
		    m, sizeof m, "range showed key 0x%" PRIx64 " twice", key);
		lc_log_error(L, m);
		return true;
	}
	L->seen[i] = 1;
	if (L->nv < L->capv) {
		L->vk[L->nv] = key;
		L->vv[L->nv] = value;
		L->nv++;
	}
	return true;
}

/*
 * One batch call of 1..batch_max keys drawn from the key set with
 * repetition, recorded as one operation per key with the batch's call and
 * return timestamps.  Its return value must be the first per-key error,
 * or CMAP_OK.
 */
static void
lc_one_batch(
    struct lc_run_ctx *c, struct lc_log *L, int tid, tu_rng_t *r, unsigned slot)
{
	const struct lc_workload *w = c->w;
	size_t n = 1 + (size_t)tu_rng_below(r, w->batch_max);
	uint64_t keys[LC_MAX_BATCH], vals[LC_MAX_BATCH];
	cmap_status_t st[LC_MAX_BATCH], ret, first = CMAP_OK;
	enum lc_kind kind = slot == LC_M_LOAD_BATCH ? LC_LOAD
	    : slot == LC_M_STORE_BATCH              ? LC_STORE
	                                            : LC_DELETE;
	uint64_t call, rtick;

	for (size_t i = 0; i < n; i++) {
		keys[i] = c->keys[tu_rng_below(r, w->nkeys)];
		vals[i] = kind == LC_STORE
		    ? lc_values[tu_rng_below(r, w->nvalues)]
		    : LC_SENTINEL;
		st[i] = (cmap_status_t)0x55; /* no status */
	}
	call = lc_tick(c);
	switch (kind) {
	case LC_LOAD:
		ret = cmap_load_batch(c->map, n, keys, vals, st);
		break;
	case LC_STORE:
		ret = cmap_store_batch(c->map, n, keys, vals, st);
		break;
	default:
		ret = cmap_delete_batch(c->map, n, keys, st);
		break;
	}
	rtick = lc_tick(c);
	for (size_t i = 0; i < n; i++) {
		struct lc_op *op = lc_log_push(L);

		if (cmap_is_error(st[i]) && first == CMAP_OK)
			first = st[i];
		if (st[i] == CMAP_ENOMEM)
			L->enomem++;
		*op = (struct lc_op){.call = call,
		    .ret = rtick,
		    .key = keys[i],
		    .a = kind == LC_STORE ? vals[i] : 0,
		    .out = kind == LC_LOAD ? vals[i] : LC_SENTINEL,
		    .status = st[i],
		    .thread = (uint16_t)tid,
		    .kind = (uint8_t)kind,
		    .batch = 1};
	}
	if (ret != first) {
		char m[160];

		snprintf(m, sizeof m,
		    "a %s batch of %zu keys returned %s, its first per-key "
		    "error is %s",
		    lc_kind_name(kind), n, cmap_status_name(ret),
		    cmap_status_name(first));
		lc_log_error(L, m);
	}
	L->batches++;
}

static void
lc_one_op(struct lc_run_ctx *c, struct lc_log *L, int tid, tu_rng_t *r,
    unsigned total)
{
	const struct lc_workload *w = c->w;
	cmap_t *map = c->map;
	unsigned pick = (unsigned)tu_rng_below(r, total), slot;
	uint64_t key = c->keys[tu_rng_below(r, w->nkeys)];
	uint64_t a = lc_values[tu_rng_below(r, w->nvalues)];
	uint64_t b = lc_values[tu_rng_below(r, w->nvalues)];
	uint64_t out = LC_SENTINEL, call, ret;
	cmap_status_t st;
	struct lc_op *op;
	enum lc_kind kind;

	for (slot = 0; slot < LC_M_COUNT; slot++) {
		if (pick < w->mix[slot])
			break;
		pick -= w->mix[slot];
	}

	if (slot == LC_M_RANGE) {
		struct lc_range_ctx rc = {L, c->keys, w->nkeys};

		memset(L->seen, 0, w->nkeys);
		L->nv = 0;
		call = lc_tick(c);
		st = cmap_range(map, lc_range_cb, &rc);
		ret = lc_tick(c);
		if (st != CMAP_OK)
			lc_log_error(L, "cmap_range did not return CMAP_OK");
		for (size_t i = 0; i < L->nv; i++) {
			op = lc_log_push(L);
			*op = (struct lc_op){.call = call,
			    .ret = ret,
			    .key = L->vk[i],
			    .out = L->vv[i],
			    .status = CMAP_OK,
			    .thread = (uint16_t)tid,
			    .kind = LC_VISIT};
		}
		L->ranges++;
		return;
	}
	if (slot == LC_M_LEN) {
		size_t n;

		call = lc_tick(c);
		n = cmap_len(map);
		ret = lc_tick(c);
		if (L->nl == L->capl) {
			L->capl = L->capl ? 2 * L->capl : 64;
			L->lens =
			    lc_xrealloc(L->lens, L->capl * sizeof *L->lens);
		}
		L->lens[L->nl++] = (struct lc_len){
		    call, ret, (uint64_t)n, (uint16_t)tid, false};
		return;
	}
	if (slot == LC_M_RESERVE) {
		/*
		 * Grow the table while the others work, so that histories
		 * span resizes on every backend (the lockfree one never
		 * resizes below 256 slots otherwise).  Contents do not
		 * change; the call is kept only for the len slack.
		 */
		size_t entries = (size_t)128 << tu_rng_below(r, 6);

		call = lc_tick(c);
		st = cmap_reserve(map, entries);
		ret = lc_tick(c);
		if (st == CMAP_ENOMEM)
			L->enomem++; /* test_lincheck: never legal with malloc
			              */
		else if (st != CMAP_OK)
			lc_log_error(L, "cmap_reserve returned an error");
		if (L->nl == L->capl) {
			L->capl = L->capl ? 2 * L->capl : 64;
			L->lens =
			    lc_xrealloc(L->lens, L->capl * sizeof *L->lens);
		}
		L->lens[L->nl++] =
		    (struct lc_len){call, ret, 0, (uint16_t)tid, true};
		return;
	}
	if (slot == LC_M_LOAD_BATCH || slot == LC_M_STORE_BATCH ||
	    slot == LC_M_DELETE_BATCH) {
		lc_one_batch(c, L, tid, r, slot);
		return;
	}
	if (slot == LC_M_CLEAR) {
		call = lc_tick(c);
		st = cmap_clear(map);
		ret = lc_tick(c);
		/* CMAP_ENOMEM, a no-op, where the backend documents it
		 * (lockfree, when no table can be had: cmap.h, cmap_clear). */
		if (st == CMAP_ENOMEM)
			L->enomem++;
		else if (st != CMAP_OK)
			lc_log_error(L,
			    "cmap_clear returned neither CMAP_OK "
			    "nor CMAP_ENOMEM");
		for (size_t i = 0; i < w->nkeys; i++) {
			op = lc_log_push(L);
			*op = (struct lc_op){.call = call,
			    .ret = ret,
			    .key = c->keys[i],
			    .out = LC_SENTINEL,
			    .status = st,
			    .thread = (uint16_t)tid,
			    .kind = LC_CLEAR};
		}
		L->clears++;
		return;
	}

	switch (slot) {
	case LC_M_LOAD:
		kind = LC_LOAD;
		call = lc_tick(c);
		st = cmap_load(map, key, &out);
		break;
	case LC_M_STORE:
		kind = LC_STORE;
		call = lc_tick(c);
		st = cmap_store(map, key, a);
		break;
	case LC_M_LOS:
		kind = LC_LOS;
		call = lc_tick(c);
		st = cmap_load_or_store(map, key, a, &out);
		break;
	case LC_M_LAD:
		kind = LC_LAD;
		call = lc_tick(c);
		st = cmap_load_and_delete(map, key, &out);
		break;
	case LC_M_DELETE:
		kind = LC_DELETE;
		call = lc_tick(c);
		st = cmap_delete(map, key);
		break;
	case LC_M_SWAP:
		kind = LC_SWAP;
		call = lc_tick(c);
		st = cmap_swap(map, key, a, &out);
		break;
	case LC_M_CAS:
		kind = LC_CAS;
		call = lc_tick(c);
		st = cmap_compare_and_swap(map, key, a, b);
		break;
	case LC_M_CAD:
		kind = LC_CAD;
		call = lc_tick(c);
		st = cmap_compare_and_delete(map, key, a);
		break;
	case LC_M_ADD: {
		static const uint64_t deltas[3] = {1, UINT64_MAX, 2};
		kind = LC_ADD;
		a = deltas[tu_rng_below(r, 3)];
		call = lc_tick(c);
		st = cmap_add(map, key, a, &out);
		break;
	}
	default: /* LC_M_UPDATE */
		kind = LC_UPDATE;
		a = tu_rng_below(r, LC_UPDATE_MODES);
		call = lc_tick(c);
		st = cmap_update(
		    map, key, lc_update_cb, (void *)(uintptr_t)a, &out);
		break;
	}
	ret = lc_tick(c);
	if (st == CMAP_ENOMEM)
		L->enomem++;
	op = lc_log_push(L);
	*op = (struct lc_op){.call = call,
	    .ret = ret,
	    .key = key,
	    .a = a,
	    .b = b,
	    .out = out,
	    .status = st,
	    .thread = (uint16_t)tid,
	    .kind = (uint8_t)kind};
}

static void *
lc_thread_main(void *p)
{
	struct lc_thread *t = p;
	struct lc_run_ctx *c = t->c;
	struct lc_log *L = &c->logs[t->tid];
	tu_rng_t r = {c->w->seed * UINT64_C(0x9e3779b97f4a7c15) +
	    (uint64_t)t->tid * UINT64_C(0xd1342543de82ef95) + 1};
	unsigned total = 0;

	for (int i = 0; i < LC_M_COUNT; i++)
		total += c->w->mix[i];
	pthread_barrier_wait(&c->sh->start);
	for (int i = 0; i < c->ops_per_thread; i++)
		lc_one_op(c, L, t->tid, &r, total);
	return NULL;
}

void
lc_history_init(struct lc_history *h)
{
	memset(h, 0, sizeof *h);
}

void
lc_history_fini(struct lc_history *h)
{
	free(h->ops);
	free(h->lens);
	memset(h, 0, sizeof *h);
}

/* The clock and the start barrier, shared with a child process when
 * `procs` (an anonymous shared mapping, inherited by fork). */
static struct lc_shared *
lc_shared_new(bool procs, int nthreads)
{
	struct lc_shared *sh;
	pthread_barrierattr_t a;

	sh = procs ? mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE,
	                 MAP_SHARED | MAP_ANONYMOUS, -1, 0)
	           : calloc(1, sizeof *sh);
	if (sh == NULL || sh == MAP_FAILED) {
		fprintf(stderr, "lincheck: out of memory\n");
		abort();
	}
	atomic_init(&sh->clock, 1);
	pthread_barrierattr_init(&a);
	if (procs)
		pthread_barrierattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
	pthread_barrier_init(&sh->start, &a, (unsigned)nthreads);
	pthread_barrierattr_destroy(&a);
	return sh;
}

static void
lc_shared_free(struct lc_shared *sh, bool procs)
{
	pthread_barrier_destroy(&sh->start);
	if (procs)
		munmap(sh, sizeof *sh);
	else
		free(sh);
}

/* Start threads [lo, hi) of the run and wait for them. */
static void
lc_threads(struct lc_run_ctx *c, int lo, int hi)
{
	struct lc_thread th[LC_MAX_THREADS];
	pthread_t tids[LC_MAX_THREADS];

	for (int i = lo; i < hi; i++) {
		struct lc_log *L = &c->logs[i];

		L->capv = 2 * c->w->nkeys;
		L->vk = lc_xrealloc(NULL, L->capv * sizeof *L->vk);
		L->vv = lc_xrealloc(NULL, L->capv * sizeof *L->vv);
		L->seen = lc_xrealloc(NULL, c->w->nkeys);
		th[i] = (struct lc_thread){c, i};
		if (pthread_create(&tids[i], NULL, lc_thread_main, &th[i]) !=
		    0) {
			fprintf(stderr, "lincheck: pthread_create failed\n");
			abort();
		}
	}
	for (int i = lo; i < hi; i++)
		pthread_join(tids[i], NULL);
}

static bool
lc_io(int fd, void *p, size_t n, bool out)
{
	for (char *b = p; n > 0;) {
		ssize_t k = out ? write(fd, b, n) : read(fd, b, n);

		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return false;
		b += k;
		n -= (size_t)k;
	}
	return true;
}

/* A log through the pipe from the child: its counts, then its arrays. */
static bool
lc_log_io(int fd, struct lc_log *L, bool out)
{
	struct lc_log head = *L;

	if (!lc_io(fd, &head, sizeof head, out))
		return false;
	if (!out) {
		head.ops = lc_xrealloc(NULL, head.n * sizeof *head.ops);
		head.lens = lc_xrealloc(NULL, head.nl * sizeof *head.lens);
		head.cap = head.n;
		head.capl = head.nl;
		head.vk = head.vv = NULL;
		head.seen = NULL;
		*L = head;
	}
	return lc_io(fd, L->ops, L->n * sizeof *L->ops, out) &&
	    lc_io(fd, L->lens, L->nl * sizeof *L->lens, out);
}

/* The child of a two-process run: threads [lo, n) on its own map, their
 * logs sent back through fd.  Never returns. */
static void
lc_child(struct lc_run_ctx *c, int lo, int fd)
{
	cmap_t *m = NULL;
	bool ok;

	if (cmap_create(c->w->twin, &m) != CMAP_OK) {
		lc_log_error(&c->logs[lo], "child process: cmap_create failed");
		c->ops_per_thread = 0; /* still meet the barrier */
	}
	c->map = m;
	lc_threads(c, lo, c->w->nthreads);
	ok = true;
	for (int i = lo; i < c->w->nthreads; i++)
		ok &= lc_log_io(fd, &c->logs[i], true);
	if (m != NULL)
		cmap_destroy(m);
	_exit(ok ? 0 : 1);
}

/* Threads [0, n / 2) here and the rest in a child process (w->twin). */
static void
lc_two_processes(struct lc_run_ctx *c)
{
	int n = c->w->nthreads, lo = n / 2, fds[2], status = 0;
	bool ok = true;
	pid_t pid;

	if (pipe(fds) != 0 || (pid = fork()) < 0) {
		fprintf(stderr, "lincheck: pipe or fork failed\n");
		abort();
	}
	if (pid == 0) {
		close(fds[0]);
		lc_child(c, lo, fds[1]);
	}
	close(fds[1]);
	lc_threads(c, 0, lo);
	for (int i = lo; i < n && ok; i++) {
		free(c->logs[i].ops);
		free(c->logs[i].lens);
		ok = lc_log_io(fds[0], &c->logs[i], false);
	}
	close(fds[0]);
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) ||
	    WEXITSTATUS(status) != 0 || !ok) {
		for (int i = lo; i < n; i++)
			memset(&c->logs[i], 0, sizeof c->logs[i]);
		lc_log_error(&c->logs[lo], "child process: no history");
	}
}

void
lc_run(cmap_t *map, const struct lc_workload *w, struct lc_history *h)
{
	struct lc_run_ctx *c = calloc(1, sizeof *c);
	tu_rng_t r = {w->seed ^ UINT64_C(0x5851f42d4c957f2d)};
	int n = w->nthreads;

	if (c == NULL || n < 1 || n > LC_MAX_THREADS || w->nkeys < 1 ||
	    w->nkeys > LC_MAX_KEYS || w->nvalues < 1 || w->nvalues > 8 ||
	    w->batch_max < 1 || w->batch_max > LC_MAX_BATCH) {
		fprintf(stderr, "lincheck: bad workload\n");
		abort();
	}
	/* The key set: edge keys first, then distinct random keys. */
	h->nkeys = 0;
	for (size_t i = 0; i < w->nkeys; i++) {
		uint64_t k;
		bool dup;

		do {
			k = i < sizeof lc_edge_keys / sizeof lc_edge_keys[0]
			    ? lc_edge_keys[i]
			    : tu_rng_next(&r);
			dup = false;
			for (size_t j = 0; j < i; j++)
				dup |= h->keys[j] == k;
		} while (dup);
		h->keys[h->nkeys++] = k;
	}
	h->nthreads = n;
	h->nops = h->nlens = 0;
	h->record_errors = h->nranges = h->nclears = h->nenomem = 0;
	h->nbatches = 0;
	h->record_msg[0] = '\0';

	c->map = map;
	c->w = w;
	c->keys = h->keys;
	c->ops_per_thread = w->ops_per_thread;
	c->sh = lc_shared_new(w->twin != NULL, n);
	if (w->twin != NULL && n > 1)
		lc_two_processes(c);
	else
		lc_threads(c, 0, n);
	lc_shared_free(c->sh, w->twin != NULL);

	for (int i = 0; i < n; i++) {
		struct lc_log *L = &c->logs[i];

		if (h->nops + L->n > h->capops) {
			h->capops = 2 * (h->nops + L->n);
			h->ops =
			    lc_xrealloc(h->ops, h->capops * sizeof *h->ops);
		}
		if (L->n)
			memcpy(h->ops + h->nops, L->ops, L->n * sizeof *L->ops);
		for (size_t k = 0; k < L->n; k++)
			h->ops[h->nops + k].seq = (uint32_t)k;
		h->nops += L->n;
		if (h->nlens + L->nl > h->caplens) {
			h->caplens = 2 * (h->nlens + L->nl);
			h->lens =
			    lc_xrealloc(h->lens, h->caplens * sizeof *h->lens);
		}
		if (L->nl)
			memcpy(h->lens + h->nlens, L->lens,
			    L->nl * sizeof *L->lens);
		h->nlens += L->nl;
		if (L->errors && h->record_errors == 0)
			snprintf(h->record_msg, sizeof h->record_msg,
			    "thread %d: %.200s", i, L->msg);
		h->record_errors += L->errors;
		h->nranges += L->ranges;
		h->nclears += L->clears;
		h->nenomem += L->enomem;
		h->nbatches += L->batches;
		free(L->ops);
		free(L->lens);
		free(L->vk);
		free(L->vv);
		free(L->seen);
	}
	free(c);
}

/* ------------------------------------------------------------ the model */

/*
 * Apply op to the one-key model (present, value).  Returns true when the
 * recorded result is what a sequential map in that state returns (the
 * RESULTS table of cmap.h: OK for a present key, INSERTED for an absent
 * one the call inserted, NOT_FOUND for an absent one that stays absent,
 * MISMATCH for a present one with another value), and sets the state
 * after it.
 */
static bool
lc_step(const struct lc_op *op, bool present, uint64_t value, bool *np,
    uint64_t *nv)
{
	*np = present;
	*nv = value;
	switch ((enum lc_kind)op->kind) {
	case LC_LOAD:
	case LC_VISIT:
		if (op->status == CMAP_OK)
			return present && op->out == value;
		return op->status == CMAP_NOT_FOUND && !present;
	case LC_STORE:
		if (op->status == CMAP_ENOMEM)
			return !present;
		*np = true;
		*nv = op->a;
		return op->status == (present ? CMAP_OK : CMAP_INSERTED);
	case LC_LOS:
		if (op->status == CMAP_ENOMEM)
			return !present;
		if (present)
			return op->status == CMAP_OK && op->out == value;
		*np = true;
		*nv = op->a;
		return op->status == CMAP_INSERTED && op->out == op->a;
	case LC_LAD:
	case LC_DELETE:
		if (op->status == CMAP_NOT_FOUND)
			return !present;
		*np = false;
		return op->status == CMAP_OK && present &&
		    (op->kind == LC_DELETE || op->out == value);
	case LC_SWAP:
		if (op->status == CMAP_ENOMEM)
			return !present;
		*np = true;
		*nv = op->a;
		if (!present)
			return op->status == CMAP_INSERTED;
		return op->status == CMAP_OK && op->out == value;
	case LC_CAS:
	case LC_CAD:
		if (op->status == CMAP_NOT_FOUND)
			return !present;
		if (op->status == CMAP_MISMATCH)
			return present && value != op->a;
		if (op->status != CMAP_OK || !present || value != op->a)
			return false;
		if (op->kind == LC_CAS)
			*nv = op->b;
		else
			*np = false;
		return true;
	case LC_ADD:
		if (op->status == CMAP_ENOMEM)
			return !present;
		*np = true;
		*nv = (present ? value : 0) + op->a;
		if (op->out != *nv)
			return false;
		return op->status == (present ? CMAP_OK : CMAP_INSERTED);
	case LC_UPDATE: {
		uint64_t v = present ? value : 0;
		cmap_update_action_t act =
		    lc_update_apply((unsigned)op->a, present, &v);

		if (op->status == CMAP_ENOMEM)
			return !present && act == CMAP_UPDATE_STORE;
		if (act == CMAP_UPDATE_KEEP) {
			if (!present)
				return op->status == CMAP_NOT_FOUND;
			return op->status == CMAP_OK && op->out == value;
		}
		if (act == CMAP_UPDATE_STORE) {
			*np = true;
			*nv = v;
			return op->status ==
			    (present ? CMAP_OK : CMAP_INSERTED) &&
			    op->out == v;
		}
		/* DELETE: OK when it removed the key, NOT_FOUND otherwise. */
		*np = false;
		return op->status == (present ? CMAP_OK : CMAP_NOT_FOUND);
	}
	case LC_CLEAR:
		if (op->status == CMAP_ENOMEM)
			return true; /* a no-op */
		*np = false;
		return op->status == CMAP_OK;
	case LC_KIND_COUNT:
		break;
	}
	return false;
}

/* Results that leave *out unchanged by the documentation. */
static bool
lc_out_must_be_untouched(const struct lc_op *op)
{
	switch ((enum lc_kind)op->kind) {
	case LC_LOAD:
	case LC_LAD:
		return op->status == CMAP_NOT_FOUND ||
		    op->status == CMAP_ENOMEM;
	case LC_SWAP:
		return op->status == CMAP_INSERTED || op->status == CMAP_ENOMEM;
	default:
		return false;
	}
}

/*
 * May this op have changed the key's presence (for the len bounds)?  The
 * result says it: INSERTED inserted, OK of a removal removed; of the update
 * modes only mode 0 deletes a present key (and returns OK then).
 */
static bool
lc_may_change_presence(const struct lc_op *op)
{
	switch ((enum lc_kind)op->kind) {
	case LC_STORE:
	case LC_LOS:
	case LC_ADD:
	case LC_SWAP:
		return op->status == CMAP_INSERTED;
	case LC_UPDATE:
		return op->status == CMAP_INSERTED ||
		    (op->status == CMAP_OK && op->a == 0);
	case LC_LAD:
	case LC_DELETE:
	case LC_CAD:
	case LC_CLEAR:
		return op->status == CMAP_OK;
	default:
		return false;
	}
}

/* Is the key present right after op, as a function of its result?
 * 1 present, 0 absent, -1 the result does not say (an update of mode 0
 * that returned OK may have stored or deleted; a failed clear). */
static int
lc_present_after(const struct lc_op *op)
{
	if (op->status == CMAP_ENOMEM)
		/* Only legal when absent, and a no-op; a clear's is a no-op
		 * whatever the state. */
		return op->kind == LC_CLEAR ? -1 : 0;
	switch ((enum lc_kind)op->kind) {
	case LC_LOAD:
	case LC_VISIT:
		return op->status == CMAP_OK;
	case LC_UPDATE:
		if (op->status == CMAP_OK && op->a == 0)
			return -1;
		return op->status == CMAP_OK || op->status == CMAP_INSERTED;
	case LC_STORE:
	case LC_LOS:
	case LC_SWAP:
	case LC_ADD:
		return 1;
	case LC_CAS:
		return op->status != CMAP_NOT_FOUND;
	case LC_CAD:
		return op->status == CMAP_MISMATCH;
	default:
		return 0;
	}
}

/* ----------------------------------------------------------- the search */

struct lc_memo {
	uint32_t *slot; /* entry index + 1, 0 = empty */
	size_t mask;
	uint32_t *ent; /* W words per entry */
	size_t nent, capent;
	unsigned W;
};

static uint64_t
lc_hash_words(const uint32_t *w, unsigned n)
{
	uint64_t h = UINT64_C(0xcbf29ce484222325);

	for (unsigned i = 0; i < n; i++) {
		h ^= w[i];
		h *= UINT64_C(0x100000001b3);
		h ^= h >> 29;
	}
	return h ^ (h >> 32);
}

static void
lc_memo_reset(struct lc_memo *m, unsigned W, size_t expect)
{
	size_t cap = 1024;

	while (cap < 2 * expect)
		cap <<= 1;
	if (m->slot == NULL || m->mask + 1 < cap) {
		free(m->slot);
		m->slot = lc_xrealloc(NULL, cap * sizeof *m->slot);
		m->mask = cap - 1;
	}
	memset(m->slot, 0, (m->mask + 1) * sizeof *m->slot);
	m->nent = 0;
	m->W = W;
}

static void lc_memo_grow(struct lc_memo *m);

/* Insert key (W words); false when it was already there. */
static bool
lc_memo_insert(struct lc_memo *m, const uint32_t *key)
{
	size_t i;

	if (2 * (m->nent + 1) > m->mask + 1)
		lc_memo_grow(m);
	i = (size_t)lc_hash_words(key, m->W) & m->mask;
	for (;;) {
		uint32_t e = m->slot[i];

		if (e == 0)
			break;
		if (memcmp(m->ent + (size_t)(e - 1) * m->W, key,
		        m->W * sizeof *key) == 0)
			return false;
		i = (i + 1) & m->mask;
	}
	if (m->nent == m->capent) {
		m->capent = m->capent ? 2 * m->capent : 4096;
		m->ent = lc_xrealloc(m->ent, m->capent * m->W * sizeof *m->ent);
	}
	memcpy(m->ent + m->nent * m->W, key, m->W * sizeof *key);
	m->slot[i] = (uint32_t)++m->nent;
	return true;
}

static void
lc_memo_grow(struct lc_memo *m)
{
	size_t cap = 2 * (m->mask + 1);

	free(m->slot);
	m->slot = lc_xrealloc(NULL, cap * sizeof *m->slot);
	memset(m->slot, 0, cap * sizeof *m->slot);
	m->mask = cap - 1;
	for (size_t e = 0; e < m->nent; e++) {
		size_t i =
		    (size_t)lc_hash_words(m->ent + e * m->W, m->W) & m->mask;

		while (m->slot[i] != 0)
			i = (i + 1) & m->mask;
		m->slot[i] = (uint32_t)(e + 1);
	}
}

struct lc_frame {
	uint64_t value;
	uint8_t present;
	int8_t chosen; /* thread whose op led here; -1 at the root */
	uint8_t next;  /* next thread to try from here */
};

/* Budget per key: a history that needs more is reported, not searched
 * for ever. */
#define LC_STATE_BUDGET 20000000ul

struct lc_search {
	const struct lc_op *t_ops[LC_MAX_THREADS];
	uint32_t t_n[LC_MAX_THREADS];
	int T;
	size_t total;
	/* result */
	unsigned long states;
	bool budget_exceeded;
	size_t best_depth;
	uint32_t best_idx[LC_MAX_THREADS];
	bool best_present;
	uint64_t best_value;
};

static bool
lc_search_key(struct lc_search *s, struct lc_memo *memo, struct lc_frame *stack)
{
	uint32_t idx[LC_MAX_THREADS] = {0};
	uint32_t mkey[LC_MAX_THREADS + 3];
	const unsigned W = (unsigned)s->T + 3;
	size_t depth = 0;
	int T = s->T;

	lc_memo_reset(memo, W, s->total * 4);
	stack[0] = (struct lc_frame){0, 0, -1, 0};
	s->states = 0;
	s->best_depth = 0;
	s->best_present = false;
	s->best_value = 0;
	memset(s->best_idx, 0, sizeof s->best_idx);
	s->budget_exceeded = false;

	for (;;) {
		struct lc_frame *f = &stack[depth];
		uint64_t minret = UINT64_MAX;
		int t;

		if (depth == s->total)
			return true;
		for (t = 0; t < T; t++)
			if (idx[t] < s->t_n[t] &&
			    s->t_ops[t][idx[t]].ret < minret)
				minret = s->t_ops[t][idx[t]].ret;
		for (t = f->next; t < T; t++) {
			const struct lc_op *o;
			bool np;
			uint64_t nv;

			if (idx[t] >= s->t_n[t])
				continue;
			o = &s->t_ops[t][idx[t]];
			if (o->call > minret)
				continue;
			if (!lc_step(o, f->present, f->value, &np, &nv))
				continue;
			f->next = (uint8_t)(t + 1);
			idx[t]++;
			memcpy(mkey, idx, (size_t)T * sizeof *idx);
			mkey[T] = (uint32_t)nv;
			mkey[T + 1] = (uint32_t)(nv >> 32);
			mkey[T + 2] = np;
			if (!lc_memo_insert(memo, mkey)) {
				idx[t]--;
				continue;
			}
			if (++s->states > LC_STATE_BUDGET) {
				s->budget_exceeded = true;
				return false;
			}
			depth++;
			stack[depth] = (struct lc_frame){nv, np, (int8_t)t, 0};
			if (depth > s->best_depth) {
				s->best_depth = depth;
				memcpy(s->best_idx, idx, sizeof idx);
				s->best_present = np;
				s->best_value = nv;
			}
			break;
		}
		if (t < T)
			continue;
		/* Dead end: backtrack. */
		if (depth == 0)
			return false;
		idx[stack[depth].chosen]--;
		depth--;
	}
}

static void
lc_print_op(FILE *out, const struct lc_op *o, const char *tag)
{
	fprintf(out, "    %-10s thread %u  [%8" PRIu64 " .. %8" PRIu64 "]  %s(",
	    tag, o->thread, o->call, o->ret, lc_kind_name(o->kind));
	switch ((enum lc_kind)o->kind) {
	case LC_STORE:
	case LC_LOS:
	case LC_SWAP:
		fprintf(out, "%#" PRIx64, o->a);
		break;
	case LC_CAS:
		fprintf(out, "expected %#" PRIx64 ", desired %#" PRIx64, o->a,
		    o->b);
		break;
	case LC_CAD:
		fprintf(out, "expected %#" PRIx64, o->a);
		break;
	case LC_ADD:
		fprintf(out, "delta %#" PRIx64, o->a);
		break;
	case LC_UPDATE:
		fprintf(out, "mode %" PRIu64, o->a);
		break;
	default:
		break;
	}
	fprintf(out, ") -> %s", cmap_status_name((cmap_status_t)o->status));
	if (o->out != LC_SENTINEL)
		fprintf(out, ", out %#" PRIx64, o->out);
	if (o->batch)
		fprintf(
		    out, "  (key of a batch call, log #%" PRIu32 ")", o->seq);
	fputc('\n', out);
}

static int
lc_cmp_ptr_call(const void *a, const void *b)
{
	const struct lc_op *x = *(const struct lc_op *const *)a;
	const struct lc_op *y = *(const struct lc_op *const *)b;

	return x->call < y->call ? -1 : x->call > y->call;
}

/* The counterexample: the model state at the deepest point the search
 * reached, and around it each thread's last linearized and next pending
 * operations, in call order. */
static void
lc_print_counterexample(FILE *out, uint64_t key, const struct lc_search *s)
{
	const struct lc_op *show[LC_MAX_THREADS * 4];
	const char *tag[LC_MAX_THREADS * 4];
	size_t n = 0;

	if (s->budget_exceeded) {
		fprintf(out,
		    "lincheck: key %#" PRIx64 ": search budget of %lu "
		    "states exceeded (%zu ops); inconclusive\n",
		    key, LC_STATE_BUDGET, s->total);
		return;
	}
	fprintf(out,
	    "lincheck: key %#" PRIx64 " is NOT linearizable: %zu ops "
	    "on %d threads; the longest linearizable prefix has %zu ops, "
	    "after which the key is %s",
	    key, s->total, s->T, s->best_depth,
	    s->best_present ? "present with value " : "absent");
	if (s->best_present)
		fprintf(out, "%#" PRIx64, s->best_value);
	fprintf(out,
	    ";\n  no pending operation below can take effect next "
	    "(timestamps from one shared counter):\n");
	for (int t = 0; t < s->T; t++) {
		uint32_t i = s->best_idx[t];

		for (uint32_t j = i >= 2 ? i - 2 : 0; j < i; j++) {
			show[n] = &s->t_ops[t][j];
			tag[n++] = "done";
		}
		for (uint32_t j = i; j < s->t_n[t] && j < i + 2; j++) {
			show[n] = &s->t_ops[t][j];
			tag[n++] = j == i ? "PENDING" : "later";
		}
	}
	/* Sort by call, carrying tags along. */
	for (size_t i = 1; i < n; i++)
		for (size_t j = i;
		     j > 0 && lc_cmp_ptr_call(&show[j - 1], &show[j]) > 0;
		     j--) {
			const struct lc_op *o = show[j];
			const char *g = tag[j];

			show[j] = show[j - 1];
			tag[j] = tag[j - 1];
			show[j - 1] = o;
			tag[j - 1] = g;
		}
	for (size_t i = 0; i < n; i++)
		lc_print_op(out, show[i], tag[i]);
}

/* Operations that overlap in real time an operation of another thread on
 * the same key: the ones whose order the checker had to decide. */
static unsigned long
lc_count_overlapping(const struct lc_search *s)
{
	unsigned long n = 0;

	for (int t = 0; t < s->T; t++)
		for (uint32_t i = 0; i < s->t_n[t]; i++) {
			const struct lc_op *o = &s->t_ops[t][i];
			bool hit = false;

			for (int u = 0; u < s->T && !hit; u++) {
				uint32_t lo = 0, hi = s->t_n[u];

				if (u == t)
					continue;
				/* first op of u that returns after o's call */
				while (lo < hi) {
					uint32_t mid = lo + (hi - lo) / 2;

					if (s->t_ops[u][mid].ret > o->call)
						hi = mid;
					else
						lo = mid + 1;
				}
				hit = lo < s->t_n[u] &&
				    s->t_ops[u][lo].call < o->ret;
			}
			n += hit;
		}
	return n;
}

static int
lc_cmp_op(const void *a, const void *b)
{
	const struct lc_op *x = a, *y = b;

	if (x->key != y->key)
		return x->key < y->key ? -1 : 1;
	if (x->thread != y->thread)
		return x->thread < y->thread ? -1 : 1;
	if (x->call != y->call)
		return x->call < y->call ? -1 : 1;
	/* the keys of one batch: their order in it */
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* len bounds for one len call over one key's operations [ops, ops+n). */
static void
lc_len_key_bounds(const struct lc_op *ops, size_t n, const struct lc_len *L,
    uint64_t *lo, uint64_t *hi, uint64_t *writes)
{
	uint64_t maxcall = 0;
	bool any = false, uncertain = false, sawp = false, sawa = false;

	for (size_t i = 0; i < n; i++) {
		const struct lc_op *o = &ops[i];

		if (o->call < L->ret && o->ret > L->call &&
		    lc_may_change_presence(o)) {
			uncertain = true;
			(*writes)++;
		}
		if (o->ret < L->call && o->call > maxcall) {
			maxcall = o->call;
			any = true;
		}
	}
	if (!uncertain && any) {
		/* The last operation that took effect before the call is one
		 * of the maximal completed ones (no completed op started after
		 * it returned). */
		for (size_t i = 0; i < n; i++) {
			const struct lc_op *o = &ops[i];

			if (o->ret < L->call && o->ret > maxcall) {
				int pa = lc_present_after(o);

				if (pa < 0)
					uncertain = true;
				else if (pa)
					sawp = true;
				else
					sawa = true;
			}
		}
		if (sawp && sawa)
			uncertain = true;
	}
	if (uncertain) {
		(*hi)++;
	} else if (sawp) {
		(*lo)++;
		(*hi)++;
	}
}

/* Threads other than L's with an operation other than a load in progress
 * at some time during the len call L. */
static uint64_t
lc_busy_threads(const struct lc_history *h, const struct lc_len *L)
{
	uint32_t mask = 0;
	uint64_t n = 0;

	for (size_t i = 0; i < h->nops; i++) {
		const struct lc_op *o = &h->ops[i];

		if (o->kind != LC_LOAD && o->thread != L->thread &&
		    o->call < L->ret && o->ret > L->call)
			mask |= UINT32_C(1) << o->thread;
	}
	for (size_t i = 0; i < h->nlens; i++) {
		const struct lc_len *o = &h->lens[i];

		if (o->reserve && o->thread != L->thread && o->call < L->ret &&
		    o->ret > L->call)
			mask |= UINT32_C(1) << o->thread;
	}
	for (; mask != 0; mask &= mask - 1)
		n++;
	return n;
}

bool
lc_check(const struct lc_history *h, bool len_slack_writes, FILE *out,
    struct lc_stats *st)
{
	struct lc_op *ops;
	struct lc_memo memo = {0};
	struct lc_frame *stack;
	struct lc_search *s = calloc(1, sizeof *s);
	bool ok = true, printed_one = false;
	size_t i, j, nkeys_seen = 0;
	size_t(*seg)[2];

	st->histories++;
	st->ranges += h->nranges;
	st->clears += h->nclears;
	st->enomem += h->nenomem;
	st->batches += h->nbatches;
	if (h->record_errors) {
		if (out)
			fprintf(out,
			    "lincheck: %lu error(s) while recording; "
			    "first: %s\n",
			    h->record_errors, h->record_msg);
		ok = false;
	}
	ops = lc_xrealloc(NULL, h->nops * sizeof *ops);
	if (h->nops)
		memcpy(ops, h->ops, h->nops * sizeof *ops);
	qsort(ops, h->nops, sizeof *ops, lc_cmp_op);
	stack = lc_xrealloc(NULL, (h->nops + 1) * sizeof *stack);
	seg = lc_xrealloc(NULL, (h->nops + 1) * sizeof *seg);

	for (i = 0; i < h->nops; i = j) {
		uint64_t key = ops[i].key;

		for (j = i; j < h->nops && ops[j].key == key; j++)
			if (lc_out_must_be_untouched(&ops[j]) &&
			    ops[j].out != LC_SENTINEL) {
				if (out) {
					fprintf(out,
					    "lincheck: an out "
					    "parameter was written although "
					    "the result says it is not:\n");
					lc_print_op(out, &ops[j], "BAD");
				}
				ok = false;
			}
		seg[nkeys_seen][0] = i;
		seg[nkeys_seen][1] = j;
		nkeys_seen++;

		memset(s, 0, sizeof *s);
		s->T = h->nthreads;
		s->total = j - i;
		for (size_t k = i; k < j; k++) {
			int t = ops[k].thread;

			if (s->t_n[t]++ == 0)
				s->t_ops[t] = &ops[k];
		}
		st->subhistories++;
		st->ops += j - i;
		st->overlapping += lc_count_overlapping(s);
		if (!lc_search_key(s, &memo, stack)) {
			/* One counterexample per history is enough. */
			if (out && !printed_one)
				lc_print_counterexample(out, key, s);
			printed_one = true;
			ok = false;
		}
		st->states += s->states;
	}

	/* len: exact bounds from the keys whose presence is certain. */
	for (size_t l = 0; l < h->nlens; l++) {
		const struct lc_len *L = &h->lens[l];
		uint64_t lo = 0, hi = 0, writes = 0;

		if (L->reserve)
			continue;

		for (size_t k = 0; k < nkeys_seen; k++)
			lc_len_key_bounds(ops + seg[k][0],
			    seg[k][1] - seg[k][0], L, &lo, &hi, &writes);
		if (len_slack_writes) {
			/*
			 * A backend without CMAP_CAP_LEN_EXACT (whose len sums
			 * per-thread counters, say) may be off by one per
			 * operation in progress that is not a load: a thread
			 * counts an entry it moved (into a clear's target,
			 * say) right after its CAS, and may be preempted in
			 * between, whatever its own operation is (range and
			 * clear included).  The documented bound (cmap.h,
			 * cmap_len) is that number, counted here as the other
			 * threads with such an operation overlapping the len
			 * call.
			 */
			uint64_t busy = lc_busy_threads(h, L);

			if (busy < writes)
				busy = writes;
			lo = lo > busy ? lo - busy : 0;
			hi += busy;
		}
		st->lens++;
		if (L->value < lo || L->value > hi) {
			if (out)
				fprintf(out,
				    "lincheck: cmap_len returned %" PRIu64
				    " by thread %u in [%" PRIu64 " .. %" PRIu64
				    "], outside the bounds [%" PRIu64
				    ", %" PRIu64 "] the history allows\n",
				    L->value, L->thread, L->call, L->ret, lo,
				    hi);
			ok = false;
		}
	}
	if (!ok)
		st->failures++;
	free(memo.slot);
	free(memo.ent);
	free(stack);
	free(seg);
	free(ops);
	free(s);
	return ok;
}
