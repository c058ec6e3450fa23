/* raft.h — treaty's Raft core: a pure, deterministic state machine (etcd-raft style).
 * Events go in (tick, message, proposal, read request, transfer, membership change); a Ready batch
 * comes out (hard state and entries to persist, messages to send, committed entries to apply, read
 * states); the driver (node/ or the simulator) does persist -> send -> apply, then raft_advance.
 * No I/O, clock, thread or libc randomness: the same inputs give the same outputs, byte for byte.
 * Implements Ongaro's dissertation "Consensus: Bridging Theory and Practice" (2014), cited as §x.y.
 */
#ifndef TREATY_CONSENSUS_RAFT_H
#define TREATY_CONSENSUS_RAFT_H

#include <stddef.h>
#include <stdint.h>

/* ---------------------------------------------------------------------------------------------
 * Limits
 * ------------------------------------------------------------------------------------------- */

/* Most members (voters + learners) one configuration can hold. */
#define RAFT_MAX_MEMBERS 32
/* Node id 0 means "nobody" (no vote, no leader). Real ids are >= 1. */
#define RAFT_NONE 0

/* ---------------------------------------------------------------------------------------------
 * Entries
 * ------------------------------------------------------------------------------------------- */

enum raft_entry_type {
    RAFT_ENTRY_NORMAL = 0, /* application data (a treaty batch) */
    RAFT_ENTRY_CONFIG = 1, /* membership change; data is a raft_conf encoding (below) */
    RAFT_ENTRY_NOOP = 2,   /* appended by a new leader to commit in its term (§3.6.2); no data */
};

/* One log entry. `data` is never owned by the entry itself: who owns it and for how long is said
 * wherever an entry is handed across this interface. */
struct raft_entry {
    uint64_t index;
    uint64_t term;
    enum raft_entry_type type;
    const uint8_t *data;
    size_t len;
};

/* ---------------------------------------------------------------------------------------------
 * Membership (§4.1, §4.4: single-server changes; learners = non-voting members)
 * ------------------------------------------------------------------------------------------- */

enum raft_conf_op {
    RAFT_CONF_ADD_VOTER = 1,   /* new node joins as a voter */
    RAFT_CONF_ADD_LEARNER = 2, /* new node joins as a learner: receives the log, never votes */
    RAFT_CONF_PROMOTE = 3,     /* an existing learner becomes a voter */
    RAFT_CONF_REMOVE = 4,      /* a voter or learner leaves */
};

/* A whole configuration. Ids are kept sorted ascending in both arrays (the core sorts what it
 * builds and checks what it decodes), so iteration order never depends on addresses. A node is in
 * at most one of the two arrays. Learners receive the log; a candidate never asks them for a vote
 * nor counts their answer, and they never count toward a commit or ReadIndex quorum or the
 * check-quorum. A learner still answers a vote request (the candidate's configuration, which may
 * be newer than the learner's, may list it as a voter). */
struct raft_conf {
    uint32_t n_voters;
    uint32_t n_learners;
    uint64_t voters[RAFT_MAX_MEMBERS];
    uint64_t learners[RAFT_MAX_MEMBERS];
};

/* A configuration entry carries the single change that produced it AND the whole resulting
 * configuration, so any one config entry is enough to know the membership after it.
 * Encoding (all integers big-endian):
 *   u8 version (=1) | u8 op | u64 node_id | u32 n_voters | u32 n_learners |
 *   n_voters x u64 | n_learners x u64
 * RAFT_CONF_ENCODED_MAX is the largest encoding. */
#define RAFT_CONF_ENCODED_MAX (1 + 1 + 8 + 4 + 4 + 8 * 2 * RAFT_MAX_MEMBERS)

/* Encodes `conf` (the configuration after the change) with the change (`op`, `node_id`) into
 * `buf` of `cap` bytes; *len receives the encoded size. Returns TR_OK, TR_EINVAL when `conf` is
 * not sorted/disjoint/bounded or `op` unknown, TR_ELIMIT when `cap` is too small. The driver
 * rarely needs this: raft_propose_conf builds config entries itself. */
