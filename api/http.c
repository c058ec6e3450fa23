/* http.c — the HTTP/1.1 server of the api module on the caller's libuv loop, parsing with
 * http-parser. Invariant: a connection holds at most one request; the parser is paused after each
 * message, so pipelined requests wait in the read buffer and are answered in order. Every limit of
 * struct api_config is enforced here (431, 413, 503 at the connection limit, idle close). */
#include "api/api_int.h"

#include "common/alloc.h"
#include "common/err.h"
#include "common/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define REJECTING_MAX      16 /* connections being answered 503 at once; beyond, closed at once */
#define DEFAULT_BODY_MAX   (1u << 20)
#define DEFAULT_HEADER_MAX (16u << 10)
#define HEADER_MAX_LIMIT   (80u << 10) /* http-parser's own HTTP_MAX_HEADER_SIZE */
#define DEFAULT_CONN_MAX   1024u
#define DEFAULT_IDLE_MS    30000u
#define DEFAULT_REQUEST_MS 30000u

static const http_parser_settings parser_settings;

/* ------------------------------------------------------------------------------------------- */
/* Requests */

static void req_free(struct api__req *r)
{
    if (!r)
        return;
    tr_free(r->url);
    tr_free(r->body);
    tr_free(r->if_match);
    tr_free(r->idempotency_key);
    tr_free(r->expect);
    tr_free(r->authorization);
    tr_free(r->prefer);
    tr_free(r->last_event_id);
    tr_free(r->content_type);
    tr_free(r->resp_headers);
    tr_free(r);
}

/* Appends to a NUL-terminated growable buffer; -1 on OOM. */
static int buf_append(char **buf, size_t *len, size_t *cap, const char *at, size_t n)
{
    if (*len + n + 1 > *cap) {
        size_t ncap = *cap ? *cap : 64;
        while (ncap < *len + n + 1)
            ncap *= 2;
        char *nb = tr_realloc(*buf, ncap);
        if (!nb)
            return -1;
        *buf = nb;
        *cap = ncap;
    }
    memcpy(*buf + *len, at, n);
    *len += n;
    (*buf)[*len] = '\0';
    return 0;
}

void api_schema_set(struct api *a, const struct schema_network *schema)
{
    if (!a || !schema || schema == a->schema)
        return;
    a->schema = schema;
    for (size_t i = 0; i < sizeof a->doc_text / sizeof a->doc_text[0]; i++) {
        free(a->doc_text[i]); /* built again from the new schema on the next GET */
        a->doc_text[i] = NULL;
        a->doc_len[i] = 0;
    }
}

const struct schema_network *api__schema(const struct api__req *r)
{
    return r->conn->api->schema;
}

const struct api_backend *api__backend(const struct api__req *r)
{
    return &r->conn->api->be;
}

const char *api__doc_cache(const struct api__req *r, int which, size_t *len)
{
    *len = r->conn->api->doc_len[which];
    return r->conn->api->doc_text[which];
}

void api__doc_cache_set(const struct api__req *r, int which, char *text, size_t len)
{
    struct api *a = r->conn->api;
    free(a->doc_text[which]);
    a->doc_text[which] = text;
    a->doc_len[which] = len;
}

struct api__metrics *api__metrics_of(const struct api__req *r)
{
    return &r->conn->api->metrics;
}

const char *api__org(const struct api__req *r)
{
    return r->conn->api->has_org ? r->conn->api->org : NULL;
}

/* ------------------------------------------------------------------------------------------- */
/* Connections */

static void conn_pump(struct api__conn *c);
static void conn_close(struct api__conn *c);

static void api_maybe_finish(struct api *a);

static void written_idle_closed(uv_handle_t *h)
{
    struct api *a = h->data;
    a->written_idle_closed = true;
    api_maybe_finish(a);
}

static void api_maybe_finish(struct api *a)
{
    if (!a->closing || !a->server_closed || a->conns || a->shed_busy || a->events)
        return;
    if (!a->written_idle_closed) { /* no connection is left to be on its list */
        if (!uv_is_closing((uv_handle_t *)&a->written_idle))
            uv_close((uv_handle_t *)&a->written_idle, written_idle_closed);
        return;
    }
    void (*done)(void *) = a->close_done;
    void *arg = a->close_arg;
    free(a->doc_text[0]);
    free(a->doc_text[1]);
    tr_free(a);
    if (done)
        done(arg);
}

