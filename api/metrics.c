/* metrics.c — the api's operations routes: GET /metrics (Prometheus text exposition format
 * 0.0.4) and GET /readyz. The api counts its own requests by route template and status in fixed
 * arrays (no allocation per request); node values come from the backend's node_stats. Called by
 * http.c (api__metrics_record, once per answered request) and by the router. */
#include "api/api_int.h"

#include "common/alloc.h"
#include "common/err.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define READY_MAX_APPLY_LAG 64 /* applied may trail commit by this many entries and be ready */

static const char *const route_names[API__ROUTE_COUNT] = {
    [API__ROUTE_OTHER] = "other",
    [API__ROUTE_DATA_TYPE] = "/v1/data/{type}",
    [API__ROUTE_DATA_KEY] = "/v1/data/{type}/{key}",
    [API__ROUTE_DATA_HISTORY] = "/v1/data/{type}/{key}/history",
    [API__ROUTE_BLOCK] = "/v1/ledger/blocks/{height}",
    [API__ROUTE_CHECKPOINT] = "/v1/ledger/checkpoints/latest",
    [API__ROUTE_PROPOSALS] = "/v1/members/proposals",
    [API__ROUTE_APPROVE] = "/v1/members/proposals/{id}/approve",
    [API__ROUTE_ROTATE_KEY] = "/v1/members/rotate-key",
    [API__ROUTE_TX_POST] = "/v1/tx",
    [API__ROUTE_TX_GET] = "/v1/tx/{id}",
    [API__ROUTE_TEST_ENTRY] = "/v1/_test/entry",
    [API__ROUTE_MEMBERS] = "/v1/members",
    [API__ROUTE_HEAD] = "/v1/ledger/head",
    [API__ROUTE_HEALTHZ] = "/healthz",
    [API__ROUTE_READYZ] = "/readyz",
    [API__ROUTE_METRICS] = "/metrics",
    [API__ROUTE_EVENTS] = "/v1/events",
    [API__ROUTE_SCHEMA] = "/v1/schema",
    [API__ROUTE_OPENAPI] = "/v1/openapi.json",
    [API__ROUTE_PROOF_INCLUSION] = "/v1/ledger/proofs/inclusion",
    [API__ROUTE_PROOF_CONSISTENCY] = "/v1/ledger/proofs/consistency",
    [API__ROUTE_EXPORT] = "/v1/ledger/export",
    [API__ROUTE_SCHEMA_PROPOSALS] = "/v1/schema/proposals",
    [API__ROUTE_SCHEMA_APPROVE] = "/v1/schema/proposals/{id}/approve",
};

static const double duration_bounds[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                         0.25,  0.5,    1,     2.5,  5,     10};

static const char *const role_names[] = {"follower", "pre-candidate", "candidate", "leader"};

void api_histogram_observe(struct api_histogram *h, double v)
{
    uint32_t i = 0;
    while (i < h->n_bounds && v > h->bounds[i])
        i++;
    h->counts[i]++;
    h->count++;
    h->sum += v;
}

void api__metrics_init(struct api__metrics *m)
{
    memset(m, 0, sizeof *m);
    for (size_t i = 0; i < API__ROUTE_COUNT; i++) {
        m->route[i].duration_seconds.bounds = duration_bounds;
        m->route[i].duration_seconds.n_bounds =
            (uint32_t)(sizeof duration_bounds / sizeof duration_bounds[0]);
    }
}

void api__metrics_record(struct api__metrics *m, enum api__route_id route, int status,
                         double seconds)
{
    TR_ASSERT((unsigned)route < API__ROUTE_COUNT);
    if (status >= API__STATUS_MIN && status <= API__STATUS_MAX) /* always, see api_int.h */
        m->route[route].count[status - API__STATUS_MIN]++;
    api_histogram_observe(&m->route[route].duration_seconds, seconds);
}

/* ------------------------------------------------------------------------------------------- */
/* Text output */

/* A growable text buffer; `failed` sticks after an allocation failure. */
struct text {
    char *p;
    size_t len, cap;
    bool failed;
};

