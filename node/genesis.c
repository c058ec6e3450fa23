/* genesis.c — strict parsing of genesis.json. Every member must derive the same network id from
 * the same file, so nothing is defaulted: every field is required and typed, unknown keys are
 * refused, and the id is SHA-256 of the canonical (compact, sorted-key) encoding of the document.
 * Called by the node at start and by `treaty network create` to check what it writes. */
#include "node/genesis.h"

#include "common/alloc.h"
#include "common/err.h"
#include "node/config.h"
#include "node/identity.h"
#include "schema/schema.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct genesis__ctx {
    const char *what; /* "genesis" or the file path: prefixes every message */
    char *err;
    size_t errlen;
};

uint64_t genesis_node_id(const char *org)
{
    static const char domain[] = "treaty/node-id/v1"; /* hashed with its NUL */
    uint8_t h[crypto_hash_sha256_BYTES];
    crypto_hash_sha256_state st;
    crypto_hash_sha256_init(&st);
    crypto_hash_sha256_update(&st, (const unsigned char *)domain, sizeof domain);
    crypto_hash_sha256_update(&st, (const unsigned char *)org, strlen(org));
    crypto_hash_sha256_final(&st, h);
    uint64_t id = 0;
    for (int i = 0; i < 8; i++)
        id = id << 8 | h[i];
    id &= ~(UINT64_C(1) << 63);
    return id ? id : 1;
}

const struct genesis_member *genesis_member_find(const struct genesis *g, const char *org)
{
    for (size_t i = 0; g && org && i < g->n_members; i++)
        if (strcmp(g->members[i].org, org) == 0)
            return &g->members[i];
    return NULL;
}

enum batch_sig genesis_batch_sig(const struct genesis *g)
{
    return g->version == 1 ? BATCH_SIG_V1 : BATCH_SIG_V2;
}

void genesis_destroy(struct genesis *g)
{
    if (!g)
        return;
    json_decref(g->schema_doc);
    tr_free(g->members);
    tr_free(g->canonical);
    tr_free(g);
}

static int genesis__fail(struct genesis__ctx *x, int rc, const char *field, const char *why)
{
    snprintf(x->err, x->errlen, "%s: %s: %s", x->what, field, why);
    return rc;
}

/* Refuses keys of obj outside `known` (NULL-terminated) and requires all of them. */
static int genesis__keys(struct genesis__ctx *x, json_t *obj, const char *where,
                         const char *const *known)
{
    char field[128];
    const char *k;
    json_t *v;
    if (!json_is_object(obj))
        return genesis__fail(x, TR_EINVAL, where[0] ? where : "document", "must be an object");
    json_object_foreach(obj, k, v)
    {
        size_t i = 0;
        while (known[i] && strcmp(known[i], k) != 0)
            i++;
        if (!known[i]) {
            snprintf(x->err, x->errlen, "%s: %s%sunknown key '%s'", x->what, where,
                     where[0] ? ": " : "", k);
            return TR_EINVAL;
        }
    }
    for (size_t i = 0; known[i]; i++) {
        if (!json_object_get(obj, known[i])) {
            snprintf(field, sizeof field, "%s%s%s", where, where[0] ? "." : "", known[i]);
            return genesis__fail(x, TR_EINVAL, field, "missing (required)");
        }
    }
    return TR_OK;
}

static int genesis__u32(struct genesis__ctx *x, json_t *obj, const char *where, const char *key,
                        uint32_t min, uint32_t max, uint32_t *out)
{
    json_t *v = json_object_get(obj, key);
    if (!json_is_integer(v) || json_integer_value(v) < (json_int_t)min ||
        json_integer_value(v) > (json_int_t)max) {
        snprintf(x->err, x->errlen, "%s: %s.%s: must be an integer from %u to %u", x->what, where,
                 key, min, max);
        return TR_EINVAL;
    }
    *out = (uint32_t)json_integer_value(v);
    return TR_OK;
}

