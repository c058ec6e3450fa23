/* driver_export.c — the api backend of GET /v1/ledger/export (docs/audit.proto): the range
 * check and the records, one per call, each read in its own short LMDB read txn (blocks never
 * change once applied, so the records of one export agree). Called on the loop thread by
 * api/export.c. */
#include "common/alloc.h"
#include "common/err.h"
#include "docs/audit.pb-c.h"
#include "node/audit.h"
#include "node/driver_int.h"

#include <string.h>

int driver__export_range(void *ctx, uint64_t from, uint64_t *to)
{
    struct driver *d = ctx;
    MDB_txn *rtxn = NULL;
    struct ledger_head h;
    int rc = store_read_begin(d->store, &rtxn);
    if (rc != TR_OK)
        return rc;
    rc = ledger_head(d->ledger, rtxn, &h);
    store_read_end(d->store, rtxn);
    if (rc != TR_OK)
        return rc;
    if (*to == 0)
        *to = h.height;
    return from >= 1 && from <= *to && *to <= h.height ? TR_OK : TR_EINVAL;
}

static int export_pack(const Treaty__Audit__ExportRecord *r, uint8_t **out, size_t *len)
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

static int export_header(struct driver *d, const struct api_export_cursor *cur, uint8_t **out,
                         size_t *len)
{
    Treaty__Audit__ExportHeader h = TREATY__AUDIT__EXPORT_HEADER__INIT;
    h.format_version = AUDIT_FORMAT_VERSION;
    h.network_id = (ProtobufCBinaryData){32, d->genesis->network_id};
    h.genesis = (ProtobufCBinaryData){d->genesis->canonical_len, (uint8_t *)d->genesis->canonical};
    h.from = cur->from;
    h.to = cur->to;
    Treaty__Audit__ExportRecord r = TREATY__AUDIT__EXPORT_RECORD__INIT;
    r.kind_case = TREATY__AUDIT__EXPORT_RECORD__KIND_HEADER;
    r.header = &h;
    return export_pack(&r, out, len);
}

static int export_end(const struct api_export_cursor *cur, uint8_t **out, size_t *len)
{
    Treaty__Audit__ExportEnd e = TREATY__AUDIT__EXPORT_END__INIT;
    e.blocks = cur->blocks;
    e.checkpoints = cur->checkpoints;
    Treaty__Audit__ExportRecord r = TREATY__AUDIT__EXPORT_RECORD__INIT;
    r.kind_case = TREATY__AUDIT__EXPORT_RECORD__KIND_END;
    r.end = &e;
    return export_pack(&r, out, len);
}

/* Phases 1 and 2: a block or a checkpoint, read in one read txn. */
static int export_ledger(struct driver *d, struct api_export_cursor *cur, uint8_t **out,
                         size_t *len)
{
    MDB_txn *rtxn = NULL;
    struct raft_entry e;
    int rc = store_read_begin(d->store, &rtxn);
    if (rc != TR_OK)
        return rc;
    if (cur->phase == 1) {
        rc = store_log_entry(d->store, rtxn, cur->next, &e);
        if (rc == TR_OK)
            rc = ledger_export_block(d->ledger, rtxn, cur->next, &e, out, len);
        if (rc == TR_ENOTFOUND)
            rc = TR_ECORRUPT; /* the range was checked: a missing block is damage */
    } else {
        uint64_t h = cur->next;
        rc = ledger_export_checkpoint_next(d->ledger, rtxn, &h, cur->to, out, len);
        if (rc == TR_OK)
            cur->next = h + 1;
    }
    store_read_end(d->store, rtxn);
    return rc;
}

int driver__export_next(void *ctx, struct api_export_cursor *cur, uint8_t **out, size_t *len)
{
    struct driver *d = ctx;
    int rc;
    switch (cur->phase) {
    case 0:
        rc = export_header(d, cur, out, len);
        cur->phase = 1;
        cur->next = cur->from;
        return rc;
    case 1:
        rc = export_ledger(d, cur, out, len);
        if (rc == TR_OK) {
            cur->blocks++;
            if (cur->next++ == cur->to) {
                cur->phase = 2;
                cur->next = cur->from;
            }
        }
        return rc;
    case 2:
        rc = export_ledger(d, cur, out, len);
        if (rc == TR_OK)
            cur->checkpoints++;
        if (rc != TR_ENOTFOUND)
            return rc;
        cur->phase = 3;
        /* fall through */
    case 3:
        cur->phase = 4;
        return export_end(cur, out, len);
    default:
        return TR_ENOTFOUND;
    }
}
