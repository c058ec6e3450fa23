/* driver.c — runs one node: start-up (config, identity, genesis, store, ledger, Raft core, links,
 * HTTP), then one libuv loop that turns the monotonic clock into ticks, feeds peer frames to the
 * core and pumps its Ready batches: persist and apply in one LMDB write transaction (one fsync) on
 * a worker thread while the loop keeps serving and defers core events, then send, advance, replay
 * the deferred events and answer waiting clients (DESIGN.md §3.2; docs/performance.md "Write
 * path"). An error persisting stops the node; it never retries an fsync. Called by `treaty node`
 * (cli_node.c). */
#include "node/driver.h"

#include "common/alloc.h"
#include "common/err.h"
#include "common/log.h"
#include "node/audit_store.h"
#include "node/driver_int.h"
#include "node/failpoint.h"
#include "node/wire.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

uint64_t driver__now_ms(struct driver *d)
{
    uv_update_time(&d->loop);
    return uv_now(&d->loop);
}

uint64_t driver__wall_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

void driver__fatal(struct driver *d, const char *what, const char *detail)
{
    /* Nothing acknowledged is lost: acks follow commits, and this commit did not happen. Stop
     * at once rather than run on with state that may not be on disk. */
    tr_log(TR_LOG_ERROR, "fatal", "what=%s detail=\"%s\"", what, detail ? detail : "");
    fprintf(stderr, "treaty node: fatal: %s: %s; the node stops (nothing acknowledged is lost)\n",
            what, detail ? detail : "");
    fflush(NULL);
    (void)d;
    _exit(3);
}

void driver__send(struct driver *d, uint64_t to, const uint8_t *frame, size_t len)
{
    if (!d->net)
        return; /* links are being reopened (key rotation); Raft resends */
    int rc = net_send(d->net, to, frame, len);
    if (rc != TR_OK && rc != TR_EBUSY && rc != TR_ENOTFOUND)
        tr_log(TR_LOG_DEBUG, "send_failed", "to=%" PRIu64 " err=%s", to, tr_strerror(rc));
}

/* Sends messages the core handed out outside a Ready (raft_step_early, raft_propose_early). */
static void send_now(struct driver *d, const struct raft_msg *msgs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        uint8_t *frame = NULL;
        size_t len = 0;
        if (wire_encode_raft(&msgs[i], &frame, &len) != TR_OK)
            continue;
        driver__send(d, msgs[i].to, frame, len);
        tr_free(frame);
    }
}

/* A batch of config_batch_max_bytes, stamped, fits one append frame; a frame at the smallest
 * limit holds at least one entry's overhead besides half of it. */
_Static_assert(CONFIG_FRAME_OVERHEAD_BYTES >= WIRE_RAFT_OVERHEAD + WIRE_ENTRY_OVERHEAD,
               "frame overhead");
_Static_assert(CONFIG_FRAME_MAX_BYTES_MIN / 2 >= WIRE_RAFT_OVERHEAD + WIRE_ENTRY_OVERHEAD,
               "smallest frame");

/* Leader: stamps and proposes; while a persist runs, at once (raft_propose_early: the appends
 * carrying it leave now, the next Ready persists it). TR_EBUSY when the core's unstable tail is
 * full. */
static int order_propose(struct driver *d, const uint8_t *entry, size_t len)
{
    uint8_t *stamped = NULL;
    size_t slen = 0;
    int rc = batch_entry_stamp(entry, len, driver__wall_us(), &stamped, &slen);
    if (rc == TR_OK && d->persisting) {
        const struct raft_msg *msgs = NULL;
        size_t n = 0;
        rc = raft_propose_early(d->raft, stamped, slen, NULL, &msgs, &n);
        send_now(d, msgs, n);
    } else if (rc == TR_OK) {
        rc = raft_propose(d->raft, stamped, slen, NULL);
    }
    tr_free(stamped);
    driver__pump_kick(d);
    return rc;
}

void driver__order(struct driver *d, const uint8_t *entry, size_t len)
{
    if (d->role == RAFT_LEADER && d->persisting && !d->propose_blocked) {
        int rc = order_propose(d, entry, len);
        if (rc == TR_OK)
            return;
        if (rc != TR_EBUSY && rc != TR_ENOTLEADER) {
            tr_log(TR_LOG_WARN, "propose_failed", "err=%s", tr_strerror(rc));
            return;
        }
        /* A full unstable tail, or a core that stepped down in the Ready being persisted (the
         * driver learns it at the advance, and then forwards the batch to the new leader): this
         * one and the later ones wait for the advance. */
        d->propose_blocked = true;
    }
    if (d->role == RAFT_LEADER && (d->persisting || d->propose_blocked)) {
        /* Proposed after raft_advance, with the others that arrive meanwhile, in order (an
         * org's batches must reach the log in the order of their sequence numbers). */
        if (!driver__defer(d, DRIVER_DEFER_PROPOSE, 0, entry, len))
            tr_log(TR_LOG_WARN, "propose_failed", "err=%s", tr_strerror(TR_EBUSY));
        return;
    }
    if (d->role == RAFT_LEADER) {
        int rc = order_propose(d, entry, len);
        if (rc != TR_OK)
            tr_log(TR_LOG_WARN, "propose_failed", "err=%s", tr_strerror(rc));
        return;
    }
    if (d->leader == RAFT_NONE)
        return; /* resent once a leader is known (driver__flights_check) */
    uint8_t *frame = NULL;
    size_t flen = 0;
    if (wire_encode_forward(entry, len, &frame, &flen) != TR_OK)
        return;
    driver__send(d, d->leader, frame, flen);
    tr_free(frame);
}

/* ---------------------------------------------------------------------------------------------
 * The Ready pump
 * ------------------------------------------------------------------------------------------- */

