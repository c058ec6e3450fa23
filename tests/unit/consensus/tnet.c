/* tnet.c — the in-test network of tnet.h: in-memory stable logs, a Ready-following driver loop
 * and a FIFO message queue with cut links. Invariant: a node's persisted state (hard state, log,
 * applied, applied configuration) is exactly what a real driver would have on disk. */
#include "tnet.h"

#include "common/err.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

static void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    ck_assert_ptr_nonnull(p);
    return p;
}

/* ---- the in-memory stable log ---- */

static void tlog_truncate(struct tlog *log, uint64_t from)
{
    while (log->n > 0 && log->ents[log->n - 1].index >= from) {
        free((void *)log->ents[log->n - 1].data);
        log->n--;
    }
}

void tlog_append(struct tlog *log, uint64_t index, uint64_t term, enum raft_entry_type type,
                 const void *data, size_t len)
{
    tlog_truncate(log, index);
    ck_assert_uint_eq(index, log->n + 1);
    if (log->n == log->cap) {
        log->cap = log->cap ? log->cap * 2 : 64;
        log->ents = realloc(log->ents, log->cap * sizeof(*log->ents));
        ck_assert_ptr_nonnull(log->ents);
    }
    uint8_t *copy = NULL;
    if (len > 0) {
        copy = xmalloc(len);
        memcpy(copy, data, len);
    }
    struct raft_entry e = {index, term, type, copy, len};
    log->ents[log->n++] = e;
}

uint64_t tlog_term(const struct tlog *log, uint64_t index)
{
    if (index == 0 || index > log->n)
        return 0;
    return log->ents[index - 1].term;
}

static int op_term(void *ctx, uint64_t index, uint64_t *term)
{
    struct tlog *log = ctx;
    if (index > log->n)
        return TR_ENOTFOUND;
    *term = tlog_term(log, index);
    return TR_OK;
}

static int op_entry(void *ctx, uint64_t index, struct raft_entry *e)
{
    struct tlog *log = ctx;
    if (index == 0 || index > log->n)
        return TR_ENOTFOUND;
    *e = log->ents[index - 1];
    return TR_OK;
}

static int op_last(void *ctx, uint64_t *index)
{
    struct tlog *log = ctx;
    *index = log->n;
    return TR_OK;
}

/* ---- nodes ---- */

void tnet_init(struct tnet *net, int n, int n_voters, const struct raft_config *base)
{
    ck_assert_int_le(n, TNET_MAX);
    memset(net, 0, sizeof(*net));
    net->n = n;
    if (base)
        net->base = *base;
    else
        raft_config_defaults(&net->base);
    for (int i = 1; i <= n; i++) {
        struct tnode *nd = &net->nodes[i];
        nd->id = (uint64_t)i;
        /* Joining nodes (ids above n_voters) start without a configuration. */
        for (int v = 1; i <= n_voters && v <= n_voters; v++)
            nd->conf.voters[nd->conf.n_voters++] = (uint64_t)v;
    }
    for (int i = 1; i <= n; i++)
        tnet_start(net, (uint64_t)i);
}

void tnet_start(struct tnet *net, uint64_t id)
{
    int rc = tnet_try_start(net, id);
    ck_assert_msg(rc == TR_OK, "raft_create(%llu): %s", (unsigned long long)id, tr_err_name(rc));
}

int tnet_try_start(struct tnet *net, uint64_t id)
{
    struct tnode *nd = &net->nodes[id];
    ck_assert_ptr_null(nd->r);
    struct raft_config cfg = net->base;
    cfg.id = id;
    cfg.log.ctx = &nd->log;
    cfg.log.term = op_term;
    cfg.log.entry = op_entry;
    cfg.log.last_index = op_last;
    cfg.hard_state = nd->hs;
    cfg.applied = nd->applied;
    cfg.conf = nd->conf;
    cfg.conf_index = nd->conf_index;
    cfg.seed = id * 7919 + net->base.seed;
    return raft_create(&cfg, &nd->r);
}