int raft_conf_encode(const struct raft_conf *conf, enum raft_conf_op op, uint64_t node_id,
                     uint8_t *buf, size_t cap, size_t *len);

/* Decodes a config entry's data. `op`/`node_id` may be NULL. Returns TR_OK or TR_EPARSE
 * (truncated, trailing bytes, bad version/op, unsorted, duplicate, zero id, too many members).
 * The driver calls this when it applies a RAFT_ENTRY_CONFIG entry, to persist the configuration
 * it will pass back as raft_config.conf on restart. */
int raft_conf_decode(const uint8_t *data, size_t len, struct raft_conf *conf, enum raft_conf_op *op,
                     uint64_t *node_id);

/* 1 if `id` is a voter / learner of `conf`. */
int raft_conf_is_voter(const struct raft_conf *conf, uint64_t id);
int raft_conf_is_learner(const struct raft_conf *conf, uint64_t id);

/* ---------------------------------------------------------------------------------------------
 * Messages (§3.4 RequestVote, §3.5 AppendEntries, §9.6 PreVote, §3.10 TimeoutNow)
 * ------------------------------------------------------------------------------------------- */

enum raft_msg_type {
    RAFT_MSG_APPEND = 1,         /* AppendEntries: index/log_term = prev entry, entries, commit */
    RAFT_MSG_APPEND_RESP = 2,    /* success: index = last index now matching the leader;
                                    reject: index = the rejected prev index, hint_index/hint_term
                                    = conflict hints (§5.3 fast backtracking, below) */
    RAFT_MSG_VOTE = 3,           /* RequestVote: index/log_term = candidate's last entry */
    RAFT_MSG_VOTE_RESP = 4,      /* reject = 0 means granted */
    RAFT_MSG_PREVOTE = 5,        /* §9.6: term = the term the sender WOULD campaign in */
    RAFT_MSG_PREVOTE_RESP = 6,   /* term = the pre-vote's term when granted, else responder's */
    RAFT_MSG_HEARTBEAT = 7,      /* commit = min(leader commit, follower match); context = read
                                    round (ReadIndex, §6.4) or 0 */
    RAFT_MSG_HEARTBEAT_RESP = 8, /* context echoed */
    RAFT_MSG_TIMEOUT_NOW = 9,    /* §3.10: the target starts an election at once */
};

/* RAFT_MSG_VOTE flag: the election was started by TimeoutNow (leadership transfer), so the
 * receiver must not ignore it because it heard from a leader recently (§3.10, §4.2.3). */
#define RAFT_MSG_FLAG_TRANSFER 1u

/* One message. Fields a type does not use are zero.
 * Fast backtracking (conflict hints) on a rejected APPEND (Raft dissertation §3.5, last
 * paragraphs; the scheme of etcd's findConflictByTerm): the follower sets hint_index to the largest
 * index i <= min(prev index, its last index) whose term is <= the APPEND's log_term, and hint_term
 * to the term at i (0 for i = 0). The leader then sets next = 1 + the largest index j <= hint_index
 * of its own log whose term is <= hint_term, skipping whole terms at once.
 * Ownership: messages in a Ready are owned by the core and borrowed by the driver (entries and
 * their data included) until raft_advance. raft_step borrows its message for the call only. */
struct raft_msg {
    enum raft_msg_type type;
    uint64_t from;
    uint64_t to;
    uint64_t term;
    uint64_t log_term; /* APPEND: prev entry's term; VOTE/PREVOTE: last entry's term */
    uint64_t index;    /* see the type */
    uint64_t commit;   /* APPEND/HEARTBEAT: what the receiver may commit */
    uint64_t context;  /* HEARTBEAT(_RESP): ReadIndex round */
    uint64_t hint_index;
    uint64_t hint_term;
    uint32_t flags;  /* RAFT_MSG_FLAG_* */
    uint32_t reject; /* *_RESP: 1 = rejected / not granted */
    size_t n_entries;
    const struct raft_entry *entries;
};

