/* test_config.c — DIR/node.json: defaults, the write/load round trip, every key's range at both
 * edges (table-driven), wrong types, unknown keys named with their section, required keys, the
 * cross-key rules, HOST:PORT parsing and the file size bound. */
#include "node/config.h"
#include "node/store.h"

#include "common/err.h"

#include <check.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

Suite *suite_config(void);

#define BASE "\"org\":\"acme\",\"peer\":\"127.0.0.1:7401\",\"api\":\"127.0.0.1:8401\""

static char tdir[64];

static void setup(void)
{
    snprintf(tdir, sizeof tdir, "/tmp/treaty-test-config-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tdir));
}

static void teardown(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tdir);
    ck_assert_int_eq(system(cmd), 0);
}

static void write_json(const char *text)
{
    char path[128];
    snprintf(path, sizeof path, "%s/node.json", tdir);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
}

/* Loads {BASE, extra}; returns the code, err filled. */
static int load_with(const char *extra, struct node_config *c, char *err, size_t errlen)
{
    char text[1024];
    snprintf(text, sizeof text, "{" BASE "%s%s}", extra[0] ? "," : "", extra);
    write_json(text);
    return config_load(tdir, c, err, errlen);
}

START_TEST(test_defaults)
{
    struct node_config c;
    config_defaults(&c);
    ck_assert_str_eq(c.org, "");
    ck_assert_str_eq(c.peer_host, "127.0.0.1");
    ck_assert_uint_eq(c.peer_port, 7401);
    ck_assert_str_eq(c.api_host, "127.0.0.1");
    ck_assert_uint_eq(c.api_port, 8401);
    ck_assert_uint_eq(c.batch_max_txs, 256);
    ck_assert_uint_eq(c.batch_max_delay_ms, 0);
    ck_assert_uint_eq(c.map_size_bytes, 256ull << 20);
    ck_assert_uint_eq(c.map_max_bytes, 65536ull << 20);
    ck_assert_uint_eq(c.frame_max_bytes, 16777216);
    ck_assert_uint_eq(c.send_queue_max_bytes, 67108864);
    ck_assert_uint_eq(c.http_body_max_bytes, 1048576);
    ck_assert_uint_eq(c.http_max_connections, 1024);
    ck_assert_uint_eq(c.http_header_max_bytes, 16384);
    ck_assert_uint_eq(c.events_max_clients, 256);
    ck_assert_uint_eq(c.events_buffer_bytes, 1048576);
    ck_assert_uint_eq(c.events_heartbeat_ms, 15000);
    ck_assert_uint_eq(c.read_index_timeout_ms, 5000);
    ck_assert_uint_eq(c.write_timeout_ms, 30000);
    ck_assert_uint_eq(c.max_pending_reads, 4096);
    ck_assert_uint_eq(c.http_request_timeout_ms, 30000);
    ck_assert_uint_eq(c.http_idle_timeout_ms, 60000);
    ck_assert_uint_eq(c.apply_max_entries, 256);
    ck_assert_uint_eq(c.apply_max_bytes, 16u << 20);
    ck_assert_str_eq(c.log_level, "info");
}
END_TEST

START_TEST(test_minimal_file_gets_defaults)
{
    struct node_config c, d;
    char err[512];
    write_json("{\"org\":\"globex\",\"peer\":\"localhost:7402\",\"api\":\"[::1]:8402\"}");
    ck_assert_int_eq(config_load(tdir, &c, err, sizeof err), TR_OK);
    ck_assert_str_eq(c.org, "globex");
    ck_assert_str_eq(c.peer_host, "localhost");
    ck_assert_uint_eq(c.peer_port, 7402);
    ck_assert_str_eq(c.api_host, "::1");
    ck_assert_uint_eq(c.api_port, 8402);
    config_defaults(&d);
    ck_assert_uint_eq(c.batch_max_txs, d.batch_max_txs);
    ck_assert_uint_eq(c.map_max_bytes, d.map_max_bytes);
    ck_assert_uint_eq(c.http_header_max_bytes, d.http_header_max_bytes);
    ck_assert_str_eq(c.log_level, "info");
}
END_TEST

