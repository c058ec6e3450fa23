/* ledger_changes.c — the committed record changes of one block, for the event stream: the
 * block's batch (from its raft entry), which of its txs committed (its leaves, between the tree
 * sizes of the previous block and this one) and, per op, the history version it wrote. A record's
 * versions are dense (1..current) and their _height never decreases, so the first version a block
 * wrote is found by binary search over l_history, and the ops of the block that touch the same
 * record wrote the versions after it in order. Cost per block: its leaves plus O(log versions)
 * reads per record it touched; never a scan of history. Called by the node backend. */
#include "node/ledger_int.h"

#include "common/alloc.h"
#include "common/err.h"
#include "node/batch.h"

#include <stdlib.h>
#include <string.h>

#define REC_KEY_MAX (64 + 1 + BATCH_RECORD_KEY_MAX + 1 + 8)

/* What one block's change listing carries around. */
struct chg {
    struct ledger *l;
    MDB_txn *txn;
    uint64_t height;
    const char *org;
    json_t *next_version; /* "type\nkey" -> the version the next op on that record wrote */
    json_t *out;
};

/* The stored history version `version` of the record under key prefix k[0..klen) ("type\0key");
 * a new reference in *rec. TR_ENOTFOUND if absent. */
static int history_get(struct chg *x, uint8_t *k, size_t klen, uint64_t version, json_t **rec)
{
    MDB_val v;
    k[klen] = '\0';
    ledger__be64(k + klen + 1, version);
    int rc = ledger__get(x->l, x->txn, x->l->history, k, klen + 9, &v);
    if (rc != TR_OK)
        return rc;
    *rec = json_loadb(v.mv_data, v.mv_size, 0, NULL);
    if (!json_is_object(*rec)) {
        json_decref(*rec);
        return TR_ECORRUPT;
    }
    return TR_OK;
}

static uint64_t rec_u64(const json_t *rec, const char *field)
{
    json_int_t v = json_integer_value(json_object_get(rec, field));
    return v > 0 ? (uint64_t)v : 0;
}

/* The first version of the record that block x->height wrote: the least v in 1..current whose
 * _height >= the block's (binary search; _height never decreases with the version). */
static int first_version(struct chg *x, uint8_t *k, size_t klen, uint64_t *first)
{
    uint64_t lo = 1, hi = 0;
    bool deleted;
    int rc = ledger__rec_current(x->l, x->txn, k, klen, &hi, &deleted, NULL);
    if (rc != TR_OK)
        return rc == TR_ENOTFOUND ? TR_ECORRUPT : rc; /* the block wrote it: it exists */
    while (lo < hi) {
        uint64_t mid = lo + (hi - lo) / 2;
        json_t *rec = NULL;
        rc = history_get(x, k, klen, mid, &rec);
        if (rc != TR_OK)
            return rc == TR_ENOTFOUND ? TR_ECORRUPT : rc;
        if (rec_u64(rec, "_height") >= x->height)
            hi = mid;
        else
            lo = mid + 1;
        json_decref(rec);
    }
    *first = lo;
    return TR_OK;
}

static const char *op_name(Treaty__Ledger__Op__Kind kind)
{
    switch (kind) {
    case TREATY__LEDGER__OP__KIND__CREATE:
        return "create";
    case TREATY__LEDGER__OP__KIND__REPLACE:
        return "replace";
    case TREATY__LEDGER__OP__KIND__PATCH:
        return "patch";
    default:
        return "delete";
    }
}

/* The version op `op` of tx `tx` wrote: the next one of its record in this block. */
static int op_version(struct chg *x, const Treaty__Ledger__Op *op, uint8_t *k, size_t klen,
                      uint64_t *version)
{
    size_t tl = strlen(op->type), kl = strlen(op->key);
    char *mk = tr_malloc(tl + kl + 2);
    if (!mk)
        return TR_ENOMEM;
    memcpy(mk, op->type, tl);
    mk[tl] = '\n'; /* type names have no newline: the first one splits type from key */
    memcpy(mk + tl + 1, op->key, kl + 1);
    json_t *nv = json_object_get(x->next_version, mk);
    int rc = TR_OK;
    if (nv)
        *version = (uint64_t)json_integer_value(nv);
    else
        rc = first_version(x, k, klen, version);
    if (rc == TR_OK && json_object_set_new_nocheck(x->next_version, mk,
                                                   json_integer((json_int_t)(*version + 1))) != 0)
        rc = TR_ENOMEM;
    tr_free(mk);
    return rc;
}

