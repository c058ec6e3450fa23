/* driver_query.c — the API backend's ledger proof reads: GET /v1/tx/{id} with the tx's RFC 9162
 * inclusion proof against the current tree, and the inclusion and consistency proof routes. Each
 * read runs in one LMDB read txn, so a proof and the root it leads to come from one tree. Called
 * on the loop thread through the api_backend table (driver_batch.c). */
#include "common/err.h"
#include "node/driver_int.h"

#include <string.h>

/* The leaf index of tx `id`, from ledger_tx_get's object. */
static int tx_leaf(struct ledger *l, MDB_txn *rtxn, const char *id, json_t **tx, uint64_t *leaf)
{
    int rc = ledger_tx_get(l, rtxn, id, tx);
    if (rc != TR_OK)
        return rc;
    json_int_t li = json_integer_value(json_object_get(*tx, "leaf_index"));
    if (li < 0 || !json_is_integer(json_object_get(*tx, "leaf_index"))) {
        json_decref(*tx);
        *tx = NULL;
        return TR_ECORRUPT;
    }
    *leaf = (uint64_t)li;
    return TR_OK;
}

int driver__backend_tx_get(void *ctx, const char *id, json_t **out)
{
    struct driver *d = ctx;
    MDB_txn *rtxn = NULL;
    json_t *tx = NULL, *proof = NULL;
    uint64_t leaf = 0;
    int rc = store_read_begin(d->store, &rtxn);
    if (rc != TR_OK)
        return rc;
    rc = tx_leaf(d->ledger, rtxn, id, &tx, &leaf);
    if (rc == TR_OK)
        rc = ledger_inclusion_proof(d->ledger, rtxn, leaf, 0, &proof);
    store_read_end(d->store, rtxn);
    if (rc == TR_OK &&
        (json_object_set(tx, "tree_size", json_object_get(proof, "tree_size")) != 0 ||
         json_object_set(tx, "root", json_object_get(proof, "root")) != 0 ||
         json_object_set(tx, "leaf_hash", json_object_get(proof, "leaf_hash")) != 0 ||
         json_object_set(tx, "inclusion_proof", json_object_get(proof, "proof")) != 0))
        rc = TR_ENOMEM;
    json_decref(proof);
    if (rc != TR_OK) {
        json_decref(tx);
        return rc;
    }
    *out = tx;
    return TR_OK;
}

int driver__backend_proof_inclusion(void *ctx, const char *id, uint64_t tree_size, json_t **out)
{
    struct driver *d = ctx;
    MDB_txn *rtxn = NULL;
    json_t *tx = NULL, *proof = NULL;
    uint64_t leaf = 0;
    int rc = store_read_begin(d->store, &rtxn);
    if (rc != TR_OK)
        return rc;
    rc = tx_leaf(d->ledger, rtxn, id, &tx, &leaf);
    json_decref(tx);
    if (rc == TR_OK)
        rc = ledger_inclusion_proof(d->ledger, rtxn, leaf, tree_size, &proof);
    store_read_end(d->store, rtxn);
    if (rc == TR_OK && json_object_set_new(proof, "tx", json_string(id)) != 0)
        rc = TR_ENOMEM;
    if (rc != TR_OK) {
        json_decref(proof);
        return rc;
    }
    *out = proof;
    return TR_OK;
}

int driver__backend_proof_consistency(void *ctx, uint64_t first, uint64_t second, json_t **out)
{
    struct driver *d = ctx;
    MDB_txn *rtxn = NULL;
    int rc = store_read_begin(d->store, &rtxn);
    if (rc != TR_OK)
        return rc;
    rc = ledger_consistency_proof(d->ledger, rtxn, first, second, out);
    store_read_end(d->store, rtxn);
    return rc;
}
