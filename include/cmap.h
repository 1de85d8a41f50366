/*
 * cmap.h - libcmap 1.x, concurrent maps of 64-bit keys to 64-bit values.
 *
 * This header is the whole public API and its manual: what is not declared
 * here is private and may change.  The library targets Linux (it uses
 * getrandom, sched_getcpu and membarrier; README.md says what another
 * platform would need).
 *
 * OVERVIEW
 *
 * A map is created from a configuration whose `backend` names the
 * implementation.  Every backend implements every operation with the same
 * results (the RESULTS table below), so a program moves from one thread to
 * many readers to many writers by changing one value.  The backends of
 * this build, what each guarantees and the options each takes are data:
 * list them with cmap_backend_at() and read each with cmap_backend_info()
 * and cmap_backend_option().  The built-in ones:
 *
 *   CMAP_BACKEND_PLAIN     "plain": no synchronisation, with a misuse
 *                          detector like Go's "concurrent map writes".
 *   CMAP_BACKEND_RWLOCK    "rwlock": one reader-writer lock, one table.
 *   CMAP_BACKEND_SHARDED   "sharded": N independently locked tables.
 *   CMAP_BACKEND_LOCKFREE  "lockfree": compare-and-swap, resized while in
 *                          use, epoch reclamation (docs/lockfree.md); built
 *                          unless -DCMAP_WITH_LOCKFREE=OFF.
 *   CMAP_BACKEND_READMOSTLY "readmostly": reads take no lock and write no
 *                          shared memory, writes go one at a time under a
 *                          mutex; for maps read far more than written
 *                          (docs/design.md, "The readmostly backend").
 *   CMAP_BACKEND_LMDB      "lmdb": the map in an LMDB file on disk
 *                          (PERSISTENCE below); built when liblmdb is
 *                          found, unless -DCMAP_WITH_LMDB=OFF.
 *   CMAP_BACKEND_REDIS     "redis": the entries in a Redis server or
 *                          Redis Cluster, shared by every process naming
 *                          the same servers and namespace; built when
 *                          hiredis is found (docs/design.md).
 *
 * KEYS AND VALUES
 *
 * Keys and values are uint64_t and every one of the 2^64 values of each is
 * allowed: no key or value is reserved.  The map never interprets the bits
 * except in cmap_add(), which adds modulo 2^64.
 *
 * GUARANTEES (the vocabulary of cmap_backend_info_t.caps)
 *
 *   CMAP_CAP_THREAD_SAFE    any number of threads may call it at once.
 *                           Without it the backend is "not thread-safe":
 *                           the caller makes sure one thread at a time.
 *   CMAP_CAP_LOCK_FREE      no lock on any path: some thread always
 *                           completes its operation.  A thread-safe backend
 *                           without it is "blocking": it may wait for a
 *                           lock.
 *   CMAP_CAP_LINEARIZABLE   every single-key operation is atomic per key:
 *                           it takes effect at one instant between its call
 *                           and its return.
 *   CMAP_CAP_UPDATE_ONCE    cmap_update()'s callback runs exactly once per
 *                           call; without it, it may run again after a lost
 *                           race and must then have no side effects.
 *   CMAP_CAP_LEN_EXACT      cmap_len() is exact when no other operation
 *                           runs; under concurrency it is a value the count
 *                           had at some moment, or a sum of per-part counts
 *                           each read at some moment (within the number of
 *                           concurrent writes of the truth).  Without it,
 *                           len is also exact when quiescent but may lag by
 *                           the operations in progress (see cmap_len).
 *   CMAP_CAP_RANGE_ONCE     cmap_range() visits each key at most once.
 *   CMAP_CAP_RANGE_SNAPSHOT cmap_range() shows one point-in-time view.
 *   CMAP_CAP_PERSISTENT     the entries survive the process (on disk).
 *   CMAP_CAP_REMOTE         the entries live in another process.
 *   CMAP_CAP_MISUSE_CHECK   concurrent use of a not thread-safe map is
 *                           detected (best effort) and stops the program.
 *
 * Every thread-safe backend of this build is linearizable.  No thread ever
 * has to register with the library.
 *
 * RESULTS
 *
 * Every call that can fail returns a cmap_status_t.  Values >= 0 are
 * successes and each means one thing everywhere:
 *
 *   CMAP_OK         the key was present, and the call did to it what it
 *                   does to a present key (read, overwrote, removed...).
 *   CMAP_INSERTED   the key was absent and the call inserted it.
 *   CMAP_NOT_FOUND  the key was absent and stays absent.
 *   CMAP_MISMATCH   the key was present with another value than expected;
 *                   nothing changed.
 *
 * So `if (st < 0)` (or cmap_is_error(st)) is the one test for failure.
 * Per operation, for a key present (with value v) or absent:
 *
 *   operation              present                    absent
 *   ---------------------  -------------------------  ------------------
 *   load                   OK, *value = v             NOT_FOUND
 *   store                  OK (overwritten)           INSERTED
 *   load_or_store          OK, *actual = v            INSERTED, *actual =
 *                                                       the value given
 *   load_and_delete        OK, *value = v (removed)   NOT_FOUND
 *   delete                 OK (removed)               NOT_FOUND
 *   swap                   OK, *previous = v          INSERTED
 *   compare_and_swap       OK (v == expected, set),   NOT_FOUND
 *                          MISMATCH otherwise
 *   compare_and_delete     OK (v == expected, gone),  NOT_FOUND
 *                          MISMATCH otherwise
 *   add                    OK, *result = v + delta    INSERTED, *result =
 *                                                       delta
 *   update, fn says KEEP   OK, *value_out = v         NOT_FOUND
 *   update, fn says STORE  OK, *value_out = new       INSERTED, *value_out
 *   update, fn says DELETE OK, *value_out = v (gone)  NOT_FOUND
 *
 * Values < 0 are errors.  A call that returns an error has changed
 * nothing: the map holds exactly what it held and stays usable.  The
 * library never prints and never aborts on bad input; the plain backend's
 * misuse detector is the one deliberate exception (option misuse_check).
 *
 * RE-ENTRANCY
 *
 * The callback of cmap_update() may run while the key is locked.  A call
 * made from inside that callback on the same map returns CMAP_ERECURSE on
 * every backend instead of deadlocking or tripping the misuse detector.
 * The callback of cmap_range() runs with no lock held and may call
 * anything on the same map, including store and delete.
 *
 * COSTS
 *
 * "O(1)" below means expected constant time with the seeded hash: the probe
 * sequence of a lookup is short on average whatever keys are inserted.  No
 * call but cmap_reserve, cmap_clear and cmap_stats does work proportional
 * to the map's size (one exception on lockfree, below).  Resizes are
 * incremental: on plain, rwlock and sharded a table resizes in two steps
 * that every call which writes advances, first zeroing 8 KiB of the new
 * table, then moving 128 slots of the old one (plus the rest of the run of
 * occupied slots it stops in, short on average), while a load reads the
 * table its key is in (both for a miss, or a key inserted during the
 * resize).  On lockfree every writer moves at most one chunk of 256 slots
 * of a migration, besides its own key.  A new table is cleared before
 * use (when its pages come zeroed from the default allocator, a byte per
 * page is written instead, so that each page is faulted in once, by a
 * write) by the writes that insert a new key (or delete)
 * while the old table fills from 3/4 to 15/16 of its slots: each clears
 * ceil(steps left / (inserts left + 1)) steps of 8 KiB, one step per
 * insert when the clearing starts at 3/4, so it ends within the first
 * 1/48 of those inserts (more per insert when it starts later).  The
 * exception: an insert that finds the old table full before the clearing
 * is done (another writer descheduled in a step for all those inserts,
 * or a grace period that held the new table back as long) clears what is
 * left, or a table of its own, in that call (O(the table)).  A freed table
 * gives its pages back 1 MiB per operation, then is freed (whatever the
 * allocator: see the allocator hooks).  Memory given back by a shrink or a
 * finished resize goes back to the system (drained pages are released as a
 * resize goes, whatever the allocator; the default one's large blocks come
 * from mmap).  On readmostly no call resizes at once: while a
 * resize runs, every write zeroes 64 buckets (4 KiB) of the new table (a
 * byte per page with the default allocator, whose large blocks come zeroed;
 * more after a cmap_reserve far beyond the map's size, enough to finish
 * before the old table fills), then moves at most 9 buckets (27 entries: its
 * own key's and 8 more) into it, besides its own operation; only cmap_reserve
 * drives a resize to its end, releasing the lock between those steps.  A load
 * takes no lock (it spins only while a writer rewrites the one bucket it
 * reads), except a thread's first load on the map, which takes the writers'
 * mutex once to find or allocate its record, and every load of a thread whose
 * record could not be allocated.  lmdb is a B+tree: every operation is O(log
 * entries) page visits; a write is one transaction and, in modes sync and
 * group, a flush of the file (two fdatasync calls: the pages, then the header
 * page that makes them current), which costs from microseconds (tmpfs) to
 * milliseconds (a disk); a write that finds the map size short first doubles it
 * (remapping the file: O(1), but it waits for the loads in progress).  On redis
 * every operation is one network round trip (cmap_update: two or more, one per
 * lost race), a batch one round trip per node per 1,024 keys, and range, len
 * and clear O(buckets) on the server.
 *
 * PERSISTENCE (lmdb)
 *
 * Options: "path" (required) is the map's directory, created if missing,
 * holding LMDB's data.mdb and lock.mdb; "durability" is one of
 *   sync    a write is on disk when its call returns;
 *   group   the same promise, but the writes of concurrent callers are
 *           applied in one LMDB transaction and one flush (group commit),
 *           so durable throughput grows with the number of writers
 *           (cmap_update, whose callback must run on its caller's
 *           thread, commits on its own, as in sync);
 *   nosync  a write is in the kernel when its call returns and on disk at
 *           cmap_sync() or cmap_destroy().  After the process crashes
 *           every write that returned is there; after the machine
 *           crashes (power loss) writes since the last cmap_sync() may be
 *           lost and, as LMDB documents for MDB_NOSYNC, the file may not
 *           open again (CMAP_ECORRUPT): call cmap_sync() at the points
 *           that must survive;
 * and "map_size" the initial ceiling of the file's mapping in bytes,
 * doubled automatically whenever a write would need more, so an insert
 * never fails with a full map while the disk has room.  The capacity
 * hint and cmap_reserve() grow the map size ahead (64 bytes an entry).
 * Keys are stored as native 64-bit integers: cmap_range() visits them in
 * ascending numeric order, on one snapshot (CMAP_CAP_RANGE_SNAPSHOT).
 * Loads, cmap_len and cmap_range read snapshots and never wait for a
 * writer, in this process or another.
 *
 * Processes: several processes may open the same directory at once (on
 * one machine; not over NFS); each sees the others' writes once they
 * returned, and all the promises above hold across them.  In one process
 * a directory may be open once: a second cmap_create on it (under any
 * name) returns CMAP_EBUSY until the first map is destroyed (LMDB would
 * break its locks otherwise), so the library keeps the one process-wide
 * list of open directories this needs.  A child made by fork() must not
 * use its parent's maps; it may open its own.
 *
 * Errors: CMAP_EIO (the directory cannot be created or written, an I/O
 * error), CMAP_ECORRUPT (the file is not an LMDB file, its header pages
 * are damaged, or it is an LMDB environment of another program; LMDB has
 * no checksums, so damage inside data pages is not detected), CMAP_EBUSY
 * (above), CMAP_ENOSPC (the disk is full: the write changed nothing and
 * the map works again once there is room), each with cmap_last_error()
 * naming the directory.  The allocator hooks see the map's own struct
 * only: LMDB allocates its transactions, cursors and pages with malloc.
 *
 * REMOTE (redis)
 *
 * The entries live in a Redis server (4.0 or later; tested with 7.0) or a
 * Redis Cluster, and every process that opens a map with the same servers,
 * namespace and bucket count shares them.  Options:
 *   servers             (required) comma-separated "host:port" or unix
 *                       socket paths: one server, or any nodes of a
 *                       cluster (the rest are found with CLUSTER SLOTS);
 *   namespace           the prefix of the map's Redis keys, "cmap" by
 *                       default: maps with different namespaces never see
 *                       each other's entries;
 *   buckets             the Redis hashes the entries are spread over
 *                       (power of two, default 1024): enough to spread a
 *                       cluster's nodes, few enough that len, range and
 *                       clear (one command per bucket) stay cheap; every
 *                       process must give the same;
 *   connect_timeout_ms  a connection attempt (default 1000);
 *   timeout_ms          the wait for one answer (default 2000);
 *   password, db        AUTH and SELECT on each connection (a cluster has
 *                       db 0 only);
 *   replicas            0 by default; n > 0: a write returns success only
 *                       once n replicas have it (WAIT, at most half of
 *                       timeout_ms), else CMAP_EINDOUBT.  Redis replicates
 *                       asynchronously: with 0, a write acknowledged just
 *                       before its master fails may be missing on the
 *                       promoted replica.
 * Every operation is atomic per key across every client of the server:
 * load, store and delete are one command each, the others one Lua script
 * (values are compared and summed as text and 32-bit halves, exact across
 * all 64 bits).  cmap_update reads the key, runs the callback, and writes
 * only if the key still holds what it read, else runs the callback again
 * on the new value (no CMAP_CAP_UPDATE_ONCE: it may run several times, and
 * on the caller's thread only).  cmap_len sums the buckets' sizes, each
 * read at some moment of the call: exact when no write runs, otherwise off
 * by at most the writes in progress (no CMAP_CAP_LEN_EXACT); on a fault it
 * returns 0 with cmap_last_error() set.  cmap_range fetches one bucket at a
 * time (each a snapshot: no key twice, CMAP_CAP_RANGE_ONCE); cmap_clear
 * UNLINKs each bucket (freed in the server's background); cmap_reserve and
 * the capacity hint do nothing (the server sizes its tables); cmap_stats
 * reports len, the map's bytes in this process and no table figures.
 *
 * Threads: any thread, no registration.  A hiredis connection serves one
 * thread at a time, so each call takes a session (a connection per server
 * node, opened on first use) from the map's pool and gives it back; the
 * pool grows to the most threads inside the map at once.  A pool rather
 * than per-thread connections: threads may come and go and use many maps,
 * and nothing must outlive a map or be cleaned up at thread exit.  A call
 * that finds no session and no memory for one waits for one to come back
 * (no call fails with CMAP_ENOMEM for want of a connection).  A child made
 * by fork() must not use its parent's maps; it may open its own.
 *
 * Cluster: commands are routed by hash slot; MOVED and ASK redirections
 * are followed (at most 5 hops), and the slot map is reloaded after a
 * MOVED or a failed node, so a failover is followed by itself.  A batch
 * is one pipelined round trip per node (per 1,024 keys).
 *
 * Errors, each with cmap_last_error() naming the node:
 *   CMAP_EUNAVAILABLE  not sent: connection refused or timed out, the
 *                      cluster down or failing over (CLUSTERDOWN,
 *                      TRYAGAIN, LOADING, MASTERDOWN): nothing changed;
 *   CMAP_EINDOUBT      a write was sent and its answer never came (the
 *                      connection broke or timeout_ms passed), or
 *                      replicas did not confirm it: it may or may not have
 *                      been applied; read the key to find out;
 *   CMAP_EIO           the same for a read (nothing changed), an error
 *                      answer, or a key of the namespace that holds no
 *                      libcmap entry.
 * A call returns within timeout_ms plus connect_timeout_ms per node it
 * tries (and a few hops); the map reconnects by itself when the server is
 * back.  The allocator hooks see the map, its sessions and its batch
 * pipelines; hiredis allocates its connections and replies with malloc.
 *
 * VERSIONS AND THE ABI
 *
 * 1.x keeps the ABI of 1.0: functions and status codes are only added;
 * the structs cmap_config_t, cmap_stats_t, cmap_backend_info_t and
 * cmap_option_info_t only grow at their end, and the library reads and
 * writes only as many bytes of them as the caller's copy of this header
 * declared (the inline wrappers below pass the size).  A field's comment
 * says the version it came in when that is not 1.0.
 */
