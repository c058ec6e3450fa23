/* audit.h — the ledger export (docs/audit.proto): its writer's framing, and the offline verifier
 * behind `treaty audit verify`. The verifier is pure (no LMDB, no network): it replays the export
 * from the genesis, recomputing every hash and checking every signature, and stops at the first
 * failure. Called by cli_audit.c and by the node's export route (framing only). */
#ifndef TREATY_NODE_AUDIT_H
#define TREATY_NODE_AUDIT_H

#include "node/audit_proof.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define AUDIT_FORMAT_VERSION 1
/* Largest record a reader accepts (a block record holds one raft entry and its leaves). */
#define AUDIT_RECORD_MAX (256u * 1024 * 1024)

/* Writes the varint length of a record of `len` bytes to out (room for 10); returns its size. */
size_t audit_varint_put(uint8_t out[10], uint64_t len);

/* What a verification found. `ok` is 1 when everything holds; otherwise fail_height names the
 * first failing height (0: the export's header or its end), fail_what a category word (format,
 * header, sequence, hash-chain, batch-hash, timestamp, leaf, merkle, signature, replay,
 * governance, checkpoint, cosignature, confirmation, truncated, trust) and fail_why one line
 * saying why. confirmed_height is the height of the last checkpoint cosigned by a majority of the
 * members then (0: none): blocks above it are not yet confirmed by the network. Every checkpoint
 * but the export's last must have such a majority (else "confirmation"): a history forked by a
 * minority of orgs cannot carry one. */
struct audit_report {
    int ok;
    uint64_t from, to;
    uint64_t blocks, txs, refused_batches, checkpoints;
    uint64_t fail_height, confirmed_height;
    char fail_what[32];
    char fail_why[320];
    json_t *checkpoint_list; /* owned: [{"height","signers":[org…],"majority":bool}] */
    int trust_checked;       /* the export held the trusted checkpoint's block and agreed */
    uint64_t trust_height, trust_tree_size;
};

/* A checkpoint the auditor trusted earlier (its file: node/audit_proof.h): verification also
 * requires the export's network to be its network and, at its height, the block's hash, tree size
 * and recomputed root to be its own (else category "trust"). */
struct audit_trust {
    uint8_t network_id[32], root[32], block_hash[32];
    uint64_t height, tree_size;
};

/* Verifies the export read from `f` (from its current position to EOF). Returns TR_OK with the
 * verdict in *rep (rep->ok), or, when the input is not a usable export (no header, another format
 * version, a genesis that does not parse, an export not starting at height 1), TR_EPARSE /
 * TR_EUNSUPPORTED / TR_EIO with a line in err; TR_ENOMEM. The caller frees rep with
 * audit_report_free in every case. */
int audit_verify_file(FILE *f, struct audit_report *rep, char *err, size_t errlen);
/* A checkpoint taken from the export as it is verified (`treaty audit checkpoint --export`): the
 * checkpoint computed at `want_height` (0: the last one), the keys of the members (not removed)
 * in force at its height as replayed from the genesis, and those of its cosignatures in the
 * export that verify with them. `found` says whether there was one; `dropped` counts the
 * cosignatures left out. */
struct audit_capture {
    uint64_t want_height;
    int found;
    size_t dropped;
    struct audit_cp cp;
};

/* As audit_verify_file, also checking the export against `trust` and filling `cap` (either may be
 * NULL). */
int audit_verify_file_ex(FILE *f, const struct audit_trust *trust, struct audit_capture *cap,
                         struct audit_report *rep, char *err, size_t errlen);
/* As audit_verify_file over a buffer. */
int audit_verify_buf(const uint8_t *p, size_t len, struct audit_report *rep, char *err,
                     size_t errlen);
/* The report as JSON (new reference). */
json_t *audit_report_json(const struct audit_report *rep);
void audit_report_free(struct audit_report *rep);

/* A synthetic export (audit_gen.c) for tests and benchmarks: `n_orgs` founders org0.. with keys
 * from the seeds {i+1, 0, …}, `blocks` blocks of one signed batch each (org h % n_orgs, seq h)
 * of `txs_per_block` committed creates, a checkpoint every `every_blocks` blocks (0: none)
 * cosigned by every org, under genesis version `genesis_version`. Written to `out`. TR_OK;
 * TR_EINVAL (err says why); TR_ENOMEM; TR_EIO. */
struct audit_gen_options {
    unsigned n_orgs;
    uint64_t blocks;
    size_t txs_per_block;
    uint32_t every_blocks;
    unsigned genesis_version; /* 0: GENESIS_VERSION (it sets the batch signature rule) */
};
int audit_gen_export(const struct audit_gen_options *o, FILE *out, char *err, size_t errlen);

#endif
