/* json_random.c — seeded random JSON values for the schema module's differential tests. */
#include "tests/unit/schema/json_random.h"

#include <stdio.h>
#include <string.h>

json_t *json_random_value(struct tr_prng *p, int depth)
{
    static const char alphabet[] = "aZ_9 \"\\\n\t\x01\x1f/\xc3\xa9~";
    unsigned kind = (unsigned)tr_prng_below(p, depth > 3 ? 6 : 8);
    char s[24];
    size_t n = 0;
    switch (kind) {
    case 0:
        return json_null();
    case 1:
        return json_boolean(tr_prng_chance(p, 1, 2));
    case 2:
        return json_integer((json_int_t)tr_prng_next(p) >> tr_prng_below(p, 64));
    case 3: {
        double d;
        uint64_t bits = tr_prng_next(p);
        memcpy(&d, &bits, sizeof d);
        if (d != d || d - d != 0) /* NaN or infinite: jansson has no such real */
            d = (double)(int64_t)bits / 1e9;
        return json_real(d);
    }
    case 4:
    case 5:
        n = (size_t)tr_prng_below(p, sizeof s);
        for (size_t i = 0; i < n; i++) {
            s[i] = alphabet[tr_prng_below(p, sizeof alphabet - 1)];
            if ((unsigned char)s[i] == 0xc3) { /* keep UTF-8 whole */
                if (i + 1 >= n)
                    s[i] = 'e';
                else
                    s[++i] = (char)0xa9;
            } else if ((unsigned char)s[i] == 0xa9) {
                s[i] = 'x';
            }
        }
        return json_stringn(s, n);
    case 6: {
        json_t *a = json_array();
        for (uint64_t i = tr_prng_below(p, 5); i > 0; i--)
            json_array_append_new(a, json_random_value(p, depth + 1));
        return a;
    }
    default: {
        json_t *o = json_object();
        for (uint64_t i = tr_prng_below(p, 40); i > 0; i--) {
            char k[12];
            snprintf(k, sizeof k, "%c%u", "_aAz\"\\"[tr_prng_below(p, 6)],
                     (unsigned)tr_prng_below(p, 1000));
            json_object_set_new(o, k, json_random_value(p, depth + 1));
        }
        return o;
    }
    }
}
