/* hs_out.c — the HubSpot delivery target of the outbound job (outbound.c): consecutive upserts
 * go out as one POST …/batch/upsert by idProperty (at most hubspot.batch_size), consecutive
 * deletes as POST …/batch/read by idProperty (HubSpot archives by its own id) and then
 * POST …/batch/archive of the ids found. A 401 or a DAILY rate limit holds every delivery in
 * `prepare` until its wait is over; a VALIDATION_ERROR is permanent (the job retries a refused
 * batch one change at a time, so only the bad change is dead-lettered). */
#include "connectors/hs.h"

#include <stdio.h>
#include <string.h>

#include "common/alloc.h"
#include "common/err.h"

enum { STEP_UPSERT = 1, STEP_READ, STEP_ARCHIVE };

struct hs_target {
    struct conn__target t;
    uint32_t attempt; /* consecutive refusals (401, 429) */
    uint64_t hold_ms; /* no delivery before this (auth failure, rate limit) */
};

#define HS(tg) ((struct hs_target *)(tg))

static struct conn__req *hs_prepare(struct conn__target *t, uint64_t now, uint64_t *wait)
{
    if (HS(t)->hold_ms > now)
        *wait = HS(t)->hold_ms;
    return NULL; /* a private app token needs no fetching */
}

static bool is_delete(const struct conn__change *ch)
{
    const char *op = json_string_value(json_object_get(ch->change, "op"));
    return op && strcmp(op, "delete") == 0;
}

/* HubSpot property values are text; a null (an absent ledger field) clears the property. */
static json_t *hs_properties(const struct conn_cfg_connector *c, const json_t *rec, char *err,
                             size_t errlen)
{
    json_t *fields = NULL;
    if (conn_map_outbound(c, rec, c->external_id, &fields, err, errlen) < 0)
        return NULL;
    const char *k;
    json_t *v;
    json_object_foreach(fields, k, v)
    {
        if (json_is_null(v))
            json_object_set_new(fields, k, json_string(""));
    }
    return fields;
}

static struct conn__req *upsert_req(struct conn__target *t, const struct conn__change *chs,
                                    size_t n, size_t *taken, char *err, size_t errlen)
{
    const struct conn_cfg_connector *c = t->job->cfg;
    json_t *inputs = json_array();
    size_t i = 0;
    for (; inputs && i < n && !is_delete(&chs[i]); i++) {
        json_t *props = hs_properties(c, json_object_get(chs[i].change, "record"), err, errlen);
        if (!props)
            break; /* chs[i] goes alone and is dead-lettered when it comes first */
        json_array_append_new(inputs, json_pack("{s:s,s:s,s:o}", "id", chs[i].key, "idProperty",
                                                c->external_id, "properties", props));
    }
    *taken = i;
    json_t *body = i ? json_pack("{s:o}", "inputs", inputs) : (json_decref(inputs), NULL);
    char path[512];
    snprintf(path, sizeof path, "/crm/v3/objects/%s/batch/upsert", c->object);
    struct conn__req *r = body ? conn__hs_req(t->job, "POST", path, body, 0) : NULL;
    json_decref(body);
    if (r)
        r->index = STEP_UPSERT;
    return r;
}

static struct conn__req *read_req(struct conn__target *t, const struct conn__change *chs, size_t n,
                                  size_t *taken)
{
    const struct conn_cfg_connector *c = t->job->cfg;
    json_t *inputs = json_array();
    size_t i = 0;
    for (; inputs && i < n && is_delete(&chs[i]); i++)
        json_array_append_new(inputs, json_pack("{s:s}", "id", chs[i].key));
    *taken = i;
    json_t *body = json_pack("{s:s,s:o,s:[s]}", "idProperty", c->external_id, "inputs", inputs,
                             "properties", c->external_id);
    char path[512];
    snprintf(path, sizeof path, "/crm/v3/objects/%s/batch/read", c->object);
    struct conn__req *r = body ? conn__hs_req(t->job, "POST", path, body, 0) : NULL;
    json_decref(body);
    if (r)
        r->index = STEP_READ;
    return r;
}

static struct conn__req *hs_start(struct conn__target *t, const struct conn__change *chs, size_t n,
                                  size_t *taken, char *err, size_t errlen)
{
    snprintf(err, errlen, "the change cannot be mapped to the target's fields");
    *taken = 1;
    return is_delete(&chs[0]) ? read_req(t, chs, n, taken)
                              : upsert_req(t, chs, n, taken, err, errlen);
}

