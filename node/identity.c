/* identity.c — the org's Ed25519 key file: created once with O_EXCL (never overwritten), loaded
 * only when no group/other permission bit is set. The file holds the 32-byte seed; the public key
 * is always derived from it, so the two can never disagree on disk. */
#include "node/identity.h"

#include "common/err.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define IDENTITY_SEED_HEX 64

bool identity_name_valid(const char *org)
{
    if (!org || !(org[0] >= 'a' && org[0] <= 'z'))
        return false;
    size_t i = 1;
    for (; org[i]; i++) {
        char c = org[i];
        if (i > 62 || !((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'))
            return false;
    }
    return true;
}

static int hex__digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

int hex_decode(const char *s, uint8_t *out, size_t n)
{
    if (!s || strlen(s) != 2 * n)
        return TR_EPARSE;
    for (size_t i = 0; i < n; i++) {
        int hi = hex__digit(s[2 * i]), lo = hex__digit(s[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return TR_EPARSE;
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return TR_OK;
}

void identity_wipe(struct identity *id)
{
    if (id)
        sodium_memzero(id, sizeof *id);
}

static int identity__path(const char *dir, char *path, size_t cap, char *err, size_t errlen)
{
    int n = snprintf(path, cap, "%s/%s", dir, IDENTITY_KEY_FILE);
    if (n < 0 || (size_t)n >= cap) {
        snprintf(err, errlen, "directory path too long (%zu bytes): %s", strlen(dir), dir);
        return TR_EINVAL;
    }
    return TR_OK;
}

static int identity__check_org(const char *org, char *err, size_t errlen)
{
    if (identity_name_valid(org))
        return TR_OK;
    snprintf(err, errlen, "org name '%s' is invalid: expected ^[a-z][a-z0-9-]{0,62}$",
             org ? org : "");
    return TR_EINVAL;
}

/* Writes all of buf to fd, retrying on EINTR and short writes. */
static int identity__write_all(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t w = write(fd, buf, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        buf += w;
        len -= (size_t)w;
    }
    return 0;
}

int identity_create(const char *dir, const char *org, struct identity *out, char *err,
                    size_t errlen)
{
    char path[4096], line[IDENTITY_SEED_HEX + 2];
    memset(out, 0, sizeof *out);
    int rc = identity__check_org(org, err, errlen);
    if (rc == TR_OK)
        rc = identity__path(dir, path, sizeof path, err, errlen);
    if (rc != TR_OK)
        return rc;
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        snprintf(err, errlen, "%s: cannot create directory: %s", dir, strerror(errno));
        return TR_EIO;
    }
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) {
        int e = errno;
        snprintf(err, errlen, "%s: %s", path,
                 e == EEXIST ? "already exists; refusing to overwrite a key" : strerror(e));
        return e == EEXIST ? TR_EEXISTS : TR_EIO;
    }
    crypto_sign_keypair(out->pk, out->sk);
    tr_hex_encode(out->sk, 32, line);
    line[IDENTITY_SEED_HEX] = '\n';
    line[IDENTITY_SEED_HEX + 1] = '\0';
    int bad = fchmod(fd, 0600) != 0 || identity__write_all(fd, line, IDENTITY_SEED_HEX + 1) != 0 ||
              fsync(fd) != 0;
    int e = errno;
    bad |= close(fd) != 0;
    sodium_memzero(line, sizeof line);
    if (bad) {
        unlink(path);
        identity_wipe(out);
        snprintf(err, errlen, "%s: cannot write key: %s", path, strerror(e));
        return TR_EIO;
    }
    snprintf(out->org, sizeof out->org, "%s", org);
    return TR_OK;
}

/* Opens the key file and checks it is a regular file no one else can read. */
static int identity__open(const char *path, int *fdp, char *err, size_t errlen)
{
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        if (e == ENOENT) {
            snprintf(err, errlen, "%s: no key file (run 'treaty init' first)", path);
            return TR_ENOTFOUND;
        }
        snprintf(err, errlen, "%s: cannot open: %s", path,
                 e == ELOOP ? "is a symbolic link" : strerror(e));
        return e == ELOOP ? TR_EINVAL : TR_EIO;
    }
    struct stat st;
    int rc = TR_OK;
    if (fstat(fd, &st) != 0) {
        snprintf(err, errlen, "%s: cannot stat: %s", path, strerror(errno));
        rc = TR_EIO;
    } else if (!S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "%s: not a regular file", path);
        rc = TR_EINVAL;
    } else if (st.st_mode & 077) {
        snprintf(err, errlen, "%s: permissions %04o are too open; run chmod 600 %s", path,
                 (unsigned)(st.st_mode & 07777), path);
        rc = TR_EDENIED;
    }
    if (rc != TR_OK) {
        close(fd);
        return rc;
    }
    *fdp = fd;
    return TR_OK;
}

/* Reads the whole (short) file: one line of 64 hex digits, an optional final newline. */
static int identity__read_seed(int fd, const char *path, uint8_t seed[32], char *err, size_t errlen)
{
    char buf[IDENTITY_SEED_HEX + 3];
    size_t len = 0;
    int rc = TR_OK;
    for (;;) {
        ssize_t r = read(fd, buf + len, sizeof buf - 1 - len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            snprintf(err, errlen, "%s: cannot read: %s", path, strerror(errno));
            rc = TR_EIO;
            goto done;
        }
        if (r == 0 || (len += (size_t)r) == sizeof buf - 1)
            break;
    }
    buf[len] = '\0';
    if (len == IDENTITY_SEED_HEX + 1 && buf[IDENTITY_SEED_HEX] == '\n')
        buf[IDENTITY_SEED_HEX] = '\0';
    if (hex_decode(buf, seed, 32) != TR_OK) {
        snprintf(err, errlen, "%s: malformed key: expected one line of 64 lowercase hex digits",
                 path);
        rc = TR_EPARSE;
    }
done:
    sodium_memzero(buf, sizeof buf);
    return rc;
}

/* Derives the pair from the seed and proves it signs and verifies before the node relies on it. */
static int identity__derive(const uint8_t seed[32], struct identity *out, const char *path,
                            char *err, size_t errlen)
{
    static const unsigned char probe[] = "treaty/identity-check/v1";
    unsigned char sig[crypto_sign_BYTES];
    uint8_t pk2[32];
    if (crypto_sign_seed_keypair(out->pk, out->sk, seed) != 0 ||
        crypto_sign_ed25519_sk_to_pk(pk2, out->sk) != 0 || sodium_memcmp(pk2, out->pk, 32) != 0 ||
        crypto_sign_detached(sig, NULL, probe, sizeof probe, out->sk) != 0 ||
        crypto_sign_verify_detached(sig, probe, sizeof probe, out->pk) != 0) {
        snprintf(err, errlen, "%s: key self-check failed", path);
        return TR_ECRYPTO;
    }
    return TR_OK;
}

int identity_load(const char *dir, const char *org, struct identity *out, char *err, size_t errlen)
{
    char path[4096];
    uint8_t seed[32];
    int fd = -1;
    memset(out, 0, sizeof *out);
    int rc = identity__check_org(org, err, errlen);
    if (rc == TR_OK)
        rc = identity__path(dir, path, sizeof path, err, errlen);
    if (rc == TR_OK)
        rc = identity__open(path, &fd, err, errlen);
    if (rc != TR_OK)
        return rc;
    rc = identity__read_seed(fd, path, seed, err, errlen);
    close(fd);
    if (rc == TR_OK)
        rc = identity__derive(seed, out, path, err, errlen);
    sodium_memzero(seed, sizeof seed);
    if (rc != TR_OK) {
        identity_wipe(out);
        return rc;
    }
    snprintf(out->org, sizeof out->org, "%s", org);
    return TR_OK;
}
