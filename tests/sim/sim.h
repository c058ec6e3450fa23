/* sim.h — internals shared by the files of treaty-sim, the deterministic simulator that runs
 * N real Raft cores (consensus/raft.h) over a simulated network and simulated disks and checks
 * Raft's safety properties after every step. Invariant: every decision comes from the seed (three
 * PRNG streams: faults, timing, workload), so a seed replays byte for byte. Only sim*.c use it. */
#ifndef TREATY_TESTS_SIM_SIM_H
#define TREATY_TESTS_SIM_SIM_H

#include <stddef.h>
#include <stdint.h>

#include "common/prng.h"
#include "consensus/raft.h"

/* Nodes in one simulated network: at most 7 initial voters plus 2 spares (learners/joiners). */
#define SIM_MAX_NODES 9
/* Recent events kept per node and printed on failure. */
#define SIM_RING      24
#define SIM_EVENT_LEN 120
/* Time unit: one tick of a node's clock is about SIM_TICK units (each node drifts a little). */
#define SIM_TICK 100

/* Bugs the simulator can inject. The core's (enum raft_bug) keep their values; the driver's two
 * follow. They exist only in the build with TREATY_RAFT_BUGS (treaty-sim-bugs). */
enum sim_bug {
    SIM_BUG_NONE = 0,
    SIM_BUG_APPLY_BEFORE_PERSIST = RAFT_BUG__COUNT, /* apply committed entries, then persist */
    SIM_BUG_ACK_BEFORE_PERSIST,                     /* send the Ready's messages, then persist */
    SIM_BUG__COUNT
};

/* ---- swarm parameters: drawn per seed from the fault stream (sim.c) ---- */
struct sim_params {
    uint32_t n_voters;   /* initial voters: 3, 5 or 7 */
    uint32_t n_nodes;    /* voters + spares (spares start as learners or outside) */
    uint32_t n_learners; /* spares that start as learners */
    uint32_t steps;      /* events of the safety phase */
    uint32_t delay_min;  /* message delay, time units */
    uint32_t delay_max;  /* message delay, time units */
    uint32_t drop_pm;    /* per-mille chance a message is lost */
    uint32_t dup_pm;     /* per-mille chance a message is delivered twice */
    uint32_t fault_gap;  /* mean time units between fault events */
    uint32_t crash_w;    /* fault weights: crash, partition, one-way cut, clog, heal */
    uint32_t part_w;
    uint32_t oneway_w;
    uint32_t clog_w;
    uint32_t heal_w;
    uint32_t down_max;    /* longest downtime after a crash, time units */
    uint32_t midcrash_pm; /* per-mille: crash between write and fsync (half that: before apply) */
    uint32_t survive_pm;  /* per-mille chance each unsynced record survives a crash */
    uint32_t torn_pm;     /* per-mille chance the last surviving unsynced record is torn */
    uint32_t work_gap;    /* mean time units between client actions */
    uint32_t propose_w;   /* workload weights */
    uint32_t read_w;
    uint32_t conf_w;
    uint32_t transfer_w;
    uint32_t election_ticks; /* raft_config values (swarm: each seed its own) */
    uint32_t heartbeat_ticks;
    int pre_vote;
    int check_quorum;
    uint32_t max_inflight;
    uint32_t max_append_entries;
    int apply_persisted_only; /* the driver applies beside a Ready's write (raft.h); from the
                                 seed's bits, so the fault stream of older seeds is unchanged */
};

/* ---- network (net.c) ---- */

/* One message in flight: a deep copy of what a core sent. */
struct sim_msg {
    uint64_t at;  /* delivery time */
    uint64_t seq; /* send order, breaks ties so the heap order is total */
    struct raft_msg m;
    struct raft_entry *ents; /* owned; m.entries points here */
    int early;               /* taken already by raft_step_early: not delivered again */
};

struct sim_net {
    struct sim_msg **heap; /* min-heap on (at, seq) */
    size_t n, cap;
    uint64_t seq;
    uint8_t cut[SIM_MAX_NODES + 1][SIM_MAX_NODES + 1];   /* [from][to]: messages lost */
    uint64_t clog[SIM_MAX_NODES + 1][SIM_MAX_NODES + 1]; /* [from][to]: held until this time */
    uint32_t delay_min, delay_max, drop_pm, dup_pm;
    uint64_t sent, dropped, duplicated, delivered;
};

void sim_net_init(struct sim_net *net, const struct sim_params *p);
void sim_net_free(struct sim_net *net);
/* Copies `m` into the network, or loses it (cut link, drop chance), maybe twice (dup chance).
 * `faults` decides loss/duplication, `timing` the delay. Returns TR_OK or TR_ENOMEM. */
int sim_net_send(struct sim_net *net, uint64_t now, const struct raft_msg *m,
                 struct tr_prng *faults, struct tr_prng *timing);
