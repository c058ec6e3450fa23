/* describe.c — a network schema rendered as JSON Schema 2020-12 (the dialect of OpenAPI 3.1) for
 * the API document and the code generators: one named schema per record type, per definition and
 * per other $ref target, every $ref rewritten to point at those names. The compiled schema tells
 * where each $ref lands ($id bases and plain-name anchors already resolved), so the rendering
 * never re-implements reference resolution. Called by api/openapi.c. */
#include "schema/schema_int.h"

#include "common/alloc.h"
#include "common/err.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One name given to a schema of the document: a definition, or another $ref target. */
struct describe_name {
    char *pointer; /* escaped JSON pointer of the target in the document */
    char *name;
};

struct describe {
    const struct schema_network *n;
    const struct schema *s;
    const json_t *doc;
    const char *ref_base;
    json_t *out;   /* name -> schema */
    json_t *taken; /* names in use (object used as a set) */
    struct describe_name *names;
    size_t names_len, names_cap;
    char *errmsg;
    size_t errlen;
    int rc; /* the first failure other than ENOMEM */
};

static int describe_fail(struct describe *d, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int describe_fail(struct describe *d, int rc, const char *fmt, ...)
{
    if (!d->rc)
        d->rc = rc;
    if (d->errmsg && d->errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(d->errmsg, d->errlen, fmt, ap);
        va_end(ap);
    }
    return rc;
}

/* Keywords copied as they are: draft-07 and 2020-12 agree on them. */
static const char *const copied_keywords[] = {"type",           "enum",
                                              "const",          "multipleOf",
                                              "maximum",        "exclusiveMaximum",
                                              "minimum",        "exclusiveMinimum",
                                              "maxLength",      "minLength",
                                              "pattern",        "format",
                                              "maxItems",       "minItems",
                                              "uniqueItems",    "maxProperties",
                                              "minProperties",  "required",
                                              "title",          "description",
                                              "default",        "examples",
                                              "readOnly",       "writeOnly",
                                              "$comment",       "contentMediaType",
                                              "contentEncoding"};

/* Keywords whose value is one subschema, kept under the same name. */
static const char *const schema_keywords[] = {
    "additionalProperties", "propertyNames", "contains", "not", "if", "then", "else"};

static bool in_list(const char *const *list, size_t n, const char *k)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(list[i], k) == 0)
            return true;
    return false;
}

/* A component name: the characters OpenAPI allows ([A-Za-z0-9._-]), others as '_', made unique
 * against the names taken with "_2", "_3"…; claimed. NULL on ENOMEM. */
static char *name_claim(struct describe *d, const char *want)
{
    size_t len = strlen(want);
    char *base = tr_malloc(len + 2);
    if (!base)
        return NULL;
    for (size_t i = 0; i < len; i++) {
        char c = want[i];
        bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                  c == '.' || c == '_' || c == '-';
        base[i] = ok ? c : '_';
    }
    if (len == 0)
        base[len++] = '_';
    base[len] = '\0';
    char *name = tr_malloc(len + 24);
    if (!name) {
        tr_free(base);
        return NULL;
    }
    snprintf(name, len + 24, "%s", base);
    for (unsigned k = 2; json_object_get(d->taken, name); k++)
        snprintf(name, len + 24, "%s_%u", base, k);
    tr_free(base);
    if (json_object_set_new(d->taken, name, json_true()) != 0) {
        tr_free(name);
        return NULL;
    }
    return name;
}

static int names_add(struct describe *d, const char *pointer, const char *want,
                     const char **name_out)
{
    if (d->names_len == d->names_cap) {
        size_t cap = d->names_cap ? d->names_cap * 2 : 16;
        struct describe_name *v = tr_realloc(d->names, cap * sizeof *v);
        if (!v)
            return TR_ENOMEM;
        d->names = v;
        d->names_cap = cap;
    }
    struct describe_name *e = &d->names[d->names_len];
    e->pointer = tr_strdup(pointer);
    e->name = e->pointer ? name_claim(d, want) : NULL;
    if (!e->name) {
        tr_free(e->pointer);
        return TR_ENOMEM;
    }
    d->names_len++;
    *name_out = e->name;
    return TR_OK;
}

static const char *names_find(const struct describe *d, const char *pointer)
{
    for (size_t i = 0; i < d->names_len; i++)
        if (strcmp(d->names[i].pointer, pointer) == 0)
            return d->names[i].name;
    return NULL;
}

