/* noise.h — the Noise protocol engine for node-to-node links: Noise_XX_25519_ChaChaPoly_SHA256
 * (DESIGN.md §7), plus NN, XK and IK so the shared cacophony vectors run, on libsodium primitives.
 * No sockets: node/net feeds it whole messages. Invariant: a state that saw a forged, truncated,
 * replayed or reordered message is dead (TR_ECLOSED) and its keys are wiped; it never yields data.
 * Source: the Noise Protocol Framework, revision 34 ("Noise rev 34 §N" below). */
#ifndef TREATY_NODE_NOISE_H
#define TREATY_NODE_NOISE_H

#include <stddef.h>
#include <stdint.h>

#define NOISE_KEY_LEN  32u /* X25519 public and secret keys (DHLEN, Noise rev 34 §12.1) */
#define NOISE_HASH_LEN 32u /* SHA-256 output (HASHLEN, §12.5) */
#define NOISE_TAG_LEN  16u /* Poly1305 tag added to every encrypted field (§5.1) */
/* Every Noise message, handshake or transport, is at most 65535 bytes (Noise rev 34 §3). */
#define NOISE_MAX_MSG_LEN 65535u
/* Largest transport payload: the message limit less the tag. */
#define NOISE_MAX_PAYLOAD_LEN (NOISE_MAX_MSG_LEN - NOISE_TAG_LEN)

/* The handshake patterns this engine knows (Noise rev 34 §7.4, §7.5). Links use XX; the others
 * exist for the test vectors and cost nothing more than their token lists. */
enum noise_pattern {
    NOISE_PATTERN_NN,
    NOISE_PATTERN_XK,
    NOISE_PATTERN_IK,
    NOISE_PATTERN_XX,
};

enum noise_role {
    NOISE_ROLE_INITIATOR,
    NOISE_ROLE_RESPONDER,
};

/* What the handshake expects next from its caller. */
enum noise_action {
    NOISE_ACTION_WRITE,  /* call noise_handshake_write_message */
    NOISE_ACTION_READ,   /* call noise_handshake_read_message */
    NOISE_ACTION_SPLIT,  /* complete: call noise_handshake_split */
    NOISE_ACTION_DONE,   /* split already taken */
    NOISE_ACTION_FAILED, /* dead: every call refuses with TR_ECLOSED */
};

/* An X25519 key pair. Holds a secret: wipe it with sodium_memzero when done. */
struct noise_keypair {
    uint8_t sk[NOISE_KEY_LEN];
    uint8_t pk[NOISE_KEY_LEN];
};

/* Decides whether a remote static key learned during the handshake belongs to a current member.
 * Returns 0 to accept; anything else refuses and ends the handshake. `pk` is borrowed for the
 * call only. It runs before the reader processes the rest of that message, so an XX initiator
 * never reveals its own static key to a responder it refused. */
typedef int (*noise_accept_fn)(void *ctx, const uint8_t pk[NOISE_KEY_LEN]);

struct noise_config {
    enum noise_pattern pattern;
    enum noise_role role;
    const uint8_t *prologue; /* borrowed for the create call; NULL when prologue_len is 0 */
    size_t prologue_len;
    /* This node's static key pair; required when the pattern sends or pre-shares it (all but NN),
     * must be NULL otherwise. Copied by create. */
    const struct noise_keypair *local_static;
    /* The responder's static public key known in advance: required for an XK or IK initiator
     * (their pre-message `<- s`), must be NULL otherwise. Copied by create. */
    const uint8_t *remote_static;
    /* Optional membership check for a remote static key received in a message; NULL accepts any
     * key and leaves the check to the caller (noise_handshake_remote_static). */
    noise_accept_fn accept;
    void *accept_ctx;
};

struct noise_handshake; /* HandshakeState (Noise rev 34 §5.3); holds secrets */
struct noise_transport; /* the two CipherStates of split() (§5.2); holds secrets */

/* Derives this node's X25519 static key pair from its org's Ed25519 secret key (64 bytes, the
 * libsodium layout seed‖pk). Returns TR_OK, or TR_ECRYPTO when the embedded public key is not a
 * valid Ed25519 point (outputs then wiped). */
int noise_keypair_from_ed25519(const uint8_t ed_sk[64], uint8_t x_sk[NOISE_KEY_LEN],
                               uint8_t x_pk[NOISE_KEY_LEN]);
/* A member's X25519 public key from its Ed25519 public key, as a peer computes it from the
 * membership list. Returns TR_OK, or TR_ECRYPTO for an invalid point. */
int noise_pubkey_from_ed25519(const uint8_t ed_pk[32], uint8_t x_pk[NOISE_KEY_LEN]);

/* Creates a handshake: Initialize() of Noise rev 34 §5.3 (protocol name, prologue, pre-messages).
 * On TR_OK *out owns a new state (free with noise_handshake_destroy). Returns TR_EINVAL when the
 * keys given do not fit the pattern and role, TR_ENOMEM, TR_EINTERNAL if libsodium cannot start. */
int noise_handshake_create(const struct noise_config *cfg, struct noise_handshake **out);
/* Wipes and frees the state. Accepts NULL. */
void noise_handshake_destroy(struct noise_handshake *hs);

/* Tests only: use `sk` as the ephemeral secret instead of a random one, so the known-answer
 * vectors can be replayed. TR_EINVAL once the ephemeral key has been generated. */
