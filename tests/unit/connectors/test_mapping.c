/* test_mapping.c — field mapping both ways (renames, constants, nulls, the external id left out),
 * the transforms number <-> string and the date formats, with exact expected values and refusals
 * that name the field; the projection used for echo recognition ignores key order and constants. */
#include "connectors/conn.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"

Suite *suite_mapping(void);

static struct conn_field F(const char *ledger, const char *saas, enum conn_xform x,
                           enum conn_datefmt ldf, enum conn_datefmt sdf) {
    struct conn_field f = {(char *)ledger, (char *)saas, NULL, x, ldf, sdf};
    return f;
}

/* Converts `in` (JSON text) with f in one direction and compares with `want` (JSON text, or
 * NULL for a refusal). */
static void
conv(struct conn_field f, const char *in, int to_ledger, const char *want)
{
    json_t *v = json_loads(in, JSON_DECODE_ANY, NULL), *out = NULL;
    ck_assert_ptr_nonnull(v);
    int rc = conn_xform_value(&f, v, to_ledger, &out);
    json_decref(v);
    if (!want) {
        ck_assert_msg(rc == TR_EINVALID, "%s: expected a refusal", in);
        ck_assert_ptr_null(out);
        return;
    }
    ck_assert_msg(rc == 0, "%s: rc %d", in, rc);
    char *got = json_dumps(out, JSON_ENCODE_ANY | JSON_COMPACT);
    ck_assert_msg(strcmp(got, want) == 0, "%s -> %s, want %s", in, got, want);
    free(got);
    json_decref(out);
}

START_TEST(test_number_string)
{
    struct conn_field f = F("w", "W", CONN_XF_NUMBER_STRING, 0, 0);
    conv(f, "\"12.5\"", 1, "12.5");
    conv(f, "\"12\"", 1, "12");
    conv(f, "\"-3\"", 1, "-3");
    conv(f, "\"1e3\"", 1, "1000.0");
    conv(f, "\"12kg\"", 1, NULL);
    conv(f, "\"\"", 1, NULL);
    conv(f, "\"nan\"", 1, NULL);
    conv(f, "\"0x10\"", 1, NULL);
    conv(f, "12", 1, NULL); /* the SaaS side must send a string */
    conv(f, "12.5", 0, "\"12.5\"");
    conv(f, "0.1", 0, "\"0.1\"");
    conv(f, "7", 0, "\"7\"");
    conv(f, "\"7\"", 0, NULL);
    struct conn_field g = F("s", "S", CONN_XF_STRING_NUMBER, 0, 0);
    conv(g, "42", 1, "\"42\"");
    conv(g, "\"42\"", 0, "42");
    conv(g, "\"x\"", 0, NULL);
}
END_TEST

START_TEST(test_dates)
{
    struct conn_field f = F("eta", "E", CONN_XF_DATE, CONN_DF_RFC3339, CONN_DF_DATE);
    conv(f, "\"2026-12-24\"", 1, "\"2026-12-24T00:00:00Z\"");
    conv(f, "\"2026-12-24T15:30:00Z\"", 0, "\"2026-12-24\"");
    conv(f, "\"2026-12-24T23:30:00-02:00\"", 0, "\"2026-12-25\""); /* offsets normalised to UTC */
    conv(f, "\"2026-02-29\"", 1, NULL);                            /* not a leap year */
    conv(f, "\"2028-02-29\"", 1, "\"2028-02-29T00:00:00Z\"");
    conv(f, "\"2026-13-01\"", 1, NULL);
    conv(f, "\"2026-12-24T25:00:00Z\"", 0, NULL);
    conv(f, "\"2026-12-24T10:00:00\"", 0, NULL); /* no offset */
    struct conn_field s = F("t", "T", CONN_XF_DATE, CONN_DF_RFC3339, CONN_DF_SALESFORCE);
    conv(s, "\"2026-11-29T14:49:19.000+0000\"", 1, "\"2026-11-29T14:49:19Z\"");
    conv(s, "\"2026-11-29T14:49:19.5+0100\"", 1, "\"2026-11-29T13:49:19.500Z\"");
    conv(s, "\"2026-11-29T14:49:19.123456Z\"", 0, "\"2026-11-29T14:49:19.123+0000\"");
    struct conn_field e = F("t", "T", CONN_XF_DATE, CONN_DF_RFC3339, CONN_DF_EPOCH_MS);
    conv(e, "0", 1, "\"1970-01-01T00:00:00Z\"");
    conv(e, "1764427759000", 1, "\"2025-11-29T14:49:19Z\"");
    conv(e, "-1", 1, "\"1969-12-31T23:59:59.999Z\"");
    conv(e, "\"2025-11-29T14:49:19Z\"", 0, "1764427759000");
    conv(e, "\"0\"", 1, NULL);
    conv(e, "253402300800000", 1, NULL); /* year 10000 */
    struct conn_field o = F("t", "T", CONN_XF_DATE, CONN_DF_RFC3339, CONN_DF_ODATA_V2);
    conv(o, "\"/Date(1764427759000)/\"", 1, "\"2025-11-29T14:49:19Z\"");
    conv(o, "\"\\/Date(1764427759000)\\/\"", 1, "\"2025-11-29T14:49:19Z\"");      /* "\/" escapes */
    conv(o, "\"/Date(1764427759123+0060)/\"", 1, "\"2025-11-29T14:49:19.123Z\""); /* UTC ms */
    conv(o, "\"/Date(-1)/\"", 1, "\"1969-12-31T23:59:59.999Z\"");
    conv(o, "\"2025-11-29T14:49:19Z\"", 0, "\"/Date(1764427759000)/\"");
    conv(o, "\"2025-11-29T15:49:19.5+01:00\"", 0, "\"/Date(1764427759500)/\"");
    conv(o, "\"/Date()/\"", 1, NULL);
    conv(o, "\"/Date(12x)/\"", 1, NULL);
    conv(o, "\"/Date(12+60)/\"", 1, NULL); /* the offset has four digits */
    conv(o, "\"/Date(12)\"", 1, NULL);
    conv(o, "\"Date(12)/\"", 1, NULL);
    conv(o, "1764427759000", 1, NULL);                 /* a number is not the V2 JSON form */
    conv(o, "\"/Date(99999999999999999)/\"", 1, NULL); /* more digits than any date */
    conv(o, "\"/Date(253402300800000)/\"", 1, NULL);   /* year 10000 */
    struct conn_field od = F("d", "D", CONN_XF_DATE, CONN_DF_DATE, CONN_DF_ODATA_V2);
    conv(od, "\"/Date(1764374400000)/\"", 1, "\"2025-11-29\"");
    conv(od, "\"2025-11-29\"", 0, "\"/Date(1764374400000)/\"");
}
END_TEST

