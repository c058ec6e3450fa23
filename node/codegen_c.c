/* codegen_c.c — placeholder replaced below. */
#include "codegen.h"
#include "cli.h"

int codegen_c(const struct schema_network *n, const char *dir)
{
    (void)n;
    (void)dir;
    return CLI_EXIT_RUNTIME;
}
