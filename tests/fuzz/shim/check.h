/* shim/check.h — stands in for <check.h> when the api fuzz targets compile the api unit tests'
 * harness (tests/unit/api/harness.c) outside a Check runner: Check's asserts report through the
 * runner's pipe, which a fuzzer has not got. Each assert the harness uses aborts with its
 * condition instead, a finding for libFuzzer and a crash for the corpus replay. */
#ifndef TREATY_TESTS_FUZZ_SHIM_CHECK_H
#define TREATY_TESTS_FUZZ_SHIM_CHECK_H

#include "tests/fuzz/fuzz.h"

#define ck_assert(c)             fuzz_check(c)
#define ck_assert_msg(c, ...)    fuzz_check(c)
#define ck_assert_int_eq(a, b)   fuzz_check((a) == (b))
#define ck_assert_int_lt(a, b)   fuzz_check((a) < (b))
#define ck_assert_uint_ne(a, b)  fuzz_check((a) != (b))
#define ck_assert_ptr_nonnull(p) fuzz_check((p) != NULL)

#endif
