/* test_ledger.c — suite `ledger` for node/ledger*.c over a real LMDB env in a mkdtemp folder and
 * the supply-chain example schema (only acme creates Shipments; owner and globex update):
 * signatures, replay, schema, ACLs, versions, atomic rollback, idempotency, history and indexes,
 * timestamps, determinism across two envs, Merkle roots and proofs against merkle_mem_store,
 * checkpoints and cosignatures, governance (add, remove, rotate). */
#include "node/genesis.h"
#include "node/ledger.h"

#include "common/alloc.h"
#include "common/err.h"
#include "node/batch.h"
#include "node/ledger.pb-c.h"
#include "node/ledger_int.h"
#include "node/merkle.h"

#include <check.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

Suite *suite_ledger(void);

#define N_ORGS 4 /* acme, globex, initech founders; hooli outsider */

static const char *const org_names[N_ORGS] = {"acme", "globex", "initech", "hooli"};

struct fx {
    char dir[64];
    MDB_env *env;
    struct schema_network *schema;
    struct ledger *l;
    uint8_t net[32];
    uint8_t pk[N_ORGS][32], sk[N_ORGS][64];
    uint64_t seq[N_ORGS];
    uint64_t height;
    unsigned next_id;
    struct ledger_block_outcome out;
    uint32_t ckpt_blocks, ckpt_ms;
    enum batch_sig sig; /* the network's batch signature rule: fx_sig at fx_open */
};

static void fx_keys(struct fx *f)
{
    for (int i = 0; i < N_ORGS; i++) {
        uint8_t seed[32];
        memset(seed, i + 1, sizeof seed);
        crypto_sign_seed_keypair(f->pk[i], f->sk[i], seed);
    }
    memset(f->net, 0x5a, sizeof f->net);
}

static size_t fx_map_bytes = 64u << 20;
static enum batch_sig fx_sig = BATCH_SIG_V2;

static int fx_ledger_open(struct fx *f, MDB_txn *txn, char *err, size_t errlen);

static void fx_open(struct fx *f, uint32_t ckpt_blocks, uint32_t ckpt_ms)
{
    char err[256];
    json_t *doc = NULL;
    memset(f, 0, sizeof *f);
    fx_keys(f);
    snprintf(f->dir, sizeof f->dir, "/tmp/treaty-ledger-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(f->dir));
    ck_assert_int_eq(mdb_env_create(&f->env), 0);
    ck_assert_int_eq(mdb_env_set_maxdbs(f->env, 32), 0);
    ck_assert_int_eq(mdb_env_set_mapsize(f->env, fx_map_bytes), 0);
    ck_assert_int_eq(mdb_env_open(f->env, f->dir, MDB_NOSYNC, 0600), 0);
    ck_assert_int_eq(schema_json_load_file(TREATY_SOURCE_DIR "/examples/supply-chain.json", NULL,
                                           &doc, err, sizeof err),
                     TR_OK);
    ck_assert_int_eq(schema_network_load(doc, NULL, &f->schema, err, sizeof err), TR_OK);
    json_decref(doc);
    f->ckpt_blocks = ckpt_blocks;
    f->ckpt_ms = ckpt_ms;
    f->sig = fx_sig;
    MDB_txn *txn;
    ck_assert_int_eq(mdb_txn_begin(f->env, NULL, 0, &txn), 0);
    ck_assert_int_eq(fx_ledger_open(f, txn, err, sizeof err), TR_OK);
    ck_assert_int_eq(mdb_txn_commit(txn), 0);
}

/* Opens f->l on f->env inside `txn` with the fixture's founders. */
static int fx_ledger_open(struct fx *f, MDB_txn *txn, char *err, size_t errlen)
{
    struct ledger_member m[3];
    memset(m, 0, sizeof m);
    for (int i = 0; i < 3; i++) {
        snprintf(m[i].org, sizeof m[i].org, "%s", org_names[i]);
        memcpy(m[i].public_key, f->pk[i], 32);
        m[i].node_id = genesis_node_id(org_names[i]);
        snprintf(m[i].peer, sizeof m[i].peer, "127.0.0.1:%d", 7401 + i);
    }
    struct ledger_config cfg = {f->net, f->schema, m, 3, f->ckpt_blocks, f->ckpt_ms, f->sig};
    return ledger_open(f->env, txn, &cfg, &f->l, err, errlen);
}

static void fx_close(struct fx *f)
{
    char cmd[128];
    ledger_destroy(f->l);
    mdb_env_close(f->env);
    schema_network_destroy(f->schema);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
    ck_assert_int_eq(system(cmd), 0);
}

/* Applies one raft entry as the next block and commits. */
static void fx_apply_raw(struct fx *f, int type, const uint8_t *data, size_t len)
{
    MDB_txn *txn;
    struct raft_entry e = {++f->height, 3, (enum raft_entry_type)type, data, len};
    ck_assert_int_eq(mdb_txn_begin(f->env, NULL, 0, &txn), 0);
    int rc = ledger_apply(f->l, txn, &e, &f->out);
    ck_assert_msg(rc == TR_OK, "apply: %s", ledger_errmsg(f->l));
    ck_assert_int_eq(mdb_txn_commit(txn), 0);
    ck_assert_uint_eq(f->out.height, f->height);
}

static void fx_apply_entry(struct fx *f, uint8_t *entry, size_t len, uint64_t ts)
{
    uint8_t *st = NULL;
    size_t slen = 0;
    ck_assert_int_eq(batch_entry_stamp(entry, len, ts, &st, &slen), TR_OK);
    tr_free(entry);
    fx_apply_raw(f, RAFT_ENTRY_NORMAL, st, slen);
    tr_free(st);
}

static void fx_next_id(struct fx *f, char id[33])
{
    snprintf(id, 33, "%032x", ++f->next_id);
}

/* Submits txs of org `o` signed with key `k`, with the next seq, at time ts. */
static void fx_submit_as(struct fx *f, int o, int k, struct batch_tx *txs, size_t n, uint64_t ts)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    ck_assert_int_eq(
        batch_build_entry(f->net, f->sig, org_names[o], ++f->seq[o], f->sk[k], txs, n, &buf, &len),
        TR_OK);
    fx_apply_entry(f, buf, len, ts);
}

/* One tx of one op by org o; returns the outcome. */
static const struct ledger_tx_outcome *fx_op(struct fx *f, int o, int kind, const char *type,
                                             const char *key, uint64_t expect, const char *body)
{
    struct batch_op op = {kind, type, key, expect, body, body ? strlen(body) : 0};
    struct batch_tx tx = {.ops = &op, .n_ops = 1};
    fx_next_id(f, tx.id);
    fx_submit_as(f, o, o, &tx, 1, 1000000 * f->height + 1);
    ck_assert_uint_eq(f->out.n_txs, 1);
    ck_assert_str_eq(f->out.txs[0].tx_id, tx.id);
    return &f->out.txs[0];
}

static void shipment(char *buf, size_t n, const char *id, const char *status)
{
    snprintf(
        buf, n,
        "{\"shipmentId\":\"%s\",\"origin\":\"Lyon\",\"destination\":\"Oslo\",\"status\":\"%s\","
        "\"carrier\":\"globex\",\"declaredValue\":{\"amount\":\"10.5\",\"currency\":\"EUR\"}}",
        id, status);
}

/* The l_index key of a Shipment's `field` with value `json` (JSON text) and record key `key`. */
static size_t index_key(uint8_t *k, const char *field, const char *json, const char *key)
{
    json_t *val = json_loads(json, JSON_DECODE_ANY, NULL);
    size_t vl = 0;
    ck_assert_ptr_nonnull(val);
    size_t n = (size_t)snprintf((char *)k, 32, "Shipment%c%s%c", 0, field, 0);
    ck_assert_int_eq(ledger__index_value(val, k + n, &vl), TR_OK);
    json_decref(val);
    memcpy(k + n + vl, key, strlen(key));
    return n + vl + strlen(key);
}

static void assert_rejected(const struct ledger_tx_outcome *o, const char *word)
{
    ck_assert_msg(!o->committed, "tx committed, expected %s", word);
    ck_assert_msg(strncmp(o->reason, word, strlen(word)) == 0 && o->reason[strlen(word)] == ':',
                  "reason \"%s\" does not start with %s:", o->reason, word);
}

static json_t *fx_record(struct fx *f, const char *type, const char *key, uint64_t version, int *rc)
{
    MDB_txn *r;
    char *s = NULL;
    ck_assert_int_eq(mdb_txn_begin(f->env, NULL, MDB_RDONLY, &r), 0);
    *rc = ledger_record_get(f->l, r, type, key, version, &s);
    mdb_txn_abort(r);
    if (*rc != TR_OK)
        return NULL;
    json_t *j = json_loads(s, 0, NULL);
    free(s);
    ck_assert_ptr_nonnull(j);
    return j;
}

static void fx_head(struct fx *f, struct ledger_head *h)
{
    MDB_txn *r;
    ck_assert_int_eq(mdb_txn_begin(f->env, NULL, MDB_RDONLY, &r), 0);
    ck_assert_int_eq(ledger_head(f->l, r, h), TR_OK);
    mdb_txn_abort(r);
}

/* ledger_record_history in a fresh read txn; NULL unless TR_OK. */
static json_t *fx_history(struct fx *f, const char *type, const char *key, uint64_t after,
                          uint32_t limit, int *rc)
{
    MDB_txn *r;
    json_t *out = NULL;
    ck_assert_int_eq(mdb_txn_begin(f->env, NULL, MDB_RDONLY, &r), 0);
    *rc = ledger_record_history(f->l, r, type, key, after, limit, &out);
    mdb_txn_abort(r);
    ck_assert(*rc == TR_OK ? out != NULL : out == NULL);
    return out;
}

/* ledger_record_list in a fresh read txn with filter value `value_json` (JSON text, or NULL). */
static json_t *fx_list(struct fx *f, const char *type, const char *field, const char *value_json,
                       const char *cursor, uint32_t limit, int *rc)
{
    MDB_txn *r;
    json_t *out = NULL, *v = NULL;
    if (value_json) {
        v = json_loads(value_json, JSON_DECODE_ANY, NULL);
        ck_assert_ptr_nonnull(v);
    }
    ck_assert_int_eq(mdb_txn_begin(f->env, NULL, MDB_RDONLY, &r), 0);
    struct ledger_list_query q = {.field = field, .eq = v, .cursor = cursor, .limit = limit};
    *rc = ledger_record_list(f->l, r, type, &q, &out);
    mdb_txn_abort(r);
    json_decref(v);
    ck_assert(*rc == TR_OK ? out != NULL : out == NULL);
    return out;
}

/* The _key members of a page's items joined by ',' into buf. */
static const char *page_keys(const json_t *page, char *buf, size_t n)
{
    const json_t *items = json_object_get(page, "items");
    size_t used = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < json_array_size(items); i++)
        used +=
            (size_t)snprintf(buf + used, n - used, "%s%s", i ? "," : "",
                             json_string_value(json_object_get(json_array_get(items, i), "_key")));
    return buf;
}

static void fx_create_shipment(struct fx *f, const char *id, const char *status)
{
    char body[512];
    shipment(body, sizeof body, id, status);
    const struct ledger_tx_outcome *o = fx_op(f, 0, BATCH_OP_CREATE, "Shipment", id, 0, body);
    ck_assert_msg(o->committed, "%s", o->reason);
}

/* Entries in l_records, l_history and l_index together: a rejected tx leaves it unchanged. */
static size_t fx_rec_entries(struct fx *f)
{
    MDB_txn *r;
    MDB_stat st;
    size_t n = 0;
    ck_assert_int_eq(mdb_txn_begin(f->env, NULL, MDB_RDONLY, &r), 0);
    MDB_dbi dbis[] = {f->l->records, f->l->history, f->l->index};
    for (size_t i = 0; i < 3; i++) {
        ck_assert_int_eq(mdb_stat(r, dbis[i], &st), 0);
        n += st.ms_entries;
    }
    mdb_txn_abort(r);
    return n;
}

