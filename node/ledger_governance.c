/* ledger_governance.c — members (l_members), membership proposals (l_proposals), key rotation,
 * checkpoints (l_ckpt, by height) and their cosignatures (l_cosign, u64 BE height || org).
 * Invariant: a change takes effect in the block where approvals from current members exceed half
 * of the current members; a rotated key verifies batches from the next block on. Deterministic. */
#include "node/genesis.h"
#include "node/identity.h"
#include "node/ledger_int.h"

#include "common/alloc.h"
#include "common/err.h"
#include "node/batch.h"
#include "node/failpoint.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>

#define GOV_KIND(k) TREATY__LEDGER__GOVERNANCE__KIND__##k

int ledger__member_get(struct ledger *l, MDB_txn *txn, const char *org, Treaty__Ledger__Member **m)
{
    MDB_val v;
    *m = NULL;
    int rc = ledger__get(l, txn, l->members, org, strlen(org), &v);
    if (rc != TR_OK)
        return rc;
    *m = treaty__ledger__member__unpack(NULL, v.mv_size, v.mv_data);
    return *m && (*m)->public_key.len == 32 ? TR_OK : TR_ECORRUPT;
}

int ledger__member_put(struct ledger *l, MDB_txn *txn, const Treaty__Ledger__Member *m)
{
    uint8_t buf[1024];
    if (treaty__ledger__member__get_packed_size(m) > sizeof buf)
        return TR_EINVAL;
    size_t n = treaty__ledger__member__pack(m, buf);
    return ledger__put(l, txn, l->members, m->org, strlen(m->org), buf, n);
}

const uint8_t *ledger__member_key_at(const Treaty__Ledger__Member *m, uint64_t height)
{
    if (m->next_public_key.len == 32 && height >= m->next_key_height)
        return m->next_public_key.data;
    return m->public_key.data;
}

int ledger__founders_write(struct ledger *l, MDB_txn *txn, const struct ledger_config *cfg)
{
    MDB_val v;
    int rc = ledger__get(l, txn, l->meta, "founded", 7, &v);
    if (rc != TR_ENOTFOUND)
        return rc;
    for (size_t i = 0; i < cfg->n_founders; i++) {
        const struct ledger_member *f = &cfg->founders[i];
        if (!identity_name_valid(f->org)) {
            snprintf(l->errmsg, sizeof l->errmsg, "founder %zu: invalid org name", i);
            return TR_EINVAL;
        }
        Treaty__Ledger__Member m = TREATY__LEDGER__MEMBER__INIT;
        m.org = (char *)(uintptr_t)f->org;
        m.public_key = (ProtobufCBinaryData){32, (uint8_t *)(uintptr_t)f->public_key};
        m.node_id = f->node_id ? f->node_id : genesis_node_id(f->org);
        m.peer = (char *)(uintptr_t)f->peer;
        rc = ledger__member_put(l, txn, &m);
        if (rc != TR_OK)
            return rc;
    }
    return ledger__put(l, txn, l->meta, "founded", 7, "1", 1);
}

/* Counts active members, and of them those in `orgs`. */
static int members_count(struct ledger *l, MDB_txn *txn, char **orgs, size_t n_orgs, size_t *active,
                         size_t *approving)
{
    MDB_cursor *c;
    MDB_val k, v;
    *active = *approving = 0;
    int rc = ledger__err(l, mdb_cursor_open(txn, l->members, &c), "l_members cursor");
    if (rc != TR_OK)
        return rc;
    int mrc = mdb_cursor_get(c, &k, &v, MDB_FIRST);
    for (; mrc == MDB_SUCCESS; mrc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
        Treaty__Ledger__Member *m = treaty__ledger__member__unpack(NULL, v.mv_size, v.mv_data);
        if (!m) {
            mdb_cursor_close(c);
            return TR_ECORRUPT;
        }
        if (!m->removed) {
            (*active)++;
            for (size_t i = 0; i < n_orgs; i++)
                if (strcmp(orgs[i], m->org) == 0)
                    (*approving)++;
        }
        treaty__ledger__member__free_unpacked(m, NULL);
    }
    mdb_cursor_close(c);
    return mrc == MDB_NOTFOUND ? TR_OK : ledger__err(l, mrc, "l_members scan");
}

