/* test_metrics.c — suite `metrics` for api/metrics.c over loopback HTTP with the fake backend:
 * GET /metrics counts requests by route template (never the raw path) and status, its histogram
 * buckets are cumulative and end with +Inf equal to _count, node values come from node_stats;
 * GET /readyz answers 200 or a 503 problem naming the failing condition. */
#include "harness.h"

#include "common/err.h"

#include <check.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

Suite *suite_metrics(void);

static struct harness H;

static void setup(void)
{
    harness_start(&H, NULL);
}

static void teardown(void)
{
    harness_stop(&H);
}

static struct response req(const char *method, const char *path, const char *body)
{
    char buf[512];
    snprintf(buf, sizeof buf,
             "%s %s HTTP/1.1\r\nHost: t\r\n" AUTH_JSON "Content-Length: %zu\r\n\r\n%s", method,
             path, body ? strlen(body) : 0, body ? body : "");
    struct response r;
    http_do(&H, buf, &r);
    return r;
}

static void req_status(const char *method, const char *path, const char *body, int status)
{
    struct response r = req(method, path, body);
    ck_assert_int_eq(r.status, status);
    free(r.body);
}

/* The value of the sample line that starts with `series` followed by a space; -1 if none. */
static double sample(const char *text, const char *series)
{
    size_t n = strlen(series);
    for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
        if (strncmp(p, series, n) == 0 && p[n] == ' ')
            return strtod(p + n + 1, NULL);
    return -1;
}

static struct response scrape(void)
{
    struct response r = req("GET", "/metrics", NULL);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(r.content_type, "text/plain; version=0.0.4; charset=utf-8");
    return r;
}

/* Bucket counts of route `route`'s duration histogram never decrease and +Inf equals _count. */
static void assert_histogram(const char *text, const char *name, const char *labels, double count)
{
    static const char *const les[] = {"0.001", "0.0025", "0.005", "0.01", "0.025", "0.05", "0.1",
                                      "0.25",  "0.5",    "1",     "2.5",  "5",     "10",   "+Inf"};
    char series[256];
    double prev = 0;
    for (size_t i = 0; i < sizeof les / sizeof les[0]; i++) {
        snprintf(series, sizeof series, "%s_bucket{%sle=\"%s\"}", name, labels, les[i]);
        double v = sample(text, series);
        ck_assert_msg(v >= prev, "%s is %g, below the previous bucket %g", series, v, prev);
        prev = v;
    }
    ck_assert_double_eq(prev, count);
    size_t ll = strlen(labels);
    snprintf(series, sizeof series, "%s_count{%.*s}", name, (int)ll - 1, labels);
    ck_assert_double_eq(sample(text, series), count);
}

