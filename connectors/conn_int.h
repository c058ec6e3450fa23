/* conn_int.h — internals shared by the files of connectors/: the job state-machine interface,
 * the request a job asks the edge to send, and the runner. A job never does I/O itself: `next`
 * says what to send (or until when to wait), `handle` consumes the answer. Only edge.c calls
 * libcurl; only the runner touches the store. */
#ifndef TREATY_CONNECTORS_CONN_INT_H
#define TREATY_CONNECTORS_CONN_INT_H

#include <stdbool.h>

#include "connectors/conn.h"

#define CONN__HDR_MAX            8
#define CONN__RESP_HDR_MAX_BYTES 16384

/* One HTTP exchange. The job fills the request part (all owned by the req); the edge fills the
 * answer part. Freed by conn__req_free after `handle`. */
struct conn__req {
    struct conn__job *job;
    int tag;      /* the job's own meaning (which step sent it) */
    size_t index; /* the job's own meaning (record index in a page) */
    char method[8];
    char *url;
    char *hdr[CONN__HDR_MAX];
    size_t nhdr;
    char *body;
    size_t body_len;
    bool stream; /* body delivered to ops->data as it arrives, not buffered */
    /* answer */
    long status; /* 0: no HTTP answer (transport error or abort; see err) */
    char *resp;  /* NUL-terminated body (not for streams) */
    size_t resp_len;
    int64_t retry_after_ms; /* -1: no Retry-After */
    char *resp_hdr;         /* the answer's header lines as received (bounded); or NULL */
    size_t resp_hdr_len;
    char err[128];
    void *edge; /* the edge's transfer handle */
};

enum conn__step { CONN__IDLE, CONN__SEND, CONN__WAIT };

struct conn__job_ops {
    const char *direction; /* "inbound" or "outbound" */
    /* What next at now_ms: CONN__SEND with *req, CONN__WAIT with *until_ms, or CONN__IDLE
     * (nothing until an answer arrives). Called repeatedly until it does not return SEND. */
    enum conn__step (*next)(struct conn__job *j, uint64_t now_ms, struct conn__req **req,
                            uint64_t *until_ms);
    /* An answer (or failure) of a request this job sent. The req is freed afterwards. */
    void (*handle)(struct conn__job *j, struct conn__req *req, uint64_t now_ms);
    /* Bytes of a streamed answer; return false to abort the transfer. */
    bool (*data)(struct conn__job *j, struct conn__req *req, const char *buf, size_t len);
    void (*status)(struct conn__job *j, json_t *out);
    void (*destroy)(struct conn__job *j);
};

struct conn__job {
    const struct conn__job_ops *ops;
    struct conn_runner *rt;
    const struct conn_cfg_connector *cfg;
    size_t conn_index; /* the connector's index in cfg */
    char state[32];
    char last_error[256];
    uint64_t last_error_ms;
    uint64_t records;      /* changes applied by this job */
    uint64_t skipped;      /* changes recognised as already in sync (echoes) */
    uint64_t dead_letters; /* changes dead-lettered by this job */
    uint64_t retries;
    uint64_t caught_up_ms; /* when it last had nothing left to do (lag reference) */
    size_t inflight;
};

/* Per-connector state the inbound and outbound jobs of one connector share in memory. */
struct conn__shared {
    json_t *pending_in;  /* key -> projection hash of an inbound record not yet committed */
    bool inbound_primed; /* the inbound job has read its first page since the start */
};

struct conn_runner {
    uv_loop_t *loop;
    const struct conn_cfg *cfg;
    const struct conn_store *store;
    const struct conn_crypto *crypto;
    struct conn__job **jobs;
    size_t njobs;
    struct conn__shared *shared; /* one per connector */
    struct conn__edge *edge;
    bool stopping;
};

