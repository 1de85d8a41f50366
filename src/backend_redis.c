/*
 * backend_redis.c - the map in a Redis server or a Redis Cluster, shared
 * by every process that names the same servers and namespace.
 *
 * LAYOUT.  The entries are spread over `buckets` Redis hashes (default
 * 1024), "<namespace>:<bucket in 4 hex digits>", each holding fields
 * "<key in 16 hex digits>" with values "<value in 16 hex digits>".  The
 * bucket of a key is a fixed hash of it (the same in every process, not
 * the map's seed), so every process that uses the namespace must use the
 * same bucket count.  Many keys spread the map over a cluster's slots
 * (a single hash would sit on one node); a bounded number of them keeps
 * len, range and clear O(buckets), whatever else the database holds.
 *
 * OPERATIONS.  Each is one command on one bucket, atomic on the server:
 * load HGET, store HSET (its 1 or 0 is INSERTED or OK), delete HDEL; the
 * rest are Lua scripts (EVALSHA, sent again in full on NOSCRIPT, as after
 * a failover): swap, load_or_store and load_and_delete one script
 * ("xchg"), compare-and-swap, compare-and-delete and update's write
 * another ("cond"), add a third.  Lua numbers are doubles, so no script
 * turns a value into a number: cond compares the hex strings, and add
 * sums two 32-bit halves (exact in a double) with the carry by hand.
 * update is an optimistic loop: read, run the callback, then apply its
 * decision with cond only if the key still holds what was read, else run
 * the callback again on the value cond returns (so it may run more than
 * once: no CMAP_CAP_UPDATE_ONCE).  That is what WATCH/MULTI/EXEC would do,
 * in one command that routes and redirects like any other instead of
 * pinning one connection across four.
 *
 * WHOLE-MAP CALLS.  len sums HLEN of every bucket, pipelined (one round
 * trip per node): exact when quiescent; under concurrency each bucket is
 * read at another moment and a writer may be counted in several buckets
 * during one call (no CMAP_CAP_LEN_EXACT).  range takes HGETALL of each bucket,
 * a snapshot of that bucket, so a key is shown at most once
 * (CMAP_CAP_RANGE_ONCE) and a key present throughout is shown with its
 * value.  clear UNLINKs every bucket: the server frees them in the
 * background, never blocking; a key stored into a bucket after its
 * UNLINK survives, as a store after a clear would.
 *
 * THREADS.  hiredis contexts are not thread-safe: each call takes a
 * session (one connection per node) from the map's pool and gives it back
 * (redis_cluster.h says why a pool rather than per-thread connections).
 * Routing, redirections, the slot map and the fault codes are in
 * redis_cluster.c.
 */
#include "redis_cluster.h"

#include <stdio.h>
#include <string.h>

enum {
	OPT_SERVERS,
	OPT_NAMESPACE,
	OPT_BUCKETS,
	OPT_CONNECT_TIMEOUT,
	OPT_TIMEOUT,
	OPT_PASSWORD,
	OPT_DB,
	OPT_REPLICAS,
};

static const cmap_option_info_t redis_options[] = {
    [OPT_SERVERS] = {"servers", CMAP_OPTION_STRING, NULL,
        "comma-separated host:port or unix socket paths: one server, or "
        "seeds of a cluster (found out with CLUSTER SLOTS)",
        0, 0, CMAP_OPTION_REQUIRED},
    [OPT_NAMESPACE] = {"namespace", CMAP_OPTION_STRING, "cmap",
        "prefix of the map's Redis keys: maps with different namespaces "
        "never see each other's entries (1 to 200 bytes)",
        0, 0, 0},
    [OPT_BUCKETS] = {"buckets", CMAP_OPTION_UINT, "1024",
        "Redis hashes the entries are spread over, a power of two; every "
        "process using the namespace must give the same",
        1, 65536, CMAP_OPTION_POW2},
    [OPT_CONNECT_TIMEOUT] = {"connect_timeout_ms", CMAP_OPTION_UINT, "1000",
        "how long a connection attempt may take", 1, 3600000, 0},
    [OPT_TIMEOUT] = {"timeout_ms", CMAP_OPTION_UINT, "2000",
        "how long a command may wait for its answer", 1, 3600000, 0},
    [OPT_PASSWORD] = {"password", CMAP_OPTION_STRING, "",
        "sent with AUTH on each connection when not empty", 0, 0, 0},
    [OPT_DB] = {"db", CMAP_OPTION_UINT, "0",
        "database number (SELECT); a cluster has only 0", 0, 1000000, 0},
    [OPT_REPLICAS] = {"replicas", CMAP_OPTION_UINT, "0",
        "a write succeeds once this many replicas confirm it (WAIT), "
        "else CMAP_EINDOUBT; with 0 a failover may lose acknowledged "
        "writes (asynchronous replication)",
        0, 64, 0},
};

