/* harness.c — the api suites' fake backend, server setup and loopback HTTP client (harness.h).
 * The client parses responses with http-parser in response mode, so tests see exactly the status,
 * headers and body the server wrote, in order. */
#include "harness.h"

#include "common/alloc.h"
#include "common/err.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char TEST_SCHEMA[] =
    "{\"type\":\"object\",\"properties\":{"
    "\"Item\":{\"type\":\"array\",\"items\":{\"type\":\"object\",\"x-treaty-key\":\"id\","
    "\"x-treaty-indexes\":[\"qty\",\"note\"],"
    "\"required\":[\"id\",\"qty\"],\"additionalProperties\":false,\"properties\":{"
    "\"id\":{\"type\":\"string\",\"maxLength\":300},\"qty\":{\"type\":\"integer\",\"minimum\":0},"
    "\"note\":{\"type\":\"string\"}}}},"
    "\"Counter\":{\"type\":\"array\",\"items\":{\"type\":\"object\",\"x-treaty-key\":\"n\","
    "\"required\":[\"n\"],\"properties\":{\"n\":{\"type\":\"integer\"}}}},"
    /* Secret: read by its owner and beta; its note by the owner only, its tag by everyone */
    "\"Secret\":{\"type\":\"array\",\"items\":{\"type\":\"object\",\"x-treaty-key\":\"id\","
    "\"x-treaty-indexes\":[\"note\",\"tag\"],"
    "\"x-treaty-acl\":{\"read\":[\"owner\",\"beta\"],\"fields\":{\"note\":{\"read\":[\"owner\"]},"
    "\"tag\":{\"read\":[\"*\"]}}},"
    "\"required\":[\"id\"],\"properties\":{\"id\":{\"type\":\"string\"},"
    "\"note\":{\"type\":\"string\"},\"tag\":{\"type\":\"string\"}}}},"
    /* Vault: nobody may read */
    "\"Vault\":{\"type\":\"array\",\"items\":{\"type\":\"object\",\"x-treaty-key\":\"id\","
    "\"x-treaty-acl\":{\"read\":[]},"
    "\"required\":[\"id\"],\"properties\":{\"id\":{\"type\":\"string\"}}}}}}";

static const char DEFAULT_RECORD[] = "{\"id\":\"a1\",\"qty\":3,\"_key\":\"a1\",\"_version\":3}";

/* ------------------------------------------------------------------------------------------- */
/* Fake backend */

static void fake_answer(struct fake_backend *fb, void *req, api_done_fn done,
                        api_record_done_fn done_record)
{
    if (fb->submit_text) {
        char *text = strdup(fb->submit_text);
        ck_assert_ptr_nonnull(text);
        fb->n_answered++;
        done_record(req, fb->submit_status ? fb->submit_status : 201, text);
        return;
    }
    json_t *body = fb->submit_body ? json_deep_copy(fb->submit_body)
                                   : json_pack("{s:s}", "tx", "0123456789abcdef0123456789abcdef");
    fb->n_answered++;
    done(req, fb->submit_status ? fb->submit_status : 201, body, fb->etag ? fb->etag : "1");
}

static void fake_timer_closed(uv_handle_t *h)
{
    (void)h;
}

static void fake_timer_fired(uv_timer_t *t)
{
    struct fake_pending *p = t->data;
    uv_close((uv_handle_t *)t, fake_timer_closed);
    fake_answer(p->fb, p->req, p->done, p->done_record);
}

