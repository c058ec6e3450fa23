/* json_dump.c — compact JSON text of a jansson value, the bytes jansson's json_dumps gives with
 * JSON_COMPACT | JSON_ENCODE_ANY (and JSON_SORT_KEYS when asked), written into one growing
 * buffer. Every record a node applies is serialized with sorted keys, and every answer and op
 * body compactly; jansson's dumper decodes each string character by character and appends
 * through a callback, which profiles showed among the write path's largest costs. Here a
 * string's runs of bytes that need no escape are copied whole (jansson strings are valid UTF-8,
 * so bytes >= 0x80 never need one). Equality with jansson is checked byte for byte by
 * tests/unit/schema/test_json_dump.c. */
#include "schema/schema.h"

#include "schema/json_text.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct jbuf {
    char *p;
    size_t len, cap;
    bool failed;
};

static bool jb_room(struct jbuf *b, size_t n)
{
    if (b->failed)
        return false;
    if (b->len + n + 1 <= b->cap)
        return true;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + n + 1)
        cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p) {
        b->failed = true;
        return false;
    }
    b->p = p;
    b->cap = cap;
    return true;
}

static void jb_put(struct jbuf *b, const char *s, size_t n)
{
    if (jb_room(b, n)) {
        memcpy(b->p + b->len, s, n);
        b->len += n;
    }
}

static void jb_ch(struct jbuf *b, char c)
{
    if (jb_room(b, 1))
        b->p[b->len++] = c;
}

static void dump_string(struct jbuf *b, const char *s, size_t n)
{
    jb_ch(b, '"');
    size_t i = 0;
    while (i < n) {
        /* Bytes jansson escapes (without JSON_ENSURE_ASCII and JSON_ESCAPE_SLASH): '"', '\\'
         * and the controls below 0x20. */
        size_t run = i + schema__json_plain_run(s + i, n - i, false);
        jb_put(b, s + i, run - i);
        if (run == n)
            break;
        unsigned char c = (unsigned char)s[run];
        char esc[8];
        switch (c) {
        case '"':
            jb_put(b, "\\\"", 2);
            break;
        case '\\':
            jb_put(b, "\\\\", 2);
            break;
        case '\b':
            jb_put(b, "\\b", 2);
            break;
        case '\f':
            jb_put(b, "\\f", 2);
            break;
        case '\n':
            jb_put(b, "\\n", 2);
            break;
        case '\r':
            jb_put(b, "\\r", 2);
            break;
        case '\t':
            jb_put(b, "\\t", 2);
            break;
        default:
            snprintf(esc, sizeof esc, "\\u%04X", c);
            jb_put(b, esc, 6);
        }
        i = run + 1;
    }
    jb_ch(b, '"');
}

/* The text of v when v = n / 2^j (j <= 4) and 0 < |v| < 1e12, else 0. Such a value's exact
 * decimal has at most 4 fractional digits and 16 significant ones, so "%.17g" prints it exactly
 * and in fixed notation (1/16 > 1e-4, 1e12 < 1e17): integer digits, '.', the fraction's digits
 * ("0" for none). Most reals in records (amounts, weights) are such values; snprintf is slow. */
static size_t real_text_fixed(double v, char s[SCHEMA__JSON_REAL_MAX])
{
    static const uint64_t pow5[] = {1, 5, 25, 125, 625};
    if (!(v > -1e12 && v < 1e12) || v == 0) /* zero: "-0" keeps its sign */
        return 0;
    for (unsigned j = 0; j < sizeof pow5 / sizeof pow5[0]; j++) {
        double m = v * (double)(1u << j); /* exact: a power of two */
        if (m != (double)(int64_t)m)
            continue;
        int64_t n = (int64_t)m;
        uint64_t u = n < 0 ? (uint64_t)0 - (uint64_t)n : (uint64_t)n;
        uint64_t ip = u >> j, frac = (u & ((1u << j) - 1)) * pow5[j];
        char digits[24];
        size_t nd = 0, len = 0;
        do {
            digits[nd++] = (char)('0' + ip % 10);
            ip /= 10;
        } while (ip);
        if (n < 0)
            s[len++] = '-';
        while (nd)
            s[len++] = digits[--nd];
        s[len++] = '.';
        if (frac == 0) {
            s[len++] = '0';
        } else {
            for (unsigned k = j; k-- > 0; frac /= 10)
                s[len + k] = (char)('0' + frac % 10);
            len += j;
            while (s[len - 1] == '0')
                len--;
        }
        s[len] = '\0';
        return len;
    }
    return 0;
}

