/* routes_query.c — the paged record reads: GET /v1/data/T?field=v|field.gt=&field.gte=&field.lt=
 * &field.lte=&order_by=[-]field&limit=&cursor= (current records, filtered and ordered by one
 * indexed field) and GET /v1/data/T/{key}/history?limit=&after_version=. Parses and bounds the
 * query here, turns a filter's text into the JSON value the index stores (by the field's declared
 * type in the schema), and answers what the backend's history/list returns. Called by routes.c's
 * router for GET only. */
#include "api/api_int.h"

#include "common/alloc.h"
#include "common/err.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PAGE_DEFAULT 100
#define PAGE_MAX     1000
#define CURSOR_MAX   1024 /* bytes of a cursor; the node's are at most 512 */

/* One decoded query parameter. */
struct param {
    char *name, *value; /* owned */
};

#define PARAMS_MAX 8

struct params {
    size_t n;
    struct param v[PARAMS_MAX];
};

static void params_free(struct params *ps)
{
    for (size_t i = 0; i < ps->n; i++) {
        tr_free(ps->v[i].name);
        tr_free(ps->v[i].value);
    }
    ps->n = 0;
}

/* Whether the last parameter of `ps` has the name of an earlier one. */
static bool param_repeated(const struct params *ps)
{
    for (size_t i = 0; i + 1 < ps->n; i++)
        if (strcmp(ps->v[i].name, ps->v[ps->n - 1].name) == 0)
            return true;
    return false;
}

/* Splits `query` into decoded name=value pairs ('+' is not a space here: clients percent-encode).
 * Answers 400 and returns -1 on a malformed escape, a missing '=', a repeated name or too many
 * parameters. */
static int params_parse(struct api__req *r, const char *query, struct params *ps)
{
    memset(ps, 0, sizeof *ps);
    for (const char *s = query ? query : ""; *s;) {
        size_t len = strcspn(s, "&");
        const char *eq = memchr(s, '=', len);
        if (len > 0 && (!eq || eq == s || ps->n == PARAMS_MAX)) {
            if (ps->n == PARAMS_MAX)
                api__problemf(r, 400, "bad-query", "at most %d query parameters", PARAMS_MAX);
            else
                api__problemf(r, 400, "bad-query", "query parameters are name=value pairs");
            params_free(ps);
            return -1;
        }
        if (len > 0) {
            struct param *p = &ps->v[ps->n++];
            int rc = api__pct_decode(s, (size_t)(eq - s), &p->name);
            if (rc == TR_OK)
                rc = api__pct_decode(eq + 1, len - (size_t)(eq - s) - 1, &p->value);
            if (rc != TR_OK) {
                params_free(ps);
                api__problemf(r, rc == TR_ENOMEM ? 500 : 400, "bad-query",
                              "the query has a malformed percent-escape");
                return -1;
            }
            if (param_repeated(ps)) { /* which one counts would be a guess */
                api__problemf(r, 400, "bad-query", "query parameter \"%.64s\" is repeated",
                              p->name);
                params_free(ps);
                return -1;
            }
        }
        s += len;
        if (*s == '&')
            s++;
    }
    return 0;
}

/* limit=N (1..PAGE_MAX); answers 400 and returns -1 if bad. */
static int param_limit(struct api__req *r, const char *v, uint32_t *limit)
{
    uint64_t n = 0;
    if (api__parse_u64(v, strlen(v), &n) != 0 || n > PAGE_MAX) {
        api__problemf(r, 400, "bad-limit",
                      "limit must be a whole number from 1 to %d, got \"%.32s\"", PAGE_MAX, v);
        return -1;
    }
    *limit = (uint32_t)n;
    return 0;
}

static void answer_page(struct api__req *r, int rc, json_t *out, const char *what)
{
    if (rc == TR_OK && out) {
        api__respond_json(r, 200, out, NULL, NULL);
        return;
    }
    json_decref(out);
    if (rc == TR_ENOTFOUND)
        api__problemf(r, 404, "not-found", "%s not found", what);
    else if (rc == TR_EINVAL)
        api__problemf(r, 400, "bad-cursor", "%s: the cursor is not one this node gave", what);
    else
        api__problemf(r, 500, NULL, "%s: %s", what, tr_strerror(rc == TR_OK ? TR_EINTERNAL : rc));
}