#ifndef CMAP_H
#define CMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(CMAP_STATIC_DEFINE)
#define CMAP_API
#elif defined(__GNUC__)
#define CMAP_API __attribute__((visibility("default")))
#else
#define CMAP_API
#endif

#define CMAP_VERSION_MAJOR 1
#define CMAP_VERSION_MINOR 0
#define CMAP_VERSION_PATCH 0
#define CMAP_VERSION_STRING "1.0.0"
/* MAJOR * 10000 + MINOR * 100 + PATCH, as cmap_version() returns it. */
#define CMAP_VERSION                                                           \
	(CMAP_VERSION_MAJOR * 10000 + CMAP_VERSION_MINOR * 100 +               \
	    CMAP_VERSION_PATCH)

/*
 * cmap_version - the version of the library linked at run time, as
 * CMAP_VERSION encodes it (which is the version of this header).
 * cmap_version_string - the same as text ("1.0.0").
 * Thread safety: any thread.  Cost: O(1).
 */
CMAP_API unsigned cmap_version(void);
CMAP_API const char *cmap_version_string(void);

/* ---------------------------------------------------------------------
 * Status codes
 *
 * One X-macro holds each code, its value and its message.  Codes are never
 * renumbered or reused; new ones are appended.  (2 and -4 were EXISTS and
 * ESHARDS before 1.0.)
 *
 * EIO, ECORRUPT, EUNAVAILABLE, EINDOUBT, EBUSY and ENOSPC come only from
 * backends whose entries live on disk or in a server (CMAP_CAP_PERSISTENT,
 * CMAP_CAP_REMOTE).  Like every error they mean "nothing changed", with one
 * exception that says so in its name: EINDOUBT, returned when a remote
 * request was sent and its answer never came, so the caller cannot know
 * whether it took effect (read the key again to find out).
 * ------------------------------------------------------------------- */
