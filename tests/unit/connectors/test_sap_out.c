/* test_sap_out.c — the SAP delivery target inside the outbound job, stepped with explicit time
 * and synthetic answers: the CSRF token fetched with its session cookies, a look-up answering 404
 * turned into a POST with the key, a PATCH with If-Match from the ETag header or from
 * __metadata.etag, a 403 "x-csrf-token: Required" fetching a new token and starting over, a 412
 * re-reading the ETag up to max_etag_retries then a dead letter, a delete of an entity already
 * gone, and an OData error body's code and message in the dead letter's reason. */
#include "rig.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"

Suite *suite_sap_out(void);

static const char *CFG =
    "{\"node\": {\"url\": \"http://node\", \"api_key\": {\"env\": \"TSF_KEY\"}},"
    " \"state_dir\": \"/nonexistent\", \"limits\": {\"backoff_base_ms\": 100},"
    " \"connectors\": [{\"name\": \"s4\", \"kind\": \"sap\", \"direction\": \"outbound\","
    "   \"ledger_type\": \"Shipment\","
    "   \"sap\": {\"base_url\": \"http://sap\", \"token\": {\"env\": \"TSF_SECRET\"},"
    "             \"max_etag_retries\": 1},"
    "   \"fields\": [{\"ledger\": \"shipmentId\", \"saas\": \"BusinessPartner\"},"
    "              {\"ledger\": \"status\", \"saas\": \"Status\"}]}]}";

#define ROOT "http://sap/sap/opu/odata/sap/API_BUSINESS_PARTNER"
#define CHANGE(id, op, key, status)                                                                \
    "id: " id "\ndata: {\"type\":\"Shipment\",\"key\":\"" key "\",\"op\":\"" op                    \
    "\",\"org\":\"acme\",\"record\":{\"shipmentId\":\"" key "\",\"status\":\"" status "\"}}\n\n"

/* answer() with the answer's header lines. */
static void answer_h(struct rig *r, struct conn__req *q, long status, const char *hdrs,
                     const char *body)
{
    q->resp_hdr = tr_strdup(hdrs);
    q->resp_hdr_len = strlen(hdrs);
    answer(r, q, status, body, 0);
}

static struct conn__req *expect(struct rig *r, const char *method, const char *url)
{
    struct conn__req *q = step_send(r, 0);
    ck_assert_str_eq(q->method, method);
    ck_assert_str_eq(q->url, url);
    ck_assert(has_header(q, "Authorization: Bearer csecret"));
    return q;
}

static void fetch_csrf(struct rig *r, const char *token)
{
    struct conn__req *q = expect(r, "GET", ROOT "/");
    ck_assert(has_header(q, "X-CSRF-Token: Fetch"));
    char h[256];
    snprintf(h, sizeof h,
             "HTTP/1.1 200 OK\r\nx-csrf-token: %s\r\nSet-Cookie: SAP_SESSIONID_X=s%s; path=/; "
             "HttpOnly\r\nset-cookie: sap-usercontext=sap-client=100; path=/\r\n\r\n",
             token, token);
    answer_h(r, q, 200, h, "{\"d\":{}}");
}

