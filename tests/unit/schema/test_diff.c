/* test_diff.c — schema evolution (schema/diff*.c): one case per rule, compatible and breaking, in
 * fixtures/diff_cases.json (each checks the exact list of changes: kind, rule and path, and where
 * given, records that stay valid or a witness that a breaking verdict is real); the example
 * schema against itself; a realistic additive evolution; output order and appending; allocation
 * failures; and a randomized check that "compatible" never invalidates a record the old schema
 * accepted (seed printed; replay with TREATY_TEST_SEED=<seed>). */
#include "schema/schema.h"

#include "common/alloc.h"
#include "common/err.h"
#include "common/prng.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

Suite *suite_diff(void);

#define FIXTURES TREATY_SOURCE_DIR "/tests/unit/schema/fixtures/"
#define EXAMPLE  TREATY_SOURCE_DIR "/examples/supply-chain.json"

static struct schema_network *load_doc(const json_t *doc, const char *what)
{
    char err[512];
    struct schema_network *n = NULL;
    int rc = schema_network_load(doc, NULL, &n, err, sizeof err);
    ck_assert_msg(rc == TR_OK, "%s: %s", what, err);
    return n;
}

static struct schema_network *load_file(const char *path)
{
    char err[256];
    json_t *doc = NULL;
    ck_assert_msg(schema_json_load_file(path, NULL, &doc, err, sizeof err) == TR_OK, "%s", err);
    struct schema_network *n = load_doc(doc, path);
    json_decref(doc);
    return n;
}

static struct schema_network *load_text(const char *text)
{
    json_error_t jerr;
    json_t *doc = json_loads(text, 0, &jerr);
    ck_assert_msg(doc != NULL, "bad test JSON: %s", jerr.text);
    struct schema_network *n = load_doc(doc, text);
    json_decref(doc);
    return n;
}

static const char *kind_name(enum schema_change_kind k)
{
    return k == SCHEMA_CHANGE_BREAKING ? "breaking" : "compatible";
}

static void print_changes(const char *title, const struct schema_changes *c)
{
    fprintf(stderr, "%s: %zu change(s)\n", title, c->len);
    for (size_t i = 0; i < c->len; i++)
        fprintf(stderr, "  %s %s %s: %s\n", kind_name(c->v[i].kind), c->v[i].rule, c->v[i].path,
                c->v[i].message);
}

/* ---- data-driven rule cases ---- */

static json_t *cases;

static size_t case_count(void)
{
    char err[256];
    if (!cases && schema_json_load_file(FIXTURES "diff_cases.json", NULL, &cases, err, sizeof err))
        return 1; /* the loop's one run then fails on the missing fixture */
    return json_array_size(cases);
}

/* A one-type network: T with key "id", the case's items merged over that base, and the case's
 * definitions. */
static json_t *case_doc(const json_t *items, const json_t *defs)
{
    json_t *base = json_pack("{s:s, s:s, s:[s], s:{s:{s:s}}}", "type", "object", "x-treaty-key",
                             "id", "required", "id", "properties", "id", "type", "string");
    ck_assert_ptr_nonnull(base);
    ck_assert_int_eq(json_object_update_recursive(base, (json_t *)items), 0);
    json_t *doc = json_pack("{s:s, s:{s:{s:s, s:o}}}", "type", "object", "properties", "T", "type",
                            "array", "items", base);
    ck_assert_ptr_nonnull(doc);
    if (defs)
        json_object_set(doc, "definitions", (json_t *)defs);
    return doc;
}

/* Validates case record `r` (with "id" added) as a T of network n. */
static int validate_case_record(const struct schema_network *n, const json_t *r)
{
    json_t *rec = json_deep_copy(r);
    ck_assert_ptr_nonnull(rec);
    if (!json_object_get(rec, "id"))
        json_object_set_new(rec, "id", json_string("k1"));
    int rc = schema_network_validate(n, schema_network_type_find(n, "T"), rec, NULL);
    json_decref(rec);
    return rc;
}

/* Ties the classification to validation itself: "samples" are records valid under the old
 * schema, which must stay valid when the case has no breaking change; a "witness" is valid under
 * the old schema and invalid under the new one, showing that a breaking verdict is real. */
