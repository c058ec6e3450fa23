/* apikeys.c — DIR/apikeys.json (apikeys.h): load, atomic save, lock, add, revoke, verify. The file
 * holds SHA-256 digests of key texts only; a key is checked by hashing the text it came with and
 * comparing digests in constant time. Used by `treaty apikey` and by the running node. */
#include "node/apikeys.h"

#include "common/alloc.h"
#include "common/bytes.h"
#include "common/err.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

void apikeys_free(struct apikeys *k)
{
    if (!k)
        return;
    tr_free(k->v);
    k->v = NULL;
    k->n = 0;
}

static bool is_hex(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    return true;
}

static bool name_ok(const char *s)
{
    size_t n = strlen(s);
    if (n > APIKEY_NAME_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if (s[i] < 0x20 || s[i] > 0x7e)
            return false;
    return true;
}

static int path_of(const char *dir, const char *file, char *out, size_t len)
{
    int n = snprintf(out, len, "%s/%s", dir, file);
    return n < 0 || (size_t)n >= len ? TR_EINVAL : TR_OK;
}

/* ------------------------------------------------------------------------------------------- */
/* Load */

static int entry_parse(const json_t *e, struct apikey *out, char *why, size_t len)
{
    const char *id = json_string_value(json_object_get(e, "id"));
    const char *role = json_string_value(json_object_get(e, "role"));
    const char *name = json_string_value(json_object_get(e, "name"));
    const char *created = json_string_value(json_object_get(e, "created"));
    const char *revoked = json_string_value(json_object_get(e, "revoked"));
    const char *hash = json_string_value(json_object_get(e, "sha256"));
    memset(out, 0, sizeof *out);
    if (!id || strlen(id) != APIKEY_ID_HEX || !is_hex(id, APIKEY_ID_HEX))
        snprintf(why, len, "id must be %d lowercase hex characters", APIKEY_ID_HEX);
    else if ((out->role = api_role_parse(role)) == API_ROLE_NONE)
        snprintf(why, len, "role must be reader, writer or admin");
    else if (!hash || strlen(hash) != 64 || tr_hex_decode(hash, 64, out->sha256, 32) != TR_OK)
        snprintf(why, len, "sha256 must be 64 hex characters");
    else if ((name && !name_ok(name)) || !created || strlen(created) >= sizeof out->created ||
             (revoked && strlen(revoked) >= sizeof out->revoked))
        snprintf(why, len, "name, created or revoked is not usable");
    else {
        memcpy(out->id, id, APIKEY_ID_HEX + 1);
        snprintf(out->name, sizeof out->name, "%s", name ? name : "");
        snprintf(out->created, sizeof out->created, "%s", created);
        snprintf(out->revoked, sizeof out->revoked, "%s", revoked ? revoked : "");
        return TR_OK;
    }
    return TR_EPARSE;
}

static int keys_parse(const json_t *doc, struct apikeys *k, const char *path, char *err,
                      size_t errlen)
{
    const json_t *arr = json_object_get(doc, "keys");
    if (!json_is_object(doc) || !json_is_array(arr) || json_array_size(arr) > APIKEYS_MAX) {
        snprintf(err, errlen, "%s: expected {\"keys\": [...]} with at most %d keys", path,
                 APIKEYS_MAX);
        return TR_EPARSE;
    }
    size_t n = json_array_size(arr);
    k->v = tr_calloc(n ? n : 1, sizeof *k->v);
    if (!k->v)
        return TR_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        char why[96];
        if (entry_parse(json_array_get(arr, i), &k->v[i], why, sizeof why) != TR_OK) {
            snprintf(err, errlen, "%s: /keys/%zu: %s", path, i, why);
            apikeys_free(k);
            return TR_EPARSE;
        }
        for (size_t j = 0; j < i; j++)
            if (strcmp(k->v[j].id, k->v[i].id) == 0) {
                snprintf(err, errlen, "%s: /keys/%zu: id %s appears twice", path, i, k->v[i].id);
                apikeys_free(k);
                return TR_EPARSE;
            }
        k->n = i + 1;
    }
    return TR_OK;
}

