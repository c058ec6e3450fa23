/* test_compile.c — schema/compile.c and compile_ref.c: keyword checks naming the schema path,
 * $ref refusals and cycles, limits, node lookup, RFC 3986 resolution, allocation failures. */
#include "schema/schema_int.h"
#include "common/alloc.h"
#include "common/err.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

Suite *suite_compile(void);

static char msg[512];

/* Parses `text` and compiles it; the schema is destroyed unless `out` wants it. */
static int compile_text(const char *text, const struct schema_limits *l, struct schema **out)
{
    json_error_t jerr;
    json_t *doc = json_loads(text, JSON_DECODE_ANY, &jerr);
    ck_assert_msg(doc != NULL, "test schema does not parse: %s: %s", text, jerr.text);
    struct schema *s = NULL;
    msg[0] = '\0';
    int rc = schema_compile(doc, l, &s, msg, sizeof msg);
    json_decref(doc);
    if (rc != TR_OK)
        ck_assert_ptr_null(s);
    if (out)
        *out = s;
    else
        schema_destroy(s);
    return rc;
}

static const struct {
    const char *schema;
    const char *message;
} bad_keywords[] = {
    {"{\"properties\":{\"a\":{\"minimum\":\"x\"}}}", "/properties/a/minimum: must be a number"},
    {"{\"type\":\"strin\"}", "/type: unknown type \"strin\""},
    {"{\"type\":[\"string\", 3]}", "/type: must be a type name or an array of them"},
    {"{\"items\":[{\"maxLength\":-1}]}", "/items/0/maxLength: must be a non-negative integer"},
    {"{\"minItems\":1.5}", "/minItems: must be a non-negative integer"},
    {"{\"properties\":{\"a/b~\":{\"pattern\":\"(\"}}}",
     "/properties/a~1b~0/pattern: invalid regex"},
    {"{\"patternProperties\":{\"[\":{}}}", "/patternProperties/[: invalid regex"},
    {"{\"required\":\"a\"}", "/required: must be an array of strings"},
    {"{\"required\":[\"a\", 2]}", "/required/1: must be a string"},
    {"{\"allOf\":[]}", "/allOf: must be a non-empty array of schemas"},
    {"{\"definitions\":{\"x\":3}}", "/definitions/x: a schema must be an object or a boolean"},
    {"{\"multipleOf\":0}", "/multipleOf: must be greater than 0"},
    {"{\"uniqueItems\":1}", "/uniqueItems: must be a boolean"},
    {"{\"dependencies\":{\"a\":[1]}}", "/dependencies/a/0: must be a string"},
    {"{\"dependencies\":{\"a\":\"b\"}}", "/dependencies/a: a schema must be an object"},
    {"{\"enum\":3}", "/enum: must be an array"},
    {"{\"format\":3}", "/format: must be a string"},
    {"{\"properties\":[]}", "/properties: must be an object"},
    {"{\"not\":{\"$ref\":5}}", "/not/$ref: must be a string"},
    {"{\"$id\":5}", "/$id: must be a string"},
    {"\"string\"", "(root): a schema must be an object or a boolean"},
};

START_TEST(test_bad_keyword_names_path)
{
    for (size_t i = 0; i < sizeof bad_keywords / sizeof bad_keywords[0]; i++) {
        int rc = compile_text(bad_keywords[i].schema, NULL, NULL);
        ck_assert_msg(rc == TR_ESCHEMA, "%s: rc %d", bad_keywords[i].schema, rc);
        ck_assert_msg(strncmp(msg, bad_keywords[i].message, strlen(bad_keywords[i].message)) == 0,
                      "%s: got \"%s\", want \"%s\"", bad_keywords[i].schema, msg,
                      bad_keywords[i].message);
    }
}
END_TEST

START_TEST(test_accepted_documents)
{
    /* Unknown keywords and annotations are ignored (draft-07 core §4.3.3); 2.0 is an integer. */
    ck_assert_int_eq(
        compile_text("{\"x-anything\":{\"type\":5},\"title\":3,\"minLength\":2.0}", NULL, NULL),
        TR_OK);
    ck_assert_int_eq(compile_text("true", NULL, NULL), TR_OK);
    ck_assert_int_eq(compile_text("false", NULL, NULL), TR_OK);
    ck_assert_int_eq(compile_text("{}", NULL, NULL), TR_OK);
    /* Recursion that descends into the instance is legal. */
    ck_assert_int_eq(compile_text("{\"properties\":{\"next\":{\"$ref\":\"#\"}}}", NULL, NULL),
                     TR_OK);
    ck_assert_int_eq(compile_text("{\"definitions\":{\"t\":{\"items\":{\"$ref\":\"#/definitions/"
                                  "t\"}}},\"$ref\":\"#/definitions/t\"}",
                                  NULL, NULL),
                     TR_OK);
}
END_TEST

