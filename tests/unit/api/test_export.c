/* test_export.c — suite `export` for api/export.c over real loopback sockets and the fake
 * backend: bad ranges and parameters are 400 problems; a reader key may export; the records come
 * out in order and complete, ending with the terminal chunk; a client that stops reading holds
 * the node to a bounded number of records read ahead; a backend error mid-stream closes the
 * connection without the terminal chunk (the reader sees a truncated export). */
#include "harness.h"

#include "common/err.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

Suite *suite_export(void);

static void export_open(struct client *c, struct harness *h, const char *target)
{
    char req[256];
    snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: t\r\n" AUTH_READER "\r\n", target);
    client_open(c, h);
    client_sends(c, req);
}

static void refused(struct harness *h, const char *target, const char *type)
{
    char req[256];
    struct response r;
    snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: t\r\n" AUTH_READER "\r\n", target);
    http_do(h, req, &r);
    ck_assert_msg(r.status == 400, "%s: %d", target, r.status);
    json_t *j = response_json(&r);
    ck_assert_msg(strcmp(json_string_value(json_object_get(j, "type")), type) == 0, "%s: %s",
                  target, r.body);
    json_decref(j);
    free(r.body);
}

/* Record k of the fake is export_record_bytes bytes of value k & 0xff. */
static void check_records(const struct response *r, uint32_t n, uint32_t bytes)
{
    ck_assert_uint_eq(r->body_len, (size_t)n * bytes);
    for (uint32_t k = 0; k < n; k++)
        for (uint32_t i = 0; i < bytes; i += 997)
            ck_assert_uint_eq((uint8_t)r->body[(size_t)k * bytes + i], k & 0xff);
}

START_TEST(bad_ranges_and_parameters_are_400)
{
    struct harness h;
    harness_start(&h, NULL);
    h.fb.export_head = 10;
    const char *ranges[] = {"/v1/ledger/export?from=0", "/v1/ledger/export?from=5&to=4",
                            "/v1/ledger/export?to=11", "/v1/ledger/export?from=11"};
    for (size_t i = 0; i < sizeof ranges / sizeof ranges[0]; i++)
        refused(&h, ranges[i], "urn:treaty:problem:bad-range");
    const char *params[] = {"/v1/ledger/export?from=x", "/v1/ledger/export?bogus=1",
                            "/v1/ledger/export?from", "/v1/ledger/export?to=-1"};
    for (size_t i = 0; i < sizeof params / sizeof params[0]; i++)
        refused(&h, params[i], "urn:treaty:problem:bad-query");
    ck_assert_int_eq(h.fb.n_export_next, 0);
    harness_stop(&h);
}
END_TEST

START_TEST(records_in_order_then_the_end)
{
    struct harness h;
    harness_start(&h, NULL);
    h.fb.export_head = 7;
    h.fb.export_records = 300;
    h.fb.export_record_bytes = 10000;
    struct client c;
    export_open(&c, &h, "/v1/ledger/export?from=2");
    ck_assert_int_eq(client_wait(&c, 1, 10000), 1); /* complete: the terminal chunk came */
    ck_assert_int_eq(c.resp[0].status, 200);
    ck_assert_str_eq(c.resp[0].content_type, "application/vnd.treaty.audit-export");
    ck_assert_uint_eq(h.fb.last_export_from, 2);
    ck_assert_uint_eq(h.fb.last_export_to, 7); /* to defaults to the head */
    check_records(&c.resp[0], 300, 10000);
    ck_assert(client_wait_eof(&c, 2000));
    client_close(&c);
    harness_stop(&h);
}
END_TEST

START_TEST(a_client_that_stops_reading_bounds_the_read_ahead)
{
    struct harness h;
    harness_start(&h, NULL);
    h.fb.export_head = 1;
    h.fb.export_records = 48; /* 12 MiB in all */
    h.fb.export_record_bytes = 256 * 1024;
    struct client c;
    client_open(&c, &h);
    client_pause(&c);
    client_sends(&c, "GET /v1/ledger/export HTTP/1.1\r\nHost: t\r\n" AUTH_READER "\r\n");
    harness_run_for(&h, 700);
    /* 1 MiB queued plus what the kernel's loopback buffers hold (about 4 MiB here), never the
     * whole export */
    int ahead = h.fb.n_export_next;
    ck_assert_msg(ahead > 0 && ahead <= 40, "%d records read ahead", ahead);
    harness_run_for(&h, 300);
    ck_assert_int_eq(h.fb.n_export_next, ahead); /* nothing more while the client reads nothing */
    client_resume(&c);
    ck_assert_int_eq(client_wait(&c, 1, 60000), 1);
    check_records(&c.resp[0], 48, 256 * 1024);
    client_close(&c);
    harness_stop(&h);
}
END_TEST

START_TEST(a_backend_error_ends_without_the_terminal_chunk)
{
    struct harness h;
    harness_start(&h, NULL);
    h.fb.export_head = 1;
    h.fb.export_records = 50;
    h.fb.export_record_bytes = 1000;
    h.fb.export_fail_at = 20;
    struct client c;
    export_open(&c, &h, "/v1/ledger/export");
    ck_assert(client_wait_eof(&c, 5000));
    ck_assert_int_eq(c.n_resp, 0); /* the message never completed */
    client_close(&c);
    harness_stop(&h);
}
END_TEST

Suite *suite_export(void)
{
    Suite *s = suite_create("export");
    TCase *tc = tcase_create("export");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, bad_ranges_and_parameters_are_400);
    tcase_add_test(tc, records_in_order_then_the_end);
    tcase_add_test(tc, a_client_that_stops_reading_bounds_the_read_ahead);
    tcase_add_test(tc, a_backend_error_ends_without_the_terminal_chunk);
    suite_add_tcase(s, tc);
    return s;
}
