/* audit_replay.c — what the export verifier replays besides hashes: members and their keys,
 * membership proposals and their approvals (ledger_governance.c's rules), the checkpoints the
 * genesis rule makes, and cosignatures, both from Cosign txs and from checkpoint records. Pure;
 * called by audit_verify.c block by block. */
#include "node/audit_int.h"

#include "common/alloc.h"
#include "common/err.h"
#include "node/batch.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>

#define GOV(k) TREATY__LEDGER__GOVERNANCE__KIND__##k

/* ---- members and proposals ---- */

struct av_member *audit__member(struct av *v, const char *org)
{
    for (size_t i = 0; i < v->n_members; i++)
        if (strcmp(v->members[i].org, org) == 0)
            return &v->members[i];
    return NULL;
}

const uint8_t *audit__key_at(const struct av_member *m, uint64_t height)
{
    return m->has_next && height >= m->next_h ? m->next_key : m->key;
}

int audit__member_add(struct av *v, const char *org, const uint8_t key[32])
{
    struct av_member *m = audit__member(v, org);
    if (!m) {
        struct av_member *p = tr_realloc(v->members, (v->n_members + 1) * sizeof *p);
        if (!p)
            return TR_ENOMEM;
        v->members = p;
        m = &p[v->n_members++];
        memset(m, 0, sizeof *m);
        snprintf(m->org, sizeof m->org, "%s", org);
    }
    memcpy(m->key, key, 32);
    m->has_next = m->removed = 0;
    return TR_OK;
}

static size_t av_active(const struct av *v, char (*orgs)[64], size_t n, size_t *approving)
{
    size_t active = 0;
    *approving = 0;
    for (size_t i = 0; i < v->n_members; i++) {
        if (v->members[i].removed)
            continue;
        active++;
        for (size_t j = 0; j < n; j++)
            if (strcmp(orgs[j], v->members[i].org) == 0)
                (*approving)++;
    }
    return active;
}

static struct av_proposal *av_proposal(struct av *v, const char *id)
{
    for (size_t i = 0; i < v->n_props; i++)
        if (strcmp(v->props[i].id, id) == 0)
            return &v->props[i];
    return NULL;
}

/* Takes effect if approvals from current members exceed half of them (ledger_governance.c). */
static int av_settle(struct av *v, struct av_proposal *p, uint64_t h)
{
    size_t approving, active = av_active(v, p->approvals, p->n_approvals, &approving);
    if (2 * approving <= active)
        return TR_OK;
    struct av_member *m = audit__member(v, p->org);
    int is_active = m && !m->removed;
    if (p->kind == GOV(ADD_ORG)) {
        if (is_active)
            return audit__fail(v, h, "governance", "org %s added while already a member", p->org);
        int rc = audit__member_add(v, p->org, p->pk);
        if (rc != TR_OK)
            return rc;
    } else if (p->kind == GOV(REMOVE_ORG)) {
        if (!is_active || active <= 1)
            return audit__fail(v, h, "governance",
                               "org %s removed but it is not a member, or the last", p->org);
        m->removed = 1;
    }
    p->closed = 1;
    return TR_OK;
}

static int av_approval_add(struct av_proposal *p, const char *org)
{
    char(*a)[64] = tr_realloc(p->approvals, (p->n_approvals + 1) * sizeof *a);
    if (!a)
        return TR_ENOMEM;
    p->approvals = a;
    snprintf(a[p->n_approvals++], 64, "%s", org);
    return TR_OK;
}

static int av_propose(struct av *v, const Treaty__Ledger__Tx *tx, const char *org, uint64_t h)
{
    const Treaty__Ledger__Governance *g = tx->governance;
    if (g->kind == GOV(ADD_ORG) && g->public_key.len != 32)
        return audit__fail(v, h, "governance", "ADD_ORG %s without a 32-byte key committed",
                           g->org);
    struct av_proposal *p = tr_realloc(v->props, (v->n_props + 1) * sizeof *p);
    if (!p)
        return TR_ENOMEM;
    v->props = p;
    p = &p[v->n_props++];
    memset(p, 0, sizeof *p);
    snprintf(p->id, sizeof p->id, "%s", tx->id);
    p->kind = (int)g->kind;
    snprintf(p->org, sizeof p->org, "%s", g->org);
    if (g->public_key.len == 32)
        memcpy(p->pk, g->public_key.data, 32);
    int rc = av_approval_add(p, org);
    return rc == TR_OK ? av_settle(v, p, h) : rc;
}

