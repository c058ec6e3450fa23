/* main.c — runner of the api module's Check suites, listed once in suites.h. SIGPIPE is ignored,
 * as any process serving the api must (api.h): a write to a peer that went away is an error value,
 * not a signal. */
#include <check.h>
#include <signal.h>
#include <stdlib.h>

#define API_SUITE(name) Suite *suite_##name(void);
#include "suites.h"
#undef API_SUITE

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    SRunner *sr = srunner_create(NULL);
#define API_SUITE(name) srunner_add_suite(sr, suite_##name());
#include "suites.h"
#undef API_SUITE
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
