/* main.c — runner of the common leaf's Check suites (one suite per source file). */
#include <check.h>
#include <stdlib.h>

Suite *suite_err(void);
Suite *suite_alloc(void);
Suite *suite_log(void);
Suite *suite_prng(void);
Suite *suite_bytes(void);

int main(void)
{
    SRunner *sr = srunner_create(suite_err());
    srunner_add_suite(sr, suite_alloc());
    srunner_add_suite(sr, suite_log());
    srunner_add_suite(sr, suite_prng());
    srunner_add_suite(sr, suite_bytes());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
