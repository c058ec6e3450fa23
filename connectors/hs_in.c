/* hs_in.c — HubSpot inbound job: CRM v3 search on the modification property (GTE the cursor,
 * ascending), then, when enabled, the archived objects as deletes; each record is written to the
 * ledger with an Idempotency-Key derived from (connector, HubSpot id, modification stamp).
 * Invariant: the cursor ("ms|id" of a page's last record) is stored only after every record of
 * the page is committed in the ledger or dead-lettered; a crash re-reads from the cursor, and the
 * idempotency keys and the synced hashes keep a re-read from writing anything twice.
 * Paging is keyset paging and never uses `after`: the next query starts again at the last stamp
 * read (GTE). Offset paging over a result set sorted by a property that changes while it is read
 * would skip a record each time one earlier in the set is modified; it would also meet HubSpot's
 * 10,000-result cap. A page holding nothing but one stamp (a run of equal stamps at least a page
 * long, as a bulk import makes) cannot move a GTE query on, so that run is swept by id: stamp EQ
 * the run's, hs_object_id GT the last id read, sorted by hs_object_id; then the search goes on
 * with stamp GT the run's. */
#include "connectors/hs.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/err.h"

enum { TAG_SEARCH = 1, TAG_ARCHIVED, TAG_PUT, TAG_CREATE, TAG_DELETE };
enum rec_state { REC_PENDING, REC_INFLIGHT, REC_DONE };
/* The search query: stamp GTE query_ms, sorted by stamp; the run at query_ms swept by id; stamp
 * GT query_ms (once the run is swept), sorted by stamp. */
enum query_mode { QUERY_FROM, QUERY_TIE, QUERY_PAST };
static const char *const mode_names[] = {"from", "tie", "past"};

struct rec {
    enum rec_state state;
    int phase; /* TAG_PUT, TAG_CREATE or TAG_DELETE: the next write to send */
    uint32_t attempt;
    uint64_t retry_at_ms;
    char hash[65];
    bool write_hash, clear_hash, mark_archived;
};

struct hs_in {
    struct conn__job j;
    struct conn__in in; /* its cursor: "ms|id" */
    bool archived_phase;
    enum query_mode mode;
    int64_t query_ms; /* the stamp the search filters on; -1: no filter */
    uint64_t tie_id;  /* QUERY_TIE: the last hs_object_id swept */
    char *arch_after; /* paging token of the archived listing; NULL: its first page */
    bool more;        /* the page being written has a next page (or a swept run ended) */
    json_t *tie_ids;  /* ids already settled at the stamp query_ms */
    json_t *page;     /* normalised records: {id, ms, key, props, del, raw} */
    struct rec *recs;
    size_t nrecs, next_rec, done;
};

#define SELF(job) ((struct hs_in *)(job))

static const char *item_str(const json_t *item, const char *field)
{
    return json_string_value(json_object_get(item, field));
}

static int64_t item_ms(const json_t *item)
{
    return (int64_t)json_integer_value(json_object_get(item, "ms"));
}

static void cursor_key(struct hs_in *s, char *buf, size_t size)
{
    conn__key(buf, size, &s->j, "cursor", "inbound");
}

/* ---- reading ---- */

static json_t *filter(const char *property, const char *op, const char *value)
{
    return json_pack("{s:s,s:s,s:s}", "propertyName", property, "operator", op, "value", value);
}

