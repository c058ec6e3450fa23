#define _GNU_SOURCE /* strcasestr */
/* test_routes_query.c — suite `routes_query`: the query side of api/routes_query.c (range filters,
 * order_by, the list query handed to the backend, its refusals; the proof routes;
 * ?consistency= and the backend's read barrier) and the write
 * preference Prefer: wait=none of api/routes.c (the tx handed to submit, Location and
 * Preference-Applied on the 202), over loopback HTTP with the fake backend. */
#include "harness.h"

#include "common/err.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

Suite *suite_routes_query(void);

static struct harness H;

static void setup(void)
{
    harness_start(&H, NULL);
}

static void teardown(void)
{
    json_decref(H.fb.submit_body);
    harness_stop(&H);
}

static struct response req(const char *method, const char *path, const char *body,
                           const char *headers)
{
    size_t cap = 640 + (headers ? strlen(headers) : 0) + (body ? strlen(body) : 0);
    char *buf = malloc(cap);
    ck_assert_ptr_nonnull(buf);
    /* An admin key on every request; a JSON content type on bodies unless the test sets one. */
    const char *ctype = body && !(headers && strcasestr(headers, "content-type:"))
                            ? "Content-Type: application/json\r\n"
                            : "";
    snprintf(buf, cap,
             "%s %s HTTP/1.1\r\nHost: t\r\n" AUTH_ADMIN "%s%sContent-Length: %zu\r\n\r\n%s", method,
             path, ctype, headers ? headers : "", body ? strlen(body) : 0, body ? body : "");
    struct response r;
    http_do(&H, buf, &r);
    free(buf);
    return r;
}

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

/* ------------------------------------------------------------------------------------------- */
/* Prefer: wait=none */

static const char PENDING_TX[] = "00112233445566778899aabbccddeeff";

static void pending_backend(void)
{
    H.fb.submit_status = 202;
    H.fb.submit_body = json_pack("{s:s, s:s}", "tx", PENDING_TX, "status", "pending");
    H.fb.etag = NULL;
}

START_TEST(prefer_wait_none_on_every_write)
{
    pending_backend();
    static const char *const writes[][3] = {
        {"POST", "/v1/data/Item", "{\"id\":\"a1\",\"qty\":1}"},
        {"PUT", "/v1/data/Item/a1", "{\"id\":\"a1\",\"qty\":2}"},
        {"PATCH", "/v1/data/Item/a1", "{\"qty\":3}"},
        {"DELETE", "/v1/data/Item/a1", NULL},
        {"POST", "/v1/tx", "{\"ops\":[{\"op\":\"delete\",\"type\":\"Item\",\"key\":\"a1\"}]}"},
    };
    for (size_t i = 0; i < sizeof writes / sizeof writes[0]; i++) {
        struct response r = req(writes[i][0], writes[i][1], writes[i][2], "Prefer: wait=none\r\n");
        ck_assert_int_eq(r.status, 202);
        ck_assert_str_eq(r.location, "/v1/tx/00112233445566778899aabbccddeeff");
        ck_assert_str_eq(r.preference_applied, "wait=none");
        json_t *j = response_json(&r);
        ck_assert_str_eq(json_string_value(json_object_get(j, "tx")), PENDING_TX);
        ck_assert_str_eq(json_string_value(json_object_get(j, "status")), "pending");
        json_decref(j);
        free(r.body);
        ck_assert_msg(strstr(H.fb.last_tx, "\"wait\":\"none\"") != NULL, "%s", H.fb.last_tx);
    }
    ck_assert_int_eq(H.fb.n_submit, 5);
}
END_TEST

