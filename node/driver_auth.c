/* driver_auth.c — the node's side of API auth: DIR/apikeys.json loaded at start and reloaded
 * within about a second of any change (a timer compares inode, size and mtime; a key not found
 * makes it look at once), the backend's authenticate over it, and sealed list cursors. A list page
 * leaves out records the org may not read, so the store's cursor (the last key scanned) could name
 * a hidden record: the client gets it encrypted and authenticated (crypto_secretbox, a key derived
 * from the node's secret key), so a cursor reveals nothing and only this node's own cursors are
 * accepted. */
#include "common/alloc.h"
#include "common/err.h"
#include "common/log.h"
#include "node/driver_int.h"

#include <sodium.h>
#include <string.h>
#include <sys/stat.h>

#define KEYS_POLL_MS 1000

static void keys_stat(struct driver *d, struct driver_keys_stat *out)
{
    char path[sizeof d->dir + 32];
    snprintf(path, sizeof path, "%s/%s", d->dir, APIKEYS_FILE);
    struct stat st;
    memset(out, 0, sizeof *out);
    if (stat(path, &st) != 0)
        return;
    out->exists = true;
    out->dev = (uint64_t)st.st_dev;
    out->ino = (uint64_t)st.st_ino;
    out->size = (uint64_t)st.st_size;
    out->mtime_ns = (uint64_t)st.st_mtim.tv_sec * 1000000000u + (uint64_t)st.st_mtim.tv_nsec;
}

/* (Re)loads the key file. A missing file means no keys; an unusable one too (fail closed: a
 * revoked key must not stay valid because the file was damaged), with an error line. */
static void keys_reload(struct driver *d, bool at_start)
{
    char err[4400];
    struct apikeys k = {0};
    int rc = apikeys_load(d->dir, &k, err, sizeof err);
    apikeys_free(&d->keys);
    d->keys = k;
    size_t active = 0;
    for (size_t i = 0; i < k.n; i++)
        active += k.v[i].revoked[0] ? 0 : 1;
    if (rc == TR_ENOTFOUND && at_start)
        tr_log(TR_LOG_WARN, "apikeys.none",
               "file=%s/%s hint=\"every /v1 request is refused (401) until a key exists; make "
               "one with: treaty apikey create --dir %s --role admin\"",
               d->dir, APIKEYS_FILE, d->dir);
    else if (rc == TR_ENOTFOUND)
        tr_log(TR_LOG_WARN, "apikeys.removed", "file=%s/%s keys=0", d->dir, APIKEYS_FILE);
    else if (rc != TR_OK)
        tr_log(TR_LOG_ERROR, "apikeys.unusable", "error=\"%s\" keys=0", err);
    else
        tr_log(TR_LOG_INFO, at_start ? "apikeys.loaded" : "apikeys.reloaded", "keys=%zu active=%zu",
               k.n, active);
}

/* Reloads the key file if it changed since last seen; true if it did. */
static bool keys_refresh(struct driver *d)
{
    struct driver_keys_stat now;
    keys_stat(d, &now);
    if (memcmp(&now, &d->keys_seen, sizeof now) == 0)
        return false;
    d->keys_seen = now;
    keys_reload(d, false);
    return true;
}

static void keys_poll(uv_timer_t *t)
{
    keys_refresh(t->data);
}

void driver__auth_start(struct driver *d)
{
    keys_stat(d, &d->keys_seen);
    keys_reload(d, true);
    uv_timer_init(&d->loop, &d->keys_timer);
    d->keys_timer.data = d;
    uv_timer_start(&d->keys_timer, keys_poll, KEYS_POLL_MS, KEYS_POLL_MS);
    /* The cursor key: stable across restarts, distinct per node and per identity key. */
    static const char label[] = "treaty list cursor v1";
    crypto_generichash(d->cursor_key, sizeof d->cursor_key, (const unsigned char *)label,
                       sizeof label - 1, d->id.sk, 32);
}

void driver__auth_close(struct driver *d)
{
    apikeys_free(&d->keys);
    sodium_memzero(d->cursor_key, sizeof d->cursor_key);
}

int driver__authenticate(void *ctx, const char *key, size_t len, enum api_role *role)
{
    struct driver *d = ctx;
    int rc = apikeys_verify(&d->keys, key, len, role);
    /* A key made a moment ago works at once: look at the file again before refusing (one stat;
     * revocations are picked up by the timer). */
    if (rc != TR_OK && keys_refresh(d))
        rc = apikeys_verify(&d->keys, key, len, role);
    return rc;
}

/* ------------------------------------------------------------------------------------------- */
/* Sealed cursors: base64url(nonce || secretbox(cursor)) */

#define B64_VARIANT sodium_base64_VARIANT_URLSAFE_NO_PADDING

char *driver__cursor_seal(struct driver *d, const char *cursor)
{
    size_t n = strlen(cursor), blen = crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES + n;
    unsigned char *box = tr_malloc(blen);
    size_t tlen = sodium_base64_ENCODED_LEN(blen, B64_VARIANT);
    char *text = tr_malloc(tlen);
    if (!box || !text) {
        tr_free(box);
        tr_free(text);
        return NULL;
    }
    randombytes_buf(box, crypto_secretbox_NONCEBYTES);
    crypto_secretbox_easy(box + crypto_secretbox_NONCEBYTES, (const unsigned char *)cursor, n, box,
                          d->cursor_key);
    sodium_bin2base64(text, tlen, box, blen, B64_VARIANT);
    tr_free(box);
    return text;
}

int driver__cursor_open(struct driver *d, const char *sealed, char **out)
{
    size_t slen = strlen(sealed), blen = 0;
    unsigned char *box = tr_malloc(slen + 1);
    if (!box)
        return TR_ENOMEM;
    const size_t over = crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES;
    if (sodium_base642bin(box, slen + 1, sealed, slen, NULL, &blen, NULL, B64_VARIANT) != 0 ||
        blen <= over) {
        tr_free(box);
        return TR_EINVAL;
    }
    char *plain = tr_malloc(blen - over + 1);
    if (!plain) {
        tr_free(box);
        return TR_ENOMEM;
    }
    int bad = crypto_secretbox_open_easy((unsigned char *)plain, box + crypto_secretbox_NONCEBYTES,
                                         blen - crypto_secretbox_NONCEBYTES, box, d->cursor_key);
    tr_free(box);
    if (bad) {
        tr_free(plain);
        return TR_EINVAL;
    }
    plain[blen - over] = '\0';
    if (strlen(plain) != blen - over) {
        tr_free(plain);
        return TR_EINVAL;
    }
    *out = plain;
    return TR_OK;
}
