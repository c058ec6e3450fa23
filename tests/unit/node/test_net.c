/* test_net.c — node links over real loopback TCP (127.0.0.1, ephemeral ports): frames both ways
 * among three nets on one loop (one frame over 65535 bytes), the frame limit at its edge, unknown
 * keys and removed members refused, the send-queue bound, reconnect after a restart, and a raw
 * client that runs the XX handshake with node/noise.h and then sends tampered, truncated,
 * replayed, reordered and oversized messages. Every wait is bounded by a loop deadline. */
#include "node/net.h"

#include "common/err.h"
#include "common/log.h"
#include "node/noise.h"

#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

Suite *suite_net(void);

#define WAIT_MS   5000u
#define MAX_RECV  64
#define MAX_PEERS 4

struct frame_rec {
    uint64_t from;
    uint8_t *data;
    size_t len;
};

struct tnode {
    uint64_t id;
    uint8_t sk[64], pk[32];
    uint16_t port;
    struct net *net;
    struct frame_rec recv[MAX_RECV];
    size_t n_recv;
    int up[MAX_PEERS + 1]; /* indexed by peer id (ids are 1..MAX_PEERS) */
    int ups, downs;
    int closed;
    int close_on_frame; /* on_frame calls net_close (re-entrancy) */
};

static uint8_t network_id[32];
static uv_loop_t loop;

/* ---- log capture: counts lines that contain a needle ---- */

static char log_needle[64];
static int log_hits;

static void log_capture(void *ctx, enum tr_log_level level, const char *line, size_t len)
{
    (void)ctx;
    (void)level;
    (void)len;
    if (log_needle[0] != '\0' && strstr(line, log_needle) != NULL)
        log_hits++;
}

static void log_watch(const char *needle)
{
    static const struct tr_log_sink sink = {log_capture, NULL};
    snprintf(log_needle, sizeof log_needle, "%s", needle);
    log_hits = 0;
    tr_log_set_sink(&sink);
}

/* ---- loop helpers ---- */

static void deadline_fired(uv_timer_t *t)
{
    *(int *)t->data = 1;
}

/* Runs the loop until pred(ctx) holds; fails the test after ms milliseconds. */
static void run_until(int (*pred)(void *), void *ctx, unsigned ms, const char *what)
{
    int expired = 0;
    uv_timer_t t;
    uv_timer_init(&loop, &t);
    t.data = &expired;
    uv_timer_start(&t, deadline_fired, ms, 0);
    while (!pred(ctx) && !expired)
        uv_run(&loop, UV_RUN_ONCE);
    int ok = pred(ctx);
    uv_close((uv_handle_t *)&t, NULL);
    uv_run(&loop, UV_RUN_NOWAIT);
    ck_assert_msg(ok, "timed out waiting for %s", what);
}

/* Runs the loop for ms milliseconds (to show that something does NOT happen). */
static void run_for(unsigned ms)
{
    int expired = 0;
    uv_timer_t t;
    uv_timer_init(&loop, &t);
    t.data = &expired;
    uv_timer_start(&t, deadline_fired, ms, 0);
    while (!expired)
        uv_run(&loop, UV_RUN_ONCE);
    uv_close((uv_handle_t *)&t, NULL);
    uv_run(&loop, UV_RUN_NOWAIT);
}

/* ---- nets under test ---- */

static void closed_cb(void *arg);

static void on_frame(void *ctx, uint64_t peer_id, const uint8_t *data, size_t len)
{
    struct tnode *t = ctx;
    ck_assert_uint_lt(t->n_recv, MAX_RECV);
    struct frame_rec *r = &t->recv[t->n_recv++];
    r->from = peer_id;
    r->len = len;
    r->data = malloc(len > 0 ? len : 1);
    ck_assert_ptr_nonnull(r->data);
    if (len > 0)
        memcpy(r->data, data, len);
    if (t->close_on_frame) {
        net_close(t->net, closed_cb, t);
        t->net = NULL;
    }
}

static void on_peer(void *ctx, uint64_t peer_id, int up)
{
    struct tnode *t = ctx;
    ck_assert_uint_ge(peer_id, 1);
    ck_assert_uint_le(peer_id, MAX_PEERS);
    ck_assert_int_ne(t->up[peer_id], up); /* strictly alternating up/down */
    t->up[peer_id] = up;
    if (up)
        t->ups++;
    else
        t->downs++;
}

static void tnode_keys(struct tnode *t, uint64_t id)
{
    memset(t, 0, sizeof *t);
    t->id = id;
    crypto_sign_keypair(t->pk, t->sk);
}

static struct net_config base_cfg(const struct tnode *t, uint16_t port)
{
    struct net_config c = {
        .self_id = t->id,
        .listen_host = "127.0.0.1",
        .listen_port = port,
        .ed_sk = t->sk,
        .network_id = network_id,
        .frame_max_bytes = 1u << 20,
        .send_queue_max_bytes = 8u << 20,
        .backoff_min_ms = 10,
        .backoff_max_ms = 80,
        .seed = t->id,
    };
    return c;
}

