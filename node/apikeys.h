/* apikeys.h — the API keys of one org's node, kept in DIR/apikeys.json (docs/auth.md): for each key
 * its id, role, name, creation time, revocation time and the SHA-256 of the key text — never the
 * key itself. A key reads "trk_<id: 16 hex>_<secret: 64 hex>"; it is shown once, when made.
 * `treaty apikey` changes the file (under a lock, written atomically with mode 0600); the running
 * node reloads it when it changes and checks request keys against it in constant time. */
#ifndef TREATY_NODE_APIKEYS_H
#define TREATY_NODE_APIKEYS_H

#include "api/api.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define APIKEYS_FILE      "apikeys.json"
#define APIKEY_ID_HEX     16
#define APIKEY_SECRET_HEX 64
#define APIKEY_TEXT_BYTES (4 + APIKEY_ID_HEX + 1 + APIKEY_SECRET_HEX) /* "trk_" id "_" secret */
#define APIKEY_NAME_MAX   64
#define APIKEYS_MAX       10000 /* keys in one file; beyond, create refuses */
#define APIKEYS_FILE_MAX  (4u << 20)

struct apikey {
    char id[APIKEY_ID_HEX + 1];
    enum api_role role;
    char name[APIKEY_NAME_MAX + 1];
    char created[32]; /* RFC 3339 UTC */
    char revoked[32]; /* "" while valid */
    uint8_t sha256[32];
};

/* A loaded key file; caller-owned: zero it, fill it with apikeys_load, free with apikeys_free. */
struct apikeys {
    size_t n;
    struct apikey *v;
};

void apikeys_free(struct apikeys *k);

/* Reads DIR/apikeys.json into *k (emptied first). TR_OK; TR_ENOTFOUND when the file does not exist
 * (*k empty); TR_EPARSE when it is not a valid key file, TR_EIO when unreadable (*k empty, err
 * names the file and what is wrong). */
int apikeys_load(const char *dir, struct apikeys *k, char *err, size_t errlen);

/* Writes *k to DIR/apikeys.json atomically: a temporary file in DIR (mode 0600), fsync, rename,
 * fsync of DIR. TR_OK or TR_EIO with err. */
int apikeys_save(const char *dir, const struct apikeys *k, char *err, size_t errlen);

/* Takes the exclusive lock that serializes changes of DIR's key file (a lock file beside it).
 * Returns the lock's fd (>= 0; release with apikeys_unlock) or -1 with err. */
int apikeys_lock(const char *dir, char *err, size_t errlen);
void apikeys_unlock(int fd);

/* Adds a new key with `role` and `name` (nullable, at most APIKEY_NAME_MAX bytes of printable
 * ASCII) created at `created` (RFC 3339), and writes its text (NUL-terminated) to `key`. The
 * secret comes from libsodium's CSPRNG. TR_OK, TR_EINVAL (bad role or name), TR_ELIMIT
 * (APIKEYS_MAX keys), TR_ENOMEM. */
int apikeys_add(struct apikeys *k, enum api_role role, const char *name, const char *created,
                char key[APIKEY_TEXT_BYTES + 1]);

/* Marks key `id` revoked at `when`. TR_OK, TR_ENOTFOUND (no such id), TR_EEXISTS (already). */
int apikeys_revoke(struct apikeys *k, const char *id, const char *when);

/* The role of key text `key` (`len` bytes): TR_OK when it is well formed, its id is in *k, not
 * revoked, and its SHA-256 equals the stored one (compared with sodium_memcmp); else
 * TR_ENOTFOUND. Never logs the key. */
int apikeys_verify(const struct apikeys *k, const char *key, size_t len, enum api_role *role);

/* The current UTC time as RFC 3339 ("2026-01-02T03:04:05Z") in buf (at least 21 bytes). */
void apikeys_now(char *buf, size_t len);

#endif
