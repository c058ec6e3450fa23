/* test_inbound.c — what the inbound jobs share (connectors/inbound.c): the ledger write of one
 * record (method and path by operation, the key percent-encoded, the Idempotency-Key, the body,
 * tag and index), the reason made of the node's problem answer, a failed write retried after a
 * backoff or dead-lettered, a failed page commit or read retried, the gate and the sending of a
 * read, the status fields and the setup that reads the stored cursor. */
#include "rig.h"

#include <check.h>
#include <string.h>

#include "common/alloc.h"
#include "common/bytes.h"

Suite *suite_inbound(void);

static const char *CFG =
    "{\"node\": {\"url\": \"http://node\", \"api_key\": {\"env\": \"TSF_KEY\"}},"
    " \"state_dir\": \"/nonexistent\","
    " \"connectors\": [{\"name\": \"s4\", \"kind\": \"sap\", \"direction\": \"inbound\","
    "   \"ledger_type\": \"Shipment\","
    "   \"sap\": {\"base_url\": \"http://sap/\", \"user\": {\"env\": \"TSF_ID\"},"
    "             \"password\": {\"env\": \"TSF_SECRET\"}},"
    "   \"fields\": [{\"ledger\": \"shipmentId\", \"saas\": \"BusinessPartner\"}]}]}";

START_TEST(test_write_req)
{
    struct rig r;
    rig_up(&r, CFG, 0);
    json_t *body = json_pack("{s:s}", "shipmentId", "a/b c");
    struct conn__req *q = conn__in_write_req(r.j, CONN__IN_PUT, "a/b c", "k1", body, 7, 3);
    ck_assert_str_eq(q->method, "PUT");
    ck_assert_str_eq(q->url, "http://node/v1/data/Shipment/a%2Fb%20c");
    ck_assert(has_header(q, "Idempotency-Key: k1"));
    ck_assert(has_header(q, "Content-Type: application/json"));
    ck_assert_str_eq(q->body, "{\"shipmentId\":\"a/b c\"}");
    ck_assert_int_eq(q->tag, 7);
    ck_assert_uint_eq(q->index, 3);
    conn__req_free(q);
    q = conn__in_write_req(r.j, CONN__IN_CREATE, "a/b c", "k2", body, 8, 0);
    ck_assert_str_eq(q->method, "POST");
    ck_assert_str_eq(q->url, "http://node/v1/data/Shipment");
    ck_assert(has_header(q, "Idempotency-Key: k2"));
    conn__req_free(q);
    q = conn__in_write_req(r.j, CONN__IN_DELETE, "x", "k3", NULL, 9, 1);
    ck_assert_str_eq(q->method, "DELETE");
    ck_assert_str_eq(q->url, "http://node/v1/data/Shipment/x");
    ck_assert_ptr_null(q->body);
    ck_assert(!has_header(q, "Content-Type: application/json"));
    conn__req_free(q);
    /* Idempotency-Key: up to 128 bytes as is; longer, its hash, the same for the same key */
    char k128[129], k129[130], h1[200], h2[200];
    memset(k128, 'a', 128);
    k128[128] = '\0';
    memset(k129, 'a', 129);
    k129[129] = '\0';
    q = conn__in_write_req(r.j, CONN__IN_PUT, "x", k128, body, 1, 0);
    snprintf(h1, sizeof h1, "Idempotency-Key: %s", k128);
    ck_assert(has_header(q, h1));
    conn__req_free(q);
    for (int n = 0; n < 2; n++) {
        q = conn__in_write_req(r.j, CONN__IN_PUT, "x", k129, body, 1, 0);
        uint8_t h[32];
        char hex[65];
        r.cc.sha256((const uint8_t *)k129, 129, h);
        tr_hex_encode(h, sizeof h, hex);
        snprintf(n ? h2 : h1, sizeof h1, "Idempotency-Key: treaty-connect/sha256/%s", hex);
        ck_assert(has_header(q, n ? h2 : h1));
        ck_assert_uint_le(strlen(h1) - strlen("Idempotency-Key: "), 128);
        conn__req_free(q);
    }
    k129[0] = 'b'; /* another key, another hash */
    q = conn__in_write_req(r.j, CONN__IN_PUT, "x", k129, body, 1, 0);
    ck_assert(!has_header(q, h1));
    conn__req_free(q);
    json_decref(body);
    rig_down(&r);
}
END_TEST

START_TEST(test_ledger_reason)
{
    static char problem[] = "{\"detail\":\"schema\",\"errors\":[{\"instancePath\":\"/status\","
                            "\"message\":\"not allowed\"}]}",
                conflict[] = "{\"detail\":\"conflict\"}", garbage[] = "not json";
    struct conn__req q = {0};
    char buf[300];
    q.status = 422, q.resp = problem;
    conn__in_ledger_reason(&q, buf, sizeof buf);
    ck_assert_str_eq(buf, "ledger answered HTTP 422: schema: /status: not allowed");
    q.status = 409, q.resp = conflict;
    conn__in_ledger_reason(&q, buf, sizeof buf);
    ck_assert_str_eq(buf, "ledger answered HTTP 409: conflict");
    q.status = 503, q.resp = garbage;
    conn__in_ledger_reason(&q, buf, sizeof buf);
    ck_assert_str_eq(buf, "ledger answered HTTP 503: ");
    q.status = 0, q.resp = NULL;
    strcpy(q.err, "Connection refused");
    conn__in_ledger_reason(&q, buf, sizeof buf);
    ck_assert_str_eq(buf, "ledger answered HTTP 0: Connection refused");
    conn__in_ledger_reason(&q, buf, 12); /* truncated, NUL-terminated */
    ck_assert_str_eq(buf, "ledger answ");
}
END_TEST

