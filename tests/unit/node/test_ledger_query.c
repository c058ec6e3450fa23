/* test_ledger_query.c — suite `ledger_query` for node/ledger_index.c and the lists of
 * node/ledger_query.c: the index value encoding checked against the exact comparison on random
 * values (bytewise order = value order, prefix-free, self-delimiting; seed printed), and lists by
 * range, by order and in both directions over a real LMDB env with the supply-chain schema,
 * weightKg indexed too: numeric (not text) order, bounds inclusive and exclusive, cursors that stay
 * correct while records are written between pages, and the refusals. */
#include "node/genesis.h"
#include "node/ledger.h"

#include "common/alloc.h"
#include "common/err.h"
#include "common/prng.h"
#include "node/batch.h"
#include "node/ledger_int.h"
#include "node/merkle.h"

#include <check.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

Suite *suite_ledger_query(void);

/* ------------------------------------------------------------------------------------------- */
/* The encoding against the exact comparison */

static json_t *random_value(struct tr_prng *p)
{
    static const char alphabet[] = {'a', 'b', 'z', '\0', '\x7f', '\xc3', '\xa9', '"', '\\', ' '};
    switch (tr_prng_below(p, 7)) {
    case 0:
        return tr_prng_chance(p, 1, 3) ? json_null() : json_boolean(tr_prng_chance(p, 1, 2));
    case 1: /* small integers, often equal */
        return json_integer((json_int_t)tr_prng_below(p, 21) - 10);
    case 2: { /* integers around 2^53 and 2^63, where doubles are inexact */
        json_int_t base = tr_prng_chance(p, 1, 2) ? (json_int_t)1 << 53 : INT64_MAX - 8;
        json_int_t v = base + (json_int_t)tr_prng_below(p, 8) - (base == INT64_MAX - 8 ? 0 : 4);
        return json_integer(tr_prng_chance(p, 1, 4) ? -v : v);
    }
    case 3: { /* reals, some equal to integers */
        double d = (double)((int64_t)tr_prng_below(p, 41) - 20) / 4.0;
        if (tr_prng_chance(p, 1, 6))
            d = (double)((int64_t)1 << 53) + (double)tr_prng_below(p, 4) * 2;
        return json_real(tr_prng_chance(p, 1, 8) ? -0.0 * d : d);
    }
    default: { /* strings: short, with NULs, and long ones sharing their first 64 bytes */
        char s[160];
        size_t n = tr_prng_below(p, 6);
        if (tr_prng_chance(p, 1, 3)) {
            memset(s, 'q', 64);
            n = 62 + tr_prng_below(p, 20);
        }
        for (size_t i = (n > 64 ? 62 : 0); i < n; i++)
            s[i] = alphabet[tr_prng_below(p, sizeof alphabet)];
        return json_stringn_nocheck(s, n);
    }
    }
}

static int sign(int c)
{
    return c < 0 ? -1 : c > 0;
}

/* Seeds: a regression (an integer against a real that rounds to it) and TREATY_TEST_SEED or the
 * time. */
static void encoding_rounds(uint64_t seed);

START_TEST(encoding_orders_as_values)
{
    const char *env = getenv("TREATY_TEST_SEED");
    uint64_t seed = env ? strtoull(env, NULL, 10) : (uint64_t)time(NULL);
    printf("ledger_query encoding seed %llu (replay: TREATY_TEST_SEED=%llu)\n",
           (unsigned long long)seed, (unsigned long long)seed);
    encoding_rounds(UINT64_C(1795963279));
    encoding_rounds(seed);
}
END_TEST

