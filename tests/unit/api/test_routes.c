/* test_routes.c — suite `routes` for api/routes.c and api/routes_tx.c over loopback HTTP with the
 * fake backend: record create/replace/patch/delete/read and POST /v1/tx (tx JSON handed to submit,
 * ETag, If-Match, Idempotency-Key, key rules, percent-decoding, the op limit), schema violations
 * (422 with every violation, nothing submitted), paged lists and history (query parsing, the
 * filter value by field type), ledger, tx and members reads, unknown routes (404)
 * and wrong methods (405 with Allow). */
#include "harness.h"

#include "common/err.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

Suite *suite_routes(void);

static struct harness H;

static void setup(void)
{
    harness_start(&H, NULL);
}

static void teardown(void)
{
    harness_stop(&H);
}

/* Sends method path with an optional JSON body and extra header lines; returns the response. */
static struct response req(const char *method, const char *path, const char *body,
                           const char *headers)
{
    size_t cap = 512 + (headers ? strlen(headers) : 0) + (body ? strlen(body) : 0);
    char *buf = malloc(cap);
    ck_assert_ptr_nonnull(buf);
    /* An admin key and a JSON body type unless the test sends its own. */
    const char *auth = headers && strstr(headers, "Authorization:") ? "" : AUTH_ADMIN;
    const char *ctype = headers && strstr(headers, "Content-Type:") ? "" : JSON_CT;
    snprintf(buf, cap, "%s %s HTTP/1.1\r\nHost: t\r\n%s%s%sContent-Length: %zu\r\n\r\n%s", method,
             path, auth, ctype, headers ? headers : "", body ? strlen(body) : 0, body ? body : "");
    struct response r;
    http_do(&H, buf, &r);
    free(buf);
    return r;
}

/* Asserts a problem+json response with `status` whose detail contains `needle`. */
static void assert_problem(struct response *r, int status, const char *needle)
{
    ck_assert_int_eq(r->status, status);
    ck_assert_str_eq(r->content_type, "application/problem+json");
    json_t *j = response_json(r);
    ck_assert(json_is_string(json_object_get(j, "type")));
    ck_assert(json_is_string(json_object_get(j, "title")));
    ck_assert_int_eq(json_integer_value(json_object_get(j, "status")), status);
    const char *d = json_string_value(json_object_get(j, "detail"));
    ck_assert_ptr_nonnull(d);
    ck_assert_msg(strstr(d, needle) != NULL, "detail \"%s\" lacks \"%s\"", d, needle);
    json_decref(j);
    free(r->body);
}

static void create_item(bool async)
{
    H.fb.async = async;
    struct response r =
        req("POST", "/v1/data/Item", "{\"qty\":3,\"id\":\"a1\"}", "Idempotency-Key: k-77\r\n");
    ck_assert_int_eq(r.status, 201);
    ck_assert_str_eq(r.etag, "\"1\"");
    ck_assert_str_eq(r.content_type, "application/json");
    ck_assert_str_eq(r.body, "{\"tx\":\"0123456789abcdef0123456789abcdef\"}");
    ck_assert_int_eq(H.fb.n_submit, 1);
    ck_assert_str_eq(H.fb.last_tx,
                     "{\"idempotency_key\":\"k-77\",\"ops\":[{\"body\":{\"id\":\"a1\","
                     "\"qty\":3},\"key\":\"a1\",\"op\":\"create\",\"type\":\"Item\"}]}");
    free(r.body);
}

START_TEST(create_sync)
{
    create_item(false);
}
END_TEST

START_TEST(create_async)
{
    create_item(true);
}
END_TEST

START_TEST(create_integer_key)
{
    struct response r = req("POST", "/v1/data/Counter", "{\"n\":-7}", NULL);
    ck_assert_int_eq(r.status, 201);
    ck_assert_ptr_nonnull(strstr(H.fb.last_tx, "\"key\":\"-7\""));
    ck_assert_ptr_null(strstr(H.fb.last_tx, "idempotency_key"));
    free(r.body);
}
END_TEST

START_TEST(create_unknown_type_404)
{
    struct response r = req("POST", "/v1/data/Nope", "{\"id\":\"a\"}", NULL);
    assert_problem(&r, 404, "Nope");
    ck_assert_int_eq(H.fb.n_submit, 0);
}
END_TEST

START_TEST(create_bad_json_400)
{
    struct response r = req("POST", "/v1/data/Item", "{\"id\":", NULL);
    assert_problem(&r, 400, "request body");
    r = req("POST", "/v1/data/Item", "[1,2]", NULL);
    assert_problem(&r, 400, "must be a JSON object");
    r = req("POST", "/v1/data/Item", NULL, NULL);
    assert_problem(&r, 400, "empty");
    ck_assert_int_eq(H.fb.n_submit, 0);
}
END_TEST