/* ---------------------------------------------------------------------------------------------
 * The stable log, as the driver exposes it
 * ------------------------------------------------------------------------------------------- */

/* The persisted log lives outside the core (in LMDB for node/, in memory for tests and the
 * simulator) and is never compacted: index 1 is the first entry. The core reads it through these
 * callbacks and never holds it whole. It only ever reads indexes in [1, last_index()].
 * Every callback returns TR_OK or a negative TR_E* code; an error is sticky (see "Errors").
 *   term:       *term = the term of the entry at `index` (index 0 -> term 0, always valid).
 *   entry:      fills *e with the entry at `index`; e->data is borrowed only until the next
 *               callback or until the raft_* call that made this callback returns; the core
 *               copies what it keeps.
 *   last_index: the index of the last persisted entry (0 when empty).
 * The driver must make entries it persisted from a Ready visible here before raft_advance. */
struct raft_log_ops {
    void *ctx;
    int (*term)(void *ctx, uint64_t index, uint64_t *term);
    int (*entry)(void *ctx, uint64_t index, struct raft_entry *e);
    int (*last_index)(void *ctx, uint64_t *index);
};

/* ---------------------------------------------------------------------------------------------
 * Configuration of one core
 * ------------------------------------------------------------------------------------------- */

/* Bugs that a special build can compile in, so the simulator can prove it catches them ("teeth").
 * The config field `bug` is honoured only when the library is built with -DTREATY_RAFT_BUGS
 * (target treaty_consensus_bugs); the default library ignores it and contains none of this code. */
enum raft_bug {
    RAFT_BUG_NONE = 0,
    RAFT_BUG_COMMIT_PREV_TERM,    /* leader commits previous-term entries by counting (§3.6.2) */
    RAFT_BUG_FORGET_VOTE_PERSIST, /* the vote is not put into the hard state to persist */
    RAFT_BUG_VOTE_NO_LOG_CHECK,   /* vote granted without the up-to-date check (§3.6.1) */
    RAFT_BUG_TWO_MEMBERSHIP_CHANGES, /* a second config change allowed while one is uncommitted */
    RAFT_BUG_LEARNER_VOTES,          /* learners grant votes and count as voters in elections */
    RAFT_BUG__COUNT
};

/* "none", "commit-prev-term", "forget-vote-persist", "vote-no-log-check",
 * "two-membership-changes", "learner-votes"; "?" for a value out of range. */
const char *raft_bug_name(enum raft_bug bug);
/* Parses a name of raft_bug_name into *bug. TR_OK or TR_EINVAL. */
int raft_bug_parse(const char *name, enum raft_bug *bug);

/* The state a node must persist before it sends messages (§3.8, Figure 3.1 "persistent state").
 * `commit` is persisted too so a restart does not re-learn it (it may lag; that is safe). */
struct raft_hard_state {
    uint64_t term;
    uint64_t vote;
    uint64_t commit;
};

/* Everything raft_create needs. Zero-valued limits take the defaults in brackets.
 *
 * Restart and membership. Configuration takes effect when its entry is APPENDED (§4.1), and an
 * uncommitted config entry can be truncated, which reverts the membership. So the membership
 * cannot be a persisted "current config" maintained at append time without redoing that logic in
 * the driver. Instead:
 *   - the driver persists, atomically with each applied entry, the configuration of the latest
 *     APPLIED config entry (raft_conf_decode on its data) together with its index; for a new
 *     network it persists the bootstrap configuration with conf_index 0;
 *   - on restart it passes that as `conf`/`conf_index`, with `applied` = its applied index;
 *   - the core scans the log suffix (applied, last_index] through log_ops for config entries;
 *     the last one found is the current configuration. That scan is bounded by how far apply
 *     lags persistence, never by the length of the ledger.
 * A fresh node that joins an existing network starts with an empty log, applied 0 and an empty
 * `conf` (no voters): it never campaigns until its log holds a configuration that makes it a
 * voter, and learns the configuration from the leader's log. */
