/* loadgen.c — treaty-loadgen, a closed-loop HTTP/1.1 load generator on libuv and http-parser.
 * Each keep-alive connection has at most one request in flight; a request's number {n} comes from
 * one increasing counter. Latencies go into a fixed log-linear histogram (no allocation per
 * request). The run stops by itself after warmup + duration + a bounded drain.
 * The histogram and the templates live in loadgen_hist.c and loadgen_body.c (loadgen.h).
 * Called by bench/bench_network.py, bench/bench_compare.py and people: `treaty-loadgen --help`. */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <signal.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>

#include <http_parser.h>
#include <jansson.h>
#include <uv.h>

#include "common/alloc.h"
#include "loadgen.h"

#define LG_MAX_TARGETS     64
#define LG_MAX_HEADERS     32
#define LG_MAX_CONNECTIONS 10000
#define LG_MAX_BODY_BYTES  (16u * 1024u * 1024u)
#define LG_READ_BUF_BYTES  65536
#define LG_DRAIN_MS        2000
#define LG_BACKOFF_MIN_MS  10
#define LG_BACKOFF_MAX_MS  1000

/* ---- the run ---- */
struct target {
    char hostport[280]; /* as given, for Host: and the report */
    struct sockaddr_storage addr;
    char *head_tail; /* owned: " HTTP/1.1\r\nHost: ...\r\n<headers>" */
    size_t head_tail_len;
    const char *headers[LG_MAX_HEADERS]; /* --target-header: sent to this target only */
    size_t n_headers;
};

enum phase { PHASE_WARMUP, PHASE_MEASURE, PHASE_DRAIN, PHASE_DONE };
enum tcp_state { TCP_NONE, TCP_OPEN, TCP_CLOSING };

struct lg;

struct conn {
    uv_tcp_t tcp;
    uv_connect_t connect_req;
    uv_write_t write_req;
    uv_timer_t retry;
    http_parser parser;
    struct lg *lg;
    struct target *target;
    char *head; /* owned, lg->head_max bytes */
    char *body; /* owned, lg->body.max_len bytes, NULL without a body */
    enum tcp_state tcp_state;
    int in_flight, writing, response_done, keep_alive, measured, finished;
    int status;
    uint64_t t_start_ns;
    unsigned backoff_ms;
};

struct opts {
    struct target targets[LG_MAX_TARGETS];
    size_t n_targets;
    unsigned connections;
    double duration_s, warmup_s, drain_s;
    const char *method;
    const char *path_arg;
    const char *body_file;
    size_t body_size;
    const char *headers[LG_MAX_HEADERS];
    size_t n_headers;
    int expect; /* 0 = any 2xx */
    const char *json_path;
    uint64_t start_n;
    uint64_t cycle;        /* 0, or {n} runs start_n .. start_n + cycle - 1 over and over */
    uint64_t max_requests; /* 0 = no limit */
    int print_body;        /* --print-body: print the body template and exit */
};

struct lg {
    struct opts o;
    uv_loop_t *loop;
    uv_timer_t phase_timer;
    uv_signal_t sigint;
    enum phase phase;
    struct tmpl path, body;
    int has_body;
    size_t head_max;
    struct conn *conns;
    unsigned live;
    uint64_t next_n, measured_started;
    size_t body_bytes_last;
    uint64_t t_begin_ns, t_measure_ns, t_end_ns, t_last_done_ns;
    /* measured figures (requests started in the measurement window) */
    struct hist lat;
    uint64_t requests, ok, by_status[600], socket_errors, parse_errors, unfinished;
    uint64_t connect_errors; /* whole run: failed connection attempts */
};

static char g_read_buf[LG_READ_BUF_BYTES]; /* one loop thread: read_cb consumes it at once */

static void conn_connect(struct conn *c);
static void lg_drain(struct lg *lg);
static void conn_drop(struct conn *c);
static void conn_send(struct conn *c);

static void lg_shutdown(struct lg *lg)
{
    lg->phase = PHASE_DONE;
    uv_close((uv_handle_t *)&lg->phase_timer, NULL);
    uv_close((uv_handle_t *)&lg->sigint, NULL);
    for (unsigned i = 0; i < lg->o.connections; i++)
        uv_close((uv_handle_t *)&lg->conns[i].retry, NULL);
}

static void conn_finish(struct conn *c)
{
    if (c->finished)
        return;
    c->finished = 1;
    if (--c->lg->live == 0)
        lg_shutdown(c->lg);
}