START_TEST(create_schema_violation_422_lists_every_error)
{
    struct response r =
        req("POST", "/v1/data/Item", "{\"id\":\"a\",\"qty\":-1,\"extra\":true}", NULL);
    ck_assert_int_eq(r.status, 422);
    ck_assert_str_eq(r.content_type, "application/problem+json");
    json_t *j = response_json(&r);
    ck_assert_int_eq(json_integer_value(json_object_get(j, "status")), 422);
    json_t *errs = json_object_get(j, "errors");
    ck_assert(json_is_array(errs));
    ck_assert_uint_eq(json_array_size(errs), 2);
    bool saw_qty = false, saw_extra = false;
    size_t i;
    json_t *e;
    json_array_foreach(errs, i, e)
    {
        const char *ip = json_string_value(json_object_get(e, "instancePath"));
        const char *sp = json_string_value(json_object_get(e, "schemaPath"));
        ck_assert_ptr_nonnull(ip);
        ck_assert_ptr_nonnull(sp);
        ck_assert_ptr_nonnull(json_string_value(json_object_get(e, "message")));
        if (strcmp(ip, "/qty") == 0) {
            saw_qty = true;
            ck_assert_str_eq(sp, "/properties/Item/items/properties/qty/minimum");
        }
        if (strstr(sp, "additionalProperties"))
            saw_extra = true;
    }
    ck_assert(saw_qty && saw_extra);
    json_decref(j);
    free(r.body);
    ck_assert_int_eq(H.fb.n_submit, 0);
}
END_TEST

START_TEST(create_key_longer_than_limit_422)
{
    char body[400];
    char key[258];
    memset(key, 'k', 257);
    key[257] = '\0';
    snprintf(body, sizeof body, "{\"id\":\"%s\",\"qty\":1}", key);
    struct response r = req("POST", "/v1/data/Item", body, NULL);
    assert_problem(&r, 422, "256 bytes");
    key[256] = '\0'; /* exactly the limit */
    snprintf(body, sizeof body, "{\"id\":\"%s\",\"qty\":1}", key);
    r = req("POST", "/v1/data/Item", body, NULL);
    ck_assert_int_eq(r.status, 201);
    free(r.body);
    ck_assert_int_eq(H.fb.n_submit, 1);
}
END_TEST

START_TEST(backend_error_becomes_problem)
{
    H.fb.submit_status = 409;
    H.fb.submit_body = json_pack("{s:s}", "detail", "version: expected 2, record is at 3");
    struct response r = req("POST", "/v1/data/Item", "{\"id\":\"a\",\"qty\":1}", NULL);
    assert_problem(&r, 409, "expected 2");
    json_decref(H.fb.submit_body);
}
END_TEST

START_TEST(backend_error_without_object_body)
{
    H.fb.submit_status = 503;
    H.fb.submit_body = json_string("not leader");
    H.fb.async = true;
    struct response r = req("POST", "/v1/data/Item", "{\"id\":\"a\",\"qty\":1}", NULL);
    ck_assert_str_eq(r.etag, "\"1\"");
    assert_problem(&r, 503, "Service Unavailable");
    json_decref(H.fb.submit_body);
}
END_TEST

START_TEST(backend_bad_status_becomes_500)
{
    H.fb.submit_status = 42;
    struct response r = req("POST", "/v1/data/Item", "{\"id\":\"a\",\"qty\":1}", NULL);
    ck_assert_int_eq(r.status, 500);
    ck_assert_str_eq(r.content_type, "application/problem+json");
    ck_assert_str_eq(r.etag, "");
    free(r.body);
}
END_TEST

START_TEST(replace_with_if_match)
{
    struct response r =
        req("PUT", "/v1/data/Item/a%201", "{\"id\":\"a 1\",\"qty\":5}", "If-Match: \"4\"\r\n");
    ck_assert_int_eq(r.status, 201);
    free(r.body);
    ck_assert_str_eq(H.fb.last_tx,
                     "{\"ops\":[{\"body\":{\"id\":\"a 1\",\"qty\":5},\"expected_version\":"
                     "4,\"key\":\"a 1\",\"op\":\"replace\",\"type\":\"Item\"}]}");
    r = req("PUT", "/v1/data/Item/a1", "{\"id\":\"a1\",\"qty\":5}", NULL);
    ck_assert_int_eq(r.status, 201);
    free(r.body);
    ck_assert_ptr_null(strstr(H.fb.last_tx, "expected_version"));
    ck_assert_int_eq(H.fb.n_submit, 2);
}
END_TEST

START_TEST(replace_key_mismatch_and_bad_if_match)
{
    struct response r = req("PUT", "/v1/data/Item/a1", "{\"id\":\"b2\",\"qty\":5}", NULL);
    assert_problem(&r, 422, "differs from the key in the path");
    r = req("PUT", "/v1/data/Item/a1", "{\"id\":\"a1\",\"qty\":5}", "If-Match: 4\r\n");
    assert_problem(&r, 400, "If-Match");
    r = req("PUT", "/v1/data/Item/a1", "{\"id\":\"a1\",\"qty\":5}", "If-Match: \"0\"\r\n");
    assert_problem(&r, 400, "If-Match");
    ck_assert_int_eq(H.fb.n_submit, 0);
}
END_TEST

