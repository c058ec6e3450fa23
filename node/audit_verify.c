/* audit_verify.c — `treaty audit verify`: replays an export (docs/audit.proto) from the genesis and
 * checks, block by block, what the ledger's apply (ledger_apply.c, ledger_governance.c) computed:
 * the hash chain, batch hashes, timestamps, each leaf against its tx, batch signatures with the key
 * in force at that height, the per-org seq rule, governance (members, keys), cosignatures, and the
 * RFC 9162 root of every block. Pure: no LMDB, no clock; stops at the first failure. */
#include "node/audit.h"
#include "node/audit_int.h"
#include "node/hash.h"

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
    if (k)
        memcpy(out, s->p + s->off, k);
    s->off += k;
    return k;
}

int audit__fail(struct av *v, uint64_t height, const char *what, const char *fmt, ...)
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

/* ---- batches and leaves ---- */

/* Why the ledger refuses the batch as a whole ("" if it does not): ledger_batch_check. */
static const char *av_batch_refusal(struct av *v, const Treaty__Ledger__SignedBatch *sb,
                                    const Treaty__Ledger__Batch *b, uint64_t h)
{
    if (b->n_txs > BATCH_TXS_MAX)
        return "too many txs";
    if (b->network_id.len != 32 || memcmp(b->network_id.data, v->network_id, 32) != 0)
        return "another network";
    if (strcmp(sb->org, b->org) != 0)
        return "signed as another org";
    struct av_member *m = audit__member(v, b->org);
    if (!m || m->removed)
        return "not a member";
    int rc = batch_sig_verify(v->batch_sig, v->network_id, sb->batch.data, sb->batch.len,
                              sb->signature.data, sb->signature.len, audit__key_at(m, h));
    if (rc == TR_ENOMEM)
        return NULL;
    return rc == TR_OK ? "" : "bad signature";
}

/* Checks leaf `i` of block h against tx `tx` of batch b; *lf is the decoded leaf (caller frees). */
static int av_leaf(struct av *v, uint64_t h, uint32_t i, const ProtobufCBinaryData *bytes,
                   const Treaty__Ledger__Batch *b, Treaty__Ledger__TxLeaf **lf)
{
    uint8_t txh[32];
    *lf = treaty__ledger__tx_leaf__unpack(&v->pa, bytes->len, bytes->data);
    if (!*lf)
        return audit__fail(v, h, "leaf", "leaf %u does not decode", i);
    const Treaty__Ledger__Tx *tx = b->txs[i];
    uint8_t stack[2048];
    size_t n = treaty__ledger__tx__get_packed_size(tx);
    uint8_t *buf = n <= sizeof stack ? stack : tr_malloc(n);
    if (!buf)
        return TR_ENOMEM;
    treaty__ledger__tx__pack(tx, buf);
    hash_sha256(txh, buf, n);
    if (buf != stack)
        tr_free(buf);
    const Treaty__Ledger__TxLeaf *l = *lf;
    if (l->height != h || l->index != i || strcmp(l->tx_id, tx->id) != 0 ||
        strcmp(l->org, b->org) != 0 || l->seq != b->seq)
        return audit__fail(v, h, "leaf", "leaf %u does not name tx %u of the batch (id, org, seq)",
                           i, i);
    if (l->tx_hash.len != 32 || memcmp(l->tx_hash.data, txh, 32) != 0)
        return audit__fail(v, h, "leaf", "leaf %u: tx_hash is not SHA-256 of tx %u", i, i);
    if (l->committed != (l->reason[0] == '\0'))
        return audit__fail(v, h, "leaf", "leaf %u: committed and reason disagree", i);
    return TR_OK;
}

/* Replays what a committed tx changed that later checks depend on (governance, cosignatures). */
static int av_tx_effect(struct av *v, const Treaty__Ledger__Tx *tx, const char *org, uint64_t h)
{
    int kinds = (tx->n_ops > 0) + (tx->governance != NULL) + (tx->cosign != NULL);
    if (kinds != 1 || !batch_tx_id_valid(tx->id))
        return audit__fail(v, h, "leaf", "tx %.40s is committed but malformed", tx->id);
    if (tx->governance)
        return audit__governance(v, tx, org, h);
    if (tx->cosign)
        return audit__cosign(v, tx->cosign, org, h);
    return TR_OK;
}

