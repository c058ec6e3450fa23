/* test_auth.c — suite `auth` for api/auth.c over loopback HTTP with the fake backend: 401 with
 * the Bearer challenge for a missing, malformed, unknown or revoked key (nothing reaches the
 * backend); routes that need no key; the role table (reader, writer, admin; 403 naming the rule);
 * the Content-Type of writes (415); read ACLs on record get, list (records left out, nothing
 * scanned when nothing is readable, no filter on a hidden field), history and write answers. */
#include "harness.h"

#include "common/err.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

Suite *suite_auth(void);

static struct harness H;

static void setup(void)
{
    harness_start(&H, NULL);
}

static void teardown(void)
{
    harness_stop(&H);
}

/* Sends method path with `headers` (complete lines, nullable) and an optional body as is. */
static struct response send_req(const char *method, const char *path, const char *headers,
                                const char *body)
{
    size_t cap = 512 + (headers ? strlen(headers) : 0) + (body ? strlen(body) : 0);
    char *buf = malloc(cap);
    ck_assert_ptr_nonnull(buf);
    snprintf(buf, cap, "%s %s HTTP/1.1\r\nHost: t\r\n%sContent-Length: %zu\r\n\r\n%s", method, path,
             headers ? headers : "", body ? strlen(body) : 0, body ? body : "");
    struct response r;
    http_do(&H, buf, &r);
    free(buf);
    return r;
}

/* Asserts a problem+json with `status` whose detail contains `needle`; frees the body. */
static void assert_problem(struct response *r, int status, const char *needle)
{
    ck_assert_int_eq(r->status, status);
    ck_assert_str_eq(r->content_type, "application/problem+json");
    json_t *j = response_json(r);
    ck_assert_int_eq(json_integer_value(json_object_get(j, "status")), status);
    const char *d = json_string_value(json_object_get(j, "detail"));
    ck_assert_ptr_nonnull(d);
    ck_assert_msg(strstr(d, needle) != NULL, "detail \"%s\" lacks \"%s\"", d, needle);
    json_decref(j);
    free(r->body);
}

static void assert_401(struct response *r, const char *needle)
{
    ck_assert_str_eq(r->www_authenticate, "Bearer realm=\"treaty\"");
    assert_problem(r, 401, needle);
}

/* ------------------------------------------------------------------------------------------- */
/* 401 */

START_TEST(missing_key)
{
    const char *const paths[] = {"/v1/data/Item/a1", "/v1/data/Item", "/v1/ledger/head",
                                 "/v1/members",      "/v1/nothing",   "/v1"};
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        struct response r = send_req("GET", paths[i], NULL, NULL);
        assert_401(&r, "needs an API key");
    }
    struct response r = send_req("POST", "/v1/data/Item", JSON_CT, "{\"id\":\"x\",\"qty\":1}");
    assert_401(&r, "Authorization: Bearer");
    /* a percent-encoded /v1 is still /v1 */
    r = send_req("GET", "/%761/members", NULL, NULL);
    assert_401(&r, "needs an API key");
    ck_assert_int_eq(H.fb.n_submit, 0);
    ck_assert_int_eq(H.fb.n_record_get, 0);
    ck_assert_int_eq(H.fb.n_list, 0);
    ck_assert_int_eq(H.fb.n_members, 0);
    ck_assert_int_eq(H.fb.n_auth, 0);
}
END_TEST

START_TEST(malformed_key)
{
    const char *const hdrs[] = {
        "Authorization: Basic dXNlcjpwYXNz\r\n",
        "Authorization: Bearer\r\n",
        "Authorization: Bearer   \r\n",
        "Authorization: Bearer " KEY_ADMIN " " KEY_ADMIN "\r\n",
        "Authorization: " KEY_ADMIN "\r\n",
    };
    for (size_t i = 0; i < sizeof hdrs / sizeof hdrs[0]; i++) {
        struct response r = send_req("GET", "/v1/members", hdrs[i], NULL);
        assert_401(&r, "must be \"Bearer <key>\"");
    }
    char big[700] = "Authorization: Bearer ";
    memset(big + strlen(big), 'a', 600);
    strcat(big, "\r\n");
    struct response r = send_req("GET", "/v1/members", big, NULL);
    assert_401(&r, "Bearer <key>");
    ck_assert_int_eq(H.fb.n_auth, 0); /* none of these reached the key store */
    ck_assert_int_eq(H.fb.n_members, 0);
}
END_TEST

