/* hash.c — SHA-256 through OpenSSL's EVP interface with one digest method fetched per process,
 * libsodium as the fallback (see hash.h). */
#include "node/hash.h"

#include <openssl/evp.h>
#include <stdbool.h>
#include <pthread.h>
#include <sodium.h>

static pthread_once_t md_once = PTHREAD_ONCE_INIT;
static EVP_MD *md;            /* fetched once, kept for the process's life; NULL: use libsodium */
static pthread_key_t ctx_key; /* each thread's digest context, reused from hash to hash */
static bool ctx_key_ok;

static void ctx_free(void *ctx)
{
    EVP_MD_CTX_free(ctx);
}

static void md_fetch(void)
{
    md = EVP_MD_fetch(NULL, "SHA256", NULL);
    ctx_key_ok = pthread_key_create(&ctx_key, ctx_free) == 0;
}

/* The calling thread's context (freed when the thread exits), or a new one the caller frees
 * (*own) when the thread's cannot be kept. NULL when out of memory. */
static EVP_MD_CTX *thread_ctx(bool *own)
{
    EVP_MD_CTX *ctx = ctx_key_ok ? pthread_getspecific(ctx_key) : NULL;
    *own = false;
    if (ctx)
        return ctx;
    if (!(ctx = EVP_MD_CTX_new()))
        return NULL;
    *own = !ctx_key_ok || pthread_setspecific(ctx_key, ctx) != 0;
    return ctx;
}

static bool evp_sha256(uint8_t out[32], const void *a, size_t alen, const void *b, size_t blen)
{
    pthread_once(&md_once, md_fetch);
    if (!md)
        return false;
    bool own;
    EVP_MD_CTX *ctx = thread_ctx(&own);
    unsigned int n = 0;
    bool ok = ctx && EVP_DigestInit_ex(ctx, md, NULL) == 1 &&
              (alen == 0 || EVP_DigestUpdate(ctx, a, alen) == 1) &&
              (blen == 0 || EVP_DigestUpdate(ctx, b, blen) == 1) &&
              EVP_DigestFinal_ex(ctx, out, &n) == 1 && n == 32;
    if (own)
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
