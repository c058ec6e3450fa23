/* audit_int.h — internals of the export verifier shared by audit_verify.c (framing, blocks,
 * batches, leaves, Merkle, the main loop) and audit_replay.c (members, proposals, governance,
 * checkpoints, cosignatures). Not public. */
#ifndef TREATY_NODE_AUDIT_INT_H
#define TREATY_NODE_AUDIT_INT_H

#include "docs/audit.pb-c.h"
#include "node/audit.h"
#include "node/batch.h"
#include "node/ledger.pb-c.h"

#include <stddef.h>
#include <stdint.h>

#define FAILED 1 /* a verdict was reached: the report holds the failure */

struct av_member {
    char org[64];
    uint8_t key[32], next_key[32];
    int has_next, removed;
    uint64_t next_h, seq;
};

struct av_proposal {
    char id[33];
    int kind;
    char org[64];
    uint8_t pk[32];
    int closed;
    char (*approvals)[64];
    size_t n_approvals;
};

struct av_ckpt {
    uint64_t height;
    uint8_t *bytes;
    size_t len;
    size_t n_active; /* members when it was made, for the majority */
};

struct av_cosign {
    uint64_t height;
    char org[64];
    uint8_t sig[64];
    int seen;
};

/* A bump allocator for protobuf-c's unpacking of one record: freed as a whole once the record
 * is checked, so the millions of small strings and messages of a large export cost no malloc
 * each. A record that outgrows the first chunk leaves one chunk as large as all it needed. */
struct av_chunk {
    struct av_chunk *next;
    size_t cap, used;
    max_align_t data[];
};

struct av_arena {
    struct av_chunk *head;
    size_t total;
};

struct av {
    struct audit_report *rep;
    const struct audit_trust *trust; /* NULL: none */
    struct audit_capture *cap;       /* NULL: none */
    uint8_t network_id[32];
    enum batch_sig batch_sig; /* the genesis version's rule */
    uint32_t ckpt_blocks, ckpt_ms;
    struct av_member *members;
    size_t n_members;
    struct av_proposal *props;
    size_t n_props;
    struct av_ckpt *ckpts;
    size_t n_ckpts;
    struct av_cosign *cosigns;
    size_t n_cosigns;
    uint64_t height, prev_term, prev_ts, ckpt_height, ckpt_ts;
    /* The first checkpoint since the last one with a majority that lacks one (0: none), its
     * signers and members, its index in rep->checkpoint_list, and how many checkpoints follow it
     * (none with a majority). A later checkpoint with a majority confirms it. */
    uint64_t minority_ckpt;
    size_t minority_signed, minority_active, minority_index, minority_after;
    uint8_t prev_hash[32];
    uint8_t frontier[64][32]; /* complete subtrees of the leaves so far, one per set bit of size */
    uint64_t size;
    struct av_arena arena;
    ProtobufCAllocator pa; /* over arena: for everything unpacked from one record */
};

/* Records the first failure (later ones are ignored) and returns FAILED. */
int audit__fail(struct av *v, uint64_t height, const char *what, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* audit_replay.c. Each returns TR_OK, FAILED (the report says why) or TR_ENOMEM. */
struct av_member *audit__member(struct av *v, const char *org);
/* The key of `m` in force at `height` (ledger__member_key_at). */
const uint8_t *audit__key_at(const struct av_member *m, uint64_t height);
/* Adds `org` with `key` (or re-adds a removed org, keeping its last seq). */
int audit__member_add(struct av *v, const char *org, const uint8_t key[32]);
/* A committed governance tx of `org` in block h, as ledger_governance.c applied it. */
int audit__governance(struct av *v, const Treaty__Ledger__Tx *tx, const char *org, uint64_t h);
/* A committed Cosign tx of `org` in block h (ledger__cosign_apply). */
int audit__cosign(struct av *v, const Treaty__Ledger__Cosign *c, const char *org, uint64_t h);
/* Block `hdr`, hashed to `hash`, is a checkpoint if the genesis rule says so: remember it. */
int audit__ckpt_maybe(struct av *v, const Treaty__Ledger__BlockHeader *hdr, const uint8_t hash[32]);
/* Checkpoint record `i` against the i-th checkpoint computed and the Cosign txs seen. */
int audit__checkpoint(struct av *v, size_t i, const Treaty__Audit__ExportCheckpoint *c);

#endif
