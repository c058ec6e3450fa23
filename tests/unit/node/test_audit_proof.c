/* test_audit_proof.c — suite `audit_proof` for node/audit_proof.c: a checkpoint file and a proof
 * built here from a small tree (node/merkle.c) and signatures over the documented message hold;
 * they survive a JSON round trip; a flip of any byte of the leaf, of any path hash, of the root or
 * of a cosignature is refused with the right category; another network, a fork, a later
 * checkpoint without (or with a bad) consistency proof are refused; with one it holds; a checkpoint
 * captured from a verified export (node/audit_gen.c) has the founders' keys and every
 * cosignature. */
#include "node/audit_proof.h"

#include "common/err.h"
#include "node/audit.h"
#include "node/ledger.pb-c.h"

#include <check.h>
#include <sodium.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

Suite *suite_audit_proof(void);

#define LEAVES 7

struct fx {
    struct merkle_mem_store *ms;
    struct merkle_tree *tree;
    uint8_t leaf[LEAVES][96];
    size_t leaf_len[LEAVES];
    uint8_t pk[2][32], sk[2][64];
};

static void fx_init(struct fx *f)
{
    ck_assert_int_ge(sodium_init(), 0);
    ck_assert_int_eq(merkle_mem_store_create(64, &f->ms), TR_OK);
    struct merkle_store s = merkle_mem_store_iface(f->ms);
    ck_assert_int_eq(merkle_tree_create(&s, 0, &f->tree), TR_OK);
    for (int i = 0; i < LEAVES; i++) {
        char id[33];
        snprintf(id, sizeof id, "%032x", i + 1);
        Treaty__Ledger__TxLeaf l = TREATY__LEDGER__TX_LEAF__INIT;
        l.height = (uint64_t)i + 1;
        l.tx_id = id;
        l.org = (char *)"acme";
        l.seq = (uint64_t)i + 1;
        l.committed = 1;
        f->leaf_len[i] = treaty__ledger__tx_leaf__get_packed_size(&l);
        ck_assert_uint_le(f->leaf_len[i], sizeof f->leaf[i]);
        treaty__ledger__tx_leaf__pack(&l, f->leaf[i]);
        uint8_t h[32];
        merkle_leaf_hash(f->leaf[i], f->leaf_len[i], h);
        ck_assert_int_eq(merkle_append(f->tree, h), TR_OK);
    }
    for (int k = 0; k < 2; k++) {
        uint8_t seed[32] = {(uint8_t)(k + 1)};
        crypto_sign_seed_keypair(f->pk[k], f->sk[k], seed);
    }
}

static void fx_free(struct fx *f)
{
    merkle_tree_destroy(f->tree);
    merkle_mem_store_destroy(f->ms);
}

/* Signs the documented message: "treaty/checkpoint/v1\0" ‖ network id ‖ encoded Checkpoint. */
static void sign(const struct audit_cp *cp, const uint8_t sk[64], uint8_t sig[64])
{
    Treaty__Ledger__Checkpoint c = TREATY__LEDGER__CHECKPOINT__INIT;
    c.network_id = (ProtobufCBinaryData){32, (uint8_t *)(uintptr_t)cp->network_id};
    c.height = cp->height;
    c.tree_size = cp->tree_size;
    c.root = (ProtobufCBinaryData){32, (uint8_t *)(uintptr_t)cp->root};
    c.block_hash = (ProtobufCBinaryData){32, (uint8_t *)(uintptr_t)cp->block_hash};
    uint8_t msg[256];
    memcpy(msg, "treaty/checkpoint/v1", 21);
    memcpy(msg + 21, cp->network_id, 32);
    size_t n = treaty__ledger__checkpoint__pack(&c, msg + 53);
    crypto_sign_detached(sig, NULL, msg, 53 + n, sk);
}

/* The checkpoint of the first `size` leaves at height `size`, cosigned by both orgs. */
static void make_cp(struct fx *f, uint64_t size, struct audit_cp *cp)
{
    memset(cp, 0, sizeof *cp);
    memset(cp->network_id, 0x11, 32);
    memset(cp->block_hash, (int)size, 32);
    cp->height = size;
    cp->tree_size = size;
    ck_assert_int_eq(merkle_root(f->tree, size, cp->root), TR_OK);
    static const char *orgs[2] = {"acme", "globex"};
    for (int k = 0; k < 2; k++) {
        strcpy(cp->members[k].org, orgs[k]);
        memcpy(cp->members[k].bytes, f->pk[k], 32);
        strcpy(cp->cosigs[k].org, orgs[k]);
        sign(cp, f->sk[k], cp->cosigs[k].bytes);
    }
    cp->n_members = cp->n_cosigs = 2;
}