static void check_case_records(const json_t *c, const struct schema_network *o,
                               const struct schema_network *n, bool breaking)
{
    const char *name = json_string_value(json_object_get(c, "name"));
    const json_t *samples = json_object_get(c, "samples");
    const json_t *witness = json_object_get(c, "witness");
    for (size_t i = 0; i < json_array_size(samples); i++) {
        const json_t *r = json_array_get(samples, i);
        ck_assert_msg(validate_case_record(o, r) == TR_OK, "%s: sample %zu invalid under old", name,
                      i);
        if (!breaking)
            ck_assert_msg(validate_case_record(n, r) == TR_OK,
                          "%s: sample %zu valid under old, invalid under new, yet compatible", name,
                          i);
    }
    if (witness) {
        ck_assert_msg(breaking, "%s: a witness on a case without a breaking change", name);
        ck_assert_msg(validate_case_record(o, witness) == TR_OK, "%s: witness invalid under old",
                      name);
        ck_assert_msg(validate_case_record(n, witness) == TR_EINVALID,
                      "%s: witness still valid under new", name);
    }
}

START_TEST(test_rule_case)
{
    ck_assert_msg(cases != NULL, "fixtures/diff_cases.json did not load");
    const json_t *c = json_array_get(cases, (size_t)_i);
    const char *name = json_string_value(json_object_get(c, "name"));
    json_t *od = case_doc(json_object_get(c, "old"), json_object_get(c, "old_defs"));
    json_t *nd = case_doc(json_object_get(c, "new"), json_object_get(c, "new_defs"));
    struct schema_network *o = load_doc(od, name), *n = load_doc(nd, name);
    struct schema_changes ch = {0};
    ck_assert_int_eq(schema_diff(o, n, &ch), TR_OK);
    const json_t *want = json_object_get(c, "expect");
    bool ok = ch.len == json_array_size(want);
    bool breaking = false;
    for (size_t i = 0; ok && i < ch.len; i++) {
        const json_t *w = json_array_get(want, i);
        ok = strcmp(kind_name(ch.v[i].kind), json_string_value(json_array_get(w, 0))) == 0 &&
             strcmp(ch.v[i].rule, json_string_value(json_array_get(w, 1))) == 0 &&
             strcmp(ch.v[i].path, json_string_value(json_array_get(w, 2))) == 0 &&
             ch.v[i].message[0] != '\0';
        breaking = breaking || ch.v[i].kind == SCHEMA_CHANGE_BREAKING;
    }
    if (!ok)
        print_changes(name, &ch);
    ck_assert_msg(ok, "%s: changes differ from the expected %s", name,
                  json_dumps(want, JSON_COMPACT));
    ck_assert(schema_changes_breaking(&ch) == breaking);
    check_case_records(c, o, n, breaking);
    schema_changes_free(&ch);
    schema_network_destroy(o);
    schema_network_destroy(n);
    json_decref(od);
    json_decref(nd);
}
END_TEST

/* ---- whole schemas ---- */

START_TEST(test_example_against_itself)
{
    struct schema_network *a = load_file(EXAMPLE), *b = load_file(EXAMPLE);
    struct schema_changes ch = {0};
    ck_assert_int_eq(schema_diff(a, b, &ch), TR_OK);
    ck_assert_uint_eq(ch.len, 0);
    ck_assert(!schema_changes_breaking(&ch));
    ck_assert_int_eq(schema_diff(a, a, &ch), TR_OK);
    ck_assert_uint_eq(ch.len, 0);
    schema_changes_free(&ch);
    schema_network_destroy(a);
    schema_network_destroy(b);
}
END_TEST

