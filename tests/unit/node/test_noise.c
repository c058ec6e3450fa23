/* test_noise.c — the Noise engine against the cacophony known-answer vectors (NN, XK, IK, XX; the
 * shared testdata folder, MIT, Copyright Southern Storm Software), then XX between keys derived
 * from Ed25519, the membership callback, tampered / truncated / replayed / reordered messages,
 * wrong prologues, low-order keys, length limits at their edges, nonce exhaustion, misuse and
 * allocation failure. Keys in the non-vector tests are random; no assertion depends on them. */
#include "node/noise.h"

#include "common/alloc.h"
#include "common/bytes.h"
#include "common/err.h"

#include <check.h>
#include <jansson.h>
#include <sodium.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

Suite *suite_noise(void);

#define VECTOR_FILE TREATY_SHARED_TESTDATA "/noise/cacophony-25519-chachapoly-sha256.json"
#define BIG         (NOISE_MAX_MSG_LEN + 64)

struct peer {
    struct noise_handshake *hs;
    struct noise_transport *t;
};

static void peer_free(struct peer *p)
{
    noise_handshake_destroy(p->hs);
    noise_transport_destroy(p->t);
    p->hs = NULL;
    p->t = NULL;
}

/* ---- vector helpers ---- */

static json_t *vectors_load(void)
{
    json_error_t err;
    json_t *root = json_load_file(VECTOR_FILE, 0, &err);
    ck_assert_msg(root != NULL, "%s: %s", VECTOR_FILE, err.text);
    json_t *v = json_object_get(root, "vectors");
    ck_assert(json_is_array(v));
    json_incref(v);
    json_decref(root);
    return v;
}

/* Decodes hex field `key` of `obj` into out; returns its length, or -1 when the field is absent. */
static long hex_field(json_t *obj, const char *key, uint8_t *out, size_t cap)
{
    json_t *f = json_object_get(obj, key);
    if (f == NULL)
        return -1;
    ck_assert(json_is_string(f));
    size_t hexlen = json_string_length(f);
    ck_assert(hexlen % 2 == 0 && hexlen / 2 <= cap);
    ck_assert_int_eq(tr_hex_decode(json_string_value(f), hexlen, out, hexlen / 2), TR_OK);
    return (long)(hexlen / 2);
}

static enum noise_pattern pattern_of(const char *name)
{
    static const char *names[] = {"NN", "XK", "IK", "XX"};
    static const enum noise_pattern pats[] = {NOISE_PATTERN_NN, NOISE_PATTERN_XK, NOISE_PATTERN_IK,
                                              NOISE_PATTERN_XX};
    for (size_t i = 0; i < 4; i++)
        if (strcmp(name, names[i]) == 0)
            return pats[i];
    ck_abort_msg("unknown pattern %s", name);
    return NOISE_PATTERN_NN;
}

/* The handshake of one side of a vector, with its fixed ephemeral key. `side` is "init"/"resp". */
static struct noise_handshake *vector_side(json_t *v, const char *side, int initiator)
{
    char key[64];
    uint8_t prologue[256], rs[32], eph[32];
    struct noise_keypair s = {{0}, {0}};
    snprintf(key, sizeof key, "%s_prologue", side);
    long plen = hex_field(v, key, prologue, sizeof prologue);
    snprintf(key, sizeof key, "%s_static", side);
    long slen = hex_field(v, key, s.sk, sizeof s.sk);
    if (slen == 32)
        crypto_scalarmult_base(s.pk, s.sk);
    snprintf(key, sizeof key, "%s_remote_static", side);
    long rslen = hex_field(v, key, rs, sizeof rs);
    snprintf(key, sizeof key, "%s_ephemeral", side);
    ck_assert_int_eq(hex_field(v, key, eph, sizeof eph), 32);

    struct noise_config cfg = {
        .pattern = pattern_of(json_string_value(json_object_get(v, "pattern"))),
        .role = initiator ? NOISE_ROLE_INITIATOR : NOISE_ROLE_RESPONDER,
        .prologue = prologue,
        .prologue_len = plen < 0 ? 0 : (size_t)plen,
        .local_static = slen == 32 ? &s : NULL,
        .remote_static = rslen == 32 ? rs : NULL,
    };
    struct noise_handshake *hs = NULL;
    ck_assert_int_eq(noise_handshake_create(&cfg, &hs), TR_OK);
    ck_assert_int_eq(noise_handshake_set_ephemeral_for_test(hs, eph), TR_OK);
    return hs;
}

/* One message of a vector: the sender's bytes must equal the vector's ciphertext, and the
 * receiver, fed the vector's bytes, must return the vector's payload. */
static void vector_message(struct peer *tx, struct peer *rx, const uint8_t *pl, size_t pl_len,
                           const uint8_t *ct, size_t ct_len)
{
    static uint8_t out[BIG], got[BIG];
    size_t out_len = 0, got_len = 0;
    if (tx->t == NULL) {
        ck_assert_int_eq(noise_handshake_write_message(tx->hs, pl, pl_len, out, BIG, &out_len),
                         TR_OK);
        ck_assert_int_eq(noise_handshake_read_message(rx->hs, ct, ct_len, got, BIG, &got_len),
                         TR_OK);
    } else {
        ck_assert_int_eq(noise_transport_encrypt(tx->t, pl, pl_len, out, BIG, &out_len), TR_OK);
        ck_assert_int_eq(noise_transport_decrypt(rx->t, ct, ct_len, got, BIG, &got_len), TR_OK);
    }
    ck_assert_uint_eq(out_len, ct_len);
    ck_assert_mem_eq(out, ct, ct_len);
    ck_assert_uint_eq(got_len, pl_len);
    if (pl_len > 0)
        ck_assert_mem_eq(got, pl, pl_len);
}

