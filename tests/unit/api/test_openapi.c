/* test_openapi.c — suite `openapi` for api/openapi*.c, schema/describe.c and api/routes_docs.c:
 * the document's shape for the sample schema (every type has its seven operations and four
 * schemas, every $ref resolves, the problem format), the draft-07 to 2020-12 rewriting (names,
 * $defs, prefixItems, dependencies, $id references, $ref siblings, x-* keywords), independence
 * from member order, allocation failures, and GET /v1/openapi.json and GET /v1/schema. */
#include "harness.h"

#include "common/alloc.h"
#include "common/err.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

Suite *suite_openapi(void);

static struct schema_network *load_network_text(const char *text)
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

static struct schema_network *load_sample(void)
{
    json_t *doc = NULL;
    char err[256];
    ck_assert_int_eq(schema_json_load_file(TREATY_SOURCE_DIR "/examples/supply-chain.json", NULL,
                                           &doc, err, sizeof err),
                     TR_OK);
    struct schema_network *n = NULL;
    ck_assert_int_eq(schema_network_load(doc, NULL, &n, err, sizeof err), TR_OK);
    json_decref(doc);
    return n;
}

static json_t *build(const struct schema_network *n)
{
    json_t *doc = NULL;
    char err[256];
    ck_assert_msg(api_openapi_build(n, &doc, err, sizeof err) == TR_OK, "%s", err);
    return doc;
}

/* The value a local reference "#/a/b" names in `root`, NULL if none (RFC 6901, %-escapes). */
static const json_t *resolve(const json_t *root, const char *ref)
{
    if (ref[0] != '#')
        return NULL;
    const json_t *j = root;
    const char *p = ref + 1;
    while (j && *p == '/') {
        p++;
        char tok[256];
        size_t o = 0;
        for (; *p && *p != '/' && o + 1 < sizeof tok; p++) {
            if (*p == '~')
                tok[o++] = *++p == '0' ? '~' : '/';
            else if (*p == '%' && p[1] && p[2]) {
                char hex[3] = {p[1], p[2], 0};
                tok[o++] = (char)strtol(hex, NULL, 16);
                p += 2;
            } else
                tok[o++] = *p;
        }
        tok[o] = '\0';
        j = json_is_array(j) ? json_array_get(j, (size_t)atoi(tok)) : json_object_get(j, tok);
    }
    return j;
}

/* Counts the $refs under `j` and asserts each resolves in `root`. */
static size_t check_refs(const json_t *root, const json_t *j)
{
    size_t n = 0;
    if (json_is_object(j)) {
        const char *k;
        json_t *v;
        json_object_foreach((json_t *)j, k, v)
        {
            if (strcmp(k, "$ref") == 0 && json_is_string(v)) {
                ck_assert_msg(resolve(root, json_string_value(v)) != NULL, "$ref %s dangles",
                              json_string_value(v));
                n++;
            } else {
                n += check_refs(root, v);
            }
        }
    } else if (json_is_array(j)) {
        size_t i;
        json_t *v;
        json_array_foreach(j, i, v)
        {
            n += check_refs(root, v);
        }
    }
    return n;
}

/* Whether member `key` occurs anywhere under `j`. */
static bool has_key(const json_t *j, const char *key)
{
    const char *k;
    json_t *v;
    size_t i;
    if (json_is_object(j)) {
        json_object_foreach((json_t *)j, k, v)
        {
            if (strcmp(k, key) == 0 || has_key(v, key))
                return true;
        }
    } else if (json_is_array(j)) {
        json_array_foreach(j, i, v)
        {
            if (has_key(v, key))
                return true;
        }
    }
    return false;
}

static const json_t *at(const json_t *doc, const char *ref)
{
    const json_t *v = resolve(doc, ref);
    ck_assert_msg(v != NULL, "%s is missing", ref);
    return v;
}

