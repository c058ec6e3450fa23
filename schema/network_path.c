/* network_path.c — JSON pointers (RFC 6901) for the network-schema loader and the diff: rendering
 * a chain of path steps, resolving local "#/…" references in the raw document, and following
 * $ref chains with the refusals the loader owes (remote, missing, cyclic). */
#include "schema/network_int.h"
#include "common/alloc.h"
#include "common/err.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* Appends one step (escaped unless raw) to buf at *pos, truncating at len. */
static void path_put(const struct schema__net_seg *s, char *buf, size_t len, size_t *pos)
{
    char idx[32];
    const char *k = s->key;
    if (!k) {
        snprintf(idx, sizeof idx, "%zu", s->index);
        k = idx;
    }
    if (!s->raw && *pos + 1 < len)
        buf[(*pos)++] = '/';
    for (; *k && *pos + 1 < len; k++) {
        if (!s->raw && (*k == '~' || *k == '/')) {
            buf[(*pos)++] = '~';
            if (*pos + 1 < len)
                buf[(*pos)++] = *k == '~' ? '0' : '1';
        } else {
            buf[(*pos)++] = *k;
        }
    }
}

static void path_walk(const struct schema__net_seg *s, char *buf, size_t len, size_t *pos)
{
    if (!s)
        return;
    path_walk(s->up, buf, len, pos);
    path_put(s, buf, len, pos);
}

void schema__net_path_format(const struct schema__net_seg *s, char *buf, size_t len)
{
    size_t pos = 0;
    if (len == 0)
        return;
    path_walk(s, buf, len, &pos);
    buf[pos] = '\0';
}

/* Length of the rendered pointer, to size the allocation exactly. */
static size_t path_len(const struct schema__net_seg *s)
{
    size_t n = 0;
    for (; s; s = s->up) {
        char idx[32];
        const char *k = s->key;
        if (!k) {
            snprintf(idx, sizeof idx, "%zu", s->index);
            k = idx;
        }
        n += s->raw ? 0 : 1;
        for (; *k; k++)
            n += (!s->raw && (*k == '~' || *k == '/')) ? 2 : 1;
    }
    return n;
}

char *schema__net_path_dup(const struct schema__net_seg *s)
{
    size_t n = path_len(s) + 1;
    char *p = tr_malloc(n);
    if (p)
        schema__net_path_format(s, p, n);
    return p;
}

