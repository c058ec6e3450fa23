/* sap_in.c — SAP S/4HANA inbound job (OData V2, A_BusinessPartner by default): incremental reads
 * on the change stamp LastChangeDate (Edm.DateTime) + LastChangeTime (Edm.Time), ordered by
 * (LastChangeDate, LastChangeTime, key), $top per query, server-driven paging through d.__next,
 * each entity written to the ledger with an Idempotency-Key of (connector, key, stamp).
 * Invariant: the cursor "stamp|key" and the "seen" stamps of a page are stored in one transaction
 * only after every entity of the page is committed in the ledger or dead-lettered. A fresh poll
 * re-reads the cursor's whole second (the stamps have one-second resolution: an entity changed
 * later in that second must not be lost); the seen stamps make those re-reads no-ops. */
#include "connectors/conn_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/err.h"

enum { TAG_QUERY = 1, TAG_PUT, TAG_CREATE };
enum ent_state { ENT_WAITING, ENT_SENT, ENT_DONE };

struct ent {
    enum ent_state state;
    int write; /* TAG_PUT, then TAG_CREATE when the ledger has no such record */
    uint32_t attempt;
    uint64_t retry_at_ms;
    bool hashed; /* hash holds the projection to store as synced */
    char hash[65];
    char stamp[20];
};

struct sap_in {
    struct conn__job j;
    struct conn__in in; /* its cursor: "YYYY-MM-DDTHH:MM:SS|key" */
    char *next_url;     /* d.__next of the query being read; NULL: build a query */
    bool continue_;     /* the last query filled its $top: go on after the cursor's key */
    size_t query_got;   /* entities the current query (with its __next pages) returned */
    json_t *page;
    struct ent *ents;
    size_t n, first, done; /* entities, the first not settled (or before), settled */
};

#define SELF(job) ((struct sap_in *)(job))

static const char *ent_key(const struct sap_in *s, size_t i)
{
    return json_string_value(json_object_get(json_array_get(s->page, i), s->j.cfg->sap->key_prop));
}

/* OData V2 string literal: single quotes doubled (OData V2 URI conventions §2.2.2). */
static void odata_quote(const char *in, char *out, size_t size)
{
    size_t o = 0;
    for (; *in && o + 3 < size; in++) {
        if (*in == '\'')
            out[o++] = '\'';
        out[o++] = *in;
    }
    out[o] = '\0';
}

/* The $filter after the cursor (empty: no cursor). A fresh poll takes the cursor's second again
 * (ge); a continuation after a full $top takes only what sorts after the cursor's key. */
static void cursor_filter(const struct sap_in *s, char *out, size_t size)
{
    out[0] = '\0';
    if (!s->in.cursor || strlen(s->in.cursor) < 20)
        return;
    const char *c = s->in.cursor, *key = s->in.cursor + 20;
    char q[300], t[24];
    snprintf(t, sizeof t, "PT%.2sH%.2sM%.2sS", c + 11, c + 14, c + 17);
    odata_quote(key, q, sizeof q);
    char rest[512];
    if (s->continue_)
        snprintf(rest, sizeof rest,
                 "(LastChangeTime gt time'%s' or (LastChangeTime eq time'%s' and %s gt '%s'))", t,
                 t, s->j.cfg->sap->key_prop, q);
    else
        snprintf(rest, sizeof rest, "LastChangeTime ge time'%s'", t);
    snprintf(out, size,
             "LastChangeDate gt datetime'%.10sT00:00:00' or (LastChangeDate eq "
             "datetime'%.10sT00:00:00' and %s)",
             c, c, rest);
}

static struct conn__req *query_req(struct sap_in *s)
{
    const struct conn_sap_cfg *sc = s->j.cfg->sap;
    char url[16384];
    if (s->next_url) { /* followed verbatim; a relative one is relative to the service root */
        if (strncmp(s->next_url, "http://", 7) == 0 || strncmp(s->next_url, "https://", 8) == 0)
            snprintf(url, sizeof url, "%s", s->next_url);
        else
            snprintf(url, sizeof url, "%s/%s", sc->root, s->next_url);
        return conn__sap_req(&s->j, NULL, "GET", url, TAG_QUERY, false);
    }
    char filter[1024], order[300], *ef = NULL, *eo = NULL;
    cursor_filter(s, filter, sizeof filter);
    snprintf(order, sizeof order, "LastChangeDate,LastChangeTime,%s", sc->key_prop);
    ef = conn__urlencode(filter), eo = conn__urlencode(order);
    if (ef && eo)
        snprintf(url, sizeof url, "%s/%s?%s%s%s$orderby=%s&$top=%u&$format=json%s%s", sc->root,
                 sc->entity_set, *ef ? "$filter=" : "", ef, *ef ? "&" : "", eo,
                 s->j.rt->cfg->limits.page_size, *sc->client ? "&sap-client=" : "", sc->client);
    bool ok = ef && eo;
    tr_free(ef);
    tr_free(eo);
    s->query_got = 0;
    return ok ? conn__sap_req(&s->j, NULL, "GET", url, TAG_QUERY, false) : NULL;
}