static void make_proof(struct fx *f, uint64_t index, const struct audit_cp *cp,
                       struct audit_proof *p)
{
    memset(p, 0, sizeof *p);
    snprintf(p->tx, sizeof p->tx, "%032x", (unsigned)index + 1);
    p->leaf_len = f->leaf_len[index];
    p->leaf = malloc(p->leaf_len);
    memcpy(p->leaf, f->leaf[index], p->leaf_len);
    p->leaf_index = index;
    p->tree_size = cp->tree_size;
    memcpy(p->root, cp->root, 32);
    ck_assert_int_eq(merkle_inclusion_proof(f->tree, index, cp->tree_size, p->path, &p->n_path),
                     TR_OK);
    p->cp = *cp;
    p->cp.n_members = 0;
}

static const char *run(const struct audit_proof *p, const struct audit_cp *t)
{
    static struct audit_proof_result r;
    audit_proof_check(p, t, &r);
    return r.ok ? "ok" : r.what;
}

START_TEST(test_valid_and_round_trip)
{
    struct fx f;
    struct audit_cp cp, back;
    struct audit_proof p;
    char err[320] = "";
    fx_init(&f);
    make_cp(&f, LEAVES, &cp);
    for (uint64_t i = 0; i < LEAVES; i++) {
        make_proof(&f, i, &cp, &p);
        ck_assert_str_eq(run(&p, &cp), "ok");
        audit_proof_free(&p);
    }
    json_t *j = audit_cp_to_json(&cp, 1);
    ck_assert_int_eq(audit_cp_from_json(j, 1, &back, err, sizeof err), TR_OK);
    ck_assert_mem_eq(&back, &cp, sizeof cp);
    json_object_del(j, "members");
    ck_assert_int_eq(audit_cp_from_json(j, 1, &back, err, sizeof err), TR_EPARSE);
    json_object_set_new(j, "format", json_string("treaty-checkpoint/0"));
    ck_assert_int_eq(audit_cp_from_json(j, 0, &back, err, sizeof err), TR_OK);
    ck_assert_int_eq(audit_cp_from_json(j, 1, &back, err, sizeof err), TR_EPARSE);
    json_decref(j);
    fx_free(&f);
}
END_TEST

START_TEST(test_flips_refused)
{
    struct fx f;
    struct audit_cp cp;
    struct audit_proof p;
    fx_init(&f);
    make_cp(&f, LEAVES, &cp);
    make_proof(&f, 2, &cp, &p);
    for (size_t i = 0; i < p.leaf_len; i++)
        for (int b = 0; b < 8; b++) {
            p.leaf[i] ^= (uint8_t)(1 << b);
            const char *w = run(&p, &cp);
            ck_assert_msg(strcmp(w, "inclusion") == 0, "leaf byte %zu bit %d: %s", i, b, w);
            p.leaf[i] ^= (uint8_t)(1 << b);
        }
    ck_assert_uint_gt(p.n_path, 0);
    for (size_t k = 0; k < p.n_path; k++)
        for (size_t i = 0; i < 32; i++) {
            p.path[k][i] ^= 0x80;
            ck_assert_str_eq(run(&p, &cp), "inclusion");
            p.path[k][i] ^= 0x80;
        }
    p.root[5] ^= 1;
    ck_assert_str_eq(run(&p, &cp), "root");
    p.root[5] ^= 1;
    p.cp.root[5] ^= 1;
    ck_assert_str_eq(run(&p, &cp), "checkpoint");
    p.cp.root[5] ^= 1;
    for (size_t i = 0; i < 64; i++) {
        p.cp.cosigs[1].bytes[i] ^= 4;
        ck_assert_str_eq(run(&p, &cp), "cosignature");
        p.cp.cosigs[1].bytes[i] ^= 4;
    }
    p.n_path--;
    ck_assert_str_eq(run(&p, &cp), "inclusion");
    p.n_path++;
    p.leaf_index = 3;
    ck_assert_str_eq(run(&p, &cp), "inclusion");
    p.leaf_index = 2;
    strcpy(p.tx, "ffffffffffffffffffffffffffffffff");
    ck_assert_str_eq(run(&p, &cp), "leaf");
    audit_proof_free(&p);
    /* A leaf that is in the tree, but proved for another tx, is "leaf"; no cosignature at all,
     * or one by an org the trusted checkpoint does not name, is refused. */
    make_proof(&f, 2, &cp, &p);
    p.cp.n_cosigs = 0;
    ck_assert_str_eq(run(&p, &cp), "cosignature");
    p.cp.n_cosigs = 2;
    strcpy(p.cp.cosigs[0].org, "initech");
    ck_assert_str_eq(run(&p, &cp), "cosignature");
    audit_proof_free(&p);
    fx_free(&f);
}
END_TEST