static struct conn__req *search_req(struct hs_in *s)
{
    const struct conn_cfg_connector *c = s->j.cfg;
    const struct conn_hs_cfg *h = c->hubspot;
    char path[512], ms[32], id[32];
    bool tie = s->mode == QUERY_TIE;
    json_t *props = json_pack("[s,s]", h->modified_property, c->external_id);
    for (size_t i = 0; props && i < c->nfields; i++)
        if (c->fields[i].saas && strcmp(c->fields[i].saas, c->external_id) != 0)
            json_array_append_new(props, json_string(c->fields[i].saas));
    json_t *body = json_pack("{s:[{s:s,s:s}],s:o,s:I}", "sorts", "propertyName",
                             tie ? "hs_object_id" : h->modified_property, "direction", "ASCENDING",
                             "properties", props, "limit", (json_int_t)h->page_size);
    if (body && s->query_ms >= 0) {
        snprintf(ms, sizeof ms, "%lld", (long long)s->query_ms);
        snprintf(id, sizeof id, "%llu", (unsigned long long)s->tie_id);
        json_t *filters = json_array();
        json_array_append_new(filters, filter(h->modified_property,
                                              tie                     ? "EQ"
                                              : s->mode == QUERY_PAST ? "GT"
                                                                      : "GTE",
                                              ms));
        if (tie)
            json_array_append_new(filters, filter("hs_object_id", "GT", id));
        json_object_set_new(body, "filterGroups", json_pack("[{s:o}]", "filters", filters));
    }
    snprintf(path, sizeof path, "/crm/v3/objects/%s/search", c->object);
    struct conn__req *r = body ? conn__hs_req(&s->j, "POST", path, body, TAG_SEARCH) : NULL;
    json_decref(body);
    return r;
}

static struct conn__req *archived_req(struct hs_in *s)
{
    const struct conn_cfg_connector *c = s->j.cfg;
    char path[1024], *after = s->arch_after ? conn__urlencode(s->arch_after) : NULL;
    if (s->arch_after && !after)
        return NULL;
    snprintf(path, sizeof path, "/crm/v3/objects/%s?archived=true&limit=%u&properties=%s%s%s",
             c->object, c->hubspot->page_size, c->external_id, after ? "&after=" : "",
             after ? after : "");
    tr_free(after);
    return conn__hs_req(&s->j, "GET", path, NULL, TAG_ARCHIVED);
}

/* One HubSpot result as {id, ms, key, props, del, raw}; NULL when it has no id or stamp. */
static json_t *normalise(struct hs_in *s, json_t *res, bool archived)
{
    const struct conn_cfg_connector *c = s->j.cfg;
    json_t *props = json_object_get(res, "properties");
    const char *id = item_str(res, "id");
    const char *stamp =
        archived ? item_str(res, "archivedAt")
                 : json_string_value(json_object_get(props, c->hubspot->modified_property));
    if (!stamp && !archived)
        stamp = item_str(res, "updatedAt");
    int64_t ms = conn__hs_stamp_ms(stamp);
    if (!id || ms < 0 || !json_is_object(props))
        return NULL;
    return json_pack("{s:s,s:I,s:O?,s:O,s:b,s:O}", "id", id, "ms", (json_int_t)ms, "key",
                     json_object_get(props, c->external_id), "props", props, "del", archived, "raw",
                     res);
}

static void page_free(struct hs_in *s)
{
    json_decref(s->page);
    tr_free(s->recs);
    s->page = NULL, s->recs = NULL;
    s->nrecs = s->next_rec = s->done = 0;
}

static void rec_done(struct hs_in *s, size_t i)
{
    s->recs[i].state = REC_DONE;
    s->done++;
}

/* Maps the HubSpot properties of item and hashes their projection into hash[65]. */
static int rec_hash(struct hs_in *s, const json_t *item, json_t **body, char hash[65], char *err,
                    size_t errlen)
{
    return conn__map_hash(&s->j, json_object_get(item, "props"), body, hash, err, errlen);
}

/* Settles at once what needs no write (ties read before, archived ones already deleted) and
 * announces the others' hashes to the outbound job, which must not echo them. */
