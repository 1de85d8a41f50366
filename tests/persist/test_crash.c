/*
 * test_crash.c - the crash test of persistent backends (CMAP_CAP_PERSISTENT
 * with option "path"), for each value of the option "durability".
 *
 * A child process opens the map and runs 4 writer threads; each reports
 * every acknowledged write (a store or a delete that returned) on a pipe.
 * The parent kills the child with SIGKILL at a random moment (0 to 40 ms
 * after the fork, so some kills land while the map is being opened), 100
 * times per mode (CMAP_CRASH_KILLS), on the same directory.  After each
 * kill it opens the map and checks:
 *   - every acknowledged write is there (the value stored, or the key
 *     absent after a delete), unless the writer's one write in flight
 *     (its next, unacknowledged operation, which is deterministic) hit
 *     the same key and took effect;
 *   - nothing is invented: a full range sees exactly those entries;
 *   - len equals what the range saw.
 * The state found becomes the model of the next round.  nosync gets the
 * same checks: after a process crash the kernel still holds every write
 * that returned (what a power cut does to nosync is not tested here).
 * Plain C program: exits non-zero on failure; prints the counts.
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "testutil.h"

#define NW 4     /* writer threads in the child */
#define KEYS 256 /* keys per writer */
#define MAX_OPS (1L << 22)

struct ack {
	uint32_t thread;
	uint32_t pad;
	uint64_t seq; /* the writer's operation number */
};

/* Operation `seq` of writer t in round r: its key, whether it deletes,
 * and the value it stores. */
static uint64_t
op_key(uint32_t t, uint64_t seq)
{
	return ((uint64_t)t + 1) << 32 | (seq * 37 % KEYS);
}

static bool
op_deletes(uint64_t seq)
{
	return seq % 7 == 3;
}

static uint64_t
op_value(uint32_t round, uint32_t t, uint64_t seq)
{
	return (uint64_t)round << 40 | (uint64_t)t << 32 | seq;
}

/* ------------------------------------------------------------ child */

struct child {
	cmap_t *m;
	int fd;
	uint32_t round;
};

static void
writer(int t, void *arg)
{
	struct child *c = arg;

	for (uint64_t seq = 0; seq < MAX_OPS; seq++) {
		uint64_t k = op_key((uint32_t)t, seq);
		cmap_status_t s = op_deletes(seq)
		    ? cmap_delete(c->m, k)
		    : cmap_store(c->m, k, op_value(c->round, (uint32_t)t, seq));
		struct ack a = {(uint32_t)t, 0, seq};

		if (cmap_is_error(s) ||
		    write(c->fd, &a, sizeof a) != (ssize_t)sizeof a)
			_exit(3);
	}
}

static void
child_main(const cmap_config_t *cfg, int fd, uint32_t round)
{
	struct child c = {NULL, fd, round};

	if (cmap_create(cfg, &c.m) != CMAP_OK)
		_exit(2);
	tu_run_threads(NW, writer, &c);
	_exit(0);
}

/* ----------------------------------------------------------- parent */

struct round_acks {
	int64_t last[NW]; /* last acknowledged seq per writer, -1 = none */
	long n;
};

static void
take_acks(struct round_acks *ra, char *buf, size_t *have)
{
	size_t i = 0;

	for (; i + sizeof(struct ack) <= *have; i += sizeof(struct ack)) {
		struct ack a;

		memcpy(&a, buf + i, sizeof a);
		if (a.thread < NW && (int64_t)a.seq > ra->last[a.thread])
			ra->last[a.thread] = (int64_t)a.seq;
		ra->n++;
	}
	memmove(buf, buf + i, *have - i);
	*have -= i;
}

/* Read acks until `ms` have passed (or the pipe is closed), kill the
 * child, then read the rest. */
static void
run_round(int fd, pid_t pid, int ms, struct round_acks *ra)
{
	char buf[65536];
	size_t have = 0;
	double end = tu_now_s() + ms / 1000.0;
	bool killed = false;

	for (;;) {
		int left = (int)((end - tu_now_s()) * 1000);
		struct pollfd p = {fd, POLLIN, 0};
		ssize_t r;

		if (!killed && left <= 0) {
			kill(pid, SIGKILL);
			killed = true;
		}
		if (!killed && poll(&p, 1, left) == 0)
			continue;
		r = read(fd, buf + have, sizeof buf - have);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		have += (size_t)r;
		take_acks(ra, buf, &have);
	}
	if (!killed)
		kill(pid, SIGKILL);
}

struct seen {
	struct tu_model *found;
	bool ok;
};

static bool
collect(uint64_t key, uint64_t value, void *ctx)
{
	struct seen *s = ctx;
	uint64_t v;

	if (tu_model_get(s->found, key, &v))
		s->ok = false; /* visited twice */
	tu_model_put(s->found, key, value);
	return true;
}

/* The model after round r: md with each writer's acknowledged ops. */
static void
apply_acks(struct tu_model *md, const struct round_acks *ra, uint32_t r)
{
	for (uint32_t t = 0; t < NW; t++)
		for (int64_t seq = 0; seq <= ra->last[t]; seq++) {
			uint64_t k = op_key(t, (uint64_t)seq);

			if (op_deletes((uint64_t)seq))
				(void)tu_model_del(md, k);
			else
				tu_model_put(
				    md, k, op_value(r, t, (uint64_t)seq));
		}
}

/* Whether key's state in `found` is what writer t's in-flight op would
 * leave. */
