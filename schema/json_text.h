/* json_text.h — scanning JSON text, shared by the serializer (json_dump.c) and the fast parser
 * (json_parse.c): both copy a string's plain runs whole and stop only at the bytes that need
 * work. */
#ifndef TREATY_SCHEMA_JSON_TEXT_H
#define TREATY_SCHEMA_JSON_TEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* The length of the longest prefix of s[0..n) without '"', '\\' or a control byte (< 0x20),
 * and with stop_high, without a byte >= 0x80 either. Tests eight bytes at a time: a word with
 * none of them has no byte whose "is zero" or "is below 0x20" bit survives the subtraction, and
 * a word that might have one is finished byte by byte. */
static inline size_t schema__json_plain_run(const char *s, size_t n, bool stop_high)
{
    const uint64_t ones = 0x0101010101010101ull, highs = 0x8080808080808080ull;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, s + i, 8);
        uint64_t q = w ^ (ones * '"'), b = w ^ (ones * '\\');
        uint64_t t = ((q - ones) & ~q) | ((b - ones) & ~b) | ((w - ones * 0x20) & ~w);
        if (stop_high)
            t |= w;
        if (t & highs)
            break;
    }
    for (; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == '"' || c == '\\' || (stop_high && c >= 0x80))
            break;
    }
    return i;
}

enum { SCHEMA__JSON_REAL_MAX = 64 };

/* A real as jansson writes it (json_dump.c): "%.17g", a ".0" added when that reads as an
 * integer, and the exponent without '+' or leading zeros. Its length (s NUL-terminated), or 0
 * when it does not fit. */
size_t schema__json_real_text(double v, char s[SCHEMA__JSON_REAL_MAX]);

#endif
