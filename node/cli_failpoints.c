/* cli_failpoints.c — `treaty failpoints`: lists the crash points compiled into this binary, one
 * "name<TAB>description" line each, so the crash-consistency test loops over exactly them. A
 * build without -DTREATY_FAILPOINTS=ON has none: exit 1 with a line saying so. */
#include "cli.h"
#include "node/failpoint.h"

#include <stdio.h>

int cli_cmd_failpoints(int argc, char **argv)
{
    if (cli_wants_help(argc, argv)) {
        printf("usage: treaty failpoints\n\n"
               "Lists the crash points of a build made with -DTREATY_FAILPOINTS=ON (testing\n"
               "only). 'TREATY_FAILPOINT=name[:count] treaty node ...' kills the node with\n"
               "SIGKILL the count-th time it reaches that point. Exit codes: 0 listed, 1 this\n"
               "build has no failpoints, 2 usage.\n");
        return CLI_EXIT_OK;
    }
    if (argc > 1)
        return cli_usage_error("failpoints", "unexpected argument '%s'", argv[1]);
    if (!failpoint_built()) {
        cli_errorf("failpoints: this build has none (build with -DTREATY_FAILPOINTS=ON)");
        return CLI_EXIT_FALSE;
    }
    for (size_t i = 0; i < FAILPOINT_COUNT; i++)
        printf("%s\t%s\n", failpoint_name(i), failpoint_about(i));
    return CLI_EXIT_OK;
}
