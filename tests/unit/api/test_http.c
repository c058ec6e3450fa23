/* test_http.c — suite `http` for api/http.c over real loopback sockets: keep-alive reuse,
 * pipelined requests answered in order (sync and async backend), every limit at its edge (body,
 * head, connections, idle), malformed requests, Connection: close, HTTP/1.0 and graceful close
 * while a submit is pending. */
#include "harness.h"

#include "common/alloc.h"
#include "common/err.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

Suite *suite_http(void);

#define HEALTHZ "GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n"

START_TEST(keep_alive_reuses_the_connection)
{
    struct harness h;
    harness_start(&h, NULL);
    struct client c;
    client_open(&c, &h);
    client_sends(&c, HEALTHZ);
    ck_assert_int_eq(client_wait(&c, 1, 2000), 1);
    client_sends(&c, HEALTHZ);
    ck_assert_int_eq(client_wait(&c, 2, 2000), 2);
    for (int i = 0; i < 2; i++) {
        ck_assert_int_eq(c.resp[i].status, 200);
        ck_assert_str_eq(c.resp[i].content_type, "application/json");
        ck_assert_str_eq(c.resp[i].connection, "");
        ck_assert_str_eq(c.resp[i].body, "{\"status\":\"ok\"}");
    }
    harness_run_for(&h, 20);
    ck_assert(!c.eof);
    client_close(&c);
    harness_stop(&h);
}
END_TEST

static void pipelined(bool async)
{
    struct harness h;
    harness_start(&h, NULL);
    h.fb.async = async;
    struct client c;
    client_open(&c, &h);
    const char *body = "{\"id\":\"p1\",\"qty\":1}";
    char req[1024];
    snprintf(req, sizeof req,
             "POST /v1/data/Item HTTP/1.1\r\n" AUTH_JSON
             "Host: t\r\nContent-Length: %zu\r\n\r\n%s" HEALTHZ
             "GET /v1/members HTTP/1.1\r\n" AUTH_JSON "Host: t\r\n\r\n"
             "GET /v1/nothing HTTP/1.1\r\n" AUTH_JSON "Host: t\r\n\r\n",
             strlen(body), body);
    client_sends(&c, req); /* one write: the server sees all four requests at once */
    ck_assert_int_eq(client_wait(&c, 4, 3000), 4);
    ck_assert_int_eq(c.resp[0].status, 201);
    ck_assert_str_eq(c.resp[0].etag, "\"1\"");
    ck_assert_int_eq(c.resp[1].status, 200);
    ck_assert_str_eq(c.resp[1].body, "{\"status\":\"ok\"}");
    ck_assert_int_eq(c.resp[2].status, 200);
    ck_assert_ptr_nonnull(strstr(c.resp[2].body, "acme"));
    ck_assert_int_eq(c.resp[3].status, 404);
    ck_assert_int_eq(h.fb.n_submit, 1);
    ck_assert_int_eq(h.fb.n_members, 1);
    ck_assert(!c.eof);
    client_close(&c);
    harness_stop(&h);
}

START_TEST(pipelined_requests_answered_in_order_sync)
{
    pipelined(false);
}
END_TEST

START_TEST(pipelined_requests_answered_in_order_async)
{
    pipelined(true);
}
END_TEST

/* A server whose backend answers submits after 100 ms, and a client connected to it. */
static void slow_backend_client(struct harness *h, struct client *c)
{
    harness_start(h, NULL);
    h->fb.async = true;
    h->fb.delay_ms = 100;
    client_open(c, h);
}

/* While a slow submit waits for its answer, the requests pipelined behind it fill more than the
 * server's read buffer (16 KiB): the server reads what fits, stops, and answers every one in
 * order once the submit is done. */
