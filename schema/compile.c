/* compile.c — schema_compile: turns a draft-07 document (json_t) into the node table of
 * schema_int.h, checking every keyword's value type (draft-07 validation §6) and naming the
 * schema path of anything wrong. Invariant: a compiled schema owns all it uses and never changes
 * again, so any number of threads may validate with it. $id/$ref live in compile_ref.c. */
#include "schema/schema_int.h"
#include "common/alloc.h"
#include "common/err.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The base URI of a document without `$id` (RFC 3986 §5.1.4: an application default). Relative
 * references resolve against it; nothing is ever fetched from it. */
#define SCHEMA_DEFAULT_BASE "https://treaty.invalid/schema.json"

int schema__compile_fail(struct schema__compiler *c, int rc, const char *fmt, ...)
{
    if (c->errmsg && c->errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(c->errmsg, c->errlen, fmt, ap);
        va_end(ap);
    }
    return rc;
}

static const char *disp(const char *path)
{
    return path[0] ? path : "(root)";
}

/* ---- small value helpers ---- */

/* The shortest "%.*g" text that reads back as `d`. */
static void num_text(double d, char *buf, size_t len)
{
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(buf, len, "%.*g", prec, d);
        if (strtod(buf, NULL) == d)
            return;
    }
}

static int kw_number(struct schema__compiler *c, const struct schema_node *n, const char *kw,
                     const json_t *v, struct schema__num *out)
{
    if (!json_is_number(v))
        return schema__compile_fail(c, TR_ESCHEMA, "%s/%s: must be a number", n->path, kw);
    out->d = json_number_value(v);
    out->is_int = json_is_integer(v);
    if (out->is_int) {
        out->i = json_integer_value(v);
        snprintf(out->text, sizeof out->text, "%lld", out->i);
    } else {
        num_text(out->d, out->text, sizeof out->text);
    }
    return TR_OK;
}

/* A non-negative integer keyword value; 2.0 counts as an integer (draft-07 validation §4.2). */
static int kw_count(struct schema__compiler *c, const struct schema_node *n, const char *kw,
                    const json_t *v, size_t *out)
{
    if (json_is_integer(v) && json_integer_value(v) >= 0) {
        *out = (size_t)json_integer_value(v);
        return TR_OK;
    }
    double d = json_is_real(v) ? json_real_value(v) : -1;
    if (d >= 0 && d < 9007199254740992.0 && d == (double)(long long)d) {
        *out = (size_t)d;
        return TR_OK;
    }
    return schema__compile_fail(c, TR_ESCHEMA, "%s/%s: must be a non-negative integer", n->path,
                                kw);
}

static char *str_dup(const json_t *v, size_t *len)
{
    *len = json_string_length(v);
    return tr_strndup(json_string_value(v), *len);
}

/* Compiles subschema `v` found at n->path + "/" + kw [+ "/" + key]. */
static int sub(struct schema__compiler *c, const struct schema_node *n, const char *kw,
               const char *key, size_t key_len, const json_t *v, const char *base, size_t depth,
               struct schema_node **out)
{
    char *p = schema__path_join(n->path, kw, strlen(kw));
    if (p && key) {
        char *q = schema__path_join(p, key, key_len);
        tr_free(p);
        p = q;
    }
    if (!p)
        return TR_ENOMEM;
    return schema__compile_node(c, v, p, base, depth + 1, out);
}

static int sub_at(struct schema__compiler *c, const struct schema_node *n, const char *kw, size_t i,
                  const json_t *v, const char *base, size_t depth, struct schema_node **out)
{
    char idx[24];
    int len = snprintf(idx, sizeof idx, "%zu", i);
    return sub(c, n, kw, idx, (size_t)len, v, base, depth, out);
}

/* ---- keywords ---- */

static const struct {
    const char *name;
    uint32_t bit;
} type_names[] = {
    {"null", SCHEMA__T_NULL},       {"boolean", SCHEMA__T_BOOLEAN}, {"object", SCHEMA__T_OBJECT},
    {"array", SCHEMA__T_ARRAY},     {"number", SCHEMA__T_NUMBER},   {"string", SCHEMA__T_STRING},
    {"integer", SCHEMA__T_INTEGER},
};

