/*
 * test_failover.c - a Redis Cluster master killed under a write workload:
 * its replica is promoted, the backend finds the new owner of the slots
 * by itself, and no acknowledged write is lost.
 *
 * A private cluster of 3 masters and 3 replicas (tests/redis/servers.sh
 * start DIR cluster: cluster-node-timeout 1 s), so that the suites using
 * the cluster tests/run.sh started never see the failover.  Three threads
 * store fresh keys on a map with "replicas" 1 (each write confirmed by a
 * replica with WAIT: without it, a write the master acknowledged but had
 * not yet sent to its replica would be lost by the failover, which
 * asynchronous replication allows).  Then, while they run:
 *   1. SIGKILL a master;
 *   2. wait until its replica reports the master role (promoted);
 *   3. start the killed node again on its files: it rejoins as the new
 *      master's replica; wait until its link is up;
 *   4. let the writers run one more second, and stop them.
 * Checked: every call returned a success or CMAP_EUNAVAILABLE /
 * CMAP_EINDOUBT (cmap.h, REMOTE) with a message, none took longer than a
 * bound derived from the timeouts (10 s), the kill was seen, every write that
 * returned a success loads back with its value, and once the cluster is
 * healed stores to every bucket succeed again (the slot map followed).
 */
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "testutil.h"

#define NT 3
#define MAX_KEYS 200000 /* per thread */
#define BATCH 1000

static const char *g_backend;
static char g_dir[256];
static char g_servers[600];

/* Run a shell command; its first output line into out (when not NULL). */
static int
sh(char *out, size_t n, const char *fmt, ...)
{
	char cmd[1024];
	va_list ap;
	FILE *p;
	int rc;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof cmd, fmt, ap);
	va_end(ap);
	if ((p = popen(cmd, "r")) == NULL)
		return -1;
	if (out != NULL && fgets(out, (int)n, p) == NULL)
		out[0] = '\0';
	if (out != NULL)
		out[strcspn(out, "\r\n")] = '\0';
	while (fgetc(p) != EOF)
		;
	rc = pclose(p);
	return rc;
}

static int
cluster_up(void **state)
{
	(void)state;
	char line[600];

	const char *root = getenv("CMAP_TEST_REDIS_DIR");

	/* under tests/run.sh's directory, whose exit trap stops what a
	 * killed test left running */
	snprintf(g_dir, sizeof g_dir, "%s/failover-%ld",
	    root != NULL ? root : "/tmp", (long)getpid());
	if (sh(NULL, 0, "%s start %s cluster >/dev/null", CMAP_SERVERS_SH,
	        g_dir) != 0)
		return -1;
	if (sh(line, sizeof line,
	        "sed -n 's/^CMAP_TEST_REDIS_CLUSTER=//p' %s/env", g_dir) != 0 ||
	    line[0] == '\0')
		return -1;
	snprintf(g_servers, sizeof g_servers, "%s", line);
	return 0;
}

static int
cluster_down(void **state)
{
	(void)state;
	return sh(NULL, 0, "%s stop %s", CMAP_SERVERS_SH, g_dir) == 0 ? 0 : -1;
}

/* `redis-cli -p port ROLE`: its line `n` (1: the role), into out. */
static void
role_line(int port, int n, char *out, size_t len)
{
	(void)sh(
	    out, len, "redis-cli -p %d role 2>/dev/null | sed -n %dp", port, n);
}

/* Wait (at most 30 s: a loaded machine syncs a replica slowly) until
 * `cmd` prints `want` as its first line. */
static bool
wait_for(const char *want, const char *fmt, int port)
{
	char out[128];

	for (double t0 = tu_now_s(); tu_now_s() - t0 < 30;) {
		(void)sh(out, sizeof out, fmt, port);
		if (strcmp(out, want) == 0)
			return true;
		usleep(50 * 1000);
	}
	return false;
}

struct writer {
	cmap_t *m;
	atomic_bool stop;
	uint64_t acked[NT][MAX_KEYS]; /* keys whose store succeeded */
	size_t n_acked[NT];
	atomic_long unavailable, indoubt, other;
	_Atomic double worst;
};

static uint64_t
val_of(uint64_t key)
{
	return key * UINT64_C(0x9e3779b97f4a7c15) ^ 0xabc;
}

static void
write_worker(int t, void *arg)
{
	struct writer *w = arg;

	for (uint64_t j = 0; !atomic_load(&w->stop) && w->n_acked[t] < MAX_KEYS;
	     j++) {
		uint64_t key = (uint64_t)(t + 1) << 40 | j;
		double t0 = tu_now_s(), dt, worst;
		cmap_status_t st = cmap_store(w->m, key, val_of(key));

		dt = tu_now_s() - t0;
		worst = atomic_load(&w->worst);
		while (dt > worst &&
		    !atomic_compare_exchange_weak(&w->worst, &worst, dt))
			;
		if (st == CMAP_INSERTED) {
			w->acked[t][w->n_acked[t]++] = key;
			continue;
		}
		if (st == CMAP_EUNAVAILABLE)
			atomic_fetch_add(&w->unavailable, 1);
		else if (st == CMAP_EINDOUBT)
			atomic_fetch_add(&w->indoubt, 1);
		else {
			fprintf(stderr, "store: %s (%s)\n",
			    cmap_status_name(st), cmap_last_error());
			atomic_fetch_add(&w->other, 1);
		}
		usleep(1000); /* a dead node refuses at once: do not spin */
	}
}

struct driver {
	struct writer *w;
	int master, replica;
	bool promoted, rejoined;
	double t_promoted, t_rejoined;
};

