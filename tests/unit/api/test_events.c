/* test_events.c — suite `events` for api/events.c and api/http_stream.c over real loopback
 * sockets with the fake backend's blocks: the exact SSE text of a change, ids, live delivery on
 * api_events_notify, resume after Last-Event-ID and ?from= (the header wins), ?types=, read ACL
 * filtering and field redaction for the configured org, malformed ids and parameters (400), the
 * stream limit (503), heartbeats, paced catch-up over many blocks, a client that stops reading
 * (error event, then the end), a backend error, a client going away, api_close ending streams
 * cleanly, and an HTTP/1.0 stream. */
#include "harness.h"

#include "common/err.h"

#include <check.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

Suite *suite_events(void);

/* Doc: every Doc readable by its owner and globex, field secret by the owner only; Priv: by the
 * owner only; Pub: no ACL. The api runs as org globex. */
static const char EV_SCHEMA[] =
    "{\"type\":\"object\",\"properties\":{"
    "\"Doc\":{\"type\":\"array\",\"items\":{\"type\":\"object\",\"x-treaty-key\":\"id\","
    "\"x-treaty-acl\":{\"read\":[\"owner\",\"globex\"],\"fields\":{\"secret\":{\"read\":"
    "[\"owner\"]}}},\"required\":[\"id\"],\"properties\":{\"id\":{\"type\":\"string\"},"
    "\"secret\":{\"type\":\"string\"},\"blob\":{\"type\":\"string\"}}}},"
    "\"Priv\":{\"type\":\"array\",\"items\":{\"type\":\"object\",\"x-treaty-key\":\"id\","
    "\"x-treaty-acl\":{\"read\":[\"owner\"]},\"required\":[\"id\"],\"properties\":{\"id\":{"
    "\"type\":\"string\"}}}},"
    "\"Pub\":{\"type\":\"array\",\"items\":{\"type\":\"object\",\"x-treaty-key\":\"id\","
    "\"required\":[\"id\"],\"properties\":{\"id\":{\"type\":\"string\"}}}}}}";

/* A change of block h, index i, as the backend reports it; `blob_bytes` of filler in the record. */
static json_t *change(const char *type, const char *key, const char *owner, uint64_t h, size_t i,
                      size_t blob_bytes)
{
    char *blob = calloc(1, blob_bytes + 1);
    ck_assert_ptr_nonnull(blob);
    memset(blob, 'x', blob_bytes);
    json_t *rec = json_pack("{s:s, s:s, s:s, s:s, s:I}", "id", key, "secret", "s3", "blob", blob,
                            "_owner", owner, "_version", (json_int_t)1);
    free(blob);
    json_t *c = json_pack("{s:s, s:s, s:s, s:i, s:s, s:s, s:s, s:I, s:I, s:o}", "type", type, "key",
                          key, "op", "create", "version", 1, "owner", owner, "org", owner, "tx",
                          "0123456789abcdef0123456789abcdef", "height", (json_int_t)h, "index",
                          (json_int_t)i, "record", rec);
    ck_assert_ptr_nonnull(c);
    return c;
}

/* Block 1: Doc d1 of globex (secret kept), Priv p1 of acme (hidden), Doc d2 of acme (secret
 * redacted). Block 2: none. Block 3: Pub u1 of initech, Doc d3 of globex. */
static void three_blocks(struct harness *h)
{
    h->fb.blocks =
        json_pack("[[o,o,o],[],[o,o]]", change("Doc", "d1", "globex", 1, 0, 0),
                  change("Priv", "p1", "acme", 1, 1, 0), change("Doc", "d2", "acme", 1, 2, 0),
                  change("Pub", "u1", "initech", 3, 0, 0), change("Doc", "d3", "globex", 3, 1, 0));
    ck_assert_ptr_nonnull(h->fb.blocks);
}

static void start(struct harness *h, const struct api_config *cfg)
{
    struct api_config c = cfg ? *cfg : (struct api_config){0};
    c.org = "globex";
    harness_start_schema(h, &c, EV_SCHEMA);
}

/* Opens GET `target` with the extra header lines `hdrs` ("" or "Name: v\r\n..."). */
static void stream_open(struct client *c, struct harness *h, const char *target, const char *hdrs)
{
    char req[512];
    snprintf(req, sizeof req,
             "GET %s HTTP/1.1\r\nHost: t\r\nAccept: text/event-stream\r\n" AUTH_READER "%s\r\n",
             target, hdrs);
    client_open(c, h);
    client_sends(c, req);
}

