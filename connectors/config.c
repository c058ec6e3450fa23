/* config.c — parses a `treaty connect` config document into struct conn_cfg.
 * Every error names the exact field ("connectors[1].fields[0].saas: …"); secrets are read from
 * environment variables or files and never copied into a message. Called by node/cli_connect.c. */
#include "connectors/conn.h"
#include "connectors/conn_int.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/err.h"
#include "connectors/hs.h"
#include "connectors/dynamics.h"

#define SECRET_MAX_BYTES 4096

struct cfgp {
    char *err;
    size_t errlen;
};

__attribute__((format(printf, 3, 4))) static int fail(struct cfgp *p, const char *path,
                                                      const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    snprintf(p->err, p->errlen, "%s: %s", path, msg);
    return TR_EINVAL;
}

static int check_keys(struct cfgp *p, const json_t *obj, const char *path,
                      const char *const *allowed)
{
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)obj, k, v)
    {
        size_t i = 0;
        while (allowed[i] && strcmp(allowed[i], k) != 0)
            i++;
        if (!allowed[i]) {
            char sub[192];
            snprintf(sub, sizeof sub, "%s%s%s", path, *path ? "." : "", k);
            return fail(p, sub, "unknown field");
        }
    }
    return 0;
}

static int get_str(struct cfgp *p, const json_t *obj, const char *path, const char *key,
                   int required, char **out)
{
    json_t *v = json_object_get(obj, key);
    char sub[192];
    snprintf(sub, sizeof sub, "%s.%s", path, key);
    *out = NULL;
    if (!v) {
        if (required)
            return fail(p, sub, "missing");
        return 0;
    }
    if (!json_is_string(v) || json_string_length(v) == 0 || json_string_length(v) > 1024)
        return fail(p, sub, "must be a string of 1 to 1024 bytes");
    *out = tr_strdup(json_string_value(v));
    return *out ? 0 : TR_ENOMEM;
}

static int get_u32(struct cfgp *p, const json_t *obj, const char *path, const char *key,
                   uint32_t lo, uint32_t hi, uint32_t *out)
{
    json_t *v = json_object_get(obj, key);
    if (!v)
        return 0; /* keeps the default */
    char sub[192];
    snprintf(sub, sizeof sub, "%s%s%s", path, *path ? "." : "", key);
    if (!json_is_integer(v) || json_integer_value(v) < (json_int_t)lo ||
        json_integer_value(v) > (json_int_t)hi)
        return fail(p, sub, "must be an integer from %u to %u", lo, hi);
    *out = (uint32_t)json_integer_value(v);
    return 0;
}

static int read_secret_file(struct cfgp *p, const char *sub, const char *file, char **out)
{
    FILE *f = fopen(file, "rb");
    if (!f)
        return fail(p, sub, "cannot read file %s: %s", file, strerror(errno));
    char *buf = tr_malloc(SECRET_MAX_BYTES + 1);
    if (!buf) {
        fclose(f);
        return TR_ENOMEM;
    }
    size_t n = fread(buf, 1, SECRET_MAX_BYTES + 1, f);
    fclose(f);
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
        n--;
    if (n == 0 || n > SECRET_MAX_BYTES) {
        tr_free(buf);
        return fail(p, sub, "file %s must hold 1 to %d bytes", file, SECRET_MAX_BYTES);
    }
    buf[n] = '\0';
    *out = buf;
    return 0;
}

/* A credential: {"env": NAME} or {"file": PATH}. Its value never appears in an error. */
static int get_secret(struct cfgp *p, const json_t *obj, const char *path, const char *key,
                      char **out)
{
    json_t *v = json_object_get(obj, key);
    char sub[192];
    snprintf(sub, sizeof sub, "%s.%s", path, key);
    *out = NULL;
    if (!v)
        return fail(p, sub, "missing (give {\"env\": NAME} or {\"file\": PATH})");
    json_t *env = json_object_get(v, "env"), *file = json_object_get(v, "file");
    if (!json_is_object(v) || json_object_size(v) != 1 ||
        !(json_is_string(env) || json_is_string(file)))
        return fail(p, sub,
                    "must be {\"env\": NAME} or {\"file\": PATH}; a secret is never "
                    "written in the config itself");
    if (file)
        return read_secret_file(p, sub, json_string_value(file), out);
    const char *val = getenv(json_string_value(env));
    if (!val || !*val)
        return fail(p, sub, "environment variable %s is not set", json_string_value(env));
    if (strlen(val) > SECRET_MAX_BYTES)
        return fail(p, sub, "environment variable %s is longer than %d bytes",
                    json_string_value(env), SECRET_MAX_BYTES);
    *out = tr_strdup(val);
    return *out ? 0 : TR_ENOMEM;
}

