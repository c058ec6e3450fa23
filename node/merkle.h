/* merkle.h — the ledger's RFC 9162 (Certificate Transparency v2) Merkle tree over SHA-256: leaf and
 * node hashing, an append-only tree whose node hashes live behind a small storage interface, proof
 * generation for any past tree size, and pure verifiers that need no tree. Invariant: the store
 * holds the hash of every complete subtree of the first `size` leaves, so roots and proofs of any
 * size <= `size` take O(log n) reads. Called by the ledger (append, proofs) and the audit verifier.
 */
#ifndef TREATY_NODE_MERKLE_H
#define TREATY_NODE_MERKLE_H

#include <stddef.h>
#include <stdint.h>

#define MERKLE_HASH_SIZE 32
/* Longest proof any tree of fewer than 2^63 leaves yields; proof arrays are this long. */
#define MERKLE_PROOF_MAX 64
/* Largest tree: sizes are uint64_t and 2^63 keeps every shift and level count in range. */
#define MERKLE_SIZE_MAX (UINT64_C(1) << 63)

/* RFC 9162 §2.1.1: SHA-256(0x00 ‖ data[0..len)). `data` may be NULL when len is 0. */
void merkle_leaf_hash(const uint8_t *data, size_t len, uint8_t out[MERKLE_HASH_SIZE]);
/* RFC 9162 §2.1.1: SHA-256(0x01 ‖ left ‖ right). `out` may alias `left` or `right`. */
void merkle_node_hash(const uint8_t left[MERKLE_HASH_SIZE], const uint8_t right[MERKLE_HASH_SIZE],
                      uint8_t out[MERKLE_HASH_SIZE]);

/* Where the tree keeps the hash of each complete subtree: the subtree at (level, index) covers the
 * leaves [index·2^level, (index+1)·2^level). The tree only ever reads what it has written. Both
 * functions return TR_OK or a negative TR_E* code that the tree passes up unchanged.
 * - get: copy the stored hash to `out`; TR_ENOTFOUND if none is stored there.
 * - put: store (or overwrite) the hash; on failure the store keeps what it held before.
 * `ctx` is borrowed by every tree built over the store and must outlive them. */
struct merkle_store {
    void *ctx;
    int (*get)(void *ctx, unsigned level, uint64_t index, uint8_t out[MERKLE_HASH_SIZE]);
    int (*put)(void *ctx, unsigned level, uint64_t index, const uint8_t hash[MERKLE_HASH_SIZE]);
};

struct merkle_tree;

/* Builds a tree of `size` leaves over `store` (copied), which must already hold every complete
 * subtree of those leaves (size 0 for a new, empty store). Returns TR_OK and the tree in *out,
 * owned by the caller until merkle_tree_destroy; TR_EINVAL if size > MERKLE_SIZE_MAX; TR_ENOMEM. */
int merkle_tree_create(const struct merkle_store *store, uint64_t size, struct merkle_tree **out);
/* Frees the tree (not its store). Accepts NULL. */
void merkle_tree_destroy(struct merkle_tree *tree);

/* Appends the leaf whose RFC 9162 leaf hash is `leaf_hash`: stores it at (0, n) and every subtree
 * it completes at (level, n >> level), then counts it — O(log n) writes, amortized 2. Returns
 * TR_OK; TR_ELIMIT at MERKLE_SIZE_MAX leaves; or the store's error, in which case the tree's size
 * is unchanged and no stored hash of its leaves was altered (the store may keep unused entries past
 * the end, which the next append overwrites). */
int merkle_append(struct merkle_tree *tree, const uint8_t leaf_hash[MERKLE_HASH_SIZE]);
/* The number of leaves appended. */
uint64_t merkle_size(const struct merkle_tree *tree);

/* The RFC 9162 §2.1.1 root MTH of the first `size` leaves (size 0: SHA-256 of the empty string),
 * from at most 64 stored hashes. Returns TR_OK; TR_EINVAL if size > merkle_size; a store error. */
