/* validate.c — schema_validate: runs an instance through a compiled draft-07 schema, collecting
 * every violation (errs != NULL, bounded by errs->max) or only the verdict (errs == NULL: stop at
 * the first failure, allocate nothing; anyOf/oneOf/not/if/contains always run that way). Bounded:
 * instance nesting by limits.max_depth wherever the walk or an equality test goes, schema steps by
 * a budget derived from it (compile refused same-instance cycles). Called by users and network.c.
 */
#include "schema/schema_int.h"
#include "common/alloc.h"
#include "common/err.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Results of the internal walk besides the TR_E* codes. */
#define V_VALID   0
#define V_INVALID 1
#define V_STOP    (-1000) /* the error list is full: stop, the verdict is "invalid" */

/* Schema steps allowed per instance level; a step is one subschema applied to one value. */
#define V_FRAMES_PER_LEVEL 8u

/* One step of the instance path, kept on the C stack while the walk is below it. */
struct ipath {
    const struct ipath *up;
    const char *key; /* NULL for an array index */
    size_t len;      /* key length, or the index */
};

struct vctx {
    const struct schema *s;
    struct schema_errors *errs;   /* NULL: verdict-only */
    struct schema_errors *report; /* the caller's list, for the one limit violation */
    size_t frames;
    size_t max_frames;
};

static int validate_node(struct vctx *v, const struct schema_node *n, const json_t *j,
                         const struct ipath *ip, size_t depth);

/* ---- violations ---- */

static size_t ipath_len(const struct ipath *ip)
{
    size_t len = 0;
    for (; ip; ip = ip->up) {
        if (ip->key) {
            len += 1 + ip->len;
            for (size_t i = 0; i < ip->len; i++)
                len += ip->key[i] == '~' || ip->key[i] == '/';
        } else {
            len += 1 + (size_t)snprintf(NULL, 0, "%zu", ip->len);
        }
    }
    return len;
}

/* The instance path as an RFC 6901 pointer, written from the end backwards. */
static char *ipath_string(const struct ipath *ip)
{
    size_t len = ipath_len(ip);
    char *p = tr_malloc(len + 1);
    if (!p)
        return NULL;
    p[len] = '\0';
    size_t o = len;
    for (; ip; ip = ip->up) {
        if (ip->key) {
            for (size_t i = ip->len; i-- > 0;) {
                char ch = ip->key[i];
                if (ch == '~' || ch == '/') {
                    p[--o] = ch == '~' ? '0' : '1';
                    p[--o] = '~';
                } else {
                    p[--o] = ch;
                }
            }
        } else {
            char num[24];
            int n = snprintf(num, sizeof num, "%zu", ip->len);
            o -= (size_t)n;
            memcpy(p + o, num, (size_t)n);
        }
        p[--o] = '/';
    }
    return p;
}

static char *schema_path(const struct schema_node *n, const char *kw)
{
    if (!kw)
        return tr_strdup(n->path);
    size_t a = strlen(n->path), b = strlen(kw);
    char *p = tr_malloc(a + 1 + b + 1);
    if (p) {
        memcpy(p, n->path, a);
        p[a] = '/';
        memcpy(p + a + 1, kw, b + 1);
    }
    return p;
}

__attribute__((format(printf, 5, 0))) static int
errs_push(struct schema_errors *e, const struct ipath *ip, const struct schema_node *n,
          const char *kw, const char *fmt, va_list ap)
{
    if (e->len >= e->max) {
        e->truncated = true;
        return V_STOP;
    }
    if (e->len == e->cap) {
        size_t cap = e->cap ? e->cap * 2 : 8;
        struct schema_error *nv = tr_realloc(e->v, cap * sizeof *nv);
        if (!nv)
            return TR_ENOMEM;
        e->v = nv;
        e->cap = cap;
    }
    va_list ap2;
    va_copy(ap2, ap);
    int mlen = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    struct schema_error er = {ipath_string(ip), schema_path(n, kw),
                              tr_malloc((size_t)(mlen > 0 ? mlen : 0) + 1)};
    if (!er.instance_path || !er.schema_path || !er.message || mlen < 0) {
        tr_free(er.instance_path);
        tr_free(er.schema_path);
        tr_free(er.message);
        return TR_ENOMEM;
    }
    vsnprintf(er.message, (size_t)mlen + 1, fmt, ap);
    e->v[e->len++] = er;
    return V_VALID;
}

