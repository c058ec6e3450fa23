/* net.h — node-to-node links: TCP on libuv, each link a Noise_XX_25519_ChaChaPoly_SHA256 session
 * (node/noise.h) whose peer must hold the static key of a current member (DESIGN.md §7).
 * Every node dials every peer (that outbound link carries this node's frames to the peer) and
 * accepts the peers' inbound links (which carry their frames here), so no tie-break is needed.
 * Invariant: a link that sees a forged, truncated, replayed, reordered or oversized message ends
 * at once and delivers nothing further; the dialing side then reconnects with capped backoff. */
#ifndef TREATY_NODE_NET_H
#define TREATY_NODE_NET_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

struct net; /* opaque; owns its uv handles and every queued frame */

/* Upper bound of net_config.frame_max_bytes (a frame and its Noise overhead fit one uv_buf_t). */
#define NET_FRAME_MAX_LIMIT (1u << 30)

/* One member to link with. `host` is a numeric IPv4 or IPv6 address (or "localhost"). */
struct net_peer {
    uint64_t id;
    uint8_t ed_pk[32];
    char host[256];
    uint16_t port;
};

struct net_config {
    uint64_t self_id;
    const char *listen_host; /* numeric address to listen on, borrowed for the call */
    uint16_t listen_port;    /* 0 = an ephemeral port (see net_listen_port) */
    const uint8_t *ed_sk;    /* 64 bytes (seed||pk), copied; the Noise static key derives from it */
    const uint8_t *network_id;     /* 32 bytes, copied; the prologue is "treaty/link/v1\0" || it */
    uint32_t frame_max_bytes;      /* largest application frame, 1..NET_FRAME_MAX_LIMIT */
    uint64_t send_queue_max_bytes; /* per peer: frame bytes queued or being written, > 0 */
    uint32_t backoff_min_ms, backoff_max_ms; /* reconnect delays, 0 < min <= max */
    uint64_t seed;                           /* seeds the reconnect jitter (common/prng.h) */
    /* A connection not through its handshake after this long is closed [0: 10000 ms]. */
    uint32_t handshake_timeout_ms;
    /* Inbound connections not yet identified as a member; one more is closed at once [0: 64]. */
    uint32_t max_unidentified_inbound;
};

/* Callbacks run on the loop thread. They may call net_send, net_peers_set and net_close.
 * on_peer(.., 0) can also run inside net_send, when writing to the socket fails at once. */
struct net_callbacks {
    void *ctx;
    /* A whole frame from member `peer_id`; `data` is borrowed for the call only. */
    void (*on_frame)(void *ctx, uint64_t peer_id, const uint8_t *data, size_t len);
    /* The outbound link to `peer_id` came up (handshake done and confirmed by the peer: up = 1)
     * or was lost (up = 0). Not called for peers dropped by net_peers_set nor during net_close. */
    void (*on_peer)(void *ctx, uint64_t peer_id, int up);
};

/* Counters of one peer, for metrics and tests. */
struct net_peer_stats {
    int up;                /* the outbound link is established */
    uint64_t queued_bytes; /* frame bytes waiting or being written, bounded by the config */
    uint64_t drops;        /* frames refused with TR_EBUSY */
    uint64_t links_lost;   /* outbound links that ended after coming up */
};

/* Creates the net and starts listening on cfg->listen_host:listen_port. No peers yet (see
 * net_peers_set). On TR_OK *out is owned by the caller until net_close. Returns TR_EINVAL for a
 * bad config, TR_ECRYPTO for an unusable key, TR_EIO when the address cannot be bound (err says
 * which and why), TR_ENOMEM. err gets a one-line message on failure. After TR_EIO the listener
 * handle is already closing: run the loop once more so it is released. */
int net_create(uv_loop_t *loop, const struct net_config *cfg, const struct net_callbacks *cb,
               struct net **out, char *err, size_t errlen);

/* The port the listener is bound to (the ephemeral one when listen_port was 0). */
uint16_t net_listen_port(const struct net *n);

/* Replaces the member list (copied). An entry with id == self_id is ignored, so the full
 * membership may be passed. A peer whose id, key or address changed counts as dropped and added.
 * Links of dropped peers close and their queued frames are freed; new peers are dialed at once.
 * Returns TR_OK; TR_EINVAL for a duplicate id or key, an invalid key or a non-numeric host;
 * TR_ENOMEM; TR_ECLOSED after net_close. Nothing changes when it fails. */
int net_peers_set(struct net *n, const struct net_peer *peers, size_t count);

/* Queues a copy of frame `data` for `peer_id`. Frames queued while the outbound link is down are
 * kept (within the queue bound) and sent once it comes up; frames already handed to a link that
 * then dies are lost (Raft retransmits). Returns TR_OK; TR_ELIMIT when len > frame_max_bytes;
 * TR_EBUSY when the peer's queue would exceed send_queue_max_bytes (the frame is dropped and
 * counted); TR_ENOTFOUND for an unknown peer; TR_ECLOSED after net_close; TR_ENOMEM. */
int net_send(struct net *n, uint64_t peer_id, const uint8_t *data, size_t len);

/* Counters of `peer_id`: TR_OK or TR_ENOTFOUND. */
int net_peer_stats(const struct net *n, uint64_t peer_id, struct net_peer_stats *out);

/* Closes every link, timer and the listener, frees queued frames, then frees the net and calls
 * done(arg) once every uv handle has closed (done may be NULL). No callback runs after this. */
void net_close(struct net *n, void (*done)(void *), void *arg);

#endif
