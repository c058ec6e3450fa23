/* events.c — GET /v1/events: Server-Sent Events (WHATWG HTML §9.2) of committed record changes,
 * one per change, id "H.I" (block height, index among the block's changes), filtered by the read
 * ACLs of this node's org and redacted field by field (docs/events.md). Each client has its own
 * position; blocks come from the backend's changes, one block cached and formatted once for all
 * clients. Invariants: a client never has more than events_buffer_bytes queued plus one event;
 * a client reading history is paced by its own queue (at most half the buffer), one that is live
 * gets each new block as it is applied and is told why and dropped when its queue passes the
 * limit, or when it took nothing for a heartbeat interval with half the buffer waiting — the node
 * never waits for a client. Driven by api_events_notify, write completions and the loop. */
#include "api/api_int.h"

#include "common/alloc.h"
#include "common/err.h"
#include "common/log.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_MAX_CLIENTS  256u
#define DEFAULT_BUFFER_BYTES (1u << 20)
#define DEFAULT_HEARTBEAT_MS 15000u
#define TYPES_MAX            64  /* names in ?types= */
#define TURN_BLOCKS          256 /* blocks read for one client per loop turn (history) */
#define ID_TEXT_MAX          48  /* "H.I" */
static const char heartbeat_text[] = ": heartbeat\n\n";

/* One change of the cached block, formatted for this node's org: text NULL when the org may not
 * read it (no client gets it). */
struct ev_item {
    char *type; /* owned */
    char *text; /* owned: the whole event, "id: …\nevent: change\ndata: …\n\n" */
    size_t len;
};

struct ev_client {
    struct api__events *ev;
    struct ev_client *prev, *next;
    struct api__conn *conn;
    uint64_t height, skip; /* next: change `skip` of block `height` */
    char **types;          /* ?types= (owned); n_types 0: every type */
    size_t n_types;
    char last_id[ID_TEXT_MAX]; /* of the last event sent, "" before the first */
    bool busy, dead;           /* dead: the connection went while busy; freed when not busy */
    bool progressed;           /* a write completed since the last heartbeat */
};

struct api__events {
    struct api *api;
    uv_timer_t heartbeat;
    uv_idle_t idle; /* runs while clients reading history may write more */
    int open_handles;
    bool closing;
    struct ev_client *clients;
    uint32_t n_clients, max_clients, buffer_bytes, heartbeat_ms;
    uint64_t applied;
    uint64_t cache_height; /* 0: empty */
    struct ev_item *items;
    size_t n_items;
};

static void client_pump(struct ev_client *c, bool live);
static void events_idle(uv_idle_t *h);

static void events_kick(struct api__events *ev)
{
    if (!ev->closing)
        uv_idle_start(&ev->idle, events_idle);
}

/* ------------------------------------------------------------------------------------------- */
/* The block cache */

static void cache_clear(struct api__events *ev)
{
    for (size_t i = 0; i < ev->n_items; i++) {
        tr_free(ev->items[i].type);
        tr_free(ev->items[i].text);
    }
    tr_free(ev->items);
    ev->items = NULL;
    ev->n_items = 0;
    ev->cache_height = 0;
}

/* Formats change `ch` (index i of block h) as its event text for the node's org: NULL in
 * it->text when the org may not read it. Redacts ch's record in place. */
static int item_format(struct api__events *ev, uint64_t h, size_t i, json_t *ch, struct ev_item *it)
{
    const char *type = json_string_value(json_object_get(ch, "type"));
    const char *owner = json_string_value(json_object_get(ch, "owner"));
    it->type = tr_strdup(type ? type : "");
    if (!it->type)
        return TR_ENOMEM;
    const struct schema_type *t = type ? schema_network_type_find(ev->api->schema, type) : NULL;
    if (!t || !schema_acl_may_read(t, ev->api->org, owner ? owner : ""))
        return TR_OK;
    json_t *rec = json_object_get(ch, "record");
    if (json_is_object(rec))
        schema_acl_redact(t, ev->api->org, owner ? owner : "", rec);
    char *data = json_dumps(ch, JSON_COMPACT);
    if (!data)
        return TR_ENOMEM;
    size_t dl = strlen(data), cap = dl + 96;
    it->text = tr_malloc(cap);
    if (it->text) {
        int n =
            snprintf(it->text, cap, "id: %" PRIu64 ".%zu\nevent: change\ndata: %s\n\n", h, i, data);
        it->len = (size_t)n;
    }
    free(data);
    return it->text ? TR_OK : TR_ENOMEM;
}

