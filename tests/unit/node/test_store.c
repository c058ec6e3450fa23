/* test_store.c — suite `store` for node/store.c: reopen keeps hard state, entries, applied index
 * and configuration; network id mismatch; Raft conflict truncation; refused writes change nothing;
 * the raft_log_ops view; map growth and map full at map_max; aborted writes; the sticky I/O
 * failure (failpoint); a Raft core run on a reopened store. Each test uses its own mkdtemp dir. */
#include "node/store.h"

#include "common/alloc.h"
#include "common/err.h"

#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

Suite *suite_store(void);

#define KIB (UINT64_C(1) << 10)
#define MIB (UINT64_C(1) << 20)

static char tmp_root[64];
static char store_dir[128];
static uint8_t net_a[32], net_b[32];

static void setup(void)
{
    snprintf(tmp_root, sizeof(tmp_root), "/tmp/treaty-store-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tmp_root));
    snprintf(store_dir, sizeof(store_dir), "%s/data", tmp_root);
    memset(net_a, 0xab, sizeof(net_a));
    memset(net_b, 0x12, sizeof(net_b));
    net_b[3] = 0x34;
}

static void teardown(void)
{
    char p[256];
    snprintf(p, sizeof(p), "%s/data.mdb", store_dir);
    unlink(p);
    snprintf(p, sizeof(p), "%s/lock.mdb", store_dir);
    unlink(p);
    snprintf(p, sizeof(p), "%s/raft.log", store_dir);
    unlink(p);
    snprintf(p, sizeof(p), "%s/raft.log.tmp", store_dir);
    unlink(p);
    snprintf(p, sizeof(p), "%s/raft.log.idx", store_dir);
    unlink(p);
    rmdir(store_dir);
    rmdir(tmp_root);
}

static struct store *open_with(uint64_t map, uint64_t max)
{
    struct store_options o = {map, max, false, 0};
    struct store *s = NULL;
    char err[256];
    int r = store_open(store_dir, &o, net_a, &s, err, sizeof(err));
    ck_assert_msg(r == TR_OK, "store_open: %s", err);
    return s;
}

static struct store *open_default(void)
{
    return open_with(4 * MIB, 64 * MIB);
}

/* Entry i of a test log: data "entry <i> term <t>" (none for a NOOP). */
static struct raft_entry make_entry(uint64_t index, uint64_t term, enum raft_entry_type type,
                                    char *buf, size_t cap)
{
    struct raft_entry e = {index, term, type, NULL, 0};
    if (type != RAFT_ENTRY_NOOP) {
        int n = snprintf(buf, cap, "entry %llu term %llu", (unsigned long long)index,
                         (unsigned long long)term);
        e.data = (const uint8_t *)buf;
        e.len = (size_t)n;
    }
    return e;
}

/* Writes entries [from, to] of `term` (NORMAL) in one committed transaction. */
static void write_range(struct store *s, uint64_t from, uint64_t to, uint64_t term)
{
    char bufs[64][48];
    struct raft_entry e[64];
    ck_assert_uint_le(to - from + 1, 64);
    for (uint64_t i = from; i <= to; i++)
        e[i - from] = make_entry(i, term, RAFT_ENTRY_NORMAL, bufs[i - from], sizeof(bufs[0]));
    ck_assert_int_eq(store_write_begin(s), TR_OK);
    ck_assert_int_eq(store_write_entries(s, e, (size_t)(to - from + 1)), TR_OK);
    ck_assert_int_eq(store_write_commit(s), TR_OK);
}

static void check_entry(struct store *s, uint64_t index, uint64_t term)
{
    struct raft_log_ops ops = store_raft_log(s);
    struct raft_entry e;
    char want[48];
    uint64_t t = 99;
    ck_assert_int_eq(ops.entry(ops.ctx, index, &e), TR_OK);
    ck_assert_uint_eq(e.index, index);
    ck_assert_uint_eq(e.term, term);
    ck_assert_int_eq(e.type, RAFT_ENTRY_NORMAL);
    int n = snprintf(want, sizeof(want), "entry %llu term %llu", (unsigned long long)index,
                     (unsigned long long)term);
    ck_assert_uint_eq(e.len, (size_t)n);
    ck_assert_mem_eq(e.data, want, e.len);
    ck_assert_int_eq(ops.term(ops.ctx, index, &t), TR_OK);
    ck_assert_uint_eq(t, term);
}

static uint64_t map_size(struct store *s)
{
    MDB_envinfo info;
    ck_assert_int_eq(mdb_env_info(store_env(s), &info), 0);
    return info.me_mapsize;
}

/* ------------------------------------------------------------------------------------------- */

START_TEST(test_new_store_is_empty)
{
    struct store *s = open_default();
    struct raft_hard_state hs = {9, 9, 9};
    struct raft_conf conf;
    uint64_t applied = 9, ci = 9, last = 9, t = 9;
    memset(&conf, 0xff, sizeof(conf));
    ck_assert_int_eq(store_raft_state(s, &hs, &applied, &conf, &ci), TR_OK);
    ck_assert_uint_eq(hs.term + hs.vote + hs.commit, 0);
    ck_assert_uint_eq(applied, 0);
    ck_assert_uint_eq(ci, 0);
    ck_assert_uint_eq(conf.n_voters, 0);
    ck_assert_uint_eq(conf.n_learners, 0);
    ck_assert_uint_eq(store_last_index(s), 0);
    struct raft_log_ops ops = store_raft_log(s);
    ck_assert_int_eq(ops.last_index(ops.ctx, &last), TR_OK);
    ck_assert_uint_eq(last, 0);
    ck_assert_int_eq(ops.term(ops.ctx, 0, &t), TR_OK);
    ck_assert_uint_eq(t, 0);
    ck_assert_int_eq(ops.term(ops.ctx, 1, &t), TR_ENOTFOUND);
    ck_assert_str_eq(store_errmsg(s), "");
    store_close(s);
    struct stat st;
    ck_assert_int_eq(stat(store_dir, &st), 0);
    ck_assert_int_eq(st.st_mode & 0777, 0700);
    store_close(NULL);
}
END_TEST

START_TEST(test_reopen_keeps_state)
{
    struct store *s = open_default();
    char b1[48], b2[48];
    struct raft_entry e[3];
    e[0] = make_entry(1, 1, RAFT_ENTRY_NOOP, b1, sizeof(b1));
    e[1] = make_entry(2, 1, RAFT_ENTRY_NORMAL, b1, sizeof(b1));
    e[2] = make_entry(3, 2, RAFT_ENTRY_CONFIG, b2, sizeof(b2));
    struct raft_hard_state hs = {2, 7, 3};
    struct raft_conf conf = {2, 1, {3, 7}, {11}};
    ck_assert_int_eq(store_write_begin(s), TR_OK);
    ck_assert_ptr_nonnull(store_write_txn(s));
    ck_assert_int_eq(store_write_entries(s, e, 3), TR_OK);
    ck_assert_int_eq(store_write_hard_state(s, &hs), TR_OK);
    ck_assert_int_eq(store_write_applied(s, 3, &conf, 3), TR_OK);
    ck_assert_int_eq(store_write_commit(s), TR_OK);
    ck_assert_ptr_null(store_write_txn(s));
    /* applied moves on without a configuration: the old one stays. */
    write_range(s, 4, 6, 2);
    ck_assert_int_eq(store_write_begin(s), TR_OK);
    ck_assert_int_eq(store_write_applied(s, 5, NULL, 0), TR_OK);
    ck_assert_int_eq(store_write_commit(s), TR_OK);
    store_close(s);

    s = open_default();
    struct raft_hard_state hs2;
    struct raft_conf conf2;
    uint64_t applied, ci;
    ck_assert_int_eq(store_raft_state(s, &hs2, &applied, &conf2, &ci), TR_OK);
    ck_assert_uint_eq(hs2.term, 2);
    ck_assert_uint_eq(hs2.vote, 7);
    ck_assert_uint_eq(hs2.commit, 3);
    ck_assert_uint_eq(applied, 5);
    ck_assert_uint_eq(ci, 3);
    ck_assert_uint_eq(conf2.n_voters, 2);
    ck_assert_uint_eq(conf2.n_learners, 1);
    ck_assert_uint_eq(conf2.voters[0], 3);
    ck_assert_uint_eq(conf2.voters[1], 7);
    ck_assert_uint_eq(conf2.learners[0], 11);
    ck_assert_uint_eq(store_last_index(s), 6);
    struct raft_log_ops ops = store_raft_log(s);
    struct raft_entry g;
    ck_assert_int_eq(ops.entry(ops.ctx, 1, &g), TR_OK);
    ck_assert_int_eq(g.type, RAFT_ENTRY_NOOP);
    ck_assert_uint_eq(g.len, 0);
    ck_assert_int_eq(ops.entry(ops.ctx, 3, &g), TR_OK);
    ck_assert_int_eq(g.type, RAFT_ENTRY_CONFIG);
    ck_assert_uint_eq(g.term, 2);
    ck_assert_mem_eq(g.data, "entry 3 term 2", g.len);
    check_entry(s, 2, 1);
    check_entry(s, 6, 2);
    /* Partial reads are fine. */
    ck_assert_int_eq(store_raft_state(s, NULL, &applied, NULL, NULL), TR_OK);
    ck_assert_uint_eq(applied, 5);
    store_close(s);
}
END_TEST

START_TEST(test_network_mismatch)
{
    struct store *s = open_default();
    store_close(s);
    struct store_options o = {4 * MIB, 64 * MIB, false, 0};
    char err[512], want[512];
    s = (struct store *)0x1;
    ck_assert_int_eq(store_open(store_dir, &o, net_b, &s, err, sizeof(err)), TR_EDENIED);
    ck_assert_ptr_eq(s, (struct store *)0x1);
    snprintf(want, sizeof(want),
             "store in %s belongs to network abababab\u2026, the genesis is network 12121234\u2026",
             store_dir);
    ck_assert_str_eq(err, want);
    /* The right network still opens. */
    s = NULL;
    ck_assert_int_eq(store_open(store_dir, &o, net_a, &s, err, sizeof(err)), TR_OK);
    store_close(s);
}
END_TEST

START_TEST(test_open_refusals)
{
    struct store *s = NULL;
    char err[256];
    struct store_options bad = {8 * MIB, 4 * MIB, false, 0};
    ck_assert_int_eq(store_open(store_dir, &bad, net_a, &s, err, sizeof(err)), TR_EINVAL);
    ck_assert_ptr_nonnull(strstr(err, "map_max_mb"));
    bad.map_size_bytes = 0;
    ck_assert_int_eq(store_open(store_dir, &bad, net_a, &s, err, sizeof(err)), TR_EINVAL);
    ck_assert_int_eq(store_open("", NULL, net_a, &s, err, sizeof(err)), TR_EINVAL);
    /* A path that is a file. */
    char file[160];
    snprintf(file, sizeof(file), "%s/file", tmp_root);
    FILE *f = fopen(file, "w");
    ck_assert_ptr_nonnull(f);
    fclose(f);
    ck_assert_int_eq(store_open(file, NULL, net_a, &s, err, sizeof(err)), TR_EIO);
    ck_assert_ptr_nonnull(strstr(err, "is not a directory"));
    unlink(file);
    ck_assert_ptr_null(s);
    /* NULL options take the defaults. */
    ck_assert_int_eq(store_open(store_dir, NULL, net_a, &s, NULL, 0), TR_OK);
    ck_assert_uint_eq(map_size(s), STORE_MAP_SIZE_DEFAULT_BYTES);
    store_close(s);
}
END_TEST

START_TEST(test_truncate_conflict)
{
    struct store *s = open_default();
    write_range(s, 1, 5, 1);
    /* A new leader's entries from index 3 on replace 3..5. */
    write_range(s, 3, 4, 2);
    ck_assert_uint_eq(store_last_index(s), 4);
    check_entry(s, 2, 1);
    check_entry(s, 3, 2);
    check_entry(s, 4, 2);
    struct raft_log_ops ops = store_raft_log(s);
    struct raft_entry e;
    uint64_t t;
    ck_assert_int_eq(ops.entry(ops.ctx, 5, &e), TR_ENOTFOUND);
    ck_assert_int_eq(ops.term(ops.ctx, 5, &t), TR_ENOTFOUND);
    /* Truncation of the whole log, and it is durable. */
    write_range(s, 1, 1, 3);
    store_close(s);
    s = open_default();
    ck_assert_uint_eq(store_last_index(s), 1);
    check_entry(s, 1, 3);
    ops = store_raft_log(s);
    ck_assert_int_eq(ops.entry(ops.ctx, 2, &e), TR_ENOTFOUND);
    store_close(s);
}
END_TEST

START_TEST(test_refused_writes_change_nothing)
{
    struct store *s = open_default();
    write_range(s, 1, 3, 1);
    char b[4][48];
    struct raft_entry gap = make_entry(5, 1, RAFT_ENTRY_NORMAL, b[0], sizeof(b[0]));
    struct raft_entry zero = make_entry(0, 1, RAFT_ENTRY_NORMAL, b[0], sizeof(b[0]));
    struct raft_entry hole[2] = {make_entry(4, 1, RAFT_ENTRY_NORMAL, b[1], sizeof(b[1])),
                                 make_entry(6, 1, RAFT_ENTRY_NORMAL, b[2], sizeof(b[2]))};
    struct raft_entry back[2] = {make_entry(4, 2, RAFT_ENTRY_NORMAL, b[1], sizeof(b[1])),
                                 make_entry(5, 1, RAFT_ENTRY_NORMAL, b[2], sizeof(b[2]))};
    struct raft_entry badtype = make_entry(4, 1, RAFT_ENTRY_NORMAL, b[3], sizeof(b[3]));
    badtype.type = (enum raft_entry_type)7;
    /* No transaction open. */
    ck_assert_int_eq(store_write_entries(s, &gap, 1), TR_EINVAL);
    ck_assert_ptr_nonnull(strstr(store_errmsg(s), "no write transaction"));
    ck_assert_int_eq(store_write_commit(s), TR_EINVAL);
    struct raft_hard_state hs = {1, 1, 1};
    ck_assert_int_eq(store_write_hard_state(s, &hs), TR_EINVAL);

    ck_assert_int_eq(store_write_begin(s), TR_OK);
    ck_assert_int_eq(store_write_begin(s), TR_EBUSY);
    ck_assert_int_eq(store_write_entries(s, &gap, 1), TR_EINVAL);
    ck_assert_ptr_nonnull(strstr(store_errmsg(s), "contiguous"));
    ck_assert_int_eq(store_write_entries(s, &zero, 1), TR_EINVAL);
    ck_assert_int_eq(store_write_entries(s, hole, 2), TR_EINVAL);
    ck_assert_int_eq(store_write_entries(s, back, 2), TR_EINVAL);
    ck_assert_int_eq(store_write_entries(s, &badtype, 1), TR_EINVAL);
    ck_assert_int_eq(store_write_entries(s, NULL, 1), TR_EINVAL);
    ck_assert_int_eq(store_write_entries(s, NULL, 0), TR_OK);
    ck_assert_int_eq(store_write_hard_state(s, NULL), TR_EINVAL);
    struct raft_conf conf = {1, 0, {1}, {0}};
    ck_assert_int_eq(store_write_applied(s, 2, &conf, 3), TR_EINVAL);
    conf.n_voters = RAFT_MAX_MEMBERS + 1;
    ck_assert_int_eq(store_write_applied(s, 3, &conf, 3), TR_EINVAL);
    /* Refusals do not fail the transaction: a valid write still commits. */
    ck_assert_int_eq(store_write_hard_state(s, &hs), TR_OK);
    ck_assert_int_eq(store_write_commit(s), TR_OK);
    ck_assert_uint_eq(store_last_index(s), 3);
    check_entry(s, 1, 1);
    check_entry(s, 3, 1);
    struct raft_hard_state got;
    uint64_t applied;
    ck_assert_int_eq(store_raft_state(s, &got, &applied, &conf, NULL), TR_OK);
    ck_assert_uint_eq(got.commit, 1);
    ck_assert_uint_eq(applied, 0);
    ck_assert_uint_eq(conf.n_voters, 0);
    store_close(s);
}
END_TEST

START_TEST(test_log_ops)
{
    struct store *s = open_default();
    write_range(s, 1, 10, 4);
    struct raft_log_ops ops = store_raft_log(s);
    ck_assert_ptr_eq(ops.ctx, s);
    uint64_t t = 7, last = 0;
    ck_assert_int_eq(ops.term(ops.ctx, 0, &t), TR_OK);
    ck_assert_uint_eq(t, 0);
    ck_assert_int_eq(ops.last_index(ops.ctx, &last), TR_OK);
    ck_assert_uint_eq(last, 10);
    ck_assert_int_eq(ops.term(ops.ctx, 11, &t), TR_ENOTFOUND);
    struct raft_entry e;
    ck_assert_int_eq(ops.entry(ops.ctx, 0, &e), TR_ENOTFOUND);
    for (uint64_t i = 1; i <= 10; i++)
        check_entry(s, i, 4);
    /* A large entry grows the copy buffer; a later small one still reads right. */
    static uint8_t big[200000];
    for (size_t i = 0; i < sizeof(big); i++)
        big[i] = (uint8_t)(i * 31 + 7);
    struct raft_entry be = {11, 5, RAFT_ENTRY_NORMAL, big, sizeof(big)};
    ck_assert_int_eq(store_write_begin(s), TR_OK);
    /* Uncommitted entries are not visible to the core. */
    ck_assert_int_eq(store_write_entries(s, &be, 1), TR_OK);
    ck_assert_int_eq(ops.last_index(ops.ctx, &last), TR_OK);
    ck_assert_uint_eq(last, 10);
    ck_assert_int_eq(ops.entry(ops.ctx, 11, &e), TR_ENOTFOUND);
    ck_assert_int_eq(store_write_commit(s), TR_OK);
    ck_assert_int_eq(ops.entry(ops.ctx, 11, &e), TR_OK);
    ck_assert_uint_eq(e.len, sizeof(big));
    ck_assert_mem_eq(e.data, big, sizeof(big));
    ck_assert_ptr_ne(e.data, big);
    ck_assert_int_eq(ops.term(ops.ctx, 11, &t), TR_OK);
    ck_assert_uint_eq(t, 5);
    check_entry(s, 7, 4);
    store_close(s);
}
END_TEST

START_TEST(test_abort_leaves_nothing)
{
    struct store *s = open_default();
    write_range(s, 1, 2, 1);
    char b[2][48];
    struct raft_entry e[2] = {make_entry(2, 2, RAFT_ENTRY_NORMAL, b[0], sizeof(b[0])),
                              make_entry(3, 2, RAFT_ENTRY_NORMAL, b[1], sizeof(b[1]))};
    struct raft_hard_state hs = {2, 1, 2};
    struct raft_conf conf = {1, 0, {1}, {0}};
    ck_assert_int_eq(store_write_begin(s), TR_OK);
    ck_assert_int_eq(store_write_entries(s, e, 2), TR_OK);
    ck_assert_int_eq(store_write_hard_state(s, &hs), TR_OK);
    ck_assert_int_eq(store_write_applied(s, 2, &conf, 1), TR_OK);
    MDB_dbi dbi;
    ck_assert_int_eq(mdb_dbi_open(store_write_txn(s), "l_test", MDB_CREATE, &dbi), 0);
    store_write_abort(s);
    store_write_abort(s); /* idempotent */
    ck_assert_ptr_null(store_write_txn(s));
    ck_assert_uint_eq(store_last_index(s), 2);
    check_entry(s, 2, 1);
    /* The caches were restored: the next write sees the committed log, index 4 is a gap. */
    ck_assert_int_eq(store_write_begin(s), TR_OK);
    struct raft_entry four = make_entry(4, 2, RAFT_ENTRY_NORMAL, b[0], sizeof(b[0]));
    ck_assert_int_eq(store_write_entries(s, &four, 1), TR_EINVAL);
    store_write_abort(s);
    store_close(s);
    s = open_default();
    struct raft_hard_state got;
    uint64_t applied;
    ck_assert_int_eq(store_raft_state(s, &got, &applied, &conf, NULL), TR_OK);
    ck_assert_uint_eq(got.term, 0);
    ck_assert_uint_eq(applied, 0);
    ck_assert_uint_eq(conf.n_voters, 0);
    ck_assert_uint_eq(store_last_index(s), 2);
    check_entry(s, 2, 1);
    MDB_txn *rt;
    ck_assert_int_eq(store_read_begin(s, &rt), TR_OK);
    ck_assert_int_eq(mdb_dbi_open(rt, "l_test", 0, &dbi), MDB_NOTFOUND);
    store_read_end(s, rt);
    store_close(s);
}
END_TEST

/* Writes 1 KiB entries in batches of 16 from index *next until the map reaches `until` bytes or
 * a write fails; returns the first failure (TR_OK when `until` was reached). */
/* Puts a value of `len` bytes, all (uint8_t)key, at key `key` of DBI "l_fill" in the open write
 * transaction (the ledger's tables fill the map the same way). TR_ELIMIT when the map is full. */
static int fill_put(struct store *s, uint64_t key, uint8_t *buf, size_t len)
{
    MDB_txn *txn = store_write_txn(s);
    MDB_dbi dbi;
    uint8_t kb[8];
    for (int i = 0; i < 8; i++)
        kb[i] = (uint8_t)(key >> (56 - 8 * i));
    memset(buf, (int)(uint8_t)key, len);
    MDB_val k = {8, kb}, v = {len, buf};
    int rc = mdb_dbi_open(txn, "l_fill", MDB_CREATE, &dbi);
    if (rc == 0)
        rc = mdb_put(txn, dbi, &k, &v, 0);
    return rc == 0 ? TR_OK : rc == MDB_MAP_FULL ? TR_ELIMIT : TR_EIO;
}

/* Reads value `key` of "l_fill" (TR_ENOTFOUND when absent). */
static int fill_get(struct store *s, MDB_txn *rt, uint64_t key, MDB_val *v)
{
    MDB_dbi dbi;
    uint8_t kb[8];
    for (int i = 0; i < 8; i++)
        kb[i] = (uint8_t)(key >> (56 - 8 * i));
    MDB_val k = {8, kb};
    (void)s;
    int rc = mdb_dbi_open(rt, "l_fill", 0, &dbi);
    if (rc == 0)
        rc = mdb_get(rt, dbi, &k, v);
    return rc == 0 ? TR_OK : TR_ENOTFOUND;
}

/* Writes 1 KiB values in transactions of 16 from key *next until the map reaches `until` bytes
 * or a write fails; returns the first failure (TR_OK when `until` was reached). */
static int fill(struct store *s, uint64_t *next, uint64_t until, int max_rounds)
{
    static uint8_t data[1024];
    for (int round = 0; round < max_rounds; round++) {
        if (map_size(s) >= until)
            return TR_OK;
        int r = store_write_begin(s);
        for (int i = 0; i < 16 && r == TR_OK; i++)
            r = fill_put(s, *next + (uint64_t)i, data, sizeof data);
        if (r == TR_OK)
            r = store_write_commit(s);
        else
            store_write_abort(s);
        if (r != TR_OK)
            return r;
        *next += 16;
    }
    return TR_ETIMEOUT;
}

static void check_filled(struct store *s, uint64_t last)
{
    MDB_txn *rt;
    MDB_val v;
    ck_assert_int_eq(store_read_begin(s, &rt), TR_OK);
    for (uint64_t i = 1; i <= last; i += 7) {
        ck_assert_int_eq(fill_get(s, rt, i, &v), TR_OK);
        ck_assert_uint_eq(v.mv_size, 1024);
        ck_assert_uint_eq(((const uint8_t *)v.mv_data)[0], i & 0xff);
        ck_assert_uint_eq(((const uint8_t *)v.mv_data)[1023], i & 0xff);
    }
    ck_assert_int_eq(fill_get(s, rt, last + 1, &v), TR_ENOTFOUND);
    store_read_end(s, rt);
}

START_TEST(test_map_growth)
{
    struct store *s = open_with(256 * KIB, 8 * MIB);
    store_grow_floor_set_for_test(s, 0);
    uint64_t start = map_size(s), next = 1;
    ck_assert_uint_eq(start, 256 * KIB);
    /* Several doublings: 256 KiB -> 4 MiB takes four. */
    ck_assert_int_eq(fill(s, &next, 4 * MIB, 1000), TR_OK);
    ck_assert_uint_eq(map_size(s), 4 * MIB);
    check_filled(s, next - 1);
    store_close(s);
    /* The data survives a reopen with the small initial size. */
    s = open_with(256 * KIB, 8 * MIB);
    check_filled(s, next - 1);
    store_close(s);
}
END_TEST

START_TEST(test_map_growth_floor)
{
    /* With the real 64 MiB floor, a tiny map doubles at once to 128 MiB (64 MiB would leave less
     * than 64 MiB free), capped at map_max. */
    struct store *s = open_with(1 * MIB, 1024 * MIB);
    ck_assert_int_eq(store_write_begin(s), TR_OK);
    ck_assert_int_eq(store_write_commit(s), TR_OK);
    ck_assert_uint_eq(map_size(s), 128 * MIB);
    store_close(s);
    teardown();
    setup();
    s = open_with(1 * MIB, 3 * MIB);
    ck_assert_int_eq(store_write_begin(s), TR_OK);
    store_write_abort(s);
    ck_assert_uint_eq(map_size(s), 3 * MIB);
    store_close(s);
}
END_TEST

START_TEST(test_growth_waits_for_readers)
{
    struct store *s = open_with(1 * MIB, 1024 * MIB);
    MDB_txn *rt;
    ck_assert_int_eq(store_read_begin(s, &rt), TR_OK);
    ck_assert_int_eq(store_write_begin(s), TR_OK);
    ck_assert_int_eq(store_write_commit(s), TR_OK);
    ck_assert_uint_eq(map_size(s), 1 * MIB);
    store_read_end(s, rt);
    ck_assert_int_eq(store_write_begin(s), TR_OK);
    store_write_abort(s);
    ck_assert_uint_eq(map_size(s), 128 * MIB);
    store_close(s);
}
END_TEST

/* The driver's split: store_write_prepare here (it grows the map), the write transaction on
 * another thread with STORE_WRITE_PREPARED, a read transaction of this thread live meanwhile, the
 * log callbacks usable meanwhile and showing the new entries after store_write_publish; a
 * STORE_WRITE_LAZY commit is visible at once and, after a clean close, on reopen. */
struct split_arg {
    struct store *s;
    unsigned flags;
    uint64_t from, to, applied;
    int rc;
};

static void *split_writer(void *p)
{
    struct split_arg *a = p;
    char bufs[8][48];
    struct raft_entry e[8];
    size_t n = (size_t)(a->to >= a->from ? a->to - a->from + 1 : 0);
    for (size_t i = 0; i < n; i++)
        e[i] = make_entry(a->from + i, 3, RAFT_ENTRY_NORMAL, bufs[i], sizeof(bufs[0]));
    a->rc = store_write_begin_opts(a->s, a->flags);
    if (a->rc == TR_OK && n)
        a->rc = store_write_entries(a->s, e, n);
    if (a->rc == TR_OK && a->applied)
        a->rc = store_write_applied(a->s, a->applied, NULL, 0);
    if (a->rc == TR_OK)
        a->rc = store_write_commit(a->s);
    return NULL;
}

START_TEST(test_split_writer_thread)
{
    struct store *s = open_with(1 * MIB, 1024 * MIB);
    ck_assert_int_eq(store_write_prepare(s), TR_OK);
    ck_assert_uint_eq(map_size(s), 128 * MIB); /* grown here, not on the writer thread */
    MDB_txn *rt;
    ck_assert_int_eq(store_read_begin(s, &rt), TR_OK);
    struct split_arg a = {s, STORE_WRITE_PREPARED, 1, 4, 0, -1};
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, split_writer, &a), 0);
    ck_assert_int_eq(pthread_join(th, NULL), 0);
    ck_assert_int_eq(a.rc, TR_OK);
    struct raft_entry g;
    ck_assert_int_eq(store_log_entry(s, rt, 1, &g), TR_ENOTFOUND); /* the older snapshot */
    store_read_end(s, rt);
    /* The log callbacks see the new entries only once this thread publishes them. */
    struct raft_log_ops ops = store_raft_log(s);
    uint64_t last = 9;
    ck_assert_int_eq(ops.last_index(ops.ctx, &last), TR_OK);
    ck_assert_uint_eq(last, 0);
    ck_assert_int_eq(ops.entry(ops.ctx, 1, &g), TR_ENOTFOUND);
    store_write_publish(s);
    ck_assert_uint_eq(store_last_index(s), 4);
    check_entry(s, 4, 3);

    /* Reads through the log callbacks while the writer thread appends: the entries persisted
     * before (the callbacks' read transaction is live across the commit), then the new ones. */
    ck_assert_int_eq(store_write_prepare(s), TR_OK);
    check_entry(s, 2, 3);
    struct split_arg c = {s, STORE_WRITE_PREPARED, 5, 6, 0, -1};
    ck_assert_int_eq(pthread_create(&th, NULL, split_writer, &c), 0);
    check_entry(s, 4, 3);
    ck_assert_int_eq(pthread_join(th, NULL), 0);
    ck_assert_int_eq(c.rc, TR_OK);
    ck_assert_int_eq(ops.entry(ops.ctx, 5, &g), TR_ENOTFOUND);
    store_write_publish(s);
    check_entry(s, 6, 3);
    ck_assert_uint_eq(store_last_index(s), 6);

    /* A lazy commit (apply only): visible at once. */
    ck_assert_int_eq(store_write_prepare(s), TR_OK);
    struct split_arg b = {s, STORE_WRITE_PREPARED | STORE_WRITE_LAZY, 1, 0, 6, -1};
    ck_assert_int_eq(pthread_create(&th, NULL, split_writer, &b), 0);
    ck_assert_int_eq(pthread_join(th, NULL), 0);
    ck_assert_int_eq(b.rc, TR_OK);
    store_write_publish(s);
    uint64_t applied = 0;
    ck_assert_int_eq(store_raft_state(s, NULL, &applied, NULL, NULL), TR_OK);
    ck_assert_uint_eq(applied, 6);
    store_close(s);

    s = open_default();
    ck_assert_int_eq(store_raft_state(s, NULL, &applied, NULL, NULL), TR_OK);
    ck_assert_uint_eq(applied, 6);
    ck_assert_uint_eq(store_last_index(s), 6);
    /* prepare refuses while a write transaction is open */
    ck_assert_int_eq(store_write_begin(s), TR_OK);
    ck_assert_int_eq(store_write_prepare(s), TR_EBUSY);
    store_write_abort(s);
    store_close(s);
}
END_TEST

