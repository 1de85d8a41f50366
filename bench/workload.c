/*
 * workload.c - keys, distributions, pre-generated operation streams and
 * the timed worker loop.
 *
 * STREAMS
 *
 * Every operation a worker performs is generated before the clock starts:
 * a stream is an array of keys and an array of operation kinds, read
 * sequentially (the hardware prefetcher hides it).  The timed loop does no
 * random number generation, no division and no allocation of its own: it
 * reads the next (kind, key), calls the target, and every 256 operations
 * reads the shared stop flag.  Streams are cyclic: a worker that reaches
 * the end starts again from the beginning, which keeps their memory
 * bounded (total_ops in all, independent of the run length).
 *
 * KEYS
 *
 * Slot ids 0..keys-1 are scrambled into keys by a bijection (splitmix64's
 * finaliser after adding a seed-derived salt), so keys are distinct,
 * spread over all 64 bits, and the hot keys of the zipfian distribution
 * (the low ids) land anywhere in the table.  Churn also uses the "twin"
 * keys of ids keys..2*keys-1.
 *
 * MIXES
 *
 *   read-only    loads of prefilled keys.
 *   read-mostly  90% load, 5% store, 5% delete over the key universe.
 *   balanced     50% load, 25% store, 25% delete.  (With equal store and
 *                delete rates a prefilled map drifts toward half full.)
 *   churn        pairs (delete a present key, insert an absent one).  Slot
 *                s (owned by thread s mod T) holds either key(s) or its
 *                twin key(s + keys); a pair deletes the one present and
 *                inserts the other.  A thread's stream is made of rounds:
 *                a round draws up to CHURN_ROUND_PICKS / T slots (32768 in
 *                all, at least CHURN_MIN_ROUND per thread) in the chosen
 *                distribution and visits them twice in the same order, so
 *                at the end of every round each slot holds its prefilled
 *                key again.  The size never moves by more than
 *                the number of threads.  When told to stop, a worker
 *                finishes its round untimed and uncounted, so the next
 *                thread count starts from the prefilled key set without
 *                a new prefill.  Cost of this design: a deleted key comes
 *                back within 2 x 32768 pairs of the map's, so the
 *                second visit of a round may find its lines still in a
 *                large cache (a round's slots span 2 MB of table lines or
 *                more, beyond L2).  The round length bounds the untimed
 *                work at the end of a run: half a round per thread on
 *                average, 64K ops in all whatever the thread count (when
 *                the rounds were 32768 slots per thread, a slow target
 *                spent seconds there: rculfhash's churn cells at 1, 2
 *                and 8 threads, warm-ups included, about 3.5 s each on
 *                a loaded 2-core machine).
 *   growth       inserts of distinct keys (thread t: ids t, t+T, ...) into
 *                an empty map; each stream runs once, so a run ends when
 *                every key is in (or when the time is up).
 *   counters     cmap_add(key, 1) over the key universe.
 *   grow-read    the latency of a resize: thread 0 inserts every key once
 *                into an empty map (no capacity hint) while the other
 *                threads load uniformly over the key universe (hits for
 *                the keys already in); the run ends when thread 0 is done.
 *                Run it with --sample 1 to time every operation: its
 *                figures are the per-operation p99.9 and max.
 *
 * SAMPLING
 *
 * One operation in `sample_every` carries the OP_SAMPLE mark, drawn at
 * random when the stream is generated (no periodic pattern to alias with
 * the mix, e.g. always timing the delete of a churn pair).  A marked
 * operation is bracketed by bench_tick_begin()/bench_tick_end(); the
 * measured empty-bracket cost is subtracted.
 *
 * BATCHES
 *
 * With --batch N > 1, a worker of a target that has batch paths (the
 * libcmap backends: cmap_load_batch, cmap_store_batch, cmap_delete_batch)
 * takes up to N consecutive operations of the same kind from its stream
 * and issues them as one batch call; a group ends at a change of kind, at
 * the end of the stream (a batch never wraps around it) and at the
 * worker's operation limit.  A group of one key, and every add, is the
 * single-key call.  Targets without batch paths (the peers, the floor
 * among them) run the same stream one operation at a time.  Stores in a
 * batch get the values a one-at-a-time run would give them (the stream
 * index).  Sampling: a batch holding k marked operations is timed as a
 * whole, and its time (less the empty-bracket cost) divided by its number
 * of keys is recorded k times, so the histograms stay per operation with
 * about one sample in sample_every operations.
 */
