/* loadgen.h — the parts of treaty-loadgen (bench/loadgen.c) that know nothing of sockets: the
 * latency histogram (loadgen_hist.c) and the request templates and generated Shipment bodies
 * (loadgen_body.c). One thread uses them; nothing here allocates per request. */
#ifndef TREATY_BENCH_LOADGEN_H
#define TREATY_BENCH_LOADGEN_H

#include <stddef.h>
#include <stdint.h>

#define LG_MAX_SEGMENTS   256
#define LG_NUM_MAX_DIGITS 20

/* ---- log-linear histogram (HDR style): exact below 2^SUB_BITS, then 2^(SUB_BITS-1) linear
 * sub-buckets per power of two, so a bucket is at most 1/2^(SUB_BITS-1) = 0.8% wide. ---- */
#define HIST_SUB_BITS 8
#define HIST_HALF     (1u << (HIST_SUB_BITS - 1))
#define HIST_MAX_BITS 40 /* values in ns: up to ~18 minutes */
#define HIST_BUCKETS  ((HIST_MAX_BITS - HIST_SUB_BITS + 2) * HIST_HALF)

struct hist {
    uint64_t counts[HIST_BUCKETS];
    uint64_t total, min, max;
    double sum;
};

void hist_record(struct hist *h, uint64_t v);
/* Value at percentile p (0 < p <= 100): the smallest recorded bucket covering ceil(p% of total)
 * samples, reported as the bucket's highest value, never above the exact maximum. */
uint64_t hist_percentile(const struct hist *h, double p);
/* Checks percentiles against exact ones of random samples; returns the failures. */
int hist_check(void);

/* ---- templates: literal text with {n} or {n:W} (zero-padded to W digits) ---- */
struct tmpl_seg {
    const char *lit; /* borrowed from tmpl.text */
    size_t lit_len;
    int is_num;
    unsigned width;
};
struct tmpl {
    char *text; /* owned */
    size_t text_len;
    struct tmpl_seg segs[LG_MAX_SEGMENTS];
    size_t n_segs;
    size_t max_len; /* upper bound of a rendered instance */
};

/* Compiles text (taken over: t->text owns it) into t; -1 with err naming `what` on a bad
 * placeholder. */
int tmpl_compile(struct tmpl *t, char *text, size_t len, const char *what, char *err,
                 size_t errlen);
/* Renders t with number n into out (room for t->max_len bytes); returns the length. */
size_t tmpl_render(const struct tmpl *t, uint64_t n, char *out);
/* A Shipment body template ({n:8} in shipmentId) of exactly `size` bytes once rendered (for n
 * below 10^8); NULL with err when size is below the smallest one. Caller frees (tr_free). */
char *body_generate(size_t size, size_t *out_len, char *err, size_t errlen);

#endif
