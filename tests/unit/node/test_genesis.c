/* test_genesis.c — genesis.json: a valid document parses into the struct with derived node ids;
 * the network id is SHA-256 of the canonical bytes and does not depend on whitespace or key order;
 * every rejection (table-driven mutations of a valid document) names its field; bounds at their
 * edges; node ids against independently computed values; allocation failures leak nothing. */
#include "node/genesis.h"

#include "common/alloc.h"
#include "common/err.h"
#include "node/identity.h"

#include <check.h>
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

Suite *suite_genesis(void);

#define SCHEMA_FILE TREATY_SOURCE_DIR "/examples/supply-chain.json"

/* Member i's public key: a real Ed25519 key from a seed derived from i. */
static void member_key(size_t i, char hex[65])
{
    uint8_t seed[32] = {0}, pk[32], sk[64];
    seed[0] = (uint8_t)i;
    seed[1] = (uint8_t)(i >> 8);
    seed[31] = 0x42;
    crypto_sign_seed_keypair(pk, sk, seed);
    tr_hex_encode(pk, 32, hex);
}

/* A valid genesis document with n members org0.. (or acme/globex for n == 2). */
static json_t *doc_make(size_t n)
{
    json_error_t je;
    json_t *schema = json_load_file(SCHEMA_FILE, 0, &je);
    ck_assert_msg(schema != NULL, "%s: %s", SCHEMA_FILE, je.text);
    json_t *members = json_array();
    for (size_t i = 0; i < n; i++) {
        char org[32], key[65], peer[32];
        if (n == 2)
            snprintf(org, sizeof org, "%s", i == 0 ? "acme" : "globex");
        else
            snprintf(org, sizeof org, "org%zu", i);
        member_key(i, key);
        snprintf(peer, sizeof peer, "127.0.0.1:%zu", 7401 + i);
        json_array_append_new(
            members, json_pack("{s:s, s:s, s:s}", "org", org, "public_key", key, "peer", peer));
    }
    return json_pack("{s:i, s:s, s:o, s:o, s:{s:i, s:i, s:i}, s:{s:i, s:i}}", "treaty_genesis",
                     GENESIS_VERSION, "name", "it", "schema", schema, "members", members, "timing",
                     "tick_ms", 10, "heartbeat_ms", 100, "election_ms", 1000, "checkpoint",
                     "every_blocks", 64, "every_ms", 5000);
}

static int parse_doc(json_t *doc, size_t flags, struct genesis **g, char *err, size_t errlen)
{
    char *text = json_dumps(doc, flags);
    ck_assert_ptr_nonnull(text);
    *g = NULL;
    int rc = genesis_parse(text, strlen(text), g, err, errlen);
    free(text);
    return rc;
}

/* Sets (value != NULL, reference stolen) or deletes the dotted path ("members.1.org"). */
static void doc_set(json_t *root, const char *path, json_t *value)
{
    char buf[128];
    snprintf(buf, sizeof buf, "%s", path);
    json_t *cur = root;
    char *save = NULL, *tok = strtok_r(buf, ".", &save);
    for (;;) {
        char *next = strtok_r(NULL, ".", &save);
        if (!next) {
            if (json_is_array(cur)) {
                size_t idx = (size_t)atoi(tok);
                ck_assert(value != NULL);
                json_array_set_new(cur, idx, value);
            } else if (value) {
                json_object_set_new(cur, tok, value);
            } else {
                json_object_del(cur, tok);
            }
            return;
        }
        cur =
            json_is_array(cur) ? json_array_get(cur, (size_t)atoi(tok)) : json_object_get(cur, tok);
        ck_assert_msg(cur != NULL, "path %s", path);
        tok = next;
    }
}

