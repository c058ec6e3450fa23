/* wire.c — Frame <-> struct raft_msg / forwarded entry (node/wire.proto). Encoding borrows the
 * message's entry data (no copy before packing); decoding keeps the unpacked protobuf message
 * alive in the frame so entries point into it. */
#include "node/wire.h"

#include "common/alloc.h"
#include "common/err.h"
#include "node/wire.pb-c.h"

#include <string.h>

static int wire_pack(const Treaty__Wire__Frame *fr, uint8_t **out, size_t *len)
{
    size_t n = treaty__wire__frame__get_packed_size(fr);
    uint8_t *buf = tr_malloc(n ? n : 1);
    if (!buf)
        return TR_ENOMEM;
    *len = treaty__wire__frame__pack(fr, buf);
    *out = buf;
    return TR_OK;
}

int wire_encode_raft(const struct raft_msg *m, uint8_t **out, size_t *len)
{
    Treaty__Wire__RaftMsg rm = TREATY__WIRE__RAFT_MSG__INIT;
    rm.type = (uint32_t)m->type;
    rm.from = m->from;
    rm.to = m->to;
    rm.term = m->term;
    rm.log_term = m->log_term;
    rm.index = m->index;
    rm.commit = m->commit;
    rm.context = m->context;
    rm.hint_index = m->hint_index;
    rm.hint_term = m->hint_term;
    rm.flags = m->flags;
    rm.reject = m->reject;

    Treaty__Wire__RaftEntry *ents = NULL;
    Treaty__Wire__RaftEntry **ptrs = NULL;
    if (m->n_entries > 0) {
        ents = tr_calloc(m->n_entries, sizeof *ents);
        ptrs = tr_calloc(m->n_entries, sizeof *ptrs);
        if (!ents || !ptrs) {
            tr_free(ents);
            tr_free(ptrs);
            return TR_ENOMEM;
        }
        for (size_t i = 0; i < m->n_entries; i++) {
            const struct raft_entry *e = &m->entries[i];
            treaty__wire__raft_entry__init(&ents[i]);
            ents[i].index = e->index;
            ents[i].term = e->term;
            ents[i].type = (uint32_t)e->type;
            ents[i].data.data = (uint8_t *)(uintptr_t)e->data;
            ents[i].data.len = e->len;
            ptrs[i] = &ents[i];
        }
        rm.n_entries = m->n_entries;
        rm.entries = ptrs;
    }
    Treaty__Wire__Frame fr = TREATY__WIRE__FRAME__INIT;
    fr.body_case = TREATY__WIRE__FRAME__BODY_RAFT;
    fr.raft = &rm;
    int rc = wire_pack(&fr, out, len);
    tr_free(ents);
    tr_free(ptrs);
    return rc;
}

int wire_encode_forward(const uint8_t *entry, size_t len, uint8_t **out, size_t *out_len)
{
    Treaty__Wire__Forward fw = TREATY__WIRE__FORWARD__INIT;
    fw.entry.data = (uint8_t *)(uintptr_t)entry;
    fw.entry.len = len;
    Treaty__Wire__Frame fr = TREATY__WIRE__FRAME__INIT;
    fr.body_case = TREATY__WIRE__FRAME__BODY_FORWARD;
    fr.forward = &fw;
    return wire_pack(&fr, out, out_len);
}

int wire_encode_read_req(uint64_t id, uint8_t **out, size_t *out_len)
{
    Treaty__Wire__ReadIndexReq rq = TREATY__WIRE__READ_INDEX_REQ__INIT;
    rq.id = id;
    Treaty__Wire__Frame fr = TREATY__WIRE__FRAME__INIT;
    fr.body_case = TREATY__WIRE__FRAME__BODY_READ_REQ;
    fr.read_req = &rq;
    return wire_pack(&fr, out, out_len);
}

