/* ledger_apply.c — one raft entry becomes one block: verify the signed batch (network id, member,
 * signature with the key in force at this height, replay), apply each tx atomically in a nested
 * LMDB txn, record every tx's result and Merkle leaf, then write the BlockHeader and the head.
 * Deterministic: no clock, no randomness; every bad input becomes a recorded rejection. (The
 * FAILPOINT lines are empty except in crash-test builds: failpoint.h.) */
#include "node/ledger_int.h"
#include "node/hash.h"

#include "common/alloc.h"
#include "common/bytes.h"
#include "common/err.h"
#include "common/log.h"
#include "node/batch.h"
#include "node/failpoint.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>

static int ledger_out_push(struct ledger *l, struct ledger_tx_outcome **o)
{
    if (l->n_out == l->cap_out) {
        size_t cap = l->cap_out ? 2 * l->cap_out : 16;
        struct ledger_tx_outcome *p = tr_realloc(l->out, cap * sizeof *p);
        if (!p)
            return TR_ENOMEM;
        l->out = p;
        l->cap_out = cap;
    }
    *o = &l->out[l->n_out++];
    memset(*o, 0, sizeof **o);
    return TR_OK;
}

/* Packed txs and leaves up to this size are packed on the stack (most are: a 1 KB record's tx is
 * about 1.2 KB); larger ones in a heap buffer. */
#define PACK_STACK_MAX 4096

static int ledger_tx_hash(const Treaty__Ledger__Tx *tx, uint8_t out[32])
{
    uint8_t stack[PACK_STACK_MAX];
    size_t n = treaty__ledger__tx__get_packed_size(tx);
    uint8_t *buf = n <= sizeof stack ? stack : tr_malloc(n);
    if (!buf)
        return TR_ENOMEM;
    treaty__ledger__tx__pack(tx, buf);
    hash_sha256(out, buf, n);
    if (buf != stack)
        tr_free(buf);
    return TR_OK;
}

/* Appends the TxLeaf of tx `index` to the tree and l_leaves, maps the tx id to it and adds the
 * outcome. A tx of an accepted batch (map_id) maps its id for good (8-byte leaf index). A tx of a
 * batch refused as a whole maps it only weakly (leaf index + one 0x01 byte) and only when the id
 * is unmapped, so every node can answer what happened to it, yet a forger cannot burn an id: a
 * later accepted tx with that id replaces a weak mapping, and the precheck ignores weak ones. */
static int ledger_result_record(struct ledger__apply *a, uint32_t index,
                                const Treaty__Ledger__Tx *tx, const char *reason, int map_id)
{
    struct ledger *l = a->l;
    uint8_t txh[32], lh[32], k[8];
    int rc = ledger_tx_hash(tx, txh);
    if (rc != TR_OK)
        return rc;
    Treaty__Ledger__TxLeaf lf = TREATY__LEDGER__TX_LEAF__INIT;
    lf.height = a->height;
    lf.index = index;
    lf.tx_id = tx->id;
    lf.org = (char *)(uintptr_t)a->org;
    lf.seq = a->seq;
    lf.tx_hash.data = txh;
    lf.tx_hash.len = 32;
    lf.committed = reason[0] == '\0';
    lf.reason = (char *)(uintptr_t)reason;
    uint8_t stack[PACK_STACK_MAX];
    size_t n = treaty__ledger__tx_leaf__get_packed_size(&lf);
    uint8_t *buf = n <= sizeof stack ? stack : tr_malloc(n);
    if (!buf)
        return TR_ENOMEM;
    treaty__ledger__tx_leaf__pack(&lf, buf);
    uint64_t leaf_index = merkle_size(l->tree);
    merkle_leaf_hash(buf, n, lh);
    ledger__be64(k, leaf_index);
    rc = ledger__put(l, a->txn, l->leaves, k, 8, buf, n);
    if (buf != stack)
        tr_free(buf);
    if (rc == TR_OK) {
        l->wctx.mdb_rc = 0;
        rc = merkle_append(l->tree, lh);
        if (rc != TR_OK && l->wctx.mdb_rc)
            snprintf(l->errmsg, sizeof l->errmsg, "l_mtree write: %s",
                     mdb_strerror(l->wctx.mdb_rc));
    }
    if (rc == TR_OK && batch_tx_id_valid(tx->id)) {
        MDB_val v;
        uint8_t weak[9];
        memcpy(weak, k, 8);
        weak[8] = 1;
        rc = ledger__get(l, a->txn, l->txs, tx->id, BATCH_TX_ID_LEN, &v);
        if (rc == TR_ENOTFOUND)
            rc = ledger__put(l, a->txn, l->txs, tx->id, BATCH_TX_ID_LEN, map_id ? k : weak,
                             map_id ? 8 : 9);
        else if (rc == TR_OK && map_id && v.mv_size == 9)
            rc = ledger__put(l, a->txn, l->txs, tx->id, BATCH_TX_ID_LEN, k, 8);
    }
    FAILPOINT(APPLY_MERKLE);
    struct ledger_tx_outcome *o;
    if (rc == TR_OK)
        rc = ledger_out_push(l, &o);
    if (rc != TR_OK)
        return rc;
    tr_str_copy(o->tx_id, sizeof o->tx_id, tx->id);
    tr_str_copy(o->org, sizeof o->org, a->org ? a->org : "");
    o->height = a->height;
    o->index = index;
    o->committed = reason[0] == '\0';
    if (o->committed && a->text) {
        o->text = a->text;
        o->text_len = a->text_len;
    } else {
        free(a->text);
    }
    a->text = NULL;
    tr_str_copy(o->reason, sizeof o->reason, reason);
    return TR_OK;
}

