/* hook_out.c — the webhook delivery target of the outbound job: each change POSTed as
 * {id, type, key, op, org, fields} with X-Treaty-Signature: sha256=<hex HMAC-SHA256 of the body
 * under the connector's secret> and X-Treaty-Event-Id (docs/connectors.md). */
#include "connectors/conn_int.h"

#include <stdio.h>
#include <string.h>

#include "common/alloc.h"
#include "common/err.h"

static struct conn__req *hook_prepare(struct conn__target *t, uint64_t now, uint64_t *wait)
{
    (void)t, (void)now, (void)wait;
    return NULL;
}

static struct conn__req *hook_start(struct conn__target *t, const struct conn__change *chs,
                                    size_t n, size_t *taken, char *err, size_t errlen)
{
    const struct conn_cfg_connector *c = t->job->cfg;
    const json_t *ch = chs[0].change, *rec = json_object_get(ch, "record");
    json_t *fields = NULL;
    (void)n;
    *taken = 1;
    if (json_is_object(rec) && conn_map_outbound(c, rec, NULL, &fields, err, errlen) < 0)
        return NULL;
    snprintf(err, errlen, "out of memory building the webhook request");
    json_t *body =
        json_pack("{s:s,s:O,s:O,s:O,s:O,s:o}", "id", chs[0].id, "type", json_object_get(ch, "type"),
                  "key", json_object_get(ch, "key"), "op", json_object_get(ch, "op"), "org",
                  json_object_get(ch, "org"), "fields", fields ? fields : json_null());
    struct conn__req *r = conn__req_new(t->job, "POST", c->url, 0);
    if (r && body)
        conn__req_body_json(r, body);
    json_decref(body);
    if (!r || !r->body) {
        conn__req_free(r);
        return NULL;
    }
    uint8_t mac[32];
    char hex[65];
    t->job->rt->crypto->hmac_sha256((const uint8_t *)c->secret, strlen(c->secret),
                                    (const uint8_t *)r->body, r->body_len, mac);
    for (int i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", mac[i]);
    if (conn__req_header(r, "X-Treaty-Signature: sha256=%s", hex) < 0 ||
        conn__req_header(r, "X-Treaty-Event-Id: %s", chs[0].id) < 0) {
        conn__req_free(r);
        return NULL;
    }
    return r;
}

static enum conn__verdict hook_answer(struct conn__target *t, struct conn__req *req, uint64_t now,
                                      struct conn__req **next, char *reason, size_t rlen)
{
    (void)t, (void)now, (void)next;
    return conn__verdict_of(req, "webhook", "", "", reason, rlen);
}

static void hook_destroy(struct conn__target *t)
{
    tr_free(t);
}

static const struct conn__target_ops hook_ops = {hook_prepare, NULL, hook_start, hook_answer,
                                                 hook_destroy};

int conn__hook_target_create(struct conn__job *j, struct conn__target **out)
{
    struct conn__target *t = tr_calloc(1, sizeof *t);
    if (!t)
        return TR_ENOMEM;
    *t = (struct conn__target){&hook_ops, j, 1, false};
    *out = t;
    return 0;
}
