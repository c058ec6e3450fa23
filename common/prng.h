/* prng.h — a small seeded PRNG (xoshiro256**, seeded through splitmix64). Deterministic for a
 * given seed on every platform, so the Raft core, the simulator and randomized tests replay
 * exactly. Not for keys or nonces: those come from libsodium at the edge. */
#ifndef TREATY_COMMON_PRNG_H
#define TREATY_COMMON_PRNG_H

#include <stdint.h>

struct tr_prng {
    uint64_t s[4];
};

/* Seeds `p`; any seed (0 included) gives a valid, distinct stream. */
void tr_prng_seed(struct tr_prng *p, uint64_t seed);
/* The next 64 random bits. */
uint64_t tr_prng_next(struct tr_prng *p);
/* A uniform value in [0, bound) without modulo bias; bound must be > 0. */
uint64_t tr_prng_below(struct tr_prng *p, uint64_t bound);
/* A uniform value in [lo, hi] (inclusive); lo <= hi. */
uint64_t tr_prng_range(struct tr_prng *p, uint64_t lo, uint64_t hi);
/* True with probability num/den (den > 0). */
int tr_prng_chance(struct tr_prng *p, uint32_t num, uint32_t den);

#endif
