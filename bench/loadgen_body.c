/* loadgen_body.c — treaty-loadgen's request templates ({n}, {n:W}) and generated Shipment bodies
 * of an exact size (loadgen.h). Templates are compiled once; rendering writes into a buffer of
 * the template's max_len. */
#include "loadgen.h"

#include "common/alloc.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

int tmpl_compile(struct tmpl *t, char *text, size_t len, const char *what, char *err, size_t errlen)
{
    t->text = text;
    t->text_len = len;
    t->n_segs = 0;
    t->max_len = 0;
    size_t i = 0, lit_start = 0;
    while (i <= len) {
        int at_end = i == len;
        unsigned width = 0;
        size_t tag_len = 0;
        if (!at_end && text[i] == '{' && i + 2 < len && text[i + 1] == 'n') {
            if (text[i + 2] == '}') {
                tag_len = 3;
            } else if (text[i + 2] == ':') {
                size_t j = i + 3;
                while (j < len && j < i + 6 && text[j] >= '0' && text[j] <= '9')
                    width = width * 10 + (unsigned)(text[j++] - '0');
                if (j < len && text[j] == '}' && j > i + 3 && width >= 1 && width <= 20)
                    tag_len = j + 1 - i;
                else {
                    snprintf(err, errlen,
                             "%s: bad placeholder at byte %zu (use {n} or {n:W}, W 1..20)", what,
                             i);
                    return -1;
                }
            }
        }
        if (!at_end && tag_len == 0) {
            i++;
            continue;
        }
        if (t->n_segs + 2 > LG_MAX_SEGMENTS) {
            snprintf(err, errlen, "%s: more than %d placeholders", what, LG_MAX_SEGMENTS / 2 - 1);
            return -1;
        }
        if (i > lit_start) {
            t->segs[t->n_segs++] = (struct tmpl_seg){text + lit_start, i - lit_start, 0, 0};
            t->max_len += i - lit_start;
        }
        if (at_end)
            break;
        t->segs[t->n_segs++] = (struct tmpl_seg){NULL, 0, 1, width};
        t->max_len += width > LG_NUM_MAX_DIGITS ? width : LG_NUM_MAX_DIGITS;
        i += tag_len;
        lit_start = i;
    }
    return 0;
}

/* Renders t with number n into out (room for t->max_len bytes); returns the length. */
size_t tmpl_render(const struct tmpl *t, uint64_t n, char *out)
{
    char digits[LG_NUM_MAX_DIGITS + 1];
    int nd = snprintf(digits, sizeof digits, "%" PRIu64, n);
    size_t len = 0;
    for (size_t i = 0; i < t->n_segs; i++) {
        const struct tmpl_seg *s = &t->segs[i];
        if (!s->is_num) {
            memcpy(out + len, s->lit, s->lit_len);
            len += s->lit_len;
            continue;
        }
        for (int pad = (int)s->width - nd; pad > 0; pad--)
            out[len++] = '0';
        memcpy(out + len, digits, (size_t)nd);
        len += (size_t)nd;
    }
    return len;
}

/* ---- generated body: a Shipment of the sample schema (examples/supply-chain.json) whose
 * rendered size is exactly `size` bytes for every n below 10^8. The schema forbids unknown
 * properties, so the size is made up with "checkpoints" items (their "location" strings share
 * the remainder); a gap too small for one item pads "origin" (at most 120 characters). ---- */
static const char FILLER[] = "Maasvlakte container terminal, gate 7, lane ";

static void fill(char *out, size_t n)
{
    for (size_t i = 0; i < n; i++)
        out[i] = FILLER[i % (sizeof FILLER - 1)];
}

char *body_generate(size_t size, size_t *out_len, char *err, size_t errlen)
{
    static const char head[] = "{\"shipmentId\":\"SHP-{n:8}\",\"origin\":\"Port of Rotterdam";
    static const char mid[] = "\",\"destination\":\"Port of Singapore\",\"status\":\"created\","
                              "\"carrier\":\"globex\",\"weightKg\":1250.5";
    static const char cp_open[] = ",\"checkpoints\":[";
    static const char item_a[] = "{\"at\":\"2026-01-01T00:00:00Z\",\"location\":\"";
    static const char item_b[] = "\"}";
    const size_t num_extra = 8 - 5; /* "{n:8}" renders as 8 digits */
    const size_t base = sizeof head - 1 + num_extra + sizeof mid - 1 + 1;
    const size_t item_min = sizeof item_a - 1 + sizeof item_b - 1;
    const size_t cp_min = sizeof cp_open - 1 + item_min + 1;
    if (size < base) {
        snprintf(err, errlen, "--body-size %zu is below the smallest Shipment body (%zu bytes)",
                 size, base);
        return NULL;
    }
    size_t extra = size - base, origin_pad = 0, n_items = 0, loc_total = 0;
    if (extra < cp_min) {
        origin_pad = extra; /* < cp_min (62) <= 120 - strlen("Port of Rotterdam") */
    } else {
        size_t remaining = extra - (sizeof cp_open - 1) - 1;
        n_items = remaining / 100;
        n_items = n_items < 1 ? 1 : n_items > 500 ? 500 : n_items; /* schema maxItems */
        loc_total = remaining - n_items * item_min - (n_items - 1);
    }
    char *b = tr_malloc(size + 1);
    if (!b) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    size_t len = 0;
#define PUT(s) (memcpy(b + len, (s), sizeof(s) - 1), len += sizeof(s) - 1)
    PUT(head);
    if (origin_pad) {
        fill(b + len, origin_pad);
        b[len] = ' ';
        len += origin_pad;
    }
    PUT(mid);
    if (n_items) {
        PUT(cp_open);
        for (size_t i = 0; i < n_items; i++) {
            size_t loc = loc_total / n_items + (i < loc_total % n_items ? 1 : 0);
            if (i)
                b[len++] = ',';
            PUT(item_a);
            fill(b + len, loc);
            len += loc;
            PUT(item_b);
        }
        b[len++] = ']';
    }
    b[len++] = '}';
#undef PUT
    b[len] = '\0';
    *out_len = len; /* template length: size - num_extra */
    return b;
}
