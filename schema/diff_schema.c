/* diff_schema.c — the keyword rules of schema evolution: compares two subschemas keyword by
 * keyword (draft-07 validation §6) and classifies each difference. A rule only says
 * "compatible" when every value the old subschema accepted is still accepted; anything it cannot
 * show is breaking ("unclassified-change"). Called by diff.c for types and definitions. */
#include "schema/network_int.h"
#include "common/err.h"

#include <stdio.h>
#include <string.h>

#define DIFF_VALUE_TEXT 80
#define COMPAT          SCHEMA_CHANGE_COMPATIBLE
#define BREAKING        SCHEMA_CHANGE_BREAKING

/* Compact JSON text of v for messages, shortened to fit buf (json_dumpb allocates nothing; when
 * the text does not fit it writes only the chunks that do, so the rest is zeroed first). */
static void value_text(const json_t *v, char *buf, size_t len)
{
    memset(buf, 0, len);
    size_t n = v ? json_dumpb(v, buf, len - 1, JSON_COMPACT | JSON_ENCODE_ANY) : 0;
    if (n == 0) {
        snprintf(buf, len, "%s", v ? "?" : "any");
    } else if (n >= len - 1 && json_is_string(v)) {
        const char *str = json_string_value(v);
        size_t cut = len - 6 < json_string_length(v) ? len - 6 : json_string_length(v);
        while (cut > 0 && ((unsigned char)str[cut] & 0xC0) == 0x80)
            cut--; /* keep the message valid UTF-8: never split a character */
        snprintf(buf, len, "\"%.*s...\"", (int)cut, str);
    } else if (n >= len - 1) {
        size_t pos = strnlen(buf, len - 4);
        memcpy(buf + pos, "...", 4);
    }
}

/* JSON Schema equality for enum/const members: numbers by value (core §4.2.2), the rest exactly. */
static bool value_equal(const json_t *a, const json_t *b)
{
    if (json_is_number(a) && json_is_number(b))
        return json_number_value(a) == json_number_value(b);
    return json_equal((json_t *)a, (json_t *)b) != 0;
}

static bool in_array(const json_t *arr, const json_t *v)
{
    for (size_t i = 0; i < json_array_size(arr); i++)
        if (value_equal(json_array_get(arr, i), v))
            return true;
    return false;
}

/* ------------------------------------------------------------------------------------------
 * Keyword rules. Each gets the two parent schema objects (either may lack the keyword).
 * ---------------------------------------------------------------------------------------- */

enum { T_NULL = 1, T_BOOL = 2, T_OBJ = 4, T_ARR = 8, T_NUM = 16, T_STR = 32, T_INT = 64 };
#define T_ALL 127u

static unsigned type_bit(const char *s)
{
    static const char *const names[] = {"null",   "boolean", "object", "array",
                                        "number", "string",  "integer"};
    for (unsigned i = 0; i < 7; i++)
        if (s && strcmp(s, names[i]) == 0)
            return 1u << i;
    return 0;
}

/* The set of instance types `type` allows; 0 when it is malformed. */
static unsigned type_set(const json_t *t)
{
    if (!t)
        return T_ALL;
    if (json_is_string(t))
        return type_bit(json_string_value(t));
    unsigned set = 0;
    for (size_t i = 0; i < json_array_size(t); i++) {
        unsigned b = type_bit(json_string_value(json_array_get(t, i)));
        if (!b)
            return 0;
        set |= b;
    }
    return json_is_array(t) ? set : 0;
}

static void rule_type(struct schema__diff *d, const json_t *o, const json_t *n,
                      const struct schema__net_seg *at)
{
    const json_t *to = json_object_get(o, "type"), *tn = json_object_get(n, "type");
    unsigned so = type_set(to), sn = type_set(tn);
    if (!so || !sn) {
        schema__diff_unclassified(d, at, "type");
        return;
    }
    /* every integer is a number (validation §6.1.1) */
    unsigned sn_eff = (sn & T_NUM) ? (sn | T_INT) : sn;
    unsigned so_eff = (so & T_NUM) ? (so | T_INT) : so;
    if (so_eff == sn_eff)
        return;
    char a[DIFF_VALUE_TEXT], b[DIFF_VALUE_TEXT];
    value_text(to, a, sizeof a);
    value_text(tn, b, sizeof b);
    if ((so_eff & ~sn_eff) == 0)
        schema__diff_add(d, COMPAT, at, "type", "relaxed-type", "type widened from %s to %s", a, b);
    else
        schema__diff_add(d, BREAKING, at, "type", "changed-type",
                         "type changed from %s to %s; stored values of the old type become invalid",
                         a, b);
}