START_TEST(pipelined_past_the_read_buffer)
{
    enum { GETS = CLIENT_RESP_MAX - 1, PAD = 1500 };
    struct harness h;
    struct client c;
    slow_backend_client(&h, &c);
    const char *body = "{\"id\":\"p2\",\"qty\":1}";
    size_t cap = 1024 + GETS * (PAD + 128), n = 0;
    char *req = malloc(cap);
    ck_assert_ptr_nonnull(req);
    n += (size_t)snprintf(req, cap,
                          "POST /v1/data/Item HTTP/1.1\r\n" AUTH_JSON
                          "Host: t\r\nContent-Length: %zu\r\n\r\n%s",
                          strlen(body), body);
    for (int i = 0; i < GETS; i++) {
        n += (size_t)snprintf(req + n, cap - n, "GET /healthz HTTP/1.1\r\nHost: t\r\nX-Pad: ");
        memset(req + n, 'a' + i, PAD);
        n += PAD;
        n += (size_t)snprintf(req + n, cap - n, "\r\n\r\n");
    }
    ck_assert_uint_gt(n, 16384 + PAD);
    client_send(&c, req, n);
    free(req);
    ck_assert_int_eq(client_wait(&c, GETS + 1, 5000), GETS + 1);
    ck_assert_int_eq(c.resp[0].status, 201);
    for (int i = 1; i <= GETS; i++) {
        ck_assert_int_eq(c.resp[i].status, 200);
        ck_assert_str_eq(c.resp[i].body, "{\"status\":\"ok\"}");
    }
    ck_assert_int_eq(h.fb.n_submit, 1);
    ck_assert(!c.eof);
    client_close(&c);
    harness_stop(&h);
}
END_TEST

/* A client that shuts its sending side right after a request still gets the answer, and then
 * the server closes. */
START_TEST(half_closed_client_gets_its_answer)
{
    struct harness h;
    struct client c;
    slow_backend_client(&h, &c);
    const char *body = "{\"id\":\"p3\",\"qty\":1}";
    char req[512];
    snprintf(req, sizeof req,
             "POST /v1/data/Item HTTP/1.1\r\n" AUTH_JSON "Host: t\r\nContent-Length: %zu\r\n\r\n%s",
             strlen(body), body);
    client_sends(&c, req);
    client_shutdown(&c);
    ck_assert_int_eq(client_wait(&c, 1, 3000), 1);
    ck_assert_int_eq(c.resp[0].status, 201);
    ck_assert(client_wait_eof(&c, 2000));
    client_close(&c);
    harness_stop(&h);
}
END_TEST

/* An answer larger than the socket can take while the client does not read goes out in parts
 * (the server's first write takes what fits, a queued write the rest): it arrives whole, and
 * the request pipelined behind it is answered after it. */
START_TEST(answer_larger_than_the_socket_buffer)
{
    enum { PAD = 8 << 20 };
    struct harness h;
    harness_start(&h, NULL);
    char *rec = malloc(PAD + 128);
    ck_assert_ptr_nonnull(rec);
    int n = snprintf(rec, 128, "{\"id\":\"a1\",\"qty\":3,\"_key\":\"a1\",\"_version\":3,\"z\":\"");
    memset(rec + n, 'z', PAD);
    memcpy(rec + n + PAD, "\"}", 3);
    h.fb.record_json = rec;
    struct client c;
    client_open(&c, &h);
    client_pause(&c);
    client_sends(&c, "GET /v1/data/Item/a1 HTTP/1.1\r\n" AUTH_JSON "Host: t\r\n\r\n" HEALTHZ);
    harness_run_for(&h, 200);
    ck_assert_int_eq(c.n_resp, 0);
    client_resume(&c);
    ck_assert_int_eq(client_wait(&c, 2, 10000), 2);
    ck_assert_int_eq(c.resp[0].status, 200);
    ck_assert_uint_eq(c.resp[0].body_len, strlen(rec));
    ck_assert_int_eq(memcmp(c.resp[0].body, rec, c.resp[0].body_len), 0);
    ck_assert_int_eq(c.resp[1].status, 200);
    ck_assert_str_eq(c.resp[1].body, "{\"status\":\"ok\"}");
    client_close(&c);
    harness_stop(&h);
    free(rec);
}
END_TEST

/* A POST whose body is `len` bytes: a valid Item padded with spaces. */
static void post_item_of_size(struct client *c, size_t len)
{
    const char *base = "{\"id\":\"big\",\"qty\":1}";
    ck_assert_uint_ge(len, strlen(base));
    char *buf = malloc(len + 256);
    ck_assert_ptr_nonnull(buf);
    int n = snprintf(
        buf, 256, "POST /v1/data/Item HTTP/1.1\r\n" AUTH_JSON "Content-Length: %zu\r\n\r\n", len);
    memcpy(buf + n, base, strlen(base));
    memset(buf + n + strlen(base), ' ', len - strlen(base));
    client_send(c, buf, (size_t)n + len);
    free(buf);
}

