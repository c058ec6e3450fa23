/* cli.h — the `treaty` command line: the subcommand table and the helpers every subcommand
 * shares. Exit codes (DESIGN §4): 0 success, 1 the thing checked is false or invalid, 2 usage or
 * unusable input, 3 runtime failure. Errors are one line on stderr, naming the file, field or
 * path. */
#ifndef TREATY_NODE_CLI_H
#define TREATY_NODE_CLI_H

#include <stdbool.h>

enum cli_exit {
    CLI_EXIT_OK = 0,
    CLI_EXIT_FALSE = 1,
    CLI_EXIT_USAGE = 2,
    CLI_EXIT_RUNTIME = 3,
};

/* A subcommand: argv[0] is its own name; returns an enum cli_exit value. */
typedef int (*cli_cmd_fn)(int argc, char **argv);

/* Prints "treaty: <message>" as one line on stderr. */
void cli_errorf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Reports a usage error for `cmd` ("treaty schema validate: …; see treaty schema validate --help")
 * and returns CLI_EXIT_USAGE. */
int cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* True when argv holds -h or --help before any "--". */
bool cli_wants_help(int argc, char **argv);

int cli_cmd_version(int argc, char **argv);
int cli_cmd_schema(int argc, char **argv);
int cli_cmd_init(int argc, char **argv);
int cli_cmd_network(int argc, char **argv);
int cli_cmd_node(int argc, char **argv);
int cli_cmd_key(int argc, char **argv);
int cli_cmd_apikey(int argc, char **argv);
int cli_cmd_codegen(int argc, char **argv);
int cli_cmd_demo(int argc, char **argv);
int cli_cmd_audit(int argc, char **argv);
int cli_cmd_connect(int argc, char **argv);
int cli_cmd_failpoints(int argc, char **argv);
/* `treaty audit export` (cli_audit_export.c), called by cli_cmd_audit. */
int cli__audit_export(int argc, char **argv);
/* `treaty audit checkpoint`, `prove` and `check-proof` (cli_audit_proof.c); argv[1] names it. */
int cli__audit_proof(int argc, char **argv);

#endif