START_TEST(test_records_acl_versions)
{
    struct fx f;
    char body[512];
    int rc;
    fx_open(&f, 0, 0);
    shipment(body, sizeof body, "SHP-0001", "created");
    const struct ledger_tx_outcome *o =
        fx_op(&f, 0, BATCH_OP_CREATE, "Shipment", "SHP-0001", 0, body);
    ck_assert_msg(o->committed, "%s", o->reason);
    ck_assert_str_eq(o->org, "acme");
    json_t *r = fx_record(&f, "Shipment", "SHP-0001", 0, &rc);
    ck_assert_int_eq(rc, TR_OK);
    ck_assert_int_eq(json_integer_value(json_object_get(r, "_version")), 1);
    ck_assert_str_eq(json_string_value(json_object_get(r, "_owner")), "acme");
    ck_assert_str_eq(json_string_value(json_object_get(r, "_key")), "SHP-0001");
    ck_assert_str_eq(json_string_value(json_object_get(r, "status")), "created");
    ck_assert_int_eq(json_integer_value(json_object_get(r, "_height")), 1);
    ck_assert_ptr_nonnull(json_string_value(json_object_get(r, "_updated_at")));
    json_decref(r);
    /* ACL: only acme creates; initech may not update; globex may. A rejected one-op tx runs
     * without a nested txn of its own: it must not have written anything. */
    size_t entries = fx_rec_entries(&f);
    shipment(body, sizeof body, "SHP-0002", "created");
    assert_rejected(fx_op(&f, 1, BATCH_OP_CREATE, "Shipment", "SHP-0002", 0, body), "acl");
    assert_rejected(
        fx_op(&f, 2, BATCH_OP_PATCH, "Shipment", "SHP-0001", 0, "{\"status\":\"lost\"}"), "acl");
    assert_rejected(fx_op(&f, 1, BATCH_OP_PATCH, "Shipment", "SHP-0001", 0, "{\"status\":7}"),
                    "schema");
    ck_assert_uint_eq(fx_rec_entries(&f), entries);
    o = fx_op(&f, 1, BATCH_OP_PATCH, "Shipment", "SHP-0001", 1, "{\"status\":\"in_transit\"}");
    ck_assert_msg(o->committed, "%s", o->reason);
    /* field ACL: declaredValue is updated by the owner only */
    assert_rejected(fx_op(&f, 1, BATCH_OP_PATCH, "Shipment", "SHP-0001", 0,
                          "{\"declaredValue\":{\"amount\":\"1\",\"currency\":\"EUR\"}}"),
                    "acl");
    /* versions */
    assert_rejected(
        fx_op(&f, 1, BATCH_OP_PATCH, "Shipment", "SHP-0001", 1, "{\"status\":\"lost\"}"),
        "version");
    r = fx_record(&f, "Shipment", "SHP-0001", 0, &rc);
    ck_assert_int_eq(json_integer_value(json_object_get(r, "_version")), 2);
    ck_assert_str_eq(json_string_value(json_object_get(r, "status")), "in_transit");
    ck_assert_str_eq(json_string_value(json_object_get(r, "_owner")), "acme");
    json_decref(r);
    r = fx_record(&f, "Shipment", "SHP-0001", 1, &rc);
    ck_assert_str_eq(json_string_value(json_object_get(r, "status")), "created");
    json_decref(r);
    ck_assert_ptr_null(fx_record(&f, "Shipment", "SHP-0001", 3, &rc));
    ck_assert_int_eq(rc, TR_ENOTFOUND);
    /* exists / notfound */
    shipment(body, sizeof body, "SHP-0001", "created");
    assert_rejected(fx_op(&f, 0, BATCH_OP_CREATE, "Shipment", "SHP-0001", 0, body), "exists");
    assert_rejected(fx_op(&f, 0, BATCH_OP_REPLACE, "Shipment", "SHP-0009", 0, body), "notfound");
    assert_rejected(fx_op(&f, 0, BATCH_OP_DELETE, "Shipment", "SHP-0009", 0, NULL), "notfound");
    /* schema: bad enum, key mismatch, unknown type, not JSON */
    shipment(body, sizeof body, "SHP-0003", "flying");
    assert_rejected(fx_op(&f, 0, BATCH_OP_CREATE, "Shipment", "SHP-0003", 0, body), "schema");
    shipment(body, sizeof body, "SHP-0003", "created");
    assert_rejected(fx_op(&f, 0, BATCH_OP_CREATE, "Shipment", "SHP-0004", 0, body), "schema");
    assert_rejected(fx_op(&f, 0, BATCH_OP_CREATE, "Parcel", "SHP-0003", 0, body), "schema");
    assert_rejected(fx_op(&f, 0, BATCH_OP_CREATE, "Shipment", "SHP-0003", 0, "{nope"), "schema");
    assert_rejected(fx_op(&f, 0, BATCH_OP_PATCH, "Shipment", "SHP-0001", 0, "{\"weightKg\":-1}"),
                    "schema");
    /* delete by globex (not owner) refused; by owner ok; then gone; history keeps versions */
    assert_rejected(fx_op(&f, 1, BATCH_OP_DELETE, "Shipment", "SHP-0001", 0, NULL), "acl");
    o = fx_op(&f, 0, BATCH_OP_DELETE, "Shipment", "SHP-0001", 2, NULL);
    ck_assert_msg(o->committed, "%s", o->reason);
    ck_assert_ptr_null(fx_record(&f, "Shipment", "SHP-0001", 0, &rc));
    ck_assert_int_eq(rc, TR_ENOTFOUND);
    ck_assert_ptr_null(fx_record(&f, "Shipment", "SHP-0001", 3, &rc));
    r = fx_record(&f, "Shipment", "SHP-0001", 2, &rc);
    ck_assert_ptr_nonnull(r);
    json_decref(r);
    /* re-create continues the version count */
    o = fx_op(&f, 0, BATCH_OP_CREATE, "Shipment", "SHP-0001", 0, body);
    ck_assert(!o->committed); /* body has SHP-0003 */
    shipment(body, sizeof body, "SHP-0001", "created");
    o = fx_op(&f, 0, BATCH_OP_CREATE, "Shipment", "SHP-0001", 0, body);
    ck_assert_msg(o->committed, "%s", o->reason);
    r = fx_record(&f, "Shipment", "SHP-0001", 0, &rc);
    ck_assert_int_eq(json_integer_value(json_object_get(r, "_version")), 4);
    json_decref(r);
    fx_close(&f);
}
END_TEST

/* Entry with the signature or bytes tampered: every tx is rejected "invalid". */
static uint8_t *tamper_signature(uint8_t *entry, size_t *len)
{
    Treaty__Ledger__Entry *e = treaty__ledger__entry__unpack(NULL, *len, entry);
    ck_assert_ptr_nonnull(e);
    e->batch->signature.data[5] ^= 0x40;
    uint8_t *out = tr_malloc(treaty__ledger__entry__get_packed_size(e));
    *len = treaty__ledger__entry__pack(e, out);
    treaty__ledger__entry__free_unpacked(e, NULL);
    tr_free(entry);
    return out;
}

/* Run under each batch signature rule (_i 0: v2, 1: v1). */
START_TEST(test_signature_replay_membership)
{
    struct fx f;
    char body[512];
    int rc;
    fx_sig = _i ? BATCH_SIG_V1 : BATCH_SIG_V2;
    fx_open(&f, 0, 0);
    fx_sig = BATCH_SIG_V2;
    shipment(body, sizeof body, "SHP-0100", "created");
    struct batch_op op = {BATCH_OP_CREATE, "Shipment", "SHP-0100", 0, body, strlen(body)};
    struct batch_tx tx[2] = {{.ops = &op, .n_ops = 1}, {.ops = &op, .n_ops = 1}};
    fx_next_id(&f, tx[0].id);
    fx_next_id(&f, tx[1].id);
    /* forged signature */
    uint8_t *buf;
    size_t len;
    ck_assert_int_eq(batch_build_entry(f.net, f.sig, "acme", 1, f.sk[0], tx, 2, &buf, &len), TR_OK);
    buf = tamper_signature(buf, &len);
    fx_apply_entry(&f, buf, len, 10);
    ck_assert_uint_eq(f.out.n_txs, 2);
    assert_rejected(&f.out.txs[0], "invalid");
    assert_rejected(&f.out.txs[1], "invalid");
    /* every node can tell what happened to the txs of a refused batch (weak mapping)... */
    {
        MDB_txn *rr;
        json_t *jj = NULL;
        ck_assert_int_eq(mdb_txn_begin(f.env, NULL, MDB_RDONLY, &rr), 0);
        ck_assert_int_eq(ledger_tx_get(f.l, rr, tx[0].id, &jj), TR_OK);
        ck_assert_str_eq(json_string_value(json_object_get(jj, "status")), "rejected");
        ck_assert_ptr_nonnull(
            strstr(json_string_value(json_object_get(jj, "reason")), "signature"));
        json_decref(jj);
        mdb_txn_abort(rr);
    }
    /* ...but the ids are not burnt: tx[0] commits below at height 5 under the same id. */
    /* wrong key: acme's batch signed by globex */
    fx_submit_as(&f, 0, 1, tx, 1, 20);
    assert_rejected(&f.out.txs[0], "invalid");
    /* non-member */
    fx_submit_as(&f, 3, 3, tx, 1, 30);
    assert_rejected(&f.out.txs[0], "invalid");
    ck_assert_ptr_null(fx_record(&f, "Shipment", "SHP-0100", 0, &rc));
    /* other network */
    f.net[0] ^= 1;
    fx_submit_as(&f, 0, 0, tx, 1, 40);
    f.net[0] ^= 1;
    assert_rejected(&f.out.txs[0], "invalid");
    ck_assert_str_eq(f.out.txs[0].reason, "invalid: batch is for another network");
    /* failed batches did not consume a seq */
    MDB_txn *r;
    uint64_t seq = 99;
    ck_assert_int_eq(mdb_txn_begin(f.env, NULL, MDB_RDONLY, &r), 0);
    ck_assert_int_eq(ledger_org_seq(f.l, r, "acme", &seq), TR_OK);
    mdb_txn_abort(r);
    ck_assert_uint_eq(seq, 0);
    /* good batch with seq 7 */
    ck_assert_int_eq(batch_build_entry(f.net, f.sig, "acme", 7, f.sk[0], tx, 1, &buf, &len), TR_OK);
    uint8_t *copy = tr_malloc(len);
    memcpy(copy, buf, len);
    fx_apply_entry(&f, buf, len, 50);
    ck_assert_msg(f.out.txs[0].committed, "%s", f.out.txs[0].reason);
    /* replay the very same bytes: duplicate */
    fx_apply_entry(&f, copy, len, 60);
    assert_rejected(&f.out.txs[0], "duplicate");
    ck_assert_ptr_nonnull(strstr(f.out.txs[0].reason, "seq 7"));
    /* lower seq with another tx: duplicate; higher seq with a gap is fine */
    f.seq[0] = 5;
    fx_submit_as(&f, 0, 0, &tx[1], 1, 70);
    assert_rejected(&f.out.txs[0], "duplicate");
    f.seq[0] = 9;
    op.kind = BATCH_OP_PATCH;
    op.body = "{\"status\":\"lost\"}";
    op.body_len = strlen(op.body);
    fx_submit_as(&f, 0, 0, &tx[1], 1, 80);
    ck_assert_msg(f.out.txs[0].committed, "%s", f.out.txs[0].reason);
    ck_assert_int_eq(mdb_txn_begin(f.env, NULL, MDB_RDONLY, &r), 0);
    ck_assert_int_eq(ledger_org_seq(f.l, r, "acme", &seq), TR_OK);
    ck_assert_uint_eq(seq, 10);
    /* tx_get answers with the first result of a tx id */
    json_t *j = NULL;
    ck_assert_int_eq(ledger_tx_get(f.l, r, tx[0].id, &j), TR_OK);
    ck_assert_str_eq(json_string_value(json_object_get(j, "status")), "committed");
    ck_assert_int_eq(json_integer_value(json_object_get(j, "height")), 5);
    json_decref(j);
    ck_assert_int_eq(ledger_tx_get(f.l, r, "ffffffffffffffffffffffffffffffff", &j), TR_ENOTFOUND);
    mdb_txn_abort(r);
    /* undecodable entry: a block without leaves */
    struct ledger_head h0, h1;
    fx_head(&f, &h0);
    const uint8_t junk[4] = {0xff, 0xff, 0xff, 0xff};
    fx_apply_raw(&f, RAFT_ENTRY_NORMAL, junk, sizeof junk);
    ck_assert_uint_eq(f.out.n_txs, 0);
    fx_head(&f, &h1);
    ck_assert_uint_eq(h1.height, h0.height + 1);
    ck_assert_uint_eq(h1.tree_size, h0.tree_size);
    /* out-of-order height is a caller bug */
    MDB_txn *w;
    struct raft_entry e = {f.height + 2, 3, RAFT_ENTRY_NOOP, NULL, 0};
    ck_assert_int_eq(mdb_txn_begin(f.env, NULL, 0, &w), 0);
    ck_assert_int_eq(ledger_apply(f.l, w, &e, &f.out), TR_EINVAL);
    mdb_txn_abort(w);
    fx_close(&f);
}
END_TEST

