/* net.c — the simulated network of treaty-sim: every message is deep-copied, given a random
 * delay (so messages reorder), and may be lost, duplicated, cut by a partition (symmetric or one
 * way) or held by a clogged link. Messages wait in a min-heap ordered by (delivery time, send
 * sequence), so delivery order is a pure function of the seed. Called by driver.c and sim.c. */
#include <stdint.h>
#include <string.h>

#include "common/alloc.h"
#include "common/err.h"
#include "sim.h"

void sim_net_init(struct sim_net *net, const struct sim_params *p)
{
    memset(net, 0, sizeof(*net));
    net->delay_min = p->delay_min;
    net->delay_max = p->delay_max;
    net->drop_pm = p->drop_pm;
    net->dup_pm = p->dup_pm;
}

void sim_net_msg_free(struct sim_msg *sm)
{
    if (sm == NULL)
        return;
    if (sm->ents != NULL) {
        for (size_t i = 0; i < sm->m.n_entries; i++)
            tr_free((void *)sm->ents[i].data);
        tr_free(sm->ents);
    }
    tr_free(sm);
}

void sim_net_free(struct sim_net *net)
{
    for (size_t i = 0; i < net->n; i++)
        sim_net_msg_free(net->heap[i]);
    tr_free(net->heap);
    memset(net, 0, sizeof(*net));
}

static int net_before(const struct sim_msg *a, const struct sim_msg *b)
{
    return a->at < b->at || (a->at == b->at && a->seq < b->seq);
}

static void net_sift_up(struct sim_net *net, size_t i)
{
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!net_before(net->heap[i], net->heap[parent]))
            break;
        struct sim_msg *t = net->heap[i];
        net->heap[i] = net->heap[parent];
        net->heap[parent] = t;
        i = parent;
    }
}

static void net_sift_down(struct sim_net *net, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < net->n && net_before(net->heap[l], net->heap[m]))
            m = l;
        if (r < net->n && net_before(net->heap[r], net->heap[m]))
            m = r;
        if (m == i)
            return;
        struct sim_msg *t = net->heap[i];
        net->heap[i] = net->heap[m];
        net->heap[m] = t;
        i = m;
    }
}

/* A deep copy of `m`: the core's Ready buffers die at raft_advance, the network lives on. */
static struct sim_msg *net_copy(const struct raft_msg *m)
{
    struct sim_msg *sm = tr_calloc(1, sizeof(*sm));
    if (sm == NULL)
        return NULL;
    sm->m = *m;
    sm->m.entries = NULL;
    if (m->n_entries == 0)
        return sm;
    sm->ents = tr_calloc(m->n_entries, sizeof(*sm->ents));
    if (sm->ents == NULL)
        goto fail;
    for (size_t i = 0; i < m->n_entries; i++) {
        sm->ents[i] = m->entries[i];
        sm->ents[i].data = NULL;
        if (m->entries[i].len == 0)
            continue;
        uint8_t *d = tr_malloc(m->entries[i].len);
        if (d == NULL)
            goto fail;
        memcpy(d, m->entries[i].data, m->entries[i].len);
        sm->ents[i].data = d;
    }
    sm->m.entries = sm->ents;
    return sm;
fail:
    sim_net_msg_free(sm);
    return NULL;
}

static int net_push(struct sim_net *net, struct sim_msg *sm)
{
    if (net->n == net->cap) {
        size_t cap = net->cap ? net->cap * 2 : 64;
        struct sim_msg **h = tr_realloc(net->heap, cap * sizeof(*h));
        if (h == NULL)
            return TR_ENOMEM;
        net->heap = h;
        net->cap = cap;
    }
    net->heap[net->n++] = sm;
    net_sift_up(net, net->n - 1);
    return TR_OK;
}

/* Queues one copy of `m`, delayed uniformly in [delay_min, delay_max], held by a clog. */
static int net_queue(struct sim_net *net, uint64_t now, const struct raft_msg *m,
                     struct tr_prng *timing)
{
    struct sim_msg *sm = net_copy(m);
    if (sm == NULL)
        return TR_ENOMEM;
    sm->at = now + tr_prng_range(timing, net->delay_min, net->delay_max);
    uint64_t held = net->clog[m->from][m->to];
    if (held > sm->at)
        sm->at = held + (sm->at - now);
    sm->seq = net->seq++;
    int rc = net_push(net, sm);
    if (rc != TR_OK)
        sim_net_msg_free(sm);
    return rc;
}

int sim_net_send(struct sim_net *net, uint64_t now, const struct raft_msg *m,
                 struct tr_prng *faults, struct tr_prng *timing)
{
    TR_ASSERT(m->from >= 1 && m->from <= SIM_MAX_NODES && m->to >= 1 && m->to <= SIM_MAX_NODES);
    net->sent++;
    if (net->cut[m->from][m->to] || tr_prng_chance(faults, net->drop_pm, 1000)) {
        net->dropped++;
        return TR_OK;
    }
    int rc = net_queue(net, now, m, timing);
    if (rc == TR_OK && tr_prng_chance(faults, net->dup_pm, 1000)) {
        net->duplicated++;
        rc = net_queue(net, now, m, timing);
    }
    return rc;
}

uint64_t sim_net_next_at(const struct sim_net *net)
{
    return net->n ? net->heap[0]->at : UINT64_MAX;
}

/* A message cut while in flight is lost when it would arrive: a partition starting after the
 * send still separates the two ends at delivery time. */
struct sim_msg *sim_net_pop(struct sim_net *net)
{
    while (net->n > 0) {
        struct sim_msg *sm = net->heap[0];
        net->heap[0] = net->heap[--net->n];
        net_sift_down(net, 0);
        if (!net->cut[sm->m.from][sm->m.to]) {
            net->delivered++;
            return sm;
        }
        net->dropped++;
        sim_net_msg_free(sm);
    }
    return NULL;
}

void sim_net_partition(struct sim_net *net, uint32_t mask, uint32_t n_nodes)
{
    for (uint32_t a = 1; a <= n_nodes; a++)
        for (uint32_t b = 1; b <= n_nodes; b++)
            if (((mask >> a) & 1u) != ((mask >> b) & 1u))
                net->cut[a][b] = 1;
}

void sim_net_cut_one_way(struct sim_net *net, uint64_t from, uint64_t to)
{
    net->cut[from][to] = 1;
}

void sim_net_clog(struct sim_net *net, uint64_t from, uint64_t to, uint64_t until)
{
    net->clog[from][to] = until;
}

void sim_net_heal(struct sim_net *net, int calm)
{
    memset(net->cut, 0, sizeof(net->cut));
    memset(net->clog, 0, sizeof(net->clog));
    if (calm) {
        net->drop_pm = 0;
        net->dup_pm = 0;
    }
}
