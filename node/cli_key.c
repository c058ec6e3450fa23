/* cli_key.c — `treaty key rotate --dir DIR`: prepares the org's next Ed25519 key in
 * DIR/next-key/node.key (0600, never overwritten) and prints its public key. The rotation itself
 * is a ledger tx signed by the current key (POST /v1/members/rotate-key); the node switches to
 * the prepared key when that tx is applied, and every node verifies the org's batches with the
 * new key from the next block on. */
#include "cli.h"
#include "common/err.h"
#include "node/config.h"
#include "node/identity.h"

#include <stdio.h>
#include <string.h>

static void key_help(FILE *out)
{
    fprintf(
        out,
        "usage: treaty key rotate --dir DIR\n\n"
        "Creates this org's next key in DIR/next-key/node.key (mode 0600) and prints its\n"
        "public key. Then ask the running node to rotate, which it does with a tx signed by\n"
        "the current key:\n\n"
        "  curl -X POST http://API/v1/members/rotate-key -H 'Authorization: Bearer <admin key>'\n"
        "       -H 'Content-Type: application/json' -d '{\"public_key\":\"<hex>\"}'\n\n"
        "When the tx is applied the node moves the next key to DIR/node.key, signs with it\n"
        "and reopens its links; the other nodes accept only the new key from then on.\n");
}

int cli_cmd_key(int argc, char **argv)
{
    if (cli_wants_help(argc, argv)) {
        key_help(stdout);
        return CLI_EXIT_OK;
    }
    if (argc < 2 || strcmp(argv[1], "rotate") != 0)
        return cli_usage_error("key", "expected the subcommand 'rotate'");
    const char *dir = NULL;
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--dir") == 0 && i + 1 < argc)
            dir = argv[++i];
        else
            return cli_usage_error("key rotate", "unknown option or missing value '%s'", argv[i]);
    }
    if (!dir)
        return cli_usage_error("key rotate", "--dir is required");
    char err[1024], next[4200];
    struct node_config cfg;
    if (config_load(dir, &cfg, err, sizeof err) != TR_OK) {
        cli_errorf("%s", err);
        return CLI_EXIT_USAGE;
    }
    int n = snprintf(next, sizeof next, "%s/next-key", dir);
    if (n < 0 || (size_t)n >= sizeof next)
        return cli_usage_error("key rotate", "--dir is too long");
    struct identity id;
    if (identity_create(next, cfg.org, &id, err, sizeof err) != TR_OK) {
        cli_errorf("%s", err);
        return CLI_EXIT_USAGE;
    }
    char hex[65];
    tr_hex_encode(id.pk, sizeof id.pk, hex);
    identity_wipe(&id);
    printf("org=%s\npublic_key=%s\nnext_key=%s/node.key\n", cfg.org, hex, next);
    return CLI_EXIT_OK;
}
