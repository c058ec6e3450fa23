/* routes.c — the api's routes (DESIGN §4): records (POST /v1/data/T, GET|PUT|PATCH|DELETE
 * /v1/data/T/{key}; the paged reads are in routes_query.c), GET /v1/ledger/head, /v1/tx/{id},
 * /v1/members and /healthz (/readyz and /metrics are in metrics.c), the route template of each
 * request for the metrics. Record writes are in routes_write.c; every error is a problem+json.
 * Called by http.c with one complete request; answers it now or when the backend's submit
 * completes. */
#include "api/api_int.h"

#include "common/alloc.h"
#include "common/err.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SEGMENTS_MAX 5

/* The decoded path of a request: at most SEGMENTS_MAX segments, each NUL-terminated. */
struct path {
    size_t n;
    char *seg[SEGMENTS_MAX];
    const char *query; /* into the request's url, NULL if none */
};

static void path_free(struct path *p)
{
    for (size_t i = 0; i < p->n; i++)
        tr_free(p->seg[i]);
    p->n = 0;
}

static int hexval(char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

int api__pct_decode(const char *s, size_t len, char **out)
{
    char *d = tr_malloc(len + 1);
    if (!d)
        return TR_ENOMEM;
    size_t j = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] != '%') {
            d[j++] = s[i];
            continue;
        }
        int hi = i + 2 < len ? hexval(s[i + 1]) : -1;
        int lo = hi >= 0 ? hexval(s[i + 2]) : -1;
        if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) {
            tr_free(d);
            return TR_EPARSE;
        }
        d[j++] = (char)(hi * 16 + lo);
        i += 2;
    }
    d[j] = '\0';
    *out = d;
    return TR_OK;
}

/* Splits the url into decoded segments. TR_ENOTFOUND when it cannot name any route (not
 * origin-form, too many segments), TR_EPARSE on a bad escape. */
static int path_parse(const char *url, struct path *p)
{
    memset(p, 0, sizeof *p);
    if (url[0] != '/')
        return TR_ENOTFOUND;
    const char *q = strchr(url, '?');
    size_t plen = q ? (size_t)(q - url) : strlen(url);
    p->query = q ? q + 1 : NULL;
    size_t i = 1;
    while (i <= plen) {
        size_t j = i;
        while (j < plen && url[j] != '/')
            j++;
        if (p->n == SEGMENTS_MAX) {
            path_free(p);
            return TR_ENOTFOUND;
        }
        int rc = api__pct_decode(url + i, j - i, &p->seg[p->n]);
        if (rc != TR_OK) {
            path_free(p);
            return rc;
        }
        p->n++;
        i = j + 1;
    }
    return TR_OK;
}

static bool path_is(const struct path *p, size_t n, const char *s0, const char *s1, const char *s2)
{
    const char *want[3] = {s0, s1, s2};
    if (p->n != n)
        return false;
    for (size_t i = 0; i < 3 && i < n; i++)
        if (want[i] && strcmp(p->seg[i], want[i]) != 0)
            return false;
    for (size_t i = 0; i < n; i++)
        if (p->seg[i][0] == '\0')
            return false;
    return true;
}

void api__problemf(struct api__req *r, int status, const char *slug, const char *fmt, ...)
{
    char detail[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof detail, fmt, ap);
    va_end(ap);
    json_t *body = api__problem(status, slug, detail);
    if (!body) { /* a quoted path or value that is not UTF-8 (or was cut inside a character) */
        for (char *c = detail; *c; c++)
            if ((unsigned char)*c >= 0x80)
                *c = '?';
        body = api__problem(status, slug, detail);
    }
    api__respond_json(r, status, body, NULL, NULL);
}

void api__method_not_allowed(struct api__req *r, const char *allow)
{
    char detail[96];
    snprintf(detail, sizeof detail, "%s is not allowed here; allowed: %s",
             http_method_str(r->method), allow);
    api__respond_json(r, 405, api__problem(405, NULL, detail), NULL, allow);
}

