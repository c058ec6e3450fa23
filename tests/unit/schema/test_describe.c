/* test_describe.c — suite `describe` for schema/describe.c (schema_network_describe): names
 * (types first, reserved names avoided, definitions in document order), ref_base used verbatim,
 * a record type whose items is a $ref, recursive definitions and recursive subschemas below a
 * type (each named once, the walk ends), and the 2020-12 keywords. The OpenAPI document built
 * on it is tested in tests/unit/api/test_openapi.c. */
#include "common/err.h"
#include "schema/schema.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

Suite *suite_describe(void);

static struct schema_network *load(const char *text)
{
    json_error_t jerr;
    json_t *doc = json_loads(text, 0, &jerr);
    ck_assert_msg(doc != NULL, "%s", jerr.text);
    struct schema_network *n = NULL;
    char err[256];
    ck_assert_msg(schema_network_load(doc, NULL, &n, err, sizeof err) == TR_OK, "%s", err);
    json_decref(doc);
    return n;
}

static json_t *describe(const struct schema_network *n, const char *const *reserved)
{
    json_t *out = NULL;
    char err[256];
    ck_assert_msg(schema_network_describe(n, "#/x/", reserved, &out, err, sizeof err) == TR_OK,
                  "%s", err);
    return out;
}

static const char *ref_of(const json_t *s)
{
    return json_string_value(json_object_get(s, "$ref"));
}

START_TEST(names_and_reserved)
{
    struct schema_network *n =
        load("{\"type\":\"object\",\"definitions\":{\"Problem\":{\"type\":\"string\"},"
             "\"Order\":{\"type\":\"integer\"},\"Z\":{\"$ref\":\"#/definitions/Problem\"}},"
             "\"properties\":{\"Order\":{\"type\":\"array\",\"items\":{\"type\":\"object\","
             "\"x-treaty-key\":\"id\",\"x-treaty-indexes\":[\"p\"],\"required\":[\"id\"],"
             "\"properties\":{\"id\":{\"type\":\"string\"},\"p\":{\"$ref\":"
             "\"#/definitions/Problem\"},\"o\":{\"$ref\":\"#/definitions/Order\"}}}}}}");
    const char *reserved[] = {"Problem", "Problem_2", NULL};
    json_t *out = describe(n, reserved);
    /* the type keeps its name; the definitions avoid it and the reserved names */
    ck_assert_str_eq(json_string_value(json_object_get(json_object_get(out, "Problem_3"), "type")),
                     "string");
    ck_assert_str_eq(json_string_value(json_object_get(json_object_get(out, "Order_2"), "type")),
                     "integer");
    ck_assert_ptr_null(json_object_get(out, "Problem"));
    const json_t *props = json_object_get(json_object_get(out, "Order"), "properties");
    ck_assert_str_eq(ref_of(json_object_get(props, "p")), "#/x/Problem_3");
    ck_assert_str_eq(ref_of(json_object_get(props, "o")), "#/x/Order_2");
    ck_assert_str_eq(ref_of(json_object_get(out, "Z")), "#/x/Problem_3");
    const json_t *order = json_object_get(out, "Order");
    ck_assert_str_eq(json_string_value(json_object_get(order, "x-treaty-key")), "id");
    ck_assert_str_eq(
        json_string_value(json_array_get(json_object_get(order, "x-treaty-indexes"), 0)), "p");
    ck_assert_uint_eq(json_object_size(out), 4);
    json_decref(out);
    schema_network_destroy(n);
}
END_TEST

