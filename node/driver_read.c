/* driver_read.c — linearizable reads (Raft dissertation §6.4): a read waits for a read index from
 * the leader's ReadIndex round, then until this node applied that far, and only then runs. On the
 * leader the core's raft_read_index gives the index; another node asks the leader with a
 * ReadIndexReq frame and the leader runs ReadIndex for it and answers with ReadIndexResp. A read
 * not served within limits.read_index_timeout_ms fails (the API answers 503). Invariant: every
 * local read's done is called exactly once: served, timed out, refused or at shutdown. Read ids
 * start at a random point per process: an answer the leader queued for an earlier run of this
 * node (its link's send queue outlives a restart) must never match a read of this run. */
#include "common/alloc.h"
#include "common/err.h"
#include "common/log.h"
#include "node/driver_int.h"
#include "node/wire.h"

#include <inttypes.h>
#include <sodium.h>
#include <string.h>

static uint64_t resend_ms(const struct driver *d)
{
    return d->genesis->election_ms / 4 + 1;
}

static void read_send(struct driver *d, uint64_t to, bool req, uint64_t id, uint64_t index, bool ok)
{
    uint8_t *frame = NULL;
    size_t len = 0;
    int rc = req ? wire_encode_read_req(id, &frame, &len)
                 : wire_encode_read_resp(id, index, ok, &frame, &len);
    if (rc != TR_OK)
        return; /* the asker retries, or times out */
    driver__send(d, to, frame, len);
    tr_free(frame);
}

/* Removes reads[i] (order is not kept). */
static struct driver_read read_take(struct driver *d, size_t i)
{
    struct driver_read e = d->reads[i];
    d->reads[i] = d->reads[--d->n_reads];
    return e;
}

static struct driver_read *read_add(struct driver *d)
{
    if (d->n_reads == d->cap_reads) {
        size_t cap = d->cap_reads ? d->cap_reads * 2 : 16;
        struct driver_read *v = tr_realloc(d->reads, cap * sizeof *v);
        if (!v)
            return NULL;
        d->reads = v;
        d->cap_reads = cap;
    }
    while (d->next_read_id == 0) {
        randombytes_buf(&d->next_read_id, sizeof d->next_read_id);
        d->next_read_id >>= 1; /* 2^63 reads before it wraps */
    }
    struct driver_read *e = &d->reads[d->n_reads++];
    memset(e, 0, sizeof *e);
    e->id = ++d->next_read_id;
    e->deadline_ms = driver__now_ms(d) + d->cfg.read_index_timeout_ms;
    return e;
}

/* Moves a read without its index forward: ReadIndex here as leader, else ask the leader. Returns
 * false when a leader refused a peer's read (the caller drops it after answering). */
static bool read_try(struct driver *d, struct driver_read *e)
{
    if (e->have_index || e->asked)
        return true;
    if (d->role == RAFT_LEADER && d->persisting)
        return true; /* the core takes no event now: asked once the Ready is done */
    if (d->role == RAFT_LEADER) {
        int rc = raft_read_index(d->raft, e->id);
        if (rc == TR_OK) {
            e->asked = true;
            driver__pump_kick(d);
            return true;
        }
        return !e->peer; /* a local read retries until its deadline */
    }
    if (e->peer)
        return false;
    uint64_t now = driver__now_ms(d);
    if (d->leader != RAFT_NONE && d->leader != d->self_id &&
        (!e->sent_ms || now - e->sent_ms >= resend_ms(d))) {
        e->sent_ms = now;
        read_send(d, d->leader, true, e->id, 0, false);
    }
    return true;
}

void driver__backend_read_barrier(void *ctx, void *req, void (*done)(void *req, int rc))
{
    struct driver *d = ctx;
    if (d->stopping || d->n_reads >= d->cfg.max_pending_reads) {
        done(req, d->stopping ? TR_ECLOSED : TR_EBUSY);
        return;
    }
    struct driver_read *e = read_add(d);
    if (!e) {
        done(req, TR_ENOMEM);
        return;
    }
    e->req = req;
    e->done = done;
    read_try(d, e);
    driver__reads_serve(d); /* a single-voter leader may already have the index */
}

void driver__read_frame(struct driver *d, uint64_t peer, const struct wire_frame *f)
{
    if (f->kind == WIRE_READ_REQ) {
        struct driver_read *e =
            d->role == RAFT_LEADER && d->n_reads < d->cfg.max_pending_reads ? read_add(d) : NULL;
        if (!e) {
            read_send(d, peer, false, f->read_id, 0, false);
            return;
        }
        e->peer = peer;
        e->remote_id = f->read_id;
        if (!read_try(d, e)) {
            read_take(d, d->n_reads - 1);
            read_send(d, peer, false, f->read_id, 0, false);
        }
        return;
    }
    for (size_t i = 0; i < d->n_reads; i++) {
        struct driver_read *e = &d->reads[i];
        if (e->peer || e->id != f->read_id || e->have_index)
            continue;
        if (f->read_ok) {
            e->index = f->read_index;
            e->have_index = true;
            driver__reads_serve(d);
        } else {
            e->sent_ms = 0; /* ask again at the next tick */
        }
        return;
    }
}

void driver__reads_ready(struct driver *d, const struct raft_read_state *rs, size_t n)
{
    for (size_t k = 0; k < n; k++) {
        for (size_t i = 0; i < d->n_reads; i++) {
            struct driver_read *e = &d->reads[i];
            if (e->id != rs[k].request_id || e->have_index)
                continue;
            if (e->peer) {
                struct driver_read t = read_take(d, i);
                read_send(d, t.peer, false, t.remote_id, rs[k].index, true);
            } else {
                e->index = rs[k].index;
                e->have_index = true;
            }
            break;
        }
    }
}

void driver__reads_serve(struct driver *d)
{
    for (size_t i = 0; i < d->n_reads;) {
        struct driver_read *e = &d->reads[i];
        if (e->peer || !e->have_index || d->applied < e->index) {
            i++;
            continue;
        }
        struct driver_read t = read_take(d, i);
        t.done(t.req, TR_OK); /* may add reads: d->reads may move */
    }
}

void driver__reads_tick(struct driver *d)
{
    uint64_t now = driver__now_ms(d);
    for (size_t i = 0; i < d->n_reads;) {
        struct driver_read *e = &d->reads[i];
        if (now >= e->deadline_ms) {
            struct driver_read t = read_take(d, i);
            if (!t.peer)
                t.done(t.req, TR_ETIMEOUT);
            continue;
        }
        if (!read_try(d, e)) {
            struct driver_read t = read_take(d, i);
            read_send(d, t.peer, false, t.remote_id, 0, false);
            continue;
        }
        i++;
    }
    driver__reads_serve(d);
}

void driver__reads_leader_changed(struct driver *d)
{
    /* A deposed leader's core forgets its pending rounds: ask again, wherever the leader is. */
    for (size_t i = 0; i < d->n_reads;) {
        struct driver_read *e = &d->reads[i];
        if (e->have_index) {
            i++;
            continue;
        }
        if (e->peer && d->role != RAFT_LEADER) {
            struct driver_read t = read_take(d, i);
            read_send(d, t.peer, false, t.remote_id, 0, false);
            continue;
        }
        e->asked = false;
        e->sent_ms = 0;
        i++;
    }
}

void driver__reads_close(struct driver *d)
{
    while (d->n_reads > 0) {
        struct driver_read t = read_take(d, d->n_reads - 1);
        if (!t.peer)
            t.done(t.req, TR_ECLOSED);
    }
    tr_free(d->reads);
    d->reads = NULL;
    d->cap_reads = 0;
}
