/*
 * test_metrics_stress.c - metrics recorded while they are read: on every
 * thread-safe backend, WORKERS threads run a mix of calls on two maps
 * with metrics, one thread scrapes them (cmap_metrics_text and the
 * structs) without pause, and another creates and destroys maps with
 * metrics and runs short-lived threads on them, so that records are
 * handed back and reused while a map at a freed map's address may get
 * the same thread-local cache slot.  For ThreadSanitizer (label stress);
 * about a second per backend.  At the end the counts must equal the
 * calls made, and a map's records must not outnumber the threads that
 * used it at once.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "testutil.h"

#define WORKERS 3
#define OPS 60000

static const char *g_backend;
static cmap_t *g_maps[2];
static atomic_int g_stop;

static cmap_t *
make(void)
{
	cmap_config_t c;

	tu_config_init(&c, g_backend);
	c.flags |= CMAP_FLAG_METRICS;
	return tu_create_cfg(&c);
}

static cmap_update_action_t
inc(uint64_t key, uint64_t *value, bool present, void *ctx)
{
	(void)key;
	(void)ctx;
	*value = present ? *value + 1 : 1;
	return CMAP_UPDATE_STORE;
}

static void *
worker(void *arg)
{
	uint64_t x = (uint64_t)(uintptr_t)arg * 0x9e3779b97f4a7c15u + 1, v;

	for (int i = 0; i < OPS; i++) {
		cmap_t *m = g_maps[i & 1];
		uint64_t k;

		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		k = x % 512;
		switch (x >> 61) {
		case 0:
			(void)cmap_store(m, k, x);
			break;
		case 1:
			(void)cmap_update(m, k, inc, NULL, &v);
			break;
		case 2:
			(void)cmap_delete(m, k);
			break;
		default:
			(void)cmap_load(m, k, &v);
			break;
		}
	}
	return NULL;
}

static int
discard(void *ctx, const char *s, size_t n)
{
	(void)s;
	*(size_t *)ctx += n;
	return 0;
}

static void *
scraper(void *arg)
{
	const cmap_metrics_label_t la[] = {{"map", "a"}}, lb[] = {{"map", "b"}};
	const cmap_metrics_source_t src[2] = {
	    {g_maps[0], la, 1}, {g_maps[1], lb, 1}};
	size_t *scrapes = arg;

	do { /* at least once, however fast the workers are */
		size_t n = 0;
		cmap_metrics_op_t o;
		cmap_metrics_t mx;

		if (cmap_metrics_expose(src, 2, discard, &n) != CMAP_OK ||
		    n == 0)
			abort();
		(void)cmap_metrics_op(g_maps[0], CMAP_OP_LOAD, &o);
		(void)cmap_metrics(g_maps[1], &mx);
		(*scrapes)++;
	} while (!atomic_load(&g_stop));
	return NULL;
}

static void *
short_lived(void *arg)
{
	cmap_t *m = arg;
	uint64_t v;

	for (uint64_t k = 0; k < 50; k++) {
		(void)cmap_store(m, k, k);
		(void)cmap_load(m, k, &v);
	}
	return NULL;
}

static void *
churner(void *arg)
{
	size_t *rounds = arg;

	do {
		cmap_t *m = make();
		pthread_t t[2];
		cmap_metrics_op_t o;
		cmap_metrics_t mx;
		const cmap_metrics_source_t src = {m, NULL, 0};
		size_t n = 0;

		for (int i = 0; i < 2; i++)
			pthread_create(&t[i], NULL, short_lived, m);
		(void)cmap_metrics_expose(&src, 1, discard, &n);
		for (int i = 0; i < 2; i++)
			pthread_join(t[i], NULL);
		if (cmap_metrics_op(m, CMAP_OP_STORE, &o) != CMAP_OK ||
		    o.ops != 100 || cmap_metrics(m, &mx) != CMAP_OK ||
		    mx.records > 2 || mx.threads != 0) {
			fprintf(stderr, "churn: %llu stores, %llu records\n",
			    (unsigned long long)o.ops,
			    (unsigned long long)mx.records);
			abort();
		}
		cmap_destroy(m);
		(*rounds)++;
	} while (!atomic_load(&g_stop));
	return NULL;
}

static int
run(const char *backend)
{
	pthread_t w[WORKERS], s, c;
	size_t scrapes = 0, rounds = 0;
	uint64_t total = 0;
	int bad = 0;

	g_backend = backend;
	g_maps[0] = make();
	g_maps[1] = make();
	atomic_store(&g_stop, 0);
	pthread_create(&s, NULL, scraper, &scrapes);
	pthread_create(&c, NULL, churner, &rounds);
	for (int i = 0; i < WORKERS; i++)
		pthread_create(&w[i], NULL, worker, (void *)(uintptr_t)(i + 1));
	for (int i = 0; i < WORKERS; i++)
		pthread_join(w[i], NULL);
	atomic_store(&g_stop, 1);
	pthread_join(s, NULL);
	pthread_join(c, NULL);
	for (int m = 0; m < 2; m++) {
		cmap_metrics_t mx;

		for (cmap_op_t op = 0; op < CMAP_OP_COUNT_; op++) {
			cmap_metrics_op_t o;

			(void)cmap_metrics_op(g_maps[m], op, &o);
			total += o.ops;
		}
		(void)cmap_metrics(g_maps[m], &mx);
		if (mx.records > WORKERS + 1 || mx.threads != 0 ||
		    mx.dropped != 0)
			bad = 1;
		cmap_destroy(g_maps[m]);
	}
	printf("%s: %llu calls recorded (want %d), %zu scrapes, %zu map "
	       "rounds\n",
	    backend, (unsigned long long)total, WORKERS * OPS, scrapes, rounds);
	return bad || total != (uint64_t)WORKERS * OPS || scrapes == 0 ||
	    rounds == 0;
}

int
main(void)
{
	const char *ts[TU_MAX_BACKENDS];
	size_t n = tu_thread_safe_backends(ts);
	int failed = 0, ran = 0;

	for (size_t i = 0; i < n; i++) {
		if (tu_has(ts[i], CMAP_CAP_REMOTE) ||
		    tu_has(ts[i], CMAP_CAP_PERSISTENT))
			continue; /* in-memory: the recording is what is tested
			           */
		failed += run(ts[i]);
		ran++;
	}
	printf("%d passed, %d failed\n", ran - failed, failed);
	return failed != 0;
}
