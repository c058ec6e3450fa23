/* test_sap_in.c — the SAP inbound job as a state machine, driven step by step with explicit time
 * and synthetic OData V2 answers (no socket is opened): the query (Basic auth, $orderby, $top, no
 * $filter before a cursor), d.__next followed verbatim, one idempotent write per entity keyed by
 * (connector, key, LastChangeDate+LastChangeTime), the cursor and seen stamps stored only once
 * the page is settled, the fresh poll's filter re-reading the cursor's second, entities already
 * seen at that second settled without a write while a lower key changed in it is written, dead
 * letters for a bad stamp and a 422, and a 429 waiting for its Retry-After; a page's held marks
 * (stored before its writes, retried after a failed store, removed by its commit), and a record
 * a crash left written that the restarted connector does not deliver back to SAP. */
#include "rig.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/err.h"

Suite *suite_sap_in(void);

static const char *CFG =
    "{\"node\": {\"url\": \"http://node\", \"api_key\": {\"env\": \"TSF_KEY\"}},"
    " \"state_dir\": \"/nonexistent\","
    " \"limits\": {\"max_inflight\": 2, \"backoff_base_ms\": 100, \"page_size\": 200},"
    " \"connectors\": [{\"name\": \"s4\", \"kind\": \"sap\", \"direction\": \"inbound\","
    "   \"ledger_type\": \"Shipment\", \"poll_interval_ms\": 1000,"
    "   \"sap\": {\"base_url\": \"http://sap/\", \"user\": {\"env\": \"TSF_ID\"},"
    "             \"password\": {\"env\": \"TSF_SECRET\"}, \"client\": \"100\"},"
    "   \"fields\": [{\"ledger\": \"shipmentId\", \"saas\": \"BusinessPartner\"},"
    "              {\"ledger\": \"status\", \"saas\": \"Status\"}]}]}";

#define ROOT "http://sap/sap/opu/odata/sap/API_BUSINESS_PARTNER"
/* 1764374400000 ms since 1970: 2025-11-29T00:00:00Z. */
#define ENT(key, time, status)                                                                     \
    "{\"__metadata\":{\"etag\":\"W/\\\"x\\\"\"},\"BusinessPartner\":\"" key                        \
    "\",\"LastChangeDate\":\"\\/Date(1764374400000)\\/\",\"LastChangeTime\":\"" time               \
    "\",\"Status\":\"" status "\"}"

static const char *hdr_value(const struct conn__req *q, const char *name)
{
    size_t n = strlen(name);
    for (size_t i = 0; i < q->nhdr; i++)
        if (strncmp(q->hdr[i], name, n) == 0 && q->hdr[i][n] == ':')
            return q->hdr[i] + n + 2;
    return NULL;
}

