/* test_logfile.c — the Raft log file: CRC-32C against its check value and a bitwise reference;
 * append, read back and reopen; truncation by a conflicting append; a torn tail cut at every
 * byte; a corrupt record; refused input (nothing written); the record size limit at its edge;
 * a reader thread during appends; and random operations against a model, reopened as they go. */
#include "node/logfile.h"

#include "common/err.h"
#include "common/prng.h"

#include <check.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

Suite *suite_logfile(void);

static char tmp_root[64];
static char log_path[128], idx_file[160];
static uint8_t net_a[32], net_b[32];

static void setup(void)
{
    snprintf(tmp_root, sizeof tmp_root, "/tmp/treaty-logfile-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tmp_root));
    snprintf(log_path, sizeof log_path, "%s/raft.log", tmp_root);
    snprintf(idx_file, sizeof idx_file, "%s.idx", log_path);
    memset(net_a, 0xab, sizeof net_a);
    memset(net_b, 0x12, sizeof net_b);
}

static void teardown(void)
{
    unlink(log_path);
    unlink(idx_file);
    rmdir(tmp_root);
}

static struct logfile *open_ok(struct logfile_open_info *info)
{
    struct logfile *lf = NULL;
    char err[256] = "";
    int rc = logfile_open(log_path, NULL, net_a, &lf, info, err, sizeof err);
    ck_assert_msg(rc == TR_OK, "logfile_open: %s (%s)", tr_strerror(rc), err);
    return lf;
}

static uint64_t file_size(void)
{
    struct stat st;
    ck_assert_int_eq(stat(log_path, &st), 0);
    return (uint64_t)st.st_size;
}

/* The data of entry `index` written in term `term`: its length varies with both. */
static size_t entry_data(uint64_t index, uint64_t term, uint8_t *out, size_t cap)
{
    size_t len = (size_t)((index * 37 + term * 11) % 300);
    if (len > cap)
        len = cap;
    for (size_t i = 0; i < len; i++)
        out[i] = (uint8_t)(index + term * 3 + i);
    return len;
}

static uint8_t data_pool[64][300];

/* Appends [first, last] in `term`. */
static int append_range(struct logfile *lf, uint64_t first, uint64_t last, uint64_t term)
{
    struct raft_entry e[64];
    size_t n = 0;
    ck_assert_uint_le(last - first + 1, 64);
    for (uint64_t i = first; i <= last; i++, n++) {
        size_t len = entry_data(i, term, data_pool[n], sizeof data_pool[n]);
        e[n] = (struct raft_entry){i, term, RAFT_ENTRY_NORMAL, len ? data_pool[n] : NULL, len};
    }
    return logfile_append(lf, e, n);
}

static void check_entry(struct logfile *lf, uint64_t index, uint64_t term)
{
    uint8_t want[300], *buf = NULL;
    size_t cap = 0;
    size_t len = entry_data(index, term, want, sizeof want);
    struct raft_entry e;
    int rc = logfile_entry(lf, index, &e, &buf, &cap);
    ck_assert_msg(rc == TR_OK, "entry %llu: %s", (unsigned long long)index, tr_strerror(rc));
    ck_assert_uint_eq(e.index, index);
    ck_assert_uint_eq(e.term, term);
    ck_assert_uint_eq(e.len, len);
    if (len)
        ck_assert_mem_eq(e.data, want, len);
    uint64_t t = 0;
    ck_assert_int_eq(logfile_term(lf, index, &t), TR_OK);
    ck_assert_uint_eq(t, term);
    free(buf);
}

static uint32_t crc_reference(const uint8_t *p, size_t n)
{
    uint32_t c = 0xffffffffu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++)
            c = (c >> 1) ^ (0x82F63B78u & (0u - (c & 1)));
    }
    return ~c;
}

START_TEST(crc32c_check_value_and_reference)
{
    ck_assert_uint_eq(logfile_crc32c(0, "123456789", 9), 0xE3069283u);
    static uint8_t buf[1000];
    for (size_t i = 0; i < sizeof buf; i++)
        buf[i] = (uint8_t)(i * 89 + 3);
    for (size_t len = 0; len <= sizeof buf; len += len < 40 ? 1 : 61) {
        ck_assert_uint_eq(logfile_crc32c(0, buf, len), crc_reference(buf, len));
        size_t cut = len / 3; /* continued from a partial value */
        ck_assert_uint_eq(logfile_crc32c(logfile_crc32c(0, buf, cut), buf + cut, len - cut),
                          crc_reference(buf, len));
    }
}
END_TEST

