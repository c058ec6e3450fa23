/* driver_int.h — the node driver's state, shared by driver.c (start-up, loop, the Ready pump),
 * driver_batch.c (txs from the API into signed batches, waiting for their outcome) and
 * driver_members.c (peer links and Raft membership that follow the ledger's member list).
 * Invariant: one uv loop thread owns everything here and the Raft core; the only other threads
 * are the log worker (driver.c), which writes and syncs one Ready's entries and hard state, and
 * the apply worker, which applies the committed entries queued from earlier Readys in one LMDB
 * write transaction, both while the loop keeps serving. While a Ready is outstanding the core
 * takes no events: frames, ticks and proposals are deferred and replayed after raft_advance.
 * Nothing is acknowledged before its log entry is durable on a majority and the LMDB commit that
 * applied it returned (that commit is lazy: a crash can undo it, and restart redoes it from the
 * durable log). */
#ifndef TREATY_NODE_DRIVER_INT_H
#define TREATY_NODE_DRIVER_INT_H

#include "api/api.h"
#include "consensus/raft.h"
#include "node/apikeys.h"
#include "node/config.h"
#include "node/genesis.h"
#include "node/identity.h"
#include "node/ledger.h"
#include "node/batch.h"
#include "node/net.h"
#include "node/store.h"
#include "schema/schema.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#define DRIVER_COSIGN_WINDOW     256   /* latest checkpoints checked for our cosignature */
#define DRIVER_COSIGN_RESEND_MS  2000  /* a cosignature not applied by then is sent again, */
#define DRIVER_COSIGN_RESEND_MAX 60000 /* the wait doubling after each send up to this */

/* Signed batches not yet seen applied; past it (and past node.json limits.max_pending_writes
 * writes waiting for their outcome) a write is refused with 503 and nothing is proposed. Each
 * flight holds at most batch.max_txs txs, so max_pending_writes is the bound that matters. */
#define DRIVER_MAX_FLIGHTS 4096u

/* One tx a client waits for: answered once the ledger applied it (committed or rejected). */
struct driver_waiter {
    char tx_id[33];
    int op; /* BATCH_OP_* of the first op: decides 201 vs 200 */
    char type[128], key[272];
    uint64_t submit_ns; /* uv_hrtime() at submit, for the commit latency metric */
    void *req;          /* the API's request, borrowed until done is called */
    api_done_fn done;
    api_record_done_fn done_record; /* nullable: then the record is parsed and given to done */
};

/* One tx of the open batch: owned copies of what batch_build_entry borrows. */
struct driver_ptx {
    char id[33];
    char *idem;           /* NULL when none */
    struct batch_op *ops; /* type/key/body strings owned */
    size_t n_ops;
    /* A governance tx travels alone in its batch: gov.kind != 0, strings owned. */
    struct batch_gov gov;
    uint8_t gov_pk[32];
};

/* One linearizable read waiting for its read index and then for apply (driver_read.c). */
struct driver_read {
    uint64_t id;        /* the ReadIndex request id: raft_read_index here, or sent to the leader */
    uint64_t peer;      /* 0: this node's API read; else the node that asked this leader */
    uint64_t remote_id; /* the asker's id (peer != 0) */
    uint64_t index;     /* the read index, once have_index */
    bool have_index, asked;
    uint64_t sent_ms, deadline_ms; /* last ask of the leader; loop time the read fails at */
    void *req;                     /* the API's request, borrowed until done is called */
    void (*done)(void *req, int rc);
};

/* driver_waiter.op values beyond the record ops */
#define DRIVER_WAIT_GOV_PROPOSE 100
#define DRIVER_WAIT_GOV_OTHER   101

/* A signed batch sent for ordering and not yet seen applied: resent, re-signed with a new
 * sequence number, after a leader change or when it is overdue. */
struct driver_flight {
    struct driver_ptx *txs;
    size_t n_txs;
    size_t n_done; /* txs whose outcome was applied */
    uint64_t seq;
    uint64_t sent_ms; /* loop time of the last send */
};

