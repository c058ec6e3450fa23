/* routes_write.c — the record writes of the api (POST /v1/data/T, PUT|PATCH|DELETE
 * /v1/data/T/{key}) and the write helpers routes.c and routes_tx.c share (api_int.h): body
 * loading, keys, If-Match, Idempotency-Key, op packing and the submit to the backend, whose
 * answer goes through the read ACLs like any read. Writes are validated against the network
 * schema before they reach the backend. */
#include "api/api_int.h"

#include "common/alloc.h"
#include "common/err.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Keeps only the metadata members ("_version", "_tx", …) of record `rec`. */
static void keep_metadata(json_t *rec)
{
    const char *k;
    void *tmp;
    json_t *v;
    json_object_foreach_safe(rec, tmp, k, v)
    {
        if (k[0] != '_')
            json_object_del(rec, k);
    }
}

/* The answer of a write: the record it wrote goes through the read ACLs like any read (the
 * writing org may be allowed to update fields it may not read). */
void api__submit_done(void *req, int status, json_t *body, const char *etag)
{
    struct api__req *r = req;
    if (r->conn && r->type && status >= 200 && status < 300 && json_is_object(body) &&
        json_object_get(body, "_version") && !api__acl_read(r, r->type, body))
        keep_metadata(body);
    /* A 202 answers Prefer: wait=none: it points at the tx resource that will show the outcome. */
    const char *tx = json_string_value(json_object_get(body, "tx"));
    if (status == 202 && tx && strlen(tx) <= 64) {
        char loc[80];
        snprintf(loc, sizeof loc, "/v1/tx/%s", tx);
        if (api__header_add(r, "Location", loc) != TR_OK ||
            api__header_add(r, "Preference-Applied", "wait=none") != TR_OK) {
            json_decref(body);
            api__problemf(r, 500, NULL, "out of memory");
            return;
        }
    }
    api__respond_json(r, status, body, etag, NULL);
}

