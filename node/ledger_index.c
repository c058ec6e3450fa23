/* ledger_index.c — the value part of l_index keys ("type\0field\0" || value || record key): an
 * order-preserving, prefix-free byte encoding of a JSON value, so that LMDB's bytewise key order is
 * the value order (null < false < true < numbers, numerically < strings, bytewise < objects and
 * arrays) and one value's entries are contiguous, ordered by record key. Also the exact comparison
 * that range reads use to check records whose indexed string was cut to fit a key. Pure; called by
 * ledger_records.c (index writes) and ledger_query.c (lists). */
#include "node/ledger_int.h"

#include "common/err.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

enum {
    TAG_NULL = 0x10,
    TAG_FALSE = 0x20,
    TAG_TRUE = 0x30,
    TAG_NUMBER = 0x40,
    TAG_STRING = 0x50,
    TAG_OTHER = 0x60,
};

/* Integers beyond 2^53 may not be exact doubles: the marker after the double says whether the
 * integer is below, equal to or above it, and an inexact one carries its exact value. */
enum { NUM_BELOW = 0x00, NUM_EXACT = 0x01, NUM_ABOVE = 0x02 };

/* Escaped string bytes kept in a key; a longer string keeps its first bytes and its SHA-256. */
#define STR_KEEP_MAX 64
enum { STR_END = 0x01, STR_CUT = 0x02, STR_ESC = 0xff };

static void be64(uint8_t *out, uint64_t v)
{
    for (int i = 7; i >= 0; i--) {
        out[i] = (uint8_t)v;
        v >>= 8;
    }
}

/* IEEE 754 binary64 bits made to compare bytewise as the doubles compare numerically. */
static uint64_t double_key(double d)
{
    uint64_t bits;
    if (d == 0)
        d = 0; /* -0 and +0 are one value */
    memcpy(&bits, &d, sizeof bits);
    return (bits >> 63) ? ~bits : bits | (UINT64_C(1) << 63);
}

/* Integer i against double d, exactly, when (double)i == d (d is then integral). */
static int int_vs_rounded(json_int_t i, double d)
{
    if (d >= 9223372036854775808.0)
        return -1;
    if (d < -9223372036854775808.0)
        return 1;
    json_int_t t = (json_int_t)d;
    return t == i ? 0 : t < i ? 1 : -1;
}

static size_t number_encode(const json_t *v, uint8_t *out)
{
    double d = json_number_value(v);
    out[0] = TAG_NUMBER;
    be64(out + 1, double_key(d));
    out[9] = NUM_EXACT;
    if (!json_is_integer(v))
        return 10;
    json_int_t i = json_integer_value(v);
    int cmp = int_vs_rounded(i, d);
    if (cmp == 0)
        return 10;
    out[9] = cmp < 0 ? NUM_BELOW : NUM_ABOVE;
    be64(out + 10, (uint64_t)i ^ (UINT64_C(1) << 63));
    return 18;
}

static size_t string_encode(const char *s, size_t n, uint8_t *out, size_t *cut_at)
{
    size_t o = 0, i = 0;
    out[o++] = TAG_STRING;
    for (; i < n; i++) {
        size_t need = s[i] == '\0' ? 2 : 1;
        if (o - 1 + need > STR_KEEP_MAX)
            break;
        out[o++] = (uint8_t)s[i];
        if (s[i] == '\0')
            out[o++] = STR_ESC;
    }
    out[o++] = 0x00;
    if (i == n) {
        out[o++] = STR_END;
        *cut_at = 0;
        return o;
    }
    out[o++] = STR_CUT;
    *cut_at = o;
    crypto_hash_sha256(out + o, (const uint8_t *)s, n);
    return o + 32;
}