void tnet_stop(struct tnet *net, uint64_t id)
{
    raft_destroy(net->nodes[id].r);
    net->nodes[id].r = NULL;
}

static void free_msg(struct raft_msg *m)
{
    for (size_t i = 0; i < m->n_entries; i++)
        free((void *)m->entries[i].data);
    free((void *)m->entries);
}

void tnet_free(struct tnet *net)
{
    for (int i = 1; i <= net->n; i++) {
        tnet_stop(net, (uint64_t)i);
        tlog_truncate(&net->nodes[i].log, 1);
        free(net->nodes[i].log.ents);
    }
    for (size_t i = net->q_head; i < net->q_len; i++)
        free_msg(&net->queue[i]);
    free(net->queue);
}

/* ---- the driver loop (raft.h "Ready": persist, send, apply, advance) ---- */

static void enqueue(struct tnet *net, const struct raft_msg *m)
{
    /* Members that exist only in a configuration (ids above n) never answer. */
    if (m->to == 0 || m->to > (uint64_t)net->n || net->cut[m->from][m->to])
        return;
    if (net->q_len == net->q_cap) {
        net->q_cap = net->q_cap ? net->q_cap * 2 : 256;
        net->queue = realloc(net->queue, net->q_cap * sizeof(*net->queue));
        ck_assert_ptr_nonnull(net->queue);
    }
    struct raft_msg *c = &net->queue[net->q_len++];
    *c = *m;
    if (m->n_entries == 0) {
        c->entries = NULL;
        return;
    }
    struct raft_entry *ents = xmalloc(m->n_entries * sizeof(*ents));
    for (size_t i = 0; i < m->n_entries; i++) {
        ents[i] = m->entries[i];
        if (ents[i].len > 0) {
            uint8_t *d = xmalloc(ents[i].len);
            memcpy(d, m->entries[i].data, ents[i].len);
            ents[i].data = d;
        } else {
            ents[i].data = NULL;
        }
    }
    c->entries = ents;
}

static void persist(struct tnode *nd, const struct raft_ready *rd)
{
    if (rd->has_hard_state)
        nd->hs = rd->hard_state;
    for (size_t i = 0; i < rd->n_entries; i++) {
        const struct raft_entry *e = &rd->entries[i];
        tlog_append(&nd->log, e->index, e->term, e->type, e->data, e->len);
    }
}

static void apply(struct tnode *nd, const struct raft_ready *rd)
{
    for (size_t i = 0; i < rd->n_committed; i++) {
        const struct raft_entry *e = &rd->committed[i];
        ck_assert_uint_eq(e->index, nd->applied + 1);
        ck_assert_uint_eq(e->term, tlog_term(&nd->log, e->index));
        nd->applied = e->index;
        if (e->index < sizeof(nd->applied_terms) / sizeof(nd->applied_terms[0]))
            nd->applied_terms[e->index] = e->term;
        if (e->type == RAFT_ENTRY_CONFIG) {
            ck_assert_int_eq(raft_conf_decode(e->data, e->len, &nd->conf, NULL, NULL), TR_OK);
            nd->conf_index = e->index;
        }
    }
    for (size_t i = 0; i < rd->n_reads; i++) {
        ck_assert_uint_lt(nd->n_reads, sizeof(nd->reads) / sizeof(nd->reads[0]));
        nd->reads[nd->n_reads++] = rd->reads[i];
    }
}

void tnet_process(struct tnet *net, uint64_t id)
{
    struct tnode *nd = &net->nodes[id];
    if (!nd->r)
        return;
    for (int guard = 0; raft_has_ready(nd->r); guard++) {
        ck_assert_int_lt(guard, 1000);
        struct raft_ready rd;
        ck_assert_int_eq(raft_ready(nd->r, &rd), TR_OK);
        persist(nd, &rd);
        for (size_t i = 0; i < rd.n_msgs; i++)
            enqueue(net, &rd.msgs[i]);
        apply(nd, &rd);
        ck_assert_int_eq(raft_advance(nd->r), TR_OK);
    }
}