START_TEST(unknown_and_revoked_key)
{
    struct response r = send_req("GET", "/v1/members", "Authorization: Bearer trk_nope\r\n", NULL);
    assert_401(&r, "not valid");
    r = send_req("POST", "/v1/data/Item", "Authorization: Bearer trk_nope\r\n" JSON_CT,
                 "{\"id\":\"x\",\"qty\":1}");
    assert_401(&r, "unknown or revoked");
    /* scheme case-insensitive, extra spaces allowed */
    r = send_req("GET", "/v1/members", "Authorization: bearer   " KEY_ADMIN "  \r\n", NULL);
    ck_assert_int_eq(r.status, 200);
    free(r.body);
    H.fb.admin_revoked = true;
    r = send_req("GET", "/v1/members", AUTH_ADMIN, NULL);
    assert_401(&r, "unknown or revoked");
    r = send_req("GET", "/v1/members", AUTH_READER, NULL); /* other keys keep working */
    ck_assert_int_eq(r.status, 200);
    free(r.body);
    ck_assert_int_eq(H.fb.n_submit, 0);
    ck_assert_int_eq(H.fb.n_members, 2);
}
END_TEST

START_TEST(no_key_needed)
{
    struct response r = send_req("GET", "/healthz", NULL, NULL);
    ck_assert_int_eq(r.status, 200);
    free(r.body);
    r = send_req("GET", "/metrics", NULL, NULL);
    ck_assert_int_eq(r.status, 200);
    free(r.body);
    r = send_req("GET", "/readyz", NULL, NULL);
    ck_assert_int_ne(r.status, 401);
    free(r.body);
    r = send_req("GET", "/elsewhere", NULL, NULL);
    assert_problem(&r, 404, "no route");
    ck_assert_int_eq(H.fb.n_auth, 0);
}
END_TEST

START_TEST(no_authenticate_backend)
{
    /* A backend without authenticate accepts no key at all; routes without a key still work. */
    harness_stop(&H);
    harness_start_noauth(&H, NULL);
    struct response r = send_req("GET", "/v1/members", AUTH_ADMIN, NULL);
    assert_401(&r, "not valid");
    r = send_req("GET", "/healthz", NULL, NULL);
    ck_assert_int_eq(r.status, 200);
    free(r.body);
    ck_assert_int_eq(H.fb.n_members, 0);
}
END_TEST

/* ------------------------------------------------------------------------------------------- */
/* 403: roles */

struct role_case {
    const char *method, *path, *body;
    const char *auth;
    int status;
};

START_TEST(role_table)
{
    const char *item = "{\"id\":\"x\",\"qty\":1}";
    const char *tx = "{\"ops\":[{\"op\":\"create\",\"type\":\"Item\",\"body\":{\"id\":\"t\","
                     "\"qty\":1}}]}";
    const char *prop = "{\"action\":\"remove\",\"org\":\"globex\"}";
    const char *approve = "/v1/members/proposals/0123456789abcdef0123456789abcdef/approve";
    const struct role_case cases[] = {
        {"GET", "/v1/data/Item/a1", NULL, AUTH_READER, 200},
        {"GET", "/v1/data/Item", NULL, AUTH_READER, 200},
        {"GET", "/v1/data/Item/a1/history", NULL, AUTH_READER, 200},
        {"GET", "/v1/ledger/head", NULL, AUTH_READER, 200},
        {"GET", "/v1/members", NULL, AUTH_READER, 200},
        {"GET", "/v1/tx/0123456789abcdef0123456789abcdef", NULL, AUTH_READER, 200},
        {"POST", "/v1/data/Item", item, AUTH_READER, 403},
        {"PUT", "/v1/data/Item/x", item, AUTH_READER, 403},
        {"PATCH", "/v1/data/Item/x", item, AUTH_READER, 403},
        {"DELETE", "/v1/data/Item/x", NULL, AUTH_READER, 403},
        {"POST", "/v1/tx", tx, AUTH_READER, 403},
        {"POST", "/v1/data/Item", item, AUTH_WRITER, 201},
        {"DELETE", "/v1/data/Item/x", NULL, AUTH_WRITER, 201},
        {"POST", "/v1/tx", tx, AUTH_WRITER, 201},
        {"POST", "/v1/members/proposals", prop, AUTH_WRITER, 403},
        {"POST", approve, NULL, AUTH_WRITER, 403},
        {"POST", "/v1/members/rotate-key", "{\"public_key\":\"00\"}", AUTH_WRITER, 403},
        {"POST", "/v1/_test/entry", "{\"entry\":\"AAEC\"}", AUTH_WRITER, 403},
        {"POST", "/v1/schema/proposals", "{}", AUTH_WRITER, 403},
        {"POST", "/v1/schema/proposals/0123456789abcdef0123456789abcdef/approve", NULL, AUTH_WRITER,
         403},
        {"POST", "/v1/members/proposals", prop, AUTH_ADMIN, 201},
        {"POST", approve, NULL, AUTH_ADMIN, 201},
        {"POST", "/v1/_test/entry", "{\"entry\":\"AAEC\"}", AUTH_ADMIN, 202},
        {"POST", "/v1/data/Item", item, AUTH_ADMIN, 201},
    };
    int submits = 0;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const struct role_case *c = &cases[i];
        char hdrs[256];
        snprintf(hdrs, sizeof hdrs, "%s%s", c->auth, c->body ? JSON_CT : "");
        struct response r = send_req(c->method, c->path, hdrs, c->body);
        ck_assert_msg(r.status == c->status, "%s %s: %d, want %d: %s", c->method, c->path, r.status,
                      c->status, r.body ? r.body : "");
        if (c->status == 403) {
            json_t *j = response_json(&r);
            const char *d = json_string_value(json_object_get(j, "detail"));
            ck_assert_msg(d && strstr(d, "needs an API key with role") && strstr(d, "this key has"),
                          "%s", d ? d : "(none)");
            json_decref(j);
        }
        if (c->status == 201 && strcmp(c->path, "/v1/_test/entry") != 0)
            submits++;
        free(r.body);
        ck_assert_int_eq(H.fb.n_submit, submits);
    }
    ck_assert_int_eq(H.fb.n_test_entry, 1);
}
END_TEST