static int proposal_put(struct ledger *l, MDB_txn *txn, const Treaty__Ledger__Proposal *p)
{
    size_t n = treaty__ledger__proposal__get_packed_size(p);
    uint8_t *buf = tr_malloc(n ? n : 1);
    if (!buf)
        return TR_ENOMEM;
    treaty__ledger__proposal__pack(p, buf);
    int rc = ledger__put(l, txn, l->proposals, p->id, strlen(p->id), buf, n);
    tr_free(buf);
    return rc;
}

/* Makes the change of `p` take effect; sets a reason if it no longer applies. */
static int proposal_effect(struct ledger__apply *a, MDB_txn *txn, const Treaty__Ledger__Proposal *p,
                           char *reason)
{
    const Treaty__Ledger__Governance *g = p->change;
    if (g->kind == GOV_KIND(SCHEMA))
        return ledger__schema_effect(a, txn, &g->schema, reason);
    Treaty__Ledger__Member *m = NULL;
    int rc = ledger__member_get(a->l, txn, g->org, &m);
    if (rc != TR_OK && rc != TR_ENOTFOUND)
        goto done;
    int active = m && !m->removed;
    if (g->kind == GOV_KIND(ADD_ORG)) {
        if (active) {
            ledger__reason(reason, "governance: org %s is already a member", g->org);
            rc = TR_OK;
            goto done;
        }
        Treaty__Ledger__Member nm = TREATY__LEDGER__MEMBER__INIT;
        nm.org = g->org;
        nm.public_key = g->public_key;
        nm.node_id = genesis_node_id(g->org);
        nm.peer = g->peer;
        nm.added_height = a->height;
        rc = ledger__member_put(a->l, txn, &nm);
    } else {
        size_t n_active = 0, unused = 0;
        rc = members_count(a->l, txn, NULL, 0, &n_active, &unused);
        if (rc == TR_OK && !active)
            ledger__reason(reason, "governance: org %s is not a member", g->org);
        else if (rc == TR_OK && n_active <= 1)
            ledger__reason(reason, "governance: cannot remove the last member");
        else if (rc == TR_OK) {
            m->removed = 1;
            rc = ledger__member_put(a->l, txn, m);
        }
    }
done:
    if (m)
        treaty__ledger__member__free_unpacked(m, NULL);
    return rc;
}

/* Applies `p` if its approvals from current members exceed half of them; stores it. */
static int proposal_settle(struct ledger__apply *a, MDB_txn *txn, Treaty__Ledger__Proposal *p,
                           char *reason, int *changed)
{
    size_t active = 0, approving = 0;
    int rc = members_count(a->l, txn, p->approvals, p->n_approvals, &active, &approving);
    if (rc != TR_OK)
        return rc;
    if (2 * approving > active) {
        rc = proposal_effect(a, txn, p, reason);
        if (rc != TR_OK || reason[0])
            return rc;
        p->closed = 1;
        p->closed_height = a->height;
        *changed = 1;
    }
    return proposal_put(a->l, txn, p);
}

static void gov_check_new(struct ledger__apply *a, MDB_txn *txn,
                          const Treaty__Ledger__Governance *g, char *reason, int *rc)
{
    Treaty__Ledger__Member *m = NULL;
    if (g->kind == GOV_KIND(SCHEMA)) {
        *rc = ledger__schema_check(a->l, &g->schema, reason);
        return;
    }
    if (!identity_name_valid(g->org)) {
        ledger__reason(reason, "governance: invalid org name %.64s", g->org);
        return;
    }
    if (g->kind == GOV_KIND(ADD_ORG) && (g->public_key.len != 32 || !g->peer[0] ||
                                         strlen(g->peer) >= 280 || !strchr(g->peer, ':'))) {
        ledger__reason(reason,
                       "governance: ADD_ORG needs a 32-byte public key and a host:port peer");
        return;
    }
    *rc = ledger__member_get(a->l, txn, g->org, &m);
    if (*rc != TR_OK && *rc != TR_ENOTFOUND)
        return;
    int active = *rc == TR_OK && !m->removed;
    *rc = TR_OK;
    if (g->kind == GOV_KIND(ADD_ORG) && active)
        ledger__reason(reason, "governance: org %s is already a member", g->org);
    if (g->kind == GOV_KIND(REMOVE_ORG) && !active)
        ledger__reason(reason, "governance: org %s is not a member", g->org);
    if (m)
        treaty__ledger__member__free_unpacked(m, NULL);
}