static void tnode_start_cfg(struct tnode *t, const struct net_config *cfg)
{
    struct net_callbacks cb = {.ctx = t, .on_frame = on_frame, .on_peer = on_peer};
    char err[256] = "";
    int rc = net_create(&loop, cfg, &cb, &t->net, err, sizeof err);
    ck_assert_msg(rc == TR_OK, "net_create: %s (%s)", err, tr_err_name(rc));
    t->port = net_listen_port(t->net);
    ck_assert_uint_ne(t->port, 0);
    t->closed = 0;
}

static void tnode_start(struct tnode *t, uint16_t port)
{
    struct net_config cfg = base_cfg(t, port);
    tnode_start_cfg(t, &cfg);
}

static struct net_peer peer_of(const struct tnode *t)
{
    struct net_peer p;
    memset(&p, 0, sizeof p);
    p.id = t->id;
    memcpy(p.ed_pk, t->pk, 32);
    snprintf(p.host, sizeof p.host, "127.0.0.1");
    p.port = t->port;
    return p;
}

static void closed_cb(void *arg)
{
    ((struct tnode *)arg)->closed = 1;
}

static int is_closed(void *ctx)
{
    return ((struct tnode *)ctx)->closed;
}

static void tnode_stop(struct tnode *t)
{
    if (t->net == NULL)
        return;
    net_close(t->net, closed_cb, t);
    t->net = NULL;
    run_until(is_closed, t, WAIT_MS, "net_close done");
}

static void tnode_free_frames(struct tnode *t)
{
    for (size_t i = 0; i < t->n_recv; i++)
        free(t->recv[i].data);
    t->n_recv = 0;
}

static void loop_begin(void)
{
    randombytes_buf(network_id, sizeof network_id);
    ck_assert_int_eq(uv_loop_init(&loop), 0);
}

/* Closes the nets, then checks that net_close left no handle behind. */
static void loop_end(struct tnode *nodes, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        tnode_stop(&nodes[i]);
        tnode_free_frames(&nodes[i]);
    }
    uv_run(&loop, UV_RUN_NOWAIT);
    ck_assert_int_eq(uv_loop_close(&loop), 0);
    tr_log_set_sink(NULL);
}

struct up_wait {
    struct tnode *t;
    uint64_t peer;
};

static int is_up(void *ctx)
{
    struct up_wait *w = ctx;
    return w->t->up[w->peer];
}

static int is_down(void *ctx)
{
    struct up_wait *w = ctx;
    return !w->t->up[w->peer];
}

static void wait_up(struct tnode *t, uint64_t peer)
{
    struct up_wait w = {t, peer};
    run_until(is_up, &w, WAIT_MS, "link up");
}

struct recv_wait {
    struct tnode *t;
    size_t n;
};

static int has_frames(void *ctx)
{
    struct recv_wait *w = ctx;
    return w->t->n_recv >= w->n;
}

static void wait_frames(struct tnode *t, size_t n)
{
    struct recv_wait w = {t, n};
    run_until(has_frames, &w, WAIT_MS, "frames");
}

static void fill(uint8_t *b, size_t len, unsigned salt)
{
    for (size_t i = 0; i < len; i++)
        b[i] = (uint8_t)(i * 31u + salt + (i >> 8));
}

static void check_frame(const struct frame_rec *r, uint64_t from, size_t len, unsigned salt)
{
    ck_assert_uint_eq(r->from, from);
    ck_assert_uint_eq(r->len, len);
    uint8_t *want = malloc(len > 0 ? len : 1);
    fill(want, len, salt);
    ck_assert_int_eq(memcmp(r->data, want, len), 0);
    free(want);
}

static int send_filled(struct tnode *t, uint64_t to, size_t len, unsigned salt)
{
    uint8_t *b = malloc(len > 0 ? len : 1);
    fill(b, len, salt);
    int rc = net_send(t->net, to, b, len);
    free(b);
    return rc;
}

/* Starts nodes[0..n) on ephemeral ports, gives each all the others as peers. */
static void mesh_start(struct tnode *nodes, size_t n)
{
    for (size_t i = 0; i < n; i++)
        tnode_start(&nodes[i], 0);
    struct net_peer peers[MAX_PEERS];
    for (size_t i = 0; i < n; i++)
        peers[i] = peer_of(&nodes[i]);
    for (size_t i = 0; i < n; i++)
        ck_assert_int_eq(net_peers_set(nodes[i].net, peers, n), TR_OK); /* self is skipped */
}

/* ---- tests ---- */