START_TEST(test_realistic_evolution)
{
    /* v2 adds a Carrier type, an optional Shipment.trackingUrl and the status "returned". */
    struct schema_network *a = load_file(EXAMPLE), *b = load_file(FIXTURES "supply-chain-v2.json");
    struct schema_changes ch = {0};
    ck_assert_int_eq(schema_diff(a, b, &ch), TR_OK);
    print_changes("supply-chain v1 -> v2", &ch);
    ck_assert(!schema_changes_breaking(&ch));
    ck_assert_uint_eq(ch.len, 3);
    ck_assert_str_eq(ch.v[0].path, "/properties/Carrier");
    ck_assert_str_eq(ch.v[0].rule, "new-type");
    ck_assert_str_eq(ch.v[1].path, "/properties/Shipment/items/properties/status/enum");
    ck_assert_str_eq(ch.v[1].rule, "new-enum-value");
    ck_assert_ptr_nonnull(strstr(ch.v[1].message, "\"returned\""));
    ck_assert_str_eq(ch.v[2].path, "/properties/Shipment/items/properties/trackingUrl");
    ck_assert_str_eq(ch.v[2].rule, "new-optional-property");
    schema_changes_free(&ch);
    /* Backwards, the same evolution is breaking: a type, a property and an enum value go. */
    ck_assert_int_eq(schema_diff(b, a, &ch), TR_OK);
    ck_assert(schema_changes_breaking(&ch));
    ck_assert_uint_eq(ch.len, 3);
    ck_assert_str_eq(ch.v[0].rule, "removed-type");
    ck_assert_str_eq(ch.v[1].rule, "removed-enum-value");
    ck_assert_str_eq(ch.v[2].rule, "removed-property");
    schema_changes_free(&ch);
    schema_network_destroy(a);
    schema_network_destroy(b);
}
END_TEST

static const char *two_types =
    "{\"$id\":\"https://example.org/s/v1\",\"title\":\"v1\",\"properties\":{"
    "\"A\":{\"type\":\"array\",\"items\":{\"x-treaty-key\":\"k\",\"required\":[\"k\"],"
    "\"properties\":{\"k\":{\"type\":\"string\"}}}},"
    "\"B\":{\"type\":\"array\",\"items\":{\"x-treaty-key\":\"k\",\"required\":[\"k\"],"
    "\"properties\":{\"k\":{\"type\":\"string\"}}}}}}";
static const char *one_type =
    "{\"$id\":\"https://example.org/s/v2\",\"title\":\"v2\",\"properties\":{"
    "\"A\":{\"type\":\"array\",\"items\":{\"x-treaty-key\":\"k\",\"required\":[\"k\"],"
    "\"properties\":{\"k\":{\"type\":\"string\"}}}}}}";

START_TEST(test_types_removed_and_added)
{
    struct schema_network *two = load_text(two_types), *one = load_text(one_type);
    struct schema_changes ch = {0};
    ck_assert_int_eq(schema_diff(two, one, &ch), TR_OK);
    ck_assert_uint_eq(ch.len, 3);
    ck_assert_str_eq(ch.v[0].path, "/$id"); /* sorted by path: '$' < 'p' < 't' */
    ck_assert_str_eq(ch.v[0].rule, "documentation-change");
    ck_assert_int_eq(ch.v[0].kind, SCHEMA_CHANGE_COMPATIBLE);
    ck_assert_str_eq(ch.v[1].path, "/properties/B");
    ck_assert_str_eq(ch.v[1].rule, "removed-type");
    ck_assert_int_eq(ch.v[1].kind, SCHEMA_CHANGE_BREAKING);
    ck_assert_str_eq(ch.v[2].path, "/title");
    ck_assert_str_eq(ch.v[2].rule, "documentation-change");
    schema_changes_free(&ch);
    ck_assert_int_eq(schema_diff(one, two, &ch), TR_OK);
    ck_assert_uint_eq(ch.len, 3);
    ck_assert_str_eq(ch.v[1].path, "/properties/B");
    ck_assert_str_eq(ch.v[1].rule, "new-type");
    ck_assert_int_eq(ch.v[1].kind, SCHEMA_CHANGE_COMPATIBLE);
    ck_assert(!schema_changes_breaking(&ch));
    schema_changes_free(&ch);
    schema_network_destroy(two);
    schema_network_destroy(one);
}
END_TEST

START_TEST(test_order_and_append)
{
    struct schema_network *a = load_file(FIXTURES "supply-chain-v2.json"), *b = load_file(EXAMPLE);
    struct schema_changes first = {0}, ch = {0};
    ck_assert_int_eq(schema_diff(a, b, &first), TR_OK);
    ck_assert_int_eq(schema_diff(a, b, &ch), TR_OK);
    ck_assert_int_eq(schema_diff(a, b, &ch), TR_OK); /* appended after the first run's changes */
    ck_assert_uint_eq(ch.len, 2 * first.len);
    for (size_t i = 0; i < first.len; i++) {
        ck_assert_str_eq(ch.v[i].path, first.v[i].path);
        ck_assert_str_eq(ch.v[first.len + i].path, first.v[i].path);
        ck_assert_str_eq(ch.v[first.len + i].message, first.v[i].message);
        if (i > 0)
            ck_assert_int_le(strcmp(first.v[i - 1].path, first.v[i].path), 0);
    }
    schema_changes_free(&ch);
    schema_changes_free(&first);
    ck_assert_uint_eq(ch.len, 0);
    ck_assert_ptr_null(ch.v);
    schema_changes_free(NULL);
    schema_network_destroy(a);
    schema_network_destroy(b);
}
END_TEST

