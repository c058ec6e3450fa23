/* raft.c — the Raft core's lifecycle and event entry points: create/destroy (restart from hard
 * state, membership recovery), tick and step dispatch with the term rules every message obeys
 * (Raft dissertation §3.3, Figure 3.1 "all servers"), proposals, status and names.
 * Invariant: the core only changes through these entry points and never between raft_ready and
 * raft_advance. Called by the driver (node/ or the simulator). */
#include "consensus/raft_int.h"

#include "common/alloc.h"

#include <string.h>

void raft_config_defaults(struct raft_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->election_ticks = 10;
    cfg->heartbeat_ticks = 1;
    cfg->pre_vote = 1;
    cfg->check_quorum = 1;
    cfg->max_inflight = 64;
    cfg->max_append_entries = 64;
    cfg->max_append_bytes = (size_t)1 << 20;
    cfg->max_unstable_entries = 1024;
    cfg->max_unstable_bytes = (size_t)64 << 20;
    cfg->max_entry_bytes = (size_t)16 << 20;
    cfg->max_msgs = 1024;
    cfg->max_apply_entries = 256;
    cfg->max_apply_bytes = (size_t)16 << 20;
    cfg->max_read_requests = 256;
}

/* Zero limits take their defaults. */
static void fill_defaults(struct raft_config *c)
{
    struct raft_config d;
    raft_config_defaults(&d);
#define RAFT__DEFAULT(f)                                                                           \
    if (c->f == 0)                                                                                 \
    c->f = d.f
    RAFT__DEFAULT(election_ticks);
    RAFT__DEFAULT(heartbeat_ticks);
    RAFT__DEFAULT(max_inflight);
    RAFT__DEFAULT(max_append_entries);
    RAFT__DEFAULT(max_append_bytes);
    RAFT__DEFAULT(max_unstable_entries);
    RAFT__DEFAULT(max_unstable_bytes);
    RAFT__DEFAULT(max_entry_bytes);
    RAFT__DEFAULT(max_msgs);
    RAFT__DEFAULT(max_apply_entries);
    RAFT__DEFAULT(max_apply_bytes);
    RAFT__DEFAULT(max_read_requests);
#undef RAFT__DEFAULT
#ifndef TREATY_RAFT_BUGS
    c->bug = RAFT_BUG_NONE;
#endif
}

static int config_valid(const struct raft_config *c)
{
    return c->id != RAFT_NONE && c->log.term && c->log.entry && c->log.last_index &&
           c->election_ticks >= 2 && c->heartbeat_ticks < c->election_ticks &&
           c->max_entry_bytes <= c->max_unstable_bytes &&
           (c->applied <= c->hard_state.commit || c->apply_persisted_only) &&
           c->conf_index <= c->applied && raft__conf_valid(&c->conf) &&
           (unsigned)c->bug < RAFT_BUG__COUNT;
}

static int alloc_buffers(struct raft *r)
{
    const struct raft_config *c = &r->cfg;
    r->inflight_pool = tr_calloc((size_t)RAFT_MAX_MEMBERS * c->max_inflight, sizeof(uint64_t));
    r->reads_pending = tr_calloc(c->max_read_requests, sizeof(*r->reads_pending));
    r->reads_out = tr_calloc(c->max_read_requests, sizeof(*r->reads_out));
    r->msgs = tr_calloc(c->max_msgs, sizeof(*r->msgs));
    r->committed = tr_calloc(c->max_apply_entries, sizeof(*r->committed));
    if (!r->inflight_pool || !r->reads_pending || !r->reads_out || !r->msgs || !r->committed)
        return TR_ENOMEM;
    return raft__log_init(r);
}

/* Restart (raft.h "Restart and membership"): the configuration is the last config entry in the
 * unapplied suffix of the log, else the driver's applied one. Reads entries one at a time. */
static int recover_conf(struct raft *r)
{
    raft__conf_reset(r, &r->cfg.conf, r->cfg.conf_index);
    for (uint64_t i = r->applied + 1; i <= r->stable_last; i++) {
        struct raft_entry e;
        int rc = r->cfg.log.entry(r->cfg.log.ctx, i, &e);
        if (rc != TR_OK)
            return rc;
        if (e.type != RAFT_ENTRY_CONFIG)
            continue;
        e.index = i;
        if (raft__conf_appended(r, &e) != TR_OK)
            return TR_ECORRUPT;
    }
    raft__conf_committed(r, r->commit);
    return TR_OK;
}

