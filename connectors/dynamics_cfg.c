/* dynamics_cfg.c — the "dynamics" section of a connector config (struct conn_dyn_cfg): org and
 * token URLs, API version, primary id attribute, scope and the client credentials, plus the
 * connector's entity set (`object`) and alternate key (`external_id`). Errors name the exact
 * field; a secret's value never appears in one. Called by config.c through conn__parse_dynamics. */
#include "connectors/dynamics.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/err.h"

#define DYN_SECRET_MAX 4096

struct dynp {
    const char *path; /* "connectors[i]" */
    char *err;
    size_t errlen;
};

__attribute__((format(printf, 3, 4))) static int dfail(struct dynp *p, const char *field,
                                                       const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    snprintf(p->err, p->errlen, "%s.%s: %s", p->path, field, msg);
    return TR_EINVAL;
}

/* OData identifiers go into URLs and $select unquoted: a letter or '_', then letters, digits,
 * '_' (Dataverse logical and entity set names are of that form). */
static bool odata_name(const char *s)
{
    if (!s || !(isalpha((unsigned char)*s) || *s == '_') || strlen(s) > 128)
        return false;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && *s != '_')
            return false;
    return true;
}

/* A text setting of 1 to 1024 bytes; absent is fine unless required. */
static int text(struct dynp *p, const json_t *o, const char *field, const char *key, bool required,
                char **out)
{
    const json_t *v = json_object_get(o, key);
    *out = NULL;
    if (!v)
        return required ? dfail(p, field, "missing") : 0;
    size_t n = json_string_length(v);
    if (!json_is_string(v) || n == 0 || n > 1024)
        return dfail(p, field, "must be a string of 1 to 1024 bytes");
    *out = tr_strdup(json_string_value(v));
    return *out ? 0 : TR_ENOMEM;
}

/* The first line of a file, trailing newlines removed. */
static int secret_from_file(struct dynp *p, const char *field, const char *file, char **out)
{
    FILE *f = fopen(file, "rb");
    if (!f)
        return dfail(p, field, "cannot read file %s: %s", file, strerror(errno));
    char *buf = tr_calloc(1, DYN_SECRET_MAX + 2);
    size_t n = buf ? fread(buf, 1, DYN_SECRET_MAX + 1, f) : 0;
    fclose(f);
    if (!buf)
        return TR_ENOMEM;
    char *nl = memchr(buf, '\n', n);
    if (nl)
        n = (size_t)(nl - buf);
    if (n > 0 && buf[n - 1] == '\r')
        n--;
    buf[n] = '\0';
    if (n == 0 || n > DYN_SECRET_MAX) {
        tr_free(buf);
        return dfail(p, field, "file %s must hold 1 to %d bytes", file, DYN_SECRET_MAX);
    }
    *out = buf;
    return 0;
}

/* A credential named by {"env": NAME} or {"file": PATH}; never a literal. */
static int secret(struct dynp *p, const json_t *o, const char *field, const char *key, char **out)
{
    const json_t *v = json_object_get(o, key);
    *out = NULL;
    if (!v)
        return dfail(p, field, "missing (give {\"env\": NAME} or {\"file\": PATH})");
    const char *env = json_string_value(json_object_get(v, "env"));
    const char *file = json_string_value(json_object_get(v, "file"));
    if (!json_is_object(v) || json_object_size(v) != 1 || (!env && !file))
        return dfail(p, field,
                     "must be {\"env\": NAME} or {\"file\": PATH}; a secret is never written in "
                     "the config itself");
    if (file)
        return secret_from_file(p, field, file, out);
    const char *val = getenv(env);
    if (!val || !*val)
        return dfail(p, field, "environment variable %s is not set", env);
    if (strlen(val) > DYN_SECRET_MAX)
        return dfail(p, field, "environment variable %s is longer than %d bytes", env,
                     DYN_SECRET_MAX);
    *out = tr_strdup(val);
    return *out ? 0 : TR_ENOMEM;
}

static bool http_url(const char *u)
{
    return strncmp(u, "http://", 7) == 0 || strncmp(u, "https://", 8) == 0;
}

static int check_section_keys(struct dynp *p, const json_t *d)
{
    static const char *const known[] = {"org_url", "token_url", "api_version",  "id_attribute",
                                        "scope",   "client_id", "client_secret"};
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)d, k, v)
    {
        bool ok = false;
        for (size_t i = 0; i < sizeof known / sizeof *known && !ok; i++)
            ok = strcmp(k, known[i]) == 0;
        if (!ok) {
            char f[160];
            snprintf(f, sizeof f, "dynamics.%.64s", k);
            return dfail(p, f, "unknown field");
        }
    }
    return 0;
}