/* Once both sides completed the handshake: equal hashes (the vector's if it has one), the
 * statics each side learned, and split into transports. */
static void vector_finish(json_t *v, struct peer *ini, struct peer *rsp)
{
    uint8_t h1[32], h2[32], want[32], k[32], sk[32], pk[32];
    ck_assert_int_eq(noise_handshake_hash(ini->hs, h1), TR_OK);
    ck_assert_int_eq(noise_handshake_hash(rsp->hs, h2), TR_OK);
    ck_assert_mem_eq(h1, h2, 32);
    if (hex_field(v, "handshake_hash", want, sizeof want) == 32)
        ck_assert_mem_eq(h1, want, 32);
    if (hex_field(v, "resp_static", sk, sizeof sk) == 32) {
        crypto_scalarmult_base(pk, sk);
        ck_assert_int_eq(noise_handshake_remote_static(ini->hs, k), TR_OK);
        ck_assert_mem_eq(k, pk, 32);
    }
    if (hex_field(v, "init_static", sk, sizeof sk) == 32) {
        crypto_scalarmult_base(pk, sk);
        ck_assert_int_eq(noise_handshake_remote_static(rsp->hs, k), TR_OK);
        ck_assert_mem_eq(k, pk, 32);
    }
    ck_assert_int_eq(noise_handshake_split(ini->hs, &ini->t), TR_OK);
    ck_assert_int_eq(noise_handshake_split(rsp->hs, &rsp->t), TR_OK);
}

START_TEST(test_vector_file_has_four_patterns)
{
    json_t *vs = vectors_load();
    ck_assert_uint_eq(json_array_size(vs), 4);
    const char *want[] = {"NN", "XK", "IK", "XX"};
    for (size_t i = 0; i < 4; i++) {
        json_t *v = json_array_get(vs, i);
        ck_assert_str_eq(json_string_value(json_object_get(v, "pattern")), want[i]);
        ck_assert_str_eq(json_string_value(json_object_get(v, "cipher")), "ChaChaPoly");
        ck_assert_str_eq(json_string_value(json_object_get(v, "hash")), "SHA256");
        ck_assert_str_eq(json_string_value(json_object_get(v, "dh")), "25519");
    }
    json_decref(vs);
}
END_TEST

/* Vector `_i`: messages alternate initiator, responder, … through the handshake and on into
 * transport messages, as in the cacophony format. */
START_TEST(test_vector)
{
    json_t *vs = vectors_load();
    json_t *v = json_array_get(vs, (size_t)_i);
    ck_assert_ptr_nonnull(v);
    struct peer ini = {vector_side(v, "init", 1), NULL};
    struct peer rsp = {vector_side(v, "resp", 0), NULL};
    json_t *msgs = json_object_get(v, "messages");
    size_t n_hs = 0, n_transport = 0;
    static uint8_t pl[BIG], ct[BIG];
    for (size_t j = 0; j < json_array_size(msgs); j++) {
        json_t *m = json_array_get(msgs, j);
        long pl_len = hex_field(m, "payload", pl, sizeof pl);
        long ct_len = hex_field(m, "ciphertext", ct, sizeof ct);
        ck_assert(pl_len >= 0 && ct_len >= 0);
        if (ini.t == NULL && noise_handshake_is_complete(ini.hs))
            vector_finish(v, &ini, &rsp);
        *(ini.t == NULL ? &n_hs : &n_transport) += 1;
        struct peer *tx = j % 2 == 0 ? &ini : &rsp, *rx = j % 2 == 0 ? &rsp : &ini;
        vector_message(tx, rx, pl, (size_t)pl_len, ct, (size_t)ct_len);
    }
    const char *pat = json_string_value(json_object_get(v, "pattern"));
    ck_assert_uint_eq(n_hs, strcmp(pat, "NN") == 0 || strcmp(pat, "IK") == 0 ? 2 : 3);
    ck_assert_uint_ge(n_transport, 3);
    peer_free(&ini);
    peer_free(&rsp);
    json_decref(vs);
}
END_TEST

/* ---- live handshakes ---- */

struct accept_log {
    int calls;
    int refuse;
    uint8_t seen[32];
};

static int accept_record(void *ctx, const uint8_t pk[NOISE_KEY_LEN])
{
    struct accept_log *log = ctx;
    log->calls++;
    memcpy(log->seen, pk, 32);
    return log->refuse ? -1 : 0;
}

static void ed_derived_keypair(struct noise_keypair *kp)
{
    uint8_t ed_pk[32], ed_sk[64];
    ck_assert_int_eq(crypto_sign_keypair(ed_pk, ed_sk), 0);
    ck_assert_int_eq(noise_keypair_from_ed25519(ed_sk, kp->sk, kp->pk), TR_OK);
    sodium_memzero(ed_sk, sizeof ed_sk);
}

static struct noise_handshake *hs_new(enum noise_pattern pat, int initiator,
                                      const struct noise_keypair *s, const uint8_t *rs,
                                      const char *prologue, struct accept_log *log)
{
    struct noise_config cfg = {
        .pattern = pat,
        .role = initiator ? NOISE_ROLE_INITIATOR : NOISE_ROLE_RESPONDER,
        .prologue = (const uint8_t *)prologue,
        .prologue_len = strlen(prologue),
        .local_static = s,
        .remote_static = rs,
        .accept = log != NULL ? accept_record : NULL,
        .accept_ctx = log,
    };
    struct noise_handshake *hs = NULL;
    ck_assert_int_eq(noise_handshake_create(&cfg, &hs), TR_OK);
    return hs;
}