/* Makes block h the cached one. TR_OK or the backend's / TR_ENOMEM. */
static int cache_load(struct api__events *ev, uint64_t h)
{
    if (ev->cache_height == h)
        return TR_OK;
    cache_clear(ev);
    json_t *arr = NULL;
    const struct api_backend *be = &ev->api->be;
    int rc = be->changes(be->ctx, h, &arr);
    if (rc != TR_OK)
        return rc;
    if (!json_is_array(arr)) {
        json_decref(arr);
        return TR_ECORRUPT;
    }
    size_t n = json_array_size(arr);
    ev->items = n ? tr_calloc(n, sizeof *ev->items) : NULL;
    if (n && !ev->items)
        rc = TR_ENOMEM;
    for (size_t i = 0; rc == TR_OK && i < n; i++) {
        ev->n_items = i + 1;
        rc = item_format(ev, h, i, json_array_get(arr, i), &ev->items[i]);
    }
    json_decref(arr);
    if (rc != TR_OK) {
        cache_clear(ev);
        return rc;
    }
    ev->cache_height = h;
    return TR_OK;
}

/* ------------------------------------------------------------------------------------------- */
/* Clients */

static void client_free(struct ev_client *c)
{
    struct api__events *ev = c->ev;
    if (c->prev)
        c->prev->next = c->next;
    else
        ev->clients = c->next;
    if (c->next)
        c->next->prev = c->prev;
    ev->n_clients--;
    if (ev->n_clients == 0)
        uv_timer_stop(&ev->heartbeat);
    for (size_t i = 0; i < c->n_types; i++)
        tr_free(c->types[i]);
    tr_free(c->types);
    tr_free(c);
}

static void client_gone(void *arg)
{
    struct ev_client *c = arg;
    c->conn = NULL;
    if (c->busy)
        c->dead = true;
    else
        client_free(c);
}

static bool client_behind(const struct ev_client *c)
{
    return c->conn && c->height <= c->ev->applied;
}

static void client_written(void *arg)
{
    struct ev_client *c = arg;
    struct api__events *ev = c->ev;
    c->progressed = true;
    if (client_behind(c) && api__stream_queued(c->conn) < ev->buffer_bytes / 2)
        events_kick(ev);
}

static const struct api__stream_ops client_ops = {client_written, client_gone};

/* Tells the client why it is dropped, then ends its stream (the connection closes once that is
 * written, or after the idle timeout if the client reads no more). */
static void client_fail(struct ev_client *c, const char *reason, const char *detail)
{
    json_t *j = json_pack("{s:s, s:s}", "reason", reason, "detail", detail);
    if (j && c->last_id[0])
        json_object_set_new(j, "last_id", json_string(c->last_id));
    char *data = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    char buf[768];
    int n = snprintf(buf, sizeof buf, "event: error\ndata: %s\n\n", data ? data : "{}");
    free(data);
    tr_log(TR_LOG_WARN, "api.events_drop", "reason=%s last_id=%s", reason,
           c->last_id[0] ? c->last_id : "-");
    if (n > 0 && (size_t)n < sizeof buf && api__stream_write(c->conn, buf, (size_t)n) != TR_OK)
        return; /* the connection is already closing */
    if (c->conn)
        api__stream_end(c->conn);
}

static bool client_wants(const struct ev_client *c, const char *type)
{
    if (c->n_types == 0)
        return true;
    for (size_t i = 0; i < c->n_types; i++)
        if (strcmp(c->types[i], type) == 0)
            return true;
    return false;
}

/* Whether the client's queue passed the limit (then it was failed). */
static bool client_over(struct ev_client *c)
{
    struct api__events *ev = c->ev;
    if (api__stream_queued(c->conn) <= ev->buffer_bytes)
        return false;
    char d[160];
    snprintf(d, sizeof d,
             "more than %u bytes of events were waiting for this client; reconnect with "
             "Last-Event-ID to resume",
             ev->buffer_bytes);
    client_fail(c, "too-slow", d);
    return true;
}

