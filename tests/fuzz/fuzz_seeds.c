/* fuzz_seeds.c — `fuzz-seeds DIR`: writes the generated seeds of the node fuzz targets into
 * DIR/<target>/ (wire-decode: every frame kind and signed ledger entries; noise-responder: whole
 * handshakes with the target's fixed keys, raw and guided; audit-export: small exports of
 * node/audit_gen.c). The bytes come from the product's own encoders, so regenerating them after a
 * format change keeps the committed corpus current. Not a test; run by hand (tests/fuzz/README.md).
 */
#include "tests/fuzz/fuzz.h"
#include "tests/fuzz/fuzz_noise.h"

#include "common/alloc.h"
#include "common/err.h"
#include "node/audit.h"
#include "node/batch.h"
#include "node/noise.h"
#include "node/wire.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const char *out_dir;

static void seed_write(const char *target, const char *name, const uint8_t *p, size_t len)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", out_dir, target);
    mkdir(path, 0755);
    snprintf(path, sizeof path, "%s/%s/%s", out_dir, target, name);
    FILE *f = fopen(path, "wb");
    fuzz_check(f != NULL);
    fuzz_check(fwrite(p, 1, len, f) == len && fclose(f) == 0);
}

/* A signed batch entry of `n_ops` creates, as an org's node makes it. */
static void entry_build(uint64_t seq, size_t n_ops, uint8_t **out, size_t *len)
{
    uint8_t pk[32], sk[64], seed[32], net[32];
    memset(seed, 7, sizeof seed);
    memset(net, 9, sizeof net);
    crypto_sign_seed_keypair(pk, sk, seed);
    struct batch_op ops[4];
    static const char body[] = "{\"id\":\"a1\",\"qty\":3}";
    for (size_t i = 0; i < n_ops; i++)
        ops[i] = (struct batch_op){BATCH_OP_CREATE, "Item", "a1", i, body, sizeof body - 1};
    struct batch_tx tx = {.ops = ops, .n_ops = n_ops, .idempotency_key = seq ? "k" : NULL};
    memset(tx.id, 'a', 32);
    fuzz_check(batch_build_entry(net, BATCH_SIG_V2, "org0", seq, sk, &tx, 1, out, len) == TR_OK);
}

static void seeds_wire(void)
{
    uint8_t *entry = NULL, *frame = NULL;
    size_t elen = 0, flen = 0;
    entry_build(1, 2, &entry, &elen);
    seed_write("wire-decode", "entry", entry, elen);
    fuzz_check(wire_encode_forward(entry, elen, &frame, &flen) == TR_OK);
    seed_write("wire-decode", "forward", frame, flen);
    tr_free(frame);
    struct raft_entry es[3] = {{5, 2, RAFT_ENTRY_NORMAL, entry, elen},
                               {6, 2, RAFT_ENTRY_NOOP, NULL, 0},
                               {7, 3, RAFT_ENTRY_CONFIG, (const uint8_t *)"\1\2\3", 3}};
    for (int t = RAFT_MSG_APPEND; t <= RAFT_MSG_TIMEOUT_NOW; t++) {
        struct raft_msg m = {.type = (enum raft_msg_type)t,
                             .from = 1,
                             .to = 2,
                             .term = 3,
                             .log_term = 2,
                             .index = 4,
                             .commit = 4,
                             .context = (uint64_t)t,
                             .hint_index = 1,
                             .hint_term = 1,
                             .reject = t % 2 == 0};
        if (t == RAFT_MSG_APPEND) {
            m.entries = es;
            m.n_entries = 3;
        }
        char name[32];
        snprintf(name, sizeof name, "raft-%d", t);
        fuzz_check(wire_encode_raft(&m, &frame, &flen) == TR_OK);
        seed_write("wire-decode", name, frame, flen);
        tr_free(frame);
    }
    fuzz_check(wire_encode_read_req(77, &frame, &flen) == TR_OK);
    seed_write("wire-decode", "read-req", frame, flen);
    tr_free(frame);
    fuzz_check(wire_encode_read_resp(77, 12, true, &frame, &flen) == TR_OK);
    seed_write("wire-decode", "read-resp", frame, flen);
    tr_free(frame);
    tr_free(entry);
}