static void conn_handle_closed(uv_handle_t *h)
{
    struct api__conn *c = h->data;
    if (--c->open_handles > 0)
        return;
    struct api *a = c->api;
    if (c->prev)
        c->prev->next = c->next;
    else
        a->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    if (c->rejecting)
        a->n_rejecting--;
    else
        a->n_active--;
    tr_free(c);
    api_maybe_finish(a);
}

/* Takes c off api->written: its answer is out, so its request ends now. */
static void written_forget(struct api__conn *c)
{
    if (!c->written)
        return;
    for (struct api__conn **p = &c->api->written; *p; p = &(*p)->written_next) {
        if (*p == c) {
            *p = c->written_next;
            break;
        }
    }
    c->written = false;
    req_free(c->req);
    c->req = NULL;
}

static void conn_close(struct api__conn *c)
{
    if (c->closing)
        return;
    c->closing = true;
    c->reading = false;
    written_forget(c);
    if (c->req) {
        if (c->req->state == API__REQ_DISPATCHED) {
            c->req->conn = NULL; /* the backend's done frees it */
            c->req = NULL;
        } else if (c->req->state == API__REQ_PARSING || c->req->state == API__REQ_STREAMING) {
            req_free(c->req);
            c->req = NULL;
        } /* WRITING: the write callback (cancelled or not) frees it */
    }
    if (c->sops) { /* a stream's owner lets go of it now */
        const struct api__stream_ops *ops = c->sops;
        c->sops = NULL;
        ops->gone(c->sarg);
    }
    uv_close((uv_handle_t *)&c->idle, conn_handle_closed);
    uv_close((uv_handle_t *)&c->tcp, conn_handle_closed);
}

void api__conn_close(struct api__conn *c)
{
    conn_close(c);
}

static void conn_fail(struct api__conn *c, int status, const char *detail);

/* One timer per connection: between requests it is the idle timeout; from a request's first
 * byte until the request is complete it is that request's deadline, which reads do not push back
 * (a client sending a byte now and then cannot hold the connection: slowloris). */
static void conn_idle_fired(uv_timer_t *t)
{
    struct api__conn *c = t->data;
    if (c->req && c->req->state == API__REQ_PARSING) {
        char d[96];
        snprintf(d, sizeof d, "the request was not complete within %u ms", c->api->request_ms);
        tr_log(TR_LOG_INFO, "api.request_timeout", "ms=%u", c->api->request_ms);
        uv_read_stop((uv_stream_t *)&c->tcp);
        c->reading = false;
        conn_fail(c, 408, d);
        return;
    }
    tr_log(TR_LOG_DEBUG, "api.idle_close", NULL);
    conn_close(c);
}

static void conn_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)suggested;
    struct api__conn *c = h->data;
    /* Bytes read while a request waits for its answer (a pipelined request) go after the
       unparsed ones; conn_update stops reading before the room runs out, so len is never 0. */
    buf->base = c->rbuf + c->rlen;
    buf->len = API__RBUF_BYTES - c->rlen;
}

static void conn_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    (void)buf;
    struct api__conn *c = s->data;
    if (nread == 0 || c->closing)
        return;
    if (nread < 0) {
        if (c->req && (c->req->state == API__REQ_DISPATCHED || c->req->state == API__REQ_WRITING)) {
            /* The end (or an error) while a request waits for its answer: the answer goes first
               (a client may shut its sending side after a request). Reading resumes after it
               and meets the same end. */
            uv_read_stop(s);
            c->reading = false;
            return;
        }
        conn_close(c);
        return;
    }
    if (c->req && c->req->state == API__REQ_STREAMING) {
        c->roff = c->rlen = 0; /* a stream reads only to see the client go; the rest is dropped */
        return;
    }
    c->rlen += (size_t)nread;
    conn_pump(c);
}

/* Reads while no complete request waits for its answer, and while one does, into the buffer's
 * free room only (the pipelined requests behind it wait there, parsed after its answer): stopping
 * and restarting around every request would cost two epoll_ctl calls a request. The idle timer
 * runs only while no request is held at all. */
static void conn_update(struct api__conn *c)
{
    if (c->closing)
        return;
    bool want =
        c->req == NULL || c->req->state == API__REQ_PARSING || c->req->state == API__REQ_STREAMING;
    if (want && !c->reading) {
        if (uv_read_start((uv_stream_t *)&c->tcp, conn_alloc, conn_read) != 0) {
            conn_close(c);
            return;
        }
        c->reading = true;
    } else if (!want && c->reading && c->rlen == API__RBUF_BYTES) {
        uv_read_stop((uv_stream_t *)&c->tcp);
        c->reading = false;
    }
    if (c->req == NULL)
        uv_timer_start(&c->idle, conn_idle_fired, c->api->idle_ms, c->api->idle_ms);
    else if (c->req->state != API__REQ_PARSING && !c->stream_ending)
        uv_timer_stop(&c->idle);
}

