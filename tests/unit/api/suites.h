/* suites.h — X-macro list of the api module's Check suites: API_SUITE(name) names the suite that
 * test_<name>.c defines as `Suite *suite_<name>(void)`. main.c expands it twice (declare, add).
 * No include guard on purpose. */
API_SUITE(http)
API_SUITE(routes)
API_SUITE(problem)
API_SUITE(metrics)
API_SUITE(events)
API_SUITE(routes_query)
API_SUITE(auth)
API_SUITE(openapi)
API_SUITE(export)
API_SUITE(json_scan)
