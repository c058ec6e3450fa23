/* json.c — reading JSON documents under treaty's limits, and the violation list of schema.h.
 * Every document that enters treaty (schema files, instances, request bodies) is parsed here, so
 * the size, depth, duplicate-key and UTF-8 rules hold everywhere. */
#include "schema/schema.h"
#include "common/alloc.h"
#include "common/err.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#define SCHEMA_DEFAULT_MAX_ERRORS 100
#define SCHEMA_DEFAULT_MAX_DEPTH  512
#define SCHEMA_DEFAULT_MAX_BYTES  (16u * 1024u * 1024u)
#define SCHEMA_DEFAULT_MAX_NODES  100000

void schema_limits_default(struct schema_limits *l)
{
    l->max_errors = SCHEMA_DEFAULT_MAX_ERRORS;
    l->max_depth = SCHEMA_DEFAULT_MAX_DEPTH;
    l->max_doc_bytes = SCHEMA_DEFAULT_MAX_BYTES;
    l->max_schema_nodes = SCHEMA_DEFAULT_MAX_NODES;
}

/* Depth of the deepest array/object nesting in buf, counted without parsing values: strings are
 * skipped with their escapes. Stops counting once past `limit`. Run before jansson so that a
 * 10,000-level document is refused with treaty's own message and bounded stack. */
static size_t schema__json_depth(const char *buf, size_t len, size_t limit)
{
    size_t depth = 0, max = 0;
    int in_str = 0;
    for (size_t i = 0; i < len; i++) {
        char c = buf[i];
        if (in_str) {
            if (c == '\\')
                i++;
            else if (c == '"')
                in_str = 0;
        } else if (c == '"') {
            in_str = 1;
        } else if (c == '[' || c == '{') {
            if (++depth > max) {
                max = depth;
                if (max > limit)
                    return max;
            }
        } else if ((c == ']' || c == '}') && depth > 0) {
            depth--;
        }
    }
    return max;
}

int schema_json_load_buffer(const char *buf, size_t len, const char *what,
                            const struct schema_limits *l, json_t **out, char *errmsg,
                            size_t errlen)
{
    struct schema_limits def;
    if (!l) {
        schema_limits_default(&def);
        l = &def;
    }
    *out = NULL;
    if (len > l->max_doc_bytes) {
        snprintf(errmsg, errlen, "%s: document is %zu bytes, over the limit of %zu bytes", what,
                 len, l->max_doc_bytes);
        return TR_ELIMIT;
    }
    size_t depth = schema__json_depth(buf, len, l->max_depth);
    if (depth > l->max_depth) {
        snprintf(errmsg, errlen, "%s: nesting deeper than the limit of %zu levels", what,
                 l->max_depth);
        return TR_ELIMIT;
    }
    json_error_t jerr;
    json_t *doc = schema_json_loadb(buf, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
    if (!doc) {
        snprintf(errmsg, errlen, "%s:%d:%d: invalid JSON: %s", what, jerr.line, jerr.column,
                 jerr.text);
        return TR_EPARSE;
    }
    *out = doc;
    return TR_OK;
}

int schema_json_load_file(const char *path, const struct schema_limits *l, json_t **out,
                          char *errmsg, size_t errlen)
{
    struct schema_limits def;
    if (!l) {
        schema_limits_default(&def);
        l = &def;
    }
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(errmsg, errlen, "%s: cannot open: %s", path, strerror(errno));
        return TR_EIO;
    }
    struct stat st;
    if (fstat(fileno(f), &st) == 0 && S_ISREG(st.st_mode) &&
        (unsigned long long)st.st_size > l->max_doc_bytes) {
        snprintf(errmsg, errlen, "%s: file is %lld bytes, over the limit of %zu bytes", path,
                 (long long)st.st_size, l->max_doc_bytes);
        fclose(f);
        return TR_ELIMIT;
    }
    /* Read at most max+1 bytes so a growing file or a pipe cannot exceed the bound. */
    size_t cap = l->max_doc_bytes + 1, len = 0;
    char *buf = tr_malloc(cap);
    if (!buf) {
        fclose(f);
        snprintf(errmsg, errlen, "%s: out of memory", path);
        return TR_ENOMEM;
    }
    size_t n;
    while (len < cap && (n = fread(buf + len, 1, cap - len, f)) > 0)
        len += n;
    int rerr = ferror(f);
    fclose(f);
    int rc;
    if (rerr) {
        snprintf(errmsg, errlen, "%s: read error", path);
        rc = TR_EIO;
    } else {
        rc = schema_json_load_buffer(buf, len, path, l, out, errmsg, errlen);
    }
    tr_free(buf);
    return rc;
}

void schema_errors_init(struct schema_errors *e, size_t max)
{
    e->v = NULL;
    e->len = 0;
    e->cap = 0;
    e->max = max ? max : SCHEMA_DEFAULT_MAX_ERRORS;
    e->truncated = false;
}

void schema_errors_clear(struct schema_errors *e)
{
    for (size_t i = 0; i < e->len; i++) {
        tr_free(e->v[i].instance_path);
        tr_free(e->v[i].schema_path);
        tr_free(e->v[i].message);
    }
    e->len = 0;
    e->truncated = false;
}

void schema_errors_free(struct schema_errors *e)
{
    if (!e)
        return;
    schema_errors_clear(e);
    tr_free(e->v);
    e->v = NULL;
    e->cap = 0;
}

json_t *schema_errors_to_json(const struct schema_errors *e)
{
    json_t *arr = json_array();
    if (!arr)
        return NULL;
    for (size_t i = 0; i < e->len; i++) {
        json_t *o = json_pack("{s:s, s:s, s:s}", "instancePath", e->v[i].instance_path,
                              "schemaPath", e->v[i].schema_path, "message", e->v[i].message);
        if (!o || json_array_append_new(arr, o)) {
            json_decref(arr);
            return NULL;
        }
    }
    return arr;
}
