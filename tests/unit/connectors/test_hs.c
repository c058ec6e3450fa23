/* test_hs.c — the HubSpot kind without a socket: its config section at the edges of every limit,
 * the inbound job driven step by step (search body, idempotent writes, the cursor stored once a
 * page is settled, keyset paging, a run of equal stamps swept by id, 429 DAILY and 401
 * answers) and the delivery target (batch upsert, batch read then archive, verdicts). */
#include "rig.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/err.h"
#include "connectors/hs.h"

Suite *suite_hs(void);

#define T0 1767225600000LL /* 2026-01-01T00:00:00Z in epoch ms */

static char *cfg_json(const char *direction, const char *hubspot_extra)
{
    char *s = tr_malloc(4096);
    snprintf(
        s, 4096,
        "{\"node\": {\"url\": \"http://node\", \"api_key\": {\"env\": \"TSF_KEY\"}},"
        " \"state_dir\": \"/nonexistent\", \"limits\": {\"max_inflight\": 4,"
        " \"backoff_base_ms\": 100, \"backoff_max_ms\": 1000},"
        " \"connectors\": [{\"name\": \"hs\", \"kind\": \"hubspot\", \"direction\": \"%s\","
        "   \"ledger_type\": \"Shipment\", \"object\": \"p_ship\", \"external_id\": \"sid\","
        "   \"poll_interval_ms\": 1000,"
        "   \"hubspot\": {\"base_url\": \"http://hs/\", \"token\": {\"env\": \"TSF_SECRET\"}%s},"
        "   \"fields\": [{\"ledger\": \"shipmentId\", \"saas\": \"sid\"},"
        "              {\"ledger\": \"status\", \"saas\": \"status\"}]}]}",
        direction, hubspot_extra);
    return s;
}

static int parse(const char *extra, char *err, size_t errlen)
{
    char *s = cfg_json("both", extra);
    json_t *doc = json_loads(s, 0, NULL);
    struct conn_cfg *cfg = NULL;
    setenv("TSF_KEY", "trk_k", 1);
    setenv("TSF_SECRET", "pat-secret-value", 1);
    int rc = conn_cfg_parse(doc, &cfg, err, errlen);
    conn_cfg_destroy(cfg);
    json_decref(doc);
    tr_free(s);
    return rc;
}

static void expect_bad(const char *extra, const char *field)
{
    char err[256] = "";
    ck_assert_int_eq(parse(extra, err, sizeof err), TR_EINVAL);
    ck_assert_msg(strstr(err, field) != NULL, "%s: %s", field, err);
    ck_assert_ptr_null(strstr(err, "pat-secret-value"));
}

START_TEST(test_config_edges)
{
    char err[256];
    ck_assert_int_eq(parse(", \"page_size\": 1, \"batch_size\": 1", err, sizeof err), 0);
    ck_assert_int_eq(parse(", \"page_size\": 100, \"batch_size\": 100", err, sizeof err), 0);
    expect_bad(", \"page_size\": 0", "connectors[0].hubspot.page_size");
    expect_bad(", \"page_size\": 101", "connectors[0].hubspot.page_size");
    expect_bad(", \"batch_size\": 101", "connectors[0].hubspot.batch_size");
    expect_bad(", \"search_cap\": 100", "connectors[0].hubspot.search_cap: unknown field");
    expect_bad(", \"daily_wait_max_ms\": 999", "connectors[0].hubspot.daily_wait_max_ms");
    expect_bad(", \"archived\": 1", "connectors[0].hubspot.archived");
    expect_bad(", \"modified_property\": \"a b\"", "connectors[0].hubspot.modified_property");
    expect_bad(", \"colour\": 1", "connectors[0].hubspot.colour");
    expect_bad(", \"base_url\": \"ftp://x\"", "connectors[0].hubspot.base_url");
}
END_TEST