static void page_drop(struct sap_in *s)
{
    json_decref(s->page);
    tr_free(s->ents);
    s->page = NULL, s->ents = NULL;
    s->n = s->first = s->done = 0;
}

static void ent_settle(struct sap_in *s, size_t i)
{
    s->ents[i].state = ENT_DONE;
    s->done++;
}

static struct conn__req *ledger_write(struct sap_in *s, size_t i, const json_t *body)
{
    struct ent *e = &s->ents[i];
    const char *key = ent_key(s, i);
    bool create = e->write == TAG_CREATE;
    char ik[512];
    snprintf(ik, sizeof ik, "treaty-connect/%s/%.128s/%s%s", s->j.cfg->name, key, e->stamp,
             create ? "/create" : "");
    return conn__in_write_req(&s->j, create ? CONN__IN_CREATE : CONN__IN_PUT, key, ik, body,
                              e->write, i);
}

/* Maps entity i to a ledger body and its projection hash: 0, TR_EINVALID (dead-lettered) or
 * TR_ENOMEM. */
static int ent_map(struct sap_in *s, size_t i, json_t **body)
{
    char err[256];
    const json_t *ent = json_array_get(s->page, i);
    int rc = conn__map_hash(&s->j, ent, body, s->ents[i].hash, err, sizeof err);
    if (rc == TR_EINVALID)
        conn__dead_letter(&s->j, ent_key(s, i), err, ent);
    s->ents[i].hashed = rc == 0;
    return rc;
}

/* What entity i needs: a ledger write, or nothing (settled here). */
static struct conn__req *ent_next(struct sap_in *s, size_t i, uint64_t now)
{
    struct conn_runner *rt = s->j.rt;
    struct ent *e = &s->ents[i];
    json_t *body = NULL;
    int rc = ent_map(s, i, &body);
    if (rc == TR_EINVALID) {
        ent_settle(s, i);
        return NULL;
    }
    if (rc < 0)
        goto later;
    if (conn__synced(&s->j, ent_key(s, i),
                     e->hash)) { /* the ledger holds this content from this connector already */
        s->j.skipped++;
        e->hashed = false;
        json_decref(body);
        ent_settle(s, i);
        return NULL;
    }
    json_object_set_new(rt->shared[s->j.conn_index].pending_in, ent_key(s, i),
                        json_string(e->hash));
    if (e->write != TAG_CREATE)
        e->write = TAG_PUT;
    struct conn__req *r = ledger_write(s, i, body);
    json_decref(body);
    if (r)
        return r;
later: /* out of memory: the entity stays pending, tried again after a backoff */
    e->retry_at_ms = now + conn__backoff(&s->j, ++e->attempt, -1);
    return NULL;
}

