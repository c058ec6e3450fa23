/* noise.c — the Noise engine of noise.h: CipherState, SymmetricState and HandshakeState of
 * Noise rev 34 §5 over X25519, ChaCha20-Poly1305 (IETF) and SHA-256 from libsodium.
 * Invariant: every secret lives inside a struct that is wiped with sodium_memzero when the struct
 * dies or fails; a failed state keeps only its HS_FAILED / closed mark. Called by node/net for peer
 * links. */
#include "node/noise.h"

#include "common/alloc.h"
#include "common/err.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>

#define NOISE_NONCE_MAX  UINT64_MAX /* reserved for rekey, never used to encrypt (§5.1) */
#define NOISE_MAX_TOKENS 6
#define NOISE_MAX_MSGS   3

/* Message tokens of Noise rev 34 §7.1; END closes a message's list. */
enum noise_token { TOK_END, TOK_E, TOK_S, TOK_EE, TOK_ES, TOK_SE, TOK_SS };

struct noise_pattern_def {
    const char *name;   /* the pattern's part of the protocol name (§8) */
    int pre_resp_s;     /* pre-message "<- s": the responder's static key is known (§7.1) */
    int s_sent_by_init; /* the initiator sends its static key ("s" in an initiator message) */
    int s_sent_by_resp;
    size_t n_msgs;
    enum noise_token msgs[NOISE_MAX_MSGS][NOISE_MAX_TOKENS];
};

/* Token lists of Noise rev 34 §7.5; message i is sent by the initiator when i is even. */
static const struct noise_pattern_def noise_patterns[] = {
    [NOISE_PATTERN_NN] = {"NN", 0, 0, 0, 2, {{TOK_E}, {TOK_E, TOK_EE}}},
    [NOISE_PATTERN_XK] = {"XK", 1, 1, 0, 3, {{TOK_E, TOK_ES}, {TOK_E, TOK_EE}, {TOK_S, TOK_SE}}},
    [NOISE_PATTERN_IK] =
        {"IK", 1, 1, 0, 2, {{TOK_E, TOK_ES, TOK_S, TOK_SS}, {TOK_E, TOK_EE, TOK_SE}}},
    [NOISE_PATTERN_XX] =
        {"XX", 0, 1, 1, 3, {{TOK_E}, {TOK_E, TOK_EE, TOK_S, TOK_ES}, {TOK_S, TOK_SE}}},
};

/* CipherState (Noise rev 34 §5.1). */
struct noise_cipher {
    uint8_t k[crypto_aead_chacha20poly1305_ietf_KEYBYTES];
    uint64_t n;
    int has_key;
};

/* SymmetricState (Noise rev 34 §5.2). */
struct noise_symmetric {
    struct noise_cipher cs;
    uint8_t ck[NOISE_HASH_LEN];
    uint8_t h[NOISE_HASH_LEN];
};

enum noise_hs_state { HS_RUNNING, HS_COMPLETE, HS_SPLIT, HS_FAILED };

struct noise_handshake {
    enum noise_hs_state state;
    const struct noise_pattern_def *pat;
    int initiator;
    size_t msg_index; /* next message of the pattern to write or read */
    struct noise_symmetric sym;
    struct noise_keypair s, e;
    int has_e, fixed_e;
    uint8_t rs[NOISE_KEY_LEN], re[NOISE_KEY_LEN];
    int has_rs;
    noise_accept_fn accept;
    void *accept_ctx;
};

struct noise_transport {
    struct noise_cipher send, recv;
    int closed;
};

/* ---- CipherState (§5.1) with the ChaChaPoly functions of §12.3 ---- */

/* The 96-bit nonce of §12.3: 32 zero bits, then n as a little-endian 64-bit integer. */
static void noise_nonce_encode(uint64_t n, uint8_t out[crypto_aead_chacha20poly1305_ietf_NPUBBYTES])
{
    memset(out, 0, 4);
    for (int i = 0; i < 8; i++)
        out[4 + i] = (uint8_t)(n >> (8 * i));
}

