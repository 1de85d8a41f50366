/*
 * test_api.c - the 1.0 public API around the map operations (label
 * "contract"):
 *   results   the RESULTS table of cmap.h, row by row, on every backend:
 *             each operation on a present and on an absent key, the exact
 *             status, the out value and what the map holds afterwards;
 *   backends  cmap_backend_at / _info / _option / _available, and what
 *             the capabilities and options each backend advertises must
 *             satisfy;
 *   options   cmap_config_set / cmap_config_get, the checks cmap_create
 *             makes of every option of every backend (range, power of
 *             two, booleans, unknown names) with cmap_last_error naming
 *             the option, the generic options backend / capacity / seed,
 *             and "shards" wherever a backend takes it;
 *   abi       the size field of cmap_config_t, and the *_sized calls with
 *             smaller and bigger structs than this header's;
 *   version   cmap_version and cmap_version_string;
 *   errors    cmap_last_error is per thread.
 * Backends are chosen by what they advertise, never by name.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "testutil.h"

#define GOLD UINT64_C(0x9e3779b97f4a7c15)
#define SENT UINT64_C(0x5e5e5e5e5e5e5e5e) /* "untouched" marker */

#define FIELD_FITS(type, f, size)                                              \
	(offsetof(type, f) + sizeof(((type *)0)->f) <= (size))
#define FIELD_END(type, f) (offsetof(type, f) + sizeof(((type *)0)->f))

#define CAPS_KNOWN                                                             \
	(CMAP_CAP_THREAD_SAFE | CMAP_CAP_LOCK_FREE | CMAP_CAP_LINEARIZABLE |   \
	    CMAP_CAP_UPDATE_ONCE | CMAP_CAP_LEN_EXACT | CMAP_CAP_RANGE_ONCE |  \
	    CMAP_CAP_RANGE_SNAPSHOT | CMAP_CAP_PERSISTENT | CMAP_CAP_REMOTE |  \
	    CMAP_CAP_MISUSE_CHECK)

static const char *g_backends[TU_MAX_BACKENDS];
static size_t g_nb;

/* ---- helpers ---- */

static bool
is_pow2(uint64_t v)
{
	return v != 0 && (v & (v - 1)) == 0;
}

static void
cfg_of(cmap_config_t *cfg, const char *backend)
{
	tu_config_init(cfg, backend);
}

/* cmap_create(cfg) must return `want`; on success the map is destroyed,
 * on failure *out must be untouched and cmap_last_error() must contain
 * `culprit` (when not NULL). */
static void
expect_create(const cmap_config_t *cfg, cmap_status_t want, const char *culprit,
    const char *what)
{
	cmap_t *sentinel = (cmap_t *)(uintptr_t)0x4321;
	cmap_t *m = sentinel;
	cmap_status_t s = cmap_create(cfg, &m);

	if (s == CMAP_OK && want != CMAP_OK)
		cmap_destroy(m); /* not to leak on the failure below */
	if (s != want)
		fail_msg("%s: cmap_create = %s, want %s (last error: \"%s\")",
		    what, cmap_status_name(s), cmap_status_name(want),
		    cmap_last_error());
	if (s == CMAP_OK) {
		assert_true(m != sentinel && m != NULL);
		assert_int_equal(cmap_store(m, 1, 2), CMAP_INSERTED);
		/* a persistent map keeps its entries: leave it empty for the
		 * next create from the same config */
		assert_int_equal(cmap_clear(m), CMAP_OK);
		cmap_destroy(m);
		return;
	}
	assert_ptr_equal(m, sentinel);
	assert_non_null(cmap_last_error());
	assert_true(cmap_last_error()[0] != '\0');
	if (culprit != NULL && strstr(cmap_last_error(), culprit) == NULL)
		fail_msg("%s: last error \"%s\" does not name \"%s\"", what,
		    cmap_last_error(), culprit);
}

/* Create a map of cfg, or fail the test with cmap_last_error(). */
static cmap_t *
create_ok(const cmap_config_t *cfg, const char *what)
{
	cmap_t *m = NULL;
	cmap_status_t s = cmap_create(cfg, &m);

	if (s != CMAP_OK)
		fail_msg("%s: cmap_create = %s (%s)", what, cmap_status_name(s),
		    cmap_last_error());
	return m;
}

static cmap_stats_t
stats_of(cmap_t *m)
{
	cmap_stats_t st;

	memset(&st, 0, sizeof st);
	assert_int_equal(cmap_stats(m, &st), CMAP_OK);
	return st;
}

/* ===================================================================
 * The RESULTS table of cmap.h
 * ================================================================= */

/* Values of a row: the present key's value v, the value w given to a
 * writing operation, another value x (!= v) as a wrong expectation, and
 * the delta d of add. */
enum val {
	VAL_NONE, /* out: left untouched; after: the key is absent */
	VAL_V,    /* v */
	VAL_W,    /* w */
	VAL_D,    /* d */
	VAL_V_D,  /* v + d (mod 2^64) */
};

enum op {
	OP_LOAD,
	OP_STORE,
	OP_LOS,
	OP_LAD,
	OP_DELETE,
	OP_SWAP,
	OP_SWAP_NULL,
	OP_CAS_V,
	OP_CAS_X,
	OP_CAD_V,
	OP_CAD_X,
	OP_ADD,
	OP_ADD_NULL,
	OP_UPD_KEEP,
	OP_UPD_STORE,
	OP_UPD_DELETE,
	OP_UPD_KEEP_NULL,
	OP_UPD_STORE_NULL,
};

struct outcome {
	cmap_status_t st;
	enum val out;   /* the out parameter after the call */
	enum val after; /* the key's value after the call (NONE: absent) */
};

struct row {
	const char *name;
	enum op op;
	struct outcome present, absent;
};

/* cmap.h, RESULTS: "Per operation, for a key present (with value v) or
 * absent". */
static const struct row results[] = {
    {"load", OP_LOAD, {CMAP_OK, VAL_V, VAL_V},
        {CMAP_NOT_FOUND, VAL_NONE, VAL_NONE}},
    {"store", OP_STORE, {CMAP_OK, VAL_NONE, VAL_W},
        {CMAP_INSERTED, VAL_NONE, VAL_W}},
    {"load_or_store", OP_LOS, {CMAP_OK, VAL_V, VAL_V},
        {CMAP_INSERTED, VAL_W, VAL_W}},
    {"load_and_delete", OP_LAD, {CMAP_OK, VAL_V, VAL_NONE},
        {CMAP_NOT_FOUND, VAL_NONE, VAL_NONE}},
    {"delete", OP_DELETE, {CMAP_OK, VAL_NONE, VAL_NONE},
        {CMAP_NOT_FOUND, VAL_NONE, VAL_NONE}},
    {"swap", OP_SWAP, {CMAP_OK, VAL_V, VAL_W},
        {CMAP_INSERTED, VAL_NONE, VAL_W}},
    {"swap, previous NULL", OP_SWAP_NULL, {CMAP_OK, VAL_NONE, VAL_W},
        {CMAP_INSERTED, VAL_NONE, VAL_W}},
    {"compare_and_swap, expected v", OP_CAS_V, {CMAP_OK, VAL_NONE, VAL_W},
        {CMAP_NOT_FOUND, VAL_NONE, VAL_NONE}},
    {"compare_and_swap, expected x", OP_CAS_X, {CMAP_MISMATCH, VAL_NONE, VAL_V},
        {CMAP_NOT_FOUND, VAL_NONE, VAL_NONE}},
    {"compare_and_delete, expected v", OP_CAD_V, {CMAP_OK, VAL_NONE, VAL_NONE},
        {CMAP_NOT_FOUND, VAL_NONE, VAL_NONE}},
    {"compare_and_delete, expected x", OP_CAD_X,
        {CMAP_MISMATCH, VAL_NONE, VAL_V}, {CMAP_NOT_FOUND, VAL_NONE, VAL_NONE}},
    {"add", OP_ADD, {CMAP_OK, VAL_V_D, VAL_V_D}, {CMAP_INSERTED, VAL_D, VAL_D}},
    {"add, result NULL", OP_ADD_NULL, {CMAP_OK, VAL_NONE, VAL_V_D},
        {CMAP_INSERTED, VAL_NONE, VAL_D}},
    {"update, fn says KEEP", OP_UPD_KEEP, {CMAP_OK, VAL_V, VAL_V},
        {CMAP_NOT_FOUND, VAL_NONE, VAL_NONE}},
    {"update, fn says STORE", OP_UPD_STORE, {CMAP_OK, VAL_W, VAL_W},
        {CMAP_INSERTED, VAL_W, VAL_W}},
    {"update, fn says DELETE", OP_UPD_DELETE, {CMAP_OK, VAL_V, VAL_NONE},
        {CMAP_NOT_FOUND, VAL_NONE, VAL_NONE}},
    {"update KEEP, value_out NULL", OP_UPD_KEEP_NULL,
        {CMAP_OK, VAL_NONE, VAL_V}, {CMAP_NOT_FOUND, VAL_NONE, VAL_NONE}},
    {"update STORE, value_out NULL", OP_UPD_STORE_NULL,
        {CMAP_OK, VAL_NONE, VAL_W}, {CMAP_INSERTED, VAL_NONE, VAL_W}},
};

