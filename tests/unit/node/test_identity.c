/* test_identity.c — the key file: creation (0600, O_EXCL, never overwritten, no symlink followed),
 * loading (permission check with the chmod hint, malformed files, the RFC 8032 key pair derived
 * from a known seed), org names at their edges and the hex helpers. Each test uses its own
 * directory under /tmp. */
#include "node/identity.h"

#include "common/err.h"

#include <check.h>
#include <fcntl.h>
#include <limits.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

Suite *suite_identity(void);

/* RFC 8032 §7.1 TEST 1 */
#define RFC_SEED "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"
#define RFC_PK   "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"

static char tdir[64];
static char tnode[96]; /* tdir/n: the node directory, not yet created */
static char tkey[128]; /* tnode/node.key */

static void setup(void)
{
    snprintf(tdir, sizeof tdir, "/tmp/treaty-test-id-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tdir));
    snprintf(tnode, sizeof tnode, "%s/n", tdir);
    snprintf(tkey, sizeof tkey, "%s/node.key", tnode);
}

static void teardown(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tdir);
    ck_assert_int_eq(system(cmd), 0);
}

/* Writes a key file with the given content and mode (creating the node directory). */
static void write_key(const char *content, mode_t mode)
{
    mkdir(tnode, 0700);
    FILE *f = fopen(tkey, "w");
    ck_assert_ptr_nonnull(f);
    fputs(content, f);
    fclose(f);
    ck_assert_int_eq(chmod(tkey, mode), 0);
}

static size_t read_file(const char *path, char *buf, size_t cap)
{
    FILE *f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    size_t n = fread(buf, 1, cap - 1, f);
    buf[n] = '\0';
    fclose(f);
    return n;
}

START_TEST(test_name_edges)
{
    char n63[64], n64[65];
    memset(n63, 'a', 63);
    n63[63] = '\0';
    memset(n64, 'a', 64);
    n64[64] = '\0';
    ck_assert(identity_name_valid("a"));
    ck_assert(identity_name_valid("acme-2"));
    ck_assert(identity_name_valid("a-"));
    ck_assert(identity_name_valid(n63));
    ck_assert(!identity_name_valid(n64));
    ck_assert(!identity_name_valid(""));
    ck_assert(!identity_name_valid(NULL));
    ck_assert(!identity_name_valid("Acme"));
    ck_assert(!identity_name_valid("1acme"));
    ck_assert(!identity_name_valid("-acme"));
    ck_assert(!identity_name_valid("ac_me"));
    ck_assert(!identity_name_valid("ac.me"));
    ck_assert(!identity_name_valid("acme "));
    ck_assert(!identity_name_valid("acmé"));
}
END_TEST

START_TEST(test_hex)
{
    uint8_t b[4] = {0x00, 0x9f, 0xa0, 0xff}, d[4];
    char s[9];
    tr_hex_encode(b, 4, s);
    ck_assert_str_eq(s, "009fa0ff");
    ck_assert_int_eq(hex_decode("009fa0ff", d, 4), TR_OK);
    ck_assert_mem_eq(b, d, 4);
    ck_assert_int_eq(hex_decode("009FA0FF", d, 4), TR_EPARSE); /* lowercase only */
    ck_assert_int_eq(hex_decode("009fa0f", d, 4), TR_EPARSE);
    ck_assert_int_eq(hex_decode("009fa0fff", d, 4), TR_EPARSE);
    ck_assert_int_eq(hex_decode("009fa0fg", d, 4), TR_EPARSE);
    ck_assert_int_eq(hex_decode("009fa0f ", d, 4), TR_EPARSE);
    ck_assert_int_eq(hex_decode(NULL, d, 4), TR_EPARSE);
    ck_assert_int_eq(hex_decode("", d, 0), TR_OK);
    tr_hex_encode(b, 0, s);
    ck_assert_str_eq(s, "");
}
END_TEST

