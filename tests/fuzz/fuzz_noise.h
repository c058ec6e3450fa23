/* fuzz_noise.h — the handshake states of the noise-responder target (fixed keys, prologue and
 * ephemerals), shared with fuzz_seeds.c so the generated seeds complete the target's handshake. */
#ifndef TREATY_TESTS_FUZZ_FUZZ_NOISE_H
#define TREATY_TESTS_FUZZ_FUZZ_NOISE_H

#include "node/noise.h"

/* A new XX handshake state of `role` with the target's keys; LLVMFuzzerInitialize of the target
 * must have run. Owned by the caller (noise_handshake_destroy). */
struct noise_handshake *fuzz_noise_handshake(enum noise_role role);

#endif
