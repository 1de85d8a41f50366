/*
 * test_misuse.c - the misuse detector of the backends that advertise
 * CMAP_CAP_MISUSE_CHECK (plain in this build; label "death").
 *
 * Each case runs in a forked child with its stderr on a pipe and an
 * alarm(60) safety net; the parent checks how the child ended and what it
 * printed:
 *   - two threads writing one map: SIGABRT and "cmap: fatal error:
 *     concurrent map writes (backend <name>, map 0x...)", every run;
 *   - a reader beside a writer (load, and range): SIGABRT and "concurrent
 *     map read and map write" (best effort: the threads loop until caught);
 *   - no false alarm: single-threaded programs (with and without
 *     CMAP_FLAG_NO_MISUSE_CHECK, and with the option misuse_check where
 *     the backend takes it) that write from range callbacks, recurse
 *     from update callbacks (CMAP_ERECURSE, not a crash), clear and
 *     reserve; concurrent readers only; a map handed between threads
 *     under a mutex;
 *   - the thread-safe backends (no CMAP_CAP_MISUSE_CHECK needed): the
 *     same two writers are simply correct.
 */
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "testutil.h"

struct child_result {
	int status;
	char err[8192];
};

/* Run fn(arg) in a child whose stderr goes to a pipe; fn returns the exit
 * code (or never returns). */
static void
run_child(int (*fn)(void *), void *arg, struct child_result *res)
{
	int fd[2];
	pid_t pid;
	size_t got = 0;

	memset(res, 0, sizeof *res);
	assert_int_equal(pipe(fd), 0);
	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(fd[0]);
		if (dup2(fd[1], STDERR_FILENO) < 0)
			_exit(126);
		close(fd[1]);
		alarm(60);
		_exit(fn(arg));
	}
	close(fd[1]);
	for (;;) {
		ssize_t n =
		    read(fd[0], res->err + got, sizeof res->err - 1 - got);
		if (n <= 0)
			break;
		got += (size_t)n;
		if (got == sizeof res->err - 1)
			break;
	}
	close(fd[0]);
	res->err[got] = '\0';
	assert_int_equal(waitpid(pid, &res->status, 0), pid);
}

/* The backend under test (one with CMAP_CAP_MISUSE_CHECK), and the text
 * of its option misuse_check to set (NULL: not set).  Set before each
 * fork; the child inherits them. */
static const char *g_backend;
static const char *g_misuse_opt;

/* The backends with a misuse detector: at least plain, whose detector the
 * header documents, so none is a failure (a skip would hide the very
 * regression that lost it). */
static size_t
checked_backends(const char *out[TU_MAX_BACKENDS])
{
	size_t n = tu_backends_with(CMAP_CAP_MISUSE_CHECK, out);

	for (size_t i = 0; i < n; i++)
		/* a detector only makes sense without thread safety */
		assert_false(tu_has(out[i], CMAP_CAP_THREAD_SAFE));
	if (n == 0)
		fail_msg("no backend of this build has CMAP_CAP_MISUSE_CHECK");
	return n;
}

static void
assert_aborted_with(const struct child_result *r, const char *what)
{
	char tag[128];

	snprintf(tag, sizeof tag, "(backend %s, map 0x", g_backend);
	if (!WIFSIGNALED(r->status) || WTERMSIG(r->status) != SIGABRT)
		fail_msg("child did not abort: %s %d; stderr: %s",
		    WIFSIGNALED(r->status) ? "signal" : "exit",
		    WIFSIGNALED(r->status) ? WTERMSIG(r->status)
		                           : WEXITSTATUS(r->status),
		    r->err);
	if (strstr(r->err, "cmap: fatal error: ") == NULL ||
	    strstr(r->err, what) == NULL || strstr(r->err, tag) == NULL)
		fail_msg("unexpected message (want \"%s\" and \"%s\"): %s",
		    what, tag, r->err);
}

static void
assert_exited_ok(const struct child_result *r)
{
	if (!WIFEXITED(r->status) || WEXITSTATUS(r->status) != 0)
		fail_msg("child failed: %s %d; stderr: %s",
		    WIFSIGNALED(r->status) ? "signal" : "exit",
		    WIFSIGNALED(r->status) ? WTERMSIG(r->status)
		                           : WEXITSTATUS(r->status),
		    r->err);
	/* the library never prints unless it aborts */
	assert_string_equal(r->err, "");
}

