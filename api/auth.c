/* auth.c — what a request must carry before its route runs, and the read ACLs on what the api
 * returns (DESIGN §3.11, docs/auth.md). Admission: every request under /v1 carries
 * "Authorization: Bearer <key>", checked by the backend's authenticate (401 otherwise, with the
 * RFC 6750 challenge); the key's role must cover the route (403); a write's body is JSON (415).
 * Read ACLs: x-treaty-acl read lists decide which records the node's org sees, field read lists
 * which fields (schema_acl_may_read, schema_acl_redact). Called by routes.c and routes_query.c. */
#include "api/api_int.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#define TOKEN_MAX_BYTES 512 /* longer Bearer tokens are refused before the backend sees them */

const char *api_role_name(enum api_role role)
{
    switch (role) {
    case API_ROLE_READER:
        return "reader";
    case API_ROLE_WRITER:
        return "writer";
    case API_ROLE_ADMIN:
        return "admin";
    case API_ROLE_NONE:
        break;
    }
    return "none";
}

enum api_role api_role_parse(const char *s)
{
    static const enum api_role roles[] = {API_ROLE_READER, API_ROLE_WRITER, API_ROLE_ADMIN};
    for (size_t i = 0; s && i < sizeof roles / sizeof roles[0]; i++)
        if (strcmp(s, api_role_name(roles[i])) == 0)
            return roles[i];
    return API_ROLE_NONE;
}

/* ------------------------------------------------------------------------------------------- */
/* Roles per route */

static bool is_read_method(enum http_method m)
{
    return m == HTTP_GET || m == HTTP_HEAD;
}

enum api_role api__auth_required(enum api__route_id route, enum http_method method,
                                 const char *area)
{
    switch (route) {
    case API__ROUTE_HEALTHZ:
    case API__ROUTE_READYZ:
    case API__ROUTE_METRICS:
        return API_ROLE_NONE;
    case API__ROUTE_PROPOSALS:
    case API__ROUTE_APPROVE:
    case API__ROUTE_ROTATE_KEY:
    case API__ROUTE_TEST_ENTRY:
    case API__ROUTE_SCHEMA_PROPOSALS:
    case API__ROUTE_SCHEMA_APPROVE:
        return API_ROLE_ADMIN;
    default:
        break;
    }
    if (!area) /* not under /v1: no route needs a key there, the router answers 404 */
        return API_ROLE_NONE;
    if (is_read_method(method))
        return API_ROLE_READER;
    /* Writes the table above does not name: membership, schema and test routes are governance. */
    if (strcmp(area, "members") == 0 || strcmp(area, "schema") == 0 || strcmp(area, "_test") == 0)
        return API_ROLE_ADMIN;
    return API_ROLE_WRITER;
}

/* ------------------------------------------------------------------------------------------- */
/* Admission */

static void unauthorized(struct api__req *r, const char *slug, const char *detail)
{
    api__problemf(r, 401, slug, "%s", detail);
}

/* The token of "Bearer <token>" (RFC 6750 §2.1: scheme case-insensitive, one or more spaces);
 * NULL when the header has another form. */
static const char *bearer_token(const char *h, size_t hlen, size_t *len)
{
    if (hlen < 7 || strncasecmp(h, "Bearer ", 7) != 0)
        return NULL;
    size_t i = 7;
    while (i < hlen && h[i] == ' ')
        i++;
    size_t end = hlen;
    while (end > i && (h[end - 1] == ' ' || h[end - 1] == '\t'))
        end--;
    for (size_t j = i; j < end; j++)
        if (h[j] == ' ' || h[j] == '\t' || h[j] == '\0')
            return NULL;
    *len = end - i;
    return end > i ? h + i : NULL;
}

static int authenticate(struct api__req *r)
{
    const struct api_backend *be = api__backend(r);
    if (!r->authorization) {
        unauthorized(r, "unauthorized",
                     "this route needs an API key: send \"Authorization: Bearer <key>\" (keys are "
                     "made with treaty apikey create)");
        return -1;
    }
    size_t len = 0;
    const char *tok = bearer_token(r->authorization, r->authorization_len, &len);
    if (!tok || len > TOKEN_MAX_BYTES) {
        unauthorized(r, "unauthorized",
                     "the Authorization header must be \"Bearer <key>\" with one API key");
        return -1;
    }
    enum api_role role = API_ROLE_NONE;
    if (!be->authenticate || be->authenticate(be->ctx, tok, len, &role) != 0 ||
        role == API_ROLE_NONE) {
        unauthorized(r, "invalid-key", "the API key is not valid here (unknown or revoked)");
        return -1;
    }
    r->role = role;
    return 0;
}

/* Whether media type `ct` (a Content-Type value: type/subtype, then ;parameters) is one of
 * `want`; a charset parameter, if any, must be UTF-8 (RFC 8259 §8.1). */