struct vals {
	uint64_t v, w, x, d;
};

static uint64_t
val_of(const struct vals *vs, enum val e)
{
	switch (e) {
	case VAL_V:
		return vs->v;
	case VAL_W:
		return vs->w;
	case VAL_D:
		return vs->d;
	case VAL_V_D:
		return vs->v + vs->d;
	default:
		return SENT;
	}
}

/* The update callback of the table: always writes w to *value (so KEEP
 * and DELETE must ignore it), records what it saw, returns its action. */
struct upd {
	cmap_update_action_t action;
	uint64_t w;
	int calls;
	bool seen_present;
	uint64_t seen_value;
};

static cmap_update_action_t
upd_cb(uint64_t key, uint64_t *value, bool present, void *ctx)
{
	struct upd *u = ctx;

	(void)key;
	u->calls++;
	u->seen_present = present;
	u->seen_value = *value;
	*value = u->w;
	return u->action;
}

static cmap_status_t
run_op(cmap_t *m, enum op op, uint64_t k, const struct vals *vs, uint64_t *out,
    struct upd *u)
{
	switch (op) {
	case OP_LOAD:
		return cmap_load(m, k, out);
	case OP_STORE:
		return cmap_store(m, k, vs->w);
	case OP_LOS:
		return cmap_load_or_store(m, k, vs->w, out);
	case OP_LAD:
		return cmap_load_and_delete(m, k, out);
	case OP_DELETE:
		return cmap_delete(m, k);
	case OP_SWAP:
		return cmap_swap(m, k, vs->w, out);
	case OP_SWAP_NULL:
		return cmap_swap(m, k, vs->w, NULL);
	case OP_CAS_V:
		return cmap_compare_and_swap(m, k, vs->v, vs->w);
	case OP_CAS_X:
		return cmap_compare_and_swap(m, k, vs->x, vs->w);
	case OP_CAD_V:
		return cmap_compare_and_delete(m, k, vs->v);
	case OP_CAD_X:
		return cmap_compare_and_delete(m, k, vs->x);
	case OP_ADD:
		return cmap_add(m, k, vs->d, out);
	case OP_ADD_NULL:
		return cmap_add(m, k, vs->d, NULL);
	case OP_UPD_KEEP:
	case OP_UPD_KEEP_NULL:
		u->action = CMAP_UPDATE_KEEP;
		return cmap_update(
		    m, k, upd_cb, u, op == OP_UPD_KEEP ? out : NULL);
	case OP_UPD_STORE:
	case OP_UPD_STORE_NULL:
		u->action = CMAP_UPDATE_STORE;
		return cmap_update(
		    m, k, upd_cb, u, op == OP_UPD_STORE ? out : NULL);
	case OP_UPD_DELETE:
		u->action = CMAP_UPDATE_DELETE;
		return cmap_update(m, k, upd_cb, u, out);
	}
	fail();
	return CMAP_EINVAL;
}

static bool
is_update(enum op op)
{
	return op >= OP_UPD_KEEP;
}

/* Run one row on one key; returns false (having printed why) when the
 * result differs from the table, so that one run reports every row that
 * is wrong.  The setup and the neighbour are asserted. */
static bool
check_row_(const char *backend, cmap_t *m, const struct row *r, uint64_t k,
    const struct vals *vs, bool present, bool quiet)
{
	const struct outcome *want = present ? &r->present : &r->absent;
	const uint64_t nb = k ^ 1, nbv = ~k; /* a neighbour key */
	struct upd u = {.w = vs->w};
	uint64_t out = SENT, got = SENT;
	cmap_status_t s, ls;

	/* the map holds the neighbour, and k with v when present */
	assert_int_equal(cmap_clear(m), CMAP_OK);
	assert_int_equal(cmap_store(m, nb, nbv), CMAP_INSERTED);
	if (present)
		assert_int_equal(cmap_store(m, k, vs->v), CMAP_INSERTED);
	assert_int_equal(cmap_len(m), present ? 2 : 1);

	s = run_op(m, r->op, k, vs, &out, &u);
	ls = cmap_load(m, k, &got);
	if (s != want->st || out != val_of(vs, want->out) ||
	    ls != (want->after == VAL_NONE ? CMAP_NOT_FOUND : CMAP_OK) ||
	    got != val_of(vs, want->after)) {
		if (quiet)
			return false;
		print_error("%s: %s on a%s key %#llx (v %#llx, w %#llx): got "
		            "%s out %#llx, then load %s %#llx; want %s out "
		            "%#llx, then %s %#llx\n",
		    backend, r->name, present ? " present" : "n absent",
		    (unsigned long long)k, (unsigned long long)vs->v,
		    (unsigned long long)vs->w, cmap_status_name(s),
		    (unsigned long long)out, cmap_status_name(ls),
		    (unsigned long long)got, cmap_status_name(want->st),
		    (unsigned long long)val_of(vs, want->out),
		    want->after == VAL_NONE ? "absent" : "value",
		    (unsigned long long)val_of(vs, want->after));
		return false;
	}
	assert_int_equal(cmap_len(m), (want->after == VAL_NONE ? 1u : 2u));
	/* the neighbour is untouched */
	got = SENT;
	assert_int_equal(cmap_load(m, nb, &got), CMAP_OK);
	assert_true(got == nbv);
	if (is_update(r->op)) {
		/* fn saw the key as it was: present with v, or absent
		 * with 0 */
		if (tu_has(backend, CMAP_CAP_UPDATE_ONCE))
			assert_int_equal(u.calls, 1);
		else
			assert_true(u.calls >= 1);
		assert_int_equal(u.seen_present, present);
		assert_true(u.seen_value == (present ? vs->v : 0));
	}
	return true;
}

static bool
check_row(const char *backend, cmap_t *m, const struct row *r, uint64_t k,
    const struct vals *vs, bool present)
{
	return check_row_(backend, m, r, k, vs, present, false);
}

static bool
check_row_quiet(const char *backend, cmap_t *m, const struct row *r, uint64_t k,
    const struct vals *vs, bool present)
{
	return check_row_(backend, m, r, k, vs, present, true);
}

/* keys and values of the table: edge values and ordinary ones */
static const uint64_t row_keys[] = {
    0, 1, UINT64_MAX, UINT64_C(1) << 63, UINT64_C(0xdeadbeefdeadbeef), 42};
static const uint64_t row_vals[] = {
    0, 1, UINT64_MAX, UINT64_MAX - 1, UINT64_C(1) << 63, 12345};