/* One transaction: the cursor, each entity's seen stamp and synced hash. */
static int page_store(struct sap_in *s, uint64_t now)
{
    struct conn_runner *rt = s->j.rt;
    size_t n = 0, cap = 2 * s->n + 1;
    struct conn_kv *kv = tr_calloc(cap, sizeof *kv);
    char(*keys)[600] = tr_calloc(cap, sizeof *keys), cursor[320];
    int rc = TR_ENOMEM;
    if (!kv || !keys)
        goto out;
    snprintf(cursor, sizeof cursor, "%s|%.256s", s->ents[s->n - 1].stamp, ent_key(s, s->n - 1));
    conn__key(keys[n], sizeof keys[n], &s->j, "cursor", "inbound");
    kv[n].key = keys[n], kv[n].val = cursor, n++;
    for (size_t i = 0; i < s->n; i++) {
        const char *key = ent_key(s, i);
        if (!key || !*key)
            continue;
        conn__key(keys[n], sizeof keys[n], &s->j, "seen", key);
        kv[n].key = keys[n], kv[n].val = s->ents[i].stamp, n++;
        if (s->ents[i].hashed) {
            conn__key(keys[n], sizeof keys[n], &s->j, "sync", key);
            kv[n].key = keys[n], kv[n].val = s->ents[i].hash, n++;
        }
    }
    if ((rc = conn__in_commit(&s->j, &s->in, kv, n)) < 0) {
        conn__job_error(&s->j, now, "storing the cursor failed");
        goto out;
    }
    for (size_t i = 0; i < s->n; i++)
        if (ent_key(s, i))
            json_object_del(rt->shared[s->j.conn_index].pending_in, ent_key(s, i));
    tr_free(s->in.cursor);
    s->in.cursor = tr_strdup(cursor);
out:
    tr_free(kv);
    tr_free(keys);
    return rc;
}

/* The next entity write to send, or the earliest retry time in *wake. */
static struct conn__req *page_dispatch(struct sap_in *s, uint64_t now, uint64_t *wake)
{
    uint32_t cap = s->j.rt->cfg->limits.max_inflight;
    for (size_t i = s->first; i < s->n && s->j.inflight < cap; i++) {
        struct ent *e = &s->ents[i];
        if (e->state == ENT_DONE && i == s->first)
            s->first++; /* keeps the scans of a page linear */
        if (e->state != ENT_WAITING)
            continue;
        if (e->retry_at_ms > now) {
            *wake = e->retry_at_ms < *wake ? e->retry_at_ms : *wake;
            continue;
        }
        e->retry_at_ms = 0;
        struct conn__req *r = ent_next(s, i, now);
        if (r) {
            e->state = ENT_SENT;
            return r;
        }
        if (e->state == ENT_WAITING && e->retry_at_ms && e->retry_at_ms < *wake)
            *wake = e->retry_at_ms;
    }
    return NULL;
}

static enum conn__step page_step(struct sap_in *s, uint64_t now, struct conn__req **req,
                                 uint64_t *until)
{
    uint64_t wake = UINT64_MAX;
    if ((*req = page_dispatch(s, now, &wake)) != NULL)
        return CONN__SEND;
    if (s->done < s->n) {
        *until = wake;
        return wake == UINT64_MAX ? CONN__IDLE : CONN__WAIT;
    }
    if (s->n && page_store(s, now) < 0)
        return conn__in_retry_page(&s->j, &s->in, now, until);
    page_drop(s);
    if (!s->next_url) {
        /* A query that filled its $top may have more after it: continue at once. */
        s->continue_ = s->query_got >= s->j.rt->cfg->limits.page_size;
        if (!s->continue_)
            conn__in_caught_up(&s->j, &s->in, now);
    }
    return CONN__IDLE;
}

static enum conn__step sap_in_next(struct conn__job *j, uint64_t now, struct conn__req **req,
                                   uint64_t *until)
{
    struct sap_in *s = SELF(j);
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
    return conn__in_read(j, &s->in, "reading", query_req(s), req);
}

/* Marks what the page holds: entities already handled (at or before the cursor, or re-read at
 * the cursor's second with the same stamp) are settled; the rest are announced to the outbound
 * job (pending_in), so it recognises their writes, also those made before a crash. */
static void page_load(struct sap_in *s, json_t *results)
{
    struct conn_runner *rt = s->j.rt;
    const char *cur = s->in.cursor;
    s->page = json_incref(results);
    s->n = json_array_size(results);
    s->ents = tr_calloc(s->n ? s->n : 1, sizeof *s->ents);
    for (size_t i = 0; i < s->n; i++) {
        const json_t *ent = json_array_get(results, i);
        const char *key = ent_key(s, i);
        struct ent *e = &s->ents[i];
        if (!key || !*key || !conn__sap_stamp(ent, e->stamp)) {
            conn__dead_letter(&s->j, key ? key : "?",
                              key && *key ? "entity without a valid LastChangeDate/LastChangeTime"
                                          : "entity without its key property",
                              ent);
            snprintf(e->stamp, sizeof e->stamp, "%.19s", cur ? cur : "1970-01-01T00:00:00");
            ent_settle(s, i);
            continue;
        }
        int c = cur ? strncmp(e->stamp, cur, 19) : 1;
        char skey[600], *seen = NULL;
        if (c == 0) {
            conn__key(skey, sizeof skey, &s->j, "seen", key);
            if (rt->store->get(rt->store->ctx, skey, &seen) == 0 && strcmp(seen, e->stamp) == 0)
                c = -1;
            tr_free(seen);
        }
        if (c < 0) {
            ent_settle(s, i);
            continue;
        }
        json_t *body = NULL;
        char err[256], h[65];
        if (conn__map_hash(&s->j, ent, &body, h, err, sizeof err) == 0)
            conn__in_announce(&s->j, &s->in, key, h);
        json_decref(body);
    }
}

