/* dynamics_out.c — the Dynamics 365 delivery target of the outbound job: an upsert by alternate
 * key (PATCH <entityset>(<altkey>='<value>'), which Dataverse answers by creating the row when
 * it is missing and updating it otherwise) or a DELETE on the same URL (404: already gone), one
 * change per request, after an OAuth client-credentials token (dynamics_auth.c).
 * A 401 drops the token and the change is sent again with a fresh one; a second 401 in a row is
 * retried with backoff. 429 (service protection limits) waits for its Retry-After; a 400 with a
 * Web API error body is a dead letter carrying its code and message. */
#include "connectors/dynamics.h"

#include <stdio.h>
#include <string.h>

#include "common/alloc.h"
#include "common/err.h"

struct dyn_target {
    struct conn__target t;
    struct conn__dyn_auth auth;
};

#define DYN(tg) ((struct dyn_target *)(tg))

static struct conn__req *dyn_prepare(struct conn__target *t, uint64_t now, uint64_t *wait)
{
    struct dyn_target *d = DYN(t);
    if (d->auth.token && now < d->auth.refresh_ms)
        return NULL; /* ready */
    if (d->auth.retry_at_ms > now) {
        *wait = d->auth.retry_at_ms;
        return NULL;
    }
    snprintf(t->job->state, sizeof t->job->state, "authenticating");
    return conn__dyn_token_req(t->job, &d->auth, 0);
}

static void dyn_prepared(struct conn__target *t, struct conn__req *req, uint64_t now)
{
    conn__dyn_token_handle(t->job, &DYN(t)->auth, req, now);
}

static struct conn__req *dyn_start(struct conn__target *t, const struct conn__change *chs, size_t n,
                                   size_t *taken, char *err, size_t errlen)
{
    const struct conn_cfg_connector *c = t->job->cfg;
    const char *op = json_string_value(json_object_get(chs[0].change, "op"));
    bool del = op && strcmp(op, "delete") == 0;
    char *seg = conn__dyn_key_segment(c, chs[0].key), url[4096];
    json_t *fields = NULL;
    (void)n;
    *taken = 1;
    snprintf(err, errlen, "the change cannot be mapped to the target's fields");
    if (!seg)
        return NULL;
    conn__dyn_base(c, url, sizeof url - 1024);
    size_t len = strlen(url);
    int w = snprintf(url + len, sizeof url - len, "%s", seg);
    tr_free(seg);
    if (w < 0 || (size_t)w >= sizeof url - len) {
        snprintf(err, errlen, "the key is too long for a URL");
        return NULL;
    }
    /* The alternate key travels in the URL; Dataverse sets it on the row it creates. */
    if (!del && conn_map_outbound(c, json_object_get(chs[0].change, "record"), c->external_id,
                                  &fields, err, errlen) < 0)
        return NULL;
    struct conn__req *r = conn__req_new(t->job, del ? "DELETE" : "PATCH", url, 0);
    if (r && (conn__dyn_headers(r, &DYN(t)->auth) < 0 ||
              (!del && conn__req_header(r, "Prefer: return=representation") < 0))) {
        conn__req_free(r);
        r = NULL;
    }
    if (r && fields)
        conn__req_body_json(r, fields);
    json_decref(fields);
    return r;
}

/* An upsert answered with the row (Prefer: return=representation): its primary id goes into the
 * guid -> key map, so a delete reported by change tracking finds its ledger key even when the
 * row's own change never came inbound. */
static void remember_guid(struct conn__target *t, const struct conn__req *req)
{
    const struct conn_cfg_connector *c = t->job->cfg;
    json_t *doc = req->resp ? json_loads(req->resp, 0, NULL) : NULL;
    const char *guid = json_string_value(json_object_get(doc, c->dynamics->id_attribute));
    const char *key = json_string_value(json_object_get(doc, c->external_id));
    if (guid && key && strlen(guid) <= 64) {
        struct conn_runner *rt = t->job->rt;
        char mkey[256];
        conn__key(mkey, sizeof mkey, t->job, "dmap", guid);
        struct conn_kv kv = {mkey, key};
        if (rt->store->put(rt->store->ctx, &kv, 1) < 0)
            conn__job_error(t->job, conn__now_ms(rt), "storing the id of %s failed", key);
    }
    json_decref(doc);
}

static enum conn__verdict dyn_answer(struct conn__target *t, struct conn__req *req, uint64_t now,
                                     struct conn__req **next, char *reason, size_t rlen)
{
    struct dyn_target *d = DYN(t);
    char why[320];
    (void)now, (void)next;
    if (req->status == 401) {
        bool again = conn__dyn_unauthorized(&d->auth);
        snprintf(reason, rlen, "dynamics answered HTTP 401; fetching a new token");
        return again ? CONN__V_REAUTH : CONN__V_RETRY;
    }
    if (req->status >= 200 && req->status < 300) {
        d->auth.unauthorized = 0;
        if (strcmp(req->method, "PATCH") == 0)
            remember_guid(t, req);
        return CONN__V_DONE;
    }
    if (req->status == 404 && strcmp(req->method, "DELETE") == 0)
        return CONN__V_DONE; /* already deleted there */
    conn__dyn_error(req, why, sizeof why);
    snprintf(reason, rlen, "dynamics answered %s", why);
    char scratch[64];
    return conn__verdict_of(req, "dynamics", "", "", scratch, sizeof scratch);
}

static void dyn_destroy(struct conn__target *t)
{
    conn__dyn_auth_clear(&DYN(t)->auth);
    tr_free(t);
}

static const struct conn__target_ops dyn_ops = {dyn_prepare, dyn_prepared, dyn_start, dyn_answer,
                                                dyn_destroy};

int conn__dyn_target_create(struct conn__job *j, struct conn__target **out)
{
    struct dyn_target *d = tr_calloc(1, sizeof *d);
    if (!d)
        return TR_ENOMEM;
    d->t = (struct conn__target){&dyn_ops, j, 1, true};
    *out = &d->t;
    return 0;
}