struct raft_config {
    uint64_t id; /* this node, >= 1 */
    struct raft_log_ops log;
    struct raft_hard_state hard_state; /* as last persisted; zero for a new node */
    uint64_t applied;                  /* last entry the driver applied (<= hard_state.commit; with
                                          apply_persisted_only it may be above, when the write carrying the commit
                                          index was lost in a crash: the core takes it as committed) */
    struct raft_conf conf;             /* configuration as of `conf_index` (see above) */
    uint64_t conf_index; /* index of the config entry `conf` came from; 0 = bootstrap */
    uint64_t seed;       /* seeds the election-timeout PRNG (common/prng.h) */

    uint32_t election_ticks;  /* minimum election timeout; actual one is uniform in
                                 [election_ticks, 2*election_ticks - 1] (§3.4) [10] */
    uint32_t heartbeat_ticks; /* leader heartbeat interval, < election_ticks [1] */
    int pre_vote;             /* 1: pre-vote phase before elections (§9.6) */
    int check_quorum;         /* 1: leader steps down without a quorum heard from within an
                                 election timeout; followers ignore votes within the minimum
                                 election timeout of hearing from a leader (§4.2.3, §6.2) */

    uint32_t max_inflight;         /* append messages in flight per follower (replicate) [64] */
    uint32_t max_append_entries;   /* entries per append message [64] */
    size_t max_append_bytes;       /* entry data bytes per append message (at least one entry is
                                      always sent) [1 MiB] */
    uint32_t max_unstable_entries; /* unpersisted entries held by the core; proposals beyond it
                                      get TR_EBUSY, appends from a leader are accepted only up
                                      to it [1024] */
    size_t max_unstable_bytes;     /* same, in data bytes [64 MiB] */
    size_t max_entry_bytes;        /* largest proposal; more gets TR_ELIMIT [16 MiB] */
    uint32_t max_msgs;             /* messages queued for one Ready; more are dropped (Raft
                                      tolerates loss; they are counted in raft_status) [1024] */
    uint32_t max_apply_entries;    /* committed entries handed out per Ready [256] */
    size_t max_apply_bytes;        /* same in bytes (at least one entry) [16 MiB] */
    uint32_t max_read_requests;    /* pending ReadIndex requests; more get TR_EBUSY [256] */
    int apply_persisted_only;      /* 1: a Ready hands out for apply only entries persisted by
                                      an earlier Ready, never its own new ones, so a driver may
                                      apply beside the Ready's log write instead of after it;
                                      0: committed entries of the Ready's own entries too [0] */

    enum raft_bug bug; /* honoured only with -DTREATY_RAFT_BUGS (see enum raft_bug) */
};

/* Fills `cfg` with zeros and the defaults above (pre_vote and check_quorum on). The caller still
 * sets id, log, hard_state, applied, conf, conf_index and seed. */
void raft_config_defaults(struct raft_config *cfg);

/* ---------------------------------------------------------------------------------------------
 * Lifecycle
 * ------------------------------------------------------------------------------------------- */

struct raft;

/* Builds a core from `cfg` (copied; log.ctx stays borrowed for the core's whole life).
 * Starts as a follower of term hard_state.term. Returns TR_OK and *out, TR_EINVAL (id 0, bad
 * limits, commit > last index, applied > commit, conf_index > applied, conf invalid), TR_ECORRUPT
 * (a config entry in the scanned suffix does not decode), a log_ops error, or TR_ENOMEM. *out is
 * set only on TR_OK. */
int raft_create(const struct raft_config *cfg, struct raft **out);
/* Frees the core and everything it owns; NULL is fine. Borrowed Ready pointers die with it. */
void raft_destroy(struct raft *r);