static int pump_keep(struct pump_outcomes *po, const struct ledger_block_outcome *bo)
{
    if (po->n + bo->n_txs > po->cap) {
        size_t cap = po->cap ? po->cap * 2 : 64;
        while (cap < po->n + bo->n_txs)
            cap *= 2;
        struct ledger_tx_outcome *v = tr_realloc(po->v, cap * sizeof *v);
        if (!v)
            return TR_ENOMEM;
        po->v = v;
        po->cap = cap;
    }
    if (bo->n_txs > 0)
        memcpy(po->v + po->n, bo->txs, bo->n_txs * sizeof *bo->txs);
    po->n += bo->n_txs;
    if (bo->checkpoint_due) {
        if (po->n_checkpoints == po->cap_checkpoints) {
            size_t cap = po->cap_checkpoints ? po->cap_checkpoints * 2 : 4;
            uint64_t *c = tr_realloc(po->checkpoints, cap * sizeof *c);
            if (!c)
                return TR_ENOMEM;
            po->checkpoints = c;
            po->cap_checkpoints = cap;
        }
        po->checkpoints[po->n_checkpoints++] = bo->height;
    }
    if (bo->members_changed)
        po->members_changed = true;
    return TR_OK;
}

/* Applies the committed entries `ents` inside the store's open write transaction. Runs on the
 * apply worker: touches only the store's write transaction, the ledger's apply state and
 * d->errmsg (which nothing else writes). */
static int pump_apply(struct driver *d, const struct raft_entry *ents, size_t n,
                      struct pump_outcomes *po)
{
    MDB_txn *txn = store_write_txn(d->store);
    struct raft_conf conf;
    uint64_t conf_index = 0;
    bool conf_changed = false;
    for (size_t i = 0; i < n; i++) {
        const struct raft_entry *e = &ents[i];
        struct ledger_block_outcome bo;
        memset(&bo, 0, sizeof bo);
        int rc = ledger_apply(d->ledger, txn, e, &bo);
        if (rc != TR_OK) {
            if (rc == TR_ELIMIT)
                snprintf(d->errmsg, sizeof d->errmsg,
                         "store is full: map_max_mb=%" PRIu64 " reached while applying block "
                         "%" PRIu64 "; raise store.map_max_mb in node.json (%s)",
                         d->cfg.map_max_bytes >> 20, e->index, ledger_errmsg(d->ledger));
            else
                snprintf(d->errmsg, sizeof d->errmsg, "apply block %" PRIu64 ": %s", e->index,
                         ledger_errmsg(d->ledger));
            return rc;
        }
        if ((rc = pump_keep(po, &bo)) != TR_OK)
            return rc;
        if (e->type == RAFT_ENTRY_CONFIG) {
            rc = raft_conf_decode(e->data, e->len, &conf, NULL, NULL);
            if (rc != TR_OK) {
                snprintf(d->errmsg, sizeof d->errmsg, "block %" PRIu64 ": bad config entry",
                         e->index);
                return rc;
            }
            conf_index = e->index;
            conf_changed = true;
        }
    }
    if (n == 0)
        return TR_OK;
    uint64_t applied = ents[n - 1].index;
    return store_write_applied(d->store, applied, conf_changed ? &conf : NULL, conf_index);
}

/* Which of a Ready's messages pump_send sends. The leader's appends and heartbeats may leave
 * before its own persist is durable (Raft dissertation §10.2.1: the leader counts its own entries
 * toward a commit only at raft_advance, after the persist); everything else (vote and append
 * responses above all) only after it. */
enum pump_send_which { SEND_ALL, SEND_EARLY, SEND_LATE };

static bool msg_early(const struct raft_msg *m)
{
    return m->type == RAFT_MSG_APPEND || m->type == RAFT_MSG_HEARTBEAT;
}

static void pump_send(struct driver *d, const struct raft_ready *rd, enum pump_send_which which)
{
    for (size_t i = 0; i < rd->n_msgs; i++) {
        if (which != SEND_ALL && msg_early(&rd->msgs[i]) != (which == SEND_EARLY))
            continue;
        uint8_t *frame = NULL;
        size_t len = 0;
        if (wire_encode_raft(&rd->msgs[i], &frame, &len) != TR_OK)
            continue;
        driver__send(d, rd->msgs[i].to, frame, len);
        tr_free(frame);
    }
}

/* Called after raft_advance: resending flights proposes to the core. */
static void pump_soft_state(struct driver *d, uint64_t leader, enum raft_role role)
{
    bool changed = leader != d->leader;
    if (role != d->role || changed) {
        struct raft_status st;
        raft_status_get(d->raft, &st);
        tr_log(TR_LOG_INFO, "role", "role=%s leader=%" PRIu64 " term=%" PRIu64,
               raft_role_name(role), leader, st.term);
        d->term = st.term;
    }
    bool role_changed = role != d->role;
    d->leader = leader;
    d->role = role;
    FAILPOINT_ROLE(role == RAFT_LEADER);
    if (changed || role_changed)
        driver__reads_leader_changed(d);
    if (changed)
        driver__flights_check(d, true);
}

bool driver__defer(struct driver *d, enum driver_deferred_kind kind, uint64_t peer,
                   const uint8_t *data, size_t len)
{
    if (d->deferred_bytes + len > DRIVER_DEFER_MAX_BYTES)
        return false;
    if (d->n_deferred == d->cap_deferred) {
        size_t cap = d->cap_deferred ? d->cap_deferred * 2 : 64;
        struct driver_deferred *v = tr_realloc(d->deferred, cap * sizeof *v);
        if (!v)
            return false;
        d->deferred = v;
        d->cap_deferred = cap;
    }
    uint8_t *copy = tr_malloc(len ? len : 1);
    if (!copy)
        return false;
    if (len)
        memcpy(copy, data, len);
    d->deferred[d->n_deferred++] = (struct driver_deferred){kind, peer, copy, len};
    d->deferred_bytes += len;
    return true;
}

static void on_frame(void *ctx, uint64_t peer, const uint8_t *data, size_t len);
static void run_ticks(struct driver *d, uint64_t n);

/* After raft_advance (and at a tick while proposals wait): the events that arrived while the
 * Ready was outstanding, in order. Proposals the core refuses for a full unstable tail (TR_EBUSY:
 * the loop accepts writes faster than the disk persists them) stay queued, with every proposal
 * after them, until the next advance frees room: backpressure instead of a dropped batch (a
 * dropped cosignature is never resent; a dropped batch waits for its overdue resend). Writes past
 * limits.max_pending_writes are refused by the api with 503. */