/* RssFile of this process in bytes (/proc/self/status). */
static uint64_t rss_file(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    ck_assert_ptr_nonnull(f);
    char line[256];
    unsigned long long kb = 0;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "RssFile: %llu kB", &kb) == 1)
            break;
    fclose(f);
    return (uint64_t)kb * KIB;
}

/* Reads entries 1..n back through the map, touching every page; checks their first bytes. */
static void touch_entries(struct store *s, uint64_t n)
{
    MDB_txn *rt;
    ck_assert_int_eq(store_read_begin(s, &rt), TR_OK);
    unsigned sum = 0;
    for (uint64_t i = 1; i <= n; i++) {
        MDB_val v;
        ck_assert_int_eq(fill_get(s, rt, i, &v), TR_OK);
        ck_assert_uint_eq(v.mv_size, 64 * KIB);
        const uint8_t *d = v.mv_data;
        ck_assert_uint_eq(d[0], (uint8_t)i);
        for (size_t k = 0; k < v.mv_size; k += 4096)
            sum += d[k];
    }
    store_read_end(s, rt);
    ck_assert_uint_ne(sum, 1); /* keeps the reads */
}

START_TEST(test_resident_trim)
{
    struct store *s = open_with(256 * MIB, 1024 * MIB);
    enum { N = 640 }; /* 40 MiB of values */
    uint8_t *big = malloc(64 * KIB);
    ck_assert_ptr_nonnull(big);
    for (uint64_t i = 1; i <= N; i++) {
        ck_assert_int_eq(store_write_begin(s), TR_OK);
        ck_assert_int_eq(fill_put(s, i, big, 64 * KIB), TR_OK);
        ck_assert_int_eq(store_write_commit(s), TR_OK);
    }
    free(big);
    touch_entries(s, N);
    uint64_t before = rss_file(), resident = 0;
    ck_assert_uint_gt(before, 40 * MIB);
    bool trimmed = true;
    /* 0: never; a bound above what is resident: nothing to do */
    ck_assert_int_eq(store_resident_trim(s, 0, &trimmed, &resident), TR_OK);
    ck_assert(!trimmed);
    ck_assert_uint_eq(resident, 0);
    ck_assert_int_eq(store_resident_trim(s, before + 64 * MIB, &trimmed, &resident), TR_OK);
    ck_assert(!trimmed);
    ck_assert_uint_ge(resident, 40 * MIB);
    /* near the edge (what is resident moves by a few pages between two reads of statm): a
     * bound just above what is resident does not trim, one just below does */
    ck_assert_int_eq(store_resident_trim(s, resident + 256 * KIB, &trimmed, &resident), TR_OK);
    ck_assert(!trimmed);
    ck_assert_int_eq(store_resident_trim(s, resident - 256 * KIB, &trimmed, NULL), TR_OK);
    ck_assert(trimmed);
    uint64_t after = rss_file();
    ck_assert_msg(after + 36 * MIB < before, "RssFile %llu -> %llu bytes",
                  (unsigned long long)before, (unsigned long long)after);
    touch_entries(s, N); /* everything is still there, mapped again on access */
    ck_assert_uint_gt(rss_file(), 40 * MIB);
    store_close(s);
}
END_TEST

