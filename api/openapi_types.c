/* openapi_types.c — the schemas of the OpenAPI document that are computed from a record type
 * rather than written as templates: the record as read (its schema plus the ledger's metadata),
 * the merge patch, and the list filters on indexed fields. Called by openapi_paths.c. */
#include "api/api_int.h"

#include "common/err.h"

#include <stdio.h>
#include <string.h>

#define OA_SCHEMAS "#/components/schemas/"

json_t *api__oa_tags(struct api__oa *oa)
{
    json_t *tags = json_object_get(oa->doc, "tags");
    if (!tags) {
        tags = json_array();
        if (!tags || json_object_set_new(oa->doc, "tags", tags) != 0)
            return NULL;
    }
    return tags;
}

static json_t *schemas_of(const struct api__oa *oa)
{
    return json_object_get(json_object_get(oa->doc, "components"), "schemas");
}

/* Follows whole-component $refs from `s`; NULL if one leads outside components/schemas. */
static json_t *deref(const struct api__oa *oa, json_t *s)
{
    for (int i = 0; i < 64 && json_is_object(s); i++) {
        const char *r = json_string_value(json_object_get(s, "$ref"));
        if (!r)
            return s;
        if (strncmp(r, OA_SCHEMAS, strlen(OA_SCHEMAS)) != 0)
            return NULL;
        s = json_object_get(schemas_of(oa), r + strlen(OA_SCHEMAS));
    }
    return NULL;
}

/* The type's record schema when it is one plain object schema (properties, required…) that
 * metadata can be merged into; NULL when it composes others (allOf, anyOf, if…). */
static json_t *plain_record(const struct api__oa *oa, const struct schema_type *t)
{
    json_t *s = deref(oa, json_object_get(schemas_of(oa), t->name));
    static const char *const composing[] = {"allOf", "anyOf", "oneOf", "not", "if", "$ref"};
    if (!json_is_object(s))
        return NULL;
    for (size_t i = 0; i < sizeof composing / sizeof composing[0]; i++)
        if (json_object_get(s, composing[i]))
            return NULL;
    const char *type = json_string_value(json_object_get(s, "type"));
    return !type || strcmp(type, "object") == 0 ? s : NULL;
}

/* Whether a field-level read ACL may remove `field` from what some org reads. */
static bool read_restricted(const struct schema_type *t, const char *field)
{
    for (size_t i = 0; i < t->acl.field_count; i++) {
        const struct schema_field_acl *f = &t->acl.fields[i];
        if (strcmp(f->field, field) != 0 || !f->read.present)
            continue;
        for (size_t j = 0; j < f->read.len; j++)
            if (strcmp(f->read.orgs[j], "*") == 0)
                return false;
        return true;
    }
    return false;
}

/* Record: the record schema with the metadata properties merged in, and the fields a read ACL
 * may redact no longer required. */
static json_t *record_schema(const struct api__oa *oa, const struct schema_type *t)
{
    json_t *base = plain_record(oa, t);
    json_t *meta = json_object_get(schemas_of(oa), api__oa_name(oa, "RecordMetadata"));
    char tref[200], mref[200];
    snprintf(tref, sizeof tref, "%s%s", OA_SCHEMAS, t->name);
    snprintf(mref, sizeof mref, "%s%s", OA_SCHEMAS, api__oa_name(oa, "RecordMetadata"));
    if (!base || !meta)
        return json_pack("{s:s, s:[{s:s}, {s:s}]}", "description",
                         "The record as read: its fields and the ledger's metadata", "allOf",
                         "$ref", tref, "$ref", mref);
    json_t *r = json_deep_copy(base);
    json_t *props = json_object_get(r, "properties");
    json_t *req = json_array();
    if (!props && r && json_object_set_new(r, "properties", props = json_object()) != 0)
        props = NULL;
    if (!r || !props || !req || json_object_update(props, json_object_get(meta, "properties")) != 0)
        goto fail;
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(r, "required"), i, v)
    {
        if (!read_restricted(t, json_string_value(v)) && json_array_append(req, v) != 0)
            goto fail;
    }
    if (json_array_extend(req, json_object_get(meta, "required")) != 0 ||
        json_object_set_new(r, "required", req) != 0)
        goto fail;
    json_object_del(r, "x-treaty-key");
    json_object_del(r, "x-treaty-indexes");
    json_object_set_new(r, "description",
                        json_string("The record as read: its fields (less those a read ACL "
                                    "withholds from the caller's org) and the ledger's metadata"));
    return r;
fail:
    json_decref(req);
    json_decref(r);
    return NULL;
}

/* Patch: every top-level property optional, and null (remove it) where it is not the key. */
static json_t *patch_schema(const struct api__oa *oa, const struct schema_type *t)
{
    json_t *base = plain_record(oa, t);
    json_t *p = json_pack("{s:s, s:s}", "type", "object", "description",
                          "A JSON Merge Patch (RFC 7396) of the record: members set to null are "
                          "removed; the merged record must satisfy the schema");
    if (!base || !p)
        return p;
    json_t *props = json_object();
    const char *k;
    json_t *v;
    json_object_foreach(json_object_get(base, "properties"), k, v)
    {
        json_t *s = strcmp(k, t->key_field) == 0
                        ? json_deep_copy(v)
                        : json_pack("{s:[O, {s:s}]}", "anyOf", v, "type", "null");
        if (!props || !s || json_object_set_new(props, k, s) != 0) {
            json_decref(props);
            json_decref(p);
            return NULL;
        }
    }
    const char *keep[] = {"additionalProperties", "patternProperties"};
    for (size_t i = 0; i < 2; i++)
        if (json_object_get(base, keep[i]) &&
            json_object_set_new(p, keep[i], json_deep_copy(json_object_get(base, keep[i]))))
            props = NULL;
    if (!props || json_object_set_new(p, "properties", props) != 0) {
        json_decref(p);
        return NULL;
    }
    return p;
}