static void replay_deferred(struct driver *d)
{
    if (d->deferred_ticks) {
        uint32_t n = d->deferred_ticks;
        d->deferred_ticks = 0;
        run_ticks(d, n);
    }
    /* Taken whole first: what is deferred again goes to a fresh queue, in order. */
    struct driver_deferred *v = d->deferred;
    size_t n = d->n_deferred;
    d->deferred = NULL;
    d->n_deferred = d->cap_deferred = 0;
    d->deferred_bytes = 0;
    d->n_deferred_raft_peers = 0;
    d->propose_blocked = false;
    for (size_t i = 0; i < n; i++) {
        if (v[i].kind == DRIVER_DEFER_FRAME) {
            on_frame(d, v[i].peer, v[i].data, v[i].len);
        } else if (d->role != RAFT_LEADER || d->propose_blocked) {
            driver__order(d, v[i].data, v[i].len); /* forwards, or queues behind the refused */
        } else {
            int rc = order_propose(d, v[i].data, v[i].len);
            if (rc == TR_EBUSY) {
                d->propose_blocked = true;
                driver__order(d, v[i].data, v[i].len);
            } else if (rc != TR_OK) {
                tr_log(TR_LOG_WARN, "propose_failed", "err=%s", tr_strerror(rc));
            }
        }
        tr_free(v[i].data);
    }
    tr_free(v);
}

/* Second half of a Ready, on the loop thread, once its log write is durable (or at once when it
 * had nothing to write): send -> read states -> advance -> replay deferred events. Its committed
 * entries were queued for the apply worker when it started; their clients are answered when
 * that apply ends (apply_done). */
static void pump_finish(struct driver *d)
{
    struct raft_ready *rd = &d->prd;
    int rc;
    store_write_publish(d->store); /* the log callbacks see what the log write wrote */
    if (rd->has_hard_state)
        d->hs_durable = rd->hard_state;
    pump_send(d, rd, d->prd_sent_early ? SEND_LATE : SEND_ALL);
    driver__reads_ready(d, rd->reads, rd->n_reads);
    bool soft = rd->has_soft_state;
    uint64_t leader = rd->leader;
    enum raft_role role = rd->role;
    d->persisting = false;
    if ((rc = raft_advance(d->raft)) != TR_OK)
        driver__fatal(d, "raft", tr_strerror(rc));
    /* Only now may events reach the core again: answering a client can start the next
     * pipelined request on its connection, which proposes. */
    if (soft)
        pump_soft_state(d, leader, role);
    replay_deferred(d);
    if (d->flush_after_persist) {
        d->flush_after_persist = false;
        driver__batch_flush(d);
    }
    if (d->n_reads)
        driver__reads_tick(d); /* asks ReadIndex for reads that came meanwhile; serves */
    driver__pump_kick(d);
}

/* A Ready's log write, on a worker of the libuv thread pool: its entries and hard state go to
 * the log file, which is synced. The loop thread meanwhile only reads the store and defers every
 * core event. A failure stops the node here (driver__fatal: nothing acknowledged is lost). */
static void log_work(uv_work_t *w)
{
    struct driver *d = w->data;
    const struct raft_ready *rd = &d->prd;
    FAILPOINT(PERSIST_BEGIN);
    FAILPOINT_IF(rd->n_entries > 0, PERSIST_ENTRIES);
    FAILPOINT_IF(rd->has_hard_state, PERSIST_HARD_STATE);
    if (store_log_persist(d->store, rd->entries, rd->n_entries,
                          rd->has_hard_state ? &rd->hard_state : NULL) != TR_OK)
        driver__fatal(d, "persist the raft log", store_errmsg(d->store));
    /* A new term or vote: durable before the vote (response) is sent. */
    FAILPOINT_IF(d->prd_term_vote, PERSIST_VOTE_COMMITTED);
}

static void log_done(uv_work_t *w, int status)
{
    (void)status; /* never cancelled */
    struct driver *d = w->data;
    driver__metrics_persisted(d, d->prd.n_entries);
    pump_finish(d);
}

/* The applies run on their own worker, one LMDB write transaction at a time (LMDB has one
 * writer), each taking the committed entries queued meanwhile, up to store.apply_max_*: the
 * next Ready's log write does not wait for the apply of the last one. Every entry handed out for
 * apply was persisted by an earlier Ready (raft apply_persisted_only), so LMDB never holds what the
 * log does not. The commit is lazy: what a crash undoes is applied again from the log at the next
 * start. */
static void apply_work(uv_work_t *w)
{
    struct driver *d = w->data;
    const struct driver_applies *a = &d->applying;
    int rc;
    if ((rc = store_write_begin_opts(d->store, STORE_WRITE_PREPARED | STORE_WRITE_LAZY)) != TR_OK)
        driver__fatal(d, "store", store_errmsg(d->store));
    if ((rc = pump_apply(d, a->v, a->n, &d->ppo)) != TR_OK)
        driver__fatal(d, "apply", d->errmsg[0] ? d->errmsg : tr_strerror(rc));
    FAILPOINT(PERSIST_APPLIED);
    if ((rc = store_write_commit(d->store)) != TR_OK)
        driver__fatal(d, "commit", store_errmsg(d->store));
    FAILPOINT(PERSIST_COMMITTED);
    FAILPOINT(PERSIST_LAZY_COMMITTED);
}

static void applies_clear(struct driver_applies *a)
{
    for (size_t i = 0; i < a->n; i++)
        tr_free((void *)a->v[i].data);
    a->n = 0;
    a->bytes = 0;
}

static void applies_free(struct driver_applies *a)
{
    applies_clear(a);
    tr_free(a->v);
    memset(a, 0, sizeof *a);
}

/* Copies the Ready's committed entries to the queue (the Ready's own are the core's, only until
 * raft_advance). */
