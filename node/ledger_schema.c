/* ledger_schema.c — the schema in force and its evolution by governance (DESIGN §3.10). Version 1
 * is the genesis schema (ledger_config.schema). A SCHEMA proposal that a majority approves stores
 * the next version in l_meta "schema" (u64 BE version || the document's compact JSON, keys sorted)
 * when every difference from the schema in force is compatible; indexes new to a type are filled
 * from its current records in the same block. Compiled versions stay alive until ledger_destroy,
 * so a type pointer taken from any version stays valid (reads in flight, event filters). */
#include "node/ledger_int.h"

#include "common/alloc.h"
#include "common/err.h"
#include "node/batch.h"

#include <stdio.h>
#include <string.h>

struct ledger__schema_version {
    uint64_t version;
    struct schema_network *net;
};

/* Compiles the document text `doc[0..len)`; on failure writes why into reason. */
static int doc_compile(const uint8_t *doc, size_t len, struct schema_network **out, char *reason)
{
    struct schema_limits lim;
    schema_limits_default(&lim);
    char err[200];
    json_t *d = NULL;
    int rc = schema_json_load_buffer((const char *)doc, len, "proposed schema", &lim, &d, err,
                                     sizeof err);
    if (rc == TR_OK)
        rc = schema_network_load(d, &lim, out, err, sizeof err); /* keeps its own copy */
    json_decref(d);
    if (rc == TR_ENOMEM)
        return rc;
    if (rc != TR_OK)
        ledger__reason(reason, "governance: schema refused: %s", err);
    return TR_OK;
}

/* Sets reason when `next` is not a compatible evolution of the schema in force. */
static int schema_compatible(struct ledger *l, const struct schema_network *next, char *reason)
{
    struct schema_changes ch = {0};
    if (schema_diff(l->schema, next, &ch) != TR_OK)
        return TR_ENOMEM;
    size_t n_breaking = 0;
    const struct schema_change *first = NULL;
    for (size_t i = 0; i < ch.len; i++) {
        if (ch.v[i].kind == SCHEMA_CHANGE_BREAKING) {
            if (!first)
                first = &ch.v[i];
            n_breaking++;
        }
    }
    if (first)
        ledger__reason(reason, "governance: schema change is breaking (%zu change%s): %s: %s: %s",
                       n_breaking, n_breaking == 1 ? "" : "s", first->path, first->rule,
                       first->message);
    else if (ch.len == 0)
        ledger__reason(reason, "governance: the proposed schema equals the schema in force");
    schema_changes_free(&ch);
    return TR_OK;
}

int ledger__schema_check(struct ledger *l, const ProtobufCBinaryData *doc, char *reason)
{
    if (!doc->len) {
        ledger__reason(reason, "governance: SCHEMA needs a schema document");
        return TR_OK;
    }
    struct schema_network *next = NULL;
    int rc = doc_compile(doc->data, doc->len, &next, reason);
    if (rc == TR_OK && next)
        rc = schema_compatible(l, next, reason);
    schema_network_destroy(next);
    return rc;
}

static bool type_has_index(const struct schema_type *t, const char *field)
{
    for (size_t i = 0; t && i < t->index_count; i++)
        if (strcmp(t->indexes[i], field) == 0)
            return true;
    return false;
}

/* Adds the l_index entries of (type, field) for every current record of `type`. */
static int index_backfill(struct ledger *l, MDB_txn *txn, const char *type, const char *field)
{
    MDB_cursor *c;
    int rc = ledger__err(l, mdb_cursor_open(txn, l->records, &c), "l_records cursor");
    if (rc != TR_OK)
        return rc;
    size_t tl = strlen(type);
    MDB_val k = {tl + 1, (void *)(uintptr_t)type}, v;
    int mrc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
    while (rc == TR_OK && mrc == 0 && k.mv_size > tl + 1 && memcmp(k.mv_data, type, tl + 1) == 0) {
        uint8_t rk[64 + 1 + BATCH_RECORD_KEY_MAX + 9];
        size_t kl = k.mv_size - tl - 1;
        if (kl > BATCH_RECORD_KEY_MAX || tl > 64) {
            snprintf(l->errmsg, sizeof l->errmsg, "l_records: a %s key is too long", type);
            rc = TR_ECORRUPT;
            break;
        }
        memcpy(rk, k.mv_data, k.mv_size);
        uint64_t version;
        bool deleted;
        MDB_val text;
        rc = ledger__rec_ptr(l, &v, &version, &deleted);
        if (rc == TR_OK && !deleted)
            rc = ledger__rec_text(l, txn, rk, k.mv_size, version, &text);
        if (rc != TR_OK)
            break;
        if (!deleted) {
            json_t *rec = json_loadb(text.mv_data, text.mv_size, 0, NULL);
            if (!rec) {
                snprintf(l->errmsg, sizeof l->errmsg, "l_history: a %s record does not decode",
                         type);
                rc = TR_ECORRUPT;
                break;
            }
            char key[BATCH_RECORD_KEY_MAX + 1];
            memcpy(key, (const char *)k.mv_data + tl + 1, kl);
            key[kl] = '\0';
            rc = ledger__index_entry(l, txn, type, key, field, json_object_get(rec, field), 1);
            json_decref(rec);
        }
        mrc = mdb_cursor_get(c, &k, &v, MDB_NEXT);
    }
    if (rc == TR_OK && mrc != 0 && mrc != MDB_NOTFOUND)
        rc = ledger__err(l, mrc, "l_records scan");
    mdb_cursor_close(c);
    return rc;
}