static bool media_type_is(const char *ct, size_t len, const char *const *want, size_t n)
{
    size_t i = 0;
    while (i < len && (ct[i] == ' ' || ct[i] == '\t'))
        i++;
    size_t start = i;
    while (i < len && ct[i] != ';' && ct[i] != ' ' && ct[i] != '\t')
        i++;
    size_t tlen = i - start;
    bool match = false;
    for (size_t k = 0; k < n; k++)
        if (strlen(want[k]) == tlen && strncasecmp(ct + start, want[k], tlen) == 0)
            match = true;
    while (match && i < len) { /* parameters: ; name=value */
        while (i < len && (ct[i] == ';' || ct[i] == ' ' || ct[i] == '\t'))
            i++;
        size_t p = i;
        while (i < len && ct[i] != ';')
            i++;
        if (i - p > 8 && strncasecmp(ct + p, "charset=", 8) == 0) {
            size_t v = p + 8, e = i;
            while (e > v && (ct[e - 1] == ' ' || ct[e - 1] == '\t'))
                e--;
            if (e - v >= 2 && ct[v] == '"' && ct[e - 1] == '"') {
                v++;
                e--;
            }
            if (!((e - v == 5 && strncasecmp(ct + v, "utf-8", 5) == 0) ||
                  (e - v == 4 && strncasecmp(ct + v, "utf8", 4) == 0)))
                match = false;
        }
    }
    return match;
}

static int content_type_check(struct api__req *r)
{
    if (r->method != HTTP_POST && r->method != HTTP_PUT && r->method != HTTP_PATCH)
        return 0;
    if (r->body_len == 0 && !r->content_type)
        return 0; /* nothing to type: POST …/approve has no body */
    static const char *const json[] = {"application/json", "application/merge-patch+json"};
    bool patch = r->method == HTTP_PATCH && r->route == API__ROUTE_DATA_KEY;
    size_t n = patch ? 2 : 1;
    if (r->content_type && media_type_is(r->content_type, r->content_type_len, json, n))
        return 0;
    char got[80];
    if (r->content_type)
        snprintf(got, sizeof got, "\"%.64s\"", r->content_type);
    else
        snprintf(got, sizeof got, "no Content-Type");
    api__problemf(r, 415, "unsupported-media-type", "the body must be %s (UTF-8); got %s",
                  patch ? "application/merge-patch+json or application/json" : "application/json",
                  got);
    return -1;
}

int api__auth_admit(struct api__req *r, const char *area)
{
    enum api_role need = api__auth_required(r->route, r->method, area);
    r->role = API_ROLE_NONE;
    if (need == API_ROLE_NONE)
        return 0;
    if (authenticate(r) != 0)
        return -1;
    if (r->role < need) {
        api__problemf(r, 403, "forbidden-role",
                      "%s %s needs an API key with role %s or above; this key has role %s",
                      http_method_str(r->method), area ? "under /v1" : "here", api_role_name(need),
                      api_role_name(r->role));
        return -1;
    }
    return content_type_check(r);
}

/* ------------------------------------------------------------------------------------------- */
/* Read ACLs */

static const char *record_owner(const json_t *rec)
{
    return json_string_value(json_object_get(rec, "_owner"));
}

static bool list_names_owner(const struct schema_acl_list *l)
{
    for (size_t i = 0; l->present && i < l->len; i++)
        if (strcmp(l->orgs[i], "owner") == 0)
            return true;
    return false;
}

bool api__acl_read(const struct api__req *r, const struct schema_type *t, json_t *rec)
{
    const char *org = api__org(r), *owner = record_owner(rec);
    if (!schema_acl_may_read(t, org, owner))
        return false;
    schema_acl_redact(t, org, owner, rec);
    return true;
}

bool api__acl_read_or_403(struct api__req *r, const struct schema_type *t, json_t *rec)
{
    if (api__acl_read(r, t, rec))
        return true;
    char allows[256];
    schema_acl_list_format(&t->acl.read, allows, sizeof allows);
    const char *org = api__org(r);
    api__problemf(r, 403, "forbidden-acl", "%s read ACL allows %s; org %s is not %s", t->name,
                  allows, org ? org : "(none)",
                  list_names_owner(&t->acl.read) ? "the owner" : "listed");
    return false;
}

void api__acl_filter(const struct api__req *r, const struct schema_type *t, json_t *items)
{
    size_t i = 0;
    while (i < json_array_size(items)) {
        if (api__acl_read(r, t, json_array_get(items, i)))
            i++;
        else
            json_array_remove(items, i);
    }
}

bool api__acl_none_readable(const struct api__req *r, const struct schema_type *t)
{
    const struct schema_acl_list *l = &t->acl.read;
    return !schema_acl_list_allows(l, api__org(r), NULL) && !list_names_owner(l);
}

bool api__acl_field_usable_or_403(struct api__req *r, const struct schema_type *t,
                                  const char *field)
{
    for (size_t i = 0; i < t->acl.field_count; i++) {
        const struct schema_field_acl *f = &t->acl.fields[i];
        if (strcmp(f->field, field) != 0 || schema_acl_list_allows(&f->read, api__org(r), NULL))
            continue;
        char allows[256];
        schema_acl_list_format(&f->read, allows, sizeof allows);
        const char *org = api__org(r);
        api__problemf(r, 403, "forbidden-acl",
                      "%s.%s read ACL allows %s; org %s may not read it on every record, so it "
                      "cannot filter or order by it",
                      t->name, field, allows, org ? org : "(none)");
        return false;
    }
    return true;
}
