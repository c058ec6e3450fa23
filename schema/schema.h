/* schema.h — treaty's schema language: the public contract of the schema/ module.
 *
 * Three parts:
 *   1. Draft-07 JSON Schema: compile a schema document once (struct schema), validate many
 *      instances against it, collecting every violation as {instancePath, schemaPath, message}.
 *   2. Network schemas (DESIGN §3.9): a draft-07 document whose top-level array properties are
 *      record types, with the x-treaty-* (and mapped x-vendia-*) extensions: key, indexes, ACLs.
 *   3. Evolution: classify every difference between two network schemas as compatible or breaking.
 *
 * JSON values are jansson's json_t. Nothing here keeps a reference to a json_t the caller passed
 * in unless the function says so. All functions are safe to call from several threads on the same
 * compiled schema at once (compiled schemas are read-only after compile).
 */
#ifndef TREATY_SCHEMA_H
#define TREATY_SCHEMA_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

struct schema;
struct schema_node;

/* ---------------------------------------------------------------------------------------------
 * Limits. Every bound is configurable; reaching one is an error with a message, never a crash.
 * ------------------------------------------------------------------------------------------- */
struct schema_limits {
    size_t max_errors;       /* violations collected per validation (default 100) */
    size_t max_depth;        /* nesting depth of schema documents and of instances (default 512) */
    size_t max_doc_bytes;    /* size of a document read by schema_json_load_file (default 16 MiB) */
    size_t max_schema_nodes; /* subschemas in one compiled schema (default 100,000) */
};

/* Fills `l` with the defaults above. */
void schema_limits_default(struct schema_limits *l);

/* Reads and parses a JSON file with the limits in `l` (NULL: defaults): refuses files over
 * max_doc_bytes, nesting deeper than max_depth, duplicate object keys and invalid UTF-8.
 * Returns TR_OK and a new reference in *out, or TR_EIO (cannot read), TR_ELIMIT (too big or too
 * deep) or TR_EPARSE (not JSON), with a one-line reason in errmsg naming the file, line and column.
 */
int schema_json_load_file(const char *path, const struct schema_limits *l, json_t **out,
                          char *errmsg, size_t errlen);
/* The same for a buffer already in memory; `what` names it in messages (e.g. "request body"). */
int schema_json_load_buffer(const char *buf, size_t len, const char *what,
                            const struct schema_limits *l, json_t **out, char *errmsg,
                            size_t errlen);
/* json_dump.c: compact JSON text of `v` (any JSON value), byte for byte what jansson's
 * json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY | (sort_keys ? JSON_SORT_KEYS : 0)) gives, at a
 * fraction of its cost. Malloc'd and NUL-terminated (release with free()); *len (nullable) gets
 * its length. NULL when v is NULL or out of memory. */
char *schema_json_dumps(const json_t *v, bool sort_keys, size_t *len);
/* json_parse.c: the common case of json_loadb(buf, len, JSON_REJECT_DUPLICATES) for a top-level
 * object, parsed fast. True with *out (a new reference) exactly as jansson would build it; false
 * (*out NULL) when the input is anything this fast path does not take (non-ASCII or \u strings,
 * integers past 18 digits, duplicate keys, deep nesting, any error): then call jansson, which
 * decides and words the error. Never true for an input jansson refuses. */
bool schema_json_parse_fast(const char *buf, size_t len, json_t **out);
/* json_loadb(buf, len, flags, err) with the fast path in front: the same document or the same
 * error. `flags` may combine JSON_REJECT_DUPLICATES and JSON_DECODE_ANY (any other flag goes to
 * jansson alone). *err (nullable) is filled only when NULL is returned. */
json_t *schema_json_loadb(const char *buf, size_t len, size_t flags, json_error_t *err);
/* What a parse learns about the text's form, for writers that add members to it without
 * serializing it again (the ledger's stored records). The caller sets `split`. */