static int gov_propose(struct ledger__apply *a, MDB_txn *txn, const Treaty__Ledger__Tx *tx,
                       char *reason, int *changed)
{
    int rc = TR_OK;
    gov_check_new(a, txn, tx->governance, reason, &rc);
    if (rc != TR_OK || reason[0])
        return rc;
    char *approvals[1] = {(char *)(uintptr_t)a->org};
    Treaty__Ledger__Proposal p = TREATY__LEDGER__PROPOSAL__INIT;
    p.id = tx->id;
    p.change = tx->governance;
    p.proposer = (char *)(uintptr_t)a->org;
    p.n_approvals = 1;
    p.approvals = approvals;
    p.height = a->height;
    return proposal_settle(a, txn, &p, reason, changed);
}

static int gov_approve(struct ledger__apply *a, MDB_txn *txn, const Treaty__Ledger__Governance *g,
                       char *reason, int *changed)
{
    MDB_val v;
    const char *pid = g->proposal_id;
    int rc = batch_tx_id_valid(pid) ? ledger__get(a->l, txn, a->l->proposals, pid, strlen(pid), &v)
                                    : TR_ENOTFOUND;
    if (rc != TR_OK && rc != TR_ENOTFOUND)
        return rc;
    Treaty__Ledger__Proposal *p =
        rc == TR_OK ? treaty__ledger__proposal__unpack(NULL, v.mv_size, v.mv_data) : NULL;
    if (rc == TR_OK && !p)
        return TR_ECORRUPT;
    rc = TR_OK;
    if (!p || p->closed || !p->change) {
        ledger__reason(reason, "governance: no open proposal %.32s", pid);
        goto done;
    }
    for (size_t i = 0; i < p->n_approvals; i++) {
        if (strcmp(p->approvals[i], a->org) == 0) {
            ledger__reason(reason, "governance: org %s already approved proposal %s", a->org, pid);
            goto done;
        }
    }
    char **ap = tr_malloc((p->n_approvals + 1) * sizeof *ap);
    rc = TR_ENOMEM;
    if (!ap)
        goto done;
    memcpy(ap, p->approvals, p->n_approvals * sizeof *ap);
    ap[p->n_approvals] = (char *)(uintptr_t)a->org;
    char **old = p->approvals;
    p->approvals = ap;
    p->n_approvals++;
    rc = proposal_settle(a, txn, p, reason, changed);
    p->n_approvals--;
    p->approvals = old;
    tr_free(ap);
done:
    if (p)
        treaty__ledger__proposal__free_unpacked(p, NULL);
    return rc;
}

static int gov_rotate(struct ledger__apply *a, MDB_txn *txn, const Treaty__Ledger__Governance *g,
                      char *reason, int *changed)
{
    Treaty__Ledger__Member *m = NULL;
    uint8_t cur[32], next[32];
    if (g->public_key.len != 32) {
        ledger__reason(reason, "governance: ROTATE_KEY needs a 32-byte public key");
        return TR_OK;
    }
    int rc = ledger__member_get(a->l, txn, a->org, &m);
    if (rc != TR_OK)
        return rc == TR_ENOTFOUND ? TR_ECORRUPT : rc;
    memcpy(cur, ledger__member_key_at(m, a->height), 32);
    memcpy(next, g->public_key.data, 32);
    if (memcmp(cur, next, 32) == 0) {
        ledger__reason(reason, "governance: the new key equals the current key");
    } else {
        Treaty__Ledger__Member nm = *m;
        nm.public_key = (ProtobufCBinaryData){32, cur};
        nm.next_public_key = (ProtobufCBinaryData){32, next};
        nm.next_key_height = a->height + 1;
        rc = ledger__member_put(a->l, txn, &nm);
        *changed = 1;
    }
    treaty__ledger__member__free_unpacked(m, NULL);
    return rc;
}

int ledger__governance_apply(struct ledger__apply *a, MDB_txn *txn, const Treaty__Ledger__Tx *tx,
                             char *reason, int *members_changed)
{
    const Treaty__Ledger__Governance *g = tx->governance;
    switch (g->kind) {
    case GOV_KIND(ADD_ORG):
    case GOV_KIND(REMOVE_ORG):
    case GOV_KIND(SCHEMA):
        return gov_propose(a, txn, tx, reason, members_changed);
    case GOV_KIND(APPROVE):
        return gov_approve(a, txn, g, reason, members_changed);
    case GOV_KIND(ROTATE_KEY):
        return gov_rotate(a, txn, g, reason, members_changed);
    default:
        ledger__reason(reason, "invalid: unknown governance kind %d", (int)g->kind);
        return TR_OK;
    }
}

