/* problem.c — RFC 9457 problem details (application/problem+json) for every error the api
 * answers: type, title, status, detail, and for schema violations an "errors" array of
 * {instancePath, schemaPath, message} (schema_errors_to_json). Called by http.c and routes.c. */
#include "api/api_int.h"

#include <stdio.h>
#include <string.h>

const char *api__status_reason(int status)
{
    switch (status) {
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 412: return "Precondition Failed";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 415: return "Unsupported Media Type";
    case 422: return "Unprocessable Content";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    default: return status >= 500 ? "Server Error" : status >= 400 ? "Client Error" : "OK";
    }
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

json_t *api__problem_validation(const char *type_name, const struct schema_errors *errs)
{
    char detail[160];
    snprintf(detail, sizeof detail, "the %s record violates the schema (%zu violation%s%s)",
             type_name, errs->len, errs->len == 1 ? "" : "s",
             errs->truncated ? ", list truncated" : "");
    json_t *p = api__problem(422, "validation", detail);
    json_t *list = schema_errors_to_json(errs);
    if (!p || !list || json_object_set_new(p, "errors", list) != 0) {
        json_decref(p);
        return NULL;
    }
    return p;
}