static int init_state(struct raft *r)
{
    int rc = r->cfg.log.last_index(r->cfg.log.ctx, &r->stable_last);
    if (rc != TR_OK)
        return rc;
    if (r->cfg.hard_state.commit > r->stable_last || r->cfg.applied > r->stable_last)
        return TR_EINVAL;
    r->term = r->cfg.hard_state.term;
    r->vote = r->cfg.hard_state.vote;
    r->commit = r->cfg.hard_state.commit;
    /* Applied beside the write that carried its commit index, which a crash then lost: what was
     * applied was committed (apply_persisted_only). */
    if (r->cfg.applied > r->commit)
        r->commit = r->cfg.applied;
    r->prev_hs = r->cfg.hard_state;
    r->applied = r->cfg.applied;
    tr_prng_seed(&r->prng, r->cfg.seed);
    rc = alloc_buffers(r);
    if (rc != TR_OK)
        return rc;
    rc = recover_conf(r);
    if (rc != TR_OK)
        return rc;
    raft__become_follower(r, r->term, RAFT_NONE);
    r->prev_role = r->role;
    r->prev_leader = r->leader;
    return TR_OK;
}

int raft_create(const struct raft_config *cfg, struct raft **out)
{
    struct raft_config c = *cfg;
    fill_defaults(&c);
    if (!config_valid(&c))
        return TR_EINVAL;
    struct raft *r = tr_calloc(1, sizeof(*r));
    if (!r)
        return TR_ENOMEM;
    r->cfg = c;
    r->id = c.id;
    int rc = init_state(r);
    if (rc != TR_OK) {
        raft_destroy(r);
        return rc;
    }
    *out = r;
    return TR_OK;
}

void raft_destroy(struct raft *r)
{
    if (!r)
        return;
    raft__log_free(r);
    raft__arena_free(r);
    tr_free(r->inflight_pool);
    tr_free(r->reads_pending);
    tr_free(r->reads_out);
    tr_free(r->msgs);
    tr_free(r->committed);
    tr_free(r);
}

int raft_tick(struct raft *r)
{
    TR_ASSERT(!r->outstanding);
    if (r->err)
        return r->err;
    if (r->role == RAFT_LEADER)
        raft__leader_tick(r);
    else
        raft__election_tick(r);
    return r->err;
}

/* §4.2.3: with check-quorum, a server that heard from a leader within the minimum election
 * timeout ignores vote requests, so a removed or partitioned server cannot depose a live leader
 * — unless the request comes from a leadership transfer (§3.10). */
static int in_lease(const struct raft *r, const struct raft_msg *m)
{
    if (m->flags & RAFT_MSG_FLAG_TRANSFER)
        return 0;
    return r->cfg.check_quorum && r->leader != RAFT_NONE &&
           r->election_elapsed < r->cfg.election_ticks;
}

/* A message from a higher term: 0 to drop it, 1 to go on with r->term possibly raised. */
static int step_higher_term(struct raft *r, const struct raft_msg *m)
{
    int vote = m->type == RAFT_MSG_VOTE || m->type == RAFT_MSG_PREVOTE;
    if (vote && in_lease(r, m))
        return 0;
    /* A pre-vote and a granted pre-vote answer concern a term nobody is in yet (§9.6). */
    if (m->type == RAFT_MSG_PREVOTE || (m->type == RAFT_MSG_PREVOTE_RESP && !m->reject))
        return 1;
    int from_leader = m->type == RAFT_MSG_APPEND || m->type == RAFT_MSG_HEARTBEAT ||
                      m->type == RAFT_MSG_TIMEOUT_NOW;
    raft__become_follower(r, m->term, from_leader ? m->from : RAFT_NONE);
    return 1;
}

/* A message from a lower term is dropped, but a stale leader learns the current term (so it
 * steps down) and a stale (pre-)candidate learns it (§3.4, §9.6). */