/* The checkpoint signing message: domain || network id || encoded checkpoint (tr_malloc'd). */
static uint8_t *ckpt_message(const uint8_t network_id[32], const uint8_t *cp, size_t n,
                             size_t *mlen)
{
    static const char domain[] = CHECKPOINT_SIG_DOMAIN;
    *mlen = sizeof domain + 32 + n;
    uint8_t *msg = tr_malloc(*mlen);
    if (msg) {
        memcpy(msg, domain, sizeof domain);
        memcpy(msg + sizeof domain, network_id, 32);
        memcpy(msg + sizeof domain + 32, cp, n);
    }
    return msg;
}

static int cosign_verify(struct ledger__apply *a, MDB_txn *txn, const Treaty__Ledger__Cosign *c,
                         const MDB_val *stored, char *reason)
{
    Treaty__Ledger__Member *m = NULL;
    size_t mlen;
    int rc = ledger__member_get(a->l, txn, a->org, &m);
    if (rc != TR_OK)
        return rc == TR_ENOTFOUND ? TR_ECORRUPT : rc;
    uint8_t *msg = ckpt_message(a->l->network_id, stored->mv_data, stored->mv_size, &mlen);
    if (!msg) {
        treaty__ledger__member__free_unpacked(m, NULL);
        return TR_ENOMEM;
    }
    if (c->signature.len != 64 ||
        crypto_sign_verify_detached(c->signature.data, msg, mlen,
                                    ledger__member_key_at(m, a->height)) != 0)
        ledger__reason(reason, "invalid: cosignature of org %s does not verify", a->org);
    tr_free(msg);
    treaty__ledger__member__free_unpacked(m, NULL);
    return TR_OK;
}

int ledger__cosign_apply(struct ledger__apply *a, MDB_txn *txn, const Treaty__Ledger__Tx *tx,
                         char *reason)
{
    const Treaty__Ledger__Cosign *c = tx->cosign;
    uint8_t k[8 + 64], buf[256];
    MDB_val v, sv;
    if (!c->checkpoint || treaty__ledger__checkpoint__get_packed_size(c->checkpoint) > sizeof buf) {
        ledger__reason(reason, "invalid: cosignature without a checkpoint");
        return TR_OK;
    }
    uint64_t h = c->checkpoint->height;
    ledger__be64(k, h);
    int rc = ledger__get(a->l, txn, a->l->ckpt, k, 8, &v);
    if (rc == TR_ENOTFOUND)
        ledger__reason(reason, "invalid: no checkpoint at height %llu", (unsigned long long)h);
    if (rc != TR_OK)
        return rc == TR_ENOTFOUND ? TR_OK : rc;
    size_t n = treaty__ledger__checkpoint__pack(c->checkpoint, buf);
    if (n != v.mv_size || memcmp(buf, v.mv_data, n) != 0) {
        ledger__reason(reason, "invalid: checkpoint does not match block %llu",
                       (unsigned long long)h);
        return TR_OK;
    }
    rc = cosign_verify(a, txn, c, &v, reason);
    if (rc != TR_OK || reason[0])
        return rc;
    size_t ol = strlen(a->org);
    memcpy(k + 8, a->org, ol);
    rc = ledger__get(a->l, txn, a->l->cosign, k, 8 + ol, &sv);
    if (rc == TR_OK) {
        ledger__reason(reason, "duplicate: org %s already cosigned checkpoint %llu", a->org,
                       (unsigned long long)h);
        return TR_OK;
    }
    if (rc != TR_ENOTFOUND)
        return rc;
    rc = ledger__put(a->l, txn, a->l->cosign, k, 8 + ol, c->signature.data, 64);
    FAILPOINT(APPLY_COSIGN);
    return rc;
}

int ledger__checkpoint_maybe(struct ledger *l, MDB_txn *txn, const Treaty__Ledger__BlockHeader *h,
                             const uint8_t hash[32], int *due)
{
    uint8_t v[16], k[8], buf[256];
    *due = l->ckpt_blocks && h->height % l->ckpt_blocks == 0;
    if (l->ckpt_height == 0 && l->ckpt_ts == 0) {
        /* no checkpoint yet: the reference time is the first block timestamp */
        l->ckpt_ts = h->timestamp_us;
    } else if (l->ckpt_ms && h->timestamp_us - l->ckpt_ts >= (uint64_t)l->ckpt_ms * 1000) {
        *due = 1;
    }
    if (*due) {
        Treaty__Ledger__Checkpoint cp = TREATY__LEDGER__CHECKPOINT__INIT;
        cp.network_id = (ProtobufCBinaryData){32, l->network_id};
        cp.height = h->height;
        cp.tree_size = h->tree_size;
        cp.root = h->root;
        cp.block_hash = (ProtobufCBinaryData){32, (uint8_t *)(uintptr_t)hash};
        size_t n = treaty__ledger__checkpoint__pack(&cp, buf);
        ledger__be64(k, h->height);
        int rc = ledger__put(l, txn, l->ckpt, k, 8, buf, n);
        if (rc != TR_OK)
            return rc;
        FAILPOINT(APPLY_CHECKPOINT);
        l->ckpt_height = h->height;
        l->ckpt_ts = h->timestamp_us;
    }
    ledger__be64(v, l->ckpt_height);
    ledger__be64(v + 8, l->ckpt_ts);
    return ledger__put(l, txn, l->meta, "ckpt", 4, v, 16);
}