#define NS_MAX 200u
#define KEY_MAX (NS_MAX + 8u)
#define VAL_LEN 16u
/* Most commands one pipelined round trip carries (batches, len). */
#define CHUNK 1024u
/* Buckets one round trip of range fetches (their replies are whole). */
#define RANGE_CHUNK 16u
/* The fixed seed of the key -> bucket hash (any constant; never change
 * it: maps already in a server would lose their keys). */
#define BUCKET_SEED UINT64_C(0x6c69626e6d617072)

/* cond: field ARGV[1] of KEYS[1] holds ARGV[2] ("" = absent)?  Then set
 * it to ARGV[3] ("" = delete) and return {1}; else {0} (absent) or
 * {0, value}. */
static const char cond_lua[] =
    "local v = redis.call('HGET', KEYS[1], ARGV[1])\n"
    "if ARGV[2] == '' then if v then return {0, v} end\n"
    "elseif not v then return {0}\n"
    "elseif v ~= ARGV[2] then return {0, v} end\n"
    "if ARGV[3] == '' then redis.call('HDEL', KEYS[1], ARGV[1])\n"
    "else redis.call('HSET', KEYS[1], ARGV[1], ARGV[3]) end\n"
    "return {1}\n";

/* xchg: the old value of field ARGV[1] (false when absent), and then by
 * ARGV[2]: 's' set ARGV[3], 'n' set ARGV[3] only if absent, 'd' delete. */
static const char xchg_lua[] =
    "local v = redis.call('HGET', KEYS[1], ARGV[1])\n"
    "local m = ARGV[2]\n"
    "if m == 's' or (m == 'n' and not v) then\n"
    "  redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])\n"
    "elseif m == 'd' and v then redis.call('HDEL', KEYS[1], ARGV[1]) end\n"
    "return v\n";

/* add: field ARGV[1] += ARGV[2] modulo 2^64 on 32-bit halves (exact in
 * Lua's doubles): {1, sum} when it was present, {0, sum} when inserted. */
static const char add_lua[] =
    "local v = redis.call('HGET', KEYS[1], ARGV[1])\n"
    "local d = ARGV[2]\n"
    "local hi, lo = 0, 0\n"
    "if v then hi = tonumber(string.sub(v, 1, 8), 16)\n"
    "  lo = tonumber(string.sub(v, 9, 16), 16) end\n"
    "if not hi or not lo or (v and #v ~= 16) then\n"
    "  return redis.error_reply('not a libcmap value: ' .. v) end\n"
    "lo = lo + tonumber(string.sub(d, 9, 16), 16)\n"
    "local c = 0\n"
    "if lo >= 4294967296 then lo = lo - 4294967296; c = 1 end\n"
    "hi = (hi + tonumber(string.sub(d, 1, 8), 16) + c) % 4294967296\n"
    "local r = string.format('%08x%08x', hi, lo)\n"
    "redis.call('HSET', KEYS[1], ARGV[1], r)\n"
    "if v then return {1, r} end\n"
    "return {0, r}\n";

enum { SCRIPT_COND, SCRIPT_XCHG, SCRIPT_ADD, N_SCRIPTS };

static const struct {
	const char *text;
	size_t len;
} scripts[N_SCRIPTS] = {
    [SCRIPT_COND] = {cond_lua, sizeof cond_lua - 1},
    [SCRIPT_XCHG] = {xchg_lua, sizeof xchg_lua - 1},
    [SCRIPT_ADD] = {add_lua, sizeof add_lua - 1},
};

struct redis_map {
	struct cmap base;
	char ns[NS_MAX + 2]; /* "<namespace>:" */
	size_t ns_len;
	uint32_t buckets; /* a power of two */
	char sha[N_SCRIPTS][41];
	struct cmap__rc rc;
};

#define RD(m) ((struct redis_map *)(m))

/* The text a command's arguments point into: bucket, field, values. */
struct rd_text {
	char key[KEY_MAX];
	char field[VAL_LEN + 1];
	char val[2][VAL_LEN + 1];
};