static bool
in_flight_explains(const struct round_acks *ra, uint32_t r, uint64_t key,
    bool present, uint64_t v)
{
	for (uint32_t t = 0; t < NW; t++) {
		uint64_t seq = (uint64_t)(ra->last[t] + 1);

		if (op_key(t, seq) != key)
			continue;
		if (op_deletes(seq) ? !present
		                    : present && v == op_value(r, t, seq))
			return true;
	}
	return false;
}

/*
 * Open the map, read it all, compare with the model; returns false on a
 * violation (printed).  *flight counts keys where an unacknowledged write
 * had taken effect.  md becomes the state found.
 */
static bool
check_round(const cmap_config_t *cfg, struct tu_model *md,
    const struct round_acks *ra, uint32_t r, long *flight)
{
	struct tu_model found;
	struct seen s = {&found, true};
	cmap_t *m = NULL;
	cmap_status_t st = cmap_create(cfg, &m);
	bool ok = true;

	if (st != CMAP_OK) {
		printf("crash: round %u: reopen: %s (%s)\n", r,
		    cmap_status_name(st), cmap_last_error());
		return false;
	}
	tu_model_init(&found);
	apply_acks(md, ra, r);
	st = cmap_range(m, collect, &s);
	if (st != CMAP_OK || !s.ok || cmap_len(m) != found.len) {
		printf("crash: round %u: range %s, once %d, len %zu vs %zu\n",
		    r, cmap_status_name(st), s.ok, cmap_len(m), found.len);
		ok = false;
	}
	/* every key of either side: found == model, or the in-flight op */
	for (int side = 0; side < 2 && ok; side++) {
		const struct tu_model *a = side ? &found : md;

		for (size_t i = 0; i < a->len && ok; i++) {
			uint64_t k = a->keys[i], vm = 0, vf = 0;
			bool pm = tu_model_get(md, k, &vm);
			bool pf = tu_model_get(&found, k, &vf);

			if (pm == pf && vm == vf)
				continue;
			if (in_flight_explains(ra, r, k, pf, vf)) {
				*flight += side == 0;
				continue;
			}
			printf("crash: round %u: key %#" PRIx64 ": model %s "
			       "%#" PRIx64 ", found %s %#" PRIx64 "\n",
			    r, k, pm ? "has" : "lacks", vm,
			    pf ? "has" : "lacks", vf);
			ok = false;
		}
	}
	cmap_destroy(m);
	tu_model_clear(md);
	for (size_t i = 0; i < found.len; i++)
		tu_model_put(md, found.keys[i], found.vals[i]);
	tu_model_fini(&found);
	return ok;
}

static bool
crash_mode(const char *b, const char *mode, long kills, tu_rng_t *rng)
{
	cmap_config_t cfg;
	struct tu_model md;
	long acked = 0, flight = 0, no_ack = 0;
	bool ok = true;
	double t0 = tu_now_s();

	tu_config_init(&cfg, b);
	if (tu_option(b, "durability", NULL))
		(void)cmap_config_set(&cfg, "durability", mode);
	tu_model_init(&md);
	for (long k = 0; k < kills && ok; k++) {
		struct round_acks ra = {{-1, -1, -1, -1}, 0};
		int p[2], status;
		pid_t pid;

		if (pipe(p) != 0)
			abort();
		fflush(stdout);
		pid = fork();
		if (pid == 0) {
			close(p[0]);
			child_main(&cfg, p[1], (uint32_t)k + 1);
		}
		close(p[1]);
		run_round(p[0], pid, (int)tu_rng_below(rng, 41), &ra);
		close(p[0]);
		waitpid(pid, &status, 0);
		if (!WIFSIGNALED(status)) {
			printf("crash: %s/%s: the child exited (%d) before "
			       "the kill\n",
			    b, mode, WEXITSTATUS(status));
			ok = false;
			break;
		}
		acked += ra.n;
		no_ack += ra.n == 0;
		ok = check_round(&cfg, &md, &ra, (uint32_t)k + 1, &flight);
	}
	/* A round killed before its first acknowledgement checks nothing
	 * new: most rounds must have some (8 to 20 in 100 have none here). */
	if (ok && (acked == 0 || no_ack > kills / 2)) {
		printf("crash: %s/%s: %ld of %ld kills came before the first "
		       "acknowledged write: too few writes were checked\n",
		    b, mode, no_ack, kills);
		ok = false;
	}
	printf("crash: %-6s %-6s kills=%ld acknowledged-writes=%ld "
	       "kills-before-first-ack=%ld unacknowledged-writes-found=%ld "
	       "entries-at-end=%zu %s %.1fs\n",
	    b, mode, kills, acked, no_ack, flight, md.len, ok ? "ok" : "FAILED",
	    tu_now_s() - t0);
	tu_model_fini(&md);
	return ok;
}

int
main(void)
{
	static const char *const modes[] = {"sync", "group", "nosync"};
	const char *bs[TU_MAX_BACKENDS];
	size_t nb = tu_backends_with(CMAP_CAP_PERSISTENT, bs);
	const char *env = getenv("CMAP_CRASH_KILLS");
	long kills = env != NULL ? atol(env) : 100;
	tu_rng_t rng = {(uint64_t)time(NULL)};
	int failed = 0;

	printf("crash: seed %" PRIu64 "\n", rng.s);
	for (size_t i = 0; i < nb; i++) {
		if (!tu_option(bs[i], "path", NULL))
			continue;
		for (size_t d = 0; d < 3; d++)
			if (!crash_mode(bs[i], modes[d], kills, &rng))
				failed = 1;
	}
	printf("SUMMARY crash: %zu persistent backends, %ld kills per mode; "
	       "%s\n",
	    nb, kills, failed ? "FAILED" : "ok");
	return failed;
}
