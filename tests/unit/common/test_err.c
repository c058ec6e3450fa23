/* test_err.c — the error table: codes are distinct negatives, names and messages line up. */
#include "common/err.h"

#include <check.h>
#include <signal.h>
#include <string.h>

Suite *suite_err(void);

START_TEST(test_codes_negative_and_distinct)
{
    int codes[] = {TR_ENOMEM,  TR_EINVAL,       TR_EPARSE,     TR_ESCHEMA,  TR_EINVALID,
                   TR_ELIMIT,  TR_EIO,          TR_ENOTFOUND,  TR_EEXISTS,  TR_ECONFLICT,
                   TR_EDENIED, TR_EUNSUPPORTED, TR_ECORRUPT,   TR_ECRYPTO,  TR_ETIMEOUT,
                   TR_EBUSY,   TR_ECLOSED,      TR_ENOTLEADER, TR_EINTERNAL};
    size_t n = sizeof codes / sizeof codes[0];
    ck_assert_int_eq((int)n, TR__ERR_COUNT - 1);
    for (size_t i = 0; i < n; i++) {
        ck_assert_int_lt(codes[i], 0);
        for (size_t j = i + 1; j < n; j++)
            ck_assert_int_ne(codes[i], codes[j]);
    }
}
END_TEST

START_TEST(test_messages_and_names)
{
    ck_assert_str_eq(tr_strerror(TR_OK), "success");
    ck_assert_str_eq(tr_strerror(TR_ENOMEM), "out of memory");
    ck_assert_str_eq(tr_strerror(TR_EINTERNAL), "internal error");
    ck_assert_str_eq(tr_err_name(TR_OK), "TR_OK");
    ck_assert_str_eq(tr_err_name(TR_ELIMIT), "TR_ELIMIT");
    ck_assert_str_eq(tr_err_name(TR_ENOTLEADER), "TR_ENOTLEADER");
    ck_assert_str_eq(tr_strerror(1), "unknown error");
    ck_assert_str_eq(tr_strerror(-1000), "unknown error");
    ck_assert_str_eq(tr_err_name(-1000), "TR_E?");
}
END_TEST

START_TEST(test_assert_aborts)
{
    volatile int x = 1;
    TR_ASSERT(x == 2);
}
END_TEST

Suite *suite_err(void)
{
    Suite *s = suite_create("err");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_codes_negative_and_distinct);
    tcase_add_test(tc, test_messages_and_names);
    tcase_add_test_raise_signal(tc, test_assert_aborts, SIGABRT);
    suite_add_tcase(s, tc);
    return s;
}
