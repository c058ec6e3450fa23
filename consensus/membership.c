/* membership.c — cluster membership (Raft dissertation §4.1, §4.4): single-server changes, one
 * at a time, each proposed only after the leader committed an entry of its term; a configuration
 * takes effect as soon as its entry is in the log and is reverted if that entry is truncated.
 * Invariant: conf_hist[n_conf - 1] is the configuration in effect; when n_conf == 2,
 * conf_hist[0] is the one before it, restored if the newest config entry is truncated. Called by
 * log.c, raft.c and the driver. */
#include "consensus/raft_int.h"

#include <string.h>

/* ---- the configuration value and its encoding ---- */

static int ids_find(const uint64_t *ids, uint32_t n, uint64_t id)
{
    uint32_t lo = 0, hi = n;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (ids[mid] == id)
            return (int)mid;
        if (ids[mid] < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

int raft_conf_is_voter(const struct raft_conf *conf, uint64_t id)
{
    return ids_find(conf->voters, conf->n_voters, id) >= 0;
}

int raft_conf_is_learner(const struct raft_conf *conf, uint64_t id)
{
    return ids_find(conf->learners, conf->n_learners, id) >= 0;
}

static int ids_sorted(const uint64_t *ids, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++)
        if (ids[i] == RAFT_NONE || (i > 0 && ids[i - 1] >= ids[i]))
            return 0;
    return 1;
}

/* Sorted, non-zero, bounded and disjoint. */
int raft__conf_valid(const struct raft_conf *c)
{
    if (c->n_voters > RAFT_MAX_MEMBERS || c->n_learners > RAFT_MAX_MEMBERS ||
        c->n_voters + c->n_learners > RAFT_MAX_MEMBERS)
        return 0;
    if (!ids_sorted(c->voters, c->n_voters) || !ids_sorted(c->learners, c->n_learners))
        return 0;
    for (uint32_t i = 0; i < c->n_learners; i++)
        if (raft_conf_is_voter(c, c->learners[i]))
            return 0;
    return 1;
}

static int op_valid(enum raft_conf_op op)
{
    return op >= RAFT_CONF_ADD_VOTER && op <= RAFT_CONF_REMOVE;
}

static uint8_t *put_u64(uint8_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--)
        *p++ = (uint8_t)(v >> (8 * i));
    return p;
}

static uint8_t *put_u32(uint8_t *p, uint32_t v)
{
    for (int i = 3; i >= 0; i--)
        *p++ = (uint8_t)(v >> (8 * i));
    return p;
}

static uint64_t get_be(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v = (v << 8) | p[i];
    return v;
}

int raft_conf_encode(const struct raft_conf *conf, enum raft_conf_op op, uint64_t node_id,
                     uint8_t *buf, size_t cap, size_t *len)
{
    if (!raft__conf_valid(conf) || !op_valid(op) || node_id == RAFT_NONE)
        return TR_EINVAL;
    size_t need = 18 + 8 * ((size_t)conf->n_voters + conf->n_learners);
    if (cap < need)
        return TR_ELIMIT;
    uint8_t *p = buf;
    *p++ = 1;
    *p++ = (uint8_t)op;
    p = put_u64(p, node_id);
    p = put_u32(p, conf->n_voters);
    p = put_u32(p, conf->n_learners);
    for (uint32_t i = 0; i < conf->n_voters; i++)
        p = put_u64(p, conf->voters[i]);
    for (uint32_t i = 0; i < conf->n_learners; i++)
        p = put_u64(p, conf->learners[i]);
    *len = need;
    return TR_OK;
}

