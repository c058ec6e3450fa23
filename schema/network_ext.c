/* network_ext.c — the record-type extensions of a network schema: x-treaty-key, x-treaty-indexes,
 * x-treaty-acl, and the Vendia Share forms that mean the same (top-level x-vendia-indexes;
 * x-vendia-acls is checked and otherwise ignored, see docs/schema.md). Every refusal names the
 * JSON pointer of the offending value. Called by schema_network_load. */
#include "schema/network_int.h"
#include "common/alloc.h"
#include "common/err.h"

#include <stdint.h>
#include <string.h>

/* The location of a type's extension object, as the root of a pointer chain. */
static struct schema__net_seg ext_seg(const struct schema__net_rec *r)
{
    struct schema__net_seg s = {NULL, r->ext_pointer, 0, true};
    return s;
}

static const json_t *record_props(const struct schema__net_rec *r)
{
    const json_t *p = json_object_get(r->record, "properties");
    return json_is_object(p) ? p : NULL;
}

static bool has_prop(const struct schema__net_rec *r, const char *name)
{
    const json_t *p = record_props(r);
    return p && json_object_get(p, name) != NULL;
}

static bool is_required(const struct schema__net_rec *r, const char *name)
{
    const json_t *req = json_object_get(r->record, "required");
    for (size_t i = 0; i < json_array_size(req); i++) {
        const char *s = json_string_value(json_array_get(req, i));
        if (s && strcmp(s, name) == 0)
            return true;
    }
    return false;
}

/* The key kind from the property's `type` (through $ref): "string" or "integer", alone or as the
 * only entry of a type array. Returns 0 and *kind, or -1. */
static int key_kind_of(const json_t *doc, const json_t *prop, enum schema_key_kind *kind)
{
    const json_t *s = schema__net_deref(doc, prop);
    const json_t *t = json_is_object(s) ? json_object_get(s, "type") : NULL;
    if (json_is_array(t) && json_array_size(t) == 1)
        t = json_array_get(t, 0);
    const char *name = json_string_value(t);
    if (name && strcmp(name, "string") == 0)
        *kind = SCHEMA_KEY_STRING;
    else if (name && strcmp(name, "integer") == 0)
        *kind = SCHEMA_KEY_INTEGER;
    else
        return -1;
    return 0;
}

static int parse_key(struct schema__net_load *ld, const struct schema__net_rec *r,
                     struct schema_type *t)
{
    struct schema__net_seg base = ext_seg(r);
    struct schema__net_seg kseg = {&base, "x-treaty-key", 0, false};
    const json_t *k = json_object_get(r->ext, "x-treaty-key");
    if (!k)
        return schema__net_fail(ld, &base, TR_ESCHEMA,
                                "record type \"%s\" has no x-treaty-key (name the required string "
                                "or integer property that identifies a record)",
                                r->name);
    const char *name = json_string_value(k);
    if (!name)
        return schema__net_fail(ld, &kseg, TR_ESCHEMA, "must be a property name (a string)");
    if (!has_prop(r, name))
        return schema__net_fail(ld, &kseg, TR_ESCHEMA,
                                "key field \"%s\" is not a property of the record type", name);
    if (!is_required(r, name))
        return schema__net_fail(ld, &kseg, TR_ESCHEMA, "key field \"%s\" is not in required", name);
    if (key_kind_of(ld->doc, json_object_get(record_props(r), name), &t->key_kind))
        return schema__net_fail(ld, &kseg, TR_ESCHEMA,
                                "key field \"%s\" must have type \"string\" or \"integer\"", name);
    t->key_field = tr_strdup(name);
    return t->key_field ? TR_OK : TR_ENOMEM;
}

/* Appends `name` to t->indexes unless already there. */
static int index_add(struct schema_type *t, const char *name)
{
    for (size_t i = 0; i < t->index_count; i++)
        if (strcmp(t->indexes[i], name) == 0)
            return TR_OK;
    char **v = tr_realloc(t->indexes, (t->index_count + 1) * sizeof *v);
    if (!v)
        return TR_ENOMEM;
    t->indexes = v;
    v[t->index_count] = tr_strdup(name);
    if (!v[t->index_count])
        return TR_ENOMEM;
    t->index_count++;
    return TR_OK;
}