START_TEST(test_network_fork_consistency)
{
    struct fx f;
    struct audit_cp old, now, other;
    struct audit_proof p;
    fx_init(&f);
    make_cp(&f, 3, &old);
    make_cp(&f, LEAVES, &now);
    make_proof(&f, 4, &now, &p);
    other = now;
    other.network_id[0] ^= 1;
    ck_assert_str_eq(run(&p, &other), "network");
    other = now;
    other.block_hash[0] ^= 1;
    ck_assert_str_eq(run(&p, &other), "checkpoint");
    /* A later checkpoint than the trusted one needs a consistency proof from its tree. */
    ck_assert_str_eq(run(&p, &old), "consistency");
    p.has_consistency = 1;
    p.cons_from = 3;
    ck_assert_int_eq(merkle_consistency_proof(f.tree, 3, LEAVES, p.cons, &p.n_cons), TR_OK);
    ck_assert_str_eq(run(&p, &old), "ok");
    p.cons[0][0] ^= 1;
    ck_assert_str_eq(run(&p, &old), "consistency");
    p.cons[0][0] ^= 1;
    other = old;
    other.root[0] ^= 1; /* a trusted tree of 3 leaves the proof's tree does not extend */
    ck_assert_str_eq(run(&p, &other), "consistency");
    p.cons_from = 2;
    ck_assert_str_eq(run(&p, &old), "consistency");
    /* The trusted checkpoint is later than the proof's: prove again. */
    ck_assert_str_eq(run(&p, &now), "ok");
    audit_proof_free(&p);
    make_proof(&f, 1, &old, &p);
    ck_assert_str_eq(run(&p, &now), "checkpoint");
    audit_proof_free(&p);
    fx_free(&f);
}
END_TEST

/* Captures the checkpoint at `want` (0: the last) from a generated export of 3 orgs, 20 blocks,
 * a checkpoint every 4. Returns cap.found. */
static int capture(uint64_t want, struct audit_capture *cap)
{
    struct audit_gen_options o = {3, 20, 2, 4, 0};
    char *buf = NULL, err[256] = "";
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(audit_gen_export(&o, f, err, sizeof err), TR_OK);
    fclose(f);
    f = fmemopen(buf, len, "rb");
    ck_assert_ptr_nonnull(f);
    struct audit_report rep;
    memset(cap, 0, sizeof *cap);
    cap->want_height = want;
    ck_assert_int_eq(audit_verify_file_ex(f, NULL, cap, &rep, err, sizeof err), TR_OK);
    ck_assert_int_eq(rep.ok, 1);
    audit_report_free(&rep);
    fclose(f);
    free(buf);
    return cap->found;
}

START_TEST(test_capture_from_export)
{
    struct audit_capture cap;
    ck_assert_int_eq(capture(8, &cap), 1);
    ck_assert_uint_eq(cap.cp.height, 8);
    ck_assert_uint_eq(cap.cp.n_members, 3);
    ck_assert_uint_eq(cap.cp.n_cosigs, 3);
    ck_assert_uint_eq(cap.dropped, 0);
    for (unsigned i = 0; i < 3; i++) {
        uint8_t seed[32] = {(uint8_t)(i + 1)}, pk[32], sk[64];
        char org[16];
        crypto_sign_seed_keypair(pk, sk, seed);
        snprintf(org, sizeof org, "org%u", i);
        const uint8_t *k = audit_cp_member_key(&cap.cp, org);
        ck_assert_ptr_nonnull(k);
        ck_assert_mem_eq(k, pk, 32);
    }
    for (size_t i = 0; i < cap.cp.n_cosigs; i++)
        ck_assert(audit_cp_sig_ok(&cap.cp, cap.cp.cosigs[i].bytes,
                                  audit_cp_member_key(&cap.cp, cap.cp.cosigs[i].org)));
    ck_assert_int_eq(capture(0, &cap), 1);
    ck_assert_uint_eq(cap.cp.height, 20);
    ck_assert_int_eq(capture(9, &cap), 0);
}
END_TEST

Suite *suite_audit_proof(void)
{
    Suite *s = suite_create("audit_proof");
    TCase *tc = tcase_create("proof");
    tcase_add_test(tc, test_valid_and_round_trip);
    tcase_add_test(tc, test_flips_refused);
    tcase_add_test(tc, test_network_fork_consistency);
    tcase_add_test(tc, test_capture_from_export);
    suite_add_tcase(s, tc);
    return s;
}
