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

/* Parses `text` for its form with split "_"; *doc is the document (NULL when jansson refuses).
 * Whenever the text is called canonical it is the serializer's sorted text, byte for byte. */
static struct schema_json_canon canon_of(const char *text, size_t len, json_t **doc)
{
    struct schema_json_canon c = {.split = "_"};
    *doc = schema_json_loadb_canon(text, len, JSON_REJECT_DUPLICATES, NULL, &c);
    if (c.canonical) {
        ck_assert_ptr_nonnull(*doc);
        size_t dl = 0;
        char *d = schema_json_dumps(*doc, true, &dl);
        ck_assert_msg(dl == len && memcmp(d, text, len) == 0, "called canonical: %.*s", (int)len,
                      text);
        free(d);
        ck_assert_uint_le(c.split_at, len - 1);
    }
    return c;
}

static bool canonical_s(const char *text)
{
    json_t *doc;
    bool yes = canon_of(text, strlen(text), &doc).canonical;
    json_decref(doc);
    return yes;
}

static size_t split_s(const char *text)
{
    json_t *doc;
    struct schema_json_canon c = canon_of(text, strlen(text), &doc);
    ck_assert_msg(c.canonical, "not canonical: %s", text);
    json_decref(doc);
    return c.split_at;
}

START_TEST(canonical_text_and_split)
{
    ck_assert(canonical_s("{}"));
    ck_assert(canonical_s("{\"a\":1,\"b\":[true,null,{\"c\":\"x\\\"y\"}],\"c\":-12}"));
    ck_assert(canonical_s("{\"e\":\"q\\\"b\\\\s\\bb\\ff\\nn\\rr\\tt\",\"z\":\"~\x7f\"}"));
    ck_assert(canonical_s("{\"A\":{},\"B\":[],\"_\":false,\"a\":{\"x\":{\"y\":0}}}"));
    /* not the serializer's text */
    ck_assert(!canonical_s("{\"b\":1,\"a\":2}"));
    ck_assert(!canonical_s("{\"a\":{\"d\":1,\"c\":2}}"));
    ck_assert(!canonical_s("{\"a\":[{\"d\":1,\"c\":2}]}"));
    ck_assert(!canonical_s("{ \"a\":1}"));
    ck_assert(!canonical_s("{\"a\":1}\n"));
    ck_assert(!canonical_s("{\"a\":[1, 2]}"));
    ck_assert(!canonical_s("{\"a\":\"x\\/y\"}"));
    ck_assert(!canonical_s("{\"a\":-0}"));
    /* reals as the serializer prints them ("%.17g", ".0" for a whole number, a bare exponent) */
    ck_assert(canonical_s("{\"a\":1250.5,\"b\":-0.0,\"c\":1.0,\"d\":0.10000000000000001}"));
    ck_assert(canonical_s("{\"a\":1.0000000000000001e300,\"b\":2.5000000000000001e-5}"));
    ck_assert(!canonical_s("{\"a\":1e300}"));
    ck_assert(!canonical_s("{\"a\":1.0000000000000001e+300}"));
    ck_assert(!canonical_s("{\"a\":2.5000000000000001e-05}"));
    ck_assert(!canonical_s("{\"a\":1.5e0}"));
    ck_assert(!canonical_s("{\"a\":1e3}"));
    ck_assert(!canonical_s("{\"a\":0.1}"));
    ck_assert(!canonical_s("{\"a\":1.50}"));
    ck_assert(!canonical_s("{\"a\":1.0E2}"));
    /* conservatively not: long keys, what only jansson parses */
    ck_assert(!canonical_s("{\"a\":\"\\u0041\"}"));
    ck_assert(!canonical_s("{\"a\":\"caf\xc3\xa9\"}"));
    char longkey[300];
    snprintf(longkey, sizeof longkey, "{\"%0200d\":1}", 7);
    ck_assert(!canonical_s(longkey));
    ck_assert(!canonical_s("{\"a\":1,\"a\":2}"));
    /* where the top-level members after "_" start */
    ck_assert_uint_eq(split_s("{}"), 1);
    ck_assert_uint_eq(split_s("{\"A\":1}"), 6);
    ck_assert_uint_eq(split_s("{\"a\":1}"), 1);
    ck_assert_uint_eq(split_s("{\"A\":1,\"_\":{\"z\":1},\"a\":3}"), 19);
    ck_assert_uint_eq(split_s("{\"A\":1,\"_x\":2,\"b\":3}"), 7);
    ck_assert_uint_eq(split_s("{\"A\":{\"z\":1}}"), 12); /* nested keys do not count */
}
END_TEST

/* Seeded random objects as the serializer writes them (sorted) and in other forms: the form is
 * never misjudged, and the splice of metadata-like members gives the serializer's text of the
 * merged document whenever no top-level key starts with '_' past "_" (the ledger's rule). */
START_TEST(random_canonical_and_splice)
{
    struct tr_prng p;
    tr_prng_seed(&p, 777);
    int canonical = 0, spliced = 0, refused = 0;
    for (int i = 0; i < 3000; i++) {
        json_t *top = json_object();
        for (uint64_t n = tr_prng_below(&p, 10); n > 0; n--) {
            char k[12];
            snprintf(k, sizeof k, "%c%u", "_aAz\"\\"[tr_prng_below(&p, 6)],
                     (unsigned)tr_prng_below(&p, 100));
            json_object_set_new(top, k, json_random_value(&p, 2));
        }
        size_t len = 0;
        char *text = schema_json_dumps(top, true, &len);
        ck_assert_ptr_nonnull(text);
        json_t *doc;
        struct schema_json_canon c = canon_of(text, len, &doc);
        ck_assert(json_equal(doc, top));
        /* the same document unsorted or indented is canonical only if it is the same text */
        char *other = json_dumps(top, JSON_COMPACT | (i % 2 ? JSON_INDENT(1) : 0));
        json_t *odoc;
        canon_of(other, strlen(other), &odoc);
        json_decref(odoc);
        free(other);
        if (c.canonical) {
            canonical++;
            bool underscore = false;
            const char *key;
            json_t *v;
            json_object_foreach(top, key, v) underscore |= key[0] == '_' && key[1];
            bool rule =
                c.split_at + 1 < len && text[c.split_at] == '"' && text[c.split_at + 1] == '_';
            ck_assert_int_eq(rule, underscore);
            json_t *extra = json_pack("{s:s, s:I, s:s}", "_key", "k\"1\n", "_version",
                                      (json_int_t)tr_prng_below(&p, 1000), "_tx", "0af3");
            if (tr_prng_chance(&p, 1, 4))
                json_object_clear(extra);
            if (!underscore) {
                size_t sl = 0;
                char *got = schema_json_splice(text, len, c.split_at, extra, &sl);
                json_object_update(top, extra);
                size_t wl = 0;
                char *want = schema_json_dumps(top, true, &wl);
                ck_assert_msg(sl == wl && strcmp(got, want) == 0, "spliced %s, want %s", got, want);
                free(got);
                free(want);
                spliced++;
            }
            json_decref(extra);
        } else if (!doc) {
            refused++;
        }
        ck_assert_int_eq(refused, 0);
        json_decref(doc);
        json_decref(top);
        free(text);
    }
    /* reals, controls and UTF-8 in the generator's values keep many out; enough remain */
    ck_assert_int_gt(canonical, 300);
    ck_assert_int_gt(spliced, 100);
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
    tcase_add_test(tc, canonical_text_and_split);
    tcase_add_test(tc, random_canonical_and_splice);
    suite_add_tcase(s, tc);
    return s;
}