/* One command and its text, for the single-key calls. */
struct rd_cmd {
	struct cmap__rc_cmd c;
	struct rd_text t;
};

static void
hex16(char *out, uint64_t v)
{
	static const char digits[] = "0123456789abcdef";

	for (int i = VAL_LEN - 1; i >= 0; i--, v >>= 4)
		out[i] = digits[v & 15];
	out[VAL_LEN] = '\0';
}

/* Parse 16 hex digits; false for anything else. */
static bool
unhex16(const char *s, size_t len, uint64_t *v)
{
	uint64_t x = 0;

	if (len != VAL_LEN)
		return false;
	for (size_t i = 0; i < VAL_LEN; i++) {
		unsigned char ch = (unsigned char)s[i];
		unsigned d = ch >= '0' && ch <= '9' ? ch - '0'
		    : ch >= 'a' && ch <= 'f'        ? ch - 'a' + 10
		                                    : 16;

		if (d > 15)
			return false;
		x = x << 4 | d;
	}
	*v = x;
	return true;
}

/* ------------------------------------------------------------ commands */

/* Start command c on bucket b, its text in t. */
static void
cmd_bucket(const struct redis_map *r, struct cmap__rc_cmd *c, struct rd_text *t,
    uint32_t b)
{
	static const char digits[] = "0123456789abcdef";

	memcpy(t->key, r->ns, r->ns_len);
	for (int i = 3; i >= 0; i--, b >>= 4)
		t->key[r->ns_len + (size_t)i] = digits[b & 15];
	t->key[r->ns_len + 4] = '\0';
	c->node = -1;
	c->slot = cmap__rc_slot(&r->rc, t->key, r->ns_len + 4);
	c->argc = 0;
}

/* Start command c on key's bucket, with the key as field text. */
static void
cmd_init(const struct redis_map *r, struct cmap__rc_cmd *c, struct rd_text *t,
    uint64_t key)
{
	cmd_bucket(r, c, t,
	    (uint32_t)(cmap__hash(key, BUCKET_SEED) >> 32) & (r->buckets - 1));
	hex16(t->field, key);
}

static void
push(struct cmap__rc_cmd *c, const char *s, size_t len)
{
	c->argv[c->argc] = s;
	c->len[c->argc++] = len;
}

#define ARG(c, lit) push(c, lit, sizeof lit - 1)

/* The bucket, then (with_field) the key's field. */
static void
arg_key(const struct redis_map *r, struct cmap__rc_cmd *c, struct rd_text *t,
    bool with_field)
{
	push(c, t->key, r->ns_len + 4);
	if (with_field)
		push(c, t->field, VAL_LEN);
}

static void
arg_val(struct cmap__rc_cmd *c, struct rd_text *t, int i, uint64_t v)
{
	hex16(t->val[i], v);
	push(c, t->val[i], VAL_LEN);
}

/* Run cmds[0..n) on a session of the pool. */
static cmap_status_t
run(struct redis_map *r, struct cmap__rc_cmd *cmds, size_t n, bool write)
{
	struct cmap__rc_sess *s = cmap__rc_get(&r->rc);
	cmap_status_t st;

	if (s == NULL) {
		for (size_t i = 0; i < n; i++)
			cmds[i].st = CMAP_ENOMEM;
		return CMAP_ENOMEM;
	}
	st = cmap__rc_run(&r->rc, s, cmds, n, write);
	cmap__rc_put(&r->rc, s);
	return st;
}

/* Script `which` on q's key, whose ARGV after the field q holds already:
 * by its SHA1, sent again in full on NOSCRIPT (a node that never saw it,
 * as a replica just promoted).  The reply stays in q->c.reply on OK. */
static cmap_status_t
script(struct redis_map *r, struct rd_cmd *q, int which)
{
	cmap_status_t st;
	int argc = q->c.argc;

	memmove(&q->c.argv[5], &q->c.argv[0], (size_t)argc * sizeof(char *));
	memmove(&q->c.len[5], &q->c.len[0], (size_t)argc * sizeof(size_t));
	q->c.argc = 0;
	ARG(&q->c, "EVALSHA");
	push(&q->c, r->sha[which], 40);
	ARG(&q->c, "1");
	arg_key(r, &q->c, &q->t, true);
	q->c.argc = 5 + argc;
	if ((st = run(r, &q->c, 1, true)) != CMAP_OK ||
	    q->c.reply->type != REDIS_REPLY_ERROR)
		return st;
	freeReplyObject(q->c.reply);
	q->c.argv[0] = "EVAL";
	q->c.len[0] = 4;
	q->c.argv[1] = scripts[which].text;
	q->c.len[1] = scripts[which].len;
	if ((st = run(r, &q->c, 1, true)) != CMAP_OK)
		return st;
	if (q->c.reply->type != REDIS_REPLY_ERROR)
		return CMAP_OK;
	st = cmap__fail(CMAP_EIO, "redis: script: %s", q->c.reply->str);
	freeReplyObject(q->c.reply);
	return st;
}