static void fake_submit(void *ctx, json_t *tx, void *req, api_done_fn done,
                        api_record_done_fn done_record)
{
    struct fake_backend *fb = ctx;
    fb->n_submit++;
    char *s = json_dumps(tx, JSON_COMPACT | JSON_SORT_KEYS);
    ck_assert_ptr_nonnull(s);
    snprintf(fb->last_tx, sizeof fb->last_tx, "%s", s);
    free(s);
    if (!fb->async) {
        fake_answer(fb, req, done, done_record);
        return;
    }
    ck_assert_int_lt(fb->n_pending, FAKE_PENDING_MAX);
    struct fake_pending *p = &fb->pending[fb->n_pending++];
    p->req = req;
    p->done = done;
    p->done_record = done_record;
    p->fb = fb;
    uv_timer_init(fb->loop, &p->timer);
    p->timer.data = p;
    uv_timer_start(&p->timer, fake_timer_fired, fb->delay_ms ? fb->delay_ms : 20, 0);
}

static int fake_record_get(void *ctx, const char *type, const char *key, uint64_t version,
                           char **json)
{
    struct fake_backend *fb = ctx;
    fb->n_record_get++;
    snprintf(fb->last_type, sizeof fb->last_type, "%s", type);
    snprintf(fb->last_key, sizeof fb->last_key, "%s", key);
    fb->last_version = version;
    if (fb->record_rc != TR_OK)
        return fb->record_rc;
    *json = strdup(fb->record_json ? fb->record_json : DEFAULT_RECORD);
    return *json ? TR_OK : TR_ENOMEM;
}

static int fake_head(void *ctx, json_t **out)
{
    struct fake_backend *fb = ctx;
    fb->n_head++;
    *out = json_pack("{s:i, s:s}", "height", 42, "block_hash", "ab");
    return TR_OK;
}

static int fake_tx_get(void *ctx, const char *id, json_t **out)
{
    struct fake_backend *fb = ctx;
    fb->n_tx_get++;
    snprintf(fb->last_tx_id, sizeof fb->last_tx_id, "%s", id);
    if (fb->tx_rc != TR_OK)
        return fb->tx_rc;
    *out = json_pack("{s:s, s:s}", "tx", id, "status", "committed");
    return TR_OK;
}

static int fake_members(void *ctx, json_t **out)
{
    struct fake_backend *fb = ctx;
    fb->n_members++;
    *out = json_pack("{s:[{s:s}]}", "members", "org", "acme");
    return TR_OK;
}

static int fake_block_get(void *ctx, uint64_t height, json_t **out)
{
    struct fake_backend *fb = ctx;
    fb->n_block_get++;
    fb->last_height = height;
    if (height > 100)
        return TR_ENOTFOUND;
    *out = json_pack("{s:I}", "height", (json_int_t)height);
    return TR_OK;
}

static int fake_checkpoint_latest(void *ctx, json_t **out)
{
    struct fake_backend *fb = ctx;
    fb->n_checkpoint++;
    *out = json_pack("{s:i, s:[]}", "height", 64, "cosigners");
    return TR_OK;
}

static int fake_test_entry(void *ctx, const char *entry_b64)
{
    struct fake_backend *fb = ctx;
    fb->n_test_entry++;
    snprintf(fb->last_entry, sizeof fb->last_entry, "%s", entry_b64);
    return strcmp(entry_b64, "AAEC") == 0 ? TR_OK : TR_EINVAL;
}

static int fake_history(void *ctx, const char *type, const char *key, uint64_t after_version,
                        uint32_t limit, json_t **out)
{
    struct fake_backend *fb = ctx;
    fb->n_history++;
    snprintf(fb->last_type, sizeof fb->last_type, "%s", type);
    snprintf(fb->last_key, sizeof fb->last_key, "%s", key);
    fb->last_version = after_version;
    fb->last_limit = limit;
    if (fb->page_rc != TR_OK)
        return fb->page_rc;
    if (fb->history_json) {
        *out = json_loads(fb->history_json, 0, NULL);
        ck_assert_ptr_nonnull(*out);
        return TR_OK;
    }
    *out = json_pack("{s:[{s:I}], s:I}", "versions", "_version", (json_int_t)after_version + 1,
                     "next_after_version", (json_int_t)after_version + 1);
    return *out ? TR_OK : TR_ENOMEM;
}

