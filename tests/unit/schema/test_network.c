/* test_network.c — network schemas (schema/network*.c): the example supply-chain schema loads
 * with its keys, indexes and ACLs; every refusal in fixtures/network_refusals.json is refused
 * with a one-line message that starts with the right JSON pointer; the Vendia forms map; record
 * validation adds treaty's rules (reserved '_' names, integer and empty keys, non-objects);
 * limits and allocation failures are clean. */
#include "schema/schema.h"

#include "common/alloc.h"
#include "common/err.h"

#include <check.h>
#include <stdio.h>
#include <string.h>

Suite *suite_network(void);

#define FIXTURES TREATY_SOURCE_DIR "/tests/unit/schema/fixtures/"
#define EXAMPLE  TREATY_SOURCE_DIR "/examples/supply-chain.json"

static json_t *load_json_file(const char *path)
{
    char err[256];
    json_t *doc = NULL;
    int rc = schema_json_load_file(path, NULL, &doc, err, sizeof err);
    ck_assert_msg(rc == TR_OK, "%s: %s", path, err);
    return doc;
}

static struct schema_network *load_net_file(const char *path)
{
    json_t *doc = load_json_file(path);
    char err[512];
    struct schema_network *n = NULL;
    int rc = schema_network_load(doc, NULL, &n, err, sizeof err);
    ck_assert_msg(rc == TR_OK, "%s: %s", path, err);
    json_decref(doc);
    return n;
}

static struct schema_network *load_net_text(const char *text)
{
    json_error_t jerr;
    json_t *doc = json_loads(text, 0, &jerr);
    ck_assert_msg(doc != NULL, "bad test JSON: %s", jerr.text);
    char err[512];
    struct schema_network *n = NULL;
    int rc = schema_network_load(doc, NULL, &n, err, sizeof err);
    ck_assert_msg(rc == TR_OK, "%s", err);
    json_decref(doc);
    return n;
}

static void assert_list(const struct schema_acl_list *l, bool present, const char *const *want,
                        size_t n)
{
    ck_assert(l->present == present);
    ck_assert_uint_eq(l->len, n);
    for (size_t i = 0; i < n; i++)
        ck_assert_str_eq(l->orgs[i], want[i]);
}

START_TEST(test_example_types)
{
    struct schema_network *n = load_net_file(EXAMPLE);
    ck_assert_uint_eq(schema_network_type_count(n), 2);
    const struct schema_type *s = schema_network_type_at(n, 0);
    ck_assert_str_eq(s->name, "Shipment");
    ck_assert_str_eq(s->key_field, "shipmentId");
    ck_assert_int_eq(s->key_kind, SCHEMA_KEY_STRING);
    ck_assert_str_eq(s->pointer, "/properties/Shipment/items");
    ck_assert_ptr_nonnull(s->node);
    ck_assert_uint_eq(s->index_count, 2);
    ck_assert_str_eq(s->indexes[0], "status");
    ck_assert_str_eq(s->indexes[1], "carrier");
    ck_assert_ptr_eq(schema_network_type_find(n, "Invoice"), schema_network_type_at(n, 1));
    ck_assert_ptr_null(schema_network_type_find(n, "Carrier"));
    ck_assert_ptr_null(schema_network_type_at(n, 2));
    ck_assert_ptr_nonnull(schema_network_compiled(n));
    schema_network_destroy(n);
}
END_TEST

