/*
 * config.c - the front end's configuration: defaults, options as text,
 * and the resolution of a config into what a backend's create() gets.
 *
 * OPTIONS are kept inside the config as "name\0value\0" pairs, so a config
 * is a plain value (copy it with =, keep it on the stack) that owns no
 * memory.  They are checked only at create time, against the backend
 * chosen then: the name must be one of the generic ones below or one the
 * backend declares, and the value must parse as the declared type and lie
 * in its range.  Every failure names the option in cmap_last_error().
 *
 * Two typed fields predate options and stand for one each where the
 * backend declares it: `shards` (when non-zero) for "shards", and
 * CMAP_FLAG_NO_MISUSE_CHECK for misuse_check=false.  An option set by
 * name wins over its typed field.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

/* Where the fields of 1.0 end: the smallest size a caller may pass.
 * Fields appended later lie between this and sizeof(cmap_config_t); in
 * 1.0 the two are equal (the struct has no tail padding). */
#define CONFIG_V1_SIZE                                                         \
	(offsetof(cmap_config_t, options_) + CMAP_CONFIG_OPTION_BYTES)
_Static_assert(CONFIG_V1_SIZE == sizeof(cmap_config_t),
    "cmap_config_t 1.0 must end with no padding");
#define KNOWN_FLAGS ((uint32_t)CMAP_FLAG_NO_MISUSE_CHECK)

/* ------------------------------------------------------------ defaults */

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

void
cmap_config_init_sized(cmap_config_t *config, size_t size)
{
	if (config == NULL || size < CONFIG_V1_SIZE)
		return;
	/* The caller's struct may be larger than ours (a newer header):
	 * its fields we do not know are zero, their default. */
	memset(config, 0, size);
	config->size = size;
	config->shards = CMAP_DEFAULT_SHARDS;
}

/* ------------------------------------------------------ option storage */

/* The bytes the options take, and the pair of `name` (or NULL). */
static size_t
options_used(const cmap_config_t *c)
{
	const char *p = c->options_;

	for (uint64_t i = 0; i < c->n_options_; i++) {
		p += strlen(p) + 1;
		p += strlen(p) + 1;
	}
	return (size_t)(p - c->options_);
}

static const char *
option_find(const cmap_config_t *c, const char *name)
{
	const char *p = c->options_;

	for (uint64_t i = 0; i < c->n_options_; i++) {
		const char *v = p + strlen(p) + 1;

		if (strcmp(p, name) == 0)
			return p;
		p = v + strlen(v) + 1;
	}
	return NULL;
}

/* The i-th pair's name and value. */
static const char *
option_at(const cmap_config_t *c, uint64_t i, const char **value)
{
	const char *p = c->options_;

	while (i-- > 0) {
		p += strlen(p) + 1;
		p += strlen(p) + 1;
	}
	*value = p + strlen(p) + 1;
	return p;
}

cmap_status_t
cmap_config_set(cmap_config_t *config, const char *name, const char *value)
{
	size_t nlen, vlen, used, old = 0;
	const char *at;

	if (config == NULL || name == NULL || value == NULL)
		return cmap__fail(
		    CMAP_EINVAL, "cmap_config_set: NULL config, name or value");
	nlen = strlen(name);
	vlen = strlen(value);
	if (nlen == 0 || strchr(name, '=') != NULL)
		return cmap__fail(CMAP_EINVAL,
		    "cmap_config_set: option name '%s' is empty or holds '='",
		    name);
	used = options_used(config);
	at = option_find(config, name);
	if (at != NULL) {
		old = strlen(at) + 1;
		old += strlen(at + old) + 1;
	}
	if (used - old + nlen + vlen + 2 > sizeof config->options_)
		return cmap__fail(CMAP_EINVAL,
		    "cmap_config_set: option '%s': the options would exceed "
		    "%u bytes",
		    name, CMAP_CONFIG_OPTION_BYTES);
	if (at != NULL) {
		/* Drop the old pair; the new one goes at the end. */
		char *dst = config->options_ + (at - config->options_);

		memmove(dst, dst + old,
		    used - old - (size_t)(dst - config->options_));
		used -= old;
		config->n_options_--;
	}
	memcpy(config->options_ + used, name, nlen + 1);
	memcpy(config->options_ + used + nlen + 1, value, vlen + 1);
	config->n_options_++;
	return CMAP_OK;
}

const char *
cmap_config_get(const cmap_config_t *config, const char *name)
{
	const char *at;

	if (config == NULL || name == NULL)
		return NULL;
	at = option_find(config, name);
	return at != NULL ? at + strlen(at) + 1 : NULL;
}

/* ------------------------------------------------------- value parsing */

