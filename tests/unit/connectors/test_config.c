/* test_config.c — a full config parses with its defaults; credentials come from environment
 * variables and files; every bad field is refused with a message naming it exactly, and a
 * secret's value never appears in a message; every limit is accepted at its edges and refused
 * one past them; an allocation failure at any point leaves nothing behind (ASan checks leaks). */
#include "connectors/conn.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/err.h"

Suite *suite_config(void);

#define SECRET "very-secret-value-42"

static const char *BASE =
    "{\"node\": {\"url\": \"http://127.0.0.1:7000\", \"api_key\": {\"env\": \"TCONN_KEY\"}},"
    " \"state_dir\": \"/tmp/x\", \"status_listen\": \"127.0.0.1:7100\","
    " \"connectors\": [{\"name\": \"sf\", \"kind\": \"salesforce\", \"direction\": \"both\","
    "   \"ledger_type\": \"Shipment\", \"object\": \"Shipment__c\", \"external_id\": \"Ext__c\","
    "   \"salesforce\": {\"login_url\": \"http://127.0.0.1:1\", \"client_id\": {\"env\": "
    "\"TCONN_ID\"},"
    "                  \"client_secret\": {\"env\": \"TCONN_SECRET\"}},"
    "   \"fields\": [{\"ledger\": \"shipmentId\", \"saas\": \"Ext__c\"},"
    "              {\"ledger\": \"weightKg\", \"saas\": \"W__c\", \"transform\": "
    "\"number_string\"},"
    "              {\"ledger\": \"eta\", \"saas\": \"E__c\", \"transform\": {\"date\": "
    "{\"ledger\": \"rfc3339\", \"saas\": \"date\"}}},"
    "              {\"ledger\": \"carrier\", \"constant\": \"acme\"}]},"
    "  {\"name\": \"hook\", \"kind\": \"webhook\", \"direction\": \"outbound\", \"ledger_type\": "
    "\"Shipment\","
    "   \"url\": \"http://127.0.0.1:2/h\", \"secret\": {\"env\": \"TCONN_SECRET\"},"
    "   \"fields\": [{\"ledger\": \"shipmentId\", \"saas\": \"id\"}]}]}";

static void env_setup(void)
{
    setenv("TCONN_KEY", "trk_abc", 1);
    setenv("TCONN_ID", "client", 1);
    setenv("TCONN_SECRET", SECRET, 1);
    unsetenv("TCONN_UNSET");
}

static json_t *base_doc(void)
{
    json_t *d = json_loads(BASE, 0, NULL);
    ck_assert_ptr_nonnull(d);
    return d;
}

/* Parses doc (taking it), expects failure with `want` in the message and no secret. */
static void expect_error(json_t *doc, const char *want)
{
    struct conn_cfg *cfg = (void *)1;
    char err[512] = "";
    int rc = conn_cfg_parse(doc, &cfg, err, sizeof err);
    json_decref(doc);
    ck_assert_msg(rc == TR_EINVAL, "rc %d for %s (%s)", rc, want, err);
    ck_assert_ptr_null(cfg);
    ck_assert_msg(strstr(err, want) != NULL, "message \"%s\" lacks \"%s\"", err, want);
    ck_assert_msg(strstr(err, SECRET) == NULL, "secret in \"%s\"", err);
}

static json_t *conn0(json_t *d)
{
    return json_array_get(json_object_get(d, "connectors"), 0);
}

START_TEST(test_full_config)
{
    env_setup();
    json_t *d = base_doc();
    struct conn_cfg *cfg = NULL;
    char err[256];
    ck_assert_int_eq(conn_cfg_parse(d, &cfg, err, sizeof err), 0);
    json_decref(d);
    ck_assert_str_eq(cfg->node_url, "http://127.0.0.1:7000");
    ck_assert_str_eq(cfg->api_key, "trk_abc");
    ck_assert_str_eq(cfg->status_host, "127.0.0.1");
    ck_assert_int_eq(cfg->status_port, 7100);
    ck_assert_uint_eq(cfg->limits.max_inflight, 32);
    ck_assert_uint_eq(cfg->limits.page_size, 2000);
    ck_assert_uint_eq(cfg->nconnectors, 2);
    struct conn_cfg_connector *c = &cfg->connectors[0];
    ck_assert_int_eq(c->kind, CONN_KIND_SALESFORCE);
    ck_assert_int_eq(c->direction, CONN_DIR_BOTH);
    ck_assert_str_eq(c->client_secret, SECRET);
    ck_assert_str_eq(c->api_version, "59.0");
    ck_assert_uint_eq(c->poll_interval_ms, 5000);
    ck_assert_uint_eq(c->nfields, 4);
    ck_assert_int_eq(c->fields[1].xform, CONN_XF_NUMBER_STRING);
    ck_assert_int_eq(c->fields[2].xform, CONN_XF_DATE);
    ck_assert_int_eq(c->fields[2].saas_df, CONN_DF_DATE);
    ck_assert_str_eq(json_string_value(c->fields[3].constant), "acme");
    ck_assert_int_eq(cfg->connectors[1].kind, CONN_KIND_WEBHOOK);
    ck_assert_str_eq(cfg->connectors[1].secret, SECRET);
    conn_cfg_destroy(cfg);
    conn_cfg_destroy(NULL);
}
END_TEST

