/* store.c — the store of store.h: the Raft log and hard state in the log file raft.log
 * (logfile.h), everything else in LMDB: DBI "meta" (network id, applied index, applied
 * configuration, the log file's mark) and the ledger's. A store from before the log file kept the
 * log in DBI "log" (u64 BE index -> u64 BE term | u8 type | data) and the hard state in "raft";
 * the first open moves them to the file. Invariant: last_index/last_term cache the last committed
 * log entry; the w_* copies track the open write transaction and replace them only when its
 * commit succeeds. Called by the driver. */
#define _DEFAULT_SOURCE /* madvise(MADV_DONTNEED): posix_madvise's is a no-op on Linux */
#include "node/store.h"

#include "node/config.h"
#include "node/logfile.h"
#include "node/store_sync.h"

#include "common/alloc.h"
#include "common/err.h"
#include "common/log.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

/* The log file reads back any entry a node can replicate: a longer one would read as torn. */
_Static_assert(LOGFILE_RECORD_MAX_DEFAULT >= CONFIG_FRAME_MAX_BYTES_MAX, "log record limit");

#define LOG_VALUE_HEAD 9 /* u64 term | u8 type */
#define HS_SIZE        24
#define MIB            (UINT64_C(1) << 20)

enum { SYNC_IDLE, SYNC_REQUESTED, SYNC_DONE };

static const char KEY_NETWORK[] = "network_id";
static const char KEY_APPLIED[] = "applied";
static const char KEY_CONF[] = "conf";
static const char KEY_CONF_INDEX[] = "conf_index";
static const char KEY_HARD_STATE[] = "hard_state";
static const char KEY_LOG_FILE[] = "log_file"; /* present: the log is in raft.log */
static const char LOG_FILE[] = "raft.log";

struct store {
    MDB_env *env;
    MDB_dbi meta, log, raft;
    char *path;
    uint64_t map_max;
    uint64_t grow_floor;
    bool read_only;
    bool legacy_log;     /* read-only on a store from before the log file: the log is read from
                          * DBIs "log" and "raft" (legacy_*) and there is no log file */
    int grow_next;       /* a map-full happened: double at the next begin */
    uint64_t last_index; /* committed */
    uint64_t last_term;
    uint64_t w_last_index; /* as the open write transaction sees it */
    uint64_t w_last_term;
    MDB_txn *wtxn;
    int wtxn_err;         /* sticky error of wtxn, 0 when fine */
    atomic_int failed;    /* sticky: an I/O error at commit (set by either writer thread) */
    int fail_next_commit; /* test hook */
    int w_prepared;       /* the open write txn is a STORE_WRITE_PREPARED one (writer thread) */
    int unpublished;      /* a prepared commit's log end awaits store_write_publish */
    int log_unpublished;  /* store_log_persist wrote entries the log callbacks do not show yet */
    struct logfile *lf;   /* the Raft log and hard state */
    int log_written;      /* the open write transaction appended to the log file */
    unsigned readers;     /* live store_read_begin transactions */
    uint8_t *ebuf;        /* entry data handed to the Raft core */
    size_t ebuf_cap;
    /* Sync points (writer thread): commits in between are not flushed */
    uint64_t sync_interval_ns; /* 0: every commit flushed, no sync points */
    uint64_t synced_ns;        /* when the last sync point was taken */
    uint64_t sync_seq;         /* synced.meta's last record */
    int sync_fd;               /* synced.meta, open once written; -1 */
    bool sync_points;          /* the first sync point was taken: commits skip the flush */
    MDB_txn *pin;              /* a read transaction on the last recorded sync point's state */
    MDB_txn *pin_next;         /* on the state the sync thread is flushing; NULL: none */
    pthread_t sync_th;
    pthread_mutex_t sync_mu; /* guards the sync_* below, shared with the sync thread */
    pthread_cond_t sync_cv;
    int sync_state; /* SYNC_IDLE, SYNC_REQUESTED (sync_rec handed over), SYNC_DONE (sync_rc) */
    bool sync_stop;
    int sync_rc;
    struct store_sync_rec sync_rec;
    char sync_err[480];
    char errmsg[512];
};

static void store_err(struct store *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void store_err(struct store *s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->errmsg, sizeof(s->errmsg), fmt, ap);
    va_end(ap);
}

static void put_u64(uint8_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--) {
        p[i] = (uint8_t)(v & 0xff);
        v >>= 8;
    }
}

static uint64_t get_u64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = (v << 8) | p[i];
    return v;
}

static MDB_val val_str(const char *k)
{
    MDB_val v = {strlen(k), (void *)(uintptr_t)k};
    return v;
}

/* LMDB code of a read or put -> TR_E*. */
static int map_mdb(int rc)
{
    switch (rc) {
    case MDB_SUCCESS:
        return TR_OK;
    case MDB_NOTFOUND:
        return TR_ENOTFOUND;
    case MDB_MAP_FULL:
    case MDB_TXN_FULL:
        return TR_ELIMIT;
    case MDB_READERS_FULL:
        return TR_EBUSY;
    case MDB_CORRUPTED:
    case MDB_PAGE_NOTFOUND:
    case MDB_INVALID:
    case MDB_VERSION_MISMATCH:
        return TR_ECORRUPT;
    case ENOMEM:
        return TR_ENOMEM;
    default:
        return TR_EIO;
    }
}

static void hex8(const uint8_t id[32], char out[9])
{
    static const char digits[] = "0123456789abcdef";
    for (int i = 0; i < 4; i++) {
        out[2 * i] = digits[id[i] >> 4];
        out[2 * i + 1] = digits[id[i] & 15];
    }
    out[8] = '\0';
}

/* ------------------------------------------------------------------------------------------- */
/* Open / close */

static int open_dir(const char *path, bool create, char *err, size_t errlen)
{
    struct stat st;
    if (create && mkdir(path, 0700) != 0 && errno != EEXIST) {
        snprintf(err, errlen, "store: cannot create directory %s: %s", path, strerror(errno));
        return TR_EIO;
    }
    if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode)) {
        snprintf(err, errlen, "store: %s is not a directory", path);
        return TR_EIO;
    }
    return TR_OK;
}

/* Opens the DBIs and records or checks the network id, in one write transaction (read-only:
 * in a read transaction, which must find both). */
