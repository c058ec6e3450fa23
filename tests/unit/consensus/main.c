/* main.c — runner of the Raft core's Check suites (the list is suites.h). Check forks per test
 * (CK_FORK), so one crash does not hide the other results. */
#include <check.h>
#include <stdlib.h>

#define CONSENSUS_SUITE(name) Suite *suite_##name(void);
#include "suites.h"
#undef CONSENSUS_SUITE

int main(void)
{
    SRunner *sr = srunner_create(NULL);
#define CONSENSUS_SUITE(name) srunner_add_suite(sr, suite_##name());
#include "suites.h"
#undef CONSENSUS_SUITE
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