/* What the key file looked like when last loaded (driver_auth.c compares it every second). */
struct driver_keys_stat {
    bool exists;
    uint64_t dev, ino, size, mtime_ns;
};

/* Outcomes of one Ready, answered to clients only after the commit. */
struct pump_outcomes {
    struct ledger_tx_outcome *v;
    size_t n, cap;
    uint64_t *checkpoints; /* heights of the checkpoints due, ascending (one Ready may apply
                              several: each is cosigned) */
    size_t n_checkpoints, cap_checkpoints;
    bool members_changed;
};

/* Committed entries copied out of Readys, in order; each data is owned (tr_malloc). */
struct driver_applies {
    struct raft_entry *v;
    size_t n, cap;
    size_t bytes;
};

/* An event that reached the loop while a Ready was outstanding (the core takes none then). */
enum driver_deferred_kind {
    DRIVER_DEFER_FRAME = 1,   /* a peer frame, replayed through on_frame */
    DRIVER_DEFER_PROPOSE = 2, /* an entry to order as leader (driver__order) */
};
struct driver_deferred {
    enum driver_deferred_kind kind;
    uint64_t peer;
    uint8_t *data; /* owned */
    size_t len;
};

/* Bytes of deferred frames and proposals held at most; past it frames are dropped (Raft tolerates
 * loss; forwarded batches are resent when overdue). */
#define DRIVER_DEFER_MAX_BYTES (UINT64_C(256) << 20)

struct driver {
    uv_loop_t loop;
    uv_timer_t tick_timer, batch_timer, housekeeping_timer;
    uv_check_t pump_check;
    uv_idle_t pump_idle;
    uv_signal_t sigterm, sigint;
    int parts_open; /* at shutdown: api and links not yet closed */
    bool stopping;
    int exit_code;
    char errmsg[512];

    char dir[4096]; /* the org's directory */
    struct node_config cfg;
    struct identity id;
    struct genesis *genesis;
    struct schema_network *schema;
    struct store *store;
    struct ledger *ledger;
    struct raft *raft;
    struct net *net;
    struct api *api;
    uint64_t self_id;
    uint64_t last_tick_ms;
    uint32_t tick_ms;

    /* raft soft state as last seen */
    uint64_t leader;
    enum raft_role role;
    uint64_t term;
    uint64_t schema_version; /* of the schema the api serves */

    /* batching (driver_batch.c) */
    struct driver_ptx *open;
    size_t n_open, cap_open;
    size_t open_bytes; /* the open txs' batch_tx_size: the batch is cut before it passes
                        * config_batch_max_bytes (a larger entry no peer frame could carry) */
    uint64_t open_since_ms;
    uint64_t last_seq;
    struct driver_waiter *waiters;
    size_t n_waiters, cap_waiters;
    struct driver_flight *flights;
    size_t n_flights, cap_flights;

    /* linearizable reads (driver_read.c) */
    struct driver_read *reads;
    size_t n_reads, cap_reads;
    uint64_t next_read_id;

    /* membership (driver_members.c) */
    uint64_t conf_change_index; /* index of our last proposed conf change, 0 when none pending */
    /* cosignatures sent and not yet seen in the ledger: resent until they are, ever less often */
    struct driver_cosign {
        uint64_t height, sent_ms;
        uint32_t tries;
    } cosigns[DRIVER_COSIGN_WINDOW];
    uint64_t cosign_check_ms;
    bool was_member; /* seen in the ledger's members: missing later = removed */

    /* API keys and list cursors (driver_auth.c) */
    struct apikeys keys;
    struct driver_keys_stat keys_seen;
    uv_timer_t keys_timer;
    uint8_t cursor_key[32];