/* The stream body so far ("" before any). */
static const char *body(const struct client *c)
{
    return c->resp[0].body ? c->resp[0].body : "";
}

static int count(const char *s, const char *needle)
{
    int n = 0;
    for (const char *p = strstr(s, needle); p; p = strstr(p + 1, needle))
        n++;
    return n;
}

struct want {
    struct client *c;
    const char *needle;
    int n, found;
    size_t from; /* the body is scanned once: matches before this offset are counted */
};

static bool has_n(void *arg)
{
    struct want *w = arg;
    const char *b = body(w->c);
    size_t len = w->c->resp[0].body ? w->c->resp[0].body_len : 0, nl = strlen(w->needle);
    for (const char *p = strstr(b + w->from, w->needle); p; p = strstr(p + 1, w->needle))
        w->found++;
    if (len >= nl && len - nl + 1 > w->from)
        w->from = len - nl + 1; /* a match starting later is not complete yet */
    return w->found >= w->n;
}

/* Runs the loop until the body holds `needle` n times; returns whether it did. */
static bool wait_for(struct client *c, const char *needle, int n, unsigned ms)
{
    struct want w = {c, needle, n, 0, 0};
    return harness_run_until(c->h, has_n, &w, ms);
}

/* The ids of the body's events, space-separated, into out. */
static void ids(const struct client *c, char *out, size_t cap)
{
    out[0] = '\0';
    size_t n = 0;
    const char *b = body(c);
    for (const char *p = strstr(b, "id: "); p; p = strstr(p, "\nid: ")) {
        p += p[0] == '\n' ? 5 : 4;
        size_t len = strcspn(p, "\n");
        n += (size_t)snprintf(out + n, cap - n, "%s%.*s", n ? " " : "", (int)len, p);
        ck_assert_uint_lt(n, cap);
    }
}

static bool api_closed(void *arg)
{
    return ((struct harness *)arg)->api_closed;
}

START_TEST(change_text_ids_acl_and_live_delivery)
{
    struct harness h;
    start(&h, NULL);
    three_blocks(&h);
    struct client c;
    stream_open(&c, &h, "/v1/events", "");
    harness_run_for(&h, 50);
    ck_assert_int_eq(c.resp[0].status, 200);
    ck_assert_str_eq(c.resp[0].content_type, "text/event-stream");
    ck_assert_str_eq(body(&c), ""); /* nothing applied yet */
    api_events_notify(h.api, 1);
    ck_assert(wait_for(&c, "event: change", 2, 2000));
    const char *first = "id: 1.0\nevent: change\ndata: {\"type\":\"Doc\",\"key\":\"d1\",\"op\":"
                        "\"create\",\"version\":1,\"owner\":\"globex\",\"org\":\"globex\",\"tx\":"
                        "\"0123456789abcdef0123456789abcdef\",\"height\":1,\"index\":0,\"record\":"
                        "{\"id\":\"d1\",\"secret\":\"s3\",\"blob\":\"\",\"_owner\":\"globex\","
                        "\"_version\":1}}\n\n";
    ck_assert_msg(strncmp(body(&c), first, strlen(first)) == 0, "got %s", body(&c));
    /* d2 belongs to acme: globex reads the Doc but not its secret; p1 is hidden. */
    const char *d2 = strstr(body(&c), "id: 1.2\n");
    ck_assert_ptr_nonnull(d2);
    ck_assert_ptr_nonnull(strstr(d2, "\"key\":\"d2\""));
    ck_assert_ptr_null(strstr(d2, "secret"));
    ck_assert_ptr_null(strstr(body(&c), "\"p1\""));
    api_events_notify(h.api, 3);
    ck_assert(wait_for(&c, "event: change", 4, 2000));
    char got[256];
    ids(&c, got, sizeof got);
    ck_assert_str_eq(got, "1.0 1.2 3.0 3.1");
    api_events_notify(h.api, 2); /* lower than before: ignored */
    harness_run_for(&h, 30);
    ck_assert_int_eq(count(body(&c), "event: change"), 4);
    client_close(&c);
    harness_stop(&h);
}
END_TEST

