/* diff.c — schema evolution: classifies every difference between two loaded network schemas as
 * compatible (every record valid under the old schema stays valid, every client call that worked
 * still works) or breaking. The walk is structural over the two raw documents; whatever no rule
 * can prove compatible is reported as breaking "unclassified-change". Used by `treaty schema
 * diff` and by node/ before a schema change is proposed to the ledger. */
#include "schema/network_int.h"
#include "common/alloc.h"
#include "common/err.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void change_free(struct schema_change *c)
{
    tr_free(c->path);
    tr_free(c->rule);
    tr_free(c->message);
}

void schema_changes_free(struct schema_changes *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->len; i++)
        change_free(&c->v[i]);
    tr_free(c->v);
    c->v = NULL;
    c->len = 0;
    c->cap = 0;
}

bool schema_changes_breaking(const struct schema_changes *c)
{
    for (size_t i = 0; i < c->len; i++)
        if (c->v[i].kind == SCHEMA_CHANGE_BREAKING)
            return true;
    return false;
}

static char *vformat(const char *fmt, va_list ap) __attribute__((format(printf, 1, 0)));

static char *vformat(const char *fmt, va_list ap)
{
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (n < 0)
        return NULL;
    char *s = tr_malloc((size_t)n + 1);
    if (s)
        vsnprintf(s, (size_t)n + 1, fmt, ap);
    return s;
}

void schema__diff_add(struct schema__diff *d, enum schema_change_kind kind,
                      const struct schema__net_seg *at, const char *name, const char *rule,
                      const char *fmt, ...)
{
    if (d->rc)
        return;
    struct schema_changes *c = d->out;
    if (c->len == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 16;
        struct schema_change *v = tr_realloc(c->v, cap * sizeof *v);
        if (!v) {
            d->rc = TR_ENOMEM;
            return;
        }
        c->v = v;
        c->cap = cap;
    }
    struct schema_change ch = {kind, schema__net_path_dup_name(at, name), tr_strdup(rule), NULL};
    va_list ap;
    va_start(ap, fmt);
    ch.message = vformat(fmt, ap);
    va_end(ap);
    if (!ch.path || !ch.rule || !ch.message) {
        change_free(&ch);
        d->rc = TR_ENOMEM;
        return;
    }
    c->v[c->len++] = ch;
}

void schema__diff_unclassified(struct schema__diff *d, const struct schema__net_seg *at,
                               const char *kw)
{
    schema__diff_add(d, SCHEMA_CHANGE_BREAKING, at, kw, "unclassified-change",
                     "\"%s\" changed in a way treaty cannot prove compatible; treat it as breaking",
                     kw ? kw : "schema");
}

#define COMPAT   SCHEMA_CHANGE_COMPATIBLE
#define BREAKING SCHEMA_CHANGE_BREAKING

/* ------------------------------------------------------------------------------------------
 * Record types: key, indexes, ACLs, then the schema itself.
 * ---------------------------------------------------------------------------------------- */

static bool list_has(const struct schema_acl_list *l, const char *p)
{
    for (size_t i = 0; i < l->len; i++)
        if (strcmp(l->orgs[i], p) == 0)
            return true;
    return false;
}

/* Whether `wide` lets in every principal `narrow` lets in. Absent lists default to every member
 * (schema.h), the same as "*". */
static bool acl_covers(const struct schema_acl_list *wide, const struct schema_acl_list *narrow)
{
    if (!wide->present || list_has(wide, "*"))
        return true;
    if (!narrow->present || list_has(narrow, "*"))
        return false;
    for (size_t i = 0; i < narrow->len; i++)
        if (!list_has(wide, narrow->orgs[i]))
            return false;
    return true;
}

static void compare_acl_list(struct schema__diff *d, const struct schema_acl_list *o,
                             const struct schema_acl_list *n, const struct schema__net_seg *at,
                             const char *op)
{
    bool wider = acl_covers(n, o), narrower = acl_covers(o, n);
    if (wider && narrower)
        return;
    if (wider)
        schema__diff_add(d, COMPAT, at, op, "relaxed-acl", "more principals may %s", op);
    else
        schema__diff_add(d, BREAKING, at, op, "tightened-acl",
                         "some principals may no longer %s; their existing calls will be denied",
                         op);
}

static const struct schema_field_acl *field_acl(const struct schema_acl *a, const char *f)
{
    for (size_t i = 0; i < a->field_count; i++)
        if (strcmp(a->fields[i].field, f) == 0)
            return &a->fields[i];
    return NULL;
}