/* The JSON text of v, "(none)" for NULL, into buf. */
static void value_text(const json_t *v, char *buf, size_t n)
{
    char *s = v ? json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT) : NULL;
    snprintf(buf, n, "%s", s ? s : "(none)");
    free(s);
}

static int fake_list(void *ctx, const char *type, const struct api_list_query *q, json_t **out)
{
    struct fake_backend *fb = ctx;
    fb->n_list++;
    snprintf(fb->last_type, sizeof fb->last_type, "%s", type);
    snprintf(fb->last_field, sizeof fb->last_field, "%s", q->field ? q->field : "(none)");
    value_text(q->eq, fb->last_value, sizeof fb->last_value);
    value_text(q->lo, fb->last_lo, sizeof fb->last_lo);
    value_text(q->hi, fb->last_hi, sizeof fb->last_hi);
    fb->last_lo_incl = q->lo_incl;
    fb->last_hi_incl = q->hi_incl;
    fb->last_desc = q->desc;
    snprintf(fb->last_cursor, sizeof fb->last_cursor, "%s", q->cursor ? q->cursor : "(none)");
    fb->last_limit = q->limit;
    if (fb->page_rc != TR_OK)
        return fb->page_rc;
    if (fb->list_json) {
        *out = json_loads(fb->list_json, 0, NULL);
        ck_assert_ptr_nonnull(*out);
        return TR_OK;
    }
    *out = json_pack("{s:[{s:s}], s:s}", "items", "id", "a1", "next_cursor", "6131");
    return *out ? TR_OK : TR_ENOMEM;
}

/* Proofs over a pretend tree of 10 leaves; tx ids starting with 'f' are unknown. */
static int fake_proof_inclusion(void *ctx, const char *tx, uint64_t tree_size, json_t **out)
{
    struct fake_backend *fb = ctx;
    fb->n_proof++;
    fb->last_size1 = tree_size;
    if (tx[0] == 'f')
        return TR_ENOTFOUND;
    if (tree_size > 10)
        return TR_EINVAL;
    *out = json_pack("{s:s, s:I, s:[s]}", "tx", tx, "tree_size",
                     (json_int_t)(tree_size ? tree_size : 10), "proof", "00");
    return *out ? TR_OK : TR_ENOMEM;
}

static int fake_proof_consistency(void *ctx, uint64_t first, uint64_t second, json_t **out)
{
    struct fake_backend *fb = ctx;
    fb->n_proof++;
    fb->last_size1 = first;
    fb->last_size2 = second;
    if (second > 10 || first > 10)
        return TR_EINVAL;
    *out = json_pack("{s:I, s:I, s:[]}", "size1", (json_int_t)first, "size2",
                     (json_int_t)(second ? second : 10), "proof");
    return *out ? TR_OK : TR_ENOMEM;
}

static void fake_barrier_fired(uv_timer_t *t)
{
    struct fake_backend *fb = t->data;
    uv_close((uv_handle_t *)t, fake_timer_closed);
    fb->barrier_pending = false;
    fb->barrier_done(fb->barrier_req, fb->barrier_rc);
}

static void fake_read_barrier(void *ctx, void *req, void (*done)(void *req, int rc))
{
    struct fake_backend *fb = ctx;
    fb->n_barrier++;
    if (!fb->async) {
        done(req, fb->barrier_rc);
        return;
    }
    ck_assert(!fb->barrier_pending);
    fb->barrier_pending = true;
    fb->barrier_req = req;
    fb->barrier_done = done;
    uv_timer_init(fb->loop, &fb->barrier_timer);
    fb->barrier_timer.data = fb;
    uv_timer_start(&fb->barrier_timer, fake_barrier_fired, fb->delay_ms ? fb->delay_ms : 20, 0);
}