START_TEST(test_query_page_cursor)
{
    struct rig r;
    rig_up(&r, CFG, 0);
    struct conn__req *q = step_send(&r, 0);
    ck_assert_str_eq(q->url, ROOT "/A_BusinessPartner?$orderby=LastChangeDate%2CLastChangeTime%"
                                  "2CBusinessPartner&$top=200&$format=json&sap-client=100");
    ck_assert(has_header(q, "Authorization: Basic Y2lkOmNzZWNyZXQ=")); /* cid:csecret */
    ck_assert(has_header(q, "Accept: application/json"));
    answer(&r, q, 200,
           "{\"d\":{\"results\":[" ENT("SHP-0001", "PT14H30M05S", "created") "," ENT(
               "SHP-0002", "PT14H30M05S", "created") "],\"__next\":\"" ROOT
                                                     "/A_BusinessPartner?$skiptoken=abc.2\"}}",
           0);
    struct conn__req *w1 = step_send(&r, 0), *w2 = step_send(&r, 0);
    ck_assert_str_eq(w1->method, "PUT");
    ck_assert_str_eq(w1->url, "http://node/v1/data/Shipment/SHP-0001");
    ck_assert_str_eq(hdr_value(w1, "Idempotency-Key"),
                     "treaty-connect/s4/SHP-0001/2025-11-29T14:30:05");
    ck_assert_str_eq(w1->body, "{\"shipmentId\":\"SHP-0001\",\"status\":\"created\"}");
    answer(&r, w1, 404, NULL, 0); /* not in the ledger: create */
    struct conn__req *c1 = step_send(&r, 0);
    ck_assert_str_eq(c1->method, "POST");
    ck_assert_str_eq(hdr_value(c1, "Idempotency-Key"),
                     "treaty-connect/s4/SHP-0001/2025-11-29T14:30:05/create");
    answer(&r, c1, 201, "{}", 0);
    ck_assert_ptr_null(store_val(&r, "cursor/s4/inbound")); /* SHP-0002 still in flight */
    answer(&r, w2, 200, "{}", 0);
    /* Settled: the cursor and seen stamps are stored, and __next is followed verbatim. */
    q = step_send(&r, 0);
    ck_assert_str_eq(store_val(&r, "cursor/s4/inbound"), "2025-11-29T14:30:05|SHP-0002");
    ck_assert_str_eq(store_val(&r, "seen/s4/SHP-0001"), "2025-11-29T14:30:05");
    ck_assert_ptr_nonnull(store_val(&r, "sync/s4/SHP-0002"));
    ck_assert_str_eq(q->url, ROOT "/A_BusinessPartner?$skiptoken=abc.2");
    answer(&r, q, 200, "{\"d\":{\"results\":[]}}", 0);
    /* Caught up: the next poll after poll_interval_ms re-reads the cursor's second. */
    struct conn__req *none = NULL;
    uint64_t until = 0;
    ck_assert_int_eq(r.j->ops->next(r.j, 0, &none, &until), CONN__WAIT);
    ck_assert_uint_eq(until, 1000);
    q = step_send(&r, 1000);
    ck_assert_ptr_nonnull(
        strstr(q->url, "$filter=LastChangeDate%20gt%20datetime%272025-11-29T00%3A00%3A00%27%20or"
                       "%20%28LastChangeDate%20eq%20datetime%272025-11-29T00%3A00%3A00%27%20and"
                       "%20LastChangeTime%20ge%20time%27PT14H30M05S%27%29&$orderby="));
    /* SHP-0001 and SHP-0002 again at the same stamp: settled without writes; SHP-0000, a lower
     * key changed in that second, is written. */
    answer(&r, q, 200,
           "{\"d\":{\"results\":[" ENT("SHP-0000", "PT14H30M05S", "picked_up") "," ENT(
               "SHP-0001", "PT14H30M05S", "created") "," ENT("SHP-0002", "PT14H30M05S",
                                                             "created") "]}}",
           1000);
    struct conn__req *w0 = step_send(&r, 1000);
    ck_assert_str_eq(w0->url, "http://node/v1/data/Shipment/SHP-0000");
    ck_assert_int_eq(r.j->ops->next(r.j, 1000, &none, &until), CONN__IDLE);
    answer(&r, w0, 200, "{}", 1000);
    ck_assert_int_eq(r.j->ops->next(r.j, 1001, &none, &until), CONN__WAIT);
    ck_assert_str_eq(store_val(&r, "cursor/s4/inbound"), "2025-11-29T14:30:05|SHP-0002");
    ck_assert_str_eq(store_val(&r, "seen/s4/SHP-0000"), "2025-11-29T14:30:05");
    ck_assert_uint_eq(r.j->records, 3);
    rig_down(&r);
}
END_TEST

START_TEST(test_dead_letters_and_rate_limit)
{
    struct rig r;
    rig_up(&r, CFG, 0);
    struct conn__req *q = step_send(&r, 0);
    q->retry_after_ms = 3000;
    answer(&r, q, 429, "{\"error\":{\"code\":\"X\",\"message\":{\"value\":\"slow down\"}}}", 0);
    struct conn__req *none = NULL;
    uint64_t until = 0;
    ck_assert_int_eq(r.j->ops->next(r.j, 10, &none, &until), CONN__WAIT);
    ck_assert_uint_ge(until, 3000);
    ck_assert_ptr_nonnull(strstr(r.j->last_error, "HTTP 429 X: slow down"));
    q = step_send(&r, until);
    answer(&r, q, 200,
           "{\"d\":{\"results\":[" ENT("SHP-0005", "PT25H00M00S",
                                       "created") "," ENT("SHP-0006", "PT01H00M00S", "bogus") "]}}",
           until);
    ck_assert_uint_eq(r.j->dead_letters, 1); /* the hour 25 */
    struct conn__req *w = step_send(&r, until);
    answer(&r, w, 422,
           "{\"detail\":\"schema\",\"errors\":[{\"instancePath\":\"/status\",\"message\":\"not "
           "allowed\"}]}",
           until);
    ck_assert_uint_eq(r.j->dead_letters, 2);
    ck_assert_int_eq(r.j->ops->next(r.j, until, &none, &until), CONN__WAIT);
    ck_assert_str_eq(store_val(&r, "cursor/s4/inbound"), "2025-11-29T01:00:00|SHP-0006");
    ck_assert_ptr_null(store_val(&r, "sync/s4/SHP-0006")); /* not in the ledger: no hash */
    ck_assert_int_ge(fs_find(&r.fs, "dl/s4/00000000000000000002"), 0);
    ck_assert_ptr_nonnull(strstr(store_val(&r, "dl/s4/00000000000000000002"),
                                 "ledger answered HTTP 422: schema: /status: not allowed"));
    rig_down(&r);
}
END_TEST

