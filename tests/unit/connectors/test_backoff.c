/* test_backoff.c — capped exponential backoff with equal jitter stays within [d/2, d] for the
 * nominal delay d = min(max, base * 2^(attempt-1)), reaches the cap, honours Retry-After (also
 * above the cap, at most an hour), and Retry-After values parse only as delay-seconds. */
#include "connectors/conn.h"

#include <check.h>
#include <stdint.h>

Suite *suite_backoff(void);

START_TEST(test_bounds_per_attempt)
{
    uint64_t rnds[] = {0, 1, 7, 12345, UINT64_MAX, UINT64_MAX / 3};
    for (uint32_t attempt = 1; attempt <= 40; attempt++) {
        uint64_t nominal = 100;
        for (uint32_t i = 1; i < attempt && nominal < 30000; i++)
            nominal *= 2;
        if (nominal > 30000)
            nominal = 30000;
        for (size_t k = 0; k < sizeof rnds / sizeof rnds[0]; k++) {
            uint64_t d = conn_backoff_ms(100, 30000, attempt, rnds[k], 0);
            ck_assert_uint_ge(d, nominal / 2);
            ck_assert_uint_le(d, nominal);
        }
    }
}
END_TEST

START_TEST(test_jitter_spreads)
{
    /* Different random draws give different delays within one attempt. */
    uint64_t lo = UINT64_MAX, hi = 0;
    for (uint64_t r = 0; r < 1000; r++) {
        uint64_t d = conn_backoff_ms(1000, 60000, 3, r * 2654435761u, 0);
        lo = d < lo ? d : lo;
        hi = d > hi ? d : hi;
    }
    ck_assert_uint_eq(lo >= 2000, 1);
    ck_assert_uint_le(hi, 4000);
    ck_assert_uint_gt(hi - lo, 1000);
}
END_TEST

START_TEST(test_cap_and_retry_after)
{
    ck_assert_uint_le(conn_backoff_ms(200, 1000, 1000, 99, 0), 1000);
    ck_assert_uint_eq(conn_backoff_ms(200, 1000, 1, 0, 5000), 5000); /* above the cap */
    ck_assert_uint_eq(conn_backoff_ms(200, 1000, 1, 0, 9000000), 3600000);
    ck_assert_uint_ge(conn_backoff_ms(200, 1000, 4, 0, 10), 500); /* a small one changes nothing */
    ck_assert_uint_le(conn_backoff_ms(0, 1, 1, 0, 0), 1);         /* base 0 counts as 1 */
}
END_TEST

START_TEST(test_retry_after_parse)
{
    ck_assert_int_eq(conn_retry_after_ms("1"), 1000);
    ck_assert_int_eq(conn_retry_after_ms(" 120\r\n"), 120000);
    ck_assert_int_eq(conn_retry_after_ms("0"), 0);
    ck_assert_int_eq(conn_retry_after_ms(NULL), -1);
    ck_assert_int_eq(conn_retry_after_ms(""), -1);
    ck_assert_int_eq(conn_retry_after_ms("-1"), -1);
    ck_assert_int_eq(conn_retry_after_ms("1.5"), -1);
    ck_assert_int_eq(conn_retry_after_ms("Wed, 21 Oct 2026 07:28:00 GMT"), -1);
    ck_assert_int_eq(conn_retry_after_ms("9999999999"), -1); /* more than 9 digits */
    ck_assert_int_eq(conn_retry_after_ms("999999999"), 999999999000);
}
END_TEST

Suite *suite_backoff(void)
{
    Suite *s = suite_create("backoff");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_bounds_per_attempt);
    tcase_add_test(tc, test_jitter_spreads);
    tcase_add_test(tc, test_cap_and_retry_after);
    tcase_add_test(tc, test_retry_after_parse);
    suite_add_tcase(s, tc);
    return s;
}
