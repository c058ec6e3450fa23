/* ledger_int.h — internals shared by the ledger's files (ledger.c: open, caches, LMDB helpers and
 * reads; ledger_apply.c: blocks and batches; ledger_records.c: record ops; ledger_merkle.c: the
 * Merkle store over l_mtree; ledger_governance.c: members, proposals, checkpoints). Not public. */
#ifndef TREATY_NODE_LEDGER_INT_H
#define TREATY_NODE_LEDGER_INT_H

#include "common/bytes.h"
#include "node/json_arena.h"
#include "node/ledger.h"
#include "node/ledger.pb-c.h"
#include "node/merkle.h"

#include <stdarg.h>
#include <stdbool.h>

#define LEDGER_REASON_MAX 256
/* The block jansson allocates from while an op applies: a 1 KB record's trees take a few KB; the
 * parts of larger ones that do not fit come from malloc. */
#define LEDGER_JSON_ARENA_BYTES (256u << 10)

/* Context of the Merkle store: the txn its get/put use (the write txn during apply), and the
 * LMDB code of its last failed call (for the ledger's error message). */
struct ledger__mctx {
    MDB_txn *txn;
    MDB_dbi dbi;
    int mdb_rc;
};

struct ledger {
    MDB_env *env;
    MDB_dbi meta, blocks, records, history, index, txs, leaves, idem, orgseq, members, proposals,
        ckpt, cosign, merkle;
    uint8_t network_id[32];
    char texts_org[64]; /* ledger_keep_texts; "" when none */
    enum batch_sig batch_sig;
    const struct schema_network *schema;         /* in force (ledger_schema.c) */
    const struct schema_network *genesis_schema; /* version 1, borrowed from the config */
    uint64_t schema_version;
    struct ledger__schema_version *schemas; /* compiled later versions, owned */
    size_t n_schemas;
    uint32_t ckpt_blocks, ckpt_ms;
    /* caches, valid while the write txn that made them commits (else ledger_reload) */
    struct ledger_head head;
    uint64_t ckpt_height, ckpt_ts; /* last checkpoint (height 0: none, ts = reference) */
    struct ledger__mctx wctx;
    struct merkle_tree *tree;
    /* outcomes of the last apply */
    struct ledger_tx_outcome *out;
    size_t n_out, cap_out;
    struct json_arena json; /* jansson's allocations while an op applies (ledger_records.c) */
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
    /* ts as RFC 3339 text ("" until made; remade when ts moves): every record of a block has
     * the same _updated_at, so it is formatted once a block. */
    char ts_text[64];
    uint64_t ts_text_us;
    bool keep_text; /* the batch's org is the texts org (ledger_keep_texts) */
    char *text;     /* the record the running one-op tx stored, for its outcome */
    size_t text_len;
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
/* At open: moves a tree stored in the earlier layout (l_merkle, key u8 level || u64 BE index)
 * into l_mtree and drops l_merkle. TR_OK (also when there is none) or a fatal error. */
int ledger__merkle_upgrade(struct ledger *l, MDB_txn *txn);
/* A tree over `txn` with the size of the head stored in it; caller destroys. */
int ledger__merkle_tree_at(struct ledger *l, MDB_txn *txn, struct ledger__mctx *ctx,
                           struct merkle_tree **tree, uint64_t *size);

/* ledger_index.c: the value part of an l_index key "type\0field\0" || value || record key, at
 * most LEDGER_INDEX_VALUE_MAX bytes, prefix-free (no value's encoding begins another's), ordered
 * bytewise as the values order: null < false < true < numbers (numerically; an integer and a real
 * of equal value encode alike) < strings (bytewise; a string of more than 64 bytes keeps its first
 * 64 and then orders by its SHA-256) < objects and arrays (by SHA-256: equality only). */
#define LEDGER_INDEX_VALUE_MAX 100
/* Encodes `val` into out[0..*len). TR_OK or TR_ENOMEM. */
int ledger__index_value(const json_t *val, uint8_t out[LEDGER_INDEX_VALUE_MAX], size_t *len);
/* As ledger__index_value; *cut_at is 0, or for a string cut to fit the length of the part shared
 * by every string with the same first bytes (the encoding up to and including its cut marker). */
int ledger__index_encode(const json_t *val, uint8_t out[LEDGER_INDEX_VALUE_MAX], size_t *len,
                         size_t *cut_at);
/* The length of the encoded value at p[0..n), 0 if it does not decode. */
size_t ledger__index_value_len(const uint8_t *p, size_t n);
/* The first byte of every encoding of a value of val's kind (null, false, true, number, string,
 * other); the kinds order as these bytes do. */
uint8_t ledger__index_kind(const json_t *val);
/* Compares two values as the index orders them, exactly (strings in full): -1, 0 or 1; 2 when both
 * are unequal objects or arrays, which have no order. */
int ledger__index_cmp(const json_t *a, const json_t *b);

/* ledger_records.c: applies the ops of `tx` inside `txn` (a nested txn). Returns TR_OK (reason
 * empty: applied; reason set: rejected) or a fatal error. */
int ledger__records_apply(struct ledger__apply *a, MDB_txn *txn, const Treaty__Ledger__Tx *tx,
                          char *reason);

/* ledger_records.c: l_records holds, per "type\0key", a pointer to the record's current version
 * in l_history ("type\0key\0" || u64 BE version, the stored text): the version (u64 BE), then a
 * flags byte. Each record's text is stored once. */
#define LEDGER__REC_PTR_LEN 9
#define LEDGER__REC_DELETED 0x01u
/* Decodes the l_records value `ptr`: *version, *deleted. TR_ECORRUPT (errmsg set) if it is not
 * a pointer. */
int ledger__rec_ptr(struct ledger *l, const MDB_val *ptr, uint64_t *version, bool *deleted);
/* The stored text of version `version` of the record k[0..klen) ("type\0key"; k has room for 9
 * more bytes, which it overwrites), borrowed from `txn`. TR_ECORRUPT (errmsg set) if l_history
 * lacks it: only versions a pointer names are asked for. */
int ledger__rec_text(struct ledger *l, MDB_txn *txn, uint8_t *k, size_t klen, uint64_t version,
                     MDB_val *text);
/* The current version of the record k[0..klen) (as above): the two steps after a look-up in
 * l_records; with `text` NULL, the pointer only. TR_ENOTFOUND when the record never existed. */
int ledger__rec_current(struct ledger *l, MDB_txn *txn, uint8_t *k, size_t klen, uint64_t *version,
                        bool *deleted, MDB_val *text);
/* ledger_records.c, at open: rewrites l_records from the earlier layout (the current record's
 * whole text) to pointers, once (l_meta "rec_format"). TR_OK or a fatal error. */
int ledger__records_upgrade(struct ledger *l, MDB_txn *txn);

/* ledger_records.c: adds (add = 1) or removes the l_index entry of `field` = `val` (NULL: none)
 * of record `key` of `type`. TR_OK or a fatal error. */
int ledger__index_entry(struct ledger *l, MDB_txn *txn, const char *type, const char *key,
                        const char *field, const json_t *val, int add);

/* ledger_schema.c: the schema in force. check: sets reason if document `doc` cannot replace it
 * (does not compile, or a breaking change). effect: the same check, then makes it the schema in
 * force (new indexes filled). load: selects the stored version (load_caches). free: at destroy. */
struct ledger__schema_version;
int ledger__schema_check(struct ledger *l, const ProtobufCBinaryData *doc, char *reason);
int ledger__schema_effect(struct ledger__apply *a, MDB_txn *txn, const ProtobufCBinaryData *doc,
                          char *reason);
int ledger__schema_load(struct ledger *l, MDB_txn *txn);
void ledger__schema_free(struct ledger *l);

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
