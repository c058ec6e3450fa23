/* dynamics.h — the Dynamics 365 / Dataverse Web API connector kind: its config section, the OAuth
 * client-credentials session and the OData helpers its jobs share (dynamics_cfg.c,
 * dynamics_auth.c), the inbound job (dynamics_in.c) and the outbound delivery (dynamics_out.c).
 * Included by config.c and runner.c for the one call each makes into this kind. */
#ifndef TREATY_CONNECTORS_DYNAMICS_H
#define TREATY_CONNECTORS_DYNAMICS_H

#include "connectors/conn_int.h"

/* The connector's "dynamics" section. The entity set is the connector's `object`, the alternate
 * key attribute its `external_id` (the saas name of a mapped field: the ledger record's key). */
struct conn_dyn_cfg {
    char *org_url;                   /* https://org.crm.dynamics.com, no trailing '/'; owned */
    char *token_url;                 /* OAuth 2.0 token endpoint; owned */
    char *api_version;               /* "9.2" */
    char *id_attribute;              /* primary id attribute, e.g. "accountid" */
    char *scope;                     /* default "<org_url>/.default" */
    char *client_id, *client_secret; /* secrets: owned, wiped on free, never logged */
};

/* Parses connectors[i].dynamics and the entity set / alternate key of connector object `o` at
 * `path` into c (c->object, c->external_id, c->dynamics). TR_EINVAL with err naming the field;
 * a secret's value never appears in it. */
int conn__parse_dynamics(const json_t *o, const char *path, struct conn_cfg_connector *c, char *err,
                         size_t errlen);
/* Frees a section (wiping the secrets). Accepts NULL. */
void conn__dyn_cfg_free(struct conn_dyn_cfg *d);

/* ---- session (dynamics_auth.c) ---- */
struct conn__dyn_auth {
    char *token;           /* owned; never logged */
    uint64_t refresh_ms;   /* fetch a new token from then on (before expires_in runs out) */
    uint32_t failures;     /* token requests refused in a row */
    uint32_t unauthorized; /* 401s in a row since the last good answer */
    uint64_t retry_at_ms;
    bool inflight;
};
/* True when the session needs a token request now (none held, or due for refresh). */
bool conn__dyn_auth_due(const struct conn__dyn_auth *a, uint64_t now_ms);
/* The token request (client credentials, form body); NULL when out of memory. */
struct conn__req *conn__dyn_token_req(struct conn__job *j, struct conn__dyn_auth *a, int tag);
/* Consumes the token answer; 0 when a token is now held. */
int conn__dyn_token_handle(struct conn__job *j, struct conn__dyn_auth *a, struct conn__req *req,
                           uint64_t now_ms);
/* A 401 from the API: drops the token. Returns true when this is the first 401 in a row (repeat
 * at once with a new token), false when a fresh token was refused too (back off). */
bool conn__dyn_unauthorized(struct conn__dyn_auth *a);
void conn__dyn_auth_clear(struct conn__dyn_auth *a);
/* Adds the Authorization and OData headers every Web API call carries. */
int conn__dyn_headers(struct conn__req *r, const struct conn__dyn_auth *a);
/* "<org_url>/api/data/v<version>/<entityset>" into buf. */
void conn__dyn_base(const struct conn_cfg_connector *c, char *buf, size_t size);
/* The Web API error of an answer ({"error": {"code", "message"}}) as "HTTP 400 0x…: message". */
void conn__dyn_error(const struct conn__req *req, char *buf, size_t size);
/* The OData key segment "(<altkey>='<value>')" for value: single quotes doubled (OData ABNF,
 * SQUOTE-in-string), then percent-encoded for the URL path. tr_malloc'd; NULL when out of
 * memory. */
char *conn__dyn_key_segment(const struct conn_cfg_connector *c, const char *value);

/* ---- jobs ---- */
int conn__dyn_in_create(struct conn_runner *rt, size_t ci, struct conn__job **out);

#endif