static int fake_authenticate(void *ctx, const char *key, size_t len, enum api_role *role)
{
    struct fake_backend *fb = ctx;
    fb->n_auth++;
    static const struct {
        const char *key;
        enum api_role role;
    } keys[] = {
        {KEY_READER, API_ROLE_READER}, {KEY_WRITER, API_ROLE_WRITER}, {KEY_ADMIN, API_ROLE_ADMIN}};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        if (strlen(keys[i].key) != len || memcmp(keys[i].key, key, len) != 0)
            continue;
        if (keys[i].role == API_ROLE_ADMIN && fb->admin_revoked)
            break;
        *role = keys[i].role;
        return TR_OK;
    }
    return TR_ENOTFOUND;
}

static int fake_node_stats(void *ctx, struct api_node_stats *out)
{
    struct fake_backend *fb = ctx;
    fb->n_node_stats++;
    if (fb->stats_rc != TR_OK)
        return fb->stats_rc;
    *out = fb->stats;
    return TR_OK;
}

static int fake_changes(void *ctx, uint64_t height, json_t **out)
{
    struct fake_backend *fb = ctx;
    fb->n_changes++;
    fb->last_changes_height = height;
    if (fb->changes_rc != TR_OK)
        return fb->changes_rc;
    if (height == 0 || height > json_array_size(fb->blocks))
        return TR_ENOTFOUND;
    *out = json_deep_copy(json_array_get(fb->blocks, (size_t)(height - 1)));
    return *out ? TR_OK : TR_ENOMEM;
}

static int fake_export_range(void *ctx, uint64_t from, uint64_t *to)
{
    struct fake_backend *fb = ctx;
    if (*to == 0)
        *to = fb->export_head;
    fb->last_export_from = from;
    fb->last_export_to = *to;
    return from >= 1 && from <= *to && *to <= fb->export_head ? TR_OK : TR_EINVAL;
}

static int fake_export_next(void *ctx, struct api_export_cursor *cur, uint8_t **out, size_t *len)
{
    struct fake_backend *fb = ctx;
    fb->n_export_next++;
    if (cur->next >= fb->export_records)
        return TR_ENOTFOUND;
    if (fb->export_fail_at && cur->next + 1 == fb->export_fail_at)
        return TR_EIO;
    *out = tr_malloc(fb->export_record_bytes);
    if (!*out)
        return TR_ENOMEM;
    memset(*out, (int)(cur->next & 0xff), fb->export_record_bytes);
    *len = fb->export_record_bytes;
    cur->next++;
    return TR_OK;
}

/* ------------------------------------------------------------------------------------------- */
/* Server and loop */

struct run_state {
    bool fired;
};

static void run_timer_fired(uv_timer_t *t)
{
    ((struct run_state *)t->data)->fired = true;
}

static void run_timer_closed(uv_handle_t *h)
{
    (void)h;
}

bool harness_run_until(struct harness *h, bool (*cond)(void *), void *arg, unsigned ms)
{
    struct run_state st = {false};
    uv_timer_t t;
    uv_timer_init(&h->loop, &t);
    t.data = &st;
    uv_timer_start(&t, run_timer_fired, ms, 0);
    bool ok = cond ? cond(arg) : false;
    while (!ok && !st.fired) {
        uv_run(&h->loop, UV_RUN_ONCE);
        ok = cond ? cond(arg) : false;
    }
    uv_close((uv_handle_t *)&t, run_timer_closed);
    uv_run(&h->loop, UV_RUN_NOWAIT);
    return ok;
}

void harness_run_for(struct harness *h, unsigned ms)
{
    harness_run_until(h, NULL, NULL, ms);
}

