/* failpoint.h — named crash points on the persist and apply paths, for the crash-consistency
 * test (docs/reliability.md "Crash points"). In a build with -DTREATY_FAILPOINTS=ON, the point
 * named by TREATY_FAILPOINT=name[:count][@leader|@follower] kills the process with SIGKILL the
 * count-th time it is reached (counting only passes in that Raft role when one is given): no
 * atexit handler, no flush, no LMDB commit — a real crash. In every other build the macros
 * compile to nothing (their arguments are not even evaluated), and failpoint_arm_env() refuses a
 * set TREATY_FAILPOINT so a test cannot silently arm nothing. */
#ifndef TREATY_NODE_FAILPOINT_H
#define TREATY_NODE_FAILPOINT_H

#include <stdbool.h>
#include <stddef.h>

/* Every point: enum suffix, name (for TREATY_FAILPOINT), where it is. One table, so the names
 * `treaty failpoints` lists are exactly the points compiled in. */
#define FAILPOINT_MAP(X)                                                                           \
    X(PERSIST_BEGIN, "persist-begin",                                                              \
      "log worker got a Ready, nothing written yet (a leader's appends already left)")             \
    X(PERSIST_ENTRIES, "persist-entries", "raft log entries about to be written to the log file")  \
    X(PERSIST_HARD_STATE, "persist-hard-state",                                                    \
      "hard state (term, vote, commit) about to be written")                                       \
    X(PERSIST_APPLIED, "persist-applied",                                                          \
      "committed entries applied and applied index written, before the LMDB commit")               \
    X(PERSIST_COMMITTED, "persist-committed",                                                      \
      "the apply's LMDB commit returned, before its clients are answered")                         \
    X(PERSIST_LAZY_COMMITTED, "persist-lazy-committed",                                            \
      "the same point: every LMDB commit is lazy (MDB_NOMETASYNC)")                                \
    X(PERSIST_VOTE_COMMITTED, "persist-vote-committed",                                            \
      "a new term or vote synced to the log file, before the vote (response) is sent")             \
    X(APPLY_BLOCK_BEGIN, "apply-block-begin",                                                      \
      "a block's apply starts, inside the open transaction")                                       \
    X(APPLY_TX_RUN, "apply-tx-run",                                                                \
      "a tx's records and index rows written (nested txn committed), before its idempotency key")  \
    X(APPLY_IDEMPOTENCY, "apply-idempotency",                                                      \
      "idempotency key recorded, before the tx's Merkle leaf")                                     \
    X(APPLY_MERKLE, "apply-merkle", "a tx leaf appended to the Merkle tree and its id mapped")     \
    X(APPLY_BLOCK_WRITTEN, "apply-block-written",                                                  \
      "block header written, before the head and checkpoint")                                      \
    X(APPLY_CHECKPOINT, "apply-checkpoint",                                                        \
      "a checkpoint recorded at its block, before the commit")                                     \
    X(APPLY_COSIGN, "apply-cosign",                                                                \
      "an org's cosignature of a checkpoint recorded, before the commit")                          \
    X(CHECKPOINT_SIGNED, "checkpoint-signed",                                                      \
      "this node signed a checkpoint, before ordering its cosign tx")                              \
    X(ANSWER_CLIENT, "answer-client", "a tx is applied and durable, before its client is answered")

enum failpoint {
#define FAILPOINT_ENUM(id, name, about) FAILPOINT_##id,
    FAILPOINT_MAP(FAILPOINT_ENUM)
#undef FAILPOINT_ENUM
        FAILPOINT_COUNT
};

#ifdef TREATY_FAILPOINTS
/* Counts a pass through point `fp`; kills the process if it is the armed point's count-th. */
void failpoint_hit(enum failpoint fp);
#define FAILPOINT(id) failpoint_hit(FAILPOINT_##id)
#define FAILPOINT_IF(cond, id)                                                                     \
    do {                                                                                           \
        if (cond)                                                                                  \
            failpoint_hit(FAILPOINT_##id);                                                         \
    } while (0)
/* Tells the points whether this node leads now (for a point armed "@leader" or "@follower"). */
void failpoint_role_set(bool leader);
#define FAILPOINT_ROLE(leader) failpoint_role_set(leader)
#else
#define FAILPOINT(id)          ((void)0)
#define FAILPOINT_IF(cond, id) ((void)0)
#define FAILPOINT_ROLE(leader) ((void)0)
#endif

/* True in a build with -DTREATY_FAILPOINTS=ON. */
bool failpoint_built(void);

/* Name and description of point i < FAILPOINT_COUNT (static strings). */
const char *failpoint_name(size_t i);
const char *failpoint_about(size_t i);

/* Arms the point named by the environment variable TREATY_FAILPOINT ("name[:count][@role]",
 * count 1..1000000, default 1; role "leader" or "follower", default any); unset or empty arms
 * nothing. Call once at start-up, before any
 * thread starts. Returns 0, or -1 with a one-line reason in err: an unknown name, a bad count or
 * role, or a failpoint named in a build without failpoints. */
int failpoint_arm_env(char *err, size_t errlen);

#endif
