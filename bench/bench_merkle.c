/* bench_merkle.c — treaty-bench-merkle: throughput of node/merkle.c over the in-memory store for a
 * tree of 1M leaves (or argv[1] leaves): appends/s, roots/s of random past sizes, inclusion and
 * consistency proofs/s and their verification/s. Prints figures; asserts nothing about speed. */
#include "node/merkle.h"

#include "common/err.h"
#include "common/prng.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void report(const char *what, long n, double secs)
{
    printf("%-28s %10ld in %7.3f s  %12.0f /s\n", what, n, secs, (double)n / secs);
}

static int bench_append(struct merkle_tree *t, uint64_t n)
{
    uint8_t(*leaves)[MERKLE_HASH_SIZE] = malloc(n * MERKLE_HASH_SIZE);
    if (!leaves)
        return TR_ENOMEM;
    double t0 = now_s();
    for (uint64_t i = 0; i < n; i++)
        merkle_leaf_hash((const uint8_t *)&i, sizeof i, leaves[i]);
    double t1 = now_s();
    for (uint64_t i = 0; i < n; i++) {
        int rc = merkle_append(t, leaves[i]);
        if (rc != TR_OK) {
            free(leaves);
            return rc;
        }
    }
    double t2 = now_s();
    report("leaf hashes", (long)n, t1 - t0);
    report("appends", (long)n, t2 - t1);
    free(leaves);
    return TR_OK;
}

static int bench_roots(const struct merkle_tree *t, struct tr_prng *prng, long reps)
{
    uint8_t root[MERKLE_HASH_SIZE];
    uint64_t n = merkle_size(t);
    double t0 = now_s();
    for (long r = 0; r < reps; r++) {
        int rc = merkle_root(t, tr_prng_range(prng, 1, n), root);
        if (rc != TR_OK)
            return rc;
    }
    report("roots (random size)", reps, now_s() - t0);
    return TR_OK;
}

/* Inclusion proofs of random (index, size), then the verification of the last one `reps` times. */
static int bench_inclusion(const struct merkle_tree *t, struct tr_prng *prng, long reps)
{
    uint8_t proof[MERKLE_PROOF_MAX][MERKLE_HASH_SIZE], leaf[MERKLE_HASH_SIZE];
    uint8_t root[MERKLE_HASH_SIZE];
    uint64_t n = merkle_size(t), size = n, idx = 0;
    size_t cnt = 0;
    int rc = TR_OK;
    double t0 = now_s();
    for (long r = 0; r < reps && rc == TR_OK; r++) {
        size = tr_prng_range(prng, 1, n);
        idx = tr_prng_below(prng, size);
        rc = merkle_inclusion_proof(t, idx, size, proof, &cnt);
    }
    if (rc != TR_OK)
        return rc;
    report("inclusion proofs", reps, now_s() - t0);
    merkle_leaf_hash((const uint8_t *)&idx, sizeof idx, leaf);
    if ((rc = merkle_root(t, size, root)) != TR_OK)
        return rc;
    t0 = now_s();
    for (long r = 0; r < reps && rc == TR_OK; r++)
        rc = merkle_verify_inclusion(leaf, idx, size, proof[0], cnt, root, NULL, 0);
    report("inclusion verifications", reps, now_s() - t0);
    return rc;
}

static int bench_consistency(const struct merkle_tree *t, struct tr_prng *prng, long reps)
{
    uint8_t proof[MERKLE_PROOF_MAX][MERKLE_HASH_SIZE];
    uint8_t root1[MERKLE_HASH_SIZE], root2[MERKLE_HASH_SIZE];
    uint64_t n = merkle_size(t), s1 = 1, s2 = 1;
    size_t cnt = 0;
    int rc = TR_OK;
    double t0 = now_s();
    for (long r = 0; r < reps && rc == TR_OK; r++) {
        s2 = tr_prng_range(prng, 1, n);
        s1 = tr_prng_range(prng, 1, s2);
        rc = merkle_consistency_proof(t, s1, s2, proof, &cnt);
    }
    if (rc != TR_OK)
        return rc;
    report("consistency proofs", reps, now_s() - t0);
    if ((rc = merkle_root(t, s1, root1)) != TR_OK || (rc = merkle_root(t, s2, root2)) != TR_OK)
        return rc;
    t0 = now_s();
    for (long r = 0; r < reps && rc == TR_OK; r++)
        rc = merkle_verify_consistency(s1, s2, proof[0], cnt, root1, root2, NULL, 0);
    report("consistency verifications", reps, now_s() - t0);
    return rc;
}

int main(int argc, char **argv)
{
    uint64_t n = argc > 1 ? strtoull(argv[1], NULL, 10) : 1000000;
    const long reps = 200000;
    struct merkle_mem_store *ms = NULL;
    struct merkle_tree *t = NULL;
    struct tr_prng prng;
    struct merkle_store s;
    int rc;

    if (sodium_init() < 0 || n == 0) {
        fprintf(stderr, "treaty-bench-merkle: sodium_init failed or zero leaves\n");
        return EXIT_FAILURE;
    }
    tr_prng_seed(&prng, 1);
    printf("treaty-bench-merkle: %llu leaves, in-memory store\n", (unsigned long long)n);
    if ((rc = merkle_mem_store_create(n, &ms)) != TR_OK)
        goto fail;
    s = merkle_mem_store_iface(ms);
    if ((rc = merkle_tree_create(&s, 0, &t)) != TR_OK)
        goto fail;
    if ((rc = bench_append(t, n)) != TR_OK || (rc = bench_roots(t, &prng, reps)) != TR_OK ||
        (rc = bench_inclusion(t, &prng, reps)) != TR_OK ||
        (rc = bench_consistency(t, &prng, reps)) != TR_OK)
        goto fail;
    merkle_tree_destroy(t);
    merkle_mem_store_destroy(ms);
    return EXIT_SUCCESS;
fail:
    fprintf(stderr, "treaty-bench-merkle: %s\n", tr_strerror(rc));
    merkle_tree_destroy(t);
    merkle_mem_store_destroy(ms);
    return EXIT_FAILURE;
}