START_TEST(test_out_of_memory_keeps_the_entity)
{
    struct rig r;
    rig_up(&r, CFG, 0);
    struct conn__req *q = step_send(&r, 0), *none = NULL;
    answer(&r, q, 200, "{\"d\":{\"results\":[" ENT("SHP-0007", "PT09H00M00S", "created") "]}}", 0);
    uint64_t until = 0;
    tr_alloc_fail_after(1); /* the write request cannot be built */
    enum conn__step st = r.j->ops->next(r.j, 0, &none, &until);
    ck_assert(tr_alloc_fail_fired());
    tr_alloc_fail_reset();
    ck_assert_int_eq(st, CONN__WAIT); /* not settled, not lost: tried again after a backoff */
    ck_assert_uint_gt(until, 0);
    ck_assert_uint_eq(r.j->dead_letters, 0);
    ck_assert_ptr_null(store_val(&r, "cursor/s4/inbound"));
    struct conn__req *w = step_send(&r, until);
    ck_assert_str_eq(w->url, "http://node/v1/data/Shipment/SHP-0007");
    answer(&r, w, 200, "{}", until);
    ck_assert_int_eq(r.j->ops->next(r.j, until, &none, &until), CONN__WAIT);
    ck_assert_str_eq(store_val(&r, "cursor/s4/inbound"), "2025-11-29T09:00:00|SHP-0007");
    rig_down(&r);
}
END_TEST

/* A page's held marks (inbound.c conn__in_hold): stored in one transaction as the page is read,
 * before its first write; a store that fails holds the writes back until a retry after a backoff
 * succeeds; a mark an earlier run left for a key keeps its hashes, the new one added last (four
 * at most: the oldest goes); the page's commit removes the marks with its synced hashes. */
START_TEST(test_held_marks)
{
    struct rig r;
    rig_up(&r, CFG, 0);
    char old[4][65], pre[4 * 65];
    for (int i = 0; i < 4; i++)
        memset(old[i], 'a' + i, 64), old[i][64] = '\0';
    snprintf(pre, sizeof pre, "%s %s %s %s", old[0], old[1], old[2], old[3]);
    struct conn_kv kv = {"held/s4/SHP-0001", pre};
    r.st.put(r.st.ctx, &kv, 1);
    struct conn__req *q = step_send(&r, 0), *none = NULL;
    r.fs.fail_puts = 2; /* as the page is read, and at once again on the next step */
    answer(&r, q, 200,
           "{\"d\":{\"results\":[" ENT("SHP-0001", "PT10H00M00S", "created") "," ENT(
               "SHP-0002", "PT10H00M01S", "created") "]}}",
           0);
    uint64_t until = 0;
    ck_assert_int_eq(r.j->ops->next(r.j, 0, &none, &until), CONN__WAIT);
    ck_assert_ptr_null(none);
    ck_assert_uint_gt(until, 0);
    ck_assert_ptr_nonnull(strstr(r.j->last_error, "held marks"));
    ck_assert_ptr_null(store_val(&r, "held/s4/SHP-0002"));
    ck_assert_int_eq(r.j->ops->next(r.j, until - 1, &none, &until), CONN__WAIT);
    int puts = r.fs.puts;
    struct conn__req *w1 = step_send(&r, until);
    ck_assert_int_eq(r.fs.puts, puts + 1); /* both marks in one transaction */
    const char *h1 = store_val(&r, "held/s4/SHP-0001"), *h2 = store_val(&r, "held/s4/SHP-0002");
    ck_assert_uint_eq(strlen(h2), 64);
    ck_assert_uint_eq(strlen(h1), 4 * 65 - 1);
    ck_assert(strncmp(h1, old[1], 64) == 0 && strncmp(h1 + 65, old[2], 64) == 0 &&
              strncmp(h1 + 130, old[3], 64) == 0);
    char fresh[65];
    snprintf(fresh, sizeof fresh, "%s", h1 + 195);
    ck_assert(conn__in_held(r.j, "SHP-0001", fresh) && conn__in_held(r.j, "SHP-0001", old[1]));
    ck_assert(!conn__in_held(r.j, "SHP-0001", old[0]) && !conn__in_held(r.j, "SHP-0003", fresh));
    struct conn__req *w2 = step_send(&r, until);
    answer(&r, w1, 200, "{}", until);
    answer(&r, w2, 200, "{}", until);
    ck_assert_int_eq(r.j->ops->next(r.j, until, &none, &until), CONN__WAIT);
    ck_assert_str_eq(store_val(&r, "cursor/s4/inbound"), "2025-11-29T10:00:01|SHP-0002");
    ck_assert_str_eq(store_val(&r, "sync/s4/SHP-0001"), fresh);
    ck_assert_str_eq(store_val(&r, "held/s4/SHP-0001"), "(deleted)");
    ck_assert_str_eq(store_val(&r, "held/s4/SHP-0002"), "(deleted)");
    ck_assert(!conn__in_held(r.j, "SHP-0001", fresh));
    rig_down(&r);
}
END_TEST

