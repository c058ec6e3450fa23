/* test_json_parse.c — schema_json_parse_fast against jansson's json_loadb(JSON_REJECT_DUPLICATES):
 * whatever the fast path takes, jansson takes too and builds the same document (same value
 * types, same key order: compared through jansson's own unsorted dump); what it must take (the
 * common case) it does take; and seeded random documents and byte mutations of them never make
 * the two disagree. */
#include "common/prng.h"
#include "schema/schema.h"
#include "tests/unit/schema/json_random.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

Suite *suite_json_parse(void);

/* Parses buf both ways; fails the test on any disagreement. Returns whether the fast path took
 * it. */
static bool agree(const char *buf, size_t len)
{
    json_t *fast = (json_t *)1;
    json_error_t err;
    bool took = schema_json_parse_fast(buf, len, &fast);
    json_t *ref = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &err);
    if (!took) {
        ck_assert_ptr_null(fast);
    } else {
        ck_assert_msg(json_is_object(ref), "fast path took what jansson refuses: %.*s (%s)",
                      (int)len, buf, err.text);
        char *a = json_dumps(fast, JSON_COMPACT), *b = json_dumps(ref, JSON_COMPACT);
        ck_assert_ptr_nonnull(a);
        ck_assert_ptr_nonnull(b);
        ck_assert_str_eq(a, b);
        ck_assert(json_equal(fast, ref));
        free(a);
        free(b);
        json_decref(fast);
    }
    /* the wrapper gives jansson's answer either way */
    json_t *wrapped = schema_json_loadb(buf, len, JSON_REJECT_DUPLICATES, NULL);
    ck_assert(ref ? wrapped && json_equal(wrapped, ref) : wrapped == NULL);
    json_decref(wrapped);
    json_decref(ref);
    return took;
}

static bool agree_s(const char *s)
{
    return agree(s, strlen(s));
}

START_TEST(takes_the_common_case)
{
    ck_assert(agree_s("{}"));
    ck_assert(agree_s(" \t\r\n{ } \n"));
    ck_assert(agree_s("{\"shipmentId\":\"SHP-00000001\",\"origin\":\"Rotterdam\",\"qty\":12,"
                      "\"weight\":1.5e3,\"fragile\":false,\"note\":null,\"ok\":true,"
                      "\"checkpoints\":[{\"at\":\"x\",\"n\":-7},[],{}],\"z\":-0,\"r\":-0.0}"));
    ck_assert(agree_s("{\"esc\":\"a\\\"b\\\\c\\/d\\be\\ff\\ng\\rh\\ti\",\"\":\"empty key\"}"));
    ck_assert(agree_s("{\"big\":999999999999999999,\"neg\":-999999999999999999}"));
    ck_assert(agree_s("{\"r\":0.1,\"e\":1E+2,\"f\":2e-2,\"u\":1e-400,\"d\":5e-324}"));
    ck_assert(agree_s("{\"a\":{\"b\":{\"c\":[1,[2,[3]]]}}}"));
}
END_TEST

