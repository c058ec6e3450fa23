/* mapping.c — field mapping between ledger records and SaaS records, and value transforms
 * (number <-> string, date formats). Pure: no I/O, no clock. Called by the inbound and outbound
 * jobs (sf_in.c, outbound.c) and by the unit suite test_mapping. */
#include "connectors/conn.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/alloc.h"
#include "common/err.h"

struct tm_ms {
    int64_t y;
    int mo, d, h, mi, s, ms;
};

static int64_t days_from_civil(int64_t y, int m, int d)
{
    /* Proleptic Gregorian calendar, days since 1970-01-01 (H. Hinnant's algorithm). */
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static void civil_from_days(int64_t z, struct tm_ms *t)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    t->d = (int)(doy - (153 * mp + 2) / 5 + 1);
    t->mo = (int)(mp < 10 ? mp + 3 : mp - 9);
    t->y = yoe + era * 400 + (t->mo <= 2);
}

static int digits(const char **p, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if ((*p)[i] < '0' || (*p)[i] > '9')
            return -1;
        v = v * 10 + ((*p)[i] - '0');
    }
    *p += n;
    *out = v;
    return 0;
}

static int days_in_month(int64_t y, int m)
{
    static const int dm[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return dm[m - 1] + (m == 2 && leap);
}

/* Parses "YYYY-MM-DD" and, unless date_only, "THH:MM:SS[.fff…](Z|±HH:MM|±HHMM)" into epoch ms. */
static int parse_datetime(const char *s, int date_only, int64_t *ms_out)
{
    struct tm_ms t = {0};
    int y;
    const char *p = s;
    if (digits(&p, 4, &y) < 0 || *p++ != '-' || digits(&p, 2, &t.mo) < 0 || *p++ != '-' ||
        digits(&p, 2, &t.d) < 0 || t.mo < 1 || t.mo > 12 || t.d < 1 || t.d > days_in_month(y, t.mo))
        return -1;
    int64_t off_min = 0;
    if (!date_only) {
        if ((*p != 'T' && *p != 't') || (p++, digits(&p, 2, &t.h) < 0) || *p++ != ':' ||
            digits(&p, 2, &t.mi) < 0 || *p++ != ':' || digits(&p, 2, &t.s) < 0 || t.h > 23 ||
            t.mi > 59 || t.s > 60)
            return -1;
        if (*p == '.') {
            p++;
            int n = 0, frac = 0;
            while (*p >= '0' && *p <= '9') {
                if (n < 3)
                    frac = frac * 10 + (*p - '0');
                n++, p++;
            }
            if (n == 0)
                return -1;
            for (; n < 3; n++)
                frac *= 10;
            t.ms = frac;
        }
        if (*p == 'Z' || *p == 'z') {
            p++;
        } else if (*p == '+' || *p == '-') {
            int sign = *p++ == '-' ? -1 : 1, oh, om;
            if (digits(&p, 2, &oh) < 0 || (*p == ':' && (p++, 0)) || digits(&p, 2, &om) < 0 ||
                oh > 23 || om > 59)
                return -1;
            off_min = sign * (oh * 60 + om);
        } else {
            return -1;
        }
    }
    if (*p)
        return -1;
    int64_t days = days_from_civil(y, t.mo, t.d);
    *ms_out = ((days * 86400 + t.h * 3600 + t.mi * 60 + t.s) - off_min * 60) * 1000 + t.ms;
    return 0;
}

/* OData V2 JSON "/Date(<ms since 1970 UTC>[±mmmm])/" (OData V2 JSON format §"DateTime"): the
 * milliseconds are UTC; the optional offset of a DateTimeOffset only says where it was local. */
static int parse_odata_v2(const char *s, int64_t *ms_out)
{
    const char *p = s;
    if (strncmp(p, "/Date(", 6) != 0)
        return -1;
    p += 6;
    int neg = *p == '-';
    p += neg;
    int64_t v = 0;
    int n = 0;
    for (; *p >= '0' && *p <= '9' && n < 16; p++, n++)
        v = v * 10 + (*p - '0');
    if (n == 0 || (*p >= '0' && *p <= '9'))
        return -1;
    if (*p == '+' || *p == '-') {
        int off;
        p++;
        if (digits(&p, 4, &off) < 0)
            return -1;
    }
    if (strcmp(p, ")/") != 0)
        return -1;
    *ms_out = neg ? -v : v;
    return 0;
}

static json_t *format_datetime(int64_t ms, enum conn_datefmt df)
{
    if (df == CONN_DF_EPOCH_MS)
        return json_integer((json_int_t)ms);
    if (df == CONN_DF_ODATA_V2) {
        char b[48];
        snprintf(b, sizeof b, "/Date(%lld)/", (long long)ms);
        return json_string(b);
    }
    int64_t secs = ms >= 0 ? ms / 1000 : (ms - 999) / 1000;
    int msr = (int)(ms - secs * 1000);
    int64_t days = secs >= 0 ? secs / 86400 : (secs - 86399) / 86400;
    int64_t sod = secs - days * 86400;
    struct tm_ms t = {0};
    civil_from_days(days, &t);
    char buf[64];
    int h = (int)(sod / 3600), mi = (int)(sod / 60 % 60), s = (int)(sod % 60);
    if (t.y < 0 || t.y > 9999)
        return NULL;
    if (df == CONN_DF_DATE)
        snprintf(buf, sizeof buf, "%04d-%02d-%02d", (int)t.y, t.mo, t.d);
    else if (df == CONN_DF_SALESFORCE)
        snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03d+0000", (int)t.y, t.mo, t.d, h,
                 mi, s, msr);
    else if (msr)
        snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", (int)t.y, t.mo, t.d, h, mi,
                 s, msr);
    else
        snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02dZ", (int)t.y, t.mo, t.d, h, mi, s);
    return json_string(buf);
}