/* A request that ended without a response (reset, closed, refused write). */
static void conn_fail_request(struct conn *c, int parse)
{
    if (!c->in_flight)
        return;
    c->in_flight = 0;
    if (!c->measured)
        return;
    c->lg->requests++;
    if (parse)
        c->lg->parse_errors++;
    else
        c->lg->socket_errors++;
}

static void on_retry(uv_timer_t *t)
{
    conn_connect(t->data);
}

static void on_tcp_closed(uv_handle_t *h)
{
    struct conn *c = h->data;
    c->tcp_state = TCP_NONE;
    if (c->lg->phase >= PHASE_DRAIN) {
        conn_finish(c);
        return;
    }
    uv_timer_start(&c->retry, on_retry, c->backoff_ms, 0);
}

static void conn_drop(struct conn *c)
{
    if (c->tcp_state != TCP_OPEN)
        return;
    conn_fail_request(c, 0);
    c->tcp_state = TCP_CLOSING;
    uv_close((uv_handle_t *)&c->tcp, on_tcp_closed);
}

static void conn_connect_failed(struct conn *c)
{
    c->lg->connect_errors++;
    c->backoff_ms = c->backoff_ms ? c->backoff_ms * 2 : LG_BACKOFF_MIN_MS;
    if (c->backoff_ms > LG_BACKOFF_MAX_MS)
        c->backoff_ms = LG_BACKOFF_MAX_MS;
    conn_drop(c);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)h;
    (void)suggested;
    *buf = uv_buf_init(g_read_buf, sizeof g_read_buf);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);

static void on_connect(uv_connect_t *req, int status)
{
    struct conn *c = req->data;
    if (c->tcp_state != TCP_OPEN)
        return; /* closed while connecting (drain): on_tcp_closed does the rest */
    if (status < 0) {
        conn_connect_failed(c);
        return;
    }
    c->backoff_ms = 0;
    http_parser_init(&c->parser, HTTP_RESPONSE);
    c->parser.data = c;
    int rc = uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
    if (rc < 0) {
        conn_drop(c);
        return;
    }
    conn_send(c);
}

static void conn_after_response(struct conn *c)
{
    c->response_done = 0;
    if (c->keep_alive)
        conn_send(c);
    else
        conn_drop(c);
}

static void conn_connect(struct conn *c)
{
    struct lg *lg = c->lg;
    if (lg->phase >= PHASE_DRAIN) {
        conn_finish(c);
        return;
    }
    int rc = uv_tcp_init(lg->loop, &c->tcp);
    if (rc < 0) {
        fprintf(stderr, "treaty-loadgen: tcp init: %s\n", uv_strerror(rc));
        exit(3);
    }
    c->tcp.data = c;
    c->connect_req.data = c;
    c->tcp_state = TCP_OPEN;
    c->in_flight = c->writing = c->response_done = 0;
    uv_tcp_nodelay(&c->tcp, 1);
    rc = uv_tcp_connect(&c->connect_req, &c->tcp, (const struct sockaddr *)&c->target->addr,
                        on_connect);
    if (rc < 0)
        conn_connect_failed(c);
}

static void on_write(uv_write_t *req, int status)
{
    struct conn *c = req->data;
    c->writing = 0;
    if (c->tcp_state != TCP_OPEN)
        return;
    if (status < 0) {
        conn_drop(c);
        return;
    }
    if (c->response_done)
        conn_after_response(c);
}

