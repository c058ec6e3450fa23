/* election.c — leader election (Raft dissertation §3.4), pre-vote (§9.6) and the vote rules:
 * at most one vote per term (persisted before the answer is sent, see raft_ready), and only for a
 * candidate whose log is at least as up to date (§3.6.1). Randomized timeouts come from the
 * core's seeded PRNG. Called by raft.c (tick, step dispatch) and transfer.c (TimeoutNow). */
#include "consensus/raft_int.h"

#include <string.h>

void raft__reset_randomized_timeout(struct raft *r)
{
    uint32_t e = r->cfg.election_ticks;
    r->randomized_timeout = e + (uint32_t)tr_prng_below(&r->prng, e);
}

static void votes_clear(struct raft *r)
{
    r->n_granted = 0;
    r->n_rejected = 0;
}

/* Common to every role change: a new term forgets the vote; timers restart. */
static void reset(struct raft *r, uint64_t term)
{
    if (term != r->term) {
        r->term = term;
        r->vote = RAFT_NONE;
    }
    r->leader = RAFT_NONE;
    r->election_elapsed = 0;
    r->heartbeat_elapsed = 0;
    raft__reset_randomized_timeout(r);
    raft__transfer_abort(r);
    raft__read_reset(r);
    votes_clear(r);
}

void raft__become_follower(struct raft *r, uint64_t term, uint64_t leader)
{
    reset(r, term);
    r->role = RAFT_FOLLOWER;
    r->leader = leader;
}

/* §4.2.2: "a server that is not part of its own latest configuration should still start new
 * elections, as it might still be needed until the C_new entry is committed" — a leader that
 * removed itself and lost leadership before the change committed may hold the only up-to-date
 * log. It campaigns (without counting its own vote) while that change is pending. */
int raft__promotable(const struct raft *r)
{
#ifdef TREATY_RAFT_BUGS
    if (RAFT__BUG(r, RAFT_BUG_LEARNER_VOTES) && raft_conf_is_learner(raft__conf(r), r->id))
        return 1;
#endif
    return raft__is_voter(r, r->id) || raft__conf_prev_voter_pending(r, r->id);
}

/* Whether `id`'s vote counts in this node's elections. The teeth bug LEARNER_VOTES counts
 * learners as voters, which lets a minority of voters elect a leader. */
static int counts_in_election(const struct raft *r, uint64_t id)
{
#ifdef TREATY_RAFT_BUGS
    if (RAFT__BUG(r, RAFT_BUG_LEARNER_VOTES) && raft_conf_is_learner(raft__conf(r), id))
        return 1;
#endif
    return raft__is_voter(r, id);
}

static uint32_t count_votes(const struct raft *r, const uint64_t *ids, uint32_t n)
{
    uint32_t c = 0;
    for (uint32_t i = 0; i < n; i++)
        c += (uint32_t)counts_in_election(r, ids[i]);
    return c;
}

static int record_vote(struct raft *r, uint64_t from, int granted)
{
    for (uint32_t i = 0; i < r->n_granted; i++)
        if (r->granted[i] == from)
            return 0;
    for (uint32_t i = 0; i < r->n_rejected; i++)
        if (r->rejected[i] == from)
            return 0;
    if (granted && r->n_granted < RAFT_MAX_MEMBERS * 2)
        r->granted[r->n_granted++] = from;
    else if (!granted && r->n_rejected < RAFT_MAX_MEMBERS * 2)
        r->rejected[r->n_rejected++] = from;
    return 1;
}

/* 1 won, -1 lost, 0 undecided. A candidate loses once a majority of voters refused. */
static int tally(const struct raft *r)
{
    uint32_t q = raft__quorum(r);
    uint32_t voters = raft__conf(r)->n_voters;
    if (count_votes(r, r->granted, r->n_granted) >= q)
        return 1;
    if (count_votes(r, r->rejected, r->n_rejected) > voters - q)
        return -1;
    return 0;
}

