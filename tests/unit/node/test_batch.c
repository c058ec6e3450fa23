/* test_batch.c — suite `batch` for node/batch.c: entries decode to what was built, the signature
 * covers exactly the domain, network id and carried batch bytes (or their SHA-256), stamping keeps
 * those bytes, the limits are enforced at their edge, and peek reports org, seq and tx ids. */
#include "node/batch.h"

#include "common/alloc.h"
#include "common/err.h"
#include "node/ledger.pb-c.h"

#include <check.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

Suite *suite_batch(void);

static uint8_t net_id[32], pk[32], sk[64];

static void keys_setup(void)
{
    uint8_t seed[32];
    memset(seed, 7, sizeof seed);
    crypto_sign_seed_keypair(pk, sk, seed);
    memset(net_id, 0xab, sizeof net_id);
}

static void make_id(char id[33], unsigned n)
{
    snprintf(id, 33, "%032x", n);
}

/* Verifies an entry's signature by rule `rule`, computing the signed message here from the
 * documented layout (docs/audit.md) rather than through node/batch.c. 0 when it verifies. */
static int verify_entry_by(const Treaty__Ledger__Entry *e, enum batch_sig rule)
{
    /* The domains with their final NUL, as documented. */
    static const char v1[16] = "treaty/batch/v1", v2[16] = "treaty/batch/v2";
    const ProtobufCBinaryData *bytes = &e->batch->batch;
    size_t mlen = 16 + 32 + (rule == BATCH_SIG_V1 ? bytes->len : 32);
    uint8_t *msg = malloc(mlen);
    ck_assert_ptr_nonnull(msg);
    memcpy(msg, rule == BATCH_SIG_V1 ? v1 : v2, 16);
    memcpy(msg + 16, net_id, 32);
    if (rule == BATCH_SIG_V1)
        memcpy(msg + 48, bytes->data, bytes->len);
    else
        crypto_hash_sha256(msg + 48, bytes->data, bytes->len);
    ck_assert_uint_eq(e->batch->signature.len, 64);
    int rc = crypto_sign_verify_detached(e->batch->signature.data, msg, mlen, pk);
    free(msg);
    /* batch_sig_verify agrees */
    int own = batch_sig_verify(rule, net_id, bytes->data, bytes->len, e->batch->signature.data,
                               e->batch->signature.len, pk);
    ck_assert_int_eq(own, rc == 0 ? TR_OK : TR_EINVAL);
    return rc;
}

/* The rule the entries of these tests are built with (the one a new network has). */
static int verify_entry(const Treaty__Ledger__Entry *e)
{
    return verify_entry_by(e, BATCH_SIG_V2);
}