/* Appends the change of op `op` (in a committed tx) to x->out. */
static int op_change(struct chg *x, const Treaty__Ledger__Tx *tx, const Treaty__Ledger__Op *op)
{
    uint8_t k[REC_KEY_MAX];
    size_t tl = strlen(op->type), kl = strlen(op->key);
    if (tl > 64 || kl == 0 || kl > BATCH_RECORD_KEY_MAX)
        return TR_ECORRUPT; /* a committed op passed these checks at apply */
    memcpy(k, op->type, tl + 1);
    memcpy(k + tl + 1, op->key, kl);
    uint64_t version = 0;
    json_t *rec = NULL;
    int rc = op_version(x, op, k, tl + 1 + kl, &version);
    if (rc == TR_OK)
        rc = history_get(x, k, tl + 1 + kl, version, &rec);
    if (rc == TR_ENOTFOUND)
        rc = TR_ECORRUPT;
    if (rc != TR_OK)
        return rc;
    const char *rtx = json_string_value(json_object_get(rec, "_tx"));
    if (!rtx || strcmp(rtx, tx->id) != 0 || rec_u64(rec, "_height") != x->height) {
        json_decref(rec);
        return TR_ECORRUPT;
    }
    bool deleted = op->kind == TREATY__LEDGER__OP__KIND__DELETE;
    json_t *ch =
        json_pack("{s:s, s:s, s:s, s:I, s:O, s:s, s:s, s:I, s:I, s:O}", "type", op->type, "key",
                  op->key, "op", op_name(op->kind), "version", (json_int_t)version, "owner",
                  json_object_get(rec, "_owner"), "org", x->org, "tx", tx->id, "height",
                  (json_int_t)x->height, "index", (json_int_t)json_array_size(x->out), "record",
                  deleted ? json_null() : rec);
    json_decref(rec);
    if (!ch)
        return TR_ENOMEM;
    return json_array_append_new(x->out, ch) == 0 ? TR_OK : TR_ENOMEM;
}

/* Marks in committed[0..n_txs) the txs whose leaf says committed; leaves [first, end). */
static int leaves_read(struct chg *x, uint64_t first, uint64_t end, bool *committed, size_t n_txs)
{
    for (uint64_t i = first; i < end; i++) {
        uint8_t k[8];
        MDB_val v;
        ledger__be64(k, i);
        int rc = ledger__get(x->l, x->txn, x->l->leaves, k, 8, &v);
        if (rc != TR_OK)
            return rc == TR_ENOTFOUND ? TR_ECORRUPT : rc;
        Treaty__Ledger__TxLeaf *lf = treaty__ledger__tx_leaf__unpack(NULL, v.mv_size, v.mv_data);
        if (!lf || lf->height != x->height || lf->index >= n_txs) {
            if (lf)
                treaty__ledger__tx_leaf__free_unpacked(lf, NULL);
            return TR_ECORRUPT;
        }
        committed[lf->index] = lf->committed;
        treaty__ledger__tx_leaf__free_unpacked(lf, NULL);
    }
    return TR_OK;
}

/* The changes of the batch of block x->height whose leaves are [first, end). */
static int batch_changes(struct chg *x, const Treaty__Ledger__Batch *b, uint64_t first,
                         uint64_t end)
{
    bool *committed = tr_calloc(b->n_txs ? b->n_txs : 1, sizeof *committed);
    if (!committed)
        return TR_ENOMEM;
    x->org = b->org;
    int rc = leaves_read(x, first, end, committed, b->n_txs);
    for (size_t i = 0; rc == TR_OK && i < b->n_txs; i++) {
        const Treaty__Ledger__Tx *tx = b->txs[i];
        for (size_t j = 0; committed[i] && rc == TR_OK && j < tx->n_ops; j++)
            rc = op_change(x, tx, tx->ops[j]);
    }
    tr_free(committed);
    return rc;
}

/* The leaf range [first, end) of block x->height. TR_ENOTFOUND if the block is not applied. */
static int block_leaves(struct chg *x, uint64_t *first, uint64_t *end)
{
    Treaty__Ledger__BlockHeader *h = NULL;
    int rc = ledger__header_get(x->l, x->txn, x->height, &h);
    if (rc != TR_OK)
        return rc;
    *end = h->tree_size;
    treaty__ledger__block_header__free_unpacked(h, NULL);
    *first = 0;
    if (x->height == 1)
        return TR_OK;
    rc = ledger__header_get(x->l, x->txn, x->height - 1, &h);
    if (rc != TR_OK)
        return rc == TR_ENOTFOUND ? TR_ECORRUPT : rc;
    *first = h->tree_size;
    treaty__ledger__block_header__free_unpacked(h, NULL);
    return *first <= *end ? TR_OK : TR_ECORRUPT;
}

int ledger_block_changes(struct ledger *l, MDB_txn *rtxn, const struct raft_entry *e, json_t **out)
{
    struct chg x = {.l = l, .txn = rtxn, .height = e->index};
    uint64_t first = 0, end = 0;
    if (e->index == 0)
        return TR_ENOTFOUND;
    int rc = block_leaves(&x, &first, &end);
    if (rc != TR_OK)
        return rc;
    x.out = json_array();
    x.next_version = json_object();
    if (!x.out || !x.next_version)
        rc = TR_ENOMEM;
    Treaty__Ledger__Entry *en = NULL;
    Treaty__Ledger__Batch *b = NULL;
    if (rc == TR_OK && e->type == RAFT_ENTRY_NORMAL && end > first) {
        /* Leaves exist only for a batch that decoded at apply: it decodes again here. */
        en = treaty__ledger__entry__unpack(NULL, e->len, e->data);
        if (en && en->batch)
            b = treaty__ledger__batch__unpack(NULL, en->batch->batch.len, en->batch->batch.data);
        rc = b ? batch_changes(&x, b, first, end) : TR_ECORRUPT;
    }
    if (b)
        treaty__ledger__batch__free_unpacked(b, NULL);
    if (en)
        treaty__ledger__entry__free_unpacked(en, NULL);
    json_decref(x.next_version);
    if (rc != TR_OK) {
        json_decref(x.out);
        return rc;
    }
    *out = x.out;
    return TR_OK;
}