int api__parse_u64(const char *s, size_t len, uint64_t *out)
{
    if (len == 0 || len > 20)
        return -1;
    uint64_t v = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        uint64_t d = (uint64_t)(s[i] - '0');
        if (v > (UINT64_MAX - d) / 10)
            return -1;
        v = v * 10 + d;
    }
    if (v == 0)
        return -1;
    *out = v;
    return 0;
}

/* ------------------------------------------------------------------------------------------- */
/* Reads */

static void answer_backend_json(struct api__req *r, int rc, json_t *out, const char *what)
{
    if (rc == TR_OK && out) {
        api__respond_json(r, 200, out, NULL, NULL);
        return;
    }
    json_decref(out);
    if (rc == TR_ENOTFOUND)
        api__problemf(r, 404, "not-found", "%s not found", what);
    else
        api__problemf(r, 500, NULL, "%s: %s", what, tr_strerror(rc == TR_OK ? TR_EINTERNAL : rc));
}

/* ?version=n is the only query parameter of a record read. */
static int record_query(struct api__req *r, const char *query, uint64_t *version)
{
    *version = 0;
    if (!query || !*query)
        return 0;
    const char *s = query;
    while (*s) {
        size_t len = strcspn(s, "&");
        if (len > 8 && strncmp(s, "version=", 8) == 0) {
            if (*version != 0) {
                api__problemf(r, 400, "bad-query", "version= is repeated");
                return -1;
            }
            if (api__parse_u64(s + 8, len - 8, version) != 0) {
                api__problemf(r, 400, "bad-query",
                              "version must be a whole number >= 1, got \"%.*s\"",
                              (int)(len - 8 > 64 ? 64 : len - 8), s + 8);
                return -1;
            }
        } else if (len > 0 && strncmp(s, "consistency=", 12) != 0) {
            api__problemf(r, 400, "bad-query",
                          "unknown query parameter \"%.*s\" (known: version, consistency)",
                          (int)(len > 64 ? 64 : len), s);
            return -1;
        }
        s += len;
        if (*s == '&')
            s++;
    }
    return 0;
}

static void route_record_get(struct api__req *r, const struct schema_type *t, const char *key,
                             const char *query)
{
    uint64_t version;
    if (record_query(r, query, &version) != 0)
        return;
    const struct api_backend *be = api__backend(r);
    char *text = NULL;
    int rc = be->record_get(be->ctx, t->name, key, version, &text);
    if (rc == TR_ENOTFOUND || (rc == TR_OK && !text)) {
        free(text);
        if (version)
            api__problemf(r, 404, "not-found", "%s %s has no version %" PRIu64, t->name, key,
                          version);
        else
            api__problemf(r, 404, "not-found", "no %s record with key %s", t->name, key);
        return;
    }
    if (rc != TR_OK) {
        api__problemf(r, 500, NULL, "reading %s %s: %s", t->name, key, tr_strerror(rc));
        return;
    }
    if (api__answer_stored_record(r, t, text)) {
        free(text);
        return;
    }
    json_error_t jerr;
    json_t *doc = json_loads(text, 0, &jerr);
    free(text);
    json_t *ver = json_object_get(doc, "_version");
    char etag[24];
    if (!json_is_object(doc) || !json_is_integer(ver) || json_integer_value(ver) <= 0) {
        api__problemf(r, 500, NULL, "reading %s %s: the stored record has no _version", t->name,
                      key);
    } else if (api__acl_read_or_403(r, t, doc)) {
        snprintf(etag, sizeof etag, "%" JSON_INTEGER_FORMAT, json_integer_value(ver));
        api__respond_json(r, 200, doc, etag, NULL);
        return;
    }
    json_decref(doc);
}

/* ------------------------------------------------------------------------------------------- */
/* Ledger reads, membership governance, the test hook */

static bool tx_id_ok(const char *id)
{
    size_t n = strlen(id);
    if (n != 32)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((id[i] >= '0' && id[i] <= '9') || (id[i] >= 'a' && id[i] <= 'f')))
            return false;
    return true;
}

