/* test_sap_cfg.c — the "sap" section of a connector config: defaults (service root, entity set,
 * key, ETag retries), HTTP Basic or bearer credentials from the environment, every bad field
 * refused with a message naming it and never a secret, max_etag_retries at its edges, and an
 * allocation failure at any point leaving nothing behind (ASan checks leaks). */
#include "connectors/conn_int.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/err.h"

Suite *suite_sap_cfg(void);

#define PW "sap-very-secret-pw"

static const char *DOC =
    "{\"node\": {\"url\": \"http://127.0.0.1:7000\", \"api_key\": {\"env\": \"TSAP_KEY\"}},"
    " \"state_dir\": \"/tmp/x\","
    " \"connectors\": [{\"name\": \"s4\", \"kind\": \"sap\", \"direction\": \"both\","
    "   \"ledger_type\": \"Shipment\","
    "   \"sap\": {\"base_url\": \"https://s4.example//\", \"user\": {\"env\": \"TSAP_USER\"},"
    "             \"password\": {\"env\": \"TSAP_PW\"}},"
    "   \"fields\": [{\"ledger\": \"shipmentId\", \"saas\": \"BusinessPartner\"},"
    "              {\"ledger\": \"eta\", \"saas\": \"YY1_ETA\", \"transform\": {\"date\": "
    "{\"ledger\": \"rfc3339\", \"saas\": \"odata_v2\"}}}]}]}";

static json_t *doc(void)
{
    setenv("TSAP_KEY", "trk_abc", 1);
    setenv("TSAP_USER", "CONNECT", 1);
    setenv("TSAP_PW", PW, 1);
    json_t *d = json_loads(DOC, 0, NULL);
    ck_assert_ptr_nonnull(d);
    return d;
}

static json_t *sap_of(json_t *d)
{
    return json_object_get(json_array_get(json_object_get(d, "connectors"), 0), "sap");
}

static json_t *field1(json_t *d)
{
    json_t *c = json_array_get(json_object_get(d, "connectors"), 0);
    return json_array_get(json_object_get(c, "fields"), 1);
}

/* Parses d (taking it); expects TR_EINVAL with `want` in the message and no secret in it. */
static void refused(json_t *d, const char *want)
{
    struct conn_cfg *cfg = NULL;
    char err[512] = "";
    int rc = conn_cfg_parse(d, &cfg, err, sizeof err);
    json_decref(d);
    ck_assert_msg(rc == TR_EINVAL, "rc %d for %s (%s)", rc, want, err);
    ck_assert_ptr_null(cfg);
    ck_assert_msg(strstr(err, want) != NULL, "message \"%s\" lacks \"%s\"", err, want);
    ck_assert_msg(strstr(err, PW) == NULL, "secret in \"%s\"", err);
}

START_TEST(test_defaults_and_bearer)
{
    json_t *d = doc();
    struct conn_cfg *cfg = NULL;
    char err[256];
    ck_assert_int_eq(conn_cfg_parse(d, &cfg, err, sizeof err), 0);
    const struct conn_cfg_connector *c = &cfg->connectors[0];
    ck_assert_int_eq(c->kind, CONN_KIND_SAP);
    ck_assert_str_eq(c->sap->root, "https://s4.example/sap/opu/odata/sap/API_BUSINESS_PARTNER");
    ck_assert_str_eq(c->sap->entity_set, "A_BusinessPartner");
    ck_assert_str_eq(c->sap->key_prop, "BusinessPartner");
    ck_assert_str_eq(c->sap->user, "CONNECT");
    ck_assert_str_eq(c->sap->password, PW);
    ck_assert_ptr_null(c->sap->token);
    ck_assert_uint_eq(c->sap->max_etag_retries, 3);
    ck_assert_str_eq(c->sap->client, "");
    ck_assert_int_eq(c->fields[1].saas_df, CONN_DF_ODATA_V2);
    conn_cfg_destroy(cfg);
    /* A bearer token instead, other names, the retry bound at both edges. */
    for (int edge = 0; edge <= 100; edge += 100) {
        json_t *s = sap_of(d);
        json_object_del(s, "user");
        json_object_del(s, "password");
        json_object_set_new(s, "token", json_pack("{s:s}", "env", "TSAP_PW"));
        json_object_set_new(s, "service", json_string("API_BP_V2"));
        json_object_set_new(s, "entity_set", json_string("A_Customer"));
        json_object_set_new(s, "key", json_string("BusinessPartner"));
        json_object_set_new(s, "max_etag_retries", json_integer(edge));
        json_object_set_new(s, "client", json_string("007"));
        ck_assert_int_eq(conn_cfg_parse(d, &cfg, err, sizeof err), 0);
        c = &cfg->connectors[0];
        ck_assert_str_eq(c->sap->root, "https://s4.example/sap/opu/odata/sap/API_BP_V2");
        ck_assert_str_eq(c->sap->entity_set, "A_Customer");
        ck_assert_str_eq(c->sap->token, PW);
        ck_assert_ptr_null(c->sap->user);
        ck_assert_uint_eq(c->sap->max_etag_retries, (unsigned)edge);
        ck_assert_str_eq(c->sap->client, "007");
        conn_cfg_destroy(cfg);
    }
    json_decref(d);
}
END_TEST