/* Records a violation of keyword `kw` of `n` (NULL: the subschema itself). Returns V_VALID to go
 * on collecting, V_INVALID in verdict-only mode, or V_STOP / TR_ENOMEM to end the walk. */
__attribute__((format(printf, 5, 6))) static int fail(struct vctx *v, const struct ipath *ip,
                                                      const struct schema_node *n, const char *kw,
                                                      const char *fmt, ...)
{
    if (!v->errs)
        return V_INVALID;
    va_list ap;
    va_start(ap, fmt);
    int rc = errs_push(v->errs, ip, n, kw, fmt, ap);
    va_end(ap);
    return rc;
}

/* The one violation of a limit, recorded even under a verdict-only subschema. */
__attribute__((format(printf, 5, 6))) static int limit(struct vctx *v, const struct ipath *ip,
                                                       const struct schema_node *n, const char *kw,
                                                       const char *fmt, ...)
{
    if (v->report) {
        va_list ap;
        va_start(ap, fmt);
        int rc = errs_push(v->report, ip, n, kw, fmt, ap);
        va_end(ap);
        if (rc == TR_ENOMEM)
            return rc;
    }
    return TR_ELIMIT;
}

/* Report a violation; `bad` records it for the caller's verdict. */
#define REPORT(bad, ...)                                                                           \
    do {                                                                                           \
        int rep_rc_ = fail(__VA_ARGS__);                                                           \
        if (rep_rc_ != V_VALID)                                                                    \
            return rep_rc_;                                                                        \
        (bad) = 1;                                                                                 \
    } while (0)

/* Fold a subschema's result into `bad`. */
#define CHILD(bad, expr)                                                                           \
    do {                                                                                           \
        int child_rc_ = (expr);                                                                    \
        if (child_rc_ < 0)                                                                         \
            return child_rc_;                                                                      \
        if (child_rc_ == V_INVALID) {                                                              \
            if (!v->errs)                                                                          \
                return V_INVALID;                                                                  \
            (bad) = 1;                                                                             \
        }                                                                                          \
    } while (0)

/* Runs `n` on `j` verdict-only: V_VALID, V_INVALID or a TR_E* code. */
static int verdict(const struct vctx *v, const struct schema_node *n, const json_t *j,
                   const struct ipath *ip, size_t depth)
{
    struct vctx sub = *v;
    sub.errs = NULL;
    return validate_node(&sub, n, j, ip, depth);
}

/* ---- equality ---- */

static int number_equal(const json_t *a, const json_t *b)
{
    if (json_is_integer(a) && json_is_integer(b))
        return json_integer_value(a) == json_integer_value(b);
    return json_number_value(a) == json_number_value(b);
}

int schema__json_equal(const json_t *a, const json_t *b, size_t depth_left)
{
    if (json_is_number(a) && json_is_number(b))
        return number_equal(a, b);
    if (json_typeof(a) != json_typeof(b))
        return 0;
    switch (json_typeof(a)) {
    case JSON_STRING:
        return json_string_length(a) == json_string_length(b) &&
               memcmp(json_string_value(a), json_string_value(b), json_string_length(a)) == 0;
    case JSON_ARRAY:
        if (depth_left == 0)
            return TR_ELIMIT;
        if (json_array_size(a) != json_array_size(b))
            return 0;
        for (size_t i = 0; i < json_array_size(a); i++) {
            int r = schema__json_equal(json_array_get(a, i), json_array_get(b, i), depth_left - 1);
            if (r != 1)
                return r;
        }
        return 1;
    case JSON_OBJECT:
        if (depth_left == 0)
            return TR_ELIMIT;
        if (json_object_size(a) != json_object_size(b))
            return 0;
        for (void *it = json_object_iter((json_t *)a); it;
             it = json_object_iter_next((json_t *)a, it)) {
            const json_t *bv =
                json_object_getn(b, json_object_iter_key(it), json_object_iter_key_len(it));
            int r = bv ? schema__json_equal(json_object_iter_value(it), bv, depth_left - 1) : 0;
            if (r != 1)
                return r;
        }
        return 1;
    default: /* true, false, null: the type is the value */
        return 1;
    }
}

