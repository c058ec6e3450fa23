/* cli_codegen.c — `treaty codegen openapi|c --schema FILE --out DIR`: the OpenAPI document a node
 * serves for that schema (byte for byte, api_openapi_text), or a C client (codegen_c.c) for it.
 * Exit codes: 0 written, 2 usage or unusable schema, 3 cannot write. */
#include "cli.h"
#include "codegen.h"

#include "api/api.h"
#include "common/err.h"
#include "schema/schema.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const char cli_codegen_help[] =
    "usage: treaty codegen openapi --schema FILE --out DIR\n"
    "       treaty codegen c --schema FILE --out DIR\n"
    "\n"
    "openapi  writes DIR/openapi.json: the OpenAPI 3.1 document a node of a network with this\n"
    "         schema serves at GET /v1/openapi.json (the same bytes).\n"
    "c        writes DIR/treaty_client.h and DIR/treaty_client.c: a client in C (libcurl and\n"
    "         jansson) with a struct per record type and a function per operation.\n"
    "\n"
    "FILE is a network schema (treaty schema check FILE accepts it). DIR is created if missing.\n"
    "Exit 0 written, 2 usage or unusable schema, 3 a file could not be written.\n";

int cli_write_file(const char *dir, const char *name, const char *text, size_t len)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f) {
        cli_errorf("%s: %s", path, strerror(errno));
        return CLI_EXIT_RUNTIME;
    }
    size_t w = fwrite(text, 1, len, f);
    int err = ferror(f);
    if (fclose(f) != 0 || w != len || err) {
        cli_errorf("%s: write failed", path);
        return CLI_EXIT_RUNTIME;
    }
    return CLI_EXIT_OK;
}

static int codegen_openapi(const struct schema_network *n, const char *dir)
{
    char err[512];
    char *text = NULL;
    size_t len = 0;
    int rc = api_openapi_text(n, &text, &len, err, sizeof err);
    if (rc != TR_OK) {
        cli_errorf("codegen openapi: %s", err[0] ? err : tr_strerror(rc));
        return CLI_EXIT_RUNTIME;
    }
    int ex = cli_write_file(dir, "openapi.json", text, len);
    free(text);
    if (ex == CLI_EXIT_OK)
        printf("wrote %s/openapi.json\n", dir);
    return ex;
}

static int load_schema(const char *cmd, const char *path, struct schema_network **out)
{
    char err[512];
    json_t *doc = NULL;
    int rc = schema_json_load_file(path, NULL, &doc, err, sizeof err);
    if (rc == TR_OK) {
        rc = schema_network_load(doc, NULL, out, err, sizeof err);
        json_decref(doc);
    }
    if (rc != TR_OK) {
        fprintf(stderr, "treaty %s: %s: %s\n", cmd, path, err);
        return CLI_EXIT_USAGE;
    }
    return CLI_EXIT_OK;
}

int cli_cmd_codegen(int argc, char **argv)
{
    if (cli_wants_help(argc, argv)) {
        fputs(cli_codegen_help, stdout);
        return CLI_EXIT_OK;
    }
    if (argc < 2 || (strcmp(argv[1], "openapi") != 0 && strcmp(argv[1], "c") != 0))
        return cli_usage_error("codegen", "expected 'openapi' or 'c'%s%s", argc < 2 ? "" : ", got ",
                               argc < 2 ? "" : argv[1]);
    const char *cmd = strcmp(argv[1], "c") == 0 ? "codegen c" : "codegen openapi";
    const char *schema = NULL, *out = NULL;
    for (int i = 2; i < argc; i++) {
        const char **dst = strcmp(argv[i], "--schema") == 0 ? &schema
                           : strcmp(argv[i], "--out") == 0  ? &out
                                                            : NULL;
        if (!dst)
            return cli_usage_error(cmd, "unknown argument '%s'", argv[i]);
        if (i + 1 >= argc)
            return cli_usage_error(cmd, "%s expects a value", argv[i]);
        *dst = argv[++i];
    }
    if (!schema || !out)
        return cli_usage_error(cmd, "--schema FILE and --out DIR are required");
    struct schema_network *n = NULL;
    int ex = load_schema(cmd, schema, &n);
    if (ex != CLI_EXIT_OK)
        return ex;
    if (mkdir(out, 0777) != 0 && errno != EEXIST) {
        cli_errorf("%s: %s", out, strerror(errno));
        schema_network_destroy(n);
        return CLI_EXIT_RUNTIME;
    }
    ex = strcmp(argv[1], "c") == 0 ? codegen_c(n, out) : codegen_openapi(n, out);
    schema_network_destroy(n);
    return ex;
}