START_TEST(leaves_the_rest_to_jansson)
{
    const char *cases[] = {
        "",
        "[]",
        "[1,2]",
        "\"s\"",
        "1",
        "{",
        "}",
        "{\"a\"}",
        "{\"a\":}",
        "{\"a\":1,}",
        "{\"a\":1 \"b\":2}",
        "{,}",
        "{\"a\":1}x",
        "{\"a\":1}{}",
        "{\"a\":1,\"a\":2}",
        "{\"a\":{\"b\":1,\"b\":1}}",
        "{\"a\":01}",
        "{\"a\":-}",
        "{\"a\":+1}",
        "{\"a\":1.}",
        "{\"a\":.5}",
        "{\"a\":1e}",
        "{\"a\":1e+}",
        "{\"a\":1.5.3}",
        "{\"a\":1e400}",
        "{\"a\":-1e400}",
        "{\"a\":9223372036854775807}",
        "{\"a\":9223372036854775808}",
        "{\"a\":-9223372036854775809}",
        "{\"a\":1234567890123456789}",
        "{\"a\":tru}",
        "{\"a\":truex}",
        "{\"a\":true1}",
        "{\"a\":nul}",
        "{\"a\":NULL}",
        "{\"a\":\"\\u0041\"}",
        "{\"a\":\"\\u0000\"}",
        "{\"a\":\"\\ud800\"}",
        "{\"a\":\"\\x\"}",
        "{\"a\":\"\\\"}",
        "{\"a\":\"tab\there\"}",
        "{\"a\":\"caf\xc3\xa9\"}",
        "{\"a\":\"bad \xc3\"}",
        "{\"a\":\"\xff\"}",
        "{\"\xc3\xa9\":1}",
        "{\"a\":\"unterminated}",
        "{\"a\":[1,2}",
        "{\"a\":[1,]}",
        "{\"a\":[,1]}",
        "\xef\xbb\xbf{}",
        "{\"a\":1}\x0c",
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        agree_s(cases[i]);
    /* without JSON_REJECT_DUPLICATES the wrapper keeps jansson's last value */
    json_t *dup = schema_json_loadb("{\"a\":1,\"a\":2}", 13, 0, NULL);
    ck_assert_int_eq(json_integer_value(json_object_get(dup, "a")), 2);
    json_decref(dup);
    static const char with_nul[] = "{\"a\":1}\0";
    agree(with_nul, sizeof with_nul - 1);
    static const char nul_in[] = "{\"a\":\"x\0y\"}";
    ck_assert(!agree(nul_in, sizeof nul_in - 1));
    /* nesting past the fast path's depth: jansson decides (it allows 2048 levels) */
    char deep[2 * 600 + 16];
    size_t n = 0;
    deep[n++] = '{';
    memcpy(deep + n, "\"a\":", 4);
    n += 4;
    for (int i = 0; i < 600; i++)
        deep[n++] = '[';
    for (int i = 0; i < 600; i++)
        deep[n++] = ']';
    deep[n++] = '}';
    ck_assert(!agree(deep, n));
}
END_TEST

START_TEST(random_documents_and_mutations)
{
    static const char inject[] = "{}[],:\"\\ 0-+.eE1aunlt\x01\x80\xc3";
    struct tr_prng p;
    tr_prng_seed(&p, 4242);
    int took = 0, total = 0;
    for (int i = 0; i < 2000; i++) {
        json_t *doc = json_object();
        json_object_set_new(doc, "k", json_random_value(&p, 1));
        json_object_set_new(doc, "j", json_random_value(&p, 1));
        char *text = json_dumps(doc, JSON_COMPACT | (i % 2 ? 0 : JSON_INDENT(1)));
        json_decref(doc);
        ck_assert_ptr_nonnull(text);
        size_t len = strlen(text);
        took += agree(text, len);
        total++;
        for (int m = 0; m < 8; m++) {
            char *mut = malloc(len + 2);
            ck_assert_ptr_nonnull(mut);
            memcpy(mut, text, len + 1);
            size_t at = (size_t)tr_prng_below(&p, len);
            size_t mlen = len;
            switch (tr_prng_below(&p, 3)) {
            case 0:
                mut[at] = inject[tr_prng_below(&p, sizeof inject - 1)];
                break;
            case 1:
                memmove(mut + at, mut + at + 1, len - at);
                mlen--;
                break;
            default:
                memmove(mut + at + 1, mut + at, len - at + 1);
                mut[at] = inject[tr_prng_below(&p, sizeof inject - 1)];
                mlen++;
            }
            took += agree(mut, mlen);
            total++;
            free(mut);
        }
        free(text);
    }
    /* the generator's strings often hold \u escapes or UTF-8, which jansson takes; enough are
     * plain for the fast path to be exercised */
    ck_assert_int_gt(took, total / 20);
}
END_TEST

Suite *suite_json_parse(void)
{
    Suite *s = suite_create("json_parse");
    TCase *tc = tcase_create("json_parse");
    tcase_set_timeout(tc, 30); /* 18,000 inputs parsed three ways; slow under the sanitizers */
    tcase_add_test(tc, takes_the_common_case);
    tcase_add_test(tc, leaves_the_rest_to_jansson);
    tcase_add_test(tc, random_documents_and_mutations);
    suite_add_tcase(s, tc);
    return s;
}
