/* test_json_scan.c — suite `json_scan` for api/json_scan.c: top-level members found past
 * strings, escapes and nested objects that hold the same name; malformed text refused; a read by
 * key answered with the stored bytes is byte for byte what parsing and serializing gives. */
#include "harness.h"

#include "api/api_int.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

Suite *suite_json_scan(void);

static struct harness H;

static void setup(void)
{
    harness_start(&H, NULL);
}

static void teardown(void)
{
    harness_stop(&H);
}

/* The raw value of member name in text, or NULL (static buffer). */
static const char *member(const char *text, const char *name)
{
    static char out[256];
    const char *v;
    size_t n;
    if (api__json_member(text, strlen(text), name, &v, &n) != 0)
        return NULL;
    ck_assert_uint_lt(n, sizeof out);
    memcpy(out, v, n);
    out[n] = '\0';
    return out;
}

START_TEST(top_level_member_only)
{
    ck_assert_str_eq(member("{\"a\":1,\"_version\":12,\"z\":\"x\"}", "_version"), "12");
    /* the name inside an earlier string value, with escaped quotes */
    ck_assert_str_eq(member("{\"A\":\"x\\\"_version\\\":5\",\"_version\":7}", "_version"), "7");
    /* an escaped backslash right before a closing quote */
    ck_assert_str_eq(member("{\"A\":\"\\\\\",\"_version\":4}", "_version"), "4");
    /* the same name in a nested object and array first */
    ck_assert_str_eq(
        member("{\"A\":{\"_version\":3,\"b\":[{\"_version\":8}]},\"_version\":9}", "_version"),
        "9");
    /* brackets inside strings do not count as nesting */
    ck_assert_str_eq(member("{\"A\":\"}{[\",\"B\":[\"]\"],\"_version\":2}", "_version"), "2");
    ck_assert_str_eq(member(" { \"k\" : \"v\" , \"n\" : -1.5e3 } ", "n"), "-1.5e3");
    ck_assert_str_eq(member("{\"o\":{\"p\":[1,2]}}", "o"), "{\"p\":[1,2]}");
    ck_assert_str_eq(member("{\"s\":\"t\"}", "s"), "\"t\"");
}
END_TEST

START_TEST(absent_or_malformed)
{
    ck_assert_ptr_null(member("{\"a\":{\"_version\":3}}", "_version"));
    ck_assert_ptr_null(member("{}", "_version"));
    ck_assert_ptr_null(member("[{\"_version\":1}]", "_version"));
    ck_assert_ptr_null(member("", "_version"));
    ck_assert_ptr_null(member("{\"a\":\"unterminated", "_version"));
    ck_assert_ptr_null(member("{\"a\":{\"b\":1", "_version"));
    ck_assert_ptr_null(member("{\"a\" 1,\"_version\":2}", "_version"));
    ck_assert_ptr_null(member("{\"a\":1 \"_version\":2}", "_version"));
    ck_assert_ptr_null(member("{\"_versio\":1}", "_version"));
}
END_TEST

/* A stored record (as the ledger writes it: compact, sorted keys) with strings that need
 * escapes, non-ASCII text, reals and a nested _version, answered without a parse: the body is
 * exactly what the parse-and-serialize path gives, the ETag is the top-level _version. */
START_TEST(stored_bytes_equal_parse_and_serialize)
{
    json_t *rec = json_pack("{s:s, s:s, s:f, s:f, s:{s:i}, s:[s,i], s:i, s:s, s:s}", "A",
                            "quote \" backslash \\ tab \t nl \n ctl \x01", "B",
                            "caf\xc3\xa9 \xe2\x82\xac", "c", 0.1, "d", 1e300, "e", "_version", 99,
                            "f", "}]", 3, "_version", 41, "_tx", "0123", "_key", "k1");
    char *stored = json_dumps(rec, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(rec);
    json_t *parsed = json_loads(stored, 0, NULL);
    char *want = json_dumps(parsed, JSON_COMPACT | JSON_ENCODE_ANY);
    json_decref(parsed);
    ck_assert_str_eq(want, stored);
    H.fb.record_json = stored;
    char buf[256];
    snprintf(buf, sizeof buf, "GET /v1/data/Item/k1 HTTP/1.1\r\nHost: t\r\n%s\r\n", AUTH_READER);
    struct response r;
    http_do(&H, buf, &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(r.etag, "\"41\"");
    ck_assert_str_eq(r.content_type, "application/json");
    ck_assert_str_eq(r.body, want);
    free(r.body);
    H.fb.record_json = NULL;
    free(stored);
    free(want);
}
END_TEST

Suite *suite_json_scan(void)
{
    Suite *s = suite_create("json_scan");
    TCase *tc = tcase_create("scan");
    tcase_add_test(tc, top_level_member_only);
    tcase_add_test(tc, absent_or_malformed);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, stored_bytes_equal_parse_and_serialize);
    suite_add_tcase(s, tc);
    return s;
}