static void rule_enum(struct schema__diff *d, const json_t *o, const json_t *n,
                      const struct schema__net_seg *at)
{
    const json_t *eo = json_object_get(o, "enum"), *en = json_object_get(n, "enum");
    char buf[DIFF_VALUE_TEXT];
    if ((eo && !json_is_array(eo)) || (en && !json_is_array(en))) {
        schema__diff_unclassified(d, at, "enum");
        return;
    }
    if (!eo) {
        schema__diff_add(d, BREAKING, at, "enum", "enum-added",
                         "an enum now restricts values that were free before");
        return;
    }
    if (!en) {
        schema__diff_add(d, COMPAT, at, "enum", "relaxed-enum", "the enum restriction was removed");
        return;
    }
    for (size_t i = 0; i < json_array_size(eo); i++) {
        const json_t *v = json_array_get(eo, i);
        if (in_array(en, v))
            continue;
        value_text(v, buf, sizeof buf);
        schema__diff_add(d, BREAKING, at, "enum", "removed-enum-value",
                         "enum value %s was removed; stored records holding it become invalid",
                         buf);
    }
    for (size_t i = 0; i < json_array_size(en); i++) {
        const json_t *v = json_array_get(en, i);
        if (in_array(eo, v))
            continue;
        value_text(v, buf, sizeof buf);
        schema__diff_add(d, COMPAT, at, "enum", "new-enum-value", "enum value %s was added", buf);
    }
}

static void rule_const(struct schema__diff *d, const json_t *o, const json_t *n,
                       const struct schema__net_seg *at)
{
    const json_t *co = json_object_get(o, "const"), *cn = json_object_get(n, "const");
    if (co && cn && value_equal(co, cn))
        return;
    if (!co)
        schema__diff_add(d, BREAKING, at, "const", "const-added",
                         "a const now fixes a value that was free");
    else if (!cn)
        schema__diff_add(d, COMPAT, at, "const", "relaxed-const",
                         "the const restriction was removed");
    else
        schema__diff_add(d, BREAKING, at, "const", "changed-const", "the const value changed");
}

/* Lower bounds tighten upwards, upper bounds downwards; adding one tightens, removing relaxes. */
static void rule_bound(struct schema__diff *d, const json_t *o, const json_t *n,
                       const struct schema__net_seg *at, const char *kw, bool lower)
{
    const json_t *bo = json_object_get(o, kw), *bn = json_object_get(n, kw);
    if ((bo && !json_is_number(bo)) || (bn && !json_is_number(bn))) {
        schema__diff_unclassified(d, at, kw);
        return;
    }
    char a[DIFF_VALUE_TEXT], b[DIFF_VALUE_TEXT];
    if (bo)
        value_text(bo, a, sizeof a);
    if (bn)
        value_text(bn, b, sizeof b);
    if (!bo) {
        schema__diff_add(d, BREAKING, at, kw, "tightened-bound", "%s %s was added", kw, b);
        return;
    }
    if (!bn) {
        schema__diff_add(d, COMPAT, at, kw, "relaxed-bound", "%s %s was removed", kw, a);
        return;
    }
    double x = json_number_value(bo), y = json_number_value(bn);
    if (x == y)
        return;
    if (lower ? y > x : y < x)
        schema__diff_add(d, BREAKING, at, kw, "tightened-bound",
                         "%s tightened from %s to %s; stored values may fall outside it", kw, a, b);
    else
        schema__diff_add(d, COMPAT, at, kw, "relaxed-bound", "%s relaxed from %s to %s", kw, a, b);
}

/* Whether q >= 1 is a whole number up to the rounding of one division (0.01 / 0.001 is
 * 10.000000000000002). Done by hand so the module needs no libm. */
static bool whole(double q)
{
    if (!(q >= 1 && q < 9.0e15))
        return false;
    double r = (double)(long long)(q + 0.5);
    double diff = q > r ? q - r : r - q;
    return diff <= 1e-9 * q;
}