static void encoding_rounds(uint64_t seed)
{
    struct tr_prng p;
    tr_prng_seed(&p, seed);
    for (int round = 0; round < 20000; round++) {
        json_t *a = random_value(&p), *b = random_value(&p);
        uint8_t ea[LEDGER_INDEX_VALUE_MAX + 8], eb[LEDGER_INDEX_VALUE_MAX];
        size_t la, lb, cut_a, cut_b;
        ck_assert_int_eq(ledger__index_encode(a, ea, &la, &cut_a), TR_OK);
        ck_assert_int_eq(ledger__index_encode(b, eb, &lb, &cut_b), TR_OK);
        ck_assert_uint_le(la, LEDGER_INDEX_VALUE_MAX);
        ck_assert_uint_eq(ea[0], ledger__index_kind(a));
        /* self-delimiting, whatever follows (a record key) */
        memcpy(ea + la, "SHP-1\0\xff", 7);
        ck_assert_uint_eq(ledger__index_value_len(ea, la + 7), la);
        int want = ledger__index_cmp(a, b);
        size_t m = la < lb ? la : lb;
        int got = sign(memcmp(ea, eb, m));
        if (got == 0)
            got = la < lb ? -1 : la > lb;
        /* prefix-free: equal values encode alike, others differ before either ends */
        ck_assert_msg(want == 0 ? (la == lb && got == 0) : memcmp(ea, eb, m) != 0,
                      "seed %llu round %d: one encoding begins the other", (unsigned long long)seed,
                      round);
        bool both_cut_same = cut_a && cut_b && cut_a == cut_b && memcmp(ea, eb, cut_a) == 0;
        if (!both_cut_same)
            ck_assert_msg(got == want, "seed %llu round %d: bytes say %d, values %d",
                          (unsigned long long)seed, round, got, want);
        json_decref(a);
        json_decref(b);
    }
}

