/* sf_in.c — Salesforce inbound job: SOQL incremental reads on SystemModstamp (queryAll, so
 * deletes come as IsDeleted rows), paging with nextRecordsUrl, each record written to the ledger
 * with an Idempotency-Key derived from (connector, record Id, SystemModstamp).
 * Invariant: the cursor (stamp|Id of a page's last record) is stored only after every record of
 * that page is committed in the ledger or dead-lettered; a crash re-reads from the cursor and
 * the idempotency keys make the node answer the first results, so nothing is lost or doubled. */
#include "connectors/conn_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/err.h"

enum { TAG_TOKEN = 1, TAG_QUERY, TAG_PUT, TAG_CREATE, TAG_DELETE };
enum rec_state { REC_PENDING, REC_INFLIGHT, REC_DONE };

struct rec {
    enum rec_state state;
    int phase; /* TAG_PUT, TAG_CREATE or TAG_DELETE: the next write to send */
    uint32_t attempt;
    uint64_t retry_at_ms;
    char hash[65]; /* projection hash of a written record; "" when nothing to store */
    bool write_hash, clear_hash;
};

struct sf_in {
    struct conn__job j;
    struct conn__sf_auth auth;
    struct conn__in in; /* its cursor: "stamp|Id" */
    bool token_inflight;
    char *next_url; /* nextRecordsUrl of the query being read; NULL: start a query */
    json_t *page;   /* records of the page being written */
    struct rec *recs;
    size_t nrecs, next_rec, done;
};

#define SELF(job) ((struct sf_in *)(job))

static void cursor_key(struct sf_in *s, char *buf, size_t size)
{
    conn__key(buf, size, &s->j, "cursor", "inbound");
}

static const char *rec_str(const json_t *rec, const char *field)
{
    return json_string_value(json_object_get(rec, field));
}

/* True when (stamp, id) is at or before the stored cursor "stamp|id". */
static bool before_cursor(const char *cursor, const char *stamp, const char *id)
{
    if (!cursor)
        return false;
    const char *bar = strchr(cursor, '|');
    size_t sl = bar ? (size_t)(bar - cursor) : strlen(cursor);
    int c = strncmp(stamp, cursor, sl);
    if (c == 0 && strlen(stamp) != sl)
        c = strlen(stamp) < sl ? -1 : 1;
    if (c != 0)
        return c < 0;
    return bar && strcmp(id, bar + 1) <= 0;
}

static struct conn__req *query_req(struct sf_in *s)
{
    const struct conn_cfg_connector *c = s->j.cfg;
    char url[16384];
    if (s->next_url) {
        snprintf(url, sizeof url, "%s%s", s->auth.instance_url, s->next_url);
    } else {
        char soql[8192], where[256] = "";
        size_t n = (size_t)snprintf(soql, sizeof soql, "SELECT Id,SystemModstamp,IsDeleted");
        for (size_t i = 0; i < c->nfields && n < sizeof soql; i++)
            if (c->fields[i].saas)
                n += (size_t)snprintf(soql + n, sizeof soql - n, ",%s", c->fields[i].saas);
        if (s->in.cursor) {
            const char *bar = strchr(s->in.cursor, '|');
            snprintf(where, sizeof where, " WHERE SystemModstamp >= %.*s",
                     (int)(bar ? bar - s->in.cursor : (long)strlen(s->in.cursor)), s->in.cursor);
        }
        snprintf(soql + n, sizeof soql - n, " FROM %s%s ORDER BY SystemModstamp ASC, Id ASC",
                 c->object, where);
        char *q = conn__urlencode(soql);
        if (!q)
            return NULL;
        snprintf(url, sizeof url, "%s/services/data/v%s/queryAll?q=%s", s->auth.instance_url,
                 c->api_version, q);
        tr_free(q);
    }
    struct conn__req *r = conn__req_new(&s->j, "GET", url, TAG_QUERY);
    if (r && (conn__req_header(r, "Authorization: Bearer %s", s->auth.token) < 0 ||
              conn__req_header(r, "Sforce-Query-Options: batchSize=%u",
                               s->j.rt->cfg->limits.page_size) < 0)) {
        conn__req_free(r);
        return NULL;
    }
    return r;
}

static void page_free(struct sf_in *s)
{
    json_decref(s->page);
    tr_free(s->recs);
    s->page = NULL, s->recs = NULL;
    s->nrecs = s->next_rec = s->done = 0;
}