START_TEST(test_round_trip)
{
    struct node_config c, d;
    char err[512];
    config_defaults(&c);
    snprintf(c.org, sizeof c.org, "initech");
    snprintf(c.peer_host, sizeof c.peer_host, "127.0.0.2");
    c.peer_port = 1;
    snprintf(c.api_host, sizeof c.api_host, "::1");
    c.api_port = 65535;
    c.batch_max_txs = 7;
    c.batch_max_delay_ms = 5;
    c.map_size_bytes = 1ull << 20;
    c.map_max_bytes = 3ull << 20;
    c.frame_max_bytes = 4096;
    c.send_queue_max_bytes = CONFIG_SEND_QUEUE_MAX_BYTES_MAX;
    c.http_body_max_bytes = 1024;
    c.http_max_connections = 1;
    c.http_header_max_bytes = 1048576;
    c.store_sync_interval_ms = 2500;
    c.apply_max_entries = 3;
    c.apply_max_bytes = CONFIG_APPLY_MAX_BYTES_MAX;
    snprintf(c.log_level, sizeof c.log_level, "debug");
    ck_assert_int_eq(config_write(tdir, &c, err, sizeof err), TR_OK);
    ck_assert_int_eq(config_load(tdir, &d, err, sizeof err), TR_OK);
    ck_assert_mem_eq(&c, &d, sizeof c);
    /* never overwritten */
    ck_assert_int_eq(config_write(tdir, &c, err, sizeof err), TR_EEXISTS);
    ck_assert_ptr_nonnull(strstr(err, "node.json"));
    char path[128];
    struct stat st;
    snprintf(path, sizeof path, "%s/node.json", tdir);
    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert_uint_eq(st.st_mode & 0777, 0600);
}
END_TEST

struct range_case {
    const char *section, *key;
    uint64_t min, max;
};

