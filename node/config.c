/* config.c — DIR/node.json: strict reading (unknown keys and out-of-range values are refused with
 * the key's dotted name) and writing of the node's configuration. Read once at node start; written
 * by `treaty init`. */
#include "node/config.h"

#include "common/err.h"
#include "common/log.h"
#include "node/identity.h"
#include "node/store.h"
#include "schema/schema.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MIB (1024ull * 1024ull)

void config_defaults(struct node_config *c)
{
    memset(c, 0, sizeof *c);
    snprintf(c->peer_host, sizeof c->peer_host, "127.0.0.1");
    c->peer_port = 7401;
    snprintf(c->api_host, sizeof c->api_host, "127.0.0.1");
    c->api_port = 8401;
    c->batch_max_txs = 256;
    c->batch_max_delay_ms = 0;
    c->map_size_bytes = 256 * MIB;
    c->map_max_bytes = 65536 * MIB;
    c->store_check_blocks = 1024;
    c->store_resident_max_bytes = 128 * MIB;
    c->store_sync_interval_ms = 100;
    c->apply_max_entries = 256;
    c->apply_max_bytes = 16 * MIB;
    c->frame_max_bytes = 16777216;
    c->send_queue_max_bytes = 67108864;
    c->http_body_max_bytes = 1048576;
    c->http_max_connections = 1024;
    c->http_header_max_bytes = 16384;
    c->http_request_timeout_ms = 30000;
    c->http_idle_timeout_ms = 60000;
    c->peer_handshake_timeout_ms = 10000;
    c->peer_max_unidentified = 64;
    c->max_pending_writes = 65536;
    c->read_index_timeout_ms = 5000;
    c->write_timeout_ms = 30000;
    c->max_pending_reads = 4096;
    c->events_max_clients = 256;
    c->events_buffer_bytes = 1048576;
    c->events_heartbeat_ms = 15000;
    snprintf(c->log_level, sizeof c->log_level, "info");
}

static int config__host_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '-' || c == '_';
}

static int config__port(const char *p, uint16_t *port)
{
    size_t n = strlen(p);
    if (n == 0 || n > 5)
        return -1;
    unsigned long v = 0;
    for (size_t i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9')
            return -1;
        v = v * 10 + (unsigned long)(p[i] - '0');
    }
    if (v < 1 || v > 65535)
        return -1;
    *port = (uint16_t)v;
    return 0;
}

int config_parse_hostport(const char *s, char *host, size_t hostlen, uint16_t *port, char *err,
                          size_t errlen)
{
    const char *why = NULL;
    const char *colon = s ? strrchr(s, ':') : NULL;
    const char *h = s, *hend = colon;
    if (!colon) {
        why = "expected HOST:PORT";
    } else if (s[0] == '[') {
        h = s + 1;
        hend = colon > s && colon[-1] == ']' ? colon - 1 : NULL;
        if (!hend)
            why = "expected [IPV6]:PORT";
    }
    size_t hlen = why ? 0 : (size_t)(hend - h);
    if (!why && (hlen == 0 || hlen > 255 || hlen >= hostlen))
        why = "host must be 1 to 255 characters";
    for (size_t i = 0; !why && i < hlen; i++)
        if (!config__host_char(h[i]) && !(h[i] == ':' && s[0] == '['))
            why = "host has a character other than letters, digits, '.', '-', '_'";
    if (!why && config__port(colon + 1, port) != 0)
        why = "port must be a number from 1 to 65535";
    if (why) {
        snprintf(err, errlen, "'%s': %s", s ? s : "", why);
        return TR_EINVAL;
    }
    memcpy(host, h, hlen);
    host[hlen] = '\0';
    return TR_OK;
}

/* ---- reading ---- */

struct config__ctx {
    const char *path;
    char *err;
    size_t errlen;
};

