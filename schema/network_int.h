/* network_int.h — internals shared by the network-schema files (network*.c) and the evolution
 * diff (diff.c): JSON pointer paths kept as a chain of stack frames (rendered only when a message
 * or a change needs them), local $ref resolution over the raw document, and the load context.
 * Nothing here allocates except the *_dup functions. */
#ifndef TREATY_SCHEMA_NETWORK_INT_H
#define TREATY_SCHEMA_NETWORK_INT_H

#include "schema/schema.h"

/* One step of a JSON pointer. The chain runs from the innermost step up to the root (up == NULL).
 * `key` is a member name (escaped with ~0 ~1 when rendered); NULL means the array index `index`;
 * with `raw` set, `key` is an already escaped pointer ("/definitions/Money") appended as it is. */
struct schema__net_seg {
    const struct schema__net_seg *up;
    const char *key;
    size_t index;
    bool raw;
};

/* Writes the pointer of `s` into buf (always NUL-terminated, truncated to len). "" is the root. */
void schema__net_path_format(const struct schema__net_seg *s, char *buf, size_t len);
/* The pointer of `s` as a new string (tr_free), NULL when out of memory. */
char *schema__net_path_dup(const struct schema__net_seg *s);
/* The pointer of `s` followed by "/" + escaped `name` (name may be NULL: just `s`). */
char *schema__net_path_dup_name(const struct schema__net_seg *s, const char *name);

/* The value a local reference names: "#" (the root) or "#/a/b" with ~0 ~1 and %XX escapes,
 * looked up in `doc`. NULL when `ref` is not of that form or names nothing. Borrowed from doc. */
const json_t *schema__net_ref_target(const json_t *doc, const char *ref);
/* Follows `s` through $ref chains ("#/…" references only) to the first schema that is not a
 * reference. NULL if a reference does not resolve, is not local, or the chain is longer than
 * SCHEMA__NET_MAX_REF_CHAIN (loading refuses cycles, so that only happens on unloaded input). */
const json_t *schema__net_deref(const json_t *doc, const json_t *s);
#define SCHEMA__NET_MAX_REF_CHAIN 256

/* State of one schema_network_load: the document (the network's own copy), limits, and where
 * the one-line refusal goes. */
struct schema__net_load {
    const json_t *doc;
    struct schema_limits lim;
    char *errmsg;
    size_t errlen;
    /* Per record type, parallel to the network's types while loading. */
    size_t rec_count;
    struct schema__net_rec *recs;
};

/* A record type as found in the document, before its extensions are read. */
struct schema__net_rec {
    const char *name;
    const json_t *items;  /* /properties/<name>/items */
    const json_t *record; /* items after following $ref: holds properties and required */
    const json_t *ext;    /* the object holding the x-treaty-* keywords (items or record) */
    char *ext_pointer;    /* JSON pointer of ext, escaped */
};

/* Formats "<pointer of at>: <message>" into ld->errmsg and returns rc. */
int schema__net_fail(struct schema__net_load *ld, const struct schema__net_seg *at, int rc,
                     const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* Follows the $ref chain starting at the object `s` (found at `at`), refusing remote, missing and
 * cyclic references with TR_ESCHEMA and a message. On TR_OK *out is the first schema that is not
 * a reference (s itself when it has no $ref). Plain-name fragments ("#name") are not followed:
 * *out is then NULL and schema_compile resolves them. */
int schema__net_ref_chain(struct schema__net_load *ld, const struct schema__net_seg *at,
                          const json_t *s, const json_t **out);
/* Walks every subschema of the document: refuses unknown x-treaty-* keywords and those outside a
 * record type's schema, x-vendia-* keywords treaty does not map, remote/missing/cyclic $ref, and
 * property names starting with '_'. */
int schema__net_check_doc(struct schema__net_load *ld);
/* Reads x-treaty-key, x-treaty-indexes and x-treaty-acl of record type `i` into `t`. */
int schema__net_type_ext(struct schema__net_load *ld, size_t i, struct schema_type *t);
/* Applies the top-level x-vendia-indexes and checks x-vendia-acls against the types. */
int schema__net_vendia(struct schema__net_load *ld, struct schema_type *types);
/* Frees what schema__net_type_ext filled in (not the name, pointer or node). */
void schema__net_type_ext_free(struct schema_type *t);

/* ------------------------------------------------------------------------------------------
 * Evolution diff (diff.c: types, ACLs, indexes, definitions; diff_schema.c: keyword rules).
 * ---------------------------------------------------------------------------------------- */

#define SCHEMA__DIFF_MAX_REF_DEPTH 32

struct schema__diff {
    const json_t *old_doc, *new_doc;
    struct schema_changes *out;
    int rc; /* sticky: once an allocation failed, nothing more is added */
    /* Pairs of dereferenced subschemas being compared, so recursive types terminate. */
    const json_t *ref_o[SCHEMA__DIFF_MAX_REF_DEPTH], *ref_n[SCHEMA__DIFF_MAX_REF_DEPTH];
    size_t ref_depth;
};

/* Records one change at `at` (+ "/" + escaped name when name is not NULL). */
void schema__diff_add(struct schema__diff *d, enum schema_change_kind kind,
                      const struct schema__net_seg *at, const char *name, const char *rule,
                      const char *fmt, ...) __attribute__((format(printf, 6, 7)));
/* Records the breaking "unclassified-change" for keyword kw (NULL: the whole subschema). */
void schema__diff_unclassified(struct schema__diff *d, const struct schema__net_seg *at,
                               const char *kw);
/* Compares two subschemas found at `at` (NULL or true: accepts everything). */
void schema__diff_schema(struct schema__diff *d, const json_t *o, const json_t *n,
                         const struct schema__net_seg *at);
/* Compares keyword k of the schema objects o and n (either may lack it). */
void schema__diff_keyword(struct schema__diff *d, const json_t *o, const json_t *n, const char *k,
                          const struct schema__net_seg *at);

#endif