/* After a batch read: the archive of the objects found (the others are gone already). */
static enum conn__verdict archive_found(struct conn__target *t, const struct conn__req *req,
                                        struct conn__req **next, char *reason, size_t rlen)
{
    json_t *doc = req->resp ? json_loads(req->resp, 0, NULL) : NULL;
    json_t *res = json_object_get(doc, "results"), *inputs = json_array();
    for (size_t i = 0; inputs && i < json_array_size(res); i++) {
        const char *id = json_string_value(json_object_get(json_array_get(res, i), "id"));
        if (id)
            json_array_append_new(inputs, json_pack("{s:s}", "id", id));
    }
    bool ok = json_is_array(res) && inputs;
    json_decref(doc);
    if (!ok) {
        json_decref(inputs);
        snprintf(reason, rlen, "hubspot batch read: HTTP %ld answer without results", req->status);
        return CONN__V_RETRY;
    }
    if (json_array_size(inputs) == 0) {
        json_decref(inputs);
        return CONN__V_DONE;
    }
    json_t *body = json_pack("{s:o}", "inputs", inputs);
    char path[512];
    snprintf(path, sizeof path, "/crm/v3/objects/%s/batch/archive", t->job->cfg->object);
    *next = body ? conn__hs_req(t->job, "POST", path, body, 0) : NULL;
    json_decref(body);
    if (*next)
        (*next)->index = STEP_ARCHIVE;
    snprintf(reason, rlen, "out of memory");
    return *next ? CONN__V_NEXT : CONN__V_RETRY;
}

/* A 207 to a batch write: some inputs failed (errors[]). The batch is not done; as a DEAD
 * verdict the job sends it again one change at a time, so the failing change is dead-lettered
 * with HubSpot's reason and the others are written (upserts are idempotent). */
static enum conn__verdict partial_failure(const struct conn__req *req, char *reason, size_t rlen)
{
    json_t *doc = req->resp ? json_loads(req->resp, 0, NULL) : NULL;
    json_t *e0 = json_array_get(json_object_get(doc, "errors"), 0);
    const char *cat = json_string_value(json_object_get(e0, "category"));
    const char *msg = json_string_value(json_object_get(e0, "message"));
    enum conn__verdict v = e0 ? CONN__V_DEAD : CONN__V_DONE;
    snprintf(reason, rlen, "hubspot answered HTTP 207 %s: %.160s", cat ? cat : "", msg ? msg : "");
    json_decref(doc);
    return v;
}

static enum conn__verdict hs_answer(struct conn__target *t, struct conn__req *req, uint64_t now,
                                    struct conn__req **next, char *reason, size_t rlen)
{
    struct hs_target *h = HS(t);
    uint64_t wait = 0;
    if (req->status >= 200 && req->status < 300) {
        h->attempt = 0;
        if (req->index == STEP_READ)
            return archive_found(t, req, next, reason, rlen);
        return req->status == 207 ? partial_failure(req, reason, rlen) : CONN__V_DONE;
    }
    switch (conn__hs_failed(t->job, req, ++h->attempt, now, &wait, reason, rlen)) {
    case CONN__HS_AUTH:
        h->hold_ms = now + wait;
        snprintf(t->job->state, sizeof t->job->state, "auth_failed");
        snprintf(reason, rlen, "%s", t->job->last_error);
        return CONN__V_REAUTH;
    case CONN__HS_RETRY:
        if (req->status != 429)
            return CONN__V_RETRY;
        h->hold_ms = now + wait;
        return CONN__V_LIMITED;
    case CONN__HS_PERMANENT:
        break;
    }
    return CONN__V_DEAD;
}

static void hs_destroy(struct conn__target *t)
{
    tr_free(t);
}

static const struct conn__target_ops hs_ops = {hs_prepare, NULL, hs_start, hs_answer, hs_destroy};

int conn__hs_target_create(struct conn__job *j, struct conn__target **out)
{
    struct hs_target *h = tr_calloc(1, sizeof *h);
    if (!h)
        return TR_ENOMEM;
    h->t = (struct conn__target){&hs_ops, j, j->cfg->hubspot->batch_size, true};
    *out = &h->t;
    return 0;
}