int ledger__index_encode(const json_t *val, uint8_t out[LEDGER_INDEX_VALUE_MAX], size_t *len,
                         size_t *cut_at)
{
    *cut_at = 0;
    switch (json_typeof(val)) {
    case JSON_NULL:
        out[0] = TAG_NULL;
        *len = 1;
        return TR_OK;
    case JSON_FALSE:
        out[0] = TAG_FALSE;
        *len = 1;
        return TR_OK;
    case JSON_TRUE:
        out[0] = TAG_TRUE;
        *len = 1;
        return TR_OK;
    case JSON_INTEGER:
    case JSON_REAL:
        *len = number_encode(val, out);
        return TR_OK;
    case JSON_STRING:
        *len = string_encode(json_string_value(val), json_string_length(val), out, cut_at);
        return TR_OK;
    default:
        break;
    }
    char *s = json_dumps(val, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
    if (!s)
        return TR_ENOMEM;
    out[0] = TAG_OTHER;
    crypto_hash_sha256(out + 1, (const uint8_t *)s, strlen(s));
    free(s);
    *len = 33;
    return TR_OK;
}

int ledger__index_value(const json_t *val, uint8_t out[LEDGER_INDEX_VALUE_MAX], size_t *len)
{
    size_t cut_at;
    return ledger__index_encode(val, out, len, &cut_at);
}

size_t ledger__index_value_len(const uint8_t *p, size_t n)
{
    if (n == 0)
        return 0;
    switch (p[0]) {
    case TAG_NULL:
    case TAG_FALSE:
    case TAG_TRUE:
        return 1;
    case TAG_NUMBER:
        if (n < 10 || p[9] > NUM_ABOVE)
            return 0;
        return p[9] == NUM_EXACT ? 10 : n >= 18 ? 18 : 0;
    case TAG_OTHER:
        return n >= 33 ? 33 : 0;
    case TAG_STRING:
        for (size_t i = 1; i + 1 < n; i++) {
            if (p[i] != 0x00)
                continue;
            if (p[i + 1] == STR_ESC) {
                i++;
                continue;
            }
            if (p[i + 1] == STR_END)
                return i + 2;
            return p[i + 1] == STR_CUT && i + 2 + 32 <= n ? i + 2 + 32 : 0;
        }
        return 0;
    default:
        return 0;
    }
}

uint8_t ledger__index_kind(const json_t *val)
{
    switch (json_typeof(val)) {
    case JSON_NULL:
        return TAG_NULL;
    case JSON_FALSE:
        return TAG_FALSE;
    case JSON_TRUE:
        return TAG_TRUE;
    case JSON_INTEGER:
    case JSON_REAL:
        return TAG_NUMBER;
    case JSON_STRING:
        return TAG_STRING;
    default:
        return TAG_OTHER;
    }
}

/* Orders two numbers exactly: integers as integers, reals as doubles, an integer and a real by
 * the rounded integer first and then exactly. */
static int number_cmp(const json_t *a, const json_t *b)
{
    if (json_is_integer(a) && json_is_integer(b)) {
        json_int_t x = json_integer_value(a), y = json_integer_value(b);
        return x < y ? -1 : x > y;
    }
    double x = json_number_value(a), y = json_number_value(b);
    if (x != y)
        return x < y ? -1 : 1;
    if (json_is_integer(a))
        return int_vs_rounded(json_integer_value(a), y);
    if (json_is_integer(b))
        return -int_vs_rounded(json_integer_value(b), x);
    return 0;
}

int ledger__index_cmp(const json_t *a, const json_t *b)
{
    uint8_t ka = ledger__index_kind(a), kb = ledger__index_kind(b);
    if (ka != kb)
        return ka < kb ? -1 : 1;
    if (ka == TAG_NUMBER)
        return number_cmp(a, b);
    if (ka == TAG_STRING) {
        size_t na = json_string_length(a), nb = json_string_length(b);
        int c = memcmp(json_string_value(a), json_string_value(b), na < nb ? na : nb);
        return c != 0 ? (c < 0 ? -1 : 1) : na < nb ? -1 : na > nb;
    }
    return ka == TAG_OTHER && !json_equal(a, b) ? 2 : 0; /* 2: unordered and unequal */
}
