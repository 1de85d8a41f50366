/*
 * test_persist.c - what a persistent backend (CMAP_CAP_PERSISTENT, option
 * "path") promises beyond the contract suite, over every such backend of
 * the build and each value of its option "durability":
 *
 *   reopen     entries written, closed and opened again are all there,
 *              len exact (nosync after cmap_sync and after close);
 *   threads    4 threads adding to one key and storing private keys (the
 *              group-commit path under concurrency): nothing lost;
 *   growth     a map created with the smallest map_size takes 50,000
 *              keys: the size grows (stats.grows), no insert fails;
 *   processes  a child process opens the same directory while this one
 *              has it open, writes, and this process reads the write;
 *   bad input  bad option values (EINVAL naming the option), a path that
 *              is a file, a directory that cannot be written (EIO), a
 *              second open in one process, also through a symlink
 *              (EBUSY), a garbage file and a foreign LMDB environment
 *              (ECORRUPT); each with a message, nothing changed;
 *   full disk  a 1 MiB tmpfs mounted for the test (root only), else a
 *              child with RLIMIT_FSIZE: inserts fail with ENOSPC, change
 *              nothing, and work again once there is room.
 *
 * "modes" runs reopen, threads, growth and processes (label stress: the
 * ThreadSanitizer build runs it); "faults" runs the rest.  Plain C
 * program: exits non-zero on failure.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <signal.h>
#include <unistd.h>

#include "testutil.h"

static int failed;

#define CHECK(cond, ...)                                                       \
	do {                                                                   \
		if (!(cond)) {                                                 \
			printf("persist: FAIL %s:%d: ", __FILE__, __LINE__);   \
			printf(__VA_ARGS__);                                   \
			printf(" (last error: %s)\n", cmap_last_error());      \
			failed = 1;                                            \
		}                                                              \
	} while (0)

static const char *const modes[] = {"sync", "group", "nosync"};

/* A config of backend b in a fresh directory (its path in dir[4096]),
 * with durability `mode` when the backend takes that option. */
static void
cfg_mode(cmap_config_t *cfg, const char *b, const char *mode, char *dir)
{
	tu_config_init(cfg, b);
	snprintf(dir, 4096, "%s", cmap_config_get(cfg, "path"));
	if (mode != NULL && tu_option(b, "durability", NULL))
		(void)cmap_config_set(cfg, "durability", mode);
}

static cmap_t *
open_cfg(const cmap_config_t *cfg)
{
	cmap_t *m = NULL;
	cmap_status_t s = cmap_create(cfg, &m);

	if (s != CMAP_OK) {
		printf("persist: cmap_create(%s): %s: %s\n", cfg->backend,
		    cmap_status_name(s), cmap_last_error());
		exit(1);
	}
	return m;
}

/* ------------------------------------------------------------- modes */

static void
test_reopen(const char *b, const char *mode)
{
	cmap_config_t cfg;
	char dir[4096];
	uint64_t v;
	cmap_t *m;

	cfg_mode(&cfg, b, mode, dir);
	m = open_cfg(&cfg);
	for (uint64_t k = 0; k < 2000; k++)
		CHECK(
		    cmap_store(m, k * 0x9e3779b97f4a7c15u, ~k) == CMAP_INSERTED,
		    "%s/%s store", b, mode);
	CHECK(cmap_sync(m) == CMAP_OK, "%s/%s sync", b, mode);
	for (uint64_t k = 0; k < 100; k++)
		CHECK(cmap_delete(m, k * 0x9e3779b97f4a7c15u) == CMAP_OK,
		    "%s/%s delete", b, mode);
	cmap_destroy(m);
	m = open_cfg(&cfg);
	CHECK(cmap_len(m) == 1900, "%s/%s: len %zu after reopen", b, mode,
	    cmap_len(m));
	for (uint64_t k = 0; k < 2000; k++) {
		cmap_status_t s = cmap_load(m, k * 0x9e3779b97f4a7c15u, &v);

		CHECK(k < 100 ? s == CMAP_NOT_FOUND : s == CMAP_OK && v == ~k,
		    "%s/%s: key %llu after reopen: %s", b, mode,
		    (unsigned long long)k, cmap_status_name(s));
	}
	cmap_destroy(m);
}

