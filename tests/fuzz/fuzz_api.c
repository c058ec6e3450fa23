/* fuzz_api.c — the api fuzz targets' driver (fuzz_api.h): the server and fake backend come from
 * the api unit tests' harness; the client is a plain non-blocking socket, so the loop runs only
 * when this file says. Invariant checked per exchange: the answers parse as HTTP/1.1 (HEAD answers
 * without content, 100 Continue interim answers allowed), none is a 500, every error answer is a
 * problem document naming its status, and the connection is gone from the server afterwards. */
#include "tests/fuzz/fuzz_api.h"

#include "api/api_int.h"
#include "tests/fuzz/fuzz.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

/* A server that neither answers nor closes by then hangs. Wall-clock time: the CI runs the
 * fuzzers beside the sanitizer suites on two cores, where a process may wait seconds for one. */
#define EXCHANGE_MS    30000
#define METHODS_MAX    64
#define CHECK_BODY_MAX 8192 /* error bodies are checked when shorter than this */

static struct harness h;
static bool started;

struct harness *fuzz_api_harness(void)
{
    if (started)
        return &h;
    signal(SIGPIPE, SIG_IGN); /* api.h: the process must ignore it */
    struct api_config cfg = {
        .body_max_bytes = FUZZ_API_BODY_MAX,
        .header_max_bytes = FUZZ_API_HEADER_MAX,
        .request_timeout_ms = 2000,
        .idle_timeout_ms = 2000,
    };
    harness_start(&h, &cfg);
    started = true;
    return &h;
}

/* The methods of the requests in `data`, in order, as the server's parser sees them: they tell
 * which answers are to HEAD requests (no content follows their head). */
struct methods {
    int n;
    unsigned char m[METHODS_MAX];
};

static int req_begin(http_parser *p)
{
    struct methods *ms = p->data;
    if (ms->n < METHODS_MAX)
        ms->m[ms->n] = HTTP_GET; /* until the method is known: the server's default is no HEAD */
    ms->n++;
    return 0;
}

/* The server takes the method once the target starts (http.c on_url), so a request refused later
 * in its head is still known to be a HEAD. */
static int req_url(http_parser *p, const char *at, size_t len)
{
    (void)at, (void)len;
    struct methods *ms = p->data;
    if (ms->n <= METHODS_MAX)
        ms->m[ms->n - 1] = (unsigned char)p->method;
    return 0;
}

static void methods_scan(const uint8_t *data, size_t len, struct methods *ms)
{
    static const http_parser_settings s = {.on_message_begin = req_begin, .on_url = req_url};
    http_parser p;
    http_parser_init(&p, HTTP_REQUEST);
    p.data = ms;
    http_parser_execute(&p, &s, (const char *)data, len);
}

/* Answers as they arrive, checked one by one. */
struct answers {
    http_parser p;
    const struct methods *ms;
    int n_final;     /* final (non-1xx) answers completed */
    int open_status; /* of the answer whose head arrived and whose content has not ended */
    struct fuzz_api_result *out;
    char field[32];
    bool field_is_ctype, in_value;
    char ctype[96];
    size_t ctype_len;
    char *body;
    size_t body_len;
    bool body_over;
};

static int ans_begin(http_parser *p)
{
    struct answers *a = p->data;
    a->ctype[0] = '\0';
    a->ctype_len = 0;
    a->body_len = 0;
    a->body_over = false;
    a->in_value = false;
    a->field[0] = '\0';
    return 0;
}

static int ans_field(http_parser *p, const char *at, size_t len)
{
    struct answers *a = p->data;
    size_t have = a->in_value ? 0 : strlen(a->field);
    a->in_value = false;
    size_t n = len < sizeof a->field - 1 - have ? len : sizeof a->field - 1 - have;
    memcpy(a->field + have, at, n);
    a->field[have + n] = '\0';
    return 0;
}

static int ans_value(http_parser *p, const char *at, size_t len)
{
    struct answers *a = p->data;
    if (!a->in_value)
        a->field_is_ctype = strcasecmp(a->field, "content-type") == 0;
    a->in_value = true;
    a->field[0] = '\0';
    if (a->field_is_ctype) {
        fuzz_check(a->ctype_len + len < sizeof a->ctype);
        memcpy(a->ctype + a->ctype_len, at, len);
        a->ctype_len += len;
        a->ctype[a->ctype_len] = '\0';
    }
    return 0;
}

static int ans_headers_done(http_parser *p)
{
    struct answers *a = p->data;
    if (p->status_code < 200)
        return 0; /* 100 Continue: no content, not an answer to a request of its own */
    a->open_status = (int)p->status_code;
    int i = a->n_final;
    bool head = i < a->ms->n && i < METHODS_MAX && a->ms->m[i] == HTTP_HEAD;
    return head ? 1 : 0; /* 1: http-parser expects no content */
}

static int ans_body(http_parser *p, const char *at, size_t len)
{
    struct answers *a = p->data;
    if (a->body_over || a->body_len + len >= CHECK_BODY_MAX) {
        a->body_over = true;
        return 0;
    }
    memcpy(a->body + a->body_len, at, len);
    a->body_len += len;
    return 0;
}

/* An error answer: application/problem+json with a JSON object naming the status and a title. */
static void check_problem(const struct answers *a, int status, bool head)
{
    fuzz_check(strcmp(a->ctype, "application/problem+json") == 0);
    if (head || a->body_over)
        return;
    json_error_t jerr;
    json_t *doc = json_loadb(a->body, a->body_len, 0, &jerr);
    fuzz_check(json_is_object(doc));
    fuzz_check(json_integer_value(json_object_get(doc, "status")) == status);
    fuzz_check(json_is_string(json_object_get(doc, "title")));
    json_decref(doc);
}

