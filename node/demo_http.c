/* demo_http.c — the HTTP side of `treaty demo`: one libcurl easy handle reused for every request
 * (keep-alive to the three nodes), bodies parsed with jansson, the org's API key sent when the
 * demo made one, the leader found from each node's /v1/ledger/head, and a Server-Sent Events
 * reader for GET /v1/events fed by libcurl's write callback. Every request has a timeout and
 * gives up when the demo is interrupted. Called by cli_demo.c and demo_tour.c. */
#include "node/demo.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEMO_BODY_MAX (4u << 20) /* answers beyond are a failure: the demo's are small */

struct demo_buf {
    char *p;
    size_t len, cap;
    bool over;
};

static bool buf_add(struct demo_buf *b, const char *s, size_t n)
{
    if (b->len + n + 1 > DEMO_BODY_MAX) {
        b->over = true;
        return false;
    }
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 1024;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p)
            return false;
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
    return true;
}

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *ud)
{
    return buf_add(ud, ptr, size * nmemb) ? size * nmemb : 0;
}

/* Aborts a transfer when the demo is interrupted (Ctrl-C). */
static int on_progress(void *ud, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
    (void)ud, (void)dt, (void)dn, (void)ut, (void)un;
    return demo_signal != 0;
}

int demo_http_init(struct demo *d)
{
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return demo_fail(d, "libcurl initialization failed");
    d->curl = curl_easy_init();
    if (!d->curl) {
        curl_global_cleanup();
        return demo_fail(d, "libcurl: cannot create a handle");
    }
    return 0;
}

void demo_http_close(struct demo *d)
{
    if (!d->curl)
        return;
    curl_easy_cleanup(d->curl);
    d->curl = NULL;
    curl_global_cleanup();
}

/* Options every request shares; `list` gets the key and extra header (curl_slist_free_all). */
static void common_opts(CURL *c, const struct demo_node *n, const char *path, const char *hdr,
                        long timeout_ms, char *errbuf, struct curl_slist **list)
{
    char url[DEMO_PATH_MAX];
    snprintf(url, sizeof url, "%s%s", n->url, path);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_NOPROXY, "*"); /* loopback only, whatever http_proxy says */
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms < 2000 ? timeout_ms : 2000L);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
    char auth[256];
    *list = curl_slist_append(*list, "Expect:");
    if (n->key[0]) { /* the one place the demo's API keys reach a request */
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", n->key);
        *list = curl_slist_append(*list, auth);
    }
    if (hdr)
        *list = curl_slist_append(*list, hdr);
}

int demo_http(struct demo *d, const struct demo_node *n, const char *method, const char *path,
              const json_t *body, const char *hdr, long timeout_ms, struct demo_resp *out)
{
    CURL *c = d->curl;
    struct curl_slist *list = NULL;
    struct demo_buf b = {0};
    char errbuf[CURL_ERROR_SIZE] = "", *text = NULL;
    memset(out, 0, sizeof *out);
    curl_easy_reset(c); /* keeps the open connections */
    common_opts(c, n, path, hdr, timeout_ms, errbuf, &list);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    if (body) {
        text = json_dumps(body, JSON_COMPACT);
        if (!text)
            return demo_fail(d, "out of memory");
        list = curl_slist_append(list, "Content-Type: application/json");
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, text);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(text));
    } else if (strcmp(method, "GET") == 0) {
        curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
    }
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, list);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    CURLcode rc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &out->status);
    curl_slist_free_all(list);
    free(text);
    if (rc != CURLE_OK) {
        free(b.p);
        return demo_fail(d, "%s %s%s: %s", method, n->url, path,
                         demo_signal         ? "interrupted"
                         : b.over            ? "answer too large"
                         : errbuf[0] != '\0' ? errbuf
                                             : curl_easy_strerror(rc));
    }
    out->text = b.p ? b.p : strdup("");
    out->len = b.len;
    if (!out->text)
        return demo_fail(d, "out of memory");
    out->body = json_loadb(out->text, out->len, 0, NULL);
    return 0;
}

