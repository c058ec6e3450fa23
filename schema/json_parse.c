/* json_parse.c — a fast path in front of jansson's parser for the JSON objects the ledger applies.
 * Every node parses the body of every op it applies; jansson's lexer reads one character at a
 * time through a stream, and a profile of the write path put that parse at a fifth of a node's
 * CPU. This parser takes the common case only: an object of plain ASCII strings (simple escapes
 * allowed), integers of at most 18 digits, reals, literals, nested objects and arrays, no
 * duplicate key. Anything else (a \u escape, a byte >= 0x80, a long integer, a syntax error, a
 * duplicate key, deep nesting) makes it give up, and the caller runs jansson, which then decides
 * and words any error. So it never accepts what jansson refuses, and what it accepts it builds as
 * jansson does: the same value types, the same keys in the same order. The differential test
 * tests/unit/schema/test_json_parse.c and the fuzz target fuzz-json-fast hold it to that. */
#include "schema/schema.h"

#include "schema/json_text.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

enum { FAST_MAX_DEPTH = 256, FAST_MAX_NUMBER = 64 };

struct fp {
    const char *p, *start, *end;
    char *scratch; /* decoded string; grows */
    size_t cap;
    unsigned depth;
    /* Whether the text so far is what schema_json_dumps(doc, true) writes (a conservative
     * "no": see schema_json_canon), and where a top-level `split` member would go. */
    bool canon;
    const char *split;
    size_t split_at;
    bool split_found;
};

static void skip_ws(struct fp *f)
{
    const char *p = f->p;
    while (f->p < f->end && (*f->p == ' ' || *f->p == '\n' || *f->p == '\r' || *f->p == '\t'))
        f->p++;
    if (f->p != p)
        f->canon = false;
}

static bool scratch_room(struct fp *f, size_t n)
{
    if (n + 1 <= f->cap)
        return true;
    size_t cap = f->cap ? f->cap : 256;
    while (cap < n + 1)
        cap *= 2;
    char *s = realloc(f->scratch, cap);
    if (!s)
        return false;
    f->scratch = s;
    f->cap = cap;
    return true;
}

/* A string at f->p (on its opening quote) decoded into f->scratch (NUL-terminated); *n its
 * length. False to give up. */