START_TEST(patch_with_if_match_and_idempotency_key)
{
    struct response r = req("PATCH", "/v1/data/Item/a1", "{\"qty\":5,\"note\":null}",
                            "Content-Type: application/merge-patch+json\r\nIf-Match: \"2\"\r\n"
                            "Idempotency-Key: p-1\r\n");
    ck_assert_int_eq(r.status, 201);
    free(r.body);
    ck_assert_str_eq(H.fb.last_tx, "{\"idempotency_key\":\"p-1\",\"ops\":[{\"body\":{\"note\":null,"
                                   "\"qty\":5},\"expected_version\":2,\"key\":\"a1\",\"op\":"
                                   "\"patch\",\"type\":\"Item\"}]}");
    /* the key field may appear when it keeps the key; application/json is accepted too */
    r = req("PATCH", "/v1/data/Counter/-7", "{\"n\":-7}", "Content-Type: application/json\r\n");
    ck_assert_int_eq(r.status, 201);
    free(r.body);
    ck_assert_str_eq(H.fb.last_tx, "{\"ops\":[{\"body\":{\"n\":-7},\"key\":\"-7\",\"op\":\"patch\","
                                   "\"type\":\"Counter\"}]}");
    ck_assert_int_eq(H.fb.n_submit, 2);
}
END_TEST

START_TEST(patch_errors_submit_nothing)
{
    struct response r = req("PATCH", "/v1/data/Item/a1", "{\"qty\":", NULL);
    assert_problem(&r, 400, "request body");
    r = req("PATCH", "/v1/data/Item/a1", "[{\"qty\":1}]", NULL);
    assert_problem(&r, 400, "must be a JSON object");
    r = req("PATCH", "/v1/data/Item/a1", NULL, NULL);
    assert_problem(&r, 400, "empty");
    r = req("PATCH", "/v1/data/Nope/a1", "{\"qty\":1}", NULL);
    assert_problem(&r, 404, "Nope");
    r = req("PATCH", "/v1/data/Item/a1", "{\"id\":\"b2\"}", NULL);
    assert_problem(&r, 422, "changes key field id");
    r = req("PATCH", "/v1/data/Item/a1", "{\"id\":null}", NULL);
    assert_problem(&r, 422, "changes key field id");
    r = req("PATCH", "/v1/data/Item/a1", "{\"qty\":1}", "If-Match: \"x\"\r\n");
    assert_problem(&r, 400, "If-Match");
    r = req("PATCH", "/v1/data/Item/a1", "{\"qty\":1}", "Idempotency-Key: \r\n");
    assert_problem(&r, 400, "Idempotency-Key");
    ck_assert_int_eq(H.fb.n_submit, 0);
}
END_TEST

START_TEST(delete_with_and_without_if_match)
{
    H.fb.submit_status = 200;
    H.fb.submit_body =
        json_pack("{s:s, s:s}", "tx", "0123456789abcdef0123456789abcdef", "status", "committed");
    struct response r = req("DELETE", "/v1/data/Item/a%201", NULL, "If-Match: \"3\"\r\n");
    ck_assert_int_eq(r.status, 200);
    ck_assert_ptr_nonnull(strstr(r.body, "\"committed\""));
    free(r.body);
    ck_assert_str_eq(H.fb.last_tx, "{\"ops\":[{\"expected_version\":3,\"key\":\"a 1\",\"op\":"
                                   "\"delete\",\"type\":\"Item\"}]}");
    r = req("DELETE", "/v1/data/Item/a1", NULL, NULL);
    ck_assert_int_eq(r.status, 200);
    free(r.body);
    ck_assert_str_eq(H.fb.last_tx,
                     "{\"ops\":[{\"key\":\"a1\",\"op\":\"delete\",\"type\":\"Item\"}]}");
    r = req("DELETE", "/v1/data/Nope/a1", NULL, NULL);
    assert_problem(&r, 404, "Nope");
    r = req("DELETE", "/v1/data/Item/a1", NULL, "If-Match: *\r\n");
    assert_problem(&r, 400, "If-Match");
    ck_assert_int_eq(H.fb.n_submit, 2);
    json_decref(H.fb.submit_body);
}
END_TEST

START_TEST(tx_submits_normalized_ops)
{
    struct response r =
        req("POST", "/v1/tx",
            "{\"ops\":[{\"op\":\"create\",\"type\":\"Item\",\"body\":{\"id\":\"n1\",\"qty\":1}},"
            "{\"op\":\"create\",\"type\":\"Counter\",\"key\":\"-7\",\"body\":{\"n\":-7}},"
            "{\"op\":\"replace\",\"type\":\"Item\",\"key\":\"r1\",\"expected_version\":4,"
            "\"body\":{\"id\":\"r1\",\"qty\":2}},"
            "{\"op\":\"patch\",\"type\":\"Item\",\"key\":\"p1\",\"body\":{\"note\":\"x\"}},"
            "{\"op\":\"delete\",\"type\":\"Counter\",\"key\":5,\"expected_version\":1}]}",
            "Idempotency-Key: t-9\r\n");
    ck_assert_int_eq(r.status, 201);
    free(r.body);
    ck_assert_int_eq(H.fb.n_submit, 1);
    ck_assert_str_eq(
        H.fb.last_tx,
        "{\"idempotency_key\":\"t-9\",\"ops\":["
        "{\"body\":{\"id\":\"n1\",\"qty\":1},\"key\":\"n1\",\"op\":\"create\",\"type\":\"Item\"},"
        "{\"body\":{\"n\":-7},\"key\":\"-7\",\"op\":\"create\",\"type\":\"Counter\"},"
        "{\"body\":{\"id\":\"r1\",\"qty\":2},\"expected_version\":4,\"key\":\"r1\",\"op\":"
        "\"replace\",\"type\":\"Item\"},"
        "{\"body\":{\"note\":\"x\"},\"key\":\"p1\",\"op\":\"patch\",\"type\":\"Item\"},"
        "{\"expected_version\":1,\"key\":\"5\",\"op\":\"delete\",\"type\":\"Counter\"}]}");
}
END_TEST

