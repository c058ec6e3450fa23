/* cli_node.c — `treaty node --dir DIR [--genesis FILE]`: runs the org's node in the foreground
 * until SIGTERM or SIGINT. Logs go to stderr as key=value lines. */
#include "cli.h"
#include "node/driver.h"
#include "node/failpoint.h"

#include <stdio.h>
#include <string.h>

static void node_help(FILE *out)
{
    fprintf(out,
            "usage: treaty node --dir DIR [--genesis FILE]\n\n"
            "Runs this org's node: its LMDB store, its Raft member, its links to the other\n"
            "members and its HTTP API, as configured in DIR/node.json (see treaty init).\n\n"
            "  --dir DIR        the directory made by 'treaty init'\n"
            "  --genesis FILE   the network's genesis file; needed on the first start only\n"
            "                   (the node keeps a copy in DIR/genesis.json and refuses another\n"
            "                   network's genesis later)\n\n"
            "Stops cleanly on SIGTERM or SIGINT. Exit codes: 0 stopped, 2 something to fix\n"
            "(config, key permissions, genesis, store of another network), 3 runtime failure.\n");
}

int cli_cmd_node(int argc, char **argv)
{
    if (cli_wants_help(argc, argv)) {
        node_help(stdout);
        return CLI_EXIT_OK;
    }
    struct driver_options o = {NULL, NULL};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if ((strcmp(a, "--dir") == 0 || strcmp(a, "--genesis") == 0) && i + 1 >= argc)
            return cli_usage_error("node", "%s needs a value", a);
        if (strcmp(a, "--dir") == 0)
            o.dir = argv[++i];
        else if (strcmp(a, "--genesis") == 0)
            o.genesis_path = argv[++i];
        else
            return cli_usage_error("node", "unknown option '%s'", a);
    }
    if (!o.dir)
        return cli_usage_error("node", "--dir is required");
    char err[1024];
    if (failpoint_arm_env(err, sizeof err) != 0) {
        cli_errorf("node: %s", err);
        return CLI_EXIT_USAGE;
    }
    int code = driver_run(&o, err, sizeof err);
    if (code != CLI_EXIT_OK)
        cli_errorf("node: %s", err[0] ? err : "failed");
    return code;
}