static int parse_datefmt(const char *s, enum conn_datefmt *out)
{
    static const char *const names[] = {"rfc3339", "salesforce", "date", "epoch_ms", "odata_v2"};
    for (int i = 0; i < 5; i++)
        if (strcmp(s, names[i]) == 0) {
            *out = (enum conn_datefmt)i;
            return 0;
        }
    return -1;
}

static int parse_transform(struct cfgp *p, const json_t *t, const char *path, struct conn_field *f)
{
    char sub[192];
    snprintf(sub, sizeof sub, "%s.transform", path);
    if (json_is_string(t)) {
        const char *s = json_string_value(t);
        if (strcmp(s, "number_string") == 0)
            f->xform = CONN_XF_NUMBER_STRING;
        else if (strcmp(s, "string_number") == 0)
            f->xform = CONN_XF_STRING_NUMBER;
        else
            return fail(p, sub,
                        "unknown transform \"%.64s\" (number_string, string_number or "
                        "{\"date\": {\"ledger\": F, \"saas\": F}})",
                        s);
        return 0;
    }
    json_t *d = json_object_get(t, "date");
    if (!json_is_object(t) || json_object_size(t) != 1 || !json_is_object(d))
        return fail(p, sub, "must be a transform name or {\"date\": {\"ledger\": F, \"saas\": F}}");
    const char *lf = json_string_value(json_object_get(d, "ledger"));
    const char *sf = json_string_value(json_object_get(d, "saas"));
    if (!lf || parse_datefmt(lf, &f->ledger_df) < 0)
        return fail(p, sub, "date.ledger must be rfc3339, salesforce, date, epoch_ms or odata_v2");
    if (!sf || parse_datefmt(sf, &f->saas_df) < 0)
        return fail(p, sub, "date.saas must be rfc3339, salesforce, date, epoch_ms or odata_v2");
    f->xform = CONN_XF_DATE;
    return 0;
}

static int parse_field(struct cfgp *p, const json_t *o, const char *path, struct conn_field *f)
{
    static const char *const keys[] = {"ledger", "saas", "constant", "transform", NULL};
    int rc;
    if (!json_is_object(o))
        return fail(p, path, "must be an object");
    if ((rc = check_keys(p, o, path, keys)) < 0 ||
        (rc = get_str(p, o, path, "ledger", 1, &f->ledger)) < 0 ||
        (rc = get_str(p, o, path, "saas", 0, &f->saas)) < 0)
        return rc;
    json_t *c = json_object_get(o, "constant");
    if ((c != NULL) == (f->saas != NULL))
        return fail(p, path, "give exactly one of \"saas\" and \"constant\"");
    if (c)
        f->constant = json_deep_copy(c);
    json_t *t = json_object_get(o, "transform");
    if (t && c)
        return fail(p, path, "a constant takes no transform");
    return t ? parse_transform(p, t, path, f) : 0;
}

static int parse_fields(struct cfgp *p, const json_t *arr, const char *path,
                        struct conn_cfg_connector *c)
{
    char sub[96];
    snprintf(sub, sizeof sub, "%s.fields", path);
    if (!json_is_array(arr) || json_array_size(arr) == 0 || json_array_size(arr) > 256)
        return fail(p, sub, "must be an array of 1 to 256 field mappings");
    c->fields = tr_calloc(json_array_size(arr), sizeof *c->fields);
    if (!c->fields)
        return TR_ENOMEM;
    for (size_t i = 0; i < json_array_size(arr); i++) {
        char fp[128];
        snprintf(fp, sizeof fp, "%s[%zu]", sub, i);
        c->nfields = i + 1;
        int rc = parse_field(p, json_array_get(arr, i), fp, &c->fields[i]);
        if (rc < 0)
            return rc;
        for (size_t j = 0; j < i; j++)
            if (strcmp(c->fields[j].ledger, c->fields[i].ledger) == 0)
                return fail(p, fp, "ledger field \"%.64s\" is mapped twice", c->fields[i].ledger);
    }
    return 0;
}