static void harness_start_with(struct harness *h, const struct api_config *cfg, bool auth,
                               const char *schema_json)
{
    memset(h, 0, sizeof *h);
    ck_assert_int_eq(uv_loop_init(&h->loop), 0);
    json_error_t jerr;
    json_t *doc = json_loads(schema_json, 0, &jerr);
    ck_assert_ptr_nonnull(doc);
    char err[256];
    int lrc = schema_network_load(doc, NULL, &h->schema, err, sizeof err);
    ck_assert_msg(lrc == TR_OK, "schema: %s", err);
    json_decref(doc);
    h->fb.loop = &h->loop;
    struct api_config c = cfg ? *cfg : (struct api_config){0};
    c.host = "127.0.0.1";
    c.port = 0;
    c.schema = h->schema;
    c.port_out = &h->port;
    if (!c.org)
        c.org = HARNESS_ORG;
    struct api_backend be = {
        .ctx = &h->fb,
        .submit = fake_submit,
        .record_get = fake_record_get,
        .head = fake_head,
        .tx_get = fake_tx_get,
        .members = fake_members,
        .block_get = fake_block_get,
        .checkpoint_latest = fake_checkpoint_latest,
        .test_entry = fake_test_entry,
        .history = fake_history,
        .list = fake_list,
        .proof_inclusion = fake_proof_inclusion,
        .proof_consistency = fake_proof_consistency,
        .read_barrier = fake_read_barrier,
        .node_stats = fake_node_stats,
        .changes = fake_changes,
        .export_range = fake_export_range,
        .export_next = fake_export_next,
        .authenticate = auth ? fake_authenticate : NULL,
    };
    int rc = api_create(&h->loop, &c, &be, &h->api, err, sizeof err);
    ck_assert_msg(rc == TR_OK, "api_create: %s", err);
    ck_assert_uint_ne(h->port, 0);
}

void harness_start(struct harness *h, const struct api_config *cfg)
{
    harness_start_with(h, cfg, true, TEST_SCHEMA);
}

void harness_start_schema(struct harness *h, const struct api_config *cfg, const char *schema_json)
{
    harness_start_with(h, cfg, true, schema_json);
}

void harness_start_noauth(struct harness *h, const struct api_config *cfg)
{
    harness_start_with(h, cfg, false, TEST_SCHEMA);
}

static void api_closed_cb(void *arg)
{
    ((struct harness *)arg)->api_closed = true;
}

void harness_close_api(struct harness *h)
{
    api_close(h->api, api_closed_cb, h);
}

static bool api_is_closed(void *arg)
{
    return ((struct harness *)arg)->api_closed;
}

static void walk_close(uv_handle_t *hd, void *arg)
{
    (void)arg;
    if (!uv_is_closing(hd))
        uv_close(hd, NULL);
}

void harness_stop(struct harness *h)
{
    if (h->api && !h->api_closed) {
        if (!h->api_closed)
            harness_close_api(h);
        ck_assert_msg(harness_run_until(h, api_is_closed, h, 3000), "api_close never completed");
    }
    uv_walk(&h->loop, walk_close, NULL);
    uv_run(&h->loop, UV_RUN_DEFAULT);
    ck_assert_int_eq(uv_loop_close(&h->loop), 0);
    schema_network_destroy(h->schema);
    json_decref(h->fb.blocks);
}

/* ------------------------------------------------------------------------------------------- */
/* Client */

static int cl_begin(http_parser *p)
{
    struct client *c = p->data;
    ck_assert_int_lt(c->n_resp, CLIENT_RESP_MAX);
    memset(&c->resp[c->n_resp], 0, sizeof c->resp[0]);
    c->in_value = false;
    c->field_len = 0;
    return 0;
}

static int cl_field(http_parser *p, const char *at, size_t len)
{
    struct client *c = p->data;
    if (c->in_value) {
        c->in_value = false;
        c->field_len = 0;
    }
    size_t n = len < sizeof c->field - 1 - c->field_len ? len : sizeof c->field - 1 - c->field_len;
    memcpy(c->field + c->field_len, at, n);
    c->field_len += n;
    c->field[c->field_len] = '\0';
    return 0;
}