static const struct range_case ranges[] = {
    {"batch", "max_txs", CONFIG_BATCH_MAX_TXS_MIN, CONFIG_BATCH_MAX_TXS_MAX},
    {"batch", "max_delay_ms", CONFIG_BATCH_MAX_DELAY_MS_MIN, CONFIG_BATCH_MAX_DELAY_MS_MAX},
    {"batch", "max_bytes", CONFIG_BATCH_MAX_BYTES_MIN,
     16777216 - CONFIG_FRAME_OVERHEAD_BYTES},           /* capped by the default frame_max_bytes */
    {"store", "map_size_mb", CONFIG_MAP_MB_MIN, 65536}, /* capped by the default map_max_mb */
    {"store", "map_max_mb", 256, CONFIG_MAP_MB_MAX},    /* floored by the default map_size_mb */
    {"store", "resident_max_mb", 0, CONFIG_MAP_MB_MAX},
    {"store", "sync_interval_ms", 0, STORE_SYNC_INTERVAL_MAX_MS},
    {"store", "apply_max_entries", CONFIG_APPLY_MAX_ENTRIES_MIN, CONFIG_APPLY_MAX_ENTRIES_MAX},
    {"store", "apply_max_bytes", CONFIG_APPLY_MAX_BYTES_MIN, CONFIG_APPLY_MAX_BYTES_MAX},
    {"limits", "frame_max_bytes", CONFIG_FRAME_MAX_BYTES_MIN, 67108864}, /* <= send queue */
    {"limits", "send_queue_max_bytes", 16777216, CONFIG_SEND_QUEUE_MAX_BYTES_MAX},
    {"limits", "http_body_max_bytes", CONFIG_HTTP_BODY_MAX_BYTES_MIN,
     CONFIG_HTTP_BODY_MAX_BYTES_MAX},
    {"limits", "http_max_connections", CONFIG_HTTP_MAX_CONNECTIONS_MIN,
     CONFIG_HTTP_MAX_CONNECTIONS_MAX},
    {"limits", "http_header_max_bytes", CONFIG_HTTP_HEADER_MAX_BYTES_MIN,
     CONFIG_HTTP_HEADER_MAX_BYTES_MAX},
    {"limits", "peer_handshake_timeout_ms", CONFIG_PEER_HANDSHAKE_MS_MIN,
     CONFIG_PEER_HANDSHAKE_MS_MAX},
    {"limits", "peer_max_unidentified", CONFIG_PEER_UNIDENTIFIED_MIN, CONFIG_PEER_UNIDENTIFIED_MAX},
    {"limits", "max_pending_writes", CONFIG_PENDING_WRITES_MIN, CONFIG_PENDING_WRITES_MAX},
    {"limits", "events_max_clients", CONFIG_EVENTS_MAX_CLIENTS_MIN, CONFIG_EVENTS_MAX_CLIENTS_MAX},
    {"limits", "events_buffer_bytes", CONFIG_EVENTS_BUFFER_BYTES_MIN,
     CONFIG_EVENTS_BUFFER_BYTES_MAX},
    {"limits", "events_heartbeat_ms", CONFIG_EVENTS_HEARTBEAT_MS_MIN,
     CONFIG_EVENTS_HEARTBEAT_MS_MAX},
    {"limits", "read_index_timeout_ms", CONFIG_READ_INDEX_TIMEOUT_MS_MIN,
     CONFIG_READ_INDEX_TIMEOUT_MS_MAX},
    {"limits", "max_pending_reads", CONFIG_PENDING_READS_MIN, CONFIG_PENDING_READS_MAX},
    {"limits", "write_timeout_ms", CONFIG_WRITE_TIMEOUT_MS_MIN, CONFIG_WRITE_TIMEOUT_MS_MAX},
    {"limits", "http_request_timeout_ms", CONFIG_HTTP_TIMEOUT_MS_MIN, CONFIG_HTTP_TIMEOUT_MS_MAX},
    {"limits", "http_idle_timeout_ms", CONFIG_HTTP_TIMEOUT_MS_MIN, CONFIG_HTTP_TIMEOUT_MS_MAX},
};

static uint64_t field_of(const struct node_config *c, const char *key)
{
    if (!strcmp(key, "max_txs"))
        return c->batch_max_txs;
    if (!strcmp(key, "max_delay_ms"))
        return c->batch_max_delay_ms;
    if (!strcmp(key, "max_bytes"))
        return c->batch_max_bytes;
    if (!strcmp(key, "map_size_mb"))
        return c->map_size_bytes >> 20;
    if (!strcmp(key, "map_max_mb"))
        return c->map_max_bytes >> 20;
    if (!strcmp(key, "resident_max_mb"))
        return c->store_resident_max_bytes >> 20;
    if (!strcmp(key, "sync_interval_ms"))
        return c->store_sync_interval_ms;
    if (!strcmp(key, "apply_max_entries"))
        return c->apply_max_entries;
    if (!strcmp(key, "apply_max_bytes"))
        return c->apply_max_bytes;
    if (!strcmp(key, "frame_max_bytes"))
        return c->frame_max_bytes;
    if (!strcmp(key, "send_queue_max_bytes"))
        return c->send_queue_max_bytes;
    if (!strcmp(key, "http_body_max_bytes"))
        return c->http_body_max_bytes;
    if (!strcmp(key, "http_max_connections"))
        return c->http_max_connections;
    if (!strcmp(key, "peer_handshake_timeout_ms"))
        return c->peer_handshake_timeout_ms;
    if (!strcmp(key, "peer_max_unidentified"))
        return c->peer_max_unidentified;
    if (!strcmp(key, "max_pending_writes"))
        return c->max_pending_writes;
    if (!strcmp(key, "events_max_clients"))
        return c->events_max_clients;
    if (!strcmp(key, "events_buffer_bytes"))
        return c->events_buffer_bytes;
    if (!strcmp(key, "events_heartbeat_ms"))
        return c->events_heartbeat_ms;
    if (!strcmp(key, "read_index_timeout_ms"))
        return c->read_index_timeout_ms;
    if (!strcmp(key, "max_pending_reads"))
        return c->max_pending_reads;
    if (!strcmp(key, "write_timeout_ms"))
        return c->write_timeout_ms;
    if (!strcmp(key, "http_request_timeout_ms"))
        return c->http_request_timeout_ms;
    if (!strcmp(key, "http_idle_timeout_ms"))
        return c->http_idle_timeout_ms;
    return c->http_header_max_bytes;
}