int raft_conf_decode(const uint8_t *data, size_t len, struct raft_conf *conf, enum raft_conf_op *op,
                     uint64_t *node_id)
{
    if (len < 18 || data[0] != 1 || !op_valid((enum raft_conf_op)data[1]))
        return TR_EPARSE;
    uint64_t id = get_be(data + 2, 8);
    uint64_t nv = get_be(data + 10, 4), nl = get_be(data + 14, 4);
    if (id == RAFT_NONE || nv > RAFT_MAX_MEMBERS || nl > RAFT_MAX_MEMBERS ||
        len != 18 + 8 * (nv + nl))
        return TR_EPARSE;
    struct raft_conf c;
    memset(&c, 0, sizeof(c));
    c.n_voters = (uint32_t)nv;
    c.n_learners = (uint32_t)nl;
    for (uint32_t i = 0; i < c.n_voters; i++)
        c.voters[i] = get_be(data + 18 + 8 * i, 8);
    for (uint32_t i = 0; i < c.n_learners; i++)
        c.learners[i] = get_be(data + 18 + 8 * (nv + i), 8);
    if (!raft__conf_valid(&c))
        return TR_EPARSE;
    *conf = c;
    if (op)
        *op = (enum raft_conf_op)data[1];
    if (node_id)
        *node_id = id;
    return TR_OK;
}

static void ids_insert(uint64_t *ids, uint32_t *n, uint64_t id)
{
    uint32_t i = *n;
    for (; i > 0 && ids[i - 1] > id; i--)
        ids[i] = ids[i - 1];
    ids[i] = id;
    (*n)++;
}

static void ids_remove(uint64_t *ids, uint32_t *n, uint64_t id)
{
    int at = ids_find(ids, *n, id);
    TR_ASSERT(at >= 0);
    memmove(&ids[at], &ids[at + 1], (*n - (uint32_t)at - 1) * sizeof(ids[0]));
    (*n)--;
}

/* The configuration after one single-server change (§4.1), or TR_EINVAL when the change does
 * not apply to `c`. */
static int conf_apply(const struct raft_conf *c, enum raft_conf_op op, uint64_t id,
                      struct raft_conf *out)
{
    int voter = raft_conf_is_voter(c, id), learner = raft_conf_is_learner(c, id);
    *out = *c;
    switch (op) {
    case RAFT_CONF_ADD_VOTER:
    case RAFT_CONF_ADD_LEARNER:
        if (voter || learner || c->n_voters + c->n_learners >= RAFT_MAX_MEMBERS)
            return TR_EINVAL;
        if (op == RAFT_CONF_ADD_VOTER)
            ids_insert(out->voters, &out->n_voters, id);
        else
            ids_insert(out->learners, &out->n_learners, id);
        return TR_OK;
    case RAFT_CONF_PROMOTE:
        if (!learner)
            return TR_EINVAL;
        ids_remove(out->learners, &out->n_learners, id);
        ids_insert(out->voters, &out->n_voters, id);
        return TR_OK;
    case RAFT_CONF_REMOVE:
        if (learner) {
            ids_remove(out->learners, &out->n_learners, id);
            return TR_OK;
        }
        if (!voter || c->n_voters == 1)
            return TR_EINVAL;
        ids_remove(out->voters, &out->n_voters, id);
        return TR_OK;
    }
    return TR_EINVAL;
}

/* ---- the configuration in effect ---- */

const struct raft_conf *raft__conf(const struct raft *r)
{
    return &r->conf_hist[r->n_conf - 1].conf;
}

uint64_t raft__conf_index(const struct raft *r)
{
    return r->conf_hist[r->n_conf - 1].index;
}

int raft__conf_pending(const struct raft *r)
{
    return raft__conf_index(r) > r->commit;
}

int raft__is_voter(const struct raft *r, uint64_t id)
{
    return raft_conf_is_voter(raft__conf(r), id);
}

int raft__conf_prev_voter_pending(const struct raft *r, uint64_t id)
{
    return r->n_conf == 2 && raft__conf_pending(r) && raft_conf_is_voter(&r->conf_hist[0].conf, id);
}

