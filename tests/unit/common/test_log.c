/* test_log.c — log lines reach the injected sink in key=value form, levels filter, long lines
 * are truncated visibly, values are quoted when needed. */
#include "common/err.h"
#include "common/log.h"

#include <check.h>
#include <string.h>

Suite *suite_log(void);

static char last_line[2048];
static enum tr_log_level last_level;
static int lines;

static void capture(void *ctx, enum tr_log_level level, const char *line, size_t len)
{
    (void)ctx;
    memcpy(last_line, line, len);
    last_line[len] = '\0';
    last_level = level;
    lines++;
}

static void setup(void)
{
    struct tr_log_sink sink = {capture, NULL};
    tr_log_set_sink(&sink);
    tr_log_set_level(TR_LOG_INFO);
    lines = 0;
    last_line[0] = '\0';
}

static void teardown(void)
{
    tr_log_set_sink(NULL);
}

START_TEST(test_line_format)
{
    tr_log(TR_LOG_WARN, "peer_lost", "peer=%s after_ms=%d", "globex", 1500);
    ck_assert_int_eq(lines, 1);
    ck_assert_int_eq(last_level, TR_LOG_WARN);
    ck_assert_str_eq(last_line, "level=warn event=peer_lost peer=globex after_ms=1500");
    tr_log(TR_LOG_INFO, "start", NULL);
    ck_assert_str_eq(last_line, "level=info event=start");
}
END_TEST

START_TEST(test_level_filter)
{
    tr_log(TR_LOG_DEBUG, "noise", "x=%d", 1);
    ck_assert_int_eq(lines, 0);
    tr_log_set_level(TR_LOG_DEBUG);
    tr_log(TR_LOG_DEBUG, "noise", "x=%d", 1);
    ck_assert_int_eq(lines, 1);
    enum tr_log_level lv;
    ck_assert_int_eq(tr_log_level_parse("error", &lv), TR_OK);
    ck_assert_int_eq(lv, TR_LOG_ERROR);
    ck_assert_int_eq(tr_log_level_parse("loud", &lv), TR_EINVAL);
}
END_TEST

START_TEST(test_truncation)
{
    char big[3000];
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    tr_log(TR_LOG_ERROR, "big", "v=%s", big);
    size_t n = strlen(last_line);
    ck_assert_uint_lt(n, 1024);
    ck_assert_str_eq(last_line + n - strlen(" truncated=1"), " truncated=1");
}
END_TEST

START_TEST(test_quote)
{
    char buf[64];
    ck_assert_str_eq(tr_log_quote(buf, sizeof buf, "plain"), "plain");
    ck_assert_str_eq(tr_log_quote(buf, sizeof buf, "two words"), "\"two words\"");
    ck_assert_str_eq(tr_log_quote(buf, sizeof buf, "a\"b\\c\nd"), "\"a\\\"b\\\\c\\nd\"");
    ck_assert_str_eq(tr_log_quote(buf, sizeof buf, ""), "\"\"");
    ck_assert_str_eq(tr_log_quote(buf, sizeof buf, "k=v"), "\"k=v\"");
}
END_TEST

Suite *suite_log(void)
{
    Suite *s = suite_create("log");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_line_format);
    tcase_add_test(tc, test_level_filter);
    tcase_add_test(tc, test_truncation);
    tcase_add_test(tc, test_quote);
    suite_add_tcase(s, tc);
    return s;
}