static int open_tables(struct store *s, const uint8_t network_id[32], char *err, size_t errlen)
{
    MDB_txn *txn = NULL;
    MDB_val k = val_str(KEY_NETWORK), v;
    unsigned create = s->read_only ? 0 : MDB_CREATE;
    int rc = mdb_txn_begin(s->env, NULL, s->read_only ? MDB_RDONLY : 0, &txn);
    if (rc == 0)
        rc = mdb_dbi_open(txn, "meta", create, &s->meta);
    if (rc == 0)
        rc = mdb_dbi_open(txn, "log", create, &s->log);
    if (rc == 0)
        rc = mdb_dbi_open(txn, "raft", create, &s->raft);
    if (rc == 0) {
        rc = mdb_get(txn, s->meta, &k, &v);
        if (rc == MDB_NOTFOUND && s->read_only) {
            snprintf(err, errlen, "store in %s has no network id: not a node's store", s->path);
            mdb_txn_abort(txn);
            return TR_ECORRUPT;
        } else if (rc == MDB_NOTFOUND) {
            MDB_val nv = {32, (void *)(uintptr_t)network_id};
            rc = mdb_put(txn, s->meta, &k, &nv, 0);
        } else if (rc == 0 && v.mv_size != 32) {
            snprintf(err, errlen, "store in %s: network id record is corrupt", s->path);
            mdb_txn_abort(txn);
            return TR_ECORRUPT;
        } else if (rc == 0 && memcmp(v.mv_data, network_id, 32) != 0) {
            char have[9], want[9];
            hex8(v.mv_data, have);
            hex8(network_id, want);
            snprintf(err, errlen,
                     "store in %s belongs to network %s\u2026, the genesis is network %s\u2026",
                     s->path, have, want);
            mdb_txn_abort(txn);
            return TR_EDENIED;
        }
    }
    if (rc == 0) {
        rc = mdb_txn_commit(txn);
        txn = NULL;
    }
    if (rc != 0) {
        if (txn != NULL)
            mdb_txn_abort(txn);
        snprintf(err, errlen, "store in %s: %s", s->path, mdb_strerror(rc));
        return map_mdb(rc);
    }
    return TR_OK;
}

/* A store whose last run took sync points and did not stop cleanly: LMDB's meta pages go back to
 * the last sync point's (store_sync.h), before anything reads them. */
static int restore_sync_point(struct store *s, const char *file, char *err, size_t errlen)
{
    struct store_sync_rec r;
    bool found = false;
    int rc = store_sync_read(s->path, &r, &found, err, errlen);
    if (rc != TR_OK || !found)
        return rc;
    s->sync_seq = r.seq;
    if (r.flags & STORE_SYNC_CLEAN)
        return TR_OK;
    uint64_t was = 0;
    rc = store_sync_restore(file, &r, &was, err, errlen);
    if (rc != TR_OK)
        return rc;
    char qpath[256];
    tr_log(TR_LOG_INFO, "store_sync_restored", "path=%s txn=%llu newest_txn=%llu",
           tr_log_quote(qpath, sizeof(qpath), s->path), (unsigned long long)r.txnid,
           (unsigned long long)was);
    return TR_OK;
}

static int open_env(struct store *s, const struct store_options *o, char *err, size_t errlen)
{
    char file[4200];
    snprintf(file, sizeof file, "%s/data.mdb", s->path);
    int rc = s->read_only ? TR_OK : restore_sync_point(s, file, err, errlen);
    if (rc == TR_OK)
        rc = store_check_file(file, err, errlen);
    if (rc != TR_OK)
        return rc;
    rc = mdb_env_create(&s->env);
    if (rc == 0)
        rc = mdb_env_set_maxdbs(s->env, STORE_MAX_DBS);
    if (rc == 0)
        rc = mdb_env_set_mapsize(s->env, (size_t)o->map_size_bytes);
    if (rc == 0)
        rc = mdb_env_open(s->env, s->path, MDB_NOTLS | (s->read_only ? MDB_RDONLY : 0), 0600);
    if (rc != 0) {
        snprintf(err, errlen, "store: cannot open LMDB environment in %s: %s", s->path,
                 mdb_strerror(rc));
        return rc == ENOMEM ? TR_ENOMEM : TR_EIO;
    }
    return TR_OK;
}

/* Copies the log and hard state of a store from before the log file (DBIs "log" and "raft")
 * into the log file at `tmp`, synced. */
static int copy_log(struct store *s, struct logfile *lf, uint64_t *moved)
{
    MDB_txn *txn = NULL;
    MDB_cursor *c = NULL;
    MDB_val k, v;
    int r = TR_OK, rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn);
    if (rc == 0)
        rc = mdb_cursor_open(txn, s->log, &c);
    for (rc = rc ? rc : mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0 && r == TR_OK;
         rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
        const uint8_t *p = v.mv_data;
        if (k.mv_size != 8 || v.mv_size < LOG_VALUE_HEAD) {
            r = TR_ECORRUPT;
            break;
        }
        size_t len = v.mv_size - LOG_VALUE_HEAD;
        struct raft_entry e = {get_u64(k.mv_data), get_u64(p), (enum raft_entry_type)p[8],
                               len ? p + LOG_VALUE_HEAD : NULL, len};
        if ((r = logfile_append(lf, &e, 1)) == TR_OK)
            (*moved)++;
    }
    if (r == TR_OK && rc != MDB_NOTFOUND)
        r = map_mdb(rc);
    if (r == TR_OK) {
        k = val_str(KEY_HARD_STATE);
        rc = mdb_get(txn, s->raft, &k, &v);
        if (rc == 0 && v.mv_size == HS_SIZE) {
            const uint8_t *p = v.mv_data;
            struct raft_hard_state hs = {get_u64(p), get_u64(p + 8), get_u64(p + 16)};
            r = logfile_hard_state_set(lf, &hs);
        } else if (rc != MDB_NOTFOUND) {
            r = rc == 0 ? TR_ECORRUPT : map_mdb(rc);
        }
    }
    if (c)
        mdb_cursor_close(c);
    if (txn)
        mdb_txn_abort(txn);
    return r == TR_OK ? logfile_sync(lf) : r;
}

/* Empties DBIs "log" and "raft" and marks the log as moved, durably. */
static int mark_log_moved(struct store *s)
{
    MDB_txn *txn = NULL;
    MDB_val k = val_str(KEY_LOG_FILE), v = {1, "1"};
    int rc = mdb_txn_begin(s->env, NULL, 0, &txn);
    if (rc == 0)
        rc = mdb_drop(txn, s->log, 0);
    if (rc == 0)
        rc = mdb_drop(txn, s->raft, 0);
    if (rc == 0)
        rc = mdb_put(txn, s->meta, &k, &v, 0);
    if (rc == 0) {
        rc = mdb_txn_commit(txn);
        txn = NULL;
    }
    if (txn)
        mdb_txn_abort(txn);
    return rc == 0 ? TR_OK : map_mdb(rc);
}

/* Moves the log to the log file, written aside and renamed into place before LMDB forgets it:
 * a crash at any point leaves either the old store whole or the moved one. A new store takes
 * the same path (an empty log). */
static int move_log(struct store *s, const uint8_t network_id[32], const char *path, char *err,
                    size_t errlen)
{
    char tmp[4300];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    unlink(tmp);
    unlink(path); /* a move that crashed after the rename: LMDB still has the log */
    struct logfile *lf = NULL;
    uint64_t moved = 0;
    int r = logfile_open(tmp, NULL, network_id, &lf, NULL, err, errlen);
    if (r != TR_OK)
        return r;
    r = copy_log(s, lf, &moved);
    logfile_close(lf);
    if (r == TR_OK)
        r = logfile_install(tmp, path);
    if (r == TR_OK)
        r = mark_log_moved(s);
    if (r != TR_OK) {
        unlink(tmp);
        snprintf(err, errlen, "store in %s: cannot move the raft log to %s: %s", s->path, LOG_FILE,
                 tr_strerror(r));
        return r;
    }
    if (moved > 0)
        tr_log(TR_LOG_INFO, "store_log_moved", "entries=%llu file=%s", (unsigned long long)moved,
               LOG_FILE);
    return TR_OK;
}