static int type_bit(struct schema__compiler *c, const struct schema_node *n, const json_t *v,
                    uint32_t *bits)
{
    if (json_is_string(v)) {
        for (size_t i = 0; i < sizeof type_names / sizeof type_names[0]; i++) {
            if (strcmp(json_string_value(v), type_names[i].name) == 0) {
                *bits |= type_names[i].bit;
                return TR_OK;
            }
        }
        return schema__compile_fail(c, TR_ESCHEMA, "%s/type: unknown type \"%s\"", n->path,
                                    json_string_value(v));
    }
    return schema__compile_fail(c, TR_ESCHEMA, "%s/type: must be a type name or an array of them",
                                n->path);
}

static int kw_type(struct schema__compiler *c, struct schema_node *n, const json_t *v)
{
    n->keys |= SCHEMA__K_TYPE;
    if (!json_is_array(v))
        return type_bit(c, n, v, &n->types);
    for (size_t i = 0; i < json_array_size(v); i++) {
        int rc = type_bit(c, n, json_array_get(v, i), &n->types);
        if (rc != TR_OK)
            return rc;
    }
    return TR_OK;
}

/* A list of strings (required, dependencies): owned copies with their lengths. */
static int names_list(struct schema__compiler *c, const char *where, const json_t *v,
                      struct schema__name **out, size_t *out_len)
{
    if (!json_is_array(v))
        return schema__compile_fail(c, TR_ESCHEMA, "%s: must be an array of strings", where);
    size_t len = json_array_size(v);
    *out = tr_calloc(len ? len : 1, sizeof **out);
    if (!*out)
        return TR_ENOMEM;
    for (size_t i = 0; i < len; i++) {
        const json_t *e = json_array_get(v, i);
        if (!json_is_string(e))
            return schema__compile_fail(c, TR_ESCHEMA, "%s/%zu: must be a string", where, i);
        (*out)[i].name = str_dup(e, &(*out)[i].len);
        if (!(*out)[i].name)
            return TR_ENOMEM;
        (*out_len)++;
    }
    return TR_OK;
}

static int kw_regex(struct schema__compiler *c, const char *where, const char *src, size_t len,
                    struct schema__regex **out)
{
    char msg[200];
    int rc = schema__regex_compile(src, len, out, msg, sizeof msg);
    if (rc == TR_ESCHEMA)
        return schema__compile_fail(c, rc, "%s: invalid regex: %s", where, msg);
    return rc;
}

static int kw_pattern(struct schema__compiler *c, struct schema_node *n, const json_t *v)
{
    if (!json_is_string(v))
        return schema__compile_fail(c, TR_ESCHEMA, "%s/pattern: must be a string", n->path);
    size_t len;
    n->pattern_src = str_dup(v, &len);
    if (!n->pattern_src)
        return TR_ENOMEM;
    char where[512];
    snprintf(where, sizeof where, "%s/pattern", n->path);
    n->keys |= SCHEMA__K_PATTERN;
    return kw_regex(c, where, n->pattern_src, len, &n->pattern);
}

static int kw_format(struct schema__compiler *c, struct schema_node *n, const json_t *v)
{
    if (!json_is_string(v))
        return schema__compile_fail(c, TR_ESCHEMA, "%s/format: must be a string", n->path);
    /* Unknown formats are annotations only (draft-07 validation §7.2): keep asserted ones. */
    if (schema_format_check(json_string_value(v), "", 0) < 0)
        return TR_OK;
    n->format = tr_strdup(json_string_value(v));
    if (!n->format)
        return TR_ENOMEM;
    n->keys |= SCHEMA__K_FORMAT;
    return TR_OK;
}

