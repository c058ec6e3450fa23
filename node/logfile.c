/* logfile.c — the Raft log as one append-only file of checksummed records (see logfile.h). The
 * index in memory: each entry's record offset, and the terms as runs (a term covers a range of
 * indexes). A mutex guards it between the writer thread and readers; the file is read with
 * pread, never through shared offsets. */
#include "node/logfile.h"

#include "common/alloc.h"
#include "common/err.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define HEADER_LEN    48
#define REC_HEAD_LEN  9  /* u32 length, u32 crc, u8 kind */
#define ENTRY_FIXED   17 /* u64 index, u64 term, u8 type */
#define HARD_LEN      24
#define TRUNC_LEN     8
#define KIND_ENTRY    1
#define KIND_HARD     2
#define KIND_TRUNCATE 3
#define VERSION       1u

static const char magic[8] = {'T', 'R', 'T', 'Y', 'L', 'O', 'G', '1'};

struct term_run {
    uint64_t start; /* first index of the run */
    uint64_t term;
};

/* What logfile_rollback restores (writer thread; the index parts under mu). */
struct log_mark {
    bool active;
    uint64_t end, last, durable;
    struct raft_hard_state hs;
    struct term_run *runs; /* the runs at the mark */
    size_t n_runs;
    uint64_t *off;     /* offsets of entries [off_from, last] at the mark, once a truncation */
    uint64_t off_from; /* dropped some of them (0: none saved) */
};

struct logfile {
    int fd;
    char *path;
    uint8_t network_id[32];
    struct log_mark mark;
    int failed; /* a write or sync failed: every later write refuses */
    bool read_only;
    uint64_t record_max;
    uint64_t end; /* file offset where the next record goes (writer thread only) */
    pthread_mutex_t mu;
    /* guarded by mu */
    uint64_t last, durable;
    uint64_t syncs; /* logfile_sync calls that flushed */
    uint64_t *off;  /* off[i - 1]: offset of entry i's record */
    size_t cap_off;
    struct term_run *runs;
    size_t n_runs, cap_runs;
    struct raft_hard_state hs;
};

/* ---------------------------------------------------------------------------------------------
 * CRC-32C: the SSE4.2 instruction when the CPU has it, else a table (reflected 0x82F63B78)
 * ------------------------------------------------------------------------------------------- */

static uint32_t crc_table[256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;
static bool crc_hw;

static void crc_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
        crc_table[i] = c;
    }
#if defined(__x86_64__)
    __builtin_cpu_init();
    crc_hw = __builtin_cpu_supports("sse4.2");
#endif
}

static uint32_t crc_sw(uint32_t c, const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        c = crc_table[(c ^ p[i]) & 0xff] ^ (c >> 8);
    return c;
}

#if defined(__x86_64__)
__attribute__((target("sse4.2"))) static uint32_t crc_hw_run(uint32_t c, const uint8_t *p, size_t n)
{
    uint64_t c64 = c;
    while (n >= 8) {
        uint64_t v;
        memcpy(&v, p, 8);
        c64 = __builtin_ia32_crc32di(c64, v);
        p += 8;
        n -= 8;
    }
    c = (uint32_t)c64;
    while (n--)
        c = __builtin_ia32_crc32qi(c, *p++);
    return c;
}
#endif

uint32_t logfile_crc32c(uint32_t crc, const void *data, size_t len)
{
    pthread_once(&crc_once, crc_init);
    uint32_t c = ~crc;
#if defined(__x86_64__)
    if (crc_hw)
        return ~crc_hw_run(c, data, len);
#endif
    return ~crc_sw(c, data, len);
}

/* ---------------------------------------------------------------------------------------------
 * Encoding
 * ------------------------------------------------------------------------------------------- */

