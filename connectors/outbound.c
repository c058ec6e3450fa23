/* outbound.c — outbound job: reads the node's event stream (GET /v1/events, docs/events.md) from
 * the stored offset (Last-Event-ID) and hands the changes of the connector's type, in ledger
 * order, to the connector kind's delivery target (conn_int.h: sf_out.c, hook_out.c, …), one
 * delivery at a time. Invariant: the offset is stored only after the changes it passes are
 * delivered (or dead-lettered); a change whose mapped fields equal what the connector last
 * synced for that key (its own inbound write coming back) is skipped, so nothing echoes; for a
 * target with that check (a copy of the record, not a feed of events), a record change whose key
 * has a newer change queued behind it is skipped too: the newer one says what the copy must hold.
 */
#include "connectors/conn_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/err.h"

enum { TAG_PREPARE = 1, TAG_STREAM, TAG_DELIVER };

struct out_job {
    struct conn__job j;
    struct conn__target *target;
    bool prepare_inflight, stream_open, deliver_inflight;
    struct conn__req *next_req; /* the next step of the delivery in flight */
    size_t taken;               /* changes the delivery in flight covers */
    size_t single;              /* changes to deliver one by one (a batch was refused) */
    char *offset;               /* last handled event id; NULL: from the beginning */
    char *last_queued;          /* id of the newest queued event */
    uint32_t stream_attempt, attempt;
    uint64_t stream_retry_ms, retry_ms;
    char *line; /* partial SSE line */
    size_t line_len;
    char ev_id[48], ev_name[32];
    char *ev_data;
    json_t *queue;  /* [{id, change, hash?}] in order; hash: what a delivery stores as synced */
    json_t *latest; /* {key: id of its newest queued change} */
    uint64_t superseded; /* record changes skipped for a newer one of their key */
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
            const char *key = json_string_value(json_object_get(ch, "key"));
            if (key)
                json_object_set_new(o->latest, key, json_string(o->ev_id));
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

/* Stores the offset past the first n queued changes and pops them; with an echo check, in the
 * same transaction, what each delivered one synced (its hash; nothing for a delete) and the
 * removal of its key's pending mark (mark_pending). */
static int advance(struct out_job *o, size_t n, bool delivered, uint64_t now)
{
    struct conn_runner *rt = o->j.rt;
    const char *id = json_string_value(json_object_get(json_array_get(o->queue, n - 1), "id"));
    bool echo = o->target->echo_check;
    struct conn_kv *kv = tr_calloc(echo ? 2 * n + 1 : 1, sizeof *kv);
    char okey[256], (*keys)[512] = echo ? tr_calloc(2 * n, sizeof *keys) : NULL;
    size_t m = 0, nk = 0;
    int rc = TR_ENOMEM;
    if (!kv || (echo && !keys))
        goto out;
    offset_key(o, okey, sizeof okey);
    kv[m++] = (struct conn_kv){okey, id};
    for (size_t i = 0; echo && i < n; i++) {
        json_t *e = json_array_get(o->queue, i);
        const char *key = json_string_value(json_object_get(json_object_get(e, "change"), "key"));
        if (!key)
            continue;
        if (delivered) {
            conn__key(keys[nk], sizeof keys[nk], &o->j, "sync", key);
            kv[m++] = (struct conn_kv){keys[nk++], json_string_value(json_object_get(e, "hash"))};
        }
        /* also a mark left by a run that crashed before this change was delivered */
        conn__key(keys[nk], sizeof keys[nk], &o->j, "pend", key);
        kv[m++] = (struct conn_kv){keys[nk++], NULL};
    }
    rc = rt->store->put(rt->store->ctx, kv, m);
out:
    tr_free(kv);
    tr_free(keys);
    if (rc < 0) {
        conn__job_error(&o->j, now, "storing the event offset failed");
        o->retry_ms = now + conn__backoff(&o->j, ++o->attempt, -1);
        return TR_EIO;
    }
    tr_free(o->offset);
    o->offset = tr_strdup(id);
    for (size_t i = 0; i < n; i++) {
        json_t *e = json_array_get(o->queue, 0);
        const char *key = json_string_value(json_object_get(json_object_get(e, "change"), "key"));
        const char *newest = key ? json_string_value(json_object_get(o->latest, key)) : NULL;
        if (newest && strcmp(newest, json_string_value(json_object_get(e, "id"))) == 0)
            json_object_del(o->latest, key);
        json_array_remove(o->queue, 0);
    }
    o->single = o->single > n ? o->single - n : 0;
    o->attempt = 0;
    if (json_array_size(o->queue) == 0)
        o->j.caught_up_ms = now;
    return 0;
}

/* Before a delivery of the first `taken` queued changes is sent: stores, durably, the hash each
 * will store as synced under a pending mark ("pend/<connector>/<key>"), which the inbound job
 * takes as an echo too (conn__synced): the SaaS side may be read back before the delivery is
 * answered, or after a crash before it is sent again. advance removes the marks. */
static int mark_pending(struct out_job *o, size_t taken, uint64_t now)
{
    struct conn_runner *rt = o->j.rt;
    struct conn_kv *kv = tr_calloc(taken, sizeof *kv);
    char(*keys)[512] = tr_calloc(taken, sizeof *keys);
    size_t m = 0;
    int rc = TR_ENOMEM;
    if (kv && keys) {
        for (size_t k = 0; k < taken; k++) {
            json_t *e = json_array_get(o->queue, k);
            const char *key =
                json_string_value(json_object_get(json_object_get(e, "change"), "key"));
            const char *hash = json_string_value(json_object_get(e, "hash"));
            if (!key || !hash)
                continue;
            conn__key(keys[m], sizeof keys[m], &o->j, "pend", key);
            kv[m] = (struct conn_kv){keys[m], hash};
            m++;
        }
        rc = m ? rt->store->put(rt->store->ctx, kv, m) : 0;
    }
    tr_free(kv);
    tr_free(keys);
    if (rc < 0) {
        conn__job_error(&o->j, now, "storing the pending delivery failed");
        o->retry_ms = now + conn__backoff(&o->j, ++o->attempt, -1);
    }
    return rc;
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

/* True when queue entry e is what this connector last synced for its key: skip it. Otherwise
 * sets e's "hash" to what a delivery of it stores (none for a delete). */
static bool in_sync(struct out_job *o, json_t *e, const char *key)
{
    struct conn_runner *rt = o->j.rt;
    const json_t *rec = json_object_get(json_object_get(e, "change"), "record");
    char raw[65], hash[65], skey[512], *synced = NULL;
    json_object_del(e, "hash");
    if (!json_is_object(rec))
        return false; /* a delete: the synced hash is cleared when it is delivered */
    char *proj = conn_map_projection(o->j.cfg, rec);
    if (!proj || roundtrip_hash(o, rec, hash) < 0) {
        free(proj);
        return false;
    }
    conn__hash_hex(rt, proj, raw);
    free(proj);
    const char *pending =
        json_string_value(json_object_get(rt->shared[o->j.conn_index].pending_in, key));
    if ((pending && strcmp(pending, raw) == 0) || conn__in_held(&o->j, key, raw))
        return true; /* this connector's inbound write of that content (a held mark: also one
                      * a crash left unconfirmed), not yet committed */
    conn__key(skey, sizeof skey, &o->j, "sync", key);
    bool same = rt->store->get(rt->store->ctx, skey, &synced) == 0 &&
                (strcmp(synced, raw) == 0 || strcmp(synced, hash) == 0);
    tr_free(synced);
    if (!same)
        json_object_set_new(e, "hash", json_string(hash));
    return same;
}

/* True when queue entry e, a record (not a delete) of `key`, has a newer change of its key
 * queued behind it. Delivering it would put an older version on the SaaS side until the newer
 * one follows — or for good, when the newer one is this connector's own inbound write (an echo,
 * not delivered). A delete is always delivered: the record's later version is then created anew. */
static bool superseded(struct out_job *o, json_t *e, const char *key)
{
    const char *newest = json_string_value(json_object_get(o->latest, key));
    const char *id = json_string_value(json_object_get(e, "id"));
    const char *op = json_string_value(json_object_get(json_object_get(e, "change"), "op"));
    return newest && id && strcmp(newest, id) != 0 && !(op && strcmp(op, "delete") == 0);
}

/* Queue entry i as a change when it can join a delivery: it has a key, is not an echo, has no
 * newer change of its key queued (targets with the echo check) and its key is not among
 * chs[0..n). */
static bool deliverable(struct out_job *o, size_t i, struct conn__change *chs, size_t n)
{
    json_t *e = json_array_get(o->queue, i), *ch = json_object_get(e, "change");
    const char *key = json_string_value(json_object_get(ch, "key"));
    for (size_t k = 0; key && k < n; k++)
        if (strcmp(chs[k].key, key) == 0)
            return false;
    if (key && o->target->echo_check && superseded(o, e, key)) {
        if (i == 0) /* at the head it is skipped now; further back it ends a batch only */
            o->superseded++;
        return false;
    }
    if (!key || (o->target->echo_check && in_sync(o, e, key)))
        return false;
    chs[n] = (struct conn__change){json_string_value(json_object_get(e, "id")), ch, key};
    return true;
}

static enum conn__step deliver_step(struct out_job *o, uint64_t now, struct conn__req **req)
{
    struct conn__target *t = o->target;
    size_t max = o->single ? 1 : t->max_batch;
    struct conn__change *chs = tr_calloc(max, sizeof *chs);
    char err[256];
    if (!chs)
        return CONN__IDLE;
    for (int guard = 0; guard < 1000 && json_array_size(o->queue) > 0; guard++) {
        json_t *head = json_array_get(o->queue, 0), *ch = json_object_get(head, "change");
        const char *id = json_string_value(json_object_get(head, "id"));
        if (!deliverable(o, 0, chs, 0)) {
            bool keyless = !json_is_string(json_object_get(ch, "key"));
            if (keyless)
                conn__dead_letter(&o->j, id, "event without a key", ch);
            else
                o->j.skipped++;
            if (advance(o, 1, false, now) < 0)
                break;
            continue;
        }
        size_t n = 1, taken = 1;
        while (n < max && n < json_array_size(o->queue) && deliverable(o, n, chs, n))
            n++;
        *req = t->ops->start(t, chs, n, &taken, err, sizeof err);
        if (*req && o->target->echo_check && mark_pending(o, taken, now) < 0) {
            conn__req_free(*req);
            *req = NULL;
            break;
        }
        if (*req) {
            (*req)->tag = TAG_DELIVER;
            o->taken = taken;
            tr_free(chs);
            return CONN__SEND;
        }
        conn__dead_letter(&o->j, id, err, ch);
        if (advance(o, 1, false, now) < 0)
            break;
    }
    tr_free(chs);
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
    if (o->next_req) {
        *req = o->next_req;
        (*req)->tag = TAG_DELIVER;
        o->next_req = NULL;
        return CONN__SEND;
    }
    if (o->deliver_inflight || o->prepare_inflight || json_array_size(o->queue) == 0) {
        snprintf(j->state, sizeof j->state, "%s",
                 json_array_size(o->queue) ? "delivering" : "idle");
        *until = wake;
        return wake == UINT64_MAX ? CONN__IDLE : CONN__WAIT;
    }
    if (o->retry_ms > now) {
        *until = o->retry_ms < wake ? o->retry_ms : wake;
        return CONN__WAIT;
    }
    /* Until the inbound job has read its first page, a change it wrote before a restart could
     * not be told from a new one: wait for it. */
    if ((j->cfg->direction & CONN_DIR_INBOUND) && !j->rt->shared[j->conn_index].inbound_primed)
        return CONN__IDLE;
    uint64_t ready = 0;
    if ((*req = o->target->ops->prepare(o->target, now, &ready)) != NULL) {
        (*req)->tag = TAG_PREPARE;
        o->prepare_inflight = true;
        return CONN__SEND;
    }
    if (ready > now) {
        *until = ready < wake ? ready : wake;
        return CONN__WAIT;
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
    char reason[300] = "";
    struct conn__req *next = NULL;
    enum conn__verdict v =
        o->target->ops->answer(o->target, req, now, &next, reason, sizeof reason);
    if (v == CONN__V_NEXT && next) {
        o->next_req = next;
        o->deliver_inflight = true;
        return;
    }
    conn__req_free(next);
    switch (v) {
    case CONN__V_DONE:
        o->j.records += o->taken;
        advance(o, o->taken, true, now);
        return;
    case CONN__V_REAUTH:
        conn__job_error(&o->j, now, "%s", reason);
        return;
    case CONN__V_LIMITED:
        o->retry_ms = now + conn__backoff(&o->j, ++o->attempt, req->retry_after_ms);
        conn__job_error(&o->j, now, "event %s: %s; rate limited, retrying", id, reason);
        return;
    case CONN__V_RETRY:
    case CONN__V_NEXT: /* a NEXT without a request: retry the delivery */
        if (o->attempt + 1 < o->j.rt->cfg->limits.max_attempts) {
            o->retry_ms = now + conn__backoff(&o->j, ++o->attempt, req->retry_after_ms);
            conn__job_error(&o->j, now, "event %s: %s; retrying", id, reason);
            return;
        }
        break;
    case CONN__V_DEAD:
        break;
    }
    if (o->taken > 1) {
        o->single = o->taken; /* find the change the batch failed on */
        conn__job_error(&o->j, now, "event %s: %s; delivering the batch one change at a time", id,
                        reason);
        return;
    }
    conn__dead_letter(&o->j, id, reason, json_object_get(head, "change"));
    advance(o, 1, false, now);
}

static void out_handle(struct conn__job *j, struct conn__req *req, uint64_t now)
{
    struct out_job *o = SELF(j);
    if (req->tag == TAG_PREPARE) {
        o->prepare_inflight = false;
        if (o->target->ops->prepared)
            o->target->ops->prepared(o->target, req, now);
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
    json_object_set_new(out, "superseded", json_integer((json_int_t)o->superseded));
}

static void out_destroy(struct conn__job *j)
{
    struct out_job *o = SELF(j);
    if (o->target)
        o->target->ops->destroy(o->target);
    conn__req_free(o->next_req);
    tr_free(o->offset);
    tr_free(o->last_queued);
    tr_free(o->line);
    ev_reset(o);
    json_decref(o->queue);
    json_decref(o->latest);
    tr_free(o);
}

static const struct conn__job_ops out_ops = {
    "outbound", out_next, out_handle, out_data, out_status, out_destroy,
};

static int target_create(struct conn__job *j, struct conn__target **out)
{
    switch (j->cfg->kind) {
    case CONN_KIND_SALESFORCE:
        return conn__sf_target_create(j, out);
    case CONN_KIND_WEBHOOK:
        return conn__hook_target_create(j, out);
    case CONN_KIND_HUBSPOT:
        return conn__hs_target_create(j, out);
    case CONN_KIND_DYNAMICS:
        return conn__dyn_target_create(j, out);
    case CONN_KIND_SAP:
        return conn__sap_target_create(j, out);
    }
    return TR_EINVAL;
}

int conn__out_create(struct conn_runner *rt, size_t ci, struct conn__job **out)
{
    struct out_job *o = tr_calloc(1, sizeof *o);
    if (!o || !(o->queue = json_array()) || !(o->latest = json_object())) {
        if (o)
            json_decref(o->queue);
        tr_free(o);
        return TR_ENOMEM;
    }
    o->j.ops = &out_ops, o->j.rt = rt, o->j.cfg = &rt->cfg->connectors[ci];
    o->j.conn_index = ci;
    snprintf(o->j.state, sizeof o->j.state, "starting");
    char key[256];
    offset_key(o, key, sizeof key);
    int rc = rt->store->get(rt->store->ctx, key, &o->offset);
    if ((rc < 0 && rc != TR_ENOTFOUND) || (rc = target_create(&o->j, &o->target)) < 0) {
        out_destroy(&o->j);
        return rc;
    }
    *out = &o->j;
    return 0;
}
