/* sap_cfg.c — the "sap" section of a connector config (SAP S/4HANA OData V2, Business Partner
 * API by default): service root, entity set, key property, HTTP Basic or bearer credentials.
 * Errors name the exact field, like the rest of config.c; secrets never appear in them.
 * Called by config.c (conn__parse_sap) for "kind": "sap". */
#include "connectors/conn_int.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "common/alloc.h"
#include "common/err.h"

__attribute__((format(printf, 4, 5))) static int sfail(char *err, size_t errlen, const char *path,
                                                       const char *fmt, ...)
{
    int n = snprintf(err, errlen, "%s: ", path);
    if (n >= 0 && (size_t)n < errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err + n, errlen - (size_t)n, fmt, ap);
        va_end(ap);
    }
    return TR_EINVAL;
}

/* OData names go into URLs and $filter/$orderby unquoted: a letter or '_', then [A-Za-z0-9_]. */
static bool odata_name(const char *s)
{
    if (!s || !(isalpha((unsigned char)s[0]) || s[0] == '_') || strlen(s) > 128)
        return false;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && *s != '_')
            return false;
    return true;
}

/* An optional string field: *out keeps `def` (copied) when absent. */
static int opt_str(const json_t *sap, const char *path, const char *key, const char *def,
                   char **out, char *err, size_t errlen)
{
    json_t *v = json_object_get(sap, key);
    if (v && (!json_is_string(v) || json_string_length(v) == 0 || json_string_length(v) > 1024))
        return sfail(err, errlen, path, "%s must be a string of 1 to 1024 bytes", key);
    *out = tr_strdup(v ? json_string_value(v) : def);
    return *out ? 0 : TR_ENOMEM;
}

static int check_unknown(const json_t *sap, const char *path, char *err, size_t errlen)
{
    static const char *const keys[] = {"base_url", "service", "entity_set",       "key",    "user",
                                       "password", "token",   "max_etag_retries", "client", NULL};
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)sap, k, v)
    {
        size_t i = 0;
        while (keys[i] && strcmp(keys[i], k) != 0)
            i++;
        if (!keys[i])
            return sfail(err, errlen, path, "unknown field \"%.64s\"", k);
    }
    return 0;
}

static int parse_auth(const json_t *sap, const char *path, struct conn_sap_cfg *s, char *err,
                      size_t errlen)
{
    bool basic = json_object_get(sap, "user") || json_object_get(sap, "password");
    bool bearer = json_object_get(sap, "token") != NULL;
    if (basic == bearer)
        return sfail(err, errlen, path,
                     "give either \"user\" and \"password\" (HTTP Basic) or \"token\" (bearer)");
    if (bearer)
        return conn__cfg_secret(sap, path, "token", &s->token, err, errlen);
    int rc = conn__cfg_secret(sap, path, "user", &s->user, err, errlen);
    if (rc == 0)
        rc = conn__cfg_secret(sap, path, "password", &s->password, err, errlen);
    if (rc == 0 && strchr(s->user, ':')) /* RFC 7617 §2: the user-id cannot contain a colon */
        return sfail(err, errlen, path, "user must not contain ':'");
    return rc;
}

static int parse_root(const json_t *sap, const char *path, struct conn_sap_cfg *s, char *err,
                      size_t errlen)
{
    const char *base = json_string_value(json_object_get(sap, "base_url"));
    char *service = NULL;
    if (!base || (strncmp(base, "http://", 7) != 0 && strncmp(base, "https://", 8) != 0) ||
        strlen(base) > 1024 || strpbrk(base, "?# "))
        return sfail(err, errlen, path, "base_url must be an http:// or https:// URL");
    int rc = opt_str(sap, path, "service", "API_BUSINESS_PARTNER", &service, err, errlen);
    if (rc < 0)
        return rc;
    if (!odata_name(service)) {
        tr_free(service);
        return sfail(err, errlen, path, "service must be a name of letters, digits and _");
    }
    size_t bl = strlen(base);
    while (bl > 0 && base[bl - 1] == '/')
        bl--;
    size_t n = bl + strlen(service) + 32;
    s->root = tr_malloc(n);
    if (s->root)
        snprintf(s->root, n, "%.*s/sap/opu/odata/sap/%s", (int)bl, base, service);
    tr_free(service);
    return s->root ? 0 : TR_ENOMEM;
}