#define N_ROW_KEYS (sizeof row_keys / sizeof row_keys[0])
#define N_ROW_VALS (sizeof row_vals / sizeof row_vals[0])

/* One row over every key and value, present then absent; returns the
 * number of cases that differ from the table (each side printed once). */
static int
run_row(const char *backend, cmap_t *m, const struct row *r)
{
	int bad = 0;

	for (int present = 1; present >= 0; present--) {
		int side = 0;

		for (size_t i = 0; i < N_ROW_KEYS; i++)
			for (size_t j = 0; j < N_ROW_VALS; j++) {
				struct vals vs;

				vs.v = row_vals[j];
				vs.w = row_vals[(j + 1) % N_ROW_VALS];
				vs.x = vs.v ^ UINT64_C(0x0f0f0f0f0f0f0f0f);
				vs.d = row_vals[(j + 2) % N_ROW_VALS];
				if (side > 0) {
					/* already reported: count quietly */
					side += !check_row_quiet(backend, m, r,
					    row_keys[i], &vs, present);
					continue;
				}
				side += !check_row(
				    backend, m, r, row_keys[i], &vs, present);
			}
		bad += side;
	}
	return bad;
}

static void
test_results_table(void **state)
{
	(void)state;
	const size_t nr = sizeof results / sizeof results[0];
	int bad = 0;

	assert_int_equal(nr, OP_UPD_STORE_NULL + 1);
	for (size_t b = 0; b < g_nb; b++) {
		cmap_t *m = tu_create(g_backends[b], 0);

		for (size_t r = 0; r < nr; r++) {
			assert_int_equal(results[r].op, (enum op)r);
			bad += run_row(g_backends[b], m, &results[r]);
		}
		cmap_destroy(m);
	}
	if (bad != 0)
		fail_msg("%d cases differ from the RESULTS table", bad);
}

/* ===================================================================
 * Backends described as data
 * ================================================================= */

static void
check_option(const char *backend, size_t i, const cmap_option_info_t *o)
{
	static const char *const bools[] = {
	    "true", "false", "1", "0", "yes", "no", "on", "off"};

	assert_non_null(o->name);
	assert_true(o->name[0] != '\0');
	assert_null(strchr(o->name, '='));
	assert_non_null(o->doc);
	assert_true(o->doc[0] != '\0');
	/* not one of the generic options every config takes */
	assert_string_not_equal(o->name, "backend");
	assert_string_not_equal(o->name, "capacity");
	assert_string_not_equal(o->name, "seed");
	assert_true(o->type == CMAP_OPTION_BOOL ||
	    o->type == CMAP_OPTION_UINT || o->type == CMAP_OPTION_STRING);
	assert_int_equal(
	    o->flags & ~(CMAP_OPTION_POW2 | CMAP_OPTION_REQUIRED), 0);
	if (o->flags & CMAP_OPTION_POW2)
		assert_int_equal(o->type, CMAP_OPTION_UINT);
	/* REQUIRED exactly when there is no default */
	assert_int_equal(
	    (o->flags & CMAP_OPTION_REQUIRED) != 0, o->default_value == NULL);
	if (o->type == CMAP_OPTION_UINT) {
		assert_true(o->min <= o->max);
		if (o->flags & CMAP_OPTION_POW2) {
			/* some power of two is allowed */
			uint64_t p = 1;
			while (p < o->min && p <= UINT64_MAX / 2)
				p <<= 1;
			assert_true(p >= o->min && p <= o->max);
		}
	}
	if (o->default_value != NULL && o->type == CMAP_OPTION_UINT) {
		char *end;
		uint64_t d = strtoull(o->default_value, &end, 0);

		if (*end != '\0' || o->default_value[0] == '\0')
			fail_msg("%s option %zu (%s): default \"%s\" is not "
			         "a number",
			    backend, i, o->name, o->default_value);
		assert_true(d >= o->min && d <= o->max);
		if (o->flags & CMAP_OPTION_POW2)
			assert_true(is_pow2(d));
	}
	if (o->default_value != NULL && o->type == CMAP_OPTION_BOOL) {
		bool ok = false;
		for (size_t j = 0; j < sizeof bools / sizeof bools[0]; j++)
			ok |= strcmp(o->default_value, bools[j]) == 0;
		assert_true(ok);
	}
}

static void
test_backend_info(void **state)
{
	(void)state;
	size_t n = 0, runnable = 0, thread_safe = 0;
	const char *name;

	while ((name = cmap_backend_at(n)) != NULL) {
		cmap_backend_info_t info;

		assert_true(n < TU_MAX_BACKENDS);
		memset(&info, 0xa5, sizeof info);
		assert_int_equal(cmap_backend_info(name, &info), CMAP_OK);
		assert_non_null(info.name);
		assert_string_equal(info.name, name);
		assert_non_null(info.summary);
		assert_true(info.summary[0] != '\0');
		assert_true(cmap_backend_available(name));
		assert_true(tu_caps(name) == info.caps);
		/* only the capabilities this header knows */
		assert_true((info.caps & ~CAPS_KNOWN) == 0);
		/* consistency of the capabilities */
		if (info.caps & CMAP_CAP_LOCK_FREE)
			assert_true(info.caps & CMAP_CAP_THREAD_SAFE);
		/* "Every thread-safe backend of this build is
		 * linearizable." */
		if (info.caps & CMAP_CAP_THREAD_SAFE)
			assert_true(info.caps & CMAP_CAP_LINEARIZABLE);
		/* the detector watches maps that are not thread-safe */
		if (info.caps & CMAP_CAP_MISUSE_CHECK)
			assert_false(info.caps & CMAP_CAP_THREAD_SAFE);
		/* a snapshot visits each key once */
		if (info.caps & CMAP_CAP_RANGE_SNAPSHOT)
			assert_true(info.caps & CMAP_CAP_RANGE_ONCE);
		thread_safe += (info.caps & CMAP_CAP_THREAD_SAFE) != 0;

		/* its options */
		assert_true(info.n_options <= 64);
		for (size_t i = 0; i < info.n_options; i++) {
			cmap_option_info_t opt, other;

			memset(&opt, 0xa5, sizeof opt);
			assert_int_equal(
			    cmap_backend_option(name, i, &opt), CMAP_OK);
			check_option(name, i, &opt);
			for (size_t j = 0; j < i; j++) {
				assert_int_equal(
				    cmap_backend_option(name, j, &other),
				    CMAP_OK);
				assert_string_not_equal(opt.name, other.name);
			}
			/* the same description every time */
			assert_int_equal(
			    cmap_backend_option(name, i, &other), CMAP_OK);
			assert_string_equal(other.name, opt.name);
		}
		cmap_option_info_t opt;
		assert_int_equal(
		    cmap_backend_option(name, info.n_options, &opt),
		    CMAP_EINVAL);
		assert_true(cmap_last_error()[0] != '\0');
		assert_int_equal(
		    cmap_backend_option(name, info.n_options + 1, &opt),
		    CMAP_EINVAL);
		assert_int_equal(
		    cmap_backend_option(name, SIZE_MAX, &opt), CMAP_EINVAL);

		n++;
		if (!tu_backend_runnable(name))
			continue;
		runnable++;
		/* a map of it says its name */
		cmap_t *m = tu_create(name, 0);
		assert_non_null(cmap_backend(m));
		assert_string_equal(cmap_backend(m), name);
		cmap_stats_t st = stats_of(m);
		assert_non_null(st.backend);
		assert_string_equal(st.backend, name);
		cmap_destroy(m);
	}
	assert_true(n >= 3);
	assert_true(thread_safe >= 1);
	assert_null(cmap_backend_at(n));
	assert_null(cmap_backend_at(n + 1));
	assert_null(cmap_backend_at(SIZE_MAX));
	assert_int_equal(g_nb, runnable);

	/* unknown names */
	cmap_backend_info_t info, before;
	cmap_option_info_t opt;
	memset(&info, 0x3c, sizeof info);
	before = info;
	assert_int_equal(
	    cmap_backend_info("no-such-backend", &info), CMAP_EBACKEND);
	assert_memory_equal(&info, &before, sizeof info);
	assert_non_null(strstr(cmap_last_error(), "no-such-backend"));
	assert_int_equal(cmap_backend_info("", &info), CMAP_EBACKEND);
	assert_int_equal(
	    cmap_backend_option("no-such-backend", 0, &opt), CMAP_EBACKEND);
	assert_non_null(strstr(cmap_last_error(), "no-such-backend"));
	/* NULL arguments */
	assert_int_equal(cmap_backend_info(NULL, &info), CMAP_EINVAL);
	assert_true(cmap_last_error()[0] != '\0');
	assert_int_equal(cmap_backend_info(g_backends[0], NULL), CMAP_EINVAL);
	assert_int_equal(cmap_backend_info(NULL, NULL), CMAP_EINVAL);
	assert_int_equal(cmap_backend_option(NULL, 0, &opt), CMAP_EINVAL);
	assert_int_equal(
	    cmap_backend_option(g_backends[0], 0, NULL), CMAP_EINVAL);
	assert_int_equal(cmap_backend_option(NULL, 0, NULL), CMAP_EINVAL);
	assert_null(cmap_backend(NULL));
	/* availability */
	assert_false(cmap_backend_available(NULL));
	assert_false(cmap_backend_available(""));
	assert_false(cmap_backend_available("no-such-backend"));
	for (size_t b = 0; b < g_nb; b++) {
		char buf[80];

		assert_true(cmap_backend_available(g_backends[b]));
		/* the name is matched exactly */
		snprintf(buf, sizeof buf, "%sx", g_backends[b]);
		assert_false(cmap_backend_available(buf));
		snprintf(buf, sizeof buf, "%.*s",
		    (int)strlen(g_backends[b]) - 1, g_backends[b]);
		assert_false(cmap_backend_available(buf));
	}
}

