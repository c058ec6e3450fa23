/* test_dynamics.c — the Dynamics 365 kind: its config section (errors name the field, defaults),
 * OData key segments (quotes doubled), and the inbound job as a state machine with explicit time
 * and synthetic answers: the client-credentials token and its refresh before expires_in, the
 * change-tracking read, idempotent writes keyed by (guid, row version), the nextLink stored only
 * once the page is settled, the deltaLink, a $deletedEntity row mapped back through the guid
 * map, a 401 (one immediate refetch, then backoff), a 429 waiting for its Retry-After, and a
 * stale link starting a new full sync. */
#include "rig.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/err.h"
#include "connectors/dynamics.h"

Suite *suite_dynamics(void);

#define CFG_HEAD                                                                                   \
    "{\"node\": {\"url\": \"http://node\", \"api_key\": {\"env\": \"TSF_KEY\"}},"                  \
    " \"state_dir\": \"/nonexistent\", \"limits\": {\"max_inflight\": 2, \"backoff_base_ms\": "    \
    "100, \"page_size\": 200},"                                                                    \
    " \"connectors\": [{\"name\": \"d\", \"kind\": \"dynamics\", \"direction\": \"inbound\","      \
    "   \"ledger_type\": \"Shipment\", \"poll_interval_ms\": 1000,"

static const char *CFG =
    CFG_HEAD "   \"object\": \"ships\", \"external_id\": \"num\","
             "   \"dynamics\": {\"org_url\": \"http://org/\", \"token_url\": \"http://login/t\","
             "     \"id_attribute\": \"shipid\", \"client_id\": {\"env\": \"TSF_ID\"},"
             "     \"client_secret\": {\"env\": \"TSF_SECRET\"}},"
             "   \"fields\": [{\"ledger\": \"shipmentId\", \"saas\": \"num\"},"
             "              {\"ledger\": \"status\", \"saas\": \"st\"}]}]}";

static void expect_cfg_error(const char *edit_from, const char *edit_to, const char *field)
{
    char doc[2048];
    const char *at = strstr(CFG, edit_from);
    ck_assert_ptr_nonnull(at);
    snprintf(doc, sizeof doc, "%.*s%s%s", (int)(at - CFG), CFG, edit_to, at + strlen(edit_from));
    setenv("TSF_KEY", "trk_k", 1), setenv("TSF_ID", "cid", 1), setenv("TSF_SECRET", "csecret", 1);
    json_t *j = json_loads(doc, 0, NULL);
    ck_assert_ptr_nonnull(j);
    struct conn_cfg *cfg = NULL;
    char err[256];
    ck_assert_int_eq(conn_cfg_parse(j, &cfg, err, sizeof err), TR_EINVAL);
    ck_assert_msg(strstr(err, field), "error \"%s\" does not name %s", err, field);
    ck_assert_ptr_null(strstr(err, "csecret"));
    json_decref(j);
}

START_TEST(test_config)
{
    expect_cfg_error("\"shipid\"", "\"ship-id\"", "connectors[0].dynamics.id_attribute");
    expect_cfg_error("\"external_id\": \"num\"", "\"external_id\": \"other\"",
                     "connectors[0].external_id");
    expect_cfg_error("{\"env\": \"TSF_SECRET\"}", "\"csecret\"",
                     "connectors[0].dynamics.client_secret");
    expect_cfg_error("\"token_url\": \"http://login/t\"", "\"token_url\": \"login\"",
                     "connectors[0].dynamics.token_url");
    expect_cfg_error("\"saas\": \"st\"", "\"saas\": \"shipid\"", "connectors[0].fields[1].saas");
    expect_cfg_error("\"object\": \"ships\"", "\"object\": \"ships(1)\"", "connectors[0].object");
    struct rig r;
    rig_up(&r, CFG, 0);
    const struct conn_dyn_cfg *d = r.cfg->connectors[0].dynamics;
    ck_assert_str_eq(d->org_url, "http://org");
    ck_assert_str_eq(d->scope, "http://org/.default");
    ck_assert_str_eq(d->api_version, "9.2");
    char *seg = conn__dyn_key_segment(&r.cfg->connectors[0], "O'Brien & co");
    ck_assert_str_eq(seg, "(num='O%27%27Brien%20%26%20co')");
    tr_free(seg);
    rig_down(&r);
}
END_TEST

