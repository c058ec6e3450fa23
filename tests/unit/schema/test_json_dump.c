/* test_json_dump.c — schema_json_dumps against jansson's own json_dumps, byte for byte: every
 * escape, integers at their limits, reals jansson formats specially, objects past the sort
 * buffer, and seeded random documents, with and without sorted keys. */
#include "common/prng.h"
#include "schema/schema.h"
#include "schema/json_text.h"
#include "tests/unit/schema/json_random.h"

#include <check.h>
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

Suite *suite_json_dump(void);

/* Both dumps of `v` must be equal, sorted and not; consumes v. */
static void same_as_jansson(json_t *v)
{
    ck_assert_ptr_nonnull(v);
    for (int sort = 0; sort < 2; sort++) {
        char *want = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY | (sort ? JSON_SORT_KEYS : 0));
        size_t len = 0;
        char *got = schema_json_dumps(v, sort, &len);
        ck_assert_ptr_nonnull(want);
        ck_assert_ptr_nonnull(got);
        ck_assert_str_eq(got, want);
        ck_assert_uint_eq(len, strlen(want));
        free(want);
        free(got);
    }
    json_decref(v);
}

START_TEST(scalars)
{
    same_as_jansson(json_null());
    same_as_jansson(json_true());
    same_as_jansson(json_false());
    const json_int_t ints[] = {0, 1, -1, 42, INT64_MAX, INT64_MIN, 1000000007};
    for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++)
        same_as_jansson(json_integer(ints[i]));
    const double reals[] = {0.0,     -0.0,    1.0,   -1.5,    0.1,     1e20,   1e21,
                            1e-7,    1e-300,  1e300, DBL_MAX, DBL_MIN, 5e-324, 123456789012345678.0,
                            -2.5e-5, 3.14159, 1e16,  1e17,    100.0,   2e-10};
    for (size_t i = 0; i < sizeof reals / sizeof reals[0]; i++)
        same_as_jansson(json_real(reals[i]));
    ck_assert_ptr_null(schema_json_dumps(NULL, false, NULL));
}
END_TEST

/* Reals of the short fixed form (n / 2^j) the serializer writes without snprintf, at their
 * edges and at random, and random doubles beside them: the same text as jansson's. */
START_TEST(reals_fixed_form_and_around)
{
    const double edges[] = {0.5,
                            -0.5,
                            0.0625,
                            -0.0625,
                            0.03125,
                            1e12,
                            -1e12,
                            999999999999.0,
                            999999999999.9375,
                            -999999999999.5,
                            1e12 - 1,
                            4096.0,
                            1250.5,
                            0.1,
                            0.2,
                            1.0 / 3.0,
                            2.75,
                            -1.25,
                            1e11 + 0.125,
                            7.0};
    for (size_t i = 0; i < sizeof edges / sizeof edges[0]; i++)
        same_as_jansson(json_real(edges[i]));
    struct tr_prng rng;
    tr_prng_seed(&rng, 20261201);
    for (int i = 0; i < 2000; i++) {
        int64_t n = (int64_t)(tr_prng_next(&rng) % 40000000000000ull) - 20000000000000ll;
        unsigned j = (unsigned)(tr_prng_next(&rng) % 7);
        same_as_jansson(json_real((double)n / (double)(1u << j)));
        double d;
        uint64_t bits = tr_prng_next(&rng);
        memcpy(&d, &bits, sizeof d);
        if (isfinite(d))
            same_as_jansson(json_real(d));
        same_as_jansson(json_real((double)(n % 100000) / 100.0));
    }
}
END_TEST

START_TEST(every_ascii_byte_and_utf8)
{
    for (int c = 0; c < 0x80; c++) {
        char s[4] = {'a', (char)c, 'z', 0};
        same_as_jansson(json_stringn(s, 3));
        json_t *o = json_object();
        char k[3] = {(char)(c ? c : 'k'), 'x', 0};
        json_object_set_new(o, k, json_stringn(s, 3));
        same_as_jansson(o);
    }
    same_as_jansson(json_string("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \xe2\x80\xa8 /"));
    same_as_jansson(json_string(""));
    same_as_jansson(json_string("\"\\\"\\\\"));
}
END_TEST

START_TEST(containers)
{
    same_as_jansson(json_object());
    same_as_jansson(json_array());
    json_t *big = json_object(); /* more keys than the sort's stack buffer */
    for (int i = 99; i >= 0; i--) {
        char k[16];
        snprintf(k, sizeof k, "k%02d%c", i, 'a' + i % 26);
        json_object_set_new(big, k, json_integer(i));
    }
    json_object_set_new(big, "_meta", json_pack("{s:[i,f,{}],s:{s:[]}}", "b", 1, 2.5, "a", "z"));
    json_object_set_new(big, "Upper", json_string("sorts before _"));
    same_as_jansson(big);
}
END_TEST

START_TEST(random_documents)
{
    struct tr_prng p;
    tr_prng_seed(&p, 20261130);
    for (int i = 0; i < 3000; i++)
        same_as_jansson(json_random_value(&p, 0));
}
END_TEST

/* The plain-run scan against a byte-by-byte one: every byte value at every position of
 * strings of every length up to 40 (so at each place in and across the eight-byte words), the
 * rest plain ('a', or 0xC3 when high bytes are plain). */
START_TEST(plain_run_every_byte_every_position)
{
    char buf[48];
    for (int high = 0; high < 2; high++) {
        for (size_t n = 0; n <= 40; n++) {
            for (size_t at = 0; at <= n; at++) {
                for (int c = 0; c < 256; c++) {
                    memset(buf, high ? 'a' : (char)0xC3, sizeof buf);
                    if (at < n)
                        buf[at] = (char)c;
                    size_t want = 0;
                    while (want < n) {
                        unsigned char b = (unsigned char)buf[want];
                        if (b < 0x20 || b == '"' || b == '\\' || (high && b >= 0x80))
                            break;
                        want++;
                    }
                    size_t got = schema__json_plain_run(buf, n, high != 0);
                    ck_assert_msg(got == want, "n=%zu at=%zu byte=0x%02x high=%d: %zu, want %zu", n,
                                  at, c, high, got, want);
                }
            }
        }
    }
}
END_TEST

Suite *suite_json_dump(void)
{
    Suite *s = suite_create("json_dump");
    TCase *tc = tcase_create("json_dump");
    tcase_add_test(tc, scalars);
    tcase_add_test(tc, reals_fixed_form_and_around);
    tcase_add_test(tc, every_ascii_byte_and_utf8);
    tcase_add_test(tc, containers);
    tcase_add_test(tc, random_documents);
    tcase_add_test(tc, plain_run_every_byte_every_position);
    tcase_set_timeout(tc, 30); /* thousands of reals dumped twice each way; slow under sanitizers */
    suite_add_tcase(s, tc);
    return s;
}