static int kw_schema_array(struct schema__compiler *c, struct schema_node *n, const char *kw,
                           const json_t *v, const char *base, size_t depth,
                           struct schema_node ***out, size_t *out_len)
{
    if (!json_is_array(v) || json_array_size(v) == 0)
        return schema__compile_fail(c, TR_ESCHEMA, "%s/%s: must be a non-empty array of schemas",
                                    n->path, kw);
    size_t len = json_array_size(v);
    *out = tr_calloc(len, sizeof **out);
    if (!*out)
        return TR_ENOMEM;
    for (size_t i = 0; i < len; i++) {
        int rc = sub_at(c, n, kw, i, json_array_get(v, i), base, depth, &(*out)[i]);
        if (rc != TR_OK)
            return rc;
        (*out_len)++;
    }
    return TR_OK;
}

static int kw_items(struct schema__compiler *c, struct schema_node *n, const json_t *v,
                    const char *base, size_t depth)
{
    if (!json_is_array(v))
        return sub(c, n, "items", NULL, 0, v, base, depth, &n->items);
    n->items_is_array = true;
    size_t len = json_array_size(v);
    n->items_arr = tr_calloc(len ? len : 1, sizeof *n->items_arr);
    if (!n->items_arr)
        return TR_ENOMEM;
    for (size_t i = 0; i < len; i++) {
        int rc = sub_at(c, n, "items", i, json_array_get(v, i), base, depth, &n->items_arr[i]);
        if (rc != TR_OK)
            return rc;
        n->items_arr_len++;
    }
    return TR_OK;
}

static int need_object(struct schema__compiler *c, const struct schema_node *n, const char *kw,
                       const json_t *v)
{
    if (json_is_object(v))
        return TR_OK;
    return schema__compile_fail(c, TR_ESCHEMA, "%s/%s: must be an object", n->path, kw);
}

static int kw_properties(struct schema__compiler *c, struct schema_node *n, const json_t *v,
                         const char *base, size_t depth)
{
    int rc = need_object(c, n, "properties", v);
    if (rc != TR_OK)
        return rc;
    n->props = tr_calloc(json_object_size(v) + 1, sizeof *n->props);
    if (!n->props)
        return TR_ENOMEM;
    for (void *it = json_object_iter((json_t *)v); it;
         it = json_object_iter_next((json_t *)v, it)) {
        struct schema__prop *p = &n->props[n->props_len];
        p->len = json_object_iter_key_len(it);
        p->name = tr_strndup(json_object_iter_key(it), p->len);
        if (!p->name)
            return TR_ENOMEM;
        n->props_len++;
        rc = sub(c, n, "properties", p->name, p->len, json_object_iter_value(it), base, depth,
                 &p->node);
        if (rc != TR_OK)
            return rc;
    }
    return TR_OK;
}

static int kw_pattern_props(struct schema__compiler *c, struct schema_node *n, const json_t *v,
                            const char *base, size_t depth)
{
    int rc = need_object(c, n, "patternProperties", v);
    if (rc != TR_OK)
        return rc;
    n->pattern_props = tr_calloc(json_object_size(v) + 1, sizeof *n->pattern_props);
    if (!n->pattern_props)
        return TR_ENOMEM;
    for (void *it = json_object_iter((json_t *)v); it;
         it = json_object_iter_next((json_t *)v, it)) {
        struct schema__pattern_prop *p = &n->pattern_props[n->pattern_props_len];
        size_t len = json_object_iter_key_len(it);
        p->source = tr_strndup(json_object_iter_key(it), len);
        if (!p->source)
            return TR_ENOMEM;
        n->pattern_props_len++;
        rc = sub(c, n, "patternProperties", p->source, len, json_object_iter_value(it), base, depth,
                 &p->node);
        if (rc != TR_OK)
            return rc;
        rc = kw_regex(c, p->node->path, p->source, len, &p->re);
        if (rc != TR_OK)
            return rc;
    }
    return TR_OK;
}

