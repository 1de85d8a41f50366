/*
 * metrics_server.c - two maps with metrics, a small workload in threads,
 * and their metrics served as Prometheus text on GET /metrics, with
 * cmap_advise()'s advice for each map, one line each, on GET /advice.
 *
 *   cmap_example_metrics_server [PORT [SECONDS]]
 *
 * PORT 0 (the default) picks a free port.  Once the workload is done it
 * prints "listening on 127.0.0.1:PORT" and serves HTTP/1.0 on the
 * loopback address only, until GET /quit or SECONDS (default 30) have
 * passed.  The workload is fixed, so a scraper knows what to expect: each
 * of THREADS threads, all running at once, on each map, stores KEYS keys of its
 * own (inserted), stores them again (overwritten), loads each twice (found) and
 * KEYS absent keys (not found), calls load_or_store on its keys (found) and on
 * KEYS new ones (inserted), and compare_and_swap with a wrong expected
 * value on each of its keys (mismatch).
 */
#include <cmap.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define THREADS 2
#define KEYS 1000u

static cmap_t *maps[2];
static pthread_barrier_t together; /* the workers overlap: the maps see
                                      THREADS threads at once */

static void *
worker(void *arg)
{
	uint64_t base = (uint64_t)(uintptr_t)arg * 1000000u, v;

	pthread_barrier_wait(&together);
	for (int m = 0; m < 2; m++) {
		cmap_t *map = maps[m];

		for (uint64_t k = base; k < base + KEYS; k++) {
			(void)cmap_store(map, k, k);
			(void)cmap_store(map, k, k + 1);
		}
		for (int pass = 0; pass < 2; pass++)
			for (uint64_t k = base; k < base + KEYS; k++)
				(void)cmap_load(map, k, &v);
		for (uint64_t k = base; k < base + KEYS; k++)
			(void)cmap_load(map, k + 500000u, &v);
		for (uint64_t k = base; k < base + KEYS; k++) {
			(void)cmap_load_or_store(map, k, 0, &v);
			(void)cmap_load_or_store(map, k + 600000u, 0, &v);
		}
		for (uint64_t k = base; k < base + KEYS; k++)
			(void)cmap_compare_and_swap(map, k, 0, 1);
	}
	pthread_barrier_wait(&together);
	return NULL;
}

static cmap_t *
make(const char *backend)
{
	cmap_config_t c;
	cmap_t *m;

	cmap_config_init(&c);
	c.backend = backend;
	c.flags |= CMAP_FLAG_METRICS;
	if (cmap_create(&c, &m) != CMAP_OK) {
		fprintf(stderr, "cmap_create(%s): %s\n", backend,
		    cmap_last_error());
		exit(1);
	}
	return m;
}

/* cmap_metrics_expose's writer: into the connection. */
static int
to_socket(void *ctx, const char *text, size_t len)
{
	int fd = *(int *)ctx;

	while (len > 0) {
		ssize_t n = write(fd, text, len);

		if (n <= 0)
			return 1;
		text += n;
		len -= (size_t)n;
	}
	return 0;
}

/* "sessions: use lockfree (...)\n" for each map, into the connection. */
static void
advise(int fd, const cmap_metrics_source_t *src, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		cmap_profile_t p;
		cmap_advice_t a;
		char line[sizeof a.text + 64];
		int len;

		if (cmap_profile(src[i].map, &p) != CMAP_OK ||
		    cmap_advise(&p, NULL, &a) != CMAP_OK)
			len = snprintf(line, sizeof line, "%s: %s\n",
			    src[i].labels[0].value, cmap_last_error());
		else
			len = snprintf(line, sizeof line, "%s: %s\n",
			    src[i].labels[0].value, a.text);
		if (to_socket(&fd, line, (size_t)len) != 0)
			return;
	}
}