static void retry_query(struct sap_in *s, const struct conn__req *req, uint64_t now)
{
    char msg[300];
    conn__sap_error(req, msg, sizeof msg);
    conn__job_error(&s->j, now, "sap query: %s", msg);
    if (s->next_url && req->status >= 400 && req->status < 500 && req->status != 429) {
        tr_free(s->next_url); /* a skip token that no longer works: query again from the cursor */
        s->next_url = NULL;
    }
    conn__in_backoff(&s->j, &s->in, now, req->retry_after_ms);
}

static void on_query(struct sap_in *s, struct conn__req *req, uint64_t now)
{
    if (req->status != 200) {
        retry_query(s, req, now); /* 429/503 with Retry-After, 401, 5xx, transport errors */
        return;
    }
    json_t *doc = json_loads(req->resp ? req->resp : "", 0, NULL);
    json_t *d = json_object_get(doc, "d"), *results = json_object_get(d, "results");
    json_t *next = json_object_get(d, "__next");
    if (!json_is_array(results) || (next && !json_is_string(next))) {
        json_decref(doc);
        snprintf(req->err, sizeof req->err, "answer without d.results");
        req->status = 0;
        retry_query(s, req, now);
        return;
    }
    s->in.attempt = 0;
    tr_free(s->next_url);
    s->next_url = next ? tr_strdup(json_string_value(next)) : NULL;
    s->query_got += json_array_size(results);
    page_load(s, results);
    conn__in_hold(&s->j, &s->in); /* on failure, conn__in_hold_gate tries again */
    s->j.rt->shared[s->j.conn_index].inbound_primed = true;
    json_decref(doc);
}

static void on_write(struct sap_in *s, struct conn__req *req, uint64_t now)
{
    size_t i = req->index;
    struct ent *e = &s->ents[i];
    const json_t *ent = json_array_get(s->page, i);
    char reason[400];
    e->state = ENT_WAITING;
    if (req->tag == TAG_PUT && req->status == 404) {
        e->write = TAG_CREATE; /* not in the ledger yet */
        return;
    }
    if (req->status >= 200 && req->status < 300) {
        s->j.records++;
        ent_settle(s, i);
        return;
    }
    conn__in_ledger_reason(req, reason, sizeof reason);
    if (conn__in_write_failed(&s->j, req, now, &e->attempt, &e->retry_at_ms, "entity",
                              ent_key(s, i), ent, reason))
        return;
    e->hashed = false;
    ent_settle(s, i);
}

static void sap_in_handle(struct conn__job *j, struct conn__req *req, uint64_t now)
{
    struct sap_in *s = SELF(j);
    if (req->tag == TAG_QUERY) {
        s->in.reading = false;
        on_query(s, req, now);
    } else if (s->page) {
        on_write(s, req, now);
    }
}

static void sap_in_status(struct conn__job *j, json_t *out)
{
    conn__in_status(&SELF(j)->in, out, SELF(j)->n);
}

static void sap_in_destroy(struct conn__job *j)
{
    struct sap_in *s = SELF(j);
    page_drop(s);
    tr_free(s->next_url);
    conn__in_close(&s->in);
    tr_free(s);
}

static const struct conn__job_ops sap_in_ops = {
    "inbound", sap_in_next, sap_in_handle, conn__in_data, sap_in_status, sap_in_destroy,
};

int conn__sap_in_create(struct conn_runner *rt, size_t ci, struct conn__job **out)
{
    struct sap_in *s = tr_calloc(1, sizeof *s);
    if (!s)
        return TR_ENOMEM;
    int rc = conn__in_init(&s->j, &s->in, &sap_in_ops, rt, ci);
    if (rc < 0) {
        tr_free(s);
        return rc;
    }
    *out = &s->j;
    return 0;
}