static int load_value(const struct range_case *r, const char *value, struct node_config *c,
                      char *err, size_t errlen)
{
    char extra[256];
    snprintf(extra, sizeof extra, "\"%s\":{\"%s\":%s}", r->section, r->key, value);
    return load_with(extra, c, err, errlen);
}

START_TEST(test_ranges_at_edges)
{
    const struct range_case *r = &ranges[_i];
    struct node_config c;
    char err[512], v[32], name[64];
    snprintf(name, sizeof name, "%s.%s", r->section, r->key);
    snprintf(v, sizeof v, "%" PRIu64, r->min);
    ck_assert_msg(load_value(r, v, &c, err, sizeof err) == TR_OK, "%s=%s: %s", name, v, err);
    ck_assert_uint_eq(field_of(&c, r->key), r->min);
    snprintf(v, sizeof v, "%" PRIu64, r->max);
    ck_assert_msg(load_value(r, v, &c, err, sizeof err) == TR_OK, "%s=%s: %s", name, v, err);
    ck_assert_uint_eq(field_of(&c, r->key), r->max);
    snprintf(v, sizeof v, "%" PRIu64, r->max + 1);
    ck_assert_int_eq(load_value(r, v, &c, err, sizeof err), TR_EINVAL);
    ck_assert_msg(strstr(err, name) != NULL, "%s", err);
    if (r->min > 0) {
        snprintf(v, sizeof v, "%" PRIu64, r->min - 1);
        ck_assert_int_eq(load_value(r, v, &c, err, sizeof err), TR_EINVAL);
        ck_assert_msg(strstr(err, name) != NULL, "%s", err);
    }
    static const char *const wrong[] = {"-1",   "1.5", "\"10\"", "true",
                                        "null", "[]",  "{}",     "99999999999999999999"};
    for (size_t i = 0; i < sizeof wrong / sizeof wrong[0]; i++) {
        int rc = load_value(r, wrong[i], &c, err, sizeof err);
        ck_assert_msg(rc != TR_OK, "%s=%s accepted", name, wrong[i]);
        if (rc == TR_EINVAL)
            ck_assert_msg(strstr(err, name) != NULL, "%s", err);
    }
}
END_TEST