static int genesis__timing(struct genesis__ctx *x, json_t *root, struct genesis *g)
{
    static const char *const tkeys[] = {"tick_ms", "heartbeat_ms", "election_ms", NULL};
    static const char *const ckeys[] = {"every_blocks", "every_ms", NULL};
    json_t *t = json_object_get(root, "timing"), *c = json_object_get(root, "checkpoint");
    int rc = genesis__keys(x, t, "timing", tkeys);
    if (rc == TR_OK)
        rc = genesis__u32(x, t, "timing", "tick_ms", GENESIS_TICK_MS_MIN, GENESIS_TICK_MS_MAX,
                          &g->tick_ms);
    if (rc == TR_OK)
        rc = genesis__u32(x, t, "timing", "heartbeat_ms", 1, GENESIS_HEARTBEAT_MAX,
                          &g->heartbeat_ms);
    if (rc == TR_OK)
        rc = genesis__u32(x, t, "timing", "election_ms", 1, GENESIS_ELECTION_MAX, &g->election_ms);
    if (rc == TR_OK)
        rc = genesis__keys(x, c, "checkpoint", ckeys);
    if (rc == TR_OK)
        rc = genesis__u32(x, c, "checkpoint", "every_blocks", 1, GENESIS_CKPT_BLOCKS_MAX,
                          &g->checkpoint_blocks);
    if (rc == TR_OK)
        rc =
            genesis__u32(x, c, "checkpoint", "every_ms", 1, GENESIS_CKPT_MS_MAX, &g->checkpoint_ms);
    if (rc != TR_OK)
        return rc;
    if (g->heartbeat_ms % g->tick_ms != 0)
        return genesis__fail(x, TR_EINVAL, "timing.heartbeat_ms",
                             "must be a multiple of timing.tick_ms");
    if (g->election_ms % g->tick_ms != 0)
        return genesis__fail(x, TR_EINVAL, "timing.election_ms",
                             "must be a multiple of timing.tick_ms");
    if (g->heartbeat_ms >= g->election_ms)
        return genesis__fail(x, TR_EINVAL, "timing.heartbeat_ms",
                             "must be less than timing.election_ms");
    return TR_OK;
}

/* One member object: fields, name, key and address. */
static int genesis__member(struct genesis__ctx *x, json_t *m, const char *where,
                           struct genesis_member *out)
{
    static const char *const keys[] = {"org", "public_key", "peer", NULL};
    char field[96], why[320];
    int rc = genesis__keys(x, m, where, keys);
    if (rc != TR_OK)
        return rc;
    json_t *org = json_object_get(m, "org"), *pk = json_object_get(m, "public_key");
    json_t *peer = json_object_get(m, "peer");
    snprintf(field, sizeof field, "%s.org", where);
    if (!json_is_string(org) || !identity_name_valid(json_string_value(org)))
        return genesis__fail(x, TR_EINVAL, field, "must be a name matching ^[a-z][a-z0-9-]{0,62}$");
    snprintf(out->org, sizeof out->org, "%s", json_string_value(org));
    snprintf(field, sizeof field, "%s.public_key", where);
    if (!json_is_string(pk) || hex_decode(json_string_value(pk), out->public_key, 32) != TR_OK)
        return genesis__fail(x, TR_EINVAL, field,
                             "must be 64 lowercase hex digits (an Ed25519 public key)");
    if (!crypto_core_ed25519_is_valid_point(out->public_key))
        return genesis__fail(x, TR_EINVAL, field, "is not a valid Ed25519 public key");
    snprintf(field, sizeof field, "%s.peer", where);
    if (!json_is_string(peer))
        return genesis__fail(x, TR_EINVAL, field, "must be a string HOST:PORT");
    if (config_parse_hostport(json_string_value(peer), out->peer_host, sizeof out->peer_host,
                              &out->peer_port, why, sizeof why) != TR_OK)
        return genesis__fail(x, TR_EINVAL, field, why);
    out->node_id = genesis_node_id(out->org);
    return TR_OK;
}

/* Member i against the members before it: no org, key, address or node id twice. */
static int genesis__unique(struct genesis__ctx *x, const struct genesis *g, size_t i)
{
    const struct genesis_member *m = &g->members[i];
    for (size_t j = 0; j < i; j++) {
        const struct genesis_member *o = &g->members[j];
        const char *what = NULL;
        if (strcmp(o->org, m->org) == 0)
            what = "org";
        else if (memcmp(o->public_key, m->public_key, 32) == 0)
            what = "public_key";
        else if (strcmp(o->peer_host, m->peer_host) == 0 && o->peer_port == m->peer_port)
            what = "peer";
        else if (o->node_id == m->node_id)
            what = "node id (hash collision: rename one org)";
        if (what) {
            snprintf(x->err, x->errlen,
                     "%s: members[%zu]: duplicate %s: the same as members[%zu] "
                     "(org '%s')",
                     x->what, i, what, j, o->org);
            return TR_EINVAL;
        }
    }
    return TR_OK;
}