#include "bench.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ */
/* Random numbers (generation time only) */

static uint64_t
mix64(uint64_t z)
{
	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

struct rng {
	uint64_t s;
};

static uint64_t
rng_next(struct rng *r)
{
	return mix64(r->s += UINT64_C(0x9e3779b97f4a7c15));
}

static uint64_t
rng_below(struct rng *r, uint64_t n)
{
	return (uint64_t)(((unsigned __int128)rng_next(r) * n) >> 64);
}

static double
rng_double(struct rng *r)
{
	return (double)(rng_next(r) >> 11) * 0x1.0p-53;
}

uint64_t
bench_key(const struct workload *w, uint64_t id)
{
	uint64_t k = mix64(id + mix64(w->seed ^ UINT64_C(0x6b657973)));

	if (k == 0 || k == ~UINT64_C(0))
		k = UINT64_C(0x5555555555555555); /* probability 2^-63 */
	return k;
}

/*
 * Zipf over ranks 1..n with exponent s > 0: rejection-inversion sampling
 * (W. Hörmann, G. Derflinger, "Rejection-inversion to generate variates
 * from monotone discrete distributions", 1996), as in Apache Commons RNG.
 * O(1) expected per sample, no table, any n.
 */
struct zipf {
	double n, s, hx1, hn, sq;
};

static double
zipf_helper1(double x)
{
	return fabs(x) > 1e-8 ? log1p(x) / x
	                      : 1 - x * (0.5 - x * (1.0 / 3.0 - 0.25 * x));
}

static double
zipf_helper2(double x)
{
	return fabs(x) > 1e-8 ? expm1(x) / x
	                      : 1 + x * 0.5 * (1 + x / 3.0 * (1 + 0.25 * x));
}

static double
zipf_h_integral(const struct zipf *z, double x)
{
	double lx = log(x);

	return zipf_helper2((1 - z->s) * lx) * lx;
}

static double
zipf_h(const struct zipf *z, double x)
{
	return exp(-z->s * log(x));
}

static double
zipf_h_integral_inverse(const struct zipf *z, double x)
{
	double t = x * (1 - z->s);

	if (t < -1)
		t = -1;
	return exp(zipf_helper1(t) * x);
}

static void
zipf_init(struct zipf *z, uint64_t n, double s)
{
	z->n = (double)n;
	z->s = s;
	z->hx1 = zipf_h_integral(z, 1.5) - 1;
	z->hn = zipf_h_integral(z, z->n + 0.5);
	z->sq = 2 -
	    zipf_h_integral_inverse(z, zipf_h_integral(z, 2.5) - zipf_h(z, 2));
}

/* A rank in [0, n): 0 is the hottest. */
static uint64_t
zipf_sample(const struct zipf *z, struct rng *r)
{
	for (;;) {
		double u = z->hn + rng_double(r) * (z->hx1 - z->hn);
		double x = zipf_h_integral_inverse(z, u);
		double k = floor(x + 0.5);

		if (k < 1)
			k = 1;
		else if (k > z->n)
			k = z->n;
		if (k - x <= z->sq ||
		    u >= zipf_h_integral(z, k + 0.5) - zipf_h(z, k))
			return (uint64_t)k - 1;
	}
}

struct picker {
	enum bench_dist dist;
	uint64_t n;
	struct zipf z;
};

static void
picker_init(struct picker *p, enum bench_dist dist, uint64_t n, double s)
{
	p->dist = dist;
	p->n = n;
	if (dist == DIST_ZIPF)
		zipf_init(&p->z, n, s);
}

static uint64_t
pick(const struct picker *p, struct rng *r)
{
	return p->dist == DIST_ZIPF ? zipf_sample(&p->z, r)
	                            : rng_below(r, p->n);
}

/* ------------------------------------------------------------------ */
/* Streams */

static bool
stream_alloc(struct stream *s, size_t len)
{
	s->keys = malloc(len * sizeof *s->keys + 1);
	s->kinds = malloc(len + 1);
	s->len = len;
	return s->keys != NULL && s->kinds != NULL;
}

void
streams_free(struct stream_set *set)
{
	for (unsigned t = 0; t < set->threads; t++) {
		free(set->s[t].keys);
		free(set->s[t].kinds);
	}
	memset(set, 0, sizeof *set);
}

size_t
streams_bytes(const struct stream_set *set)
{
	size_t b = 0;

	for (unsigned t = 0; t < set->threads; t++)
		b += set->s[t].len * (sizeof(uint64_t) + 1);
	return b;
}

static uint8_t
sample_mark(const struct workload *w, struct rng *r)
{
	if (w->sample_every == 0)
		return 0;
	return rng_below(r, w->sample_every) == 0 ? OP_SAMPLE : 0;
}

static bool
gen_stationary(
    struct stream *s, const struct workload *w, struct rng *r, size_t len)
{
	struct picker p;

	if (!stream_alloc(s, len))
		return false;
	s->cyclic = true;
	picker_init(&p, w->dist, w->keys, w->zipf_s);
	for (size_t i = 0; i < len; i++) {
		uint64_t id = pick(&p, r);
		unsigned pc = (unsigned)rng_below(r, 100);
		uint8_t kind;
		uint64_t wr, pw;

		switch (w->mix) {
		case MIX_READ_MOSTLY:
			/* In 1/10,000ths: --write-pct, half stores, half
			 * deletes. */
			wr = (uint64_t)(w->write_pct * 100 + 0.5);
			pw = rng_below(r, 10000);
			kind = pw >= wr   ? OP_LOAD
			    : pw < wr / 2 ? OP_STORE
			                  : OP_DELETE;
			break;
		case MIX_BALANCED:
			kind = pc < 50 ? OP_LOAD
			    : pc < 75  ? OP_STORE
			               : OP_DELETE;
			break;
		case MIX_COUNTERS:
			kind = OP_ADD;
			break;
		default:
			kind = OP_LOAD;
			break;
		}
		s->keys[i] = bench_key(w, id);
		s->kinds[i] = kind | sample_mark(w, r);
	}
	return true;
}

/* See MIXES/churn at the top of the file.  `parity` (keys bytes, zero on
 * entry and on return) says which of a slot's two keys is present. */
static bool
gen_churn(struct stream *s, const struct workload *w, struct rng *r, unsigned t,
    unsigned threads, size_t len, uint8_t *parity)
{
	uint64_t owned = w->keys / threads + (t < w->keys % threads ? 1 : 0);
	size_t picks = len / 4, round, rounds, i = 0;
	struct picker p;
	uint64_t *seq;

	if (picks == 0)
		picks = 1;
	/* The threads' rounds together span CHURN_ROUND_PICKS slots, so a
	 * key comes back after the same number of the map's operations at
	 * every thread count, and the untimed end of a run stays that of one
	 * thread's half round in all (see MIXES). */
	round = CHURN_ROUND_PICKS / threads;
	if (round < CHURN_MIN_ROUND)
		round = CHURN_MIN_ROUND;
	if (picks < round)
		round = picks;
	rounds = (picks + round - 1) / round;
	if (!stream_alloc(s, rounds * round * 4))
		return false;
	s->cyclic = true;
	s->clean_every = round * 4;
	seq = malloc(round * sizeof *seq);
	if (seq == NULL)
		return false;
	picker_init(&p, w->dist, owned, w->zipf_s);
	for (size_t rd = 0; rd < rounds; rd++) {
		for (size_t j = 0; j < round; j++)
			seq[j] = t + (uint64_t)threads * pick(&p, r);
		for (int pass = 0; pass < 2; pass++) {
			for (size_t j = 0; j < round; j++) {
				uint64_t slot = seq[j];
				uint64_t a = bench_key(w, slot);
				uint64_t b = bench_key(w, slot + w->keys);
				bool twin = parity[slot] != 0;

				s->keys[i] = twin ? b : a;
				s->kinds[i++] = OP_DELETE | sample_mark(w, r);
				s->keys[i] = twin ? a : b;
				s->kinds[i++] = OP_STORE | sample_mark(w, r);
				parity[slot] ^= 1;
			}
		}
	}
	free(seq);
	return true;
}

static bool
gen_growth(struct stream *s, const struct workload *w, struct rng *r,
    unsigned t, unsigned threads)
{
	uint64_t n = w->keys / threads + (t < w->keys % threads ? 1 : 0);

	if (!stream_alloc(s, n))
		return false;
	s->cyclic = false;
	for (uint64_t i = 0; i < n; i++) {
		s->keys[i] = bench_key(w, t + (uint64_t)threads * i);
		s->kinds[i] = OP_STORE | sample_mark(w, r);
	}
	return true;
}

bool
streams_generate(struct stream_set *set, const struct workload *w,
    unsigned threads, size_t total_ops)
{
	uint8_t *parity = NULL;
	bool ok = true;

	memset(set, 0, sizeof *set);
	set->threads = threads;
	if (w->mix == MIX_CHURN) {
		parity = calloc(w->keys, 1);
		if (parity == NULL)
			return false;
	}
	for (unsigned t = 0; t < threads && ok; t++) {
		struct rng r = {mix64(w->seed) ^
		    mix64(((uint64_t)w->mix << 48) ^ ((uint64_t)w->dist << 40) ^
		        ((uint64_t)threads << 16) ^ t)};
		size_t len = total_ops / threads;

		if (len < 256)
			len = 256;
		switch (w->mix) {
		case MIX_CHURN:
			ok = gen_churn(
			    &set->s[t], w, &r, t, threads, len, parity);
			break;
		case MIX_GROWTH:
			ok = gen_growth(&set->s[t], w, &r, t, threads);
			break;
		case MIX_GROW_READ:
			if (t == 0) {
				ok = gen_growth(&set->s[t], w, &r, 0, 1);
				set->s[t].ends_run = true;
			} else {
				ok = gen_stationary(&set->s[t], w, &r, len);
			}
			break;
		default:
			ok = gen_stationary(&set->s[t], w, &r, len);
			break;
		}
	}
	free(parity);
	if (!ok)
		streams_free(set);
	return ok;
}

void
workload_prefill(
    const struct workload *w, const struct target_ops *t, void *map)
{
	if (bench_mix_from_empty(w->mix))
		return;
	for (uint64_t id = 0; id < w->keys; id++)
		t->store(
		    map, bench_key(w, id), w->mix == MIX_COUNTERS ? 0 : id);
}

/* ------------------------------------------------------------------ */
/* The run */

struct worker {
	_Alignas(BENCH_CACHE_LINE) const struct target_ops *t;
	void *map;
	const struct stream *s;
	unsigned idx;
	uint64_t limit; /* ops to do at most */
	uint8_t smask;  /* OP_SAMPLE or 0 */
	unsigned batch; /* --batch; 1 = one operation at a time */
	uint64_t ovh;   /* empty-bracket ticks to subtract */
	pthread_barrier_t *barrier;
	atomic_bool *stop;
	/* results, written by the worker only */
	uint64_t done;
	uint64_t t_start, t_end;
	double cpu_s; /* this thread's CPU time in the timed span */
	uint64_t sink;
	struct bench_hist hist[OP_COUNT_];
};

static inline uint64_t
do_op(const struct target_ops *t, void *map, unsigned kind, uint64_t key,
    uint64_t value)
{
	uint64_t v = 0;

	switch (kind) {
	case OP_LOAD:
		t->load(map, key, &v);
		break;
	case OP_STORE:
		t->store(map, key, value);
		break;
	case OP_DELETE:
		v = t->del(map, key);
		break;
	default:
		t->add(map, key, 1);
		break;
	}
	return v;
}

/* One batch call for the n keys at keys[] (stream index i of the first):
 * see BATCHES at the top. */
static inline uint64_t
do_batch(const struct target_ops *t, void *map, unsigned kind,
    const uint64_t *keys, size_t n, size_t i, uint64_t *vals)
{
	switch (kind) {
	case OP_LOAD:
		return t->load_batch(map, n, keys, vals);
	case OP_STORE:
		for (size_t j = 0; j < n; j++)
			vals[j] = i + j;
		t->store_batch(map, n, keys, vals);
		return 0;
	default:
		return t->del_batch(map, n, keys);
	}
}

/* The timed loop with --batch: returns the operations done, and the
 * stream position in *pos. */
static uint64_t
run_batched(struct worker *wk, size_t *pos, uint64_t *sinkp)
{
	const struct target_ops *t = wk->t;
	void *map = wk->map;
	const uint64_t *keys = wk->s->keys;
	const uint8_t *kinds = wk->s->kinds;
	const size_t len = wk->s->len;
	const uint8_t smask = wk->smask;
	const uint64_t ovh = wk->ovh, limit = wk->limit;
	const size_t batch = wk->batch;
	const bool can[OP_COUNT_] = {[OP_LOAD] = t->load_batch != NULL,
	    [OP_STORE] = t->store_batch != NULL,
	    [OP_DELETE] = t->del_batch != NULL};
	uint64_t vals[BENCH_MAX_BATCH];
	uint64_t done = 0, sink = 0, next_check = 256;
	size_t i = 0;

	while (done < limit) {
		unsigned kind = kinds[i] & OP_KIND_MASK;
		unsigned marks = (kinds[i] & smask) != 0;
		size_t n = 1, max = batch;

		if (limit - done < max)
			max = (size_t)(limit - done);
		if (len - i < max)
			max = len - i;
		if (can[kind])
			for (; n < max && (kinds[i + n] & OP_KIND_MASK) == kind;
			     n++)
				marks += (kinds[i + n] & smask) != 0;
		if (n == 1 && marks == 0) {
			sink += do_op(t, map, kind, keys[i], i);
		} else if (n == 1) {
			uint64_t t0 = bench_tick_begin();

			sink += do_op(t, map, kind, keys[i], i);
			uint64_t d = bench_tick_end() - t0;

			hist_record(&wk->hist[kind], d > ovh ? d - ovh : 0);
		} else if (marks == 0) {
			sink += do_batch(t, map, kind, keys + i, n, i, vals);
		} else {
			uint64_t t0 = bench_tick_begin();

			sink += do_batch(t, map, kind, keys + i, n, i, vals);
			uint64_t d = bench_tick_end() - t0;
			uint64_t per = ((d > ovh ? d - ovh : 0) + n / 2) / n;

			for (unsigned k = 0; k < marks; k++)
				hist_record(&wk->hist[kind], per);
		}
		done += n;
		i += n;
		if (i == len)
			i = 0;
		if (done >= next_check) {
			next_check = done + 256;
			if (atomic_load_explicit(
			        wk->stop, memory_order_relaxed))
				break;
		}
	}
	*pos = i;
	*sinkp = sink;
	return done;
}

static void *
worker_main(void *arg)
{
	struct worker *wk = arg;
	const struct target_ops *t = wk->t;
	void *map = wk->map;
	const uint64_t *keys = wk->s->keys;
	const uint8_t *kinds = wk->s->kinds;
	const size_t len = wk->s->len;
	const uint8_t smask = wk->smask;
	const uint64_t ovh = wk->ovh, limit = wk->limit;
	const bool batched = wk->batch > 1 &&
	    (t->load_batch != NULL || t->store_batch != NULL ||
	        t->del_batch != NULL);
	uint64_t done = 0, sink = 0;
	size_t i = 0;
	struct timespec c0, c1;

	counting_set_thread_slot(wk->idx + 1);
	t->thread_enter(map);
	pthread_barrier_wait(wk->barrier);
	wk->t_start = bench_mono_ns();
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c0);
	if (batched)
		done = run_batched(wk, &i, &sink);
	/* One operation at a time (every target without --batch). */
	while (!batched && done < limit) {
		uint64_t chunk = limit - done < 256 ? limit - done : 256;

		for (uint64_t c = 0; c < chunk; c++) {
			uint8_t kind = kinds[i];
			uint64_t key = keys[i];

			if (kind & smask) {
				uint64_t t0 = bench_tick_begin();

				sink +=
				    do_op(t, map, kind & OP_KIND_MASK, key, i);
				uint64_t d = bench_tick_end() - t0;

				hist_record(&wk->hist[kind & OP_KIND_MASK],
				    d > ovh ? d - ovh : 0);
			} else {
				sink +=
				    do_op(t, map, kind & OP_KIND_MASK, key, i);
			}
			if (++i == len)
				i = 0;
		}
		done += chunk;
		if (atomic_load_explicit(wk->stop, memory_order_relaxed))
			break;
	}
	wk->t_end = bench_mono_ns();
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c1);
	if (wk->s->ends_run)
		atomic_store_explicit(wk->stop, true, memory_order_relaxed);
	wk->cpu_s = (double)(c1.tv_sec - c0.tv_sec) +
	    (double)(c1.tv_nsec - c0.tv_nsec) * 1e-9;
	/* Churn: finish the round, untimed and uncounted, so the map holds
	 * the prefilled key set again (see MIXES at the top). */
	if (wk->s->clean_every != 0)
		for (; i % wk->s->clean_every != 0;
		     i = i + 1 == len ? 0 : i + 1)
			sink +=
			    do_op(t, map, kinds[i] & OP_KIND_MASK, keys[i], i);
	wk->done = done;
	wk->sink = sink;
	t->thread_exit(map);
	counting_set_thread_slot(0);
	return NULL;
}

