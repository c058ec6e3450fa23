/* test_apikeys.c — suite `apikeys` for node/apikeys.c: keys made, saved (0600, atomic: no
 * temporary file left, digests only) and loaded back; verify accepts exactly the key text (a
 * changed secret, id, prefix or length, and a revoked key are refused); revoke refuses unknown
 * and repeated ids; damaged files are refused with a message naming the entry; a missing file is
 * TR_ENOTFOUND; names are bounded; allocation failures leave the store unchanged. */
#include "node/apikeys.h"

#include "common/alloc.h"
#include "common/err.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

Suite *suite_apikeys(void);

static char tdir[64];

static void setup(void)
{
    snprintf(tdir, sizeof tdir, "/tmp/treaty-test-keys-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tdir));
}

static void teardown(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tdir);
    ck_assert_int_eq(system(cmd), 0);
}

static void write_file(const char *text)
{
    char path[128];
    snprintf(path, sizeof path, "%s/%s", tdir, APIKEYS_FILE);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
}

static char *read_file(void)
{
    char path[128];
    snprintf(path, sizeof path, "%s/%s", tdir, APIKEYS_FILE);
    FILE *f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    static char buf[65536];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

START_TEST(create_save_load_verify)
{
    struct apikeys k = {0};
    char admin[APIKEY_TEXT_BYTES + 1], reader[APIKEY_TEXT_BYTES + 1], err[512];
    ck_assert_int_eq(apikeys_add(&k, API_ROLE_ADMIN, "ops", "2026-01-02T03:04:05Z", admin), TR_OK);
    ck_assert_int_eq(apikeys_add(&k, API_ROLE_READER, NULL, "2026-01-02T03:04:06Z", reader), TR_OK);
    ck_assert_uint_eq(strlen(admin), APIKEY_TEXT_BYTES);
    ck_assert(strncmp(admin, "trk_", 4) == 0 && admin[20] == '_');
    ck_assert_str_ne(admin, reader);
    ck_assert_int_eq(apikeys_save(tdir, &k, err, sizeof err), TR_OK);
    apikeys_free(&k);

    char path[128];
    struct stat st;
    snprintf(path, sizeof path, "%s/%s", tdir, APIKEYS_FILE);
    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert_uint_eq(st.st_mode & 0777, 0600);
    snprintf(path, sizeof path, "%s/%s.tmp", tdir, APIKEYS_FILE);
    ck_assert_int_ne(access(path, F_OK), 0); /* renamed away */
    const char *text = read_file();
    ck_assert_ptr_null(strstr(text, admin + 21)); /* the secret is not stored */
    ck_assert_ptr_nonnull(strstr(text, "\"sha256\""));

    ck_assert_int_eq(apikeys_load(tdir, &k, err, sizeof err), TR_OK);
    ck_assert_uint_eq(k.n, 2);
    ck_assert_str_eq(k.v[0].name, "ops");
    ck_assert_str_eq(k.v[0].created, "2026-01-02T03:04:05Z");
    enum api_role role = API_ROLE_NONE;
    ck_assert_int_eq(apikeys_verify(&k, admin, strlen(admin), &role), TR_OK);
    ck_assert_int_eq(role, API_ROLE_ADMIN);
    ck_assert_int_eq(apikeys_verify(&k, reader, strlen(reader), &role), TR_OK);
    ck_assert_int_eq(role, API_ROLE_READER);
    apikeys_free(&k);
}
END_TEST

START_TEST(verify_refuses_anything_else)
{
    struct apikeys k = {0};
    char key[APIKEY_TEXT_BYTES + 1], bad[APIKEY_TEXT_BYTES + 2];
    ck_assert_int_eq(apikeys_add(&k, API_ROLE_WRITER, "w", "t", key), TR_OK);
    enum api_role role = API_ROLE_NONE;
    /* every single character changed, one at a time */
    for (size_t i = 0; i < APIKEY_TEXT_BYTES; i++) {
        memcpy(bad, key, sizeof key);
        bad[i] = bad[i] == 'a' ? 'b' : 'a';
        ck_assert_msg(apikeys_verify(&k, bad, APIKEY_TEXT_BYTES, &role) == TR_ENOTFOUND,
                      "changed at %zu", i);
    }
    ck_assert_int_eq(apikeys_verify(&k, key, APIKEY_TEXT_BYTES - 1, &role), TR_ENOTFOUND);
    memcpy(bad, key, sizeof key);
    strcat(bad, "0");
    ck_assert_int_eq(apikeys_verify(&k, bad, strlen(bad), &role), TR_ENOTFOUND);
    ck_assert_int_eq(apikeys_verify(&k, "", 0, &role), TR_ENOTFOUND);
    ck_assert_int_eq(role, API_ROLE_NONE); /* untouched by a refusal */
    struct apikeys empty = {0};
    ck_assert_int_eq(apikeys_verify(&empty, key, APIKEY_TEXT_BYTES, &role), TR_ENOTFOUND);
    ck_assert_int_eq(apikeys_verify(&k, key, APIKEY_TEXT_BYTES, &role), TR_OK);
    ck_assert_int_eq(role, API_ROLE_WRITER);
    apikeys_free(&k);
}
END_TEST

START_TEST(revoke_and_reload)
{
    struct apikeys k = {0};
    char a[APIKEY_TEXT_BYTES + 1], b[APIKEY_TEXT_BYTES + 1], err[512], id[APIKEY_ID_HEX + 1];
    ck_assert_int_eq(apikeys_add(&k, API_ROLE_ADMIN, NULL, "t", a), TR_OK);
    ck_assert_int_eq(apikeys_add(&k, API_ROLE_ADMIN, NULL, "t", b), TR_OK);
    memcpy(id, a + 4, APIKEY_ID_HEX);
    id[APIKEY_ID_HEX] = '\0';
    ck_assert_int_eq(apikeys_revoke(&k, "0000000000000000", "now"), TR_ENOTFOUND);
    ck_assert_int_eq(apikeys_revoke(&k, id, "2026-01-01T00:00:00Z"), TR_OK);
    ck_assert_int_eq(apikeys_revoke(&k, id, "later"), TR_EEXISTS);
    ck_assert_int_eq(apikeys_save(tdir, &k, err, sizeof err), TR_OK);
    apikeys_free(&k);
    ck_assert_int_eq(apikeys_load(tdir, &k, err, sizeof err), TR_OK);
    enum api_role role;
    ck_assert_int_eq(apikeys_verify(&k, a, APIKEY_TEXT_BYTES, &role), TR_ENOTFOUND);
    ck_assert_int_eq(apikeys_verify(&k, b, APIKEY_TEXT_BYTES, &role), TR_OK);
    ck_assert_str_eq(k.v[0].revoked, "2026-01-01T00:00:00Z");
    apikeys_free(&k);
}
END_TEST

START_TEST(missing_and_damaged_files)
{
    struct apikeys k = {0};
    char err[512];
    ck_assert_int_eq(apikeys_load(tdir, &k, err, sizeof err), TR_ENOTFOUND);
    ck_assert_uint_eq(k.n, 0);
#define GOOD                                                                                       \
    "{\"id\":\"0123456789abcdef\",\"role\":\"reader\",\"created\":\"t\",\"sha256\":"               \
    "\"00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\"}"
    const struct {
        const char *body, *needle;
    } cases[] = {
        {"not json", "apikeys.json:1:"},
        {"[]", "expected {\"keys\""},
        {"{\"keys\":[{\"id\":\"XYZ\",\"role\":\"reader\",\"created\":\"t\"}]}", "/keys/0: id"},
        {"{\"keys\":[" GOOD ",{\"id\":\"0123456789abcdef\",\"role\":\"boss\",\"created\":\"t\"}]}",
         "/keys/1: role"},
        {"{\"keys\":[" GOOD "," GOOD "]}", "/keys/1: id 0123456789abcdef appears twice"},
        {"{\"keys\":[{\"id\":\"0123456789abcdef\",\"role\":\"admin\",\"created\":\"t\","
         "\"sha256\":\"00\"}]}",
         "sha256"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        write_file(cases[i].body);
        ck_assert_int_eq(apikeys_load(tdir, &k, err, sizeof err), TR_EPARSE);
        ck_assert_msg(strstr(err, cases[i].needle) != NULL, "%s: %s", cases[i].body, err);
        ck_assert_uint_eq(k.n, 0);
    }
    write_file("{\"keys\":[" GOOD "]}");
    ck_assert_int_eq(apikeys_load(tdir, &k, err, sizeof err), TR_OK);
    ck_assert_uint_eq(k.n, 1);
    ck_assert_int_eq(k.v[0].role, API_ROLE_READER);
    apikeys_free(&k);
}
END_TEST

START_TEST(names_and_roles_bounded)
{
    struct apikeys k = {0};
    char key[APIKEY_TEXT_BYTES + 1], name[APIKEY_NAME_MAX + 2];
    memset(name, 'n', sizeof name - 1);
    name[sizeof name - 1] = '\0';
    ck_assert_int_eq(apikeys_add(&k, API_ROLE_READER, name, "t", key), TR_EINVAL);
    name[APIKEY_NAME_MAX] = '\0';
    ck_assert_int_eq(apikeys_add(&k, API_ROLE_READER, name, "t", key), TR_OK);
    ck_assert_int_eq(apikeys_add(&k, API_ROLE_READER, "tab\there", "t", key), TR_EINVAL);
    ck_assert_int_eq(apikeys_add(&k, API_ROLE_NONE, NULL, "t", key), TR_EINVAL);
    ck_assert_uint_eq(k.n, 1);
    ck_assert_int_eq(api_role_parse("writer"), API_ROLE_WRITER);
    ck_assert_int_eq(api_role_parse("Writer"), API_ROLE_NONE);
    ck_assert_int_eq(api_role_parse(NULL), API_ROLE_NONE);
    ck_assert_str_eq(api_role_name(API_ROLE_ADMIN), "admin");
    apikeys_free(&k);
}
END_TEST

START_TEST(add_allocation_failure_changes_nothing)
{
    struct apikeys k = {0};
    char key[APIKEY_TEXT_BYTES + 1];
    ck_assert_int_eq(apikeys_add(&k, API_ROLE_READER, NULL, "t", key), TR_OK);
    tr_alloc_fail_after(1);
    int rc = apikeys_add(&k, API_ROLE_READER, NULL, "t", key);
    tr_alloc_fail_reset();
    ck_assert_int_eq(rc, TR_ENOMEM);
    ck_assert_uint_eq(k.n, 1);
    apikeys_free(&k);
}
END_TEST

Suite *suite_apikeys(void)
{
    Suite *s = suite_create("apikeys");
    TCase *tc = tcase_create("store");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, create_save_load_verify);
    tcase_add_test(tc, verify_refuses_anything_else);
    tcase_add_test(tc, revoke_and_reload);
    tcase_add_test(tc, missing_and_damaged_files);
    tcase_add_test(tc, names_and_roles_bounded);
    tcase_add_test(tc, add_allocation_failure_changes_nothing);
    suite_add_tcase(s, tc);
    return s;
}
