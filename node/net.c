/* net.c — node-to-node links of net.h: the configuration, the member list (one link per peer,
 * with its send queue and reconnect backoff) and the public calls. One conn is in net_conn.c.
 * Wire: every Noise message is prefixed by its 2-byte big-endian length (Noise rev 34 §3 caps it
 * at 65535); see net_conn.c for the handshake payloads and the frame layout.
 * Invariant: a peer's queued bytes (waiting + being written) never exceed send_queue_max_bytes. */
#include "node/net_int.h"

#include "common/alloc.h"
#include "common/err.h"
#include "common/log.h"

#include <arpa/inet.h>
#include <inttypes.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static void net_link_timer_fired(uv_timer_t *t);

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

void net__handle_closed(struct net *n)
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

static void net_own_handle_closed(uv_handle_t *h)
{
    net__handle_closed(h->data);
}

/* ---- links (one per member) ---- */

static struct net_link *net_link_find(const struct net *n, uint64_t id)
{
    for (size_t i = 0; i < n->n_links; i++)
        if (n->links[i]->id == id)
            return n->links[i];
    return NULL;
}

struct net_link *net__link_by_key(const struct net *n, const uint8_t pk[NOISE_KEY_LEN])
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
    net__handle_closed(n);
}

/* Ends every conn of `l` and frees it once its timer has closed. `l` must already be out of
 * n->links. */
static void net_link_destroy(struct net_link *l)
{
    struct net *n = l->net;
    l->removed = 1;
    for (struct net_conn *c = n->conns; c != NULL; c = c->next) {
        if (c->accepted == l)
            c->accepted = NULL;
        if (c->link == l)
            net__conn_close(c, "peer removed", NULL); /* detaches c from l */
    }
    net_link_queue_free(l);
    uv_close((uv_handle_t *)&l->timer, net_link_timer_closed);
}

/* Capped exponential backoff with jitter: the delay is drawn from [b/2, b], then b doubles up to
 * backoff_max_ms; it returns to backoff_min_ms once a link comes up. */
void net__link_schedule(struct net_link *l)
{
    struct net *n = l->net;
    if (n->closing || l->removed || uv_is_active((uv_handle_t *)&l->timer))
        return;
    uint64_t b = l->backoff_ms;
    uint64_t delay = tr_prng_range(&n->prng, b / 2, b);
    uint64_t next = b * 2;
    l->backoff_ms = (uint32_t)(next > n->backoff_max_ms ? n->backoff_max_ms : next);
    tr_log(TR_LOG_DEBUG, "net.reconnect_scheduled", "peer=%" PRIu64 " delay_ms=%" PRIu64, l->id,
           delay);
    uv_timer_start(&l->timer, net_link_timer_fired, delay, 0);
}

static void net_link_timer_fired(uv_timer_t *t)
{
    net__link_dial(t->data);
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
        rc = uv_listen((uv_stream_t *)&n->listener, 128, net__on_connection);
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
    n->handshake_timeout_ms =
        cfg->handshake_timeout_ms ? cfg->handshake_timeout_ms : NET_HANDSHAKE_TIMEOUT_MS;
    n->max_unidentified_inbound =
        cfg->max_unidentified_inbound ? cfg->max_unidentified_inbound : NET_PENDING_INBOUND_MAX;
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
        uv_close((uv_handle_t *)&n->listener, net_own_handle_closed);
        return rc;
    }
    uv_timer_init(loop, &n->sweep);
    n->sweep.data = n;
    n->handles++;
    uv_timer_start(&n->sweep, net__sweep, NET_SWEEP_MS, NET_SWEEP_MS);
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
        for (size_t j = 0; j < *n_next; j++) /* ids and keys each name one member */
            if (next[j]->id == p->id || memcmp(next[j]->ed_pk, p->ed_pk, 32) == 0)
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
        net__link_dial(l);
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
        int rc = net__conn_send_frame(l->out, data, len);
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
        net__conn_close(c, "net closed", NULL);
    uv_close((uv_handle_t *)&n->listener, net_own_handle_closed);
    uv_close((uv_handle_t *)&n->sweep, net_own_handle_closed);
}
