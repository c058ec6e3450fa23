/* test_outbound.c — the outbound job stepped with explicit time: SSE parsing across arbitrary
 * chunk boundaries (comments, CRLF, non-change events ignored), the bounded event queue, a
 * Salesforce upsert by external id, a change already in sync skipped, a delete whose record is
 * gone, a refused value dead-lettered, a 503 retried after its backoff, the offset stored after
 * each change and used as Last-Event-ID on reconnect; a change matching its key's held mark (the
 * connector's own inbound write) skipped; a record change with a newer one of its key queued not
 * delivered (a delete always is; a webhook gets every change); a webhook POST signed over its
 * exact body. */
#include "rig.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

Suite *suite_outbound(void);

static const char *CFG =
    "{\"node\": {\"url\": \"http://node\", \"api_key\": {\"env\": \"TSF_KEY\"}},"
    " \"state_dir\": \"/nonexistent\", \"limits\": {\"max_event_queue\": 4, \"max_attempts\": 3,"
    "   \"backoff_base_ms\": 100},"
    " \"connectors\": [{\"name\": \"sf\", \"kind\": \"salesforce\", \"direction\": \"outbound\","
    "   \"ledger_type\": \"Shipment\", \"object\": \"Ship__c\", \"external_id\": \"Ext__c\","
    "   \"salesforce\": {\"login_url\": \"http://login\", \"client_id\": {\"env\": \"TSF_ID\"},"
    "                  \"client_secret\": {\"env\": \"TSF_SECRET\"}},"
    "   \"fields\": [{\"ledger\": \"shipmentId\", \"saas\": \"Ext__c\"},"
    "              {\"ledger\": \"status\", \"saas\": \"Status__c\"}]},"
    "  {\"name\": \"hook\", \"kind\": \"webhook\", \"direction\": \"outbound\","
    "   \"ledger_type\": \"Shipment\", \"url\": \"http://hook/x\", \"secret\": {\"env\": "
    "\"TSF_SECRET\"},"
    "   \"fields\": [{\"ledger\": \"status\", \"saas\": \"state\"}]}]}";

#define CHANGE(id, op, key, status)                                                                \
    "id: " id "\nevent: change\ndata: {\"type\":\"Shipment\",\"key\":\"" key "\",\"op\":\"" op     \
    "\",\"org\":\"acme\",\"record\":{\"shipmentId\":\"" key "\",\"status\":\"" status "\"}}\n\n"

/* Feeds text to the job's stream in chunks of `chunk` bytes; returns false if it stopped. */
static bool feed(struct rig *r, struct conn__req *stream, const char *text, size_t chunk)
{
    for (size_t off = 0, n = strlen(text); off < n; off += chunk)
        if (!r->j->ops->data(r->j, stream, text + off, off + chunk > n ? n - off : chunk))
            return false;
    return true;
}

/* The hash the job computes for a change of record_json: its mapped fields' projection. */
static void projection_hex(struct rig *r, const char *record_json, char hex[65])
{
    json_t *rec = json_loads(record_json, 0, NULL);
    char *proj = conn_map_projection(r->j->cfg, rec);
    conn__hash_hex(r->rt, proj, hex);
    free(proj);
    json_decref(rec);
}

static void store_sync(struct rig *r, const char *key, const char *record_json)
{
    char hex[65], skey[128];
    projection_hex(r, record_json, hex);
    snprintf(skey, sizeof skey, "sync/sf/%s", key);
    struct conn_kv kv = {skey, hex};
    r->st.put(r->st.ctx, &kv, 1);
}

