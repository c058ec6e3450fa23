/* ledger.h — the ledger state machine: applies committed raft entries as blocks (records, tx
 * results, RFC 9162 Merkle tree, checkpoints, governance) inside the store's write transaction, and
 * answers reads in read transactions. Invariant: ledger_apply is a deterministic function of the
 * stored state and the entry (no clock, no randomness), so every node computes the same blocks.
 * Called by node/driver.c; formats in node/ledger.proto; DBIs named "l_*" in the given env. */
#ifndef TREATY_NODE_LEDGER_H
#define TREATY_NODE_LEDGER_H

#include "consensus/raft.h"
#include "node/batch.h"
#include "schema/schema.h"

#include <jansson.h>
#include <lmdb.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ledger;

struct ledger_member {
    char org[64];
    uint8_t public_key[32];
    uint64_t node_id;
    char peer[280]; /* "host:port" */
};

struct ledger_config {
    const uint8_t *network_id;           /* 32 bytes, borrowed */
    const struct schema_network *schema; /* borrowed, outlives the ledger */
    const struct ledger_member *founders;
    size_t n_founders;                         /* genesis members, copied */
    uint32_t checkpoint_blocks, checkpoint_ms; /* 0 = never by that rule */
    enum batch_sig batch_sig;                  /* the network's rule (genesis_batch_sig) */
};

/* Opens the l_* DBIs inside `txn` (a write txn on env, which must not use MDB_WRITEMAP: each tx
 * runs in a nested txn) and loads caches (head, Merkle size, members). First open on an empty
 * store writes the genesis members. The DBI handles are valid once `txn` commits; if it aborts,
 * destroy the ledger. Returns TR_OK and *out (owned by the caller, ledger_destroy); TR_EINVAL (bad
 * config, with err), TR_ECORRUPT (stored data does not decode), TR_EIO (LMDB), TR_ENOMEM. */
int ledger_open(MDB_env *env, MDB_txn *txn, const struct ledger_config *cfg, struct ledger **out,
                char *err, size_t errlen);
/* Frees the ledger (not the env). Accepts NULL. */
void ledger_destroy(struct ledger *l);
/* From now on, outcomes of `org`'s one-op record txs carry the record as stored (struct
 * ledger_tx_outcome, text), so that its node answers its clients without reading it back. NULL
 * stops it. The org's name is copied. */
void ledger_keep_texts(struct ledger *l, const char *org);

/* The schema in force: version 1 is the config's (genesis) schema, each schema change approved by
 * governance adds one; *version (optional) gets its number. Every version returned stays valid
 * until ledger_destroy. */
const struct schema_network *ledger_schema(const struct ledger *l, uint64_t *version);

struct ledger_tx_outcome {
    char tx_id[33];
    char org[64];
    uint64_t height;
    uint32_t index;
    int committed;
    char reason[256];
    /* The record a committed one-op create, replace or patch of the texts org wrote, exactly as
     * stored (text_len bytes and a NUL; malloc'd): ledger_keep_texts. The receiver of the outcome
     * owns it (free); NULL otherwise. */
    char *text;
    size_t text_len;
};

struct ledger_block_outcome {
    uint64_t height;
    struct ledger_tx_outcome *txs; /* owned by the ledger until the next ledger_apply */
    size_t n_txs;
    int checkpoint_due;  /* a Checkpoint for this height was recorded: cosign it */
    int members_changed; /* membership changed in this block: reread ledger_members */
};

/* Applies committed raft entry `e` (NORMAL: an encoded Entry; NOOP/CONFIG: a block without
 * leaves) as block height e->index inside write txn `txn`, which e->index must extend by one
 * (head height + 1; TR_EINVAL otherwise, a caller bug). Deterministic. Returns TR_OK (rejections
 * are recorded as tx results, never errors) or a fatal storage error (TR_EIO, TR_ELIMIT when the
 * map is full, TR_ENOMEM, TR_ECORRUPT): then abort `txn` and call ledger_reload. The results of
 * this block's txs are in *out (see struct). */
int ledger_apply(struct ledger *l, MDB_txn *txn, const struct raft_entry *e,
                 struct ledger_block_outcome *out);
/* After the write txn was aborted: drop caches and reload them from `rtxn`. TR_OK or as open. */
int ledger_reload(struct ledger *l, MDB_txn *rtxn);
/* The message of the last fatal error ("apply block 12: l_records: MDB_MAP_FULL ..."). */
const char *ledger_errmsg(const struct ledger *l);

struct ledger_head {
    uint64_t height;
    uint64_t term;
    uint64_t timestamp_us;
    uint8_t block_hash[32];
    uint8_t root[32];
    uint64_t tree_size;
};