static void step_lower_term(struct raft *r, const struct raft_msg *m)
{
    struct raft_msg resp;
    memset(&resp, 0, sizeof(resp));
    resp.to = m->from;
    if (m->type == RAFT_MSG_APPEND || m->type == RAFT_MSG_HEARTBEAT) {
        /* Figure 3.1, AppendEntries: "reply false if term < currentTerm", with currentTerm "for
         * leader to update itself". Always, even with pre-vote and check-quorum off: a stale
         * leader may otherwise never hear the higher term (a node whose configuration lags may
         * not campaign towards it). */
        resp.type = RAFT_MSG_APPEND_RESP;
        resp.reject = 1;
        raft__send(r, &resp);
    } else if (m->type == RAFT_MSG_PREVOTE || m->type == RAFT_MSG_VOTE) {
        /* Figure 3.1, RequestVote: reply false with currentTerm "for candidate to update
         * itself"; a candidate that never hears the higher term could campaign below it
         * forever when the higher-term node cannot reach it. */
        resp.type = m->type == RAFT_MSG_VOTE ? RAFT_MSG_VOTE_RESP : RAFT_MSG_PREVOTE_RESP;
        resp.reject = 1;
        raft__send(r, &resp);
    }
}

/* An APPEND or HEARTBEAT of the current term comes from its one leader (§3.4, Election Safety). */
static void step_from_leader(struct raft *r, const struct raft_msg *m)
{
    if (r->role == RAFT_LEADER)
        return;
    if (r->role != RAFT_FOLLOWER)
        raft__become_follower(r, r->term, m->from);
    r->leader = m->from;
    r->election_elapsed = 0;
    if (m->type == RAFT_MSG_APPEND)
        raft__handle_append(r, m);
    else
        raft__handle_heartbeat(r, m);
}

static void step_current(struct raft *r, const struct raft_msg *m)
{
    switch (m->type) {
    case RAFT_MSG_PREVOTE:
    case RAFT_MSG_VOTE:
        raft__handle_vote_request(r, m);
        break;
    case RAFT_MSG_APPEND:
    case RAFT_MSG_HEARTBEAT:
        step_from_leader(r, m);
        break;
    case RAFT_MSG_APPEND_RESP:
        if (r->role == RAFT_LEADER)
            raft__handle_append_response(r, m);
        break;
    case RAFT_MSG_HEARTBEAT_RESP:
        if (r->role == RAFT_LEADER)
            raft__handle_heartbeat_response(r, m);
        break;
    case RAFT_MSG_VOTE_RESP:
        if (r->role == RAFT_CANDIDATE)
            raft__handle_vote_response(r, m);
        break;
    case RAFT_MSG_PREVOTE_RESP:
        if (r->role == RAFT_PRE_CANDIDATE)
            raft__handle_vote_response(r, m);
        break;
    case RAFT_MSG_TIMEOUT_NOW:
        raft__handle_timeout_now(r, m);
        break;
    }
}

/* A granted pre-vote answer counts only for the term the pre-candidate asked about. */
static int prevote_resp_current(const struct raft *r, const struct raft_msg *m)
{
    if (m->type != RAFT_MSG_PREVOTE_RESP || m->reject)
        return 1;
    return r->role == RAFT_PRE_CANDIDATE && m->term == r->term + 1;
}

int raft_step(struct raft *r, const struct raft_msg *m)
{
    TR_ASSERT(!r->outstanding);
    if (r->err)
        return r->err;
    if (m->to != r->id || m->from == RAFT_NONE || m->from == r->id || m->type < RAFT_MSG_APPEND ||
        m->type > RAFT_MSG_TIMEOUT_NOW)
        return TR_OK;
    if (m->term > r->term) {
        if (!step_higher_term(r, m))
            return TR_OK;
    } else if (m->term < r->term) {
        step_lower_term(r, m);
        return r->err;
    }
    if (!prevote_resp_current(r, m))
        return TR_OK;
    step_current(r, m);
    return r->err;
}

int raft_step_early(struct raft *r, const struct raft_msg *m, const struct raft_msg **msgs,
                    size_t *n_msgs)
{
    *msgs = NULL;
    *n_msgs = 0;
    if (r->err)
        return r->err;
    if (!r->outstanding || r->role != RAFT_LEADER || m->type != RAFT_MSG_APPEND_RESP || m->reject ||
        m->term != r->term || m->to != r->id || m->from == RAFT_NONE || m->from == r->id ||
        raft__conf_pending(r) || !raft__is_voter(r, r->id))
        return TR_EBUSY;
    /* The messages of an earlier early step were sent already: reuse their room. */
    r->n_msgs = r->rd_n_msgs;
    raft__handle_append_response(r, m);
    TR_ASSERT(r->role == RAFT_LEADER);
    *msgs = r->n_msgs > r->rd_n_msgs ? r->msgs + r->rd_n_msgs : NULL;
    *n_msgs = r->n_msgs - r->rd_n_msgs;
    return r->err;
}