static int parse_name(struct cfgp *p, const json_t *o, const char *path, char **out)
{
    int rc = get_str(p, o, path, "name", 1, out);
    if (rc < 0)
        return rc;
    size_t n = strlen(*out);
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)(*out)[i];
        if (!(islower(ch) || isdigit(ch) || ch == '_' || ch == '-') || n > 64) {
            char sub[192];
            snprintf(sub, sizeof sub, "%s.name", path);
            return fail(p, sub, "must be 1 to 64 of a-z 0-9 _ -");
        }
    }
    return 0;
}

static int parse_direction(struct cfgp *p, const json_t *o, const char *path,
                           struct conn_cfg_connector *c)
{
    const char *d = json_string_value(json_object_get(o, "direction"));
    char sub[192];
    snprintf(sub, sizeof sub, "%s.direction", path);
    if (!d)
        return fail(p, sub, "missing (inbound, outbound or both)");
    if (strcmp(d, "inbound") == 0)
        c->direction = CONN_DIR_INBOUND;
    else if (strcmp(d, "outbound") == 0)
        c->direction = CONN_DIR_OUTBOUND;
    else if (strcmp(d, "both") == 0)
        c->direction = CONN_DIR_BOTH;
    else
        return fail(p, sub, "must be inbound, outbound or both");
    if (c->kind == CONN_KIND_WEBHOOK && c->direction != CONN_DIR_OUTBOUND)
        return fail(p, sub, "a webhook connector is outbound only");
    return 0;
}

/* Salesforce API names go into SOQL and URLs unquoted: letters, digits, '_', a letter first. */
static bool sf_name(const char *s)
{
    if (!isalpha((unsigned char)s[0]))
        return false;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && *s != '_')
            return false;
    return true;
}

static int check_sf_names(struct cfgp *p, const char *path, const struct conn_cfg_connector *c)
{
    char sub[192];
    if (!sf_name(c->object)) {
        snprintf(sub, sizeof sub, "%s.object", path);
        return fail(p, sub, "must be a Salesforce API name (letters, digits, _)");
    }
    for (size_t i = 0; i < c->nfields; i++)
        if (c->fields[i].saas && !sf_name(c->fields[i].saas)) {
            snprintf(sub, sizeof sub, "%s.fields[%zu].saas", path, i);
            return fail(p, sub, "must be a Salesforce API name (letters, digits, _)");
        }
    return 0;
}

static int parse_salesforce(struct cfgp *p, const json_t *o, const char *path,
                            struct conn_cfg_connector *c)
{
    static const char *const keys[] = {"login_url", "api_version", "client_id", "client_secret",
                                       "username",  "password",    NULL};
    json_t *sf = json_object_get(o, "salesforce");
    char sub[192];
    int rc;
    snprintf(sub, sizeof sub, "%s.salesforce", path);
    if (!json_is_object(sf))
        return fail(p, sub, "missing or not an object");
    if ((rc = check_keys(p, sf, sub, keys)) < 0 ||
        (rc = get_str(p, sf, sub, "login_url", 1, &c->login_url)) < 0 ||
        (rc = get_str(p, sf, sub, "api_version", 0, &c->api_version)) < 0 ||
        (rc = get_secret(p, sf, sub, "client_id", &c->client_id)) < 0 ||
        (rc = get_secret(p, sf, sub, "client_secret", &c->client_secret)) < 0 ||
        (rc = get_str(p, o, path, "object", 1, &c->object)) < 0 ||
        (rc = get_str(p, o, path, "external_id", 1, &c->external_id)) < 0)
        return rc;
    if (json_object_get(sf, "username") || json_object_get(sf, "password")) {
        if ((rc = get_secret(p, sf, sub, "username", &c->username)) < 0 ||
            (rc = get_secret(p, sf, sub, "password", &c->password)) < 0)
            return rc;
    }
    if (!c->api_version && !(c->api_version = tr_strdup("59.0")))
        return TR_ENOMEM;
    for (const char *s = c->api_version; *s; s++)
        if (!isdigit((unsigned char)*s) && *s != '.')
            return fail(p, sub, "api_version must look like 59.0");
    if ((rc = check_sf_names(p, path, c)) < 0)
        return rc;
    for (size_t i = 0; i < c->nfields; i++)
        if (c->fields[i].saas && strcmp(c->fields[i].saas, c->external_id) == 0)
            return 0;
    snprintf(sub, sizeof sub, "%s.external_id", path);
    return fail(p, sub, "\"%.64s\" must be the saas name of a mapped field (the record key)",
                c->external_id);
}

