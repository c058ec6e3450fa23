/* schema_int.h — the schema module's internals: the compiled form of a draft-07 document.
 * A compiled schema is a table of nodes, one per subschema, linked by pointers ($ref already
 * resolved, regexes compiled, keyword values checked); it is read-only after schema_compile, so
 * validation needs no locks and no allocation on the valid path. Shared by compile*.c and
 * validate*.c; other schema/ files use only schema.h. */
#ifndef TREATY_SCHEMA_SCHEMA_INT_H
#define TREATY_SCHEMA_SCHEMA_INT_H

#include "schema/regex.h"
#include "schema/schema.h"

#include <stdint.h>

/* Type bits of the `type` keyword (draft-07 validation §6.1.1). */
enum {
    SCHEMA__T_NULL = 1u << 0,
    SCHEMA__T_BOOLEAN = 1u << 1,
    SCHEMA__T_OBJECT = 1u << 2,
    SCHEMA__T_ARRAY = 1u << 3,
    SCHEMA__T_NUMBER = 1u << 4,
    SCHEMA__T_STRING = 1u << 5,
    SCHEMA__T_INTEGER = 1u << 6,
};

/* Which keywords a node has, so validation tests one word instead of many fields. */
enum {
    SCHEMA__K_TYPE = 1u << 0,
    SCHEMA__K_ENUM = 1u << 1,
    SCHEMA__K_CONST = 1u << 2,
    SCHEMA__K_MULTIPLE_OF = 1u << 3,
    SCHEMA__K_MAXIMUM = 1u << 4,
    SCHEMA__K_EXCL_MAXIMUM = 1u << 5,
    SCHEMA__K_MINIMUM = 1u << 6,
    SCHEMA__K_EXCL_MINIMUM = 1u << 7,
    SCHEMA__K_MAX_LENGTH = 1u << 8,
    SCHEMA__K_MIN_LENGTH = 1u << 9,
    SCHEMA__K_PATTERN = 1u << 10,
    SCHEMA__K_FORMAT = 1u << 11,
    SCHEMA__K_MAX_ITEMS = 1u << 12,
    SCHEMA__K_MIN_ITEMS = 1u << 13,
    SCHEMA__K_UNIQUE_ITEMS = 1u << 14,
    SCHEMA__K_MAX_PROPS = 1u << 15,
    SCHEMA__K_MIN_PROPS = 1u << 16,
    SCHEMA__K_REQUIRED = 1u << 17,
};

/* Keywords grouped by the instance type they apply to (draft-07 validation §6.2–6.5). */
#define SCHEMA__K_NUMERIC                                                                          \
    (SCHEMA__K_MULTIPLE_OF | SCHEMA__K_MAXIMUM | SCHEMA__K_EXCL_MAXIMUM | SCHEMA__K_MINIMUM |      \
     SCHEMA__K_EXCL_MINIMUM)
#define SCHEMA__K_STRING                                                                           \
    (SCHEMA__K_MAX_LENGTH | SCHEMA__K_MIN_LENGTH | SCHEMA__K_PATTERN | SCHEMA__K_FORMAT)

/* A numeric bound: the value, whether it was written as an integer (then `i` is exact), and its
 * text for messages. */
struct schema__num {
    double d;
    long long i;
    bool is_int;
    char text[32];
};

struct schema__prop {
    char *name; /* owned */
    size_t len;
    struct schema_node *node;
    size_t required_slot; /* index in node->required + 1 if also required, else 0 */
};

struct schema__pattern_prop {
    struct schema__regex *re;
    char *source; /* owned */
    struct schema_node *node;
};

struct schema__name {
    char *name; /* owned */
    size_t len;
};

/* dependencies (draft-07 validation §6.5.7): either a list of names or a schema. */
struct schema__dep {
    struct schema__name name;
    struct schema__name *names;
    size_t names_len;
    struct schema_node *node;
};

