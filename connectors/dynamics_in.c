/* dynamics_in.c — Dynamics 365 inbound job: Dataverse change tracking. A full sync
 * (GET <entityset>?$select=… with Prefer: odata.track-changes) is read page by page through
 * @odata.nextLink; its last page carries @odata.deltaLink, and later polls GET that link for the
 * rows changed and deleted since. Each row is written to the ledger with an Idempotency-Key
 * derived from (connector, primary id, row version of @odata.etag).
 * Invariant: the link a read starts from (the nextLink of a page, or the deltaLink of the last
 * one) is stored as the cursor only after every row of that page is committed in the ledger or
 * dead-lettered, in one transaction with the page's synced hashes and guid -> key map entries.
 * A crash resumes at the stored link (mid-sync: the next page of the same sync) and replays at
 * most one page, which the idempotency keys make harmless. */
#include "connectors/dynamics.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/alloc.h"
#include "common/err.h"

enum { TAG_TOKEN = 1, TAG_READ, TAG_PUT, TAG_CREATE, TAG_DELETE };
enum row_state { ROW_PENDING, ROW_SENT, ROW_SETTLED };
enum row_store { STORE_NONE, STORE_HASH, STORE_CLEAR };

struct drow {
    enum row_state state;
    int write; /* TAG_PUT, TAG_CREATE or TAG_DELETE once decided; 0 before */
    enum row_store store;
    uint32_t attempt;
    uint64_t retry_at_ms;
    char hash[65];
    char *key;  /* the ledger key (owned): the alternate key, or the map's entry for a delete */
    bool unmap; /* a delete: the commit drops the guid's map entry */
    /* Rows of one page sharing a ledger key (a row deleted and one created with its alternate
     * key) are written in page order: 1 + the index of the previous / next such row, 0: none. */
    size_t prev, next;
};

struct dyn_in {
    struct conn__job j;
    struct conn__dyn_auth auth;
    struct conn__in in; /* its cursor: the stored link */
    char *link;         /* what the next read GETs: a nextLink or the deltaLink; NULL: full sync */
    json_t *rows;       /* the page being written */
    struct drow *st;
    size_t n, scan, settled;
    char *after;   /* the link stored once the page is settled */
    bool complete; /* the page carried the deltaLink: the sync is caught up after it */
};

#define SELF(job) ((struct dyn_in *)(job))