START_TEST(test_three_nets_exchange)
{
    loop_begin();
    struct tnode nodes[3];
    for (uint64_t i = 0; i < 3; i++)
        tnode_keys(&nodes[i], i + 1);
    mesh_start(nodes, 3);
    for (size_t i = 0; i < 3; i++)
        for (uint64_t p = 1; p <= 3; p++)
            if (p != nodes[i].id)
                wait_up(&nodes[i], p);
    /* A -> B: small, empty, a 100000-byte frame spanning two Noise messages, small again. */
    ck_assert_int_eq(send_filled(&nodes[0], 2, 10, 1), TR_OK);
    ck_assert_int_eq(send_filled(&nodes[0], 2, 0, 2), TR_OK);
    ck_assert_int_eq(send_filled(&nodes[0], 2, 100000, 3), TR_OK);
    ck_assert_int_eq(send_filled(&nodes[0], 2, 65515, 4), TR_OK); /* exactly one full message */
    ck_assert_int_eq(send_filled(&nodes[0], 2, 7, 5), TR_OK);
    /* B -> A and C -> A. */
    ck_assert_int_eq(send_filled(&nodes[1], 1, 70000, 6), TR_OK);
    ck_assert_int_eq(send_filled(&nodes[2], 1, 3, 7), TR_OK);
    wait_frames(&nodes[1], 5);
    wait_frames(&nodes[0], 2);
    check_frame(&nodes[1].recv[0], 1, 10, 1);
    check_frame(&nodes[1].recv[1], 1, 0, 2);
    check_frame(&nodes[1].recv[2], 1, 100000, 3);
    check_frame(&nodes[1].recv[3], 1, 65515, 4);
    check_frame(&nodes[1].recv[4], 1, 7, 5);
    int b_first = nodes[0].recv[0].from == 2;
    check_frame(&nodes[0].recv[b_first ? 0 : 1], 2, 70000, 6);
    check_frame(&nodes[0].recv[b_first ? 1 : 0], 3, 3, 7);
    ck_assert_uint_eq(nodes[2].n_recv, 0);
    struct net_peer_stats st;
    ck_assert_int_eq(net_peer_stats(nodes[0].net, 2, &st), TR_OK);
    ck_assert_int_eq(st.up, 1);
    ck_assert_uint_eq(st.drops, 0);
    ck_assert_int_eq(net_peer_stats(nodes[0].net, 9, &st), TR_ENOTFOUND);
    ck_assert_int_eq(net_send(nodes[0].net, 9, (const uint8_t *)"x", 1), TR_ENOTFOUND);
    loop_end(nodes, 3);
}
END_TEST

START_TEST(test_frame_limit_edge)
{
    loop_begin();
    struct tnode nodes[2];
    tnode_keys(&nodes[0], 1);
    tnode_keys(&nodes[1], 2);
    for (size_t i = 0; i < 2; i++) {
        struct net_config cfg = base_cfg(&nodes[i], 0);
        cfg.frame_max_bytes = 70000;
        tnode_start_cfg(&nodes[i], &cfg);
    }
    struct net_peer peers[2] = {peer_of(&nodes[0]), peer_of(&nodes[1])};
    ck_assert_int_eq(net_peers_set(nodes[0].net, peers, 2), TR_OK);
    ck_assert_int_eq(net_peers_set(nodes[1].net, peers, 2), TR_OK);
    wait_up(&nodes[0], 2);
    ck_assert_int_eq(send_filled(&nodes[0], 2, 70001, 1), TR_ELIMIT);
    ck_assert_int_eq(send_filled(&nodes[0], 2, 70000, 2), TR_OK);
    wait_frames(&nodes[1], 1);
    check_frame(&nodes[1].recv[0], 1, 70000, 2);
    struct net_peer_stats st;
    ck_assert_int_eq(net_peer_stats(nodes[0].net, 2, &st), TR_OK);
    ck_assert_uint_eq(st.drops, 0); /* over the limit is refused, not counted as a drop */
    loop_end(nodes, 2);
}
END_TEST

START_TEST(test_unknown_key_refused)
{
    loop_begin();
    log_watch("code=TR_EDENIED");
    struct tnode nodes[3]; /* A knows B; C is unknown to A but lists A */
    for (uint64_t i = 0; i < 3; i++) {
        tnode_keys(&nodes[i], i + 1);
        tnode_start(&nodes[i], 0);
    }
    struct net_peer ab[2] = {peer_of(&nodes[0]), peer_of(&nodes[1])};
    ck_assert_int_eq(net_peers_set(nodes[0].net, ab, 2), TR_OK);
    ck_assert_int_eq(net_peers_set(nodes[1].net, ab, 2), TR_OK);
    struct net_peer a = peer_of(&nodes[0]);
    /* C claims A's id for nothing: it dials A with its own key and id 3. */
    ck_assert_int_eq(net_peers_set(nodes[2].net, &a, 1), TR_OK);
    ck_assert_int_eq(send_filled(&nodes[2], 1, 5, 1), TR_OK); /* queued while down */
    wait_up(&nodes[0], 2);
    run_for(300);
    ck_assert_int_ge(log_hits, 2); /* A refused C's key, more than once (C retries) */
    ck_assert_int_eq(nodes[2].up[1], 0);
    ck_assert_int_eq(nodes[2].ups, 0);
    ck_assert_uint_eq(nodes[0].n_recv, 0);
    struct net_peer_stats st;
    ck_assert_int_eq(net_peer_stats(nodes[2].net, 1, &st), TR_OK);
    ck_assert_uint_eq(st.queued_bytes, 5);
    loop_end(nodes, 3);
}
END_TEST