/* ---- type ---- */

/* Whole-number test without libm: every double of magnitude >= 2^52 is a whole number. */
static bool is_whole(double d)
{
    if (d != d || d - d != 0) /* NaN, or infinite */
        return false;
    if (d >= 4503599627370496.0 || d <= -4503599627370496.0)
        return true;
    return d == (double)(long long)d;
}

static double abs_double(double d)
{
    return d < 0 ? -d : d;
}

/* Nearest whole number (ties away from zero); `d` is finite. */
static double round_whole(double d)
{
    if (d >= 4503599627370496.0 || d <= -4503599627370496.0)
        return d;
    return (double)(long long)(d < 0 ? d - 0.5 : d + 0.5);
}

static uint32_t instance_types(const json_t *j)
{
    switch (json_typeof(j)) {
    case JSON_OBJECT:
        return SCHEMA__T_OBJECT;
    case JSON_ARRAY:
        return SCHEMA__T_ARRAY;
    case JSON_STRING:
        return SCHEMA__T_STRING;
    case JSON_INTEGER:
        return SCHEMA__T_NUMBER | SCHEMA__T_INTEGER;
    case JSON_REAL: {
        /* Draft-07 validation §6.1.1 / core §4.2.2: a number with a zero fractional part is
         * an integer, so 1.0 is one. */
        double d = json_real_value(j);
        return SCHEMA__T_NUMBER | (is_whole(d) ? SCHEMA__T_INTEGER : 0u);
    }
    case JSON_TRUE:
    case JSON_FALSE:
        return SCHEMA__T_BOOLEAN;
    default:
        return SCHEMA__T_NULL;
    }
}

static const char *instance_type_name(const json_t *j)
{
    static const char *const names[] = {"object", "array",   "string",  "number",
                                        "number", "boolean", "boolean", "null"};
    return names[json_typeof(j)];
}

static int check_type(struct vctx *v, const struct schema_node *n, const json_t *j,
                      const struct ipath *ip)
{
    static const char *const names[] = {"null",   "boolean", "object", "array",
                                        "number", "string",  "integer"};
    char want[80] = "";
    size_t o = 0;
    for (size_t i = 0; i < 7; i++) {
        if (n->types & (1u << i)) {
            int w = snprintf(want + o, sizeof want - o, "%s%s", o ? " or " : "", names[i]);
            o += (size_t)w;
        }
    }
    return fail(v, ip, n, "type", "must be %s, got %s", want, instance_type_name(j));
}

/* ---- numbers (draft-07 validation §6.2) ---- */

static int num_cmp(const json_t *j, const struct schema__num *b)
{
    if (json_is_integer(j) && b->is_int) {
        long long x = json_integer_value(j);
        return x < b->i ? -1 : x > b->i;
    }
    double x = json_number_value(j);
    return x < b->d ? -1 : x > b->d;
}

static bool multiple_of(const json_t *j, const struct schema__num *m)
{
    if (json_is_integer(j) && m->is_int)
        return json_integer_value(j) % m->i == 0;
    double q = json_number_value(j) / m->d;
    if (q != q || q - q != 0) /* NaN or infinite: 1e308 / 0.123 overflows */
        return false;
    /* Binary floating point cannot hold 0.0001 exactly, so 0.0075 / 0.0001 is 74.99999999999999:
     * accept quotients within a relative 1e-9 of an integer. */
    double tol = 1e-9 * (abs_double(q) > 1 ? abs_double(q) : 1);
    return abs_double(q - round_whole(q)) <= tol;
}