/* The ids a new stream with `target` and `hdrs` gets once blocks 1..3 are applied. */
static void resume_case(const char *target, const char *hdrs, const char *want, int n)
{
    struct harness h;
    start(&h, NULL);
    three_blocks(&h);
    api_events_notify(h.api, 3);
    struct client c;
    stream_open(&c, &h, target, hdrs);
    ck_assert_msg(wait_for(&c, "event: change", n, 2000), "%s: %s", target, body(&c));
    harness_run_for(&h, 30);
    char got[256];
    ids(&c, got, sizeof got);
    ck_assert_msg(strcmp(got, want) == 0, "%s [%s]: got \"%s\", want \"%s\"", target, hdrs, got,
                  want);
    client_close(&c);
    harness_stop(&h);
}

START_TEST(resume_after_an_id)
{
    resume_case("/v1/events?from=0", "", "1.0 1.2 3.0 3.1", 4);
    resume_case("/v1/events?from=1.0", "", "1.2 3.0 3.1", 3);
    resume_case("/v1/events?from=1.1", "", "1.2 3.0 3.1", 3); /* after a hidden change */
    resume_case("/v1/events?from=1.2", "", "3.0 3.1", 2);
    resume_case("/v1/events?from=2.0", "", "3.0 3.1", 2); /* an id past a block's end */
    resume_case("/v1/events?from=3.0", "", "3.1", 1);
    resume_case("/v1/events", "Last-Event-ID: 1.2\r\n", "3.0 3.1", 2);
    resume_case("/v1/events?from=0", "Last-Event-ID: 3.0\r\n", "3.1", 1); /* the header wins */
    resume_case("/v1/events?from=1.0", "Last-Event-ID: \r\n", "1.2 3.0 3.1", 3);
    resume_case("/v1/events?from=0&types=Pub", "", "3.0", 1);
    resume_case("/v1/events?types=Doc%2CPub&from=1.0", "", "1.2 3.0 3.1", 3);
}
END_TEST

START_TEST(nothing_after_the_head)
{
    struct harness h;
    start(&h, NULL);
    three_blocks(&h);
    api_events_notify(h.api, 3);
    struct client c;
    stream_open(&c, &h, "/v1/events?from=3.1", "");
    harness_run_for(&h, 100);
    ck_assert_int_eq(c.resp[0].status, 200);
    ck_assert_str_eq(body(&c), "");
    client_close(&c);
    harness_stop(&h);
}
END_TEST

/* Sends `method target` with `hdrs` and checks the status and problem type. */
static void refused(struct harness *h, const char *method, const char *target, const char *hdrs,
                    int status, const char *type)
{
    char req[512];
    struct response r;
    snprintf(req, sizeof req, "%s %s HTTP/1.1\r\nHost: t\r\n%s%s\r\n", method, target,
             strstr(hdrs, "Authorization") ? "" : AUTH_READER, hdrs);
    http_do(h, req, &r);
    ck_assert_msg(r.status == status, "%s %s [%s]: %d", method, target, hdrs, r.status);
    ck_assert_str_eq(r.content_type, "application/problem+json");
    if (r.body) { /* HEAD has no content */
        json_t *j = response_json(&r);
        ck_assert_msg(strcmp(json_string_value(json_object_get(j, "type")), type) == 0, "%s: %s",
                      target, r.body);
        json_decref(j);
    }
    free(r.body);
}

START_TEST(malformed_ids_and_parameters_are_400)
{
    struct harness h;
    start(&h, NULL);
    static const char *const bad[] = {"abc",
                                      "1.",
                                      ".1",
                                      "1.2.3",
                                      "-1.0",
                                      "0.5",
                                      "1.x",
                                      "18446744073709551616.0",
                                      "1.18446744073709551615",
                                      "1.-1"};
    const char *type = "urn:treaty:problem:bad-event-id";
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char t[128], hd[128];
        snprintf(t, sizeof t, "/v1/events?from=%s", bad[i]);
        refused(&h, "GET", t, "", 400, type);
        snprintf(hd, sizeof hd, "Last-Event-ID: %s\r\n", bad[i]);
        refused(&h, "GET", "/v1/events", hd, 400, type);
    }
    refused(&h, "GET", "/v1/events?types=Nope", "", 400, "urn:treaty:problem:unknown-type");
    refused(&h, "GET", "/v1/events?types=Doc,,Pub", "", 400, "urn:treaty:problem:bad-query");
    refused(&h, "GET", "/v1/events?types=", "", 400, "urn:treaty:problem:bad-query");
    refused(&h, "GET", "/v1/events?since=1", "", 400, "urn:treaty:problem:bad-query");
    refused(&h, "GET", "/v1/events?from", "", 400, "urn:treaty:problem:bad-query");
    refused(&h, "GET", "/v1/events?from=%zz", "", 400, "urn:treaty:problem:bad-query");
    refused(&h, "POST", "/v1/events", "Content-Length: 0\r\n" AUTH_ADMIN, 405, "about:blank");
    refused(&h, "GET", "/v1/events", "Authorization: Bearer trk_nope\r\n", 401,
            "urn:treaty:problem:invalid-key");
    harness_stop(&h);
}
END_TEST

