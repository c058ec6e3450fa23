/* api.h — the node's HTTP/1.1 API: a server on the caller's libuv loop (http.c), the routes of
 * DESIGN §4 (routes.c) and RFC 9457 problem bodies (problem.c). It reaches the ledger only through
 * struct api_backend, which node/ fills in (tests use a fake). Single-threaded: every function and
 * every backend callback runs on the loop's thread. The process must ignore SIGPIPE (libuv writes
 * to sockets with write(2), and a peer that went away must be an error value, not a signal). */
#ifndef TREATY_API_H
#define TREATY_API_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

struct api;
struct schema_network;

/* A histogram with fixed bucket bounds, for /metrics: observing allocates nothing. `bounds`
 * (borrowed, static in practice) holds n_bounds ascending upper bounds, at most
 * API_HISTOGRAM_MAX_BOUNDS; counts[i] counts observations in (bounds[i-1], bounds[i]],
 * counts[n_bounds] those above the last bound. Zero-initialize, then set bounds and n_bounds. */
#define API_HISTOGRAM_MAX_BOUNDS 20
struct api_histogram {
    const double *bounds;
    uint32_t n_bounds;
    uint64_t counts[API_HISTOGRAM_MAX_BOUNDS + 1];
    uint64_t count;
    double sum;
};

/* Adds one observation `v` to `h`. */
void api_histogram_observe(struct api_histogram *h, double v);

/* What the node says about itself for GET /readyz and GET /metrics. Filled by the backend's
 * node_stats; the histogram pointers (nullable: not reported) are borrowed for the call. */
struct api_node_stats {
    uint64_t term, commit_index, applied_index;
    const char *role; /* "follower", "pre-candidate", "candidate" or "leader"; borrowed */
    bool leader_known;
    uint32_t voters;           /* voters of the configuration in effect */
    uint32_t voters_connected; /* of them: this node if a voter, and peers whose link is up */
    uint32_t peers_connected;  /* peers (voters and learners) whose link is up */
    uint64_t lmdb_map_bytes, lmdb_used_bytes;
    uint64_t log_syncs;                    /* flushes of the Raft log file since the node started */
    const struct api_histogram *batch_txs; /* txs per signed batch */
    const struct api_histogram *commit_latency_seconds; /* submit to answer, committed writes */
    const struct api_histogram *persist_seconds;        /* one Ready's log write, durable */
    const struct api_histogram *persist_entries;        /* log entries written by it */
    const struct api_histogram *apply_seconds; /* one apply (LMDB commit) of queued blocks */
    const struct api_histogram *apply_entries; /* blocks applied by it */
};

/* Completion of a backend submit. `req` is the value the api passed to submit; `http_status` is
 * the status to answer; `body` (may be NULL: empty body) is owned by the api after the call (it
 * takes the reference); `etag` (nullable, borrowed for the call) is the record version, sent as
 * ETag "\"<etag>\"". A status >= 400 is answered as application/problem+json: missing type, title
 * and status members are filled in. */
/* What an API key may do (DESIGN §3.11): reader = every GET under /v1; writer = reader + data
 * writes and POST /v1/tx; admin = writer + governance and the test hook. docs/auth.md has the
 * route table. */
enum api_role { API_ROLE_NONE = 0, API_ROLE_READER, API_ROLE_WRITER, API_ROLE_ADMIN };

/* "reader", "writer", "admin" ("none" for API_ROLE_NONE). */
const char *api_role_name(enum api_role role);
/* The role named `s`; API_ROLE_NONE if it names none. */
enum api_role api_role_parse(const char *s);

typedef void (*api_done_fn)(void *req, int http_status, json_t *body /* owned by api after call */,
                            const char *etag /* nullable */);
/* A submit's completion with the record its tx wrote: `text` is that record's stored JSON, as
 * record_get gives it (owned by the api after the call, released with free()). The api answers
 * with those bytes when the writing org may read the record whole, and parses them only when it
 * must redact: no parse and no serialization per answered write. */
typedef void (*api_record_done_fn)(void *req, int http_status, char *text);

/* What GET /v1/data/T asks of the backend's list; every pointer borrowed for the call. No field:
 * every record by key. A field (an index of the type): with eq, the records whose field equals it,
 * by key; else those having the field, by its value then key, within lo/hi if given (both of one
 * JSON kind; a bound keeps the result to values of its kind). desc (with a field) reverses the
 * order. cursor: NULL for the first page, else a next_cursor of an earlier page of the same query;
 * it resumes strictly after that position, so writes between pages neither shift nor repeat
 * records. Values are JSON values of the field's declared type. */
struct api_list_query {
    const char *field;
    const json_t *eq, *lo, *hi;
    bool lo_incl, hi_incl, desc;
    const char *cursor;
    uint32_t limit; /* 1..1000 */
};

/* Where an audit export stream is (api_backend.export_next): phase 0 the header, 1 the block at
 * `next`, 2 the checkpoint at or after `next`, 3 the end record, 4 done. */