static void rule_multiple_of(struct schema__diff *d, const json_t *o, const json_t *n,
                             const struct schema__net_seg *at)
{
    const json_t *mo = json_object_get(o, "multipleOf"), *mn = json_object_get(n, "multipleOf");
    if ((mo && !json_is_number(mo)) || (mn && !json_is_number(mn))) {
        schema__diff_unclassified(d, at, "multipleOf");
        return;
    }
    if (!mo) {
        schema__diff_add(d, BREAKING, at, "multipleOf", "tightened-bound", "multipleOf was added");
        return;
    }
    if (!mn) {
        schema__diff_add(d, COMPAT, at, "multipleOf", "relaxed-bound", "multipleOf was removed");
        return;
    }
    double x = json_number_value(mo), y = json_number_value(mn);
    if (x == y)
        return;
    /* Every multiple of x is a multiple of y exactly when x / y is a whole number. */
    double q = y != 0 ? x / y : 0.5;
    if (whole(q))
        schema__diff_add(d, COMPAT, at, "multipleOf", "relaxed-bound",
                         "multipleOf relaxed from %g to %g", x, y);
    else
        schema__diff_add(
            d, BREAKING, at, "multipleOf", "tightened-bound",
            "multipleOf changed from %g to %g; stored values may not be multiples of it", x, y);
}

static void rule_unique(struct schema__diff *d, const json_t *o, const json_t *n,
                        const struct schema__net_seg *at)
{
    const json_t *uo = json_object_get(o, "uniqueItems"), *un = json_object_get(n, "uniqueItems");
    if ((uo && !json_is_boolean(uo)) || (un && !json_is_boolean(un))) {
        schema__diff_unclassified(d, at, "uniqueItems");
        return;
    }
    bool a = json_is_true(uo), b = json_is_true(un);
    if (a == b)
        return;
    if (b)
        schema__diff_add(d, BREAKING, at, "uniqueItems", "tightened-bound",
                         "uniqueItems now forbids repeated items");
    else
        schema__diff_add(d, COMPAT, at, "uniqueItems", "relaxed-bound",
                         "uniqueItems no longer applies");
}

/* pattern and format: adding or changing one can only be proved compatible for formats treaty
 * does not assert (draft-07 then treats them as annotations). */
static void rule_string_check(struct schema__diff *d, const json_t *o, const json_t *n,
                              const struct schema__net_seg *at, const char *kw)
{
    const char *so = json_string_value(json_object_get(o, kw));
    const char *sn = json_string_value(json_object_get(n, kw));
    if ((json_object_get(o, kw) && !so) || (json_object_get(n, kw) && !sn)) {
        schema__diff_unclassified(d, at, kw);
        return;
    }
    bool fmt = strcmp(kw, "format") == 0;
    if (so && sn && strcmp(so, sn) == 0)
        return;
    if (!sn) {
        schema__diff_add(d, COMPAT, at, kw, fmt ? "relaxed-format" : "relaxed-pattern",
                         "%s \"%s\" was removed", kw, so);
        return;
    }
    if (fmt && schema_format_check(sn, "", 0) < 0) {
        schema__diff_add(d, COMPAT, at, kw, "documentation-change",
                         "format \"%s\" is not asserted by treaty (annotation only)", sn);
        return;
    }
    if (!so)
        schema__diff_add(d, BREAKING, at, kw, fmt ? "new-format" : "new-pattern",
                         "%s \"%s\" was added; stored values may not match it", kw, sn);
    else
        schema__diff_add(d, BREAKING, at, kw, fmt ? "changed-format" : "changed-pattern",
                         "%s changed from \"%s\" to \"%s\"; stored values may not match it", kw, so,
                         sn);
}

static bool name_in(const json_t *arr, const char *name)
{
    for (size_t i = 0; i < json_array_size(arr); i++) {
        const char *s = json_string_value(json_array_get(arr, i));
        if (s && strcmp(s, name) == 0)
            return true;
    }
    return false;
}

