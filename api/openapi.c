/* openapi.c — the OpenAPI 3.1 document of the node's API, derived from the network schema: the
 * record types' schemas come from schema_network_describe (JSON Schema 2020-12), the routes and
 * their parameters, headers, responses and RFC 9457 problem bodies from fragments here and in
 * openapi_paths.c. The same function serves GET /v1/openapi.json and `treaty codegen openapi`,
 * so both give the same bytes for the same schema. Pure: no I/O, callable from any thread. */
#include "api/api_int.h"

#include "common/alloc.h"
#include "common/err.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define OA_SCHEMAS "#/components/schemas/"

/* Component schemas of the document itself; their names avoid the type names (suffix "_2"…). */
static const char *const fixed_schema_names[] = {
    "Problem",        "ValidationError",  "ValidationProblem",
    "RecordMetadata", "Tombstone",        "TxOp",
    "TxRequest",      "TxAccepted",       "TxCommitted",
    "TxStatus",       "LedgerHead",       "BlockHeader",
    "Checkpoint",     "Members",          "ProposalRequest",
    "ProposalResult", "RotateKeyRequest", "InclusionProof",
    "Hash",           "ConsistencyProof", "Ready",
    "Health",         "NetworkSchema",    NULL};

/* Per type T, the generated schemas: logical name "T.Record" -> component "TRecord". */
static const char *const type_schema_suffixes[] = {"Record", "Patch", "Page", "History", NULL};

static int oa_claim(struct api__oa *oa, const char *logical, const char *want)
{
    char name[160];
    snprintf(name, sizeof name, "%s", want);
    for (unsigned k = 2; json_object_get(oa->taken, name); k++)
        snprintf(name, sizeof name, "%s_%u", want, k);
    if (json_object_set_new(oa->taken, name, json_true()) != 0 ||
        json_object_set_new(oa->names, logical, json_string(name)) != 0)
        return TR_ENOMEM;
    return TR_OK;
}

const char *api__oa_name(const struct api__oa *oa, const char *logical)
{
    const char *s = json_string_value(json_object_get(oa->names, logical));
    return s ? s : logical;
}

/* Names every schema component the document adds to the schema's own. */
static int oa_names(struct api__oa *oa)
{
    size_t n = schema_network_type_count(oa->n);
    for (size_t i = 0; i < n; i++) {
        const char *t = schema_network_type_at(oa->n, i)->name;
        if (json_object_set_new(oa->taken, t, json_true()) != 0 ||
            json_object_set_new(oa->names, t, json_string(t)) != 0)
            return TR_ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        const char *t = schema_network_type_at(oa->n, i)->name;
        for (size_t s = 0; type_schema_suffixes[s]; s++) {
            char logical[96], want[96];
            snprintf(logical, sizeof logical, "%s.%s", t, type_schema_suffixes[s]);
            snprintf(want, sizeof want, "%s%s", t, type_schema_suffixes[s]);
            if (oa_claim(oa, logical, want) != TR_OK)
                return TR_ENOMEM;
        }
    }
    for (size_t i = 0; fixed_schema_names[i]; i++)
        if (oa_claim(oa, fixed_schema_names[i], fixed_schema_names[i]) != TR_OK)
            return TR_ENOMEM;
    return TR_OK;
}

/* ------------------------------------------------------------------------------------------- */
/* Templates: JSON text with ${T} (the type name), $S{name} (the $ref of a schema component by
 * its logical name, "$S{T.Record}" for the current type's) and $N{name} (the component's name
 * alone), placed at a location written as member names separated by '|'. */

static int buf_add(char **buf, size_t *len, size_t *cap, const char *s, size_t n)
{
    if (*len + n + 1 > *cap) {
        size_t c = (*len + n + 1) * 2;
        char *b = tr_realloc(*buf, c);
        if (!b)
            return TR_ENOMEM;
        *buf = b;
        *cap = c;
    }
    memcpy(*buf + *len, s, n);
    *len += n;
    (*buf)[*len] = '\0';
    return TR_OK;
}

