/* cli_version.c — `treaty version`: treaty's version and the run-time versions of every library
 * the binary links, so a bug report says exactly what ran. */
#include "cli.h"

#include <curl/curl.h>
#include <http_parser.h>
#include <jansson.h>
#include <lmdb.h>
#include <protobuf-c/protobuf-c.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <uv.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

static void cli_version_print(void)
{
    char pcre[64] = "?";
    pcre2_config(PCRE2_CONFIG_VERSION, pcre);
    unsigned long hp = http_parser_version();
    int lmaj = 0, lmin = 0, lpatch = 0;
    mdb_version(&lmaj, &lmin, &lpatch);
    printf("treaty %s\n", TREATY_VERSION);
    printf("  jansson     %s\n", jansson_version_str());
    printf("  pcre2       %s\n", pcre);
    printf("  libuv       %s\n", uv_version_string());
    printf("  lmdb        %d.%d.%d\n", lmaj, lmin, lpatch);
    printf("  libsodium   %s\n", sodium_version_string());
    printf("  protobuf-c  %s\n", protobuf_c_version());
    printf("  libcurl     %s\n", curl_version_info(CURLVERSION_NOW)->version);
    printf("  http-parser %lu.%lu.%lu\n", (hp >> 16) & 255, (hp >> 8) & 255, hp & 255);
}

int cli_cmd_version(int argc, char **argv)
{
    if (cli_wants_help(argc, argv)) {
        printf("usage: treaty version\n\nPrints treaty's version and the versions of the "
               "libraries it runs with.\n");
        return CLI_EXIT_OK;
    }
    if (argc > 1)
        return cli_usage_error("version", "unexpected argument '%s'", argv[1]);
    cli_version_print();
    return CLI_EXIT_OK;
}
