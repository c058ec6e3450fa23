/* audit_verify.c — `treaty audit verify`: replays an export (docs/audit.proto) from the genesis and
 * checks, block by block, what the ledger's apply (ledger_apply.c, ledger_governance.c) computed:
 * the hash chain, batch hashes, timestamps, each leaf against its tx, batch signatures with the key
 * in force at that height, the per-org seq rule, governance (members, keys), cosignatures, and the
 * RFC 9162 root of every block. Pure: no LMDB, no clock; stops at the first failure. */
#include "node/audit.h"

#include "common/alloc.h"
#include "common/err.h"
#include "docs/audit.pb-c.h"
#include "node/batch.h"
#include "node/genesis.h"
#include "node/ledger.pb-c.h"
#include "node/merkle.h"

#include <sodium.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#define GOV(k) TREATY__LEDGER__GOVERNANCE__KIND__##k
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

static void *av_arena_alloc(void *arg, size_t size)
{
    struct av_arena *a = arg;
    size = (size + 15) & ~(size_t)15;
    struct av_chunk *c = a->head;
    if (!c || c->cap - c->used < size) {
        size_t cap = size > ((size_t)1 << 20) ? size : (size_t)1 << 20;
        c = tr_malloc(sizeof *c + cap);
        if (!c)
            return NULL;
        c->next = a->head;
        c->cap = cap;
        c->used = 0;
        a->head = c;
    }
    void *p = (char *)c->data + c->used;
    c->used += size;
    a->total += size;
    return p;
}

static void av_arena_free(void *arg, void *p)
{
    (void)arg;
    (void)p;
}

static void av_arena_reset(struct av_arena *a, int keep)
{
    size_t total = a->total;
    int many = a->head && a->head->next;
    if (a->head && !many && keep) {
        a->head->used = 0;
        a->total = 0;
        return;
    }
    while (a->head) {
        struct av_chunk *n = a->head->next;
        tr_free(a->head);
        a->head = n;
    }
    a->total = 0;
    if (keep && many && av_arena_alloc(a, total))
        a->head->used = a->total = 0;
}

struct av {
    struct audit_report *rep;
    uint8_t network_id[32];
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
    uint8_t prev_hash[32];
    uint8_t frontier[64][32]; /* complete subtrees of the leaves so far, one per set bit of size */
    uint64_t size;
    struct av_arena arena;
    ProtobufCAllocator pa; /* over arena: for everything unpacked from one record */
};

/* A byte source: a FILE or a buffer. */
struct av_src {
    FILE *f;
    const uint8_t *p;
    size_t len, off;
};

static size_t av_read(struct av_src *s, uint8_t *out, size_t n)
{
    if (s->f)
        return fread(out, 1, n, s->f);
    size_t k = s->len - s->off < n ? s->len - s->off : n;
    memcpy(out, s->p + s->off, k);
    s->off += k;
    return k;
}

static int av_fail(struct av *v, uint64_t height, const char *what, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int av_fail(struct av *v, uint64_t height, const char *what, const char *fmt, ...)
{
    struct audit_report *r = v->rep;
    if (!r->ok)
        return FAILED;
    r->ok = 0;
    r->fail_height = height;
    snprintf(r->fail_what, sizeof r->fail_what, "%s", what);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->fail_why, sizeof r->fail_why, fmt, ap);
    va_end(ap);
    return FAILED;
}

size_t audit_varint_put(uint8_t out[10], uint64_t len)
{
    size_t n = 0;
    while (len >= 0x80) {
        out[n++] = (uint8_t)(len | 0x80);
        len >>= 7;
    }
    out[n++] = (uint8_t)len;
    return n;
}

/* Reads one framed record into *buf (grown as needed). Returns TR_OK, TR_ENOTFOUND at a clean
 * end of input, TR_EPARSE when the input ends inside a record or the length is bad, TR_ENOMEM. */
