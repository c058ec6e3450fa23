/* edge.c — the one I/O edge of connectors/: libcurl's multi interface driven by libuv (socket and
 * timer callbacks), pumping the jobs' state machines, plus the small status server (GET
 * /v1/connectors, GET /metrics) on a loopback port. The only file that calls libcurl. */
#include "connectors/conn_int.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/alloc.h"
#include "common/err.h"
#include "common/log.h"

#define PUMP_MAX_STEPS 100000
#define STATUS_REQ_MAX 8192

struct xfer {
    struct conn__edge *e;
    struct conn__req *req;
    CURL *easy;
    struct curl_slist *hdrs;
    char *buf;
    size_t len, cap;
    bool too_big, aborted;
    struct xfer *prev, *next;
};

struct sockctx {
    uv_poll_t poll;
    curl_socket_t fd;
    struct conn__edge *e;
};

struct conn__edge {
    struct conn_runner *rt;
    CURLM *multi;
    uv_timer_t curl_timer, wake_timer;
    struct xfer *xfers;
    bool stopped, pumping;
    uv_tcp_t status;
    bool status_open;
};

uint64_t conn__now_ms(struct conn_runner *rt)
{
    return uv_now(rt->loop);
}

static void check_done(struct conn__edge *e);

static void poll_cb(uv_poll_t *h, int status, int events)
{
    struct sockctx *s = h->data;
    int flags = 0, running;
    if (status < 0)
        flags = CURL_CSELECT_ERR;
    if (events & UV_READABLE)
        flags |= CURL_CSELECT_IN;
    if (events & UV_WRITABLE)
        flags |= CURL_CSELECT_OUT;
    curl_multi_socket_action(s->e->multi, s->fd, flags, &running);
    check_done(s->e);
}

static void sock_close_cb(uv_handle_t *h)
{
    tr_free(h->data);
}

static int sock_cb(CURL *easy, curl_socket_t fd, int action, void *userp, void *socketp)
{
    struct conn__edge *e = userp;
    struct sockctx *s = socketp;
    (void)easy;
    if (action == CURL_POLL_REMOVE) {
        if (s) {
            uv_poll_stop(&s->poll);
            uv_close((uv_handle_t *)&s->poll, sock_close_cb);
            if (!e->stopped) /* not while curl_multi_cleanup runs */
                curl_multi_assign(e->multi, fd, NULL);
        }
        return 0;
    }
    if (!s) {
        s = tr_calloc(1, sizeof *s);
        if (!s || uv_poll_init_socket(e->rt->loop, &s->poll, fd) < 0) {
            tr_free(s);
            return -1;
        }
        s->fd = fd, s->e = e, s->poll.data = s;
        curl_multi_assign(e->multi, fd, s);
    }
    int ev =
        (action == CURL_POLL_IN ? UV_READABLE : 0) | (action == CURL_POLL_OUT ? UV_WRITABLE : 0);
    if (action == CURL_POLL_INOUT)
        ev = UV_READABLE | UV_WRITABLE;
    uv_poll_start(&s->poll, ev, poll_cb);
    return 0;
}

