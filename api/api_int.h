/* api_int.h — internals shared by the api module's files: the server and its connections
 * (http.c), one request at a time per connection (pipelined requests wait in the read buffer, so
 * answers go out in order), the router (routes.c) and problem bodies (problem.c). */
#ifndef TREATY_API_INT_H
#define TREATY_API_INT_H

#include "api/api.h"
#include "schema/schema.h"

#include <http_parser.h>
#include <stdbool.h>

#define API__KEY_MAX_BYTES      256 /* record keys */
#define API__IDEM_KEY_MAX_BYTES 128 /* Idempotency-Key values: the ledger's BATCH_IDEM_KEY_MAX */
#define API__ORG_MAX_BYTES      128 /* api_config.org */
/* RFC 6750 §3: the challenge of every 401 answer. */
#define API__AUTH_CHALLENGE "Bearer realm=\"treaty\""

/* STREAMING: the answer's head is sent and its body goes out in chunks until the stream ends or
 * the connection closes (http_stream.c). */
enum api__req_state { API__REQ_PARSING, API__REQ_DISPATCHED, API__REQ_WRITING, API__REQ_STREAMING };

/* Route templates, the `route` label of the HTTP metrics (metrics.c names them). */
enum api__route_id {
    API__ROUTE_OTHER, /* no route matched */
    API__ROUTE_DATA_TYPE,
    API__ROUTE_DATA_KEY,
    API__ROUTE_DATA_HISTORY,
    API__ROUTE_BLOCK,
    API__ROUTE_CHECKPOINT,
    API__ROUTE_PROPOSALS,
    API__ROUTE_APPROVE,
    API__ROUTE_ROTATE_KEY,
    API__ROUTE_TX_POST,
    API__ROUTE_TX_GET,
    API__ROUTE_TEST_ENTRY,
    API__ROUTE_MEMBERS,
    API__ROUTE_HEAD,
    API__ROUTE_HEALTHZ,
    API__ROUTE_READYZ,
    API__ROUTE_METRICS,
    API__ROUTE_EVENTS,
    API__ROUTE_SCHEMA,
    API__ROUTE_OPENAPI,
    API__ROUTE_PROOF_INCLUSION,
    API__ROUTE_PROOF_CONSISTENCY,
    API__ROUTE_SCHEMA_PROPOSALS,
    API__ROUTE_SCHEMA_APPROVE,
    API__ROUTE_EXPORT,
    API__ROUTE_COUNT
};

/* Responses are counted per status code 100..599, each exactly (the server never sends others:
 * a backend status outside 200..599 becomes 500). */
#define API__STATUS_MIN 100
#define API__STATUS_MAX 599

/* The api's own request counters; fixed size, so counting never allocates. */
struct api__metrics {
    struct {
        uint64_t count[API__STATUS_MAX - API__STATUS_MIN + 1]; /* by status - API__STATUS_MIN */
        struct api_histogram duration_seconds;
    } route[API__ROUTE_COUNT];
};

/* One HTTP request. Owned by its connection until dispatched; while a backend holds it
 * (DISPATCHED) it outlives a connection that goes away (conn becomes NULL) and is freed when the
 * backend's done runs. */
struct api__req {
    struct api__conn *conn; /* NULL once detached */
    enum api__req_state state;
    enum http_method method;
    enum api__route_id route; /* set by the router */
    uint64_t start_ns;        /* uv_hrtime() when the request began */
    bool keep_alive;
    unsigned short http_major, http_minor;
    char *url; /* NUL-terminated, owned */
    size_t url_len, url_cap;
    char *body; /* NUL-terminated, owned */
    size_t body_len, body_cap;
    char hdr_name[32]; /* current header name; names longer than this are not ones we read */
    size_t hdr_name_len;
    bool in_value;
    char **hdr_target; /* where the current header's value goes, NULL if ignored */
    size_t *hdr_target_len;
    enum api_role role;             /* of the request's API key, set by api__auth_admit */
    const struct schema_type *type; /* the record type a data route works on, else NULL */
    /* Headers the routes read: owned, NULL if absent; a repeated header keeps its last value. */
    char *if_match, *idempotency_key, *expect, *authorization, *prefer, *last_event_id,
        *content_type;
    size_t if_match_len, idempotency_key_len, expect_len, authorization_len, prefer_len,
        last_event_id_len, content_type_len;
    char *resp_headers; /* owned, NULL or "Name: value\r\n" lines sent with the answer */
    bool linearized;    /* the backend's read barrier passed: ?consistency=linearizable is met */
};

