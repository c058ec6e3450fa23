/* ledger_export.c — the ledger's records of the audit export (docs/audit.proto): a block (stored
 * header bytes, its raft entry, its stored leaves) and a checkpoint with its cosignatures. Bytes
 * are copied as stored, never re-encoded, so a verifier hashes what the ledger hashed. Called by
 * the driver's export backend (driver_export.c), one record per call in a short read txn. */
#include "node/ledger_int.h"

#include "common/alloc.h"
#include "common/err.h"
#include "docs/audit.pb-c.h"
#include "node/audit.h"
#include "node/merkle.h"

#include <string.h>

/* Packs r framed (varint length first) into a new buffer. */
static int export_frame(const Treaty__Audit__ExportRecord *r, uint8_t **out, size_t *len)
{
    uint8_t pre[10];
    size_t n = treaty__audit__export_record__get_packed_size(r);
    size_t p = audit_varint_put(pre, n);
    uint8_t *buf = tr_malloc(p + n);
    if (!buf)
        return TR_ENOMEM;
    memcpy(buf, pre, p);
    treaty__audit__export_record__pack(r, buf + p);
    *out = buf;
    *len = p + n;
    return TR_OK;
}

int ledger_export_header(const uint8_t network_id[32], const uint8_t *genesis, size_t genesis_len,
                         uint64_t from, uint64_t to, uint8_t **out, size_t *len)
{
    Treaty__Audit__ExportHeader h = TREATY__AUDIT__EXPORT_HEADER__INIT;
    h.format_version = AUDIT_FORMAT_VERSION;
    h.network_id = (ProtobufCBinaryData){32, (uint8_t *)(uintptr_t)network_id};
    h.genesis = (ProtobufCBinaryData){genesis_len, (uint8_t *)(uintptr_t)genesis};
    h.from = from;
    h.to = to;
    Treaty__Audit__ExportRecord r = TREATY__AUDIT__EXPORT_RECORD__INIT;
    r.kind_case = TREATY__AUDIT__EXPORT_RECORD__KIND_HEADER;
    r.header = &h;
    return export_frame(&r, out, len);
}

int ledger_export_end(uint64_t blocks, uint64_t checkpoints, uint8_t **out, size_t *len)
{
    Treaty__Audit__ExportEnd e = TREATY__AUDIT__EXPORT_END__INIT;
    e.blocks = blocks;
    e.checkpoints = checkpoints;
    Treaty__Audit__ExportRecord r = TREATY__AUDIT__EXPORT_RECORD__INIT;
    r.kind_case = TREATY__AUDIT__EXPORT_RECORD__KIND_END;
    r.end = &e;
    return export_frame(&r, out, len);
}

int ledger_block_header_bytes(struct ledger *l, MDB_txn *rtxn, uint64_t height, const uint8_t **hdr,
                              size_t *len)
{
    uint8_t k[8];
    MDB_val v;
    ledger__be64(k, height);
    int rc = ledger__get(l, rtxn, l->blocks, k, 8, &v);
    if (rc == TR_OK) {
        *hdr = v.mv_data;
        *len = v.mv_size;
    }
    return rc;
}

void ledger_block_hash(const uint8_t *hdr, size_t len, uint8_t out[32])
{
    ledger__block_hash(hdr, len, out);
}

int ledger_merkle_root_now(struct ledger *l, MDB_txn *rtxn, uint8_t root[32], uint64_t *size)
{
    struct ledger__mctx ctx;
    struct merkle_tree *t = NULL;
    int rc = ledger__merkle_tree_at(l, rtxn, &ctx, &t, size);
    if (rc == TR_OK)
        rc = merkle_root(t, *size, root);
    merkle_tree_destroy(t);
    return rc;
}

/* Tree size after block `height` (0 before the first block). */
static int export_tree_size(struct ledger *l, MDB_txn *rtxn, uint64_t height, uint64_t *size)
{
    Treaty__Ledger__BlockHeader *h = NULL;
    *size = 0;
    if (height == 0)
        return TR_OK;
    int rc = ledger__header_get(l, rtxn, height, &h);
    if (rc != TR_OK)
        return rc == TR_ENOTFOUND ? TR_ECORRUPT : rc;
    *size = h->tree_size;
    treaty__ledger__block_header__free_unpacked(h, NULL);
    return TR_OK;
}