START_TEST(test_example_acls)
{
    struct schema_network *n = load_net_file(EXAMPLE);
    const struct schema_type *s = schema_network_type_find(n, "Shipment");
    assert_list(&s->acl.read, true, (const char *[]){"*"}, 1);
    assert_list(&s->acl.create, true, (const char *[]){"acme"}, 1);
    assert_list(&s->acl.update, true, (const char *[]){"owner", "globex"}, 2);
    assert_list(&s->acl.delete_, true, (const char *[]){"owner"}, 1);
    ck_assert_uint_eq(s->acl.field_count, 1);
    ck_assert_str_eq(s->acl.fields[0].field, "declaredValue");
    assert_list(&s->acl.fields[0].read, true, (const char *[]){"owner", "initech"}, 2);
    assert_list(&s->acl.fields[0].update, true, (const char *[]){"owner"}, 1);
    const struct schema_type *inv = schema_network_type_find(n, "Invoice");
    assert_list(&inv->acl.delete_, true, NULL, 0); /* [] means nobody */
    ck_assert_uint_eq(inv->acl.field_count, 0);
    schema_network_destroy(n);
}
END_TEST

START_TEST(test_doc_is_a_copy)
{
    json_t *doc = load_json_file(EXAMPLE);
    struct schema_network *n = NULL;
    char err[256];
    ck_assert_int_eq(schema_network_load(doc, NULL, &n, err, sizeof err), TR_OK);
    ck_assert_ptr_ne(schema_network_doc(n), doc);
    ck_assert(json_equal(doc, (json_t *)schema_network_doc(n)));
    ck_assert_uint_eq(doc->refcount, 1);
    json_decref(doc); /* the network keeps working without the caller's document */
    ck_assert_ptr_nonnull(schema_network_type_find(n, "Shipment"));
    schema_network_destroy(n);
}
END_TEST

START_TEST(test_defaults_without_acl)
{
    struct schema_network *n = load_net_text(
        "{\"properties\":{\"T\":{\"type\":\"array\",\"items\":{\"type\":\"object\","
        "\"x-treaty-key\":\"id\",\"required\":[\"id\"],\"properties\":{\"id\":{\"type\":"
        "\"string\"}}}}}}");
    const struct schema_type *t = schema_network_type_at(n, 0);
    ck_assert(!t->acl.read.present && !t->acl.create.present && !t->acl.update.present &&
              !t->acl.delete_.present);
    ck_assert_uint_eq(t->index_count, 0);
    ck_assert_uint_eq(t->acl.field_count, 0);
    schema_network_destroy(n);
}
END_TEST

/* ---- data-driven refusals ---- */

static json_t *refusals;

static size_t refusal_count(void)
{
    char err[256];
    if (!refusals &&
        schema_json_load_file(FIXTURES "network_refusals.json", NULL, &refusals, err, sizeof err))
        return 1; /* the loop's one run fails loudly on the load itself */
    return json_array_size(refusals);
}

START_TEST(test_refusal)
{
    ck_assert_msg(refusals != NULL, "fixtures/network_refusals.json did not load");
    const json_t *c = json_array_get(refusals, (size_t)_i);
    const char *name = json_string_value(json_object_get(c, "name"));
    const char *want = json_string_value(json_object_get(c, "error"));
    char err[512];
    struct schema_network *n = NULL;
    int rc = schema_network_load(json_object_get(c, "doc"), NULL, &n, err, sizeof err);
    ck_assert_msg(rc == TR_ESCHEMA, "%s: want TR_ESCHEMA, got %s (%s)", name, tr_err_name(rc),
                  rc ? err : "loaded");
    ck_assert_ptr_null(n);
    ck_assert_msg(strncmp(err, want, strlen(want)) == 0, "%s:\n want prefix %s\n got         %s",
                  name, want, err);
    ck_assert_msg(!strchr(err, '\n'), "%s: message has more than one line", name);
}
END_TEST

/* ---- keys through $ref, records through $ref, Vendia forms ---- */

static int validate_text(struct schema_network *n, const char *type, const char *rec,
                         struct schema_errors *errs);

