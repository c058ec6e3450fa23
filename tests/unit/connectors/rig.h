/* rig.h — test rig for the connectors' job state machines (rig.c). */
#ifndef TREATY_TESTS_CONNECTORS_RIG_H
#define TREATY_TESTS_CONNECTORS_RIG_H

#include <stdbool.h>

#include "connectors/conn_int.h"

#define KV_MAX 256

struct fake_store {
    char *k[KV_MAX], *v[KV_MAX];
    int n, puts;
    int fail_puts; /* the next fail_puts puts fail (TR_EIO) and change nothing */
};

struct rig {
    uv_loop_t loop;
    struct conn_cfg *cfg;
    struct fake_store fs;
    struct conn_store st;
    struct conn_crypto cc;
    struct conn_runner *rt;
    struct conn__job *j; /* the job under test */
};

/* Parses cfg_json (secrets from TSF_KEY, TSF_ID, TSF_SECRET, set here) and builds the runner;
 * r->j is its job number `job`. */
void rig_up(struct rig *r, const char *cfg_json, size_t job);
/* rig_up on a copy of the store `from` left (a restart after a crash: the runner reads it). */
void rig_up_from(struct rig *r, const char *cfg_json, size_t job, const struct fake_store *from);
void rig_down(struct rig *r);
int fs_find(struct fake_store *s, const char *key);
/* The job's next step at `now` must be a request: returned (counted in flight). */
struct conn__req *step_send(struct rig *r, uint64_t now);
/* Hands req the answer (status, body) at `now` and frees it. */
void answer(struct rig *r, struct conn__req *req, long status, const char *body, uint64_t now);
bool has_header(const struct conn__req *req, const char *h);
/* The stored value of key, or NULL. */
const char *store_val(struct rig *r, const char *key);

#endif