static int applies_add(struct driver_applies *a, const struct raft_entry *e, size_t n)
{
    if (a->n + n > a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 64;
        while (cap < a->n + n)
            cap *= 2;
        struct raft_entry *v = tr_realloc(a->v, cap * sizeof *v);
        if (!v)
            return TR_ENOMEM;
        a->v = v;
        a->cap = cap;
    }
    for (size_t i = 0; i < n; i++) {
        uint8_t *data = tr_malloc(e[i].len ? e[i].len : 1);
        if (!data)
            return TR_ENOMEM;
        if (e[i].len)
            memcpy(data, e[i].data, e[i].len);
        a->v[a->n] = e[i];
        a->v[a->n].data = data;
        a->n++;
        a->bytes += e[i].len;
    }
    return TR_OK;
}

static void apply_done(uv_work_t *w, int status);

/* How many of the queue's first entries one apply takes: at most store.apply_max_entries, and
 * at most store.apply_max_bytes of them unless the first alone is larger. *bytes: theirs. */
static size_t applies_fit(const struct driver *d, size_t *bytes)
{
    const struct driver_applies *q = &d->queued;
    size_t k = 0;
    *bytes = 0;
    while (k < q->n && k < d->cfg.apply_max_entries &&
           (k == 0 || *bytes + q->v[k].len <= d->cfg.apply_max_bytes)) {
        *bytes += q->v[k].len;
        k++;
    }
    return k;
}

/* Moves the first k entries of `from`, `bytes` in all, to the empty `to`. */
static int applies_take(struct driver_applies *to, struct driver_applies *from, size_t k,
                        size_t bytes)
{
    if (k == from->n) {
        struct driver_applies t = *to;
        *to = *from;
        *from = t; /* empty, keeps its array */
        return TR_OK;
    }
    if (k > to->cap) {
        struct raft_entry *v = tr_realloc(to->v, k * sizeof *v);
        if (!v)
            return TR_ENOMEM;
        to->v = v;
        to->cap = k;
    }
    memcpy(to->v, from->v, k * sizeof *to->v);
    to->n = k;
    to->bytes = bytes;
    memmove(from->v, from->v + k, (from->n - k) * sizeof *from->v);
    from->n -= k;
    from->bytes -= to->bytes;
    return TR_OK;
}

/* Starts the apply worker on the queue's first entries (applies_fit), if it is free. The map
 * grows here, on the loop thread, while no write transaction is open. */
static void apply_kick(struct driver *d)
{
    if (d->applying.n > 0 || d->queued.n == 0)
        return;
    int rc = store_write_prepare(d->store);
    if (rc != TR_OK)
        driver__fatal(d, "store", store_errmsg(d->store));
    size_t bytes;
    size_t k = applies_fit(d, &bytes);
    if (applies_take(&d->applying, &d->queued, k, bytes) != TR_OK)
        driver__fatal(d, "apply", tr_strerror(TR_ENOMEM));
    memset(&d->ppo, 0, sizeof d->ppo);
    d->apply_start_ns = uv_hrtime();
    d->apply_req.data = d;
    if (uv_queue_work(&d->loop, &d->apply_req, apply_work, apply_done) != 0)
        driver__fatal(d, "apply", "cannot queue the apply");
}

/* The apply worker committed: its clients are answered, reads wait no longer, and it takes what
 * was queued meanwhile. */
static void apply_done(uv_work_t *w, int status)
{
    (void)status; /* never cancelled */
    struct driver *d = w->data;
    struct pump_outcomes po = d->ppo;
    memset(&d->ppo, 0, sizeof d->ppo);
    uint64_t last_applied = d->applying.v[d->applying.n - 1].index;
    driver__metrics_applied(d, d->applying.n);
    applies_clear(&d->applying);
    d->applied = last_applied;
    apply_kick(d);
    if (po.members_changed)
        driver__schema_refresh(d); /* before answers: an approval's client may use it next */
    api_events_notify(d->api, last_applied);
    for (size_t i = 0; i < po.n; i++) {
        driver__batch_on_outcome(d, &po.v[i]);
        free(po.v[i].text); /* a record nobody waited for (or a waiter that did not take it) */
    }
    tr_free(po.v);
    if (po.members_changed)
        driver__members_refresh(d);
    for (size_t i = 0; i < po.n_checkpoints; i++)
        driver__checkpoint_due(d, po.checkpoints[i]);
    tr_free(po.checkpoints);
    if (d->n_reads)
        driver__reads_serve(d);
    driver__pump_kick(d); /* a Ready may have waited for room in the queue */
}

/* A new Ready may start while the queue holds less than one apply's worth (store.apply_max_*,
 * also what the core hands out per Ready): the blocks in memory for the applies, queued and
 * being applied, stay under three applies' worth (in bytes, and one block larger than that). */
static bool applies_full(const struct driver *d)
{
    return d->queued.n >= d->cfg.apply_max_entries || d->queued.bytes >= d->cfg.apply_max_bytes;
}

/* First half of a Ready, on the loop thread. Its committed entries go to the apply queue; its
 * log write goes to the log worker (one write, one sync: group commit of everything the core
 * gathered meanwhile) and the loop goes on serving; pump_finish runs when it is durable. A Ready
 * without a log write finishes at once. */
static void pump_once(struct driver *d)
{
    struct raft_ready *rd = &d->prd;
    int rc = raft_ready(d->raft, rd);
    if (rc != TR_OK)
        driver__fatal(d, "raft", tr_strerror(rc));
    d->prd_sent_early = false;
    if (rd->n_committed > 0) {
        if ((rc = applies_add(&d->queued, rd->committed, rd->n_committed)) != TR_OK)
            driver__fatal(d, "apply", tr_strerror(rc));
        apply_kick(d);
    }
    bool log = rd->has_hard_state || rd->n_entries > 0;
    if (!log) {
        pump_finish(d);
        return;
    }
    bool term_vote = rd->has_hard_state && (rd->hard_state.term != d->hs_durable.term ||
                                            rd->hard_state.vote != d->hs_durable.vote);
    d->prd_term_vote = term_vote;
    if (!term_vote) {
        /* The term they carry is durable already; a commit index they carry needs no persist
         * of ours (followers learn new commits while the leader applies them). */
        pump_send(d, rd, SEND_EARLY);
        d->prd_sent_early = true;
    }
    d->persisting = true;
    d->persist_start_ns = uv_hrtime();
    d->log_req.data = d;
    if (uv_queue_work(&d->loop, &d->log_req, log_work, log_done) != 0)
        driver__fatal(d, "persist", "cannot queue the log write");
}