    /* the Ready being persisted by the log worker (driver.c) */
    bool persisting;       /* a Ready is outstanding: the core takes no events */
    uv_work_t log_req;     /* its log write */
    bool prd_term_vote;    /* it carries a new term or vote */
    struct raft_ready prd; /* the outstanding Ready (borrowed from the core) */
    /* the applies, behind the Readys (driver.c): committed entries are copied here when their
     * Ready starts, and the apply worker takes all of them at once when it is free */
    struct driver_applies queued;   /* waiting for the apply worker */
    struct driver_applies applying; /* being applied by the worker (n > 0: it runs) */
    uv_work_t apply_req;
    struct pump_outcomes ppo;          /* the running apply's outcomes, filled by the worker */
    uint64_t applied;                  /* the store's applied index (reads wait for it) */
    bool prd_sent_early;               /* the leader's appends/heartbeats already went out */
    struct raft_hard_state hs_durable; /* term and vote as last made durable */
    uint32_t deferred_ticks;
    struct driver_deferred *deferred;
    size_t n_deferred, cap_deferred;
    uint64_t deferred_bytes;
    /* Peers with a raft frame in the deferred queue: their later frames wait too (in order). */
    uint64_t deferred_raft_peers[RAFT_MAX_MEMBERS];
    uint32_t n_deferred_raft_peers;
    bool flush_after_persist; /* the batch timer fired meanwhile (leader: group commit) */
    bool propose_blocked;     /* the core refused a queued proposal (TR_EBUSY): later ones queue
                                 behind it until the next replay */

    /* metrics (driver_metrics.c) */
    struct api_histogram batch_txs, commit_latency_seconds, persist_seconds, persist_entries;
    struct api_histogram apply_seconds, apply_entries;
    uint64_t persist_start_ns; /* uv_hrtime() when the Ready being persisted was queued */
    uint64_t apply_start_ns;   /* uv_hrtime() when the running apply was queued */
};

/* driver.c */
uint64_t driver__now_ms(struct driver *d);
uint64_t driver__wall_us(void);
/* A fresh batch sequence number for our org (driver_batch.c). */
uint64_t driver__next_seq(struct driver *d);
void driver__fatal(struct driver *d, const char *what, const char *detail);
/* Sends one encoded frame to a peer; logs and drops on failure (Raft tolerates loss). */
void driver__send(struct driver *d, uint64_t to, const uint8_t *frame, size_t len);
/* Proposes a signed entry as leader (stamping the time) or forwards it to the leader. */
void driver__order(struct driver *d, const uint8_t *entry, size_t len);
void driver__pump_kick(struct driver *d);
/* While a Ready is outstanding: keeps an event for replay after raft_advance (copies `data`).
 * Returns false when the bound DRIVER_DEFER_MAX_BYTES dropped it. */
bool driver__defer(struct driver *d, enum driver_deferred_kind kind, uint64_t peer,
                   const uint8_t *data, size_t len);
/* Closes the peer links and opens them again with the current identity (key rotation). */
void driver__links_restart(struct driver *d);

/* driver_batch.c */
extern const struct api_backend driver__backend_template;
extern const struct api_backend driver__test_backend_template; /* + test hooks */
void driver__batch_flush(struct driver *d);
/* Answers the waiter of o's tx, if any; it may take o->text (then NULL). */
void driver__batch_on_outcome(struct driver *d, struct ledger_tx_outcome *o);
void driver__flights_check(struct driver *d, bool leader_changed);
void driver__batch_fail_all(struct driver *d, int status, const char *detail);
/* Answers 503 commit-timeout to each write waiting longer than limits.write_timeout_ms; the tx
 * stays queued (it may still commit) and its outcome is only counted, as for Prefer: wait=none. */
void driver__writes_expire(struct driver *d);
void driver__batch_close(struct driver *d);
void driver__forward_received(struct driver *d, const uint8_t *entry, size_t len);
/* Test hook (node.json "test_hooks"): orders a raw entry as this node's driver would. */
int driver__inject_entry(struct driver *d, const uint8_t *entry, size_t len);

/* driver_query.c: the backend's tx read with its inclusion proof and the proof routes. */
int driver__backend_tx_get(void *ctx, const char *id, json_t **out);
int driver__backend_proof_inclusion(void *ctx, const char *id, uint64_t tree_size, json_t **out);
int driver__backend_proof_consistency(void *ctx, uint64_t first, uint64_t second, json_t **out);