static int propose_check(struct raft *r, const uint8_t *data, size_t len)
{
    if (r->err)
        return r->err;
    if (r->role != RAFT_LEADER || !raft__is_voter(r, r->id))
        return TR_ENOTLEADER;
    if (len > r->cfg.max_entry_bytes || (len > 0 && !data))
        return len > 0 && !data ? TR_EINVAL : TR_ELIMIT;
    if (r->transferee != RAFT_NONE)
        return TR_EBUSY;
    return TR_OK;
}

int raft_propose_early(struct raft *r, const uint8_t *data, size_t len, uint64_t *index,
                       const struct raft_msg **msgs, size_t *n_msgs)
{
    *msgs = NULL;
    *n_msgs = 0;
    if (!r->outstanding)
        return r->err ? r->err : TR_EBUSY;
    int rc = propose_check(r, data, len);
    if (rc != TR_OK)
        return rc;
    r->n_msgs = r->rd_n_msgs; /* what earlier early calls returned was sent */
    rc = raft__append_local(r, RAFT_ENTRY_NORMAL, data, len, index);
    *msgs = r->n_msgs > r->rd_n_msgs ? r->msgs + r->rd_n_msgs : NULL;
    *n_msgs = r->n_msgs - r->rd_n_msgs;
    return rc;
}

int raft_propose(struct raft *r, const uint8_t *data, size_t len, uint64_t *index)
{
    TR_ASSERT(!r->outstanding);
    int rc = propose_check(r, data, len);
    return rc != TR_OK ? rc : raft__append_local(r, RAFT_ENTRY_NORMAL, data, len, index);
}

int raft_campaign(struct raft *r)
{
    TR_ASSERT(!r->outstanding);
    if (r->err)
        return r->err;
    if (!raft__promotable(r))
        return TR_EINVAL;
    if (r->role != RAFT_LEADER)
        raft__campaign(r, r->cfg.pre_vote, 0);
    return r->err;
}

void raft_status_get(const struct raft *r, struct raft_status *st)
{
    memset(st, 0, sizeof(*st));
    st->id = r->id;
    st->role = r->role;
    st->term = r->term;
    st->vote = r->vote;
    st->leader = r->leader;
    st->commit = r->commit;
    st->applied = r->applied;
    st->last_index = raft__last_index(r);
    st->stable_index = raft__persisted_index(r);
    st->transferee = r->transferee;
    st->conf_index = raft__conf_index(r);
    st->conf_pending = raft__conf_pending(r);
    st->election_timeout = r->randomized_timeout;
    st->election_elapsed = r->election_elapsed;
    st->msgs_dropped = r->msgs_dropped;
    st->conf = *raft__conf(r);
}

const char *raft_role_name(enum raft_role role)
{
    static const char *const names[] = {"follower", "pre-candidate", "candidate", "leader"};
    if ((unsigned)role >= sizeof(names) / sizeof(names[0]))
        return "?";
    return names[role];
}

const char *raft_msg_type_name(enum raft_msg_type type)
{
    static const char *const names[] = {
        "?",        "append",        "append-resp", "vote",           "vote-resp",
        "pre-vote", "pre-vote-resp", "heartbeat",   "heartbeat-resp", "timeout-now",
    };
    if ((unsigned)type >= sizeof(names) / sizeof(names[0]))
        return "?";
    return names[type];
}

static const char *const bug_names[RAFT_BUG__COUNT] = {
    "none",
    "commit-prev-term",
    "forget-vote-persist",
    "vote-no-log-check",
    "two-membership-changes",
    "learner-votes",
};

const char *raft_bug_name(enum raft_bug bug)
{
    if ((unsigned)bug >= RAFT_BUG__COUNT)
        return "?";
    return bug_names[bug];
}

int raft_bug_parse(const char *name, enum raft_bug *bug)
{
    for (unsigned i = 0; i < RAFT_BUG__COUNT; i++) {
        if (strcmp(name, bug_names[i]) == 0) {
            *bug = (enum raft_bug)i;
            return TR_OK;
        }
    }
    return TR_EINVAL;
}