/* Expands a template for type `t` (nullable: templates without ${T}); new string or NULL. */
char *api__oa_expand(const struct api__oa *oa, const char *tpl, const char *t)
{
    char *buf = NULL;
    size_t len = 0, cap = 0;
    int rc = buf_add(&buf, &len, &cap, "", 0);
    for (const char *p = tpl; rc == TR_OK && *p;) {
        if (p[0] == '$' && p[1] == '{' && p[2] == 'T' && p[3] == '}') {
            TR_ASSERT(t != NULL);
            rc = buf_add(&buf, &len, &cap, t, strlen(t));
            p += 4;
        } else if (p[0] == '$' && (p[1] == 'S' || p[1] == 'N') && p[2] == '{') {
            const char *end = strchr(p + 3, '}');
            TR_ASSERT(end != NULL);
            char logical[160];
            if (p[3] == 'T' && p + 4 == end)
                snprintf(logical, sizeof logical, "%s", t);
            else if (p[3] == 'T' && p[4] == '.')
                snprintf(logical, sizeof logical, "%s%.*s", t, (int)(end - p - 4), p + 4);
            else
                snprintf(logical, sizeof logical, "%.*s", (int)(end - p - 3), p + 3);
            const char *name = api__oa_name(oa, logical);
            if (p[1] == 'S')
                rc = buf_add(&buf, &len, &cap, OA_SCHEMAS, strlen(OA_SCHEMAS));
            if (rc == TR_OK)
                rc = buf_add(&buf, &len, &cap, name, strlen(name));
            p = end + 1;
        } else {
            rc = buf_add(&buf, &len, &cap, p, 1);
            p++;
        }
    }
    if (rc != TR_OK) {
        tr_free(buf);
        return NULL;
    }
    return buf;
}

/* The object at location `at` ("a|b|c") under `root`, created on the way. NULL on ENOMEM. */
json_t *api__oa_at(json_t *root, const char *at)
{
    json_t *o = root;
    while (o && *at) {
        size_t n = strcspn(at, "|");
        char key[256];
        snprintf(key, sizeof key, "%.*s", (int)n, at);
        json_t *next = json_object_get(o, key);
        if (!next) {
            next = json_object();
            if (!next || json_object_set_new(o, key, next) != 0)
                return NULL;
        }
        o = next;
        at += n + (at[n] == '|');
    }
    return o;
}

int api__oa_put(struct api__oa *oa, const struct api__oa_fragment *f, const char *t)
{
    char *at = api__oa_expand(oa, f->at, t);
    char *text = at ? api__oa_expand(oa, f->json, t) : NULL;
    json_error_t jerr;
    json_t *v = text ? json_loads(text, JSON_DECODE_ANY, &jerr) : NULL;
    /* The fragments are constants and every one is parsed by the unit tests (test_openapi.c), so
     * a parse failure here is an allocation failure (jansson does not always say so). */
    size_t cut = at ? strlen(at) : 0;
    while (cut > 0 && at[cut - 1] != '|')
        cut--;
    json_t *parent = cut == 0 ? oa->doc : NULL;
    if (v && cut > 0) {
        at[cut - 1] = '\0';
        parent = api__oa_at(oa->doc, at);
    }
    int rc = parent && json_object_set_new(parent, at + cut, v) == 0 ? TR_OK : TR_ENOMEM;
    if (!parent)
        json_decref(v);
    tr_free(at);
    tr_free(text);
    return rc;
}

int api__oa_put_all(struct api__oa *oa, const struct api__oa_fragment *f, const char *t)
{
    for (; f->at; f++) {
        int rc = api__oa_put(oa, f, t);
        if (rc != TR_OK)
            return rc;
    }
    return TR_OK;
}

/* ------------------------------------------------------------------------------------------- */
/* The document */