static void route_blocks(struct api__req *r, const struct path *p)
{
    if (r->method != HTTP_GET) {
        api__method_not_allowed(r, "GET");
        return;
    }
    const struct api_backend *be = api__backend(r);
    json_t *out = NULL;
    if (strcmp(p->seg[2], "checkpoints") == 0) {
        if (strcmp(p->seg[3], "latest") != 0 || !be->checkpoint_latest) {
            api__problemf(r, 404, "no-route", "only /v1/ledger/checkpoints/latest exists");
            return;
        }
        int rc = be->checkpoint_latest(be->ctx, &out); /* before `out` is read */
        answer_backend_json(r, rc, out, "checkpoint");
        return;
    }
    uint64_t height = 0;
    if (api__parse_u64(p->seg[3], strlen(p->seg[3]), &height) != 0 || height == 0) {
        api__problemf(r, 400, "bad-height", "a block height is a whole number >= 1");
        return;
    }
    if (!be->block_get) {
        api__problemf(r, 404, "no-route", "blocks are not served here");
        return;
    }
    char what[48];
    snprintf(what, sizeof what, "block %llu", (unsigned long long)height);
    int rc = be->block_get(be->ctx, height, &out);
    answer_backend_json(r, rc, out, what);
}

static json_t *body_object(struct api__req *r)
{
    json_error_t jerr;
    json_t *doc = json_loadb(r->body ? r->body : "", r->body_len, JSON_REJECT_DUPLICATES, &jerr);
    if (!doc || !json_is_object(doc)) {
        json_decref(doc);
        api__problemf(r, 400, "bad-json", "the body must be a JSON object%s%s", doc ? "" : ": ",
                      doc ? "" : jerr.text);
        return NULL;
    }
    return doc;
}

/* Submits governance action `gov` (taken; NULL: out of memory) as a signed tx of this org. */
static void submit_governance(struct api__req *r, json_t *gov)
{
    json_t *tx = gov ? json_pack("{s:o}", "governance", gov) : NULL;
    if (!tx) {
        api__problemf(r, 500, NULL, "out of memory");
        return;
    }
    const struct api_backend *be = api__backend(r);
    be->submit(be->ctx, tx, r, api__submit_done, api__submit_done_record);
    json_decref(tx);
}

/* Only reads have query parameters: a write carrying some was meant as something else, so it is
 * refused (400) rather than done with them ignored. Returns true when it answered. */
static bool write_query_refused(struct api__req *r, const struct path *p)
{
    if (!p->query || !*p->query)
        return false;
    api__problemf(r, 400, "bad-query", "%s requests take no query parameters",
                  http_method_str(r->method));
    return true;
}

/* POST /v1/members/proposals {"action":"add","org","public_key","peer"} | {"action":"remove",
 * "org"}; POST /v1/members/proposals/{id}/approve. Each is a signed governance tx of this org. */
static void route_members_write(struct api__req *r, const struct path *p)
{
    if (r->method != HTTP_POST) {
        api__method_not_allowed(r, "POST");
        return;
    }
    if (write_query_refused(r, p))
        return;
    json_t *gov;
    if (p->n == 3 && strcmp(p->seg[2], "rotate-key") == 0) {
        json_t *doc = body_object(r);
        if (!doc)
            return;
        const char *pk = json_string_value(json_object_get(doc, "public_key"));
        gov = pk ? json_pack("{s:s, s:s}", "action", "rotate_key", "public_key", pk) : NULL;
        json_decref(doc);
        if (!pk) {
            api__problemf(r, 422, "bad-key", "public_key (64 hex characters) is required");
            return;
        }
    } else if (p->n == 3) {
        if (!(gov = body_object(r)))
            return;
        const char *action = json_string_value(json_object_get(gov, "action"));
        if (!action || (strcmp(action, "add") != 0 && strcmp(action, "remove") != 0)) {
            json_decref(gov);
            api__problemf(r, 422, "bad-proposal", "action must be \"add\" or \"remove\"");
            return;
        }
    } else {
        if (!tx_id_ok(p->seg[3]) || strcmp(p->seg[4], "approve") != 0) {
            api__problemf(r, 404, "no-route",
                          "approve a proposal at /v1/members/proposals/{id}/approve");
            return;
        }
        gov = json_pack("{s:s, s:s}", "action", "approve", "proposal", p->seg[3]);
    }
    submit_governance(r, gov);
}