/* Sends the rest of the cached block; false when the client is gone or failed. */
static bool client_send_block(struct ev_client *c, size_t *sent)
{
    struct api__events *ev = c->ev;
    for (; c->skip < ev->n_items; c->skip++) {
        const struct ev_item *it = &ev->items[c->skip];
        if (!it->text || !client_wants(c, it->type))
            continue;
        if (client_over(c))
            return false;
        if (api__stream_write(c->conn, it->text, it->len) != TR_OK || !c->conn)
            return false;
        *sent += it->len;
        snprintf(c->last_id, sizeof c->last_id, "%" PRIu64 ".%" PRIu64, c->height, c->skip);
    }
    return true;
}

/* Writes what the client is owed. live: the client was caught up when the block was applied;
 * it gets the block whatever its queue (up to the limit). Otherwise the client reads history at
 * its own pace: per loop turn at most a quarter of the buffer and TURN_BLOCKS blocks (blocks it
 * may not read cost reads, not bytes), and only while its queue is below half of the buffer; the
 * idle handle or its next write completion continues. */
static void client_pump(struct ev_client *c, bool live)
{
    struct api__events *ev = c->ev;
    size_t sent = 0, turn = ev->buffer_bytes / 4, blocks = 0;
    c->busy = true;
    while (client_behind(c)) {
        if (!live && (sent >= turn || blocks++ == TURN_BLOCKS ||
                      api__stream_queued(c->conn) >= ev->buffer_bytes / 2)) {
            if (api__stream_queued(c->conn) < ev->buffer_bytes / 2)
                events_kick(ev);
            break;
        }
        int rc = cache_load(ev, c->height);
        if (rc != TR_OK) {
            char d[128];
            snprintf(d, sizeof d, "block %" PRIu64 " could not be read: %s", c->height,
                     tr_strerror(rc));
            client_fail(c, "unavailable", d);
            break;
        }
        if (!client_send_block(c, &sent))
            break;
        c->height++;
        c->skip = 0;
    }
    c->busy = false;
    if (c->dead)
        client_free(c);
}

static void events_idle(uv_idle_t *h)
{
    struct api__events *ev = h->data;
    uv_idle_stop(&ev->idle); /* a client that can go on starts it again */
    struct ev_client *next;
    for (struct ev_client *c = ev->clients; c; c = next) {
        next = c->next;
        if (client_behind(c) && api__stream_queued(c->conn) < ev->buffer_bytes / 2)
            client_pump(c, false);
    }
}

/* Whether the client took no bytes for a whole heartbeat interval while at least half of the
 * buffer waited for it (then it was failed): a client reading history is never over the limit,
 * so this is what drops one that stopped reading. */
static bool client_stalled(struct ev_client *c)
{
    struct api__events *ev = c->ev;
    if (c->progressed || api__stream_queued(c->conn) < ev->buffer_bytes / 2)
        return false;
    char d[160];
    snprintf(d, sizeof d,
             "this client took no event for %u ms with %u bytes or more waiting; reconnect with "
             "Last-Event-ID to resume",
             ev->heartbeat_ms, ev->buffer_bytes / 2);
    client_fail(c, "too-slow", d);
    return true;
}

static void events_heartbeat(uv_timer_t *t)
{
    struct api__events *ev = t->data;
    struct ev_client *next;
    for (struct ev_client *c = ev->clients; c; c = next) {
        next = c->next;
        c->busy = true;
        if (c->conn && !client_over(c) && !client_stalled(c))
            api__stream_write(c->conn, heartbeat_text, sizeof heartbeat_text - 1);
        c->progressed = false;
        c->busy = false;
        if (c->dead)
            client_free(c);
    }
}

void api_events_notify(struct api *a, uint64_t applied_height)
{
    struct api__events *ev = a ? a->events : NULL;
    if (!ev || ev->closing || applied_height <= ev->applied)
        return;
    uint64_t old = ev->applied;
    ev->applied = applied_height;
    struct ev_client *next;
    for (struct ev_client *c = ev->clients; c; c = next) {
        next = c->next;
        if (c->conn && c->height == old + 1 && c->skip == 0)
            client_pump(c, true);
        else if (client_behind(c) && api__stream_queued(c->conn) < ev->buffer_bytes / 2)
            events_kick(ev);
    }
}