/* Kill a master, wait for the failover, bring the node back as a replica,
 * then stop the writers. */
static void *
drive(void *arg)
{
	struct driver *d = arg;
	char pid[32];
	double t0;

	usleep(500 * 1000);
	(void)sh(pid, sizeof pid, "cat %s/%d/pid", g_dir, d->master);
	t0 = tu_now_s();
	(void)sh(NULL, 0, "kill -9 %s", pid);
	d->promoted = wait_for(
	    "master", "redis-cli -p %d role 2>/dev/null | head -1", d->replica);
	d->t_promoted = tu_now_s() - t0;
	if (d->promoted &&
	    sh(NULL, 0, "%s restart %s %d", CMAP_SERVERS_SH, g_dir,
	        d->master) == 0)
		d->rejoined = wait_for("master_link_status:up",
		    "redis-cli -p %d info replication 2>/dev/null | tr -d "
		    "'\\r' | grep master_link_status",
		    d->master);
	d->t_rejoined = tu_now_s() - t0;
	sleep(1);
	atomic_store(&d->w->stop, true);
	return NULL;
}

/* Every acknowledged key loads back with its value. */
static size_t
check_acked(cmap_t *m, const struct writer *w)
{
	static uint64_t out[BATCH];
	static cmap_status_t st[BATCH];
	size_t total = 0;

	for (int t = 0; t < NT; t++)
		for (size_t i = 0; i < w->n_acked[t]; i += BATCH) {
			size_t n = w->n_acked[t] - i < BATCH ? w->n_acked[t] - i
			                                     : BATCH;

			assert_int_equal(
			    cmap_load_batch(m, n, &w->acked[t][i], out, st),
			    CMAP_OK);
			for (size_t k = 0; k < n; k++) {
				assert_int_equal(st[k], CMAP_OK);
				assert_true(
				    out[k] == val_of(w->acked[t][i + k]));
			}
			total += n;
		}
	return total;
}

static void
test_failover(void **state)
{
	(void)state;
	static struct writer w;
	struct driver d = {.w = &w};
	cmap_config_t cfg;
	char line[64];
	pthread_t t;

	memset(&w, 0, sizeof w);
	tu_config_init(&cfg, g_backend);
	assert_int_equal(cmap_config_set(&cfg, "servers", g_servers), CMAP_OK);
	assert_int_equal(cmap_config_set(&cfg, "replicas", "1"), CMAP_OK);
	assert_int_equal(cmap_config_set(&cfg, "buckets", "64"), CMAP_OK);
	/* (WAIT gets half of it: room for a replica on a loaded machine) */
	assert_int_equal(cmap_config_set(&cfg, "timeout_ms", "2000"), CMAP_OK);
	assert_int_equal(
	    cmap_config_set(&cfg, "connect_timeout_ms", "300"), CMAP_OK);
	w.m = tu_create_cfg(&cfg);
	/* the first node of the list is a master (redis-cli --cluster
	 * create makes the first three masters); its replica from ROLE */
	d.master = atoi(strchr(g_servers, ':') + 1);
	role_line(d.master, 1, line, sizeof line);
	assert_string_equal(line, "master");
	for (int i = 0; i < 100 && d.replica <= 0; i++, usleep(50 * 1000)) {
		role_line(d.master, 4, line, sizeof line);
		d.replica = atoi(line);
	}
	assert_true(d.replica > 0);

	assert_int_equal(pthread_create(&t, NULL, drive, &d), 0);
	tu_run_threads(NT, write_worker, &w);
	assert_int_equal(pthread_join(t, NULL), 0);
	size_t acked = check_acked(w.m, &w);
	print_message("    killed master %d: replica %d promoted after %.2f s, "
	              "old master a replica again after %.2f s; %zu stores "
	              "acknowledged, %ld EUNAVAILABLE, %ld EINDOUBT, worst "
	              "call %.3f s\n",
	    d.master, d.replica, d.t_promoted, d.t_rejoined, acked,
	    atomic_load(&w.unavailable), atomic_load(&w.indoubt),
	    atomic_load(&w.worst));
	assert_true(d.promoted);
	assert_true(d.rejoined);
	assert_int_equal(atomic_load(&w.other), 0);
	assert_true(atomic_load(&w.unavailable) + atomic_load(&w.indoubt) > 0);
	/* A call waits at most for the command timeout on each of a few
	 * hops (the dead node refuses at once on loopback, and a broken
	 * connection answers EOF at once); 10 s is far beyond what it
	 * takes and far below a hang. */
	assert_true(atomic_load(&w.worst) < 10.0);
	/* healed: stores on every bucket succeed, through the new owner */
	for (uint64_t k = 1; k <= 2000; k++)
		assert_int_equal(cmap_store(w.m, k, val_of(k)), CMAP_INSERTED);
	cmap_destroy(w.m);
}

int
main(void)
{
	const char *remote[TU_MAX_BACKENDS];
	size_t n = tu_backends_with(CMAP_CAP_REMOTE, remote);
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(
	        test_failover, cluster_up, cluster_down),
	};
	int failed = 0, ran = 0;

	for (size_t i = 0; i < n; i++) {
		g_backend = remote[i];
		/* a backend that cannot confirm writes on replicas has
		 * nothing to promise here */
		if (!tu_option(remote[i], "replicas", NULL))
			continue;
		failed +=
		    cmocka_run_group_tests_name(remote[i], tests, NULL, NULL);
		ran++;
	}
	if (ran == 0) { /* skipped (ctest: SKIP_RETURN_CODE), not passed */
		printf("no remote backend with replicas runnable here: "
		       "nothing to test\n");
		return 77;
	}
	return failed != 0;
}