/* A field's effective list for op: its own when given, else the type's. */
static const struct schema_acl_list *field_list(const struct schema_acl *a, const char *f,
                                                bool read)
{
    const struct schema_field_acl *fa = field_acl(a, f);
    const struct schema_acl_list *own = fa ? (read ? &fa->read : &fa->update) : NULL;
    if (own && own->present)
        return own;
    return read ? &a->read : &a->update;
}

static void compare_field_acl(struct schema__diff *d, const struct schema_acl *o,
                              const struct schema_acl *n, const char *f,
                              const struct schema__net_seg *fields)
{
    struct schema__net_seg fseg = {fields, f, 0, false};
    const struct schema_field_acl *fo = field_acl(o, f), *fn = field_acl(n, f);
    for (int r = 1; r >= 0; r--) {
        bool own_o = fo && (r ? fo->read.present : fo->update.present);
        bool own_n = fn && (r ? fn->read.present : fn->update.present);
        if (own_o || own_n) /* otherwise the type-level comparison covers it */
            compare_acl_list(d, field_list(o, f, r), field_list(n, f, r), &fseg,
                             r ? "read" : "update");
    }
}

static void compare_acl(struct schema__diff *d, const struct schema_type *to,
                        const struct schema_type *tn, const struct schema__net_seg *ext)
{
    struct schema__net_seg aseg = {ext, "x-treaty-acl", 0, false};
    struct schema__net_seg fseg = {&aseg, "fields", 0, false};
    compare_acl_list(d, &to->acl.read, &tn->acl.read, &aseg, "read");
    compare_acl_list(d, &to->acl.create, &tn->acl.create, &aseg, "create");
    compare_acl_list(d, &to->acl.update, &tn->acl.update, &aseg, "update");
    compare_acl_list(d, &to->acl.delete_, &tn->acl.delete_, &aseg, "delete");
    for (size_t i = 0; i < to->acl.field_count; i++)
        compare_field_acl(d, &to->acl, &tn->acl, to->acl.fields[i].field, &fseg);
    for (size_t i = 0; i < tn->acl.field_count; i++)
        if (!field_acl(&to->acl, tn->acl.fields[i].field))
            compare_field_acl(d, &to->acl, &tn->acl, tn->acl.fields[i].field, &fseg);
}

static bool str_in(char *const *v, size_t n, const char *s)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(v[i], s) == 0)
            return true;
    return false;
}

static void compare_indexes(struct schema__diff *d, const struct schema_type *to,
                            const struct schema_type *tn, const struct schema__net_seg *ext)
{
    struct schema__net_seg iseg = {ext, "x-treaty-indexes", 0, false};
    for (size_t i = 0; i < to->index_count; i++)
        if (!str_in(tn->indexes, tn->index_count, to->indexes[i]))
            schema__diff_add(
                d, BREAKING, &iseg, NULL, "removed-index",
                "index on \"%s\" was removed; API filters on it (GET /v1/data/%s?%s=...) stop "
                "working",
                to->indexes[i], tn->name, to->indexes[i]);
    for (size_t i = 0; i < tn->index_count; i++)
        if (!str_in(to->indexes, to->index_count, tn->indexes[i]))
            schema__diff_add(d, COMPAT, &iseg, NULL, "new-index", "index on \"%s\" was added",
                             tn->indexes[i]);
}

static void compare_type(struct schema__diff *d, const struct schema_type *to,
                         const struct schema_type *tn, const struct schema__net_seg *tseg)
{
    struct schema__net_seg ext = {NULL, tn->pointer, 0, true};
    struct schema__net_seg kseg = {&ext, "x-treaty-key", 0, false};
    if (strcmp(to->key_field, tn->key_field) != 0)
        schema__diff_add(
            d, BREAKING, &kseg, NULL, "changed-key",
            "the key changed from \"%s\" to \"%s\"; stored records are addressed by the old key",
            to->key_field, tn->key_field);
    else if (to->key_kind != tn->key_kind)
        schema__diff_add(d, BREAKING, &kseg, NULL, "changed-key",
                         "the key \"%s\" changed between string and "
                         "integer",
                         tn->key_field);
    compare_indexes(d, to, tn, &ext);
    compare_acl(d, to, tn, &ext);
    const json_t *po = json_object_get(d->old_doc, "properties");
    const json_t *pn = json_object_get(d->new_doc, "properties");
    schema__diff_schema(d, json_object_get(po, to->name), json_object_get(pn, tn->name), tseg);
}

