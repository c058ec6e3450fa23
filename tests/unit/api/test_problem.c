/* test_problem.c — suite `problem` for api/problem.c: RFC 9457 members, filling a backend's
 * partial error body, and the 422 body listing schema violations. */
#include "api/api_int.h"

#include <check.h>
#include <string.h>

Suite *suite_problem(void);

START_TEST(problem_has_rfc9457_members)
{
    json_t *p = api__problem(404, "unknown-type", "no record type named \"X\"");
    ck_assert_str_eq(json_string_value(json_object_get(p, "type")),
                     "urn:treaty:problem:unknown-type");
    ck_assert_str_eq(json_string_value(json_object_get(p, "title")), "Not Found");
    ck_assert_int_eq(json_integer_value(json_object_get(p, "status")), 404);
    ck_assert_str_eq(json_string_value(json_object_get(p, "detail")), "no record type named \"X\"");
    json_decref(p);
    p = api__problem(413, NULL, NULL);
    ck_assert_str_eq(json_string_value(json_object_get(p, "type")), "about:blank");
    ck_assert_str_eq(json_string_value(json_object_get(p, "detail")), "Content Too Large");
    json_decref(p);
}
END_TEST

START_TEST(fill_keeps_what_the_backend_said)
{
    json_t *b = json_pack("{s:s, s:s}", "title", "Version conflict", "detail", "version: 2 != 3");
    api__problem_fill(b, 409);
    ck_assert_str_eq(json_string_value(json_object_get(b, "title")), "Version conflict");
    ck_assert_str_eq(json_string_value(json_object_get(b, "type")), "about:blank");
    ck_assert_int_eq(json_integer_value(json_object_get(b, "status")), 409);
    json_decref(b);
}
END_TEST

START_TEST(validation_lists_errors)
{
    struct schema_errors e;
    schema_errors_init(&e, 0);
    struct schema_error v[2] = {
        {"/qty", "/properties/Item/items/properties/qty/minimum", "must be >= 0"},
        {"", "/properties/Item/items/required", "missing required property id"}};
    e.v = v;
    e.len = 2;
    json_t *p = api__problem_validation("Item", &e);
    ck_assert_int_eq(json_integer_value(json_object_get(p, "status")), 422);
    ck_assert_ptr_nonnull(strstr(json_string_value(json_object_get(p, "detail")), "2 violations"));
    json_t *errs = json_object_get(p, "errors");
    ck_assert_uint_eq(json_array_size(errs), 2);
    json_t *e0 = json_array_get(errs, 0);
    ck_assert_str_eq(json_string_value(json_object_get(e0, "instancePath")), "/qty");
    ck_assert_str_eq(json_string_value(json_object_get(e0, "message")), "must be >= 0");
    json_decref(p);
}
END_TEST

START_TEST(reasons)
{
    ck_assert_str_eq(api__status_reason(431), "Request Header Fields Too Large");
    ck_assert_str_eq(api__status_reason(422), "Unprocessable Content");
    ck_assert_str_eq(api__status_reason(599), "Server Error");
}
END_TEST

Suite *suite_problem(void)
{
    Suite *s = suite_create("problem");
    TCase *tc = tcase_create("problem");
    tcase_add_test(tc, problem_has_rfc9457_members);
    tcase_add_test(tc, fill_keeps_what_the_backend_said);
    tcase_add_test(tc, validation_lists_errors);
    tcase_add_test(tc, reasons);
    suite_add_tcase(s, tc);
    return s;
}