/* Refuses keys of obj not in the NULL-terminated list `known`; `where` prefixes the key name. */
static int config__only(struct config__ctx *x, json_t *obj, const char *where,
                        const char *const *known)
{
    const char *k;
    json_t *v;
    json_object_foreach(obj, k, v)
    {
        size_t i = 0;
        while (known[i] && strcmp(known[i], k) != 0)
            i++;
        if (!known[i]) {
            snprintf(x->err, x->errlen, "%s: unknown key '%s%s'", x->path, where, k);
            return TR_EINVAL;
        }
    }
    return TR_OK;
}

/* Reads integer obj[key] into *out when present, checking [min, max]. */
static int config__u64(struct config__ctx *x, json_t *obj, const char *where, const char *key,
                       uint64_t min, uint64_t max, uint64_t *out)
{
    json_t *v = json_object_get(obj, key);
    if (!v)
        return TR_OK;
    if (!json_is_integer(v) || json_integer_value(v) < 0 || (uint64_t)json_integer_value(v) < min ||
        (uint64_t)json_integer_value(v) > max) {
        snprintf(x->err, x->errlen, "%s: %s%s: must be an integer from %" PRIu64 " to %" PRIu64,
                 x->path, where, key, min, max);
        return TR_EINVAL;
    }
    *out = (uint64_t)json_integer_value(v);
    return TR_OK;
}

static int config__u32(struct config__ctx *x, json_t *obj, const char *where, const char *key,
                       uint32_t min, uint32_t max, uint32_t *out)
{
    uint64_t v = *out;
    int rc = config__u64(x, obj, where, key, min, max, &v);
    *out = (uint32_t)v;
    return rc;
}

/* Reads an optional sub-object; NULL (and TR_OK) when absent. */
static int config__section(struct config__ctx *x, json_t *root, const char *key,
                           const char *const *known, json_t **out)
{
    char where[32];
    *out = json_object_get(root, key);
    if (!*out)
        return TR_OK;
    if (!json_is_object(*out)) {
        snprintf(x->err, x->errlen, "%s: %s: must be an object", x->path, key);
        return TR_EINVAL;
    }
    snprintf(where, sizeof where, "%s.", key);
    return config__only(x, *out, where, known);
}

static int config__address(struct config__ctx *x, json_t *root, const char *key, char *host,
                           uint16_t *port)
{
    char why[320];
    json_t *v = json_object_get(root, key);
    if (!json_is_string(v)) {
        snprintf(x->err, x->errlen, "%s: %s: %s", x->path, key,
                 v ? "must be a string HOST:PORT" : "missing (required)");
        return TR_EINVAL;
    }
    if (config_parse_hostport(json_string_value(v), host, 256, port, why, sizeof why) != TR_OK) {
        snprintf(x->err, x->errlen, "%s: %s: %s", x->path, key, why);
        return TR_EINVAL;
    }
    return TR_OK;
}

static int config__identity(struct config__ctx *x, json_t *root, struct node_config *c)
{
    json_t *org = json_object_get(root, "org");
    if (!json_is_string(org) || !identity_name_valid(json_string_value(org))) {
        snprintf(x->err, x->errlen, "%s: org: %s", x->path,
                 !org ? "missing (required)" : "must be a name matching ^[a-z][a-z0-9-]{0,62}$");
        return TR_EINVAL;
    }
    snprintf(c->org, sizeof c->org, "%s", json_string_value(org));
    int rc = config__address(x, root, "peer", c->peer_host, &c->peer_port);
    if (rc == TR_OK)
        rc = config__address(x, root, "api", c->api_host, &c->api_port);
    if (rc != TR_OK)
        return rc;
    json_t *lvl = json_object_get(root, "log_level");
    enum tr_log_level parsed;
    if (lvl && (!json_is_string(lvl) || json_string_length(lvl) >= sizeof c->log_level ||
                tr_log_level_parse(json_string_value(lvl), &parsed) != TR_OK)) {
        snprintf(x->err, x->errlen, "%s: log_level: must be one of debug, info, warn, error",
                 x->path);
        return TR_EINVAL;
    }
    if (lvl)
        snprintf(c->log_level, sizeof c->log_level, "%s", json_string_value(lvl));
    json_t *hooks = json_object_get(root, "test_hooks");
    if (hooks && !json_is_boolean(hooks)) {
        snprintf(x->err, x->errlen, "%s: test_hooks: must be true or false", x->path);
        return TR_EINVAL;
    }
    c->test_hooks = json_is_true(hooks);
    return TR_OK;
}

