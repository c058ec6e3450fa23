/* cli_audit.c — `treaty audit verify FILE [--json]` (offline, node/audit_verify.c) and
 * `treaty audit export` (cli_audit_export.c). Exit codes: 0 the export holds, 1 it does not (the
 * first failing height, what and why on stdout), 2 unusable input, 3 runtime failure. */
#include "cli.h"
#include "common/err.h"
#include "node/audit.h"
#include "node/audit_proof.h"
#include "node/audit_store.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void audit_help(FILE *out)
{
    fprintf(out,
            "usage: treaty audit export --node URL --key KEY --out FILE [--from H] [--to H]\n"
            "       treaty audit verify (FILE | --store DIR) [--trust C] [--json]\n"
            "       treaty audit checkpoint (--node URL --key KEY | --export FILE [--height H])\n"
            "                               --out C\n"
            "       treaty audit prove --node URL --key KEY (--tx ID | --record TYPE/KEY\n"
            "                          [--version N]) --out PROOF [--since C]\n"
            "       treaty audit check-proof PROOF --checkpoint C\n\n"
            "export  streams a node's ledger history (blocks, batches, tx leaves, checkpoints\n"
            "        and cosignatures) into FILE in the format of docs/audit.proto; the file is\n"
            "        written atomically. KEY is an API key with the reader or admin role.\n"
            "verify  checks FILE offline, needing no node: the hash chain, every batch\n"
            "        signature with the member keys valid at its height (replaying governance\n"
            "        from the genesis), per-org sequence numbers, every Merkle root, and every\n"
            "        checkpoint's cosignatures (which orgs signed each); with --trust C, that\n"
            "        the export agrees with the trusted checkpoint file C at its height.\n"
            "        --store DIR verifies a stopped node's own store (DIR as given to\n"
            "        `treaty node`) the same way, exporting it from LMDB without a node.\n"
            "checkpoint  writes the node's latest checkpoint, its cosignatures and the member\n"
            "        keys to C, a file to keep and trust (docs/audit.md); with --export, the\n"
            "        checkpoint of a verified export, keys replayed from its genesis.\n"
            "prove   writes an RFC 9162 inclusion proof of tx ID against the latest cosigned\n"
            "        checkpoint (with --since C, also a consistency proof from C's tree);\n"
            "        --record: of the tx that wrote that record version (default the latest),\n"
            "        the tx itself included, so check-proof shows what it wrote.\n"
            "check-proof  checks PROOF offline against the trusted checkpoint file C.\n\n"
            "Exit codes: 0 everything holds; 1 it does not (the first failing height, what\n"
            "failed and why); 2 usage or unusable input; 3 runtime failure.\n");
}

static void audit_print(const struct audit_report *rep)
{
    size_t i;
    json_t *c;
    json_array_foreach(rep->checkpoint_list, i, c)
    {
        json_t *signers = json_object_get(c, "signers"), *s;
        size_t k;
        printf("checkpoint %lld: signed by",
               (long long)json_integer_value(json_object_get(c, "height")));
        if (json_array_size(signers) == 0)
            printf(" no org");
        json_array_foreach(signers, k, s) printf(" %s", json_string_value(s));
        json_t *by = json_object_get(c, "confirmed_by");
        if (json_is_true(json_object_get(c, "majority")))
            printf(" (majority)\n");
        else if (by)
            printf(" (not a majority; confirmed by checkpoint %lld)\n",
                   (long long)json_integer_value(by));
        else
            printf("\n");
    }
    printf("blocks %llu..%llu: %llu blocks, %llu txs, %llu refused batches, %llu checkpoints\n",
           (unsigned long long)rep->from, (unsigned long long)rep->to,
           (unsigned long long)rep->blocks, (unsigned long long)rep->txs,
           (unsigned long long)rep->refused_batches, (unsigned long long)rep->checkpoints);
    if (rep->ok && rep->confirmed_height < rep->to)
        printf("blocks %llu..%llu are not yet confirmed: no checkpoint above height %llu is "
               "cosigned by a majority of the members\n",
               (unsigned long long)rep->confirmed_height + 1, (unsigned long long)rep->to,
               (unsigned long long)rep->confirmed_height);
    else if (rep->ok)
        printf("confirmed: the last block is a checkpoint cosigned by a majority\n");
    if (rep->trust_checked)
        printf("trusted checkpoint at height %llu: consistent (the same block hash and tree of "
               "%llu leaves with the same root)\n",
               (unsigned long long)rep->trust_height, (unsigned long long)rep->trust_tree_size);
    if (rep->ok)
        printf("ok: the export holds\n");
    else
        printf("FAILED at height %llu: %s: %s\n", (unsigned long long)rep->fail_height,
               rep->fail_what, rep->fail_why);
}