/* A reply that should be a value or nil: OK (*v set), NOT_FOUND, or EIO
 * when the field holds something that is not a libcmap value. */
static cmap_status_t
value_of(const redisReply *rep, const struct rd_text *t, uint64_t *v)
{
	if (rep->type == REDIS_REPLY_NIL)
		return CMAP_NOT_FOUND;
	if (rep->type == REDIS_REPLY_STRING && unhex16(rep->str, rep->len, v))
		return CMAP_OK;
	return cmap__fail(CMAP_EIO,
	    "redis: field %s of '%s' holds no libcmap value", t->field, t->key);
}

/* An integer reply's 1 (-> yes) or 0 (-> no); EIO for anything else. */
static cmap_status_t
flag_of(const redisReply *rep, cmap_status_t yes, cmap_status_t no)
{
	if (rep->type == REDIS_REPLY_INTEGER)
		return rep->integer == 1 ? yes : no;
	return cmap__fail(
	    CMAP_EIO, "redis: unexpected reply type %d", rep->type);
}

/* One native command on key's field, with a value when value != NULL. */
static cmap_status_t
native(struct redis_map *r, struct rd_cmd *q, uint64_t key, const char *verb,
    const uint64_t *value, bool write)
{
	cmd_init(r, &q->c, &q->t, key);
	push(&q->c, verb, strlen(verb));
	arg_key(r, &q->c, &q->t, true);
	if (value != NULL)
		arg_val(&q->c, &q->t, 0, *value);
	return run(r, &q->c, 1, write);
}

/* Finish a command whose reply is a value or nil, freeing the reply. */
static cmap_status_t
finish_value(struct rd_cmd *q, cmap_status_t st, uint64_t *v)
{
	if (st != CMAP_OK)
		return st;
	st = value_of(q->c.reply, &q->t, v);
	freeReplyObject(q->c.reply);
	return st;
}

static cmap_status_t
finish_flag(
    struct rd_cmd *q, cmap_status_t st, cmap_status_t yes, cmap_status_t no)
{
	if (st != CMAP_OK)
		return st;
	st = flag_of(q->c.reply, yes, no);
	freeReplyObject(q->c.reply);
	return st;
}

static cmap_status_t
redis_load(cmap_t *m, uint64_t key, uint64_t *value)
{
	struct rd_cmd q;

	return finish_value(
	    &q, native(RD(m), &q, key, "HGET", NULL, false), value);
}

static cmap_status_t
redis_store(cmap_t *m, uint64_t key, uint64_t value)
{
	struct rd_cmd q;

	return finish_flag(&q, native(RD(m), &q, key, "HSET", &value, true),
	    CMAP_INSERTED, CMAP_OK);
}

static cmap_status_t
redis_delete(cmap_t *m, uint64_t key)
{
	struct rd_cmd q;

	return finish_flag(&q, native(RD(m), &q, key, "HDEL", NULL, true),
	    CMAP_OK, CMAP_NOT_FOUND);
}

/* xchg in mode 's', 'n' or 'd': OK with the old value in *old, or
 * NOT_FOUND when the key was absent. */
static cmap_status_t
xchg(struct redis_map *r, uint64_t key, const char *mode, uint64_t value,
    uint64_t *old)
{
	struct rd_cmd q;

	cmd_init(r, &q.c, &q.t, key);
	push(&q.c, mode, 1);
	arg_val(&q.c, &q.t, 0, value);
	return finish_value(&q, script(r, &q, SCRIPT_XCHG), old);
}

/*
 * cond: key holds `expected` (absent when NULL)?  Then it gets `desired`
 * (deleted when NULL): CMAP_OK.  Else CMAP_NOT_FOUND (absent) or
 * CMAP_MISMATCH with the value in *now.
 */
