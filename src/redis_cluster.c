/*
 * redis_cluster.c - connections, the session pool and the cluster router
 * (redis_cluster.h says what each does and why).  Written against the
 * Redis Cluster specification: CRC16-XMODEM of the key (or of its hash
 * tag, the text between the first '{' and the next '}' when not empty)
 * modulo 16384; CLUSTER SLOTS for the slot map; MOVED and ASK.
 */
#include "redis_cluster.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ------------------------------------------------------------- slots */

static uint16_t
crc16(const char *p, size_t n)
{
	uint16_t crc = 0;

	for (size_t i = 0; i < n; i++) {
		crc ^= (uint16_t)((unsigned char)p[i] << 8);
		for (int b = 0; b < 8; b++)
			crc = (uint16_t)(crc & 0x8000 ? (crc << 1) ^ 0x1021
			                              : crc << 1);
	}
	return crc;
}

unsigned
cmap__rc_slot(const struct cmap__rc *rc, const char *key, size_t len)
{
	const char *open, *close;

	if (!rc->cluster)
		return 0;
	open = memchr(key, '{', len);
	if (open != NULL) {
		size_t rest = len - (size_t)(open - key) - 1;

		close = memchr(open + 1, '}', rest);
		if (close != NULL && close > open + 1)
			return crc16(open + 1, (size_t)(close - open - 1)) &
			    (CMAP__RC_SLOTS - 1);
	}
	return crc16(key, len) & (CMAP__RC_SLOTS - 1);
}

/* ------------------------------------------------------------- nodes */

/* The index of node addr, added when new; -1 when the table is full. */
static int
node_index(struct cmap__rc *rc, const char *addr)
{
	size_t len = strlen(addr);
	int found = -1;

	if (len >= CMAP__RC_ADDR_MAX) /* no node has it: the map is bad */
		return -1;
	pthread_mutex_lock(&rc->lock);
	for (unsigned i = 0; i < rc->n_nodes && found < 0; i++)
		if (strcmp(rc->addr[i], addr) == 0)
			found = (int)i;
	if (found < 0 && rc->n_nodes < CMAP__RC_MAX_NODES) {
		memcpy(rc->addr[rc->n_nodes], addr, len + 1);
		found = (int)rc->n_nodes++;
	}
	pthread_mutex_unlock(&rc->lock);
	return found;
}

static void
node_addr(struct cmap__rc *rc, int node, char *out)
{
	pthread_mutex_lock(&rc->lock);
	memcpy(out, rc->addr[node], CMAP__RC_ADDR_MAX);
	pthread_mutex_unlock(&rc->lock);
}

static void
mark_stale(struct cmap__rc *rc)
{
	if (!rc->cluster)
		return;
	pthread_mutex_lock(&rc->lock);
	rc->stale = true;
	pthread_mutex_unlock(&rc->lock);
}

/* ------------------------------------------------------- connections */

/* One command on a fresh context, for the handshake; true when its reply
 * is not an error.  The reply's text goes to why on failure. */
static bool
handshake(redisContext *c, int argc, const char **argv, char *why, size_t n)
{
	redisReply *r = redisCommandArgv(c, argc, argv, NULL);
	bool ok = r != NULL && r->type != REDIS_REPLY_ERROR;

	if (!ok)
		snprintf(why, n, "%s", r != NULL ? r->str : c->errstr);
	if (r != NULL)
		freeReplyObject(r);
	return ok;
}

static redisContext *
dial(const struct cmap__rc *rc, const char *addr)
{
	const char *colon = strrchr(addr, ':');
	char host[CMAP__RC_ADDR_MAX];

	if (strchr(addr, '/') != NULL || colon == NULL)
		return redisConnectUnixWithTimeout(addr, rc->connect_timeout);
	snprintf(host, sizeof host, "%.*s", (int)(colon - addr), addr);
	return redisConnectWithTimeout(
	    host, atoi(colon + 1), rc->connect_timeout);
}

/* Connect to node, authenticate, select the db: the context, or NULL
 * with cmap_last_error() set. */