static int av_next(struct av_src *s, uint8_t **buf, size_t *cap, size_t *len)
{
    uint64_t n = 0;
    uint8_t c;
    for (unsigned shift = 0;; shift += 7) {
        if (av_read(s, &c, 1) != 1)
            return shift == 0 ? TR_ENOTFOUND : TR_EPARSE;
        if (shift > 63)
            return TR_EPARSE;
        n |= (uint64_t)(c & 0x7f) << shift;
        if (!(c & 0x80))
            break;
    }
    if (n > AUDIT_RECORD_MAX)
        return TR_EPARSE;
    if (n > *cap) {
        uint8_t *p = tr_realloc(*buf, (size_t)n);
        if (!p)
            return TR_ENOMEM;
        *buf = p;
        *cap = (size_t)n;
    }
    *len = (size_t)n;
    return av_read(s, *buf, (size_t)n) == n ? TR_OK : TR_EPARSE;
}

/* ---- Merkle: RFC 9162 §2.1.1 over a frontier of complete subtrees ---- */

static void av_merkle_append(struct av *v, const uint8_t leaf_hash[32])
{
    uint8_t cur[32];
    unsigned level = 0;
    memcpy(cur, leaf_hash, 32);
    for (uint64_t n = v->size; n & 1; n >>= 1, level++)
        merkle_node_hash(v->frontier[level], cur, cur);
    memcpy(v->frontier[level], cur, 32);
    v->size++;
}

static void av_merkle_root(const struct av *v, uint8_t out[32])
{
    int have = 0;
    if (v->size == 0) {
        crypto_hash_sha256(out, NULL, 0);
        return;
    }
    for (unsigned level = 0; level < 64; level++) {
        if (!(v->size >> level & 1))
            continue;
        if (have) {
            merkle_node_hash(v->frontier[level], out, out);
        } else {
            memcpy(out, v->frontier[level], 32);
            have = 1;
        }
    }
}

/* ---- members and proposals ---- */

static struct av_member *av_member(struct av *v, const char *org)
{
    for (size_t i = 0; i < v->n_members; i++)
        if (strcmp(v->members[i].org, org) == 0)
            return &v->members[i];
    return NULL;
}

static const uint8_t *av_key_at(const struct av_member *m, uint64_t height)
{
    return m->has_next && height >= m->next_h ? m->next_key : m->key;
}