START_TEST(test_parse_valid)
{
    json_t *doc = doc_make(2);
    struct genesis *g;
    char err[1024], key0[65];
    ck_assert_msg(parse_doc(doc, JSON_INDENT(2), &g, err, sizeof err) == TR_OK, "%s", err);
    ck_assert_str_eq(g->name, "it");
    ck_assert_uint_eq(g->version, 2);
    ck_assert_int_eq(genesis_batch_sig(g), BATCH_SIG_V2);
    ck_assert_uint_eq(g->n_members, 2);
    ck_assert_str_eq(g->members[0].org, "acme");
    ck_assert_str_eq(g->members[1].org, "globex");
    member_key(0, key0);
    char hex[65];
    tr_hex_encode(g->members[0].public_key, 32, hex);
    ck_assert_str_eq(hex, key0);
    ck_assert_str_eq(g->members[1].peer_host, "127.0.0.1");
    ck_assert_uint_eq(g->members[1].peer_port, 7402);
    ck_assert_uint_eq(g->members[0].node_id, UINT64_C(0x03fdb56a7f0acc08));
    ck_assert_uint_eq(g->members[1].node_id, UINT64_C(0x3982f13db603c973));
    ck_assert_uint_eq(g->tick_ms, 10);
    ck_assert_uint_eq(g->heartbeat_ms, 100);
    ck_assert_uint_eq(g->election_ms, 1000);
    ck_assert_uint_eq(g->checkpoint_blocks, 64);
    ck_assert_uint_eq(g->checkpoint_ms, 5000);
    ck_assert(json_equal(g->schema_doc, json_object_get(doc, "schema")));
    /* canonical bytes and the id derived from them */
    char *canon = json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS);
    ck_assert_uint_eq(g->canonical_len, strlen(canon));
    ck_assert_str_eq(g->canonical, canon);
    ck_assert_int_eq(g->canonical[g->canonical_len], '\0');
    uint8_t id[32];
    crypto_hash_sha256(id, (const unsigned char *)canon, strlen(canon));
    ck_assert_mem_eq(g->network_id, id, 32);
    free(canon);
    ck_assert_ptr_eq(genesis_member_find(g, "globex"), &g->members[1]);
    ck_assert_ptr_null(genesis_member_find(g, "initech"));
    ck_assert_ptr_null(genesis_member_find(g, NULL));
    genesis_destroy(g);
    json_decref(doc);
    genesis_destroy(NULL);
}
END_TEST

START_TEST(test_id_independent_of_formatting)
{
    json_t *doc = doc_make(2);
    struct genesis *a, *b, *c;
    char err[1024];
    ck_assert_int_eq(parse_doc(doc, JSON_INDENT(4), &a, err, sizeof err), TR_OK);
    ck_assert_int_eq(parse_doc(doc, JSON_COMPACT | JSON_SORT_KEYS, &b, err, sizeof err), TR_OK);
    ck_assert_mem_eq(a->network_id, b->network_id, 32);
    /* top-level keys inserted in the reverse order */
    json_t *rev = json_object();
    const char *keys[] = {"checkpoint", "timing", "members", "schema", "name", "treaty_genesis"};
    for (size_t i = 0; i < 6; i++)
        json_object_set(rev, keys[i], json_object_get(doc, keys[i]));
    ck_assert_int_eq(parse_doc(rev, JSON_INDENT(1), &c, err, sizeof err), TR_OK);
    ck_assert_mem_eq(a->network_id, c->network_id, 32);
    genesis_destroy(c);
    /* any change of content changes the id */
    json_object_set_new(json_object_get(doc, "timing"), "election_ms", json_integer(1010));
    ck_assert_int_eq(parse_doc(doc, JSON_INDENT(2), &c, err, sizeof err), TR_OK);
    ck_assert_int_ne(memcmp(a->network_id, c->network_id, 32), 0);
    genesis_destroy(c);
    json_object_set_new(doc, "name", json_string("it2"));
    json_object_set_new(json_object_get(doc, "timing"), "election_ms", json_integer(1000));
    ck_assert_int_eq(parse_doc(doc, JSON_INDENT(2), &c, err, sizeof err), TR_OK);
    ck_assert_int_ne(memcmp(a->network_id, c->network_id, 32), 0);
    genesis_destroy(c);
    genesis_destroy(a);
    genesis_destroy(b);
    json_decref(rev);
    json_decref(doc);
}
END_TEST

