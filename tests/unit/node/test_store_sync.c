/* test_store_sync.c — suite `store_sync` for the store's sync points (node/store.c, "Sync
 * points", and node/store_sync.c): a crashed store opens at its last sync point, also when every
 * page LMDB allocated after it is lost; a clean stop keeps everything; the interval's limit; a
 * damaged or impossible synced.meta refuses the open with a sentence. A crash is a forked child
 * that commits and _exits without closing the store. */
#include "node/store.h"
#include "node/store_sync.h"

#include "common/err.h"

#include <check.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

Suite *suite_store_sync(void);

#define MIB (UINT64_C(1) << 20)

static char tmp_root[64];
static char store_dir[128];
static uint8_t net[32];

static void setup(void)
{
    snprintf(tmp_root, sizeof tmp_root, "/tmp/treaty-sync-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tmp_root));
    snprintf(store_dir, sizeof store_dir, "%s/data", tmp_root);
    memset(net, 0x5a, sizeof net);
}

static void teardown(void)
{
    static const char *const files[] = {"data.mdb",
                                        "lock.mdb",
                                        "raft.log",
                                        "raft.log.idx",
                                        "raft.log.tmp",
                                        STORE_SYNC_FILE,
                                        STORE_SYNC_FILE ".tmp"};
    char p[256];
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        snprintf(p, sizeof p, "%s/%s", store_dir, files[i]);
        unlink(p);
    }
    rmdir(store_dir);
    rmdir(tmp_root);
}

static int open_store(uint32_t interval_ms, struct store **s, char *err, size_t errlen)
{
    struct store_options o = {4 * MIB, 64 * MIB, false, interval_ms};
    return store_open(store_dir, &o, net, s, err, errlen);
}

static struct store *open_ok(uint32_t interval_ms)
{
    struct store *s = NULL;
    char err[512];
    int rc = open_store(interval_ms, &s, err, sizeof err);
    ck_assert_msg(rc == TR_OK, "store_open: %s", err);
    return s;
}

static uint64_t applied_of(struct store *s)
{
    uint64_t applied = 0;
    ck_assert_int_eq(store_raft_state(s, NULL, &applied, NULL, NULL), TR_OK);
    return applied;
}

/* Commits applied indexes from+1 .. to, each with a 64 KiB value (pages allocated past the
 * synced state). */
static void commit_applied(struct store *s, uint64_t from, uint64_t to)
{
    static uint8_t blob[64 * 1024];
    for (uint64_t i = from + 1; i <= to; i++) {
        ck_assert_int_eq(store_write_begin(s), TR_OK);
        MDB_txn *t = store_write_txn(s);
        MDB_dbi dbi;
        ck_assert_int_eq(mdb_dbi_open(t, "t_blobs", MDB_CREATE, &dbi), 0);
        memset(blob, (int)i, sizeof blob);
        MDB_val k = {sizeof i, &i}, v = {sizeof blob, blob};
        ck_assert_int_eq(mdb_put(t, dbi, &k, &v, 0), 0);
        ck_assert_int_eq(store_write_applied(s, i, NULL, 0), TR_OK);
        ck_assert_int_eq(store_write_commit(s), TR_OK);
    }
}

/* A child opens the store, commits applied 1..n and exits without closing it: a crash. */
static void crash_after(uint32_t interval_ms, uint64_t n)
{
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        struct store *s = NULL;
        char err[512];
        if (open_store(interval_ms, &s, err, sizeof err) != TR_OK)
            _exit(3);
        uint64_t before = 0;
        if (store_raft_state(s, NULL, &before, NULL, NULL) != TR_OK)
            _exit(4);
        commit_applied(s, before, before + n);
        _exit(0);
    }
    int st = 0;
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the crashing child failed: %d", st);
}

static struct store_sync_rec sync_rec(void)
{
    struct store_sync_rec r;
    bool found = false;
    char err[512];
    ck_assert_int_eq(store_sync_read(store_dir, &r, &found, err, sizeof err), TR_OK);
    ck_assert(found);
    return r;
}