START_TEST(test_map_full)
{
    struct store *s = open_with(1 * MIB, 1 * MIB);
    uint64_t next = 1;
    /* The map can never reach 2 MiB: filling ends at map full. */
    int r = fill(s, &next, 2 * MIB, 200);
    ck_assert_int_eq(r, TR_ELIMIT);
    ck_assert_uint_gt(next, 100);
    ck_assert_ptr_null(store_write_txn(s));
    ck_assert_uint_eq(map_size(s), 1 * MIB);
    /* A map full at commit: the store's own message, and the log is left as it was. */
    char b[48];
    struct raft_entry e = make_entry(1, 1, RAFT_ENTRY_NORMAL, b, sizeof(b));
    ck_assert_int_eq(store_write_begin(s), TR_OK);
    ck_assert_int_eq(store_write_entries(s, &e, 1), TR_OK);
    store_fail_next_commit_for_test(s, TR_ELIMIT);
    ck_assert_int_eq(store_write_commit(s), TR_ELIMIT);
    ck_assert_str_eq(store_errmsg(s),
                     "store is full: map_max_mb=1 reached; raise store.map_max_mb");
    ck_assert_uint_eq(store_last_index(s), 0);
    /* What was committed before is still there, and the store is not failed. */
    check_filled(s, next - 1);
    ck_assert_int_eq(store_write_begin(s), TR_OK);
    store_write_abort(s);
    store_close(s);
    s = open_with(1 * MIB, 1 * MIB);
    check_filled(s, next - 1);
    store_close(s);
}
END_TEST

