/* tnet.h — a tiny in-test network for the Raft core's scenario tests: up to 5 cores, each with
 * an in-memory stable log and a driver loop that follows the Ready contract (persist, send,
 * apply, advance). Messages are deep-copied into one FIFO queue and delivered on demand; links
 * can be cut and nodes stopped. Time moves only through tnet_tick. Used by every test_*.c here. */
#ifndef TREATY_TESTS_UNIT_CONSENSUS_TNET_H
#define TREATY_TESTS_UNIT_CONSENSUS_TNET_H

#include "consensus/raft.h"

#include "common/prng.h"

#include <stddef.h>
#include <stdint.h>

#define TNET_MAX 6

/* The in-memory stable log of one node (entries and data owned). */
struct tlog {
    struct raft_entry *ents;
    size_t n;
    size_t cap;
};

struct tnode {
    uint64_t id;
    struct raft *r; /* NULL while stopped */
    struct tlog log;
    struct raft_hard_state hs;
    uint64_t applied;
    struct raft_conf conf; /* latest applied configuration, as node/ would persist it */
    uint64_t conf_index;
    uint64_t applied_terms[4096]; /* term of each applied index (for log-matching checks) */
    struct raft_read_state reads[64];
    size_t n_reads;
};

struct tnet {
    int n;
    struct tnode nodes[TNET_MAX + 1]; /* by id, 1..n */
    struct raft_config base;          /* limits and flags every node starts with */
    int cut[TNET_MAX + 1][TNET_MAX + 1];
    struct raft_msg *queue;
    size_t q_head;
    size_t q_len;
    size_t q_cap;
    uint64_t delivered[16];            /* per message type */
    uint64_t rejects_to[TNET_MAX + 1]; /* rejected APPEND_RESP sent to a leader id */
    void (*observe)(struct tnet *net, const struct raft_msg *m, void *arg);
    void *observe_arg;
    /* When set, tnet_settle delivers queued messages in random order and drops or duplicates
     * some (percent values), as a real network may. */
    struct tr_prng *chaos;
    uint32_t drop_pct;
    uint32_t dup_pct;
};

/* Fills `net` with `n` nodes (ids 1..n) whose bootstrap configuration has voters 1..n_voters
 * (the others start with an empty configuration, like a joining node), empty logs, and
 * raft_config_defaults as changed by `base` when not NULL (id, log, seed are set per node). */
void tnet_init(struct tnet *net, int n, int n_voters, const struct raft_config *base);
void tnet_free(struct tnet *net);

/* Starts (again) node `id` from what it persisted: hard state, log, applied index and applied
 * configuration. Asserts success. */
void tnet_start(struct tnet *net, uint64_t id);
/* Same, returning raft_create's code instead of asserting success. */
int tnet_try_start(struct tnet *net, uint64_t id);
/* Stops node `id` (its unpersisted state is lost, like a crash). */
void tnet_stop(struct tnet *net, uint64_t id);

/* Runs the driver loop of node `id` until it has no Ready. */
void tnet_process(struct tnet *net, uint64_t id);
/* Processes every node and delivers queued messages until nothing moves. */
void tnet_settle(struct tnet *net);
/* One tick on every running node, then tnet_settle. */
void tnet_tick(struct tnet *net);
void tnet_ticks(struct tnet *net, int k);

/* Cuts or heals both directions between a and b; isolate cuts `id` from everybody. */
void tnet_cut(struct tnet *net, uint64_t a, uint64_t b, int cut);
void tnet_isolate(struct tnet *net, uint64_t id, int cut);

/* Campaigns on `id` and settles; returns the leader id afterwards (0 if none). */
uint64_t tnet_elect(struct tnet *net, uint64_t id);
/* The id of the running leader with the highest term, 0 if none. */
uint64_t tnet_leader(struct tnet *net);
/* Number of running leaders. */
int tnet_count_leaders(struct tnet *net);

struct raft_status tnet_status(struct tnet *net, uint64_t id);
/* Proposes `s` on `id` (no settle); returns the raft_propose code. */
int tnet_propose(struct tnet *net, uint64_t id, const char *s);

/* Stable-log access used by the tests to seed logs before start. */
void tlog_append(struct tlog *log, uint64_t index, uint64_t term, enum raft_entry_type type,
                 const void *data, size_t len);
uint64_t tlog_term(const struct tlog *log, uint64_t index);

/* Steps one hand-made message into `id` and processes it (no settle). */
int tnet_step(struct tnet *net, uint64_t id, const struct raft_msg *m);

#endif