static void token(struct rig *r, uint64_t now, const char *tok, int expires_in)
{
    struct conn__req *q = step_send(r, now);
    ck_assert_str_eq(q->url, "http://login/t");
    ck_assert_str_eq(q->body, "grant_type=client_credentials&client_id=cid&client_secret=csecret"
                              "&scope=http%3A%2F%2Forg%2F.default");
    char body[128];
    snprintf(body, sizeof body, "{\"access_token\":\"%s\",\"expires_in\":%d}", tok, expires_in);
    answer(r, q, 200, body, now);
}

#define ROW(guid, ver, num, st)                                                                    \
    "{\"@odata.etag\":\"W/\\\"" ver "\\\"\",\"shipid\":\"" guid "\",\"num\":\"" num                \
    "\",\"st\":\"" st "\"}"

START_TEST(test_inbound_sync)
{
    struct rig r;
    rig_up(&r, CFG, 0);
    token(&r, 0, "T1", 100); /* refreshed at 75 s (a quarter before expiry) */
    struct conn__req *q = step_send(&r, 0);
    ck_assert_str_eq(q->url, "http://org/api/data/v9.2/ships?$select=shipid,num,st");
    ck_assert(has_header(q, "Authorization: Bearer T1"));
    ck_assert(has_header(q, "Prefer: odata.track-changes, odata.maxpagesize=200"));
    answer(&r, q, 200,
           "{\"value\":[" ROW("g1", "11", "SHP-0001", "created") "," ROW(
               "g2", "12", "SHP-0002", "created") "],\"@odata.nextLink\":\"http://org/n2\"}",
           0);
    struct conn__req *w1 = step_send(&r, 0), *w2 = step_send(&r, 0);
    ck_assert_str_eq(w1->method, "PUT");
    ck_assert_str_eq(w1->url, "http://node/v1/data/Shipment/SHP-0001");
    ck_assert(has_header(w1, "Idempotency-Key: treaty-connect/d/g1/11"));
    ck_assert_str_eq(w1->body, "{\"shipmentId\":\"SHP-0001\",\"status\":\"created\"}");
    answer(&r, w1, 200, "{}", 0);
    answer(&r, w2, 404, "{}", 0);
    struct conn__req *c2 = step_send(&r, 0);
    ck_assert_str_eq(c2->method, "POST");
    ck_assert(has_header(c2, "Idempotency-Key: treaty-connect/d/g2/12/create"));
    ck_assert_ptr_null(store_val(&r, "cursor/d/inbound")); /* g2 not settled yet */
    answer(&r, c2, 201, "{}", 0);
    /* Settled: the nextLink is stored with the guid map, then read. */
    q = step_send(&r, 0);
    ck_assert_str_eq(store_val(&r, "cursor/d/inbound"), "http://org/n2");
    ck_assert_str_eq(store_val(&r, "dmap/d/g2"), "SHP-0002");
    ck_assert_ptr_nonnull(store_val(&r, "sync/d/SHP-0001"));
    ck_assert_str_eq(q->url, "http://org/n2");
    answer(&r, q, 200,
           "{\"value\":[{\"@odata.context\":\"http://org/$metadata#ships/$deletedEntity\","
           "\"id\":\"g2\",\"reason\":\"deleted\"},{\"@odata.context\":\"x/$deletedEntity\","
           "\"id\":\"g-unknown\",\"reason\":\"deleted\"}],\"@odata.deltaLink\":\"http://org/d1\"}",
           0);
    struct conn__req *del = step_send(&r, 0);
    ck_assert_str_eq(del->method, "DELETE");
    ck_assert_str_eq(del->url, "http://node/v1/data/Shipment/SHP-0002");
    ck_assert(has_header(del, "Idempotency-Key: treaty-connect/d/g2/deleted"));
    answer(&r, del, 200, "{}", 0);
    /* The page is settled (the unknown guid needed nothing): delta link stored, then a poll. */
    struct conn__req *none = NULL;
    uint64_t until = 0;
    ck_assert_int_eq(r.j->ops->next(r.j, 0, &none, &until), CONN__WAIT);
    ck_assert_uint_eq(until, 1000);
    ck_assert_str_eq(store_val(&r, "cursor/d/inbound"), "http://org/d1");
    ck_assert_str_eq(store_val(&r, "dmap/d/g2"), "(deleted)");
    ck_assert_uint_eq(r.j->skipped, 1);
    /* At 74.999 s the token still serves; at 75 s it is due: refreshed before the poll. */
    q = step_send(&r, 74999);
    ck_assert(has_header(q, "Authorization: Bearer T1"));
    answer(&r, q, 200, "{\"value\":[],\"@odata.deltaLink\":\"http://org/d1\"}", 74999);
    ck_assert_int_eq(r.j->ops->next(r.j, 74999, &none, &until), CONN__WAIT);
    token(&r, 75999, "T2", 100);
    q = step_send(&r, 75999);
    ck_assert_str_eq(q->url, "http://org/d1");
    ck_assert(has_header(q, "Authorization: Bearer T2"));
    answer(&r, q, 200, "{\"value\":[],\"@odata.deltaLink\":\"http://org/d2\"}", 75999);
    ck_assert_int_eq(r.j->ops->next(r.j, 75999, &none, &until), CONN__WAIT);
    ck_assert_str_eq(store_val(&r, "cursor/d/inbound"), "http://org/d2");
    rig_down(&r);
}
END_TEST

