/* forge.c — treaty-forge: builds ledger entries a hostile member could propose, for the
 * multi-process tests (test_forged.py): a batch claiming an org but signed with another key, or
 * signed by the org's real key with a sequence number of the test's choosing (a replay when it
 * is not above the org's last). Prints `entry=<base64 of the encoded Entry>` and `tx=<id>`. */
#include "common/alloc.h"
#include "common/err.h"
#include "node/batch.h"
#include "node/genesis.h"
#include "node/identity.h"

#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int usage(const char *why)
{
    fprintf(stderr,
            "treaty-forge: %s\nusage: treaty-forge --genesis FILE --org ORG (--key FILE | "
            "--random-key) --seq N --create JSON [--type T] [--key-field F]\n",
            why);
    return 2;
}

static int load_seed(const char *path, uint8_t seed[32])
{
    char line[256] = "";
    FILE *f = fopen(path, "r");
    if (!f || !fgets(line, sizeof line, f)) {
        if (f)
            fclose(f);
        return TR_EIO;
    }
    fclose(f);
    line[strcspn(line, "\r\n")] = '\0';
    return hex_decode(line, seed, 32);
}

int main(int argc, char **argv)
{
    const char *genesis = NULL, *org = NULL, *key = NULL, *create = NULL;
    const char *type = "Shipment", *key_field = "shipmentId";
    int random_key = 0;
    unsigned long long seq = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--random-key") == 0) {
            random_key = 1;
            continue;
        }
        if (!v)
            return usage("an option lacks its value");
        i++;
        if (strcmp(a, "--genesis") == 0)
            genesis = v;
        else if (strcmp(a, "--org") == 0)
            org = v;
        else if (strcmp(a, "--key") == 0)
            key = v;
        else if (strcmp(a, "--seq") == 0)
            seq = strtoull(v, NULL, 10);
        else if (strcmp(a, "--create") == 0)
            create = v;
        else if (strcmp(a, "--type") == 0)
            type = v;
        else if (strcmp(a, "--key-field") == 0)
            key_field = v;
        else
            return usage("unknown option");
    }
    if (!genesis || !org || !create || !seq || (!key && !random_key))
        return usage("missing option");
    if (sodium_init() < 0)
        return 3;
    char err[512];
    struct genesis *g = NULL;
    if (genesis_load_file(genesis, &g, err, sizeof err) != TR_OK)
        return usage(err);
    uint8_t seed[32], pk[32], sk[64];
    if (random_key)
        randombytes_buf(seed, sizeof seed);
    else if (load_seed(key, seed) != TR_OK)
        return usage("cannot read the key file");
    crypto_sign_seed_keypair(pk, sk, seed);
    json_t *body = json_loads(create, 0, NULL);
    const char *k = body ? json_string_value(json_object_get(body, key_field)) : NULL;
    if (!k)
        return usage("--create must be a JSON object with the key field");
    struct batch_op op = {BATCH_OP_CREATE, type, k, 0, create, strlen(create)};
    struct batch_tx tx;
    memset(&tx, 0, sizeof tx);
    uint8_t raw[16];
    randombytes_buf(raw, sizeof raw);
    tr_hex_encode(raw, sizeof raw, tx.id);
    tx.ops = &op;
    tx.n_ops = 1;
    uint8_t *entry = NULL;
    size_t len = 0;
    if (batch_build_entry(g->network_id, org, (uint64_t)seq, sk, &tx, 1, &entry, &len) != TR_OK)
        return usage("cannot build the entry");
    size_t b64len = sodium_base64_ENCODED_LEN(len, sodium_base64_VARIANT_ORIGINAL);
    char *b64 = malloc(b64len);
    sodium_bin2base64(b64, b64len, entry, len, sodium_base64_VARIANT_ORIGINAL);
    printf("entry=%s\ntx=%s\n", b64, tx.id);
    free(b64);
    tr_free(entry);
    json_decref(body);
    genesis_destroy(g);
    sodium_memzero(sk, sizeof sk);
    return 0;
}