struct th_ctx {
	cmap_t *m;
	long ops;
};

static void
th_worker(int t, void *arg)
{
	struct th_ctx *c = arg;

	for (long i = 0; i < c->ops; i++) {
		(void)cmap_add(c->m, 7, 1, NULL);
		(void)cmap_store(
		    c->m, ((uint64_t)t + 1) << 32 | (uint64_t)i, (uint64_t)i);
	}
}

static void
test_threads(const char *b, const char *mode)
{
	struct th_ctx c = {NULL, tu_scaled(300)};
	cmap_config_t cfg;
	char dir[4096];
	uint64_t v = 0;

	cfg_mode(&cfg, b, mode, dir);
	c.m = open_cfg(&cfg);
	tu_run_threads(4, th_worker, &c);
	cmap_destroy(c.m);
	c.m = open_cfg(&cfg);
	CHECK(cmap_load(c.m, 7, &v) == CMAP_OK && v == 4 * (uint64_t)c.ops,
	    "%s/%s: the shared counter is %llu, want %ld", b, mode,
	    (unsigned long long)v, 4 * c.ops);
	CHECK(cmap_len(c.m) == 1 + 4 * (size_t)c.ops, "%s/%s: len %zu", b, mode,
	    cmap_len(c.m));
	cmap_destroy(c.m);
}

static void
test_growth(const char *b)
{
	enum { N = 50000, B = 500 };
	static uint64_t keys[B], vals[B];
	static cmap_status_t st[B];
	cmap_option_info_t o;
	cmap_config_t cfg;
	cmap_stats_t s;
	char dir[4096], min[32];
	cmap_t *m;

	if (!tu_option(b, "map_size", &o))
		return;
	cfg_mode(&cfg, b, NULL, dir);
	snprintf(min, sizeof min, "%llu", (unsigned long long)o.min);
	(void)cmap_config_set(&cfg, "map_size", min);
	m = open_cfg(&cfg);
	for (size_t i = 0; i < N; i += B) {
		for (size_t j = 0; j < B; j++) {
			keys[j] = (i + j) * 0x9e3779b97f4a7c15u;
			vals[j] = i + j;
		}
		CHECK(cmap_store_batch(m, B, keys, vals, st) == CMAP_OK,
		    "%s: store batch at %zu", b, i);
	}
	CHECK(cmap_stats(m, &s) == CMAP_OK && s.len == N && s.grows > 0,
	    "%s: len %llu, grows %llu from map_size %s", b,
	    (unsigned long long)s.len, (unsigned long long)s.grows, min);
	printf("persist: %s: %d keys from map_size %s: %llu growths\n", b, N,
	    min, (unsigned long long)s.grows);
	cmap_destroy(m);
}

static void
test_processes(const char *b)
{
	cmap_config_t cfg;
	char dir[4096];
	uint64_t v = 0;
	int status;
	cmap_t *m;
	pid_t pid;

	cfg_mode(&cfg, b, NULL, dir);
	m = open_cfg(&cfg);
	CHECK(cmap_store(m, 1, 10) == CMAP_INSERTED, "%s: store", b);
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		cmap_t *c = NULL;
		uint64_t w = 0;

		if (cmap_create(&cfg, &c) != CMAP_OK ||
		    cmap_load(c, 1, &w) != CMAP_OK || w != 10 ||
		    cmap_store(c, 2, 20) != CMAP_INSERTED)
			_exit(1);
		cmap_destroy(c);
		_exit(0);
	}
	CHECK(pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status) &&
	        WEXITSTATUS(status) == 0,
	    "%s: the second process could not open, read or write", b);
	CHECK(cmap_load(m, 2, &v) == CMAP_OK && v == 20,
	    "%s: the other process's write is not seen", b);
	CHECK(cmap_len(m) == 2, "%s: len %zu", b, cmap_len(m));
	cmap_destroy(m);
}