/* EncryptWithAd: without a key the plaintext passes through (§5.1). `out` holds len (+ tag). */
static int noise_cipher_encrypt(struct noise_cipher *c, const uint8_t *ad, size_t ad_len,
                                const uint8_t *in, size_t len, uint8_t *out)
{
    if (!c->has_key) {
        if (len > 0)
            memmove(out, in, len);
        return TR_OK;
    }
    if (c->n == NOISE_NONCE_MAX)
        return TR_ELIMIT;
    uint8_t nonce[crypto_aead_chacha20poly1305_ietf_NPUBBYTES];
    noise_nonce_encode(c->n, nonce);
    unsigned long long clen = 0;
    crypto_aead_chacha20poly1305_ietf_encrypt(out, &clen, in, len, ad, ad_len, NULL, nonce, c->k);
    c->n++;
    return TR_OK;
}

/* DecryptWithAd: `len` includes the tag when a key is set; n advances only on success (§5.1). */
static int noise_cipher_decrypt(struct noise_cipher *c, const uint8_t *ad, size_t ad_len,
                                const uint8_t *in, size_t len, uint8_t *out)
{
    if (!c->has_key) {
        if (len > 0)
            memmove(out, in, len);
        return TR_OK;
    }
    if (c->n == NOISE_NONCE_MAX)
        return TR_ELIMIT;
    TR_ASSERT(len >= NOISE_TAG_LEN);
    uint8_t nonce[crypto_aead_chacha20poly1305_ietf_NPUBBYTES];
    noise_nonce_encode(c->n, nonce);
    unsigned long long mlen = 0;
    if (crypto_aead_chacha20poly1305_ietf_decrypt(out, &mlen, NULL, in, len, ad, ad_len, nonce,
                                                  c->k) != 0)
        return TR_ECRYPTO;
    c->n++;
    return TR_OK;
}

/* ---- SymmetricState (§5.2) with HKDF of §4.3 over SHA-256 (§12.5) ---- */

static void noise_hmac(const uint8_t key[NOISE_HASH_LEN], const uint8_t *a, size_t a_len,
                       const uint8_t *b, size_t b_len, uint8_t out[NOISE_HASH_LEN])
{
    crypto_auth_hmacsha256_state st;
    crypto_auth_hmacsha256_init(&st, key, NOISE_HASH_LEN);
    crypto_auth_hmacsha256_update(&st, a, a_len);
    crypto_auth_hmacsha256_update(&st, b, b_len);
    crypto_auth_hmacsha256_final(&st, out);
    sodium_memzero(&st, sizeof st);
}

/* HKDF(ck, ikm) with two outputs (§4.3): the RFC 5869 HKDF with ck as salt and empty info. */
static void noise_hkdf2(const uint8_t ck[NOISE_HASH_LEN], const uint8_t *ikm, size_t ikm_len,
                        uint8_t out1[NOISE_HASH_LEN], uint8_t out2[NOISE_HASH_LEN])
{
    static const uint8_t one = 0x01, two = 0x02;
    uint8_t temp[NOISE_HASH_LEN];
    noise_hmac(ck, ikm, ikm_len, NULL, 0, temp);
    noise_hmac(temp, &one, 1, NULL, 0, out1);
    noise_hmac(temp, out1, NOISE_HASH_LEN, &two, 1, out2);
    sodium_memzero(temp, sizeof temp);
}

static void noise_sym_mix_hash(struct noise_symmetric *sym, const uint8_t *data, size_t len)
{
    crypto_hash_sha256_state st;
    crypto_hash_sha256_init(&st);
    crypto_hash_sha256_update(&st, sym->h, NOISE_HASH_LEN);
    crypto_hash_sha256_update(&st, data, len);
    crypto_hash_sha256_final(&st, sym->h);
}

/* MixKey: a new chaining key and a fresh cipher key with n = 0 (§5.2). HASHLEN is 32, so the
 * second output is used whole. */
static void noise_sym_mix_key(struct noise_symmetric *sym, const uint8_t *ikm, size_t ikm_len)
{
    uint8_t temp_k[NOISE_HASH_LEN];
    noise_hkdf2(sym->ck, ikm, ikm_len, sym->ck, temp_k);
    memcpy(sym->cs.k, temp_k, sizeof sym->cs.k);
    sym->cs.n = 0;
    sym->cs.has_key = 1;
    sodium_memzero(temp_k, sizeof temp_k);
}

