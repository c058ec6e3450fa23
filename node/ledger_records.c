/* ledger_records.c — record operations of a tx (create, replace, RFC 7396 merge patch, delete):
 * schema validation, ACLs, expected versions, the current record (l_records, "type\0key"), its
 * history (l_history, "type\0key\0" || u64 BE version) and secondary index entries (l_index,
 * "type\0field\0" || encoded value (ledger_index.c) || key). Runs inside the tx's nested txn;
 * deterministic. */
#include "node/ledger_int.h"

#include "common/alloc.h"
#include "common/err.h"
#include "node/batch.h"
#include "schema/schema.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define REC_KEY_MAX (64 + 1 + BATCH_RECORD_KEY_MAX + 1 + 8)

/* One op being applied. */
struct rec_op {
    struct ledger__apply *a;
    MDB_txn *txn;
    const Treaty__Ledger__Tx *tx;
    const Treaty__Ledger__Op *op;
    size_t idx;
    const struct schema_type *type;
    uint8_t key[REC_KEY_MAX];
    size_t klen;
    json_t *cur; /* stored record (with metadata) or NULL */
    int live;
    uint64_t version; /* of cur, 0 if none */
    const char *owner;
    /* The op body is the new body's canonical text, and the metadata members go at `split_at`
     * (rec_new_body): rec_store splices them in instead of serializing the body again. */
    bool spliced;
    size_t split_at;
};

static size_t rec_key(uint8_t *k, const char *type, const char *key)
{
    size_t tl = strlen(type), kl = strlen(key);
    memcpy(k, type, tl + 1);
    memcpy(k + tl + 1, key, kl);
    return tl + 1 + kl;
}

static const char *const meta_fields[] = {"_key",    "_version",    "_owner",  "_tx",
                                          "_height", "_updated_at", "_deleted"};

static int acl_allows(const struct schema_acl_list *list, const char *org, const char *owner)
{
    if (!list->present)
        return 1;
    for (size_t i = 0; i < list->len; i++) {
        if (strcmp(list->orgs[i], "*") == 0 || strcmp(list->orgs[i], org) == 0)
            return 1;
        if (owner && strcmp(list->orgs[i], "owner") == 0 && strcmp(owner, org) == 0)
            return 1;
    }
    return 0;
}

/* RFC 7396 §2 MergePatch(target, patch); takes `target`, returns the result (new reference). */
static json_t *merge_patch(json_t *target, const json_t *patch)
{
    if (!json_is_object(patch)) {
        json_decref(target);
        return json_deep_copy(patch);
    }
    if (!json_is_object(target)) {
        json_decref(target);
        target = json_object();
        if (!target)
            return NULL;
    }
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)(uintptr_t)patch, k, v)
    {
        if (json_is_null(v)) {
            json_object_del(target, k);
            continue;
        }
        json_t *sub = json_object_get(target, k);
        json_incref(sub);
        json_t *merged = merge_patch(sub, v);
        if (!merged || json_object_set_new(target, k, merged) != 0) {
            json_decref(target);
            return NULL;
        }
    }
    return target;
}

