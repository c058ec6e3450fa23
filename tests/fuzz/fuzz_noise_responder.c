/* fuzz_noise_responder.c — libFuzzer target `fuzz-noise-responder`: the responder side of the XX
 * handshake links use (node/noise.c), fed what an initiator may send. Input: byte 0 is the mode,
 * then chunks of a 2-byte big-endian length and that many bytes.
 *   raw (even mode): chunk 0 is message 1, chunk 1 message 3, later chunks transport messages;
 *   guided (odd mode): a real initiator runs the handshake and each of its messages is XORed with
 *   the next chunk (a missing or short chunk leaves bytes alone); then each later chunk is a
 *   payload the initiator encrypts and the responder must decrypt to the same bytes.
 * Invariants: every call returns a documented code and a failed state refuses everything after;
 * a responder that completes agrees with a completed initiator on the handshake hash and on the
 * initiator's static key (Noise rev 34 §5.3, §7.5). Ephemeral keys are fixed, so runs replay. */
#include "tests/fuzz/fuzz.h"

#include "common/err.h"
#include "node/noise.h"
#include "tests/fuzz/fuzz_noise.h"

#include <sodium.h>
#include <string.h>

#define PAYLOAD_CAP 64 /* a node reads 8-byte ids; a bit more lets payload sizes vary */

static struct noise_keypair resp_key, init_key;
static const uint8_t prologue[] = "treaty-fuzz";

struct chunks {
    const uint8_t *p;
    size_t n;
};

/* The next chunk; false (and an empty one) when the input is used up. */
static bool chunk_next(struct chunks *c, const uint8_t **at, size_t *len)
{
    *at = NULL;
    *len = 0;
    if (c->n < 2)
        return false;
    size_t want = (size_t)c->p[0] << 8 | c->p[1];
    c->p += 2;
    c->n -= 2;
    *len = want < c->n ? want : c->n;
    *at = c->p;
    c->p += *len;
    c->n -= *len;
    return true;
}

static void keypair_fixed(struct noise_keypair *k, uint8_t seed)
{
    memset(k->sk, seed, sizeof k->sk);
    fuzz_check(crypto_scalarmult_base(k->pk, k->sk) == 0);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_check(sodium_init() >= 0);
    keypair_fixed(&resp_key, 0x11);
    keypair_fixed(&init_key, 0x22);
    return 0;
}

/* Accepts only the fuzz initiator's static key, as a node accepts only members. */
static int accept_known(void *ctx, const uint8_t pk[NOISE_KEY_LEN])
{
    (void)ctx;
    return sodium_memcmp(pk, init_key.pk, NOISE_KEY_LEN) == 0 ? 0 : 1;
}

struct noise_handshake *fuzz_noise_handshake(enum noise_role role)
{
    struct noise_config cfg = {
        .pattern = NOISE_PATTERN_XX,
        .role = role,
        .prologue = prologue,
        .prologue_len = sizeof prologue - 1,
        .local_static = role == NOISE_ROLE_RESPONDER ? &resp_key : &init_key,
        .accept = role == NOISE_ROLE_RESPONDER ? accept_known : NULL,
    };
    struct noise_handshake *hs = NULL;
    fuzz_check(noise_handshake_create(&cfg, &hs) == TR_OK);
    uint8_t e[NOISE_KEY_LEN];
    memset(e, role == NOISE_ROLE_RESPONDER ? 0x33 : 0x44, sizeof e);
    fuzz_check(noise_handshake_set_ephemeral_for_test(hs, e) == TR_OK);
    return hs;
}

/* The responder reads `msg`; on success answers with message 2 when it is its turn. */
static int resp_read(struct noise_handshake *hs, const uint8_t *msg, size_t len, uint8_t *out,
                     size_t *out_len)
{
    uint8_t payload[PAYLOAD_CAP];
    size_t plen = 0;
    *out_len = 0;
    int rc = noise_handshake_read_message(hs, msg, len, payload, sizeof payload, &plen);
    fuzz_check(rc == TR_OK || rc == TR_EPARSE || rc == TR_ELIMIT || rc == TR_ECRYPTO ||
               rc == TR_EDENIED || rc == TR_EINVAL || rc == TR_ECLOSED);
    if (rc != TR_OK) {
        if (rc != TR_EINVAL)
            fuzz_check(noise_handshake_action(hs) == NOISE_ACTION_FAILED);
        return rc;
    }
    fuzz_check(plen <= sizeof payload);
    if (noise_handshake_action(hs) == NOISE_ACTION_WRITE)
        rc = noise_handshake_write_message(hs, NULL, 0, out, NOISE_MAX_MSG_LEN, out_len);
    return rc;
}