START_TEST(append_read_and_reopen)
{
    struct logfile_open_info info;
    struct logfile *lf = open_ok(&info);
    ck_assert(info.created);
    ck_assert_uint_eq(logfile_last_index(lf), 0);
    ck_assert_int_eq(logfile_term(lf, 1, &(uint64_t){0}), TR_ENOTFOUND);
    ck_assert_int_eq(append_range(lf, 1, 20, 1), TR_OK);
    ck_assert_int_eq(append_range(lf, 21, 40, 3), TR_OK);
    struct raft_hard_state hs = {3, 2, 35};
    ck_assert_int_eq(logfile_hard_state_set(lf, &hs), TR_OK);
    ck_assert_uint_eq(logfile_durable_index(lf), 0);
    ck_assert_int_eq(logfile_sync(lf), TR_OK);
    ck_assert_uint_eq(logfile_durable_index(lf), 40);
    for (int round = 0; round < 2; round++) {
        ck_assert_uint_eq(logfile_last_index(lf), 40);
        ck_assert_uint_eq(logfile_last_term(lf), 3);
        for (uint64_t i = 1; i <= 40; i++)
            check_entry(lf, i, i <= 20 ? 1 : 3);
        struct raft_hard_state got;
        logfile_hard_state(lf, &got);
        ck_assert_uint_eq(got.term, 3);
        ck_assert_uint_eq(got.vote, 2);
        ck_assert_uint_eq(got.commit, 35);
        logfile_close(lf);
        lf = open_ok(&info);
        ck_assert(!info.created);
        ck_assert_uint_eq(info.records, 41);
        ck_assert_uint_eq(info.torn_bytes, 0);
        ck_assert_uint_eq(logfile_durable_index(lf), 40);
    }
    logfile_close(lf);
}
END_TEST

START_TEST(conflicting_append_truncates)
{
    struct logfile *lf = open_ok(NULL);
    ck_assert_int_eq(append_range(lf, 1, 10, 1), TR_OK);
    ck_assert_int_eq(logfile_sync(lf), TR_OK);
    ck_assert_int_eq(append_range(lf, 6, 8, 2), TR_OK);
    /* Entries 6..10 of term 1 are gone; until the sync only 1..5 are durable. */
    ck_assert_uint_eq(logfile_last_index(lf), 8);
    ck_assert_uint_eq(logfile_durable_index(lf), 5);
    ck_assert_int_eq(logfile_sync(lf), TR_OK);
    ck_assert_uint_eq(logfile_durable_index(lf), 8);
    for (int round = 0; round < 2; round++) {
        for (uint64_t i = 1; i <= 8; i++)
            check_entry(lf, i, i <= 5 ? 1 : 2);
        struct raft_entry e;
        uint8_t *buf = NULL;
        size_t cap = 0;
        ck_assert_int_eq(logfile_entry(lf, 9, &e, &buf, &cap), TR_ENOTFOUND);
        ck_assert_int_eq(logfile_term(lf, 9, &(uint64_t){0}), TR_ENOTFOUND);
        free(buf);
        logfile_close(lf);
        lf = open_ok(NULL);
    }
    /* An explicit truncation (an aborted write's undo), refused past the end. */
    ck_assert_int_eq(logfile_truncate(lf, 9), TR_EINVAL);
    ck_assert_int_eq(logfile_truncate(lf, 7), TR_OK);
    ck_assert_uint_eq(logfile_last_index(lf), 7);
    logfile_close(lf);
    lf = open_ok(NULL);
    ck_assert_uint_eq(logfile_last_index(lf), 7);
    check_entry(lf, 7, 2);
    /* Replacing the whole log from index 1. */
    ck_assert_int_eq(append_range(lf, 1, 3, 4), TR_OK);
    ck_assert_uint_eq(logfile_last_index(lf), 3);
    logfile_close(lf);
    lf = open_ok(NULL);
    for (uint64_t i = 1; i <= 3; i++)
        check_entry(lf, i, 4);
    logfile_close(lf);
}
END_TEST