struct reject_case {
    const char *path;
    const char *value; /* JSON text; NULL deletes the key */
    int rc;
    const char *needle;
};

static const struct reject_case rejects[] = {
    {"bogus", "1", TR_EINVAL, "unknown key 'bogus'"},
    {"treaty_genesis", "3", TR_EINVAL,
     "treaty_genesis: unsupported format version (this build reads 1 and 2)"},
    {"treaty_genesis", "0", TR_EINVAL, "treaty_genesis: unsupported format version"},
    {"treaty_genesis", "\"1\"", TR_EINVAL, "treaty_genesis"},
    {"treaty_genesis", NULL, TR_EINVAL, "treaty_genesis: missing"},
    {"name", "\"It\"", TR_EINVAL, "name: must be"},
    {"name", "\"\"", TR_EINVAL, "name: must be"},
    {"name", "\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"", TR_EINVAL,
     "name: must be"}, /* 64 */
    {"name", "7", TR_EINVAL, "name: must be"},
    {"name", NULL, TR_EINVAL, "name: missing"},
    {"schema", "[]", TR_EINVAL, "schema: must be an object"},
    {"schema", NULL, TR_EINVAL, "schema: missing"},
    {"schema.properties.Shipment.items.x-treaty-key", "\"nope\"", TR_ESCHEMA, "schema: "},
    {"schema.properties.Shipment.items.x-treaty-colour", "\"blue\"", TR_ESCHEMA, "x-treaty-colour"},
    {"members", "[]", TR_EINVAL, "members: must be an array of 1 to 32"},
    {"members", "{}", TR_EINVAL, "members: must be an array"},
    {"members", NULL, TR_EINVAL, "members: missing"},
    {"members.0", "\"acme\"", TR_EINVAL, "members[0]: must be an object"},
    {"members.0.bogus", "1", TR_EINVAL, "members[0]: unknown key 'bogus'"},
    {"members.0.org", NULL, TR_EINVAL, "members[0].org: missing"},
    {"members.0.org", "\"Acme\"", TR_EINVAL, "members[0].org: must be"},
    {"members.0.org", "1", TR_EINVAL, "members[0].org: must be"},
    {"members.1.org", "\"acme\"", TR_EINVAL, "members[1]: duplicate org"},
    {"members.0.public_key", NULL, TR_EINVAL, "members[0].public_key: missing"},
    {"members.0.public_key", "\"00\"", TR_EINVAL, "members[0].public_key: must be 64"},
    {"members.0.public_key", "\"D75A980182B10AB7D54BFED3C964073A0EE172F3DAA62325AF021A68F707511A\"",
     TR_EINVAL, "members[0].public_key: must be 64 lowercase"},
    {"members.0.public_key", "\"d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511\"",
     TR_EINVAL, "members[0].public_key: must be 64"},
    {"members.0.public_key",
     "\"d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511ax\"", TR_EINVAL,
     "members[0].public_key: must be 64"},
    {"members.0.public_key", "\"0100000000000000000000000000000000000000000000000000000000000000\"",
     TR_EINVAL, "not a valid Ed25519 public key"}, /* the identity point: small order */
    {"members.0.public_key", "[]", TR_EINVAL, "members[0].public_key"},
    {"members.0.peer", NULL, TR_EINVAL, "members[0].peer: missing"},
    {"members.0.peer", "\"127.0.0.1:0\"", TR_EINVAL, "members[0].peer: '127.0.0.1:0'"},
    {"members.0.peer", "\"127.0.0.1:65536\"", TR_EINVAL, "members[0].peer"},
    {"members.0.peer", "\"127.0.0.1\"", TR_EINVAL, "members[0].peer"},
    {"members.0.peer", "7401", TR_EINVAL, "members[0].peer: must be a string"},
    {"members.1.peer", "\"127.0.0.1:7401\"", TR_EINVAL, "members[1]: duplicate peer"},
    {"timing", NULL, TR_EINVAL, "timing: missing"},
    {"timing", "[]", TR_EINVAL, "timing: must be an object"},
    {"timing.bogus", "1", TR_EINVAL, "timing: unknown key 'bogus'"},
    {"timing.tick_ms", NULL, TR_EINVAL, "timing.tick_ms: missing"},
    {"timing.tick_ms", "0", TR_EINVAL, "timing.tick_ms: must be an integer from 1 to 1000"},
    {"timing.tick_ms", "1001", TR_EINVAL, "timing.tick_ms"},
    {"timing.tick_ms", "-10", TR_EINVAL, "timing.tick_ms"},
    {"timing.tick_ms", "10.0", TR_EINVAL, "timing.tick_ms"},
    {"timing.tick_ms", "\"10\"", TR_EINVAL, "timing.tick_ms"},
    {"timing.tick_ms", "true", TR_EINVAL, "timing.tick_ms"},
    {"timing.heartbeat_ms", "105", TR_EINVAL, "timing.heartbeat_ms: must be a multiple"},
    {"timing.election_ms", "1005", TR_EINVAL, "timing.election_ms: must be a multiple"},
    {"timing.heartbeat_ms", "1000", TR_EINVAL, "timing.heartbeat_ms: must be less than"},
    {"timing.heartbeat_ms", "2000", TR_EINVAL, "timing.heartbeat_ms: must be less than"},
    {"timing.heartbeat_ms", "0", TR_EINVAL, "timing.heartbeat_ms"},
    {"timing.heartbeat_ms", "60010", TR_EINVAL, "timing.heartbeat_ms"},
    {"timing.election_ms", "600010", TR_EINVAL, "timing.election_ms"},
    {"checkpoint", NULL, TR_EINVAL, "checkpoint: missing"},
    {"checkpoint.bogus", "1", TR_EINVAL, "checkpoint: unknown key 'bogus'"},
    {"checkpoint.every_blocks", "0", TR_EINVAL, "checkpoint.every_blocks"},
    {"checkpoint.every_blocks", "1000001", TR_EINVAL, "checkpoint.every_blocks"},
    {"checkpoint.every_ms", "0", TR_EINVAL, "checkpoint.every_ms"},
    {"checkpoint.every_ms", "86400001", TR_EINVAL, "checkpoint.every_ms"},
    {"checkpoint.every_ms", "null", TR_EINVAL, "checkpoint.every_ms"},
};