/* Value of entry `index` in DBI "log" of a store from before the log file, in txn. */
static int legacy_value(struct store *s, MDB_txn *txn, uint64_t index, MDB_val *v)
{
    uint8_t kb[8];
    put_u64(kb, index);
    MDB_val k = {8, kb};
    int rc = mdb_get(txn, s->log, &k, v);
    if (rc != 0)
        return rc == MDB_NOTFOUND ? TR_ENOTFOUND : map_mdb(rc);
    return v->mv_size < LOG_VALUE_HEAD ? TR_ECORRUPT : TR_OK;
}

/* Entry `index` of the LMDB log, its data copied into *buf (grown as needed). */
static int legacy_entry(struct store *s, uint64_t index, struct raft_entry *e, uint8_t **buf,
                        size_t *cap)
{
    MDB_txn *txn = NULL;
    MDB_val v;
    int r = store_read_begin(s, &txn);
    if (r == TR_OK)
        r = legacy_value(s, txn, index, &v);
    size_t len = r == TR_OK ? v.mv_size - LOG_VALUE_HEAD : 0;
    if (r == TR_OK && len > *cap) {
        uint8_t *nb = tr_realloc(*buf, len);
        if (nb) {
            *buf = nb;
            *cap = len;
        } else {
            r = TR_ENOMEM;
        }
    }
    if (r == TR_OK) {
        const uint8_t *p = v.mv_data;
        if (len)
            memcpy(*buf, p + LOG_VALUE_HEAD, len);
        *e = (struct raft_entry){index, get_u64(p), (enum raft_entry_type)p[8], *buf, len};
    }
    store_read_end(s, txn);
    return r;
}

static int legacy_term(struct store *s, uint64_t index, uint64_t *term)
{
    MDB_txn *txn = NULL;
    MDB_val v;
    int r = store_read_begin(s, &txn);
    if (r == TR_OK)
        r = legacy_value(s, txn, index, &v);
    if (r == TR_OK)
        *term = get_u64(v.mv_data);
    store_read_end(s, txn);
    return r;
}

/* A read-only open of a store from before the log file reads its log where it is. */
static int legacy_open(struct store *s, char *err, size_t errlen)
{
    MDB_txn *txn = NULL;
    MDB_cursor *c = NULL;
    MDB_val k, v;
    int rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn);
    if (rc == 0)
        rc = mdb_cursor_open(txn, s->log, &c);
    if (rc == 0) {
        rc = mdb_cursor_get(c, &k, &v, MDB_LAST);
        if (rc == 0 && (k.mv_size != 8 || v.mv_size < LOG_VALUE_HEAD))
            rc = MDB_CORRUPTED;
        if (rc == 0) {
            s->last_index = get_u64(k.mv_data);
            s->last_term = get_u64(v.mv_data);
        }
    }
    if (c)
        mdb_cursor_close(c);
    if (txn)
        mdb_txn_abort(txn);
    if (rc != 0 && rc != MDB_NOTFOUND) {
        snprintf(err, errlen, "store in %s: its raft log in LMDB: %s", s->path, mdb_strerror(rc));
        return map_mdb(rc);
    }
    s->legacy_log = true;
    tr_log(TR_LOG_INFO, "store_log_in_lmdb", "last_index=%llu", (unsigned long long)s->last_index);
    return TR_OK;
}

static int open_log(struct store *s, const uint8_t network_id[32], char *err, size_t errlen)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", s->path, LOG_FILE);
    MDB_txn *txn = NULL;
    MDB_val k = val_str(KEY_LOG_FILE), v;
    int rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn);
    if (rc == 0) {
        rc = mdb_get(txn, s->meta, &k, &v);
        mdb_txn_abort(txn);
    }
    if (rc != 0 && rc != MDB_NOTFOUND) {
        snprintf(err, errlen, "store in %s: %s", s->path, mdb_strerror(rc));
        return map_mdb(rc);
    }
    if (rc == MDB_NOTFOUND && s->read_only)
        return legacy_open(s, err, errlen);
    if (rc == MDB_NOTFOUND) {
        int r = move_log(s, network_id, path, err, errlen);
        if (r != TR_OK)
            return r;
    }
    struct logfile_open_info info;
    struct logfile_options lo = {.read_only = s->read_only};
    int r = logfile_open(path, &lo, network_id, &s->lf, &info, err, errlen);
    if (r != TR_OK)
        return r;
    if (info.created) {
        logfile_close(s->lf);
        s->lf = NULL;
        unlink(path);
        snprintf(err, errlen, "store in %s: its raft log file %s is missing", s->path, LOG_FILE);
        return TR_ECORRUPT;
    }
    if (info.indexed_bytes > 0)
        tr_log(TR_LOG_INFO, "store_log_indexed", "bytes=%llu read=%llu",
               (unsigned long long)info.indexed_bytes, (unsigned long long)info.records);
    if (info.damaged > 0)
        tr_log(TR_LOG_WARN, "store_log_damaged", "entries=%llu", (unsigned long long)info.damaged);
    if (info.torn_bytes > 0)
        tr_log(TR_LOG_WARN, "store_log_torn", "bytes=%llu records=%llu",
               (unsigned long long)info.torn_bytes, (unsigned long long)info.records);
    s->last_index = logfile_last_index(s->lf);
    s->last_term = logfile_last_term(s->lf);
    return TR_OK;
}

/* ---------------------------------------------------------------------------------------------
 * Sync points (store_sync.h). With an interval, LMDB commits are not flushed (MDB_NOSYNC); every
 * interval one commit is followed by a flush of the whole file, its meta page is recorded in
 * synced.meta, and a read transaction moves to its state: LMDB never reuses a page of a state a
 * reader holds, so the state the record names stays on disk as it was flushed until the next
 * sync point. A crash then costs at most an interval of applies, redone from the Raft log, whose
 * every write is flushed. Without an interval every commit flushes its data pages
 * (MDB_NOMETASYNC) and synced.meta, if there is one, is marked clean once at open.
 * ------------------------------------------------------------------------------------------- */

static uint64_t mono_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

/* Fills *r with the newest committed state (its txn id and meta page, from the page cache) and
 * takes a read transaction on it in *pin, unless pin is NULL. Writer thread, no write open. */