static int av_batch(struct av *v, uint64_t h, const Treaty__Ledger__SignedBatch *sb,
                    const Treaty__Ledger__Batch *b, const Treaty__Audit__ExportBlock *blk)
{
    const char *refused = av_batch_refusal(v, sb, b, h);
    if (!refused)
        return TR_ENOMEM;
    struct av_member *m = audit__member(v, b->org);
    int replay = !refused[0] && b->seq <= m->seq;
    if (refused[0])
        v->rep->refused_batches++;
    else if (!replay)
        m->seq = b->seq;
    if (blk->n_leaves != b->n_txs)
        return audit__fail(v, h, "leaf", "%zu leaves for a batch of %zu txs", blk->n_leaves,
                           b->n_txs);
    int rc = TR_OK;
    for (size_t i = 0; rc == TR_OK && i < b->n_txs; i++) {
        Treaty__Ledger__TxLeaf *lf = NULL;
        rc = av_leaf(v, h, (uint32_t)i, &blk->leaves[i], b, &lf);
        if (rc == TR_OK && refused[0] && lf->committed)
            rc = audit__fail(v, h, "signature",
                             "tx %zu is committed but its batch of org %.63s is "
                             "refused (%s)",
                             i, b->org, refused);
        else if (rc == TR_OK && replay &&
                 (lf->committed || strncmp(lf->reason, "duplicate: batch seq", 20) != 0))
            rc = audit__fail(v, h, "replay",
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
        rc = audit__fail(v, h, "leaf", "%zu leaves for an entry without a decodable batch",
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
        return audit__fail(v, h, "sequence", "expected block %llu, found block %llu",
                           (unsigned long long)h, (unsigned long long)hdr->height);
    if (hdr->prev_hash.len != 32 || memcmp(hdr->prev_hash.data, v->prev_hash, 32) != 0)
        return audit__fail(v, h, "hash-chain", "prev_hash is not the hash of block %llu",
                           (unsigned long long)(h - 1));
    if (hdr->term < v->prev_term)
        return audit__fail(v, h, "sequence", "term %llu is below the previous block's %llu",
                           (unsigned long long)hdr->term, (unsigned long long)v->prev_term);
    if (blk->entry_type > 2)
        return audit__fail(v, h, "format", "unknown raft entry type %u", blk->entry_type);
    hash_sha256(bh, blk->entry_data.data, blk->entry_data.len);
    if (hdr->batch_hash.len != 32 || memcmp(hdr->batch_hash.data, bh, 32) != 0)
        return audit__fail(v, h, "batch-hash", "batch_hash is not SHA-256 of the entry data");
    if (blk->first_leaf_index != v->size)
        return audit__fail(v, h, "leaf", "first leaf index %llu, expected %llu",
                           (unsigned long long)blk->first_leaf_index, (unsigned long long)v->size);
    return TR_OK;
}

static void av_block_hash(const uint8_t *hdr, size_t len, uint8_t out[32])
{
    static const char domain[] = "treaty/block/v1";
    hash_sha256_2(out, domain, sizeof domain, hdr, len);
}

/* Block h (hashed into v->prev_hash, its tree of v->size leaves with root `root`) against the
 * trusted checkpoint, when h is its height. */
static int av_trust_check(struct av *v, uint64_t h, const uint8_t root[32])
{
    const struct audit_trust *t = v->trust;
    if (!t || t->height != h)
        return TR_OK;
    if (t->tree_size != v->size || memcmp(t->root, root, 32) != 0)
        return audit__fail(v, h, "trust",
                           "inconsistent with trusted checkpoint: at height %llu the export's tree "
                           "of %llu leaves has another root than the trusted tree of %llu leaves",
                           (unsigned long long)h, (unsigned long long)v->size,
                           (unsigned long long)t->tree_size);
    if (memcmp(t->block_hash, v->prev_hash, 32) != 0)
        return audit__fail(v, h, "trust",
                           "inconsistent with trusted checkpoint: block %llu has another hash "
                           "than the trusted checkpoint's",
                           (unsigned long long)h);
    v->rep->trust_checked = 1;
    v->rep->trust_height = h;
    v->rep->trust_tree_size = v->size;
    return TR_OK;
}

static int av_block(struct av *v, uint64_t h, const Treaty__Audit__ExportBlock *blk)
{
    uint8_t root[32], lh[32];
    Treaty__Ledger__BlockHeader *hdr =
        treaty__ledger__block_header__unpack(&v->pa, blk->header.len, blk->header.data);
    if (!hdr)
        return audit__fail(v, h, "format", "block header does not decode");
    uint64_t ts = v->prev_ts;
    int rc = av_header_check(v, h, hdr, blk);
    if (rc == TR_OK)
        rc = av_entry(v, h, blk, &ts);
    for (size_t i = 0; rc == TR_OK && i < blk->n_leaves; i++) {
        merkle_leaf_hash(blk->leaves[i].data, blk->leaves[i].len, lh);
        av_merkle_append(v, lh);
    }
    if (rc == TR_OK && hdr->timestamp_us != ts)
        rc = audit__fail(v, h, "timestamp", "timestamp %llu, expected %llu",
                         (unsigned long long)hdr->timestamp_us, (unsigned long long)ts);
    av_merkle_root(v, root);
    if (rc == TR_OK &&
        (hdr->tree_size != v->size || hdr->root.len != 32 || memcmp(hdr->root.data, root, 32) != 0))
        rc = audit__fail(v, h, "merkle",
                         "root or tree size is not the RFC 9162 root of the %llu "
                         "leaves so far",
                         (unsigned long long)v->size);
    if (rc == TR_OK) {
        av_block_hash(blk->header.data, blk->header.len, v->prev_hash);
        v->prev_term = hdr->term;
        v->prev_ts = ts;
        v->height = h;
        v->rep->blocks++;
        rc = av_trust_check(v, h, root);
    }
    if (rc == TR_OK) {
        rc = audit__ckpt_maybe(v, hdr, v->prev_hash);
    }
    treaty__ledger__block_header__free_unpacked(hdr, &v->pa);
    return rc;
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
        return audit__fail(v, 0, "header", "network id is not SHA-256 of the genesis bytes");
    memcpy(v->network_id, id, 32);
    if (v->trust && memcmp(v->trust->network_id, id, 32) != 0)
        return audit__fail(v, 0, "trust",
                           "inconsistent with trusted checkpoint: the export is of another "
                           "network");
    char gerr[256];
    int rc = genesis_parse((const char *)hd->genesis.data, hd->genesis.len, &g, gerr, sizeof gerr);
    if (rc == TR_ENOMEM)
        return rc;
    if (rc != TR_OK || g->canonical_len != hd->genesis.len ||
        memcmp(g->canonical, hd->genesis.data, g->canonical_len) != 0) {
        genesis_destroy(g);
        return audit__fail(v, 0, "header", "genesis: %s",
                           rc != TR_OK ? gerr : "not canonical bytes");
    }
    v->batch_sig = genesis_batch_sig(g);
    v->ckpt_blocks = g->checkpoint_blocks;
    v->ckpt_ms = g->checkpoint_ms;
    for (size_t i = 0; rc == TR_OK && i < g->n_members; i++)
        rc = audit__member_add(v, g->members[i].org, g->members[i].public_key);
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
            return audit__fail(v, next, "sequence", "block record after the last block");
        (*n_blocks)++;
        return av_block(v, next, r->block);
    case TREATY__AUDIT__EXPORT_RECORD__KIND_CHECKPOINT:
        if (v->height != v->rep->to)
            return audit__fail(v, next, "truncated",
                               "checkpoints follow block %llu; the export "
                               "promised blocks up to %llu",
                               (unsigned long long)v->height, (unsigned long long)v->rep->to);
        return audit__checkpoint(v, (*n_ckpt)++, r->checkpoint);
    case TREATY__AUDIT__EXPORT_RECORD__KIND_END:
        *ended = 1;
        if (v->height != v->rep->to)
            return audit__fail(v, next, "truncated", "export ends after block %llu of %llu",
                               (unsigned long long)v->height, (unsigned long long)v->rep->to);
        if (*n_ckpt != v->n_ckpts)
            return audit__fail(v, *n_ckpt < v->n_ckpts ? v->ckpts[*n_ckpt].height : 0, "checkpoint",
                               "%zu checkpoint records; the ledger made %zu", *n_ckpt, v->n_ckpts);
        if (r->end->blocks != *n_blocks || r->end->checkpoints != *n_ckpt)
            return audit__fail(v, 0, "format", "end record counts disagree with the records");
        return TR_OK;
    default:
        return audit__fail(v, next, "format", "unexpected record kind %d", (int)r->kind_case);
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
            return audit__fail(v, 0, "format", "data after the end record");
        if (rc != TR_OK)
            return audit__fail(v, v->height + 1, "truncated",
                               "the export ends without its end "
                               "record, after block %llu",
                               (unsigned long long)v->height);
        av_arena_reset(&v->arena, 1);
        Treaty__Audit__ExportRecord *r = treaty__audit__export_record__unpack(&v->pa, len, *buf);
        if (!r || !av_strict(r)) {
            return audit__fail(v, v->height + 1, "format",
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

static int av_run(struct av_src *s, const struct audit_trust *trust, struct audit_capture *capture,
                  struct audit_report *rep, char *err, size_t errlen)
{
    struct av v;
    uint8_t *buf = NULL;
    size_t cap = 0, len;
    memset(&v, 0, sizeof v);
    memset(rep, 0, sizeof *rep);
    rep->ok = 1;
    rep->checkpoint_list = json_array();
    v.rep = rep;
    v.trust = trust;
    v.cap = capture;
    if (capture) {
        capture->found = 0;
        capture->dropped = 0;
    }
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
    if (rc == TR_OK && rep->ok && v.minority_ckpt && v.minority_after)
        rc = audit__fail(&v, v.minority_ckpt, "confirmation",
                         "checkpoint %llu is cosigned by %zu of its %zu members, not a majority, "
                         "and neither is any of the %zu checkpoint(s) after it: only the export's "
                         "last checkpoint may still wait for its cosignatures, as a history the "
                         "network confirmed has a majority-cosigned checkpoint after any other (a "
                         "fork made by a minority of orgs cannot)",
                         (unsigned long long)v.minority_ckpt, v.minority_signed, v.minority_active,
                         v.minority_after);
    if (rc == TR_OK && rep->ok && trust && !rep->trust_checked)
        rc = audit__fail(&v, v.height, "trust",
                         "the export ends at height %llu, before the trusted checkpoint's height "
                         "%llu: it cannot be checked against it",
                         (unsigned long long)v.height, (unsigned long long)trust->height);
    if (rc == FAILED)
        rc = TR_OK;
    tr_free(buf);
    av_free(&v);
    return rc;
}

int audit_verify_file(FILE *f, struct audit_report *rep, char *err, size_t errlen)
{
    return audit_verify_file_ex(f, NULL, NULL, rep, err, errlen);
}

int audit_verify_file_ex(FILE *f, const struct audit_trust *trust, struct audit_capture *cap,
                         struct audit_report *rep, char *err, size_t errlen)
{
    struct av_src s = {f, NULL, 0, 0};
    return av_run(&s, trust, cap, rep, err, errlen);
}

int audit_verify_buf(const uint8_t *p, size_t len, struct audit_report *rep, char *err,
                     size_t errlen)
{
    struct av_src s = {NULL, p, len, 0};
    return av_run(&s, NULL, NULL, rep, err, errlen);
}

json_t *audit_report_json(const struct audit_report *rep)
{
    json_t *o = json_pack("{sb sI sI sI sI sI sO}", "ok", rep->ok, "from", (json_int_t)rep->from,
                          "to", (json_int_t)rep->to, "blocks", (json_int_t)rep->blocks, "txs",
                          (json_int_t)rep->txs, "refused_batches", (json_int_t)rep->refused_batches,
                          "checkpoints", rep->checkpoint_list ? rep->checkpoint_list : json_null());
    if (o)
        json_object_set_new(o, "confirmed_height", json_integer((json_int_t)rep->confirmed_height));
    if (o && rep->trust_checked)
        json_object_set_new(o, "trusted_checkpoint",
                            json_pack("{sI sI sb}", "height", (json_int_t)rep->trust_height,
                                      "tree_size", (json_int_t)rep->trust_tree_size, "consistent",
                                      1));
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