/* Overwrites n bytes of synced.meta at `off` with `byte`. */
static void scribble_sync_file(off_t off, size_t n, uint8_t byte)
{
    char p[256];
    snprintf(p, sizeof p, "%s/" STORE_SYNC_FILE, store_dir);
    int fd = open(p, O_RDWR);
    ck_assert_int_ge(fd, 0);
    uint8_t junk[1024];
    ck_assert_uint_le(n, sizeof junk);
    memset(junk, byte, n);
    ck_assert_int_eq(pwrite(fd, junk, n, off), (ssize_t)n);
    close(fd);
}

static void data_path(char *p, size_t n)
{
    snprintf(p, n, "%s/data.mdb", store_dir);
}

START_TEST(test_crash_returns_to_the_sync_point)
{
    struct store *s = open_ok(60000);
    commit_applied(s, 0, 3);
    store_close(s); /* clean: a sync point of applied 3 */
    struct store_sync_rec r = sync_rec();
    ck_assert_uint_eq(r.flags & STORE_SYNC_CLEAN, STORE_SYNC_CLEAN);

    crash_after(60000, 5); /* its only sync point is at its open: applied 3 */
    r = sync_rec();
    ck_assert_uint_eq(r.flags & STORE_SYNC_CLEAN, 0);
    s = open_ok(60000);
    ck_assert_uint_eq(applied_of(s), 3); /* the 5 later commits are undone, to be redone */
    commit_applied(s, 3, 4);
    store_close(s);
    s = open_ok(60000);
    ck_assert_uint_eq(applied_of(s), 4); /* a clean stop keeps every commit */
    store_close(s);
}
END_TEST

/* The worst a power loss may leave: LMDB's newest meta page on disk, but none of the pages it
 * allocated after the sync point (zeros). The open restores the synced meta page. */
START_TEST(test_lost_pages_after_the_sync_point)
{
    struct store *s = open_ok(60000);
    commit_applied(s, 0, 2);
    store_close(s);
    crash_after(60000, 40);
    struct store_sync_rec r = sync_rec();
    uint64_t last_pg = store_meta_le(r.meta + STORE_META_OFF_LAST_PG, 8);
    char p[256];
    data_path(p, sizeof p);
    struct stat st;
    ck_assert_int_eq(stat(p, &st), 0);
    uint64_t end = (uint64_t)st.st_size / r.psize;
    ck_assert_uint_gt(end, last_pg + 16); /* the crashed run grew the file */
    int fd = open(p, O_RDWR);
    ck_assert_int_ge(fd, 0);
    static uint8_t zero[65536];
    for (uint64_t pg = last_pg + 1; pg < end; pg++)
        ck_assert_int_eq(pwrite(fd, zero, r.psize, (off_t)(pg * r.psize)), (ssize_t)r.psize);
    close(fd);

    s = open_ok(60000);
    ck_assert_uint_eq(applied_of(s), 2);
    commit_applied(s, 2, 60); /* the store works on: pages allocated again */
    store_close(s);
    s = open_ok(0); /* and without sync points */
    ck_assert_uint_eq(applied_of(s), 60);
    store_close(s);
}
END_TEST

/* Sync points taken by the sync thread while commits go on: a crash returns to one of them, at or
 * after the first, and never past the last commit. */
START_TEST(test_background_sync_points)
{
    struct store *s = open_ok(1);
    for (uint64_t i = 1; i <= 30; i++) {
        commit_applied(s, i - 1, i);
        nanosleep(&(struct timespec){0, 2000000}, NULL);
    }
    store_close(s);
    struct store_sync_rec r = sync_rec();
    ck_assert_uint_gt(r.seq, 2); /* more than the open's and the close's */
    crash_after(1, 30);
    struct store_sync_rec c = sync_rec();
    ck_assert_uint_gt(c.seq, r.seq);
    s = open_ok(1);
    uint64_t a = applied_of(s);
    ck_assert_uint_ge(a, 30);
    ck_assert_uint_le(a, 60);
    store_close(s);
}
END_TEST