/* A map of g_backend (in the child: exits 125 on failure). */
static cmap_t *
checked_map(uint32_t flags)
{
	cmap_config_t cfg;
	cmap_t *m = NULL;

	tu_config_init(&cfg, g_backend);
	cfg.flags = flags;
	if (g_misuse_opt != NULL &&
	    cmap_config_set(&cfg, "misuse_check", g_misuse_opt) != CMAP_OK)
		_exit(125);
	if (cmap_create(&cfg, &m) != CMAP_OK)
		_exit(125);
	return m;
}

/* ---- two writers ---- */
static cmap_t *g_m;

static void *
writer_forever(void *arg)
{
	uint64_t t = (uint64_t)(uintptr_t)arg;

	for (uint64_t i = 0;; i++) {
		uint64_t k = t << 32 | (i % 4096);
		(void)cmap_store(g_m, k, i);
		if (i % 3 == 0)
			(void)cmap_delete(g_m, k ^ 1);
	}
	return NULL;
}

static void *
loader_forever(void *arg)
{
	uint64_t v;

	(void)arg;
	for (uint64_t i = 0;; i++)
		(void)cmap_load(g_m, (1ull << 32) | (i % 4096), &v);
	return NULL;
}

static bool
range_nop(uint64_t key, uint64_t value, void *ctx)
{
	(void)key;
	(void)value;
	(void)ctx;
	return true;
}

static void *
ranger_forever(void *arg)
{
	(void)arg;
	for (;;)
		(void)cmap_range(g_m, range_nop, NULL);
	return NULL;
}

struct fnbox {
	void *(*fn)(void *);
};

/* A writer thread, and a second thread running box->fn, on one map. */
static int
two_threads_box(void *arg)
{
	void *(*second)(void *) = ((struct fnbox *)arg)->fn;
	pthread_t a, b;

	g_m = checked_map(0);
	/* some content, so reads and writes take a while */
	for (uint64_t i = 0; i < 4096; i++)
		(void)cmap_store(g_m, (1ull << 32) | i, i);
	if (pthread_create(&a, NULL, writer_forever, (void *)(uintptr_t)1) ||
	    pthread_create(&b, NULL, second, (void *)(uintptr_t)2))
		return 124;
	pthread_join(a, NULL);
	pthread_join(b, NULL);
	return 123; /* unreachable: the threads never end */
}

static void
test_two_writers(void **state)
{
	(void)state;
	const char *bs[TU_MAX_BACKENDS];
	size_t n = checked_backends(bs);
	struct fnbox box = {writer_forever};
	struct child_result r;

	for (size_t b = 0; b < n; b++) {
		g_backend = bs[b];
		g_misuse_opt = NULL;
		/* caught every time: run it several times */
		for (int i = 0; i < 5; i++) {
			run_child(two_threads_box, &box, &r);
			assert_aborted_with(&r, "concurrent map writes");
		}
		/* the option's "on" keeps the detector on */
		if (tu_option(bs[b], "misuse_check", NULL)) {
			g_misuse_opt = "true";
			run_child(two_threads_box, &box, &r);
			assert_aborted_with(&r, "concurrent map writes");
			g_misuse_opt = NULL;
		}
	}
}

static void
test_reader_beside_writer(void **state)
{
	(void)state;
	const char *bs[TU_MAX_BACKENDS];
	size_t n = checked_backends(bs);
	struct fnbox box = {loader_forever};
	struct child_result r;

	for (size_t b = 0; b < n; b++) {
		g_backend = bs[b];
		g_misuse_opt = NULL;
		run_child(two_threads_box, &box, &r);
		assert_aborted_with(&r, "concurrent map read and map write");
	}
}

static void
test_range_beside_writer(void **state)
{
	(void)state;
	const char *bs[TU_MAX_BACKENDS];
	size_t n = checked_backends(bs);
	struct fnbox box = {ranger_forever};
	struct child_result r;

	for (size_t b = 0; b < n; b++) {
		g_backend = bs[b];
		g_misuse_opt = NULL;
		run_child(two_threads_box, &box, &r);
		assert_aborted_with(&r, "concurrent map read and map write");
	}
}

/* ---- no false alarms ---- */
struct st_ctx {
	cmap_t *m;
	int bad;
};