/* The l_idem key of (org, key) in k; its length, or 0 if it does not fit. */
static size_t ledger_idem_key(char *k, size_t cap, const char *org, const char *key)
{
    int n = snprintf(k, cap, "%s%c%s", org, '\0', key);
    return n < 0 || (size_t)n >= cap ? 0 : (size_t)n;
}

/* Checks done before a tx runs: its id, its shape and its idempotency key. */
static int ledger_tx_precheck(struct ledger__apply *a, const Treaty__Ledger__Tx *tx, char *reason)
{
    struct ledger *l = a->l;
    MDB_val v;
    char k[64 + 1 + BATCH_IDEM_KEY_MAX + 1];
    int kinds = (tx->n_ops > 0) + (tx->governance != NULL) + (tx->cosign != NULL);
    if (!batch_tx_id_valid(tx->id)) {
        ledger__reason(reason, "invalid: tx id must be 32 lowercase hex chars");
        return TR_OK;
    }
    int rc = ledger__get(l, a->txn, l->txs, tx->id, BATCH_TX_ID_LEN, &v);
    if (rc != TR_ENOTFOUND && !(rc == TR_OK && v.mv_size == 9)) {
        if (rc == TR_OK)
            ledger__reason(reason, "duplicate: tx id %s already recorded", tx->id);
        return rc;
    }
    if (kinds != 1) {
        ledger__reason(reason, "invalid: a tx carries ops, a governance action or a cosignature "
                               "(exactly one)");
    } else if (tx->n_ops > BATCH_OPS_MAX) {
        ledger__reason(reason, "invalid: %zu ops exceed the limit of %d", tx->n_ops, BATCH_OPS_MAX);
    } else if (strlen(tx->idempotency_key) > BATCH_IDEM_KEY_MAX) {
        ledger__reason(reason, "invalid: idempotency key longer than %d bytes", BATCH_IDEM_KEY_MAX);
    } else if (tx->idempotency_key[0]) {
        size_t kl = ledger_idem_key(k, sizeof k, a->org, tx->idempotency_key);
        rc = ledger__get(l, a->txn, l->idem, k, kl, &v);
        if (rc == TR_OK)
            ledger__reason(reason, "duplicate: idempotency key %s already used by tx %.*s",
                           tx->idempotency_key, (int)v.mv_size, (const char *)v.mv_data);
        else if (rc != TR_ENOTFOUND)
            return rc;
    }
    return TR_OK;
}

/* Runs a checked tx in a nested txn: committed if it leaves no reason, else rolled back.
 * A tx of one record op runs in the block's txn itself: an op decides its reason before its
 * first write and after that can only fail fatally (which aborts the block's txn), so it has
 * nothing to roll back. That saves the nested txn, which copies every page it touches from its
 * parent: most of the cost of a small tx. */
static int ledger_tx_run(struct ledger__apply *a, const Treaty__Ledger__Tx *tx, char *reason)
{
    if (tx->n_ops == 1)
        return ledger__records_apply(a, a->txn, tx, reason);
    MDB_txn *child = NULL;
    int changed = 0;
    int rc = ledger__err(a->l, mdb_txn_begin(a->l->env, a->txn, 0, &child), "nested txn");
    if (rc != TR_OK)
        return rc;
    if (tx->n_ops > 0)
        rc = ledger__records_apply(a, child, tx, reason);
    else if (tx->governance)
        rc = ledger__governance_apply(a, child, tx, reason, &changed);
    else
        rc = ledger__cosign_apply(a, child, tx, reason);
    if (rc != TR_OK || reason[0]) {
        mdb_txn_abort(child);
        return rc;
    }
    rc = ledger__err(a->l, mdb_txn_commit(child), "nested txn commit");
    if (rc == TR_OK && changed)
        a->members_changed = 1;
    return rc;
}

