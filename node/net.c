/* net.c — node-to-node links of net.h: libuv TCP streams carrying Noise XX sessions.
 * Wire: every Noise message is prefixed by its 2-byte big-endian length (Noise rev 34 §3 caps it
 * at 65535). The initiator's third handshake message carries its node id; the responder answers
 * with one transport message holding its own id, after which the initiator calls the link up.
 * Application frames follow as transport messages: the first starts with the frame's 4-byte
 * big-endian length, the frame bytes continue over as many messages as needed.
 * Invariant: a conn that saw any fault is closed at once and never processes another byte. */
#include "node/net.h"

#include "common/alloc.h"
#include "common/err.h"
#include "common/log.h"
#include "common/prng.h"
#include "node/noise.h"

#include <arpa/inet.h>
#include <inttypes.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define NET_PROLOGUE_TAG     "treaty/link/v1" /* the NUL that ends it is part of the prologue */
#define NET_PROLOGUE_TAG_LEN (sizeof NET_PROLOGUE_TAG)
#define NET_PROLOGUE_LEN     (NET_PROLOGUE_TAG_LEN + 32u)
#define NET_LEN_BYTES        2u /* length prefix of a Noise message on the stream */
#define NET_FRAME_HDR        4u /* total length in front of an application frame */
#define NET_RBUF_CAP         (NET_LEN_BYTES + NOISE_MAX_MSG_LEN)
#define NET_ID_BYTES         8u

enum net_conn_state {
    CONN_CONNECTING, /* outbound: TCP connect pending */
    CONN_HANDSHAKE,  /* Noise XX running */
    CONN_AWAIT_ACK,  /* outbound: handshake done, waiting for the responder's id */
    CONN_OPEN,       /* frames flow */
    CONN_CLOSED,     /* uv_close issued; waiting for the close callback */
};

struct net_qframe { /* a frame waiting for its outbound link */
    struct net_qframe *next;
    size_t len;
    uint8_t data[];
};

struct net_link; /* one member: its outbound conn, reconnect timer and send queue */

struct net_conn {
    uv_tcp_t tcp;
    uv_connect_t connect;
    struct net *net;
    struct net_link *link; /* NULL for an inbound conn not yet identified, or once detached */
    struct net_conn *prev, *next;
    int initiator;
    enum net_conn_state state;
    struct noise_handshake *hs;
    struct noise_transport *t;
    struct net_link *accepted; /* responder: the member whose key the accept callback matched */
    uint8_t *rbuf;             /* NET_RBUF_CAP bytes: the stream until a whole message is in */
    size_t rlen;
    uint8_t *frame; /* reassembly of a frame spread over several messages */
    size_t frame_len, frame_got;
    uint64_t inflight_bytes; /* frame bytes handed to uv_write and not yet completed */
};

struct net_link {
    struct net *net;
    uint64_t id;
    uint8_t ed_pk[32];
    uint8_t x_pk[NOISE_KEY_LEN];
    char host[256];
    uint16_t port;
    struct sockaddr_storage addr;
    struct net_conn *out;
    uv_timer_t timer;
    uint32_t backoff_ms;
    int up;
    struct net_qframe *qhead, *qtail;
    uint64_t pending_bytes;
    uint64_t drops, links_lost;
};

struct net_write {
    uv_write_t req;
    struct net_conn *conn;
    uint64_t frame_bytes; /* counted in conn->inflight_bytes until done */
    size_t len;
    uint8_t buf[];
};

struct net {
    uv_loop_t *loop;
    uv_tcp_t listener;
    uint64_t self_id;
    struct noise_keypair key;
    uint8_t prologue[NET_PROLOGUE_LEN];
    uint32_t frame_max_bytes;
    uint64_t send_queue_max_bytes;
    uint32_t backoff_min_ms, backoff_max_ms;
    struct tr_prng prng;
    struct net_callbacks cb;
    struct net_link **links;
    size_t n_links;
    struct net_conn *conns; /* every conn, inbound and outbound, until its close callback */
    uint8_t *plain_in;      /* NOISE_MAX_MSG_LEN bytes: decrypted payloads */
    uint8_t *plain_out;     /* NOISE_MAX_PAYLOAD_LEN bytes: a payload being encrypted */
    size_t handles;         /* uv handles not yet closed */
    int closing;
    void (*done)(void *);
    void *done_arg;
};

static void net_link_schedule(struct net_link *l);
static void net_link_dial(struct net_link *l);
static void net_link_timer_fired(uv_timer_t *t);
static void net_conn_close(struct net_conn *c, const char *why, const char *code);

static void net_put_be(uint8_t *p, uint64_t v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)(v >> (8 * (n - 1 - i)));
}