/* ---------------------------------------------------------------------------------------------
 * Events in
 *
 * Errors. Every event returns TR_OK or a negative TR_E* code. Refusals (TR_ENOTLEADER, TR_EBUSY,
 * TR_ELIMIT, TR_EINVAL, and TR_ENOMEM from raft_propose*, raft_ready) leave the core unchanged.
 * Inside raft_step/raft_tick an allocation failure costs only a message (dropped, counted in
 * raft_status.msgs_dropped) or accepts fewer entries from a leader; Raft tolerates both. A
 * log_ops error is sticky: the core stops and every later call returns that same code (the node
 * must stop, as on an fsync error).
 *
 * Between raft_ready and raft_advance no event may be delivered (a bug: it asserts); the driver
 * buffers what arrives meanwhile. This keeps every pointer in the outstanding Ready valid. The one
 * exceptions are raft_step_early (a leader's append acknowledgements) and raft_propose_early.
 * ------------------------------------------------------------------------------------------- */

/* One logical clock tick: election timeouts, heartbeats, check-quorum, transfer timeouts. */
int raft_tick(struct raft *r);

/* Delivers a message from a peer. `m` and its entries are borrowed for the call; the core copies
 * what it keeps. Messages of unknown types or not addressed to this node are ignored (TR_OK).
 * Messages from stale terms are dropped, except that the sender of a stale APPEND, HEARTBEAT,
 * VOTE or PREVOTE gets a rejection (APPEND_RESP, VOTE_RESP, PREVOTE_RESP) carrying the current
 * term so it updates itself (Figure 3.1). Returns TR_OK or a sticky log error. */
int raft_step(struct raft *r, const struct raft_msg *m);

/* While a Ready is outstanding (between raft_ready and raft_advance): delivers an APPEND_RESP of
 * the current term to a leader at once, so that the commit index it makes known, and the
 * entries it lets the leader send next, leave without waiting for the leader's own persist (the
 * leader still counts itself only at raft_advance). Changes only the followers' progress, the
 * commit index and the transfer state; never the log, the term, the vote, the role, the read
 * states or anything the outstanding Ready points to. The messages it causes are returned in
 * *msgs / *n_msgs (borrowed until the next raft_step_early or raft_advance) and must be sent
 * now: they are not part of any Ready. Entries it reads through raft_log_ops are the ones
 * persisted before the outstanding Ready. TR_EBUSY when the message must instead wait for
 * raft_step after raft_advance: no Ready is outstanding, not a current-term APPEND_RESP or not a
 * leader, a rejection, or a membership change pending (its commit could change the role).
 * Otherwise like raft_step. */
int raft_step_early(struct raft *r, const struct raft_msg *m, const struct raft_msg **msgs,
                    size_t *n_msgs);

/* Leader only: appends a normal entry with a copy of `data` (len may be 0). *index (may be NULL)
 * gets its log index; it is committed once it appears in a Ready's committed entries with the
 * same index and term (the term is raft_status().term at proposal time).
 * TR_ENOTLEADER (not leader, or leader that removed itself), TR_EBUSY (unstable tail full, or a
 * leadership transfer in progress), TR_ELIMIT (len > max_entry_bytes), TR_ENOMEM. */
int raft_propose(struct raft *r, const uint8_t *data, size_t len, uint64_t *index);

/* raft_propose while a Ready is outstanding: the entry joins the unstable log after the Ready's
 * entries (it is handed out by the next Ready, and counts for the leader only after that one is
 * persisted), and the appends carrying it are returned in *msgs / *n_msgs as raft_step_early's
 * are, to be sent now (a leader may send entries before persisting them, §10.2.1). The
 * outstanding Ready is left as it was. raft_propose's refusals, and TR_EBUSY when no Ready is
 * outstanding. */
int raft_propose_early(struct raft *r, const uint8_t *data, size_t len, uint64_t *index,
                       const struct raft_msg **msgs, size_t *n_msgs);

