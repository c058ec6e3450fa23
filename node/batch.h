/* batch.h — building, signing, stamping and peeking at ledger entries (node/ledger.proto): pure
 * encoding over buffers, no LMDB, no clock. The submitting node builds and signs an Entry with
 * timestamp 0; the leader stamps it (the signed Batch bytes stay untouched); node/ledger*.c
 * applies it. Callers: node/driver.c, the tests and the benchmarks. */
#ifndef TREATY_NODE_BATCH_H
#define TREATY_NODE_BATCH_H

#include <stddef.h>
#include <stdint.h>

/* Bounds enforced when building and when applying (a larger batch is rejected as a whole). */
#define BATCH_TXS_MAX         4096
#define BATCH_OPS_MAX         256
#define BATCH_IDEM_KEY_MAX    128
#define BATCH_RECORD_KEY_MAX  256
#define BATCH_TX_ID_LEN       32
#define BATCH_SIGNATURE_BYTES 64

/* The most bytes an Entry adds around its txs' shares (batch_tx_size): its timestamp, the
 * signature, the network id, the org twice, the seq and the lengths between them. */
#define BATCH_ENTRY_OVERHEAD 320

/* Domain prefixes (each includes its final NUL byte: use sizeof). */
#define BATCH_SIG_DOMAIN      "treaty/batch/v1"
#define BATCH_SIG_DOMAIN_V2   "treaty/batch/v2"
#define CHECKPOINT_SIG_DOMAIN "treaty/checkpoint/v1"

/* What a batch signature covers. A network has one rule, set by its genesis version (genesis.h):
 * every node signs with it and the ledger and the audit accept no other. */
enum batch_sig {
    /* Ed25519 over BATCH_SIG_DOMAIN || network id || the Batch bytes (genesis version 1). */
    BATCH_SIG_V1 = 1,
    /* Ed25519 over BATCH_SIG_DOMAIN_V2 || network id || SHA-256(the Batch bytes) (version 2): the
     * signer and every verifier hash the batch once with SHA-256 instead of SHA-512 inside
     * Ed25519 (twice to sign). */
    BATCH_SIG_V2 = 2,
};

/* Signs the Batch bytes `batch` by rule `rule` into sig. TR_OK; TR_EINVAL for an unknown rule;
 * TR_ENOMEM. */
int batch_sig_sign(enum batch_sig rule, const uint8_t network_id[32], const uint8_t *batch,
                   size_t len, const uint8_t sk[64], uint8_t sig[64]);
/* TR_OK when `sig` (sig_len bytes) is a signature of the Batch bytes by rule `rule` with public
 * key pk; TR_EINVAL when it is not (or the rule is unknown); TR_ENOMEM. */
int batch_sig_verify(enum batch_sig rule, const uint8_t network_id[32], const uint8_t *batch,
                     size_t len, const uint8_t *sig, size_t sig_len, const uint8_t pk[32]);

enum batch_op_kind {
    BATCH_OP_CREATE = 1,
    BATCH_OP_REPLACE = 2,
    BATCH_OP_PATCH = 3,
    BATCH_OP_DELETE = 4
};

enum batch_gov_kind {
    BATCH_GOV_ADD_ORG = 1,
    BATCH_GOV_REMOVE_ORG = 2,
    BATCH_GOV_APPROVE = 3,
    BATCH_GOV_ROTATE_KEY = 4,
    BATCH_GOV_SCHEMA = 5
};

struct batch_op {
    int kind; /* enum batch_op_kind */
    const char *type;
    const char *key;
    uint64_t expected_version; /* 0 = none */
    const char *body;          /* JSON text; NULL for delete */
    size_t body_len;
};

struct batch_tx {
    char id[33];                 /* 32 lowercase hex chars */
    const char *idempotency_key; /* may be NULL */
    const struct batch_op *ops;
    size_t n_ops;
};

/* A governance action (struct fields borrowed for the call). */
struct batch_gov {
    int kind;                  /* enum batch_gov_kind */
    const char *org;           /* ADD_ORG, REMOVE_ORG */
    const uint8_t *public_key; /* 32 bytes: ADD_ORG, ROTATE_KEY; else NULL */
    const char *peer;          /* ADD_ORG: "host:port" */
    const char *proposal_id;   /* APPROVE */
    const char *schema;        /* SCHEMA: the document, compact JSON with sorted keys */
    size_t schema_len;
};