START_TEST(test_absolute_bounds)
{
    /* The table's edges that are pinned by another key's default, checked with that key moved. */
    struct node_config c;
    char err[512];
    ck_assert_int_eq(load_with("\"store\":{\"map_size_mb\":16777216,\"map_max_mb\":16777216}", &c,
                               err, sizeof err),
                     TR_OK);
    ck_assert_uint_eq(c.map_size_bytes, 16777216ull << 20);
    ck_assert_int_eq(
        load_with("\"store\":{\"map_size_mb\":1,\"map_max_mb\":1}", &c, err, sizeof err), TR_OK);
    ck_assert_int_eq(
        load_with("\"store\":{\"map_size_mb\":0,\"map_max_mb\":1}", &c, err, sizeof err),
        TR_EINVAL);
    ck_assert_int_eq(
        load_with("\"store\":{\"map_size_mb\":2,\"map_max_mb\":1}", &c, err, sizeof err),
        TR_EINVAL);
    ck_assert_ptr_nonnull(strstr(err, "store.map_size_mb"));
    ck_assert_int_eq(load_with("\"limits\":{\"frame_max_bytes\":268435456,"
                               "\"send_queue_max_bytes\":268435456}",
                               &c, err, sizeof err),
                     TR_OK);
    ck_assert_int_eq(load_with("\"limits\":{\"frame_max_bytes\":268435457,"
                               "\"send_queue_max_bytes\":268435457}",
                               &c, err, sizeof err),
                     TR_EINVAL);
    ck_assert_ptr_nonnull(strstr(err, "limits.frame_max_bytes"));
    ck_assert_int_eq(load_with("\"limits\":{\"frame_max_bytes\":4096,"
                               "\"send_queue_max_bytes\":65536}",
                               &c, err, sizeof err),
                     TR_OK);
    ck_assert_int_eq(load_with("\"limits\":{\"frame_max_bytes\":4096,"
                               "\"send_queue_max_bytes\":65535}",
                               &c, err, sizeof err),
                     TR_EINVAL);
    ck_assert_int_eq(load_with("\"limits\":{\"frame_max_bytes\":131072,"
                               "\"send_queue_max_bytes\":131071}",
                               &c, err, sizeof err),
                     TR_EINVAL);
    ck_assert_ptr_nonnull(strstr(err, "limits.send_queue_max_bytes"));
    /* batch.max_bytes: up to the largest frame less its overhead; unset, it follows the frame */
    ck_assert_int_eq(load_with("\"batch\":{\"max_bytes\":268434432},"
                               "\"limits\":{\"frame_max_bytes\":268435456,"
                               "\"send_queue_max_bytes\":268435456}",
                               &c, err, sizeof err),
                     TR_OK);
    ck_assert_uint_eq(config_batch_max_bytes(&c), 268434432);
    ck_assert_int_eq(load_with("\"batch\":{\"max_bytes\":268434433},"
                               "\"limits\":{\"frame_max_bytes\":268435456,"
                               "\"send_queue_max_bytes\":268435456}",
                               &c, err, sizeof err),
                     TR_EINVAL);
    ck_assert_ptr_nonnull(strstr(err, "batch.max_bytes"));
    ck_assert_int_eq(load_with("\"batch\":{\"max_bytes\":3073},"
                               "\"limits\":{\"frame_max_bytes\":4096}",
                               &c, err, sizeof err),
                     TR_EINVAL);
    ck_assert_ptr_nonnull(strstr(err, "batch.max_bytes: 3073"));
    ck_assert_ptr_nonnull(strstr(err, "limits.frame_max_bytes (4096) less 1024, so 3072"));
    ck_assert_int_eq(load_with("\"limits\":{\"frame_max_bytes\":4096}", &c, err, sizeof err),
                     TR_OK);
    ck_assert_uint_eq(config_batch_max_bytes(&c), 3072);
    ck_assert_int_eq(load_with("\"limits\":{\"frame_max_bytes\":4195328}", &c, err, sizeof err),
                     TR_OK);
    ck_assert_uint_eq(config_batch_max_bytes(&c), 4194304);
    ck_assert_int_eq(load_with("\"limits\":{\"frame_max_bytes\":4195327}", &c, err, sizeof err),
                     TR_OK);
    ck_assert_uint_eq(config_batch_max_bytes(&c), 4194303);
    ck_assert_int_eq(load_with("", &c, err, sizeof err), TR_OK);
    ck_assert_uint_eq(config_batch_max_bytes(&c), CONFIG_BATCH_MAX_BYTES_DEFAULT);
}
END_TEST