/* Applies the read ACLs to a history page: 403 (answered, false) when the org may not read the
 * record, else every version is redacted. The owner is the first version's (a page past the end
 * has none: version 1 is read for it). */
static bool history_readable(struct api__req *r, const struct schema_type *t, const char *key,
                             json_t *out)
{
    json_t *versions = json_object_get(out, "versions");
    json_t *first = json_array_get(versions, 0), *v1 = NULL;
    if (!first) {
        const struct api_backend *be = api__backend(r);
        char *text = NULL;
        if (be->record_get(be->ctx, t->name, key, 1, &text) == TR_OK && text)
            v1 = json_loads(text, 0, NULL);
        free(text);
        first = v1 ? v1 : json_object();
        if (!first) {
            api__problemf(r, 500, NULL, "out of memory");
            return false;
        }
        v1 = first;
    }
    bool ok = api__acl_read_or_403(r, t, first);
    json_decref(v1);
    if (ok)
        api__acl_filter(r, t, versions);
    return ok;
}

void api__route_history(struct api__req *r, const struct schema_type *t, const char *key,
                        const char *query)
{
    const struct api_backend *be = api__backend(r);
    struct params ps;
    uint32_t limit = PAGE_DEFAULT;
    uint64_t after = 0;
    if (params_parse(r, query, &ps) != 0)
        return;
    for (size_t i = 0; i < ps.n; i++) {
        const char *n = ps.v[i].name, *v = ps.v[i].value;
        if (strcmp(n, "limit") == 0) {
            if (param_limit(r, v, &limit) != 0)
                goto done;
        } else if (strcmp(n, "after_version") == 0) {
            if (strcmp(v, "0") != 0 && api__parse_u64(v, strlen(v), &after) != 0) {
                api__problemf(r, 400, "bad-query",
                              "after_version must be a whole number >= 0, got \"%.32s\"", v);
                goto done;
            }
        } else if (strcmp(n, "consistency") != 0) {
            api__problemf(r, 400, "bad-query",
                          "unknown query parameter \"%.64s\" (known: limit, after_version, "
                          "consistency)",
                          n);
            goto done;
        }
    }
    if (!be->history) {
        api__problemf(r, 404, "no-route", "record history is not served here");
        goto done;
    }
    json_t *out = NULL;
    int rc = be->history(be->ctx, t->name, key, after, limit, &out);
    char what[320];
    snprintf(what, sizeof what, "history of %s %s", t->name, key);
    if (rc == TR_OK && !history_readable(r, t, key, out)) {
        json_decref(out);
        goto done;
    }
    answer_page(r, rc == TR_EINVAL ? TR_EINTERNAL : rc, out, what);
done:
    params_free(&ps);
}

/* The value at JSON pointer `ptr` (RFC 6901) in doc, following local "$ref"s of the result. */
static const json_t *schema_at(const json_t *doc, const char *ptr, int depth)
{
    const json_t *cur = doc;
    for (const char *s = ptr; cur && *s == '/';) {
        size_t len = strcspn(s + 1, "/");
        char tok[128];
        size_t j = 0;
        for (size_t i = 0; i < len && j + 1 < sizeof tok; i++, j++) {
            char ch = s[1 + i];
            if (ch == '~' && i + 1 < len && (s[2 + i] == '0' || s[2 + i] == '1'))
                ch = s[2 + i++] == '0' ? '~' : '/';
            tok[j] = ch;
        }
        tok[j] = '\0';
        cur = json_is_array(cur) ? json_array_get(cur, strtoul(tok, NULL, 10))
                                 : json_object_get(cur, tok);
        s += len + 1;
    }
    const char *ref = json_string_value(json_object_get(cur, "$ref"));
    if (ref && ref[0] == '#' && depth < 8)
        return schema_at(doc, ref + 1, depth + 1);
    return cur;
}