START_TEST(refused_input_writes_nothing)
{
    struct logfile *lf = open_ok(NULL);
    ck_assert_int_eq(append_range(lf, 1, 5, 2), TR_OK);
    uint64_t size = file_size();
    uint8_t d[4] = {1, 2, 3, 4};
    struct raft_entry gap = {7, 2, RAFT_ENTRY_NORMAL, d, 4};
    struct raft_entry zero = {0, 2, RAFT_ENTRY_NORMAL, d, 4};
    struct raft_entry old_term = {6, 1, RAFT_ENTRY_NORMAL, d, 4};
    struct raft_entry bad_type = {6, 2, (enum raft_entry_type)9, d, 4};
    struct raft_entry no_data = {6, 2, RAFT_ENTRY_NORMAL, NULL, 4};
    struct raft_entry holes[2] = {{6, 2, RAFT_ENTRY_NORMAL, d, 4}, {8, 2, RAFT_ENTRY_NORMAL, d, 4}};
    struct raft_entry down[2] = {{6, 3, RAFT_ENTRY_NORMAL, d, 4}, {7, 2, RAFT_ENTRY_NORMAL, d, 4}};
    ck_assert_int_eq(logfile_append(lf, &gap, 1), TR_EINVAL);
    ck_assert_int_eq(logfile_append(lf, &zero, 1), TR_EINVAL);
    ck_assert_int_eq(logfile_append(lf, &old_term, 1), TR_EINVAL);
    ck_assert_int_eq(logfile_append(lf, &bad_type, 1), TR_EINVAL);
    ck_assert_int_eq(logfile_append(lf, &no_data, 1), TR_EINVAL);
    ck_assert_int_eq(logfile_append(lf, holes, 2), TR_EINVAL);
    ck_assert_int_eq(logfile_append(lf, down, 2), TR_EINVAL);
    ck_assert_int_eq(logfile_append(lf, NULL, 0), TR_OK);
    ck_assert_uint_eq(file_size(), size);
    ck_assert_uint_eq(logfile_last_index(lf), 5);
    logfile_close(lf);
}
END_TEST

START_TEST(record_limit_at_its_edge)
{
    struct logfile_options o = {1024, false};
    struct logfile *lf = NULL;
    char err[256];
    ck_assert_int_eq(logfile_open(log_path, &o, net_a, &lf, NULL, err, sizeof err), TR_OK);
    static uint8_t big[1100];
    memset(big, 7, sizeof big);
    /* A record is the entry's 17 fixed bytes plus its data. */
    struct raft_entry fits = {1, 1, RAFT_ENTRY_NORMAL, big, 1024 - 17};
    struct raft_entry over = {2, 1, RAFT_ENTRY_NORMAL, big, 1024 - 16};
    ck_assert_int_eq(logfile_append(lf, &fits, 1), TR_OK);
    uint64_t size = file_size();
    ck_assert_int_eq(logfile_append(lf, &over, 1), TR_ELIMIT);
    ck_assert_uint_eq(file_size(), size);
    logfile_close(lf);
    ck_assert_int_eq(logfile_open(log_path, &o, net_a, &lf, NULL, err, sizeof err), TR_OK);
    ck_assert_uint_eq(logfile_last_index(lf), 1);
    logfile_close(lf);
    /* A smaller limit reads the same file as torn from that record on. */
    struct logfile_options small = {512, false};
    struct logfile_open_info info;
    ck_assert_int_eq(logfile_open(log_path, &small, net_a, &lf, &info, err, sizeof err), TR_OK);
    ck_assert_uint_eq(logfile_last_index(lf), 0);
    ck_assert_uint_eq(info.torn_bytes, 9 + 1024);
    logfile_close(lf);
    struct logfile_options bad = {8, false};
    ck_assert_int_eq(logfile_open(log_path, &bad, net_a, &lf, NULL, err, sizeof err), TR_EINVAL);
    ck_assert_ptr_nonnull(strstr(err, "record_max_bytes"));
}
END_TEST

START_TEST(foreign_files_are_refused)
{
    struct logfile *lf = open_ok(NULL);
    ck_assert_int_eq(append_range(lf, 1, 3, 1), TR_OK);
    logfile_close(lf);
    char err[256] = "";
    lf = NULL;
    ck_assert_int_eq(logfile_open(log_path, NULL, net_b, &lf, NULL, err, sizeof err), TR_ECORRUPT);
    ck_assert_ptr_null(lf);
    ck_assert_ptr_nonnull(strstr(err, "another network"));
    FILE *f = fopen(log_path, "r+");
    ck_assert_ptr_nonnull(f);
    fputs("NOTALOG!", f);
    fclose(f);
    ck_assert_int_eq(logfile_open(log_path, NULL, net_a, &lf, NULL, err, sizeof err), TR_ECORRUPT);
    ck_assert_ptr_nonnull(strstr(err, "not a treaty log file"));
}
END_TEST