static int validate_number(struct vctx *v, const struct schema_node *n, const json_t *j,
                           const struct ipath *ip)
{
    int bad = 0;
    uint32_t k = n->keys;
    if ((k & SCHEMA__K_MULTIPLE_OF) && !multiple_of(j, &n->multiple_of))
        REPORT(bad, v, ip, n, "multipleOf", "must be a multiple of %s", n->multiple_of.text);
    if ((k & SCHEMA__K_MAXIMUM) && num_cmp(j, &n->maximum) > 0)
        REPORT(bad, v, ip, n, "maximum", "must be <= %s", n->maximum.text);
    if ((k & SCHEMA__K_EXCL_MAXIMUM) && num_cmp(j, &n->excl_maximum) >= 0)
        REPORT(bad, v, ip, n, "exclusiveMaximum", "must be < %s", n->excl_maximum.text);
    if ((k & SCHEMA__K_MINIMUM) && num_cmp(j, &n->minimum) < 0)
        REPORT(bad, v, ip, n, "minimum", "must be >= %s", n->minimum.text);
    if ((k & SCHEMA__K_EXCL_MINIMUM) && num_cmp(j, &n->excl_minimum) <= 0)
        REPORT(bad, v, ip, n, "exclusiveMinimum", "must be > %s", n->excl_minimum.text);
    return bad;
}

/* ---- strings (draft-07 validation §6.3, §7) ---- */

/* Length in Unicode code points (draft-07 validation §6.3.1): UTF-8 lead bytes. */
static size_t utf8_length(const char *s, size_t len)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++)
        n += ((unsigned char)s[i] & 0xC0u) != 0x80u;
    return n;
}

static int validate_pattern(struct vctx *v, const struct schema_node *n, const char *s, size_t len,
                            const struct ipath *ip)
{
    int m = schema__regex_search(n->pattern, s, len);
    int rc;
    if (m == 1)
        return V_VALID;
    if (m == TR_ELIMIT)
        return limit(v, ip, n, "pattern", "matching pattern %s exceeded the regex match limit",
                     n->pattern_src);
    if (m == 0)
        rc = fail(v, ip, n, "pattern", "must match pattern %s", n->pattern_src);
    else if (m == TR_EINVAL)
        rc = fail(v, ip, n, "pattern", "is not valid UTF-8, cannot match pattern %s",
                  n->pattern_src);
    else
        return m;
    return rc == V_VALID ? V_INVALID : rc;
}

static int validate_string(struct vctx *v, const struct schema_node *n, const json_t *j,
                           const struct ipath *ip)
{
    int bad = 0;
    const char *s = json_string_value(j);
    size_t len = json_string_length(j);
    if (n->keys & (SCHEMA__K_MAX_LENGTH | SCHEMA__K_MIN_LENGTH)) {
        size_t cps = utf8_length(s, len);
        if ((n->keys & SCHEMA__K_MAX_LENGTH) && cps > n->max_length)
            REPORT(bad, v, ip, n, "maxLength", "must have at most %zu characters", n->max_length);
        if ((n->keys & SCHEMA__K_MIN_LENGTH) && cps < n->min_length)
            REPORT(bad, v, ip, n, "minLength", "must have at least %zu characters", n->min_length);
    }
    if (n->keys & SCHEMA__K_PATTERN) {
        CHILD(bad, validate_pattern(v, n, s, len, ip));
    }
    if ((n->keys & SCHEMA__K_FORMAT) && schema_format_check(n->format, s, len) == 0)
        REPORT(bad, v, ip, n, "format", "must be a valid %s", n->format);
    return bad;
}

/* ---- arrays (draft-07 validation §6.4) ---- */