START_TEST(test_config_defaults_and_secret)
{
    struct rig r;
    char *s = cfg_json("inbound", "");
    rig_up(&r, s, 0);
    const struct conn_hs_cfg *h = r.cfg->connectors[0].hubspot;
    ck_assert_str_eq(h->base_url, "http://hs"); /* the trailing slash dropped */
    ck_assert_str_eq(h->modified_property, "hs_lastmodifieddate");
    ck_assert_uint_eq(h->page_size, 100);
    ck_assert_uint_eq(h->batch_size, 100);
    ck_assert(h->archived);
    rig_down(&r);
    tr_free(s);
    /* A token written into the config itself is refused without being echoed. */
    char *bad = cfg_json("inbound", "");
    json_t *doc = json_loads(bad, 0, NULL);
    ck_assert_ptr_nonnull(doc);
    json_object_set_new(
        json_object_get(json_array_get(json_object_get(doc, "connectors"), 0), "hubspot"), "token",
        json_string("pat-secret-value"));
    struct conn_cfg *cfg = NULL;
    char err[256];
    ck_assert_int_eq(conn_cfg_parse(doc, &cfg, err, sizeof err), TR_EINVAL);
    ck_assert_ptr_nonnull(strstr(err, "connectors[0].hubspot.token"));
    ck_assert_ptr_null(strstr(err, "pat-secret-value"));
    json_decref(doc);
    tr_free(bad);
}
END_TEST

/* A search answer of `n` results with stamps T0 + ms + i * step, ids 100 + first + i. */
static char *results(size_t first, size_t n, int64_t ms, int64_t step, const char *next)
{
    size_t cap = 200 * n + 256, off = 0;
    char *s = tr_malloc(cap);
    off += (size_t)snprintf(s + off, cap - off, "{\"results\":[");
    for (size_t i = 0; i < n; i++)
        off += (size_t)snprintf(s + off, cap - off,
                                "%s{\"id\":\"%zu\",\"properties\":{\"hs_lastmodifieddate\":"
                                "\"%lld\",\"sid\":\"SHP-%04zu\",\"status\":\"created\"}}",
                                i ? "," : "", 100 + first + i,
                                (long long)(T0 + ms + (int64_t)i * step), first + i);
    snprintf(s + off, cap - off, "]%s%s%s}", next ? ",\"paging\":{\"next\":{\"after\":\"" : "",
             next ? next : "", next ? "\"}}" : "");
    return s;
}

/* Answers every write the job has to send with `status` until it asks for something else. */
static struct conn__req *settle(struct rig *r, long status, int *writes)
{
    for (int guard = 0; guard < 1000; guard++) {
        struct conn__req *q = step_send(r, 0);
        if (strncmp(q->url, "http://node/", 12) != 0)
            return q;
        ++*writes;
        answer(r, q, status, "{}", 0);
    }
    ck_abort_msg("the page never settled");
    return NULL;
}

START_TEST(test_inbound_search_writes_cursor_keyset)
{
    struct rig r;
    char *s = cfg_json("inbound", ", \"page_size\": 3, \"archived\": false");
    rig_up(&r, s, 0);
    struct conn__req *q = step_send(&r, 0);
    ck_assert_str_eq(q->method, "POST");
    ck_assert_str_eq(q->url, "http://hs/crm/v3/objects/p_ship/search");
    ck_assert(has_header(q, "Authorization: Bearer csecret"));
    json_t *b = json_loads(q->body, 0, NULL);
    ck_assert_int_eq(json_integer_value(json_object_get(b, "limit")), 3);
    ck_assert_ptr_null(json_object_get(b, "filterGroups"));
    ck_assert_str_eq(json_string_value(json_object_get(
                         json_array_get(json_object_get(b, "sorts"), 0), "direction")),
                     "ASCENDING");
    json_decref(b);
    char *page = results(0, 3, 5, 1, "3");
    answer(&r, q, 200, page, 0);
    tr_free(page);
    struct conn__req *w = step_send(&r, 0);
    ck_assert_str_eq(w->url, "http://node/v1/data/Shipment/SHP-0000");
    ck_assert(has_header(w, "Idempotency-Key: treaty-connect/hs/100/1767225600005"));
    ck_assert_ptr_null(store_val(&r, "cursor/hs/inbound"));
    answer(&r, w, 200, "{}", 0);
    int writes = 1;
    q = settle(&r, 200, &writes);
    ck_assert_int_eq(writes, 3);
    ck_assert_str_eq(store_val(&r, "cursor/hs/inbound"), "1767225600007|102");
    /* Keyset paging: the next query starts at the last stamp again, without `after`. */
    b = json_loads(q->body, 0, NULL);
    json_t *f = json_array_get(
        json_object_get(json_array_get(json_object_get(b, "filterGroups"), 0), "filters"), 0);
    ck_assert_str_eq(json_string_value(json_object_get(f, "operator")), "GTE");
    ck_assert_str_eq(json_string_value(json_object_get(f, "value")), "1767225600007");
    ck_assert_ptr_null(json_object_get(b, "after"));
    json_decref(b);
    /* The record of the last stamp comes again: settled without a write. */
    page = results(2, 1, 7, 0, NULL);
    answer(&r, q, 200, page, 0);
    tr_free(page);
    struct conn__req *none = NULL;
    uint64_t until = 0;
    ck_assert_int_eq(r.j->ops->next(r.j, 0, &none, &until), CONN__WAIT);
    ck_assert_uint_eq(until, 1000); /* caught up: the poll interval */
    ck_assert_str_eq(r.j->state, "idle");
    ck_assert_uint_eq(r.j->records, 3);
    rig_down(&r);
    tr_free(s);
}
END_TEST

