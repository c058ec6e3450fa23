/* fuzz_schema_validate.c — libFuzzer target `fuzz-schema-validate`: the first input byte picks one
 * of four fixed schemas (the sample network's Shipment record, and draft-07 schemas exercising
 * pattern, anyOf/oneOf, uniqueItems, $ref recursion, $id fragments, dependencies, if/then/else);
 * the rest is the instance JSON. Invariant: fuzz_check_validation holds for every instance.
 * The schemas are compiled once in LLVMFuzzerInitialize; TREATY_SOURCE_DIR locates the sample. */
#include "tests/fuzz/fuzz.h"

#include "common/err.h"
#include "schema/schema.h"

#include <stdio.h>
#include <stdlib.h>

/* Recursive tree with patterned names, unique tags and an anyOf/oneOf payload. */
static const char tree_schema[] =
    "{\"$schema\":\"http://json-schema.org/draft-07/schema#\",\"$ref\":\"#/definitions/node\","
    "\"definitions\":{\"node\":{\"type\":\"object\",\"required\":[\"name\"],"
    "\"properties\":{\"name\":{\"type\":\"string\",\"pattern\":\"^[a-z][a-z0-9_]{0,15}$\"},"
    "\"tags\":{\"type\":\"array\",\"uniqueItems\":true,\"items\":{\"type\":[\"string\",\"integer\"]"
    "},"
    "\"maxItems\":8},"
    "\"value\":{\"anyOf\":[{\"type\":\"number\",\"multipleOf\":0.5},{\"type\":\"string\","
    "\"format\":\"date-time\"},{\"type\":\"null\"}]},"
    "\"kind\":{\"oneOf\":[{\"const\":\"leaf\"},{\"enum\":[\"branch\",\"root\"]},{\"type\":"
    "\"integer\","
    "\"minimum\":0,\"exclusiveMaximum\":10}]},"
    "\"children\":{\"type\":\"array\",\"items\":{\"$ref\":\"#/definitions/node\"}}},"
    "\"patternProperties\":{\"^x-[a-z]+$\":{\"type\":\"string\",\"maxLength\":32}},"
    "\"additionalProperties\":false}}}";

/* $id plain-name fragments, dependencies, if/then/else, contains, propertyNames, tuple items. */
static const char misc_schema[] =
    "{\"$id\":\"http://example.org/root.json\",\"type\":\"object\","
    "\"definitions\":{\"pos\":{\"$id\":\"#pos\",\"type\":\"integer\",\"minimum\":1},"
    "\"list\":{\"type\":\"array\",\"items\":[{\"$ref\":\"#pos\"},{\"type\":\"string\"}],"
    "\"additionalItems\":{\"$ref\":\"#/definitions/list\"}}},"
    "\"propertyNames\":{\"pattern\":\"^[A-Za-z_][A-Za-z0-9_~/]*$\",\"maxLength\":20},"
    "\"dependencies\":{\"a\":[\"b\"],\"c\":{\"required\":[\"d\"]}},"
    "\"if\":{\"properties\":{\"kind\":{\"const\":\"mail\"}}},"
    "\"then\":{\"properties\":{\"to\":{\"format\":\"email\"}}},"
    "\"else\":{\"properties\":{\"to\":{\"format\":\"uri\"}}},"
    "\"properties\":{\"l\":{\"$ref\":\"#/definitions/list\"},"
    "\"u\":{\"type\":\"array\",\"uniqueItems\":true,\"contains\":{\"type\":\"object\"}},"
    "\"ip\":{\"anyOf\":[{\"format\":\"ipv4\"},{\"format\":\"ipv6\"}]},"
    "\"n\":{\"not\":{\"type\":\"boolean\"}},\"id\":{\"format\":\"uuid\"},"
    "\"m\":{\"minProperties\":1,\"maxProperties\":3,\"additionalProperties\":{\"$ref\":\"#\"}}}}";

/* The fixed schemas, indexed by the first input byte modulo FUZZ_SCHEMAS ('0'..'3' map to 0..3). */
#define FUZZ_SCHEMAS 4

