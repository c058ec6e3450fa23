/* openapi_paths.c — the operations of the OpenAPI document (openapi.c builds the rest): per record
 * type create, get, replace, merge-patch, delete, list and history with their record, patch, page
 * and history schemas; and the fixed routes (transactions, ledger, proofs, members, events,
 * schema, operations). Templates use ${T} for the type and $S{…} for schema $refs. */
#include "api/api_int.h"

#include "common/alloc.h"
#include "common/err.h"

#include <stdio.h>
#include <string.h>

#define RESP(code, name) "\"" #code "\": {\"$ref\": \"#/components/responses/" #name "\"}"
#define R202             RESP(202, Accepted)
#define R400             RESP(400, BadRequest)
#define R401             RESP(401, Unauthorized)
#define R403             RESP(403, Forbidden)
#define R404             RESP(404, NotFound)
#define R409             RESP(409, Conflict)
#define R412             RESP(412, PreconditionFailed)
#define R413             RESP(413, PayloadTooLarge)
#define R415             RESP(415, UnsupportedMediaType)
#define R422             RESP(422, ValidationFailed)
#define R503             RESP(503, Unavailable)
#define R431             RESP(431, HeadersTooLarge)
#define PARAM(name)      "{\"$ref\": \"#/components/parameters/" #name "\"}"
#define WRITE_PARAMS     PARAM(IdempotencyKey) ", " PARAM(Prefer)
#define ETAG             "\"headers\": {\"ETag\": {\"$ref\": \"#/components/headers/ETag\"}}"
#define JSON_OF(s)       "{\"application/json\": {\"schema\": {\"$ref\": \"" s "\"}}}"

