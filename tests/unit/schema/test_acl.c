/* test_acl.c — read ACLs (schema/acl.c) over the example supply-chain schema and small inline
 * schemas: "*", named orgs and "owner" on the type's read list; absent lists default to every
 * member and empty ones to nobody; field-level read lists remove exactly the fields they hide and
 * leave the rest of the record (and non-objects) alone; the message form of a list. */
#include "schema/schema.h"

#include "common/err.h"

#include <check.h>
#include <string.h>

Suite *suite_acl(void);

#define EXAMPLE TREATY_SOURCE_DIR "/examples/supply-chain.json"

static struct schema_network *net_from_file(const char *path)
{
    char err[512];
    json_t *doc = NULL;
    ck_assert_msg(schema_json_load_file(path, NULL, &doc, err, sizeof err) == TR_OK, "%s", err);
    struct schema_network *n = NULL;
    ck_assert_msg(schema_network_load(doc, NULL, &n, err, sizeof err) == TR_OK, "%s", err);
    json_decref(doc);
    return n;
}

static struct schema_network *net_from_text(const char *text)
{
    json_error_t jerr;
    json_t *doc = json_loads(text, 0, &jerr);
    ck_assert_msg(doc != NULL, "bad test JSON: %s", jerr.text);
    char err[512];
    struct schema_network *n = NULL;
    ck_assert_msg(schema_network_load(doc, NULL, &n, err, sizeof err) == TR_OK, "%s", err);
    json_decref(doc);
    return n;
}

static json_t *shipment(void)
{
    json_t *j =
        json_pack("{s:s, s:s, s:s, s:s, s:s, s:{s:s, s:s}, s:f}", "shipmentId", "SHP-0001",
                  "origin", "Lyon", "destination", "Oslo", "status", "created", "carrier", "globex",
                  "declaredValue", "amount", "1200.00", "currency", "EUR", "weightKg", 12.5);
    ck_assert_ptr_nonnull(j);
    return j;
}

START_TEST(test_type_read_star)
{
    struct schema_network *n = net_from_file(EXAMPLE);
    const struct schema_type *s = schema_network_type_find(n, "Shipment");
    ck_assert(schema_acl_may_read(s, "acme", "acme"));
    ck_assert(schema_acl_may_read(s, "globex", "acme"));
    ck_assert(schema_acl_may_read(s, "someone-else", NULL));
    ck_assert(!schema_acl_may_read(s, NULL, "acme"));
    schema_network_destroy(n);
}
END_TEST

START_TEST(test_type_read_owner_and_named)
{
    struct schema_network *n = net_from_file(EXAMPLE);
    const struct schema_type *inv = schema_network_type_find(n, "Invoice");
    /* read: ["owner", "acme"] */
    ck_assert(schema_acl_may_read(inv, "globex", "globex")); /* owner */
    ck_assert(schema_acl_may_read(inv, "acme", "globex"));   /* named */
    ck_assert(!schema_acl_may_read(inv, "initech", "globex"));
    ck_assert(!schema_acl_may_read(inv, "globex", "initech")); /* not the owner */
    ck_assert(!schema_acl_may_read(inv, "globex", NULL));      /* no owner known */
    /* "owner" is a principal, not an org called owner */
    ck_assert(!schema_acl_may_read(inv, "owner", "globex"));
    schema_network_destroy(n);
}
END_TEST

static const char *const acl_schema =
    "{\"type\":\"object\",\"properties\":{"
    "\"Open\":{\"type\":\"array\",\"items\":{\"type\":\"object\",\"x-treaty-key\":\"id\","
    "\"required\":[\"id\"],\"properties\":{\"id\":{\"type\":\"string\"},\"a\":{},\"b\":{}},"
    "\"x-treaty-acl\":{\"fields\":{\"a\":{\"update\":[\"x\"]}}}}},"
    "\"Closed\":{\"type\":\"array\",\"items\":{\"type\":\"object\",\"x-treaty-key\":\"id\","
    "\"required\":[\"id\"],\"properties\":{\"id\":{\"type\":\"string\"},\"a\":{},\"b\":{},"
    "\"c\":{}},"
    "\"x-treaty-acl\":{\"read\":[],\"fields\":{\"a\":{\"read\":[]},\"b\":{\"read\":[\"*\"]},"
    "\"c\":{\"read\":[\"owner\"]}}}}}}}";