/* Leader only: proposes one membership change (§4.1, §4.4). The core builds the config entry.
 * Refused with TR_EBUSY while a config entry is uncommitted or before an entry of the leader's
 * own term has committed (§4.1 bug fix: leader must commit in its term first), or during a
 * transfer; TR_EINVAL when the change does not fit the current configuration (adding a member,
 * promoting a non-learner, removing a non-member, removing the last voter, more than
 * RAFT_MAX_MEMBERS); TR_ENOTLEADER; TR_ENOMEM. The new configuration is in effect as soon as it
 * is appended. A leader that removes itself keeps leading (without counting itself) until the
 * entry commits, then steps down (§4.2.2) and sends TimeoutNow to the up-to-date voter with the
 * lowest id, so a successor is elected without waiting for a timeout (§3.10); if it loses
 * leadership before that, it may still campaign until it learns the change committed (see
 * raft_campaign). A removed follower is not sent the entry that removes it (the leader's
 * configuration changed on append), so Raft never tells it: it times out, but its (pre-)votes are
 * ignored by members that hear from the leader (§4.2.3); the driver learns the removal from the
 * committed entry on the remaining members and shuts the node down. */
int raft_propose_conf(struct raft *r, enum raft_conf_op op, uint64_t node_id, uint64_t *index);

/* Leader only: asks for a linearizable read point (§6.4). The core confirms leadership with a
 * heartbeat round; once a majority of voters answered, a raft_read_state {request_id, index} is
 * released in a Ready, index = the commit index when the request was made. The driver serves the
 * read once it has applied up to index. A single-voter cluster releases it at once.
 * TR_ENOTLEADER; TR_EBUSY before the leader has committed an entry of its term (§6.4 step 1),
 * during a transfer, or when max_read_requests are pending. Requests pending when the node stops
 * leading are dropped (the driver fails them when it sees the role change in soft state). */
int raft_read_index(struct raft *r, uint64_t request_id);

/* Leader only: transfers leadership to voter `target` (§3.10). The leader stops taking proposals,
 * brings the target up to date, then sends it TimeoutNow; the transfer is abandoned after one
 * election timeout. TR_ENOTLEADER; TR_EINVAL (target is self, not a voter); TR_EBUSY (another
 * transfer in progress). */
int raft_transfer_leadership(struct raft *r, uint64_t target);

/* Starts an election now as if the election timeout had fired (pre-vote first when enabled).
 * For tests and bootstrap of a single node. TR_EINVAL when this node may not campaign; TR_OK when
 * already leader (no effect). A node campaigns when it is a voter of its latest configuration,
 * or (§4.2.2) when it was a voter before the newest config entry and that entry is not committed
 * yet: then it does not count its own vote. */
int raft_campaign(struct raft *r);

/* ---------------------------------------------------------------------------------------------
 * Ready / advance
 * ------------------------------------------------------------------------------------------- */

enum raft_role {
    RAFT_FOLLOWER = 0,
    RAFT_PRE_CANDIDATE = 1,
    RAFT_CANDIDATE = 2,
    RAFT_LEADER = 3,
};

struct raft_read_state {
    uint64_t request_id;
    uint64_t index;
};

/* What the driver must do, in this order (§3.8, DESIGN.md §3.2 "persist before you send"):
 *  1. persist: if has_hard_state, write hard_state; if n_entries > 0, delete every stable entry
 *     with index >= entries[0].index (truncation of a conflicting suffix, §3.5) and write
 *     entries; make both durable (one fsync) and visible through raft_log_ops.
 *  2. send: msgs, only after step 1 is durable. This covers APPEND_RESP (acknowledging an append
 *     before it is durable is a safety bug), VOTE_RESP (a vote must be durable first) and the
 *     leader's APPENDs (the leader counts its own entries only once persisted, at advance).
 *  3. apply: committed entries, in order (their indexes follow the previous Ready's without gaps);
 *     for RAFT_ENTRY_CONFIG, persist the decoded configuration with the applied index.
 *  4. read states: serve each once applied >= its index.
 *  5. raft_advance.
 * Everything here is owned by the core and borrowed until raft_advance (or raft_destroy).
 * raft_advance stands for the events "entries persisted up to (last entry's index, term)" and
 * "applied up to the last committed entry". */