static redisContext *
connect_node(struct cmap__rc *rc, int node)
{
	char addr[CMAP__RC_ADDR_MAX], db[24], why[160] = "";
	redisContext *c;
	const char *auth[] = {"AUTH", rc->password};
	const char *sel[] = {"SELECT", db};

	node_addr(rc, node, addr);
	c = dial(rc, addr);
	if (c == NULL || c->err) {
		(void)cmap__fail(CMAP_EUNAVAILABLE, "redis %s: connect: %s",
		    addr, c != NULL ? c->errstr : "out of memory");
		goto fail;
	}
	snprintf(db, sizeof db, "%u", rc->db);
	if (redisSetTimeout(c, rc->timeout) != REDIS_OK ||
	    (rc->password[0] != '\0' && !handshake(c, 2, auth, why, 160)) ||
	    (rc->db != 0 && !handshake(c, 2, sel, why, 160))) {
		(void)cmap__fail(CMAP_EUNAVAILABLE, "redis %s: %s", addr,
		    why[0] != '\0' ? why : "cannot set the timeout");
		goto fail;
	}
	return c;
fail:
	if (c != NULL)
		redisFree(c);
	mark_stale(rc);
	return NULL;
}

/* A context of s to node that is connected and idle.  A pooled one whose
 * socket is readable while no request is out has been closed by the
 * server (or holds garbage): replaced before anything is sent on it. */
static redisContext *
session_ctx(struct cmap__rc *rc, struct cmap__rc_sess *s, int node)
{
	redisContext *c = s->c[node];

	if (c != NULL) {
		struct pollfd p = {.fd = c->fd, .events = POLLIN};

		if (!c->err && poll(&p, 1, 0) == 0)
			return c;
		redisFree(c);
	}
	s->c[node] = connect_node(rc, node);
	return s->c[node];
}

static void
drop_ctx(struct cmap__rc *rc, struct cmap__rc_sess *s, int node)
{
	if (s->c[node] != NULL)
		redisFree(s->c[node]);
	s->c[node] = NULL;
	mark_stale(rc);
}

/* ---------------------------------------------------------- sessions */

struct cmap__rc_sess *
cmap__rc_get(struct cmap__rc *rc)
{
	struct cmap__rc_sess *s;

	pthread_mutex_lock(&rc->lock);
	s = rc->pool;
	if (s != NULL)
		rc->pool = s->next;
	pthread_mutex_unlock(&rc->lock);
	if (s != NULL)
		return s;
	s = cmap__alloc(
	    &rc->allocator, sizeof *s, _Alignof(struct cmap__rc_sess));
	if (s == NULL) {
		/* No memory for one more: wait for a session in use (the
		 * map has one from create on), so that no call fails for
		 * want of memory. */
		pthread_mutex_lock(&rc->lock);
		while (rc->pool == NULL && rc->n_sess > 0)
			pthread_cond_wait(&rc->returned, &rc->lock);
		s = rc->pool;
		if (s != NULL)
			rc->pool = s->next;
		pthread_mutex_unlock(&rc->lock);
		return s;
	}
	memset(s, 0, sizeof *s);
	pthread_mutex_lock(&rc->lock);
	rc->n_sess++;
	pthread_mutex_unlock(&rc->lock);
	return s;
}

void
cmap__rc_put(struct cmap__rc *rc, struct cmap__rc_sess *s)
{
	pthread_mutex_lock(&rc->lock);
	s->next = rc->pool;
	rc->pool = s;
	pthread_cond_signal(&rc->returned);
	pthread_mutex_unlock(&rc->lock);
}

/* --------------------------------------------------------- slot map */

/* Install a CLUSTER SLOTS reply from node `from`; false when it is not
 * one (a server without cluster support answers with an error). */
static bool
install_slots(struct cmap__rc *rc, const redisReply *r, int from)
{
	char from_addr[CMAP__RC_ADDR_MAX], addr[CMAP__RC_ADDR_MAX + 8];

	if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements == 0)
		return false;
	node_addr(rc, from, from_addr);
	for (size_t i = 0; i < r->elements; i++) {
		const redisReply *e = r->element[i], *m;
		int node;

		if (e->type != REDIS_REPLY_ARRAY || e->elements < 3)
			return false;
		m = e->element[2];
		if (m->type != REDIS_REPLY_ARRAY || m->elements < 2 ||
		    m->element[0]->type != REDIS_REPLY_STRING)
			return false;
		if (m->element[0]->len == 0) /* "": the node we asked */
			snprintf(addr, sizeof addr, "%.*s:%lld",
			    (int)(strrchr(from_addr, ':') - from_addr),
			    from_addr, m->element[1]->integer);
		else
			snprintf(addr, sizeof addr, "%s:%lld",
			    m->element[0]->str, m->element[1]->integer);
		if ((node = node_index(rc, addr)) < 0)
			return false;
		pthread_mutex_lock(&rc->lock);
		for (long long sl = e->element[0]->integer;
		     sl <= e->element[1]->integer && sl < CMAP__RC_SLOTS; sl++)
			rc->owner[sl] = (uint8_t)node;
		pthread_mutex_unlock(&rc->lock);
	}
	return true;
}