int ledger_checkpoint_sign(struct ledger *l, MDB_txn *txn, uint64_t height, const uint8_t sk[64],
                           uint8_t **checkpoint, size_t *checkpoint_len, uint8_t sig[64])
{
    uint8_t k[8];
    MDB_val v;
    size_t mlen;
    ledger__be64(k, height);
    int rc = ledger__get(l, txn, l->ckpt, k, 8, &v);
    if (rc != TR_OK)
        return rc;
    uint8_t *msg = ckpt_message(l->network_id, v.mv_data, v.mv_size, &mlen);
    uint8_t *cp = tr_malloc(v.mv_size ? v.mv_size : 1);
    if (!msg || !cp) {
        tr_free(msg);
        tr_free(cp);
        return TR_ENOMEM;
    }
    memcpy(cp, v.mv_data, v.mv_size);
    crypto_sign_detached(sig, NULL, msg, mlen, sk);
    tr_free(msg);
    *checkpoint = cp;
    *checkpoint_len = v.mv_size;
    return TR_OK;
}

static int ckpt_cosigners(struct ledger *l, MDB_txn *rtxn, const uint8_t k[8], json_t *arr)
{
    MDB_cursor *c;
    MDB_val key = {8, (void *)(uintptr_t)k}, v;
    int rc = ledger__err(l, mdb_cursor_open(rtxn, l->cosign, &c), "l_cosign cursor");
    if (rc != TR_OK)
        return rc;
    int mrc = mdb_cursor_get(c, &key, &v, MDB_SET_RANGE);
    for (; mrc == MDB_SUCCESS; mrc = mdb_cursor_get(c, &key, &v, MDB_NEXT)) {
        if (key.mv_size <= 8 || memcmp(key.mv_data, k, 8) != 0 || key.mv_size > 8 + 63)
            break;
        char org[64];
        memcpy(org, (const char *)key.mv_data + 8, key.mv_size - 8);
        org[key.mv_size - 8] = '\0';
        json_array_append_new(arr, json_pack("{ss so}", "org", org, "signature",
                                             ledger__hex_json(v.mv_data, v.mv_size)));
    }
    mdb_cursor_close(c);
    return mrc == MDB_SUCCESS || mrc == MDB_NOTFOUND ? TR_OK : ledger__err(l, mrc, "l_cosign");
}

int ledger_cosigns_owed(struct ledger *l, MDB_txn *rtxn, const char *org, size_t max,
                        uint64_t *heights, size_t *n)
{
    *n = 0;
    size_t ol = strlen(org);
    if (ol == 0 || ol > 63)
        return TR_EINVAL;
    MDB_cursor *c;
    MDB_val k, v;
    int rc = ledger__err(l, mdb_cursor_open(rtxn, l->ckpt, &c), "l_ckpt cursor");
    if (rc != TR_OK)
        return rc;
    size_t seen = 0;
    int mrc = mdb_cursor_get(c, &k, &v, MDB_LAST);
    for (; mrc == MDB_SUCCESS && seen < max; mrc = mdb_cursor_get(c, &k, &v, MDB_PREV), seen++) {
        if (k.mv_size != 8) {
            rc = TR_ECORRUPT;
            break;
        }
        uint8_t ck[8 + 63];
        memcpy(ck, k.mv_data, 8);
        memcpy(ck + 8, org, ol);
        MDB_val sv;
        rc = ledger__get(l, rtxn, l->cosign, ck, 8 + ol, &sv);
        if (rc == TR_OK)
            continue;
        if (rc != TR_ENOTFOUND)
            break;
        rc = TR_OK;
        uint64_t h = 0;
        for (int i = 0; i < 8; i++)
            h = h << 8 | ck[i];
        heights[(*n)++] = h;
    }
    mdb_cursor_close(c);
    if (rc == TR_OK && mrc != MDB_SUCCESS && mrc != MDB_NOTFOUND)
        rc = ledger__err(l, mrc, "l_ckpt");
    for (size_t i = 0; rc == TR_OK && i < *n / 2; i++) { /* ascending */
        uint64_t t = heights[i];
        heights[i] = heights[*n - 1 - i];
        heights[*n - 1 - i] = t;
    }
    return rc;
}

