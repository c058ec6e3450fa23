/* audit_store.c — the audit export made from a node's store: the record producer behind
 * GET /v1/ledger/export (driver_export.c) and, with no node running, `treaty audit verify --store
 * DIR`, which exports a stopped node's LMDB store into a temporary file and verifies it. Also the
 * start-up check of the latest blocks (audit_store_check_tail). */
#include "node/audit_store.h"

#include "common/alloc.h"
#include "common/err.h"
#include "node/ledger.pb-c.h"
#include "schema/schema.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>

/* A block or the next checkpoint, read in one short read txn (blocks never change once applied,
 * so the records of one export agree). */
static int export_ledger(struct store *s, struct ledger *l, struct api_export_cursor *cur,
                         uint8_t **out, size_t *len)
{
    MDB_txn *rtxn = NULL;
    struct raft_entry e;
    int rc = store_read_begin(s, &rtxn);
    if (rc != TR_OK)
        return rc;
    if (cur->phase == 1) {
        rc = store_log_entry(s, rtxn, cur->next, &e);
        if (rc == TR_OK)
            rc = ledger_export_block(l, rtxn, cur->next, &e, out, len);
        if (rc == TR_ENOTFOUND)
            rc = TR_ECORRUPT; /* the range was checked: a missing block is damage */
    } else {
        uint64_t h = cur->next;
        rc = ledger_export_checkpoint_next(l, rtxn, &h, cur->to, out, len);
        if (rc == TR_OK)
            cur->next = h + 1;
    }
    store_read_end(s, rtxn);
    return rc;
}

int audit_store_export_next(struct store *s, struct ledger *l, const struct genesis *g,
                            struct api_export_cursor *cur, uint8_t **out, size_t *len)
{
    int rc;
    switch (cur->phase) {
    case 0:
        rc = ledger_export_header(g->network_id, (const uint8_t *)g->canonical, g->canonical_len,
                                  cur->from, cur->to, out, len);
        cur->phase = 1;
        cur->next = cur->from;
        return rc;
    case 1:
        rc = export_ledger(s, l, cur, out, len);
        if (rc == TR_OK) {
            cur->blocks++;
            if (cur->next++ == cur->to) {
                cur->phase = 2;
                cur->next = cur->from;
            }
        }
        return rc;
    case 2:
        rc = export_ledger(s, l, cur, out, len);
        if (rc == TR_OK)
            cur->checkpoints++;
        if (rc != TR_ENOTFOUND)
            return rc;
        cur->phase = 3;
        /* fall through */
    case 3:
        cur->phase = 4;
        return ledger_export_end(cur->blocks, cur->checkpoints, out, len);
    default:
        return TR_ENOTFOUND;
    }
}

/* ---- the start-up check ---- */

static int tail_fail(char *err, size_t errlen, uint64_t h, const char *why)
{
    snprintf(err, errlen, "store damaged at block %llu: %s", (unsigned long long)h, why);
    return TR_ECORRUPT;
}

