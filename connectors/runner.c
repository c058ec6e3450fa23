/* runner.c — builds one job per connector and direction, and the helpers jobs share: requests,
 * node API calls, dead letters, error bookkeeping, hashes, backoff, the status document.
 * Called by node/cli_connect.c through conn.h and by the jobs through conn_int.h. */
#include "connectors/conn_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/err.h"
#include "common/log.h"
#include "connectors/dynamics.h"

struct conn__req *conn__req_new(struct conn__job *j, const char *method, const char *url, int tag)
{
    struct conn__req *r = tr_calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->job = j;
    r->tag = tag;
    r->retry_after_ms = -1;
    snprintf(r->method, sizeof r->method, "%s", method);
    r->url = tr_strdup(url);
    if (!r->url) {
        tr_free(r);
        return NULL;
    }
    return r;
}

int conn__req_header(struct conn__req *r, const char *fmt, ...)
{
    char buf[4608];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof buf || r->nhdr == CONN__HDR_MAX)
        return TR_ELIMIT;
    r->hdr[r->nhdr] = tr_strdup(buf);
    if (!r->hdr[r->nhdr])
        return TR_ENOMEM;
    r->nhdr++;
    return 0;
}

void conn__req_body_json(struct conn__req *r, const json_t *body)
{
    char *s = json_dumps(body, JSON_COMPACT | JSON_REAL_PRECISION(17));
    tr_free(r->body);
    r->body = s ? tr_strdup(s) : NULL;
    free(s);
    r->body_len = r->body ? strlen(r->body) : 0;
    conn__req_header(r, "Content-Type: application/json");
}

void conn__req_free(struct conn__req *r)
{
    if (!r)
        return;
    tr_free(r->url);
    for (size_t i = 0; i < r->nhdr; i++)
        tr_free(r->hdr[i]);
    tr_free(r->body);
    tr_free(r->resp);
    tr_free(r->resp_hdr);
    tr_free(r);
}

struct conn__req *conn__node_req(struct conn__job *j, const char *method, const char *path, int tag)
{
    const char *base = j->rt->cfg->node_url;
    size_t n = strlen(base) + strlen(path) + 1;
    char *url = tr_malloc(n);
    if (!url)
        return NULL;
    snprintf(url, n, "%s%s", base, path);
    struct conn__req *r = conn__req_new(j, method, url, tag);
    tr_free(url);
    if (r && conn__req_header(r, "Authorization: Bearer %s", j->rt->cfg->api_key) < 0) {
        conn__req_free(r);
        return NULL;
    }
    return r;
}

char *conn__urlencode(const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = strlen(s);
    char *out = tr_malloc(3 * n + 1), *o = out;
    if (!out)
        return NULL;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
            *p == '-' || *p == '_' || *p == '.' || *p == '~') {
            *o++ = (char)*p;
        } else {
            *o++ = '%';
            *o++ = hex[*p >> 4];
            *o++ = hex[*p & 15];
        }
    }
    *o = '\0';
    return out;
}

void conn__job_error(struct conn__job *j, uint64_t now_ms, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(j->last_error, sizeof j->last_error, fmt, ap);
    va_end(ap);
    j->last_error_ms = now_ms;
    char q[300];
    tr_log(TR_LOG_WARN, "connector_error", "connector=%s direction=%s error=%s", j->cfg->name,
           j->ops->direction, tr_log_quote(q, sizeof q, j->last_error));
}

void conn__key(char *buf, size_t size, const struct conn__job *j, const char *kind,
               const char *rest)
{
    snprintf(buf, size, "%s/%s/%s", kind, j->cfg->name, rest);
}

void conn__dead_letter(struct conn__job *j, const char *id, const char *reason,
                       const json_t *record)
{
    struct conn_runner *rt = j->rt;
    j->dead_letters++;
    char q[300], qi[300];
    tr_log(TR_LOG_WARN, "connector_dead_letter", "connector=%s direction=%s id=%s reason=%s",
           j->cfg->name, j->ops->direction, tr_log_quote(qi, sizeof qi, id),
           tr_log_quote(q, sizeof q, reason));
    char cnt_key[256], *cnt = NULL;
    conn__key(cnt_key, sizeof cnt_key, j, "dlcount", "");
    unsigned long long n = 0;
    if (rt->store->get(rt->store->ctx, cnt_key, &cnt) == 0) {
        n = strtoull(cnt, NULL, 10);
        tr_free(cnt);
    }
    char nbuf[32], seq[32], key[256];
    snprintf(nbuf, sizeof nbuf, "%llu", n + 1);
    snprintf(seq, sizeof seq, "%020llu", n + 1);
    conn__key(key, sizeof key, j, "dl", seq);
    json_t *dl = json_pack("{s:s,s:s,s:s,s:s,s:O?}", "connector", j->cfg->name, "direction",
                           j->ops->direction, "id", id, "reason", reason, "record", record);
    char *val = dl ? json_dumps(dl, JSON_COMPACT) : NULL;
    json_decref(dl);
    struct conn_kv kv[2] = {{cnt_key, nbuf}, {key, val}};
    /* Beyond the bound dead letters are counted, not kept. */
    size_t nkv = n < rt->cfg->limits.max_dead_letters && val ? 2 : 1;
    if (rt->store->put(rt->store->ctx, kv, nkv) < 0)
        conn__job_error(j, conn__now_ms(rt), "dead letter %s: state store write failed", id);
    free(val);
}

