/* hs_api.c — what the HubSpot jobs share: requests with the private app token (a Bearer header,
 * never logged), HubSpot's error bodies ({"status":"error","message","category"} and, on 429,
 * {"errorType":"RATE_LIMIT","policyName"}) turned into a verdict and a wait, and date-time
 * properties as epoch milliseconds. Called by hs_in.c and hs_out.c. */
#include "connectors/hs.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/alloc.h"
#include "common/err.h"

#define DAY_MS 86400000ull

struct conn__req *conn__hs_req(struct conn__job *j, const char *method, const char *path,
                               const json_t *body, int tag)
{
    const struct conn_hs_cfg *h = j->cfg->hubspot;
    size_t n = strlen(h->base_url) + strlen(path) + 1;
    char *url = tr_malloc(n);
    if (!url)
        return NULL;
    snprintf(url, n, "%s%s", h->base_url, path);
    struct conn__req *r = conn__req_new(j, method, url, tag);
    tr_free(url);
    if (r && conn__req_header(r, "Authorization: Bearer %s", h->token) < 0) {
        conn__req_free(r);
        return NULL;
    }
    if (r && body) {
        conn__req_body_json(r, body);
        if (!r->body) {
            conn__req_free(r);
            return NULL;
        }
    }
    return r;
}

/* Milliseconds from the wall clock to the next UTC midnight, when HubSpot's daily limit is
 * assumed to reset (it resets at midnight of the account's time zone, which the API does not
 * say; the configured cap bounds the guess). */
static uint64_t ms_to_utc_midnight(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t now = (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
    return DAY_MS - now % DAY_MS;
}

/* Sets *wait_ms for a 429: Retry-After, else a DAILY policy's wait, else the backoff. */
static uint64_t rate_wait(struct conn__job *j, const struct conn__req *req, const char *policy,
                          uint32_t attempt, bool *daily)
{
    *daily = strcmp(policy, "DAILY") == 0;
    if (req->retry_after_ms > 0)
        return conn__backoff(j, attempt, req->retry_after_ms);
    if (*daily) {
        uint64_t w = ms_to_utc_midnight(), cap = j->cfg->hubspot->daily_wait_max_ms;
        j->retries++;
        return w < cap ? w : cap;
    }
    return conn__backoff(j, attempt, -1);
}

enum conn__hs_verdict conn__hs_failed(struct conn__job *j, const struct conn__req *req,
                                      uint32_t attempt, uint64_t now_ms, uint64_t *wait_ms,
                                      char *reason, size_t size)
{
    json_t *doc = req->resp ? json_loads(req->resp, 0, NULL) : NULL;
    const char *msg = json_string_value(json_object_get(doc, "message"));
    const char *cat = json_string_value(json_object_get(doc, "category"));
    const char *policy = json_string_value(json_object_get(doc, "policyName"));
    enum conn__hs_verdict v = CONN__HS_RETRY;
    if (!req->status) {
        snprintf(reason, size, "hubspot unreachable: %s", req->err);
    } else {
        snprintf(reason, size, "hubspot answered HTTP %ld %s%s%.160s", req->status,
                 cat ? cat : (policy ? policy : ""), cat || policy ? ": " : "", msg ? msg : "");
    }
    if (req->status == 429) {
        bool daily;
        *wait_ms = rate_wait(j, req, policy ? policy : "", attempt, &daily);
        conn__job_error(j, now_ms, "hubspot rate limit (429 %s)%s; waiting %llu ms",
                        policy ? policy : "no policy",
                        daily ? ": daily limit, waiting for the next day (capped by "
                                "hubspot.daily_wait_max_ms)"
                              : "",
                        (unsigned long long)*wait_ms);
    } else if (req->status == 401 || req->status == 403) {
        v = CONN__HS_AUTH;
        *wait_ms = conn__backoff(j, attempt, req->retry_after_ms);
        conn__job_error(j, now_ms,
                        "hubspot refused the access token (HTTP %ld %s): check the private "
                        "app token and its scopes; retrying in %llu ms",
                        req->status, cat ? cat : "", (unsigned long long)*wait_ms);
    } else if (conn__transient(req->status)) {
        *wait_ms = conn__backoff(j, attempt, req->retry_after_ms);
        conn__job_error(j, now_ms, "%s; retrying in %llu ms", reason, (unsigned long long)*wait_ms);
    } else {
        v = CONN__HS_PERMANENT;
        *wait_ms = conn__backoff(j, attempt, req->retry_after_ms);
        conn__job_error(j, now_ms, "%s", reason);
    }
    json_decref(doc);
    return v;
}

int64_t conn__hs_stamp_ms(const char *text)
{
    if (!text || !*text)
        return -1;
    if (strspn(text, "0123456789") == strlen(text) && strlen(text) <= 15)
        return (int64_t)strtoll(text, NULL, 10);
    struct conn_field f = {
        .xform = CONN_XF_DATE, .ledger_df = CONN_DF_EPOCH_MS, .saas_df = CONN_DF_RFC3339};
    json_t *in = json_string(text), *out = NULL;
    int rc = in ? conn_xform_value(&f, in, 1, &out) : TR_ENOMEM;
    int64_t ms = rc == 0 && json_is_integer(out) ? (int64_t)json_integer_value(out) : -1;
    json_decref(in);
    json_decref(out);
    return ms;
}
