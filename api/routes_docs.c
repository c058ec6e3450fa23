/* routes_docs.c — GET /v1/openapi.json (the OpenAPI document of this node's API, openapi.c) and
 * GET /v1/schema (the schema in force: compact, keys sorted, the form the network id and a
 * schema proposal hash). Each text is built on its first request and kept by the api (http.c)
 * until the schema in force changes. */
#include "api/api_int.h"

#include "common/err.h"

#include <stdlib.h>
#include <string.h>

enum { DOC_OPENAPI = 0, DOC_SCHEMA = 1 };

static int doc_build(struct api__req *r, int which, char **text, size_t *len, char *err,
                     size_t errlen)
{
    if (which == DOC_OPENAPI)
        return api_openapi_text(api__schema(r), text, len, err, errlen);
    *text = json_dumps(schema_network_doc(api__schema(r)), JSON_COMPACT | JSON_SORT_KEYS);
    *len = *text ? strlen(*text) : 0;
    return *text ? TR_OK : TR_ENOMEM;
}

void api__route_documents(struct api__req *r)
{
    if (r->method != HTTP_GET) {
        api__method_not_allowed(r, "GET");
        return;
    }
    int which = r->route == API__ROUTE_OPENAPI ? DOC_OPENAPI : DOC_SCHEMA;
    size_t len;
    const char *cached = api__doc_cache(r, which, &len);
    if (!cached) {
        char err[256] = "";
        char *text = NULL;
        int rc = doc_build(r, which, &text, &len, err, sizeof err);
        if (rc != TR_OK) {
            api__problemf(r, 500, NULL, "building the %s: %s",
                          which == DOC_OPENAPI ? "OpenAPI document" : "schema document",
                          err[0] ? err : tr_strerror(rc));
            return;
        }
        api__doc_cache_set(r, which, text, len);
        cached = text;
    }
    api__respond_typed(r, 200, "application/json", cached, len);
}