/* ===================================================================
 * Options: cmap_config_set / cmap_config_get
 * ================================================================= */

static void
test_config_set_get(void **state)
{
	(void)state;
	cmap_config_t cfg, before;
	char name[16] = "", value[16] = "";

	cmap_config_init(&cfg);
	assert_null(cmap_config_get(&cfg, "capacity"));
	/* the strings are copied */
	snprintf(name, sizeof name, "capacity");
	snprintf(value, sizeof value, "100");
	assert_int_equal(cmap_config_set(&cfg, name, value), CMAP_OK);
	memset(name, 'x', sizeof name - 1);
	memset(value, '9', sizeof value - 1);
	assert_string_equal(cmap_config_get(&cfg, "capacity"), "100");
	assert_int_equal(cmap_config_set(&cfg, "seed", "7"), CMAP_OK);
	assert_string_equal(cmap_config_get(&cfg, "seed"), "7");
	assert_string_equal(cmap_config_get(&cfg, "capacity"), "100");
	/* setting a name again replaces its value, longer or shorter */
	assert_int_equal(cmap_config_set(&cfg, "capacity", "2000"), CMAP_OK);
	assert_string_equal(cmap_config_get(&cfg, "capacity"), "2000");
	assert_string_equal(cmap_config_get(&cfg, "seed"), "7");
	assert_int_equal(cmap_config_set(&cfg, "capacity", "3"), CMAP_OK);
	assert_string_equal(cmap_config_get(&cfg, "capacity"), "3");
	assert_string_equal(cmap_config_get(&cfg, "seed"), "7");
	/* ... and takes no more room: many replacements fit */
	for (unsigned i = 0; i < 10000; i++) {
		snprintf(value, sizeof value, "%u", i);
		assert_int_equal(
		    cmap_config_set(&cfg, "capacity", value), CMAP_OK);
	}
	assert_string_equal(cmap_config_get(&cfg, "capacity"), "9999");
	assert_string_equal(cmap_config_get(&cfg, "seed"), "7");
	/* an empty value is text like any other */
	assert_int_equal(cmap_config_set(&cfg, "x_empty", ""), CMAP_OK);
	assert_string_equal(cmap_config_get(&cfg, "x_empty"), "");
	/* names are matched exactly */
	assert_null(cmap_config_get(&cfg, "capacit"));
	assert_null(cmap_config_get(&cfg, "capacityx"));
	assert_null(cmap_config_get(&cfg, "Capacity"));
	assert_null(cmap_config_get(&cfg, ""));
	assert_null(cmap_config_get(&cfg, NULL));
	assert_null(cmap_config_get(NULL, "capacity"));

	/* bad arguments: EINVAL, config unchanged, a reason given */
	memcpy(&before, &cfg, sizeof cfg);
	const struct {
		cmap_config_t *cfg;
		const char *name, *value;
	} bad[] = {
	    {NULL, "capacity", "1"},
	    {&cfg, NULL, "1"},
	    {&cfg, "capacity", NULL},
	    {&cfg, "", "1"},
	    {&cfg, "a=b", "1"},
	    {&cfg, "=", "1"},
	    {&cfg, "capacity=", "1"},
	    {&cfg, "=capacity", "1"},
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		assert_int_equal(
		    cmap_config_set(bad[i].cfg, bad[i].name, bad[i].value),
		    CMAP_EINVAL);
		assert_true(cmap_last_error()[0] != '\0');
		assert_memory_equal(&cfg, &before, sizeof cfg);
	}
	/* a value may hold '=' */
	assert_int_equal(cmap_config_set(&cfg, "x_eq", "a=b"), CMAP_OK);
	assert_string_equal(cmap_config_get(&cfg, "x_eq"), "a=b");

	/* the options reach the map */
	tu_config_init(&cfg, g_backends[0]);
	assert_int_equal(cmap_config_set(&cfg, "capacity", "5000"), CMAP_OK);
	assert_int_equal(cmap_config_set(&cfg, "seed", "99"), CMAP_OK);
	cmap_t *m = create_ok(&cfg, "capacity+seed");
	cmap_stats_t st = stats_of(m);
	assert_true(st.capacity >= 5000);
	assert_true(st.seed == 99);
	cmap_destroy(m);
}