START_TEST(test_unknown_keys_named)
{
    static const char *const cases[][2] = {
        {"\"bogus\":1", "unknown key 'bogus'"},
        {"\"batch\":{\"max_tx\":1}", "unknown key 'batch.max_tx'"},
        {"\"store\":{\"map_mb\":1}", "unknown key 'store.map_mb'"},
        {"\"limits\":{\"frame_max\":1}", "unknown key 'limits.frame_max'"},
        {"\"batch\":[]", "batch: must be an object"},
        {"\"limits\":1", "limits: must be an object"},
    };
    struct node_config c;
    char err[512];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ck_assert_int_eq(load_with(cases[i][0], &c, err, sizeof err), TR_EINVAL);
        ck_assert_msg(strstr(err, cases[i][1]) != NULL, "%s", err);
        ck_assert_msg(strstr(err, "node.json") != NULL, "%s", err);
    }
}
END_TEST

START_TEST(test_required_and_identity_keys)
{
    static const char *const cases[][2] = {
        {"{\"peer\":\"127.0.0.1:1\",\"api\":\"127.0.0.1:2\"}", "org: missing"},
        {"{\"org\":\"acme\",\"api\":\"127.0.0.1:2\"}", "peer: missing"},
        {"{\"org\":\"acme\",\"peer\":\"127.0.0.1:1\"}", "api: missing"},
        {"{\"org\":\"Acme\",\"peer\":\"127.0.0.1:1\",\"api\":\"127.0.0.1:2\"}", "org: must be"},
        {"{\"org\":7,\"peer\":\"127.0.0.1:1\",\"api\":\"127.0.0.1:2\"}", "org: must be"},
        {"{\"org\":\"acme\",\"peer\":7401,\"api\":\"127.0.0.1:2\"}", "peer: must be a string"},
        {"{\"org\":\"acme\",\"peer\":\"127.0.0.1:0\",\"api\":\"127.0.0.1:2\"}", "peer: "},
        {"{\"org\":\"acme\",\"peer\":\"127.0.0.1:1\",\"api\":\"127.0.0.1\"}", "api: "},
        {"{" BASE ",\"log_level\":\"verbose\"}", "log_level"},
        {"{" BASE ",\"log_level\":1}", "log_level"},
        {"[]", "must be a JSON object"},
    };
    struct node_config c;
    char err[512];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        write_json(cases[i][0]);
        ck_assert_int_eq(config_load(tdir, &c, err, sizeof err), TR_EINVAL);
        ck_assert_msg(strstr(err, cases[i][1]) != NULL, "case %zu: %s", i, err);
    }
    static const char *const levels[] = {"debug", "info", "warn", "error"};
    for (size_t i = 0; i < 4; i++) {
        char extra[64];
        snprintf(extra, sizeof extra, "\"log_level\":\"%s\"", levels[i]);
        ck_assert_int_eq(load_with(extra, &c, err, sizeof err), TR_OK);
        ck_assert_str_eq(c.log_level, levels[i]);
    }
}
END_TEST

START_TEST(test_file_errors)
{
    struct node_config c;
    char err[512];
    ck_assert_int_eq(config_load(tdir, &c, err, sizeof err), TR_EIO); /* no file */
    ck_assert_ptr_nonnull(strstr(err, "node.json"));
    write_json("{\"org\":");
    ck_assert_int_eq(config_load(tdir, &c, err, sizeof err), TR_EPARSE);
    write_json("{" BASE ",\"org\":\"globex\"}"); /* duplicate key */
    ck_assert_int_ne(config_load(tdir, &c, err, sizeof err), TR_OK);
    /* size bound at its edge: padding with spaces keeps the JSON valid */
    char *big = malloc(CONFIG_FILE_MAX_BYTES + 2);
    ck_assert_ptr_nonnull(big);
    const char *body = "{" BASE "}";
    size_t blen = strlen(body);
    memset(big, ' ', CONFIG_FILE_MAX_BYTES + 1);
    memcpy(big, body, blen);
    big[CONFIG_FILE_MAX_BYTES] = '\0';
    write_json(big);
    ck_assert_msg(config_load(tdir, &c, err, sizeof err) == TR_OK, "%s", err);
    big[CONFIG_FILE_MAX_BYTES] = ' ';
    big[CONFIG_FILE_MAX_BYTES + 1] = '\0';
    write_json(big);
    ck_assert_int_eq(config_load(tdir, &c, err, sizeof err), TR_ELIMIT);
    free(big);
    char longdir[5000];
    memset(longdir, 'd', sizeof longdir - 1);
    longdir[sizeof longdir - 1] = '\0';
    ck_assert_int_eq(config_load(longdir, &c, err, sizeof err), TR_EINVAL);
    ck_assert_int_eq(config_write(longdir, &c, err, sizeof err), TR_EINVAL);
}
END_TEST

