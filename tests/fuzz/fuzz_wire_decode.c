/* fuzz_wire_decode.c — libFuzzer target `fuzz-wire-decode`: the bytes a peer can send or a store
 * can hold. Each input goes through wire_decode (node/wire.proto Frame: Raft messages, forwarded
 * entries, read-index requests and answers), through batch_entry_peek and batch_entry_stamp (a
 * forwarded ledger Entry, as the leader reads it before ordering), and through the decoder of
 * every message of node/ledger.proto, node/wire.proto and docs/audit.proto. Invariants: a decoded
 * frame re-encodes to a frame that decodes to the same values; a decoded message packs to bytes
 * that decode and pack to the same bytes again; a peeked entry's stamp keeps its batch. */
#include "tests/fuzz/fuzz.h"

#include "common/alloc.h"
#include "common/err.h"
#include "docs/audit.pb-c.h"
#include "node/batch.h"
#include "node/ledger.pb-c.h"
#include "node/wire.h"
#include "node/wire.pb-c.h"

#include <string.h>

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    return 0;
}

static void check_same_raft(const struct raft_msg *a, const struct raft_msg *b)
{
    fuzz_check(a->type == b->type && a->from == b->from && a->to == b->to);
    fuzz_check(a->term == b->term && a->log_term == b->log_term && a->index == b->index);
    fuzz_check(a->commit == b->commit && a->context == b->context);
    fuzz_check(a->hint_index == b->hint_index && a->hint_term == b->hint_term);
    fuzz_check(a->flags == b->flags && a->reject == b->reject);
    fuzz_check(a->n_entries == b->n_entries);
    for (size_t i = 0; i < a->n_entries; i++) {
        const struct raft_entry *x = &a->entries[i], *y = &b->entries[i];
        fuzz_check(x->index == y->index && x->term == y->term && x->type == y->type);
        fuzz_check(x->len == y->len && (x->len == 0 || memcmp(x->data, y->data, x->len) == 0));
    }
}

/* Encodes the decoded frame `f` again and decodes that: the values must survive. */
static void check_frame_roundtrip(const struct wire_frame *f)
{
    uint8_t *enc = NULL;
    size_t len = 0;
    int rc = TR_EINVAL;
    if (f->kind == WIRE_RAFT)
        rc = wire_encode_raft(&f->raft, &enc, &len);
    else if (f->kind == WIRE_FORWARD)
        rc = wire_encode_forward(f->entry, f->entry_len, &enc, &len);
    else if (f->kind == WIRE_READ_REQ)
        rc = wire_encode_read_req(f->read_id, &enc, &len);
    else if (f->kind == WIRE_READ_RESP)
        rc = wire_encode_read_resp(f->read_id, f->read_index, f->read_ok, &enc, &len);
    fuzz_check(rc == TR_OK);
    struct wire_frame g;
    fuzz_check(wire_decode(enc, len, &g) == TR_OK);
    fuzz_check(g.kind == f->kind);
    if (f->kind == WIRE_RAFT)
        check_same_raft(&f->raft, &g.raft);
    fuzz_check(g.entry_len == f->entry_len &&
               (f->entry_len == 0 || memcmp(g.entry, f->entry, f->entry_len) == 0));
    fuzz_check(g.read_id == f->read_id && g.read_index == f->read_index && g.read_ok == f->read_ok);
    wire_frame_free(&g);
    tr_free(enc);
}

static void fuzz_frame(const uint8_t *data, size_t size)
{
    struct wire_frame f;
    int rc = wire_decode(data, size, &f);
    fuzz_check(rc == TR_OK || rc == TR_EPARSE || rc == TR_ENOMEM);
    if (rc != TR_OK) {
        fuzz_check(f.priv_ == NULL);
        return;
    }
    check_frame_roundtrip(&f);
    wire_frame_free(&f);
    fuzz_check(f.priv_ == NULL);
}