START_TEST(body_limit_edge)
{
    struct harness h;
    struct api_config cfg = {.body_max_bytes = 100};
    harness_start(&h, &cfg);
    struct client c;
    client_open(&c, &h);
    post_item_of_size(&c, 100);
    ck_assert_int_eq(client_wait(&c, 1, 2000), 1);
    ck_assert_int_eq(c.resp[0].status, 201);
    ck_assert_int_eq(h.fb.n_submit, 1);
    post_item_of_size(&c, 101);
    ck_assert_int_eq(client_wait(&c, 2, 2000), 2);
    ck_assert_int_eq(c.resp[1].status, 413);
    ck_assert_str_eq(c.resp[1].content_type, "application/problem+json");
    ck_assert_str_eq(c.resp[1].connection, "close");
    ck_assert_ptr_nonnull(strstr(c.resp[1].body, "larger than 100 bytes"));
    ck_assert(client_wait_eof(&c, 2000));
    ck_assert_int_eq(h.fb.n_submit, 1);
    client_close(&c);
    harness_stop(&h);
}
END_TEST

START_TEST(chunked_body_limit)
{
    struct harness h;
    struct api_config cfg = {.body_max_bytes = 30};
    harness_start(&h, &cfg);
    struct client c;
    client_open(&c, &h);
    client_sends(&c,
                 "POST /v1/data/Item HTTP/1.1\r\n" AUTH_JSON "Transfer-Encoding: chunked\r\n\r\n"
                 "14\r\n{\"id\":\"c\",\"qty\":1}  \r\n0\r\n\r\n"); /* 20 bytes: fits */
    ck_assert_int_eq(client_wait(&c, 1, 2000), 1);
    ck_assert_int_eq(c.resp[0].status, 201);
    client_sends(&c,
                 "POST /v1/data/Item HTTP/1.1\r\n" AUTH_JSON "Transfer-Encoding: chunked\r\n\r\n"
                 "14\r\n{\"id\":\"c\",\"qty\":1}  \r\nb\r\n           \r\n0\r\n\r\n"); /* 31 */
    ck_assert_int_eq(client_wait(&c, 2, 2000), 2);
    ck_assert_int_eq(c.resp[1].status, 413);
    ck_assert(client_wait_eof(&c, 2000));
    ck_assert_int_eq(h.fb.n_submit, 1);
    client_close(&c);
    harness_stop(&h);
}
END_TEST

/* A GET /healthz whose canonical head is exactly `len` bytes, padded by an X-Pad header. */
static void healthz_of_head_size(struct client *c, size_t len)
{
    const char *start = "GET /healthz HTTP/1.1\r\nX-Pad: ";
    size_t fixed = strlen(start) + 4; /* value's CRLF and the empty line */
    ck_assert_uint_gt(len, fixed);
    char *buf = malloc(len + 1);
    ck_assert_ptr_nonnull(buf);
    memcpy(buf, start, strlen(start));
    memset(buf + strlen(start), 'p', len - fixed);
    memcpy(buf + len - 4, "\r\n\r\n", 4);
    client_send(c, buf, len);
    free(buf);
}

START_TEST(header_limit_edge)
{
    struct harness h;
    struct api_config cfg = {.header_max_bytes = 300};
    harness_start(&h, &cfg);
    struct client c;
    client_open(&c, &h);
    healthz_of_head_size(&c, 300);
    ck_assert_int_eq(client_wait(&c, 1, 2000), 1);
    ck_assert_int_eq(c.resp[0].status, 200);
    healthz_of_head_size(&c, 301);
    ck_assert_int_eq(client_wait(&c, 2, 2000), 2);
    ck_assert_int_eq(c.resp[1].status, 431);
    ck_assert_str_eq(c.resp[1].connection, "close");
    ck_assert_str_eq(c.resp[1].content_type, "application/problem+json");
    ck_assert(client_wait_eof(&c, 2000));
    client_close(&c);
    harness_stop(&h);
}
END_TEST