static cmap_status_t
cond(struct redis_map *r, uint64_t key, const uint64_t *expected,
    const uint64_t *desired, uint64_t *now)
{
	struct rd_cmd q;
	const redisReply *rep;
	cmap_status_t st;

	cmd_init(r, &q.c, &q.t, key);
	if (expected != NULL)
		arg_val(&q.c, &q.t, 0, *expected);
	else
		ARG(&q.c, "");
	if (desired != NULL)
		arg_val(&q.c, &q.t, 1, *desired);
	else
		ARG(&q.c, "");
	if ((st = script(r, &q, SCRIPT_COND)) != CMAP_OK)
		return st;
	rep = q.c.reply;
	if (rep->type != REDIS_REPLY_ARRAY || rep->elements < 1)
		st = cmap__fail(CMAP_EIO, "redis: script: bad reply");
	else if (rep->element[0]->integer == 1)
		st = CMAP_OK;
	else if (rep->elements == 1)
		st = CMAP_NOT_FOUND;
	else if ((st = value_of(rep->element[1], &q.t, now)) == CMAP_OK)
		st = CMAP_MISMATCH;
	freeReplyObject(q.c.reply);
	return st;
}

static cmap_status_t
add(struct redis_map *r, uint64_t key, uint64_t delta, uint64_t *sum)
{
	struct rd_cmd q;
	const redisReply *rep;
	cmap_status_t st;

	cmd_init(r, &q.c, &q.t, key);
	arg_val(&q.c, &q.t, 0, delta);
	if ((st = script(r, &q, SCRIPT_ADD)) != CMAP_OK)
		return st;
	rep = q.c.reply;
	if (rep->type != REDIS_REPLY_ARRAY || rep->elements != 2 ||
	    value_of(rep->element[1], &q.t, sum) != CMAP_OK)
		st = cmap__fail(CMAP_EIO, "redis: add: bad reply");
	else
		st = rep->element[0]->integer == 1 ? CMAP_OK : CMAP_INSERTED;
	freeReplyObject(q.c.reply);
	return st;
}

/* The optimistic loop of update (the header comment says why). */
static cmap_status_t
update(struct redis_map *r, struct cmap_req *req)
{
	struct rd_cmd q;
	uint64_t old = 0;
	cmap_status_t st = finish_value(
	    &q, native(r, &q, req->key, "HGET", NULL, false), &old);
	bool present = st == CMAP_OK;

	if (cmap_is_error(st))
		return st;
	for (;;) {
		struct cmap_effect e;
		cmap_status_t res = cmap__decide(req, present, old, &e);

		if (res == CMAP_EINVAL)
			return res;
		if (e.act != CMAP_ACT_NONE) {
			st = cond(r, req->key, present ? &old : NULL,
			    e.act == CMAP_ACT_SET ? &e.value : NULL, &old);
			if (cmap_is_error(st))
				return st;
			if (st != CMAP_OK) { /* lost a race: decide again */
				present = st == CMAP_MISMATCH;
				continue;
			}
		}
		req->out = e.out;
		return res;
	}
}

static cmap_status_t
redis_exec(cmap_t *m, struct cmap_req *req)
{
	struct redis_map *r = RD(m);
	cmap_status_t st;
	uint64_t v = 0;

	switch (req->kind) {
	case CMAP_REQ_LOAD:
		return redis_load(m, req->key, &req->out);
	case CMAP_REQ_STORE:
		return redis_store(m, req->key, req->a);
	case CMAP_REQ_SWAP:
		st = xchg(r, req->key, "s", req->a, &req->out);
		return st == CMAP_NOT_FOUND ? CMAP_INSERTED : st;
	case CMAP_REQ_LOAD_OR_STORE:
		st = xchg(r, req->key, "n", req->a, &req->out);
		if (st == CMAP_NOT_FOUND)
			req->out = req->a;
		return st == CMAP_NOT_FOUND ? CMAP_INSERTED : st;
	case CMAP_REQ_LOAD_AND_DELETE:
		return xchg(r, req->key, "d", 0, &req->out);
	case CMAP_REQ_DELETE:
		return redis_delete(m, req->key);
	case CMAP_REQ_CAS:
		return cond(r, req->key, &req->a, &req->b, &v);
	case CMAP_REQ_CAD:
		return cond(r, req->key, &req->a, NULL, &v);
	case CMAP_REQ_ADD:
		return add(r, req->key, req->a, &req->out);
	case CMAP_REQ_UPDATE:
		return update(r, req);
	default:
		return CMAP_EINVAL;
	}
}

