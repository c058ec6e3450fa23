/* store_sync.c — synced.meta and the meta pages it restores (store_sync.h). */
#include "node/store_sync.h"

#include "common/err.h"
#include "node/logfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SLOT_BYTES 512
#define SLOT_CRC   (32 + STORE_SYNC_META_SAVE) /* offset of the CRC: everything before it */
_Static_assert(SLOT_CRC + 4 <= SLOT_BYTES, "a slot holds its record");
static const char SLOT_MAGIC[8] = {'T', 'R', 'S', 'Y', 'N', 'C', '0', '1'};

uint64_t store_meta_le(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

static void put_le(uint8_t *p, uint64_t v, int n)
{
    for (int i = 0; i < n; i++, v >>= 8)
        p[i] = (uint8_t)v;
}

static void slot_encode(const struct store_sync_rec *r, uint8_t s[SLOT_BYTES])
{
    memset(s, 0, SLOT_BYTES);
    memcpy(s, SLOT_MAGIC, sizeof SLOT_MAGIC);
    put_le(s + 8, r->seq, 8);
    put_le(s + 16, r->txnid, 8);
    put_le(s + 24, r->flags, 4);
    put_le(s + 28, r->psize, 4);
    memcpy(s + 32, r->meta, STORE_SYNC_META_SAVE);
    put_le(s + SLOT_CRC, logfile_crc32c(0, s, SLOT_CRC), 4);
}

static bool slot_decode(const uint8_t s[SLOT_BYTES], struct store_sync_rec *r)
{
    if (memcmp(s, SLOT_MAGIC, sizeof SLOT_MAGIC) != 0 ||
        store_meta_le(s + SLOT_CRC, 4) != logfile_crc32c(0, s, SLOT_CRC))
        return false;
    r->seq = store_meta_le(s + 8, 8);
    r->txnid = store_meta_le(s + 16, 8);
    r->flags = (uint32_t)store_meta_le(s + 24, 4);
    r->psize = (uint32_t)store_meta_le(s + 28, 4);
    memcpy(r->meta, s + 32, STORE_SYNC_META_SAVE);
    return true;
}

static void file_path(char *out, size_t n, const char *dir, const char *suffix)
{
    snprintf(out, n, "%s/" STORE_SYNC_FILE "%s", dir, suffix);
}

int store_sync_read(const char *dir, struct store_sync_rec *out, bool *found, char *err,
                    size_t errlen)
{
    char path[4200];
    file_path(path, sizeof path, dir, "");
    *found = false;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT)
            return TR_OK;
        snprintf(err, errlen, "store: cannot read %s: %s", path, strerror(errno));
        return TR_EIO;
    }
    uint8_t buf[2 * SLOT_BYTES];
    ssize_t got = pread(fd, buf, sizeof buf, 0);
    close(fd);
    if (got < 0) {
        snprintf(err, errlen, "store: cannot read %s: %s", path, strerror(errno));
        return TR_EIO;
    }
    struct store_sync_rec r[2];
    bool ok[2] = {got >= SLOT_BYTES && slot_decode(buf, &r[0]),
                  got >= 2 * SLOT_BYTES && slot_decode(buf + SLOT_BYTES, &r[1])};
    if (!ok[0] && !ok[1]) {
        snprintf(err, errlen,
                 "store damaged: %s (%lld bytes) holds no valid record of a synced LMDB state",
                 path, (long long)got);
        return TR_ECORRUPT;
    }
    int best = !ok[0] || (ok[1] && r[1].seq > r[0].seq);
    *out = r[best];
    *found = true;
    return TR_OK;
}

/* A new synced.meta holding `s` in its slot and zeros in the other, in place whole or not at all:
 * written to a temporary file, synced, renamed (logfile_install). */