/* A network takes batches signed by its own rule only: the same txs signed by the other rule
 * are refused as a whole, whichever rule the ledger has (_i 0: v2, 1: v1). */
START_TEST(test_signature_rule_is_the_networks)
{
    struct fx f;
    char body[512], err[256];
    int rc;
    fx_sig = _i ? BATCH_SIG_V1 : BATCH_SIG_V2;
    fx_open(&f, 0, 0);
    fx_sig = BATCH_SIG_V2;
    enum batch_sig other = f.sig == BATCH_SIG_V1 ? BATCH_SIG_V2 : BATCH_SIG_V1;
    shipment(body, sizeof body, "SHP-0200", "created");
    struct batch_op op = {BATCH_OP_CREATE, "Shipment", "SHP-0200", 0, body, strlen(body)};
    struct batch_tx tx = {.ops = &op, .n_ops = 1};
    fx_next_id(&f, tx.id);
    uint8_t *buf;
    size_t len;
    ck_assert_int_eq(batch_build_entry(f.net, other, "acme", 1, f.sk[0], &tx, 1, &buf, &len),
                     TR_OK);
    fx_apply_entry(&f, buf, len, 10);
    ck_assert_uint_eq(f.out.n_txs, 1);
    ck_assert_str_eq(f.out.txs[0].reason,
                     "invalid: signature does not verify with the key of org acme");
    ck_assert_ptr_null(fx_record(&f, "Shipment", "SHP-0200", 0, &rc));
    ck_assert_int_eq(batch_build_entry(f.net, f.sig, "acme", 2, f.sk[0], &tx, 1, &buf, &len),
                     TR_OK);
    fx_apply_entry(&f, buf, len, 20);
    ck_assert_msg(f.out.txs[0].committed, "%s", f.out.txs[0].reason);
    json_t *rec = fx_record(&f, "Shipment", "SHP-0200", 0, &rc);
    ck_assert_ptr_nonnull(rec);
    json_decref(rec);
    /* an unknown rule is refused at open */
    ledger_destroy(f.l);
    f.l = NULL;
    f.sig = (enum batch_sig)3;
    MDB_txn *txn;
    ck_assert_int_eq(mdb_txn_begin(f.env, NULL, 0, &txn), 0);
    ck_assert_int_eq(fx_ledger_open(&f, txn, err, sizeof err), TR_EINVAL);
    ck_assert_str_eq(err, "ledger: unknown batch signature rule 3");
    mdb_txn_abort(txn);
    fx_close(&f);
}
END_TEST

/* _updated_at is the block's timestamp: the same for every record of a block, the next
 * block's for the next one (the text is made once a block). */
START_TEST(test_updated_at_per_block)
{
    static const char *const keys[3] = {"SHP-0300", "SHP-0301", "SHP-0302"};
    struct fx f;
    char body[3][512];
    int rc;
    fx_open(&f, 0, 0);
    struct batch_op op[3];
    struct batch_tx tx[3];
    memset(tx, 0, sizeof tx);
    for (int i = 0; i < 3; i++) {
        shipment(body[i], sizeof body[i], keys[i], "created");
        op[i] =
            (struct batch_op){BATCH_OP_CREATE, "Shipment", keys[i], 0, body[i], strlen(body[i])};
        tx[i].ops = &op[i];
        tx[i].n_ops = 1;
        fx_next_id(&f, tx[i].id);
    }
    fx_submit_as(&f, 0, 0, tx, 2, 1795000000123456ull);
    fx_submit_as(&f, 0, 0, &tx[2], 1, 1795000001000007ull);
    static const char *const want[3] = {"2026-11-18T11:06:40.123456Z",
                                        "2026-11-18T11:06:40.123456Z",
                                        "2026-11-18T11:06:41.000007Z"};
    for (int i = 0; i < 3; i++) {
        json_t *r = fx_record(&f, "Shipment", op[i].key, 0, &rc);
        ck_assert_ptr_nonnull(r);
        ck_assert_str_eq(json_string_value(json_object_get(r, "_updated_at")), want[i]);
        json_decref(r);
    }
    fx_close(&f);
}
END_TEST

START_TEST(test_atomic_idempotency_duplicates)
{
    struct fx f;
    char b1[512], b2[512];
    int rc;
    fx_open(&f, 0, 0);
    shipment(b1, sizeof b1, "SHP-0200", "created");
    shipment(b2, sizeof b2, "SHP-0201", "nope");
    struct batch_op ops[2] = {{BATCH_OP_CREATE, "Shipment", "SHP-0200", 0, b1, strlen(b1)},
                              {BATCH_OP_CREATE, "Shipment", "SHP-0201", 0, b2, strlen(b2)}};
    struct batch_tx tx = {.ops = ops, .n_ops = 2, .idempotency_key = "order-1"};
    fx_next_id(&f, tx.id);
    fx_submit_as(&f, 0, 0, &tx, 1, 100);
    assert_rejected(&f.out.txs[0], "schema");
    ck_assert_ptr_nonnull(strstr(f.out.txs[0].reason, "op 1"));
    ck_assert_ptr_null(fx_record(&f, "Shipment", "SHP-0200", 0, &rc));
    ck_assert_int_eq(rc, TR_ENOTFOUND);
    /* idempotency key reused: duplicate naming the first tx */
    char first[33];
    memcpy(first, tx.id, 33);
    tx.n_ops = 1;
    fx_next_id(&f, tx.id);
    fx_submit_as(&f, 0, 0, &tx, 1, 200);
    assert_rejected(&f.out.txs[0], "duplicate");
    ck_assert_ptr_nonnull(strstr(f.out.txs[0].reason, first));
    MDB_txn *r;
    char got[33];
    ck_assert_int_eq(mdb_txn_begin(f.env, NULL, MDB_RDONLY, &r), 0);
    ck_assert_int_eq(ledger_idempotency_get(f.l, r, "acme", "order-1", got), TR_OK);
    ck_assert_str_eq(got, first);
    ck_assert_int_eq(ledger_idempotency_get(f.l, r, "globex", "order-1", got), TR_ENOTFOUND);
    mdb_txn_abort(r);
    /* the same key by another org is independent; a fresh key commits */
    tx.idempotency_key = "order-2";
    fx_next_id(&f, tx.id);
    fx_submit_as(&f, 0, 0, &tx, 1, 300);
    ck_assert_msg(f.out.txs[0].committed, "%s", f.out.txs[0].reason);
    /* duplicate tx id inside one batch */
    struct batch_tx two[2] = {{.ops = &ops[0], .n_ops = 1}, {.ops = &ops[0], .n_ops = 1}};
    ops[0].kind = BATCH_OP_PATCH;
    ops[0].body = "{\"status\":\"lost\"}";
    ops[0].body_len = strlen(ops[0].body);
    fx_next_id(&f, two[0].id);
    memcpy(two[1].id, two[0].id, 33);
    fx_submit_as(&f, 0, 0, two, 2, 400);
    ck_assert(f.out.txs[0].committed);
    assert_rejected(&f.out.txs[1], "duplicate");
    /* indexes: status and carrier entries follow the record */
    ck_assert_int_eq(mdb_txn_begin(f.env, NULL, MDB_RDONLY, &r), 0);
    MDB_val k, v;
    uint8_t ik[160];
    k.mv_data = ik;
    k.mv_size = index_key(ik, "status", "\"lost\"", "SHP-0200");
    ck_assert_int_eq(mdb_get(r, f.l->index, &k, &v), 0);
    k.mv_size = index_key(ik, "status", "\"created\"", "SHP-0200");
    ck_assert_int_eq(mdb_get(r, f.l->index, &k, &v), MDB_NOTFOUND);
    k.mv_size = index_key(ik, "carrier", "\"globex\"", "SHP-0200");
    ck_assert_int_eq(mdb_get(r, f.l->index, &k, &v), 0);
    mdb_txn_abort(r);
    fx_close(&f);
}
END_TEST

START_TEST(test_timestamps_never_backwards)
{
    struct fx f;
    fx_open(&f, 0, 0);
    struct batch_tx tx = {0};
    struct ledger_head h;
    fx_next_id(&f, tx.id);
    fx_submit_as(&f, 0, 0, &tx, 1, 5000);
    fx_head(&f, &h);
    ck_assert_uint_eq(h.timestamp_us, 5000);
    fx_next_id(&f, tx.id);
    fx_submit_as(&f, 1, 1, &tx, 1, 3000);
    fx_head(&f, &h);
    ck_assert_uint_eq(h.timestamp_us, 5000);
    fx_apply_raw(&f, RAFT_ENTRY_NOOP, NULL, 0);
    fx_head(&f, &h);
    ck_assert_uint_eq(h.timestamp_us, 5000);
    ck_assert_uint_eq(h.height, 3);
    fx_next_id(&f, tx.id);
    fx_submit_as(&f, 2, 2, &tx, 1, 7000);
    fx_head(&f, &h);
    ck_assert_uint_eq(h.timestamp_us, 7000);
    /* the chain links */
    MDB_txn *r;
    json_t *b3, *b4;
    ck_assert_int_eq(mdb_txn_begin(f.env, NULL, MDB_RDONLY, &r), 0);
    ck_assert_int_eq(ledger_block_get(f.l, r, 3, &b3), TR_OK);
    ck_assert_int_eq(ledger_block_get(f.l, r, 4, &b4), TR_OK);
    ck_assert_str_eq(json_string_value(json_object_get(b3, "hash")),
                     json_string_value(json_object_get(b4, "prev_hash")));
    char hx[65];
    tr_hex_encode(h.block_hash, 32, hx);
    ck_assert_str_eq(json_string_value(json_object_get(b4, "hash")), hx);
    json_decref(b3);
    json_decref(b4);
    ck_assert_int_eq(ledger_block_get(f.l, r, 5, &b3), TR_ENOTFOUND);
    mdb_txn_abort(r);
    fx_close(&f);
}
END_TEST

/* A fixed workload: records, rejections, a NOOP, a forged batch. */
static void workload(struct fx *f)
{
    char body[512];
    for (int i = 0; i < 6; i++) {
        char key[16];
        snprintf(key, sizeof key, "SHP-%04d", i);
        shipment(body, sizeof body, key, i % 2 ? "created" : "flying");
        fx_op(f, 0, BATCH_OP_CREATE, "Shipment", key, 0, body);
        if (i == 2)
            fx_apply_raw(f, RAFT_ENTRY_NOOP, NULL, 0);
    }
    fx_op(f, 1, BATCH_OP_PATCH, "Shipment", "SHP-0001", 0, "{\"status\":\"delivered\"}");
    fx_op(f, 2, BATCH_OP_PATCH, "Shipment", "SHP-0001", 0, "{\"status\":\"lost\"}");
}

