/* test_regex.c — schema/regex.c: ECMA-262-like matching on PCRE2, limits, threads. */
#include "schema/regex.h"
#include "common/alloc.h"
#include "common/err.h"

#include <check.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

Suite *suite_regex(void);

/* Compiles `pattern` and searches `s`: 1, 0 or a TR_E* code. */
static int search(const char *pattern, const char *s)
{
    struct schema__regex *re = NULL;
    char msg[200];
    int rc = schema__regex_compile(pattern, strlen(pattern), &re, msg, sizeof msg);
    ck_assert_msg(rc == TR_OK, "compile %s: %s", pattern, msg);
    int m = schema__regex_search(re, s, strlen(s));
    schema__regex_destroy(re);
    return m;
}

START_TEST(test_unanchored_search)
{
    ck_assert_int_eq(search("b+", "aaabbbccc"), 1);
    ck_assert_int_eq(search("^b", "abc"), 0);
    ck_assert_int_eq(search("^SHP-[0-9]{4,12}$", "SHP-0001"), 1);
    ck_assert_int_eq(search("^SHP-[0-9]{4,12}$", "SHP-001"), 0);
    ck_assert_int_eq(search("^SHP-[0-9]{4,12}$", "xSHP-0001"), 0);
    ck_assert_int_eq(search("", "anything"), 1);
}
END_TEST

START_TEST(test_ecma_semantics)
{
    /* `$` only at the very end (no match before a final newline, unlike Perl). */
    ck_assert_int_eq(search("^abc$", "abc\n"), 0);
    ck_assert_int_eq(search("^abc$", "abc"), 1);
    /* \d and \w are ASCII in ECMA-262: ARABIC-INDIC DIGIT THREE and é are not matched. */
    ck_assert_int_eq(search("^\\d$", "\xd9\xa3"), 0);
    ck_assert_int_eq(search("^\\w$", "\xc3\xa9"), 0);
    ck_assert_int_eq(search("^\\d+$", "0123456789"), 1);
    /* UTF-8 aware: one code point is one `.`. */
    ck_assert_int_eq(search("^.$", "\xc3\xa9"), 1);
    /* \uHHHH escapes, [^] and [] as in ECMA-262. */
    ck_assert_int_eq(search("^\\u0041$", "A"), 1);
    ck_assert_int_eq(search("^[^]$", "\n"), 1);
    ck_assert_int_eq(search("[]", "abc"), 0);
    /* Back reference to a group that did not take part matches the empty string. */
    ck_assert_int_eq(search("^(?:(a)|b)\\1c$", "bc"), 1);
}
END_TEST

START_TEST(test_subject_with_nul)
{
    struct schema__regex *re = NULL;
    char msg[200];
    ck_assert_int_eq(schema__regex_compile("b$", 2, &re, msg, sizeof msg), TR_OK);
    ck_assert_int_eq(schema__regex_search(re, "a\0b", 3), 1);
    ck_assert_int_eq(schema__regex_search(re, "a\0b", 2), 0);
    /* Invalid UTF-8 in the subject is an error, not a crash or a silent match. */
    ck_assert_int_eq(schema__regex_search(re,
                                          "\xff"
                                          "b",
                                          2),
                     TR_EINVAL);
    schema__regex_destroy(re);
    schema__regex_destroy(NULL);
}
END_TEST

START_TEST(test_invalid_pattern)
{
    struct schema__regex *re = (struct schema__regex *)1;
    char msg[200] = "";
    ck_assert_int_eq(schema__regex_compile("a(b", 3, &re, msg, sizeof msg), TR_ESCHEMA);
    ck_assert_ptr_null(re);
    ck_assert_ptr_nonnull(strstr(msg, "offset 3"));
    ck_assert_int_eq(schema__regex_compile("[z-a]", 5, &re, msg, sizeof msg), TR_ESCHEMA);
    ck_assert_int_eq(schema__regex_compile("\\C", 2, &re, msg, sizeof msg), TR_ESCHEMA);
}
END_TEST