/* ------------------------------------------------------------ batches */

/* The status of one batch command from its reply (which it frees). */
static cmap_status_t
batch_status(const struct cmap__batch *b, size_t i, struct cmap__rc_cmd *c,
    const struct rd_text *t)
{
	cmap_status_t st = c->st;

	if (st != CMAP_OK)
		return st;
	if (b->kind == CMAP__BATCH_LOAD)
		st = value_of(c->reply, t, &b->out[i]);
	else if (b->kind == CMAP__BATCH_STORE)
		st = flag_of(c->reply, CMAP_INSERTED, CMAP_OK);
	else
		st = flag_of(c->reply, CMAP_OK, CMAP_NOT_FOUND);
	freeReplyObject(c->reply);
	return st;
}

/* Keys [from, from + n) of the batch, n <= CHUNK, in one pipeline. */
static void
batch_chunk(struct redis_map *r, const struct cmap__batch *b, size_t from,
    size_t n, struct cmap__rc_cmd *c, struct rd_text *t)
{
	static const char *const verbs[] = {
	    [CMAP__BATCH_LOAD] = "HGET",
	    [CMAP__BATCH_STORE] = "HSET",
	    [CMAP__BATCH_DELETE] = "HDEL",
	};

	for (size_t i = 0; i < n; i++) {
		cmd_init(r, &c[i], &t[i], b->keys[from + i]);
		push(&c[i], verbs[b->kind], 4);
		arg_key(r, &c[i], &t[i], true);
		if (b->kind == CMAP__BATCH_STORE)
			arg_val(&c[i], &t[i], 0, b->in[from + i]);
	}
	(void)run(r, c, n, b->kind != CMAP__BATCH_LOAD);
	for (size_t i = 0; i < n; i++)
		b->status[from + i] = batch_status(b, from + i, &c[i], &t[i]);
}

/* Room for n commands and their text, from the map's allocator. */
static struct cmap__rc_cmd *
cmds_new(cmap_t *m, size_t n, struct rd_text **t)
{
	struct cmap__rc_cmd *c = cmap__alloc(
	    &m->allocator, n * (sizeof *c + sizeof **t), _Alignof(max_align_t));

	*t = c != NULL ? (struct rd_text *)(c + n) : NULL;
	return c;
}

static void
cmds_free(cmap_t *m, struct cmap__rc_cmd *c, size_t n)
{
	cmap__free(&m->allocator, c, n * (sizeof *c + sizeof(struct rd_text)));
}

static cmap_status_t
redis_batch(cmap_t *m, const struct cmap__batch *b, size_t n)
{
	size_t chunk = n < CHUNK ? n : CHUNK;
	struct rd_text *t;
	struct cmap__rc_cmd *c = cmds_new(m, chunk, &t);

	if (c == NULL) { /* no room for a pipeline: one key at a time */
		for (size_t i = 0; i < n; i++)
			b->status[i] = b->kind == CMAP__BATCH_LOAD
			    ? redis_load(m, b->keys[i], &b->out[i])
			    : b->kind == CMAP__BATCH_STORE
			    ? redis_store(m, b->keys[i], b->in[i])
			    : redis_delete(m, b->keys[i]);
		return cmap__batch_result(n, b->status);
	}
	for (size_t from = 0; from < n; from += chunk)
		batch_chunk(
		    RD(m), b, from, n - from < chunk ? n - from : chunk, c, t);
	cmds_free(m, c, chunk);
	return cmap__batch_result(n, b->status);
}

/* ------------------------------------------------- range, len, clear */

/*
 * One command `verb` on each of buckets [from, from + n), in one
 * pipeline; fn(arg, bucket's command) for each answered one, in order,
 * until it returns other than CMAP_OK.  The replies are freed here.
 */