static int parse_indexes(struct schema__net_load *ld, const struct schema__net_rec *r,
                         struct schema_type *t)
{
    struct schema__net_seg base = ext_seg(r);
    struct schema__net_seg iseg = {&base, "x-treaty-indexes", 0, false};
    const json_t *v = json_object_get(r->ext, "x-treaty-indexes");
    if (!v)
        return TR_OK;
    if (!json_is_array(v))
        return schema__net_fail(ld, &iseg, TR_ESCHEMA, "must be an array of property names");
    for (size_t i = 0; i < json_array_size(v); i++) {
        struct schema__net_seg eseg = {&iseg, NULL, i, false};
        const char *name = json_string_value(json_array_get(v, i));
        if (!name)
            return schema__net_fail(ld, &eseg, TR_ESCHEMA, "must be a property name (a string)");
        if (!has_prop(r, name))
            return schema__net_fail(ld, &eseg, TR_ESCHEMA,
                                    "index on \"%s\", which is not a property of the record type",
                                    name);
        for (size_t j = 0; j < t->index_count; j++)
            if (strcmp(t->indexes[j], name) == 0)
                return schema__net_fail(ld, &eseg, TR_ESCHEMA, "duplicate index \"%s\"", name);
        int rc = index_add(t, name);
        if (rc)
            return rc;
    }
    return TR_OK;
}

static int parse_acl_list(struct schema__net_load *ld, const json_t *v,
                          const struct schema__net_seg *at, struct schema_acl_list *out)
{
    if (!json_is_array(v))
        return schema__net_fail(ld, at, TR_ESCHEMA,
                                "must be an array of principals (org names, \"*\" or \"owner\")");
    out->present = true;
    out->len = 0;
    out->orgs = tr_calloc(json_array_size(v) + 1, sizeof *out->orgs);
    if (!out->orgs)
        return TR_ENOMEM;
    for (size_t i = 0; i < json_array_size(v); i++) {
        struct schema__net_seg eseg = {at, NULL, i, false};
        const char *p = json_string_value(json_array_get(v, i));
        if (!p || !*p)
            return schema__net_fail(ld, &eseg, TR_ESCHEMA,
                                    "ACL principal must be a non-empty string (an org name, \"*\" "
                                    "or \"owner\")");
        out->orgs[out->len] = tr_strdup(p);
        if (!out->orgs[out->len])
            return TR_ENOMEM;
        out->len++;
    }
    return TR_OK;
}

static int parse_field_acl(struct schema__net_load *ld, const struct schema__net_rec *r,
                           const char *field, const json_t *v, const struct schema__net_seg *at,
                           struct schema_field_acl *fa)
{
    if (!has_prop(r, field))
        return schema__net_fail(ld, at, TR_ESCHEMA,
                                "field ACL for \"%s\", which is not a property of the record type",
                                field);
    if (!json_is_object(v))
        return schema__net_fail(ld, at, TR_ESCHEMA, "must be an object with read and/or update");
    fa->field = tr_strdup(field);
    if (!fa->field)
        return TR_ENOMEM;
    const char *op;
    const json_t *list;
    json_object_foreach((json_t *)v, op, list)
    {
        struct schema__net_seg oseg = {at, op, 0, false};
        struct schema_acl_list *dst = strcmp(op, "read") == 0     ? &fa->read
                                      : strcmp(op, "update") == 0 ? &fa->update
                                                                  : NULL;
        if (!dst)
            return schema__net_fail(ld, &oseg, TR_ESCHEMA,
                                    "unknown field ACL operation \"%s\" (expected read or update)",
                                    op);
        int rc = parse_acl_list(ld, list, &oseg, dst);
        if (rc)
            return rc;
    }
    return TR_OK;
}