/* ------------------------------------------------------------------------------------------- */
/* The route */

/* Parses an event id: "0" (before the first block) or "H.I" with decimal H >= 1 and I; the
 * client's next position is what follows it. -1 if malformed. */
static int id_parse(const char *s, uint64_t *height, uint64_t *skip)
{
    if (strcmp(s, "0") == 0) {
        *height = 1;
        *skip = 0;
        return 0;
    }
    const char *dot = strchr(s, '.');
    uint64_t h = 0, i = 0;
    if (!dot || api__parse_u64(s, (size_t)(dot - s), &h) != 0)
        return -1;
    if (strcmp(dot + 1, "0") != 0 && api__parse_u64(dot + 1, strlen(dot + 1), &i) != 0)
        return -1;
    if (i == UINT64_MAX)
        return -1;
    *height = h;
    *skip = i + 1;
    return 0;
}

/* ?types=A,B: known type names, each once at most; answers 400 and returns -1 if bad. */
static int types_parse(struct api__req *r, struct ev_client *c, const char *v)
{
    for (const char *s = v;;) {
        size_t len = strcspn(s, ",");
        char name[65];
        if (len == 0 || len >= sizeof name || c->n_types == TYPES_MAX) {
            api__problemf(r, 400, "bad-query",
                          "types is a comma-separated list of at most %d record type names",
                          TYPES_MAX);
            return -1;
        }
        memcpy(name, s, len);
        name[len] = '\0';
        if (!schema_network_type_find(api__schema(r), name)) {
            api__problemf(r, 400, "unknown-type", "no record type named \"%s\"", name);
            return -1;
        }
        if (!c->types)
            c->types = tr_calloc(TYPES_MAX, sizeof *c->types);
        char *dup = c->types ? tr_strdup(name) : NULL;
        if (!dup) {
            api__problemf(r, 500, NULL, "out of memory");
            return -1;
        }
        c->types[c->n_types++] = dup;
        s += len;
        if (*s == '\0')
            return 0;
        s++;
    }
}

/* One decoded query parameter name=value into c; answers 400 and returns -1 if bad. */
static int param_apply(struct api__req *r, struct ev_client *c, const char *name, const char *value,
                       bool *from_seen)
{
    if (strcmp(name, "types") == 0)
        return types_parse(r, c, value);
    if (strcmp(name, "from") == 0) {
        *from_seen = true;
        if (id_parse(value, &c->height, &c->skip) == 0)
            return 0;
        api__problemf(r, 400, "bad-event-id",
                      "from must be an event id \"H.I\" (block height, change index) or 0, got "
                      "\"%.64s\"",
                      value);
        return -1;
    }
    api__problemf(r, 400, "bad-query", "unknown query parameter \"%.64s\"; known: from, types",
                  name);
    return -1;
}

static int query_apply(struct api__req *r, struct ev_client *c, const char *query, bool *from_seen)
{
    for (const char *s = query ? query : ""; *s;) {
        size_t len = strcspn(s, "&");
        const char *eq = memchr(s, '=', len);
        if (len > 0) {
            char *name = NULL, *value = NULL;
            int rc = !eq || eq == s ? TR_EPARSE : api__pct_decode(s, (size_t)(eq - s), &name);
            if (rc == TR_OK)
                rc = api__pct_decode(eq + 1, len - (size_t)(eq - s) - 1, &value);
            int ok = rc == TR_OK ? param_apply(r, c, name, value, from_seen) : -1;
            if (rc != TR_OK)
                api__problemf(r, rc == TR_ENOMEM ? 500 : 400, "bad-query",
                              "query parameters are name=value pairs, percent-encoded");
            tr_free(name);
            tr_free(value);
            if (ok != 0)
                return -1;
        }
        s += len;
        if (*s == '&')
            s++;
    }
    return 0;
}

