/* demo_proof.c — the audit at the end of `treaty demo`'s tour: a proof that the tour's first
 * write is in the Merkle tree whose root every org cosigned in the latest checkpoint, and a
 * proof that the current tree extends that one (RFC 9162 §2.1.3 and §2.1.4). The proofs come
 * from a node's API; the demo recomputes the leaf hash and checks both proofs itself with
 * treaty's verifier, against the roots it already holds, trusting nothing else the node says. */
#include "common/bytes.h"
#include "node/demo.h"
#include "node/merkle.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Decodes the hex string member `k` of `o` into `out` (exactly `len` bytes). */
static bool hex_member(const json_t *o, const char *k, uint8_t *out, size_t len)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s && tr_hex_decode(s, strlen(s), out, len) == 0;
}

/* The hashes of proof array `a` back to back in `out` (MERKLE_PROOF_MAX of them at most); their
 * count, or -1 when one is not a hash. */
static int proof_hashes(const json_t *a, uint8_t out[MERKLE_PROOF_MAX][MERKLE_HASH_SIZE])
{
    size_t n = json_array_size(a);
    if (!json_is_array(a) || n > MERKLE_PROOF_MAX)
        return -1;
    for (size_t i = 0; i < n; i++) {
        const char *h = json_string_value(json_array_get(a, i));
        if (!h || tr_hex_decode(h, strlen(h), out[i], MERKLE_HASH_SIZE) != 0)
            return -1;
    }
    return (int)n;
}

/* GET `path` on `n`, 200 expected; a new reference or NULL (d->why). */
static json_t *get_json(struct demo *d, const struct demo_node *n, const char *path)
{
    struct demo_resp r;
    if (demo_http(d, n, "GET", path, NULL, NULL, 5000, &r) != 0)
        return NULL;
    json_t *b = r.status == 200 && json_is_object(r.body) ? json_incref(r.body) : NULL;
    if (!b)
        demo_fail(d, "GET %s on %s's node: %ld %s", path, n->org, r.status,
                  demo_json_line(r.body, 200));
    demo_resp_free(&r);
    return b;
}

static int check_inclusion(struct demo *d, const struct demo_node *n, json_int_t size,
                           const uint8_t root[MERKLE_HASH_SIZE])
{
    char path[128], why[256] = "";
    snprintf(path, sizeof path, "/v1/ledger/proofs/inclusion?tx=%s&tree_size=%" JSON_INTEGER_FORMAT,
             d->first_tx, size);
    json_t *p = get_json(d, n, path);
    if (!p)
        return -1;
    uint8_t proof[MERKLE_PROOF_MAX][MERKLE_HASH_SIZE];
    const char *leaf = json_string_value(json_object_get(p, "leaf"));
    size_t leaf_len = leaf ? strlen(leaf) / 2 : 0;
    uint8_t *bytes = malloc(leaf_len ? leaf_len : 1), hash[MERKLE_HASH_SIZE],
            said[MERKLE_HASH_SIZE];
    int np = proof_hashes(json_object_get(p, "proof"), proof);
    json_int_t index = json_integer_value(json_object_get(p, "leaf_index"));
    int rc = 0;
    if (!bytes || !leaf || tr_hex_decode(leaf, strlen(leaf), bytes, leaf_len) != 0 || np < 0 ||
        !hex_member(p, "leaf_hash", said, sizeof said) || index < 0)
        rc = demo_fail(d, "GET %s: an unusable answer: %s", path, demo_json_line(p, 200));
    if (rc == 0) {
        merkle_leaf_hash(bytes, leaf_len, hash);
        if (memcmp(hash, said, sizeof hash) != 0)
            rc = demo_fail(d, "the leaf of tx %s does not hash to the leaf_hash the node gave",
                           d->first_tx);
    }
    if (rc == 0 && merkle_verify_inclusion(hash, (uint64_t)index, (uint64_t)size, proof[0],
                                           (size_t)np, root, why, sizeof why) != 0)
        rc = demo_fail(d, "the inclusion proof of tx %s fails: %s", d->first_tx, why);
    if (rc == 0)
        demo_say("tx %.12s... (acme's first shipment) is leaf %" JSON_INTEGER_FORMAT
                 " of the cosigned tree of %" JSON_INTEGER_FORMAT
                 " leaves: leaf hash and inclusion proof (%d hashes) checked",
                 d->first_tx, index, size, np);
    free(bytes);
    json_decref(p);
    return rc;
}

static int check_consistency(struct demo *d, const struct demo_node *n, json_int_t size1,
                             const uint8_t root1[MERKLE_HASH_SIZE], json_int_t size2,
                             const uint8_t root2[MERKLE_HASH_SIZE])
{
    char path[128], why[256] = "";
    snprintf(path, sizeof path,
             "/v1/ledger/proofs/consistency?first=%" JSON_INTEGER_FORMAT
             "&second=%" JSON_INTEGER_FORMAT,
             size1, size2);
    json_t *p = get_json(d, n, path);
    if (!p)
        return -1;
    uint8_t proof[MERKLE_PROOF_MAX][MERKLE_HASH_SIZE];
    int np = proof_hashes(json_object_get(p, "proof"), proof);
    int rc = 0;
    if (np < 0)
        rc = demo_fail(d, "GET %s: an unusable answer: %s", path, demo_json_line(p, 200));
    else if (merkle_verify_consistency((uint64_t)size1, (uint64_t)size2, proof[0], (size_t)np,
                                       root1, root2, why, sizeof why) != 0)
        rc = demo_fail(d,
                       "the consistency proof from %" JSON_INTEGER_FORMAT
                       " to %" JSON_INTEGER_FORMAT " leaves fails: %s",
                       size1, size2, why);
    else
        demo_say("the head's tree (%" JSON_INTEGER_FORMAT " leaves) extends the cosigned one: "
                 "consistency proof (%d hashes) checked",
                 size2, np);
    json_decref(p);
    return rc;
}

int demo_verify_proofs(struct demo *d, const struct demo_node *n, const json_t *cp,
                       const json_t *head)
{
    uint8_t cp_root[MERKLE_HASH_SIZE], head_root[MERKLE_HASH_SIZE];
    json_int_t cp_size = json_integer_value(json_object_get(cp, "tree_size"));
    json_int_t head_size = json_integer_value(json_object_get(head, "tree_size"));
    if (!d->first_tx[0])
        return demo_fail(d, "no write of the tour to prove");
    if (!hex_member(cp, "root", cp_root, sizeof cp_root) ||
        !hex_member(head, "root", head_root, sizeof head_root) || cp_size <= 0 ||
        head_size < cp_size)
        return demo_fail(d, "unusable checkpoint or head: %s", demo_json_line(cp, 200));
    if (check_inclusion(d, n, cp_size, cp_root) != 0)
        return -1;
    return check_consistency(d, n, cp_size, cp_root, head_size, head_root);
}