struct schema_json_canon {
    const char *split; /* in: a key (nullable) */
    /* out: the text is exactly schema_json_dumps(doc, true, NULL). False may also mean "not
     * known": the fast path was not taken, or the text holds a "\/" escape or a key of 128
     * bytes or more. A number is canonical when it reads as the serializer prints it ("-0",
     * "1e3" or "0.1" are not: they print "0", "1000.0", "0.10000000000000001"). */
    bool canonical;
    /* out, when canonical and `split` is set: the offset of the first top-level member whose key
     * sorts after `split`, or of the closing brace when none does */
    size_t split_at;
};
/* schema_json_loadb that also fills *c (nullable). */
json_t *schema_json_loadb_canon(const char *buf, size_t len, size_t flags, json_error_t *err,
                                struct schema_json_canon *c);
/* json_dump.c: `text` (len bytes, a canonical object: schema_json_canon) with the members of
 * object `extra`, keys sorted, inserted at offset `at` (a split_at), compact; the caller
 * ensures every key of `extra` sorts after the members before `at` and before the ones from it.
 * Malloc'd and NUL-terminated; NULL when out of memory. */
char *schema_json_splice(const char *text, size_t len, size_t at, const json_t *extra,
                         size_t *out_len);

/* ---------------------------------------------------------------------------------------------
 * 1. Draft-07 validation
 * ------------------------------------------------------------------------------------------- */

/* A compiled draft-07 schema document. Opaque; owns everything it needs (it does not keep the
 * json_t it was compiled from). */
struct schema;

/* One violation. Paths are JSON pointers (RFC 6901): instance_path into the instance ("" is the
 * root, "/checkpoints/3/at"), schema_path into the schema document from its root
 * ("/properties/Shipment/items/properties/weightKg/exclusiveMinimum"). */
struct schema_error {
    char *instance_path;
    char *schema_path;
    char *message; /* e.g. "must be >= 0", "missing required property shipmentId" */
};

/* The violations of one validation. Owned by the caller: init, validate, read, schema_errors_free.
 * At most `max` are kept (0: the limits default); `truncated` tells that more were found. */
struct schema_errors {
    struct schema_error *v;
    size_t len;
    size_t cap;
    size_t max;
    bool truncated;
};

void schema_errors_init(struct schema_errors *e, size_t max);
void schema_errors_free(struct schema_errors *e);
/* Empties `e` for reuse, keeping its allocation. */
void schema_errors_clear(struct schema_errors *e);
/* Writes the errors as a JSON array of {instancePath, schemaPath, message}; new reference. */
json_t *schema_errors_to_json(const struct schema_errors *e);

/* Compiles the draft-07 schema `doc` (an object or a boolean). Resolves every $ref (local
 * JSON pointers with ~0 ~1 and %-escapes, `$id` base changes and plain-name fragments inside the
 * document), compiles every `pattern`/`patternProperties` regex, and checks keyword value types.
 * Remote references (any $ref that does not resolve inside the document) are refused.
 * `l` may be NULL (defaults). Returns TR_OK and *out, or TR_ESCHEMA / TR_ELIMIT / TR_ENOMEM with
 * a message naming the schema path ("/properties/a/pattern: invalid regex: …"). */
int schema_compile(const json_t *doc, const struct schema_limits *l, struct schema **out,
                   char *errmsg, size_t errlen);
void schema_destroy(struct schema *s);

/* A subschema of a compiled schema, found by JSON pointer into its document. Borrowed from `s`,
 * valid until schema_destroy(s). NULL if the pointer does not name a subschema. */
const struct schema_node *schema_node_at(const struct schema *s, const char *pointer);
/* The root subschema of `s`. */
const struct schema_node *schema_root(const struct schema *s);

/* Validates `instance` against subschema `node` of `s` (schema_root(s) for the whole document).
 * Returns TR_OK if valid, TR_EINVALID if not (violations appended to `errs`, which may be NULL
 * when only the verdict is wanted — that is the fast path), TR_ELIMIT if the instance is nested
 * deeper than the limit (one violation says so), TR_ENOMEM. */
