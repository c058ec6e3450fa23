/* test_json_arena.c — node/json_arena.c: inside a scope jansson allocates from the block and frees
 * into it; the scope's end empties it; what does not fit, and what was allocated before the
 * scope, goes through malloc and free (the sanitizer build's leak check holds the test to that);
 * no nesting; someone else's jansson allocator turns it off. */
#include "node/json_arena.h"

#include "common/alloc.h"

#include <check.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

Suite *suite_json_arena(void);

static json_t *doc_of(size_t members)
{
    json_t *o = json_object();
    for (size_t i = 0; i < members; i++) {
        char k[32];
        snprintf(k, sizeof k, "field-%zu", i);
        json_object_set_new(o, k, json_pack("{s:s, s:[i,i]}", "v", "some text", "n", 1, 2));
    }
    return o;
}

START_TEST(scope_allocates_from_the_block)
{
    struct json_arena a;
    json_arena_init(&a, 64 << 10);
    json_t *before = json_string("made before the scope");
    ck_assert(json_arena_begin(&a));
    ck_assert_ptr_nonnull(a.buf);
    json_t *d = json_loads("{\"a\":[1,2,{\"b\":\"c\"}],\"d\":true}", 0, NULL);
    ck_assert_ptr_nonnull(d);
    ck_assert_uint_gt(a.used, 0);
    ck_assert_str_eq(
        json_string_value(json_object_get(json_array_get(json_object_get(d, "a"), 2), "b")), "c");
    size_t used = a.used;
    json_decref(d); /* frees into the block: nothing is given back until the end */
    ck_assert_uint_eq(a.used, used);
    json_decref(before);              /* made by malloc: freed by free */
    ck_assert(!json_arena_begin(&a)); /* no nesting */
    ck_assert_uint_eq(a.fallbacks, 0);
    json_arena_end(&a);
    ck_assert_uint_eq(a.used, 0);
    /* outside a scope jansson uses malloc again */
    json_t *after = doc_of(3);
    ck_assert_uint_eq(a.used, 0);
    json_decref(after);
    json_arena_end(&a); /* without a scope: nothing */
    json_arena_free(&a);
    ck_assert_ptr_null(a.buf);
}
END_TEST

START_TEST(what_does_not_fit_goes_to_malloc)
{
    struct json_arena a;
    json_arena_init(&a, 2048);
    ck_assert(json_arena_begin(&a));
    json_t *d = doc_of(200);
    ck_assert_uint_eq(json_object_size(d), 200);
    ck_assert_uint_gt(a.fallbacks, 0);
    ck_assert_uint_le(a.used, a.cap);
    json_decref(d);
    json_arena_end(&a);
    json_arena_free(&a);
    /* the block itself cannot be allocated: no scope, jansson as usual */
    json_arena_init(&a, 4096);
    tr_alloc_fail_after(1);
    ck_assert(!json_arena_begin(&a));
    tr_alloc_fail_reset();
    json_decref(doc_of(2));
    json_arena_free(&a);
}
END_TEST

static void *other_malloc(size_t n)
{
    return malloc(n);
}

static void other_free(void *p)
{
    free(p);
}

START_TEST(another_allocator_turns_it_off)
{
    struct json_arena a;
    json_arena_init(&a, 4096);
    ck_assert(json_arena_begin(&a)); /* init installed this module's allocator */
    json_arena_end(&a);
    json_malloc_t m;
    json_free_t f;
    json_get_alloc_funcs(&m, &f);
    json_set_alloc_funcs(other_malloc, other_free);
    ck_assert(!json_arena_begin(&a));
    json_decref(doc_of(2));
    json_set_alloc_funcs(m, f);
    ck_assert(json_arena_begin(&a));
    json_arena_end(&a);
    json_arena_free(&a);
}
END_TEST

Suite *suite_json_arena(void)
{
    Suite *s = suite_create("json_arena");
    TCase *tc = tcase_create("json_arena");
    tcase_add_test(tc, scope_allocates_from_the_block);
    tcase_add_test(tc, what_does_not_fit_goes_to_malloc);
    tcase_add_test(tc, another_allocator_turns_it_off);
    suite_add_tcase(s, tc);
    return s;
}
