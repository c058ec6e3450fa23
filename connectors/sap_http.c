/* sap_http.c — what the SAP jobs (sap_in.c, sap_out.c) share about talking to an SAP Gateway
 * OData V2 service: the Authorization header (HTTP Basic, RFC 7617, or a bearer token), the CSRF
 * token fetched with "X-CSRF-Token: Fetch" together with the session cookies it is bound to,
 * answer headers, OData V2 error bodies and the change stamp (LastChangeDate + LastChangeTime).
 * Credentials go only into request headers, never into an error or log line. */
#include "connectors/conn_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/alloc.h"
#include "common/err.h"

#define COOKIE_MAX_BYTES 4000

/* RFC 4648 §4 base64 of "user:password" into out (NUL-terminated); false when it does not fit. */
static bool basic_credentials(const char *user, const char *pass, char *out, size_t size)
{
    static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char plain[2 * 4096 + 2];
    int n = snprintf(plain, sizeof plain, "%s:%s", user, pass);
    if (n < 0 || (size_t)n >= sizeof plain || ((size_t)n + 2) / 3 * 4 + 1 > size)
        return false;
    const unsigned char *p = (const unsigned char *)plain;
    size_t o = 0;
    for (size_t i = 0; i < (size_t)n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16;
        size_t left = (size_t)n - i;
        if (left > 1)
            v |= (uint32_t)p[i + 1] << 8;
        if (left > 2)
            v |= p[i + 2];
        out[o++] = b64[v >> 18 & 63];
        out[o++] = b64[v >> 12 & 63];
        out[o++] = left > 1 ? b64[v >> 6 & 63] : '=';
        out[o++] = left > 2 ? b64[v & 63] : '=';
    }
    out[o] = '\0';
    volatile char *w = plain; /* the password does not linger on the stack */
    for (int i = 0; i < n; i++)
        w[i] = 0;
    return true;
}

static int auth_header(struct conn__req *r, const struct conn_sap_cfg *c)
{
    if (c->token)
        return conn__req_header(r, "Authorization: Bearer %s", c->token);
    char b[4 * ((2 * 4096 + 4) / 3) + 8];
    if (!basic_credentials(c->user, c->password, b, sizeof b))
        return TR_ELIMIT;
    int rc = conn__req_header(r, "Authorization: Basic %s", b);
    memset(b, 0, sizeof b);
    return rc;
}

struct conn__req *conn__sap_req(struct conn__job *j, const struct conn__sap_session *s,
                                const char *method, const char *url, int tag, bool with_csrf)
{
    struct conn__req *r = conn__req_new(j, method, url, tag);
    if (!r)
        return NULL;
    if (auth_header(r, j->cfg->sap) < 0 || conn__req_header(r, "Accept: application/json") < 0 ||
        (s && s->cookie && conn__req_header(r, "Cookie: %s", s->cookie) < 0) ||
        (with_csrf && s && s->csrf && conn__req_header(r, "X-CSRF-Token: %s", s->csrf) < 0)) {
        conn__req_free(r);
        return NULL;
    }
    return r;
}

struct conn__req *conn__sap_csrf_req(struct conn__job *j, struct conn__sap_session *s, int tag)
{
    char url[1200];
    conn__sap_session_clear(s); /* a fresh session: the old cookies belong to the old token */
    const struct conn_sap_cfg *c = j->cfg->sap;
    snprintf(url, sizeof url, "%s/%s%s", c->root, *c->client ? "?sap-client=" : "", c->client);
    struct conn__req *r = conn__sap_req(j, s, "GET", url, tag, false);
    if (r && conn__req_header(r, "X-CSRF-Token: Fetch") < 0) {
        conn__req_free(r);
        return NULL;
    }
    return r;
}

/* Calls fn(value, arg) for each answer header named `name`, in order. */
static void each_header(const struct conn__req *req, const char *name,
                        void (*fn)(const char *v, size_t len, void *arg), void *arg)
{
    size_t nl = strlen(name);
    for (const char *p = req->resp_hdr; p && *p;) {
        const char *eol = strchr(p, '\n');
        size_t len = eol ? (size_t)(eol - p) : strlen(p);
        if (len > nl && strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
            const char *v = p + nl + 1;
            size_t vl = len - nl - 1;
            while (vl && (*v == ' ' || *v == '\t'))
                v++, vl--;
            while (vl && (v[vl - 1] == '\r' || v[vl - 1] == ' '))
                vl--;
            fn(v, vl, arg);
        }
        p = eol ? eol + 1 : p + len;
    }
}

struct hdr_buf {
    char *buf;
    size_t size;
    bool found;
};

static void keep_last(const char *v, size_t len, void *arg)
{
    struct hdr_buf *h = arg;
    snprintf(h->buf, h->size, "%.*s", (int)len, v);
    h->found = true;
}

bool conn__resp_header(const struct conn__req *req, const char *name, char *buf, size_t size)
{
    struct hdr_buf h = {buf, size, false};
    if (size)
        buf[0] = '\0';
    each_header(req, name, keep_last, &h);
    return h.found;
}