void api__conn_linger(struct api__conn *c)
{
    uv_timer_start(&c->idle, conn_idle_fired, c->api->idle_ms, 0);
}

/* Answers a request the parser refused, then closes: the rest of the stream is not trusted. */
static void conn_fail(struct api__conn *c, int status, const char *detail)
{
    if (!c->req) {
        c->req = tr_calloc(1, sizeof *c->req);
        if (!c->req) {
            conn_close(c);
            return;
        }
        c->req->conn = c;
        c->req->start_ns = uv_hrtime();
    }
    c->req->state = API__REQ_DISPATCHED;
    c->req->keep_alive = false;
    c->close_after = true;
    api__respond_json(c->req, status, api__problem(status, NULL, detail), NULL, NULL);
}

static void conn_parse_failed(struct api__conn *c)
{
    enum http_errno e = HTTP_PARSER_ERRNO(&c->parser);
    if (c->fail_status == 431 || e == HPE_HEADER_OVERFLOW) {
        char d[96];
        snprintf(d, sizeof d, "the request head is larger than %u bytes", c->api->header_max);
        conn_fail(c, 431, d);
    } else if (c->fail_status == 413) {
        char d[96];
        snprintf(d, sizeof d, "the request body is larger than %u bytes", c->api->body_max);
        conn_fail(c, 413, d);
    } else if (c->fail_status == 400) {
        conn_fail(c, 400,
                  "malformed HTTP request: a header name may hold only token characters "
                  "(no whitespace before the colon)");
    } else if (c->fail_status == 500) {
        conn_fail(c, 500, "out of memory while reading the request");
    } else {
        char d[160];
        snprintf(d, sizeof d, "malformed HTTP request: %s", http_errno_description(e));
        conn_fail(c, 400, d);
    }
}

/* Parses buffered bytes until a request is complete (then routes it) or the buffer is empty.
 * Not reentrant: a synchronous answer only records that parsing may go on. */
static void conn_pump(struct api__conn *c)
{
    if (c->pumping)
        return;
    c->pumping = true;
    while (!c->closing && c->roff < c->rlen &&
           (c->req == NULL || c->req->state == API__REQ_PARSING)) {
        size_t n =
            http_parser_execute(&c->parser, &parser_settings, c->rbuf + c->roff, c->rlen - c->roff);
        c->roff += n;
        enum http_errno e = HTTP_PARSER_ERRNO(&c->parser);
        if (e == HPE_PAUSED) {
            http_parser_pause(&c->parser, 0);
            c->req->state = API__REQ_DISPATCHED;
            uv_timer_stop(&c->idle);
            api__route(c->req);
        } else if (e != HPE_OK) {
            c->roff = c->rlen;
            conn_parse_failed(c);
        }
    }
    if (c->roff == c->rlen)
        c->roff = c->rlen = 0;
    c->pumping = false;
    conn_update(c);
}

/* ------------------------------------------------------------------------------------------- */
/* Parser callbacks. A non-zero return stops the parser (HPE_CB_*); fail_status tells why. */

static struct api__conn *pconn(http_parser *p)
{
    return p->data;
}

static int head_add(struct api__conn *c, size_t n)
{
    c->head_bytes += (uint32_t)(n > UINT32_MAX - c->head_bytes ? UINT32_MAX - c->head_bytes : n);
    if (c->head_bytes > c->api->header_max) {
        c->fail_status = 431;
        return -1;
    }
    return 0;
}

static int on_message_begin(http_parser *p)
{
    struct api__conn *c = pconn(p);
    TR_ASSERT(c->req == NULL);
    c->req = tr_calloc(1, sizeof *c->req);
    if (!c->req) {
        c->fail_status = 500;
        return -1;
    }
    c->req->conn = c;
    c->req->state = API__REQ_PARSING;
    c->req->start_ns = uv_hrtime();
    c->head_bytes = 0;
    c->fail_status = 0;
    uv_timer_start(&c->idle, conn_idle_fired, c->api->request_ms, 0);
    return 0;
}