static void curl_timer_cb(uv_timer_t *t)
{
    struct conn__edge *e = t->data;
    int running;
    curl_multi_socket_action(e->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    check_done(e);
}

static int timer_cb(CURLM *multi, long timeout_ms, void *userp)
{
    struct conn__edge *e = userp;
    (void)multi;
    if (e->stopped)
        return 0;
    if (timeout_ms < 0)
        uv_timer_stop(&e->curl_timer);
    else
        uv_timer_start(&e->curl_timer, curl_timer_cb, (uint64_t)timeout_ms, 0);
    return 0;
}

static size_t write_cb(char *ptr, size_t size, size_t nmemb, void *userp)
{
    struct xfer *x = userp;
    size_t n = size * nmemb;
    struct conn__req *r = x->req;
    if (r->stream) {
        if (x->e->stopped || !r->job->ops->data(r->job, r, ptr, n)) {
            x->aborted = true;
            return 0;
        }
        return n;
    }
    if (x->len + n > x->e->rt->cfg->limits.max_response_bytes) {
        x->too_big = true;
        return 0;
    }
    if (x->len + n + 1 > x->cap) {
        size_t cap = (x->len + n + 1) * 2;
        char *b = tr_realloc(x->buf, cap);
        if (!b)
            return 0;
        x->buf = b, x->cap = cap;
    }
    memcpy(x->buf + x->len, ptr, n);
    x->len += n;
    x->buf[x->len] = '\0';
    return n;
}

static size_t header_cb(char *buf, size_t size, size_t nitems, void *userp)
{
    struct xfer *x = userp;
    size_t n = size * nitems;
    if (n > 12 && strncasecmp(buf, "retry-after:", 12) == 0) {
        char v[32];
        size_t m = n - 12 < sizeof v - 1 ? n - 12 : sizeof v - 1;
        memcpy(v, buf + 12, m);
        v[m] = '\0';
        x->req->retry_after_ms = conn_retry_after_ms(v);
    }
    /* Kept for the jobs that read answer headers (SAP: CSRF token, cookies, ETag). */
    struct conn__req *r = x->req;
    if (r->resp_hdr_len + n < CONN__RESP_HDR_MAX_BYTES) {
        char *h = tr_realloc(r->resp_hdr, r->resp_hdr_len + n + 1);
        if (h) {
            memcpy(h + r->resp_hdr_len, buf, n);
            r->resp_hdr_len += n;
            h[r->resp_hdr_len] = '\0';
            r->resp_hdr = h;
        }
    }
    return n;
}

static void xfer_unlink(struct conn__edge *e, struct xfer *x)
{
    if (x->prev)
        x->prev->next = x->next;
    else
        e->xfers = x->next;
    if (x->next)
        x->next->prev = x->prev;
    curl_multi_remove_handle(e->multi, x->easy);
    curl_easy_cleanup(x->easy);
    curl_slist_free_all(x->hdrs);
}

static int xfer_start(struct conn__edge *e, struct conn__req *r)
{
    struct xfer *x = tr_calloc(1, sizeof *x);
    if (!x)
        return TR_ENOMEM;
    x->e = e, x->req = r, r->edge = x;
    x->easy = curl_easy_init();
    if (!x->easy) {
        tr_free(x);
        return TR_ENOMEM;
    }
    for (size_t i = 0; i < r->nhdr; i++)
        x->hdrs = curl_slist_append(x->hdrs, r->hdr[i]);
    x->hdrs = curl_slist_append(x->hdrs, "Expect:");
    CURL *c = x->easy;
    curl_easy_setopt(c, CURLOPT_URL, r->url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, r->method);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, x->hdrs);
    curl_easy_setopt(c, CURLOPT_PRIVATE, x);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, write_cb);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, x);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, header_cb);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, x);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, 10000L);
    if (!r->stream) {
        curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)e->rt->cfg->limits.request_timeout_ms);
    } else {
        /* The node sends a heartbeat every events_heartbeat_ms (15 s by default): a stream
         * silent for a minute is dead, though its TCP connection may not say so. */
        curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
        curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, 60L);
    }
    if (strcmp(r->method, "HEAD") == 0)
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    if (r->body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, r->body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)r->body_len);
    }
    x->next = e->xfers;
    if (e->xfers)
        e->xfers->prev = x;
    e->xfers = x;
    r->job->inflight++;
    if (curl_multi_add_handle(e->multi, c) != CURLM_OK) {
        r->job->inflight--;
        xfer_unlink(e, x);
        tr_free(x);
        return TR_EIO;
    }
    return 0;
}

static void xfer_finish(struct conn__edge *e, struct xfer *x, CURLcode res)
{
    struct conn__req *r = x->req;
    long status = 0;
    curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &status);
    r->status = res == CURLE_OK ? status : 0;
    if (res != CURLE_OK)
        snprintf(r->err, sizeof r->err, "%s",
                 x->too_big   ? "response larger than limits.max_response_bytes"
                 : x->aborted ? "stream ended by the connector"
                              : curl_easy_strerror(res));
    r->resp = x->buf, r->resp_len = x->len;
    x->buf = NULL;
    xfer_unlink(e, x);
    tr_free(x);
    r->job->inflight--;
    r->job->ops->handle(r->job, r, conn__now_ms(e->rt));
    conn__req_free(r);
}

static void check_done(struct conn__edge *e)
{
    CURLMsg *m;
    int left;
    bool any = false;
    while ((m = curl_multi_info_read(e->multi, &left))) {
        if (m->msg != CURLMSG_DONE)
            continue;
        struct xfer *x;
        CURLcode res = m->data.result;
        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&x);
        xfer_finish(e, x, res);
        any = true;
    }
    if (any)
        conn__edge_pump(e);
}

static void wake_cb(uv_timer_t *t)
{
    conn__edge_pump(t->data);
}

