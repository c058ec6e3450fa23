/* ledger_query.c — paged reads of records: a record's history (l_history, "type\0key\0" || u64 BE
 * version) and lists of current records of a type (l_records "type\0key", or l_index
 * "type\0field\0value\0key" for one indexed field). Every read is an LMDB cursor positioned with
 * MDB_SET_RANGE in the caller's read txn, so a page costs its own entries, never a full scan.
 * Cursors of list pages are the hex of the last record key returned. Called by the node backend. */
#include "node/ledger_int.h"

#include "common/alloc.h"
#include "common/err.h"
#include "node/batch.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define TYPE_MAX  64
#define FIELD_MAX 64
/* Longest prefix + record key: an l_index key (see ledger_records.c). */
#define SCAN_KEY_MAX                                                                               \
    (TYPE_MAX + 1 + FIELD_MAX + 1 + LEDGER_INDEX_VALUE_MAX + 1 + BATCH_RECORD_KEY_MAX + 8)

/* One forward scan over the keys of `dbi` that start with prefix[0..plen). */
struct scan {
    struct ledger *l;
    MDB_txn *txn;
    MDB_cursor *cur;
    uint8_t prefix[SCAN_KEY_MAX];
    size_t plen;
    MDB_val k, v; /* the current entry, borrowed until the txn ends */
    int at;       /* the cursor stands on an entry with the prefix */
};

static bool scan_has_prefix(const struct scan *s)
{
    return s->k.mv_size >= s->plen && memcmp(s->k.mv_data, s->prefix, s->plen) == 0;
}

/* Moves with `op` (MDB_SET_RANGE from k, or MDB_NEXT); sets s->at. */
static int scan_move(struct scan *s, MDB_cursor_op op)
{
    int mrc = mdb_cursor_get(s->cur, &s->k, &s->v, op);
    s->at = 0;
    if (mrc == MDB_NOTFOUND)
        return TR_OK;
    int rc = ledger__err(s->l, mrc, "ledger scan");
    if (rc == TR_OK)
        s->at = scan_has_prefix(s);
    return rc;
}

/* Opens the scan and positions it on the first key >= prefix || from[0..flen); with `after` set,
 * skips that exact key. */
static int scan_open(struct scan *s, MDB_dbi dbi, const uint8_t *from, size_t flen, int after)
{
    int rc = ledger__err(s->l, mdb_cursor_open(s->txn, dbi, &s->cur), "ledger cursor");
    if (rc != TR_OK)
        return rc;
    uint8_t start[SCAN_KEY_MAX];
    TR_ASSERT(s->plen + flen <= sizeof start);
    memcpy(start, s->prefix, s->plen);
    if (flen)
        memcpy(start + s->plen, from, flen);
    s->k.mv_data = start;
    s->k.mv_size = s->plen + flen;
    rc = scan_move(s, MDB_SET_RANGE);
    if (rc == TR_OK && s->at && after && s->k.mv_size == s->plen + flen &&
        memcmp(s->k.mv_data, start, s->plen + flen) == 0)
        rc = scan_move(s, MDB_NEXT);
    return rc;
}

static size_t put_str0(uint8_t *k, size_t n, const char *s)
{
    size_t len = strlen(s);
    memcpy(k + n, s, len + 1);
    return n + len + 1;
}

static json_t *parse_stored(const MDB_val *v)
{
    json_t *j = json_loadb(v->mv_data, v->mv_size, 0, NULL);
    if (!json_is_object(j)) {
        json_decref(j);
        return NULL;
    }
    return j;
}

/* Appends the stored record JSON in v to arr. */
static int append_stored(json_t *arr, const MDB_val *v)
{
    json_t *j = parse_stored(v);
    if (!j)
        return TR_ECORRUPT;
    return json_array_append_new(arr, j) == 0 ? TR_OK : TR_ENOMEM;
}

static bool key_ok(const char *type, const char *key)
{
    return type && key && type[0] && strlen(type) <= TYPE_MAX && key[0] &&
           strlen(key) <= BATCH_RECORD_KEY_MAX;
}

