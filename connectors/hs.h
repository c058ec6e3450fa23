/* hs.h — HubSpot CRM v3 connector internals shared by hs_cfg.c, hs_api.c, hs_in.c and
 * hs_out.c: its config section, the private-app token, HubSpot's error bodies and rate-limit
 * answers. Not part of the module's contract (conn.h); only files of connectors/ include it. */
#ifndef TREATY_CONNECTORS_HS_H
#define TREATY_CONNECTORS_HS_H

#include "connectors/conn_int.h"

#define CONN__HS_MAX_PAGE  100 /* HubSpot's largest search page */
#define CONN__HS_MAX_BATCH 100 /* HubSpot's largest batch upsert/archive */

/* The "hubspot" section of a connector (kind hubspot). The connector's `object` is the CRM
 * object type (contacts, companies, p_shipments, 2-1234567) and `external_id` the unique
 * property used as idProperty. */
struct conn_hs_cfg {
    char *base_url;             /* default https://api.hubapi.com; owned */
    char *token;                /* private app access token; secret, owned, never logged */
    char *modified_property;    /* hs_lastmodifieddate, or lastmodifieddate for contacts; owned */
    uint32_t page_size;         /* search limit per page, 1..100 */
    uint32_t batch_size;        /* inputs per batch upsert/archive, 1..100 */
    uint64_t daily_wait_max_ms; /* longest wait after a DAILY rate limit */
    bool archived;              /* read archived objects as deletes (inbound) */
};

/* ---- hs_cfg.c ---- */
/* Parses the "hubspot" section and the connector's object/external_id; errors name the field
 * (path prefix) and never a secret. Called once by config.c for a connector of kind hubspot. */
int conn__parse_hubspot(const json_t *o, const char *path, struct conn_cfg_connector *c, char *err,
                        size_t errlen);
void conn__hs_cfg_free(struct conn_hs_cfg *h);

/* ---- hs_api.c ---- */
/* A request to base_url + path with the bearer token; body (may be NULL) is copied as JSON. */
struct conn__req *conn__hs_req(struct conn__job *j, const char *method, const char *path,
                               const json_t *body, int tag);
/* What to do with a HubSpot answer that was not 2xx. */
enum conn__hs_verdict {
    CONN__HS_RETRY,     /* transient: retry after *wait_ms */
    CONN__HS_AUTH,      /* the token is refused (401): retry after *wait_ms, say so */
    CONN__HS_PERMANENT, /* the request itself is wrong (validation): dead-letter it */
};
/* Classifies a failed answer, writes the job's last_error (a sentence naming HubSpot's category,
 * policy and message) into reason, and sets *wait_ms (Retry-After, the backoff, or the time to
 * the next UTC day for a DAILY limit, capped by daily_wait_max_ms). attempt counts the tries. */
enum conn__hs_verdict conn__hs_failed(struct conn__job *j, const struct conn__req *req,
                                      uint32_t attempt, uint64_t now_ms, uint64_t *wait_ms,
                                      char *reason, size_t size);
/* Epoch milliseconds of a HubSpot date-time property ("2026-11-29T14:49:19.123Z" or digits);
 * -1 when malformed. */
int64_t conn__hs_stamp_ms(const char *text);

/* The inbound job (hs_in.c) and the outbound target (hs_out.c) are declared in conn_int.h. */

#endif
