/*
 * map.c - the map header every backend's struct begins with, and the
 * misuse report: shared pieces under the backends.
 */
#include "internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void *
cmap__map_new(const struct cmap__create_args *args, size_t size)
{
	struct cmap *m = cmap__alloc(&args->allocator, size, CMAP_CACHE_LINE);

	if (m == NULL)
		return NULL;
	memset(m, 0, size);
	m->allocator = args->allocator;
	m->seed = args->seed;
	m->self_size = size;
	return m;
}

void
cmap__map_free(cmap_t *map)
{
	cmap_allocator_t a = map->allocator;

	cmap__free(&a, map, map->self_size);
}

void
cmap__misuse(const cmap_t *map, const char *what)
{
	char line[256];
	int n = snprintf(line, sizeof line,
	    "cmap: fatal error: %s (backend %s, map %p)\n", what,
	    map->be != NULL ? map->be->name : "?", (const void *)map);

	if (n > 0) {
		ssize_t w = write(STDERR_FILENO, line,
		    (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
		(void)w;
	}
	abort();
}

/* ------------------------------------------------------- error detail */

/*
 * The detail of the last failed create or config call, per thread (the
 * one piece of per-thread state of the front end besides the update
 * frames of cmap.c).  Written only on failure paths.
 */
static _Thread_local char last_error[256];

cmap_status_t
cmap__fail(cmap_status_t st, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	(void)vsnprintf(last_error, sizeof last_error, fmt, ap);
	va_end(ap);
	return st;
}

const char *
cmap_last_error(void)
{
	return last_error;
}

/* ------------------------------------------------------------ batches */

cmap_status_t
cmap__batch_result(size_t n, const cmap_status_t *status)
{
	for (size_t i = 0; i < n; i++)
		if (CMAP_UNLIKELY(cmap_is_error(status[i])))
			return status[i];
	return CMAP_OK;
}
