/* codegen.h — code generators behind `treaty codegen` (cli_codegen.c): the C client
 * (codegen_c.c, codegen_c_runtime.c). */
#ifndef TREATY_NODE_CODEGEN_H
#define TREATY_NODE_CODEGEN_H

#include "schema/schema.h"

#include <stddef.h>

/* Writes DIR/treaty_client.h and DIR/treaty_client.c for network schema `n`. Returns an enum
 * cli_exit value; errors are reported on stderr. */
int codegen_c(const struct schema_network *n, const char *dir);

/* Writes `len` bytes of `text` to DIR/NAME; an enum cli_exit value (errors reported). */
int cli_write_file(const char *dir, const char *name, const char *text, size_t len);

#endif