/* "2026-11-29T11:52:00.123456Z" from microseconds since the epoch; pure (gmtime_r). */
static void rfc3339(uint64_t us, char out[64])
{
    time_t s = (time_t)(us / 1000000);
    struct tm tm;
    if (!gmtime_r(&s, &tm)) {
        snprintf(out, 64, "1970-01-01T00:00:00.000000Z");
        return;
    }
    snprintf(out, 64, "%04d-%02d-%02dT%02d:%02d:%02d.%06uZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (unsigned)(us % 1000000));
}

/* The apply's timestamp as text, formatted once for all the records that share it. */
static const char *apply_ts_text(struct ledger__apply *a)
{
    if (!a->ts_text[0] || a->ts_text_us != a->ts) {
        rfc3339(a->ts, a->ts_text);
        a->ts_text_us = a->ts;
    }
    return a->ts_text;
}

int ledger__rec_ptr(struct ledger *l, const MDB_val *ptr, uint64_t *version, bool *deleted)
{
    const uint8_t *p = ptr->mv_data;
    if (ptr->mv_size != LEDGER__REC_PTR_LEN || (*version = ledger__rd64(p)) == 0) {
        snprintf(l->errmsg, sizeof l->errmsg, "l_records: a pointer of %zu bytes", ptr->mv_size);
        return TR_ECORRUPT;
    }
    *deleted = (p[8] & LEDGER__REC_DELETED) != 0;
    return TR_OK;
}

int ledger__rec_text(struct ledger *l, MDB_txn *txn, uint8_t *k, size_t klen, uint64_t version,
                     MDB_val *text)
{
    k[klen] = '\0';
    ledger__be64(k + klen + 1, version);
    int rc = ledger__get(l, txn, l->history, k, klen + 9, text);
    if (rc == TR_ENOTFOUND) {
        snprintf(l->errmsg, sizeof l->errmsg,
                 "l_history: version %" PRIu64 " of a current record is missing", version);
        rc = TR_ECORRUPT;
    }
    return rc;
}

int ledger__rec_current(struct ledger *l, MDB_txn *txn, uint8_t *k, size_t klen, uint64_t *version,
                        bool *deleted, MDB_val *text)
{
    MDB_val v;
    int rc = ledger__get(l, txn, l->records, k, klen, &v);
    if (rc == TR_OK)
        rc = ledger__rec_ptr(l, &v, version, deleted);
    if (rc == TR_OK && text)
        rc = ledger__rec_text(l, txn, k, klen, *version, text);
    return rc;
}

static int rec_load(struct rec_op *r)
{
    MDB_val v;
    bool deleted = false;
    int rc = ledger__rec_current(r->a->l, r->txn, r->key, r->klen, &r->version, &deleted, &v);
    if (rc == TR_ENOTFOUND) {
        r->version = 0;
        return TR_OK;
    }
    if (rc != TR_OK)
        return rc;
    r->cur = schema_json_loadb(v.mv_data, v.mv_size, 0, NULL);
    if (!json_is_object(r->cur))
        return TR_ECORRUPT;
    r->owner = json_string_value(json_object_get(r->cur, "_owner"));
    r->live = !deleted;
    return TR_OK;
}

int ledger__records_upgrade(struct ledger *l, MDB_txn *txn)
{
    MDB_val v;
    int rc = ledger__get(l, txn, l->meta, "rec_format", 10, &v);
    if (rc == TR_OK && (v.mv_size != 1 || *(const char *)v.mv_data != '2')) {
        snprintf(l->errmsg, sizeof l->errmsg,
                 "l_meta: record format \"%.*s\" is not one this build reads (2)",
                 (int)(v.mv_size < 16 ? v.mv_size : 16), (const char *)v.mv_data);
        return TR_ECORRUPT;
    }
    if (rc != TR_ENOTFOUND)
        return rc;
    MDB_cursor *c;
    if ((rc = ledger__err(l, mdb_cursor_open(txn, l->records, &c), "l_records cursor")) != TR_OK)
        return rc;
    MDB_val k;
    int mrc = mdb_cursor_get(c, &k, &v, MDB_FIRST);
    for (; rc == TR_OK && mrc == 0; mrc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
        if (v.mv_size == LEDGER__REC_PTR_LEN)
            continue;
        json_t *rec = json_loadb(v.mv_data, v.mv_size, 0, NULL);
        json_int_t version = json_integer_value(json_object_get(rec, "_version"));
        uint8_t ptr[LEDGER__REC_PTR_LEN];
        ledger__be64(ptr, (uint64_t)version);
        ptr[8] = json_is_true(json_object_get(rec, "_deleted")) ? LEDGER__REC_DELETED : 0;
        json_decref(rec);
        if (version <= 0) {
            snprintf(l->errmsg, sizeof l->errmsg, "l_records: a record without its version");
            rc = TR_ECORRUPT;
            break;
        }
        /* The value changes size, so LMDB moves the node: the key must not point into it. */
        uint8_t kc[REC_KEY_MAX];
        if (k.mv_size > sizeof kc) {
            snprintf(l->errmsg, sizeof l->errmsg, "l_records: a key of %zu bytes", k.mv_size);
            rc = TR_ECORRUPT;
            break;
        }
        memcpy(kc, k.mv_data, k.mv_size);
        MDB_val kv = {k.mv_size, kc}, pv = {sizeof ptr, ptr};
        rc = ledger__err(l, mdb_cursor_put(c, &kv, &pv, MDB_CURRENT), "l_records upgrade");
    }
    if (rc == TR_OK && mrc != 0 && mrc != MDB_NOTFOUND)
        rc = ledger__err(l, mrc, "l_records scan");
    mdb_cursor_close(c);
    return rc == TR_OK ? ledger__put(l, txn, l->meta, "rec_format", 10, "2", 1) : rc;
}

int ledger__index_entry(struct ledger *l, MDB_txn *txn, const char *type, const char *key,
                        const char *field, const json_t *val, int add)
{
    uint8_t k[64 + 1 + 64 + 1 + LEDGER_INDEX_VALUE_MAX + BATCH_RECORD_KEY_MAX];
    uint8_t vs[LEDGER_INDEX_VALUE_MAX];
    size_t vl = 0, tl = strlen(type), fl = strlen(field), kl = strlen(key);
    if (!val || tl > 64 || fl > 64 || kl > BATCH_RECORD_KEY_MAX)
        return TR_OK;
    int rc = ledger__index_value(val, vs, &vl);
    if (rc != TR_OK)
        return rc;
    size_t n = 0;
    memcpy(k, type, tl + 1);
    n = tl + 1;
    memcpy(k + n, field, fl + 1);
    n += fl + 1;
    memcpy(k + n, vs, vl);
    n += vl;
    memcpy(k + n, key, kl);
    n += kl;
    return add ? ledger__put(l, txn, l->index, k, n, "", 0) : ledger__del(l, txn, l->index, k, n);
}

/* Removes (add = 0) or adds the index entries of record body `rec`. */
static int index_update(struct rec_op *r, const json_t *rec, int add)
{
    for (size_t i = 0; rec && i < r->type->index_count; i++) {
        const char *f = r->type->indexes[i];
        int rc = ledger__index_entry(r->a->l, r->txn, r->type->name, r->op->key, f,
                                     json_object_get(rec, f), add);
        if (rc != TR_OK)
            return rc;
    }
    return TR_OK;
}

/* Stores `rec` (body, metadata added here) as the record's next history version and points
 * l_records at it. */
static int rec_store(struct rec_op *r, json_t *rec, int deleted)
{
    struct ledger__apply *a = r->a;
    const char *ts = apply_ts_text(a);
    const char *owner = r->live && r->owner ? r->owner : a->org;
    /* The same text either way: the body's members and the metadata, keys sorted (every
     * metadata key sorts after the members before split_at and before the ones from it). */
    json_t *meta = r->spliced ? json_object() : rec;
    if (!meta)
        return TR_ENOMEM;
    json_object_set_new(meta, "_key", json_string(r->op->key));
    json_object_set_new(meta, "_version", json_integer((json_int_t)(r->version + 1)));
    json_object_set_new(meta, "_owner", json_string(owner));
    json_object_set_new(meta, "_tx", json_string(r->tx->id));
    json_object_set_new(meta, "_height", json_integer((json_int_t)a->height));
    json_object_set_new(meta, "_updated_at", json_string(ts));
    if (deleted)
        json_object_set_new(meta, "_deleted", json_true());
    size_t len = 0;
    char *s = r->spliced ? schema_json_splice((const char *)r->op->body.data, r->op->body.len,
                                              r->split_at, meta, &len)
                         : schema_json_dumps(rec, true, &len); /* json_dumps(COMPACT | SORT_KEYS) */
    if (meta != rec)
        json_decref(meta);
    if (!s)
        return TR_ENOMEM;
    uint8_t hk[REC_KEY_MAX];
    memcpy(hk, r->key, r->klen);
    hk[r->klen] = '\0';
    ledger__be64(hk + r->klen + 1, r->version + 1);
    uint8_t ptr[LEDGER__REC_PTR_LEN];
    ledger__be64(ptr, r->version + 1);
    ptr[8] = deleted ? LEDGER__REC_DELETED : 0;
    int rc = ledger__put(a->l, r->txn, a->l->history, hk, r->klen + 9, s, len);
    if (rc == TR_OK)
        rc = ledger__put(a->l, r->txn, a->l->records, r->key, r->klen, ptr, sizeof ptr);
    if (rc == TR_OK && a->keep_text && !deleted && r->tx->n_ops == 1) {
        free(a->text); /* none: one op, one store */
        a->text = s;
        a->text_len = len;
        return rc;
    }
    free(s);
    return rc;
}

/* The body of the current record without metadata (new reference). */
static json_t *rec_body(const json_t *cur)
{
    json_t *b = json_deep_copy(cur);
    for (size_t i = 0; b && i < sizeof meta_fields / sizeof meta_fields[0]; i++)
        json_object_del(b, meta_fields[i]);
    return b;
}

static void rec_key_check(struct rec_op *r, const json_t *body, char *reason)
{
    const json_t *kv = json_object_get(body, r->type->key_field);
    char buf[32];
    const char *have = NULL;
    if (json_is_string(kv))
        have = json_string_value(kv);
    else if (json_is_integer(kv)) {
        snprintf(buf, sizeof buf, "%" JSON_INTEGER_FORMAT, json_integer_value(kv));
        have = buf;
    }
    if (!have || strcmp(have, r->op->key) != 0)
        ledger__reason(reason, "schema: op %zu: key field %s must equal the op key %.64s", r->idx,
                       r->type->key_field, r->op->key);
}

static void rec_field_acls(struct rec_op *r, const json_t *body, char *reason)
{
    const struct schema_acl *acl = &r->type->acl;
    for (size_t i = 0; i < acl->field_count; i++) {
        const struct schema_field_acl *f = &acl->fields[i];
        const json_t *was = json_object_get(r->cur, f->field),
                     *now = json_object_get(body, f->field);
        int same = (!was && !now) || (was && now && json_equal(was, now));
        if (!same && !acl_allows(&f->update, r->a->org, r->owner)) {
            char allows[160];
            schema_acl_list_format(&f->update, allows, sizeof allows);
            ledger__reason(reason,
                           "acl: op %zu: org %s may not update field %s of %s (%s.%s update ACL "
                           "allows %s)",
                           r->idx, r->a->org, f->field, r->type->name, r->type->name, f->field,
                           allows);
            return;
        }
    }
}

/* Parses and merges the op body, validates it; *out is the new body or NULL with a reason. */
static int rec_new_body(struct rec_op *r, json_t **out, char *reason)
{
    const Treaty__Ledger__Op *op = r->op;
    json_error_t jerr;
    *out = NULL;
    /* Every metadata key starts with '_' and sorts after "_". */
    struct schema_json_canon canon = {.split = "_"};
    json_t *in = schema_json_loadb_canon((const char *)op->body.data, op->body.len,
                                         JSON_REJECT_DUPLICATES, &jerr, &canon);
    if (!json_is_object(in)) {
        ledger__reason(reason, "schema: op %zu: body is not a JSON object%s%s", r->idx,
                       in ? "" : ": ", in ? "" : jerr.text);
        json_decref(in);
        return TR_OK;
    }
    json_t *body = in;
    if (op->kind == TREATY__LEDGER__OP__KIND__PATCH) {
        body = merge_patch(rec_body(r->cur), in);
        json_decref(in);
        if (!body)
            return TR_ENOMEM;
    }
    struct schema_errors errs;
    schema_errors_init(&errs, 1);
    int rc = schema_network_validate(r->a->l->schema, r->type, body, &errs);
    if (rc == TR_EINVALID || rc == TR_ELIMIT) {
        const char *path = errs.len && errs.v[0].instance_path[0] ? errs.v[0].instance_path : "/";
        ledger__reason(reason, "schema: op %zu: %s: %s", r->idx, path,
                       errs.len ? errs.v[0].message : "invalid");
    } else if (rc != TR_OK) {
        schema_errors_free(&errs);
        json_decref(body);
        return rc;
    }
    schema_errors_free(&errs);
    if (!reason[0])
        rec_key_check(r, body, reason);
    if (!reason[0] && r->live)
        rec_field_acls(r, body, reason);
    if (reason[0]) {
        json_decref(body);
        return TR_OK;
    }
    *out = body;
    /* The stored text can reuse the op's when it is the body's canonical text and no member's
     * key starts with '_' (such a key sorts among the metadata's, or is one of them: the
     * serializer decides). Keys are sorted, so one would be the first from split_at. */
    const char *text = (const char *)op->body.data;
    r->spliced = op->kind != TREATY__LEDGER__OP__KIND__PATCH && canon.canonical &&
                 !(canon.split_at + 1 < op->body.len && text[canon.split_at] == '"' &&
                   text[canon.split_at + 1] == '_');
    r->split_at = canon.split_at;
    return TR_OK;
}

/* The reason of an ACL refusal, naming the rule: "acl: op 0: org acme may not create Invoice
 * (Invoice create ACL allows globex)". */
static void rec_acl_reason(const struct rec_op *r, const struct schema_acl_list *list,
                           const char *op, char *reason)
{
    char allows[160];
    schema_acl_list_format(list, allows, sizeof allows);
    const char *tn = r->type->name;
    if (strcmp(op, "create") == 0)
        ledger__reason(reason, "acl: op %zu: org %s may not create %s (%s create ACL allows %s)",
                       r->idx, r->a->org, tn, tn, allows);
    else
        ledger__reason(
            reason, "acl: op %zu: org %s may not %s %s/%.64s (%s %s ACL allows %s; owner %s)",
            r->idx, r->a->org, op, tn, r->op->key, tn, op, allows, r->owner ? r->owner : "unknown");
}

/* Existence, ACL and version checks of the op against the loaded record. */
static void rec_check(struct rec_op *r, char *reason)
{
    const struct schema_acl *acl = &r->type->acl;
    const char *org = r->a->org, *tn = r->type->name, *key = r->op->key;
    int kind = (int)r->op->kind;
    if (kind == TREATY__LEDGER__OP__KIND__CREATE) {
        if (r->live)
            ledger__reason(reason, "exists: op %zu: %s/%.64s already exists", r->idx, tn, key);
        else if (!acl_allows(&acl->create, org, NULL))
            rec_acl_reason(r, &acl->create, "create", reason);
    } else if (!r->live) {
        ledger__reason(reason, "notfound: op %zu: %s/%.64s does not exist", r->idx, tn, key);
    } else if (kind == TREATY__LEDGER__OP__KIND__DELETE) {
        if (!acl_allows(&acl->delete_, org, r->owner))
            rec_acl_reason(r, &acl->delete_, "delete", reason);
    } else if (!acl_allows(&acl->update, org, r->owner)) {
        rec_acl_reason(r, &acl->update, "update", reason);
    }
    if (!reason[0] && r->op->expected_version && r->op->expected_version != r->version)
        ledger__reason(reason, "version: op %zu: %s/%.64s is at version %llu, expected %llu",
                       r->idx, tn, key, (unsigned long long)r->version,
                       (unsigned long long)r->op->expected_version);
}

/* Sets `reason` only before its first write (ledger_tx_run relies on it). */
static int rec_op_apply(struct rec_op *r, char *reason)
{
    const Treaty__Ledger__Op *op = r->op;
    size_t kl = strlen(op->key);
    r->type = schema_network_type_find(r->a->l->schema, op->type);
    if (!r->type) {
        ledger__reason(reason, "schema: op %zu: unknown record type %.64s", r->idx, op->type);
        return TR_OK;
    }
    if (op->kind < TREATY__LEDGER__OP__KIND__CREATE ||
        op->kind > TREATY__LEDGER__OP__KIND__DELETE) {
        ledger__reason(reason, "invalid: op %zu: unknown op kind %d", r->idx, (int)op->kind);
        return TR_OK;
    }
    if (kl == 0 || kl > BATCH_RECORD_KEY_MAX) {
        ledger__reason(reason, "invalid: op %zu: record key must be 1 to %d bytes", r->idx,
                       BATCH_RECORD_KEY_MAX);
        return TR_OK;
    }
    r->klen = rec_key(r->key, op->type, op->key);
    int rc = rec_load(r);
    if (rc != TR_OK)
        return rc;
    rec_check(r, reason);
    if (reason[0])
        return TR_OK;
    json_t *body = NULL;
    if (op->kind == TREATY__LEDGER__OP__KIND__DELETE) {
        body = json_object();
        if (!body)
            return TR_ENOMEM;
    } else {
        rc = rec_new_body(r, &body, reason);
        if (rc != TR_OK || reason[0])
            return rc;
    }
    if (r->live)
        rc = index_update(r, r->cur, 0);
    if (rc == TR_OK && op->kind != TREATY__LEDGER__OP__KIND__DELETE)
        rc = index_update(r, body, 1);
    if (rc == TR_OK)
        rc = rec_store(r, body, op->kind == TREATY__LEDGER__OP__KIND__DELETE);
    json_decref(body);
    return rc;
}

int ledger__records_apply(struct ledger__apply *a, MDB_txn *txn, const Treaty__Ledger__Tx *tx,
                          char *reason)
{
    int rc = TR_OK;
    for (size_t i = 0; rc == TR_OK && !reason[0] && i < tx->n_ops; i++) {
        struct rec_op r;
        memset(&r, 0, sizeof r);
        r.a = a;
        r.txn = txn;
        r.tx = tx;
        r.op = tx->ops[i];
        r.idx = i;
        /* every jansson value of the op is made and freed in this scope (json_arena.h) */
        bool arena = json_arena_begin(&a->l->json);
        rc = rec_op_apply(&r, reason);
        json_decref(r.cur);
        if (arena)
            json_arena_end(&a->l->json);
    }
    return rc;
}

/* Whether `needle` (n >= 1 bytes) occurs in `hay`. */
static bool bytes_find(const char *hay, size_t len, const char *needle, size_t n)
{
    const char *p = hay, *end = hay + len;
    while ((size_t)(end - p) >= n && (p = memchr(p, needle[0], (size_t)(end - p) - n + 1))) {
        if (memcmp(p, needle, n) == 0)
            return true;
        p++;
    }
    return false;
}

int ledger_record_get(struct ledger *l, MDB_txn *rtxn, const char *type, const char *key,
                      uint64_t version, char **json)
{
    uint8_t k[REC_KEY_MAX];
    MDB_val v;
    if (!type || !key || strlen(type) > 64 || !key[0] || strlen(key) > BATCH_RECORD_KEY_MAX)
        return TR_ENOTFOUND;
    size_t n = rec_key(k, type, key);
    int rc;
    bool current = version == 0;
    if (current) {
        bool deleted = false;
        rc = ledger__rec_current(l, rtxn, k, n, &version, &deleted, &v);
        if (rc == TR_OK && deleted)
            return TR_ENOTFOUND;
    } else {
        k[n] = '\0';
        ledger__be64(k + n + 1, version);
        rc = ledger__get(l, rtxn, l->history, k, n + 9, &v);
    }
    if (rc != TR_OK)
        return rc;
    /* The current version's pointer says whether it is deleted. Stored records are compact JSON
     * objects (rec_store): a deleted version always holds the exact bytes "_deleted":true (its
     * top-level member). Without those bytes it is live and the parse is skipped; with them (they
     * may also come from a nested member or a key's text) the parse decides. */
    static const char del[] = "\"_deleted\":true";
    const char *text = v.mv_data;
    if (v.mv_size < 2 || text[0] != '{' || text[v.mv_size - 1] != '}')
        return TR_ECORRUPT;
    if (!current && bytes_find(text, v.mv_size, del, sizeof del - 1)) {
        json_t *doc = json_loadb(v.mv_data, v.mv_size, 0, NULL);
        int deleted = !doc || json_is_true(json_object_get(doc, "_deleted"));
        json_decref(doc);
        if (!doc)
            return TR_ECORRUPT;
        if (deleted)
            return TR_ENOTFOUND;
    }
    char *s = malloc(v.mv_size + 1);
    if (!s)
        return TR_ENOMEM;
    memcpy(s, v.mv_data, v.mv_size);
    s[v.mv_size] = '\0';
    *json = s;
    return TR_OK;
}