START_TEST(test_key_kinds_through_ref)
{
    struct schema_network *n = load_net_text(
        "{\"definitions\":{\"S\":{\"type\":\"string\"},\"I\":{\"type\":[\"integer\"]},"
        "\"J\":{\"$ref\":\"#/definitions/I\"}},\"properties\":{"
        "\"A\":{\"type\":\"array\",\"items\":{\"x-treaty-key\":\"k\",\"required\":[\"k\"],"
        "\"properties\":{\"k\":{\"$ref\":\"#/definitions/S\"}}}},"
        "\"B\":{\"type\":\"array\",\"items\":{\"x-treaty-key\":\"k\",\"required\":[\"k\"],"
        "\"properties\":{\"k\":{\"$ref\":\"#/definitions/J\"}}}}}}");
    ck_assert_int_eq(schema_network_type_find(n, "A")->key_kind, SCHEMA_KEY_STRING);
    ck_assert_int_eq(schema_network_type_find(n, "B")->key_kind, SCHEMA_KEY_INTEGER);
    schema_network_destroy(n);
}
END_TEST

START_TEST(test_ref_escapes_and_items_ref)
{
    /* ~1, ~0 and %XX in references (RFC 6901 §4, RFC 3986 §2.1); a record schema reached through
     * items' $ref, with the extensions written beside that $ref. */
    struct schema_network *n = load_net_text(
        "{\"definitions\":{\"a/b\":{\"type\":\"string\"},\"c d~\":{\"type\":\"integer\"},"
        "\"Rec\":{\"type\":\"object\",\"required\":[\"k\"],\"properties\":{"
        "\"k\":{\"$ref\":\"#/definitions/c%20d~0\"},\"s\":{\"$ref\":\"#/definitions/a~1b\"}}}},"
        "\"properties\":{\"R\":{\"type\":\"array\",\"items\":{\"$ref\":\"#/definitions/Rec\","
        "\"x-treaty-key\":\"k\",\"x-treaty-indexes\":[\"s\"]}}}}");
    const struct schema_type *t = schema_network_type_at(n, 0);
    ck_assert_str_eq(t->key_field, "k");
    ck_assert_int_eq(t->key_kind, SCHEMA_KEY_INTEGER);
    ck_assert_uint_eq(t->index_count, 1);
    struct schema_errors e;
    schema_errors_init(&e, 0);
    ck_assert_int_eq(validate_text(n, "R", "{\"k\":4,\"s\":\"x\"}", &e), TR_OK);
    ck_assert_int_eq(validate_text(n, "R", "{\"k\":4,\"s\":5}", &e), TR_EINVALID);
    schema_errors_free(&e);
    schema_network_destroy(n);
}
END_TEST

START_TEST(test_vendia_mapping)
{
    struct schema_network *n = load_net_file(FIXTURES "vendia.json");
    const struct schema_type *e = schema_network_type_find(n, "Employee");
    ck_assert_uint_eq(e->index_count, 3); /* x-treaty-indexes first, Vendia's appended, no dups */
    ck_assert_str_eq(e->indexes[0], "officeId");
    ck_assert_str_eq(e->indexes[1], "employeeId");
    ck_assert_str_eq(e->indexes[2], "managerId");
    ck_assert(!e->acl.read.present); /* x-vendia-acls grants nothing by itself */
    const struct schema_type *o = schema_network_type_find(n, "Office");
    ck_assert_str_eq(o->key_field, "officeId");
    ck_assert_int_eq(o->key_kind, SCHEMA_KEY_INTEGER);
    ck_assert_str_eq(o->pointer, "/properties/Office/items");
    ck_assert_uint_eq(o->index_count, 1);
    ck_assert_str_eq(o->indexes[0], "officeId");
    schema_network_destroy(n);
}
END_TEST

/* ---- record validation ---- */

static int validate_text(struct schema_network *n, const char *type, const char *rec,
                         struct schema_errors *errs)
{
    json_error_t jerr;
    json_t *r = json_loads(rec, JSON_DECODE_ANY, &jerr);
    ck_assert_msg(r != NULL, "bad test JSON: %s", jerr.text);
    const struct schema_type *t = schema_network_type_find(n, type);
    ck_assert_ptr_nonnull(t);
    int rc = schema_network_validate(n, t, r, errs);
    json_decref(r);
    return rc;
}