int raft__is_member(const struct raft *r, uint64_t id)
{
    return raft__is_voter(r, id) || raft_conf_is_learner(raft__conf(r), id);
}

void raft__conf_reset(struct raft *r, const struct raft_conf *conf, uint64_t index)
{
    r->conf_hist[0].index = index;
    r->conf_hist[0].conf = *conf;
    r->n_conf = 1;
}

/* The membership changed: the leader tracks new members and forgets removed ones. */
static void conf_changed(struct raft *r)
{
    if (r->role != RAFT_LEADER)
        return;
    raft__progress_sync(r, 0);
    if (r->transferee != RAFT_NONE && !raft__is_voter(r, r->transferee))
        raft__transfer_abort(r);
}

static void hist_drop_oldest(struct raft *r)
{
    memmove(&r->conf_hist[0], &r->conf_hist[1], (r->n_conf - 1) * sizeof(r->conf_hist[0]));
    r->n_conf--;
}

int raft__conf_appended(struct raft *r, const struct raft_entry *e)
{
    struct raft_conf c;
    if (raft_conf_decode(e->data, e->len, &c, NULL, NULL) != TR_OK)
        return TR_ECORRUPT;
    /* When a log holds config entry C1 and later C2, C1 is committed in the cluster: the leader
     * that appended C2 first committed an entry of its own term (after C1 if C1 is older) or C1
     * itself (one change at a time). Committed entries are never truncated, so only the newest
     * record can ever be reverted, whatever this node's (possibly lagging) commit index says.
     * Two records suffice: the configuration before the newest config entry, and that entry. */
    if (r->n_conf == RAFT__CONF_HIST)
        hist_drop_oldest(r);
    r->conf_hist[r->n_conf].index = e->index;
    r->conf_hist[r->n_conf].conf = c;
    r->n_conf++;
    raft__conf_committed(r, r->commit);
    conf_changed(r);
    return TR_OK;
}

void raft__conf_truncated(struct raft *r, uint64_t index)
{
    uint32_t before = r->n_conf;
    while (r->n_conf > 1 && r->conf_hist[r->n_conf - 1].index >= index)
        r->n_conf--;
#ifndef TREATY_RAFT_BUGS
    TR_ASSERT(r->conf_hist[0].index < index);
#endif
    if (r->n_conf != before)
        conf_changed(r);
}

void raft__conf_committed(struct raft *r, uint64_t commit)
{
    while (r->n_conf > 1 && r->conf_hist[1].index <= commit)
        hist_drop_oldest(r);
}

int raft_propose_conf(struct raft *r, enum raft_conf_op op, uint64_t node_id, uint64_t *index)
{
    TR_ASSERT(!r->outstanding);
    if (r->err)
        return r->err;
    if (r->role != RAFT_LEADER || !raft__is_voter(r, r->id))
        return TR_ENOTLEADER;
    if (!op_valid(op) || node_id == RAFT_NONE)
        return TR_EINVAL;
    /* §4.1: one change at a time; the leader must have committed an entry of its own term
     * first (the fix to single-server changes described in the dissertation's §4.1 note). */
    int pending = raft__conf_pending(r);
#ifdef TREATY_RAFT_BUGS
    if (RAFT__BUG(r, RAFT_BUG_TWO_MEMBERSHIP_CHANGES))
        pending = 0;
#endif
    if (r->transferee != RAFT_NONE || pending || !raft__committed_in_term(r))
        return TR_EBUSY;
    struct raft_conf next;
    int rc = conf_apply(raft__conf(r), op, node_id, &next);
    if (rc != TR_OK)
        return rc;
    uint8_t buf[RAFT_CONF_ENCODED_MAX];
    size_t len = 0;
    rc = raft_conf_encode(&next, op, node_id, buf, sizeof(buf), &len);
    TR_ASSERT(rc == TR_OK);
    return raft__append_local(r, RAFT_ENTRY_CONFIG, buf, len, index);
}
