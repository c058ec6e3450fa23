/* hash.c — SHA-256 through OpenSSL's EVP interface with one digest method fetched per process,
 * libsodium as the fallback (see hash.h). */
#include "node/hash.h"

#include <openssl/evp.h>
#include <stdbool.h>
#include <pthread.h>
#include <sodium.h>

static pthread_once_t md_once = PTHREAD_ONCE_INIT;
static EVP_MD *md; /* fetched once, kept for the process's life; NULL: use libsodium */

static void md_fetch(void)
{
    md = EVP_MD_fetch(NULL, "SHA256", NULL);
}

static bool evp_sha256(uint8_t out[32], const void *a, size_t alen, const void *b, size_t blen)
{
    pthread_once(&md_once, md_fetch);
    if (!md)
        return false;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    unsigned int n = 0;
    bool ok = ctx && EVP_DigestInit_ex(ctx, md, NULL) == 1 &&
              (alen == 0 || EVP_DigestUpdate(ctx, a, alen) == 1) &&
              (blen == 0 || EVP_DigestUpdate(ctx, b, blen) == 1) &&
              EVP_DigestFinal_ex(ctx, out, &n) == 1 && n == 32;
    EVP_MD_CTX_free(ctx);
    return ok;
}

void hash_sha256_2(uint8_t out[32], const void *a, size_t alen, const void *b, size_t blen)
{
    if (evp_sha256(out, a, alen, b, blen))
        return;
    crypto_hash_sha256_state st;
    crypto_hash_sha256_init(&st);
    if (alen)
        crypto_hash_sha256_update(&st, a, alen);
    if (blen)
        crypto_hash_sha256_update(&st, b, blen);
    crypto_hash_sha256_final(&st, out);
}

void hash_sha256(uint8_t out[32], const void *data, size_t len)
{
    hash_sha256_2(out, data, len, NULL, 0);
}
