/*
 * test_remote.c - every CMAP_CAP_REMOTE backend shared by two processes,
 * and under faults.
 *
 *   two processes   a forked child and the parent, each with threads, add
 *                   to the same counters (values near 2^64, so the sums
 *                   wrap) and compare-and-swap one token around: the
 *                   totals must be exact, and no token handed out twice;
 *   server killed   a private redis-server with appendfsync always is
 *                   SIGKILLed during a store workload: every call returns
 *                   a success or EUNAVAILABLE / EINDOUBT / EIO within
 *                   timeout_ms (+ the connect timeout), nothing hangs; after
 *                   a restart on the same files the map works again and
 *                   every store that returned a success is there.
 *
 * The server of the fault test is started here (not by tests/run.sh),
 * because it is killed.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "testutil.h"

#define THREADS 4
#define ADDS 300
#define KEYS 8

static const char *g_backend;

static void
shared_config(cmap_config_t *cfg, const char *ns)
{
	tu_config_init(cfg, g_backend);
	assert_int_equal(cmap_config_set(cfg, "namespace", ns), CMAP_OK);
	/* the default bucket count (the other suites use 16) */
	assert_int_equal(cmap_config_set(cfg, "buckets", "1024"), CMAP_OK);
}

struct adder {
	cmap_t *m;
	atomic_int tokens; /* CAS wins of this process */
};

static void
add_worker(int i, void *arg)
{
	struct adder *a = arg;

	for (int n = 0; n < ADDS; n++) {
		uint64_t r;
		/* deltas near 2^64: the sum wraps many times */
		cmap_status_t st = cmap_add(a->m, (uint64_t)(n + i) % KEYS,
		    UINT64_MAX - (uint64_t)i, &r);

		assert_false(cmap_is_error(st));
		/* the token: 0 -> 1 by CAS, handed back by CAS */
		if (cmap_compare_and_swap(a->m, UINT64_MAX, 0, 1) == CMAP_OK) {
			atomic_fetch_add(&a->tokens, 1);
			assert_int_equal(
			    cmap_compare_and_swap(a->m, UINT64_MAX, 1, 0),
			    CMAP_OK);
		}
	}
}

/* One process's share: THREADS threads adding; returns its CAS wins. */
static int
run_adders(const char *ns)
{
	cmap_config_t cfg;
	struct adder a;

	shared_config(&cfg, ns);
	a.m = tu_create_cfg(&cfg);
	atomic_init(&a.tokens, 0);
	tu_run_threads(THREADS, add_worker, &a);
	cmap_destroy(a.m);
	return atomic_load(&a.tokens);
}

static void
test_two_processes(void **state)
{
	(void)state;
	char ns[64];
	cmap_config_t cfg;
	int status, pipefd[2];
	pid_t child;
	cmap_t *m;

	snprintf(ns, sizeof ns, "remote2p-%ld", (long)getpid());
	shared_config(&cfg, ns);
	m = tu_create_cfg(&cfg);
	assert_int_equal(cmap_clear(m), CMAP_OK);
	assert_int_equal(cmap_store(m, UINT64_MAX, 0), CMAP_INSERTED);
	assert_int_equal(pipe(pipefd), 0);
	child = fork();
	assert_true(child >= 0);
	if (child == 0) {
		int wins = run_adders(ns);
		ssize_t w = write(pipefd[1], &wins, sizeof wins);

		_exit(w == sizeof wins ? 0 : 1);
	}
	int wins = run_adders(ns), child_wins = -1;
	assert_int_equal(waitpid(child, &status, 0), child);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	assert_int_equal(read(pipefd[0], &child_wins, sizeof child_wins),
	    (ssize_t)sizeof child_wins);
	close(pipefd[0]);
	close(pipefd[1]);
	/* every add of both processes is in the sums, modulo 2^64 */
	uint64_t want[KEYS] = {0};
	for (int p = 0; p < 2; p++)
		for (int i = 0; i < THREADS; i++)
			for (int n = 0; n < ADDS; n++)
				want[(uint64_t)(n + i) % KEYS] +=
				    UINT64_MAX - (uint64_t)i;
	for (uint64_t k = 0; k < KEYS; k++) {
		uint64_t v = 0;

		assert_int_equal(cmap_load(m, k, &v), CMAP_OK);
		assert_true(v == want[k]);
	}
	/* the token came back every time it was taken */
	uint64_t tok = 1;
	assert_int_equal(cmap_load(m, UINT64_MAX, &tok), CMAP_OK);
	assert_true(tok == 0);
	assert_true(wins + child_wins > 0);
	assert_int_equal(cmap_len(m), KEYS + 1);
	assert_int_equal(cmap_clear(m), CMAP_OK);
	cmap_destroy(m);
}

/* ---- a private server, to be killed ---- */

struct server {
	pid_t pid;
	int port;
	char dir[256];
};

static int
free_port(void)
{
	/* a port the kernel hands out for a bind to 0: free a moment ago */
	int fd = socket(AF_INET, SOCK_STREAM, 0), port;
	struct sockaddr_in a = {.sin_family = AF_INET};
	socklen_t len = sizeof a;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	port = ntohs(a.sin_port);
	close(fd);
	return port;
}