static int create_file(const char *dir, int slot, const uint8_t s[SLOT_BYTES], int *fd, char *err,
                       size_t errlen)
{
    char path[4200], tmp[4200];
    file_path(path, sizeof path, dir, "");
    file_path(tmp, sizeof tmp, dir, ".tmp");
    uint8_t buf[2 * SLOT_BYTES] = {0};
    memcpy(buf + slot * SLOT_BYTES, s, SLOT_BYTES);
    int f = open(tmp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    const char *what = "create";
    if (f >= 0) {
        what = "write";
        if (pwrite(f, buf, sizeof buf, 0) != (ssize_t)sizeof buf)
            goto fail;
        what = "sync";
        if (fdatasync(f) != 0)
            goto fail;
        what = "install";
        if (logfile_install(tmp, path) != TR_OK)
            goto fail;
        *fd = f;
        return TR_OK;
    }
fail:
    snprintf(err, errlen, "store: cannot %s %s: %s", what, tmp, strerror(errno));
    if (f >= 0)
        close(f);
    return TR_EIO;
}

int store_sync_write(const char *dir, int *fd, const struct store_sync_rec *r, char *err,
                     size_t errlen)
{
    uint8_t s[SLOT_BYTES];
    slot_encode(r, s);
    int slot = (int)(r->seq % 2);
    if (*fd < 0) {
        char path[4200];
        file_path(path, sizeof path, dir, "");
        int f = open(path, O_RDWR | O_CLOEXEC);
        if (f < 0 && errno == ENOENT)
            return create_file(dir, slot, s, fd, err, errlen);
        if (f < 0) {
            snprintf(err, errlen, "store: cannot open %s: %s", path, strerror(errno));
            return TR_EIO;
        }
        *fd = f;
    }
    if (pwrite(*fd, s, sizeof s, (off_t)slot * SLOT_BYTES) != (ssize_t)sizeof s ||
        fdatasync(*fd) != 0) {
        snprintf(err, errlen, "store: cannot write %s/" STORE_SYNC_FILE ": %s", dir,
                 strerror(errno));
        return TR_EIO;
    }
    return TR_OK;
}

static bool meta_valid(const uint8_t *m)
{
    return store_meta_le(m + STORE_META_OFF_MAGIC, 4) == STORE_META_MAGIC;
}

int store_sync_meta_page(int fd, uint32_t psize, uint64_t txnid, uint8_t out[STORE_SYNC_META_SAVE])
{
    for (uint64_t slot = 0; slot < 2; slot++) {
        if (pread(fd, out, STORE_SYNC_META_SAVE, (off_t)(slot * psize)) != STORE_SYNC_META_SAVE)
            return TR_EIO;
        if (meta_valid(out) && store_meta_le(out + STORE_META_OFF_TXNID, 8) == txnid)
            return TR_OK;
    }
    return TR_ENOTFOUND;
}

int store_sync_restore(const char *data, const struct store_sync_rec *r, uint64_t *was, char *err,
                       size_t errlen)
{
    *was = 0;
    if (!meta_valid(r->meta) || store_meta_le(r->meta + STORE_META_OFF_TXNID, 8) != r->txnid ||
        store_meta_le(r->meta + STORE_META_OFF_PSIZE, 4) != r->psize) {
        snprintf(err, errlen,
                 "store damaged: the synced state recorded for %s is not an LMDB "
                 "meta page of txn %llu",
                 data, (unsigned long long)r->txnid);
        return TR_ECORRUPT;
    }
    int fd = open(data, O_RDWR | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, errlen, "store: cannot open %s: %s", data, strerror(errno));
        return TR_EIO;
    }
    uint8_t cur[2][STORE_SYNC_META_SAVE];
    int rc = TR_OK;
    for (int i = 0; i < 2 && rc == TR_OK; i++) {
        if (pread(fd, cur[i], sizeof cur[i], (off_t)i * r->psize) != (ssize_t)sizeof cur[i])
            rc = TR_EIO;
        else if (meta_valid(cur[i]) && store_meta_le(cur[i] + STORE_META_OFF_TXNID, 8) > *was)
            *was = store_meta_le(cur[i] + STORE_META_OFF_TXNID, 8);
    }
    if (rc == TR_OK && *was < r->txnid) {
        snprintf(err, errlen,
                 "store damaged: %s is at LMDB txn %llu, older than its last sync point (txn "
                 "%llu): the file lost flushed writes or was replaced",
                 data, (unsigned long long)*was, (unsigned long long)r->txnid);
        close(fd);
        return TR_ECORRUPT;
    }
    for (int i = 0; i < 2 && rc == TR_OK; i++) {
        uint8_t page[STORE_SYNC_META_SAVE];
        memcpy(page, r->meta, sizeof page);
        put_le(page, (uint64_t)i, 8); /* the page header's page number */
        if (pwrite(fd, page, sizeof page, (off_t)i * r->psize) != (ssize_t)sizeof page)
            rc = TR_EIO;
    }
    if (rc == TR_OK && fdatasync(fd) != 0)
        rc = TR_EIO;
    if (rc != TR_OK)
        snprintf(err, errlen, "store: cannot restore the meta pages of %s: %s", data,
                 strerror(errno));
    close(fd);
    return rc;
}