/* ------------------------------------------------------------------------------------------- */
/* 415 */

START_TEST(content_type)
{
    const char *item = "{\"id\":\"x\",\"qty\":1}";
    const char *const bad[] = {
        "",
        "Content-Type: text/plain\r\n",
        "Content-Type: application/x-www-form-urlencoded\r\n",
        "Content-Type: application/json; charset=latin1\r\n",
        "Content-Type: application/merge-patch+json\r\n", /* only for PATCH */
        "Content-Type: application/jsonx\r\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char hdrs[256];
        snprintf(hdrs, sizeof hdrs, "%s%s", AUTH_WRITER, bad[i]);
        struct response r = send_req("POST", "/v1/data/Item", hdrs, item);
        assert_problem(&r, 415, "application/json");
        r = send_req("POST", "/v1/tx", hdrs, "{\"ops\":[]}");
        assert_problem(&r, 415, "application/json");
    }
    ck_assert_int_eq(H.fb.n_submit, 0);
    const char *const good[] = {
        "Content-Type: application/json\r\n",
        "Content-Type: Application/JSON\r\n",
        "Content-Type: application/json; charset=utf-8\r\n",
        "Content-Type: application/json;charset=\"UTF-8\"\r\n",
        "Content-Type: application/json ; foo=bar\r\n",
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        char hdrs[256];
        snprintf(hdrs, sizeof hdrs, "%s%s", AUTH_WRITER, good[i]);
        struct response r = send_req("POST", "/v1/data/Item", hdrs, item);
        ck_assert_msg(r.status == 201, "%s: %d", good[i], r.status);
        free(r.body);
    }
    ck_assert_int_eq(H.fb.n_submit, 5);
    /* PATCH takes both JSON types */
    struct response r =
        send_req("PATCH", "/v1/data/Item/x",
                 AUTH_WRITER "Content-Type: application/merge-patch+json\r\n", "{\"qty\":2}");
    ck_assert_int_eq(r.status, 201);
    free(r.body);
    r = send_req("PATCH", "/v1/data/Item/x", AUTH_WRITER JSON_CT, "{\"qty\":2}");
    ck_assert_int_eq(r.status, 201);
    free(r.body);
    r = send_req("PATCH", "/v1/data/Item/x", AUTH_WRITER "Content-Type: text/json\r\n",
                 "{\"qty\":2}");
    assert_problem(&r, 415, "merge-patch+json");
    /* no body, no type needed: DELETE and approve */
    r = send_req("DELETE", "/v1/data/Item/x", AUTH_WRITER, NULL);
    ck_assert_int_eq(r.status, 201);
    free(r.body);
    ck_assert_int_eq(H.fb.n_submit, 8);
    /* the key is checked before the type: no key, wrong type is 401 */
    r = send_req("POST", "/v1/data/Item", "Content-Type: text/plain\r\n", item);
    assert_401(&r, "needs an API key");
}
END_TEST

