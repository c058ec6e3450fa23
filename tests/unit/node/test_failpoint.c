/* test_failpoint.c — the crash points' table and TREATY_FAILPOINT parsing at its edges; in a build
 * with -DTREATY_FAILPOINTS=ON also the countdown and the role filter, the armed pass ending the
 * (forked) test process with SIGKILL. In other builds, that a set variable is refused. */
#include "node/failpoint.h"

#include <check.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

Suite *suite_failpoint(void);

static int arm(const char *spec, char *err, size_t errlen)
{
    err[0] = '\0';
    if (spec)
        setenv("TREATY_FAILPOINT", spec, 1);
    else
        unsetenv("TREATY_FAILPOINT");
    return failpoint_arm_env(err, errlen);
}

START_TEST(test_table)
{
    for (size_t i = 0; i < FAILPOINT_COUNT; i++) {
        const char *n = failpoint_name(i);
        ck_assert_ptr_nonnull(n);
        ck_assert_ptr_nonnull(failpoint_about(i));
        ck_assert_uint_gt(strlen(n), 0);
        ck_assert_uint_eq(strspn(n, "abcdefghijklmnopqrstuvwxyz-"), strlen(n));
        for (size_t j = 0; j < i; j++)
            ck_assert_str_ne(failpoint_name(j), n);
    }
    ck_assert_ptr_null(failpoint_name(FAILPOINT_COUNT));
    ck_assert_ptr_null(failpoint_about(FAILPOINT_COUNT));
}
END_TEST

START_TEST(test_unset_or_empty_arms_nothing)
{
    char err[256];
    ck_assert_int_eq(arm(NULL, err, sizeof err), 0);
    ck_assert_int_eq(arm("", err, sizeof err), 0);
    ck_assert_str_eq(err, "");
}
END_TEST

#ifdef TREATY_FAILPOINTS
START_TEST(test_bad_specs_refused)
{
    static const char *const bad[] = {
        "nope",
        "persist",
        "persist-begin:0",
        "persist-begin:1000001",
        "persist-begin:",
        "persist-begin:x",
        "persist-begin:-1",
        "persist-begin:1x",
        "persist-begin@",
        "persist-begin@boss",
        ":3",
        "@leader",
        "persist-begin:3@leader@follower",
        "PERSIST-BEGIN",
    };
    char err[256];
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ck_assert_msg(arm(bad[i], err, sizeof err) == -1, "accepted %s", bad[i]);
        ck_assert_ptr_nonnull(strstr(err, "TREATY_FAILPOINT="));
    }
}
END_TEST

START_TEST(test_good_specs_accepted)
{
    static const char *const good[] = {
        "persist-begin",       "answer-client:1",         "apply-merkle:1000000",
        "apply-cosign@leader", "apply-cosign:7@follower",
    };
    char err[256];
    ck_assert(failpoint_built());
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        ck_assert_msg(arm(good[i], err, sizeof err) == 0, "refused %s: %s", good[i], err);
}
END_TEST

/* The third pass through the armed point kills; other points and earlier passes do not. */
START_TEST(test_countdown_kills_at_count)
{
    char err[256];
    ck_assert_int_eq(arm("apply-merkle:3", err, sizeof err), 0);
    for (int i = 0; i < 10; i++)
        failpoint_hit(FAILPOINT_APPLY_COSIGN);
    failpoint_hit(FAILPOINT_APPLY_MERKLE);
    failpoint_hit(FAILPOINT_APPLY_MERKLE);
    failpoint_hit(FAILPOINT_APPLY_MERKLE); /* SIGKILL */
    ck_abort_msg("the third pass did not kill");
}
END_TEST

START_TEST(test_two_passes_survive)
{
    char err[256];
    ck_assert_int_eq(arm("apply-merkle:3", err, sizeof err), 0);
    failpoint_hit(FAILPOINT_APPLY_MERKLE);
    failpoint_hit(FAILPOINT_APPLY_MERKLE);
}
END_TEST

/* Armed @leader: passes while following do not count. */
START_TEST(test_role_filter)
{
    char err[256];
    ck_assert_int_eq(arm("persist-committed:2@leader", err, sizeof err), 0);
    failpoint_role_set(false);
    for (int i = 0; i < 5; i++)
        failpoint_hit(FAILPOINT_PERSIST_COMMITTED);
    failpoint_role_set(true);
    failpoint_hit(FAILPOINT_PERSIST_COMMITTED);
    failpoint_role_set(false);
    failpoint_hit(FAILPOINT_PERSIST_COMMITTED);
    failpoint_role_set(true);
    failpoint_hit(FAILPOINT_PERSIST_COMMITTED); /* the second pass as leader: SIGKILL */
    ck_abort_msg("the second pass as leader did not kill");
}
END_TEST
#else
START_TEST(test_refused_without_failpoints)
{
    char err[256];
    ck_assert(!failpoint_built());
    ck_assert_int_eq(arm("persist-begin", err, sizeof err), -1);
    ck_assert_ptr_nonnull(strstr(err, "this build has no failpoints"));
    ck_assert_int_eq(arm("nope", err, sizeof err), -1);
    /* The macros compile to nothing: their arguments are not evaluated. */
    int evaluated = 0;
    FAILPOINT_IF(++evaluated, PERSIST_BEGIN);
    FAILPOINT_ROLE(++evaluated);
    FAILPOINT(PERSIST_BEGIN);
    ck_assert_int_eq(evaluated, 0);
}
END_TEST
#endif

Suite *suite_failpoint(void)
{
    Suite *s = suite_create("failpoint");
    TCase *tc = tcase_create("failpoint");
    tcase_add_test(tc, test_table);
    tcase_add_test(tc, test_unset_or_empty_arms_nothing);
#ifdef TREATY_FAILPOINTS
    tcase_add_test(tc, test_bad_specs_refused);
    tcase_add_test(tc, test_good_specs_accepted);
    tcase_add_test_raise_signal(tc, test_countdown_kills_at_count, SIGKILL);
    tcase_add_test(tc, test_two_passes_survive);
    tcase_add_test_raise_signal(tc, test_role_filter, SIGKILL);
#else
    tcase_add_test(tc, test_refused_without_failpoints);
#endif
    suite_add_tcase(s, tc);
    return s;
}
