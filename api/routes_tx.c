/* routes_tx.c — POST /v1/tx (DESIGN §4): one atomic tx of 1 to API__TX_OPS_MAX record ops. The
 * API checks what it can see without the ledger (op fields, types, keys, create and replace bodies
 * against the schema) and refuses the whole tx on any problem, nothing submitted; the ledger
 * applies all ops or none. Called by routes.c with a POST; answers now or through submit. Also
 * the Prefer header (RFC 7240) that every write reads for wait=none. */
#include "api/api_int.h"

#include "common/err.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

static const char *const OP_FIELDS[] = {"op", "type", "key", "body", "expected_version"};

/* The op member that is not one of OP_FIELDS, or NULL. */
static const char *op_unknown_field(const json_t *op)
{
    const char *name;
    const json_t *v;
    json_object_foreach((json_t *)op, name, v)
    {
        bool known = false;
        for (size_t j = 0; j < sizeof OP_FIELDS / sizeof OP_FIELDS[0]; j++)
            known = known || strcmp(name, OP_FIELDS[j]) == 0;
        if (!known)
            return name;
    }
    return NULL;
}

/* One op as read from the request, before its body is checked. */
struct tx_op {
    const char *op; /* create, replace, patch or delete */
    const struct schema_type *t;
    json_t *body; /* borrowed from the request document; NULL for delete */
    uint64_t expected;
    bool has_key;
    char key[API__KEY_MAX_BYTES + 1];
};

/* Reads the fields of ops[i] into `o`. NULL, or a sentence (in `why`) saying what is wrong. */
static const char *op_read(struct api__req *r, const json_t *in, struct tx_op *o, char *why,
                           size_t whylen)
{
    const char *unknown = op_unknown_field(in);
    o->op = json_string_value(json_object_get(in, "op"));
    const char *type = json_string_value(json_object_get(in, "type"));
    const json_t *k = json_object_get(in, "key"), *ev = json_object_get(in, "expected_version");
    o->body = json_object_get(in, "body");
    bool create = o->op && strcmp(o->op, "create") == 0,
         del = o->op && strcmp(o->op, "delete") == 0;
    if (unknown)
        snprintf(why, whylen, "unknown field \"%.64s\" (known: %s)", unknown,
                 "op, type, key, body, expected_version");
    else if (!create && !del && !(o->op && (!strcmp(o->op, "replace") || !strcmp(o->op, "patch"))))
        snprintf(why, whylen, "op must be \"create\", \"replace\", \"patch\" or \"delete\"");
    else if (!type || !(o->t = schema_network_type_find(api__schema(r), type)))
        snprintf(why, whylen, "no record type named \"%.64s\"", type ? type : "");
    else if (k && api__key_text(k, o->key) != TR_OK)
        snprintf(why, whylen, "key must be a string of 1 to %d bytes without NUL, or an integer",
                 API__KEY_MAX_BYTES);
    else if (!k && !create)
        snprintf(why, whylen, "a %s op needs a key", o->op);
    else if (ev && (!json_is_integer(ev) || json_integer_value(ev) < 1 || create))
        snprintf(why, whylen, "expected_version must be an integer >= 1 (not on a create)");
    else if (del ? o->body != NULL : !json_is_object(o->body))
        snprintf(why, whylen, del ? "a delete op takes no body" : "body must be a JSON object");
    else
        why[0] = '\0';
    o->has_key = k != NULL;
    o->expected = ev ? (uint64_t)json_integer_value(ev) : 0;
    return why[0] ? why : NULL;
}

/* Appends the violations of `errs` to `errors` with instancePath under /ops/i/body. */
static int errors_append(json_t *errors, size_t i, const struct schema_errors *errs)
{
    json_t *list = schema_errors_to_json(errs);
    size_t j;
    json_t *e;
    int rc = list ? TR_OK : TR_ENOMEM;
    json_array_foreach(list, j, e)
    {
        char path[512];
        snprintf(path, sizeof path, "/ops/%zu/body%s", i,
                 json_string_value(json_object_get(e, "instancePath")));
        if (json_object_set_new(e, "instancePath", json_string(path)) != 0 ||
            json_array_append(errors, e) != 0)
            rc = TR_ENOMEM;
    }
    json_decref(list);
    return rc;
}

/* Validates a create or replace body; its violations go to `errors`. TR_OK, TR_EINVALID (some
 * appended, *truncated set if the list was cut) or another code (no answer yet). */
static int op_validate(struct api__req *r, size_t i, const struct tx_op *o, json_t *errors,
                       bool *truncated)
{
    struct schema_errors errs;
    schema_errors_init(&errs, 0);
    int rc = schema_network_validate(api__schema(r), o->t, o->body, &errs);
    if (rc == TR_EINVALID || rc == TR_ELIMIT) {
        *truncated = *truncated || errs.truncated;
        rc = errors_append(errors, i, &errs);
        rc = rc == TR_OK ? TR_EINVALID : rc;
    }
    schema_errors_free(&errs);
    return rc;
}

/* Checks the key of a valid op against its body and fills it in for a create without one. */
static const char *op_key(struct tx_op *o, char *why, size_t whylen)
{
    const char *kf = o->t->key_field;
    why[0] = '\0';
    if (strcmp(o->op, "patch") == 0) {
        if (!api__patch_keeps_key(o->t, o->body, o->key))
            snprintf(why, whylen, "the patch changes key field %.64s of key \"%.100s\"", kf,
                     o->key);
    } else if (strcmp(o->op, "delete") != 0) {
        char body_key[API__KEY_MAX_BYTES + 1];
        if (api__key_text(json_object_get(o->body, kf), body_key) != TR_OK)
            snprintf(why, whylen, "key field %.64s must be 1 to %d bytes without NUL", kf,
                     API__KEY_MAX_BYTES);
        else if (o->has_key && strcmp(body_key, o->key) != 0)
            snprintf(why, whylen,
                     "the body's %.64s \"%.100s\" differs from the op's key \"%.100s\"", kf,
                     body_key, o->key);
        else
            memcpy(o->key, body_key, strlen(body_key) + 1);
    }
    return why[0] ? why : NULL;
}