/* _i 0: BATCH_SIG_V2, 1: BATCH_SIG_V1; a signature by one rule never verifies by the other. */
START_TEST(test_build_decode_verify)
{
    enum batch_sig rule = _i ? BATCH_SIG_V1 : BATCH_SIG_V2;
    enum batch_sig other = _i ? BATCH_SIG_V2 : BATCH_SIG_V1;
    keys_setup();
    struct batch_op ops[2] = {
        {BATCH_OP_CREATE, "Shipment", "SHP-0001", 0, "{\"a\":1}", 7},
        {BATCH_OP_DELETE, "Shipment", "SHP-0002", 3, NULL, 0},
    };
    struct batch_tx txs[2] = {{.ops = ops, .n_ops = 2, .idempotency_key = "k1"},
                              {.ops = ops, .n_ops = 1}};
    make_id(txs[0].id, 1);
    make_id(txs[1].id, 2);
    uint8_t *buf = NULL, *buf2 = NULL;
    size_t len = 0, len2 = 0;
    ck_assert_int_eq(batch_build_entry(net_id, rule, "acme", 42, sk, txs, 2, &buf, &len), TR_OK);
    Treaty__Ledger__Entry *e = treaty__ledger__entry__unpack(NULL, len, buf);
    ck_assert_ptr_nonnull(e);
    ck_assert_uint_eq(e->timestamp_us, 0);
    ck_assert_str_eq(e->batch->org, "acme");
    ck_assert_int_eq(verify_entry_by(e, rule), 0);
    ck_assert_int_ne(verify_entry_by(e, other), 0);
    ck_assert_int_eq(batch_sig_verify((enum batch_sig)3, net_id, e->batch->batch.data,
                                      e->batch->batch.len, e->batch->signature.data, 64, pk),
                     TR_EINVAL);
    ck_assert_int_eq(batch_sig_verify(rule, net_id, e->batch->batch.data, e->batch->batch.len,
                                      e->batch->signature.data, 63, pk),
                     TR_EINVAL);
    Treaty__Ledger__Batch *b =
        treaty__ledger__batch__unpack(NULL, e->batch->batch.len, e->batch->batch.data);
    ck_assert_ptr_nonnull(b);
    ck_assert_uint_eq(b->seq, 42);
    ck_assert_str_eq(b->org, "acme");
    ck_assert_uint_eq(b->network_id.len, 32);
    ck_assert_uint_eq(b->n_txs, 2);
    ck_assert_str_eq(b->txs[0]->idempotency_key, "k1");
    ck_assert_str_eq(b->txs[1]->idempotency_key, "");
    ck_assert_uint_eq(b->txs[0]->n_ops, 2);
    ck_assert_int_eq(b->txs[0]->ops[0]->kind, TREATY__LEDGER__OP__KIND__CREATE);
    ck_assert_uint_eq(b->txs[0]->ops[0]->body.len, 7);
    ck_assert_int_eq(memcmp(b->txs[0]->ops[0]->body.data, "{\"a\":1}", 7), 0);
    ck_assert_int_eq(b->txs[0]->ops[1]->kind, TREATY__LEDGER__OP__KIND__DELETE);
    ck_assert_uint_eq(b->txs[0]->ops[1]->expected_version, 3);
    ck_assert_str_eq(b->txs[1]->id, txs[1].id);
    /* A flipped bit in the carried bytes breaks the signature. */
    e->batch->batch.data[e->batch->batch.len / 2] ^= 1;
    ck_assert_int_ne(verify_entry_by(e, rule), 0);
    /* An unknown rule signs nothing. */
    uint8_t sig[64];
    ck_assert_int_eq(batch_sig_sign((enum batch_sig)0, net_id, buf, len, sk, sig), TR_EINVAL);
    ck_assert_int_eq(
        batch_build_entry(net_id, (enum batch_sig)3, "acme", 42, sk, txs, 2, &buf2, &len2),
        TR_EINVAL);
    ck_assert_ptr_null(buf2);
    treaty__ledger__batch__free_unpacked(b, NULL);
    treaty__ledger__entry__free_unpacked(e, NULL);
    tr_free(buf);
}
END_TEST

START_TEST(test_stamp_keeps_signed_bytes)
{
    keys_setup();
    struct batch_tx tx = {0};
    make_id(tx.id, 9);
    uint8_t *buf = NULL, *st = NULL;
    size_t len = 0, slen = 0;
    ck_assert_int_eq(batch_build_entry(net_id, BATCH_SIG_V2, "globex", 1, sk, &tx, 1, &buf, &len),
                     TR_OK);
    ck_assert_int_eq(batch_entry_stamp(buf, len, 1234567, &st, &slen), TR_OK);
    Treaty__Ledger__Entry *a = treaty__ledger__entry__unpack(NULL, len, buf);
    Treaty__Ledger__Entry *b = treaty__ledger__entry__unpack(NULL, slen, st);
    ck_assert_ptr_nonnull(a);
    ck_assert_ptr_nonnull(b);
    ck_assert_uint_eq(b->timestamp_us, 1234567);
    ck_assert_uint_eq(a->batch->batch.len, b->batch->batch.len);
    ck_assert_int_eq(memcmp(a->batch->batch.data, b->batch->batch.data, a->batch->batch.len), 0);
    ck_assert_int_eq(memcmp(a->batch->signature.data, b->batch->signature.data, 64), 0);
    ck_assert_int_eq(verify_entry(b), 0);
    treaty__ledger__entry__free_unpacked(a, NULL);
    treaty__ledger__entry__free_unpacked(b, NULL);
    const uint8_t junk[3] = {0xff, 0xff, 0xff};
    ck_assert_int_eq(batch_entry_stamp(junk, sizeof junk, 1, &st, &slen), TR_EPARSE);
    tr_free(buf);
    /* stamping twice only changes the timestamp */
    uint8_t *st2 = NULL;
    size_t slen2 = 0;
    ck_assert_int_eq(batch_entry_stamp(st, slen, 1234567, &st2, &slen2), TR_OK);
    ck_assert_uint_eq(slen, slen2);
    ck_assert_int_eq(memcmp(st, st2, slen), 0);
    tr_free(st);
    tr_free(st2);
}
END_TEST

