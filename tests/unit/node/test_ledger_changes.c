/* test_ledger_changes.c — suite `ledger_changes` for node/ledger_changes.c over a real LMDB env
 * and the supply-chain example schema: the changes of a block are the ops of its committed txs
 * in order, with the version each wrote (several ops on one record in one tx and in one block),
 * the signing org and the owner, the record or null for a delete; rejected txs, refused batches,
 * no-op blocks add nothing; a block's changes stay the same after later blocks wrote more
 * versions of its records (the binary search over a record's history); unapplied blocks are
 * TR_ENOTFOUND. */
#include "common/alloc.h"
#include "common/err.h"
#include "node/batch.h"
#include "node/genesis.h"
#include "node/ledger.h"

#include <check.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

Suite *suite_ledger_changes(void);

#define ORGS       3
#define MAX_BLOCKS 64

static const char *const orgs[ORGS] = {"acme", "globex", "initech"};

struct cfx {
    char dir[64];
    MDB_env *env;
    struct schema_network *schema;
    struct ledger *l;
    uint8_t net[32], pk[ORGS][32], sk[ORGS][64];
    uint64_t seq[ORGS], height;
    unsigned next_id;
    struct raft_entry e[MAX_BLOCKS + 1]; /* by height; data owned */
};

static void cfx_open(struct cfx *f)
{
    char err[256];
    json_t *doc = NULL;
    memset(f, 0, sizeof *f);
    memset(f->net, 0x42, sizeof f->net);
    struct ledger_member m[ORGS];
    memset(m, 0, sizeof m);
    for (int i = 0; i < ORGS; i++) {
        uint8_t seed[32];
        memset(seed, i + 7, sizeof seed);
        crypto_sign_seed_keypair(f->pk[i], f->sk[i], seed);
        snprintf(m[i].org, sizeof m[i].org, "%s", orgs[i]);
        memcpy(m[i].public_key, f->pk[i], 32);
        m[i].node_id = genesis_node_id(orgs[i]);
        snprintf(m[i].peer, sizeof m[i].peer, "127.0.0.1:%d", 7401 + i);
    }
    snprintf(f->dir, sizeof f->dir, "/tmp/treaty-changes-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(f->dir));
    ck_assert_int_eq(mdb_env_create(&f->env), 0);
    ck_assert_int_eq(mdb_env_set_maxdbs(f->env, 32), 0);
    ck_assert_int_eq(mdb_env_set_mapsize(f->env, 64u << 20), 0);
    ck_assert_int_eq(mdb_env_open(f->env, f->dir, MDB_NOSYNC, 0600), 0);
    ck_assert_int_eq(schema_json_load_file(TREATY_SOURCE_DIR "/examples/supply-chain.json", NULL,
                                           &doc, err, sizeof err),
                     TR_OK);
    ck_assert_int_eq(schema_network_load(doc, NULL, &f->schema, err, sizeof err), TR_OK);
    json_decref(doc);
    struct ledger_config cfg = {f->net, f->schema, m, ORGS, 0, 0, BATCH_SIG_V2};
    MDB_txn *txn;
    ck_assert_int_eq(mdb_txn_begin(f->env, NULL, 0, &txn), 0);
    ck_assert_int_eq(ledger_open(f->env, txn, &cfg, &f->l, err, sizeof err), TR_OK);
    ck_assert_int_eq(mdb_txn_commit(txn), 0);
}

static void cfx_close(struct cfx *f)
{
    char cmd[128];
    for (uint64_t h = 1; h <= f->height; h++)
        tr_free((void *)(uintptr_t)f->e[h].data);
    ledger_destroy(f->l);
    mdb_env_close(f->env);
    schema_network_destroy(f->schema);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
    ck_assert_int_eq(system(cmd), 0);
}

/* Applies the next block: entry `data` (taken; NULL for a no-op block). */
static void cfx_apply(struct cfx *f, int type, uint8_t *data, size_t len)
{
    ck_assert_uint_lt(f->height, MAX_BLOCKS);
    struct raft_entry *e = &f->e[++f->height];
    *e = (struct raft_entry){f->height, 2, (enum raft_entry_type)type, data, len};
    struct ledger_block_outcome out;
    MDB_txn *txn;
    ck_assert_int_eq(mdb_txn_begin(f->env, NULL, 0, &txn), 0);
    ck_assert_msg(ledger_apply(f->l, txn, e, &out) == TR_OK, "%s", ledger_errmsg(f->l));
    ck_assert_int_eq(mdb_txn_commit(txn), 0);
}

/* One batch of org o (signed with key k) holding txs; returns nothing, ids set in txs. */
static void cfx_batch(struct cfx *f, int o, int k, struct batch_tx *txs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        snprintf(txs[i].id, sizeof txs[i].id, "%032x", ++f->next_id);
    uint8_t *buf = NULL, *st = NULL;
    size_t len = 0, slen = 0;
    ck_assert_int_eq(
        batch_build_entry(f->net, BATCH_SIG_V2, orgs[o], ++f->seq[o], f->sk[k], txs, n, &buf, &len),
        TR_OK);
    ck_assert_int_eq(batch_entry_stamp(buf, len, 1000000 * (f->height + 1), &st, &slen), TR_OK);
    tr_free(buf);
    cfx_apply(f, RAFT_ENTRY_NORMAL, st, slen);
}

static struct batch_op op(int kind, const char *key, const char *body)
{
    return (struct batch_op){kind, "Shipment", key, 0, body, body ? strlen(body) : 0};
}

/* The changes of block h (TR_OK expected unless *rc is given). */
static json_t *changes(struct cfx *f, uint64_t h, int *rc)
{
    MDB_txn *r;
    json_t *out = NULL;
    struct raft_entry none = {h, 0, RAFT_ENTRY_NOOP, NULL, 0};
    ck_assert_int_eq(mdb_txn_begin(f->env, NULL, MDB_RDONLY, &r), 0);
    int got = ledger_block_changes(f->l, r, h <= f->height ? &f->e[h] : &none, &out);
    mdb_txn_abort(r);
    if (rc) {
        *rc = got;
        return out;
    }
    ck_assert_msg(got == TR_OK, "block %llu: %s", (unsigned long long)h, tr_strerror(got));
    ck_assert(json_is_array(out));
    return out;
}

/* "key:op:version:org:owner[:status]" of each change, space-separated. */
static void summary(const json_t *arr, uint64_t h, char *buf, size_t cap)
{
    size_t n = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < json_array_size(arr); i++) {
        const json_t *c = json_array_get(arr, i);
        const json_t *rec = json_object_get(c, "record");
        ck_assert_int_eq(json_integer_value(json_object_get(c, "height")), (json_int_t)h);
        ck_assert_int_eq(json_integer_value(json_object_get(c, "index")), (json_int_t)i);
        ck_assert_str_eq(json_string_value(json_object_get(c, "type")), "Shipment");
        if (json_is_object(rec)) {
            ck_assert_int_eq(json_integer_value(json_object_get(rec, "_version")),
                             json_integer_value(json_object_get(c, "version")));
            ck_assert_str_eq(json_string_value(json_object_get(rec, "_tx")),
                             json_string_value(json_object_get(c, "tx")));
        }
        n += (size_t)snprintf(
            buf + n, cap - n, "%s%s:%s:%lld:%s:%s%s%s", n ? " " : "",
            json_string_value(json_object_get(c, "key")),
            json_string_value(json_object_get(c, "op")),
            (long long)json_integer_value(json_object_get(c, "version")),
            json_string_value(json_object_get(c, "org")),
            json_string_value(json_object_get(c, "owner")), json_is_null(rec) ? ":null" : ":",
            json_is_null(rec) ? "" : json_string_value(json_object_get(rec, "status")));
        ck_assert_uint_lt(n, cap);
    }
}