static int check_fields(const char *path, const struct conn_cfg_connector *c, char *err,
                        size_t errlen)
{
    bool key_mapped = false;
    for (size_t i = 0; i < c->nfields; i++) {
        const char *n = c->fields[i].saas;
        if (n && !odata_name(n))
            return sfail(err, errlen, path, "fields[%zu].saas must be an OData property name", i);
        if (n && (strcmp(n, "LastChangeDate") == 0 || strcmp(n, "LastChangeTime") == 0))
            return sfail(err, errlen, path,
                         "fields[%zu].saas: %s is set by SAP and is the connector's cursor", i, n);
        key_mapped = key_mapped || (n && strcmp(n, c->sap->key_prop) == 0);
    }
    if (!key_mapped)
        return sfail(err, errlen, path,
                     "sap.key \"%.64s\" must be the saas name of a mapped field (the record key)",
                     c->sap->key_prop);
    return 0;
}

int conn__parse_sap(const json_t *o, const char *path, struct conn_cfg_connector *c, char *err,
                    size_t errlen)
{
    json_t *sap = json_object_get(o, "sap");
    char sub[192];
    int rc;
    snprintf(sub, sizeof sub, "%s.sap", path);
    if (!json_is_object(sap))
        return sfail(err, errlen, sub, "missing or not an object");
    if (json_object_get(o, "object") || json_object_get(o, "external_id"))
        return sfail(err, errlen, path,
                     "a sap connector names its entity in sap.entity_set and sap.key");
    struct conn_sap_cfg *s = tr_calloc(1, sizeof *s);
    if (!s)
        return TR_ENOMEM;
    c->sap = s;
    s->max_etag_retries = 3;
    if ((rc = check_unknown(sap, sub, err, errlen)) < 0 ||
        (rc = parse_root(sap, sub, s, err, errlen)) < 0 ||
        (rc = opt_str(sap, sub, "entity_set", "A_BusinessPartner", &s->entity_set, err, errlen)) <
            0 ||
        (rc = opt_str(sap, sub, "key", "BusinessPartner", &s->key_prop, err, errlen)) < 0 ||
        (rc = parse_auth(sap, sub, s, err, errlen)) < 0)
        return rc;
    if (!odata_name(s->entity_set) || !odata_name(s->key_prop))
        return sfail(err, errlen, sub, "entity_set and key must be OData names");
    json_t *m = json_object_get(sap, "max_etag_retries");
    if (m && (!json_is_integer(m) || json_integer_value(m) < 0 || json_integer_value(m) > 100))
        return sfail(err, errlen, sub, "max_etag_retries must be an integer from 0 to 100");
    if (m)
        s->max_etag_retries = (uint32_t)json_integer_value(m);
    json_t *cl = json_object_get(sap, "client");
    const char *cs = json_string_value(cl);
    if (cl && (!cs || strlen(cs) != 3 || strspn(cs, "0123456789") != 3))
        return sfail(err, errlen, sub, "client must be three digits (\"100\")");
    if (cs)
        memcpy(s->client, cs, 4);
    return check_fields(path, c, err, errlen);
}

/* Secrets are overwritten before their memory goes back to the allocator. */
static void wipe(char *s)
{
    if (!s)
        return;
    for (volatile char *v = s; *v; v++)
        *v = 0;
    tr_free(s);
}

void conn__sap_cfg_free(struct conn_sap_cfg *s)
{
    if (!s)
        return;
    tr_free(s->root);
    tr_free(s->entity_set);
    tr_free(s->key_prop);
    wipe(s->user);
    wipe(s->password);
    wipe(s->token);
    tr_free(s);
}
