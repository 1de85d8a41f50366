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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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
#define KNOWN_FLAGS ((uint32_t)(CMAP_FLAG_NO_MISUSE_CHECK | CMAP_FLAG_METRICS))
/* The default of metrics_sample (cmap.h, METRICS). */
#define METRICS_SAMPLE_DEFAULT 64u

/* ------------------------------------------------------------ defaults */

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

/* The pair after the one at p ("name\0value\0"). */
static const char *
pair_next(const char *p)
{
	p += strlen(p) + 1;
	return p + strlen(p) + 1;
}

/* The i-th pair (i == n_options_: the end of the used bytes). */
static const char *
pair_at(const cmap_config_t *c, uint64_t i)
{
	const char *p = c->options_;

	while (i-- > 0)
		p = pair_next(p);
	return p;
}

/* The pair of option `name`, or NULL. */
static const char *
option_find(const cmap_config_t *c, const char *name)
{
	const char *p = c->options_;

	for (uint64_t i = 0; i < c->n_options_; i++, p = pair_next(p))
		if (strcmp(p, name) == 0)
			return p;
	return NULL;
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
	used = (size_t)(pair_at(config, config->n_options_) - config->options_);
	at = option_find(config, name);
	if (at != NULL)
		old = (size_t)(pair_next(at) - at);
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

/*
 * Check v against option o, and parse text as option o into *out.  `who`
 * says whose option it is in the message: "backend 'sharded'", or
 * "config" for the generic options.
 */
static cmap_status_t
check_uint(const char *who, const cmap_option_info_t *o, uint64_t v)
{
	if (v < o->min || v > o->max)
		return cmap__fail(CMAP_EINVAL,
		    "%s: option '%s': %llu is not in [%llu, %llu]", who,
		    o->name, (unsigned long long)v, (unsigned long long)o->min,
		    (unsigned long long)o->max);
	if ((o->flags & CMAP_OPTION_POW2) && (v & (v - 1)) != 0)
		return cmap__fail(CMAP_EINVAL,
		    "%s: option '%s': %llu is not a power of two", who, o->name,
		    (unsigned long long)v);
	return CMAP_OK;
}

static cmap_status_t
parse_option(const char *who, const cmap_option_info_t *o, const char *text,
    union cmap__optval *out)
{
	switch (o->type) {
	case CMAP_OPTION_BOOL:
		if (!parse_bool(text, &out->b))
			return cmap__fail(CMAP_EINVAL,
			    "%s: option '%s': '%s' is not a boolean "
			    "(true/false, 1/0, yes/no, on/off)",
			    who, o->name, text);
		return CMAP_OK;
	case CMAP_OPTION_UINT:
		if (!parse_uint(text, &out->u))
			return cmap__fail(CMAP_EINVAL,
			    "%s: option '%s': '%s' is not an unsigned number",
			    who, o->name, text);
		return check_uint(who, o, out->u);
	case CMAP_OPTION_STRING:
		out->s = text;
		return CMAP_OK;
	}
	return cmap__fail(
	    CMAP_EINVAL, "%s: option '%s': bad type", who, o->name);
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

/* The options every config takes, whatever the backend (cmap.h,
 * cmap_config_set); each overrides its typed field. */
enum {
	GEN_BACKEND,
	GEN_CAPACITY,
	GEN_SEED,
	GEN_METRICS,
	GEN_METRICS_SAMPLE,
	GEN_COUNT
};

static const cmap_option_info_t generic[GEN_COUNT] = {
    [GEN_BACKEND] = {"backend", CMAP_OPTION_STRING, CMAP_BACKEND_PLAIN,
        "the backend's name", 0, 0, 0},
    [GEN_CAPACITY] = {"capacity", CMAP_OPTION_UINT, "0",
        "entries to hold without resizing", 0, SIZE_MAX, 0},
    [GEN_SEED] = {"seed", CMAP_OPTION_UINT, "0",
        "hash seed; 0 = a fresh random seed", 0, UINT64_MAX, 0},
    [GEN_METRICS] = {"metrics", CMAP_OPTION_BOOL, "false",
        "keep metrics (CMAP_FLAG_METRICS)", 0, 0, 0},
    [GEN_METRICS_SAMPLE] = {"metrics_sample", CMAP_OPTION_UINT, "64",
        "time 1 call in this many per thread and kind", 1, 65536, 0},
};

static bool
is_generic(const char *name)
{
	for (int g = 0; g < GEN_COUNT; g++)
		if (strcmp(name, generic[g].name) == 0)
			return true;
	return false;
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
	const char *name = cmap_config_get(c, generic[GEN_BACKEND].name);

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
	const cmap_option_info_t *cap = &generic[GEN_CAPACITY];
	const cmap_option_info_t *seed = &generic[GEN_SEED];
	const char *t;
	union cmap__optval v;
	cmap_status_t st;

	a->capacity = c->capacity;
	a->seed = c->seed;
	a->metrics = (c->flags & CMAP_FLAG_METRICS) != 0;
	a->metrics_sample = METRICS_SAMPLE_DEFAULT;
	if ((t = cmap_config_get(c, cap->name)) != NULL) {
		if ((st = parse_option("config", cap, t, &v)) != CMAP_OK)
			return st;
		a->capacity = (size_t)v.u;
	}
	if ((t = cmap_config_get(c, seed->name)) != NULL) {
		if ((st = parse_option("config", seed, t, &v)) != CMAP_OK)
			return st;
		a->seed = v.u;
	}
	if ((t = cmap_config_get(c, generic[GEN_METRICS].name)) != NULL) {
		st = parse_option("config", &generic[GEN_METRICS], t, &v);
		if (st != CMAP_OK)
			return st;
		a->metrics = v.b;
	}
	t = cmap_config_get(c, generic[GEN_METRICS_SAMPLE].name);
	if (t != NULL) {
		st =
		    parse_option("config", &generic[GEN_METRICS_SAMPLE], t, &v);
		if (st != CMAP_OK)
			return st;
		a->metrics_sample = (uint32_t)v.u;
	}
	return CMAP_OK;
}

/* The value of the backend's option o when it was not set by name. */
static cmap_status_t
option_default(const cmap_config_t *c, const struct cmap__backend *be,
    const char *who, const cmap_option_info_t *o, union cmap__optval *v)
{
	if (strcmp(o->name, "shards") == 0 && o->type == CMAP_OPTION_UINT &&
	    c->shards != 0) {
		v->u = c->shards;
		return check_uint(who, o, v->u);
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
	return parse_option(who, o, o->default_value, v);
}

cmap_status_t
cmap__resolve(const cmap_config_t *c, const struct cmap__backend **bep,
    struct cmap__create_args *a, union cmap__optval vals[CMAP__MAX_OPTIONS])
{
	const struct cmap__backend *be;
	bool set[CMAP__MAX_OPTIONS] = {false};
	char who[64];
	cmap_status_t st;

	if ((st = check_struct(c)) != CMAP_OK ||
	    (st = find_backend(c, &be)) != CMAP_OK ||
	    (st = resolve_generic(c, a)) != CMAP_OK)
		return st;
	(void)snprintf(who, sizeof who, "backend '%s'", be->name);
	/* Options set by name. */
	for (uint64_t i = 0; i < c->n_options_; i++) {
		const char *name = pair_at(c, i);
		const char *value = name + strlen(name) + 1;
		size_t k;

		if (is_generic(name))
			continue;
		for (k = 0; k < be->n_options; k++)
			if (strcmp(be->options[k].name, name) == 0)
				break;
		if (k == be->n_options)
			return cmap__fail(CMAP_EINVAL,
			    "backend '%s' has no option '%s'", be->name, name);
		st = parse_option(who, &be->options[k], value, &vals[k]);
		if (st != CMAP_OK)
			return st;
		set[k] = true;
	}
	for (size_t k = 0; k < be->n_options; k++)
		if (!set[k] &&
		    (st = option_default(
		         c, be, who, &be->options[k], &vals[k])) != CMAP_OK)
			return st;
	a->allocator = c->allocator;
	if (a->allocator.alloc == NULL)
		a->allocator = cmap__default_allocator;
	if (a->seed == 0)
		a->seed = random_seed(a);
	a->opt = vals;
	*bep = be;
	return CMAP_OK;
}
