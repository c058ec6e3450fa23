/* driver_export.c — the api backend of GET /v1/ledger/export (docs/audit.proto): the range
 * check and the records, one per call, each read in its own short LMDB read txn (blocks never
 * change once applied, so the records of one export agree). Called on the loop thread by
 * api/export.c. */
#include "common/alloc.h"
#include "common/err.h"
#include "node/audit_store.h"
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

int driver__export_next(void *ctx, struct api_export_cursor *cur, uint8_t **out, size_t *len)
{
    struct driver *d = ctx;
    return audit_store_export_next(d->store, d->ledger, d->genesis, cur, out, len);
}