/* InitializeSymmetric (§5.2): h is the protocol name padded with zeros when it fits in HASHLEN,
 * else its hash; ck starts equal to h. */
static void noise_sym_init(struct noise_symmetric *sym, const char *pattern_name)
{
    char name[64];
    int n = snprintf(name, sizeof name, "Noise_%s_25519_ChaChaPoly_SHA256", pattern_name);
    TR_ASSERT(n > 0 && (size_t)n < sizeof name);
    memset(sym, 0, sizeof *sym);
    if ((size_t)n <= NOISE_HASH_LEN)
        memcpy(sym->h, name, (size_t)n);
    else
        crypto_hash_sha256(sym->h, (const uint8_t *)name, (unsigned long long)n);
    memcpy(sym->ck, sym->h, NOISE_HASH_LEN);
}

/* EncryptAndHash (§5.2): `out` receives len (+ tag when keyed) bytes. */
static int noise_sym_encrypt_hash(struct noise_symmetric *sym, const uint8_t *in, size_t len,
                                  uint8_t *out)
{
    int rc = noise_cipher_encrypt(&sym->cs, sym->h, NOISE_HASH_LEN, in, len, out);
    if (rc != TR_OK)
        return rc;
    noise_sym_mix_hash(sym, out, len + (sym->cs.has_key ? NOISE_TAG_LEN : 0));
    return TR_OK;
}

/* DecryptAndHash (§5.2): h mixes the ciphertext as received, so it is hashed after decryption
 * succeeded but from the input, which the output may not alias. */
static int noise_sym_decrypt_hash(struct noise_symmetric *sym, const uint8_t *in, size_t len,
                                  uint8_t *out)
{
    int rc = noise_cipher_decrypt(&sym->cs, sym->h, NOISE_HASH_LEN, in, len, out);
    if (rc != TR_OK)
        return rc;
    noise_sym_mix_hash(sym, in, len);
    return TR_OK;
}

/* ---- key derivation from Ed25519 (DESIGN.md §7) ---- */

int noise_keypair_from_ed25519(const uint8_t ed_sk[64], uint8_t x_sk[NOISE_KEY_LEN],
                               uint8_t x_pk[NOISE_KEY_LEN])
{
    /* The public half comes from the Ed25519 public key, exactly as peers compute it from the
     * membership list; crypto_scalarmult_base(x_sk) gives the same point. */
    if (crypto_sign_ed25519_pk_to_curve25519(x_pk, ed_sk + 32) != 0 ||
        crypto_sign_ed25519_sk_to_curve25519(x_sk, ed_sk) != 0) {
        sodium_memzero(x_sk, NOISE_KEY_LEN);
        sodium_memzero(x_pk, NOISE_KEY_LEN);
        return TR_ECRYPTO;
    }
    return TR_OK;
}

int noise_pubkey_from_ed25519(const uint8_t ed_pk[32], uint8_t x_pk[NOISE_KEY_LEN])
{
    if (crypto_sign_ed25519_pk_to_curve25519(x_pk, ed_pk) != 0) {
        memset(x_pk, 0, NOISE_KEY_LEN);
        return TR_ECRYPTO;
    }
    return TR_OK;
}

/* ---- HandshakeState (§5.3) ---- */

static int noise_cfg_check(const struct noise_config *cfg)
{
    if ((unsigned)cfg->pattern >= sizeof noise_patterns / sizeof noise_patterns[0])
        return TR_EINVAL;
    if (cfg->role != NOISE_ROLE_INITIATOR && cfg->role != NOISE_ROLE_RESPONDER)
        return TR_EINVAL;
    if (cfg->prologue == NULL && cfg->prologue_len > 0)
        return TR_EINVAL;
    const struct noise_pattern_def *p = &noise_patterns[cfg->pattern];
    int init = cfg->role == NOISE_ROLE_INITIATOR;
    int needs_s = init ? p->s_sent_by_init : (p->s_sent_by_resp || p->pre_resp_s);
    int needs_rs = init && p->pre_resp_s;
    if ((cfg->local_static != NULL) != needs_s || (cfg->remote_static != NULL) != needs_rs)
        return TR_EINVAL;
    return TR_OK;
}

/* Marks the handshake dead and wipes every secret it held (§5.3: a failed handshake is
 * deleted); only the mark survives so later calls refuse. */
