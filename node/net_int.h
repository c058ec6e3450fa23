/* net_int.h — internals shared by net.c (config, members, queues, the public API) and net_conn.c
 * (one TCP conn: Noise handshake, framing, reads and writes). Not for other modules.
 * Invariant: a conn points at its link only while it belongs to it; closing detaches it. */
#ifndef TREATY_NODE_NET_INT_H
#define TREATY_NODE_NET_INT_H

#include "node/net.h"
#include "node/noise.h"

#include "common/prng.h"

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#define NET_PROLOGUE_TAG     "treaty/link/v1" /* the NUL that ends it is part of the prologue */
#define NET_PROLOGUE_TAG_LEN (sizeof NET_PROLOGUE_TAG)
#define NET_PROLOGUE_LEN     (NET_PROLOGUE_TAG_LEN + 32u)
#define NET_LEN_BYTES        2u /* length prefix of a Noise message on the stream */
#define NET_FRAME_HDR        4u /* total length in front of an application frame */
#define NET_RBUF_CAP         (NET_LEN_BYTES + NOISE_MAX_MSG_LEN)
#define NET_ID_BYTES         8u
#define NET_HS_MSG_CAP       256u /* an XX message with an id payload is at most 2+96 bytes */
/* Default of net_config.handshake_timeout_ms: a conn still connecting or in its handshake after
 * this long is closed (checked by the sweep timer every NET_SWEEP_MS), so a silent socket cannot
 * hold a slot forever. */
#define NET_HANDSHAKE_TIMEOUT_MS 10000u
#define NET_SWEEP_MS             1000u
/* Default of net_config.max_unidentified_inbound: inbound conns not yet identified as a member;
 * one more is closed as soon as accepted. */
#define NET_PENDING_INBOUND_MAX 64u

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
    uint64_t started_ms;     /* uv_now when the conn was made, for the handshake timeout */
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
    int removed; /* dropped by net_peers_set or net_close: no reconnect, no callback */
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
    uv_timer_t sweep;   /* handshake timeouts and accept retries */
    int accept_stalled; /* a pending connection could not get a conn (out of memory) */
    uint64_t self_id;
    struct noise_keypair key;
    uint8_t prologue[NET_PROLOGUE_LEN];
    uint32_t frame_max_bytes;
    uint64_t send_queue_max_bytes;
    uint32_t backoff_min_ms, backoff_max_ms;
    uint32_t handshake_timeout_ms, max_unidentified_inbound;
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

static inline void net__put_be(uint8_t *p, uint64_t v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)(v >> (8 * (n - 1 - i)));
}

static inline uint64_t net__get_be(const uint8_t *p, size_t n)
{
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++)
        v = (v << 8) | p[i];
    return v;
}

/* net.c */
/* A uv handle of `n` finished closing; the last one during net_close frees `n`. */
void net__handle_closed(struct net *n);
struct net_link *net__link_by_key(const struct net *n, const uint8_t pk[NOISE_KEY_LEN]);
/* Arms the reconnect timer of `l` with the next backoff delay (no-op when armed or closing). */
void net__link_schedule(struct net_link *l);

/* net_conn.c */
/* Dials `l` now unless it has an outbound conn; failures schedule a retry. */
void net__link_dial(struct net_link *l);
/* The listener's connection callback: accepts and starts a responder handshake. */
void net__on_connection(uv_stream_t *server, int status);
/* Ends conn `c` (see net_conn.c); `code` names the error, NULL for an orderly close. */
void net__conn_close(struct net_conn *c, const char *why, const char *code);
/* Closes conns whose handshake ran past NET_HANDSHAKE_TIMEOUT_MS; retries a stalled accept. */
void net__sweep(uv_timer_t *t);
/* Encrypts and writes one frame on an open conn. TR_OK, TR_ENOMEM, TR_ECLOSED (conn died). */
int net__conn_send_frame(struct net_conn *c, const uint8_t *data, size_t len);

#endif