/* Whether the declared "type" of subschema `node` includes `name` (1), excludes it (0), or the
 * node declares no type (-1). "number" admits integers. */
static int type_allows(const json_t *node, const char *name)
{
    const json_t *ty = json_object_get(node, "type");
    if (!ty)
        return -1;
    bool num = strcmp(name, "integer") == 0;
    for (size_t i = 0; i < (json_is_array(ty) ? json_array_size(ty) : 1); i++) {
        const char *s = json_string_value(json_is_array(ty) ? json_array_get(ty, i) : ty);
        if (s && (strcmp(s, name) == 0 || (num && strcmp(s, "number") == 0)))
            return 1;
    }
    return 0;
}

/* The JSON value the filter text stands for: the text parsed as a JSON scalar when the field's
 * declared type admits that kind (integer, number, boolean, null), else the text as a string.
 * NULL (answered 400/500) if the field admits neither. */
static json_t *filter_value(struct api__req *r, const struct schema_type *t, const char *field,
                            const char *text)
{
    char ptr[512];
    snprintf(ptr, sizeof ptr, "%s/properties/%s", t->pointer, field);
    const json_t *node = schema_at(schema_network_doc(api__schema(r)), ptr, 0);
    json_t *v = json_loads(text, JSON_DECODE_ANY, NULL);
    static const char *const kinds[] = {"object", "array",   "string",  "integer",
                                        "number", "boolean", "boolean", "null"};
    if (v && !json_is_string(v) && type_allows(node, kinds[json_typeof(v)]) == 1)
        return v;
    json_decref(v);
    if (type_allows(node, "string") != 0) {
        json_t *s = json_string(text);
        if (!s)
            api__problemf(r, 400, "bad-query", "the value of %s must be UTF-8", field);
        return s;
    }
    api__problemf(r, 400, "bad-query", "\"%.64s\" is not a valid value of %s", text, field);
    return NULL;
}

static bool type_has_index(const struct schema_type *t, const char *field)
{
    for (size_t i = 0; i < t->index_count; i++)
        if (strcmp(t->indexes[i], field) == 0)
            return true;
    return false;
}

/* The type's indexed fields, comma-separated, into names[0..n). */
static const char *index_names(const struct schema_type *t, char *names, size_t n)
{
    size_t used = 0;
    names[0] = '\0';
    for (size_t i = 0; i < t->index_count && used < n; i++)
        used += (size_t)snprintf(names + used, n - used, "%s%s", i ? ", " : "", t->indexes[i]);
    return t->index_count ? names : "none";
}

static void bad_filter(struct api__req *r, const struct schema_type *t, const char *field)
{
    char names[256];
    api__problemf(r, 400, "bad-filter", "%.64s is not an indexed field of %s (indexed: %s)", field,
                  t->name, index_names(t, names, sizeof names));
}

/* What a list query asks for; strings borrowed from the params, values owned. */
struct list_query {
    struct api_list_query q;
    const char *field; /* the one indexed field that filters and orders use */
    const char *eq_text, *lo_text, *hi_text, *lo_name, *hi_name;
    bool ordered;
    json_t *eq, *lo, *hi;
};

static const char *const RANGE_OPS[] = {"gt", "gte", "lt", "lte"};

/* Splits "field.op" (op one of RANGE_OPS) into field (in buf) and the op's index; -1 if the name
 * is not of that form. */
static int range_name(const char *name, char *buf, size_t n)
{
    const char *dot = strrchr(name, '.');
    if (!dot || dot == name || (size_t)(dot - name) >= n)
        return -1;
    for (int i = 0; i < 4; i++) {
        if (strcmp(dot + 1, RANGE_OPS[i]) == 0) {
            memcpy(buf, name, (size_t)(dot - name));
            buf[dot - name] = '\0';
            return i;
        }
    }
    return -1;
}