int apikeys_load(const char *dir, struct apikeys *k, char *err, size_t errlen)
{
    char path[4200];
    apikeys_free(k);
    if (path_of(dir, APIKEYS_FILE, path, sizeof path) != TR_OK) {
        snprintf(err, errlen, "%s: path too long", dir);
        return TR_EIO;
    }
    struct stat st;
    if (stat(path, &st) != 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return errno == ENOENT ? TR_ENOTFOUND : TR_EIO;
    }
    if (!S_ISREG(st.st_mode) || (size_t)st.st_size > APIKEYS_FILE_MAX) {
        snprintf(err, errlen, "%s: not a regular file of at most %u bytes", path, APIKEYS_FILE_MAX);
        return TR_EPARSE;
    }
    json_error_t jerr;
    json_t *doc = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
    if (!doc) {
        snprintf(err, errlen, "%s:%d:%d: %s", path, jerr.line, jerr.column, jerr.text);
        return TR_EPARSE;
    }
    int rc = keys_parse(doc, k, path, err, errlen);
    json_decref(doc);
    return rc;
}

/* ------------------------------------------------------------------------------------------- */
/* Save */

static json_t *keys_json(const struct apikeys *k)
{
    json_t *arr = json_array();
    for (size_t i = 0; arr && i < k->n; i++) {
        const struct apikey *e = &k->v[i];
        char hex[65];
        tr_hex_encode(e->sha256, 32, hex);
        json_t *o =
            json_pack("{s:s, s:s, s:s, s:s, s:s}", "id", e->id, "role", api_role_name(e->role),
                      "name", e->name, "created", e->created, "sha256", hex);
        if (o && e->revoked[0])
            json_object_set_new(o, "revoked", json_string(e->revoked));
        if (!o || json_array_append_new(arr, o) != 0) {
            json_decref(arr);
            return NULL;
        }
    }
    return arr ? json_pack("{s:i, s:o}", "version", 1, "keys", arr) : NULL;
}

static int write_all(int fd, const char *s, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, s, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        s += w;
        n -= (size_t)w;
    }
    return 0;
}

int apikeys_save(const char *dir, const struct apikeys *k, char *err, size_t errlen)
{
    char path[4200], tmp[4300];
    if (path_of(dir, APIKEYS_FILE, path, sizeof path) != TR_OK ||
        snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp) {
        snprintf(err, errlen, "%s: path too long", dir);
        return TR_EIO;
    }
    json_t *doc = keys_json(k);
    char *text = doc ? json_dumps(doc, JSON_INDENT(2)) : NULL;
    json_decref(doc);
    if (!text) {
        snprintf(err, errlen, "%s: out of memory", path);
        return TR_ENOMEM;
    }
    unlink(tmp); /* a leftover of a crash; the lock says no one else writes it now */
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    int bad = fd < 0 || fchmod(fd, 0600) != 0 || write_all(fd, text, strlen(text)) != 0 ||
              write_all(fd, "\n", 1) != 0 || fsync(fd) != 0;
    int e = errno;
    if (fd >= 0)
        bad |= close(fd) != 0;
    free(text);
    if (!bad && rename(tmp, path) != 0) {
        e = errno;
        bad = 1;
    }
    if (bad) {
        unlink(tmp);
        snprintf(err, errlen, "%s: cannot write: %s", path, strerror(e));
        return TR_EIO;
    }
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC); /* make the rename durable */
    if (dfd < 0 || fsync(dfd) != 0) {
        e = errno;
        if (dfd >= 0)
            close(dfd);
        snprintf(err, errlen, "%s: cannot sync the directory: %s", dir, strerror(e));
        return TR_EIO;
    }
    close(dfd);
    return TR_OK;
}