static void
test_config_overflow(void **state)
{
	(void)state;
	cmap_config_t cfg, before;
	char name[32], value[64];
	size_t used = 0, count = 0;

	/* fill with options of known size: each takes name + value + 2 */
	memset(value, 'v', 50);
	value[50] = '\0';
	cmap_config_init(&cfg);
	for (;;) {
		snprintf(name, sizeof name, "o%04zu", count);
		size_t need = strlen(name) + strlen(value) + 2;
		memcpy(&before, &cfg, sizeof cfg);
		cmap_status_t s = cmap_config_set(&cfg, name, value);
		if (used + need <= CMAP_CONFIG_OPTION_BYTES) {
			assert_int_equal(s, CMAP_OK);
			used += need;
			count++;
			continue;
		}
		/* the first one that does not fit */
		assert_int_equal(s, CMAP_EINVAL);
		assert_true(cmap_last_error()[0] != '\0');
		assert_memory_equal(&cfg, &before, sizeof cfg);
		assert_null(cmap_config_get(&cfg, name));
		break;
	}
	assert_true(count > 10);
	/* every option set is still there */
	for (size_t i = 0; i < count; i++) {
		snprintf(name, sizeof name, "o%04zu", i);
		assert_non_null(cmap_config_get(&cfg, name));
		assert_string_equal(cmap_config_get(&cfg, name), value);
	}
	/* the room left, to the byte */
	size_t left = CMAP_CONFIG_OPTION_BYTES - used;
	if (left >= 3) {
		char fill[64];

		memset(fill, 'f', left - 3);
		fill[left - 3] = '\0';
		memcpy(&before, &cfg, sizeof cfg);
		/* one byte too many */
		char over[65];
		memset(over, 'f', left - 2);
		over[left - 2] = '\0';
		assert_int_equal(cmap_config_set(&cfg, "z", over), CMAP_EINVAL);
		assert_memory_equal(&cfg, &before, sizeof cfg);
		/* exactly full */
		assert_int_equal(cmap_config_set(&cfg, "z", fill), CMAP_OK);
		assert_string_equal(cmap_config_get(&cfg, "z"), fill);
		memcpy(&before, &cfg, sizeof cfg);
		assert_int_equal(cmap_config_set(&cfg, "y", ""), CMAP_EINVAL);
		assert_memory_equal(&cfg, &before, sizeof cfg);
	}
	/* a replacement that does not fit leaves the old value */
	static char big[CMAP_CONFIG_OPTION_BYTES + 100];
	memset(big, 'b', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	memcpy(&before, &cfg, sizeof cfg);
	assert_int_equal(cmap_config_set(&cfg, "o0000", big), CMAP_EINVAL);
	assert_memory_equal(&cfg, &before, sizeof cfg);
	assert_string_equal(cmap_config_get(&cfg, "o0000"), value);
	/* a replacement by a shorter value fits */
	assert_int_equal(cmap_config_set(&cfg, "o0000", "short"), CMAP_OK);
	assert_string_equal(cmap_config_get(&cfg, "o0000"), "short");
	/* on an empty config, one value bigger than the whole room */
	cmap_config_init(&cfg);
	memcpy(&before, &cfg, sizeof cfg);
	assert_int_equal(cmap_config_set(&cfg, "capacity", big), CMAP_EINVAL);
	assert_memory_equal(&cfg, &before, sizeof cfg);
	assert_null(cmap_config_get(&cfg, "capacity"));
	/* "capacity", 4087 bytes and two NULs: one byte too many */
	big[CMAP_CONFIG_OPTION_BYTES - 9] = '\0';
	assert_int_equal(cmap_config_set(&cfg, "capacity", big), CMAP_EINVAL);
	assert_memory_equal(&cfg, &before, sizeof cfg);
	/* 4086 bytes: exactly the room */
	big[CMAP_CONFIG_OPTION_BYTES - 10] = '\0';
	assert_int_equal(cmap_config_set(&cfg, "capacity", big), CMAP_OK);
	assert_int_equal(strlen(cmap_config_get(&cfg, "capacity")),
	    CMAP_CONFIG_OPTION_BYTES - 10);
	memcpy(&before, &cfg, sizeof cfg);
	assert_int_equal(cmap_config_set(&cfg, "s", ""), CMAP_EINVAL);
	assert_memory_equal(&cfg, &before, sizeof cfg);
}

/* ===================================================================
 * Options checked at cmap_create
 * ================================================================= */

/* A config of `backend` with the one option name=value. */
static void
cfg_opt(cmap_config_t *cfg, const char *backend, const char *name,
    const char *value)
{
	cfg_of(cfg, backend);
	assert_int_equal(cmap_config_set(cfg, name, value), CMAP_OK);
}

static void
test_option_values(void **state)
{
	(void)state;
	static const char *const not_numbers[] = {"", "abc", "12abc", "0x",
	    "1.5", "-1", "1 2", "99999999999999999999999",
	    "0x1ffffffffffffffff"};
	static const char *const bools[] = {
	    "true", "false", "1", "0", "yes", "no", "on", "off"};
	static const char *const not_bools[] = {
	    "", "maybe", "2", "truex", "yes please", "-1", "10", "o"};
	size_t checked = 0;

	for (size_t b = 0; b < g_nb; b++) {
		const char *be = g_backends[b];
		cmap_backend_info_t info;
		cmap_config_t cfg;
		char what[160], num[32];

		assert_int_equal(cmap_backend_info(be, &info), CMAP_OK);
		/* an unknown option, named in the error */
		cfg_opt(&cfg, be, "no_such_option", "1");
		snprintf(what, sizeof what, "%s no_such_option=1", be);
		expect_create(&cfg, CMAP_EINVAL, "no_such_option", what);

		for (size_t i = 0; i < info.n_options; i++) {
			cmap_option_info_t o;

			assert_int_equal(
			    cmap_backend_option(be, i, &o), CMAP_OK);
			checked++;
			if (o.flags & CMAP_OPTION_REQUIRED) {
				/* not set: EINVAL, named (a bare config:
				 * tu_config_init would set it) */
				cmap_config_init(&cfg);
				cfg.backend = be;
				snprintf(what, sizeof what, "%s without %s", be,
				    o.name);
				expect_create(&cfg, CMAP_EINVAL, o.name, what);
				continue;
			}
			/* its default is accepted */
			cfg_opt(&cfg, be, o.name, o.default_value);
			snprintf(what, sizeof what, "%s %s=%s (default)", be,
			    o.name, o.default_value);
			expect_create(&cfg, CMAP_OK, NULL, what);
			if (o.type == CMAP_OPTION_BOOL) {
				for (size_t v = 0; v < 8; v++) {
					cfg_opt(&cfg, be, o.name, bools[v]);
					snprintf(what, sizeof what, "%s %s=%s",
					    be, o.name, bools[v]);
					expect_create(
					    &cfg, CMAP_OK, NULL, what);
				}
				for (size_t v = 0; v < 8; v++) {
					cfg_opt(&cfg, be, o.name, not_bools[v]);
					snprintf(what, sizeof what,
					    "%s %s=\"%s\"", be, o.name,
					    not_bools[v]);
					expect_create(
					    &cfg, CMAP_EINVAL, o.name, what);
				}
			}
			if (o.type != CMAP_OPTION_UINT)
				continue;
			/* the default in hex */
			uint64_t d = strtoull(o.default_value, NULL, 0);
			snprintf(
			    num, sizeof num, "0x%llx", (unsigned long long)d);
			cfg_opt(&cfg, be, o.name, num);
			snprintf(
			    what, sizeof what, "%s %s=%s", be, o.name, num);
			expect_create(&cfg, CMAP_OK, NULL, what);
			/* the smallest allowed value (the smallest power of
			 * two for POW2) */
			uint64_t lo = o.min;
			if (o.flags & CMAP_OPTION_POW2)
				while (!is_pow2(lo))
					lo++;
			snprintf(
			    num, sizeof num, "%llu", (unsigned long long)lo);
			cfg_opt(&cfg, be, o.name, num);
			snprintf(
			    what, sizeof what, "%s %s=%s", be, o.name, num);
			expect_create(&cfg, CMAP_OK, NULL, what);
			/* below min, above max */
			if (o.min > 0) {
				snprintf(num, sizeof num, "%llu",
				    (unsigned long long)(o.min - 1));
				cfg_opt(&cfg, be, o.name, num);
				snprintf(what, sizeof what, "%s %s=%s", be,
				    o.name, num);
				expect_create(&cfg, CMAP_EINVAL, o.name, what);
			}
			if (o.max < UINT64_MAX) {
				const uint64_t above[] = {o.max + 1,
				    o.max < UINT64_MAX / 2 ? o.max * 2
				                           : UINT64_MAX,
				    UINT64_MAX};
				for (size_t a = 0; a < 3; a++) {
					snprintf(num, sizeof num, "%llu",
					    (unsigned long long)above[a]);
					cfg_opt(&cfg, be, o.name, num);
					snprintf(what, sizeof what, "%s %s=%s",
					    be, o.name, num);
					expect_create(
					    &cfg, CMAP_EINVAL, o.name, what);
				}
			}
			/* not numbers */
			for (size_t v = 0;
			     v < sizeof not_numbers / sizeof not_numbers[0];
			     v++) {
				cfg_opt(&cfg, be, o.name, not_numbers[v]);
				snprintf(what, sizeof what, "%s %s=\"%s\"", be,
				    o.name, not_numbers[v]);
				expect_create(&cfg, CMAP_EINVAL, o.name, what);
			}
			/* a number in range that is not a power of two */
			if (o.flags & CMAP_OPTION_POW2) {
				uint64_t v = o.min < 3 ? 3 : o.min;
				while (v < o.max && is_pow2(v))
					v++;
				if (v <= o.max && !is_pow2(v)) {
					snprintf(num, sizeof num, "%llu",
					    (unsigned long long)v);
					cfg_opt(&cfg, be, o.name, num);
					snprintf(what, sizeof what, "%s %s=%s",
					    be, o.name, num);
					expect_create(
					    &cfg, CMAP_EINVAL, o.name, what);
				}
			}
		}
	}
	/* the built-in backends have options (plain and sharded) */
	assert_true(checked >= 2);
}

/* The generic options: backend, capacity, seed. */
static void
test_generic_options(void **state)
{
	(void)state;
	cmap_config_t cfg;
	cmap_t *m;
	char what[128];

	for (size_t b = 0; b < g_nb; b++) {
		const char *be = g_backends[b];

		/* seed, visible in the stats */
		cfg_opt(&cfg, be, "seed", "12345");
		m = create_ok(&cfg, "seed=12345");
		assert_true(stats_of(m).seed == 12345);
		cmap_destroy(m);
		cfg_opt(&cfg, be, "seed", "18446744073709551615");
		m = create_ok(&cfg, "seed=UINT64_MAX");
		assert_true(stats_of(m).seed == UINT64_MAX);
		cmap_destroy(m);
		/* capacity: room for that many entries without growing */
		cfg_opt(&cfg, be, "capacity", "3000");
		assert_int_equal(cmap_config_set(&cfg, "seed", "7"), CMAP_OK);
		m = create_ok(&cfg, "capacity=3000");
		cmap_stats_t st = stats_of(m);
		/* (a remote backend has no local table to size) */
		assert_true(st.capacity >= 3000 || tu_has(be, CMAP_CAP_REMOTE));
		for (uint64_t k = 0; k < 3000; k++)
			assert_int_equal(
			    cmap_store(m, k * GOLD, k), CMAP_INSERTED);
		assert_int_equal(stats_of(m).grows, st.grows);
		cmap_destroy(m);
		/* bad values, named */
		cfg_opt(&cfg, be, "seed", "abc");
		snprintf(what, sizeof what, "%s seed=abc", be);
		expect_create(&cfg, CMAP_EINVAL, "seed", what);
		cfg_opt(&cfg, be, "capacity", "-5");
		snprintf(what, sizeof what, "%s capacity=-5", be);
		expect_create(&cfg, CMAP_EINVAL, "capacity", what);
		cfg_opt(&cfg, be, "capacity", "");
		expect_create(&cfg, CMAP_EINVAL, "capacity", "capacity=\"\"");

		/* backend overrides cfg.backend, whatever that says */
		for (size_t o = 0; o < g_nb; o++) {
			const char *const firsts[] = {NULL,
			    g_backends[(o + 1) % g_nb], "no-such-backend"};
			for (size_t f = 0; f < 3; f++) {
				/* the environment of the one named last */
				cfg_of(&cfg, g_backends[o]);
				cfg.backend = firsts[f];
				assert_int_equal(cmap_config_set(&cfg,
				                     "backend", g_backends[o]),
				    CMAP_OK);
				m = create_ok(&cfg, "backend option");
				assert_string_equal(
				    cmap_backend(m), g_backends[o]);
				assert_string_equal(
				    stats_of(m).backend, g_backends[o]);
				cmap_destroy(m);
			}
		}
		/* an unknown backend through the option: EBACKEND, named */
		cfg_opt(&cfg, be, "backend", "no-such-backend");
		expect_create(&cfg, CMAP_EBACKEND, "no-such-backend",
		    "backend=no-such-backend");
		cfg_opt(&cfg, be, "backend", "");
		expect_create(&cfg, CMAP_EBACKEND, NULL, "backend=\"\"");
	}
	/* options may be set before the backend is: checked against the
	 * backend chosen at create */
	for (size_t b = 0; b < g_nb; b++) {
		cmap_backend_info_t info;
		cmap_option_info_t o;

		assert_int_equal(
		    cmap_backend_info(g_backends[b], &info), CMAP_OK);
		if (info.n_options == 0)
			continue;
		assert_int_equal(
		    cmap_backend_option(g_backends[b], 0, &o), CMAP_OK);
		if (o.default_value == NULL)
			continue;
		tu_config_init(&cfg, g_backends[b]); /* its environment */
		cfg.backend = NULL;
		assert_int_equal(
		    cmap_config_set(&cfg, o.name, o.default_value), CMAP_OK);
		assert_int_equal(
		    cmap_config_set(&cfg, "backend", g_backends[b]), CMAP_OK);
		m = create_ok(&cfg, "option before backend");
		assert_string_equal(cmap_backend(m), g_backends[b]);
		cmap_destroy(m);
	}
}

/* The option "shards", wherever a backend takes it, and cfg.shards. */
static void
test_shards_option(void **state)
{
	(void)state;
	cmap_config_t cfg;
	cmap_t *m;
	size_t with = 0;

	for (size_t b = 0; b < g_nb; b++) {
		const char *be = g_backends[b];
		cmap_option_info_t o;

		if (!tu_option(be, "shards", &o)) {
			/* not its option: EINVAL, named; cfg.shards is
			 * ignored */
			cfg_opt(&cfg, be, "shards", "64");
			expect_create(&cfg, CMAP_EINVAL, "shards", be);
			cfg_of(&cfg, be);
			cfg.shards = 64;
			m = create_ok(&cfg, "cfg.shards ignored");
			assert_int_equal(stats_of(m).shards, 1);
			cmap_destroy(m);
			continue;
		}
		with++;
		assert_int_equal(o.type, CMAP_OPTION_UINT);
		assert_true(o.min <= 64 && o.max >= 128);
		/* the option */
		cfg_opt(&cfg, be, "shards", "64");
		m = create_ok(&cfg, "shards=64");
		assert_int_equal(stats_of(m).shards, 64);
		cmap_destroy(m);
		/* the typed field, the same */
		cfg_of(&cfg, be);
		cfg.shards = 64;
		m = create_ok(&cfg, "cfg.shards=64");
		assert_int_equal(stats_of(m).shards, 64);
		cmap_destroy(m);
		/* both: the option wins */
		cfg_opt(&cfg, be, "shards", "128");
		cfg.shards = 64;
		m = create_ok(&cfg, "cfg.shards=64 shards=128");
		assert_int_equal(stats_of(m).shards, 128);
		cmap_destroy(m);
		cfg_opt(&cfg, be, "shards", "16");
		cfg.shards = 64;
		m = create_ok(&cfg, "cfg.shards=64 shards=16");
		assert_int_equal(stats_of(m).shards, 16);
		cmap_destroy(m);
		/* cfg.shards 0: the option's default */
		cfg_of(&cfg, be);
		cfg.shards = 0;
		m = create_ok(&cfg, "cfg.shards=0");
		assert_int_equal(
		    stats_of(m).shards, strtoull(o.default_value, NULL, 0));
		cmap_destroy(m);
		/* a bad count through either: EINVAL naming the option */
		cfg_opt(&cfg, be, "shards", "48");
		expect_create(&cfg, CMAP_EINVAL, "shards", "shards=48");
		cfg_of(&cfg, be);
		cfg.shards = 48;
		expect_create(&cfg, CMAP_EINVAL, "shards", "cfg.shards=48");
	}
	if (with == 0)
		skip();
}

/* ===================================================================
 * ABI: sizes
 * ================================================================= */

static void
test_abi_config(void **state)
{
	(void)state;
	cmap_config_t cfg;
	struct newer {
		cmap_config_t base;
		unsigned char extra[64]; /* fields of a later 1.x */
	} nc;

	memset(&cfg, 0x5a, sizeof cfg);
	cmap_config_init(&cfg);
	assert_int_equal(cfg.size, sizeof cfg);
	/* sizes of no known version */
	const size_t bad[] = {0, 1, sizeof(size_t),
	    offsetof(cmap_config_t, allocator),
	    offsetof(cmap_config_t, n_options_),
	    offsetof(cmap_config_t, options_),
	    offsetof(cmap_config_t, options_) + CMAP_CONFIG_OPTION_BYTES / 2,
	    FIELD_END(cmap_config_t, options_) - 1};
	for (size_t b = 0; b < g_nb; b++) {
		for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
			char what[64];

			cfg_of(&cfg, g_backends[b]);
			cfg.size = bad[i];
			snprintf(what, sizeof what, "%s size %zu",
			    g_backends[b], bad[i]);
			expect_create(&cfg, CMAP_EINVAL, NULL, what);
		}
		/* a config from a newer header: bigger, the new fields
		 * zero */
		memset(&nc, 0, sizeof nc);
		tu_config_init(&nc.base, g_backends[b]);
		nc.base.size = sizeof nc;
		assert_int_equal(sizeof nc, sizeof(cmap_config_t) + 64);
		expect_create(&nc.base, CMAP_OK, NULL, "newer, zero tail");
		assert_int_equal(
		    cmap_config_set(&nc.base, "seed", "77"), CMAP_OK);
		cmap_t *m = create_ok(&nc.base, "newer with an option");
		assert_true(stats_of(m).seed == 77);
		cmap_destroy(m);
		/* ... with a field this library does not know set: EINVAL */
		const size_t at[] = {0, 1, 31, 63};
		for (size_t i = 0; i < 4; i++) {
			nc.extra[at[i]] = 1;
			expect_create(&nc.base, CMAP_EINVAL, NULL,
			    "newer, non-zero tail");
			nc.extra[at[i]] = 0;
		}
		expect_create(&nc.base, CMAP_OK, NULL, "newer, zero again");
	}
}

