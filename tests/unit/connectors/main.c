/* main.c — runner of the connectors module's Check suites (one suite per source file). */
#include <check.h>
#include <stdlib.h>

Suite *suite_config(void);
Suite *suite_mapping(void);
Suite *suite_backoff(void);
Suite *suite_sf_in(void);
Suite *suite_outbound(void);
Suite *suite_hs(void);
Suite *suite_dynamics(void);
Suite *suite_sap_in(void);
Suite *suite_sap_cfg(void);
Suite *suite_sap_out(void);
Suite *suite_inbound(void);

int main(void)
{
    SRunner *sr = srunner_create(suite_config());
    srunner_add_suite(sr, suite_mapping());
    srunner_add_suite(sr, suite_backoff());
    srunner_add_suite(sr, suite_sf_in());
    srunner_add_suite(sr, suite_outbound());
    srunner_add_suite(sr, suite_hs());
    srunner_add_suite(sr, suite_dynamics());
    srunner_add_suite(sr, suite_sap_in());
    srunner_add_suite(sr, suite_sap_cfg());
    srunner_add_suite(sr, suite_sap_out());
    srunner_add_suite(sr, suite_inbound());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