static void rule_required(struct schema__diff *d, const json_t *o, const json_t *n,
                          const struct schema__net_seg *at)
{
    const json_t *ro = json_object_get(o, "required"), *rn = json_object_get(n, "required");
    if ((ro && !json_is_array(ro)) || (rn && !json_is_array(rn))) {
        schema__diff_unclassified(d, at, "required");
        return;
    }
    for (size_t i = 0; i < json_array_size(rn); i++) {
        const char *s = json_string_value(json_array_get(rn, i));
        if (s && !name_in(ro, s))
            schema__diff_add(
                d, BREAKING, at, "required", "new-required-property",
                "property \"%s\" is now required; stored records without it become invalid", s);
    }
    for (size_t i = 0; i < json_array_size(ro); i++) {
        const char *s = json_string_value(json_array_get(ro, i));
        if (s && !name_in(rn, s))
            schema__diff_add(d, COMPAT, at, "required", "relaxed-required",
                             "property \"%s\" is no longer required", s);
    }
}

/* `true` and an absent subschema accept everything: both are compared as the empty schema. */
static const json_t *norm(const json_t *s)
{
    return json_is_true(s) ? NULL : s;
}

static void rule_properties(struct schema__diff *d, const json_t *o, const json_t *n,
                            const struct schema__net_seg *at)
{
    const json_t *po = json_object_get(o, "properties"), *pn = json_object_get(n, "properties");
    struct schema__net_seg pseg = {at, "properties", 0, false};
    if ((po && !json_is_object(po)) || (pn && !json_is_object(pn))) {
        schema__diff_unclassified(d, at, "properties");
        return;
    }
    const char *name;
    const json_t *v;
    json_object_foreach((json_t *)po, name, v)
    {
        const json_t *nv = json_object_get(pn, name);
        if (nv)
            schema__diff_schema(d, v, nv, &(struct schema__net_seg){&pseg, name, 0, false});
        else
            schema__diff_add(d, BREAKING, &pseg, name, "removed-property",
                             "property \"%s\" was removed; clients and stored records still use it",
                             name);
    }
    const json_t *addl = json_object_get(o, "additionalProperties");
    json_object_foreach((json_t *)pn, name, v)
    {
        if (json_object_get(po, name))
            continue;
        struct schema__net_seg nseg = {&pseg, name, 0, false};
        if (name_in(json_object_get(n, "required"), name) &&
            !name_in(json_object_get(o, "required"), name))
            continue; /* reported by rule_required as new-required-property */
        if (json_is_object(addl))
            schema__diff_schema(d, addl, v, &nseg); /* old records held it under this schema */
        else
            schema__diff_add(d, COMPAT, &pseg, name, "new-optional-property",
                             "optional property \"%s\" was added", name);
    }
}

static void rule_additional(struct schema__diff *d, const json_t *o, const json_t *n,
                            const struct schema__net_seg *at)
{
    const json_t *ao = norm(json_object_get(o, "additionalProperties"));
    const json_t *an = norm(json_object_get(n, "additionalProperties"));
    if (json_is_false(an) && !json_is_false(ao))
        schema__diff_add(
            d, BREAKING, at, "additionalProperties", "closed-additional-properties",
            "additionalProperties is now false; stored records with other properties become "
            "invalid");
    else if (json_is_false(ao) && !json_is_false(an))
        schema__diff_add(d, COMPAT, at, "additionalProperties", "relaxed-additional-properties",
                         "properties beyond those declared are now allowed");
    else
        schema__diff_schema(d, ao, an,
                            &(struct schema__net_seg){at, "additionalProperties", 0, false});
}

/* A keyword holding one subschema whose relaxing relaxes the whole (and tightening tightens). */
static void rule_monotone(struct schema__diff *d, const json_t *o, const json_t *n,
                          const struct schema__net_seg *at, const char *kw)
{
    const json_t *so = json_object_get(o, kw), *sn = json_object_get(n, kw);
    if (strcmp(kw, "contains") == 0 && (!so || !sn)) {
        schema__diff_unclassified(d, at, kw);
        return;
    } /* `contains` present at all requires a matching item */
    schema__diff_schema(d, norm(so), norm(sn), &(struct schema__net_seg){at, kw, 0, false});
}

static void compare_arrays(struct schema__diff *d, const json_t *ao, const json_t *an,
                           const struct schema__net_seg *at, const char *kw)
{
    struct schema__net_seg kseg = {at, kw, 0, false};
    if (!json_is_array(ao) || !json_is_array(an) || json_array_size(ao) != json_array_size(an)) {
        schema__diff_unclassified(d, at, kw);
        return;
    }
    for (size_t i = 0; i < json_array_size(ao); i++)
        schema__diff_schema(d, json_array_get(ao, i), json_array_get(an, i),
                            &(struct schema__net_seg){&kseg, NULL, i, false});
}