START_TEST(test_determinism_two_envs)
{
    struct fx a, b;
    struct ledger_head ha, hb;
    fx_open(&a, 4, 0);
    fx_open(&b, 4, 0);
    workload(&a);
    workload(&b);
    fx_head(&a, &ha);
    fx_head(&b, &hb);
    ck_assert_uint_eq(ha.height, hb.height);
    ck_assert_uint_eq(ha.tree_size, 8);
    ck_assert_int_eq(memcmp(ha.block_hash, hb.block_hash, 32), 0);
    ck_assert_int_eq(memcmp(ha.root, hb.root, 32), 0);
    MDB_txn *ra, *rb;
    ck_assert_int_eq(mdb_txn_begin(a.env, NULL, MDB_RDONLY, &ra), 0);
    ck_assert_int_eq(mdb_txn_begin(b.env, NULL, MDB_RDONLY, &rb), 0);
    for (uint64_t h = 1; h <= ha.height; h++) {
        json_t *ja, *jb;
        ck_assert_int_eq(ledger_block_get(a.l, ra, h, &ja), TR_OK);
        ck_assert_int_eq(ledger_block_get(b.l, rb, h, &jb), TR_OK);
        ck_assert(json_equal(ja, jb));
        json_decref(ja);
        json_decref(jb);
    }
    mdb_txn_abort(ra);
    mdb_txn_abort(rb);
    fx_close(&a);
    fx_close(&b);
}
END_TEST

static void unhex(const char *s, uint8_t *out, size_t cap, size_t *len)
{
    ck_assert_int_eq(sodium_hex2bin(out, cap, s, strlen(s), NULL, len, NULL), 0);
}

START_TEST(test_merkle_matches_mem_store)
{
    struct fx f;
    fx_open(&f, 0, 0);
    workload(&f);
    struct ledger_head h;
    fx_head(&f, &h);
    ck_assert_uint_eq(h.tree_size, 8);
    struct merkle_mem_store *ms;
    struct merkle_tree *t;
    ck_assert_int_eq(merkle_mem_store_create(64, &ms), TR_OK);
    struct merkle_store s = merkle_mem_store_iface(ms);
    ck_assert_int_eq(merkle_tree_create(&s, 0, &t), TR_OK);
    MDB_txn *r;
    uint8_t leaves[8][32];
    ck_assert_int_eq(mdb_txn_begin(f.env, NULL, MDB_RDONLY, &r), 0);
    for (uint64_t i = 0; i < h.tree_size; i++) {
        json_t *p = NULL;
        uint8_t data[1024], root[32], proof[MERKLE_PROOF_MAX][32];
        size_t len = 0, rl = 0;
        ck_assert_int_eq(ledger_inclusion_proof(f.l, r, i, 0, &p), TR_OK);
        unhex(json_string_value(json_object_get(p, "leaf")), data, sizeof data, &len);
        Treaty__Ledger__TxLeaf *lf = treaty__ledger__tx_leaf__unpack(NULL, len, data);
        ck_assert_ptr_nonnull(lf);
        treaty__ledger__tx_leaf__free_unpacked(lf, NULL);
        merkle_leaf_hash(data, len, leaves[i]);
        ck_assert_int_eq(merkle_append(t, leaves[i]), TR_OK);
        unhex(json_string_value(json_object_get(p, "root")), root, 32, &rl);
        ck_assert_int_eq(memcmp(root, h.root, 32), 0);
        const json_t *pa = json_object_get(p, "proof");
        for (size_t j = 0; j < json_array_size(pa); j++)
            unhex(json_string_value(json_array_get(pa, j)), proof[j], 32, &rl);
        ck_assert_int_eq(merkle_verify_inclusion(leaves[i], i, h.tree_size, proof[0],
                                                 json_array_size(pa), h.root, NULL, 0),
                         TR_OK);
        json_decref(p);
    }
    uint8_t mroot[32];
    ck_assert_int_eq(merkle_root(t, 8, mroot), TR_OK);
    ck_assert_int_eq(memcmp(mroot, h.root, 32), 0);
    /* every block's root is the mem tree's root of that block's size */
    for (uint64_t b = 1; b <= h.height; b++) {
        json_t *j;
        uint8_t br[32];
        size_t rl;
        ck_assert_int_eq(ledger_block_get(f.l, r, b, &j), TR_OK);
        uint64_t size = (uint64_t)json_integer_value(json_object_get(j, "tree_size"));
        unhex(json_string_value(json_object_get(j, "root")), br, 32, &rl);
        ck_assert_int_eq(merkle_root(t, size, mroot), TR_OK);
        ck_assert_int_eq(memcmp(mroot, br, 32), 0);
        json_decref(j);
    }
    /* consistency proofs between every pair of sizes verify */
    for (uint64_t s1 = 1; s1 <= 8; s1++) {
        for (uint64_t s2 = s1; s2 <= 8; s2++) {
            json_t *p;
            uint8_t proof[MERKLE_PROOF_MAX][32], r1[32], r2[32];
            size_t rl;
            ck_assert_int_eq(ledger_consistency_proof(f.l, r, s1, s2, &p), TR_OK);
            const json_t *pa = json_object_get(p, "proof");
            for (size_t j = 0; j < json_array_size(pa); j++)
                unhex(json_string_value(json_array_get(pa, j)), proof[j], 32, &rl);
            ck_assert_int_eq(merkle_root(t, s1, r1), TR_OK);
            ck_assert_int_eq(merkle_root(t, s2, r2), TR_OK);
            ck_assert_int_eq(
                merkle_verify_consistency(s1, s2, proof[0], json_array_size(pa), r1, r2, NULL, 0),
                TR_OK);
            json_decref(p);
        }
    }
    json_t *p;
    ck_assert_int_eq(ledger_inclusion_proof(f.l, r, 8, 8, &p), TR_EINVAL);
    ck_assert_int_eq(ledger_inclusion_proof(f.l, r, 0, 9, &p), TR_EINVAL);
    ck_assert_int_eq(ledger_consistency_proof(f.l, r, 0, 8, &p), TR_EINVAL);
    ck_assert_int_eq(ledger_consistency_proof(f.l, r, 3, 9, &p), TR_EINVAL);
    mdb_txn_abort(r);
    merkle_tree_destroy(t);
    merkle_mem_store_destroy(ms);
    fx_close(&f);
}
END_TEST

static void fx_cosign(struct fx *f, int o, uint64_t height, const uint8_t *sk, int corrupt)
{
    MDB_txn *r;
    uint8_t *cp, sig[64], *buf;
    size_t cpl, len;
    char id[33];
    ck_assert_int_eq(mdb_txn_begin(f->env, NULL, MDB_RDONLY, &r), 0);
    ck_assert_int_eq(ledger_checkpoint_sign(f->l, r, height, sk, &cp, &cpl, sig), TR_OK);
    mdb_txn_abort(r);
    if (corrupt)
        sig[0] ^= 1;
    fx_next_id(f, id);
    ck_assert_int_eq(batch_build_cosign_entry(f->net, f->sig, org_names[o], ++f->seq[o], f->sk[o],
                                              id, cp, cpl, sig, &buf, &len),
                     TR_OK);
    tr_free(cp);
    fx_apply_entry(f, buf, len, 1000000 * f->height);
}

START_TEST(test_checkpoints_and_cosign)
{
    struct fx f;
    fx_open(&f, 4, 2500);
    for (int i = 0; i < 3; i++) {
        fx_apply_raw(&f, RAFT_ENTRY_NOOP, NULL, 0);
        ck_assert_int_eq(f.out.checkpoint_due, 0);
    }
    MDB_txn *r;
    json_t *j;
    ck_assert_int_eq(mdb_txn_begin(f.env, NULL, MDB_RDONLY, &r), 0);
    ck_assert_int_eq(ledger_checkpoint_latest(f.l, r, &j), TR_ENOTFOUND);
    mdb_txn_abort(r);
    fx_apply_raw(&f, RAFT_ENTRY_NOOP, NULL, 0);
    ck_assert_int_eq(f.out.checkpoint_due, 1);
    fx_cosign(&f, 0, 4, f.sk[0], 0); /* block 5 at 4 s: 4 s after block 4's 0 s -> due by ms */
    ck_assert_msg(f.out.txs[0].committed, "%s", f.out.txs[0].reason);
    ck_assert_int_eq(f.out.checkpoint_due, 1);
    fx_cosign(&f, 1, 4, f.sk[1], 1); /* corrupted signature, block 6 at 5 s */
    assert_rejected(&f.out.txs[0], "invalid");
    fx_cosign(&f, 2, 4, f.sk[1], 0); /* initech signing with globex's key */
    assert_rejected(&f.out.txs[0], "invalid");
    ck_assert_int_eq(f.out.checkpoint_due, 0); /* block 7 at 6 s */
    fx_cosign(&f, 0, 4, f.sk[0], 0);           /* block 8 at 7 s: due by blocks, dup cosign */
    assert_rejected(&f.out.txs[0], "duplicate");
    ck_assert_int_eq(f.out.checkpoint_due, 1);
    fx_cosign(&f, 1, 4, f.sk[1], 0); /* block 9 at 8 s */
    ck_assert(f.out.txs[0].committed);
    ck_assert_int_eq(f.out.checkpoint_due, 0);
    fx_cosign(&f, 1, 8, f.sk[1], 0); /* block 10 at 9 s */
    ck_assert(f.out.txs[0].committed);
    ck_assert_int_eq(f.out.checkpoint_due, 0);
    fx_cosign(&f, 2, 8, f.sk[2], 0); /* block 11 at 10 s: 3 s after block 8's 7 s -> due by ms */
    ck_assert_int_eq(f.out.checkpoint_due, 1);
    ck_assert_int_eq(mdb_txn_begin(f.env, NULL, MDB_RDONLY, &r), 0);
    ck_assert_int_eq(ledger_checkpoint_latest(f.l, r, &j), TR_OK);
    ck_assert_int_eq(json_integer_value(json_object_get(j, "height")), 11);
    ck_assert_uint_eq(json_array_size(json_object_get(j, "cosigners")), 0);
    json_decref(j);
    uint8_t *cp, sig[64];
    size_t cpl;
    ck_assert_int_eq(ledger_checkpoint_sign(f.l, r, 6, f.sk[0], &cp, &cpl, sig), TR_ENOTFOUND);
    mdb_txn_abort(r);
    fx_cosign(&f, 0, 11, f.sk[0], 0); /* block 12: due by blocks */
    ck_assert(f.out.txs[0].committed);
    ck_assert_int_eq(f.out.checkpoint_due, 1);
    fx_cosign(&f, 0, 12, f.sk[0], 0); /* block 13 */
    ck_assert(f.out.txs[0].committed);
    ck_assert_int_eq(f.out.checkpoint_due, 0);
    ck_assert_int_eq(mdb_txn_begin(f.env, NULL, MDB_RDONLY, &r), 0);
    ck_assert_int_eq(ledger_checkpoint_latest(f.l, r, &j), TR_OK);
    const json_t *cs = json_object_get(j, "cosigners");
    ck_assert_uint_eq(json_array_size(cs), 1);
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(cs, 0), "org")), "acme");
    json_decref(j);
    mdb_txn_abort(r);
    fx_close(&f);
}
END_TEST

static void fx_gov(struct fx *f, int o, int k, const struct batch_gov *g, char id[33])
{
    uint8_t *buf;
    size_t len;
    fx_next_id(f, id);
    ck_assert_int_eq(batch_build_governance_entry(f->net, f->sig, org_names[o], ++f->seq[o],
                                                  f->sk[k], id, g, &buf, &len),
                     TR_OK);
    fx_apply_entry(f, buf, len, 1000000 * f->height);
    ck_assert_uint_eq(f->out.n_txs, 1);
}