START_TEST(stream_limit_is_503_and_places_come_back)
{
    struct harness h;
    struct api_config cfg = {.events_max_clients = 2};
    start(&h, &cfg);
    struct client a, b;
    stream_open(&a, &h, "/v1/events", "");
    stream_open(&b, &h, "/v1/events", "");
    harness_run_for(&h, 50);
    ck_assert_int_eq(a.resp[0].status, 200);
    ck_assert_int_eq(b.resp[0].status, 200);
    refused(&h, "GET", "/v1/events", "", 503, "urn:treaty:problem:too-many-streams");
    client_close(&a); /* the client goes away: its place is free again */
    harness_run_for(&h, 50);
    struct client c;
    stream_open(&c, &h, "/v1/events", "");
    harness_run_for(&h, 50);
    ck_assert_int_eq(c.resp[0].status, 200);
    /* Other routes are not counted. */
    struct response r;
    http_do(&h, "GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n", &r);
    ck_assert_int_eq(r.status, 200);
    free(r.body);
    client_close(&b);
    client_close(&c);
    harness_stop(&h);
}
END_TEST

START_TEST(heartbeats_and_no_idle_timeout)
{
    struct harness h;
    struct api_config cfg = {
        .events_heartbeat_ms = 40, .idle_timeout_ms = 60, .request_timeout_ms = 60};
    start(&h, &cfg);
    struct client c;
    stream_open(&c, &h, "/v1/events", "");
    ck_assert(wait_for(&c, ": heartbeat\n\n", 4, 2000));
    harness_run_for(&h, 150); /* well past the idle timeout */
    ck_assert(!c.eof);
    client_close(&c);
    harness_stop(&h);
}
END_TEST

enum { CATCH_UP_BLOCKS = 300 };

START_TEST(catch_up_over_many_blocks_is_paced_and_complete)
{
    struct harness h;
    struct api_config cfg = {.events_buffer_bytes = 16384};
    start(&h, &cfg);
    h.fb.blocks = json_array();
    for (uint64_t b = 1; b <= CATCH_UP_BLOCKS; b++) {
        char key[16];
        snprintf(key, sizeof key, "k%" PRIu64, b);
        json_array_append_new(h.fb.blocks,
                              json_pack("[o]", change("Pub", key, "acme", b, 0, 3000)));
    }
    api_events_notify(h.api, CATCH_UP_BLOCKS);
    struct client c;
    stream_open(&c, &h, "/v1/events?from=0", "");
    ck_assert(wait_for(&c, "event: change", CATCH_UP_BLOCKS, 10000));
    static char got[CATCH_UP_BLOCKS * 8], want[CATCH_UP_BLOCKS * 8];
    ids(&c, got, sizeof got);
    size_t n = 0;
    for (int b = 1; b <= CATCH_UP_BLOCKS; b++)
        n += (size_t)snprintf(want + n, sizeof want - n, "%s%d.0", b > 1 ? " " : "", b);
    ck_assert_str_eq(got, want);
    ck_assert(!c.eof); /* caught up, still open */
    client_close(&c);
    harness_stop(&h);
}
END_TEST

START_TEST(catch_up_over_empty_and_hidden_blocks)
{
    struct harness h;
    start(&h, NULL);
    h.fb.blocks = json_array();
    enum { EMPTY = 1500 };
    for (uint64_t b = 1; b <= EMPTY; b++) /* nothing, or a change globex may not read */
        json_array_append_new(h.fb.blocks,
                              b % 2 ? json_array()
                                    : json_pack("[o]", change("Priv", "p", "acme", b, 0, 10)));
    json_array_append_new(h.fb.blocks,
                          json_pack("[o]", change("Pub", "last", "acme", EMPTY + 1, 0, 10)));
    api_events_notify(h.api, EMPTY + 1);
    struct client c;
    stream_open(&c, &h, "/v1/events?from=0", "");
    ck_assert(wait_for(&c, "event: change", 1, 5000));
    char got[64], want[64];
    ids(&c, got, sizeof got);
    snprintf(want, sizeof want, "%d.0", EMPTY + 1);
    ck_assert_str_eq(got, want);
    ck_assert_int_eq(h.fb.n_changes, EMPTY + 1); /* each block read once */
    client_close(&c);
    harness_stop(&h);
}
END_TEST

