/* main.c — runner of the node module's Check suites, listed once in suites.h. Initializes
 * libsodium first, as the node binary does, since several suites use it. */
#include <check.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>

#define NODE_SUITE(name) Suite *suite_##name(void);
#include "suites.h"
#undef NODE_SUITE

int main(void)
{
    if (sodium_init() < 0) {
        fprintf(stderr, "test-unit-node: sodium_init failed\n");
        return EXIT_FAILURE;
    }
    SRunner *sr = srunner_create(NULL);
#define NODE_SUITE(name) srunner_add_suite(sr, suite_##name());
#include "suites.h"
#undef NODE_SUITE
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