static void on_pump_idle(uv_idle_t *h)
{
    (void)h; /* only keeps the loop from blocking while the core has work; the check pumps */
}

static void on_pump_check(uv_check_t *h)
{
    struct driver *d = h->data;
    /* At shutdown no new Ready starts: what is not persisted was never acknowledged. */
    for (int i = 0;
         i < 8 && !d->stopping && !d->persisting && !applies_full(d) && raft_has_ready(d->raft);
         i++)
        pump_once(d);
    if (!d->stopping && !d->persisting && !applies_full(d) && raft_has_ready(d->raft))
        uv_idle_start(&d->pump_idle, on_pump_idle);
    else
        uv_idle_stop(&d->pump_idle);
}

void driver__pump_kick(struct driver *d)
{
    if (!d->stopping)
        uv_idle_start(&d->pump_idle, on_pump_idle);
}

/* ---------------------------------------------------------------------------------------------
 * Events: ticks and frames
 * ------------------------------------------------------------------------------------------- */

static void run_ticks(struct driver *d, uint64_t n)
{
    for (uint64_t i = 0; i < n; i++) {
        int rc = raft_tick(d->raft);
        if (rc != TR_OK)
            driver__fatal(d, "raft", tr_strerror(rc));
    }
    if (d->n_reads)
        driver__reads_tick(d);
    driver__pump_kick(d);
}

static void on_tick(uv_timer_t *t)
{
    struct driver *d = t->data;
    uint64_t now = driver__now_ms(d);
    uint64_t n = (now - d->last_tick_ms) / d->tick_ms;
    if (n > 5)
        n = 5; /* after a stall, catch up a little, not a whole election timeout at once */
    if (n == 0)
        n = 1;
    d->last_tick_ms = now;
    if (d->persisting) {
        d->deferred_ticks = d->deferred_ticks + n > 5 ? 5 : d->deferred_ticks + (uint32_t)n;
        return;
    }
    run_ticks(d, n);
    if (d->propose_blocked)
        replay_deferred(d); /* the core may have room again (a refused proposal never waits for
                               a Ready that will not come) */
}

static void on_housekeeping(uv_timer_t *t)
{
    struct driver *d = t->data;
    driver__flights_check(d, false);
    driver__writes_expire(d);
    driver__members_tick(d);
    driver__cosign_tick(d);
    /* Every 100 ms (one read of /proc/self/statm; at full write load the map gains tens of MB a
     * second). On this thread, like the map's growth (store_write_prepare); the persist worker
     * may be reading through the map meanwhile, which the unmapping allows. */
    if (d->store)
        (void)store_resident_trim(d->store, d->cfg.store_resident_max_bytes, NULL, NULL);
    driver__pump_kick(d);
}

static bool raft_deferred_from(const struct driver *d, uint64_t peer)
{
    for (uint32_t i = 0; i < d->n_deferred_raft_peers; i++)
        if (d->deferred_raft_peers[i] == peer)
            return true;
    return false;
}

/* While the leader persists: a follower's append acknowledgement is stepped at once
 * (raft_step_early), so the commit index it completes reaches the followers, and the entries it
 * lets the leader send leave, without waiting for the leader's own commit; a forwarded batch is
 * proposed at once (driver__order: raft_propose_early, or queued behind a refused proposal).
 * Raft frames of a peer stay in arrival order: once one waits in the deferred queue, the later
 * ones do too. true: handled. */
static bool frame_early(struct driver *d, uint64_t peer, const uint8_t *data, size_t len)
{
    if (d->role != RAFT_LEADER)
        return false;
    if (wire_maybe_raft(data, len) ? raft_deferred_from(d, peer) : d->propose_blocked)
        return false;
    struct wire_frame f;
    if (wire_decode(data, len, &f) != TR_OK)
        return false; /* replayed, and reported, after the persist */
    bool done = false;
    if (f.kind == WIRE_FORWARD) {
        driver__forward_received(d, f.entry, f.entry_len);
        done = true;
    } else if (f.kind == WIRE_RAFT && f.raft.from == peer && !raft_deferred_from(d, peer)) {
        const struct raft_msg *msgs = NULL;
        size_t n = 0;
        int rc = raft_step_early(d->raft, &f.raft, &msgs, &n);
        if (rc == TR_OK) {
            done = true;
            send_now(d, msgs, n);
        } else if (rc != TR_EBUSY) {
            driver__fatal(d, "raft", tr_strerror(rc));
        }
    }
    wire_frame_free(&f);
    return done;
}

static void on_frame(void *ctx, uint64_t peer, const uint8_t *data, size_t len)
{
    struct driver *d = ctx;
    if (d->persisting) {
        if (frame_early(d, peer, data, len))
            return;
        if (wire_maybe_raft(data, len) && !raft_deferred_from(d, peer) &&
            d->n_deferred_raft_peers < RAFT_MAX_MEMBERS)
            d->deferred_raft_peers[d->n_deferred_raft_peers++] = peer;
        if (!driver__defer(d, DRIVER_DEFER_FRAME, peer, data, len))
            tr_log(TR_LOG_DEBUG, "frame_dropped", "peer=%" PRIu64 " len=%zu", peer, len);
        return;
    }
    struct wire_frame f;
    if (wire_decode(data, len, &f) != TR_OK) {
        tr_log(TR_LOG_WARN, "bad_frame", "peer=%" PRIu64 " len=%zu", peer, len);
        return;
    }
    if (f.kind == WIRE_RAFT) {
        if (f.raft.from != peer) {
            tr_log(TR_LOG_WARN, "spoofed_frame", "peer=%" PRIu64 " from=%" PRIu64, peer,
                   f.raft.from);
        } else {
            int rc = raft_step(d->raft, &f.raft);
            if (rc != TR_OK)
                driver__fatal(d, "raft", tr_strerror(rc));
        }
    } else if (f.kind == WIRE_FORWARD) {
        driver__forward_received(d, f.entry, f.entry_len);
    } else {
        driver__read_frame(d, peer, &f);
    }
    wire_frame_free(&f);
    driver__pump_kick(d);
}