static void conn_send(struct conn *c)
{
    struct lg *lg = c->lg;
    if (lg->phase == PHASE_MEASURE && lg->o.max_requests &&
        lg->measured_started >= lg->o.max_requests)
        lg_drain(lg);
    if (lg->phase >= PHASE_DRAIN) {
        conn_drop(c);
        return;
    }
    uint64_t k = lg->next_n++;
    uint64_t n = lg->o.cycle ? lg->o.start_n + (k - lg->o.start_n) % lg->o.cycle : k;
    size_t hl = (size_t)snprintf(c->head, lg->head_max, "%s ", lg->o.method);
    hl += tmpl_render(&lg->path, n, c->head + hl);
    memcpy(c->head + hl, c->target->head_tail, c->target->head_tail_len);
    hl += c->target->head_tail_len;
    uv_buf_t bufs[2];
    unsigned nbufs = 1;
    if (lg->has_body) {
        size_t bl = tmpl_render(&lg->body, n, c->body);
        hl += (size_t)snprintf(c->head + hl, lg->head_max - hl, "Content-Length: %zu\r\n\r\n", bl);
        bufs[1] = uv_buf_init(c->body, (unsigned)bl);
        lg->body_bytes_last = bl;
        nbufs = 2;
    } else {
        memcpy(c->head + hl, "\r\n", 2);
        hl += 2;
    }
    bufs[0] = uv_buf_init(c->head, (unsigned)hl);
    c->in_flight = 1;
    c->writing = 1;
    c->response_done = 0;
    c->measured = lg->phase == PHASE_MEASURE;
    lg->measured_started += (uint64_t)c->measured;
    c->t_start_ns = uv_hrtime();
    /* Most requests fit the socket and are written here, without a write request: libuv
     * re-arms the socket's poll (one epoll_ctl) after every write request it completes, which
     * would cost each request a system call the servers' figures do not need. */
    int rc = uv_try_write((uv_stream_t *)&c->tcp, bufs, nbufs);
    if (rc < 0 && rc != UV_EAGAIN) {
        c->writing = 0;
        conn_drop(c);
        return;
    }
    size_t sent = rc > 0 ? (size_t)rc : 0;
    unsigned first = 0;
    while (first < nbufs && sent >= bufs[first].len)
        sent -= bufs[first++].len;
    if (first == nbufs) {
        c->writing = 0;
        return;
    }
    bufs[first].base += sent;
    bufs[first].len -= sent;
    c->write_req.data = c;
    rc = uv_write(&c->write_req, (uv_stream_t *)&c->tcp, bufs + first, nbufs - first, on_write);
    if (rc < 0) {
        c->writing = 0;
        conn_drop(c);
        return;
    }
}

static int on_message_complete(http_parser *p)
{
    struct conn *c = p->data;
    if (!c->in_flight)
        return 0; /* a response nobody asked for: ignored */
    uint64_t now = uv_hrtime();
    c->in_flight = 0;
    c->response_done = 1;
    c->keep_alive = http_should_keep_alive(p);
    if (!c->measured)
        return 0;
    struct lg *lg = c->lg;
    unsigned st = p->status_code;
    lg->requests++;
    if (lg->o.expect ? st == (unsigned)lg->o.expect : (st >= 200 && st < 300))
        lg->ok++;
    lg->by_status[st < 600 ? st : 0]++;
    hist_record(&lg->lat, now - c->t_start_ns);
    if (now > lg->t_last_done_ns)
        lg->t_last_done_ns = now;
    return 0;
}

static const http_parser_settings g_parser_settings = {
    .on_message_complete = on_message_complete,
};

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    struct conn *c = s->data;
    if (c->tcp_state != TCP_OPEN)
        return;
    if (nread > 0) {
        size_t used = http_parser_execute(&c->parser, &g_parser_settings, buf->base, (size_t)nread);
        if (c->parser.http_errno != HPE_OK || used != (size_t)nread) {
            conn_fail_request(c, 1);
            c->response_done = 0;
            conn_drop(c);
            return;
        }
    } else if (nread < 0) {
        if (nread == UV_EOF) /* a body delimited by the end of the connection ends here */
            http_parser_execute(&c->parser, &g_parser_settings, NULL, 0);
        c->keep_alive = 0;
    }
    if (c->response_done && !c->writing)
        conn_after_response(c);
    else if (nread < 0)
        conn_drop(c);
}

/* ---- phases: warmup -> measure -> drain (bounded) -> done ---- */
static void on_phase(uv_timer_t *t);

static void lg_drain(struct lg *lg)
{
    lg->phase = PHASE_DRAIN;
    lg->t_end_ns = uv_hrtime();
    uv_timer_start(&lg->phase_timer, on_phase, (uint64_t)(lg->o.drain_s * 1000.0), 0);
    for (unsigned i = 0; i < lg->o.connections; i++) {
        struct conn *c = &lg->conns[i];
        uv_timer_stop(&c->retry);
        if (c->tcp_state == TCP_NONE)
            conn_finish(c);
        else if (!c->in_flight && !c->response_done)
            conn_drop(c);
    }
}

/* Drain deadline: requests still without an answer are counted as unfinished, not failed. */
static void lg_abort(struct lg *lg)
{
    for (unsigned i = 0; i < lg->o.connections; i++) {
        struct conn *c = &lg->conns[i];
        if (c->in_flight && c->measured)
            lg->unfinished++;
        c->in_flight = 0;
        conn_drop(c);
    }
}

static void on_phase(uv_timer_t *t)
{
    struct lg *lg = t->data;
    if (lg->phase == PHASE_WARMUP) {
        lg->phase = PHASE_MEASURE;
        lg->t_measure_ns = uv_hrtime();
        uv_timer_start(&lg->phase_timer, on_phase, (uint64_t)(lg->o.duration_s * 1000.0), 0);
    } else if (lg->phase == PHASE_MEASURE) {
        lg_drain(lg);
    } else if (lg->phase == PHASE_DRAIN) {
        lg_abort(lg);
    }
}

