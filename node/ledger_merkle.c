/* ledger_merkle.c — the ledger's RFC 9162 Merkle tree: a merkle_store over the l_mtree DBI, and
 * the inclusion and consistency proofs of any past tree size. The subtree of level L and index I
 * (the hash of leaves [I * 2^L, (I + 1) * 2^L)) is stored under u64 BE (I + 1) * 2^L (the leaf
 * count at which it became complete) || u8 L, value its 32-byte hash: the subtrees a block
 * completes all sort after every older one, so a commit writes the tree's last pages only.
 * Invariant: l_mtree holds every complete subtree of the leaves counted by the head's tree_size,
 * so proofs take O(log n) reads (node/merkle.h). */
#include "node/ledger_int.h"

#include "common/alloc.h"
#include "common/err.h"

#include <stdio.h>
#include <string.h>

static void ledger_merkle_key(uint8_t k[9], unsigned level, uint64_t index)
{
    TR_ASSERT(level < 64);
    ledger__be64(k, (index + 1) << level);
    k[8] = (uint8_t)level;
}

int ledger__merkle_upgrade(struct ledger *l, MDB_txn *txn)
{
    MDB_dbi old;
    int rc = mdb_dbi_open(txn, "l_merkle", 0, &old);
    if (rc == MDB_NOTFOUND)
        return TR_OK;
    if ((rc = ledger__err(l, rc, "l_merkle")) != TR_OK)
        return rc;
    MDB_cursor *c;
    if ((rc = ledger__err(l, mdb_cursor_open(txn, old, &c), "l_merkle cursor")) != TR_OK)
        return rc;
    MDB_val k, v;
    int mrc = mdb_cursor_get(c, &k, &v, MDB_FIRST);
    for (; rc == TR_OK && mrc == 0; mrc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
        const uint8_t *p = k.mv_data;
        if (k.mv_size != 9 || v.mv_size != 32 || p[0] >= 64) {
            snprintf(l->errmsg, sizeof l->errmsg, "l_merkle: an entry of %zu/%zu bytes", k.mv_size,
                     v.mv_size);
            rc = TR_ECORRUPT;
            break;
        }
        uint8_t nk[9];
        ledger_merkle_key(nk, p[0], ledger__rd64(p + 1));
        rc = ledger__put(l, txn, l->merkle, nk, sizeof nk, v.mv_data, v.mv_size);
    }
    if (rc == TR_OK && mrc != MDB_NOTFOUND)
        rc = ledger__err(l, mrc, "l_merkle scan");
    mdb_cursor_close(c);
    return rc == TR_OK ? ledger__err(l, mdb_drop(txn, old, 1), "l_merkle drop") : rc;
}

static int ledger_merkle_get(void *ctx, unsigned level, uint64_t index, uint8_t out[32])
{
    struct ledger__mctx *c = ctx;
    uint8_t k[9];
    ledger_merkle_key(k, level, index);
    MDB_val key = {9, k}, v;
    int rc = mdb_get(c->txn, c->dbi, &key, &v);
    if (rc == MDB_NOTFOUND)
        return TR_ENOTFOUND;
    if (rc != MDB_SUCCESS) {
        c->mdb_rc = rc;
        return TR_EIO;
    }
    if (v.mv_size != 32)
        return TR_ECORRUPT;
    memcpy(out, v.mv_data, 32);
    return TR_OK;
}

static int ledger_merkle_put(void *ctx, unsigned level, uint64_t index, const uint8_t hash[32])
{
    struct ledger__mctx *c = ctx;
    uint8_t k[9];
    ledger_merkle_key(k, level, index);
    MDB_val key = {9, k}, v = {32, (void *)(uintptr_t)hash};
    int rc = mdb_put(c->txn, c->dbi, &key, &v, 0);
    if (rc != MDB_SUCCESS)
        c->mdb_rc = rc;
    if (rc == MDB_MAP_FULL || rc == MDB_TXN_FULL)
        return TR_ELIMIT;
    return rc == MDB_SUCCESS ? TR_OK : TR_EIO;
}

struct merkle_store ledger__merkle_store(struct ledger__mctx *ctx)
{
    struct merkle_store s = {ctx, ledger_merkle_get, ledger_merkle_put};
    return s;
}

