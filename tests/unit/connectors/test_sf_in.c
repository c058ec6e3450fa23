/* test_sf_in.c — the Salesforce inbound job as a state machine, driven step by step with explicit
 * time and synthetic answers (no socket is opened): token, SOQL query, one idempotent write per
 * record (PUT, then POST on 404), a 422 dead-lettered, the cursor stored only once the page is
 * settled, nextRecordsUrl followed, a 401 refetching the token, a 403 REQUEST_LIMIT_EXCEEDED
 * waiting for its Retry-After, and a record already in sync skipped without a write. */
#include "rig.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/err.h"

Suite *suite_sf_in(void);

static const char *CFG =
    "{\"node\": {\"url\": \"http://node\", \"api_key\": {\"env\": \"TSF_KEY\"}},"
    " \"state_dir\": \"/nonexistent\", \"limits\": {\"max_inflight\": 2, \"backoff_base_ms\": 100},"
    " \"connectors\": [{\"name\": \"sf\", \"kind\": \"salesforce\", \"direction\": \"inbound\","
    "   \"ledger_type\": \"Shipment\", \"object\": \"Ship__c\", \"external_id\": \"Ext__c\","
    "   \"poll_interval_ms\": 1000,"
    "   \"salesforce\": {\"login_url\": \"http://login\", \"client_id\": {\"env\": \"TSF_ID\"},"
    "                  \"client_secret\": {\"env\": \"TSF_SECRET\"}},"
    "   \"fields\": [{\"ledger\": \"shipmentId\", \"saas\": \"Ext__c\"},"
    "              {\"ledger\": \"status\", \"saas\": \"Status__c\"}]}]}";

#define REC(id, stamp, ext, status)                                                                \
    "{\"Id\":\"" id "\",\"SystemModstamp\":\"" stamp "\",\"IsDeleted\":false,\"Ext__c\":\"" ext    \
    "\",\"Status__c\":\"" status "\"}"

static void authenticate(struct rig *r)
{
    struct conn__req *q = step_send(r, 0);
    ck_assert_str_eq(q->url, "http://login/services/oauth2/token");
    ck_assert_ptr_nonnull(strstr(q->body, "client_secret=csecret"));
    answer(r, q, 200, "{\"access_token\":\"T1\",\"instance_url\":\"http://sf\"}", 0);
}