START_TEST(test_salesforce_deliveries)
{
    struct rig r;
    rig_up(&r, CFG, 0);
    struct conn__req *stream = step_send(&r, 0);
    ck_assert_str_eq(stream->url, "http://node/v1/events?types=Shipment&from=0");
    ck_assert(stream->stream);
    store_sync(&r, "SHP-0002", "{\"shipmentId\":\"SHP-0002\",\"status\":\"created\"}");
    ck_assert(feed(
        &r, stream,
        ": heartbeat\n\n" CHANGE(
            "5.0", "create", "SHP-0001",
            "created") "event: error\r\ndata: {\"reason\":\"x\"}\r\n\r\n" CHANGE("5.1", "patch",
                                                                                 "SHP-0002",
                                                                                 "created"),
        7));
    ck_assert(feed(&r, stream, CHANGE("6.0", "delete", "SHP-0003", "created"), 1));
    /* The queue (4) is full with the next one: the job stops reading. */
    ck_assert(!feed(&r, stream, CHANGE("7.0", "patch", "SHP-0004", "teleported"), 5));
    answer(&r, stream, 0, NULL, 0); /* the edge ends the aborted transfer */
    struct conn__req *tok = step_send(&r, 0);
    answer(&r, tok, 200, "{\"access_token\":\"T1\",\"instance_url\":\"http://sf\"}", 0);
    struct conn__req *up = step_send(&r, 0);
    ck_assert_str_eq(up->method, "PATCH");
    ck_assert_str_eq(up->url, "http://sf/services/data/v59.0/sobjects/Ship__c/Ext__c/SHP-0001");
    ck_assert_str_eq(up->body, "{\"Status__c\":\"created\"}");
    ck_assert(has_header(up, "Authorization: Bearer T1"));
    ck_assert_ptr_null(store_val(&r, "offset/sf/outbound"));
    answer(&r, up, 201, "{\"id\":\"a1\",\"success\":true}", 0);
    ck_assert_str_eq(store_val(&r, "offset/sf/outbound"), "5.0");
    ck_assert_ptr_nonnull(store_val(&r, "sync/sf/SHP-0001"));
    /* 5.1 is what was last synced: skipped; 6.0 is a delete. */
    struct conn__req *del = step_send(&r, 0);
    ck_assert_uint_eq(r.j->skipped, 1);
    ck_assert_str_eq(del->method, "DELETE");
    ck_assert_str_eq(del->url, "http://sf/services/data/v59.0/sobjects/Ship__c/Ext__c/SHP-0003");
    answer(&r, del, 404, "[{\"errorCode\":\"NOT_FOUND\",\"message\":\"gone\"}]", 0);
    ck_assert_str_eq(store_val(&r, "offset/sf/outbound"), "6.0");
    /* Half the queue drained: the stream reopens after the last queued event. Then 7.0:
     * 503, backoff, 400. */
    struct conn__req *re = step_send(&r, 0);
    ck_assert(has_header(re, "Last-Event-ID: 7.0"));
    struct conn__req *p4 = step_send(&r, 0);
    answer(&r, p4, 503, "[{\"errorCode\":\"SERVER_UNAVAILABLE\",\"message\":\"busy\"}]", 0);
    struct conn__req *none = NULL;
    uint64_t until = 0;
    ck_assert_int_eq(r.j->ops->next(r.j, 1, &none, &until), CONN__WAIT);
    ck_assert_uint_ge(until, 50);
    p4 = step_send(&r, until);
    answer(&r, p4, 400,
           "[{\"errorCode\":\"FIELD_CUSTOM_VALIDATION_EXCEPTION\",\"message\":\"no\"}]", until);
    ck_assert_str_eq(store_val(&r, "offset/sf/outbound"), "7.0");
    ck_assert_uint_eq(r.j->dead_letters, 1);
    ck_assert_ptr_nonnull(
        strstr(store_val(&r, "dl/sf/00000000000000000001"), "FIELD_CUSTOM_VALIDATION_EXCEPTION"));
    conn__req_free(re);
    r.j->inflight--;
    rig_down(&r);
}
END_TEST

/* A change matching one of the hashes of its key's held mark (inbound.c conn__in_hold: what this
 * connector's inbound job wrote, or may have written before a crash) is skipped, offset stored;
 * the key's next change, which matches none, is delivered. */