static int validate_unique(struct vctx *v, const struct schema_node *n, const json_t *j,
                           const struct ipath *ip, size_t depth)
{
    size_t len = json_array_size(j);
    size_t left = v->s->limits.max_depth > depth ? v->s->limits.max_depth - depth : 0;
    for (size_t a = 0; a < len; a++) {
        for (size_t b = a + 1; b < len; b++) {
            int eq = schema__json_equal(json_array_get(j, a), json_array_get(j, b), left);
            if (eq < 0)
                return limit(v, ip, n, "uniqueItems", "nested deeper than the limit of %zu levels",
                             v->s->limits.max_depth);
            if (eq) {
                int rc =
                    fail(v, ip, n, "uniqueItems",
                         "must not contain duplicate items (items %zu and %zu are equal)", a, b);
                return rc == V_VALID ? V_INVALID : rc;
            }
        }
    }
    return V_VALID;
}

static int validate_items(struct vctx *v, const struct schema_node *n, const json_t *j,
                          const struct ipath *ip, size_t depth)
{
    int bad = 0;
    size_t len = json_array_size(j), i = 0;
    if (n->items_is_array) {
        for (; i < len && i < n->items_arr_len; i++) {
            struct ipath cip = {ip, NULL, i};
            CHILD(bad, validate_node(v, n->items_arr[i], json_array_get(j, i), &cip, depth + 1));
        }
        if (i < len && n->additional_items && n->additional_items->boolean == 0) {
            REPORT(bad, v, ip, n, "additionalItems", "must have at most %zu items",
                   n->items_arr_len);
            return bad;
        }
    }
    const struct schema_node *rest = n->items_is_array ? n->additional_items : n->items;
    for (; rest && i < len; i++) {
        struct ipath cip = {ip, NULL, i};
        CHILD(bad, validate_node(v, rest, json_array_get(j, i), &cip, depth + 1));
    }
    return bad;
}

static int validate_array(struct vctx *v, const struct schema_node *n, const json_t *j,
                          const struct ipath *ip, size_t depth)
{
    int bad = 0;
    size_t len = json_array_size(j);
    if ((n->keys & SCHEMA__K_MAX_ITEMS) && len > n->max_items)
        REPORT(bad, v, ip, n, "maxItems", "must have at most %zu items", n->max_items);
    if ((n->keys & SCHEMA__K_MIN_ITEMS) && len < n->min_items)
        REPORT(bad, v, ip, n, "minItems", "must have at least %zu items", n->min_items);
    if (n->keys & SCHEMA__K_UNIQUE_ITEMS)
        CHILD(bad, validate_unique(v, n, j, ip, depth));
    CHILD(bad, validate_items(v, n, j, ip, depth));
    if (n->contains) {
        int found = 0;
        for (size_t i = 0; i < len && !found; i++) {
            struct ipath cip = {ip, NULL, i};
            int rc = verdict(v, n->contains, json_array_get(j, i), &cip, depth + 1);
            if (rc < 0)
                return rc;
            found = rc == V_VALID;
        }
        if (!found)
            REPORT(bad, v, ip, n, "contains",
                   "must contain at least one item valid against the schema in contains");
    }
    return bad;
}

/* ---- objects (draft-07 validation §6.5) ---- */