static const struct api__oa_fragment doc_fragments[] = {
    {"openapi", "\"3.1.0\""},
    {"info",
     "{\"title\": \"treaty network API\", \"version\": \"1\","
     " \"summary\": \"Typed REST API of one treaty node, generated from the network schema\","
     " \"description\": \"Every record type of the network schema has create, get, replace, "
     "merge-patch, delete, list and history operations under /v1/data/{type}. Writes wait for "
     "commit and local apply unless `Prefer: wait=none` is sent. Errors are RFC 9457 problem "
     "documents. Each org runs its own node: send requests to your org's node with one of its "
     "API keys as a bearer token.\"}"},
    {"servers", "[{\"url\": \"http://127.0.0.1:8401\", \"description\": \"a node with the default "
                "`api` address of `treaty init`; your node's is the `api` of its node.json\"}]"},
    {"security", "[{\"bearerAuth\": []}]"},
    {"components|securitySchemes|bearerAuth",
     "{\"type\": \"http\", \"scheme\": \"bearer\", \"description\": \"An API key of the node's "
     "org (`treaty apikey create`), sent as `Authorization: Bearer <key>`. Its role (reader, "
     "writer, admin) bounds what it may do; the schema's ACLs apply to the org.\"}"},
    {NULL, NULL}};