int audit__governance(struct av *v, const Treaty__Ledger__Tx *tx, const char *org, uint64_t h)
{
    const Treaty__Ledger__Governance *g = tx->governance;
    switch (g->kind) {
    case GOV(ADD_ORG):
    case GOV(REMOVE_ORG):
    case GOV(SCHEMA):
        return av_propose(v, tx, org, h);
    case GOV(APPROVE): {
        struct av_proposal *p = av_proposal(v, g->proposal_id);
        if (!p || p->closed)
            return audit__fail(v, h, "governance", "approval of proposal %.32s, which is not open",
                               g->proposal_id);
        for (size_t i = 0; i < p->n_approvals; i++)
            if (strcmp(p->approvals[i], org) == 0)
                return audit__fail(v, h, "governance", "org %s approved proposal %s twice", org,
                                   p->id);
        int rc = av_approval_add(p, org);
        return rc == TR_OK ? av_settle(v, p, h) : rc;
    }
    case GOV(ROTATE_KEY): {
        struct av_member *m = audit__member(v, org);
        if (g->public_key.len != 32 || !m)
            return audit__fail(v, h, "governance", "ROTATE_KEY of org %s without a 32-byte key",
                               org);
        memcpy(m->key, audit__key_at(m, h), 32);
        memcpy(m->next_key, g->public_key.data, 32);
        m->has_next = 1;
        m->next_h = h + 1;
        return TR_OK;
    }
    default:
        return audit__fail(v, h, "governance", "unknown governance kind %d committed",
                           (int)g->kind);
    }
}

/* ---- checkpoints ---- */

static struct av_ckpt *av_ckpt(struct av *v, uint64_t height)
{
    for (size_t i = v->n_ckpts; i-- > 0;)
        if (v->ckpts[i].height == height)
            return &v->ckpts[i];
    return NULL;
}

/* The checkpoint `cp` just computed, and the members' keys at its height, when v->cap wants it. */
static void av_capture_ckpt(struct av *v, const Treaty__Ledger__Checkpoint *cp)
{
    struct audit_capture *cap = v->cap;
    if (!cap || (cap->want_height && cap->want_height != cp->height))
        return;
    struct audit_cp *c = &cap->cp;
    memset(c, 0, sizeof *c);
    memcpy(c->network_id, v->network_id, 32);
    memcpy(c->root, cp->root.data, 32);
    memcpy(c->block_hash, cp->block_hash.data, 32);
    c->height = cp->height;
    c->tree_size = cp->tree_size;
    for (size_t i = 0; i < v->n_members && c->n_members < AUDIT_CP_MAX_ORGS; i++) {
        if (v->members[i].removed)
            continue;
        struct audit_cp_org *m = &c->members[c->n_members++];
        snprintf(m->org, sizeof m->org, "%s", v->members[i].org);
        memcpy(m->bytes, audit__key_at(&v->members[i], cp->height), 32);
    }
    cap->found = 1;
    cap->dropped = 0;
}

/* The verified cosignatures of checkpoint record `c` at height h, when it is the captured one:
 * those that verify with the captured keys. */
static void av_capture_cosigs(struct av *v, uint64_t h, const Treaty__Audit__ExportCheckpoint *c)
{
    struct audit_capture *cap = v->cap;
    if (!cap || !cap->found || cap->cp.height != h)
        return;
    cap->cp.n_cosigs = 0;
    for (size_t k = 0; k < c->n_cosignatures; k++) {
        const Treaty__Audit__Cosignature *s = c->cosignatures[k];
        const uint8_t *key = audit_cp_member_key(&cap->cp, s->org);
        if (cap->cp.n_cosigs < AUDIT_CP_MAX_ORGS && key && s->signature.len == 64 &&
            audit_cp_sig_ok(&cap->cp, s->signature.data, key)) {
            struct audit_cp_org *o = &cap->cp.cosigs[cap->cp.n_cosigs++];
            snprintf(o->org, sizeof o->org, "%s", s->org);
            memcpy(o->bytes, s->signature.data, 64);
        } else {
            cap->dropped++;
        }
    }
}