static struct conn_cfg_connector connector(struct conn_field *fields, size_t n)
{
    struct conn_cfg_connector c;
    memset(&c, 0, sizeof c);
    c.fields = fields, c.nfields = n;
    return c;
}

START_TEST(test_map_both_ways)
{
    struct conn_field fs[4] = {
        F("shipmentId", "Ext__c", CONN_XF_NONE, 0, 0),
        F("weightKg", "W__c", CONN_XF_NUMBER_STRING, 0, 0),
        F("status", "Status__c", CONN_XF_NONE, 0, 0),
        F("carrier", NULL, CONN_XF_NONE, 0, 0),
    };
    fs[3].constant = json_string("acme");
    struct conn_cfg_connector c = connector(fs, 4);
    json_t *saas = json_loads("{\"Ext__c\":\"SHP-1\",\"W__c\":\"2.5\",\"Status__c\":null,"
                              "\"Other__c\":1}",
                              0, NULL);
    json_t *body = NULL, *back = NULL;
    char err[128];
    ck_assert_int_eq(conn_map_inbound(&c, saas, &body, err, sizeof err), 0);
    char *s = json_dumps(body, JSON_COMPACT | JSON_SORT_KEYS);
    ck_assert_str_eq(s, "{\"carrier\":\"acme\",\"shipmentId\":\"SHP-1\",\"weightKg\":2.5}");
    free(s);
    ck_assert_int_eq(conn_map_outbound(&c, body, "Ext__c", &back, err, sizeof err), 0);
    s = json_dumps(back, JSON_COMPACT | JSON_SORT_KEYS);
    ck_assert_str_eq(s, "{\"Status__c\":null,\"W__c\":\"2.5\"}"); /* cleared, no key, no constant */
    free(s);
    /* The projection: mapped fields only, sorted, constants left out. */
    char *p = conn_map_projection(&c, body);
    ck_assert_str_eq(p, "{\"shipmentId\":\"SHP-1\",\"weightKg\":2.5}");
    json_t *other = json_loads("{\"weightKg\":2.5,\"carrier\":\"x\",\"shipmentId\":\"SHP-1\","
                               "\"_version\":3}",
                               0, NULL);
    char *q = conn_map_projection(&c, other);
    ck_assert_str_eq(p, q);
    free(p);
    free(q);
    json_decref(other);
    json_decref(back);
    json_decref(body);
    /* A value the transform refuses names the field. */
    json_object_set_new(saas, "W__c", json_string("heavy"));
    ck_assert_int_eq(conn_map_inbound(&c, saas, &body, err, sizeof err), TR_EINVALID);
    ck_assert_ptr_null(body);
    ck_assert_ptr_nonnull(strstr(err, "W__c"));
    json_decref(saas);
    json_decref(fs[3].constant);
}
END_TEST

Suite *suite_mapping(void)
{
    Suite *s = suite_create("mapping");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_number_string);
    tcase_add_test(tc, test_dates);
    tcase_add_test(tc, test_map_both_ways);
    suite_add_tcase(s, tc);
    return s;
}