static int sync_capture(struct store *s, struct store_sync_rec *r, MDB_txn **pin)
{
    MDB_envinfo info;
    MDB_stat st;
    int fd = -1;
    int rc = mdb_env_info(s->env, &info);
    if (rc == 0)
        rc = mdb_env_stat(s->env, &st);
    if (rc == 0)
        rc = mdb_env_get_fd(s->env, &fd);
    if (rc != 0) {
        store_err(s, "store: cannot read LMDB's state: %s", mdb_strerror(rc));
        return TR_EIO;
    }
    r->seq = s->sync_seq + 1;
    r->txnid = (uint64_t)info.me_last_txnid;
    r->flags = 0;
    r->psize = st.ms_psize;
    int t = store_sync_meta_page(fd, r->psize, r->txnid, r->meta);
    if (t != TR_OK) {
        store_err(s, "store: the meta page of LMDB txn %llu %s", (unsigned long long)r->txnid,
                  t == TR_ENOTFOUND ? "is not on either meta page (another writer?)"
                                    : "cannot be read");
        return t == TR_ENOTFOUND ? TR_EINTERNAL : TR_EIO;
    }
    if (pin == NULL)
        return TR_OK;
    rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, pin);
    if (rc == 0 && mdb_txn_id(*pin) != (size_t)r->txnid)
        rc = MDB_BAD_TXN; /* a commit came in between: the store has one writer */
    if (rc != 0) {
        if (*pin != NULL)
            mdb_txn_abort(*pin);
        *pin = NULL;
        store_err(s, "store: cannot hold LMDB txn %llu: %s", (unsigned long long)r->txnid,
                  mdb_strerror(rc));
        return TR_EIO;
    }
    return TR_OK;
}

/* The flush and the record of a captured state: TR_OK, TR_EIO (err says what failed). */
static int sync_flush(struct store *s, const struct store_sync_rec *r, char *err, size_t errlen)
{
    int rc = mdb_env_sync(s->env, 1);
    if (rc != 0) {
        snprintf(err, errlen, "store: cannot flush LMDB: %s", mdb_strerror(rc));
        return TR_EIO;
    }
    return store_sync_write(s->path, &s->sync_fd, r, err, errlen);
}

/* A sync point taken at once (at open, and clean at close): writer thread, the sync thread not
 * running. Clean: no pin (nothing is written after it, or every commit is flushed). */
static int sync_point_now(struct store *s, bool clean)
{
    struct store_sync_rec r;
    MDB_txn *pin = NULL;
    int rc = sync_capture(s, &r, clean ? NULL : &pin);
    if (rc != TR_OK)
        return rc;
    r.flags = clean ? STORE_SYNC_CLEAN : 0;
    char err[480];
    rc = sync_flush(s, &r, err, sizeof err);
    if (rc != TR_OK) {
        if (pin != NULL)
            mdb_txn_abort(pin);
        store_err(s, "%s", err);
        return rc;
    }
    if (pin != NULL) {
        if (s->pin != NULL)
            mdb_txn_abort(s->pin);
        s->pin = pin;
    }
    s->sync_seq = r.seq;
    s->synced_ns = mono_ns();
    return TR_OK;
}

/* The sync thread: flushes each requested state and records it, off the writer's path. */
static void *sync_main(void *arg)
{
    struct store *s = arg;
    pthread_mutex_lock(&s->sync_mu);
    for (;;) {
        while (s->sync_state != SYNC_REQUESTED && !s->sync_stop)
            pthread_cond_wait(&s->sync_cv, &s->sync_mu);
        if (s->sync_state != SYNC_REQUESTED)
            break;
        struct store_sync_rec r = s->sync_rec;
        pthread_mutex_unlock(&s->sync_mu);
        char err[480] = "";
        int rc = sync_flush(s, &r, err, sizeof err);
        pthread_mutex_lock(&s->sync_mu);
        s->sync_rc = rc;
        snprintf(s->sync_err, sizeof s->sync_err, "%s", err);
        s->sync_state = SYNC_DONE;
        pthread_cond_broadcast(&s->sync_cv);
    }
    pthread_mutex_unlock(&s->sync_mu);
    return NULL;
}

/* Writer thread, after a commit: a finished sync point moves the pin to its state; then, when
 * the interval has passed and none is in flight, the newest state is captured, pinned and handed
 * to the sync thread. The old pin holds until the new state's record is durable. `wait`: first
 * waits for a sync point in flight (at close). */
static int sync_step(struct store *s, bool wait)
{
    pthread_mutex_lock(&s->sync_mu);
    while (wait && s->sync_state == SYNC_REQUESTED)
        pthread_cond_wait(&s->sync_cv, &s->sync_mu);
    int state = s->sync_state, rc = s->sync_rc;
    if (state == SYNC_DONE && rc != TR_OK)
        store_err(s, "%s", s->sync_err);
    pthread_mutex_unlock(&s->sync_mu);
    if (state == SYNC_DONE) {
        if (rc != TR_OK)
            return rc;
        mdb_txn_abort(s->pin);
        s->pin = s->pin_next;
        s->pin_next = NULL;
        s->sync_seq = s->sync_rec.seq;
        state = SYNC_IDLE;
        pthread_mutex_lock(&s->sync_mu);
        s->sync_state = SYNC_IDLE;
        pthread_mutex_unlock(&s->sync_mu);
    }
    if (wait || state != SYNC_IDLE || mono_ns() - s->synced_ns < s->sync_interval_ns)
        return TR_OK;
    struct store_sync_rec r;
    rc = sync_capture(s, &r, &s->pin_next);
    if (rc != TR_OK)
        return rc;
    s->synced_ns = mono_ns();
    pthread_mutex_lock(&s->sync_mu);
    s->sync_rec = r;
    s->sync_state = SYNC_REQUESTED;
    pthread_cond_signal(&s->sync_cv);
    pthread_mutex_unlock(&s->sync_mu);
    return TR_OK;
}

/* At open, writable: the first sync point (before any commit skips its flush) and the sync
 * thread; with no interval, a clean mark over a record an earlier run left. */
static int sync_points_start(struct store *s, uint32_t interval_ms, char *err, size_t errlen)
{
    int rc = TR_OK;
    if (interval_ms > 0) {
        s->sync_interval_ns = (uint64_t)interval_ms * 1000000u;
        rc = sync_point_now(s, false);
        if (rc == TR_OK && pthread_create(&s->sync_th, NULL, sync_main, s) != 0) {
            store_err(s, "store: cannot start the sync thread");
            rc = TR_ENOMEM;
        }
        s->sync_points = rc == TR_OK;
    } else if (s->sync_seq > 0) {
        rc = sync_point_now(s, true);
    }
    if (rc != TR_OK)
        snprintf(err, errlen, "%s", s->errmsg);
    return rc;
}

/* At close: the sync thread stopped after the sync point in flight, then a clean one. */
static void sync_points_stop(struct store *s)
{
    if (!s->sync_points)
        return;
    int rc = s->failed ? TR_EIO : sync_step(s, true);
    pthread_mutex_lock(&s->sync_mu);
    while (s->sync_state == SYNC_REQUESTED)
        pthread_cond_wait(&s->sync_cv, &s->sync_mu);
    s->sync_stop = true;
    pthread_cond_signal(&s->sync_cv);
    pthread_mutex_unlock(&s->sync_mu);
    pthread_join(s->sync_th, NULL);
    s->sync_points = false;
    if (rc == TR_OK && s->wtxn == NULL && !s->failed)
        rc = sync_point_now(s, true);
    if (rc != TR_OK && !s->failed) {
        char q[600];
        tr_log(TR_LOG_WARN, "store_sync_close_failed", "error=%s",
               tr_log_quote(q, sizeof q, s->errmsg));
    }
}