START_TEST(test_refs_refused)
{
    ck_assert_int_eq(compile_text("{\"$ref\":\"http://example.com/other.json#/a\"}", NULL, NULL),
                     TR_ESCHEMA);
    ck_assert_ptr_nonnull(strstr(msg, "remote references are not supported"));
    ck_assert_int_eq(
        compile_text("{\"properties\":{\"a\":{\"$ref\":\"#/definitions/nope\"}}}", NULL, NULL),
        TR_ESCHEMA);
    ck_assert_ptr_nonnull(strstr(msg, "/properties/a/$ref: \"#/definitions/nope\" does not point"));
    ck_assert_int_eq(compile_text("{\"$ref\":\"#/enum/0\",\"enum\":[3]}", NULL, NULL), TR_ESCHEMA);
}
END_TEST

START_TEST(test_ref_cycles_refused)
{
    const char *cycles[] = {
        "{\"$ref\":\"#\"}",
        ("{\"definitions\":{\"a\":{\"$ref\":\"#/definitions/b\"},\"b\":{\"$ref\":"
         "\"#/definitions/a\"}},\"properties\":{\"x\":{\"$ref\":\"#/definitions/a\"}}}"),
        "{\"allOf\":[{\"$ref\":\"#\"}]}",
        "{\"anyOf\":[{\"type\":\"string\"},{\"not\":{\"$ref\":\"#\"}}]}",
        "{\"definitions\":{\"a\":{\"if\":{\"$ref\":\"#/definitions/a\"}}}}",
    };
    for (size_t i = 0; i < sizeof cycles / sizeof cycles[0]; i++) {
        ck_assert_msg(compile_text(cycles[i], NULL, NULL) == TR_ESCHEMA, "%s", cycles[i]);
        ck_assert_msg(strstr(msg, "without descending into the instance"), "%s", msg);
    }
}
END_TEST

/* k objects nested through `items`: {"items":{"items":{}}} has depth 3. */
static char *nested_items(size_t k)
{
    size_t len = k * 10 + 1;
    char *s = malloc(len);
    ck_assert_ptr_nonnull(s);
    size_t o = 0;
    for (size_t i = 1; i < k; i++)
        o += (size_t)snprintf(s + o, len - o, "{\"items\":");
    o += (size_t)snprintf(s + o, len - o, "{}");
    for (size_t i = 1; i < k; i++)
        s[o++] = '}';
    s[o] = '\0';
    return s;
}

START_TEST(test_depth_limit)
{
    struct schema_limits l;
    schema_limits_default(&l);
    l.max_depth = 8;
    char *ok = nested_items(8), *deep = nested_items(9);
    ck_assert_int_eq(compile_text(ok, &l, NULL), TR_OK);
    ck_assert_int_eq(compile_text(deep, &l, NULL), TR_ELIMIT);
    ck_assert_ptr_nonnull(strstr(msg, "deeper than the limit of 8"));
    free(ok);
    free(deep);
}
END_TEST

/* A json_t built in code, 10,000 levels deep: refused without deep recursion. */
START_TEST(test_deep_built_document)
{
    json_t *doc = json_object();
    for (int i = 0; i < 10000; i++) {
        json_t *outer = json_object();
        json_object_set_new(outer, "not", doc);
        doc = outer;
    }
    struct schema *s = NULL;
    ck_assert_int_eq(schema_compile(doc, NULL, &s, msg, sizeof msg), TR_ELIMIT);
    ck_assert_ptr_null(s);
    /* Freeing is jansson's business, and also recursive: unwind it iteratively. */
    while (doc) {
        json_t *inner = json_incref(json_object_get(doc, "not"));
        json_object_del(doc, "not");
        json_decref(doc);
        doc = inner;
    }
}
END_TEST

START_TEST(test_node_limit)
{
    struct schema_limits l;
    schema_limits_default(&l);
    l.max_schema_nodes = 3;
    ck_assert_int_eq(compile_text("{\"properties\":{\"a\":{},\"b\":{}}}", &l, NULL), TR_OK);
    ck_assert_int_eq(compile_text("{\"properties\":{\"a\":{},\"b\":{},\"c\":{}}}", &l, NULL),
                     TR_ELIMIT);
    ck_assert_ptr_nonnull(strstr(msg, "more than 3 subschemas"));
}
END_TEST

static json_t *sample(void)
{
    json_error_t jerr;
    json_t *doc = json_load_file(TREATY_SOURCE_DIR "/examples/supply-chain.json", 0, &jerr);
    ck_assert_msg(doc != NULL, "%s", jerr.text);
    return doc;
}