static int ledger_tx_apply(struct ledger__apply *a, uint32_t index, const Treaty__Ledger__Tx *tx)
{
    char reason[LEDGER_REASON_MAX] = "";
    int rc = ledger_tx_precheck(a, tx, reason);
    if (rc != TR_OK)
        return rc;
    if (!reason[0]) {
        rc = ledger_tx_run(a, tx, reason);
        if (rc != TR_OK)
            return rc;
        FAILPOINT_IF(!reason[0], APPLY_TX_RUN);
        if (tx->idempotency_key[0]) {
            char k[64 + 1 + BATCH_IDEM_KEY_MAX + 1];
            size_t kl = ledger_idem_key(k, sizeof k, a->org, tx->idempotency_key);
            rc = ledger__put(a->l, a->txn, a->l->idem, k, kl, tx->id, BATCH_TX_ID_LEN);
            if (rc != TR_OK)
                return rc;
            FAILPOINT(APPLY_IDEMPOTENCY);
        }
    }
    return ledger_result_record(a, index, tx, reason, 1);
}

/* Why the batch as a whole is refused ("" if it is not). */
static int ledger_batch_check(struct ledger__apply *a, const Treaty__Ledger__SignedBatch *sb,
                              const Treaty__Ledger__Batch *b, char *reason)
{
    struct ledger *l = a->l;
    Treaty__Ledger__Member *m = NULL;
    if (b->n_txs > BATCH_TXS_MAX) {
        ledger__reason(reason, "invalid: %zu txs exceed the limit of %d", b->n_txs, BATCH_TXS_MAX);
        return TR_OK;
    }
    if (b->network_id.len != 32 || memcmp(b->network_id.data, l->network_id, 32) != 0) {
        ledger__reason(reason, "invalid: batch is for another network");
        return TR_OK;
    }
    if (strcmp(sb->org, b->org) != 0) {
        ledger__reason(reason, "invalid: batch of org %.63s signed as org %.63s", b->org, sb->org);
        return TR_OK;
    }
    int rc = ledger__member_get(l, a->txn, b->org, &m);
    if (rc == TR_ENOTFOUND || (rc == TR_OK && m->removed)) {
        ledger__reason(reason, "invalid: org %.63s is not a member", b->org);
        rc = TR_OK;
        goto done;
    }
    if (rc != TR_OK)
        goto done;
    rc = batch_sig_verify(l->batch_sig, l->network_id, sb->batch.data, sb->batch.len,
                          sb->signature.data, sb->signature.len,
                          ledger__member_key_at(m, a->height));
    if (rc == TR_EINVAL) {
        ledger__reason(reason, "invalid: signature does not verify with the key of org %.63s",
                       b->org);
        rc = TR_OK;
    }
done:
    if (m)
        treaty__ledger__member__free_unpacked(m, NULL);
    return rc;
}

static int ledger_batch_apply(struct ledger__apply *a, const Treaty__Ledger__SignedBatch *sb,
                              const Treaty__Ledger__Batch *b)
{
    char reason[LEDGER_REASON_MAX] = "";
    uint64_t last = 0;
    a->org = b->org;
    a->seq = b->seq;
    a->keep_text = a->l->texts_org[0] && strcmp(b->org, a->l->texts_org) == 0;
    int rc = ledger_batch_check(a, sb, b, reason);
    if (rc == TR_OK && !reason[0])
        rc = ledger_org_seq(a->l, a->txn, b->org, &last);
    if (rc != TR_OK)
        return rc;
    if (!reason[0] && b->seq <= last)
        ledger__reason(reason, "duplicate: batch seq %llu already applied (last %llu)",
                       (unsigned long long)b->seq, (unsigned long long)last);
    if (!reason[0]) {
        uint8_t v[8];
        ledger__be64(v, b->seq);
        rc = ledger__put(a->l, a->txn, a->l->orgseq, b->org, strlen(b->org), v, 8);
    }
    for (size_t i = 0; rc == TR_OK && i < b->n_txs; i++) {
        if (reason[0])
            rc = ledger_result_record(a, (uint32_t)i, b->txs[i], reason, 0);
        else
            rc = ledger_tx_apply(a, (uint32_t)i, b->txs[i]);
    }
    return rc;
}

