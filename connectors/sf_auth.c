/* sf_auth.c — Salesforce OAuth 2.0 client-credentials token (POST /services/oauth2/token) and
 * Salesforce's error bodies ([{"message", "errorCode"}]). The token is fetched when none is held
 * and dropped on a 401, so the next step fetches a fresh one. Secrets go only into the request
 * body, never into an error or log line. Called by sf_in.c and outbound.c. */
#include "connectors/conn_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/err.h"

void conn__sf_auth_clear(struct conn__sf_auth *a)
{
    tr_free(a->token);
    tr_free(a->instance_url);
    a->token = a->instance_url = NULL;
}

/* Appends "&name=<urlencoded value>" to the form body. */
static int form_add(char **body, const char *name, const char *value)
{
    char *enc = conn__urlencode(value);
    if (!enc)
        return TR_ENOMEM;
    size_t old = *body ? strlen(*body) : 0, n = old + strlen(name) + strlen(enc) + 3;
    char *b = tr_realloc(*body, n);
    if (!b) {
        tr_free(enc);
        return TR_ENOMEM;
    }
    snprintf(b + old, n - old, "%s%s=%s", old ? "&" : "", name, enc);
    tr_free(enc);
    *body = b;
    return 0;
}

struct conn__req *conn__sf_token_req(struct conn__job *j, struct conn__sf_auth *a, int tag)
{
    const struct conn_cfg_connector *c = j->cfg;
    (void)a;
    char url[1100];
    snprintf(url, sizeof url, "%s/services/oauth2/token", c->login_url);
    struct conn__req *r = conn__req_new(j, "POST", url, tag);
    /* OAuth 2.0 client credentials (RFC 6749 §4.4), or the resource owner password flow
     * (§4.3) when a username is configured. */
    if (!r ||
        form_add(&r->body, "grant_type", c->username ? "password" : "client_credentials") < 0 ||
        form_add(&r->body, "client_id", c->client_id) < 0 ||
        form_add(&r->body, "client_secret", c->client_secret) < 0 ||
        (c->username && (form_add(&r->body, "username", c->username) < 0 ||
                         form_add(&r->body, "password", c->password) < 0)) ||
        conn__req_header(r, "Content-Type: application/x-www-form-urlencoded") < 0) {
        conn__req_free(r);
        return NULL;
    }
    r->body_len = strlen(r->body);
    return r;
}

int conn__sf_token_handle(struct conn__job *j, struct conn__sf_auth *a, struct conn__req *req,
                          uint64_t now_ms)
{
    json_t *doc = req->resp ? json_loads(req->resp, 0, NULL) : NULL;
    const char *tok = json_string_value(json_object_get(doc, "access_token"));
    const char *inst = json_string_value(json_object_get(doc, "instance_url"));
    int rc = TR_EDENIED;
    if (req->status == 200 && tok && inst) {
        conn__sf_auth_clear(a);
        a->token = tr_strdup(tok);
        a->instance_url = tr_strdup(inst);
        a->failures = 0;
        rc = a->token && a->instance_url ? 0 : TR_ENOMEM;
    } else {
        /* OAuth errors are {"error", "error_description"}; neither echoes the secret. */
        const char *e = json_string_value(json_object_get(doc, "error"));
        a->failures++;
        a->retry_at_ms = now_ms + conn__backoff(j, a->failures, req->retry_after_ms);
        if (req->status)
            conn__job_error(j, now_ms, "salesforce token request refused: HTTP %ld %.64s",
                            req->status, e ? e : "");
        else
            conn__job_error(j, now_ms, "salesforce token request failed: %s", req->err);
    }
    json_decref(doc);
    return rc;
}

void conn__sf_error(const struct conn__req *req, char *code, size_t size, char *msg, size_t msgsize)
{
    json_t *doc = req->resp ? json_loads(req->resp, 0, NULL) : NULL;
    json_t *first = json_is_array(doc) ? json_array_get(doc, 0) : doc;
    const char *c = json_string_value(json_object_get(first, "errorCode"));
    const char *m = json_string_value(json_object_get(first, "message"));
    snprintf(code, size, "%s", c ? c : "");
    snprintf(msg, msgsize, "%s", m ? m : (req->status ? "" : req->err));
    json_decref(doc);
}