/* A clean stop saves the log file's index; the next open reads only what follows it and finds
 * the same state. Refused while a write transaction is open. */
START_TEST(test_log_index_at_clean_stop)
{
    char idx[200];
    snprintf(idx, sizeof idx, "%s/raft.log.idx", store_dir);
    struct store *s = open_default();
    write_range(s, 1, 40, 1);
    write_range(s, 30, 50, 2); /* truncates 30..40 of term 1 */
    ck_assert_int_eq(store_write_begin(s), TR_OK);
    ck_assert_int_eq(store_log_index_save(s), TR_EINVAL);
    ck_assert_int_eq(access(idx, F_OK), -1);
    store_write_abort(s);
    ck_assert_int_eq(store_log_index_save(s), TR_OK);
    store_close(s);
    ck_assert_int_eq(access(idx, F_OK), 0);
    s = open_default();
    ck_assert_uint_eq(store_last_index(s), 50);
    check_entry(s, 29, 1);
    check_entry(s, 30, 2);
    check_entry(s, 50, 2);
    write_range(s, 51, 52, 3);
    store_close(s);
    s = open_default();
    ck_assert_uint_eq(store_last_index(s), 52);
    check_entry(s, 52, 3);
    store_close(s);
}
END_TEST

START_TEST(test_io_error_is_sticky)
{
    struct store *s = open_default();
    write_range(s, 1, 2, 1);
    char b[48];
    struct raft_entry e = make_entry(3, 1, RAFT_ENTRY_NORMAL, b, sizeof(b));
    struct raft_hard_state hs = {1, 1, 2};
    ck_assert_int_eq(store_write_begin(s), TR_OK);
    ck_assert_int_eq(store_write_entries(s, &e, 1), TR_OK);
    ck_assert_int_eq(store_write_hard_state(s, &hs), TR_OK);
    store_fail_next_commit_for_test(s, TR_EIO);
    ck_assert_int_eq(store_write_commit(s), TR_EIO);
    ck_assert_ptr_nonnull(strstr(store_errmsg(s), "commit failed, the node must stop"));
    ck_assert_ptr_null(store_write_txn(s));
    ck_assert_uint_eq(store_last_index(s), 2);
    /* Every later write call fails; nothing is retried. */
    ck_assert_int_eq(store_write_begin(s), TR_EIO);
    ck_assert_int_eq(store_write_entries(s, &e, 1), TR_EIO);
    ck_assert_int_eq(store_write_hard_state(s, &hs), TR_EIO);
    ck_assert_int_eq(store_write_applied(s, 1, NULL, 0), TR_EIO);
    ck_assert_int_eq(store_write_commit(s), TR_EIO);
    store_write_abort(s);
    ck_assert_int_eq(store_write_begin(s), TR_EIO);
    ck_assert_int_eq(store_log_index_save(s), TR_EINVAL); /* a failed store writes nothing */
    /* Reads still work. */
    check_entry(s, 2, 1);
    store_close(s);
    s = open_default();
    ck_assert_uint_eq(store_last_index(s), 2);
    ck_assert_int_eq(store_raft_state(s, &hs, NULL, NULL, NULL), TR_OK);
    ck_assert_uint_eq(hs.term, 0);
    /* A simulated map full at commit is not fatal. */
    ck_assert_int_eq(store_write_begin(s), TR_OK);
    ck_assert_int_eq(store_write_entries(s, &e, 1), TR_OK);
    store_fail_next_commit_for_test(s, TR_ELIMIT);
    ck_assert_int_eq(store_write_commit(s), TR_ELIMIT);
    ck_assert_uint_eq(store_last_index(s), 2);
    write_range(s, 3, 3, 1);
    check_entry(s, 3, 1);
    store_close(s);
}
END_TEST