/* A size past the last field of the 1.0 struct but short of its sizeof
 * (its tail padding) is not the size of a known version either. */
static void
test_abi_config_tail(void **state)
{
	(void)state;
	cmap_config_t cfg;
	const size_t end = FIELD_END(cmap_config_t, options_);

	if (end == sizeof(cmap_config_t))
		skip(); /* no tail padding on this ABI */
	for (size_t b = 0; b < g_nb; b++)
		for (size_t size = end; size < sizeof(cmap_config_t); size++) {
			char what[64];

			cfg_of(&cfg, g_backends[b]);
			cfg.size = size;
			snprintf(what, sizeof what, "%s size %zu (sizeof %zu)",
			    g_backends[b], size, sizeof(cmap_config_t));
			expect_create(&cfg, CMAP_EINVAL, NULL, what);
		}
}

/* bytes [from, to) of p all equal c */
static bool
all_bytes(const void *p, size_t from, size_t to, unsigned char c)
{
	const unsigned char *q = p;

	for (size_t i = from; i < to; i++)
		if (q[i] != c)
			return false;
	return true;
}

static void
check_stats_prefix(
    const cmap_stats_t *got, const cmap_stats_t *full, size_t size)
{
#define CMP(f)                                                                 \
	do {                                                                   \
		if (FIELD_FITS(cmap_stats_t, f, size))                         \
			assert_true(got->f == full->f);                        \
	} while (0)
	CMP(backend);
	CMP(len);
	CMP(capacity);
	CMP(bytes);
	CMP(grows);
	CMP(shrinks);
	CMP(shards);
	CMP(min_shard_len);
	CMP(max_shard_len);
	CMP(max_probe);
	CMP(mean_probe);
	CMP(seed);
#undef CMP
}