int schema_validate(const struct schema *s, const struct schema_node *node, const json_t *instance,
                    struct schema_errors *errs);

/* Checks a string against a draft-07 `format` name. Returns 1 valid, 0 invalid, -1 if the format
 * is not one treaty asserts (then draft-07 says: accept). Formats asserted: date-time, date, time,
 * email, hostname, ipv4, ipv6, uri, uri-reference, uuid, regex, json-pointer. */
int schema_format_check(const char *format, const char *s, size_t len);

/* ---------------------------------------------------------------------------------------------
 * 2. Network schemas
 * ------------------------------------------------------------------------------------------- */

/* Who may do an operation: org names, plus "*" (every member) and "owner" (the record's
 * creator). An empty list means nobody. `present` is false when the schema says nothing (the
 * default then applies: every member may read; writes default to every member too). */
struct schema_acl_list {
    bool present;
    size_t len;
    char **orgs;
};

struct schema_field_acl {
    char *field; /* top-level property name */
    struct schema_acl_list read;
    struct schema_acl_list update;
};

struct schema_acl {
    struct schema_acl_list read, create, update, delete_;
    size_t field_count;
    struct schema_field_acl *fields;
};

enum schema_key_kind { SCHEMA_KEY_STRING, SCHEMA_KEY_INTEGER };

/* One record type. Read-only, owned by its network schema. */
struct schema_type {
    char *name;      /* "Shipment" */
    char *key_field; /* "shipmentId" */
    enum schema_key_kind key_kind;
    size_t index_count;
    char **indexes; /* property names with a secondary index, schema order */
    struct schema_acl acl;
    char *pointer;                  /* "/properties/Shipment/items" */
    const struct schema_node *node; /* compiled record schema, for schema_validate */
};

struct schema_network;

/* Loads a network schema document: checks its shape and extensions, then compiles it.
 * Refused with TR_ESCHEMA and a message naming the JSON pointer: unknown x-treaty-* keywords; a key
 * field missing, not required, or not string/integer; an index on a property that does not exist;
 * property names beginning with '_' (reserved for record metadata); ACL principals that are not
 * strings; $ref to a missing definition, a $ref cycle that never reaches a type; remote $ref.
 * Every record type needs an x-treaty-key and a name usable in a URL path (letters, digits, '_',
 * '-', starting with a letter, at most 64). docs/schema.md lists every rule and the x-vendia-*
 * mapping. Returns TR_OK, TR_ESCHEMA, TR_ELIMIT (a bound of `l` reached) or TR_ENOMEM; *out is
 * set only on TR_OK. Takes no reference to `doc`; keeps its own copy (schema_network_doc). */
int schema_network_load(const json_t *doc, const struct schema_limits *l,
                        struct schema_network **out, char *errmsg, size_t errlen);
void schema_network_destroy(struct schema_network *n);

size_t schema_network_type_count(const struct schema_network *n);
/* Types in schema order; borrowed until schema_network_destroy. */
const struct schema_type *schema_network_type_at(const struct schema_network *n, size_t i);
/* NULL if no type has that name. */
const struct schema_type *schema_network_type_find(const struct schema_network *n,
                                                   const char *name);
/* The compiled whole document (for schema_validate with a type's node). */
const struct schema *schema_network_compiled(const struct schema_network *n);
/* The document as loaded; borrowed. */
const json_t *schema_network_doc(const struct schema_network *n);

/* Whether list `l` grants `org`: true when the list is absent (the default: every member), when
 * it names "*" or `org`, or when it names "owner" and `owner` (the record's _owner; NULL when
 * there is no record yet) equals `org`. A NULL org is granted only by an absent list. */
bool schema_acl_list_allows(const struct schema_acl_list *l, const char *org, const char *owner);
/* Whether org `org` may read records of `t` owned by `owner` (the type's read list). */
bool schema_acl_may_read(const struct schema_type *t, const char *org, const char *owner);
/* Removes from record `doc` (a JSON object, modified in place; anything else is left alone) the
 * top-level fields whose field-level read ACL excludes `org` given the record's owner. Fields
 * without their own read list follow the type's list and are kept. */