static void on_sigint(uv_signal_t *s, int signum)
{
    struct lg *lg = s->data;
    (void)signum;
    if (lg->phase == PHASE_WARMUP)
        lg->t_measure_ns = uv_hrtime();
    if (lg->phase < PHASE_DRAIN)
        lg_drain(lg);
    else if (lg->phase == PHASE_DRAIN)
        lg_abort(lg);
}

/* ---- options ---- */
static void usage(FILE *f)
{
    fputs("usage: treaty-loadgen --target HOST:PORT [--target HOST:PORT ...] [options]\n"
          "Closed-loop HTTP/1.1 load: N keep-alive connections (spread round-robin over the\n"
          "targets), one request in flight each; stops after warmup + duration + drain.\n"
          "  --connections N       connections (default 1, at most 10000)\n"
          "  --duration SECONDS    measured time (default 10)\n"
          "  --warmup SECONDS      unmeasured time first (default 0)\n"
          "  --drain SECONDS       wait for answers after the end (default 2, at most 60)\n"
          "  --method M            POST, GET, PUT, PATCH or DELETE (default GET)\n"
          "  --path PATH           request path (default /); {n} or {n:W} = request number,\n"
          "                        zero-padded to W digits\n"
          "  --body-file FILE      request body template ({n} allowed)\n"
          "  --body-size BYTES     generated Shipment JSON body of exactly BYTES bytes\n"
          "                        (sample schema; shipmentId SHP-{n:8})\n"
          "  --start N             first request number (default 1)\n"
          "  --cycle M             request numbers repeat: start .. start+M-1, again and again\n"
          "  --requests N          stop after N measured requests (or the duration)\n"
          "  --header 'K: V'       extra request header (repeatable)\n"
          "  --target-header 'K: V' header for the last --target only (repeatable), e.g. a\n"
          "                        per-node API key\n"
          "  --print-body          print the body template ({n} unrendered) and exit\n"
          "  --expect STATUS       only this status counts as ok (default: any 2xx)\n"
          "  --json FILE           also write the report as JSON ('-' = stdout)\n",
          f);
}

static int parse_double(const char *s, double lo, double hi, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !(v >= lo && v <= hi))
        return -1;
    *out = v;
    return 0;
}