/* The document value at escaped JSON pointer `p` (borrowed), NULL if none. */
static const json_t *doc_at(const json_t *doc, const char *p)
{
    const json_t *j = doc;
    char tok[512];
    while (j && *p == '/') {
        p++;
        size_t o = 0;
        for (; *p && *p != '/' && o + 1 < sizeof tok; p++) {
            if (*p == '~' && (p[1] == '0' || p[1] == '1')) {
                tok[o++] = p[1] == '0' ? '~' : '/';
                p++;
            } else {
                tok[o++] = *p;
            }
        }
        tok[o] = '\0';
        if (json_is_object(j)) {
            j = json_object_get(j, tok);
        } else if (json_is_array(j)) {
            char *end;
            unsigned long i = strtoul(tok, &end, 10);
            j = *end == '\0' && o > 0 ? json_array_get(j, i) : NULL;
        } else {
            j = NULL;
        }
    }
    return *p == '\0' ? j : NULL;
}

static json_t *convert(struct describe *d, const json_t *j, const char *path, size_t depth);

/* "/properties/T/items" of a record type -> the type, else NULL. */
static const struct schema_type *type_at(const struct describe *d, const char *pointer)
{
    for (size_t i = 0; i < schema_network_type_count(d->n); i++) {
        const struct schema_type *t = schema_network_type_at(d->n, i);
        if (strcmp(t->pointer, pointer) == 0)
            return t;
    }
    return NULL;
}

/* The component name for the schema at `pointer`: a record type's name, a definition's claimed
 * name, or a new name for any other target (converted and added to the output once). */
static int target_name(struct describe *d, const char *pointer, size_t depth, const char **out)
{
    const struct schema_type *t = type_at(d, pointer);
    if (t) {
        *out = t->name;
        return TR_OK;
    }
    if ((*out = names_find(d, pointer)) != NULL)
        return TR_OK;
    const json_t *target = doc_at(d->doc, pointer);
    if (!target)
        return describe_fail(d, TR_EINTERNAL, "%s: a $ref target is not in the document", pointer);
    char want[256];
    snprintf(want, sizeof want, "%s", pointer[0] ? pointer + 1 : "Document");
    for (char *c = want; *c; c++)
        *c = *c == '/' ? '.' : *c;
    int rc = names_add(d, pointer, want, out);
    if (rc != TR_OK)
        return rc;
    json_t *conv = convert(d, target, pointer, depth + 1);
    if (!conv || json_object_set_new(d->out, *out, conv) != 0)
        return TR_ENOMEM;
    return TR_OK;
}

/* {"$ref": ref_base + name}; draft-07 ignores the siblings of $ref, so they are not kept. */
static json_t *convert_ref(struct describe *d, const json_t *j, const char *path, size_t depth)
{
    const struct schema_node *node = schema_node_at(d->s, path);
    const char *target = node && node->ref ? node->ref->path : NULL;
    if (!target) {
        describe_fail(d, TR_EINTERNAL, "%s: $ref was not resolved by the compiler", path);
        return NULL;
    }
    (void)j;
    const char *name;
    if (target_name(d, target, depth, &name) != TR_OK)
        return NULL;
    size_t len = strlen(d->ref_base) + strlen(name) + 1;
    char *ref = tr_malloc(len);
    if (!ref)
        return NULL;
    snprintf(ref, len, "%s%s", d->ref_base, name);
    json_t *o = json_pack("{s:s}", "$ref", ref);
    tr_free(ref);
    return o;
}

/* Converts the subschema under member `key` of the object at `path`. */
static json_t *convert_child(struct describe *d, const json_t *j, const char *path, const char *key,
                             size_t depth)
{
    char *p = schema__path_join(path, key, strlen(key));
    json_t *c = p ? convert(d, j, p, depth + 1) : NULL;
    tr_free(p);
    return c;
}

/* properties / patternProperties / definitions: an object of subschemas. */
static json_t *convert_map(struct describe *d, const json_t *v, const char *path, const char *kw,
                           size_t depth)
{
    char *kp = schema__path_join(path, kw, strlen(kw));
    json_t *o = kp ? json_object() : NULL;
    const char *k;
    const json_t *sub;
    json_object_foreach((json_t *)v, k, sub)
    {
        json_t *c = o ? convert_child(d, sub, kp, k, depth) : NULL;
        if (!c || json_object_set_new(o, k, c) != 0) {
            json_decref(o);
            o = NULL;
            break;
        }
    }
    tr_free(kp);
    return o;
}

