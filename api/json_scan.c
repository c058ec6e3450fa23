/* json_scan.c — reading one top-level member of a JSON object without building the document,
 * and the read-by-key answer that uses it: a stored record (compact JSON with sorted keys,
 * written by the ledger with jansson) is answered with its stored bytes when nothing in it
 * must be hidden from the reader, instead of being parsed and serialized again (which made up
 * ~40 % of a read's CPU). The bytes are what the parse-and-serialize path would produce:
 * jansson keeps the parsed member order and prints strings and numbers the way it stored them. */
#include "api/api_int.h"

#include <string.h>

static const char *skip_ws(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
        p++;
    return p;
}

/* p at the opening quote; returns the byte after the closing one, or NULL. */
static const char *skip_string(const char *p, const char *end)
{
    for (p++; p < end; p++) {
        if (*p == '\\')
            p++;
        else if (*p == '"')
            return p + 1;
    }
    return NULL;
}

/* One value at p (no leading whitespace); returns the byte after it, or NULL when the text
 * ends first. Containers are skipped by depth, strings honoured; the value is not validated. */
static const char *skip_value(const char *p, const char *end)
{
    if (p >= end)
        return NULL;
    if (*p == '"')
        return skip_string(p, end);
    if (*p == '{' || *p == '[') {
        size_t depth = 0;
        while (p < end) {
            if (*p == '"') {
                if (!(p = skip_string(p, end)))
                    return NULL;
                continue;
            }
            if (*p == '{' || *p == '[')
                depth++;
            else if ((*p == '}' || *p == ']') && --depth == 0)
                return p + 1;
            p++;
        }
        return NULL;
    }
    while (p < end && !strchr(",}] \t\r\n", *p))
        p++;
    return p;
}

int api__json_member(const char *text, size_t len, const char *name, const char **val, size_t *vlen)
{
    const char *p = skip_ws(text, text + len), *end = text + len;
    size_t nlen = strlen(name);
    if (p >= end || *p++ != '{')
        return -1;
    for (;;) {
        p = skip_ws(p, end);
        if (p < end && *p == '}')
            return -1; /* not a member */
        if (p >= end || *p != '"')
            return -1;
        const char *k = p + 1, *ke = skip_string(p, end);
        if (!ke)
            return -1;
        bool match = (size_t)(ke - 1 - k) == nlen && memcmp(k, name, nlen) == 0;
        p = skip_ws(ke, end);
        if (p >= end || *p++ != ':')
            return -1;
        p = skip_ws(p, end);
        const char *v = p;
        if (!(p = skip_value(p, end)))
            return -1;
        if (match) {
            *val = v;
            *vlen = (size_t)(p - v);
            return 0;
        }
        p = skip_ws(p, end);
        if (p < end && *p == ',')
            p++;
        else
            return -1;
    }
}

/* The owner of a stored record into buf (its "_owner" string, without escapes); "" when it has
 * none; false when it cannot be read that simply. */
static bool stored_owner(const char *text, size_t len, char *buf, size_t size)
{
    const char *v;
    size_t n;
    buf[0] = '\0';
    if (api__json_member(text, len, "_owner", &v, &n) != 0)
        return true;
    if (n < 2 || v[0] != '"' || v[n - 1] != '"' || n - 2 >= size || memchr(v, '\\', n))
        return false;
    memcpy(buf, v + 1, n - 2);
    buf[n - 2] = '\0';
    return true;
}

/* Whether the reader may see the stored record whole: the type's read ACL admits its org, and
 * every field its org may not read is absent from the record. The owner is looked up only when
 * a rule names it. */
static bool reads_whole(const struct api__req *r, const struct schema_type *t, const char *text,
                        size_t len)
{
    const char *org = api__org(r), *v;
    char owner[128];
    bool have_owner = false;
    size_t n;
    if (!schema_acl_list_allows(&t->acl.read, org, NULL)) {
        if (!(have_owner = stored_owner(text, len, owner, sizeof owner)) ||
            !schema_acl_list_allows(&t->acl.read, org, owner))
            return false;
    }
    for (size_t i = 0; i < t->acl.field_count; i++) {
        const struct schema_field_acl *f = &t->acl.fields[i];
        if (schema_acl_list_allows(&f->read, org, NULL) ||
            api__json_member(text, len, f->field, &v, &n) != 0)
            continue;
        if (!have_owner && !(have_owner = stored_owner(text, len, owner, sizeof owner)))
            return false;
        if (!schema_acl_list_allows(&f->read, org, owner))
            return false; /* the field must be removed: the caller redacts */
    }
    return true;
}

bool api__answer_stored_record(struct api__req *r, const struct schema_type *t, const char *text)
{
    return api__answer_stored_record_status(r, t, text, 200);
}

bool api__answer_stored_record_status(struct api__req *r, const struct schema_type *t,
                                      const char *text, int status)
{
    const char *v;
    size_t vlen = 0, len = strlen(text);
    char etag[24];
    if (!reads_whole(r, t, text, len) || api__json_member(text, len, "_version", &v, &vlen) != 0 ||
        vlen == 0 || vlen >= sizeof etag || v[0] < '1' || v[0] > '9')
        return false;
    for (size_t i = 0; i < vlen; i++)
        if (v[i] < '0' || v[i] > '9')
            return false;
    memcpy(etag, v, vlen);
    etag[vlen] = '\0';
    api__respond_text(r, status, text, len, etag);
    return true;
}