/* ------------------------------------------------------------------------------------------- */
/* Read ACLs */

static void restart_as(const char *org)
{
    harness_stop(&H);
    struct api_config cfg = {.org = org};
    harness_start(&H, &cfg);
}

#define SECRET_OF(owner)                                                                           \
    "{\"id\":\"s1\",\"note\":\"n\",\"tag\":\"t\",\"_key\":\"s1\",\"_version\":2,\"_owner\":"       \
    "\"" owner "\"}"

START_TEST(acl_record_get)
{
    H.fb.record_json = SECRET_OF("gamma");
    struct response r = send_req("GET", "/v1/data/Secret/s1", AUTH_READER, NULL);
    assert_problem(&r, 403, "Secret read ACL allows owner, beta; org acme is not the owner");
    H.fb.record_json = SECRET_OF("acme"); /* the owner sees everything */
    r = send_req("GET", "/v1/data/Secret/s1?version=2", AUTH_READER, NULL);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(r.etag, "\"2\"");
    json_t *j = response_json(&r);
    ck_assert_str_eq(json_string_value(json_object_get(j, "note")), "n");
    json_decref(j);
    free(r.body);

    restart_as("beta"); /* named: the record, without the owner-only note */
    H.fb.record_json = SECRET_OF("gamma");
    r = send_req("GET", "/v1/data/Secret/s1", AUTH_READER, NULL);
    ck_assert_int_eq(r.status, 200);
    j = response_json(&r);
    ck_assert_ptr_null(json_object_get(j, "note"));
    ck_assert_str_eq(json_string_value(json_object_get(j, "tag")), "t");
    ck_assert_str_eq(json_string_value(json_object_get(j, "_owner")), "gamma");
    json_decref(j);
    free(r.body);

    H.fb.record_json = "{\"id\":\"v\",\"_key\":\"v\",\"_version\":1,\"_owner\":\"beta\"}";
    r = send_req("GET", "/v1/data/Vault/v", AUTH_ADMIN, NULL);
    assert_problem(&r, 403, "Vault read ACL allows nobody; org beta is not listed");
}
END_TEST

START_TEST(acl_list)
{
    H.fb.list_json = "{\"items\":["
                     "{\"id\":\"a\",\"note\":\"na\",\"tag\":\"ta\",\"_owner\":\"acme\"},"
                     "{\"id\":\"b\",\"note\":\"nb\",\"tag\":\"tb\",\"_owner\":\"beta\"},"
                     "{\"id\":\"c\",\"note\":\"nc\",\"tag\":\"tc\",\"_owner\":\"gamma\"},"
                     "{\"id\":\"d\",\"note\":\"nd\",\"_owner\":\"acme\"}],"
                     "\"next_cursor\":\"sealed\"}";
    struct response r = send_req("GET", "/v1/data/Secret?limit=4", AUTH_READER, NULL);
    ck_assert_int_eq(r.status, 200);
    json_t *j = response_json(&r);
    json_t *items = json_object_get(j, "items");
    ck_assert_uint_eq(json_array_size(items), 2); /* acme's own two */
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(items, 0), "id")), "a");
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(items, 1), "id")), "d");
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(items, 0), "note")), "na");
    ck_assert_str_eq(json_string_value(json_object_get(j, "next_cursor")), "sealed");
    json_decref(j);
    free(r.body);

    restart_as("beta");
    H.fb.list_json = "{\"items\":["
                     "{\"id\":\"a\",\"note\":\"na\",\"tag\":\"ta\",\"_owner\":\"acme\"},"
                     "{\"id\":\"b\",\"note\":\"nb\",\"tag\":\"tb\",\"_owner\":\"beta\"}]}";
    r = send_req("GET", "/v1/data/Secret", AUTH_READER, NULL);
    j = response_json(&r);
    items = json_object_get(j, "items");
    ck_assert_uint_eq(json_array_size(items), 2);
    ck_assert_ptr_null(json_object_get(json_array_get(items, 0), "note")); /* acme's */
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(items, 0), "tag")), "ta");
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(items, 1), "note")), "nb");
    json_decref(j);
    free(r.body);

    /* filtering by a field some records hide would reveal it; by a readable one is fine */
    r = send_req("GET", "/v1/data/Secret?note=nb", AUTH_READER, NULL);
    assert_problem(&r, 403, "Secret.note read ACL allows owner; org beta may not read it");
    ck_assert_int_eq(H.fb.n_list, 1);
    r = send_req("GET", "/v1/data/Secret?tag=ta", AUTH_READER, NULL);
    ck_assert_int_eq(r.status, 200);
    free(r.body);
    ck_assert_int_eq(H.fb.n_list, 2);
    ck_assert_str_eq(H.fb.last_field, "tag");

    /* nothing of Vault is readable: an empty page, the store is not scanned */
    r = send_req("GET", "/v1/data/Vault", AUTH_ADMIN, NULL);
    ck_assert_int_eq(r.status, 200);
    j = response_json(&r);
    ck_assert_uint_eq(json_array_size(json_object_get(j, "items")), 0);
    ck_assert_ptr_null(json_object_get(j, "next_cursor"));
    json_decref(j);
    free(r.body);
    ck_assert_int_eq(H.fb.n_list, 2);
}
END_TEST