static void
test_abi_stats(void **state)
{
	(void)state;
	union {
		cmap_stats_t st;
		unsigned char b[sizeof(cmap_stats_t) + 64];
	} u;
	const size_t total = sizeof u.b;
	const size_t sizes[] = {FIELD_END(cmap_stats_t, backend),
	    FIELD_END(cmap_stats_t, len), FIELD_END(cmap_stats_t, bytes),
	    FIELD_END(cmap_stats_t, shards),
	    FIELD_END(cmap_stats_t, max_shard_len),
	    FIELD_END(cmap_stats_t, mean_probe), offsetof(cmap_stats_t, seed),
	    sizeof(cmap_stats_t)};

	for (size_t b = 0; b < g_nb; b++) {
		cmap_config_t cfg;
		cmap_stats_t full;

		cfg_of(&cfg, g_backends[b]);
		cfg.seed = 4242;
		cmap_t *m = create_ok(&cfg, "stats");
		for (uint64_t k = 0; k < 500; k++)
			assert_int_equal(cmap_store(m, k, ~k), CMAP_INSERTED);
		full = stats_of(m);
		assert_true(full.seed == 4242);
		/* smaller: only that many bytes written */
		for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
			memset(u.b, 0xa5, total);
			assert_int_equal(
			    cmap_stats_sized(m, &u.st, sizes[i]), CMAP_OK);
			if (!all_bytes(u.b, sizes[i], total, 0xa5))
				fail_msg("%s: cmap_stats_sized(%zu) wrote past "
				         "the size",
				    g_backends[b], sizes[i]);
			check_stats_prefix(&u.st, &full, sizes[i]);
		}
		/* bigger (a newer header): the tail is zero-filled */
		memset(u.b, 0xa5, total);
		assert_int_equal(cmap_stats_sized(m, &u.st, total), CMAP_OK);
		check_stats_prefix(&u.st, &full, sizeof(cmap_stats_t));
		if (!all_bytes(u.b, sizeof(cmap_stats_t), total, 0))
			fail_msg("%s: cmap_stats_sized(%zu): tail not zeroed",
			    g_backends[b], total);
		/* and the inline wrapper passes this header's size */
		memset(u.b, 0xa5, total);
		assert_int_equal(cmap_stats(m, &u.st), CMAP_OK);
		assert_true(all_bytes(u.b, sizeof(cmap_stats_t), total, 0xa5));
		check_stats_prefix(&u.st, &full, sizeof(cmap_stats_t));
		cmap_destroy(m);
	}
}

static void
check_info_prefix(const cmap_backend_info_t *got,
    const cmap_backend_info_t *full, size_t size)
{
#define CMP(f)                                                                 \
	do {                                                                   \
		if (FIELD_FITS(cmap_backend_info_t, f, size))                  \
			assert_true(got->f == full->f);                        \
	} while (0)
	CMP(name);
	CMP(summary);
	CMP(version);
	CMP(caps);
	CMP(n_options);
#undef CMP
}

static void
check_opt_prefix(
    const cmap_option_info_t *got, const cmap_option_info_t *full, size_t size)
{
#define CMP(f)                                                                 \
	do {                                                                   \
		if (FIELD_FITS(cmap_option_info_t, f, size))                   \
			assert_true(got->f == full->f);                        \
	} while (0)
	CMP(name);
	CMP(type);
	CMP(default_value);
	CMP(doc);
	CMP(min);
	CMP(max);
	CMP(flags);
#undef CMP
}

