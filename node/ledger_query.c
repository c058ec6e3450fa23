/* ledger_query.c — paged reads of records: a record's history (l_history, "type\0key\0" || u64 BE
 * version) and lists of current records of a type (l_records "type\0key", or l_index
 * "type\0field\0" || encoded value || key for one indexed field: equality, ranges, order by it,
 * either direction). Every read is an LMDB cursor positioned with MDB_SET_RANGE in the caller's
 * read txn, so a page costs its own entries, never a full scan. A list cursor is the hex of the
 * last entry's key after the query's fixed prefix. Called by the node backend. */
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

/* One list scan over the keys k of `dbi` with lo <= k < hi, in either direction. Every key
 * starts with prefix[0..plen) (the type, and the field and equal value if any). */
struct lscan {
    struct ledger *l;
    MDB_txn *txn;
    MDB_cursor *cur;
    const struct schema_type *t;
    const struct ledger_list_query *q;
    uint8_t prefix[SCAN_KEY_MAX], lo[SCAN_KEY_MAX], hi[SCAN_KEY_MAX];
    size_t plen, lo_len, hi_len;
    bool by_value; /* keys hold an encoded value before the record key (field without eq) */
    MDB_val k, v;  /* the current entry, borrowed until the txn ends */
    int at;        /* the cursor stands on an entry within [lo, hi) */
};

static int bytes_cmp(const uint8_t *a, size_t an, const uint8_t *b, size_t bn)
{
    int c = memcmp(a, b, an < bn ? an : bn);
    return c != 0 ? c : an < bn ? -1 : an > bn;
}

/* The smallest byte string greater than every string starting with b[0..*n): in place. */
static void succ(uint8_t *b, size_t *n)
{
    while (*n > 0 && b[*n - 1] == 0xff)
        (*n)--;
    TR_ASSERT(*n > 0); /* every prefix here ends in a NUL or a value byte below 0xff */
    b[*n - 1]++;
}

static int lscan_move(struct lscan *s, MDB_cursor_op op)
{
    int mrc = mdb_cursor_get(s->cur, &s->k, &s->v, op);
    s->at = 0;
    if (mrc == MDB_NOTFOUND)
        return TR_OK;
    int rc = ledger__err(s->l, mrc, "ledger scan");
    if (rc == TR_OK)
        s->at = bytes_cmp(s->k.mv_data, s->k.mv_size, s->lo, s->lo_len) >= 0 &&
                bytes_cmp(s->k.mv_data, s->k.mv_size, s->hi, s->hi_len) < 0;
    return rc;
}

/* Positions on the first key >= k[0..n) (ascending) or the last key < k[0..n) (descending). */
static int lscan_seek(struct lscan *s, const uint8_t *k, size_t n)
{
    uint8_t buf[SCAN_KEY_MAX + 1];
    memcpy(buf, k, n);
    s->k.mv_data = buf;
    s->k.mv_size = n;
    int mrc = mdb_cursor_get(s->cur, &s->k, &s->v, MDB_SET_RANGE);
    if (!s->q->desc) {
        if (mrc == MDB_NOTFOUND) {
            s->at = 0;
            return TR_OK;
        }
        int rc = ledger__err(s->l, mrc, "ledger scan");
        return rc == TR_OK ? lscan_move(s, MDB_GET_CURRENT) : rc;
    }
    if (mrc != MDB_SUCCESS && mrc != MDB_NOTFOUND)
        return ledger__err(s->l, mrc, "ledger scan");
    return lscan_move(s, mrc == MDB_NOTFOUND ? MDB_LAST : MDB_PREV);
}

/* Opens the cursor and positions it on the first entry of the page: after (ascending) or before
 * (descending) the cursor position c[0..clen) when given. */
static int lscan_open(struct lscan *s, MDB_dbi dbi, const uint8_t *c, size_t clen)
{
    int rc = ledger__err(s->l, mdb_cursor_open(s->txn, dbi, &s->cur), "ledger cursor");
    if (rc != TR_OK)
        return rc;
    uint8_t from[SCAN_KEY_MAX + 1];
    size_t n = s->plen + clen;
    TR_ASSERT(n < sizeof from);
    memcpy(from, s->prefix, s->plen);
    memcpy(from + s->plen, c, clen);
    if (!s->q->desc) {
        from[n++] = '\0'; /* the least key after the cursor's */
        if (!clen || bytes_cmp(from, n, s->lo, s->lo_len) < 0)
            return lscan_seek(s, s->lo, s->lo_len);
        return lscan_seek(s, from, n);
    }
    if (!clen || bytes_cmp(from, n, s->hi, s->hi_len) > 0)
        return lscan_seek(s, s->hi, s->hi_len);
    return lscan_seek(s, from, n);
}