static int kw_definitions(struct schema__compiler *c, struct schema_node *n, const json_t *v,
                          const char *base, size_t depth)
{
    int rc = need_object(c, n, "definitions", v);
    for (void *it = json_object_iter((json_t *)v); it && rc == TR_OK;
         it = json_object_iter_next((json_t *)v, it)) {
        struct schema_node *unused;
        rc = sub(c, n, "definitions", json_object_iter_key(it), json_object_iter_key_len(it),
                 json_object_iter_value(it), base, depth, &unused);
    }
    return rc;
}

static int kw_dependencies(struct schema__compiler *c, struct schema_node *n, const json_t *v,
                           const char *base, size_t depth)
{
    int rc = need_object(c, n, "dependencies", v);
    if (rc != TR_OK)
        return rc;
    n->deps = tr_calloc(json_object_size(v) + 1, sizeof *n->deps);
    if (!n->deps)
        return TR_ENOMEM;
    for (void *it = json_object_iter((json_t *)v); it;
         it = json_object_iter_next((json_t *)v, it)) {
        struct schema__dep *d = &n->deps[n->deps_len];
        d->name.len = json_object_iter_key_len(it);
        d->name.name = tr_strndup(json_object_iter_key(it), d->name.len);
        if (!d->name.name)
            return TR_ENOMEM;
        n->deps_len++;
        const json_t *dv = json_object_iter_value(it);
        if (json_is_array(dv)) {
            char *where = schema__path_join(n->path, "dependencies", 12);
            char *w2 = where ? schema__path_join(where, d->name.name, d->name.len) : NULL;
            rc = w2 ? names_list(c, w2, dv, &d->names, &d->names_len) : TR_ENOMEM;
            tr_free(where);
            tr_free(w2);
        } else {
            rc = sub(c, n, "dependencies", d->name.name, d->name.len, dv, base, depth, &d->node);
        }
        if (rc != TR_OK)
            return rc;
    }
    return TR_OK;
}

static int kw_required(struct schema__compiler *c, struct schema_node *n, const json_t *v)
{
    char where[512];
    snprintf(where, sizeof where, "%s/required", n->path);
    n->keys |= SCHEMA__K_REQUIRED;
    return names_list(c, where, v, &n->required, &n->required_len);
}

static int kw_value_copy(struct schema_node *n, uint32_t bit, const json_t *v, json_t **out)
{
    *out = json_deep_copy(v);
    if (!*out)
        return TR_ENOMEM;
    n->keys |= bit;
    return TR_OK;
}

#define NODE_FIELD(node, off, type) ((type *)(void *)((char *)(node) + (off)))

static const struct {
    const char *name;
    uint32_t bit;
    size_t off;
} num_kws[] =
    {
        {"multipleOf", SCHEMA__K_MULTIPLE_OF, offsetof(struct schema_node, multiple_of)},
        {"maximum", SCHEMA__K_MAXIMUM, offsetof(struct schema_node, maximum)},
        {"exclusiveMaximum", SCHEMA__K_EXCL_MAXIMUM, offsetof(struct schema_node, excl_maximum)},
        {"minimum", SCHEMA__K_MINIMUM, offsetof(struct schema_node, minimum)},
        {"exclusiveMinimum", SCHEMA__K_EXCL_MINIMUM, offsetof(struct schema_node, excl_minimum)},
},
  count_kws[] = {
      {"maxLength", SCHEMA__K_MAX_LENGTH, offsetof(struct schema_node, max_length)},
      {"minLength", SCHEMA__K_MIN_LENGTH, offsetof(struct schema_node, min_length)},
      {"maxItems", SCHEMA__K_MAX_ITEMS, offsetof(struct schema_node, max_items)},
      {"minItems", SCHEMA__K_MIN_ITEMS, offsetof(struct schema_node, min_items)},
      {"maxProperties", SCHEMA__K_MAX_PROPS, offsetof(struct schema_node, max_props)},
      {"minProperties", SCHEMA__K_MIN_PROPS, offsetof(struct schema_node, min_props)},
};