static int noise_hs_fail(struct noise_handshake *hs, int rc)
{
    sodium_memzero(hs, sizeof *hs);
    hs->state = HS_FAILED;
    return rc;
}

int noise_handshake_create(const struct noise_config *cfg, struct noise_handshake **out)
{
    if (sodium_init() < 0)
        return TR_EINTERNAL;
    int rc = noise_cfg_check(cfg);
    if (rc != TR_OK)
        return rc;
    struct noise_handshake *hs = tr_calloc(1, sizeof *hs);
    if (hs == NULL)
        return TR_ENOMEM;
    hs->pat = &noise_patterns[cfg->pattern];
    hs->initiator = cfg->role == NOISE_ROLE_INITIATOR;
    hs->accept = cfg->accept;
    hs->accept_ctx = cfg->accept_ctx;
    noise_sym_init(&hs->sym, hs->pat->name);
    noise_sym_mix_hash(&hs->sym, cfg->prologue, cfg->prologue_len); /* §6 */
    if (cfg->local_static != NULL) {
        hs->s = *cfg->local_static;
    }
    if (cfg->remote_static != NULL) {
        memcpy(hs->rs, cfg->remote_static, NOISE_KEY_LEN);
        hs->has_rs = 1;
    }
    /* Pre-message "<- s" (§7.1): both sides hash the responder's static public key. */
    if (hs->pat->pre_resp_s)
        noise_sym_mix_hash(&hs->sym, hs->initiator ? hs->rs : hs->s.pk, NOISE_KEY_LEN);
    *out = hs;
    return TR_OK;
}

void noise_handshake_destroy(struct noise_handshake *hs)
{
    if (hs == NULL)
        return;
    sodium_memzero(hs, sizeof *hs);
    tr_free(hs);
}

int noise_handshake_set_ephemeral_for_test(struct noise_handshake *hs,
                                           const uint8_t sk[NOISE_KEY_LEN])
{
    if (hs->state != HS_RUNNING || hs->has_e)
        return TR_EINVAL;
    memcpy(hs->e.sk, sk, NOISE_KEY_LEN);
    crypto_scalarmult_base(hs->e.pk, hs->e.sk);
    hs->fixed_e = 1;
    return TR_OK;
}

static int noise_hs_my_turn_to_write(const struct noise_handshake *hs)
{
    return (hs->msg_index % 2 == 0) == (hs->initiator != 0);
}

enum noise_action noise_handshake_action(const struct noise_handshake *hs)
{
    switch (hs->state) {
    case HS_RUNNING:
        return noise_hs_my_turn_to_write(hs) ? NOISE_ACTION_WRITE : NOISE_ACTION_READ;
    case HS_COMPLETE:
        return NOISE_ACTION_SPLIT;
    case HS_SPLIT:
        return NOISE_ACTION_DONE;
    case HS_FAILED:
        break;
    }
    return NOISE_ACTION_FAILED;
}

int noise_handshake_is_complete(const struct noise_handshake *hs)
{
    return hs->state == HS_COMPLETE || hs->state == HS_SPLIT;
}

/* The fixed bytes a message carries besides its payload, and whether its payload is encrypted,
 * from the current key state and the tokens (a DH token always leaves a key set). */
static size_t noise_hs_overhead(const struct noise_handshake *hs, int *payload_keyed)
{
    const enum noise_token *tok = hs->pat->msgs[hs->msg_index];
    int keyed = hs->sym.cs.has_key;
    size_t len = 0;
    for (size_t i = 0; i < NOISE_MAX_TOKENS && tok[i] != TOK_END; i++) {
        if (tok[i] == TOK_E)
            len += NOISE_KEY_LEN;
        else if (tok[i] == TOK_S)
            len += NOISE_KEY_LEN + (keyed ? NOISE_TAG_LEN : 0);
        else
            keyed = 1;
    }
    *payload_keyed = keyed;
    return len + (keyed ? NOISE_TAG_LEN : 0);
}

/* DH(local, remote) then MixKey (§5.3). crypto_scalarmult refuses an all-zero result, which only
 * a low-order remote point gives; Noise allows the zero output, but here it means a forged key. */
