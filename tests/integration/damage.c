/* damage.c — treaty-damage: damages a stopped node's LMDB store the way test_store_damage.py
 * needs, through LMDB itself so that the file stays a well-formed LMDB file and only the ledger's
 * contents are wrong:
 *   treaty-damage DATA_DIR delete-block H        removes block H's header (l_blocks)
 *   treaty-damage DATA_DIR swap-blocks H1 H2     swaps two blocks' headers
 *   treaty-damage DATA_DIR flip DB KEY OFF BIT [SKIP]
 *                      flips bit BIT of byte SKIP + OFF mod (size - SKIP) of the value at u64 KEY
 *                      in DB (l_blocks, l_leaves, log, l_ckpt, ...); SKIP (default 0) leaves the
 *                      value's first bytes alone. DB "log" is the Raft log file (raft.log), whose
 *                      entry values are read as term | type | data, as the log's LMDB table
 *                      held them before the log file; the record's checksum is left as it was
 *   treaty-damage DATA_DIR old-layout            rewrites the store as written before the log file:
 *                      the log's entries and hard state into DBIs "log" and "raft", the move's
 *                      mark deleted, raft.log and its index removed (not damage: an old store)
 * Exit 0 done, 1 no such key, 2 usage, 3 LMDB or file failure. */
#include <errno.h>
#include <fcntl.h>
#include <lmdb.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int usage(const char *why)
{
    fprintf(stderr,
            "treaty-damage: %s\nusage: treaty-damage DATA_DIR (delete-block H | "
            "swap-blocks H1 H2 | flip DB KEY OFFSET BIT [SKIP] | old-layout)\n",
            why);
    return 2;
}

static void be64(uint8_t out[8], uint64_t v)
{
    for (int i = 7; i >= 0; i--, v >>= 8)
        out[i] = (uint8_t)v;
}

static int num(const char *s, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || *end)
        return -1;
    *out = v;
    return 0;
}

/* Copies the value at key k of dbi into a new buffer. */
static int get_copy(MDB_txn *t, MDB_dbi dbi, uint64_t key, uint8_t **out, size_t *len)
{
    uint8_t k[8];
    be64(k, key);
    MDB_val kv = {8, k}, v;
    int rc = mdb_get(t, dbi, &kv, &v);
    if (rc)
        return rc;
    *out = malloc(v.mv_size ? v.mv_size : 1);
    if (!*out)
        return ENOMEM;
    memcpy(*out, v.mv_data, v.mv_size);
    *len = v.mv_size;
    return 0;
}

static int put(MDB_txn *t, MDB_dbi dbi, uint64_t key, uint8_t *p, size_t len)
{
    uint8_t k[8];
    be64(k, key);
    MDB_val kv = {8, k}, v = {len, p};
    return mdb_put(t, dbi, &kv, &v, 0);
}

static uint64_t le(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

/* Flips a bit of entry KEY in DATA_DIR/raft.log (records: u32 length, u32 crc, u8 kind, payload;
 * an entry's payload is u64 index, u64 term, u8 type, data; kind 3 truncates after a u64 index).
 * The value starts at the payload's term. */
static int flip_log_file(const char *dir, uint64_t key, uint64_t off, uint64_t bit, uint64_t skip)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/raft.log", dir);
    int fd = open(path, O_RDWR);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        fprintf(stderr, "treaty-damage: %s: %s\n", path, strerror(errno));
        return 3;
    }
    uint64_t at = 48, found = 0, vlen = 0;
    uint8_t h[25];
    while (at + 9 <= (uint64_t)st.st_size && pread(fd, h, sizeof h, (off_t)at) >= 9) {
        uint64_t len = le(h, 4);
        if (h[8] == 1 && len >= 17 && le(h + 9, 8) == key) {
            found = at + 9 + 8;
            vlen = len - 8;
        } else if (h[8] == 3 && len == 8 && le(h + 9, 8) < key) {
            found = 0;
        }
        at += 9 + len;
    }
    int rc = 1;
    if (found && vlen > skip) {
        uint8_t c;
        off_t where = (off_t)(found + skip + off % (vlen - skip));
        rc = pread(fd, &c, 1, where) == 1 ? 0 : 3;
        c ^= (uint8_t)(1u << bit);
        if (!rc && (pwrite(fd, &c, 1, where) != 1 || fsync(fd) != 0))
            rc = 3;
    }
    close(fd);
    if (rc == 1)
        fprintf(stderr, "treaty-damage: flip log: no entry %llu\n", (unsigned long long)key);
    return rc;
}

/* old-layout: replays DATA_DIR/raft.log (entries, truncations, hard states) into DBIs "log"
 * (u64 index -> u64 term | u8 type | data, big-endian) and "raft" ("hard_state": term, vote,
 * commit) in txn t, and deletes meta's "log_file". A torn tail ends the replay, as at a start. */