static const struct {
    const char *name;
    size_t off;
} sub_kws[] = {
    {"additionalItems", offsetof(struct schema_node, additional_items)},
    {"contains", offsetof(struct schema_node, contains)},
    {"additionalProperties", offsetof(struct schema_node, additional_props)},
    {"propertyNames", offsetof(struct schema_node, property_names)},
    {"not", offsetof(struct schema_node, not_)},
    {"if", offsetof(struct schema_node, if_)},
    {"then", offsetof(struct schema_node, then_)},
    {"else", offsetof(struct schema_node, else_)},
};

static const struct {
    const char *name;
    size_t off, len_off;
} arr_kws[] = {
    {"allOf", offsetof(struct schema_node, all_of), offsetof(struct schema_node, all_of_len)},
    {"anyOf", offsetof(struct schema_node, any_of), offsetof(struct schema_node, any_of_len)},
    {"oneOf", offsetof(struct schema_node, one_of), offsetof(struct schema_node, one_of_len)},
};

#define COUNT_OF(a) (sizeof(a) / sizeof((a)[0]))

/* Keywords whose compile is table-driven; 1 if `kw` was one of them (result in *rc). */
static int compile_table_keyword(struct schema__compiler *c, struct schema_node *n, const char *kw,
                                 const json_t *v, const char *base, size_t depth, int *rc)
{
    for (size_t i = 0; i < COUNT_OF(num_kws); i++) {
        if (strcmp(kw, num_kws[i].name) == 0) {
            struct schema__num *num = NODE_FIELD(n, num_kws[i].off, struct schema__num);
            *rc = kw_number(c, n, kw, v, num);
            if (*rc == TR_OK && num_kws[i].bit == SCHEMA__K_MULTIPLE_OF && !(num->d > 0))
                *rc = schema__compile_fail(c, TR_ESCHEMA, "%s/multipleOf: must be greater than 0",
                                           n->path);
            n->keys |= num_kws[i].bit;
            return 1;
        }
    }
    for (size_t i = 0; i < COUNT_OF(count_kws); i++) {
        if (strcmp(kw, count_kws[i].name) == 0) {
            *rc = kw_count(c, n, kw, v, NODE_FIELD(n, count_kws[i].off, size_t));
            n->keys |= count_kws[i].bit;
            return 1;
        }
    }
    for (size_t i = 0; i < COUNT_OF(sub_kws); i++) {
        if (strcmp(kw, sub_kws[i].name) == 0) {
            struct schema_node **slot = NODE_FIELD(n, sub_kws[i].off, struct schema_node *);
            *rc = sub(c, n, kw, NULL, 0, v, base, depth, slot);
            return 1;
        }
    }
    for (size_t i = 0; i < COUNT_OF(arr_kws); i++) {
        if (strcmp(kw, arr_kws[i].name) == 0) {
            *rc = kw_schema_array(c, n, kw, v, base, depth,
                                  NODE_FIELD(n, arr_kws[i].off, struct schema_node **),
                                  NODE_FIELD(n, arr_kws[i].len_off, size_t));
            return 1;
        }
    }
    return 0;
}