/* Reload the slot map from the first node that answers. */
static void
refresh(struct cmap__rc *rc, struct cmap__rc_sess *s)
{
	static const char *argv[] = {"CLUSTER", "SLOTS"};
	unsigned n;

	pthread_mutex_lock(&rc->lock);
	n = rc->n_nodes;
	rc->stale = false;
	pthread_mutex_unlock(&rc->lock);
	for (unsigned i = 0; i < n; i++) {
		redisContext *c = session_ctx(rc, s, (int)i);
		redisReply *r;

		if (c == NULL)
			continue;
		r = redisCommandArgv(c, 2, argv, NULL);
		if (r == NULL)
			drop_ctx(rc, s, (int)i);
		if (r != NULL && install_slots(rc, r, (int)i)) {
			freeReplyObject(r);
			return;
		}
		if (r != NULL)
			freeReplyObject(r);
	}
	mark_stale(rc);
}

unsigned
cmap__rc_masters(struct cmap__rc *rc, struct cmap__rc_sess *s, int *out)
{
	bool owns[CMAP__RC_MAX_NODES] = {false}, stale;
	unsigned n = 0;

	pthread_mutex_lock(&rc->lock);
	stale = rc->stale;
	pthread_mutex_unlock(&rc->lock);
	if (stale)
		refresh(rc, s);
	pthread_mutex_lock(&rc->lock);
	for (unsigned sl = 0; sl < (rc->cluster ? CMAP__RC_SLOTS : 1); sl++)
		owns[rc->owner[sl]] = true;
	for (unsigned i = 0; i < rc->n_nodes; i++)
		if (owns[i])
			out[n++] = (int)i;
	pthread_mutex_unlock(&rc->lock);
	return n;
}

/* ------------------------------------------------------------ commands */

/* A private status: not answered yet (or redirected and to be resent). */
#define PENDING ((cmap_status_t)1000)

static bool
prefix(const redisReply *r, const char *p)
{
	return strncmp(r->str, p, strlen(p)) == 0;
}

/* Give every pending command sent to node the status st. */
static void
fail_node(struct cmap__rc_cmd *cmds, size_t n, int node, cmap_status_t st)
{
	for (size_t i = 0; i < n; i++)
		if (cmds[i].st == PENDING && cmds[i].at == node)
			cmds[i].st = st;
}

/* Write what is buffered on c; the status for its commands when that
 * fails: EUNAVAILABLE when not a byte left, else (some commands may have
 * arrived whole) EINDOUBT or EIO. */
static cmap_status_t
flush(redisContext *c, const char *addr, bool write)
{
	size_t before = sdslen(c->obuf);
	int done = 0;

	while (!done)
		if (redisBufferWrite(c, &done) != REDIS_OK) {
			cmap_status_t st = sdslen(c->obuf) == before
			    ? CMAP_EUNAVAILABLE
			    : write ? CMAP_EINDOUBT
			            : CMAP_EIO;

			return cmap__fail(
			    st, "redis %s: send: %s", addr, c->errstr);
		}
	return CMAP_OK;
}

/* The answer to the WAIT after node's writes: those of its commands that
 * were answered (not with an error) but fewer replicas confirmed than
 * asked become EINDOUBT. */
static void
confirm(struct cmap__rc *rc, redisContext *c, int node,
    struct cmap__rc_cmd *cmds, size_t n)
{
	void *v = NULL;
	redisReply *r;
	long long got = -1;
	char addr[CMAP__RC_ADDR_MAX];
	cmap_status_t st;

	if (redisGetReply(c, &v) == REDIS_OK &&
	    (r = v)->type == REDIS_REPLY_INTEGER)
		got = r->integer;
	if (v != NULL)
		freeReplyObject(v);
	if (got >= (long long)rc->replicas)
		return;
	node_addr(rc, node, addr);
	st = cmap__fail(CMAP_EINDOUBT,
	    "redis %s: written on the master, confirmed by %lld of %u "
	    "replicas",
	    addr, got < 0 ? 0 : got, rc->replicas);
	for (size_t i = 0; i < n; i++) {
		struct cmap__rc_cmd *q = &cmds[i];

		if (!q->fresh || q->at != node ||
		    q->reply->type == REDIS_REPLY_ERROR)
			continue;
		freeReplyObject(q->reply);
		q->reply = NULL;
		q->st = st;
	}
}