/* Checks ops[i] and appends its normalized form to `out`. 0 when done, 1 when its body has schema
 * violations (appended to `errors`), -1 when `r` was answered. */
static int op_check(struct api__req *r, size_t i, const json_t *in, json_t *out, json_t *errors,
                    bool *truncated)
{
    struct tx_op o;
    char why[400];
    memset(&o, 0, sizeof o);
    if (!json_is_object(in)) {
        api__problemf(r, 422, "bad-tx", "ops[%zu] must be a JSON object", i);
        return -1;
    }
    const char *bad = op_read(r, in, &o, why, sizeof why);
    if (!bad && (strcmp(o.op, "create") == 0 || strcmp(o.op, "replace") == 0)) {
        int rc = op_validate(r, i, &o, errors, truncated);
        if (rc == TR_EINVALID)
            return 1;
        if (rc != TR_OK) {
            api__problemf(r, 500, NULL, "validating ops[%zu]: %s", i, tr_strerror(rc));
            return -1;
        }
    }
    if (!bad)
        bad = op_key(&o, why, sizeof why);
    if (bad) {
        api__problemf(r, 422, "bad-tx", "ops[%zu]: %s", i, bad);
        return -1;
    }
    json_t *op = api__op_pack(o.op, o.t->name, o.key, json_incref(o.body), o.expected);
    if (!op || json_array_append_new(out, op) != 0) {
        api__problemf(r, 500, NULL, "out of memory");
        return -1;
    }
    return 0;
}

/* Checks every op; the normalized ops array (new reference), or NULL once `r` is answered. */
static json_t *ops_check(struct api__req *r, const json_t *ops)
{
    json_t *out = json_array(), *errors = json_array();
    bool truncated = false;
    size_t i, n_bad = 0;
    const json_t *in;
    int rc = out && errors ? 0 : -1;
    if (rc < 0)
        api__problemf(r, 500, NULL, "out of memory");
    json_array_foreach((json_t *)ops, i, in)
    {
        if (rc < 0 || (rc = op_check(r, i, in, out, errors, &truncated)) < 0)
            break;
        n_bad += rc == 1;
    }
    if (rc >= 0 && n_bad > 0) {
        char detail[160];
        snprintf(detail, sizeof detail,
                 "the tx violates the schema in %zu op%s (%zu violation%s%s)", n_bad,
                 n_bad == 1 ? "" : "s", json_array_size(errors),
                 json_array_size(errors) == 1 ? "" : "s", truncated ? ", list truncated" : "");
        json_t *p = api__problem_errors(detail, json_incref(errors));
        if (p)
            api__respond_json(r, 422, p, NULL, NULL);
        else
            api__problemf(r, 500, NULL, "out of memory");
        rc = -1;
    }
    json_decref(errors);
    if (rc < 0) {
        json_decref(out);
        return NULL;
    }
    return out;
}

void api__route_tx(struct api__req *r)
{
    if (api__idempotency_check(r) < 0)
        return;
    json_t *doc = api__body_load(r);
    if (!doc)
        return;
    const json_t *ops = json_object_get(doc, "ops");
    if (json_object_size(doc) != 1 || !json_is_array(ops) || json_array_size(ops) == 0 ||
        json_array_size(ops) > API__TX_OPS_MAX) {
        json_decref(doc);
        api__problemf(r, 422, "bad-tx",
                      "the body must be {\"ops\": [...]} with 1 to %d ops, and nothing else",
                      API__TX_OPS_MAX);
        return;
    }
    json_t *norm = ops_check(r, ops);
    json_decref(doc);
    if (norm)
        api__submit_ops(r, norm);
}

/* Whether one preference s[0..len) (RFC 7240 §2: token [ "=" word ] *( ";" parameter )) is
 * wait=none; the name is case-insensitive, the value may be quoted. */
static bool preference_is_wait_none(const char *s, size_t len)
{
    while (len > 0 && (*s == ' ' || *s == '\t')) {
        s++;
        len--;
    }
    size_t end = 0;
    while (end < len && s[end] != ';')
        end++;
    while (end > 0 && (s[end - 1] == ' ' || s[end - 1] == '\t'))
        end--;
    if (end < 5 || strncasecmp(s, "wait", 4) != 0)
        return false;
    size_t i = 4;
    while (i < end && (s[i] == ' ' || s[i] == '\t'))
        i++;
    if (i == end || s[i++] != '=')
        return false;
    while (i < end && (s[i] == ' ' || s[i] == '\t'))
        i++;
    const char *v = s + i;
    size_t vlen = end - i;
    if (vlen >= 2 && v[0] == '"' && v[vlen - 1] == '"') {
        v++;
        vlen -= 2;
    }
    return vlen == 4 && strncmp(v, "none", 4) == 0;
}

bool api__prefer_wait_none(const struct api__req *r)
{
    if (!r->prefer)
        return false;
    for (const char *s = r->prefer; *s;) {
        size_t len = strcspn(s, ",");
        if (preference_is_wait_none(s, len))
            return true;
        s += len;
        if (*s == ',')
            s++;
    }
    return false;
}
