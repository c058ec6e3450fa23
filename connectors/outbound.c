/* outbound.c — outbound job: reads the node's event stream (GET /v1/events, docs/events.md) from
 * the stored offset (Last-Event-ID) and delivers each change of the connector's type, one at a
 * time, in ledger order: a Salesforce upsert (PATCH …/sobjects/Obj/ExtId__c/value) or delete, or
 * a webhook POST signed with HMAC-SHA256. Invariant: the offset is stored only after the change
 * is delivered (or dead-lettered); a change whose mapped fields equal what the connector last
 * synced for that key (its own inbound write coming back) is skipped, so nothing echoes. */
#include "connectors/conn_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/err.h"

enum { TAG_TOKEN = 1, TAG_STREAM, TAG_DELIVER };

struct out_job {
    struct conn__job j;
    struct conn__sf_auth auth;
    bool token_inflight, stream_open, deliver_inflight;
    char *offset;      /* last handled event id; NULL: from the beginning */
    char *last_queued; /* id of the newest queued event */
    uint32_t stream_attempt, attempt;
    uint64_t stream_retry_ms, retry_ms;
    char *line; /* partial SSE line */
    size_t line_len;
    char ev_id[48], ev_name[32];
    char *ev_data;
    json_t *queue; /* [{id, change}] in order */
    char hash[65]; /* projection hash of the change being delivered ("" for none) */
};

#define SELF(job) ((struct out_job *)(job))

static void offset_key(struct out_job *o, char *buf, size_t size)
{
    conn__key(buf, size, &o->j, "offset", "outbound");
}

/* ---- the event stream ---- */

static struct conn__req *stream_req(struct out_job *o)
{
    char path[512];
    const char *from = o->last_queued ? o->last_queued : o->offset;
    snprintf(path, sizeof path, "/v1/events?types=%s%s", o->j.cfg->ledger_type,
             from ? "" : "&from=0");
    struct conn__req *r = conn__node_req(&o->j, "GET", path, TAG_STREAM);
    if (!r)
        return NULL;
    r->stream = true;
    if (conn__req_header(r, "Accept: text/event-stream") < 0 ||
        (from && conn__req_header(r, "Last-Event-ID: %s", from) < 0)) {
        conn__req_free(r);
        return NULL;
    }
    return r;
}

static void ev_reset(struct out_job *o)
{
    o->ev_id[0] = o->ev_name[0] = '\0';
    tr_free(o->ev_data);
    o->ev_data = NULL;
}

static bool ev_dispatch(struct out_job *o)
{
    bool ok = true;
    if (o->ev_data && o->ev_id[0] && (!o->ev_name[0] || strcmp(o->ev_name, "change") == 0)) {
        json_t *ch = json_loads(o->ev_data, 0, NULL);
        if (ch) {
            json_array_append_new(o->queue, json_pack("{s:s,s:o}", "id", o->ev_id, "change", ch));
            tr_free(o->last_queued);
            o->last_queued = tr_strdup(o->ev_id);
        }
        /* Full: stop reading; the stream resumes after last_queued once the queue drained. */
        ok = json_array_size(o->queue) < o->j.rt->cfg->limits.max_event_queue;
    }
    ev_reset(o);
    return ok;
}

static bool ev_line(struct out_job *o, const char *line)
{
    const char *v = strchr(line, ':');
    if (!*line)
        return ev_dispatch(o);
    if (v == line)
        return true; /* comment (heartbeat) */
    size_t nl = v ? (size_t)(v - line) : strlen(line);
    v = v ? v + 1 + (v[1] == ' ') : "";
    if (nl == 2 && strncmp(line, "id", 2) == 0)
        snprintf(o->ev_id, sizeof o->ev_id, "%s", v);
    else if (nl == 5 && strncmp(line, "event", 5) == 0)
        snprintf(o->ev_name, sizeof o->ev_name, "%s", v);
    else if (nl == 4 && strncmp(line, "data", 4) == 0) {
        size_t old = o->ev_data ? strlen(o->ev_data) : 0, add = strlen(v);
        char *d = tr_realloc(o->ev_data, old + add + 2);
        if (!d)
            return false;
        if (old)
            d[old++] = '\n';
        memcpy(d + old, v, add + 1);
        o->ev_data = d;
    }
    return true;
}

static bool out_data(struct conn__job *j, struct conn__req *req, const char *buf, size_t len)
{
    struct out_job *o = SELF(j);
    (void)req;
    for (size_t i = 0; i < len; i++) {
        if (buf[i] == '\n') {
            if (o->line_len && o->line[o->line_len - 1] == '\r')
                o->line_len--;
            if (o->line)
                o->line[o->line_len] = '\0';
            bool ok = ev_line(o, o->line ? o->line : "");
            o->line_len = 0;
            if (!ok)
                return false;
            continue;
        }
        if (o->line_len + 2 > j->rt->cfg->limits.max_response_bytes)
            return false; /* one line larger than any answer we keep */
        char *l = tr_realloc(o->line, o->line_len + 2);
        if (!l)
            return false;
        o->line = l;
        o->line[o->line_len++] = buf[i];
    }
    return true;
}