START_TEST(test_limits_and_bad_input)
{
    keys_setup();
    uint8_t *buf = NULL;
    size_t len = 0;
    struct batch_tx *txs = calloc(BATCH_TXS_MAX + 1, sizeof *txs);
    ck_assert_ptr_nonnull(txs);
    for (unsigned i = 0; i <= BATCH_TXS_MAX; i++)
        make_id(txs[i].id, i);
    ck_assert_int_eq(
        batch_build_entry(net_id, BATCH_SIG_V2, "acme", 1, sk, txs, BATCH_TXS_MAX, &buf, &len),
        TR_OK);
    tr_free(buf);
    ck_assert_int_eq(
        batch_build_entry(net_id, BATCH_SIG_V2, "acme", 1, sk, txs, BATCH_TXS_MAX + 1, &buf, &len),
        TR_ELIMIT);
    /* ops per tx */
    struct batch_op *ops = calloc(BATCH_OPS_MAX + 1, sizeof *ops);
    ck_assert_ptr_nonnull(ops);
    for (unsigned i = 0; i <= BATCH_OPS_MAX; i++)
        ops[i] = (struct batch_op){BATCH_OP_DELETE, "T", "k", 0, NULL, 0};
    txs[0].ops = ops;
    txs[0].n_ops = BATCH_OPS_MAX;
    ck_assert_int_eq(batch_build_entry(net_id, BATCH_SIG_V2, "acme", 1, sk, txs, 1, &buf, &len),
                     TR_OK);
    tr_free(buf);
    txs[0].n_ops = BATCH_OPS_MAX + 1;
    ck_assert_int_eq(batch_build_entry(net_id, BATCH_SIG_V2, "acme", 1, sk, txs, 1, &buf, &len),
                     TR_ELIMIT);
    txs[0].n_ops = 1;
    ops[0].kind = 5;
    ck_assert_int_eq(batch_build_entry(net_id, BATCH_SIG_V2, "acme", 1, sk, txs, 1, &buf, &len),
                     TR_EINVAL);
    ops[0].kind = BATCH_OP_DELETE;
    /* idempotency key length */
    char key[BATCH_IDEM_KEY_MAX + 2];
    memset(key, 'x', sizeof key - 1);
    key[sizeof key - 1] = '\0';
    txs[0].idempotency_key = key;
    ck_assert_int_eq(batch_build_entry(net_id, BATCH_SIG_V2, "acme", 1, sk, txs, 1, &buf, &len),
                     TR_ELIMIT);
    key[BATCH_IDEM_KEY_MAX] = '\0';
    ck_assert_int_eq(batch_build_entry(net_id, BATCH_SIG_V2, "acme", 1, sk, txs, 1, &buf, &len),
                     TR_OK);
    tr_free(buf);
    /* tx ids */
    snprintf(txs[0].id, sizeof txs[0].id, "%s", "0123456789ABCDEF0123456789abcdef");
    ck_assert_int_eq(batch_build_entry(net_id, BATCH_SIG_V2, "acme", 1, sk, txs, 1, &buf, &len),
                     TR_EINVAL);
    snprintf(txs[0].id, sizeof txs[0].id, "%s", "0123");
    ck_assert_int_eq(batch_build_entry(net_id, BATCH_SIG_V2, "acme", 1, sk, txs, 1, &buf, &len),
                     TR_EINVAL);
    ck_assert_int_eq(batch_build_entry(net_id, BATCH_SIG_V2, "", 1, sk, NULL, 0, &buf, &len),
                     TR_EINVAL);
    ck_assert(!batch_tx_id_valid("0123456789abcdef0123456789abcdef0"));
    ck_assert(batch_tx_id_valid("0123456789abcdef0123456789abcdef"));
    free(ops);
    free(txs);
}
END_TEST

