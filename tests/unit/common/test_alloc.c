/* test_alloc.c — allocator hooks and countdown fault injection. */
#include "common/alloc.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

Suite *suite_alloc(void);

static int hook_calls;

static void *count_malloc(void *ctx, size_t size)
{
    (void)ctx;
    hook_calls++;
    return malloc(size);
}

static void *count_realloc(void *ctx, void *p, size_t size)
{
    (void)ctx;
    hook_calls++;
    return realloc(p, size);
}

static void count_free(void *ctx, void *p)
{
    (void)ctx;
    hook_calls++;
    free(p);
}

START_TEST(test_hooks_are_called)
{
    struct tr_alloc_hooks h = {count_malloc, count_realloc, count_free, NULL};
    tr_alloc_set_hooks(&h);
    hook_calls = 0;
    char *p = tr_strdup("treaty");
    ck_assert_str_eq(p, "treaty");
    p = tr_realloc(p, 64);
    tr_free(p);
    tr_free(NULL);
    ck_assert_int_eq(hook_calls, 3);
    tr_alloc_set_hooks(NULL);
}
END_TEST

START_TEST(test_countdown_fails_from_nth)
{
    tr_alloc_fail_after(3);
    void *a = tr_malloc(8), *b = tr_malloc(8);
    ck_assert_ptr_nonnull(a);
    ck_assert_ptr_nonnull(b);
    ck_assert_int_eq(tr_alloc_fail_fired(), 0);
    ck_assert_ptr_null(tr_malloc(8));
    ck_assert_ptr_null(tr_calloc(2, 8));
    ck_assert_int_eq(tr_alloc_fail_fired(), 1);
    tr_alloc_fail_reset();
    void *c = tr_malloc(8);
    ck_assert_ptr_nonnull(c);
    tr_free(a);
    tr_free(b);
    tr_free(c);
}
END_TEST

START_TEST(test_calloc_overflow_refused)
{
    ck_assert_ptr_null(tr_calloc((size_t)-1 / 2, 4));
    unsigned char *z = tr_calloc(4, 4);
    for (int i = 0; i < 16; i++)
        ck_assert_int_eq(z[i], 0);
    tr_free(z);
}
END_TEST

START_TEST(test_strndup)
{
    char *p = tr_strndup("abcdef", 3);
    ck_assert_str_eq(p, "abc");
    tr_free(p);
}
END_TEST

Suite *suite_alloc(void)
{
    Suite *s = suite_create("alloc");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_hooks_are_called);
    tcase_add_test(tc, test_countdown_fails_from_nth);
    tcase_add_test(tc, test_calloc_overflow_refused);
    tcase_add_test(tc, test_strndup);
    suite_add_tcase(s, tc);
    return s;
}
