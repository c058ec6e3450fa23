/* merkle.c — RFC 9162 Merkle tree: hashing, append over a merkle_store, roots and proofs for any
 * past size from complete-subtree hashes only, the pure verifiers, and the in-memory store.
 * Every range the RFC's recursions visit starts on a multiple of a power of two at least its
 * length, so it splits into stored complete subtrees along the binary digits of its length. */
#include "node/merkle.h"
#include "node/hash.h"

#include "common/alloc.h"
#include "common/err.h"

#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

struct merkle_tree {
    struct merkle_store store;
    uint64_t size;
};

void merkle_leaf_hash(const uint8_t *data, size_t len, uint8_t out[MERKLE_HASH_SIZE])
{
    const uint8_t prefix = 0x00;
    hash_sha256_2(out, &prefix, 1, data, len);
}

void merkle_node_hash(const uint8_t left[MERKLE_HASH_SIZE], const uint8_t right[MERKLE_HASH_SIZE],
                      uint8_t out[MERKLE_HASH_SIZE])
{
    uint8_t buf[1 + 2 * MERKLE_HASH_SIZE];
    buf[0] = 0x01;
    memcpy(buf + 1, left, MERKLE_HASH_SIZE);
    memcpy(buf + 1 + MERKLE_HASH_SIZE, right, MERKLE_HASH_SIZE);
    hash_sha256(out, buf, sizeof buf);
}

/* The largest power of two strictly below n (n >= 2): RFC 9162 §2.1.1's split point k. */
static uint64_t split_point(uint64_t n)
{
    TR_ASSERT(n >= 2);
    return UINT64_C(1) << (63 - __builtin_clzll(n - 1));
}

static int low_bit_set(uint64_t v)
{
    return (int)(v & 1);
}

/* ------------------------------------------------------------------------------------------- */
/* The tree */

int merkle_tree_create(const struct merkle_store *store, uint64_t size, struct merkle_tree **out)
{
    TR_ASSERT(store && store->get && store->put && out);
    if (size > MERKLE_SIZE_MAX)
        return TR_EINVAL;
    struct merkle_tree *t = tr_malloc(sizeof *t);
    if (!t)
        return TR_ENOMEM;
    t->store = *store;
    t->size = size;
    *out = t;
    return TR_OK;
}

void merkle_tree_destroy(struct merkle_tree *tree)
{
    tr_free(tree);
}

uint64_t merkle_size(const struct merkle_tree *tree)
{
    return tree->size;
}

/* Leaf n completes one subtree per trailing 1 bit of n: its left siblings are read first and
 * every hash is computed before the first write, and the size moves only after the last write,
 * so a failed write leaves the tree as it was. */
int merkle_append(struct merkle_tree *tree, const uint8_t leaf_hash[MERKLE_HASH_SIZE])
{
    uint8_t chain[MERKLE_PROOF_MAX + 1][MERKLE_HASH_SIZE];
    uint64_t n = tree->size;
    unsigned levels = 0;
    int rc;

    if (n >= MERKLE_SIZE_MAX)
        return TR_ELIMIT;
    memcpy(chain[0], leaf_hash, MERKLE_HASH_SIZE);
    for (uint64_t idx = n; low_bit_set(idx); idx >>= 1, levels++) {
        uint8_t left[MERKLE_HASH_SIZE];
        rc = tree->store.get(tree->store.ctx, levels, idx - 1, left);
        if (rc != TR_OK)
            return rc;
        merkle_node_hash(left, chain[levels], chain[levels + 1]);
    }
    for (unsigned lv = 0; lv <= levels; lv++) {
        rc = tree->store.put(tree->store.ctx, lv, n >> lv, chain[lv]);
        if (rc != TR_OK)
            return rc;
    }
    tree->size = n + 1;
    return TR_OK;
}

/* MTH of the leaves [lo, hi), hi <= size: the complete subtrees along the binary digits of hi-lo,
 * largest first, folded right to left (RFC 9162 §2.1.1 splits at the largest power of two). */
static int range_hash(const struct merkle_tree *tree, uint64_t lo, uint64_t hi,
                      uint8_t out[MERKLE_HASH_SIZE])
{
    uint8_t parts[MERKLE_PROOF_MAX][MERKLE_HASH_SIZE];
    uint64_t len = hi - lo, off = lo;
    size_t np = 0;

    TR_ASSERT(lo < hi && hi <= tree->size);
    for (int level = 63; level >= 0; level--) {
        uint64_t width = UINT64_C(1) << level;
        if (!(len & width))
            continue;
        TR_ASSERT(off % width == 0);
        int rc = tree->store.get(tree->store.ctx, (unsigned)level, off >> level, parts[np]);
        if (rc != TR_OK)
            return rc;
        np++;
        off += width;
    }
    memcpy(out, parts[np - 1], MERKLE_HASH_SIZE);
    for (size_t i = np - 1; i-- > 0;)
        merkle_node_hash(parts[i], out, out);
    return TR_OK;
}