START_TEST(test_peek_and_special_txs)
{
    keys_setup();
    struct batch_tx txs[3];
    memset(txs, 0, sizeof txs);
    for (unsigned i = 0; i < 3; i++)
        make_id(txs[i].id, 100 + i);
    uint8_t *buf = NULL;
    size_t len = 0;
    struct batch_peek p;
    ck_assert_int_eq(batch_build_entry(net_id, BATCH_SIG_V2, "initech", 7, sk, txs, 3, &buf, &len),
                     TR_OK);
    ck_assert_int_eq(batch_entry_peek(buf, len, &p), TR_OK);
    ck_assert_str_eq(p.org, "initech");
    ck_assert_uint_eq(p.seq, 7);
    ck_assert_uint_eq(p.n_txs, 3);
    ck_assert_str_eq(p.tx_ids[2], txs[2].id);
    batch_peek_free(&p);
    ck_assert_int_eq(batch_entry_peek(buf, len / 2, &p), TR_EPARSE);
    ck_assert_ptr_null(p.tx_ids);
    tr_free(buf);

    struct batch_gov g = {
        .kind = BATCH_GOV_ADD_ORG, .org = "hooli", .public_key = pk, .peer = "127.0.0.1:7409"};
    ck_assert_int_eq(batch_build_governance_entry(net_id, BATCH_SIG_V2, "acme", 8, sk, txs[0].id,
                                                  &g, &buf, &len),
                     TR_OK);
    Treaty__Ledger__Entry *e = treaty__ledger__entry__unpack(NULL, len, buf);
    ck_assert_ptr_nonnull(e);
    ck_assert_int_eq(verify_entry(e), 0);
    Treaty__Ledger__Batch *b =
        treaty__ledger__batch__unpack(NULL, e->batch->batch.len, e->batch->batch.data);
    ck_assert_ptr_nonnull(b->txs[0]->governance);
    ck_assert_int_eq(b->txs[0]->governance->kind, TREATY__LEDGER__GOVERNANCE__KIND__ADD_ORG);
    ck_assert_str_eq(b->txs[0]->governance->org, "hooli");
    ck_assert_str_eq(b->txs[0]->governance->peer, "127.0.0.1:7409");
    ck_assert_uint_eq(b->txs[0]->governance->public_key.len, 32);
    treaty__ledger__batch__free_unpacked(b, NULL);
    treaty__ledger__entry__free_unpacked(e, NULL);
    tr_free(buf);
    g.kind = 9;
    ck_assert_int_eq(batch_build_governance_entry(net_id, BATCH_SIG_V2, "acme", 8, sk, txs[0].id,
                                                  &g, &buf, &len),
                     TR_EINVAL);

    Treaty__Ledger__Checkpoint cp = TREATY__LEDGER__CHECKPOINT__INIT;
    cp.height = 64;
    cp.tree_size = 100;
    uint8_t cpb[128], sig[64];
    memset(sig, 3, sizeof sig);
    size_t cpl = treaty__ledger__checkpoint__pack(&cp, cpb);
    ck_assert_int_eq(batch_build_cosign_entry(net_id, BATCH_SIG_V2, "acme", 9, sk, txs[1].id, cpb,
                                              cpl, sig, &buf, &len),
                     TR_OK);
    e = treaty__ledger__entry__unpack(NULL, len, buf);
    b = treaty__ledger__batch__unpack(NULL, e->batch->batch.len, e->batch->batch.data);
    ck_assert_ptr_nonnull(b->txs[0]->cosign);
    ck_assert_uint_eq(b->txs[0]->cosign->checkpoint->height, 64);
    ck_assert_uint_eq(b->txs[0]->cosign->signature.len, 64);
    treaty__ledger__batch__free_unpacked(b, NULL);
    treaty__ledger__entry__free_unpacked(e, NULL);
    tr_free(buf);
    const uint8_t junk[2] = {0xff, 0xff};
    ck_assert_int_eq(batch_build_cosign_entry(net_id, BATCH_SIG_V2, "acme", 9, sk, txs[1].id, junk,
                                              2, sig, &buf, &len),
                     TR_EPARSE);
}
END_TEST