/* Decrypts transport messages from the remaining chunks until one fails. */
static void resp_transport(struct noise_handshake *hs, struct chunks *c)
{
    struct noise_transport *t = NULL;
    fuzz_check(noise_handshake_split(hs, &t) == TR_OK);
    static uint8_t plain[NOISE_MAX_MSG_LEN];
    const uint8_t *m;
    size_t len, plen;
    while (chunk_next(c, &m, &len)) {
        int rc = noise_transport_decrypt(t, m, len, plain, sizeof plain, &plen);
        fuzz_check(rc == TR_OK || rc == TR_ECRYPTO || rc == TR_EPARSE || rc == TR_ELIMIT);
        if (rc != TR_OK) {
            fuzz_check(noise_transport_is_closed(t));
            break;
        }
    }
    noise_transport_destroy(t);
}

static void fuzz_raw(struct chunks *c)
{
    struct noise_handshake *r = fuzz_noise_handshake(NOISE_ROLE_RESPONDER);
    static uint8_t msg2[NOISE_MAX_MSG_LEN];
    size_t len2 = 0;
    const uint8_t *m;
    size_t len;
    chunk_next(c, &m, &len);
    if (resp_read(r, m, len, msg2, &len2) == TR_OK) {
        chunk_next(c, &m, &len);
        if (resp_read(r, m, len, msg2, &len2) == TR_OK) {
            fuzz_check(noise_handshake_is_complete(r)); /* message 3 came from an accepted key */
            resp_transport(r, c);
        }
    }
    noise_handshake_destroy(r);
}

/* XORs the next chunk into msg (as far as both go). */
static void mask(struct chunks *c, uint8_t *msg, size_t len)
{
    const uint8_t *m;
    size_t mlen;
    chunk_next(c, &m, &mlen);
    for (size_t i = 0; i < len && i < mlen; i++)
        msg[i] ^= m[i];
}

/* Both sides complete: they agree, and each payload crosses unchanged. */
static void guided_transport(struct noise_handshake *i, struct noise_handshake *r, struct chunks *c)
{
    uint8_t hi[NOISE_HASH_LEN], hr[NOISE_HASH_LEN], rs[NOISE_KEY_LEN];
    fuzz_check(noise_handshake_hash(i, hi) == TR_OK && noise_handshake_hash(r, hr) == TR_OK);
    fuzz_check(memcmp(hi, hr, sizeof hi) == 0);
    fuzz_check(noise_handshake_remote_static(r, rs) == TR_OK);
    fuzz_check(memcmp(rs, init_key.pk, sizeof rs) == 0);
    struct noise_transport *ti = NULL, *tr = NULL;
    fuzz_check(noise_handshake_split(i, &ti) == TR_OK && noise_handshake_split(r, &tr) == TR_OK);
    static uint8_t wire[NOISE_MAX_MSG_LEN], plain[NOISE_MAX_MSG_LEN];
    const uint8_t *p;
    size_t len, wlen, plen;
    while (chunk_next(c, &p, &len)) {
        fuzz_check(noise_transport_encrypt(ti, p, len, wire, sizeof wire, &wlen) == TR_OK);
        fuzz_check(noise_transport_decrypt(tr, wire, wlen, plain, sizeof plain, &plen) == TR_OK);
        fuzz_check(plen == len && (len == 0 || memcmp(plain, p, len) == 0));
    }
    noise_transport_destroy(ti);
    noise_transport_destroy(tr);
}

static void fuzz_guided(struct chunks *c)
{
    struct noise_handshake *i = fuzz_noise_handshake(NOISE_ROLE_INITIATOR);
    struct noise_handshake *r = fuzz_noise_handshake(NOISE_ROLE_RESPONDER);
    static uint8_t msg[NOISE_MAX_MSG_LEN], reply[NOISE_MAX_MSG_LEN];
    uint8_t payload[PAYLOAD_CAP];
    size_t len = 0, rlen = 0, plen = 0;
    fuzz_check(noise_handshake_write_message(i, NULL, 0, msg, sizeof msg, &len) == TR_OK);
    mask(c, msg, len);
    if (resp_read(r, msg, len, reply, &rlen) != TR_OK)
        goto done;
    int rc = noise_handshake_read_message(i, reply, rlen, payload, sizeof payload, &plen);
    if (rc != TR_OK)
        goto done; /* message 1 was changed: the initiator cannot read the answer */
    static const uint8_t id[8] = {0, 0, 0, 0, 0, 0, 0, 7};
    fuzz_check(noise_handshake_write_message(i, id, sizeof id, msg, sizeof msg, &len) == TR_OK);
    mask(c, msg, len);
    if (resp_read(r, msg, len, reply, &rlen) != TR_OK)
        goto done;
    fuzz_check(noise_handshake_is_complete(i) && noise_handshake_is_complete(r));
    guided_transport(i, r, c);
done:
    noise_handshake_destroy(i);
    noise_handshake_destroy(r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    struct chunks c = {data + 1, size - 1};
    if (data[0] & 1)
        fuzz_guided(&c);
    else
        fuzz_raw(&c);
    return 0;
}