static int cl_value(http_parser *p, const char *at, size_t len)
{
    struct client *c = p->data;
    struct response *r = &c->resp[c->n_resp];
    if (!c->in_value) {
        c->in_value = true;
        c->value_dst = NULL;
        if (strcasecmp(c->field, "content-type") == 0) {
            c->value_dst = r->content_type;
            c->value_cap = sizeof r->content_type;
        } else if (strcasecmp(c->field, "etag") == 0) {
            c->value_dst = r->etag;
            c->value_cap = sizeof r->etag;
        } else if (strcasecmp(c->field, "allow") == 0) {
            c->value_dst = r->allow;
            c->value_cap = sizeof r->allow;
        } else if (strcasecmp(c->field, "www-authenticate") == 0) {
            c->value_dst = r->www_authenticate;
            c->value_cap = sizeof r->www_authenticate;
        } else if (strcasecmp(c->field, "connection") == 0) {
            c->value_dst = r->connection;
            c->value_cap = sizeof r->connection;
        } else if (strcasecmp(c->field, "location") == 0) {
            c->value_dst = r->location;
            c->value_cap = sizeof r->location;
        } else if (strcasecmp(c->field, "preference-applied") == 0) {
            c->value_dst = r->preference_applied;
            c->value_cap = sizeof r->preference_applied;
        }
    }
    if (c->value_dst) {
        size_t have = strlen(c->value_dst);
        size_t n = len < c->value_cap - 1 - have ? len : c->value_cap - 1 - have;
        memcpy(c->value_dst + have, at, n);
        c->value_dst[have + n] = '\0';
    }
    return 0;
}

static int cl_headers_done(http_parser *p)
{
    struct client *c = p->data;
    c->resp[c->n_resp].status = (int)p->status_code;
    if (c->head_next) {
        c->head_next = false;
        return 1; /* http-parser: no body follows */
    }
    return 0;
}

static int cl_body(http_parser *p, const char *at, size_t len)
{
    struct client *c = p->data;
    struct response *r = &c->resp[c->n_resp];
    if (r->body_len + len + 1 > r->body_cap) {
        size_t cap = r->body_cap ? r->body_cap : 4096;
        while (cap < r->body_len + len + 1)
            cap *= 2;
        r->body = realloc(r->body, cap);
        ck_assert_ptr_nonnull(r->body);
        r->body_cap = cap;
    }
    memcpy(r->body + r->body_len, at, len);
    r->body_len += len;
    r->body[r->body_len] = '\0';
    return 0;
}

static int cl_done(http_parser *p)
{
    struct client *c = p->data;
    c->n_resp++;
    return 0;
}

static const http_parser_settings client_settings = {
    .on_message_begin = cl_begin,
    .on_header_field = cl_field,
    .on_header_value = cl_value,
    .on_headers_complete = cl_headers_done,
    .on_body = cl_body,
    .on_message_complete = cl_done,
};

static void cl_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)h;
    buf->base = malloc(suggested);
    buf->len = buf->base ? suggested : 0;
}

static void cl_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    struct client *c = s->data;
    if (nread > 0) {
        size_t n = http_parser_execute(&c->rp, &client_settings, buf->base, (size_t)nread);
        ck_assert_msg(n == (size_t)nread && HTTP_PARSER_ERRNO(&c->rp) == HPE_OK,
                      "client: malformed response: %s", http_errno_name(HTTP_PARSER_ERRNO(&c->rp)));
    } else if (nread < 0) {
        c->eof = true;
        uv_read_stop(s);
    }
    free(buf->base);
}

static void cl_connected(uv_connect_t *req, int status)
{
    struct client *c = req->data;
    c->connect_status = status;
    c->connected = true;
    if (status == 0)
        uv_read_start((uv_stream_t *)&c->tcp, cl_alloc, cl_read);
}

void client_pause(struct client *c)
{
    uv_read_stop((uv_stream_t *)&c->tcp);
}

void client_resume(struct client *c)
{
    ck_assert_int_eq(uv_read_start((uv_stream_t *)&c->tcp, cl_alloc, cl_read), 0);
}

static bool cl_is_connected(void *arg)
{
    return ((struct client *)arg)->connected;
}