bool
workload_run(const struct workload *w, const struct target_ops *t, void *map,
    const struct stream_set *set, double seconds, uint64_t ops, bool sample,
    struct run_result *out)
{
	unsigned n = set->threads;
	struct worker *wk;
	pthread_t tid[BENCH_MAX_THREADS];
	pthread_barrier_t barrier;
	atomic_bool stop;
	uint64_t t0 = UINT64_MAX, t1 = 0;

	/* The streams carry every operation; w only says how to group. */

	wk = aligned_alloc(BENCH_CACHE_LINE,
	    ((sizeof *wk * n + BENCH_CACHE_LINE - 1) / BENCH_CACHE_LINE) *
	        BENCH_CACHE_LINE);
	if (wk == NULL)
		return false;
	memset(wk, 0, sizeof *wk * n);
	atomic_init(&stop, false);
	pthread_barrier_init(&barrier, NULL, n + 1);
	for (unsigned i = 0; i < n; i++) {
		const struct stream *s = &set->s[i];

		wk[i].t = t;
		wk[i].map = map;
		wk[i].s = s;
		wk[i].idx = i;
		wk[i].smask = sample ? OP_SAMPLE : 0;
		wk[i].batch = w->batch > 1 ? w->batch : 1;
		wk[i].ovh = bench_timer_overhead_ticks();
		wk[i].barrier = &barrier;
		wk[i].stop = &stop;
		if (!s->cyclic)
			wk[i].limit = s->len;
		else if (ops > 0)
			wk[i].limit = ops / n + (i < ops % n ? 1 : 0);
		else
			wk[i].limit = UINT64_MAX;
		if (!s->cyclic && ops > 0 && ops / n < wk[i].limit)
			wk[i].limit = ops / n + (i < ops % n ? 1 : 0);
		for (unsigned k = 0; k < OP_COUNT_; k++)
			hist_reset(&wk[i].hist[k]);
	}
	for (unsigned i = 0; i < n; i++) {
		if (pthread_create(&tid[i], NULL, worker_main, &wk[i]) != 0) {
			/* The threads already started wait on a barrier that
			 * cannot shrink: nothing sensible is left to measure.
			 */
			fprintf(stderr,
			    "cmap-bench: cannot start thread %u of %u\n", i + 1,
			    n);
			exit(2);
		}
	}
	pthread_barrier_wait(&barrier);
	if (seconds > 0) {
		uint64_t ns = (uint64_t)(seconds * 1e9);
		struct timespec ts = {
		    (time_t)(ns / 1000000000u), (long)(ns % 1000000000u)};

		while (nanosleep(&ts, &ts) != 0)
			;
		atomic_store_explicit(&stop, true, memory_order_relaxed);
	}
	for (unsigned i = 0; i < n; i++)
		pthread_join(tid[i], NULL);
	pthread_barrier_destroy(&barrier);