/* Filter i of a search body: "property op value". */
static void expect_filter(const json_t *b, size_t i, const char *property, const char *op,
                          const char *value)
{
    json_t *f = json_array_get(
        json_object_get(json_array_get(json_object_get(b, "filterGroups"), 0), "filters"), i);
    ck_assert_str_eq(json_string_value(json_object_get(f, "propertyName")), property);
    ck_assert_str_eq(json_string_value(json_object_get(f, "operator")), op);
    ck_assert_str_eq(json_string_value(json_object_get(f, "value")), value);
}

static const char *sort_property(const json_t *b)
{
    return json_string_value(
        json_object_get(json_array_get(json_object_get(b, "sorts"), 0), "propertyName"));
}

START_TEST(test_inbound_tie_run_by_id)
{
    struct rig r;
    char *s = cfg_json("inbound", ", \"page_size\": 50, \"archived\": false");
    rig_up(&r, s, 0);
    int writes = 0;
    struct conn__req *q = step_send(&r, 0);
    char *page = results(0, 50, 7, 0, "50"); /* a whole page of one stamp, more behind it */
    answer(&r, q, 200, page, 0);
    tr_free(page);
    q = settle(&r, 200, &writes);
    ck_assert_int_eq(writes, 50);
    /* The run is swept by id, from its start: its order in a stamp-sorted answer is unknown. */
    json_t *b = json_loads(q->body, 0, NULL);
    ck_assert_str_eq(sort_property(b), "hs_object_id");
    expect_filter(b, 0, "hs_lastmodifieddate", "EQ", "1767225600007");
    expect_filter(b, 1, "hs_object_id", "GT", "0");
    ck_assert_ptr_null(json_object_get(b, "after"));
    json_decref(b);
    page = results(0, 50, 7, 0, "50"); /* the 50 already written: no write */
    answer(&r, q, 200, page, 0);
    tr_free(page);
    q = settle(&r, 200, &writes);
    ck_assert_int_eq(writes, 50);
    b = json_loads(q->body, 0, NULL);
    expect_filter(b, 1, "hs_object_id", "GT", "149");
    ck_assert_ptr_null(json_object_get(b, "after"));
    json_decref(b);
    page = results(50, 50, 7, 0, "100");
    answer(&r, q, 200, page, 0);
    tr_free(page);
    q = settle(&r, 200, &writes);
    ck_assert_int_eq(writes, 100);
    ck_assert_str_eq(store_val(&r, "cursor/hs/inbound"), "1767225600007|199");
    page = results(100, 20, 7, 0, NULL); /* the run's end */
    answer(&r, q, 200, page, 0);
    tr_free(page);
    q = settle(&r, 200, &writes);
    ck_assert_int_eq(writes, 120);
    ck_assert_str_eq(store_val(&r, "cursor/hs/inbound"), "1767225600007|219");
    /* Past the run: stamp GT its stamp, sorted by stamp again. */
    b = json_loads(q->body, 0, NULL);
    ck_assert_str_eq(sort_property(b), "hs_lastmodifieddate");
    expect_filter(b, 0, "hs_lastmodifieddate", "GT", "1767225600007");
    ck_assert_uint_eq(json_array_size(json_object_get(
                          json_array_get(json_object_get(b, "filterGroups"), 0), "filters")),
                      1);
    json_decref(b);
    answer(&r, q, 200, "{\"results\":[]}", 0);
    struct conn__req *none = NULL;
    uint64_t until = 0;
    ck_assert_int_eq(r.j->ops->next(r.j, 0, &none, &until), CONN__WAIT);
    ck_assert_str_eq(r.j->state, "idle");
    /* The next poll does not sweep the run again. */
    q = step_send(&r, until);
    b = json_loads(q->body, 0, NULL);
    expect_filter(b, 0, "hs_lastmodifieddate", "GT", "1767225600007");
    json_decref(b);
    answer(&r, q, 200, "{\"results\":[]}", until);
    ck_assert_uint_eq(r.j->records, 120);
    ck_assert_uint_eq(r.j->dead_letters, 0);
    rig_down(&r);
    tr_free(s);
}
END_TEST