static void deliver(struct tnet *net, struct raft_msg *m)
{
    struct tnode *to = &net->nodes[m->to];
    if (to->r && !net->cut[m->from][m->to]) {
        if (net->observe)
            net->observe(net, m, net->observe_arg);
        if ((unsigned)m->type < 16)
            net->delivered[m->type]++;
        if (m->type == RAFT_MSG_APPEND_RESP && m->reject)
            net->rejects_to[m->to]++;
        ck_assert_int_eq(raft_step(to->r, m), TR_OK);
        tnet_process(net, m->to);
    }
    free_msg(m);
}

void tnet_settle(struct tnet *net)
{
    for (int round = 0; round < 100000; round++) {
        for (int i = 1; i <= net->n; i++)
            tnet_process(net, (uint64_t)i);
        if (net->q_head == net->q_len) {
            net->q_head = net->q_len = 0;
            return;
        }
        if (net->chaos) {
            size_t pick = net->q_head + (size_t)tr_prng_below(net->chaos, net->q_len - net->q_head);
            struct raft_msg t = net->queue[pick];
            net->queue[pick] = net->queue[net->q_head];
            net->queue[net->q_head] = t;
        }
        struct raft_msg m = net->queue[net->q_head++];
        if (net->chaos && tr_prng_chance(net->chaos, net->drop_pct, 100)) {
            free_msg(&m);
            continue;
        }
        if (net->chaos && tr_prng_chance(net->chaos, net->dup_pct, 100))
            enqueue(net, &m);
        deliver(net, &m);
    }
    ck_abort_msg("tnet_settle: the network does not settle");
}

void tnet_tick(struct tnet *net)
{
    for (int i = 1; i <= net->n; i++)
        if (net->nodes[i].r)
            ck_assert_int_eq(raft_tick(net->nodes[i].r), TR_OK);
    tnet_settle(net);
}

void tnet_ticks(struct tnet *net, int k)
{
    for (int i = 0; i < k; i++)
        tnet_tick(net);
}

void tnet_cut(struct tnet *net, uint64_t a, uint64_t b, int cut)
{
    net->cut[a][b] = cut;
    net->cut[b][a] = cut;
}

void tnet_isolate(struct tnet *net, uint64_t id, int cut)
{
    for (int i = 1; i <= net->n; i++)
        if ((uint64_t)i != id)
            tnet_cut(net, id, (uint64_t)i, cut);
}

uint64_t tnet_elect(struct tnet *net, uint64_t id)
{
    ck_assert_int_eq(raft_campaign(net->nodes[id].r), TR_OK);
    tnet_settle(net);
    return tnet_leader(net);
}

struct raft_status tnet_status(struct tnet *net, uint64_t id)
{
    struct raft_status st;
    ck_assert_ptr_nonnull(net->nodes[id].r);
    raft_status_get(net->nodes[id].r, &st);
    return st;
}

uint64_t tnet_leader(struct tnet *net)
{
    uint64_t best = 0, best_term = 0;
    for (int i = 1; i <= net->n; i++) {
        if (!net->nodes[i].r)
            continue;
        struct raft_status st = tnet_status(net, (uint64_t)i);
        if (st.role == RAFT_LEADER && st.term >= best_term) {
            best = (uint64_t)i;
            best_term = st.term;
        }
    }
    return best;
}

int tnet_count_leaders(struct tnet *net)
{
    int c = 0;
    for (int i = 1; i <= net->n; i++)
        if (net->nodes[i].r && tnet_status(net, (uint64_t)i).role == RAFT_LEADER)
            c++;
    return c;
}

int tnet_propose(struct tnet *net, uint64_t id, const char *s)
{
    return raft_propose(net->nodes[id].r, (const uint8_t *)s, strlen(s), NULL);
}

int tnet_step(struct tnet *net, uint64_t id, const struct raft_msg *m)
{
    int rc = raft_step(net->nodes[id].r, m);
    tnet_process(net, id);
    return rc;
}
