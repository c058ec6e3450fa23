/* export.c — GET /v1/ledger/export?from=H&to=H: the audit export (docs/audit.proto) as a chunked
 * stream, one framed record per backend call. Invariant: at most EXPORT_BUFFER_BYTES plus one
 * record are queued on a connection; more is read only when the client has taken bytes, so a
 * long export never sits in memory. A backend error closes the connection without the end
 * record, which the reader sees as a truncated export. */
#include "api/api_int.h"

#include "common/alloc.h"
#include "common/err.h"

#include <stdio.h>
#include <string.h>

#define EXPORT_BUFFER_BYTES (1024u * 1024)

struct export_stream {
    struct api__conn *conn; /* NULL once gone */
    const struct api_backend *be;
    struct api_export_cursor cur;
    bool busy, dead;
};

static void export_pump(struct export_stream *s);

static void export_written(void *arg)
{
    export_pump(arg);
}

static void export_gone(void *arg)
{
    struct export_stream *s = arg;
    s->conn = NULL;
    if (s->busy)
        s->dead = true;
    else
        tr_free(s);
}

static const struct api__stream_ops export_ops = {export_written, export_gone};

static void export_pump(struct export_stream *s)
{
    s->busy = true;
    while (s->conn && api__stream_queued(s->conn) < EXPORT_BUFFER_BYTES) {
        uint8_t *buf = NULL;
        size_t len = 0;
        int rc = s->be->export_next(s->be->ctx, &s->cur, &buf, &len);
        if (rc == TR_ENOTFOUND) {
            api__stream_end(s->conn); /* gone runs now */
            break;
        }
        if (rc != TR_OK) {
            api__conn_close(s->conn); /* no end record: the reader sees a truncated export */
            break;
        }
        api__stream_write(s->conn, (const char *)buf, len); /* on failure gone has run */
        tr_free(buf);
    }
    s->busy = false;
    if (s->dead)
        tr_free(s);
}

/* Parses from= and to= (whole numbers); answers 400 and returns -1 if the query is bad. */
static int export_query(struct api__req *r, const char *q, uint64_t *from, uint64_t *to)
{
    *from = 1;
    *to = 0;
    const uint64_t *seen[2] = {NULL, NULL}; /* a repeated name would leave a guess between two */
    while (q && *q) {
        const char *amp = strchr(q, '&'), *end = amp ? amp : q + strlen(q);
        const char *eq = memchr(q, '=', (size_t)(end - q));
        uint64_t *slot = NULL;
        if (eq && eq - q == 4 && memcmp(q, "from", 4) == 0)
            slot = from;
        else if (eq && eq - q == 2 && memcmp(q, "to", 2) == 0)
            slot = to;
        size_t vlen = eq ? (size_t)(end - eq - 1) : 0;
        if (slot && vlen == 1 && eq[1] == '0') { /* a height, but none is 0 */
            api__problemf(r, 400, "bad-range", "heights start at 1; got \"%.*s\"", (int)(end - q),
                          q);
            return -1;
        }
        if (slot && seen[slot == to] == slot) {
            api__problemf(r, 400, "bad-query", "%s= is repeated", slot == to ? "to" : "from");
            return -1;
        }
        if (slot)
            seen[slot == to] = slot;
        if (!slot || api__parse_u64(eq + 1, vlen, slot) != 0) {
            api__problemf(r, 400, "bad-query",
                          "the export takes from=H and to=H (whole numbers); "
                          "got \"%.*s\"",
                          (int)(end - q > 64 ? 64 : end - q), q);
            return -1;
        }
        q = amp ? amp + 1 : end;
    }
    return 0;
}

void api__route_export(struct api__req *r, const char *query)
{
    const struct api_backend *be = api__backend(r);
    uint64_t from, to;
    if (r->method != HTTP_GET) {
        api__method_not_allowed(r, "GET");
        return;
    }
    if (!be->export_range || !be->export_next) {
        api__problemf(r, 404, "no-route", "the export is not served here");
        return;
    }
    if (export_query(r, query, &from, &to) != 0)
        return;
    uint64_t asked_to = to;
    int rc = be->export_range(be->ctx, from, &to);
    if (rc == TR_EINVAL) {
        api__problemf(r, 400, "bad-range",
                      "from=%llu to=%llu is out of range: 1 <= from <= to "
                      "<= the head's height",
                      (unsigned long long)from, (unsigned long long)asked_to);
        return;
    }
    if (rc != TR_OK) {
        api__problemf(r, 500, NULL, "export: %s", tr_strerror(rc));
        return;
    }
    struct export_stream *s = tr_calloc(1, sizeof *s);
    if (!s) {
        api__problemf(r, 500, NULL, "out of memory");
        return;
    }
    s->be = be;
    s->cur.from = from;
    s->cur.to = to;
    struct api__conn *conn = r->conn;
    if (api__stream_begin(r, "application/vnd.treaty.audit-export", &export_ops, s) != TR_OK) {
        tr_free(s);
        return;
    }
    s->conn = conn;
    export_pump(s);
}