#define API__RBUF_BYTES 16384

struct api__events;

/* Server state (http.c; events.c keeps its part in `events`). */
struct api {
    uv_loop_t *loop;
    uv_tcp_t server;
    uv_tcp_t shed; /* accepts and closes a connection we have no memory for */
    bool shed_busy, shed_waiting;
    struct api_backend be;
    const struct schema_network *schema;
    uint32_t body_max, header_max, conn_max, idle_ms, request_ms;
    struct api__conn *conns; /* every open connection, rejected ones too */
    uint32_t n_active, n_rejecting;
    bool closing, server_closed;
    void (*close_done)(void *);
    void *close_arg;
    struct api__metrics metrics;
    char *doc_text[2]; /* api__doc_cache: OpenAPI and schema text, malloc'd, built on first GET */
    size_t doc_len[2];
    char org[API__ORG_MAX_BYTES + 1]; /* this node's org, "" when not configured */
    bool has_org;
    struct api__events *events; /* NULL once its handles closed during api_close */
    /* Connections whose answer went out whole in respond_bytes's own write: their requests end
     * in `written_idle`'s next turn, as a write callback would end them (never inside the
     * caller that answered: it may go on using the request). */
    struct api__conn *written;
    uv_idle_t written_idle;
    bool written_idle_closed;
};

/* What a streaming answer's owner hears from its connection (http_stream.c). */
struct api__stream_ops {
    void (*written)(void *arg); /* a chunk left the queue: the owner may write more */
    void (*gone)(void *arg);    /* the connection is closing; no call on the stream after this */
};

struct api__conn {
    struct api *api;
    struct api__conn *prev, *next;
    uv_tcp_t tcp;
    uv_timer_t idle;
    uv_write_t continue_w; /* "100 Continue"; at most one in flight (one request at a time) */
    http_parser parser;
    struct api__req *req;
    uint32_t head_bytes; /* canonical size of the request head parsed so far */
    int fail_status;     /* set by a parser callback that refuses the request (431, 413) */
    bool reading, closing, close_after, rejecting, pumping;
    bool written;                       /* on api->written */
    struct api__conn *written_next;     /* the next one there */
    bool stream_chunked, stream_ending; /* streaming: chunked framing; terminal chunk queued */
    const struct api__stream_ops *sops; /* set while streaming */
    void *sarg;
    int open_handles;
    size_t roff, rlen;
    char rbuf[API__RBUF_BYTES];
};

/* One write of http.c or http_stream.c: `buf` (owned) is freed when it completes. */
struct api__write {
    uv_write_t w;
    struct api__conn *conn;
    char *buf;
};

/* Server state, defined in http.c; routes reach the schema and backend through these. */
const struct schema_network *api__schema(const struct api__req *r);
const struct api_backend *api__backend(const struct api__req *r);

struct api__metrics *api__metrics_of(const struct api__req *r);
/* The node's org (api_config.org), NULL if none was given. */
const char *api__org(const struct api__req *r);

/* Answers `r` with `body` (takes ownership; may be NULL). Statuses >= 400 are sent as
 * application/problem+json with missing problem members filled in; others as application/json.
 * `etag` (version digits) and `allow` (method list) are nullable. Frees a detached request. */
void api__respond_json(struct api__req *r, int status, json_t *body, const char *etag,
                       const char *allow);
/* Answers `r` with `len` bytes of JSON text (borrowed for the call). */
void api__respond_text(struct api__req *r, int status, const char *body, size_t len,
                       const char *etag);

/* Adds the header line "name: value" to the answer of `r`. TR_OK or TR_ENOMEM. */
int api__header_add(struct api__req *r, const char *name, const char *value);

/* routes.c: dispatches a complete request; answers it now or later (backend submit). */
void api__route(struct api__req *r);

/* Helpers of the write routes (routes.c), shared with routes_tx.c. The ones taking `r` answer it
 * when they fail, so the caller only returns. */