/* driver_read.c: the backend's read_barrier; a ReadIndexReq/Resp frame from `peer`; the read
 * states of a Ready (before raft_advance); serve reads whose index is applied (after advance); the
 * tick (timeouts, retries); a leader or role change; shutdown (fails every local read). */
struct wire_frame;
void driver__backend_read_barrier(void *ctx, void *req, void (*done)(void *req, int rc));
void driver__read_frame(struct driver *d, uint64_t peer, const struct wire_frame *f);
void driver__reads_ready(struct driver *d, const struct raft_read_state *rs, size_t n);
void driver__reads_serve(struct driver *d);
void driver__reads_tick(struct driver *d);
void driver__reads_leader_changed(struct driver *d);
void driver__reads_close(struct driver *d);

/* Where `treaty key rotate` puts the next key: DIR/next-key/node.key. */
#define DRIVER_NEXT_KEY_DIR "next-key"

/* driver_members.c */
int driver__members_refresh(struct driver *d);
/* After an apply: hands the api the schema in force if governance changed it. */
void driver__schema_refresh(struct driver *d);
/* Whether schema document `doc` could replace the schema in force: NULL if so, else a problem
 * object (new reference: 422 naming every breaking change, or why it does not compile). */
json_t *driver__schema_precheck(struct driver *d, const json_t *doc);
/* At start-up: this node's key must be its org's current key in the ledger (after a rotation
 * that happened while it was down, the prepared next key is taken). TR_OK or TR_EDENIED + err. */
int driver__identity_check(struct driver *d, char *err, size_t errlen);
void driver__members_tick(struct driver *d);
void driver__checkpoint_due(struct driver *d, uint64_t height);
/* Housekeeping: resends our cosignature of any of the last DRIVER_COSIGN_WINDOW checkpoints
 * that the ledger does not hold DRIVER_COSIGN_RESEND_MS after the first send, the wait doubling
 * with each send up to DRIVER_COSIGN_RESEND_MAX (no cap on sends: a cosignature lost through a
 * long partition or a run of elections is still sent; a non-member's, which the ledger refuses,
 * costs one frame a minute). */
void driver__cosign_tick(struct driver *d);

/* driver_auth.c: loads DIR/apikeys.json and starts the timer that reloads it on change; frees
 * the keys at shutdown; the backend's authenticate; list cursors sealed for clients (a new
 * string, tr_free) and opened again (TR_OK and *out, tr_free; TR_EINVAL if not this node's). */
void driver__auth_start(struct driver *d);
void driver__auth_close(struct driver *d);
int driver__authenticate(void *ctx, const char *key, size_t len, enum api_role *role);
char *driver__cursor_seal(struct driver *d, const char *cursor);
int driver__cursor_open(struct driver *d, const char *sealed, char **out);
/* driver_events.c: the api backend's changes; tells the api the applied height at start-up
 * (TR_OK or a read error). */
int driver__changes(void *ctx, uint64_t height, json_t **out);
/* driver_export.c: api_backend.export_range and export_next. */
int driver__export_range(void *ctx, uint64_t from, uint64_t *to);
int driver__export_next(void *ctx, struct api_export_cursor *cur, uint8_t **out, size_t *len);
int driver__events_start(struct driver *d);

/* driver_metrics.c: histogram bounds; one signed batch of n_txs; one committed write answered;
 * the api backend's node_stats (GET /readyz, GET /metrics). */
void driver__metrics_init(struct driver *d);
void driver__metrics_batch(struct driver *d, size_t n_txs);
void driver__metrics_committed(struct driver *d, uint64_t submit_ns);
/* A Ready's log write ended (on the loop thread, after persist_start_ns was set): its time and
 * its log entries. */
void driver__metrics_persisted(struct driver *d, size_t n_entries);
/* The running apply committed (on the loop thread): its time since apply_start_ns, and how many
 * blocks it applied. */
void driver__metrics_applied(struct driver *d, size_t n_blocks);
int driver__node_stats(void *ctx, struct api_node_stats *out);

#endif