static void rule_items(struct schema__diff *d, const json_t *o, const json_t *n,
                       const struct schema__net_seg *at)
{
    const json_t *io = json_object_get(o, "items"), *in = json_object_get(n, "items");
    if (json_is_array(io) || json_is_array(in)) {
        compare_arrays(d, io, in, at, "items");
        return;
    }
    schema__diff_schema(d, norm(io), norm(in), &(struct schema__net_seg){at, "items", 0, false});
}

/* allOf and anyOf compared member by member: relaxing a member relaxes the whole. oneOf is not:
 * relaxing one member can make a value match two. */
static void rule_list(struct schema__diff *d, const json_t *o, const json_t *n,
                      const struct schema__net_seg *at, const char *kw)
{
    compare_arrays(d, json_object_get(o, kw), json_object_get(n, kw), at, kw);
}

static void rule_pattern_props(struct schema__diff *d, const json_t *o, const json_t *n,
                               const struct schema__net_seg *at)
{
    const json_t *po = json_object_get(o, "patternProperties");
    const json_t *pn = json_object_get(n, "patternProperties");
    struct schema__net_seg kseg = {at, "patternProperties", 0, false};
    if (!json_is_object(po) || !json_is_object(pn) ||
        json_object_size(po) != json_object_size(pn)) {
        schema__diff_unclassified(d, at, "patternProperties");
        return;
    }
    const char *re;
    const json_t *v;
    json_object_foreach((json_t *)po, re, v)
    {
        if (!json_object_get(pn, re)) {
            schema__diff_unclassified(d, at, "patternProperties");
            return;
        }
    }
    json_object_foreach((json_t *)po, re, v)
    {
        schema__diff_schema(d, v, json_object_get(pn, re),
                            &(struct schema__net_seg){&kseg, re, 0, false});
    }
}

static bool kw_is(const char *k, const char *const *list)
{
    for (; *list; list++)
        if (strcmp(k, *list) == 0)
            return true;
    return false;
}

/* Keywords that never change which values are valid (draft-07 validation §10, §8; core §9). */
static const char *const annotation_kw[] = {
    "title",     "description",      "$comment",        "examples", "default", "readOnly",
    "writeOnly", "contentMediaType", "contentEncoding", "$schema",  NULL};
static const char *const lower_kw[] = {"minimum",  "exclusiveMinimum", "minLength",
                                       "minItems", "minProperties",    NULL};
static const char *const upper_kw[] = {"maximum",  "exclusiveMaximum", "maxLength",
                                       "maxItems", "maxProperties",    NULL};
static const char *const monotone_kw[] = {"additionalItems", "contains", "propertyNames", NULL};
/* Changes to these are never proved compatible. */
static const char *const opaque_kw[] = {"oneOf", "not",          "if",  "then",
                                        "else",  "dependencies", "$id", NULL};