START_TEST(sample_shape)
{
    struct schema_network *n = load_sample();
    json_t *doc = build(n);
    ck_assert_str_eq(json_string_value(json_object_get(doc, "openapi")), "3.1.0");
    ck_assert_str_eq(json_string_value(at(doc, "#/components/securitySchemes/bearerAuth/scheme")),
                     "bearer");
    static const char *const ops[][2] = {
        {"", "post"},        {"", "get"},          {"/{key}", "get"},        {"/{key}", "put"},
        {"/{key}", "patch"}, {"/{key}", "delete"}, {"/{key}/history", "get"}};
    static const char *const ids[] = {"create", "list",   "get",         "replace",
                                      "patch",  "delete", "get%sHistory"};
    for (size_t t = 0; t < schema_network_type_count(n); t++) {
        const char *name = schema_network_type_at(n, t)->name;
        for (size_t i = 0; i < 7; i++) {
            char ref[160], want[80];
            /* "/" inside the path key is escaped as ~1 */
            char esc[32];
            size_t o = 0;
            for (const char *p = ops[i][0]; *p; p++) {
                if (*p == '/') {
                    esc[o++] = '~';
                    esc[o++] = '1';
                } else {
                    esc[o++] = *p;
                }
            }
            esc[o] = '\0';
            snprintf(ref, sizeof ref, "#/paths/~1v1~1data~1%s%s/%s", name, esc, ops[i][1]);
            const json_t *op = at(doc, ref);
            if (i == 6)
                snprintf(want, sizeof want, "get%sHistory", name);
            else
                snprintf(want, sizeof want, "%s%s", ids[i], name);
            ck_assert_str_eq(json_string_value(json_object_get(op, "operationId")), want);
            ck_assert(json_object_get(json_object_get(op, "responses"), "401") != NULL);
        }
        static const char *const suffixes[] = {"", "Record", "Patch", "Page", "History"};
        for (size_t s = 0; s < 5; s++) {
            char ref[160];
            snprintf(ref, sizeof ref, "#/components/schemas/%s%s", name, suffixes[s]);
            at(doc, ref);
        }
    }
    /* Shipment: the record as read adds the metadata; the merge patch requires nothing. */
    const json_t *rec = at(doc, "#/components/schemas/ShipmentRecord");
    ck_assert(json_object_get(json_object_get(rec, "properties"), "_version") != NULL);
    ck_assert(json_object_get(json_object_get(rec, "properties"), "shipmentId") != NULL);
    ck_assert(json_is_false(json_object_get(rec, "additionalProperties")));
    ck_assert(json_object_get(at(doc, "#/components/schemas/ShipmentPatch"), "required") == NULL);
    ck_assert_str_eq(json_string_value(at(doc, "#/components/schemas/Shipment/x-treaty-key")),
                     "shipmentId");
    /* The merge patch takes application/merge-patch+json. */
    at(doc, "#/paths/~1v1~1data~1Shipment~1{key}/patch/requestBody/content/"
            "application~1merge-patch+json/schema");
    /* Indexed fields filter lists by equality and ranges; order_by names them. */
    const json_t *params = at(doc, "#/paths/~1v1~1data~1Invoice/get/parameters");
    const char *want_params[] = {"shipmentId", "shipmentId.gte", "paid", "order_by", "cursor"};
    for (size_t w = 0; w < 5; w++) {
        bool found = false;
        size_t i;
        json_t *p;
        json_array_foreach(params, i, p)
        {
            const char *nm = json_string_value(json_object_get(p, "name"));
            const char *r = json_string_value(json_object_get(p, "$ref"));
            found |= (nm && strcmp(nm, want_params[w]) == 0) ||
                     (r && strcmp(want_params[w], "cursor") == 0 && strstr(r, "Cursor"));
        }
        ck_assert_msg(found, "list parameter %s missing", want_params[w]);
    }
    /* paid is a boolean: no range filters */
    char *ptext = json_dumps(params, 0);
    ck_assert_ptr_nonnull(ptext);
    ck_assert_ptr_null(strstr(ptext, "paid.gt"));
    free(ptext);
    /* 422 answers list violations */
    ck_assert_str_eq(json_string_value(at(doc, "#/components/schemas/ValidationProblem/allOf/1/"
                                               "properties/errors/items/$ref")),
                     "#/components/schemas/ValidationError");
    ck_assert_str_eq(json_string_value(at(doc, "#/paths/~1v1~1data~1Shipment/post/responses/422/"
                                               "$ref")),
                     "#/components/responses/ValidationFailed");
    /* roles: reads need reader, record writes writer, governance admin; operations none */
    ck_assert_str_eq(
        json_string_value(at(doc, "#/paths/~1v1~1data~1Shipment~1{key}/get/x-treaty-role")),
        "reader");
    ck_assert_str_eq(
        json_string_value(at(doc, "#/paths/~1v1~1data~1Shipment~1{key}/patch/x-treaty-role")),
        "writer");
    ck_assert_str_eq(
        json_string_value(at(doc, "#/paths/~1v1~1schema~1proposals/post/x-treaty-role")), "admin");
    ck_assert_ptr_null(json_object_get(at(doc, "#/paths/~1healthz/get"), "x-treaty-role"));
    ck_assert_uint_eq(json_array_size(at(doc, "#/paths/~1healthz/get/security")), 0);
    at(doc, "#/components/schemas/ValidationError/properties/instancePath");
    /* Fixed routes */
    const char *fixed[] = {"/v1/tx",           "/v1/tx/{id}",
                           "/v1/ledger/head",  "/v1/events",
                           "/v1/schema",       "/healthz",
                           "/readyz",          "/metrics",
                           "/v1/openapi.json", "/v1/ledger/proofs/inclusion",
                           "/v1/members"};
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++)
        ck_assert_msg(json_object_get(json_object_get(doc, "paths"), fixed[i]) != NULL, "%s",
                      fixed[i]);
    ck_assert(check_refs(doc, doc) > 50);
    /* draft-07 leftovers and the raw extensions are gone */
    json_t *schemas = json_object_get(json_object_get(doc, "components"), "schemas");
    ck_assert(!has_key(schemas, "definitions"));
    ck_assert(!has_key(schemas, "x-treaty-acl"));
    ck_assert(!has_key(schemas, "$schema"));
    ck_assert(!has_key(schemas, "$id"));
    json_decref(doc);
    schema_network_destroy(n);
}
END_TEST