/* POST /v1/schema/proposals {"schema": {...}}: proposes the document as the network's next
 * schema (a signed governance tx of this org; the node answers 422 at once when the change is
 * breaking). POST /v1/schema/proposals/{id}/approve approves one, like a membership proposal. */
static void route_schema_write(struct api__req *r, const struct path *p)
{
    if (r->method != HTTP_POST) {
        api__method_not_allowed(r, "POST");
        return;
    }
    if (write_query_refused(r, p))
        return;
    json_t *gov = NULL;
    if (p->n == 3) {
        json_t *doc = body_object(r);
        if (!doc)
            return;
        json_t *schema = json_object_get(doc, "schema");
        if (!json_is_object(schema)) {
            json_decref(doc);
            api__problemf(r, 422, "bad-proposal",
                          "the body must be {\"schema\": <the whole proposed schema document>}");
            return;
        }
        gov = json_pack("{s:s, s:O}", "action", "schema", "schema", schema);
        json_decref(doc);
    } else {
        if (!tx_id_ok(p->seg[3])) {
            api__problemf(r, 404, "no-route",
                          "approve a schema proposal at /v1/schema/proposals/{id}/approve, id "
                          "being the proposal's 32 hex characters");
            return;
        }
        gov = json_pack("{s:s, s:s}", "action", "approve", "proposal", p->seg[3]);
    }
    submit_governance(r, gov);
}

static void route_test_entry(struct api__req *r)
{
    const struct api_backend *be = api__backend(r);
    if (!be->test_entry) {
        api__problemf(r, 404, "no-route", "no route for %.200s", r->url ? r->url : "");
        return;
    }
    if (r->method != HTTP_POST) {
        api__method_not_allowed(r, "POST");
        return;
    }
    json_t *doc = body_object(r);
    if (!doc)
        return;
    const char *entry = json_string_value(json_object_get(doc, "entry"));
    int rc = entry ? be->test_entry(be->ctx, entry) : TR_EINVAL;
    json_decref(doc);
    if (rc == TR_OK)
        api__respond_json(r, 202, json_pack("{s:s}", "status", "ordered"), NULL, NULL);
    else
        api__problemf(r, 400, "bad-entry", "entry must be the base64 of an encoded ledger Entry");
}

/* ------------------------------------------------------------------------------------------- */
/* Router */

static void route_data(struct api__req *r, const struct path *p)
{
    const char *allow = p->n == 3 ? "GET, POST" : p->n == 5 ? "GET" : "GET, PUT, PATCH, DELETE";
    bool ok = p->n == 3   ? (r->method == HTTP_GET || r->method == HTTP_POST)
              : p->n == 5 ? r->method == HTTP_GET
                          : (r->method == HTTP_GET || r->method == HTTP_PUT ||
                             r->method == HTTP_PATCH || r->method == HTTP_DELETE);
    if (!ok) {
        api__method_not_allowed(r, allow);
        return;
    }
    const struct schema_type *t = schema_network_type_find(api__schema(r), p->seg[2]);
    if (!t) {
        api__problemf(r, 404, "unknown-type", "no record type named \"%.64s\"", p->seg[2]);
        return;
    }
    if (r->method != HTTP_GET && write_query_refused(r, p))
        return;
    if (r->method == HTTP_GET && api__read_consistency(r, p->query) != 0)
        return; /* answered, or routed again once the read barrier passed */
    r->type = t;
    if (p->n == 3) {
        if (r->method == HTTP_GET)
            api__route_list(r, t, p->query);
        else
            api__record_write(r, t, NULL);
        return;
    }
    if (strlen(p->seg[3]) > API__KEY_MAX_BYTES) {
        api__problemf(r, 414, "key-too-long", "keys are at most %d bytes", API__KEY_MAX_BYTES);
        return;
    }
    json_t *key_text = json_string(p->seg[3]); /* NULL: not UTF-8, no key a record can have */
    if (!key_text) {
        api__problemf(r, 400, "bad-key", "a record key is UTF-8 text");
        return;
    }
    json_decref(key_text);
    if (p->n == 5)
        api__route_history(r, t, p->seg[3], p->query);
    else if (r->method == HTTP_GET)
        route_record_get(r, t, p->seg[3], p->query);
    else if (r->method == HTTP_PUT)
        api__record_write(r, t, p->seg[3]);
    else if (r->method == HTTP_PATCH)
        api__record_patch(r, t, p->seg[3]);
    else
        api__record_delete(r, t, p->seg[3]);
}

