/* ledger.c — opening the ledger's l_* DBIs, its caches (head, Merkle tree, last checkpoint), the
 * LMDB helpers its files share, and the simple reads (head, block, tx, org seq, node id).
 * Invariant: the caches equal what the last committed write txn stored; after an aborted write
 * txn the driver calls ledger_reload. */
#include "node/ledger_int.h"
#include "node/hash.h"

#include "common/alloc.h"
#include "common/err.h"
#include "node/batch.h"

#include <errno.h>
#include <stddef.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

int ledger__err(struct ledger *l, int mdb_rc, const char *what)
{
    if (mdb_rc == MDB_SUCCESS)
        return TR_OK;
    if (mdb_rc == MDB_NOTFOUND)
        return TR_ENOTFOUND;
    snprintf(l->errmsg, sizeof l->errmsg, "%s: %s", what, mdb_strerror(mdb_rc));
    if (mdb_rc == MDB_MAP_FULL || mdb_rc == MDB_TXN_FULL)
        return TR_ELIMIT;
    if (mdb_rc == ENOMEM)
        return TR_ENOMEM;
    return TR_EIO;
}

int ledger__get(struct ledger *l, MDB_txn *txn, MDB_dbi dbi, const void *k, size_t klen, MDB_val *v)
{
    MDB_val key = {klen, (void *)(uintptr_t)k};
    return ledger__err(l, mdb_get(txn, dbi, &key, v), "ledger read");
}

int ledger__put(struct ledger *l, MDB_txn *txn, MDB_dbi dbi, const void *k, size_t klen,
                const void *v, size_t vlen)
{
    MDB_val key = {klen, (void *)(uintptr_t)k}, val = {vlen, (void *)(uintptr_t)v};
    return ledger__err(l, mdb_put(txn, dbi, &key, &val, 0), "ledger write");
}

int ledger__del(struct ledger *l, MDB_txn *txn, MDB_dbi dbi, const void *k, size_t klen)
{
    MDB_val key = {klen, (void *)(uintptr_t)k};
    int rc = ledger__err(l, mdb_del(txn, dbi, &key, NULL), "ledger delete");
    return rc == TR_ENOTFOUND ? TR_OK : rc;
}

void ledger__be64(uint8_t out[8], uint64_t v)
{
    for (int i = 7; i >= 0; i--, v >>= 8)
        out[i] = (uint8_t)v;
}

uint64_t ledger__rd64(const uint8_t in[8])
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = (v << 8) | in[i];
    return v;
}

json_t *ledger__hex_json(const uint8_t *b, size_t n)
{
    char buf[2 * 64 + 1];
    if (n > 64)
        n = 64;
    tr_hex_encode(b, n, buf);
    return json_string(buf);
}

void ledger__reason(char *reason, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(reason, LEDGER_REASON_MAX, fmt, ap);
    va_end(ap);
}

void ledger__block_hash(const uint8_t *hdr, size_t len, uint8_t out[32])
{
    static const char domain[] = "treaty/block/v1";
    hash_sha256_2(out, domain, sizeof domain, hdr, len);
}

int ledger__header_get(struct ledger *l, MDB_txn *txn, uint64_t height,
                       Treaty__Ledger__BlockHeader **out)
{
    uint8_t k[8];
    MDB_val v;
    ledger__be64(k, height);
    int rc = ledger__get(l, txn, l->blocks, k, 8, &v);
    if (rc != TR_OK)
        return rc;
    *out = treaty__ledger__block_header__unpack(NULL, v.mv_size, v.mv_data);
    return *out ? TR_OK : TR_ECORRUPT;
}

/* Fills *h from the stored head of `txn` (zeroes before the first block). */
static int ledger_head_read(struct ledger *l, MDB_txn *txn, struct ledger_head *h)
{
    MDB_val v;
    memset(h, 0, sizeof *h);
    crypto_hash_sha256(h->root, NULL, 0);
    int rc = ledger__get(l, txn, l->meta, "head", 4, &v);
    if (rc == TR_ENOTFOUND)
        return TR_OK;
    if (rc != TR_OK)
        return rc;
    Treaty__Ledger__BlockHeader *b =
        treaty__ledger__block_header__unpack(NULL, v.mv_size, v.mv_data);
    if (!b || b->root.len != 32)
        goto corrupt;
    h->height = b->height;
    h->term = b->term;
    h->timestamp_us = b->timestamp_us;
    h->tree_size = b->tree_size;
    memcpy(h->root, b->root.data, 32);
    ledger__block_hash(v.mv_data, v.mv_size, h->block_hash);
    treaty__ledger__block_header__free_unpacked(b, NULL);
    return TR_OK;
corrupt:
    if (b)
        treaty__ledger__block_header__free_unpacked(b, NULL);
    snprintf(l->errmsg, sizeof l->errmsg, "l_meta: head does not decode");
    return TR_ECORRUPT;
}