START_TEST(test_inbound_daily_limit_and_401)
{
    struct rig r;
    char *s = cfg_json("inbound", ", \"daily_wait_max_ms\": 5000");
    rig_up(&r, s, 0);
    struct conn__req *q = step_send(&r, 0), *none = NULL;
    answer(&r, q, 429,
           "{\"status\":\"error\",\"message\":\"You have reached your daily limit.\","
           "\"errorType\":\"RATE_LIMIT\",\"policyName\":\"DAILY\"}",
           0);
    uint64_t until = 0;
    ck_assert_int_eq(r.j->ops->next(r.j, 0, &none, &until), CONN__WAIT);
    ck_assert_uint_gt(until, 0);
    ck_assert_uint_le(until, 5000);
    ck_assert_ptr_nonnull(strstr(r.j->last_error, "429 DAILY"));
    q = step_send(&r, until);
    answer(&r, q, 401,
           "{\"status\":\"error\",\"message\":\"Authentication credentials not found.\","
           "\"category\":\"INVALID_AUTHENTICATION\"}",
           until);
    ck_assert_str_eq(r.j->state, "auth_failed");
    ck_assert_ptr_nonnull(strstr(r.j->last_error, "401 INVALID_AUTHENTICATION"));
    ck_assert_ptr_null(strstr(r.j->last_error, "csecret"));
    ck_assert_int_eq(r.j->ops->next(r.j, until, &none, &until), CONN__WAIT);
    rig_down(&r);
    tr_free(s);
}
END_TEST

static json_t *change(const char *key, const char *op)
{
    return strcmp(op, "delete") == 0 ? json_pack("{s:s,s:s,s:n}", "key", key, "op", op, "record")
                                     : json_pack("{s:s,s:s,s:{s:s,s:s}}", "key", key, "op", op,
                                                 "record", "shipmentId", key, "status", "created");
}