static int parse_u64(const char *s, uint64_t lo, uint64_t hi, uint64_t *out)
{
    char *end;
    errno = 0;
    if (*s < '0' || *s > '9')
        return -1;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

/* HOST:PORT with a numeric IPv4 address, [IPv6]:PORT, or localhost (no name lookups). */
static int parse_target(const char *s, struct target *t)
{
    char host[256];
    const char *colon = strrchr(s, ':');
    uint64_t port;
    if (!colon || colon == s || (size_t)(colon - s) >= sizeof host ||
        parse_u64(colon + 1, 1, 65535, &port) < 0 || strlen(s) >= sizeof t->hostport)
        return -1;
    memcpy(host, s, (size_t)(colon - s));
    host[colon - s] = '\0';
    snprintf(t->hostport, sizeof t->hostport, "%s", s);
    if (strcmp(host, "localhost") == 0)
        snprintf(host, sizeof host, "127.0.0.1");
    if (host[0] == '[') {
        size_t hl = strlen(host);
        if (hl < 3 || host[hl - 1] != ']')
            return -1;
        host[hl - 1] = '\0';
        return uv_ip6_addr(host + 1, (int)port, (struct sockaddr_in6 *)&t->addr) < 0 ? -1 : 0;
    }
    return uv_ip4_addr(host, (int)port, (struct sockaddr_in *)&t->addr) < 0 ? -1 : 0;
}

static int opts_value(int argc, char **argv, int *i, const char *name, const char **val)
{
    size_t nl = strlen(name);
    if (strncmp(argv[*i], name, nl) != 0)
        return 0;
    if (argv[*i][nl] == '=') {
        *val = argv[*i] + nl + 1;
        return 1;
    }
    if (argv[*i][nl] != '\0')
        return 0;
    if (*i + 1 >= argc) {
        fprintf(stderr, "treaty-loadgen: %s needs a value\n", name);
        exit(2);
    }
    *val = argv[++*i];
    return 1;
}

#define BAD(...) (fprintf(stderr, "treaty-loadgen: " __VA_ARGS__), fputc('\n', stderr), exit(2))

/* Options about the load's shape; returns 1 if argv[*i] was one of them. */
static int opts_load(int argc, char **argv, int *i, struct opts *o)
{
    const char *v;
    uint64_t u;
    if (opts_value(argc, argv, i, "--target", &v)) {
        if (o->n_targets == LG_MAX_TARGETS)
            BAD("at most %d --target", LG_MAX_TARGETS);
        if (parse_target(v, &o->targets[o->n_targets++]) < 0)
            BAD("--target %s: expected IPv4:PORT, [IPv6]:PORT or localhost:PORT", v);
    } else if (opts_value(argc, argv, i, "--connections", &v)) {
        if (parse_u64(v, 1, LG_MAX_CONNECTIONS, &u) < 0)
            BAD("--connections %s: expected 1..%d", v, LG_MAX_CONNECTIONS);
        o->connections = (unsigned)u;
    } else if (opts_value(argc, argv, i, "--duration", &v)) {
        if (parse_double(v, 0.001, 86400, &o->duration_s) < 0)
            BAD("--duration %s: expected seconds in 0.001..86400", v);
    } else if (opts_value(argc, argv, i, "--warmup", &v)) {
        if (parse_double(v, 0, 86400, &o->warmup_s) < 0)
            BAD("--warmup %s: expected seconds in 0..86400", v);
    } else if (opts_value(argc, argv, i, "--drain", &v)) {
        if (parse_double(v, 0, 60, &o->drain_s) < 0)
            BAD("--drain %s: expected seconds in 0..60", v);
    } else if (opts_value(argc, argv, i, "--requests", &v)) {
        if (parse_u64(v, 1, UINT64_MAX / 2, &o->max_requests) < 0)
            BAD("--requests %s: expected a positive number", v);
    } else if (opts_value(argc, argv, i, "--expect", &v)) {
        if (parse_u64(v, 100, 599, &u) < 0)
            BAD("--expect %s: expected an HTTP status 100..599", v);
        o->expect = (int)u;
    } else if (opts_value(argc, argv, i, "--json", &v)) {
        o->json_path = v;
    } else {
        return 0;
    }
    return 1;
}

static void header_add(const char **headers, size_t *n, const char *what, const char *v)
{
    const char *c = strchr(v, ':');
    if (*n == LG_MAX_HEADERS)
        BAD("at most %d %s", LG_MAX_HEADERS, what);
    if (!c || c == v || strpbrk(v, "\r\n"))
        BAD("%s %s: expected 'Name: value'", what, v);
    headers[(*n)++] = v;
}

/* Options about the requests; returns 1 if argv[*i] was one of them. */
static int opts_request(int argc, char **argv, int *i, struct opts *o)
{
    const char *v;
    uint64_t u;
    if (opts_value(argc, argv, i, "--method", &v)) {
        if (strcmp(v, "POST") && strcmp(v, "GET") && strcmp(v, "PUT") && strcmp(v, "PATCH") &&
            strcmp(v, "DELETE"))
            BAD("--method %s: expected POST, GET, PUT, PATCH or DELETE", v);
        o->method = v;
    } else if (opts_value(argc, argv, i, "--path", &v)) {
        if (v[0] != '/' || strpbrk(v, " \r\n"))
            BAD("--path %s: expected an absolute path without spaces", v);
        o->path_arg = v;
    } else if (opts_value(argc, argv, i, "--body-file", &v)) {
        o->body_file = v;
    } else if (opts_value(argc, argv, i, "--body-size", &v)) {
        if (parse_u64(v, 1, LG_MAX_BODY_BYTES, &u) < 0)
            BAD("--body-size %s: expected 1..%u", v, LG_MAX_BODY_BYTES);
        o->body_size = (size_t)u;
    } else if (opts_value(argc, argv, i, "--start", &v)) {
        if (parse_u64(v, 0, UINT64_MAX / 2, &u) < 0)
            BAD("--start %s: expected a number", v);
        o->start_n = u;
    } else if (opts_value(argc, argv, i, "--cycle", &v)) {
        if (parse_u64(v, 1, UINT64_MAX / 2, &u) < 0)
            BAD("--cycle %s: expected a positive number", v);
        o->cycle = u;
    } else if (opts_value(argc, argv, i, "--header", &v)) {
        header_add(o->headers, &o->n_headers, "--header", v);
    } else if (opts_value(argc, argv, i, "--target-header", &v)) {
        if (o->n_targets == 0)
            BAD("--target-header %s: give it after the --target it belongs to", v);
        struct target *t = &o->targets[o->n_targets - 1];
        header_add(t->headers, &t->n_headers, "--target-header", v);
    } else if (strcmp(argv[*i], "--print-body") == 0) {
        o->print_body = 1;
    } else {
        return 0;
    }
    return 1;
}

static void opts_parse(int argc, char **argv, struct opts *o)
{
    memset(o, 0, sizeof *o);
    o->connections = 1;
    o->duration_s = 10;
    o->drain_s = LG_DRAIN_MS / 1000.0;
    o->method = "GET";
    o->path_arg = "/";
    o->start_n = 1;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            exit(0);
        }
        if (!opts_load(argc, argv, &i, o) && !opts_request(argc, argv, &i, o))
            BAD("unknown option %s (see --help)", argv[i]);
    }
    if (o->n_targets == 0 && !o->print_body)
        BAD("--target HOST:PORT is required (see --help)");
    if (o->body_file && o->body_size)
        BAD("--body-file and --body-size exclude each other");
}