START_TEST(test_create_then_load)
{
    struct identity a, b;
    char err[512], buf[256], hex[65];
    struct stat st;
    ck_assert_int_eq(identity_create(tnode, "acme", &a, err, sizeof err), TR_OK);
    ck_assert_str_eq(a.org, "acme");
    ck_assert_int_eq(stat(tnode, &st), 0);
    ck_assert_uint_eq(st.st_mode & 0777, 0700);
    ck_assert_int_eq(lstat(tkey, &st), 0);
    ck_assert(S_ISREG(st.st_mode));
    ck_assert_uint_eq(st.st_mode & 0777, 0600);
    /* one line: the seed in lowercase hex */
    ck_assert_uint_eq(read_file(tkey, buf, sizeof buf), 65);
    tr_hex_encode(a.sk, 32, hex);
    ck_assert_int_eq(strncmp(buf, hex, 64), 0);
    ck_assert_int_eq(buf[64], '\n');
    ck_assert_mem_eq(a.sk + 32, a.pk, 32);
    ck_assert_int_eq(identity_load(tnode, "acme", &b, err, sizeof err), TR_OK);
    ck_assert_mem_eq(a.pk, b.pk, 32);
    ck_assert_mem_eq(a.sk, b.sk, 64);
    ck_assert_str_eq(b.org, "acme");
    /* two keys are not the same key */
    struct identity c;
    char other[128];
    snprintf(other, sizeof other, "%s/other", tdir);
    ck_assert_int_eq(identity_create(other, "acme", &c, err, sizeof err), TR_OK);
    ck_assert_int_ne(memcmp(a.pk, c.pk, 32), 0);
}
END_TEST

START_TEST(test_create_existing_dir_is_fine)
{
    struct identity a;
    char err[512];
    ck_assert_int_eq(mkdir(tnode, 0755), 0);
    ck_assert_int_eq(identity_create(tnode, "acme", &a, err, sizeof err), TR_OK);
}
END_TEST

START_TEST(test_create_refuses_overwrite)
{
    struct identity a, b;
    char err[512], before[256], after[256];
    ck_assert_int_eq(identity_create(tnode, "acme", &a, err, sizeof err), TR_OK);
    read_file(tkey, before, sizeof before);
    ck_assert_int_eq(identity_create(tnode, "acme", &b, err, sizeof err), TR_EEXISTS);
    ck_assert_ptr_nonnull(strstr(err, tkey));
    ck_assert_ptr_nonnull(strstr(err, "already exists"));
    read_file(tkey, after, sizeof after);
    ck_assert_str_eq(before, after);
    uint8_t zero[64] = {0};
    ck_assert_mem_eq(b.sk, zero, 64);
}
END_TEST

START_TEST(test_create_refuses_symlink)
{
    struct identity a;
    char err[512], target[128];
    struct stat st;
    snprintf(target, sizeof target, "%s/elsewhere", tdir);
    ck_assert_int_eq(mkdir(tnode, 0700), 0);
    ck_assert_int_eq(symlink(target, tkey), 0);
    ck_assert_int_eq(identity_create(tnode, "acme", &a, err, sizeof err), TR_EEXISTS);
    ck_assert_int_ne(stat(target, &st), 0); /* nothing written through the link */
    ck_assert_int_eq(identity_load(tnode, "acme", &a, err, sizeof err), TR_EINVAL);
    ck_assert_ptr_nonnull(strstr(err, "symbolic link"));
}
END_TEST

START_TEST(test_create_bad_args)
{
    struct identity a;
    char err[512], longdir[5000];
    ck_assert_int_eq(identity_create(tnode, "Acme", &a, err, sizeof err), TR_EINVAL);
    ck_assert_ptr_nonnull(strstr(err, "Acme"));
    memset(longdir, 'd', sizeof longdir - 1);
    longdir[sizeof longdir - 1] = '\0';
    ck_assert_int_eq(identity_create(longdir, "acme", &a, err, sizeof err), TR_EINVAL);
    ck_assert_ptr_nonnull(strstr(err, "too long"));
    ck_assert_int_eq(identity_load(longdir, "acme", &a, err, sizeof err), TR_EINVAL);
    /* parent missing: mkdir fails, reported with the directory */
    char deep[160];
    snprintf(deep, sizeof deep, "%s/no/such", tdir);
    ck_assert_int_eq(identity_create(deep, "acme", &a, err, sizeof err), TR_EIO);
    ck_assert_ptr_nonnull(strstr(err, deep));
}
END_TEST

