/* network.c — network schemas (DESIGN §3.9): a draft-07 document whose top-level array properties
 * are record types. Loading checks the shape and the x-treaty-* / x-vendia-* extensions, then
 * compiles the whole document once; a loaded network is read-only, so api/ and node/ may validate
 * records from several threads. Record validation adds treaty's rules to draft-07's. */
#include "schema/network_int.h"
#include "common/alloc.h"
#include "common/err.h"

#include <string.h>

struct schema_network {
    json_t *doc;
    struct schema *compiled;
    size_t type_count;
    struct schema_type *types;
};

#define SCHEMA__NET_MAX_TYPE_NAME 64

/* Type names appear in URL paths (/v1/data/<type>) and in generated code. */
static bool type_name_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > SCHEMA__NET_MAX_TYPE_NAME)
        return false;
    if (!((s[0] >= 'A' && s[0] <= 'Z') || (s[0] >= 'a' && s[0] <= 'z')))
        return false;
    for (size_t i = 1; i < n; i++) {
        char c = s[i];
        bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                  c == '_' || c == '-';
        if (!ok)
            return false;
    }
    return true;
}

/* Where the x-treaty-* keywords of a type live: on items, unless items is only a $ref (then on
 * the record schema it names). */
static const json_t *ext_object(const json_t *items, const json_t *record)
{
    if (!json_object_get(items, "$ref"))
        return items;
    const char *k;
    const json_t *v;
    json_object_foreach((json_t *)items, k, v)
    {
        if (strncmp(k, "x-treaty-", 9) == 0)
            return items;
    }
    return record;
}

/* Fills ld->recs[i] and n->types[i].name/pointer for the type `name` at /properties/<name>. */
static int collect_one(struct schema__net_load *ld, struct schema_network *n, size_t i,
                       const char *name, const json_t *wrapper, const struct schema__net_seg *at)
{
    struct schema__net_seg tseg = {at, "type", 0, false};
    struct schema__net_seg iseg = {at, "items", 0, false};
    if (!type_name_ok(name))
        return schema__net_fail(ld, at, TR_ESCHEMA,
                                "type name \"%s\" must start with a letter and contain only "
                                "letters, digits, '_' and '-' (at most %d characters)",
                                name, SCHEMA__NET_MAX_TYPE_NAME);
    if (!json_is_object(wrapper))
        return schema__net_fail(ld, at, TR_ESCHEMA,
                                "record type \"%s\" must be a schema with type \"array\"", name);
    const char *type = json_string_value(json_object_get(wrapper, "type"));
    if (!type || strcmp(type, "array") != 0)
        return schema__net_fail(ld, json_object_get(wrapper, "type") ? &tseg : at, TR_ESCHEMA,
                                "record type \"%s\" must have type \"array\" (its items describe "
                                "one record)",
                                name);
    const json_t *items = json_object_get(wrapper, "items");
    if (!json_is_object(items))
        return schema__net_fail(ld, items ? &iseg : at, TR_ESCHEMA,
                                "record type \"%s\" needs an object schema in items", name);
    const json_t *record;
    int rc = schema__net_ref_chain(ld, &iseg, items, &record);
    if (rc)
        return rc;
    if (!json_is_object(record))
        return schema__net_fail(ld, &iseg, TR_ESCHEMA,
                                "the items of record type \"%s\" must resolve to an object schema",
                                name);
    struct schema__net_rec *r = &ld->recs[i];
    r->name = name;
    r->items = items;
    r->record = record;
    r->ext = ext_object(items, record);
    const char *ref = json_string_value(json_object_get(items, "$ref"));
    struct schema__net_seg rseg = {NULL, ref ? ref + 1 : "", 0, true};
    r->ext_pointer = schema__net_path_dup(r->ext == items ? &iseg : &rseg);
    n->types[i].name = tr_strdup(name);
    n->types[i].pointer = schema__net_path_dup(&iseg);
    if (!r->ext_pointer || !n->types[i].name || !n->types[i].pointer)
        return TR_ENOMEM;
    return TR_OK;
}