/* ---- setup ---- */
static char *read_file(const char *path, size_t *len, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    if (!f) {
        snprintf(err, errlen, "--body-file %s: %s", path, strerror(errno));
        return NULL;
    }
    buf = tr_malloc(LG_MAX_BODY_BYTES + 1);
    if (!buf) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    *len = fread(buf, 1, LG_MAX_BODY_BYTES + 1, f);
    if (ferror(f)) {
        snprintf(err, errlen, "--body-file %s: read error", path);
        goto fail;
    }
    if (*len > LG_MAX_BODY_BYTES) {
        snprintf(err, errlen, "--body-file %s: larger than %u bytes", path, LG_MAX_BODY_BYTES);
        goto fail;
    }
    fclose(f);
    buf[*len] = '\0';
    return buf;
fail:
    tr_free(buf);
    fclose(f);
    return NULL;
}

static int header_given(const struct opts *o, const char *name)
{
    size_t nl = strlen(name);
    for (size_t i = 0; i < o->n_headers; i++)
        if (strncasecmp(o->headers[i], name, nl) == 0 && o->headers[i][nl] == ':')
            return 1;
    return 0;
}

static int target_head_build(struct lg *lg, struct target *t)
{
    const struct opts *o = &lg->o;
    size_t cap = 128 + strlen(t->hostport);
    for (size_t i = 0; i < o->n_headers; i++)
        cap += strlen(o->headers[i]) + 2;
    for (size_t i = 0; i < t->n_headers; i++)
        cap += strlen(t->headers[i]) + 2;
    t->head_tail = tr_malloc(cap);
    if (!t->head_tail)
        return -1;
    size_t len = (size_t)snprintf(t->head_tail, cap, " HTTP/1.1\r\nHost: %s\r\n", t->hostport);
    if (!header_given(o, "User-Agent"))
        len += (size_t)snprintf(t->head_tail + len, cap - len, "User-Agent: treaty-loadgen\r\n");
    if (lg->has_body && !header_given(o, "Content-Type"))
        len +=
            (size_t)snprintf(t->head_tail + len, cap - len, "Content-Type: application/json\r\n");
    for (size_t i = 0; i < o->n_headers; i++)
        len += (size_t)snprintf(t->head_tail + len, cap - len, "%s\r\n", o->headers[i]);
    for (size_t i = 0; i < t->n_headers; i++)
        len += (size_t)snprintf(t->head_tail + len, cap - len, "%s\r\n", t->headers[i]);
    t->head_tail_len = len;
    return 0;
}

static int lg_setup(struct lg *lg, char *err, size_t errlen)
{
    struct opts *o = &lg->o;
    size_t len = 0;
    char *text = tr_strdup(o->path_arg);
    if (!text || tmpl_compile(&lg->path, text, strlen(text), "--path", err, errlen) < 0)
        return -1;
    text = NULL;
    if (o->body_file)
        text = read_file(o->body_file, &len, err, errlen);
    else if (o->body_size)
        text = body_generate(o->body_size, &len, err, errlen);
    if ((o->body_file || o->body_size) && !text)
        return -1;
    if (text) {
        lg->has_body = 1;
        if (tmpl_compile(&lg->body, text, len, "body", err, errlen) < 0)
            return -1;
    }
    if (o->print_body)
        return 0; /* no connections */
    size_t tail_max = 0;
    for (size_t i = 0; i < o->n_targets; i++) {
        if (target_head_build(lg, &o->targets[i]) < 0)
            goto nomem;
        if (o->targets[i].head_tail_len > tail_max)
            tail_max = o->targets[i].head_tail_len;
    }
    lg->head_max = strlen(o->method) + 1 + lg->path.max_len + tail_max + 64;
    lg->conns = tr_calloc(o->connections, sizeof *lg->conns);
    if (!lg->conns)
        goto nomem;
    for (unsigned i = 0; i < o->connections; i++) {
        struct conn *c = &lg->conns[i];
        c->lg = lg;
        c->target = &o->targets[i % o->n_targets];
        c->head = tr_malloc(lg->head_max);
        c->body = lg->has_body ? tr_malloc(lg->body.max_len + 1) : NULL;
        if (!c->head || (lg->has_body && !c->body))
            goto nomem;
    }
    return 0;
nomem:
    snprintf(err, errlen, "out of memory");
    return -1;
}