START_TEST(connection_limit_edge)
{
    struct harness h;
    struct api_config cfg = {.max_connections = 2};
    harness_start(&h, &cfg);
    struct client c[3];
    for (int i = 0; i < 2; i++) {
        client_open(&c[i], &h);
        client_sends(&c[i], HEALTHZ);
        ck_assert_int_eq(client_wait(&c[i], 1, 2000), 1);
        ck_assert_int_eq(c[i].resp[0].status, 200);
    }
    client_open(&c[2], &h);
    ck_assert_int_eq(client_wait(&c[2], 1, 2000), 1);
    ck_assert_int_eq(c[2].resp[0].status, 503);
    ck_assert_str_eq(c[2].resp[0].connection, "close");
    ck_assert(client_wait_eof(&c[2], 2000));
    client_close(&c[2]);
    /* A freed slot is usable again once the server noticed the close. */
    client_close(&c[0]);
    harness_run_for(&h, 50);
    client_open(&c[2], &h);
    client_sends(&c[2], HEALTHZ);
    ck_assert_int_eq(client_wait(&c[2], 1, 2000), 1);
    ck_assert_int_eq(c[2].resp[0].status, 200);
    client_close(&c[2]);
    client_close(&c[1]);
    harness_stop(&h);
}
END_TEST

START_TEST(idle_connection_is_closed)
{
    struct harness h;
    struct api_config cfg = {.idle_timeout_ms = 80};
    harness_start(&h, &cfg);
    struct client c;
    client_open(&c, &h);
    client_sends(&c, HEALTHZ);
    ck_assert_int_eq(client_wait(&c, 1, 2000), 1);
    harness_run_for(&h, 30);
    ck_assert(!c.eof); /* not yet idle long enough */
    ck_assert(client_wait_eof(&c, 2000));
    ck_assert_int_eq(c.n_resp, 1);
    client_close(&c);
    harness_stop(&h);
}
END_TEST

/* Slowloris: a request dripping in a byte now and then gets 408 at the request deadline (reads
 * do not push it back) and is closed; a client next to it is served meanwhile. */
START_TEST(slow_request_gets_408)
{
    struct harness h;
    struct api_config cfg = {.idle_timeout_ms = 5000, .request_timeout_ms = 200};
    harness_start(&h, &cfg);
    struct client slow, fast;
    client_open(&slow, &h);
    client_open(&fast, &h);
    client_sends(&slow, "POST /v1/data/Item HTTP/1.1\r\n");
    int sent = 0;
    for (; sent < 40 && !slow.eof && slow.n_resp == 0; sent++) { /* up to 2 s of dripping */
        client_sends(&slow, "X");
        harness_run_for(&h, 50);
    }
    ck_assert_int_eq(client_wait(&slow, 1, 1000), 1);
    ck_assert_int_eq(slow.resp[0].status, 408);
    ck_assert_str_eq(slow.resp[0].content_type, "application/problem+json");
    ck_assert_ptr_nonnull(strstr(slow.resp[0].body, "not complete within 200 ms"));
    ck_assert_msg(sent >= 3 && sent <= 10, "answered after %d drips", sent);
    ck_assert(client_wait_eof(&slow, 1000));
    ck_assert_int_eq(h.fb.n_submit, 0);
    client_sends(&fast, HEALTHZ);
    ck_assert_int_eq(client_wait(&fast, 1, 2000), 1);
    ck_assert_int_eq(fast.resp[0].status, 200);
    /* a complete request on a kept-alive connection is not cut by the previous deadline */
    harness_run_for(&h, 300);
    client_sends(&fast, HEALTHZ);
    ck_assert_int_eq(client_wait(&fast, 2, 2000), 2);
    ck_assert_int_eq(fast.resp[1].status, 200);
    client_close(&slow);
    client_close(&fast);
    harness_stop(&h);
}
END_TEST

START_TEST(malformed_request_line_gets_400_and_close)
{
    struct harness h;
    harness_start(&h, NULL);
    struct client c;
    client_open(&c, &h);
    client_sends(&c, "GET /healthz HTTP/1.1 junk\r\n\r\n" HEALTHZ);
    ck_assert_int_eq(client_wait(&c, 1, 2000), 1);
    ck_assert_int_eq(c.resp[0].status, 400);
    ck_assert_str_eq(c.resp[0].content_type, "application/problem+json");
    ck_assert_str_eq(c.resp[0].connection, "close");
    json_t *j = response_json(&c.resp[0]);
    ck_assert_int_eq(json_integer_value(json_object_get(j, "status")), 400);
    ck_assert_ptr_nonnull(strstr(json_string_value(json_object_get(j, "detail")), "malformed"));
    json_decref(j);
    ck_assert(client_wait_eof(&c, 2000));
    ck_assert_int_eq(c.n_resp, 1); /* the request after the bad one is not answered */
    client_close(&c);
    harness_stop(&h);
}
END_TEST