static int noise_hs_dh(struct noise_handshake *hs, const struct noise_keypair *local,
                       const uint8_t remote[NOISE_KEY_LEN])
{
    uint8_t shared[crypto_scalarmult_BYTES];
    int bad = crypto_scalarmult(shared, local->sk, remote);
    if (bad == 0)
        noise_sym_mix_key(&hs->sym, shared, sizeof shared);
    sodium_memzero(shared, sizeof shared);
    return bad == 0 ? TR_OK : TR_ECRYPTO;
}

/* The DH tokens: es means initiator's e with responder's s, so each side picks its own key by
 * role (§7.1). The keys were checked present by the pattern's order and the config check. */
static int noise_hs_dh_token(struct noise_handshake *hs, enum noise_token tok)
{
    int init = hs->initiator;
    switch (tok) {
    case TOK_EE:
        return noise_hs_dh(hs, &hs->e, hs->re);
    case TOK_ES:
        return init ? noise_hs_dh(hs, &hs->e, hs->rs) : noise_hs_dh(hs, &hs->s, hs->re);
    case TOK_SE:
        return init ? noise_hs_dh(hs, &hs->s, hs->re) : noise_hs_dh(hs, &hs->e, hs->rs);
    case TOK_SS:
        return noise_hs_dh(hs, &hs->s, hs->rs);
    default:
        TR_ASSERT(0 && "not a DH token");
    }
    return TR_EINTERNAL;
}

/* The "e" token when writing: a fresh ephemeral key pair (or the test's fixed one). */
static void noise_hs_write_e(struct noise_handshake *hs, uint8_t *out)
{
    if (!hs->fixed_e) {
        randombytes_buf(hs->e.sk, NOISE_KEY_LEN);
        crypto_scalarmult_base(hs->e.pk, hs->e.sk);
    }
    hs->has_e = 1;
    memcpy(out, hs->e.pk, NOISE_KEY_LEN);
    noise_sym_mix_hash(&hs->sym, hs->e.pk, NOISE_KEY_LEN);
}

/* After the last message: complete, and the ephemeral secret is no longer needed. */
static void noise_hs_advance(struct noise_handshake *hs)
{
    hs->msg_index++;
    if (hs->msg_index == hs->pat->n_msgs) {
        hs->state = HS_COMPLETE;
        sodium_memzero(&hs->e.sk, sizeof hs->e.sk);
    }
}

static int noise_hs_write_tokens(struct noise_handshake *hs, uint8_t *out, size_t *pos)
{
    const enum noise_token *tok = hs->pat->msgs[hs->msg_index];
    for (size_t i = 0; i < NOISE_MAX_TOKENS && tok[i] != TOK_END; i++) {
        int rc = TR_OK;
        if (tok[i] == TOK_E) {
            noise_hs_write_e(hs, out + *pos);
            *pos += NOISE_KEY_LEN;
        } else if (tok[i] == TOK_S) {
            rc = noise_sym_encrypt_hash(&hs->sym, hs->s.pk, NOISE_KEY_LEN, out + *pos);
            *pos += NOISE_KEY_LEN + (hs->sym.cs.has_key ? NOISE_TAG_LEN : 0);
        } else {
            rc = noise_hs_dh_token(hs, tok[i]);
        }
        if (rc != TR_OK)
            return rc;
    }
    return TR_OK;
}

int noise_handshake_write_message(struct noise_handshake *hs, const uint8_t *payload,
                                  size_t payload_len, uint8_t *out, size_t out_cap, size_t *out_len)
{
    if (hs->state == HS_FAILED)
        return TR_ECLOSED;
    if (hs->state != HS_RUNNING || !noise_hs_my_turn_to_write(hs))
        return TR_EINVAL;
    int keyed = 0;
    size_t overhead = noise_hs_overhead(hs, &keyed);
    if (payload_len > NOISE_MAX_MSG_LEN - overhead)
        return TR_ELIMIT;
    if (out_cap < overhead + payload_len || (payload == NULL && payload_len > 0))
        return TR_EINVAL;
    size_t pos = 0;
    int rc = noise_hs_write_tokens(hs, out, &pos);
    if (rc == TR_OK)
        rc = noise_sym_encrypt_hash(&hs->sym, payload, payload_len, out + pos);
    if (rc != TR_OK)
        return noise_hs_fail(hs, rc);
    *out_len = overhead + payload_len;
    noise_hs_advance(hs);
    return TR_OK;
}

