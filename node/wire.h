/* wire.h — encoding of the frames nodes exchange (node/wire.proto): Raft messages, forwarded
 * ledger entries and read-index requests to the leader. Pure functions over buffers; node/driver.c
 * is the only caller. Decoding validates every field against consensus/raft.h's ranges, so a peer
 * cannot hand the core a message type or entry type it does not know. */
#ifndef TREATY_NODE_WIRE_H
#define TREATY_NODE_WIRE_H

#include "consensus/raft.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* What a Raft frame adds to its entries' data: at most WIRE_RAFT_OVERHEAD for the message plus
 * WIRE_ENTRY_OVERHEAD per entry, whatever the field values. A Forward frame adds at most
 * WIRE_RAFT_OVERHEAD to its entry. The driver sizes appends and batches by them so that every
 * frame fits limits.frame_max_bytes. */
#define WIRE_RAFT_OVERHEAD  160
#define WIRE_ENTRY_OVERHEAD 48

/* Encodes `m` (entries included) as a Frame into a new buffer *out of *len bytes (owned by the
 * caller, tr_free). TR_OK or TR_ENOMEM. */
int wire_encode_raft(const struct raft_msg *m, uint8_t **out, size_t *len);
/* Encodes a Forward frame around `entry` (an encoded ledger Entry). TR_OK or TR_ENOMEM. */
int wire_encode_forward(const uint8_t *entry, size_t len, uint8_t **out, size_t *out_len);

/* Encodes a ReadIndexReq (WIRE_READ_REQ) or ReadIndexResp (WIRE_READ_RESP) frame. TR_OK or
 * TR_ENOMEM. */
int wire_encode_read_req(uint64_t id, uint8_t **out, size_t *out_len);
int wire_encode_read_resp(uint64_t id, uint64_t index, bool ok, uint8_t **out, size_t *out_len);

enum wire_kind { WIRE_RAFT = 1, WIRE_FORWARD = 2, WIRE_READ_REQ = 3, WIRE_READ_RESP = 4 };

/* A decoded frame. For WIRE_RAFT, `raft` and its entries point into memory owned by the frame;
 * for WIRE_FORWARD, entry/entry_len do. Valid until wire_frame_free. */
struct wire_frame {
    enum wire_kind kind;
    struct raft_msg raft;
    const uint8_t *entry;
    size_t entry_len;
    uint64_t read_id, read_index; /* WIRE_READ_REQ (id) and WIRE_READ_RESP */
    bool read_ok;
    void *priv_; /* the protobuf-c message and the entry array */
};

/* Decodes one frame. TR_OK, TR_EPARSE (not a Frame, an empty oneof, an unknown message or entry
 * type), TR_ENOMEM. On error *f holds nothing to free. */
int wire_decode(const uint8_t *data, size_t len, struct wire_frame *f);
/* Whether an encoded frame looks like a WIRE_RAFT one (its first field is the raft body), without
 * decoding it; wire_decode decides. */
bool wire_maybe_raft(const uint8_t *data, size_t len);
void wire_frame_free(struct wire_frame *f);

#endif