static void page_prepare(struct hs_in *s)
{
    struct conn_runner *rt = s->j.rt;
    for (size_t i = 0; i < s->nrecs; i++) {
        const json_t *it = json_array_get(s->page, i);
        const char *key = item_str(it, "key");
        char hash[65], err[256], mkey[512], *seen = NULL;
        json_t *body = NULL;
        if (json_is_true(json_object_get(it, "del"))) {
            conn__key(mkey, sizeof mkey, &s->j, "hsarchived", item_str(it, "id"));
            char ms[32];
            snprintf(ms, sizeof ms, "%lld", (long long)item_ms(it));
            if (rt->store->get(rt->store->ctx, mkey, &seen) == 0 && strcmp(seen, ms) == 0)
                rec_done(s, i);
            tr_free(seen);
        } else if (item_ms(it) == s->query_ms && json_object_get(s->tie_ids, item_str(it, "id"))) {
            rec_done(s, i);
        } else if (key && rec_hash(s, it, &body, hash, err, sizeof err) == 0) {
            conn__in_announce(&s->j, &s->in, key, hash);
            json_decref(body);
        }
    }
    conn__in_hold(&s->j, &s->in); /* on failure, conn__in_hold_gate tries again */
    rt->shared[s->j.conn_index].inbound_primed = true;
}

static void retry_later(struct hs_in *s, uint64_t wait_ms, uint64_t now)
{
    s->in.wait_until_ms = now + wait_ms;
    snprintf(s->j.state, sizeof s->j.state, "backoff");
}

/* A search or archived-listing answer: becomes the page being written. */
static void on_page(struct hs_in *s, struct conn__req *req, uint64_t now)
{
    char reason[300];
    uint64_t wait = 0;
    if (req->status != 200) {
        enum conn__hs_verdict v =
            conn__hs_failed(&s->j, req, ++s->in.attempt, now, &wait, reason, sizeof reason);
        if (v == CONN__HS_PERMANENT) { /* a paging token refused: start that listing again */
            tr_free(s->arch_after);
            s->arch_after = NULL;
        }
        retry_later(s, wait, now);
        if (v == CONN__HS_AUTH)
            snprintf(s->j.state, sizeof s->j.state, "auth_failed");
        return;
    }
    json_t *doc = json_loads(req->resp ? req->resp : "", 0, NULL);
    json_t *res = json_object_get(doc, "results");
    const char *next = json_string_value(
        json_object_get(json_object_get(json_object_get(doc, "paging"), "next"), "after"));
    if (!json_is_array(res)) {
        conn__job_error(&s->j, now, "hubspot %s: answer without results",
                        req->tag == TAG_SEARCH ? "search" : "archived listing");
        json_decref(doc);
        retry_later(s, conn__backoff(&s->j, ++s->in.attempt, -1), now);
        return;
    }
    s->in.attempt = 0;
    s->more = next != NULL;
    if (req->tag == TAG_ARCHIVED) {
        tr_free(s->arch_after);
        s->arch_after = next ? tr_strdup(next) : NULL;
    }
    s->page = json_array();
    for (size_t i = 0; s->page && i < json_array_size(res); i++) {
        json_t *it = normalise(s, json_array_get(res, i), req->tag == TAG_ARCHIVED);
        if (!it)
            conn__dead_letter(&s->j, "?", "hubspot record without id or modification stamp",
                              json_array_get(res, i));
        else
            json_array_append_new(s->page, it);
    }
    s->nrecs = json_array_size(s->page);
    s->recs = tr_calloc(s->nrecs ? s->nrecs : 1, sizeof *s->recs);
    json_decref(doc);
    if (!s->page || !s->recs) {
        page_free(s);
        retry_later(s, conn__backoff(&s->j, ++s->in.attempt, -1), now);
        return;
    }
    page_prepare(s);
}

/* ---- writing a page to the ledger ---- */

/* Idempotency-Key: connector, HubSpot id, modification (or archive) stamp, phase. */
static void idem_key(struct hs_in *s, const json_t *it, int phase, char *buf, size_t size)
{
    snprintf(buf, size, "treaty-connect/%s/%.64s/%lld%s", s->j.cfg->name, item_str(it, "id"),
             (long long)item_ms(it),
             phase == TAG_CREATE   ? "/create"
             : phase == TAG_DELETE ? "/archived"
                                   : "");
}