/* The last block as seen by `rtxn` (any txn on the env). All zero (and root = SHA-256 of nothing)
 * before the first block. TR_OK or TR_EIO/TR_ECORRUPT. */
int ledger_head(struct ledger *l, MDB_txn *rtxn, struct ledger_head *h);
/* Record JSON including metadata _key,_version,_owner,_tx,_height,_updated_at. version 0 =
 * current. TR_ENOTFOUND if absent or deleted (or that version does not exist, or is a deletion).
 * *json owned by caller (free()). */
int ledger_record_get(struct ledger *l, MDB_txn *rtxn, const char *type, const char *key,
                      uint64_t version, char **json);
/* Bounds of the page reads below. */
#define LEDGER_PAGE_DEFAULT 100
#define LEDGER_PAGE_MAX     1000

/* The versions of record type/key after `after_version` (0: from the first), oldest first, at
 * most `limit` (1..LEDGER_PAGE_MAX): {"versions":[...], "next_after_version":V} where each
 * version is the stored record JSON with its metadata, a deletion being {"_key","_version",
 * "_owner","_tx","_height","_updated_at","_deleted":true}; next_after_version (the last version
 * returned) only when more remain. Reads l_history with a cursor in `rtxn`. Returns TR_OK and *out
 * (a new reference), TR_ENOTFOUND if the record never existed, TR_EINVAL (bad limit), TR_EIO,
 * TR_ECORRUPT, TR_ENOMEM. */
int ledger_record_history(struct ledger *l, MDB_txn *rtxn, const char *type, const char *key,
                          uint64_t after_version, uint32_t limit, json_t **out);
/* What a list of current records asks for; every pointer borrowed for the call. */
struct ledger_list_query {
    const char *field;     /* an indexed field of the type; NULL: every record, ordered by key */
    const json_t *eq;      /* with field: only records whose field equals this value */
    const json_t *lo, *hi; /* with field (not with eq): bounds of the field's value; nullable */
    bool lo_incl, hi_incl; /* >= / <= rather than > / < */
    bool desc;             /* with field: descending order */
    const char *cursor;    /* NULL or "": the first page; else a next_cursor of the same query */
    uint32_t limit;        /* 1..LEDGER_PAGE_MAX */
};

/* Current (not deleted) records of `type`, at most q->limit. Without a field: every record, by
 * key (l_records). With a field (read from l_index, whose value encoding orders as values do, see
 * ledger_int.h): with eq, the records whose field equals it, by key; otherwise the records that
 * have the field, ordered by its value and then by key, within the bounds lo/hi when given (a
 * bound limits the result to values of its own kind: lo and hi must be of one kind). desc reverses
 * the order. Positioned with MDB_SET_RANGE, so a page costs its own entries. {"items":[...],
 * "next_cursor":C}: next_cursor (hex of the index position of the last record returned) only when
 * more may remain; passing it back resumes strictly after that position, so records written
 * between pages neither shift nor repeat the others. Returns TR_OK and *out (a new reference),
 * TR_ENOTFOUND (unknown type), TR_EINVAL (bad limit, a cursor that does not decode, a field that is
 * not an index of the type, bounds with eq or without a field or of two kinds, desc without a
 * field), TR_EIO, TR_ECORRUPT, TR_ENOMEM. */
int ledger_record_list(struct ledger *l, MDB_txn *rtxn, const char *type,
                       const struct ledger_list_query *q, json_t **out);
/* The committed record changes of block e->index, whose raft entry is `e` (as the store holds
 * it; data borrowed for the call), in ledger order: a JSON array whose element i is {"type","key",
 * "op":"create|replace|patch|delete","version","owner","org" (signing org),"tx","height","index":i,
 * "record": the stored history version with its metadata, or null for a delete}. Txs that were
 * rejected and governance or cosign txs add nothing; a block without changes gives []. Reads the
 * block's leaves and O(log versions) history entries per record it wrote. TR_OK and *out (a new
 * reference); TR_ENOTFOUND if the block is not applied in `rtxn`; TR_ECORRUPT, TR_EIO, TR_ENOMEM.
 */
int ledger_block_changes(struct ledger *l, MDB_txn *rtxn, const struct raft_entry *e, json_t **out);
/* {"tx":id,"status":"committed|rejected","reason":...,"height":H,"index":i,"leaf_index":n,
 * "org":...,"seq":s}; reason only when rejected. For a tx id seen more than once, the first.
 * *out is a new reference. TR_ENOTFOUND. */
int ledger_tx_get(struct ledger *l, MDB_txn *rtxn, const char *tx_id, json_t **out);
/* {"height","term","timestamp_us","prev_hash","batch_hash","root","tree_size","hash"} (hashes
 * lowercase hex). TR_ENOTFOUND. */