START_TEST(acl_history)
{
    H.fb.history_json = "{\"versions\":["
                        "{\"id\":\"s1\",\"note\":\"n1\",\"_version\":1,\"_owner\":\"gamma\"},"
                        "{\"id\":\"s1\",\"note\":\"n2\",\"_version\":2,\"_owner\":\"gamma\"}]}";
    struct response r = send_req("GET", "/v1/data/Secret/s1/history", AUTH_READER, NULL);
    assert_problem(&r, 403, "Secret read ACL allows owner, beta; org acme is not the owner");

    /* a page past the end has no versions: version 1 tells the owner */
    H.fb.history_json = "{\"versions\":[]}";
    H.fb.record_json = SECRET_OF("gamma");
    r = send_req("GET", "/v1/data/Secret/s1/history?after_version=5", AUTH_READER, NULL);
    assert_problem(&r, 403, "not the owner");
    ck_assert_uint_eq(H.fb.last_version, 1);
    H.fb.record_json = SECRET_OF("acme");
    r = send_req("GET", "/v1/data/Secret/s1/history?after_version=5", AUTH_READER, NULL);
    ck_assert_int_eq(r.status, 200);
    free(r.body);

    restart_as("beta");
    H.fb.history_json = "{\"versions\":["
                        "{\"id\":\"s1\",\"note\":\"n1\",\"tag\":\"a\",\"_version\":1,"
                        "\"_owner\":\"gamma\"},"
                        "{\"id\":\"s1\",\"note\":\"n2\",\"_version\":2,\"_owner\":\"gamma\"}],"
                        "\"next_after_version\":2}";
    r = send_req("GET", "/v1/data/Secret/s1/history", AUTH_READER, NULL);
    ck_assert_int_eq(r.status, 200);
    json_t *j = response_json(&r);
    json_t *v = json_object_get(j, "versions");
    ck_assert_uint_eq(json_array_size(v), 2);
    for (size_t i = 0; i < 2; i++)
        ck_assert_ptr_null(json_object_get(json_array_get(v, i), "note"));
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(v, 0), "tag")), "a");
    json_decref(j);
    free(r.body);
}
END_TEST

START_TEST(acl_write_answer)
{
    restart_as("beta");
    json_error_t jerr;
    H.fb.submit_body = json_loads(SECRET_OF("gamma"), 0, &jerr);
    H.fb.submit_status = 200;
    struct response r = send_req("PUT", "/v1/data/Secret/s1", AUTH_WRITER JSON_CT,
                                 "{\"id\":\"s1\",\"note\":\"mine\",\"tag\":\"t\"}");
    ck_assert_int_eq(r.status, 200);
    json_t *j = response_json(&r);
    ck_assert_ptr_null(json_object_get(j, "note"));
    ck_assert_str_eq(json_string_value(json_object_get(j, "tag")), "t");
    json_decref(j);
    free(r.body);
    json_decref(H.fb.submit_body);

    restart_as("acme"); /* may write but not read: only the metadata comes back */
    H.fb.submit_body = json_loads(SECRET_OF("gamma"), 0, &jerr);
    H.fb.submit_status = 200;
    r = send_req("PATCH", "/v1/data/Secret/s1", AUTH_WRITER JSON_CT, "{\"tag\":\"u\"}");
    ck_assert_int_eq(r.status, 200);
    j = response_json(&r);
    ck_assert_ptr_null(json_object_get(j, "note"));
    ck_assert_ptr_null(json_object_get(j, "tag"));
    ck_assert_ptr_null(json_object_get(j, "id"));
    ck_assert_int_eq(json_integer_value(json_object_get(j, "_version")), 2);
    json_decref(j);
    free(r.body);
    json_decref(H.fb.submit_body);

    /* an ACL refusal at apply comes back as the backend's 403 problem, detail intact */
    H.fb.submit_body = json_pack("{s:s}", "detail",
                                 "acl: op 0: org acme may not create Secret (Secret create ACL "
                                 "allows beta)");
    H.fb.submit_status = 403;
    r = send_req("POST", "/v1/data/Secret", AUTH_WRITER JSON_CT, "{\"id\":\"s2\"}");
    assert_problem(&r, 403, "Secret create ACL allows beta");
    json_decref(H.fb.submit_body);
    H.fb.submit_body = NULL;
}
END_TEST