struct api_export_cursor {
    uint64_t from, to;
    unsigned phase;
    uint64_t next, blocks, checkpoints;
};

struct api_backend {
    void *ctx;
    /* Submit one tx: JSON {"ops":[{"op":"create|replace|patch|delete","type":T,"key":K,
       "expected_version":n,"body":{...}}], "idempotency_key":...}. Org = this node's org.
       Calls done exactly once (maybe synchronously) with the status/body to send. With
       "wait":"none" (the client sent Prefer: wait=none) it answers as soon as the tx is validated
       and queued for ordering: 202 {"tx":id,"status":"pending"} (the api adds Location:
       /v1/tx/{id}); errors it can see before that are answered as usual. A tx that wrote a
       record may be completed with done_record (the record's stored text) instead of done. */
    void (*submit)(void *ctx, json_t *tx /* borrowed for the call */, void *req, api_done_fn done,
                   api_record_done_fn done_record);
    /* Record JSON text with its metadata (_version gives the ETag) in *json, owned by the api
       (released with free()). version 0 = current. TR_OK, TR_ENOTFOUND, other codes -> 500. */
    int (*record_get)(void *ctx, const char *type, const char *key, uint64_t version, char **json);
    /* The next three return TR_OK and a new reference in *out (owned by the api), or an error
       code (tx_get: TR_ENOTFOUND -> 404; anything else -> 500). tx_get's object has the tx's
       status, height, leaf_index and, when the backend has the Merkle tree, tree_size, root,
       leaf_hash and inclusion_proof (RFC 9162 §2.1.3, hex hashes) against the current tree. */
    int (*head)(void *ctx, json_t **out);
    int (*tx_get)(void *ctx, const char *id, json_t **out);
    int (*members)(void *ctx, json_t **out);
    /* Optional (NULL: the route answers 404). Same returns as head. */
    int (*block_get)(void *ctx, uint64_t height, json_t **out);
    int (*checkpoint_latest)(void *ctx, json_t **out);
    /* Optional test hook behind POST /v1/_test/entry: orders the ledger Entry whose base64 is
       `entry_b64` as this node's own. TR_OK, or TR_EINVAL when it does not decode. NULL unless
       the node runs with test hooks on. */
    int (*test_entry)(void *ctx, const char *entry_b64);
    /* Optional (NULL: the route answers 404). Paged reads; limit is 1..1000. TR_OK and a new
       reference in *out (owned by the api); TR_ENOTFOUND -> 404, TR_EINVAL -> 400, else 500.
       history: {"versions":[record, ...], "next_after_version"?} of type/key after version
       `after_version` (0: from the first), oldest first; TR_ENOTFOUND if it never existed.
       list: {"items":[record, ...], "next_cursor"?} of the current records of `type` that `q`
       selects (see struct api_list_query); TR_EINVAL when the cursor does not decode. */
    int (*history)(void *ctx, const char *type, const char *key, uint64_t after_version,
                   uint32_t limit, json_t **out);
    int (*list)(void *ctx, const char *type, const struct api_list_query *q, json_t **out);
    /* Optional (NULL: the route answers 404). RFC 9162 proofs; TR_OK and a new reference in *out
       (owned by the api). proof_inclusion: of tx `tx_id` in the tree of `tree_size` leaves (0:
       the current tree), {"tx","leaf_index","tree_size","leaf","leaf_hash","root","proof":[hex]};
       TR_ENOTFOUND for an unknown tx (404), TR_EINVAL unless leaf_index < tree_size <= the
       current size (400). proof_consistency: between the trees of `first` and `second` leaves
       (second 0: the current tree), {"size1","size2","root1","root2","proof":[hex]}; TR_EINVAL
       unless 0 < first <= second <= the current size (400). Else 500. */
    int (*proof_inclusion)(void *ctx, const char *tx_id, uint64_t tree_size, json_t **out);
    int (*proof_consistency)(void *ctx, uint64_t first, uint64_t second, json_t **out);
    /* Optional (NULL: ?consistency=linearizable answers 503). Linearizable reads (Raft
       dissertation §6.4): calls done(req, rc) exactly once, maybe synchronously, with TR_OK once
       this node has applied every entry committed when the call was made (the leader's
       ReadIndex), so a read that runs then sees every write acknowledged before it began; else
       TR_ETIMEOUT (no answer within the node's limit), TR_EBUSY (too many pending), TR_ECLOSED
       (stopping) or another code. */
    void (*read_barrier)(void *ctx, void *req, void (*done)(void *req, int rc));
    /* Checks the API key of a request: `key` is the token after "Bearer " (`len` bytes, no NUL
       inside, borrowed for the call). TR_OK with the key's role in *role, or TR_ENOTFOUND when no
       valid key matches (unknown, revoked, malformed). The backend compares in constant time and
       never logs the key. NULL: no key is valid, so every /v1 request is answered 401. */
    int (*authenticate)(void *ctx, const char *key, size_t len, enum api_role *role);
    /* Optional (NULL: /readyz answers 503 and /metrics has the HTTP series only). Fills *out
       (caller-owned, zeroed by the api); TR_OK, or an error code (then as if NULL). */
    int (*node_stats)(void *ctx, struct api_node_stats *out);
    /* Optional (NULL: GET /v1/events answers 404). The committed record changes of block
       `height` (1..the height last given to api_events_notify), in ledger order, unfiltered:
       a JSON array whose element i is {"type","key","op":"create|replace|patch|delete",
       "version","owner","org" (signing org),"tx","height","index":i,"record": the stored
       record with its metadata, or null for a delete}. A block without changes is []. TR_OK
       and a new reference in *out (owned by the api); TR_ENOTFOUND if the block is not
       applied; other codes end the streams that needed the block. */
    int (*changes)(void *ctx, uint64_t height, json_t **out);
    /* Optional (NULL: GET /v1/ledger/export answers 404). The audit export (docs/audit.proto).
       export_range: checks `from` and *to (0: the head) against the applied blocks; TR_OK with
       *to set, TR_EINVAL unless 1 <= from <= to <= head (400), else 500. export_next: the next
       framed record (varint length || ExportRecord) of the export `cur` describes, in *out
       (tr_malloc'd, owned by the api) and *len; advances cur. Start with cur zeroed but for
       from and to. TR_ENOTFOUND once the end record was given; other codes end the stream. */
    int (*export_range)(void *ctx, uint64_t from, uint64_t *to);
    int (*export_next)(void *ctx, struct api_export_cursor *cur, uint8_t **out, size_t *len);
};