static void lg_free(struct lg *lg)
{
    for (unsigned i = 0; lg->conns && i < lg->o.connections; i++) {
        tr_free(lg->conns[i].head);
        tr_free(lg->conns[i].body);
    }
    tr_free(lg->conns);
    for (size_t i = 0; i < lg->o.n_targets; i++)
        tr_free(lg->o.targets[i].head_tail);
    tr_free(lg->path.text);
    tr_free(lg->body.text);
}

static void raise_fd_limit(unsigned connections)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < (rlim_t)connections + 64) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

/* ---- report ---- */
static double ms(uint64_t ns)
{
    return (double)ns / 1e6;
}

static json_t *report_build(const struct lg *lg)
{
    const struct opts *o = &lg->o;
    uint64_t end = lg->t_last_done_ns > lg->t_end_ns ? lg->t_last_done_ns : lg->t_end_ns;
    double elapsed = (double)(end - lg->t_measure_ns) / 1e9;
    json_t *targets = json_array(), *by_status = json_object(), *lat = json_object();
    for (size_t i = 0; i < o->n_targets; i++)
        json_array_append_new(targets, json_string(o->targets[i].hostport));
    for (unsigned st = 0; st < 600; st++) {
        int good = o->expect ? (int)st == o->expect : (st >= 200 && st < 300);
        if (lg->by_status[st] && !good) {
            char key[8];
            snprintf(key, sizeof key, "%u", st);
            json_object_set_new(by_status, key, json_integer((json_int_t)lg->by_status[st]));
        }
    }
    static const double pct[] = {50, 90, 99, 99.9};
    static const char *const pct_name[] = {"p50", "p90", "p99", "p99.9"};
    for (size_t i = 0; i < 4; i++)
        json_object_set_new(lat, pct_name[i], json_real(ms(hist_percentile(&lg->lat, pct[i]))));
    json_object_set_new(lat, "max", json_real(ms(lg->lat.max)));
    json_object_set_new(lat, "min", json_real(ms(lg->lat.min)));
    json_object_set_new(lat, "mean",
                        json_real(lg->lat.total ? lg->lat.sum / (double)lg->lat.total / 1e6 : 0));
    uint64_t errors = lg->requests - lg->ok;
    return json_pack(
        "{s:o, s:I, s:f, s:f, s:s, s:s, s:I, s:I, s:I, s:I, s:o, s:{s:I, s:I, s:I}, s:I, s:f, s:f, "
        "s:f, s:o}",
        "targets", targets, "connections", (json_int_t)o->connections, "duration_s", o->duration_s,
        "warmup_s", o->warmup_s, "method", o->method, "path", o->path_arg, "body_bytes",
        (json_int_t)lg->body_bytes_last, "requests", (json_int_t)lg->requests, "ok",
        (json_int_t)lg->ok, "errors", (json_int_t)errors, "errors_by_status", by_status,
        "errors_other", "socket", (json_int_t)lg->socket_errors, "parse",
        (json_int_t)lg->parse_errors, "connect", (json_int_t)lg->connect_errors, "unfinished",
        (json_int_t)lg->unfinished, "elapsed_s", elapsed, "throughput_rps",
        elapsed > 0 ? (double)lg->requests / elapsed : 0.0, "ok_rps",
        elapsed > 0 ? (double)lg->ok / elapsed : 0.0, "latency_ms", lat);
}