int ledger_block_get(struct ledger *l, MDB_txn *rtxn, uint64_t height, json_t **out);
/* Last applied batch sequence of org (0 if none). */
int ledger_org_seq(struct ledger *l, MDB_txn *rtxn, const char *org, uint64_t *seq);
/* The tx id that first used idempotency key `key` of `org`, in id[33]. TR_ENOTFOUND. */
int ledger_idempotency_get(struct ledger *l, MDB_txn *rtxn, const char *org, const char *key,
                           char id[33]);
/* Current (not removed) members, sorted by org name; *out tr_malloc'd (tr_free), may be NULL when
 * *n is 0. A rotated key shows once it is in force at the head. */
int ledger_members(struct ledger *l, MDB_txn *rtxn, struct ledger_member **out, size_t *n);
/* Of the last `max` recorded checkpoints, the heights (ascending, at most `max`, in heights[])
 * that `org` has not cosigned yet. */
int ledger_cosigns_owed(struct ledger *l, MDB_txn *rtxn, const char *org, size_t max,
                        uint64_t *heights, size_t *n);
/* {"height","tree_size","root","block_hash","network_id","timestamp_us",
 *  "cosigners":[{"org","signature"}]} of the latest checkpoint. TR_ENOTFOUND if none. */
int ledger_checkpoint_latest(struct ledger *l, MDB_txn *rtxn, json_t **out);

/* Audit export (docs/audit.proto, ledger_export.c). Each call writes one framed ExportRecord
 * (varint length || record) to *out (tr_malloc'd, caller frees) and its size to *len.
 * block: the record of block `height` made of raft entry `e` (the log's entry at that height):
 * its stored header bytes, the entry, and its stored leaves. TR_ENOTFOUND if not applied.
 * checkpoint_next: the record of the first checkpoint at a height in [*height, to], with the
 * cosignatures stored for it (ordered by org); sets *height to that checkpoint's height;
 * TR_ENOTFOUND when there is none. */
int ledger_export_block(struct ledger *l, MDB_txn *rtxn, uint64_t height,
                        const struct raft_entry *e, uint8_t **out, size_t *len);
int ledger_export_checkpoint_next(struct ledger *l, MDB_txn *rtxn, uint64_t *height, uint64_t to,
                                  uint8_t **out, size_t *len);
/* The header record (network id, genesis bytes, range) and the end record (counts). */
int ledger_export_header(const uint8_t network_id[32], const uint8_t *genesis, size_t genesis_len,
                         uint64_t from, uint64_t to, uint8_t **out, size_t *len);
int ledger_export_end(uint64_t blocks, uint64_t checkpoints, uint8_t **out, size_t *len);
/* The stored header bytes of block `height`, borrowed from rtxn. TR_ENOTFOUND if none. */
int ledger_block_header_bytes(struct ledger *l, MDB_txn *rtxn, uint64_t height, const uint8_t **hdr,
                              size_t *len);
/* SHA-256("treaty/block/v1\0" || hdr): a block's hash. */
void ledger_block_hash(const uint8_t *hdr, size_t len, uint8_t out[32]);
/* The RFC 9162 root and size of the Merkle tree as stored now (l_mtree at the head's size). */
int ledger_merkle_root_now(struct ledger *l, MDB_txn *rtxn, uint8_t root[32], uint64_t *size);
/* Builds the Checkpoint of block `height` (which must be a recorded checkpoint height: TR_ENOTFOUND
 * otherwise) and signs it with `sk`: *checkpoint (tr_malloc'd encoded Checkpoint, caller frees)
 * and sig. Feed both to batch_build_cosign_entry. */
int ledger_checkpoint_sign(struct ledger *l, MDB_txn *txn, uint64_t height, const uint8_t sk[64],
                           uint8_t **checkpoint, size_t *checkpoint_len, uint8_t sig[64]);
/* RFC 9162 inclusion proof of leaf `leaf_index` in the tree of `tree_size` leaves (0 = current):
 * {"leaf_index","tree_size","leaf":hex of the encoded TxLeaf,"leaf_hash","root","proof":[hex]}.
 * TR_EINVAL unless leaf_index < tree_size <= current size. */
int ledger_inclusion_proof(struct ledger *l, MDB_txn *rtxn, uint64_t leaf_index, uint64_t tree_size,
                           json_t **out);
/* RFC 9162 consistency proof between sizes size1 and size2 (0 = current):
 * {"size1","size2","root1","root2","proof":[hex]}. TR_EINVAL unless 0 < size1 <= size2 <= current.
 */
int ledger_consistency_proof(struct ledger *l, MDB_txn *rtxn, uint64_t size1, uint64_t size2,
                             json_t **out);

#endif