START_TEST(test_diff_alloc_failures)
{
    struct schema_network *a = load_file(FIXTURES "supply-chain-v2.json"), *b = load_file(EXAMPLE);
    struct schema_changes ch = {0};
    int rc = TR_ENOMEM;
    long fails = 0;
    for (long k = 1; rc != TR_OK; k++) {
        tr_alloc_fail_after(k);
        rc = schema_diff(a, b, &ch);
        tr_alloc_fail_reset();
        if (rc != TR_OK) {
            ck_assert_int_eq(rc, TR_ENOMEM);
            ck_assert_uint_eq(ch.len, 0); /* nothing half-added */
            fails++;
        }
        ck_assert_msg(k < 10000, "diff never succeeded");
    }
    ck_assert_int_gt(fails, 3);
    ck_assert_uint_eq(ch.len, 3);
    schema_changes_free(&ch);
    schema_network_destroy(a);
    schema_network_destroy(b);
}
END_TEST

#define LONG_VALUE_DOC                                                                             \
    "{\"properties\":{\"T\":{\"type\":\"array\",\"items\":{"                                       \
    "\"x-treaty-key\":\"id\",\"required\":[\"id\"],\"properties\":{"                               \
    "\"id\":{\"type\":\"string\"},\"a\":{\"enum\":[\"y\"%s%s%s]}}}}}}"

START_TEST(test_long_value_in_message)
{
    char big[512], old_doc[1024], new_doc[1024];
    memset(big, 'x', 300);
    big[300] = '\0';
    snprintf(old_doc, sizeof old_doc, LONG_VALUE_DOC, ",\"", big, "\"");
    snprintf(new_doc, sizeof new_doc, LONG_VALUE_DOC, "", "", "");
    struct schema_network *a = load_text(old_doc), *b = load_text(new_doc);
    struct schema_changes ch = {0};
    ck_assert_int_eq(schema_diff(a, b, &ch), TR_OK);
    ck_assert_uint_eq(ch.len, 1);
    ck_assert_str_eq(ch.v[0].rule, "removed-enum-value");
    ck_assert_ptr_nonnull(strstr(ch.v[0].message, "\"xxxx"));
    ck_assert_ptr_nonnull(strstr(ch.v[0].message, "..."));
    ck_assert_uint_lt(strlen(ch.v[0].message), 200); /* the value is shortened, not pasted whole */
    schema_changes_free(&ch);
    schema_network_destroy(a);
    schema_network_destroy(b);
}
END_TEST

/* ---- randomized soundness: a "compatible" verdict must keep every old-valid record valid ---- */

enum { K_INT, K_NUM, K_STR, K_ARR, K_COUNT };
static const char *const kind_type[] = {"integer", "number", "string", "array"};
static const char *const kind_kw[K_COUNT][6] = {
    {"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf", "enum"},
    {"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf", "enum"},
    {"minLength", "maxLength", "pattern", "enum", "minLength", "maxLength"},
    {"minItems", "maxItems", "uniqueItems", "minItems", "maxItems", "uniqueItems"},
};
static const char *const rnd_strings[] = {"", "a", "b", "ab", "ba", "aab", "bb"};
static const char *const rnd_patterns[] = {"^a", "b$", "^[ab]*$", "a", "^.{0,2}$"};

static long rnd_int(struct tr_prng *r, long lo, long hi)
{
    return lo + (long)tr_prng_below(r, (uint64_t)(hi - lo + 1));
}

static json_t *rnd_number(struct tr_prng *r, int kind)
{
    long v = rnd_int(r, -6, 6);
    if (kind == K_NUM && tr_prng_chance(r, 1, 3))
        return json_real((double)v + 0.5);
    return json_integer(v);
}