START_TEST(prefer_parsing_follows_rfc7240)
{
    pending_backend();
    /* wait=none among other preferences, any case, quoted, with parameters */
    static const char *const yes[] = {
        "Prefer: respond-async, wait=none\r\n",
        "Prefer: WAIT = \"none\"; x=1\r\n",
        "Prefer: foo;bar=baz,wait=none\r\n",
    };
    for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++) {
        struct response r = req("DELETE", "/v1/data/Item/a1", NULL, yes[i]);
        ck_assert_int_eq(r.status, 202);
        free(r.body);
        ck_assert_msg(strstr(H.fb.last_tx, "\"wait\":\"none\"") != NULL, "%s", yes[i]);
    }
    /* unknown or other preferences are ignored: the write waits as usual */
    static const char *const no[] = {
        "Prefer: wait=10\r\n",
        "Prefer: respond-async\r\n",
        "Prefer: wait=nonesuch\r\n",
        "Prefer: waiting=none\r\n",
        "Prefer: return=minimal; wait=none\r\n", /* wait=none is a parameter here, not a pref */
    };
    for (size_t i = 0; i < sizeof no / sizeof no[0]; i++) {
        struct response r = req("DELETE", "/v1/data/Item/a1", NULL, no[i]);
        free(r.body);
        ck_assert_msg(strstr(H.fb.last_tx, "wait") == NULL, "%s gave %s", no[i], H.fb.last_tx);
    }
}
END_TEST

START_TEST(prefer_wait_none_errors_stay_synchronous)
{
    pending_backend();
    struct response r =
        req("POST", "/v1/data/Item", "{\"id\":\"a1\",\"qty\":-1}", "Prefer: wait=none\r\n");
    assert_problem(&r, 422, "Item");
    r = req("POST", "/v1/data/Item", "{\"id\":", "Prefer: wait=none\r\n");
    assert_problem(&r, 400, "");
    r = req("PUT", "/v1/data/Item/a1", "{\"id\":\"a1\",\"qty\":1}",
            "Prefer: wait=none\r\nIf-Match: 3\r\n");
    assert_problem(&r, 400, "If-Match");
    ck_assert_int_eq(H.fb.n_submit, 0);
    /* the backend's own refusal (a stale If-Match) passes through without Location */
    json_decref(H.fb.submit_body);
    H.fb.submit_status = 412;
    H.fb.submit_body = json_pack("{s:s}", "detail", "version: op 0: Item/a1 is at version 4");
    r = req("PUT", "/v1/data/Item/a1", "{\"id\":\"a1\",\"qty\":1}",
            "Prefer: wait=none\r\nIf-Match: \"3\"\r\n");
    ck_assert_str_eq(r.location, "");
    ck_assert_str_eq(r.preference_applied, "");
    assert_problem(&r, 412, "version 4");
}
END_TEST

/* ------------------------------------------------------------------------------------------- */
/* Range filters and order_by */

/* GETs `path` (200 expected) and checks what the backend's list was asked. */
static void assert_list(const char *path, const char *field, const char *eq, const char *lo,
                        bool lo_incl, const char *hi, bool hi_incl, bool desc)
{
    struct response r = req("GET", path, NULL, NULL);
    ck_assert_msg(r.status == 200, "%s: %d %s", path, r.status, r.body);
    free(r.body);
    ck_assert_str_eq(H.fb.last_field, field);
    ck_assert_str_eq(H.fb.last_value, eq);
    ck_assert_str_eq(H.fb.last_lo, lo);
    ck_assert_str_eq(H.fb.last_hi, hi);
    ck_assert_int_eq(H.fb.last_lo_incl, lo_incl);
    ck_assert_int_eq(H.fb.last_hi_incl, hi_incl);
    ck_assert_int_eq(H.fb.last_desc, desc);
}