/* ---- the log file, and a store from before it ---- */

static void be64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (56 - 8 * i));
}

/* A store as written before the log file: entries 1..n of term 1 in DBI "log", the hard state
 * in DBI "raft", no "log_file" mark. */
static void write_old_store(uint64_t n, const struct raft_hard_state *hs)
{
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi meta, log, raft;
    ck_assert_int_eq(mkdir(store_dir, 0700), 0);
    ck_assert_int_eq(mdb_env_create(&env), 0);
    ck_assert_int_eq(mdb_env_set_maxdbs(env, STORE_MAX_DBS), 0);
    ck_assert_int_eq(mdb_env_open(env, store_dir, 0, 0600), 0);
    ck_assert_int_eq(mdb_txn_begin(env, NULL, 0, &txn), 0);
    ck_assert_int_eq(mdb_dbi_open(txn, "meta", MDB_CREATE, &meta), 0);
    ck_assert_int_eq(mdb_dbi_open(txn, "log", MDB_CREATE, &log), 0);
    ck_assert_int_eq(mdb_dbi_open(txn, "raft", MDB_CREATE, &raft), 0);
    MDB_val k = {10, "network_id"}, v = {32, net_a};
    ck_assert_int_eq(mdb_put(txn, meta, &k, &v, 0), 0);
    for (uint64_t i = 1; i <= n; i++) {
        uint8_t kb[8], vb[9 + 48];
        char b[48];
        struct raft_entry e = make_entry(i, 1, RAFT_ENTRY_NORMAL, b, sizeof b);
        be64(kb, i);
        be64(vb, 1);
        vb[8] = RAFT_ENTRY_NORMAL;
        memcpy(vb + 9, e.data, e.len);
        MDB_val ek = {8, kb}, ev = {9 + e.len, vb};
        ck_assert_int_eq(mdb_put(txn, log, &ek, &ev, 0), 0);
    }
    uint8_t hb[24];
    be64(hb, hs->term);
    be64(hb + 8, hs->vote);
    be64(hb + 16, hs->commit);
    MDB_val hk = {10, "hard_state"}, hv = {24, hb};
    ck_assert_int_eq(mdb_put(txn, raft, &hk, &hv, 0), 0);
    ck_assert_int_eq(mdb_txn_commit(txn), 0);
    mdb_env_close(env);
}