static struct conn__req *write_req(struct hs_in *s, size_t i, json_t *body)
{
    const json_t *it = json_array_get(s->page, i);
    int phase = s->recs[i].phase;
    char ik[300];
    idem_key(s, it, phase, ik, sizeof ik);
    return conn__in_write_req(&s->j,
                              phase == TAG_CREATE ? CONN__IN_CREATE
                              : phase == TAG_PUT  ? CONN__IN_PUT
                                                  : CONN__IN_DELETE,
                              item_str(it, "key"), ik, body, phase, i);
}

/* What record i needs: a write request, or NULL when it was settled without one. */
static struct conn__req *rec_dispatch(struct hs_in *s, size_t i)
{
    const json_t *it = json_array_get(s->page, i);
    const char *id = item_str(it, "id"), *key = item_str(it, "key");
    struct rec *r = &s->recs[i];
    char err[256];
    if (!key || !*key) {
        conn__dead_letter(&s->j, id, "hubspot record without a value of the external_id property",
                          json_object_get(it, "raw"));
        rec_done(s, i);
        return NULL;
    }
    if (json_is_true(json_object_get(it, "del"))) {
        r->phase = TAG_DELETE, r->clear_hash = r->mark_archived = true;
        return write_req(s, i, NULL);
    }
    json_t *body = NULL;
    if (rec_hash(s, it, &body, r->hash, err, sizeof err) < 0) {
        conn__dead_letter(&s->j, id, err, json_object_get(it, "raw"));
        rec_done(s, i);
        return NULL;
    }
    if (conn__synced(&s->j, key, r->hash)) { /* the ledger holds this already from this connector:
                                                an echo or a re-read */
        s->j.skipped++;
        json_decref(body);
        rec_done(s, i);
        return NULL;
    }
    if (r->phase != TAG_CREATE)
        r->phase = TAG_PUT;
    r->write_hash = true;
    struct conn__req *req = write_req(s, i, body);
    json_decref(body);
    return req;
}

/* The store writes of a finished page: cursor (search pages), synced hashes, archive marks. */
static size_t page_kvs(struct hs_in *s, struct conn_kv *kv, char (*keys)[512], char (*vals)[32],
                       const char *cursor)
{
    size_t n = 0;
    if (cursor) {
        cursor_key(s, keys[n], sizeof keys[n]);
        kv[n].key = keys[n], kv[n].val = cursor, n++;
    }
    for (size_t i = 0; i < s->nrecs; i++) {
        const json_t *it = json_array_get(s->page, i);
        const char *key = item_str(it, "key");
        struct rec *r = &s->recs[i];
        if (key && (r->write_hash || r->clear_hash)) {
            conn__key(keys[n], sizeof keys[n], &s->j, "sync", key);
            kv[n].key = keys[n], kv[n].val = r->clear_hash ? NULL : r->hash, n++;
        }
        if (r->mark_archived) {
            conn__key(keys[n], sizeof keys[n], &s->j, "hsarchived", item_str(it, "id"));
            snprintf(vals[i], sizeof vals[i], "%lld", (long long)item_ms(it));
            kv[n].key = keys[n], kv[n].val = vals[i], n++;
        }
    }
    return n;
}

/* Where the search goes on after a committed page whose first and last records are `first` and
 * `last` (keyset paging: see the file comment). */
static void search_advance(struct hs_in *s, const json_t *first, const json_t *last)
{
    int64_t ms = item_ms(last);
    if (s->mode == QUERY_TIE) {
        for (size_t i = 0; i < s->nrecs; i++)
            json_object_set_new(s->tie_ids, item_str(json_array_get(s->page, i), "id"),
                                json_true());
        s->tie_id = strtoull(item_str(last, "id"), NULL, 10);
        if (!s->more) /* the run is swept: the search goes on past it at once */
            s->mode = QUERY_PAST, s->more = true;
        return;
    }
    if (ms != s->query_ms) {
        json_object_clear(s->tie_ids);
        s->query_ms = ms;
    }
    for (size_t i = 0; i < s->nrecs; i++) {
        const json_t *it = json_array_get(s->page, i);
        if (item_ms(it) == ms)
            json_object_set_new(s->tie_ids, item_str(it, "id"), json_true());
    }
    /* A page of one stamp with more behind it: a GTE query would answer it again. */
    s->mode = s->more && item_ms(first) == ms ? QUERY_TIE : QUERY_FROM;
    s->tie_id = 0;
}