/* The checkpoint file at `path` (audit_proof.h) as a trusted checkpoint. A cli exit code. */
static int load_trust(const char *path, struct audit_trust *t)
{
    json_error_t je;
    char err[320] = "";
    json_t *j = json_load_file(path, 0, &je);
    struct audit_cp *cp = j ? calloc(1, sizeof *cp) : NULL;
    int rc = cp ? audit_cp_from_json(j, 1, cp, err, sizeof err) : TR_EPARSE;
    if (rc == TR_OK) {
        memcpy(t->network_id, cp->network_id, 32);
        memcpy(t->root, cp->root, 32);
        memcpy(t->block_hash, cp->block_hash, 32);
        t->height = cp->height;
        t->tree_size = cp->tree_size;
    } else {
        cli_errorf("audit verify: --trust %s: %s", path, !j ? je.text : cp ? err : "out of memory");
    }
    free(cp);
    json_decref(j);
    return rc == TR_OK ? CLI_EXIT_OK : CLI_EXIT_USAGE;
}

static int audit_verify(int argc, char **argv)
{
    const char *path = NULL, *trust_path = NULL, *store_dir = NULL;
    int as_json = 0;
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0)
            as_json = 1;
        else if (strcmp(argv[i], "--store") == 0 && i + 1 < argc && !path && !store_dir)
            store_dir = argv[++i];
        else if (strcmp(argv[i], "--trust") == 0 && i + 1 < argc)
            trust_path = argv[++i];
        else if (argv[i][0] != '-' && !path && !store_dir)
            path = argv[i];
        else
            return cli_usage_error("audit verify", "unknown option or extra argument '%s'",
                                   argv[i]);
    }
    if (!path && !store_dir)
        return cli_usage_error("audit verify", "the export FILE (or --store DIR) is required");
    struct audit_trust trust;
    char err[512] = "";
    if (trust_path && load_trust(trust_path, &trust) != CLI_EXIT_OK)
        return CLI_EXIT_USAGE;
    struct audit_report rep;
    int rc, io = 0;
    if (store_dir) {
        path = store_dir;
        rc = audit_store_verify(store_dir, trust_path ? &trust : NULL, &rep, err, sizeof err);
        if (rc == TR_ECORRUPT) { /* damage found opening the store: that is the verdict */
            rep.ok = 0;
            snprintf(rep.fail_what, sizeof rep.fail_what, "store");
            snprintf(rep.fail_why, sizeof rep.fail_why, "%.300s", err);
            rc = TR_OK;
        }
    } else {
        FILE *f = fopen(path, "rb");
        if (!f) {
            cli_errorf("%s: %s", path, strerror(errno));
            return CLI_EXIT_USAGE;
        }
        rc = audit_verify_file_ex(f, trust_path ? &trust : NULL, NULL, &rep, err, sizeof err);
        io = ferror(f);
        fclose(f);
    }
    int code = CLI_EXIT_OK;
    if (rc == TR_ENOMEM || io) {
        cli_errorf("%s: %s", path, io ? "read error" : tr_strerror(rc));
        code = CLI_EXIT_RUNTIME;
    } else if (rc != TR_OK) {
        cli_errorf("%s: %s", path, err);
        code = CLI_EXIT_USAGE;
    } else {
        if (as_json) {
            json_t *o = audit_report_json(&rep);
            char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
            printf("%s\n", s ? s : "{}");
            free(s);
            json_decref(o);
        } else {
            audit_print(&rep);
        }
        code = rep.ok ? CLI_EXIT_OK : CLI_EXIT_FALSE;
    }
    audit_report_free(&rep);
    return code;
}

int cli_cmd_audit(int argc, char **argv)
{
    if (cli_wants_help(argc, argv)) {
        audit_help(stdout);
        return CLI_EXIT_OK;
    }
    if (argc >= 2 && strcmp(argv[1], "verify") == 0)
        return audit_verify(argc, argv);
    if (argc >= 2 && strcmp(argv[1], "export") == 0)
        return cli__audit_export(argc, argv);
    if (argc >= 2 && (strcmp(argv[1], "checkpoint") == 0 || strcmp(argv[1], "prove") == 0 ||
                      strcmp(argv[1], "check-proof") == 0))
        return cli__audit_proof(argc, argv);
    return cli_usage_error("audit", "expected the subcommand 'export', 'verify', 'checkpoint', "
                                    "'prove' or 'check-proof'");
}