/* Makes `field` the query's field; answers 400 when it is not indexed or another field is. */
static int use_field(struct api__req *r, const struct schema_type *t, struct list_query *lq,
                     const char *field)
{
    if (!type_has_index(t, field)) {
        bad_filter(r, t, field);
        return -1;
    }
    if (lq->field && strcmp(lq->field, field) != 0) {
        char names[256];
        api__problemf(r, 400, "bad-filter",
                      "filters and order_by use one indexed field at a time, here %.64s and "
                      "%.64s (indexed fields of %s: %s)",
                      lq->field, field, t->name, index_names(t, names, sizeof names));
        return -1;
    }
    if (!lq->field) {
        for (size_t i = 0; i < t->index_count; i++)
            if (strcmp(t->indexes[i], field) == 0)
                lq->field = t->indexes[i];
    }
    return 0;
}

/* A range parameter field.op=v: one lower (gt, gte) and one upper (lt, lte) bound at most. */
static int range_param(struct api__req *r, const struct schema_type *t, struct list_query *lq,
                       const char *name, int op, const char *field, const char *v)
{
    if (use_field(r, t, lq, field) != 0)
        return -1;
    bool lower = op < 2;
    const char **slot = lower ? &lq->lo_text : &lq->hi_text;
    if (*slot) {
        api__problemf(r, 400, "bad-filter", "%.64s: one %s bound at most (%s and %s given)", field,
                      lower ? "lower" : "upper", lower ? lq->lo_name : lq->hi_name, name);
        return -1;
    }
    *slot = v;
    if (lower) {
        lq->lo_name = name;
        lq->q.lo_incl = op == 1;
    } else {
        lq->hi_name = name;
        lq->q.hi_incl = op == 3;
    }
    return 0;
}

static int list_param(struct api__req *r, const struct schema_type *t, struct list_query *lq,
                      const char *n, const char *v)
{
    char field[128];
    int op;
    if (strcmp(n, "limit") == 0)
        return param_limit(r, v, &lq->q.limit);
    if (strcmp(n, "consistency") == 0)
        return 0; /* api__read_consistency read it */
    if (strcmp(n, "cursor") == 0) {
        if (!v[0] || strlen(v) > CURSOR_MAX) {
            api__problemf(r, 400, "bad-cursor", "the cursor is not one this node gave");
            return -1;
        }
        lq->q.cursor = v;
        return 0;
    }
    if (strcmp(n, "order_by") == 0) {
        lq->q.desc = v[0] == '-';
        lq->ordered = true;
        return use_field(r, t, lq, v + (v[0] == '-'));
    }
    if (!type_has_index(t, n) && (op = range_name(n, field, sizeof field)) >= 0)
        return range_param(r, t, lq, n, op, field, v);
    if (use_field(r, t, lq, n) != 0)
        return -1;
    if (lq->eq_text) {
        api__problemf(r, 400, "bad-filter", "%.64s: one equality value at most", n);
        return -1;
    }
    lq->eq_text = v;
    return 0;
}

/* Parses the list parameters and turns the filter texts into values of the field's type. */
static int list_query_parse(struct api__req *r, const struct schema_type *t,
                            const struct params *ps, struct list_query *lq)
{
    for (size_t i = 0; i < ps->n; i++)
        if (list_param(r, t, lq, ps->v[i].name, ps->v[i].value) != 0)
            return -1;
    if (lq->eq_text && (lq->lo_text || lq->hi_text)) {
        api__problemf(r, 400, "bad-filter",
                      "%.64s: give either an equality value or range bounds, not both", lq->field);
        return -1;
    }
    if ((lq->eq_text && !(lq->eq = filter_value(r, t, lq->field, lq->eq_text))) ||
        (lq->lo_text && !(lq->lo = filter_value(r, t, lq->field, lq->lo_text))) ||
        (lq->hi_text && !(lq->hi = filter_value(r, t, lq->field, lq->hi_text))))
        return -1;
    bool num_lo = json_is_number(lq->lo), num_hi = json_is_number(lq->hi);
    if (lq->lo && lq->hi && !(num_lo && num_hi) && json_typeof(lq->lo) != json_typeof(lq->hi)) {
        api__problemf(r, 400, "bad-filter", "%.64s: the bounds %s and %s are of different types",
                      lq->field, lq->lo_name, lq->hi_name);
        return -1;
    }
    lq->q.field = lq->field;
    lq->q.eq = lq->eq;
    lq->q.lo = lq->lo;
    lq->q.hi = lq->hi;
    return 0;
}

