/* routes_query.c — the paged record reads: GET /v1/data/T?field=value&limit=&cursor= (current
 * records, filtered by equality on one indexed field) and GET /v1/data/T/{key}/history
 * ?limit=&after_version=. Parses and bounds the query here, turns a filter's text into the JSON
 * value the index stores (by the field's declared type in the schema), and answers what the
 * backend's history/list returns. Called by routes.c's router for GET only. */
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

/* Splits `query` into decoded name=value pairs ('+' is not a space here: clients percent-encode).
 * Answers 400 and returns -1 on a malformed escape, a missing '=' or too many parameters. */
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
        } else {
            api__problemf(r, 400, "bad-query",
                          "unknown query parameter \"%.64s\" (known: limit, after_version)", n);
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

static void bad_filter(struct api__req *r, const struct schema_type *t, const char *field)
{
    char names[256] = "";
    size_t n = 0;
    for (size_t i = 0; i < t->index_count && n < sizeof names; i++)
        n += (size_t)snprintf(names + n, sizeof names - n, "%s%s", i ? ", " : "", t->indexes[i]);
    api__problemf(r, 400, "bad-filter", "%.64s is not an indexed field of %s (indexed: %s)", field,
                  t->name, t->index_count ? names : "none");
}

/* What a list query asks for; strings borrowed from the params. */
struct list_query {
    uint32_t limit;
    const char *cursor, *field, *value;
};

static int list_query_parse(struct api__req *r, const struct schema_type *t,
                            const struct params *ps, struct list_query *q)
{
    for (size_t i = 0; i < ps->n; i++) {
        const char *n = ps->v[i].name, *v = ps->v[i].value;
        if (strcmp(n, "limit") == 0) {
            if (param_limit(r, v, &q->limit) != 0)
                return -1;
        } else if (strcmp(n, "cursor") == 0) {
            if (!v[0] || strlen(v) > CURSOR_MAX) {
                api__problemf(r, 400, "bad-cursor", "the cursor is not one this node gave");
                return -1;
            }
            q->cursor = v;
        } else if (!type_has_index(t, n)) {
            bad_filter(r, t, n);
            return -1;
        } else if (q->field) {
            api__problemf(r, 400, "bad-filter",
                          "filter on one indexed field at a time (%.64s, %.64s)", q->field, n);
            return -1;
        } else {
            q->field = n;
            q->value = v;
        }
    }
    return 0;
}

void api__route_list(struct api__req *r, const struct schema_type *t, const char *query)
{
    const struct api_backend *be = api__backend(r);
    struct params ps;
    struct list_query q = {PAGE_DEFAULT, NULL, NULL, NULL};
    json_t *value = NULL;
    if (params_parse(r, query, &ps) != 0)
        return;
    if (list_query_parse(r, t, &ps, &q) != 0)
        goto done;
    if (q.field && !api__acl_field_usable_or_403(r, t, q.field))
        goto done;
    if (q.field && !(value = filter_value(r, t, q.field, q.value)))
        goto done;
    if (api__acl_none_readable(r, t)) { /* nothing to scan for: no record is readable */
        api__respond_json(r, 200, json_pack("{s:[]}", "items"), NULL, NULL);
        goto done;
    }
    if (!be->list) {
        api__problemf(r, 404, "no-route", "record lists are not served here");
        goto done;
    }
    json_t *out = NULL;
    int rc = be->list(be->ctx, t->name, q.field, value, q.cursor, q.limit, &out);
    if (rc == TR_OK) /* a page may hold fewer than limit items; next_cursor tells if more follow */
        api__acl_filter(r, t, json_object_get(out, "items"));
    char what[96];
    snprintf(what, sizeof what, "list of %s", t->name);
    answer_page(r, rc, out, what);
done:
    json_decref(value);
    params_free(&ps);
}
