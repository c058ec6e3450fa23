/* fuzz_api.h — the driver shared by the api fuzz targets (http-request, api-route-body): one api
 * server on 127.0.0.1 with the fake backend of tests/unit/api/harness.c, and an exchange that
 * sends an input's bytes on a fresh connection, half-closes it and reads every answer until the
 * server closes. Every answer is checked (fuzz_check) on the way. Single-threaded, bounded. */
#ifndef TREATY_TESTS_FUZZ_FUZZ_API_H
#define TREATY_TESTS_FUZZ_FUZZ_API_H

#include "tests/unit/api/harness.h"

#include <stddef.h>
#include <stdint.h>

/* Limits of the fuzzed server: small, so fuzzed inputs reach them. */
#define FUZZ_API_BODY_MAX   4096u
#define FUZZ_API_HEADER_MAX 2048u
#define FUZZ_API_RESP_MAX   32

struct fuzz_api_result {
    int n_resp;
    int status[FUZZ_API_RESP_MAX];
};

/* Starts the server once (later calls return the same harness). */
struct harness *fuzz_api_harness(void);

/* Sends `len` bytes on a new connection, shuts down its write side and reads until the server
 * closes the connection (bounded: a hang is a finding). Checks that every answer is well-formed
 * HTTP/1.1 with a status of 200..599 other than 500, that an error answer is
 * application/problem+json naming its status, and that the server holds no connection after.
 * Answers past FUZZ_API_RESP_MAX are checked but not recorded in *out. */
void fuzz_api_exchange(const uint8_t *data, size_t len, struct fuzz_api_result *out);

#endif