START_TEST(test_target_batches_and_verdicts)
{
    struct rig r;
    char *s = cfg_json("outbound", ", \"batch_size\": 2");
    rig_up(&r, s, 0);
    struct conn__target *t = NULL;
    ck_assert_int_eq(conn__hs_target_create(r.j, &t), 0);
    ck_assert_uint_eq(t->max_batch, 2);
    json_t *c[3] = {change("SHP-0001", "create"), change("SHP-0002", "patch"),
                    change("SHP-0003", "delete")};
    struct conn__change chs[3] = {
        {"1.0", c[0], "SHP-0001"}, {"2.0", c[1], "SHP-0002"}, {"3.0", c[2], "SHP-0003"}};
    size_t taken = 0;
    char err[256], reason[300];
    struct conn__req *q = t->ops->start(t, chs, 3, &taken, err, sizeof err), *next = NULL;
    ck_assert_uint_eq(taken, 2); /* the delete is not part of an upsert batch */
    ck_assert_str_eq(q->url, "http://hs/crm/v3/objects/p_ship/batch/upsert");
    ck_assert_str_eq(q->body, "{\"inputs\":[{\"id\":\"SHP-0001\",\"idProperty\":\"sid\","
                              "\"properties\":{\"status\":\"created\"}},{\"id\":\"SHP-0002\","
                              "\"idProperty\":\"sid\",\"properties\":{\"status\":\"created\"}}]}");
    q->status = 400;
    q->resp = tr_strdup("{\"status\":\"error\",\"message\":\"Property values were not valid\","
                        "\"category\":\"VALIDATION_ERROR\"}");
    ck_assert_int_eq(t->ops->answer(t, q, 0, &next, reason, sizeof reason), CONN__V_DEAD);
    ck_assert_ptr_nonnull(strstr(reason, "VALIDATION_ERROR"));
    conn__req_free(q);
    /* A 207 naming a failed input: not done (the batch goes again one change at a time). */
    q = t->ops->start(t, chs, 2, &taken, err, sizeof err);
    q->status = 207;
    q->resp = tr_strdup("{\"status\":\"COMPLETE\",\"results\":[],\"numErrors\":1,\"errors\":"
                        "[{\"category\":\"VALIDATION_ERROR\",\"message\":\"bad status\"}]}");
    ck_assert_int_eq(t->ops->answer(t, q, 0, &next, reason, sizeof reason), CONN__V_DEAD);
    ck_assert_ptr_nonnull(strstr(reason, "207 VALIDATION_ERROR: bad status"));
    conn__req_free(q);
    q = t->ops->start(t, chs, 2, &taken, err, sizeof err);
    q->status = 200;
    q->resp = tr_strdup("{\"status\":\"COMPLETE\",\"results\":[]}");
    ck_assert_int_eq(t->ops->answer(t, q, 0, &next, reason, sizeof reason), CONN__V_DONE);
    conn__req_free(q);
    /* A DAILY limit holds deliveries in prepare. */
    q = t->ops->start(t, chs, 1, &taken, err, sizeof err);
    q->status = 429;
    q->resp = tr_strdup("{\"status\":\"error\",\"errorType\":\"RATE_LIMIT\","
                        "\"policyName\":\"DAILY\"}");
    ck_assert_int_eq(t->ops->answer(t, q, 10, &next, reason, sizeof reason), CONN__V_LIMITED);
    conn__req_free(q);
    uint64_t wait = 0;
    ck_assert_ptr_null(t->ops->prepare(t, 10, &wait));
    ck_assert_uint_gt(wait, 10);
    ck_assert_uint_le(wait, 10 + 86400000);
    /* Deletes: batch read by idProperty, then archive the ids found. */
    q = t->ops->start(t, chs + 2, 1, &taken, err, sizeof err);
    ck_assert_str_eq(q->url, "http://hs/crm/v3/objects/p_ship/batch/read");
    ck_assert_ptr_nonnull(strstr(q->body, "\"idProperty\":\"sid\""));
    q->status = 207;
    q->resp = tr_strdup("{\"results\":[{\"id\":\"555\",\"properties\":{}}],\"numErrors\":1}");
    ck_assert_int_eq(t->ops->answer(t, q, 20, &next, reason, sizeof reason), CONN__V_NEXT);
    conn__req_free(q);
    ck_assert_str_eq(next->url, "http://hs/crm/v3/objects/p_ship/batch/archive");
    ck_assert_str_eq(next->body, "{\"inputs\":[{\"id\":\"555\"}]}");
    next->status = 204;
    struct conn__req *none = NULL;
    ck_assert_int_eq(t->ops->answer(t, next, 30, &none, reason, sizeof reason), CONN__V_DONE);
    conn__req_free(next);
    /* Nothing found: already archived. A 401 holds deliveries. */
    q = t->ops->start(t, chs + 2, 1, &taken, err, sizeof err);
    q->status = 207;
    q->resp = tr_strdup("{\"results\":[],\"numErrors\":1}");
    ck_assert_int_eq(t->ops->answer(t, q, 40, &none, reason, sizeof reason), CONN__V_DONE);
    conn__req_free(q);
    q = t->ops->start(t, chs, 1, &taken, err, sizeof err);
    q->status = 401;
    ck_assert_int_eq(t->ops->answer(t, q, 50, &none, reason, sizeof reason), CONN__V_REAUTH);
    conn__req_free(q);
    wait = 0;
    ck_assert_ptr_null(t->ops->prepare(t, 50, &wait));
    ck_assert_uint_gt(wait, 50);
    t->ops->destroy(t);
    for (int i = 0; i < 3; i++)
        json_decref(c[i]);
    rig_down(&r);
    tr_free(s);
}
END_TEST

Suite *suite_hs(void)
{
    Suite *s = suite_create("hs");
    TCase *tc = tcase_create("hs");
    tcase_add_test(tc, test_config_edges);
    tcase_add_test(tc, test_config_defaults_and_secret);
    tcase_add_test(tc, test_inbound_search_writes_cursor_keyset);
    tcase_add_test(tc, test_inbound_tie_run_by_id);
    tcase_add_test(tc, test_inbound_daily_limit_and_401);
    tcase_add_test(tc, test_target_batches_and_verdicts);
    suite_add_tcase(s, tc);
    return s;
}