/* -------------------------------------------------------- bad input */

/* cmap_create(cfg) fails with want and a message holding `culprit`. */
static void
expect_fail(const cmap_config_t *cfg, cmap_status_t want, const char *culprit,
    const char *what)
{
	cmap_t *m = (cmap_t *)(uintptr_t)0x1234;
	cmap_status_t s = cmap_create(cfg, &m);

	CHECK(s == want && m == (cmap_t *)(uintptr_t)0x1234 &&
	        strstr(cmap_last_error(), culprit) != NULL,
	    "%s: %s, want %s naming '%s'", what, cmap_status_name(s),
	    cmap_status_name(want), culprit);
	if (s == CMAP_OK)
		cmap_destroy(m);
}

static void
test_bad_options(const char *b)
{
	cmap_config_t cfg;
	char dir[4096], file[4200];

	if (tu_option(b, "durability", NULL)) {
		cfg_mode(&cfg, b, "fsync-ish", dir);
		expect_fail(&cfg, CMAP_EINVAL, "durability", "durability");
	}
	cfg_mode(&cfg, b, NULL, dir);
	(void)cmap_config_set(&cfg, "path", "");
	expect_fail(&cfg, CMAP_EINVAL, "path", "empty path");
	/* a path that is a file */
	cfg_mode(&cfg, b, NULL, dir);
	snprintf(file, sizeof file, "%s/file", dir);
	close(open(file, O_CREAT | O_WRONLY, 0644));
	(void)cmap_config_set(&cfg, "path", file);
	expect_fail(&cfg, CMAP_EINVAL, "not a directory", "path is a file");
	/* a directory whose parent does not exist */
	snprintf(file, sizeof file, "%s/no/such/dir", dir);
	(void)cmap_config_set(&cfg, "path", file);
	expect_fail(&cfg, CMAP_EIO, "no/such/dir", "missing parent");
}

/* Drop the capabilities that let root write anywhere (this process is a
 * child that exits after one check). */
static bool
drop_dac_override(void)
{
	struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};
	struct __user_cap_data_struct d[2];

	if (syscall(SYS_capget, &h, d) != 0)
		return false;
	d[0].effective &= ~((1u << CAP_DAC_OVERRIDE) |
	    (1u << CAP_DAC_READ_SEARCH) | (1u << CAP_FOWNER));
	return syscall(SYS_capset, &h, d) == 0;
}

static void
test_unwritable(const char *b)
{
	cmap_config_t cfg;
	char dir[4096];
	int status;
	pid_t pid;

	cfg_mode(&cfg, b, NULL, dir);
	CHECK(chmod(dir, 0555) == 0, "chmod %s", dir);
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		cmap_t *m = NULL;
		cmap_status_t s;

		if (geteuid() == 0 && !drop_dac_override())
			_exit(2);
		s = cmap_create(&cfg, &m);
		if (s == CMAP_EIO && strstr(cmap_last_error(), dir) != NULL &&
		    strstr(cmap_last_error(), "not writable") != NULL)
			_exit(0);
		printf("persist: read-only directory: %s (%s)\n",
		    cmap_status_name(s), cmap_last_error());
		_exit(1);
	}
	CHECK(waitpid(pid, &status, 0) == pid && WIFEXITED(status) &&
	        WEXITSTATUS(status) != 1,
	    "%s: a read-only directory did not give EIO, 'not writable'", b);
	if (WIFEXITED(status) && WEXITSTATUS(status) == 2)
		printf("persist: %s: read-only directory not tested (cannot "
		       "drop CAP_DAC_OVERRIDE)\n",
		    b);
	(void)chmod(dir, 0700);
}