static void expect(struct cfx *f, uint64_t h, const char *want)
{
    char got[1024];
    json_t *c = changes(f, h, NULL);
    summary(c, h, got, sizeof got);
    json_decref(c);
    ck_assert_msg(strcmp(got, want) == 0, "block %llu: got \"%s\"\nwant \"%s\"",
                  (unsigned long long)h, got, want);
}

#define SHP(id, status)                                                                            \
    "{\"shipmentId\":\"" id "\",\"origin\":\"Lyon\",\"destination\":\"Oslo\",\"status\":\"" status \
    "\",\"carrier\":\"globex\"}"

START_TEST(committed_ops_in_order_with_versions)
{
    struct cfx f;
    cfx_open(&f);
    /* Block 1: acme, three txs: create A then patch it (one tx); create A again (rejected:
       exists, so nothing); create B and delete it. */
    struct batch_op t0[] = {op(BATCH_OP_CREATE, "SHP-0001", SHP("SHP-0001", "created")),
                            op(BATCH_OP_PATCH, "SHP-0001", "{\"status\":\"picked_up\"}")};
    struct batch_op t1[] = {op(BATCH_OP_CREATE, "SHP-0001", SHP("SHP-0001", "created"))};
    struct batch_op t2[] = {op(BATCH_OP_CREATE, "SHP-0002", SHP("SHP-0002", "created")),
                            op(BATCH_OP_DELETE, "SHP-0002", NULL)};
    struct batch_tx b1[] = {
        {.ops = t0, .n_ops = 2}, {.ops = t1, .n_ops = 1}, {.ops = t2, .n_ops = 2}};
    cfx_batch(&f, 0, 0, b1, 3);
    const char *block1 = "SHP-0001:create:1:acme:acme:created SHP-0001:patch:2:acme:acme:picked_up "
                         "SHP-0002:create:1:acme:acme:created SHP-0002:delete:2:acme:acme:null";
    expect(&f, 1, block1);
    json_t *c = changes(&f, 1, NULL);
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(c, 0), "tx")), b1[0].id);
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(c, 2), "tx")), b1[2].id);
    json_decref(c);
    /* Block 2: globex (the carrier) replaces A twice in two txs; acme's record, globex signs. */
    struct batch_op r1[] = {op(BATCH_OP_REPLACE, "SHP-0001", SHP("SHP-0001", "in_transit"))};
    struct batch_op r2[] = {op(BATCH_OP_PATCH, "SHP-0001", "{\"status\":\"delivered\"}")};
    struct batch_tx b2[] = {{.ops = r1, .n_ops = 1}, {.ops = r2, .n_ops = 1}};
    cfx_batch(&f, 1, 1, b2, 2);
    expect(&f, 2,
           "SHP-0001:replace:3:globex:acme:in_transit SHP-0001:patch:4:globex:acme:delivered");
    /* Block 3: no-op; block 4: globex may not create a Shipment (ACL): rejected, no change. */
    cfx_apply(&f, RAFT_ENTRY_NOOP, NULL, 0);
    expect(&f, 3, "");
    struct batch_op g[] = {op(BATCH_OP_CREATE, "SHP-0009", SHP("SHP-0009", "created"))};
    struct batch_tx b4[] = {{.ops = g, .n_ops = 1}};
    cfx_batch(&f, 1, 1, b4, 1);
    expect(&f, 4, "");
    /* Block 5: a batch of acme signed with initech's key is refused as a whole. */
    struct batch_op s[] = {op(BATCH_OP_CREATE, "SHP-0005", SHP("SHP-0005", "created"))};
    struct batch_tx b5[] = {{.ops = s, .n_ops = 1}};
    cfx_batch(&f, 0, 2, b5, 1);
    expect(&f, 5, "");
    /* Block 1 reads the same after later versions of its records. */
    expect(&f, 1, block1);
    int rc = TR_OK;
    c = changes(&f, 6, &rc);
    ck_assert_int_eq(rc, TR_ENOTFOUND);
    ck_assert_ptr_null(c);
    cfx_close(&f);
}
END_TEST