static int parse_connector(struct cfgp *p, const json_t *o, const char *path,
                           struct conn_cfg_connector *c)
{
    static const char *const keys[] = {"name",
                                       "kind",
                                       "direction",
                                       "ledger_type",
                                       "object",
                                       "external_id",
                                       "poll_interval_ms",
                                       "fields",
                                       "salesforce",
                                       "url",
                                       "secret",
                                       "hubspot",
                                       "dynamics",
                                       "sap",
                                       NULL};
    int rc;
    if (!json_is_object(o))
        return fail(p, path, "must be an object");
    if ((rc = check_keys(p, o, path, keys)) < 0 || (rc = parse_name(p, o, path, &c->name)) < 0)
        return rc;
    const char *kind = json_string_value(json_object_get(o, "kind"));
    char sub[192];
    snprintf(sub, sizeof sub, "%s.kind", path);
    if (!kind)
        return fail(p, sub, "missing (salesforce, hubspot, dynamics, sap or webhook)");
    if (strcmp(kind, "salesforce") == 0)
        c->kind = CONN_KIND_SALESFORCE;
    else if (strcmp(kind, "hubspot") == 0)
        c->kind = CONN_KIND_HUBSPOT;
    else if (strcmp(kind, "webhook") == 0)
        c->kind = CONN_KIND_WEBHOOK;
    else if (strcmp(kind, "dynamics") == 0)
        c->kind = CONN_KIND_DYNAMICS;
    else if (strcmp(kind, "sap") == 0)
        c->kind = CONN_KIND_SAP;
    else
        return fail(p, sub,
                    "unknown kind \"%.64s\" (salesforce, hubspot, dynamics, sap or webhook)", kind);
    c->poll_interval_ms = 5000;
    if ((rc = parse_direction(p, o, path, c)) < 0 ||
        (rc = get_str(p, o, path, "ledger_type", 1, &c->ledger_type)) < 0 ||
        (rc = get_u32(p, o, path, "poll_interval_ms", 10, 86400000, &c->poll_interval_ms)) < 0 ||
        (rc = parse_fields(p, json_object_get(o, "fields"), path, c)) < 0)
        return rc;
    if (c->kind == CONN_KIND_SALESFORCE)
        return parse_salesforce(p, o, path, c);
    if (c->kind == CONN_KIND_HUBSPOT)
        return conn__parse_hubspot(o, path, c, p->err, p->errlen);
    if (c->kind == CONN_KIND_DYNAMICS)
        return conn__parse_dynamics(o, path, c, p->err, p->errlen);
    if (c->kind == CONN_KIND_SAP)
        return conn__parse_sap(o, path, c, p->err, p->errlen);
    if ((rc = get_str(p, o, path, "url", 1, &c->url)) < 0)
        return rc;
    snprintf(sub, sizeof sub, "%s.url", path);
    if (strncmp(c->url, "http://", 7) != 0 && strncmp(c->url, "https://", 8) != 0)
        return fail(p, sub, "must start with http:// or https://");
    return get_secret(p, o, path, "secret", &c->secret);
}