void conn__edge_pump(struct conn__edge *e)
{
    if (e->stopped || e->pumping)
        return;
    e->pumping = true;
    uint64_t now = conn__now_ms(e->rt), wake = UINT64_MAX;
    for (size_t i = 0; i < e->rt->njobs; i++) {
        struct conn__job *j = e->rt->jobs[i];
        for (int steps = 0; steps < PUMP_MAX_STEPS; steps++) {
            struct conn__req *req = NULL;
            uint64_t until = 0;
            enum conn__step s = j->ops->next(j, now, &req, &until);
            if (s == CONN__WAIT && until < wake)
                wake = until;
            if (s != CONN__SEND)
                break;
            if (xfer_start(e, req) < 0) {
                snprintf(req->err, sizeof req->err, "could not start the transfer");
                j->ops->handle(j, req, now);
                conn__req_free(req);
            }
        }
    }
    e->pumping = false;
    if (wake != UINT64_MAX)
        uv_timer_start(&e->wake_timer, wake_cb, wake > now ? wake - now : 0, 0);
    else
        uv_timer_stop(&e->wake_timer);
}

int conn__edge_create(struct conn_runner *rt, struct conn__edge **out)
{
    struct conn__edge *e = tr_calloc(1, sizeof *e);
    if (!e)
        return TR_ENOMEM;
    e->rt = rt;
    e->multi = curl_multi_init();
    if (!e->multi) {
        tr_free(e);
        return TR_ENOMEM;
    }
    curl_multi_setopt(e->multi, CURLMOPT_SOCKETFUNCTION, sock_cb);
    curl_multi_setopt(e->multi, CURLMOPT_SOCKETDATA, e);
    curl_multi_setopt(e->multi, CURLMOPT_TIMERFUNCTION, timer_cb);
    curl_multi_setopt(e->multi, CURLMOPT_TIMERDATA, e);
    curl_multi_setopt(e->multi, CURLMOPT_MAX_HOST_CONNECTIONS,
                      (long)rt->cfg->limits.max_inflight + 4);
    uv_timer_init(rt->loop, &e->curl_timer);
    uv_timer_init(rt->loop, &e->wake_timer);
    e->curl_timer.data = e->wake_timer.data = e;
    *out = e;
    return 0;
}

void conn__edge_stop(struct conn__edge *e)
{
    if (!e || e->stopped)
        return;
    e->stopped = true;
    while (e->xfers) {
        struct xfer *x = e->xfers;
        struct conn__req *r = x->req;
        tr_free(x->buf);
        xfer_unlink(e, x);
        tr_free(x);
        r->job->inflight--;
        conn__req_free(r);
    }
    /* Cleanup closes the cached connections while the loop can still close their polls. */
    curl_multi_cleanup(e->multi);
    e->multi = NULL;
    uv_close((uv_handle_t *)&e->curl_timer, NULL);
    uv_close((uv_handle_t *)&e->wake_timer, NULL);
    if (e->status_open)
        uv_close((uv_handle_t *)&e->status, NULL);
}

void conn__edge_destroy(struct conn__edge *e)
{
    if (!e)
        return;
    if (e->multi)
        curl_multi_cleanup(e->multi);
    tr_free(e);
}

/* ---- status server: one request per connection, then close ---- */

struct sconn {
    uv_tcp_t tcp;
    struct conn_runner *rt;
    char buf[STATUS_REQ_MAX];
    size_t len;
    uv_write_t wr;
    char *out;
    bool answered;
};

static void sconn_closed(uv_handle_t *h)
{
    struct sconn *s = h->data;
    tr_free(s->out);
    tr_free(s);
}

static void sconn_written(uv_write_t *w, int status)
{
    (void)status;
    uv_close((uv_handle_t *)w->handle, sconn_closed);
}

static void metric(char **buf, size_t *len, const char *name, const char *conn, const char *dir,
                   uint64_t v)
{
    char line[256];
    int n =
        snprintf(line, sizeof line, "treaty_connector_%s{connector=\"%s\",direction=\"%s\"} %llu\n",
                 name, conn, dir, (unsigned long long)v);
    char *b = tr_realloc(*buf, *len + (size_t)n + 1);
    if (!b)
        return;
    memcpy(b + *len, line, (size_t)n + 1);
    *buf = b, *len += (size_t)n;
}