START_TEST(test_wrong_network_refused)
{
    loop_begin();
    struct tnode nodes[2];
    tnode_keys(&nodes[0], 1);
    tnode_keys(&nodes[1], 2);
    tnode_start(&nodes[0], 0);
    uint8_t other[32];
    memcpy(other, network_id, 32);
    other[31] ^= 1;
    struct net_config cfg = base_cfg(&nodes[1], 0);
    cfg.network_id = other;
    tnode_start_cfg(&nodes[1], &cfg);
    struct net_peer peers[2] = {peer_of(&nodes[0]), peer_of(&nodes[1])};
    ck_assert_int_eq(net_peers_set(nodes[0].net, peers, 2), TR_OK);
    ck_assert_int_eq(net_peers_set(nodes[1].net, peers, 2), TR_OK);
    run_for(300);
    ck_assert_int_eq(nodes[0].ups + nodes[1].ups, 0);
    loop_end(nodes, 2);
}
END_TEST

START_TEST(test_removed_peer_disconnected)
{
    loop_begin();
    struct tnode nodes[2];
    tnode_keys(&nodes[0], 1);
    tnode_keys(&nodes[1], 2);
    mesh_start(nodes, 2);
    wait_up(&nodes[0], 2);
    wait_up(&nodes[1], 1);
    ck_assert_int_eq(send_filled(&nodes[1], 1, 4, 1), TR_OK);
    wait_frames(&nodes[0], 1);
    /* A drops B: A's links to B close, B sees its outbound link go down and is refused after. */
    struct net_peer a = peer_of(&nodes[0]);
    ck_assert_int_eq(net_peers_set(nodes[0].net, &a, 1), TR_OK);
    struct net_peer_stats st;
    ck_assert_int_eq(net_peer_stats(nodes[0].net, 2, &st), TR_ENOTFOUND);
    ck_assert_int_eq(net_send(nodes[0].net, 2, (const uint8_t *)"x", 1), TR_ENOTFOUND);
    struct up_wait w = {&nodes[1], 1};
    run_until(is_down, &w, WAIT_MS, "B's link to A down");
    ck_assert_int_eq(send_filled(&nodes[1], 1, 4, 2), TR_OK);
    run_for(300);
    ck_assert_int_eq(nodes[1].up[1], 0);
    ck_assert_int_eq(nodes[1].ups, 1);
    ck_assert_uint_eq(nodes[0].n_recv, 1);
    ck_assert_int_eq(nodes[0].downs, 0); /* no callback for a peer the caller dropped */
    nodes[0].up[2] = 0;
    /* Adding B back restores both directions. */
    struct net_peer peers[2] = {peer_of(&nodes[0]), peer_of(&nodes[1])};
    ck_assert_int_eq(net_peers_set(nodes[0].net, peers, 2), TR_OK);
    wait_up(&nodes[1], 1);
    wait_frames(&nodes[0], 2);
    check_frame(&nodes[0].recv[1], 2, 4, 2);
    loop_end(nodes, 2);
}
END_TEST

static int queue_empty(void *ctx)
{
    struct tnode *t = ctx;
    struct net_peer_stats st;
    ck_assert_int_eq(net_peer_stats(t->net, 2, &st), TR_OK);
    return st.queued_bytes == 0;
}

START_TEST(test_send_queue_bound)
{
    loop_begin();
    struct tnode nodes[2];
    tnode_keys(&nodes[0], 1);
    tnode_keys(&nodes[1], 2);
    struct net_config cfg = base_cfg(&nodes[0], 0);
    cfg.send_queue_max_bytes = 100;
    tnode_start_cfg(&nodes[0], &cfg);
    tnode_start(&nodes[1], 0);
    uint16_t b_port = nodes[1].port;
    tnode_stop(&nodes[1]); /* B is down: A queues */
    nodes[1].port = b_port;
    struct net_peer peers[2] = {peer_of(&nodes[0]), peer_of(&nodes[1])};
    ck_assert_int_eq(net_peers_set(nodes[0].net, peers, 2), TR_OK);
    ck_assert_int_eq(send_filled(&nodes[0], 2, 60, 1), TR_OK);
    ck_assert_int_eq(send_filled(&nodes[0], 2, 40, 2), TR_OK); /* exactly at the bound */
    ck_assert_int_eq(send_filled(&nodes[0], 2, 1, 3), TR_EBUSY);
    ck_assert_int_eq(send_filled(&nodes[0], 2, 101, 4), TR_EBUSY);
    struct net_peer_stats st;
    ck_assert_int_eq(net_peer_stats(nodes[0].net, 2, &st), TR_OK);
    ck_assert_uint_eq(st.queued_bytes, 100);
    ck_assert_uint_eq(st.drops, 2);
    run_for(100); /* A's dials are refused meanwhile */
    /* B comes back on its port: the kept frames flow, in order. */
    tnode_start(&nodes[1], b_port);
    ck_assert_int_eq(net_peers_set(nodes[1].net, peers, 2), TR_OK);
    wait_frames(&nodes[1], 2);
    check_frame(&nodes[1].recv[0], 1, 60, 1);
    check_frame(&nodes[1].recv[1], 1, 40, 2);
    run_until(queue_empty, &nodes[0], WAIT_MS, "writes completed");
    /* With the link up, bytes handed to uv_write count until written: the bound still holds
     * within one loop turn. */
    ck_assert_int_eq(send_filled(&nodes[0], 2, 70, 5), TR_OK);
    ck_assert_int_eq(send_filled(&nodes[0], 2, 31, 6), TR_EBUSY);
    ck_assert_int_eq(send_filled(&nodes[0], 2, 30, 7), TR_OK);
    wait_frames(&nodes[1], 4);
    check_frame(&nodes[1].recv[3], 1, 30, 7);
    ck_assert_int_eq(net_peer_stats(nodes[0].net, 2, &st), TR_OK);
    ck_assert_uint_eq(st.drops, 3);
    ck_assert_uint_eq(st.queued_bytes, 0);
    loop_end(nodes, 2);
}
END_TEST