int client_try_open(struct client *c, struct harness *h)
{
    memset(c, 0, sizeof *c);
    c->h = h;
    uv_tcp_init(&h->loop, &c->tcp);
    c->tcp.data = c;
    c->creq.data = c;
    http_parser_init(&c->rp, HTTP_RESPONSE);
    c->rp.data = c;
    struct sockaddr_in a;
    uv_ip4_addr("127.0.0.1", h->port, &a);
    ck_assert_int_eq(uv_tcp_connect(&c->creq, &c->tcp, (const struct sockaddr *)&a, cl_connected),
                     0);
    ck_assert(harness_run_until(h, cl_is_connected, c, 2000));
    return c->connect_status;
}

void client_open(struct client *c, struct harness *h)
{
    ck_assert_int_eq(client_try_open(c, h), 0);
}

static void cl_written(uv_write_t *w, int status)
{
    (void)status;
    free(w);
}

static void cl_shut(uv_shutdown_t *s, int status)
{
    (void)status;
    free(s);
}

void client_shutdown(struct client *c)
{
    uv_shutdown_t *s = malloc(sizeof *s);
    ck_assert_ptr_nonnull(s);
    ck_assert_int_eq(uv_shutdown(s, (uv_stream_t *)&c->tcp, cl_shut), 0);
}

void client_send(struct client *c, const char *data, size_t len)
{
    uv_write_t *w = malloc(sizeof *w + len);
    ck_assert_ptr_nonnull(w);
    char *copy = (char *)(w + 1);
    memcpy(copy, data, len);
    uv_buf_t b = uv_buf_init(copy, (unsigned int)len);
    ck_assert_int_eq(uv_write(w, (uv_stream_t *)&c->tcp, &b, 1, cl_written), 0);
}

void client_sends(struct client *c, const char *s)
{
    client_send(c, s, strlen(s));
}

struct wait_n {
    struct client *c;
    int n;
};

static bool cl_has_n(void *arg)
{
    struct wait_n *w = arg;
    return w->c->n_resp >= w->n || w->c->eof;
}

int client_wait(struct client *c, int n, unsigned ms)
{
    struct wait_n w = {c, n};
    harness_run_until(c->h, cl_has_n, &w, ms);
    if (c->n_resp < n && c->eof) /* a last response may sit in the same read as the FIN */
        harness_run_for(c->h, 10);
    return c->n_resp;
}

static bool cl_is_eof(void *arg)
{
    return ((struct client *)arg)->eof;
}

bool client_wait_eof(struct client *c, unsigned ms)
{
    return harness_run_until(c->h, cl_is_eof, c, ms);
}

static void cl_closed(uv_handle_t *h)
{
    ((struct client *)h->data)->closed = true;
}

static bool cl_is_closed(void *arg)
{
    return ((struct client *)arg)->closed;
}

void client_close(struct client *c)
{
    if (!uv_is_closing((uv_handle_t *)&c->tcp))
        uv_close((uv_handle_t *)&c->tcp, cl_closed);
    ck_assert(harness_run_until(c->h, cl_is_closed, c, 2000));
    for (int i = 0; i < CLIENT_RESP_MAX; i++)
        free(c->resp[i].body);
    memset(c->resp, 0, sizeof c->resp);
}

void http_do(struct harness *h, const char *request, struct response *out)
{
    struct client c;
    client_open(&c, h);
    client_sends(&c, request);
    ck_assert_int_eq(client_wait(&c, 1, 3000), 1);
    *out = c.resp[0];
    c.resp[0].body = NULL;
    client_close(&c);
}

json_t *response_json(const struct response *r)
{
    json_error_t jerr;
    ck_assert_ptr_nonnull(r->body);
    json_t *j = json_loadb(r->body, r->body_len, 0, &jerr);
    ck_assert_msg(j != NULL, "response body is not JSON: %s", r->body);
    return j;
}