/* Read the replies of node's pending commands, in the order sent. */
static void
collect(struct cmap__rc *rc, struct cmap__rc_sess *s, int node,
    struct cmap__rc_cmd *cmds, size_t n, bool write)
{
	redisContext *c = s->c[node];
	char addr[CMAP__RC_ADDR_MAX];

	for (size_t i = 0; i < n; i++) {
		struct cmap__rc_cmd *q = &cmds[i];
		void *r = NULL, *ask = NULL;

		if (q->st != PENDING || q->at != node)
			continue;
		if ((q->asking && redisGetReply(c, &ask) != REDIS_OK) ||
		    redisGetReply(c, &r) != REDIS_OK) {
			node_addr(rc, node, addr);
			fail_node(cmds, n, node,
			    cmap__fail(write ? CMAP_EINDOUBT : CMAP_EIO,
			        "redis %s: no answer: %s", addr, c->errstr));
			drop_ctx(rc, s, node);
			return;
		}
		if (ask != NULL)
			freeReplyObject(ask);
		q->reply = r;
		q->st = CMAP_OK;
		q->fresh = true;
	}
	if (write && rc->replicas > 0)
		confirm(rc, c, node, cmds, n);
}

/* WAIT for rc->replicas, at most half the command timeout (so that its
 * answer comes before the read times out). */
static bool
append_wait(const struct cmap__rc *rc, redisContext *c)
{
	char n[16], ms[24];
	const char *argv[] = {"WAIT", n, ms};
	long long t =
	    (long long)rc->timeout.tv_sec * 1000 + rc->timeout.tv_usec / 1000;

	snprintf(n, sizeof n, "%u", rc->replicas);
	snprintf(ms, sizeof ms, "%lld", t / 2 > 0 ? t / 2 : 1);
	return redisAppendCommandArgv(c, 3, argv, NULL) == REDIS_OK;
}

/* Connect, append, write and read every pending command: one round trip
 * per node involved. */
static void
send_round(struct cmap__rc *rc, struct cmap__rc_sess *s,
    struct cmap__rc_cmd *cmds, size_t n, bool write)
{
	static const char *asking[] = {"ASKING"};
	bool used[CMAP__RC_MAX_NODES] = {false};
	char addr[CMAP__RC_ADDR_MAX];

	for (size_t i = 0; i < n; i++)
		if (cmds[i].st == PENDING)
			used[cmds[i].at] = true;
	for (int node = 0; node < (int)CMAP__RC_MAX_NODES; node++)
		if (used[node] && session_ctx(rc, s, node) == NULL) {
			fail_node(cmds, n, node, CMAP_EUNAVAILABLE);
			used[node] = false;
		}
	for (size_t i = 0; i < n; i++) {
		struct cmap__rc_cmd *q = &cmds[i];
		redisContext *c = s->c[q->at < 0 ? 0 : q->at];

		q->fresh = false;
		if (q->st != PENDING)
			continue;
		if ((q->asking &&
		        redisAppendCommandArgv(c, 1, asking, NULL) !=
		            REDIS_OK) ||
		    redisAppendCommandArgv(c, q->argc, q->argv, q->len) !=
		        REDIS_OK)
			q->st = CMAP_ENOMEM; /* hiredis's own buffer */
	}
	for (int node = 0; node < (int)CMAP__RC_MAX_NODES; node++)
		if (used[node] && write && rc->replicas > 0 &&
		    !append_wait(rc, s->c[node]))
			fail_node(cmds, n, node, CMAP_ENOMEM);
	for (int node = 0; node < (int)CMAP__RC_MAX_NODES; node++) {
		cmap_status_t st;

		if (!used[node])
			continue;
		node_addr(rc, node, addr);
		if ((st = flush(s->c[node], addr, write)) != CMAP_OK) {
			fail_node(cmds, n, node, st);
			drop_ctx(rc, s, node);
			used[node] = false;
		}
	}
	/* Every node has its commands before the first answer is awaited. */
	for (int node = 0; node < (int)CMAP__RC_MAX_NODES; node++)
		if (used[node])
			collect(rc, s, node, cmds, n, write);
}