#define CMAP_STATUS_MAP(X)                                                     \
	X(OK, 0, "success: the key was present")                               \
	X(NOT_FOUND, 1, "key not found")                                       \
	X(MISMATCH, 3, "value did not match the expected value")               \
	X(INSERTED, 4, "success: the key was absent and has been inserted")    \
	X(EINVAL, -1, "invalid argument (NULL pointer, bad value or option)")  \
	X(ENOMEM, -2, "out of memory")                                         \
	X(EBACKEND, -3, "unknown or unavailable backend")                      \
	X(ERECURSE, -5,                                                        \
	    "recursive call into the map from inside its update callback")     \
	X(EIO, -6, "input/output error (disk or network)")                     \
	X(ECORRUPT, -7, "the file is corrupt or not a libcmap map")            \
	X(EUNAVAILABLE, -8,                                                    \
	    "the server cannot be reached (refused, down or timed out) and "   \
	    "the request was not sent")                                        \
	X(EINDOUBT, -9,                                                        \
	    "the connection broke after the request was sent: the operation "  \
	    "may or may not have been applied")                                \
	X(EBUSY, -10, "the resource is in use (the file is already open)")     \
	X(ENOSPC, -11, "no space left on the device")

typedef enum cmap_status {
#define CMAP_STATUS_ENUM_(name, value, msg) CMAP_##name = (value),
	CMAP_STATUS_MAP(CMAP_STATUS_ENUM_)
#undef CMAP_STATUS_ENUM_
} cmap_status_t;

/*
 * cmap_strerror - the message of a status ("key not found").
 * cmap_status_name - the status's name without prefix ("NOT_FOUND").
 *
 * Return a static string; for a value that is no status, "unknown status"
 * and "UNKNOWN".  Thread safety: any thread.  Cost: O(1).
 */
CMAP_API const char *cmap_strerror(cmap_status_t status);
CMAP_API const char *cmap_status_name(cmap_status_t status);

/*
 * cmap_last_error - what went wrong in the last failed call of
 * cmap_config_set(), cmap_create(), cmap_backend_info(),
 * cmap_backend_option(), cmap_profile(), cmap_profile_since() or
 * cmap_advise() on this thread, in one sentence that names the culprit
 * ("backend 'sharded': option 'shards': 48 is not a power of two"), and
 * likewise for the last call on this thread that returned EIO, ECORRUPT,
 * EUNAVAILABLE, EINDOUBT, EBUSY or ENOSPC ("redis
 * 127.0.0.1:6379: connection refused").  "" when none has failed on this
 * thread.  The string is per thread and valid until that thread's next
 * such failure.  Other calls return their status only (their message:
 * cmap_strerror).
 * Thread safety: any thread.  Cost: O(1).
 */
CMAP_API const char *cmap_last_error(void);

/* True for error codes (< 0), false for successes. */
static inline bool
cmap_is_error(cmap_status_t status)
{
	return (int)status < 0;
}

/* ---------------------------------------------------------------------
 * Backends, described as data
 * ------------------------------------------------------------------- */
#define CMAP_BACKEND_PLAIN "plain"
#define CMAP_BACKEND_RWLOCK "rwlock"
#define CMAP_BACKEND_SHARDED "sharded"
#define CMAP_BACKEND_LOCKFREE "lockfree"
#define CMAP_BACKEND_READMOSTLY "readmostly"
#define CMAP_BACKEND_LMDB "lmdb"
#define CMAP_BACKEND_REDIS "redis"

/* Capability bits (GUARANTEES above). */
#define CMAP_CAP_THREAD_SAFE (UINT64_C(1) << 0)
#define CMAP_CAP_LOCK_FREE (UINT64_C(1) << 1)
#define CMAP_CAP_LINEARIZABLE (UINT64_C(1) << 2)
#define CMAP_CAP_UPDATE_ONCE (UINT64_C(1) << 3)
#define CMAP_CAP_LEN_EXACT (UINT64_C(1) << 4)
#define CMAP_CAP_RANGE_ONCE (UINT64_C(1) << 5)
#define CMAP_CAP_RANGE_SNAPSHOT (UINT64_C(1) << 6)
#define CMAP_CAP_PERSISTENT (UINT64_C(1) << 7)
#define CMAP_CAP_REMOTE (UINT64_C(1) << 8)
#define CMAP_CAP_MISUSE_CHECK (UINT64_C(1) << 9)

typedef struct cmap_backend_info {
	const char *name;    /* "sharded" */
	const char *summary; /* one line: what it is, when to pick it */
	uint32_t version;    /* the backend's own version, bumped when its
	                        behaviour or options change */
	uint64_t caps;       /* CMAP_CAP_* */
	size_t n_options;    /* options it takes: cmap_backend_option() */
} cmap_backend_info_t;

/* The type of an option's value, as cmap_config_set() parses its text. */
typedef enum cmap_option_type {
	CMAP_OPTION_BOOL = 0,   /* "true"/"false", "1"/"0", "yes"/"no",
	                           "on"/"off" */
	CMAP_OPTION_UINT = 1,   /* decimal or 0x hex, in [min, max] */
	CMAP_OPTION_STRING = 2, /* any text (a path, an address) */
} cmap_option_type_t;

/* Option flags. */
#define CMAP_OPTION_POW2 (UINT32_C(1) << 0)     /* UINT: a power of two */
#define CMAP_OPTION_REQUIRED (UINT32_C(1) << 1) /* no default: must be set */

typedef struct cmap_option_info {
	const char *name; /* "shards" */
	cmap_option_type_t type;
	const char *default_value; /* as text; NULL when REQUIRED */
	const char *doc;           /* one line */
	uint64_t min, max;         /* UINT: the range allowed */
	uint32_t flags;            /* CMAP_OPTION_* */
} cmap_option_info_t;

/*
 * cmap_backend_at - the name of the index-th backend of this build
 * (0, 1, ...), or NULL past the last one.  The order is fixed for a build.
 *   for (size_t i = 0; (name = cmap_backend_at(i)) != NULL; i++) ...
 *
 * cmap_backend_info - describe the backend called `name` in *info.
 *   Returns CMAP_OK; CMAP_EINVAL when name or info is NULL; CMAP_EBACKEND
 *   when no backend of this build has that name (info untouched).
 *
 * cmap_backend_option - describe the i-th option (0 <= i < n_options) of
 * the backend `name` in *opt.
 *   Returns CMAP_OK; CMAP_EINVAL (NULL argument, or i out of range);
 *   CMAP_EBACKEND.
 *
 * Every string returned is static.  Thread safety: any thread.
 * Cost: O(number of backends).
 */