void demo_resp_free(struct demo_resp *r)
{
    json_decref(r->body);
    free(r->text);
    memset(r, 0, sizeof *r);
}

json_t *demo_head(struct demo *d, const struct demo_node *n)
{
    struct demo_resp r;
    char keep[sizeof d->why];
    memcpy(keep, d->why, sizeof keep); /* not answering is an answer here, not a failure */
    int rc = demo_http(d, n, "GET", "/v1/ledger/head", NULL, NULL, 2000, &r);
    memcpy(d->why, keep, sizeof keep);
    if (rc != 0)
        return NULL;
    json_t *h = r.status == 200 && json_is_object(r.body) ? json_incref(r.body) : NULL;
    demo_resp_free(&r);
    return h;
}

int demo_leader(struct demo *d)
{
    for (int i = 0; i < DEMO_ORGS; i++) {
        if (d->nodes[i].pid <= 0)
            continue;
        json_t *h = demo_head(d, &d->nodes[i]);
        const char *role = json_string_value(json_object_get(json_object_get(h, "node"), "role"));
        bool leads = role && strcmp(role, "leader") == 0;
        json_decref(h);
        if (!leads)
            continue;
        if (d->leader >= 0 && d->leader != i)
            d->leader_changes++;
        d->leader = i;
        return i;
    }
    return -1;
}

int demo_wait_leader(struct demo *d, unsigned timeout_ms)
{
    uint64_t deadline = demo_now_ms() + timeout_ms;
    for (;;) {
        for (int i = 0; i < DEMO_ORGS; i++) {
            struct demo_node *n = &d->nodes[i];
            if (n->pid > 0 && !demo_node_alive(n)) {
                char last[512];
                demo_log_last(n, last, sizeof last);
                return demo_fail(d, "%s's node exited with %d: %s", n->org, n->exit_code, last);
            }
        }
        int l = demo_leader(d);
        if (l >= 0)
            return l;
        if (demo_now_ms() >= deadline)
            return demo_fail(d, "no leader elected within %u ms", timeout_ms);
        if (!demo_sleep_ms(50))
            return demo_fail(d, "interrupted");
    }
}

const char *demo_json_line(const json_t *j, size_t max)
{
    static char line[1024];
    char *s = j ? json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    if (max >= sizeof line)
        max = sizeof line - 1;
    if (!s) {
        snprintf(line, sizeof line, "%s", j ? "(out of memory)" : "(no JSON body)");
        return line;
    }
    size_t len = strlen(s);
    if (len > max && max > 3)
        snprintf(line, sizeof line, "%.*s...", (int)(max - 3), s);
    else
        snprintf(line, sizeof line, "%s", s);
    free(s);
    return line;
}

/* ---------------------------------------------------------------------------------------------
 * GET /v1/events (text/event-stream): lines are collected across chunks; an empty line ends an
 * event (WHATWG HTML "Server-sent events" §9.2.6); lines starting with ':' are comments
 * (heartbeats).
 * ------------------------------------------------------------------------------------------- */

struct demo_sse {
    CURL *c;
    long status;
    struct demo_buf line, body; /* the line being read; a non-200 answer's body */
    char id[48], event[32];
    struct demo_buf data;
    unsigned want, seen;
    bool error;
    char reason[256];
};

/* The string member `k` of `o`, or "?". */
static const char *jstr(const json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s ? s : "?";
}

static void sse_dispatch(struct demo_sse *s)
{
    if (strcmp(s->event[0] ? s->event : "message", "error") == 0) {
        s->error = true;
        snprintf(s->reason, sizeof s->reason, "%s", s->data.p ? s->data.p : "(no reason)");
    } else if (strcmp(s->event, "change") == 0 && s->data.p) {
        json_t *e = json_loads(s->data.p, 0, NULL);
        demo_say("event %-6s %-7s %-7s %s %s (version %" JSON_INTEGER_FORMAT ")", s->id,
                 jstr(e, "org"), jstr(e, "op"), jstr(e, "type"), jstr(e, "key"),
                 json_integer_value(json_object_get(e, "version")));
        json_decref(e);
        s->seen++;
    }
    s->id[0] = s->event[0] = '\0';
    s->data.len = 0;
    if (s->data.p)
        s->data.p[0] = '\0';
}