int noise_handshake_set_ephemeral_for_test(struct noise_handshake *hs,
                                           const uint8_t sk[NOISE_KEY_LEN]);

enum noise_action noise_handshake_action(const struct noise_handshake *hs);
/* 1 once both sides' last handshake message has been written or read (split may follow). */
int noise_handshake_is_complete(const struct noise_handshake *hs);

/* WriteMessage (Noise rev 34 §5.3): writes the next handshake message carrying `payload` into
 * `out` (capacity out_cap, at most NOISE_MAX_MSG_LEN needed) and sets *out_len.
 * Returns TR_OK; TR_ECLOSED on a dead state; TR_EINVAL when it is not this side's turn or out_cap
 * is too small; TR_ELIMIT when the message would exceed NOISE_MAX_MSG_LEN (these three leave the
 * state unchanged); TR_ECRYPTO when a DH result is all zeros (a low-order remote key), which ends
 * the handshake. */
int noise_handshake_write_message(struct noise_handshake *hs, const uint8_t *payload,
                                  size_t payload_len, uint8_t *out, size_t out_cap,
                                  size_t *out_len);
/* ReadMessage (Noise rev 34 §5.3): reads the peer's next handshake message `msg`, writes its
 * payload into `payload` (capacity payload_cap) and sets *payload_len. Returns TR_OK; TR_ECLOSED
 * on a dead state; TR_EINVAL when it is not this side's turn or payload_cap is too small (state
 * unchanged). Every fault of the message itself ends the handshake: TR_EPARSE (too short),
 * TR_ELIMIT (over NOISE_MAX_MSG_LEN), TR_ECRYPTO (authentication or DH failure), TR_EDENIED (the
 * accept callback refused the remote static key). `payload` may be overwritten on failure. */
int noise_handshake_read_message(struct noise_handshake *hs, const uint8_t *msg, size_t msg_len,
                                 uint8_t *payload, size_t payload_cap, size_t *payload_len);

/* Copies the remote static public key into `out` once known (pre-shared, or read in a message).
 * TR_OK, or TR_ENOTFOUND when not (yet) known. Still answers after split. */
int noise_handshake_remote_static(const struct noise_handshake *hs, uint8_t out[NOISE_KEY_LEN]);
/* Copies the handshake hash h (Noise rev 34 §5.2 GetHandshakeHash, for channel binding, §11.2)
 * into `out`. TR_OK once the handshake is complete (also after split), TR_EINVAL before. */
int noise_handshake_hash(const struct noise_handshake *hs, uint8_t out[NOISE_HASH_LEN]);

/* Split() (Noise rev 34 §5.2): on a complete handshake, creates the transport (*out owned by the
 * caller, free with noise_transport_destroy) and wipes the handshake's symmetric keys; the
 * handshake then only answers remote_static and hash. Returns TR_OK, TR_EINVAL before completion
 * or after a split, TR_ECLOSED on a dead state, TR_ENOMEM (handshake unchanged). */
int noise_handshake_split(struct noise_handshake *hs, struct noise_transport **out);

/* Encrypts one transport message (Noise rev 34 §5.1 EncryptWithAd, empty ad; nonce per §12.3)
 * from `payload` (at most NOISE_MAX_PAYLOAD_LEN bytes) into `out` (payload_len + NOISE_TAG_LEN
 * bytes needed). Returns TR_OK; TR_ECLOSED on a dead transport; TR_ELIMIT for a payload too
 * long, TR_EINVAL for out_cap too small (both leave it unchanged); TR_ELIMIT when the send nonce
 * reached 2^64-1, which is reserved (§5.1) and ends the transport. */
int noise_transport_encrypt(struct noise_transport *t, const uint8_t *payload, size_t payload_len,
                            uint8_t *out, size_t out_cap, size_t *out_len);
/* Decrypts the next transport message. Messages must arrive in order, each exactly once: any
 * fault ends the transport (wiped; later calls TR_ECLOSED) and yields no data — TR_ECRYPTO for a
 * forged, replayed or reordered message, TR_EPARSE under NOISE_TAG_LEN bytes, TR_ELIMIT over
 * NOISE_MAX_MSG_LEN or at the reserved nonce. TR_EINVAL for payload_cap too small (unchanged).
 * `payload` may be overwritten on failure. */
int noise_transport_decrypt(struct noise_transport *t, const uint8_t *msg, size_t msg_len,
                            uint8_t *payload, size_t payload_cap, size_t *payload_len);
/* Rekey (Noise rev 34 §11.3): replaces the send (or receive) key by REKEY(k), the default of §4.2:
 * the first 32 bytes of ENCRYPT(k, 2^64-1, empty ad, 32 zero bytes). The nonce is kept. Both ends
 * must rekey the matching direction at the same point of the stream, as the application agrees.
 * Returns TR_OK, or TR_ECLOSED on a dead transport. */
int noise_transport_rekey_send(struct noise_transport *t);
int noise_transport_rekey_recv(struct noise_transport *t);
/* 1 once the transport has ended (fault or nonce exhaustion). */
int noise_transport_is_closed(const struct noise_transport *t);
/* Wipes and frees the transport. Accepts NULL. */
void noise_transport_destroy(struct noise_transport *t);

/* Tests only: set the next send and receive nonces, to reach the reserved 2^64-1 quickly. */
void noise_transport_set_nonces_for_test(struct noise_transport *t, uint64_t send_n,
                                         uint64_t recv_n);

#endif