START_TEST(encoding_fixed_cases)
{
    static const char *const ascending[] = {"null",
                                            "false",
                                            "true",
                                            "-1e300",
                                            "-9007199254740993",
                                            "-2.5",
                                            "-0.0",
                                            "0",
                                            "0.5",
                                            "2",
                                            "9",
                                            "10",
                                            "9007199254740992",
                                            "9007199254740993",
                                            "9.3e18",
                                            "\"\"",
                                            "\"\\u0000\"",
                                            "\"9\"",
                                            "\"A\"",
                                            "\"a\"",
                                            "\"a\\u0000\"",
                                            "\"ab\"",
                                            "\"b\"",
                                            "\"\\u00e9\""};
    size_t n = sizeof ascending / sizeof ascending[0];
    uint8_t prev[LEDGER_INDEX_VALUE_MAX], cur[LEDGER_INDEX_VALUE_MAX];
    size_t plen = 0, clen = 0;
    for (size_t i = 0; i < n; i++) {
        json_t *v = json_loads(ascending[i], JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
        ck_assert_msg(v != NULL, "%s", ascending[i]);
        ck_assert_int_eq(ledger__index_value(v, cur, &clen), TR_OK);
        json_decref(v);
        if (i > 0) {
            int c = memcmp(prev, cur, plen < clen ? plen : clen);
            bool equal_zero = strcmp(ascending[i], "0") == 0; /* -0.0 and 0 are one value */
            if (equal_zero)
                ck_assert(c == 0 && plen == clen);
            else
                ck_assert_msg(c < 0 || (c == 0 && plen < clen), "%s !< %s", ascending[i - 1],
                              ascending[i]);
        }
        memcpy(prev, cur, clen);
        plen = clen;
    }
    /* an integer and a real of one value encode alike: equality finds both */
    json_t *i3 = json_integer(3), *r3 = json_real(3.0);
    uint8_t a[LEDGER_INDEX_VALUE_MAX], b[LEDGER_INDEX_VALUE_MAX];
    size_t la, lb;
    ck_assert_int_eq(ledger__index_value(i3, a, &la), TR_OK);
    ck_assert_int_eq(ledger__index_value(r3, b, &lb), TR_OK);
    ck_assert(la == lb && memcmp(a, b, la) == 0);
    json_decref(i3);
    json_decref(r3);
    ck_assert_uint_eq(ledger__index_value_len((const uint8_t *)"\x50"
                                                               "ab",
                                              3),
                      0);
    ck_assert_uint_eq(ledger__index_value_len((const uint8_t *)"\x77", 1), 0);
    ck_assert_uint_eq(ledger__index_value_len((const uint8_t *)"", 0), 0);
}
END_TEST

/* ------------------------------------------------------------------------------------------- */
/* Lists over a real ledger */

struct fx {
    char dir[64];
    MDB_env *env;
    struct schema_network *schema;
    struct ledger *l;
    uint8_t net[32], pk[32], sk[64];
    uint64_t seq, height;
    unsigned next_id;
    struct ledger_block_outcome out;
};

static void fx_open(struct fx *f)
{
    char err[256];
    json_t *doc = NULL;
    memset(f, 0, sizeof *f);
    uint8_t seed[32];
    memset(seed, 1, sizeof seed);
    crypto_sign_seed_keypair(f->pk, f->sk, seed);
    memset(f->net, 0x5a, sizeof f->net);
    snprintf(f->dir, sizeof f->dir, "/tmp/treaty-lquery-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(f->dir));
    ck_assert_int_eq(mdb_env_create(&f->env), 0);
    ck_assert_int_eq(mdb_env_set_maxdbs(f->env, 32), 0);
    ck_assert_int_eq(mdb_env_set_mapsize(f->env, 64u << 20), 0);
    ck_assert_int_eq(mdb_env_open(f->env, f->dir, MDB_NOSYNC, 0600), 0);
    ck_assert_int_eq(schema_json_load_file(TREATY_SOURCE_DIR "/examples/supply-chain.json", NULL,
                                           &doc, err, sizeof err),
                     TR_OK);
    json_t *idx = json_object_get(
        json_object_get(json_object_get(json_object_get(doc, "properties"), "Shipment"), "items"),
        "x-treaty-indexes");
    ck_assert_int_eq(json_array_append_new(idx, json_string("weightKg")), 0);
    ck_assert_int_eq(schema_network_load(doc, NULL, &f->schema, err, sizeof err), TR_OK);
    json_decref(doc);
    struct ledger_member m;
    memset(&m, 0, sizeof m);
    snprintf(m.org, sizeof m.org, "acme");
    memcpy(m.public_key, f->pk, 32);
    m.node_id = genesis_node_id("acme");
    snprintf(m.peer, sizeof m.peer, "127.0.0.1:7401");
    struct ledger_config cfg = {f->net, f->schema, &m, 1, 0, 0, BATCH_SIG_V2};
    MDB_txn *txn;
    ck_assert_int_eq(mdb_txn_begin(f->env, NULL, 0, &txn), 0);
    ck_assert_int_eq(ledger_open(f->env, txn, &cfg, &f->l, err, sizeof err), TR_OK);
    ck_assert_int_eq(mdb_txn_commit(txn), 0);
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

/* One op by acme as the next block; asserts it committed. */
static void fx_op(struct fx *f, int kind, const char *key, const char *body)
{
    struct batch_op op = {kind, "Shipment", key, 0, body, body ? strlen(body) : 0};
    struct batch_tx tx = {.ops = &op, .n_ops = 1};
    snprintf(tx.id, sizeof tx.id, "%032x", ++f->next_id);
    uint8_t *buf = NULL, *st = NULL;
    size_t len = 0, slen = 0;
    ck_assert_int_eq(
        batch_build_entry(f->net, BATCH_SIG_V2, "acme", ++f->seq, f->sk, &tx, 1, &buf, &len),
        TR_OK);
    ck_assert_int_eq(batch_entry_stamp(buf, len, 1000000 * (f->height + 1), &st, &slen), TR_OK);
    tr_free(buf);
    MDB_txn *txn;
    struct raft_entry e = {++f->height, 3, RAFT_ENTRY_NORMAL, st, slen};
    ck_assert_int_eq(mdb_txn_begin(f->env, NULL, 0, &txn), 0);
    ck_assert_int_eq(ledger_apply(f->l, txn, &e, &f->out), TR_OK);
    ck_assert_int_eq(mdb_txn_commit(txn), 0);
    tr_free(st);
    ck_assert_msg(f->out.n_txs == 1 && f->out.txs[0].committed, "%s", f->out.txs[0].reason);
}

/* Creates Shipment SHP-<n> with weight `w` (JSON number text) and origin `origin`. */
static void fx_ship(struct fx *f, int n, const char *w, const char *origin)
{
    char key[32], body[512];
    snprintf(key, sizeof key, "SHP-%04d", n);
    snprintf(body, sizeof body,
             "{\"shipmentId\":\"%s\",\"origin\":\"%s\",\"destination\":\"Oslo\",\"status\":"
             "\"created\",\"carrier\":\"%s\",\"weightKg\":%s}",
             key, origin, n % 2 ? "globex" : "initech", w);
    fx_op(f, BATCH_OP_CREATE, key, body);
}

/* A list query in a fresh read txn; values are JSON texts (NULL: none). */
struct lq {
    const char *field, *eq, *lo, *hi;
    bool lo_incl, hi_incl, desc;
    const char *cursor;
    uint32_t limit;
};

static json_t *jv(const char *text)
{
    if (!text)
        return NULL;
    json_t *v = json_loads(text, JSON_DECODE_ANY, NULL);
    ck_assert_ptr_nonnull(v);
    return v;
}

static json_t *fx_list(struct fx *f, const struct lq *in, int *rc)
{
    json_t *eq = jv(in->eq), *lo = jv(in->lo), *hi = jv(in->hi), *out = NULL;
    struct ledger_list_query q = {in->field, eq,          lo,
                                  hi,        in->lo_incl, in->hi_incl,
                                  in->desc,  in->cursor,  in->limit ? in->limit : 100};
    MDB_txn *r;
    ck_assert_int_eq(mdb_txn_begin(f->env, NULL, MDB_RDONLY, &r), 0);
    *rc = ledger_record_list(f->l, r, "Shipment", &q, &out);
    mdb_txn_abort(r);
    json_decref(eq);
    json_decref(lo);
    json_decref(hi);
    ck_assert(*rc == TR_OK ? out != NULL : out == NULL);
    return out;
}

/* The pages' keys (numbers after "SHP-") joined by ','; follows next_cursor to the end. */
static const char *list_all(struct fx *f, struct lq q, char *buf, size_t n)
{
    char cursor[1024] = "";
    size_t used = 0;
    buf[0] = '\0';
    for (int page = 0; page < 100; page++) {
        int rc;
        q.cursor = cursor[0] ? cursor : NULL;
        json_t *p = fx_list(f, &q, &rc);
        ck_assert_int_eq(rc, TR_OK);
        const json_t *items = json_object_get(p, "items");
        for (size_t i = 0; i < json_array_size(items); i++)
            used += (size_t)snprintf(
                buf + used, n - used, "%s%d", used ? "," : "",
                atoi(json_string_value(json_object_get(json_array_get(items, i), "_key")) + 4));
        const char *next = json_string_value(json_object_get(p, "next_cursor"));
        snprintf(cursor, sizeof cursor, "%s", next ? next : "");
        json_decref(p);
        if (!cursor[0])
            return buf;
    }
    ck_abort_msg("more than 100 pages");
    return buf;
}

START_TEST(ranges_order_numerically)
{
    struct fx f;
    char got[1024];
    fx_open(&f);
    /* weights whose text order differs from their numeric order */
    static const char *const w[] = {"9", "10", "100", "2.5", "1e3", "10", "0.5", "99999"};
    for (int i = 0; i < 8; i++)
        fx_ship(&f, i + 1, w[i], "Lyon");
    struct lq q = {.field = "weightKg", .limit = 3};
    ck_assert_str_eq(list_all(&f, q, got, sizeof got), "7,4,1,2,6,3,5,8");
    q.desc = true;
    ck_assert_str_eq(list_all(&f, q, got, sizeof got), "8,5,3,6,2,1,4,7");
    q = (struct lq){.field = "weightKg", .lo = "10", .lo_incl = true, .hi = "1000", .limit = 1};
    ck_assert_str_eq(list_all(&f, q, got, sizeof got), "2,6,3");
    q.lo_incl = false;
    q.hi_incl = true;
    ck_assert_str_eq(list_all(&f, q, got, sizeof got), "3,5");
    q.desc = true;
    ck_assert_str_eq(list_all(&f, q, got, sizeof got), "5,3");
    q = (struct lq){.field = "weightKg", .hi = "9.5"};
    ck_assert_str_eq(list_all(&f, q, got, sizeof got), "7,4,1");
    q = (struct lq){.field = "weightKg", .lo = "99999", .lo_incl = true};
    ck_assert_str_eq(list_all(&f, q, got, sizeof got), "8");
    q = (struct lq){.field = "weightKg", .lo = "99999"};
    ck_assert_str_eq(list_all(&f, q, got, sizeof got), "");
    q = (struct lq){.field = "weightKg", .eq = "10", .desc = true};
    ck_assert_str_eq(list_all(&f, q, got, sizeof got), "6,2");
    q = (struct lq){.field = "weightKg", .eq = "1000"}; /* 1e3 stored as a real */
    ck_assert_str_eq(list_all(&f, q, got, sizeof got), "5");
    /* strings: bytewise, the carrier index */
    q = (struct lq){.field = "carrier", .lo = "\"h\"", .limit = 2};
    ck_assert_str_eq(list_all(&f, q, got, sizeof got), "2,4,6,8");
    q = (struct lq){.field = "carrier", .hi = "\"initech\"", .desc = true};
    ck_assert_str_eq(list_all(&f, q, got, sizeof got), "7,5,3,1");
    /* a deleted record leaves every order */
    fx_op(&f, BATCH_OP_DELETE, "SHP-0003", NULL);
    q = (struct lq){.field = "weightKg", .limit = 2};
    ck_assert_str_eq(list_all(&f, q, got, sizeof got), "7,4,1,2,6,5,8");
    fx_close(&f);
}
END_TEST

START_TEST(ranges_page_correctly_while_writing)
{
    struct fx f;
    char cursor[1024] = "";
    int seen[200] = {0}, rc;
    fx_open(&f);
    for (int i = 10; i < 100; i += 10) {
        char w[16];
        snprintf(w, sizeof w, "%d", i);
        fx_ship(&f, i, w, "Lyon");
    }
    for (int page = 0; page < 60; page++) {
        struct lq q = {.field = "weightKg", .lo = "20", .lo_incl = true, .hi = "90", .limit = 2};
        q.cursor = cursor[0] ? cursor : NULL;
        json_t *p = fx_list(&f, &q, &rc);
        ck_assert_int_eq(rc, TR_OK);
        const json_t *items = json_object_get(p, "items");
        double last = -1;
        for (size_t i = 0; i < json_array_size(items); i++) {
            const json_t *it = json_array_get(items, i);
            int n = atoi(json_string_value(json_object_get(it, "_key")) + 4);
            double wk = json_number_value(json_object_get(it, "weightKg"));
            ck_assert(wk >= 20 && wk < 90 && wk > last);
            last = wk;
            ck_assert_msg(seen[n] == 0, "SHP-%04d listed twice", n);
            seen[n]++;
        }
        const char *next = json_string_value(json_object_get(p, "next_cursor"));
        snprintf(cursor, sizeof cursor, "%s", next ? next : "");
        json_decref(p);
        /* between pages: one record below the position, one above; the first may not show */
        char w[16];
        snprintf(w, sizeof w, "%d", 21 + page);
        fx_ship(&f, 100 + page, w, "Oslo");
        if (!cursor[0])
            break;
    }
    for (int i = 20; i < 90; i += 10)
        ck_assert_msg(seen[i] == 1, "SHP-%04d missed", i);
    ck_assert_int_eq(seen[10] + seen[90], 0);
    fx_close(&f);
}
END_TEST

START_TEST(list_refusals)
{
    struct fx f;
    int rc;
    fx_open(&f);
    fx_ship(&f, 1, "5", "Lyon");
    static const struct lq bad[] = {
        {.field = "origin", .lo = "\"A\""},                  /* not an index */
        {.lo = "1"},                                         /* bound without a field */
        {.desc = true},                                      /* desc without a field */
        {.field = "weightKg", .eq = "5", .lo = "1"},         /* eq and a bound */
        {.field = "weightKg", .lo = "1", .hi = "\"x\""},     /* bounds of two kinds */
        {.field = "weightKg", .cursor = "40"},               /* a value without a key */
        {.field = "weightKg", .cursor = "zz"},               /* not hex */
        {.field = "weightKg", .limit = LEDGER_PAGE_MAX + 1}, /* over the limit */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ck_assert_msg(fx_list(&f, &bad[i], &rc) == NULL, "case %zu listed", i);
        ck_assert_int_eq(rc, TR_EINVAL);
    }
    fx_close(&f);
}
END_TEST

/* ------------------------------------------------------------------------------------------- */
/* The proofs GET /v1/tx/{id} and the proof routes serve, checked by the verifiers */

static void hex_to(const json_t *v, uint8_t *out, size_t n)
{
    const char *s = json_string_value(v);
    ck_assert_ptr_nonnull(s);
    ck_assert_uint_eq(strlen(s), 2 * n);
    ck_assert_int_eq(tr_hex_decode(s, 2 * n, out, n), TR_OK);
}

/* The proof array of `doc` as back-to-back hashes; returns their count. */
static size_t proof_bytes(const json_t *doc, uint8_t out[MERKLE_PROOF_MAX][32])
{
    const json_t *a = json_object_get(doc, "proof");
    ck_assert(json_is_array(a) && json_array_size(a) <= MERKLE_PROOF_MAX);
    for (size_t i = 0; i < json_array_size(a); i++)
        hex_to(json_array_get(a, i), out[i], 32);
    return json_array_size(a);
}

START_TEST(tx_proofs_verify_against_the_roots)
{
    struct fx f;
    uint8_t roots[16][32], proof[MERKLE_PROOF_MAX][32], lh[32], root[32];
    uint64_t sizes[16];
    char ids[16][33];
    MDB_txn *r;
    json_t *doc = NULL;
    fx_open(&f);
    for (int i = 0; i < 12; i++) {
        fx_ship(&f, i + 1, "5", "Lyon");
        memcpy(ids[i], f.out.txs[0].tx_id, 33);
        struct ledger_head h;
        ck_assert_int_eq(mdb_txn_begin(f.env, NULL, MDB_RDONLY, &r), 0);
        ck_assert_int_eq(ledger_head(f.l, r, &h), TR_OK);
        mdb_txn_abort(r);
        memcpy(roots[i], h.root, 32);
        sizes[i] = h.tree_size;
    }
    ck_assert_int_eq(mdb_txn_begin(f.env, NULL, MDB_RDONLY, &r), 0);
    for (int i = 0; i < 12; i++) {
        ck_assert_int_eq(ledger_tx_get(f.l, r, ids[i], &doc), TR_OK);
        uint64_t leaf = (uint64_t)json_integer_value(json_object_get(doc, "leaf_index"));
        json_decref(doc);
        for (int at = i; at < 12; at += 5) { /* against the tree then, and later ones */
            uint64_t size = at == 11 ? 0 : sizes[at];
            ck_assert_int_eq(ledger_inclusion_proof(f.l, r, leaf, size, &doc), TR_OK);
            hex_to(json_object_get(doc, "leaf_hash"), lh, 32);
            hex_to(json_object_get(doc, "root"), root, 32);
            ck_assert(memcmp(root, roots[at], 32) == 0);
            size_t n = proof_bytes(doc, proof);
            ck_assert_int_eq(
                merkle_verify_inclusion(lh, leaf, sizes[at], proof[0], n, roots[at], NULL, 0),
                TR_OK);
            if (n > 0) { /* a changed hash no longer leads to the root */
                proof[n - 1][0] ^= 1;
                ck_assert_int_eq(
                    merkle_verify_inclusion(lh, leaf, sizes[at], proof[0], n, roots[at], NULL, 0),
                    TR_ECRYPTO);
            }
            json_decref(doc);
        }
        if (leaf > 0) /* tree_size 0 is the current tree */
            ck_assert_int_eq(ledger_inclusion_proof(f.l, r, leaf, leaf, &doc), TR_EINVAL);
        ck_assert_int_eq(ledger_inclusion_proof(f.l, r, leaf, sizes[11] + 1, &doc), TR_EINVAL);
    }
    for (int a = 0; a < 12; a += 3) {
        for (int b = a; b < 12; b += 4) {
            ck_assert_int_eq(ledger_consistency_proof(f.l, r, sizes[a], sizes[b], &doc), TR_OK);
            size_t n = proof_bytes(doc, proof);
            json_decref(doc);
            ck_assert_int_eq(merkle_verify_consistency(sizes[a], sizes[b], proof[0], n, roots[a],
                                                       roots[b], NULL, 0),
                             TR_OK);
        }
    }
    ck_assert_int_eq(ledger_consistency_proof(f.l, r, 0, sizes[3], &doc), TR_EINVAL);
    ck_assert_int_eq(ledger_consistency_proof(f.l, r, sizes[4], sizes[3], &doc), TR_EINVAL);
    ck_assert_int_eq(ledger_consistency_proof(f.l, r, 1, sizes[11] + 1, &doc), TR_EINVAL);
    ck_assert_int_eq(ledger_tx_get(f.l, r, "ffffffffffffffffffffffffffffffff", &doc), TR_ENOTFOUND);
    mdb_txn_abort(r);
    fx_close(&f);
}
END_TEST

Suite *suite_ledger_query(void)
{
    Suite *s = suite_create("ledger_query");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, encoding_orders_as_values);
    tcase_add_test(tc, encoding_fixed_cases);
    tcase_add_test(tc, ranges_order_numerically);
    tcase_add_test(tc, ranges_page_correctly_while_writing);
    tcase_add_test(tc, list_refusals);
    tcase_add_test(tc, tx_proofs_verify_against_the_roots);
    suite_add_tcase(s, tc);
    return s;
}