int ledger_export_block(struct ledger *l, MDB_txn *rtxn, uint64_t height,
                        const struct raft_entry *e, uint8_t **out, size_t *len)
{
    uint8_t k[8];
    MDB_val hv, v;
    uint64_t first, last;
    ledger__be64(k, height);
    int rc = ledger__get(l, rtxn, l->blocks, k, 8, &hv);
    if (rc == TR_OK)
        rc = export_tree_size(l, rtxn, height - 1, &first);
    if (rc == TR_OK)
        rc = export_tree_size(l, rtxn, height, &last);
    if (rc == TR_OK && last < first)
        rc = TR_ECORRUPT;
    if (rc != TR_OK)
        return rc;
    size_t n = (size_t)(last - first);
    ProtobufCBinaryData *leaves = tr_calloc(n ? n : 1, sizeof *leaves);
    rc = leaves ? TR_OK : TR_ENOMEM;
    for (size_t i = 0; rc == TR_OK && i < n; i++) {
        ledger__be64(k, first + i);
        rc = ledger__get(l, rtxn, l->leaves, k, 8, &v);
        leaves[i] = (ProtobufCBinaryData){v.mv_size, v.mv_data}; /* borrowed until rtxn ends */
        if (rc == TR_ENOTFOUND)
            rc = TR_ECORRUPT;
    }
    if (rc == TR_OK) {
        Treaty__Audit__ExportBlock b = TREATY__AUDIT__EXPORT_BLOCK__INIT;
        b.header = (ProtobufCBinaryData){hv.mv_size, hv.mv_data};
        b.entry_type = (uint32_t)e->type;
        b.entry_data = (ProtobufCBinaryData){e->data ? e->len : 0, (uint8_t *)(uintptr_t)e->data};
        b.first_leaf_index = first;
        b.n_leaves = n;
        b.leaves = leaves;
        Treaty__Audit__ExportRecord r = TREATY__AUDIT__EXPORT_RECORD__INIT;
        r.kind_case = TREATY__AUDIT__EXPORT_RECORD__KIND_BLOCK;
        r.block = &b;
        rc = export_frame(&r, out, len);
    }
    tr_free(leaves);
    return rc;
}

/* The cosignatures stored for the checkpoint keyed `k` (l_cosign: height || org, org order). */
static int export_cosigs(struct ledger *l, MDB_txn *rtxn, const uint8_t k[8],
                         Treaty__Audit__Cosignature **sigs, char (*orgs)[64], size_t max, size_t *n)
{
    MDB_cursor *c;
    MDB_val key = {8, (void *)(uintptr_t)k}, v;
    *n = 0;
    int rc = ledger__err(l, mdb_cursor_open(rtxn, l->cosign, &c), "l_cosign cursor");
    if (rc != TR_OK)
        return rc;
    int mrc = mdb_cursor_get(c, &key, &v, MDB_SET_RANGE);
    for (; mrc == MDB_SUCCESS && *n < max; mrc = mdb_cursor_get(c, &key, &v, MDB_NEXT)) {
        if (key.mv_size <= 8 || memcmp(key.mv_data, k, 8) != 0 || key.mv_size > 8 + 63)
            break;
        Treaty__Audit__Cosignature *s = sigs[*n];
        treaty__audit__cosignature__init(s);
        memcpy(orgs[*n], (const char *)key.mv_data + 8, key.mv_size - 8);
        orgs[*n][key.mv_size - 8] = '\0';
        s->org = orgs[*n];
        s->signature = (ProtobufCBinaryData){v.mv_size, v.mv_data};
        (*n)++;
    }
    mdb_cursor_close(c);
    return mrc == MDB_SUCCESS || mrc == MDB_NOTFOUND ? TR_OK : ledger__err(l, mrc, "l_cosign");
}

#define EXPORT_COSIGS_MAX 64 /* more than the members a network can have (GENESIS_MAX_MEMBERS) */

int ledger_export_checkpoint_next(struct ledger *l, MDB_txn *rtxn, uint64_t *height, uint64_t to,
                                  uint8_t **out, size_t *len)
{
    MDB_cursor *c;
    uint8_t k[8];
    ledger__be64(k, *height);
    MDB_val key = {8, k}, v;
    int rc = ledger__err(l, mdb_cursor_open(rtxn, l->ckpt, &c), "l_ckpt cursor");
    if (rc != TR_OK)
        return rc;
    rc = ledger__err(l, mdb_cursor_get(c, &key, &v, MDB_SET_RANGE), "l_ckpt");
    mdb_cursor_close(c); /* key and v stay valid until rtxn ends (read-only txn) */
    if (rc != TR_OK)
        return rc;
    if (key.mv_size != 8)
        return TR_ECORRUPT;
    uint64_t h = ledger__rd64(key.mv_data);
    if (h > to)
        return TR_ENOTFOUND;
    memcpy(k, key.mv_data, 8);
    Treaty__Audit__Cosignature store[EXPORT_COSIGS_MAX], *sigs[EXPORT_COSIGS_MAX];
    char orgs[EXPORT_COSIGS_MAX][64];
    size_t n = 0;
    for (size_t i = 0; i < EXPORT_COSIGS_MAX; i++)
        sigs[i] = &store[i];
    rc = export_cosigs(l, rtxn, k, sigs, orgs, EXPORT_COSIGS_MAX, &n);
    if (rc != TR_OK)
        return rc;
    Treaty__Audit__ExportCheckpoint cp = TREATY__AUDIT__EXPORT_CHECKPOINT__INIT;
    cp.checkpoint = (ProtobufCBinaryData){v.mv_size, v.mv_data};
    cp.n_cosignatures = n;
    cp.cosignatures = sigs;
    Treaty__Audit__ExportRecord r = TREATY__AUDIT__EXPORT_RECORD__INIT;
    r.kind_case = TREATY__AUDIT__EXPORT_RECORD__KIND_CHECKPOINT;
    r.checkpoint = &cp;
    *height = h;
    return export_frame(&r, out, len);
}