static int parse_acl_fields(struct schema__net_load *ld, const struct schema__net_rec *r,
                            const json_t *v, const struct schema__net_seg *at,
                            struct schema_acl *acl)
{
    if (!json_is_object(v))
        return schema__net_fail(ld, at, TR_ESCHEMA,
                                "must be an object of property name -> {read, update}");
    acl->fields = tr_calloc(json_object_size(v) + 1, sizeof *acl->fields);
    if (!acl->fields)
        return TR_ENOMEM;
    const char *field;
    const json_t *fv;
    json_object_foreach((json_t *)v, field, fv)
    {
        struct schema__net_seg fseg = {at, field, 0, false};
        /* Counted before parsing so a half-filled entry is freed too. */
        acl->field_count++;
        int rc = parse_field_acl(ld, r, field, fv, &fseg, &acl->fields[acl->field_count - 1]);
        if (rc)
            return rc;
    }
    return TR_OK;
}

static struct schema_acl_list *acl_op(struct schema_acl *acl, const char *op)
{
    if (strcmp(op, "read") == 0)
        return &acl->read;
    if (strcmp(op, "create") == 0)
        return &acl->create;
    if (strcmp(op, "update") == 0)
        return &acl->update;
    if (strcmp(op, "delete") == 0)
        return &acl->delete_;
    return NULL;
}

static int parse_acl(struct schema__net_load *ld, const struct schema__net_rec *r,
                     struct schema_type *t)
{
    struct schema__net_seg base = ext_seg(r);
    struct schema__net_seg aseg = {&base, "x-treaty-acl", 0, false};
    const json_t *v = json_object_get(r->ext, "x-treaty-acl");
    if (!v)
        return TR_OK;
    if (!json_is_object(v))
        return schema__net_fail(ld, &aseg, TR_ESCHEMA,
                                "must be an object with read, create, update, delete and fields");
    const char *op;
    const json_t *list;
    json_object_foreach((json_t *)v, op, list)
    {
        struct schema__net_seg oseg = {&aseg, op, 0, false};
        struct schema_acl_list *dst = acl_op(&t->acl, op);
        int rc;
        if (dst)
            rc = parse_acl_list(ld, list, &oseg, dst);
        else if (strcmp(op, "fields") == 0)
            rc = parse_acl_fields(ld, r, list, &oseg, &t->acl);
        else
            rc = schema__net_fail(ld, &oseg, TR_ESCHEMA,
                                  "unknown ACL operation \"%s\" (expected read, create, update, "
                                  "delete or fields)",
                                  op);
        if (rc)
            return rc;
    }
    return TR_OK;
}

int schema__net_type_ext(struct schema__net_load *ld, size_t i, struct schema_type *t)
{
    const struct schema__net_rec *r = &ld->recs[i];
    int rc = parse_key(ld, r, t);
    if (!rc)
        rc = parse_indexes(ld, r, t);
    if (!rc)
        rc = parse_acl(ld, r, t);
    return rc;
}

static void acl_list_free(struct schema_acl_list *l)
{
    for (size_t i = 0; i < l->len; i++)
        tr_free(l->orgs[i]);
    tr_free(l->orgs);
    l->orgs = NULL;
    l->len = 0;
}

void schema__net_type_ext_free(struct schema_type *t)
{
    tr_free(t->key_field);
    for (size_t i = 0; i < t->index_count; i++)
        tr_free(t->indexes[i]);
    tr_free(t->indexes);
    acl_list_free(&t->acl.read);
    acl_list_free(&t->acl.create);
    acl_list_free(&t->acl.update);
    acl_list_free(&t->acl.delete_);
    for (size_t i = 0; i < t->acl.field_count; i++) {
        tr_free(t->acl.fields[i].field);
        acl_list_free(&t->acl.fields[i].read);
        acl_list_free(&t->acl.fields[i].update);
    }
    tr_free(t->acl.fields);
}

/* ------------------------------------------------------------------------------------------
 * Vendia Share forms
 * ---------------------------------------------------------------------------------------- */

static size_t rec_find(const struct schema__net_load *ld, const char *name)
{
    for (size_t i = 0; i < ld->rec_count; i++)
        if (strcmp(ld->recs[i].name, name) == 0)
            return i;
    return SIZE_MAX;
}

/* Checks that `entry` has only the members in `allowed` and a string "type" naming a record
 * type; returns the type's index through *idx. */