/* Tx ids: valid, the time first (48 bits of milliseconds, big-endian), so ids made later sort
 * later; the rest random. */
/* An entry's length is bounded by its txs' sizes plus BATCH_ENTRY_OVERHEAD (the driver cuts
 * batches by that bound): random txs, the longest org and seq, stamped with the largest time. */
START_TEST(test_tx_size_bounds_entry)
{
    keys_setup();
    static char body[70000], idem[BATCH_IDEM_KEY_MAX + 1], org[64];
    memset(body, 'b', sizeof body);
    memset(idem, 'i', sizeof idem - 1);
    memset(org, 'o', sizeof org - 1);
    struct batch_op ops[40];
    struct batch_tx txs[20];
    uint32_t seed = 12345;
    for (int round = 0; round < 200; round++) {
        size_t n = 1 + (size_t)(round % 20), k = 0, sum = 0;
        for (size_t i = 0; i < n; i++) {
            seed = seed * 1103515245u + 12345u;
            make_id(txs[i].id, seed);
            txs[i].idempotency_key = seed & 1 ? idem + (seed >> 8) % BATCH_IDEM_KEY_MAX : NULL;
            txs[i].ops = &ops[k];
            txs[i].n_ops = (seed >> 4) % 3;
            for (size_t j = 0; j < txs[i].n_ops && k < 40; j++, k++) {
                seed = seed * 1103515245u + 12345u;
                int kind = 1 + (int)(seed % 4);
                size_t blen = kind == BATCH_OP_DELETE ? 0 : (seed >> 3) % sizeof body;
                ops[k] = (struct batch_op){kind,
                                           "Shipment",
                                           "SHP-00000001",
                                           (seed & 8) ? (uint64_t)seed << 20 : 0,
                                           blen ? body : NULL,
                                           blen};
            }
            sum += batch_tx_size(&txs[i]);
        }
        uint8_t *buf = NULL, *stamped = NULL;
        size_t len = 0, slen = 0;
        ck_assert_int_eq(
            batch_build_entry(net_id, BATCH_SIG_V2, org, UINT64_MAX, sk, txs, n, &buf, &len),
            TR_OK);
        ck_assert_int_eq(batch_entry_stamp(buf, len, UINT64_MAX, &stamped, &slen), TR_OK);
        ck_assert_msg(slen <= sum + BATCH_ENTRY_OVERHEAD, "round %d: %zu > %zu + %d", round, slen,
                      sum, BATCH_ENTRY_OVERHEAD);
        /* the shares are exact: the batch is the sum plus its own three fields */
        Treaty__Ledger__Entry *e = treaty__ledger__entry__unpack(NULL, len, buf);
        ck_assert_ptr_nonnull(e);
        ck_assert_uint_eq(e->batch->batch.len, sum + (2 + 32) + (2 + 63) + (1 + 10));
        treaty__ledger__entry__free_unpacked(e, NULL);
        tr_free(buf);
        tr_free(stamped);
    }
    /* governance txs: the largest fields of each kind */
    static const uint8_t key32[32] = {1};
    for (int kind = BATCH_GOV_ADD_ORG; kind <= BATCH_GOV_SCHEMA; kind++) {
        char id[33];
        make_id(id, (unsigned)kind);
        struct batch_gov g = {kind,
                              org,
                              key32,
                              "host-name-of-some-length.example:65535",
                              id,
                              body,
                              kind == BATCH_GOV_SCHEMA ? sizeof body : 0};
        size_t size = batch_governance_tx_size(id, &g);
        uint8_t *buf = NULL;
        size_t len = 0;
        ck_assert_int_eq(batch_build_governance_entry(net_id, BATCH_SIG_V2, org, UINT64_MAX, sk, id,
                                                      &g, &buf, &len),
                         TR_OK);
        Treaty__Ledger__Entry *e = treaty__ledger__entry__unpack(NULL, len, buf);
        ck_assert_ptr_nonnull(e);
        ck_assert_uint_eq(e->batch->batch.len, size + (2 + 32) + (2 + 63) + (1 + 10));
        ck_assert_uint_le(len + 11, size + BATCH_ENTRY_OVERHEAD);
        treaty__ledger__entry__free_unpacked(e, NULL);
        tr_free(buf);
    }
}
END_TEST