static const struct schema__prop *prop_find(const struct schema_node *n, const char *key,
                                            size_t len)
{
    size_t lo = 0, hi = n->props_len;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const struct schema__prop *p = &n->props[mid];
        int c = p->len != len ? (p->len < len ? -1 : 1) : memcmp(p->name, key, len);
        if (c == 0)
            return p;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

static int validate_property_name(struct vctx *v, const struct schema_node *n, const char *key,
                                  size_t len, const struct ipath *ip, size_t depth)
{
    /* propertyNames takes any schema, which takes a json_t: the one allocation of a valid
     * walk, paid only by schemas that use this keyword. */
    json_t *name = json_stringn_nocheck(key, len);
    if (!name)
        return TR_ENOMEM;
    int rc = verdict(v, n->property_names, name, ip, depth);
    json_decref(name);
    if (rc != V_INVALID)
        return rc;
    rc = fail(v, ip, n, "propertyNames", "property name %.*s is not valid against propertyNames",
              (int)len, key);
    return rc == V_VALID ? V_INVALID : rc;
}

/* One member of the instance: properties, patternProperties, additionalProperties, propertyNames.
 * *required_seen counts members that are required properties. */
static int validate_member(struct vctx *v, const struct schema_node *n, const char *key, size_t len,
                           const json_t *val, const struct ipath *ip, size_t depth,
                           size_t *required_seen)
{
    int bad = 0, matched = 0;
    struct ipath cip = {ip, key, len};
    const struct schema__prop *p = n->props_len ? prop_find(n, key, len) : NULL;
    if (p) {
        matched = 1;
        *required_seen += p->required_slot != 0;
        CHILD(bad, validate_node(v, p->node, val, &cip, depth + 1));
    }
    for (size_t i = 0; i < n->pattern_props_len; i++) {
        int m = schema__regex_search(n->pattern_props[i].re, key, len);
        if (m == TR_ELIMIT)
            return limit(v, ip, n->pattern_props[i].node, NULL,
                         "matching property name against %s exceeded the regex match limit",
                         n->pattern_props[i].source);
        if (m < 0 && m != TR_EINVAL)
            return m;
        if (m == 1) {
            matched = 1;
            CHILD(bad, validate_node(v, n->pattern_props[i].node, val, &cip, depth + 1));
        }
    }
    if (!matched && n->additional_props) {
        if (n->additional_props->boolean == 0)
            REPORT(bad, v, ip, n, "additionalProperties", "property %.*s is not allowed", (int)len,
                   key);
        else
            CHILD(bad, validate_node(v, n->additional_props, val, &cip, depth + 1));
    }
    if (n->property_names)
        CHILD(bad, validate_property_name(v, n, key, len, ip, depth));
    return bad;
}

static int validate_dependencies(struct vctx *v, const struct schema_node *n, const json_t *j,
                                 const struct ipath *ip, size_t depth)
{
    int bad = 0;
    for (size_t i = 0; i < n->deps_len; i++) {
        const struct schema__dep *d = &n->deps[i];
        if (!json_object_getn(j, d->name.name, d->name.len))
            continue;
        if (d->node) {
            CHILD(bad, validate_node(v, d->node, j, ip, depth));
            continue;
        }
        for (size_t k = 0; k < d->names_len; k++) {
            if (json_object_getn(j, d->names[k].name, d->names[k].len))
                continue;
            if (!v->errs)
                return V_INVALID;
            char *kw = schema__path_join("dependencies", d->name.name, d->name.len);
            if (!kw)
                return TR_ENOMEM;
            int rc = fail(v, ip, n, kw, "property %s requires property %s", d->name.name,
                          d->names[k].name);
            tr_free(kw);
            if (rc != V_VALID)
                return rc;
            bad = 1;
        }
    }
    return bad;
}

static int validate_object(struct vctx *v, const struct schema_node *n, const json_t *j,
                           const struct ipath *ip, size_t depth)
{
    int bad = 0;
    size_t size = json_object_size(j), required_seen = 0;
    if ((n->keys & SCHEMA__K_MAX_PROPS) && size > n->max_props)
        REPORT(bad, v, ip, n, "maxProperties", "must have at most %zu properties", n->max_props);
    if ((n->keys & SCHEMA__K_MIN_PROPS) && size < n->min_props)
        REPORT(bad, v, ip, n, "minProperties", "must have at least %zu properties", n->min_props);
    if (n->props_len || n->pattern_props_len || n->additional_props || n->property_names) {
        for (void *it = json_object_iter((json_t *)j); it;
             it = json_object_iter_next((json_t *)j, it))
            CHILD(bad, validate_member(v, n, json_object_iter_key(it), json_object_iter_key_len(it),
                                       json_object_iter_value(it), ip, depth, &required_seen));
    }
    /* Required properties all seen in the pass above need no lookups. */
    for (size_t i = 0; required_seen < n->required_len && i < n->required_len; i++) {
        if (!json_object_getn(j, n->required[i].name, n->required[i].len))
            REPORT(bad, v, ip, n, "required", "missing required property %s", n->required[i].name);
    }
    if (n->deps_len)
        CHILD(bad, validate_dependencies(v, n, j, ip, depth));
    return bad;
}

/* ---- enum, const (draft-07 validation §6.1.2–6.1.3) ---- */

/* Writes the enum values as "a, b, 3" into buf, strings unquoted, cut short with "…". */
static void enum_text(const json_t *values, char *buf, size_t len)
{
    size_t o = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < json_array_size(values) && o + 1 < len; i++) {
        const json_t *e = json_array_get(values, i);
        char *dumped = json_is_string(e) ? NULL : json_dumps(e, JSON_COMPACT | JSON_ENCODE_ANY);
        const char *t = json_is_string(e) ? json_string_value(e) : dumped ? dumped : "?";
        int w = snprintf(buf + o, len - o, "%s%s", i ? ", " : "", t);
        free(dumped); /* json_dumps allocates with jansson's allocator, libc by default */
        o = w < 0 || (size_t)w >= len - o ? len : o + (size_t)w;
    }
    if (o >= len && len > 4)
        memcpy(buf + len - 4, "...", 4);
}