/* A fresh XX pair with Ed25519-derived statics; `ki`, `kr` receive the keys when not NULL. */
static void xx_pair(struct peer *ini, struct peer *rsp, struct noise_keypair *ki,
                    struct noise_keypair *kr)
{
    struct noise_keypair a, b;
    ed_derived_keypair(&a);
    ed_derived_keypair(&b);
    ini->hs = hs_new(NOISE_PATTERN_XX, 1, &a, NULL, "treaty", NULL);
    rsp->hs = hs_new(NOISE_PATTERN_XX, 0, &b, NULL, "treaty", NULL);
    ini->t = rsp->t = NULL;
    if (ki != NULL)
        *ki = a;
    if (kr != NULL)
        *kr = b;
}

/* Delivers handshake message number `upto` (and all before it), writing a fixed payload; message
 * `upto` is returned in msg instead of being read. */
static size_t hs_run_until(struct peer *ini, struct peer *rsp, size_t upto, uint8_t *msg)
{
    static const uint8_t pl[10] = "handshake";
    static uint8_t got[BIG];
    size_t len = 0, got_len = 0;
    for (size_t j = 0; j <= upto; j++) {
        struct peer *tx = j % 2 == 0 ? ini : rsp, *rx = j % 2 == 0 ? rsp : ini;
        ck_assert_int_eq(noise_handshake_write_message(tx->hs, pl, sizeof pl, msg, BIG, &len),
                         TR_OK);
        if (j < upto)
            ck_assert_int_eq(noise_handshake_read_message(rx->hs, msg, len, got, BIG, &got_len),
                             TR_OK);
    }
    return len;
}

/* Runs the whole handshake and splits both sides. */
static void hs_complete(struct peer *ini, struct peer *rsp, size_t n_msgs)
{
    static uint8_t msg[BIG], got[BIG];
    size_t len = hs_run_until(ini, rsp, n_msgs - 1, msg), got_len = 0;
    struct peer *rx = (n_msgs - 1) % 2 == 0 ? rsp : ini;
    ck_assert_int_eq(noise_handshake_read_message(rx->hs, msg, len, got, BIG, &got_len), TR_OK);
    ck_assert_int_eq(noise_handshake_action(ini->hs), NOISE_ACTION_SPLIT);
    ck_assert_int_eq(noise_handshake_action(rsp->hs), NOISE_ACTION_SPLIT);
    ck_assert_int_eq(noise_handshake_split(ini->hs, &ini->t), TR_OK);
    ck_assert_int_eq(noise_handshake_split(rsp->hs, &rsp->t), TR_OK);
}

static void transport_roundtrip(struct noise_transport *tx, struct noise_transport *rx, size_t len)
{
    static uint8_t pl[BIG], ct[BIG], got[BIG];
    size_t ct_len = 0, got_len = 0;
    for (size_t i = 0; i < len; i++)
        pl[i] = (uint8_t)(i * 7 + len);
    ck_assert_int_eq(noise_transport_encrypt(tx, pl, len, ct, BIG, &ct_len), TR_OK);
    ck_assert_uint_eq(ct_len, len + NOISE_TAG_LEN);
    ck_assert_int_eq(noise_transport_decrypt(rx, ct, ct_len, got, BIG, &got_len), TR_OK);
    ck_assert_uint_eq(got_len, len);
    if (len > 0)
        ck_assert_mem_eq(got, pl, len);
}

START_TEST(test_ed25519_derivation)
{
    uint8_t ed_pk[32], ed_sk[64], x_sk[32], x_pk[32], pk2[32], base[32];
    ck_assert_int_eq(crypto_sign_keypair(ed_pk, ed_sk), 0);
    ck_assert_int_eq(noise_keypair_from_ed25519(ed_sk, x_sk, x_pk), TR_OK);
    ck_assert_int_eq(noise_pubkey_from_ed25519(ed_pk, pk2), TR_OK);
    crypto_scalarmult_base(base, x_sk);
    ck_assert_mem_eq(x_pk, pk2, 32);
    ck_assert_mem_eq(x_pk, base, 32);
    /* y = 2 has no x on the curve: not a valid Ed25519 public key. */
    uint8_t bad[32] = {2};
    ck_assert_int_eq(noise_pubkey_from_ed25519(bad, pk2), TR_ECRYPTO);
}
END_TEST

START_TEST(test_xx_ed25519_peers)
{
    struct noise_keypair a, b;
    ed_derived_keypair(&a);
    ed_derived_keypair(&b);
    struct accept_log la = {0}, lb = {0};
    struct peer ini = {hs_new(NOISE_PATTERN_XX, 1, &a, NULL, "treaty/1", &la), NULL};
    struct peer rsp = {hs_new(NOISE_PATTERN_XX, 0, &b, NULL, "treaty/1", &lb), NULL};
    uint8_t k[32], h1[32], h2[32];
    ck_assert_int_eq(noise_handshake_remote_static(rsp.hs, k), TR_ENOTFOUND);
    hs_complete(&ini, &rsp, 3);
    ck_assert_int_eq(la.calls, 1);
    ck_assert_mem_eq(la.seen, b.pk, 32);
    ck_assert_int_eq(lb.calls, 1);
    ck_assert_mem_eq(lb.seen, a.pk, 32);
    ck_assert_int_eq(noise_handshake_remote_static(ini.hs, k), TR_OK);
    ck_assert_mem_eq(k, b.pk, 32);
    ck_assert_int_eq(noise_handshake_remote_static(rsp.hs, k), TR_OK);
    ck_assert_mem_eq(k, a.pk, 32);
    ck_assert_int_eq(noise_handshake_hash(ini.hs, h1), TR_OK);
    ck_assert_int_eq(noise_handshake_hash(rsp.hs, h2), TR_OK);
    ck_assert_mem_eq(h1, h2, 32);
    ck_assert_int_eq(noise_handshake_action(ini.hs), NOISE_ACTION_DONE);
    for (size_t len = 0; len < 300; len += 13) {
        transport_roundtrip(ini.t, rsp.t, len);
        transport_roundtrip(rsp.t, ini.t, len + 1);
        transport_roundtrip(rsp.t, ini.t, len + 2);
    }
    peer_free(&ini);
    peer_free(&rsp);
}
END_TEST