static int ans_done(http_parser *p)
{
    struct answers *a = p->data;
    int status = (int)p->status_code;
    if (status < 200) {
        fuzz_check(status == 100);
        return 0;
    }
    fuzz_check(status <= 599 && status != 500);
    a->open_status = 0;
    int i = a->n_final++;
    bool head = i < a->ms->n && i < METHODS_MAX && a->ms->m[i] == HTTP_HEAD;
    if (status >= 400)
        check_problem(a, status, head);
    if (a->out->n_resp < FUZZ_API_RESP_MAX)
        a->out->status[a->out->n_resp++] = status;
    return 0;
}

static const http_parser_settings ans_settings = {
    .on_message_begin = ans_begin,
    .on_header_field = ans_field,
    .on_header_value = ans_value,
    .on_headers_complete = ans_headers_done,
    .on_body = ans_body,
    .on_message_complete = ans_done,
};

static int client_connect(uint16_t port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    fuzz_check(fd >= 0);
    /* Each connection from its own 127.1.x.y: closed connections wait in TIME_WAIT for a minute,
       and hundreds of thousands of runs from one address would use up its ephemeral ports. */
    static uint32_t serial;
    struct sockaddr_in src = {.sin_family = AF_INET};
    src.sin_addr.s_addr = htonl(0x7f010000u | (1u + serial++ % 0xfffeu));
    fuzz_check(bind(fd, (struct sockaddr *)&src, sizeof src) == 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    /* Non-blocking, so libFuzzer's timer signals cannot interrupt it; the listen backlog
       completes the handshake before the loop accepts. */
    fuzz_check(fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) == 0);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        fuzz_check(errno == EINPROGRESS || errno == EINTR);
        struct pollfd pf = {.fd = fd, .events = POLLOUT};
        int n = 0;
        for (int i = 0; i < 100 && n <= 0; i++)
            n = poll(&pf, 1, 10);
        int err = 0;
        socklen_t elen = sizeof err;
        fuzz_check(n == 1 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) == 0 && err == 0);
    }
    return fd;
}

/* Reads what the server sent; returns 1 at EOF or reset, 0 otherwise. */
static int client_read(int fd, struct answers *a, bool *reset)
{
    char buf[16384];
    for (;;) {
        ssize_t n = recv(fd, buf, sizeof buf, 0);
        if (n > 0) {
            size_t used = http_parser_execute(&a->p, &ans_settings, buf, (size_t)n);
            fuzz_check(HTTP_PARSER_ERRNO(&a->p) == HPE_OK && used == (size_t)n);
            continue;
        }
        if (n == 0)
            return 1;
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
            return 0;
        *reset = true; /* the server closed with our bytes unread: the kernel resets */
        return 1;
    }
}

/* Runs the loop until the server dropped every connection (close callbacks pending). */
static void settle(void)
{
    for (int i = 0; i < 1000 && h.api->conns != NULL; i++)
        uv_run(&h.loop, UV_RUN_NOWAIT);
    fuzz_check(h.api->conns == NULL);
}

void fuzz_api_exchange(const uint8_t *data, size_t len, struct fuzz_api_result *out)
{
    fuzz_api_harness();
    memset(out, 0, sizeof *out);
    struct methods ms = {0};
    methods_scan(data, len, &ms);
    static char body[CHECK_BODY_MAX];
    struct answers a = {.ms = &ms, .out = out, .body = body};
    http_parser_init(&a.p, HTTP_RESPONSE);
    a.p.data = &a;
    int fd = client_connect(h.port);
    size_t sent = 0;
    bool shut = false, done = false, reset = false;
    int idle = 0;
    uint64_t deadline = uv_hrtime() + (uint64_t)EXCHANGE_MS * 1000000u;
    while (!done) {
        fuzz_check(uv_hrtime() < deadline);
        if (sent < len) {
            ssize_t n = send(fd, data + sent, len - sent, MSG_NOSIGNAL);
            if (n > 0)
                sent += (size_t)n;
            else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
                sent = len; /* the server closed: the rest cannot be sent */
        }
        if (sent == len && !shut) {
            shutdown(fd, SHUT_WR);
            shut = true;
        }
        uv_run(&h.loop, UV_RUN_NOWAIT);
        done = client_read(fd, &a, &reset) != 0;
        /* libuv registers a watcher the callbacks started only at its next poll, so the loop runs
           a few times before this waits for either side to have something to do. */
        if (!done && ++idle > 4) {
            struct pollfd pf[2] = {{.fd = fd, .events = POLLIN},
                                   {.fd = uv_backend_fd(&h.loop), .events = POLLIN}};
            poll(pf, 2, 1);
        }
    }
    if (!reset) { /* EOF ends an answer whose content runs to the close */
        http_parser_execute(&a.p, &ans_settings, NULL, 0);
        /* Only a stream (events, export: 200) ends unfinished when its client half-closes: the
           api reads only to see the client go, and EOF is how it sees that. */
        fuzz_check(HTTP_PARSER_ERRNO(&a.p) == HPE_OK || a.open_status == 200);
    }
    close(fd);
    /* One answer per request the parser saw, plus one refusal of what followed them. */
    fuzz_check(a.n_final <= ms.n + 1);
    settle();
}
