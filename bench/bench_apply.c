/* bench_apply.c — treaty-bench-apply: throughput of ledger_apply for creates of 1 KB records in
 * batches of 1, 64 and 256 txs, one process, a real LMDB env in a temporary folder with an fsync
 * per block (one write txn per block, as the store does). Entries are built and signed before
 * the clock starts. argv[1] scales the number of txs per run (default 2048). Prints figures only.
 */
#include "common/alloc.h"
#include "common/err.h"
#include "node/batch.h"
#include "node/ledger.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char schema_text[] =
    "{\"type\":\"object\",\"properties\":{\"Doc\":{\"type\":\"array\",\"items\":{"
    "\"type\":\"object\",\"x-treaty-key\":\"id\",\"required\":[\"id\",\"data\"],"
    "\"properties\":{\"id\":{\"type\":\"string\"},\"data\":{\"type\":\"string\"}}}}}}";

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

struct bench {
    char dir[64];
    MDB_env *env;
    struct ledger *l;
    uint8_t net[32], pk[32], sk[64];
    uint64_t height, seq, next;
};

static int bench_open(struct bench *b, const struct schema_network *sn)
{
    char err[256];
    MDB_txn *txn;
    memset(b, 0, sizeof *b);
    snprintf(b->dir, sizeof b->dir, "/tmp/treaty-bench-apply-XXXXXX");
    if (!mkdtemp(b->dir))
        return TR_EIO;
    crypto_sign_keypair(b->pk, b->sk);
    memset(b->net, 1, sizeof b->net);
    struct ledger_member m = {"acme", {0}, 0, "127.0.0.1:7401"};
    memcpy(m.public_key, b->pk, 32);
    struct ledger_config cfg = {b->net, sn, &m, 1, 0, 0};
    if (mdb_env_create(&b->env) || mdb_env_set_maxdbs(b->env, 32) ||
        mdb_env_set_mapsize(b->env, (size_t)4 << 30) || mdb_env_open(b->env, b->dir, 0, 0600) ||
        mdb_txn_begin(b->env, NULL, 0, &txn))
        return TR_EIO;
    int rc = ledger_open(b->env, txn, &cfg, &b->l, err, sizeof err);
    if (rc != TR_OK) {
        fprintf(stderr, "bench: %s\n", err);
        mdb_txn_abort(txn);
        return rc;
    }
    return mdb_txn_commit(txn) ? TR_EIO : TR_OK;
}

static void bench_close(struct bench *b)
{
    char cmd[128];
    ledger_destroy(b->l);
    mdb_env_close(b->env);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", b->dir);
    if (system(cmd) != 0)
        fprintf(stderr, "bench: could not remove %s\n", b->dir);
}

/* Builds one entry of n creates of 1 KB records. */
static int bench_entry(struct bench *b, size_t n, uint8_t **out, size_t *len)
{
    struct batch_tx *txs = calloc(n, sizeof *txs);
    struct batch_op *ops = calloc(n, sizeof *ops);
    char(*keys)[32] = calloc(n, 32);
    char(*bodies)[1100] = calloc(n, 1100);
    int rc = TR_ENOMEM;
    if (txs && ops && keys && bodies) {
        for (size_t i = 0; i < n; i++) {
            uint64_t k = ++b->next;
            snprintf(keys[i], 32, "doc-%llu", (unsigned long long)k);
            int bl = snprintf(bodies[i], 1100, "{\"id\":\"%s\",\"data\":\"%0*llu\"}", keys[i], 1000,
                              (unsigned long long)k);
            ops[i] = (struct batch_op){BATCH_OP_CREATE, "Doc", keys[i], 0, bodies[i], (size_t)bl};
            snprintf(txs[i].id, sizeof txs[i].id, "%032llx", (unsigned long long)k);
            txs[i].ops = &ops[i];
            txs[i].n_ops = 1;
        }
        rc = batch_build_entry(b->net, "acme", ++b->seq, b->sk, txs, n, out, len);
    }
    free(txs);
    free(ops);
    free(keys);
    free(bodies);
    return rc;
}

static int bench_run(const struct schema_network *sn, size_t per_batch, size_t total)
{
    struct bench b;
    memset(&b, 0, sizeof b);
    size_t blocks = total / per_batch ? total / per_batch : 1;
    uint8_t **ents = calloc(blocks, sizeof *ents);
    size_t *lens = calloc(blocks, sizeof *lens);
    int rc = ents && lens ? bench_open(&b, sn) : TR_ENOMEM;
    for (size_t i = 0; rc == TR_OK && i < blocks; i++)
        rc = bench_entry(&b, per_batch, &ents[i], &lens[i]);
    double t0 = now_s();
    size_t committed = 0;
    for (size_t i = 0; rc == TR_OK && i < blocks; i++) {
        MDB_txn *txn;
        struct ledger_block_outcome out;
        struct raft_entry e = {++b.height, 1, RAFT_ENTRY_NORMAL, ents[i], lens[i]};
        if (mdb_txn_begin(b.env, NULL, 0, &txn)) {
            rc = TR_EIO;
            break;
        }
        rc = ledger_apply(b.l, txn, &e, &out);
        if (rc != TR_OK) {
            fprintf(stderr, "bench: %s\n", ledger_errmsg(b.l));
            mdb_txn_abort(txn);
            break;
        }
        for (size_t j = 0; j < out.n_txs; j++)
            committed += (size_t)out.txs[j].committed;
        if (mdb_txn_commit(txn)) /* fsync */
            rc = TR_EIO;
    }
    double secs = now_s() - t0;
    if (rc == TR_OK)
        printf("batch %4zu txs: %6zu txs (%zu committed) in %zu blocks, %7.3f s: %10.0f txs/s "
               "%8.0f blocks/s\n",
               per_batch, blocks * per_batch, committed, blocks, secs,
               (double)(blocks * per_batch) / secs, (double)blocks / secs);
    for (size_t i = 0; ents && i < blocks; i++)
        tr_free(ents[i]);
    free(ents);
    free(lens);
    if (b.env)
        bench_close(&b);
    return rc;
}

int main(int argc, char **argv)
{
    char err[256];
    size_t total = argc > 1 ? (size_t)strtoull(argv[1], NULL, 10) : 2048;
    json_t *doc = json_loads(schema_text, 0, NULL);
    struct schema_network *sn = NULL;
    if (sodium_init() < 0 || !doc || total == 0 ||
        schema_network_load(doc, NULL, &sn, err, sizeof err) != TR_OK) {
        fprintf(stderr, "treaty-bench-apply: setup failed (usage: treaty-bench-apply [txs])\n");
        return 1;
    }
    json_decref(doc);
    printf("ledger_apply, 1 KB record creates, LMDB with fsync per block, %zu txs per run\n",
           total);
    static const size_t sizes[] = {1, 64, 256};
    int rc = TR_OK;
    for (size_t i = 0; rc == TR_OK && i < 3; i++)
        rc = bench_run(sn, sizes[i], sizes[i] == 1 && total > 512 ? 512 : total);
    schema_network_destroy(sn);
    if (rc != TR_OK)
        fprintf(stderr, "treaty-bench-apply: %s\n", tr_strerror(rc));
    return rc == TR_OK ? 0 : 1;
}