static size_t fx_members(struct fx *f, struct ledger_member **m)
{
    MDB_txn *r;
    size_t n = 0;
    ck_assert_int_eq(mdb_txn_begin(f->env, NULL, MDB_RDONLY, &r), 0);
    ck_assert_int_eq(ledger_members(f->l, r, m, &n), TR_OK);
    mdb_txn_abort(r);
    return n;
}

static uint64_t fx_seq(struct fx *f, const char *org)
{
    MDB_txn *r;
    uint64_t seq = 0;
    ck_assert_int_eq(mdb_txn_begin(f->env, NULL, MDB_RDONLY, &r), 0);
    ck_assert_int_eq(ledger_org_seq(f->l, r, org, &seq), TR_OK);
    mdb_txn_abort(r);
    return seq;
}

/* An empty tx is refused on its own ("invalid: a tx carries ..."), but the batch was accepted
 * (signature and membership fine) when the org's seq advanced to it. */
static void assert_batch_accepted(struct fx *f, int o, int yes)
{
    if (yes)
        ck_assert_uint_eq(fx_seq(f, org_names[o]), f->seq[o]);
    else
        ck_assert_uint_ne(fx_seq(f, org_names[o]), f->seq[o]);
}

START_TEST(test_governance)
{
    struct fx f;
    char pid[33], id[33];
    struct ledger_member *m = NULL;
    fx_open(&f, 0, 0);
    ck_assert_uint_eq(fx_members(&f, &m), 3);
    ck_assert_str_eq(m[0].org, "acme");
    tr_free(m);
    struct batch_gov add = {BATCH_GOV_ADD_ORG, "hooli", f.pk[3], "127.0.0.1:7404", NULL, NULL, 0};
    fx_gov(&f, 0, 0, &add, pid);
    ck_assert_msg(f.out.txs[0].committed, "%s", f.out.txs[0].reason);
    ck_assert_int_eq(f.out.members_changed, 0); /* 1 of 3 */
    struct batch_gov ap = {BATCH_GOV_APPROVE, NULL, NULL, NULL, pid, NULL, 0};
    fx_gov(&f, 0, 0, &ap, id);
    assert_rejected(&f.out.txs[0], "governance"); /* already approved */
    struct batch_gov bad = {
        BATCH_GOV_APPROVE, NULL, NULL, NULL, "0000000000000000000000000000dead", NULL, 0};
    fx_gov(&f, 1, 1, &bad, id);
    assert_rejected(&f.out.txs[0], "governance");
    fx_gov(&f, 1, 1, &ap, id);
    ck_assert_msg(f.out.txs[0].committed, "%s", f.out.txs[0].reason);
    ck_assert_int_eq(f.out.members_changed, 1);
    ck_assert_uint_eq(fx_members(&f, &m), 4);
    ck_assert_str_eq(m[2].org, "hooli");
    ck_assert_uint_eq(m[2].node_id, genesis_node_id("hooli"));
    ck_assert_str_eq(m[2].peer, "127.0.0.1:7404");
    ck_assert_int_eq(memcmp(m[2].public_key, f.pk[3], 32), 0);
    tr_free(m);
    fx_gov(&f, 2, 2, &ap, id); /* closed */
    assert_rejected(&f.out.txs[0], "governance");
    fx_gov(&f, 2, 2, &add, id); /* already a member */
    assert_rejected(&f.out.txs[0], "governance");
    /* hooli can now submit */
    struct batch_tx tx = {0};
    fx_next_id(&f, tx.id);
    fx_submit_as(&f, 3, 3, &tx, 1, 1000000 * f.height);
    assert_batch_accepted(&f, 3, 1);
    /* remove initech: needs 3 of 4 */
    struct batch_gov rm = {BATCH_GOV_REMOVE_ORG, "initech", NULL, NULL, NULL, NULL, 0};
    fx_gov(&f, 0, 0, &rm, pid);
    ap.proposal_id = pid;
    fx_gov(&f, 1, 1, &ap, id);
    ck_assert_int_eq(f.out.members_changed, 0);
    fx_gov(&f, 3, 3, &ap, id);
    ck_assert_int_eq(f.out.members_changed, 1);
    ck_assert_uint_eq(fx_members(&f, &m), 3);
    tr_free(m);
    fx_next_id(&f, tx.id);
    fx_submit_as(&f, 2, 2, &tx, 1, 1000000 * f.height);
    assert_rejected(&f.out.txs[0], "invalid");
    ck_assert_ptr_nonnull(strstr(f.out.txs[0].reason, "not a member"));
    assert_batch_accepted(&f, 2, 0);
    /* key rotation: acme rotates to initech's old key pair (index 2) from the next block */
    struct batch_gov rot = {BATCH_GOV_ROTATE_KEY, NULL, f.pk[2], NULL, NULL, NULL, 0};
    fx_gov(&f, 0, 0, &rot, id);
    ck_assert_msg(f.out.txs[0].committed, "%s", f.out.txs[0].reason);
    fx_next_id(&f, tx.id);
    fx_submit_as(&f, 0, 0, &tx, 1, 1000000 * f.height); /* old key: refused */
    ck_assert_ptr_nonnull(strstr(f.out.txs[0].reason, "signature"));
    assert_batch_accepted(&f, 0, 0);
    fx_next_id(&f, tx.id);
    fx_submit_as(&f, 0, 2, &tx, 1, 1000000 * f.height); /* new key */
    assert_batch_accepted(&f, 0, 1);
    ck_assert_uint_eq(fx_members(&f, &m), 3);
    ck_assert_int_eq(memcmp(m[0].public_key, f.pk[2], 32), 0);
    tr_free(m);
    /* bad governance inputs */
    struct batch_gov badadd = {BATCH_GOV_ADD_ORG, "Not_An_Org", f.pk[3], "h:1", NULL, NULL, 0};
    fx_gov(&f, 1, 1, &badadd, id);
    assert_rejected(&f.out.txs[0], "governance");
    fx_close(&f);
}
END_TEST

/* Record keys at their 256-byte edge, and an indexed value far longer than an LMDB key. */
START_TEST(test_key_and_index_limits)
{
    struct fx f;
    char key[BATCH_RECORD_KEY_MAX + 2], *body = malloc(8192), *sid = malloc(6000);
    ck_assert_ptr_nonnull(body);
    ck_assert_ptr_nonnull(sid);
    fx_open(&f, 0, 0);
    memset(key, 'k', sizeof key - 1);
    key[sizeof key - 1] = '\0';
    assert_rejected(fx_op(&f, 1, BATCH_OP_CREATE, "Invoice", key, 0, "{}"), "invalid");
    key[BATCH_RECORD_KEY_MAX] = '\0';
    assert_rejected(fx_op(&f, 1, BATCH_OP_CREATE, "Invoice", key, 0, "{}"), "schema");
    memset(sid, 's', 5999);
    sid[5999] = '\0';
    key[64] = '\0';
    snprintf(body, 8192,
             "{\"invoiceId\":\"%s\",\"shipmentId\":\"%s\",\"paid\":false,"
             "\"total\":{\"amount\":\"1\",\"currency\":\"EUR\"}}",
             key, sid);
    const struct ledger_tx_outcome *o = fx_op(&f, 1, BATCH_OP_CREATE, "Invoice", key, 0, body);
    ck_assert_msg(o->committed, "%s", o->reason);
    o = fx_op(&f, 0, BATCH_OP_PATCH, "Invoice", key, 1, "{\"paid\":true}");
    ck_assert_msg(o->committed, "%s", o->reason);
    /* lists by a hashed index value (longer than 100 bytes) and by a boolean */
    int rc;
    snprintf(body, 8192, "\"%s\"", sid);
    json_t *p = fx_list(&f, "Invoice", "shipmentId", body, NULL, 10, &rc);
    ck_assert_int_eq(rc, TR_OK);
    ck_assert_uint_eq(json_array_size(json_object_get(p, "items")), 1);
    json_decref(p);
    p = fx_list(&f, "Invoice", "paid", "true", NULL, 10, &rc);
    ck_assert_uint_eq(json_array_size(json_object_get(p, "items")), 1);
    json_decref(p);
    p = fx_list(&f, "Invoice", "paid", "false", NULL, 10, &rc);
    ck_assert_uint_eq(json_array_size(json_object_get(p, "items")), 0);
    json_decref(p);
    free(body);
    free(sid);
    fx_close(&f);
}
END_TEST

/* An aborted write txn followed by ledger_reload leaves the ledger as if the block never came:
 * re-applying the same entry gives the same block. */
START_TEST(test_abort_and_reload)
{
    struct fx f;
    char body[512];
    struct ledger_head h0, h1, h2;
    fx_open(&f, 0, 0);
    shipment(body, sizeof body, "SHP-0300", "created");
    fx_op(&f, 0, BATCH_OP_CREATE, "Shipment", "SHP-0300", 0, body);
    fx_head(&f, &h0);
    struct batch_op op = {BATCH_OP_PATCH, "Shipment", "SHP-0300", 1, "{\"status\":\"lost\"}", 17};
    struct batch_tx tx = {.ops = &op, .n_ops = 1};
    fx_next_id(&f, tx.id);
    uint8_t *buf, *st;
    size_t len, slen;
    ck_assert_int_eq(
        batch_build_entry(f.net, f.sig, "acme", ++f.seq[0], f.sk[0], &tx, 1, &buf, &len), TR_OK);
    ck_assert_int_eq(batch_entry_stamp(buf, len, 99000000, &st, &slen), TR_OK);
    tr_free(buf);
    struct raft_entry e = {f.height + 1, 3, RAFT_ENTRY_NORMAL, st, slen};
    MDB_txn *w, *r;
    ck_assert_int_eq(mdb_txn_begin(f.env, NULL, 0, &w), 0);
    ck_assert_int_eq(ledger_apply(f.l, w, &e, &f.out), TR_OK);
    ck_assert(f.out.txs[0].committed);
    mdb_txn_abort(w);
    ck_assert_int_eq(mdb_txn_begin(f.env, NULL, MDB_RDONLY, &r), 0);
    ck_assert_int_eq(ledger_reload(f.l, r), TR_OK);
    mdb_txn_abort(r);
    fx_head(&f, &h1);
    ck_assert_int_eq(memcmp(&h0, &h1, sizeof h0), 0);
    fx_apply_raw(&f, RAFT_ENTRY_NORMAL, st, slen);
    ck_assert_msg(f.out.txs[0].committed, "%s", f.out.txs[0].reason);
    fx_head(&f, &h2);
    ck_assert_uint_eq(h2.height, h0.height + 1);
    ck_assert_uint_eq(h2.tree_size, h0.tree_size + 1);
    tr_free(st);
    fx_close(&f);
}
END_TEST

/* A full map is a fatal storage error with a message, never a recorded rejection; after the abort
 * and a reload the head is the last committed one. */