static void
test_abi_backend_info(void **state)
{
	(void)state;
	union {
		cmap_backend_info_t info;
		unsigned char b[sizeof(cmap_backend_info_t) + 64];
	} u;
	union {
		cmap_option_info_t opt;
		unsigned char b[sizeof(cmap_option_info_t) + 64];
	} v;
	const size_t isizes[] = {FIELD_END(cmap_backend_info_t, name),
	    FIELD_END(cmap_backend_info_t, summary),
	    FIELD_END(cmap_backend_info_t, version),
	    FIELD_END(cmap_backend_info_t, caps), sizeof(cmap_backend_info_t)};
	const size_t osizes[] = {FIELD_END(cmap_option_info_t, name),
	    FIELD_END(cmap_option_info_t, type),
	    FIELD_END(cmap_option_info_t, default_value),
	    FIELD_END(cmap_option_info_t, doc),
	    FIELD_END(cmap_option_info_t, min),
	    FIELD_END(cmap_option_info_t, max), sizeof(cmap_option_info_t)};
	size_t with_options = 0;

	for (size_t b = 0; b < g_nb; b++) {
		const char *be = g_backends[b];
		cmap_backend_info_t full;

		assert_int_equal(cmap_backend_info(be, &full), CMAP_OK);
		for (size_t i = 0; i < sizeof isizes / sizeof isizes[0]; i++) {
			memset(u.b, 0xa5, sizeof u.b);
			assert_int_equal(
			    cmap_backend_info_sized(be, &u.info, isizes[i]),
			    CMAP_OK);
			assert_true(
			    all_bytes(u.b, isizes[i], sizeof u.b, 0xa5));
			check_info_prefix(&u.info, &full, isizes[i]);
		}
		memset(u.b, 0xa5, sizeof u.b);
		assert_int_equal(
		    cmap_backend_info_sized(be, &u.info, sizeof u.b), CMAP_OK);
		check_info_prefix(&u.info, &full, sizeof(cmap_backend_info_t));
		assert_true(
		    all_bytes(u.b, sizeof(cmap_backend_info_t), sizeof u.b, 0));

		for (size_t o = 0; o < full.n_options; o++) {
			cmap_option_info_t ofull;

			with_options++;
			assert_int_equal(
			    cmap_backend_option(be, o, &ofull), CMAP_OK);
			for (size_t i = 0; i < sizeof osizes / sizeof osizes[0];
			     i++) {
				memset(v.b, 0xa5, sizeof v.b);
				assert_int_equal(cmap_backend_option_sized(
				                     be, o, &v.opt, osizes[i]),
				    CMAP_OK);
				assert_true(all_bytes(
				    v.b, osizes[i], sizeof v.b, 0xa5));
				check_opt_prefix(&v.opt, &ofull, osizes[i]);
			}
			memset(v.b, 0xa5, sizeof v.b);
			assert_int_equal(cmap_backend_option_sized(
			                     be, o, &v.opt, sizeof v.b),
			    CMAP_OK);
			check_opt_prefix(
			    &v.opt, &ofull, sizeof(cmap_option_info_t));
			assert_true(all_bytes(
			    v.b, sizeof(cmap_option_info_t), sizeof v.b, 0));
		}
	}
	assert_true(with_options >= 1);
}

/* ===================================================================
 * Version, last error
 * ================================================================= */

static void
test_version(void **state)
{
	(void)state;
	char buf[32];

	assert_int_equal(cmap_version(), CMAP_VERSION);
	assert_int_equal(CMAP_VERSION,
	    CMAP_VERSION_MAJOR * 10000 + CMAP_VERSION_MINOR * 100 +
	        CMAP_VERSION_PATCH);
	assert_int_equal(CMAP_VERSION_MAJOR, 1);
	assert_non_null(cmap_version_string());
	assert_string_equal(cmap_version_string(), CMAP_VERSION_STRING);
	snprintf(buf, sizeof buf, "%d.%d.%d", CMAP_VERSION_MAJOR,
	    CMAP_VERSION_MINOR, CMAP_VERSION_PATCH);
	assert_string_equal(CMAP_VERSION_STRING, buf);
}

struct thread_errors {
	const char *backend;
	bool fresh_empty; /* "" before anything failed on the thread */
	bool set_on_fail; /* names the option after a failed create */
	char msg[256];
};

static void *
errors_thread(void *arg)
{
	struct thread_errors *t = arg;
	const char *e = cmap_last_error();
	cmap_config_t cfg;
	cmap_t *m = NULL;

	t->fresh_empty = e != NULL && e[0] == '\0';
	tu_config_init(&cfg, t->backend);
	if (cmap_config_set(&cfg, "thread_only_option", "1") == CMAP_OK &&
	    cmap_create(&cfg, &m) == CMAP_EINVAL) {
		e = cmap_last_error();
		t->set_on_fail =
		    e != NULL && strstr(e, "thread_only_option") != NULL;
		snprintf(t->msg, sizeof t->msg, "%s", e ? e : "(null)");
	}
	if (m != NULL)
		cmap_destroy(m);
	return NULL;
}

static void
test_last_error(void **state)
{
	(void)state;
	cmap_config_t cfg;
	cmap_t *m = NULL;
	pthread_t th;
	struct thread_errors te = {.backend = g_backends[0]};

	/* a failed create names its culprit */
	cfg_of(&cfg, "main-thread-backend");
	assert_int_equal(cmap_create(&cfg, &m), CMAP_EBACKEND);
	assert_null(m);
	assert_non_null(cmap_last_error());
	assert_non_null(strstr(cmap_last_error(), "main-thread-backend"));

	/* a fresh thread has no error; its own failures stay its own */
	assert_int_equal(pthread_create(&th, NULL, errors_thread, &te), 0);
	assert_int_equal(pthread_join(th, NULL), 0);
	assert_true(te.fresh_empty);
	if (!te.set_on_fail)
		fail_msg("thread: last error \"%s\"", te.msg);
	assert_non_null(strstr(cmap_last_error(), "main-thread-backend"));
	assert_null(strstr(cmap_last_error(), "thread_only_option"));

	/* each failing function sets it */
	assert_int_equal(cmap_config_set(&cfg, "", "1"), CMAP_EINVAL);
	assert_true(cmap_last_error()[0] != '\0');
	assert_null(strstr(cmap_last_error(), "main-thread-backend"));
	assert_int_equal(
	    cmap_backend_info("info-culprit", &(cmap_backend_info_t){0}),
	    CMAP_EBACKEND);
	assert_non_null(strstr(cmap_last_error(), "info-culprit"));
	cmap_option_info_t opt;
	assert_int_equal(
	    cmap_backend_option("option-culprit", 0, &opt), CMAP_EBACKEND);
	assert_non_null(strstr(cmap_last_error(), "option-culprit"));
	cfg_opt(&cfg, g_backends[0], "capacity", "not-a-number");
	assert_int_equal(cmap_create(&cfg, &m), CMAP_EINVAL);
	assert_null(m);
	assert_non_null(strstr(cmap_last_error(), "capacity"));
}

/* cmap_sync: EINVAL for NULL; on every backend a sync after writes
 * succeeds and changes nothing a load sees. */
static void
test_sync(void **state)
{
	(void)state;
	assert_int_equal(cmap_sync(NULL), CMAP_EINVAL);
	for (size_t i = 0; i < g_nb; i++) {
		cmap_config_t cfg;
		cmap_t *m;
		uint64_t v = 0;

		cfg_of(&cfg, g_backends[i]);
		m = tu_create_cfg(&cfg);
		assert_int_equal(cmap_store(m, 7, 70), CMAP_INSERTED);
		assert_int_equal(cmap_sync(m), CMAP_OK);
		assert_int_equal(cmap_load(m, 7, &v), CMAP_OK);
		assert_int_equal(v, 70);
		assert_int_equal(cmap_len(m), 1);
		cmap_destroy(m);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_sync),
	    cmocka_unit_test(test_results_table),
	    cmocka_unit_test(test_backend_info),
	    cmocka_unit_test(test_config_set_get),
	    cmocka_unit_test(test_config_overflow),
	    cmocka_unit_test(test_option_values),
	    cmocka_unit_test(test_generic_options),
	    cmocka_unit_test(test_shards_option),
	    cmocka_unit_test(test_abi_config),
	    cmocka_unit_test(test_abi_config_tail),
	    cmocka_unit_test(test_abi_stats),
	    cmocka_unit_test(test_abi_backend_info),
	    cmocka_unit_test(test_version),
	    cmocka_unit_test(test_last_error),
	};

	g_nb = tu_backends(g_backends);
	return cmocka_run_group_tests_name("api", tests, NULL, NULL);
}