static int xform_date(enum conn_datefmt from, enum conn_datefmt to, const json_t *in, json_t **out)
{
    int64_t ms;
    if (from == CONN_DF_EPOCH_MS) {
        if (!json_is_integer(in))
            return TR_EINVALID;
        ms = (int64_t)json_integer_value(in);
    } else if (from == CONN_DF_ODATA_V2) {
        if (!json_is_string(in) || parse_odata_v2(json_string_value(in), &ms) < 0)
            return TR_EINVALID;
    } else if (!json_is_string(in) ||
               parse_datetime(json_string_value(in), from == CONN_DF_DATE, &ms) < 0) {
        return TR_EINVALID;
    }
    *out = format_datetime(ms, to);
    return *out ? 0 : TR_EINVALID;
}

static json_t *number_from_string(const json_t *in)
{
    const char *s = json_string_value(in);
    if (!s || !*s || strlen(s) > 64)
        return NULL;
    char *end;
    errno = 0;
    if (strspn(s, "-0123456789") == strlen(s)) {
        long long v = strtoll(s, &end, 10);
        if (!errno && !*end && end != s)
            return json_integer(v);
    }
    double d = strtod(s, &end);
    if (errno || *end || end == s || !isfinite(d) || strpbrk(s, "xXpPnNiI"))
        return NULL;
    return json_real(d);
}

static json_t *string_from_number(const json_t *in)
{
    char buf[64];
    if (json_is_integer(in))
        snprintf(buf, sizeof buf, "%lld", (long long)json_integer_value(in));
    else if (json_is_real(in))
        snprintf(buf, sizeof buf, "%.17g", json_real_value(in));
    else
        return NULL;
    /* %.17g round-trips but is ugly for short decimals: use the shortest that round-trips. */
    if (json_is_real(in))
        for (int prec = 1; prec <= 17; prec++) {
            snprintf(buf, sizeof buf, "%.*g", prec, json_real_value(in));
            if (strtod(buf, NULL) == json_real_value(in))
                break;
        }
    return json_string(buf);
}

int conn_xform_value(const struct conn_field *f, const json_t *in, int to_ledger, json_t **out)
{
    *out = NULL;
    switch (f->xform) {
    case CONN_XF_NONE:
        *out = json_deep_copy(in);
        return *out ? 0 : TR_ENOMEM;
    case CONN_XF_NUMBER_STRING:
        *out = to_ledger ? number_from_string(in) : string_from_number(in);
        return *out ? 0 : TR_EINVALID;
    case CONN_XF_STRING_NUMBER:
        *out = to_ledger ? string_from_number(in) : number_from_string(in);
        return *out ? 0 : TR_EINVALID;
    case CONN_XF_DATE:
        return to_ledger ? xform_date(f->saas_df, f->ledger_df, in, out)
                         : xform_date(f->ledger_df, f->saas_df, in, out);
    }
    return TR_EINVAL;
}

static int map_one(const struct conn_field *f, const json_t *v, int to_ledger, json_t *dst,
                   char *err, size_t errlen)
{
    json_t *conv = NULL;
    int rc = conn_xform_value(f, v, to_ledger, &conv);
    if (rc < 0) {
        snprintf(err, errlen, "%s: value cannot be converted by the field's transform",
                 to_ledger ? f->saas : f->ledger);
        return rc;
    }
    json_object_set_new(dst, to_ledger ? f->ledger : f->saas, conv);
    return 0;
}

int conn_map_inbound(const struct conn_cfg_connector *c, const json_t *saas, json_t **out,
                     char *err, size_t errlen)
{
    json_t *body = json_object();
    *out = NULL;
    if (!body)
        return TR_ENOMEM;
    for (size_t i = 0; i < c->nfields; i++) {
        const struct conn_field *f = &c->fields[i];
        if (f->constant) {
            json_object_set(body, f->ledger, f->constant);
            continue;
        }
        json_t *v = json_object_get(saas, f->saas);
        if (!v || json_is_null(v))
            continue;
        int rc = map_one(f, v, 1, body, err, errlen);
        if (rc < 0) {
            json_decref(body);
            return rc;
        }
    }
    *out = body;
    return 0;
}

int conn_map_outbound(const struct conn_cfg_connector *c, const json_t *record,
                      const char *skip_saas, json_t **out, char *err, size_t errlen)
{
    json_t *body = json_object();
    *out = NULL;
    if (!body)
        return TR_ENOMEM;
    for (size_t i = 0; i < c->nfields; i++) {
        const struct conn_field *f = &c->fields[i];
        if (!f->saas || (skip_saas && strcmp(f->saas, skip_saas) == 0))
            continue;
        json_t *v = json_object_get(record, f->ledger);
        if (!v || json_is_null(v)) {
            json_object_set_new(body, f->saas, json_null()); /* cleared on the SaaS side */
            continue;
        }
        int rc = map_one(f, v, 0, body, err, errlen);
        if (rc < 0) {
            json_decref(body);
            return rc;
        }
    }
    *out = body;
    return 0;
}

char *conn_map_projection(const struct conn_cfg_connector *c, const json_t *ledger_body)
{
    json_t *proj = json_object();
    if (!proj)
        return NULL;
    for (size_t i = 0; i < c->nfields; i++) {
        json_t *v = json_object_get(ledger_body, c->fields[i].ledger);
        if (c->fields[i].saas && v && !json_is_null(v))
            json_object_set(proj, c->fields[i].ledger, v);
    }
    char *s = json_dumps(proj, JSON_COMPACT | JSON_SORT_KEYS | JSON_REAL_PRECISION(17));
    json_decref(proj);
    return s;
}