/* Without an interval every commit is flushed: an earlier run's record is marked clean at open,
 * so a crash keeps every commit. */
START_TEST(test_no_interval_marks_clean)
{
    crash_after(60000, 2); /* leaves a record that is not clean */
    struct store *s = open_ok(0);
    ck_assert_uint_eq(applied_of(s), 0); /* restored to that run's open */
    ck_assert_uint_eq(sync_rec().flags & STORE_SYNC_CLEAN, STORE_SYNC_CLEAN);
    store_close(s);
    crash_after(0, 3);
    s = open_ok(0);
    ck_assert_uint_eq(applied_of(s), 3);
    store_close(s);
}
END_TEST

START_TEST(test_interval_limit)
{
    struct store *s = NULL;
    char err[512];
    ck_assert_int_eq(open_store(STORE_SYNC_INTERVAL_MAX_MS + 1, &s, err, sizeof err), TR_EINVAL);
    ck_assert_ptr_null(s);
    ck_assert_ptr_nonnull(strstr(err, "sync_interval_ms 60001 is above 60000"));
    s = open_ok(STORE_SYNC_INTERVAL_MAX_MS);
    store_close(s);
}
END_TEST

START_TEST(test_damaged_record_refuses_the_open)
{
    crash_after(60000, 1);
    scribble_sync_file(0, 1024, 0x77);
    struct store *s = NULL;
    char err[512];
    ck_assert_int_eq(open_store(60000, &s, err, sizeof err), TR_ECORRUPT);
    ck_assert_ptr_nonnull(strstr(err, "holds no valid record of a synced LMDB state"));
}
END_TEST

/* A record of a txn the file never reached (data.mdb replaced by an older copy): refused, and the
 * file is left as it was. */
START_TEST(test_record_newer_than_the_file_is_refused)
{
    crash_after(60000, 1);
    struct store_sync_rec r = sync_rec();
    uint64_t want = r.txnid + 100;
    for (int i = 0; i < 8; i++)
        r.meta[STORE_META_OFF_TXNID + i] = (uint8_t)(want >> (8 * i));
    r.txnid = want;
    r.seq++;
    int fd = -1;
    char err[512];
    ck_assert_int_eq(store_sync_write(store_dir, &fd, &r, err, sizeof err), TR_OK);
    close(fd);
    struct store *s = NULL;
    ck_assert_int_eq(open_store(60000, &s, err, sizeof err), TR_ECORRUPT);
    ck_assert_ptr_nonnull(strstr(err, "older than its last sync point"));
}
END_TEST

/* A torn write of one slot leaves the other: the open takes the valid record. */
START_TEST(test_torn_slot_leaves_the_other)
{
    struct store *s = open_ok(60000);
    commit_applied(s, 0, 2);
    store_close(s);        /* seq 2 (clean), slot 0; seq 1 in slot 1 */
    crash_after(60000, 3); /* seq 3 (dirty, applied 2) in slot 1 */
    struct store_sync_rec r = sync_rec();
    ck_assert_uint_eq(r.seq, 3);
    scribble_sync_file(512 + 40, 100, 0);
    r = sync_rec();
    ck_assert_uint_eq(r.seq, 2);
    ck_assert_uint_eq(r.flags & STORE_SYNC_CLEAN, STORE_SYNC_CLEAN);
}
END_TEST

Suite *suite_store_sync(void)
{
    Suite *s = suite_create("store_sync");
    TCase *tc = tcase_create("store_sync");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_crash_returns_to_the_sync_point);
    tcase_add_test(tc, test_lost_pages_after_the_sync_point);
    tcase_add_test(tc, test_background_sync_points);
    tcase_add_test(tc, test_no_interval_marks_clean);
    tcase_add_test(tc, test_interval_limit);
    tcase_add_test(tc, test_damaged_record_refuses_the_open);
    tcase_add_test(tc, test_record_newer_than_the_file_is_refused);
    tcase_add_test(tc, test_torn_slot_leaves_the_other);
    suite_add_tcase(s, tc);
    return s;
}
