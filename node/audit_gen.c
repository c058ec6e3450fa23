/* audit_gen.c — a synthetic, valid ledger export (docs/audit.proto) built without a node: founding
 * orgs with deterministic keys, one signed batch per block, leaves, RFC 9162 roots (node/merkle.c,
 * so the verifier's own root computation is checked against the tree's), checkpoints cosigned by
 * every org. For the verifier's unit tests and bench/bench_verify.c. */
#include "node/audit.h"

#include "common/alloc.h"
#include "common/bytes.h"
#include "common/err.h"
#include "docs/audit.pb-c.h"
#include "node/batch.h"
#include "node/genesis.h"
#include "node/ledger.pb-c.h"
#include "node/merkle.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>

#define GEN_ORGS_MAX 8

static const char gen_schema[] =
    "{\"type\":\"object\",\"properties\":{\"Thing\":{\"type\":\"array\",\"items\":{\"type\":"
    "\"object\",\"x-treaty-key\":\"id\",\"required\":[\"id\"],\"properties\":{\"id\":{\"type\":"
    "\"string\"},\"n\":{\"type\":\"integer\"}}}}}}";

struct gen {
    const struct audit_gen_options *o;
    FILE *out;
    struct genesis *g;
    uint8_t pk[GEN_ORGS_MAX][32], sk[GEN_ORGS_MAX][64];
    struct merkle_mem_store *ms;
    struct merkle_tree *tree;
    uint8_t prev[32];
};

static int gen_write(struct gen *s, const Treaty__Audit__ExportRecord *r)
{
    uint8_t pre[10];
    size_t n = treaty__audit__export_record__get_packed_size(r);
    uint8_t *buf = tr_malloc(n ? n : 1);
    if (!buf)
        return TR_ENOMEM;
    treaty__audit__export_record__pack(r, buf);
    size_t p = audit_varint_put(pre, n);
    int ok = fwrite(pre, 1, p, s->out) == p && fwrite(buf, 1, n, s->out) == n;
    tr_free(buf);
    return ok ? TR_OK : TR_EIO;
}

static int gen_genesis(struct gen *s, char *err, size_t errlen)
{
    json_error_t je;
    json_t *schema = json_loads(gen_schema, 0, &je), *members = json_array();
    for (unsigned i = 0; schema && members && i < s->o->n_orgs; i++) {
        uint8_t seed[32] = {(uint8_t)(i + 1)};
        char org[16], key[65], peer[32];
        crypto_sign_seed_keypair(s->pk[i], s->sk[i], seed);
        snprintf(org, sizeof org, "org%u", i);
        tr_hex_encode(s->pk[i], 32, key);
        snprintf(peer, sizeof peer, "127.0.0.1:%u", 7401 + i);
        json_array_append_new(
            members, json_pack("{s:s, s:s, s:s}", "org", org, "public_key", key, "peer", peer));
    }
    json_t *doc =
        json_pack("{s:i, s:s, s:o, s:o, s:{s:i, s:i, s:i}, s:{s:i, s:i}}", "treaty_genesis",
                  s->o->genesis_version ? (int)s->o->genesis_version : GENESIS_VERSION, "name",
                  "gen", "schema", schema, "members", members, "timing", "tick_ms", 10,
                  "heartbeat_ms", 100, "election_ms", 1000, "checkpoint", "every_blocks",
                  (int)(s->o->every_blocks ? s->o->every_blocks : 1000000), "every_ms", 86400000);
    char *text = doc ? json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(doc);
    if (!text)
        return TR_ENOMEM;
    int rc = genesis_parse(text, strlen(text), &s->g, err, errlen);
    free(text);
    return rc;
}