/* Follow q's MOVED or ASK reply: true when q is to be resent. */
static bool
redirect(struct cmap__rc *rc, struct cmap__rc_cmd *q)
{
	bool ask = prefix(q->reply, "ASK ");
	const char *addr = strrchr(q->reply->str, ' ');
	long slot = atol(q->reply->str + (ask ? 4 : 6));
	int node = addr != NULL ? node_index(rc, addr + 1) : -1;

	if (node < 0 || slot < 0 || slot >= (long)CMAP__RC_SLOTS)
		return false;
	if (!ask) {
		pthread_mutex_lock(&rc->lock);
		rc->owner[slot] = (uint8_t)node;
		rc->stale = true; /* the rest of the map moved too, likely */
		pthread_mutex_unlock(&rc->lock);
	}
	q->at = node;
	q->asking = ask;
	return true;
}

/* Turn q's error reply into its status; true when q is to be resent. */
static bool
settle(struct cmap__rc *rc, struct cmap__rc_cmd *q)
{
	const redisReply *r = q->reply;
	char addr[CMAP__RC_ADDR_MAX];
	bool again = false;

	if (q->st != CMAP_OK || r->type != REDIS_REPLY_ERROR ||
	    prefix(r, "NOSCRIPT"))
		return false;
	if (prefix(r, "MOVED ") || prefix(r, "ASK "))
		again = redirect(rc, q);
	else if (prefix(r, "TRYAGAIN")) { /* a slot in migration: wait */
		struct timespec ts = {0, 20 * 1000 * 1000};

		nanosleep(&ts, NULL);
		again = true;
	}
	if (!again) {
		bool down = prefix(r, "CLUSTERDOWN") || prefix(r, "LOADING") ||
		    prefix(r, "MASTERDOWN") || prefix(r, "TRYAGAIN") ||
		    prefix(r, "READONLY");

		node_addr(rc, q->at, addr);
		q->st = cmap__fail(down ? CMAP_EUNAVAILABLE : CMAP_EIO,
		    "redis %s: %s", addr, r->str);
		if (down)
			mark_stale(rc);
	}
	freeReplyObject(q->reply);
	q->reply = NULL;
	if (again)
		q->st = PENDING;
	return again;
}

/* The node of each command not yet routed. */
static void
route(struct cmap__rc *rc, struct cmap__rc_cmd *cmds, size_t n)
{
	pthread_mutex_lock(&rc->lock);
	for (size_t i = 0; i < n; i++)
		if (cmds[i].at < 0)
			cmds[i].at = cmds[i].node >= 0
			    ? cmds[i].node
			    : rc->owner[rc->cluster ? cmds[i].slot : 0];
	pthread_mutex_unlock(&rc->lock);
}

cmap_status_t
cmap__rc_run(struct cmap__rc *rc, struct cmap__rc_sess *s,
    struct cmap__rc_cmd *cmds, size_t n, bool write)
{
	cmap_status_t first = CMAP_OK;
	bool stale, again = true;

	pthread_mutex_lock(&rc->lock);
	stale = rc->stale;
	pthread_mutex_unlock(&rc->lock);
	if (stale)
		refresh(rc, s);
	for (size_t i = 0; i < n; i++) {
		cmds[i].reply = NULL;
		cmds[i].st = PENDING;
		cmds[i].at = -1;
		cmds[i].asking = false;
	}
	for (int hop = 0; again && hop <= CMAP__RC_MAX_HOPS; hop++) {
		route(rc, cmds, n);
		send_round(rc, s, cmds, n, write);
		again = false;
		for (size_t i = 0; i < n; i++)
			again |= settle(rc, &cmds[i]);
	}
	for (size_t i = 0; i < n; i++) {
		if (cmds[i].st == PENDING)
			cmds[i].st = cmap__fail(CMAP_EUNAVAILABLE,
			    "redis: more than %d redirections",
			    CMAP__RC_MAX_HOPS);
		if (first == CMAP_OK && cmap_is_error(cmds[i].st))
			first = cmds[i].st;
	}
	return first;
}

/* ------------------------------------------------------ init and fini */