uint32_t config_batch_max_bytes(const struct node_config *c)
{
    if (c->batch_max_bytes)
        return c->batch_max_bytes;
    uint32_t room = c->frame_max_bytes - CONFIG_FRAME_OVERHEAD_BYTES;
    return room < CONFIG_BATCH_MAX_BYTES_DEFAULT ? room : CONFIG_BATCH_MAX_BYTES_DEFAULT;
}

static int config__batch_store(struct config__ctx *x, json_t *root, struct node_config *c)
{
    static const char *const batch_keys[] = {"max_txs", "max_delay_ms", "max_bytes", NULL};
    static const char *const store_keys[] = {
        "map_size_mb",      "map_max_mb",        "check_blocks",    "resident_max_mb",
        "sync_interval_ms", "apply_max_entries", "apply_max_bytes", NULL};
    json_t *batch, *store;
    uint64_t size_mb = c->map_size_bytes / MIB, max_mb = c->map_max_bytes / MIB,
             resident_mb = c->store_resident_max_bytes / MIB;
    int rc = config__section(x, root, "batch", batch_keys, &batch);
    if (rc == TR_OK && batch)
        rc = config__u32(x, batch, "batch.", "max_txs", CONFIG_BATCH_MAX_TXS_MIN,
                         CONFIG_BATCH_MAX_TXS_MAX, &c->batch_max_txs);
    if (rc == TR_OK && batch)
        rc = config__u32(x, batch, "batch.", "max_delay_ms", CONFIG_BATCH_MAX_DELAY_MS_MIN,
                         CONFIG_BATCH_MAX_DELAY_MS_MAX, &c->batch_max_delay_ms);
    if (rc == TR_OK && batch)
        rc = config__u32(x, batch, "batch.", "max_bytes", CONFIG_BATCH_MAX_BYTES_MIN,
                         CONFIG_FRAME_MAX_BYTES_MAX - CONFIG_FRAME_OVERHEAD_BYTES,
                         &c->batch_max_bytes);
    if (rc == TR_OK)
        rc = config__section(x, root, "store", store_keys, &store);
    if (rc == TR_OK && store)
        rc = config__u64(x, store, "store.", "map_size_mb", CONFIG_MAP_MB_MIN, CONFIG_MAP_MB_MAX,
                         &size_mb);
    if (rc == TR_OK && store)
        rc = config__u64(x, store, "store.", "map_max_mb", CONFIG_MAP_MB_MIN, CONFIG_MAP_MB_MAX,
                         &max_mb);
    if (rc == TR_OK && store)
        rc = config__u64(x, store, "store.", "check_blocks", 0, UINT64_C(1) << 32,
                         &c->store_check_blocks);
    if (rc == TR_OK && store)
        rc = config__u64(x, store, "store.", "resident_max_mb", 0, CONFIG_MAP_MB_MAX, &resident_mb);
    if (rc == TR_OK && store)
        rc = config__u32(x, store, "store.", "sync_interval_ms", 0, STORE_SYNC_INTERVAL_MAX_MS,
                         &c->store_sync_interval_ms);
    if (rc == TR_OK && store)
        rc = config__u32(x, store, "store.", "apply_max_entries", CONFIG_APPLY_MAX_ENTRIES_MIN,
                         CONFIG_APPLY_MAX_ENTRIES_MAX, &c->apply_max_entries);
    if (rc == TR_OK && store)
        rc = config__u32(x, store, "store.", "apply_max_bytes", CONFIG_APPLY_MAX_BYTES_MIN,
                         CONFIG_APPLY_MAX_BYTES_MAX, &c->apply_max_bytes);
    if (rc != TR_OK)
        return rc;
    if (size_mb > max_mb) {
        snprintf(x->err, x->errlen,
                 "%s: store.map_size_mb: %" PRIu64 " is above store.map_max_mb %" PRIu64, x->path,
                 size_mb, max_mb);
        return TR_EINVAL;
    }
    c->map_size_bytes = size_mb * MIB;
    c->map_max_bytes = max_mb * MIB;
    c->store_resident_max_bytes = resident_mb * MIB;
    return TR_OK;
}