static int on_url(http_parser *p, const char *at, size_t len)
{
    struct api__conn *c = pconn(p);
    struct api__req *r = c->req;
    /* "METHOD SP target SP HTTP/1.1 CRLF": the fixed part is counted once, with the first piece. */
    size_t fixed = r->url_len == 0 ? strlen(http_method_str(p->method)) + 12 : 0;
    /* Known from here on: a head refused later (431, 400) still answers a HEAD without content. */
    r->method = (enum http_method)p->method;
    if (head_add(c, fixed + len) != 0)
        return -1;
    if (buf_append(&r->url, &r->url_len, &r->url_cap, at, len) != 0) {
        c->fail_status = 500;
        return -1;
    }
    return 0;
}

/* RFC 9110 §5.6.2 tchar. http-parser, built lenient, lets spaces into header names; RFC 9112
 * §5.1 requires a 400 for whitespace before the colon (a proxy may read such a header otherwise:
 * "Transfer-Encoding : chunked"), and any other non-token byte is no better. */
static bool header_name_ok(const char *at, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)at[i];
        if (!((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
              (ch && strchr("!#$%&'*+-.^_`|~", ch))))
            return false;
    }
    return true;
}

static int on_header_field(http_parser *p, const char *at, size_t len)
{
    struct api__conn *c = pconn(p);
    struct api__req *r = c->req;
    if (!header_name_ok(at, len)) {
        c->fail_status = 400;
        return -1;
    }
    if (r->in_value || r->hdr_name_len == 0) { /* a new header line: "Name: value CRLF" */
        r->in_value = false;
        r->hdr_name_len = 0;
        r->hdr_target = NULL;
        if (head_add(c, 4) != 0)
            return -1;
    }
    if (head_add(c, len) != 0)
        return -1;
    if (r->hdr_name_len + len < sizeof r->hdr_name) {
        memcpy(r->hdr_name + r->hdr_name_len, at, len);
        r->hdr_name[r->hdr_name_len + len] = '\0';
    } else {
        r->hdr_name[0] = '\0'; /* too long to be a header we read */
    }
    r->hdr_name_len += len;
    return 0;
}

static int on_header_value(http_parser *p, const char *at, size_t len)
{
    struct api__conn *c = pconn(p);
    struct api__req *r = c->req;
    if (head_add(c, len) != 0)
        return -1;
    if (!r->in_value) {
        r->in_value = true;
        r->hdr_target = NULL;
        if (r->hdr_name_len < sizeof r->hdr_name) {
            if (strcasecmp(r->hdr_name, "if-match") == 0) {
                r->hdr_target = &r->if_match;
                r->hdr_target_len = &r->if_match_len;
            } else if (strcasecmp(r->hdr_name, "idempotency-key") == 0) {
                r->hdr_target = &r->idempotency_key;
                r->hdr_target_len = &r->idempotency_key_len;
            } else if (strcasecmp(r->hdr_name, "expect") == 0) {
                r->hdr_target = &r->expect;
                r->hdr_target_len = &r->expect_len;
            } else if (strcasecmp(r->hdr_name, "authorization") == 0) {
                r->hdr_target = &r->authorization;
                r->hdr_target_len = &r->authorization_len;
            } else if (strcasecmp(r->hdr_name, "prefer") == 0) {
                r->hdr_target = &r->prefer;
                r->hdr_target_len = &r->prefer_len;
            } else if (strcasecmp(r->hdr_name, "last-event-id") == 0) {
                r->hdr_target = &r->last_event_id;
                r->hdr_target_len = &r->last_event_id_len;
            } else if (strcasecmp(r->hdr_name, "content-type") == 0) {
                r->hdr_target = &r->content_type;
                r->hdr_target_len = &r->content_type_len;
            }
            if (r->hdr_target && *r->hdr_target) { /* repeated header: keep the last */
                tr_free(*r->hdr_target);
                *r->hdr_target = NULL;
                *r->hdr_target_len = 0;
            }
        }
    }
    if (r->hdr_target) {
        /* The true capacity is not kept; claiming len+1 only makes buf_append grow earlier. */
        size_t cap = *r->hdr_target ? *r->hdr_target_len + 1 : 0;
        if (buf_append(r->hdr_target, r->hdr_target_len, &cap, at, len) != 0) {
            c->fail_status = 500;
            return -1;
        }
    }
    return 0;
}

static void continue_written(uv_write_t *w, int status)
{
    (void)w, (void)status; /* a failed write shows again on the final answer */
}

