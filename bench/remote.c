/*
 * remote.c - `cmap-bench --suite remote`: the redis backend against its
 * floor, in one run: a raw hiredis client sending the same commands
 * (HGET/HSET of 16-hex-digit fields in a hash, one round trip each) and
 * redis-benchmark -c 16 doing HGET.
 *
 *   cmap-bench --suite remote --servers HOST:PORT [--ops N] [--reps R]
 *
 * Figures, medians of R repetitions (default 5), each ratio from the same
 * repetition's pair:
 *   load, store   single-thread latency, microseconds per call, and the
 *                 ratio to the raw hiredis round trip (goal <= 1.15);
 *   16 threads    cmap_load calls per second, and the ratio to
 *                 redis-benchmark -c 16 -P 1 HGET (goal >= 0.9), and
 *                 to raw hiredis in 16 threads, a blocking connection
 *                 each (whose own ratio to redis-benchmark is the cost
 *                 of the thread-per-call model on this machine);
 *   batch 100     keys per second of cmap_load_batch of 100 keys, and the
 *                 ratio to single-key cmap_load (goal >= 20).
 * Needs a running server (tests/redis/servers.sh start DIR single).
 */
#include "bench.h"
#include "cmap.h"

#include <hiredis/hiredis.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KEYS 1000

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double
median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof *v, cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static cmap_t *
open_map(const char *servers)
{
	cmap_config_t cfg;
	cmap_t *m = NULL;

	cmap_config_init(&cfg);
	cfg.backend = CMAP_BACKEND_REDIS;
	if (cmap_config_set(&cfg, "servers", servers) != CMAP_OK ||
	    cmap_config_set(&cfg, "namespace", "cmap-bench") != CMAP_OK ||
	    cmap_create(&cfg, &m) != CMAP_OK) {
		fprintf(stderr, "cmap-bench: redis %s: %s\n", servers,
		    cmap_last_error());
		exit(1);
	}
	return m;
}

/* Microseconds per call of n single-key loads (store when `store`). */
static double
cmap_single(cmap_t *m, long n, bool store)
{
	double t0 = bench_now_s();
	uint64_t v;

	for (long i = 0; i < n; i++)
		if (store ? cmap_is_error(cmap_store(m, (uint64_t)i % KEYS, i))
		          : cmap_is_error(cmap_load(m, (uint64_t)i % KEYS, &v)))
			exit(1);
	return (bench_now_s() - t0) * 1e6 / (double)n;
}

/* The same with raw hiredis: HGET/HSET of one hash, the same sizes. */
static double
raw_single(redisContext *c, long n, bool store)
{
	double t0 = bench_now_s();

	for (long i = 0; i < n; i++) {
		char field[17], val[17];
		redisReply *r;

		snprintf(field, sizeof field, "%016lx", i % KEYS);
		snprintf(val, sizeof val, "%016lx", i);
		r = store
		    ? redisCommand(
		          c, "HSET cmap-bench-raw:0000 %s %s", field, val)
		    : redisCommand(c, "HGET cmap-bench-raw:0000 %s", field);
		if (r == NULL)
			exit(1);
		freeReplyObject(r);
	}
	return (bench_now_s() - t0) * 1e6 / (double)n;
}

struct thr {
	cmap_t *m;
	long n;
	cmap_status_t err; /* the first error a load returned, or CMAP_OK */
};

static void *
load_thread(void *arg)
{
	struct thr *t = arg;
	uint64_t v;

	for (long i = 0; i < t->n; i++) {
		cmap_status_t st = cmap_load(t->m, (uint64_t)i % KEYS, &v);

		if (cmap_is_error(st)) { /* a failed call is not throughput */
			t->err = st;
			break;
		}
	}
	return NULL;
}

static double
cmap_threads(cmap_t *m, int threads, long n)
{
	pthread_t tid[64];
	struct thr t[64];
	double t0 = bench_now_s(), rate;

	for (int i = 0; i < threads; i++) {
		t[i] = (struct thr){m, n / threads, CMAP_OK};
		pthread_create(&tid[i], NULL, load_thread, &t[i]);
	}
	for (int i = 0; i < threads; i++)
		pthread_join(tid[i], NULL);
	rate = (double)(n / threads * threads) / (bench_now_s() - t0);
	for (int i = 0; i < threads; i++)
		if (t[i].err != CMAP_OK) {
			fprintf(stderr, "cmap-bench: remote load: %s\n",
			    cmap_strerror(t[i].err));
			exit(1);
		}
	return rate;
}

/* The same with raw hiredis: a connection per thread, blocking HGETs
 * (the model cmap's threads follow), to tell libcmap's cost from the cost
 * of 16 blocking threads on few cores against one event loop. */
struct raw_thr {
	const char *host;
	int port;
	long n;
	int failed;
};

static void *
raw_thread(void *arg)
{
	struct raw_thr *t = arg;
	redisContext *c = redisConnect(t->host, t->port);

	for (long i = 0; c != NULL && !c->err && i < t->n; i++) {
		redisReply *r = redisCommand(
		    c, "HGET cmap-bench-raw:0000 %016lx", i % KEYS);

		if (r == NULL || r->type == REDIS_REPLY_ERROR) {
			t->failed = 1; /* the calls it did not make */
			if (r != NULL)
				freeReplyObject(r);
			break;
		}
		freeReplyObject(r);
	}
	if (c == NULL || c->err)
		t->failed = 1;
	redisFree(c);
	return NULL;
}