int store_open(const char *path, const struct store_options *o, const uint8_t network_id[32],
               struct store **out, char *err, size_t errlen)
{
    static const struct store_options defaults = {STORE_MAP_SIZE_DEFAULT_BYTES,
                                                  STORE_MAP_MAX_DEFAULT_BYTES, false, 0};
    char dummy[1];
    if (err == NULL || errlen == 0) {
        err = dummy;
        errlen = sizeof(dummy);
    }
    err[0] = '\0';
    if (o == NULL)
        o = &defaults;
    if (path == NULL || path[0] == '\0' || network_id == NULL || out == NULL) {
        snprintf(err, errlen, "store: path, network id and out are required");
        return TR_EINVAL;
    }
    if (o->map_size_bytes == 0 || o->map_max_bytes < o->map_size_bytes ||
        o->map_max_bytes > SIZE_MAX) {
        snprintf(err, errlen, "store: map_size_mb must be > 0 and <= map_max_mb");
        return TR_EINVAL;
    }
    if (o->sync_interval_ms > STORE_SYNC_INTERVAL_MAX_MS) {
        snprintf(err, errlen, "store: sync_interval_ms %u is above %u", o->sync_interval_ms,
                 STORE_SYNC_INTERVAL_MAX_MS);
        return TR_EINVAL;
    }
    int r = open_dir(path, !o->read_only, err, errlen);
    if (r != TR_OK)
        return r;
    struct store *s = tr_calloc(1, sizeof(*s));
    if (s == NULL || (s->path = tr_strdup(path)) == NULL) {
        tr_free(s);
        snprintf(err, errlen, "store: out of memory");
        return TR_ENOMEM;
    }
    s->map_max = o->map_max_bytes;
    s->read_only = o->read_only;
    s->sync_fd = -1;
    pthread_mutex_init(&s->sync_mu, NULL);
    pthread_cond_init(&s->sync_cv, NULL);
    s->grow_floor = STORE_GROW_FLOOR_BYTES;
    r = open_env(s, o, err, errlen);
    if (r == TR_OK)
        r = open_tables(s, network_id, err, errlen);
    if (r == TR_OK)
        r = open_log(s, network_id, err, errlen);
    if (r == TR_OK && !s->read_only)
        r = sync_points_start(s, o->sync_interval_ms, err, errlen);
    if (r != TR_OK)
        goto fail;
    MDB_envinfo info;
    mdb_env_info(s->env, &info);
    char qpath[256];
    tr_log(TR_LOG_INFO, "store_open", "path=%s map_bytes=%llu map_max_bytes=%llu last_index=%llu",
           tr_log_quote(qpath, sizeof(qpath), path), (unsigned long long)info.me_mapsize,
           (unsigned long long)s->map_max, (unsigned long long)s->last_index);
    *out = s;
    return TR_OK;
fail:
    store_close(s);
    return r;
}

int store_log_index_save(struct store *s)
{
    if (s->failed || s->wtxn != NULL || s->read_only)
        return TR_EINVAL;
    return logfile_index_save(s->lf);
}

void store_close(struct store *s)
{
    if (s == NULL)
        return;
    if (s->wtxn != NULL) {
        mdb_txn_abort(s->wtxn);
        s->wtxn = NULL;
    }
    sync_points_stop(s);
    if (s->pin_next != NULL)
        mdb_txn_abort(s->pin_next);
    if (s->pin != NULL)
        mdb_txn_abort(s->pin);
    if (s->sync_fd >= 0)
        close(s->sync_fd);
    if (s->env != NULL)
        mdb_env_close(s->env);
    logfile_close(s->lf);
    pthread_cond_destroy(&s->sync_cv);
    pthread_mutex_destroy(&s->sync_mu);
    tr_free(s->ebuf);
    tr_free(s->path);
    tr_free(s);
}

bool store_read_only(const struct store *s)
{
    return s->read_only;
}

MDB_env *store_env(struct store *s)
{
    return s->env;
}

const char *store_errmsg(const struct store *s)
{
    return s->errmsg;
}

uint64_t store_last_index(struct store *s)
{
    return s->last_index;
}

uint64_t store_log_syncs(struct store *s)
{
    return logfile_syncs(s->lf);
}

void store_fail_next_commit_for_test(struct store *s, int err)
{
    s->fail_next_commit = err;
}

void store_grow_floor_set_for_test(struct store *s, uint64_t bytes)
{
    s->grow_floor = bytes;
}

/* ------------------------------------------------------------------------------------------- */
/* Reads */

int store_read_begin(struct store *s, MDB_txn **txn)
{
    int rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, txn);
    if (rc != 0) {
        store_err(s, "store: cannot begin a read transaction: %s", mdb_strerror(rc));
        *txn = NULL;
        return map_mdb(rc) == TR_EBUSY ? TR_EBUSY : TR_EIO;
    }
    s->readers++;
    return TR_OK;
}

void store_read_end(struct store *s, MDB_txn *txn)
{
    if (txn == NULL)
        return;
    TR_ASSERT(s->readers > 0);
    mdb_txn_abort(txn);
    s->readers--;
}

static int get_u64_key(MDB_txn *txn, MDB_dbi dbi, const char *key, uint64_t *out)
{
    MDB_val k = val_str(key), v;
    int rc = mdb_get(txn, dbi, &k, &v);
    *out = 0;
    if (rc == MDB_NOTFOUND)
        return TR_OK;
    if (rc != 0)
        return map_mdb(rc);
    if (v.mv_size != 8)
        return TR_ECORRUPT;
    *out = get_u64(v.mv_data);
    return TR_OK;
}

/* Configuration record: u32 n_voters | u32 n_learners | ids as u64, all big-endian. */
static size_t conf_encode(const struct raft_conf *c, uint8_t *buf)
{
    size_t off = 8;
    put_u64(buf, ((uint64_t)c->n_voters << 32) | c->n_learners);
    for (uint32_t i = 0; i < c->n_voters; i++, off += 8)
        put_u64(buf + off, c->voters[i]);
    for (uint32_t i = 0; i < c->n_learners; i++, off += 8)
        put_u64(buf + off, c->learners[i]);
    return off;
}

static int conf_decode(const uint8_t *p, size_t len, struct raft_conf *c)
{
    memset(c, 0, sizeof(*c));
    if (len < 8)
        return TR_ECORRUPT;
    uint64_t counts = get_u64(p);
    uint64_t nv = counts >> 32, nl = counts & 0xffffffffu;
    if (nv > RAFT_MAX_MEMBERS || nl > RAFT_MAX_MEMBERS || len != 8 + 8 * (nv + nl))
        return TR_ECORRUPT;
    c->n_voters = (uint32_t)nv;
    c->n_learners = (uint32_t)nl;
    for (uint64_t i = 0; i < nv; i++)
        c->voters[i] = get_u64(p + 8 + 8 * i);
    for (uint64_t i = 0; i < nl; i++)
        c->learners[i] = get_u64(p + 8 + 8 * (nv + i));
    return TR_OK;
}

