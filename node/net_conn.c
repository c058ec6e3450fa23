/* net_conn.c — one link's TCP conn: the Noise XX handshake (node/noise.h), then transport
 * messages. The initiator's third handshake message carries its 8-byte node id; the responder
 * answers with one transport message holding its own id, and only then the initiator calls the
 * link up (so a refused initiator never reports up). Application frames follow, outbound
 * direction only: the first message of a frame starts with its 4-byte big-endian length, the
 * bytes continue over as many messages as needed (Noise rev 34 §3: at most 65535 per message).
 * Invariant: a conn that saw any fault is closed at once and never processes another byte. */
#include "node/net_int.h"

#include "common/alloc.h"
#include "common/err.h"
#include "common/log.h"

#include <inttypes.h>
#include <sodium.h>
#include <string.h>

/* ---- writing ---- */

static void net_write_done(uv_write_t *req, int status)
{
    struct net_write *w = (struct net_write *)req;
    struct net_conn *c = w->conn;
    c->inflight_bytes -= w->frame_bytes;
    tr_free(w);
    if (status < 0 && c->state != CONN_CLOSED)
        net__conn_close(c, "write failed", uv_err_name(status));
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
        net__conn_close(c, "write failed", uv_err_name(rc));
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
    net__put_be(out, mlen, NET_LEN_BYTES);
    return NET_LEN_BYTES + mlen;
}

/* Encrypts frame `data` over as many transport messages as it needs and writes them. */
int net__conn_send_frame(struct net_conn *c, const uint8_t *data, size_t len)
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
            net__put_be(n->plain_out, len, NET_FRAME_HDR);
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
    struct net_write *w = net_write_new(c, NET_HS_MSG_CAP, 0);
    if (w == NULL)
        return TR_ENOMEM;
    size_t mlen = 0;
    int rc = noise_handshake_write_message(c->hs, payload, len, w->buf + NET_LEN_BYTES,
                                           NET_HS_MSG_CAP - NET_LEN_BYTES, &mlen);
    if (rc != TR_OK) {
        tr_free(w);
        return rc;
    }
    net__put_be(w->buf, mlen, NET_LEN_BYTES);
    w->len = NET_LEN_BYTES + mlen;
    return net_write_submit(c, w);
}

static int net_conn_send_id(struct net_conn *c)
{
    struct net_write *w = net_write_new(c, NET_LEN_BYTES + NET_ID_BYTES + NOISE_TAG_LEN, 0);
    if (w == NULL)
        return TR_ENOMEM;
    uint8_t id[NET_ID_BYTES];
    net__put_be(id, c->net->self_id, NET_ID_BYTES);
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
        int rc = net__conn_send_frame(l->out, q->data, q->len);
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
    net__handle_closed(n);
}

/* Ends conn `c`: wipes its Noise state, detaches it from its link (reporting the outbound link
 * down and scheduling a reconnect) and closes the socket. Safe to call twice. */
void net__conn_close(struct net_conn *c, const char *why, const char *code)
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
        if (!n->closing && !l->removed) {
            net__link_schedule(l);
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
    c->started_ms = uv_now(n->loop);
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
    c->accepted = net__link_by_key(c->net, pk);
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
    if (l == NULL || len != NET_ID_BYTES || net__get_be(payload, NET_ID_BYTES) != l->id)
        return TR_EDENIED;
    int rc = net_conn_split(c);
    if (rc != TR_OK)
        return rc;
    for (struct net_conn *o = c->net->conns; o != NULL; o = o->next)
        if (o != c && !o->initiator && o->link == l)
            net__conn_close(o, "replaced by a new inbound link", NULL);
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
    net__put_be(id, c->net->self_id, NET_ID_BYTES);
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
    if (len != NET_ID_BYTES || net__get_be(p, NET_ID_BYTES) != l->id)
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
        uint64_t total = net__get_be(p, NET_FRAME_HDR);
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
        net__conn_close(c, nread == UV_EOF ? "peer closed" : "read failed",
                        nread == UV_EOF ? NULL : uv_err_name((int)nread));
        return;
    }
    c->rlen += (size_t)nread;
    size_t off = 0;
    while (c->rlen - off >= NET_LEN_BYTES) {
        size_t mlen = (size_t)net__get_be(c->rbuf + off, NET_LEN_BYTES);
        if (c->rlen - off < NET_LEN_BYTES + mlen)
            break;
        int rc = net_conn_on_message(c, c->rbuf + off + NET_LEN_BYTES, mlen);
        if (rc != TR_OK)
            net__conn_close(c, "bad message", tr_err_name(rc));
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
        net__conn_close(c, "connect failed", uv_err_name(status));
        return;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    int rc = net_conn_start_handshake(c);
    if (rc == TR_OK)
        rc = net_conn_start_reading(c);
    if (rc == TR_OK)
        rc = net_conn_send_handshake(c, NULL, 0);
    if (rc != TR_OK)
        net__conn_close(c, "handshake start failed", tr_err_name(rc));
}

void net__link_dial(struct net_link *l)
{
    struct net *n = l->net;
    if (n->closing || l->out != NULL)
        return;
    struct net_conn *c = net_conn_new(n, 1);
    if (c == NULL) {
        net__link_schedule(l);
        return;
    }
    c->link = l;
    l->out = c;
    c->state = CONN_CONNECTING;
    c->connect.data = c;
    int rc =
        uv_tcp_connect(&c->connect, &c->tcp, (const struct sockaddr *)&l->addr, net_conn_connected);
    if (rc < 0)
        net__conn_close(c, "connect failed", uv_err_name(rc));
}

/* Inbound conns (this one included) that have not yet proven a member's key. */
static size_t net_pending_inbound(const struct net *n)
{
    size_t k = 0;
    for (const struct net_conn *c = n->conns; c != NULL; c = c->next)
        if (!c->initiator && c->link == NULL && c->state != CONN_CLOSED)
            k++;
    return k;
}

void net__sweep(uv_timer_t *t)
{
    struct net *n = t->data;
    uint64_t now = uv_now(n->loop);
    for (struct net_conn *c = n->conns; c != NULL; c = c->next)
        if (c->state != CONN_OPEN && c->state != CONN_CLOSED &&
            now - c->started_ms >= n->handshake_timeout_ms)
            net__conn_close(c, "handshake timed out", tr_err_name(TR_ETIMEOUT));
    if (n->accept_stalled)
        net__on_connection((uv_stream_t *)&n->listener, 0);
}

void net__on_connection(uv_stream_t *server, int status)
{
    struct net *n = server->data;
    if (n->closing)
        return;
    if (status < 0) {
        tr_log(TR_LOG_WARN, "net.accept_failed", "code=%s", uv_err_name(status));
        return;
    }
    struct net_conn *c = net_conn_new(n, 0);
    if (c == NULL) {
        /* libuv offers no further connection until this one is accepted: the sweep retries. */
        tr_log(TR_LOG_WARN, "net.accept_failed", "code=TR_ENOMEM");
        n->accept_stalled = 1;
        return;
    }
    n->accept_stalled = 0;
    int rc = uv_accept(server, (uv_stream_t *)&c->tcp) < 0 ? TR_EIO : TR_OK;
    if (rc == TR_OK && net_pending_inbound(n) > n->max_unidentified_inbound) {
        net__conn_close(c, "too many unidentified inbound conns", tr_err_name(TR_EBUSY));
        return;
    }
    if (rc == TR_OK)
        rc = net_conn_start_handshake(c);
    if (rc == TR_OK)
        rc = net_conn_start_reading(c);
    if (rc != TR_OK)
        net__conn_close(c, "accept failed", tr_err_name(rc));
}