/* Index of the error at instance path `inst` whose message contains `part`, or -1. */
static long find_error(const struct schema_errors *e, const char *inst, const char *part)
{
    for (size_t i = 0; i < e->len; i++)
        if (strcmp(e->v[i].instance_path, inst) == 0 && strstr(e->v[i].message, part))
            return (long)i;
    return -1;
}

static const char *valid_shipment =
    "{\"shipmentId\":\"SHP-0001\",\"origin\":\"Lyon\",\"destination\":\"Oslo\","
    "\"status\":\"created\",\"carrier\":\"globex\",\"weightKg\":12.5}";

START_TEST(test_validate_valid)
{
    struct schema_network *n = load_net_file(EXAMPLE);
    struct schema_errors e;
    schema_errors_init(&e, 0);
    ck_assert_int_eq(validate_text(n, "Shipment", valid_shipment, &e), TR_OK);
    ck_assert_uint_eq(e.len, 0);
    ck_assert_int_eq(validate_text(n, "Shipment", valid_shipment, NULL), TR_OK);
    schema_errors_free(&e);
    schema_network_destroy(n);
}
END_TEST

START_TEST(test_validate_missing_key)
{
    struct schema_network *n = load_net_file(EXAMPLE);
    struct schema_errors e;
    schema_errors_init(&e, 0);
    int rc = validate_text(n, "Invoice",
                           "{\"shipmentId\":\"s\",\"paid\":true,"
                           "\"total\":{\"amount\":\"1\",\"currency\":\"EUR\"}}",
                           &e);
    ck_assert_int_eq(rc, TR_EINVALID);
    ck_assert_msg(find_error(&e, "", "invoiceId") >= 0, "no error names the missing key");
    schema_errors_free(&e);
    schema_network_destroy(n);
}
END_TEST

START_TEST(test_validate_reserved_name)
{
    struct schema_network *n = load_net_file(EXAMPLE);
    struct schema_errors e;
    schema_errors_init(&e, 0);
    int rc =
        validate_text(n, "Invoice",
                      "{\"invoiceId\":\"i-1\",\"shipmentId\":\"s\",\"paid\":false,\"_version\":"
                      "3,\"total\":{\"amount\":\"1\",\"currency\":\"EUR\"}}",
                      &e);
    ck_assert_int_eq(rc, TR_EINVALID);
    long i = find_error(&e, "/_version", "reserved for record metadata");
    ck_assert_msg(i >= 0, "no reserved-name error");
    ck_assert_str_eq(e.v[i].schema_path, "/properties/Invoice/items/properties");
    ck_assert_int_eq(validate_text(n, "Invoice",
                                   "{\"invoiceId\":\"i-1\",\"shipmentId\":\"s\",\"paid\":false,"
                                   "\"_x\":1,\"total\":{\"amount\":\"1\",\"currency\":\"EUR\"}}",
                                   NULL),
                     TR_EINVALID);
    schema_errors_free(&e);
    schema_network_destroy(n);
}
END_TEST

static const char *int_key_schema =
    "{\"properties\":{\"N\":{\"type\":\"array\",\"items\":{\"type\":\"object\","
    "\"x-treaty-key\":\"n\",\"required\":[\"n\"],\"properties\":{\"n\":{\"type\":\"integer\"}}}},"
    "\"S\":{\"type\":\"array\",\"items\":{\"x-treaty-key\":\"a/b\",\"required\":[\"a/b\"],"
    "\"properties\":{\"a/b\":{\"type\":\"string\"}}}}}}";

