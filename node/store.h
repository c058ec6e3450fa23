/* store.h — a node's durable state: the Raft log (never compacted) and hard state in the log file
 * raft.log (node/logfile.h), and one LMDB environment holding the applied index with the
 * configuration last applied and (in DBIs named "l_*" that the ledger opens) the ledger tables.
 * Invariant: whatever store_write_commit made durable is exactly what store_raft_state and
 * store_raft_log return after a crash and reopen; LMDB may come back behind (to its last sync
 * point, store_options.sync_interval_ms, or one commit when every commit is flushed), which the
 * driver redoes from the log. A store from before the log file
 * (the log in LMDB) has it moved to the file at its first open.
 * Called by the node driver (one write transaction per Raft Ready) and by readers (API, ledger).
 * Threads: one thread at a time per store, except the split described at store_write_prepare
 * (the driver's loop thread reads while its writer thread runs a write transaction). */
#ifndef TREATY_NODE_STORE_H
#define TREATY_NODE_STORE_H

#include "consensus/raft.h"

#include <lmdb.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The store's DBIs ("meta", "log", "raft") count toward this; the ledger has the rest. */
#define STORE_MAX_DBS 32
/* Map sizes used when store_open gets NULL options (node.json defaults). */
#define STORE_MAP_SIZE_DEFAULT_BYTES (UINT64_C(256) << 20)
#define STORE_MAP_MAX_DEFAULT_BYTES  (UINT64_C(65536) << 20)
/* The map grows when less than max(this, 25 % of the map) is free. */
#define STORE_GROW_FLOOR_BYTES (UINT64_C(64) << 20)

struct store;

struct store_options {
    uint64_t map_size_bytes; /* initial map size (LMDB rounds it to pages), > 0 */
    uint64_t map_max_bytes;  /* the map never grows past this, >= map_size_bytes */
    /* Reads an existing store and writes nothing to it (the audit's `verify --store`): LMDB
     * read-only, the log file read as it is (a torn tail left in place), no directory, table or
     * network id created; a store that keeps its log in LMDB (from before the log file, moved
     * at a node's next start) has it read from there. Every write then fails (TR_EDENIED). */
    bool read_only;
    /* Sync points (store.c): LMDB commits are not flushed, but every this many ms one is
     * followed by a flush of the whole file that synced.meta records; a crash undoes at most the
     * applies since, which the driver redoes from the log. 0: every commit flushes its data
     * pages. At most STORE_SYNC_INTERVAL_MAX_MS. Ignored when read_only. */
    uint32_t sync_interval_ms;
};
#define STORE_SYNC_INTERVAL_MAX_MS 60000u

/* Opens or creates the environment in directory `path` (created 0700 if missing; files 0600),
 * with MDB_NOTLS (a read and a write transaction may be live at once in this thread); commits are
 * flushed as o->sync_interval_ms says. A store whose last run did not stop cleanly is first
 * returned to its last sync point (store_sync.h). `o` NULL takes the defaults above. The first open
 * records `network_id`; a later open compares it. Returns TR_OK and *out (owned by the caller until
 * store_close); TR_EINVAL (bad options); TR_EDENIED on a network mismatch, err = "store in PATH
 * belongs to network <hex8>…, the genesis is network <hex8>…"; TR_ECORRUPT (meta/log records of the
 * wrong size, or a data.mdb shorter than its meta page says: store_check_file); TR_EIO (directory
 * or LMDB failure, err names it); TR_ENOMEM. `err` (errlen bytes, may be NULL) gets one sentence on
 * failure. *out is set only on TR_OK. */
int store_open(const char *path, const struct store_options *o, const uint8_t network_id[32],
               struct store **out, char *err, size_t errlen);
/* Checks that the LMDB file at `path` (data.mdb), if it exists, is as long as its newest meta
 * page says, so that mapping it cannot fault (store_check.c). TR_OK; TR_ECORRUPT with "store
 * damaged: …" in err; TR_EIO. store_open calls it first. */
int store_check_file(const char *path, char *err, size_t errlen);
/* Aborts an open write transaction, closes the environment and frees the store. Every read
 * transaction from store_read_begin must have ended. NULL is fine. */
void store_close(struct store *s);
/* Whether the store was opened with store_options.read_only. */
bool store_read_only(const struct store *s);
/* The environment, borrowed until store_close (the ledger opens its "l_*" DBIs on it). */
MDB_env *store_env(struct store *s);

