/* genesis.h — a network's genesis file: its name, schema, founding members and timing. Parsed
 * strictly (every field typed, unknown keys refused) so that every member derives the same network
 * id: SHA-256 of the canonical bytes json_dumps(doc, JSON_COMPACT|JSON_SORT_KEYS). Node ids are
 * derived from org names, never stored. Written by `treaty network create`, read at node start. */
#ifndef TREATY_NODE_GENESIS_H
#define TREATY_NODE_GENESIS_H

#include "node/batch.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

/* The genesis version `treaty network create` writes, and the oldest this build reads. The version
 * is a network's rule for its batch signatures (genesis_batch_sig): 1 signs the batch bytes, 2
 * their SHA-256 (batch.h). A build that does not know a version refuses the genesis, so a node
 * never joins a network whose batches it would judge differently. */
#define GENESIS_VERSION         2
#define GENESIS_VERSION_MIN     1
#define GENESIS_MAX_MEMBERS     32 /* RAFT_MAX_MEMBERS: every member is a Raft member */
#define GENESIS_TICK_MS_MIN     1u
#define GENESIS_TICK_MS_MAX     1000u
#define GENESIS_HEARTBEAT_MAX   60000u  /* ms */
#define GENESIS_ELECTION_MAX    600000u /* ms */
#define GENESIS_CKPT_BLOCKS_MAX 1000000u
#define GENESIS_CKPT_MS_MAX     86400000u /* one day */
/* Defaults `treaty network create` writes. */
#define GENESIS_DEFAULT_TICK_MS      10u
#define GENESIS_DEFAULT_HEARTBEAT_MS 100u
#define GENESIS_DEFAULT_ELECTION_MS  1000u
#define GENESIS_DEFAULT_CKPT_BLOCKS  64u
#define GENESIS_DEFAULT_CKPT_MS      5000u

struct genesis_member {
    char org[64];
    uint8_t public_key[32];
    char peer_host[256];
    uint16_t peer_port;
    uint64_t node_id; /* genesis_node_id(org) */
};

struct genesis {
    uint32_t version; /* GENESIS_VERSION_MIN..GENESIS_VERSION */
    char name[64];
    json_t *schema_doc; /* owned reference; validated by schema_network_load */
    struct genesis_member *members;
    size_t n_members; /* owned, genesis order */
    uint32_t tick_ms, heartbeat_ms, election_ms;
    uint32_t checkpoint_blocks, checkpoint_ms;
    uint8_t network_id[32];
    char *canonical;
    size_t canonical_len; /* owned, the canonical bytes (NUL-terminated too) */
};

/* Reads and parses a genesis file (at most 16 MiB). Errors as genesis_parse, prefixed with the
 * path; TR_EIO when it cannot be read. */
int genesis_load_file(const char *path, struct genesis **out, char *err, size_t errlen);
/* Parses a genesis document from buf. Returns TR_OK and a new genesis in *out (caller destroys);
 * TR_EPARSE (not JSON), TR_ELIMIT (too big/deep), TR_ESCHEMA (schema refused), TR_EINVAL (unknown
 * or missing key, wrong type, bad name/key/address, duplicate org/key/address, timing rule broken)
 * or TR_ENOMEM, with one line in err naming the field ("members[1].public_key: ..."). */
int genesis_parse(const char *buf, size_t len, struct genesis **out, char *err, size_t errlen);
/* The network's batch signature rule: its version's. */
enum batch_sig genesis_batch_sig(const struct genesis *g);
/* Frees g and everything it owns. NULL is fine. */
void genesis_destroy(struct genesis *g);
/* First 8 bytes big-endian of SHA-256("treaty/node-id/v1\0" || org), top bit cleared, 0 -> 1. */
uint64_t genesis_node_id(const char *org);
/* The member named org, or NULL. Borrowed until genesis_destroy. */
const struct genesis_member *genesis_member_find(const struct genesis *g, const char *org);

#endif