START_TEST(test_accept_callback_refuses)
{
    struct noise_keypair a, b;
    ed_derived_keypair(&a);
    ed_derived_keypair(&b);
    struct accept_log la = {.refuse = 1};
    struct peer ini = {hs_new(NOISE_PATTERN_XX, 1, &a, NULL, "", &la), NULL};
    struct peer rsp = {hs_new(NOISE_PATTERN_XX, 0, &b, NULL, "", NULL), NULL};
    static uint8_t msg[BIG], got[BIG];
    size_t len = hs_run_until(&ini, &rsp, 1, msg), got_len = 0;
    ck_assert_int_eq(noise_handshake_read_message(ini.hs, msg, len, got, BIG, &got_len),
                     TR_EDENIED);
    ck_assert_int_eq(la.calls, 1);
    ck_assert_mem_eq(la.seen, b.pk, 32);
    ck_assert_int_eq(noise_handshake_action(ini.hs), NOISE_ACTION_FAILED);
    ck_assert_int_eq(noise_handshake_write_message(ini.hs, NULL, 0, msg, BIG, &len), TR_ECLOSED);
    peer_free(&ini);
    peer_free(&rsp);
}
END_TEST

/* ---- tampering ---- */

static void assert_hs_dead(struct noise_handshake *hs)
{
    static uint8_t buf[BIG];
    size_t len = 0;
    struct noise_transport *t = NULL;
    uint8_t h[32];
    ck_assert_int_eq(noise_handshake_action(hs), NOISE_ACTION_FAILED);
    ck_assert_int_eq(noise_handshake_write_message(hs, NULL, 0, buf, BIG, &len), TR_ECLOSED);
    ck_assert_int_eq(noise_handshake_read_message(hs, buf, 64, buf, BIG, &len), TR_ECLOSED);
    ck_assert_int_eq(noise_handshake_split(hs, &t), TR_ECLOSED);
    ck_assert_int_eq(noise_handshake_hash(hs, h), TR_EINVAL);
    ck_assert_int_eq(noise_handshake_remote_static(hs, h), TR_ENOTFOUND);
}

/* Reads message `k` of a fresh handshake (`pat`) after `mutate(msg, &len, arg)`; returns the
 * reader's result, and when it failed checks the reader is dead. */
typedef void (*mutate_fn)(uint8_t *msg, size_t *len, size_t arg);

static int hs_read_mutated(enum noise_pattern pat, size_t k, mutate_fn mutate, size_t arg)
{
    struct noise_keypair a, b;
    ed_derived_keypair(&a);
    ed_derived_keypair(&b);
    int xx = pat == NOISE_PATTERN_XX;
    struct peer ini = {hs_new(pat, 1, &a, xx ? NULL : b.pk, "p", NULL), NULL};
    struct peer rsp = {hs_new(pat, 0, &b, NULL, "p", NULL), NULL};
    static uint8_t msg[BIG], got[BIG];
    size_t len = hs_run_until(&ini, &rsp, k, msg), got_len = 0;
    mutate(msg, &len, arg);
    struct peer *rx = k % 2 == 0 ? &rsp : &ini;
    int rc = noise_handshake_read_message(rx->hs, msg, len, got, BIG, &got_len);
    if (rc != TR_OK)
        assert_hs_dead(rx->hs);
    peer_free(&ini);
    peer_free(&rsp);
    return rc;
}

static void flip_byte(uint8_t *msg, size_t *len, size_t i)
{
    ck_assert_uint_lt(i, *len);
    msg[i] ^= 0xff;
}

static void truncate_to(uint8_t *msg, size_t *len, size_t n)
{
    (void)msg;
    ck_assert_uint_lt(n, *len);
    *len = n;
}

static void append_byte(uint8_t *msg, size_t *len, size_t c)
{
    msg[(*len)++] = (uint8_t)c;
}

/* Lengths with the 10-byte payload of hs_run_until. */
struct authed_msg {
    enum noise_pattern pat;
    size_t k, len, overhead;
};

static const struct authed_msg authed_msgs[] = {
    {NOISE_PATTERN_XX, 1, 32 + 48 + 26, 32 + 48 + 16}, {NOISE_PATTERN_XX, 2, 48 + 26, 48 + 16},
    {NOISE_PATTERN_IK, 0, 32 + 48 + 26, 32 + 48 + 16}, {NOISE_PATTERN_IK, 1, 32 + 26, 32 + 16},
    {NOISE_PATTERN_XK, 0, 32 + 26, 32 + 16},           {NOISE_PATTERN_XK, 1, 32 + 26, 32 + 16},
    {NOISE_PATTERN_XK, 2, 48 + 26, 48 + 16},
};

/* Every byte of every authenticated handshake message is covered: a flip fails the read. */
START_TEST(test_handshake_flip_each_byte)
{
    const struct authed_msg *m = &authed_msgs[_i];
    for (size_t i = 0; i < m->len; i++)
        ck_assert_msg(hs_read_mutated(m->pat, m->k, flip_byte, i) == TR_ECRYPTO,
                      "pattern %d message %zu byte %zu", (int)m->pat, m->k, i);
}
END_TEST