int merkle_root(const struct merkle_tree *tree, uint64_t size, uint8_t out[MERKLE_HASH_SIZE])
{
    if (size > tree->size)
        return TR_EINVAL;
    if (size == 0) {
        crypto_hash_sha256(out, NULL, 0);
        return TR_OK;
    }
    return range_hash(tree, 0, size, out);
}

/* Proofs are built top-down (the RFC's recursions append the top element last), then reversed. */
static void reverse_into(uint8_t top_down[][MERKLE_HASH_SIZE], size_t n,
                         uint8_t out[][MERKLE_HASH_SIZE])
{
    for (size_t i = 0; i < n; i++)
        memcpy(out[i], top_down[n - 1 - i], MERKLE_HASH_SIZE);
}

/* RFC 9162 §2.1.3.1 PATH(m, D[n]) unrolled. Only the first step that goes left has a sibling that
 * is not a complete subtree (the right part of the current range), so reads stay O(log n). */
int merkle_inclusion_proof(const struct merkle_tree *tree, uint64_t leaf_index, uint64_t size,
                           uint8_t out_hashes[][MERKLE_HASH_SIZE], size_t *count)
{
    uint8_t path[MERKLE_PROOF_MAX][MERKLE_HASH_SIZE];
    uint64_t lo = 0, n = size, m = leaf_index;
    size_t np = 0;

    *count = 0;
    if (size > tree->size || leaf_index >= size)
        return TR_EINVAL;
    while (n > 1) {
        uint64_t k = split_point(n);
        int rc;
        TR_ASSERT(np < MERKLE_PROOF_MAX);
        if (m < k) {
            rc = range_hash(tree, lo + k, lo + n, path[np]);
            n = k;
        } else {
            rc = range_hash(tree, lo, lo + k, path[np]);
            lo += k;
            m -= k;
            n -= k;
        }
        if (rc != TR_OK)
            return rc;
        np++;
    }
    reverse_into(path, np, out_hashes);
    *count = np;
    return TR_OK;
}

/* RFC 9162 §2.1.4.1 SUBPROOF(m, D[n], b) unrolled; `whole` is b: the old tree is still a complete
 * prefix of the current range, so its own hash is not part of the proof. */
int merkle_consistency_proof(const struct merkle_tree *tree, uint64_t size1, uint64_t size2,
                             uint8_t out_hashes[][MERKLE_HASH_SIZE], size_t *count)
{
    uint8_t path[MERKLE_PROOF_MAX + 1][MERKLE_HASH_SIZE];
    uint64_t lo = 0, m = size1, n = size2;
    size_t np = 0;
    int whole = 1, rc = TR_OK;

    *count = 0;
    if (size1 == 0 || size1 > size2 || size2 > tree->size)
        return TR_EINVAL;
    while (m < n && rc == TR_OK) {
        uint64_t k = split_point(n);
        TR_ASSERT(np < MERKLE_PROOF_MAX);
        if (m <= k) {
            rc = range_hash(tree, lo + k, lo + n, path[np++]);
            n = k;
        } else {
            rc = range_hash(tree, lo, lo + k, path[np++]);
            lo += k;
            m -= k;
            n -= k;
            whole = 0;
        }
    }
    if (rc == TR_OK && !whole)
        rc = range_hash(tree, lo, lo + n, path[np++]);
    if (rc != TR_OK)
        return rc;
    TR_ASSERT(np <= MERKLE_PROOF_MAX);
    reverse_into(path, np, out_hashes);
    *count = np;
    return TR_OK;
}

/* ------------------------------------------------------------------------------------------- */
/* Verifiers */

#if defined(__GNUC__)
__attribute__((format(printf, 4, 5)))
#endif
static int
fail_why(int rc, char *why, size_t whylen, const char *fmt, ...)
{
    if (why && whylen > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(why, whylen, fmt, ap);
        va_end(ap);
    }
    return rc;
}

static int hash_eq(const uint8_t a[MERKLE_HASH_SIZE], const uint8_t b[MERKLE_HASH_SIZE])
{
    return memcmp(a, b, MERKLE_HASH_SIZE) == 0;
}

