/* raft_int.h — internals of the Raft core shared by the files of consensus/ (never by others).
 * Invariants: commit <= last index; the unstable tail holds exactly the entries appended since
 * the last Ready (raft_advance empties it); membership is the config of the last config entry in
 * the log (§4.1). Functions named raft__* are module-internal; each file says who calls it. */
#ifndef TREATY_CONSENSUS_RAFT_INT_H
#define TREATY_CONSENSUS_RAFT_INT_H

#include "consensus/raft.h"

#include "common/err.h"
#include "common/prng.h"

/* Bug injection ("teeth"): compiled in only with -DTREATY_RAFT_BUGS. */
#ifdef TREATY_RAFT_BUGS
#define RAFT__BUG(r, b) ((r)->cfg.bug == (b))
#endif

/* Configurations kept in memory: the one in effect and the one before it, so truncating the
 * newest config entry can revert the membership (membership.c says why two are enough). */
#define RAFT__CONF_HIST 2

/* ---- log.c: the unstable tail over the driver's stable log ---- */

struct raft__unstable {
    uint64_t offset;         /* index of ents[0]; meaningful when n > 0 */
    struct raft_entry *ents; /* max_unstable_entries + no-op spares; data owned (tr_malloc) */
    size_t n;
    size_t bytes;
};

/* ---- ready.c: an arena of allocations that live until the next raft_advance ---- */

struct raft__chunk;

/* ---- progress.c: the leader's view of one follower (§3.5) ---- */

struct raft__progress {
    uint64_t id;
    uint64_t match;
    uint64_t next;
    enum raft_progress_state state;
    int probe_sent;     /* probe: an append is out, wait for its answer or a heartbeat */
    int recent_active;  /* heard from in this check-quorum window (§6.2) */
    uint64_t *inflight; /* ring of last indexes of appends in flight, cap max_inflight */
    uint32_t in_start;
    uint32_t in_count;
};

struct raft__read {
    uint64_t request_id;
    uint64_t index;
    uint64_t round;
    uint32_t n_acks;
    uint64_t acks[RAFT_MAX_MEMBERS];
};

struct raft__conf_rec {
    uint64_t index;
    struct raft_conf conf;
};

struct raft {
    struct raft_config cfg; /* limits filled with defaults */
    uint64_t id;
    int err; /* sticky log error */
    struct tr_prng prng;

    /* persistent state (§3.8) and what was last handed out for persisting */
    uint64_t term;
    uint64_t vote;
    uint64_t commit;
    struct raft_hard_state prev_hs;

    enum raft_role role;
    uint64_t leader;
    enum raft_role prev_role;
    uint64_t prev_leader;

    /* log */
    struct raft__unstable u;
    uint64_t stable_last; /* last index of the driver's stable log */
    uint64_t applied;     /* last index handed out for apply and advanced */

    /* timers (ticks) */
    uint32_t election_elapsed;
    uint32_t heartbeat_elapsed;
    uint32_t randomized_timeout;

    /* candidate: votes received from voters (ids granted / rejected) */
    uint32_t n_granted;
    uint32_t n_rejected;
    uint64_t granted[RAFT_MAX_MEMBERS * 2];
    uint64_t rejected[RAFT_MAX_MEMBERS * 2];

    /* membership: conf_hist[n_conf - 1] is in effect, conf_hist[0] the one before it */
    struct raft__conf_rec conf_hist[RAFT__CONF_HIST];
    uint32_t n_conf;

    /* leader */
    struct raft__progress prs[RAFT_MAX_MEMBERS];
    uint32_t n_prs;
    uint64_t *inflight_pool;
    uint64_t transferee;
    uint32_t transfer_elapsed;

    /* ReadIndex (§6.4) */
    struct raft__read *reads_pending;
    uint32_t n_reads_pending;
    uint64_t read_round;
    struct raft_read_state *reads_out;
    uint32_t n_reads_out;

    /* output */
    struct raft_msg *msgs;
    uint32_t n_msgs;
    uint64_t msgs_dropped;
    struct raft__chunk *arena;
    struct raft_entry *committed; /* cap max_apply_entries */
    int outstanding;
    /* what the outstanding Ready handed out, applied at advance */
    struct raft_hard_state rd_hs;
    uint64_t rd_last_committed;
    uint32_t rd_n_msgs;  /* msgs[0, rd_n_msgs) are the Ready's; the early calls' come after */
    size_t rd_n_entries; /* unstable entries the Ready handed out (u.ents[0, rd_n_entries)) */
    int rd_has_entries;
};

/* ---- log.c ---- */
int raft__log_init(struct raft *r);
void raft__log_free(struct raft *r);
uint64_t raft__last_index(const struct raft *r);
uint64_t raft__last_term(struct raft *r);
/* Term at `index` (0 for index 0 and for an index past the end); a log error is made sticky. */
uint64_t raft__term(struct raft *r, uint64_t index);
/* 1 if the entry at `index` exists with `term`. */
int raft__match_term(struct raft *r, uint64_t index, uint64_t term);
/* Last index persisted and still part of this node's log. */
uint64_t raft__persisted_index(const struct raft *r);
/* Reads entry `index` into *e with data copied into the arena (or borrowed from the unstable
 * tail when `borrow`). TR_OK, TR_ELIMIT (data longer than max_len, nothing copied), TR_ENOMEM
 * or a log error (made sticky). */
int raft__entry_get(struct raft *r, uint64_t index, int borrow, size_t max_len,
                    struct raft_entry *e);
/* Free room in the unstable tail for `n` entries of `bytes` data bytes. */
int raft__unstable_fits(const struct raft *r, size_t n, size_t bytes);
/* Appends copies of entries (contiguous, first at most last index + 1; a lower first index
 * truncates the log from there, §3.5). Returns how many were appended (stops at the bound or on
 * allocation failure). Updates membership for config entries. */