CMAP_API const char *cmap_backend_at(size_t index);
CMAP_API cmap_status_t cmap_backend_info_sized(
    const char *name, cmap_backend_info_t *info, size_t size);
CMAP_API cmap_status_t cmap_backend_option_sized(
    const char *name, size_t i, cmap_option_info_t *opt, size_t size);

static inline cmap_status_t
cmap_backend_info(const char *name, cmap_backend_info_t *info)
{
	return cmap_backend_info_sized(name, info, sizeof *info);
}

static inline cmap_status_t
cmap_backend_option(const char *name, size_t i, cmap_option_info_t *opt)
{
	return cmap_backend_option_sized(name, i, opt, sizeof *opt);
}

/* True when this build has a backend called `name`. */
CMAP_API bool cmap_backend_available(const char *name);

/* ---------------------------------------------------------------------
 * Configuration
 * ------------------------------------------------------------------- */

/*
 * Allocator hooks.  Every byte the library uses goes through them.
 *   alloc(ctx, size, align) returns memory of `size` bytes aligned to
 *     `align` (a power of two, at most 4096), or NULL on failure; the
 *     library then returns CMAP_ENOMEM and changes nothing.
 *   free(ctx, ptr, size) releases a block, with the size it was allocated
 *     with.  Never called with NULL.
 * Both may be called from any thread that uses the map, concurrently.
 * Linux: in a block of 64 KiB or more, the library gives the whole pages
 * whose contents it no longer needs (the drained part of a table being
 * resized, a freed table given back a step at a time) to
 * madvise(MADV_DONTNEED) before it frees the block, whichever allocator
 * the block came from, so that the resident set follows the map's bytes
 * and the final free (an munmap of touched pages costs about 5 ms per
 * 64 MiB) costs little.  It never touches bytes outside a block.
 */
typedef struct cmap_allocator {
	void *(*alloc)(void *ctx, size_t size, size_t align);
	void (*free)(void *ctx, void *ptr, size_t size);
	void *ctx;
} cmap_allocator_t;

/* Flags for cmap_config_t.flags. */
enum {
	/* Turn off the plain backend's misuse detector (the same as the
	 * option misuse_check=false). */
	CMAP_FLAG_NO_MISUSE_CHECK = 1u << 0,
	/* Keep metrics on this map (METRICS below; the same as the option
	 * metrics=true). */
	CMAP_FLAG_METRICS = 1u << 1,
};

#define CMAP_DEFAULT_SHARDS 32u
#define CMAP_MAX_SHARDS 65536u
/* Bytes of option text a config holds (names, values and two NULs each). */
#define CMAP_CONFIG_OPTION_BYTES 4096u

typedef struct cmap_config {
	size_t size;         /* sizeof(cmap_config_t) where the caller was
	                        compiled: set by cmap_config_init() */
	const char *backend; /* a backend's name; NULL = "plain".  The string
	                        must live until cmap_create() returns. */
	size_t capacity;     /* entries to hold without resizing; 0 = small */
	uint32_t shards;     /* the option "shards" where the backend has it
	                        (0 = its default); ignored by the others */
	uint32_t flags;      /* CMAP_FLAG_* */
	uint64_t seed;       /* hash seed; 0 = a fresh random seed per map */
	cmap_allocator_t allocator; /* alloc and free both NULL = malloc/free */
	/* Backend options, as text: written by cmap_config_set() only.
	 * (64-bit count: the 1.0 struct ends with no padding, so a field
	 * appended in 1.x always lies past the size a 1.0 caller passes.) */
	uint64_t n_options_;
	char options_[CMAP_CONFIG_OPTION_BYTES];
} cmap_config_t;

/*
 * cmap_config_init - fill *config with the defaults: no backend named
 * (plain), no capacity hint, default shards, no flags, random seed,
 * malloc/free, no options.  Does nothing when config is NULL (or, for
 * cmap_config_init_sized, when size is smaller than the 1.0 struct).
 * Thread safety: any thread.  Cost: O(1).
 */
CMAP_API void cmap_config_init_sized(cmap_config_t *config, size_t size);

static inline void
cmap_config_init(cmap_config_t *config)
{
	cmap_config_init_sized(config, sizeof *config);
}

/*
 * cmap_config_set - set the option `name` to `value` (text, copied into
 * the config: neither string need outlive the call).  Setting a name
 * again replaces its value.  Besides each backend's own options (see
 * cmap_backend_option), every config takes:
 *   backend    a backend's name (overrides config->backend);
 *   capacity   as config->capacity;
 *   seed       as config->seed;
 *   metrics    a boolean: as CMAP_FLAG_METRICS;
 *   metrics_sample  time 1 call in this many (1 to 65536, default 64)
 *              per thread and kind of call, on a map with metrics
 *              (METRICS).
 * The name and the value are checked at cmap_create() against the backend
 * chosen then, so options may be set before the backend is.
 *   Returns CMAP_OK; CMAP_EINVAL when config, name or value is NULL, the
 *   name is empty or holds '=', or the options no longer fit in
 *   CMAP_CONFIG_OPTION_BYTES (config unchanged; cmap_last_error says why).
 * Thread safety: any thread, on a config no other thread uses.
 * Cost: O(bytes of options set).
 */
CMAP_API cmap_status_t cmap_config_set(
    cmap_config_t *config, const char *name, const char *value);

/*
 * cmap_config_get - the text an option was set to by cmap_config_set(), or
 * NULL when it was not set (or config or name is NULL).  The pointer is
 * into the config, valid until it changes.  Cost: O(bytes of options).
 */
CMAP_API const char *cmap_config_get(
    const cmap_config_t *config, const char *name);

/* ---------------------------------------------------------------------
 * Life cycle
 * ------------------------------------------------------------------- */
typedef struct cmap cmap_t;

/*
 * cmap_create - make an empty map as `config` says; store it in *out.
 *   Returns CMAP_OK;
 *     CMAP_EINVAL    config or out is NULL, config->size is not the size
 *                    of a known version of the struct, unknown flags, only
 *                    one of allocator.alloc / allocator.free set, or an
 *                    option the backend does not take or whose value is
 *                    not valid for it (a shard count that is not a power
 *                    of two in [1, CMAP_MAX_SHARDS], say);
 *     CMAP_EBACKEND  no backend of this build has the name;
 *     CMAP_ENOMEM    an allocation failed (nothing is leaked);
 *     CMAP_EIO, CMAP_ECORRUPT, CMAP_EBUSY  (persistent backends: the
 *                    directory cannot be used, see PERSISTENCE);
 *   and cmap_last_error() names the option, value or backend at fault.
 *   On error *out is left unchanged.  The map copies what it needs of the
 *   config; the caller keeps ownership of it.
 * Thread safety: any thread.  Cost: O(capacity) (the table is allocated).
 */
CMAP_API cmap_status_t cmap_create(const cmap_config_t *config, cmap_t **out);

/*
 * cmap_destroy - free the map and everything it holds.  NULL is a no-op.
 * Thread safety: not thread-safe: no other call on this map may be running
 * or start.  Threads that used the map may go on running (and exit) after
 * it is destroyed.  Cost: O(capacity).
 */
CMAP_API void cmap_destroy(cmap_t *map);

/* The name of the backend the map was created with (static; NULL for a
 * NULL map). */
CMAP_API const char *cmap_backend(const cmap_t *map);

/* ---------------------------------------------------------------------
 * Single-key operations.
 *
 * All: map NULL -> CMAP_EINVAL; a required out pointer NULL -> CMAP_EINVAL;
 * called from inside this map's update callback -> CMAP_ERECURSE; on a
 * persistent backend also CMAP_EIO, CMAP_ECORRUPT and, for writes,
 * CMAP_ENOSPC, with nothing changed (PERSISTENCE).  The RESULTS table at
 * the top gives every success.
 * Thread safety: as the backend's caps say; each is atomic per key on a
 * CMAP_CAP_LINEARIZABLE backend.  Cost: O(1); a call that inserts or
 * deletes may resize (see COSTS).
 * ------------------------------------------------------------------- */

/*
 * cmap_load - read the value of key into *value.
 *   Returns CMAP_OK, or CMAP_NOT_FOUND (then *value is unchanged).
 *   Never allocates.
 */