#define API__TX_OPS_MAX 256 /* ops of one POST /v1/tx */

/* Answers `r` with a problem whose detail is the printf-formatted text. */
void api__problemf(struct api__req *r, int status, const char *slug, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* If-Match: "n" -> expected version n. Returns 0 (none: *v = 0), 1 (set) or -1 (answered 400). */
int api__if_match_version(struct api__req *r, uint64_t *v);
/* Returns 0 when the Idempotency-Key header is absent or usable, -1 (answered 400) if not. */
int api__idempotency_check(struct api__req *r);
/* Parses the request body as one JSON object; a new reference, or NULL (answered 400/500). */
json_t *api__body_load(struct api__req *r);
/* Writes the text of key value `k` (a string of 1 to API__KEY_MAX_BYTES bytes without NUL, or an
 * integer) into `key`. TR_OK, TR_EINVAL (a bad string) or TR_ENOTFOUND (neither kind). */
int api__key_text(const json_t *k, char key[API__KEY_MAX_BYTES + 1]);
/* Whether merge patch `patch` leaves t's key field at `key`: absent, or the same key. */
bool api__patch_keeps_key(const struct schema_type *t, const json_t *patch, const char *key);
/* {"op":op,"type":type,"key":key,"body":body,"expected_version":expected} with body (nullable,
 * taken) and expected_version (0: none) left out when absent. NULL on OOM (body released). */
json_t *api__op_pack(const char *op, const char *type, const char *key, json_t *body,
                     uint64_t expected);
/* routes_tx.c: whether the request's Prefer header (RFC 7240 §2) holds the preference wait=none;
 * other preferences and malformed ones are ignored. */
bool api__prefer_wait_none(const struct api__req *r);
/* Wraps `ops` (taken) as {"ops":ops,"idempotency_key"?,"wait":"none"?} and submits it; the request
 * is answered by the backend's done (500 here on OOM). r may be answered and gone after this. */
void api__submit_ops(struct api__req *r, json_t *ops);
/* routes_write.c: a backend submit's completion (api_done_fn): a written record is answered
 * through the read ACLs; a 202 points at the tx resource. */
void api__submit_done(void *req, int status, json_t *body, const char *etag);
/* The same with the written record's stored text (api_record_done_fn): its bytes are the answer
 * when the org may read it whole, else it is parsed and goes through api__submit_done. */
void api__submit_done_record(void *req, int status, char *text);
/* routes_write.c: POST /v1/data/T (key NULL) or PUT /v1/data/T/{key}; PATCH (RFC 7396 merge
 * patch); DELETE. Each answers r now (4xx) or through the backend's submit. */
void api__record_write(struct api__req *r, const struct schema_type *t, const char *path_key);
void api__record_patch(struct api__req *r, const struct schema_type *t, const char *key);
void api__record_delete(struct api__req *r, const struct schema_type *t, const char *key);

/* Percent-decodes s[0..len) (RFC 3986 §2.1) into a new string (tr_free). TR_EPARSE on a bad
 * escape or an escaped NUL, TR_ENOMEM. */
int api__pct_decode(const char *s, size_t len, char **out);
/* Parses decimal digits of a u64 >= 1; -1 if not exactly that. */
int api__parse_u64(const char *s, size_t len, uint64_t *out);
/* Answers 405 with an Allow header of `allow`. */
void api__method_not_allowed(struct api__req *r, const char *allow);

/* routes_query.c: GET /v1/data/T (list, one indexed field filter) and GET
 * /v1/data/T/{key}/history; `query` is the raw query string (nullable). */
void api__route_list(struct api__req *r, const struct schema_type *t, const char *query);
void api__route_history(struct api__req *r, const struct schema_type *t, const char *key,
                        const char *query);
/* routes_query.c: ?consistency=local|linearizable of a record, list or history read. Returns 0
 * (read now), 1 (r went to the backend's read barrier: it is routed again, or answered 503, when
 * the barrier completes) or -1 (answered 400). */
int api__read_consistency(struct api__req *r, const char *query);
/* routes_query.c: GET /v1/ledger/proofs/inclusion?tx=ID&tree_size=N and
 * /v1/ledger/proofs/consistency?first=N&second=M (r->route tells which). */
void api__route_proof(struct api__req *r, const char *query);

/* metrics.c: zeroes `m` and sets its histogram bounds; records one answered request; GET
 * /metrics and GET /readyz. */
void api__metrics_init(struct api__metrics *m);
void api__metrics_record(struct api__metrics *m, enum api__route_id route, int status,
                         double seconds);
void api__route_metrics(struct api__req *r);
void api__route_readyz(struct api__req *r);
/* Answers `r` with `len` bytes of `ctype` text (borrowed for the call). */
void api__respond_typed(struct api__req *r, int status, const char *ctype, const char *body,
                        size_t len);

/* http.c: closes the connection now (a stream's gone runs); closes it once the idle timeout
 * passed (a client that stopped reading must not hold it). */
void api__conn_close(struct api__conn *c);
void api__conn_linger(struct api__conn *c);

/* http_stream.c: streaming answers. stream_begin sends the head of a 200 answer of `ctype` with
 * chunked framing (HTTP/1.0: the body runs to the close) and makes `r` a stream: its connection
 * reads only to see the client go and has no idle timeout; ops->written runs when a chunk left
 * the queue, ops->gone once when the connection closes for any reason. TR_OK, or an error (then
 * the connection is closing and gone was not called: the owner keeps nothing). */
int api__stream_begin(struct api__req *r, const char *ctype, const struct api__stream_ops *ops,
                      void *arg);
/* Queues `len` bytes (copied) as one chunk. TR_OK, TR_ENOMEM or TR_EIO: then the connection is
 * closing (gone runs, maybe before this returns). */
int api__stream_write(struct api__conn *c, const char *data, size_t len);
/* Bytes queued on the connection that the kernel has not taken yet. */
size_t api__stream_queued(const struct api__conn *c);
/* Ends the stream cleanly (terminal chunk) and closes the connection once it is written; gone
 * runs now. */
void api__stream_end(struct api__conn *c);

/* export.c: GET /v1/ledger/export?from=&to= (docs/audit.proto), streamed a record at a time
 * while fewer than events_buffer_bytes are queued on the connection. */
void api__route_export(struct api__req *r, const char *query);

/* events.c: GET /v1/events and its clients. create sets a->events (TR_OK or TR_ENOMEM); close
 * ends every stream and closes the events' handles, then calls api__events_closed (http.c). */
int api__events_create(struct api *a, const struct api_config *cfg);
void api__events_close(struct api *a);
void api__events_closed(struct api *a);
void api__route_events(struct api__req *r);

/* routes_tx.c: POST /v1/tx. */
void api__route_tx(struct api__req *r);

/* auth.c: admission of a request before its route runs, and read ACLs on what it returns. */

/* The role route `route` needs for `method` (API_ROLE_NONE: no key needed). `area` is the
 * decoded path segment after /v1 ("" for /v1 itself), NULL when the path is not under /v1; it
 * decides for routes the table does not know (under /v1 a key is always needed). */
enum api_role api__auth_required(enum api__route_id route, enum http_method method,
                                 const char *area);
/* Checks the request's key (401 when missing, malformed, unknown or revoked: WWW-Authenticate
 * is added to every 401), its role against what the route needs (403 naming the rule) and the
 * Content-Type of a write (415). Returns 0 when admitted (r->role set), -1 when answered. */
int api__auth_admit(struct api__req *r, const char *area);
/* Whether the org may read record `rec` of `t` (by its _owner); if not, answers 403 naming the
 * read rule and returns false. When it may, removes the fields it may not read. */
bool api__acl_read_or_403(struct api__req *r, const struct schema_type *t, json_t *rec);

/* json_scan.c. The value of top-level member `name` of the JSON object in text[0..len) as its
 * raw bytes (*val, *vlen: a string keeps its quotes); -1 when the text is not an object or has
 * no such member. Values are skipped, not validated. */
int api__json_member(const char *text, size_t len, const char *name, const char **val,
                     size_t *vlen);
/* Answers 200 with a stored record's bytes (NUL-terminated compact JSON from the ledger) and its
 * _version as ETag when the reader may see that record whole (the read ACL admits its org, as
 * the owner or not, and no field hidden from it is present); false, having answered nothing,
 * otherwise: the caller parses, checks (403) and redacts. */
bool api__answer_stored_record(struct api__req *r, const struct schema_type *t, const char *text);
/* The same with another success status (a write's 201 or 200). */
bool api__answer_stored_record_status(struct api__req *r, const struct schema_type *t,
                                      const char *text, int status);
/* Whether the org may read `rec` of `t`; redacts it when it may. Answers nothing. */
bool api__acl_read(const struct api__req *r, const struct schema_type *t, json_t *rec);
/* Removes from the JSON array `items` the records of `t` the org may not read, redacts the rest. */
void api__acl_filter(const struct api__req *r, const struct schema_type *t, json_t *items);
/* Whether no record of `t` can be readable by the org (its read list names neither the org, "*"
 * nor "owner"): lists then skip the backend. */
bool api__acl_none_readable(const struct api__req *r, const struct schema_type *t);
/* Whether the org may filter or order records of `t` by `field`: not when a field read list hides
 * it from some records (the filter would reveal the hidden values). Answers 403 if not. */
bool api__acl_field_usable_or_403(struct api__req *r, const struct schema_type *t,
                                  const char *field);
/* openapi.c, openapi_paths.c, openapi_types.c: the OpenAPI document under construction. `names`
 * maps logical schema names ("Problem", "Shipment.Record") to component names, `taken` holds the
 * component names in use. */
struct api__oa {
    const struct schema_network *n;
    json_t *doc, *names, *taken;
};
/* A constant piece of the document: JSON text placed at `at` (member names joined by '|'); both
 * may hold ${T} (the type name), $S{name} (the $ref of a schema component by logical name; $S{T}
 * and $S{T.Record} for the current type's) and $N{name} (the component name alone). */
struct api__oa_fragment {
    const char *at;
    const char *json;
};
const char *api__oa_name(const struct api__oa *oa, const char *logical);
/* `tpl` with its placeholders filled in for type `t` (NULL: none); new string (tr_free), NULL on
 * ENOMEM. */
char *api__oa_expand(const struct api__oa *oa, const char *tpl, const char *t);
/* The object at `at` under root, objects created on the way; borrowed, NULL on ENOMEM. */
json_t *api__oa_at(json_t *root, const char *at);
int api__oa_put(struct api__oa *oa, const struct api__oa_fragment *f, const char *t);
/* Puts fragments up to the one whose `at` is NULL. */
int api__oa_put_all(struct api__oa *oa, const struct api__oa_fragment *f, const char *t);
/* The fixed routes, and the operations and schemas of record type t. TR_OK or TR_ENOMEM. */
int api__oa_paths(struct api__oa *oa);
int api__oa_type(struct api__oa *oa, const struct schema_type *t);
/* openapi_types.c: the document's tags array; t's Record and Patch schemas; t's list filters. */
json_t *api__oa_tags(struct api__oa *oa);
int api__oa_record(struct api__oa *oa, const struct schema_type *t);
int api__oa_list_params(struct api__oa *oa, const struct schema_type *t);
/* Adds to every operation under /v1 the API key role it needs (description and x-treaty-role). */
int api__oa_roles(struct api__oa *oa);
/* routes.c: GET /v1/openapi.json and GET /v1/schema, their text built once per api (http.c keeps
 * it: api__doc_cache). */
void api__route_documents(struct api__req *r);
/* The cached text of the OpenAPI document (which 0) or of the schema (which 1), NULL if not built
 * yet; api__doc_cache_set takes ownership of `text` (malloc'd). */
const char *api__doc_cache(const struct api__req *r, int which, size_t *len);
void api__doc_cache_set(const struct api__req *r, int which, char *text, size_t len);

/* problem.c */
const char *api__status_reason(int status);
/* {"type","title","status","detail"}; slug NULL gives type "about:blank". New reference, NULL on
 * OOM. */
json_t *api__problem(int status, const char *slug, const char *detail);
/* Adds the type/title/status members `obj` lacks (a backend's error body). */
void api__problem_fill(json_t *obj, int status);
/* 422 problem listing every violation in `errs`. */
json_t *api__problem_validation(const char *type_name, const struct schema_errors *errs);
/* 422 validation problem with `detail` and the JSON array `errors` (taken); NULL on OOM. */
json_t *api__problem_errors(const char *detail, json_t *errors);

#endif