/* RFC 9112 §5.1: whitespace before the colon (and any other non-token byte in a name) is a 400. */
START_TEST(header_name_with_space_gets_400)
{
    static const char *const bad[] = {"Transfer-Encoding : chunked\r\n", "Bad Header: x\r\n",
                                      "X\"Q: 1\r\n"};
    struct harness h;
    harness_start(&h, NULL);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char req[256];
        snprintf(req, sizeof req, "GET /healthz HTTP/1.1\r\nHost: t\r\n%s\r\n", bad[i]);
        struct response r;
        http_do(&h, req, &r);
        ck_assert_int_eq(r.status, 400);
        ck_assert_ptr_nonnull(strstr(r.body, "malformed HTTP request"));
        free(r.body);
    }
    struct response r;
    http_do(&h, "GET /healthz HTTP/1.1\r\nHost: t\r\nX-Ok_1.~!: v\r\n\r\n", &r);
    ck_assert_int_eq(r.status, 200);
    free(r.body);
    harness_stop(&h);
}
END_TEST

START_TEST(connection_close_header_closes)
{
    struct harness h;
    harness_start(&h, NULL);
    struct client c;
    client_open(&c, &h);
    client_sends(&c, "GET /healthz HTTP/1.1\r\nConnection: close\r\n\r\n" HEALTHZ);
    ck_assert_int_eq(client_wait(&c, 1, 2000), 1);
    ck_assert_int_eq(c.resp[0].status, 200);
    ck_assert_str_eq(c.resp[0].connection, "close");
    ck_assert(client_wait_eof(&c, 2000));
    ck_assert_int_eq(c.n_resp, 1);
    client_close(&c);
    harness_stop(&h);
}
END_TEST