START_TEST(items_ref_and_recursion)
{
    struct schema_network *n = load(
        "{\"type\":\"object\",\"definitions\":{\"Rec\":{\"type\":\"object\","
        "\"x-treaty-key\":\"id\",\"required\":[\"id\"],\"properties\":{"
        "\"id\":{\"type\":\"integer\"},\"kids\":{\"type\":\"array\",\"items\":"
        "{\"$ref\":\"#/definitions/Rec\"}}}}},"
        "\"properties\":{\"R\":{\"type\":\"array\",\"items\":{\"$ref\":\"#/definitions/Rec\"}},"
        "\"T\":{\"type\":\"array\",\"items\":{\"type\":\"object\",\"x-treaty-key\":\"k\","
        "\"required\":[\"k\"],\"properties\":{\"k\":{\"type\":\"string\"},"
        "\"tree\":{\"type\":\"object\",\"properties\":{\"sub\":{\"$ref\":"
        "\"#/properties/T/items/properties/tree\"}}}}}}}}");
    json_t *out = describe(n, NULL);
    /* a type whose items is a $ref is that $ref; the definition carries the record schema */
    ck_assert_str_eq(ref_of(json_object_get(out, "R")), "#/x/Rec");
    const json_t *kids =
        json_object_get(json_object_get(json_object_get(out, "Rec"), "properties"), "kids");
    ck_assert_str_eq(ref_of(json_object_get(kids, "items")), "#/x/Rec");
    /* a subschema below a type that refers to itself is named once, by its pointer */
    const char *name = "properties.T.items.properties.tree";
    const json_t *tree = json_object_get(out, name);
    ck_assert_ptr_nonnull(tree);
    ck_assert_str_eq(ref_of(json_object_get(json_object_get(tree, "properties"), "sub")),
                     "#/x/properties.T.items.properties.tree");
    json_decref(out);
    schema_network_destroy(n);
}
END_TEST

START_TEST(keywords_2020)
{
    struct schema_network *n =
        load("{\"type\":\"object\",\"properties\":{\"T\":{\"type\":\"array\",\"items\":{"
             "\"type\":\"object\",\"x-treaty-key\":\"k\",\"required\":[\"k\"],"
             "\"$comment\":\"kept\",\"title\":\"a T\",\"examples\":[{\"k\":\"a\"}],"
             "\"unknownKeyword\":{\"$ref\":\"#/nowhere\"},"
             "\"properties\":{\"k\":{\"type\":\"string\",\"default\":\"x\"},"
             "\"t\":{\"type\":\"array\",\"items\":[{\"const\":1}]},"
             "\"u\":{\"type\":\"array\",\"items\":{\"type\":\"string\"},\"additionalItems\":false},"
             "\"v\":{\"if\":{\"type\":\"string\"},\"then\":{\"minLength\":1},"
             "\"else\":{\"not\":{\"type\":\"null\"}}}}}}}}");
    json_t *out = describe(n, NULL);
    const json_t *t = json_object_get(out, "T");
    ck_assert_str_eq(json_string_value(json_object_get(t, "$comment")), "kept");
    ck_assert_str_eq(json_string_value(json_object_get(t, "title")), "a T");
    ck_assert_ptr_nonnull(json_object_get(t, "examples"));
    ck_assert_ptr_null(json_object_get(t, "unknownKeyword"));
    const json_t *p = json_object_get(t, "properties");
    ck_assert_ptr_nonnull(json_object_get(json_object_get(p, "t"), "prefixItems"));
    ck_assert_ptr_null(json_object_get(json_object_get(p, "t"), "items"));
    /* additionalItems next to a single items schema does nothing in draft-07: dropped */
    const json_t *u = json_object_get(p, "u");
    ck_assert_str_eq(json_string_value(json_object_get(json_object_get(u, "items"), "type")),
                     "string");
    ck_assert_ptr_null(json_object_get(u, "additionalItems"));
    const json_t *v = json_object_get(p, "v");
    ck_assert_ptr_nonnull(json_object_get(json_object_get(v, "else"), "not"));
    ck_assert_str_eq(json_string_value(json_object_get(json_object_get(p, "k"), "default")), "x");
    json_decref(out);
    schema_network_destroy(n);
}
END_TEST

Suite *suite_describe(void)
{
    Suite *s = suite_create("describe");
    TCase *tc = tcase_create("describe");
    tcase_add_test(tc, names_and_reserved);
    tcase_add_test(tc, items_ref_and_recursion);
    tcase_add_test(tc, keywords_2020);
    suite_add_tcase(s, tc);
    return s;
}