int wire_encode_read_resp(uint64_t id, uint64_t index, bool ok, uint8_t **out, size_t *out_len)
{
    Treaty__Wire__ReadIndexResp rs = TREATY__WIRE__READ_INDEX_RESP__INIT;
    rs.id = id;
    rs.index = index;
    rs.ok = ok;
    Treaty__Wire__Frame fr = TREATY__WIRE__FRAME__INIT;
    fr.body_case = TREATY__WIRE__FRAME__BODY_READ_RESP;
    fr.read_resp = &rs;
    return wire_pack(&fr, out, out_len);
}

static int wire_decode_raft(const Treaty__Wire__RaftMsg *rm, struct wire_frame *f)
{
    if (rm->type < RAFT_MSG_APPEND || rm->type > RAFT_MSG_TIMEOUT_NOW)
        return TR_EPARSE;
    struct raft_msg *m = &f->raft;
    memset(m, 0, sizeof *m);
    m->type = (enum raft_msg_type)rm->type;
    m->from = rm->from;
    m->to = rm->to;
    m->term = rm->term;
    m->log_term = rm->log_term;
    m->index = rm->index;
    m->commit = rm->commit;
    m->context = rm->context;
    m->hint_index = rm->hint_index;
    m->hint_term = rm->hint_term;
    m->flags = rm->flags;
    m->reject = rm->reject;
    if (rm->n_entries == 0)
        return TR_OK;
    struct raft_entry *ents = tr_calloc(rm->n_entries, sizeof *ents);
    if (!ents)
        return TR_ENOMEM;
    for (size_t i = 0; i < rm->n_entries; i++) {
        const Treaty__Wire__RaftEntry *we = rm->entries[i];
        if (we->type > RAFT_ENTRY_NOOP) {
            tr_free(ents);
            return TR_EPARSE;
        }
        ents[i].index = we->index;
        ents[i].term = we->term;
        ents[i].type = (enum raft_entry_type)we->type;
        ents[i].data = we->data.data;
        ents[i].len = we->data.len;
    }
    m->entries = ents;
    m->n_entries = rm->n_entries;
    return TR_OK;
}

bool wire_maybe_raft(const uint8_t *data, size_t len)
{
    return len > 0 && data[0] == ((1u << 3) | 2u); /* Frame.raft: field 1, length-delimited */
}

int wire_decode(const uint8_t *data, size_t len, struct wire_frame *f)
{
    memset(f, 0, sizeof *f);
    Treaty__Wire__Frame *fr = treaty__wire__frame__unpack(NULL, len, data);
    if (!fr)
        return TR_EPARSE;
    int rc = TR_EPARSE;
    if (fr->body_case == TREATY__WIRE__FRAME__BODY_RAFT && fr->raft) {
        f->kind = WIRE_RAFT;
        rc = wire_decode_raft(fr->raft, f);
    } else if (fr->body_case == TREATY__WIRE__FRAME__BODY_FORWARD && fr->forward) {
        f->kind = WIRE_FORWARD;
        f->entry = fr->forward->entry.data;
        f->entry_len = fr->forward->entry.len;
        rc = TR_OK;
    } else if (fr->body_case == TREATY__WIRE__FRAME__BODY_READ_REQ && fr->read_req) {
        f->kind = WIRE_READ_REQ;
        f->read_id = fr->read_req->id;
        rc = TR_OK;
    } else if (fr->body_case == TREATY__WIRE__FRAME__BODY_READ_RESP && fr->read_resp) {
        f->kind = WIRE_READ_RESP;
        f->read_id = fr->read_resp->id;
        f->read_index = fr->read_resp->index;
        f->read_ok = fr->read_resp->ok != 0;
        rc = TR_OK;
    }
    if (rc != TR_OK) {
        treaty__wire__frame__free_unpacked(fr, NULL);
        memset(f, 0, sizeof *f);
        return rc;
    }
    f->priv_ = fr;
    return TR_OK;
}

void wire_frame_free(struct wire_frame *f)
{
    if (!f || !f->priv_)
        return;
    if (f->kind == WIRE_RAFT)
        tr_free((void *)(uintptr_t)f->raft.entries);
    treaty__wire__frame__free_unpacked(f->priv_, NULL);
    memset(f, 0, sizeof *f);
}