/* Decodes a list cursor: hex of the entry key after the prefix. For keys holding a value, the
 * value must decode; the record key after it is 1..BATCH_RECORD_KEY_MAX bytes without NUL. */
static int cursor_decode(const struct lscan *s, const char *c, uint8_t *key, size_t *klen)
{
    size_t n = strlen(c), vlen = 0;
    if (n == 0 || n % 2 != 0 || n / 2 > SCAN_KEY_MAX - s->plen ||
        tr_hex_decode(c, n, key, n / 2) != TR_OK)
        return TR_EINVAL;
    if (s->by_value && (vlen = ledger__index_value_len(key, n / 2)) == 0)
        return TR_EINVAL;
    size_t rest = n / 2 - vlen;
    if (rest == 0 || rest > BATCH_RECORD_KEY_MAX || memchr(key + vlen, '\0', rest))
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

/* Appends the encoding of v to b[0..*n); with `whole` a string cut to fit stops at its cut marker
 * (so the bound covers every string sharing the kept bytes). */
static int put_value(uint8_t *b, size_t *n, const json_t *v, bool whole, bool *cut)
{
    size_t len = 0, cut_at = 0;
    int rc = ledger__index_encode(v, b + *n, &len, &cut_at);
    if (rc != TR_OK)
        return rc;
    *cut = cut_at != 0;
    *n += whole && cut_at ? cut_at : len;
    return TR_OK;
}

/* lo and hi of a scan by value: from the bounds, else the bounds' kind, else every value. */
static int lscan_bounds(struct lscan *s)
{
    const struct ledger_list_query *q = s->q;
    bool cut = false;
    memcpy(s->lo, s->prefix, s->plen);
    memcpy(s->hi, s->prefix, s->plen);
    s->lo_len = s->hi_len = s->plen;
    if (!q->lo && !q->hi) {
        succ(s->hi, &s->hi_len);
        return TR_OK;
    }
    uint8_t kind = ledger__index_kind(q->lo ? q->lo : q->hi);
    int rc = TR_OK;
    if (q->lo) {
        rc = put_value(s->lo, &s->lo_len, q->lo, true, &cut);
        if (rc == TR_OK && !cut && !q->lo_incl)
            succ(s->lo, &s->lo_len);
    } else {
        s->lo[s->lo_len++] = kind;
    }
    if (rc == TR_OK && q->hi) {
        rc = put_value(s->hi, &s->hi_len, q->hi, true, &cut);
        if (rc == TR_OK && (cut || q->hi_incl))
            succ(s->hi, &s->hi_len);
    } else if (rc == TR_OK) {
        s->hi[s->hi_len++] = (uint8_t)(kind + 1);
    }
    return rc;
}

/* Prefix and range of the scan: "type\0" (by key), "type\0field\0" || eq (by key within the value)
 * or "type\0field\0" (by value). */
static int lscan_setup(struct lscan *s)
{
    const struct ledger_list_query *q = s->q;
    bool ranged = q->lo || q->hi, cut = false;
    if ((!q->field && (q->eq || ranged || q->desc)) || (q->eq && ranged) ||
        (q->lo && q->hi && ledger__index_kind(q->lo) != ledger__index_kind(q->hi)))
        return TR_EINVAL;
    s->plen = put_str0(s->prefix, 0, s->t->name);
    if (q->field) {
        if (strlen(q->field) > FIELD_MAX || !type_has_index(s->t, q->field))
            return TR_EINVAL;
        s->plen = put_str0(s->prefix, s->plen, q->field);
        s->by_value = !q->eq;
    }
    int rc = q->eq ? put_value(s->prefix, &s->plen, q->eq, false, &cut) : TR_OK;
    if (rc != TR_OK || s->by_value)
        return rc == TR_OK ? lscan_bounds(s) : rc;
    memcpy(s->lo, s->prefix, s->plen);
    memcpy(s->hi, s->prefix, s->plen);
    s->lo_len = s->hi_len = s->plen;
    succ(s->hi, &s->hi_len);
    return TR_OK;
}

/* Whether record `rec` is within the query's bounds, compared exactly (a string cut to fit a key
 * is only ordered by its kept bytes there). */
static bool within_bounds(const struct ledger_list_query *q, const json_t *rec)
{
    const json_t *v = json_object_get(rec, q->field);
    int c;
    if (!v)
        return false;
    if (q->lo && ((c = ledger__index_cmp(v, q->lo)) == 2 || c < 0 || (c == 0 && !q->lo_incl)))
        return false;
    if (q->hi && ((c = ledger__index_cmp(v, q->hi)) == 2 || c > 0 || (c == 0 && !q->hi_incl)))
        return false;
    return true;
}

/* The current record at the scan's position, NULL in *rec if deleted or out of bounds. */
static int list_record(struct lscan *s, json_t **rec)
{
    uint8_t k[TYPE_MAX + 1 + BATCH_RECORD_KEY_MAX + 9];
    size_t kl;
    MDB_val v = s->v; /* the pointer, when the scan is over l_records */
    *rec = NULL;
    if (s->q->field) {
        const uint8_t *suffix = (const uint8_t *)s->k.mv_data + s->plen;
        size_t sl = s->k.mv_size - s->plen, vl = 0;
        if (s->by_value && (vl = ledger__index_value_len(suffix, sl)) == 0)
            return TR_ECORRUPT;
        size_t tl = strlen(s->t->name) + 1;
        if (sl - vl == 0 || sl - vl > BATCH_RECORD_KEY_MAX)
            return TR_ECORRUPT;
        memcpy(k, s->t->name, tl);
        memcpy(k + tl, suffix + vl, sl - vl);
        kl = tl + sl - vl;
        int rc = ledger__get(s->l, s->txn, s->l->records, k, kl, &v);
        if (rc != TR_OK)
            return rc == TR_ENOTFOUND ? TR_ECORRUPT : rc; /* an index entry without its record */
    } else {
        if (s->k.mv_size > TYPE_MAX + 1 + BATCH_RECORD_KEY_MAX)
            return TR_ECORRUPT;
        memcpy(k, s->k.mv_data, s->k.mv_size);
        kl = s->k.mv_size;
    }
    uint64_t version;
    bool deleted;
    int rc = ledger__rec_ptr(s->l, &v, &version, &deleted);
    if (rc != TR_OK || deleted)
        return rc;
    if ((rc = ledger__rec_text(s->l, s->txn, k, kl, version, &v)) != TR_OK)
        return rc;
    json_t *j = parse_stored(&v);
    if (!j)
        return TR_ECORRUPT;
    if ((s->q->lo || s->q->hi) && !within_bounds(s->q, j))
        json_decref(j);
    else
        *rec = j;
    return TR_OK;
}

/* Fills items with up to `limit` live records; last[0..*last_len): the position of the last. */
static int list_page(struct lscan *s, json_t *items, uint8_t *last, size_t *last_len)
{
    int rc = TR_OK;
    while (rc == TR_OK && s->at && json_array_size(items) < s->q->limit) {
        json_t *rec = NULL;
        rc = list_record(s, &rec);
        if (rc == TR_OK && rec) {
            *last_len = s->k.mv_size - s->plen;
            TR_ASSERT(*last_len <= SCAN_KEY_MAX);
            memcpy(last, (const uint8_t *)s->k.mv_data + s->plen, *last_len);
            rc = json_array_append_new(items, rec) == 0 ? TR_OK : TR_ENOMEM;
        }
        if (rc == TR_OK)
            rc = lscan_move(s, s->q->desc ? MDB_PREV : MDB_NEXT);
    }
    return rc;
}

static int list_next_cursor(json_t *doc, const uint8_t *key, size_t len)
{
    char hex[2 * SCAN_KEY_MAX + 1];
    tr_hex_encode(key, len, hex);
    return json_object_set_new(doc, "next_cursor", json_string(hex)) == 0 ? TR_OK : TR_ENOMEM;
}

int ledger_record_list(struct ledger *l, MDB_txn *rtxn, const char *type,
                       const struct ledger_list_query *q, json_t **out)
{
    const struct schema_type *t = type ? schema_network_type_find(l->schema, type) : NULL;
    if (!t)
        return TR_ENOTFOUND;
    if (q->limit < 1 || q->limit > LEDGER_PAGE_MAX)
        return TR_EINVAL;
    struct lscan s = {.l = l, .txn = rtxn, .t = t, .q = q};
    uint8_t from[SCAN_KEY_MAX], last[SCAN_KEY_MAX];
    size_t flen = 0, last_len = 0;
    int rc = lscan_setup(&s);
    if (rc == TR_OK && q->cursor && q->cursor[0])
        rc = cursor_decode(&s, q->cursor, from, &flen);
    if (rc != TR_OK)
        return rc;
    json_t *doc = json_object(), *items = json_array();
    rc = doc && items && json_object_set(doc, "items", items) == 0 ? TR_OK : TR_ENOMEM;
    if (rc == TR_OK)
        rc = lscan_open(&s, q->field ? l->index : l->records, from, flen);
    if (rc == TR_OK)
        rc = list_page(&s, items, last, &last_len);
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