static void
test_busy(const char *b)
{
	cmap_config_t cfg, link_cfg;
	char dir[4096], link[4200];
	cmap_t *m, *again;

	cfg_mode(&cfg, b, NULL, dir);
	m = open_cfg(&cfg);
	CHECK(cmap_store(m, 5, 50) == CMAP_INSERTED, "%s: store", b);
	expect_fail(&cfg, CMAP_EBUSY, "already open", "second open");
	snprintf(link, sizeof link, "%s.link", dir);
	CHECK(symlink(dir, link) == 0, "symlink");
	link_cfg = cfg;
	(void)cmap_config_set(&link_cfg, "path", link);
	expect_fail(&link_cfg, CMAP_EBUSY, "already open", "open by symlink");
	cmap_destroy(m);
	again = open_cfg(&link_cfg);
	CHECK(cmap_len(again) == 1, "%s: len %zu after EBUSY", b,
	    cmap_len(again));
	cmap_destroy(again);
	(void)unlink(link);
}

/* Write `bytes` bytes of `c` at the start of dir/name. */
static void
scribble(const char *dir, const char *name, int c, size_t bytes, bool trunc)
{
	char path[4200], buf[8192];
	int fd;

	snprintf(path, sizeof path, "%s/%s", dir, name);
	fd = open(path, O_WRONLY | O_CREAT | (trunc ? O_TRUNC : 0), 0644);
	memset(buf, c, sizeof buf);
	CHECK(fd >= 0 && bytes <= sizeof buf &&
	        write(fd, buf, bytes) == (ssize_t)bytes,
	    "write %s", path);
	close(fd);
}

static void
test_corrupt(const char *b)
{
	cmap_config_t cfg;
	char dir[4096];
	cmap_t *m;

	/* a text file where the data file belongs */
	cfg_mode(&cfg, b, NULL, dir);
	scribble(dir, "data.mdb", 'x', 100, true);
	expect_fail(&cfg, CMAP_ECORRUPT, dir, "text file");
	/* a real map whose two header pages were overwritten */
	cfg_mode(&cfg, b, NULL, dir);
	m = open_cfg(&cfg);
	CHECK(cmap_store(m, 1, 1) == CMAP_INSERTED, "store");
	cmap_destroy(m);
	scribble(dir, "data.mdb", 0x5a, 8192, false);
	expect_fail(&cfg, CMAP_ECORRUPT, dir, "overwritten header");
	/* an LMDB environment that some other program made */
	cfg_mode(&cfg, b, NULL, dir);
	{
		MDB_env *env;
		MDB_txn *t;
		MDB_dbi dbi;
		MDB_val k = {5, "hello"}, v = {5, "world"};

		CHECK(mdb_env_create(&env) == 0 &&
		        mdb_env_open(env, dir, 0, 0644) == 0 &&
		        mdb_txn_begin(env, NULL, 0, &t) == 0 &&
		        mdb_dbi_open(t, NULL, 0, &dbi) == 0 &&
		        mdb_put(t, dbi, &k, &v, 0) == 0 &&
		        mdb_txn_commit(t) == 0,
		    "a foreign environment");
		mdb_env_close(env);
	}
	expect_fail(&cfg, CMAP_ECORRUPT, "not a libcmap map", "foreign env");
}

/* -------------------------------------------------------- full disk */

/*
 * Fill the map in dir until an insert fails: ENOSPC, the key absent,
 * every earlier key there; free `room` (a file to delete) and insert
 * again.  Returns the number of keys stored.
 */
