/*
 * redis_cluster.h - connections to a Redis server or a Redis Cluster, and
 * the router that sends each command to the node owning its key: a shared
 * piece under backend_redis.c.
 *
 * One `struct cmap__rc` per map holds the node addresses, the slot map
 * (which master owns each of the 16,384 hash slots) and a pool of
 * sessions.  A session is what one thread uses for one call: at most one
 * hiredis context per node, connected on first use and kept for the next
 * caller.  hiredis contexts are not thread-safe, so a thread takes a
 * session from the pool, uses it alone, and gives it back: the pool grows
 * to the number of threads that were ever inside the map at once (each
 * costing one connection per node it talked to).  A pool, rather than
 * per-thread contexts, because a thread may use many maps and may exit at
 * any time: nothing has to be registered or cleaned up per thread, and a
 * connection never outlives its map.
 *
 * A single server is a cluster of one node that owns every slot (no
 * CRC16, no redirections).  In cluster mode the slot map comes from
 * CLUSTER SLOTS of any reachable node; a MOVED reply updates the one slot
 * at once and marks the map stale, as does a connection failure, and the
 * next call reloads it.  ASK is followed once with ASKING.  Both, like
 * TRYAGAIN, are retried at most CMAP__RC_MAX_HOPS times per command.
 *
 * Replicas: with `replicas` > 0 each round of writes to a node ends with
 * WAIT replicas (half the command timeout), in the same pipeline; writes
 * fewer replicas confirmed are CMAP_EINDOUBT (applied on the master, but a
 * failover may lose them: replication is asynchronous).
 *
 * Faults: a command that could not be sent (no connection, refused,
 * timed out connecting, write failed) is CMAP_EUNAVAILABLE; one sent
 * whose answer never came (reset, EOF, timeout) is CMAP_EINDOUBT for a
 * write and CMAP_EIO for a read; both drop the context, so the next call
 * reconnects.  A pooled connection the server closed while it sat idle
 * is noticed (poll) and replaced before anything is sent on it.
 * Every failure sets cmap_last_error() naming the node.
 *
 * hiredis allocates its contexts and replies with malloc: those
 * allocations are its own, outside the map's allocator hooks.
 */
#ifndef CMAP_REDIS_CLUSTER_H
#define CMAP_REDIS_CLUSTER_H

#include "internal.h"

#include <hiredis/hiredis.h>
#include <pthread.h>

#define CMAP__RC_SLOTS 16384u
#define CMAP__RC_MAX_NODES 64u
#define CMAP__RC_ADDR_MAX 128u
#define CMAP__RC_MAX_HOPS 5
#define CMAP__RC_ARGS 8

struct cmap__rc_sess {
	struct cmap__rc_sess *next; /* in the pool's free list */
	redisContext *c[CMAP__RC_MAX_NODES];
};

struct cmap__rc {
	pthread_mutex_t lock; /* guards everything below but the settings */
	char addr[CMAP__RC_MAX_NODES][CMAP__RC_ADDR_MAX];
	unsigned n_nodes;
	bool stale;                    /* reload the slot map */
	uint8_t owner[CMAP__RC_SLOTS]; /* slot -> node (cluster mode) */
	struct cmap__rc_sess *pool;    /* idle sessions */
	size_t n_sess;                 /* sessions allocated */
	pthread_cond_t returned;       /* a session went back to the pool */
	/* Settings, fixed at create. */
	bool cluster;
	struct timeval connect_timeout, timeout;
	char password[128];
	unsigned db;
	unsigned replicas; /* WAIT for this many after writes (0: none) */
	cmap_allocator_t allocator;
};

/* One command of a call, routed by slot (node < 0) or to one node. */
struct cmap__rc_cmd {
	int argc;
	const char *argv[CMAP__RC_ARGS];
	size_t len[CMAP__RC_ARGS];
	int node;          /* in: -1 = the owner of slot */
	unsigned slot;     /* in: cmap__rc_slot() of the key (cluster mode) */
	redisReply *reply; /* out: on CMAP_OK; the caller frees it */
	cmap_status_t st;  /* out */
	int at;            /* private: the node it goes to */
	bool asking;       /* private: send ASKING first */
	bool fresh;        /* private: answered in this round */
};

/*
 * cmap__rc_init - parse `servers` (comma-separated host:port or socket
 * paths), connect to the first one that answers and find out whether it
 * is a cluster (CLUSTER SLOTS).  CMAP_EINVAL for a bad address list,
 * CMAP_EUNAVAILABLE when no server answers; each with cmap_last_error().
 * cmap__rc_fini - close every connection and free the sessions.
 */
CMAP_HIDDEN cmap_status_t cmap__rc_init(struct cmap__rc *rc,
    const char *servers, const cmap_allocator_t *allocator);
CMAP_HIDDEN void cmap__rc_fini(struct cmap__rc *rc);

/* The hash slot of a key, with hash tags, as the cluster spec says
 * (0 outside cluster mode). */
CMAP_HIDDEN unsigned cmap__rc_slot(
    const struct cmap__rc *rc, const char *key, size_t len);

/* A session from the pool, a new one, or (no memory for it) the next
 * one given back: NULL only when the map has none at all.  And back. */
CMAP_HIDDEN struct cmap__rc_sess *cmap__rc_get(struct cmap__rc *rc);
CMAP_HIDDEN void cmap__rc_put(struct cmap__rc *rc, struct cmap__rc_sess *s);

/*
 * cmap__rc_run - send cmds[0..n) pipelined, one round trip per node
 * (plus one per redirection), and fill each one's reply or st.  Commands
 * to the same node keep their order.  Error replies become statuses
 * (EIO; EUNAVAILABLE for CLUSTERDOWN, TRYAGAIN, LOADING, MASTERDOWN),
 * except NOSCRIPT, left to the caller as a reply.  `write` says whether
 * a lost answer is EINDOUBT (true) or EIO.  Returns the first error of
 * the commands, or CMAP_OK.
 */
CMAP_HIDDEN cmap_status_t cmap__rc_run(struct cmap__rc *rc,
    struct cmap__rc_sess *s, struct cmap__rc_cmd *cmds, size_t n, bool write);

/* The masters (nodes owning a slot), at most CMAP__RC_MAX_NODES, into
 * out[]; returns how many (0: none reachable, cmap_last_error says). */
CMAP_HIDDEN unsigned cmap__rc_masters(
    struct cmap__rc *rc, struct cmap__rc_sess *s, int *out);

#endif /* CMAP_REDIS_CLUSTER_H */