static bool
parse_uint(const char *s, uint64_t *out)
{
	unsigned long long v;
	char *end;

	if (*s == '\0' || *s == '-' || *s == '+' || *s == ' ')
		return false;
	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno != 0 || *end != '\0')
		return false;
	*out = v;
	return true;
}

static bool
parse_bool(const char *s, bool *out)
{
	static const char *const yes[] = {"true", "1", "yes", "on"};
	static const char *const no[] = {"false", "0", "no", "off"};

	for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++) {
		if (strcmp(s, yes[i]) == 0)
			return *out = true, true;
		if (strcmp(s, no[i]) == 0)
			return *out = false, true;
	}
	return false;
}

static cmap_status_t
check_uint(
    const struct cmap__backend *be, const cmap_option_info_t *o, uint64_t v)
{
	if (v < o->min || v > o->max)
		return cmap__fail(CMAP_EINVAL,
		    "backend '%s': option '%s': %llu is not in [%llu, %llu]",
		    be->name, o->name, (unsigned long long)v,
		    (unsigned long long)o->min, (unsigned long long)o->max);
	if ((o->flags & CMAP_OPTION_POW2) && (v & (v - 1)) != 0)
		return cmap__fail(CMAP_EINVAL,
		    "backend '%s': option '%s': %llu is not a power of two",
		    be->name, o->name, (unsigned long long)v);
	return CMAP_OK;
}

/* Parse `text` as option o of backend be into *out. */
static cmap_status_t
parse_option(const struct cmap__backend *be, const cmap_option_info_t *o,
    const char *text, union cmap__optval *out)
{
	switch (o->type) {
	case CMAP_OPTION_BOOL:
		if (!parse_bool(text, &out->b))
			return cmap__fail(CMAP_EINVAL,
			    "backend '%s': option '%s': '%s' is not a boolean "
			    "(true/false, 1/0, yes/no, on/off)",
			    be->name, o->name, text);
		return CMAP_OK;
	case CMAP_OPTION_UINT:
		if (!parse_uint(text, &out->u))
			return cmap__fail(CMAP_EINVAL,
			    "backend '%s': option '%s': '%s' is not an "
			    "unsigned number",
			    be->name, o->name, text);
		return check_uint(be, o, out->u);
	case CMAP_OPTION_STRING:
		out->s = text;
		return CMAP_OK;
	}
	return cmap__fail(CMAP_EINVAL, "backend '%s': option '%s': bad type",
	    be->name, o->name);
}

/* ----------------------------------------------------------- resolving */

/* A seed for a map that asked for a random one: the kernel's random
 * bytes, or if they are not to be had, a mix of clock, pid and address. */
static uint64_t
random_seed(const void *salt)
{
	uint64_t seed = 0;

	if (getrandom(&seed, sizeof seed, GRND_NONBLOCK) !=
	    (ssize_t)sizeof seed) {
		struct timespec ts;

		clock_gettime(CLOCK_MONOTONIC, &ts);
		seed = cmap__hash((uint64_t)ts.tv_nsec ^
		        ((uint64_t)ts.tv_sec << 32) ^ (uint64_t)getpid(),
		    (uint64_t)(uintptr_t)salt);
	}
	return seed != 0 ? seed : UINT64_C(0x9e3779b97f4a7c15);
}

static bool
is_generic(const char *name)
{
	return strcmp(name, "backend") == 0 || strcmp(name, "capacity") == 0 ||
	    strcmp(name, "seed") == 0;
}

static cmap_status_t
check_struct(const cmap_config_t *c)
{
	if (c->size < CONFIG_V1_SIZE)
		return cmap__fail(CMAP_EINVAL,
		    "config size %zu is smaller than the 1.0 struct (%zu): "
		    "call cmap_config_init first",
		    c->size, CONFIG_V1_SIZE);
	/* A newer caller's fields must be at their defaults (zero): this
	 * library could not do what they ask. */
	for (size_t i = sizeof(cmap_config_t); i < c->size; i++)
		if (((const unsigned char *)c)[i] != 0)
			return cmap__fail(CMAP_EINVAL,
			    "config byte %zu is set but this library (%s) has "
			    "no such field",
			    i, CMAP_VERSION_STRING);
	if ((c->flags & ~KNOWN_FLAGS) != 0)
		return cmap__fail(CMAP_EINVAL, "unknown config flags 0x%x",
		    c->flags & ~KNOWN_FLAGS);
	if ((c->allocator.alloc == NULL) != (c->allocator.free == NULL))
		return cmap__fail(CMAP_EINVAL,
		    "allocator: alloc and free must both be set or both NULL");
	return CMAP_OK;
}

