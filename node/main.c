/* main.c — entry point of the `treaty` binary: dispatches to a subcommand by its first word.
 * Every subcommand answers --help; an unknown command or option is one clear line and exit 2. */
#include "cli.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

struct cli_command {
    const char *name;
    cli_cmd_fn fn;
    const char *summary;
};

static const struct cli_command cli_commands[] = {
    {"apikey", cli_cmd_apikey, "create, list and revoke the API keys of this org's node"},
    {"audit", cli_cmd_audit, "export a node's ledger history and verify an export offline"},
    {"codegen", cli_cmd_codegen, "write the OpenAPI document or a C client for a schema"},
    {"connect", cli_cmd_connect, "run SaaS connectors (Salesforce, webhooks) next to a node"},
    {"demo", cli_cmd_demo, "run a three-org network on loopback and tour it (start here)"},
    {"failpoints", cli_cmd_failpoints, "list the crash points of a failpoint build (testing)"},
    {"init", cli_cmd_init, "create an organization's node directory, key and configuration"},
    {"key", cli_cmd_key, "prepare the next key of this organization (rotation)"},
    {"network", cli_cmd_network, "create a network's genesis file"},
    {"node", cli_cmd_node, "run this organization's node"},
    {"schema", cli_cmd_schema, "check, validate against, and diff schemas"},
    {"version", cli_cmd_version, "print treaty's version and the versions of its libraries"},
};

static void cli_print_help(FILE *out)
{
    fprintf(out, "usage: treaty <command> [options]\n\n"
                 "treaty keeps one shared, signed, verifiable copy of the records partner\n"
                 "organizations do business on.\n\ncommands:\n");
    for (size_t i = 0; i < sizeof cli_commands / sizeof cli_commands[0]; i++)
        fprintf(out, "  %-10s %s\n", cli_commands[i].name, cli_commands[i].summary);
    fprintf(out, "\nRun 'treaty <command> --help' for a command's options.\n"
                 "Exit codes: 0 success, 1 checked thing is false/invalid, 2 usage or unusable "
                 "input, 3 runtime failure.\n");
}

void cli_errorf(const char *fmt, ...)
{
    va_list ap;
    fputs("treaty: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

int cli_usage_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "treaty %s: ", cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, " (see 'treaty %s --help')\n", cmd);
    return CLI_EXIT_USAGE;
}

bool cli_wants_help(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0)
            return false;
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0)
            return true;
    }
    return false;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        cli_print_help(stderr);
        return CLI_EXIT_USAGE;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "-h") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "help") == 0) {
        cli_print_help(stdout);
        return CLI_EXIT_OK;
    }
    if (strcmp(cmd, "--version") == 0)
        return cli_cmd_version(1, argv + 1);
    if (cmd[0] == '-') {
        cli_errorf("unknown option '%s' (see 'treaty --help')", cmd);
        return CLI_EXIT_USAGE;
    }
    for (size_t i = 0; i < sizeof cli_commands / sizeof cli_commands[0]; i++) {
        if (strcmp(cmd, cli_commands[i].name) == 0)
            return cli_commands[i].fn(argc - 1, argv + 1);
    }
    cli_errorf("unknown command '%s' (see 'treaty --help')", cmd);
    return CLI_EXIT_USAGE;
}
