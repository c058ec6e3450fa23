/* hash.h — SHA-256 for the ledger's hot paths (tx and block hashes, Merkle leaves and nodes, the
 * audit verifier). OpenSSL's implementation uses the CPU's SHA extensions where it has them, about
 * five times libsodium's speed on 1 KB here; should OpenSSL fail (out of memory), libsodium's
 * gives the digest instead, so the result is always SHA-256 of the input. Thread-safe. */
#ifndef TREATY_NODE_HASH_H
#define TREATY_NODE_HASH_H

#include <stddef.h>
#include <stdint.h>

/* SHA-256 of data[0..len) (data may be NULL when len is 0). */
void hash_sha256(uint8_t out[32], const void *data, size_t len);
/* SHA-256 of the concatenation a[0..alen) || b[0..blen). */
void hash_sha256_2(uint8_t out[32], const void *a, size_t alen, const void *b, size_t blen);

#endif