CMAP_API cmap_status_t cmap_load(cmap_t *map, uint64_t key, uint64_t *value);

/*
 * cmap_store - insert key, or overwrite its value.
 *   Returns CMAP_OK (overwritten), CMAP_INSERTED, or CMAP_ENOMEM when
 *   inserting needed a larger table that could not be allocated.
 */
CMAP_API cmap_status_t cmap_store(cmap_t *map, uint64_t key, uint64_t value);

/*
 * cmap_load_or_store - insert key with `value` if it is absent; otherwise
 * leave it.  *actual receives the value the key has after the call.
 *   Returns CMAP_OK when the key was present (*actual = its value),
 *   CMAP_INSERTED when this call inserted it (*actual = value),
 *   CMAP_ENOMEM.
 */
CMAP_API cmap_status_t cmap_load_or_store(
    cmap_t *map, uint64_t key, uint64_t value, uint64_t *actual);

/*
 * cmap_load_and_delete - remove key and return the value it had in *value.
 *   Returns CMAP_OK, or CMAP_NOT_FOUND (then *value is unchanged).
 *   Never fails for lack of memory: a shrink that cannot allocate is
 *   skipped.
 */
CMAP_API cmap_status_t cmap_load_and_delete(
    cmap_t *map, uint64_t key, uint64_t *value);

/*
 * cmap_delete - remove key.  Returns CMAP_OK or CMAP_NOT_FOUND.
 */
CMAP_API cmap_status_t cmap_delete(cmap_t *map, uint64_t key);

/*
 * cmap_swap - store value and return the previous one in *previous
 * (optional: may be NULL).
 *   Returns CMAP_OK when the key was present (previous value written),
 *   CMAP_INSERTED when it was absent (*previous unchanged), CMAP_ENOMEM.
 */
CMAP_API cmap_status_t cmap_swap(
    cmap_t *map, uint64_t key, uint64_t value, uint64_t *previous);

/*
 * cmap_compare_and_swap - set key to `desired` if its value is `expected`.
 *   Returns CMAP_OK when swapped, CMAP_MISMATCH when the key holds another
 *   value, CMAP_NOT_FOUND when it is absent.  Never inserts, never
 *   allocates.
 */
CMAP_API cmap_status_t cmap_compare_and_swap(
    cmap_t *map, uint64_t key, uint64_t expected, uint64_t desired);

/*
 * cmap_compare_and_delete - remove key if its value is `expected`.
 *   Returns CMAP_OK when removed, CMAP_MISMATCH, CMAP_NOT_FOUND.
 */
CMAP_API cmap_status_t cmap_compare_and_delete(
    cmap_t *map, uint64_t key, uint64_t expected);

/*
 * cmap_add - atomically add delta (modulo 2^64) to key's value; an absent
 * key counts as 0 and is inserted with value delta.  The value after the
 * addition goes to *result (optional: may be NULL).  To subtract, pass the
 * two's complement ((uint64_t)-n).
 *   Returns CMAP_OK when the key existed, CMAP_INSERTED when it was
 *   inserted, CMAP_ENOMEM.
 */
CMAP_API cmap_status_t cmap_add(
    cmap_t *map, uint64_t key, uint64_t delta, uint64_t *result);

/*
 * Update callback: called with the key, whether it is present, and its
 * value in *value (0 when absent).  It returns what to do:
 *   CMAP_UPDATE_KEEP    leave the map as it is;
 *   CMAP_UPDATE_STORE   store *value (insert when absent);
 *   CMAP_UPDATE_DELETE  delete the key (no-op when absent).
 * With CMAP_CAP_UPDATE_ONCE it runs exactly once per call, possibly under
 * the key's lock: keep it short, and do not call into the same map (that
 * call returns CMAP_ERECURSE).  Without it (lockfree) it may run more than
 * once per call (retried after a lost race) and must have no side effects;
 * the result is the one of its last run.
 */
typedef enum cmap_update_action {
	CMAP_UPDATE_KEEP = 0,
	CMAP_UPDATE_STORE = 1,
	CMAP_UPDATE_DELETE = 2,
} cmap_update_action_t;

typedef cmap_update_action_t (*cmap_update_fn)(
    uint64_t key, uint64_t *value, bool present, void *ctx);

/*
 * cmap_update - read-modify-write one key atomically through fn.
 * *value_out (optional) receives, on CMAP_OK and CMAP_INSERTED, the key's
 * value after the call, or the value it had when fn deleted it.
 *   Returns CMAP_OK when the key was present (kept, stored or deleted),
 *   CMAP_INSERTED when it was absent and fn stored it, CMAP_NOT_FOUND when
 *   it was absent and stays absent; CMAP_EINVAL when fn is NULL or returns
 *   an unknown action (map unchanged); CMAP_ENOMEM when a store needed
 *   memory.
 */
CMAP_API cmap_status_t cmap_update(cmap_t *map, uint64_t key, cmap_update_fn fn,
    void *ctx, uint64_t *value_out);

/* ---------------------------------------------------------------------
 * Batches: n single-key operations in one call.
 *
 * status[i] (and values[i] for loads) is what the single-key call would
 * have returned for keys[i]; keys are processed in order, each atomic on
 * its own as that call is, the batch as a whole not atomic.  A key may
 * appear more than once.  Backends that have a batch path overlap the
 * cache misses of consecutive keys (they prefetch ahead within the batch)
 * and take their lock or read section once per group of keys instead of
 * once per key (at most CMAP_BATCH_GROUP keys under one lock); the others
 * loop over the single-key calls.  Work is O(n).
 *
 * Returns CMAP_OK when every key's status is a success (>= 0), else the
 * first error among them (every key is still attempted: the ones that
 * failed have changed nothing).  CMAP_EINVAL when map is NULL, or keys,
 * status (or values, where the call needs it) is NULL while n > 0: then
 * nothing is done.  CMAP_ERECURSE from inside this map's update callback.
 * Thread safety: as the single-key calls.
 * ------------------------------------------------------------------- */
#define CMAP_BATCH_GROUP 32u

/* cmap_load_batch - values[i] as cmap_load writes it (unchanged when
 * status[i] is CMAP_NOT_FOUND). */
CMAP_API cmap_status_t cmap_load_batch(cmap_t *map, size_t n,
    const uint64_t *keys, uint64_t *values, cmap_status_t *status);

/* cmap_store_batch - store values[i] under keys[i]. */
CMAP_API cmap_status_t cmap_store_batch(cmap_t *map, size_t n,
    const uint64_t *keys, const uint64_t *values, cmap_status_t *status);

/* cmap_delete_batch - remove keys[i]. */
CMAP_API cmap_status_t cmap_delete_batch(
    cmap_t *map, size_t n, const uint64_t *keys, cmap_status_t *status);

/* ---------------------------------------------------------------------
 * Whole-map operations
 * ------------------------------------------------------------------- */

/*
 * Range callback: return true to go on, false to stop.
 */
typedef bool (*cmap_range_fn)(uint64_t key, uint64_t value, void *ctx);

/*
 * cmap_range - call fn for the entries of the map, in no particular order
 * (lmdb: ascending key order), until it returns false.
 *   Guarantee (weakly consistent, every in-memory backend): a key present,
 *   with one value, for the whole traversal is visited exactly once with
 *   that value; with CMAP_CAP_RANGE_ONCE a key is never visited twice; a
 *   visited key was present with the value shown at some moment during the
 *   traversal.  Keys inserted or deleted during the traversal may or may
 *   not be visited.  With CMAP_CAP_RANGE_SNAPSHOT the traversal shows the
 *   map as it was at one instant.
 *   fn runs with no lock held and may call any function on the same map
 *   (store, delete, even cmap_range), except cmap_destroy.
 *   Returns CMAP_OK (also when fn stopped early); CMAP_EINVAL when map or fn
 *   is NULL; CMAP_ERECURSE from inside an update callback; on lmdb the
 *   errors of PERSISTENCE.  Never allocates through the hooks.
 * Thread safety: as the backend.  Blocking backends hold a lock only while
 *   copying a small batch of entries, never while fn runs.
 * Cost: O(capacity + entries) plus fn, and bounded whatever fn does: on
 *   plain, rwlock and sharded a traversal walks the hash space upwards in
 *   steps fixed when it starts, so it visits at most the entries present
 *   at its start plus those inserted during it ahead of its position; a
 *   callback that inserts k new keys at each visit ends the traversal
 *   after about (e^k - 1) / k visits per entry present at the start (1.72
 *   for one key per visit, as test_limits measures).
 */