/* The "s" token when reading: decrypt the peer's static key, then ask the membership check
 * before anything else of the message is processed. */
static int noise_hs_read_s(struct noise_handshake *hs, const uint8_t *in, size_t *pos)
{
    size_t len = NOISE_KEY_LEN + (hs->sym.cs.has_key ? NOISE_TAG_LEN : 0);
    int rc = noise_sym_decrypt_hash(&hs->sym, in + *pos, len, hs->rs);
    if (rc != TR_OK)
        return rc;
    *pos += len;
    hs->has_rs = 1;
    if (hs->accept != NULL && hs->accept(hs->accept_ctx, hs->rs) != 0)
        return TR_EDENIED;
    return TR_OK;
}

static int noise_hs_read_tokens(struct noise_handshake *hs, const uint8_t *in, size_t *pos)
{
    const enum noise_token *tok = hs->pat->msgs[hs->msg_index];
    for (size_t i = 0; i < NOISE_MAX_TOKENS && tok[i] != TOK_END; i++) {
        int rc = TR_OK;
        if (tok[i] == TOK_E) {
            memcpy(hs->re, in + *pos, NOISE_KEY_LEN);
            *pos += NOISE_KEY_LEN;
            noise_sym_mix_hash(&hs->sym, hs->re, NOISE_KEY_LEN);
        } else if (tok[i] == TOK_S) {
            rc = noise_hs_read_s(hs, in, pos);
        } else {
            rc = noise_hs_dh_token(hs, tok[i]);
        }
        if (rc != TR_OK)
            return rc;
    }
    return TR_OK;
}

int noise_handshake_read_message(struct noise_handshake *hs, const uint8_t *msg, size_t msg_len,
                                 uint8_t *payload, size_t payload_cap, size_t *payload_len)
{
    if (hs->state == HS_FAILED)
        return TR_ECLOSED;
    if (hs->state != HS_RUNNING || noise_hs_my_turn_to_write(hs))
        return TR_EINVAL;
    int keyed = 0;
    size_t overhead = noise_hs_overhead(hs, &keyed);
    if (msg_len > NOISE_MAX_MSG_LEN)
        return noise_hs_fail(hs, TR_ELIMIT);
    if (msg_len < overhead)
        return noise_hs_fail(hs, TR_EPARSE);
    size_t plen = msg_len - overhead;
    if (payload_cap < plen || (payload == NULL && plen > 0))
        return TR_EINVAL;
    size_t pos = 0;
    int rc = noise_hs_read_tokens(hs, msg, &pos);
    if (rc == TR_OK)
        rc = noise_sym_decrypt_hash(&hs->sym, msg + pos, msg_len - pos, payload);
    if (rc != TR_OK)
        return noise_hs_fail(hs, rc);
    *payload_len = plen;
    noise_hs_advance(hs);
    return TR_OK;
}

int noise_handshake_remote_static(const struct noise_handshake *hs, uint8_t out[NOISE_KEY_LEN])
{
    if (!hs->has_rs)
        return TR_ENOTFOUND;
    memcpy(out, hs->rs, NOISE_KEY_LEN);
    return TR_OK;
}

int noise_handshake_hash(const struct noise_handshake *hs, uint8_t out[NOISE_HASH_LEN])
{
    if (!noise_handshake_is_complete(hs))
        return TR_EINVAL;
    memcpy(out, hs->sym.h, NOISE_HASH_LEN);
    return TR_OK;
}

/* Split (§5.2): k1 encrypts initiator to responder, k2 the other way. */
int noise_handshake_split(struct noise_handshake *hs, struct noise_transport **out)
{
    if (hs->state == HS_FAILED)
        return TR_ECLOSED;
    if (hs->state != HS_COMPLETE)
        return TR_EINVAL;
    struct noise_transport *t = tr_calloc(1, sizeof *t);
    if (t == NULL)
        return TR_ENOMEM;
    uint8_t k1[NOISE_HASH_LEN], k2[NOISE_HASH_LEN];
    noise_hkdf2(hs->sym.ck, NULL, 0, k1, k2);
    memcpy(hs->initiator ? t->send.k : t->recv.k, k1, sizeof t->send.k);
    memcpy(hs->initiator ? t->recv.k : t->send.k, k2, sizeof t->send.k);
    t->send.has_key = t->recv.has_key = 1;
    sodium_memzero(k1, sizeof k1);
    sodium_memzero(k2, sizeof k2);
    /* Keep h (channel binding) and rs (membership); the rest is key material. */
    sodium_memzero(&hs->sym.cs, sizeof hs->sym.cs);
    sodium_memzero(hs->sym.ck, sizeof hs->sym.ck);
    sodium_memzero(&hs->s, sizeof hs->s);
    sodium_memzero(&hs->e, sizeof hs->e);
    hs->state = HS_SPLIT;
    *out = t;
    return TR_OK;
}