/* A schema exercising the rewriting rules. */
static const char REWRITE_SCHEMA[] =
    "{\"$schema\":\"http://json-schema.org/draft-07/schema#\",\"$id\":\"https://ex.org/s\","
    "\"type\":\"object\",\"definitions\":{"
    "\"Item\":{\"type\":\"string\",\"x-internal\":1},"
    "\"odd name/x\":{\"$id\":\"#anchor\",\"type\":\"integer\"},"
    "\"Pair\":{\"type\":\"array\",\"items\":[{\"type\":\"string\"},{\"type\":\"integer\"}],"
    "\"additionalItems\":false},"
    "\"Deep\":{\"type\":\"object\",\"properties\":{\"inner\":{\"type\":\"boolean\"}}}},"
    "\"properties\":{\"Item\":{\"type\":\"array\",\"items\":{\"type\":\"object\","
    "\"x-treaty-key\":\"id\",\"required\":[\"id\"],"
    "\"dependencies\":{\"a\":[\"b\"],\"c\":{\"required\":[\"d\"]}},"
    "\"properties\":{\"id\":{\"type\":\"string\"},\"a\":{},\"b\":{},\"c\":{},\"d\":{},"
    "\"def\":{\"$ref\":\"#/definitions/Item\",\"maxLength\":3},"
    "\"anchored\":{\"$ref\":\"#anchor\"},"
    "\"pair\":{\"$ref\":\"#/definitions/Pair\"},"
    "\"deep\":{\"$ref\":\"#/definitions/Deep/properties/inner\"},"
    "\"local\":{\"definitions\":{\"L\":{\"type\":\"null\"}},\"$ref\":\"#/definitions/Item\"}}}}}}";

START_TEST(rewrite_rules)
{
    struct schema_network *n = load_network_text(REWRITE_SCHEMA);
    json_t *doc = build(n);
    const json_t *s = at(doc, "#/components/schemas");
    /* The definition "Item" yields to the type "Item"; odd characters become '_'. */
    ck_assert_str_eq(json_string_value(at(doc, "#/components/schemas/Item_2/type")), "string");
    ck_assert(!has_key(at(doc, "#/components/schemas/Item_2"), "x-internal"));
    ck_assert_str_eq(json_string_value(at(doc, "#/components/schemas/odd_name_x/type")), "integer");
    const json_t *props = at(doc, "#/components/schemas/Item/properties");
    /* $ref siblings are ignored by draft-07, so they are dropped (2020-12 would apply them) */
    ck_assert_str_eq(json_string_value(json_object_get(json_object_get(props, "def"), "$ref")),
                     "#/components/schemas/Item_2");
    ck_assert_uint_eq(json_object_size(json_object_get(props, "def")), 1);
    /* a plain-name anchor found through $id */
    ck_assert_str_eq(json_string_value(json_object_get(json_object_get(props, "anchored"), "$ref")),
                     "#/components/schemas/odd_name_x");
    /* a pointer below a definition gets its own component */
    const char *deep = json_string_value(json_object_get(json_object_get(props, "deep"), "$ref"));
    ck_assert_str_eq(deep, "#/components/schemas/definitions.Deep.properties.inner");
    ck_assert_str_eq(json_string_value(json_object_get(resolve(doc, deep), "type")), "boolean");
    /* tuple items */
    ck_assert(json_is_array(at(doc, "#/components/schemas/Pair/prefixItems")));
    ck_assert(json_is_false(at(doc, "#/components/schemas/Pair/items")));
    /* dependencies */
    ck_assert_str_eq(json_string_value(at(doc, "#/components/schemas/Item/dependentRequired/a/0")),
                     "b");
    at(doc, "#/components/schemas/Item/dependentSchemas/c/required");
    ck_assert(!has_key(s, "dependencies"));
    ck_assert(!has_key(s, "$id"));
    check_refs(doc, doc);
    json_decref(doc);
    schema_network_destroy(n);
}
END_TEST

