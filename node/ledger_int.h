/* ledger_int.h — internals shared by the ledger's files (ledger.c: open, caches, LMDB helpers and
 * reads; ledger_apply.c: blocks and batches; ledger_records.c: record ops; ledger_merkle.c: the
 * Merkle store over l_merkle; ledger_governance.c: members, proposals, checkpoints). Not public. */
#ifndef TREATY_NODE_LEDGER_INT_H
#define TREATY_NODE_LEDGER_INT_H

#include "common/bytes.h"
#include "node/ledger.h"
#include "node/ledger.pb-c.h"
#include "node/merkle.h"

#include <stdarg.h>

#define LEDGER_REASON_MAX 256

/* Context of the Merkle store: the txn its get/put use (the write txn during apply). */
struct ledger__mctx {
    MDB_txn *txn;
    MDB_dbi dbi;
};

struct ledger {
    MDB_env *env;
    MDB_dbi meta, blocks, records, history, index, txs, leaves, idem, orgseq, members, proposals,
        ckpt, cosign, merkle;
    uint8_t network_id[32];
    const struct schema_network *schema;
    uint32_t ckpt_blocks, ckpt_ms;
    /* caches, valid while the write txn that made them commits (else ledger_reload) */
    struct ledger_head head;
    uint64_t ckpt_height, ckpt_ts; /* last checkpoint (height 0: none, ts = reference) */
    struct ledger__mctx wctx;
    struct merkle_tree *tree;
    /* outcomes of the last apply */
    struct ledger_tx_outcome *out;
    size_t n_out, cap_out;
    char errmsg[256];
};

/* What one block's apply carries around. */
struct ledger__apply {
    struct ledger *l;
    MDB_txn *txn;
    uint64_t height;
    uint64_t ts;
    const char *org; /* signing org of the batch, NULL if none */
    uint64_t seq;
    int members_changed;
};

/* LMDB helpers: TR_OK, TR_ENOTFOUND (get), or a fatal code with l->errmsg set. */
int ledger__err(struct ledger *l, int mdb_rc, const char *what);
int ledger__get(struct ledger *l, MDB_txn *txn, MDB_dbi dbi, const void *k, size_t klen,
                MDB_val *v);
int ledger__put(struct ledger *l, MDB_txn *txn, MDB_dbi dbi, const void *k, size_t klen,
                const void *v, size_t vlen);
int ledger__del(struct ledger *l, MDB_txn *txn, MDB_dbi dbi, const void *k, size_t klen);
void ledger__be64(uint8_t out[8], uint64_t v);
uint64_t ledger__rd64(const uint8_t in[8]);
json_t *ledger__hex_json(const uint8_t *b, size_t n);
/* snprintf into a reason buffer (LEDGER_REASON_MAX). */
void ledger__reason(char *reason, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The block header at `height` (unpacked, caller frees), TR_ENOTFOUND. */
int ledger__header_get(struct ledger *l, MDB_txn *txn, uint64_t height,
                       Treaty__Ledger__BlockHeader **out);
void ledger__block_hash(const uint8_t *hdr, size_t len, uint8_t out[32]);
int ledger__load_caches(struct ledger *l, MDB_txn *txn);

/* ledger_merkle.c */
struct merkle_store ledger__merkle_store(struct ledger__mctx *ctx);
/* A tree over `txn` with the size of the head stored in it; caller destroys. */
int ledger__merkle_tree_at(struct ledger *l, MDB_txn *txn, struct ledger__mctx *ctx,
                           struct merkle_tree **tree, uint64_t *size);

/* The value part of an l_index key: the compact JSON of `val` (keys sorted), or when that is longer
 * than LEDGER_INDEX_VALUE_MAX bytes "#" and the hex of its SHA-256 (keeps every l_index key under
 * LMDB's 511 bytes). TR_OK or TR_ENOMEM. */
#define LEDGER_INDEX_VALUE_MAX 100
int ledger__index_value(const json_t *val, char out[LEDGER_INDEX_VALUE_MAX + 1]);

/* ledger_records.c: applies the ops of `tx` inside `txn` (a nested txn). Returns TR_OK (reason
 * empty: applied; reason set: rejected) or a fatal error. */
int ledger__records_apply(struct ledger__apply *a, MDB_txn *txn, const Treaty__Ledger__Tx *tx,
                          char *reason);

/* ledger_governance.c */
int ledger__member_get(struct ledger *l, MDB_txn *txn, const char *org, Treaty__Ledger__Member **m);
int ledger__member_put(struct ledger *l, MDB_txn *txn, const Treaty__Ledger__Member *m);
/* The key of `m` in force at `height`. */
const uint8_t *ledger__member_key_at(const Treaty__Ledger__Member *m, uint64_t height);
int ledger__founders_write(struct ledger *l, MDB_txn *txn, const struct ledger_config *cfg);
int ledger__governance_apply(struct ledger__apply *a, MDB_txn *txn, const Treaty__Ledger__Tx *tx,
                             char *reason, int *members_changed);
int ledger__cosign_apply(struct ledger__apply *a, MDB_txn *txn, const Treaty__Ledger__Tx *tx,
                         char *reason);
/* Records the checkpoint of the block just written if due; sets *due. */
int ledger__checkpoint_maybe(struct ledger *l, MDB_txn *txn, const Treaty__Ledger__BlockHeader *h,
                             const uint8_t hash[32], int *due);

#endif