START_TEST(test_hostport)
{
    static const struct {
        const char *in, *host;
        unsigned port;
    } ok[] = {
        {"127.0.0.1:1", "127.0.0.1", 1},
        {"127.0.0.1:65535", "127.0.0.1", 65535},
        {"localhost:80", "localhost", 80},
        {"[::1]:7401", "::1", 7401},
        {"node-1.example_x:00080", "node-1.example_x", 80},
    };
    static const char *const bad[] = {
        "",      "127.0.0.1", "127.0.0.1:", "127.0.0.1:0", "127.0.0.1:65536",
        ":7401", "::1:7401",  "[::1:7401",  "[::1]7401",   "[]:7401",
        "h:+1",  "h:-1",      "h:1a",       "h:123456",    "a b:1",
        "h\t:1", "h/x:1",     "[::1]:0",
    };
    char host[256], err[512];
    uint16_t port;
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        ck_assert_msg(config_parse_hostport(ok[i].in, host, sizeof host, &port, err, sizeof err) ==
                          TR_OK,
                      "%s: %s", ok[i].in, err);
        ck_assert_str_eq(host, ok[i].host);
        ck_assert_uint_eq(port, ok[i].port);
    }
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ck_assert_msg(config_parse_hostport(bad[i], host, sizeof host, &port, err, sizeof err) ==
                          TR_EINVAL,
                      "'%s' accepted", bad[i]);
        ck_assert_msg(strstr(err, bad[i]) != NULL, "%s", err);
    }
    ck_assert_int_eq(config_parse_hostport(NULL, host, sizeof host, &port, err, sizeof err),
                     TR_EINVAL);
    /* host length at its edge */
    char in[300];
    memset(in, 'h', 255);
    snprintf(in + 255, sizeof in - 255, ":1");
    ck_assert_int_eq(config_parse_hostport(in, host, sizeof host, &port, err, sizeof err), TR_OK);
    ck_assert_uint_eq(strlen(host), 255);
    memset(in, 'h', 256);
    snprintf(in + 256, sizeof in - 256, ":1");
    ck_assert_int_eq(config_parse_hostport(in, host, sizeof host, &port, err, sizeof err),
                     TR_EINVAL);
    /* a host buffer smaller than the host */
    char small[4];
    ck_assert_int_eq(config_parse_hostport("abcd:1", small, sizeof small, &port, err, sizeof err),
                     TR_EINVAL);
    ck_assert_int_eq(config_parse_hostport("abc:1", small, sizeof small, &port, err, sizeof err),
                     TR_OK);
}
END_TEST

Suite *suite_config(void)
{
    Suite *s = suite_create("config");
    TCase *tc = tcase_create("config");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_defaults);
    tcase_add_test(tc, test_minimal_file_gets_defaults);
    tcase_add_test(tc, test_round_trip);
    tcase_add_loop_test(tc, test_ranges_at_edges, 0, (int)(sizeof ranges / sizeof ranges[0]));
    tcase_add_test(tc, test_absolute_bounds);
    tcase_add_test(tc, test_unknown_keys_named);
    tcase_add_test(tc, test_required_and_identity_keys);
    tcase_add_test(tc, test_file_errors);
    tcase_add_test(tc, test_hostport);
    suite_add_tcase(s, tc);
    return s;
}