/* Types named like the document's own schemas, or like another type's generated ones. */
START_TEST(name_collisions)
{
    struct schema_network *n = load_network_text(
        "{\"type\":\"object\",\"definitions\":{\"TxOp\":{\"type\":\"string\"}},"
        "\"properties\":{"
        "\"Problem\":{\"type\":\"array\",\"items\":{\"type\":\"object\","
        "\"x-treaty-key\":\"id\",\"required\":[\"id\"],\"properties\":{\"id\":{\"$ref\":"
        "\"#/definitions/TxOp\"}}}},"
        "\"ProblemRecord\":{\"type\":\"array\",\"items\":{\"type\":\"object\","
        "\"x-treaty-key\":\"id\",\"required\":[\"id\"],\"properties\":{\"id\":{\"type\":"
        "\"string\"}}}}}}");
    json_t *doc = build(n);
    /* the types keep their names; what the document adds moves aside */
    at(doc, "#/components/schemas/Problem/properties/id");
    at(doc, "#/components/schemas/ProblemRecord/properties/id");
    ck_assert_str_eq(json_string_value(at(doc, "#/components/schemas/Problem_2/properties/title/"
                                               "type")),
                     "string");
    ck_assert_str_eq(json_string_value(at(doc, "#/paths/~1v1~1data~1Problem/post/responses/201/"
                                               "content/application~1json/schema/$ref")),
                     "#/components/schemas/ProblemRecord_2");
    ck_assert_str_eq(json_string_value(at(doc, "#/components/responses/BadRequest/content/"
                                               "application~1problem+json/schema/$ref")),
                     "#/components/schemas/Problem_2");
    /* the definition TxOp yields to the document's TxOp */
    ck_assert_str_eq(json_string_value(at(doc, "#/components/schemas/TxOp_2/type")), "string");
    ck_assert_str_eq(json_string_value(at(doc, "#/components/schemas/ProblemRecord_2/properties/"
                                               "id/$ref")),
                     "#/components/schemas/TxOp_2");
    check_refs(doc, doc);
    json_decref(doc);
    schema_network_destroy(n);
}
END_TEST

/* The same schema with every object's members in reverse order gives the same bytes. */
static json_t *reversed(const json_t *j)
{
    if (json_is_array(j)) {
        json_t *a = json_array();
        for (size_t i = 0; i < json_array_size(j); i++)
            json_array_append_new(a, reversed(json_array_get(j, i)));
        return a;
    }
    if (!json_is_object(j))
        return json_deep_copy(j);
    const char *keys[256];
    size_t n = 0;
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)j, k, v)
    {
        ck_assert_uint_lt(n, 256);
        keys[n++] = k;
    }
    json_t *o = json_object();
    while (n-- > 0)
        json_object_set_new(o, keys[n], reversed(json_object_get(j, keys[n])));
    return o;
}

START_TEST(order_independent)
{
    struct schema_network *a = load_sample();
    json_t *rev = reversed(schema_network_doc(a));
    struct schema_network *b = NULL;
    char err[256];
    ck_assert_int_eq(schema_network_load(rev, NULL, &b, err, sizeof err), TR_OK);
    json_decref(rev);
    char *ta = NULL, *tb = NULL;
    size_t la = 0, lb = 0;
    ck_assert_int_eq(api_openapi_text(a, &ta, &la, err, sizeof err), TR_OK);
    ck_assert_int_eq(api_openapi_text(b, &tb, &lb, err, sizeof err), TR_OK);
    ck_assert_uint_eq(la, lb);
    ck_assert_int_eq(memcmp(ta, tb, la), 0);
    ck_assert_int_eq(ta[la - 1], '\n');
    free(ta);
    free(tb);
    schema_network_destroy(a);
    schema_network_destroy(b);
}
END_TEST