static uint8_t *read_file(size_t *len)
{
    FILE *f = fopen(log_path, "rb");
    ck_assert_ptr_nonnull(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *b = malloc((size_t)n);
    ck_assert_uint_eq(fread(b, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *len = (size_t)n;
    return b;
}

static void write_file(const uint8_t *b, size_t len)
{
    FILE *f = fopen(log_path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(b, 1, len, f), len);
    fclose(f);
}

/* Flips the first data byte of entry `index` in the image of a log whose records are entries
 * 1, 2, ... in order. */
static void flip_entry_data(uint8_t *img, uint64_t index)
{
    size_t at = 48;
    for (uint64_t i = 1; i < index; i++)
        at += 9 + (size_t)(img[at] | img[at + 1] << 8 | img[at + 2] << 16);
    size_t rec_len = (size_t)(img[at] | img[at + 1] << 8 | img[at + 2] << 16);
    ck_assert_uint_gt(rec_len, 17);
    img[at + 9 + 17] ^= 0x01;
}

/* Reading entry `index` fails its checksum. */
static void check_corrupt(struct logfile *lf, uint64_t index)
{
    struct raft_entry e;
    uint8_t *buf = NULL;
    size_t cap = 0;
    ck_assert_int_eq(logfile_entry(lf, index, &e, &buf, &cap), TR_ECORRUPT);
    free(buf);
}

START_TEST(torn_tail_cut_at_every_byte)
{
    struct logfile *lf = open_ok(NULL);
    ck_assert_int_eq(append_range(lf, 1, 6, 1), TR_OK);
    ck_assert_int_eq(logfile_sync(lf), TR_OK);
    uint64_t durable_size = file_size();
    ck_assert_int_eq(append_range(lf, 4, 9, 2), TR_OK); /* a truncation record, then 4..9 */
    logfile_close(lf);
    size_t full = 0;
    uint8_t *img = read_file(&full);
    for (size_t cut = durable_size; cut <= full; cut++) {
        write_file(img, cut);
        struct logfile_open_info info;
        lf = open_ok(&info);
        uint64_t last = logfile_last_index(lf);
        /* Either the durable 1..6 of term 1 (no truncation record yet), or 1..3 and a prefix
         * of 4..9 in term 2. */
        if (last == 6 && logfile_last_term(lf) == 1) {
            for (uint64_t i = 1; i <= 6; i++)
                check_entry(lf, i, 1);
        } else {
            ck_assert_uint_ge(last, 3);
            ck_assert_uint_le(last, 9);
            for (uint64_t i = 1; i <= last; i++)
                check_entry(lf, i, i <= 3 ? 1 : 2);
        }
        ck_assert_uint_eq(file_size() + info.torn_bytes, cut);
        ck_assert_uint_eq(cut == full, info.torn_bytes == 0 && last == 9);
        /* The cut file takes appends again and reads back whole. */
        ck_assert_int_eq(append_range(lf, last + 1, last + 2, 5), TR_OK);
        logfile_close(lf);
        lf = open_ok(&info);
        ck_assert_uint_eq(info.torn_bytes, 0);
        ck_assert_uint_eq(logfile_last_index(lf), last + 2);
        check_entry(lf, last + 2, 5);
        logfile_close(lf);
    }
    free(img);
}
END_TEST

/* Read-only: a torn tail is read around and left in place, every write refuses, the file and
 * its index are byte for byte as they were, and a missing file is not created. */
START_TEST(read_only_writes_nothing)
{
    struct logfile *lf = open_ok(NULL);
    ck_assert_int_eq(append_range(lf, 1, 6, 1), TR_OK);
    ck_assert_int_eq(logfile_index_save(lf), TR_OK);
    ck_assert_int_eq(append_range(lf, 7, 9, 1), TR_OK);
    logfile_close(lf);
    size_t full = 0;
    uint8_t *img = read_file(&full);
    write_file(img, full - 5); /* the last record torn */
    size_t before = 0, idx_before = 0;
    uint8_t *was = read_file(&before);
    struct stat st;
    ck_assert_int_eq(stat(idx_file, &st), 0);
    idx_before = (size_t)st.st_size;
    struct logfile_options ro = {0, true};
    struct logfile_open_info info;
    char err[256];
    ck_assert_int_eq(logfile_open(log_path, &ro, net_a, &lf, &info, err, sizeof err), TR_OK);
    ck_assert_uint_eq(logfile_last_index(lf), 8);
    ck_assert_uint_gt(info.torn_bytes, 0);
    for (uint64_t i = 1; i <= 8; i++)
        check_entry(lf, i, 1);
    ck_assert_int_ne(append_range(lf, 9, 9, 1), TR_OK);
    struct raft_hard_state hs = {3, 0, 1};
    ck_assert_int_ne(logfile_hard_state_set(lf, &hs), TR_OK);
    ck_assert_int_ne(logfile_truncate(lf, 2), TR_OK);
    ck_assert_int_ne(logfile_index_save(lf), TR_OK);
    ck_assert_int_ne(logfile_sync(lf), TR_OK);
    logfile_close(lf);
    size_t after = 0;
    uint8_t *now = read_file(&after);
    ck_assert_uint_eq(after, before);
    ck_assert_mem_eq(now, was, before);
    ck_assert_int_eq(stat(idx_file, &st), 0);
    ck_assert_uint_eq((size_t)st.st_size, idx_before);
    free(now);
    free(was);
    free(img);
    unlink(log_path);
    ck_assert_int_eq(logfile_open(log_path, &ro, net_a, &lf, NULL, err, sizeof err), TR_ENOTFOUND);
    ck_assert_ptr_nonnull(strstr(err, "is missing"));
    ck_assert_int_ne(stat(log_path, &st), 0);
}
END_TEST

START_TEST(corrupt_record_ends_the_log_there)
{
    struct logfile *lf = open_ok(NULL);
    ck_assert_int_eq(append_range(lf, 1, 10, 1), TR_OK);
    logfile_close(lf);
    size_t len = 0;
    uint8_t *img = read_file(&len);
    img[len - 5] ^= 0x40; /* inside entry 10's data */
    write_file(img, len);
    lf = open_ok(NULL);
    ck_assert_uint_eq(logfile_last_index(lf), 9);
    logfile_close(lf);
    free(img);
}
END_TEST

/* A record damaged where it lies, with good records after it, is not a torn write: it keeps its
 * place and reading it fails; the entries after it stay. */
START_TEST(damage_in_place_is_kept_and_reported)
{
    struct logfile *lf = open_ok(NULL);
    ck_assert_int_eq(append_range(lf, 1, 10, 1), TR_OK);
    logfile_close(lf);
    size_t len = 0;
    uint8_t *img = read_file(&len);
    flip_entry_data(img, 5);
    write_file(img, len);
    struct logfile_open_info info;
    lf = open_ok(&info);
    ck_assert_uint_eq(info.damaged, 1);
    ck_assert_uint_eq(info.torn_bytes, 0);
    ck_assert_uint_eq(logfile_last_index(lf), 10);
    check_corrupt(lf, 5);
    check_entry(lf, 4, 1);
    check_entry(lf, 6, 1);
    check_entry(lf, 10, 1);
    uint64_t t = 0;
    ck_assert_int_eq(logfile_term(lf, 5, &t), TR_OK);
    ck_assert_uint_eq(t, 1);
    logfile_close(lf);
    free(img);
}
END_TEST

/* A log with entries in three terms, a truncation and hard states: 1..12 as check_entry knows
 * them (1..4 term 1, 5..8 term 2 after 5..9 of term 1 were dropped, 9..12 term 3). */
static void build_log(struct logfile *lf)
{
    ck_assert_int_eq(append_range(lf, 1, 9, 1), TR_OK);
    struct raft_hard_state hs = {2, 7, 3};
    ck_assert_int_eq(logfile_hard_state_set(lf, &hs), TR_OK);
    ck_assert_int_eq(append_range(lf, 5, 8, 2), TR_OK);
    ck_assert_int_eq(append_range(lf, 9, 12, 3), TR_OK);
    hs = (struct raft_hard_state){3, 9, 11};
    ck_assert_int_eq(logfile_hard_state_set(lf, &hs), TR_OK);
}

static void check_built(struct logfile *lf, uint64_t last)
{
    ck_assert_uint_eq(logfile_last_index(lf), last);
    for (uint64_t i = 1; i <= last; i++)
        check_entry(lf, i, i <= 4 ? 1 : i <= 8 ? 2 : i <= 12 ? 3 : 4);
    struct raft_hard_state hs;
    logfile_hard_state(lf, &hs);
    ck_assert_uint_eq(hs.term, 3);
    ck_assert_uint_eq(hs.vote, 9);
    ck_assert_uint_eq(hs.commit, 11);
    ck_assert_uint_eq(logfile_durable_index(lf), last);
}

/* The index file: an open reads only the records after the prefix it describes, and finds the
 * same log as a full read; appends after the save are read as usual. */
START_TEST(index_saves_the_read_of_a_prefix)
{
    struct logfile *lf = open_ok(NULL);
    build_log(lf);
    ck_assert_int_eq(logfile_index_save(lf), TR_OK);
    uint64_t saved = file_size();
    ck_assert_int_eq(append_range(lf, 13, 15, 4), TR_OK);
    ck_assert_int_eq(logfile_sync(lf), TR_OK);
    logfile_close(lf);
    struct logfile_open_info info;
    lf = open_ok(&info);
    ck_assert_uint_eq(info.indexed_bytes, saved);
    ck_assert_uint_eq(info.records, 3);
    check_built(lf, 15);
    /* Writing on after an indexed open: a conflicting append truncates inside the prefix. */
    ck_assert_int_eq(append_range(lf, 11, 13, 5), TR_OK);
    ck_assert_int_eq(logfile_index_save(lf), TR_OK);
    logfile_close(lf);
    lf = open_ok(&info);
    ck_assert_uint_eq(info.indexed_bytes, file_size());
    ck_assert_uint_eq(info.records, 0);
    ck_assert_uint_eq(logfile_last_index(lf), 13);
    check_entry(lf, 10, 3);
    check_entry(lf, 13, 5);
    ck_assert_uint_eq(logfile_last_term(lf), 5);
    logfile_close(lf);
    /* Without the index file the whole file is read, to the same log. */
    ck_assert_int_eq(unlink(idx_file), 0);
    lf = open_ok(&info);
    ck_assert_uint_eq(info.indexed_bytes, 0);
    ck_assert_uint_eq(logfile_last_index(lf), 13);
    check_entry(lf, 10, 3);
    check_entry(lf, 13, 5);
    logfile_close(lf);
}
END_TEST

/* An index file that does not describe the file is not used: the whole file is read. */
START_TEST(index_that_does_not_fit_is_ignored)
{
    struct logfile_open_info info;
    /* Each way the pair can stop fitting; the log read whole must still be the log. */
    for (int way = 0; way < 5; way++) {
        unlink(log_path);
        unlink(idx_file);
        struct logfile *lf = open_ok(NULL);
        build_log(lf);
        ck_assert_int_eq(logfile_index_save(lf), TR_OK);
        logfile_close(lf);
        size_t len = 0;
        uint8_t *img = read_file(&len);
        if (way <= 1) {
            FILE *f = fopen(idx_file, "r+b");
            ck_assert_ptr_nonnull(f);
            uint8_t idx[4096];
            size_t ilen = fread(idx, 1, sizeof idx, f);
            ck_assert_uint_gt(ilen, 112);
            if (way == 0)
                idx[ilen / 2] ^= 0x04; /* the index's own checksum fails */
            ck_assert_int_eq(fseek(f, 0, SEEK_SET), 0);
            ck_assert_uint_eq(fwrite(idx, 1, ilen, f), ilen);
            fclose(f);
            if (way == 1) /* cut short */
                ck_assert_int_eq(truncate(idx_file, (off_t)ilen - 1), 0);
        } else if (way == 2) { /* the log file replaced by a copy: another inode */
            char copy[200];
            snprintf(copy, sizeof copy, "%s.copy", log_path);
            FILE *c = fopen(copy, "wb");
            ck_assert_ptr_nonnull(c);
            ck_assert_uint_eq(fwrite(img, 1, len, c), len);
            fclose(c);
            ck_assert_int_eq(rename(copy, log_path), 0);
        } else if (way == 3) { /* the log's last bytes changed (its hard state's commit) */
            img[len - 1] ^= 0x01;
            write_file(img, len);
        } else { /* the log cut shorter than the prefix */
            write_file(img, len - 30);
        }
        free(img);
        lf = open_ok(&info);
        ck_assert_msg(info.indexed_bytes == 0, "way %d: the index was used", way);
        if (way >= 3) { /* the bad or cut last record (the hard state) goes as torn */
            ck_assert_uint_gt(info.torn_bytes, 0);
            ck_assert_uint_eq(logfile_last_index(lf), 12);
            check_entry(lf, 12, 3);
        } else {
            check_built(lf, 12);
        }
        logfile_close(lf);
    }
}
END_TEST

/* Damage inside an indexed prefix (before its last 4 KiB) is found when the entry is read. */
START_TEST(index_prefix_damage_found_at_read)
{
    struct logfile *lf = open_ok(NULL);
    for (uint64_t i = 1; i <= 120; i += 40)
        ck_assert_int_eq(append_range(lf, i, i + 39 < 120 ? i + 39 : 120, 1), TR_OK);
    ck_assert_int_eq(logfile_index_save(lf), TR_OK);
    logfile_close(lf);
    size_t len = 0;
    uint8_t *img = read_file(&len);
    ck_assert_uint_gt(len, 48 + 3 * 4096);
    flip_entry_data(img, 5);
    write_file(img, len);
    struct logfile_open_info info;
    lf = open_ok(&info);
    ck_assert_uint_eq(info.indexed_bytes, len);
    check_corrupt(lf, 5);
    check_entry(lf, 4, 1);
    check_entry(lf, 120, 1);
    logfile_close(lf);
    free(img);
}
END_TEST

/* A rollback that cuts the file below a saved prefix: the index no longer fits and is not used,
 * even once appends have made the file longer again. */
START_TEST(index_after_a_rollback_below_it_is_ignored)
{
    struct logfile *lf = open_ok(NULL);
    ck_assert_int_eq(append_range(lf, 1, 3, 1), TR_OK);
    ck_assert_int_eq(logfile_mark(lf), TR_OK);
    ck_assert_int_eq(append_range(lf, 4, 6, 1), TR_OK);
    ck_assert_int_eq(logfile_index_save(lf), TR_OK);
    ck_assert_int_eq(logfile_rollback(lf), TR_OK);
    ck_assert_int_eq(append_range(lf, 4, 20, 2), TR_OK);
    ck_assert_int_eq(logfile_sync(lf), TR_OK);
    logfile_close(lf);
    struct logfile_open_info info;
    lf = open_ok(&info);
    ck_assert_uint_eq(info.indexed_bytes, 0);
    ck_assert_uint_eq(logfile_last_index(lf), 20);
    check_entry(lf, 3, 1);
    check_entry(lf, 4, 2);
    check_entry(lf, 20, 2);
    logfile_close(lf);
}
END_TEST

/* A checksummed record in the wrong place is not a torn write: the open refuses. */
START_TEST(out_of_order_record_is_refused)
{
    struct logfile *lf = open_ok(NULL);
    ck_assert_int_eq(append_range(lf, 1, 3, 1), TR_OK);
    logfile_close(lf);
    uint8_t r[9 + 17];
    memset(r, 0, sizeof r);
    r[0] = 17;    /* payload length */
    r[8] = 1;     /* an entry */
    r[9] = 7;     /* index 7 after 3 */
    r[9 + 8] = 1; /* term 1 */
    uint32_t c = logfile_crc32c(logfile_crc32c(0, r + 8, 1), r + 9, 17);
    for (int i = 0; i < 4; i++)
        r[4 + i] = (uint8_t)(c >> (8 * i));
    FILE *f = fopen(log_path, "ab");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(r, 1, sizeof r, f), sizeof r);
    fclose(f);
    char err[256] = "";
    ck_assert_int_eq(logfile_open(log_path, NULL, net_a, &lf, NULL, err, sizeof err), TR_ECORRUPT);
    ck_assert_ptr_nonnull(strstr(err, "entry 7"));
}
END_TEST

struct reader_arg {
    struct logfile *lf;
    volatile int stop;
    int bad, reads;
};

static void *reader_run(void *p)
{
    struct reader_arg *a = p;
    uint8_t *buf = NULL, want[300];
    size_t cap = 0;
    while (!a->stop) {
        uint64_t d = logfile_durable_index(a->lf);
        for (uint64_t i = d > 20 ? d - 20 : 1; i <= d; i++) {
            struct raft_entry e;
            if (logfile_entry(a->lf, i, &e, &buf, &cap) != TR_OK || e.term != 1 ||
                e.len != entry_data(i, 1, want, sizeof want) ||
                (e.len && memcmp(e.data, want, e.len) != 0))
                a->bad++;
            a->reads++;
        }
    }
    free(buf);
    return NULL;
}

START_TEST(reader_thread_during_appends)
{
    struct reader_arg a = {open_ok(NULL), 0, 0, 0};
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, reader_run, &a), 0);
    for (uint64_t i = 1; i <= 2000; i += 40) {
        ck_assert_int_eq(append_range(a.lf, i, i + 39, 1), TR_OK);
        if (i % 200 == 1)
            ck_assert_int_eq(logfile_sync(a.lf), TR_OK);
    }
    a.stop = 1;
    ck_assert_int_eq(pthread_join(t, NULL), 0);
    ck_assert_int_eq(a.bad, 0);
    ck_assert_int_gt(a.reads, 0);
    logfile_close(a.lf);
}
END_TEST

