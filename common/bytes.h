/* bytes.h — byte slices (borrowed views) and growable byte buffers (owned). A slice never owns its
 * memory: it is valid as long as what it points into. A buffer owns `p` until tr_buf_free or
 * tr_buf_detach; growth is bounded by `max` when set, so no buffer grows without a limit. */
#ifndef TREATY_COMMON_BYTES_H
#define TREATY_COMMON_BYTES_H

#include <stddef.h>
#include <stdint.h>

struct tr_slice {
    const uint8_t *p;
    size_t len;
};

struct tr_buf {
    uint8_t *p;
    size_t len;
    size_t cap;
    size_t max; /* 0: no limit beyond memory */
};

static inline struct tr_slice tr_slice_make(const void *p, size_t len)
{
    struct tr_slice s = {(const uint8_t *)p, len};
    return s;
}

/* A slice of the NUL-terminated string s (without the NUL). */
struct tr_slice tr_slice_str(const char *s);
/* 1 if both slices hold the same bytes. */
int tr_slice_eq(struct tr_slice a, struct tr_slice b);
/* memcmp order, shorter first on a common prefix: <0, 0, >0. */
int tr_slice_cmp(struct tr_slice a, struct tr_slice b);
/* The bytes [off, off+len) of s, clamped to s. */
struct tr_slice tr_slice_sub(struct tr_slice s, size_t off, size_t len);

/* Empty buffer limited to `max` bytes (0: unlimited). Allocates nothing. */
void tr_buf_init(struct tr_buf *b, size_t max);
/* Frees the buffer's memory and empties it; safe on an initialized empty buffer. */
void tr_buf_free(struct tr_buf *b);
/* Ensures room for `extra` more bytes. TR_ELIMIT past `max`, TR_ENOMEM when allocation fails;
 * the buffer is unchanged on failure. */
int tr_buf_reserve(struct tr_buf *b, size_t extra);
int tr_buf_append(struct tr_buf *b, const void *p, size_t len);
int tr_buf_append_str(struct tr_buf *b, const char *s);
int tr_buf_append_byte(struct tr_buf *b, uint8_t c);
/* Appends printf-formatted text (no NUL counted in len, but one is kept after the data). */
int tr_buf_printf(struct tr_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Keeps a NUL after the data and returns it as a C string (NULL on allocation failure). */
const char *tr_buf_cstr(struct tr_buf *b);
/* Hands ownership of the data to the caller (caller frees with tr_free) and empties the buffer. */
uint8_t *tr_buf_detach(struct tr_buf *b, size_t *len);

/* Hex of `len` bytes into out (2*len+1 bytes). */
void tr_hex_encode(const uint8_t *p, size_t len, char *out);
/* Copies the string src into dst of cap bytes (cap > 0), cut to cap - 1 bytes, NUL-terminated:
 * what snprintf(dst, cap, "%s", src) writes, without the format machinery. */
void tr_str_copy(char *dst, size_t cap, const char *src);
/* Decodes exactly 2*outlen hex digits; TR_EPARSE on a bad digit or length. */
int tr_hex_decode(const char *hex, size_t hexlen, uint8_t *out, size_t outlen);

#endif