static bool lex_string(struct fp *f, size_t *n)
{
    const char *p = f->p + 1;
    size_t len = 0;
    for (;;) {
        const char *run = p;
        p += schema__json_plain_run(p, (size_t)(f->end - p), true);
        if (p >= f->end)
            return false;
        size_t k = (size_t)(p - run);
        if (!scratch_room(f, len + k + 1))
            return false;
        memcpy(f->scratch + len, run, k);
        len += k;
        unsigned char c = (unsigned char)*p;
        if (c == '"')
            break;
        if (c != '\\' || p + 1 >= f->end)
            return false; /* a control character, non-ASCII or a dangling backslash */
        char out;
        switch (p[1]) {
        case '"':
            out = '"';
            break;
        case '\\':
            out = '\\';
            break;
        case '/':
            out = '/';
            f->canon = false; /* the serializer writes a plain '/' */
            break;
        case 'b':
            out = '\b';
            break;
        case 'f':
            out = '\f';
            break;
        case 'n':
            out = '\n';
            break;
        case 'r':
            out = '\r';
            break;
        case 't':
            out = '\t';
            break;
        default:
            return false; /* \u and invalid escapes: jansson's call */
        }
        f->scratch[len++] = out;
        p += 2;
    }
    f->scratch[len] = '\0';
    *n = len;
    f->p = p + 1;
    return true;
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* A number by jansson's grammar: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?; an integer
 * when it has neither fraction nor exponent. */
static json_t *lex_number(struct fp *f)
{
    const char *s = f->p, *p = s;
    bool neg = p < f->end && *p == '-';
    if (neg)
        p++;
    if (p >= f->end || !is_digit(*p))
        return NULL;
    if (*p == '0') {
        p++;
        if (p < f->end && is_digit(*p))
            return NULL;
    } else {
        while (p < f->end && is_digit(*p))
            p++;
    }
    bool real = false;
    if (p < f->end && *p == '.') {
        real = true;
        p++;
        if (p >= f->end || !is_digit(*p))
            return NULL;
        while (p < f->end && is_digit(*p))
            p++;
    }
    if (p < f->end && (*p == 'e' || *p == 'E')) {
        real = true;
        p++;
        if (p < f->end && (*p == '+' || *p == '-'))
            p++;
        if (p >= f->end || !is_digit(*p))
            return NULL;
        while (p < f->end && is_digit(*p))
            p++;
    }
    size_t n = (size_t)(p - s);
    if (!real && neg && n == 2 && s[1] == '0')
        f->canon = false; /* "-0" prints "0" */
    if (!real) {
        size_t digits = n - (neg ? 1 : 0);
        if (digits > 18) /* past 18 digits it may not fit: jansson says */
            return NULL;
        json_int_t v = 0;
        for (const char *d = s + (neg ? 1 : 0); d < p; d++)
            v = v * 10 + (*d - '0');
        f->p = p;
        return json_integer(neg ? -v : v);
    }
    if (n >= FAST_MAX_NUMBER)
        return NULL;
    char buf[FAST_MAX_NUMBER];
    memcpy(buf, s, n);
    buf[n] = '\0';
    double v = strtod(buf, NULL);
    if (!isfinite(v)) /* jansson refuses an overflowing real */
        return NULL;
    if (f->canon) { /* canonical when it is the text the serializer writes for it */
        char t[SCHEMA__JSON_REAL_MAX];
        if (schema__json_real_text(v, t) != n || memcmp(t, s, n) != 0)
            f->canon = false;
    }
    f->p = p;
    return json_real(v);
}

static json_t *parse_value(struct fp *f);

/* In the top-level object, the first member whose key sorts after `split`, or the closing brace,
 * starts at `at`: the first such call sets split_at. */
static void split_here(struct fp *f, const char *at)
{
    if (f->depth == 1 && f->split && !f->split_found) {
        f->split_found = true;
        f->split_at = (size_t)(at - f->start);
    }
}

static json_t *parse_object(struct fp *f)
{
    json_t *o = json_object();
    if (!o)
        return NULL;
    f->p++;
    skip_ws(f);
    if (f->p < f->end && *f->p == '}') {
        split_here(f, f->p);
        f->p++;
        return o;
    }
    char prev[128]; /* the previous key, while the text may still be canonical */
    bool first = true, top = f->depth == 1 && f->split;
    for (;;) {
        size_t n;
        const char *member = f->p;
        if (f->p >= f->end || *f->p != '"' || !lex_string(f, &n))
            break;
        if (json_object_get(o, f->scratch)) /* a duplicate: jansson refuses or keeps the last */
            break;
        if (top && strcmp(f->scratch, f->split) > 0)
            split_here(f, member);
        if (f->canon) { /* keys strictly ascending; past 127 bytes, conservatively not */
            if (n >= sizeof prev || (!first && strcmp(prev, f->scratch) >= 0))
                f->canon = false;
            else
                memcpy(prev, f->scratch, n + 1);
        }
        first = false;
        /* The key is copied out: the value's strings reuse the scratch buffer. */
        char stack[128];
        char *key = n < sizeof stack ? stack : malloc(n + 1);
        if (!key)
            break;
        memcpy(key, f->scratch, n + 1);
        skip_ws(f);
        json_t *v = NULL;
        if (f->p < f->end && *f->p == ':') {
            f->p++;
            skip_ws(f);
            v = parse_value(f);
        }
        int rc = v ? json_object_set_new_nocheck(o, key, v) : -1;
        if (key != stack)
            free(key);
        if (rc != 0)
            break;
        skip_ws(f);
        if (f->p >= f->end)
            break;
        if (*f->p == '}') {
            split_here(f, f->p);
            f->p++;
            return o;
        }
        if (*f->p != ',')
            break;
        f->p++;
        skip_ws(f);
    }
    json_decref(o);
    return NULL;
}

static json_t *parse_array(struct fp *f)
{
    json_t *a = json_array();
    if (!a)
        return NULL;
    f->p++;
    skip_ws(f);
    if (f->p < f->end && *f->p == ']') {
        f->p++;
        return a;
    }
    for (;;) {
        json_t *v = parse_value(f);
        if (!v || json_array_append_new(a, v) != 0)
            break;
        skip_ws(f);
        if (f->p >= f->end)
            break;
        if (*f->p == ']') {
            f->p++;
            return a;
        }
        if (*f->p != ',')
            break;
        f->p++;
        skip_ws(f);
    }
    json_decref(a);
    return NULL;
}

/* "true", "false" or "null" when not followed by a letter (jansson reads letters as one token). */
static bool literal(struct fp *f, const char *word)
{
    size_t n = strlen(word);
    if ((size_t)(f->end - f->p) < n || memcmp(f->p, word, n) != 0)
        return false;
    if (f->p + n < f->end) {
        char c = f->p[n];
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
            return false;
    }
    f->p += n;
    return true;
}

static json_t *parse_value(struct fp *f)
{
    if (f->p >= f->end)
        return NULL;
    json_t *v = NULL;
    size_t n;
    switch (*f->p) {
    case '{':
    case '[':
        if (++f->depth > FAST_MAX_DEPTH)
            return NULL;
        v = *f->p == '{' ? parse_object(f) : parse_array(f);
        f->depth--;
        return v;
    case '"':
        if (!lex_string(f, &n)) /* never holds a NUL: controls and \u give up */
            return NULL;
        return json_stringn_nocheck(f->scratch, n);
    case 't':
        return literal(f, "true") ? json_true() : NULL;
    case 'f':
        return literal(f, "false") ? json_false() : NULL;
    case 'n':
        return literal(f, "null") ? json_null() : NULL;
    default:
        return lex_number(f);
    }
}

static bool parse_fast(const char *buf, size_t len, json_t **out, struct schema_json_canon *c)
{
    *out = NULL;
    struct fp f = {.p = buf, .start = buf, .end = buf + len, .canon = true};
    if (c) {
        c->canonical = false;
        c->split_at = 0;
        f.split = c->split;
    }
    skip_ws(&f);
    if (f.p >= f.end || *f.p != '{')
        return false;
    json_t *v = parse_value(&f);
    free(f.scratch);
    if (!v)
        return false;
    skip_ws(&f);
    if (f.p != f.end) { /* jansson: "end of file expected" */
        json_decref(v);
        return false;
    }
    if (c) {
        c->canonical = f.canon;
        c->split_at = f.split_at;
    }
    *out = v;
    return true;
}

bool schema_json_parse_fast(const char *buf, size_t len, json_t **out)
{
    return parse_fast(buf, len, out, NULL);
}

json_t *schema_json_loadb_canon(const char *buf, size_t len, size_t flags, json_error_t *err,
                                struct schema_json_canon *c)
{
    /* Without JSON_REJECT_DUPLICATES jansson keeps a duplicate's last value, where the fast path
     * gives up, and JSON_DECODE_ANY only adds top-level scalars, which it never takes: for an
     * object it takes, both flags leave jansson's document the same. */
    json_t *doc = NULL;
    if (!(flags & ~(size_t)(JSON_REJECT_DUPLICATES | JSON_DECODE_ANY)) &&
        parse_fast(buf, len, &doc, c))
        return doc;
    if (c)
        c->canonical = false;
    return json_loadb(buf, len, flags, err);
}

json_t *schema_json_loadb(const char *buf, size_t len, size_t flags, json_error_t *err)
{
    return schema_json_loadb_canon(buf, len, flags, err, NULL);
}