/* The leaves of the batch in `entry` at height h, appended to the tree; *leaves tr_malloc'd. */
static int gen_leaves(struct gen *s, uint64_t h, const uint8_t *entry, size_t len,
                      ProtobufCBinaryData **leaves, size_t *n)
{
    Treaty__Ledger__Entry *en = treaty__ledger__entry__unpack(NULL, len, entry);
    Treaty__Ledger__Batch *b =
        en ? treaty__ledger__batch__unpack(NULL, en->batch->batch.len, en->batch->batch.data)
           : NULL;
    int rc = b ? TR_OK : TR_ENOMEM;
    *n = b ? b->n_txs : 0;
    *leaves = tr_calloc(*n ? *n : 1, sizeof **leaves);
    if (!*leaves)
        rc = TR_ENOMEM;
    for (size_t i = 0; rc == TR_OK && i < *n; i++) {
        uint8_t txh[32], lh[32], tbuf[4096];
        size_t tl = treaty__ledger__tx__pack(b->txs[i], tbuf);
        crypto_hash_sha256(txh, tbuf, tl);
        Treaty__Ledger__TxLeaf lf = TREATY__LEDGER__TX_LEAF__INIT;
        lf.height = h;
        lf.index = (uint32_t)i;
        lf.tx_id = b->txs[i]->id;
        lf.org = b->org;
        lf.seq = b->seq;
        lf.tx_hash = (ProtobufCBinaryData){32, txh};
        lf.committed = 1;
        lf.reason = (char *)"";
        size_t ln = treaty__ledger__tx_leaf__get_packed_size(&lf);
        (*leaves)[i].data = tr_malloc(ln);
        if (!(*leaves)[i].data) {
            rc = TR_ENOMEM;
            break;
        }
        (*leaves)[i].len = treaty__ledger__tx_leaf__pack(&lf, (*leaves)[i].data);
        merkle_leaf_hash((*leaves)[i].data, ln, lh);
        rc = merkle_append(s->tree, lh);
    }
    if (b)
        treaty__ledger__batch__free_unpacked(b, NULL);
    if (en)
        treaty__ledger__entry__free_unpacked(en, NULL);
    return rc;
}

/* A signed, stamped entry of org h % n_orgs with txs_per_block creates. */
static int gen_entry(struct gen *s, uint64_t h, uint8_t **entry, size_t *len)
{
    size_t n = s->o->txs_per_block;
    struct batch_tx *txs = tr_calloc(n ? n : 1, sizeof *txs);
    struct batch_op *ops = tr_calloc(n ? n : 1, sizeof *ops);
    char(*keys)[32] = tr_calloc(n ? n : 1, sizeof *keys);
    char body[64];
    int rc = txs && ops && keys ? TR_OK : TR_ENOMEM;
    for (size_t i = 0; rc == TR_OK && i < n; i++) {
        snprintf(txs[i].id, sizeof txs[i].id, "%016llx%016llx", (unsigned long long)h,
                 (unsigned long long)i);
        snprintf(keys[i], sizeof keys[i], "t-%llu-%zu", (unsigned long long)h, i);
        ops[i] = (struct batch_op){BATCH_OP_CREATE, "Thing", keys[i], 0, body, 0};
        txs[i].ops = &ops[i];
        txs[i].n_ops = 1;
    }
    snprintf(body, sizeof body, "{\"id\":\"x\",\"n\":%llu}", (unsigned long long)h);
    for (size_t i = 0; i < n && ops; i++)
        ops[i].body_len = strlen(body);
    unsigned org = (unsigned)(h % s->o->n_orgs);
    uint8_t *raw = NULL;
    size_t rl = 0;
    if (rc == TR_OK)
        rc = batch_build_entry(s->g->network_id, genesis_batch_sig(s->g), s->g->members[org].org, h,
                               s->sk[org], txs, n, &raw, &rl);
    if (rc == TR_OK)
        rc = batch_entry_stamp(raw, rl, h * 1000, entry, len);
    tr_free(raw);
    tr_free(txs);
    tr_free(ops);
    tr_free(keys);
    return rc;
}