static int page_commit(struct hs_in *s, uint64_t now)
{
    struct conn_runner *rt = s->j.rt;
    struct conn_kv *kv = tr_calloc(2 * s->nrecs + 1, sizeof *kv);
    char(*keys)[512] = tr_calloc(2 * s->nrecs + 1, sizeof *keys);
    char(*vals)[32] = tr_calloc(s->nrecs + 1, sizeof *vals);
    char cursor[128];
    bool search = !s->archived_phase && s->nrecs > 0;
    const json_t *first = json_array_get(s->page, 0);
    const json_t *last = json_array_get(s->page, s->nrecs ? s->nrecs - 1 : 0);
    int rc = TR_ENOMEM;
    if (!kv || !keys || !vals)
        goto out;
    if (!s->archived_phase && !s->nrecs && s->mode == QUERY_TIE)
        s->mode = QUERY_PAST, s->more = true; /* nothing (left) in the run: on past it */
    if (search) /* a swept record edited since has a later stamp: the run's is the cursor */
        snprintf(cursor, sizeof cursor, "%lld|%.64s",
                 (long long)(s->mode == QUERY_TIE ? s->query_ms : item_ms(last)),
                 item_str(last, "id"));
    size_t n = page_kvs(s, kv, keys, vals, search ? cursor : NULL);
    rc = conn__in_commit(&s->j, &s->in, kv, n);
    if (rc < 0) {
        conn__job_error(&s->j, now, "storing the cursor failed");
        goto out;
    }
    for (size_t i = 0; i < s->nrecs; i++) {
        const char *key = item_str(json_array_get(s->page, i), "key");
        if (key)
            json_object_del(rt->shared[s->j.conn_index].pending_in, key);
    }
    if (search) {
        tr_free(s->in.cursor);
        s->in.cursor = tr_strdup(cursor);
        search_advance(s, first, last);
    }
out:
    tr_free(kv);
    tr_free(keys);
    tr_free(vals);
    return rc;
}

/* After a committed page: the next page, the archived listing, or a wait for the next poll. */
static void page_next(struct hs_in *s, uint64_t now)
{
    bool more = s->more;
    page_free(s);
    if (more)
        return;
    if (!s->archived_phase && s->j.cfg->hubspot->archived) {
        s->archived_phase = true;
        return;
    }
    s->archived_phase = false;
    conn__in_caught_up(&s->j, &s->in, now);
}

static enum conn__step page_step(struct hs_in *s, uint64_t now, struct conn__req **req,
                                 uint64_t *until)
{
    uint64_t wake = UINT64_MAX, max = s->j.rt->cfg->limits.max_inflight;
    for (size_t i = 0; i < s->nrecs; i++) { /* retries whose backoff is over go first */
        struct rec *r = &s->recs[i];
        if (r->state == REC_PENDING && r->retry_at_ms > now)
            wake = r->retry_at_ms < wake ? r->retry_at_ms : wake;
        else if (r->state == REC_PENDING && r->retry_at_ms && i < s->next_rec)
            s->next_rec = i;
    }
    while (s->next_rec < s->nrecs && s->j.inflight < max) {
        size_t i = s->next_rec++;
        struct rec *r = &s->recs[i];
        if (r->state != REC_PENDING || r->retry_at_ms > now)
            continue;
        r->retry_at_ms = 0;
        if ((*req = rec_dispatch(s, i))) {
            r->state = REC_INFLIGHT;
            return CONN__SEND;
        }
    }
    if (s->done < s->nrecs) {
        *until = wake;
        return wake == UINT64_MAX ? CONN__IDLE : CONN__WAIT;
    }
    if (page_commit(s, now) < 0)
        return conn__in_retry_page(&s->j, &s->in, now, until);
    page_next(s, now);
    return CONN__IDLE;
}

