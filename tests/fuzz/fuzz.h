/* fuzz.h — the libFuzzer entry points every target in tests/fuzz/ defines. The same two functions
 * are driven by libFuzzer in a fuzz build and by fuzz_main.c (corpus replay) in every other build,
 * so a target must behave the same under both: no global state besides what Initialize builds. */
#ifndef TREATY_TESTS_FUZZ_FUZZ_H
#define TREATY_TESTS_FUZZ_FUZZ_H

#include "schema/schema.h"

#include <stddef.h>
#include <stdint.h>

/* Called once before any input; may be a no-op. Returns 0. */
int LLVMFuzzerInitialize(int *argc, char ***argv);
/* Runs one input. Returns 0; a broken invariant aborts (fuzz_check). */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Aborts with the failed invariant on stderr: a finding for libFuzzer, a crash for the replay. */
#define fuzz_check(cond)                                                                           \
    do {                                                                                           \
        if (!(cond))                                                                               \
            fuzz__fail(#cond, __FILE__, __LINE__);                                                 \
    } while (0)

_Noreturn void fuzz__fail(const char *expr, const char *file, int line);

/* Checks the contract of one finished validation: a documented return code; TR_OK with no
 * violations; TR_EINVALID with at least one; every violation's paths are RFC 6901 pointers;
 * the error list converts to JSON; and the verdict without an error list (the fast path) agrees
 * (valid or not; TR_EINVALID and TR_ELIMIT may differ between the paths, see fuzz_util.c). */
void fuzz_check_validation(const struct schema *s, const struct schema_node *node,
                           const json_t *instance, int rc, const struct schema_errors *errs);

#endif