START_TEST(a_hot_record_finds_each_blocks_versions)
{
    struct cfx f;
    cfx_open(&f);
    struct batch_op c0[] = {op(BATCH_OP_CREATE, "SHP-0100", SHP("SHP-0100", "created"))};
    struct batch_tx b[] = {{.ops = c0, .n_ops = 1}};
    cfx_batch(&f, 0, 0, b, 1);
    enum { N = 40 };
    for (int i = 0; i < N; i++) { /* blocks 2..N+1: one patch each; every 5th also a no-op */
        const char *st = i % 2 ? "{\"status\":\"in_transit\"}" : "{\"status\":\"picked_up\"}";
        struct batch_op p[] = {op(BATCH_OP_PATCH, "SHP-0100", st)};
        struct batch_tx t[] = {{.ops = p, .n_ops = 1}};
        cfx_batch(&f, 0, 0, t, 1);
        if (i % 5 == 4)
            cfx_apply(&f, RAFT_ENTRY_NOOP, NULL, 0);
    }
    uint64_t version = 1;
    for (uint64_t h = 1; h <= f.height; h++) {
        json_t *c = changes(&f, h, NULL);
        if (json_array_size(c) == 1) {
            ck_assert_int_eq(json_integer_value(json_object_get(json_array_get(c, 0), "version")),
                             (json_int_t)version);
            version++;
        } else {
            ck_assert_uint_eq(json_array_size(c), 0);
        }
        json_decref(c);
    }
    ck_assert_uint_eq(version, N + 2);
    cfx_close(&f);
}
END_TEST

Suite *suite_ledger_changes(void)
{
    Suite *s = suite_create("ledger_changes");
    TCase *tc = tcase_create("ledger_changes");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, committed_ops_in_order_with_versions);
    tcase_add_test(tc, a_hot_record_finds_each_blocks_versions);
    suite_add_tcase(s, tc);
    return s;
}