static int genesis__members(struct genesis__ctx *x, json_t *root, struct genesis *g)
{
    char where[32], why[64];
    json_t *arr = json_object_get(root, "members");
    size_t n = json_array_size(arr);
    if (!json_is_array(arr) || n == 0 || n > GENESIS_MAX_MEMBERS) {
        snprintf(why, sizeof why, "must be an array of 1 to %d members", GENESIS_MAX_MEMBERS);
        return genesis__fail(x, TR_EINVAL, "members", why);
    }
    g->members = tr_calloc(n, sizeof *g->members);
    if (!g->members)
        return genesis__fail(x, TR_ENOMEM, "members", "out of memory");
    for (size_t i = 0; i < n; i++) {
        snprintf(where, sizeof where, "members[%zu]", i);
        int rc = genesis__member(x, json_array_get(arr, i), where, &g->members[i]);
        g->n_members = i + 1;
        if (rc == TR_OK)
            rc = genesis__unique(x, g, i);
        if (rc != TR_OK)
            return rc;
    }
    return TR_OK;
}

static int genesis__header(struct genesis__ctx *x, json_t *root, struct genesis *g)
{
    static const char *const keys[] = {"treaty_genesis", "name",       "schema", "members",
                                       "timing",         "checkpoint", NULL};
    char why[512];
    int rc = genesis__keys(x, root, "", keys);
    if (rc != TR_OK)
        return rc;
    json_t *ver = json_object_get(root, "treaty_genesis"), *name = json_object_get(root, "name");
    _Static_assert(GENESIS_VERSION == GENESIS_VERSION_MIN + 1, "the message names both versions");
    if (!json_is_integer(ver) || json_integer_value(ver) < GENESIS_VERSION_MIN ||
        json_integer_value(ver) > GENESIS_VERSION)
        return genesis__fail(x, TR_EINVAL, "treaty_genesis",
                             "unsupported format version (this build reads 1 and 2)");
    g->version = (uint32_t)json_integer_value(ver);
    if (!json_is_string(name) || !identity_name_valid(json_string_value(name)))
        return genesis__fail(x, TR_EINVAL, "name",
                             "must be a name matching ^[a-z][a-z0-9-]{0,62}$");
    snprintf(g->name, sizeof g->name, "%s", json_string_value(name));
    json_t *schema = json_object_get(root, "schema");
    if (!json_is_object(schema))
        return genesis__fail(x, TR_EINVAL, "schema", "must be an object (a network schema)");
    struct schema_network *net = NULL;
    rc = schema_network_load(schema, NULL, &net, why, sizeof why);
    schema_network_destroy(net);
    if (rc != TR_OK)
        return genesis__fail(x, rc, "schema", why);
    g->schema_doc = json_incref(schema);
    return TR_OK;
}

static int genesis__canonical(struct genesis__ctx *x, json_t *root, struct genesis *g)
{
    char *text = json_dumps(root, JSON_COMPACT | JSON_SORT_KEYS);
    size_t len = text ? strlen(text) : 0;
    g->canonical = text ? tr_malloc(len + 1) : NULL;
    if (!g->canonical) {
        free(text);
        return genesis__fail(x, TR_ENOMEM, "genesis", "out of memory");
    }
    memcpy(g->canonical, text, len + 1);
    free(text);
    g->canonical_len = len;
    crypto_hash_sha256(g->network_id, (const unsigned char *)g->canonical, len);
    return TR_OK;
}

/* Takes a reference-owning root; always consumes it. */
static int genesis__build(struct genesis__ctx *x, json_t *root, struct genesis **out)
{
    struct genesis *g = tr_calloc(1, sizeof *g);
    int rc = g ? TR_OK : genesis__fail(x, TR_ENOMEM, "genesis", "out of memory");
    if (rc == TR_OK)
        rc = genesis__header(x, root, g);
    if (rc == TR_OK)
        rc = genesis__members(x, root, g);
    if (rc == TR_OK)
        rc = genesis__timing(x, root, g);
    if (rc == TR_OK)
        rc = genesis__canonical(x, root, g);
    json_decref(root);
    if (rc != TR_OK) {
        genesis_destroy(g);
        return rc;
    }
    *out = g;
    return TR_OK;
}

int genesis_parse(const char *buf, size_t len, struct genesis **out, char *err, size_t errlen)
{
    struct genesis__ctx x = {"genesis", err, errlen};
    json_t *root = NULL;
    int rc = schema_json_load_buffer(buf, len, "genesis", NULL, &root, err, errlen);
    if (rc != TR_OK)
        return rc;
    return genesis__build(&x, root, out);
}

int genesis_load_file(const char *path, struct genesis **out, char *err, size_t errlen)
{
    struct genesis__ctx x = {path, err, errlen};
    json_t *root = NULL;
    int rc = schema_json_load_file(path, NULL, &root, err, errlen);
    if (rc != TR_OK)
        return rc;
    return genesis__build(&x, root, out);
}
