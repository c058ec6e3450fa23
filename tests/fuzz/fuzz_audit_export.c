/* fuzz_audit_export.c — libFuzzer target `fuzz-audit-export`: arbitrary bytes as an audit export
 * (docs/audit.proto) given to the verifier (node/audit_verify.c), from a buffer and from a stream.
 * Invariants: a documented return code, with a reason when the input is no usable export; a
 * verdict that names what failed when it is negative; a report that converts to JSON; and the
 * buffer and stream readers agreeing on the code, the verdict and the counts. */
#include "tests/fuzz/fuzz.h"

#include "common/err.h"
#include "node/audit.h"

#include <stdio.h>
#include <string.h>

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    return 0;
}

static void check_report(int rc, const struct audit_report *rep, const char *err)
{
    fuzz_check(rc == TR_OK || rc == TR_EPARSE || rc == TR_EUNSUPPORTED || rc == TR_EIO ||
               rc == TR_ENOMEM);
    if (rc != TR_OK) {
        fuzz_check(err[0] != '\0');
        return;
    }
    if (!rep->ok)
        fuzz_check(rep->fail_what[0] != '\0' && rep->fail_why[0] != '\0');
    json_t *j = audit_report_json(rep);
    fuzz_check(json_is_object(j));
    json_decref(j);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct audit_report a, b;
    memset(&a, 0, sizeof a);
    memset(&b, 0, sizeof b);
    char ea[256] = "", eb[256] = "";
    int ra = audit_verify_buf(data, size, &a, ea, sizeof ea);
    check_report(ra, &a, ea);
    /* fmemopen needs a non-empty buffer; an empty input is a stream at EOF. */
    static const uint8_t none[1];
    FILE *f = fmemopen((void *)(size ? data : none), size ? size : 1, "rb");
    fuzz_check(f != NULL);
    if (size == 0)
        fgetc(f);
    int rb = audit_verify_file(f, &b, eb, sizeof eb);
    fclose(f);
    check_report(rb, &b, eb);
    fuzz_check(ra == rb);
    if (ra == TR_OK) {
        fuzz_check(a.ok == b.ok && a.blocks == b.blocks && a.txs == b.txs);
        fuzz_check(a.checkpoints == b.checkpoints && a.fail_height == b.fail_height);
        fuzz_check(strcmp(a.fail_what, b.fail_what) == 0);
    }
    audit_report_free(&a);
    audit_report_free(&b);
    return 0;
}