/* A row deleted and a new one with its alternate key on one page: the ledger writes of that key
 * go in page order, while other rows go meanwhile. */
START_TEST(test_inbound_same_key_in_order)
{
    struct rig r;
    rig_up(&r, CFG, 0);
    /* The re-created row has the content last synced for the key: still written after the
     * delete (the stored hash is stale once the delete is written). */
    json_t *rec = json_loads("{\"shipmentId\":\"SHP-0005\",\"status\":\"created\"}", 0, NULL);
    char *proj = conn_map_projection(r.j->cfg, rec), hex[65];
    conn__hash_hex(r.rt, proj, hex);
    free(proj);
    json_decref(rec);
    struct conn_kv kv[2] = {{"dmap/d/gOld", "SHP-0005"}, {"sync/d/SHP-0005", hex}};
    r.st.put(r.st.ctx, kv, 2);
    token(&r, 0, "T1", 3600);
    answer(&r, step_send(&r, 0), 200,
           "{\"value\":[{\"@odata.context\":\"x/$deletedEntity\",\"id\":\"gOld\",\"reason\":"
           "\"deleted\"}," ROW("gNew", "31", "SHP-0005", "created") "," ROW(
               "g6", "32", "SHP-0006", "created") "],\"@odata.deltaLink\":\"http://org/d\"}",
           0);
    struct conn__req *del = step_send(&r, 0), *w6 = step_send(&r, 0);
    ck_assert_str_eq(del->method, "DELETE");
    ck_assert_str_eq(del->url, "http://node/v1/data/Shipment/SHP-0005");
    ck_assert_str_eq(w6->url, "http://node/v1/data/Shipment/SHP-0006");
    answer(&r, w6, 200, "{}", 0);
    struct conn__req *none = NULL;
    uint64_t until = 0;
    ck_assert_int_eq(r.j->ops->next(r.j, 0, &none, &until), CONN__IDLE); /* SHP-0005 waits */
    answer(&r, del, 200, "{}", 0);
    struct conn__req *w5 = step_send(&r, 0);
    ck_assert_str_eq(w5->method, "PUT");
    ck_assert_str_eq(w5->url, "http://node/v1/data/Shipment/SHP-0005");
    answer(&r, w5, 200, "{}", 0);
    ck_assert_int_eq(r.j->ops->next(r.j, 0, &none, &until), CONN__WAIT);
    ck_assert_str_eq(store_val(&r, "dmap/d/gOld"), "(deleted)");
    ck_assert_str_eq(store_val(&r, "dmap/d/gNew"), "SHP-0005");
    ck_assert_str_ne(store_val(&r, "sync/d/SHP-0005"), "(deleted)");
    rig_down(&r);
}
END_TEST