static void put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void put64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get32(const uint8_t *p)
{
    uint32_t v = 0;
    for (int i = 3; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

static uint64_t get64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

/* Writes a record's 9-byte head before `payload` (len bytes, already in place after it). */
static void rec_head(uint8_t *rec, uint8_t kind, size_t len)
{
    put32(rec, (uint32_t)len);
    rec[8] = kind;
    uint32_t c = logfile_crc32c(0, rec + 8, 1);
    put32(rec + 4, logfile_crc32c(c, rec + REC_HEAD_LEN, len));
}

static void seterr(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void seterr(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || errlen == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* ---------------------------------------------------------------------------------------------
 * The index (callers hold mu)
 * ------------------------------------------------------------------------------------------- */

static int index_push(struct logfile *lf, uint64_t index, uint64_t term, uint64_t off)
{
    if (lf->last == lf->cap_off) {
        size_t cap = lf->cap_off ? lf->cap_off * 2 : 1024;
        uint64_t *v = tr_realloc(lf->off, cap * sizeof *v);
        if (!v)
            return TR_ENOMEM;
        lf->off = v;
        lf->cap_off = cap;
    }
    if (lf->n_runs == 0 || lf->runs[lf->n_runs - 1].term != term) {
        if (lf->n_runs == lf->cap_runs) {
            size_t cap = lf->cap_runs ? lf->cap_runs * 2 : 16;
            struct term_run *r = tr_realloc(lf->runs, cap * sizeof *r);
            if (!r)
                return TR_ENOMEM;
            lf->runs = r;
            lf->cap_runs = cap;
        }
        lf->runs[lf->n_runs++] = (struct term_run){index, term};
    }
    lf->off[lf->last] = off;
    lf->last = index;
    return TR_OK;
}

/* A truncation below the mark's end: the offsets it drops are kept for a rollback. */
static int mark_save(struct logfile *lf, uint64_t keep)
{
    struct log_mark *m = &lf->mark;
    if (!m->active || keep >= m->last || (m->off_from && m->off_from <= keep + 1))
        return TR_OK;
    uint64_t from = keep + 1, to = m->off_from ? m->off_from - 1 : m->last;
    uint64_t *v = tr_realloc(m->off, (size_t)(m->last - keep) * sizeof *v);
    if (!v)
        return TR_ENOMEM;
    if (m->off_from) /* keep what an earlier truncation saved, after the new part */
        memmove(v + (to - from + 1), v, (size_t)(m->last - m->off_from + 1) * sizeof *v);
    memcpy(v, lf->off + (from - 1), (size_t)(to - from + 1) * sizeof *v);
    m->off = v;
    m->off_from = from;
    return TR_OK;
}

static void index_truncate(struct logfile *lf, uint64_t keep)
{
    lf->last = keep;
    if (lf->durable > keep)
        lf->durable = keep;
    while (lf->n_runs > 0 && lf->runs[lf->n_runs - 1].start > keep)
        lf->n_runs--;
}

static uint64_t index_term(const struct logfile *lf, uint64_t index)
{
    size_t lo = 0, hi = lf->n_runs; /* the last run starting at or before index */
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (lf->runs[mid].start <= index)
            lo = mid;
        else
            hi = mid;
    }
    return lf->runs[lo].term;
}

static uint64_t last_term_locked(const struct logfile *lf)
{
    return lf->n_runs ? lf->runs[lf->n_runs - 1].term : 0;
}

/* ---------------------------------------------------------------------------------------------
 * Open: create, or read the records back
 * ------------------------------------------------------------------------------------------- */

static int sync_dir(const char *path)
{
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s", path);
    int dfd = open(dirname(tmp), O_RDONLY | O_DIRECTORY);
    if (dfd < 0)
        return TR_EIO;
    int rc = fsync(dfd) == 0 ? TR_OK : TR_EIO;
    close(dfd);
    return rc;
}

int logfile_install(const char *from, const char *to)
{
    if (rename(from, to) != 0)
        return TR_EIO;
    return sync_dir(to);
}

static int create_file(struct logfile *lf, const char *path, const uint8_t network_id[32],
                       char *err, size_t errlen)
{
    uint8_t h[HEADER_LEN] = {0};
    memcpy(h, magic, sizeof magic);
    put32(h + 8, VERSION);
    memcpy(h + 16, network_id, 32);
    if (pwrite(lf->fd, h, sizeof h, 0) != (ssize_t)sizeof h || fdatasync(lf->fd) != 0 ||
        sync_dir(path) != TR_OK) {
        seterr(err, errlen, "log file %s: cannot write its header: %s", path, strerror(errno));
        return TR_EIO;
    }
    lf->end = HEADER_LEN;
    return TR_OK;
}

static int check_header(struct logfile *lf, const char *path, const uint8_t network_id[32],
                        char *err, size_t errlen)
{
    uint8_t h[HEADER_LEN];
    ssize_t n = pread(lf->fd, h, sizeof h, 0);
    if (n < 0) {
        seterr(err, errlen, "log file %s: cannot read: %s", path, strerror(errno));
        return TR_EIO;
    }
    if (n != (ssize_t)sizeof h || memcmp(h, magic, sizeof magic) != 0) {
        seterr(err, errlen, "log file %s: not a treaty log file", path);
        return TR_ECORRUPT;
    }
    if (get32(h + 8) != VERSION) {
        seterr(err, errlen, "log file %s: format version %u, this build reads %u", path,
               get32(h + 8), VERSION);
        return TR_ECORRUPT;
    }
    if (memcmp(h + 16, network_id, 32) != 0) {
        seterr(err, errlen, "log file %s: belongs to another network", path);
        return TR_ECORRUPT;
    }
    return TR_OK;
}

/* Applies one complete, checksummed record read at `off` to the index. */
static int replay_record(struct logfile *lf, uint8_t kind, const uint8_t *p, size_t len,
                         uint64_t off, char *err, size_t errlen)
{
    if (kind == KIND_ENTRY && len >= ENTRY_FIXED) {
        uint64_t index = get64(p), term = get64(p + 8);
        if (index != lf->last + 1 || term < last_term_locked(lf)) {
            seterr(err, errlen, "entry %llu (term %llu) at offset %llu follows entry %llu",
                   (unsigned long long)index, (unsigned long long)term, (unsigned long long)off,
                   (unsigned long long)lf->last);
            return TR_ECORRUPT;
        }
        return index_push(lf, index, term, off);
    }
    if (kind == KIND_HARD && len == HARD_LEN) {
        lf->hs = (struct raft_hard_state){get64(p), get64(p + 8), get64(p + 16)};
        return TR_OK;
    }
    if (kind == KIND_TRUNCATE && len == TRUNC_LEN && get64(p) <= lf->last) {
        index_truncate(lf, get64(p));
        return TR_OK;
    }
    seterr(err, errlen, "a record of kind %u and %zu bytes at offset %llu makes no sense", kind,
           len, (unsigned long long)off);
    return TR_ECORRUPT;
}

enum rec_read { REC_GOOD, REC_INCOMPLETE, REC_BAD_SUM };

/* Reads the record at `off` (header into h, payload into *buf, grown as needed): REC_GOOD,
 * REC_INCOMPLETE (past the end, or a length over the limit), REC_BAD_SUM; or a negative TR_E*
 * (TR_EIO, TR_ENOMEM). */
static int read_record(struct logfile *lf, uint64_t off, uint64_t size, uint8_t h[REC_HEAD_LEN],
                       uint8_t **buf, size_t *cap)
{
    if (off + REC_HEAD_LEN > size)
        return REC_INCOMPLETE;
    if (pread(lf->fd, h, REC_HEAD_LEN, (off_t)off) != REC_HEAD_LEN)
        return TR_EIO;
    uint64_t len = get32(h);
    if (len > lf->record_max || off + REC_HEAD_LEN + len > size)
        return REC_INCOMPLETE;
    if (len > *cap) {
        uint8_t *b = tr_realloc(*buf, (size_t)len);
        if (!b)
            return TR_ENOMEM;
        *buf = b;
        *cap = (size_t)len;
    }
    if (len && pread(lf->fd, *buf, (size_t)len, (off_t)(off + REC_HEAD_LEN)) != (ssize_t)len)
        return TR_EIO;
    uint32_t c = logfile_crc32c(logfile_crc32c(0, h + 8, 1), *buf, (size_t)len);
    return c == get32(h + 4) ? REC_GOOD : REC_BAD_SUM;
}

/* The record at `off` is entry `index`, whole: TR_OK (its payload in *buf, its length in *len);
 * TR_ECORRUPT (incomplete, another kind or index, or its checksum fails); TR_EIO; TR_ENOMEM. */
static int entry_record(struct logfile *lf, uint64_t off, uint64_t size, uint64_t index,
                        uint8_t **buf, size_t *cap, size_t *len)
{
    uint8_t h[REC_HEAD_LEN];
    int got = read_record(lf, off, size, h, buf, cap);
    if (got < 0)
        return got;
    *len = get32(h);
    return got == REC_GOOD && h[8] == KIND_ENTRY && *len >= ENTRY_FIXED && get64(*buf) == index
               ? TR_OK
               : TR_ECORRUPT;
}

/* Writes all of buf at `off`: TR_OK or TR_EIO. */
static int pwrite_full(int fd, const uint8_t *buf, size_t len, uint64_t off)
{
    size_t done = 0;
    while (done < len) {
        ssize_t n = pwrite(fd, buf + done, len - done, (off_t)(off + done));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return TR_EIO;
        done += (size_t)n;
    }
    return TR_OK;
}

/* ---------------------------------------------------------------------------------------------
 * The index file: the index of a checked prefix, so that an open reads only what came after it
 * ------------------------------------------------------------------------------------------- */

/* "<log>.idx" (little-endian): "TRTYLIX1", u32 version 1, u32 0, the network id, u64 the log
 * file's inode, u64 end (the prefix's length in bytes), u64 CRC-32C of the prefix's last
 * IDX_TAIL_LEN bytes (or all after the header when fewer), u64 last index, u64 number of term
 * runs, the hard state (u64 term, vote, commit); then `last` u64 record offsets, the runs (u64
 * start, u64 term); then u32 CRC-32C of everything before it. */
#define IDX_FIELDS   8
#define IDX_HEAD_LEN (48 + 8 * IDX_FIELDS)
#define IDX_TAIL_LEN 4096
static const char idx_magic[8] = {'T', 'R', 'T', 'Y', 'L', 'I', 'X', '1'};

/* CRC-32C of the IDX_TAIL_LEN bytes before `end` (fewer when the file has fewer records). */
static int tail_crc(struct logfile *lf, uint64_t end, uint32_t *crc)
{
    uint8_t t[IDX_TAIL_LEN];
    size_t n = end - HEADER_LEN < IDX_TAIL_LEN ? (size_t)(end - HEADER_LEN) : IDX_TAIL_LEN;
    if (pread(lf->fd, t, n, (off_t)(end - n)) != (ssize_t)n)
        return TR_EIO;
    *crc = logfile_crc32c(0, t, n);
    return TR_OK;
}

static char *idx_path(const char *path)
{
    size_t n = strlen(path);
    char *p = tr_malloc(n + 5);
    if (p) {
        memcpy(p, path, n);
        memcpy(p + n, ".idx", 5);
    }
    return p;
}

int logfile_index_save(struct logfile *lf)
{
    if (lf->failed)
        return TR_EINVAL;
    int rc = logfile_sync(lf); /* the prefix the index describes is durable first */
    if (rc != TR_OK)
        return rc;
    struct stat st;
    uint32_t tcrc = 0;
    if (fstat(lf->fd, &st) != 0 || (lf->end > HEADER_LEN && tail_crc(lf, lf->end, &tcrc) != TR_OK))
        return TR_EIO;
    pthread_mutex_lock(&lf->mu);
    size_t len = IDX_HEAD_LEN + (size_t)lf->last * 8 + lf->n_runs * 16 + 4;
    uint8_t *b = tr_malloc(len);
    if (!b) {
        pthread_mutex_unlock(&lf->mu);
        return TR_ENOMEM;
    }
    memset(b, 0, IDX_HEAD_LEN);
    memcpy(b, idx_magic, sizeof idx_magic);
    put32(b + 8, VERSION);
    memcpy(b + 16, lf->network_id, 32);
    uint64_t head[IDX_FIELDS] = {(uint64_t)st.st_ino, lf->end,     tcrc,        lf->last,
                                 lf->n_runs,          lf->hs.term, lf->hs.vote, lf->hs.commit};
    for (size_t i = 0; i < IDX_FIELDS; i++)
        put64(b + 48 + 8 * i, head[i]);
    uint8_t *p = b + IDX_HEAD_LEN;
    for (uint64_t i = 0; i < lf->last; i++, p += 8)
        put64(p, lf->off[i]);
    for (size_t i = 0; i < lf->n_runs; i++, p += 16) {
        put64(p, lf->runs[i].start);
        put64(p + 8, lf->runs[i].term);
    }
    pthread_mutex_unlock(&lf->mu);
    put32(p, logfile_crc32c(0, b, len - 4));
    char *ip = idx_path(lf->path), *tmp = ip ? tr_malloc(strlen(ip) + 5) : NULL;
    if (!ip || !tmp) {
        tr_free(b);
        tr_free(ip);
        tr_free(tmp);
        return TR_ENOMEM;
    }
    snprintf(tmp, strlen(ip) + 5, "%s.tmp", ip);
    rc = TR_EIO;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd >= 0) {
        if (pwrite_full(fd, b, len, 0) == TR_OK && fdatasync(fd) == 0)
            rc = TR_OK;
        close(fd);
    }
    if (rc == TR_OK)
        rc = logfile_install(tmp, ip);
    if (rc != TR_OK)
        unlink(tmp);
    tr_free(b);
    tr_free(ip);
    tr_free(tmp);
    return rc;
}

/* Takes the index file's prefix when it describes this file: its checksum holds, it names this
 * network and this file (inode), the prefix lies inside the file and its last bytes are the ones
 * the index saw, its last entry's record checks, and the offsets and runs are ordered. The
 * entries of the prefix are not read: reading one checks its checksum (logfile_entry). true:
 * lf's index is the prefix's and lf->end its length; false: lf is untouched. */
static bool idx_load(struct logfile *lf, uint64_t size)
{
    char *ip = idx_path(lf->path);
    int fd = ip ? open(ip, O_RDONLY | O_CLOEXEC) : -1;
    tr_free(ip);
    if (fd < 0)
        return false;
    struct stat st, lst;
    uint8_t *b = NULL, *rb = NULL;
    size_t rcap = 0;
    bool ok = false;
    if (fstat(fd, &st) != 0 || fstat(lf->fd, &lst) != 0 || st.st_size < IDX_HEAD_LEN + 4 ||
        (uint64_t)st.st_size > ((uint64_t)1 << 34))
        goto out;
    size_t len = (size_t)st.st_size;
    if (!(b = tr_malloc(len)) || pread(fd, b, len, 0) != (ssize_t)len)
        goto out;
    if (memcmp(b, idx_magic, sizeof idx_magic) != 0 || get32(b + 8) != VERSION ||
        memcmp(b + 16, lf->network_id, 32) != 0 ||
        logfile_crc32c(0, b, len - 4) != get32(b + len - 4))
        goto out;
    uint64_t h[IDX_FIELDS];
    for (size_t i = 0; i < IDX_FIELDS; i++)
        h[i] = get64(b + 48 + 8 * i);
    uint64_t ino = h[0], end = h[1], last = h[3], n_runs = h[4];
    uint32_t tcrc = 0;
    if (ino != (uint64_t)lst.st_ino || end > size || end <= HEADER_LEN ||
        last > (len - IDX_HEAD_LEN - 4) / 8 || (last == 0) != (n_runs == 0) || n_runs > last ||
        len != IDX_HEAD_LEN + last * 8 + n_runs * 16 + 4 || tail_crc(lf, end, &tcrc) != TR_OK ||
        tcrc != h[2])
        goto out;
    const uint8_t *p = b + IDX_HEAD_LEN, *r = p + last * 8;
    size_t rlen = 0;
    if (last > 0 &&
        entry_record(lf, get64(p + 8 * (last - 1)), end, last, &rb, &rcap, &rlen) != TR_OK)
        goto out;
    for (uint64_t i = 0; i < last; i++)
        if (get64(p + 8 * i) < HEADER_LEN || get64(p + 8 * i) >= end ||
            (i > 0 && get64(p + 8 * i) <= get64(p + 8 * (i - 1))))
            goto out;
    for (uint64_t i = 0; i < n_runs; i++) {
        uint64_t start = get64(r + 16 * i), term = get64(r + 16 * i + 8);
        if (start < 1 || start > last || (i == 0 && start != 1) ||
            (i > 0 && (start <= get64(r + 16 * (i - 1)) || term <= get64(r + 16 * (i - 1) + 8))))
            goto out;
    }
    uint64_t *off = tr_malloc(last ? (size_t)last * 8 : 8);
    struct term_run *runs = tr_malloc(n_runs ? (size_t)n_runs * sizeof *runs : sizeof *runs);
    if (!off || !runs) {
        tr_free(off);
        tr_free(runs);
        goto out;
    }
    for (uint64_t i = 0; i < last; i++)
        off[i] = get64(p + 8 * i);
    for (uint64_t i = 0; i < n_runs; i++)
        runs[i] = (struct term_run){get64(r + 16 * i), get64(r + 16 * i + 8)};
    tr_free(lf->off);
    tr_free(lf->runs);
    lf->off = off;
    lf->cap_off = (size_t)last;
    lf->last = last;
    lf->runs = runs;
    lf->n_runs = lf->cap_runs = (size_t)n_runs;
    lf->hs = (struct raft_hard_state){h[5], h[6], h[7]};
    lf->end = end;
    ok = true;
out:
    close(fd);
    tr_free(b);
    tr_free(rb);
    return ok;
}

/* Reads every record (after the prefix an index file describes, when one does); cuts the file
 * at the first torn one. An entry record whose checksum fails but which a good record follows
 * was damaged where it lies (a torn write is the file's last): it keeps its place, and reading
 * it fails (TR_ECORRUPT), so the damage is reported at that entry instead of the log silently
 * losing everything after it. */
static int replay(struct logfile *lf, const char *path, struct logfile_open_info *info, char *err,
                  size_t errlen)
{
    struct stat st;
    if (fstat(lf->fd, &st) != 0)
        return TR_EIO;
    uint64_t size = (uint64_t)st.st_size, off = HEADER_LEN;
    if (idx_load(lf, size)) {
        info->indexed_bytes = lf->end;
        off = lf->end;
    }
    uint8_t *buf = NULL, *next_buf = NULL;
    size_t cap = 0, next_cap = 0;
    int rc = TR_OK;
    while (rc == TR_OK) {
        uint8_t h[REC_HEAD_LEN], nh[REC_HEAD_LEN];
        int got = read_record(lf, off, size, h, &buf, &cap);
        if (got < 0)
            rc = got;
        if (got != REC_GOOD && got != REC_BAD_SUM)
            break;
        uint64_t len = get32(h);
        if (got == REC_BAD_SUM) {
            uint64_t term = len >= ENTRY_FIXED ? get64(buf + 8) : 0;
            int next =
                h[8] == KIND_ENTRY && len >= ENTRY_FIXED
                    ? read_record(lf, off + REC_HEAD_LEN + len, size, nh, &next_buf, &next_cap)
                    : REC_INCOMPLETE;
            if (next < 0)
                rc = next;
            if (next != REC_GOOD)
                break;
            if (term < last_term_locked(lf))
                term = last_term_locked(lf);
            if ((rc = index_push(lf, lf->last + 1, term, off)) != TR_OK)
                break;
            info->damaged++;
        } else if ((rc = replay_record(lf, h[8], buf, (size_t)len, off, err, errlen)) != TR_OK) {
            break;
        }
        info->records++;
        off += REC_HEAD_LEN + len;
    }
    tr_free(buf);
    tr_free(next_buf);
    if (rc == TR_OK && off < size) {
        info->torn_bytes = size - off;
        if (!lf->read_only && (ftruncate(lf->fd, (off_t)off) != 0 || fdatasync(lf->fd) != 0))
            rc = TR_EIO;
    }
    if (rc == TR_EIO)
        seterr(err, errlen, "log file %s: cannot read it back: %s", path, strerror(errno));
    else if (rc == TR_ECORRUPT && err && errlen) {
        char what[256];
        snprintf(what, sizeof what, "%s", err);
        seterr(err, errlen, "log file %s: %s", path, what);
    }
    lf->end = off;
    lf->durable = lf->last;
    return rc;
}

int logfile_open(const char *path, const struct logfile_options *o, const uint8_t network_id[32],
                 struct logfile **out, struct logfile_open_info *info, char *err, size_t errlen)
{
    struct logfile_open_info dummy;
    info = info ? info : &dummy;
    memset(info, 0, sizeof *info);
    uint64_t record_max =
        o && o->record_max_bytes ? o->record_max_bytes : LOGFILE_RECORD_MAX_DEFAULT;
    if (record_max > UINT32_MAX || record_max < HARD_LEN) {
        seterr(err, errlen, "log file: record_max_bytes must be between %d and %u", HARD_LEN,
               UINT32_MAX);
        return TR_EINVAL;
    }
    struct logfile *lf = tr_calloc(1, sizeof *lf);
    if (!lf)
        return TR_ENOMEM;
    lf->record_max = record_max;
    memcpy(lf->network_id, network_id, 32);
    pthread_mutex_init(&lf->mu, NULL);
    if (!(lf->path = tr_malloc(strlen(path) + 1))) {
        pthread_mutex_destroy(&lf->mu);
        tr_free(lf);
        return TR_ENOMEM;
    }
    memcpy(lf->path, path, strlen(path) + 1);
    bool read_only = o && o->read_only;
    lf->fd = open(path, (read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC);
    int rc;
    if (lf->fd < 0 && errno == ENOENT && read_only) {
        logfile_close(lf);
        seterr(err, errlen, "log file %s is missing", path);
        return TR_ENOTFOUND;
    }
    lf->read_only = read_only;
    lf->failed = read_only; /* every write refuses */
    if (lf->fd < 0 && errno == ENOENT) {
        lf->fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        info->created = lf->fd >= 0;
        rc = lf->fd >= 0 ? create_file(lf, path, network_id, err, errlen) : TR_EIO;
    } else {
        rc = lf->fd >= 0 ? check_header(lf, path, network_id, err, errlen) : TR_EIO;
        if (rc == TR_OK)
            rc = replay(lf, path, info, err, errlen);
    }
    if (lf->fd < 0)
        seterr(err, errlen, "log file %s: cannot open: %s", path, strerror(errno));
    if (rc != TR_OK) {
        logfile_close(lf);
        return rc;
    }
    *out = lf;
    return TR_OK;
}

static void mark_end(struct logfile *lf)
{
    tr_free(lf->mark.runs);
    tr_free(lf->mark.off);
    memset(&lf->mark, 0, sizeof lf->mark);
}

void logfile_close(struct logfile *lf)
{
    if (!lf)
        return;
    if (lf->fd >= 0)
        close(lf->fd);
    mark_end(lf);
    pthread_mutex_destroy(&lf->mu);
    tr_free(lf->off);
    tr_free(lf->runs);
    tr_free(lf->path);
    tr_free(lf);
}

/* ---------------------------------------------------------------------------------------------
 * Writing
 * ------------------------------------------------------------------------------------------- */

static int write_all(struct logfile *lf, const uint8_t *buf, size_t len)
{
    if (pwrite_full(lf->fd, buf, len, lf->end) != TR_OK) {
        lf->failed = 1;
        return TR_EIO;
    }
    lf->end += len;
    return TR_OK;
}

/* Checks an append against the log as it stands; the caller holds no lock (only this writer
 * thread changes last and the runs). */
static int append_check(struct logfile *lf, const struct raft_entry *e, size_t n, size_t *bytes)
{
    pthread_mutex_lock(&lf->mu);
    uint64_t last = lf->last;
    uint64_t prev_term =
        e[0].index >= 2 && e[0].index - 1 <= last ? index_term(lf, e[0].index - 1) : 0;
    pthread_mutex_unlock(&lf->mu);
    if (e[0].index == 0 || e[0].index > last + 1 || e[0].term < prev_term)
        return TR_EINVAL;
    size_t total = e[0].index <= last ? REC_HEAD_LEN + TRUNC_LEN : 0;
    for (size_t i = 0; i < n; i++) {
        if ((i > 0 && (e[i].index != e[i - 1].index + 1 || e[i].term < e[i - 1].term)) ||
            e[i].type > RAFT_ENTRY_NOOP || (e[i].len && !e[i].data))
            return TR_EINVAL;
        if (e[i].len > lf->record_max - ENTRY_FIXED)
            return TR_ELIMIT;
        total += REC_HEAD_LEN + ENTRY_FIXED + e[i].len;
    }
    *bytes = total;
    return TR_OK;
}

int logfile_append(struct logfile *lf, const struct raft_entry *e, size_t n)
{
    if (lf->failed)
        return TR_EIO;
    if (n == 0)
        return TR_OK;
    size_t total = 0;
    int rc = append_check(lf, e, n, &total);
    if (rc != TR_OK)
        return rc;
    uint8_t *buf = tr_malloc(total);
    uint64_t *offs = tr_malloc(n * sizeof *offs);
    if (!buf || !offs) {
        tr_free(buf);
        tr_free(offs);
        return TR_ENOMEM;
    }
    uint64_t keep = e[0].index - 1;
    bool truncate = e[0].index <= logfile_last_index(lf);
    if (truncate) {
        pthread_mutex_lock(&lf->mu);
        rc = mark_save(lf, keep);
        pthread_mutex_unlock(&lf->mu);
        if (rc != TR_OK) {
            tr_free(buf);
            tr_free(offs);
            return rc;
        }
    }
    size_t at = 0;
    if (truncate) {
        put64(buf + REC_HEAD_LEN, keep);
        rec_head(buf, KIND_TRUNCATE, TRUNC_LEN);
        at = REC_HEAD_LEN + TRUNC_LEN;
    }
    for (size_t i = 0; i < n; i++) {
        uint8_t *r = buf + at;
        put64(r + REC_HEAD_LEN, e[i].index);
        put64(r + REC_HEAD_LEN + 8, e[i].term);
        r[REC_HEAD_LEN + 16] = (uint8_t)e[i].type;
        if (e[i].len)
            memcpy(r + REC_HEAD_LEN + ENTRY_FIXED, e[i].data, e[i].len);
        rec_head(r, KIND_ENTRY, ENTRY_FIXED + e[i].len);
        offs[i] = lf->end + at;
        at += REC_HEAD_LEN + ENTRY_FIXED + e[i].len;
    }
    rc = write_all(lf, buf, total);
    tr_free(buf);
    if (rc == TR_OK) {
        pthread_mutex_lock(&lf->mu);
        if (truncate)
            index_truncate(lf, keep);
        for (size_t i = 0; i < n && rc == TR_OK; i++)
            rc = index_push(lf, e[i].index, e[i].term, offs[i]);
        pthread_mutex_unlock(&lf->mu);
        if (rc != TR_OK)
            lf->failed = 1; /* the file has records the index lacks: stop writing */
    }
    tr_free(offs);
    return rc;
}

int logfile_truncate(struct logfile *lf, uint64_t keep)
{
    if (lf->failed)
        return TR_EIO;
    if (keep > logfile_last_index(lf))
        return TR_EINVAL;
    pthread_mutex_lock(&lf->mu);
    int rc = mark_save(lf, keep);
    pthread_mutex_unlock(&lf->mu);
    if (rc != TR_OK)
        return rc;
    uint8_t r[REC_HEAD_LEN + TRUNC_LEN];
    put64(r + REC_HEAD_LEN, keep);
    rec_head(r, KIND_TRUNCATE, TRUNC_LEN);
    rc = write_all(lf, r, sizeof r);
    if (rc == TR_OK) {
        pthread_mutex_lock(&lf->mu);
        index_truncate(lf, keep);
        pthread_mutex_unlock(&lf->mu);
    }
    return rc;
}

int logfile_hard_state_set(struct logfile *lf, const struct raft_hard_state *hs)
{
    if (lf->failed)
        return TR_EIO;
    uint8_t r[REC_HEAD_LEN + HARD_LEN];
    put64(r + REC_HEAD_LEN, hs->term);
    put64(r + REC_HEAD_LEN + 8, hs->vote);
    put64(r + REC_HEAD_LEN + 16, hs->commit);
    rec_head(r, KIND_HARD, HARD_LEN);
    int rc = write_all(lf, r, sizeof r);
    if (rc == TR_OK) {
        pthread_mutex_lock(&lf->mu);
        lf->hs = *hs;
        pthread_mutex_unlock(&lf->mu);
    }
    return rc;
}

int logfile_mark(struct logfile *lf)
{
    pthread_mutex_lock(&lf->mu);
    struct term_run *runs = NULL;
    if (lf->n_runs && !(runs = tr_malloc(lf->n_runs * sizeof *runs))) {
        pthread_mutex_unlock(&lf->mu);
        return TR_ENOMEM;
    }
    mark_end(lf);
    if (runs)
        memcpy(runs, lf->runs, lf->n_runs * sizeof *runs);
    lf->mark =
        (struct log_mark){true, lf->end, lf->last, lf->durable, lf->hs, runs, lf->n_runs, NULL, 0};
    pthread_mutex_unlock(&lf->mu);
    return TR_OK;
}

int logfile_rollback(struct logfile *lf)
{
    struct log_mark *m = &lf->mark;
    if (!m->active)
        return TR_EINVAL;
    if (lf->failed)
        return TR_EIO;
    if (lf->end != m->end && ftruncate(lf->fd, (off_t)m->end) != 0) {
        lf->failed = 1;
        return TR_EIO;
    }
    lf->end = m->end;
    pthread_mutex_lock(&lf->mu);
    /* The index capacity only grew since the mark, and runs at most by the mark's count. */
    if (m->off_from)
        memcpy(lf->off + (m->off_from - 1), m->off,
               (size_t)(m->last - m->off_from + 1) * sizeof *m->off);
    if (m->n_runs)
        memcpy(lf->runs, m->runs, m->n_runs * sizeof *m->runs);
    lf->n_runs = m->n_runs;
    lf->last = m->last;
    lf->durable = m->durable;
    lf->hs = m->hs;
    mark_end(lf);
    pthread_mutex_unlock(&lf->mu);
    return TR_OK;
}

int logfile_sync(struct logfile *lf)
{
    if (lf->failed)
        return TR_EIO;
    if (fdatasync(lf->fd) != 0) {
        lf->failed = 1; /* after a failed fsync the page cache may have dropped the data */
        return TR_EIO;
    }
    pthread_mutex_lock(&lf->mu);
    lf->durable = lf->last;
    lf->syncs++;
    pthread_mutex_unlock(&lf->mu);
    return TR_OK;
}

uint64_t logfile_syncs(struct logfile *lf)
{
    pthread_mutex_lock(&lf->mu);
    uint64_t v = lf->syncs;
    pthread_mutex_unlock(&lf->mu);
    return v;
}

/* ---------------------------------------------------------------------------------------------
 * Reading
 * ------------------------------------------------------------------------------------------- */

uint64_t logfile_last_index(struct logfile *lf)
{
    pthread_mutex_lock(&lf->mu);
    uint64_t v = lf->last;
    pthread_mutex_unlock(&lf->mu);
    return v;
}

uint64_t logfile_last_term(struct logfile *lf)
{
    pthread_mutex_lock(&lf->mu);
    uint64_t v = last_term_locked(lf);
    pthread_mutex_unlock(&lf->mu);
    return v;
}

uint64_t logfile_durable_index(struct logfile *lf)
{
    pthread_mutex_lock(&lf->mu);
    uint64_t v = lf->durable;
    pthread_mutex_unlock(&lf->mu);
    return v;
}

void logfile_hard_state(struct logfile *lf, struct raft_hard_state *hs)
{
    pthread_mutex_lock(&lf->mu);
    *hs = lf->hs;
    pthread_mutex_unlock(&lf->mu);
}

int logfile_term(struct logfile *lf, uint64_t index, uint64_t *term)
{
    if (index == 0) {
        *term = 0;
        return TR_OK;
    }
    pthread_mutex_lock(&lf->mu);
    int rc = index <= lf->last ? TR_OK : TR_ENOTFOUND;
    if (rc == TR_OK)
        *term = index_term(lf, index);
    pthread_mutex_unlock(&lf->mu);
    return rc;
}

int logfile_entry(struct logfile *lf, uint64_t index, struct raft_entry *e, uint8_t **buf,
                  size_t *cap)
{
    pthread_mutex_lock(&lf->mu);
    bool have = index >= 1 && index <= lf->last;
    uint64_t off = have ? lf->off[index - 1] : 0;
    pthread_mutex_unlock(&lf->mu);
    if (!have)
        return TR_ENOTFOUND;
    size_t len = 0;
    /* No size bound: a record cut short by the file's end reads short (TR_EIO). */
    int rc = entry_record(lf, off, UINT64_MAX, index, buf, cap, &len);
    if (rc != TR_OK)
        return rc;
    e->index = index;
    e->term = get64(*buf + 8);
    e->type = (enum raft_entry_type)(*buf)[16];
    e->data = *buf + ENTRY_FIXED;
    e->len = len - ENTRY_FIXED;
    return TR_OK;
}