START_TEST(list_ranges_and_order)
{
    assert_list("/v1/data/Item?qty.gte=2&qty.lt=10", "qty", "(none)", "2", true, "10", false,
                false);
    assert_list("/v1/data/Item?qty.gt=-2&order_by=-qty&qty.lte=10", "qty", "(none)", "-2", false,
                "10", true, true);
    assert_list("/v1/data/Item?order_by=note", "note", "(none)", "(none)", false, "(none)", false,
                false);
    /* a string field's bounds stay strings, even when they look like numbers */
    assert_list("/v1/data/Item?note.gt=10&note.lte=9", "note", "(none)", "\"10\"", false, "\"9\"",
                true, false);
    assert_list("/v1/data/Item?qty=3&order_by=-qty&limit=7&cursor=ab", "qty", "3", "(none)", false,
                "(none)", false, true);
    ck_assert_uint_eq(H.fb.last_limit, 7);
    ck_assert_str_eq(H.fb.last_cursor, "ab");
    assert_list("/v1/data/Item?qty.lt=1000000", "qty", "(none)", "(none)", false, "1000000", false,
                false);
    ck_assert_int_eq(H.fb.n_list, 6);
}
END_TEST

START_TEST(list_range_refusals)
{
    static const char *const bad[][2] = {
        {"/v1/data/Item?qty.gt=x", "not a valid value of qty"},
        {"/v1/data/Item?qty.gt=1.5", "not a valid value of qty"},
        {"/v1/data/Item?qty.lte=", "not a valid value of qty"},
        {"/v1/data/Item?qty.gt=1&note.lt=x",
         "one indexed field at a time, here qty and note (indexed fields of Item: qty, note)"},
        {"/v1/data/Item?order_by=qty&note=x", "here qty and note"},
        {"/v1/data/Item?id.gt=1", "id is not an indexed field of Item (indexed: qty, note)"},
        {"/v1/data/Item?order_by=id", "id is not an indexed field of Item"},
        {"/v1/data/Item?order_by=-", " is not an indexed field of Item"},
        {"/v1/data/Item?qty.between=1", "qty.between is not an indexed field"},
        {"/v1/data/Item?qty.gt=1&qty.gte=2", "qty: one lower bound at most (qty.gt and qty.gte"},
        {"/v1/data/Item?qty.lt=1&qty.lte=2", "qty: one upper bound at most"},
        {"/v1/data/Item?qty=1&qty.gt=0", "either an equality value or range bounds"},
        {"/v1/data/Item?qty=1&qty=2", "query parameter \"qty\" is repeated"},
        {"/v1/data/Counter?n.gt=1", "n is not an indexed field of Counter (indexed: none)"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct response r = req("GET", bad[i][0], NULL, NULL);
        assert_problem(&r, 400, bad[i][1]);
    }
    ck_assert_int_eq(H.fb.n_list, 0);
}
END_TEST

/* ------------------------------------------------------------------------------------------- */
/* Proof routes */

#define TX_A "0123456789abcdef0123456789abcdef"
#define TX_F "f123456789abcdef0123456789abcdef"

START_TEST(proof_routes)
{
    struct response r =
        req("GET", "/v1/ledger/proofs/inclusion?tx=" TX_A "&tree_size=7", NULL, NULL);
    ck_assert_int_eq(r.status, 200);
    json_t *j = response_json(&r);
    ck_assert_str_eq(json_string_value(json_object_get(j, "tx")), TX_A);
    ck_assert_int_eq(json_integer_value(json_object_get(j, "tree_size")), 7);
    json_decref(j);
    free(r.body);
    ck_assert_uint_eq(H.fb.last_size1, 7);
    r = req("GET", "/v1/ledger/proofs/inclusion?tx=" TX_A, NULL, NULL);
    ck_assert_int_eq(r.status, 200);
    free(r.body);
    ck_assert_uint_eq(H.fb.last_size1, 0); /* the current tree */
    r = req("GET", "/v1/ledger/proofs/consistency?second=9&first=3", NULL, NULL);
    ck_assert_int_eq(r.status, 200);
    free(r.body);
    ck_assert_uint_eq(H.fb.last_size1, 3);
    ck_assert_uint_eq(H.fb.last_size2, 9);
    r = req("GET", "/v1/ledger/proofs/consistency?first=10", NULL, NULL);
    ck_assert_int_eq(r.status, 200);
    free(r.body);
    ck_assert_uint_eq(H.fb.last_size2, 0);
    ck_assert_int_eq(H.fb.n_proof, 4);
    r = req("GET", "/v1/ledger/proofs/inclusion?tx=" TX_F, NULL, NULL);
    assert_problem(&r, 404, "tx " TX_F);
    r = req("GET", "/v1/ledger/proofs/inclusion?tx=" TX_A "&tree_size=11", NULL, NULL);
    assert_problem(&r, 400, "tree_size 11 is out of range");
    r = req("GET", "/v1/ledger/proofs/consistency?first=2&second=11", NULL, NULL);
    assert_problem(&r, 400, "out of range");
    ck_assert_int_eq(H.fb.n_proof, 7);
}
END_TEST

START_TEST(proof_route_refusals)
{
    static const char *const bad[][2] = {
        {"/v1/ledger/proofs/inclusion", "tx is required"},
        {"/v1/ledger/proofs/inclusion?tree_size=3", "tx is required"},
        {"/v1/ledger/proofs/inclusion?tx=xyz", "32 lowercase hex"},
        {"/v1/ledger/proofs/inclusion?tx=" TX_A "&tree_size=0", "tree_size must be a whole"},
        {"/v1/ledger/proofs/inclusion?tx=" TX_A "&tree_size=-1", "tree_size must be a whole"},
        {"/v1/ledger/proofs/inclusion?tx=" TX_A "&size=1", "unknown query parameter \"size\""},
        {"/v1/ledger/proofs/consistency?second=4", "first is required"},
        {"/v1/ledger/proofs/consistency?first=0", "first must be a whole number >= 1"},
        {"/v1/ledger/proofs/consistency?first=5&second=4", "first (5) must be at most second (4)"},
        {"/v1/ledger/proofs/consistency?first=1&second=x", "second must be a whole"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct response r = req("GET", bad[i][0], NULL, NULL);
        assert_problem(&r, 400, bad[i][1]);
    }
    struct response r = req("POST", "/v1/ledger/proofs/inclusion?tx=" TX_A, "{}", NULL);
    assert_problem(&r, 405, "GET");
    r = req("GET", "/v1/ledger/proofs/other", NULL, NULL);
    assert_problem(&r, 404, "no route");
    ck_assert_int_eq(H.fb.n_proof, 0);
}
END_TEST

/* ------------------------------------------------------------------------------------------- */
/* ?consistency= */

START_TEST(consistency_linearizable_passes_the_barrier)
{
    static const char *const reads[] = {
        "/v1/data/Item/a1?consistency=linearizable",
        "/v1/data/Item/a1?version=2&consistency=linearizable",
        "/v1/data/Item?qty.gt=1&consistency=linearizable",
        "/v1/data/Item/a1/history?consistency=linearizable&limit=5",
    };
    for (size_t i = 0; i < sizeof reads / sizeof reads[0]; i++) {
        struct response r = req("GET", reads[i], NULL, NULL);
        ck_assert_msg(r.status == 200, "%s: %d", reads[i], r.status);
        free(r.body);
        ck_assert_int_eq(H.fb.n_barrier, (int)i + 1);
    }
    ck_assert_int_eq(H.fb.n_record_get + H.fb.n_list + H.fb.n_history, 4);
    ck_assert_uint_eq(H.fb.last_limit, 5);
    /* local (the default) reads at once */
    struct response r = req("GET", "/v1/data/Item/a1?consistency=local", NULL, NULL);
    ck_assert_int_eq(r.status, 200);
    free(r.body);
    r = req("GET", "/v1/data/Item?consistency=local&note=x", NULL, NULL);
    ck_assert_int_eq(r.status, 200);
    free(r.body);
    ck_assert_int_eq(H.fb.n_barrier, 4);
    ck_assert_int_eq(H.fb.n_record_get + H.fb.n_list + H.fb.n_history, 6);
}
END_TEST

START_TEST(consistency_failures)
{
    struct response r = req("GET", "/v1/data/Item/a1?consistency=strong", NULL, NULL);
    assert_problem(&r, 400, "consistency must be \"local\" or \"linearizable\"");
    r = req("GET", "/v1/data/Item?consistency=", NULL, NULL);
    assert_problem(&r, 400, "consistency must be");
    ck_assert_int_eq(H.fb.n_barrier, 0);
    H.fb.barrier_rc = TR_ETIMEOUT;
    r = req("GET", "/v1/data/Item/a1?consistency=linearizable", NULL, NULL);
    assert_problem(&r, 503, "did not come in time");
    H.fb.barrier_rc = TR_EBUSY;
    r = req("GET", "/v1/data/Item/a1/history?consistency=linearizable", NULL, NULL);
    assert_problem(&r, 503, "not possible now");
    ck_assert_int_eq(H.fb.n_barrier, 2);
    ck_assert_int_eq(H.fb.n_record_get + H.fb.n_list + H.fb.n_history, 0);
    /* writes take no consistency */
    r = req("DELETE", "/v1/data/Item/a1?consistency=linearizable", NULL, NULL);
    ck_assert_int_eq(H.fb.n_barrier, 2);
    free(r.body);
}
END_TEST

static bool barrier_fired(void *arg)
{
    return !((struct fake_backend *)arg)->barrier_pending;
}

START_TEST(consistency_barrier_answered_later)
{
    H.fb.async = true;
    H.fb.delay_ms = 30;
    struct response r = req("GET", "/v1/data/Item/a1?consistency=linearizable", NULL, NULL);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(r.etag, "\"3\"");
    free(r.body);
    ck_assert_int_eq(H.fb.n_record_get, 1);
    H.fb.barrier_rc = TR_ETIMEOUT;
    r = req("GET", "/v1/data/Item?consistency=linearizable", NULL, NULL);
    assert_problem(&r, 503, "did not come in time");
    /* the client leaves while the read waits (the server does not read while a request is out,
     * so it learns at the answer): the late barrier's read and answer go nowhere, nothing leaks */
    H.fb.barrier_rc = TR_OK;
    struct client c;
    client_open(&c, &H);
    client_sends(&c,
                 "GET /v1/data/Item/a1?consistency=linearizable HTTP/1.1\r\nHost: t\r\n" AUTH_ADMIN
                 "\r\n");
    harness_run_for(&H, 10);
    ck_assert(H.fb.barrier_pending);
    client_close(&c);
    ck_assert(harness_run_until(&H, barrier_fired, &H.fb, 2000));
    harness_run_for(&H, 10);
    ck_assert_int_eq(H.fb.n_barrier, 3);
    ck_assert_int_eq(H.fb.n_record_get + H.fb.n_list, 2);
    r = req("GET", "/healthz", NULL, NULL); /* and the server serves on */
    ck_assert_int_eq(r.status, 200);
    free(r.body);
}
END_TEST

Suite *suite_routes_query(void)
{
    Suite *s = suite_create("routes_query");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 30);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, prefer_wait_none_on_every_write);
    tcase_add_test(tc, prefer_parsing_follows_rfc7240);
    tcase_add_test(tc, prefer_wait_none_errors_stay_synchronous);
    tcase_add_test(tc, list_ranges_and_order);
    tcase_add_test(tc, list_range_refusals);
    tcase_add_test(tc, proof_routes);
    tcase_add_test(tc, proof_route_refusals);
    tcase_add_test(tc, consistency_linearizable_passes_the_barrier);
    tcase_add_test(tc, consistency_failures);
    tcase_add_test(tc, consistency_barrier_answered_later);
    suite_add_tcase(s, tc);
    return s;
}