START_TEST(test_held_mark_skipped)
{
    struct rig r;
    rig_up(&r, CFG, 0);
    char hex[65], held[140];
    projection_hex(&r, "{\"shipmentId\":\"SHP-0011\",\"status\":\"created\"}", hex);
    snprintf(held, sizeof held, "%064d %s", 7, hex);
    struct conn_kv kv = {"held/sf/SHP-0011", held};
    r.st.put(r.st.ctx, &kv, 1);
    struct conn__req *stream = step_send(&r, 0);
    ck_assert(feed(&r, stream, CHANGE("8.0", "create", "SHP-0011", "created"), 64));
    struct conn__req *tok = step_send(&r, 0);
    answer(&r, tok, 200, "{\"access_token\":\"T1\",\"instance_url\":\"http://sf\"}", 0);
    struct conn__req *none = NULL;
    uint64_t until = 0;
    ck_assert_int_ne(r.j->ops->next(r.j, 0, &none, &until), CONN__SEND);
    ck_assert_uint_eq(r.j->skipped, 1);
    ck_assert_str_eq(store_val(&r, "offset/sf/outbound"), "8.0");
    ck_assert(feed(&r, stream, CHANGE("8.1", "patch", "SHP-0011", "picked_up"), 64));
    struct conn__req *up = step_send(&r, 0);
    ck_assert_str_eq(up->body, "{\"Status__c\":\"picked_up\"}");
    answer(&r, up, 200, "{\"id\":\"a1\",\"success\":true}", 0);
    ck_assert_str_eq(store_val(&r, "offset/sf/outbound"), "8.1");
    conn__req_free(stream);
    r.j->inflight--;
    rig_down(&r);
}
END_TEST

static uint64_t status_u64(struct rig *r, const char *field)
{
    json_t *st = json_object();
    r->j->ops->status(r->j, st);
    uint64_t v = (uint64_t)json_integer_value(json_object_get(st, field));
    json_decref(st);
    return v;
}

/* A record change with a newer change of its key queued behind it is not delivered: here the
 * newer one is the connector's own inbound write (what Salesforce holds), so delivering the
 * older would leave it on Salesforce. A delete is delivered although its key comes back. */
START_TEST(test_superseded_skipped)
{
    struct rig r;
    rig_up(&r, CFG, 0);
    store_sync(&r, "SHP-0021", "{\"shipmentId\":\"SHP-0021\",\"status\":\"picked_up\"}");
    struct conn__req *stream = step_send(&r, 0);
    ck_assert(feed(&r, stream,
                   CHANGE("10.0", "create", "SHP-0021", "created")
                       CHANGE("10.1", "patch", "SHP-0021", "picked_up")
                           CHANGE("10.2", "create", "SHP-0022", "created"),
                   64));
    struct conn__req *tok = step_send(&r, 0);
    answer(&r, tok, 200, "{\"access_token\":\"T1\",\"instance_url\":\"http://sf\"}", 0);
    struct conn__req *up = step_send(&r, 0);
    ck_assert_str_eq(up->url, "http://sf/services/data/v59.0/sobjects/Ship__c/Ext__c/SHP-0022");
    ck_assert_uint_eq(r.j->skipped, 2);
    ck_assert_uint_eq(status_u64(&r, "superseded"), 1);
    ck_assert_str_eq(store_val(&r, "offset/sf/outbound"), "10.1");
    answer(&r, up, 201, "{\"id\":\"a2\",\"success\":true}", 0);
    ck_assert_str_eq(store_val(&r, "offset/sf/outbound"), "10.2");
    ck_assert_uint_eq(status_u64(&r, "queued"), 0);
    /* A delete, then the key created again: both go out, in order. */
    ck_assert(feed(&r, stream,
                   CHANGE("11.0", "delete", "SHP-0023", "created")
                       CHANGE("11.1", "create", "SHP-0023", "picked_up"),
                   64));
    struct conn__req *del = step_send(&r, 0);
    ck_assert_str_eq(del->method, "DELETE");
    answer(&r, del, 204, "", 0);
    struct conn__req *again = step_send(&r, 0);
    ck_assert_str_eq(again->method, "PATCH");
    ck_assert_str_eq(again->url, "http://sf/services/data/v59.0/sobjects/Ship__c/Ext__c/SHP-0023");
    ck_assert_str_eq(again->body, "{\"Status__c\":\"picked_up\"}");
    answer(&r, again, 201, "{\"id\":\"a3\",\"success\":true}", 0);
    ck_assert_str_eq(store_val(&r, "offset/sf/outbound"), "11.1");
    ck_assert_uint_eq(status_u64(&r, "superseded"), 1);
    conn__req_free(stream);
    r.j->inflight--;
    rig_down(&r);
}
END_TEST