START_TEST(test_page_writes_and_cursor)
{
    struct rig r;
    rig_up(&r, CFG, 0);
    authenticate(&r);
    struct conn__req *q = step_send(&r, 0);
    ck_assert_ptr_nonnull(strstr(q->url, "http://sf/services/data/v59.0/queryAll?q=SELECT"));
    ck_assert_ptr_null(strstr(q->url, "WHERE"));
    ck_assert(has_header(q, "Authorization: Bearer T1"));
    answer(&r, q, 200,
           "{\"done\":false,\"nextRecordsUrl\":\"/services/data/v59.0/query/"
           "01gX-3\",\"records\":[" REC(
               "a1", "2026-01-01T00:00:01.000+0000", "SHP-0001",
               "created") "," REC("a2", "2026-01-01T00:00:01.000+0000", "SHP-0002",
                                  "created") "," REC("a3", "2026-01-01T00:00:02.000+0000",
                                                     "SHP-0003", "bogus") "]}",
           0);
    /* max_inflight 2: two writes, then the job waits for answers. */
    struct conn__req *w1 = step_send(&r, 0), *w2 = step_send(&r, 0), *none = NULL;
    uint64_t until = 0;
    ck_assert_int_eq(r.j->ops->next(r.j, 0, &none, &until), CONN__IDLE);
    ck_assert_str_eq(w1->method, "PUT");
    ck_assert_str_eq(w1->url, "http://node/v1/data/Shipment/SHP-0001");
    ck_assert(has_header(w1, "Idempotency-Key: treaty-connect/sf/a1/2026-01-01T00:00:01.000+0000"));
    ck_assert_str_eq(w1->body, "{\"shipmentId\":\"SHP-0001\",\"status\":\"created\"}");
    answer(&r, w1, 200, "{}", 0);
    answer(&r, w2, 404, "{\"type\":\"urn:treaty:problem:not-found\"}", 0);
    struct conn__req *c2 = step_send(&r, 0);
    ck_assert_str_eq(c2->method, "POST");
    ck_assert_str_eq(c2->url, "http://node/v1/data/Shipment");
    ck_assert(has_header(
        c2, "Idempotency-Key: treaty-connect/sf/a2/2026-01-01T00:00:01.000+0000/create"));
    struct conn__req *w3 = step_send(&r, 0);
    answer(&r, c2, 201, "{}", 0);
    ck_assert_ptr_null(store_val(&r, "cursor/sf/inbound")); /* a3 not settled yet */
    answer(&r, w3, 422,
           "{\"detail\":\"violates\",\"errors\":[{\"instancePath\":\"/status\","
           "\"message\":\"must be one of the enum values\"}]}",
           0);
    /* Settled: the next step stores the cursor with the hashes, then follows nextRecordsUrl. */
    struct conn__req *q2 = step_send(&r, 0);
    ck_assert_str_eq(q2->url, "http://sf/services/data/v59.0/query/01gX-3");
    ck_assert_str_eq(store_val(&r, "cursor/sf/inbound"), "2026-01-01T00:00:02.000+0000|a3");
    ck_assert_ptr_nonnull(store_val(&r, "sync/sf/SHP-0001"));
    ck_assert_ptr_nonnull(store_val(&r, "sync/sf/SHP-0002"));
    ck_assert_ptr_null(store_val(&r, "sync/sf/SHP-0003"));
    const char *dl = store_val(&r, "dl/sf/00000000000000000001");
    ck_assert_ptr_nonnull(dl);
    ck_assert_ptr_nonnull(strstr(dl, "/status: must be one of the enum values"));
    ck_assert_uint_eq(r.j->records, 2);
    ck_assert_uint_eq(r.j->dead_letters, 1);
    /* 401: the token is fetched again, then the same page is asked for again. */
    answer(&r, q2, 401, "[{\"errorCode\":\"INVALID_SESSION_ID\",\"message\":\"expired\"}]", 10);
    struct conn__req *t = step_send(&r, 10);
    ck_assert_ptr_nonnull(strstr(t->url, "/services/oauth2/token"));
    answer(&r, t, 200, "{\"access_token\":\"T2\",\"instance_url\":\"http://sf\"}", 10);
    struct conn__req *q3 = step_send(&r, 10);
    ck_assert_str_eq(q3->url, "http://sf/services/data/v59.0/query/01gX-3");
    ck_assert(has_header(q3, "Authorization: Bearer T2"));
    /* 403 REQUEST_LIMIT_EXCEEDED with Retry-After 2 s: nothing before it. */
    q3->retry_after_ms = 2000;
    answer(&r, q3, 403, "[{\"errorCode\":\"REQUEST_LIMIT_EXCEEDED\",\"message\":\"limit\"}]", 20);
    ck_assert_int_eq(r.j->ops->next(r.j, 20, &none, &until), CONN__WAIT);
    ck_assert_uint_ge(until, 2020);
    struct conn__req *q4 = step_send(&r, until);
    ck_assert_str_eq(q4->url, "http://sf/services/data/v59.0/query/01gX-3");
    /* The last page holds a record already in sync (same projection as stored): no write. */
    answer(&r, q4, 200,
           "{\"done\":true,\"records\":[" REC("a1", "2026-01-01T00:00:03.000+0000", "SHP-0001",
                                              "created") "]}",
           until);
    int puts = r.fs.puts;
    ck_assert_int_eq(r.j->ops->next(r.j, until, &none, &until), CONN__WAIT); /* poll interval */
    ck_assert_uint_eq(r.j->skipped, 1);
    ck_assert_int_eq(r.fs.puts, puts + 1);
    ck_assert_str_eq(store_val(&r, "cursor/sf/inbound"), "2026-01-01T00:00:03.000+0000|a1");
    /* The next poll starts from the cursor, >= so records sharing its stamp are not missed. */
    struct conn__req *q5 = step_send(&r, until);
    ck_assert_ptr_nonnull(
        strstr(q5->url, "WHERE%20SystemModstamp%20%3E%3D%202026-01-01T00%3A00%3A03.000%2B0000"));
    conn__req_free(q5);
    r.j->inflight--;
    rig_down(&r);
}
END_TEST

