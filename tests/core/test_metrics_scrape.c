/*
 * test_metrics_scrape.c - start examples/metrics_server.c, scrape GET
 * /metrics over a loopback socket, and check what it serves: the status
 * line, each family's HELP and TYPE, the labels, and counts that match
 * the example's fixed workload; GET /advice, a line of cmap_advise() per
 * map; then `promtool check metrics` on the body when promtool is
 * installed (exit 77, skipped, when it is not and every other check
 * passed).
 *
 *   test_metrics_scrape PATH-OF-cmap_example_metrics_server
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

/* The example's workload: THREADS threads of KEYS keys, per map. */
#define THREADS 2
#define KEYS 1000

static int failures;

#define CHECK(cond, ...)                                                       \
	do {                                                                   \
		if (!(cond)) {                                                 \
			fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);   \
			fprintf(stderr, __VA_ARGS__);                          \
			fputc('\n', stderr);                                   \
			failures++;                                            \
		}                                                              \
	} while (0)

/* GET path from 127.0.0.1:port; the whole response, malloc'ed. */
static char *
get(int port, const char *path)
{
	struct sockaddr_in a;
	char req[128], *buf = NULL;
	size_t len = 0, cap = 0;
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	ssize_t n;

	memset(&a, 0, sizeof a);
	a.sin_family = AF_INET;
	a.sin_port = htons((uint16_t)port);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
		perror("connect");
		exit(1);
	}
	n = snprintf(req, sizeof req, "GET %s HTTP/1.0\r\n\r\n", path);
	if (write(fd, req, (size_t)n) != n)
		exit(1);
	for (;;) {
		if (cap - len < 4096) {
			cap = cap ? 2 * cap : 65536;
			buf = realloc(buf, cap + 1);
			if (buf == NULL)
				exit(1);
		}
		n = read(fd, buf + len, cap - len);
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	buf[len] = '\0';
	return buf;
}

/* The value of the series line that starts with `series` (exact). */
static long long
value_of(const char *body, const char *series)
{
	size_t n = strlen(series);

	for (const char *p = body; (p = strstr(p, series)) != NULL; p += n)
		if ((p == body || p[-1] == '\n') && p[n] == ' ')
			return atoll(p + n + 1);
	return -1;
}

static int
count_of(const char *body, const char *s)
{
	int c = 0;

	for (const char *p = body; (p = strstr(p, s)) != NULL; p++)
		c++;
	return c;
}

static void
check_map(const char *body, const char *labels)
{
	static const struct {
		const char *op, *result;
		long long n;
	} want[] = {
	    {"store", "inserted", THREADS * KEYS},
	    {"store", "ok", THREADS * KEYS},
	    {"load", "ok", 2 * THREADS * KEYS},
	    {"load", "not_found", THREADS * KEYS},
	    {"load_or_store", "ok", THREADS * KEYS},
	    {"load_or_store", "inserted", THREADS * KEYS},
	    {"compare_and_swap", "mismatch", THREADS * KEYS},
	    {"compare_and_swap", "ok", 0},
	};
	char s[512];
	long long count, inf;

	for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
		snprintf(s, sizeof s,
		    "map_operations_total{%s,op=\"%s\",result=\"%s\"}", labels,
		    want[i].op, want[i].result);
		CHECK(value_of(body, s) == want[i].n, "%s = %lld, want %lld", s,
		    value_of(body, s), want[i].n);
	}
	/* The histogram: cumulative, +Inf == _count, at least one sample
	 * per thread (each thread's first call of a kind is timed), fewer
	 * than the calls (1 in 64). */
	snprintf(s, sizeof s,
	    "map_operation_duration_seconds_count{%s,op=\"load\"}", labels);
	count = value_of(body, s);
	snprintf(s, sizeof s,
	    "map_operation_duration_seconds_bucket{%s,op=\"load\",le=\"+Inf\"}",
	    labels);
	inf = value_of(body, s);
	CHECK(count == inf && count >= THREADS && count < 3 * THREADS * KEYS,
	    "load: _count %lld, +Inf bucket %lld", count, inf);
	snprintf(s, sizeof s, "map_entries{%s}", labels);
	CHECK(value_of(body, s) == 2 * THREADS * KEYS, "%s = %lld", s,
	    value_of(body, s));
	snprintf(s, sizeof s, "map_bytes{%s}", labels);
	CHECK(value_of(body, s) > 0, "%s = %lld", s, value_of(body, s));
	snprintf(s, sizeof s, "map_threads{%s}", labels);
	CHECK(value_of(body, s) == 0, "%s = %lld (the workers exited)", s,
	    value_of(body, s));
}

