/* store_sync.h — the store's sync points (store.c, "Sync points"): LMDB commits between them are
 * not flushed, and synced.meta beside data.mdb holds the newest meta page LMDB had when the file
 * was last flushed whole. After a crash that may have left any subset of the later page writes
 * on disk, that meta page is written back over both of LMDB's (store_sync_restore): the state
 * it names was flushed and, pinned by a read transaction until the next sync point, never
 * overwritten, so LMDB opens at it and the driver redoes the rest from the Raft log.
 *
 * synced.meta: two 512-byte slots, each "TRSYNC01", u64 seq, u64 LMDB txn id, u32 flags
 * (bit 0: the node stopped cleanly at this point), u32 page size, the meta page's first 256 bytes,
 * u32 CRC-32C of all before it, zeros (little-endian). A write goes to slot seq % 2 and is
 * synced; a read takes the valid slot of the highest seq, so a torn write leaves the other. The
 * file is created whole (a temporary file, synced, renamed). Also LMDB's on-disk meta layout
 * (store_check.c reads it too): a 16-byte page header, then magic, version, address, map size,
 * the two DB records of 48 bytes, last page number and txn id. */
#ifndef TREATY_NODE_STORE_SYNC_H
#define TREATY_NODE_STORE_SYNC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define STORE_SYNC_FILE      "synced.meta"
#define STORE_SYNC_META_SAVE 256 /* bytes of a meta page kept: the header and MDB_meta fit */
#define STORE_SYNC_CLEAN     1u

#define STORE_META_MAGIC       0xBEEFC0DEu
#define STORE_META_OFF_MAGIC   16
#define STORE_META_OFF_PSIZE   40 /* md_pad of the free-page DB holds the page size */
#define STORE_META_OFF_LAST_PG 136
#define STORE_META_OFF_TXNID   144

struct store_sync_rec {
    uint64_t seq;
    uint64_t txnid;
    uint32_t flags;
    uint32_t psize;
    uint8_t meta[STORE_SYNC_META_SAVE];
};

/* Little-endian u64/u32 of n bytes at p (LMDB's meta fields on the machines treaty runs on). */
uint64_t store_meta_le(const uint8_t *p, int n);

/* Reads <dir>/synced.meta: TR_OK with *found false when there is none; TR_OK with *found and
 * *out; TR_ECORRUPT when it exists but neither slot is valid (err says so); TR_EIO. */
int store_sync_read(const char *dir, struct store_sync_rec *out, bool *found, char *err,
                    size_t errlen);
/* Writes `r` to <dir>/synced.meta and syncs it: into slot r->seq % 2 of the file open at *fd
 * (opened, or created whole, when *fd < 0). TR_OK; TR_EIO (err says which call failed). */
int store_sync_write(const char *dir, int *fd, const struct store_sync_rec *r, char *err,
                     size_t errlen);
/* The first STORE_SYNC_META_SAVE bytes of the meta page of txn `txnid` in data.mdb open at fd
 * (page size psize), read through the page cache. TR_OK; TR_ENOTFOUND (neither meta page is
 * that txn's: another writer committed); TR_EIO. */
int store_sync_meta_page(int fd, uint32_t psize, uint64_t txnid, uint8_t out[STORE_SYNC_META_SAVE]);
/* Writes r's meta page over both meta pages of the LMDB file `data` (closed: before
 * mdb_env_open) and syncs it. *was gets the newest txn id the file had. TR_OK; TR_ECORRUPT (the
 * file is not LMDB's, has another page size, or is older than r: a sync point never recorded a
 * txn the file had not flushed); TR_EIO. */
int store_sync_restore(const char *data, const struct store_sync_rec *r, uint64_t *was, char *err,
                       size_t errlen);

#endif