int audit_store_check_tail(struct store *s, struct ledger *l, uint64_t blocks, char *err,
                           size_t errlen)
{
    if (blocks == 0) /* the check is off */
        return TR_OK;
    MDB_txn *rtxn = NULL;
    struct ledger_head head;
    int rc = store_read_begin(s, &rtxn);
    if (rc != TR_OK) {
        snprintf(err, errlen, "store: %s", store_errmsg(s));
        return rc;
    }
    rc = ledger_head(l, rtxn, &head);
    if (rc != TR_OK) {
        store_read_end(s, rtxn);
        return tail_fail(err, errlen, 0, "the ledger's head record does not decode");
    }
    uint64_t from = head.height > blocks ? head.height - blocks + 1 : 1;
    uint8_t prev[32], hash[32];
    int have_prev = 0;
    /* From the block below the window, so that the window's first block's link is checked too;
     * below that the chain is not walked. */
    for (uint64_t h = from > 1 ? from - 1 : from; rc == TR_OK && h <= head.height; h++) {
        const uint8_t *hb = NULL;
        size_t hl = 0;
        struct raft_entry e;
        rc = ledger_block_header_bytes(l, rtxn, h, &hb, &hl);
        if (rc != TR_OK) {
            rc = tail_fail(err, errlen, h, "its header is missing");
            break;
        }
        Treaty__Ledger__BlockHeader *bh = treaty__ledger__block_header__unpack(NULL, hl, hb);
        if (!bh || bh->height != h || bh->prev_hash.len != 32 || bh->batch_hash.len != 32) {
            treaty__ledger__block_header__free_unpacked(bh, NULL);
            rc = tail_fail(err, errlen, h, "its header does not decode or names another height");
            break;
        }
        int chain_ok = !have_prev || memcmp(bh->prev_hash.data, prev, 32) == 0;
        int batch_ok = store_log_entry(s, rtxn, h, &e) == TR_OK;
        if (batch_ok) {
            uint8_t d[32];
            crypto_hash_sha256(d, e.data ? e.data : (const uint8_t *)"", e.data ? e.len : 0);
            batch_ok = memcmp(d, bh->batch_hash.data, 32) == 0;
        }
        int last_ok = h != head.height || (bh->tree_size == head.tree_size && bh->root.len == 32 &&
                                           memcmp(bh->root.data, head.root, 32) == 0);
        treaty__ledger__block_header__free_unpacked(bh, NULL);
        if (!chain_ok)
            rc = tail_fail(err, errlen, h, "its previous-block hash is not the hash of block h-1");
        else if (!batch_ok)
            rc = tail_fail(err, errlen, h, "its raft entry is missing or not the one it hashed");
        else if (!last_ok)
            rc = tail_fail(err, errlen, h, "the ledger's head record is not this block's header");
        ledger_block_hash(hb, hl, hash);
        memcpy(prev, hash, 32);
        have_prev = 1;
    }
    if (rc == TR_OK && head.height > 0 && memcmp(prev, head.block_hash, 32) != 0)
        rc = tail_fail(err, errlen, head.height, "the head's hash is not its block's");
    if (rc == TR_OK && head.height > 0) {
        uint8_t root[32];
        uint64_t size = 0;
        if (ledger_merkle_root_now(l, rtxn, root, &size) != TR_OK ||
            memcmp(root, head.root, 32) != 0)
            rc = tail_fail(err, errlen, head.height,
                           "the stored Merkle tree's root is not the head's root");
    }
    store_read_end(s, rtxn);
    return rc;
}

/* ---- `treaty audit verify --store DIR` ---- */

static void store_failure(struct audit_report *rep, uint64_t h, const char *why)
{
    rep->ok = 0;
    rep->fail_height = h;
    snprintf(rep->fail_what, sizeof rep->fail_what, "store");
    snprintf(rep->fail_why, sizeof rep->fail_why, "%s", why);
}

int audit_store_ledger_open(struct store *s, const struct genesis *g,
                            const struct schema_network *schema, struct ledger **out, char *err,
                            size_t errlen)
{
    struct ledger_member *founders = tr_calloc(g->n_members ? g->n_members : 1, sizeof *founders);
    if (!founders)
        return TR_ENOMEM;
    for (size_t i = 0; i < g->n_members; i++) {
        snprintf(founders[i].org, sizeof founders[i].org, "%s", g->members[i].org);
        memcpy(founders[i].public_key, g->members[i].public_key, 32);
        founders[i].node_id = g->members[i].node_id;
        snprintf(founders[i].peer, sizeof founders[i].peer, "%s:%u", g->members[i].peer_host,
                 g->members[i].peer_port);
    }
    struct ledger_config lc = {
        .network_id = g->network_id,
        .schema = schema,
        .founders = founders,
        .n_founders = g->n_members,
        .checkpoint_blocks = g->checkpoint_blocks,
        .checkpoint_ms = g->checkpoint_ms,
        .batch_sig = genesis_batch_sig(g),
    };
    int rc;
    if (store_read_only(s)) {
        /* a read transaction, committed: DBI handles opened in it outlive it only so */
        MDB_txn *txn = NULL;
        rc = mdb_txn_begin(store_env(s), NULL, MDB_RDONLY, &txn) == 0 ? TR_OK : TR_EIO;
        if (rc == TR_OK)
            rc = ledger_open(store_env(s), txn, &lc, out, err, errlen);
        if (rc == TR_OK && mdb_txn_commit(txn) != 0)
            rc = TR_EIO;
        else if (rc != TR_OK && txn)
            mdb_txn_abort(txn);
    } else {
        rc = store_write_begin(s);
        if (rc == TR_OK) {
            rc = ledger_open(store_env(s), store_write_txn(s), &lc, out, err, errlen);
            /* committed, as the DBI handles opened in it would close with an abort; on an
             * existing store opening changes nothing, so LMDB writes nothing */
            if (rc == TR_OK)
                rc = store_write_commit(s);
            else
                store_write_abort(s);
        }
    }
    tr_free(founders);
    if (rc != TR_OK && !err[0])
        snprintf(err, errlen, "ledger: %s", store_errmsg(s));
    return rc;
}