struct schema_node {
    char *path;              /* absolute JSON pointer of this subschema in the document */
    int boolean;             /* 1: schema `true`, 0: schema `false`, -1: an object schema */
    struct schema_node *ref; /* `$ref` target; when set, every sibling keyword is ignored */
    uint32_t keys;           /* SCHEMA__K_* present */
    uint32_t types;          /* SCHEMA__T_* allowed (when SCHEMA__K_TYPE) */
    struct schema__num multiple_of, maximum, excl_maximum, minimum, excl_minimum;
    size_t max_length, min_length, max_items, min_items, max_props, min_props;
    struct schema__regex *pattern;
    char *pattern_src;   /* owned */
    char *format;        /* owned; only set when schema_format_check asserts this format */
    json_t *enum_values; /* owned copy (array) */
    json_t *const_value; /* owned copy */
    struct schema__name *required;
    size_t required_len;
    struct schema__prop *props; /* sorted by (len, bytes) for binary search */
    size_t props_len;
    struct schema__pattern_prop *pattern_props;
    size_t pattern_props_len;
    struct schema_node *additional_props;
    struct schema_node *property_names;
    struct schema__dep *deps;
    size_t deps_len;
    struct schema_node *items;      /* `items` as one schema */
    struct schema_node **items_arr; /* `items` as an array of schemas */
    size_t items_arr_len;
    bool items_is_array;
    struct schema_node *additional_items;
    struct schema_node *contains;
    struct schema_node **all_of, **any_of, **one_of;
    size_t all_of_len, any_of_len, one_of_len;
    struct schema_node *not_;
    struct schema_node *if_, *then_, *else_;
    size_t index; /* position in schema.nodes */
};

struct schema {
    struct schema_node **nodes; /* every node; nodes[0] is the root */
    size_t nodes_len;
    size_t nodes_cap;
    struct schema_node **by_path; /* open-addressing hash of nodes by path; by_path_cap slots */
    size_t by_path_cap;
    struct schema_limits limits;
};

/* ---- compile internals (compile*.c) ---- */

/* A resource or plain-name anchor found through `$id` (draft-07 core §8.2): its absolute URI
 * (anchors as "uri#name") and where it is. */
struct schema__id {
    char *uri;
    struct schema_node *node;
    const json_t *json;
};

/* A `$ref` waiting for its target: the node holding it and the reference resolved to an absolute
 * URI against the base in effect there. */
struct schema__pending {
    struct schema_node *node;
    char *uri;
    const char *ref; /* as written; borrowed from the document during compile */
};

struct schema__compiler {
    struct schema *s;
    const json_t *doc;
    char *errmsg;
    size_t errlen;
    struct schema__id *ids;
    size_t ids_len, ids_cap;
    struct schema__pending *refs;
    size_t refs_len, refs_cap;
};

/* Writes "path: message" to c->errmsg and returns rc. */
int schema__compile_fail(struct schema__compiler *c, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Compiles the subschema `j` at `path` (ownership taken, even on failure) with base URI `base`;
 * depth is its nesting in the document. */
int schema__compile_node(struct schema__compiler *c, const json_t *j, char *path, const char *base,
                         size_t depth, struct schema_node **out);
/* Resolves RFC 3986 reference `ref` against absolute URI `base` (§5.2); *out is owned. */
int schema__uri_resolve(const char *base, const char *ref, char **out);
int schema__ids_add(struct schema__compiler *c, char *uri, struct schema_node *node,
                    const json_t *json);
int schema__refs_add(struct schema__compiler *c, struct schema_node *node, char *uri,
                     const char *ref);
/* Points every pending $ref at its node, compiling targets outside keyword positions on demand. */
int schema__refs_resolve(struct schema__compiler *c);
/* Refuses a cycle of subschemas applied to the same instance ($ref, allOf, anyOf, oneOf, not,
 * if/then/else, dependencies): validating through it would never end. */
int schema__cycles_check(struct schema__compiler *c);
int schema__path_index_put(struct schema *s, struct schema_node *n);
struct schema_node *schema__path_index_get(const struct schema *s, const char *path, size_t len);
/* %-decodes a URI fragment (RFC 3986 §2.1) into a new string (owned; *len its length, which
 * may include NUL bytes); malformed escapes stay literal. NULL on ENOMEM. */
char *schema__pct_decode(const char *s, size_t *len);
/* parent + "/" + token escaped per RFC 6901 §3; owned, NULL on ENOMEM. */
char *schema__path_join(const char *parent, const char *token, size_t len);

/* Equality of JSON values as JSON Schema defines it (draft-07 core §4.2.2): numbers by value
 * (1 == 1.0), objects ignoring key order. Returns 1 equal, 0 not, TR_ELIMIT if either value is
 * nested deeper than `depth_left`. */
int schema__json_equal(const json_t *a, const json_t *b, size_t depth_left);

#endif