static const struct api__oa_fragment type_fragments[] = {
    {"paths|/v1/data/${T}|post",
     "{\"operationId\": \"create${T}\", \"tags\": [\"${T}\"], \"summary\": \"Create a ${T}\", "
     "\"description\": \"Validates the record against the schema, submits it and waits for "
     "commit and local apply.\", \"parameters\": [" WRITE_PARAMS "], "
     "\"requestBody\": {\"required\": true, \"content\": " JSON_OF(
         "$S{T}") "}, "
                  "\"responses\": {\"201\": {\"description\": \"Created: the record and its "
                  "metadata\", " ETAG ", \"content\": " JSON_OF(
                      "$S{T.Record}") "}, " R202 ", " R400 ", " R401 ", " R403 ", " R409 ", " R413
                                      ", " R415 ", " R422 ", " R503 "}}"},
    {"paths|/v1/data/${T}|get",
     "{\"operationId\": \"list${T}\", \"tags\": [\"${T}\"], \"summary\": \"List ${T} records\", "
     "\"description\": \"The current records ordered by key (or by `order_by`), filtered by "
     "one indexed field per request: `field=value` for equality, or `field.gt`, `field.gte`, "
     "`field.lt`, `field.lte` for a range (ordered by that field). Records the caller's org may "
     "not read are left out.\", "
     "\"parameters\": [" PARAM(Limit) ", " PARAM(Cursor) ", " PARAM(
         Consistency) "], \"responses\": {\"200\": {\"description\": \"A page of records\", "
                      "\"content\": " JSON_OF("$S{T.Page}") "}, " R400 ", " R401 ", " R403 "}}"},
    {"paths|/v1/data/${T}/{key}|get",
     "{\"operationId\": \"get${T}\", \"tags\": [\"${T}\"], \"summary\": \"Read a ${T}\", "
     "\"parameters\": [" PARAM(Version) ", " PARAM(
         Consistency) "], \"responses\": {\"200\": "
                      "{\"description\": \"The record (fields the caller's org may not read are "
                      "left out)\", " ETAG ", \"content\": " JSON_OF(
                          "$S{T.Record}") "}, " R400 ", " R401 ", " R403 ", " R404 "}}"},
    {"paths|/v1/data/${T}/{key}|put",
     "{\"operationId\": \"replace${T}\", \"tags\": [\"${T}\"], \"summary\": \"Replace a ${T}\", "
     "\"parameters\": [" PARAM(
         IfMatch) ", " WRITE_PARAMS "], \"requestBody\": {\"required\": "
                  "true, \"content\": " JSON_OF(
                      "$S{T}") "}, \"responses\": {\"200\": {\"description\": "
                               "\"Replaced: the new version\", " ETAG ", \"content\": " JSON_OF(
                                   "$S{T.Record}") "}, " R202 ", " R400 ", " R401 ", " R403
                                                   ", " R404 ", " R409 ", " R412 ", " R413 ", " R415
                                                   ", " R422 ", " R503 "}}"},
    {"paths|/v1/data/${T}/{key}|patch",
     "{\"operationId\": \"patch${T}\", \"tags\": [\"${T}\"], \"summary\": \"Merge-patch a "
     "${T}\", \"description\": \"A JSON Merge Patch (RFC 7396): members set to null are removed, "
     "others replace or merge into the current record; the result is validated at apply. It "
     "may not change the key field.\", \"parameters\": [" PARAM(
         IfMatch) ", " WRITE_PARAMS "], "
                  "\"requestBody\": {\"required\": true, \"content\": "
                  "{\"application/merge-patch+json\": "
                  "{\"schema\": {\"$ref\": \"$S{T.Patch}\"}}, \"application/json\": {\"schema\": "
                  "{\"$ref\": "
                  "\"$S{T.Patch}\"}}}}, \"responses\": {\"200\": {\"description\": \"Patched: the "
                  "new "
                  "version\", " ETAG ", \"content\": " JSON_OF(
                      "$S{T.Record}") "}, " R202 ", " R400 ", " R401 ", " R403 ", " R404 ", " R409
                                      ", " R412 ", " R413 ", " R415 ", " R422 ", " R503 "}}"},
    {"paths|/v1/data/${T}/{key}|delete",
     "{\"operationId\": \"delete${T}\", \"tags\": [\"${T}\"], \"summary\": \"Delete a ${T}\", "
     "\"parameters\": [" PARAM(IfMatch) ", " WRITE_PARAMS "], \"responses\": {\"200\": "
                                        "{\"description\": \"Deleted\", \"content\": " JSON_OF(
                                            "$S{TxCommitted}") "}, " R202 ", " R400 ", " R401
                                                               ", " R403 ", " R404 ", " R409
                                                               ", " R412 ", " R503 "}}"},
    {"paths|/v1/data/${T}/{key}/history|get",
     "{\"operationId\": \"get${T}History\", \"tags\": [\"${T}\"], \"summary\": \"Every version "
     "of a ${T}\", \"description\": \"Oldest first; a delete is a final tombstone entry, so a "
     "deleted record's history still answers.\", \"parameters\": [" PARAM(Limit) ", " PARAM(
         AfterVersion) ", " PARAM(Consistency) "], \"responses\": {\"200\": {\"description\": "
                                               "\"A page of versions\", \"content\": " JSON_OF(
                                                   "$S{T.History}") "}, " R400 ", " R401 ", " R403
                                                                    ", " R404 "}}"},
    {"components|schemas|$N{T.Page}",
     "{\"type\": \"object\", \"required\": [\"items\"], \"properties\": {\"items\": {\"type\": "
     "\"array\", \"items\": {\"$ref\": \"$S{T.Record}\"}}, \"next_cursor\": {\"type\": "
     "\"string\", \"description\": \"present when more records remain\"}}}"},
    {"components|schemas|$N{T.History}",
     "{\"type\": \"object\", \"required\": [\"versions\"], \"properties\": {\"versions\": "
     "{\"type\": \"array\", \"items\": {\"anyOf\": [{\"$ref\": \"$S{T.Record}\"}, {\"$ref\": "
     "\"$S{Tombstone}\"}]}}, \"next_after_version\": {\"type\": \"integer\", \"description\": "
     "\"present when more versions remain\"}}}"},
    {NULL, NULL}};