static int validate_enum(struct vctx *v, const struct schema_node *n, const json_t *j,
                         const struct ipath *ip, size_t depth)
{
    size_t left = v->s->limits.max_depth > depth ? v->s->limits.max_depth - depth : 0;
    for (size_t i = 0; i < json_array_size(n->enum_values); i++) {
        int eq = schema__json_equal(json_array_get(n->enum_values, i), j, left);
        if (eq == 1)
            return V_VALID;
        if (eq < 0)
            return limit(v, ip, n, "enum", "nested deeper than the limit of %zu levels",
                         v->s->limits.max_depth);
    }
    if (!v->errs)
        return V_INVALID;
    char text[400];
    enum_text(n->enum_values, text, sizeof text);
    int rc = fail(v, ip, n, "enum", "must be one of: %s", text);
    return rc == V_VALID ? V_INVALID : rc;
}

static int validate_const(struct vctx *v, const struct schema_node *n, const json_t *j,
                          const struct ipath *ip, size_t depth)
{
    size_t left = v->s->limits.max_depth > depth ? v->s->limits.max_depth - depth : 0;
    int eq = schema__json_equal(n->const_value, j, left);
    if (eq == 1)
        return V_VALID;
    if (eq < 0)
        return limit(v, ip, n, "const", "nested deeper than the limit of %zu levels",
                     v->s->limits.max_depth);
    if (!v->errs)
        return V_INVALID;
    char *t = json_dumps(n->const_value, JSON_COMPACT | JSON_ENCODE_ANY);
    int rc = fail(v, ip, n, "const", "must be equal to %.300s", t ? t : "the constant");
    free(t);
    return rc == V_VALID ? V_INVALID : rc;
}

/* ---- applicators (draft-07 validation §6.6–6.7) ---- */

static int validate_any_one(struct vctx *v, const struct schema_node *n, const json_t *j,
                            const struct ipath *ip, size_t depth)
{
    int bad = 0;
    if (n->any_of_len) {
        int ok = 0;
        for (size_t i = 0; i < n->any_of_len && !ok; i++) {
            int rc = verdict(v, n->any_of[i], j, ip, depth);
            if (rc < 0)
                return rc;
            ok = rc == V_VALID;
        }
        if (!ok)
            REPORT(bad, v, ip, n, "anyOf", "must match at least one schema in anyOf");
    }
    if (n->one_of_len) {
        size_t matched = 0;
        for (size_t i = 0; i < n->one_of_len && (v->errs || matched < 2); i++) {
            int rc = verdict(v, n->one_of[i], j, ip, depth);
            if (rc < 0)
                return rc;
            matched += rc == V_VALID;
        }
        if (matched != 1)
            REPORT(bad, v, ip, n, "oneOf", "must match exactly one schema in oneOf (matched %zu)",
                   matched);
    }
    return bad;
}