/* A write completed with the record's stored text (done_record): the same bytes when the writer
 * may read the record whole, the redacted record when it may not. */
START_TEST(acl_write_answer_stored_text)
{
    restart_as("gamma"); /* the owner reads it whole: the stored bytes, ETag from _version */
    H.fb.submit_text = SECRET_OF("gamma");
    H.fb.submit_status = 201;
    struct response r = send_req("POST", "/v1/data/Secret", AUTH_WRITER JSON_CT,
                                 "{\"id\":\"s1\",\"note\":\"n\",\"tag\":\"t\"}");
    ck_assert_int_eq(r.status, 201);
    ck_assert_str_eq(r.etag, "\"2\"");
    ck_assert_uint_eq(r.body_len, strlen(SECRET_OF("gamma")));
    ck_assert_mem_eq(r.body, SECRET_OF("gamma"), r.body_len);
    free(r.body);

    restart_as("beta"); /* may not read note: parsed and redacted */
    H.fb.submit_text = SECRET_OF("gamma");
    H.fb.submit_status = 200;
    r = send_req("PUT", "/v1/data/Secret/s1", AUTH_WRITER JSON_CT,
                 "{\"id\":\"s1\",\"note\":\"mine\",\"tag\":\"t\"}");
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(r.etag, "\"2\"");
    json_t *j = response_json(&r);
    ck_assert_ptr_null(json_object_get(j, "note"));
    ck_assert_str_eq(json_string_value(json_object_get(j, "tag")), "t");
    json_decref(j);
    free(r.body);

    restart_as("acme"); /* may write but not read: only the metadata comes back */
    H.fb.submit_text = SECRET_OF("gamma");
    H.fb.submit_status = 200;
    r = send_req("PATCH", "/v1/data/Secret/s1", AUTH_WRITER JSON_CT, "{\"tag\":\"u\"}");
    ck_assert_int_eq(r.status, 200);
    j = response_json(&r);
    ck_assert_ptr_null(json_object_get(j, "tag"));
    ck_assert_int_eq(json_integer_value(json_object_get(j, "_version")), 2);
    json_decref(j);
    free(r.body);

    H.fb.submit_text = "{not json"; /* a stored text that does not parse is a 500, not a crash */
    r = send_req("PATCH", "/v1/data/Secret/s1", AUTH_WRITER JSON_CT, "{\"tag\":\"u\"}");
    ck_assert_int_eq(r.status, 500);
    free(r.body);
    H.fb.submit_text = NULL;
    H.fb.submit_status = 0;
}
END_TEST

Suite *suite_auth(void)
{
    Suite *s = suite_create("auth");
    TCase *tc = tcase_create("keys");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, missing_key);
    tcase_add_test(tc, malformed_key);
    tcase_add_test(tc, unknown_and_revoked_key);
    tcase_add_test(tc, no_key_needed);
    tcase_add_test(tc, no_authenticate_backend);
    tcase_add_test(tc, role_table);
    tcase_add_test(tc, content_type);
    suite_add_tcase(s, tc);
    TCase *ta = tcase_create("acl");
    tcase_add_checked_fixture(ta, setup, teardown);
    tcase_add_test(ta, acl_record_get);
    tcase_add_test(ta, acl_list);
    tcase_add_test(ta, acl_history);
    tcase_add_test(ta, acl_write_answer);
    tcase_add_test(ta, acl_write_answer_stored_text);
    suite_add_tcase(s, ta);
    return s;
}