static int on_headers_complete(http_parser *p)
{
    struct api__conn *c = pconn(p);
    struct api__req *r = c->req;
    if (r->url_len == 0 && head_add(c, strlen(http_method_str(p->method)) + 12) != 0)
        return -1;
    if (head_add(c, 2) != 0) /* the empty line */
        return -1;
    r->method = (enum http_method)p->method;
    r->http_major = p->http_major;
    r->http_minor = p->http_minor;
    if ((p->flags & F_CONTENTLENGTH) && p->content_length > c->api->body_max) {
        c->fail_status = 413;
        return -1;
    }
    /* RFC 9110 §10.1.1: a client waiting for "100 Continue" (curl does, for bodies over 1 KiB)
       gets it once the head is accepted; a refused head was answered above instead. */
    if (r->expect && strcasecmp(r->expect, "100-continue") == 0 && p->http_minor >= 1 &&
        p->content_length > 0 && !c->closing) {
        static char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
        uv_buf_t b = uv_buf_init(cont, sizeof cont - 1);
        if (uv_write(&c->continue_w, (uv_stream_t *)&c->tcp, &b, 1, continue_written) != 0) {
            c->fail_status = 500;
            return -1;
        }
    }
    return 0;
}

static int on_body(http_parser *p, const char *at, size_t len)
{
    struct api__conn *c = pconn(p);
    struct api__req *r = c->req;
    if (len > c->api->body_max - r->body_len) { /* chunked bodies reach the limit here */
        c->fail_status = 413;
        return -1;
    }
    if (buf_append(&r->body, &r->body_len, &r->body_cap, at, len) != 0) {
        c->fail_status = 500;
        return -1;
    }
    return 0;
}

static int on_message_complete(http_parser *p)
{
    struct api__conn *c = pconn(p);
    /* An Upgrade or CONNECT is answered (405/404) and the connection closed: what follows on the
       stream is not HTTP/1.1 requests. */
    c->req->keep_alive = http_should_keep_alive(p) != 0 && !p->upgrade;
    http_parser_pause(p, 1);
    return 0;
}