static uint64_t net_get_be(const uint8_t *p, size_t n)
{
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++)
        v = (v << 8) | p[i];
    return v;
}

static void net_errf(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void net_errf(char *err, size_t errlen, const char *fmt, ...)
{
    if (err == NULL || errlen == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* Numeric address parse; "localhost" is the IPv4 loopback (no resolver on this path). */
static int net_addr_parse(const char *host, uint16_t port, struct sockaddr_storage *out)
{
    memset(out, 0, sizeof *out);
    if (strcmp(host, "localhost") == 0)
        host = "127.0.0.1";
    if (uv_ip4_addr(host, port, (struct sockaddr_in *)out) == 0)
        return TR_OK;
    if (uv_ip6_addr(host, port, (struct sockaddr_in6 *)out) == 0)
        return TR_OK;
    return TR_EINVAL;
}

/* ---- handle bookkeeping and the end of net_close ---- */

static void net_handle_closed(struct net *n)
{
    TR_ASSERT(n->handles > 0);
    n->handles--;
    if (!n->closing || n->handles > 0)
        return;
    void (*done)(void *) = n->done;
    void *arg = n->done_arg;
    sodium_memzero(&n->key, sizeof n->key);
    tr_free(n->plain_in);
    tr_free(n->plain_out);
    tr_free(n->links);
    tr_free(n);
    if (done != NULL)
        done(arg);
}

static void net_listener_closed(uv_handle_t *h)
{
    net_handle_closed(h->data);
}

/* ---- links (one per member) ---- */

static struct net_link *net_link_find(const struct net *n, uint64_t id)
{
    for (size_t i = 0; i < n->n_links; i++)
        if (n->links[i]->id == id)
            return n->links[i];
    return NULL;
}

static struct net_link *net_link_by_key(const struct net *n, const uint8_t pk[NOISE_KEY_LEN])
{
    for (size_t i = 0; i < n->n_links; i++)
        if (sodium_memcmp(n->links[i]->x_pk, pk, NOISE_KEY_LEN) == 0)
            return n->links[i];
    return NULL;
}

static void net_link_queue_free(struct net_link *l)
{
    while (l->qhead != NULL) {
        struct net_qframe *q = l->qhead;
        l->qhead = q->next;
        tr_free(q);
    }
    l->qtail = NULL;
    l->pending_bytes = 0;
}

static uint64_t net_link_queued(const struct net_link *l)
{
    return l->pending_bytes + (l->out != NULL ? l->out->inflight_bytes : 0);
}

static void net_link_timer_closed(uv_handle_t *h)
{
    struct net_link *l = h->data;
    struct net *n = l->net;
    tr_free(l);
    net_handle_closed(n);
}

/* Ends every conn of `l` and frees it once its timer has closed. `l` must already be out of
 * n->links. */
static void net_link_destroy(struct net_link *l)
{
    struct net *n = l->net;
    for (struct net_conn *c = n->conns; c != NULL; c = c->next) {
        if (c->accepted == l)
            c->accepted = NULL;
        if (c->link == l) {
            if (l->out == c)
                l->out = NULL;
            c->link = NULL;
            net_conn_close(c, "peer removed", NULL);
        }
    }
    net_link_queue_free(l);
    uv_close((uv_handle_t *)&l->timer, net_link_timer_closed);
}

/* Capped exponential backoff with jitter: the delay is drawn from [b/2, b], then b doubles up to
 * backoff_max_ms; it returns to backoff_min_ms once a link comes up. */
static void net_link_schedule(struct net_link *l)
{
    struct net *n = l->net;
    if (n->closing || uv_is_active((uv_handle_t *)&l->timer))
        return;
    uint64_t b = l->backoff_ms;
    uint64_t delay = tr_prng_range(&n->prng, b / 2, b);
    uint64_t next = b * 2;
    l->backoff_ms = (uint32_t)(next > n->backoff_max_ms ? n->backoff_max_ms : next);
    tr_log(TR_LOG_DEBUG, "net.reconnect_scheduled", "peer=%" PRIu64 " delay_ms=%" PRIu64, l->id,
           delay);
    uv_timer_start(&l->timer, net_link_timer_fired, delay, 0);
}

/* ---- writing ---- */

static void net_write_done(uv_write_t *req, int status)
{
    struct net_write *w = (struct net_write *)req;
    struct net_conn *c = w->conn;
    c->inflight_bytes -= w->frame_bytes;
    tr_free(w);
    if (status < 0 && c->state != CONN_CLOSED)
        net_conn_close(c, "write failed", uv_err_name(status));
}

static struct net_write *net_write_new(struct net_conn *c, size_t len, uint64_t frame_bytes)
{
    struct net_write *w = tr_malloc(sizeof *w + len);
    if (w == NULL)
        return NULL;
    w->conn = c;
    w->frame_bytes = frame_bytes;
    w->len = len;
    return w;
}

static int net_write_submit(struct net_conn *c, struct net_write *w)
{
    uv_buf_t b = uv_buf_init((char *)w->buf, (unsigned)w->len);
    c->inflight_bytes += w->frame_bytes;
    int rc = uv_write(&w->req, (uv_stream_t *)&c->tcp, &b, 1, net_write_done);
    if (rc < 0) {
        c->inflight_bytes -= w->frame_bytes;
        tr_free(w);
        net_conn_close(c, "write failed", uv_err_name(rc));
        return TR_ECLOSED;
    }
    return TR_OK;
}

/* Encrypts `len` payload bytes as one transport message, prefixed, at `out`; returns its size. */
static size_t net_seal(struct net_conn *c, const uint8_t *p, size_t len, uint8_t *out)
{
    size_t mlen = 0;
    int rc = noise_transport_encrypt(c->t, p, len, out + NET_LEN_BYTES, NOISE_MAX_MSG_LEN, &mlen);
    TR_ASSERT(rc == TR_OK); /* lengths are within bounds; nonce exhaustion needs 2^64 messages */
    net_put_be(out, mlen, NET_LEN_BYTES);
    return NET_LEN_BYTES + mlen;
}

/* Encrypts frame `data` over as many transport messages as it needs and writes them. */
static int net_conn_send_frame(struct net_conn *c, const uint8_t *data, size_t len)
{
    struct net *n = c->net;
    size_t total = NET_FRAME_HDR + len;
    size_t n_msgs = (total + NOISE_MAX_PAYLOAD_LEN - 1) / NOISE_MAX_PAYLOAD_LEN;
    struct net_write *w = net_write_new(c, total + n_msgs * (NET_LEN_BYTES + NOISE_TAG_LEN), len);
    if (w == NULL)
        return TR_ENOMEM;
    size_t off = 0, pos = 0; /* off runs over header+data, pos over the output */
    while (off < total) {
        size_t chunk = total - off < NOISE_MAX_PAYLOAD_LEN ? total - off : NOISE_MAX_PAYLOAD_LEN;
        size_t filled = 0;
        if (off == 0) {
            net_put_be(n->plain_out, len, NET_FRAME_HDR);
            filled = NET_FRAME_HDR;
        }
        if (chunk > filled)
            memcpy(n->plain_out + filled, data + (off + filled - NET_FRAME_HDR), chunk - filled);
        pos += net_seal(c, n->plain_out, chunk, w->buf + pos);
        off += chunk;
    }
    TR_ASSERT(pos == w->len);
    return net_write_submit(c, w);
}

/* Sends the handshake message the state asks for, with `payload`. */
static int net_conn_send_handshake(struct net_conn *c, const uint8_t *payload, size_t len)
{
    struct net_write *w = net_write_new(c, NET_RBUF_CAP, 0);
    if (w == NULL)
        return TR_ENOMEM;
    size_t mlen = 0;
    int rc = noise_handshake_write_message(c->hs, payload, len, w->buf + NET_LEN_BYTES,
                                           NOISE_MAX_MSG_LEN, &mlen);
    if (rc != TR_OK) {
        tr_free(w);
        return rc;
    }
    net_put_be(w->buf, mlen, NET_LEN_BYTES);
    w->len = NET_LEN_BYTES + mlen;
    return net_write_submit(c, w);
}

static int net_conn_send_id(struct net_conn *c)
{
    struct net_write *w = net_write_new(c, NET_LEN_BYTES + NET_ID_BYTES + NOISE_TAG_LEN, 0);
    if (w == NULL)
        return TR_ENOMEM;
    uint8_t id[NET_ID_BYTES];
    net_put_be(id, c->net->self_id, NET_ID_BYTES);
    net_seal(c, id, sizeof id, w->buf);
    return net_write_submit(c, w);
}

/* Moves the frames queued while the link was down onto the now open link. */
static void net_link_flush(struct net_link *l)
{
    while (l->qhead != NULL && l->out != NULL && l->out->state == CONN_OPEN) {
        struct net_qframe *q = l->qhead;
        l->qhead = q->next;
        if (l->qhead == NULL)
            l->qtail = NULL;
        l->pending_bytes -= q->len;
        int rc = net_conn_send_frame(l->out, q->data, q->len);
        tr_free(q);
        if (rc == TR_ENOMEM)
            l->drops++;
    }
}

/* ---- conns ---- */

static void net_conn_closed(uv_handle_t *h)
{
    struct net_conn *c = h->data;
    struct net *n = c->net;
    if (c->prev != NULL)
        c->prev->next = c->next;
    else
        n->conns = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
    tr_free(c->rbuf);
    tr_free(c);
    net_handle_closed(n);
}

/* Ends conn `c`: wipes its Noise state, detaches it from its link (reporting the outbound link
 * down and scheduling a reconnect) and closes the socket. Safe to call twice. */
static void net_conn_close(struct net_conn *c, const char *why, const char *code)
{
    if (c->state == CONN_CLOSED)
        return;
    struct net *n = c->net;
    struct net_link *l = c->link;
    char reason[128];
    tr_log(code == NULL ? TR_LOG_INFO : TR_LOG_WARN, "net.conn_closed",
           "peer=%" PRIu64 " dir=%s reason=%s code=%s", l != NULL ? l->id : 0,
           c->initiator ? "out" : "in", tr_log_quote(reason, sizeof reason, why),
           code != NULL ? code : "none");
    c->state = CONN_CLOSED;
    noise_handshake_destroy(c->hs);
    noise_transport_destroy(c->t);
    c->hs = NULL;
    c->t = NULL;
    tr_free(c->frame);
    c->frame = NULL;
    c->link = NULL;
    c->accepted = NULL;
    if (l != NULL && l->out == c) {
        l->out = NULL;
        int was_up = l->up;
        l->up = 0;
        if (!n->closing) {
            net_link_schedule(l);
            if (was_up) {
                l->links_lost++;
                if (n->cb.on_peer != NULL)
                    n->cb.on_peer(n->cb.ctx, l->id, 0);
            }
        }
    }
    uv_close((uv_handle_t *)&c->tcp, net_conn_closed);
}

static struct net_conn *net_conn_new(struct net *n, int initiator)
{
    struct net_conn *c = tr_calloc(1, sizeof *c);
    if (c == NULL)
        return NULL;
    c->rbuf = tr_malloc(NET_RBUF_CAP);
    if (c->rbuf == NULL) {
        tr_free(c);
        return NULL;
    }
    c->net = n;
    c->initiator = initiator;
    uv_tcp_init(n->loop, &c->tcp); /* only fails for a bad loop or flags */
    c->tcp.data = c;
    n->handles++;
    c->next = n->conns;
    if (n->conns != NULL)
        n->conns->prev = c;
    n->conns = c;
    return c;
}

/* Noise accept callback: an outbound conn takes only the key of the peer it dialed; an inbound
 * conn takes the key of any current member. */
static int net_conn_accept_key(void *ctx, const uint8_t pk[NOISE_KEY_LEN])
{
    struct net_conn *c = ctx;
    if (c->initiator)
        return c->link != NULL && sodium_memcmp(c->link->x_pk, pk, NOISE_KEY_LEN) == 0 ? 0 : -1;
    c->accepted = net_link_by_key(c->net, pk);
    return c->accepted != NULL ? 0 : -1;
}

static int net_conn_start_handshake(struct net_conn *c)
{
    struct noise_config nc = {
        .pattern = NOISE_PATTERN_XX,
        .role = c->initiator ? NOISE_ROLE_INITIATOR : NOISE_ROLE_RESPONDER,
        .prologue = c->net->prologue,
        .prologue_len = NET_PROLOGUE_LEN,
        .local_static = &c->net->key,
        .accept = net_conn_accept_key,
        .accept_ctx = c,
    };
    int rc = noise_handshake_create(&nc, &c->hs);
    if (rc != TR_OK)
        return rc;
    c->state = CONN_HANDSHAKE;
    return TR_OK;
}

static int net_conn_split(struct net_conn *c)
{
    int rc = noise_handshake_split(c->hs, &c->t);
    noise_handshake_destroy(c->hs);
    c->hs = NULL;
    return rc;
}

/* Responder: message 3 read; its payload is the initiator's id, which must be the id of the
 * member whose key was accepted. An older inbound conn of that member is replaced. */
static int net_conn_inbound_ready(struct net_conn *c, const uint8_t *payload, size_t len)
{
    struct net_link *l = c->accepted;
    if (l == NULL || len != NET_ID_BYTES || net_get_be(payload, NET_ID_BYTES) != l->id)
        return TR_EDENIED;
    int rc = net_conn_split(c);
    if (rc != TR_OK)
        return rc;
    for (struct net_conn *o = c->net->conns; o != NULL; o = o->next)
        if (o != c && !o->initiator && o->link == l)
            net_conn_close(o, "replaced by a new inbound link", NULL);
    c->link = l;
    c->state = CONN_OPEN;
    tr_log(TR_LOG_INFO, "net.inbound_up", "peer=%" PRIu64, l->id);
    return net_conn_send_id(c);
}

/* One handshake message arrived: read it, then write the next one if it is our turn. */
static int net_conn_on_handshake(struct net_conn *c, const uint8_t *msg, size_t len)
{
    uint8_t payload[NET_ID_BYTES];
    size_t plen = 0;
    int rc = noise_handshake_read_message(c->hs, msg, len, payload, sizeof payload, &plen);
    if (rc != TR_OK)
        return rc == TR_EINVAL ? TR_EPARSE : rc; /* a payload too large for us is a bad peer */
    if (!c->initiator) {
        if (noise_handshake_action(c->hs) == NOISE_ACTION_WRITE)
            return plen == 0 ? net_conn_send_handshake(c, NULL, 0) : TR_EPARSE;
        return net_conn_inbound_ready(c, payload, plen);
    }
    if (plen != 0 || noise_handshake_action(c->hs) != NOISE_ACTION_WRITE)
        return TR_EPARSE;
    uint8_t id[NET_ID_BYTES];
    net_put_be(id, c->net->self_id, NET_ID_BYTES);
    rc = net_conn_send_handshake(c, id, sizeof id);
    if (rc == TR_OK)
        rc = net_conn_split(c);
    if (rc == TR_OK)
        c->state = CONN_AWAIT_ACK;
    return rc;
}

/* Outbound: the responder's id confirms it accepted us; the link is up. */
static int net_conn_on_ack(struct net_conn *c, const uint8_t *p, size_t len)
{
    struct net_link *l = c->link;
    if (len != NET_ID_BYTES || net_get_be(p, NET_ID_BYTES) != l->id)
        return TR_EDENIED;
    struct net *n = c->net;
    c->state = CONN_OPEN;
    l->up = 1;
    l->backoff_ms = n->backoff_min_ms;
    tr_log(TR_LOG_INFO, "net.link_up", "peer=%" PRIu64, l->id);
    net_link_flush(l);
    if (n->cb.on_peer != NULL && l->out == c && c->state == CONN_OPEN)
        n->cb.on_peer(n->cb.ctx, l->id, 1);
    return TR_OK;
}

static void net_deliver(struct net_conn *c, const uint8_t *data, size_t len)
{
    struct net *n = c->net;
    if (n->cb.on_frame != NULL)
        n->cb.on_frame(n->cb.ctx, c->link->id, data, len);
}

/* Inbound frame bytes from one transport payload (see the file comment for the layout). */
static int net_conn_on_frame_bytes(struct net_conn *c, const uint8_t *p, size_t len)
{
    if (c->frame == NULL) {
        if (len < NET_FRAME_HDR)
            return TR_EPARSE;
        uint64_t total = net_get_be(p, NET_FRAME_HDR);
        if (total > c->net->frame_max_bytes)
            return TR_ELIMIT;
        p += NET_FRAME_HDR;
        len -= NET_FRAME_HDR;
        if (len > total)
            return TR_EPARSE;
        if (len == total) {
            net_deliver(c, p, len);
            return TR_OK;
        }
        c->frame = tr_malloc((size_t)total);
        if (c->frame == NULL)
            return TR_ENOMEM;
        c->frame_len = (size_t)total;
        c->frame_got = 0;
    } else if (len == 0 || len > c->frame_len - c->frame_got) {
        return TR_EPARSE;
    }
    memcpy(c->frame + c->frame_got, p, len);
    c->frame_got += len;
    if (c->frame_got == c->frame_len) {
        uint8_t *f = c->frame;
        c->frame = NULL;
        net_deliver(c, f, c->frame_len);
        tr_free(f);
    }
    return TR_OK;
}

/* One whole Noise message arrived on `c`. */
static int net_conn_on_message(struct net_conn *c, const uint8_t *msg, size_t len)
{
    if (c->state == CONN_HANDSHAKE)
        return net_conn_on_handshake(c, msg, len);
    if (c->initiator && c->state == CONN_OPEN)
        return TR_EPARSE; /* the outbound direction carries nothing after the ack */
    size_t plen = 0;
    int rc = noise_transport_decrypt(c->t, msg, len, c->net->plain_in, NOISE_MAX_MSG_LEN, &plen);
    if (rc != TR_OK)
        return rc;
    if (c->state == CONN_AWAIT_ACK)
        return net_conn_on_ack(c, c->net->plain_in, plen);
    return net_conn_on_frame_bytes(c, c->net->plain_in, plen);
}

static void net_conn_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)suggested;
    struct net_conn *c = h->data;
    *buf = uv_buf_init((char *)c->rbuf + c->rlen, (unsigned)(NET_RBUF_CAP - c->rlen));
}

static void net_conn_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    (void)buf;
    struct net_conn *c = s->data;
    if (c->state == CONN_CLOSED || nread == 0)
        return;
    if (nread < 0) {
        net_conn_close(c, nread == UV_EOF ? "peer closed" : "read failed",
                       nread == UV_EOF ? NULL : uv_err_name((int)nread));
        return;
    }
    c->rlen += (size_t)nread;
    size_t off = 0;
    while (c->rlen - off >= NET_LEN_BYTES) {
        size_t mlen = (size_t)net_get_be(c->rbuf + off, NET_LEN_BYTES);
        if (c->rlen - off < NET_LEN_BYTES + mlen)
            break;
        int rc = net_conn_on_message(c, c->rbuf + off + NET_LEN_BYTES, mlen);
        if (rc != TR_OK)
            net_conn_close(c, "bad message", tr_err_name(rc));
        if (c->state == CONN_CLOSED) /* by the fault, or by a callback */
            return;
        off += NET_LEN_BYTES + mlen;
    }
    memmove(c->rbuf, c->rbuf + off, c->rlen - off);
    c->rlen -= off;
}