static const struct api__oa_fragment schema_fragments[] = {
    {"components|schemas|$N{Problem}",
     "{\"type\": \"object\", \"description\": \"An RFC 9457 problem document.\","
     " \"required\": [\"type\", \"title\", \"status\"],"
     " \"properties\": {\"type\": {\"type\": \"string\", \"format\": \"uri-reference\"},"
     " \"title\": {\"type\": \"string\"}, \"status\": {\"type\": \"integer\", \"minimum\": 100,"
     " \"maximum\": 599}, \"detail\": {\"type\": \"string\"}, \"instance\": {\"type\":"
     " \"string\"}, \"tx\": {\"type\": \"string\", \"description\": \"the tx the answer is about, "
     "when there is one\"}, \"errors\": {\"type\": \"array\", \"description\": \"what was "
     "wrong, one entry each: ValidationError for records, SchemaChange for schema proposals\", "
     "\"items\": {\"type\": \"object\"}}}}"},
    {"components|schemas|$N{ValidationError}",
     "{\"type\": \"object\", \"description\": \"One schema violation.\","
     " \"required\": [\"instancePath\", \"schemaPath\", \"message\"],"
     " \"properties\": {\"instancePath\": {\"type\": \"string\", \"description\": \"JSON "
     "pointer into the request body\"}, \"schemaPath\": {\"type\": \"string\", \"description\":"
     " \"JSON pointer into the network schema\"}, \"message\": {\"type\": \"string\"}}}"},
    {"components|schemas|$N{ValidationProblem}",
     "{\"allOf\": [{\"$ref\": \"$S{Problem}\"}, {\"type\": \"object\", \"required\": "
     "[\"errors\"], \"properties\": {\"errors\": {\"type\": \"array\", \"items\": "
     "{\"$ref\": \"$S{ValidationError}\"}}}}]}"},
    {"components|schemas|$N{SchemaChange}",
     "{\"type\": \"object\", \"description\": \"One breaking change of a schema proposal.\", "
     "\"required\": [\"schemaPath\", \"rule\", \"message\"], \"properties\": {\"schemaPath\": "
     "{\"type\": \"string\"}, \"rule\": {\"type\": \"string\", \"examples\": "
     "[\"new-required-property\"]}, \"message\": {\"type\": \"string\"}}}"},
    {"components|schemas|$N{SchemaChangeProblem}",
     "{\"allOf\": [{\"$ref\": \"$S{Problem}\"}, {\"type\": \"object\", \"properties\": "
     "{\"errors\": {\"type\": \"array\", \"items\": {\"$ref\": \"$S{SchemaChange}\"}}}}]}"},
    {"components|schemas|$N{SchemaProposal}",
     "{\"type\": \"object\", \"required\": [\"schema\"], \"properties\": {\"schema\": "
     "{\"$ref\": \"$S{NetworkSchema}\"}}}"},
    {"components|schemas|$N{RecordMetadata}",
     "{\"type\": \"object\", \"description\": \"What the ledger adds to every record.\","
     " \"required\": [\"_key\", \"_version\", \"_owner\", \"_tx\", \"_height\", "
     "\"_updated_at\"], \"properties\": {"
     "\"_key\": {\"type\": \"string\", \"description\": \"the record's key\"},"
     "\"_version\": {\"type\": \"integer\", \"minimum\": 1, \"description\": \"1 for the create, "
     "one more for each write; the ETag\"},"
     "\"_owner\": {\"type\": \"string\", \"description\": \"the org that created the record\"},"
     "\"_tx\": {\"type\": \"string\", \"pattern\": \"^[0-9a-f]{32}$\", \"description\": \"the tx "
     "that wrote this version\"},"
     "\"_height\": {\"type\": \"integer\", \"minimum\": 1, \"description\": \"the block of that "
     "tx\"},"
     "\"_updated_at\": {\"type\": \"string\", \"format\": \"date-time\", \"description\": \"the "
     "block's timestamp\"}}}"},
    {"components|schemas|$N{Tombstone}",
     "{\"description\": \"The history entry of a delete.\", \"allOf\": [{\"$ref\": "
     "\"$S{RecordMetadata}\"}, {\"type\": \"object\", \"required\": [\"_deleted\"], "
     "\"properties\": {\"_deleted\": {\"const\": true}}}]}"},
    {"components|schemas|$N{TxOp}",
     "{\"type\": \"object\", \"required\": [\"op\", \"type\"], \"properties\": {"
     "\"op\": {\"type\": \"string\", \"enum\": [\"create\", \"replace\", \"patch\", "
     "\"delete\"]}, \"type\": {\"type\": \"string\", \"description\": \"a record type\"}, "
     "\"key\": {\"type\": [\"string\", \"integer\"], \"description\": \"optional for a create "
     "(the body's key field)\"}, \"body\": {\"type\": \"object\", \"description\": \"the record "
     "(create, replace) or a merge patch (patch)\"}, \"expected_version\": {\"type\": "
     "\"integer\", \"minimum\": 1, \"description\": \"the write applies only at this "
     "version\"}}}"},
    {"components|schemas|$N{TxRequest}",
     "{\"type\": \"object\", \"required\": [\"ops\"], \"properties\": {\"ops\": {\"type\": "
     "\"array\", \"minItems\": 1, \"maxItems\": 256, \"items\": {\"$ref\": \"$S{TxOp}\"}}}}"},
    {"components|schemas|$N{TxAccepted}",
     "{\"type\": \"object\", \"required\": [\"tx\", \"status\"], \"properties\": {\"tx\": "
     "{\"type\": \"string\"}, \"status\": {\"const\": \"pending\"}}}"},
    {"components|schemas|$N{TxCommitted}",
     "{\"type\": \"object\", \"required\": [\"tx\", \"status\"], \"properties\": {\"tx\": "
     "{\"type\": \"string\"}, \"status\": {\"const\": \"committed\"}}}"},
    {"components|schemas|$N{TxStatus}",
     "{\"type\": \"object\", \"required\": [\"tx\", \"status\", \"height\"], \"properties\": {"
     "\"tx\": {\"type\": \"string\"}, \"status\": {\"type\": \"string\", \"enum\": "
     "[\"committed\", \"rejected\"]}, \"reason\": {\"type\": \"string\", \"description\": "
     "\"why a rejected tx was refused: schema, acl, version, exists, notfound, duplicate, "
     "invalid or governance, then a colon and details\"}, \"height\": {\"type\": \"integer\"}, "
     "\"index\": {\"type\": \"integer\"}, \"leaf_index\": {\"type\": \"integer\"}, \"org\": "
     "{\"type\": \"string\"}, \"seq\": {\"type\": \"integer\"}, \"tree_size\": {\"type\": "
     "\"integer\"}, \"root\": {\"$ref\": \"$S{Hash}\"}, \"leaf_hash\": {\"$ref\": \"$S{Hash}\"}, "
     "\"inclusion_proof\": {\"type\": \"array\", \"items\": {\"$ref\": \"$S{Hash}\"}, "
     "\"description\": \"RFC 9162 §2.1.3 inclusion proof of the leaf in the tree of tree_size "
     "leaves\"}}}"},
    {"components|schemas|$N{Hash}",
     "{\"type\": \"string\", \"pattern\": \"^[0-9a-f]{64}$\", \"description\": \"SHA-256, "
     "lowercase hex\"}"},
    {"components|schemas|$N{InclusionProof}",
     "{\"type\": \"object\", \"description\": \"RFC 9162 §2.1.3 inclusion proof of a tx "
     "leaf.\", \"required\": [\"tx\", \"leaf_index\", \"tree_size\", \"leaf_hash\", \"root\", "
     "\"proof\"], \"properties\": {\"tx\": {\"type\": \"string\"}, \"leaf_index\": {\"type\": "
     "\"integer\"}, \"tree_size\": {\"type\": \"integer\"}, \"leaf\": {\"type\": \"string\", "
     "\"description\": \"hex of the encoded TxLeaf\"}, \"leaf_hash\": {\"$ref\": \"$S{Hash}\"}, "
     "\"root\": {\"$ref\": \"$S{Hash}\"}, \"proof\": {\"type\": \"array\", \"items\": {\"$ref\": "
     "\"$S{Hash}\"}}}}"},
    {"components|schemas|$N{ConsistencyProof}",
     "{\"type\": \"object\", \"description\": \"RFC 9162 §2.1.4 consistency proof between the "
     "trees of size1 and size2 leaves.\", \"required\": [\"size1\", \"size2\", \"root1\", "
     "\"root2\", \"proof\"], \"properties\": {\"size1\": {\"type\": \"integer\"}, \"size2\": "
     "{\"type\": \"integer\"}, \"root1\": {\"$ref\": \"$S{Hash}\"}, \"root2\": {\"$ref\": "
     "\"$S{Hash}\"}, \"proof\": {\"type\": \"array\", \"items\": {\"$ref\": \"$S{Hash}\"}}}}"},
    {"components|schemas|$N{LedgerHead}",
     "{\"type\": \"object\", \"required\": [\"height\", \"block_hash\", \"root\", "
     "\"tree_size\"], \"properties\": {\"height\": {\"type\": \"integer\"}, \"term\": {\"type\": "
     "\"integer\"}, \"timestamp_us\": {\"type\": \"integer\"}, \"block_hash\": {\"type\": "
     "\"string\"}, \"root\": {\"type\": \"string\"}, \"tree_size\": {\"type\": \"integer\"}, "
     "\"node\": {\"type\": \"object\", \"description\": \"this node: org, id, Raft role, "
     "leader, term, commit, applied, voter\"}}}"},
    {"components|schemas|$N{BlockHeader}",
     "{\"type\": \"object\", \"required\": [\"height\", \"hash\"], \"properties\": {\"height\": "
     "{\"type\": \"integer\"}, \"term\": {\"type\": \"integer\"}, \"timestamp_us\": {\"type\": "
     "\"integer\"}, \"prev_hash\": {\"type\": \"string\"}, \"batch_hash\": {\"type\": "
     "\"string\"}, \"root\": {\"type\": \"string\"}, \"tree_size\": {\"type\": \"integer\"}, "
     "\"hash\": {\"type\": \"string\"}}}"},
    {"components|schemas|$N{Checkpoint}",
     "{\"type\": \"object\", \"required\": [\"height\", \"root\"], \"properties\": {\"height\": "
     "{\"type\": \"integer\"}, \"tree_size\": {\"type\": \"integer\"}, \"root\": {\"type\": "
     "\"string\"}, \"block_hash\": {\"type\": \"string\"}, \"network_id\": {\"type\": "
     "\"string\"}, \"cosigners\": {\"type\": \"array\", \"items\": {\"type\": \"object\"}}}}"},
    {"components|schemas|$N{Members}",
     "{\"type\": \"object\", \"required\": [\"members\"], \"properties\": {\"members\": {\"type\": "
     "\"array\", \"items\": {\"type\": \"object\", \"required\": [\"org\", \"public_key\"], "
     "\"properties\": {\"org\": {\"type\": \"string\"}, \"public_key\": {\"type\": \"string\"}, "
     "\"node_id\": {\"type\": \"integer\"}, \"peer\": {\"type\": \"string\"}, \"raft\": "
     "{\"type\": \"string\", \"enum\": [\"voter\", \"learner\", \"pending\"]}}}}}}"},
    {"components|schemas|$N{ProposalRequest}",
     "{\"type\": \"object\", \"required\": [\"action\", \"org\"], \"properties\": {\"action\": "
     "{\"type\": \"string\", \"enum\": [\"add\", \"remove\"]}, \"org\": {\"type\": \"string\"}, "
     "\"public_key\": {\"type\": \"string\", \"description\": \"64 hex characters (add)\"}, "
     "\"peer\": {\"type\": \"string\", \"description\": \"HOST:PORT of its node (add)\"}}}"},
    {"components|schemas|$N{ProposalResult}",
     "{\"type\": \"object\", \"properties\": {\"proposal\": {\"type\": \"string\"}, \"tx\": "
     "{\"type\": \"string\"}, \"status\": {\"type\": \"string\"}}}"},
    {"components|schemas|$N{RotateKeyRequest}",
     "{\"type\": \"object\", \"required\": [\"public_key\"], \"properties\": {\"public_key\": "
     "{\"type\": \"string\", \"pattern\": \"^[0-9a-f]{64}$\"}}}"},
    {"components|schemas|$N{Ready}",
     "{\"type\": \"object\", \"required\": [\"ready\"], \"properties\": {\"ready\": {\"type\": "
     "\"boolean\"}, \"role\": {\"type\": \"string\"}, \"commit_index\": {\"type\": "
     "\"integer\"}, \"applied_index\": {\"type\": \"integer\"}, \"voters\": {\"type\": "
     "\"integer\"}, \"voters_connected\": {\"type\": \"integer\"}}}"},
    {"components|schemas|$N{Health}",
     "{\"type\": \"object\", \"required\": [\"status\"], \"properties\": {\"status\": {\"const\": "
     "\"ok\"}}}"},
    {NULL, NULL}};