/* What raft_create needs, as last committed: hard state, applied index, configuration of the
 * last applied config entry and its index. All zero for a new store (conf->n_voters 0 = none).
 * Any pointer may be NULL. TR_OK, TR_ECORRUPT, TR_EIO. */
int store_raft_state(struct store *s, struct raft_hard_state *hs, uint64_t *applied,
                     struct raft_conf *conf, uint64_t *conf_index);
/* The Raft log as the core reads it (ctx = s, borrowed: the store must outlive the core). Reads
 * committed entries only. entry() copies data into a store-owned buffer valid until the next
 * callback. term(0) is 0; indexes past last_index give TR_ENOTFOUND. */
struct raft_log_ops store_raft_log(struct store *s);

/* One write transaction per Ready (group commit):
 *   store_write_begin -> [store_write_entries] [store_write_hard_state]
 *     -> caller applies committed entries in store_write_txn(s) -> [store_write_applied]
 *     -> store_write_commit (the log file's fdatasync, then LMDB's commit, not flushed alone)
 *      | store_write_abort (the log file goes back to where it stood at the begin).
 * Errors. A write call that fails inside the transaction (LMDB put/delete) makes the transaction
 * failed: every later write call returns the same code until store_write_abort. An I/O error at
 * commit makes the whole store failed: every later write call returns TR_EIO (the node must stop;
 * an fsync is never retried). MDB_MAP_FULL gives TR_ELIMIT ("store is full: map_max_mb=N reached;
 * raise store.map_max_mb" once the map is at its maximum). Refused calls with TR_EINVAL (no open
 * transaction, bad arguments) change nothing. store_errmsg says what happened. */

/* Opens the write transaction, first growing the map (doubling, up to map_max_bytes) when less
 * than max(64 MiB, 25 %) of it is free and no read transaction is live. TR_OK; TR_EBUSY (one is
 * already open); TR_EIO (failed store, LMDB or map growth failure); TR_ENOMEM. */
int store_write_begin(struct store *s);
/* Drops every entry with index >= e[0].index (Raft conflict truncation, §3.5), then writes the
 * n entries (borrowed for the call) to the log file. They must have contiguous indexes starting at
 * most one past the last entry (of the log as this transaction sees it), index >= 1, a known type
 * and non-decreasing terms; else TR_EINVAL and nothing changes. n 0 does nothing. */
int store_write_entries(struct store *s, const struct raft_entry *e, size_t n);
int store_write_hard_state(struct store *s, const struct raft_hard_state *hs);
/* Threaded use (the node driver: the loop thread begins every read transaction, one writer
 * thread runs the write transactions). store_write_prepare runs on the loop thread while no write
 * transaction is open: it ends the log callbacks' read transaction and grows the map when needed
 * (needs no live read transaction; TR_OK, TR_EIO, TR_EBUSY); the writer thread then calls
 * store_write_begin_opts with STORE_WRITE_PREPARED, which neither grows the map nor touches the
 * loop thread's read state, and whose commit leaves the log callbacks (the log's end they
 * expose) as they were: the loop thread may use them during the write, and seeing the
 * entries persisted before it; it calls store_write_publish once the commit returned (after the
 * writer thread's completion) to see the new ones.
 * STORE_WRITE_LAZY: accepted for callers written before the log file; no LMDB commit is
 * flushed alone now: with sync points (MDB_NOSYNC) a crash returns LMDB to the last one, else
 * (MDB_NOMETASYNC: the data pages flushed, not the meta page) it may undo the last commit;
 * either way the log redoes it.
 * store_write_begin(s) is store_write_begin_opts(s, 0). */
#define STORE_WRITE_PREPARED 1u
#define STORE_WRITE_LAZY     2u
int store_write_prepare(struct store *s);
int store_write_begin_opts(struct store *s, unsigned flags);
/* Records the applied index, and when `conf` is not NULL the configuration of the config entry at
 * `conf_index` (conf_index <= applied; at most RAFT_MAX_MEMBERS voters and learners). */
int store_write_applied(struct store *s, uint64_t applied, const struct raft_conf *conf,
                        uint64_t conf_index);
/* The open write transaction (the ledger writes its DBIs in it), borrowed until commit/abort;
 * NULL when none is open. Do not commit or abort it directly. */