/* Record i is pending again: dispatching must look at it (and at every pending one after it). */
static void rewind_to(struct sf_in *s, size_t i)
{
    if (i < s->next_rec)
        s->next_rec = i;
}

static void rec_done(struct sf_in *s, size_t i)
{
    s->recs[i].state = REC_DONE;
    s->done++;
}

/* The Idempotency-Key of a record's write: connector, source id, modification stamp, phase. */
static void idem_key(struct sf_in *s, const json_t *rec, int phase, char *buf, size_t size)
{
    snprintf(buf, size, "treaty-connect/%s/%.64s/%.64s%s", s->j.cfg->name, rec_str(rec, "Id"),
             rec_str(rec, "SystemModstamp"), phase == TAG_CREATE ? "/create" : "");
}

static struct conn__req *write_req(struct sf_in *s, size_t i, const char *key, json_t *body)
{
    int phase = s->recs[i].phase;
    char ik[300];
    idem_key(s, json_array_get(s->page, i), phase, ik, sizeof ik);
    return conn__in_write_req(&s->j,
                              phase == TAG_CREATE ? CONN__IN_CREATE
                              : phase == TAG_PUT  ? CONN__IN_PUT
                                                  : CONN__IN_DELETE,
                              key, ik, body, phase, i);
}

/* Decides what record i needs; returns a request, or NULL when it was settled without one. */
static struct conn__req *rec_dispatch(struct sf_in *s, size_t i)
{
    struct conn_runner *rt = s->j.rt;
    const struct conn_cfg_connector *c = s->j.cfg;
    const json_t *rec = json_array_get(s->page, i);
    const char *id = rec_str(rec, "Id"), *stamp = rec_str(rec, "SystemModstamp");
    const char *key = rec_str(rec, c->external_id);
    struct rec *r = &s->recs[i];
    char err[256];
    if (!id || !stamp || !key || !*key) {
        conn__dead_letter(
            &s->j, id ? id : "?",
            key ? "record without SystemModstamp or Id" : "record has no external id value", rec);
        rec_done(s, i);
        return NULL;
    }
    if (json_is_true(json_object_get(rec, "IsDeleted"))) {
        r->phase = TAG_DELETE, r->clear_hash = true;
        return write_req(s, i, key, NULL);
    }
    json_t *body = NULL;
    if (conn__map_hash(&s->j, rec, &body, r->hash, err, sizeof err) < 0) {
        conn__dead_letter(&s->j, id, err, rec);
        rec_done(s, i);
        return NULL;
    }
    if (conn__synced(&s->j, key,
                     r->hash)) { /* what the ledger already holds from this connector: an echo */
        s->j.skipped++;
        json_decref(body);
        rec_done(s, i);
        return NULL;
    }
    json_object_set_new(rt->shared[s->j.conn_index].pending_in, key, json_string(r->hash));
    if (r->phase != TAG_CREATE)
        r->phase = TAG_PUT;
    r->write_hash = true;
    struct conn__req *req = write_req(s, i, key, body);
    json_decref(body);
    return req;
}

/* Stores the cursor and the synced hashes of a finished page in one transaction. */
static int page_commit(struct sf_in *s, uint64_t now)
{
    struct conn_runner *rt = s->j.rt;
    const struct conn_cfg_connector *c = s->j.cfg;
    size_t n = 0;
    struct conn_kv *kv = tr_calloc(s->nrecs + 1, sizeof *kv);
    char(*keys)[512] = tr_calloc(s->nrecs + 1, sizeof *keys);
    char cursor[300];
    int rc = TR_ENOMEM;
    if (!kv || !keys)
        goto out;
    const json_t *last = json_array_get(s->page, s->nrecs - 1);
    snprintf(cursor, sizeof cursor, "%.128s|%.64s", rec_str(last, "SystemModstamp"),
             rec_str(last, "Id"));
    cursor_key(s, keys[n], sizeof keys[n]);
    kv[n].key = keys[n], kv[n].val = cursor, n++;
    for (size_t i = 0; i < s->nrecs; i++) {
        const char *key = rec_str(json_array_get(s->page, i), c->external_id);
        if (!key || !(s->recs[i].write_hash || s->recs[i].clear_hash))
            continue;
        conn__key(keys[n], sizeof keys[n], &s->j, "sync", key);
        kv[n].key = keys[n], kv[n].val = s->recs[i].clear_hash ? NULL : s->recs[i].hash, n++;
    }
    rc = conn__in_commit(&s->j, &s->in, kv, n);
    if (rc < 0) {
        conn__job_error(&s->j, now, "storing the cursor failed");
        goto out;
    }
    for (size_t i = 0; i < s->nrecs; i++) {
        const char *key = rec_str(json_array_get(s->page, i), c->external_id);
        if (key)
            json_object_del(rt->shared[s->j.conn_index].pending_in, key);
    }
    tr_free(s->in.cursor);
    s->in.cursor = tr_strdup(cursor);
out:
    tr_free(kv);
    tr_free(keys);
    return rc;
}