static void compare_types(struct schema__diff *d, const struct schema_network *o,
                          const struct schema_network *n)
{
    struct schema__net_seg pseg = {NULL, "properties", 0, false};
    for (size_t i = 0; i < schema_network_type_count(o); i++) {
        const struct schema_type *to = schema_network_type_at(o, i);
        const struct schema_type *tn = schema_network_type_find(n, to->name);
        struct schema__net_seg tseg = {&pseg, to->name, 0, false};
        if (tn)
            compare_type(d, to, tn, &tseg);
        else
            schema__diff_add(d, BREAKING, &tseg, NULL, "removed-type",
                             "record type \"%s\" was removed with its records and API routes",
                             to->name);
    }
    for (size_t i = 0; i < schema_network_type_count(n); i++) {
        const struct schema_type *tn = schema_network_type_at(n, i);
        if (!schema_network_type_find(o, tn->name))
            schema__diff_add(d, COMPAT, &pseg, tn->name, "new-type", "record type \"%s\" was added",
                             tn->name);
    }
}

static void compare_definitions(struct schema__diff *d)
{
    struct schema__net_seg dseg = {NULL, "definitions", 0, false};
    const json_t *dfo = json_object_get(d->old_doc, "definitions");
    const json_t *dfn = json_object_get(d->new_doc, "definitions");
    const char *name;
    const json_t *v;
    json_object_foreach((json_t *)dfo, name, v)
    {
        const json_t *nv = json_object_get(dfn, name);
        if (nv)
            schema__diff_schema(d, v, nv, &(struct schema__net_seg){&dseg, name, 0, false});
        else /* the new schema loaded, so nothing in it refers to this name any more */
            schema__diff_add(d, COMPAT, &dseg, name, "removed-definition",
                             "definition \"%s\" was removed; nothing refers to it any more", name);
    }
    json_object_foreach((json_t *)dfn, name, v)
    {
        if (!json_object_get(dfo, name))
            schema__diff_add(d, COMPAT, &dseg, name, "new-definition",
                             "definition \"%s\" was added", name);
    }
}

/* The root's own keywords other than the record types and definitions. The root `$id` only sets
 * the base of relative references, and a network schema has none (every $ref starts with '#'),
 * so changing it (v1 -> v2 in the URL) changes no validation. */
static void compare_root_keyword(struct schema__diff *d, const char *k)
{
    const json_t *vo = json_object_get(d->old_doc, k), *vn = json_object_get(d->new_doc, k);
    if (strcmp(k, "properties") == 0)
        return;
    if (strcmp(k, "$id") == 0) {
        if (!vo || !vn || !json_equal((json_t *)vo, (json_t *)vn))
            schema__diff_add(d, COMPAT, NULL, k, "documentation-change",
                             "the document's $id changed (no relative references depend on it)");
        return;
    }
    schema__diff_keyword(d, d->old_doc, d->new_doc, k, NULL);
}

static void compare_root(struct schema__diff *d)
{
    const char *k;
    const json_t *v;
    json_object_foreach((json_t *)d->old_doc, k, v)
    {
        compare_root_keyword(d, k);
    }
    json_object_foreach((json_t *)d->new_doc, k, v)
    {
        if (!json_object_get(d->old_doc, k))
            compare_root_keyword(d, k);
    }
}

static int change_cmp(const void *a, const void *b)
{
    const struct schema_change *x = a, *y = b;
    int c = strcmp(x->path, y->path);
    if (!c)
        c = strcmp(x->rule, y->rule);
    if (!c)
        c = strcmp(x->message, y->message);
    return c;
}

int schema_diff(const struct schema_network *old_schema, const struct schema_network *new_schema,
                struct schema_changes *out)
{
    struct schema__diff d = {.old_doc = schema_network_doc(old_schema),
                             .new_doc = schema_network_doc(new_schema),
                             .out = out};
    size_t start = out->len;
    compare_root(&d);
    compare_definitions(&d);
    compare_types(&d, old_schema, new_schema);
    if (d.rc) {
        for (size_t i = start; i < out->len; i++)
            change_free(&out->v[i]);
        out->len = start;
        return d.rc;
    }
    if (out->len - start > 1)
        qsort(out->v + start, out->len - start, sizeof *out->v, change_cmp);
    return TR_OK;
}