int ledger__merkle_tree_at(struct ledger *l, MDB_txn *txn, struct ledger__mctx *ctx,
                           struct merkle_tree **tree, uint64_t *size)
{
    struct ledger_head h;
    int rc = ledger_head(l, txn, &h);
    if (rc != TR_OK)
        return rc;
    ctx->txn = txn;
    ctx->dbi = l->merkle;
    struct merkle_store s = ledger__merkle_store(ctx);
    *size = h.tree_size;
    return merkle_tree_create(&s, h.tree_size, tree);
}

static json_t *ledger_proof_json(uint8_t (*hashes)[32], size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; a && i < n; i++) {
        if (json_array_append_new(a, ledger__hex_json(hashes[i], 32)) != 0) {
            json_decref(a);
            return NULL;
        }
    }
    return a;
}

int ledger_inclusion_proof(struct ledger *l, MDB_txn *rtxn, uint64_t leaf_index, uint64_t tree_size,
                           json_t **out)
{
    struct ledger__mctx ctx;
    struct merkle_tree *tree = NULL;
    uint64_t size;
    uint8_t proof[MERKLE_PROOF_MAX][32], root[32], lh[32], k[8];
    size_t n = 0;
    MDB_val v;
    int rc = ledger__merkle_tree_at(l, rtxn, &ctx, &tree, &size);
    if (rc != TR_OK)
        return rc;
    if (tree_size == 0)
        tree_size = size;
    rc = TR_EINVAL;
    if (leaf_index >= tree_size || tree_size > size)
        goto done;
    rc = merkle_inclusion_proof(tree, leaf_index, tree_size, proof, &n);
    if (rc == TR_OK)
        rc = merkle_root(tree, tree_size, root);
    ledger__be64(k, leaf_index);
    if (rc == TR_OK)
        rc = ledger__get(l, rtxn, l->leaves, k, 8, &v);
    if (rc != TR_OK)
        goto done;
    merkle_leaf_hash(v.mv_data, v.mv_size, lh);
    char *leaf = tr_malloc(2 * v.mv_size + 1);
    rc = TR_ENOMEM;
    if (!leaf)
        goto done;
    tr_hex_encode(v.mv_data, v.mv_size, leaf);
    *out = json_pack("{sI sI ss so so so}", "leaf_index", (json_int_t)leaf_index, "tree_size",
                     (json_int_t)tree_size, "leaf", leaf, "leaf_hash", ledger__hex_json(lh, 32),
                     "root", ledger__hex_json(root, 32), "proof", ledger_proof_json(proof, n));
    tr_free(leaf);
    rc = *out ? TR_OK : TR_ENOMEM;
done:
    merkle_tree_destroy(tree);
    return rc;
}

int ledger_consistency_proof(struct ledger *l, MDB_txn *rtxn, uint64_t size1, uint64_t size2,
                             json_t **out)
{
    struct ledger__mctx ctx;
    struct merkle_tree *tree = NULL;
    uint64_t size;
    uint8_t proof[MERKLE_PROOF_MAX][32], r1[32], r2[32];
    size_t n = 0;
    int rc = ledger__merkle_tree_at(l, rtxn, &ctx, &tree, &size);
    if (rc != TR_OK)
        return rc;
    if (size2 == 0)
        size2 = size;
    rc = TR_EINVAL;
    if (size1 == 0 || size1 > size2 || size2 > size)
        goto done;
    rc = merkle_consistency_proof(tree, size1, size2, proof, &n);
    if (rc == TR_OK)
        rc = merkle_root(tree, size1, r1);
    if (rc == TR_OK)
        rc = merkle_root(tree, size2, r2);
    if (rc != TR_OK)
        goto done;
    *out = json_pack("{sI sI so so so}", "size1", (json_int_t)size1, "size2", (json_int_t)size2,
                     "root1", ledger__hex_json(r1, 32), "root2", ledger__hex_json(r2, 32), "proof",
                     ledger_proof_json(proof, n));
    rc = *out ? TR_OK : TR_ENOMEM;
done:
    merkle_tree_destroy(tree);
    return rc;
}
