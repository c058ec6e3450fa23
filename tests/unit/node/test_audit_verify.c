/* test_audit_verify.c — suite `audit_verify` for node/audit_verify.c, over exports built by
 * node/audit_gen.c (whose roots come from node/merkle.c, so the verifier's frontier roots are
 * checked against the tree's across power-of-two boundaries): valid exports verify with the right
 * counts and signers; a file that is not an export is unusable input; every truncation and a flip
 * of every byte of a small export is caught; trailing data is caught. */
#include "node/audit.h"

#include "common/err.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

Suite *suite_audit_verify(void);

/* An export of a network of genesis version `version` (0: the current one). */
static uint8_t *gen_v(unsigned version, unsigned orgs, uint64_t blocks, size_t txs, uint32_t every,
                      size_t *len)
{
    struct audit_gen_options o = {orgs, blocks, txs, every, version};
    char *buf = NULL, err[256] = "";
    FILE *f = open_memstream(&buf, len);
    ck_assert_ptr_nonnull(f);
    int rc = audit_gen_export(&o, f, err, sizeof err);
    ck_assert_msg(rc == TR_OK, "gen: %s %s", tr_strerror(rc), err);
    fclose(f);
    return (uint8_t *)buf;
}

static uint8_t *gen(unsigned orgs, uint64_t blocks, size_t txs, uint32_t every, size_t *len)
{
    return gen_v(0, orgs, blocks, txs, every, len);
}

/* Verifies p[0..n): -1 unusable input, 1 holds, 0 does not (rep filled when not NULL). */
static int check(const uint8_t *p, size_t n, struct audit_report *out)
{
    struct audit_report rep;
    char err[512];
    int rc = audit_verify_buf(p, n, &rep, err, sizeof err);
    ck_assert_int_ne(rc, TR_ENOMEM);
    int v = rc != TR_OK ? -1 : rep.ok;
    if (out) {
        *out = rep;
        out->checkpoint_list = NULL;
        json_decref(rep.checkpoint_list);
    } else {
        audit_report_free(&rep);
    }
    return v;
}

/* _i 0: genesis version 2 (batches signed over their SHA-256), 1: version 1. */
START_TEST(test_valid_exports)
{
    static const struct {
        unsigned orgs;
        uint64_t blocks;
        size_t txs;
        uint32_t every;
    } cases[] = {{1, 1, 1, 0}, {3, 50, 3, 16}, {2, 37, 5, 8}, {3, 20, 0, 4}, {4, 9, 17, 3}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t n;
        uint8_t *p =
            gen_v(_i ? 1 : 2, cases[i].orgs, cases[i].blocks, cases[i].txs, cases[i].every, &n);
        struct audit_report rep;
        char err[512] = "";
        ck_assert_int_eq(audit_verify_buf(p, n, &rep, err, sizeof err), TR_OK);
        ck_assert_msg(rep.ok, "case %zu: %llu %s: %s", i, (unsigned long long)rep.fail_height,
                      rep.fail_what, rep.fail_why);
        ck_assert_uint_eq(rep.blocks, cases[i].blocks);
        ck_assert_uint_eq(rep.txs, cases[i].blocks * cases[i].txs);
        uint64_t n_cp = cases[i].every ? cases[i].blocks / cases[i].every : 0;
        ck_assert_uint_eq(rep.checkpoints, n_cp);
        ck_assert_uint_eq(json_array_size(rep.checkpoint_list), n_cp);
        size_t k;
        json_t *c;
        json_array_foreach(rep.checkpoint_list, k, c)
        {
            ck_assert_uint_eq(json_array_size(json_object_get(c, "signers")), cases[i].orgs);
            ck_assert(json_is_true(json_object_get(c, "majority")));
        }
        json_t *j = audit_report_json(&rep);
        ck_assert(json_is_true(json_object_get(j, "ok")));
        json_decref(j);
        audit_report_free(&rep);
        free(p);
    }
}
END_TEST

START_TEST(test_not_an_export)
{
    uint8_t junk[64];
    for (size_t i = 0; i < sizeof junk; i++)
        junk[i] = (uint8_t)(i * 37 + 11);
    ck_assert_int_eq(check(NULL, 0, NULL), -1);
    ck_assert_int_eq(check(junk, sizeof junk, NULL), -1);
    size_t n;
    uint8_t *p = gen(2, 4, 1, 2, &n);
    ck_assert_int_eq(check(p, 3, NULL), -1); /* inside the header record */
    free(p);
}
END_TEST

START_TEST(test_every_truncation_caught)
{
    size_t n;
    uint8_t *p = gen(2, 6, 2, 3, &n);
    ck_assert_int_eq(check(p, n, NULL), 1);
    for (size_t cut = 0; cut < n; cut++)
        ck_assert_msg(check(p, cut, NULL) != 1, "truncation at %zu of %zu not caught", cut, n);
    free(p);
}
END_TEST

/* _i as in test_valid_exports. */
START_TEST(test_every_byte_flip_caught)
{
    size_t n;
    uint8_t *p = gen_v(_i ? 1 : 2, 2, 6, 2, 3, &n);
    for (size_t i = 0; i < n; i++) {
        for (unsigned bit = (unsigned)(i % 3); bit < 8; bit += 3) {
            p[i] ^= (uint8_t)(1u << bit);
            ck_assert_msg(check(p, n, NULL) != 1, "flip of bit %u of byte %zu of %zu not caught",
                          bit, i, n);
            p[i] ^= (uint8_t)(1u << bit);
        }
    }
    ck_assert_int_eq(check(p, n, NULL), 1);
    free(p);
}
END_TEST

START_TEST(test_trailing_data_caught)
{
    size_t n;
    uint8_t *p = gen(2, 5, 1, 0, &n);
    uint8_t *q = malloc(n + 2);
    ck_assert_ptr_nonnull(q);
    memcpy(q, p, n);
    q[n] = 0;
    q[n + 1] = 0;
    struct audit_report rep;
    ck_assert_int_eq(check(q, n + 1, &rep), 0);
    ck_assert_str_eq(rep.fail_what, "format");
    free(q);
    free(p);
}
END_TEST

Suite *suite_audit_verify(void)
{
    Suite *s = suite_create("audit_verify");
    TCase *tc = tcase_create("verify");
    tcase_set_timeout(tc, 120);
    tcase_add_loop_test(tc, test_valid_exports, 0, 2);
    tcase_add_test(tc, test_not_an_export);
    tcase_add_test(tc, test_every_truncation_caught);
    tcase_add_loop_test(tc, test_every_byte_flip_caught, 0, 2);
    tcase_add_test(tc, test_trailing_data_caught);
    suite_add_tcase(s, tc);
    return s;
}
