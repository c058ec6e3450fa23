/* conn.h — SaaS connectors: the contract of the connectors/ module.
 * A runner drives one job per connector and direction (inbound: SaaS -> ledger; outbound: ledger
 * event stream -> SaaS or webhook) as step-by-step state machines over one libcurl-multi edge on
 * a libuv loop. The ledger is reached over the node's HTTP API; durable state (cursors, offsets,
 * synced hashes, dead letters) through struct conn_store, which the caller (node/) fills in.
 * Invariant: a cursor or offset is stored only after the side effect it covers has committed. */
#ifndef TREATY_CONNECTORS_CONN_H
#define TREATY_CONNECTORS_CONN_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

/* ---- configuration (config.c) ---- */

enum conn_kind {
    CONN_KIND_SALESFORCE,
    CONN_KIND_WEBHOOK,
    CONN_KIND_HUBSPOT,
    CONN_KIND_DYNAMICS,
    CONN_KIND_SAP
};
enum conn_dir { CONN_DIR_INBOUND = 1, CONN_DIR_OUTBOUND = 2, CONN_DIR_BOTH = 3 };

/* Value transforms between the ledger's and the SaaS side's representation. */
enum conn_xform {
    CONN_XF_NONE,
    CONN_XF_NUMBER_STRING, /* ledger number <-> SaaS string */
    CONN_XF_STRING_NUMBER, /* ledger string <-> SaaS number */
    CONN_XF_DATE,          /* date/time text, formats below */
};
/* Date formats: rfc3339 "2026-11-29T14:49:19Z" (fraction and offset accepted on input),
 * salesforce "2026-11-29T14:49:19.000+0000", date "2026-11-29", epoch_ms (a JSON number),
 * odata_v2 "/Date(1764427759000)/" (OData V2 JSON; a "+mmmm"/"-mmmm" minute offset accepted). */
enum conn_datefmt {
    CONN_DF_RFC3339,
    CONN_DF_SALESFORCE,
    CONN_DF_DATE,
    CONN_DF_EPOCH_MS,
    CONN_DF_ODATA_V2,
};

struct conn_field {
    char *ledger;     /* ledger field name; owned */
    char *saas;       /* SaaS field name; NULL for a constant; owned */
    json_t *constant; /* inbound constant value for `ledger`; owned, or NULL */
    enum conn_xform xform;
    enum conn_datefmt ledger_df, saas_df;
};

struct conn_limits {
    uint32_t max_inflight;       /* parallel ledger writes of one inbound job */
    uint32_t max_response_bytes; /* largest HTTP response body kept */
    uint32_t max_event_queue;    /* events buffered by one outbound job */
    uint32_t max_attempts;       /* tries of one outbound delivery before it is dead-lettered */
    uint32_t backoff_base_ms, backoff_max_ms;
    uint32_t request_timeout_ms;
    uint32_t max_dead_letters; /* stored per connector; later ones are counted only */
    uint32_t page_size;        /* Salesforce batchSize (200-2000) */
};

struct conn_cfg_connector {
    char *name; /* [a-z0-9_-]{1,64} */
    enum conn_kind kind;
    enum conn_dir direction;
    char *ledger_type, *object, *external_id; /* object, external_id: Salesforce, Dynamics */
    uint32_t poll_interval_ms;
    struct conn_field *fields;
    size_t nfields;
    /* Salesforce */
    char *login_url, *api_version, *client_id, *client_secret; /* secrets owned, never logged */
    char *username, *password; /* both or neither: OAuth password flow; else client credentials */
    /* webhook */
    char *url, *secret;
    struct conn_hs_cfg *hubspot;   /* kind hubspot: its section (connectors/hs.h); owned */
    struct conn_dyn_cfg *dynamics; /* Dynamics 365 section (connectors/dynamics.h); owned */
    struct conn_sap_cfg *sap;      /* SAP S/4HANA (sap_cfg.c); owned, NULL for other kinds */
};

struct conn_cfg {
    char *node_url;  /* http://host:port of the node's API */
    char *api_key;   /* secret */
    char *state_dir; /* the connector's own LMDB environment */
    char *status_host;
    int status_port; /* 0: no status server */
    struct conn_limits limits;
    struct conn_cfg_connector *connectors;
    size_t nconnectors;
};