static void check_moved(struct store *s, uint64_t n, const struct raft_hard_state *hs)
{
    ck_assert_uint_eq(store_last_index(s), n);
    for (uint64_t i = 1; i <= n; i++)
        check_entry(s, i, 1);
    struct raft_hard_state got;
    ck_assert_int_eq(store_raft_state(s, &got, NULL, NULL, NULL), TR_OK);
    ck_assert_mem_eq(&got, hs, sizeof got);
    /* LMDB no longer holds the log. */
    MDB_txn *rt;
    MDB_dbi dbi;
    MDB_stat st;
    ck_assert_int_eq(store_read_begin(s, &rt), TR_OK);
    ck_assert_int_eq(mdb_dbi_open(rt, "log", 0, &dbi), 0);
    ck_assert_int_eq(mdb_stat(rt, dbi, &st), 0);
    ck_assert_uint_eq(st.ms_entries, 0);
    store_read_end(s, rt);
}

START_TEST(test_old_store_log_moves_to_the_file)
{
    struct raft_hard_state hs = {1, 2, 30};
    write_old_store(40, &hs);
    struct store *s = open_default();
    check_moved(s, 40, &hs);
    write_range(s, 41, 42, 1); /* and takes new entries in the file */
    store_close(s);
    s = open_default();
    ck_assert_uint_eq(store_last_index(s), 42);
    check_entry(s, 42, 1);
    store_close(s);
}
END_TEST

/* A move that crashed: before the rename (a stray raft.log.tmp), or after it but before LMDB
 * marked the move (a raft.log LMDB does not know): the open moves the log again. */
START_TEST(test_interrupted_move_is_redone)
{
    struct raft_hard_state hs = {1, 1, 5};
    write_old_store(9, &hs);
    char p[256];
    snprintf(p, sizeof p, "%s/raft.log.tmp", store_dir);
    FILE *f = fopen(p, "w");
    ck_assert_ptr_nonnull(f);
    fputs("half a log", f);
    fclose(f);
    snprintf(p, sizeof p, "%s/raft.log", store_dir);
    f = fopen(p, "w");
    ck_assert_ptr_nonnull(f);
    fputs("TRTYLOG1 but not really", f);
    fclose(f);
    struct store *s = open_default();
    check_moved(s, 9, &hs);
    store_close(s);
}
END_TEST

START_TEST(test_missing_log_file_is_refused)
{
    struct store *s = open_default();
    write_range(s, 1, 3, 1);
    store_close(s);
    char p[256], err[256] = "";
    snprintf(p, sizeof p, "%s/raft.log", store_dir);
    ck_assert_int_eq(unlink(p), 0);
    s = NULL;
    ck_assert_int_eq(store_open(store_dir, NULL, net_a, &s, err, sizeof err), TR_ECORRUPT);
    ck_assert_ptr_null(s);
    ck_assert_ptr_nonnull(strstr(err, "raft log file raft.log is missing"));
    ck_assert_int_eq(access(p, F_OK), -1); /* the refusal created nothing */
}
END_TEST

/* A torn last write of the log (the crash came before its sync): the open cuts it. */
START_TEST(test_torn_log_tail_is_cut)
{
    struct store *s = open_default();
    write_range(s, 1, 5, 1);
    store_close(s);
    char p[256];
    snprintf(p, sizeof p, "%s/raft.log", store_dir);
    struct stat st;
    ck_assert_int_eq(stat(p, &st), 0);
    ck_assert_int_eq(truncate(p, st.st_size - 3), 0);
    s = open_default();
    ck_assert_uint_eq(store_last_index(s), 4);
    check_entry(s, 4, 1);
    write_range(s, 5, 6, 2);
    check_entry(s, 6, 2);
    store_close(s);
}
END_TEST