static int read_raft_state(struct store *s, MDB_txn *txn, struct raft_hard_state *hs,
                           uint64_t *applied, struct raft_conf *conf, uint64_t *conf_index)
{
    MDB_val k, v;
    int rc;
    if (s->legacy_log) {
        k = val_str(KEY_HARD_STATE);
        rc = mdb_get(txn, s->raft, &k, &v);
        memset(hs, 0, sizeof *hs);
        if (rc == 0 && v.mv_size != HS_SIZE)
            return TR_ECORRUPT;
        if (rc == 0)
            *hs = (struct raft_hard_state){get_u64(v.mv_data), get_u64((uint8_t *)v.mv_data + 8),
                                           get_u64((uint8_t *)v.mv_data + 16)};
        else if (rc != MDB_NOTFOUND)
            return map_mdb(rc);
    } else {
        logfile_hard_state(s->lf, hs);
    }
    int r = get_u64_key(txn, s->meta, KEY_APPLIED, applied);
    if (r == TR_OK)
        r = get_u64_key(txn, s->meta, KEY_CONF_INDEX, conf_index);
    if (r != TR_OK)
        return r;
    k = val_str(KEY_CONF);
    rc = mdb_get(txn, s->meta, &k, &v);
    if (rc == MDB_NOTFOUND) {
        memset(conf, 0, sizeof(*conf));
        return TR_OK;
    }
    if (rc != 0)
        return map_mdb(rc);
    return conf_decode(v.mv_data, v.mv_size, conf);
}

int store_raft_state(struct store *s, struct raft_hard_state *hs, uint64_t *applied,
                     struct raft_conf *conf, uint64_t *conf_index)
{
    struct raft_hard_state h;
    struct raft_conf c;
    uint64_t a, ci;
    MDB_txn *txn;
    int r = store_read_begin(s, &txn);
    if (r != TR_OK)
        return r;
    r = read_raft_state(s, txn, &h, &a, &c, &ci);
    store_read_end(s, txn);
    if (r != TR_OK) {
        store_err(s, "store: cannot read the raft state: %s", tr_strerror(r));
        return r;
    }
    if (hs != NULL)
        *hs = h;
    if (applied != NULL)
        *applied = a;
    if (conf != NULL)
        *conf = c;
    if (conf_index != NULL)
        *conf_index = ci;
    return TR_OK;
}

/* ------------------------------------------------------------------------------------------- */
/* raft_log_ops: committed entries through a read transaction reused until the next commit. */

static int log_read_failed(struct store *s, uint64_t index, int r)
{
    store_err(s, "store: log entry %llu: %s", (unsigned long long)index, tr_strerror(r));
    return r;
}

static int log_term(void *ctx, uint64_t index, uint64_t *term)
{
    struct store *s = ctx;
    if (index == 0 || index == s->last_index) {
        *term = index == 0 ? 0 : s->last_term;
        return TR_OK;
    }
    if (index > s->last_index)
        return TR_ENOTFOUND;
    int r = s->legacy_log ? legacy_term(s, index, term) : logfile_term(s->lf, index, term);
    return r == TR_OK ? r : log_read_failed(s, index, r);
}

/* Entry `index` with its data in *buf (grown as needed). */
static int log_read(struct store *s, uint64_t index, struct raft_entry *e, uint8_t **buf,
                    size_t *cap)
{
    int r = s->legacy_log ? legacy_entry(s, index, e, buf, cap)
                          : logfile_entry(s->lf, index, e, buf, cap);
    if (r != TR_OK)
        return log_read_failed(s, index, r);
    if (e->len == 0)
        e->data = NULL;
    return TR_OK;
}

static int log_entry(void *ctx, uint64_t index, struct raft_entry *e)
{
    struct store *s = ctx;
    if (index == 0 || index > s->last_index)
        return TR_ENOTFOUND;
    return log_read(s, index, e, &s->ebuf, &s->ebuf_cap);
}

/* Each thread's buffer for store_log_entry (valid until its next call). */
static __thread uint8_t *entry_buf;
static __thread size_t entry_cap;

int store_log_entry(struct store *s, MDB_txn *txn, uint64_t index, struct raft_entry *e)
{
    (void)txn; /* entries up to the applied index never change once applied */
    if (index == 0 || index > s->last_index)
        return log_read_failed(s, index, TR_ENOTFOUND);
    return log_read(s, index, e, &entry_buf, &entry_cap);
}

static int log_last_index(void *ctx, uint64_t *index)
{
    struct store *s = ctx;
    *index = s->last_index;
    return TR_OK;
}

struct raft_log_ops store_raft_log(struct store *s)
{
    struct raft_log_ops ops = {s, log_term, log_entry, log_last_index};
    return ops;
}

/* ------------------------------------------------------------------------------------------- */
/* Writes */

static int grow_needed(uint64_t map, uint64_t used, uint64_t floor)
{
    uint64_t free_bytes = used < map ? map - used : 0;
    uint64_t want = map / 4 > floor ? map / 4 : floor;
    return free_bytes < want;
}

/* Doubles the map until enough is free or map_max is reached. Needs no live transaction. */
static int store_grow(struct store *s)
{
    MDB_envinfo info;
    MDB_stat st;
    mdb_env_info(s->env, &info);
    mdb_env_stat(s->env, &st);
    uint64_t map = info.me_mapsize;
    uint64_t used = ((uint64_t)info.me_last_pgno + 1) * st.ms_psize;
    uint64_t target = map;
    while (target < s->map_max && (s->grow_next || grow_needed(target, used, s->grow_floor))) {
        target = target > s->map_max / 2 ? s->map_max : target * 2;
        s->grow_next = 0;
    }
    if (target == map)
        return TR_OK;
    if (s->readers > 0) {
        tr_log(TR_LOG_DEBUG, "store_grow_deferred", "readers=%u", s->readers);
        return TR_OK;
    }
    int rc = mdb_env_set_mapsize(s->env, (size_t)target);
    if (rc != 0) {
        store_err(s, "store: cannot grow the map to %llu MiB: %s",
                  (unsigned long long)(target / MIB), mdb_strerror(rc));
        tr_log(TR_LOG_ERROR, "store_grow_failed", "to_bytes=%llu error=%d",
               (unsigned long long)target, rc);
        return TR_EIO;
    }
    s->grow_next = 0;
    tr_log(TR_LOG_INFO, "store_grow",
           "from_bytes=%llu to_bytes=%llu used_bytes=%llu max_bytes=%llu", (unsigned long long)map,
           (unsigned long long)target, (unsigned long long)used, (unsigned long long)s->map_max);
    return TR_OK;
}

/* Unmaps (MADV_DONTNEED) every range of this process's memory mapped from the store's file, as
 * /proc/self/maps lists them (LMDB does not give its map's address). True when one was. */