/* Parses a connector config document. Credentials named by {"env": NAME} or {"file": PATH}
 * are resolved through getenv and the file system. On failure returns TR_EINVAL (or TR_ENOMEM)
 * and writes into err a message naming the exact field ("connectors[0].fields[2].transform:
 * unknown transform \"x\""); a secret's value never appears in it. *out is owned by the caller
 * (conn_cfg_destroy). */
int conn_cfg_parse(const json_t *doc, struct conn_cfg **out, char *err, size_t errlen);
void conn_cfg_destroy(struct conn_cfg *cfg);

/* ---- mapping (mapping.c): pure ---- */

/* Maps a SaaS record to a ledger body (fields with a SaaS name, then constants). A missing or
 * null SaaS field is left out. Returns TR_EINVALID with err naming the field on a value the
 * transform cannot convert. *out owned by the caller. */
int conn_map_inbound(const struct conn_cfg_connector *c, const json_t *saas, json_t **out,
                     char *err, size_t errlen);
/* Maps a ledger record to SaaS fields (constants and the external id field excluded when
 * skip_saas names it). Same errors as conn_map_inbound. */
int conn_map_outbound(const struct conn_cfg_connector *c, const json_t *record,
                      const char *skip_saas, json_t **out, char *err, size_t errlen);
/* The ledger-side projection used to recognise a change already in sync: the mapped fields
 * (with a SaaS name) of `ledger_body`, as compact JSON with sorted keys; free() it (jansson's
 * allocator). NULL when out of memory. */
char *conn_map_projection(const struct conn_cfg_connector *c, const json_t *ledger_body);
/* Converts one value; exposed for tests. to_ledger selects the direction. */
int conn_xform_value(const struct conn_field *f, const json_t *in, int to_ledger, json_t **out);

/* ---- backoff (backoff.c): pure ---- */

/* Delay before try number `attempt` (1 = first retry): min(max, base * 2^(attempt-1)) scaled by
 * a factor in [1/2, 1] drawn from `rnd` (a uniformly random 64-bit value) — "equal jitter". A
 * Retry-After of retry_after_ms (0: none) raises the delay to at least that (at most 1 hour),
 * even above max_ms. */
uint64_t conn_backoff_ms(uint32_t base_ms, uint32_t max_ms, uint32_t attempt, uint64_t rnd,
                         uint64_t retry_after_ms);
/* Parses a Retry-After header value (delay-seconds only); -1 when absent or malformed. */
int64_t conn_retry_after_ms(const char *value);

/* ---- runner (runner.c, edge.c) ---- */

struct conn_kv {
    const char *key;
    const char *val; /* NULL deletes */
};

/* Durable key-value state, filled in by node/ (LMDB). Keys and values are NUL-terminated text. */
struct conn_store {
    void *ctx;
    /* *val is a tr_malloc'd copy; TR_ENOTFOUND when absent. */
    int (*get)(void *ctx, const char *key, char **val);
    /* All n pairs in one transaction, durable when 0 is returned. */
    int (*put)(void *ctx, const struct conn_kv *kvs, size_t n);
    /* fn for each pair whose key starts with prefix, in key order, at most limit calls. */
    int (*scan)(void *ctx, const char *prefix, size_t limit,
                int (*fn)(void *arg, const char *key, const char *val), void *arg);
};

/* Hashes for webhook signatures and change recognition, filled in by node/ (libsodium). */
struct conn_crypto {
    void (*hmac_sha256)(const uint8_t *key, size_t keylen, const uint8_t *msg, size_t len,
                        uint8_t out[32]);
    void (*sha256)(const uint8_t *msg, size_t len, uint8_t out[32]);
    uint64_t (*random64)(void);
};

struct conn_runner;

/* Builds the jobs of cfg on loop. cfg, store and crypto are borrowed for the runner's life.
 * Nothing is sent until conn_runner_start. */
int conn_runner_create(uv_loop_t *loop, const struct conn_cfg *cfg, const struct conn_store *st,
                       const struct conn_crypto *crypto, struct conn_runner **out);
/* Starts the jobs and, when cfg->status_port is set, the status server. TR_EIO when the status
 * address cannot be bound. */
int conn_runner_start(struct conn_runner *r);
/* Aborts every transfer and closes every handle; the loop then ends once run. */
void conn_runner_stop(struct conn_runner *r);
/* Frees the runner after conn_runner_stop and a loop run. Accepts NULL. */
void conn_runner_destroy(struct conn_runner *r);
/* The status document served at GET /v1/connectors. Owned by the caller. */
json_t *conn_runner_status(struct conn_runner *r);

#endif