/* Right-shifts fn and sn together until fn's low bit is set or fn is 0 (RFC 9162 §2.1.3.2 step
 * 4 and §2.1.4.2 step 6 share it). */
static void shift_to_set_bit(uint64_t *fn, uint64_t *sn)
{
    while (!low_bit_set(*fn) && *fn != 0) {
        *fn >>= 1;
        *sn >>= 1;
    }
}

int merkle_verify_inclusion(const uint8_t leaf_hash[MERKLE_HASH_SIZE], uint64_t leaf_index,
                            uint64_t size, const uint8_t *proof, size_t n,
                            const uint8_t root[MERKLE_HASH_SIZE], char *why, size_t whylen)
{
    uint8_t r[MERKLE_HASH_SIZE];

    TR_ASSERT(leaf_hash && root && (proof || n == 0));
    if (leaf_index >= size)
        return fail_why(TR_EINVAL, why, whylen, "leaf index %llu is not below tree size %llu",
                        (unsigned long long)leaf_index, (unsigned long long)size);
    if (n > MERKLE_PROOF_MAX)
        return fail_why(TR_EINVAL, why, whylen, "proof of %zu hashes exceeds %d", n,
                        MERKLE_PROOF_MAX);
    uint64_t fn = leaf_index, sn = size - 1;
    memcpy(r, leaf_hash, MERKLE_HASH_SIZE);
    for (size_t i = 0; i < n; i++) {
        if (sn == 0)
            return fail_why(TR_ECRYPTO, why, whylen, "inclusion proof too long: %zu hashes", n);
        if (low_bit_set(fn) || fn == sn) {
            merkle_node_hash(proof + i * MERKLE_HASH_SIZE, r, r);
            shift_to_set_bit(&fn, &sn);
        } else {
            merkle_node_hash(r, proof + i * MERKLE_HASH_SIZE, r);
        }
        fn >>= 1;
        sn >>= 1;
    }
    if (sn != 0)
        return fail_why(TR_ECRYPTO, why, whylen, "inclusion proof too short: %zu hashes", n);
    if (!hash_eq(r, root))
        return fail_why(TR_ECRYPTO, why, whylen, "inclusion proof does not lead to the root");
    return TR_OK;
}

/* RFC 9162 §2.1.4.2 steps 2–7 for 0 < size1 < size2 and n >= 1. Step 2's prepended first_hash is
 * read as element 0 of a virtual path rather than copied in. */
static int verify_consistency_path(uint64_t size1, uint64_t size2, const uint8_t *proof, size_t n,
                                   const uint8_t root1[MERKLE_HASH_SIZE],
                                   const uint8_t root2[MERKLE_HASH_SIZE], char *why, size_t whylen)
{
    const int pow2 = (size1 & (size1 - 1)) == 0;
    const size_t total = n + (pow2 ? 1 : 0);
    uint8_t fr[MERKLE_HASH_SIZE], sr[MERKLE_HASH_SIZE];
    uint64_t fn = size1 - 1, sn = size2 - 1;

    while (low_bit_set(fn)) {
        fn >>= 1;
        sn >>= 1;
    }
    memcpy(fr, pow2 ? root1 : proof, MERKLE_HASH_SIZE);
    memcpy(sr, fr, MERKLE_HASH_SIZE);
    for (size_t i = 1; i < total; i++) {
        const uint8_t *c = proof + (pow2 ? i - 1 : i) * MERKLE_HASH_SIZE;
        if (sn == 0)
            return fail_why(TR_ECRYPTO, why, whylen, "consistency proof too long: %zu hashes", n);
        if (low_bit_set(fn) || fn == sn) {
            merkle_node_hash(c, fr, fr);
            merkle_node_hash(c, sr, sr);
            shift_to_set_bit(&fn, &sn);
        } else {
            merkle_node_hash(sr, c, sr);
        }
        fn >>= 1;
        sn >>= 1;
    }
    if (sn != 0)
        return fail_why(TR_ECRYPTO, why, whylen, "consistency proof too short: %zu hashes", n);
    if (!hash_eq(fr, root1))
        return fail_why(TR_ECRYPTO, why, whylen, "consistency proof does not lead to root1");
    if (!hash_eq(sr, root2))
        return fail_why(TR_ECRYPTO, why, whylen, "consistency proof does not lead to root2");
    return TR_OK;
}