static int av_member_add(struct av *v, const char *org, const uint8_t key[32])
{
    struct av_member *m = av_member(v, org);
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
    struct av_member *m = av_member(v, p->org);
    int is_active = m && !m->removed;
    if (p->kind == GOV(ADD_ORG)) {
        if (is_active)
            return av_fail(v, h, "governance", "org %s added while already a member", p->org);
        int rc = av_member_add(v, p->org, p->pk);
        if (rc != TR_OK)
            return rc;
    } else if (p->kind == GOV(REMOVE_ORG)) {
        if (!is_active || active <= 1)
            return av_fail(v, h, "governance", "org %s removed but it is not a member, or the last",
                           p->org);
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
        return av_fail(v, h, "governance", "ADD_ORG %s without a 32-byte key committed", g->org);
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

static int av_governance(struct av *v, const Treaty__Ledger__Tx *tx, const char *org, uint64_t h)
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
            return av_fail(v, h, "governance", "approval of proposal %.32s, which is not open",
                           g->proposal_id);
        for (size_t i = 0; i < p->n_approvals; i++)
            if (strcmp(p->approvals[i], org) == 0)
                return av_fail(v, h, "governance", "org %s approved proposal %s twice", org, p->id);
        int rc = av_approval_add(p, org);
        return rc == TR_OK ? av_settle(v, p, h) : rc;
    }
    case GOV(ROTATE_KEY): {
        struct av_member *m = av_member(v, org);
        if (g->public_key.len != 32 || !m)
            return av_fail(v, h, "governance", "ROTATE_KEY of org %s without a 32-byte key", org);
        memcpy(m->key, av_key_at(m, h), 32);
        memcpy(m->next_key, g->public_key.data, 32);
        m->has_next = 1;
        m->next_h = h + 1;
        return TR_OK;
    }
    default:
        return av_fail(v, h, "governance", "unknown governance kind %d committed", (int)g->kind);
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

/* ledger__checkpoint_maybe: is block `hdr` (hashed to `hash`) a checkpoint? */
static int av_ckpt_maybe(struct av *v, const Treaty__Ledger__BlockHeader *hdr,
                         const uint8_t hash[32])
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
static int av_cosign(struct av *v, const Treaty__Ledger__Cosign *c, const char *org, uint64_t h)
{
    uint8_t buf[256];
    if (!c->checkpoint || treaty__ledger__checkpoint__get_packed_size(c->checkpoint) > sizeof buf)
        return av_fail(v, h, "cosignature", "committed cosignature of org %s has no checkpoint",
                       org);
    uint64_t ch = c->checkpoint->height;
    struct av_ckpt *cp = av_ckpt(v, ch);
    size_t n = treaty__ledger__checkpoint__pack(c->checkpoint, buf);
    if (!cp || cp->len != n || memcmp(cp->bytes, buf, n) != 0)
        return av_fail(v, h, "cosignature",
                       "org %s cosigned a checkpoint at %llu that is not the ledger's", org,
                       (unsigned long long)ch);
    struct av_member *m = av_member(v, org);
    if (!m || !av_ckpt_sig_ok(v, buf, n, c->signature.data, c->signature.len, av_key_at(m, h)))
        return av_fail(v, h, "cosignature",
                       "cosignature of org %s on checkpoint %llu does not "
                       "verify",
                       org, (unsigned long long)ch);
    for (size_t i = 0; i < v->n_cosigns; i++)
        if (v->cosigns[i].height == ch && strcmp(v->cosigns[i].org, org) == 0)
            return av_fail(v, h, "cosignature", "org %s cosigned checkpoint %llu twice", org,
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

/* ---- batches and leaves ---- */

/* Why the ledger refuses the batch as a whole ("" if it does not): ledger_batch_check. */
static const char *av_batch_refusal(struct av *v, const Treaty__Ledger__SignedBatch *sb,
                                    const Treaty__Ledger__Batch *b, uint64_t h)
{
    static const char domain[] = BATCH_SIG_DOMAIN;
    if (b->n_txs > BATCH_TXS_MAX)
        return "too many txs";
    if (b->network_id.len != 32 || memcmp(b->network_id.data, v->network_id, 32) != 0)
        return "another network";
    if (strcmp(sb->org, b->org) != 0)
        return "signed as another org";
    struct av_member *m = av_member(v, b->org);
    if (!m || m->removed)
        return "not a member";
    if (sb->signature.len != 64)
        return "bad signature";
    size_t mlen = sizeof domain + 32 + sb->batch.len;
    uint8_t *msg = tr_malloc(mlen);
    if (!msg)
        return NULL;
    memcpy(msg, domain, sizeof domain);
    memcpy(msg + sizeof domain, v->network_id, 32);
    memcpy(msg + sizeof domain + 32, sb->batch.data, sb->batch.len);
    int ok = crypto_sign_verify_detached(sb->signature.data, msg, mlen, av_key_at(m, h)) == 0;
    tr_free(msg);
    return ok ? "" : "bad signature";
}

/* Checks leaf `i` of block h against tx `tx` of batch b; *lf is the decoded leaf (caller frees). */
static int av_leaf(struct av *v, uint64_t h, uint32_t i, const ProtobufCBinaryData *bytes,
                   const Treaty__Ledger__Batch *b, Treaty__Ledger__TxLeaf **lf)
{
    uint8_t txh[32];
    *lf = treaty__ledger__tx_leaf__unpack(&v->pa, bytes->len, bytes->data);
    if (!*lf)
        return av_fail(v, h, "leaf", "leaf %u does not decode", i);
    const Treaty__Ledger__Tx *tx = b->txs[i];
    uint8_t stack[2048];
    size_t n = treaty__ledger__tx__get_packed_size(tx);
    uint8_t *buf = n <= sizeof stack ? stack : tr_malloc(n);
    if (!buf)
        return TR_ENOMEM;
    treaty__ledger__tx__pack(tx, buf);
    crypto_hash_sha256(txh, buf, n);
    if (buf != stack)
        tr_free(buf);
    const Treaty__Ledger__TxLeaf *l = *lf;
    if (l->height != h || l->index != i || strcmp(l->tx_id, tx->id) != 0 ||
        strcmp(l->org, b->org) != 0 || l->seq != b->seq)
        return av_fail(v, h, "leaf", "leaf %u does not name tx %u of the batch (id, org, seq)", i,
                       i);
    if (l->tx_hash.len != 32 || memcmp(l->tx_hash.data, txh, 32) != 0)
        return av_fail(v, h, "leaf", "leaf %u: tx_hash is not SHA-256 of tx %u", i, i);
    if (l->committed != (l->reason[0] == '\0'))
        return av_fail(v, h, "leaf", "leaf %u: committed and reason disagree", i);
    return TR_OK;
}

/* Replays what a committed tx changed that later checks depend on (governance, cosignatures). */
static int av_tx_effect(struct av *v, const Treaty__Ledger__Tx *tx, const char *org, uint64_t h)
{
    int kinds = (tx->n_ops > 0) + (tx->governance != NULL) + (tx->cosign != NULL);
    if (kinds != 1 || !batch_tx_id_valid(tx->id))
        return av_fail(v, h, "leaf", "tx %.40s is committed but malformed", tx->id);
    if (tx->governance)
        return av_governance(v, tx, org, h);
    if (tx->cosign)
        return av_cosign(v, tx->cosign, org, h);
    return TR_OK;
}

static int av_batch(struct av *v, uint64_t h, const Treaty__Ledger__SignedBatch *sb,
                    const Treaty__Ledger__Batch *b, const Treaty__Audit__ExportBlock *blk)
{
    const char *refused = av_batch_refusal(v, sb, b, h);
    if (!refused)
        return TR_ENOMEM;
    struct av_member *m = av_member(v, b->org);
    int replay = !refused[0] && b->seq <= m->seq;
    if (refused[0])
        v->rep->refused_batches++;
    else if (!replay)
        m->seq = b->seq;
    if (blk->n_leaves != b->n_txs)
        return av_fail(v, h, "leaf", "%zu leaves for a batch of %zu txs", blk->n_leaves, b->n_txs);
    int rc = TR_OK;
    for (size_t i = 0; rc == TR_OK && i < b->n_txs; i++) {
        Treaty__Ledger__TxLeaf *lf = NULL;
        rc = av_leaf(v, h, (uint32_t)i, &blk->leaves[i], b, &lf);
        if (rc == TR_OK && refused[0] && lf->committed)
            rc = av_fail(v, h, "signature",
                         "tx %zu is committed but its batch of org %.63s is "
                         "refused (%s)",
                         i, b->org, refused);
        else if (rc == TR_OK && replay &&
                 (lf->committed || strncmp(lf->reason, "duplicate: batch seq", 20) != 0))
            rc = av_fail(v, h, "replay",
                         "batch seq %llu of org %s is not above the last (%llu) "
                         "yet tx %zu is not rejected as a duplicate",
                         (unsigned long long)b->seq, b->org, (unsigned long long)m->seq, i);
        else if (rc == TR_OK && lf->committed)
            rc = av_tx_effect(v, b->txs[i], b->org, h);
        if (lf)
            treaty__ledger__tx_leaf__free_unpacked(lf, &v->pa);
    }
    v->rep->txs += b->n_txs;
    return rc;
}

/* The leaves an entry makes, as ledger_entry_apply decides; updates *ts. */
static int av_entry(struct av *v, uint64_t h, const Treaty__Audit__ExportBlock *blk, uint64_t *ts)
{
    Treaty__Ledger__Entry *en = NULL;
    Treaty__Ledger__Batch *b = NULL;
    int rc = TR_OK;
    if (blk->entry_type == 0)
        en = treaty__ledger__entry__unpack(&v->pa, blk->entry_data.len, blk->entry_data.data);
    if (en && en->batch) {
        if (en->timestamp_us > *ts)
            *ts = en->timestamp_us;
        b = treaty__ledger__batch__unpack(&v->pa, en->batch->batch.len, en->batch->batch.data);
    }
    if (b && strlen(b->org) <= 63)
        rc = av_batch(v, h, en->batch, b, blk);
    else if (blk->n_leaves != 0)
        rc = av_fail(v, h, "leaf", "%zu leaves for an entry without a decodable batch",
                     blk->n_leaves);
    if (b)
        treaty__ledger__batch__free_unpacked(b, &v->pa);
    if (en)
        treaty__ledger__entry__free_unpacked(en, &v->pa);
    return rc;
}

static int av_header_check(struct av *v, uint64_t h, const Treaty__Ledger__BlockHeader *hdr,
                           const Treaty__Audit__ExportBlock *blk)
{
    uint8_t bh[32];
    if (hdr->height != h)
        return av_fail(v, h, "sequence", "expected block %llu, found block %llu",
                       (unsigned long long)h, (unsigned long long)hdr->height);
    if (hdr->prev_hash.len != 32 || memcmp(hdr->prev_hash.data, v->prev_hash, 32) != 0)
        return av_fail(v, h, "hash-chain", "prev_hash is not the hash of block %llu",
                       (unsigned long long)(h - 1));
    if (hdr->term < v->prev_term)
        return av_fail(v, h, "sequence", "term %llu is below the previous block's %llu",
                       (unsigned long long)hdr->term, (unsigned long long)v->prev_term);
    if (blk->entry_type > 2)
        return av_fail(v, h, "format", "unknown raft entry type %u", blk->entry_type);
    crypto_hash_sha256(bh, blk->entry_data.data, blk->entry_data.len);
    if (hdr->batch_hash.len != 32 || memcmp(hdr->batch_hash.data, bh, 32) != 0)
        return av_fail(v, h, "batch-hash", "batch_hash is not SHA-256 of the entry data");
    if (blk->first_leaf_index != v->size)
        return av_fail(v, h, "leaf", "first leaf index %llu, expected %llu",
                       (unsigned long long)blk->first_leaf_index, (unsigned long long)v->size);
    return TR_OK;
}

static void av_block_hash(const uint8_t *hdr, size_t len, uint8_t out[32])
{
    static const char domain[] = "treaty/block/v1";
    crypto_hash_sha256_state st;
    crypto_hash_sha256_init(&st);
    crypto_hash_sha256_update(&st, (const uint8_t *)domain, sizeof domain);
    crypto_hash_sha256_update(&st, hdr, len);
    crypto_hash_sha256_final(&st, out);
}

static int av_block(struct av *v, uint64_t h, const Treaty__Audit__ExportBlock *blk)
{
    uint8_t root[32], lh[32];
    Treaty__Ledger__BlockHeader *hdr =
        treaty__ledger__block_header__unpack(&v->pa, blk->header.len, blk->header.data);
    if (!hdr)
        return av_fail(v, h, "format", "block header does not decode");
    uint64_t ts = v->prev_ts;
    int rc = av_header_check(v, h, hdr, blk);
    if (rc == TR_OK)
        rc = av_entry(v, h, blk, &ts);
    for (size_t i = 0; rc == TR_OK && i < blk->n_leaves; i++) {
        merkle_leaf_hash(blk->leaves[i].data, blk->leaves[i].len, lh);
        av_merkle_append(v, lh);
    }
    if (rc == TR_OK && hdr->timestamp_us != ts)
        rc = av_fail(v, h, "timestamp", "timestamp %llu, expected %llu",
                     (unsigned long long)hdr->timestamp_us, (unsigned long long)ts);
    av_merkle_root(v, root);
    if (rc == TR_OK &&
        (hdr->tree_size != v->size || hdr->root.len != 32 || memcmp(hdr->root.data, root, 32) != 0))
        rc = av_fail(v, h, "merkle",
                     "root or tree size is not the RFC 9162 root of the %llu "
                     "leaves so far",
                     (unsigned long long)v->size);
    if (rc == TR_OK) {
        av_block_hash(blk->header.data, blk->header.len, v->prev_hash);
        v->prev_term = hdr->term;
        v->prev_ts = ts;
        v->height = h;
        v->rep->blocks++;
        rc = av_ckpt_maybe(v, hdr, v->prev_hash);
    }
    treaty__ledger__block_header__free_unpacked(hdr, &v->pa);
    return rc;
}

/* ---- checkpoint records ---- */

static struct av_cosign *av_cosign_find(struct av *v, uint64_t h, const char *org)
{
    for (size_t i = 0; i < v->n_cosigns; i++)
        if (v->cosigns[i].height == h && strcmp(v->cosigns[i].org, org) == 0)
            return &v->cosigns[i];
    return NULL;
}

static int av_checkpoint(struct av *v, size_t i, const Treaty__Audit__ExportCheckpoint *c)
{
    if (i >= v->n_ckpts)
        return av_fail(v, v->height, "checkpoint",
                       "checkpoint record %zu: the ledger has only %zu "
                       "checkpoints in range",
                       i, v->n_ckpts);
    struct av_ckpt *cp = &v->ckpts[i];
    uint64_t h = cp->height;
    if (c->checkpoint.len != cp->len || memcmp(c->checkpoint.data, cp->bytes, cp->len) != 0)
        return av_fail(v, h, "checkpoint", "checkpoint record is not the checkpoint of block %llu",
                       (unsigned long long)h);
    json_t *signers = json_array();
    size_t n_signed = 0;
    for (size_t k = 0; k < c->n_cosignatures; k++) {
        const Treaty__Audit__Cosignature *s = c->cosignatures[k];
        struct av_cosign *tx = av_cosign_find(v, h, s->org);
        struct av_member *m = av_member(v, s->org);
        int ok = k == 0 || strcmp(c->cosignatures[k - 1]->org, s->org) < 0;
        if (ok && tx)
            ok = s->signature.len == 64 && memcmp(tx->sig, s->signature.data, 64) == 0;
        else if (ok) /* applied after the export's last block: check it with today's key */
            ok = m && !m->removed &&
                 av_ckpt_sig_ok(v, cp->bytes, cp->len, s->signature.data, s->signature.len,
                                av_key_at(m, v->height + 1));
        if (!ok) {
            json_decref(signers);
            return av_fail(v, h, "cosignature",
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
            return av_fail(v, h, "cosignature",
                           "checkpoint %llu: the cosignature of org %s "
                           "(committed in a Cosign tx) is missing",
                           (unsigned long long)h, v->cosigns[k].org);
        }
    }
    json_array_append_new(v->rep->checkpoint_list,
                          json_pack("{sI so sb}", "height", (json_int_t)h, "signers", signers,
                                    "majority", 2 * n_signed > cp->n_active));
    v->rep->checkpoints++;
    return TR_OK;
}

/* ---- the header and the main loop ---- */

static int av_start(struct av *v, const Treaty__Audit__ExportHeader *hd, char *err, size_t errlen)
{
    struct genesis *g = NULL;
    uint8_t id[32];
    if (hd->format_version != AUDIT_FORMAT_VERSION) {
        snprintf(err, errlen, "export format version %u is not supported (this treaty reads %d)",
                 hd->format_version, AUDIT_FORMAT_VERSION);
        return TR_EUNSUPPORTED;
    }
    if (hd->from != 1 || hd->to < hd->from) {
        snprintf(err, errlen,
                 "export covers heights %llu..%llu; verification replays from the "
                 "genesis, so it needs an export from height 1",
                 (unsigned long long)hd->from, (unsigned long long)hd->to);
        return TR_EUNSUPPORTED;
    }
    v->rep->from = hd->from;
    v->rep->to = hd->to;
    crypto_hash_sha256(id, hd->genesis.data, hd->genesis.len);
    if (hd->network_id.len != 32 || memcmp(hd->network_id.data, id, 32) != 0)
        return av_fail(v, 0, "header", "network id is not SHA-256 of the genesis bytes");
    memcpy(v->network_id, id, 32);
    char gerr[256];
    int rc = genesis_parse((const char *)hd->genesis.data, hd->genesis.len, &g, gerr, sizeof gerr);
    if (rc == TR_ENOMEM)
        return rc;
    if (rc != TR_OK || g->canonical_len != hd->genesis.len ||
        memcmp(g->canonical, hd->genesis.data, g->canonical_len) != 0) {
        genesis_destroy(g);
        return av_fail(v, 0, "header", "genesis: %s", rc != TR_OK ? gerr : "not canonical bytes");
    }
    v->ckpt_blocks = g->checkpoint_blocks;
    v->ckpt_ms = g->checkpoint_ms;
    for (size_t i = 0; rc == TR_OK && i < g->n_members; i++)
        rc = av_member_add(v, g->members[i].org, g->members[i].public_key);
    genesis_destroy(g);
    return rc;
}

/* One decoded record at position `pos` (0 header, then blocks, checkpoints, end). */
static int av_record(struct av *v, const Treaty__Audit__ExportRecord *r, uint64_t *n_blocks,
                     size_t *n_ckpt, int *ended)
{
    uint64_t next = v->height + 1;
    switch (r->kind_case) {
    case TREATY__AUDIT__EXPORT_RECORD__KIND_BLOCK:
        if (*n_ckpt > 0 || next > v->rep->to)
            return av_fail(v, next, "sequence", "block record after the last block");
        (*n_blocks)++;
        return av_block(v, next, r->block);
    case TREATY__AUDIT__EXPORT_RECORD__KIND_CHECKPOINT:
        if (v->height != v->rep->to)
            return av_fail(v, next, "truncated",
                           "checkpoints follow block %llu; the export "
                           "promised blocks up to %llu",
                           (unsigned long long)v->height, (unsigned long long)v->rep->to);
        return av_checkpoint(v, (*n_ckpt)++, r->checkpoint);
    case TREATY__AUDIT__EXPORT_RECORD__KIND_END:
        *ended = 1;
        if (v->height != v->rep->to)
            return av_fail(v, next, "truncated", "export ends after block %llu of %llu",
                           (unsigned long long)v->height, (unsigned long long)v->rep->to);
        if (*n_ckpt != v->n_ckpts)
            return av_fail(v, *n_ckpt < v->n_ckpts ? v->ckpts[*n_ckpt].height : 0, "checkpoint",
                           "%zu checkpoint records; the ledger made %zu", *n_ckpt, v->n_ckpts);
        if (r->end->blocks != *n_blocks || r->end->checkpoints != *n_ckpt)
            return av_fail(v, 0, "format", "end record counts disagree with the records");
        return TR_OK;
    default:
        return av_fail(v, next, "format", "unexpected record kind %d", (int)r->kind_case);
    }
}

/* Format version 1 has no unknown fields: a reader that skipped them (as protobuf does) would
 * let a flipped tag hide a cosignature or a leaf. */
static int av_strict(const Treaty__Audit__ExportRecord *r)
{
    const ProtobufCMessage *m[4] = {&r->base, NULL, NULL, NULL};
    if (r->kind_case == TREATY__AUDIT__EXPORT_RECORD__KIND_HEADER)
        m[1] = &r->header->base;
    else if (r->kind_case == TREATY__AUDIT__EXPORT_RECORD__KIND_BLOCK)
        m[1] = &r->block->base;
    else if (r->kind_case == TREATY__AUDIT__EXPORT_RECORD__KIND_END)
        m[1] = &r->end->base;
    else if (r->kind_case == TREATY__AUDIT__EXPORT_RECORD__KIND_CHECKPOINT) {
        m[1] = &r->checkpoint->base;
        for (size_t i = 0; i < r->checkpoint->n_cosignatures; i++)
            if (r->checkpoint->cosignatures[i]->base.n_unknown_fields)
                return 0;
    }
    for (size_t i = 0; i < 4; i++)
        if (m[i] && m[i]->n_unknown_fields)
            return 0;
    return 1;
}

static int av_loop(struct av *v, struct av_src *s, uint8_t **buf, size_t *cap)
{
    uint64_t n_blocks = 0;
    size_t n_ckpt = 0, len;
    int ended = 0;
    for (;;) {
        int rc = av_next(s, buf, cap, &len);
        if (rc == TR_ENOTFOUND && ended)
            return TR_OK;
        if (rc == TR_ENOMEM)
            return rc;
        if (ended)
            return av_fail(v, 0, "format", "data after the end record");
        if (rc != TR_OK)
            return av_fail(v, v->height + 1, "truncated",
                           "the export ends without its end "
                           "record, after block %llu",
                           (unsigned long long)v->height);
        av_arena_reset(&v->arena, 1);
        Treaty__Audit__ExportRecord *r = treaty__audit__export_record__unpack(&v->pa, len, *buf);
        if (!r || !av_strict(r)) {
            return av_fail(v, v->height + 1, "format",
                           "record after block %llu does not decode "
                           "(or has fields format version 1 does not have)",
                           (unsigned long long)v->height);
        }
        rc = av_record(v, r, &n_blocks, &n_ckpt, &ended);
        if (rc != TR_OK)
            return rc;
    }
}

static void av_free(struct av *v)
{
    for (size_t i = 0; i < v->n_props; i++)
        tr_free(v->props[i].approvals);
    for (size_t i = 0; i < v->n_ckpts; i++)
        tr_free(v->ckpts[i].bytes);
    tr_free(v->props);
    tr_free(v->ckpts);
    tr_free(v->cosigns);
    tr_free(v->members);
    av_arena_reset(&v->arena, 0);
}

static int av_run(struct av_src *s, struct audit_report *rep, char *err, size_t errlen)
{
    struct av v;
    uint8_t *buf = NULL;
    size_t cap = 0, len;
    memset(&v, 0, sizeof v);
    memset(rep, 0, sizeof *rep);
    rep->ok = 1;
    rep->checkpoint_list = json_array();
    v.rep = rep;
    v.pa = (ProtobufCAllocator){av_arena_alloc, av_arena_free, &v.arena};
    if (!rep->checkpoint_list || sodium_init() < 0)
        return TR_ENOMEM;
    int rc = av_next(s, &buf, &cap, &len);
    Treaty__Audit__ExportRecord *r =
        rc == TR_OK ? treaty__audit__export_record__unpack(NULL, len, buf) : NULL;
    if (!r || r->kind_case != TREATY__AUDIT__EXPORT_RECORD__KIND_HEADER || !av_strict(r)) {
        snprintf(err, errlen, "not a treaty ledger export (no header record)");
        rc = rc == TR_ENOMEM ? rc : TR_EPARSE;
    } else {
        rc = av_start(&v, r->header, err, errlen);
    }
    if (r)
        treaty__audit__export_record__free_unpacked(r, NULL);
    if (rc == TR_OK && rep->ok)
        rc = av_loop(&v, s, &buf, &cap);
    if (rc == FAILED)
        rc = TR_OK;
    tr_free(buf);
    av_free(&v);
    return rc;
}

int audit_verify_file(FILE *f, struct audit_report *rep, char *err, size_t errlen)
{
    struct av_src s = {f, NULL, 0, 0};
    return av_run(&s, rep, err, errlen);
}

int audit_verify_buf(const uint8_t *p, size_t len, struct audit_report *rep, char *err,
                     size_t errlen)
{
    struct av_src s = {NULL, p, len, 0};
    return av_run(&s, rep, err, errlen);
}

json_t *audit_report_json(const struct audit_report *rep)
{
    json_t *o = json_pack("{sb sI sI sI sI sI sO}", "ok", rep->ok, "from", (json_int_t)rep->from,
                          "to", (json_int_t)rep->to, "blocks", (json_int_t)rep->blocks, "txs",
                          (json_int_t)rep->txs, "refused_batches", (json_int_t)rep->refused_batches,
                          "checkpoints", rep->checkpoint_list ? rep->checkpoint_list : json_null());
    if (o && !rep->ok)
        json_object_set_new(o, "failure",
                            json_pack("{sI ss ss}", "height", (json_int_t)rep->fail_height, "what",
                                      rep->fail_what, "why", rep->fail_why));
    return o;
}

void audit_report_free(struct audit_report *rep)
{
    if (rep && rep->checkpoint_list) {
        json_decref(rep->checkpoint_list);
        rep->checkpoint_list = NULL;
    }
}