static char *metrics_text(struct conn_runner *rt)
{
    char *buf = tr_strdup("");
    size_t len = 0;
    uint64_t now = conn__now_ms(rt);
    for (size_t i = 0; buf && i < rt->njobs; i++) {
        struct conn__job *j = rt->jobs[i];
        const char *c = j->cfg->name, *d = j->ops->direction;
        metric(&buf, &len, "records_total", c, d, j->records);
        metric(&buf, &len, "skipped_total", c, d, j->skipped);
        metric(&buf, &len, "dead_letters_total", c, d, j->dead_letters);
        metric(&buf, &len, "retries_total", c, d, j->retries);
        metric(&buf, &len, "lag_ms", c, d,
               j->caught_up_ms && now > j->caught_up_ms ? now - j->caught_up_ms : 0);
    }
    return buf;
}

static void sconn_answer(struct sconn *s)
{
    int code = 404;
    const char *ctype = "application/json";
    char *body = NULL;
    if (strncmp(s->buf, "GET /v1/connectors ", 19) == 0) {
        json_t *st = conn_runner_status(s->rt);
        char *d = st ? json_dumps(st, JSON_COMPACT) : NULL;
        json_decref(st);
        body = d ? tr_strdup(d) : NULL;
        free(d);
        code = body ? 200 : 500;
    } else if (strncmp(s->buf, "GET /metrics ", 13) == 0) {
        body = metrics_text(s->rt);
        ctype = "text/plain; version=0.0.4";
        code = body ? 200 : 500;
    }
    if (!body)
        body = tr_strdup("{\"error\":\"not found: GET /v1/connectors or GET /metrics\"}");
    size_t blen = body ? strlen(body) : 0, cap = blen + 256;
    s->out = tr_malloc(cap);
    if (!s->out) {
        tr_free(body);
        uv_close((uv_handle_t *)&s->tcp, sconn_closed);
        return;
    }
    int n = snprintf(s->out, cap,
                     "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                     "Connection: close\r\n\r\n%s",
                     code,
                     code == 200   ? "OK"
                     : code == 404 ? "Not Found"
                                   : "Error",
                     ctype, blen, body ? body : "");
    tr_free(body);
    uv_buf_t b = uv_buf_init(s->out, (unsigned)n);
    s->answered = true;
    if (uv_write(&s->wr, (uv_stream_t *)&s->tcp, &b, 1, sconn_written) < 0)
        uv_close((uv_handle_t *)&s->tcp, sconn_closed);
}

static void sconn_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
    struct sconn *s = h->data;
    (void)hint;
    *b = uv_buf_init(s->buf + s->len, (unsigned)(STATUS_REQ_MAX - 1 - s->len));
}

static void sconn_read(uv_stream_t *st, ssize_t n, const uv_buf_t *b)
{
    struct sconn *s = st->data;
    (void)b;
    if (s->answered)
        return;
    if (n < 0 || (n == 0 && s->len >= STATUS_REQ_MAX - 1)) {
        uv_close((uv_handle_t *)st, sconn_closed);
        return;
    }
    s->len += (size_t)n;
    s->buf[s->len] = '\0';
    if (strstr(s->buf, "\r\n\r\n") || s->len >= STATUS_REQ_MAX - 1) {
        uv_read_stop(st);
        sconn_answer(s);
    }
}

static void status_accept(uv_stream_t *server, int status)
{
    struct conn_runner *rt = server->data;
    if (status < 0)
        return;
    struct sconn *s = tr_calloc(1, sizeof *s);
    if (!s)
        return;
    s->rt = rt;
    uv_tcp_init(rt->loop, &s->tcp);
    s->tcp.data = s;
    if (uv_accept(server, (uv_stream_t *)&s->tcp) < 0 ||
        uv_read_start((uv_stream_t *)&s->tcp, sconn_alloc, sconn_read) < 0)
        uv_close((uv_handle_t *)&s->tcp, sconn_closed);
}

int conn__status_start(struct conn_runner *rt)
{
    struct conn__edge *e = rt->edge;
    struct sockaddr_in addr;
    if (uv_ip4_addr(rt->cfg->status_host, rt->cfg->status_port, &addr) < 0)
        return TR_EINVAL;
    uv_tcp_init(rt->loop, &e->status);
    e->status.data = rt;
    e->status_open = true;
    if (uv_tcp_bind(&e->status, (const struct sockaddr *)&addr, 0) < 0 ||
        uv_listen((uv_stream_t *)&e->status, 64, status_accept) < 0)
        return TR_EIO;
    return 0;
}