/* ---- delivery ---- */

static struct conn__req *sf_deliver(struct out_job *o, const json_t *ch, const char *key)
{
    const struct conn_cfg_connector *c = o->j.cfg;
    char *ek = conn__urlencode(key), url[2048], err[256];
    if (!ek)
        return NULL;
    snprintf(url, sizeof url, "%s/services/data/v%s/sobjects/%s/%s/%s", o->auth.instance_url,
             c->api_version, c->object, c->external_id, ek);
    tr_free(ek);
    const char *op = json_string_value(json_object_get(ch, "op"));
    bool del = op && strcmp(op, "delete") == 0;
    json_t *fields = NULL;
    if (!del && conn_map_outbound(c, json_object_get(ch, "record"), c->external_id, &fields, err,
                                  sizeof err) < 0)
        return NULL;
    struct conn__req *r = conn__req_new(&o->j, del ? "DELETE" : "PATCH", url, TAG_DELIVER);
    if (r && conn__req_header(r, "Authorization: Bearer %s", o->auth.token) < 0) {
        conn__req_free(r);
        r = NULL;
    }
    if (r && fields)
        conn__req_body_json(r, fields);
    json_decref(fields);
    return r;
}

static struct conn__req *hook_deliver(struct out_job *o, const char *id, const json_t *ch)
{
    const struct conn_cfg_connector *c = o->j.cfg;
    char err[256];
    json_t *fields = NULL, *rec = json_object_get(ch, "record");
    if (json_is_object(rec) && conn_map_outbound(c, rec, NULL, &fields, err, sizeof err) < 0)
        return NULL;
    json_t *body =
        json_pack("{s:s,s:O,s:O,s:O,s:O,s:o}", "id", id, "type", json_object_get(ch, "type"), "key",
                  json_object_get(ch, "key"), "op", json_object_get(ch, "op"), "org",
                  json_object_get(ch, "org"), "fields", fields ? fields : json_null());
    struct conn__req *r = conn__req_new(&o->j, "POST", c->url, TAG_DELIVER);
    if (r && body)
        conn__req_body_json(r, body);
    json_decref(body);
    if (!r || !r->body) {
        conn__req_free(r);
        return NULL;
    }
    uint8_t mac[32];
    char hex[65];
    o->j.rt->crypto->hmac_sha256((const uint8_t *)c->secret, strlen(c->secret),
                                 (const uint8_t *)r->body, r->body_len, mac);
    for (int i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", mac[i]);
    if (conn__req_header(r, "X-Treaty-Signature: sha256=%s", hex) < 0 ||
        conn__req_header(r, "X-Treaty-Event-Id: %s", id) < 0) {
        conn__req_free(r);
        return NULL;
    }
    return r;
}

/* Stores the offset (and the synced hash of a delivered Salesforce change) and pops the head. */
static int advance(struct out_job *o, uint64_t now)
{
    struct conn_runner *rt = o->j.rt;
    json_t *head = json_array_get(o->queue, 0);
    const char *id = json_string_value(json_object_get(head, "id"));
    const char *key = json_string_value(json_object_get(json_object_get(head, "change"), "key"));
    char okey[256], skey[512];
    struct conn_kv kv[2];
    size_t n = 0;
    offset_key(o, okey, sizeof okey);
    kv[n++] = (struct conn_kv){okey, id};
    if (o->j.cfg->kind == CONN_KIND_SALESFORCE && key && o->hash[0] != '-') {
        conn__key(skey, sizeof skey, &o->j, "sync", key);
        kv[n++] = (struct conn_kv){skey, o->hash[0] ? o->hash : NULL};
    }
    if (rt->store->put(rt->store->ctx, kv, n) < 0) {
        conn__job_error(&o->j, now, "storing the event offset failed");
        o->retry_ms = now + conn__backoff(&o->j, ++o->attempt, -1);
        return TR_EIO;
    }
    tr_free(o->offset);
    o->offset = tr_strdup(id);
    json_array_remove(o->queue, 0);
    o->attempt = 0;
    if (json_array_size(o->queue) == 0)
        o->j.caught_up_ms = now;
    return 0;
}

/* Hash of the projection of `rec` after a trip to the SaaS side and back: what the inbound job
 * will compute when it reads the record this delivery writes (transforms may lose detail, e.g.
 * a date-time stored as a date), so that read is recognised as an echo. */
static int roundtrip_hash(struct out_job *o, const json_t *rec, char hex[65])
{
    const struct conn_cfg_connector *c = o->j.cfg;
    json_t *saas = NULL, *back = NULL;
    char err[256];
    if (conn_map_outbound(c, rec, NULL, &saas, err, sizeof err) < 0)
        return -1;
    int rc = conn_map_inbound(c, saas, &back, err, sizeof err);
    json_decref(saas);
    char *proj = rc < 0 ? NULL : conn_map_projection(c, back);
    json_decref(back);
    if (!proj)
        return -1;
    conn__hash_hex(o->j.rt, proj, hex);
    free(proj);
    return 0;
}

/* True when the change is what this connector last synced for its key: skip it. Sets o->hash
 * to what a delivery of it stores. */
static bool in_sync(struct out_job *o, const json_t *ch, const char *key)
{
    struct conn_runner *rt = o->j.rt;
    const json_t *rec = json_object_get(ch, "record");
    char raw[65], skey[512], *synced = NULL;
    o->hash[0] = '\0';
    if (!json_is_object(rec))
        return false; /* a delete: the hash is cleared when it is delivered */
    char *proj = conn_map_projection(o->j.cfg, rec);
    if (!proj || roundtrip_hash(o, rec, o->hash) < 0) {
        free(proj);
        o->hash[0] = '\0';
        return false;
    }
    conn__hash_hex(rt, proj, raw);
    free(proj);
    const char *pending =
        json_string_value(json_object_get(rt->shared[o->j.conn_index].pending_in, key));
    if (pending && strcmp(pending, raw) == 0)
        return true; /* this connector's inbound write of that content, not yet committed */
    conn__key(skey, sizeof skey, &o->j, "sync", key);
    bool same = rt->store->get(rt->store->ctx, skey, &synced) == 0 &&
                (strcmp(synced, raw) == 0 || strcmp(synced, o->hash) == 0);
    tr_free(synced);
    return same;
}

static enum conn__step deliver_step(struct out_job *o, uint64_t now, struct conn__req **req)
{
    const struct conn_cfg_connector *c = o->j.cfg;
    for (int guard = 0; guard < 1000 && json_array_size(o->queue) > 0; guard++) {
        json_t *head = json_array_get(o->queue, 0), *ch = json_object_get(head, "change");
        const char *id = json_string_value(json_object_get(head, "id"));
        const char *key = json_string_value(json_object_get(ch, "key"));
        if (!key) {
            o->hash[0] = '-';
            conn__dead_letter(&o->j, id, "event without a key", ch);
            if (advance(o, now) < 0)
                return CONN__IDLE;
            continue;
        }
        if (c->kind == CONN_KIND_SALESFORCE && in_sync(o, ch, key)) {
            o->j.skipped++;
            o->hash[0] = '-'; /* nothing new to store for the key */
            if (advance(o, now) < 0)
                return CONN__IDLE;
            continue;
        }
        *req = c->kind == CONN_KIND_SALESFORCE ? sf_deliver(o, ch, key) : hook_deliver(o, id, ch);
        if (*req)
            return CONN__SEND;
        o->hash[0] = '-';
        conn__dead_letter(&o->j, id, "the change cannot be mapped to the target's fields", ch);
        if (advance(o, now) < 0)
            return CONN__IDLE;
    }
    return CONN__IDLE;
}

static enum conn__step out_next(struct conn__job *j, uint64_t now, struct conn__req **req,
                                uint64_t *until)
{
    struct out_job *o = SELF(j);
    uint64_t wake = UINT64_MAX;
    if (j->rt->stopping)
        return CONN__IDLE;
    if (json_array_size(o->queue) == 0)
        j->caught_up_ms = now;
    if (!o->stream_open && json_array_size(o->queue) <= j->rt->cfg->limits.max_event_queue / 2) {
        if (o->stream_retry_ms <= now) {
            *req = stream_req(o);
            o->stream_open = *req != NULL;
            return *req ? CONN__SEND : CONN__IDLE;
        }
        wake = o->stream_retry_ms;
    }
    if (o->deliver_inflight || o->token_inflight || json_array_size(o->queue) == 0) {
        snprintf(j->state, sizeof j->state, "%s",
                 json_array_size(o->queue) ? "delivering" : "idle");
        *until = wake;
        return wake == UINT64_MAX ? CONN__IDLE : CONN__WAIT;
    }
    uint64_t at = o->retry_ms > o->auth.retry_at_ms ? o->retry_ms : o->auth.retry_at_ms;
    if (at > now) {
        *until = at < wake ? at : wake;
        return CONN__WAIT;
    }
    /* Until the inbound job has read its first page, a change it wrote before a restart could
     * not be told from a new one: wait for it. */
    if ((j->cfg->direction & CONN_DIR_INBOUND) && !j->rt->shared[j->conn_index].inbound_primed)
        return CONN__IDLE;
    if (j->cfg->kind == CONN_KIND_SALESFORCE && !o->auth.token) {
        snprintf(j->state, sizeof j->state, "authenticating");
        *req = conn__sf_token_req(j, &o->auth, TAG_TOKEN);
        o->token_inflight = *req != NULL;
        return *req ? CONN__SEND : CONN__IDLE;
    }
    enum conn__step st = deliver_step(o, now, req);
    o->deliver_inflight = st == CONN__SEND;
    snprintf(j->state, sizeof j->state, "delivering");
    return st;
}

static void on_delivered(struct out_job *o, struct conn__req *req, uint64_t now)
{
    json_t *head = json_array_get(o->queue, 0);
    const char *id = json_string_value(json_object_get(head, "id"));
    const json_t *ch = json_object_get(head, "change");
    char code[64] = "", msg[200] = "", reason[300];
    bool sf = o->j.cfg->kind == CONN_KIND_SALESFORCE;
    if (req->status >= 200 && req->status < 300) {
        o->j.records++;
        advance(o, now);
        return;
    }
    if (sf && req->status == 401) {
        conn__sf_auth_clear(&o->auth);
        conn__job_error(&o->j, now, "salesforce session expired (401); fetching a new token");
        return;
    }
    if (sf && req->status == 404 && strcmp(req->method, "DELETE") == 0) {
        advance(o, now); /* already deleted there */
        return;
    }
    if (sf)
        conn__sf_error(req, code, sizeof code, msg, sizeof msg);
    snprintf(reason, sizeof reason, "%s answered HTTP %ld %s %s", sf ? "salesforce" : "webhook",
             req->status, code, req->status ? msg : req->err);
    bool limited = strcmp(code, "REQUEST_LIMIT_EXCEEDED") == 0;
    if (limited ||
        (conn__transient(req->status) && o->attempt + 1 < o->j.rt->cfg->limits.max_attempts)) {
        o->retry_ms = now + conn__backoff(&o->j, ++o->attempt, req->retry_after_ms);
        conn__job_error(&o->j, now, "event %s: %s; retrying", id, reason);
        return;
    }
    o->hash[0] = '-';
    conn__dead_letter(&o->j, id, reason, ch);
    advance(o, now);
}

static void out_handle(struct conn__job *j, struct conn__req *req, uint64_t now)
{
    struct out_job *o = SELF(j);
    if (req->tag == TAG_TOKEN) {
        o->token_inflight = false;
        conn__sf_token_handle(j, &o->auth, req, now);
    } else if (req->tag == TAG_DELIVER) {
        o->deliver_inflight = false;
        on_delivered(o, req, now);
    } else {
        o->stream_open = false;
        o->line_len = 0;
        ev_reset(o);
        bool full = json_array_size(o->queue) >= j->rt->cfg->limits.max_event_queue;
        if (!full && req->status != 200)
            conn__job_error(j, now, "event stream: HTTP %ld %s", req->status,
                            req->status ? "" : req->err);
        o->stream_attempt = full ? 0 : o->stream_attempt + 1;
        o->stream_retry_ms =
            full ? now : now + conn__backoff(j, o->stream_attempt, req->retry_after_ms);
    }
}

static void out_status(struct conn__job *j, json_t *out)
{
    struct out_job *o = SELF(j);
    json_object_set_new(out, "offset", o->offset ? json_string(o->offset) : json_null());
    json_object_set_new(out, "queued", json_integer((json_int_t)json_array_size(o->queue)));
    json_object_set_new(out, "stream", json_boolean(o->stream_open));
}

static void out_destroy(struct conn__job *j)
{
    struct out_job *o = SELF(j);
    conn__sf_auth_clear(&o->auth);
    tr_free(o->offset);
    tr_free(o->last_queued);
    tr_free(o->line);
    ev_reset(o);
    json_decref(o->queue);
    tr_free(o);
}

static const struct conn__job_ops out_ops = {
    "outbound", out_next, out_handle, out_data, out_status, out_destroy,
};

int conn__out_create(struct conn_runner *rt, size_t ci, struct conn__job **out)
{
    struct out_job *o = tr_calloc(1, sizeof *o);
    if (!o || !(o->queue = json_array())) {
        tr_free(o);
        return TR_ENOMEM;
    }
    o->j.ops = &out_ops, o->j.rt = rt, o->j.cfg = &rt->cfg->connectors[ci];
    o->j.conn_index = ci;
    snprintf(o->j.state, sizeof o->j.state, "starting");
    char key[256];
    offset_key(o, key, sizeof key);
    int rc = rt->store->get(rt->store->ctx, key, &o->offset);
    if (rc < 0 && rc != TR_ENOTFOUND) {
        out_destroy(&o->j);
        return rc;
    }
    *out = &o->j;
    return 0;
}
