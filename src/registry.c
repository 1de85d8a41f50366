/*
 * registry.c - which backend implements which enum value.
 *
 * Adding a backend: one line here (and its enum value in cmap.h).
 */
#include "internal.h"

CMAP_HIDDEN extern const struct cmap_backend_ops cmap__plain_ops;
CMAP_HIDDEN extern const struct cmap_backend_ops cmap__rwlock_ops;
CMAP_HIDDEN extern const struct cmap_backend_ops cmap__sharded_ops;
#if CMAP_HAVE_LOCKFREE
CMAP_HIDDEN extern const struct cmap_backend_ops cmap__lockfree_ops;
#endif

static const struct cmap_backend_ops *const registry[CMAP_BACKEND_COUNT_] = {
	[CMAP_BACKEND_PLAIN] = &cmap__plain_ops,
	[CMAP_BACKEND_RWLOCK] = &cmap__rwlock_ops,
	[CMAP_BACKEND_SHARDED] = &cmap__sharded_ops,
#if CMAP_HAVE_LOCKFREE
	[CMAP_BACKEND_LOCKFREE] = &cmap__lockfree_ops,
#endif
};

const struct cmap_backend_ops *
cmap__backend_ops(cmap_backend_t backend)
{
	if ((unsigned)backend >= CMAP_BACKEND_COUNT_)
		return NULL;
	return registry[backend];
}

const char *
cmap_backend_name(cmap_backend_t backend)
{
	const struct cmap_backend_ops *ops = cmap__backend_ops(backend);

	return ops != NULL ? ops->name : NULL;
}
