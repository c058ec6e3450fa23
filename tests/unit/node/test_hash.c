/* test_hash.c — hash_sha256 and hash_sha256_2 against FIPS 180-2 vectors and against
 * libsodium's SHA-256 for every length up to past a few blocks, split at every point, and from
 * several threads at once (each reuses its own digest context). */
#include "node/hash.h"

#include <check.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

Suite *suite_hash(void);

static void hex(const uint8_t d[32], char out[65])
{
    for (int i = 0; i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", d[i]);
}

START_TEST(known_vectors)
{
    uint8_t d[32];
    char h[65];
    hash_sha256(d, NULL, 0);
    hex(d, h);
    ck_assert_str_eq(h, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    hash_sha256(d, "abc", 3);
    hex(d, h);
    ck_assert_str_eq(h, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    const char *two = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    hash_sha256_2(d, two, 20, two + 20, strlen(two) - 20);
    hex(d, h);
    ck_assert_str_eq(h, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}
END_TEST

START_TEST(same_as_libsodium)
{
    ck_assert_int_ge(sodium_init(), 0);
    static uint8_t buf[700];
    for (size_t i = 0; i < sizeof buf; i++)
        buf[i] = (uint8_t)(i * 131 + 7);
    for (size_t len = 0; len <= sizeof buf; len += len < 160 ? 1 : 37) {
        uint8_t want[32], got[32];
        crypto_hash_sha256(want, buf, len);
        hash_sha256(got, buf, len);
        ck_assert_mem_eq(got, want, 32);
        for (size_t cut = 0; cut <= len; cut += 1 + len / 9) {
            memset(got, 0, sizeof got);
            hash_sha256_2(got, buf, cut, buf + cut, len - cut);
            ck_assert_mem_eq(got, want, 32);
        }
    }
}
END_TEST

/* Each thread hashes its own bytes many times, interleaved with the others: a context shared
 * between threads, or one left dirty by the previous hash, gives a wrong digest. */
struct hash_worker {
    uint8_t seed;
    int bad;
};

static void *hash_worker_run(void *arg)
{
    struct hash_worker *w = arg;
    uint8_t buf[1500];
    for (int round = 0; round < 400; round++) {
        size_t len = ((size_t)round * 7 + w->seed) % sizeof buf;
        for (size_t i = 0; i < len; i++)
            buf[i] = (uint8_t)(i * 31 + w->seed + (size_t)round);
        uint8_t want[32], got[32];
        crypto_hash_sha256(want, buf, len);
        hash_sha256_2(got, buf, len / 3, buf + len / 3, len - len / 3);
        if (memcmp(got, want, 32) != 0)
            w->bad++;
    }
    return NULL;
}

START_TEST(threads_each_get_their_own_context)
{
    ck_assert_int_ge(sodium_init(), 0);
    enum { N = 4 };
    pthread_t t[N];
    struct hash_worker w[N];
    for (int i = 0; i < N; i++) {
        w[i] = (struct hash_worker){(uint8_t)(i * 53 + 1), 0};
        ck_assert_int_eq(pthread_create(&t[i], NULL, hash_worker_run, &w[i]), 0);
    }
    for (int i = 0; i < N; i++) {
        ck_assert_int_eq(pthread_join(t[i], NULL), 0);
        ck_assert_int_eq(w[i].bad, 0);
    }
}
END_TEST

Suite *suite_hash(void)
{
    Suite *s = suite_create("hash");
    TCase *tc = tcase_create("hash");
    tcase_add_test(tc, known_vectors);
    tcase_add_test(tc, same_as_libsodium);
    tcase_add_test(tc, threads_each_get_their_own_context);
    suite_add_tcase(s, tc);
    return s;
}