#define GET_OP(id, tag, summary, params, code, schema, more)                                       \
    "{\"operationId\": \"" id "\", \"tags\": [\"" tag "\"], \"summary\": \"" summary "\", "        \
    "\"parameters\": [" params "], \"responses\": {\"" #code "\": {\"description\": \"" summary    \
    "\", \"content\": " JSON_OF(schema) "}" more "}}"

static const struct api__oa_fragment fixed_fragments[] = {
    {"paths|/v1/tx|post",
     "{\"operationId\": \"submitTx\", \"tags\": [\"transactions\"], \"summary\": \"Submit an "
     "atomic transaction\", \"description\": \"1 to 256 ops applied all or nothing. The answer "
     "is the first op's, as for its single-record route.\", \"parameters\": [" WRITE_PARAMS "], "
     "\"requestBody\": {\"required\": true, \"content\": " JSON_OF(
         "$S{TxRequest}") "}, "
                          "\"responses\": {\"200\": {\"description\": \"Committed\", \"content\": "
                          "{\"application/json\": "
                          "{\"schema\": {\"type\": \"object\"}}}}, \"201\": {\"description\": "
                          "\"Committed; the first "
                          "op created a record\", \"content\": {\"application/json\": {\"schema\": "
                          "{\"type\": "
                          "\"object\"}}}}, " R202 ", " R400 ", " R401 ", " R403 ", " R404 ", " R409
                          ", " R412 ", " R413 ", " R415 ", " R422 ", " R503 "}}"},
    {"paths|/v1/tx/{id}|get",
     "{\"operationId\": \"getTx\", \"tags\": [\"transactions\"], \"summary\": \"A tx's outcome "
     "and inclusion proof\", \"parameters\": [{\"name\": \"id\", \"in\": \"path\", \"required\": "
     "true, \"schema\": {\"type\": \"string\", \"pattern\": \"^[0-9a-f]{32}$\"}}], "
     "\"responses\": {\"200\": {\"description\": \"The tx's status\", \"content\": " JSON_OF(
         "$S{TxStatus}") "}, " R400 ", " R401 ", " R403 ", " R404 "}}"},
    {"paths|/v1/ledger/head|get", GET_OP("getLedgerHead", "ledger", "The ledger head", "", 200,
                                         "$S{LedgerHead}", ", " R401 ", " R403)},
    {"paths|/v1/ledger/blocks/{height}|get",
     GET_OP("getBlock", "ledger", "A block header",
            "{\"name\": \"height\", \"in\": \"path\", \"required\": true, \"schema\": "
            "{\"type\": \"integer\", \"minimum\": 1}}",
            200, "$S{BlockHeader}", ", " R400 ", " R401 ", " R403 ", " R404)},
    {"paths|/v1/ledger/checkpoints/latest|get",
     GET_OP("getLatestCheckpoint", "ledger", "The latest checkpoint and its cosigners", "", 200,
            "$S{Checkpoint}", ", " R401 ", " R403 ", " R404)},
    {"paths|/v1/ledger/proofs/inclusion|get",
     GET_OP("getInclusionProof", "ledger", "An RFC 9162 inclusion proof of a tx",
            "{\"name\": \"tx\", \"in\": \"query\", \"required\": true, \"schema\": {\"type\": "
            "\"string\", \"pattern\": \"^[0-9a-f]{32}$\"}}, {\"name\": \"tree_size\", \"in\": "
            "\"query\", \"schema\": {\"type\": \"integer\", \"minimum\": 1}}",
            200, "$S{InclusionProof}", ", " R400 ", " R401 ", " R403 ", " R404)},
    {"paths|/v1/ledger/proofs/consistency|get",
     GET_OP("getConsistencyProof", "ledger", "An RFC 9162 consistency proof",
            "{\"name\": \"first\", \"in\": \"query\", \"required\": true, \"schema\": {\"type\": "
            "\"integer\", \"minimum\": 1}}, {\"name\": \"second\", \"in\": \"query\", "
            "\"required\": true, \"schema\": {\"type\": \"integer\", \"minimum\": 1}}",
            200, "$S{ConsistencyProof}", ", " R400 ", " R401 ", " R403 ", " R404)},
    {"paths|/v1/ledger/export|get",
     "{\"operationId\": \"exportLedger\", \"tags\": [\"ledger\"], \"summary\": \"The "
     "audit export\", \"description\": \"A stream of length-delimited treaty.audit.ExportRecord "
     "messages (docs/audit.proto): the genesis, every block of the range with its raft entry and "
     "leaves, the checkpoints with their cosignatures, an end record. Verify it offline with "
     "`treaty audit verify` (docs/audit.md).\", \"parameters\": [{\"name\": \"from\", "
     "\"in\": \"query\", \"schema\": {\"type\": \"integer\", \"minimum\": 1}}, "
     "{\"name\": \"to\", \"in\": \"query\", \"schema\": {\"type\": \"integer\", "
     "\"minimum\": 1}}], \"responses\": {\"200\": {\"description\": \"The export\", "
     "\"content\": {\"application/vnd.treaty.audit-export\": {\"schema\": {\"type\": "
     "\"string\", \"format\": \"binary\"}}}}, " R400 ", " R401 ", " R403 ", " R404 "}}"},
    {"paths|/v1/members|get", GET_OP("listMembers", "members", "The network's member orgs", "", 200,
                                     "$S{Members}", ", " R401 ", " R403)},
    {"paths|/v1/members/proposals|post",
     "{\"operationId\": \"proposeMembership\", \"tags\": [\"members\"], \"summary\": \"Propose "
     "adding or removing an org\", \"description\": \"Takes effect once more than half of the "
     "orgs approved (the proposer's approval is implied).\", \"requestBody\": {\"required\": "
     "true, \"content\": " JSON_OF(
         "$S{ProposalRequest}") "}, \"responses\": {\"201\": "
                                "{\"description\": \"Proposed\", \"content\": " JSON_OF(
                                    "$S{ProposalResult}") "}, " R400 ", " R401 ", " R403 ", " R409
                                                          ", " R422 "}}"},
    {"paths|/v1/members/proposals/{id}/approve|post",
     "{\"operationId\": \"approveProposal\", \"tags\": [\"members\"], \"summary\": \"Approve a "
     "proposal\", \"parameters\": [{\"name\": \"id\", \"in\": \"path\", \"required\": true, "
     "\"schema\": {\"type\": \"string\", \"pattern\": \"^[0-9a-f]{32}$\"}}], \"responses\": "
     "{\"200\": {\"description\": \"Approved\", \"content\": " JSON_OF(
         "$S{ProposalResult}") "}, "
                               "" R400 ", " R401 ", " R403 ", " R404 ", " R409 "}}"},
    {"paths|/v1/members/rotate-key|post",
     "{\"operationId\": \"rotateKey\", \"tags\": [\"members\"], \"summary\": \"Switch this org "
     "to its prepared next key\", \"requestBody\": {\"required\": true, \"content\": " JSON_OF(
         "$S{RotateKeyRequest}") "}, \"responses\": {\"200\": {\"description\": \"Rotated\", "
                                 "\"content\": " JSON_OF("$S{ProposalResult}") "}, " R400 ", " R401
                                                                               ", " R403 ", " R409
                                                                               ", " R422 "}}"},
    {"paths|/v1/events|get",
     "{\"operationId\": \"streamEvents\", \"tags\": [\"events\"], \"summary\": \"Server-Sent "
     "Events of committed changes\", \"description\": \"One `change` event per committed record "
     "change the caller's org may read, with id `height.index` and one line of JSON data: "
     "type, key, op (create, replace, patch, delete), version, owner, org, tx, height, index "
     "and record (null for a delete). Resume with Last-Event-ID or `from`; a client too far "
     "behind gets an `error` event, then the stream ends.\", \"parameters\": [{\"name\": "
     "\"from\", \"in\": \"query\", \"description\": \"start after this event id (`0`: from "
     "genesis)\", \"schema\": {\"type\": \"string\", \"pattern\": "
     "\"^[0-9]+(\\\\.[0-9]+)?$\"}}, {\"name\": \"types\", \"in\": \"query\", \"description\": "
     "\"comma-separated record types\", \"schema\": {\"type\": \"string\"}}, {\"name\": "
     "\"Last-Event-ID\", \"in\": \"header\", \"schema\": {\"type\": \"string\"}}], "
     "\"responses\": {\"200\": {\"description\": \"The event stream\", \"content\": "
     "{\"text/event-stream\": {\"schema\": {\"type\": \"string\"}}}}, " R400 ", " R401 ", " R403
     ", " R503 "}}"},
    {"paths|/v1/schema|get",
     GET_OP("getSchema", "schema", "The network schema (JSON Schema draft-07), as in the genesis",
            "", 200, "$S{NetworkSchema}", ", " R401 ", " R403)},
    {"paths|/v1/schema/proposals|post",
     "{\"operationId\": \"proposeSchema\", \"tags\": [\"schema\"], \"summary\": \"Propose the "
     "network's next schema\", \"description\": \"The whole next document. Refused at once "
     "(422, nothing ordered) when it does not load, equals the schema in force, or changes "
     "anything in a breaking way: `errors` lists each breaking change. It takes effect when more "
     "than half of the orgs approved and it is still compatible at that block.\", "
     "\"requestBody\": {\"required\": true, \"content\": " JSON_OF(
         "$S{SchemaProposal}") "}, "
                               "\"responses\": {\"201\": {\"description\": \"Proposed\", "
                               "\"content\": " JSON_OF(
                                   "$S{ProposalResult}") "}, " R400 ", " R401 ", " R403 ", " R409
                                                         ", " R413 ", " R415
                                                         ", \"422\": {\"description\": \"Not a "
                                                         "usable or compatible next schema\", "
                                                         "\"content\": "
                                                         "{\"application/problem+json\": "
                                                         "{\"schema\": {\"$ref\": "
                                                         "\"$S{SchemaChangeProblem}\"}}}}}}"},
    {"paths|/v1/schema/proposals/{id}/approve|post",
     "{\"operationId\": \"approveSchema\", \"tags\": [\"schema\"], \"summary\": \"Approve a "
     "schema proposal\", \"parameters\": [{\"name\": \"id\", \"in\": \"path\", \"required\": "
     "true, \"schema\": {\"type\": \"string\", \"pattern\": \"^[0-9a-f]{32}$\"}}], "
     "\"responses\": {\"200\": {\"description\": \"Approved\", \"content\": " JSON_OF(
         "$S{ProposalResult}") "}, " R400 ", " R401 ", " R403 ", " R404 ", " R409 "}}"},
    {"components|schemas|$N{NetworkSchema}",
     "{\"type\": \"object\", \"description\": \"A JSON Schema draft-07 document whose top-level "
     "array properties are the record types\"}"},
    {"paths|/v1/openapi.json|get",
     "{\"operationId\": \"getOpenAPI\", \"tags\": [\"schema\"], \"summary\": \"This "
     "document\", \"responses\": {\"200\": {\"description\": \"The OpenAPI 3.1 document\", "
     "\"content\": {\"application/json\": {\"schema\": {\"type\": \"object\"}}}}, " R401 ", " R403
     "}}"},
    {"paths|/healthz|get", "{\"operationId\": \"healthz\", \"tags\": [\"operations\"], "
                           "\"summary\": \"Liveness\", \"security\": [], \"responses\": "
                           "{\"200\": {\"description\": \"The process serves\", "
                           "\"content\": " JSON_OF("$S{Health}") "}, " R431 "}}"},
    {"paths|/readyz|get",
     "{\"operationId\": \"readyz\", \"tags\": [\"operations\"], \"summary\": \"Readiness\", "
     "\"description\": \"Ready: a leader is known, a majority of voters is connected, and the "
     "applied index is close to the commit index.\", \"security\": [], \"responses\": "
     "{\"200\": {\"description\": \"Ready\", \"content\": " JSON_OF(
         "$S{Ready}") "}, \"503\": "
                      "{\"description\": \"Not ready; the detail names the failing condition\", "
                      "\"content\": "
                      "{\"application/problem+json\": {\"schema\": {\"$ref\": "
                      "\"$S{Problem}\"}}}}, " R431 "}}"},
    {"paths|/metrics|get",
     "{\"operationId\": \"metrics\", \"tags\": [\"operations\"], \"summary\": \"Prometheus "
     "metrics\", \"security\": [], \"responses\": {\"200\": {\"description\": \"Text exposition "
     "format 0.0.4\", \"content\": {\"text/plain\": {\"schema\": {\"type\": \"string\"}}}}, " R431
     "}}"},
    {NULL, NULL}};