static bool unmap_store_pages(struct store *s)
{
    int fd = -1;
    struct stat st;
    if (mdb_env_get_fd(s->env, &fd) != 0 || fstat(fd, &st) != 0)
        return false;
    FILE *f = fopen("/proc/self/maps", "r");
    if (!f)
        return false;
    char line[512];
    bool any = false;
    while (fgets(line, sizeof line, f)) {
        unsigned long long lo, hi, ino;
        unsigned maj, mnr;
        if (sscanf(line, "%llx-%llx %*s %*s %x:%x %llu", &lo, &hi, &maj, &mnr, &ino) != 5 ||
            ino != (unsigned long long)st.st_ino || maj != major(st.st_dev) ||
            mnr != minor(st.st_dev) || hi <= lo)
            continue;
        if (madvise((void *)(uintptr_t)lo, (size_t)(hi - lo), MADV_DONTNEED) == 0)
            any = true;
        else
            tr_log(TR_LOG_WARN, "store_trim_failed", "error=%d", errno);
    }
    fclose(f);
    return any;
}

int store_resident_trim(struct store *s, uint64_t max_bytes, bool *trimmed, uint64_t *resident)
{
    if (trimmed)
        *trimmed = false;
    if (resident)
        *resident = 0;
    if (max_bytes == 0)
        return TR_OK;
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long long size = 0, rss = 0, shared = 0;
    int n = f ? fscanf(f, "%llu %llu %llu", &size, &rss, &shared) : 0;
    if (f)
        fclose(f);
    if (n != 3)
        return TR_EIO;
    long page = sysconf(_SC_PAGESIZE);
    uint64_t bytes = (uint64_t)shared * (uint64_t)(page > 0 ? page : 4096);
    if (resident)
        *resident = bytes;
    if (bytes > max_bytes && unmap_store_pages(s) && trimmed)
        *trimmed = true;
    return TR_OK;
}

int store_write_prepare(struct store *s)
{
    if (s->failed)
        return TR_EIO;
    if (s->wtxn != NULL) {
        store_err(s, "store: a write transaction is already open");
        return TR_EBUSY;
    }
    return store_grow(s);
}

int store_write_begin(struct store *s)
{
    return store_write_begin_opts(s, 0);
}

int store_write_begin_opts(struct store *s, unsigned flags)
{
    if (s->failed)
        return TR_EIO;
    if (s->read_only) {
        store_err(s, "store: opened read-only");
        return TR_EDENIED;
    }
    if (s->wtxn != NULL) {
        store_err(s, "store: a write transaction is already open");
        return TR_EBUSY;
    }
    if (!(flags & STORE_WRITE_PREPARED)) {
        int r = store_grow(s);
        if (r != TR_OK)
            return r;
    }
    /* With the log in its own file, every LMDB commit may be lazy: what a crash undoes is
     * redone from the log. LMDB 0.9 ignores MDB_NOMETASYNC given to mdb_txn_begin (only 1.0
     * reads it there); the environment flag works in both. */
    int rc = mdb_env_set_flags(s->env, s->sync_points ? MDB_NOSYNC : MDB_NOMETASYNC, 1);
    if (rc == 0)
        rc = mdb_txn_begin(s->env, NULL, MDB_NOMETASYNC, &s->wtxn);
    if (rc != 0) {
        s->wtxn = NULL;
        store_err(s, "store: cannot begin a write transaction: %s", mdb_strerror(rc));
        return rc == ENOMEM ? TR_ENOMEM : TR_EIO;
    }
    s->wtxn_err = 0;
    s->w_prepared = (flags & STORE_WRITE_PREPARED) != 0;
    s->w_last_index = s->last_index;
    s->w_last_term = s->last_term;
    s->log_written = 0;
    return TR_OK;
}

/* Before a transaction's first log write: the mark an abort or a failed commit returns the log
 * file to (taken here, not at begin, so a transaction that only applies never touches the log
 * file another thread may be appending to). */
static int log_write_begin(struct store *s)
{
    if (s->read_only)
        return TR_EDENIED;
    if (s->log_written)
        return TR_OK;
    if (logfile_mark(s->lf) != TR_OK) {
        store_err(s, "store: cannot write the raft log: out of memory");
        return TR_ENOMEM;
    }
    s->log_written = 1;
    return TR_OK;
}

/* Common guard of the write calls: TR_OK when a healthy write transaction is open. */
static int write_ready(struct store *s)
{
    if (s->failed)
        return TR_EIO;
    if (s->wtxn == NULL) {
        store_err(s, "store: no write transaction is open");
        return TR_EINVAL;
    }
    return s->wtxn_err;
}

static void full_message(struct store *s)
{
    MDB_envinfo info;
    mdb_env_info(s->env, &info);
    if (info.me_mapsize >= s->map_max)
        store_err(s, "store is full: map_max_mb=%llu reached; raise store.map_max_mb",
                  (unsigned long long)(s->map_max / MIB));
    else
        store_err(s, "store map is full at %llu MiB (map_max_mb=%llu); it grows at the next write",
                  (unsigned long long)(info.me_mapsize / MIB),
                  (unsigned long long)(s->map_max / MIB));
}

/* A put/delete failed: the transaction becomes failed until abort. */
static int write_failed(struct store *s, int rc, const char *what)
{
    int r = map_mdb(rc);
    if (rc == MDB_MAP_FULL) {
        s->grow_next = 1;
        full_message(s);
    } else {
        store_err(s, "store: %s: %s", what, mdb_strerror(rc));
    }
    s->wtxn_err = r;
    return r;
}

static int entries_check(const struct store *s, const struct raft_entry *e, size_t n)
{
    if (e[0].index == 0 || e[0].index > s->w_last_index + 1)
        return TR_EINVAL;
    for (size_t i = 0; i < n; i++) {
        if (e[i].index != e[0].index + i || (unsigned)e[i].type > RAFT_ENTRY_NOOP ||
            (e[i].len > 0 && e[i].data == NULL))
            return TR_EINVAL;
        if (i > 0 && e[i].term < e[i - 1].term)
            return TR_EINVAL;
    }
    return TR_OK;
}

/* The log file refused a write: an I/O error fails the store (the node must stop). */
static int log_write_failed(struct store *s, int r, const char *what)
{
    if (r == TR_EIO)
        s->failed = 1;
    store_err(s, "store: %s: %s", what, tr_strerror(r));
    return r;
}

int store_write_entries(struct store *s, const struct raft_entry *e, size_t n)
{
    int r = write_ready(s);
    if (r != TR_OK || n == 0)
        return r;
    if (e == NULL || entries_check(s, e, n) != TR_OK) {
        store_err(s,
                  "store: entries must be contiguous with the log (last index %llu), "
                  "start at index >= 1 and have a known type and non-decreasing terms",
                  (unsigned long long)s->w_last_index);
        return TR_EINVAL;
    }
    if (e[0].index <= s->w_last_index)
        tr_log(TR_LOG_INFO, "store_truncate", "from=%llu last=%llu", (unsigned long long)e[0].index,
               (unsigned long long)s->w_last_index);
    if ((r = log_write_begin(s)) != TR_OK)
        return r;
    if ((r = logfile_append(s->lf, e, n)) != TR_OK)
        return log_write_failed(s, r, "write log entries");
    s->w_last_index = e[n - 1].index;
    s->w_last_term = e[n - 1].term;
    return TR_OK;
}

static int put_meta(struct store *s, MDB_dbi dbi, const char *key, const void *p, size_t len)
{
    MDB_val k = val_str(key), v = {len, (void *)(uintptr_t)p};
    int rc = mdb_put(s->wtxn, dbi, &k, &v, 0);
    return rc == 0 ? TR_OK : write_failed(s, rc, key);
}