START_TEST(test_catastrophic_pattern_hits_limit)
{
    struct schema__regex *re = NULL;
    char msg[200];
    const char *p = "(a+)+$";
    ck_assert_int_eq(schema__regex_compile(p, strlen(p), &re, msg, sizeof msg), TR_OK);
    const char *s = "aaaaaaaaaaaaaaaaaaaaaaaaaaaa!";
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    ck_assert_int_eq(schema__regex_search(re, s, strlen(s)), TR_ELIMIT);
    clock_gettime(CLOCK_MONOTONIC, &b);
    double secs = (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9;
    ck_assert_msg(secs < 5.0, "limit took %.2f s", secs);
    /* The same regex still answers ordinary subjects. */
    ck_assert_int_eq(schema__regex_search(re, "aaa", 3), 1);
    schema__regex_destroy(re);
}
END_TEST

START_TEST(test_long_subject)
{
    /* Each repetition of a group costs stack: PCRE2's default 32 KiB JIT stack fails near 10,000
     * characters, the per-thread stack must not. */
    size_t n = 100000;
    char *s = malloc(n + 1);
    ck_assert_ptr_nonnull(s);
    memset(s, 'a', n);
    s[n] = '\0';
    ck_assert_int_eq(search("^(a|b)*$", s), 1);
    s[n - 1] = 'c';
    ck_assert_int_eq(search("^(a|b)*$", s), 0);
    free(s);
}
END_TEST

START_TEST(test_compile_out_of_memory)
{
    const char *p = "^[A-Z]{3}-(x|y)+$";
    for (long n = 1;; n++) {
        struct schema__regex *re = NULL;
        char msg[200];
        tr_alloc_fail_after(n);
        int rc = schema__regex_compile(p, strlen(p), &re, msg, sizeof msg);
        int fired = tr_alloc_fail_fired();
        tr_alloc_fail_reset();
        if (!fired) {
            ck_assert_int_eq(rc, TR_OK);
            ck_assert_int_eq(schema__regex_search(re, "ABC-xyx", 7), 1);
            schema__regex_destroy(re);
            break;
        }
        ck_assert_msg(rc == TR_ENOMEM || rc == TR_OK, "n=%ld rc=%d", n, rc);
        schema__regex_destroy(re);
        ck_assert_int_lt(n, 1000);
    }
}
END_TEST

struct thread_arg {
    const struct schema__regex *re;
    int mismatches;
};

static void *matcher(void *p)
{
    struct thread_arg *a = p;
    for (int i = 0; i < 20000; i++) {
        const char *s = (i & 1) ? "SHP-12345" : "SHP-12";
        if (schema__regex_search(a->re, s, strlen(s)) != (i & 1))
            a->mismatches++;
    }
    return NULL;
}

START_TEST(test_threads_share_a_regex)
{
    struct schema__regex *re = NULL;
    char msg[200];
    const char *p = "^SHP-[0-9]{4,12}$";
    ck_assert_int_eq(schema__regex_compile(p, strlen(p), &re, msg, sizeof msg), TR_OK);
    pthread_t t[4];
    struct thread_arg args[4];
    for (int i = 0; i < 4; i++) {
        args[i] = (struct thread_arg){re, 0};
        ck_assert_int_eq(pthread_create(&t[i], NULL, matcher, &args[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        ck_assert_int_eq(args[i].mismatches, 0);
    }
    schema__regex_destroy(re);
}
END_TEST

Suite *suite_regex(void)
{
    Suite *s = suite_create("regex");
    TCase *tc = tcase_create("pcre2");
    tcase_add_test(tc, test_unanchored_search);
    tcase_add_test(tc, test_ecma_semantics);
    tcase_add_test(tc, test_subject_with_nul);
    tcase_add_test(tc, test_invalid_pattern);
    tcase_add_test(tc, test_catastrophic_pattern_hits_limit);
    tcase_add_test(tc, test_long_subject);
    tcase_add_test(tc, test_compile_out_of_memory);
    tcase_add_test(tc, test_threads_share_a_regex);
    suite_add_tcase(s, tc);
    return s;
}