char *schema__net_path_dup_name(const struct schema__net_seg *s, const char *name)
{
    struct schema__net_seg leaf = {s, name, 0, false};
    return schema__net_path_dup(name ? &leaf : s);
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Reads the next byte of a reference token of a URI fragment: %XX first (RFC 3986 §2.1), then
 * ~0 and ~1 (RFC 6901 §4), so "%7E1" is "/" as well. Returns the byte, or -1 on a malformed
 * escape; *i advances past what was read. Decoding as we go needs no allocation. */
static int raw_byte(const char *p, size_t n, size_t *i)
{
    if (p[*i] != '%') {
        return (unsigned char)p[(*i)++];
    }
    if (*i + 2 >= n)
        return -1;
    int hi = hexval(p[*i + 1]), lo = hexval(p[*i + 2]);
    if (hi < 0 || lo < 0)
        return -1;
    *i += 3;
    return hi * 16 + lo;
}

static int token_byte(const char *p, size_t n, size_t *i)
{
    int c = raw_byte(p, n, i);
    if (c != '~')
        return c;
    if (*i >= n)
        return -1;
    int e = raw_byte(p, n, i);
    return e == '0' ? '~' : e == '1' ? '/' : -1;
}

/* Whether the token p[0..n) decodes to exactly `key`. */
static bool token_equals(const char *p, size_t n, const char *key)
{
    size_t i = 0;
    for (; i < n; key++) {
        int c = token_byte(p, n, &i);
        if (c < 0 || *key == '\0' || (unsigned char)*key != c)
            return false;
    }
    return *key == '\0';
}

/* One token applied to `cur`: a member of an object or an index of an array. */
static const json_t *token_step(const json_t *cur, const char *p, size_t n)
{
    if (json_is_object(cur)) {
        const char *k;
        const json_t *v;
        json_object_foreach((json_t *)cur, k, v)
        {
            if (token_equals(p, n, k))
                return v;
        }
        return NULL;
    }
    if (!json_is_array(cur) || n == 0 || (p[0] == '0' && n > 1))
        return NULL;
    size_t idx = 0;
    for (size_t i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9' || idx > (SIZE_MAX - 9) / 10)
            return NULL;
        idx = idx * 10 + (size_t)(p[i] - '0');
    }
    return json_array_get(cur, idx);
}

const json_t *schema__net_ref_target(const json_t *doc, const char *ref)
{
    if (ref[0] != '#' || (ref[1] != '\0' && ref[1] != '/'))
        return NULL;
    const json_t *cur = doc;
    const char *p = ref + 1;
    while (cur && *p == '/') {
        const char *end = strchr(p + 1, '/');
        size_t n = end ? (size_t)(end - p - 1) : strlen(p + 1);
        cur = token_step(cur, p + 1, n);
        p += n + 1;
    }
    return cur;
}

/* The $ref string of an object schema, or NULL. */
static const char *ref_of(const json_t *s)
{
    return json_is_object(s) ? json_string_value(json_object_get(s, "$ref")) : NULL;
}

const json_t *schema__net_deref(const json_t *doc, const json_t *s)
{
    for (size_t hops = 0; s && hops <= SCHEMA__NET_MAX_REF_CHAIN; hops++) {
        const char *ref = ref_of(s);
        if (!ref)
            return s;
        s = schema__net_ref_target(doc, ref);
    }
    return NULL;
}

int schema__net_fail(struct schema__net_load *ld, const struct schema__net_seg *at, int rc,
                     const char *fmt, ...)
{
    if (!ld->errmsg || ld->errlen == 0)
        return rc;
    schema__net_path_format(at, ld->errmsg, ld->errlen);
    size_t pos = strlen(ld->errmsg);
    if (pos == 0 && ld->errlen > 6) {
        memcpy(ld->errmsg, "(root)", 7);
        pos = 6;
    }
    if (pos + 2 < ld->errlen) {
        memcpy(ld->errmsg + pos, ": ", 3);
        pos += 2;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(ld->errmsg + pos, ld->errlen - pos, fmt, ap);
        va_end(ap);
    }
    return rc;
}

/* Text of a refused cycle for the message: the reference that enters the cycle, then each
 * reference around it back to the start ("#/definitions/A" -> "#/definitions/B" -> …/A). The
 * cycle is seen[at..n-1]; seen[at-1] (when at > 0) holds the reference into it. */
static void chain_text(const json_t *const *seen, size_t n, size_t at, char *buf, size_t len)
{
    size_t pos = 0, first = at > 0 ? at - 1 : 0, last = at > 0 ? n : n + 1;
    buf[0] = '\0';
    for (size_t i = first; i < last && pos + 1 < len; i++) {
        const char *r = ref_of(seen[i < n ? i : at]);
        int w = snprintf(buf + pos, len - pos, "%s\"%s\"", i > first ? " -> " : "", r);
        if (w < 0)
            break;
        pos += (size_t)w < len - pos ? (size_t)w : len - pos - 1;
    }
}

int schema__net_ref_chain(struct schema__net_load *ld, const struct schema__net_seg *at,
                          const json_t *s, const json_t **out)
{
    const json_t *seen[SCHEMA__NET_MAX_REF_CHAIN];
    size_t n = 0;
    struct schema__net_seg refseg = {at, "$ref", 0, false};
    char chain[256];
    *out = NULL;
    for (;;) {
        const json_t *v = json_is_object(s) ? json_object_get(s, "$ref") : NULL;
        if (!v) {
            *out = s;
            return TR_OK;
        }
        if (!json_is_string(v))
            return schema__net_fail(ld, &refseg, TR_ESCHEMA, "$ref must be a string");
        const char *ref = json_string_value(v);
        if (ref[0] != '#')
            return schema__net_fail(ld, &refseg, TR_ESCHEMA,
                                    "remote $ref \"%s\" is not supported: a network schema must "
                                    "be self-contained (references start with '#')",
                                    ref);
        if (ref[1] != '\0' && ref[1] != '/')
            return TR_OK; /* "#name": an $id anchor, resolved by schema_compile */
        for (size_t i = 0; i < n; i++) {
            if (seen[i] == s) {
                chain_text(seen, n, i, chain, sizeof chain);
                return schema__net_fail(ld, &refseg, TR_ESCHEMA,
                                        "$ref cycle %s never reaches a schema", chain);
            }
        }
        if (n == SCHEMA__NET_MAX_REF_CHAIN)
            return schema__net_fail(ld, &refseg, TR_ESCHEMA, "$ref chain longer than %d",
                                    SCHEMA__NET_MAX_REF_CHAIN);
        seen[n++] = s;
        const json_t *t = schema__net_ref_target(ld->doc, ref);
        if (!t)
            return schema__net_fail(ld, &refseg, TR_ESCHEMA,
                                    "$ref \"%s\" points to a missing definition", ref);
        s = t;
    }
}