static enum conn__step hs_in_next(struct conn__job *j, uint64_t now, struct conn__req **req,
                                  uint64_t *until)
{
    struct hs_in *s = SELF(j);
    if (j->rt->stopping)
        return CONN__IDLE;
    if (s->page) {
        enum conn__step st = conn__in_hold_gate(j, &s->in, now, until);
        if (st == CONN__SEND)
            st = page_step(s, now, req, until);
        if (st != CONN__IDLE || s->page)
            return st;
    }
    enum conn__step gate = conn__in_gate(&s->in, now, 0, until);
    if (gate != CONN__SEND)
        return gate;
    if (s->query_ms < 0 && s->in.cursor) /* after a start: the stored cursor */
        s->query_ms = (int64_t)strtoll(s->in.cursor, NULL, 10);
    return conn__in_read(j, &s->in, s->archived_phase ? "reading_archived" : "reading",
                         s->archived_phase ? archived_req(s) : search_req(s), req);
}

static void on_write(struct hs_in *s, struct conn__req *req, uint64_t now)
{
    size_t i = req->index;
    struct rec *r = &s->recs[i];
    const json_t *it = json_array_get(s->page, i);
    char reason[300];
    bool ok = req->status >= 200 && req->status < 300;
    if (ok || (req->tag == TAG_DELETE && req->status == 404)) { /* 404: already gone */
        s->j.records += ok;
        rec_done(s, i);
        return;
    }
    if (req->tag == TAG_PUT && req->status == 404) {
        r->phase = TAG_CREATE, r->state = REC_PENDING, r->retry_at_ms = now ? now : 1;
        return;
    }
    conn__in_ledger_reason(req, reason, sizeof reason);
    if (conn__in_write_failed(&s->j, req, now, &r->attempt, &r->retry_at_ms, "record",
                              item_str(it, "id"), json_object_get(it, "raw"), reason)) {
        r->state = REC_PENDING;
        return;
    }
    r->write_hash = r->clear_hash = false;
    rec_done(s, i);
}

static void hs_in_handle(struct conn__job *j, struct conn__req *req, uint64_t now)
{
    struct hs_in *s = SELF(j);
    if (req->tag == TAG_SEARCH || req->tag == TAG_ARCHIVED) {
        s->in.reading = false;
        on_page(s, req, now);
    } else if (s->page) {
        on_write(s, req, now);
    }
}

static void hs_in_status(struct conn__job *j, json_t *out)
{
    struct hs_in *s = SELF(j);
    conn__in_status(&s->in, out, s->nrecs);
    json_object_set_new(out, "search", json_string(mode_names[s->mode]));
    if (s->mode == QUERY_TIE)
        json_object_set_new(out, "tie_after_id", json_integer((json_int_t)s->tie_id));
}

static void hs_in_destroy(struct conn__job *j)
{
    struct hs_in *s = SELF(j);
    page_free(s);
    json_decref(s->tie_ids);
    tr_free(s->arch_after);
    conn__in_close(&s->in);
    tr_free(s);
}

static const struct conn__job_ops hs_in_ops = {
    "inbound", hs_in_next, hs_in_handle, conn__in_data, hs_in_status, hs_in_destroy,
};

int conn__hs_in_create(struct conn_runner *rt, size_t ci, struct conn__job **out)
{
    struct hs_in *s = tr_calloc(1, sizeof *s);
    if (!s || !(s->tie_ids = json_object())) {
        tr_free(s);
        return TR_ENOMEM;
    }
    s->query_ms = -1;
    int rc = conn__in_init(&s->j, &s->in, &hs_in_ops, rt, ci);
    if (rc < 0) {
        hs_in_destroy(&s->j);
        return rc;
    }
    *out = &s->j;
    return 0;
}
