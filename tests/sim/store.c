/* store.c — one simulated node's disk: an append-only file of checksummed records (log entries
 * and hard states) of which a prefix is fsynced. A crash keeps the synced prefix, a random prefix
 * of the unsynced tail, and may tear the last survivor; recovery drops everything from the first
 * record whose checksum fails, as a real write-ahead log does. The visible view is what the core
 * reads through raft_log_ops; the durable view is what survives the unluckiest crash. */
#include <string.h>

#include "common/alloc.h"
#include "common/err.h"
#include "sim.h"

enum { SIM_REC_ENTRY = 1, SIM_REC_HARD = 2 };

struct sim_rec {
    int kind;
    uint64_t index, term;
    enum raft_entry_type type;
    uint8_t *data; /* owned */
    size_t len;
    struct raft_hard_state hs;
    uint64_t sum; /* checksum of every field above; a torn write breaks it */
};

static uint64_t store_mix(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static uint64_t store_hash_bytes(uint64_t h, const uint8_t *data, size_t len)
{
    for (size_t i = 0; i < len; i++)
        h = (h ^ data[i]) * 0x100000001b3ULL;
    return h;
}

uint64_t sim_chain_next(uint64_t prev, uint64_t term, enum raft_entry_type type,
                        const uint8_t *data, size_t len)
{
    uint64_t h = store_hash_bytes(0xcbf29ce484222325ULL, data, len);
    h = store_mix(h ^ store_mix(prev + 0x9e3779b97f4a7c15ULL));
    h = store_mix(h ^ (term * 0x9e3779b97f4a7c15ULL));
    return store_mix(h ^ ((uint64_t)(uint32_t)type + 1) ^ ((uint64_t)len << 8));
}

uint32_t sim_conf_mask(const uint64_t *ids, uint32_t n)
{
    uint32_t mask = 0;
    for (uint32_t i = 0; i < n; i++) {
        TR_ASSERT(ids[i] >= 1 && ids[i] <= SIM_MAX_NODES);
        mask |= 1u << ids[i];
    }
    return mask;
}

static uint64_t store_rec_sum(const struct sim_rec *r)
{
    uint64_t h = store_mix((uint64_t)(uint32_t)r->kind * 0x51ULL ^ r->index);
    h = store_mix(h ^ r->term ^ ((uint64_t)(uint32_t)r->type << 60));
    h = store_mix(h ^ r->hs.term ^ store_mix(r->hs.vote ^ store_mix(r->hs.commit)));
    return store_hash_bytes(h, r->data, r->len);
}

static void view_reset(struct sim_view *v)
{
    v->n = 0;
    v->n_confs = 0;
    memset(&v->hs, 0, sizeof(v->hs));
}

static void view_free(struct sim_view *v)
{
    tr_free(v->e);
    tr_free(v->confs);
    memset(v, 0, sizeof(*v));
}

static void view_push_conf(struct sim_view *v, uint64_t index, const struct sim_rec *r)
{
    struct raft_conf conf;
    TR_ASSERT(raft_conf_decode(r->data, r->len, &conf, NULL, NULL) == TR_OK);
    if (v->n_confs == v->cap_confs) {
        size_t cap = v->cap_confs ? v->cap_confs * 2 : 8;
        struct sim_conf_at *c = tr_realloc(v->confs, cap * sizeof(*c));
        TR_ASSERT(c != NULL);
        v->confs = c;
        v->cap_confs = cap;
    }
    struct sim_conf_at *at = &v->confs[v->n_confs++];
    at->index = index;
    at->voters = sim_conf_mask(conf.voters, conf.n_voters);
    at->learners = sim_conf_mask(conf.learners, conf.n_learners);
}

/* Replays one record into a view: an entry replaces everything from its index on (§3.5). */
static void view_apply(struct sim_view *v, const struct sim_rec *r)
{
    if (r->kind == SIM_REC_HARD) {
        v->hs = r->hs;
        return;
    }
    TR_ASSERT(r->index >= 1 && r->index <= v->n + 1);
    v->n = r->index - 1;
    while (v->n_confs > 0 && v->confs[v->n_confs - 1].index >= r->index)
        v->n_confs--;
    if (v->n == v->cap) {
        uint64_t cap = v->cap ? v->cap * 2 : 64;
        struct sim_ent *e = tr_realloc(v->e, (size_t)cap * sizeof(*e));
        TR_ASSERT(e != NULL);
        v->e = e;
        v->cap = cap;
    }
    struct sim_ent *e = &v->e[v->n++];
    e->term = r->term;
    e->type = r->type;
    e->data = r->data;
    e->len = r->len;
    e->chain = sim_chain_next(sim_view_chain(v, r->index - 1), r->term, r->type, r->data, r->len);
    if (r->type == RAFT_ENTRY_CONFIG)
        view_push_conf(v, r->index, r);
}

void sim_store_init(struct sim_store *st)
{
    memset(st, 0, sizeof(*st));
}

static void store_drop_recs(struct sim_store *st, size_t from)
{
    for (size_t i = from; i < st->n_recs; i++)
        tr_free(st->recs[i].data);
    st->n_recs = from;
}

void sim_store_free(struct sim_store *st)
{
    store_drop_recs(st, 0);
    tr_free(st->recs);
    view_free(&st->vis);
    view_free(&st->dur);
    memset(st, 0, sizeof(*st));
}

static struct sim_rec *store_new_rec(struct sim_store *st)
{
    if (st->n_recs == st->cap_recs) {
        size_t cap = st->cap_recs ? st->cap_recs * 2 : 128;
        struct sim_rec *r = tr_realloc(st->recs, cap * sizeof(*r));
        if (r == NULL)
            return NULL;
        st->recs = r;
        st->cap_recs = cap;
    }
    struct sim_rec *r = &st->recs[st->n_recs];
    memset(r, 0, sizeof(*r));
    return r;
}

int sim_store_write_entries(struct sim_store *st, const struct raft_entry *ents, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        struct sim_rec *r = store_new_rec(st);
        if (r == NULL)
            return TR_ENOMEM;
        r->kind = SIM_REC_ENTRY;
        r->index = ents[i].index;
        r->term = ents[i].term;
        r->type = ents[i].type;
        r->len = ents[i].len;
        if (r->len > 0) {
            r->data = tr_malloc(r->len);
            if (r->data == NULL)
                return TR_ENOMEM;
            memcpy(r->data, ents[i].data, r->len);
        }
        r->sum = store_rec_sum(r);
        st->n_recs++;
        view_apply(&st->vis, r);
    }
    return TR_OK;
}