START_TEST(test_inbound_faults)
{
    struct rig r;
    rig_up(&r, CFG, 0);
    token(&r, 0, "T1", 3600);
    /* 401: at once a new token and the same read; a second 401 in a row backs off. */
    answer(&r, step_send(&r, 0), 401, "{\"error\":{\"code\":\"0x80072560\",\"message\":\"x\"}}", 0);
    token(&r, 0, "T2", 3600);
    answer(&r, step_send(&r, 0), 401, "{}", 0);
    struct conn__req *none = NULL;
    uint64_t until = 0;
    ck_assert_int_eq(r.j->ops->next(r.j, 0, &none, &until), CONN__WAIT);
    ck_assert_uint_ge(until, 50);
    token(&r, until, "T3", 3600);
    /* 429 with Retry-After: 7 waits 7 s. */
    struct conn__req *q = step_send(&r, until);
    uint64_t t = until;
    q->retry_after_ms = 7000;
    answer(&r, q, 429, "{\"error\":{\"code\":\"0x80072322\",\"message\":\"limit\"}}", t);
    ck_assert_int_eq(r.j->ops->next(r.j, t, &none, &until), CONN__WAIT);
    ck_assert_uint_eq(until, t + 7000);
    ck_assert_ptr_nonnull(strstr(r.j->last_error, "429 0x80072322: limit"));
    /* A link the service no longer knows starts a new full sync. */
    answer(&r, step_send(&r, until), 200, "{\"value\":[],\"@odata.nextLink\":\"http://org/n9\"}",
           until);
    q = step_send(&r, until);
    ck_assert_str_eq(q->url, "http://org/n9");
    answer(&r, q, 410, "{}", until);
    ck_assert_int_eq(r.j->ops->next(r.j, until, &none, &t), CONN__WAIT);
    q = step_send(&r, t);
    ck_assert_str_eq(q->url, "http://org/api/data/v9.2/ships?$select=shipid,num,st");
    answer(&r, q, 200, "{\"value\":[{\"num\":\"SHP-1\"}],\"@odata.deltaLink\":\"http://org/d\"}",
           t);
    /* A row without its primary id is a dead letter; the page still settles. */
    ck_assert_int_eq(r.j->ops->next(r.j, t, &none, &until), CONN__WAIT);
    ck_assert_uint_eq(r.j->dead_letters, 1);
    ck_assert_str_eq(store_val(&r, "cursor/d/inbound"), "http://org/d");
    /* A link outside org_url is refused: the token is never sent there. */
    uint64_t t2 = until;
    q = step_send(&r, t2);
    ck_assert_str_eq(q->url, "http://org/d");
    answer(&r, q, 200, "{\"value\":[],\"@odata.deltaLink\":\"http://evil/d\"}", t2);
    ck_assert_ptr_nonnull(strstr(r.j->last_error, "links into org_url"));
    ck_assert_int_eq(r.j->ops->next(r.j, t2, &none, &until), CONN__WAIT);
    ck_assert_str_eq(store_val(&r, "cursor/d/inbound"), "http://org/d");
    q = step_send(&r, until);
    ck_assert_str_eq(q->url, "http://org/d");
    answer(&r, q, 200, "{\"value\":[],\"@odata.deltaLink\":\"HTTP://ORG/d2\"}", until);
    ck_assert_int_eq(r.j->ops->next(r.j, until, &none, &until), CONN__WAIT);
    ck_assert_str_eq(store_val(&r, "cursor/d/inbound"), "HTTP://ORG/d2");
    rig_down(&r);
}
END_TEST

#define EVENT(id, op, key, status)                                                                 \
    "id: " id "\nevent: change\ndata: {\"type\":\"Shipment\",\"key\":\"" key "\",\"op\":\"" op     \
    "\",\"org\":\"acme\",\"record\":{\"shipmentId\":\"" key "\",\"status\":\"" status "\"}}\n\n"