static int parse_limits(struct cfgp *p, const json_t *o, struct conn_limits *l)
{
    static const char *const keys[] = {"max_inflight",       "max_response_bytes",
                                       "max_event_queue",    "max_attempts",
                                       "backoff_base_ms",    "backoff_max_ms",
                                       "request_timeout_ms", "max_dead_letters",
                                       "page_size",          NULL};
    *l = (struct conn_limits){.max_inflight = 32,
                              .max_response_bytes = 32u << 20,
                              .max_event_queue = 1024,
                              .max_attempts = 8,
                              .backoff_base_ms = 200,
                              .backoff_max_ms = 30000,
                              .request_timeout_ms = 30000,
                              .max_dead_letters = 10000,
                              .page_size = 2000};
    if (!o)
        return 0;
    if (!json_is_object(o))
        return fail(p, "limits", "must be an object");
    int rc;
    if ((rc = check_keys(p, o, "limits", keys)) < 0 ||
        (rc = get_u32(p, o, "limits", "max_inflight", 1, 1024, &l->max_inflight)) < 0 ||
        (rc = get_u32(p, o, "limits", "max_response_bytes", 4096, 1u << 30,
                      &l->max_response_bytes)) < 0 ||
        (rc = get_u32(p, o, "limits", "max_event_queue", 1, 1000000, &l->max_event_queue)) < 0 ||
        (rc = get_u32(p, o, "limits", "max_attempts", 1, 1000, &l->max_attempts)) < 0 ||
        (rc = get_u32(p, o, "limits", "backoff_base_ms", 1, 600000, &l->backoff_base_ms)) < 0 ||
        (rc = get_u32(p, o, "limits", "backoff_max_ms", 1, 3600000, &l->backoff_max_ms)) < 0 ||
        (rc = get_u32(p, o, "limits", "request_timeout_ms", 100, 3600000, &l->request_timeout_ms)) <
            0 ||
        (rc = get_u32(p, o, "limits", "max_dead_letters", 0, 10000000, &l->max_dead_letters)) < 0 ||
        (rc = get_u32(p, o, "limits", "page_size", 200, 2000, &l->page_size)) < 0)
        return rc;
    if (l->backoff_max_ms < l->backoff_base_ms)
        return fail(p, "limits.backoff_max_ms", "must be >= limits.backoff_base_ms");
    return 0;
}

static int parse_status(struct cfgp *p, const json_t *doc, struct conn_cfg *cfg)
{
    const char *s = json_string_value(json_object_get(doc, "status_listen"));
    if (!json_object_get(doc, "status_listen"))
        return 0;
    const char *colon = s ? strrchr(s, ':') : NULL;
    char *end = NULL;
    long port = colon ? strtol(colon + 1, &end, 10) : 0;
    if (!colon || colon == s || !end || *end || port < 1 || port > 65535)
        return fail(p, "status_listen", "must be \"HOST:PORT\" (a loopback address)");
    if (strncmp(s, "127.", 4) != 0)
        return fail(p, "status_listen",
                    "must be a loopback address (127.x.x.x): the status "
                    "server has no authentication");
    cfg->status_host = tr_strndup(s, (size_t)(colon - s));
    if (!cfg->status_host)
        return TR_ENOMEM;
    cfg->status_port = (int)port;
    return 0;
}