int merkle_root(const struct merkle_tree *tree, uint64_t size, uint8_t out[MERKLE_HASH_SIZE]);

/* RFC 9162 §2.1.3.1: the inclusion proof of leaf `leaf_index` in the tree of the first `size`
 * leaves, from the leaf's sibling up, written to out_hashes (room for MERKLE_PROOF_MAX hashes), its
 * length to *count. Returns TR_OK; TR_EINVAL unless leaf_index < size <= merkle_size; a store
 * error (then *count is 0). */
int merkle_inclusion_proof(const struct merkle_tree *tree, uint64_t leaf_index, uint64_t size,
                           uint8_t out_hashes[][MERKLE_HASH_SIZE], size_t *count);

/* RFC 9162 §2.1.4.1: the consistency proof between the trees of the first `size1` and `size2`
 * leaves, written to out_hashes (room for MERKLE_PROOF_MAX hashes), its length to *count (0 when
 * size1 == size2). Returns TR_OK; TR_EINVAL unless 0 < size1 <= size2 <= merkle_size (a proof
 * from the empty tree proves nothing, and merkle_verify_consistency refuses it); a store error. */
int merkle_consistency_proof(const struct merkle_tree *tree, uint64_t size1, uint64_t size2,
                             uint8_t out_hashes[][MERKLE_HASH_SIZE], size_t *count);

/* RFC 9162 §2.1.3.2: checks that `proof` (n hashes of MERKLE_HASH_SIZE bytes back to back, as in
 * `out_hashes[0]` of the generators; NULL allowed when n is 0) proves the leaf hash `leaf_hash` at
 * `leaf_index` in the tree of `size` leaves whose root is `root`. Returns TR_OK; TR_EINVAL if
 * leaf_index >= size or n > MERKLE_PROOF_MAX; TR_ECRYPTO if the proof has the wrong length or does
 * not lead to `root`. On failure, if `why` is not NULL, a reason is written to why[0..whylen)
 * (NUL-terminated, truncated to fit). */
int merkle_verify_inclusion(const uint8_t leaf_hash[MERKLE_HASH_SIZE], uint64_t leaf_index,
                            uint64_t size, const uint8_t *proof, size_t n,
                            const uint8_t root[MERKLE_HASH_SIZE], char *why, size_t whylen);

/* RFC 9162 §2.1.4.2: checks that `proof` (n hashes back to back; NULL allowed when n is 0) shows
 * the tree of `size2` leaves with root `root2` extends the tree of `size1` leaves with root
 * `root1`. Sizes equal: the proof must be empty and the roots equal. Returns TR_OK; TR_EINVAL if
 * size1 == 0 (every tree extends the empty one, so such a proof proves nothing; the shared vectors
 * refuse it too), size1 > size2 or n > MERKLE_PROOF_MAX; TR_ECRYPTO if the proof has the wrong
 * length or does not lead to both roots. `why` as above. */
int merkle_verify_consistency(uint64_t size1, uint64_t size2, const uint8_t *proof, size_t n,
                              const uint8_t root1[MERKLE_HASH_SIZE],
                              const uint8_t root2[MERKLE_HASH_SIZE], char *why, size_t whylen);

/* In-memory store: one growable array per level, for tests and the audit verifier. */
struct merkle_mem_store;

/* Creates an empty store for at most `max_leaves` leaves (>= 1). Returns TR_OK and the store in
 * *out, owned by the caller until merkle_mem_store_destroy; TR_EINVAL; TR_ENOMEM. Its put fails
 * with TR_ELIMIT past max_leaves, with TR_ENOMEM when an array cannot grow (store unchanged). */
int merkle_mem_store_create(uint64_t max_leaves, struct merkle_mem_store **out);
/* Frees the store and its arrays. Accepts NULL. Trees over it must be destroyed first. */
void merkle_mem_store_destroy(struct merkle_mem_store *ms);
/* The storage interface over `ms`, to pass to merkle_tree_create; borrows `ms`. */
struct merkle_store merkle_mem_store_iface(struct merkle_mem_store *ms);

#endif
