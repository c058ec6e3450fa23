/* http_stream.c — streaming answers of the api's HTTP/1.1 server (RFC 9112 §7.1 chunked framing):
 * a route turns its request into a stream whose body goes out in chunks for as long as the owner
 * writes, while the connection keeps reading only to see the client go away. Invariant: a
 * streaming connection has an owner (sops) until it closes, and gone is called exactly once.
 * Used by events.c; http.c ends streams on api_close. */
#include "api/api_int.h"

#include "common/alloc.h"
#include "common/err.h"

#include <stdio.h>
#include <string.h>

static void stream_written(uv_write_t *w, int status)
{
    struct api__write *wr = (struct api__write *)w;
    struct api__conn *c = wr->conn;
    tr_free(wr->buf);
    tr_free(wr);
    if (c->closing)
        return;
    if (status != 0) {
        api__conn_close(c);
        return;
    }
    if (c->sops && c->sops->written)
        c->sops->written(c->sarg);
}

static void stream_end_written(uv_write_t *w, int status)
{
    (void)status;
    struct api__write *wr = (struct api__write *)w;
    struct api__conn *c = wr->conn;
    tr_free(wr->buf);
    tr_free(wr);
    api__conn_close(c);
}

/* Queues buf (taken) on the connection with callback cb. */
static int stream_queue(struct api__conn *c, char *buf, size_t len, uv_write_cb cb)
{
    struct api__write *wr = tr_calloc(1, sizeof *wr);
    if (!wr) {
        tr_free(buf);
        api__conn_close(c);
        return TR_ENOMEM;
    }
    wr->conn = c;
    wr->buf = buf;
    uv_buf_t ub = uv_buf_init(buf, (unsigned int)len);
    if (uv_write(&wr->w, (uv_stream_t *)&c->tcp, &ub, 1, cb) != 0) {
        tr_free(buf);
        tr_free(wr);
        api__conn_close(c);
        return TR_EIO;
    }
    return TR_OK;
}

int api__stream_begin(struct api__req *r, const char *ctype, const struct api__stream_ops *ops,
                      void *arg)
{
    struct api__conn *c = r->conn;
    TR_ASSERT(c && c->req == r && r->state == API__REQ_DISPATCHED);
    api__metrics_record(&c->api->metrics, r->route, 200, (double)(uv_hrtime() - r->start_ns) / 1e9);
    c->stream_chunked = !(r->http_major == 1 && r->http_minor == 0);
    c->close_after = true; /* a stream ends only with its connection */
    char *buf = tr_malloc(256);
    if (!buf) {
        api__conn_close(c);
        return TR_ENOMEM;
    }
    int n = snprintf(
        buf, 256,
        "HTTP/1.1 200 OK\r\nContent-Type: %s\r\nCache-Control: no-cache\r\n"
        "X-Accel-Buffering: no\r\n%s\r\n",
        ctype, c->stream_chunked ? "Transfer-Encoding: chunked\r\n" : "Connection: close\r\n");
    TR_ASSERT(n > 0 && n < 256);
    r->state = API__REQ_STREAMING;
    int rc = stream_queue(c, buf, (size_t)n, stream_written);
    if (rc != TR_OK)
        return rc;
    c->sops = ops;
    c->sarg = arg;
    return TR_OK; /* conn_pump, which routed r, starts reading again for the stream */
}

int api__stream_write(struct api__conn *c, const char *data, size_t len)
{
    if (c->closing || c->stream_ending)
        return TR_EIO;
    size_t cap = len + 24;
    char *buf = tr_malloc(cap);
    if (!buf) {
        api__conn_close(c);
        return TR_ENOMEM;
    }
    size_t n = 0;
    if (c->stream_chunked)
        n = (size_t)snprintf(buf, cap, "%zx\r\n", len);
    memcpy(buf + n, data, len);
    n += len;
    if (c->stream_chunked) {
        memcpy(buf + n, "\r\n", 2);
        n += 2;
    }
    return stream_queue(c, buf, n, stream_written);
}

size_t api__stream_queued(const struct api__conn *c)
{
    return uv_stream_get_write_queue_size((const uv_stream_t *)&c->tcp);
}

void api__stream_end(struct api__conn *c)
{
    if (c->closing || c->stream_ending)
        return;
    c->stream_ending = true;
    if (c->sops) {
        const struct api__stream_ops *ops = c->sops;
        c->sops = NULL;
        ops->gone(c->sarg);
    }
    /* A client that reads nothing more would hold the connection: the idle timeout closes it. */
    api__conn_linger(c);
    char *buf = tr_malloc(8);
    if (!buf) {
        api__conn_close(c);
        return;
    }
    memcpy(buf, "0\r\n\r\n", 5);
    /* HTTP/1.0: the body ends with the connection; an empty write closes it once all is out. */
    stream_queue(c, buf, c->stream_chunked ? 5 : 0, stream_end_written);
}