START_TEST(test_load_known_seed)
{
    struct identity a;
    char err[512], hex[65];
    write_key(RFC_SEED "\n", 0600);
    ck_assert_int_eq(identity_load(tnode, "acme", &a, err, sizeof err), TR_OK);
    tr_hex_encode(a.pk, 32, hex);
    ck_assert_str_eq(hex, RFC_PK);
    /* no final newline is fine; read-only is fine */
    unlink(tkey);
    write_key(RFC_SEED, 0400);
    ck_assert_int_eq(identity_load(tnode, "acme", &a, err, sizeof err), TR_OK);
    tr_hex_encode(a.pk, 32, hex);
    ck_assert_str_eq(hex, RFC_PK);
}
END_TEST

START_TEST(test_load_loose_permissions)
{
    static const mode_t modes[] = {0644, 0640, 0604, 0601, 0610, 0660, 0666, 0700 | 0020};
    struct identity a;
    char err[512], want[400];
    for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++) {
        unlink(tkey);
        write_key(RFC_SEED "\n", modes[i]);
        ck_assert_int_eq(identity_load(tnode, "acme", &a, err, sizeof err), TR_EDENIED);
        snprintf(want, sizeof want, "%s: permissions %04o are too open; run chmod 600 %s", tkey,
                 (unsigned)modes[i], tkey);
        ck_assert_str_eq(err, want);
        uint8_t zero[64] = {0};
        ck_assert_mem_eq(a.sk, zero, 64);
    }
}
END_TEST

START_TEST(test_load_malformed)
{
    static const char *const bad[] = {
        "",
        "\n",
        RFC_SEED "\n\n",
        RFC_SEED " ",
        " " RFC_SEED,
        RFC_SEED "00",
        "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f6",  /* 63 */
        "9D61B19DEFFD5A60BA844AF492EC2CC44449C5697B326919703BAC031CAE7F60", /* uppercase */
        "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7fzz",
        RFC_SEED "\n" RFC_SEED "\n",
    };
    struct identity a;
    char err[512];
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        unlink(tkey);
        write_key(bad[i], 0600);
        ck_assert_msg(identity_load(tnode, "acme", &a, err, sizeof err) == TR_EPARSE, "case %zu",
                      i);
        ck_assert_ptr_nonnull(strstr(err, tkey));
        ck_assert_ptr_nonnull(strstr(err, "malformed key"));
    }
}
END_TEST

START_TEST(test_load_missing_and_not_regular)
{
    struct identity a;
    char err[512];
    ck_assert_int_eq(identity_load(tnode, "acme", &a, err, sizeof err), TR_ENOTFOUND);
    ck_assert_ptr_nonnull(strstr(err, tkey));
    ck_assert_int_eq(mkdir(tnode, 0700), 0);
    ck_assert_int_eq(mkdir(tkey, 0700), 0);
    ck_assert_int_eq(identity_load(tnode, "acme", &a, err, sizeof err), TR_EINVAL);
    ck_assert_ptr_nonnull(strstr(err, "not a regular file"));
    ck_assert_int_eq(rmdir(tkey), 0);
    write_key(RFC_SEED, 0600);
    ck_assert_int_eq(identity_load(tnode, "Bad Org", &a, err, sizeof err), TR_EINVAL);
}
END_TEST

START_TEST(test_wipe)
{
    struct identity a;
    memset(&a, 0x5a, sizeof a);
    identity_wipe(&a);
    struct identity zero;
    memset(&zero, 0, sizeof zero);
    ck_assert_mem_eq(&a, &zero, sizeof a);
    identity_wipe(NULL);
}
END_TEST

Suite *suite_identity(void)
{
    Suite *s = suite_create("identity");
    TCase *tc = tcase_create("identity");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_name_edges);
    tcase_add_test(tc, test_hex);
    tcase_add_test(tc, test_create_then_load);
    tcase_add_test(tc, test_create_existing_dir_is_fine);
    tcase_add_test(tc, test_create_refuses_overwrite);
    tcase_add_test(tc, test_create_refuses_symlink);
    tcase_add_test(tc, test_create_bad_args);
    tcase_add_test(tc, test_load_known_seed);
    tcase_add_test(tc, test_load_loose_permissions);
    tcase_add_test(tc, test_load_malformed);
    tcase_add_test(tc, test_load_missing_and_not_regular);
    tcase_add_test(tc, test_wipe);
    suite_add_tcase(s, tc);
    return s;
}