static void report_print(const json_t *r)
{
    json_t *lat = json_object_get(r, "latency_ms"), *other = json_object_get(r, "errors_other");
    printf("treaty-loadgen: %s %s, %" JSON_INTEGER_FORMAT " connections, %.1f s measured\n",
           json_string_value(json_object_get(r, "method")),
           json_string_value(json_object_get(r, "path")),
           json_integer_value(json_object_get(r, "connections")),
           json_real_value(json_object_get(r, "elapsed_s")));
    printf("  requests    %" JSON_INTEGER_FORMAT "\n",
           json_integer_value(json_object_get(r, "requests")));
    printf("  ok          %" JSON_INTEGER_FORMAT "\n",
           json_integer_value(json_object_get(r, "ok")));
    printf("  errors      %" JSON_INTEGER_FORMAT, json_integer_value(json_object_get(r, "errors")));
    const char *k;
    json_t *v;
    json_object_foreach(json_object_get(r, "errors_by_status"), k, v)
        printf("  status %s: %" JSON_INTEGER_FORMAT, k, json_integer_value(v));
    json_object_foreach(other, k, v) if (json_integer_value(v))
        printf("  %s: %" JSON_INTEGER_FORMAT, k, json_integer_value(v));
    printf("\n  throughput  %.1f req/s (ok %.1f/s)\n",
           json_real_value(json_object_get(r, "throughput_rps")),
           json_real_value(json_object_get(r, "ok_rps")));
    printf("  latency ms  p50 %.3f  p90 %.3f  p99 %.3f  p99.9 %.3f  max %.3f\n",
           json_real_value(json_object_get(lat, "p50")),
           json_real_value(json_object_get(lat, "p90")),
           json_real_value(json_object_get(lat, "p99")),
           json_real_value(json_object_get(lat, "p99.9")),
           json_real_value(json_object_get(lat, "max")));
}

static int report_write(const json_t *r, const char *path)
{
    if (strcmp(path, "-") == 0)
        return json_dumpf(r, stdout, JSON_INDENT(2) | JSON_SORT_KEYS) == 0 && puts("") >= 0 ? 0
                                                                                            : -1;
    return json_dump_file(r, path, JSON_INDENT(2) | JSON_SORT_KEYS);
}

int main(int argc, char **argv)
{
    static struct lg lg; /* large (histogram): static, not on the stack */
    char err[512];
    int rc = 3;
    if (argc == 2 && strcmp(argv[1], "--check-histogram") == 0) {
        int failures = hist_check();
        printf("histogram %s\n", failures ? "FAILED" : "ok");
        return failures ? 1 : 0;
    }
    opts_parse(argc, argv, &lg.o);
    signal(SIGPIPE, SIG_IGN);
    raise_fd_limit(lg.o.connections);
    if (lg_setup(&lg, err, sizeof err) < 0) {
        fprintf(stderr, "treaty-loadgen: %s\n", err);
        lg_free(&lg);
        return 2;
    }
    if (lg.o.print_body) { /* for treaty-bench-apply and the etcd runs: the same records */
        if (lg.has_body)
            fwrite(lg.body.text, 1, lg.body.text_len, stdout);
        else
            fprintf(stderr, "treaty-loadgen: --print-body needs --body-size or --body-file\n");
        lg_free(&lg);
        return lg.has_body ? 0 : 2;
    }
    lg.loop = uv_default_loop();
    lg.next_n = lg.o.start_n;
    lg.live = lg.o.connections;
    uv_timer_init(lg.loop, &lg.phase_timer);
    lg.phase_timer.data = &lg;
    uv_signal_init(lg.loop, &lg.sigint);
    lg.sigint.data = &lg;
    uv_signal_start(&lg.sigint, on_sigint, SIGINT);
    lg.t_begin_ns = lg.t_measure_ns = uv_hrtime();
    lg.phase = lg.o.warmup_s > 0 ? PHASE_WARMUP : PHASE_MEASURE;
    uint64_t first_ms = (uint64_t)((lg.o.warmup_s > 0 ? lg.o.warmup_s : lg.o.duration_s) * 1000.0);
    uv_timer_start(&lg.phase_timer, on_phase, first_ms, 0);
    for (unsigned i = 0; i < lg.o.connections; i++) {
        uv_timer_init(lg.loop, &lg.conns[i].retry);
        lg.conns[i].retry.data = &lg.conns[i];
        conn_connect(&lg.conns[i]);
    }
    uv_run(lg.loop, UV_RUN_DEFAULT);
    json_t *r = report_build(&lg);
    if (!r) {
        fprintf(stderr, "treaty-loadgen: out of memory building the report\n");
        goto out;
    }
    report_print(r);
    fflush(stdout);
    if (lg.o.json_path && report_write(r, lg.o.json_path) < 0) {
        fprintf(stderr, "treaty-loadgen: --json %s: cannot write the report\n", lg.o.json_path);
        json_decref(r);
        goto out;
    }
    json_decref(r);
    rc = 0;
    if (lg.requests == 0) {
        fprintf(stderr, "treaty-loadgen: no request completed (%" PRIu64 " failed connects)\n",
                lg.connect_errors);
        rc = 3;
    }
out:
    uv_loop_close(lg.loop);
    lg_free(&lg);
    return rc;
}