/* ledger__checkpoint_maybe: is block `hdr` (hashed to `hash`) a checkpoint? */
int audit__ckpt_maybe(struct av *v, const Treaty__Ledger__BlockHeader *hdr, const uint8_t hash[32])
{
    int due = v->ckpt_blocks && hdr->height % v->ckpt_blocks == 0;
    if (v->ckpt_height == 0 && v->ckpt_ts == 0)
        v->ckpt_ts = hdr->timestamp_us;
    else if (v->ckpt_ms && hdr->timestamp_us - v->ckpt_ts >= (uint64_t)v->ckpt_ms * 1000)
        due = 1;
    if (!due)
        return TR_OK;
    Treaty__Ledger__Checkpoint cp = TREATY__LEDGER__CHECKPOINT__INIT;
    cp.network_id = (ProtobufCBinaryData){32, v->network_id};
    cp.height = hdr->height;
    cp.tree_size = hdr->tree_size;
    cp.root = hdr->root;
    cp.block_hash = (ProtobufCBinaryData){32, (uint8_t *)(uintptr_t)hash};
    struct av_ckpt *c = tr_realloc(v->ckpts, (v->n_ckpts + 1) * sizeof *c);
    if (!c)
        return TR_ENOMEM;
    v->ckpts = c;
    c = &c[v->n_ckpts];
    c->len = treaty__ledger__checkpoint__get_packed_size(&cp);
    c->bytes = tr_malloc(c->len);
    if (!c->bytes)
        return TR_ENOMEM;
    treaty__ledger__checkpoint__pack(&cp, c->bytes);
    c->height = hdr->height;
    size_t unused;
    c->n_active = av_active(v, NULL, 0, &unused);
    v->n_ckpts++;
    av_capture_ckpt(v, &cp);
    v->ckpt_height = hdr->height;
    v->ckpt_ts = hdr->timestamp_us;
    return TR_OK;
}

static int av_ckpt_sig_ok(const struct av *v, const uint8_t *cp, size_t n, const uint8_t *sig,
                          size_t siglen, const uint8_t key[32])
{
    static const char domain[] = CHECKPOINT_SIG_DOMAIN;
    uint8_t stack[512];
    size_t mlen = sizeof domain + 32 + n;
    if (siglen != 64 || mlen > sizeof stack)
        return 0;
    memcpy(stack, domain, sizeof domain);
    memcpy(stack + sizeof domain, v->network_id, 32);
    memcpy(stack + sizeof domain + 32, cp, n);
    return crypto_sign_verify_detached(sig, stack, mlen, key) == 0;
}

/* A committed Cosign tx (ledger__cosign_apply): it must have been accepted. */
int audit__cosign(struct av *v, const Treaty__Ledger__Cosign *c, const char *org, uint64_t h)
{
    uint8_t buf[256];
    if (!c->checkpoint || treaty__ledger__checkpoint__get_packed_size(c->checkpoint) > sizeof buf)
        return audit__fail(v, h, "cosignature", "committed cosignature of org %s has no checkpoint",
                           org);
    uint64_t ch = c->checkpoint->height;
    struct av_ckpt *cp = av_ckpt(v, ch);
    size_t n = treaty__ledger__checkpoint__pack(c->checkpoint, buf);
    if (!cp || cp->len != n || memcmp(cp->bytes, buf, n) != 0)
        return audit__fail(v, h, "cosignature",
                           "org %s cosigned a checkpoint at %llu that is not the ledger's", org,
                           (unsigned long long)ch);
    struct av_member *m = audit__member(v, org);
    if (!m || !av_ckpt_sig_ok(v, buf, n, c->signature.data, c->signature.len, audit__key_at(m, h)))
        return audit__fail(v, h, "cosignature",
                           "cosignature of org %s on checkpoint %llu does not "
                           "verify",
                           org, (unsigned long long)ch);
    for (size_t i = 0; i < v->n_cosigns; i++)
        if (v->cosigns[i].height == ch && strcmp(v->cosigns[i].org, org) == 0)
            return audit__fail(v, h, "cosignature", "org %s cosigned checkpoint %llu twice", org,
                               (unsigned long long)ch);
    struct av_cosign *s = tr_realloc(v->cosigns, (v->n_cosigns + 1) * sizeof *s);
    if (!s)
        return TR_ENOMEM;
    v->cosigns = s;
    s = &s[v->n_cosigns++];
    memset(s, 0, sizeof *s);
    s->height = ch;
    snprintf(s->org, sizeof s->org, "%s", org);
    memcpy(s->sig, c->signature.data, 64);
    return TR_OK;
}