static int gen_block(struct gen *s, uint64_t h)
{
    uint8_t *entry = NULL, bh[32], root[32], hb[256];
    size_t len = 0, n = 0;
    ProtobufCBinaryData *leaves = NULL;
    int rc = gen_entry(s, h, &entry, &len);
    if (rc == TR_OK)
        rc = gen_leaves(s, h, entry, len, &leaves, &n);
    if (rc == TR_OK)
        rc = merkle_root(s->tree, merkle_size(s->tree), root);
    if (rc == TR_OK) {
        crypto_hash_sha256(bh, entry, len);
        Treaty__Ledger__BlockHeader hd = TREATY__LEDGER__BLOCK_HEADER__INIT;
        hd.height = h;
        hd.term = 1;
        hd.timestamp_us = h * 1000;
        hd.prev_hash = (ProtobufCBinaryData){32, s->prev};
        hd.batch_hash = (ProtobufCBinaryData){32, bh};
        hd.root = (ProtobufCBinaryData){32, root};
        hd.tree_size = merkle_size(s->tree);
        size_t hl = treaty__ledger__block_header__pack(&hd, hb);
        Treaty__Audit__ExportBlock b = TREATY__AUDIT__EXPORT_BLOCK__INIT;
        b.header = (ProtobufCBinaryData){hl, hb};
        b.entry_data = (ProtobufCBinaryData){len, entry};
        b.first_leaf_index = merkle_size(s->tree) - n;
        b.n_leaves = n;
        b.leaves = leaves;
        Treaty__Audit__ExportRecord r = TREATY__AUDIT__EXPORT_RECORD__INIT;
        r.kind_case = TREATY__AUDIT__EXPORT_RECORD__KIND_BLOCK;
        r.block = &b;
        rc = gen_write(s, &r);
        static const char domain[] = "treaty/block/v1";
        crypto_hash_sha256_state st;
        crypto_hash_sha256_init(&st);
        crypto_hash_sha256_update(&st, (const uint8_t *)domain, sizeof domain);
        crypto_hash_sha256_update(&st, hb, hl);
        crypto_hash_sha256_final(&st, s->prev);
    }
    for (size_t i = 0; leaves && i < n; i++)
        tr_free(leaves[i].data);
    tr_free(leaves);
    tr_free(entry);
    return rc;
}

/* The checkpoint of block h (its hash in s->prev), cosigned by every org. */
static int gen_checkpoint(struct gen *s, uint64_t h, uint64_t size, const uint8_t root[32],
                          const uint8_t hash[32])
{
    static const char domain[] = CHECKPOINT_SIG_DOMAIN;
    uint8_t cp[256], msg[512], sig[GEN_ORGS_MAX][64];
    Treaty__Ledger__Checkpoint c = TREATY__LEDGER__CHECKPOINT__INIT;
    c.network_id = (ProtobufCBinaryData){32, s->g->network_id};
    c.height = h;
    c.tree_size = size;
    c.root = (ProtobufCBinaryData){32, (uint8_t *)(uintptr_t)root};
    c.block_hash = (ProtobufCBinaryData){32, (uint8_t *)(uintptr_t)hash};
    size_t n = treaty__ledger__checkpoint__pack(&c, cp);
    memcpy(msg, domain, sizeof domain);
    memcpy(msg + sizeof domain, s->g->network_id, 32);
    memcpy(msg + sizeof domain + 32, cp, n);
    Treaty__Audit__Cosignature cs[GEN_ORGS_MAX], *csp[GEN_ORGS_MAX];
    for (unsigned i = 0; i < s->o->n_orgs; i++) {
        crypto_sign_detached(sig[i], NULL, msg, sizeof domain + 32 + n, s->sk[i]);
        treaty__audit__cosignature__init(&cs[i]);
        cs[i].org = s->g->members[i].org;
        cs[i].signature = (ProtobufCBinaryData){64, sig[i]};
        csp[i] = &cs[i];
    }
    Treaty__Audit__ExportCheckpoint ec = TREATY__AUDIT__EXPORT_CHECKPOINT__INIT;
    ec.checkpoint = (ProtobufCBinaryData){n, cp};
    ec.n_cosignatures = s->o->n_orgs;
    ec.cosignatures = csp;
    Treaty__Audit__ExportRecord r = TREATY__AUDIT__EXPORT_RECORD__INIT;
    r.kind_case = TREATY__AUDIT__EXPORT_RECORD__KIND_CHECKPOINT;
    r.checkpoint = &ec;
    return gen_write(s, &r);
}