static cmap_status_t
find_backend(const cmap_config_t *c, const struct cmap__backend **out)
{
	const char *name = cmap_config_get(c, "backend");

	if (name == NULL)
		name = c->backend != NULL ? c->backend : CMAP_BACKEND_PLAIN;
	*out = cmap__backend_find(name);
	if (*out == NULL)
		return cmap__fail(CMAP_EBACKEND,
		    "no backend called '%s' in this build", name);
	if ((*out)->version < CMAP__BACKEND_V1)
		return cmap__fail(CMAP_EBACKEND,
		    "backend '%s': descriptor version %u is too old", name,
		    (*out)->version);
	if ((*out)->n_options > CMAP__MAX_OPTIONS)
		return cmap__fail(CMAP_EBACKEND,
		    "backend '%s': more than %u options", name,
		    CMAP__MAX_OPTIONS);
	return CMAP_OK;
}

/* The generic options, which override their typed fields. */
static cmap_status_t
resolve_generic(const cmap_config_t *c, struct cmap__create_args *a)
{
	static const cmap_option_info_t cap_opt = {
	    "capacity", CMAP_OPTION_UINT, "0", "", 0, SIZE_MAX, 0};
	static const cmap_option_info_t seed_opt = {
	    "seed", CMAP_OPTION_UINT, "0", "", 0, UINT64_MAX, 0};
	static const struct cmap__backend any = {.name = "any"};
	const char *t;
	union cmap__optval v;
	cmap_status_t st;

	a->capacity = c->capacity;
	a->seed = c->seed;
	if ((t = cmap_config_get(c, "capacity")) != NULL) {
		if ((st = parse_option(&any, &cap_opt, t, &v)) != CMAP_OK)
			return st;
		a->capacity = (size_t)v.u;
	}
	if ((t = cmap_config_get(c, "seed")) != NULL) {
		if ((st = parse_option(&any, &seed_opt, t, &v)) != CMAP_OK)
			return st;
		a->seed = v.u;
	}
	return CMAP_OK;
}

/* The value of the backend's option o when it was not set by name. */
static cmap_status_t
option_default(const cmap_config_t *c, const struct cmap__backend *be,
    const cmap_option_info_t *o, union cmap__optval *v)
{
	if (strcmp(o->name, "shards") == 0 && o->type == CMAP_OPTION_UINT &&
	    c->shards != 0) {
		v->u = c->shards;
		return check_uint(be, o, v->u);
	}
	if (strcmp(o->name, "misuse_check") == 0 &&
	    o->type == CMAP_OPTION_BOOL &&
	    (c->flags & CMAP_FLAG_NO_MISUSE_CHECK)) {
		v->b = false;
		return CMAP_OK;
	}
	if (o->flags & CMAP_OPTION_REQUIRED)
		return cmap__fail(CMAP_EINVAL,
		    "backend '%s' needs the option '%s' (%s)", be->name,
		    o->name, o->doc);
	return parse_option(be, o, o->default_value, v);
}

cmap_status_t
cmap__resolve(const cmap_config_t *c, const struct cmap__backend **bep,
    struct cmap__create_args *a, union cmap__optval vals[CMAP__MAX_OPTIONS])
{
	const struct cmap__backend *be;
	bool set[CMAP__MAX_OPTIONS] = {false};
	cmap_status_t st;

	if ((st = check_struct(c)) != CMAP_OK ||
	    (st = find_backend(c, &be)) != CMAP_OK ||
	    (st = resolve_generic(c, a)) != CMAP_OK)
		return st;
	/* Options set by name. */
	for (uint64_t i = 0; i < c->n_options_; i++) {
		const char *value, *name = option_at(c, i, &value);
		size_t k;

		if (is_generic(name))
			continue;
		for (k = 0; k < be->n_options; k++)
			if (strcmp(be->options[k].name, name) == 0)
				break;
		if (k == be->n_options)
			return cmap__fail(CMAP_EINVAL,
			    "backend '%s' has no option '%s'", be->name, name);
		st = parse_option(be, &be->options[k], value, &vals[k]);
		if (st != CMAP_OK)
			return st;
		set[k] = true;
	}
	for (size_t k = 0; k < be->n_options; k++)
		if (!set[k] &&
		    (st = option_default(c, be, &be->options[k], &vals[k])) !=
		        CMAP_OK)
			return st;
	a->allocator = c->allocator;
	if (a->allocator.alloc == NULL) {
		a->allocator.alloc = default_alloc;
		a->allocator.free = default_free;
		a->allocator.ctx = NULL;
	}
	if (a->seed == 0)
		a->seed = random_seed(a);
	a->opt = vals;
	*bep = be;
	return CMAP_OK;
}