START_TEST(test_handshake_truncate_and_extend)
{
    const struct authed_msg *m = &authed_msgs[_i];
    for (size_t n = 0; n < m->len; n++)
        ck_assert_int_eq(hs_read_mutated(m->pat, m->k, truncate_to, n),
                         n < m->overhead ? TR_EPARSE : TR_ECRYPTO);
    ck_assert_int_eq(hs_read_mutated(m->pat, m->k, append_byte, 0), TR_ECRYPTO);
}
END_TEST

/* XX's first message is cleartext by design (§7.5); a flip there is caught when the initiator
 * reads the reply, whose keys and AD then differ. */
START_TEST(test_xx_first_message_tamper_caught_next)
{
    static uint8_t msg[BIG], got[BIG];
    for (size_t i = 0; i < 32 + 10; i++) {
        struct peer ini, rsp;
        xx_pair(&ini, &rsp, NULL, NULL);
        size_t len = hs_run_until(&ini, &rsp, 0, msg), got_len = 0;
        msg[i] ^= 0xff;
        ck_assert_int_eq(noise_handshake_read_message(rsp.hs, msg, len, got, BIG, &got_len), TR_OK);
        int rc = noise_handshake_write_message(rsp.hs, NULL, 0, msg, BIG, &len);
        if (rc == TR_OK)
            rc = noise_handshake_read_message(ini.hs, msg, len, got, BIG, &got_len);
        ck_assert_msg(rc == TR_ECRYPTO, "byte %zu: %s", i, tr_err_name(rc));
        peer_free(&ini);
        peer_free(&rsp);
    }
}
END_TEST

START_TEST(test_wrong_prologue)
{
    static uint8_t msg[BIG], got[BIG];
    struct noise_keypair a, b;
    ed_derived_keypair(&a);
    ed_derived_keypair(&b);
    struct peer ini = {hs_new(NOISE_PATTERN_XX, 1, &a, NULL, "treaty/1", NULL), NULL};
    struct peer rsp = {hs_new(NOISE_PATTERN_XX, 0, &b, NULL, "treaty/2", NULL), NULL};
    size_t len = hs_run_until(&ini, &rsp, 1, msg), got_len = 0;
    ck_assert_int_eq(noise_handshake_read_message(ini.hs, msg, len, got, BIG, &got_len),
                     TR_ECRYPTO);
    assert_hs_dead(ini.hs);
    peer_free(&ini);
    peer_free(&rsp);
    /* IK authenticates its first message, so the responder notices at once. */
    ini.hs = hs_new(NOISE_PATTERN_IK, 1, &a, b.pk, "treaty/1", NULL);
    rsp.hs = hs_new(NOISE_PATTERN_IK, 0, &b, NULL, "treaty/2", NULL);
    len = hs_run_until(&ini, &rsp, 0, msg);
    ck_assert_int_eq(noise_handshake_read_message(rsp.hs, msg, len, got, BIG, &got_len),
                     TR_ECRYPTO);
    assert_hs_dead(rsp.hs);
    peer_free(&ini);
    peer_free(&rsp);
}
END_TEST

/* crypto_scalarmult returns -1 for an all-zero result (a low-order point); that is an error. */
START_TEST(test_low_order_keys_rejected)
{
    static const uint8_t low[2][32] = {{0}, {1}};
    static uint8_t msg[BIG], got[BIG];
    struct noise_keypair a;
    ed_derived_keypair(&a);
    for (size_t i = 0; i < 2; i++) {
        struct noise_handshake *hs = hs_new(NOISE_PATTERN_XK, 1, &a, low[i], "", NULL);
        size_t len = 0, got_len = 0;
        ck_assert_int_eq(noise_handshake_write_message(hs, NULL, 0, msg, BIG, &len), TR_ECRYPTO);
        assert_hs_dead(hs);
        noise_handshake_destroy(hs);
        /* An XX responder sent a low-order ephemeral: its reply's ee fails. */
        struct peer ini, rsp;
        xx_pair(&ini, &rsp, NULL, NULL);
        len = hs_run_until(&ini, &rsp, 0, msg);
        memcpy(msg, low[i], 32);
        ck_assert_int_eq(noise_handshake_read_message(rsp.hs, msg, len, got, BIG, &got_len), TR_OK);
        ck_assert_int_eq(noise_handshake_write_message(rsp.hs, NULL, 0, msg, BIG, &len),
                         TR_ECRYPTO);
        assert_hs_dead(rsp.hs);
        peer_free(&ini);
        peer_free(&rsp);
    }
}
END_TEST

/* ---- transport faults ---- */

static void assert_transport_dead(struct noise_transport *t)
{
    uint8_t buf[64];
    size_t len = 0;
    ck_assert(noise_transport_is_closed(t));
    ck_assert_int_eq(noise_transport_encrypt(t, buf, 1, buf, sizeof buf, &len), TR_ECLOSED);
    ck_assert_int_eq(noise_transport_decrypt(t, buf, 20, buf, sizeof buf, &len), TR_ECLOSED);
}

/* A fresh link; frames f1 and f2 from the initiator, not yet read by the responder. */
struct link {
    struct peer ini, rsp;
    uint8_t f1[64], f2[64];
    size_t f1_len, f2_len;
};