CMAP_API cmap_status_t cmap_range(cmap_t *map, cmap_range_fn fn, void *ctx);

/*
 * cmap_len - the number of entries.
 *   Exact when no other operation runs concurrently.  Otherwise: with
 *   CMAP_CAP_LEN_EXACT, a value the count had at some moment during the
 *   call (plain, rwlock), or the sum of per-shard counts each read at some
 *   moment, within the number of concurrent writes of the truth (sharded);
 *   lockfree: the sum of per-thread counts each read at some moment,
 *   within the number of operations other than loads in progress on other
 *   threads (any of them, range and clear included, may be moving an
 *   entry for a migration and count it a moment after its
 *   compare-and-swap); readmostly: one counter written under the writers'
 *   mutex, a value it had at some moment during the call.
 *   redis: the sum of every bucket's count (HLEN), each read at some
 *   moment, off by at most the writes that ran during the call; it
 *   costs one pipelined round trip per server node, and returns 0 (with
 *   cmap_last_error() set) when a server cannot be reached.
 *   Never walks the table.  Returns 0 for a NULL map.  May be called from
 *   inside an update callback (it takes no lock).
 * Thread safety: as the backend; never takes a lock.
 *   lmdb: the count of the newest snapshot (exact: a value the count had
 *   at some moment), read from the tree's header; it takes a reader slot
 *   and waits for no writer, only for a growth of the map size; 0 when
 *   the file cannot be read.
 * Cost: O(1) (rwlock, plain, readmostly, lmdb), O(shards) (sharded), O(threads
 * that used the map) (lockfree), O(buckets) on the server (redis).
 */
CMAP_API size_t cmap_len(const cmap_t *map);

/*
 * cmap_clear - remove every entry and give the table memory back (down to
 * the capacity asked for at creation or by cmap_reserve).
 *   Returns CMAP_OK; CMAP_EINVAL; CMAP_ERECURSE; on lockfree only,
 *   CMAP_ENOMEM (nothing removed) when neither a new table nor the spare
 *   one each map keeps for this can be had: it takes two allocation
 *   failures in a row.  The lock-based backends never fail for lack of
 *   memory here.  Concurrent operations see each key either before or
 *   after its removal, which happens once per key (on sharded, shard by
 *   shard).
 * Cost: O(capacity).
 */
CMAP_API cmap_status_t cmap_clear(cmap_t *map);

/*
 * cmap_reserve - make room for `entries` entries in all without resizing,
 * and keep at least that capacity when entries are deleted.  On sharded
 * each shard gets its share plus a margin of eight standard deviations of
 * the random spread of keys over shards: with a random seed the chance
 * that a shard still grows is below 1e-12.  The capacity hint of the
 * config makes the same promise.
 *   Returns CMAP_OK; CMAP_ENOMEM (contents unchanged; on sharded, shards
 *   reserved before the failure keep their larger tables); CMAP_EINVAL;
 *   CMAP_ERECURSE.
 * Cost: O(entries) when the table grows.
 */
CMAP_API cmap_status_t cmap_reserve(cmap_t *map, size_t entries);

/*
 * cmap_sync - make every write that returned before this call durable.
 *   On a CMAP_CAP_PERSISTENT backend whose durability mode does not flush
 *   at each write (lmdb's "nosync"), flush to disk now; everywhere else
 *   writes are as durable as they will get when they return, and this
 *   returns CMAP_OK at once.
 *   Returns CMAP_OK; CMAP_EINVAL (NULL map); CMAP_ERECURSE; the backend's
 *   I/O errors (CMAP_EIO, CMAP_ENOSPC), with cmap_last_error() saying why.
 * Thread safety: any thread, concurrently with every other call.
 * Cost: O(1) in memory; one flush of the dirty pages on disk.
 */
CMAP_API cmap_status_t cmap_sync(cmap_t *map);

/*
 * Statistics.  Grows only at its end (VERSIONS AND THE ABI).
 */
typedef struct cmap_stats {
	const char *backend;    /* the backend's name (static) */
	uint64_t len;           /* as cmap_len() */
	uint64_t capacity;      /* slots in all tables */
	uint64_t bytes;         /* bytes the map holds from its allocator now */
	uint64_t grows;         /* resizes to a larger table since creation */
	uint64_t shrinks;       /* resizes to a smaller table since creation */
	uint32_t shards;        /* 1 unless sharded */
	uint64_t min_shard_len; /* smallest and largest shard (== len unless */
	uint64_t max_shard_len; /*   sharded)                                */
	uint64_t max_probe;     /* longest probe distance of any entry, slots */
	double mean_probe;      /* mean probe distance over entries, slots */
	uint64_t seed;          /* the hash seed in use */
} cmap_stats_t;

/*
 * cmap_stats - fill *stats.
 *   Returns CMAP_OK; CMAP_EINVAL when map or stats is NULL; CMAP_ERECURSE.
 * Thread safety: as the backend; on blocking backends takes each read lock
 *   in turn, so figures of different shards are from different moments.
 * Cost: O(capacity) (the probe figures walk the tables).
 */
CMAP_API cmap_status_t cmap_stats_sized(
    cmap_t *map, cmap_stats_t *stats, size_t size);

static inline cmap_status_t
cmap_stats(cmap_t *map, cmap_stats_t *stats)
{
	return cmap_stats_sized(map, stats, sizeof *stats);
}

/* ---------------------------------------------------------------------
 * METRICS
 *
 * A map created with CMAP_FLAG_METRICS (or the option metrics=true) keeps,
 * per kind of call (cmap_op_t), counters of calls and of their results, a
 * latency histogram, and what only the backend sees: lock acquisitions
 * that had to wait and for how long, update callbacks run again after a
 * lost race, resizes started and the time spent moving entries for them;
 * per map, the bytes it holds from its allocator.  They are read as
 * structs (cmap_metrics, cmap_metrics_op: what an advisor reads) or as
 * Prometheus text for any number of maps at once (cmap_metrics_expose).
 *
 * Off by default: on, a load or store runs some 28 more instructions (30
 * for store, 42 for the other single-key calls; +20% to +40% of the
 * in-memory backends' calls, by callgrind), which costs 7% to 35% of
 * their throughput on a read-mostly mix (nothing that shows beside lmdb's
 * and redis's own costs); off, a call pays one predictable branch on the
 * map (docs/design.md, "Metrics", has the figures).
 *
 * Recording writes no shared cache line: each thread records into its own
 * record in the map (allocated through the map's allocator at its first
 * call, reused after the thread exits; a thread whose record cannot be
 * allocated still runs its calls, counted in `dropped`).  Every call is
 * counted.  Latency is sampled: 1 call in metrics_sample (default 64) of
 * each kind per thread is timed with clock_gettime(CLOCK_MONOTONIC), at
 * random intervals of mean metrics_sample (so no periodic workload hides
 * from it), the first call of each kind included; set metrics_sample=1
 * to time every call.  A sample includes about half of the clock's own
 * cost, and falls in buckets of relative width 2^(1/4)
 * (19%); the Prometheus histogram has one bucket per factor of 4, from
 * 32 ns to 2.1 s.  Counters that a backend cannot see are 0 there:
 * lockfree and plain take no lock, LMDB's and the Redis server's own
 * locks are invisible, and lmdb's remap time and Redis's resizes are not
 * counted (docs/design.md, "Metrics").
 *
 * The counters are updated with relaxed atomics: a snapshot taken while
 * calls run is a sum of per-thread counters each read at some moment,
 * and never goes backwards between two snapshots.  cmap_len and
 * cmap_stats are not recorded; a call that fails its argument checks
 * (CMAP_EINVAL for a NULL map or out pointer, CMAP_ERECURSE) is not
 * either.
 * ------------------------------------------------------------------- */

/* The kinds of call, as the `op` label names them (cmap_op_name).  Only
 * appended to; CMAP_OP_COUNT_ is the count of this header's version. */
