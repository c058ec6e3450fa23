/* fuzz_api_route_body.c — libFuzzer target `fuzz-api-route-body`: the body handling of each write
 * route. Input byte 0 picks the route (record create, replace, merge patch, POST /v1/tx, schema
 * proposal, the integer-keyed and ACL'd types, the test entry hook), byte 1 the optional headers
 * (Prefer: wait=none, Idempotency-Key, writer or admin key); the rest is the body, sent with a
 * correct Content-Length. Invariant: exactly one answer, of a documented status; a submit reached
 * the backend only with a tx whose record ops name a schema type and a key, and whose create and
 * replace bodies are valid records carrying that key. */
#include "tests/fuzz/fuzz.h"
#include "tests/fuzz/fuzz_api.h"

#include "api/api_int.h"
#include "common/err.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct route {
    const char *method, *path, *ctype;
} routes[] = {
    {"POST", "/v1/data/Item", "application/json"},
    {"PUT", "/v1/data/Item/a1", "application/json"},
    {"PATCH", "/v1/data/Item/a1", "application/merge-patch+json"},
    {"POST", "/v1/tx", "application/json"},
    {"POST", "/v1/schema/proposals", "application/json"},
    {"POST", "/v1/data/Counter", "application/json"},
    {"PUT", "/v1/data/Secret/x", "application/json; charset=utf-8"},
    {"POST", "/v1/_test/entry", "application/json"},
};
#define N_ROUTES (sizeof routes / sizeof routes[0])

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_api_harness();
    return 0;
}

static bool status_documented(int s)
{
    static const int ok[] = {200, 201, 202, 400, 403, 404, 409, 412, 413, 415, 422};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
        if (s == ok[i])
            return true;
    return false;
}

/* One record op of a submitted tx. */
static void check_op(const struct schema_network *n, const json_t *op)
{
    fuzz_check(json_is_object(op));
    const char *kind = json_string_value(json_object_get(op, "op"));
    const char *type = json_string_value(json_object_get(op, "type"));
    const char *key = json_string_value(json_object_get(op, "key"));
    fuzz_check(kind && type && key);
    fuzz_check(key[0] != '\0' && strlen(key) <= API__KEY_MAX_BYTES);
    const struct schema_type *t = schema_network_type_find(n, type);
    fuzz_check(t != NULL);
    if (strcmp(kind, "create") != 0 && strcmp(kind, "replace") != 0) {
        fuzz_check(strcmp(kind, "patch") == 0 || strcmp(kind, "delete") == 0);
        return;
    }
    const json_t *body = json_object_get(op, "body");
    fuzz_check(schema_validate(schema_network_compiled(n), t->node, body, NULL) == TR_OK);
    char body_key[API__KEY_MAX_BYTES + 1];
    fuzz_check(api__key_text(json_object_get(body, t->key_field), body_key) == TR_OK);
    fuzz_check(strcmp(body_key, key) == 0);
}

static void check_submitted(const struct harness *hs)
{
    json_error_t jerr;
    json_t *tx = json_loads(hs->fb.last_tx, 0, &jerr);
    fuzz_check(json_is_object(tx));
    const json_t *ops = json_object_get(tx, "ops");
    if (ops) {
        fuzz_check(json_is_array(ops));
        fuzz_check(json_array_size(ops) >= 1 && json_array_size(ops) <= API__TX_OPS_MAX);
        for (size_t i = 0; i < json_array_size(ops); i++)
            check_op(hs->schema, json_array_get(ops, i));
    }
    json_decref(tx);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    const struct route *rt = &routes[data[0] % N_ROUTES];
    uint8_t flags = data[1];
    const uint8_t *body = data + 2;
    size_t body_len = size - 2;
    static char req[2 * FUZZ_API_BODY_MAX + 1024];
    if (body_len > sizeof req - 1024)
        body_len = sizeof req - 1024; /* still over body_max: the 413 edge */
    int n = snprintf(req, 1024,
                     "%s %s HTTP/1.1\r\nHost: fuzz\r\nAuthorization: Bearer %s\r\n"
                     "Content-Type: %s\r\nContent-Length: %zu\r\n%s%s%s\r\n",
                     rt->method, rt->path, (flags & 4) ? KEY_WRITER : KEY_ADMIN, rt->ctype,
                     body_len, (flags & 1) ? "Prefer: wait=none\r\n" : "",
                     (flags & 2) ? "Idempotency-Key: fuzz-1\r\n" : "",
                     strcmp(rt->method, "POST") != 0 ? "If-Match: \"3\"\r\n" : "");
    fuzz_check(n > 0 && n < 1024);
    memcpy(req + n, body, body_len);
    struct harness *hs = fuzz_api_harness();
    int before = hs->fb.n_submit;
    struct fuzz_api_result res;
    fuzz_api_exchange((const uint8_t *)req, (size_t)n + body_len, &res);
    fuzz_check(res.n_resp == 1);
    fuzz_check(status_documented(res.status[0]));
    fuzz_check(hs->fb.n_submit - before <= 1);
    if (hs->fb.n_submit != before)
        check_submitted(hs);
    return 0;
}