static cmap_status_t
each_bucket(struct redis_map *r, const char *verb, size_t per_trip, bool write,
    cmap_status_t (*fn)(void *, const redisReply *), void *arg)
{
	cmap_t *m = &r->base;
	/* Without memory for a long pipeline, a short one on the stack:
	 * len, range and clear never fail for want of memory. */
	struct cmap__rc_cmd stack_c[RANGE_CHUNK];
	struct rd_text stack_t[RANGE_CHUNK], *t = stack_t;
	struct cmap__rc_cmd *c = stack_c, *heap = NULL;
	cmap_status_t st = CMAP_OK;

	if (per_trip > RANGE_CHUNK &&
	    (heap = cmds_new(m, per_trip, &t)) != NULL)
		c = heap;
	else
		per_trip = RANGE_CHUNK, t = stack_t;
	for (uint32_t from = 0; from < r->buckets && st == CMAP_OK;
	     from += (uint32_t)per_trip) {
		size_t n =
		    r->buckets - from < per_trip ? r->buckets - from : per_trip;

		for (size_t i = 0; i < n; i++) {
			cmd_bucket(r, &c[i], &t[i], from + (uint32_t)i);
			push(&c[i], verb, strlen(verb));
			arg_key(r, &c[i], &t[i], false);
		}
		st = run(r, c, n, write);
		for (size_t i = 0; i < n; i++) {
			if (c[i].st != CMAP_OK)
				continue;
			if (st == CMAP_OK && fn != NULL)
				st = fn(arg, c[i].reply);
			freeReplyObject(c[i].reply);
		}
	}
	if (heap != NULL)
		cmds_free(m, heap, per_trip);
	return st;
}

struct range_arg {
	cmap_range_fn fn;
	void *ctx;
};

/* Show the entries of one bucket's HGETALL; NOT_FOUND when fn stops. */
static cmap_status_t
range_bucket(void *arg, const redisReply *rep)
{
	struct range_arg *a = arg;

	if (rep->type != REDIS_REPLY_ARRAY || rep->elements % 2 != 0)
		return cmap__fail(CMAP_EIO, "redis: HGETALL: bad reply");
	for (size_t i = 0; i < rep->elements; i += 2) {
		const redisReply *f = rep->element[i], *v = rep->element[i + 1];
		uint64_t key, value;

		if (!unhex16(f->str, f->len, &key) ||
		    !unhex16(v->str, v->len, &value))
			return cmap__fail(CMAP_EIO,
			    "redis: a bucket holds a field that is no "
			    "libcmap entry");
		if (!a->fn(key, value, a->ctx))
			return CMAP_NOT_FOUND;
	}
	return CMAP_OK;
}

static cmap_status_t
redis_range(cmap_t *m, cmap_range_fn fn, void *ctx)
{
	struct range_arg a = {fn, ctx};
	cmap_status_t st =
	    each_bucket(RD(m), "HGETALL", RANGE_CHUNK, false, range_bucket, &a);

	return st == CMAP_NOT_FOUND ? CMAP_OK : st;
}

static cmap_status_t
len_bucket(void *arg, const redisReply *rep)
{
	if (rep->type != REDIS_REPLY_INTEGER)
		return cmap__fail(CMAP_EIO, "redis: HLEN: bad reply");
	*(size_t *)arg += (size_t)rep->integer;
	return CMAP_OK;
}

/* The sum of the buckets' HLEN; 0 when it cannot be had (len has no
 * error code: cmap_last_error() says why).  The map is const to the
 * caller; its pool of connections is not. */
static size_t
redis_len(const cmap_t *cm)
{
	size_t n = 0;
	struct redis_map *r = (struct redis_map *)(uintptr_t)cm;

	if (each_bucket(r, "HLEN", CHUNK, false, len_bucket, &n) != CMAP_OK)
		return 0;
	return n;
}

static cmap_status_t
redis_clear(cmap_t *m)
{
	return each_bucket(RD(m), "UNLINK", CHUNK, true, NULL, NULL);
}

static cmap_status_t
redis_reserve(cmap_t *m, size_t entries)
{
	(void)m;
	(void)entries;
	return CMAP_OK; /* the server sizes its own tables */
}

static cmap_status_t
redis_stats(cmap_t *m, cmap_stats_t *st)
{
	struct redis_map *r = RD(m);
	size_t sessions;

	st->len = redis_len(m);
	pthread_mutex_lock(&r->rc.lock);
	sessions = r->rc.n_sess;
	pthread_mutex_unlock(&r->rc.lock);
	st->bytes = m->self_size + sessions * sizeof(struct cmap__rc_sess);
	st->shards = 1;
	st->min_shard_len = st->max_shard_len = st->len;
	return CMAP_OK;
}

/* ------------------------------------------------------ create, destroy */

