/* sap_out.c — the SAP S/4HANA delivery target of the outbound job (OData V2): look up, then
 * create or update. Before writes a CSRF token is fetched (sap_http.c); each change is a GET of
 * the entity for its ETag, then PATCH with If-Match (or POST to the entity set when the GET says
 * 404), or DELETE with If-Match. A 403 "x-csrf-token: Required" drops the token (fetched again);
 * a 412 (changed underneath) re-reads the ETag at most sap.max_etag_retries times; an OData
 * error body on a 400 becomes the dead letter's reason. Called by outbound.c. */
#include "connectors/conn_int.h"

#include <stdio.h>
#include <string.h>

#include "common/alloc.h"
#include "common/err.h"

enum sap_step { STEP_LOOKUP, STEP_WRITE };

struct sap_target {
    struct conn__target t;
    struct conn__sap_session sess;
    /* the change being delivered */
    enum sap_step step;
    bool del;
    char *key;
    json_t *fields;     /* mapped SaaS fields without the key (PATCH); NULL for a delete */
    uint32_t conflicts; /* 412 answers for this change */
    uint32_t reauths;   /* CSRF tokens refused for this change (event ev) */
    char ev[64];
};

#define SAP(tg) ((struct sap_target *)(tg))

static struct conn__req *sap_prepare(struct conn__target *t, uint64_t now, uint64_t *wait)
{
    struct sap_target *s = SAP(t);
    if (s->sess.csrf)
        return NULL;
    if (s->sess.retry_at_ms > now) {
        *wait = s->sess.retry_at_ms;
        return NULL;
    }
    snprintf(t->job->state, sizeof t->job->state, "fetching csrf token");
    return conn__sap_csrf_req(t->job, &s->sess, 0);
}

static void sap_prepared(struct conn__target *t, struct conn__req *req, uint64_t now)
{
    conn__sap_csrf_handle(t->job, &SAP(t)->sess, req, now);
}

/* <root>/<EntitySet>('<key>') with the key as an OData string literal, percent-encoded. */
static void entity_url(const struct sap_target *s, char *url, size_t size)
{
    const struct conn_sap_cfg *c = s->t.job->cfg->sap;
    char lit[600];
    size_t o = 0;
    for (const char *p = s->key; *p && o + 3 < sizeof lit; p++) {
        if (*p == '\'')
            lit[o++] = '\''; /* OData V2 URI conventions §2.2.2: quotes are doubled */
        lit[o++] = *p;
    }
    lit[o] = '\0';
    char *enc = conn__urlencode(lit);
    snprintf(url, size, "%s/%s('%s')%s%s", c->root, c->entity_set, enc ? enc : "",
             *c->client ? "?sap-client=" : "", c->client);
    tr_free(enc);
}

static struct conn__req *lookup_req(struct sap_target *s)
{
    char url[2048];
    entity_url(s, url, sizeof url);
    s->step = STEP_LOOKUP;
    return conn__sap_req(s->t.job, &s->sess, "GET", url, 0, false);
}

static void change_clear(struct sap_target *s)
{
    tr_free(s->key);
    json_decref(s->fields);
    s->key = NULL, s->fields = NULL;
}

static struct conn__req *sap_start(struct conn__target *t, const struct conn__change *chs, size_t n,
                                   size_t *taken, char *err, size_t errlen)
{
    struct sap_target *s = SAP(t);
    const struct conn_cfg_connector *c = t->job->cfg;
    const char *op = json_string_value(json_object_get(chs[0].change, "op"));
    (void)n;
    *taken = 1;
    change_clear(s);
    s->conflicts = 0;
    if (strcmp(s->ev, chs[0].id ? chs[0].id : "") != 0)
        s->reauths = 0; /* a new change; a REAUTH starts the same one again */
    snprintf(s->ev, sizeof s->ev, "%s", chs[0].id ? chs[0].id : "");
    s->del = op && strcmp(op, "delete") == 0;
    if (!s->del && conn_map_outbound(c, json_object_get(chs[0].change, "record"), c->sap->key_prop,
                                     &s->fields, err, errlen) < 0)
        return NULL;
    if (!(s->key = tr_strdup(chs[0].key))) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    return lookup_req(s);
}

/* The write after a lookup: PATCH or DELETE with If-Match, or POST when the entity is absent. */
static struct conn__req *write_req(struct sap_target *s, const char *method, const char *etag)
{
    const struct conn_sap_cfg *c = s->t.job->cfg->sap;
    char url[2048];
    if (strcmp(method, "POST") == 0)
        snprintf(url, sizeof url, "%s/%s%s%s", c->root, c->entity_set,
                 *c->client ? "?sap-client=" : "", c->client);
    else
        entity_url(s, url, sizeof url);
    struct conn__req *r = conn__sap_req(s->t.job, &s->sess, method, url, 0, true);
    if (!r)
        return NULL;
    s->step = STEP_WRITE;
    if (etag && conn__req_header(r, "If-Match: %s", etag) < 0) {
        conn__req_free(r);
        return NULL;
    }
    if (strcmp(method, "POST") == 0) {
        json_t *body = json_deep_copy(s->fields);
        json_object_set_new(body, c->key_prop, json_string(s->key));
        conn__req_body_json(r, body);
        json_decref(body);
    } else if (s->fields) {
        conn__req_body_json(r, s->fields);
    }
    return r;
}

