/* test_validate.c — schema/validate.c: messages and paths, draft-07 number and equality rules,
 * $ref/$id, limits, the verdict-only fast path, threads, allocation failures. */
#include "schema/schema.h"
#include "common/alloc.h"
#include "common/err.h"
#include "common/prng.h"

#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

Suite *suite_validate(void);

static json_t *parse(const char *text)
{
    json_error_t jerr;
    json_t *j = json_loads(text, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
    ck_assert_msg(j != NULL, "test JSON does not parse: %s: %s", text, jerr.text);
    return j;
}

static struct schema *compile(const char *text, const struct schema_limits *l)
{
    json_t *doc = parse(text);
    struct schema *s = NULL;
    char msg[512];
    int rc = schema_compile(doc, l, &s, msg, sizeof msg);
    ck_assert_msg(rc == TR_OK, "%s: %s", text, msg);
    json_decref(doc);
    return s;
}

/* Validates both ways; the fast path and the collecting path must give the same verdict. */
static int check(const struct schema *s, const struct schema_node *n, const json_t *inst,
                 struct schema_errors *e)
{
    int fast = schema_validate(s, n, inst, NULL);
    int full = schema_validate(s, n, inst, e);
    ck_assert_msg(fast == full, "fast %s, collecting %s", tr_err_name(fast), tr_err_name(full));
    ck_assert((full == TR_OK) == (e->len == 0));
    return full;
}

/* 1 if the schema accepts the instance (both texts). */
static int accepts(const char *schema_text, const char *inst_text)
{
    struct schema *s = compile(schema_text, NULL);
    json_t *inst = parse(inst_text);
    struct schema_errors e;
    schema_errors_init(&e, 0);
    int rc = check(s, schema_root(s), inst, &e);
    ck_assert(rc == TR_OK || rc == TR_EINVALID);
    schema_errors_free(&e);
    json_decref(inst);
    schema_destroy(s);
    return rc == TR_OK;
}

static const struct {
    const char *schema, *instance, *instance_path, *schema_path, *message;
} one_error[] = {
    {"{\"minimum\":0}", "-1", "", "/minimum", "must be >= 0"},
    {"{\"exclusiveMinimum\":0}", "0", "", "/exclusiveMinimum", "must be > 0"},
    {"{\"maximum\":100000}", "100000.5", "", "/maximum", "must be <= 100000"},
    {"{\"exclusiveMaximum\":1.5}", "1.5", "", "/exclusiveMaximum", "must be < 1.5"},
    {"{\"multipleOf\":0.01}", "0.015", "", "/multipleOf", "must be a multiple of 0.01"},
    {"{\"enum\":[\"created\",\"picked_up\",\"in_transit\",\"delivered\",\"lost\"]}", "\"gone\"", "",
     "/enum", "must be one of: created, picked_up, in_transit, delivered, lost"},
    {"{\"enum\":[1, null, [true]]}", "2", "", "/enum", "must be one of: 1, null, [true]"},
    {"{\"required\":[\"shipmentId\"]}", "{}", "", "/required",
     "missing required property shipmentId"},
    {"{\"type\":\"string\"}", "5", "", "/type", "must be string, got number"},
    {"{\"type\":[\"string\",\"null\"]}", "true", "", "/type",
     "must be null or string, got boolean"},
    {"{\"type\":\"integer\"}", "1.5", "", "/type", "must be integer, got number"},
    {"{\"pattern\":\"^SHP-[0-9]{4,12}$\"}", "\"SHP-12\"", "", "/pattern",
     "must match pattern ^SHP-[0-9]{4,12}$"},
    {"{\"format\":\"date-time\"}", "\"yesterday\"", "", "/format", "must be a valid date-time"},
    {"{\"properties\":{\"a\":{}},\"additionalProperties\":false}", "{\"a\":1,\"foo\":2}", "",
     "/additionalProperties", "property foo is not allowed"},
    {"{\"maxItems\":2}", "[1,2,3]", "", "/maxItems", "must have at most 2 items"},
    {"{\"minItems\":2}", "[1]", "", "/minItems", "must have at least 2 items"},
    {"{\"maxProperties\":1}", "{\"a\":1,\"b\":2}", "", "/maxProperties",
     "must have at most 1 properties"},
    {"{\"not\":{\"type\":\"string\"}}", "\"x\"", "", "/not",
     "must NOT be valid against the schema in not"},
    {"{\"oneOf\":[{\"type\":\"integer\"},{\"minimum\":0}]}", "5", "", "/oneOf",
     "must match exactly one schema in oneOf (matched 2)"},
    {"{\"oneOf\":[{\"type\":\"integer\"},{\"minimum\":0}]}", "-1.5", "", "/oneOf",
     "must match exactly one schema in oneOf (matched 0)"},
    {"{\"anyOf\":[{\"type\":\"string\"},{\"type\":\"null\"}]}", "5", "", "/anyOf",
     "must match at least one schema in anyOf"},
    {"{\"minLength\":3}", "\"ab\"", "", "/minLength", "must have at least 3 characters"},
    {"{\"maxLength\":2}", "\"h\xc3\xa9\xc3\xa9\"", "", "/maxLength",
     "must have at most 2 characters"},
    {"{\"const\":{\"a\":1}}", "{\"a\":2}", "", "/const", "must be equal to {\"a\":1}"},
    {"{\"uniqueItems\":true}", "[1,{\"a\":1,\"b\":2},{\"b\":2,\"a\":1.0}]", "", "/uniqueItems",
     "must not contain duplicate items (items 1 and 2 are equal)"},
    {"{\"contains\":{\"type\":\"string\"}}", "[1]", "", "/contains",
     "must contain at least one item valid against the schema in contains"},
    {"{\"dependencies\":{\"a\":[\"b\"]}}", "{\"a\":1}", "", "/dependencies/a",
     "property a requires property b"},
    {"{\"dependencies\":{\"a\":{\"required\":[\"c\"]}}}", "{\"a\":1}", "",
     "/dependencies/a/required", "missing required property c"},
    {"{\"items\":[{}],\"additionalItems\":false}", "[1,2]", "", "/additionalItems",
     "must have at most 1 items"},
    {"{\"items\":[{}],\"additionalItems\":{\"type\":\"string\"}}", "[1,2]", "/1",
     "/additionalItems/type", "must be string, got number"},
    {"{\"properties\":{\"a~b\":{\"properties\":{\"c/d\":{\"type\":\"string\"}}}}}",
     "{\"a~b\":{\"c/d\":1}}", "/a~0b/c~1d", "/properties/a~0b/properties/c~1d/type",
     "must be string, got number"},
    {"false", "1", "", "", "is not allowed here (the schema is false)"},
    {"{\"properties\":{\"x\":false}}", "{\"x\":1}", "/x", "/properties/x",
     "is not allowed here (the schema is false)"},
    {"{\"items\":{\"minimum\":0}}", "[1,-1]", "/1", "/items/minimum", "must be >= 0"},
    {"{\"patternProperties\":{\"^n_\":{\"type\":\"number\"}}}", "{\"n_a\":\"x\"}", "/n_a",
     "/patternProperties/^n_/type", "must be number, got string"},
    {"{\"propertyNames\":{\"maxLength\":2}}", "{\"abc\":1}", "", "/propertyNames",
     "property name abc is not valid against propertyNames"},
    {"{\"if\":{\"type\":\"string\"},\"then\":{\"minLength\":2},\"else\":{\"minimum\":0}}", "\"a\"",
     "", "/then/minLength", "must have at least 2 characters"},
    {"{\"if\":{\"type\":\"string\"},\"then\":{\"minLength\":2},\"else\":{\"minimum\":0}}", "-1", "",
     "/else/minimum", "must be >= 0"},
    {"{\"allOf\":[{},{\"maximum\":3}]}", "4", "", "/allOf/1/maximum", "must be <= 3"},
};

START_TEST(test_messages_and_paths)
{
    for (size_t i = 0; i < sizeof one_error / sizeof one_error[0]; i++) {
        struct schema *s = compile(one_error[i].schema, NULL);
        json_t *inst = parse(one_error[i].instance);
        struct schema_errors e;
        schema_errors_init(&e, 0);
        ck_assert_int_eq(check(s, schema_root(s), inst, &e), TR_EINVALID);
        ck_assert_msg(e.len == 1, "%s: %zu errors", one_error[i].schema, e.len);
        ck_assert_str_eq(e.v[0].instance_path, one_error[i].instance_path);
        ck_assert_str_eq(e.v[0].schema_path, one_error[i].schema_path);
        ck_assert_str_eq(e.v[0].message, one_error[i].message);
        schema_errors_free(&e);
        json_decref(inst);
        schema_destroy(s);
    }
}
END_TEST

static struct schema *sample(void)
{
    char msg[512];
    json_t *doc = NULL;
    ck_assert_int_eq(schema_json_load_file(TREATY_SOURCE_DIR "/examples/supply-chain.json", NULL,
                                           &doc, msg, sizeof msg),
                     TR_OK);
    struct schema *s = NULL;
    ck_assert_int_eq(schema_compile(doc, NULL, &s, msg, sizeof msg), TR_OK);
    json_decref(doc);
    return s;
}

static const char good_shipment[] =
    "{\"shipmentId\":\"SHP-000123\",\"origin\":\"Rotterdam\",\"destination\":\"Chicago\","
    "\"carrier\":\"globex\",\"status\":\"in_transit\",\"weightKg\":1250.5,"
    "\"declaredValue\":{\"amount\":\"125000.00\",\"currency\":\"USD\"},"
    "\"eta\":\"2026-12-01T10:00:00Z\",\"checkpoints\":[{\"at\":\"2026-11-20T08:00:00Z\","
    "\"location\":\"Rotterdam port\",\"temperatureC\":4.5}]}";

static const char bad_shipment[] =
    "{\"shipmentId\":\"SHP-000123\",\"origin\":\"Rotterdam\",\"destination\":\"Chicago\","
    "\"status\":\"gone\",\"weightKg\":0,\"colour\":\"red\","
    "\"declaredValue\":{\"amount\":\"12\",\"currency\":\"usd\"},"
    "\"checkpoints\":[{\"at\":\"noon\",\"location\":\"x\",\"temperatureC\":-81}]}";

/* 1 if `e` holds exactly this violation. */
static int has_error(const struct schema_errors *e, const char *ipath, const char *spath,
                     const char *message)
{
    for (size_t i = 0; i < e->len; i++)
        if (strcmp(e->v[i].instance_path, ipath) == 0 && strcmp(e->v[i].schema_path, spath) == 0 &&
            strcmp(e->v[i].message, message) == 0)
            return 1;
    return 0;
}

START_TEST(test_sample_shipment)
{
    struct schema *s = sample();
    const struct schema_node *ship = schema_node_at(s, "/properties/Shipment/items");
    ck_assert_ptr_nonnull(ship);
    json_t *good = parse(good_shipment), *bad = parse(bad_shipment);
    struct schema_errors e;
    schema_errors_init(&e, 0);
    ck_assert_int_eq(check(s, ship, good, &e), TR_OK);
    ck_assert_int_eq(check(s, ship, bad, &e), TR_EINVALID);
    const char *p = "/properties/Shipment/items";
    char sp[200];
#define SP(rest) (snprintf(sp, sizeof sp, "%s%s", p, rest), sp)
    ck_assert(has_error(&e, "", SP("/required"), "missing required property carrier"));
    ck_assert(has_error(&e, "/status", SP("/properties/status/enum"),
                        "must be one of: created, picked_up, in_transit, delivered, lost"));
    ck_assert(
        has_error(&e, "/weightKg", SP("/properties/weightKg/exclusiveMinimum"), "must be > 0"));
    ck_assert(has_error(&e, "", SP("/additionalProperties"), "property colour is not allowed"));
    ck_assert(has_error(&e, "/declaredValue/currency",
                        "/definitions/Money/properties/currency/pattern",
                        "must match pattern ^[A-Z]{3}$"));
    ck_assert(has_error(&e, "/checkpoints/0/at",
                        SP("/properties/checkpoints/items/properties/at/format"),
                        "must be a valid date-time"));
    ck_assert(has_error(&e, "/checkpoints/0/temperatureC",
                        SP("/properties/checkpoints/items/properties/temperatureC/minimum"),
                        "must be >= -80"));
#undef SP
    ck_assert_uint_eq(e.len, 7);
    json_t *arr = schema_errors_to_json(&e);
    ck_assert_uint_eq(json_array_size(arr), 7);
    ck_assert(json_is_string(json_object_get(json_array_get(arr, 0), "instancePath")));
    ck_assert(json_is_string(json_object_get(json_array_get(arr, 0), "schemaPath")));
    ck_assert(json_is_string(json_object_get(json_array_get(arr, 0), "message")));
    json_decref(arr);
    schema_errors_clear(&e);
    ck_assert_uint_eq(e.len, 0);
    schema_errors_free(&e);
    json_decref(good);
    json_decref(bad);
    schema_destroy(s);
}
END_TEST

START_TEST(test_integer_and_number)
{
    ck_assert(accepts("{\"type\":\"integer\"}", "1"));
    ck_assert(accepts("{\"type\":\"integer\"}", "1.0")); /* draft-07: zero fraction is integer */
    ck_assert(accepts("{\"type\":\"integer\"}", "-0.0"));
    ck_assert(accepts("{\"type\":\"integer\"}", "1e10"));
    ck_assert(!accepts("{\"type\":\"integer\"}", "1.5"));
    ck_assert(!accepts("{\"type\":\"integer\"}", "\"1\""));
    ck_assert(accepts("{\"type\":\"number\"}", "1"));
    ck_assert(accepts("{\"type\":\"number\"}", "1.5"));
    ck_assert(!accepts("{\"type\":\"number\"}", "true"));
    ck_assert(accepts("{\"multipleOf\":0.0001}", "0.0075"));
    ck_assert(!accepts("{\"multipleOf\":0.0001}", "0.00751"));
    ck_assert(accepts("{\"multipleOf\":0.01}", "19.99"));
    ck_assert(accepts("{\"multipleOf\":3}", "9"));
    ck_assert(!accepts("{\"multipleOf\":3}", "10"));
    ck_assert(accepts("{\"multipleOf\":2}", "4.0"));
    ck_assert(!accepts("{\"multipleOf\":0.123456789}", "1e308"));
    ck_assert(accepts("{\"maximum\":9007199254740993}", "9007199254740993"));
    ck_assert(!accepts("{\"maximum\":9007199254740992}", "9007199254740993"));
    ck_assert(accepts("{\"minimum\":1.5}", "2"));
    ck_assert(!accepts("{\"exclusiveMaximum\":2}", "2.0"));
}
END_TEST

START_TEST(test_unique_items_equality)
{
    const char *u = "{\"uniqueItems\":true}";
    ck_assert(!accepts(u, "[1, 1.0]"));
    ck_assert(!accepts(u, "[{\"a\":1,\"b\":2},{\"b\":2,\"a\":1}]"));
    ck_assert(!accepts(u, "[[1,{\"x\":[2]}],[1.0,{\"x\":[2.0]}]]"));
    ck_assert(!accepts(u, "[null, null]"));
    ck_assert(accepts(u, "[\"1\", 1]"));
    ck_assert(accepts(u, "[0, false]"));
    ck_assert(accepts(u, "[1, true]"));
    ck_assert(accepts(u, "[{}, []]"));
    ck_assert(accepts(u, "[{\"a\":1}, {\"a\":1,\"b\":1}]"));
    ck_assert(accepts(u, "[\"a\\u0000b\", \"a\\u0000c\"]"));
    ck_assert(!accepts(u, "[\"a\\u0000b\", \"a\\u0000b\"]"));
    ck_assert(accepts("{\"enum\":[1.0]}", "1"));
    ck_assert(accepts("{\"const\":{\"a\":[1]}}", "{\"a\":[1.0]}"));
}
END_TEST

START_TEST(test_ref_pointer_escapes)
{
    const char *s = "{\"definitions\":{\"tilde~field\":{\"type\":\"integer\"},"
                    "\"slash/field\":{\"type\":\"string\"},\"percent%field\":{\"type\":\"null\"}},"
                    "\"properties\":{\"t\":{\"$ref\":\"#/definitions/tilde~0field\"},"
                    "\"s\":{\"$ref\":\"#/definitions/slash~1field\"},"
                    "\"p\":{\"$ref\":\"#/definitions/percent%25field\"}}}";
    ck_assert(accepts(s, "{\"t\":1,\"s\":\"x\",\"p\":null}"));
    ck_assert(!accepts(s, "{\"t\":\"x\"}"));
    ck_assert(!accepts(s, "{\"s\":1}"));
    ck_assert(!accepts(s, "{\"p\":1}"));
    /* The violation's schema path is the referenced schema's. */
    struct schema *sc = compile(s, NULL);
    json_t *inst = parse("{\"s\":1}");
    struct schema_errors e;
    schema_errors_init(&e, 0);
    ck_assert_int_eq(check(sc, schema_root(sc), inst, &e), TR_EINVALID);
    ck_assert_str_eq(e.v[0].schema_path, "/definitions/slash~1field/type");
    const struct schema_node *pct = schema_node_at(sc, "/definitions/percent%field");
    ck_assert_ptr_nonnull(pct);
    ck_assert_ptr_eq(schema_node_at(sc, "#/definitions/percent%25field"), pct);
    ck_assert_ptr_nonnull(schema_node_at(sc, "/definitions/slash~1field"));
    ck_assert_ptr_null(schema_node_at(sc, "/definitions/slash/field"));
    ck_assert_str_eq(e.v[0].instance_path, "/s");
    schema_errors_free(&e);
    json_decref(inst);
    schema_destroy(sc);
}
END_TEST

START_TEST(test_ref_and_id)
{
    /* $ref overrides its siblings (draft-07 core §8.3). */
    const char *override = "{\"definitions\":{\"r\":{\"type\":\"array\"}},\"properties\":{\"foo\":"
                           "{\"$ref\":\"#/definitions/r\",\"maxItems\":2}}}";
    ck_assert(accepts(override, "{\"foo\":[1,2,3]}"));
    ck_assert(!accepts(override, "{\"foo\":1}"));
    /* Plain-name fragment. */
    const char *plain = "{\"allOf\":[{\"$ref\":\"#foo\"}],\"definitions\":{\"A\":{\"$id\":\"#foo\","
                        "\"type\":\"integer\"}}}";
    ck_assert(accepts(plain, "1"));
    ck_assert(!accepts(plain, "\"a\""));
    /* Plain name inside a resource whose base changed. */
    const char *nested = "{\"$id\":\"http://localhost:1234/root\",\"allOf\":[{\"$ref\":"
                         "\"http://localhost:1234/nested.json#foo\"}],\"definitions\":{\"A\":{"
                         "\"$id\":\"nested.json\",\"definitions\":{\"B\":{\"$id\":\"#foo\","
                         "\"type\":\"integer\"}}}}}";
    ck_assert(accepts(nested, "1"));
    ck_assert(!accepts(nested, "\"a\""));
    /* A relative $id "folder/" changes the base; the ref resolves to an embedded schema. */
    const char *folder = "{\"$id\":\"http://localhost:1234/root.json\",\"items\":{\"$id\":"
                         "\"folder/\",\"items\":{\"$ref\":\"folderInteger.json\"}},"
                         "\"definitions\":{\"fi\":{\"$id\":\"http://localhost:1234/folder/"
                         "folderInteger.json\",\"type\":\"integer\"}}}";
    ck_assert(accepts(folder, "[[1]]"));
    ck_assert(!accepts(folder, "[[\"a\"]]"));
    /* Recursion between two resources, through instance descent. */
    const char *tree =
        "{\"$id\":\"http://localhost:1234/tree\",\"properties\":{\"nodes\":{\"items\":"
        "{\"$ref\":\"node\"}}},\"definitions\":{\"node\":{\"$id\":"
        "\"http://localhost:1234/node\",\"properties\":{\"value\":{\"type\":"
        "\"number\"},\"subtree\":{\"$ref\":\"tree\"}}}}}";
    ck_assert(accepts(tree, "{\"nodes\":[{\"value\":1,\"subtree\":{\"nodes\":[{\"value\":2}]}}]}"));
    ck_assert(
        !accepts(tree, "{\"nodes\":[{\"value\":1,\"subtree\":{\"nodes\":[{\"value\":\"x\"}]}}]}"));
    /* A pointer into a place no keyword compiles (an unknown keyword). */
    const char *unknown = "{\"properties\":{\"p\":{\"$ref\":\"#/x-defs/a\"}},\"x-defs\":{\"a\":"
                          "{\"type\":\"string\"}}}";
    ck_assert(accepts(unknown, "{\"p\":\"s\"}"));
    ck_assert(!accepts(unknown, "{\"p\":1}"));
}
END_TEST

START_TEST(test_max_errors_truncation)
{
    struct schema *s = compile("{\"items\":{\"type\":\"string\"}}", NULL);
    json_t *inst = parse("[1,2,3,4,5,6,7,8,9,10]");
    struct schema_errors e;
    schema_errors_init(&e, 3);
    ck_assert_int_eq(schema_validate(s, schema_root(s), inst, &e), TR_EINVALID);
    ck_assert_uint_eq(e.len, 3);
    ck_assert(e.truncated);
    ck_assert_str_eq(e.v[2].instance_path, "/2");
    schema_errors_clear(&e);
    ck_assert(!e.truncated);
    e.max = 10;
    ck_assert_int_eq(schema_validate(s, schema_root(s), inst, &e), TR_EINVALID);
    ck_assert_uint_eq(e.len, 10);
    ck_assert(!e.truncated);
    schema_errors_free(&e);
    json_decref(inst);
    schema_destroy(s);
}
END_TEST

static json_t *nested_arrays(size_t n)
{
    json_t *j = json_array();
    for (size_t i = 1; i < n; i++) {
        json_t *outer = json_array();
        json_array_append_new(outer, j);
        j = outer;
    }
    return j;
}

START_TEST(test_instance_depth_edge)
{
    struct schema_limits l;
    schema_limits_default(&l);
    l.max_depth = 8;
    struct schema *s = compile("{\"items\":{\"$ref\":\"#\"}}", &l);
    json_t *ok = nested_arrays(8), *deep = nested_arrays(9);
    struct schema_errors e;
    schema_errors_init(&e, 0);
    ck_assert_int_eq(schema_validate(s, schema_root(s), ok, &e), TR_OK);
    ck_assert_int_eq(schema_validate(s, schema_root(s), ok, NULL), TR_OK);
    ck_assert_int_eq(schema_validate(s, schema_root(s), deep, NULL), TR_ELIMIT);
    ck_assert_int_eq(schema_validate(s, schema_root(s), deep, &e), TR_ELIMIT);
    ck_assert_uint_eq(e.len, 1);
    ck_assert_str_eq(e.v[0].instance_path, "/0/0/0/0/0/0/0/0");
    ck_assert_str_eq(e.v[0].message, "nested deeper than the limit of 8 levels");
    schema_errors_clear(&e);
    /* The limit also holds under a verdict-only subschema, and is still reported. */
    struct schema *s2 = compile("{\"anyOf\":[{\"items\":{\"$ref\":\"#\"}}]}", &l);
    ck_assert_int_eq(schema_validate(s2, schema_root(s2), deep, &e), TR_ELIMIT);
    ck_assert_uint_eq(e.len, 1);
    schema_errors_free(&e);
    schema_destroy(s2);
    json_decref(ok);
    json_decref(deep);
    schema_destroy(s);
}
END_TEST

START_TEST(test_deep_instance_default_limits)
{
    struct schema *s = compile("{\"items\":{\"$ref\":\"#\"},\"uniqueItems\":true}", NULL);
    json_t *deep = nested_arrays(10000);
    ck_assert_int_eq(schema_validate(s, schema_root(s), deep, NULL), TR_ELIMIT);
    json_decref(deep);
    schema_destroy(s);
}
END_TEST

/* 10,000 definitions chained through allOf never descend into the instance, so no depth limit
 * stops them: the schema-step budget does, before the C stack is at risk. */
START_TEST(test_long_same_instance_chain)
{
    json_t *defs = json_object();
    char name[32], ref[64];
    for (int i = 0; i < 10000; i++) {
        snprintf(name, sizeof name, "d%d", i);
        snprintf(ref, sizeof ref, "#/definitions/d%d", i + 1);
        json_t *d = i == 9999 ? json_pack("{s:s}", "type", "integer")
                              : json_pack("{s:[{s:s}]}", "allOf", "$ref", ref);
        json_object_set_new(defs, name, d);
    }
    json_t *doc = json_pack("{s:o, s:s}", "definitions", defs, "$ref", "#/definitions/d0");
    struct schema *s = NULL;
    char msg[256];
    ck_assert_int_eq(schema_compile(doc, NULL, &s, msg, sizeof msg), TR_OK);
    json_t *inst = json_integer(1);
    struct schema_errors e;
    schema_errors_init(&e, 0);
    ck_assert_int_eq(schema_validate(s, schema_root(s), inst, NULL), TR_ELIMIT);
    ck_assert_int_eq(schema_validate(s, schema_root(s), inst, &e), TR_ELIMIT);
    ck_assert_uint_eq(e.len, 1);
    ck_assert_ptr_nonnull(strstr(e.v[0].message, "schema recursion deeper than the limit"));
    /* A short chain of the same shape is fine. */
    const struct schema_node *near_end = schema_node_at(s, "/definitions/d9990");
    ck_assert_ptr_nonnull(near_end);
    ck_assert_int_eq(schema_validate(s, near_end, inst, NULL), TR_OK);
    schema_errors_free(&e);
    json_decref(inst);
    json_decref(doc);
    schema_destroy(s);
}
END_TEST

/* Random mutations of a valid Shipment: both modes agree, violations exist exactly when the
 * verdict is "invalid", and every path is well formed. Replay with TREATY_SEED=<seed>. */
START_TEST(test_random_mutations)
{
    const char *env = getenv("TREATY_SEED");
    uint64_t seed = env ? strtoull(env, NULL, 10) : (uint64_t)time(NULL);
    printf("test_random_mutations: seed %llu\n", (unsigned long long)seed);
    struct tr_prng rng;
    tr_prng_seed(&rng, seed);
    static const char *const fields[] = {"shipmentId",  "origin",   "destination",   "carrier",
                                         "status",      "weightKg", "declaredValue", "eta",
                                         "checkpoints", "extra",    "_key"};
    static const char *const values[] = {"null",
                                         "0",
                                         "-1",
                                         "1.5",
                                         "1e308",
                                         "\"\"",
                                         "\"SHP-1234\"",
                                         "\"delivered\"",
                                         "\"2026-01-01T00:00:00Z\"",
                                         "[]",
                                         "[{\"at\":\"x\"}]",
                                         "{}",
                                         "{\"amount\":\"1\",\"currency\":\"EUR\"}",
                                         "true",
                                         "\"\u00e9\u00e9\""};
    struct schema *s = sample();
    const struct schema_node *ship = schema_node_at(s, "/properties/Shipment/items");
    struct schema_errors e;
    schema_errors_init(&e, 0);
    for (int round = 0; round < 2000; round++) {
        json_t *rec = parse(good_shipment);
        for (uint64_t k = tr_prng_range(&rng, 1, 3); k > 0; k--) {
            const char *f = fields[tr_prng_below(&rng, sizeof fields / sizeof fields[0])];
            if (tr_prng_chance(&rng, 1, 5))
                json_object_del(rec, f);
            else
                json_object_set_new(
                    rec, f, parse(values[tr_prng_below(&rng, sizeof values / sizeof values[0])]));
        }
        int rc = check(s, ship, rec, &e);
        ck_assert_msg(rc == TR_OK || rc == TR_EINVALID, "seed %llu round %d",
                      (unsigned long long)seed, round);
        for (size_t i = 0; i < e.len; i++) {
            ck_assert(e.v[i].instance_path[0] == '\0' || e.v[i].instance_path[0] == '/');
            ck_assert(strncmp(e.v[i].schema_path, "/properties/Shipment/items", 26) == 0 ||
                      strncmp(e.v[i].schema_path, "/definitions/", 13) == 0);
            ck_assert(e.v[i].message[0] != '\0');
        }
        schema_errors_clear(&e);
        json_decref(rec);
    }
    schema_errors_free(&e);
    schema_destroy(s);
}
END_TEST

START_TEST(test_valid_path_allocates_nothing)
{
    struct schema *s = sample();
    const struct schema_node *ship = schema_node_at(s, "/properties/Shipment/items");
    json_t *good = parse(good_shipment);
    struct schema_errors e;
    schema_errors_init(&e, 0);
    ck_assert_int_eq(schema_validate(s, ship, good, NULL), TR_OK); /* warm the regex match data */
    tr_alloc_fail_after(1);
    int fast = schema_validate(s, ship, good, NULL);
    int full = schema_validate(s, ship, good, &e);
    int fired = tr_alloc_fail_fired();
    tr_alloc_fail_reset();
    ck_assert_int_eq(fast, TR_OK);
    ck_assert_int_eq(full, TR_OK);
    ck_assert(!fired);
    schema_errors_free(&e);
    json_decref(good);
    schema_destroy(s);
}
END_TEST

START_TEST(test_validate_out_of_memory)
{
    struct schema *s = sample();
    const struct schema_node *ship = schema_node_at(s, "/properties/Shipment/items");
    json_t *bad = parse(bad_shipment);
    for (long n = 1;; n++) {
        struct schema_errors e;
        schema_errors_init(&e, 0);
        tr_alloc_fail_after(n);
        int rc = schema_validate(s, ship, bad, &e);
        int fired = tr_alloc_fail_fired();
        tr_alloc_fail_reset();
        if (!fired) {
            ck_assert_int_eq(rc, TR_EINVALID);
            ck_assert_uint_eq(e.len, 7);
            schema_errors_free(&e);
            break;
        }
        ck_assert_msg(rc == TR_ENOMEM, "n=%ld rc=%s", n, tr_err_name(rc));
        schema_errors_free(&e);
        ck_assert_int_lt(n, 1000);
    }
    json_decref(bad);
    schema_destroy(s);
}
END_TEST

struct thread_arg {
    const struct schema *s;
    const struct schema_node *n;
    const json_t *good, *bad;
    int wrong;
};

static void *validator(void *p)
{
    struct thread_arg *a = p;
    struct schema_errors e;
    schema_errors_init(&e, 0);
    for (int i = 0; i < 2000; i++) {
        a->wrong += schema_validate(a->s, a->n, a->good, NULL) != TR_OK;
        a->wrong += schema_validate(a->s, a->n, a->bad, &e) != TR_EINVALID || e.len != 7;
        schema_errors_clear(&e);
    }
    schema_errors_free(&e);
    return NULL;
}

START_TEST(test_threads_share_a_schema)
{
    struct schema *s = sample();
    json_t *good = parse(good_shipment), *bad = parse(bad_shipment);
    pthread_t t[4];
    struct thread_arg args[4];
    for (int i = 0; i < 4; i++) {
        args[i] =
            (struct thread_arg){s, schema_node_at(s, "/properties/Shipment/items"), good, bad, 0};
        ck_assert_int_eq(pthread_create(&t[i], NULL, validator, &args[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        ck_assert_int_eq(args[i].wrong, 0);
    }
    json_decref(good);
    json_decref(bad);
    schema_destroy(s);
}
END_TEST

Suite *suite_validate(void)
{
    Suite *s = suite_create("validate");
    TCase *tc = tcase_create("validate");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_messages_and_paths);
    tcase_add_test(tc, test_sample_shipment);
    tcase_add_test(tc, test_integer_and_number);
    tcase_add_test(tc, test_unique_items_equality);
    tcase_add_test(tc, test_ref_pointer_escapes);
    tcase_add_test(tc, test_ref_and_id);
    tcase_add_test(tc, test_max_errors_truncation);
    tcase_add_test(tc, test_instance_depth_edge);
    tcase_add_test(tc, test_deep_instance_default_limits);
    tcase_add_test(tc, test_long_same_instance_chain);
    tcase_add_test(tc, test_random_mutations);
    tcase_add_test(tc, test_valid_path_allocates_nothing);
    tcase_add_test(tc, test_validate_out_of_memory);
    tcase_add_test(tc, test_threads_share_a_schema);
    suite_add_tcase(s, tc);
    return s;
}
