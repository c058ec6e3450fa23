/* test_json.c — schema/json.c: documents read under treaty's limits, and the violation list. */
#include "schema/schema.h"
#include "common/err.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

Suite *suite_json(void);

static int load(const char *text, const struct schema_limits *l, json_t **out, char *msg,
                size_t len)
{
    return schema_json_load_buffer(text, strlen(text), "body", l, out, msg, len);
}

/* n nested arrays: "[[[ ]]]". */
static char *nested(size_t n)
{
    char *s = malloc(2 * n + 1);
    ck_assert_ptr_nonnull(s);
    memset(s, '[', n);
    memset(s + n, ']', n);
    s[2 * n] = '\0';
    return s;
}

START_TEST(test_load_buffer_ok)
{
    char msg[200];
    json_t *j = NULL;
    ck_assert_int_eq(load("{\"a\": [1, 2.5, \"x\"]}", NULL, &j, msg, sizeof msg), TR_OK);
    ck_assert(json_is_object(j));
    ck_assert_uint_eq(json_array_size(json_object_get(j, "a")), 3);
    json_decref(j);
    ck_assert_int_eq(load("17", NULL, &j, msg, sizeof msg),
                     TR_OK); /* any value, not only objects */
    ck_assert_int_eq(json_integer_value(j), 17);
    json_decref(j);
}
END_TEST

START_TEST(test_load_buffer_refusals)
{
    char msg[200];
    json_t *j = (json_t *)1;
    ck_assert_int_eq(load("{\"a\": 1,}", NULL, &j, msg, sizeof msg), TR_EPARSE);
    ck_assert_ptr_null(j);
    ck_assert_ptr_nonnull(strstr(msg, "body:1:"));
    ck_assert_int_eq(load("{\"a\": 1, \"a\": 2}", NULL, &j, msg, sizeof msg), TR_EPARSE);
    ck_assert_int_eq(load("\"\xff\xfe\"", NULL, &j, msg, sizeof msg), TR_EPARSE);
    struct schema_limits l;
    schema_limits_default(&l);
    l.max_doc_bytes = 8;
    ck_assert_int_eq(load("[1,2,3,4,5]", &l, &j, msg, sizeof msg), TR_ELIMIT);
    ck_assert_ptr_nonnull(strstr(msg, "over the limit of 8 bytes"));
}
END_TEST

START_TEST(test_load_buffer_depth_edge)
{
    char msg[200];
    json_t *j = NULL;
    struct schema_limits l;
    schema_limits_default(&l);
    l.max_depth = 16;
    char *ok = nested(16), *deep = nested(17);
    ck_assert_int_eq(load(ok, &l, &j, msg, sizeof msg), TR_OK);
    json_decref(j);
    ck_assert_int_eq(load(deep, &l, &j, msg, sizeof msg), TR_ELIMIT);
    ck_assert_ptr_nonnull(strstr(msg, "deeper than the limit of 16"));
    /* Brackets inside strings are not nesting. */
    ck_assert_int_eq(load("[\"[[[[[[[[[[[[[[[[[[[[\\\"[[[[\"]", &l, &j, msg, sizeof msg), TR_OK);
    json_decref(j);
    free(ok);
    free(deep);
    /* 10,000 levels with the default limit: refused before jansson recurses. */
    char *huge = nested(10000);
    ck_assert_int_eq(load(huge, NULL, &j, msg, sizeof msg), TR_ELIMIT);
    free(huge);
}
END_TEST

START_TEST(test_load_file)
{
    char msg[300];
    json_t *j = NULL;
    ck_assert_int_eq(schema_json_load_file(TREATY_SOURCE_DIR "/examples/supply-chain.json", NULL,
                                           &j, msg, sizeof msg),
                     TR_OK);
    ck_assert(json_is_object(json_object_get(json_object_get(j, "properties"), "Shipment")));
    json_decref(j);
    ck_assert_int_eq(
        schema_json_load_file("/nonexistent/treaty-h1.json", NULL, &j, msg, sizeof msg), TR_EIO);
    ck_assert_ptr_nonnull(strstr(msg, "/nonexistent/treaty-h1.json"));

    char path[] = "/tmp/treaty-test-json-XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, "[1, 2, 3, 4, 5, 6]", 18), 18);
    close(fd);
    struct schema_limits l;
    schema_limits_default(&l);
    l.max_doc_bytes = 10;
    ck_assert_int_eq(schema_json_load_file(path, &l, &j, msg, sizeof msg), TR_ELIMIT);
    l.max_doc_bytes = 18;
    ck_assert_int_eq(schema_json_load_file(path, &l, &j, msg, sizeof msg), TR_OK);
    json_decref(j);
    unlink(path);
}
END_TEST

START_TEST(test_errors_list)
{
    struct schema_errors e;
    schema_errors_init(&e, 0);
    ck_assert_uint_eq(e.max, 100);
    ck_assert_uint_eq(e.len, 0);
    schema_errors_init(&e, 3);
    ck_assert_uint_eq(e.max, 3);
    json_t *arr = schema_errors_to_json(&e);
    ck_assert_uint_eq(json_array_size(arr), 0);
    json_decref(arr);
    schema_errors_free(&e);
    schema_errors_free(NULL);
}
END_TEST

Suite *suite_json(void)
{
    Suite *s = suite_create("json");
    TCase *tc = tcase_create("load");
    tcase_add_test(tc, test_load_buffer_ok);
    tcase_add_test(tc, test_load_buffer_refusals);
    tcase_add_test(tc, test_load_buffer_depth_edge);
    tcase_add_test(tc, test_load_file);
    tcase_add_test(tc, test_errors_list);
    suite_add_tcase(s, tc);
    return s;
}