static uint8_t *slurp(const char *name, size_t *len)
{
    char p[256];
    snprintf(p, sizeof p, "%s/%s", store_dir, name);
    FILE *f = fopen(p, "rb");
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(fseek(f, 0, SEEK_END), 0);
    long n = ftell(f);
    ck_assert_int_ge(n, 0);
    rewind(f);
    uint8_t *b = malloc((size_t)n + 1);
    ck_assert_ptr_nonnull(b);
    ck_assert_uint_eq(fread(b, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *len = (size_t)n;
    return b;
}

/* A read-only open (the audit's) reads the store as it is and writes nothing: not a torn log
 * tail's cut, not a move of an old store's log, not a missing directory. */
START_TEST(test_read_only_writes_nothing)
{
    struct store_options ro = {4 * MIB, 64 * MIB, true, 0};
    struct store *s = open_default();
    write_range(s, 1, 5, 1);
    store_close(s);
    char p[256], err[256] = "";
    snprintf(p, sizeof p, "%s/raft.log", store_dir);
    struct stat st;
    ck_assert_int_eq(stat(p, &st), 0);
    ck_assert_int_eq(truncate(p, st.st_size - 3), 0);
    size_t log_len = 0, mdb_len = 0, len = 0;
    uint8_t *log_was = slurp("raft.log", &log_len), *mdb_was = slurp("data.mdb", &mdb_len);
    ck_assert_int_eq(store_open(store_dir, &ro, net_a, &s, err, sizeof err), TR_OK);
    ck_assert(store_read_only(s));
    ck_assert_uint_eq(store_last_index(s), 4);
    check_entry(s, 4, 1);
    ck_assert_int_eq(store_write_begin(s), TR_EDENIED);
    struct raft_entry e = make_entry(5, 1, RAFT_ENTRY_NORMAL, (char[48]){0}, 48);
    struct raft_hard_state hs = {1, 0, 4};
    ck_assert_int_ne(store_log_persist(s, &e, 1, &hs), TR_OK);
    ck_assert_int_ne(store_log_index_save(s), TR_OK);
    store_close(s);
    uint8_t *now = slurp("raft.log", &len);
    ck_assert_uint_eq(len, log_len);
    ck_assert_mem_eq(now, log_was, len);
    free(now);
    now = slurp("data.mdb", &len);
    ck_assert_uint_eq(len, mdb_len);
    ck_assert_mem_eq(now, mdb_was, len);
    free(now);
    free(log_was);
    free(mdb_was);
    snprintf(p, sizeof p, "%s/raft.log.idx", store_dir);
    ck_assert_int_eq(access(p, F_OK), -1);
    /* another network's store is still refused */
    ck_assert_int_eq(store_open(store_dir, &ro, net_b, &s, err, sizeof err), TR_EDENIED);
    teardown();
    setup();
    /* a store from before the log file: its log read from LMDB, and left to a node to move */
    struct raft_hard_state old = {1, 1, 5};
    write_old_store(9, &old);
    mdb_was = slurp("data.mdb", &mdb_len);
    ck_assert_int_eq(store_open(store_dir, &ro, net_a, &s, err, sizeof err), TR_OK);
    ck_assert_uint_eq(store_last_index(s), 9);
    for (uint64_t i = 1; i <= 9; i++)
        check_entry(s, i, 1);
    struct raft_hard_state got;
    ck_assert_int_eq(store_raft_state(s, &got, NULL, NULL, NULL), TR_OK);
    ck_assert_mem_eq(&got, &old, sizeof got);
    struct raft_log_ops ops = store_raft_log(s);
    struct raft_entry none;
    ck_assert_int_eq(ops.entry(ops.ctx, 10, &none), TR_ENOTFOUND);
    ck_assert_int_eq(store_write_begin(s), TR_EDENIED);
    ck_assert_int_eq(store_log_persist(s, &e, 1, &hs), TR_EDENIED);
    store_close(s);
    snprintf(p, sizeof p, "%s/raft.log", store_dir);
    ck_assert_int_eq(access(p, F_OK), -1);
    now = slurp("data.mdb", &len);
    ck_assert_uint_eq(len, mdb_len);
    ck_assert_mem_eq(now, mdb_was, len);
    free(now);
    free(mdb_was);
    s = open_default();
    check_moved(s, 9, &old);
    store_close(s);
    teardown();
    setup();
    /* no store at all: nothing is created */
    ck_assert_int_ne(store_open(store_dir, &ro, net_a, &s, err, sizeof err), TR_OK);
    ck_assert_int_eq(access(store_dir, F_OK), -1);
}
END_TEST

/* The log half of a Ready on its own thread, beside an LMDB write transaction on this one: the
 * entries are durable when store_log_persist returns, shown to the log callbacks only after
 * store_write_publish, and refused input writes nothing. */
struct log_half {
    struct store *s;
    struct raft_entry e[3];
    char b[3][48];
    int rc;
};

static void *log_half_run(void *p)
{
    struct log_half *h = p;
    struct raft_hard_state hs = {2, 1, 3};
    h->rc = store_log_persist(h->s, h->e, 3, &hs);
    return NULL;
}

START_TEST(test_log_persist_beside_a_write)
{
    struct store *s = open_default();
    write_range(s, 1, 3, 1);
    struct log_half h = {.s = s};
    for (int i = 0; i < 3; i++)
        h.e[i] = make_entry(4 + (uint64_t)i, 2, RAFT_ENTRY_NORMAL, h.b[i], sizeof h.b[i]);
    ck_assert_int_eq(store_write_prepare(s), TR_OK);
    ck_assert_int_eq(store_write_begin_opts(s, STORE_WRITE_PREPARED), TR_OK);
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, log_half_run, &h), 0);
    ck_assert_int_eq(store_write_applied(s, 3, NULL, 0), TR_OK);
    ck_assert_int_eq(pthread_join(t, NULL), 0);
    ck_assert_int_eq(h.rc, TR_OK);
    ck_assert_int_eq(store_write_commit(s), TR_OK);
    ck_assert_uint_eq(store_last_index(s), 3); /* not yet published */
    struct raft_log_ops ops = store_raft_log(s);
    struct raft_entry e;
    ck_assert_int_eq(ops.entry(ops.ctx, 4, &e), TR_ENOTFOUND);
    store_write_publish(s);
    ck_assert_uint_eq(store_last_index(s), 6);
    check_entry(s, 6, 2);
    /* Not contiguous: refused, nothing written. */
    struct raft_entry gap = make_entry(8, 2, RAFT_ENTRY_NORMAL, h.b[0], sizeof h.b[0]);
    ck_assert_int_eq(store_log_persist(s, &gap, 1, NULL), TR_EINVAL);
    store_close(s);
    s = open_default();
    ck_assert_uint_eq(store_last_index(s), 6);
    check_entry(s, 5, 2);
    struct raft_hard_state hs;
    uint64_t applied = 0;
    ck_assert_int_eq(store_raft_state(s, &hs, &applied, NULL, NULL), TR_OK);
    ck_assert_uint_eq(hs.term, 2);
    ck_assert_uint_eq(hs.commit, 3);
    ck_assert_uint_eq(applied, 3);
    store_close(s);
}
END_TEST

/* A hard state that moves only the commit index is written without a flush; entries, a new term
 * and a new vote are flushed. The hard state last written is what a clean reopen reads. */
START_TEST(test_log_persist_commit_only_not_flushed)
{
    struct store *s = open_default();
    char b[3][48] = {{0}};
    struct raft_entry e[3] = {make_entry(1, 2, RAFT_ENTRY_NORMAL, b[0], sizeof b[0]),
                              make_entry(2, 2, RAFT_ENTRY_NORMAL, b[1], sizeof b[1]),
                              make_entry(3, 3, RAFT_ENTRY_NORMAL, b[2], sizeof b[2])};
    uint64_t n0 = store_log_syncs(s);
    struct raft_hard_state hs = {2, 1, 0};
    ck_assert_int_eq(store_log_persist(s, e, 2, &hs), TR_OK);
    ck_assert_uint_eq(store_log_syncs(s), n0 + 1);
    hs.commit = 1; /* the commit index alone */
    ck_assert_int_eq(store_log_persist(s, NULL, 0, &hs), TR_OK);
    ck_assert_uint_eq(store_log_syncs(s), n0 + 1);
    hs.term = 3; /* a new term */
    hs.vote = 0;
    ck_assert_int_eq(store_log_persist(s, NULL, 0, &hs), TR_OK);
    ck_assert_uint_eq(store_log_syncs(s), n0 + 2);
    hs.vote = 2; /* a vote in it */
    ck_assert_int_eq(store_log_persist(s, NULL, 0, &hs), TR_OK);
    ck_assert_uint_eq(store_log_syncs(s), n0 + 3);
    hs.commit = 2; /* the commit index alone again */
    ck_assert_int_eq(store_log_persist(s, NULL, 0, &hs), TR_OK);
    ck_assert_uint_eq(store_log_syncs(s), n0 + 3);
    ck_assert_int_eq(store_log_persist(s, e + 2, 1, NULL), TR_OK); /* an entry */
    ck_assert_uint_eq(store_log_syncs(s), n0 + 4);
    store_write_publish(s);
    store_close(s);
    s = open_default();
    struct raft_hard_state got;
    ck_assert_int_eq(store_raft_state(s, &got, NULL, NULL, NULL), TR_OK);
    ck_assert_uint_eq(got.term, 3);
    ck_assert_uint_eq(got.vote, 2);
    ck_assert_uint_eq(got.commit, 2);
    ck_assert_uint_eq(store_last_index(s), 3);
    store_close(s);
}
END_TEST