static int parse_section(struct dynp *p, const json_t *d, struct conn_dyn_cfg *y)
{
    int rc;
    if ((rc = check_section_keys(p, d)) < 0 ||
        (rc = text(p, d, "dynamics.org_url", "org_url", true, &y->org_url)) < 0 ||
        (rc = text(p, d, "dynamics.token_url", "token_url", true, &y->token_url)) < 0 ||
        (rc = text(p, d, "dynamics.api_version", "api_version", false, &y->api_version)) < 0 ||
        (rc = text(p, d, "dynamics.id_attribute", "id_attribute", true, &y->id_attribute)) < 0 ||
        (rc = text(p, d, "dynamics.scope", "scope", false, &y->scope)) < 0 ||
        (rc = secret(p, d, "dynamics.client_id", "client_id", &y->client_id)) < 0 ||
        (rc = secret(p, d, "dynamics.client_secret", "client_secret", &y->client_secret)) < 0)
        return rc;
    if (!http_url(y->org_url))
        return dfail(p, "dynamics.org_url", "must start with http:// or https://");
    size_t n = strlen(y->org_url);
    while (n > 8 && y->org_url[n - 1] == '/')
        y->org_url[--n] = '\0'; /* "{org_url}/api/data/…" is built with one '/' */
    if (!http_url(y->token_url))
        return dfail(p, "dynamics.token_url", "must start with http:// or https://");
    if (!y->api_version && !(y->api_version = tr_strdup("9.2")))
        return TR_ENOMEM;
    for (const char *s = y->api_version; *s; s++)
        if (!isdigit((unsigned char)*s) && *s != '.')
            return dfail(p, "dynamics.api_version", "must look like 9.2");
    if (!odata_name(y->id_attribute))
        return dfail(p, "dynamics.id_attribute", "must be a logical name (letters, digits, _)");
    if (!y->scope) {
        size_t len = n + sizeof "/.default";
        if (!(y->scope = tr_malloc(len)))
            return TR_ENOMEM;
        snprintf(y->scope, len, "%s/.default", y->org_url);
    }
    return 0;
}

/* The entity set, the alternate key and the mapped attribute names. */
static int check_names(struct dynp *p, struct conn_cfg_connector *c)
{
    if (!odata_name(c->object))
        return dfail(p, "object", "must be an entity set name (letters, digits, _)");
    bool key_mapped = false;
    for (size_t i = 0; i < c->nfields; i++) {
        const char *s = c->fields[i].saas;
        if (!s)
            continue;
        if (!odata_name(s) || strcmp(s, c->dynamics->id_attribute) == 0) {
            char f[64];
            snprintf(f, sizeof f, "fields[%zu].saas", i);
            return dfail(p, f,
                         odata_name(s) ? "the primary id attribute is not mapped (it is the "
                                         "source id)"
                                       : "must be a logical name (letters, digits, _)");
        }
        key_mapped = key_mapped || strcmp(s, c->external_id) == 0;
    }
    if (!key_mapped)
        return dfail(p, "external_id",
                     "\"%.64s\" must be the saas name of a mapped field (the alternate key and "
                     "the record key)",
                     c->external_id);
    return 0;
}

int conn__parse_dynamics(const json_t *o, const char *path, struct conn_cfg_connector *c, char *err,
                         size_t errlen)
{
    struct dynp p = {path, err, errlen};
    const json_t *d = json_object_get(o, "dynamics");
    int rc;
    if (!json_is_object(d))
        return dfail(&p, "dynamics", "missing or not an object");
    if (!(c->dynamics = tr_calloc(1, sizeof *c->dynamics)))
        return TR_ENOMEM;
    if ((rc = parse_section(&p, d, c->dynamics)) < 0 ||
        (rc = text(&p, o, "object", "object", true, &c->object)) < 0 ||
        (rc = text(&p, o, "external_id", "external_id", true, &c->external_id)) < 0)
        return rc;
    return check_names(&p, c);
}

static void wipe(char *s)
{
    if (!s)
        return;
    for (volatile char *v = s; *v; v++)
        *v = 0;
    tr_free(s);
}

void conn__dyn_cfg_free(struct conn_dyn_cfg *d)
{
    if (!d)
        return;
    tr_free(d->org_url);
    tr_free(d->token_url);
    tr_free(d->api_version);
    tr_free(d->id_attribute);
    tr_free(d->scope);
    wipe(d->client_id);
    wipe(d->client_secret);
    tr_free(d);
}