static int old_layout(const char *dir, MDB_txn *t)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/raft.log", dir);
    FILE *f = fopen(path, "rb");
    if (!f)
        return errno;
    MDB_dbi log, raft, meta;
    int rc = mdb_dbi_open(t, "log", MDB_CREATE, &log);
    if (!rc)
        rc = mdb_dbi_open(t, "raft", MDB_CREATE, &raft);
    if (!rc)
        rc = mdb_dbi_open(t, "meta", 0, &meta);
    if (!rc && fseek(f, 48, SEEK_SET) != 0)
        rc = EIO;
    uint8_t h[9], *p = NULL;
    while (!rc && fread(h, 1, sizeof h, f) == sizeof h) {
        size_t len = (size_t)le(h, 4);
        uint8_t *np = realloc(p, len + 1);
        if (!np)
            rc = ENOMEM;
        else if (fread((p = np), 1, len, f) != len)
            break;
        if (rc)
            break;
        if (h[8] == 1 && len >= 17) { /* entry: u64 index, u64 term, u8 type, data */
            uint64_t index = le(p, 8);
            be64(p + 1, le(p + 8, 8)); /* term | type | data from byte 1 */
            uint8_t type = p[16];
            memmove(p + 10, p + 17, len - 17);
            p[9] = type;
            rc = put(t, log, index, p + 1, len - 8);
        } else if (h[8] == 3 && len == 8) { /* truncation: entries after u64 keep go */
            MDB_cursor *c;
            uint8_t k[8];
            be64(k, le(p, 8) + 1);
            MDB_val kv = {8, k}, v;
            rc = mdb_cursor_open(t, log, &c);
            for (int g = rc ? rc : mdb_cursor_get(c, &kv, &v, MDB_SET_RANGE); !rc && !g;
                 g = mdb_cursor_get(c, &kv, &v, MDB_NEXT))
                rc = mdb_cursor_del(c, 0);
            if (!rc)
                mdb_cursor_close(c);
        } else if (h[8] == 2 && len == 24) { /* hard state: u64 term, vote, commit */
            uint8_t hs[24];
            for (int i = 0; i < 3; i++)
                be64(hs + 8 * i, le(p + 8 * i, 8));
            MDB_val kv = {10, "hard_state"}, v = {24, hs};
            rc = mdb_put(t, raft, &kv, &v, 0);
        }
    }
    free(p);
    fclose(f);
    MDB_val mark = {8, "log_file"};
    if (!rc && (rc = mdb_del(t, meta, &mark, NULL)) == MDB_NOTFOUND)
        rc = 0;
    return rc;
}

int main(int argc, char **argv)
{
    if (argc < 3)
        return usage("too few arguments");
    const char *op = argv[2];
    const char *db = strcmp(op, "flip") == 0 ? argv[3] : "l_blocks";
    uint64_t a = 0, b = 0, off = 0, bit = 0, skip = 0;
    if (strcmp(op, "old-layout") == 0     ? argc != 3
        : strcmp(op, "delete-block") == 0 ? argc != 4 || num(argv[3], &a)
        : strcmp(op, "swap-blocks") == 0  ? argc != 5 || num(argv[3], &a) || num(argv[4], &b)
        : strcmp(op, "flip") == 0
            ? (argc != 7 && argc != 8) || num(argv[4], &a) || num(argv[5], &off) ||
                  num(argv[6], &bit) || bit > 7 || (argc == 8 && num(argv[7], &skip))
            : 1)
        return usage("bad operation or arguments");
    if (strcmp(op, "flip") == 0 && strcmp(db, "log") == 0)
        return flip_log_file(argv[1], a, off, bit, skip);
    MDB_env *env;
    MDB_txn *t = NULL;
    MDB_dbi dbi;
    int rc = mdb_env_create(&env);
    if (!rc)
        rc = mdb_env_set_maxdbs(env, 64);
    if (!rc)
        rc = mdb_env_set_mapsize(env, (size_t)1 << 30);
    if (!rc)
        rc = mdb_env_open(env, argv[1], 0, 0600);
    if (!rc)
        rc = mdb_txn_begin(env, NULL, 0, &t);
    if (!rc && strcmp(op, "old-layout") != 0)
        rc = mdb_dbi_open(t, db, 0, &dbi);
    uint8_t *x = NULL, *y = NULL, k[8];
    size_t xl = 0, yl = 0;
    if (!rc && strcmp(op, "old-layout") == 0) {
        rc = old_layout(argv[1], t);
    } else if (!rc && strcmp(op, "delete-block") == 0) {
        be64(k, a);
        MDB_val kv = {8, k};
        rc = mdb_del(t, dbi, &kv, NULL);
    } else if (!rc && strcmp(op, "swap-blocks") == 0) {
        rc = get_copy(t, dbi, a, &x, &xl);
        if (!rc)
            rc = get_copy(t, dbi, b, &y, &yl);
        if (!rc)
            rc = put(t, dbi, a, y, yl);
        if (!rc)
            rc = put(t, dbi, b, x, xl);
    } else if (!rc) {
        rc = get_copy(t, dbi, a, &x, &xl);
        if (!rc && xl <= skip)
            rc = MDB_NOTFOUND;
        if (!rc) {
            x[skip + off % (xl - skip)] ^= (uint8_t)(1u << bit);
            rc = put(t, dbi, a, x, xl);
        }
    }
    if (!rc)
        rc = mdb_txn_commit(t);
    else if (t)
        mdb_txn_abort(t);
    free(x);
    free(y);
    mdb_env_close(env);
    if (!rc && strcmp(op, "old-layout") == 0) {
        char path[4096];
        snprintf(path, sizeof path, "%s/raft.log.idx", argv[1]);
        unlink(path);
        snprintf(path, sizeof path, "%s/raft.log", argv[1]);
        if (unlink(path) != 0)
            rc = errno;
    }
    if (rc) {
        fprintf(stderr, "treaty-damage: %s %s: %s\n", op, db, mdb_strerror(rc));
        return rc == MDB_NOTFOUND ? 1 : 3;
    }
    return 0;
}
