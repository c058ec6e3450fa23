/* fuzz_schema_parse.c — libFuzzer target `fuzz-schema-parse`: arbitrary bytes go through the JSON
 * loader (limits, UTF-8, duplicate keys), the draft-07 compiler and, where the module has it, the
 * network-schema loader. Invariant: every input ends in a documented return code with a message,
 * never a crash, leak or sanitizer report; a compiled schema also validates its own document. */
#include "tests/fuzz/fuzz.h"

#include "common/err.h"
#include "schema/schema.h"

#include <string.h>

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    return 0;
}

/* A failure must leave a one-line reason in the caller's buffer. */
static void check_message(int rc, const char *errmsg, size_t errlen)
{
    if (rc == TR_OK)
        return;
    size_t n = strnlen(errmsg, errlen);
    fuzz_check(n > 0 && n < errlen);
}

static void fuzz_compile(const json_t *doc, const struct schema_limits *l)
{
    char errmsg[256] = "";
    struct schema *s = NULL;
    int rc = schema_compile(doc, l, &s, errmsg, sizeof errmsg);
    fuzz_check(rc == TR_OK || rc == TR_ESCHEMA || rc == TR_ELIMIT || rc == TR_ENOMEM);
    check_message(rc, errmsg, sizeof errmsg);
    fuzz_check((rc == TR_OK) == (s != NULL));
    if (s == NULL)
        return;
    fuzz_check(schema_root(s) != NULL);
    fuzz_check(schema_node_at(s, "") == schema_root(s));
    struct schema_errors errs;
    schema_errors_init(&errs, 20);
    int vrc = schema_validate(s, schema_root(s), doc, &errs);
    fuzz_check_validation(s, schema_root(s), doc, vrc, &errs);
    schema_errors_free(&errs);
    schema_destroy(s);
}

#ifdef TREATY_FUZZ_HAVE_NETWORK
static void fuzz_network(const json_t *doc, const struct schema_limits *l)
{
    char errmsg[256] = "";
    struct schema_network *n = NULL;
    int rc = schema_network_load(doc, l, &n, errmsg, sizeof errmsg);
    fuzz_check(rc == TR_OK || rc == TR_ESCHEMA || rc == TR_ELIMIT || rc == TR_ENOMEM);
    check_message(rc, errmsg, sizeof errmsg);
    if (n == NULL)
        return;
    for (size_t i = 0; i < schema_network_type_count(n); i++) {
        const struct schema_type *t = schema_network_type_at(n, i);
        fuzz_check(t != NULL && t->name != NULL && t->node != NULL);
        fuzz_check(schema_network_type_find(n, t->name) == t);
    }
    schema_network_destroy(n);
}
#endif

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct schema_limits l;
    schema_limits_default(&l);
    /* Small enough that the limits themselves are reached by fuzzed inputs, not just by seeds. */
    l.max_depth = 64;
    l.max_schema_nodes = 2000;
    json_t *doc = NULL;
    char errmsg[256] = "";
    int rc = schema_json_load_buffer((const char *)data, size, "fuzz input", &l, &doc, errmsg,
                                     sizeof errmsg);
    fuzz_check(rc == TR_OK || rc == TR_EPARSE || rc == TR_ELIMIT || rc == TR_ENOMEM);
    check_message(rc, errmsg, sizeof errmsg);
    fuzz_check((rc == TR_OK) == (doc != NULL));
    if (doc == NULL)
        return 0;
    fuzz_compile(doc, &l);
#ifdef TREATY_FUZZ_HAVE_NETWORK
    fuzz_network(doc, &l);
#endif
    json_decref(doc);
    return 0;
}
