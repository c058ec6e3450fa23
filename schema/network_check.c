/* network_check.c — the document-wide checks of a network schema, run before it is compiled:
 * every subschema is visited once (draft-07 keywords that hold schemas are followed; values such
 * as enum, const and default are data and are not), so refusals name the exact pointer.
 * Called by schema_network_load (network.c). */
#include "schema/network_int.h"
#include "common/err.h"

#include <string.h>

struct walk {
    struct schema__net_load *ld;
};

static int walk_schema(struct walk *w, const json_t *s, const struct schema__net_seg *at,
                       size_t depth, bool foreign);

static const char *const treaty_keywords[] = {"x-treaty-key", "x-treaty-indexes", "x-treaty-acl"};

/* Draft-07 keywords whose value is one schema (validation §6 and core §9). */
static const char *const single_schema_kw[] = {
    "additionalItems",
    "additionalProperties",
    "contains",
    "propertyNames",
    "if",
    "then",
    "else",
    "not",
};
/* Keywords whose value is an object of schemas. */
static const char *const map_schema_kw[] = {"properties", "patternProperties", "definitions",
                                            "dependencies"};
/* Keywords whose value is an array of schemas. */
static const char *const list_schema_kw[] = {"allOf", "anyOf", "oneOf", "items"};

static bool in_list(const char *k, const char *const *list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(k, list[i]) == 0)
            return true;
    return false;
}

#define IN_LIST(k, list) in_list((k), (list), sizeof(list) / sizeof((list)[0]))

static bool is_ext_object(const struct walk *w, const json_t *s)
{
    for (size_t i = 0; i < w->ld->rec_count; i++)
        if (w->ld->recs[i].ext == s)
            return true;
    return false;
}

/* x-treaty-* and x-vendia-* keywords at this schema object. */
static int check_extension(struct walk *w, const json_t *s, const char *k,
                           const struct schema__net_seg *at, size_t depth)
{
    struct schema__net_seg kseg = {at, k, 0, false};
    if (strncmp(k, "x-treaty-", 9) == 0) {
        if (!IN_LIST(k, treaty_keywords))
            return schema__net_fail(w->ld, &kseg, TR_ESCHEMA,
                                    "unknown keyword \"%s\" (treaty knows x-treaty-key, "
                                    "x-treaty-indexes and x-treaty-acl)",
                                    k);
        if (!is_ext_object(w, s))
            return schema__net_fail(w->ld, &kseg, TR_ESCHEMA,
                                    "%s is only allowed in a record type's schema "
                                    "(/properties/<type>/items)",
                                    k);
        return TR_OK;
    }
    if (strncmp(k, "x-vendia-", 9) == 0) {
        if (depth == 0 && (strcmp(k, "x-vendia-indexes") == 0 || strcmp(k, "x-vendia-acls") == 0))
            return TR_OK;
        return schema__net_fail(w->ld, &kseg, TR_ESCHEMA,
                                "Vendia extension \"%s\" is not supported here (treaty maps only "
                                "top-level x-vendia-indexes and x-vendia-acls)",
                                k);
    }
    return TR_OK;
}

static int check_ref(struct walk *w, const json_t *s, const struct schema__net_seg *at,
                     bool foreign)
{
    const json_t *v = json_object_get(s, "$ref");
    const char *ref = json_string_value(v);
    if (foreign && ref && ref[0] == '#') {
        /* Under a nested absolute $id, "#…" is relative to that resource; schema_compile
         * resolves it (and refuses what it cannot). */
        return TR_OK;
    }
    const json_t *end;
    return schema__net_ref_chain(w->ld, at, s, &end);
}

/* Names in a `properties` object below the root: '_' starts the record metadata names. */
static int check_prop_names(struct walk *w, const json_t *props, const struct schema__net_seg *at)
{
    const char *name;
    const json_t *v;
    json_object_foreach((json_t *)props, name, v)
    {
        if (name[0] == '_') {
            struct schema__net_seg nseg = {at, name, 0, false};
            return schema__net_fail(w->ld, &nseg, TR_ESCHEMA,
                                    "property names starting with '_' are reserved for record "
                                    "metadata (_key, _version, _owner, _tx, _height, "
                                    "_updated_at)");
        }
    }
    return TR_OK;
}

static int walk_member_values(struct walk *w, const json_t *v, const struct schema__net_seg *at,
                              size_t depth, bool foreign)
{
    if (json_is_object(v)) {
        const char *name;
        const json_t *sub;
        json_object_foreach((json_t *)v, name, sub)
        {
            struct schema__net_seg nseg = {at, name, 0, false};
            int rc = walk_schema(w, sub, &nseg, depth + 1, foreign);
            if (rc)
                return rc;
        }
    } else if (json_is_array(v)) {
        for (size_t i = 0; i < json_array_size(v); i++) {
            struct schema__net_seg iseg = {at, NULL, i, false};
            int rc = walk_schema(w, json_array_get(v, i), &iseg, depth + 1, foreign);
            if (rc)
                return rc;
        }
    }
    return TR_OK;
}

static int walk_keyword(struct walk *w, const json_t *s, const char *k, const json_t *v,
                        const struct schema__net_seg *at, size_t depth, bool foreign)
{
    struct schema__net_seg kseg = {at, k, 0, false};
    int rc = check_extension(w, s, k, at, depth);
    if (rc)
        return rc;
    if (strcmp(k, "$ref") == 0)
        return check_ref(w, s, at, foreign);
    if (strcmp(k, "properties") == 0 && depth > 0 && json_is_object(v)) {
        rc = check_prop_names(w, v, &kseg);
        if (rc)
            return rc;
    }
    if (IN_LIST(k, single_schema_kw) || (strcmp(k, "items") == 0 && json_is_object(v)))
        return walk_schema(w, v, &kseg, depth + 1, foreign);
    if (IN_LIST(k, map_schema_kw) && json_is_object(v))
        return walk_member_values(w, v, &kseg, depth, foreign);
    if (IN_LIST(k, list_schema_kw) && json_is_array(v))
        return walk_member_values(w, v, &kseg, depth, foreign);
    return TR_OK;
}

static int walk_schema(struct walk *w, const json_t *s, const struct schema__net_seg *at,
                       size_t depth, bool foreign)
{
    if (depth > w->ld->lim.max_depth)
        return schema__net_fail(w->ld, at, TR_ELIMIT, "schema nested deeper than %zu levels",
                                w->ld->lim.max_depth);
    if (!json_is_object(s))
        return TR_OK; /* boolean schemas; anything else is refused by schema_compile */
    const json_t *id = json_object_get(s, "$id");
    if (depth > 0 && json_is_string(id) && json_string_value(id)[0] != '#')
        foreign = true;
    const char *k;
    const json_t *v;
    json_object_foreach((json_t *)s, k, v)
    {
        int rc = walk_keyword(w, s, k, v, at, depth, foreign);
        if (rc)
            return rc;
    }
    return TR_OK;
}

int schema__net_check_doc(struct schema__net_load *ld)
{
    struct walk w = {ld};
    return walk_schema(&w, ld->doc, NULL, 0, false);
}