START_TEST(test_tx_id_time_ordered)
{
    char a[33], b[33], c[33];
    const uint64_t t = 1795000000123ull; /* 2026-11-18 */
    batch_tx_id_new(a, t);
    batch_tx_id_new(b, t);
    batch_tx_id_new(c, t + 1);
    ck_assert(batch_tx_id_valid(a) && batch_tx_id_valid(b) && batch_tx_id_valid(c));
    ck_assert_int_eq(strncmp(a, "01a1ee565e7b", 12), 0);
    ck_assert_int_eq(strncmp(a, b, 12), 0);
    ck_assert_str_ne(a, b); /* 80 random bits */
    ck_assert_int_lt(strcmp(a, c), 0);
    ck_assert_int_lt(strcmp(b, c), 0);
    char lo[33], hi[33];
    batch_tx_id_new(lo, 0xffffffffffull); /* a byte boundary: no carry lost */
    batch_tx_id_new(hi, 0x10000000000ull);
    ck_assert_int_eq(strncmp(lo, "00ffffffffff", 12), 0);
    ck_assert_int_eq(strncmp(hi, "010000000000", 12), 0);
    ck_assert_int_lt(strcmp(lo, hi), 0);
}
END_TEST

static int cmp_id(const void *x, const void *y)
{
    return strcmp(x, y);
}

/* Ids come from blocks of random bytes (409 ids a block): across several blocks no two are the
 * same, and a forked child never hands out the parent's next ids. */
START_TEST(test_tx_id_unique_across_pool_and_fork)
{
    enum { N = 2000, K = 8 };
    static char ids[N + 2 * K][33];
    for (size_t i = 0; i < N; i++) {
        batch_tx_id_new(ids[i], 1795000000123ull);
        ck_assert(batch_tx_id_valid(ids[i]));
    }
    int fds[2];
    ck_assert_int_eq(pipe(fds), 0);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        char cid[33];
        for (int i = 0; i < K; i++) {
            batch_tx_id_new(cid, 1795000000123ull);
            if (write(fds[1], cid, 33) != 33)
                _exit(1);
        }
        _exit(0);
    }
    close(fds[1]);
    for (int i = 0; i < K; i++)
        batch_tx_id_new(ids[N + i], 1795000000123ull);
    for (int i = 0; i < K; i++)
        ck_assert_int_eq(read(fds[0], ids[N + K + i], 33), 33);
    close(fds[0]);
    int st = 0;
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    qsort(ids, N + 2 * K, sizeof ids[0], cmp_id);
    for (size_t i = 1; i < N + 2 * K; i++)
        ck_assert_msg(strcmp(ids[i - 1], ids[i]) != 0, "id %s twice", ids[i]);
}
END_TEST

Suite *suite_batch(void)
{
    Suite *s = suite_create("batch");
    TCase *tc = tcase_create("core");
    tcase_add_loop_test(tc, test_build_decode_verify, 0, 2);
    tcase_add_test(tc, test_stamp_keeps_signed_bytes);
    tcase_add_test(tc, test_limits_and_bad_input);
    tcase_add_test(tc, test_peek_and_special_txs);
    tcase_add_test(tc, test_tx_id_time_ordered);
    tcase_add_test(tc, test_tx_id_unique_across_pool_and_fork);
    tcase_add_test(tc, test_tx_size_bounds_entry);
    suite_add_tcase(s, tc);
    return s;
}