static double
raw_threads(const char *host, int port, int threads, long n)
{
	pthread_t tid[64];
	struct raw_thr t[64];
	double t0 = bench_now_s();

	for (int i = 0; i < threads; i++) {
		t[i] = (struct raw_thr){host, port, n / threads, 0};
		pthread_create(&tid[i], NULL, raw_thread, &t[i]);
	}
	for (int i = 0; i < threads; i++)
		pthread_join(tid[i], NULL);
	for (int i = 0; i < threads; i++)
		if (t[i].failed) {
			fprintf(
			    stderr, "cmap-bench: raw hiredis thread failed\n");
			exit(1);
		}
	return (double)(n / threads * threads) / (bench_now_s() - t0);
}

/* redis-benchmark -c 16 HGET: its requests per second; 0 when it could
 * not be run or printed no figure (reported as not measured). */
static double
redis_benchmark(const char *servers, long n)
{
	char cmd[512], line[512];
	const char *colon = strrchr(servers, ':');
	double rps = 0;
	FILE *p;

	snprintf(cmd, sizeof cmd,
	    "redis-benchmark -h %.*s -p %s -c 16 -n %ld -q "
	    "HGET cmap-bench-raw:0000 00000000000000a1 2>/dev/null",
	    (int)(colon - servers), servers, colon + 1, n);
	if ((p = popen(cmd, "r")) == NULL)
		return 0;
	while (fgets(line, sizeof line, p) != NULL) {
		/* "...: 51234.00 requests per second, p50=..." after \r's */
		char *at = strstr(line, "requests per second");
		char *start = at;

		while (at != NULL && start > line && start[-1] != ':')
			start--;
		if (at != NULL)
			rps = strtod(start, NULL);
	}
	pclose(p);
	return rps;
}

static double
batch_rate(cmap_t *m, long n)
{
	uint64_t keys[100], vals[100];
	cmap_status_t st[100];
	double t0 = bench_now_s();

	for (int i = 0; i < 100; i++)
		keys[i] = (uint64_t)i * 7 % KEYS;
	for (long b = 0; b < n / 100; b++)
		if (cmap_load_batch(m, 100, keys, vals, st) != CMAP_OK)
			exit(1);
	return (double)(n / 100 * 100) / (bench_now_s() - t0);
}

int
bench_remote_main(int argc, char **argv)
{
	const char *servers = NULL;
	long ops = 20000;
	int reps = 5;
	double l[16], lr[16], s[16], sr[16], th[16], rb[16], ba[16], bs[16];
	double rt[16], rtb[16], raw;
	bool rb_ok = true; /* redis-benchmark gave a figure in every rep */

	if (argc < 3 || strcmp(argv[1], "--suite") != 0 ||
	    strcmp(argv[2], "remote") != 0)
		return -1;
	for (int i = 3; i + 1 < argc; i += 2)
		if (strcmp(argv[i], "--servers") == 0)
			servers = argv[i + 1];
		else if (strcmp(argv[i], "--ops") == 0)
			ops = atol(argv[i + 1]);
		else if (strcmp(argv[i], "--reps") == 0)
			reps = atoi(argv[i + 1]);
	if (servers == NULL || strchr(servers, ':') == NULL || reps < 1 ||
	    reps > 16 || ops < 100) {
		fprintf(stderr,
		    "usage: cmap-bench --suite remote --servers "
		    "HOST:PORT [--ops N >= 100] [--reps 1..16]\n");
		return 2;
	}
	cmap_t *m = open_map(servers);
	const char *colon = strrchr(servers, ':');
	char host[128];
	snprintf(host, sizeof host, "%.*s", (int)(colon - servers), servers);
	redisContext *c = redisConnect(host, atoi(colon + 1));
	if (c == NULL || c->err)
		return 1;
	(void)cmap_single(m, KEYS, true); /* every key present */
	(void)raw_single(c, KEYS, true);
	for (int r = 0; r < reps; r++) {
		double a = cmap_single(m, ops, false),
		       b = raw_single(c, ops, false);

		l[r] = a, lr[r] = a / b;
		a = cmap_single(m, ops, true), b = raw_single(c, ops, true);
		s[r] = a, sr[r] = a / b;
		a = cmap_threads(m, 16, 4 * ops),
		b = redis_benchmark(servers, 4 * ops);
		raw = raw_threads(host, atoi(colon + 1), 16, 4 * ops);
		rb_ok = rb_ok && b > 0;
		th[r] = a, rb[r] = b > 0 ? a / b : 0;
		rt[r] = a / raw, rtb[r] = b > 0 ? raw / b : 0;
		a = batch_rate(m, 10 * ops), b = 1e6 / l[r];
		ba[r] = a, bs[r] = a / b;
	}
	printf("remote suite, redis %s, %ld ops, median of %d\n", servers, ops,
	    reps);
	printf("load 1 thread   %8.1f us/call  %.3fx raw hiredis HGET\n",
	    median(l, reps), median(lr, reps));
	printf("store 1 thread  %8.1f us/call  %.3fx raw hiredis HSET\n",
	    median(s, reps), median(sr, reps));
	if (rb_ok) {
		printf("load 16 threads %8.0f calls/s  %.3fx redis-benchmark "
		       "-c 16\n",
		    median(th, reps), median(rb, reps));
		printf("                %8s           %.3fx raw hiredis, 16 "
		       "threads (which is %.3fx redis-benchmark)\n",
		    "", median(rt, reps), median(rtb, reps));
	} else {
		printf("load 16 threads %8.0f calls/s  redis-benchmark: not "
		       "measured (not found, or no figure)\n",
		    median(th, reps));
		printf("                %8s           %.3fx raw hiredis, 16 "
		       "threads\n",
		    "", median(rt, reps));
	}
	printf("batch of 100    %8.0f keys/s   %.1fx single-key load\n",
	    median(ba, reps), median(bs, reps));
	redisFree(c);
	cmap_destroy(m);
	return 0;
}