int ledger__load_caches(struct ledger *l, MDB_txn *txn)
{
    MDB_val v;
    int rc = ledger_head_read(l, txn, &l->head);
    if (rc == TR_OK)
        rc = ledger__schema_load(l, txn);
    if (rc != TR_OK)
        return rc;
    l->ckpt_height = 0;
    l->ckpt_ts = 0;
    rc = ledger__get(l, txn, l->meta, "ckpt", 4, &v);
    if (rc == TR_OK && v.mv_size == 16) {
        l->ckpt_height = ledger__rd64(v.mv_data);
        l->ckpt_ts = ledger__rd64((const uint8_t *)v.mv_data + 8);
    } else if (rc != TR_ENOTFOUND) {
        return rc == TR_OK ? TR_ECORRUPT : rc;
    }
    merkle_tree_destroy(l->tree);
    l->tree = NULL;
    l->wctx.txn = txn;
    struct merkle_store ms = ledger__merkle_store(&l->wctx);
    return merkle_tree_create(&ms, l->head.tree_size, &l->tree);
}

static const struct {
    const char *name;
    size_t off;
} ledger_dbis[] = {
    {"l_meta", offsetof(struct ledger, meta)},
    {"l_blocks", offsetof(struct ledger, blocks)},
    {"l_records", offsetof(struct ledger, records)},
    {"l_history", offsetof(struct ledger, history)},
    {"l_index", offsetof(struct ledger, index)},
    {"l_txs", offsetof(struct ledger, txs)},
    {"l_leaves", offsetof(struct ledger, leaves)},
    {"l_idem", offsetof(struct ledger, idem)},
    {"l_orgseq", offsetof(struct ledger, orgseq)},
    {"l_members", offsetof(struct ledger, members)},
    {"l_proposals", offsetof(struct ledger, proposals)},
    {"l_ckpt", offsetof(struct ledger, ckpt)},
    {"l_cosign", offsetof(struct ledger, cosign)},
    {"l_mtree", offsetof(struct ledger, merkle)},
};

static int ledger_config_check(const struct ledger_config *cfg, char *err, size_t errlen)
{
    if (!cfg || !cfg->network_id || !cfg->schema) {
        snprintf(err, errlen, "ledger: network id and schema are required");
        return TR_EINVAL;
    }
    if (cfg->batch_sig != BATCH_SIG_V1 && cfg->batch_sig != BATCH_SIG_V2) {
        snprintf(err, errlen, "ledger: unknown batch signature rule %d", (int)cfg->batch_sig);
        return TR_EINVAL;
    }
    if (cfg->n_founders == 0 || !cfg->founders) {
        snprintf(err, errlen, "ledger: at least one founding member is required");
        return TR_EINVAL;
    }
    return TR_OK;
}

int ledger_open(MDB_env *env, MDB_txn *txn, const struct ledger_config *cfg, struct ledger **out,
                char *err, size_t errlen)
{
    int rc = ledger_config_check(cfg, err, errlen);
    if (rc != TR_OK)
        return rc;
    struct ledger *l = tr_calloc(1, sizeof *l);
    if (!l)
        return TR_ENOMEM;
    l->env = env;
    memcpy(l->network_id, cfg->network_id, 32);
    l->batch_sig = cfg->batch_sig;
    l->schema = l->genesis_schema = cfg->schema;
    json_arena_init(&l->json, LEDGER_JSON_ARENA_BYTES);
    l->schema_version = 1;
    l->ckpt_blocks = cfg->checkpoint_blocks;
    l->ckpt_ms = cfg->checkpoint_ms;
    for (size_t i = 0; i < sizeof ledger_dbis / sizeof ledger_dbis[0]; i++) {
        MDB_dbi *d = (MDB_dbi *)(void *)((char *)l + ledger_dbis[i].off);
        rc = ledger__err(l, mdb_dbi_open(txn, ledger_dbis[i].name, MDB_CREATE, d),
                         ledger_dbis[i].name);
        if (rc != TR_OK)
            goto fail;
    }
    l->wctx.dbi = l->merkle;
    rc = ledger__founders_write(l, txn, cfg);
    if (rc == TR_OK)
        rc = ledger__records_upgrade(l, txn);
    if (rc == TR_OK)
        rc = ledger__merkle_upgrade(l, txn);
    if (rc == TR_OK)
        rc = ledger__load_caches(l, txn);
    if (rc != TR_OK)
        goto fail;
    *out = l;
    return TR_OK;
fail:
    snprintf(err, errlen, "ledger open: %s", l->errmsg[0] ? l->errmsg : tr_strerror(rc));
    ledger_destroy(l);
    return rc;
}

void ledger_destroy(struct ledger *l)
{
    if (!l)
        return;
    merkle_tree_destroy(l->tree);
    ledger__schema_free(l);
    tr_free(l->out);
    json_arena_free(&l->json);
    tr_free(l);
}