START_TEST(test_validate_integer_key)
{
    struct schema_network *n = load_net_text(int_key_schema);
    struct schema_errors e;
    schema_errors_init(&e, 0);
    ck_assert_int_eq(validate_text(n, "N", "{\"n\":3}", &e), TR_OK);
    ck_assert_int_eq(validate_text(n, "N", "{\"n\":3.0}", &e), TR_EINVALID);
    long i = find_error(&e, "/n", "JSON integer");
    ck_assert_msg(i >= 0, "no integer-key error");
    ck_assert_str_eq(e.v[i].schema_path, "/properties/N/items/x-treaty-key");
    ck_assert_int_eq(validate_text(n, "N", "{\"n\":3.0}", NULL), TR_EINVALID);
    schema_errors_free(&e);
    schema_network_destroy(n);
}
END_TEST

START_TEST(test_validate_empty_string_key)
{
    struct schema_network *n = load_net_text(int_key_schema);
    struct schema_errors e;
    schema_errors_init(&e, 0);
    ck_assert_int_eq(validate_text(n, "S", "{\"a/b\":\"k\"}", &e), TR_OK);
    ck_assert_int_eq(validate_text(n, "S", "{\"a/b\":\"\"}", &e), TR_EINVALID);
    ck_assert_msg(find_error(&e, "/a~1b", "must not be empty") >= 0, "no empty-key error");
    schema_errors_free(&e);
    schema_network_destroy(n);
}
END_TEST

START_TEST(test_validate_non_object)
{
    /* Record schema S has no "type": "object", so only treaty's rule refuses an array. */
    struct schema_network *n = load_net_text(int_key_schema);
    struct schema_errors e;
    schema_errors_init(&e, 0);
    ck_assert_int_eq(validate_text(n, "S", "[1,2]", &e), TR_EINVALID);
    ck_assert_uint_eq(e.len, 1);
    ck_assert_str_eq(e.v[0].instance_path, "");
    ck_assert_str_eq(e.v[0].schema_path, "/properties/S/items");
    ck_assert_str_eq(e.v[0].message, "a record must be a JSON object");
    ck_assert_int_eq(validate_text(n, "S", "7", NULL), TR_EINVALID);
    schema_errors_free(&e);
    schema_network_destroy(n);
}
END_TEST

START_TEST(test_validate_error_cap)
{
    struct schema_network *n = load_net_text(int_key_schema);
    struct schema_errors e;
    schema_errors_init(&e, 2);
    ck_assert_int_eq(validate_text(n, "S", "{\"a/b\":\"k\",\"_a\":1,\"_b\":2,\"_c\":3}", &e),
                     TR_EINVALID);
    ck_assert_uint_eq(e.len, 2);
    ck_assert(e.truncated);
    schema_errors_free(&e);
    schema_network_destroy(n);
}
END_TEST

/* ---- limits and allocation failures ---- */

START_TEST(test_depth_limit)
{
    /* 40 nested "properties" levels inside a record, against a depth limit of 20. */
    char buf[4096];
    size_t pos = (size_t)snprintf(buf, sizeof buf,
                                  "{\"properties\":{\"T\":{\"type\":\"array\",\"items\":{"
                                  "\"x-treaty-key\":\"id\",\"required\":[\"id\"],\"properties\":{"
                                  "\"id\":{\"type\":\"string\"}");
    for (int i = 0; i < 40; i++)
        pos += (size_t)snprintf(buf + pos, sizeof buf - pos, ",\"p\":{\"properties\":{\"q\":{}");
    for (int i = 0; i < 40; i++)
        pos += (size_t)snprintf(buf + pos, sizeof buf - pos, "}}");
    snprintf(buf + pos, sizeof buf - pos, "}}}}}");
    json_error_t jerr;
    json_t *doc = json_loads(buf, 0, &jerr);
    ck_assert_msg(doc != NULL, "%s", jerr.text);
    struct schema_limits l;
    schema_limits_default(&l);
    l.max_depth = 20;
    char err[512];
    struct schema_network *n = NULL;
    ck_assert_int_eq(schema_network_load(doc, &l, &n, err, sizeof err), TR_ELIMIT);
    ck_assert_msg(strstr(err, "/properties/T/items/properties/p/properties/") == err, "%s", err);
    ck_assert_ptr_null(n);
    l.max_depth = 512;
    ck_assert_int_eq(schema_network_load(doc, &l, &n, err, sizeof err), TR_OK);
    schema_network_destroy(n);
    json_decref(doc);
}
END_TEST

