/* codegen_c_int.h — shared by the C client generator's files: the schema-independent runtime
 * text (codegen_c_runtime.c) and the per-type operation template (codegen_c_ops.c) that
 * codegen_c.c writes out. Each array ends with NULL. */
#ifndef TREATY_NODE_CODEGEN_C_INT_H
#define TREATY_NODE_CODEGEN_C_INT_H

extern const char *const codegen_c_runtime_h[];
extern const char *const codegen_c_runtime_c[];
/* Templates with @T@ (the type's C identifier) and @N@ (its name in URL paths). */
extern const char *const codegen_c_ops_h[];
extern const char *const codegen_c_ops_c[];

#endif