static cmap_update_action_t
recurse_cb(uint64_t key, uint64_t *value, bool present, void *ctx)
{
	struct st_ctx *c = ctx;
	uint64_t v;
	cmap_stats_t st;

	(void)present;
	if (cmap_store(c->m, key + 1, 1) != CMAP_ERECURSE ||
	    cmap_load(c->m, key, &v) != CMAP_ERECURSE ||
	    cmap_delete(c->m, key) != CMAP_ERECURSE ||
	    cmap_range(c->m, range_nop, NULL) != CMAP_ERECURSE ||
	    cmap_clear(c->m) != CMAP_ERECURSE ||
	    cmap_reserve(c->m, 1000) != CMAP_ERECURSE ||
	    cmap_stats(c->m, &st) != CMAP_ERECURSE ||
	    cmap_update(c->m, key, recurse_cb, c, NULL) != CMAP_ERECURSE)
		c->bad++;
	*value += 1;
	return CMAP_UPDATE_STORE;
}

static bool
writing_range_cb(uint64_t key, uint64_t value, void *ctx)
{
	struct st_ctx *c = ctx;

	/* writes (and an update that recurses) from a range callback */
	if (cmap_store(c->m, key, value + 1) != CMAP_OK ||
	    cmap_update(c->m, key, recurse_cb, c, NULL) != CMAP_OK)
		c->bad++;
	if (key % 3 == 0)
		(void)cmap_delete(c->m, key);
	(void)cmap_store(c->m, key + (1ull << 40), 1);
	return true;
}

static int
single_thread_child(void *arg)
{
	uint32_t flags = (uint32_t)(uintptr_t)arg;
	struct st_ctx c = {checked_map(flags), 0};

	for (int round = 0; round < 3; round++) {
		/* the map was cleared: every store inserts */
		for (uint64_t i = 0; i < 20000; i++)
			if (cmap_store(c.m, i, i) != CMAP_INSERTED)
				return 10;
		if (cmap_range(c.m, writing_range_cb, &c) != CMAP_OK)
			return 11;
		/* the range visited each key below 20000 once and deleted
		 * those divisible by 3: update stores into them again */
		for (uint64_t i = 0; i < 1000; i++)
			if (cmap_update(c.m, i, recurse_cb, &c, NULL) !=
			    (i % 3 == 0 ? CMAP_INSERTED : CMAP_OK))
				return 12;
		if (cmap_reserve(c.m, 100000) != CMAP_OK)
			return 13;
		for (uint64_t i = 0; i < 20000; i++)
			(void)cmap_delete(c.m, i);
		if (cmap_clear(c.m) != CMAP_OK || cmap_len(c.m) != 0)
			return 14;
	}
	cmap_destroy(c.m);
	return c.bad ? 15 : 0;
}

static void
test_single_thread_no_abort(void **state)
{
	(void)state;
	const char *bs[TU_MAX_BACKENDS];
	size_t n = checked_backends(bs);
	struct child_result r;

	for (size_t b = 0; b < n; b++) {
		g_backend = bs[b];
		g_misuse_opt = NULL;
		run_child(single_thread_child, (void *)(uintptr_t)0, &r);
		assert_exited_ok(&r);
		run_child(single_thread_child,
		    (void *)(uintptr_t)CMAP_FLAG_NO_MISUSE_CHECK, &r);
		assert_exited_ok(&r);
		if (tu_option(bs[b], "misuse_check", NULL)) {
			static const char *const vals[] = {
			    "true", "false", "1", "0", "on", "off"};
			for (size_t v = 0; v < 6; v++) {
				g_misuse_opt = vals[v];
				run_child(single_thread_child,
				    (void *)(uintptr_t)0, &r);
				assert_exited_ok(&r);
			}
			g_misuse_opt = NULL;
		}
	}
}

/* Concurrent readers only (like Go, reads alone are fine). */
static atomic_int g_stop;

static void *
reader_for_a_while(void *arg)
{
	uint64_t v;
	long bad = 0;

	(void)arg;
	while (!atomic_load(&g_stop))
		for (uint64_t i = 0; i < 1000; i++)
			if (cmap_load(g_m, i, &v) != CMAP_OK || v != i)
				bad++;
	return (void *)(uintptr_t)(bad != 0);
}

static int
readers_child(void *arg)
{
	pthread_t th[3];
	void *ret;
	int bad = 0;

	g_m = checked_map((uint32_t)(uintptr_t)arg);
	for (uint64_t i = 0; i < 1000; i++)
		(void)cmap_store(g_m, i, i);
	for (int i = 0; i < 3; i++)
		if (pthread_create(&th[i], NULL, reader_for_a_while, NULL))
			return 20;
	usleep(300000);
	atomic_store(&g_stop, 1);
	for (int i = 0; i < 3; i++) {
		pthread_join(th[i], &ret);
		bad |= ret != NULL;
	}
	cmap_destroy(g_m);
	return bad ? 21 : 0;
}