START_TEST(test_rejections)
{
    const struct reject_case *c = &rejects[_i];
    json_t *doc = doc_make(2);
    json_t *v = NULL;
    if (c->value) {
        json_error_t je;
        v = json_loads(c->value, JSON_DECODE_ANY, &je);
        ck_assert_msg(v != NULL, "%s", c->value);
    }
    doc_set(doc, c->path, v);
    struct genesis *g = (struct genesis *)1;
    char err[1024];
    int rc = parse_doc(doc, JSON_INDENT(2), &g, err, sizeof err);
    ck_assert_msg(rc == c->rc, "%s=%s: rc %d (%s)", c->path, c->value ? c->value : "(deleted)", rc,
                  rc ? err : "accepted");
    ck_assert_ptr_null(g); /* parse_doc cleared it; genesis_parse left it alone */
    ck_assert_msg(strstr(err, c->needle) != NULL, "%s: want '%s' in '%s'", c->path, c->needle, err);
    ck_assert_msg(strncmp(err, "genesis: ", 9) == 0, "%s", err);
    ck_assert_ptr_null(strchr(err, '\n'));
    json_decref(doc);
}
END_TEST

START_TEST(test_duplicate_key)
{
    json_t *doc = doc_make(2);
    char key0[65], err[1024];
    member_key(0, key0);
    doc_set(doc, "members.1.public_key", json_string(key0));
    struct genesis *g;
    ck_assert_int_eq(parse_doc(doc, 0, &g, err, sizeof err), TR_EINVAL);
    ck_assert_ptr_nonnull(strstr(err, "members[1]: duplicate public_key"));
    ck_assert_ptr_nonnull(strstr(err, "members[0]"));
    json_decref(doc);
}
END_TEST