static int net_conn_start_reading(struct net_conn *c)
{
    int rc = uv_read_start((uv_stream_t *)&c->tcp, net_conn_alloc, net_conn_read);
    return rc < 0 ? TR_EIO : TR_OK;
}

static void net_conn_connected(uv_connect_t *req, int status)
{
    struct net_conn *c = req->data;
    if (c->state == CONN_CLOSED)
        return;
    if (status < 0) {
        net_conn_close(c, "connect failed", uv_err_name(status));
        return;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    int rc = net_conn_start_handshake(c);
    if (rc == TR_OK)
        rc = net_conn_start_reading(c);
    if (rc == TR_OK)
        rc = net_conn_send_handshake(c, NULL, 0);
    if (rc != TR_OK)
        net_conn_close(c, "handshake start failed", tr_err_name(rc));
}

static void net_link_dial(struct net_link *l)
{
    struct net *n = l->net;
    if (n->closing || l->out != NULL)
        return;
    struct net_conn *c = net_conn_new(n, 1);
    if (c == NULL) {
        net_link_schedule(l);
        return;
    }
    c->link = l;
    l->out = c;
    c->state = CONN_CONNECTING;
    c->connect.data = c;
    int rc =
        uv_tcp_connect(&c->connect, &c->tcp, (const struct sockaddr *)&l->addr, net_conn_connected);
    if (rc < 0)
        net_conn_close(c, "connect failed", uv_err_name(rc));
}

static void net_link_timer_fired(uv_timer_t *t)
{
    net_link_dial(t->data);
}

static void net_on_connection(uv_stream_t *server, int status)
{
    struct net *n = server->data;
    if (status < 0 || n->closing) {
        tr_log(TR_LOG_WARN, "net.accept_failed", "code=%s", uv_err_name(status));
        return;
    }
    struct net_conn *c = net_conn_new(n, 0);
    if (c == NULL) {
        tr_log(TR_LOG_WARN, "net.accept_failed", "code=TR_ENOMEM");
        return; /* the connection stays in the backlog until the next one */
    }
    int rc = uv_accept(server, (uv_stream_t *)&c->tcp) < 0 ? TR_EIO : TR_OK;
    if (rc == TR_OK)
        rc = net_conn_start_handshake(c);
    if (rc == TR_OK)
        rc = net_conn_start_reading(c);
    if (rc != TR_OK)
        net_conn_close(c, "accept failed", tr_err_name(rc));
}

/* ---- public API ---- */

static int net_config_check(const struct net_config *cfg, char *err, size_t errlen)
{
    if (cfg->listen_host == NULL || cfg->ed_sk == NULL || cfg->network_id == NULL) {
        net_errf(err, errlen, "net: listen_host, ed_sk and network_id are required");
        return TR_EINVAL;
    }
    if (cfg->frame_max_bytes == 0 || cfg->frame_max_bytes > NET_FRAME_MAX_LIMIT ||
        cfg->send_queue_max_bytes == 0) {
        net_errf(err, errlen, "net: frame_max_bytes must be in 1..%u and send_queue_max_bytes > 0",
                 NET_FRAME_MAX_LIMIT);
        return TR_EINVAL;
    }
    if (cfg->backoff_min_ms == 0 || cfg->backoff_min_ms > cfg->backoff_max_ms) {
        net_errf(err, errlen, "net: backoff must satisfy 0 < backoff_min_ms <= backoff_max_ms");
        return TR_EINVAL;
    }
    return TR_OK;
}

static int net_listen(struct net *n, const struct net_config *cfg, char *err, size_t errlen)
{
    struct sockaddr_storage sa;
    if (net_addr_parse(cfg->listen_host, cfg->listen_port, &sa) != TR_OK) {
        net_errf(err, errlen, "net: listen address %s is not a numeric address", cfg->listen_host);
        return TR_EINVAL;
    }
    int rc = uv_tcp_bind(&n->listener, (const struct sockaddr *)&sa, 0);
    if (rc == 0)
        rc = uv_listen((uv_stream_t *)&n->listener, 128, net_on_connection);
    if (rc < 0) {
        net_errf(err, errlen, "net: listen %s:%u: %s", cfg->listen_host, (unsigned)cfg->listen_port,
                 uv_strerror(rc));
        return TR_EIO;
    }
    return TR_OK;
}

int net_create(uv_loop_t *loop, const struct net_config *cfg, const struct net_callbacks *cb,
               struct net **out, char *err, size_t errlen)
{
    int rc = net_config_check(cfg, err, errlen);
    if (rc != TR_OK)
        return rc;
    struct net *n = tr_calloc(1, sizeof *n);
    if (n == NULL)
        goto nomem;
    n->plain_in = tr_malloc(NOISE_MAX_MSG_LEN);
    n->plain_out = tr_malloc(NOISE_MAX_PAYLOAD_LEN);
    if (n->plain_in == NULL || n->plain_out == NULL)
        goto nomem;
    n->loop = loop;
    n->self_id = cfg->self_id;
    n->frame_max_bytes = cfg->frame_max_bytes;
    n->send_queue_max_bytes = cfg->send_queue_max_bytes;
    n->backoff_min_ms = cfg->backoff_min_ms;
    n->backoff_max_ms = cfg->backoff_max_ms;
    tr_prng_seed(&n->prng, cfg->seed);
    if (cb != NULL)
        n->cb = *cb;
    memcpy(n->prologue, NET_PROLOGUE_TAG, NET_PROLOGUE_TAG_LEN);
    memcpy(n->prologue + NET_PROLOGUE_TAG_LEN, cfg->network_id, 32);
    if (noise_keypair_from_ed25519(cfg->ed_sk, n->key.sk, n->key.pk) != TR_OK) {
        net_errf(err, errlen, "net: the node's Ed25519 key is not usable for Noise");
        rc = TR_ECRYPTO;
        goto fail;
    }
    uv_tcp_init(loop, &n->listener);
    n->listener.data = n;
    n->handles = 1;
    rc = net_listen(n, cfg, err, errlen);
    if (rc != TR_OK) {
        n->closing = 1; /* the listener's close callback frees n */
        uv_close((uv_handle_t *)&n->listener, net_listener_closed);
        return rc;
    }
    tr_log(TR_LOG_INFO, "net.listening", "port=%u", (unsigned)net_listen_port(n));
    *out = n;
    return TR_OK;
nomem:
    net_errf(err, errlen, "net: out of memory");
    rc = TR_ENOMEM;
fail:
    if (n != NULL) {
        sodium_memzero(&n->key, sizeof n->key);
        tr_free(n->plain_in);
        tr_free(n->plain_out);
        tr_free(n);
    }
    return rc;
}

uint16_t net_listen_port(const struct net *n)
{
    struct sockaddr_storage sa;
    int len = (int)sizeof sa;
    if (uv_tcp_getsockname(&n->listener, (struct sockaddr *)&sa, &len) != 0)
        return 0;
    if (sa.ss_family == AF_INET)
        return ntohs(((struct sockaddr_in *)&sa)->sin_port);
    return ntohs(((struct sockaddr_in6 *)&sa)->sin6_port);
}

/* Whether `cur` can be kept for `p` (same member, key and address). */
static int net_link_same(const struct net_link *cur, const struct net_peer *p)
{
    return cur->id == p->id && memcmp(cur->ed_pk, p->ed_pk, 32) == 0 && cur->port == p->port &&
           strncmp(cur->host, p->host, sizeof cur->host) == 0;
}

static int net_link_new(struct net *n, const struct net_peer *p, struct net_link **out)
{
    uint8_t x_pk[NOISE_KEY_LEN];
    struct sockaddr_storage sa;
    if (memchr(p->host, '\0', sizeof p->host) == NULL ||
        noise_pubkey_from_ed25519(p->ed_pk, x_pk) != TR_OK ||
        net_addr_parse(p->host, p->port, &sa) != TR_OK)
        return TR_EINVAL;
    struct net_link *l = tr_calloc(1, sizeof *l);
    if (l == NULL)
        return TR_ENOMEM;
    l->net = n;
    memcpy(l->x_pk, x_pk, sizeof x_pk);
    l->addr = sa;
    l->id = p->id;
    memcpy(l->ed_pk, p->ed_pk, 32);
    l->port = p->port;
    memcpy(l->host, p->host, sizeof l->host);
    l->host[sizeof l->host - 1] = '\0';
    l->backoff_ms = n->backoff_min_ms;
    *out = l;
    return TR_OK;
}

/* Checks the new list; builds fresh links for entries that are new or changed. */
static int net_peers_prepare(struct net *n, const struct net_peer *peers, size_t count,
                             struct net_link **next, size_t *n_next)
{
    *n_next = 0;
    for (size_t i = 0; i < count; i++) {
        const struct net_peer *p = &peers[i];
        if (p->id == n->self_id)
            continue;
        for (size_t j = 0; j < *n_next; j++)
            if (next[j]->id == p->id)
                return TR_EINVAL;
        struct net_link *cur = net_link_find(n, p->id);
        if (cur != NULL && net_link_same(cur, p)) {
            next[(*n_next)++] = cur;
            continue;
        }
        int rc = net_link_new(n, p, &next[*n_next]);
        if (rc != TR_OK)
            return rc;
        (*n_next)++;
    }
    return TR_OK;
}

static int net_link_listed(struct net_link *const *v, size_t nv, const struct net_link *l)
{
    for (size_t i = 0; i < nv; i++)
        if (v[i] == l)
            return 1;
    return 0;
}

int net_peers_set(struct net *n, const struct net_peer *peers, size_t count)
{
    if (n->closing)
        return TR_ECLOSED;
    struct net_link **next = tr_calloc(count > 0 ? count : 1, sizeof *next);
    if (next == NULL)
        return TR_ENOMEM;
    size_t n_next = 0;
    int rc = net_peers_prepare(n, peers, count, next, &n_next);
    if (rc != TR_OK) {
        for (size_t i = 0; i < n_next; i++)
            if (!net_link_listed(n->links, n->n_links, next[i]))
                tr_free(next[i]);
        tr_free(next);
        return rc;
    }
    struct net_link **old = n->links;
    size_t n_old = n->n_links;
    n->links = next;
    n->n_links = n_next;
    for (size_t i = 0; i < n_old; i++)
        if (!net_link_listed(next, n_next, old[i])) {
            tr_log(TR_LOG_INFO, "net.peer_removed", "peer=%" PRIu64, old[i]->id);
            net_link_destroy(old[i]);
        }
    for (size_t i = 0; i < n_next; i++) {
        struct net_link *l = next[i];
        if (net_link_listed(old, n_old, l))
            continue;
        uv_timer_init(n->loop, &l->timer);
        l->timer.data = l;
        n->handles++;
        tr_log(TR_LOG_INFO, "net.peer_added", "peer=%" PRIu64 " port=%u", l->id, (unsigned)l->port);
        net_link_dial(l);
    }
    tr_free(old);
    return TR_OK;
}

int net_send(struct net *n, uint64_t peer_id, const uint8_t *data, size_t len)
{
    if (n->closing)
        return TR_ECLOSED;
    if (len > n->frame_max_bytes)
        return TR_ELIMIT;
    struct net_link *l = net_link_find(n, peer_id);
    if (l == NULL)
        return TR_ENOTFOUND;
    if (len > n->send_queue_max_bytes || net_link_queued(l) > n->send_queue_max_bytes - len) {
        l->drops++;
        tr_log(TR_LOG_DEBUG, "net.frame_dropped", "peer=%" PRIu64 " len=%zu", peer_id, len);
        return TR_EBUSY;
    }
    if (l->out != NULL && l->out->state == CONN_OPEN && l->qhead == NULL) {
        int rc = net_conn_send_frame(l->out, data, len);
        return rc == TR_ECLOSED ? TR_OK : rc; /* lost with its link, as documented */
    }
    struct net_qframe *q = tr_malloc(sizeof *q + len);
    if (q == NULL)
        return TR_ENOMEM;
    q->next = NULL;
    q->len = len;
    if (len > 0)
        memcpy(q->data, data, len);
    if (l->qtail != NULL)
        l->qtail->next = q;
    else
        l->qhead = q;
    l->qtail = q;
    l->pending_bytes += len;
    return TR_OK;
}

int net_peer_stats(const struct net *n, uint64_t peer_id, struct net_peer_stats *out)
{
    const struct net_link *l = net_link_find(n, peer_id);
    if (l == NULL)
        return TR_ENOTFOUND;
    out->up = l->up;
    out->queued_bytes = net_link_queued(l);
    out->drops = l->drops;
    out->links_lost = l->links_lost;
    return TR_OK;
}

void net_close(struct net *n, void (*done)(void *), void *arg)
{
    TR_ASSERT(!n->closing);
    n->closing = 1;
    n->done = done;
    n->done_arg = arg;
    memset(&n->cb, 0, sizeof n->cb);
    for (size_t i = 0; i < n->n_links; i++)
        net_link_destroy(n->links[i]);
    n->n_links = 0;
    for (struct net_conn *c = n->conns; c != NULL; c = c->next)
        net_conn_close(c, "net closed", NULL);
    uv_close((uv_handle_t *)&n->listener, net_listener_closed);
}