/* Random appends (with conflicts), hard states, syncs and reopens against a model. */
START_TEST(random_operations_match_a_model)
{
    uint64_t seed = (uint64_t)time(NULL);
    const char *env = getenv("TREATY_TEST_SEED");
    if (env)
        seed = strtoull(env, NULL, 10);
    fprintf(stderr, "test_logfile random: seed %llu (TREATY_TEST_SEED replays)\n",
            (unsigned long long)seed);
    struct tr_prng rng;
    tr_prng_seed(&rng, seed);
    enum { MAX = 400 };
    uint64_t terms[MAX + 64];
    uint64_t last = 0, term = 1;
    struct raft_hard_state hs = {0, 0, 0};
    struct logfile *lf = open_ok(NULL);
    for (int op = 0; op < 300; op++) {
        uint64_t r = tr_prng_next(&rng) % 10;
        if (r < 6) {
            uint64_t from = last + 1;
            if (r == 0 && last > 0) { /* a conflicting suffix in a new term */
                from = 1 + tr_prng_next(&rng) % last;
                term++;
            }
            uint64_t n = 1 + tr_prng_next(&rng) % 30;
            if (from + n - 1 > MAX)
                continue;
            ck_assert_int_eq(append_range(lf, from, from + n - 1, term), TR_OK);
            for (uint64_t i = from; i < from + n; i++)
                terms[i] = term;
            last = from + n - 1;
        } else if (r == 6) {
            hs = (struct raft_hard_state){term, tr_prng_next(&rng) % 4, last / 2};
            ck_assert_int_eq(logfile_hard_state_set(lf, &hs), TR_OK);
        } else if (r == 7) {
            ck_assert_int_eq(logfile_sync(lf), TR_OK);
        } else {
            logfile_close(lf);
            lf = open_ok(NULL);
        }
        ck_assert_uint_eq(logfile_last_index(lf), last);
    }
    logfile_close(lf);
    lf = open_ok(NULL);
    ck_assert_uint_eq(logfile_last_index(lf), last);
    for (uint64_t i = 1; i <= last; i++)
        check_entry(lf, i, terms[i]);
    struct raft_hard_state got;
    logfile_hard_state(lf, &got);
    ck_assert_mem_eq(&got, &hs, sizeof hs);
    logfile_close(lf);
}
END_TEST