/* Set-Cookie: name=value; Path=/; HttpOnly -> appends "name=value" (RFC 6265 §5.2). */
static void add_cookie(const char *v, size_t len, void *arg)
{
    char *jar = arg;
    const char *semi = memchr(v, ';', len);
    size_t pair = semi ? (size_t)(semi - v) : len, used = strlen(jar);
    if (!memchr(v, '=', pair) || used + pair + 3 > COOKIE_MAX_BYTES)
        return;
    snprintf(jar + used, COOKIE_MAX_BYTES - used, "%s%.*s", used ? "; " : "", (int)pair, v);
}

int conn__sap_csrf_handle(struct conn__job *j, struct conn__sap_session *s,
                          const struct conn__req *req, uint64_t now_ms)
{
    char tok[512], msg[300];
    if (req->status == 200 && conn__resp_header(req, "x-csrf-token", tok, sizeof tok) && *tok &&
        strcasecmp(tok, "Required") != 0) {
        char *jar = tr_calloc(1, COOKIE_MAX_BYTES);
        s->csrf = tr_strdup(tok);
        if (!jar || !s->csrf) {
            tr_free(jar);
            conn__sap_session_clear(s);
            return TR_ENOMEM;
        }
        each_header(req, "set-cookie", add_cookie, jar);
        if (*jar)
            s->cookie = jar;
        else
            tr_free(jar);
        s->failures = 0;
        return 0;
    }
    s->failures++;
    s->retry_at_ms = now_ms + conn__backoff(j, s->failures, req->retry_after_ms);
    conn__sap_error(req, msg, sizeof msg);
    conn__job_error(j, now_ms, "sap CSRF token fetch: %s", req->status == 200 ? "no token" : msg);
    return TR_EDENIED;
}

void conn__sap_session_clear(struct conn__sap_session *s)
{
    tr_free(s->csrf);
    tr_free(s->cookie);
    s->csrf = s->cookie = NULL;
}

bool conn__sap_csrf_required(const struct conn__req *req)
{
    char v[64];
    return req->status == 403 && conn__resp_header(req, "x-csrf-token", v, sizeof v) &&
           strcasecmp(v, "Required") == 0;
}

void conn__sap_error_parts(const struct conn__req *req, char *code, size_t csize, char *msg,
                           size_t msize)
{
    json_t *doc = req->resp ? json_loads(req->resp, 0, NULL) : NULL;
    json_t *e = json_object_get(doc, "error");
    const char *c = json_string_value(json_object_get(e, "code"));
    json_t *m = json_object_get(e, "message");
    const char *v =
        json_is_string(m) ? json_string_value(m) : json_string_value(json_object_get(m, "value"));
    snprintf(code, csize, "%s", c ? c : "");
    snprintf(msg, msize, "%s", v ? v : req->status ? "" : req->err);
    json_decref(doc);
}

void conn__sap_error(const struct conn__req *req, char *buf, size_t size)
{
    char code[128], msg[300];
    conn__sap_error_parts(req, code, sizeof code, msg, sizeof msg);
    if (!req->status)
        snprintf(buf, size, "%s", msg);
    else
        snprintf(buf, size, "HTTP %ld%s%s%s%s", req->status, *code ? " " : "", code,
                 *msg ? ": " : "", msg);
}

/* "PT14H30M05S" (xs:duration, as OData V2 JSON writes Edm.Time) into seconds of the day. */
static bool parse_time(const char *s, int *secs)
{
    long h = 0, m = 0, sec = 0;
    char *end;
    if (!s || strncmp(s, "PT", 2) != 0)
        return false;
    s += 2;
    while (*s) {
        if (*s < '0' || *s > '9')
            return false;
        long v = strtol(s, &end, 10);
        if (*end == '.') /* fractions of a second: the stamp keeps whole seconds */
            for (end++; *end >= '0' && *end <= '9'; end++)
                ;
        if (*end == 'H')
            h = v;
        else if (*end == 'M')
            m = v;
        else if (*end == 'S')
            sec = v;
        else
            return false;
        s = end + 1;
    }
    if (h > 23 || m > 59 || sec > 59)
        return false;
    *secs = (int)(h * 3600 + m * 60 + sec);
    return true;
}

bool conn__sap_stamp(const json_t *entity, char out[20])
{
    json_t *d = json_object_get(entity, "LastChangeDate");
    json_t *t = json_object_get(entity, "LastChangeTime");
    int secs = 0;
    if (json_is_null(d) && (!t || json_is_null(t) || parse_time(json_string_value(t), &secs))) {
        /* Never changed since its creation: such entities sort first; they are read by the
         * first full read (no cursor yet) and again once they are changed. */
        snprintf(out, 20, "1970-01-01T00:00:00");
        return true;
    }
    static const struct conn_field day = {NULL,         NULL,         NULL,
                                          CONN_XF_DATE, CONN_DF_DATE, CONN_DF_ODATA_V2};
    json_t *date = NULL;
    if (!json_is_string(d) || conn_xform_value(&day, d, 1, &date) < 0)
        return false;
    bool ok = json_is_null(t) || parse_time(json_string_value(t), &secs);
    if (ok) {
        unsigned sec = (unsigned)secs % 86400u;
        char b[48];
        snprintf(b, sizeof b, "%.10sT%02u:%02u:%02u", json_string_value(date), sec / 3600u,
                 sec / 60u % 60u, sec % 60u);
        memcpy(out, b, 19);
        out[19] = '\0';
    }
    json_decref(date);
    return ok;
}