START_TEST(test_reconnect_after_restart)
{
    loop_begin();
    struct tnode nodes[2];
    tnode_keys(&nodes[0], 1);
    tnode_keys(&nodes[1], 2);
    mesh_start(nodes, 2);
    wait_up(&nodes[0], 2);
    uint16_t b_port = nodes[1].port;
    tnode_stop(&nodes[1]);
    struct up_wait w = {&nodes[0], 2};
    run_until(is_down, &w, WAIT_MS, "A's link to B down");
    struct net_peer_stats st;
    ck_assert_int_eq(net_peer_stats(nodes[0].net, 2, &st), TR_OK);
    ck_assert_uint_eq(st.links_lost, 1);
    run_for(200); /* several refused dials, backoff capped at 80 ms */
    memset(nodes[1].up, 0, sizeof nodes[1].up);
    tnode_start(&nodes[1], b_port);
    struct net_peer peers[2] = {peer_of(&nodes[0]), peer_of(&nodes[1])};
    ck_assert_int_eq(net_peers_set(nodes[1].net, peers, 2), TR_OK);
    wait_up(&nodes[0], 2);
    ck_assert_int_eq(nodes[0].ups, 2);
    ck_assert_int_eq(send_filled(&nodes[0], 2, 9, 1), TR_OK);
    wait_frames(&nodes[1], 1);
    check_frame(&nodes[1].recv[0], 1, 9, 1);
    loop_end(nodes, 2);
}
END_TEST

/* on_frame may close the net: the rest of that read (two frames in one segment) is dropped. */
START_TEST(test_close_inside_callback)
{
    loop_begin();
    struct tnode nodes[2];
    tnode_keys(&nodes[0], 1);
    tnode_keys(&nodes[1], 2);
    mesh_start(nodes, 2);
    wait_up(&nodes[0], 2);
    nodes[1].close_on_frame = 1;
    ck_assert_int_eq(send_filled(&nodes[0], 2, 5, 1), TR_OK);
    ck_assert_int_eq(send_filled(&nodes[0], 2, 6, 2), TR_OK);
    run_until(is_closed, &nodes[1], WAIT_MS, "B closed from its callback");
    ck_assert_uint_eq(nodes[1].n_recv, 1);
    check_frame(&nodes[1].recv[0], 1, 5, 1);
    struct up_wait w = {&nodes[0], 2};
    run_until(is_down, &w, WAIT_MS, "A's link to B down");
    loop_end(nodes, 2);
}
END_TEST

START_TEST(test_bad_config)
{
    loop_begin();
    struct tnode t;
    tnode_keys(&t, 1);
    struct net_callbacks cb = {.ctx = &t};
    char err[256];
    struct net *n = NULL;
    struct net_config cfg = base_cfg(&t, 0);
    cfg.frame_max_bytes = 0;
    ck_assert_int_eq(net_create(&loop, &cfg, &cb, &n, err, sizeof err), TR_EINVAL);
    ck_assert_ptr_nonnull(strstr(err, "frame_max_bytes"));
    cfg = base_cfg(&t, 0);
    cfg.frame_max_bytes = NET_FRAME_MAX_LIMIT + 1;
    ck_assert_int_eq(net_create(&loop, &cfg, &cb, &n, err, sizeof err), TR_EINVAL);
    cfg = base_cfg(&t, 0);
    cfg.backoff_min_ms = 100;
    cfg.backoff_max_ms = 99;
    ck_assert_int_eq(net_create(&loop, &cfg, &cb, &n, err, sizeof err), TR_EINVAL);
    ck_assert_ptr_nonnull(strstr(err, "backoff"));
    cfg = base_cfg(&t, 0);
    cfg.listen_host = "not-an-address";
    ck_assert_int_eq(net_create(&loop, &cfg, &cb, &n, err, sizeof err), TR_EINVAL);
    ck_assert_ptr_nonnull(strstr(err, "not-an-address"));
    /* The port in use: a clear TR_EIO naming the address. */
    tnode_start(&t, 0);
    cfg = base_cfg(&t, t.port);
    ck_assert_int_eq(net_create(&loop, &cfg, &cb, &n, err, sizeof err), TR_EIO);
    ck_assert_ptr_nonnull(strstr(err, "127.0.0.1:"));
    /* Bad peer lists change nothing. */
    struct tnode o;
    tnode_keys(&o, 2);
    o.port = 1;
    struct net_peer p[2] = {peer_of(&o), peer_of(&o)};
    ck_assert_int_eq(net_peers_set(t.net, p, 2), TR_EINVAL); /* duplicate id */
    p[1].id = 3;
    ck_assert_int_eq(net_peers_set(t.net, p, 2), TR_EINVAL); /* one key for two ids */
    crypto_sign_keypair(p[1].ed_pk, (uint8_t[64]){0});
    snprintf(p[1].host, sizeof p[1].host, "example.invalid");
    p[1].id = 3;
    ck_assert_int_eq(net_peers_set(t.net, p, 2), TR_EINVAL); /* not numeric */
    memset(p[1].host, 'a', sizeof p[1].host);
    ck_assert_int_eq(net_peers_set(t.net, p, 2), TR_EINVAL); /* not terminated */
    snprintf(p[1].host, sizeof p[1].host, "::1");
    memset(p[1].ed_pk, 0, 32);
    p[1].ed_pk[0] = 1; /* the identity point: small order, refused */
    ck_assert_int_eq(net_peers_set(t.net, p, 2), TR_EINVAL);
    struct net_peer_stats st;
    ck_assert_int_eq(net_peer_stats(t.net, 2, &st), TR_ENOTFOUND);
    ck_assert_int_eq(net_peers_set(t.net, p, 1), TR_OK);
    ck_assert_int_eq(net_peer_stats(t.net, 2, &st), TR_OK);
    loop_end(&t, 1);
}
END_TEST