static int compile_keyword(struct schema__compiler *c, struct schema_node *n, const char *kw,
                           const json_t *v, const char *base, size_t depth)
{
    int rc = TR_OK;
    if (compile_table_keyword(c, n, kw, v, base, depth, &rc))
        return rc;
    if (strcmp(kw, "type") == 0)
        return kw_type(c, n, v);
    if (strcmp(kw, "enum") == 0) {
        if (!json_is_array(v))
            return schema__compile_fail(c, TR_ESCHEMA, "%s/enum: must be an array", n->path);
        return kw_value_copy(n, SCHEMA__K_ENUM, v, &n->enum_values);
    }
    if (strcmp(kw, "const") == 0)
        return kw_value_copy(n, SCHEMA__K_CONST, v, &n->const_value);
    if (strcmp(kw, "pattern") == 0)
        return kw_pattern(c, n, v);
    if (strcmp(kw, "format") == 0)
        return kw_format(c, n, v);
    if (strcmp(kw, "items") == 0)
        return kw_items(c, n, v, base, depth);
    if (strcmp(kw, "uniqueItems") == 0) {
        if (!json_is_boolean(v))
            return schema__compile_fail(c, TR_ESCHEMA, "%s/uniqueItems: must be a boolean",
                                        n->path);
        n->keys |= json_is_true(v) ? SCHEMA__K_UNIQUE_ITEMS : 0;
        return TR_OK;
    }
    if (strcmp(kw, "required") == 0)
        return kw_required(c, n, v);
    if (strcmp(kw, "properties") == 0)
        return kw_properties(c, n, v, base, depth);
    if (strcmp(kw, "patternProperties") == 0)
        return kw_pattern_props(c, n, v, base, depth);
    if (strcmp(kw, "dependencies") == 0)
        return kw_dependencies(c, n, v, base, depth);
    if (strcmp(kw, "definitions") == 0)
        return kw_definitions(c, n, v, base, depth);
    return TR_OK; /* annotations ($schema, title, default …) and unknown keywords: ignored */
}

static int prop_cmp(const void *a, const void *b)
{
    const struct schema__prop *x = a, *y = b;
    if (x->len != y->len)
        return x->len < y->len ? -1 : 1;
    return memcmp(x->name, y->name, x->len);
}

/* Sorts properties for binary search and marks those that are also required, so a valid
 * instance proves `required` during its single pass over its members. */
static void props_finish(struct schema_node *n)
{
    if (n->props_len > 1)
        qsort(n->props, n->props_len, sizeof *n->props, prop_cmp);
    for (size_t i = 0; i < n->props_len; i++) {
        for (size_t r = 0; r < n->required_len; r++) {
            if (n->required[r].len == n->props[i].len &&
                memcmp(n->required[r].name, n->props[i].name, n->props[i].len) == 0) {
                n->props[i].required_slot = r + 1;
                break;
            }
        }
    }
}

/* ---- nodes ---- */

/* Applies `$id` (draft-07 core §8.2): a new base URI for this subschema and its children
 * (*new_base, owned) and/or a plain-name anchor "#name". The root is always a resource. */
static int compile_id(struct schema__compiler *c, struct schema_node *n, const json_t *j,
                      const char *base, char **new_base)
{
    *new_base = NULL;
    const json_t *idv = json_object_get(j, "$id");
    if (!idv) {
        char *u = n->index == 0 ? tr_strdup(base) : NULL;
        if (n->index != 0)
            return TR_OK;
        return u ? schema__ids_add(c, u, n, j) : TR_ENOMEM;
    }
    if (!json_is_string(idv))
        return schema__compile_fail(c, TR_ESCHEMA, "%s/$id: must be a string", n->path);
    char *abs;
    int rc = schema__uri_resolve(base, json_string_value(idv), &abs);
    if (rc != TR_OK)
        return rc;
    char *hash = strchr(abs, '#');
    if (!hash || hash[1] == '\0') {
        if (hash)
            *hash = '\0';
        *new_base = tr_strdup(abs);
        if (!*new_base) {
            tr_free(abs);
            return TR_ENOMEM;
        }
        return schema__ids_add(c, abs, n, j);
    }
    /* "#name" is an anchor in the current resource; "other.json#name" also starts a resource;
     * the root is a resource whatever its $id says. */
    bool resource = json_string_value(idv)[0] != '#' || n->index == 0;
    char *res = resource ? tr_strndup(abs, (size_t)(hash - abs)) : NULL;
    if (resource && !res) {
        tr_free(abs);
        return TR_ENOMEM;
    }
    rc = schema__ids_add(c, abs, n, j);
    if (rc != TR_OK || !resource) {
        tr_free(res);
        return rc;
    }
    *new_base = tr_strdup(res);
    if (!*new_base) {
        tr_free(res);
        return TR_ENOMEM;
    }
    return schema__ids_add(c, res, n, j);
}