static void sse_line(struct demo_sse *s, char *l)
{
    size_t n = strlen(l);
    if (n && l[n - 1] == '\r')
        l[--n] = '\0';
    if (n == 0) {
        sse_dispatch(s);
        return;
    }
    if (l[0] == ':')
        return;
    char *v = strchr(l, ':');
    if (v) {
        *v++ = '\0';
        if (*v == ' ')
            v++;
    } else {
        v = l + n;
    }
    if (strcmp(l, "id") == 0)
        snprintf(s->id, sizeof s->id, "%s", v);
    else if (strcmp(l, "event") == 0)
        snprintf(s->event, sizeof s->event, "%s", v);
    else if (strcmp(l, "data") == 0 && (s->data.len == 0 || buf_add(&s->data, "\n", 1)))
        buf_add(&s->data, v, strlen(v));
}

static size_t on_sse(char *ptr, size_t size, size_t nmemb, void *ud)
{
    struct demo_sse *s = ud;
    size_t n = size * nmemb;
    if (!s->status)
        curl_easy_getinfo(s->c, CURLINFO_RESPONSE_CODE, &s->status);
    if (s->status != 200)
        return buf_add(&s->body, ptr, n) ? n : 0;
    for (size_t i = 0; i < n; i++) {
        if (ptr[i] != '\n') {
            if (!buf_add(&s->line, ptr + i, 1))
                return 0;
            continue;
        }
        sse_line(s, s->line.p ? s->line.p : (char *)(uintptr_t) "");
        s->line.len = 0;
        if (s->line.p)
            s->line.p[0] = '\0';
        if (s->error || s->seen >= s->want)
            return 0; /* enough: ends the transfer (CURLE_WRITE_ERROR, expected) */
    }
    return n;
}

int demo_events(struct demo *d, const struct demo_node *n, unsigned want, long timeout_ms)
{
    struct demo_sse s;
    memset(&s, 0, sizeof s);
    s.want = want;
    s.c = curl_easy_init();
    if (!s.c)
        return demo_fail(d, "libcurl: cannot create a handle");
    struct curl_slist *list = NULL;
    char errbuf[CURL_ERROR_SIZE] = "";
    common_opts(s.c, n, "/v1/events?from=0", "Accept: text/event-stream", timeout_ms, errbuf,
                &list);
    curl_easy_setopt(s.c, CURLOPT_HTTPHEADER, list);
    curl_easy_setopt(s.c, CURLOPT_WRITEFUNCTION, on_sse);
    curl_easy_setopt(s.c, CURLOPT_WRITEDATA, &s);
    CURLcode rc = curl_easy_perform(s.c);
    if (!s.status)
        curl_easy_getinfo(s.c, CURLINFO_RESPONSE_CODE, &s.status);
    curl_slist_free_all(list);
    curl_easy_cleanup(s.c);
    int out = (int)s.seen;
    if (s.status != 200 && s.status != 0)
        out = demo_fail(d, "GET /v1/events answered %ld: %s", s.status,
                        s.body.p ? s.body.p : "(no body)");
    else if (s.error)
        out = demo_fail(d, "the stream ended with an error event: %s", s.reason);
    else if (rc != CURLE_OK && rc != CURLE_WRITE_ERROR && rc != CURLE_OPERATION_TIMEDOUT)
        out = demo_fail(d, "GET /v1/events: %s",
                        demo_signal ? "interrupted"
                        : errbuf[0] ? errbuf
                                    : curl_easy_strerror(rc));
    free(s.line.p);
    free(s.body.p);
    free(s.data.p);
    return out;
}