START_TEST(requests_counted_by_route_template_and_status)
{
    req_status("POST", "/v1/data/Item", "{\"qty\":3,\"id\":\"a1\"}", 201);
    req_status("POST", "/v1/data/Item", "{\"qty\":4,\"id\":\"a2\"}", 201);
    req_status("POST", "/v1/data/Item", "{\"qty\":-1,\"id\":\"a3\"}", 422);
    req_status("GET", "/v1/data/Item/a1", NULL, 200);
    req_status("GET", "/v1/data/Item/a2", NULL, 200);
    req_status("GET", "/v1/data/Nope/a2", NULL, 404);
    req_status("GET", "/nowhere/at/all", NULL, 404);
    req_status("GET", "/healthz", NULL, 200);
    struct response r = scrape();
    const char *t = r.body;
    ck_assert_ptr_nonnull(strstr(t, "# HELP treaty_http_requests_total "));
    ck_assert_ptr_nonnull(strstr(t, "# TYPE treaty_http_requests_total counter\n"));
    ck_assert_ptr_nonnull(strstr(t, "# TYPE treaty_http_request_duration_seconds histogram\n"));
    ck_assert_double_eq(
        sample(t, "treaty_http_requests_total{route=\"/v1/data/{type}\",status=\"201\"}"), 2);
    ck_assert_double_eq(
        sample(t, "treaty_http_requests_total{route=\"/v1/data/{type}\",status=\"422\"}"), 1);
    ck_assert_double_eq(
        sample(t, "treaty_http_requests_total{route=\"/v1/data/{type}/{key}\",status=\"200\"}"), 2);
    ck_assert_double_eq(
        sample(t, "treaty_http_requests_total{route=\"/v1/data/{type}/{key}\",status=\"404\"}"), 1);
    ck_assert_double_eq(sample(t, "treaty_http_requests_total{route=\"other\",status=\"404\"}"), 1);
    ck_assert_double_eq(sample(t, "treaty_http_requests_total{route=\"/healthz\",status=\"200\"}"),
                        1);
    ck_assert_ptr_null(strstr(t, "/v1/data/Item"));
    ck_assert_ptr_null(strstr(t, "a1"));
    assert_histogram(t, "treaty_http_request_duration_seconds", "route=\"/v1/data/{type}\",", 3);
    assert_histogram(t, "treaty_http_request_duration_seconds", "route=\"/v1/data/{type}/{key}\",",
                     3);
    free(r.body);
    /* the first scrape is counted by the second */
    r = scrape();
    ck_assert_double_eq(
        sample(r.body, "treaty_http_requests_total{route=\"/metrics\",status=\"200\"}"), 1);
    free(r.body);
}
END_TEST

/* A histogram of bounds {1, 4, 16}: its TYPE line, cumulative buckets `le[]` (1, 4, 16, +Inf),
 * count and sum. */
static void assert_small_histogram(const char *text, const char *name, const double le[4],
                                   double sum)
{
    static const char *const bounds[] = {"1", "4", "16", "+Inf"};
    char series[128];
    snprintf(series, sizeof series, "# TYPE %s histogram\n", name);
    ck_assert_ptr_nonnull(strstr(text, series));
    for (size_t i = 0; i < 4; i++) {
        snprintf(series, sizeof series, "%s_bucket{le=\"%s\"}", name, bounds[i]);
        ck_assert_double_eq(sample(text, series), le[i]);
    }
    snprintf(series, sizeof series, "%s_count", name);
    ck_assert_double_eq(sample(text, series), le[3]);
    snprintf(series, sizeof series, "%s_sum", name);
    ck_assert_double_eq(sample(text, series), sum);
}