/* Limits of 0 take the defaults: body_max_bytes 1 MiB, header_max_bytes 16 KiB (at most 80 KiB,
 * http-parser's own bound), max_connections 1024, idle_timeout_ms 30000 (a connection without a
 * request is closed), request_timeout_ms 30000 (from a request's first byte to its last; later,
 * 408 and the connection is closed), events_max_clients 256, events_buffer_bytes 1 MiB,
 * events_heartbeat_ms 15000. header_max_bytes bounds the request head as sent in canonical form:
 * method, target, version, every "Name: value" line and the CRLFs. events_buffer_bytes bounds the
 * bytes queued for one event stream (docs/events.md). `schema` is borrowed and must outlive the
 * api. port 0 binds an ephemeral port, reported through port_out (nullable, written by
 * api_create). */
struct api_config {
    const char *host;
    uint16_t port;
    uint32_t body_max_bytes, header_max_bytes, max_connections, idle_timeout_ms;
    uint32_t request_timeout_ms;
    uint32_t events_max_clients, events_buffer_bytes, events_heartbeat_ms;
    const struct schema_network *schema;
    /* This node's organization: whose read ACLs apply to every record the api returns. Copied;
       NULL reads as an org no named ACL entry grants ("*" and absent lists still do). */
    const char *org;
    uint16_t *port_out;
};

/* Binds host:port (IPv4 or IPv6 literal), listens on `loop` and returns the server in *out.
 * `be` is copied; its ctx is borrowed until api_close's done runs. Returns TR_OK, TR_EINVAL
 * (bad host or config), TR_EIO (bind/listen failed; err names the address and the reason) or
 * TR_ENOMEM. *out is set only on TR_OK. */
int api_create(uv_loop_t *loop, const struct api_config *cfg, const struct api_backend *be,
               struct api **out, char *err, size_t errlen);

/* Serves `schema` (borrowed; it must outlive the api) from now on: the network's schema changed
 * by governance. Requests already dispatched finish with the schema they started with. */
void api_schema_set(struct api *a, const struct schema_network *schema);

/* Graceful close: stops accepting, closes idle connections, lets every request in flight finish
 * (its answer carries "Connection: close"), then frees the api and calls done(arg) from the loop.
 * A submit whose connection is gone is not waited for: its later done is accepted and dropped.
 * NULL `a` calls nothing. */
void api_close(struct api *a, void (*done)(void *), void *arg); /* graceful */

/* Tells the event streams that every block up to `applied_height` is applied (the backend's
 * changes can read it): streams waiting for those blocks send their events. Call it once after
 * api_create with the current height, then after each commit that applied blocks. A height
 * lower than one given before is ignored. */
void api_events_notify(struct api *a, uint64_t applied_height);

/* The OpenAPI 3.1 document of the API a node serves for network schema `n` (openapi.c): every
 * route, per record type its operations and request/response schemas, the problem format, the
 * bearer security scheme. New reference in *out (caller-owned). Returns TR_OK, TR_ENOMEM, or an
 * error from schema_network_describe with the message in errmsg. */
int api_openapi_build(const struct schema_network *n, json_t **out, char *errmsg, size_t errlen);
/* The same document as the bytes GET /v1/openapi.json serves (2-space indented JSON, ASCII, a
 * final newline): *text owned by the caller (free()), *len its length (nullable). */
int api_openapi_text(const struct schema_network *n, char **text, size_t *len, char *errmsg,
                     size_t errlen);

#endif
