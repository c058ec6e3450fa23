/* logfile.h — the Raft log as one append-only file: entries, truncations and the hard state as
 * checksummed records, made durable by one fdatasync (no meta page to write after the data, as
 * an LMDB commit has). Invariant: the records in the file, read from the start and stopped at the
 * first incomplete or corrupt one, are exactly the log and hard state that were appended, in
 * order. One writer thread appends and syncs; other threads may read entries and terms at once.
 *
 * Format (little-endian): a 48-byte header ("TRTYLOG1", u32 version 1, u32 0, the network id),
 * then records: u32 payload length, u32 CRC-32C of the kind byte and payload, u8 kind, payload.
 *   kind 1, an entry:    u64 index, u64 term, u8 entry type, data
 *   kind 2, hard state:  u64 term, u64 vote, u64 commit
 *   kind 3, truncation:  u64 last index kept (later entries are no longer part of the log)
 * A record is never rewritten: a conflicting append writes a truncation record, then the new
 * entries. */
#ifndef TREATY_NODE_LOGFILE_H
#define TREATY_NODE_LOGFILE_H

#include "consensus/raft.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct logfile;

/* The default record limit: above the largest entry any frame limit lets a node replicate
 * (limits.frame_max_bytes is at most 256 MiB). A longer record reads as a torn tail. */
#define LOGFILE_RECORD_MAX_DEFAULT ((256ull << 20) + (64u << 10))

struct logfile_options {
    uint64_t record_max_bytes; /* largest record payload accepted and read back [the default] */
    bool read_only; /* opened for reading only: a missing file is an error (TR_ENOTFOUND), a
                     * torn tail is left in place (and not read), every write fails */
};

/* What logfile_open found. */
struct logfile_open_info {
    bool created;           /* the file did not exist and was created */
    uint64_t indexed_bytes; /* the file's prefix taken from the index file (0: none) */
    uint64_t records;       /* complete records read (after that prefix) */
    uint64_t torn_bytes;    /* bytes cut from the end: an incomplete or corrupt last write */
    uint64_t damaged;       /* entries whose checksum fails but which a good record follows: kept
                               in place, reading them gives TR_ECORRUPT */
};

/* Opens the log file at `path`, creating it (and syncing its directory) when missing. An
 * existing file's records are read to rebuild the index; from the first record that is
 * incomplete or whose checksum fails, the file is cut (a write the crash tore; nothing after it
 * was acknowledged, since every append is synced before anything depends on it), except an entry
 * record that a good record follows: damaged in place, it is kept (info->damaged). `o` may be NULL
 * (defaults); `info` may be NULL. *out is set only on success. TR_OK; TR_EINVAL (bad options);
 * TR_EIO (a system call failed); TR_ECORRUPT (not a log file, another network's, or records that
 * are complete and checksummed but out of order); TR_ENOMEM. err gets a sentence on failure. */
int logfile_open(const char *path, const struct logfile_options *o, const uint8_t network_id[32],
                 struct logfile **out, struct logfile_open_info *info, char *err, size_t errlen);
/* Writer thread. Syncs the file, then writes "<path>.idx" (through a temporary file and a
 * rename): the index of the whole file as it stands, so that the next logfile_open reads only the
 * records after it instead of every record (the entries it covers are checked when read, by
 * logfile_entry). An open takes the index only when it still describes the file (its own
 * checksum, the network, the file's inode, the checksum of the prefix's last 4 KiB, the last
 * entry's record); else it reads the whole file, as after a rollback that cut the file below
 * the saved prefix. TR_OK; TR_EINVAL (a failed file: nothing written); TR_EIO; TR_ENOMEM. */
int logfile_index_save(struct logfile *lf);
/* Closes the file (without a sync: call logfile_sync first for durability). NULL is ignored. */
void logfile_close(struct logfile *lf);

/* Writer thread. Appends n entries (borrowed for the call), contiguous, with non-decreasing
 * terms, the first at most one past the last index; when it is at or before the last index, a
 * truncation record drops the entries from there on first (Raft §3.5: a conflicting suffix).
 * The first entry's term must be at least the term of the entry it follows. Written, not yet
 * durable: see logfile_sync. TR_OK; TR_EINVAL (nothing written); TR_ELIMIT (a record over
 * record_max_bytes; nothing written); TR_EIO (sticky: every later write fails). n 0: TR_OK. */
int logfile_append(struct logfile *lf, const struct raft_entry *e, size_t n);
/* Writer thread. Marks where the log stands, so that logfile_rollback can return to it: what is
 * appended after it (entries, truncations, hard states) can be undone. A new mark replaces the
 * last. TR_OK; TR_ENOMEM. */
int logfile_mark(struct logfile *lf);
/* Writer thread. Undoes everything appended since the mark (the file is cut back to it; entries
 * a truncation dropped are the log's again) and ends the mark; what was synced since is undone
 * too, durably only after the next logfile_sync. TR_OK; TR_EINVAL (no mark); TR_EIO (sticky). */
int logfile_rollback(struct logfile *lf);
/* Writer thread. Drops the entries after `keep` (a truncation record; keep at most the last
 * index, else TR_EINVAL and nothing written). TR_OK; TR_EIO (sticky). */
int logfile_truncate(struct logfile *lf, uint64_t keep);
/* Writer thread. Appends a hard-state record. TR_OK; TR_EIO (sticky). */
int logfile_hard_state_set(struct logfile *lf, const struct raft_hard_state *hs);
/* Writer thread. Makes everything appended so far durable (fdatasync). TR_OK; TR_EIO (sticky). */
int logfile_sync(struct logfile *lf);
/* Any thread. How many logfile_sync calls flushed since the open. */
uint64_t logfile_syncs(struct logfile *lf);

/* Any thread. The last entry's index (0 when empty) and term, as appended. */
uint64_t logfile_last_index(struct logfile *lf);
uint64_t logfile_last_term(struct logfile *lf);
/* Any thread. The last index known durable: the last index at the last logfile_sync, lowered by
 * a truncation since (entries past a truncation are not the log's until it is synced). */
uint64_t logfile_durable_index(struct logfile *lf);
/* Any thread. The hard state last appended (all zero when none was). */
void logfile_hard_state(struct logfile *lf, struct raft_hard_state *hs);
/* Any thread. *term = the term of entry `index` (index 0: term 0). TR_OK; TR_ENOTFOUND (index past
 * the last). */
int logfile_term(struct logfile *lf, uint64_t index, uint64_t *term);
/* Any thread. Reads entry `index` into *e; its data is copied into *buf (grown with tr_realloc as
 * needed, *cap its size; the caller frees it) and e->data points there. TR_OK; TR_ENOTFOUND;
 * TR_EIO; TR_ECORRUPT (the record no longer checks); TR_ENOMEM. */
int logfile_entry(struct logfile *lf, uint64_t index, struct raft_entry *e, uint8_t **buf,
                  size_t *cap);

/* Renames the log file `from` to `to` (one directory) and syncs that directory, so the name
 * survives a crash: how a log written aside (a store's first move to a log file) is put in place.
 * TR_OK; TR_EIO. */
int logfile_install(const char *from, const char *to);

/* CRC-32C (Castagnoli) of data, continuing from crc (0 to start). Exposed for tests. */
uint32_t logfile_crc32c(uint32_t crc, const void *data, size_t len);

#endif