/* The event stream's limits (docs/events.md) in the limits section `l`. */
static int config__event_limits(struct config__ctx *x, json_t *l, struct node_config *c)
{
    static const char w[] = "limits.";
    int rc = config__u32(x, l, w, "events_max_clients", CONFIG_EVENTS_MAX_CLIENTS_MIN,
                         CONFIG_EVENTS_MAX_CLIENTS_MAX, &c->events_max_clients);
    if (rc == TR_OK)
        rc = config__u32(x, l, w, "events_buffer_bytes", CONFIG_EVENTS_BUFFER_BYTES_MIN,
                         CONFIG_EVENTS_BUFFER_BYTES_MAX, &c->events_buffer_bytes);
    if (rc == TR_OK)
        rc = config__u32(x, l, w, "events_heartbeat_ms", CONFIG_EVENTS_HEARTBEAT_MS_MIN,
                         CONFIG_EVENTS_HEARTBEAT_MS_MAX, &c->events_heartbeat_ms);
    return rc;
}

static int config__limits(struct config__ctx *x, json_t *root, struct node_config *c)
{
    static const char *const keys[] = {"frame_max_bytes",
                                       "send_queue_max_bytes",
                                       "http_body_max_bytes",
                                       "http_max_connections",
                                       "http_header_max_bytes",
                                       "peer_handshake_timeout_ms",
                                       "peer_max_unidentified",
                                       "max_pending_writes",
                                       "read_index_timeout_ms",
                                       "max_pending_reads",
                                       "http_request_timeout_ms",
                                       "http_idle_timeout_ms",
                                       "events_max_clients",
                                       "events_buffer_bytes",
                                       "events_heartbeat_ms",
                                       "write_timeout_ms",
                                       NULL};
    static const char w[] = "limits.";
    json_t *l;
    int rc = config__section(x, root, "limits", keys, &l);
    if (rc != TR_OK || !l)
        return rc;
    rc = config__u32(x, l, w, "frame_max_bytes", CONFIG_FRAME_MAX_BYTES_MIN,
                     CONFIG_FRAME_MAX_BYTES_MAX, &c->frame_max_bytes);
    if (rc == TR_OK)
        rc = config__u64(x, l, w, "send_queue_max_bytes", CONFIG_SEND_QUEUE_MAX_BYTES_MIN,
                         CONFIG_SEND_QUEUE_MAX_BYTES_MAX, &c->send_queue_max_bytes);
    if (rc == TR_OK)
        rc = config__u32(x, l, w, "http_body_max_bytes", CONFIG_HTTP_BODY_MAX_BYTES_MIN,
                         CONFIG_HTTP_BODY_MAX_BYTES_MAX, &c->http_body_max_bytes);
    if (rc == TR_OK)
        rc = config__u32(x, l, w, "http_max_connections", CONFIG_HTTP_MAX_CONNECTIONS_MIN,
                         CONFIG_HTTP_MAX_CONNECTIONS_MAX, &c->http_max_connections);
    if (rc == TR_OK)
        rc = config__u32(x, l, w, "http_header_max_bytes", CONFIG_HTTP_HEADER_MAX_BYTES_MIN,
                         CONFIG_HTTP_HEADER_MAX_BYTES_MAX, &c->http_header_max_bytes);
    if (rc == TR_OK)
        rc = config__u32(x, l, w, "http_request_timeout_ms", CONFIG_HTTP_TIMEOUT_MS_MIN,
                         CONFIG_HTTP_TIMEOUT_MS_MAX, &c->http_request_timeout_ms);
    if (rc == TR_OK)
        rc = config__u32(x, l, w, "http_idle_timeout_ms", CONFIG_HTTP_TIMEOUT_MS_MIN,
                         CONFIG_HTTP_TIMEOUT_MS_MAX, &c->http_idle_timeout_ms);
    if (rc == TR_OK)
        rc = config__u32(x, l, w, "peer_handshake_timeout_ms", CONFIG_PEER_HANDSHAKE_MS_MIN,
                         CONFIG_PEER_HANDSHAKE_MS_MAX, &c->peer_handshake_timeout_ms);
    if (rc == TR_OK)
        rc = config__u32(x, l, w, "peer_max_unidentified", CONFIG_PEER_UNIDENTIFIED_MIN,
                         CONFIG_PEER_UNIDENTIFIED_MAX, &c->peer_max_unidentified);
    if (rc == TR_OK)
        rc = config__u32(x, l, w, "max_pending_writes", CONFIG_PENDING_WRITES_MIN,
                         CONFIG_PENDING_WRITES_MAX, &c->max_pending_writes);
    if (rc == TR_OK)
        rc = config__u32(x, l, w, "read_index_timeout_ms", CONFIG_READ_INDEX_TIMEOUT_MS_MIN,
                         CONFIG_READ_INDEX_TIMEOUT_MS_MAX, &c->read_index_timeout_ms);
    if (rc == TR_OK)
        rc = config__u32(x, l, w, "write_timeout_ms", CONFIG_WRITE_TIMEOUT_MS_MIN,
                         CONFIG_WRITE_TIMEOUT_MS_MAX, &c->write_timeout_ms);
    if (rc == TR_OK)
        rc = config__u32(x, l, w, "max_pending_reads", CONFIG_PENDING_READS_MIN,
                         CONFIG_PENDING_READS_MAX, &c->max_pending_reads);
    if (rc == TR_OK)
        rc = config__event_limits(x, l, c);
    return rc;
}