/* ---- raw client: the XX initiator done by hand over a blocking socket ---- */

struct raw {
    int fd;
    struct noise_handshake *hs;
    struct noise_transport *t;
};

static void raw_send(struct raw *r, const uint8_t *msg, size_t len)
{
    uint8_t hdr[2] = {(uint8_t)(len >> 8), (uint8_t)len};
    ck_assert_int_eq(send(r->fd, hdr, 2, MSG_NOSIGNAL), 2);
    ck_assert_int_eq(send(r->fd, msg, len, MSG_NOSIGNAL), (ssize_t)len);
}

/* Reads exactly len bytes while the loop runs. Returns 0, or -1 on EOF/reset. */
static int raw_read_exact(struct raw *r, uint8_t *out, size_t len, unsigned ms)
{
    size_t got = 0;
    uint64_t end = uv_now(&loop) + ms;
    while (got < len) {
        uv_run(&loop, UV_RUN_NOWAIT);
        struct pollfd p = {.fd = r->fd, .events = POLLIN};
        if (poll(&p, 1, 2) > 0) {
            ssize_t k = recv(r->fd, out + got, len - got, 0);
            if (k <= 0)
                return -1;
            got += (size_t)k;
        }
        uv_update_time(&loop);
        ck_assert_msg(uv_now(&loop) < end, "raw client: timed out reading");
    }
    return 0;
}

static size_t raw_recv_msg(struct raw *r, uint8_t *msg)
{
    uint8_t hdr[2];
    ck_assert_int_eq(raw_read_exact(r, hdr, 2, WAIT_MS), 0);
    size_t len = (size_t)hdr[0] << 8 | hdr[1];
    ck_assert_int_eq(raw_read_exact(r, msg, len, WAIT_MS), 0);
    return len;
}

/* Connects to `port` as member `self` and completes the handshake and the id exchange with
 * `server`. */
