/* hs_cfg.c — the "hubspot" section of a connector: base URL, private app token (from env or
 * file, never in a message), the modification property, page and batch sizes bounded by
 * HubSpot's own limits, the search cap and the longest wait after a DAILY rate limit.
 * Called by config.c (conn__parse_hubspot); read by hs_api.c, hs_in.c and hs_out.c. */
#include "connectors/hs.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "common/alloc.h"
#include "common/err.h"

/* Object types and property names go into URL paths and JSON unquoted: letters, digits, _ -. */
static bool hs_name(const char *s)
{
    if (!*s)
        return false;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && *s != '_' && *s != '-')
            return false;
    return true;
}

static int name_err(char *err, size_t errlen, const char *path, const char *what)
{
    snprintf(err, errlen, "%s.%s: must be a HubSpot internal name (letters, digits, _ -)", path,
             what);
    return TR_EINVAL;
}

static int check_names(const char *path, const struct conn_cfg_connector *c, char *err,
                       size_t errlen)
{
    char sub[192];
    if (!hs_name(c->object))
        return name_err(err, errlen, path, "object");
    if (!hs_name(c->external_id))
        return name_err(err, errlen, path, "external_id");
    snprintf(sub, sizeof sub, "%s.hubspot", path);
    if (!hs_name(c->hubspot->modified_property))
        return name_err(err, errlen, sub, "modified_property");
    bool keyed = false;
    for (size_t i = 0; i < c->nfields; i++) {
        if (!c->fields[i].saas)
            continue;
        if (!hs_name(c->fields[i].saas)) {
            snprintf(sub, sizeof sub, "%s.fields[%zu]", path, i);
            return name_err(err, errlen, sub, "saas");
        }
        keyed |= strcmp(c->fields[i].saas, c->external_id) == 0;
    }
    if (!keyed) {
        snprintf(err, errlen,
                 "%s.external_id: \"%.64s\" must be the saas name of a mapped field "
                 "(the record key)",
                 path, c->external_id);
        return TR_EINVAL;
    }
    return 0;
}

static int check_keys(const json_t *h, const char *sub, char *err, size_t errlen)
{
    static const char *const keys[] = {"base_url",   "token",    "modified_property", "page_size",
                                       "batch_size", "archived", "daily_wait_max_ms", NULL};
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)h, k, v)
    {
        size_t i = 0;
        while (keys[i] && strcmp(keys[i], k) != 0)
            i++;
        if (!keys[i]) {
            snprintf(err, errlen, "%s.%.64s: unknown field", sub, k);
            return TR_EINVAL;
        }
    }
    return 0;
}

static int parse_section(const json_t *h, const char *sub, struct conn_hs_cfg *hs, char *err,
                         size_t errlen)
{
    uint32_t wait_ms = 86400000;
    int rc;
    if ((rc = check_keys(h, sub, err, errlen)) < 0 ||
        (rc = conn__cfg_str(h, sub, "base_url", 0, &hs->base_url, err, errlen)) < 0 ||
        (rc = conn__cfg_secret(h, sub, "token", &hs->token, err, errlen)) < 0 ||
        (rc = conn__cfg_str(h, sub, "modified_property", 0, &hs->modified_property, err, errlen)) <
            0 ||
        (rc = conn__cfg_u32(h, sub, "page_size", 1, CONN__HS_MAX_PAGE, &hs->page_size, err,
                            errlen)) < 0 ||
        (rc = conn__cfg_u32(h, sub, "batch_size", 1, CONN__HS_MAX_BATCH, &hs->batch_size, err,
                            errlen)) < 0 ||
        (rc = conn__cfg_u32(h, sub, "daily_wait_max_ms", 1000, 86400000, &wait_ms, err, errlen)) <
            0)
        return rc;
    hs->daily_wait_max_ms = wait_ms;
    json_t *a = json_object_get(h, "archived");
    if (a && !json_is_boolean(a)) {
        snprintf(err, errlen, "%s.archived: must be true or false", sub);
        return TR_EINVAL;
    }
    hs->archived = a ? json_is_true(a) : true;
    if (hs->base_url && strncmp(hs->base_url, "http://", 7) != 0 &&
        strncmp(hs->base_url, "https://", 8) != 0) {
        snprintf(err, errlen, "%s.base_url: must start with http:// or https://", sub);
        return TR_EINVAL;
    }
    return 0;
}

int conn__parse_hubspot(const json_t *o, const char *path, struct conn_cfg_connector *c, char *err,
                        size_t errlen)
{
    json_t *h = json_object_get(o, "hubspot");
    char sub[192];
    int rc;
    snprintf(sub, sizeof sub, "%s.hubspot", path);
    if (!json_is_object(h)) {
        snprintf(err, errlen, "%s: missing or not an object", sub);
        return TR_EINVAL;
    }
    struct conn_hs_cfg *hs = tr_calloc(1, sizeof *hs);
    if (!hs)
        return TR_ENOMEM;
    c->hubspot = hs;
    hs->page_size = CONN__HS_MAX_PAGE, hs->batch_size = CONN__HS_MAX_BATCH;
    if ((rc = parse_section(h, sub, hs, err, errlen)) < 0 ||
        (rc = conn__cfg_str(o, path, "object", 1, &c->object, err, errlen)) < 0 ||
        (rc = conn__cfg_str(o, path, "external_id", 1, &c->external_id, err, errlen)) < 0)
        return rc;
    if (!hs->base_url && !(hs->base_url = tr_strdup("https://api.hubapi.com")))
        return TR_ENOMEM;
    size_t n = strlen(hs->base_url);
    while (n > 0 && hs->base_url[n - 1] == '/')
        hs->base_url[--n] = '\0';
    if (!hs->modified_property &&
        !(hs->modified_property = tr_strdup(
              strcmp(c->object, "contacts") == 0 ? "lastmodifieddate" : "hs_lastmodifieddate")))
        return TR_ENOMEM;
    return check_names(path, c, err, errlen);
}

void conn__hs_cfg_free(struct conn_hs_cfg *h)
{
    if (!h)
        return;
    if (h->token) {
        volatile char *v = h->token;
        while (*v)
            *v++ = 0;
        tr_free(h->token);
    }
    tr_free(h->base_url);
    tr_free(h->modified_property);
    tr_free(h);
}