struct raft_ready {
    int has_hard_state; /* 1 when hard_state changed since the last Ready */
    struct raft_hard_state hard_state;
    const struct raft_entry *entries; /* to persist; ascending, contiguous */
    size_t n_entries;
    const struct raft_msg *msgs;
    size_t n_msgs;
    const struct raft_entry *committed; /* to apply */
    size_t n_committed;
    const struct raft_read_state *reads;
    size_t n_reads;
    int has_soft_state; /* 1 when leader or role changed since the last Ready (informational) */
    uint64_t leader;
    enum raft_role role;
};

/* 1 if a Ready has something to do (and none is outstanding), else 0. */
int raft_has_ready(const struct raft *r);

/* Fills *rd with the pending work and marks it outstanding; calling again before raft_advance
 * is a bug (assert). May read committed entries through log_ops. Returns TR_OK, TR_ENOMEM or a
 * sticky log error; on error nothing is outstanding. An empty Ready is valid. */
int raft_ready(struct raft *r, struct raft_ready *rd);

/* Tells the core the driver did everything in the outstanding Ready. Frees its buffers (every
 * pointer in it dies), lets the leader count its persisted entries, may commit. Returns TR_OK or
 * a sticky log error. */
int raft_advance(struct raft *r);

/* ---------------------------------------------------------------------------------------------
 * Inspection (for the driver's status page, tests and the simulator's invariant checks)
 * ------------------------------------------------------------------------------------------- */

struct raft_status {
    uint64_t id;
    enum raft_role role;
    uint64_t term;
    uint64_t vote;
    uint64_t leader; /* RAFT_NONE when unknown */
    uint64_t commit;
    uint64_t applied;      /* last entry handed out for apply and advanced */
    uint64_t last_index;   /* including unpersisted entries */
    uint64_t stable_index; /* last index known persisted */
    uint64_t transferee;   /* leader: transfer target, else RAFT_NONE */
    uint64_t conf_index;   /* index of the config entry in effect (raft_config.conf_index when the
                              restart/bootstrap configuration is still in effect) */
    int conf_pending;      /* the config in effect is not yet committed */
    uint32_t election_timeout; /* current randomized timeout, ticks */
    uint32_t election_elapsed;
    uint64_t msgs_dropped; /* messages dropped at the max_msgs bound or for lack of memory */
    struct raft_conf conf;
};

/* Copies a snapshot of the core's state into *st (caller-owned). */
void raft_status_get(const struct raft *r, struct raft_status *st);

enum raft_progress_state {
    RAFT_PROGRESS_PROBE = 0,     /* one append at a time until the match point is found */
    RAFT_PROGRESS_REPLICATE = 1, /* pipelined appends, at most max_inflight in flight */
};

/* Leader's view of one follower (§3.5 nextIndex/matchIndex). */
struct raft_progress_info {
    uint64_t match;
    uint64_t next;
    enum raft_progress_state state;
    uint32_t inflight; /* appends sent and not yet acknowledged */
    int recent_active; /* heard from within the current check-quorum window */
    int is_learner;
};

/* Leader only: the progress of member `id`. TR_OK, TR_ENOTLEADER, TR_ENOTFOUND. */
int raft_progress_get(const struct raft *r, uint64_t id, struct raft_progress_info *pi);

/* Name of a role / message type ("leader", "append"...), for logs and the simulator's traces. */
const char *raft_role_name(enum raft_role role);
const char *raft_msg_type_name(enum raft_msg_type type);

/* CONTRACT: v1 */
#endif