/* Whether version 1 of the record is stored (every record that ever existed has it). */
static int history_exists(struct ledger *l, MDB_txn *txn, const uint8_t *prefix, size_t plen)
{
    uint8_t k[SCAN_KEY_MAX];
    MDB_val v;
    memcpy(k, prefix, plen);
    ledger__be64(k + plen, 1);
    return ledger__get(l, txn, l->history, k, plen + 8, &v);
}

static int history_pages(struct scan *s, uint32_t limit, json_t *versions, uint64_t *last)
{
    int rc = TR_OK;
    for (uint32_t n = 0; rc == TR_OK && s->at && n < limit; n++) {
        if (s->k.mv_size != s->plen + 8)
            return TR_ECORRUPT;
        *last = ledger__rd64((const uint8_t *)s->k.mv_data + s->plen);
        rc = append_stored(versions, &s->v);
        if (rc == TR_OK)
            rc = scan_move(s, MDB_NEXT);
    }
    return rc;
}

int ledger_record_history(struct ledger *l, MDB_txn *rtxn, const char *type, const char *key,
                          uint64_t after_version, uint32_t limit, json_t **out)
{
    if (limit < 1 || limit > LEDGER_PAGE_MAX || after_version == UINT64_MAX)
        return TR_EINVAL;
    if (!key_ok(type, key))
        return TR_ENOTFOUND;
    struct scan s = {.l = l, .txn = rtxn};
    s.plen = put_str0(s.prefix, put_str0(s.prefix, 0, type), key);
    uint8_t from[8];
    ledger__be64(from, after_version + 1);
    json_t *doc = json_object(), *versions = json_array();
    uint64_t last = 0;
    int rc = doc && versions && json_object_set(doc, "versions", versions) == 0 ? TR_OK : TR_ENOMEM;
    if (rc == TR_OK)
        rc = scan_open(&s, l->history, from, 8, 0);
    if (rc == TR_OK)
        rc = history_pages(&s, limit, versions, &last);
    if (rc == TR_OK && json_array_size(versions) == 0)
        rc = history_exists(l, rtxn, s.prefix, s.plen);
    if (rc == TR_OK && s.at &&
        json_object_set_new(doc, "next_after_version", json_integer((json_int_t)last)) != 0)
        rc = TR_ENOMEM;
    if (s.cur)
        mdb_cursor_close(s.cur);
    json_decref(versions);
    if (rc != TR_OK) {
        json_decref(doc);
        return rc;
    }
    *out = doc;
    return TR_OK;
}

/* Decodes a list cursor (hex of a record key: 1..BATCH_RECORD_KEY_MAX bytes without NUL). */
static int cursor_decode(const char *c, uint8_t *key, size_t *klen)
{
    size_t n = strlen(c);
    if (n == 0 || n % 2 != 0 || n / 2 > BATCH_RECORD_KEY_MAX ||
        tr_hex_decode(c, n, key, n / 2) != TR_OK || memchr(key, '\0', n / 2))
        return TR_EINVAL;
    *klen = n / 2;
    return TR_OK;
}

static bool type_has_index(const struct schema_type *t, const char *field)
{
    for (size_t i = 0; i < t->index_count; i++)
        if (strcmp(t->indexes[i], field) == 0)
            return true;
    return false;
}

/* The scan prefix of a list: "type\0", or "type\0field\0value\0" with a filter. */
static int list_prefix(struct scan *s, const struct schema_type *t, const char *field,
                       const json_t *value)
{
    s->plen = put_str0(s->prefix, 0, t->name);
    if (!field)
        return TR_OK;
    if (!value || strlen(field) > FIELD_MAX || !type_has_index(t, field))
        return TR_EINVAL;
    char vs[LEDGER_INDEX_VALUE_MAX + 1];
    int rc = ledger__index_value(value, vs);
    if (rc != TR_OK)
        return rc;
    s->plen = put_str0(s->prefix, put_str0(s->prefix, s->plen, field), vs);
    return TR_OK;
}