/* Delivery time of the next message, UINT64_MAX when none. */
uint64_t sim_net_next_at(const struct sim_net *net);
/* Removes and returns the next message (caller owns it; sim_net_msg_free). NULL when empty. */
struct sim_msg *sim_net_pop(struct sim_net *net);
void sim_net_msg_free(struct sim_msg *sm);
/* Cuts both directions between the nodes of `mask` (bit = node id) and the others. */
void sim_net_partition(struct sim_net *net, uint32_t mask, uint32_t n_nodes);
/* Cuts from -> to only. */
void sim_net_cut_one_way(struct sim_net *net, uint64_t from, uint64_t to);
/* Holds every message from -> to until `until`. */
void sim_net_clog(struct sim_net *net, uint64_t from, uint64_t to, uint64_t until);
/* Removes every cut and clog. With `calm`, also stops loss and duplication. */
void sim_net_heal(struct sim_net *net, int calm);

/* ---- durable storage (store.c) ---- */

/* One entry as the simulator sees it in a node's log: `chain` hashes this entry and every one
 * before it, so equal chains at an index mean equal logs up to it (Log Matching, §3.5). */
struct sim_ent {
    uint64_t term;
    enum raft_entry_type type;
    const uint8_t *data; /* points into the record that wrote it */
    size_t len;
    uint64_t chain;
};

/* A config entry in a log: voters and learners as bit masks of node ids. */
struct sim_conf_at {
    uint64_t index;
    uint32_t voters;
    uint32_t learners;
};

/* A log rebuilt from records: the visible one (page cache: what the core reads) and the durable
 * one (only fsynced records: what a crash with no luck would leave). */
struct sim_view {
    struct sim_ent *e; /* e[0] is index 1 */
    uint64_t n, cap;
    struct raft_hard_state hs;
    struct sim_conf_at *confs; /* config entries of the log, ascending */
    size_t n_confs, cap_confs;
};

struct sim_rec; /* store.c */

/* One node's disk: an append-only file of checksummed records, the first n_synced durable.
 * Plus its state machine, applied atomically and durably with each entry (as one LMDB txn). */
struct sim_store {
    struct sim_rec *recs;
    size_t n_recs, cap_recs, n_synced;
    struct sim_view vis, dur;
    uint64_t applied;       /* last applied index */
    uint64_t applied_chain; /* chain of the applied prefix */
    struct raft_conf conf;  /* configuration of the latest applied config entry */
    uint64_t conf_index;
};

void sim_store_init(struct sim_store *st);
void sim_store_free(struct sim_store *st);
/* Writes records (not yet durable): entries truncate the log at entries[0].index first. */
int sim_store_write_entries(struct sim_store *st, const struct raft_entry *ents, size_t n);
int sim_store_write_hard_state(struct sim_store *st, const struct raft_hard_state *hs);
/* fsync: every written record becomes durable. */
int sim_store_sync(struct sim_store *st);
/* A crash: each unsynced record survives with survive_pm (a prefix: the first loss ends it), the
 * last survivor is torn with torn_pm; then recovery scans checksums and drops the bad tail.
 * Returns how many unsynced records survived. */
size_t sim_store_crash(struct sim_store *st, struct tr_prng *faults, uint32_t survive_pm,
                       uint32_t torn_pm, int *torn);
/* Chain of a view at `index` (0 for index 0); `index` <= view->n. */
uint64_t sim_view_chain(const struct sim_view *v, uint64_t index);
/* The newest config entry of `v` at index <= `max_index`, NULL when none. */
const struct sim_conf_at *sim_view_conf_at(const struct sim_view *v, uint64_t max_index);
/* The raft_log_ops over the visible log. */
struct raft_log_ops sim_store_log_ops(struct sim_store *st);
/* Chain step shared by the log and the state machine. */
uint64_t sim_chain_next(uint64_t prev, uint64_t term, enum raft_entry_type type,
                        const uint8_t *data, size_t len);
uint32_t sim_conf_mask(const uint64_t *ids, uint32_t n);

/* ---- the world ---- */

struct sim_read {
    uint64_t id;
    uint64_t acked_index; /* largest index of a write acknowledged before the read began */
    uint64_t index;       /* read index from the core, 0 until released */
    int node;
};

struct sim_node {
    uint64_t id;
    int up;
    struct raft *r;
    struct sim_store st;
    uint64_t next_tick;
    uint32_t tick_period;
    uint64_t restart_at; /* when down: restart time, UINT64_MAX = stays down */
    uint32_t incarnation;
    enum raft_role role; /* as of the last check */
    uint64_t term;
    uint64_t commit;         /* as of the last check */
    enum raft_role chk_role; /* as of the last check */
    uint64_t chk_term;
    char ring[SIM_RING][SIM_EVENT_LEN];
    uint32_t ring_next, ring_count;
};

