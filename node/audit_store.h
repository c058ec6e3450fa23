/* audit_store.h — the audit export made straight from a node's store (node/audit_store.c). */
#ifndef TREATY_NODE_AUDIT_STORE_H
#define TREATY_NODE_AUDIT_STORE_H

#include "api/api.h"
#include "node/audit.h"
#include "node/genesis.h"
#include "node/ledger.h"
#include "node/store.h"

/* The next record of the export described by `cur` (phase 0 header, 1 blocks, 2 checkpoints, 3
 * end), as GET /v1/ledger/export sends it. TR_ENOTFOUND after the end record; TR_ECORRUPT for a
 * block the store cannot give. */
int audit_store_export_next(struct store *s, struct ledger *l, const struct genesis *g,
                            struct api_export_cursor *cur, uint8_t **out, size_t *len);

/* The node's start-up check of its latest `blocks` blocks (0: none) before it serves them: each
 * header decodes and names its height, links to the previous one's hash, and hashes its raft
 * entry; the head record is the last header; the stored Merkle tree has the head's root.
 * TR_ECORRUPT with "store damaged at block H: why" in err. */
int audit_store_check_tail(struct store *s, struct ledger *l, uint64_t blocks, char *err,
                           size_t errlen);

/* Opens the ledger of store `s` as genesis `g` configures it (founding members, checkpoint rule)
 * with `schema`, in one write transaction that is committed (on an existing store nothing is
 * written), or in a read transaction when the store is read-only (audit_store_open's). err gets
 * one sentence on failure. */
int audit_store_ledger_open(struct store *s, const struct genesis *g,
                            const struct schema_network *schema, struct ledger **out, char *err,
                            size_t errlen);

/* A stopped node's directory opened for reading: its genesis, schema, store and ledger. Nothing
 * is written: the store is opened read-only (store_options.read_only). */
struct audit_store {
    struct genesis *genesis;
    struct schema_network *schema;
    struct store *store;
    struct ledger *ledger;
};
int audit_store_open(const char *dir, struct audit_store *as, char *err, size_t errlen);
void audit_store_close(struct audit_store *as);

/* `treaty audit verify --store DIR`: exports blocks 1..head of DIR's store and verifies the export
 * as audit_verify_file_ex does. A block the store cannot give is a failure of category "store" at
 * its height. Returns as audit_verify_file_ex, or the error of opening the store (err says). */
int audit_store_verify(const char *dir, const struct audit_trust *trust, struct audit_report *rep,
                       char *err, size_t errlen);

#endif