static const char *str_of(const json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

static void cursor_key(const struct dyn_in *s, char *buf, size_t size)
{
    conn__key(buf, size, &s->j, "cursor", "inbound");
}

/* A row of a delta answer that reports a deletion ({"@odata.context": "…$deletedEntity", "id",
 * "reason": "deleted"}). */
static bool row_deleted(const json_t *row)
{
    const char *ctx = str_of(row, "@odata.context");
    return (ctx && strstr(ctx, "$deletedEntity")) || json_object_get(row, "reason") != NULL;
}

static const char *row_guid(const struct dyn_in *s, const json_t *row)
{
    return row_deleted(row) ? str_of(row, "id") : str_of(row, s->j.cfg->dynamics->id_attribute);
}

/* The row version of an etag W/"12345": its digits ("" when there are none). */
static void etag_version(const char *etag, char *buf, size_t size)
{
    size_t n = 0;
    for (const char *p = etag ? etag : ""; *p && n + 1 < size; p++)
        if (*p >= '0' && *p <= '9')
            buf[n++] = *p;
    buf[n] = '\0';
}

/* The URL of a full sync: the entity set with the primary id and every mapped attribute. */
static char *full_sync_url(const struct dyn_in *s)
{
    const struct conn_cfg_connector *c = s->j.cfg;
    size_t cap = 2048;
    for (size_t i = 0; i < c->nfields; i++)
        cap += c->fields[i].saas ? strlen(c->fields[i].saas) + 1 : 0;
    char *url = tr_malloc(cap);
    if (!url)
        return NULL;
    conn__dyn_base(c, url, 1024);
    size_t n = strlen(url);
    n += (size_t)snprintf(url + n, cap - n, "?$select=%s", c->dynamics->id_attribute);
    for (size_t i = 0; i < c->nfields; i++)
        if (c->fields[i].saas)
            n += (size_t)snprintf(url + n, cap - n, ",%s", c->fields[i].saas);
    return url;
}

static struct conn__req *read_req(struct dyn_in *s)
{
    char *fresh = s->link ? NULL : full_sync_url(s);
    const char *url = s->link ? s->link : fresh;
    struct conn__req *r = url ? conn__req_new(&s->j, "GET", url, TAG_READ) : NULL;
    tr_free(fresh);
    if (r && (conn__dyn_headers(r, &s->auth) < 0 ||
              conn__req_header(r, "Prefer: odata.track-changes, odata.maxpagesize=%u",
                               s->j.rt->cfg->limits.page_size) < 0)) {
        conn__req_free(r);
        return NULL;
    }
    return r;
}

static void page_drop(struct dyn_in *s)
{
    for (size_t i = 0; i < s->n; i++)
        tr_free(s->st[i].key);
    tr_free(s->st);
    tr_free(s->after);
    json_decref(s->rows);
    s->st = NULL, s->rows = NULL, s->after = NULL;
    s->n = s->scan = s->settled = 0;
}

static void settle(struct dyn_in *s, size_t i)
{
    s->st[i].state = ROW_SETTLED;
    s->settled++;
    if (s->st[i].next && s->st[i].next - 1 < s->scan)
        s->scan = s->st[i].next - 1; /* the next write of that key may go now */
}

/* The ledger body of a changed row (owned by the caller), with the hash of its projection — what
 * the echo check compares — in hash; NULL with err set when the row cannot be mapped. */
static json_t *row_body(struct dyn_in *s, const json_t *row, char hash[65], char *err,
                        size_t errlen)
{
    json_t *body = NULL;
    char *proj = NULL;
    if (conn_map_inbound(s->j.cfg, row, &body, err, errlen) == 0 &&
        !(proj = conn_map_projection(s->j.cfg, body)))
        snprintf(err, errlen, "out of memory");
    if (proj)
        conn__hash_hex(s->j.rt, proj, hash);
    else
        json_decref(body);
    free(proj);
    return proj ? body : NULL;
}

static struct conn__req *ledger_write(struct dyn_in *s, size_t i, const json_t *body)
{
    const json_t *row = json_array_get(s->rows, i);
    struct drow *d = &s->st[i];
    char ik[400], ver[64];
    etag_version(str_of(row, "@odata.etag"), ver, sizeof ver);
    snprintf(ik, sizeof ik, "treaty-connect/%s/%.64s/%s%s", s->j.cfg->name, row_guid(s, row),
             d->write == TAG_DELETE ? "deleted" : ver, d->write == TAG_CREATE ? "/create" : "");
    return conn__in_write_req(&s->j,
                              d->write == TAG_CREATE ? CONN__IN_CREATE
                              : d->write == TAG_PUT  ? CONN__IN_PUT
                                                     : CONN__IN_DELETE,
                              d->key, ik, body, d->write, i);
}

/* A deleted row: its ledger key came from the guid map the connector keeps (chain_keys). */
static struct conn__req *dispatch_delete(struct dyn_in *s, size_t i)
{
    struct drow *d = &s->st[i];
    if (!d->key) {
        s->j.skipped++; /* never synced (created and deleted between two polls): nothing to do */
        settle(s, i);
        return NULL;
    }
    d->write = TAG_DELETE, d->store = STORE_CLEAR, d->unmap = true;
    return ledger_write(s, i, NULL);
}

/* Decides what row i needs: a request, or NULL when it was settled without one. */
static struct conn__req *dispatch(struct dyn_in *s, size_t i)
{
    struct conn_runner *rt = s->j.rt;
    const json_t *row = json_array_get(s->rows, i);
    const char *guid = row_guid(s, row), *key = str_of(row, s->j.cfg->external_id);
    struct drow *d = &s->st[i];
    char err[256];
    if (!guid || !*guid || strlen(guid) > 64) {
        conn__dead_letter(&s->j, "?", "row without its primary id", row);
        settle(s, i);
        return NULL;
    }
    if (row_deleted(row))
        return dispatch_delete(s, i);
    if (!key || !*key) {
        conn__dead_letter(&s->j, guid, "row has no alternate key value", row);
        settle(s, i);
        return NULL;
    }
    json_t *body = row_body(s, row, d->hash, err, sizeof err);
    if (!body) {
        conn__dead_letter(&s->j, guid, err, row);
        settle(s, i);
        return NULL;
    }
    if (!d->key && !(d->key = tr_strdup(key))) {
        json_decref(body);
        return NULL;
    }
    d->store = STORE_HASH;
    /* After an earlier write of the key on this page (a delete) the stored hash is stale. */
    if (!d->prev &&
        conn__synced(&s->j, key, d->hash)) { /* what the ledger already holds from this connector */
        s->j.skipped++;
        json_decref(body);
        settle(s, i);
        return NULL;
    }
    json_object_set_new(rt->shared[s->j.conn_index].pending_in, key, json_string(d->hash));
    if (d->write != TAG_CREATE)
        d->write = TAG_PUT;
    struct conn__req *r = ledger_write(s, i, body);
    json_decref(body);
    return r;
}

/* Fills kv (2 per row + 1) for the commit of a settled page; returns the count. */
static size_t commit_pairs(struct dyn_in *s, struct conn_kv *kv, char (*keys)[512])
{
    size_t n = 1;
    for (size_t i = 0; i < s->n; i++) {
        const json_t *row = json_array_get(s->rows, i);
        const struct drow *d = &s->st[i];
        const char *guid = row_guid(s, row);
        if (d->store != STORE_NONE) {
            conn__key(keys[n], sizeof keys[n], &s->j, "sync", d->key);
            kv[n].key = keys[n];
            kv[n++].val = d->store == STORE_HASH ? d->hash : NULL;
        }
        if (d->key && guid) {
            conn__key(keys[n], sizeof keys[n], &s->j, "dmap", guid);
            kv[n].key = keys[n];
            kv[n++].val = d->unmap ? NULL : d->key;
        }
    }
    return n;
}

/* Stores the page's link with its hashes and map entries in one transaction. */
static int page_commit(struct dyn_in *s, uint64_t now)
{
    struct conn_runner *rt = s->j.rt;
    struct conn_kv *kv = tr_calloc(2 * s->n + 1, sizeof *kv);
    char(*keys)[512] = tr_calloc(2 * s->n + 1, sizeof *keys);
    int rc = TR_ENOMEM;
    if (kv && keys) {
        cursor_key(s, keys[0], sizeof keys[0]);
        kv[0].key = keys[0], kv[0].val = s->after;
        rc = conn__in_commit(&s->j, &s->in, kv, commit_pairs(s, kv, keys));
    }
    tr_free(kv);
    tr_free(keys);
    if (rc < 0) {
        conn__job_error(&s->j, now, "storing the cursor failed");
        return rc;
    }
    json_t *pending = rt->shared[s->j.conn_index].pending_in;
    for (size_t i = 0; i < s->n; i++)
        if (s->st[i].key)
            json_object_del(pending, s->st[i].key);
    tr_free(s->in.cursor);
    tr_free(s->link);
    s->in.cursor = tr_strdup(s->after);
    s->link = tr_strdup(s->after);
    return 0;
}

/* After a commit: the next page at once, or a poll of the delta link later. */
static void page_done(struct dyn_in *s, uint64_t now)
{
    bool complete = s->complete;
    page_drop(s);
    if (complete)
        conn__in_caught_up(&s->j, &s->in, now);
}

/* Row i is pending again (a retry or a create after a 404): the scan must look at it. */
static void reconsider(struct dyn_in *s, size_t i)
{
    s->st[i].state = ROW_PENDING;
    if (i < s->scan)
        s->scan = i;
}

static enum conn__step page_step(struct dyn_in *s, uint64_t now, struct conn__req **req,
                                 uint64_t *until)
{
    uint32_t cap = s->j.rt->cfg->limits.max_inflight;
    uint64_t wake = UINT64_MAX;
    for (size_t i = 0; i < s->n; i++) /* retries whose backoff is over */
        if (s->st[i].state == ROW_PENDING && s->st[i].retry_at_ms) {
            if (s->st[i].retry_at_ms <= now) {
                s->st[i].retry_at_ms = 0;
                reconsider(s, i);
            } else if (s->st[i].retry_at_ms < wake) {
                wake = s->st[i].retry_at_ms;
            }
        }
    for (; s->scan < s->n && s->j.inflight < cap; s->scan++) {
        struct drow *d = &s->st[s->scan];
        if (d->state != ROW_PENDING || d->retry_at_ms ||
            (d->prev && s->st[d->prev - 1].state != ROW_SETTLED))
            continue;
        struct conn__req *r = dispatch(s, s->scan);
        if (r) {
            d->state = ROW_SENT;
            *req = r;
            s->scan++;
            return CONN__SEND;
        }
    }
    if (s->settled < s->n) {
        *until = wake;
        return wake == UINT64_MAX ? CONN__IDLE : CONN__WAIT;
    }
    if (page_commit(s, now) < 0)
        return conn__in_retry_page(&s->j, &s->in, now, until);
    page_done(s, now);
    return CONN__IDLE;
}

static enum conn__step dyn_in_next(struct conn__job *j, uint64_t now, struct conn__req **req,
                                   uint64_t *until)
{
    struct dyn_in *s = SELF(j);
    if (j->rt->stopping)
        return CONN__IDLE;
    if (s->rows) {
        enum conn__step st = conn__in_hold_gate(j, &s->in, now, until);
        if (st == CONN__SEND)
            st = page_step(s, now, req, until);
        if (st != CONN__IDLE || s->rows)
            return st;
    }
    enum conn__step gate = conn__in_gate(&s->in, now, s->auth.retry_at_ms, until);
    if (gate != CONN__SEND || s->auth.inflight)
        return gate == CONN__SEND ? CONN__IDLE : gate;
    if (conn__dyn_auth_due(&s->auth, now)) {
        snprintf(j->state, sizeof j->state, "authenticating");
        *req = conn__dyn_token_req(j, &s->auth, TAG_TOKEN);
        return *req ? CONN__SEND : CONN__IDLE;
    }
    return conn__in_read(j, &s->in, "reading", read_req(s), req);
}

/* True when link points into the configured org's Web API: the bearer token is only ever sent
 * there, whatever URL an answer names. The scheme and host compare without case. */
static bool own_link(const struct dyn_in *s, const char *link)
{
    const char *org = s->j.cfg->dynamics->org_url;
    size_t n = strlen(org);
    return strncasecmp(link, org, n) == 0 && link[n] == '/';
}

/* Resolves each row's ledger key (a delete's through the guid map) and links the rows that
 * share one, so their writes go in page order. */
static int chain_keys(struct dyn_in *s)
{
    struct conn_runner *rt = s->j.rt;
    json_t *last = json_object();
    int rc = last ? 0 : TR_ENOMEM;
    for (size_t i = 0; rc == 0 && i < s->n; i++) {
        const json_t *row = json_array_get(s->rows, i);
        const char *guid = row_guid(s, row), *key = str_of(row, s->j.cfg->external_id);
        struct drow *d = &s->st[i];
        char mkey[256];
        if (!guid || strlen(guid) > 64)
            continue;
        if (row_deleted(row)) {
            conn__key(mkey, sizeof mkey, &s->j, "dmap", guid);
            rt->store->get(rt->store->ctx, mkey, &d->key);
        } else if (key && *key && !(d->key = tr_strdup(key))) {
            rc = TR_ENOMEM;
        }
        if (!d->key)
            continue;
        json_t *prev = json_object_get(last, d->key);
        if (prev) {
            d->prev = (size_t)json_integer_value(prev) + 1;
            s->st[d->prev - 1].next = i + 1;
        }
        json_object_set_new(last, d->key, json_integer((json_int_t)i));
    }
    json_decref(last);
    return rc;
}

/* Takes a 200 answer's rows and links as the page to write; false when it has neither link. */
static bool page_take(struct dyn_in *s, json_t *doc)
{
    json_t *rows = json_object_get(doc, "value");
    const char *next = str_of(doc, "@odata.nextLink"), *delta = str_of(doc, "@odata.deltaLink");
    if (!json_is_array(rows) || (!next && !delta) || !own_link(s, next ? next : delta))
        return false;
    s->rows = json_incref(rows);
    s->n = json_array_size(rows);
    s->st = tr_calloc(s->n ? s->n : 1, sizeof *s->st);
    s->after = tr_strdup(next ? next : delta);
    s->complete = next == NULL;
    if (!s->st || !s->after) {
        page_drop(s);
        return false;
    }
    if (chain_keys(s) < 0) {
        page_drop(s);
        return false;
    }
    /* Announced at once, so the outbound job recognises this page's writes, also those a crash
     * left unconfirmed that this page now repeats. */
    for (size_t i = 0; i < s->n; i++) {
        const json_t *row = json_array_get(rows, i);
        const char *key = str_of(row, s->j.cfg->external_id);
        char hash[65], err[256];
        json_t *body = key && row_guid(s, row) && !row_deleted(row)
                           ? row_body(s, row, hash, err, sizeof err)
                           : NULL;
        if (body)
            conn__in_announce(&s->j, &s->in, key, hash);
        json_decref(body);
    }
    conn__in_hold(&s->j, &s->in); /* on failure, conn__in_hold_gate tries again */
    return true;
}

static void on_read(struct dyn_in *s, struct conn__req *req, uint64_t now)
{
    char why[320];
    if (req->status == 401) {
        bool again = conn__dyn_unauthorized(&s->auth);
        conn__job_error(&s->j, now, "dynamics read: HTTP 401; fetching a new token");
        if (!again)
            conn__in_backoff(&s->j, &s->in, now, req->retry_after_ms);
        return;
    }
    json_t *doc = req->status == 200 && req->resp ? json_loads(req->resp, 0, NULL) : NULL;
    if (doc && page_take(s, doc)) {
        json_decref(doc);
        s->in.attempt = 0, s->auth.unauthorized = 0;
        s->j.rt->shared[s->j.conn_index].inbound_primed = true;
        return; /* the rows are written by the following steps */
    }
    json_decref(doc);
    conn__dyn_error(req, why, sizeof why);
    conn__job_error(&s->j, now, "dynamics read: %s",
                    req->status == 200 ? "answer without value and links into org_url" : why);
    if (s->link && (req->status == 400 || req->status == 404 || req->status == 410)) {
        /* A link the service no longer knows (an expired delta token or paging cookie): a new
         * full sync; the idempotency keys make rows already written no-ops. */
        tr_free(s->link);
        s->link = NULL;
    }
    /* 429 (service protection limits) waits for its Retry-After */
    conn__in_backoff(&s->j, &s->in, now, req->retry_after_ms);
}

/* conn__in_ledger_reason, or "ledger unreachable: <transport error>" when there was no answer. */
static void ledger_problem(const struct conn__req *req, char *buf, size_t size)
{
    if (!req->status)
        snprintf(buf, size, "ledger unreachable: %s", req->err);
    else
        conn__in_ledger_reason(req, buf, size);
}

static void on_write(struct dyn_in *s, struct conn__req *req, uint64_t now)
{
    size_t i = req->index;
    struct drow *d = &s->st[i];
    const json_t *row = json_array_get(s->rows, i);
    char why[320];
    if (req->status >= 200 && req->status < 300) {
        s->j.records++;
        settle(s, i);
    } else if (req->status == 404 && req->tag == TAG_PUT) {
        d->write = TAG_CREATE; /* not in the ledger yet: create it */
        reconsider(s, i);
    } else if (req->status == 404 && req->tag == TAG_DELETE) {
        settle(s, i); /* already gone */
    } else if (ledger_problem(req, why, sizeof why),
               conn__in_write_failed(&s->j, req, now, &d->attempt, &d->retry_at_ms, "row",
                                     row_guid(s, row), row, why)) {
        reconsider(s, i);
    } else {
        d->store = STORE_NONE;
        settle(s, i);
    }
}

static void dyn_in_handle(struct conn__job *j, struct conn__req *req, uint64_t now)
{
    struct dyn_in *s = SELF(j);
    if (req->tag == TAG_TOKEN) {
        conn__dyn_token_handle(j, &s->auth, req, now);
    } else if (req->tag == TAG_READ) {
        s->in.reading = false;
        on_read(s, req, now);
    } else if (s->rows && req->index < s->n) {
        on_write(s, req, now);
    }
}

static void dyn_in_status(struct conn__job *j, json_t *out)
{
    conn__in_status(&SELF(j)->in, out, SELF(j)->n);
}

static void dyn_in_destroy(struct conn__job *j)
{
    struct dyn_in *s = SELF(j);
    page_drop(s);
    conn__dyn_auth_clear(&s->auth);
    tr_free(s->link);
    conn__in_close(&s->in);
    tr_free(s);
}

static const struct conn__job_ops dyn_in_ops = {
    "inbound", dyn_in_next, dyn_in_handle, conn__in_data, dyn_in_status, dyn_in_destroy,
};

int conn__dyn_in_create(struct conn_runner *rt, size_t ci, struct conn__job **out)
{
    struct dyn_in *s = tr_calloc(1, sizeof *s);
    if (!s)
        return TR_ENOMEM;
    int rc = conn__in_init(&s->j, &s->in, &dyn_in_ops, rt, ci);
    if (rc < 0) {
        tr_free(s);
        return rc;
    }
    if (s->in.cursor && !(s->link = tr_strdup(s->in.cursor))) {
        tr_free(s->in.cursor);
        tr_free(s);
        return TR_ENOMEM;
    }
    *out = &s->j;
    return 0;
}