static void raw_connect(struct raw *r, const struct tnode *self, const struct tnode *server)
{
    r->fd = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_ge(r->fd, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(server->port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(connect(r->fd, (struct sockaddr *)&sa, sizeof sa), 0);
    struct noise_keypair kp;
    ck_assert_int_eq(noise_keypair_from_ed25519(self->sk, kp.sk, kp.pk), TR_OK);
    uint8_t prologue[15 + 32];
    memcpy(prologue, "treaty/link/v1", 15);
    memcpy(prologue + 15, network_id, 32);
    struct noise_config nc = {.pattern = NOISE_PATTERN_XX,
                              .role = NOISE_ROLE_INITIATOR,
                              .prologue = prologue,
                              .prologue_len = sizeof prologue,
                              .local_static = &kp};
    ck_assert_int_eq(noise_handshake_create(&nc, &r->hs), TR_OK);
    static uint8_t msg[NOISE_MAX_MSG_LEN], pl[NOISE_MAX_MSG_LEN];
    size_t len = 0, plen = 0;
    ck_assert_int_eq(noise_handshake_write_message(r->hs, NULL, 0, msg, sizeof msg, &len), TR_OK);
    raw_send(r, msg, len);
    len = raw_recv_msg(r, msg);
    ck_assert_int_eq(noise_handshake_read_message(r->hs, msg, len, pl, sizeof pl, &plen), TR_OK);
    uint8_t rs[NOISE_KEY_LEN], want[NOISE_KEY_LEN];
    ck_assert_int_eq(noise_handshake_remote_static(r->hs, rs), TR_OK);
    ck_assert_int_eq(noise_pubkey_from_ed25519(server->pk, want), TR_OK);
    ck_assert_int_eq(memcmp(rs, want, sizeof rs), 0);
    uint8_t id[8] = {0, 0, 0, 0, 0, 0, 0, (uint8_t)self->id};
    ck_assert_int_eq(noise_handshake_write_message(r->hs, id, 8, msg, sizeof msg, &len), TR_OK);
    raw_send(r, msg, len);
    ck_assert_int_eq(noise_handshake_split(r->hs, &r->t), TR_OK);
    len = raw_recv_msg(r, msg); /* the responder's id */
    ck_assert_int_eq(noise_transport_decrypt(r->t, msg, len, pl, sizeof pl, &plen), TR_OK);
    ck_assert_uint_eq(plen, 8);
    ck_assert_uint_eq(pl[7], server->id);
    sodium_memzero(&kp, sizeof kp);
}

static void raw_close(struct raw *r)
{
    close(r->fd);
    noise_handshake_destroy(r->hs);
    noise_transport_destroy(r->t);
}

/* Seals a one-message frame of `len` filled bytes: [4-byte length][bytes]. */
static size_t raw_seal_frame(struct raw *r, size_t len, unsigned salt, uint32_t announced,
                             uint8_t *out)
{
    uint8_t pl[256];
    ck_assert_uint_le(len + 4, sizeof pl);
    pl[0] = (uint8_t)(announced >> 24);
    pl[1] = (uint8_t)(announced >> 16);
    pl[2] = (uint8_t)(announced >> 8);
    pl[3] = (uint8_t)announced;
    fill(pl + 4, len, salt);
    size_t mlen = 0;
    ck_assert_int_eq(noise_transport_encrypt(r->t, pl, len + 4, out, 512, &mlen), TR_OK);
    return mlen;
}

/* Waits until the server closes the raw connection. */
static void raw_expect_closed(struct raw *r)
{
    uint8_t b[64];
    ck_assert_int_eq(raw_read_exact(r, b, sizeof b, WAIT_MS), -1);
}

enum raw_fault { RAW_TAMPER, RAW_TRUNCATE, RAW_REPLAY, RAW_REORDER, RAW_OVERSIZE, RAW_COUNT };

START_TEST(test_raw_fault_ends_link)
{
    enum raw_fault fault = (enum raw_fault)_i;
    loop_begin();
    struct tnode nodes[2]; /* A is the net; R the raw client, a member whose port is closed */
    tnode_keys(&nodes[0], 1);
    tnode_keys(&nodes[1], 2);
    struct net_config cfg = base_cfg(&nodes[0], 0);
    cfg.frame_max_bytes = 100;
    tnode_start_cfg(&nodes[0], &cfg);
    tnode_start(&nodes[1], 0);
    uint16_t r_port = nodes[1].port;
    tnode_stop(&nodes[1]);
    nodes[1].port = r_port;
    struct net_peer peers[2] = {peer_of(&nodes[0]), peer_of(&nodes[1])};
    ck_assert_int_eq(net_peers_set(nodes[0].net, peers, 2), TR_OK);
    struct raw r = {0};
    raw_connect(&r, &nodes[1], &nodes[0]);
    uint8_t m1[512], m2[512], m3[512];
    size_t l1 = raw_seal_frame(&r, 20, 1, 20, m1);
    raw_send(&r, m1, l1);
    wait_frames(&nodes[0], 1);
    check_frame(&nodes[0].recv[0], 2, 20, 1);
    log_watch(fault == RAW_OVERSIZE ? "code=TR_ELIMIT" : "code=TR_ECRYPTO");
    size_t l2 = 0, l3 = 0;
    if (fault != RAW_OVERSIZE)
        l2 = raw_seal_frame(&r, 30, 2, 30, m2);
    size_t delivered = 1;
    switch (fault) {
    case RAW_TAMPER:
        m2[l2 / 2] ^= 0x01;
        raw_send(&r, m2, l2);
        break;
    case RAW_TRUNCATE:
        raw_send(&r, m2, l2 - 1);
        break;
    case RAW_REPLAY:
        raw_send(&r, m2, l2);
        raw_send(&r, m2, l2);
        delivered = 2;
        break;
    case RAW_REORDER:
        l3 = raw_seal_frame(&r, 40, 3, 40, m3);
        raw_send(&r, m3, l3);
        raw_send(&r, m2, l2);
        break;
    case RAW_OVERSIZE:
        l2 = raw_seal_frame(&r, 30, 2, 101, m2); /* announces one byte over frame_max_bytes */
        raw_send(&r, m2, l2);
        break;
    case RAW_COUNT:
        break;
    }
    if (fault != RAW_REORDER) {
        l3 = raw_seal_frame(&r, 40, 3, 40, m3); /* a well-formed follower must not get through */
        raw_send(&r, m3, l3);
    }
    raw_expect_closed(&r);
    run_for(50);
    ck_assert_int_eq(log_hits, 1); /* ended for the right reason */
    ck_assert_uint_eq(nodes[0].n_recv, delivered);
    if (delivered == 2)
        check_frame(&nodes[0].recv[1], 2, 30, 2);
    raw_close(&r);
    /* The member may come back with a fresh session. */
    raw_connect(&r, &nodes[1], &nodes[0]);
    l1 = raw_seal_frame(&r, 10, 9, 10, m1);
    raw_send(&r, m1, l1);
    wait_frames(&nodes[0], delivered + 1);
    check_frame(&nodes[0].recv[delivered], 2, 10, 9);
    raw_close(&r);
    loop_end(nodes, 1);
}
END_TEST

START_TEST(test_raw_handshake_garbage)
{
    loop_begin();
    struct tnode a;
    tnode_keys(&a, 1);
    tnode_start(&a, 0);
    struct raw r = {0};
    r.fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(a.port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(connect(r.fd, (struct sockaddr *)&sa, sizeof sa), 0);
    uint8_t junk[5] = {1, 2, 3, 4, 5}; /* too short for an ephemeral key */
    raw_send(&r, junk, sizeof junk);
    raw_expect_closed(&r);
    raw_close(&r);
    loop_end(&a, 1);
}
END_TEST

static int tcp_connect_loopback(uint16_t port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_ge(fd, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    return fd;
}

/* 1 when the server has closed fd (EOF or reset), without blocking. */
static int tcp_closed_by_peer(int fd)
{
    uint8_t b;
    ssize_t k = recv(fd, &b, 1, MSG_DONTWAIT);
    return k == 0 || (k < 0 && errno != EAGAIN && errno != EWOULDBLOCK);
}

/* max_unidentified_inbound (4 here) silent sockets may wait in their handshake; one more is
 * closed at once, and a member still gets in once slots free up. */
START_TEST(test_pending_inbound_bound)
{
    loop_begin();
    struct tnode nodes[2];
    tnode_keys(&nodes[0], 1);
    tnode_keys(&nodes[1], 2);
    struct net_config cfg = base_cfg(&nodes[0], 0);
    cfg.max_unidentified_inbound = 4;
    tnode_start_cfg(&nodes[0], &cfg);
    nodes[1].port = 1; /* never dialed successfully */
    struct net_peer peers[2] = {peer_of(&nodes[0]), peer_of(&nodes[1])};
    ck_assert_int_eq(net_peers_set(nodes[0].net, peers, 2), TR_OK);
    int fds[5];
    for (size_t i = 0; i < 5; i++) {
        fds[i] = tcp_connect_loopback(nodes[0].port);
        run_for(2); /* accept in order */
    }
    run_for(100);
    int closed = 0;
    for (size_t i = 0; i < 5; i++)
        closed += tcp_closed_by_peer(fds[i]);
    ck_assert_int_eq(closed, 1);
    ck_assert_int_eq(tcp_closed_by_peer(fds[4]), 1);
    for (size_t i = 0; i < 5; i++)
        close(fds[i]);
    run_for(100);
    struct raw r = {0};
    raw_connect(&r, &nodes[1], &nodes[0]);
    uint8_t m[512];
    size_t l = raw_seal_frame(&r, 10, 1, 10, m);
    raw_send(&r, m, l);
    wait_frames(&nodes[0], 1);
    raw_close(&r);
    loop_end(nodes, 1);
}
END_TEST

/* A socket that never speaks is closed after handshake_timeout_ms (2 s here), not before. */
START_TEST(test_handshake_timeout)
{
    loop_begin();
    struct tnode a;
    tnode_keys(&a, 1);
    struct net_config cfg = base_cfg(&a, 0);
    cfg.handshake_timeout_ms = 2000;
    tnode_start_cfg(&a, &cfg);
    int fd = tcp_connect_loopback(a.port);
    uv_update_time(&loop);
    uint64_t t0 = uv_now(&loop);
    run_for(1500);
    ck_assert_int_eq(tcp_closed_by_peer(fd), 0);
    struct raw r = {.fd = fd};
    uint8_t b[1];
    ck_assert_int_eq(raw_read_exact(&r, b, 1, 3000), -1);
    uv_update_time(&loop);
    ck_assert_uint_ge(uv_now(&loop) - t0, 2000);
    close(fd);
    loop_end(&a, 1);
}
END_TEST

Suite *suite_net(void)
{
    Suite *s = suite_create("net");
    TCase *tc = tcase_create("links");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_three_nets_exchange);
    tcase_add_test(tc, test_frame_limit_edge);
    tcase_add_test(tc, test_unknown_key_refused);
    tcase_add_test(tc, test_wrong_network_refused);
    tcase_add_test(tc, test_removed_peer_disconnected);
    tcase_add_test(tc, test_send_queue_bound);
    tcase_add_test(tc, test_reconnect_after_restart);
    tcase_add_test(tc, test_close_inside_callback);
    tcase_add_test(tc, test_bad_config);
    suite_add_tcase(s, tc);
    tc = tcase_create("raw");
    tcase_set_timeout(tc, 30);
    tcase_add_loop_test(tc, test_raw_fault_ends_link, 0, RAW_COUNT);
    tcase_add_test(tc, test_raw_handshake_garbage);
    tcase_add_test(tc, test_pending_inbound_bound);
    tcase_add_test(tc, test_handshake_timeout);
    suite_add_tcase(s, tc);
    return s;
}
