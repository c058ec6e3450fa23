/* audit_proof.c — the checkpoint file, the inclusion proof file and the offline check of one
 * against the other (audit_proof.h, docs/audit.md "Proofs of inclusion"). */
#include "node/audit_proof.h"
#include "common/bytes.h"
#include "common/err.h"
#include "common/alloc.h"
#include "node/batch.h"
#include "node/ledger.pb-c.h"

#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* Decodes the hex string member `k` of `o` into exactly `len` bytes. */
static int hex_member(const json_t *o, const char *k, uint8_t *out, size_t len)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s && strlen(s) == 2 * len && tr_hex_decode(s, strlen(s), out, len) == 0;
}

static int uint_member(const json_t *o, const char *k, uint64_t *out)
{
    const json_t *v = json_object_get(o, k);
    if (!json_is_integer(v) || json_integer_value(v) < 0)
        return 0;
    *out = (uint64_t)json_integer_value(v);
    return 1;
}

static int perr(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int perr(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return TR_EPARSE;
}

/* [{"org", k: hex of len bytes}] into out; the count, or -1. */
static int org_list(const json_t *a, const char *k, size_t len, struct audit_cp_org *out)
{
    size_t i;
    const json_t *e;
    if (!json_is_array(a) || json_array_size(a) > AUDIT_CP_MAX_ORGS)
        return -1;
    json_array_foreach(a, i, e)
    {
        const char *org = json_string_value(json_object_get(e, "org"));
        if (!org || !org[0] || strlen(org) >= sizeof out[i].org ||
            !hex_member(e, k, out[i].bytes, len))
            return -1;
        memcpy(out[i].org, org, strlen(org) + 1);
    }
    return (int)json_array_size(a);
}

int audit_cp_from_json(const json_t *o, int need_members, struct audit_cp *cp, char *err,
                       size_t errlen)
{
    memset(cp, 0, sizeof *cp);
    if (!json_is_object(o))
        return perr(err, errlen, "the checkpoint is not a JSON object");
    if (need_members) {
        const char *f = json_string_value(json_object_get(o, "format"));
        if (!f || strcmp(f, AUDIT_CP_FORMAT) != 0)
            return perr(err, errlen, "not a checkpoint file (\"format\" is not \"%s\")",
                        AUDIT_CP_FORMAT);
    }
    if (!hex_member(o, "network_id", cp->network_id, 32) || !hex_member(o, "root", cp->root, 32) ||
        !hex_member(o, "block_hash", cp->block_hash, 32) ||
        !uint_member(o, "height", &cp->height) || !uint_member(o, "tree_size", &cp->tree_size) ||
        cp->height == 0)
        return perr(err, errlen,
                    "the checkpoint needs network_id, root, block_hash (64 hex digits each), "
                    "height (> 0) and tree_size");
    int n = org_list(json_object_get(o, "cosignatures"), "signature", 64, cp->cosigs);
    if (n < 0)
        return perr(err, errlen,
                    "the checkpoint's \"cosignatures\" must be [{\"org\", \"signature\": 128 hex "
                    "digits}] (at most %d)",
                    AUDIT_CP_MAX_ORGS);
    cp->n_cosigs = (size_t)n;
    if (need_members) {
        n = org_list(json_object_get(o, "members"), "public_key", 32, cp->members);
        if (n <= 0)
            return perr(err, errlen,
                        "the checkpoint file's \"members\" must be [{\"org\", \"public_key\": 64 "
                        "hex digits}], not empty");
        cp->n_members = (size_t)n;
    }
    return TR_OK;
}

static json_t *hexj(const uint8_t *p, size_t len)
{
    char s[129];
    tr_hex_encode(p, len, s);
    return json_string(s);
}

json_t *audit_cp_to_json(const struct audit_cp *cp, int with_members)
{
    json_t *sigs = json_array();
    for (size_t i = 0; sigs && i < cp->n_cosigs; i++)
        json_array_append_new(sigs, json_pack("{ss so}", "org", cp->cosigs[i].org, "signature",
                                              hexj(cp->cosigs[i].bytes, 64)));
    json_t *o =
        json_pack("{so sI sI so so so}", "network_id", hexj(cp->network_id, 32), "height",
                  (json_int_t)cp->height, "tree_size", (json_int_t)cp->tree_size, "root",
                  hexj(cp->root, 32), "block_hash", hexj(cp->block_hash, 32), "cosignatures", sigs);
    if (o && with_members) {
        json_t *ms = json_array();
        for (size_t i = 0; ms && i < cp->n_members; i++)
            json_array_append_new(ms, json_pack("{ss so}", "org", cp->members[i].org, "public_key",
                                                hexj(cp->members[i].bytes, 32)));
        json_object_set_new(o, "members", ms);
        json_object_set_new(o, "format", json_string(AUDIT_CP_FORMAT));
    }
    return o;
}

int audit_cp_sig_ok(const struct audit_cp *cp, const uint8_t sig[64], const uint8_t key[32])
{
    static const char domain[] = CHECKPOINT_SIG_DOMAIN;
    Treaty__Ledger__Checkpoint c = TREATY__LEDGER__CHECKPOINT__INIT;
    c.network_id = (ProtobufCBinaryData){32, (uint8_t *)(uintptr_t)cp->network_id};
    c.height = cp->height;
    c.tree_size = cp->tree_size;
    c.root = (ProtobufCBinaryData){32, (uint8_t *)(uintptr_t)cp->root};
    c.block_hash = (ProtobufCBinaryData){32, (uint8_t *)(uintptr_t)cp->block_hash};
    uint8_t msg[512];
    size_t n = treaty__ledger__checkpoint__get_packed_size(&c);
    if (sizeof domain + 32 + n > sizeof msg)
        return 0;
    memcpy(msg, domain, sizeof domain);
    memcpy(msg + sizeof domain, cp->network_id, 32);
    treaty__ledger__checkpoint__pack(&c, msg + sizeof domain + 32);
    return crypto_sign_verify_detached(sig, msg, sizeof domain + 32 + n, key) == 0;
}

const uint8_t *audit_cp_member_key(const struct audit_cp *cp, const char *org)
{
    for (size_t i = 0; i < cp->n_members; i++)
        if (strcmp(cp->members[i].org, org) == 0)
            return cp->members[i].bytes;
    return NULL;
}

/* A JSON array of hashes into out; the count, or -1. */
static int hash_list(const json_t *a, uint8_t out[MERKLE_PROOF_MAX][MERKLE_HASH_SIZE])
{
    size_t n = json_array_size(a);
    if (!json_is_array(a) || n > MERKLE_PROOF_MAX)
        return -1;
    for (size_t i = 0; i < n; i++) {
        const char *h = json_string_value(json_array_get(a, i));
        if (!h || strlen(h) != 64 || tr_hex_decode(h, 64, out[i], MERKLE_HASH_SIZE) != 0)
            return -1;
    }
    return (int)n;
}

int audit_proof_from_json(const json_t *o, struct audit_proof *p, char *err, size_t errlen)
{
    memset(p, 0, sizeof *p);
    if (!json_is_object(o))
        return perr(err, errlen, "the proof is not a JSON object");
    const char *f = json_string_value(json_object_get(o, "format"));
    if (!f || strcmp(f, AUDIT_PROOF_FORMAT) != 0)
        return perr(err, errlen, "not an inclusion proof (\"format\" is not \"%s\")",
                    AUDIT_PROOF_FORMAT);
    const char *tx = json_string_value(json_object_get(o, "tx"));
    const char *leaf = json_string_value(json_object_get(o, "leaf"));
    if (!tx || strlen(tx) >= sizeof p->tx || !leaf || strlen(leaf) % 2 != 0 ||
        !uint_member(o, "leaf_index", &p->leaf_index) ||
        !uint_member(o, "tree_size", &p->tree_size) || !hex_member(o, "root", p->root, 32))
        return perr(err, errlen,
                    "the proof needs tx, leaf (hex), leaf_index, tree_size and root (64 hex "
                    "digits)");
    memcpy(p->tx, tx, strlen(tx) + 1);
    p->leaf_len = strlen(leaf) / 2;
    p->leaf = tr_malloc(p->leaf_len ? p->leaf_len : 1);
    if (!p->leaf)
        return TR_ENOMEM;
    if (tr_hex_decode(leaf, strlen(leaf), p->leaf, p->leaf_len) != 0)
        return perr(err, errlen, "the proof's leaf is not hex");
    int n = hash_list(json_object_get(o, "inclusion_path"), p->path);
    if (n < 0)
        return perr(err, errlen, "the proof's inclusion_path must be a list of at most %d hashes",
                    MERKLE_PROOF_MAX);
    p->n_path = (size_t)n;
    char cerr[256] = "";
    if (audit_cp_from_json(json_object_get(o, "checkpoint"), 0, &p->cp, cerr, sizeof cerr) != TR_OK)
        return perr(err, errlen, "the proof's checkpoint: %s", cerr);
    const json_t *rec = json_object_get(o, "record");
    if (rec && !json_is_null(rec)) {
        const char *ty = json_string_value(json_object_get(rec, "type"));
        const char *k = json_string_value(json_object_get(rec, "key"));
        const char *txh = json_string_value(json_object_get(rec, "tx"));
        if (!ty || !k || !txh || strlen(ty) >= sizeof p->rec_type ||
            strlen(k) >= sizeof p->rec_key || strlen(txh) % 2 != 0 ||
            !uint_member(rec, "version", &p->rec_version) || p->rec_version == 0)
            return perr(err, errlen,
                        "the proof's record must be {\"type\", \"key\", \"version\" (>= 1), "
                        "\"tx\" (hex)}");
        memcpy(p->rec_type, ty, strlen(ty) + 1);
        memcpy(p->rec_key, k, strlen(k) + 1);
        p->rec_tx_len = strlen(txh) / 2;
        p->rec_tx = tr_malloc(p->rec_tx_len ? p->rec_tx_len : 1);
        if (!p->rec_tx)
            return TR_ENOMEM;
        if (tr_hex_decode(txh, strlen(txh), p->rec_tx, p->rec_tx_len) != 0)
            return perr(err, errlen, "the proof's record tx is not hex");
        p->has_record = 1;
    }
    const json_t *c = json_object_get(o, "consistency");
    if (c && !json_is_null(c)) {
        n = hash_list(json_object_get(c, "proof"), p->cons);
        if (n < 0 || !uint_member(c, "from_tree_size", &p->cons_from))
            return perr(err, errlen,
                        "the proof's consistency must be {\"from_tree_size\", \"proof\": [hash, "
                        "…]}");
        p->n_cons = (size_t)n;
        p->has_consistency = 1;
    }
    return TR_OK;
}

void audit_proof_free(struct audit_proof *p)
{
    tr_free(p->leaf);
    tr_free(p->rec_tx);
    p->leaf = NULL;
    p->rec_tx = NULL;
}

static void fail(struct audit_proof_result *r, const char *what, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void fail(struct audit_proof_result *r, const char *what, const char *fmt, ...)
{
    va_list ap;
    r->ok = 0;
    snprintf(r->what, sizeof r->what, "%s", what);
    va_start(ap, fmt);
    vsnprintf(r->why, sizeof r->why, fmt, ap);
    va_end(ap);
}

static int cp_same(const struct audit_cp *a, const struct audit_cp *b)
{
    return a->height == b->height && a->tree_size == b->tree_size &&
           memcmp(a->network_id, b->network_id, 32) == 0 && memcmp(a->root, b->root, 32) == 0 &&
           memcmp(a->block_hash, b->block_hash, 32) == 0;
}

/* The proof's checkpoint against the trusted one: equal, or later and consistent. */
static int check_checkpoint(const struct audit_proof *p, const struct audit_cp *t,
                            struct audit_proof_result *r)
{
    const struct audit_cp *c = &p->cp;
    char why[256] = "";
    if (memcmp(c->network_id, t->network_id, 32) != 0) {
        fail(r, "network", "the proof is for another network than the trusted checkpoint's");
        return 0;
    }
    if (c->height == t->height) {
        if (!cp_same(c, t)) {
            fail(r, "checkpoint",
                 "the proof's checkpoint at height %llu differs from the trusted one (another "
                 "history)",
                 (unsigned long long)c->height);
            return 0;
        }
        return 1;
    }
    if (c->height < t->height || c->tree_size < t->tree_size) {
        fail(r, "checkpoint",
             "the proof's checkpoint (height %llu) is older than the trusted one (height %llu): "
             "prove again",
             (unsigned long long)c->height, (unsigned long long)t->height);
        return 0;
    }
    if (!p->has_consistency || p->cons_from != t->tree_size) {
        fail(r, "consistency",
             "the proof's checkpoint (height %llu) is later than the trusted one (height %llu) "
             "and the proof holds no consistency proof from its tree of %llu leaves",
             (unsigned long long)c->height, (unsigned long long)t->height,
             (unsigned long long)t->tree_size);
        return 0;
    }
    if (t->tree_size == 0) {
        fail(r, "consistency", "the trusted checkpoint's tree is empty: it commits to nothing");
        return 0;
    }
    if (merkle_verify_consistency(t->tree_size, c->tree_size, p->cons[0], p->n_cons, t->root,
                                  c->root, why, sizeof why) != TR_OK) {
        fail(r, "consistency",
             "the proof's tree of %llu leaves does not extend the trusted tree of %llu leaves "
             "(RFC 9162 §2.1.4.2): %s",
             (unsigned long long)c->tree_size, (unsigned long long)t->tree_size, why);
        return 0;
    }
    return 1;
}

static int check_cosigs(const struct audit_proof *p, const struct audit_cp *t,
                        struct audit_proof_result *r)
{
    const struct audit_cp *c = &p->cp;
    r->n_members = t->n_members;
    for (size_t i = 0; i < c->n_cosigs; i++) {
        const struct audit_cp_org *s = &c->cosigs[i];
        const uint8_t *key = audit_cp_member_key(t, s->org);
        for (size_t k = 0; k < i; k++)
            if (strcmp(c->cosigs[k].org, s->org) == 0) {
                fail(r, "cosignature", "org %s cosigned the checkpoint twice", s->org);
                return 0;
            }
        if (!key) {
            fail(r, "cosignature",
                 "org %s, which cosigned, is not a member in the trusted checkpoint", s->org);
            return 0;
        }
        if (!audit_cp_sig_ok(c, s->bytes, key)) {
            fail(r, "cosignature",
                 "the cosignature of org %s on checkpoint %llu does not verify with its key",
                 s->org, (unsigned long long)c->height);
            return 0;
        }
        memcpy(r->signers[r->n_signers++], s->org, sizeof s->org);
    }
    if (r->n_signers == 0) {
        fail(r, "cosignature", "the proof's checkpoint carries no cosignature");
        return 0;
    }
    return 1;
}

/* The record part of a record proof, once the leaf is known to be tx p->tx's and in the tree. */
static int check_record(const struct audit_proof *p, const Treaty__Ledger__TxLeaf *leaf,
                        struct audit_proof_result *r)
{
    static const char *const kinds[] = {"?", "CREATE", "REPLACE", "PATCH", "DELETE"};
    uint8_t h[32];
    crypto_hash_sha256(h, p->rec_tx, p->rec_tx_len);
    if (leaf->tx_hash.len != 32 || memcmp(leaf->tx_hash.data, h, 32) != 0) {
        fail(r, "record", "SHA-256 of the proof's tx bytes is not the tx_hash of the leaf");
        return 0;
    }
    if (!leaf->committed) {
        fail(r, "record", "tx %s was rejected (%.200s): it wrote no record", p->tx, leaf->reason);
        return 0;
    }
    Treaty__Ledger__Tx *tx = treaty__ledger__tx__unpack(NULL, p->rec_tx_len, p->rec_tx);
    const Treaty__Ledger__Op *op = NULL;
    for (size_t i = 0; tx && i < tx->n_ops; i++)
        if (strcmp(tx->ops[i]->type, p->rec_type) == 0 && strcmp(tx->ops[i]->key, p->rec_key) == 0)
            op = tx->ops[i];
    int ok = tx && strcmp(tx->id, p->tx) == 0 && op;
    uint64_t want = 0;
    if (ok) {
        int kind = op->kind >= 1 && op->kind <= 4 ? (int)op->kind : 0;
        snprintf(r->op, sizeof r->op, "%s", kinds[kind]);
        want = op->kind == TREATY__LEDGER__OP__KIND__CREATE ? 1
               : op->expected_version                       ? op->expected_version + 1
                                                            : 0;
        r->version_by_op = want != 0;
    }
    if (tx)
        treaty__ledger__tx__free_unpacked(tx, NULL);
    if (!ok) {
        fail(r, "record", "tx %s does not write record %s/%s", p->tx, p->rec_type, p->rec_key);
        return 0;
    }
    if (want && want != p->rec_version) {
        fail(r, "record", "tx %s's %s of %s/%s makes version %llu, not %llu", p->tx, r->op,
             p->rec_type, p->rec_key, (unsigned long long)want, (unsigned long long)p->rec_version);
        return 0;
    }
    return 1;
}

void audit_proof_check(const struct audit_proof *p, const struct audit_cp *t,
                       struct audit_proof_result *r)
{
    char why[256] = "";
    uint8_t lh[MERKLE_HASH_SIZE];
    memset(r, 0, sizeof *r);
    if (!check_checkpoint(p, t, r) || !check_cosigs(p, t, r))
        return;
    if (p->tree_size != p->cp.tree_size || memcmp(p->root, p->cp.root, 32) != 0) {
        fail(r, "root", "the proof's root or tree size is not its checkpoint's");
        return;
    }
    Treaty__Ledger__TxLeaf *leaf = treaty__ledger__tx_leaf__unpack(NULL, p->leaf_len, p->leaf);
    int same_tx = leaf && strcmp(leaf->tx_id, p->tx) == 0;
    if (same_tx) {
        snprintf(r->org, sizeof r->org, "%s", leaf->org);
        r->height = leaf->height;
    }
    int record_ok = !same_tx || !p->has_record || check_record(p, leaf, r);
    if (leaf)
        treaty__ledger__tx_leaf__free_unpacked(leaf, NULL);
    merkle_leaf_hash(p->leaf, p->leaf_len, lh);
    if (p->leaf_index >= p->tree_size ||
        merkle_verify_inclusion(lh, p->leaf_index, p->tree_size, p->path[0], p->n_path, p->root,
                                why, sizeof why) != TR_OK) {
        fail(r, "inclusion",
             "SHA-256(0x00 ‖ leaf) at leaf index %llu does not lead to the root of the tree of "
             "%llu leaves by the inclusion path (RFC 9162 §2.1.3.2)%s%s",
             (unsigned long long)p->leaf_index, (unsigned long long)p->tree_size,
             why[0] ? ": " : "", why);
        return;
    }
    if (!same_tx) {
        fail(r, "leaf", "the leaf is in the tree but is not the TxLeaf of tx %s", p->tx);
        return;
    }
    if (!record_ok) {
        r->ok = 0; /* check_record said why; the inclusion held */
        return;
    }
    r->ok = 1;
}