static void on_peer(void *ctx, uint64_t peer, int up)
{
    (void)ctx;
    tr_log(TR_LOG_INFO, up ? "peer_up" : "peer_down", "peer=%" PRIu64, peer);
}

/* ---------------------------------------------------------------------------------------------
 * Start-up
 * ------------------------------------------------------------------------------------------- */

static int write_file_atomic(const char *path, const char *data, size_t len)
{
    char tmp[4200];
    int n = snprintf(tmp, sizeof tmp, "%s.tmp", path);
    if (n < 0 || (size_t)n >= sizeof tmp)
        return TR_ELIMIT;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0)
        return TR_EIO;
    size_t off = 0;
    while (off < len) {
        ssize_t w = write(fd, data + off, len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            close(fd);
            return TR_EIO;
        }
        off += (size_t)w;
    }
    if (fsync(fd) != 0 || close(fd) != 0)
        return TR_EIO;
    return rename(tmp, path) == 0 ? TR_OK : TR_EIO;
}

static void hex8(const uint8_t id[32], char out[17])
{
    tr_hex_encode(id, 8, out);
}

/* DIR/genesis.json is the node's own copy (the canonical form of the first --genesis); --genesis
 * is needed only the first time, and must describe the same network afterwards. */
static int load_genesis(struct driver *d, const char *dir, const char *given, char *err,
                        size_t errlen)
{
    char own[4200];
    snprintf(own, sizeof own, "%s/genesis.json", dir);
    struct stat st;
    bool have_own = stat(own, &st) == 0;
    if (!have_own && !given) {
        snprintf(err, errlen, "%s does not exist: start the node once with --genesis FILE", own);
        return TR_EINVAL;
    }
    int rc = genesis_load_file(have_own ? own : given, &d->genesis, err, errlen);
    if (rc != TR_OK)
        return rc;
    if (have_own && given) {
        struct genesis *other = NULL;
        rc = genesis_load_file(given, &other, err, errlen);
        if (rc != TR_OK)
            return rc;
        bool same = memcmp(other->network_id, d->genesis->network_id, 32) == 0;
        if (!same) {
            char a[17], b[17];
            hex8(other->network_id, a);
            hex8(d->genesis->network_id, b);
            snprintf(err, errlen,
                     "%s is network %s… but this node belongs to network %s… (%s); "
                     "a node serves one network",
                     given, a, b, own);
        }
        genesis_destroy(other);
        return same ? TR_OK : TR_EDENIED;
    }
    if (!have_own) {
        /* The copy is the canonical form, which has the same network id by definition. */
        rc = write_file_atomic(own, d->genesis->canonical, d->genesis->canonical_len);
        if (rc != TR_OK) {
            snprintf(err, errlen, "%s: cannot write: %s", own, strerror(errno));
            return rc;
        }
    }
    return TR_OK;
}

/* On a new store, the identity must be the one the genesis lists for this org (a joining org
 * is not listed); afterwards the ledger's member list decides (driver__identity_check). */
static int check_member_key(struct driver *d, char *err, size_t errlen)
{
    const struct genesis_member *m = genesis_member_find(d->genesis, d->cfg.org);
    struct raft_hard_state hs;
    struct raft_conf conf;
    uint64_t applied = 0, conf_index = 0;
    if (store_raft_state(d->store, &hs, &applied, &conf, &conf_index) == TR_OK && applied > 0)
        return driver__identity_check(d, err, errlen);
    if (m && memcmp(m->public_key, d->id.pk, 32) != 0) {
        snprintf(err, errlen,
                 "the genesis lists org %s with another public key than %s/node.key holds",
                 d->cfg.org, "DIR");
        return TR_EDENIED;
    }
    return TR_OK;
}

static int open_ledger(struct driver *d, const char *dir, char *err, size_t errlen)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/data", dir);
    struct store_options so = {d->cfg.map_size_bytes, d->cfg.map_max_bytes, false,
                               d->cfg.store_sync_interval_ms};
    int rc = store_open(path, &so, d->genesis->network_id, &d->store, err, errlen);
    if (rc != TR_OK)
        return rc;
    rc = audit_store_ledger_open(d->store, d->genesis, d->schema, &d->ledger, err, errlen);
    if (rc == TR_OK) /* our clients' records come with their outcomes: no read-back to answer */
        ledger_keep_texts(d->ledger, d->cfg.org);
    return rc;
}

static int open_raft(struct driver *d, char *err, size_t errlen)
{
    struct raft_config rc_;
    raft_config_defaults(&rc_);
    rc_.id = d->self_id;
    rc_.log = store_raft_log(d->store);
    int rc = store_raft_state(d->store, &rc_.hard_state, &rc_.applied, &rc_.conf, &rc_.conf_index);
    if (rc != TR_OK) {
        snprintf(err, errlen, "store: %s", store_errmsg(d->store));
        return rc;
    }
    d->hs_durable = rc_.hard_state;
    if (rc_.conf_index == 0 && genesis_member_find(d->genesis, d->cfg.org)) {
        /* Until a configuration entry has been applied, a founder's configuration is the
         * bootstrap one, which the genesis defines (raft.h: conf_index 0 = bootstrap); so it
         * is derived again at every start rather than stored. */
        rc_.conf.n_voters = rc_.conf.n_learners = 0;
        for (size_t i = 0; i < d->genesis->n_members && i < RAFT_MAX_MEMBERS; i++)
            rc_.conf.voters[rc_.conf.n_voters++] = d->genesis->members[i].node_id;
        for (uint32_t i = 1; i < rc_.conf.n_voters; i++) /* sorted ascending */
            for (uint32_t j = i; j > 0 && rc_.conf.voters[j - 1] > rc_.conf.voters[j]; j--) {
                uint64_t t = rc_.conf.voters[j];
                rc_.conf.voters[j] = rc_.conf.voters[j - 1];
                rc_.conf.voters[j - 1] = t;
            }
    }
    rc_.seed = d->self_id ^ driver__wall_us();
    rc_.heartbeat_ticks = d->genesis->heartbeat_ms / d->tick_ms;
    rc_.election_ticks = d->genesis->election_ms / d->tick_ms;
    /* Every append fits a frame: one entry alone is at most a batch (config_batch_max_bytes,
     * which leaves CONFIG_FRAME_OVERHEAD_BYTES); several are at most half a frame of data, and
     * few enough that their overheads fit the other half. */
    rc_.max_append_bytes = d->cfg.frame_max_bytes / 2;
    /* A proposal is at most a frame (a batch, or a forwarded one: driver__forward_received). */
    rc_.max_entry_bytes = d->cfg.frame_max_bytes;
    rc_.max_unstable_bytes =
        d->cfg.frame_max_bytes > (64u << 20) ? d->cfg.frame_max_bytes : (64u << 20);
    size_t fit = (d->cfg.frame_max_bytes / 2 - WIRE_RAFT_OVERHEAD) / WIRE_ENTRY_OVERHEAD;
    rc_.max_append_entries = fit < 64 ? (uint32_t)fit : 64;
    rc_.apply_persisted_only = 1; /* applies run beside the log writes (apply_kick) */
    rc_.max_apply_entries = d->cfg.apply_max_entries;
    rc_.max_apply_bytes = d->cfg.apply_max_bytes;
    d->applied = rc_.applied;
    rc = raft_create(&rc_, &d->raft);
    if (rc != TR_OK)
        snprintf(err, errlen, "raft: cannot start from the stored state: %s", tr_strerror(rc));
    return rc;
}

