/* prng.c — xoshiro256** (Blackman & Vigna, 2018) seeded with splitmix64, as published by its
 * authors; bounded draws use rejection so every value in range is equally likely. */
#include "prng.h"
#include "err.h"

static uint64_t tr__rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

static uint64_t tr__splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

void tr_prng_seed(struct tr_prng *p, uint64_t seed)
{
    uint64_t x = seed;
    for (int i = 0; i < 4; i++)
        p->s[i] = tr__splitmix64(&x);
}

uint64_t tr_prng_next(struct tr_prng *p)
{
    uint64_t *s = p->s;
    uint64_t result = tr__rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = tr__rotl(s[3], 45);
    return result;
}

uint64_t tr_prng_below(struct tr_prng *p, uint64_t bound)
{
    TR_ASSERT(bound > 0);
    /* Reject the top partial copy of [0, bound) so the remainder is unbiased. */
    uint64_t limit = UINT64_MAX - (UINT64_MAX % bound);
    uint64_t v;
    do {
        v = tr_prng_next(p);
    } while (v >= limit);
    return v % bound;
}

uint64_t tr_prng_range(struct tr_prng *p, uint64_t lo, uint64_t hi)
{
    TR_ASSERT(lo <= hi);
    if (lo == 0 && hi == UINT64_MAX)
        return tr_prng_next(p);
    return lo + tr_prng_below(p, hi - lo + 1);
}

int tr_prng_chance(struct tr_prng *p, uint32_t num, uint32_t den)
{
    TR_ASSERT(den > 0);
    return tr_prng_below(p, den) < num;
}