/* Encodes Batch{network_id, org, seq, txs}, signs it by `rule` with `sk` (libsodium 64-byte secret
 * key) and returns the encoded Entry (timestamp 0) in *out (tr_malloc'd, owned by the caller;
 * tr_free). Returns TR_OK; TR_EINVAL for a NULL/empty org, an op kind out of range, a tx id that is
 * not 32 lowercase hex chars; TR_ELIMIT above BATCH_TXS_MAX txs, BATCH_OPS_MAX ops or an
 * idempotency key over BATCH_IDEM_KEY_MAX bytes; TR_ENOMEM. n may be 0 (an empty batch still
 * consumes seq). */
int batch_build_entry(const uint8_t network_id[32], enum batch_sig rule, const char *org,
                      uint64_t seq, const uint8_t sk[64], const struct batch_tx *txs, size_t n,
                      uint8_t **out, size_t *out_len);

/* Like batch_build_entry for a batch of one governance tx with id `tx_id`. Same returns;
 * TR_EINVAL for a kind out of range. */
int batch_build_governance_entry(const uint8_t network_id[32], enum batch_sig rule, const char *org,
                                 uint64_t seq, const uint8_t sk[64], const char *tx_id,
                                 const struct batch_gov *gov, uint8_t **out, size_t *out_len);

/* Like batch_build_entry for a batch of one Cosign tx: `checkpoint` is an encoded Checkpoint (as
 * ledger_checkpoint_sign makes it) and `sig` its 64-byte signature. TR_EPARSE if `checkpoint`
 * does not decode. */
int batch_build_cosign_entry(const uint8_t network_id[32], enum batch_sig rule, const char *org,
                             uint64_t seq, const uint8_t sk[64], const char *tx_id,
                             const uint8_t *checkpoint, size_t checkpoint_len,
                             const uint8_t sig[64], uint8_t **out, size_t *out_len);

/* The bytes `t` adds to an encoded batch (its field and length prefix included), so that an Entry
 * of txs t1..tn is at most BATCH_ENTRY_OVERHEAD + the sum of their sizes, stamped or not. */
size_t batch_tx_size(const struct batch_tx *t);
/* Like batch_tx_size for the governance tx batch_build_governance_entry makes of `gov`. */
size_t batch_governance_tx_size(const char *tx_id, const struct batch_gov *gov);

/* Re-encodes the Entry `entry` with timestamp_us set; the signed batch bytes are copied unchanged.
 * *out is tr_malloc'd (caller frees). TR_OK, TR_EPARSE (not an Entry, or one whose re-encoding
 * would not decode), TR_ENOMEM. */
int batch_entry_stamp(const uint8_t *entry, size_t len, uint64_t timestamp_us, uint8_t **out,
                      size_t *out_len);

/* What the driver needs to know about an entry without applying it. Signature not checked. */
struct batch_peek {
    char org[64];
    uint64_t seq;
    uint64_t timestamp_us;
    size_t n_txs;
    char (*tx_ids)[33]; /* n_txs ids (truncated to 32 chars), owned: batch_peek_free */
};

/* Decodes entry and batch headers into *out. TR_OK; TR_EPARSE (not an Entry, no batch, the batch
 * does not decode, org longer than 63 bytes); TR_ENOMEM. On error *out holds nothing to free. */
int batch_entry_peek(const uint8_t *entry, size_t len, struct batch_peek *out);
/* Frees what batch_entry_peek allocated; accepts a zeroed struct. */
void batch_peek_free(struct batch_peek *p);

/* 1 if `id` is exactly 32 lowercase hex chars, else 0. */
int batch_tx_id_valid(const char *id);

/* A new tx id (32 lowercase hex chars and a NUL): `unix_ms` as 48 bits big-endian, then 80
 * random bits. Ids made later sort later (at millisecond grain), so the ledger's tx table takes
 * each block's ids near its end instead of at random pages all over it. */
void batch_tx_id_new(char id[33], uint64_t unix_ms);

#endif