enum { SLOW_BLOCKS = 600 };

START_TEST(a_client_that_stops_reading_is_told_and_dropped)
{
    struct harness h;
    /* The dropped client's connection lingers for the idle timeout after the error event; it
     * reads again only after the fast client got every block, which under ASan on a loaded
     * machine took more than 30 s once (the close then came first). Ten minutes bound it. */
    struct api_config cfg = {.events_buffer_bytes = 8192, .idle_timeout_ms = 600000};
    start(&h, &cfg);
    h.fb.blocks = json_array();
    for (uint64_t b = 1; b <= SLOW_BLOCKS; b++)
        json_array_append_new(h.fb.blocks,
                              json_pack("[o]", change("Pub", "k", "acme", b, 0, 32768)));
    struct client slow, fast;
    stream_open(&slow, &h, "/v1/events", "");
    stream_open(&fast, &h, "/v1/events", "");
    harness_run_for(&h, 50);
    client_pause(&slow);
    /* Blocks are applied one by one; the node never waits for the slow client. */
    for (uint64_t b = 1; b <= SLOW_BLOCKS; b++) {
        api_events_notify(h.api, b);
        harness_run_for(&h, 1);
    }
    char last[32];
    snprintf(last, sizeof last, "id: %d.0\n", SLOW_BLOCKS);
    ck_assert(wait_for(&fast, last, 1, 10000));
    ck_assert_int_eq(count(body(&fast), "event: change"), SLOW_BLOCKS);
    ck_assert_int_eq(count(body(&fast), "event: error"), 0);
    ck_assert(!fast.eof);
    /* The slow one reads now: the changes it was sent, the error event last, then the end. */
    client_resume(&slow);
    int nr = client_wait(&slow, 1, 10000);
    ck_assert_msg(nr == 1, "eof %d, %zu bytes, ends %s", slow.eof, strlen(body(&slow)),
                  body(&slow) + (strlen(body(&slow)) > 300 ? strlen(body(&slow)) - 300 : 0));
    ck_assert(client_wait_eof(&slow, 2000));
    const char *err = strstr(body(&slow), "event: error\ndata: {\"reason\":\"too-slow\"");
    ck_assert_msg(err != NULL, "no error event in %.200s", body(&slow));
    ck_assert_ptr_nonnull(strstr(err, "more than 8192 bytes"));
    ck_assert_ptr_nonnull(strstr(err, "\"last_id\":\""));
    ck_assert_ptr_null(strstr(err, "event: change"));
    int sent = count(body(&slow), "event: change");
    ck_assert_int_gt(sent, 0);
    ck_assert_int_lt(sent, SLOW_BLOCKS);
    client_close(&slow);
    client_close(&fast);
    harness_stop(&h);
}
END_TEST

enum { STALL_BLOCKS = 2000 };

/* Reading history is paced, so the queue never passes the limit: a reader that stops is dropped
 * when it took nothing for a heartbeat interval with half the buffer waiting. */
START_TEST(a_history_reader_that_stops_reading_is_dropped)
{
    struct harness h;
    struct api_config cfg = {.events_buffer_bytes = 16384, .events_heartbeat_ms = 100};
    start(&h, &cfg);
    h.fb.blocks = json_array();
    for (uint64_t b = 1; b <= STALL_BLOCKS; b++)
        json_array_append_new(h.fb.blocks,
                              json_pack("[o]", change("Pub", "k", "acme", b, 0, 8000)));
    api_events_notify(h.api, STALL_BLOCKS);
    struct client c;
    stream_open(&c, &h, "/v1/events?from=0", "");
    ck_assert(wait_for(&c, "event: change", 1, 2000));
    client_pause(&c);
    harness_run_for(&h, 1500);
    client_resume(&c);
    ck_assert_int_eq(client_wait(&c, 1, 10000), 1); /* the terminal chunk */
    const char *err = strstr(body(&c), "event: error\ndata: {\"reason\":\"too-slow\"");
    ck_assert_msg(err != NULL, "no error event");
    ck_assert_ptr_nonnull(strstr(err, "took no event for 100 ms"));
    ck_assert_int_lt(count(body(&c), "event: change"), STALL_BLOCKS);
    client_close(&c);
    harness_stop(&h);
    /* A reader that keeps reading is not dropped (the first 600 blocks: the test client's
       buffer handling is quadratic, slow under sanitizers). The same rule with a heartbeat a
       loaded machine cannot miss between two reads of a client that reads. */
    cfg.events_heartbeat_ms = 3000;
    start(&h, &cfg);
    h.fb.blocks = json_array();
    for (uint64_t b = 1; b <= STALL_BLOCKS; b++)
        json_array_append_new(h.fb.blocks,
                              json_pack("[o]", change("Pub", "k", "acme", b, 0, 8000)));
    api_events_notify(h.api, STALL_BLOCKS);
    struct client r;
    stream_open(&r, &h, "/v1/events?from=0", "");
    char last[32];
    snprintf(last, sizeof last, "id: %d.0\n", 600);
    ck_assert(wait_for(&r, last, 1, 30000));
    ck_assert_ptr_null(strstr(body(&r), "event: error"));
    client_close(&r);
    harness_stop(&h);
}
END_TEST