static int compile_object(struct schema__compiler *c, struct schema_node *n, const json_t *j,
                          const char *base, size_t depth)
{
    const json_t *ref = json_object_get(j, "$ref");
    if (ref) {
        /* Draft-07 core §8.3: all other properties of a $ref object are ignored. */
        if (!json_is_string(ref))
            return schema__compile_fail(c, TR_ESCHEMA, "%s/$ref: must be a string", n->path);
        char *uri, *root = n->index == 0 ? tr_strdup(base) : NULL;
        if (n->index == 0 && (!root || schema__ids_add(c, root, n, j) != TR_OK))
            return TR_ENOMEM;
        int rc = schema__uri_resolve(base, json_string_value(ref), &uri);
        return rc == TR_OK ? schema__refs_add(c, n, uri, json_string_value(ref)) : rc;
    }
    char *own_base;
    int rc = compile_id(c, n, j, base, &own_base);
    const char *b = own_base ? own_base : base;
    for (void *it = json_object_iter((json_t *)j); it && rc == TR_OK;
         it = json_object_iter_next((json_t *)j, it))
        rc = compile_keyword(c, n, json_object_iter_key(it), json_object_iter_value(it), b, depth);
    tr_free(own_base);
    if (rc == TR_OK)
        props_finish(n);
    return rc;
}

static void node_free(struct schema_node *n)
{
    tr_free(n->path);
    schema__regex_destroy(n->pattern);
    tr_free(n->pattern_src);
    tr_free(n->format);
    json_decref(n->enum_values);
    json_decref(n->const_value);
    for (size_t i = 0; i < n->required_len; i++)
        tr_free(n->required[i].name);
    tr_free(n->required);
    for (size_t i = 0; i < n->props_len; i++)
        tr_free(n->props[i].name);
    tr_free(n->props);
    for (size_t i = 0; i < n->pattern_props_len; i++) {
        schema__regex_destroy(n->pattern_props[i].re);
        tr_free(n->pattern_props[i].source);
    }
    tr_free(n->pattern_props);
    for (size_t i = 0; i < n->deps_len; i++) {
        tr_free(n->deps[i].name.name);
        for (size_t k = 0; k < n->deps[i].names_len; k++)
            tr_free(n->deps[i].names[k].name);
        tr_free(n->deps[i].names);
    }
    tr_free(n->deps);
    tr_free(n->items_arr);
    tr_free(n->all_of);
    tr_free(n->any_of);
    tr_free(n->one_of);
    tr_free(n);
}

/* Adds `n` to the node table and the path index; on failure frees it. */
static int node_register(struct schema *s, struct schema_node *n)
{
    if (s->nodes_len == s->nodes_cap) {
        size_t cap = s->nodes_cap ? s->nodes_cap * 2 : 16;
        struct schema_node **v = tr_realloc(s->nodes, cap * sizeof *v);
        if (!v) {
            node_free(n);
            return TR_ENOMEM;
        }
        s->nodes = v;
        s->nodes_cap = cap;
    }
    if (schema__path_index_put(s, n) != TR_OK) {
        node_free(n);
        return TR_ENOMEM;
    }
    n->index = s->nodes_len;
    s->nodes[s->nodes_len++] = n;
    return TR_OK;
}

int schema__compile_node(struct schema__compiler *c, const json_t *j, char *path, const char *base,
                         size_t depth, struct schema_node **out)
{
    struct schema *s = c->s;
    *out = NULL;
    if (s->nodes_len >= s->limits.max_schema_nodes || depth > s->limits.max_depth) {
        int rc = s->nodes_len >= s->limits.max_schema_nodes
                     ? schema__compile_fail(c, TR_ELIMIT, "%s: schema has more than %zu subschemas",
                                            disp(path), s->limits.max_schema_nodes)
                     : schema__compile_fail(c, TR_ELIMIT,
                                            "%s: schema nested deeper than the limit of %zu levels",
                                            disp(path), s->limits.max_depth);
        tr_free(path);
        return rc;
    }
    struct schema_node *n = tr_calloc(1, sizeof *n);
    if (!n) {
        tr_free(path);
        return TR_ENOMEM;
    }
    n->path = path;
    n->boolean = -1;
    int rc = node_register(s, n);
    if (rc != TR_OK)
        return rc;
    *out = n;
    if (json_is_boolean(j)) {
        n->boolean = json_is_true(j);
        return TR_OK;
    }
    if (!json_is_object(j))
        return schema__compile_fail(c, TR_ESCHEMA, "%s: a schema must be an object or a boolean",
                                    disp(path));
    return compile_object(c, n, j, base, depth);
}