START_TEST(test_map_full_is_fatal)
{
    struct fx f;
    char body[8][2048], key[8][32], pad[1100];
    fx_map_bytes = 512u << 10;
    fx_open(&f, 0, 0);
    fx_map_bytes = 64u << 20;
    MDB_txn *w, *r;
    memset(pad, 'x', 1000);
    pad[1000] = '\0';
    int rc = TR_OK;
    /* Blocks of eight creates, so the apply needs many new pages at once and meets the full map
     * before a commit does (the commit also needs pages, for the free list: that is the store's
     * error, handled here as the same abort and reload). */
    for (int i = 0; i < 250 && rc == TR_OK; i++) {
        struct ledger_head before;
        struct batch_op op[8];
        struct batch_tx tx[8];
        memset(tx, 0, sizeof tx);
        for (int j = 0; j < 8; j++) {
            snprintf(key[j], sizeof key[j], "SHP-%06d", i * 8 + j);
            snprintf(body[j], sizeof body[j],
                     "{\"shipmentId\":\"%s\",\"origin\":\"%.110s\",\"destination\":\"Oslo\","
                     "\"status\":\"created\",\"carrier\":\"%.60s\"}",
                     key[j], pad, pad);
            op[j] =
                (struct batch_op){BATCH_OP_CREATE, "Shipment", key[j], 0, body[j], strlen(body[j])};
            tx[j].ops = &op[j];
            tx[j].n_ops = 1;
            fx_next_id(&f, tx[j].id);
        }
        uint8_t *buf;
        size_t len;
        ck_assert_int_eq(
            batch_build_entry(f.net, f.sig, "acme", ++f.seq[0], f.sk[0], tx, 8, &buf, &len), TR_OK);
        fx_head(&f, &before);
        struct raft_entry e = {before.height + 1, 3, RAFT_ENTRY_NORMAL, buf, len};
        ck_assert_int_eq(mdb_txn_begin(f.env, NULL, 0, &w), 0);
        rc = ledger_apply(f.l, w, &e, &f.out);
        bool commit_full = false;
        if (rc == TR_OK) {
            for (int j = 0; j < 8; j++)
                ck_assert_msg(f.out.txs[j].committed, "%s", f.out.txs[j].reason);
            commit_full = mdb_txn_commit(w) == MDB_MAP_FULL;
        } else {
            mdb_txn_abort(w);
        }
        tr_free(buf);
        if (rc != TR_OK || commit_full) {
            struct ledger_head after;
            ck_assert_int_eq(rc == TR_OK ? TR_ELIMIT : rc, TR_ELIMIT);
            ck_assert_int_eq(mdb_txn_begin(f.env, NULL, MDB_RDONLY, &r), 0);
            ck_assert_int_eq(ledger_reload(f.l, r), TR_OK);
            mdb_txn_abort(r);
            fx_head(&f, &after);
            ck_assert_int_eq(memcmp(&before, &after, sizeof before), 0);
            ck_assert_int_gt(i, 2);
            if (commit_full)
                f.seq[0]--; /* the block was not kept: its seq is free again */
        }
    }
    ck_assert_int_eq(rc, TR_ELIMIT);
    ck_assert_msg(strstr(ledger_errmsg(f.l), "MDB_MAP_FULL"), "%s", ledger_errmsg(f.l));
    fx_close(&f);
}
END_TEST

START_TEST(test_record_history)
{
    struct fx f;
    char body[512];
    int rc;
    fx_open(&f, 0, 0);
    fx_create_shipment(&f, "SHP-0001", "created");
    shipment(body, sizeof body, "SHP-0001", "in_transit");
    ck_assert(fx_op(&f, 1, BATCH_OP_REPLACE, "Shipment", "SHP-0001", 1, body)->committed);
    ck_assert(fx_op(&f, 0, BATCH_OP_DELETE, "Shipment", "SHP-0001", 2, NULL)->committed);
    fx_create_shipment(&f, "SHP-00011", "created"); /* a key that extends the first */

    json_t *h = fx_history(&f, "Shipment", "SHP-0001", 0, 100, &rc);
    ck_assert_int_eq(rc, TR_OK);
    json_t *v = json_object_get(h, "versions");
    ck_assert_uint_eq(json_array_size(v), 3);
    ck_assert_ptr_null(json_object_get(h, "next_after_version"));
    for (size_t i = 0; i < 3; i++) {
        json_t *e = json_array_get(v, i);
        ck_assert_int_eq(json_integer_value(json_object_get(e, "_version")), (json_int_t)i + 1);
        ck_assert(json_is_string(json_object_get(e, "_tx")));
        ck_assert_int_gt(json_integer_value(json_object_get(e, "_height")), 0);
        ck_assert_str_eq(json_string_value(json_object_get(e, "_owner")), "acme");
        ck_assert(json_is_string(json_object_get(e, "_updated_at")));
    }
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(v, 0), "status")), "created");
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(v, 1), "status")),
                     "in_transit");
    ck_assert(json_is_true(json_object_get(json_array_get(v, 2), "_deleted")));
    ck_assert_ptr_null(json_object_get(json_array_get(v, 2), "status"));
    json_decref(h);

    /* paging: 2 then 1, then an empty page past the end */
    h = fx_history(&f, "Shipment", "SHP-0001", 0, 2, &rc);
    ck_assert_uint_eq(json_array_size(json_object_get(h, "versions")), 2);
    ck_assert_int_eq(json_integer_value(json_object_get(h, "next_after_version")), 2);
    json_decref(h);
    h = fx_history(&f, "Shipment", "SHP-0001", 2, 2, &rc);
    v = json_object_get(h, "versions");
    ck_assert_uint_eq(json_array_size(v), 1);
    ck_assert_int_eq(json_integer_value(json_object_get(json_array_get(v, 0), "_version")), 3);
    ck_assert_ptr_null(json_object_get(h, "next_after_version"));
    json_decref(h);
    h = fx_history(&f, "Shipment", "SHP-0001", 1, 1, &rc);
    v = json_object_get(h, "versions");
    ck_assert_int_eq(json_integer_value(json_object_get(json_array_get(v, 0), "_version")), 2);
    ck_assert_int_eq(json_integer_value(json_object_get(h, "next_after_version")), 2);
    json_decref(h);
    h = fx_history(&f, "Shipment", "SHP-0001", 3, 10, &rc);
    ck_assert_int_eq(rc, TR_OK);
    ck_assert_uint_eq(json_array_size(json_object_get(h, "versions")), 0);
    json_decref(h);
    h = fx_history(&f, "Shipment", "SHP-00011", 0, 10, &rc);
    ck_assert_uint_eq(json_array_size(json_object_get(h, "versions")), 1);
    json_decref(h);

    /* a record that never existed; bad limits */
    ck_assert_ptr_null(fx_history(&f, "Shipment", "SHP-0002", 0, 10, &rc));
    ck_assert_int_eq(rc, TR_ENOTFOUND);
    ck_assert_ptr_null(fx_history(&f, "Shipment", "SHP-0002", 5, 10, &rc));
    ck_assert_int_eq(rc, TR_ENOTFOUND);
    ck_assert_ptr_null(fx_history(&f, "Nope", "SHP-0001", 0, 10, &rc));
    ck_assert_int_eq(rc, TR_ENOTFOUND);
    ck_assert_ptr_null(fx_history(&f, "Shipment", "SHP-0001", 0, 0, &rc));
    ck_assert_int_eq(rc, TR_EINVAL);
    ck_assert_ptr_null(fx_history(&f, "Shipment", "SHP-0001", 0, LEDGER_PAGE_MAX + 1, &rc));
    ck_assert_int_eq(rc, TR_EINVAL);
    fx_close(&f);
}
END_TEST

/* A record version's stored text (malloc'd). */
static char *fx_record_text(struct fx *f, const char *key, uint64_t version)
{
    MDB_txn *r;
    char *s = NULL;
    ck_assert_int_eq(mdb_txn_begin(f->env, NULL, MDB_RDONLY, &r), 0);
    ck_assert_int_eq(ledger_record_get(f->l, r, "Shipment", key, version, &s), TR_OK);
    mdb_txn_abort(r);
    return s;
}

/* Takes the outcome's text (the test owns it) and checks it against the stored version. */
static void assert_outcome_text(struct fx *f, const struct ledger_tx_outcome *o, const char *key,
                                uint64_t version)
{
    ck_assert_msg(o->committed, "%s", o->reason);
    char *text = o->text;
    ck_assert_ptr_nonnull(text);
    char *s = fx_record_text(f, key, version);
    ck_assert_uint_eq(o->text_len, strlen(s));
    ck_assert_str_eq(text, s);
    free(s);
    free(text);
}

/* With ledger_keep_texts, the outcome of the texts org's one-op create, replace or patch carries
 * the record exactly as stored; another org's, a delete's, a rejected or a many-op tx's carry
 * none, nor anything once it is turned off. */
START_TEST(test_outcome_texts)
{
    struct fx f;
    char body[512], b2[512];
    fx_open(&f, 0, 0);
    ledger_keep_texts(f.l, "acme");
    shipment(body, sizeof body, "SHP-0400", "created");
    assert_outcome_text(&f, fx_op(&f, 0, BATCH_OP_CREATE, "Shipment", "SHP-0400", 0, body),
                        "SHP-0400", 1);
    assert_outcome_text(
        &f, fx_op(&f, 0, BATCH_OP_PATCH, "Shipment", "SHP-0400", 0, "{\"status\":\"in_transit\"}"),
        "SHP-0400", 2);
    shipment(b2, sizeof b2, "SHP-0400", "picked_up");
    assert_outcome_text(&f, fx_op(&f, 0, BATCH_OP_REPLACE, "Shipment", "SHP-0400", 0, b2),
                        "SHP-0400", 3);
    const struct ledger_tx_outcome *o =
        fx_op(&f, 1, BATCH_OP_PATCH, "Shipment", "SHP-0400", 0, "{\"status\":\"delivered\"}");
    ck_assert_msg(o->committed, "%s", o->reason);
    ck_assert_ptr_null(o->text); /* globex's */
    o = fx_op(&f, 0, BATCH_OP_CREATE, "Shipment", "SHP-0400", 0, body);
    ck_assert(!o->committed);
    ck_assert_ptr_null(o->text);
    struct batch_op ops[2] = {{BATCH_OP_CREATE, "Shipment", "SHP-0401", 0, NULL, 0},
                              {BATCH_OP_CREATE, "Shipment", "SHP-0402", 0, NULL, 0}};
    char c1[512], c2[512];
    shipment(c1, sizeof c1, "SHP-0401", "created");
    shipment(c2, sizeof c2, "SHP-0402", "created");
    ops[0].body = c1;
    ops[0].body_len = strlen(c1);
    ops[1].body = c2;
    ops[1].body_len = strlen(c2);
    struct batch_tx tx = {.ops = ops, .n_ops = 2};
    fx_next_id(&f, tx.id);
    fx_submit_as(&f, 0, 0, &tx, 1, 1000000 * f.height + 1);
    ck_assert_msg(f.out.txs[0].committed, "%s", f.out.txs[0].reason);
    ck_assert_ptr_null(f.out.txs[0].text);
    o = fx_op(&f, 0, BATCH_OP_DELETE, "Shipment", "SHP-0401", 0, NULL);
    ck_assert_msg(o->committed, "%s", o->reason);
    ck_assert_ptr_null(o->text);
    ledger_keep_texts(f.l, NULL);
    o = fx_op(&f, 0, BATCH_OP_PATCH, "Shipment", "SHP-0402", 0, "{\"status\":\"in_transit\"}");
    ck_assert_msg(o->committed, "%s", o->reason);
    ck_assert_ptr_null(o->text);
    fx_close(&f);
}
END_TEST

/* The stored text is the record's sorted compact JSON whether the apply serialized the body or
 * spliced the metadata into the op's canonical text: one document written in several forms
 * gives the same bytes, version after version. */