static void
server_start(struct server *s)
{
	char port[16];

	snprintf(port, sizeof port, "%d", s->port);
	s->pid = fork();
	assert_true(s->pid >= 0);
	if (s->pid == 0) {
		execlp(CMAP_REDIS_SERVER_BIN, CMAP_REDIS_SERVER_BIN, "--port",
		    port, "--bind", "127.0.0.1", "--dir", s->dir, "--save", "",
		    "--appendonly", "yes", "--appendfsync", "always",
		    "--logfile", "log", "--pidfile", "pid", (char *)NULL);
		_exit(127);
	}
}

static void
server_kill(struct server *s)
{
	if (s->pid > 0) {
		kill(s->pid, SIGKILL);
		waitpid(s->pid, NULL, 0);
	}
	s->pid = 0;
}

/* The fault test's server, ended by its teardown even when the test
 * fails (no server may outlive the run). */
static struct server g_server;

static int
server_teardown(void **state)
{
	char cmd[300];

	(void)state;
	server_kill(&g_server);
	if (g_server.dir[0] != '\0') {
		snprintf(cmd, sizeof cmd, "rm -rf %s", g_server.dir);
		if (system(cmd) != 0)
			return -1;
	}
	return 0;
}

/* Create a map on s, waiting for it to come up (at most 10 s). */
static cmap_t *
server_map(const struct server *s)
{
	char addr[64];
	cmap_config_t cfg;
	cmap_t *m = NULL;

	snprintf(addr, sizeof addr, "127.0.0.1:%d", s->port);
	for (int i = 0; i < 200; i++) {
		tu_config_init(&cfg, g_backend);
		assert_int_equal(
		    cmap_config_set(&cfg, "servers", addr), CMAP_OK);
		assert_int_equal(
		    cmap_config_set(&cfg, "namespace", "faults"), CMAP_OK);
		assert_int_equal(
		    cmap_config_set(&cfg, "timeout_ms", "500"), CMAP_OK);
		assert_int_equal(
		    cmap_config_set(&cfg, "connect_timeout_ms", "300"),
		    CMAP_OK);
		if (cmap_create(&cfg, &m) == CMAP_OK)
			return m;
		assert_string_not_equal(cmap_last_error(), "");
		usleep(50 * 1000);
	}
	fail_msg("server on port %d did not come up", s->port);
	return NULL;
}

static void *
killer(void *arg)
{
	struct server *s = arg;

	usleep(300 * 1000);
	server_kill(s);
	usleep(700 * 1000);
	server_start(s);
	return NULL;
}

static void
test_server_killed(void **state)
{
	(void)state;
	enum { N = 4000 };
	struct server *sv = &g_server;
	static unsigned char acked[N];
	size_t errors = 0, after = 0;
	double worst = 0;
	pthread_t t;
	cmap_t *m;

	memset(acked, 0, sizeof acked);
	const char *root = getenv("CMAP_TEST_REDIS_DIR");

	/* under tests/run.sh's directory, whose exit trap stops a server a
	 * killed test left running (by its pid file) */
	snprintf(sv->dir, sizeof sv->dir, "%s/faults-%ld",
	    root != NULL ? root : "/tmp", (long)getpid());
	assert_int_equal(mkdir(sv->dir, 0700), 0);
	sv->port = free_port();
	server_start(sv);
	m = server_map(sv);
	assert_int_equal(pthread_create(&t, NULL, killer, sv), 0);
	for (uint64_t i = 0; i < N; i++) {
		double t0 = tu_now_s();
		cmap_status_t st = cmap_store(m, i, i * 3);
		double dt = tu_now_s() - t0;

		worst = dt > worst ? dt : worst;
		if (st == CMAP_INSERTED || st == CMAP_OK) {
			acked[i] = 1;
			after += errors > 0;
		} else {
			assert_true(st == CMAP_EUNAVAILABLE ||
			    st == CMAP_EINDOUBT || st == CMAP_EIO);
			assert_string_not_equal(cmap_last_error(), "");
			errors++;
		}
		if (errors == 0 || after == 0)
			usleep(500); /* spread the first stores over the kill */
	}
	assert_int_equal(pthread_join(t, NULL), 0);
	print_message(
	    "    %zu errors, %zu stores after them, worst call %.3f s\n",
	    errors, after, worst);
	assert_true(errors > 0); /* the kill was seen */
	assert_true(after > 0);  /* and the map reconnected by itself */
	/* bounded: timeout_ms + connect_timeout_ms, and slack for load */
	assert_true(worst < 0.5 + 0.3 + 1.0);
	/* appendfsync always: no acknowledged store lost */
	for (uint64_t i = 0; i < N; i++) {
		uint64_t v = 0;

		if (!acked[i])
			continue;
		assert_int_equal(cmap_load(m, i, &v), CMAP_OK);
		assert_true(v == i * 3);
	}
	cmap_destroy(m);
}

int
main(void)
{
	const char *remote[TU_MAX_BACKENDS];
	size_t n = tu_backends_with(CMAP_CAP_REMOTE, remote);
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_two_processes),
	    cmocka_unit_test_teardown(test_server_killed, server_teardown),
	};
	int failed = 0;

	for (size_t i = 0; i < n; i++) {
		g_backend = remote[i];
		failed +=
		    cmocka_run_group_tests_name(remote[i], tests, NULL, NULL);
	}
	if (n == 0) { /* skipped (ctest: SKIP_RETURN_CODE), not passed */
		printf("no remote backend runnable here: nothing to test\n");
		return 77;
	}
	return failed != 0;
}