static int config__from_json(struct config__ctx *x, json_t *root, struct node_config *c)
{
    static const char *const keys[] = {"org",    "peer",      "api",        "batch", "store",
                                       "limits", "log_level", "test_hooks", NULL};
    if (!json_is_object(root)) {
        snprintf(x->err, x->errlen, "%s: must be a JSON object", x->path);
        return TR_EINVAL;
    }
    int rc = config__only(x, root, "", keys);
    if (rc == TR_OK)
        rc = config__identity(x, root, c);
    if (rc == TR_OK)
        rc = config__batch_store(x, root, c);
    if (rc == TR_OK)
        rc = config__limits(x, root, c);
    if (rc == TR_OK && c->send_queue_max_bytes < c->frame_max_bytes) {
        snprintf(x->err, x->errlen,
                 "%s: limits.send_queue_max_bytes: must be at least limits.frame_max_bytes (%u)",
                 x->path, c->frame_max_bytes);
        rc = TR_EINVAL;
    }
    if (rc == TR_OK && c->batch_max_bytes > c->frame_max_bytes - CONFIG_FRAME_OVERHEAD_BYTES) {
        snprintf(x->err, x->errlen,
                 "%s: batch.max_bytes: %u leaves no room in a frame: it must be at most "
                 "limits.frame_max_bytes (%u) less %u, so %u",
                 x->path, c->batch_max_bytes, c->frame_max_bytes, CONFIG_FRAME_OVERHEAD_BYTES,
                 c->frame_max_bytes - CONFIG_FRAME_OVERHEAD_BYTES);
        rc = TR_EINVAL;
    }
    return rc;
}

int config_load(const char *dir, struct node_config *out, char *err, size_t errlen)
{
    char path[4096];
    int n = snprintf(path, sizeof path, "%s/%s", dir, CONFIG_FILE);
    if (n < 0 || (size_t)n >= sizeof path) {
        snprintf(err, errlen, "directory path too long (%zu bytes): %s", strlen(dir), dir);
        return TR_EINVAL;
    }
    struct schema_limits lim;
    schema_limits_default(&lim);
    lim.max_doc_bytes = CONFIG_FILE_MAX_BYTES;
    lim.max_depth = 8;
    json_t *root = NULL;
    config_defaults(out);
    int rc = schema_json_load_file(path, &lim, &root, err, errlen);
    if (rc != TR_OK)
        return rc;
    struct config__ctx x = {path, err, errlen};
    rc = config__from_json(&x, root, out);
    json_decref(root);
    return rc;
}