/* ---- checkpoint records ---- */

static struct av_cosign *av_cosign_find(struct av *v, uint64_t h, const char *org)
{
    for (size_t i = 0; i < v->n_cosigns; i++)
        if (v->cosigns[i].height == h && strcmp(v->cosigns[i].org, org) == 0)
            return &v->cosigns[i];
    return NULL;
}

int audit__checkpoint(struct av *v, size_t i, const Treaty__Audit__ExportCheckpoint *c)
{
    if (i >= v->n_ckpts)
        return audit__fail(v, v->height, "checkpoint",
                           "checkpoint record %zu: the ledger has only %zu "
                           "checkpoints in range",
                           i, v->n_ckpts);
    struct av_ckpt *cp = &v->ckpts[i];
    uint64_t h = cp->height;
    if (c->checkpoint.len != cp->len || memcmp(c->checkpoint.data, cp->bytes, cp->len) != 0)
        return audit__fail(v, h, "checkpoint",
                           "checkpoint record is not the checkpoint of block %llu",
                           (unsigned long long)h);
    json_t *signers = json_array();
    size_t n_signed = 0;
    for (size_t k = 0; k < c->n_cosignatures; k++) {
        const Treaty__Audit__Cosignature *s = c->cosignatures[k];
        struct av_cosign *tx = av_cosign_find(v, h, s->org);
        struct av_member *m = audit__member(v, s->org);
        int ok = k == 0 || strcmp(c->cosignatures[k - 1]->org, s->org) < 0;
        if (ok && tx)
            ok = s->signature.len == 64 && memcmp(tx->sig, s->signature.data, 64) == 0;
        else if (ok) /* applied after the export's last block: check it with today's key */
            ok = m && !m->removed &&
                 av_ckpt_sig_ok(v, cp->bytes, cp->len, s->signature.data, s->signature.len,
                                audit__key_at(m, v->height + 1));
        if (!ok) {
            json_decref(signers);
            return audit__fail(v, h, "cosignature",
                               "checkpoint %llu: the cosignature of org %.63s is "
                               "forged or out of order",
                               (unsigned long long)h, s->org);
        }
        if (tx)
            tx->seen = 1;
        json_array_append_new(signers, json_string(s->org));
        n_signed++;
    }
    for (size_t k = 0; k < v->n_cosigns; k++) {
        if (v->cosigns[k].height == h && !v->cosigns[k].seen) {
            json_decref(signers);
            return audit__fail(v, h, "cosignature",
                               "checkpoint %llu: the cosignature of org %s "
                               "(committed in a Cosign tx) is missing",
                               (unsigned long long)h, v->cosigns[k].org);
        }
    }
    int majority = 2 * n_signed > cp->n_active;
    json_array_append_new(
        v->rep->checkpoint_list,
        json_pack("{sI so sb}", "height", (json_int_t)h, "signers", signers, "majority", majority));
    if (majority) {
        /* Its cosigners saw the chain of hashes through every checkpoint before it. */
        for (size_t k = v->minority_index;
             v->minority_ckpt && k + 1 < json_array_size(v->rep->checkpoint_list); k++)
            json_object_set_new(json_array_get(v->rep->checkpoint_list, k), "confirmed_by",
                                json_integer((json_int_t)h));
        v->rep->confirmed_height = h;
        v->minority_ckpt = 0;
    } else if (!v->minority_ckpt) {
        v->minority_ckpt = h;
        v->minority_signed = n_signed;
        v->minority_active = cp->n_active;
        v->minority_index = json_array_size(v->rep->checkpoint_list) - 1;
        v->minority_after = 0;
    } else {
        v->minority_after++;
    }
    v->rep->checkpoints++;
    av_capture_cosigs(v, h, c);
    return TR_OK;
}