size_t raft__log_append(struct raft *r, const struct raft_entry *ents, size_t n);
/* Largest index i <= index with term(i) <= term (etcd's findConflictByTerm). */
uint64_t raft__find_conflict_by_term(struct raft *r, uint64_t index, uint64_t term);
/* Empties the unstable tail once the driver persisted it (advance). */
/* The first n unstable entries (those of the Ready just advanced) are persisted. */
void raft__unstable_persisted(struct raft *r, size_t n);

/* ---- ready.c ---- */
void *raft__arena_alloc(struct raft *r, size_t size);
void raft__arena_free(struct raft *r);
/* Queues `m` (from and term filled in unless set) and returns its slot, or NULL when dropped. */
struct raft_msg *raft__send(struct raft *r, const struct raft_msg *m);

/* ---- election.c ---- */
void raft__reset_randomized_timeout(struct raft *r);
void raft__become_follower(struct raft *r, uint64_t term, uint64_t leader);
void raft__campaign(struct raft *r, int pre_vote, int transfer);
void raft__election_tick(struct raft *r);
void raft__handle_vote_request(struct raft *r, const struct raft_msg *m);
void raft__handle_vote_response(struct raft *r, const struct raft_msg *m);
int raft__promotable(const struct raft *r);

/* ---- replication.c ---- */
void raft__become_leader(struct raft *r);
void raft__leader_tick(struct raft *r);
int raft__append_local(struct raft *r, enum raft_entry_type type, const uint8_t *data, size_t len,
                       uint64_t *index);
void raft__send_append(struct raft *r, struct raft__progress *pr, int send_if_empty);
void raft__bcast_append(struct raft *r);
void raft__bcast_heartbeat(struct raft *r, uint64_t context);
void raft__handle_append(struct raft *r, const struct raft_msg *m);
void raft__handle_append_response(struct raft *r, const struct raft_msg *m);
void raft__handle_heartbeat(struct raft *r, const struct raft_msg *m);
void raft__handle_heartbeat_response(struct raft *r, const struct raft_msg *m);
/* Leader: recomputes commit from the voters' match indexes (§3.6.2); 1 if it moved. */
int raft__maybe_commit(struct raft *r);
/* Leader: maybe_commit, then broadcast the new commit and step down if self-removed (§4.2.2).
 * 1 if commit moved. */
int raft__leader_commit(struct raft *r);
/* Leader: a majority of voters heard from in this check-quorum window (§6.2). */
int raft__quorum_active(struct raft *r);
/* Any role: commit moved to `commit`: folds membership, steps a self-removed leader down. */
void raft__commit_to(struct raft *r, uint64_t commit);
int raft__committed_in_term(struct raft *r);

/* ---- progress.c ---- */
struct raft__progress *raft__progress_find(struct raft *r, uint64_t id);
/* Rebuilds the progress set from the membership, keeping known followers' state. */
void raft__progress_sync(struct raft *r, int reset);
void raft__progress_become_probe(struct raft__progress *pr);
void raft__progress_become_replicate(struct raft__progress *pr);
int raft__progress_update(struct raft__progress *pr, uint64_t index);
int raft__progress_decr(struct raft__progress *pr, uint64_t rejected, uint64_t hint);
int raft__progress_paused(const struct raft *r, const struct raft__progress *pr);
void raft__inflight_add(struct raft *r, struct raft__progress *pr, uint64_t index);
void raft__inflight_free_to(struct raft *r, struct raft__progress *pr, uint64_t index);
void raft__inflight_free_first(struct raft *r, struct raft__progress *pr);
/* Number of voters, and the quorum size (§3.6: majority). */
uint32_t raft__quorum(const struct raft *r);

/* ---- membership.c ---- */
/* Sorted, non-zero, bounded, disjoint. */
int raft__conf_valid(const struct raft_conf *c);
const struct raft_conf *raft__conf(const struct raft *r);
uint64_t raft__conf_index(const struct raft *r);
int raft__conf_pending(const struct raft *r);
/* Sets the base configuration (create). */
void raft__conf_reset(struct raft *r, const struct raft_conf *conf, uint64_t index);
/* A config entry was appended at `index`: it is in effect now (§4.1). TR_ECORRUPT when its data
 * does not decode. */
int raft__conf_appended(struct raft *r, const struct raft_entry *e);
/* The log was truncated from `index`: config entries there are reverted. */
void raft__conf_truncated(struct raft *r, uint64_t index);
/* Commit reached `commit`: older config records are folded. */
void raft__conf_committed(struct raft *r, uint64_t commit);
int raft__is_voter(const struct raft *r, uint64_t id);
int raft__is_member(const struct raft *r, uint64_t id);
/* `id` was a voter before the newest config entry, which is not committed yet (§4.2.2). */
int raft__conf_prev_voter_pending(const struct raft *r, uint64_t id);

/* ---- read_index.c ---- */
void raft__read_ack(struct raft *r, uint64_t from, uint64_t round);
void raft__read_reset(struct raft *r);
/* Voters' quorum reached over `ids` (n of them, the leader counted when it is a voter). */
int raft__quorum_of(const struct raft *r, const uint64_t *ids, uint32_t n);

/* ---- transfer.c ---- */
void raft__transfer_tick(struct raft *r);
void raft__transfer_maybe_send(struct raft *r, struct raft__progress *pr);
void raft__handle_timeout_now(struct raft *r, const struct raft_msg *m);
void raft__transfer_abort(struct raft *r);
/* Leader stepping down after removing itself: TimeoutNow to an up-to-date voter. */
void raft__transfer_handoff(struct raft *r);

#endif
