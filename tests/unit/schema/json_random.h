/* json_random.h — seeded random JSON values (every kind, strings with escapes and UTF-8, keys
 * that sort around '_') for the schema module's differential tests against jansson. */
#ifndef TREATY_TESTS_SCHEMA_JSON_RANDOM_H
#define TREATY_TESTS_SCHEMA_JSON_RANDOM_H

#include "common/prng.h"

#include <jansson.h>

/* A new random value; `depth` 0 at the top (deeper levels hold fewer containers). */
json_t *json_random_value(struct tr_prng *p, int depth);

#endif