static enum conn__step page_step(struct sf_in *s, uint64_t now, struct conn__req **req,
                                 uint64_t *until)
{
    uint64_t wake = UINT64_MAX;
    while (s->next_rec < s->nrecs && s->j.inflight < s->j.rt->cfg->limits.max_inflight) {
        size_t i = s->next_rec++;
        if (s->recs[i].state != REC_PENDING)
            continue;
        struct conn__req *r = rec_dispatch(s, i);
        if (r) {
            s->recs[i].state = REC_INFLIGHT;
            *req = r;
            return CONN__SEND;
        }
    }
    for (size_t i = 0; i < s->nrecs; i++) /* retries waiting for their backoff */
        if (s->recs[i].state == REC_PENDING && s->recs[i].retry_at_ms) {
            if (s->recs[i].retry_at_ms <= now &&
                s->j.inflight < s->j.rt->cfg->limits.max_inflight) {
                s->recs[i].retry_at_ms = 0;
                rewind_to(s, i);
                return page_step(s, now, req, until);
            }
            if (s->recs[i].retry_at_ms < wake)
                wake = s->recs[i].retry_at_ms;
        }
    if (s->done < s->nrecs) {
        *until = wake;
        return wake == UINT64_MAX ? CONN__IDLE : CONN__WAIT;
    }
    if (page_commit(s, now) < 0)
        return conn__in_retry_page(&s->j, &s->in, now, until);
    page_free(s);
    if (!s->next_url) /* caught up: poll again later */
        conn__in_caught_up(&s->j, &s->in, now);
    return CONN__IDLE; /* the caller asks again: next query or wait */
}

static enum conn__step sf_in_next(struct conn__job *j, uint64_t now, struct conn__req **req,
                                  uint64_t *until)
{
    struct sf_in *s = SELF(j);
    if (j->rt->stopping)
        return CONN__IDLE;
    if (s->page) {
        enum conn__step st = conn__in_hold_gate(j, &s->in, now, until);
        if (st == CONN__SEND)
            st = page_step(s, now, req, until);
        if (st != CONN__IDLE || s->page)
            return st;
    }
    enum conn__step gate = conn__in_gate(&s->in, now, s->auth.retry_at_ms, until);
    if (gate != CONN__SEND || s->token_inflight)
        return gate == CONN__SEND ? CONN__IDLE : gate;
    if (!s->auth.token) {
        snprintf(j->state, sizeof j->state, "authenticating");
        *req = conn__sf_token_req(j, &s->auth, TAG_TOKEN);
        s->token_inflight = *req != NULL;
        return *req ? CONN__SEND : CONN__IDLE;
    }
    return conn__in_read(j, &s->in, "reading", query_req(s), req);
}

static void retry_later(struct sf_in *s, const struct conn__req *req, uint64_t now)
{
    conn__in_backoff(&s->j, &s->in, now, req->retry_after_ms);
}