MDB_txn *store_write_txn(struct store *s);
/* Commits: the log file's writes made durable, then LMDB's commit. TR_OK; the transaction's
 * sticky error; TR_ELIMIT (map full: nothing was written, the log file is back where it stood at
 * the begin, the store stays usable); TR_EIO (fatal, sticky); TR_EINVAL (no open transaction). The
 * transaction is gone after a commit that reached LMDB. */
int store_write_commit(struct store *s);
/* The log half of a Ready on a thread of its own, beside the LMDB write transaction of the same
 * Ready on another (whose commit then carries no log writes): the n entries (borrowed for the
 * call; n may be 0; contiguous with the log, as for store_write_entries) and the hard state
 * (NULL: none) are written to the log file and made durable; with no entries, a hard state of
 * the term and vote last written (only its commit index new) is written without a flush, made
 * durable by the next one (a crash may lose it: raft.h). The loop thread sees the new entries
 * after store_write_publish. TR_OK; TR_EINVAL (nothing written); TR_ELIMIT (an entry over the
 * log file's record limit; nothing written); TR_EIO (fatal, sticky). */
int store_log_persist(struct store *s, const struct raft_entry *e, size_t n,
                      const struct raft_hard_state *hs);
/* Loop thread, after a STORE_WRITE_PREPARED commit returned: the log callbacks see its entries. */
void store_write_publish(struct store *s);
/* Bounds the memory the map holds resident. LMDB reads the store through a shared read-only
 * memory map, and every page a transaction touches stays mapped into the process (RssFile) until
 * the kernel needs the memory: with millions of records that is gigabytes of RSS. When the
 * process's resident shared pages (/proc/self/statm: mapped file pages, mostly this map) exceed
 * `max_bytes`, the pages of the map are unmapped with MADV_DONTNEED: they stay in the page cache
 * (nothing is lost; a later access maps them again with a minor fault) and no longer count in the
 * node's RSS. Safe while transactions read (the mapping is of the file, never written through).
 * Call from the thread that grows the map (store_write_prepare's). *trimmed (nullable) tells
 * whether it unmapped; *resident (nullable) gets the resident shared bytes it saw. max_bytes 0:
 * never. TR_OK, or TR_EIO when /proc/self/statm cannot be read. */
int store_resident_trim(struct store *s, uint64_t max_bytes, bool *trimmed, uint64_t *resident);
/* At a clean stop, with no write transaction open and nothing being written: saves the log
 * file's index beside it (logfile_index_save), so the next open does not read the whole log
 * back. TR_OK; TR_EINVAL (a failed store, or a write transaction open); TR_EIO; TR_ENOMEM. */
int store_log_index_save(struct store *s);
/* Drops the open write transaction (if any) and its sticky error. Log caches are restored. */
void store_write_abort(struct store *s);
/* The last error sentence ("" when none), owned by the store, valid until the next call. */
const char *store_errmsg(const struct store *s);

/* Read transactions for queries (API, ledger reads). Values read through *txn are borrowed until
 * store_read_end. While one is live the map does not grow. TR_OK, TR_EBUSY (reader table full),
 * TR_EIO. */
int store_read_begin(struct store *s, MDB_txn **txn);
void store_read_end(struct store *s, MDB_txn *txn);
/* The log entry at `index` (at most the last committed one; `txn` is not needed: an applied entry
 * never changes); e->data is in a buffer of the calling thread's, valid until its next call.
 * TR_OK, TR_ENOTFOUND, TR_ECORRUPT, TR_EIO, TR_ENOMEM. */
int store_log_entry(struct store *s, MDB_txn *txn, uint64_t index, struct raft_entry *e);
/* Index of the last committed log entry (0 when empty). */
uint64_t store_last_index(struct store *s);
/* Any thread. Flushes of the log file since the open (GET /metrics: treaty_log_syncs_total). */
uint64_t store_log_syncs(struct store *s);

/* Test hooks (unit tests only). The next store_write_commit aborts its transaction and fails as
 * if LMDB had returned the error `err` stands for: TR_EIO (an fsync/disk error) or TR_ELIMIT
 * (MDB_MAP_FULL). 0 disarms. */
void store_fail_next_commit_for_test(struct store *s, int err);
/* Replaces STORE_GROW_FLOOR_BYTES for this store, so growth can be tested with small maps. */
void store_grow_floor_set_for_test(struct store *s, uint64_t bytes);

#endif