#define OA_PROBLEM "{\"application/problem+json\": {\"schema\": {\"$ref\": \"$S{Problem}\"}}}"

static const struct api__oa_fragment response_fragments[] = {
    {"components|responses|BadRequest",
     "{\"description\": \"The request is malformed (JSON, query, path or header); nothing was "
     "changed\", \"content\": " OA_PROBLEM "}"},
    {"components|responses|Unauthorized",
     "{\"description\": \"No valid API key: missing, malformed, unknown or revoked\", "
     "\"headers\": {\"WWW-Authenticate\": {\"description\": \"Bearer realm=\\\"treaty\\\"\", "
     "\"schema\": {\"type\": \"string\"}}}, \"content\": " OA_PROBLEM "}"},
    {"components|responses|Forbidden",
     "{\"description\": \"The key's role or the schema's ACL forbids this; the detail names "
     "the rule\", \"content\": " OA_PROBLEM "}"},
    {"components|responses|NotFound",
     "{\"description\": \"No such record, version, type or route\", \"content\": " OA_PROBLEM "}"},
    {"components|responses|Conflict",
     "{\"description\": \"The record already exists, or the tx was applied already\", "
     "\"content\": " OA_PROBLEM "}"},
    {"components|responses|PreconditionFailed",
     "{\"description\": \"If-Match names a version that is not the current one; nothing was "
     "written\", \"content\": " OA_PROBLEM "}"},
    {"components|responses|PayloadTooLarge",
     "{\"description\": \"The body is over the node's limit\", \"content\": " OA_PROBLEM "}"},
    {"components|responses|HeadersTooLarge",
     "{\"description\": \"The request head is over the node's limit\", \"content\": " OA_PROBLEM
     "}"},
    {"components|responses|UnsupportedMediaType",
     "{\"description\": \"The Content-Type is not one this route takes\", \"content\": " OA_PROBLEM
     "}"},
    {"components|responses|ValidationFailed",
     "{\"description\": \"The body violates the schema: every violation is listed in "
     "`errors`\", \"content\": {\"application/problem+json\": {\"schema\": {\"$ref\": "
     "\"$S{ValidationProblem}\"}}}}"},
    {"components|responses|Unavailable",
     "{\"description\": \"The node cannot take the request now (too many pending writes, no "
     "leader); retry later. Or a write was not committed within `limits.write_timeout_ms` "
     "(`commit-timeout`, with its `tx`): it may still commit, `GET /v1/tx/{id}` says whether it "
     "did\", \"content\": " OA_PROBLEM "}"},
    {"components|responses|Accepted",
     "{\"description\": \"Sent with `Prefer: wait=none`: the tx is submitted, not yet "
     "committed; follow Location for its status\", \"headers\": {\"Location\": {\"$ref\": "
     "\"#/components/headers/Location\"}, \"Preference-Applied\": {\"description\": "
     "\"wait=none\", \"schema\": {\"type\": \"string\"}}}, \"content\": {\"application/json\": "
     "{\"schema\": "
     "{\"$ref\": \"$S{TxAccepted}\"}}}}"},
    {"components|headers|ETag",
     "{\"description\": \"The record's version as a strong entity tag, e.g. \\\"3\\\"\", "
     "\"schema\": {\"type\": \"string\", \"pattern\": \"^\\\"[1-9][0-9]*\\\"$\"}}"},
    {"components|headers|Location",
     "{\"description\": \"/v1/tx/{id} of the submitted tx\", \"schema\": {\"type\": "
     "\"string\"}}"},
    {NULL, NULL}};

