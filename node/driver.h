/* driver.h — runs one treaty node until it is told to stop (SIGTERM/SIGINT) or fails. The
 * composition root's entry point; `treaty node` (cli_node.c) is its only caller. */
#ifndef TREATY_NODE_DRIVER_H
#define TREATY_NODE_DRIVER_H

#include <stddef.h>

struct driver_options {
    const char *dir;          /* the org's directory from `treaty init` */
    const char *genesis_path; /* NULL once DIR holds its copy of the genesis */
};

/* Runs the node. Returns the process exit code: 0 after a clean stop, 2 when the operator must
 * fix something (config, key permissions, genesis, a store of another network), 3 on runtime
 * failure; err receives one sentence saying what and where. A persist failure while running
 * exits the process with 3 at once (never retried). */
int driver_run(const struct driver_options *o, char *err, size_t errlen);

#endif