static struct fuzz_target {
    struct schema *owned; /* compiled here (NULL when borrowed from the network) */
    const struct schema *s;
    const struct schema_node *node;
} targets[FUZZ_SCHEMAS];

#ifdef TREATY_FUZZ_HAVE_NETWORK
static struct schema_network *network;
static const struct schema_type *shipment;
#endif

_Noreturn static void init_fail(const char *what, const char *errmsg)
{
    fprintf(stderr, "fuzz-schema-validate: %s: %s\n", what, errmsg);
    exit(2);
}

static void compile_text(struct fuzz_target *t, const char *text, const char *pointer,
                         size_t max_depth)
{
    struct schema_limits l;
    schema_limits_default(&l);
    l.max_depth = max_depth;
    char errmsg[256] = "";
    json_t *doc = NULL;
    json_error_t jerr;
    doc = json_loads(text, 0, &jerr);
    if (doc == NULL)
        init_fail("built-in schema", jerr.text);
    if (schema_compile(doc, &l, &t->owned, errmsg, sizeof errmsg) != TR_OK)
        init_fail("built-in schema", errmsg);
    json_decref(doc);
    t->s = t->owned;
    t->node = schema_node_at(t->s, pointer);
    if (t->node == NULL)
        init_fail(pointer, "no such subschema");
}

/* Shipment from examples/supply-chain.json: through the network loader when schema/ has it (so
 * the record rules run too), else the plain compiled document's items schema. */
static void load_shipment(struct fuzz_target *t)
{
    char errmsg[256] = "";
    json_t *doc = NULL;
    const char *path = TREATY_SOURCE_DIR "/examples/supply-chain.json";
    if (schema_json_load_file(path, NULL, &doc, errmsg, sizeof errmsg) != TR_OK)
        init_fail(path, errmsg);
#ifdef TREATY_FUZZ_HAVE_NETWORK
    if (schema_network_load(doc, NULL, &network, errmsg, sizeof errmsg) != TR_OK)
        init_fail(path, errmsg);
    shipment = schema_network_type_find(network, "Shipment");
    if (shipment == NULL)
        init_fail(path, "no Shipment type");
    t->s = schema_network_compiled(network);
    t->node = shipment->node;
#else
    if (schema_compile(doc, NULL, &t->owned, errmsg, sizeof errmsg) != TR_OK)
        init_fail(path, errmsg);
    t->s = t->owned;
    t->node = schema_node_at(t->s, "/properties/Shipment/items");
    if (t->node == NULL)
        init_fail(path, "no /properties/Shipment/items");
#endif
    json_decref(doc);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    load_shipment(&targets[0]);
    /* A low depth limit on the tree, so deep instances reach the validator's limit (the loader
     * below allows the default 512). */
    compile_text(&targets[1], tree_schema, "", 40);
    compile_text(&targets[2], tree_schema, "/definitions/node/properties/children", 40);
    compile_text(&targets[3], misc_schema, "", 512);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    struct fuzz_target *t = &targets[data[0] % FUZZ_SCHEMAS];
    json_t *inst = NULL;
    char errmsg[256] = "";
    if (schema_json_load_buffer((const char *)data + 1, size - 1, "instance", NULL, &inst, errmsg,
                                sizeof errmsg) != TR_OK)
        return 0;
    struct schema_errors errs;
    schema_errors_init(&errs, 10);
    int rc = schema_validate(t->s, t->node, inst, &errs);
    fuzz_check_validation(t->s, t->node, inst, rc, &errs);
#ifdef TREATY_FUZZ_HAVE_NETWORK
    if (t == &targets[0]) {
        schema_errors_clear(&errs);
        int nrc = schema_network_validate(network, shipment, inst, &errs);
        fuzz_check(nrc == TR_OK || nrc == TR_EINVALID || nrc == TR_ELIMIT || nrc == TR_ENOMEM);
        fuzz_check((nrc == TR_OK) == (errs.len == 0));
        /* The record rules only add to draft-07: a valid record is schema-valid. */
        fuzz_check(nrc != TR_OK || rc == TR_OK);
        fuzz_check(schema_network_validate(network, shipment, inst, NULL) == nrc);
    }
#endif
    schema_errors_free(&errs);
    json_decref(inst);
    return 0;
}