int audit_store_open(const char *dir, struct audit_store *as, char *err, size_t errlen)
{
    char path[4200];
    memset(as, 0, sizeof *as);
    snprintf(path, sizeof path, "%s/genesis.json", dir);
    int rc = genesis_load_file(path, &as->genesis, err, errlen);
    struct schema_limits lim;
    schema_limits_default(&lim);
    if (rc == TR_OK)
        rc = schema_network_load(as->genesis->schema_doc, &lim, &as->schema, err, errlen);
    snprintf(path, sizeof path, "%s/data", dir);
    struct store_options ro = {STORE_MAP_SIZE_DEFAULT_BYTES, STORE_MAP_MAX_DEFAULT_BYTES, true, 0};
    if (rc == TR_OK)
        rc = store_open(path, &ro, as->genesis->network_id, &as->store, err, errlen);
    if (rc == TR_OK)
        rc = audit_store_ledger_open(as->store, as->genesis, as->schema, &as->ledger, err, errlen);
    if (rc != TR_OK)
        audit_store_close(as);
    return rc;
}

void audit_store_close(struct audit_store *as)
{
    ledger_destroy(as->ledger);
    store_close(as->store);
    schema_network_destroy(as->schema);
    genesis_destroy(as->genesis);
    memset(as, 0, sizeof *as);
}

int audit_store_verify(const char *dir, const struct audit_trust *trust, struct audit_report *rep,
                       char *err, size_t errlen)
{
    struct audit_store as;
    memset(rep, 0, sizeof *rep);
    int rc = audit_store_open(dir, &as, err, errlen);
    if (rc != TR_OK)
        return rc;
    MDB_txn *rtxn = NULL;
    struct ledger_head head = {0};
    if ((rc = store_read_begin(as.store, &rtxn)) == TR_OK) {
        rc = ledger_head(as.ledger, rtxn, &head);
        store_read_end(as.store, rtxn);
    }
    FILE *f = rc == TR_OK ? tmpfile() : NULL;
    if (rc == TR_OK && !f)
        rc = TR_EIO;
    if (rc == TR_OK && head.height == 0) {
        snprintf(err, errlen, "the store in %s/data holds no block yet", dir);
        rc = TR_EUNSUPPORTED;
    }
    struct api_export_cursor cur = {.from = 1, .to = head.height};
    int prc = TR_OK;
    char why[200] = "";
    uint64_t bad = 0;
    while (rc == TR_OK) {
        uint8_t *rec = NULL;
        size_t len = 0;
        prc = audit_store_export_next(as.store, as.ledger, as.genesis, &cur, &rec, &len);
        if (prc == TR_ENOTFOUND) {
            prc = TR_OK;
            break;
        }
        if (prc == TR_OK && fwrite(rec, 1, len, f) != len)
            rc = TR_EIO;
        tr_free(rec);
        if (prc == TR_ENOMEM)
            rc = prc;
        if (prc != TR_OK) { /* a block the store cannot give: the export stops before it */
            bad = cur.phase == 1 ? cur.next : head.height;
            snprintf(why, sizeof why, "block %llu cannot be read from the store: %s",
                     (unsigned long long)bad, tr_strerror(prc));
            break;
        }
    }
    audit_store_close(&as);
    if (rc == TR_OK && (fflush(f) != 0 || fseek(f, 0, SEEK_SET) != 0))
        rc = TR_EIO;
    if (rc == TR_OK)
        rc = audit_verify_file_ex(f, trust, NULL, rep, err, errlen);
    else if (rc == TR_EIO && !err[0])
        snprintf(err, errlen, "cannot write the temporary export");
    /* the verifier's verdict on the blocks before an unreadable one names damage there more
     * precisely (two swapped headers fail the sequence check at the first of them) */
    if (rc == TR_OK && prc != TR_OK &&
        (rep->ok || rep->fail_height > bad || strcmp(rep->fail_what, "truncated") == 0))
        store_failure(rep, bad, why);
    if (f)
        fclose(f);
    return rc;
}