static void text_printf(struct text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void text_printf(struct text *t, const char *fmt, ...)
{
    for (int attempt = 0; attempt < 2 && !t->failed; attempt++) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(t->p ? t->p + t->len : NULL, t->p ? t->cap - t->len : 0, fmt, ap);
        va_end(ap);
        if (n < 0) {
            t->failed = true;
            return;
        }
        if (t->p && t->len + (size_t)n < t->cap) {
            t->len += (size_t)n;
            return;
        }
        size_t ncap = t->cap ? t->cap : 4096;
        while (ncap <= t->len + (size_t)n)
            ncap *= 2;
        char *np = tr_realloc(t->p, ncap);
        if (!np)
            t->failed = true;
        else {
            t->p = np;
            t->cap = ncap;
        }
    }
}

static void text_head(struct text *t, const char *name, const char *type, const char *help)
{
    text_printf(t, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* The bucket, _sum and _count lines of `h`; `labels` is "" or `key="value",` (with the comma). */
static void text_histogram(struct text *t, const char *name, const char *labels,
                           const struct api_histogram *h)
{
    uint64_t cum = 0;
    for (uint32_t i = 0; i < h->n_bounds; i++) {
        cum += h->counts[i];
        text_printf(t, "%s_bucket{%sle=\"%g\"} %" PRIu64 "\n", name, labels, h->bounds[i], cum);
    }
    cum += h->counts[h->n_bounds];
    text_printf(t, "%s_bucket{%sle=\"+Inf\"} %" PRIu64 "\n", name, labels, cum);
    size_t ll = strlen(labels);
    text_printf(t, "%s_sum%s%.*s%s %.9g\n", name, ll ? "{" : "", ll ? (int)ll - 1 : 0, labels,
                ll ? "}" : "", h->sum);
    text_printf(t, "%s_count%s%.*s%s %" PRIu64 "\n", name, ll ? "{" : "", ll ? (int)ll - 1 : 0,
                labels, ll ? "}" : "", h->count);
}

static void text_http(struct text *t, const struct api__metrics *m)
{
    const char *name = "treaty_http_requests_total";
    text_head(t, name, "counter", "HTTP requests answered, by route template and status.");
    for (size_t r = 0; r < API__ROUTE_COUNT; r++)
        for (int st = API__STATUS_MIN; st <= API__STATUS_MAX; st++)
            if (m->route[r].count[st - API__STATUS_MIN])
                text_printf(t, "%s{route=\"%s\",status=\"%d\"} %" PRIu64 "\n", name, route_names[r],
                            st, m->route[r].count[st - API__STATUS_MIN]);
    name = "treaty_http_request_duration_seconds";
    text_head(t, name, "histogram", "Time from request start to answer, by route template.");
    for (size_t r = 0; r < API__ROUTE_COUNT; r++) {
        if (m->route[r].duration_seconds.count == 0)
            continue;
        char labels[96];
        snprintf(labels, sizeof labels, "route=\"%s\",", route_names[r]);
        text_histogram(t, name, labels, &m->route[r].duration_seconds);
    }
}

static void text_gauge(struct text *t, const char *name, const char *help, uint64_t v)
{
    text_head(t, name, "gauge", help);
    text_printf(t, "%s %" PRIu64 "\n", name, v);
}

static void text_node(struct text *t, const struct api_node_stats *s)
{
    text_gauge(t, "treaty_raft_term", "Current Raft term.", s->term);
    text_head(t, "treaty_raft_role", "gauge", "1 for the node's current Raft role.");
    for (size_t i = 0; i < sizeof role_names / sizeof role_names[0]; i++)
        text_printf(t, "treaty_raft_role{role=\"%s\"} %d\n", role_names[i],
                    s->role && strcmp(s->role, role_names[i]) == 0);
    text_gauge(t, "treaty_raft_commit_index", "Highest log index known committed.",
               s->commit_index);
    text_gauge(t, "treaty_raft_applied_index", "Highest log index applied to the ledger.",
               s->applied_index);
    text_gauge(t, "treaty_peers_connected", "Peers whose outbound link is up.", s->peers_connected);
    if (s->batch_txs) {
        text_head(t, "treaty_batch_txs", "histogram", "Txs per signed batch.");
        text_histogram(t, "treaty_batch_txs", "", s->batch_txs);
    }
    if (s->commit_latency_seconds) {
        text_head(t, "treaty_commit_latency_seconds", "histogram",
                  "Time from submit to answer of committed writes.");
        text_histogram(t, "treaty_commit_latency_seconds", "", s->commit_latency_seconds);
    }
    if (s->persist_seconds) {
        text_head(t, "treaty_persist_seconds", "histogram",
                  "Time of one log write of the Raft pump (entries, hard state, flush).");
        text_histogram(t, "treaty_persist_seconds", "", s->persist_seconds);
    }
    if (s->persist_entries) {
        text_head(t, "treaty_persist_entries", "histogram",
                  "Log entries written by one log write.");
        text_histogram(t, "treaty_persist_entries", "", s->persist_entries);
    }
    if (s->apply_seconds) {
        text_head(t, "treaty_apply_seconds", "histogram",
                  "Time of one apply of committed blocks (one LMDB commit), queued to done.");
        text_histogram(t, "treaty_apply_seconds", "", s->apply_seconds);
    }
    if (s->apply_entries) {
        text_head(t, "treaty_apply_entries", "histogram", "Blocks applied by one apply.");
        text_histogram(t, "treaty_apply_entries", "", s->apply_entries);
    }
    text_gauge(t, "treaty_lmdb_map_bytes", "Size of the LMDB map.", s->lmdb_map_bytes);
    text_gauge(t, "treaty_lmdb_used_bytes", "Bytes of the LMDB map in use.", s->lmdb_used_bytes);
    text_head(t, "treaty_log_syncs_total", "counter", "Flushes of the Raft log file.");
    text_printf(t, "treaty_log_syncs_total %" PRIu64 "\n", s->log_syncs);
}

/* node_stats of the backend; false when there is none or it failed. */
static bool node_stats(struct api__req *r, struct api_node_stats *s)
{
    const struct api_backend *be = api__backend(r);
    memset(s, 0, sizeof *s);
    return be->node_stats && be->node_stats(be->ctx, s) == TR_OK;
}

void api__route_metrics(struct api__req *r)
{
    struct text t = {0};
    struct api_node_stats s;
    /* The request being answered is counted by the next scrape, as usual for Prometheus. */
    text_http(&t, api__metrics_of(r));
    if (node_stats(r, &s))
        text_node(&t, &s);
    if (t.failed)
        api__problemf(r, 500, NULL, "out of memory");
    else
        api__respond_typed(r, 200, "text/plain; version=0.0.4; charset=utf-8", t.p, t.len);
    tr_free(t.p);
}

void api__route_readyz(struct api__req *r)
{
    struct api_node_stats s;
    if (!node_stats(r, &s)) {
        api__problemf(r, 503, "not-ready", "the node's status is not available");
        return;
    }
    uint64_t lag = s.commit_index > s.applied_index ? s.commit_index - s.applied_index : 0;
    bool quorum = s.voters > 0 && 2u * s.voters_connected > s.voters;
    if (!s.leader_known)
        api__problemf(r, 503, "not-ready", "no known leader");
    else if (!quorum)
        api__problemf(r, 503, "not-ready", "connected to %u of %u voters, not a majority",
                      s.voters_connected, s.voters);
    else if (lag > READY_MAX_APPLY_LAG)
        api__problemf(r, 503, "not-ready",
                      "applied index %" PRIu64 " trails commit index %" PRIu64 " by more than %d",
                      s.applied_index, s.commit_index, READY_MAX_APPLY_LAG);
    else
        api__respond_json(r, 200,
                          json_pack("{s:b, s:s, s:I, s:I, s:i, s:i}", "ready", 1, "role",
                                    s.role ? s.role : "", "commit_index",
                                    (json_int_t)s.commit_index, "applied_index",
                                    (json_int_t)s.applied_index, "voters", (int)s.voters,
                                    "voters_connected", (int)s.voters_connected),
                          NULL, NULL);
}