static void route_get_only(struct api__req *r, const struct path *p)
{
    if (r->method != HTTP_GET) {
        api__method_not_allowed(r, "GET");
        return;
    }
    const struct api_backend *be = api__backend(r);
    json_t *out = NULL;
    int rc;
    if (p->n == 1) {
        api__respond_json(r, 200, json_pack("{s:s}", "status", "ok"), NULL, NULL);
    } else if (strcmp(p->seg[1], "members") == 0) {
        rc = be->members(be->ctx, &out);
        answer_backend_json(r, rc, out, "members");
    } else if (strcmp(p->seg[1], "ledger") == 0) {
        rc = be->head(be->ctx, &out);
        answer_backend_json(r, rc, out, "ledger head");
    } else if (!tx_id_ok(p->seg[2])) {
        api__problemf(r, 400, "bad-tx-id", "a tx id is 32 lowercase hex characters");
    } else {
        char what[48];
        snprintf(what, sizeof what, "tx %s", p->seg[2]);
        rc = be->tx_get(be->ctx, p->seg[2], &out);
        answer_backend_json(r, rc, out, what);
    }
}

/* The route template a parsed path falls under, whatever the method: the metrics label. */
static enum api__route_id route_id(const struct api__req *r, const struct path *p)
{
    if (path_is(p, 3, "v1", "data", NULL))
        return API__ROUTE_DATA_TYPE;
    if (path_is(p, 4, "v1", "data", NULL))
        return API__ROUTE_DATA_KEY;
    if (path_is(p, 5, "v1", "data", NULL) && strcmp(p->seg[4], "history") == 0)
        return API__ROUTE_DATA_HISTORY;
    if (path_is(p, 4, "v1", "ledger", "blocks"))
        return API__ROUTE_BLOCK;
    if (path_is(p, 4, "v1", "ledger", "checkpoints") && strcmp(p->seg[3], "latest") == 0)
        return API__ROUTE_CHECKPOINT;
    if (path_is(p, 3, "v1", "members", "proposals"))
        return API__ROUTE_PROPOSALS;
    if (path_is(p, 5, "v1", "members", "proposals") && strcmp(p->seg[4], "approve") == 0)
        return API__ROUTE_APPROVE;
    if (path_is(p, 3, "v1", "members", "rotate-key"))
        return API__ROUTE_ROTATE_KEY;
    if (path_is(p, 2, "v1", "tx", NULL))
        return API__ROUTE_TX_POST;
    if (path_is(p, 3, "v1", "tx", NULL))
        return API__ROUTE_TX_GET;
    if (path_is(p, 3, "v1", "_test", "entry") && api__backend(r)->test_entry)
        return API__ROUTE_TEST_ENTRY;
    if (path_is(p, 2, "v1", "members", NULL))
        return API__ROUTE_MEMBERS;
    if (path_is(p, 3, "v1", "ledger", "head"))
        return API__ROUTE_HEAD;
    if (path_is(p, 1, "healthz", NULL, NULL))
        return API__ROUTE_HEALTHZ;
    if (path_is(p, 1, "readyz", NULL, NULL))
        return API__ROUTE_READYZ;
    if (path_is(p, 1, "metrics", NULL, NULL))
        return API__ROUTE_METRICS;
    if (path_is(p, 2, "v1", "events", NULL))
        return API__ROUTE_EVENTS;
    if (path_is(p, 2, "v1", "schema", NULL))
        return API__ROUTE_SCHEMA;
    if (path_is(p, 3, "v1", "schema", "proposals"))
        return API__ROUTE_SCHEMA_PROPOSALS;
    if (path_is(p, 5, "v1", "schema", "proposals") && strcmp(p->seg[4], "approve") == 0)
        return API__ROUTE_SCHEMA_APPROVE;
    if (path_is(p, 2, "v1", "openapi.json", NULL))
        return API__ROUTE_OPENAPI;
    if (path_is(p, 3, "v1", "ledger", "export"))
        return API__ROUTE_EXPORT;
    if (path_is(p, 4, "v1", "ledger", "proofs") && strcmp(p->seg[3], "inclusion") == 0)
        return API__ROUTE_PROOF_INCLUSION;
    if (path_is(p, 4, "v1", "ledger", "proofs") && strcmp(p->seg[3], "consistency") == 0)
        return API__ROUTE_PROOF_CONSISTENCY;
    return API__ROUTE_OTHER;
}