static const http_parser_settings parser_settings = {
    .on_message_begin = on_message_begin,
    .on_url = on_url,
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

/* ------------------------------------------------------------------------------------------- */
/* Responses */

/* The answer to c's request is out (status 0) or failed: the request ends, and the next one
 * pipelined behind it is read. */
static void answer_written(struct api__conn *c, int status)
{
    struct api__req *r = c->req;
    c->req = NULL;
    req_free(r);
    if (c->closing)
        return;
    if (status != 0 || c->close_after) {
        conn_close(c);
        return;
    }
    conn_pump(c);
}

static void write_done(uv_write_t *w, int status)
{
    struct api__write *wr = (struct api__write *)w;
    struct api__conn *c = wr->conn;
    tr_free(wr->buf);
    tr_free(wr);
    answer_written(c, status);
}

static void on_written_idle(uv_idle_t *h)
{
    struct api *a = h->data;
    struct api__conn *list = a->written, *next;
    a->written = NULL;
    uv_idle_stop(h);
    for (struct api__conn *c = list; c; c = next) {
        next = c->written_next;
        if (!c->written) /* closed meanwhile by an earlier one's turn: its request is gone */
            continue;
        c->written = false;
        answer_written(c, 0);
    }
}

/* The answer to c's request could not be made or written: the connection closes. */
static void answer_failed(struct api__conn *c, struct api__write *wr, char *buf)
{
    struct api__req *r = c->req;
    tr_free(wr);
    tr_free(buf);
    c->req = NULL;
    req_free(r);
    conn_close(c);
}

static void respond_bytes(struct api__req *r, int status, const char *ctype, const char *body,
                          size_t len, const char *etag, const char *allow)
{
    struct api__conn *c = r->conn;
    if (!c) { /* the connection went away while the backend worked */
        req_free(r);
        return;
    }
    TR_ASSERT(c->req == r && r->state == API__REQ_DISPATCHED);
    r->state = API__REQ_WRITING;
    if (status < 200 || status > 599) { /* a backend bug must not produce an unparsable answer */
        tr_log(TR_LOG_ERROR, "api.bad_status", "status=%d", status);
        status = 500;
        ctype = "application/problem+json";
        body = "{\"type\":\"about:blank\",\"title\":\"Internal Server Error\",\"status\":500}";
        len = strlen(body);
        etag = NULL;
    }
    api__metrics_record(&c->api->metrics, r->route, status,
                        (double)(uv_hrtime() - r->start_ns) / 1e9);
    bool keep = r->keep_alive && !c->close_after && !c->api->closing;
    if (!keep)
        c->close_after = true;
    const char *extra = r->resp_headers ? r->resp_headers : "";
    size_t cap =
        len + 320 + (etag ? strlen(etag) : 0) + (allow ? strlen(allow) : 0) + strlen(extra);
    char *buf = tr_malloc(cap);
    if (!buf) {
        answer_failed(c, NULL, NULL);
        return;
    }
    int n =
        snprintf(buf, cap,
                 "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n%s%s%s%s%s%s%s%s%s"
                 "\r\n",
                 status, api__status_reason(status), ctype, len,
                 status == 401 ? "WWW-Authenticate: " API__AUTH_CHALLENGE "\r\n" : "",
                 etag ? "ETag: \"" : "", etag ? etag : "", etag ? "\"\r\n" : "",
                 allow ? "Allow: " : "", allow ? allow : "", allow ? "\r\n" : "", extra,
                 !keep                                      ? "Connection: close\r\n"
                 : r->http_minor == 0 && r->http_major == 1 ? "Connection: keep-alive\r\n"
                                                            : "");
    TR_ASSERT(n > 0 && (size_t)n + len <= cap);
    if (r->method == HTTP_HEAD) /* RFC 9110 §9.3.2: the head of the answer, without content */
        len = 0;
    if (len)
        memcpy(buf + n, body, len);
    size_t total = (size_t)n + len;
    uv_buf_t ub = uv_buf_init(buf, (unsigned int)total);
    /* Most answers fit the socket's buffer: written here, with no write request, libuv queues
       nothing and re-arms no poll (its write completion costs an epoll_ctl call an answer). */
    int sent = uv_try_write((uv_stream_t *)&c->tcp, &ub, 1);
    if (sent >= 0 && (size_t)sent == total) {
        tr_free(buf);
        c->written = true;
        c->written_next = c->api->written;
        c->api->written = c;
        uv_idle_start(&c->api->written_idle, on_written_idle);
        return;
    }
    if (sent > 0) {
        ub.base += sent;
        ub.len -= (unsigned int)sent;
    } else if (sent != UV_EAGAIN && sent != UV_ENOSYS) {
        answer_failed(c, NULL, buf);
        return;
    }
    struct api__write *wr = tr_calloc(1, sizeof *wr); /* the rest goes out by a write request */
    if (!wr) {
        answer_failed(c, NULL, buf);
        return;
    }
    wr->conn = c;
    wr->buf = buf;
    if (uv_write(&wr->w, (uv_stream_t *)&c->tcp, &ub, 1, write_done) != 0)
        answer_failed(c, wr, buf);
}

int api__header_add(struct api__req *r, const char *name, const char *value)
{
    size_t have = r->resp_headers ? strlen(r->resp_headers) : 0;
    size_t add = strlen(name) + strlen(value) + 4;
    char *n = tr_realloc(r->resp_headers, have + add + 1);
    if (!n)
        return TR_ENOMEM;
    snprintf(n + have, add + 1, "%s: %s\r\n", name, value);
    r->resp_headers = n;
    return TR_OK;
}

void api__respond_typed(struct api__req *r, int status, const char *ctype, const char *body,
                        size_t len)
{
    respond_bytes(r, status, ctype, body, len, NULL, NULL);
}

void api__respond_text(struct api__req *r, int status, const char *body, size_t len,
                       const char *etag)
{
    respond_bytes(r, status, status >= 400 ? "application/problem+json" : "application/json", body,
                  len, etag, NULL);
}

void api__respond_json(struct api__req *r, int status, json_t *body, const char *etag,
                       const char *allow)
{
    if (status >= 400 && json_is_object(body)) {
        api__problem_fill(body, status);
    } else if (status >= 400) { /* not a problem object: answer one of our own */
        json_decref(body);
        body = api__problem(status, NULL, NULL);
    }
    size_t len = 0;
    char *text = body ? schema_json_dumps(body, false, &len) : NULL; /* COMPACT | ENCODE_ANY */
    json_decref(body);
    if (body && !text) {
        status = 500;
        etag = NULL;
    }
    respond_bytes(r, status, status >= 400 ? "application/problem+json" : "application/json",
                  text ? text : "", text ? len : 0, etag, allow);
    free(text);
}

/* ------------------------------------------------------------------------------------------- */
/* Server */

static void conn_reject_written(uv_write_t *w, int status)
{
    (void)status;
    struct api__write *wr = (struct api__write *)w;
    struct api__conn *c = wr->conn;
    tr_free(wr->buf);
    tr_free(wr);
    conn_close(c);
}

/* Answers 503 on a connection over the limit and closes it. */
static void conn_reject(struct api__conn *c)
{
    static const char body[] = "{\"type\":\"urn:treaty:problem:overloaded\",\"title\":\"Service "
                               "Unavailable\",\"status\":503,\"detail\":\"too many connections\"}";
    struct api__write *wr = tr_calloc(1, sizeof *wr);
    char *buf = tr_malloc(sizeof body + 160);
    if (!wr || !buf) {
        tr_free(wr);
        tr_free(buf);
        conn_close(c);
        return;
    }
    int n =
        snprintf(buf, sizeof body + 160,
                 "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/problem+json\r\n"
                 "Content-Length: %zu\r\nConnection: close\r\n\r\n%s",
                 sizeof body - 1, body);
    wr->conn = c;
    wr->buf = buf;
    uv_buf_t ub = uv_buf_init(buf, (unsigned int)n);
    if (uv_write(&wr->w, (uv_stream_t *)&c->tcp, &ub, 1, conn_reject_written) != 0) {
        tr_free(buf);
        tr_free(wr);
        conn_close(c);
    }
}

static void server_accept(uv_stream_t *server, int status);

static void api_shed_closed(uv_handle_t *h)
{
    struct api *a = h->data;
    a->shed_busy = false;
    if (a->shed_waiting && !a->closing) {
        a->shed_waiting = false;
        server_accept((uv_stream_t *)&a->server, 0); /* the one left pending meanwhile */
        return;
    }
    api_maybe_finish(a);
}

/* Out of memory for a connection: libuv stops accepting until the pending one is taken, so take
 * it into the spare handle and close it. One arriving meanwhile is taken when the spare is free. */
static void api_shed(struct api *a, uv_stream_t *server)
{
    tr_log(TR_LOG_ERROR, "api.accept", "error=\"out of memory\"");
    if (a->shed_busy) {
        a->shed_waiting = true;
        return;
    }
    uv_tcp_init(a->loop, &a->shed);
    a->shed.data = a;
    a->shed_busy = true;
    uv_accept(server, (uv_stream_t *)&a->shed);
    uv_close((uv_handle_t *)&a->shed, api_shed_closed);
}

static void server_accept(uv_stream_t *server, int status)
{
    struct api *a = server->data;
    if (status != 0 || a->closing)
        return;
    struct api__conn *c = tr_calloc(1, sizeof *c);
    if (!c) {
        api_shed(a, server);
        return;
    }
    c->api = a;
    uv_tcp_init(a->loop, &c->tcp);
    uv_timer_init(a->loop, &c->idle);
    c->tcp.data = c->idle.data = c;
    c->open_handles = 2;
    c->next = a->conns;
    if (a->conns)
        a->conns->prev = c;
    a->conns = c;
    c->rejecting = a->n_active >= a->conn_max;
    if (c->rejecting)
        a->n_rejecting++;
    else
        a->n_active++;
    if (uv_accept(server, (uv_stream_t *)&c->tcp) != 0) {
        conn_close(c);
        return;
    }
    if (c->rejecting) {
        tr_log(TR_LOG_WARN, "api.conn_limit", "max_connections=%u", a->conn_max);
        if (a->n_rejecting > REJECTING_MAX)
            conn_close(c);
        else
            conn_reject(c);
        return;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    http_parser_init(&c->parser, HTTP_REQUEST);
    c->parser.data = c;
    conn_update(c);
}

static int api_bind(struct api *a, const struct api_config *cfg, char *err, size_t errlen)
{
    struct sockaddr_storage ss;
    const char *host = cfg->host ? cfg->host : "127.0.0.1";
    if (uv_ip4_addr(host, cfg->port, (struct sockaddr_in *)&ss) != 0 &&
        uv_ip6_addr(host, cfg->port, (struct sockaddr_in6 *)&ss) != 0) {
        snprintf(err, errlen, "api address %s is not an IPv4 or IPv6 literal", host);
        return TR_EINVAL;
    }
    int rc = uv_tcp_bind(&a->server, (const struct sockaddr *)&ss, 0);
    if (rc == 0)
        rc = uv_listen((uv_stream_t *)&a->server, 511, server_accept);
    if (rc != 0) {
        snprintf(err, errlen, "api listen on %s:%u: %s", host, (unsigned)cfg->port,
                 uv_strerror(rc));
        return TR_EIO;
    }
    if (cfg->port_out) {
        int len = (int)sizeof ss;
        uv_tcp_getsockname(&a->server, (struct sockaddr *)&ss, &len);
        const struct sockaddr_in *in4 = (const struct sockaddr_in *)&ss;
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)&ss;
        uint16_t be = ss.ss_family == AF_INET6 ? in6->sin6_port : in4->sin_port;
        const uint8_t *pb = (const uint8_t *)&be;
        *cfg->port_out = (uint16_t)((pb[0] << 8) | pb[1]);
    }
    return TR_OK;
}

static void server_closed_fail(uv_handle_t *h)
{
    struct api *a = h->data;
    a->closing = a->server_closed = true; /* freed once the events' handles closed too */
    api_maybe_finish(a);
}

int api_create(uv_loop_t *loop, const struct api_config *cfg, const struct api_backend *be,
               struct api **out, char *err, size_t errlen)
{
    if (!loop || !cfg || !be || !out || !cfg->schema || !be->submit || !be->record_get ||
        !be->head || !be->tx_get || !be->members) {
        snprintf(err, errlen, "api: loop, config, schema and every backend function are required");
        return TR_EINVAL;
    }
    if (cfg->header_max_bytes > HEADER_MAX_LIMIT) {
        snprintf(err, errlen, "api: header_max_bytes %u is above the limit %u",
                 cfg->header_max_bytes, HEADER_MAX_LIMIT);
        return TR_EINVAL;
    }
    if (cfg->org && (!cfg->org[0] || strlen(cfg->org) > API__ORG_MAX_BYTES)) {
        snprintf(err, errlen, "api: org must be 1 to %d bytes", API__ORG_MAX_BYTES);
        return TR_EINVAL;
    }
    struct api *a = tr_calloc(1, sizeof *a);
    if (!a) {
        snprintf(err, errlen, "api: out of memory");
        return TR_ENOMEM;
    }
    a->loop = loop;
    a->be = *be;
    api__metrics_init(&a->metrics);
    a->schema = cfg->schema;
    if (cfg->org) {
        snprintf(a->org, sizeof a->org, "%s", cfg->org);
        a->has_org = true;
    }
    a->body_max = cfg->body_max_bytes ? cfg->body_max_bytes : DEFAULT_BODY_MAX;
    a->header_max = cfg->header_max_bytes ? cfg->header_max_bytes : DEFAULT_HEADER_MAX;
    a->conn_max = cfg->max_connections ? cfg->max_connections : DEFAULT_CONN_MAX;
    a->idle_ms = cfg->idle_timeout_ms ? cfg->idle_timeout_ms : DEFAULT_IDLE_MS;
    a->request_ms = cfg->request_timeout_ms ? cfg->request_timeout_ms : DEFAULT_REQUEST_MS;
    if (api__events_create(a, cfg) != TR_OK) {
        tr_free(a);
        snprintf(err, errlen, "api: out of memory");
        return TR_ENOMEM;
    }
    uv_idle_init(loop, &a->written_idle);
    a->written_idle.data = a;
    uv_tcp_init(loop, &a->server);
    a->server.data = a;
    int rc = api_bind(a, cfg, err, errlen);
    if (rc != TR_OK) {
        api__events_close(a);
        /* The handle is registered with the loop: free the api once the loop lets it go. */
        uv_close((uv_handle_t *)&a->server, server_closed_fail);
        return rc;
    }
    *out = a;
    return TR_OK;
}

static void server_closed(uv_handle_t *h)
{
    struct api *a = h->data;
    a->server_closed = true;
    api_maybe_finish(a);
}

void api_close(struct api *a, void (*done)(void *), void *arg)
{
    if (!a)
        return;
    TR_ASSERT(!a->closing);
    a->closing = true;
    a->close_done = done;
    a->close_arg = arg;
    uv_close((uv_handle_t *)&a->server, server_closed);
    struct api__conn *next;
    for (struct api__conn *c = a->conns; c; c = next) {
        next = c->next;
        if (c->req == NULL || c->req->state == API__REQ_PARSING)
            conn_close(c);
        else if (c->req->state == API__REQ_STREAMING)
            api__stream_end(c);
        else
            c->close_after = true;
    }
    api__events_close(a);
}

void api__events_closed(struct api *a)
{
    a->events = NULL;
    api_maybe_finish(a);
}