START_TEST(tx_schema_violations_422_list_every_error)
{
    struct response r =
        req("POST", "/v1/tx",
            "{\"ops\":[{\"op\":\"create\",\"type\":\"Item\",\"body\":{\"id\":\"a\",\"qty\":-1}},"
            "{\"op\":\"patch\",\"type\":\"Item\",\"key\":\"b\",\"body\":{\"qty\":-1}},"
            "{\"op\":\"replace\",\"type\":\"Item\",\"key\":\"c\",\"body\":{\"id\":\"c\","
            "\"qty\":1,\"extra\":1,\"note\":7}}]}",
            NULL);
    ck_assert_int_eq(r.status, 422);
    json_t *j = response_json(&r);
    ck_assert_ptr_nonnull(strstr(json_string_value(json_object_get(j, "detail")), "2 ops"));
    json_t *errs = json_object_get(j, "errors");
    ck_assert_uint_eq(json_array_size(errs), 3);
    bool saw_qty = false, saw_extra = false, saw_note = false;
    size_t i;
    json_t *e;
    json_array_foreach(errs, i, e)
    {
        const char *ip = json_string_value(json_object_get(e, "instancePath"));
        const char *sp = json_string_value(json_object_get(e, "schemaPath"));
        ck_assert_ptr_nonnull(ip);
        ck_assert_ptr_nonnull(sp);
        saw_qty = saw_qty || strcmp(ip, "/ops/0/body/qty") == 0;
        saw_note = saw_note || strcmp(ip, "/ops/2/body/note") == 0;
        saw_extra = saw_extra ||
                    (strcmp(ip, "/ops/2/body") == 0 && strstr(sp, "additionalProperties") != NULL);
    }
    ck_assert(saw_qty && saw_extra && saw_note);
    json_decref(j);
    free(r.body);
    ck_assert_int_eq(H.fb.n_submit, 0);
}
END_TEST

/* A tx body of n ops creating Counters 1..n. */
static char *tx_of_counters(size_t n)
{
    size_t cap = 64 + n * 64, len = 0;
    char *b = malloc(cap);
    ck_assert_ptr_nonnull(b);
    len += (size_t)snprintf(b + len, cap - len, "{\"ops\":[");
    for (size_t i = 1; i <= n; i++)
        len += (size_t)snprintf(b + len, cap - len,
                                "%s{\"op\":\"create\",\"type\":\"Counter\",\"body\":{\"n\":%zu}}",
                                i > 1 ? "," : "", i);
    snprintf(b + len, cap - len, "]}");
    return b;
}

START_TEST(tx_op_count_at_the_limit)
{
    char *b = tx_of_counters(257);
    struct response r = req("POST", "/v1/tx", b, NULL);
    free(b);
    assert_problem(&r, 422, "1 to 256 ops");
    ck_assert_int_eq(H.fb.n_submit, 0);
    b = tx_of_counters(256);
    r = req("POST", "/v1/tx", b, NULL);
    free(b);
    ck_assert_int_eq(r.status, 201);
    free(r.body);
    ck_assert_int_eq(H.fb.n_submit, 1);
    ck_assert_ptr_nonnull(strstr(H.fb.last_tx, "\"key\":\"256\""));
}
END_TEST

/* A write never runs with its query ignored; a method the route lacks is still 405 first. */
START_TEST(write_with_query_400)
{
    static const char *const paths[][2] = {{"POST", "/v1/data/Item?x=1"},
                                           {"PUT", "/v1/data/Item/a1?version=1"},
                                           {"DELETE", "/v1/data/Item/a1?x"},
                                           {"POST", "/v1/tx?wait=none"},
                                           {"POST", "/v1/members/proposals?a=b"}};
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        struct response r = req(paths[i][0], paths[i][1], "{\"qty\":3,\"id\":\"a1\"}", NULL);
        assert_problem(&r, 400, "take no query parameters");
    }
    struct response r = req("DELETE", "/v1/data/Item?x=1", NULL, NULL);
    assert_problem(&r, 405, "");
    ck_assert_int_eq(H.fb.n_submit, 0);
}
END_TEST