void api__submit_done_record(void *req, int status, char *text)
{
    struct api__req *r = req;
    if (r->conn && r->type && status >= 200 && status < 300 &&
        api__answer_stored_record_status(r, r->type, text, status)) {
        free(text);
        return;
    }
    json_t *rec = json_loads(text, 0, NULL);
    free(text);
    char etag[32] = "";
    const json_t *v = json_object_get(rec, "_version");
    if (json_is_integer(v))
        snprintf(etag, sizeof etag, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
    api__submit_done(req, rec ? status : 500, rec, etag[0] ? etag : NULL);
}

int api__key_text(const json_t *k, char key[API__KEY_MAX_BYTES + 1])
{
    if (json_is_string(k)) {
        size_t n = json_string_length(k);
        if (n == 0 || n > API__KEY_MAX_BYTES || memchr(json_string_value(k), '\0', n))
            return TR_EINVAL;
        memcpy(key, json_string_value(k), n + 1);
        return TR_OK;
    }
    if (json_is_integer(k)) {
        snprintf(key, API__KEY_MAX_BYTES + 1, "%" JSON_INTEGER_FORMAT, json_integer_value(k));
        return TR_OK;
    }
    return TR_ENOTFOUND;
}

bool api__patch_keeps_key(const struct schema_type *t, const json_t *patch, const char *key)
{
    const json_t *k = json_object_get(patch, t->key_field);
    char text[API__KEY_MAX_BYTES + 1];
    return !k || (api__key_text(k, text) == TR_OK && strcmp(text, key) == 0);
}

/* The record's key as text; writes a problem and returns -1 if it is unusable. */
static int record_key(struct api__req *r, const struct schema_type *t, const json_t *doc,
                      char key[API__KEY_MAX_BYTES + 1])
{
    int rc = api__key_text(json_object_get(doc, t->key_field), key);
    if (rc == TR_EINVAL)
        api__problemf(r, 422, "bad-key", "key field %s must be 1 to %d bytes without NUL",
                      t->key_field, API__KEY_MAX_BYTES);
    else if (rc != TR_OK) /* validation catches this first; kept so a schema change cannot crash */
        api__problemf(r, 422, "bad-key", "key field %s is missing", t->key_field);
    return rc == TR_OK ? 0 : -1;
}

json_t *api__body_load(struct api__req *r)
{
    char err[256];
    json_t *doc = NULL;
    if (!r->body || r->body_len == 0) {
        api__problemf(r, 400, "bad-json", "the request body is empty; a JSON object is expected");
        return NULL;
    }
    /* The document's size is bounded by limits.http_body_max_bytes already: not again by the
     * parser's default (16 MiB), which would refuse bodies the node is configured to take. */
    struct schema_limits lim;
    schema_limits_default(&lim);
    lim.max_doc_bytes = r->body_len;
    int rc =
        schema_json_load_buffer(r->body, r->body_len, "request body", &lim, &doc, err, sizeof err);
    if (rc == TR_ENOMEM) {
        api__problemf(r, 500, NULL, "out of memory while parsing the request body");
        return NULL;
    }
    if (rc != TR_OK) {
        api__problemf(r, 400, "bad-json", "%s", err);
        return NULL;
    }
    if (!json_is_object(doc)) {
        json_decref(doc);
        api__problemf(r, 400, "bad-json", "the request body must be a JSON object");
        return NULL;
    }
    return doc;
}

/* Parses the body, validates it as a record of t; returns it (new reference) or answers. */
static json_t *record_body(struct api__req *r, const struct schema_type *t)
{
    json_t *doc = api__body_load(r);
    if (!doc)
        return NULL;
    struct schema_errors errs;
    schema_errors_init(&errs, 0);
    int rc = schema_network_validate(api__schema(r), t, doc, &errs);
    if (rc == TR_EINVALID || rc == TR_ELIMIT) {
        json_decref(doc);
        json_t *p = api__problem_validation(t->name, &errs);
        schema_errors_free(&errs);
        if (p)
            api__respond_json(r, 422, p, NULL, NULL);
        else
            api__problemf(r, 500, NULL, "out of memory");
        return NULL;
    }
    schema_errors_free(&errs);
    if (rc != TR_OK) {
        json_decref(doc);
        api__problemf(r, 500, NULL, "validating the %s record: %s", t->name, tr_strerror(rc));
        return NULL;
    }
    return doc;
}

int api__if_match_version(struct api__req *r, uint64_t *v)
{
    *v = 0;
    if (!r->if_match)
        return 0;
    size_t len = r->if_match_len;
    while (len > 0 && (r->if_match[len - 1] == ' ' || r->if_match[len - 1] == '\t'))
        len--;
    if (len < 3 || r->if_match[0] != '"' || r->if_match[len - 1] != '"' ||
        api__parse_u64(r->if_match + 1, len - 2, v) != 0) {
        api__problemf(r, 400, "bad-precondition",
                      "If-Match must be one version entity tag, like \"3\" (with the quotes)");
        return -1;
    }
    return 1;
}

int api__idempotency_check(struct api__req *r)
{
    bool ok = !r->idempotency_key ||
              (r->idempotency_key_len > 0 && r->idempotency_key_len <= API__IDEM_KEY_MAX_BYTES);
    /* Printable ASCII, as a structured-field string is: other bytes (not UTF-8 ones above all,
       which no JSON tx can carry) would fail only once the tx is built. */
    for (size_t i = 0; ok && r->idempotency_key && i < r->idempotency_key_len; i++)
        ok = r->idempotency_key[i] >= 0x20 && r->idempotency_key[i] <= 0x7e;
    if (!ok) {
        api__problemf(r, 400, "bad-idempotency-key",
                      "Idempotency-Key must be 1 to %d printable ASCII characters",
                      API__IDEM_KEY_MAX_BYTES);
        return -1;
    }
    return 0;
}

json_t *api__op_pack(const char *op, const char *type, const char *key, json_t *body,
                     uint64_t expected)
{
    json_t *o = json_pack("{s:s, s:s, s:s}", "op", op, "type", type, "key", key);
    if (!o || (body && json_object_set_new(o, "body", body) != 0) ||
        (expected &&
         json_object_set_new(o, "expected_version", json_integer((json_int_t)expected)) != 0)) {
        if (!o)
            json_decref(body);
        json_decref(o);
        return NULL;
    }
    return o;
}

void api__submit_ops(struct api__req *r, json_t *ops)
{
    json_t *tx = ops ? json_pack("{s:o}", "ops", ops) : NULL;
    if (tx && r->idempotency_key &&
        json_object_set_new(tx, "idempotency_key", json_string(r->idempotency_key)) != 0) {
        json_decref(tx);
        tx = NULL;
    }
    if (tx && api__prefer_wait_none(r) && json_object_set_new(tx, "wait", json_string("none"))) {
        json_decref(tx);
        tx = NULL;
    }
    if (!tx) {
        api__problemf(r, 500, NULL, "out of memory");
        return;
    }
    const struct api_backend *be = api__backend(r);
    /* r may be answered and gone after this */
    be->submit(be->ctx, tx, r, api__submit_done, api__submit_done_record);
    json_decref(tx);
}

/* One op on one record: wraps `op` (taken; NULL means OOM) and submits it. */
static void submit_op(struct api__req *r, json_t *op)
{
    api__submit_ops(r, op ? json_pack("[o]", op) : NULL);
}

/* POST /v1/data/T (path_key NULL: create) and PUT /v1/data/T/{key} (replace). */
void api__record_write(struct api__req *r, const struct schema_type *t, const char *path_key)
{
    uint64_t expected = 0;
    if ((path_key && api__if_match_version(r, &expected) < 0) || api__idempotency_check(r) < 0)
        return;
    json_t *doc = record_body(r, t);
    if (!doc)
        return;
    char key[API__KEY_MAX_BYTES + 1];
    if (record_key(r, t, doc, key) != 0) {
        json_decref(doc);
        return;
    }
    if (path_key && strcmp(key, path_key) != 0) {
        json_decref(doc);
        api__problemf(r, 422, "key-mismatch",
                      "the body's %s \"%s\" differs from the key in the path \"%s\"", t->key_field,
                      key, path_key);
        return;
    }
    submit_op(r, api__op_pack(path_key ? "replace" : "create", t->name, key, doc, expected));
}

/* PATCH /v1/data/T/{key}: a JSON Merge Patch (RFC 7396). The ledger merges it into the current
 * record and validates the result at apply; here it only has to be an object keeping the key. */
void api__record_patch(struct api__req *r, const struct schema_type *t, const char *key)
{
    uint64_t expected = 0;
    if (api__if_match_version(r, &expected) < 0 || api__idempotency_check(r) < 0)
        return;
    json_t *patch = api__body_load(r);
    if (!patch)
        return;
    if (!api__patch_keeps_key(t, patch, key)) {
        json_decref(patch);
        api__problemf(r, 422, "key-mismatch",
                      "the patch changes key field %s; the key in the path is \"%s\"", t->key_field,
                      key);
        return;
    }
    submit_op(r, api__op_pack("patch", t->name, key, patch, expected));
}

/* DELETE /v1/data/T/{key}; a request body, if any, is ignored. */
void api__record_delete(struct api__req *r, const struct schema_type *t, const char *key)
{
    uint64_t expected = 0;
    if (api__if_match_version(r, &expected) < 0 || api__idempotency_check(r) < 0)
        return;
    submit_op(r, api__op_pack("delete", t->name, key, NULL, expected));
}