void api__route_list(struct api__req *r, const struct schema_type *t, const char *query)
{
    const struct api_backend *be = api__backend(r);
    struct params ps;
    struct list_query lq;
    memset(&lq, 0, sizeof lq);
    lq.q.limit = PAGE_DEFAULT;
    if (params_parse(r, query, &ps) != 0)
        return;
    if (list_query_parse(r, t, &ps, &lq) != 0)
        goto done;
    if (lq.q.field && !api__acl_field_usable_or_403(r, t, lq.q.field))
        goto done; /* filtering or ordering on a hidden field would reveal it */
    if (api__acl_none_readable(r, t)) { /* nothing to scan for: no record is readable */
        api__respond_json(r, 200, json_pack("{s:[]}", "items"), NULL, NULL);
        goto done;
    }
    if (!be->list) {
        api__problemf(r, 404, "no-route", "record lists are not served here");
        goto done;
    }
    json_t *out = NULL;
    int rc = be->list(be->ctx, t->name, &lq.q, &out);
    if (rc == TR_OK) /* a page may hold fewer than limit items; next_cursor tells if more follow */
        api__acl_filter(r, t, json_object_get(out, "items"));
    char what[96];
    snprintf(what, sizeof what, "list of %s", t->name);
    answer_page(r, rc, out, what);
done:
    json_decref(lq.eq);
    json_decref(lq.lo);
    json_decref(lq.hi);
    params_free(&ps);
}

/* ------------------------------------------------------------------------------------------- */
/* Proofs */

/* A whole-number parameter >= 1; answers 400 and returns -1 if bad. */
static int param_u64(struct api__req *r, const char *name, const char *v, uint64_t *out)
{
    if (api__parse_u64(v, strlen(v), out) == 0)
        return 0;
    api__problemf(r, 400, "bad-query", "%s must be a whole number >= 1, got \"%.32s\"", name, v);
    return -1;
}

static bool tx_id_ok(const char *id)
{
    size_t n = strlen(id);
    for (size_t i = 0; i < n; i++)
        if (!((id[i] >= '0' && id[i] <= '9') || (id[i] >= 'a' && id[i] <= 'f')))
            return false;
    return n == 32;
}

/* Reads the two parameters of a proof route: names[0] (required) and names[1] (optional). */
static int proof_params(struct api__req *r, const struct params *ps, const char *const names[2],
                        const char **a, const char **b)
{
    for (size_t i = 0; i < ps->n; i++) {
        const char *n = ps->v[i].name;
        if (strcmp(n, names[0]) == 0) {
            *a = ps->v[i].value;
        } else if (strcmp(n, names[1]) == 0) {
            *b = ps->v[i].value;
        } else {
            api__problemf(r, 400, "bad-query", "unknown query parameter \"%.64s\" (known: %s, %s)",
                          n, names[0], names[1]);
            return -1;
        }
    }
    if (!*a) {
        api__problemf(r, 400, "bad-query", "the query parameter %s is required", names[0]);
        return -1;
    }
    return 0;
}

static void proof_inclusion(struct api__req *r, const struct api_backend *be,
                            const struct params *ps)
{
    static const char *const names[2] = {"tx", "tree_size"};
    const char *tx = NULL, *size_text = NULL;
    uint64_t size = 0;
    if (proof_params(r, ps, names, &tx, &size_text) != 0 ||
        (size_text && param_u64(r, "tree_size", size_text, &size) != 0))
        return;
    if (!tx_id_ok(tx)) {
        api__problemf(r, 400, "bad-tx-id", "a tx id is 32 lowercase hex characters");
        return;
    }
    json_t *out = NULL;
    int rc = be->proof_inclusion(be->ctx, tx, size, &out);
    if (rc == TR_EINVAL) {
        json_decref(out);
        api__problemf(r, 400, "bad-tree-size",
                      "tree_size %s is out of range: it must exceed the tx's leaf_index and be at "
                      "most the current tree size",
                      size_text ? size_text : "(current)");
        return;
    }
    char what[48];
    snprintf(what, sizeof what, "tx %s", tx);
    answer_page(r, rc, out, what);
}