/* allOf / anyOf / oneOf / items-as-array: an array of subschemas. */
static json_t *convert_list(struct describe *d, const json_t *v, const char *path, const char *kw,
                            size_t depth)
{
    char *kp = schema__path_join(path, kw, strlen(kw));
    json_t *a = kp ? json_array() : NULL;
    for (size_t i = 0; a && i < json_array_size(v); i++) {
        char idx[24];
        snprintf(idx, sizeof idx, "%zu", i);
        json_t *c = convert_child(d, json_array_get(v, i), kp, idx, depth);
        if (!c || json_array_append_new(a, c) != 0) {
            json_decref(a);
            a = NULL;
        }
    }
    tr_free(kp);
    return a;
}

/* dependencies (draft-07 §6.5.7) -> dependentRequired (name lists) and dependentSchemas. */
static int convert_dependencies(struct describe *d, const json_t *v, const char *path, json_t *out,
                                size_t depth)
{
    char *kp = schema__path_join(path, "dependencies", 12);
    json_t *req = json_object(), *sch = json_object();
    int rc = kp && req && sch ? TR_OK : TR_ENOMEM;
    const char *k;
    const json_t *dep;
    json_object_foreach((json_t *)v, k, dep)
    {
        if (rc != TR_OK)
            break;
        json_t *c = json_is_array(dep) ? json_deep_copy(dep) : convert_child(d, dep, kp, k, depth);
        if (!c || json_object_set_new(json_is_array(dep) ? req : sch, k, c) != 0)
            rc = TR_ENOMEM;
    }
    if (rc == TR_OK && json_object_size(req))
        rc = json_object_set(out, "dependentRequired", req) == 0 ? TR_OK : TR_ENOMEM;
    if (rc == TR_OK && json_object_size(sch))
        rc = json_object_set(out, "dependentSchemas", sch) == 0 ? TR_OK : TR_ENOMEM;
    json_decref(req);
    json_decref(sch);
    tr_free(kp);
    return rc;
}

/* One keyword of an object schema into `out`; keywords treaty does not carry over are dropped. */
static int convert_keyword(struct describe *d, const json_t *j, const char *path, const char *k,
                           const json_t *v, json_t *out, size_t depth)
{
    json_t *c = NULL;
    const char *name = k;
    bool items_array = json_is_array(json_object_get(j, "items"));
    if (in_list(copied_keywords, sizeof copied_keywords / sizeof *copied_keywords, k))
        c = json_deep_copy(v);
    else if (in_list(schema_keywords, sizeof schema_keywords / sizeof *schema_keywords, k))
        c = convert_child(d, v, path, k, depth);
    else if (!strcmp(k, "properties") || !strcmp(k, "patternProperties"))
        c = convert_map(d, v, path, k, depth);
    else if (!strcmp(k, "definitions") && (name = "$defs"))
        c = convert_map(d, v, path, k, depth);
    else if (!strcmp(k, "allOf") || !strcmp(k, "anyOf") || !strcmp(k, "oneOf"))
        c = convert_list(d, v, path, k, depth);
    else if (!strcmp(k, "items") && items_array && (name = "prefixItems"))
        c = convert_list(d, v, path, k, depth);
    else if (!strcmp(k, "items"))
        c = convert_child(d, v, path, k, depth);
    else if (!strcmp(k, "additionalItems") && items_array && (name = "items"))
        c = convert_child(d, v, path, k, depth);
    else if (!strcmp(k, "dependencies"))
        return convert_dependencies(d, v, path, out, depth);
    else
        return TR_OK; /* $schema, $id (refs are already resolved), x-*, unknown keywords */
    if (!c || json_object_set_new(out, name, c) != 0)
        return TR_ENOMEM;
    return TR_OK;
}