/* Appends a chunk (2-byte big-endian length, bytes) to buf at *n. */
static void chunk_put(uint8_t *buf, size_t cap, size_t *n, const uint8_t *p, size_t len)
{
    fuzz_check(*n + 2 + len <= cap && len <= 0xffff);
    buf[(*n)++] = (uint8_t)(len >> 8);
    buf[(*n)++] = (uint8_t)len;
    if (len)
        memcpy(buf + *n, p, len);
    *n += len;
}

/* A whole handshake and two transport messages, as the target's raw mode reads them (the
 * target's keys: fuzz_noise_handshake). */
static void seeds_noise(void)
{
    static uint8_t buf[4096], m1[512], m2[512], m3[512], pl[64];
    size_t n = 0, l1, l2, l3, pn;
    struct noise_handshake *i = fuzz_noise_handshake(NOISE_ROLE_INITIATOR);
    struct noise_handshake *r = fuzz_noise_handshake(NOISE_ROLE_RESPONDER);
    static const uint8_t id[8] = {0, 0, 0, 0, 0, 0, 0, 7};
    fuzz_check(noise_handshake_write_message(i, NULL, 0, m1, sizeof m1, &l1) == TR_OK);
    fuzz_check(noise_handshake_read_message(r, m1, l1, pl, sizeof pl, &pn) == TR_OK);
    fuzz_check(noise_handshake_write_message(r, NULL, 0, m2, sizeof m2, &l2) == TR_OK);
    fuzz_check(noise_handshake_read_message(i, m2, l2, pl, sizeof pl, &pn) == TR_OK);
    fuzz_check(noise_handshake_write_message(i, id, sizeof id, m3, sizeof m3, &l3) == TR_OK);
    struct noise_transport *t = NULL;
    fuzz_check(noise_handshake_split(i, &t) == TR_OK);
    buf[n++] = 0; /* raw */
    chunk_put(buf, sizeof buf, &n, m1, l1);
    chunk_put(buf, sizeof buf, &n, m3, l3);
    seed_write("noise-responder", "raw-handshake", buf, n);
    for (int k = 0; k < 2; k++) {
        uint8_t c[64];
        size_t cl;
        fuzz_check(noise_transport_encrypt(t, id, sizeof id, c, sizeof c, &cl) == TR_OK);
        chunk_put(buf, sizeof buf, &n, c, cl);
    }
    seed_write("noise-responder", "raw-transport", buf, n);
    seed_write("noise-responder", "raw-msg1", buf, 3 + l1);
    noise_transport_destroy(t);
    noise_handshake_destroy(i);
    noise_handshake_destroy(r);
    /* Guided: no mask, then payloads; and one flipped bit in message 3. */
    n = 0;
    buf[n++] = 1;
    chunk_put(buf, sizeof buf, &n, NULL, 0);
    chunk_put(buf, sizeof buf, &n, NULL, 0);
    chunk_put(buf, sizeof buf, &n, (const uint8_t *)"hello", 5);
    chunk_put(buf, sizeof buf, &n, NULL, 0);
    seed_write("noise-responder", "guided-payloads", buf, n);
    n = 1;
    static const uint8_t flip[40] = {[39] = 0x80};
    chunk_put(buf, sizeof buf, &n, NULL, 0);
    chunk_put(buf, sizeof buf, &n, flip, sizeof flip);
    seed_write("noise-responder", "guided-flip", buf, n);
}

static void seeds_audit(void)
{
    static const struct audit_gen_options opts[] = {
        {2, 1, 1, 0, 0}, {2, 3, 2, 2, 0}, {3, 4, 1, 2, 1}, {1, 2, 3, 1, 0}};
    for (size_t k = 0; k < sizeof opts / sizeof opts[0]; k++) {
        char *p = NULL, err[256], name[32];
        size_t len = 0;
        FILE *f = open_memstream(&p, &len);
        fuzz_check(f != NULL);
        fuzz_check(audit_gen_export(&opts[k], f, err, sizeof err) == TR_OK);
        fuzz_check(fclose(f) == 0);
        snprintf(name, sizeof name, "gen-%zu", k);
        seed_write("audit-export", name, (const uint8_t *)p, len);
        free(p);
    }
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s DIR\n", argv[0]);
        return 2;
    }
    out_dir = argv[1];
    LLVMFuzzerInitialize(&argc, &argv);
    seeds_wire();
    seeds_noise();
    seeds_audit();
    return 0;
}