START_TEST(test_stored_text_same_from_any_body_form)
{
    static const char *const creates[] = {
        /* canonical (the API's form): the metadata is spliced in */
        "{\"carrier\":\"globex\",\"destination\":\"Oslo\",\"origin\":\"Lyon/Port\","
        "\"shipmentId\":\"SHP-0001\",\"status\":\"created\"}",
        /* the same document unsorted, spaced, with a "\/" escape: serialized */
        "{\"shipmentId\":\"SHP-0001\",\"status\":\"created\",\"origin\":\"Lyon/Port\","
        "\"destination\":\"Oslo\",\"carrier\":\"globex\"}",
        " { \"carrier\" : \"globex\", \"destination\":\"Oslo\",\"origin\":\"Lyon/Port\","
        "\"shipmentId\":\"SHP-0001\",\"status\":\"created\"}\n",
        "{\"carrier\":\"globex\",\"destination\":\"Oslo\",\"origin\":\"Lyon\\/Port\","
        "\"shipmentId\":\"SHP-0001\",\"status\":\"created\"}",
    };
    /* a replace with a real not in the serializer's form (serialized), one with a nested object
     * and a real in that form (spliced), then a patch (serialized) */
    static const char *const later[] = {
        "{\"carrier\":\"globex\",\"destination\":\"Oslo\",\"origin\":\"Lyon\","
        "\"shipmentId\":\"SHP-0001\",\"status\":\"in_transit\",\"weightKg\":0.1}",
        "{\"carrier\":\"globex\",\"declaredValue\":{\"amount\":\"10.5\",\"currency\":\"EUR\"},"
        "\"destination\":\"Oslo\",\"origin\":\"Lyon\",\"shipmentId\":\"SHP-0001\","
        "\"status\":\"delivered\",\"weightKg\":1250.5}",
        "{\"status\":\"lost\"}",
    };
    char *first[4] = {0};
    for (size_t i = 0; i < sizeof creates / sizeof creates[0]; i++) {
        struct fx f;
        fx_open(&f, 0, 0);
        const char *key = "SHP-0001";
        const struct ledger_tx_outcome *o =
            fx_op(&f, 0, BATCH_OP_CREATE, "Shipment", key, 0, creates[i]);
        ck_assert_msg(o->committed, "%s", o->reason);
        ck_assert(fx_op(&f, 0, BATCH_OP_REPLACE, "Shipment", key, 1, later[0])->committed);
        ck_assert(fx_op(&f, 0, BATCH_OP_REPLACE, "Shipment", key, 2, later[1])->committed);
        ck_assert(fx_op(&f, 0, BATCH_OP_PATCH, "Shipment", key, 3, later[2])->committed);
        /* the ops' jansson trees came from the ledger's arena (json_arena.h), all of them */
        ck_assert_ptr_nonnull(f.l->json.buf);
        ck_assert_uint_eq(f.l->json.fallbacks, 0);
        for (uint64_t v = 1; v <= 4; v++) {
            char *text = fx_record_text(&f, key, v);
            json_t *doc = json_loads(text, 0, NULL);
            ck_assert_ptr_nonnull(doc);
            char *want = schema_json_dumps(doc, true, NULL);
            ck_assert_str_eq(text, want);
            ck_assert_int_eq(json_integer_value(json_object_get(doc, "_version")), (json_int_t)v);
            ck_assert_str_eq(json_string_value(json_object_get(doc, "_key")), key);
            ck_assert_str_eq(json_string_value(json_object_get(doc, "_owner")), "acme");
            free(want);
            json_decref(doc);
            if (i == 0 && v == 1)
                ck_assert_ptr_nonnull(strstr(text, "\"_height\""));
            if (i == 0) {
                first[v - 1] = text;
            } else {
                ck_assert_str_eq(text, first[v - 1]);
                free(text);
            }
        }
        fx_close(&f);
    }
    for (size_t v = 0; v < 4; v++)
        free(first[v]);
}
END_TEST

START_TEST(test_record_list)
{
    struct fx f;
    char keys[4096];
    int rc;
    fx_open(&f, 0, 0);
    static const char *const ids[] = {"SHP-0005", "SHP-0003", "SHP-0008", "SHP-0001",
                                      "SHP-0007", "SHP-0002", "SHP-0006", "SHP-0004"};
    for (size_t i = 0; i < 8; i++)
        fx_create_shipment(&f, ids[i], i % 3 == 0 ? "delivered" : "created");
    ck_assert(fx_op(&f, 0, BATCH_OP_DELETE, "Shipment", "SHP-0005", 1, NULL)->committed);
    ck_assert(fx_op(&f, 1, BATCH_OP_PATCH, "Shipment", "SHP-0003", 1, "{\"status\":\"delivered\"}")
                  ->committed);

    json_t *p = fx_list(&f, "Shipment", "status", "\"delivered\"", NULL, 100, &rc);
    ck_assert_int_eq(rc, TR_OK);
    ck_assert_str_eq(page_keys(p, keys, sizeof keys), "SHP-0001,SHP-0003,SHP-0006");
    ck_assert_ptr_null(json_object_get(p, "next_cursor"));
    ck_assert_int_eq(json_integer_value(json_object_get(
                         json_array_get(json_object_get(p, "items"), 1), "_version")),
                     2);
    json_decref(p);
    p = fx_list(&f, "Shipment", "status", "\"created\"", NULL, 100, &rc);
    ck_assert_str_eq(page_keys(p, keys, sizeof keys), "SHP-0002,SHP-0004,SHP-0007,SHP-0008");
    json_decref(p);
    p = fx_list(&f, "Shipment", "status", "\"lost\"", NULL, 100, &rc);
    ck_assert_int_eq(rc, TR_OK);
    ck_assert_str_eq(page_keys(p, keys, sizeof keys), "");
    json_decref(p);
    p = fx_list(&f, "Shipment", NULL, NULL, NULL, 100, &rc);
    ck_assert_str_eq(page_keys(p, keys, sizeof keys),
                     "SHP-0001,SHP-0002,SHP-0003,SHP-0004,SHP-0006,SHP-0007,SHP-0008");
    ck_assert_ptr_null(json_object_get(p, "next_cursor"));
    json_decref(p);
    p = fx_list(&f, "Invoice", NULL, NULL, NULL, 100, &rc);
    ck_assert_str_eq(page_keys(p, keys, sizeof keys), "");
    json_decref(p);

    /* limit edges */
    p = fx_list(&f, "Shipment", NULL, NULL, NULL, 1, &rc);
    ck_assert_str_eq(page_keys(p, keys, sizeof keys), "SHP-0001");
    ck_assert_str_eq(json_string_value(json_object_get(p, "next_cursor")), "5348502d30303031");
    json_decref(p);
    p = fx_list(&f, "Shipment", "status", "\"delivered\"", "5348502d30303031", 1, &rc);
    ck_assert_str_eq(page_keys(p, keys, sizeof keys), "SHP-0003");
    json_decref(p);
    p = fx_list(&f, "Shipment", "carrier", "\"globex\"", NULL, LEDGER_PAGE_MAX, &rc);
    ck_assert_uint_eq(json_array_size(json_object_get(p, "items")), 7);
    ck_assert_ptr_null(json_object_get(p, "next_cursor"));
    json_decref(p);

    /* refusals */
    static const char *const bad_cursors[] = {"zz", "534", "00", "5300"};
    for (size_t i = 0; i < 4; i++) {
        ck_assert_ptr_null(fx_list(&f, "Shipment", NULL, NULL, bad_cursors[i], 10, &rc));
        ck_assert_int_eq(rc, TR_EINVAL);
    }
    ck_assert_ptr_null(fx_list(&f, "Shipment", NULL, NULL, NULL, 0, &rc));
    ck_assert_int_eq(rc, TR_EINVAL);
    ck_assert_ptr_null(fx_list(&f, "Shipment", NULL, NULL, NULL, LEDGER_PAGE_MAX + 1, &rc));
    ck_assert_int_eq(rc, TR_EINVAL);
    ck_assert_ptr_null(fx_list(&f, "Shipment", "origin", "\"Lyon\"", NULL, 10, &rc));
    ck_assert_int_eq(rc, TR_EINVAL);
    /* a field without a value orders by it (then by key) */
    p = fx_list(&f, "Shipment", "status", NULL, NULL, 10, &rc);
    ck_assert_int_eq(rc, TR_OK);
    ck_assert_str_eq(page_keys(p, keys, sizeof keys),
                     "SHP-0002,SHP-0004,SHP-0007,SHP-0008,SHP-0001,SHP-0003,SHP-0006");
    json_decref(p);
    ck_assert_ptr_null(fx_list(&f, "Nope", NULL, NULL, NULL, 10, &rc));
    ck_assert_int_eq(rc, TR_ENOTFOUND);
    fx_close(&f);
}
END_TEST

/* Pages all records (field NULL) or those with status "created" by `limit`, creating two new
 * records between pages (one before and one after the cursor); every record that existed before
 * the first page comes exactly once, and no record comes twice. */
static void list_while_writing(const char *field, uint32_t limit)
{
    struct fx f;
    char id[32], cursor[600] = "";
    int seen[100] = {0}, rc, created = 0;
    fx_open(&f, 0, 0);
    for (int i = 10; i < 100; i += 10) {
        snprintf(id, sizeof id, "SHP-00%02d", i);
        fx_create_shipment(&f, id, "created");
    }
    for (int page = 0; page < 50; page++) {
        json_t *p = fx_list(&f, "Shipment", field, field ? "\"created\"" : NULL,
                            cursor[0] ? cursor : NULL, limit, &rc);
        ck_assert_int_eq(rc, TR_OK);
        json_t *items = json_object_get(p, "items");
        ck_assert_uint_le(json_array_size(items), limit);
        for (size_t i = 0; i < json_array_size(items); i++) {
            const char *k = json_string_value(json_object_get(json_array_get(items, i), "_key"));
            int n = atoi(k + 4);
            ck_assert_int_lt(n, 100);
            ck_assert_msg(seen[n] == 0, "%s listed twice", k);
            seen[n]++;
        }
        const char *next = json_string_value(json_object_get(p, "next_cursor"));
        if (!next) {
            json_decref(p);
            break;
        }
        snprintf(cursor, sizeof cursor, "%s", next);
        json_decref(p);
        for (int k = 0; k < 2 && created < 80; k++) { /* new keys 01..09, 11..19, ... */
            int n = (created % 2 == 0) ? 1 + created / 2 : 99 - created / 2;
            created++;
            if (n % 10 == 0)
                continue;
            snprintf(id, sizeof id, "SHP-00%02d", n);
            fx_create_shipment(&f, id, "created");
        }
    }
    for (int i = 10; i < 100; i += 10)
        ck_assert_msg(seen[i] == 1, "SHP-00%02d listed %d times", i, seen[i]);
    fx_close(&f);
}

START_TEST(test_record_list_paging_while_writing)
{
    list_while_writing(NULL, 3);
    list_while_writing("status", 3);
    list_while_writing("status", 1);
}
END_TEST

/* The raw l_records value of Shipment `key` (a pointer: u64 BE version, flags), in *version and
 * *flags; the value's size is returned. */
static size_t fx_rec_ptr(struct fx *f, const char *key, uint64_t *version, unsigned *flags)
{
    MDB_txn *r;
    char k[64];
    size_t n = (size_t)snprintf(k, sizeof k, "Shipment%c%s", 0, key);
    MDB_val mk = {n, k}, v;
    ck_assert_int_eq(mdb_txn_begin(f->env, NULL, MDB_RDONLY, &r), 0);
    ck_assert_int_eq(mdb_get(r, f->l->records, &mk, &v), 0);
    size_t size = v.mv_size;
    if (size == LEDGER__REC_PTR_LEN) {
        *version = ledger__rd64(v.mv_data);
        *flags = ((const uint8_t *)v.mv_data)[8];
    }
    mdb_txn_abort(r);
    return size;
}

/* Rewrites every l_records value as the earlier layout stored it (the current version's whole
 * text, copied from l_history) and forgets the format mark. */
static void fx_records_downgrade(struct fx *f)
{
    MDB_txn *w;
    MDB_cursor *c;
    MDB_val k, v;
    int n = 0;
    ck_assert_int_eq(mdb_txn_begin(f->env, NULL, 0, &w), 0);
    ck_assert_int_eq(mdb_cursor_open(w, f->l->records, &c), 0);
    for (int rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
        ck_assert_uint_eq(v.mv_size, LEDGER__REC_PTR_LEN);
        uint8_t hk[128];
        ck_assert_uint_le(k.mv_size + 9, sizeof hk);
        memcpy(hk, k.mv_data, k.mv_size);
        hk[k.mv_size] = 0;
        memcpy(hk + k.mv_size + 1, v.mv_data, 8);
        MDB_val hkey = {k.mv_size + 9, hk}, text;
        ck_assert_int_eq(mdb_get(w, f->l->history, &hkey, &text), 0);
        char copy[2048];
        ck_assert_uint_le(text.mv_size, sizeof copy);
        memcpy(copy, text.mv_data, text.mv_size);
        MDB_val old = {text.mv_size, copy}, key = {k.mv_size, hk}; /* hk: not in the page */
        ck_assert_int_eq(mdb_cursor_put(c, &key, &old, MDB_CURRENT), 0);
        n++;
    }
    mdb_cursor_close(c);
    ck_assert_int_eq(n, 3);
    MDB_val mk = {10, "rec_format"};
    ck_assert_int_eq(mdb_del(w, f->l->meta, &mk, NULL), 0);
    ck_assert_int_eq(mdb_txn_commit(w), 0);
}