int sim_store_write_hard_state(struct sim_store *st, const struct raft_hard_state *hs)
{
    struct sim_rec *r = store_new_rec(st);
    if (r == NULL)
        return TR_ENOMEM;
    r->kind = SIM_REC_HARD;
    r->hs = *hs;
    r->sum = store_rec_sum(r);
    st->n_recs++;
    view_apply(&st->vis, r);
    return TR_OK;
}

int sim_store_sync(struct sim_store *st)
{
    for (size_t i = st->n_synced; i < st->n_recs; i++)
        view_apply(&st->dur, &st->recs[i]);
    st->n_synced = st->n_recs;
    return TR_OK;
}

/* Recovery: keep records up to the first bad checksum, rebuild both views from them. */
static void store_recover(struct sim_store *st)
{
    size_t good = 0;
    while (good < st->n_recs && store_rec_sum(&st->recs[good]) == st->recs[good].sum)
        good++;
    store_drop_recs(st, good);
    st->n_synced = st->n_recs;
    view_reset(&st->vis);
    view_reset(&st->dur);
    for (size_t i = 0; i < st->n_recs; i++) {
        view_apply(&st->vis, &st->recs[i]);
        view_apply(&st->dur, &st->recs[i]);
    }
}

size_t sim_store_crash(struct sim_store *st, struct tr_prng *faults, uint32_t survive_pm,
                       uint32_t torn_pm, int *torn)
{
    size_t keep = st->n_synced;
    while (keep < st->n_recs && tr_prng_chance(faults, survive_pm, 1000))
        keep++;
    *torn = 0;
    if (keep > st->n_synced && tr_prng_chance(faults, torn_pm, 1000)) {
        st->recs[keep - 1].sum ^= 0x5a5a5a5aULL; /* part of the record never reached the disk */
        *torn = 1;
    }
    size_t survived = keep - st->n_synced;
    store_drop_recs(st, keep);
    store_recover(st);
    return survived;
}

uint64_t sim_view_chain(const struct sim_view *v, uint64_t index)
{
    TR_ASSERT(index <= v->n);
    return index == 0 ? 0 : v->e[index - 1].chain;
}

const struct sim_conf_at *sim_view_conf_at(const struct sim_view *v, uint64_t max_index)
{
    for (size_t i = v->n_confs; i > 0; i--)
        if (v->confs[i - 1].index <= max_index)
            return &v->confs[i - 1];
    return NULL;
}

static int store_op_term(void *ctx, uint64_t index, uint64_t *term)
{
    struct sim_store *st = ctx;
    if (index > st->vis.n)
        return TR_ENOTFOUND;
    *term = index == 0 ? 0 : st->vis.e[index - 1].term;
    return TR_OK;
}

static int store_op_entry(void *ctx, uint64_t index, struct raft_entry *e)
{
    struct sim_store *st = ctx;
    if (index == 0 || index > st->vis.n)
        return TR_ENOTFOUND;
    const struct sim_ent *s = &st->vis.e[index - 1];
    e->index = index;
    e->term = s->term;
    e->type = s->type;
    e->data = s->data;
    e->len = s->len;
    return TR_OK;
}

static int store_op_last_index(void *ctx, uint64_t *index)
{
    struct sim_store *st = ctx;
    *index = st->vis.n;
    return TR_OK;
}

struct raft_log_ops sim_store_log_ops(struct sim_store *st)
{
    struct raft_log_ops ops = {
        .ctx = st,
        .term = store_op_term,
        .entry = store_op_entry,
        .last_index = store_op_last_index,
    };
    return ops;
}
