/* batch.c — builds and signs Entry/SignedBatch/Batch messages (node/ledger.proto), stamps the
 * leader's timestamp and peeks at entries. Invariant: the Batch bytes are encoded once, signed, and
 * from then on only copied, never re-encoded. Pure: no LMDB, no clock. */
#include "node/batch.h"

#include "common/alloc.h"
#include "common/bytes.h"
#include "common/err.h"
#include "node/hash.h"
#include "node/ledger.pb-c.h"

#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

int batch_tx_id_valid(const char *id)
{
    if (!id)
        return 0;
    size_t i = 0;
    for (; id[i]; i++) {
        char c = id[i];
        if (i >= BATCH_TX_ID_LEN || !((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
            return 0;
    }
    return i == BATCH_TX_ID_LEN;
}

/* Random bytes for tx ids, drawn from the system in blocks: one getrandom call per 409 ids
 * instead of one per id (a syscall per write). Per thread; a forked child starts a new block, so
 * parent and child never hand out the same bytes. */
#define ID_POOL_BYTES 4096
static _Thread_local uint8_t id_pool[ID_POOL_BYTES];
static _Thread_local size_t id_pool_left;
static _Thread_local unsigned id_pool_gen;
static unsigned id_pool_forks; /* bumped in a forked child: every thread's block is stale */
static pthread_once_t id_pool_once = PTHREAD_ONCE_INIT;

static void id_pool_child(void)
{
    id_pool_forks++;
}

static void id_pool_register(void)
{
    pthread_atfork(NULL, NULL, id_pool_child);
}

static void id_random(uint8_t *out, size_t n)
{
    pthread_once(&id_pool_once, id_pool_register);
    if (id_pool_gen != id_pool_forks) {
        id_pool_left = 0;
        id_pool_gen = id_pool_forks;
    }
    if (id_pool_left < n) {
        randombytes_buf(id_pool, sizeof id_pool);
        id_pool_left = sizeof id_pool;
    }
    memcpy(out, id_pool + (sizeof id_pool - id_pool_left), n);
    id_pool_left -= n;
}

void batch_tx_id_new(char id[33], uint64_t unix_ms)
{
    uint8_t raw[16];
    for (int i = 5; i >= 0; i--, unix_ms >>= 8)
        raw[i] = (uint8_t)unix_ms;
    id_random(raw + 6, sizeof raw - 6);
    tr_hex_encode(raw, sizeof raw, id);
}

static int batch_pack_entry(const Treaty__Ledger__Entry *e, uint8_t **out, size_t *out_len)
{
    size_t n = treaty__ledger__entry__get_packed_size(e);
    uint8_t *buf = tr_malloc(n ? n : 1);
    if (!buf)
        return TR_ENOMEM;
    *out_len = treaty__ledger__entry__pack(e, buf);
    *out = buf;
    return TR_OK;
}

/* The bytes a signature by `rule` covers: in `small` for v2 (*msg == small), allocated for v1
 * (the caller frees *msg when it is not small). TR_EINVAL for an unknown rule; TR_ENOMEM. */
static int batch_sig_message(enum batch_sig rule, const uint8_t network_id[32],
                             const uint8_t *batch, size_t len, uint8_t small[80], uint8_t **msg,
                             size_t *mlen)
{
    static const char v1[] = BATCH_SIG_DOMAIN, v2[] = BATCH_SIG_DOMAIN_V2;
    _Static_assert(sizeof v2 + 32 + 32 == 80, "a v2 message is the domain, the id and a digest");
    if (rule == BATCH_SIG_V2) {
        memcpy(small, v2, sizeof v2);
        memcpy(small + sizeof v2, network_id, 32);
        hash_sha256(small + sizeof v2 + 32, batch, len);
        *msg = small;
        *mlen = 80;
        return TR_OK;
    }
    if (rule != BATCH_SIG_V1)
        return TR_EINVAL;
    *mlen = sizeof v1 + 32 + len;
    if (!(*msg = tr_malloc(*mlen)))
        return TR_ENOMEM;
    memcpy(*msg, v1, sizeof v1);
    memcpy(*msg + sizeof v1, network_id, 32);
    if (len)
        memcpy(*msg + sizeof v1 + 32, batch, len);
    return TR_OK;
}

int batch_sig_sign(enum batch_sig rule, const uint8_t network_id[32], const uint8_t *batch,
                   size_t len, const uint8_t sk[64], uint8_t sig[64])
{
    uint8_t small[80], *msg;
    size_t mlen;
    int rc = batch_sig_message(rule, network_id, batch, len, small, &msg, &mlen);
    if (rc != TR_OK)
        return rc;
    crypto_sign_detached(sig, NULL, msg, mlen, sk);
    if (msg != small)
        tr_free(msg);
    return TR_OK;
}

int batch_sig_verify(enum batch_sig rule, const uint8_t network_id[32], const uint8_t *batch,
                     size_t len, const uint8_t *sig, size_t sig_len, const uint8_t pk[32])
{
    uint8_t small[80], *msg;
    size_t mlen;
    if (sig_len != BATCH_SIGNATURE_BYTES)
        return TR_EINVAL;
    int rc = batch_sig_message(rule, network_id, batch, len, small, &msg, &mlen);
    if (rc != TR_OK)
        return rc;
    if (crypto_sign_verify_detached(sig, msg, mlen, pk) != 0)
        rc = TR_EINVAL;
    if (msg != small)
        tr_free(msg);
    return rc;
}

/* Encodes `b`, signs the bytes by `rule` and wraps them in an Entry. */
static int batch_sign_wrap(const Treaty__Ledger__Batch *b, enum batch_sig rule,
                           const uint8_t sk[64], uint8_t **out, size_t *out_len)
{
    size_t blen = treaty__ledger__batch__get_packed_size(b);
    uint8_t *bytes = tr_malloc(blen ? blen : 1);
    if (!bytes)
        return TR_ENOMEM;
    treaty__ledger__batch__pack(b, bytes);
    uint8_t sig[64];
    int rc = batch_sig_sign(rule, b->network_id.data, bytes, blen, sk, sig);
    if (rc == TR_OK) {
        Treaty__Ledger__SignedBatch sb = TREATY__LEDGER__SIGNED_BATCH__INIT;
        Treaty__Ledger__Entry e = TREATY__LEDGER__ENTRY__INIT;
        sb.org = b->org;
        sb.batch.data = bytes;
        sb.batch.len = blen;
        sb.signature.data = sig;
        sb.signature.len = sizeof sig;
        e.batch = &sb;
        rc = batch_pack_entry(&e, out, out_len);
    }
    tr_free(bytes);
    return rc;
}

static int batch_check_header(const char *org, const struct batch_tx *txs, size_t n)
{
    if (!org || !org[0] || strlen(org) > 63)
        return TR_EINVAL;
    if (n > BATCH_TXS_MAX)
        return TR_ELIMIT;
    for (size_t i = 0; i < n; i++) {
        if (!batch_tx_id_valid(txs[i].id))
            return TR_EINVAL;
        if (txs[i].n_ops > BATCH_OPS_MAX)
            return TR_ELIMIT;
        if (txs[i].idempotency_key && strlen(txs[i].idempotency_key) > BATCH_IDEM_KEY_MAX)
            return TR_ELIMIT;
        for (size_t j = 0; j < txs[i].n_ops; j++) {
            const struct batch_op *op = &txs[i].ops[j];
            if (op->kind < BATCH_OP_CREATE || op->kind > BATCH_OP_DELETE || !op->type || !op->key)
                return TR_EINVAL;
        }
    }
    return TR_OK;
}

/* The protobuf views of txs, borrowing every string and body. */
struct batch_views {
    Treaty__Ledger__Tx *tx;
    Treaty__Ledger__Tx **txp;
    Treaty__Ledger__Op *op;
    Treaty__Ledger__Op **opp;
};

static void batch_views_free(struct batch_views *v)
{
    tr_free(v->tx);
    tr_free(v->txp);
    tr_free(v->op);
    tr_free(v->opp);
}

/* The protobuf view of `o`, borrowing its strings and body. */
static void op_view(Treaty__Ledger__Op *p, const struct batch_op *o)
{
    treaty__ledger__op__init(p);
    p->kind = (Treaty__Ledger__Op__Kind)o->kind;
    p->type = (char *)(uintptr_t)o->type;
    p->key = (char *)(uintptr_t)o->key;
    p->expected_version = o->expected_version;
    p->body.data = (uint8_t *)(uintptr_t)o->body;
    p->body.len = o->body ? o->body_len : 0;
}

static int batch_views_fill(struct batch_views *v, const struct batch_tx *txs, size_t n)
{
    size_t nops = 0;
    for (size_t i = 0; i < n; i++)
        nops += txs[i].n_ops;
    v->tx = tr_calloc(n ? n : 1, sizeof *v->tx);
    v->txp = tr_calloc(n ? n : 1, sizeof *v->txp);
    v->op = tr_calloc(nops ? nops : 1, sizeof *v->op);
    v->opp = tr_calloc(nops ? nops : 1, sizeof *v->opp);
    if (!v->tx || !v->txp || !v->op || !v->opp)
        return TR_ENOMEM;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        Treaty__Ledger__Tx *t = &v->tx[i];
        treaty__ledger__tx__init(t);
        t->id = (char *)(uintptr_t)txs[i].id;
        if (txs[i].idempotency_key)
            t->idempotency_key = (char *)(uintptr_t)txs[i].idempotency_key;
        t->n_ops = txs[i].n_ops;
        t->ops = &v->opp[k];
        for (size_t j = 0; j < txs[i].n_ops; j++, k++) {
            op_view(&v->op[k], &txs[i].ops[j]);
            v->opp[k] = &v->op[k];
        }
        v->txp[i] = t;
    }
    return TR_OK;
}

static size_t varint_len(uint64_t v)
{
    size_t n = 1;
    for (; v >= 0x80; v >>= 7)
        n++;
    return n;
}

/* A length-delimited field of `len` bytes, tag included (every field number here is below 16). */
static size_t field_len(size_t len)
{
    return 1 + varint_len(len) + len;
}

size_t batch_tx_size(const struct batch_tx *t)
{
    size_t n = field_len(strlen(t->id));
    if (t->idempotency_key && t->idempotency_key[0])
        n += field_len(strlen(t->idempotency_key));
    for (size_t i = 0; i < t->n_ops; i++) {
        Treaty__Ledger__Op p;
        op_view(&p, &t->ops[i]);
        n += field_len(treaty__ledger__op__get_packed_size(&p));
    }
    return field_len(n);
}

int batch_build_entry(const uint8_t network_id[32], enum batch_sig rule, const char *org,
                      uint64_t seq, const uint8_t sk[64], const struct batch_tx *txs, size_t n,
                      uint8_t **out, size_t *out_len)
{
    int rc = batch_check_header(org, txs, n);
    if (rc != TR_OK)
        return rc;
    struct batch_views v = {0};
    rc = batch_views_fill(&v, txs, n);
    if (rc == TR_OK) {
        Treaty__Ledger__Batch b = TREATY__LEDGER__BATCH__INIT;
        b.network_id.data = (uint8_t *)(uintptr_t)network_id;
        b.network_id.len = 32;
        b.org = (char *)(uintptr_t)org;
        b.seq = seq;
        b.n_txs = n;
        b.txs = v.txp;
        rc = batch_sign_wrap(&b, rule, sk, out, out_len);
    }
    batch_views_free(&v);
    return rc;
}

/* One-tx batch around `t` (governance or cosign). */
static int batch_build_single(const uint8_t network_id[32], enum batch_sig rule, const char *org,
                              uint64_t seq, const uint8_t sk[64], Treaty__Ledger__Tx *t,
                              uint8_t **out, size_t *out_len)
{
    if (!org || !org[0] || strlen(org) > 63 || !batch_tx_id_valid(t->id))
        return TR_EINVAL;
    Treaty__Ledger__Batch b = TREATY__LEDGER__BATCH__INIT;
    b.network_id.data = (uint8_t *)(uintptr_t)network_id;
    b.network_id.len = 32;
    b.org = (char *)(uintptr_t)org;
    b.seq = seq;
    b.n_txs = 1;
    b.txs = &t;
    return batch_sign_wrap(&b, rule, sk, out, out_len);
}

/* The Governance message of `gov` in *g and the tx around it in *t, borrowing every field. */
static void gov_views(Treaty__Ledger__Governance *g, Treaty__Ledger__Tx *t, const char *tx_id,
                      const struct batch_gov *gov)
{
    treaty__ledger__governance__init(g);
    treaty__ledger__tx__init(t);
    g->kind = (Treaty__Ledger__Governance__Kind)gov->kind;
    if (gov->org)
        g->org = (char *)(uintptr_t)gov->org;
    if (gov->public_key) {
        g->public_key.data = (uint8_t *)(uintptr_t)gov->public_key;
        g->public_key.len = 32;
    }
    if (gov->peer)
        g->peer = (char *)(uintptr_t)gov->peer;
    if (gov->proposal_id)
        g->proposal_id = (char *)(uintptr_t)gov->proposal_id;
    if (gov->schema) {
        g->schema.data = (uint8_t *)(uintptr_t)gov->schema;
        g->schema.len = gov->schema_len;
    }
    t->id = (char *)(uintptr_t)tx_id;
    t->governance = g;
}

size_t batch_governance_tx_size(const char *tx_id, const struct batch_gov *gov)
{
    Treaty__Ledger__Governance g;
    Treaty__Ledger__Tx t;
    gov_views(&g, &t, tx_id, gov);
    return field_len(treaty__ledger__tx__get_packed_size(&t));
}

int batch_build_governance_entry(const uint8_t network_id[32], enum batch_sig rule, const char *org,
                                 uint64_t seq, const uint8_t sk[64], const char *tx_id,
                                 const struct batch_gov *gov, uint8_t **out, size_t *out_len)
{
    if (!gov || gov->kind < BATCH_GOV_ADD_ORG || gov->kind > BATCH_GOV_SCHEMA || !tx_id)
        return TR_EINVAL;
    Treaty__Ledger__Governance g;
    Treaty__Ledger__Tx t;
    gov_views(&g, &t, tx_id, gov);
    return batch_build_single(network_id, rule, org, seq, sk, &t, out, out_len);
}

int batch_build_cosign_entry(const uint8_t network_id[32], enum batch_sig rule, const char *org,
                             uint64_t seq, const uint8_t sk[64], const char *tx_id,
                             const uint8_t *checkpoint, size_t checkpoint_len,
                             const uint8_t sig[64], uint8_t **out, size_t *out_len)
{
    if (!tx_id || !checkpoint || !sig)
        return TR_EINVAL;
    Treaty__Ledger__Checkpoint *cp =
        treaty__ledger__checkpoint__unpack(NULL, checkpoint_len, checkpoint);
    if (!cp)
        return TR_EPARSE;
    Treaty__Ledger__Cosign c = TREATY__LEDGER__COSIGN__INIT;
    Treaty__Ledger__Tx t = TREATY__LEDGER__TX__INIT;
    c.checkpoint = cp;
    c.signature.data = (uint8_t *)(uintptr_t)sig;
    c.signature.len = 64;
    t.id = (char *)(uintptr_t)tx_id;
    t.cosign = &c;
    int rc = batch_build_single(network_id, rule, org, seq, sk, &t, out, out_len);
    treaty__ledger__checkpoint__free_unpacked(cp, NULL);
    return rc;
}

int batch_entry_stamp(const uint8_t *entry, size_t len, uint64_t timestamp_us, uint8_t **out,
                      size_t *out_len)
{
    Treaty__Ledger__Entry *e = treaty__ledger__entry__unpack(NULL, len, entry);
    if (!e)
        return TR_EPARSE;
    e->timestamp_us = timestamp_us;
    int rc = batch_pack_entry(e, out, out_len);
    treaty__ledger__entry__free_unpacked(e, NULL);
    /* protobuf-c keeps unknown fields and writes them back, but it accepts a field number 0 sent
       as an overlong varint and refuses the one-byte tag it writes for it: such an entry would be
       ordered as bytes no node decodes (tests/fuzz/corpus/wire-decode/regress-entry-field0). */
    Treaty__Ledger__Entry *check =
        rc == TR_OK ? treaty__ledger__entry__unpack(NULL, *out_len, *out) : NULL;
    if (rc == TR_OK && !check) {
        tr_free(*out);
        *out = NULL;
        rc = TR_EPARSE;
    }
    if (check)
        treaty__ledger__entry__free_unpacked(check, NULL);
    return rc;
}

int batch_entry_peek(const uint8_t *entry, size_t len, struct batch_peek *out)
{
    memset(out, 0, sizeof *out);
    int rc = TR_EPARSE;
    Treaty__Ledger__Batch *b = NULL;
    Treaty__Ledger__Entry *e = treaty__ledger__entry__unpack(NULL, len, entry);
    if (!e || !e->batch)
        goto fail;
    b = treaty__ledger__batch__unpack(NULL, e->batch->batch.len, e->batch->batch.data);
    if (!b || strlen(b->org) > 63)
        goto fail;
    rc = TR_ENOMEM;
    out->tx_ids = tr_calloc(b->n_txs ? b->n_txs : 1, sizeof *out->tx_ids);
    if (!out->tx_ids)
        goto fail;
    for (size_t i = 0; i < b->n_txs; i++)
        snprintf(out->tx_ids[i], sizeof out->tx_ids[i], "%s", b->txs[i]->id);
    snprintf(out->org, sizeof out->org, "%s", b->org);
    out->seq = b->seq;
    out->timestamp_us = e->timestamp_us;
    out->n_txs = b->n_txs;
    rc = TR_OK;
fail:
    if (b)
        treaty__ledger__batch__free_unpacked(b, NULL);
    if (e)
        treaty__ledger__entry__free_unpacked(e, NULL);
    if (rc != TR_OK)
        batch_peek_free(out);
    return rc;
}

void batch_peek_free(struct batch_peek *p)
{
    if (!p)
        return;
    tr_free(p->tx_ids);
    memset(p, 0, sizeof *p);
}