void schema__diff_keyword(struct schema__diff *d, const json_t *o, const json_t *n, const char *k,
                          const struct schema__net_seg *at)
{
    const json_t *vo = json_object_get(o, k), *vn = json_object_get(n, k);
    if (vo && vn && json_equal((json_t *)vo, (json_t *)vn))
        return;
    if (strncmp(k, "x-treaty-", 9) == 0 || strncmp(k, "x-vendia-", 9) == 0 ||
        strcmp(k, "definitions") == 0)
        return; /* compared per type / per named definition / through $ref at the use site */
    if (kw_is(k, lower_kw) || kw_is(k, upper_kw)) {
        rule_bound(d, o, n, at, k, kw_is(k, lower_kw));
        return;
    }
    if (kw_is(k, monotone_kw)) {
        rule_monotone(d, o, n, at, k);
        return;
    }
    if (kw_is(k, opaque_kw)) {
        schema__diff_unclassified(d, at, k);
        return;
    }
    if (strcmp(k, "allOf") == 0 || strcmp(k, "anyOf") == 0) {
        rule_list(d, o, n, at, k);
        return;
    }
    if (strcmp(k, "pattern") == 0 || strcmp(k, "format") == 0) {
        rule_string_check(d, o, n, at, k);
        return;
    }
    static const struct {
        const char *kw;
        void (*fn)(struct schema__diff *, const json_t *, const json_t *,
                   const struct schema__net_seg *);
    } rules[] = {
        {"type", rule_type},
        {"enum", rule_enum},
        {"const", rule_const},
        {"multipleOf", rule_multiple_of},
        {"uniqueItems", rule_unique},
        {"required", rule_required},
        {"properties", rule_properties},
        {"additionalProperties", rule_additional},
        {"items", rule_items},
        {"patternProperties", rule_pattern_props},
    };
    for (size_t i = 0; i < sizeof rules / sizeof rules[0]; i++)
        if (strcmp(k, rules[i].kw) == 0) {
            rules[i].fn(d, o, n, at);
            return;
        }
    if (kw_is(k, annotation_kw))
        schema__diff_add(d, COMPAT, at, k, "documentation-change", "annotation \"%s\" changed", k);
    else /* draft-07 ignores keywords it does not define (core §4.3.1) */
        schema__diff_add(d, COMPAT, at, k, "documentation-change",
                         "keyword \"%s\" changed; it is not a draft-07 validation keyword", k);
}

static void compare_keywords(struct schema__diff *d, const json_t *o, const json_t *n,
                             const struct schema__net_seg *at)
{
    const char *k;
    const json_t *v;
    json_object_foreach((json_t *)o, k, v)
    {
        schema__diff_keyword(d, o, n, k, at);
    }
    json_object_foreach((json_t *)n, k, v)
    {
        if (!json_object_get(o, k))
            schema__diff_keyword(d, o, n, k, at);
    }
}

/* A reference to a top-level definition by name: those are compared once, under /definitions. */
static bool named_definition_ref(const char *ref)
{
    const char *p = "#/definitions/";
    return strncmp(ref, p, strlen(p)) == 0 && !strchr(ref + strlen(p), '/');
}

static void compare_refs(struct schema__diff *d, const json_t *o, const json_t *n,
                         const struct schema__net_seg *at)
{
    const char *ro = json_string_value(json_object_get(o, "$ref"));
    const char *rn = json_string_value(json_object_get(n, "$ref"));
    if (ro && rn && strcmp(ro, rn) == 0 && named_definition_ref(ro))
        return;
    const json_t *to = schema__net_deref(d->old_doc, o);
    const json_t *tn = schema__net_deref(d->new_doc, n);
    if ((o && !to) || (n && !tn)) {
        schema__diff_unclassified(d, at, "$ref");
        return;
    }
    for (size_t i = 0; i < d->ref_depth; i++)
        if (d->ref_o[i] == to && d->ref_n[i] == tn)
            return; /* already being compared further up: recursion of a recursive type */
    if (d->ref_depth == SCHEMA__DIFF_MAX_REF_DEPTH) {
        schema__diff_unclassified(d, at, "$ref");
        return;
    }
    d->ref_o[d->ref_depth] = to;
    d->ref_n[d->ref_depth] = tn;
    d->ref_depth++;
    schema__diff_schema(d, to, tn, at);
    d->ref_depth--;
}

/* o and n are subschemas (NULL: absent, i.e. accepts everything). */
void schema__diff_schema(struct schema__diff *d, const json_t *o, const json_t *n,
                         const struct schema__net_seg *at)
{
    o = norm(o);
    n = norm(n);
    if (d->rc || (o && n && json_equal((json_t *)o, (json_t *)n)) || (!o && !n))
        return;
    if (json_object_get(o, "$ref") || json_object_get(n, "$ref")) {
        compare_refs(d, o, n, at);
        return;
    }
    if (json_is_false(n)) {
        schema__diff_add(d, BREAKING, at, NULL, "tightened-schema",
                         "the schema now rejects every value");
        return;
    }
    if (json_is_false(o)) {
        schema__diff_add(d, COMPAT, at, NULL, "relaxed-schema",
                         "the schema accepted nothing before");
        return;
    }
    if ((o && !json_is_object(o)) || (n && !json_is_object(n))) {
        schema__diff_unclassified(d, at, NULL);
        return;
    }
    compare_keywords(d, o, n, at);
}