START_TEST(test_secret_from_file)
{
    env_setup();
    char path[] = "/tmp/tconn-secret-XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, "from-file\n", 10), 10);
    close(fd);
    json_t *d = base_doc();
    json_object_set_new(json_object_get(d, "node"), "api_key", json_pack("{s:s}", "file", path));
    struct conn_cfg *cfg = NULL;
    char err[256];
    ck_assert_int_eq(conn_cfg_parse(d, &cfg, err, sizeof err), 0);
    ck_assert_str_eq(cfg->api_key, "from-file");
    conn_cfg_destroy(cfg);
    unlink(path);
    /* A missing file names the field and the path. */
    expect_error(d, "node.api_key: cannot read file");
}
END_TEST

START_TEST(test_errors_name_the_field)
{
    env_setup();
    json_t *d;
    d = base_doc();
    json_object_set_new(json_array_get(json_object_get(conn0(d), "fields"), 1), "transform",
                        json_string("reverse"));
    expect_error(d, "connectors[0].fields[1].transform: unknown transform \"reverse\"");
    d = base_doc();
    json_object_set_new(conn0(d), "colour", json_string("red"));
    expect_error(d, "connectors[0].colour: unknown field");
    d = base_doc();
    json_object_set_new(conn0(d), "direction", json_string("sideways"));
    expect_error(d, "connectors[0].direction: must be inbound, outbound or both");
    d = base_doc();
    json_object_set_new(json_object_get(conn0(d), "salesforce"), "client_secret",
                        json_pack("{s:s}", "env", "TCONN_UNSET"));
    expect_error(d, "connectors[0].salesforce.client_secret: environment variable TCONN_UNSET");
    d = base_doc();
    json_object_set_new(json_object_get(conn0(d), "salesforce"), "client_secret",
                        json_string(SECRET));
    expect_error(d, "connectors[0].salesforce.client_secret: must be {\"env\": NAME}");
    d = base_doc();
    json_object_set_new(conn0(d), "external_id", json_string("Nope__c"));
    expect_error(d, "connectors[0].external_id: \"Nope__c\" must be the saas name");
    d = base_doc();
    json_object_set_new(json_array_get(json_object_get(d, "connectors"), 1), "direction",
                        json_string("inbound"));
    expect_error(d, "connectors[1].direction: a webhook connector is outbound only");
    d = base_doc();
    json_object_set_new(json_array_get(json_object_get(d, "connectors"), 1), "name",
                        json_string("sf"));
    expect_error(d, "connectors[1]: name \"sf\" is used twice");
    d = base_doc();
    json_object_set_new(json_array_get(json_object_get(d, "connectors"), 1), "name",
                        json_string("Bad Name"));
    expect_error(d, "connectors[1].name: must be 1 to 64");
    d = base_doc();
    json_array_append_new(json_object_get(conn0(d), "fields"),
                          json_pack("{s:s,s:s}", "ledger", "eta", "saas", "Other__c"));
    expect_error(d, "connectors[0].fields[4]: ledger field \"eta\" is mapped twice");
    d = base_doc();
    json_array_append_new(json_object_get(conn0(d), "fields"),
                          json_pack("{s:s,s:s,s:i}", "ledger", "x", "saas", "X__c", "constant", 1));
    expect_error(d, "connectors[0].fields[4]: give exactly one of \"saas\" and \"constant\"");
    d = base_doc();
    json_object_set_new(json_array_get(json_object_get(conn0(d), "fields"), 2), "transform",
                        json_pack("{s:{s:s,s:s}}", "date", "ledger", "rfc3339", "saas", "julian"));
    expect_error(d, "connectors[0].fields[2].transform: date.saas must be");
    d = base_doc();
    json_object_set_new(d, "status_listen", json_string("localhost"));
    expect_error(d, "status_listen: must be \"HOST:PORT\"");
    d = base_doc();
    json_object_set_new(json_array_get(json_object_get(conn0(d), "fields"), 1), "saas",
                        json_string("W__c FROM x"));
    expect_error(d, "connectors[0].fields[1].saas: must be a Salesforce API name");
    d = base_doc();
    json_object_set_new(conn0(d), "object", json_string("Ship/../x"));
    expect_error(d, "connectors[0].object: must be a Salesforce API name");
    d = base_doc();
    json_object_set_new(json_object_get(conn0(d), "salesforce"), "username",
                        json_pack("{s:s}", "env", "TCONN_ID"));
    expect_error(d, "connectors[0].salesforce.password: missing");
    d = base_doc();
    json_object_set_new(d, "status_listen", json_string("0.0.0.0:9000"));
    expect_error(d, "status_listen: must be a loopback address");
    d = base_doc();
    json_object_set_new(json_object_get(d, "node"), "url", json_string("ftp://x"));
    expect_error(d, "node.url: must start with http:// or https://");
    d = base_doc();
    json_object_del(d, "state_dir");
    expect_error(d, "state_dir: missing");
    d = base_doc();
    json_object_set_new(d, "connectors", json_array());
    expect_error(d, "connectors: must be an array of 1 to 64 connectors");
    expect_error(json_string("x"), "(document): must be a JSON object");
}
END_TEST