static int collect_types(struct schema__net_load *ld, struct schema_network *n)
{
    struct schema__net_seg pseg = {NULL, "properties", 0, false};
    const json_t *props = json_object_get(ld->doc, "properties");
    if (!json_is_object(props))
        return schema__net_fail(ld, props ? &pseg : NULL, TR_ESCHEMA,
                                "a network schema declares its record types in a top-level "
                                "\"properties\" object");
    size_t count = json_object_size(props);
    n->types = tr_calloc(count + 1, sizeof *n->types);
    ld->recs = tr_calloc(count + 1, sizeof *ld->recs);
    if (!n->types || !ld->recs)
        return TR_ENOMEM;
    const char *name;
    const json_t *wrapper;
    json_object_foreach((json_t *)props, name, wrapper)
    {
        struct schema__net_seg nseg = {&pseg, name, 0, false};
        n->type_count++;
        ld->rec_count++;
        int rc = collect_one(ld, n, n->type_count - 1, name, wrapper, &nseg);
        if (rc)
            return rc;
    }
    return TR_OK;
}

static int compile_nodes(struct schema__net_load *ld, struct schema_network *n)
{
    int rc = schema_compile(n->doc, &ld->lim, &n->compiled, ld->errmsg, ld->errlen);
    if (rc)
        return rc;
    for (size_t i = 0; i < n->type_count; i++) {
        n->types[i].node = schema_node_at(n->compiled, n->types[i].pointer);
        if (!n->types[i].node) {
            struct schema__net_seg s = {NULL, n->types[i].pointer, 0, true};
            return schema__net_fail(ld, &s, TR_EINTERNAL,
                                    "compiled schema has no node for this record type");
        }
    }
    return TR_OK;
}

static int load_steps(struct schema__net_load *ld, struct schema_network *n)
{
    int rc = collect_types(ld, n);
    if (!rc)
        rc = schema__net_check_doc(ld);
    for (size_t i = 0; !rc && i < n->type_count; i++)
        rc = schema__net_type_ext(ld, i, &n->types[i]);
    if (!rc)
        rc = schema__net_vendia(ld, n->types);
    if (!rc)
        rc = compile_nodes(ld, n);
    return rc;
}

int schema_network_load(const json_t *doc, const struct schema_limits *l,
                        struct schema_network **out, char *errmsg, size_t errlen)
{
    struct schema__net_load ld = {0};
    struct schema_network *n = NULL;
    int rc = TR_ENOMEM;
    *out = NULL;
    if (errmsg && errlen)
        errmsg[0] = '\0';
    ld.errmsg = errmsg;
    ld.errlen = errlen;
    if (l)
        ld.lim = *l;
    else
        schema_limits_default(&ld.lim);
    if (!json_is_object(doc))
        return schema__net_fail(&ld, NULL, TR_ESCHEMA,
                                "a network schema must be a JSON object (draft-07 schema with "
                                "record types in properties)");
    n = tr_calloc(1, sizeof *n);
    if (!n)
        goto fail;
    n->doc = json_deep_copy(doc);
    if (!n->doc)
        goto fail;
    ld.doc = n->doc;
    rc = load_steps(&ld, n);
    if (rc)
        goto fail;
    for (size_t i = 0; i < ld.rec_count; i++)
        tr_free(ld.recs[i].ext_pointer);
    tr_free(ld.recs);
    *out = n;
    return TR_OK;
fail:
    if (rc == TR_ENOMEM && errmsg && errlen)
        schema__net_fail(&ld, NULL, rc, "out of memory while loading the network schema");
    for (size_t i = 0; i < ld.rec_count; i++)
        tr_free(ld.recs[i].ext_pointer);
    tr_free(ld.recs);
    schema_network_destroy(n);
    return rc;
}

void schema_network_destroy(struct schema_network *n)
{
    if (!n)
        return;
    for (size_t i = 0; i < n->type_count; i++) {
        tr_free(n->types[i].name);
        tr_free(n->types[i].pointer);
        schema__net_type_ext_free(&n->types[i]);
    }
    tr_free(n->types);
    schema_destroy(n->compiled);
    json_decref(n->doc);
    tr_free(n);
}

size_t schema_network_type_count(const struct schema_network *n)
{
    return n->type_count;
}

const struct schema_type *schema_network_type_at(const struct schema_network *n, size_t i)
{
    return i < n->type_count ? &n->types[i] : NULL;
}

const struct schema_type *schema_network_type_find(const struct schema_network *n, const char *name)
{
    for (size_t i = 0; i < n->type_count; i++)
        if (strcmp(n->types[i].name, name) == 0)
            return &n->types[i];
    return NULL;
}