static int parse_doc(struct cfgp *p, const json_t *doc, struct conn_cfg *cfg)
{
    static const char *const keys[] = {"node",   "state_dir",  "status_listen",
                                       "limits", "connectors", NULL};
    int rc;
    if (!json_is_object(doc))
        return fail(p, "(document)", "must be a JSON object");
    json_t *node = json_object_get(doc, "node");
    static const char *const nkeys[] = {"url", "api_key", NULL};
    if (!json_is_object(node))
        return fail(p, "node", "missing or not an object ({\"url\", \"api_key\"})");
    if ((rc = check_keys(p, doc, "", keys)) < 0 || (rc = check_keys(p, node, "node", nkeys)) < 0 ||
        (rc = get_str(p, node, "node", "url", 1, &cfg->node_url)) < 0 ||
        (rc = get_secret(p, node, "node", "api_key", &cfg->api_key)) < 0 ||
        (rc = get_str(p, doc, "(document)", "state_dir", 1, &cfg->state_dir)) < 0 ||
        (rc = parse_status(p, doc, cfg)) < 0 ||
        (rc = parse_limits(p, json_object_get(doc, "limits"), &cfg->limits)) < 0)
        return rc;
    if (strncmp(cfg->node_url, "http://", 7) != 0 && strncmp(cfg->node_url, "https://", 8) != 0)
        return fail(p, "node.url", "must start with http:// or https://");
    json_t *arr = json_object_get(doc, "connectors");
    if (!json_is_array(arr) || json_array_size(arr) == 0 || json_array_size(arr) > 64)
        return fail(p, "connectors", "must be an array of 1 to 64 connectors");
    cfg->connectors = tr_calloc(json_array_size(arr), sizeof *cfg->connectors);
    if (!cfg->connectors)
        return TR_ENOMEM;
    for (size_t i = 0; i < json_array_size(arr); i++) {
        char path[64];
        snprintf(path, sizeof path, "connectors[%zu]", i);
        cfg->nconnectors = i + 1;
        if ((rc = parse_connector(p, json_array_get(arr, i), path, &cfg->connectors[i])) < 0)
            return rc;
        for (size_t j = 0; j < i; j++)
            if (strcmp(cfg->connectors[j].name, cfg->connectors[i].name) == 0)
                return fail(p, path, "name \"%s\" is used twice", cfg->connectors[i].name);
    }
    return 0;
}

int conn_cfg_parse(const json_t *doc, struct conn_cfg **out, char *err, size_t errlen)
{
    struct cfgp p = {err, errlen};
    struct conn_cfg *cfg = tr_calloc(1, sizeof *cfg);
    *out = NULL;
    if (!cfg)
        return TR_ENOMEM;
    int rc = parse_doc(&p, doc, cfg);
    if (rc < 0) {
        if (rc == TR_ENOMEM)
            snprintf(err, errlen, "out of memory");
        conn_cfg_destroy(cfg);
        return rc;
    }
    *out = cfg;
    return 0;
}

static void wipe_free(char *s)
{
    if (s) {
        volatile char *v = s;
        while (*v)
            *v++ = 0;
        tr_free(s);
    }
}

static void connector_free(struct conn_cfg_connector *c)
{
    for (size_t i = 0; i < c->nfields; i++) {
        tr_free(c->fields[i].ledger);
        tr_free(c->fields[i].saas);
        json_decref(c->fields[i].constant);
    }
    tr_free(c->fields);
    tr_free(c->name);
    tr_free(c->ledger_type);
    tr_free(c->object);
    tr_free(c->external_id);
    tr_free(c->login_url);
    tr_free(c->api_version);
    wipe_free(c->client_id);
    wipe_free(c->client_secret);
    wipe_free(c->username);
    wipe_free(c->password);
    tr_free(c->url);
    wipe_free(c->secret);
    conn__hs_cfg_free(c->hubspot);
    conn__dyn_cfg_free(c->dynamics);
    conn__sap_cfg_free(c->sap);
}

void conn_cfg_destroy(struct conn_cfg *cfg)
{
    if (!cfg)
        return;
    for (size_t i = 0; i < cfg->nconnectors; i++)
        connector_free(&cfg->connectors[i]);
    tr_free(cfg->connectors);
    tr_free(cfg->node_url);
    wipe_free(cfg->api_key);
    tr_free(cfg->state_dir);
    tr_free(cfg->status_host);
    tr_free(cfg);
}

/* The field readers above for the kinds' own config files (hs_cfg.c): same rules, same errors. */
int conn__cfg_str(const json_t *obj, const char *path, const char *key, int required, char **out,
                  char *err, size_t errlen)
{
    struct cfgp p = {err, errlen};
    return get_str(&p, obj, path, key, required, out);
}

int conn__cfg_u32(const json_t *obj, const char *path, const char *key, uint32_t lo, uint32_t hi,
                  uint32_t *out, char *err, size_t errlen)
{
    struct cfgp p = {err, errlen};
    return get_u32(&p, obj, path, key, lo, hi, out);
}

int conn__cfg_secret(const json_t *obj, const char *path, const char *key, char **out, char *err,
                     size_t errlen)
{
    struct cfgp p = {err, errlen};
    return get_secret(&p, obj, path, key, out);
}