/* ---- transport ---- */

/* Ends the transport: keys wiped, every later call refuses. */
static int noise_transport_close(struct noise_transport *t, int rc)
{
    sodium_memzero(t, sizeof *t);
    t->closed = 1;
    return rc;
}

int noise_transport_encrypt(struct noise_transport *t, const uint8_t *payload, size_t payload_len,
                            uint8_t *out, size_t out_cap, size_t *out_len)
{
    if (t->closed)
        return TR_ECLOSED;
    if (payload_len > NOISE_MAX_PAYLOAD_LEN)
        return TR_ELIMIT;
    if (out_cap < payload_len + NOISE_TAG_LEN || (payload == NULL && payload_len > 0))
        return TR_EINVAL;
    int rc = noise_cipher_encrypt(&t->send, NULL, 0, payload, payload_len, out);
    if (rc != TR_OK)
        return noise_transport_close(t, rc);
    *out_len = payload_len + NOISE_TAG_LEN;
    return TR_OK;
}

int noise_transport_decrypt(struct noise_transport *t, const uint8_t *msg, size_t msg_len,
                            uint8_t *payload, size_t payload_cap, size_t *payload_len)
{
    if (t->closed)
        return TR_ECLOSED;
    if (msg_len > NOISE_MAX_MSG_LEN)
        return noise_transport_close(t, TR_ELIMIT);
    if (msg_len < NOISE_TAG_LEN)
        return noise_transport_close(t, TR_EPARSE);
    size_t plen = msg_len - NOISE_TAG_LEN;
    if (payload_cap < plen || (payload == NULL && plen > 0))
        return TR_EINVAL;
    int rc = noise_cipher_decrypt(&t->recv, NULL, 0, msg, msg_len, payload);
    if (rc != TR_OK)
        return noise_transport_close(t, rc);
    *payload_len = plen;
    return TR_OK;
}

/* REKEY(k) of Noise rev 34 §4.2 with the reserved nonce, which no message ever uses. */
static void noise_cipher_rekey(struct noise_cipher *c)
{
    static const uint8_t zeros[32];
    uint8_t nonce[crypto_aead_chacha20poly1305_ietf_NPUBBYTES];
    uint8_t out[sizeof zeros + crypto_aead_chacha20poly1305_ietf_ABYTES];
    unsigned long long out_len = 0;
    noise_nonce_encode(NOISE_NONCE_MAX, nonce);
    crypto_aead_chacha20poly1305_ietf_encrypt(out, &out_len, zeros, sizeof zeros, NULL, 0, NULL,
                                              nonce, c->k);
    memcpy(c->k, out, sizeof c->k);
    sodium_memzero(out, sizeof out);
}

int noise_transport_rekey_send(struct noise_transport *t)
{
    if (t->closed)
        return TR_ECLOSED;
    noise_cipher_rekey(&t->send);
    return TR_OK;
}

int noise_transport_rekey_recv(struct noise_transport *t)
{
    if (t->closed)
        return TR_ECLOSED;
    noise_cipher_rekey(&t->recv);
    return TR_OK;
}

int noise_transport_is_closed(const struct noise_transport *t)
{
    return t->closed;
}

void noise_transport_destroy(struct noise_transport *t)
{
    if (t == NULL)
        return;
    sodium_memzero(t, sizeof *t);
    tr_free(t);
}

void noise_transport_set_nonces_for_test(struct noise_transport *t, uint64_t send_n,
                                         uint64_t recv_n)
{
    t->send.n = send_n;
    t->recv.n = recv_n;
}
