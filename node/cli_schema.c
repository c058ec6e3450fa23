/* cli_schema.c — `treaty schema check|validate|diff`. */
#include "cli.h"

int cli_cmd_schema(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    return cli_usage_error("schema", "expects a subcommand: check, validate or diff");
}