struct sim_check; /* check.c */

struct sim_work {
    uint64_t next_id; /* write ids; 8 bytes big-endian in the entry data */
    uint64_t *acked;  /* acked[id] = log index where the write first applied, 0 = not */
    size_t cap_acked;
    uint64_t acked_max; /* largest index of any acknowledged write */
    uint64_t writes_acked;
    struct sim_read *reads;
    size_t n_reads, cap_reads;
    uint64_t next_read_id;
    uint64_t reads_served;
    uint64_t conf_changes;
    uint64_t transfers;
    uint64_t barrier_id; /* liveness: the write that must commit, 0 = none outstanding */
    uint64_t barrier_at; /* when it was proposed */
    uint64_t barrier_index;
};

struct sim {
    uint64_t seed;
    int bug;     /* enum sim_bug; nonzero only in treaty-sim-bugs */
    int verbose; /* print every event as it happens */
    struct sim_params p;
    struct tr_prng faults, timing, work;
    struct sim_node nodes[SIM_MAX_NODES + 1];  /* index = node id; [0] unused */
    uint32_t n;                                /* nodes in use: ids 1..n */
    uint32_t initial_voters, initial_learners; /* bit masks */
    struct sim_net net;
    struct sim_check *chk;
    struct sim_work w;
    uint64_t now;
    uint64_t step;
    int liveness; /* 0 during the safety phase, 1 during the liveness phase */
    uint64_t next_fault, next_work;
    int failed;
    char fail_check[40];
    char fail_detail[512];
    uint64_t crashes, restarts, torn;
};

/* sim.c */
/* Records the first failure (later ones are ignored) as `check` with a printf-style detail. */
void sim_fail(struct sim *s, const char *check, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Appends an event to node `id`'s ring (and prints it with -v). */
void sim_event(struct sim *s, uint64_t id, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* driver.c: one node's lifecycle and its Ready loop (persist, send, apply, advance). */
int sim_node_start(struct sim *s, uint64_t id);
/* Crashes node `id`; `where`: 0 between steps, 1 between write and fsync, 2 before apply. */
void sim_node_crash(struct sim *s, uint64_t id, int where);
/* Runs the Ready loop of node `id` until the core has nothing more (or the node crashed). */
void sim_node_drain(struct sim *s, uint64_t id);
void sim_node_tick(struct sim *s, uint64_t id);
void sim_node_deliver(struct sim *s, struct sim_msg *sm);

/* check.c */
int sim_check_create(struct sim_check **out);
void sim_check_destroy(struct sim_check *c);
/* Log Matching, checked when a node's visible log gets entry `index`. */
void sim_check_append(struct sim *s, uint64_t id, uint64_t index, uint64_t term, uint64_t chain);
/* State-machine safety, checked when node `id` applies `index` with state chain `chain`. */
void sim_check_apply(struct sim *s, uint64_t id, uint64_t index, uint64_t chain);
/* Records a vote that became durable (term, voter -> candidate). */
void sim_check_vote(struct sim *s, uint64_t id, uint64_t term, uint64_t vote);
/* A restarted node's recovered state must be coherent and keep what it applied. */
void sim_check_recovered(struct sim *s, uint64_t id);
/* Every invariant that is a property of a state, after every step. */
void sim_check_step(struct sim *s);
/* Largest committed index seen so far. */
uint64_t sim_check_committed(const struct sim_check *c);
/* Smallest voter count among the configurations that may be active (for the liveness phase). */
uint32_t sim_check_min_voters(struct sim *s);

/* workload.c */
void sim_work_init(struct sim_work *w);
void sim_work_free(struct sim_work *w);
/* One client action at time s->now (safety phase: proposals, reads, membership, transfers). */
void sim_work_act(struct sim *s);
/* A write proposed at leader `id` while its Ready is outstanding (raft_propose_early, as node/
 * does with batches that arrive during a persist); the appends carrying it are sent at once. */
void sim_work_propose_early(struct sim *s, uint64_t id);
/* Liveness phase: keeps one barrier write outstanding; 1 when it is applied on every healed
 * member (`healthy` is the mask of nodes that are up and connected). */
int sim_work_barrier(struct sim *s, uint32_t healthy);
/* Node `id` applied a normal entry at `index` with `data`. */
void sim_work_applied(struct sim *s, uint64_t id, uint64_t index, const uint8_t *data, size_t len);
/* Node `id` released read state (request_id, index). */
void sim_work_read_released(struct sim *s, uint64_t id, uint64_t request_id, uint64_t index);
/* Node `id` stopped leading or crashed: its pending reads are dropped. */
void sim_work_reads_dropped(struct sim *s, uint64_t id);

#endif