static int open_links(struct driver *d, char *err, size_t errlen)
{
    struct net_config nc = {
        .self_id = d->self_id,
        .listen_host = d->cfg.peer_host,
        .listen_port = d->cfg.peer_port,
        .ed_sk = d->id.sk,
        .network_id = d->genesis->network_id,
        .frame_max_bytes = d->cfg.frame_max_bytes,
        .send_queue_max_bytes = d->cfg.send_queue_max_bytes,
        .backoff_min_ms = 50,
        .backoff_max_ms = 2000,
        .seed = d->self_id ^ driver__wall_us(),
        .handshake_timeout_ms = d->cfg.peer_handshake_timeout_ms,
        .max_unidentified_inbound = d->cfg.peer_max_unidentified,
    };
    struct net_callbacks cb = {d, on_frame, on_peer};
    int rc = net_create(&d->loop, &nc, &cb, &d->net, err, errlen);
    if (rc != TR_OK)
        return rc;
    return driver__members_refresh(d);
}

/* Key rotation: once the ledger holds this org's new key, the links must present the Noise key
 * derived from it, so they are closed and opened again with the new identity. */
static void links_reopen(void *arg)
{
    struct driver *d = arg;
    char err[512];
    if (d->stopping)
        return;
    if (open_links(d, err, sizeof err) != TR_OK)
        driver__fatal(d, "links", err);
    tr_log(TR_LOG_INFO, "links_reopened", "org=%s", d->cfg.org);
}

void driver__links_restart(struct driver *d)
{
    struct net *n = d->net;
    d->net = NULL;
    if (n)
        net_close(n, links_reopen, d);
}

static int open_api(struct driver *d, char *err, size_t errlen)
{
    struct api_config ac = {
        .host = d->cfg.api_host,
        .port = d->cfg.api_port,
        .body_max_bytes = d->cfg.http_body_max_bytes,
        .header_max_bytes = d->cfg.http_header_max_bytes,
        .max_connections = d->cfg.http_max_connections,
        .idle_timeout_ms = d->cfg.http_idle_timeout_ms,
        .request_timeout_ms = d->cfg.http_request_timeout_ms,
        .schema = ledger_schema(d->ledger, &d->schema_version),
        .events_max_clients = d->cfg.events_max_clients,
        .events_buffer_bytes = d->cfg.events_buffer_bytes,
        .events_heartbeat_ms = d->cfg.events_heartbeat_ms,
        .org = d->cfg.org,
    };
    struct api_backend be =
        d->cfg.test_hooks ? driver__test_backend_template : driver__backend_template;
    be.ctx = d;
    int rc = api_create(&d->loop, &ac, &be, &d->api, err, errlen);
    if (rc == TR_OK && (rc = driver__events_start(d)) != TR_OK)
        snprintf(err, errlen, "api: cannot read the ledger head: %s", tr_strerror(rc));
    return rc;
}

static void on_signal(uv_signal_t *s, int signum)
{
    struct driver *d = s->data;
    tr_log(TR_LOG_INFO, "stopping", "signal=%d", signum);
    d->stopping = true;
    uv_stop(&d->loop);
}

static int start_loop(struct driver *d)
{
    uv_timer_init(&d->loop, &d->tick_timer);
    uv_timer_init(&d->loop, &d->batch_timer);
    uv_timer_init(&d->loop, &d->housekeeping_timer);
    uv_check_init(&d->loop, &d->pump_check);
    uv_idle_init(&d->loop, &d->pump_idle);
    uv_signal_init(&d->loop, &d->sigterm);
    uv_signal_init(&d->loop, &d->sigint);
    d->tick_timer.data = d->batch_timer.data = d->housekeeping_timer.data = d;
    d->pump_check.data = d->pump_idle.data = d->sigterm.data = d->sigint.data = d;
    d->last_tick_ms = driver__now_ms(d);
    uv_timer_start(&d->tick_timer, on_tick, d->tick_ms, d->tick_ms);
    uv_timer_start(&d->housekeeping_timer, on_housekeeping, 100, 100);
    driver__auth_start(d);
    uv_check_start(&d->pump_check, on_pump_check);
    uv_signal_start(&d->sigterm, on_signal, SIGTERM);
    uv_signal_start(&d->sigint, on_signal, SIGINT);
    return TR_OK;
}