/* A forwarded Entry: peek at its batch, stamp it, and peek again at the stamped copy. */
static void fuzz_entry(const uint8_t *data, size_t size)
{
    struct batch_peek p;
    int rc = batch_entry_peek(data, size, &p);
    fuzz_check(rc == TR_OK || rc == TR_EPARSE || rc == TR_ENOMEM);
    if (rc != TR_OK) {
        fuzz_check(p.tx_ids == NULL);
        return;
    }
    uint8_t *stamped = NULL;
    size_t slen = 0;
    rc = batch_entry_stamp(data, size, 12345, &stamped, &slen);
    fuzz_check(rc == TR_OK || rc == TR_EPARSE);
    if (rc != TR_OK) { /* unknown fields protobuf-c would write back in a form it refuses */
        fuzz_check(stamped == NULL);
        batch_peek_free(&p);
        return;
    }
    struct batch_peek q;
    fuzz_check(batch_entry_peek(stamped, slen, &q) == TR_OK);
    fuzz_check(q.timestamp_us == 12345 && q.seq == p.seq && q.n_txs == p.n_txs);
    fuzz_check(strcmp(q.org, p.org) == 0);
    for (size_t i = 0; i < p.n_txs; i++)
        fuzz_check(strcmp(q.tx_ids[i], p.tx_ids[i]) == 0);
    batch_peek_free(&q);
    batch_peek_free(&p);
    tr_free(stamped);
}

static const ProtobufCMessageDescriptor *const messages[] = {
    &treaty__ledger__entry__descriptor,        &treaty__ledger__signed_batch__descriptor,
    &treaty__ledger__batch__descriptor,        &treaty__ledger__tx__descriptor,
    &treaty__ledger__op__descriptor,           &treaty__ledger__governance__descriptor,
    &treaty__ledger__cosign__descriptor,       &treaty__ledger__checkpoint__descriptor,
    &treaty__ledger__block_header__descriptor, &treaty__ledger__tx_leaf__descriptor,
    &treaty__ledger__member__descriptor,       &treaty__ledger__proposal__descriptor,
    &treaty__wire__frame__descriptor,          &treaty__wire__raft_msg__descriptor,
    &treaty__audit__export_record__descriptor,
};

/* Whether `m` or a message inside it kept unknown fields. */
static bool has_unknown(const ProtobufCMessage *m)
{
    if (m == NULL)
        return false;
    if (m->n_unknown_fields > 0)
        return true;
    const ProtobufCMessageDescriptor *d = m->descriptor;
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        if (f->type != PROTOBUF_C_TYPE_MESSAGE)
            continue;
        const char *at = (const char *)m + f->offset;
        if (f->label != PROTOBUF_C_LABEL_REPEATED) {
            if (has_unknown(*(ProtobufCMessage *const *)(const void *)at))
                return true;
            continue;
        }
        size_t n = *(const size_t *)(const void *)((const char *)m + f->quantifier_offset);
        ProtobufCMessage *const *v = *(ProtobufCMessage *const *const *)(const void *)at;
        for (size_t k = 0; k < n; k++)
            if (has_unknown(v[k]))
                return true;
    }
    return false;
}

/* Packs `m` into a new buffer; NULL when the allocation fails (then the check fails). */
static uint8_t *pack(const ProtobufCMessage *m, size_t *len)
{
    *len = protobuf_c_message_get_packed_size(m);
    uint8_t *buf = tr_malloc(*len ? *len : 1);
    fuzz_check(buf != NULL);
    fuzz_check(protobuf_c_message_pack(m, buf) == *len);
    return buf;
}

static void fuzz_message(const ProtobufCMessageDescriptor *d, const uint8_t *data, size_t size)
{
    ProtobufCMessage *m = protobuf_c_message_unpack(d, NULL, size, data);
    if (!m)
        return;
    size_t len1 = 0, len2 = 0;
    uint8_t *b1 = pack(m, &len1);
    bool unknown = has_unknown(m);
    protobuf_c_message_free_unpacked(m, NULL);
    ProtobufCMessage *m2 = protobuf_c_message_unpack(d, NULL, len1, b1);
    /* protobuf-c accepts an overlong field number 0 and writes it back as a tag it refuses: a
       library quirk, harmless where the node never re-encodes what it received (where it does,
       batch_entry_stamp, fuzz_entry checks the node copes). */
    fuzz_check(m2 != NULL || unknown);
    if (!m2) {
        tr_free(b1);
        return;
    }
    uint8_t *b2 = pack(m2, &len2);
    fuzz_check(len1 == len2 && (len1 == 0 || memcmp(b1, b2, len1) == 0));
    protobuf_c_message_free_unpacked(m2, NULL);
    tr_free(b1);
    tr_free(b2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_frame(data, size);
    fuzz_entry(data, size);
    for (size_t i = 0; i < sizeof messages / sizeof messages[0]; i++)
        fuzz_message(messages[i], data, size);
    return 0;
}