static json_t *convert(struct describe *d, const json_t *j, const char *path, size_t depth)
{
    if (depth > d->s->limits.max_depth) {
        describe_fail(d, TR_ELIMIT, "%s: nested too deeply", path);
        return NULL;
    }
    if (json_is_boolean(j))
        return json_deep_copy(j);
    if (!json_is_object(j)) {
        describe_fail(d, TR_EINTERNAL, "%s: not a schema", path);
        return NULL;
    }
    if (json_object_get(j, "$ref"))
        return convert_ref(d, j, path, depth);
    json_t *out = json_object();
    const char *k;
    const json_t *v;
    json_object_foreach((json_t *)j, k, v)
    {
        if (!out || convert_keyword(d, j, path, k, v, out, depth) != TR_OK) {
            json_decref(out);
            return NULL;
        }
    }
    return out;
}

/* The record schema of type t, with its key and indexes as x-treaty-key / x-treaty-indexes. */
static int describe_type(struct describe *d, const struct schema_type *t)
{
    json_t *c = convert(d, doc_at(d->doc, t->pointer), t->pointer, 1);
    if (!c)
        return TR_ENOMEM;
    json_t *idx = json_array();
    for (size_t i = 0; idx && i < t->index_count; i++)
        if (json_array_append_new(idx, json_string(t->indexes[i])) != 0) {
            json_decref(idx);
            idx = NULL;
        }
    if (json_is_object(c) && !json_object_get(c, "$ref") &&
        (!idx || json_object_set_new(c, "x-treaty-key", json_string(t->key_field)) != 0 ||
         json_object_set(c, "x-treaty-indexes", idx) != 0)) {
        json_decref(idx);
        json_decref(c);
        return TR_ENOMEM;
    }
    json_decref(idx);
    return json_object_set_new(d->out, t->name, c) == 0 ? TR_OK : TR_ENOMEM;
}

static int describe_run(struct describe *d, const char *const *reserved)
{
    size_t types = schema_network_type_count(d->n);
    for (size_t i = 0; i < types; i++)
        if (json_object_set_new(d->taken, schema_network_type_at(d->n, i)->name, json_true()))
            return TR_ENOMEM;
    for (size_t i = 0; reserved && reserved[i]; i++)
        if (json_object_set_new(d->taken, reserved[i], json_true()) != 0)
            return TR_ENOMEM;
    /* Definitions are named first, in document order, so their names do not depend on which
     * $ref happened to reach them first. */
    const json_t *defs = json_object_get(d->doc, "definitions");
    const char *k;
    const json_t *v;
    json_object_foreach((json_t *)defs, k, v)
    {
        char *p = schema__path_join("/definitions", k, strlen(k));
        const char *name;
        int rc = p ? names_add(d, p, k, &name) : TR_ENOMEM;
        tr_free(p);
        if (rc != TR_OK)
            return rc;
    }
    for (size_t i = 0; i < types; i++) {
        int rc = describe_type(d, schema_network_type_at(d->n, i));
        if (rc != TR_OK)
            return rc;
    }
    size_t n_defs = json_object_size(defs);
    for (size_t i = 0; i < n_defs; i++) {
        const json_t *def = doc_at(d->doc, d->names[i].pointer);
        json_t *c = convert(d, def, d->names[i].pointer, 1);
        if (!c || json_object_set_new(d->out, d->names[i].name, c) != 0)
            return TR_ENOMEM;
    }
    return TR_OK;
}

int schema_network_describe(const struct schema_network *n, const char *ref_base,
                            const char *const *reserved, json_t **out, char *errmsg, size_t errlen)
{
    struct describe d = {.n = n,
                         .s = schema_network_compiled(n),
                         .doc = schema_network_doc(n),
                         .ref_base = ref_base,
                         .errmsg = errmsg,
                         .errlen = errlen};
    *out = NULL;
    if (errmsg && errlen)
        errmsg[0] = '\0';
    d.out = json_object();
    d.taken = json_object();
    int rc = d.out && d.taken ? describe_run(&d, reserved) : TR_ENOMEM;
    if (rc != TR_OK && d.rc)
        rc = d.rc;
    if (rc == TR_OK)
        *out = d.out;
    else
        json_decref(d.out);
    if (rc == TR_ENOMEM && errmsg && errlen && !errmsg[0])
        snprintf(errmsg, errlen, "out of memory describing the schema");
    json_decref(d.taken);
    for (size_t i = 0; i < d.names_len; i++) {
        tr_free(d.names[i].pointer);
        tr_free(d.names[i].name);
    }
    tr_free(d.names);
    return rc;
}