static long
fill_until_full(const char *b, const char *dir, const char *room)
{
	cmap_config_t cfg;
	cmap_t *m;
	cmap_status_t s = CMAP_OK;
	uint64_t k, v;
	long n = 0;

	tu_config_init(&cfg, b);
	(void)cmap_config_set(&cfg, "path", dir);
	m = open_cfg(&cfg);
	for (k = 1; k < 10000000; k++) {
		s = cmap_store(m, k * 0x9e3779b97f4a7c15u, k);
		if (s != CMAP_INSERTED)
			break;
		n++;
	}
	CHECK(s == CMAP_ENOSPC && strstr(cmap_last_error(), dir) != NULL,
	    "%s: a full disk gave %s", b, cmap_status_name(s));
	CHECK(cmap_load(m, k * 0x9e3779b97f4a7c15u, &v) == CMAP_NOT_FOUND,
	    "%s: the failed insert is visible", b);
	CHECK(cmap_len(m) == (size_t)n, "%s: len %zu, want %ld", b, cmap_len(m),
	    n);
	for (uint64_t j = 1; j < k; j += 97)
		CHECK(cmap_load(m, j * 0x9e3779b97f4a7c15u, &v) == CMAP_OK &&
		        v == j,
		    "%s: key %llu lost on a full disk", b,
		    (unsigned long long)j);
	CHECK(unlink(room) == 0, "unlink %s", room);
	CHECK(cmap_store(m, k * 0x9e3779b97f4a7c15u, k) == CMAP_INSERTED,
	    "%s: no insert after space was freed: %s", b, cmap_last_error());
	cmap_destroy(m);
	return n;
}

static void
test_full_disk(const char *b)
{
	char mnt[4096], dir[4200], room[4200];
	cmap_config_t cfg;
	int status;
	pid_t pid;

	cfg_mode(&cfg, b, NULL, mnt);
	snprintf(dir, sizeof dir, "%s/map", mnt);
	snprintf(room, sizeof room, "%s/room", mnt);
	if (mount("tmpfs", mnt, "tmpfs", 0, "size=1m") == 0) {
		/* 256 KiB held by a file, given back once the map is full */
		scribble(mnt, "room", 0, 8192, true);
		for (int i = 0; i < 31; i++) {
			int fd = open(room, O_WRONLY | O_APPEND);
			char buf[8192] = {0};

			CHECK(fd >= 0 &&
			        write(fd, buf, sizeof buf) ==
			            (ssize_t)sizeof buf,
			    "room");
			close(fd);
		}
		printf("persist: %s: full disk (1 MiB tmpfs): %ld keys\n", b,
		    fill_until_full(b, dir, room));
		CHECK(umount(mnt) == 0, "umount %s", mnt);
		return;
	}
	/* No mount (not root): a child whose file size limit is 1 MiB. */
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		struct rlimit rl = {1 << 20, 1 << 20};

		signal(SIGXFSZ, SIG_IGN);
		scribble(mnt, "room", 0, 1, true);
		if (setrlimit(RLIMIT_FSIZE, &rl) != 0)
			_exit(2);
		printf("persist: %s: full disk (RLIMIT_FSIZE 1 MiB, mount: "
		       "%s): %ld keys\n",
		    b, strerror(errno), fill_until_full(b, dir, room));
		_exit(failed);
	}
	CHECK(waitpid(pid, &status, 0) == pid && WIFEXITED(status) &&
	        WEXITSTATUS(status) == 0,
	    "%s: full disk child", b);
}

int
main(int argc, char **argv)
{
	const char *bs[TU_MAX_BACKENDS];
	size_t nb = tu_backends_with(CMAP_CAP_PERSISTENT, bs);
	bool all = argc < 2;
	double t0 = tu_now_s();

	for (size_t i = 0; i < nb; i++) {
		const char *b = bs[i];

		if (!tu_option(b, "path", NULL))
			continue;
		if (all || strcmp(argv[1], "modes") == 0) {
			for (size_t d = 0; d < 3; d++) {
				test_reopen(b, modes[d]);
				test_threads(b, modes[d]);
			}
			test_growth(b);
			test_processes(b);
		}
		if (all || strcmp(argv[1], "faults") == 0) {
			test_bad_options(b);
			test_unwritable(b);
			test_busy(b);
			test_corrupt(b);
			test_full_disk(b);
		}
	}
	printf("SUMMARY persist: %zu persistent backends; %s; %.1fs\n", nb,
	    failed ? "FAILED" : "ok", tu_now_s() - t0);
	return failed;
}