START_TEST(http10_keep_alive_rules)
{
    struct harness h;
    harness_start(&h, NULL);
    struct client c;
    client_open(&c, &h);
    client_sends(&c, "GET /healthz HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    ck_assert_int_eq(client_wait(&c, 1, 2000), 1);
    ck_assert_str_eq(c.resp[0].connection, "keep-alive");
    client_sends(&c, "GET /healthz HTTP/1.0\r\n\r\n");
    ck_assert_int_eq(client_wait(&c, 2, 2000), 2);
    ck_assert_int_eq(c.resp[1].status, 200);
    ck_assert_str_eq(c.resp[1].connection, "close");
    ck_assert(client_wait_eof(&c, 2000));
    client_close(&c);
    harness_stop(&h);
}
END_TEST

START_TEST(expect_100_continue)
{
    struct harness h;
    harness_start(&h, NULL);
    struct client c;
    client_open(&c, &h);
    const char *body = "{\"id\":\"e1\",\"qty\":1}";
    char head[256];
    snprintf(head, sizeof head,
             "POST /v1/data/Item HTTP/1.1\r\n" AUTH_JSON
             "Expect: 100-continue\r\nContent-Length: %zu\r\n\r\n",
             strlen(body));
    client_sends(&c, head);
    ck_assert_int_eq(client_wait(&c, 1, 2000), 1);
    ck_assert_int_eq(c.resp[0].status, 100);
    ck_assert_int_eq(h.fb.n_submit, 0);
    client_sends(&c, body);
    ck_assert_int_eq(client_wait(&c, 2, 2000), 2);
    ck_assert_int_eq(c.resp[1].status, 201);
    ck_assert_int_eq(h.fb.n_submit, 1);
    client_close(&c);
    harness_stop(&h);
}
END_TEST

START_TEST(head_answer_has_no_content)
{
    struct harness h;
    harness_start(&h, NULL);
    struct client c;
    client_open(&c, &h);
    c.head_next = true;
    client_sends(&c, "HEAD /healthz HTTP/1.1\r\n\r\n" HEALTHZ);
    ck_assert_int_eq(client_wait(&c, 2, 2000), 2);
    ck_assert_int_eq(c.resp[0].status, 405);
    ck_assert_str_eq(c.resp[0].allow, "GET");
    ck_assert_ptr_null(c.resp[0].body);
    ck_assert_int_eq(c.resp[1].status, 200); /* parsed right after: no stray content bytes */
    ck_assert_str_eq(c.resp[1].body, "{\"status\":\"ok\"}");
    client_close(&c);
    harness_stop(&h);
}
END_TEST

static bool submit_seen(void *arg)
{
    return ((struct harness *)arg)->fb.n_submit > 0;
}

static bool api_done(void *arg)
{
    return ((struct harness *)arg)->api_closed;
}

START_TEST(graceful_close_finishes_pending_submit)
{
    struct harness h;
    harness_start(&h, NULL);
    h.fb.async = true;
    h.fb.delay_ms = 100;
    struct client busy, idle;
    client_open(&idle, &h);
    client_open(&busy, &h);
    const char *body = "{\"id\":\"g1\",\"qty\":2}";
    char req[256];
    snprintf(req, sizeof req,
             "POST /v1/data/Item HTTP/1.1\r\n" AUTH_JSON "Content-Length: %zu\r\n\r\n%s",
             strlen(body), body);
    client_sends(&busy, req);
    ck_assert(harness_run_until(&h, submit_seen, &h, 2000));
    harness_close_api(&h);
    ck_assert(client_wait_eof(&idle, 50)); /* an idle connection goes at once */
    ck_assert(!h.api_closed);
    ck_assert_int_eq(busy.n_resp, 0);
    ck_assert_int_eq(client_wait(&busy, 1, 2000), 1);
    ck_assert_int_eq(busy.resp[0].status, 201);
    ck_assert_str_eq(busy.resp[0].connection, "close");
    ck_assert(client_wait_eof(&busy, 2000));
    ck_assert(harness_run_until(&h, api_done, &h, 2000));
    ck_assert_int_eq(h.fb.n_answered, 1);
    /* The listener is gone: a new connection is refused. */
    struct client late;
    ck_assert_int_eq(client_try_open(&late, &h), UV_ECONNREFUSED);
    client_close(&late);
    client_close(&idle);
    client_close(&busy);
    harness_stop(&h);
}
END_TEST

/* Countdown fault injection over one connection carrying a create and a read: whichever
 * allocation fails, the server answers 500 or closes, and leaks nothing (ASan build). The walk
 * ends at the first countdown that never fires, so every allocation on the path was failed once. */
START_TEST(allocation_failures_answer_or_close)
{
    const char *body = "{\"id\":\"a b\",\"qty\":1}";
    char reqs[512];
    snprintf(reqs, sizeof reqs,
             "POST /v1/data/Item HTTP/1.1\r\n" AUTH_JSON
             "Idempotency-Key: k\r\nContent-Length: %zu\r\n\r\n%s"
             "GET /v1/data/Item/a%%20b HTTP/1.1\r\n" AUTH_JSON "If-Match: \"1\"\r\n\r\n",
             strlen(body), body);
    bool completed = false;
    long n;
    for (n = 1; n <= 200 && !completed; n++) {
        struct harness h;
        harness_start(&h, NULL);
        tr_alloc_fail_after(n);
        struct client c;
        client_open(&c, &h);
        client_sends(&c, reqs);
        client_wait(&c, 2, 3000);
        int fired = tr_alloc_fail_fired();
        tr_alloc_fail_reset();
        if (!fired) {
            completed = true;
            ck_assert_int_eq(c.n_resp, 2);
            ck_assert_int_eq(c.resp[0].status, 201);
            ck_assert_int_eq(c.resp[1].status, 200);
        } else {
            ck_assert_msg(c.n_resp == 2 || client_wait_eof(&c, 2000),
                          "countdown %ld: connection neither answered nor closed", n);
            for (int i = 0; i < c.n_resp; i++)
                ck_assert_msg(c.resp[i].status == 201 || c.resp[i].status == 200 ||
                                  c.resp[i].status == 500,
                              "countdown %ld: status %d", n, c.resp[i].status);
        }
        client_close(&c);
        harness_stop(&h);
    }
    ck_assert(completed);
    ck_assert_int_gt(n, 10); /* the path has a dozen allocations or more: the walk did walk */
}
END_TEST

START_TEST(create_rejects_bad_config)
{
    uv_loop_t loop;
    ck_assert_int_eq(uv_loop_init(&loop), 0);
    struct harness h;
    harness_start(&h, NULL);
    struct api_backend be = {0};
    struct api_config cfg = {.host = "127.0.0.1", .schema = h.schema};
    struct api *a = NULL;
    char err[256];
    ck_assert_int_eq(api_create(&loop, &cfg, &be, &a, err, sizeof err), TR_EINVAL);
    ck_assert_ptr_null(a);
    harness_stop(&h);
    ck_assert_int_eq(uv_loop_close(&loop), 0);
}
END_TEST

static void fake_submit_unused(void *ctx, json_t *tx, void *req, api_done_fn done,
                               api_record_done_fn done_record)
{
    (void)ctx, (void)tx, (void)req, (void)done, (void)done_record;
}
static int fake_get_unused(void *ctx, const char *t, const char *k, uint64_t v, char **j)
{
    (void)ctx, (void)t, (void)k, (void)v, (void)j;
    return TR_ENOTFOUND;
}
static int fake_json_unused(void *ctx, json_t **o)
{
    (void)ctx, (void)o;
    return TR_ENOTFOUND;
}
static int fake_tx_unused(void *ctx, const char *id, json_t **o)
{
    (void)ctx, (void)id, (void)o;
    return TR_ENOTFOUND;
}

START_TEST(create_reports_bad_address_and_port_in_use)
{
    struct harness h;
    harness_start(&h, NULL);
    struct api_backend be = {.submit = fake_submit_unused,
                             .record_get = fake_get_unused,
                             .head = fake_json_unused,
                             .tx_get = fake_tx_unused,
                             .members = fake_json_unused};
    struct api *a = NULL;
    char err[256];
    struct api_config cfg = {.host = "localhost", .schema = h.schema};
    ck_assert_int_eq(api_create(&h.loop, &cfg, &be, &a, err, sizeof err), TR_EINVAL);
    ck_assert_ptr_nonnull(strstr(err, "localhost"));
    cfg.host = "127.0.0.1";
    cfg.port = h.port;
    ck_assert_int_eq(api_create(&h.loop, &cfg, &be, &a, err, sizeof err), TR_EIO);
    ck_assert_ptr_nonnull(strstr(err, "address already in use"));
    ck_assert_ptr_null(a);
    cfg.port = 0;
    cfg.header_max_bytes = 100000;
    ck_assert_int_eq(api_create(&h.loop, &cfg, &be, &a, err, sizeof err), TR_EINVAL);
    ck_assert_ptr_nonnull(strstr(err, "header_max_bytes"));
    harness_stop(&h);
}
END_TEST

Suite *suite_http(void)
{
    Suite *s = suite_create("http");
    TCase *tc = tcase_create("server");
    tcase_set_timeout(tc, 20);
    tcase_add_test(tc, keep_alive_reuses_the_connection);
    tcase_add_test(tc, pipelined_requests_answered_in_order_sync);
    tcase_add_test(tc, pipelined_requests_answered_in_order_async);
    tcase_add_test(tc, pipelined_past_the_read_buffer);
    tcase_add_test(tc, half_closed_client_gets_its_answer);
    tcase_add_test(tc, answer_larger_than_the_socket_buffer);
    tcase_add_test(tc, body_limit_edge);
    tcase_add_test(tc, chunked_body_limit);
    tcase_add_test(tc, header_limit_edge);
    tcase_add_test(tc, connection_limit_edge);
    tcase_add_test(tc, idle_connection_is_closed);
    tcase_add_test(tc, slow_request_gets_408);
    tcase_add_test(tc, malformed_request_line_gets_400_and_close);
    tcase_add_test(tc, header_name_with_space_gets_400);
    tcase_add_test(tc, connection_close_header_closes);
    tcase_add_test(tc, http10_keep_alive_rules);
    tcase_add_test(tc, expect_100_continue);
    tcase_add_test(tc, head_answer_has_no_content);
    tcase_add_test(tc, graceful_close_finishes_pending_submit);
    tcase_add_test(tc, allocation_failures_answer_or_close);
    tcase_add_test(tc, create_rejects_bad_config);
    tcase_add_test(tc, create_reports_bad_address_and_port_in_use);
    suite_add_tcase(s, tc);
    return s;
}
