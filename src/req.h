/*
 * req.h - single-key requests and their semantics, written once.
 *
 * Every single-key operation that does not have a direct entry point in
 * its backend's descriptor reaches the backend as one request.  What a
 * request does to its key, given whether the key is present and its value,
 * is cmap__decide(): the one statement of the RESULTS table of cmap.h,
 * used by the table core (under the owner's lock) and by the lockfree
 * backend (before its compare-and-swap).  It is a pure function but for
 * the update callback, static inline so that a caller whose request kind
 * is a constant keeps only that kind's case.
 */
#ifndef CMAP_REQ_H
#define CMAP_REQ_H

#include "cmap.h"

#include <stdbool.h>
#include <stdint.h>

enum cmap_req_kind {
	CMAP_REQ_LOAD,            /* -> OK (out = value) | NOT_FOUND */
	CMAP_REQ_STORE,           /* a = value -> OK | INSERTED */
	CMAP_REQ_LOAD_OR_STORE,   /* a = value -> OK | INSERTED; out */
	CMAP_REQ_LOAD_AND_DELETE, /* -> OK (out = old) | NOT_FOUND */
	CMAP_REQ_DELETE,          /* -> OK | NOT_FOUND */
	CMAP_REQ_SWAP,            /* a = value -> OK (out = old) | INSERTED */
	CMAP_REQ_CAS,    /* a = expected, b = desired -> OK|MISMATCH|NF */
	CMAP_REQ_CAD,    /* a = expected -> OK | MISMATCH | NOT_FOUND */
	CMAP_REQ_ADD,    /* a = delta -> OK | INSERTED; out = sum */
	CMAP_REQ_UPDATE, /* fn, ctx -> OK | INSERTED | NOT_FOUND; out */
	CMAP_REQ_KIND_COUNT_
};

struct cmap_req {
	enum cmap_req_kind kind;
	uint64_t key;
	uint64_t a;
	uint64_t b;
	cmap_update_fn fn;
	void *ctx;
	uint64_t out; /* result value, as the kind says above */
};

/* What must happen to the key. */
enum cmap_act { CMAP_ACT_NONE, CMAP_ACT_SET, CMAP_ACT_DELETE };

struct cmap_effect {
	enum cmap_act act;
	uint64_t value; /* the value to store, for CMAP_ACT_SET */
	uint64_t out;   /* the request's result value, for req->out */
};

/*
 * cmap__decide - what request q does to its key, present with value `old`
 * or absent.  Fills *e and returns the request's status, or CMAP_EINVAL
 * for an update callback's unknown action (then CMAP_ACT_NONE).  A write
 * that would leave a present key's value as it is (a store of the value it
 * has) is CMAP_ACT_NONE: nothing to write, and the same result.
 * q is not written: the caller copies e->out into q->out once the effect
 * has been applied (a lockfree caller may decide again after a lost race,
 * which runs an update callback again).
 */
static inline cmap_status_t
cmap__decide(
    const struct cmap_req *q, bool present, uint64_t old, struct cmap_effect *e)
{
	uint64_t v;

	e->act = CMAP_ACT_NONE;
	e->value = 0;
	e->out = old;
	switch (q->kind) {
	case CMAP_REQ_LOAD:
		return present ? CMAP_OK : CMAP_NOT_FOUND;
	case CMAP_REQ_STORE:
		v = q->a;
		break;
	case CMAP_REQ_LOAD_OR_STORE:
		if (present)
			return CMAP_OK;
		e->out = v = q->a;
		break;
	case CMAP_REQ_LOAD_AND_DELETE:
	case CMAP_REQ_DELETE:
		if (!present)
			return CMAP_NOT_FOUND;
		e->act = CMAP_ACT_DELETE;
		return CMAP_OK;
	case CMAP_REQ_SWAP:
		v = q->a;
		break;
	case CMAP_REQ_CAS:
	case CMAP_REQ_CAD:
		if (!present)
			return CMAP_NOT_FOUND;
		if (old != q->a)
			return CMAP_MISMATCH;
		if (q->kind == CMAP_REQ_CAD) {
			e->act = CMAP_ACT_DELETE;
			return CMAP_OK;
		}
		v = q->b;
		break;
	case CMAP_REQ_ADD:
		e->out = v = (present ? old : 0) + q->a;
		break;
	case CMAP_REQ_UPDATE:
		v = present ? old : 0;
		switch (q->fn(q->key, &v, present, q->ctx)) {
		case CMAP_UPDATE_KEEP:
			return present ? CMAP_OK : CMAP_NOT_FOUND;
		case CMAP_UPDATE_STORE:
			e->out = v;
			break;
		case CMAP_UPDATE_DELETE:
			if (!present)
				return CMAP_NOT_FOUND;
			e->act = CMAP_ACT_DELETE;
			return CMAP_OK;
		default:
			return CMAP_EINVAL;
		}
		break;
	default:
		return CMAP_EINVAL;
	}
	/* Every kind that reaches here stores v. */
	e->value = v;
	if (!present) {
		e->act = CMAP_ACT_SET;
		return CMAP_INSERTED;
	}
	if (v != old)
		e->act = CMAP_ACT_SET;
	return CMAP_OK;
}

/*
 * A batch (cmap.h, "Batches") as a backend's batch paths see it: one kind
 * of operation over keys[0..n), with values in (store) or out (load), and
 * a status per key.
 */
enum cmap__batch_kind {
	CMAP__BATCH_LOAD,
	CMAP__BATCH_STORE,
	CMAP__BATCH_DELETE
};

struct cmap__batch {
	enum cmap__batch_kind kind;
	const uint64_t *keys;
	const uint64_t *in; /* store: the values */
	uint64_t *out;      /* load: the values found */
	cmap_status_t *status;
};

#endif /* CMAP_REQ_H */