/* The records a crash left written but unconfirmed, when the first page read after the restart
 * does not hold them (SAP's fresh poll re-reads the cursor's second, so the page in flight can
 * spill onto the second page): their ledger changes reach the connector's outbound job, which
 * must not deliver them back to SAP. Their held marks, stored before the writes, say they are
 * this connector's own. */
START_TEST(test_crash_left_write_not_echoed)
{
    static const char *both =
        "{\"node\": {\"url\": \"http://node\", \"api_key\": {\"env\": \"TSF_KEY\"}},"
        " \"state_dir\": \"/nonexistent\", \"limits\": {\"max_inflight\": 2},"
        " \"connectors\": [{\"name\": \"s4\", \"kind\": \"sap\", \"direction\": \"both\","
        "   \"ledger_type\": \"Shipment\","
        "   \"sap\": {\"base_url\": \"http://sap/\", \"user\": {\"env\": \"TSF_ID\"},"
        "             \"password\": {\"env\": \"TSF_SECRET\"}},"
        "   \"fields\": [{\"ledger\": \"shipmentId\", \"saas\": \"BusinessPartner\"},"
        "              {\"ledger\": \"status\", \"saas\": \"Status\"}]}]}";
    struct rig a, b;
    rig_up(&a, both, 0); /* jobs: 0 inbound, 1 outbound */
    struct conn__req *q = step_send(&a, 0);
    answer(&a, q, 200,
           "{\"d\":{\"results\":[" ENT("SHP-0001", "PT08H00M00S", "created") "," ENT(
               "SHP-0002", "PT08H00M01S", "created") "]}}",
           0);
    struct conn__req *w1 = step_send(&a, 0), *w2 = step_send(&a, 0);
    answer(&a, w1, 200, "{}", 0); /* SHP-0001 is in the ledger; then the process is killed */
    conn__req_free(w2);
    a.j->inflight--;
    ck_assert_ptr_null(store_val(&a, "cursor/s4/inbound"));
    rig_up_from(&b, both, 1, &a.fs);
    rig_down(&a);
    /* The restarted outbound job reads SHP-0001's ledger change... */
    struct conn__req *stream = step_send(&b, 0), *none = NULL;
    const char *ev = "id: 3.0\ndata: {\"type\":\"Shipment\",\"key\":\"SHP-0001\",\"op\":"
                     "\"create\",\"record\":{\"shipmentId\":\"SHP-0001\",\"status\":"
                     "\"created\"}}\n\n";
    ck_assert(b.j->ops->data(b.j, stream, ev, strlen(ev)));
    uint64_t until = 0;
    ck_assert_int_eq(b.j->ops->next(b.j, 0, &none, &until), CONN__IDLE); /* inbound not primed */
    /* ...and the inbound job's first page holds another record only. */
    b.j = b.rt->jobs[0];
    q = step_send(&b, 0);
    answer(&b, q, 200,
           "{\"d\":{\"results\":[" ENT("SHP-0000", "PT07H00M00S", "created") "],\"__next\":\"" ROOT
                                                                             "/x?$skiptoken=1\"}}",
           0);
    b.j = b.rt->jobs[1];
    struct conn__req *csrf = step_send(&b, 0);
    const char *h = "HTTP/1.1 200 OK\r\nx-csrf-token: T1\r\n\r\n";
    csrf->resp_hdr = tr_strdup(h);
    csrf->resp_hdr_len = strlen(h);
    answer(&b, csrf, 200, "{\"d\":{}}", 0);
    ck_assert_int_eq(b.j->ops->next(b.j, 0, &none, &until), CONN__IDLE); /* nothing to send */
    ck_assert_ptr_null(none);
    ck_assert_uint_eq(b.j->skipped, 1);
    ck_assert_str_eq(store_val(&b, "offset/s4/outbound"), "3.0");
    conn__req_free(stream);
    b.j->inflight--;
    b.j = b.rt->jobs[0];
    rig_down(&b);
}
END_TEST

Suite *suite_sap_in(void)
{
    Suite *s = suite_create("sap_in");
    TCase *tc = tcase_create("sap_in");
    tcase_add_test(tc, test_query_page_cursor);
    tcase_add_test(tc, test_dead_letters_and_rate_limit);
    tcase_add_test(tc, test_out_of_memory_keeps_the_entity);
    tcase_add_test(tc, test_held_marks);
    tcase_add_test(tc, test_crash_left_write_not_echoed);
    suite_add_tcase(s, tc);
    return s;
}
