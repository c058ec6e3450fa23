/* harness.h — test double and client shared by the api suites: a fake backend that records its
 * calls and answers submits synchronously or from a uv timer, a server on 127.0.0.1 with an
 * ephemeral port, and a small HTTP client on real sockets. Every wait is bounded by a timer. */
#ifndef TREATY_TESTS_API_HARNESS_H
#define TREATY_TESTS_API_HARNESS_H

#include "api/api.h"
#include "schema/schema.h"

#include <http_parser.h>
#include <stdbool.h>

/* Keys the fake backend accepts, one per role, and header lines that send them. */
#define KEY_READER  "trk_0000000000000001_reader"
#define KEY_WRITER  "trk_0000000000000002_writer"
#define KEY_ADMIN   "trk_0000000000000003_admin"
#define AUTH_READER "Authorization: Bearer " KEY_READER "\r\n"
#define AUTH_WRITER "Authorization: Bearer " KEY_WRITER "\r\n"
#define AUTH_ADMIN  "Authorization: Bearer " KEY_ADMIN "\r\n"
#define JSON_CT     "Content-Type: application/json\r\n"
#define AUTH_JSON   AUTH_ADMIN JSON_CT
/* The org the harness's api serves unless the test's config names another. */
#define HARNESS_ORG "acme"

#define FAKE_PENDING_MAX 8
#define CLIENT_RESP_MAX  16

struct fake_pending {
    uv_timer_t timer;
    void *req;
    api_done_fn done;
    api_record_done_fn done_record;
    struct fake_backend *fb;
};

struct fake_backend {
    uv_loop_t *loop;
    bool async; /* answer submits from a timer after delay_ms */
    unsigned delay_ms;
    int submit_status;   /* default 201 */
    json_t *submit_body; /* answered body (a copy per call); NULL: {"tx":"…"} */
    const char *etag;    /* default "1" */
    /* When set, a submit is answered through done_record with a copy of this stored text. */
    const char *submit_text;
    int n_submit, n_record_get, n_head, n_tx_get, n_members, n_answered;
    char last_tx[65536]; /* the last submitted tx, JSON_COMPACT|JSON_SORT_KEYS */
    char last_type[80], last_key[300], last_tx_id[80];
    uint64_t last_version;
    int record_rc;           /* TR_OK by default */
    const char *record_json; /* returned text; default a record with _version 3 */
    int tx_rc;
    int n_block_get, n_checkpoint, n_test_entry;
    uint64_t last_height;
    char last_entry[64];
    int n_history, n_list, page_rc; /* page_rc: what history and list return (TR_OK) */
    uint32_t last_limit;
    char last_field[80], last_value[128], last_cursor[1100], last_lo[128], last_hi[128];
    bool last_lo_incl, last_hi_incl, last_desc;
    int n_proof;
    int n_barrier, barrier_rc; /* read_barrier calls; what it answers (TR_OK) */
    bool barrier_pending;      /* async: one barrier waits for its timer */
    uv_timer_t barrier_timer;
    void *barrier_req;
    void (*barrier_done)(void *req, int rc);
    uint64_t last_size1, last_size2;
    struct api_node_stats stats; /* what node_stats answers (when stats_rc is TR_OK) */
    int stats_rc, n_node_stats;
    int n_auth;                           /* authenticate calls */
    bool admin_revoked;                   /* KEY_ADMIN stops being valid */
    const char *history_json, *list_json; /* non-NULL: what history/list answer (JSON text) */
    /* changes: element h-1 of `blocks` (owned) is block h's array, answered as a copy; past its
       end TR_ENOTFOUND; changes_rc (when not TR_OK) is returned instead. */
    json_t *blocks;
    int changes_rc, n_changes;
    uint64_t last_changes_height;
    /* export: the head is export_head; export_next gives export_records records of
       export_record_bytes bytes (record k filled with byte k & 0xff), then TR_ENOTFOUND; it
       returns TR_EIO instead of record export_fail_at - 1 when export_fail_at is not 0. */
    uint64_t export_head, last_export_from, last_export_to;
    uint32_t export_records, export_record_bytes, export_fail_at;
    int n_export_next;
    struct fake_pending pending[FAKE_PENDING_MAX];
    int n_pending;
};

struct harness {
    uv_loop_t loop;
    struct schema_network *schema;
    struct api *api;
    uint16_t port;
    struct fake_backend fb;
    bool api_closed;
};

/* Starts a server with the limits of `cfg` (host/port/schema/port_out are filled in). */
void harness_start(struct harness *h, const struct api_config *cfg);
/* The same with a backend that has no authenticate (no key is valid). */
void harness_start_noauth(struct harness *h, const struct api_config *cfg);
/* The same with network schema `schema_json` instead of the suites' default one. */
void harness_start_schema(struct harness *h, const struct api_config *cfg, const char *schema_json);
/* Closes the api if still open (waits for its done, bounded), closes the loop. */
void harness_stop(struct harness *h);
/* Graceful api_close; api_closed turns true when its done runs. */
void harness_close_api(struct harness *h);
/* Runs the loop until cond(arg) is true or `ms` pass. Returns cond's final value. */
bool harness_run_until(struct harness *h, bool (*cond)(void *), void *arg, unsigned ms);
/* Runs the loop for `ms` milliseconds. */
void harness_run_for(struct harness *h, unsigned ms);

struct response {
    int status;
    char content_type[64], etag[64], allow[64], connection[32], location[96],
        preference_applied[64], www_authenticate[64];
    char *body;
    size_t body_len, body_cap; /* body_cap grows by doubling: long streams arrive in many parts */
};

struct client {
    struct harness *h;
    uv_tcp_t tcp;
    uv_connect_t creq;
    bool connected, eof, closed;
    bool head_next; /* the next response answers a HEAD: it has no content */
    int connect_status;
    http_parser rp;
    char field[64];
    size_t field_len;
    bool in_value;
    char *value_dst;
    size_t value_cap;
    struct response resp[CLIENT_RESP_MAX];
    int n_resp;
};

/* Connects to the harness's server (bounded wait); asserts success. */
void client_open(struct client *c, struct harness *h);
/* Like client_open; returns the connect status (0 or a negative UV error). */
int client_try_open(struct client *c, struct harness *h);
void client_send(struct client *c, const char *data, size_t len);
void client_sends(struct client *c, const char *s);
/* Waits until n responses arrived (or the timeout); returns the number arrived. */
int client_wait(struct client *c, int n, unsigned ms);
/* Waits until the server closed the connection; returns whether it did. */
bool client_wait_eof(struct client *c, unsigned ms);
void client_close(struct client *c);
/* Shuts the client's sending side (the server reads its end) after what was sent. */
void client_shutdown(struct client *c);
/* Stops reading (the server's writes pile up) and starts again. */
void client_pause(struct client *c);
void client_resume(struct client *c);

/* One request on a fresh connection, waited for; the response is copied into *out (body owned
 * by the caller: free()). */
void http_do(struct harness *h, const char *request, struct response *out);
/* Parses a response body as JSON (asserts it is). */
json_t *response_json(const struct response *r);

#endif