/* Where the client starts: after Last-Event-ID (it wins: a reconnecting EventSource keeps its
 * first URL), else after ?from=, else with the next block applied. -1 when answered 400. */
static int client_start(struct api__req *r, struct ev_client *c, const char *query)
{
    bool from_seen = false;
    c->height = c->ev->applied + 1;
    if (query_apply(r, c, query, &from_seen) != 0)
        return -1;
    const char *lei = r->last_event_id;
    if (lei && lei[0] && id_parse(lei, &c->height, &c->skip) != 0) {
        api__problemf(r, 400, "bad-event-id",
                      "Last-Event-ID must be an event id \"H.I\" (block height, change index) "
                      "or 0, got \"%.64s\"",
                      lei);
        return -1;
    }
    return 0;
}

static void client_discard(struct ev_client *c)
{
    for (size_t i = 0; i < c->n_types; i++)
        tr_free(c->types[i]);
    tr_free(c->types);
    tr_free(c);
}

void api__route_events(struct api__req *r)
{
    struct api__events *ev = r->conn->api->events;
    if (!r->conn->api->be.changes) {
        api__problemf(r, 404, "no-route", "no route for %.200s", r->url ? r->url : "");
        return;
    }
    if (r->method != HTTP_GET) {
        api__method_not_allowed(r, "GET");
        return;
    }
    if (ev->n_clients >= ev->max_clients) {
        api__problemf(r, 503, "too-many-streams",
                      "%u event streams are open, the limit (limits.events_max_clients)",
                      ev->max_clients);
        return;
    }
    struct ev_client *c = tr_calloc(1, sizeof *c);
    if (!c) {
        api__problemf(r, 500, NULL, "out of memory");
        return;
    }
    c->ev = ev;
    const char *q = r->url ? strchr(r->url, '?') : NULL;
    if (client_start(r, c, q ? q + 1 : NULL) != 0) {
        client_discard(c);
        return;
    }
    struct api__conn *conn = r->conn;
    if (api__stream_begin(r, "text/event-stream", &client_ops, c) != TR_OK) {
        client_discard(c);
        return;
    }
    c->conn = conn;
    c->next = ev->clients;
    if (ev->clients)
        ev->clients->prev = c;
    ev->clients = c;
    if (ev->n_clients++ == 0)
        uv_timer_start(&ev->heartbeat, events_heartbeat, ev->heartbeat_ms, ev->heartbeat_ms);
    if (client_behind(c))
        client_pump(c, false);
}

/* ------------------------------------------------------------------------------------------- */
/* Life cycle */

int api__events_create(struct api *a, const struct api_config *cfg)
{
    struct api__events *ev = tr_calloc(1, sizeof *ev);
    if (!ev)
        return TR_ENOMEM;
    ev->api = a;
    ev->max_clients = cfg->events_max_clients ? cfg->events_max_clients : DEFAULT_MAX_CLIENTS;
    ev->buffer_bytes = cfg->events_buffer_bytes ? cfg->events_buffer_bytes : DEFAULT_BUFFER_BYTES;
    ev->heartbeat_ms = cfg->events_heartbeat_ms ? cfg->events_heartbeat_ms : DEFAULT_HEARTBEAT_MS;
    uv_timer_init(a->loop, &ev->heartbeat);
    uv_idle_init(a->loop, &ev->idle);
    ev->heartbeat.data = ev->idle.data = ev;
    ev->open_handles = 2;
    a->events = ev;
    return TR_OK;
}

static void events_handle_closed(uv_handle_t *h)
{
    struct api__events *ev = h->data;
    if (--ev->open_handles > 0)
        return;
    struct api *a = ev->api;
    cache_clear(ev);
    tr_free(ev);
    api__events_closed(a);
}

void api__events_close(struct api *a)
{
    struct api__events *ev = a->events;
    if (!ev || ev->closing)
        return;
    ev->closing = true;
    struct ev_client *next;
    for (struct ev_client *c = ev->clients; c; c = next) {
        next = c->next;
        if (c->conn)
            api__stream_end(c->conn); /* its gone frees c */
    }
    uv_close((uv_handle_t *)&ev->heartbeat, events_handle_closed);
    uv_close((uv_handle_t *)&ev->idle, events_handle_closed);
}