int apikeys_lock(const char *dir, char *err, size_t errlen)
{
    char path[4200];
    if (path_of(dir, APIKEYS_FILE ".lock", path, sizeof path) != TR_OK) {
        snprintf(err, errlen, "%s: path too long", dir);
        return -1;
    }
    int fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0 || flock(fd, LOCK_EX) != 0) {
        snprintf(err, errlen, "%s: cannot lock: %s", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    return fd;
}

void apikeys_unlock(int fd)
{
    if (fd >= 0)
        close(fd); /* releases the flock */
}

/* ------------------------------------------------------------------------------------------- */
/* Add, revoke, verify */

static void key_digest(const char *key, size_t len, uint8_t out[32])
{
    crypto_hash_sha256(out, (const unsigned char *)key, len);
}

int apikeys_add(struct apikeys *k, enum api_role role, const char *name, const char *created,
                char key[APIKEY_TEXT_BYTES + 1])
{
    if (role == API_ROLE_NONE || (name && !name_ok(name)) || !created ||
        strlen(created) >= sizeof k->v[0].created)
        return TR_EINVAL;
    if (k->n >= APIKEYS_MAX)
        return TR_ELIMIT;
    if (sodium_init() < 0)
        return TR_EINTERNAL;
    struct apikey *v = tr_realloc(k->v, (k->n + 1) * sizeof *v);
    if (!v)
        return TR_ENOMEM;
    k->v = v;
    struct apikey *e = &v[k->n];
    memset(e, 0, sizeof *e);
    uint8_t id[APIKEY_ID_HEX / 2], secret[APIKEY_SECRET_HEX / 2];
    bool unique;
    do { /* 64-bit ids: a repeat is vanishingly rare, but a duplicate must never be written */
        randombytes_buf(id, sizeof id);
        tr_hex_encode(id, sizeof id, e->id);
        unique = true;
        for (size_t i = 0; i < k->n; i++)
            unique = unique && strcmp(k->v[i].id, e->id) != 0;
    } while (!unique);
    randombytes_buf(secret, sizeof secret);
    memcpy(key, "trk_", 4);
    memcpy(key + 4, e->id, APIKEY_ID_HEX);
    key[4 + APIKEY_ID_HEX] = '_';
    tr_hex_encode(secret, sizeof secret, key + 5 + APIKEY_ID_HEX);
    key[APIKEY_TEXT_BYTES] = '\0';
    sodium_memzero(secret, sizeof secret);
    key_digest(key, APIKEY_TEXT_BYTES, e->sha256);
    e->role = role;
    snprintf(e->name, sizeof e->name, "%s", name ? name : "");
    snprintf(e->created, sizeof e->created, "%s", created);
    k->n++;
    return TR_OK;
}

int apikeys_revoke(struct apikeys *k, const char *id, const char *when)
{
    for (size_t i = 0; i < k->n; i++) {
        if (strcmp(k->v[i].id, id) != 0)
            continue;
        if (k->v[i].revoked[0])
            return TR_EEXISTS;
        snprintf(k->v[i].revoked, sizeof k->v[i].revoked, "%s", when);
        return TR_OK;
    }
    return TR_ENOTFOUND;
}

int apikeys_verify(const struct apikeys *k, const char *key, size_t len, enum api_role *role)
{
    if (len != APIKEY_TEXT_BYTES || memcmp(key, "trk_", 4) != 0 || key[4 + APIKEY_ID_HEX] != '_' ||
        !is_hex(key + 4, APIKEY_ID_HEX) || !is_hex(key + 5 + APIKEY_ID_HEX, APIKEY_SECRET_HEX))
        return TR_ENOTFOUND;
    uint8_t digest[32];
    key_digest(key, len, digest);
    for (size_t i = 0; i < k->n; i++) {
        const struct apikey *e = &k->v[i];
        if (memcmp(e->id, key + 4, APIKEY_ID_HEX) != 0)
            continue; /* ids are not secret: matching them in plain time reveals nothing */
        if (sodium_memcmp(e->sha256, digest, sizeof digest) != 0 || e->revoked[0])
            return TR_ENOTFOUND;
        *role = e->role;
        return TR_OK;
    }
    return TR_ENOTFOUND;
}

void apikeys_now(char *buf, size_t len)
{
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}