START_TEST(test_node_at)
{
    json_t *doc = sample();
    struct schema *s = NULL;
    ck_assert_int_eq(schema_compile(doc, NULL, &s, msg, sizeof msg), TR_OK);
    const struct schema_node *ship = schema_node_at(s, "/properties/Shipment/items");
    ck_assert_ptr_nonnull(ship);
    ck_assert_str_eq(ship->path, "/properties/Shipment/items");
    ck_assert_ptr_eq(schema_node_at(s, "#/properties/Shipment/items"), ship);
    ck_assert_ptr_nonnull(schema_node_at(s, "/definitions/Money/properties/currency"));
    ck_assert_ptr_eq(schema_node_at(s, ""), schema_root(s));
    ck_assert_ptr_null(schema_node_at(s, "/properties/Nope"));
    ck_assert_ptr_null(schema_node_at(s, "/properties/Shipment/items/x-treaty-acl"));
    /* $ref resolved to the definition's node. */
    const struct schema_node *carrier =
        schema_node_at(s, "/properties/Shipment/items/properties/carrier");
    ck_assert_ptr_eq(carrier->ref, schema_node_at(s, "/definitions/Party"));
    schema_destroy(s);
    schema_destroy(NULL);
    json_decref(doc);
}
END_TEST

/* SQLite-style OOM loop: every allocation of schema_compile fails in turn. */
START_TEST(test_compile_out_of_memory)
{
    json_t *doc = sample();
    long n;
    for (n = 1;; n++) {
        struct schema *s = NULL;
        tr_alloc_fail_after(n);
        int rc = schema_compile(doc, NULL, &s, msg, sizeof msg);
        int fired = tr_alloc_fail_fired();
        tr_alloc_fail_reset();
        if (!fired) {
            ck_assert_int_eq(rc, TR_OK);
            ck_assert_ptr_nonnull(schema_node_at(s, "/properties/Invoice/items"));
            schema_destroy(s);
            break;
        }
        ck_assert_msg(rc == TR_ENOMEM, "n=%ld: rc=%s msg=%s", n, tr_err_name(rc), msg);
        ck_assert_ptr_null(s);
        ck_assert_int_lt(n, 100000);
    }
    ck_assert_int_gt(n, 50); /* the loop really walked the allocations */
    json_decref(doc);
}
END_TEST

START_TEST(test_uri_resolve_rfc3986)
{
    /* RFC 3986 §5.4.1 and §5.4.2 examples. */
    static const char *const cases[][2] = {
        {"g", "http://a/b/c/g"},      {"./g", "http://a/b/c/g"},
        {"g/", "http://a/b/c/g/"},    {"/g", "http://a/g"},
        {"//g", "http://g"},          {"?y", "http://a/b/c/d;p?y"},
        {"g?y", "http://a/b/c/g?y"},  {"#s", "http://a/b/c/d;p?q#s"},
        {"g#s", "http://a/b/c/g#s"},  {"", "http://a/b/c/d;p?q"},
        {".", "http://a/b/c/"},       {"./", "http://a/b/c/"},
        {"..", "http://a/b/"},        {"../g", "http://a/b/g"},
        {"../..", "http://a/"},       {"../../g", "http://a/g"},
        {"../../../g", "http://a/g"}, {"/./g", "http://a/g"},
        {"g.", "http://a/b/c/g."},    {"g/./h", "http://a/b/c/g/h"},
        {"g/../h", "http://a/b/c/h"}, {"g;x=1/../y", "http://a/b/c/y"},
        {"urn:x:y", "urn:x:y"},       {"http://o/p/../q", "http://o/q"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *out = NULL;
        ck_assert_int_eq(schema__uri_resolve("http://a/b/c/d;p?q", cases[i][0], &out), TR_OK);
        ck_assert_msg(strcmp(out, cases[i][1]) == 0, "%s: got %s want %s", cases[i][0], out,
                      cases[i][1]);
        tr_free(out);
    }
}
END_TEST

Suite *suite_compile(void)
{
    Suite *s = suite_create("compile");
    TCase *tc = tcase_create("compile");
    tcase_add_test(tc, test_bad_keyword_names_path);
    tcase_add_test(tc, test_accepted_documents);
    tcase_add_test(tc, test_refs_refused);
    tcase_add_test(tc, test_ref_cycles_refused);
    tcase_add_test(tc, test_depth_limit);
    tcase_add_test(tc, test_deep_built_document);
    tcase_add_test(tc, test_node_limit);
    tcase_add_test(tc, test_node_at);
    tcase_add_test(tc, test_compile_out_of_memory);
    tcase_add_test(tc, test_uri_resolve_rfc3986);
    suite_add_tcase(s, tc);
    return s;
}