int store_write_hard_state(struct store *s, const struct raft_hard_state *hs)
{
    int r = write_ready(s);
    if (r != TR_OK)
        return r;
    if (hs == NULL) {
        store_err(s, "store: hard state is required");
        return TR_EINVAL;
    }
    if ((r = log_write_begin(s)) != TR_OK)
        return r;
    r = logfile_hard_state_set(s->lf, hs);
    return r == TR_OK ? r : log_write_failed(s, r, "write the hard state");
}

int store_write_applied(struct store *s, uint64_t applied, const struct raft_conf *conf,
                        uint64_t conf_index)
{
    int r = write_ready(s);
    if (r != TR_OK)
        return r;
    if (conf != NULL && (conf_index > applied || conf->n_voters > RAFT_MAX_MEMBERS ||
                         conf->n_learners > RAFT_MAX_MEMBERS)) {
        store_err(s, "store: configuration index %llu after applied %llu or too many members",
                  (unsigned long long)conf_index, (unsigned long long)applied);
        return TR_EINVAL;
    }
    uint8_t b[8 + 16 * RAFT_MAX_MEMBERS];
    put_u64(b, applied);
    r = put_meta(s, s->meta, KEY_APPLIED, b, 8);
    if (r != TR_OK || conf == NULL)
        return r;
    put_u64(b, conf_index);
    r = put_meta(s, s->meta, KEY_CONF_INDEX, b, 8);
    if (r == TR_OK)
        r = put_meta(s, s->meta, KEY_CONF, b, conf_encode(conf, b));
    return r;
}

MDB_txn *store_write_txn(struct store *s)
{
    return s->wtxn;
}

/* The commit failed with LMDB code rc (the transaction is gone). */
static int commit_failed(struct store *s, int rc)
{
    if (rc == MDB_MAP_FULL) {
        s->grow_next = 1;
        full_message(s);
        return TR_ELIMIT;
    }
    if (rc == MDB_BAD_TXN) {
        store_err(s, "store: commit of a failed write transaction refused; nothing was written");
        return TR_EINTERNAL;
    }
    s->failed = 1;
    store_err(s, "store: commit failed, the node must stop: %s", mdb_strerror(rc));
    tr_log(TR_LOG_ERROR, "store_commit_failed", "error=%d", rc);
    return TR_EIO;
}

int store_write_commit(struct store *s)
{
    int r = write_ready(s);
    if (r != TR_OK)
        return r;
    int rc, wrote_log = s->log_written;
    /* The log first: an apply in this transaction may be of entries it wrote. */
    if (s->log_written && (r = logfile_sync(s->lf)) != TR_OK) {
        mdb_txn_abort(s->wtxn);
        s->wtxn = NULL;
        return log_write_failed(s, r, "sync the raft log");
    }
    if (s->fail_next_commit != 0) {
        rc = s->fail_next_commit == TR_ELIMIT ? MDB_MAP_FULL : EIO;
        s->fail_next_commit = 0;
        mdb_txn_abort(s->wtxn);
    } else {
        rc = mdb_txn_commit(s->wtxn);
    }
    s->wtxn = NULL;
    if (rc != 0 && s->log_written) {
        /* Nothing of a failed commit stays: the log goes back to its mark, durably. */
        if (logfile_rollback(s->lf) != TR_OK || logfile_sync(s->lf) != TR_OK)
            s->failed = 1;
    }
    s->log_written = 0;
    if (rc == 0 && s->sync_points && sync_step(s, false) != TR_OK) {
        s->failed = 1; /* the commit stands; what follows it cannot be trusted to the disk */
        char q[600];
        tr_log(TR_LOG_ERROR, "store_sync_failed", "error=%s", tr_log_quote(q, sizeof q, s->errmsg));
        return TR_EIO;
    }
    if (s->w_prepared) {
        /* The loop thread may be reading the log meanwhile (through its own read transaction and
         * last_index/last_term): it takes the new end in store_write_publish. A transaction
         * that wrote no log leaves the end alone: the log worker may have moved it meanwhile. */
        if (rc != 0)
            return commit_failed(s, rc);
        if (wrote_log)
            s->unpublished = 1;
        return TR_OK;
    }
    if (rc != 0)
        return commit_failed(s, rc);
    s->last_index = s->w_last_index;
    s->last_term = s->w_last_term;
    return TR_OK;
}

int store_log_persist(struct store *s, const struct raft_entry *e, size_t n,
                      const struct raft_hard_state *hs)
{
    if (s->failed)
        return TR_EIO;
    if (s->read_only)
        return TR_EDENIED;
    uint64_t last = logfile_last_index(s->lf);
    if (n > 0) {
        if (e == NULL || e[0].index == 0 || e[0].index > last + 1) {
            store_err(s, "store: entries must be contiguous with the log (last index %llu)",
                      (unsigned long long)last);
            return TR_EINVAL;
        }
        if (e[0].index <= last)
            tr_log(TR_LOG_INFO, "store_truncate", "from=%llu last=%llu",
                   (unsigned long long)e[0].index, (unsigned long long)last);
    }
    /* A hard state that changes only the commit index is written but not flushed: the term
     * and vote on file are durable (a change of either is flushed here), and a commit index a
     * crash takes away is learned again (the core takes an applied entry as committed). */
    bool flush = n > 0 || hs == NULL;
    if (!flush) {
        struct raft_hard_state on;
        logfile_hard_state(s->lf, &on);
        flush = hs->term != on.term || hs->vote != on.vote;
    }
    int r = n > 0 ? logfile_append(s->lf, e, n) : TR_OK;
    if (r == TR_OK && hs != NULL)
        r = logfile_hard_state_set(s->lf, hs);
    if (r == TR_OK && flush)
        r = logfile_sync(s->lf);
    if (r != TR_OK)
        return log_write_failed(s, r, "persist the raft log");
    if (n > 0)
        s->log_unpublished = 1;
    return TR_OK;
}

void store_write_publish(struct store *s)
{
    if (s->log_unpublished) {
        s->log_unpublished = 0;
        s->last_index = logfile_last_index(s->lf);
        s->last_term = logfile_last_term(s->lf);
        s->unpublished = 0; /* the LMDB commit of the same Ready wrote no entries */
        return;
    }
    if (!s->unpublished)
        return;
    s->unpublished = 0;
    s->last_index = s->w_last_index;
    s->last_term = s->w_last_term;
}

/* An aborted transaction's log writes are undone: the log file returns to its mark (the log
 * and hard state as they were at store_write_begin). */
static void log_undo(struct store *s)
{
    if (!s->log_written || s->failed)
        return;
    s->log_written = 0;
    if (logfile_rollback(s->lf) != TR_OK)
        s->failed = 1;
}

void store_write_abort(struct store *s)
{
    log_undo(s);
    if (s->wtxn != NULL)
        mdb_txn_abort(s->wtxn);
    s->wtxn = NULL;
    s->wtxn_err = 0;
    s->w_last_index = s->last_index;
    s->w_last_term = s->last_term;
}