static void link_open(struct link *l)
{
    xx_pair(&l->ini, &l->rsp, NULL, NULL);
    hs_complete(&l->ini, &l->rsp, 3);
    ck_assert_int_eq(noise_transport_encrypt(l->ini.t, (const uint8_t *)"first frame", 11, l->f1,
                                             sizeof l->f1, &l->f1_len),
                     TR_OK);
    ck_assert_int_eq(noise_transport_encrypt(l->ini.t, (const uint8_t *)"second", 6, l->f2,
                                             sizeof l->f2, &l->f2_len),
                     TR_OK);
}

/* The receiver rejects frame (msg,len), then is dead: even the genuine frames are refused. */
static void link_expect_fail(struct link *l, const uint8_t *msg, size_t len, int want)
{
    uint8_t got[64];
    size_t got_len = 0;
    ck_assert_int_eq(noise_transport_decrypt(l->rsp.t, msg, len, got, sizeof got, &got_len), want);
    assert_transport_dead(l->rsp.t);
    ck_assert_int_eq(noise_transport_decrypt(l->rsp.t, l->f1, l->f1_len, got, sizeof got, &got_len),
                     TR_ECLOSED);
    peer_free(&l->ini);
    peer_free(&l->rsp);
}

START_TEST(test_transport_tampered)
{
    struct link l;
    link_open(&l);
    size_t n = l.f1_len;
    link_expect_fail(&l, l.f1, 0, TR_EPARSE);
    for (size_t i = 0; i < n; i++) {
        link_open(&l);
        uint8_t bad[64];
        memcpy(bad, l.f1, l.f1_len);
        bad[i] ^= 0x01;
        link_expect_fail(&l, bad, l.f1_len, TR_ECRYPTO);
    }
}
END_TEST

START_TEST(test_transport_truncated)
{
    for (size_t cut = 0; cut < 27; cut++) {
        struct link l;
        link_open(&l);
        ck_assert_uint_eq(l.f1_len, 27);
        link_expect_fail(&l, l.f1, cut, cut < NOISE_TAG_LEN ? TR_EPARSE : TR_ECRYPTO);
    }
}
END_TEST

START_TEST(test_transport_replayed)
{
    struct link l;
    link_open(&l);
    uint8_t got[64];
    size_t got_len = 0;
    ck_assert_int_eq(noise_transport_decrypt(l.rsp.t, l.f1, l.f1_len, got, sizeof got, &got_len),
                     TR_OK);
    ck_assert_mem_eq(got, "first frame", 11);
    link_expect_fail(&l, l.f1, l.f1_len, TR_ECRYPTO);
}
END_TEST

START_TEST(test_transport_reordered)
{
    struct link l;
    link_open(&l);
    link_expect_fail(&l, l.f2, l.f2_len, TR_ECRYPTO);
    /* A frame reflected back to its own sender is refused too (its receive key differs). */
    link_open(&l);
    uint8_t back[64];
    size_t back_len = 0;
    ck_assert_int_eq(noise_transport_encrypt(l.rsp.t, (const uint8_t *)"first frame", 11, back,
                                             sizeof back, &back_len),
                     TR_OK);
    link_expect_fail(&l, back, back_len, TR_ECRYPTO);
}
END_TEST

/* ---- limits ---- */

START_TEST(test_handshake_length_limits)
{
    static uint8_t pl[BIG], msg[BIG], got[BIG];
    struct peer ini, rsp;
    xx_pair(&ini, &rsp, NULL, NULL);
    size_t len = 0, got_len = 0;
    /* XX message 1 is e (32 bytes) and a cleartext payload. */
    ck_assert_int_eq(
        noise_handshake_write_message(ini.hs, pl, NOISE_MAX_MSG_LEN - 32 + 1, msg, BIG, &len),
        TR_ELIMIT);
    ck_assert_int_eq(noise_handshake_write_message(ini.hs, pl, 10, msg, 32 + 9, &len), TR_EINVAL);
    ck_assert_int_eq(noise_handshake_action(ini.hs), NOISE_ACTION_WRITE);
    ck_assert_int_eq(
        noise_handshake_write_message(ini.hs, pl, NOISE_MAX_MSG_LEN - 32, msg, BIG, &len), TR_OK);
    ck_assert_uint_eq(len, NOISE_MAX_MSG_LEN);
    ck_assert_int_eq(noise_handshake_read_message(rsp.hs, msg, len, got, len - 33, &got_len),
                     TR_EINVAL);
    ck_assert_int_eq(noise_handshake_read_message(rsp.hs, msg, len, got, BIG, &got_len), TR_OK);
    ck_assert_uint_eq(got_len, NOISE_MAX_MSG_LEN - 32);
    /* Message 2 carries e, encrypted s and an encrypted payload: 96 bytes besides the payload. */
    size_t max2 = NOISE_MAX_MSG_LEN - 96;
    ck_assert_int_eq(noise_handshake_write_message(rsp.hs, pl, max2 + 1, msg, BIG, &len),
                     TR_ELIMIT);
    ck_assert_int_eq(noise_handshake_write_message(rsp.hs, pl, max2, msg, BIG, &len), TR_OK);
    ck_assert_uint_eq(len, NOISE_MAX_MSG_LEN);
    ck_assert_int_eq(noise_handshake_read_message(ini.hs, msg, len, got, BIG, &got_len), TR_OK);
    ck_assert_uint_eq(got_len, max2);
    /* The initiator's next read (out of turn) is refused without harm; an oversized message to
     * the responder ends it. */
    ck_assert_int_eq(noise_handshake_read_message(ini.hs, msg, 64, got, BIG, &got_len), TR_EINVAL);
    ck_assert_int_eq(
        noise_handshake_read_message(rsp.hs, msg, NOISE_MAX_MSG_LEN + 1, got, BIG, &got_len),
        TR_ELIMIT);
    assert_hs_dead(rsp.hs);
    peer_free(&ini);
    peer_free(&rsp);
}
END_TEST

