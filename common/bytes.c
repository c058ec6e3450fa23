/* bytes.c — slices and bounded growable buffers of bytes.h. */
#include "bytes.h"
#include "alloc.h"
#include "err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

struct tr_slice tr_slice_str(const char *s)
{
    return tr_slice_make(s, strlen(s));
}

int tr_slice_eq(struct tr_slice a, struct tr_slice b)
{
    return a.len == b.len && (a.len == 0 || memcmp(a.p, b.p, a.len) == 0);
}

int tr_slice_cmp(struct tr_slice a, struct tr_slice b)
{
    size_t n = a.len < b.len ? a.len : b.len;
    int c = n ? memcmp(a.p, b.p, n) : 0;
    if (c != 0)
        return c;
    return a.len < b.len ? -1 : a.len > b.len ? 1 : 0;
}

struct tr_slice tr_slice_sub(struct tr_slice s, size_t off, size_t len)
{
    if (off > s.len)
        off = s.len;
    if (len > s.len - off)
        len = s.len - off;
    return tr_slice_make(s.p + off, len);
}

void tr_buf_init(struct tr_buf *b, size_t max)
{
    b->p = NULL;
    b->len = 0;
    b->cap = 0;
    b->max = max;
}

void tr_buf_free(struct tr_buf *b)
{
    tr_free(b->p);
    b->p = NULL;
    b->len = 0;
    b->cap = 0;
}

int tr_buf_reserve(struct tr_buf *b, size_t extra)
{
    if (extra > SIZE_MAX - b->len - 1)
        return TR_ELIMIT;
    size_t need = b->len + extra + 1; /* +1 keeps room for tr_buf_cstr's NUL */
    if (b->max && need - 1 > b->max)
        return TR_ELIMIT;
    if (need <= b->cap)
        return TR_OK;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need)
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    uint8_t *p = tr_realloc(b->p, cap);
    if (!p)
        return TR_ENOMEM;
    b->p = p;
    b->cap = cap;
    return TR_OK;
}

int tr_buf_append(struct tr_buf *b, const void *p, size_t len)
{
    int rc = tr_buf_reserve(b, len);
    if (rc)
        return rc;
    if (len)
        memcpy(b->p + b->len, p, len);
    b->len += len;
    b->p[b->len] = 0;
    return TR_OK;
}

int tr_buf_append_str(struct tr_buf *b, const char *s)
{
    return tr_buf_append(b, s, strlen(s));
}

int tr_buf_append_byte(struct tr_buf *b, uint8_t c)
{
    return tr_buf_append(b, &c, 1);
}

int tr_buf_printf(struct tr_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return TR_EINVAL;
    int rc = tr_buf_reserve(b, (size_t)n);
    if (rc)
        return rc;
    va_start(ap, fmt);
    vsnprintf((char *)b->p + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return TR_OK;
}

const char *tr_buf_cstr(struct tr_buf *b)
{
    if (tr_buf_reserve(b, 0))
        return NULL;
    b->p[b->len] = 0;
    return (const char *)b->p;
}

uint8_t *tr_buf_detach(struct tr_buf *b, size_t *len)
{
    uint8_t *p = b->p;
    if (len)
        *len = b->len;
    b->p = NULL;
    b->len = 0;
    b->cap = 0;
    return p;
}

void tr_hex_encode(const uint8_t *p, size_t len, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < len; i++) {
        out[2 * i] = digits[p[i] >> 4];
        out[2 * i + 1] = digits[p[i] & 15];
    }
    out[2 * len] = '\0';
}

static int tr__hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int tr_hex_decode(const char *hex, size_t hexlen, uint8_t *out, size_t outlen)
{
    if (hexlen != 2 * outlen)
        return TR_EPARSE;
    for (size_t i = 0; i < outlen; i++) {
        int hi = tr__hexval(hex[2 * i]), lo = tr__hexval(hex[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return TR_EPARSE;
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return TR_OK;
}

void tr_str_copy(char *dst, size_t cap, const char *src)
{
    size_t n = strnlen(src, cap - 1);
    memcpy(dst, src, n);
    dst[n] = '\0';
}
