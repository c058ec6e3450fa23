/* problem.c — RFC 9457 problem details (application/problem+json) for every error the api
 * answers: type, title, status, detail, and for schema violations an "errors" array of
 * {instancePath, schemaPath, message} (schema_errors_to_json). Called by http.c and routes.c. */
#include "api/api_int.h"

#include <stdio.h>
#include <string.h>

static const struct {
    int status;
    const char *reason;
} REASONS[] = {
    {200, "OK"},
    {201, "Created"},
    {202, "Accepted"},
    {204, "No Content"},
    {400, "Bad Request"},
    {401, "Unauthorized"},
    {403, "Forbidden"},
    {404, "Not Found"},
    {405, "Method Not Allowed"},
    {408, "Request Timeout"},
    {409, "Conflict"},
    {412, "Precondition Failed"},
    {413, "Content Too Large"},
    {414, "URI Too Long"},
    {415, "Unsupported Media Type"},
    {422, "Unprocessable Content"},
    {429, "Too Many Requests"},
    {431, "Request Header Fields Too Large"},
    {500, "Internal Server Error"},
    {501, "Not Implemented"},
    {503, "Service Unavailable"},
    {504, "Gateway Timeout"},
};

/* RFC 9110 §15 reason phrases. */
const char *api__status_reason(int status)
{
    for (size_t i = 0; i < sizeof REASONS / sizeof REASONS[0]; i++)
        if (REASONS[i].status == status)
            return REASONS[i].reason;
    return status >= 500 ? "Server Error" : status >= 400 ? "Client Error" : "OK";
}

json_t *api__problem(int status, const char *slug, const char *detail)
{
    char type[96];
    if (slug)
        snprintf(type, sizeof type, "urn:treaty:problem:%s", slug);
    else
        snprintf(type, sizeof type, "about:blank");
    return json_pack("{s:s, s:s, s:i, s:s}", "type", type, "title", api__status_reason(status),
                     "status", status, "detail", detail ? detail : api__status_reason(status));
}

void api__problem_fill(json_t *obj, int status)
{
    if (!json_is_string(json_object_get(obj, "type")))
        json_object_set_new(obj, "type", json_string("about:blank"));
    if (!json_is_string(json_object_get(obj, "title")))
        json_object_set_new(obj, "title", json_string(api__status_reason(status)));
    if (!json_is_integer(json_object_get(obj, "status")))
        json_object_set_new(obj, "status", json_integer(status));
}

json_t *api__problem_errors(const char *detail, json_t *errors)
{
    json_t *p = errors ? api__problem(422, "validation", detail) : NULL;
    if (!p) {
        json_decref(errors);
        return NULL;
    }
    if (json_object_set_new(p, "errors", errors) != 0) { /* released `errors` */
        json_decref(p);
        return NULL;
    }
    return p;
}

json_t *api__problem_validation(const char *type_name, const struct schema_errors *errs)
{
    char detail[160];
    snprintf(detail, sizeof detail, "the %s record violates the schema (%zu violation%s%s)",
             type_name, errs->len, errs->len == 1 ? "" : "s",
             errs->truncated ? ", list truncated" : "");
    return api__problem_errors(detail, schema_errors_to_json(errs));
}