typedef enum cmap_op {
	CMAP_OP_LOAD = 0,
	CMAP_OP_STORE,
	CMAP_OP_LOAD_OR_STORE,
	CMAP_OP_LOAD_AND_DELETE,
	CMAP_OP_DELETE,
	CMAP_OP_SWAP,
	CMAP_OP_COMPARE_AND_SWAP,
	CMAP_OP_COMPARE_AND_DELETE,
	CMAP_OP_ADD,
	CMAP_OP_UPDATE,
	CMAP_OP_LOAD_BATCH,
	CMAP_OP_STORE_BATCH,
	CMAP_OP_DELETE_BATCH,
	CMAP_OP_RANGE,
	CMAP_OP_CLEAR,
	CMAP_OP_RESERVE,
	CMAP_OP_SYNC,
	CMAP_OP_COUNT_
} cmap_op_t;

/* "load", "store", "load_or_store", ..., "compare_and_swap", ...,
 * "load_batch", ..., "sync" (the public call's name without cmap_);
 * NULL for a value that is no kind.  Static. */
CMAP_API const char *cmap_op_name(cmap_op_t op);

/*
 * Latency buckets, in nanoseconds: bucket 0 holds samples of at most 8;
 * bucket b >= 1 holds (lo, hi] with, for k = (b - 1) / 4 + 3 and
 * s = (b - 1) % 4, lo = 2^k + s * 2^(k-2) and hi = lo + 2^(k-2) (four
 * buckets per power of two); the last bucket, CMAP_METRICS_BUCKETS - 1,
 * holds everything above its lo (about 30 s).  This layout is fixed for
 * 1.x.  cmap_metrics_bucket_bound(b) is hi (UINT64_MAX for the last
 * bucket and past it).
 */
#define CMAP_METRICS_BUCKETS 129u
CMAP_API uint64_t cmap_metrics_bucket_bound(unsigned b);

/* One kind of call on one map, summed over its threads.  Grows only at
 * its end, after `buckets` (VERSIONS AND THE ABI). */
typedef struct cmap_metrics_op {
	uint64_t ops;            /* calls */
	uint64_t keys;           /* keys: ops, or for a batch the keys in all */
	uint64_t ok;             /* per key: CMAP_OK */
	uint64_t inserted;       /* CMAP_INSERTED (load_or_store: a miss) */
	uint64_t not_found;      /* CMAP_NOT_FOUND */
	uint64_t mismatch;       /* CMAP_MISMATCH (compare_and_*) */
	uint64_t errors;         /* any error status */
	uint64_t retries;        /* update: callback runs beyond the first */
	uint64_t lock_contended; /* lock acquisitions that had to wait */
	uint64_t lock_wait_ns;   /* time they waited */
	uint64_t resizes;        /* resizes these calls started */
	uint64_t migrate_ns;     /* time these calls moved entries */
	uint64_t samples;        /* calls timed */
	uint64_t sample_ns;      /* their total time */
	uint64_t buckets[CMAP_METRICS_BUCKETS]; /* samples per bucket */
} cmap_metrics_op_t;

/* One map.  Grows only at its end (VERSIONS AND THE ABI). */
typedef struct cmap_metrics {
	bool enabled;          /* created with metrics; if not, the fields
	                          after len are 0 */
	const char *backend;   /* the backend's name (static) */
	uint32_t shards;       /* the option "shards", 1 without one */
	uint32_t sample_every; /* metrics_sample */
	uint64_t len;          /* as cmap_len() */
	uint64_t bytes;        /* bytes the map holds from its allocator,
	                          its metrics included */
	uint64_t threads;      /* threads holding a record in the map now */
	uint64_t records;      /* records allocated (threads seen at once) */
	uint64_t dropped;      /* calls not recorded: no record could be
	                          allocated (or a histogram: samples lost) */
	uint32_t n_ops;        /* kinds of call this library records */
} cmap_metrics_t;

/*
 * cmap_metrics - fill *out with the map's figures; cmap_metrics_op - fill
 * *out with those of one kind of call.
 *   Returns CMAP_OK; CMAP_EINVAL when map or out is NULL, size is 0, or
 *   op is no kind; CMAP_ERECURSE from inside an update callback.  A map
 *   without metrics: CMAP_OK, enabled false, and zeros.
 * Thread safety: any thread, concurrently with every call but
 *   cmap_destroy; cmap_metrics calls cmap_len, so on a map that is not
 *   thread-safe (plain) it belongs to the thread that uses the map.
 *   Cost: O(threads that used the map), plus cmap_len (on redis a round
 *   trip); never takes a lock.
 */
CMAP_API cmap_status_t cmap_metrics_sized(
    cmap_t *map, cmap_metrics_t *out, size_t size);
CMAP_API cmap_status_t cmap_metrics_op_sized(
    cmap_t *map, cmap_op_t op, cmap_metrics_op_t *out, size_t size);

static inline cmap_status_t
cmap_metrics(cmap_t *map, cmap_metrics_t *out)
{
	return cmap_metrics_sized(map, out, sizeof *out);
}

static inline cmap_status_t
cmap_metrics_op(cmap_t *map, cmap_op_t op, cmap_metrics_op_t *out)
{
	return cmap_metrics_op_sized(map, op, out, sizeof *out);
}

/* A label the caller adds to every series of one map. */
typedef struct cmap_metrics_label {
	const char *name;  /* [a-zA-Z_][a-zA-Z0-9_]*, not starting "__", not
	                      impl_type, shard_count, op, result or le */
	const char *value; /* any text (UTF-8); escaped as the format says */
} cmap_metrics_label_t;

/* One map of an exposition and its labels. */
typedef struct cmap_metrics_source {
	cmap_t *map;
	const cmap_metrics_label_t *labels;
	size_t n_labels;
} cmap_metrics_source_t;

/* Receives the text: return 0 to go on, anything else to stop. */
typedef int (*cmap_metrics_write_fn)(void *ctx, const char *text, size_t len);

/*
 * cmap_metrics_expose - write the metrics of maps[0..n) in the Prometheus
 * text exposition format 0.0.4 (Content-Type: text/plain; version=0.0.4)
 * through fn, in pieces.  Each family has its # HELP and # TYPE once,
 * then the series of every map, each labelled impl_type (the backend's
 * name), shard_count and the map's labels:
 *   map_operation_duration_seconds  histogram {op}: the sampled calls
 *   map_operations_total            counter {op, result}: keys by result
 *                                   (ok, inserted, not_found, mismatch,
 *                                   error: those the kind can return)
 *   map_batch_calls_total           counter {op}: batch calls
 *   map_update_retries_total        counter {op="update"}
 *   map_lock_contended_total        counter {op}
 *   map_lock_wait_seconds_total     counter {op}
 *   map_resizes_total               counter {op}
 *   map_migration_seconds_total     counter {op}
 *   map_entries, map_bytes, map_threads  gauges
 *   map_metrics_dropped_total       counter
 * A kind of call appears once the map has recorded one; a map without
 * metrics has map_entries only.  Where the LoadOrStore miss ratio of the
 * article is wanted: map_operations_total{op="load_or_store",
 * result="inserted"} over the sum of its results.
 *   Returns CMAP_OK; CMAP_EINVAL (nothing written) when maps is NULL with
 *   n > 0, fn is NULL, a map is NULL, a label name is not allowed, or
 *   repeated in one map, a label value is NULL, or two maps have the same
 *   backend, shard count and labels (their series would collide: give
 *   them a label that tells them apart); CMAP_EIO when fn stopped it;
 *   CMAP_ENOMEM (nothing written, more than 16 maps only).
 * Thread safety: any thread, concurrently with every call on the maps but
 *   cmap_destroy (a plain map: as cmap_metrics).  Cost: O(maps^2 * labels
 *   + maps * families * kinds * (threads + buckets)), plus one cmap_len
 *   per map; never takes a lock; no allocation for up to 16 maps (more
 *   take scratch memory from the first map's allocator: CMAP_ENOMEM when
 *   it fails).
 */
CMAP_API cmap_status_t cmap_metrics_expose(const cmap_metrics_source_t *maps,
    size_t n, cmap_metrics_write_fn fn, void *ctx);