/* GET-only routes of the operations API: /readyz and /metrics. */
static void route_ops(struct api__req *r)
{
    if (r->method != HTTP_GET)
        api__method_not_allowed(r, "GET");
    else if (r->route == API__ROUTE_READYZ)
        api__route_readyz(r);
    else
        api__route_metrics(r);
}

void api__route(struct api__req *r)
{
    struct path p;
    int rc = path_parse(r->url ? r->url : "", &p);
    r->route = rc == TR_OK ? route_id(r, &p) : API__ROUTE_OTHER;
    if (rc == TR_EPARSE) {
        api__problemf(r, 400, "bad-path", "the path has a malformed percent-escape");
        return;
    }
    if (rc == TR_ENOMEM) {
        api__problemf(r, 500, NULL, "out of memory");
        return;
    }
    const char *area =
        rc == TR_OK && p.n >= 1 && strcmp(p.seg[0], "v1") == 0 ? (p.n >= 2 ? p.seg[1] : "") : NULL;
    if (api__auth_admit(r, area) != 0) {
        path_free(&p);
        return;
    }
    if (rc == TR_OK && (path_is(&p, 3, "v1", "data", NULL) || path_is(&p, 4, "v1", "data", NULL) ||
                        (path_is(&p, 5, "v1", "data", NULL) && strcmp(p.seg[4], "history") == 0)))
        route_data(r, &p);
    else if (rc == TR_OK && (path_is(&p, 4, "v1", "ledger", "blocks") ||
                             path_is(&p, 4, "v1", "ledger", "checkpoints")))
        route_blocks(r, &p);
    else if (rc == TR_OK && (path_is(&p, 3, "v1", "members", "proposals") ||
                             path_is(&p, 3, "v1", "members", "rotate-key") ||
                             path_is(&p, 5, "v1", "members", "proposals")))
        route_members_write(r, &p);
    else if (r->route == API__ROUTE_SCHEMA_PROPOSALS || r->route == API__ROUTE_SCHEMA_APPROVE)
        route_schema_write(r, &p);
    else if (rc == TR_OK && path_is(&p, 2, "v1", "tx", NULL) && r->method != HTTP_POST)
        api__method_not_allowed(r, "POST");
    else if (rc == TR_OK && path_is(&p, 2, "v1", "tx", NULL)) {
        if (!write_query_refused(r, &p))
            api__route_tx(r);
    } else if (rc == TR_OK && path_is(&p, 3, "v1", "_test", "entry"))
        route_test_entry(r);
    else if (rc == TR_OK &&
             (path_is(&p, 1, "healthz", NULL, NULL) || path_is(&p, 2, "v1", "members", NULL) ||
              path_is(&p, 3, "v1", "ledger", "head") || path_is(&p, 3, "v1", "tx", NULL)))
        route_get_only(r, &p);
    else if (r->route == API__ROUTE_READYZ || r->route == API__ROUTE_METRICS)
        route_ops(r);
    else if (r->route == API__ROUTE_EVENTS)
        api__route_events(r);
    else if (r->route == API__ROUTE_OPENAPI || r->route == API__ROUTE_SCHEMA)
        api__route_documents(r);
    else if (r->route == API__ROUTE_PROOF_INCLUSION || r->route == API__ROUTE_PROOF_CONSISTENCY)
        api__route_proof(r, p.query);
    else if (r->route == API__ROUTE_EXPORT)
        api__route_export(r, p.query);
    else
        api__problemf(r, 404, "no-route", "no route for %.200s", r->url ? r->url : "");
    path_free(&p);
}
