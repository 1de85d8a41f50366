/*
 * registry.c - the one list of backends.
 *
 * Adding a backend: one line in CMAP__BACKENDS below (and its file in
 * src/CMakeLists.txt).  A backend built only when its package is present
 * wraps its line in CMAP__IF(CMAP_HAVE_<NAME>, ...), where CMAP_HAVE_<NAME>
 * is 0 or 1 from CMake.  The order of the list is that of
 * cmap_backend_at().
 */
#include "internal.h"

#include <string.h>

#define CMAP__BACKENDS(X)                                                      \
	X(plain)                                                               \
	X(rwlock)                                                              \
	X(sharded)                                                             \
	X(readmostly)                                                          \
	CMAP__IF(CMAP_HAVE_LOCKFREE, X(lockfree))                              \
	CMAP__IF(CMAP_HAVE_LMDB, X(lmdb))                                      \
	CMAP__IF(CMAP_HAVE_REDIS, X(redis))

#define CMAP__IF(cond, ...) CMAP__IF_(cond, __VA_ARGS__)
#define CMAP__IF_(cond, ...) CMAP__IF_##cond(__VA_ARGS__)
#define CMAP__IF_0(...)
#define CMAP__IF_1(...) __VA_ARGS__

#define DECLARE_(name)                                                         \
	CMAP_HIDDEN extern const struct cmap__backend cmap__##name##_backend;
#define ENTRY_(name) &cmap__##name##_backend,

CMAP__BACKENDS(DECLARE_)

static const struct cmap__backend *const registry[] = {CMAP__BACKENDS(ENTRY_)};

#define N_BACKENDS (sizeof registry / sizeof registry[0])

const struct cmap__backend *
cmap__backend_at(size_t index)
{
	return index < N_BACKENDS ? registry[index] : NULL;
}

const struct cmap__backend *
cmap__backend_find(const char *name)
{
	for (size_t i = 0; i < N_BACKENDS; i++)
		if (strcmp(registry[i]->name, name) == 0)
			return registry[i];
	return NULL;
}