int ledger_checkpoint_latest(struct ledger *l, MDB_txn *rtxn, json_t **out)
{
    MDB_cursor *c;
    MDB_val k, v;
    int rc = ledger__err(l, mdb_cursor_open(rtxn, l->ckpt, &c), "l_ckpt cursor");
    if (rc != TR_OK)
        return rc;
    rc = ledger__err(l, mdb_cursor_get(c, &k, &v, MDB_LAST), "l_ckpt");
    Treaty__Ledger__Checkpoint *cp =
        rc == TR_OK ? treaty__ledger__checkpoint__unpack(NULL, v.mv_size, v.mv_data) : NULL;
    uint8_t key[8];
    if (rc == TR_OK && k.mv_size == 8)
        memcpy(key, k.mv_data, 8);
    mdb_cursor_close(c);
    if (rc != TR_OK)
        return rc;
    if (!cp || k.mv_size != 8)
        return TR_ECORRUPT;
    json_t *arr = json_array();
    json_t *o = json_pack(
        "{sI sI so so so so}", "height", (json_int_t)cp->height, "tree_size",
        (json_int_t)cp->tree_size, "root", ledger__hex_json(cp->root.data, cp->root.len),
        "block_hash", ledger__hex_json(cp->block_hash.data, cp->block_hash.len), "network_id",
        ledger__hex_json(cp->network_id.data, cp->network_id.len), "cosigners", arr);
    treaty__ledger__checkpoint__free_unpacked(cp, NULL);
    if (!o)
        return TR_ENOMEM;
    rc = ckpt_cosigners(l, rtxn, key, arr);
    if (rc != TR_OK) {
        json_decref(o);
        return rc;
    }
    *out = o;
    return TR_OK;
}

static int members_append(struct ledger_member **arr, size_t *n, size_t *cap,
                          const Treaty__Ledger__Member *m, uint64_t height)
{
    if (*n == *cap) {
        size_t nc = *cap ? 2 * *cap : 8;
        struct ledger_member *p = tr_realloc(*arr, nc * sizeof *p);
        if (!p)
            return TR_ENOMEM;
        *arr = p;
        *cap = nc;
    }
    struct ledger_member *d = &(*arr)[(*n)++];
    memset(d, 0, sizeof *d);
    snprintf(d->org, sizeof d->org, "%s", m->org);
    memcpy(d->public_key, ledger__member_key_at(m, height), 32);
    d->node_id = m->node_id;
    snprintf(d->peer, sizeof d->peer, "%s", m->peer);
    return TR_OK;
}

int ledger_members(struct ledger *l, MDB_txn *rtxn, struct ledger_member **out, size_t *n)
{
    struct ledger_head h;
    struct ledger_member *arr = NULL;
    size_t cnt = 0, cap = 0;
    MDB_cursor *c;
    MDB_val k, v;
    int rc = ledger_head(l, rtxn, &h);
    if (rc == TR_OK)
        rc = ledger__err(l, mdb_cursor_open(rtxn, l->members, &c), "l_members cursor");
    if (rc != TR_OK)
        return rc;
    int mrc = mdb_cursor_get(c, &k, &v, MDB_FIRST);
    for (; rc == TR_OK && mrc == MDB_SUCCESS; mrc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
        Treaty__Ledger__Member *m = treaty__ledger__member__unpack(NULL, v.mv_size, v.mv_data);
        if (!m || m->public_key.len != 32)
            rc = TR_ECORRUPT;
        else if (!m->removed)
            rc = members_append(&arr, &cnt, &cap, m, h.height + 1);
        if (m)
            treaty__ledger__member__free_unpacked(m, NULL);
    }
    mdb_cursor_close(c);
    if (rc == TR_OK && mrc != MDB_NOTFOUND && mrc != MDB_SUCCESS)
        rc = ledger__err(l, mrc, "l_members scan");
    if (rc != TR_OK) {
        tr_free(arr);
        return rc;
    }
    *out = arr;
    *n = cnt;
    return TR_OK;
}