/* ---- runner.c ---- */
struct conn__req *conn__req_new(struct conn__job *j, const char *method, const char *url, int tag);
int conn__req_header(struct conn__req *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Takes ownership of body (tr_malloc'd or from json_dumps: see conn__req_body_json). */
void conn__req_body_json(struct conn__req *r, const json_t *body);
void conn__req_free(struct conn__req *r);
/* A request to the node's API (path absolute, e.g. "/v1/data/T/k") with its bearer key. */
struct conn__req *conn__node_req(struct conn__job *j, const char *method, const char *path,
                                 int tag);
/* Percent-encodes s for a URL path segment or query value into a tr_malloc'd string. */
char *conn__urlencode(const char *s);
void conn__job_error(struct conn__job *j, uint64_t now_ms, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Persists a dead letter {connector, direction, id, reason, record} and counts it. */
void conn__dead_letter(struct conn__job *j, const char *id, const char *reason,
                       const json_t *record);
/* Store keys of a connector: "<kind>/<connector>/<rest>". */
void conn__key(char *buf, size_t size, const struct conn__job *j, const char *kind,
               const char *rest);
/* Whether an inbound record of `key` whose projection hashes to `hash` is what this connector
 * synced itself: the hash stored by its last delivery or inbound write of the key, or the one a
 * delivery sent and not yet stored will store (its pending mark: outbound.c mark_pending). */
bool conn__synced(struct conn__job *j, const char *key, const char *hash);
/* Hex SHA-256 of the projection `proj` into hex[65]. */
void conn__hash_hex(struct conn_runner *rt, const char *proj, char hex[65]);
/* Maps a SaaS record to its ledger body (*body, owned by the caller) and the hex SHA-256 of
 * its projection (hash[65]): what an inbound job writes and compares with the synced hash.
 * TR_EINVALID with err naming the field when the mapping fails. */
int conn__map_hash(struct conn__job *j, const json_t *saas, json_t **body, char hash[65], char *err,
                   size_t errlen);
/* The delay before retry `attempt`, honouring the answer's Retry-After. */
uint64_t conn__backoff(struct conn__job *j, uint32_t attempt, int64_t retry_after_ms);
/* True when a 4xx/5xx answer is transient (retry) rather than permanent (dead letter). */
bool conn__transient(long status);

/* ---- config.c: its field readers, for the kinds' own config sections ---- */
int conn__cfg_str(const json_t *obj, const char *path, const char *key, int required, char **out,
                  char *err, size_t errlen);
int conn__cfg_u32(const json_t *obj, const char *path, const char *key, uint32_t lo, uint32_t hi,
                  uint32_t *out, char *err, size_t errlen);
int conn__cfg_secret(const json_t *obj, const char *path, const char *key, char **out, char *err,
                     size_t errlen);

/* ---- edge.c ---- */
int conn__edge_create(struct conn_runner *rt, struct conn__edge **out);
/* Runs every job's `next` until each waits; arms the wake-up timer. */
void conn__edge_pump(struct conn__edge *e);
void conn__edge_stop(struct conn__edge *e);
void conn__edge_destroy(struct conn__edge *e);
uint64_t conn__now_ms(struct conn_runner *rt);
int conn__status_start(struct conn_runner *rt);

/* ---- jobs ---- */
/* The kind's name in configs and the status ("salesforce", "hubspot", …). */
const char *conn__kind_name(enum conn_kind k);
int conn__sf_in_create(struct conn_runner *rt, size_t ci, struct conn__job **out);
int conn__hs_in_create(struct conn_runner *rt, size_t ci, struct conn__job **out);
int conn__out_create(struct conn_runner *rt, size_t ci, struct conn__job **out);
int conn__sap_in_create(struct conn_runner *rt, size_t ci, struct conn__job **out);

/* ---- inbound.c: what the inbound jobs of every kind share ---- */
/* The state every inbound job keeps next to its struct conn__job (a member of each job). */
struct conn__in {
    char *cursor;           /* the stored cursor (owned); NULL: from the beginning */
    bool reading;           /* a read (query, search, listing) is in flight */
    uint32_t attempt;       /* failed reads or page commits in a row */
    uint64_t wait_until_ms; /* no read before */
    json_t *marks;          /* key -> hash announced (null: an echo) since the last commit */
    bool marks_stored;      /* every hash in marks is in the store as a held mark */
};
/* Fills j (ops, runner, connector ci, state "starting") and reads its stored cursor into
 * in->cursor (left NULL when none is stored); 0 or the store's error. */
int conn__in_init(struct conn__job *j, struct conn__in *in, const struct conn__job_ops *ops,
                  struct conn_runner *rt, size_t ci);
/* Frees what in owns (its cursor). */
void conn__in_close(struct conn__in *in);
/* Whether the job may send a read at now: CONN__WAIT with *until_ms while now is before the later
 * of in->wait_until_ms and also_ms, CONN__IDLE while a read is in flight, else CONN__SEND. */
enum conn__step conn__in_gate(const struct conn__in *in, uint64_t now, uint64_t also_ms,
                              uint64_t *until_ms);
/* Sends read request r (NULL: out of memory) in state `state`: *req = r, in->reading set while
 * it is in flight; CONN__SEND, or CONN__IDLE without a request. */
enum conn__step conn__in_read(struct conn__job *j, struct conn__in *in, const char *state,
                              struct conn__req *r, struct conn__req **req);
/* A read failed: the next one after a backoff (*attempt counted, Retry-After honoured), state
 * "backoff". */
void conn__in_backoff(struct conn__job *j, struct conn__in *in, uint64_t now,
                      int64_t retry_after_ms);
/* The ops->data of a job without streamed answers: aborts any. */
bool conn__in_data(struct conn__job *j, struct conn__req *req, const char *buf, size_t len);
/* The status fields every inbound job has: cursor (null when none) and page_records. */
void conn__in_status(const struct conn__in *in, json_t *out, size_t page_records);
/* Nothing left to read: caught up at now, the next read at the next poll, state "idle". */
void conn__in_caught_up(struct conn__job *j, struct conn__in *in, uint64_t now);
enum conn__in_op { CONN__IN_PUT, CONN__IN_CREATE, CONN__IN_DELETE };
#define CONN__IDEM_KEY_MAX 128 /* the node's Idempotency-Key limit (docs/api.md) */
/* The ledger write of one record: PUT or DELETE /v1/data/<ledger_type>/<key>, or POST
 * /v1/data/<ledger_type> (create), with "Idempotency-Key: <idem>" (an idem longer than
 * CONN__IDEM_KEY_MAX as "treaty-connect/sha256/<hex of its SHA-256>"), body when not NULL, and
 * the job's tag and index (the record in its page). NULL when out of memory. */
struct conn__req *conn__in_write_req(struct conn__job *j, enum conn__in_op op, const char *key,
                                     const char *idem, const json_t *body, int tag, size_t index);
/* Announces to the connector's outbound job (pending_in) that the page just read will write key
 * with this projection hash, so it does not deliver that change back — unless conn__synced
 * already explains the record (an echo of the connector's own delivery, which the page skips).
 * The announcement is also kept in in->marks, for conn__in_hold and conn__in_commit. */
void conn__in_announce(struct conn__job *j, struct conn__in *in, const char *key, const char *hash);
/* Called once a page read is announced, before its first ledger write: stores, durably and in
 * one transaction, a held mark ("held/<connector>/<key>": the hashes announced for the key,
 * newest last) for each hash announced since the last commit. The outbound job takes a change
 * matching a held mark as this connector's own inbound write: after a crash, the writes the page
 * in flight made are recognised whatever page reads them again (conn__in_held). 0, also when
 * nothing is to be stored; else the store's error, noted on the job: conn__in_hold_gate lets no
 * write of the page go until a retry succeeds. */
int conn__in_hold(struct conn__job *j, struct conn__in *in);
/* Whether the page read may send its writes: CONN__SEND once its held marks are stored
 * (conn__in_hold); else CONN__WAIT with *until_ms, the next try after a backoff. */
enum conn__step conn__in_hold_gate(struct conn__job *j, struct conn__in *in, uint64_t now,
                                   uint64_t *until_ms);
/* A page's commit: stores kv[0..n) and, in the same transaction, removes the held marks of every
 * key in in->marks (the synced hashes of the page replace them); then forgets in->marks. */
int conn__in_commit(struct conn__job *j, struct conn__in *in, const struct conn_kv *kv, size_t n);
/* Whether a held mark of key lists hash (outbound.c: this connector's inbound wrote it). */
bool conn__in_held(struct conn__job *j, const char *key, const char *hash);
/* A page's store transaction failed: in->wait_until_ms (and *until_ms) after a backoff, the
 * attempt counted; returns CONN__WAIT. */
enum conn__step conn__in_retry_page(struct conn__job *j, struct conn__in *in, uint64_t now,
                                    uint64_t *until_ms);
/* A record's write failed (the kind has handled its own 404s before): a transient status sets
 * *retry_at_ms after a backoff (*attempt counted), notes "<what> <id>: <reason>; retrying" and
 * returns true; any other dead-letters record (borrowed) with reason and returns false. */
bool conn__in_write_failed(struct conn__job *j, const struct conn__req *req, uint64_t now,
                           uint32_t *attempt, uint64_t *retry_at_ms, const char *what,
                           const char *id, const json_t *record, const char *reason);
/* "ledger answered HTTP 422: <detail>: <first violation's path>: <its message>" of the node's
 * problem answer to a write (the transport error when there was no answer). */
void conn__in_ledger_reason(const struct conn__req *req, char *buf, size_t size);

/* ---- outbound delivery targets ----
 * The outbound job (outbound.c) owns the event stream, the queue of changes, the stored offset
 * and the echo check; a target turns changes into requests of one SaaS API. One delivery is in
 * flight at a time. It may take several requests (a lookup, then a write) and cover several
 * consecutive changes (a batch: at most max_batch, never two of the same key). */
enum conn__verdict {
    CONN__V_DONE,    /* delivered: the offset moves past the changes */
    CONN__V_NEXT,    /* send *next, another step of the same delivery */
    CONN__V_RETRY,   /* transient: retry after backoff, dead letter after limits.max_attempts */
    CONN__V_LIMITED, /* rate limited: retry after backoff (Retry-After honoured), no limit */
    CONN__V_REAUTH,  /* credentials expired (the target dropped them): prepare, then retry */
    CONN__V_DEAD,    /* permanent: a single change is dead-lettered; a batch is retried one
                      * change at a time */
};

struct conn__change {
    const char *id;       /* event id */
    const json_t *change; /* {type, key, op, org, record, …} (docs/events.md) */
    const char *key;
};

struct conn__target;
struct conn__target_ops {
    /* A request needed before deliveries (a token, a CSRF token), or NULL: ready, or wait
     * until *wait_ms when it is set above now_ms (a failed token fetch backing off). */
    struct conn__req *(*prepare)(struct conn__target *t, uint64_t now_ms, uint64_t *wait_ms);
    /* The answer to a prepare request. */
    void (*prepared)(struct conn__target *t, struct conn__req *req, uint64_t now_ms);
    /* The first request delivering chs[0..n) (n >= 1); *taken = how many it covers (1..n).
     * NULL with err set when chs[0] cannot be expressed in the target's fields (it is
     * dead-lettered). */
    struct conn__req *(*start)(struct conn__target *t, const struct conn__change *chs, size_t n,
                               size_t *taken, char *err, size_t errlen);
    /* The answer to a delivery request: the verdict, *next for CONN__V_NEXT, reason (for the
     * status and dead letters) for every verdict but DONE and NEXT. */
    enum conn__verdict (*answer)(struct conn__target *t, struct conn__req *req, uint64_t now_ms,
                                 struct conn__req **next, char *reason, size_t rlen);
    void (*destroy)(struct conn__target *t);
};

struct conn__target {
    const struct conn__target_ops *ops;
    struct conn__job *job;
    size_t max_batch; /* >= 1 */
    bool echo_check;  /* skip changes that are what the connector's inbound side synced */
};

/* The verdict of a plain answer: 2xx DONE, 429 LIMITED, other transient statuses RETRY, else
 * DEAD; reason "<who> answered HTTP <status> <code> <msg>" (the transport error when no answer). */
enum conn__verdict conn__verdict_of(const struct conn__req *req, const char *who, const char *code,
                                    const char *msg, char *reason, size_t rlen);
/* Target constructors, one per kind (outbound.c picks by cfg->kind). */
int conn__sf_target_create(struct conn__job *j, struct conn__target **out);
int conn__hook_target_create(struct conn__job *j, struct conn__target **out);
int conn__hs_target_create(struct conn__job *j, struct conn__target **out);
int conn__dyn_target_create(struct conn__job *j, struct conn__target **out);
int conn__sap_target_create(struct conn__job *j, struct conn__target **out);

/* ---- salesforce session (sf_auth.c), shared by the Salesforce jobs ---- */
struct conn__sf_auth {
    char *token;
    char *instance_url;
    uint32_t failures;
    uint64_t retry_at_ms;
};
/* A token request when no token is held and none is in flight; NULL otherwise. */
struct conn__req *conn__sf_token_req(struct conn__job *j, struct conn__sf_auth *a, int tag);
/* Consumes the token answer; 0 when a token is now held. */
int conn__sf_token_handle(struct conn__job *j, struct conn__sf_auth *a, struct conn__req *req,
                          uint64_t now_ms);
void conn__sf_auth_clear(struct conn__sf_auth *a);
/* The Salesforce error code of an error body ([{"errorCode": …, "message": …}]) into code. */
void conn__sf_error(const struct conn__req *req, char *code, size_t size, char *msg,
                    size_t msgsize);

/* ---- SAP S/4HANA OData V2 (sap_cfg.c, sap_http.c), shared by sap_in.c and sap_out.c ---- */
struct conn_sap_cfg {
    char *root;            /* service root: base_url + "/sap/opu/odata/sap/" + service; owned */
    char *entity_set;      /* "A_BusinessPartner" */
    char *key_prop;        /* "BusinessPartner": the entity key, the saas name of a mapped field */
    char *user, *password; /* HTTP Basic; both or neither; secrets, never logged */
    char *token;           /* a bearer token instead of Basic; secret */
    uint32_t max_etag_retries; /* re-reads after 412 Precondition Failed before a dead letter */
    char client[4];            /* SAP client ("100"): sap-client on every URL; "" for none */
};
/* Parses c's "sap" section (err names the field, as conn_cfg_parse). */
int conn__parse_sap(const json_t *o, const char *path, struct conn_cfg_connector *c, char *err,
                    size_t errlen);
void conn__sap_cfg_free(struct conn_sap_cfg *s);

/* The session of one SAP job: the CSRF token and the cookies it is bound to. */
struct conn__sap_session {
    char *csrf;   /* NULL: none held */
    char *cookie; /* "a=1; b=2" from the token answer's Set-Cookie lines; or NULL */
    uint32_t failures;
    uint64_t retry_at_ms;
};
/* A request to the service with Authorization, Accept JSON and, when held, the session's
 * cookies and (for writes, when with_csrf) its CSRF token. url is absolute. */
struct conn__req *conn__sap_req(struct conn__job *j, const struct conn__sap_session *s,
                                const char *method, const char *url, int tag, bool with_csrf);
/* GET <root>/ with X-CSRF-Token: Fetch. */
struct conn__req *conn__sap_csrf_req(struct conn__job *j, struct conn__sap_session *s, int tag);
/* Consumes the CSRF answer; 0 when a token is now held. */
int conn__sap_csrf_handle(struct conn__job *j, struct conn__sap_session *s,
                          const struct conn__req *req, uint64_t now_ms);
void conn__sap_session_clear(struct conn__sap_session *s);
/* The value of answer header `name` (case-insensitive; the last one) into buf; false if none. */
bool conn__resp_header(const struct conn__req *req, const char *name, char *buf, size_t size);
/* True for 403 with "x-csrf-token: Required": the token expired. */
bool conn__sap_csrf_required(const struct conn__req *req);
/* "HTTP 400 <code>: <message>" of an OData V2 error body ({"error": {"code", "message":
 * {"value"}}}) into buf. */
void conn__sap_error(const struct conn__req *req, char *buf, size_t size);
/* The same error body's code and message (the transport error when there was no answer). */
void conn__sap_error_parts(const struct conn__req *req, char *code, size_t csize, char *msg,
                           size_t msize);
/* Converts an entity's (LastChangeDate "/Date(ms)/", LastChangeTime "PTxxHxxMxxS") into
 * "YYYY-MM-DDTHH:MM:SS" (UTC); false when either is missing or malformed. */
bool conn__sap_stamp(const json_t *entity, char out[20]);

#endif