static void close_walk(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

static void on_part_closed(void *arg)
{
    struct driver *d = arg;
    d->parts_open--;
}

/* Closes the handles of the driver itself: every one that is not the api's or the links'. */
static void close_own_walk(uv_handle_t *h, void *arg)
{
    struct driver *d = arg;
    const uv_handle_t *own[] = {(uv_handle_t *)&d->tick_timer,
                                (uv_handle_t *)&d->batch_timer,
                                (uv_handle_t *)&d->housekeeping_timer,
                                (uv_handle_t *)&d->pump_check,
                                (uv_handle_t *)&d->pump_idle,
                                (uv_handle_t *)&d->sigterm,
                                (uv_handle_t *)&d->sigint,
                                (uv_handle_t *)&d->keys_timer};
    for (size_t i = 0; i < sizeof own / sizeof own[0]; i++)
        if (h == own[i])
            close_walk(h, NULL);
}

/* Lets the api and the links close their own handles before the walk closes what is left: a
 * connection answering a request when the node stops closes from its write callback, which
 * must not find its handles already closed by the walk (libuv asserts). The driver's handles
 * are closed first, so none of its callbacks runs meanwhile. Bounded by `ms`. */
static void drain_parts(struct driver *d, unsigned ms)
{
    uv_walk(&d->loop, close_own_walk, d);
    d->parts_open = (d->api != NULL) + (d->net != NULL);
    if (d->api)
        api_close(d->api, on_part_closed, d);
    if (d->net)
        net_close(d->net, on_part_closed, d);
    uint64_t deadline = driver__now_ms(d) + ms;
    while (d->parts_open > 0 && driver__now_ms(d) < deadline) {
        uv_run(&d->loop, UV_RUN_NOWAIT);
        if (d->parts_open > 0) {
            struct timespec ts = {0, 1000 * 1000};
            nanosleep(&ts, NULL);
        }
    }
}

static void driver_shutdown(struct driver *d)
{
    d->stopping = true;
    /* The Ready being persisted finishes first (its log write may already be durable), and the
     * applies of what was committed, whose clients are answered; no new Ready starts
     * (on_pump_check). */
    while (d->persisting || d->applying.n > 0)
        uv_run(&d->loop, UV_RUN_ONCE);
    /* The next start reads only what is written after this (docs/node.md, "What the node
     * stores"). */
    int rc = d->store ? store_log_index_save(d->store) : TR_EINVAL;
    if (rc != TR_OK && rc != TR_EINVAL) /* EINVAL: a failed store, which writes nothing more */
        tr_log(TR_LOG_WARN, "log_index_save_failed", "error=%s", tr_strerror(rc));
    driver__batch_fail_all(d, 503, "the node is stopping");
    driver__reads_close(d);
    drain_parts(d, 2000);
    uv_walk(&d->loop, close_walk, NULL);
    for (int i = 0; i < 100 && uv_run(&d->loop, UV_RUN_NOWAIT) != 0; i++)
        ;
    uv_loop_close(&d->loop);
    for (size_t i = 0; i < d->n_deferred; i++)
        tr_free(d->deferred[i].data);
    tr_free(d->deferred);
    applies_free(&d->queued);
    applies_free(&d->applying);
    driver__batch_close(d);
    raft_destroy(d->raft);
    ledger_destroy(d->ledger);
    store_close(d->store);
    schema_network_destroy(d->schema);
    genesis_destroy(d->genesis);
    driver__auth_close(d);
    identity_wipe(&d->id);
}

/* Returns an exit code: 2 for what the operator must fix (config, key, genesis, store of another
 * network), 3 for runtime failures. */
int driver_run(const struct driver_options *o, char *err, size_t errlen)
{
    struct driver *d = tr_calloc(1, sizeof *d);
    if (!d)
        return 3;
    int code = 2, rc;
    err[0] = '\0';
    signal(SIGPIPE, SIG_IGN); /* a client that went away is an error on its write, not a kill */
    if (strlen(o->dir) > 4000) {
        snprintf(err, errlen, "--dir: a path of at most 4000 bytes");
        tr_free(d);
        return 2;
    }
    if ((rc = config_load(o->dir, &d->cfg, err, errlen)) != TR_OK)
        goto out;
    enum tr_log_level lvl;
    if (tr_log_level_parse(d->cfg.log_level, &lvl) == TR_OK)
        tr_log_set_level(lvl);
    if ((rc = identity_load(o->dir, d->cfg.org, &d->id, err, errlen)) != TR_OK)
        goto out;
    if ((rc = load_genesis(d, o->dir, o->genesis_path, err, errlen)) != TR_OK)
        goto out;
    struct schema_limits lim;
    schema_limits_default(&lim);
    if ((rc = schema_network_load(d->genesis->schema_doc, &lim, &d->schema, err, errlen)))
        goto out;
    d->self_id = genesis_node_id(d->cfg.org);
    snprintf(d->dir, sizeof d->dir, "%s", o->dir);
    d->tick_ms = d->genesis->tick_ms;
    driver__metrics_init(d);
    if ((rc = open_ledger(d, o->dir, err, errlen)) != TR_OK)
        goto out;
    if ((rc = audit_store_check_tail(d->store, d->ledger, d->cfg.store_check_blocks, err,
                                     errlen)) != TR_OK)
        goto out;
    if ((rc = check_member_key(d, err, errlen)) != TR_OK)
        goto out;
    code = 3;
    if (uv_loop_init(&d->loop) != 0) {
        snprintf(err, errlen, "cannot start the event loop");
        goto out_noloop;
    }
    if ((rc = open_raft(d, err, errlen)) != TR_OK || (rc = open_links(d, err, errlen)) != TR_OK ||
        (rc = open_api(d, err, errlen)) != TR_OK) {
        if (rc == TR_EINVAL)
            code = 2;
        goto out_loop;
    }
    start_loop(d);
    char nid[17];
    hex8(d->genesis->network_id, nid);
    tr_log(TR_LOG_INFO, "node_started",
           "org=%s node_id=%" PRIu64 " network=%s peer=%s:%u api=%s:%u", d->cfg.org, d->self_id,
           nid, d->cfg.peer_host, d->cfg.peer_port, d->cfg.api_host, d->cfg.api_port);
    uv_run(&d->loop, UV_RUN_DEFAULT);
    code = d->exit_code;
out_loop:
    driver_shutdown(d);
    tr_free(d);
    return code;
out_noloop:
out:
    if (d->store)
        driver__batch_close(d);
    ledger_destroy(d->ledger);
    store_close(d->store);
    schema_network_destroy(d->schema);
    genesis_destroy(d->genesis);
    identity_wipe(&d->id);
    tr_free(d);
    return code;
}
