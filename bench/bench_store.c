/* bench_store.c — treaty-bench-store: persist throughput of node/store.c, one durable write
 * transaction per batch (as the driver does per Raft Ready: entries + hard state, then commit)
 * for batches of 1, 16 and 256 entries of 1 KiB. Prints entries/s and fsyncs/s (durable commits/s;
 * LMDB syncs data then meta inside each commit). Usage: treaty-bench-store [DIR [SECONDS]];
 * the store lives in a fresh mkdtemp directory under DIR (default /tmp), removed at the end. */
#include "node/store.h"

#include "common/err.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define ENTRY_BYTES 1024
#define BATCH_MAX   256

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Commits batches of `batch` entries for about `secs` seconds (at most 1M commits). */
static int bench_batch(struct store *s, size_t batch, double secs, uint64_t *next)
{
    static uint8_t data[BATCH_MAX][ENTRY_BYTES];
    struct raft_entry e[BATCH_MAX];
    long commits = 0;
    double t0 = now_s(), t = t0;
    while (t - t0 < secs && commits < 1000000) {
        for (size_t i = 0; i < batch; i++) {
            memset(data[i], (int)((*next + i) & 0xff), ENTRY_BYTES);
            e[i] = (struct raft_entry){*next + i, 1, RAFT_ENTRY_NORMAL, data[i], ENTRY_BYTES};
        }
        struct raft_hard_state hs = {1, 1, *next + batch - 1};
        int rc = store_write_begin(s);
        if (rc == TR_OK)
            rc = store_write_entries(s, e, batch);
        if (rc == TR_OK)
            rc = store_write_hard_state(s, &hs);
        if (rc == TR_OK)
            rc = store_write_commit(s);
        if (rc != TR_OK) {
            fprintf(stderr, "treaty-bench-store: %s\n", store_errmsg(s));
            store_write_abort(s);
            return rc;
        }
        *next += batch;
        commits++;
        t = now_s();
    }
    double el = t - t0;
    printf("batch %3zu x 1 KiB: %8ld commits in %6.3f s  %10.0f entries/s  %8.0f fsyncs/s\n", batch,
           commits, el, (double)commits * (double)batch / el, (double)commits / el);
    return TR_OK;
}

static void remove_store(const char *root, const char *dir)
{
    char p[4200];
    snprintf(p, sizeof(p), "%s/data.mdb", dir);
    unlink(p);
    snprintf(p, sizeof(p), "%s/lock.mdb", dir);
    unlink(p);
    rmdir(dir);
    rmdir(root);
}

int main(int argc, char **argv)
{
    const char *base = argc > 1 ? argv[1] : "/tmp";
    double secs = argc > 2 ? atof(argv[2]) : 2.0;
    char root[4096], dir[4110], err[512];
    uint8_t network_id[32] = {1};
    struct store *s = NULL;
    uint64_t next = 1;
    int rc = TR_OK;

    if (secs <= 0 ||
        snprintf(root, sizeof(root), "%s/treaty-bench-store-XXXXXX", base) >= (int)sizeof(root)) {
        fprintf(stderr, "usage: treaty-bench-store [DIR [SECONDS > 0]]\n");
        return EXIT_FAILURE;
    }
    if (mkdtemp(root) == NULL) {
        perror("treaty-bench-store: mkdtemp");
        return EXIT_FAILURE;
    }
    snprintf(dir, sizeof(dir), "%s/data", root);
    if ((rc = store_open(dir, NULL, network_id, &s, err, sizeof(err))) != TR_OK) {
        fprintf(stderr, "treaty-bench-store: %s\n", err);
        remove_store(root, dir);
        return EXIT_FAILURE;
    }
    printf("treaty-bench-store: LMDB in %s, %.1f s per batch size, fsync at every commit\n", root,
           secs);
    static const size_t batches[] = {1, 16, 256};
    for (size_t i = 0; i < sizeof(batches) / sizeof(batches[0]) && rc == TR_OK; i++)
        rc = bench_batch(s, batches[i], secs, &next);
    store_close(s);
    remove_store(root, dir);
    return rc == TR_OK ? EXIT_SUCCESS : EXIT_FAILURE;
}
