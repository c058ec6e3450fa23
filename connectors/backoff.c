/* backoff.c — retry delays: capped exponential backoff with "equal jitter" and Retry-After.
 * Pure (the random value comes from the caller), so the unit suite test_backoff checks exact
 * bounds. Called by every job of the runner before it retries a request. */
#include "connectors/conn.h"

#include <stdlib.h>
#include <string.h>

uint64_t conn_backoff_ms(uint32_t base_ms, uint32_t max_ms, uint32_t attempt, uint64_t rnd,
                         uint64_t retry_after_ms)
{
    uint64_t d = base_ms ? base_ms : 1;
    for (uint32_t i = 1; i < attempt && d < max_ms; i++)
        d *= 2;
    if (d > max_ms)
        d = max_ms;
    /* Equal jitter: half fixed, half random, so retries of many clients spread out while each
     * still waits at least half the nominal delay. */
    uint64_t half = d / 2;
    d = half + (d - half == 0 ? 0 : rnd % (d - half + 1));
    /* The server's Retry-After wins over our own cap (it knows its limit window), bounded by an
     * hour so a bad header cannot park a connector for days. */
    if (retry_after_ms > 3600000)
        retry_after_ms = 3600000;
    return retry_after_ms > d ? retry_after_ms : d;
}

int64_t conn_retry_after_ms(const char *value)
{
    if (!value)
        return -1;
    while (*value == ' ' || *value == '\t')
        value++;
    size_t n = strspn(value, "0123456789");
    if (n == 0 || n > 9)
        return -1;
    const char *rest = value + n;
    while (*rest == ' ' || *rest == '\t' || *rest == '\r' || *rest == '\n')
        rest++;
    if (*rest)
        return -1;
    return (int64_t)strtol(value, NULL, 10) * 1000;
}