START_TEST(test_edges_accepted)
{
    static const struct {
        const char *path;
        int value;
    } edges[][3] = {
        {{"timing.tick_ms", 1}, {"timing.heartbeat_ms", 1}, {"timing.election_ms", 2}},
        {{"timing.tick_ms", 1000}, {"timing.heartbeat_ms", 59000}, {"timing.election_ms", 600000}},
        {{"timing.heartbeat_ms", 60000}, {"timing.election_ms", 60010}, {NULL, 0}},
        {{"checkpoint.every_blocks", 1}, {"checkpoint.every_ms", 1}, {NULL, 0}},
        {{"checkpoint.every_blocks", 1000000}, {"checkpoint.every_ms", 86400000}, {NULL, 0}},
        {{"timing.heartbeat_ms", 990}, {NULL, 0}, {NULL, 0}},
    };
    for (size_t i = 0; i < sizeof edges / sizeof edges[0]; i++) {
        json_t *doc = doc_make(2);
        for (size_t j = 0; j < 3 && edges[i][j].path; j++)
            doc_set(doc, edges[i][j].path, json_integer(edges[i][j].value));
        struct genesis *g;
        char err[1024];
        ck_assert_msg(parse_doc(doc, 0, &g, err, sizeof err) == TR_OK, "case %zu: %s", i, err);
        genesis_destroy(g);
        json_decref(doc);
    }
    /* version 1, the first format, is still read: its batches are signed over their bytes */
    json_t *v1 = doc_make(2);
    doc_set(v1, "treaty_genesis", json_integer(1));
    struct genesis *g1;
    char err1[1024];
    ck_assert_msg(parse_doc(v1, 0, &g1, err1, sizeof err1) == TR_OK, "%s", err1);
    ck_assert_uint_eq(g1->version, 1);
    ck_assert_int_eq(genesis_batch_sig(g1), BATCH_SIG_V1);
    genesis_destroy(g1);
    json_decref(v1);
    /* a 63-character name is the longest */
    json_t *doc = doc_make(2);
    doc_set(doc, "name",
            json_string("a23456789012345678901234567890123456789012345678901234567890123"));
    struct genesis *g;
    char err[1024];
    ck_assert_msg(parse_doc(doc, 0, &g, err, sizeof err) == TR_OK, "%s", err);
    ck_assert_uint_eq(strlen(g->name), 63);
    genesis_destroy(g);
    json_decref(doc);
}
END_TEST

START_TEST(test_member_count_edges)
{
    struct genesis *g;
    char err[1024];
    json_t *doc = doc_make(1);
    ck_assert_msg(parse_doc(doc, 0, &g, err, sizeof err) == TR_OK, "%s", err);
    ck_assert_uint_eq(g->n_members, 1);
    genesis_destroy(g);
    json_decref(doc);
    doc = doc_make(GENESIS_MAX_MEMBERS);
    ck_assert_msg(parse_doc(doc, 0, &g, err, sizeof err) == TR_OK, "%s", err);
    ck_assert_uint_eq(g->n_members, GENESIS_MAX_MEMBERS);
    ck_assert_str_eq(g->members[31].org, "org31");
    ck_assert_uint_eq(g->members[31].node_id, genesis_node_id("org31"));
    genesis_destroy(g);
    json_decref(doc);
    doc = doc_make(GENESIS_MAX_MEMBERS + 1);
    ck_assert_int_eq(parse_doc(doc, 0, &g, err, sizeof err), TR_EINVAL);
    ck_assert_ptr_nonnull(strstr(err, "members: must be an array of 1 to 32"));
    json_decref(doc);
}
END_TEST

START_TEST(test_not_json)
{
    struct genesis *g = NULL;
    char err[1024];
    const char *dup = "{\"name\":\"a\",\"name\":\"b\"}";
    ck_assert_int_eq(genesis_parse("{", 1, &g, err, sizeof err), TR_EPARSE);
    ck_assert_int_eq(genesis_parse(dup, strlen(dup), &g, err, sizeof err), TR_EPARSE);
    ck_assert_int_eq(genesis_parse("[]", 2, &g, err, sizeof err), TR_EINVAL);
    ck_assert_ptr_nonnull(strstr(err, "must be an object"));
    ck_assert_int_eq(genesis_parse("", 0, &g, err, sizeof err), TR_EPARSE);
    ck_assert_ptr_null(g);
}
END_TEST