static void
test_concurrent_readers_no_abort(void **state)
{
	(void)state;
	const char *bs[TU_MAX_BACKENDS];
	size_t n = checked_backends(bs);
	struct child_result r;

	for (size_t b = 0; b < n; b++) {
		g_backend = bs[b];
		g_misuse_opt = NULL;
		run_child(readers_child, (void *)(uintptr_t)0, &r);
		assert_exited_ok(&r);
	}
}

/* A map handed between threads under a mutex is not misuse. */
#define HO_THREADS 4
#define HO_TURNS 300

static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;

static void *
handover_worker(void *arg)
{
	uint64_t t = (uint64_t)(uintptr_t)arg;

	for (int turn = 0; turn < HO_TURNS; turn++) {
		pthread_mutex_lock(&g_mu);
		for (uint64_t i = 0; i < 100; i++) {
			(void)cmap_add(g_m, 0, 1, NULL);
			(void)cmap_store(g_m, t << 32 | i, i);
			(void)cmap_delete(g_m, t << 32 | (i / 2));
		}
		(void)cmap_range(g_m, range_nop, NULL);
		pthread_mutex_unlock(&g_mu);
		sched_yield();
	}
	return NULL;
}

static int
handover_child(void *arg)
{
	pthread_t th[HO_THREADS];
	uint64_t v = 0;

	(void)arg;
	g_m = checked_map(0);
	for (int i = 0; i < HO_THREADS; i++)
		if (pthread_create(&th[i], NULL, handover_worker,
		        (void *)(uintptr_t)(i + 1)))
			return 30;
	for (int i = 0; i < HO_THREADS; i++)
		pthread_join(th[i], NULL);
	if (cmap_load(g_m, 0, &v) != CMAP_OK ||
	    v != (uint64_t)HO_THREADS * HO_TURNS * 100)
		return 31;
	cmap_destroy(g_m);
	return 0;
}

static void
test_handover_no_abort(void **state)
{
	(void)state;
	const char *bs[TU_MAX_BACKENDS];
	size_t n = checked_backends(bs);
	struct child_result r;

	for (size_t b = 0; b < n; b++) {
		g_backend = bs[b];
		g_misuse_opt = NULL;
		run_child(handover_child, NULL, &r);
		assert_exited_ok(&r);
	}
}

/* The detector belongs to the backends that are not thread-safe: the same
 * two writers on a thread-safe backend are simply correct. */
static void *
counted_writer(void *arg)
{
	uint64_t t = (uint64_t)(uintptr_t)arg;

	for (uint64_t i = 0; i < 200000; i++) {
		(void)cmap_store(g_m, t << 32 | (i % 4096), i);
		(void)cmap_add(g_m, 0, 1, NULL);
	}
	return NULL;
}

static int
safe_backend_child(void *arg)
{
	cmap_config_t cfg;
	pthread_t a, b;
	uint64_t v = 0;

	tu_config_init(&cfg, (const char *)arg);
	if (cmap_create(&cfg, &g_m) != CMAP_OK)
		return 40;
	if (pthread_create(&a, NULL, counted_writer, (void *)(uintptr_t)1) ||
	    pthread_create(&b, NULL, counted_writer, (void *)(uintptr_t)2))
		return 41;
	pthread_join(a, NULL);
	pthread_join(b, NULL);
	if (cmap_load(g_m, 0, &v) != CMAP_OK || v != 400000)
		return 42;
	cmap_destroy(g_m);
	return 0;
}

static void
test_thread_safe_backends_no_abort(void **state)
{
	(void)state;
	const char *ts[TU_MAX_BACKENDS];
	size_t n = tu_thread_safe_backends(ts);
	struct child_result r;

	assert_true(n >= 1);
	for (size_t i = 0; i < n; i++) {
		run_child(safe_backend_child, (void *)(uintptr_t)ts[i], &r);
		assert_exited_ok(&r);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_two_writers),
	    cmocka_unit_test(test_reader_beside_writer),
	    cmocka_unit_test(test_range_beside_writer),
	    cmocka_unit_test(test_single_thread_no_abort),
	    cmocka_unit_test(test_concurrent_readers_no_abort),
	    cmocka_unit_test(test_handover_no_abort),
	    cmocka_unit_test(test_thread_safe_backends_no_abort),
	};

	return cmocka_run_group_tests_name("misuse", tests, NULL, NULL);
}