/* Blocks, remembering what each checkpoint needs, then the checkpoint records and the end. */
static int gen_body(struct gen *s)
{
    const struct audit_gen_options *o = s->o;
    uint64_t n_cp = o->every_blocks ? o->blocks / o->every_blocks : 0;
    uint8_t(*cp)[2][32] = tr_calloc(n_cp ? n_cp : 1, sizeof *cp);
    uint64_t *cps = tr_calloc(n_cp ? n_cp : 1, sizeof *cps);
    int rc = cp && cps ? TR_OK : TR_ENOMEM;
    for (uint64_t h = 1, k = 0; rc == TR_OK && h <= o->blocks; h++) {
        rc = gen_block(s, h);
        if (rc == TR_OK && o->every_blocks && h % o->every_blocks == 0) {
            cps[k] = merkle_size(s->tree);
            memcpy(cp[k][1], s->prev, 32);
            rc = merkle_root(s->tree, cps[k], cp[k][0]);
            k++;
        }
    }
    for (uint64_t k = 0; rc == TR_OK && k < n_cp; k++)
        rc = gen_checkpoint(s, (k + 1) * o->every_blocks, cps[k], cp[k][0], cp[k][1]);
    Treaty__Audit__ExportEnd e = TREATY__AUDIT__EXPORT_END__INIT;
    e.blocks = o->blocks;
    e.checkpoints = n_cp;
    Treaty__Audit__ExportRecord r = TREATY__AUDIT__EXPORT_RECORD__INIT;
    r.kind_case = TREATY__AUDIT__EXPORT_RECORD__KIND_END;
    r.end = &e;
    if (rc == TR_OK)
        rc = gen_write(s, &r);
    tr_free(cp);
    tr_free(cps);
    return rc;
}

int audit_gen_export(const struct audit_gen_options *o, FILE *out, char *err, size_t errlen)
{
    struct gen s;
    memset(&s, 0, sizeof s);
    s.o = o;
    s.out = out;
    if (o->n_orgs == 0 || o->n_orgs > GEN_ORGS_MAX || o->blocks == 0 || o->blocks >= 1000000 ||
        o->txs_per_block > BATCH_TXS_MAX || sodium_init() < 0) {
        snprintf(err, errlen, "audit gen: 1..%d orgs, >= 1 block, <= %d txs per block",
                 GEN_ORGS_MAX, BATCH_TXS_MAX);
        return TR_EINVAL;
    }
    int rc = gen_genesis(&s, err, errlen);
    if (rc == TR_OK)
        rc = merkle_mem_store_create(o->blocks * (o->txs_per_block + 1), &s.ms);
    if (rc == TR_OK) {
        struct merkle_store st = merkle_mem_store_iface(s.ms);
        rc = merkle_tree_create(&st, 0, &s.tree);
    }
    if (rc == TR_OK) {
        Treaty__Audit__ExportHeader h = TREATY__AUDIT__EXPORT_HEADER__INIT;
        h.format_version = AUDIT_FORMAT_VERSION;
        h.network_id = (ProtobufCBinaryData){32, s.g->network_id};
        h.genesis = (ProtobufCBinaryData){s.g->canonical_len, (uint8_t *)s.g->canonical};
        h.from = 1;
        h.to = o->blocks;
        Treaty__Audit__ExportRecord r = TREATY__AUDIT__EXPORT_RECORD__INIT;
        r.kind_case = TREATY__AUDIT__EXPORT_RECORD__KIND_HEADER;
        r.header = &h;
        rc = gen_write(&s, &r);
    }
    if (rc == TR_OK)
        rc = gen_body(&s);
    merkle_tree_destroy(s.tree);
    merkle_mem_store_destroy(s.ms);
    genesis_destroy(s.g);
    return rc;
}
