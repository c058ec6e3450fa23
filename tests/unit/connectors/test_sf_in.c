/* test_sf_in.c — the Salesforce inbound job as a state machine, driven step by step with explicit
 * time and synthetic answers (no socket is opened): token, SOQL query, one idempotent write per
 * record (PUT, then POST on 404), a 422 dead-lettered, the cursor stored only once the page is
 * settled, nextRecordsUrl followed, a 401 refetching the token, a 403 REQUEST_LIMIT_EXCEEDED
 * waiting for its Retry-After, and a record already in sync skipped without a write. */
#include "connectors/conn_int.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/err.h"

Suite *suite_sf_in(void);

#define KV_MAX 64

struct fake_store {
    char *k[KV_MAX], *v[KV_MAX];
    int n, puts;
};

static int fs_find(struct fake_store *s, const char *key)
{
    for (int i = 0; i < s->n; i++)
        if (strcmp(s->k[i], key) == 0)
            return i;
    return -1;
}

static int fs_get(void *ctx, const char *key, char **val)
{
    int i = fs_find(ctx, key);
    if (i < 0)
        return TR_ENOTFOUND;
    *val = tr_strdup(((struct fake_store *)ctx)->v[i]);
    return 0;
}

static int fs_put(void *ctx, const struct conn_kv *kvs, size_t n)
{
    struct fake_store *s = ctx;
    s->puts++;
    for (size_t j = 0; j < n; j++) {
        int i = fs_find(s, kvs[j].key);
        if (i < 0) {
            ck_assert_int_lt(s->n, KV_MAX);
            i = s->n++;
            s->k[i] = strdup(kvs[j].key);
            s->v[i] = NULL;
        }
        free(s->v[i]);
        s->v[i] = strdup(kvs[j].val ? kvs[j].val : "(deleted)");
    }
    return 0;
}

static int fs_scan(void *ctx, const char *prefix, size_t limit,
                   int (*fn)(void *arg, const char *key, const char *val), void *arg)
{
    struct fake_store *s = ctx;
    for (int i = 0; i < s->n && limit > 0; i++)
        if (strncmp(s->k[i], prefix, strlen(prefix)) == 0)
            fn(arg, s->k[i], s->v[i]), limit--;
    return 0;
}

static void fake_hash(const uint8_t *msg, size_t len, uint8_t out[32])
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < len; i++)
        h = (h ^ msg[i]) * 1099511628211ULL;
    for (int i = 0; i < 32; i++)
        out[i] = (uint8_t)(h >> (8 * (i % 8))) ^ (uint8_t)i;
}

static void fake_hmac(const uint8_t *key, size_t keylen, const uint8_t *msg, size_t len,
                      uint8_t out[32])
{
    (void)key, (void)keylen;
    fake_hash(msg, len, out);
}

static uint64_t fake_random(void)
{
    return 0; /* the shortest jittered delay: half the nominal one */
}

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

struct rig {
    uv_loop_t loop;
    struct conn_cfg *cfg;
    struct fake_store fs;
    struct conn_store st;
    struct conn_crypto cc;
    struct conn_runner *rt;
    struct conn__job *j;
};

static void rig_up(struct rig *r)
{
    memset(r, 0, sizeof *r);
    setenv("TSF_KEY", "trk_k", 1);
    setenv("TSF_ID", "cid", 1);
    setenv("TSF_SECRET", "csecret", 1);
    json_t *doc = json_loads(CFG, 0, NULL);
    char err[256];
    ck_assert_int_eq(conn_cfg_parse(doc, &r->cfg, err, sizeof err), 0);
    json_decref(doc);
    r->st = (struct conn_store){&r->fs, fs_get, fs_put, fs_scan};
    r->cc = (struct conn_crypto){fake_hmac, fake_hash, fake_random};
    uv_loop_init(&r->loop);
    ck_assert_int_eq(conn_runner_create(&r->loop, r->cfg, &r->st, &r->cc, &r->rt), 0);
    r->j = r->rt->jobs[0];
}

static void rig_down(struct rig *r)
{
    conn_runner_stop(r->rt);
    uv_run(&r->loop, UV_RUN_DEFAULT);
    conn_runner_destroy(r->rt);
    uv_loop_close(&r->loop);
    conn_cfg_destroy(r->cfg);
    for (int i = 0; i < r->fs.n; i++)
        free(r->fs.k[i]), free(r->fs.v[i]);
}

static struct conn__req *step_send(struct rig *r, uint64_t now)
{
    struct conn__req *req = NULL;
    uint64_t until = 0;
    enum conn__step s = r->j->ops->next(r->j, now, &req, &until);
    ck_assert_msg(s == CONN__SEND, "expected a request, got step %d", (int)s);
    r->j->inflight++;
    return req;
}

static void answer(struct rig *r, struct conn__req *req, long status, const char *body,
                   uint64_t now)
{
    req->status = status;
    req->resp = body ? tr_strdup(body) : NULL;
    req->resp_len = body ? strlen(body) : 0;
    r->j->inflight--;
    r->j->ops->handle(r->j, req, now);
    conn__req_free(req);
}

static bool has_header(const struct conn__req *req, const char *h)
{
    for (size_t i = 0; i < req->nhdr; i++)
        if (strcmp(req->hdr[i], h) == 0)
            return true;
    return false;
}

static const char *store_val(struct rig *r, const char *key)
{
    int i = fs_find(&r->fs, key);
    return i < 0 ? NULL : r->fs.v[i];
}

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
    rig_up(&r);
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

Suite *suite_sf_in(void)
{
    Suite *s = suite_create("sf_in");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_page_writes_and_cursor);
    suite_add_tcase(s, tc);
    return s;
}