Suite *suite_logfile(void)
{
    Suite *s = suite_create("logfile");
    TCase *tc = tcase_create("logfile");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, crc32c_check_value_and_reference);
    tcase_add_test(tc, append_read_and_reopen);
    tcase_add_test(tc, conflicting_append_truncates);
    tcase_add_test(tc, refused_input_writes_nothing);
    tcase_add_test(tc, record_limit_at_its_edge);
    tcase_add_test(tc, foreign_files_are_refused);
    tcase_add_test(tc, torn_tail_cut_at_every_byte);
    tcase_add_test(tc, read_only_writes_nothing);
    tcase_add_test(tc, corrupt_record_ends_the_log_there);
    tcase_add_test(tc, damage_in_place_is_kept_and_reported);
    tcase_add_test(tc, out_of_order_record_is_refused);
    tcase_add_test(tc, index_saves_the_read_of_a_prefix);
    tcase_add_test(tc, index_that_does_not_fit_is_ignored);
    tcase_add_test(tc, index_prefix_damage_found_at_read);
    tcase_add_test(tc, index_after_a_rollback_below_it_is_ignored);
    tcase_add_test(tc, reader_thread_during_appends);
    tcase_add_test(tc, random_operations_match_a_model);
    suite_add_tcase(s, tc);
    return s;
}