static void send_vote_requests(struct raft *r, enum raft_msg_type type, uint64_t term, int transfer,
                               const uint64_t *ids, uint32_t n)
{
    struct raft_msg m;
    memset(&m, 0, sizeof(m));
    m.type = type;
    m.term = term;
    m.index = raft__last_index(r);
    m.log_term = raft__last_term(r);
    m.flags = transfer ? RAFT_MSG_FLAG_TRANSFER : 0;
    for (uint32_t i = 0; i < n; i++) {
        if (ids[i] == r->id)
            continue;
        m.to = ids[i];
        raft__send(r, &m);
    }
}

/* §3.4: a candidate increments its term and votes for itself; with pre-vote (§9.6) it first asks
 * whether it could win at term + 1 without touching its term, so a partitioned node that keeps
 * timing out does not inflate its term and depose a healthy leader when it rejoins. */
void raft__campaign(struct raft *r, int pre_vote, int transfer)
{
    if (!raft__promotable(r) || r->role == RAFT_LEADER)
        return;
    uint64_t term;
    enum raft_msg_type type;
    if (pre_vote) {
        votes_clear(r);
        r->role = RAFT_PRE_CANDIDATE;
        r->leader = RAFT_NONE;
        r->election_elapsed = 0;
        raft__reset_randomized_timeout(r);
        term = r->term + 1;
        type = RAFT_MSG_PREVOTE;
    } else {
        reset(r, r->term + 1);
        r->role = RAFT_CANDIDATE;
        r->vote = r->id;
        term = r->term;
        type = RAFT_MSG_VOTE;
    }
    record_vote(r, r->id, 1);
    if (tally(r) == 1) {
        if (pre_vote)
            raft__campaign(r, 0, transfer);
        else
            raft__become_leader(r);
        return;
    }
    const struct raft_conf *c = raft__conf(r);
    send_vote_requests(r, type, term, transfer, c->voters, c->n_voters);
#ifdef TREATY_RAFT_BUGS
    if (RAFT__BUG(r, RAFT_BUG_LEARNER_VOTES))
        send_vote_requests(r, type, term, transfer, c->learners, c->n_learners);
#endif
}

void raft__election_tick(struct raft *r)
{
    r->election_elapsed++;
    if (raft__promotable(r) && r->election_elapsed >= r->randomized_timeout) {
        r->election_elapsed = 0;
        raft__campaign(r, r->cfg.pre_vote, 0);
    }
}

/* §3.6.1: grant only if the candidate's last entry has a higher term, or the same term and an
 * index at least as high as ours. */
static int log_up_to_date(struct raft *r, const struct raft_msg *m)
{
#ifdef TREATY_RAFT_BUGS
    if (RAFT__BUG(r, RAFT_BUG_VOTE_NO_LOG_CHECK))
        return 1;
#endif
    uint64_t last_term = raft__last_term(r);
    return m->log_term > last_term || (m->log_term == last_term && m->index >= raft__last_index(r));
}

/* Called with m->term >= r->term for VOTE, m->term > r->term or == for PREVOTE (raft.c has
 * already applied the term rules and the §4.2.3 lease). */
void raft__handle_vote_request(struct raft *r, const struct raft_msg *m)
{
    int pre = m->type == RAFT_MSG_PREVOTE;
    int can_vote = r->vote == m->from || (r->vote == RAFT_NONE && r->leader == RAFT_NONE) ||
                   (pre && m->term > r->term);
    struct raft_msg resp;
    memset(&resp, 0, sizeof(resp));
    resp.type = pre ? RAFT_MSG_PREVOTE_RESP : RAFT_MSG_VOTE_RESP;
    resp.to = m->from;
    if (can_vote && log_up_to_date(r, m)) {
        /* A granted pre-vote answers in the term asked about, so the pre-candidate counts it. */
        resp.term = m->term;
        if (!pre) {
            r->election_elapsed = 0;
            r->vote = m->from;
        }
    } else {
        resp.term = r->term;
        resp.reject = 1;
    }
    raft__send(r, &resp);
}

void raft__handle_vote_response(struct raft *r, const struct raft_msg *m)
{
    if (!record_vote(r, m->from, !m->reject))
        return;
    int result = tally(r);
    if (result == 1) {
        if (r->role == RAFT_PRE_CANDIDATE)
            raft__campaign(r, 0, 0);
        else
            raft__become_leader(r);
    } else if (result == -1) {
        raft__become_follower(r, r->term, RAFT_NONE);
    }
}