static const struct api__oa_fragment parameter_fragments[] = {
    {"components|parameters|IfMatch",
     "{\"name\": \"If-Match\", \"in\": \"header\", \"description\": \"Write only if the record "
     "is at this version (its ETag, quotes included); 412 otherwise\", \"schema\": {\"type\": "
     "\"string\", \"pattern\": \"^\\\"[1-9][0-9]*\\\"$\"}}"},
    {"components|parameters|IdempotencyKey",
     "{\"name\": \"Idempotency-Key\", \"in\": \"header\", \"description\": \"A retry with the "
     "same key gets the first attempt's answer and writes nothing more\", \"schema\": "
     "{\"type\": \"string\", \"minLength\": 1, \"maxLength\": 128}}"},
    {"components|parameters|Prefer",
     "{\"name\": \"Prefer\", \"in\": \"header\", \"description\": \"`wait=none`: answer 202 "
     "with the tx id as soon as it is submitted, instead of waiting for commit and apply\", "
     "\"schema\": {\"type\": \"string\", \"examples\": [\"wait=none\"]}}"},
    {"components|parameters|Consistency",
     "{\"name\": \"consistency\", \"in\": \"query\", \"description\": \"`linearizable`: read "
     "through the Raft leader's ReadIndex, so the answer reflects every write committed before "
     "the request; by default reads are answered from this node's copy\", \"schema\": "
     "{\"type\": \"string\", \"enum\": [\"local\", \"linearizable\"]}}"},
    {"components|parameters|Limit",
     "{\"name\": \"limit\", \"in\": \"query\", \"description\": \"Page size\", \"schema\": "
     "{\"type\": \"integer\", \"minimum\": 1, \"maximum\": 1000, \"default\": 100}}"},
    {"components|parameters|Cursor",
     "{\"name\": \"cursor\", \"in\": \"query\", \"description\": \"`next_cursor` of the previous "
     "page; the next page starts strictly after its last record\", \"schema\": {\"type\": "
     "\"string\"}}"},
    {"components|parameters|Version",
     "{\"name\": \"version\", \"in\": \"query\", \"description\": \"A past version (default: the "
     "current one)\", \"schema\": {\"type\": \"integer\", \"minimum\": 1}}"},
    {"components|parameters|AfterVersion",
     "{\"name\": \"after_version\", \"in\": \"query\", \"description\": \"`next_after_version` "
     "of the previous page\", \"schema\": {\"type\": \"integer\", \"minimum\": 0}}"},
    {NULL, NULL}};

