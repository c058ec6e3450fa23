/* dynamics_auth.c — the Dataverse session: an OAuth 2.0 client-credentials token (RFC 6749 §4.4,
 * `scope=<org_url>/.default` as Microsoft identity platform asks) fetched when none is held,
 * refreshed before its expires_in runs out and dropped on a 401; plus the OData helpers both
 * Dynamics jobs use (headers, URLs, key segments, error bodies). Secrets go only into the token
 * request body and the Authorization header, never into an error or log line. */
#include "connectors/dynamics.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/err.h"

/* A token is refreshed this long before it expires (at most a quarter of its lifetime). */
#define REFRESH_MARGIN_MS 300000u

void conn__dyn_auth_clear(struct conn__dyn_auth *a)
{
    tr_free(a->token);
    a->token = NULL;
    a->refresh_ms = 0;
}

bool conn__dyn_auth_due(const struct conn__dyn_auth *a, uint64_t now_ms)
{
    return !a->inflight && a->retry_at_ms <= now_ms && (!a->token || now_ms >= a->refresh_ms);
}

/* Builds "k1=v1&k2=v2…" from pairs, each value percent-encoded. */
static char *form_body(const char *const *kv, size_t npairs)
{
    size_t cap = 1, len = 0;
    char *enc[8] = {0}, *out = NULL;
    for (size_t i = 0; i < npairs; i++) {
        if (!(enc[i] = conn__urlencode(kv[2 * i + 1])))
            goto done;
        cap += strlen(kv[2 * i]) + strlen(enc[i]) + 2;
    }
    if (!(out = tr_malloc(cap)))
        goto done;
    for (size_t i = 0; i < npairs; i++)
        len += (size_t)snprintf(out + len, cap - len, "%s%s=%s", i ? "&" : "", kv[2 * i], enc[i]);
done:
    for (size_t i = 0; i < npairs; i++) {
        if (enc[i]) /* the encoded secret is wiped too */
            memset(enc[i], 0, strlen(enc[i]));
        tr_free(enc[i]);
    }
    return out;
}

struct conn__req *conn__dyn_token_req(struct conn__job *j, struct conn__dyn_auth *a, int tag)
{
    const struct conn_dyn_cfg *d = j->cfg->dynamics;
    const char *kv[] = {"grant_type",    "client_credentials", "client_id", d->client_id,
                        "client_secret", d->client_secret,     "scope",     d->scope};
    struct conn__req *r = conn__req_new(j, "POST", d->token_url, tag);
    if (!r)
        return NULL;
    r->body = form_body(kv, 4);
    if (!r->body || conn__req_header(r, "Content-Type: application/x-www-form-urlencoded") < 0 ||
        conn__req_header(r, "Accept: application/json") < 0) {
        conn__req_free(r);
        return NULL;
    }
    r->body_len = strlen(r->body);
    a->inflight = true;
    return r;
}

int conn__dyn_token_handle(struct conn__job *j, struct conn__dyn_auth *a, struct conn__req *req,
                           uint64_t now_ms)
{
    json_t *doc = req->resp ? json_loads(req->resp, 0, NULL) : NULL;
    const char *tok = json_string_value(json_object_get(doc, "access_token"));
    json_t *exp = json_object_get(doc, "expires_in");
    int rc = TR_EDENIED;
    a->inflight = false;
    if (req->status == 200 && tok && *tok) {
        conn__dyn_auth_clear(a);
        /* expires_in is a number of seconds (RFC 6749 §5.1); Azure AD has sent it as a string. */
        double secs = json_is_number(exp)   ? json_number_value(exp)
                      : json_is_string(exp) ? strtod(json_string_value(exp), NULL)
                                            : 3600.0;
        uint64_t life_ms = secs > 0 && secs < 1e7 ? (uint64_t)(secs * 1000.0) : 0;
        uint64_t margin = life_ms / 4 < REFRESH_MARGIN_MS ? life_ms / 4 : REFRESH_MARGIN_MS;
        a->token = tr_strdup(tok);
        a->refresh_ms = now_ms + life_ms - margin;
        a->failures = 0;
        rc = a->token ? 0 : TR_ENOMEM;
    } else {
        /* OAuth errors are {"error", "error_description"}; neither echoes the secret. */
        const char *e = json_string_value(json_object_get(doc, "error"));
        a->failures++;
        a->retry_at_ms = now_ms + conn__backoff(j, a->failures, req->retry_after_ms);
        if (req->status)
            conn__job_error(j, now_ms, "dynamics token request refused: HTTP %ld %.64s",
                            req->status, e ? e : "");
        else
            conn__job_error(j, now_ms, "dynamics token request failed: %s", req->err);
    }
    json_decref(doc);
    return rc;
}

bool conn__dyn_unauthorized(struct conn__dyn_auth *a)
{
    conn__dyn_auth_clear(a);
    return ++a->unauthorized == 1;
}

int conn__dyn_headers(struct conn__req *r, const struct conn__dyn_auth *a)
{
    if (conn__req_header(r, "Authorization: Bearer %s", a->token) < 0 ||
        conn__req_header(r, "Accept: application/json") < 0 ||
        conn__req_header(r, "OData-MaxVersion: 4.0") < 0 ||
        conn__req_header(r, "OData-Version: 4.0") < 0)
        return TR_ENOMEM;
    return 0;
}

void conn__dyn_base(const struct conn_cfg_connector *c, char *buf, size_t size)
{
    snprintf(buf, size, "%s/api/data/v%s/%s", c->dynamics->org_url, c->dynamics->api_version,
             c->object);
}

void conn__dyn_error(const struct conn__req *req, char *buf, size_t size)
{
    json_t *doc = req->resp ? json_loads(req->resp, 0, NULL) : NULL;
    json_t *e = json_object_get(doc, "error");
    const char *code = json_string_value(json_object_get(e, "code"));
    const char *msg = json_string_value(json_object_get(e, "message"));
    if (req->status)
        snprintf(buf, size, "HTTP %ld%s%.32s%s%.200s", req->status, code ? " " : "",
                 code ? code : "", msg ? ": " : "", msg ? msg : "");
    else
        snprintf(buf, size, "%s", req->err);
    json_decref(doc);
}

char *conn__dyn_key_segment(const struct conn_cfg_connector *c, const char *value)
{
    size_t quotes = 0;
    for (const char *s = value; *s; s++)
        quotes += *s == '\'';
    char *doubled = tr_malloc(strlen(value) + quotes + 1), *o = doubled;
    if (!doubled)
        return NULL;
    for (const char *s = value; *s; s++) {
        *o++ = *s;
        if (*s == '\'')
            *o++ = '\'';
    }
    *o = '\0';
    char *enc = conn__urlencode(doubled);
    tr_free(doubled);
    if (!enc)
        return NULL;
    size_t n = strlen(c->external_id) + strlen(enc) + 6;
    char *seg = tr_malloc(n);
    if (seg)
        snprintf(seg, n, "(%s='%s')", c->external_id, enc);
    tr_free(enc);
    return seg;
}
