/* identity.h — an organization's Ed25519 identity: the key file DIR/node.key (one line, lowercase
 * hex of the 32-byte seed, mode 0600) and the hex helpers every key-carrying format uses.
 * Called by `treaty init` (identity_create) and by the node at start (identity_load). */
#ifndef TREATY_NODE_IDENTITY_H
#define TREATY_NODE_IDENTITY_H

#include "common/bytes.h" /* tr_hex_encode */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define IDENTITY_KEY_FILE "node.key"

struct identity {
    char org[64];
    uint8_t sk[64]; /* libsodium secret key: seed || pk */
    uint8_t pk[32];
};

/* True when `org` matches ^[a-z][a-z0-9-]{0,62}$ (org and network names). */
bool identity_name_valid(const char *org);

/* Creates DIR (0700) if missing and writes a fresh key to DIR/node.key (0600, O_EXCL|O_NOFOLLOW).
 * Returns TR_OK and fills *out; TR_EINVAL (bad org name, path too long), TR_EEXISTS (the key file
 * already exists: never overwritten) or TR_EIO, with a one-line message in err naming the file.
 * On failure *out is wiped and no partial key file is left behind. */
int identity_create(const char *dir, const char *org, struct identity *out, char *err,
                    size_t errlen);
/* Loads DIR/node.key for `org` and derives the public key from the seed (then checks that the
 * pair signs and verifies). Returns TR_OK; TR_ENOTFOUND (no key file), TR_EDENIED (any group or
 * other permission bit: err says "DIR/node.key: permissions 0644 are too open; run chmod 600
 * DIR/node.key"), TR_EPARSE (not one line of 64 lowercase hex digits), TR_EINVAL (bad org name,
 * not a regular file), TR_ECRYPTO (self-check failed) or TR_EIO. *out is wiped on failure. */
int identity_load(const char *dir, const char *org, struct identity *out, char *err, size_t errlen);
/* Zeroes the secret material (sodium_memzero). NULL is fine. */
void identity_wipe(struct identity *id);

/* Decodes exactly 2n lowercase hex digits (the whole string) into out. TR_EPARSE otherwise
 * (wrong length, uppercase, any other character). */
int hex_decode(const char *s, uint8_t *out, size_t n);

#endif