START_TEST(node_values_from_the_backend)
{
    static const double bounds[] = {1, 4, 16};
    struct api_histogram batch = {.bounds = bounds, .n_bounds = 3};
    api_histogram_observe(&batch, 1);
    api_histogram_observe(&batch, 3);
    api_histogram_observe(&batch, 4);
    api_histogram_observe(&batch, 100);
    struct api_histogram applies = {.bounds = bounds, .n_bounds = 3};
    api_histogram_observe(&applies, 2);
    api_histogram_observe(&applies, 5);
    H.fb.stats = (struct api_node_stats){.term = 7,
                                         .role = "leader",
                                         .leader_known = true,
                                         .commit_index = 42,
                                         .applied_index = 41,
                                         .voters = 3,
                                         .voters_connected = 3,
                                         .peers_connected = 2,
                                         .lmdb_map_bytes = 1 << 20,
                                         .lmdb_used_bytes = 8192,
                                         .log_syncs = 17,
                                         .batch_txs = &batch,
                                         .apply_entries = &applies};
    struct response r = scrape();
    const char *t = r.body;
    ck_assert_double_eq(sample(t, "treaty_raft_term"), 7);
    ck_assert_double_eq(sample(t, "treaty_raft_role{role=\"leader\"}"), 1);
    ck_assert_double_eq(sample(t, "treaty_raft_role{role=\"follower\"}"), 0);
    ck_assert_double_eq(sample(t, "treaty_raft_role{role=\"candidate\"}"), 0);
    ck_assert_double_eq(sample(t, "treaty_raft_commit_index"), 42);
    ck_assert_double_eq(sample(t, "treaty_raft_applied_index"), 41);
    ck_assert_double_eq(sample(t, "treaty_peers_connected"), 2);
    ck_assert_double_eq(sample(t, "treaty_lmdb_map_bytes"), 1 << 20);
    ck_assert_double_eq(sample(t, "treaty_lmdb_used_bytes"), 8192);
    ck_assert_double_eq(sample(t, "treaty_log_syncs_total"), 17);
    ck_assert_ptr_nonnull(strstr(t, "# TYPE treaty_log_syncs_total counter\n"));
    ck_assert_ptr_nonnull(strstr(t, "# TYPE treaty_raft_term gauge\n"));
    assert_small_histogram(t, "treaty_batch_txs", (const double[]){1, 3, 3, 4}, 108);
    ck_assert_ptr_null(strstr(t, "treaty_commit_latency_seconds")); /* not given: not reported */
    ck_assert_ptr_null(strstr(t, "treaty_persist_seconds"));
    ck_assert_ptr_null(strstr(t, "treaty_apply_seconds"));
    assert_small_histogram(t, "treaty_apply_entries", (const double[]){0, 1, 2, 2}, 7);
    free(r.body);
    H.fb.stats_rc = TR_EIO; /* the HTTP series stay */
    r = scrape();
    ck_assert_double_eq(sample(r.body, "treaty_raft_term"), -1);
    ck_assert_double_eq(
        sample(r.body, "treaty_http_requests_total{route=\"/metrics\",status=\"200\"}"), 1);
    free(r.body);
    req_status("POST", "/metrics", NULL, 405);
}
END_TEST

static void assert_not_ready(const char *needle)
{
    struct response r = req("GET", "/readyz", NULL);
    ck_assert_int_eq(r.status, 503);
    ck_assert_str_eq(r.content_type, "application/problem+json");
    json_t *j = response_json(&r);
    const char *d = json_string_value(json_object_get(j, "detail"));
    ck_assert_ptr_nonnull(d);
    ck_assert_msg(strstr(d, needle) != NULL, "detail \"%s\" lacks \"%s\"", d, needle);
    json_decref(j);
    free(r.body);
}

START_TEST(readyz_ready_and_each_failing_condition)
{
    H.fb.stats = (struct api_node_stats){.role = "follower",
                                         .leader_known = true,
                                         .commit_index = 100,
                                         .applied_index = 36,
                                         .voters = 3,
                                         .voters_connected = 2};
    struct response r = req("GET", "/readyz", NULL);
    ck_assert_int_eq(r.status, 200);
    json_t *j = response_json(&r);
    ck_assert(json_is_true(json_object_get(j, "ready")));
    ck_assert_str_eq(json_string_value(json_object_get(j, "role")), "follower");
    json_decref(j);
    free(r.body);

    H.fb.stats.applied_index = 35; /* 65 behind */
    assert_not_ready("trails commit index");
    H.fb.stats.applied_index = 100;
    H.fb.stats.voters_connected = 1;
    assert_not_ready("1 of 3 voters");
    H.fb.stats.voters_connected = 2;
    H.fb.stats.leader_known = false;
    assert_not_ready("no known leader");
    H.fb.stats.leader_known = true;
    H.fb.stats_rc = TR_EIO;
    assert_not_ready("not available");
    ck_assert_int_eq(H.fb.n_node_stats, 5);
    req_status("DELETE", "/readyz", NULL, 405);
}
END_TEST

Suite *suite_metrics(void)
{
    Suite *s = suite_create("metrics");
    TCase *tc = tcase_create("metrics");
    tcase_set_timeout(tc, 20);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, requests_counted_by_route_template_and_status);
    tcase_add_test(tc, node_values_from_the_backend);
    tcase_add_test(tc, readyz_ready_and_each_failing_condition);
    suite_add_tcase(s, tc);
    return s;
}