void schema_acl_redact(const struct schema_type *t, const char *org, const char *owner,
                       json_t *doc);
/* Writes the principals of `l` for a message ("owner, acme"; "*" when absent; "nobody" when
 * empty) into buf, NUL-terminated, truncated to len. Returns the length written. */
size_t schema_acl_list_format(const struct schema_acl_list *l, char *buf, size_t len);

/* Validates a record of type `t`: schema_validate against t->node, plus treaty's record rules
 * (the key field present with the right kind; no top-level property starting with '_').
 * Same returns as schema_validate. */
int schema_network_validate(const struct schema_network *n, const struct schema_type *t,
                            const json_t *record, struct schema_errors *errs);

/* ---------------------------------------------------------------------------------------------
 * 3. Evolution
 * ------------------------------------------------------------------------------------------- */

enum schema_change_kind { SCHEMA_CHANGE_COMPATIBLE, SCHEMA_CHANGE_BREAKING };

struct schema_change {
    enum schema_change_kind kind;
    char
        *path; /* JSON pointer in the schema document, e.g. "/properties/Shipment/items/required" */
    char *rule;    /* short rule name, e.g. "new-required-property", "tightened-bound" */
    char *message; /* one sentence a person can act on */
};

struct schema_changes {
    struct schema_change *v;
    size_t len;
    size_t cap;
};

void schema_changes_free(struct schema_changes *c);
/* 1 if any change is breaking. */
bool schema_changes_breaking(const struct schema_changes *c);

/* Compares two loaded network schemas and appends every difference to `out` (initialize it to
 * zero). Compatible: new type, new optional property, new enum value, relaxed bound, new index,
 * relaxed ACL. Breaking: removed type or property, changed type, new required property, tightened
 * bound, changed key, removed enum value, new or changed pattern, and any change the rules cannot
 * prove compatible (named "unclassified-change"). Changes of one call are sorted by path, then
 * rule. Returns TR_OK or TR_ENOMEM (then `out` is left as it was). Free with schema_changes_free.
 */
int schema_diff(const struct schema_network *old_schema, const struct schema_network *new_schema,
                struct schema_changes *out);

/* ---------------------------------------------------------------------------------------------
 * 4. Description for API documents and code generators
 * ------------------------------------------------------------------------------------------- */

/* Renders network schema `n` as JSON Schema 2020-12 (the dialect of OpenAPI 3.1) in a new object
 * *out mapping names to schemas (owned by the caller):
 *   - each record type's record schema (its `items`) under the type's name, with the type's key
 *     and indexes as `x-treaty-key` and `x-treaty-indexes` (unless the record schema is only a
 *     $ref: then the schema it names carries nothing extra);
 *   - each top-level definition under its name, and any other $ref target under a name made of
 *     its JSON pointer ("definitions.Money.properties.amount"); names use only [A-Za-z0-9._-]
 *     (others become '_') and avoid the type names and `reserved` (NULL-terminated list,
 *     borrowed; may be NULL) by suffixes "_2", "_3", …
 * draft-07 becomes 2020-12: definitions -> $defs, items as an array -> prefixItems,
 * additionalItems -> items, dependencies -> dependentRequired / dependentSchemas; $schema, $id,
 * the siblings of $ref (draft-07 ignores them), the raw x-treaty-* / x-vendia-* keywords and
 * unknown keywords are dropped; every $ref becomes `ref_base` + name ("#/components/schemas/").
 * Returns TR_OK, TR_ENOMEM, or TR_EINTERNAL / TR_ELIMIT with a message naming the pointer. */
int schema_network_describe(const struct schema_network *n, const char *ref_base,
                            const char *const *reserved, json_t **out, char *errmsg, size_t errlen);

#endif
