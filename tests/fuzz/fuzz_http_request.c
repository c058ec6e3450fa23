/* fuzz_http_request.c — libFuzzer target `fuzz-http-request`: the input is the raw byte stream a
 * client sends on one connection (any number of pipelined requests, any framing: chunked bodies,
 * Content-Length, Expect, Upgrade, bad methods, oversize heads and bodies). The api server of
 * fuzz_api.c answers it against the fake backend. Invariant: fuzz_api_exchange's checks (every
 * answer well-formed, no 500, problem documents for errors, the connection closed and freed). */
#include "tests/fuzz/fuzz.h"
#include "tests/fuzz/fuzz_api.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_api_harness();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_api_result res;
    fuzz_api_exchange(data, size, &res);
    return 0;
}