START_TEST(test_load_alloc_failures)
{
    json_t *doc = load_json_file(EXAMPLE);
    int rc = TR_ENOMEM;
    long fails = 0;
    for (long k = 1; rc != TR_OK; k++) {
        struct schema_network *n = NULL;
        char err[256];
        tr_alloc_fail_after(k);
        rc = schema_network_load(doc, NULL, &n, err, sizeof err);
        tr_alloc_fail_reset();
        if (rc == TR_OK) {
            ck_assert_ptr_nonnull(n);
            schema_network_destroy(n);
        } else {
            ck_assert_msg(rc == TR_ENOMEM, "countdown %ld: %s (%s)", k, tr_err_name(rc), err);
            ck_assert_ptr_null(n);
            fails++;
        }
        ck_assert_msg(k < 100000, "load never succeeded");
    }
    ck_assert_int_gt(fails, 10); /* the countdown really reached the loader's allocations */
    json_decref(doc);
}
END_TEST

START_TEST(test_validate_alloc_failures)
{
    /* Record-rule violations are appended with allocations; a failing one is TR_ENOMEM, never a
     * crash or a leak, and the verdict is right once memory is there. */
    struct schema_network *n = load_net_text(int_key_schema);
    int rc = TR_ENOMEM;
    long fails = 0;
    for (long k = 1; rc == TR_ENOMEM; k++) {
        struct schema_errors e;
        schema_errors_init(&e, 0);
        tr_alloc_fail_after(k);
        rc = validate_text(n, "S", "{\"a/b\":\"\",\"_a\":1,\"_b\":2}", &e);
        tr_alloc_fail_reset();
        fails += rc == TR_ENOMEM;
        schema_errors_free(&e);
        ck_assert_msg(k < 1000, "validation never succeeded");
    }
    ck_assert_int_eq(rc, TR_EINVALID);
    ck_assert_int_gt(fails, 0);
    schema_network_destroy(n);
}
END_TEST

Suite *suite_network(void)
{
    Suite *s = suite_create("network");
    TCase *tc = tcase_create("load");
    tcase_add_test(tc, test_example_types);
    tcase_add_test(tc, test_example_acls);
    tcase_add_test(tc, test_doc_is_a_copy);
    tcase_add_test(tc, test_defaults_without_acl);
    tcase_add_test(tc, test_key_kinds_through_ref);
    tcase_add_test(tc, test_ref_escapes_and_items_ref);
    tcase_add_test(tc, test_vendia_mapping);
    tcase_add_test(tc, test_depth_limit);
    tcase_add_test(tc, test_load_alloc_failures);
    suite_add_tcase(s, tc);
    TCase *tr = tcase_create("refusals");
    tcase_add_loop_test(tr, test_refusal, 0, (int)refusal_count());
    suite_add_tcase(s, tr);
    TCase *tv = tcase_create("validate");
    tcase_add_test(tv, test_validate_valid);
    tcase_add_test(tv, test_validate_missing_key);
    tcase_add_test(tv, test_validate_reserved_name);
    tcase_add_test(tv, test_validate_integer_key);
    tcase_add_test(tv, test_validate_empty_string_key);
    tcase_add_test(tv, test_validate_non_object);
    tcase_add_test(tv, test_validate_error_cap);
    tcase_add_test(tv, test_validate_alloc_failures);
    suite_add_tcase(s, tv);
    return s;
}
