/*
 * map.c - the default allocator, the map header every backend's struct
 * begins with, and the misuse report: shared pieces under the backends.
 */
#include "metrics.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#if !defined(CMAP_TSAN)
#include <linux/membarrier.h>
#include <sys/syscall.h>
#endif
#include <unistd.h>

/*
 * The default allocator: malloc for small blocks, the kernel for large
 * ones.  glibc keeps freed blocks in its heap for reuse, and the size
 * above which it maps blocks straight from the kernel rises after each
 * free of a mapped block (up to 32 MiB), so the tables a map gives back
 * when it shrinks, churns or migrates would stay resident: measured with
 * test_limits (rss), 3.9 x the map's bytes under lockfree churn and 32 MiB
 * kept once every key of an rwlock map was deleted.  Blocks of at least
 * DEFAULT_MAP_MIN bytes therefore come from mmap and go back with munmap
 * (the free hook gets the block's size); page alignment covers every
 * alignment the library asks for (at most 4096).  Linux: MAP_ANONYMOUS.
 */
#define DEFAULT_MAP_MIN ((size_t)64 << 10)

static void *
default_alloc(void *ctx, size_t size, size_t align)
{
	void *p;

	(void)ctx;
	if (size >= DEFAULT_MAP_MIN) {
		p = mmap(NULL, size, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		return p != MAP_FAILED ? p : NULL;
	}
	if (align < sizeof(void *))
		align = sizeof(void *);
	return posix_memalign(&p, align, size ? size : 1) == 0 ? p : NULL;
}

static void
default_free(void *ctx, void *ptr, size_t size)
{
	(void)ctx;
	if (size >= DEFAULT_MAP_MIN)
		(void)munmap(ptr, size);
	else
		free(ptr);
}

const cmap_allocator_t cmap__default_allocator = {
    default_alloc, default_free, NULL};

bool
cmap__alloc_zeroes(const cmap_allocator_t *a, size_t size)
{
	a = cmap__metrics_inner(a);
	return a->alloc == default_alloc && size >= DEFAULT_MAP_MIN;
}

void
cmap__clear_step(void *block, size_t off, size_t len, bool zeroed)
{
	const uintptr_t page = 4096; /* divides every page size */
	uintptr_t p = (uintptr_t)block + off, end = p + len;

	if (!zeroed) {
		memset((char *)block + off, 0, len);
		return;
	}
	/* The range's first byte, then the first of each later page. */
	for (; p < end; p = (p + page) & ~(page - 1))
		*(volatile char *)p = 0;
}

size_t
cmap__discard(void *block, size_t size, size_t off, size_t len)
{
	const uintptr_t page = 4096; /* a multiple of every page size */
	uintptr_t lo = (uintptr_t)block + off, hi = lo + len;

	/* Any allocator's block: the pages wholly inside [off, off + len)
	 * are ours until the free, and madvise leaves the bytes around them
	 * (the allocator's own headers) alone.  On a shared or locked
	 * mapping it keeps the contents or fails: either way harmless. */
	if (size < DEFAULT_MAP_MIN)
		return off + len;
	lo = (lo + page - 1) & ~(page - 1);
	hi &= ~(page - 1);
	if (hi <= lo)
		return off;
	(void)madvise((void *)lo, hi - lo, MADV_DONTNEED);
	return (size_t)(hi - (uintptr_t)block);
}

bool
cmap__release_step(void *block, size_t size, size_t *released)
{
	size_t n, off;

	if (*released >= size)
		return true;
	n = size - *released < CMAP_RELEASE_STEP ? size - *released
	                                         : CMAP_RELEASE_STEP;
	/* The next step starts at the page the discard stopped short of,
	 * so no page is left resident between two steps. */
	off = cmap__discard(block, size, *released, n);
	*released = off > *released ? off : *released + n;
	return false;
}

/* ---------------------------------------------------------- membarrier */

int
cmap__membarrier_setup(void)
{
#if !defined(CMAP_TSAN)
	long q = syscall(__NR_membarrier, MEMBARRIER_CMD_QUERY, 0, 0);

	if (q < 0 || !(q & MEMBARRIER_CMD_PRIVATE_EXPEDITED))
		return 0;
	return syscall(__NR_membarrier,
	           MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0) == 0;
#else
	return 0;
#endif
}

void
cmap__membarrier(void)
{
#if !defined(CMAP_TSAN)
	(void)syscall(__NR_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0);
#endif
}

/* ------------------------------------------------------------ registry */

void
cmap__registry_add(struct cmap__registry *r, struct cmap__link *l)
{
	pthread_mutex_lock(&r->lock);
	l->prev = NULL;
	l->next = r->head;
	if (r->head != NULL)
		r->head->prev = l;
	r->head = l;
	pthread_mutex_unlock(&r->lock);
}

void
cmap__registry_remove(struct cmap__registry *r, struct cmap__link *l)
{
	pthread_mutex_lock(&r->lock);
	if (l->prev != NULL)
		l->prev->next = l->next;
	else if (r->head == l)
		r->head = l->next;
	if (l->next != NULL)
		l->next->prev = l->prev;
	l->prev = l->next = NULL;
	pthread_mutex_unlock(&r->lock);
}

void
cmap__registry_each(struct cmap__registry *r,
    void (*fn)(struct cmap__link *l, void *arg), void *arg)
{
	pthread_mutex_lock(&r->lock);
	for (struct cmap__link *l = r->head; l != NULL; l = l->next)
		fn(l, arg);
	pthread_mutex_unlock(&r->lock);
}

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

void
cmap__copy_sized(void *dst, size_t size, const void *src, size_t have)
{
	memcpy(dst, src, size < have ? size : have);
	if (size > have)
		memset((char *)dst + have, 0, size - have);
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