/* One request; returns 1 after GET /quit. */
static int
serve(int fd)
{
	static const cmap_metrics_label_t sessions[] = {{"map", "sessions"}};
	static const cmap_metrics_label_t cache[] = {{"map", "cache"}};
	const cmap_metrics_source_t src[2] = {
	    {maps[0], sessions, 1}, {maps[1], cache, 1}};
	char req[1024];
	size_t got = 0;
	const char *hdr;
	int quit = 0;

	/* Read the request line (the rest of the request is ignored). */
	while (got < sizeof req - 1 && memchr(req, '\n', got) == NULL) {
		struct pollfd p = {fd, POLLIN, 0};
		ssize_t n;

		if (poll(&p, 1, 2000) <= 0)
			return 0;
		n = read(fd, req + got, sizeof req - 1 - got);
		if (n <= 0)
			return 0;
		got += (size_t)n;
	}
	req[got] = '\0';
	if (strncmp(req, "GET /metrics ", 13) == 0) {
		hdr =
		    "HTTP/1.0 200 OK\r\nContent-Type: text/plain; "
		    "version=0.0.4; charset=utf-8\r\nConnection: close\r\n\r\n";
		if (to_socket(&fd, hdr, strlen(hdr)) == 0)
			(void)cmap_metrics_expose(src, 2, to_socket, &fd);
	} else if (strncmp(req, "GET /advice ", 12) == 0) {
		hdr = "HTTP/1.0 200 OK\r\nContent-Type: text/plain; "
		      "charset=utf-8\r\nConnection: close\r\n\r\n";
		if (to_socket(&fd, hdr, strlen(hdr)) == 0)
			advise(fd, src, 2);
	} else {
		quit = strncmp(req, "GET /quit ", 10) == 0;
		hdr = quit ? "HTTP/1.0 200 OK\r\nConnection: close\r\n\r\nbye\n"
		           : "HTTP/1.0 404 Not Found\r\nConnection: "
		             "close\r\n\r\nnot found\n";
		(void)to_socket(&fd, hdr, strlen(hdr));
	}
	return quit;
}

int
main(int argc, char **argv)
{
	int port = argc > 1 ? atoi(argv[1]) : 0;
	int seconds = argc > 2 ? atoi(argv[2]) : 30;
	pthread_t th[THREADS];
	struct sockaddr_in a;
	socklen_t alen = sizeof a;
	time_t end;
	int ls, one = 1;

	maps[0] = make(cmap_backend_available(CMAP_BACKEND_LOCKFREE)
	        ? CMAP_BACKEND_LOCKFREE
	        : CMAP_BACKEND_SHARDED);
	maps[1] = make(CMAP_BACKEND_RWLOCK);
	pthread_barrier_init(&together, NULL, THREADS);
	for (int i = 0; i < THREADS; i++)
		pthread_create(
		    &th[i], NULL, worker, (void *)(uintptr_t)(i + 1));
	for (int i = 0; i < THREADS; i++)
		pthread_join(th[i], NULL);
	pthread_barrier_destroy(&together);

	ls = socket(AF_INET, SOCK_STREAM, 0);
	memset(&a, 0, sizeof a);
	a.sin_family = AF_INET;
	a.sin_port = htons((uint16_t)port);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	(void)setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (ls < 0 || bind(ls, (struct sockaddr *)&a, sizeof a) != 0 ||
	    listen(ls, 8) != 0 ||
	    getsockname(ls, (struct sockaddr *)&a, &alen) != 0) {
		perror("metrics_server: listen");
		return 1;
	}
	printf("listening on 127.0.0.1:%d\n", ntohs(a.sin_port));
	fflush(stdout);
	end = time(NULL) + seconds;
	for (;;) {
		struct pollfd p = {ls, POLLIN, 0};
		time_t now = time(NULL);
		int fd;

		if (now >= end)
			break;
		if (poll(&p, 1, (int)(end - now) * 1000) <= 0)
			continue;
		fd = accept(ls, NULL, NULL);
		if (fd < 0)
			continue;
		if (serve(fd)) {
			close(fd);
			break;
		}
		close(fd);
	}
	close(ls);
	cmap_destroy(maps[0]);
	cmap_destroy(maps[1]);
	return 0;
}