static json_t *rnd_enum(struct tr_prng *r, int kind)
{
    json_t *e = json_array();
    size_t n = (size_t)rnd_int(r, 1, 4);
    for (size_t i = 0; i < n; i++)
        json_array_append_new(e, kind == K_STR ? json_string(rnd_strings[tr_prng_below(r, 7)])
                                               : rnd_number(r, kind));
    return e;
}

/* A random value for keyword kw of a property of `kind`. */
static json_t *rnd_keyword_value(struct tr_prng *r, int kind, const char *kw)
{
    if (strcmp(kw, "enum") == 0)
        return rnd_enum(r, kind);
    if (strcmp(kw, "pattern") == 0)
        return json_string(rnd_patterns[tr_prng_below(r, 5)]);
    if (strcmp(kw, "uniqueItems") == 0)
        return json_boolean(tr_prng_chance(r, 1, 2));
    if (strcmp(kw, "multipleOf") == 0)
        return kind == K_NUM && tr_prng_chance(r, 1, 3) ? json_real(0.5)
                                                        : json_integer(rnd_int(r, 1, 4));
    if (strncmp(kw, "min", 3) == 0 && kind >= K_STR)
        return json_integer(rnd_int(r, 0, 3));
    if (strncmp(kw, "max", 3) == 0 && kind >= K_STR)
        return json_integer(rnd_int(r, 0, 4));
    return rnd_number(r, kind);
}

static const int prop_kind[4] = {K_INT, K_NUM, K_STR, K_ARR};
static const char *const prop_name[4] = {"p0", "p1", "p2", "p3"};

static json_t *rnd_record_schema(struct tr_prng *r)
{
    json_t *props = json_pack("{s:{s:s}}", "id", "type", "string");
    json_t *req = json_pack("[s]", "id");
    for (int p = 0; p < 4; p++) {
        json_t *ps = json_pack("{s:s}", "type", kind_type[prop_kind[p]]);
        for (int k = 0; k < 6; k++)
            if (tr_prng_chance(r, 1, 4))
                json_object_set_new(ps, kind_kw[prop_kind[p]][k],
                                    rnd_keyword_value(r, prop_kind[p], kind_kw[prop_kind[p]][k]));
        json_object_set_new(props, prop_name[p], ps);
        if (tr_prng_chance(r, 1, 3))
            json_array_append_new(req, json_string(prop_name[p]));
    }
    json_t *items = json_pack("{s:s, s:s, s:o, s:o}", "type", "object", "x-treaty-key", "id",
                              "required", req, "properties", props);
    if (tr_prng_chance(r, 1, 3))
        json_object_set_new(items, "additionalProperties", json_false());
    return items;
}

/* One random edit: a keyword of one property set, changed or removed; a property made
 * (not) required; additionalProperties toggled; or a property's type changed. */
static void rnd_mutate(struct tr_prng *r, json_t *items)
{
    int p = (int)tr_prng_below(r, 4);
    json_t *ps = json_object_get(json_object_get(items, "properties"), prop_name[p]);
    json_t *req = json_object_get(items, "required");
    switch (tr_prng_below(r, 6)) {
    case 0:
    case 1: {
        const char *kw = kind_kw[prop_kind[p]][tr_prng_below(r, 6)];
        if (json_object_get(ps, kw) && tr_prng_chance(r, 1, 2))
            json_object_del(ps, kw);
        else
            json_object_set_new(ps, kw, rnd_keyword_value(r, prop_kind[p], kw));
        break;
    }
    case 2:
        if (json_array_size(req) > 1 && tr_prng_chance(r, 1, 2))
            json_array_remove(req, json_array_size(req) - 1);
        else
            json_array_append_new(req, json_string(prop_name[p]));
        break;
    case 3:
        if (json_object_get(items, "additionalProperties"))
            json_object_del(items, "additionalProperties");
        else
            json_object_set_new(items, "additionalProperties", json_false());
        break;
    default: {
        static const char *const types[] = {"integer", "number", "string", "array"};
        json_object_set_new(ps, "type", json_string(types[tr_prng_below(r, 4)]));
        break;
    }
    }
}

