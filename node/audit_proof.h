/* audit_proof.h — the auditor's checkpoint file and inclusion proof file (docs/audit.md, "Proofs
 * of inclusion"): parsing, writing, and the offline checks behind `treaty audit check-proof`.
 * Pure: no network, no store. Called by cli_audit_proof.c. */
#ifndef TREATY_NODE_AUDIT_PROOF_H
#define TREATY_NODE_AUDIT_PROOF_H

#include "node/merkle.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#define AUDIT_CP_FORMAT    "treaty-checkpoint/1"
#define AUDIT_PROOF_FORMAT "treaty-inclusion-proof/1"
/* Most cosignatures or members a checkpoint file holds. */
#define AUDIT_CP_MAX_ORGS 64

struct audit_cp_org {
    char org[64];
    uint8_t bytes[64]; /* a 64-byte signature, or a 32-byte Ed25519 public key */
};

/* A checkpoint (ledger.proto Checkpoint), its cosignatures and, in a checkpoint file, the member
 * keys the auditor trusts for it. */
struct audit_cp {
    uint8_t network_id[32], root[32], block_hash[32];
    uint64_t height, tree_size;
    size_t n_cosigs, n_members;
    struct audit_cp_org cosigs[AUDIT_CP_MAX_ORGS];
    struct audit_cp_org members[AUDIT_CP_MAX_ORGS];
};

/* Reads a checkpoint object {"network_id","height","tree_size","root","block_hash",
 * "cosignatures":[{"org","signature"}], "members"?:[{"org","public_key"}]}. With need_members,
 * "format" must be AUDIT_CP_FORMAT and "members" present (a checkpoint file). Returns TR_OK or
 * TR_EPARSE with a reason in err. */
int audit_cp_from_json(const json_t *o, int need_members, struct audit_cp *cp, char *err,
                       size_t errlen);
/* The checkpoint as JSON (new reference); with_members adds "format" and "members". */
json_t *audit_cp_to_json(const struct audit_cp *cp, int with_members);
/* 1 if `sig` is a valid Ed25519 signature by `key` over "treaty/checkpoint/v1\0" ‖ network id ‖
 * the encoded Checkpoint of `cp`; 0 otherwise. */
int audit_cp_sig_ok(const struct audit_cp *cp, const uint8_t sig[64], const uint8_t key[32]);
/* The key of `org` among cp's members, or NULL. */
const uint8_t *audit_cp_member_key(const struct audit_cp *cp, const char *org);

struct audit_proof {
    char tx[64];
    uint8_t *leaf; /* owned */
    size_t leaf_len;
    uint64_t leaf_index, tree_size;
    uint8_t root[32];
    uint8_t path[MERKLE_PROOF_MAX][MERKLE_HASH_SIZE];
    size_t n_path;
    struct audit_cp cp;
    int has_record; /* a proof of a record version: the tx that wrote it, whole */
    char rec_type[128], rec_key[512];
    uint64_t rec_version;
    uint8_t *rec_tx; /* owned: the encoded Tx (ledger.proto) */
    size_t rec_tx_len;
    int has_consistency; /* a proof from the trusted checkpoint's tree to cp's */
    uint64_t cons_from;
    uint8_t cons[MERKLE_PROOF_MAX][MERKLE_HASH_SIZE];
    size_t n_cons;
};

/* Reads a proof file's JSON. TR_OK, TR_EPARSE (err says why) or TR_ENOMEM. Free with
 * audit_proof_free in every case. */
int audit_proof_from_json(const json_t *o, struct audit_proof *p, char *err, size_t errlen);
void audit_proof_free(struct audit_proof *p);

/* The result of audit_proof_check: ok, or what failed (network, checkpoint, consistency,
 * cosignature, root, leaf, inclusion) and why; the orgs whose cosignature verified. */
struct audit_proof_result {
    int ok;
    char what[32];
    char why[320];
    char org[64];      /* the tx's signing org (from its leaf) */
    uint64_t height;   /* the tx's block */
    char op[16];       /* record proofs: the op's kind (CREATE, REPLACE, PATCH, DELETE) */
    int version_by_op; /* 1: the op itself fixes the version (CREATE, or an expected version) */
    size_t n_signers, n_members;
    char signers[AUDIT_CP_MAX_ORGS][64];
};

/* Checks proof `p` against the trusted checkpoint file `t`, in this order: same network; the
 * proof's checkpoint equals t, or is later and a consistency proof from t's tree to it holds
 * (RFC 9162 §2.1.4.2); every cosignature of the proof's checkpoint verifies with t's key of its
 * org, and there is at least one; the proof's root and tree size are its checkpoint's; the leaf
 * decodes as a TxLeaf of tx p->tx; the RFC 9162 §2.1.3.2 path leads from SHA-256(0x00 ‖ leaf) at
 * leaf_index to the root. A record proof also needs (category "record"): SHA-256 of its tx bytes
 * is the leaf's tx_hash and the tx decodes with id p->tx; the leaf says committed; the tx has an
 * op on the record's type and key; a CREATE is version 1 and an op with an expected version n
 * makes version n + 1 (other ops leave the version as the node counted it: version_by_op 0). */
void audit_proof_check(const struct audit_proof *p, const struct audit_cp *t,
                       struct audit_proof_result *res);

#endif