/*
 * cmap_metrics_text - the same into buf[0..size), snprintf-style: *length
 * (optional) receives the length of the whole text, without the NUL; the
 * text is cut to fit and always NUL-terminated when size > 0.  Call it
 * again with a larger buffer when *length >= size (the figures may have
 * grown in between: leave room).
 *   Returns as cmap_metrics_expose (never CMAP_EIO); buf may be NULL
 *   when size is 0.
 */
CMAP_API cmap_status_t cmap_metrics_text(const cmap_metrics_source_t *maps,
    size_t n, char *buf, size_t size, size_t *length);

/* ---------------------------------------------------------------------
 * ADVICE
 *
 * Which backend suits the workload a map has seen.  cmap_profile digests
 * the metrics of a map created with CMAP_FLAG_METRICS into the figures
 * the advice reads; cmap_profile_since keeps what happened between two
 * profiles; cmap_advise picks the backend for a profile from a
 * calibration: cmap-bench's measurements on this machine, as a decision
 * tree whose leaves are measured workloads.  It splits on the threads
 * (one; up to one per core; more than the cores), then takes the measured
 * workload nearest in its shares of writes, deletes and inserts and in its
 * entries (a decade of entries weighs a third of a share; docs/design.md,
 * "The advisor", says why and how well it does), and picks the backend
 * that had the best score there (cmap-bench's: throughput, p99 latency
 * and bytes per entry; docs/bench.md, Score; the best median where the
 * measurement was a tie).
 *
 * A calibration is one row per measured workload and thread count,
 * separated by ';':
 *   T:W:D:I:N=backend    e.g. "c:0.1:0.05:0.02:1000000=lockfree"
 * T is the thread class (1, c: up to one per core, o: more), W, D and I
 * the shares of writes, deletes and inserts, in [0, 1], N the entries;
 * numbers as strtod reads them in the "C" locale, no spaces.  Rows of
 * another thread class count only when there is none of the profile's;
 * of two rows as near, the first wins.  Rows that name a backend this
 * build lacks are skipped.  The built-in calibration
 * was measured by `cmap-bench --preset advise --advise` on the 2-core
 * development machine; on another machine run the same command: it prints
 * the calibration its run measured, to pass as `calibration` (check it on
 * a second run first, as the command says).
 *
 * The advice also reports findings that do not change the pick: the
 * article's alarm when more than 65% of cmap_load_or_store calls insert
 * (a cache that misses, or a store written as a load_or_store), lock
 * waits, resizes that a capacity hint would avoid, update callbacks run
 * again, too few calls to judge, a pick that lacks a capability of the
 * map's backend, and a map on disk or on a server (the pick is then the
 * in-memory backend for the same calls, if persistence or sharing is not
 * what the map is for).  The pick is a backend name of this build.
 * ------------------------------------------------------------------- */

/* The workload a map has seen: counts (of keys; a batch counts its keys)
 * since the map was created, or between two profiles.  Grows only at its
 * end (VERSIONS AND THE ABI). */
typedef struct cmap_profile {
	const char *backend;       /* the map's backend (static) */
	uint64_t caps;             /* its CMAP_CAP_* */
	uint32_t threads;          /* most threads that held a metrics
	                              record of the map at once (a thread
	                              holds one from its first call on the
	                              map until it exits) */
	uint32_t cores;            /* processors online when profiled */
	uint64_t entries;          /* cmap_len() when profiled */
	uint64_t calls;            /* keys of every kind of call */
	uint64_t reads;            /* loads, and load_or_store that found */
	uint64_t deletes;          /* delete, load_and_delete,
	                              compare_and_delete, delete_batch */
	uint64_t inserts;          /* calls that returned CMAP_INSERTED */
	uint64_t load_or_store;    /* load_or_store calls */
	uint64_t load_or_store_in; /* of which inserted */
	uint64_t ranges;           /* range calls */
	uint64_t mismatches;       /* compare_and_* that did not match */
	uint64_t retries;          /* update callbacks run again */
	uint64_t lock_contended;   /* lock acquisitions that waited */
	uint64_t lock_wait_ns;     /* time they waited */
	uint64_t resizes;          /* resizes started */
	uint64_t samples;          /* calls timed */
	uint64_t sample_ns;        /* their total time */
} cmap_profile_t;

/*
 * cmap_profile - fill *out from the metrics of map.
 *   Returns CMAP_OK; CMAP_EINVAL when map or out is NULL, size is 0, or
 *   the map was created without metrics (cmap_last_error() says so);
 *   CMAP_ERECURSE inside an update callback.
 * Thread safety and cost: as cmap_metrics, plus one cmap_metrics_op per
 *   kind of call.
 *
 * cmap_profile_since - make *now the difference now - then of two
 * profiles of the same map (then taken first): the counts between them;
 * backend, caps, cores and entries are now's, threads the larger.
 *   Returns CMAP_OK; CMAP_EINVAL when a pointer is NULL, the backends
 *   differ or a count of then exceeds now's (now unchanged).
 * Thread safety: any thread.  Cost: O(1).
 */
CMAP_API cmap_status_t cmap_profile_sized(
    cmap_t *map, cmap_profile_t *out, size_t size);
CMAP_API cmap_status_t cmap_profile_since(
    cmap_profile_t *now, const cmap_profile_t *then);

static inline cmap_status_t
cmap_profile(cmap_t *map, cmap_profile_t *out)
{
	return cmap_profile_sized(map, out, sizeof *out);
}

/* Findings of an advice (bits of cmap_advice_t.findings). */
#define CMAP_FINDING_ONE_THREAD (UINT32_C(1) << 0) /* plain would do */
#define CMAP_FINDING_LOAD_OR_STORE_MISSES (UINT32_C(1) << 1) /* > 65% */
#define CMAP_FINDING_LOCK_WAITS (UINT32_C(1) << 2) /* >= 1% of calls */
#define CMAP_FINDING_RESIZES (UINT32_C(1) << 3)    /* set a capacity */
#define CMAP_FINDING_RETRIES (UINT32_C(1) << 4)    /* update callbacks */
#define CMAP_FINDING_FEW_CALLS (UINT32_C(1) << 5)  /* < 10000 calls */
#define CMAP_FINDING_LOSES_CAPS (UINT32_C(1) << 6) /* see lost_caps */
#define CMAP_FINDING_STORAGE (UINT32_C(1) << 7)    /* disk or server */

/* An advice.  Grows only at its end (VERSIONS AND THE ABI). */
typedef struct cmap_advice {
	const char *backend;       /* the pick (static) */
	uint32_t findings;         /* CMAP_FINDING_* */
	uint64_t lost_caps;        /* CMAP_CAP_* of the profile's backend
	                              that the pick lacks (thread safety,
	                              persistence and remoteness aside) */
	double write_share;        /* (calls - reads) / calls; 0 without
	                              calls */
	double delete_share;       /* deletes / calls */
	double insert_share;       /* inserts / calls */
	double load_or_store_miss; /* load_or_store_in / load_or_store; -1
	                              without load_or_store calls */
	double distance;           /* to the nearest calibration row: 0 when
	                              the profile is a measured workload */
	char text[512];            /* the advice and its findings in one
	                              line, NUL-terminated */
	char thread_class;         /* the profile's thread class, as in a
	                              calibration row: '1', 'c' or 'o' */
} cmap_advice_t;

/*
 * cmap_advise - the advice for the workload of *profile, from the built-in
 * calibration when calibration is NULL or "", else from the given one.
 *   Returns CMAP_OK; CMAP_EINVAL when profile or out is NULL, size is 0,
 *   a row of the calibration is malformed, or none names a backend of
 *   this build (cmap_last_error() says which; *out unchanged).
 * Thread safety: any thread.  Cost: O(length of the calibration), one pass;
 *   no allocation.
 */
CMAP_API cmap_status_t cmap_advise_sized(const cmap_profile_t *profile,
    const char *calibration, cmap_advice_t *out, size_t size);

static inline cmap_status_t
cmap_advise(
    const cmap_profile_t *profile, const char *calibration, cmap_advice_t *out)
{
	return cmap_advise_sized(profile, calibration, out, sizeof *out);
}

#ifdef __cplusplus
}
#endif

#endif /* CMAP_H */