START_TEST(test_defaults_and_empty)
{
    struct schema_network *n = net_from_text(acl_schema);
    const struct schema_type *open = schema_network_type_find(n, "Open");
    const struct schema_type *closed = schema_network_type_find(n, "Closed");
    ck_assert(schema_acl_may_read(open, "anyone", NULL));
    ck_assert(schema_acl_may_read(open, NULL, NULL));            /* absent list: every member */
    ck_assert(!schema_acl_may_read(closed, "anyone", "anyone")); /* []: nobody, owner too */

    /* a field entry with only `update` does not hide the field */
    json_t *doc = json_pack("{s:s, s:i, s:i}", "id", "1", "a", 1, "b", 2);
    schema_acl_redact(open, "anyone", "other", doc);
    ck_assert_uint_eq(json_object_size(doc), 3);
    json_decref(doc);

    doc = json_pack("{s:s, s:i, s:i, s:i}", "id", "1", "a", 1, "b", 2, "c", 3);
    schema_acl_redact(closed, "acme", "globex", doc);
    ck_assert_ptr_null(json_object_get(doc, "a"));    /* [] hides from everyone */
    ck_assert_ptr_nonnull(json_object_get(doc, "b")); /* "*" */
    ck_assert_ptr_null(json_object_get(doc, "c"));    /* owner is globex */
    ck_assert_ptr_nonnull(json_object_get(doc, "id"));
    json_decref(doc);

    doc = json_pack("{s:s, s:i, s:i}", "id", "1", "a", 1, "c", 3);
    schema_acl_redact(closed, "globex", "globex", doc);
    ck_assert_ptr_null(json_object_get(doc, "a"));
    ck_assert_int_eq(json_integer_value(json_object_get(doc, "c")), 3); /* the owner sees c */
    json_decref(doc);
    schema_network_destroy(n);
}
END_TEST

START_TEST(test_redact_declared_value)
{
    struct schema_network *n = net_from_file(EXAMPLE);
    const struct schema_type *s = schema_network_type_find(n, "Shipment");
    /* declaredValue: read ["owner", "initech"] */
    const struct {
        const char *org;
        bool sees;
    } cases[] = {{"acme", true}, {"initech", true}, {"globex", false}, {"other", false}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        json_t *doc = shipment();
        schema_acl_redact(s, cases[i].org, "acme", doc);
        ck_assert_msg((json_object_get(doc, "declaredValue") != NULL) == cases[i].sees, "org %s",
                      cases[i].org);
        /* every other field stays */
        ck_assert_uint_eq(json_object_size(doc), cases[i].sees ? 7 : 6);
        ck_assert_str_eq(json_string_value(json_object_get(doc, "carrier")), "globex");
        json_decref(doc);
    }
    /* a record without the field, a NULL org and a non-object are fine */
    json_t *doc = json_pack("{s:s}", "shipmentId", "SHP-0002");
    schema_acl_redact(s, "globex", "acme", doc);
    ck_assert_uint_eq(json_object_size(doc), 1);
    json_decref(doc);
    doc = shipment();
    schema_acl_redact(s, NULL, "acme", doc);
    ck_assert_ptr_null(json_object_get(doc, "declaredValue"));
    json_decref(doc);
    json_t *arr = json_array();
    schema_acl_redact(s, "globex", "acme", arr);
    ck_assert_uint_eq(json_array_size(arr), 0);
    json_decref(arr);
    schema_acl_redact(s, "globex", "acme", NULL);
    schema_network_destroy(n);
}
END_TEST

START_TEST(test_list_format)
{
    struct schema_network *n = net_from_file(EXAMPLE);
    const struct schema_type *inv = schema_network_type_find(n, "Invoice");
    const struct schema_type *shp = schema_network_type_find(n, "Shipment");
    char buf[64];
    ck_assert_uint_eq(schema_acl_list_format(&inv->acl.read, buf, sizeof buf), 11);
    ck_assert_str_eq(buf, "owner, acme");
    schema_acl_list_format(&inv->acl.delete_, buf, sizeof buf);
    ck_assert_str_eq(buf, "nobody");
    schema_acl_list_format(&shp->acl.read, buf, sizeof buf);
    ck_assert_str_eq(buf, "*");
    struct schema_acl_list absent = {false, 0, NULL};
    schema_acl_list_format(&absent, buf, sizeof buf);
    ck_assert_str_eq(buf, "*");
    char tiny[6];
    ck_assert_uint_eq(schema_acl_list_format(&inv->acl.read, tiny, sizeof tiny), 5);
    ck_assert_str_eq(tiny, "owner");
    ck_assert_uint_eq(schema_acl_list_format(&inv->acl.read, tiny, 0), 0);
    schema_network_destroy(n);
}
END_TEST

Suite *suite_acl(void)
{
    Suite *s = suite_create("acl");
    TCase *tc = tcase_create("read");
    tcase_add_test(tc, test_type_read_star);
    tcase_add_test(tc, test_type_read_owner_and_named);
    tcase_add_test(tc, test_defaults_and_empty);
    tcase_add_test(tc, test_redact_declared_value);
    tcase_add_test(tc, test_list_format);
    suite_add_tcase(s, tc);
    return s;
}
