/* forge.c — treaty-forge: builds ledger entries a hostile member could propose, for the
 * multi-process tests (test_forged.py): a batch claiming an org but signed with another key, or
 * signed by the org's real key with a sequence number of the test's choosing (a replay when it
 * is not above the org's last). Prints `entry=<base64 of the encoded Entry>` and `tx=<id>`.
 * With --sign-checkpoint HEX (an encoded Checkpoint) it prints `signature=<hex>` instead: the
 * org's cosignature of it, as a forger holding that org's key makes one (test_audit.py). */
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
            "--random-key) (--seq N --create JSON [--type T] [--key-field F] | --sign-checkpoint "
            "HEX)\n",
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

/* "treaty/checkpoint/v1\0" || network id || checkpoint bytes, signed (docs/audit.md). */
static int sign_checkpoint(struct genesis *g, const uint8_t sk[64], const char *hex)
{
    static const char domain[] = "treaty/checkpoint/v1";
    size_t n = strlen(hex) / 2, dl = sizeof domain;
    uint8_t *msg = malloc(dl + 32 + n + 1), sig[64];
    if (!msg || strlen(hex) % 2 || hex_decode(hex, msg + dl + 32, n) != TR_OK) {
        free(msg);
        genesis_destroy(g);
        return usage("--sign-checkpoint needs the checkpoint's bytes in hex");
    }
    memcpy(msg, domain, dl);
    memcpy(msg + dl, g->network_id, 32);
    crypto_sign_detached(sig, NULL, msg, dl + 32 + n, sk);
    char out[129];
    tr_hex_encode(sig, sizeof sig, out);
    printf("signature=%s\n", out);
    free(msg);
    genesis_destroy(g);
    return 0;
}

int main(int argc, char **argv)
{
    const char *genesis = NULL, *org = NULL, *key = NULL, *create = NULL;
    const char *type = "Shipment", *key_field = "shipmentId", *checkpoint = NULL;
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
        else if (strcmp(a, "--sign-checkpoint") == 0)
            checkpoint = v;
        else
            return usage("unknown option");
    }
    if (!genesis || !org || (!checkpoint && (!create || !seq)) || (!key && !random_key))
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
    if (checkpoint)
        return sign_checkpoint(g, sk, checkpoint);
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
    if (batch_build_entry(g->network_id, genesis_batch_sig(g), org, (uint64_t)seq, sk, &tx, 1,
                          &entry, &len) != TR_OK)
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