static int vendia_entry(struct schema__net_load *ld, const json_t *entry,
                        const struct schema__net_seg *at, const char *const *allowed,
                        size_t nallowed, size_t *idx)
{
    if (!json_is_object(entry))
        return schema__net_fail(ld, at, TR_ESCHEMA, "must be an object");
    const char *k;
    const json_t *v;
    json_object_foreach((json_t *)entry, k, v)
    {
        bool ok = false;
        for (size_t i = 0; i < nallowed; i++)
            ok = ok || strcmp(k, allowed[i]) == 0;
        struct schema__net_seg kseg = {at, k, 0, false};
        if (!ok)
            return schema__net_fail(ld, &kseg, TR_ESCHEMA, "\"%s\" is not supported by treaty", k);
        if (!json_is_string(v))
            return schema__net_fail(ld, &kseg, TR_ESCHEMA, "must be a string");
    }
    struct schema__net_seg tseg = {at, "type", 0, false};
    const char *type = json_string_value(json_object_get(entry, "type"));
    if (!type)
        return schema__net_fail(ld, at, TR_ESCHEMA, "missing \"type\" (a record type name)");
    *idx = rec_find(ld, type);
    if (*idx == SIZE_MAX)
        return schema__net_fail(ld, &tseg, TR_ESCHEMA, "no record type \"%s\"", type);
    return TR_OK;
}

/* One named index: {type, property}, or a one-element array of it. An array of several is a
 * compound index, which treaty does not have. */
static int vendia_index(struct schema__net_load *ld, const json_t *v,
                        const struct schema__net_seg *at, struct schema_type *types)
{
    static const char *const allowed[] = {"type", "property"};
    struct schema__net_seg eseg = {at, NULL, 0, false};
    const struct schema__net_seg *where = at;
    if (json_is_array(v)) {
        if (json_array_size(v) != 1)
            return schema__net_fail(ld, at, TR_ESCHEMA,
                                    "an index must name exactly one property (compound indexes "
                                    "are not supported; declare one index per property)");
        v = json_array_get(v, 0);
        where = &eseg;
    }
    size_t idx;
    int rc = vendia_entry(ld, v, where, allowed, 2, &idx);
    if (rc)
        return rc;
    struct schema__net_seg pseg = {where, "property", 0, false};
    const char *prop = json_string_value(json_object_get(v, "property"));
    if (!prop)
        return schema__net_fail(ld, where, TR_ESCHEMA, "missing \"property\"");
    if (!has_prop(&ld->recs[idx], prop))
        return schema__net_fail(ld, &pseg, TR_ESCHEMA,
                                "\"%s\" is not a property of record type \"%s\"", prop,
                                ld->recs[idx].name);
    return index_add(&types[idx], prop);
}

int schema__net_vendia(struct schema__net_load *ld, struct schema_type *types)
{
    static const char *const acl_allowed[] = {"type"};
    struct schema__net_seg iseg = {NULL, "x-vendia-indexes", 0, false};
    struct schema__net_seg aseg = {NULL, "x-vendia-acls", 0, false};
    const json_t *ix = json_object_get(ld->doc, "x-vendia-indexes");
    const json_t *acls = json_object_get(ld->doc, "x-vendia-acls");
    const char *name;
    const json_t *v;
    if (ix && !json_is_object(ix))
        return schema__net_fail(ld, &iseg, TR_ESCHEMA, "must be an object of named indexes");
    json_object_foreach((json_t *)ix, name, v)
    {
        struct schema__net_seg nseg = {&iseg, name, 0, false};
        int rc = vendia_index(ld, v, &nseg, types);
        if (rc)
            return rc;
    }
    if (acls && !json_is_object(acls))
        return schema__net_fail(ld, &aseg, TR_ESCHEMA, "must be an object of named ACL entries");
    json_object_foreach((json_t *)acls, name, v)
    {
        struct schema__net_seg nseg = {&aseg, name, 0, false};
        size_t idx;
        int rc = vendia_entry(ld, v, &nseg, acl_allowed, 1, &idx);
        if (rc)
            return rc;
    }
    return TR_OK;
}
