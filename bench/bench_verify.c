/* bench_verify.c — treaty-bench-verify: speed of `treaty audit verify` (node/audit_verify.c) on a
 * synthetic export (node/audit_gen.c) of argv[1] txs (default 1,000,000) in blocks of argv[2] txs
 * (default 1000), 3 orgs, a checkpoint every 64 blocks. Prints txs/s and blocks/s of one
 * verification on one core, from memory (the file's I/O is not measured). Asserts nothing. */
#include "node/audit.h"

#include "common/err.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    unsigned long long txs = argc > 1 ? strtoull(argv[1], NULL, 10) : 1000000ull;
    unsigned long long per = argc > 2 ? strtoull(argv[2], NULL, 10) : 1000ull;
    if (txs == 0 || per == 0 || per > 4096) {
        fprintf(stderr, "usage: treaty-bench-verify [TXS] [TXS_PER_BLOCK (1..4096)]\n");
        return 2;
    }
    struct audit_gen_options o = {3, (txs + per - 1) / per, (size_t)per, 64, 0};
    char *buf = NULL, err[256] = "";
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f)
        return 3;
    double t0 = now_s();
    int rc = audit_gen_export(&o, f, err, sizeof err);
    fclose(f);
    if (rc != TR_OK) {
        fprintf(stderr, "treaty-bench-verify: %s %s\n", tr_strerror(rc), err);
        free(buf);
        return 3;
    }
    double t1 = now_s();
    struct audit_report rep;
    rc = audit_verify_buf((const uint8_t *)buf, len, &rep, err, sizeof err);
    double t2 = now_s();
    if (rc != TR_OK || !rep.ok) {
        fprintf(stderr, "treaty-bench-verify: the generated export does not verify: %s %s\n",
                rc != TR_OK ? err : rep.fail_what, rc != TR_OK ? "" : rep.fail_why);
        audit_report_free(&rep);
        free(buf);
        return 1;
    }
    double secs = t2 - t1;
    printf("export: %llu blocks x %llu txs = %llu txs, %zu bytes (generated in %.2f s)\n",
           (unsigned long long)rep.blocks, per, (unsigned long long)rep.txs, len, t1 - t0);
    printf("verify: %.3f s  %.0f txs/s  %.0f blocks/s  (%llu checkpoints)\n", secs,
           (double)rep.txs / secs, (double)rep.blocks / secs, (unsigned long long)rep.checkpoints);
    audit_report_free(&rep);
    free(buf);
    return 0;
}
