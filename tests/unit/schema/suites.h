/* suites.h — the Check suites of test-unit-schema, one line each: SCHEMA_SUITE(name) means
 * `Suite *suite_<name>(void)`, defined in test_<name>.c. No include guard: an X-macro list. */
SCHEMA_SUITE(json)
SCHEMA_SUITE(json_dump)
SCHEMA_SUITE(json_parse)
SCHEMA_SUITE(regex)
SCHEMA_SUITE(compile)
SCHEMA_SUITE(validate)
SCHEMA_SUITE(network)
SCHEMA_SUITE(diff)
SCHEMA_SUITE(format)
SCHEMA_SUITE(acl)
SCHEMA_SUITE(describe)
