/* test_bytes.c — slices compare like memcmp; buffers grow, stop at their limit with TR_ELIMIT and
 * stay unchanged on failure (limit and allocation failure walked at their edges). */
#include "common/alloc.h"
#include "common/bytes.h"
#include "common/err.h"

#include <check.h>
#include <stdio.h>
#include <string.h>

Suite *suite_bytes(void);

/* tr_str_copy writes what snprintf(dst, cap, "%s", src) writes, at every cut. */
START_TEST(test_str_copy)
{
    const char *src = "treaty-org";
    for (size_t cap = 1; cap <= strlen(src) + 3; cap++) {
        char a[16], b[16];
        memset(a, 'x', sizeof a);
        memset(b, 'x', sizeof b);
        tr_str_copy(a, cap, src);
        snprintf(b, cap, "%s", src);
        ck_assert_mem_eq(a, b, sizeof a);
    }
}
END_TEST

START_TEST(test_slices)
{
    struct tr_slice a = tr_slice_str("abc"), b = tr_slice_str("abd"), c = tr_slice_str("ab");
    ck_assert(tr_slice_cmp(a, b) < 0);
    ck_assert(tr_slice_cmp(b, a) > 0);
    ck_assert(tr_slice_cmp(c, a) < 0);
    ck_assert_int_eq(tr_slice_cmp(a, a), 0);
    ck_assert(tr_slice_eq(a, tr_slice_str("abc")));
    ck_assert(!tr_slice_eq(a, c));
    struct tr_slice s = tr_slice_sub(a, 1, 10);
    ck_assert_uint_eq(s.len, 2);
    ck_assert_int_eq(memcmp(s.p, "bc", 2), 0);
    ck_assert_uint_eq(tr_slice_sub(a, 9, 1).len, 0);
}
END_TEST

START_TEST(test_buf_limit_edge)
{
    struct tr_buf b;
    tr_buf_init(&b, 8);
    ck_assert_int_eq(tr_buf_append(&b, "12345678", 8), TR_OK);
    ck_assert_uint_eq(b.len, 8);
    ck_assert_int_eq(tr_buf_append_byte(&b, '9'), TR_ELIMIT);
    ck_assert_uint_eq(b.len, 8);
    ck_assert_str_eq(tr_buf_cstr(&b), "12345678");
    tr_buf_free(&b);
}
END_TEST

START_TEST(test_buf_printf_and_detach)
{
    struct tr_buf b;
    tr_buf_init(&b, 0);
    for (int i = 0; i < 100; i++)
        ck_assert_int_eq(tr_buf_printf(&b, "%d,", i), TR_OK);
    ck_assert_uint_eq(b.len, 290);
    ck_assert_int_eq(strncmp(tr_buf_cstr(&b), "0,1,2,", 6), 0);
    size_t len;
    uint8_t *p = tr_buf_detach(&b, &len);
    ck_assert_uint_eq(len, 290);
    ck_assert_ptr_null(b.p);
    tr_free(p);
}
END_TEST

START_TEST(test_buf_alloc_failure_leaves_buffer_unchanged)
{
    struct tr_buf b;
    tr_buf_init(&b, 0);
    ck_assert_int_eq(tr_buf_append_str(&b, "keep"), TR_OK);
    char big[200];
    memset(big, 'x', sizeof big);
    tr_alloc_fail_after(1);
    ck_assert_int_eq(tr_buf_append(&b, big, sizeof big), TR_ENOMEM);
    tr_alloc_fail_reset();
    ck_assert_uint_eq(b.len, 4);
    ck_assert_str_eq(tr_buf_cstr(&b), "keep");
    tr_buf_free(&b);
}
END_TEST

START_TEST(test_hex)
{
    uint8_t in[] = {0x00, 0x7f, 0xab, 0xff}, out[4];
    char hex[9];
    tr_hex_encode(in, 4, hex);
    ck_assert_str_eq(hex, "007fabff");
    ck_assert_int_eq(tr_hex_decode("007FABff", 8, out, 4), TR_OK);
    ck_assert_int_eq(memcmp(in, out, 4), 0);
    ck_assert_int_eq(tr_hex_decode("007fabf", 7, out, 4), TR_EPARSE);
    ck_assert_int_eq(tr_hex_decode("007fabfg", 8, out, 4), TR_EPARSE);
}
END_TEST

Suite *suite_bytes(void)
{
    Suite *s = suite_create("bytes");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_slices);
    tcase_add_test(tc, test_str_copy);
    tcase_add_test(tc, test_buf_limit_edge);
    tcase_add_test(tc, test_buf_printf_and_detach);
    tcase_add_test(tc, test_buf_alloc_failure_leaves_buffer_unchanged);
    tcase_add_test(tc, test_hex);
    suite_add_tcase(s, tc);
    return s;
}
