/* loadgen_hist.c — treaty-loadgen's log-linear latency histogram (loadgen.h): fixed buckets, no
 * allocation per sample, percentiles within 0.8 % above the exact value (hist_check tests it). */
#include "loadgen.h"

#include "common/alloc.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

static unsigned hist_index(uint64_t v)
{
    if (v >= (UINT64_C(1) << HIST_MAX_BITS))
        v = (UINT64_C(1) << HIST_MAX_BITS) - 1;
    if (v < (UINT64_C(1) << HIST_SUB_BITS))
        return (unsigned)v;
    unsigned e = 63u - (unsigned)__builtin_clzll(v); /* >= HIST_SUB_BITS */
    unsigned shift = e - (HIST_SUB_BITS - 1);
    return shift * HIST_HALF + (unsigned)(v >> shift);
}

/* Highest value that lands in bucket i (HDR's "highest equivalent value"). */
static uint64_t hist_bucket_high(unsigned i)
{
    if (i < (1u << HIST_SUB_BITS))
        return i;
    unsigned shift = i / HIST_HALF - 1;
    uint64_t sub = (uint64_t)(i - shift * HIST_HALF);
    return ((sub + 1) << shift) - 1;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

void hist_record(struct hist *h, uint64_t v)
{
    h->counts[hist_index(v)]++;
    if (h->total == 0 || v < h->min)
        h->min = v;
    if (v > h->max)
        h->max = v;
    h->total++;
    h->sum += (double)v;
}

/* Value at percentile p (0 < p <= 100): the smallest recorded bucket covering ceil(p% of total)
 * samples, reported as the bucket's highest value, never above the exact maximum. */
uint64_t hist_percentile(const struct hist *h, double p)
{
    if (h->total == 0)
        return 0;
    uint64_t want = (uint64_t)ceil(p / 100.0 * (double)h->total);
    if (want < 1)
        want = 1;
    uint64_t seen = 0;
    for (unsigned i = 0; i < HIST_BUCKETS; i++) {
        seen += h->counts[i];
        if (seen >= want) {
            uint64_t v = hist_bucket_high(i);
            return v > h->max ? h->max : v;
        }
    }
    return h->max;
}

/* Checks percentiles against exact ones of random samples (log-uniform over 1 ns..2^40 ns):
 * each must lie in [exact, exact * (1 + 1/128)]. For --check-histogram; returns failures. */
int hist_check(void)
{
    static struct hist h;
    enum { N = 200000 };
    uint64_t *v = tr_malloc(N * sizeof *v);
    int failures = 0;
    if (!v)
        return 1;
    uint64_t x = 0x9E3779B97F4A7C15u;
    for (size_t i = 0; i < N; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17; /* xorshift64 */
        unsigned bits = 1 + (unsigned)(x % HIST_MAX_BITS);
        v[i] = (x >> 20) & ((UINT64_C(1) << bits) - 1);
        hist_record(&h, v[i]);
    }
    qsort(v, N, sizeof *v, cmp_u64);
    static const double pct[] = {0.1, 1, 10, 25, 50, 75, 90, 99, 99.9, 99.99, 100};
    for (size_t i = 0; i < sizeof pct / sizeof pct[0]; i++) {
        size_t rank = (size_t)ceil(pct[i] / 100.0 * N);
        uint64_t exact = v[rank ? rank - 1 : 0], got = hist_percentile(&h, pct[i]);
        if (got < exact || (double)got > (double)exact * (1.0 + 1.0 / 128) + 1) {
            printf("p%g: histogram %" PRIu64 ", exact %" PRIu64 "\n", pct[i], got, exact);
            failures++;
        }
    }
    if (h.total != N || h.max != v[N - 1] || h.min != v[0])
        failures++;
    tr_free(v);
    return failures;
}