/* Writes one raw value into `dbi`, in a write txn of its own. */
static void fx_put_raw(struct fx *f, MDB_dbi dbi, MDB_val *k, MDB_val *v)
{
    MDB_txn *w;
    ck_assert_int_eq(mdb_txn_begin(f->env, NULL, 0, &w), 0);
    ck_assert_int_eq(mdb_put(w, dbi, k, v, 0), 0);
    ck_assert_int_eq(mdb_txn_commit(w), 0);
}

/* Reopens the ledger on the same env; returns ledger_open's code (f->l is NULL on failure). */
static int fx_reopen(struct fx *f, char *err, size_t errlen)
{
    MDB_txn *w;
    ledger_destroy(f->l);
    f->l = NULL;
    ck_assert_int_eq(mdb_txn_begin(f->env, NULL, 0, &w), 0);
    int rc = fx_ledger_open(f, w, err, errlen);
    if (rc == TR_OK)
        ck_assert_int_eq(mdb_txn_commit(w), 0);
    else
        mdb_txn_abort(w);
    return rc;
}

/* A record's text is stored once, in l_history; l_records points at the current version and says
 * whether it is deleted. A store written with the earlier layout (the whole current text in
 * l_records) is rewritten to pointers when the ledger opens; a bad pointer or an unknown format
 * mark is corruption, with a message. */
START_TEST(test_record_pointer_layout_and_upgrade)
{
    struct fx f;
    char keys[256], err[256];
    int rc;
    uint64_t version = 0;
    unsigned flags = 0;
    fx_open(&f, 0, 0);
    fx_create_shipment(&f, "SHP-0901", "created");
    ck_assert(fx_op(&f, 1, BATCH_OP_PATCH, "Shipment", "SHP-0901", 1, "{\"status\":\"delivered\"}")
                  ->committed);
    fx_create_shipment(&f, "SHP-0902", "created");
    ck_assert(fx_op(&f, 0, BATCH_OP_DELETE, "Shipment", "SHP-0902", 1, NULL)->committed);
    fx_create_shipment(&f, "SHP-0903", "created");
    for (int pass = 0; pass < 2; pass++) {
        ck_assert_uint_eq(fx_rec_ptr(&f, "SHP-0901", &version, &flags), LEDGER__REC_PTR_LEN);
        ck_assert_uint_eq(version, 2);
        ck_assert_uint_eq(flags, 0);
        ck_assert_uint_eq(fx_rec_ptr(&f, "SHP-0902", &version, &flags), LEDGER__REC_PTR_LEN);
        ck_assert_uint_eq(version, 2);
        ck_assert_uint_eq(flags, LEDGER__REC_DELETED);
        ck_assert_uint_eq(fx_rec_ptr(&f, "SHP-0903", &version, &flags), LEDGER__REC_PTR_LEN);
        ck_assert_uint_eq(version, 1);
        json_t *rec = fx_record(&f, "Shipment", "SHP-0901", 0, &rc);
        ck_assert_int_eq(rc, TR_OK);
        ck_assert_str_eq(json_string_value(json_object_get(rec, "status")), "delivered");
        ck_assert_int_eq(json_integer_value(json_object_get(rec, "_version")), 2);
        json_decref(rec);
        ck_assert_ptr_null(fx_record(&f, "Shipment", "SHP-0902", 0, &rc));
        ck_assert_int_eq(rc, TR_ENOTFOUND);
        rec = fx_record(&f, "Shipment", "SHP-0902", 1, &rc);
        ck_assert_int_eq(rc, TR_OK);
        json_decref(rec);
        json_t *p = fx_list(&f, "Shipment", NULL, NULL, NULL, 100, &rc);
        ck_assert_str_eq(page_keys(p, keys, sizeof keys), "SHP-0901,SHP-0903");
        json_decref(p);
        p = fx_list(&f, "Shipment", "status", "\"created\"", NULL, 100, &rc);
        ck_assert_str_eq(page_keys(p, keys, sizeof keys), "SHP-0903");
        json_decref(p);
        if (pass == 0) {
            /* The earlier layout: a text in l_records, no format mark; open upgrades it. */
            fx_records_downgrade(&f);
            ck_assert_uint_gt(fx_rec_ptr(&f, "SHP-0901", &version, &flags), LEDGER__REC_PTR_LEN);
            ck_assert_int_eq(fx_reopen(&f, err, sizeof err), TR_OK);
        }
    }
    /* A write after the upgrade goes on from the upgraded pointer. */
    ck_assert(fx_op(&f, 1, BATCH_OP_PATCH, "Shipment", "SHP-0901", 2, "{\"status\":\"lost\"}")
                  ->committed);
    ck_assert_uint_eq(fx_rec_ptr(&f, "SHP-0901", &version, &flags), LEDGER__REC_PTR_LEN);
    ck_assert_uint_eq(version, 3);

    /* A pointer of the wrong size, and a version that l_history lacks. */
    char k[32];
    size_t n = (size_t)snprintf(k, sizeof k, "Shipment%cSHP-0903", 0);
    MDB_val mk = {n, k}, bad = {5, "\0\0\0\0\1"};
    fx_put_raw(&f, f.l->records, &mk, &bad);
    ck_assert_ptr_null(fx_record(&f, "Shipment", "SHP-0903", 0, &rc));
    ck_assert_int_eq(rc, TR_ECORRUPT);
    ck_assert_msg(strstr(ledger_errmsg(f.l), "l_records: a pointer of 5 bytes"), "%s",
                  ledger_errmsg(f.l));
    uint8_t ptr[LEDGER__REC_PTR_LEN] = {0, 0, 0, 0, 0, 0, 0, 9, 0};
    MDB_val missing = {sizeof ptr, ptr};
    fx_put_raw(&f, f.l->records, &mk, &missing);
    ck_assert_ptr_null(fx_record(&f, "Shipment", "SHP-0903", 0, &rc));
    ck_assert_int_eq(rc, TR_ECORRUPT);
    ck_assert_msg(strstr(ledger_errmsg(f.l), "version 9 of a current record is missing"), "%s",
                  ledger_errmsg(f.l));
    ck_assert_ptr_null(fx_list(&f, "Shipment", NULL, NULL, NULL, 100, &rc));
    ck_assert_int_eq(rc, TR_ECORRUPT);

    /* An unknown format mark: the ledger does not open, and says why. */
    MDB_val fk = {10, "rec_format"}, fv = {1, "3"};
    fx_put_raw(&f, f.l->meta, &fk, &fv);
    ck_assert_int_eq(fx_reopen(&f, err, sizeof err), TR_ECORRUPT);
    ck_assert_msg(strstr(err, "record format \"3\" is not one this build reads"), "%s", err);
    fx_close(&f);
}
END_TEST

static void fx_merkle_root(struct fx *f, uint8_t root[32], uint64_t *size)
{
    MDB_txn *r;
    ck_assert_int_eq(mdb_txn_begin(f->env, NULL, MDB_RDONLY, &r), 0);
    ck_assert_int_eq(ledger_merkle_root_now(f->l, r, root, size), TR_OK);
    mdb_txn_abort(r);
}

/* A Merkle tree stored in the earlier layout (l_merkle, key u8 level || u64 BE index) moves to
 * l_mtree when the ledger opens: the same root, l_merkle gone, and appends go on from it. */
START_TEST(test_merkle_layout_upgrade)
{
    struct fx f;
    char id[32], err[256];
    uint8_t root0[32], root1[32];
    uint64_t size0, size1;
    fx_open(&f, 0, 0);
    for (int i = 0; i < 11; i++) {
        snprintf(id, sizeof id, "SHP-07%02d", i);
        fx_create_shipment(&f, id, "created");
    }
    fx_merkle_root(&f, root0, &size0);
    ck_assert_uint_eq(size0, 11);

    MDB_txn *w;
    MDB_dbi old;
    MDB_cursor *c;
    MDB_val k, v;
    MDB_stat st;
    size_t n = 0;
    ck_assert_int_eq(mdb_txn_begin(f.env, NULL, 0, &w), 0);
    ck_assert_int_eq(mdb_dbi_open(w, "l_merkle", MDB_CREATE, &old), 0);
    ck_assert_int_eq(mdb_cursor_open(w, f.l->merkle, &c), 0);
    for (int rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(c, &k, &v, MDB_NEXT), n++) {
        unsigned level = ((const uint8_t *)k.mv_data)[8];
        uint8_t ok[9];
        ok[0] = (uint8_t)level;
        ledger__be64(ok + 1, (ledger__rd64(k.mv_data) >> level) - 1);
        MDB_val okey = {9, ok};
        ck_assert_int_eq(mdb_put(w, old, &okey, &v, 0), 0);
    }
    mdb_cursor_close(c);
    ck_assert_uint_eq(n, 11 + 5 + 2 + 1); /* complete subtrees of 11 leaves */
    ck_assert_int_eq(mdb_drop(w, f.l->merkle, 0), 0);
    ck_assert_int_eq(mdb_txn_commit(w), 0);

    ck_assert_int_eq(fx_reopen(&f, err, sizeof err), TR_OK);
    fx_merkle_root(&f, root1, &size1);
    ck_assert_uint_eq(size1, size0);
    ck_assert_int_eq(memcmp(root0, root1, 32), 0);
    ck_assert_int_eq(mdb_txn_begin(f.env, NULL, 0, &w), 0);
    ck_assert_int_eq(mdb_dbi_open(w, "l_merkle", 0, &old), MDB_NOTFOUND);
    ck_assert_int_eq(mdb_stat(w, f.l->merkle, &st), 0);
    ck_assert_uint_eq(st.ms_entries, n);
    mdb_txn_abort(w);
    /* Leaf 12 reads the left siblings of levels 0 and 1 from the moved entries. */
    fx_create_shipment(&f, "SHP-0799", "created");
    fx_merkle_root(&f, root1, &size1);
    ck_assert_uint_eq(size1, 12);
    fx_close(&f);
}
END_TEST

Suite *suite_ledger(void)
{
    Suite *s = suite_create("ledger");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_records_acl_versions);
    tcase_add_loop_test(tc, test_signature_replay_membership, 0, 2);
    tcase_add_loop_test(tc, test_signature_rule_is_the_networks, 0, 2);
    tcase_add_test(tc, test_updated_at_per_block);
    tcase_add_test(tc, test_outcome_texts);
    tcase_add_test(tc, test_atomic_idempotency_duplicates);
    tcase_add_test(tc, test_timestamps_never_backwards);
    tcase_add_test(tc, test_determinism_two_envs);
    tcase_add_test(tc, test_merkle_matches_mem_store);
    tcase_add_test(tc, test_checkpoints_and_cosign);
    tcase_add_test(tc, test_governance);
    tcase_add_test(tc, test_abort_and_reload);
    tcase_add_test(tc, test_key_and_index_limits);
    tcase_add_test(tc, test_map_full_is_fatal);
    tcase_add_test(tc, test_record_history);
    tcase_add_test(tc, test_stored_text_same_from_any_body_form);
    tcase_add_test(tc, test_record_list);
    tcase_add_test(tc, test_record_list_paging_while_writing);
    tcase_add_test(tc, test_record_pointer_layout_and_upgrade);
    tcase_add_test(tc, test_merkle_layout_upgrade);
    suite_add_tcase(s, tc);
    return s;
}