START_TEST(test_transport_length_limits)
{
    static uint8_t pl[BIG], ct[BIG], got[BIG];
    struct peer ini, rsp;
    xx_pair(&ini, &rsp, NULL, NULL);
    hs_complete(&ini, &rsp, 3);
    size_t len = 0, got_len = 0;
    ck_assert_int_eq(noise_transport_encrypt(ini.t, pl, NOISE_MAX_PAYLOAD_LEN + 1, ct, BIG, &len),
                     TR_ELIMIT);
    ck_assert_int_eq(noise_transport_encrypt(ini.t, pl, 10, ct, 10 + NOISE_TAG_LEN - 1, &len),
                     TR_EINVAL);
    ck_assert(!noise_transport_is_closed(ini.t));
    transport_roundtrip(ini.t, rsp.t, NOISE_MAX_PAYLOAD_LEN);
    transport_roundtrip(ini.t, rsp.t, 0);
    ck_assert_int_eq(noise_transport_encrypt(ini.t, pl, 5, ct, BIG, &len), TR_OK);
    ck_assert_int_eq(noise_transport_decrypt(rsp.t, ct, len, got, 4, &got_len), TR_EINVAL);
    ck_assert_int_eq(noise_transport_decrypt(rsp.t, ct, len, got, 5, &got_len), TR_OK);
    ck_assert_int_eq(noise_transport_decrypt(rsp.t, ct, NOISE_MAX_MSG_LEN + 1, got, BIG, &got_len),
                     TR_ELIMIT);
    assert_transport_dead(rsp.t);
    peer_free(&ini);
    peer_free(&rsp);
}
END_TEST

/* Nonce 2^64-1 is reserved (§5.1): the last usable nonce works, the next call ends the link. */
START_TEST(test_nonce_exhaustion)
{
    struct peer ini, rsp;
    xx_pair(&ini, &rsp, NULL, NULL);
    hs_complete(&ini, &rsp, 3);
    noise_transport_set_nonces_for_test(ini.t, UINT64_MAX - 1, 0);
    noise_transport_set_nonces_for_test(rsp.t, 0, UINT64_MAX - 1);
    transport_roundtrip(ini.t, rsp.t, 7);
    uint8_t ct[64], got[64];
    size_t len = 0;
    ck_assert_int_eq(noise_transport_encrypt(ini.t, ct, 7, ct, sizeof ct, &len), TR_ELIMIT);
    assert_transport_dead(ini.t);
    memset(ct, 0, sizeof ct);
    ck_assert_int_eq(noise_transport_decrypt(rsp.t, ct, 23, got, sizeof got, &len), TR_ELIMIT);
    assert_transport_dead(rsp.t);
    peer_free(&ini);
    peer_free(&rsp);
}
END_TEST

/* Rekey (§11.3): both ends rekeying a direction keep talking; one end alone breaks the link.
 * No known-answer vector covers REKEY, so this checks agreement and key change only. */
START_TEST(test_rekey)
{
    struct peer ini, rsp;
    xx_pair(&ini, &rsp, NULL, NULL);
    hs_complete(&ini, &rsp, 3);
    transport_roundtrip(ini.t, rsp.t, 20);
    ck_assert_int_eq(noise_transport_rekey_send(ini.t), TR_OK);
    ck_assert_int_eq(noise_transport_rekey_recv(rsp.t), TR_OK);
    transport_roundtrip(ini.t, rsp.t, 21);
    transport_roundtrip(rsp.t, ini.t, 22);
    ck_assert_int_eq(noise_transport_rekey_send(rsp.t), TR_OK);
    uint8_t ct[64], got[64];
    size_t len = 0, got_len = 0;
    ck_assert_int_eq(noise_transport_encrypt(rsp.t, ct, 5, ct, sizeof ct, &len), TR_OK);
    ck_assert_int_eq(noise_transport_decrypt(ini.t, ct, len, got, sizeof got, &got_len),
                     TR_ECRYPTO);
    assert_transport_dead(ini.t);
    ck_assert_int_eq(noise_transport_rekey_send(ini.t), TR_ECLOSED);
    ck_assert_int_eq(noise_transport_rekey_recv(ini.t), TR_ECLOSED);
    peer_free(&ini);
    peer_free(&rsp);
}
END_TEST

/* ---- misuse and allocation failure ---- */

START_TEST(test_config_misuse)
{
    struct noise_keypair a;
    ed_derived_keypair(&a);
    struct noise_handshake *hs = NULL;
    struct noise_config cfg = {
        .pattern = NOISE_PATTERN_XK, .role = NOISE_ROLE_INITIATOR, .local_static = &a};
    ck_assert_int_eq(noise_handshake_create(&cfg, &hs), TR_EINVAL); /* XK needs rs */
    cfg.pattern = NOISE_PATTERN_NN;
    ck_assert_int_eq(noise_handshake_create(&cfg, &hs), TR_EINVAL); /* NN takes no static */
    cfg.pattern = NOISE_PATTERN_XX;
    cfg.local_static = NULL;
    ck_assert_int_eq(noise_handshake_create(&cfg, &hs), TR_EINVAL); /* XX needs s */
    cfg.local_static = &a;
    cfg.remote_static = a.pk;
    ck_assert_int_eq(noise_handshake_create(&cfg, &hs), TR_EINVAL); /* XX has no pre-message */
    cfg.remote_static = NULL;
    cfg.prologue_len = 3;
    ck_assert_int_eq(noise_handshake_create(&cfg, &hs), TR_EINVAL);
    cfg.prologue_len = 0;
    cfg.pattern = (enum noise_pattern)9;
    ck_assert_int_eq(noise_handshake_create(&cfg, &hs), TR_EINVAL);
    ck_assert_ptr_null(hs);
}
END_TEST

