/* sf_out.c — the Salesforce delivery target of the outbound job: upsert by external id
 * (PATCH …/sobjects/Obj/ExtId__c/value) or delete, one change per request, after an OAuth
 * token (sf_auth.c). A 401 drops the token; REQUEST_LIMIT_EXCEEDED is a rate limit. */
#include "connectors/conn_int.h"

#include <stdio.h>
#include <string.h>

#include "common/alloc.h"
#include "common/err.h"

struct sf_target {
    struct conn__target t;
    struct conn__sf_auth auth;
};

#define SF(tg) ((struct sf_target *)(tg))

static struct conn__req *sf_prepare(struct conn__target *t, uint64_t now, uint64_t *wait)
{
    struct sf_target *s = SF(t);
    if (s->auth.token)
        return NULL;
    if (s->auth.retry_at_ms > now) {
        *wait = s->auth.retry_at_ms;
        return NULL;
    }
    snprintf(t->job->state, sizeof t->job->state, "authenticating");
    return conn__sf_token_req(t->job, &s->auth, 0);
}

static void sf_prepared(struct conn__target *t, struct conn__req *req, uint64_t now)
{
    conn__sf_token_handle(t->job, &SF(t)->auth, req, now);
}

static struct conn__req *sf_start(struct conn__target *t, const struct conn__change *chs, size_t n,
                                  size_t *taken, char *err, size_t errlen)
{
    struct sf_target *s = SF(t);
    const struct conn_cfg_connector *c = t->job->cfg;
    char *ek = conn__urlencode(chs[0].key), url[2048];
    (void)n;
    *taken = 1;
    snprintf(err, errlen, "the change cannot be mapped to the target's fields");
    if (!ek)
        return NULL;
    snprintf(url, sizeof url, "%s/services/data/v%s/sobjects/%s/%s/%s", s->auth.instance_url,
             c->api_version, c->object, c->external_id, ek);
    tr_free(ek);
    const char *op = json_string_value(json_object_get(chs[0].change, "op"));
    bool del = op && strcmp(op, "delete") == 0;
    json_t *fields = NULL;
    if (!del && conn_map_outbound(c, json_object_get(chs[0].change, "record"), c->external_id,
                                  &fields, err, errlen) < 0)
        return NULL;
    struct conn__req *r = conn__req_new(t->job, del ? "DELETE" : "PATCH", url, 0);
    if (r && conn__req_header(r, "Authorization: Bearer %s", s->auth.token) < 0) {
        conn__req_free(r);
        r = NULL;
    }
    if (r && fields)
        conn__req_body_json(r, fields);
    json_decref(fields);
    return r;
}

static enum conn__verdict sf_answer(struct conn__target *t, struct conn__req *req, uint64_t now,
                                    struct conn__req **next, char *reason, size_t rlen)
{
    char code[64] = "", msg[200] = "";
    (void)now, (void)next;
    if (req->status == 401) {
        conn__sf_auth_clear(&SF(t)->auth);
        snprintf(reason, rlen, "salesforce session expired (401); fetching a new token");
        return CONN__V_REAUTH;
    }
    if (req->status == 404 && strcmp(req->method, "DELETE") == 0)
        return CONN__V_DONE; /* already deleted there */
    conn__sf_error(req, code, sizeof code, msg, sizeof msg);
    enum conn__verdict v = conn__verdict_of(req, "salesforce", code, msg, reason, rlen);
    return strcmp(code, "REQUEST_LIMIT_EXCEEDED") == 0 ? CONN__V_LIMITED : v;
}

static void sf_destroy(struct conn__target *t)
{
    conn__sf_auth_clear(&SF(t)->auth);
    tr_free(t);
}

static const struct conn__target_ops sf_ops = {sf_prepare, sf_prepared, sf_start, sf_answer,
                                               sf_destroy};

int conn__sf_target_create(struct conn__job *j, struct conn__target **out)
{
    struct sf_target *s = tr_calloc(1, sizeof *s);
    if (!s)
        return TR_ENOMEM;
    s->t = (struct conn__target){&sf_ops, j, 1, true};
    *out = &s->t;
    return 0;
}