/* ---- a Raft core over the store ---- */

/* Runs Ready cycles until nothing is ready (bounded): persist, apply, commit, advance. */
static void drive(struct raft *r, struct store *s, uint64_t *applied, int rounds)
{
    for (int i = 0; i < rounds && raft_has_ready(r); i++) {
        struct raft_ready rd;
        ck_assert_int_eq(raft_ready(r, &rd), TR_OK);
        ck_assert_int_eq(store_write_begin(s), TR_OK);
        ck_assert_int_eq(store_write_entries(s, rd.entries, rd.n_entries), TR_OK);
        if (rd.has_hard_state)
            ck_assert_int_eq(store_write_hard_state(s, &rd.hard_state), TR_OK);
        for (size_t k = 0; k < rd.n_committed; k++) {
            const struct raft_entry *e = &rd.committed[k];
            ck_assert_uint_eq(e->index, *applied + 1);
            struct raft_conf conf;
            if (e->type == RAFT_ENTRY_CONFIG) {
                ck_assert_int_eq(raft_conf_decode(e->data, e->len, &conf, NULL, NULL), TR_OK);
                ck_assert_int_eq(store_write_applied(s, e->index, &conf, e->index), TR_OK);
            } else {
                ck_assert_int_eq(store_write_applied(s, e->index, NULL, 0), TR_OK);
            }
            *applied = e->index;
        }
        ck_assert_int_eq(store_write_commit(s), TR_OK);
        ck_assert_int_eq(raft_advance(r), TR_OK);
    }
    ck_assert(!raft_has_ready(r));
}

static struct raft *raft_on(struct store *s, uint64_t *applied)
{
    struct raft_config c;
    raft_config_defaults(&c);
    c.id = 1;
    c.seed = 42;
    c.log = store_raft_log(s);
    ck_assert_int_eq(store_raft_state(s, &c.hard_state, &c.applied, &c.conf, &c.conf_index), TR_OK);
    *applied = c.applied;
    struct raft *r = NULL;
    ck_assert_int_eq(raft_create(&c, &r), TR_OK);
    return r;
}

START_TEST(test_raft_on_reopened_store)
{
    /* Bootstrap: a one-voter configuration at conf_index 0. */
    struct store *s = open_default();
    struct raft_conf boot = {1, 0, {1}, {0}};
    ck_assert_int_eq(store_write_begin(s), TR_OK);
    ck_assert_int_eq(store_write_applied(s, 0, &boot, 0), TR_OK);
    ck_assert_int_eq(store_write_commit(s), TR_OK);
    store_close(s);

    s = open_default();
    uint64_t applied;
    struct raft *r = raft_on(s, &applied);
    ck_assert_int_eq(raft_campaign(r), TR_OK);
    drive(r, s, &applied, 20);
    struct raft_status st;
    raft_status_get(r, &st);
    ck_assert_int_eq(st.role, RAFT_LEADER);
    const char *payload[3] = {"alpha", "beta", "gamma"};
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(raft_propose(r, (const uint8_t *)payload[i], strlen(payload[i]), NULL),
                         TR_OK);
    drive(r, s, &applied, 20);
    raft_status_get(r, &st);
    uint64_t term = st.term;
    ck_assert_uint_eq(st.commit, 4); /* no-op + 3 */
    ck_assert_uint_eq(applied, 4);
    ck_assert_uint_eq(store_last_index(s), 4);
    raft_destroy(r);
    store_close(s);

    /* Restart: the core sees the same log, hard state and applied index, and leads again. */
    s = open_default();
    r = raft_on(s, &applied);
    raft_status_get(r, &st);
    ck_assert_uint_eq(st.term, term);
    ck_assert_uint_eq(st.last_index, 4);
    ck_assert_uint_eq(st.commit, 4);
    ck_assert_uint_eq(st.applied, 4);
    ck_assert_uint_eq(st.conf.n_voters, 1);
    struct raft_log_ops ops = store_raft_log(s);
    struct raft_entry e;
    ck_assert_int_eq(ops.entry(ops.ctx, 3, &e), TR_OK);
    ck_assert_mem_eq(e.data, "beta", 4);
    ck_assert_int_eq(raft_campaign(r), TR_OK);
    drive(r, s, &applied, 20);
    raft_status_get(r, &st);
    ck_assert_int_eq(st.role, RAFT_LEADER);
    ck_assert_uint_gt(st.term, term);
    ck_assert_uint_eq(st.commit, 5);
    ck_assert_uint_eq(store_last_index(s), 5);
    raft_destroy(r);
    store_close(s);
}
END_TEST

/* Allocation failures: store_open fails cleanly at each of its allocations (no leak: the
 * Sanitize build runs this without fork too), and an entry read that cannot grow its buffer
 * fails with TR_ENOMEM and leaves the store readable. */
START_TEST(test_alloc_failures)
{
    char err[256];
    int opened = 0;
    for (long n = 1; n <= 10 && !opened; n++) {
        struct store *s = NULL;
        tr_alloc_fail_after(n);
        int r = store_open(store_dir, NULL, net_a, &s, err, sizeof(err));
        int fired = tr_alloc_fail_fired();
        tr_alloc_fail_reset();
        if (r == TR_OK) {
            ck_assert(!fired);
            opened = 1;
        } else {
            ck_assert_int_eq(r, TR_ENOMEM);
            ck_assert_ptr_null(s);
        }
        store_close(s);
    }
    ck_assert(opened);
    struct store *s = open_default();
    write_range(s, 1, 2, 1);
    struct raft_log_ops ops = store_raft_log(s);
    struct raft_entry e;
    tr_alloc_fail_after(1);
    ck_assert_int_eq(ops.entry(ops.ctx, 1, &e), TR_ENOMEM);
    tr_alloc_fail_reset();
    ck_assert_ptr_nonnull(strstr(store_errmsg(s), "out of memory"));
    check_entry(s, 1, 1);
    store_close(s);
}
END_TEST

Suite *suite_store(void)
{
    Suite *s = suite_create("store");
    TCase *tc = tcase_create("store");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_new_store_is_empty);
    tcase_add_test(tc, test_reopen_keeps_state);
    tcase_add_test(tc, test_network_mismatch);
    tcase_add_test(tc, test_open_refusals);
    tcase_add_test(tc, test_truncate_conflict);
    tcase_add_test(tc, test_refused_writes_change_nothing);
    tcase_add_test(tc, test_log_ops);
    tcase_add_test(tc, test_abort_leaves_nothing);
    tcase_add_test(tc, test_map_growth);
    tcase_add_test(tc, test_map_growth_floor);
    tcase_add_test(tc, test_growth_waits_for_readers);
    tcase_add_test(tc, test_map_full);
    tcase_add_test(tc, test_io_error_is_sticky);
    tcase_add_test(tc, test_log_index_at_clean_stop);
    tcase_add_test(tc, test_raft_on_reopened_store);
    tcase_add_test(tc, test_alloc_failures);
    tcase_add_test(tc, test_split_writer_thread);
    tcase_add_test(tc, test_resident_trim);
    tcase_add_test(tc, test_old_store_log_moves_to_the_file);
    tcase_add_test(tc, test_interrupted_move_is_redone);
    tcase_add_test(tc, test_missing_log_file_is_refused);
    tcase_add_test(tc, test_read_only_writes_nothing);
    tcase_add_test(tc, test_torn_log_tail_is_cut);
    tcase_add_test(tc, test_log_persist_beside_a_write);
    tcase_add_test(tc, test_log_persist_commit_only_not_flushed);
    suite_add_tcase(s, tc);
    return s;
}