static int validate_applicators(struct vctx *v, const struct schema_node *n, const json_t *j,
                                const struct ipath *ip, size_t depth)
{
    int bad = 0;
    for (size_t i = 0; i < n->all_of_len; i++)
        CHILD(bad, validate_node(v, n->all_of[i], j, ip, depth));
    if (n->any_of_len || n->one_of_len)
        CHILD(bad, validate_any_one(v, n, j, ip, depth));
    if (n->not_) {
        int rc = verdict(v, n->not_, j, ip, depth);
        if (rc < 0)
            return rc;
        if (rc == V_VALID)
            REPORT(bad, v, ip, n, "not", "must NOT be valid against the schema in not");
    }
    if (n->if_) {
        int rc = verdict(v, n->if_, j, ip, depth);
        if (rc < 0)
            return rc;
        const struct schema_node *branch = rc == V_VALID ? n->then_ : n->else_;
        if (branch)
            CHILD(bad, validate_node(v, branch, j, ip, depth));
    }
    return bad;
}

/* ---- the walk ---- */

static int validate_by_type(struct vctx *v, const struct schema_node *n, const json_t *j,
                            const struct ipath *ip, size_t depth)
{
    switch (json_typeof(j)) {
    case JSON_INTEGER:
    case JSON_REAL:
        return (n->keys & SCHEMA__K_NUMERIC) ? validate_number(v, n, j, ip) : V_VALID;
    case JSON_STRING:
        return (n->keys & SCHEMA__K_STRING) ? validate_string(v, n, j, ip) : V_VALID;
    case JSON_ARRAY:
        return validate_array(v, n, j, ip, depth);
    case JSON_OBJECT:
        return validate_object(v, n, j, ip, depth);
    default:
        return V_VALID;
    }
}

static int validate_node(struct vctx *v, const struct schema_node *n, const json_t *j,
                         const struct ipath *ip, size_t depth)
{
    while (n->ref) /* siblings of $ref are ignored; compile refused ref-only cycles */
        n = n->ref;
    if (n->boolean == 1)
        return V_VALID;
    if (n->boolean == 0) {
        int rc = fail(v, ip, n, NULL, "is not allowed here (the schema is false)");
        return rc == V_VALID ? V_INVALID : rc;
    }
    if ((json_is_object(j) || json_is_array(j)) && depth + 1 > v->s->limits.max_depth)
        return limit(v, ip, n, NULL, "nested deeper than the limit of %zu levels",
                     v->s->limits.max_depth);
    if (++v->frames > v->max_frames)
        return limit(v, ip, n, NULL, "schema recursion deeper than the limit of %zu steps",
                     v->max_frames);
    int bad = 0;
    if ((n->keys & SCHEMA__K_TYPE) && !(n->types & instance_types(j))) {
        int rc = check_type(v, n, j, ip);
        if (rc != V_VALID)
            return rc;
        bad = 1;
    }
    CHILD(bad, validate_by_type(v, n, j, ip, depth));
    if (n->keys & SCHEMA__K_ENUM)
        CHILD(bad, validate_enum(v, n, j, ip, depth));
    if (n->keys & SCHEMA__K_CONST)
        CHILD(bad, validate_const(v, n, j, ip, depth));
    if (n->all_of_len || n->any_of_len || n->one_of_len || n->not_ || n->if_)
        CHILD(bad, validate_applicators(v, n, j, ip, depth));
    /* Early returns skip this: they end the walk, or end a verdict-only copy of the context. */
    v->frames--;
    return bad;
}

int schema_validate(const struct schema *s, const struct schema_node *node, const json_t *instance,
                    struct schema_errors *errs)
{
    TR_ASSERT(s && node && instance);
    if (errs && errs->max == 0)
        errs->max = s->limits.max_errors;
    struct vctx v = {
        .s = s,
        .errs = errs,
        .report = errs,
        .max_frames = s->limits.max_depth * V_FRAMES_PER_LEVEL + 64,
    };
    int rc = validate_node(&v, node, instance, NULL, 0);
    if (rc == V_VALID)
        return TR_OK;
    if (rc == V_INVALID || rc == V_STOP)
        return TR_EINVALID;
    return rc;
}