START_TEST(tx_refusals_submit_nothing)
{
    static const struct {
        const char *body;
        int status;
        const char *needle;
    } cases[] = {
        {"{\"ops\":", 400, "request body"},
        {"[1]", 400, "must be a JSON object"},
        {"{}", 422, "1 to 256 ops"},
        {"{\"ops\":[]}", 422, "1 to 256 ops"},
        {"{\"ops\":{}}", 422, "1 to 256 ops"},
        {"{\"ops\":[{\"op\":\"delete\",\"type\":\"Item\",\"key\":\"a\"}],\"x\":1}", 422,
         "nothing else"},
        {"{\"ops\":[1]}", 422, "ops[0] must be a JSON object"},
        {"{\"ops\":[{\"op\":\"delete\",\"type\":\"Item\",\"key\":\"a\"},"
         "{\"op\":\"delete\",\"type\":\"Nope\",\"key\":\"a\"}]}",
         422, "ops[1]: no record type named \"Nope\""},
        {"{\"ops\":[{\"op\":\"upsert\",\"type\":\"Item\",\"key\":\"a\"}]}", 422, "ops[0]: op must"},
        {"{\"ops\":[{\"op\":\"delete\",\"type\":\"Item\",\"key\":\"a\",\"why\":1}]}", 422,
         "unknown field \"why\""},
        {"{\"ops\":[{\"op\":\"delete\",\"type\":\"Item\",\"key\":\"a\",\"body\":{}}]}", 422,
         "takes no body"},
        {"{\"ops\":[{\"op\":\"replace\",\"type\":\"Item\",\"body\":{\"id\":\"a\",\"qty\":1}}]}",
         422, "needs a key"},
        {"{\"ops\":[{\"op\":\"replace\",\"type\":\"Item\",\"key\":\"a\","
         "\"body\":{\"id\":\"b\",\"qty\":1}}]}",
         422, "differs from the op's key"},
        {"{\"ops\":[{\"op\":\"create\",\"type\":\"Item\",\"key\":\"a\","
         "\"body\":{\"id\":\"b\",\"qty\":1}}]}",
         422, "differs from the op's key"},
        {"{\"ops\":[{\"op\":\"patch\",\"type\":\"Item\",\"key\":\"a\",\"body\":{\"id\":\"b\"}}]}",
         422, "changes key field id"},
        {"{\"ops\":[{\"op\":\"patch\",\"type\":\"Item\",\"key\":\"a\",\"body\":[1]}]}", 422,
         "body must be a JSON object"},
        {"{\"ops\":[{\"op\":\"patch\",\"type\":\"Item\",\"key\":\"\",\"body\":{}}]}", 422,
         "key must be"},
        {"{\"ops\":[{\"op\":\"create\",\"type\":\"Item\",\"expected_version\":1,"
         "\"body\":{\"id\":\"a\",\"qty\":1}}]}",
         422, "expected_version"},
        {"{\"ops\":[{\"op\":\"delete\",\"type\":\"Item\",\"key\":\"a\",\"expected_version\":0}]}",
         422, "expected_version"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct response r = req("POST", "/v1/tx", cases[i].body, NULL);
        assert_problem(&r, cases[i].status, cases[i].needle);
    }
    struct response r = req("POST", "/v1/tx",
                            "{\"ops\":[{\"op\":\"delete\",\"type\":\"Item\","
                            "\"key\":\"a\"}]}",
                            "Idempotency-Key: \r\n");
    assert_problem(&r, 400, "Idempotency-Key");
    ck_assert_int_eq(H.fb.n_submit, 0);
}
END_TEST

START_TEST(get_record_with_etag_and_version)
{
    struct response r = req("GET", "/v1/data/Item/a%2Fb", NULL, NULL);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(r.etag, "\"3\"");
    ck_assert_str_eq(r.content_type, "application/json");
    ck_assert_ptr_nonnull(strstr(r.body, "\"_version\":3"));
    free(r.body);
    ck_assert_str_eq(H.fb.last_type, "Item");
    ck_assert_str_eq(H.fb.last_key, "a/b");
    ck_assert_uint_eq(H.fb.last_version, 0);
    r = req("GET", "/v1/data/Item/a1?version=2", NULL, NULL);
    ck_assert_int_eq(r.status, 200);
    free(r.body);
    ck_assert_uint_eq(H.fb.last_version, 2);
    r = req("GET", "/v1/data/Item/a1?version=x", NULL, NULL);
    assert_problem(&r, 400, "version");
    r = req("GET", "/v1/data/Item/a1?limit=3", NULL, NULL);
    assert_problem(&r, 400, "unknown query parameter");
    H.fb.record_rc = TR_ENOTFOUND;
    r = req("GET", "/v1/data/Item/zz", NULL, NULL);
    assert_problem(&r, 404, "zz");
    H.fb.record_rc = TR_EIO;
    r = req("GET", "/v1/data/Item/zz", NULL, NULL);
    assert_problem(&r, 500, "input/output error");
    ck_assert_int_eq(H.fb.n_record_get, 4);
}
END_TEST

START_TEST(path_decoding_and_key_limit)
{
    struct response r = req("GET", "/v1/data/Item/a%zz", NULL, NULL);
    assert_problem(&r, 400, "percent");
    r = req("GET", "/v1/data/Item/a%00", NULL, NULL);
    assert_problem(&r, 400, "percent");
    r = req("GET", "/v1/data/Item/a%2", NULL, NULL);
    assert_problem(&r, 400, "percent");
    char path[400];
    int n = snprintf(path, sizeof path, "/v1/data/Item/");
    memset(path + n, 'k', 256);
    path[n + 256] = '\0';
    r = req("GET", path, NULL, NULL);
    ck_assert_int_eq(r.status, 200);
    free(r.body);
    ck_assert_uint_eq(strlen(H.fb.last_key), 256);
    strcat(path, "k");
    r = req("GET", path, NULL, NULL);
    assert_problem(&r, 414, "256 bytes");
    ck_assert_int_eq(H.fb.n_record_get, 1);
}
END_TEST

START_TEST(ledger_tx_members_health)
{
    struct response r = req("GET", "/v1/ledger/head", NULL, NULL);
    ck_assert_int_eq(r.status, 200);
    ck_assert_ptr_nonnull(strstr(r.body, "\"height\":42"));
    free(r.body);
    r = req("GET", "/v1/members", NULL, NULL);
    ck_assert_int_eq(r.status, 200);
    ck_assert_ptr_nonnull(strstr(r.body, "acme"));
    free(r.body);
    r = req("GET", "/v1/tx/0123456789abcdef0123456789abcdef", NULL, NULL);
    ck_assert_int_eq(r.status, 200);
    free(r.body);
    ck_assert_str_eq(H.fb.last_tx_id, "0123456789abcdef0123456789abcdef");
    H.fb.tx_rc = TR_ENOTFOUND;
    r = req("GET", "/v1/tx/0123456789abcdef0123456789abcdee", NULL, NULL);
    assert_problem(&r, 404, "0123456789abcdef0123456789abcdee");
    r = req("GET", "/v1/tx/XYZ", NULL, NULL);
    assert_problem(&r, 400, "32 lowercase hex");
    ck_assert_int_eq(H.fb.n_tx_get, 2);
    ck_assert_int_eq(H.fb.n_head, 1);
    ck_assert_int_eq(H.fb.n_members, 1);
    r = req("GET", "/healthz", NULL, NULL);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(r.body, "{\"status\":\"ok\"}");
    free(r.body);
}
END_TEST

START_TEST(blocks_and_checkpoints)
{
    struct response r = req("GET", "/v1/ledger/blocks/7", NULL, NULL);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(r.body, "{\"height\":7}");
    free(r.body);
    r = req("GET", "/v1/ledger/blocks/101", NULL, NULL);
    assert_problem(&r, 404, "block 101");
    r = req("GET", "/v1/ledger/blocks/0", NULL, NULL);
    assert_problem(&r, 400, ">= 1");
    r = req("GET", "/v1/ledger/blocks/x1", NULL, NULL);
    assert_problem(&r, 400, "whole number");
    ck_assert_int_eq(H.fb.n_block_get, 2);
    r = req("GET", "/v1/ledger/checkpoints/latest", NULL, NULL);
    ck_assert_int_eq(r.status, 200);
    ck_assert_ptr_nonnull(strstr(r.body, "\"height\":64"));
    free(r.body);
    r = req("GET", "/v1/ledger/checkpoints/first", NULL, NULL);
    assert_problem(&r, 404, "latest");
    r = req("POST", "/v1/ledger/blocks/7", "{}", NULL);
    assert_problem(&r, 405, "POST");
}
END_TEST

START_TEST(membership_proposals_and_approvals)
{
    struct response r = req("POST", "/v1/members/proposals",
                            "{\"action\":\"add\",\"org\":\"umbrella\",\"public_key\":\"ab\","
                            "\"peer\":\"127.0.0.1:7404\"}",
                            NULL);
    ck_assert_int_eq(r.status, 201);
    free(r.body);
    ck_assert_str_eq(H.fb.last_tx, "{\"governance\":{\"action\":\"add\",\"org\":\"umbrella\","
                                   "\"peer\":\"127.0.0.1:7404\",\"public_key\":\"ab\"}}");
    r = req("POST", "/v1/members/proposals/0123456789abcdef0123456789abcdef/approve", "", NULL);
    ck_assert_int_eq(r.status, 201);
    free(r.body);
    ck_assert_str_eq(H.fb.last_tx, "{\"governance\":{\"action\":\"approve\","
                                   "\"proposal\":\"0123456789abcdef0123456789abcdef\"}}");
    ck_assert_int_eq(H.fb.n_submit, 2);
    r = req("POST", "/v1/members/proposals", "{\"action\":\"rename\"}", NULL);
    assert_problem(&r, 422, "action");
    r = req("POST", "/v1/members/proposals", "[1]", NULL);
    assert_problem(&r, 400, "JSON object");
    r = req("POST", "/v1/members/proposals/nothex/approve", "", NULL);
    assert_problem(&r, 404, "approve");
    r = req("GET", "/v1/members/proposals", NULL, NULL);
    assert_problem(&r, 405, "GET");
    ck_assert_int_eq(H.fb.n_submit, 2);
}
END_TEST

START_TEST(test_hook_entry)
{
    struct response r = req("POST", "/v1/_test/entry", "{\"entry\":\"AAEC\"}", NULL);
    ck_assert_int_eq(r.status, 202);
    free(r.body);
    r = req("POST", "/v1/_test/entry", "{\"entry\":\"!!\"}", NULL);
    assert_problem(&r, 400, "base64");
    r = req("POST", "/v1/_test/entry", "{\"other\":1}", NULL);
    assert_problem(&r, 400, "base64");
    ck_assert_int_eq(H.fb.n_test_entry, 2);
}
END_TEST

START_TEST(unknown_routes_and_methods)
{
    struct response r = req("GET", "/v2/data/Item", NULL, NULL);
    assert_problem(&r, 404, "no route");
    r = req("GET", "/v1/data/Item/a/b/c", NULL, NULL);
    assert_problem(&r, 404, "no route");
    r = req("GET", "/v1/data/Item/", NULL, NULL);
    assert_problem(&r, 404, "no route");
    r = req("PUT", "/v1/data/Item", NULL, NULL);
    ck_assert_str_eq(r.allow, "GET, POST");
    assert_problem(&r, 405, "allowed: GET, POST");
    r = req("DELETE", "/v1/data/Item/a1/history", NULL, NULL);
    ck_assert_str_eq(r.allow, "GET");
    assert_problem(&r, 405, "allowed: GET");
    r = req("GET", "/v1/data/Item/a1/versions", NULL, NULL);
    assert_problem(&r, 404, "no route");
    r = req("POST", "/v1/data/Item/a1", NULL, NULL);
    ck_assert_str_eq(r.allow, "GET, PUT, PATCH, DELETE");
    assert_problem(&r, 405, "POST");
    r = req("GET", "/v1/tx", NULL, NULL);
    ck_assert_str_eq(r.allow, "POST");
    assert_problem(&r, 405, "GET");
    r = req("POST", "/healthz", NULL, NULL);
    ck_assert_str_eq(r.allow, "GET");
    assert_problem(&r, 405, "POST");
    ck_assert_int_eq(H.fb.n_submit + H.fb.n_record_get + H.fb.n_history + H.fb.n_list, 0);
}
END_TEST

START_TEST(history_route)
{
    struct response r = req("GET", "/v1/data/Item/a%2F1/history", NULL, NULL);
    ck_assert_int_eq(r.status, 200);
    json_t *j = response_json(&r);
    ck_assert_int_eq(json_integer_value(json_object_get(j, "next_after_version")), 1);
    json_decref(j);
    free(r.body);
    ck_assert_str_eq(H.fb.last_type, "Item");
    ck_assert_str_eq(H.fb.last_key, "a/1");
    ck_assert_uint_eq(H.fb.last_version, 0);
    ck_assert_uint_eq(H.fb.last_limit, 100);
    r = req("GET", "/v1/data/Item/a1/history?limit=1000&after_version=7", NULL, NULL);
    ck_assert_int_eq(r.status, 200);
    free(r.body);
    ck_assert_uint_eq(H.fb.last_version, 7);
    ck_assert_uint_eq(H.fb.last_limit, 1000);
    r = req("GET", "/v1/data/Item/a1/history?after_version=0&limit=1", NULL, NULL);
    ck_assert_int_eq(r.status, 200);
    free(r.body);
    ck_assert_uint_eq(H.fb.last_version, 0);
    ck_assert_uint_eq(H.fb.last_limit, 1);
    ck_assert_int_eq(H.fb.n_history, 3);
    H.fb.page_rc = TR_ENOTFOUND;
    r = req("GET", "/v1/data/Item/zz/history", NULL, NULL);
    assert_problem(&r, 404, "history of Item zz");
    H.fb.page_rc = TR_EIO;
    r = req("GET", "/v1/data/Item/zz/history", NULL, NULL);
    assert_problem(&r, 500, "history of Item zz");
    ck_assert_int_eq(H.fb.n_history, 5);
    r = req("GET", "/v1/data/Nope/a1/history", NULL, NULL);
    assert_problem(&r, 404, "Nope");
}
END_TEST

START_TEST(history_query_errors)
{
    static const char *const bad[][2] = {
        {"/v1/data/Item/a1/history?limit=0", "limit"},
        {"/v1/data/Item/a1/history?limit=1001", "limit"},
        {"/v1/data/Item/a1/history?limit=x", "limit"},
        {"/v1/data/Item/a1/history?limit=", "limit"},
        {"/v1/data/Item/a1/history?after_version=-1", "after_version"},
        {"/v1/data/Item/a1/history?after_version=99999999999999999999", "after_version"},
        {"/v1/data/Item/a1/history?version=2", "unknown query parameter"},
        {"/v1/data/Item/a1/history?limit", "name=value"},
        {"/v1/data/Item/a1/history?limit=%zz", "percent-escape"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct response r = req("GET", bad[i][0], NULL, NULL);
        assert_problem(&r, 400, bad[i][1]);
    }
    ck_assert_int_eq(H.fb.n_history, 0);
}
END_TEST

START_TEST(list_route)
{
    struct response r = req("GET", "/v1/data/Item", NULL, NULL);
    ck_assert_int_eq(r.status, 200);
    json_t *j = response_json(&r);
    ck_assert_str_eq(json_string_value(json_object_get(j, "next_cursor")), "6131");
    ck_assert_uint_eq(json_array_size(json_object_get(j, "items")), 1);
    json_decref(j);
    free(r.body);
    ck_assert_str_eq(H.fb.last_type, "Item");
    ck_assert_str_eq(H.fb.last_field, "(none)");
    ck_assert_str_eq(H.fb.last_cursor, "(none)");
    ck_assert_uint_eq(H.fb.last_limit, 100);
    /* an integer field's value is the JSON integer the index stores */
    r = req("GET", "/v1/data/Item?qty=3&limit=1&cursor=6131", NULL, NULL);
    ck_assert_int_eq(r.status, 200);
    free(r.body);
    ck_assert_str_eq(H.fb.last_field, "qty");
    ck_assert_str_eq(H.fb.last_value, "3");
    ck_assert_str_eq(H.fb.last_cursor, "6131");
    ck_assert_uint_eq(H.fb.last_limit, 1);
    /* a string field's value stays a string, even when it looks like a number */
    r = req("GET", "/v1/data/Item?limit=1000&note=12", NULL, NULL);
    ck_assert_int_eq(r.status, 200);
    free(r.body);
    ck_assert_str_eq(H.fb.last_field, "note");
    ck_assert_str_eq(H.fb.last_value, "\"12\"");
    ck_assert_uint_eq(H.fb.last_limit, 1000);
    r = req("GET", "/v1/data/Item?note=a%20b%26c", NULL, NULL);
    ck_assert_int_eq(r.status, 200);
    free(r.body);
    ck_assert_str_eq(H.fb.last_value, "\"a b&c\"");
    ck_assert_int_eq(H.fb.n_list, 4);
    H.fb.page_rc = TR_EINVAL;
    r = req("GET", "/v1/data/Item?cursor=zz", NULL, NULL);
    assert_problem(&r, 400, "cursor");
    H.fb.page_rc = TR_EIO;
    r = req("GET", "/v1/data/Item", NULL, NULL);
    assert_problem(&r, 500, "list of Item");
    r = req("GET", "/v1/data/Nope?qty=1", NULL, NULL);
    assert_problem(&r, 404, "Nope");
    ck_assert_int_eq(H.fb.n_list, 6);
}
END_TEST

START_TEST(list_query_errors)
{
    static const char *const bad[][2] = {
        {"/v1/data/Item?id=a1", "id is not an indexed field of Item (indexed: qty, note)"},
        {"/v1/data/Counter?n=1", "(indexed: none)"},
        {"/v1/data/Item?qty=1&note=x", "one indexed field at a time"},
        {"/v1/data/Item?qty=many", "not a valid value of qty"},
        {"/v1/data/Item?limit=0", "limit"},
        {"/v1/data/Item?limit=1001", "limit"},
        {"/v1/data/Item?limit=-5", "limit"},
        {"/v1/data/Item?cursor=", "cursor"},
        {"/v1/data/Item?qty", "name=value"},
        {"/v1/data/Item?a=1&b=2&c=3&d=4&e=5&f=6&g=7&h=8&i=9", "at most 8"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct response r = req("GET", bad[i][0], NULL, NULL);
        assert_problem(&r, 400, bad[i][1]);
    }
    ck_assert_int_eq(H.fb.n_list, 0);
}
END_TEST

Suite *suite_routes(void)
{
    Suite *s = suite_create("routes");
    TCase *tc = tcase_create("routes");
    tcase_set_timeout(tc, 20);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, create_sync);
    tcase_add_test(tc, blocks_and_checkpoints);
    tcase_add_test(tc, membership_proposals_and_approvals);
    tcase_add_test(tc, test_hook_entry);
    tcase_add_test(tc, create_async);
    tcase_add_test(tc, create_integer_key);
    tcase_add_test(tc, create_unknown_type_404);
    tcase_add_test(tc, create_bad_json_400);
    tcase_add_test(tc, create_schema_violation_422_lists_every_error);
    tcase_add_test(tc, create_key_longer_than_limit_422);
    tcase_add_test(tc, backend_error_becomes_problem);
    tcase_add_test(tc, backend_error_without_object_body);
    tcase_add_test(tc, backend_bad_status_becomes_500);
    tcase_add_test(tc, replace_with_if_match);
    tcase_add_test(tc, replace_key_mismatch_and_bad_if_match);
    tcase_add_test(tc, get_record_with_etag_and_version);
    tcase_add_test(tc, path_decoding_and_key_limit);
    tcase_add_test(tc, ledger_tx_members_health);
    tcase_add_test(tc, unknown_routes_and_methods);
    tcase_add_test(tc, history_route);
    tcase_add_test(tc, history_query_errors);
    tcase_add_test(tc, list_route);
    tcase_add_test(tc, list_query_errors);
    tcase_add_test(tc, patch_with_if_match_and_idempotency_key);
    tcase_add_test(tc, patch_errors_submit_nothing);
    tcase_add_test(tc, delete_with_and_without_if_match);
    tcase_add_test(tc, tx_submits_normalized_ops);
    tcase_add_test(tc, tx_schema_violations_422_list_every_error);
    tcase_add_test(tc, tx_op_count_at_the_limit);
    tcase_add_test(tc, tx_refusals_submit_nothing);
    tcase_add_test(tc, write_with_query_400);
    suite_add_tcase(s, tc);
    return s;
}