/* The schema's own components: record types, definitions, other $ref targets. */
static int put_described(struct api__oa *oa, char *errmsg, size_t errlen)
{
    size_t n = json_object_size(oa->taken);
    const char **reserved = tr_calloc(n + 1, sizeof *reserved);
    if (!reserved)
        return TR_ENOMEM;
    size_t i = 0;
    const char *k;
    json_t *v;
    json_object_foreach(oa->taken, k, v)
    {
        reserved[i++] = k;
    }
    json_t *described = NULL;
    int rc = schema_network_describe(oa->n, OA_SCHEMAS, reserved, &described, errmsg, errlen);
    tr_free(reserved);
    if (rc != TR_OK)
        return rc;
    json_t *schemas = api__oa_at(oa->doc, "components|schemas");
    rc = schemas && json_object_update(schemas, described) == 0 ? TR_OK : TR_ENOMEM;
    json_decref(described);
    return rc;
}

static int openapi_build(const struct schema_network *n, json_t **out, char *errmsg, size_t errlen);

static int oa_build(struct api__oa *oa, char *errmsg, size_t errlen)
{
    int rc = oa_names(oa);
    if (rc == TR_OK)
        rc = api__oa_put_all(oa, doc_fragments, NULL);
    if (rc == TR_OK)
        rc = put_described(oa, errmsg, errlen);
    if (rc == TR_OK)
        rc = api__oa_put_all(oa, schema_fragments, NULL);
    if (rc == TR_OK)
        rc = api__oa_put_all(oa, response_fragments, NULL);
    if (rc == TR_OK)
        rc = api__oa_put_all(oa, parameter_fragments, NULL);
    if (rc == TR_OK)
        rc = api__oa_paths(oa);
    for (size_t i = 0; rc == TR_OK && i < schema_network_type_count(oa->n); i++)
        rc = api__oa_type(oa, schema_network_type_at(oa->n, i));
    if (rc == TR_OK)
        rc = api__oa_roles(oa);
    if (rc == TR_ENOMEM && errmsg && errlen)
        snprintf(errmsg, errlen, "out of memory building the OpenAPI document");
    return rc;
}