void conn__hash_hex(struct conn_runner *rt, const char *proj, char hex[65])
{
    uint8_t h[32];
    rt->crypto->sha256((const uint8_t *)proj, strlen(proj), h);
    for (int i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", h[i]);
}

int conn__map_hash(struct conn__job *j, const json_t *saas, json_t **body, char hash[65], char *err,
                   size_t errlen)
{
    if (conn_map_inbound(j->cfg, saas, body, err, errlen) < 0)
        return TR_EINVALID;
    char *proj = conn_map_projection(j->cfg, *body);
    if (!proj) {
        json_decref(*body);
        *body = NULL;
        snprintf(err, errlen, "out of memory");
        return TR_ENOMEM;
    }
    conn__hash_hex(j->rt, proj, hash);
    free(proj);
    return 0;
}

uint64_t conn__backoff(struct conn__job *j, uint32_t attempt, int64_t retry_after_ms)
{
    const struct conn_limits *l = &j->rt->cfg->limits;
    j->retries++;
    return conn_backoff_ms(l->backoff_base_ms, l->backoff_max_ms, attempt,
                           j->rt->crypto->random64(),
                           retry_after_ms > 0 ? (uint64_t)retry_after_ms : 0);
}

bool conn__transient(long status)
{
    return status == 0 || status == 408 || status == 425 || status == 429 || status >= 500;
}

const char *conn__kind_name(enum conn_kind k)
{
    switch (k) {
    case CONN_KIND_SALESFORCE:
        return "salesforce";
    case CONN_KIND_HUBSPOT:
        return "hubspot";
    case CONN_KIND_DYNAMICS:
        return "dynamics";
    case CONN_KIND_SAP:
        return "sap";
    case CONN_KIND_WEBHOOK:
        break;
    }
    return "webhook";
}

/* The inbound job of connector ci's kind (a webhook has none: config.c refuses it). */
static int in_create(struct conn_runner *r, size_t ci, struct conn__job **out)
{
    switch (r->cfg->connectors[ci].kind) {
    case CONN_KIND_HUBSPOT:
        return conn__hs_in_create(r, ci, out);
    case CONN_KIND_DYNAMICS:
        return conn__dyn_in_create(r, ci, out);
    case CONN_KIND_SAP:
        return conn__sap_in_create(r, ci, out);
    case CONN_KIND_SALESFORCE:
    case CONN_KIND_WEBHOOK:
        break;
    }
    return conn__sf_in_create(r, ci, out);
}

int conn_runner_create(uv_loop_t *loop, const struct conn_cfg *cfg, const struct conn_store *st,
                       const struct conn_crypto *crypto, struct conn_runner **out)
{
    struct conn_runner *r = tr_calloc(1, sizeof *r);
    int rc = TR_ENOMEM;
    *out = NULL;
    if (!r)
        return rc;
    r->loop = loop, r->cfg = cfg, r->store = st, r->crypto = crypto;
    r->jobs = tr_calloc(2 * cfg->nconnectors, sizeof *r->jobs);
    r->shared = tr_calloc(cfg->nconnectors, sizeof *r->shared);
    if (!r->jobs || !r->shared)
        goto fail;
    for (size_t i = 0; i < cfg->nconnectors; i++) {
        const struct conn_cfg_connector *c = &cfg->connectors[i];
        if (!(r->shared[i].pending_in = json_object()))
            goto fail;
        if ((c->direction & CONN_DIR_INBOUND) && (rc = in_create(r, i, &r->jobs[r->njobs])) < 0)
            goto fail;
        r->njobs += (c->direction & CONN_DIR_INBOUND) ? 1 : 0;
        if ((c->direction & CONN_DIR_OUTBOUND) &&
            (rc = conn__out_create(r, i, &r->jobs[r->njobs])) < 0)
            goto fail;
        r->njobs += (c->direction & CONN_DIR_OUTBOUND) ? 1 : 0;
    }
    if ((rc = conn__edge_create(r, &r->edge)) < 0)
        goto fail;
    *out = r;
    return 0;
fail:
    conn_runner_destroy(r);
    return rc < 0 ? rc : TR_ENOMEM;
}

int conn_runner_start(struct conn_runner *r)
{
    if (r->cfg->status_port) {
        int rc = conn__status_start(r);
        if (rc < 0)
            return rc;
    }
    conn__edge_pump(r->edge);
    return 0;
}

void conn_runner_stop(struct conn_runner *r)
{
    r->stopping = true;
    conn__edge_stop(r->edge);
}

void conn_runner_destroy(struct conn_runner *r)
{
    if (!r)
        return;
    conn__edge_destroy(r->edge);
    for (size_t i = 0; i < r->njobs; i++)
        r->jobs[i]->ops->destroy(r->jobs[i]);
    for (size_t i = 0; r->shared && i < r->cfg->nconnectors; i++)
        json_decref(r->shared[i].pending_in);
    tr_free(r->shared);
    tr_free(r->jobs);
    tr_free(r);
}

static int collect_dl(void *arg, const char *key, const char *val)
{
    (void)key;
    json_t *v = json_loads(val, 0, NULL);
    if (v)
        json_array_append_new(arg, v);
    return 0;
}

static json_t *job_status(struct conn_runner *r, struct conn__job *j, uint64_t now)
{
    json_t *o = json_pack("{s:s,s:s,s:I,s:I,s:I,s:I,s:I}", "direction", j->ops->direction, "state",
                          j->state, "records", (json_int_t)j->records, "skipped",
                          (json_int_t)j->skipped, "dead_letters", (json_int_t)j->dead_letters,
                          "retries", (json_int_t)j->retries, "inflight", (json_int_t)j->inflight);
    if (!o)
        return NULL;
    json_object_set_new(o, "lag_ms",
                        json_integer(j->caught_up_ms && now > j->caught_up_ms
                                         ? (json_int_t)(now - j->caught_up_ms)
                                         : 0));
    json_object_set_new(o, "last_error",
                        j->last_error[0] ? json_string(j->last_error) : json_null());
    j->ops->status(j, o);
    (void)r;
    return o;
}

json_t *conn_runner_status(struct conn_runner *r)
{
    json_t *arr = json_array();
    uint64_t now = conn__now_ms(r);
    for (size_t i = 0; arr && i < r->cfg->nconnectors; i++) {
        const struct conn_cfg_connector *c = &r->cfg->connectors[i];
        json_t *jobs = json_array(), *dls = json_array();
        for (size_t k = 0; k < r->njobs; k++)
            if (r->jobs[k]->conn_index == i)
                json_array_append_new(jobs, job_status(r, r->jobs[k], now));
        char prefix[128];
        snprintf(prefix, sizeof prefix, "dl/%s/", c->name);
        r->store->scan(r->store->ctx, prefix, 100, collect_dl, dls);
        json_array_append_new(arr, json_pack("{s:s,s:s,s:s,s:o,s:o}", "name", c->name, "kind",
                                             conn__kind_name(c->kind), "ledger_type",
                                             c->ledger_type, "jobs", jobs, "dead_letters", dls));
    }
    return json_pack("{s:o}", "connectors", arr);
}

enum conn__verdict conn__verdict_of(const struct conn__req *req, const char *who, const char *code,
                                    const char *msg, char *reason, size_t rlen)
{
    snprintf(reason, rlen, "%s answered HTTP %ld %s %s", who, req->status, code,
             req->status ? msg : req->err);
    if (req->status >= 200 && req->status < 300)
        return CONN__V_DONE;
    if (req->status == 429)
        return CONN__V_LIMITED;
    return conn__transient(req->status) ? CONN__V_RETRY : CONN__V_DEAD;
}

bool conn__synced(struct conn__job *j, const char *key, const char *hash)
{
    const struct conn_store *st = j->rt->store;
    static const char *const kinds[] = {"sync", "pend"};
    for (size_t k = 0; k < 2; k++) {
        char skey[640], *got = NULL;
        conn__key(skey, sizeof skey, j, kinds[k], key);
        bool same = st->get(st->ctx, skey, &got) == 0 && strcmp(got, hash) == 0;
        tr_free(got);
        if (same)
            return true;
    }
    return false;
}