/* Add each address of the comma-separated list as a node. */
static cmap_status_t
parse_servers(struct cmap__rc *rc, const char *servers)
{
	const char *p = servers;

	while (*p != '\0') {
		size_t n = strcspn(p, ",");
		char a[CMAP__RC_ADDR_MAX];
		const char *colon;
		char *end;
		long port = 0;

		while (n > 0 && (*p == ' '))
			p++, n--;
		snprintf(a, sizeof a, "%.*s", (int)n, p);
		while (n > 0 && a[n - 1] == ' ')
			a[--n] = '\0';
		colon = strrchr(a, ':');
		if (colon != NULL && strchr(a, '/') == NULL)
			port = strtol(colon + 1, &end, 10);
		if (n == 0 || n >= CMAP__RC_ADDR_MAX ||
		    (strchr(a, '/') == NULL &&
		        (colon == NULL || colon == a || *end != '\0' ||
		            port < 1 || port > 65535)))
			return cmap__fail(CMAP_EINVAL,
			    "backend 'redis': option 'servers': '%s' is "
			    "not host:port or a socket path",
			    a);
		if (node_index(rc, a) < 0)
			return cmap__fail(CMAP_EINVAL,
			    "backend 'redis': option 'servers': more than "
			    "%u servers",
			    CMAP__RC_MAX_NODES);
		p += strcspn(p, ",");
		p += *p == ',';
	}
	return rc->n_nodes > 0 ? CMAP_OK
	                       : cmap__fail(CMAP_EINVAL,
	                             "backend 'redis': option 'servers' "
	                             "is empty");
}

/* Ask the first server that answers whether it is a cluster. */
static cmap_status_t
discover(struct cmap__rc *rc, struct cmap__rc_sess *s)
{
	static const char *argv[] = {"CLUSTER", "SLOTS"};
	unsigned seeds = rc->n_nodes;
	char last[256] = "";

	for (unsigned i = 0; i < seeds; i++) {
		redisContext *c = session_ctx(rc, s, (int)i);
		redisReply *r =
		    c != NULL ? redisCommandArgv(c, 2, argv, NULL) : NULL;
		bool single = r != NULL && r->type == REDIS_REPLY_ERROR &&
		    strstr(r->str, "cluster support disabled") != NULL;
		bool ok;

		snprintf(last, sizeof last, "%s", cmap_last_error());
		if (c != NULL && r == NULL)
			drop_ctx(rc, s, (int)i);
		rc->cluster = !single;
		ok = single || install_slots(rc, r, (int)i);
		if (r != NULL)
			freeReplyObject(r);
		if (single && seeds > 1)
			return cmap__fail(CMAP_EINVAL,
			    "backend 'redis': option 'servers': several "
			    "servers given but %s is not a cluster node",
			    rc->addr[i]);
		if (single)
			memset(rc->owner, (int)i, sizeof rc->owner);
		if (ok)
			return CMAP_OK;
		if (c != NULL)
			snprintf(last, sizeof last,
			    "redis %s: no answer to CLUSTER SLOTS, or no "
			    "slots assigned",
			    rc->addr[i]);
	}
	return cmap__fail(CMAP_EUNAVAILABLE, "%s%s",
	    seeds > 1 ? "redis: no server answered; the last: " : "", last);
}

cmap_status_t
cmap__rc_init(
    struct cmap__rc *rc, const char *servers, const cmap_allocator_t *allocator)
{
	struct cmap__rc_sess *s;
	cmap_status_t st;

	rc->allocator = *allocator;
	pthread_mutex_init(&rc->lock, NULL);
	pthread_cond_init(&rc->returned, NULL);
	if ((st = parse_servers(rc, servers)) != CMAP_OK)
		goto fail;
	if ((s = cmap__rc_get(rc)) == NULL) {
		st = CMAP_ENOMEM;
		goto fail;
	}
	cmap__rc_put(rc, s);
	if ((st = discover(rc, s)) == CMAP_OK)
		return CMAP_OK;
fail:
	cmap__rc_fini(rc);
	return st;
}

void
cmap__rc_fini(struct cmap__rc *rc)
{
	while (rc->pool != NULL) {
		struct cmap__rc_sess *s = rc->pool;

		rc->pool = s->next;
		for (unsigned i = 0; i < CMAP__RC_MAX_NODES; i++)
			if (s->c[i] != NULL)
				redisFree(s->c[i]);
		cmap__free(&rc->allocator, s, sizeof *s);
	}
	pthread_cond_destroy(&rc->returned);
	pthread_mutex_destroy(&rc->lock);
}