START_TEST(test_lookup_create_update_delete)
{
    struct rig r;
    rig_up(&r, CFG, 0);
    struct conn__req *stream = step_send(&r, 0);
    const char *events = CHANGE("5.0", "create", "SHP-0001", "created")
        CHANGE("5.1", "patch", "SHP-0002", "picked_up")
            CHANGE("6.0", "delete", "SHP-0003", "created")
                CHANGE("7.0", "patch", "SHP-0004", "lost")
                    CHANGE("8.0", "patch", "SHP-0005", "lost");
    ck_assert(r.j->ops->data(r.j, stream, events, strlen(events)));
    fetch_csrf(&r, "T1");
    /* Absent: POST with the key, the token and the session's cookies. */
    struct conn__req *q = expect(&r, "GET", ROOT "/A_BusinessPartner('SHP-0001')");
    ck_assert(has_header(q, "Cookie: SAP_SESSIONID_X=sT1; sap-usercontext=sap-client=100"));
    ck_assert(!has_header(q, "X-CSRF-Token: T1")); /* reads need no token */
    answer_h(&r, q, 404, "HTTP/1.1 404 Not Found\r\n\r\n", "{\"error\":{}}");
    q = expect(&r, "POST", ROOT "/A_BusinessPartner");
    ck_assert(has_header(q, "X-CSRF-Token: T1"));
    ck_assert_str_eq(q->body, "{\"Status\":\"created\",\"BusinessPartner\":\"SHP-0001\"}");
    answer(&r, q, 201, "{}", 0);
    ck_assert_str_eq(store_val(&r, "offset/s4/outbound"), "5.0");
    /* Present: PATCH with If-Match; the token expired: fetch another, start over. */
    q = expect(&r, "GET", ROOT "/A_BusinessPartner('SHP-0002')");
    answer_h(&r, q, 200, "HTTP/1.1 200 OK\r\nETag: W/\"e1\"\r\n\r\n", "{\"d\":{}}");
    q = expect(&r, "PATCH", ROOT "/A_BusinessPartner('SHP-0002')");
    ck_assert(has_header(q, "If-Match: W/\"e1\""));
    ck_assert_str_eq(q->body, "{\"Status\":\"picked_up\"}");
    answer_h(&r, q, 403, "HTTP/1.1 403 Forbidden\r\nx-csrf-token: Required\r\n\r\n", "{}");
    fetch_csrf(&r, "T2");
    q = expect(&r, "GET", ROOT "/A_BusinessPartner('SHP-0002')");
    answer_h(&r, q, 200, "HTTP/1.1 200 OK\r\n\r\n",
             "{\"d\":{\"__metadata\":{\"etag\":\"W/\\\"e2\\\"\"}}}");
    q = expect(&r, "PATCH", ROOT "/A_BusinessPartner('SHP-0002')");
    ck_assert(has_header(q, "If-Match: W/\"e2\""));
    ck_assert(has_header(q, "X-CSRF-Token: T2"));
    answer(&r, q, 412, "{}", 0); /* changed meanwhile: read it again */
    q = expect(&r, "GET", ROOT "/A_BusinessPartner('SHP-0002')");
    answer_h(&r, q, 200, "HTTP/1.1 200 OK\r\nEtag: W/\"e3\"\r\n\r\n", "{\"d\":{}}");
    q = expect(&r, "PATCH", ROOT "/A_BusinessPartner('SHP-0002')");
    ck_assert(has_header(q, "If-Match: W/\"e3\""));
    answer(&r, q, 204, NULL, 0);
    ck_assert_str_eq(store_val(&r, "offset/s4/outbound"), "5.1");
    /* A delete of an entity already gone. */
    q = expect(&r, "GET", ROOT "/A_BusinessPartner('SHP-0003')");
    answer(&r, q, 404, NULL, 0);
    ck_assert_str_eq(store_val(&r, "offset/s4/outbound"), "6.0");
    /* An OData error body: dead letter with its code and message. */
    q = expect(&r, "GET", ROOT "/A_BusinessPartner('SHP-0004')");
    answer_h(&r, q, 200, "HTTP/1.1 200 OK\r\nETag: W/\"e4\"\r\n\r\n", "{}");
    q = expect(&r, "PATCH", ROOT "/A_BusinessPartner('SHP-0004')");
    answer(&r, q, 400, "{\"error\":{\"code\":\"BUPA/1\",\"message\":{\"value\":\"bad value\"}}}",
           0);
    ck_assert_ptr_nonnull(strstr(store_val(&r, "dl/s4/00000000000000000001"),
                                 "sap answered HTTP 400 BUPA/1 bad value"));
    /* max_etag_retries 1: the second 412 in a row is a dead letter. */
    for (int i = 0; i < 2; i++) {
        q = expect(&r, "GET", ROOT "/A_BusinessPartner('SHP-0005')");
        answer_h(&r, q, 200, "HTTP/1.1 200 OK\r\nETag: W/\"e5\"\r\n\r\n", "{}");
        answer(&r, expect(&r, "PATCH", ROOT "/A_BusinessPartner('SHP-0005')"), 412, "{}", 0);
    }
    ck_assert_ptr_nonnull(strstr(store_val(&r, "dl/s4/00000000000000000002"),
                                 "sap answered HTTP 412 2 times: the entity keeps changing"));
    ck_assert_str_eq(store_val(&r, "offset/s4/outbound"), "8.0");
    ck_assert_uint_eq(r.j->records, 3);
    answer(&r, stream, 0, NULL, 0);
    rig_down(&r);
}
END_TEST

Suite *suite_sap_out(void)
{
    Suite *s = suite_create("sap_out");
    TCase *tc = tcase_create("sap_out");
    tcase_add_test(tc, test_lookup_create_update_delete);
    suite_add_tcase(s, tc);
    return s;
}
