/* driver_events.c — the node's side of GET /v1/events: the api backend's changes (a block's
 * committed record changes, read from the raft log and the ledger in one read transaction) and
 * the applied height the api's event streams follow. Called on the loop's thread by the api and
 * by driver.c after start-up and after each commit that applied blocks. */
#include "node/driver_int.h"

#include "common/err.h"

int driver__changes(void *ctx, uint64_t height, json_t **out)
{
    struct driver *d = ctx;
    MDB_txn *rtxn = NULL;
    struct raft_entry e;
    int rc = store_read_begin(d->store, &rtxn);
    if (rc != TR_OK)
        return rc;
    rc = store_log_entry(d->store, rtxn, height, &e);
    if (rc == TR_OK)
        rc = ledger_block_changes(d->ledger, rtxn, &e, out);
    store_read_end(d->store, rtxn);
    return rc;
}

int driver__events_start(struct driver *d)
{
    MDB_txn *rtxn = NULL;
    struct ledger_head h;
    int rc = store_read_begin(d->store, &rtxn);
    if (rc != TR_OK)
        return rc;
    rc = ledger_head(d->ledger, rtxn, &h);
    store_read_end(d->store, rtxn);
    if (rc == TR_OK)
        api_events_notify(d->api, h.height);
    return rc;
}