static void proof_consistency(struct api__req *r, const struct api_backend *be,
                              const struct params *ps)
{
    static const char *const names[2] = {"first", "second"};
    const char *first_text = NULL, *second_text = NULL;
    uint64_t first = 0, second = 0;
    if (proof_params(r, ps, names, &first_text, &second_text) != 0 ||
        param_u64(r, "first", first_text, &first) != 0 ||
        (second_text && param_u64(r, "second", second_text, &second) != 0))
        return;
    if (second && first > second) {
        api__problemf(r, 400, "bad-tree-size", "first (%s) must be at most second (%s)", first_text,
                      second_text);
        return;
    }
    json_t *out = NULL;
    int rc = be->proof_consistency(be->ctx, first, second, &out);
    if (rc == TR_EINVAL) {
        json_decref(out);
        api__problemf(r, 400, "bad-tree-size",
                      "tree sizes out of range: 0 < first (%s) <= second (%s) <= the current tree "
                      "size",
                      first_text, second_text ? second_text : "current");
        return;
    }
    answer_page(r, rc, out, "consistency proof");
}

void api__route_proof(struct api__req *r, const char *query)
{
    const struct api_backend *be = api__backend(r);
    bool inclusion = r->route == API__ROUTE_PROOF_INCLUSION;
    struct params ps;
    if (r->method != HTTP_GET) {
        api__method_not_allowed(r, "GET");
        return;
    }
    if (inclusion ? !be->proof_inclusion : !be->proof_consistency) {
        api__problemf(r, 404, "no-route", "proofs are not served here");
        return;
    }
    if (params_parse(r, query, &ps) != 0)
        return;
    if (inclusion)
        proof_inclusion(r, be, &ps);
    else
        proof_consistency(r, be, &ps);
    params_free(&ps);
}

/* ------------------------------------------------------------------------------------------- */
/* Read consistency */

static void read_barrier_done(void *req, int rc)
{
    struct api__req *r = req;
    if (rc == TR_OK && r->conn) {
        r->linearized = true;
        api__route(r);
        return;
    }
    if (rc == TR_ETIMEOUT)
        api__problemf(r, 503, "read-index-timeout",
                      "a linearizable read needs the leader's read index, which did not come in "
                      "time (no leader reachable, or no majority); retry, or read with "
                      "consistency=local");
    else
        api__problemf(r, 503, "read-index-unavailable",
                      "a linearizable read is not possible now: %s", tr_strerror(rc));
}

int api__read_consistency(struct api__req *r, const char *query)
{
    struct params ps;
    const char *mode = NULL;
    if (r->linearized || !query || !strstr(query, "consistency"))
        return 0;
    if (params_parse(r, query, &ps) != 0)
        return -1;
    for (size_t i = 0; i < ps.n; i++)
        if (strcmp(ps.v[i].name, "consistency") == 0)
            mode = ps.v[i].value;
    bool linear = mode && strcmp(mode, "linearizable") == 0;
    if (mode && !linear && strcmp(mode, "local") != 0) {
        api__problemf(r, 400, "bad-query",
                      "consistency must be \"local\" or \"linearizable\", got \"%.32s\"", mode);
        params_free(&ps);
        return -1;
    }
    params_free(&ps);
    if (!linear)
        return 0;
    const struct api_backend *be = api__backend(r);
    if (!be->read_barrier) {
        api__problemf(r, 503, "read-index-unavailable", "linearizable reads are not served here");
        return -1;
    }
    be->read_barrier(be->ctx, r, read_barrier_done); /* r may be answered and gone after this */
    return 1;
}