/* The current record at the scan's position (its key after the prefix), NULL in *rec if deleted.
 */
static int list_record(struct scan *s, const struct schema_type *t, bool indexed, json_t **rec)
{
    MDB_val v = s->v;
    *rec = NULL;
    if (indexed) {
        uint8_t k[TYPE_MAX + 1 + BATCH_RECORD_KEY_MAX];
        size_t kl = s->k.mv_size - s->plen, tl = strlen(t->name) + 1;
        if (kl == 0 || kl > BATCH_RECORD_KEY_MAX)
            return TR_ECORRUPT;
        memcpy(k, t->name, tl);
        memcpy(k + tl, (const uint8_t *)s->k.mv_data + s->plen, kl);
        int rc = ledger__get(s->l, s->txn, s->l->records, k, tl + kl, &v);
        if (rc != TR_OK)
            return rc == TR_ENOTFOUND ? TR_ECORRUPT : rc; /* an index entry without its record */
    }
    json_t *j = parse_stored(&v);
    if (!j)
        return TR_ECORRUPT;
    if (json_is_true(json_object_get(j, "_deleted")))
        json_decref(j);
    else
        *rec = j;
    return TR_OK;
}

/* Fills items with up to `limit` live records; last_key and last_len: the last key returned. */
static int list_page(struct scan *s, const struct schema_type *t, bool indexed, uint32_t limit,
                     json_t *items, uint8_t *last_key, size_t *last_len)
{
    int rc = TR_OK;
    while (rc == TR_OK && s->at && json_array_size(items) < limit) {
        json_t *rec = NULL;
        rc = list_record(s, t, indexed, &rec);
        if (rc == TR_OK && rec) {
            *last_len = s->k.mv_size - s->plen;
            TR_ASSERT(*last_len <= BATCH_RECORD_KEY_MAX);
            memcpy(last_key, (const uint8_t *)s->k.mv_data + s->plen, *last_len);
            rc = json_array_append_new(items, rec) == 0 ? TR_OK : TR_ENOMEM;
        }
        if (rc == TR_OK)
            rc = scan_move(s, MDB_NEXT);
    }
    return rc;
}

static int list_next_cursor(json_t *doc, const uint8_t *key, size_t len)
{
    char hex[2 * BATCH_RECORD_KEY_MAX + 1];
    tr_hex_encode(key, len, hex);
    return json_object_set_new(doc, "next_cursor", json_string(hex)) == 0 ? TR_OK : TR_ENOMEM;
}

int ledger_record_list(struct ledger *l, MDB_txn *rtxn, const char *type, const char *field,
                       const json_t *value, const char *cursor, uint32_t limit, json_t **out)
{
    const struct schema_type *t = type ? schema_network_type_find(l->schema, type) : NULL;
    if (!t)
        return TR_ENOTFOUND;
    uint8_t from[BATCH_RECORD_KEY_MAX], last[BATCH_RECORD_KEY_MAX];
    size_t flen = 0, last_len = 0;
    if (limit < 1 || limit > LEDGER_PAGE_MAX ||
        (cursor && cursor[0] && cursor_decode(cursor, from, &flen) != TR_OK))
        return TR_EINVAL;
    struct scan s = {.l = l, .txn = rtxn};
    int rc = list_prefix(&s, t, field, value);
    if (rc != TR_OK)
        return rc;
    json_t *doc = json_object(), *items = json_array();
    rc = doc && items && json_object_set(doc, "items", items) == 0 ? TR_OK : TR_ENOMEM;
    if (rc == TR_OK)
        rc = scan_open(&s, field ? l->index : l->records, from, flen, flen > 0);
    if (rc == TR_OK)
        rc = list_page(&s, t, field != NULL, limit, items, last, &last_len);
    if (rc == TR_OK && s.at && last_len)
        rc = list_next_cursor(doc, last, last_len);
    if (s.cur)
        mdb_cursor_close(s.cur);
    json_decref(items);
    if (rc != TR_OK) {
        json_decref(doc);
        return rc;
    }
    *out = doc;
    return TR_OK;
}