size_t schema__json_real_text(double v, char s[SCHEMA__JSON_REAL_MAX])
{
    size_t fixed = real_text_fixed(v, s);
    if (fixed)
        return fixed;
    int n = snprintf(s, SCHEMA__JSON_REAL_MAX, "%.17g", v);
    if (n < 0 || (size_t)n >= SCHEMA__JSON_REAL_MAX - 3)
        return 0;
    size_t len = (size_t)n;
    if (!strchr(s, '.') && !strchr(s, 'e')) {
        memcpy(s + len, ".0", 3);
        len += 2;
    }
    char *e = strchr(s, 'e');
    if (e) {
        char *start = e + 1, *end = e + 2;
        if (*start == '-')
            start++;
        while (*end == '0')
            end++;
        if (end != start) {
            memmove(start, end, len - (size_t)(end - s) + 1);
            len -= (size_t)(end - start);
        }
    }
    return len;
}

static void dump_real(struct jbuf *b, double v)
{
    char s[SCHEMA__JSON_REAL_MAX];
    size_t len = schema__json_real_text(v, s);
    if (!len)
        b->failed = true;
    else
        jb_put(b, s, len);
}

struct jkey {
    const char *k;
    json_t *v;
};

static int key_cmp(const void *a, const void *b)
{
    return strcmp(((const struct jkey *)a)->k, ((const struct jkey *)b)->k);
}

static void dump_value(struct jbuf *b, const json_t *v, bool sort);

static void dump_object(struct jbuf *b, const json_t *o, bool sort)
{
    size_t n = json_object_size(o);
    jb_ch(b, '{');
    if (!sort || n < 2) {
        const char *k;
        json_t *v;
        size_t i = 0;
        json_object_foreach((json_t *)o, k, v)
        {
            if (i++)
                jb_ch(b, ',');
            dump_string(b, k, strlen(k));
            jb_ch(b, ':');
            dump_value(b, v, sort);
        }
        jb_ch(b, '}');
        return;
    }
    struct jkey stack[32];
    struct jkey *keys = n <= 32 ? stack : malloc(n * sizeof *keys);
    if (!keys) {
        b->failed = true;
        return;
    }
    size_t i = 0;
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)o, k, v)
    {
        keys[i].k = k;
        keys[i].v = v;
        i++;
    }
    qsort(keys, n, sizeof *keys, key_cmp);
    for (i = 0; i < n && !b->failed; i++) {
        if (i)
            jb_ch(b, ',');
        dump_string(b, keys[i].k, strlen(keys[i].k));
        jb_ch(b, ':');
        dump_value(b, keys[i].v, sort);
    }
    if (keys != stack)
        free(keys);
    jb_ch(b, '}');
}

static void dump_value(struct jbuf *b, const json_t *v, bool sort)
{
    char num[32];
    int n;
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        dump_object(b, v, sort);
        break;
    case JSON_ARRAY:
        jb_ch(b, '[');
        for (size_t i = 0; i < json_array_size(v) && !b->failed; i++) {
            if (i)
                jb_ch(b, ',');
            dump_value(b, json_array_get(v, i), sort);
        }
        jb_ch(b, ']');
        break;
    case JSON_STRING:
        dump_string(b, json_string_value(v), json_string_length(v));
        break;
    case JSON_INTEGER:
        n = snprintf(num, sizeof num, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        jb_put(b, num, (size_t)n);
        break;
    case JSON_REAL:
        dump_real(b, json_real_value(v));
        break;
    case JSON_TRUE:
        jb_put(b, "true", 4);
        break;
    case JSON_FALSE:
        jb_put(b, "false", 5);
        break;
    case JSON_NULL:
        jb_put(b, "null", 4);
        break;
    }
}

/* The buffer's text, NUL-terminated, or NULL (freed) after a failure. */
static char *jb_finish(struct jbuf *b, size_t *len)
{
    if (!jb_room(b, 0)) {
        free(b->p);
        return NULL;
    }
    b->p[b->len] = '\0';
    if (len)
        *len = b->len;
    return b->p;
}

char *schema_json_dumps(const json_t *v, bool sort_keys, size_t *len)
{
    if (!v)
        return NULL;
    struct jbuf b = {0};
    dump_value(&b, v, sort_keys);
    return jb_finish(&b, len);
}

char *schema_json_splice(const char *text, size_t len, size_t at, const json_t *extra,
                         size_t *out_len)
{
    struct jbuf b = {0};
    if (at > len || !jb_room(&b, len + 256))
        return NULL;
    /* A member ends right before `at` unless '{' or ',' does; one starts at `at` unless the
     * closing brace does. */
    bool some = json_object_size(extra) > 0,
         before = at > 0 && text[at - 1] != '{' && text[at - 1] != ',',
         after = at < len && text[at] != '}';
    jb_put(&b, text, at);
    if (some && before)
        jb_ch(&b, ',');
    size_t mark = b.len;
    dump_object(&b, extra, true);
    if (b.failed) {
        free(b.p);
        return NULL;
    }
    memmove(b.p + mark, b.p + mark + 1, b.len - mark - 2); /* the members without the braces */
    b.len -= 2;
    if (some && after)
        jb_ch(&b, ',');
    jb_put(&b, text + at, len - at);
    return jb_finish(&b, out_len);
}