START_TEST(test_status_and_init)
{
    struct rig r;
    rig_up(&r, CFG, 0);
    ck_assert_str_eq(r.j->state, "starting");
    json_t *out = json_object();
    static char stored[] = "c|1";
    struct conn__in in = {0};
    conn__in_status(&in, out, 0);
    ck_assert(json_is_null(json_object_get(out, "cursor")));
    in.cursor = stored;
    conn__in_status(&in, out, 5);
    ck_assert_str_eq(json_string_value(json_object_get(out, "cursor")), "c|1");
    ck_assert_int_eq(json_integer_value(json_object_get(out, "page_records")), 5);
    json_decref(out);
    /* A stored cursor is read at the setup. */
    struct conn__job j = {0};
    struct conn__in in2 = {0};
    struct conn_kv kv = {"cursor/s4/inbound", "2025-11-29T00:00:00|K"};
    ck_assert_int_eq(r.st.put(r.st.ctx, &kv, 1), 0);
    ck_assert_int_eq(conn__in_init(&j, &in2, r.j->ops, r.rt, 0), 0);
    ck_assert_str_eq(in2.cursor, "2025-11-29T00:00:00|K");
    ck_assert_str_eq(j.state, "starting");
    ck_assert_ptr_eq(j.cfg, &r.cfg->connectors[0]);
    conn__in_close(&in2);
    ck_assert_ptr_null(in2.cursor);
    ck_assert(!conn__in_data(r.j, NULL, "x", 1));
    rig_down(&r);
}
END_TEST

START_TEST(test_write_failed_and_retry_page)
{
    struct rig r;
    rig_up(&r, CFG, 0);
    struct conn__req q = {0};
    json_t *rec = json_pack("{s:s}", "BusinessPartner", "K1");
    uint32_t attempt = 0;
    uint64_t retry_at = 0;
    /* 503 with Retry-After 2 s: transient, retried no sooner, nothing dead-lettered. */
    q.status = 503, q.retry_after_ms = 2000;
    ck_assert(conn__in_write_failed(r.j, &q, 1000, &attempt, &retry_at, "entity", "K1", rec,
                                    "ledger answered HTTP 503: "));
    ck_assert_uint_eq(attempt, 1);
    ck_assert_uint_ge(retry_at, 3000);
    ck_assert_str_eq(r.j->last_error, "entity K1: ledger answered HTTP 503: ; retrying");
    ck_assert_uint_eq(r.j->dead_letters, 0);
    /* 422: permanent, dead-lettered once; the retry state is left alone. */
    q.status = 422, q.retry_after_ms = -1;
    ck_assert(!conn__in_write_failed(r.j, &q, 4000, &attempt, &retry_at, "entity", "K1", rec,
                                     "ledger answered HTTP 422: schema"));
    ck_assert_uint_eq(attempt, 1);
    ck_assert_uint_eq(r.j->dead_letters, 1);
    json_decref(rec);
    /* A failed page commit waits a backoff, counted in the job's attempts. */
    struct conn__in in = {0};
    uint64_t until = 0;
    ck_assert_int_eq(conn__in_retry_page(r.j, &in, 5000, &until), CONN__WAIT);
    ck_assert_uint_eq(in.attempt, 1);
    ck_assert_uint_gt(in.wait_until_ms, 5000);
    ck_assert_uint_eq(until, in.wait_until_ms);
    /* The gate: a wait, then a read in flight, then free to read. */
    ck_assert_int_eq(conn__in_gate(&in, 5000, 0, &until), CONN__WAIT);
    ck_assert_uint_eq(until, in.wait_until_ms);
    ck_assert_int_eq(conn__in_gate(&in, in.wait_until_ms, in.wait_until_ms + 7, &until),
                     CONN__WAIT);
    ck_assert_uint_eq(until, in.wait_until_ms + 7);
    in.reading = true;
    ck_assert_int_eq(conn__in_gate(&in, in.wait_until_ms + 7, 0, &until), CONN__IDLE);
    in.reading = false;
    ck_assert_int_eq(conn__in_gate(&in, in.wait_until_ms + 7, 0, &until), CONN__SEND);
    /* A read: the state named, reading while in flight; none sent without a request. */
    struct conn__req *q2 = conn__in_write_req(r.j, CONN__IN_DELETE, "x", "k", NULL, 1, 0);
    struct conn__req *sent = NULL;
    ck_assert_int_eq(conn__in_read(r.j, &in, "reading", q2, &sent), CONN__SEND);
    ck_assert_ptr_eq(sent, q2);
    ck_assert(in.reading);
    ck_assert_str_eq(r.j->state, "reading");
    conn__req_free(q2);
    in.reading = false;
    ck_assert_int_eq(conn__in_read(r.j, &in, "reading_archived", NULL, &sent), CONN__IDLE);
    ck_assert(!in.reading);
    ck_assert_ptr_null(sent);
    /* A failed read backs off. */
    conn__in_backoff(r.j, &in, 9000, 4000);
    ck_assert_uint_eq(in.attempt, 2);
    ck_assert_uint_ge(in.wait_until_ms, 13000);
    ck_assert_str_eq(r.j->state, "backoff");
    rig_down(&r);
}
END_TEST

Suite *suite_inbound(void)
{
    Suite *s = suite_create("inbound");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_write_req);
    tcase_add_test(tc, test_ledger_reason);
    tcase_add_test(tc, test_status_and_init);
    tcase_add_test(tc, test_write_failed_and_retry_page);
    suite_add_tcase(s, tc);
    return s;
}