START_TEST(test_node_id)
{
    /* SHA-256("treaty/node-id/v1\0" || name), first 8 bytes big-endian, top bit cleared:
       computed independently with Python's hashlib. */
    ck_assert_uint_eq(genesis_node_id("acme"), UINT64_C(0x03fdb56a7f0acc08));
    ck_assert_uint_eq(genesis_node_id("globex"), UINT64_C(0x3982f13db603c973));
    for (int i = 0; i < 200; i++) {
        char org[16];
        snprintf(org, sizeof org, "o%d", i);
        uint64_t id = genesis_node_id(org);
        ck_assert_uint_ne(id, 0);
        ck_assert_uint_eq(id >> 63, 0);
    }
}
END_TEST

START_TEST(test_load_file)
{
    char dir[] = "/tmp/treaty-test-genesis-XXXXXX", path[96], err[1024];
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/genesis.json", dir);
    struct genesis *g = NULL, *h = NULL;
    ck_assert_int_eq(genesis_load_file(path, &g, err, sizeof err), TR_EIO);
    ck_assert_ptr_nonnull(strstr(err, path));
    json_t *doc = doc_make(2);
    ck_assert_int_eq(json_dump_file(doc, path, JSON_INDENT(2)), 0);
    ck_assert_msg(genesis_load_file(path, &g, err, sizeof err) == TR_OK, "%s", err);
    ck_assert_int_eq(parse_doc(doc, 0, &h, err, sizeof err), TR_OK);
    ck_assert_mem_eq(g->network_id, h->network_id, 32);
    genesis_destroy(g);
    genesis_destroy(h);
    json_object_set_new(doc, "extra", json_true());
    ck_assert_int_eq(json_dump_file(doc, path, JSON_INDENT(2)), 0);
    ck_assert_int_eq(genesis_load_file(path, &g, err, sizeof err), TR_EINVAL);
    char want[160];
    snprintf(want, sizeof want, "%s: unknown key 'extra'", path);
    ck_assert_str_eq(err, want);
    json_decref(doc);
    unlink(path);
    rmdir(dir);
}
END_TEST

START_TEST(test_alloc_failures)
{
    json_t *doc = doc_make(3);
    char *text = json_dumps(doc, 0);
    json_decref(doc);
    int failures = 0;
    for (long n = 1; n < 100000; n++) {
        struct genesis *g = NULL;
        char err[1024];
        tr_alloc_fail_after(n);
        int rc = genesis_parse(text, strlen(text), &g, err, sizeof err);
        int fired = tr_alloc_fail_fired();
        tr_alloc_fail_reset();
        if (!fired) {
            ck_assert_int_eq(rc, TR_OK);
            genesis_destroy(g);
            break;
        }
        ck_assert_msg(rc != TR_OK, "allocation %ld failed yet parse succeeded", n);
        ck_assert_ptr_null(g);
        failures++;
    }
    ck_assert_int_gt(failures, 2);
    free(text);
}
END_TEST

Suite *suite_genesis(void)
{
    Suite *s = suite_create("genesis");
    TCase *tc = tcase_create("genesis");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_parse_valid);
    tcase_add_test(tc, test_id_independent_of_formatting);
    tcase_add_loop_test(tc, test_rejections, 0, (int)(sizeof rejects / sizeof rejects[0]));
    tcase_add_test(tc, test_duplicate_key);
    tcase_add_test(tc, test_edges_accepted);
    tcase_add_test(tc, test_member_count_edges);
    tcase_add_test(tc, test_not_json);
    tcase_add_test(tc, test_node_id);
    tcase_add_test(tc, test_load_file);
    tcase_add_test(tc, test_alloc_failures);
    suite_add_tcase(s, tc);
    return s;
}
