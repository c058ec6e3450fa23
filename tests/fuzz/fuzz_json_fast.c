/* fuzz_json_fast.c — libFuzzer target `fuzz-json-fast`: arbitrary bytes go through the ledger's
 * fast JSON parser (schema_json_parse_fast) and through jansson's json_loadb with
 * JSON_REJECT_DUPLICATES. Invariants: when the fast path takes an input, jansson takes it too and
 * builds the same document (same types, same key order, compared through jansson's own dump);
 * when it does not, it returns no document; schema_json_dumps of what was parsed equals
 * jansson's dump, sorted and not; and text the parse calls canonical is that sorted dump. */
#include "tests/fuzz/fuzz.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    return 0;
}

static void same_dump(const json_t *v, bool sort)
{
    char *want = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY | (sort ? JSON_SORT_KEYS : 0));
    char *got = schema_json_dumps(v, sort, NULL);
    fuzz_check(want != NULL && got != NULL);
    fuzz_check(strcmp(want, got) == 0);
    free(want);
    free(got);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *fast = NULL;
    json_error_t err;
    bool took = schema_json_parse_fast((const char *)data, size, &fast);
    json_t *ref = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, &err);
    if (!took) {
        fuzz_check(fast == NULL);
    } else {
        fuzz_check(json_is_object(ref));
        char *a = json_dumps(fast, JSON_COMPACT), *b = json_dumps(ref, JSON_COMPACT);
        fuzz_check(a != NULL && b != NULL && strcmp(a, b) == 0);
        fuzz_check(json_equal(fast, ref));
        free(a);
        free(b);
        json_decref(fast);
    }
    if (ref) {
        same_dump(ref, false);
        same_dump(ref, true);
    }
    /* text called canonical is the serializer's sorted text of what was parsed, byte for byte */
    struct schema_json_canon c = {.split = "_"};
    json_t *doc =
        schema_json_loadb_canon((const char *)data, size, JSON_REJECT_DUPLICATES, NULL, &c);
    fuzz_check(!c.canonical || (doc && took));
    if (c.canonical) {
        size_t len = 0;
        char *text = schema_json_dumps(doc, true, &len);
        fuzz_check(text && len == size && memcmp(text, data, size) == 0);
        fuzz_check(c.split_at < size);
        free(text);
    }
    json_decref(doc);
    json_decref(ref);
    return 0;
}