START_TEST(test_order_misuse)
{
    struct noise_keypair a;
    ed_derived_keypair(&a);
    struct peer ini, rsp;
    xx_pair(&ini, &rsp, NULL, NULL);
    static uint8_t msg[BIG];
    size_t len = 0;
    uint8_t h[32];
    struct noise_transport *t = NULL;
    ck_assert_int_eq(noise_handshake_action(rsp.hs), NOISE_ACTION_READ);
    ck_assert_int_eq(noise_handshake_write_message(rsp.hs, NULL, 0, msg, BIG, &len), TR_EINVAL);
    ck_assert_int_eq(noise_handshake_split(ini.hs, &t), TR_EINVAL);
    ck_assert_int_eq(noise_handshake_hash(ini.hs, h), TR_EINVAL);
    ck_assert(!noise_handshake_is_complete(ini.hs));
    ck_assert_int_eq(noise_handshake_write_message(ini.hs, NULL, 0, msg, BIG, &len), TR_OK);
    ck_assert_int_eq(noise_handshake_set_ephemeral_for_test(ini.hs, a.sk), TR_EINVAL);
    noise_handshake_destroy(ini.hs);
    noise_handshake_destroy(rsp.hs);
    /* After the split the handshake still answers hash and remote static, nothing else. */
    xx_pair(&ini, &rsp, NULL, NULL);
    hs_complete(&ini, &rsp, 3);
    ck_assert(noise_handshake_is_complete(ini.hs));
    ck_assert_int_eq(noise_handshake_split(ini.hs, &t), TR_EINVAL);
    ck_assert_int_eq(noise_handshake_hash(ini.hs, h), TR_OK);
    ck_assert_int_eq(noise_handshake_write_message(ini.hs, NULL, 0, msg, BIG, &len), TR_EINVAL);
    peer_free(&ini);
    peer_free(&rsp);
    noise_handshake_destroy(NULL);
    noise_transport_destroy(NULL);
}
END_TEST

START_TEST(test_allocation_failure)
{
    struct noise_keypair a;
    ed_derived_keypair(&a);
    struct noise_config cfg = {
        .pattern = NOISE_PATTERN_XX, .role = NOISE_ROLE_INITIATOR, .local_static = &a};
    struct noise_handshake *hs = NULL;
    tr_alloc_fail_after(1);
    ck_assert_int_eq(noise_handshake_create(&cfg, &hs), TR_ENOMEM);
    tr_alloc_fail_reset();
    ck_assert_ptr_null(hs);

    struct peer ini, rsp;
    xx_pair(&ini, &rsp, NULL, NULL);
    static uint8_t msg[BIG], got[BIG];
    size_t len = hs_run_until(&ini, &rsp, 2, msg), got_len = 0;
    ck_assert_int_eq(noise_handshake_read_message(rsp.hs, msg, len, got, BIG, &got_len), TR_OK);
    ck_assert_int_eq(noise_handshake_split(ini.hs, &ini.t), TR_OK);
    tr_alloc_fail_after(1);
    ck_assert_int_eq(noise_handshake_split(rsp.hs, &rsp.t), TR_ENOMEM);
    tr_alloc_fail_reset();
    ck_assert_ptr_null(rsp.t);
    ck_assert_int_eq(noise_handshake_action(rsp.hs), NOISE_ACTION_SPLIT);
    ck_assert_int_eq(noise_handshake_split(rsp.hs, &rsp.t), TR_OK);
    transport_roundtrip(ini.t, rsp.t, 33);
    transport_roundtrip(rsp.t, ini.t, 44);
    peer_free(&ini);
    peer_free(&rsp);
}
END_TEST

Suite *suite_noise(void)
{
    Suite *s = suite_create("noise");
    TCase *tc = tcase_create("vectors");
    tcase_add_test(tc, test_vector_file_has_four_patterns);
    tcase_add_loop_test(tc, test_vector, 0, 4);
    suite_add_tcase(s, tc);
    tc = tcase_create("handshake");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_ed25519_derivation);
    tcase_add_test(tc, test_xx_ed25519_peers);
    tcase_add_test(tc, test_accept_callback_refuses);
    tcase_add_loop_test(tc, test_handshake_flip_each_byte, 0,
                        (int)(sizeof authed_msgs / sizeof authed_msgs[0]));
    tcase_add_loop_test(tc, test_handshake_truncate_and_extend, 0,
                        (int)(sizeof authed_msgs / sizeof authed_msgs[0]));
    tcase_add_test(tc, test_xx_first_message_tamper_caught_next);
    tcase_add_test(tc, test_wrong_prologue);
    tcase_add_test(tc, test_low_order_keys_rejected);
    tcase_add_test(tc, test_handshake_length_limits);
    tcase_add_test(tc, test_config_misuse);
    tcase_add_test(tc, test_order_misuse);
    tcase_add_test(tc, test_allocation_failure);
    suite_add_tcase(s, tc);
    tc = tcase_create("transport");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_transport_tampered);
    tcase_add_test(tc, test_transport_truncated);
    tcase_add_test(tc, test_transport_replayed);
    tcase_add_test(tc, test_transport_reordered);
    tcase_add_test(tc, test_transport_length_limits);
    tcase_add_test(tc, test_nonce_exhaustion);
    tcase_add_test(tc, test_rekey);
    suite_add_tcase(s, tc);
    return s;
}