/* The delivery target: upsert by alternate key (quotes doubled), a 401 answered by a new token
 * and the same PATCH, the row's id remembered for deletes, a delete already gone, a 400 with a
 * Web API error dead-lettered with its code and message, a 429 waiting for Retry-After. */
START_TEST(test_outbound_target)
{
    char cfg[2048];
    const char *at = strstr(CFG, "\"inbound\"");
    snprintf(cfg, sizeof cfg, "%.*s\"outbound\"%s", (int)(at - CFG), CFG, at + 9);
    struct rig r;
    rig_up(&r, cfg, 0);
    struct conn__req *stream = step_send(&r, 0);
    const char *events =
        EVENT("5.0", "create", "O'Brien", "created") EVENT("6.0", "delete", "SHP-2", "created")
            EVENT("7.0", "patch", "SHP-3", "lost") EVENT("8.0", "patch", "SHP-4", "lost");
    ck_assert(r.j->ops->data(r.j, stream, events, strlen(events)));
    token(&r, 0, "T1", 3600);
    struct conn__req *up = step_send(&r, 0);
    ck_assert_str_eq(up->method, "PATCH");
    ck_assert_str_eq(up->url, "http://org/api/data/v9.2/ships(num='O%27%27Brien')");
    ck_assert_str_eq(up->body, "{\"st\":\"created\"}");
    ck_assert(has_header(up, "Prefer: return=representation"));
    answer(&r, up, 401, "{}", 0);
    token(&r, 0, "T2", 3600);
    up = step_send(&r, 0);
    ck_assert(has_header(up, "Authorization: Bearer T2"));
    ck_assert_ptr_null(store_val(&r, "offset/d/outbound"));
    answer(&r, up, 201, "{\"shipid\":\"g9\",\"num\":\"O'Brien\",\"st\":\"created\"}", 0);
    ck_assert_str_eq(store_val(&r, "offset/d/outbound"), "5.0");
    ck_assert_str_eq(store_val(&r, "dmap/d/g9"), "O'Brien");
    struct conn__req *del = step_send(&r, 0);
    ck_assert_str_eq(del->method, "DELETE");
    ck_assert_str_eq(del->url, "http://org/api/data/v9.2/ships(num='SHP-2')");
    answer(&r, del, 404, "{\"error\":{\"code\":\"0x80040217\",\"message\":\"gone\"}}", 0);
    ck_assert_str_eq(store_val(&r, "offset/d/outbound"), "6.0");
    up = step_send(&r, 0);
    answer(&r, up, 400, "{\"error\":{\"code\":\"0x80040265\",\"message\":\"bad value\"}}", 0);
    ck_assert_str_eq(store_val(&r, "offset/d/outbound"), "7.0");
    ck_assert_uint_eq(r.j->dead_letters, 1);
    ck_assert_ptr_nonnull(
        strstr(store_val(&r, "dl/d/00000000000000000001"), "HTTP 400 0x80040265: bad value"));
    up = step_send(&r, 0);
    up->retry_after_ms = 5000;
    answer(&r, up, 429, "{\"error\":{\"code\":\"0x80072322\",\"message\":\"limit\"}}", 0);
    struct conn__req *none = NULL;
    uint64_t until = 0;
    ck_assert_int_eq(r.j->ops->next(r.j, 0, &none, &until), CONN__WAIT);
    ck_assert_uint_eq(until, 5000);
    ck_assert_str_eq(store_val(&r, "offset/d/outbound"), "7.0");
    answer(&r, stream, 0, NULL, 0);
    rig_down(&r);
}
END_TEST

Suite *suite_dynamics(void)
{
    Suite *s = suite_create("dynamics");
    TCase *tc = tcase_create("dynamics");
    tcase_add_test(tc, test_config);
    tcase_add_test(tc, test_inbound_sync);
    tcase_add_test(tc, test_inbound_same_key_in_order);
    tcase_add_test(tc, test_inbound_faults);
    tcase_add_test(tc, test_outbound_target);
    suite_add_tcase(s, tc);
    return s;
}