START_TEST(test_expired_locator_queries_again)
{
    struct rig r;
    rig_up(&r, CFG, 0);
    authenticate(&r);
    answer(&r, step_send(&r, 0), 200,
           "{\"done\":false,\"nextRecordsUrl\":\"/services/data/v59.0/query/"
           "01gY-1\",\"records\":[" REC("b1", "2026-01-01T00:00:05.000+0000", "SHP-0005",
                                        "created") "]}",
           0);
    answer(&r, step_send(&r, 0), 200, "{}", 0);
    struct conn__req *q = step_send(&r, 0);
    ck_assert_str_eq(q->url, "http://sf/services/data/v59.0/query/01gY-1");
    answer(&r, q, 400, "[{\"errorCode\":\"INVALID_QUERY_LOCATOR\",\"message\":\"expired\"}]", 0);
    struct conn__req *none = NULL;
    uint64_t until = 0;
    ck_assert_int_eq(r.j->ops->next(r.j, 0, &none, &until), CONN__WAIT);
    q = step_send(&r, until);
    ck_assert_ptr_nonnull(strstr(q->url, "queryAll?q=SELECT"));
    ck_assert_ptr_nonnull(strstr(q->url, "%3E%3D%202026-01-01T00%3A00%3A05.000%2B0000"));
    conn__req_free(q);
    r.j->inflight--;
    rig_down(&r);
}
END_TEST

START_TEST(test_password_flow)
{
    setenv("TSF_USER", "ops@example.com", 1);
    setenv("TSF_PASS", "p&ss word", 1);
    char cfg[2048];
    const char *at = strstr(CFG, "\"client_secret\"");
    ck_assert_ptr_nonnull(at);
    snprintf(cfg, sizeof cfg,
             "%.*s\"username\": {\"env\": \"TSF_USER\"}, "
             "\"password\": {\"env\": \"TSF_PASS\"}, %s",
             (int)(at - CFG), CFG, at);
    struct rig r;
    rig_up(&r, cfg, 0);
    struct conn__req *t = step_send(&r, 0);
    ck_assert_str_eq(t->body, "grant_type=password&client_id=cid&client_secret=csecret"
                              "&username=ops%40example.com&password=p%26ss%20word");
    ck_assert(has_header(t, "Content-Type: application/x-www-form-urlencoded"));
    /* A refused token: an error without the secret, and a wait before the next try. */
    answer(&r, t, 400, "{\"error\":\"invalid_grant\"}", 0);
    ck_assert_ptr_nonnull(strstr(r.j->last_error, "invalid_grant"));
    ck_assert_ptr_null(strstr(r.j->last_error, "p&ss"));
    struct conn__req *none = NULL;
    uint64_t until = 0;
    ck_assert_int_eq(r.j->ops->next(r.j, 0, &none, &until), CONN__WAIT);
    ck_assert_uint_ge(until, 50);
    rig_down(&r);
}
END_TEST

Suite *suite_sf_in(void)
{
    Suite *s = suite_create("sf_in");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_page_writes_and_cursor);
    tcase_add_test(tc, test_expired_locator_queries_again);
    tcase_add_test(tc, test_password_flow);
    suite_add_tcase(s, tc);
    return s;
}