static void *json_alloc(size_t n)
{
    return tr_malloc(n);
}

static void json_release(void *p)
{
    tr_free(p);
}

/* Every allocation failing in turn, jansson's too (routed through tr_malloc): TR_ENOMEM and
 * nothing leaked (ASan), then success. Check forks each test, so the jansson allocator switch
 * stays in this test's process. */
START_TEST(alloc_failures)
{
    struct schema_network *n = load_sample();
    json_set_alloc_funcs(json_alloc, json_release);
    int rc = TR_ENOMEM;
    long i;
    /* Every failure point among the first 64, then every ~1/32 further on (a full build makes
     * tens of thousands of allocations: walking each would take minutes under ASan). */
    for (i = 1; i < 10000000 && rc != TR_OK; i += 1 + i / 32) {
        json_t *doc = NULL;
        char err[256];
        tr_alloc_fail_after(i);
        rc = api_openapi_build(n, &doc, err, sizeof err);
        tr_alloc_fail_reset();
        ck_assert_msg(rc == TR_OK || rc == TR_ENOMEM, "failure %ld: %s", i, tr_strerror(rc));
        ck_assert(rc == TR_OK ? doc != NULL : doc == NULL);
        json_decref(doc);
    }
    ck_assert_int_eq(rc, TR_OK);
    ck_assert_int_gt(i, 1000); /* jansson's allocations were walked too */
    schema_network_destroy(n);
}
END_TEST

static struct harness H;

static void setup(void)
{
    harness_start(&H, NULL);
}

static void teardown(void)
{
    harness_stop(&H);
}

static struct response get(const char *method, const char *path)
{
    char buf[256];
    snprintf(buf, sizeof buf,
             "%s %s HTTP/1.1\r\nHost: t\r\n" AUTH_ADMIN "Content-Length: 0\r\n\r\n", method, path);
    struct response r;
    http_do(&H, buf, &r);
    return r;
}

START_TEST(served_openapi)
{
    char *want = NULL;
    size_t len = 0;
    char err[256];
    ck_assert_int_eq(api_openapi_text(H.schema, &want, &len, err, sizeof err), TR_OK);
    for (int round = 0; round < 2; round++) { /* built, then from the cache */
        struct response r = get("GET", "/v1/openapi.json");
        ck_assert_int_eq(r.status, 200);
        ck_assert_str_eq(r.content_type, "application/json");
        ck_assert_uint_eq(r.body_len, len);
        ck_assert_int_eq(memcmp(r.body, want, len), 0);
        free(r.body);
    }
    free(want);
    struct response r = get("POST", "/v1/openapi.json");
    ck_assert_int_eq(r.status, 405);
    ck_assert_str_eq(r.allow, "GET");
    free(r.body);
}
END_TEST

START_TEST(served_schema)
{
    struct response r = get("GET", "/v1/schema");
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(r.content_type, "application/json");
    char *want = json_dumps(schema_network_doc(H.schema), JSON_COMPACT | JSON_SORT_KEYS);
    ck_assert_str_eq(r.body, want);
    free(want);
    free(r.body);
    r = get("DELETE", "/v1/schema");
    ck_assert_int_eq(r.status, 405);
    free(r.body);
    r = get("GET", "/v1/schema/extra");
    ck_assert_int_eq(r.status, 404);
    free(r.body);
}
END_TEST

Suite *suite_openapi(void)
{
    Suite *s = suite_create("openapi");
    TCase *doc = tcase_create("document");
    tcase_set_timeout(doc, 60);
    tcase_add_test(doc, sample_shape);
    tcase_add_test(doc, rewrite_rules);
    tcase_add_test(doc, name_collisions);
    tcase_add_test(doc, order_independent);
    tcase_add_test(doc, alloc_failures);
    suite_add_tcase(s, doc);
    TCase *http = tcase_create("http");
    tcase_add_checked_fixture(http, setup, teardown);
    tcase_add_test(http, served_openapi);
    tcase_add_test(http, served_schema);
    suite_add_tcase(s, http);
    return s;
}