/* The network loaded again from its document with sorted keys, so the document built from it
 * does not depend on the order of members in the file (a node's own genesis copy is stored in
 * canonical, sorted form; the file a network was created from need not be). */
static int canonical_network(const struct schema_network *n, struct schema_network **out,
                             char *errmsg, size_t errlen)
{
    char *text = json_dumps(schema_network_doc(n), JSON_COMPACT | JSON_SORT_KEYS);
    json_t *doc = text ? json_loads(text, 0, NULL) : NULL;
    free(text);
    if (!doc)
        return TR_ENOMEM;
    /* The schema was accepted already (under limits the caller chose): no bound of ours applies. */
    struct schema_limits lim;
    schema_limits_default(&lim);
    lim.max_depth = lim.max_schema_nodes = lim.max_doc_bytes = (size_t)1 << 40;
    int rc = schema_network_load(doc, &lim, out, errmsg, errlen);
    json_decref(doc);
    return rc;
}

int api_openapi_build(const struct schema_network *n, json_t **out, char *errmsg, size_t errlen)
{
    struct schema_network *cn = NULL;
    *out = NULL;
    int rc = canonical_network(n, &cn, errmsg, errlen);
    if (rc != TR_OK)
        return rc;
    rc = openapi_build(cn, out, errmsg, errlen);
    schema_network_destroy(cn);
    return rc;
}

static int openapi_build(const struct schema_network *n, json_t **out, char *errmsg, size_t errlen)
{
    struct api__oa oa = {.n = n};
    *out = NULL;
    if (errmsg && errlen)
        errmsg[0] = '\0';
    oa.doc = json_object();
    oa.names = json_object();
    oa.taken = json_object();
    int rc = oa.doc && oa.names && oa.taken ? oa_build(&oa, errmsg, errlen) : TR_ENOMEM;
    json_decref(oa.names);
    json_decref(oa.taken);
    if (rc != TR_OK) {
        json_decref(oa.doc);
        return rc;
    }
    *out = oa.doc;
    return TR_OK;
}

int api_openapi_text(const struct schema_network *n, char **text, size_t *len, char *errmsg,
                     size_t errlen)
{
    json_t *doc = NULL;
    *text = NULL;
    int rc = api_openapi_build(n, &doc, errmsg, errlen);
    if (rc != TR_OK)
        return rc;
    char *s = json_dumps(doc, JSON_INDENT(2) | JSON_ENSURE_ASCII);
    json_decref(doc);
    size_t n_bytes = s ? strlen(s) : 0;
    char *t = s ? malloc(n_bytes + 2) : NULL;
    if (!t) {
        free(s);
        if (errmsg && errlen)
            snprintf(errmsg, errlen, "out of memory writing the OpenAPI document");
        return TR_ENOMEM;
    }
    memcpy(t, s, n_bytes);
    t[n_bytes] = '\n';
    t[n_bytes + 1] = '\0';
    free(s);
    *text = t;
    if (len)
        *len = n_bytes + 1;
    return TR_OK;
}