static json_t *rnd_value(struct tr_prng *r, int kind)
{
    if (tr_prng_chance(r, 1, 8))
        kind = (int)tr_prng_below(r, K_COUNT); /* sometimes the wrong kind */
    if (kind == K_STR)
        return json_string(rnd_strings[tr_prng_below(r, 7)]);
    if (kind != K_ARR)
        return rnd_number(r, kind);
    json_t *a = json_array();
    size_t n = (size_t)rnd_int(r, 0, 4);
    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, json_integer(rnd_int(r, 0, 2)));
    return a;
}

static json_t *rnd_record(struct tr_prng *r)
{
    json_t *rec = json_pack("{s:s}", "id", "k");
    for (int p = 0; p < 4; p++)
        if (tr_prng_chance(r, 4, 5))
            json_object_set_new(rec, prop_name[p], rnd_value(r, prop_kind[p]));
    if (tr_prng_chance(r, 1, 5))
        json_object_set_new(rec, "zz", json_integer(1));
    return rec;
}

static json_t *wrap_type(json_t *items)
{
    return json_pack("{s:{s:{s:s, s:O}}}", "properties", "T", "type", "array", "items", items);
}

/* Returns 1 when the pair was compatible (and checked), 0 when breaking. */
static int soundness_round(struct tr_prng *r, uint64_t seed, int round)
{
    json_t *old_items = rnd_record_schema(r);
    json_t *new_items = json_deep_copy(old_items);
    int edits = (int)rnd_int(r, 1, 2);
    for (int e = 0; e < edits; e++)
        rnd_mutate(r, new_items);
    json_t *od = wrap_type(old_items), *nd = wrap_type(new_items);
    struct schema_network *o = load_doc(od, "random old"), *n = load_doc(nd, "random new");
    struct schema_changes ch = {0};
    ck_assert_int_eq(schema_diff(o, n, &ch), TR_OK);
    int compatible = !schema_changes_breaking(&ch);
    for (int i = 0; compatible && i < 60; i++) {
        json_t *rec = rnd_record(r);
        const struct schema_type *to = schema_network_type_at(o, 0);
        const struct schema_type *tn = schema_network_type_at(n, 0);
        if (schema_network_validate(o, to, rec, NULL) == TR_OK &&
            schema_network_validate(n, tn, rec, NULL) != TR_OK) {
            char *a = json_dumps(od, JSON_COMPACT), *b = json_dumps(nd, JSON_COMPACT);
            char *c = json_dumps(rec, JSON_COMPACT);
            print_changes("verdict", &ch);
            ck_abort_msg("seed %llu round %d: compatible verdict, yet record %s valid under\n%s\n"
                         "is invalid under\n%s",
                         (unsigned long long)seed, round, c, a, b);
        }
        json_decref(rec);
    }
    schema_changes_free(&ch);
    schema_network_destroy(o);
    schema_network_destroy(n);
    json_decref(od);
    json_decref(nd);
    json_decref(old_items);
    json_decref(new_items);
    return compatible;
}

START_TEST(test_random_compatible_is_sound)
{
    const char *env = getenv("TREATY_TEST_SEED");
    uint64_t seed = env ? strtoull(env, NULL, 10) : (uint64_t)time(NULL);
    printf("test_random_compatible_is_sound seed %llu\n", (unsigned long long)seed);
    struct tr_prng r;
    tr_prng_seed(&r, seed);
    int compatible = 0;
    for (int round = 0; round < 400; round++)
        compatible += soundness_round(&r, seed, round);
    /* Both verdicts must be exercised, or the property says nothing. */
    ck_assert_int_gt(compatible, 40);
    ck_assert_int_lt(compatible, 360);
}
END_TEST

Suite *suite_diff(void)
{
    Suite *s = suite_create("diff");
    TCase *tr = tcase_create("rules");
    tcase_add_loop_test(tr, test_rule_case, 0, (int)case_count());
    suite_add_tcase(s, tr);
    TCase *tw = tcase_create("schemas");
    tcase_add_test(tw, test_example_against_itself);
    tcase_add_test(tw, test_realistic_evolution);
    tcase_add_test(tw, test_types_removed_and_added);
    tcase_add_test(tw, test_order_and_append);
    tcase_add_test(tw, test_diff_alloc_failures);
    tcase_add_test(tw, test_long_value_in_message);
    tcase_add_test(tw, test_random_compatible_is_sound);
    suite_add_tcase(s, tw);
    return s;
}