/* A webhook is a feed of events: every change of a key is delivered, none superseded. */
START_TEST(test_webhook_every_change)
{
    struct rig r;
    rig_up(&r, CFG, 1);
    struct conn__req *stream = step_send(&r, 0);
    ck_assert(feed(&r, stream,
                   CHANGE("12.0", "create", "SHP-0031", "created")
                       CHANGE("12.1", "patch", "SHP-0031", "picked_up"),
                   64));
    struct conn__req *first = step_send(&r, 0);
    ck_assert_ptr_nonnull(strstr(first->body, "\"12.0\""));
    answer(&r, first, 200, "{}", 0);
    struct conn__req *second = step_send(&r, 0);
    ck_assert_ptr_nonnull(strstr(second->body, "\"12.1\""));
    answer(&r, second, 200, "{}", 0);
    ck_assert_str_eq(store_val(&r, "offset/hook/outbound"), "12.1");
    ck_assert_uint_eq(r.j->skipped, 0);
    conn__req_free(stream);
    r.j->inflight--;
    rig_down(&r);
}
END_TEST

START_TEST(test_webhook_signature)
{
    struct rig r;
    rig_up(&r, CFG, 1);
    struct conn__req *stream = step_send(&r, 0);
    ck_assert(feed(&r, stream, CHANGE("9.2", "patch", "SHP-0009", "delivered"), 64));
    struct conn__req *post = step_send(&r, 0);
    ck_assert_str_eq(post->method, "POST");
    ck_assert_str_eq(post->url, "http://hook/x");
    json_t *body = json_loads(post->body, 0, NULL);
    ck_assert_str_eq(json_string_value(json_object_get(body, "id")), "9.2");
    ck_assert_str_eq(json_string_value(json_object_get(body, "op")), "patch");
    ck_assert_str_eq(json_string_value(json_object_get(json_object_get(body, "fields"), "state")),
                     "delivered");
    json_decref(body);
    uint8_t mac[32];
    char want[96] = "X-Treaty-Signature: sha256=";
    r.cc.hmac_sha256((const uint8_t *)"csecret", 7, (const uint8_t *)post->body, post->body_len,
                     mac);
    for (int i = 0; i < 32; i++)
        snprintf(want + 27 + 2 * i, 3, "%02x", mac[i]);
    ck_assert(has_header(post, want));
    ck_assert(has_header(post, "X-Treaty-Event-Id: 9.2"));
    answer(&r, post, 200, "{}", 0);
    ck_assert_str_eq(store_val(&r, "offset/hook/outbound"), "9.2");
    conn__req_free(stream);
    r.j->inflight--;
    rig_down(&r);
}
END_TEST

Suite *suite_outbound(void)
{
    Suite *s = suite_create("outbound");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_salesforce_deliveries);
    tcase_add_test(tc, test_held_mark_skipped);
    tcase_add_test(tc, test_superseded_skipped);
    tcase_add_test(tc, test_webhook_every_change);
    tcase_add_test(tc, test_webhook_signature);
    suite_add_tcase(s, tc);
    return s;
}