/* ---- writing ---- */

/* "host:port", with brackets around an IPv6 host so config_parse_hostport reads it back. */
static void config__format_addr(char *out, size_t cap, const char *host, uint16_t port)
{
    if (strchr(host, ':'))
        snprintf(out, cap, "[%s]:%u", host, (unsigned)port);
    else
        snprintf(out, cap, "%s:%u", host, (unsigned)port);
}

static json_t *config__to_json(const struct node_config *c)
{
    char peer[300], api[300];
    config__format_addr(peer, sizeof peer, c->peer_host, c->peer_port);
    config__format_addr(api, sizeof api, c->api_host, c->api_port);
    return json_pack(
        "{s:s, s:s, s:s, s:{s:I, s:I}, s:{s:I, s:I, s:I, s:I, s:I, s:I, s:I}, "
        "s:{s:I, s:I, s:I, s:I, s:I}, "
        "s:s}",
        "org", c->org, "peer", peer, "api", api, "batch", "max_txs", (json_int_t)c->batch_max_txs,
        "max_delay_ms", (json_int_t)c->batch_max_delay_ms, "store", "map_size_mb",
        (json_int_t)(c->map_size_bytes / MIB), "map_max_mb", (json_int_t)(c->map_max_bytes / MIB),
        "check_blocks", (json_int_t)c->store_check_blocks, "resident_max_mb",
        (json_int_t)(c->store_resident_max_bytes / MIB), "sync_interval_ms",
        (json_int_t)c->store_sync_interval_ms, "apply_max_entries",
        (json_int_t)c->apply_max_entries, "apply_max_bytes", (json_int_t)c->apply_max_bytes,
        "limits", "frame_max_bytes", (json_int_t)c->frame_max_bytes, "send_queue_max_bytes",
        (json_int_t)c->send_queue_max_bytes, "http_body_max_bytes",
        (json_int_t)c->http_body_max_bytes, "http_max_connections",
        (json_int_t)c->http_max_connections, "http_header_max_bytes",
        (json_int_t)c->http_header_max_bytes, "log_level", c->log_level);
}

int config_write(const char *dir, const struct node_config *c, char *err, size_t errlen)
{
    char path[4096];
    int n = snprintf(path, sizeof path, "%s/%s", dir, CONFIG_FILE);
    if (n < 0 || (size_t)n >= sizeof path) {
        snprintf(err, errlen, "directory path too long (%zu bytes): %s", strlen(dir), dir);
        return TR_EINVAL;
    }
    json_t *doc = config__to_json(c);
    char *text = doc ? json_dumps(doc, JSON_INDENT(2)) : NULL;
    json_decref(doc);
    if (!text) {
        snprintf(err, errlen, "%s: out of memory", path);
        return TR_ENOMEM;
    }
    int rc = TR_OK;
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) {
        int e = errno;
        snprintf(err, errlen, "%s: %s", path,
                 e == EEXIST ? "already exists; refusing to overwrite" : strerror(e));
        rc = e == EEXIST ? TR_EEXISTS : TR_EIO;
        goto done;
    }
    size_t len = strlen(text);
    text[len] = '\n'; /* replaces the NUL: written as one line-terminated file */
    ssize_t w = write(fd, text, len + 1);
    int bad = w != (ssize_t)(len + 1) || fsync(fd) != 0;
    int e = errno;
    bad |= close(fd) != 0;
    if (bad) {
        unlink(path);
        snprintf(err, errlen, "%s: cannot write: %s", path, w >= 0 ? "short write" : strerror(e));
        rc = TR_EIO;
    }
done:
    free(text);
    return rc;
}
