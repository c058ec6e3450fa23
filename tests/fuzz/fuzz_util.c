/* fuzz_util.c — invariants shared by the fuzz targets: the abort that reports a broken one, and
 * the contract of a finished schema validation (return codes, error list shape, fast path agreeing
 * with the collecting path). Linked into every libFuzzer target and every corpus replayer. */
#include "tests/fuzz/fuzz.h"

#include "common/err.h"
#include "schema/schema.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

_Noreturn void fuzz__fail(const char *expr, const char *file, int line)
{
    fprintf(stderr, "fuzz invariant failed: %s (%s:%d)\n", expr, file, line);
    fflush(stderr);
    abort();
}

static void check_pointer(const char *p)
{
    fuzz_check(p != NULL);
    fuzz_check(schema_format_check("json-pointer", p, strlen(p)) == 1);
}

void fuzz_check_validation(const struct schema *s, const struct schema_node *node,
                           const json_t *instance, int rc, const struct schema_errors *errs)
{
    fuzz_check(rc == TR_OK || rc == TR_EINVALID || rc == TR_ELIMIT || rc == TR_ENOMEM);
    if (rc == TR_OK)
        fuzz_check(errs->len == 0 && !errs->truncated);
    if (rc == TR_EINVALID || rc == TR_ELIMIT)
        fuzz_check(errs->len > 0);
    fuzz_check(errs->len <= errs->max);
    for (size_t i = 0; i < errs->len; i++) {
        check_pointer(errs->v[i].instance_path);
        check_pointer(errs->v[i].schema_path);
        fuzz_check(errs->v[i].message != NULL && errs->v[i].message[0] != '\0');
    }
    json_t *arr = schema_errors_to_json(errs);
    fuzz_check(arr != NULL && json_array_size(arr) == errs->len);
    json_decref(arr);
    /* The fast path stops at the first violation, so an instance that is both invalid and too
     * deep may be TR_EINVALID there and TR_ELIMIT when collecting (the walk then reaches the
     * depth limit); any other disagreement is a bug. */
    int fast = schema_validate(s, node, instance, NULL);
    bool both_refused =
        (fast == TR_EINVALID || fast == TR_ELIMIT) && (rc == TR_EINVALID || rc == TR_ELIMIT);
    fuzz_check(fast == rc || both_refused);
}