int merkle_verify_consistency(uint64_t size1, uint64_t size2, const uint8_t *proof, size_t n,
                              const uint8_t root1[MERKLE_HASH_SIZE],
                              const uint8_t root2[MERKLE_HASH_SIZE], char *why, size_t whylen)
{
    TR_ASSERT(root1 && root2 && (proof || n == 0));
    if (size1 > size2)
        return fail_why(TR_EINVAL, why, whylen, "size1 %llu is greater than size2 %llu",
                        (unsigned long long)size1, (unsigned long long)size2);
    if (size1 == 0)
        return fail_why(TR_EINVAL, why, whylen, "no consistency proof exists from the empty tree");
    if (n > MERKLE_PROOF_MAX)
        return fail_why(TR_EINVAL, why, whylen, "proof of %zu hashes exceeds %d", n,
                        MERKLE_PROOF_MAX);
    if (size1 == size2) {
        if (n != 0)
            return fail_why(TR_ECRYPTO, why, whylen, "equal sizes need an empty proof, got %zu", n);
        if (!hash_eq(root1, root2))
            return fail_why(TR_ECRYPTO, why, whylen, "equal sizes but different roots");
        return TR_OK;
    }
    /* §2.1.4.2 step 1. */
    if (n == 0)
        return fail_why(TR_ECRYPTO, why, whylen, "consistency proof is empty");
    return verify_consistency_path(size1, size2, proof, n, root1, root2, why, whylen);
}

/* ------------------------------------------------------------------------------------------- */
/* In-memory store */

struct mem_level {
    uint8_t (*hashes)[MERKLE_HASH_SIZE];
    uint64_t len;
    uint64_t cap;
};

struct merkle_mem_store {
    uint64_t max_leaves;
    struct mem_level levels[MERKLE_PROOF_MAX];
};

int merkle_mem_store_create(uint64_t max_leaves, struct merkle_mem_store **out)
{
    TR_ASSERT(out);
    if (max_leaves == 0 || max_leaves > MERKLE_SIZE_MAX)
        return TR_EINVAL;
    struct merkle_mem_store *ms = tr_calloc(1, sizeof *ms);
    if (!ms)
        return TR_ENOMEM;
    ms->max_leaves = max_leaves;
    *out = ms;
    return TR_OK;
}

void merkle_mem_store_destroy(struct merkle_mem_store *ms)
{
    if (!ms)
        return;
    for (size_t i = 0; i < MERKLE_PROOF_MAX; i++)
        tr_free(ms->levels[i].hashes);
    tr_free(ms);
}

static int mem_get(void *ctx, unsigned level, uint64_t index, uint8_t out[MERKLE_HASH_SIZE])
{
    struct merkle_mem_store *ms = ctx;
    if (level >= MERKLE_PROOF_MAX || index >= ms->levels[level].len)
        return TR_ENOTFOUND;
    memcpy(out, ms->levels[level].hashes[index], MERKLE_HASH_SIZE);
    return TR_OK;
}

/* Doubles the level's array, capped at the number of subtrees the leaf bound allows there. */
static int mem_grow(struct mem_level *lv, uint64_t limit)
{
    uint64_t cap = lv->cap ? lv->cap * 2 : 16;
    if (cap > limit)
        cap = limit;
    if (cap > SIZE_MAX / MERKLE_HASH_SIZE)
        return TR_ENOMEM;
    void *p = tr_realloc(lv->hashes, (size_t)cap * MERKLE_HASH_SIZE);
    if (!p)
        return TR_ENOMEM;
    lv->hashes = p;
    lv->cap = cap;
    return TR_OK;
}

/* Writes go at or before the end of a level: the tree fills each level left to right and may
 * rewrite the entry a failed append left past the end. */
static int mem_put(void *ctx, unsigned level, uint64_t index, const uint8_t hash[MERKLE_HASH_SIZE])
{
    struct merkle_mem_store *ms = ctx;
    if (level >= MERKLE_PROOF_MAX)
        return TR_ELIMIT;
    uint64_t limit = ms->max_leaves >> level;
    struct mem_level *lv = &ms->levels[level];
    if (index >= limit)
        return TR_ELIMIT;
    if (index > lv->len)
        return TR_EINVAL;
    if (index == lv->cap) {
        int rc = mem_grow(lv, limit);
        if (rc != TR_OK)
            return rc;
    }
    memcpy(lv->hashes[index], hash, MERKLE_HASH_SIZE);
    if (index == lv->len)
        lv->len++;
    return TR_OK;
}

struct merkle_store merkle_mem_store_iface(struct merkle_mem_store *ms)
{
    struct merkle_store s = {ms, mem_get, mem_put};
    return s;
}