START_TEST(test_errors_name_the_field)
{
    json_t *d = doc();
    json_object_del(json_array_get(json_object_get(d, "connectors"), 0), "sap");
    refused(d, "connectors[0].sap: missing");
    d = doc();
    json_object_set_new(sap_of(d), "sap_client", json_string("100"));
    refused(d, "connectors[0].sap: unknown field \"sap_client\"");
    const char *bad_clients[] = {"1000", "10", "1a0", ""};
    for (size_t i = 0; i < 4; i++) {
        d = doc();
        json_object_set_new(sap_of(d), "client", json_string(bad_clients[i]));
        refused(d, "client must be three digits");
    }
    d = doc();
    json_object_set_new(sap_of(d), "client", json_integer(100));
    refused(d, "client must be three digits");
    d = doc();
    json_object_set_new(sap_of(d), "base_url", json_string("ftp://x"));
    refused(d, "connectors[0].sap: base_url");
    d = doc();
    json_object_del(sap_of(d), "password");
    refused(d, "connectors[0].sap.password: missing");
    d = doc();
    json_object_set_new(sap_of(d), "password", json_string(PW));
    refused(d, "connectors[0].sap.password: must be {\"env\": NAME}");
    d = doc();
    json_object_set_new(sap_of(d), "token", json_pack("{s:s}", "env", "TSAP_PW"));
    refused(d, "connectors[0].sap: give either");
    d = doc();
    setenv("TSAP_USER", "a:b", 1);
    json_object_set_new(sap_of(d), "user", json_pack("{s:s}", "env", "TSAP_USER"));
    {
        struct conn_cfg *cfg = NULL;
        char err[256];
        ck_assert_int_eq(conn_cfg_parse(d, &cfg, err, sizeof err), TR_EINVAL);
        ck_assert_ptr_nonnull(strstr(err, "user must not contain ':'"));
        json_decref(d);
    }
    d = doc();
    json_object_set_new(sap_of(d), "entity_set", json_string("A_BP('x')"));
    refused(d, "entity_set and key must be OData names");
    d = doc();
    json_object_set_new(sap_of(d), "key", json_string("Customer"));
    refused(d, "sap.key \"Customer\" must be the saas name of a mapped field");
    d = doc();
    json_object_set_new(sap_of(d), "max_etag_retries", json_integer(101));
    refused(d, "max_etag_retries must be an integer from 0 to 100");
    d = doc();
    json_object_set_new(sap_of(d), "max_etag_retries", json_integer(-1));
    refused(d, "max_etag_retries");
    d = doc();
    json_object_set_new(field1(d), "saas", json_string("LastChangeTime"));
    refused(d, "fields[1].saas: LastChangeTime is set by SAP");
    d = doc();
    json_object_set_new(field1(d), "saas", json_string("YY1 ETA"));
    refused(d, "fields[1].saas must be an OData property name");
    d = doc();
    json_object_set_new(json_array_get(json_object_get(d, "connectors"), 0), "object",
                        json_string("A_BusinessPartner"));
    refused(d, "sap.entity_set");
}
END_TEST

START_TEST(test_alloc_failures)
{
    /* Fail the n-th allocation, n = 1, 2, …, until a parse runs without a failure. */
    json_t *d = doc();
    long n = 1;
    for (;; n++) {
        ck_assert_int_lt(n, 10000);
        struct conn_cfg *cfg = NULL;
        char err[256];
        tr_alloc_fail_after(n);
        int rc = conn_cfg_parse(d, &cfg, err, sizeof err);
        bool fired = tr_alloc_fail_fired();
        tr_alloc_fail_reset();
        ck_assert_int_eq(rc, fired ? TR_ENOMEM : 0);
        ck_assert(fired == (cfg == NULL));
        conn_cfg_destroy(cfg);
        if (!fired)
            break;
    }
    ck_assert_int_gt(n, 10); /* the sap section alone allocates more than that */
    json_decref(d);
}
END_TEST

Suite *suite_sap_cfg(void)
{
    Suite *s = suite_create("sap_cfg");
    TCase *tc = tcase_create("sap_cfg");
    tcase_add_test(tc, test_defaults_and_bearer);
    tcase_add_test(tc, test_errors_name_the_field);
    tcase_add_test(tc, test_alloc_failures);
    suite_add_tcase(s, tc);
    return s;
}