static const char *const fixed_tags[][2] = {
    {"transactions", "Atomic multi-record transactions and their receipts"},
    {"ledger", "The hash-chained blocks, the Merkle tree and its proofs, checkpoints"},
    {"members", "Member orgs and membership governance"},
    {"events", "The stream of committed changes"},
    {"schema", "The network schema and this document"},
    {"operations", "Health, readiness and metrics (no API key needed)"}};

int api__oa_paths(struct api__oa *oa)
{
    int rc = api__oa_put_all(oa, fixed_fragments, NULL);
    json_t *tags = rc == TR_OK ? api__oa_tags(oa) : NULL;
    for (size_t i = 0; tags && i < sizeof fixed_tags / sizeof fixed_tags[0]; i++)
        if (json_array_append_new(tags, json_pack("{s:s, s:s}", "name", fixed_tags[i][0],
                                                  "description", fixed_tags[i][1])) != 0)
            return TR_ENOMEM;
    /* TxOp.type names the record types. */
    json_t *types = json_array();
    for (size_t i = 0; types && i < schema_network_type_count(oa->n); i++)
        json_array_append_new(types, json_string(schema_network_type_at(oa->n, i)->name));
    char at[200];
    snprintf(at, sizeof at, "components|schemas|%s|properties|type", api__oa_name(oa, "TxOp"));
    json_t *ty = api__oa_at(oa->doc, at);
    if (rc != TR_OK || !tags || !types || !ty) {
        json_decref(types);
        return TR_ENOMEM;
    }
    return json_object_set_new(ty, "enum", types) == 0 ? TR_OK : TR_ENOMEM;
}

