/* rig.c — a connector job on a runner whose edge never runs: an in-memory store, fake hashes,
 * and helpers to take a job's next request and hand it an answer at an explicit time. Shared by
 * the job suites (test_sf_in.c, test_outbound.c). */
#include "rig.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/err.h"

int fs_find(struct fake_store *s, const char *key)
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
    if (s->fail_puts > 0) {
        s->fail_puts--;
        return TR_EIO;
    }
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

void rig_up(struct rig *r, const char *cfg_json, size_t job)
{
    rig_up_from(r, cfg_json, job, NULL);
}

void rig_up_from(struct rig *r, const char *cfg_json, size_t job, const struct fake_store *from)
{
    memset(r, 0, sizeof *r);
    for (int i = 0; from && i < from->n; i++) {
        r->fs.k[i] = strdup(from->k[i]);
        r->fs.v[i] = strdup(from->v[i]);
    }
    r->fs.n = from ? from->n : 0;
    setenv("TSF_KEY", "trk_k", 1);
    setenv("TSF_ID", "cid", 1);
    setenv("TSF_SECRET", "csecret", 1);
    json_t *doc = json_loads(cfg_json, 0, NULL);
    char err[256];
    ck_assert_int_eq(conn_cfg_parse(doc, &r->cfg, err, sizeof err), 0);
    json_decref(doc);
    r->st = (struct conn_store){&r->fs, fs_get, fs_put, fs_scan};
    r->cc = (struct conn_crypto){fake_hmac, fake_hash, fake_random};
    uv_loop_init(&r->loop);
    ck_assert_int_eq(conn_runner_create(&r->loop, r->cfg, &r->st, &r->cc, &r->rt), 0);
    ck_assert_uint_lt(job, r->rt->njobs);
    r->j = r->rt->jobs[job];
}

void rig_down(struct rig *r)
{
    conn_runner_stop(r->rt);
    uv_run(&r->loop, UV_RUN_DEFAULT);
    conn_runner_destroy(r->rt);
    uv_loop_close(&r->loop);
    conn_cfg_destroy(r->cfg);
    for (int i = 0; i < r->fs.n; i++)
        free(r->fs.k[i]), free(r->fs.v[i]);
}

struct conn__req *step_send(struct rig *r, uint64_t now)
{
    struct conn__req *req = NULL;
    uint64_t until = 0;
    enum conn__step s = r->j->ops->next(r->j, now, &req, &until);
    ck_assert_msg(s == CONN__SEND, "expected a request, got step %d", (int)s);
    r->j->inflight++;
    return req;
}

void answer(struct rig *r, struct conn__req *req, long status, const char *body, uint64_t now)
{
    req->status = status;
    req->resp = body ? tr_strdup(body) : NULL;
    req->resp_len = body ? strlen(body) : 0;
    r->j->inflight--;
    r->j->ops->handle(r->j, req, now);
    conn__req_free(req);
}

bool has_header(const struct conn__req *req, const char *h)
{
    for (size_t i = 0; i < req->nhdr; i++)
        if (strcmp(req->hdr[i], h) == 0)
            return true;
    return false;
}

const char *store_val(struct rig *r, const char *key)
{
    int i = fs_find(&r->fs, key);
    return i < 0 ? NULL : r->fs.v[i];
}