static void limit_case(const char *key, json_int_t v, int ok)
{
    json_t *d = base_doc();
    json_object_set_new(d, "limits", json_pack("{s:I}", key, v));
    if (!ok) {
        char want[96];
        snprintf(want, sizeof want, "limits.%s: must be an integer from", key);
        expect_error(d, want);
        return;
    }
    struct conn_cfg *cfg = NULL;
    char err[256];
    ck_assert_msg(conn_cfg_parse(d, &cfg, err, sizeof err) == 0, "%s=%lld: %s", key, (long long)v,
                  err);
    json_decref(d);
    conn_cfg_destroy(cfg);
}

START_TEST(test_limit_edges)
{
    env_setup();
    static const struct {
        const char *key;
        json_int_t lo, hi;
    } L[] = {{"max_inflight", 1, 1024},
             {"max_response_bytes", 4096, 1 << 30},
             {"max_event_queue", 1, 1000000},
             {"max_attempts", 1, 1000},
             {"request_timeout_ms", 100, 3600000},
             {"max_dead_letters", 0, 10000000},
             {"page_size", 200, 2000}};
    for (size_t i = 0; i < sizeof L / sizeof L[0]; i++) {
        limit_case(L[i].key, L[i].lo, 1);
        limit_case(L[i].key, L[i].hi, 1);
        limit_case(L[i].key, L[i].lo - 1, 0);
        limit_case(L[i].key, L[i].hi + 1, 0);
    }
    json_t *d = base_doc();
    json_object_set_new(d, "limits",
                        json_pack("{s:i,s:i}", "backoff_base_ms", 500, "backoff_max_ms", 400));
    expect_error(d, "limits.backoff_max_ms: must be >= limits.backoff_base_ms");
    d = base_doc();
    json_object_set_new(d, "limits", json_pack("{s:s}", "max_inflight", "8"));
    expect_error(d, "limits.max_inflight: must be an integer");
}
END_TEST

START_TEST(test_alloc_failures)
{
    env_setup();
    json_t *d = base_doc();
    int done = 0;
    for (long n = 1; n < 10000 && !done; n++) {
        struct conn_cfg *cfg = NULL;
        char err[256];
        tr_alloc_fail_after(n);
        int rc = conn_cfg_parse(d, &cfg, err, sizeof err);
        int fired = tr_alloc_fail_fired();
        tr_alloc_fail_reset();
        if (!fired) {
            ck_assert_int_eq(rc, 0);
            done = 1;
        } else {
            ck_assert_int_eq(rc, TR_ENOMEM);
            ck_assert_ptr_null(cfg);
        }
        conn_cfg_destroy(cfg);
    }
    ck_assert_int_eq(done, 1);
    json_decref(d);
}
END_TEST

Suite *suite_config(void)
{
    Suite *s = suite_create("config");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_full_config);
    tcase_add_test(tc, test_secret_from_file);
    tcase_add_test(tc, test_errors_name_the_field);
    tcase_add_test(tc, test_limit_edges);
    tcase_add_test(tc, test_alloc_failures);
    suite_add_tcase(s, tc);
    return s;
}