int
main(int argc, char **argv)
{
	static const char *const families[] = {
	    "map_operation_duration_seconds histogram",
	    "map_operations_total counter", "map_lock_contended_total counter",
	    "map_lock_wait_seconds_total counter", "map_resizes_total counter",
	    "map_migration_seconds_total counter", "map_entries gauge",
	    "map_bytes gauge", "map_threads gauge",
	    "map_metrics_dropped_total counter"};
	int out[2], port = 0, st;
	char line[128], *resp, *adv, *body, tmpl[] = "/tmp/cmap-metrics.XXXXXX";
	FILE *f;
	pid_t pid;

	if (argc != 2) {
		fprintf(stderr, "usage: %s METRICS_SERVER\n", argv[0]);
		return 2;
	}
	if (pipe(out) != 0)
		return 1;
	pid = fork();
	if (pid == 0) {
		dup2(out[1], STDOUT_FILENO);
		close(out[0]);
		execl(argv[1], argv[1], "0", "60", (char *)NULL);
		_exit(127);
	}
	close(out[1]);
	f = fdopen(out[0], "r");
	if (f == NULL || fgets(line, sizeof line, f) == NULL ||
	    sscanf(line, "listening on 127.0.0.1:%d", &port) != 1) {
		fprintf(stderr, "FAIL: the server did not start\n");
		kill(pid, SIGKILL);
		return 1;
	}
	resp = get(port, "/metrics");
	CHECK(strncmp(resp, "HTTP/1.0 200 OK\r\n", 17) == 0, "status: %.40s",
	    resp);
	CHECK(strstr(resp, "Content-Type: text/plain; version=0.0.4") != NULL,
	    "no text/plain 0.0.4 content type");
	body = strstr(resp, "\r\n\r\n");
	CHECK(body != NULL, "no end of headers");
	if (body == NULL)
		return 1;
	body += 4;
	for (size_t i = 0; i < sizeof families / sizeof families[0]; i++) {
		char t[128], h[128];

		snprintf(t, sizeof t, "# TYPE %s\n", families[i]);
		snprintf(h, sizeof h, "# HELP %.*s ",
		    (int)(strchr(families[i], ' ') - families[i]), families[i]);
		CHECK(count_of(body, t) == 1 && count_of(body, h) == 1,
		    "family '%s': TYPE %d times, HELP %d times", families[i],
		    count_of(body, t), count_of(body, h));
	}
	{
		char impl[64];
		const char *p = strstr(body, "impl_type=\"");

		/* The first map: lockfree or sharded, whichever was built. */
		CHECK(p != NULL, "no impl_type label");
		if (p != NULL) {
			char labels[160];

			sscanf(p + 11, "%63[^\"]", impl);
			snprintf(labels, sizeof labels,
			    "impl_type=\"%s\",shard_count=\"%s\","
			    "map=\"sessions\"",
			    impl, strcmp(impl, "sharded") == 0 ? "32" : "1");
			check_map(body, labels);
		}
		check_map(body,
		    "impl_type=\"rwlock\",shard_count=\"1\",map=\"cache\"");
	}
	/* The advice of each map: both written by THREADS threads at once,
	 * half their calls writes, so not plain. */
	adv = get(port, "/advice");
	CHECK(
	    strncmp(adv, "HTTP/1.0 200 OK\r\n", 17) == 0, "advice: %.40s", adv);
	for (int m = 0; m < 2; m++) {
		char want[96];
		const char *at;

		snprintf(want, sizeof want, "\n%s: use ",
		    m == 0 ? "sessions" : "cache");
		at = strstr(adv, want);
		CHECK(at != NULL, "no advice line '%s' in: %s", want + 1, adv);
		if (at == NULL)
			continue;
		CHECK(strncmp(at + strlen(want), "plain", 5) != 0 &&
		        strstr(at, "2 threads at once") != NULL &&
		        strstr(at, "50.0% writes") != NULL,
		    "advice: %.200s", at + 1);
	}
	free(adv);
	free(get(port, "/quit"));
	waitpid(pid, &st, 0);
	CHECK(
	    WIFEXITED(st) && WEXITSTATUS(st) == 0, "server exit status %d", st);
	if (failures > 0) {
		fprintf(stderr, "--- body ---\n%s", body);
		return 1;
	}
	/* promtool, when installed: the exposition must pass its lint. */
	if (system("command -v promtool >/dev/null 2>&1") != 0) {
		printf("content checks passed; promtool not installed: "
		       "skipped\n");
		return 77;
	}
	{
		int fd = mkstemp(tmpl);
		char cmd[256];
		size_t n = strlen(body);
		int rc;

		if (fd < 0 || write(fd, body, n) != (ssize_t)n)
			return 1;
		close(fd);
		snprintf(cmd, sizeof cmd, "promtool check metrics < %s", tmpl);
		rc = system(cmd);
		unlink(tmpl);
		CHECK(rc == 0, "promtool check metrics failed (%d)", rc);
	}
	free(resp);
	printf("%s\n", failures ? "FAILED" : "passed");
	return failures != 0;
}
