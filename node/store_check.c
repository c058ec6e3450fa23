/* store_check.c — before LMDB maps data.mdb: a file shorter than its newest meta page says would
 * be mapped past its end, and the first read of a missing page would kill the process with
 * SIGBUS. This reads the two meta pages (LMDB's on-disk format: a 16-byte page header, then
 * magic, version, address, map size, the two DB records of 48 bytes, last page number and txn
 * id, little-endian on the machines treaty runs on) and refuses a truncated file with a sentence
 * naming both sizes. */
#include "node/store.h"

#include "common/err.h"
#include "node/store_sync.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

int store_check_file(const char *path, char *err, size_t errlen)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return errno == ENOENT ? TR_OK : TR_EIO; /* a new store */
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "store: cannot read %s: %s", path, strerror(errno));
        return TR_EIO;
    }
    uint8_t page[2][160];
    size_t got = fread(page[0], 1, sizeof page[0], f);
    uint32_t psize =
        got == sizeof page[0] ? (uint32_t)store_meta_le(page[0] + STORE_META_OFF_PSIZE, 4) : 0;
    int ok = psize >= 512 && psize <= 65536 && (psize & (psize - 1)) == 0 &&
             store_meta_le(page[0] + STORE_META_OFF_MAGIC, 4) == STORE_META_MAGIC;
    if (ok)
        ok = fseek(f, psize, SEEK_SET) == 0 &&
             fread(page[1], 1, sizeof page[1], f) == sizeof page[1];
    fclose(f);
    if (!ok || store_meta_le(page[1] + STORE_META_OFF_MAGIC, 4) != STORE_META_MAGIC) {
        snprintf(err, errlen,
                 "store damaged: %s does not start with two LMDB meta pages (%lld bytes)", path,
                 (long long)st.st_size);
        return TR_ECORRUPT;
    }
    int newest = store_meta_le(page[1] + STORE_META_OFF_TXNID, 8) >
                 store_meta_le(page[0] + STORE_META_OFF_TXNID, 8);
    uint64_t last = store_meta_le(page[newest] + STORE_META_OFF_LAST_PG, 8);
    uint64_t need = (last + 1) * (uint64_t)psize;
    if ((uint64_t)st.st_size < need) {
        snprintf(err, errlen,
                 "store damaged: %s is %lld bytes but its newest meta page (txn %llu) uses pages "
                 "up to %llu, %llu bytes: the file was truncated",
                 path, (long long)st.st_size,
                 (unsigned long long)store_meta_le(page[newest] + STORE_META_OFF_TXNID, 8),
                 (unsigned long long)last, (unsigned long long)need);
        return TR_ECORRUPT;
    }
    return TR_OK;
}