	memset(out, 0, sizeof *out);
	for (unsigned k = 0; k < OP_COUNT_; k++)
		hist_reset(&out->hist[k]);
	for (unsigned i = 0; i < n; i++) {
		const struct stream *s = wk[i].s;
		uint64_t cycles = wk[i].done / s->len;
		size_t pos = (size_t)(wk[i].done % s->len);
		uint64_t per_cycle[OP_COUNT_] = {0};

		out->ops += wk[i].done;
		out->cpu_seconds += wk[i].cpu_s;
		if (wk[i].t_start < t0)
			t0 = wk[i].t_start;
		if (wk[i].t_end > t1)
			t1 = wk[i].t_end;
		for (unsigned k = 0; k < OP_COUNT_; k++) {
			hist_merge(&out->hist[k], &wk[i].hist[k]);
			out->samples += wk[i].hist[k].count;
		}
		/* Operations per kind, from the stream: the part of the
		 * cycle done, plus whole cycles. */
		for (size_t j = 0; j < s->len; j++) {
			unsigned kind = s->kinds[j] & OP_KIND_MASK;

			if (j < pos)
				out->op_count[kind]++;
			if (cycles > 0)
				per_cycle[kind]++;
		}
		for (unsigned k = 0; k < OP_COUNT_; k++)
			out->op_count[k] += cycles * per_cycle[k];
	}
	out->seconds = t1 > t0 ? (double)(t1 - t0) * 1e-9 : 0;
	free(wk);
	t->quiesce(map);
	return true;
}