int api__oa_type(struct api__oa *oa, const struct schema_type *t)
{
    int rc = api__oa_put_all(oa, type_fragments, t->name);
    if (rc == TR_OK)
        rc = api__oa_record(oa, t);
    if (rc == TR_OK)
        rc = api__oa_list_params(oa, t);
    json_t *tags = rc == TR_OK ? api__oa_tags(oa) : NULL;
    char desc[256];
    snprintf(desc, sizeof desc, "Records of type %s, keyed by %s", t->name, t->key_field);
    if (!tags || json_array_append_new(
                     tags, json_pack("{s:s, s:s}", "name", t->name, "description", desc)) != 0)
        return TR_ENOMEM;
    /* The {key} path parameter, typed as the key field. */
    json_t *key =
        json_pack("[{s:s, s:s, s:b, s:s, s:{s:s}}]", "name", "key", "in", "path", "required", 1,
                  "description", "the record's key (its key field's value)", "schema", "type",
                  t->key_kind == SCHEMA_KEY_INTEGER ? "integer" : "string");
    char at[200];
    snprintf(at, sizeof at, "paths|/v1/data/%s/{key}", t->name);
    json_t *item = api__oa_at(oa->doc, at);
    snprintf(at, sizeof at, "paths|/v1/data/%s/{key}/history", t->name);
    json_t *hist = api__oa_at(oa->doc, at);
    if (!key || !item || !hist || json_object_set(item, "parameters", key) != 0 ||
        json_object_set(hist, "parameters", key) != 0) {
        json_decref(key);
        return TR_ENOMEM;
    }
    json_decref(key);
    return TR_OK;
}