static int versions_push(struct ledger *l, uint64_t version, struct schema_network *net)
{
    struct ledger__schema_version *v =
        tr_realloc(l->schemas, (l->n_schemas + 1) * sizeof *l->schemas);
    if (!v)
        return TR_ENOMEM;
    l->schemas = v;
    l->schemas[l->n_schemas++] = (struct ledger__schema_version){version, net};
    return TR_OK;
}

static void schema_use(struct ledger *l, uint64_t version)
{
    l->schema_version = version;
    l->schema = l->genesis_schema;
    for (size_t i = 0; i < l->n_schemas; i++)
        if (l->schemas[i].version == version)
            l->schema = l->schemas[i].net;
}

static void meta_key(MDB_val *k)
{
    k->mv_data = (void *)(uintptr_t) "schema";
    k->mv_size = 6;
}

int ledger__schema_effect(struct ledger__apply *a, MDB_txn *txn, const ProtobufCBinaryData *doc,
                          char *reason)
{
    struct ledger *l = a->l;
    struct schema_network *next = NULL;
    int rc = doc_compile(doc->data, doc->len, &next, reason);
    if (rc == TR_OK && next)
        rc = schema_compatible(l, next, reason);
    if (rc != TR_OK || reason[0])
        goto fail;
    for (size_t i = 0; rc == TR_OK && i < schema_network_type_count(next); i++) {
        const struct schema_type *t = schema_network_type_at(next, i);
        const struct schema_type *old = schema_network_type_find(l->schema, t->name);
        for (size_t j = 0; old && rc == TR_OK && j < t->index_count; j++)
            if (!type_has_index(old, t->indexes[j]))
                rc = index_backfill(l, txn, t->name, t->indexes[j]);
    }
    if (rc != TR_OK)
        goto fail;
    uint64_t version = l->schema_version + 1;
    uint8_t *buf = tr_malloc(8 + doc->len);
    if (!buf) {
        rc = TR_ENOMEM;
        goto fail;
    }
    ledger__be64(buf, version);
    memcpy(buf + 8, doc->data, doc->len);
    MDB_val k;
    meta_key(&k);
    rc = ledger__put(l, txn, l->meta, k.mv_data, k.mv_size, buf, 8 + doc->len);
    tr_free(buf);
    if (rc == TR_OK)
        rc = versions_push(l, version, next);
    if (rc != TR_OK)
        goto fail;
    schema_use(l, version);
    return TR_OK;
fail:
    schema_network_destroy(next);
    return rc;
}

int ledger__schema_load(struct ledger *l, MDB_txn *txn)
{
    MDB_val k, v;
    meta_key(&k);
    int rc = ledger__get(l, txn, l->meta, k.mv_data, k.mv_size, &v);
    if (rc == TR_ENOTFOUND) {
        schema_use(l, 1);
        return TR_OK;
    }
    if (rc != TR_OK)
        return rc;
    if (v.mv_size <= 8) {
        snprintf(l->errmsg, sizeof l->errmsg, "l_meta: schema does not decode");
        return TR_ECORRUPT;
    }
    uint64_t version = ledger__rd64(v.mv_data);
    for (size_t i = 0; i < l->n_schemas; i++) {
        if (l->schemas[i].version == version) {
            schema_use(l, version);
            return TR_OK;
        }
    }
    char reason[LEDGER_REASON_MAX] = "";
    struct schema_network *net = NULL;
    rc = doc_compile((const uint8_t *)v.mv_data + 8, v.mv_size - 8, &net, reason);
    if (rc == TR_OK && reason[0]) {
        snprintf(l->errmsg, sizeof l->errmsg, "l_meta: stored schema version %llu: %.200s",
                 (unsigned long long)version, reason);
        return TR_ECORRUPT;
    }
    if (rc == TR_OK)
        rc = versions_push(l, version, net);
    if (rc != TR_OK) {
        schema_network_destroy(net);
        return rc;
    }
    schema_use(l, version);
    return TR_OK;
}

void ledger__schema_free(struct ledger *l)
{
    for (size_t i = 0; i < l->n_schemas; i++)
        schema_network_destroy(l->schemas[i].net);
    tr_free(l->schemas);
    l->schemas = NULL;
    l->n_schemas = 0;
}

const struct schema_network *ledger_schema(const struct ledger *l, uint64_t *version)
{
    if (version)
        *version = l->schema_version;
    return l->schema;
}