static enum conn__verdict after_lookup(struct sap_target *s, struct conn__req *req,
                                       struct conn__req **next, char *reason, size_t rlen)
{
    char etag[512] = "", code[128], msg[300];
    if (req->status == 404) {
        if (s->del)
            return CONN__V_DONE; /* already gone */
        *next = write_req(s, "POST", NULL);
        return CONN__V_NEXT;
    }
    if (req->status != 200) {
        conn__sap_error_parts(req, code, sizeof code, msg, sizeof msg);
        return conn__verdict_of(req, "sap lookup", code, msg, reason, rlen);
    }
    if (!conn__resp_header(req, "etag", etag, sizeof etag) || !*etag) {
        json_t *doc = req->resp ? json_loads(req->resp, 0, NULL) : NULL;
        json_t *md =
            json_object_get(json_object_get(json_object_get(doc, "d"), "__metadata"), "etag");
        snprintf(etag, sizeof etag, "%s", json_is_string(md) ? json_string_value(md) : "");
        json_decref(doc);
    }
    /* Without an ETag the service does not check concurrency: "*" updates unconditionally. */
    *next = write_req(s, s->del ? "DELETE" : "PATCH", *etag ? etag : "*");
    return CONN__V_NEXT;
}

static enum conn__verdict after_write(struct sap_target *s, struct conn__req *req,
                                      struct conn__req **next, char *reason, size_t rlen)
{
    char code[128], msg[300];
    const struct conn_sap_cfg *c = s->t.job->cfg->sap;
    if (conn__sap_csrf_required(req)) {
        conn__sap_session_clear(&s->sess);
        snprintf(reason, rlen, "sap CSRF token expired (403 Required); fetching a new one");
        /* A fresh token refused again and again is not an expiry: back off, bounded. */
        return ++s->reauths <= 2 ? CONN__V_REAUTH : CONN__V_RETRY;
    }
    if (req->status == 404 && strcmp(req->method, "DELETE") == 0)
        return CONN__V_DONE; /* deleted by someone else meanwhile */
    if (req->status == 412 || (req->status == 404 && strcmp(req->method, "PATCH") == 0)) {
        /* Changed (or deleted) since the lookup: read it again, a bounded number of times. */
        if (s->conflicts++ < c->max_etag_retries) {
            *next = lookup_req(s);
            return CONN__V_NEXT;
        }
        snprintf(reason, rlen, "sap answered HTTP %ld %u times: the entity keeps changing",
                 req->status, s->conflicts);
        return CONN__V_DEAD;
    }
    conn__sap_error_parts(req, code, sizeof code, msg, sizeof msg);
    return conn__verdict_of(req, "sap", code, msg, reason, rlen);
}

static enum conn__verdict sap_answer(struct conn__target *t, struct conn__req *req, uint64_t now,
                                     struct conn__req **next, char *reason, size_t rlen)
{
    struct sap_target *s = SAP(t);
    (void)now;
    if (req->status == 503 && req->retry_after_ms >= 0) {
        conn__verdict_of(req, "sap", "", "service unavailable", reason, rlen);
        return CONN__V_LIMITED; /* SAP Gateway throttling answers 503 with Retry-After */
    }
    if (req->status == 401) {
        /* The configured credentials are refused (changed, locked user): not this change's
         * fault, so no dead letter; wait, with the error shown, until they work again. */
        snprintf(reason, rlen, "sap refused the credentials (HTTP 401)");
        return CONN__V_LIMITED;
    }
    enum conn__verdict v = s->step == STEP_LOOKUP ? after_lookup(s, req, next, reason, rlen)
                                                  : after_write(s, req, next, reason, rlen);
    if (v == CONN__V_NEXT && !*next)
        snprintf(reason, rlen, "sap: building the next request failed");
    return v;
}

static void sap_destroy(struct conn__target *t)
{
    struct sap_target *s = SAP(t);
    conn__sap_session_clear(&s->sess);
    change_clear(s);
    tr_free(s);
}

static const struct conn__target_ops sap_ops = {sap_prepare, sap_prepared, sap_start, sap_answer,
                                                sap_destroy};

int conn__sap_target_create(struct conn__job *j, struct conn__target **out)
{
    struct sap_target *s = tr_calloc(1, sizeof *s);
    if (!s)
        return TR_ENOMEM;
    s->t = (struct conn__target){&sap_ops, j, 1, true};
    *out = &s->t;
    return 0;
}