/* SCRIPT LOAD each script on the first master: their SHA1s. */
static cmap_status_t
load_scripts(struct redis_map *r)
{
	cmap_status_t st = CMAP_OK;

	for (int i = 0; i < N_SCRIPTS && st == CMAP_OK; i++) {
		struct cmap__rc_cmd c = {.node = -1};

		ARG(&c, "SCRIPT");
		ARG(&c, "LOAD");
		push(&c, scripts[i].text, scripts[i].len);
		if ((st = run(r, &c, 1, false)) != CMAP_OK)
			break;
		if (c.reply->type == REDIS_REPLY_STRING && c.reply->len == 40)
			memcpy(r->sha[i], c.reply->str, 41);
		else
			st = cmap__fail(CMAP_EIO, "redis: SCRIPT LOAD: %s",
			    c.reply->type == REDIS_REPLY_ERROR ? c.reply->str
			                                       : "bad reply");
		freeReplyObject(c.reply);
	}
	return st;
}

static struct timeval
ms_to_tv(uint64_t ms)
{
	struct timeval tv = {
	    (time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000};

	return tv;
}

/* The options that need no server. */
static cmap_status_t
set_options(struct redis_map *r, const union cmap__optval *o)
{
	size_t n = strlen(o[OPT_NAMESPACE].s);

	if (n == 0 || n > NS_MAX)
		return cmap__fail(CMAP_EINVAL,
		    "backend 'redis': option 'namespace': %zu bytes, not 1 "
		    "to %u",
		    n, NS_MAX);
	r->ns_len =
	    (size_t)snprintf(r->ns, sizeof r->ns, "%s:", o[OPT_NAMESPACE].s);
	if (strlen(o[OPT_PASSWORD].s) >= sizeof r->rc.password)
		return cmap__fail(CMAP_EINVAL,
		    "backend 'redis': option 'password': longer than %zu bytes",
		    sizeof r->rc.password - 1);
	snprintf(
	    r->rc.password, sizeof r->rc.password, "%s", o[OPT_PASSWORD].s);
	r->buckets = (uint32_t)o[OPT_BUCKETS].u;
	r->rc.db = (unsigned)o[OPT_DB].u;
	r->rc.replicas = (unsigned)o[OPT_REPLICAS].u;
	r->rc.connect_timeout = ms_to_tv(o[OPT_CONNECT_TIMEOUT].u);
	r->rc.timeout = ms_to_tv(o[OPT_TIMEOUT].u);
	return CMAP_OK;
}

static cmap_status_t
redis_create(const struct cmap__create_args *args, cmap_t **out)
{
	const union cmap__optval *o = args->opt;
	struct redis_map *r = cmap__map_new(args, sizeof *r);
	cmap_status_t st;

	if (r == NULL)
		return CMAP_ENOMEM;
	if ((st = set_options(r, o)) != CMAP_OK ||
	    (st = cmap__rc_init(&r->rc, o[OPT_SERVERS].s, &args->allocator)) !=
	        CMAP_OK) {
		cmap__map_free(&r->base);
		return st;
	}
	if (r->rc.cluster && r->rc.db != 0)
		st = cmap__fail(CMAP_EINVAL,
		    "backend 'redis': option 'db': a cluster has only db 0");
	if (st == CMAP_OK && (st = load_scripts(r)) == CMAP_OK) {
		*out = &r->base;
		return CMAP_OK;
	}
	cmap__rc_fini(&r->rc);
	cmap__map_free(&r->base);
	return st;
}

static void
redis_destroy(cmap_t *m)
{
	cmap__rc_fini(&RD(m)->rc);
}

CMAP_HIDDEN const struct cmap__backend cmap__redis_backend = {
    .version = CMAP__BACKEND_V3,
    .name = CMAP_BACKEND_REDIS,
    .summary = "entries in a Redis server or Redis Cluster, shared by "
               "every process that names the same servers and namespace",
    .backend_version = 1,
    .caps = CMAP_CAP_THREAD_SAFE | CMAP_CAP_LINEARIZABLE | CMAP_CAP_RANGE_ONCE |
        CMAP_CAP_REMOTE,
    .options = redis_options,
    .n_options = sizeof redis_options / sizeof redis_options[0],
    .create = redis_create,
    .destroy = redis_destroy,
    .load = redis_load,
    .store = redis_store,
    .exec = redis_exec,
    .range = redis_range,
    .len = redis_len,
    .clear = redis_clear,
    .reserve = redis_reserve,
    .stats = redis_stats,
    .batch = redis_batch,
    .sync = NULL,
};