const struct schema *schema_network_compiled(const struct schema_network *n)
{
    return n->compiled;
}

const json_t *schema_network_doc(const struct schema_network *n)
{
    return n->doc;
}

/* ------------------------------------------------------------------------------------------
 * Record validation: draft-07, then treaty's record rules.
 * ---------------------------------------------------------------------------------------- */

/* Appends one violation; keeps at most errs->max and marks the rest as truncated. */
static int err_add(struct schema_errors *errs, const struct schema__net_seg *inst,
                   const char *schema_path, const char *message)
{
    if (errs->len >= errs->max) {
        errs->truncated = true;
        return TR_OK;
    }
    if (errs->len == errs->cap) {
        size_t cap = errs->cap ? errs->cap * 2 : 8;
        struct schema_error *v = tr_realloc(errs->v, cap * sizeof *v);
        if (!v)
            return TR_ENOMEM;
        errs->v = v;
        errs->cap = cap;
    }
    struct schema_error *e = &errs->v[errs->len];
    e->instance_path = schema__net_path_dup(inst);
    e->schema_path = tr_strdup(schema_path);
    e->message = tr_strdup(message);
    if (!e->instance_path || !e->schema_path || !e->message) {
        tr_free(e->instance_path);
        tr_free(e->schema_path);
        tr_free(e->message);
        return TR_ENOMEM;
    }
    errs->len++;
    return TR_OK;
}

/* A record violation: counts it, and records it when errs is given. */
static int rule_fail(struct schema_errors *errs, int *verdict, const struct schema__net_seg *inst,
                     const struct schema_type *t, const char *suffix, const char *message)
{
    *verdict = TR_EINVALID;
    if (!errs)
        return TR_OK;
    char *sp =
        schema__net_path_dup_name(&(struct schema__net_seg){NULL, t->pointer, 0, true}, suffix);
    if (!sp)
        return TR_ENOMEM;
    int rc = err_add(errs, inst, sp, message);
    tr_free(sp);
    return rc;
}

static int key_rule(const struct schema_type *t, const json_t *record, struct schema_errors *errs,
                    int *verdict)
{
    struct schema__net_seg kseg = {NULL, t->key_field, 0, false};
    const json_t *k = json_object_get(record, t->key_field);
    if (!k)
        return TR_OK; /* key is in required: draft-07 validation already reported it */
    /* Other kinds of wrong value break the key property's own "type" and are reported by
     * draft-07; what remains is what draft-07 allows but a key must not be: 3.0 as an integer
     * (§6.1.1 counts it as one) and the empty string (it cannot be a URL path segment). */
    if (t->key_kind == SCHEMA_KEY_INTEGER && json_is_real(k))
        return rule_fail(errs, verdict, &kseg, t, "x-treaty-key",
                         "key must be a JSON integer (no fraction, no exponent)");
    if (t->key_kind == SCHEMA_KEY_STRING && json_is_string(k) && json_string_length(k) == 0)
        return rule_fail(errs, verdict, &kseg, t, "x-treaty-key", "key must not be empty");
    return TR_OK;
}

static int record_rules(const struct schema_type *t, const json_t *record, int draft_rc,
                        struct schema_errors *errs, int *verdict)
{
    if (!json_is_object(record)) {
        /* A record schema without "type": "object" lets draft-07 accept a non-object. */
        if (draft_rc != TR_OK)
            return TR_OK;
        return rule_fail(errs, verdict, NULL, t, NULL, "a record must be a JSON object");
    }
    const char *name;
    const json_t *v;
    json_object_foreach((json_t *)record, name, v)
    {
        if (name[0] != '_')
            continue;
        struct schema__net_seg nseg = {NULL, name, 0, false};
        int rc = rule_fail(errs, verdict, &nseg, t, "properties",
                           "property names starting with '_' are reserved for record metadata");
        if (rc)
            return rc;
    }
    return key_rule(t, record, errs, verdict);
}

int schema_network_validate(const struct schema_network *n, const struct schema_type *t,
                            const json_t *record, struct schema_errors *errs)
{
    int rc = schema_validate(n->compiled, t->node, record, errs);
    if (rc != TR_OK && rc != TR_EINVALID)
        return rc;
    if (rc == TR_EINVALID && !errs)
        return rc;
    int verdict = rc;
    int rr = record_rules(t, record, rc, errs, &verdict);
    return rr ? rr : verdict;
}