static void on_query(struct sf_in *s, struct conn__req *req, uint64_t now)
{
    char code[64], msg[200];
    if (req->status == 401) { /* expired or revoked session: fetch a new token, same page */
        conn__sf_auth_clear(&s->auth);
        conn__job_error(&s->j, now, "salesforce session expired (401); fetching a new token");
        return;
    }
    if (req->status != 200) {
        conn__sf_error(req, code, sizeof code, msg, sizeof msg);
        conn__job_error(&s->j, now, "salesforce query: HTTP %ld %s %s", req->status, code, msg);
        if (s->next_url && (req->status == 400 || req->status == 404)) {
            /* A query locator expires (INVALID_QUERY_LOCATOR): query again from the cursor,
             * which covers every record not yet settled. */
            tr_free(s->next_url);
            s->next_url = NULL;
        }
        retry_later(s, req, now); /* REQUEST_LIMIT_EXCEEDED (403), 5xx, transport, bad query */
        return;
    }
    json_t *doc = json_loads(req->resp ? req->resp : "", 0, NULL);
    json_t *recs = json_object_get(doc, "records");
    const char *next = json_string_value(json_object_get(doc, "nextRecordsUrl"));
    if (!json_is_array(recs) || (!json_is_true(json_object_get(doc, "done")) && !next)) {
        conn__job_error(&s->j, now, "salesforce query: answer without records/nextRecordsUrl");
        json_decref(doc);
        retry_later(s, req, now);
        return;
    }
    s->in.attempt = 0;
    tr_free(s->next_url);
    s->next_url = next ? tr_strdup(next) : NULL;
    s->page = json_incref(recs);
    s->nrecs = json_array_size(recs);
    s->recs = tr_calloc(s->nrecs ? s->nrecs : 1, sizeof *s->recs);
    for (size_t i = 0; i < s->nrecs; i++) {
        const json_t *r = json_array_get(recs, i);
        const char *st = rec_str(r, "SystemModstamp"), *id = rec_str(r, "Id");
        const char *key = rec_str(r, s->j.cfg->external_id);
        json_t *body = NULL;
        char hash[65], err[256];
        if (st && id && before_cursor(s->in.cursor, st, id)) {
            rec_done(s, i); /* handled before the cursor was stored: nothing to do */
        } else if (key && conn__map_hash(&s->j, r, &body, hash, err, sizeof err) == 0) {
            /* Announced at once, so the outbound job recognises this page's writes, also
             * those made before a crash that this page now repeats. */
            conn__in_announce(&s->j, &s->in, key, hash);
            json_decref(body);
        }
    }
    conn__in_hold(&s->j, &s->in); /* on failure, conn__in_hold_gate tries again */
    s->j.rt->shared[s->j.conn_index].inbound_primed = true;
    if (s->nrecs == 0) {
        page_free(s);
        s->j.caught_up_ms = now;
        s->in.wait_until_ms = now + s->j.cfg->poll_interval_ms;
    }
    json_decref(doc);
}

static void on_write(struct sf_in *s, struct conn__req *req, uint64_t now)
{
    size_t i = req->index;
    struct rec *r = &s->recs[i];
    const json_t *rec = json_array_get(s->page, i);
    char reason[300];
    if (req->tag == TAG_PUT && req->status == 404) {
        r->phase = TAG_CREATE, r->state = REC_PENDING; /* not there: create it */
        rewind_to(s, i);
        return;
    }
    if (req->status >= 200 && req->status < 300) {
        s->j.records++;
        rec_done(s, i);
        return;
    }
    if (req->tag == TAG_DELETE && req->status == 404) {
        rec_done(s, i); /* already gone */
        return;
    }
    conn__in_ledger_reason(req, reason, sizeof reason);
    if (conn__in_write_failed(&s->j, req, now, &r->attempt, &r->retry_at_ms, "record",
                              rec_str(rec, "Id"), rec, reason)) {
        r->state = REC_PENDING;
        return;
    }
    r->write_hash = false, r->clear_hash = false;
    rec_done(s, i);
}

static void sf_in_handle(struct conn__job *j, struct conn__req *req, uint64_t now)
{
    struct sf_in *s = SELF(j);
    if (req->tag == TAG_TOKEN) {
        s->token_inflight = false;
        conn__sf_token_handle(j, &s->auth, req, now);
    } else if (req->tag == TAG_QUERY) {
        s->in.reading = false;
        on_query(s, req, now);
    } else if (s->page) {
        on_write(s, req, now);
    }
}

static void sf_in_status(struct conn__job *j, json_t *out)
{
    conn__in_status(&SELF(j)->in, out, SELF(j)->nrecs);
}

static void sf_in_destroy(struct conn__job *j)
{
    struct sf_in *s = SELF(j);
    page_free(s);
    conn__sf_auth_clear(&s->auth);
    tr_free(s->next_url);
    conn__in_close(&s->in);
    tr_free(s);
}

static const struct conn__job_ops sf_in_ops = {
    "inbound", sf_in_next, sf_in_handle, conn__in_data, sf_in_status, sf_in_destroy,
};

int conn__sf_in_create(struct conn_runner *rt, size_t ci, struct conn__job **out)
{
    struct sf_in *s = tr_calloc(1, sizeof *s);
    if (!s)
        return TR_ENOMEM;
    int rc = conn__in_init(&s->j, &s->in, &sf_in_ops, rt, ci);
    if (rc < 0) {
        tr_free(s);
        return rc;
    }
    *out = &s->j;
    return 0;
}