/* ---- public ---- */

/* 1 if `j` nests containers deeper than `left` levels; recursion stops at the limit. */
static int depth_over(const json_t *j, size_t left)
{
    if (!json_is_object(j) && !json_is_array(j))
        return 0;
    if (left == 0)
        return 1;
    if (json_is_array(j)) {
        for (size_t i = 0; i < json_array_size(j); i++)
            if (depth_over(json_array_get(j, i), left - 1))
                return 1;
        return 0;
    }
    for (void *it = json_object_iter((json_t *)j); it; it = json_object_iter_next((json_t *)j, it))
        if (depth_over(json_object_iter_value(it), left - 1))
            return 1;
    return 0;
}

static void compiler_free(struct schema__compiler *c)
{
    for (size_t i = 0; i < c->ids_len; i++)
        tr_free(c->ids[i].uri);
    tr_free(c->ids);
    for (size_t i = 0; i < c->refs_len; i++)
        tr_free(c->refs[i].uri);
    tr_free(c->refs);
}

int schema_compile(const json_t *doc, const struct schema_limits *l, struct schema **out,
                   char *errmsg, size_t errlen)
{
    *out = NULL;
    if (errmsg && errlen)
        errmsg[0] = '\0';
    struct schema *s = tr_calloc(1, sizeof *s);
    struct schema__compiler c = {.s = s, .doc = doc, .errmsg = errmsg, .errlen = errlen};
    int rc = TR_ENOMEM;
    char *root_path = tr_strdup("");
    if (!s || !root_path) {
        tr_free(root_path);
        goto fail;
    }
    if (l)
        s->limits = *l;
    else
        schema_limits_default(&s->limits);
    if (depth_over(doc, s->limits.max_depth)) {
        tr_free(root_path);
        rc = schema__compile_fail(&c, TR_ELIMIT,
                                  "schema document is nested deeper than the limit of %zu levels",
                                  s->limits.max_depth);
        goto fail;
    }
    struct schema_node *root;
    rc = schema__compile_node(&c, doc, root_path, SCHEMA_DEFAULT_BASE, 0, &root);
    if (rc == TR_OK)
        rc = schema__refs_resolve(&c);
    if (rc == TR_OK)
        rc = schema__cycles_check(&c);
    if (rc != TR_OK)
        goto fail;
    compiler_free(&c);
    *out = s;
    return TR_OK;
fail:
    if (rc == TR_ENOMEM && errmsg && errlen)
        snprintf(errmsg, errlen, "out of memory compiling the schema");
    compiler_free(&c);
    schema_destroy(s);
    return rc;
}

void schema_destroy(struct schema *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->nodes_len; i++)
        node_free(s->nodes[i]);
    tr_free(s->nodes);
    tr_free(s->by_path);
    tr_free(s);
}

const struct schema_node *schema_root(const struct schema *s)
{
    return s->nodes_len ? s->nodes[0] : NULL;
}

const struct schema_node *schema_node_at(const struct schema *s, const char *pointer)
{
    if (!pointer)
        return NULL;
    if (pointer[0] != '#')
        return schema__path_index_get(s, pointer, strlen(pointer));
    /* The URI-fragment form of a pointer (RFC 6901 §6): "#/definitions/percent%25field". */
    size_t len;
    char *decoded = schema__pct_decode(pointer + 1, &len);
    if (!decoded)
        return NULL;
    const struct schema_node *n = schema__path_index_get(s, decoded, len);
    tr_free(decoded);
    return n;
}