/* A NORMAL entry's batch; bytes that do not decode make a block without leaves. */
static int ledger_entry_apply(struct ledger__apply *a, const struct raft_entry *e)
{
    Treaty__Ledger__Entry *en = treaty__ledger__entry__unpack(NULL, e->len, e->data);
    Treaty__Ledger__Batch *b = NULL;
    int rc = TR_OK;
    if (!en || !en->batch) {
        tr_log(TR_LOG_WARN, "ledger_entry_undecodable", "height=%llu bytes=%zu",
               (unsigned long long)a->height, e->len);
        goto done;
    }
    if (en->timestamp_us > a->ts)
        a->ts = en->timestamp_us;
    b = treaty__ledger__batch__unpack(NULL, en->batch->batch.len, en->batch->batch.data);
    if (!b || strlen(b->org) > 63) {
        tr_log(TR_LOG_WARN, "ledger_batch_undecodable", "height=%llu bytes=%zu",
               (unsigned long long)a->height, en->batch->batch.len);
        goto done;
    }
    rc = ledger_batch_apply(a, en->batch, b);
done:
    if (b)
        treaty__ledger__batch__free_unpacked(b, NULL);
    if (en)
        treaty__ledger__entry__free_unpacked(en, NULL);
    return rc;
}

/* Writes the block header at a->height and the head; fills the head cache. */
static int ledger_block_write(struct ledger__apply *a, const struct raft_entry *e, int *due)
{
    struct ledger *l = a->l;
    uint8_t bh[32], root[32], prev[32] = {0}, k[8], hash[32];
    uint64_t size = merkle_size(l->tree);
    int rc = merkle_root(l->tree, size, root);
    if (rc != TR_OK)
        return rc;
    hash_sha256(bh, e->data, e->data ? e->len : 0);
    if (l->head.height > 0)
        memcpy(prev, l->head.block_hash, 32);
    Treaty__Ledger__BlockHeader h = TREATY__LEDGER__BLOCK_HEADER__INIT;
    h.height = a->height;
    h.term = e->term;
    h.timestamp_us = a->ts;
    h.prev_hash = (ProtobufCBinaryData){32, prev};
    h.batch_hash = (ProtobufCBinaryData){32, bh};
    h.root = (ProtobufCBinaryData){32, root};
    h.tree_size = size;
    uint8_t buf[256];
    TR_ASSERT(treaty__ledger__block_header__get_packed_size(&h) <= sizeof buf);
    size_t n = treaty__ledger__block_header__pack(&h, buf);
    ledger__block_hash(buf, n, hash);
    ledger__be64(k, a->height);
    rc = ledger__put(l, a->txn, l->blocks, k, 8, buf, n);
    FAILPOINT(APPLY_BLOCK_WRITTEN);
    if (rc == TR_OK)
        rc = ledger__put(l, a->txn, l->meta, "head", 4, buf, n);
    if (rc == TR_OK)
        rc = ledger__checkpoint_maybe(l, a->txn, &h, hash, due);
    if (rc != TR_OK)
        return rc;
    l->head.height = a->height;
    l->head.term = e->term;
    l->head.timestamp_us = a->ts;
    memcpy(l->head.block_hash, hash, 32);
    memcpy(l->head.root, root, 32);
    l->head.tree_size = size;
    return TR_OK;
}

int ledger_apply(struct ledger *l, MDB_txn *txn, const struct raft_entry *e,
                 struct ledger_block_outcome *out)
{
    memset(out, 0, sizeof *out);
    l->n_out = 0;
    if (e->index != l->head.height + 1) {
        snprintf(l->errmsg, sizeof l->errmsg, "apply block %llu: the head is at %llu",
                 (unsigned long long)e->index, (unsigned long long)l->head.height);
        return TR_EINVAL;
    }
    struct ledger__apply a = {.l = l, .txn = txn, .height = e->index, .ts = l->head.timestamp_us};
    FAILPOINT(APPLY_BLOCK_BEGIN);
    l->wctx.txn = txn;
    int rc = TR_OK;
    if (e->type == RAFT_ENTRY_NORMAL)
        rc = ledger_entry_apply(&a, e);
    if (rc == TR_OK)
        rc = ledger_block_write(&a, e, &out->checkpoint_due);
    if (rc != TR_OK) {
        free(a.text); /* the block is not applied: nobody receives its outcomes */
        for (size_t i = 0; i < l->n_out; i++) {
            free(l->out[i].text);
            l->out[i].text = NULL;
        }
        char msg[sizeof l->errmsg];
        snprintf(msg, sizeof msg, "%s", l->errmsg[0] ? l->errmsg : tr_strerror(rc));
        snprintf(l->errmsg, sizeof l->errmsg, "apply block %llu: %.200s",
                 (unsigned long long)e->index, msg);
        return rc;
    }
    out->height = e->index;
    out->txs = l->out;
    out->n_txs = l->n_out;
    out->members_changed = a.members_changed;
    return TR_OK;
}