START_TEST(a_backend_error_ends_the_stream_with_an_error_event)
{
    struct harness h;
    start(&h, NULL);
    three_blocks(&h);
    struct client c;
    stream_open(&c, &h, "/v1/events", "");
    harness_run_for(&h, 30);
    h.fb.changes_rc = TR_EIO;
    api_events_notify(h.api, 1);
    ck_assert_int_eq(client_wait(&c, 1, 2000), 1);
    ck_assert_ptr_nonnull(strstr(body(&c), "event: error\ndata: {\"reason\":\"unavailable\""));
    ck_assert(client_wait_eof(&c, 2000));
    client_close(&c);
    harness_stop(&h);
}
END_TEST

START_TEST(api_close_ends_streams_cleanly)
{
    struct harness h;
    start(&h, NULL);
    three_blocks(&h);
    api_events_notify(h.api, 3);
    struct client a, b;
    stream_open(&a, &h, "/v1/events?from=0", "");
    stream_open(&b, &h, "/v1/events", "");
    ck_assert(wait_for(&a, "event: change", 4, 2000));
    harness_close_api(&h);
    ck_assert(harness_run_until(&h, api_closed, &h, 3000));
    /* Each stream got its terminal chunk (a complete response), then the close. */
    ck_assert_int_eq(client_wait(&a, 1, 1000), 1);
    ck_assert_int_eq(client_wait(&b, 1, 1000), 1);
    ck_assert(client_wait_eof(&a, 1000));
    ck_assert(client_wait_eof(&b, 1000));
    ck_assert_int_eq(count(body(&a), "event: change"), 4);
    client_close(&a);
    client_close(&b);
    harness_stop(&h);
}
END_TEST

START_TEST(http_1_0_stream_runs_to_the_close)
{
    struct harness h;
    start(&h, NULL);
    three_blocks(&h);
    api_events_notify(h.api, 3);
    struct client c;
    client_open(&c, &h);
    client_sends(&c, "GET /v1/events?from=2.0 HTTP/1.0\r\n" AUTH_READER "\r\n");
    ck_assert(wait_for(&c, "event: change", 2, 2000));
    harness_close_api(&h);
    ck_assert(harness_run_until(&h, api_closed, &h, 3000));
    ck_assert(client_wait_eof(&c, 1000));
    ck_assert_int_eq(count(body(&c), "event: change"), 2);
    client_close(&c);
    harness_stop(&h);
}
END_TEST

Suite *suite_events(void)
{
    Suite *s = suite_create("events");
    TCase *tc = tcase_create("events");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, change_text_ids_acl_and_live_delivery);
    tcase_add_test(tc, resume_after_an_id);
    tcase_add_test(tc, nothing_after_the_head);
    tcase_add_test(tc, malformed_ids_and_parameters_are_400);
    tcase_add_test(tc, stream_limit_is_503_and_places_come_back);
    tcase_add_test(tc, heartbeats_and_no_idle_timeout);
    tcase_add_test(tc, catch_up_over_many_blocks_is_paced_and_complete);
    tcase_add_test(tc, catch_up_over_empty_and_hidden_blocks);
    tcase_add_test(tc, a_client_that_stops_reading_is_told_and_dropped);
    tcase_add_test(tc, a_history_reader_that_stops_reading_is_dropped);
    tcase_add_test(tc, a_backend_error_ends_the_stream_with_an_error_event);
    tcase_add_test(tc, api_close_ends_streams_cleanly);
    tcase_add_test(tc, http_1_0_stream_runs_to_the_close);
    suite_add_tcase(s, tc);
    return s;
}