int api__oa_record(struct api__oa *oa, const struct schema_type *t)
{
    char logical[96];
    snprintf(logical, sizeof logical, "%s.Record", t->name);
    json_t *rec = record_schema(oa, t);
    if (!rec || json_object_set_new(schemas_of(oa), api__oa_name(oa, logical), rec) != 0)
        return TR_ENOMEM;
    snprintf(logical, sizeof logical, "%s.Patch", t->name);
    json_t *patch = patch_schema(oa, t);
    if (!patch || json_object_set_new(schemas_of(oa), api__oa_name(oa, logical), patch) != 0)
        return TR_ENOMEM;
    return TR_OK;
}

/* The JSON type a query value of indexed field `f` is read as. */
static const char *field_type(const struct api__oa *oa, const struct schema_type *t, const char *f)
{
    json_t *base = plain_record(oa, t);
    json_t *s = deref(oa, json_object_get(json_object_get(base, "properties"), f));
    json_t *ty = json_object_get(s, "type");
    const char *name = json_string_value(ty);
    for (size_t i = 0; !name && i < json_array_size(ty); i++)
        if (strcmp(json_string_value(json_array_get(ty, i)), "null") != 0)
            name = json_string_value(json_array_get(ty, i));
    static const char *const scalars[] = {"string", "integer", "number", "boolean"};
    for (size_t i = 0; name && i < 4; i++)
        if (strcmp(name, scalars[i]) == 0)
            return scalars[i];
    return "string";
}

static int add_param(json_t *params, const char *name, const char *type, const char *desc)
{
    return json_array_append_new(params,
                                 json_pack("{s:s, s:s, s:s, s:{s:s}}", "name", name, "in", "query",
                                           "description", desc, "schema", "type", type));
}

int api__oa_list_params(struct api__oa *oa, const struct schema_type *t)
{
    char at[200];
    snprintf(at, sizeof at, "paths|/v1/data/%s|get|parameters", t->name);
    json_t *params = api__oa_at(oa->doc, at);
    static const char *const ops[][2] = {
        {"gt", "greater than"}, {"gte", "at least"}, {"lt", "less than"}, {"lte", "at most"}};
    json_t *order = json_array();
    if (!json_is_array(params) || !order)
        return TR_ENOMEM;
    for (size_t i = 0; i < t->index_count; i++) {
        const char *f = t->indexes[i];
        const char *type = field_type(oa, t, f);
        char name[200], desc[300];
        snprintf(desc, sizeof desc, "records whose %s equals this value", f);
        int rc = add_param(params, f, type, desc);
        for (size_t k = 0; rc == 0 && strcmp(type, "boolean") != 0 && k < 4; k++) {
            snprintf(name, sizeof name, "%s.%s", f, ops[k][0]);
            snprintf(desc, sizeof desc, "records whose %s is %s this value", f, ops[k][1]);
            rc = add_param(params, name, type, desc);
        }
        snprintf(name, sizeof name, "-%s", f);
        if (rc != 0 || json_array_append_new(order, json_string(f)) != 0 ||
            json_array_append_new(order, json_string(name)) != 0) {
            json_decref(order);
            return TR_ENOMEM;
        }
    }
    if (t->index_count == 0) {
        json_decref(order);
        return TR_OK;
    }
    json_t *p =
        json_pack("{s:s, s:s, s:s, s:{s:s, s:o}}", "name", "order_by", "in", "query", "description",
                  "order by this indexed field (ascending; the key breaks ties) "
                  "instead of by key",
                  "schema", "type", "string", "enum", order);
    return p && json_array_append_new(params, p) == 0 ? TR_OK : TR_ENOMEM;
}

/* The role an API key needs for an operation (docs/auth.md): none for the operations routes,
 * admin for governance, writer for other writes, reader for reads. */
static const char *op_role(const char *path, const char *method)
{
    if (path[0] != '/' || strncmp(path, "/v1/", 4) != 0)
        return NULL;
    if (strcmp(method, "get") == 0)
        return "reader";
    return strncmp(path, "/v1/members/", 12) == 0 || strncmp(path, "/v1/schema/", 11) == 0
               ? "admin"
               : "writer";
}

int api__oa_roles(struct api__oa *oa)
{
    const char *path, *method;
    json_t *item, *op;
    json_object_foreach(json_object_get(oa->doc, "paths"), path, item)
    {
        json_object_foreach(item, method, op)
        {
            const char *role = op_role(path, method);
            if (strcmp(method, "parameters") == 0 || !role)
                continue;
            const char *d = json_string_value(json_object_get(op, "description"));
            char text[1024];
            snprintf(text, sizeof text, "%s%sNeeds an API key with role %s or above.", d ? d : "",
                     d ? " " : "", role);
            if (json_object_set_new(op, "description", json_string(text)) != 0 ||
                json_object_set_new(op, "x-treaty-role", json_string(role)) != 0)
                return TR_ENOMEM;
        }
    }
    return TR_OK;
}