int ledger_reload(struct ledger *l, MDB_txn *rtxn)
{
    return ledger__load_caches(l, rtxn);
}

void ledger_keep_texts(struct ledger *l, const char *org)
{
    tr_str_copy(l->texts_org, sizeof l->texts_org, org ? org : "");
}

const char *ledger_errmsg(const struct ledger *l)
{
    return l->errmsg;
}

int ledger_head(struct ledger *l, MDB_txn *rtxn, struct ledger_head *h)
{
    return ledger_head_read(l, rtxn, h);
}

int ledger_block_get(struct ledger *l, MDB_txn *rtxn, uint64_t height, json_t **out)
{
    uint8_t k[8], hash[32];
    MDB_val v;
    ledger__be64(k, height);
    int rc = ledger__get(l, rtxn, l->blocks, k, 8, &v);
    if (rc != TR_OK)
        return rc;
    Treaty__Ledger__BlockHeader *b =
        treaty__ledger__block_header__unpack(NULL, v.mv_size, v.mv_data);
    if (!b)
        return TR_ECORRUPT;
    ledger__block_hash(v.mv_data, v.mv_size, hash);
    json_t *o = json_pack("{sI sI sI so so so sI so}", "height", (json_int_t)b->height, "term",
                          (json_int_t)b->term, "timestamp_us", (json_int_t)b->timestamp_us,
                          "prev_hash", ledger__hex_json(b->prev_hash.data, b->prev_hash.len),
                          "batch_hash", ledger__hex_json(b->batch_hash.data, b->batch_hash.len),
                          "root", ledger__hex_json(b->root.data, b->root.len), "tree_size",
                          (json_int_t)b->tree_size, "hash", ledger__hex_json(hash, 32));
    treaty__ledger__block_header__free_unpacked(b, NULL);
    if (!o)
        return TR_ENOMEM;
    *out = o;
    return TR_OK;
}

int ledger_tx_get(struct ledger *l, MDB_txn *rtxn, const char *tx_id, json_t **out)
{
    MDB_val v;
    if (!batch_tx_id_valid(tx_id))
        return TR_ENOTFOUND;
    int rc = ledger__get(l, rtxn, l->txs, tx_id, BATCH_TX_ID_LEN, &v);
    if (rc != TR_OK)
        return rc;
    if (v.mv_size != 8 && v.mv_size != 9) /* 9: weakly mapped by a refused batch */
        return TR_ECORRUPT;
    uint64_t leaf_index = ledger__rd64(v.mv_data);
    rc = ledger__get(l, rtxn, l->leaves, v.mv_data, 8, &v);
    if (rc != TR_OK)
        return rc == TR_ENOTFOUND ? TR_ECORRUPT : rc;
    Treaty__Ledger__TxLeaf *lf = treaty__ledger__tx_leaf__unpack(NULL, v.mv_size, v.mv_data);
    if (!lf)
        return TR_ECORRUPT;
    json_t *o = json_pack("{ss ss sI sI sI ss sI}", "tx", lf->tx_id, "status",
                          lf->committed ? "committed" : "rejected", "height",
                          (json_int_t)lf->height, "index", (json_int_t)lf->index, "leaf_index",
                          (json_int_t)leaf_index, "org", lf->org, "seq", (json_int_t)lf->seq);
    if (o && !lf->committed)
        json_object_set_new(o, "reason", json_string(lf->reason));
    treaty__ledger__tx_leaf__free_unpacked(lf, NULL);
    if (!o)
        return TR_ENOMEM;
    *out = o;
    return TR_OK;
}

int ledger_org_seq(struct ledger *l, MDB_txn *rtxn, const char *org, uint64_t *seq)
{
    MDB_val v;
    *seq = 0;
    int rc = ledger__get(l, rtxn, l->orgseq, org, strlen(org), &v);
    if (rc == TR_ENOTFOUND)
        return TR_OK;
    if (rc != TR_OK)
        return rc;
    if (v.mv_size != 8)
        return TR_ECORRUPT;
    *seq = ledger__rd64(v.mv_data);
    return TR_OK;
}

int ledger_idempotency_get(struct ledger *l, MDB_txn *rtxn, const char *org, const char *key,
                           char id[33])
{
    char k[64 + 1 + BATCH_IDEM_KEY_MAX + 1];
    MDB_val v;
    int n = snprintf(k, sizeof k, "%s%c%s", org, '\0', key);
    if (n < 0 || (size_t)n >= sizeof k)
        return TR_ENOTFOUND;
    int rc = ledger__get(l, rtxn, l->idem, k, (size_t)n, &v);
    if (rc != TR_OK)
        return rc;
    if (v.mv_size != BATCH_TX_ID_LEN)
        return TR_ECORRUPT;
    memcpy(id, v.mv_data, BATCH_TX_ID_LEN);
    id[BATCH_TX_ID_LEN] = '\0';
    return TR_OK;
}
