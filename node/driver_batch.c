/* driver_batch.c — txs from the API become signed batches: collected for batch.max_delay_ms or
 * batch.max_txs, signed with a fresh per-org sequence number, ordered (proposed or forwarded to
 * the leader), resent re-signed after a leader change or when overdue, and answered to the
 * waiting client once the ledger applied them. A tx keeps its id across resends, and the ledger
 * records a tx id once, so a tx is never applied twice. Also the API backend's read side. */
#include "common/alloc.h"
#include "common/bytes.h"
#include "common/err.h"
#include "common/log.h"
#include "node/batch.h"
#include "node/driver_int.h"
#include "node/failpoint.h"

#include <inttypes.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------------------------------------
 * Answers
 * ------------------------------------------------------------------------------------------- */

static json_t *problem(int status, const char *word, const char *title, const char *detail,
                       const char *tx)
{
    char type[160];
    snprintf(type, sizeof type, "https://treaty.dev/problems/%s", word);
    json_t *p = json_pack("{s:s, s:s, s:i, s:s}", "type", type, "title", title, "status", status,
                          "detail", detail ? detail : title);
    if (p && tx)
        json_object_set_new(p, "tx", json_string(tx));
    return p;
}

struct reason_map {
    const char *word;
    int status;
    const char *title;
};

static const struct reason_map reason_statuses[] = {
    {"schema", 422, "The record does not conform to the schema"},
    {"acl", 403, "The schema's access rules forbid this write"},
    {"version", 412, "The record's version is not the expected one"},
    {"exists", 409, "The record already exists"},
    {"notfound", 404, "The record does not exist"},
    {"duplicate", 409, "Already applied"},
    {"invalid", 400, "The batch was refused"},
    {"governance", 409, "The governance change was refused"},
};

static const struct reason_map *reason_lookup(const char *reason)
{
    for (size_t i = 0; i < sizeof reason_statuses / sizeof reason_statuses[0]; i++) {
        size_t n = strlen(reason_statuses[i].word);
        if (strncmp(reason, reason_statuses[i].word, n) == 0 && reason[n] == ':')
            return &reason_statuses[i];
    }
    return NULL;
}

static int read_record(struct driver *d, const char *type, const char *key, uint64_t version,
                       char **json)
{
    MDB_txn *rtxn = NULL;
    int rc = store_read_begin(d->store, &rtxn);
    if (rc != TR_OK)
        return rc;
    rc = ledger_record_get(d->ledger, rtxn, type, key, version, json);
    store_read_end(d->store, rtxn);
    return rc;
}

/* A committed tx's answer. `text` (taken; NULL: none) is the record the tx stored, from its
 * outcome (ledger_keep_texts); without it the record is read back. */
static void answer_committed(struct driver *d, const struct driver_waiter *w, const char *tx_id,
                             char *text)
{
    bool record = w->op != BATCH_OP_DELETE && w->op != DRIVER_WAIT_GOV_PROPOSE && w->type[0];
    char *json = record ? text : NULL;
    if (!record)
        free(text);
    if (w->op == DRIVER_WAIT_GOV_PROPOSE) {
        w->done(w->req, 201, json_pack("{s:s, s:s}", "proposal", tx_id, "status", "committed"),
                NULL);
        return;
    }
    if (!record || (!json && read_record(d, w->type, w->key, 0, &json) != TR_OK)) {
        w->done(w->req, 200, json_pack("{s:s, s:s}", "tx", tx_id, "status", "committed"), NULL);
        return;
    }
    int status = w->op == BATCH_OP_CREATE ? 201 : 200;
    if (w->done_record) {
        w->done_record(w->req, status, json); /* the api answers with the stored bytes */
        return;
    }
    json_t *rec = json_loads(json, 0, NULL);
    free(json);
    char etag[32] = "";
    json_t *v = rec ? json_object_get(rec, "_version") : NULL;
    if (json_is_integer(v))
        snprintf(etag, sizeof etag, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
    w->done(w->req, status, rec, etag[0] ? etag : NULL);
}

/* True when tx `first` wrote the waiter's record (version 1 for a create, else the current). */
static bool record_written_by(struct driver *d, const struct driver_waiter *w, const char *first)
{
    char *json = NULL;
    if (!w->type[0] || w->op == BATCH_OP_DELETE ||
        read_record(d, w->type, w->key, w->op == BATCH_OP_CREATE ? 1 : 0, &json) != TR_OK)
        return w->op == BATCH_OP_DELETE || !w->type[0];
    json_t *rec = json_loads(json, 0, NULL);
    free(json);
    const char *tx = json_string_value(json_object_get(rec, "_tx"));
    bool same = tx && strcmp(tx, first) == 0;
    json_decref(rec);
    return same;
}

/* An idempotency-key duplicate answers with the first tx's result when the retry is the same
 * request (it names the record the first tx wrote); otherwise 409. */
static bool answer_first_of_idempotent(struct driver *d, const struct driver_waiter *w,
                                       const char *reason)
{
    const char *p = strstr(reason, "by tx ");
    if (!p || strncmp(reason, "duplicate:", 10) != 0)
        return false;
    char first[33];
    snprintf(first, sizeof first, "%.32s", p + 6);
    MDB_txn *rtxn = NULL;
    json_t *tx = NULL;
    if (store_read_begin(d->store, &rtxn) != TR_OK)
        return false;
    int rc = ledger_tx_get(d->ledger, rtxn, first, &tx);
    store_read_end(d->store, rtxn);
    if (rc != TR_OK)
        return false;
    const char *status = json_string_value(json_object_get(tx, "status"));
    bool committed = status && strcmp(status, "committed") == 0;
    const char *first_reason = json_string_value(json_object_get(tx, "reason"));
    char reason_copy[512];
    snprintf(reason_copy, sizeof reason_copy, "%s", first_reason ? first_reason : "");
    json_decref(tx);
    if (committed && record_written_by(d, w, first)) {
        answer_committed(d, w, first, NULL);
        return true;
    }
    if (committed) {
        char detail[256];
        snprintf(detail, sizeof detail,
                 "duplicate: the Idempotency-Key was used by tx %s for another request", first);
        w->done(
            w->req, 409,
            problem(409, "duplicate", "Idempotency-Key reused for another request", detail, first),
            NULL);
        return true;
    }
    const struct reason_map *m = reason_lookup(reason_copy);
    w->done(w->req, m ? m->status : 409,
            problem(m ? m->status : 409, m ? m->word : "duplicate", m ? m->title : "Refused",
                    reason_copy, first),
            NULL);
    return true;
}

static void answer(struct driver *d, const struct driver_waiter *w, struct ledger_tx_outcome *o)
{
    if (o->committed) {
        char *text = o->text;
        o->text = NULL;
        answer_committed(d, w, o->tx_id, text);
        return;
    }
    if (answer_first_of_idempotent(d, w, o->reason))
        return;
    const struct reason_map *m = reason_lookup(o->reason);
    int status = m ? m->status : 409;
    w->done(w->req, status,
            problem(status, m ? m->word : "rejected", m ? m->title : "The tx was rejected",
                    o->reason, o->tx_id),
            NULL);
}

/* ---------------------------------------------------------------------------------------------
 * Pending txs, waiters, flights
 * ------------------------------------------------------------------------------------------- */

static void ptx_free(struct driver_ptx *t)
{
    tr_free((void *)t->gov.org);
    tr_free((void *)t->gov.peer);
    tr_free((void *)t->gov.proposal_id);
    tr_free((void *)t->gov.schema);
    for (size_t i = 0; i < t->n_ops; i++) {
        tr_free((void *)t->ops[i].type);
        tr_free((void *)t->ops[i].key);
        tr_free((void *)t->ops[i].body);
    }
    tr_free(t->ops);
    tr_free(t->idem);
    memset(t, 0, sizeof *t);
}

static const struct {
    const char *name;
    int kind;
} op_names[] = {
    {"create", BATCH_OP_CREATE},
    {"replace", BATCH_OP_REPLACE},
    {"patch", BATCH_OP_PATCH},
    {"delete", BATCH_OP_DELETE},
};

static int op_kind(const char *name)
{
    for (size_t i = 0; name && i < sizeof op_names / sizeof op_names[0]; i++)
        if (strcmp(name, op_names[i].name) == 0)
            return op_names[i].kind;
    return 0;
}

/* Copies one API op into `op`. Returns NULL or a sentence saying what is wrong. */
static const char *op_from_json(json_t *j, struct batch_op *op)
{
    op->kind = op_kind(json_string_value(json_object_get(j, "op")));
    const char *type = json_string_value(json_object_get(j, "type"));
    const char *key = json_string_value(json_object_get(j, "key"));
    json_t *ev = json_object_get(j, "expected_version");
    json_t *body = json_object_get(j, "body");
    if (!op->kind)
        return "op must be create, replace, patch or delete";
    if (!type || !key)
        return "op needs a type and a key";
    if (ev && (!json_is_integer(ev) || json_integer_value(ev) < 1))
        return "expected_version must be an integer >= 1";
    if (op->kind != BATCH_OP_DELETE && !json_is_object(body))
        return "op needs a JSON object body";
    op->type = tr_strdup(type);
    op->key = tr_strdup(key);
    op->expected_version = ev ? (uint64_t)json_integer_value(ev) : 0;
    if (op->kind != BATCH_OP_DELETE) {
        size_t len = 0;
        /* keys sorted: the canonical text, which the apply stores without serializing again */
        char *text = schema_json_dumps(body, true, &len);
        op->body = text ? tr_strndup(text, len) : NULL;
        op->body_len = op->body ? len : 0;
        free(text);
        if (!op->body)
            return "out of memory";
    }
    return (op->type && op->key) ? NULL : "out of memory";
}

static const struct {
    const char *name;
    int kind;
} gov_names[] = {
    {"add", BATCH_GOV_ADD_ORG},     {"remove", BATCH_GOV_REMOVE_ORG},
    {"approve", BATCH_GOV_APPROVE}, {"rotate_key", BATCH_GOV_ROTATE_KEY},
    {"schema", BATCH_GOV_SCHEMA},
};

static char *dup_or_null(const char *s)
{
    return s ? tr_strdup(s) : NULL;
}

/* {"action":"add|remove|approve|rotate_key","org":..,"public_key":hex,"peer":..,"proposal":id} */
static const char *gov_from_json(json_t *g, struct driver_ptx *t)
{
    const char *action = json_string_value(json_object_get(g, "action"));
    for (size_t i = 0; action && i < sizeof gov_names / sizeof gov_names[0]; i++)
        if (strcmp(action, gov_names[i].name) == 0)
            t->gov.kind = gov_names[i].kind;
    if (!t->gov.kind)
        return "action must be add, remove, approve, rotate_key or schema";
    if (t->gov.kind == BATCH_GOV_SCHEMA) {
        json_t *doc = json_object_get(g, "schema");
        if (!json_is_object(doc))
            return "schema must be the proposed schema document (a JSON object)";
        char *text = json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS);
        t->gov.schema = text ? tr_strdup(text) : NULL;
        t->gov.schema_len = t->gov.schema ? strlen(t->gov.schema) : 0;
        free(text);
        return t->gov.schema ? NULL : "out of memory";
    }
    const char *org = json_string_value(json_object_get(g, "org"));
    const char *pk = json_string_value(json_object_get(g, "public_key"));
    const char *peer = json_string_value(json_object_get(g, "peer"));
    const char *pid = json_string_value(json_object_get(g, "proposal"));
    int k = t->gov.kind;
    if ((k == BATCH_GOV_ADD_ORG || k == BATCH_GOV_REMOVE_ORG) && !org)
        return "org is required";
    if ((k == BATCH_GOV_ADD_ORG || k == BATCH_GOV_ROTATE_KEY) &&
        (!pk || hex_decode(pk, t->gov_pk, 32) != TR_OK))
        return "public_key must be 64 hex characters";
    if (k == BATCH_GOV_ADD_ORG && !peer)
        return "peer (HOST:PORT) is required";
    if (k == BATCH_GOV_APPROVE && (!pid || !batch_tx_id_valid(pid)))
        return "proposal must be a tx id (32 hex characters)";
    t->gov.org = k == BATCH_GOV_ADD_ORG || k == BATCH_GOV_REMOVE_ORG ? dup_or_null(org) : NULL;
    t->gov.peer = k == BATCH_GOV_ADD_ORG ? dup_or_null(peer) : NULL;
    t->gov.proposal_id = k == BATCH_GOV_APPROVE ? dup_or_null(pid) : NULL;
    t->gov.public_key = k == BATCH_GOV_ADD_ORG || k == BATCH_GOV_ROTATE_KEY ? t->gov_pk : NULL;
    return NULL;
}

static void tx_id_new(char id[33])
{
    batch_tx_id_new(id, driver__wall_us() / 1000);
}

/* What ptx_from_json refuses is what batch_build_entry would: a tx it takes can always be built. */
_Static_assert(BATCH_OPS_MAX == 256 && BATCH_IDEM_KEY_MAX == 128, "the messages below");

static const char *ptx_from_json(json_t *tx, struct driver_ptx *t)
{
    memset(t, 0, sizeof *t);
    json_t *g = json_object_get(tx, "governance");
    if (g) {
        tx_id_new(t->id);
        return json_is_object(g) ? gov_from_json(g, t) : "governance must be an object";
    }
    json_t *ops = json_object_get(tx, "ops");
    if (!json_is_array(ops) || json_array_size(ops) == 0)
        return "a tx needs a non-empty ops array";
    if (json_array_size(ops) > BATCH_OPS_MAX)
        return "a tx has at most 256 ops";
    t->ops = tr_calloc(json_array_size(ops), sizeof *t->ops);
    if (!t->ops)
        return "out of memory";
    for (size_t i = 0; i < json_array_size(ops); i++) {
        t->n_ops = i + 1;
        const char *why = op_from_json(json_array_get(ops, i), &t->ops[i]);
        if (why)
            return why;
    }
    const char *idem = json_string_value(json_object_get(tx, "idempotency_key"));
    if (idem && (!idem[0] || strlen(idem) > BATCH_IDEM_KEY_MAX))
        return "idempotency_key must be 1 to 128 bytes";
    if (idem && !(t->idem = tr_strdup(idem)))
        return "out of memory";
    tx_id_new(t->id);
    return NULL;
}

static int grow(void **v, size_t *cap, size_t need, size_t size)
{
    if (need <= *cap)
        return TR_OK;
    size_t c = *cap ? *cap * 2 : 16;
    while (c < need)
        c *= 2;
    void *n = tr_realloc(*v, c * size);
    if (!n)
        return TR_ENOMEM;
    *v = n;
    *cap = c;
    return TR_OK;
}

/* Prefer: wait=none answers before the ledger checks expected versions, so they are checked
 * here against the applied state (the ledger checks them again at apply). Answers 412 and
 * returns true when an op's record is at another version. */
static bool stale_version(struct driver *d, const struct driver_ptx *t, void *req, api_done_fn done)
{
    for (size_t i = 0; i < t->n_ops; i++) {
        const struct batch_op *op = &t->ops[i];
        char *json = NULL;
        if (!op->expected_version || read_record(d, op->type, op->key, 0, &json) != TR_OK)
            continue;
        json_t *rec = json_loads(json, 0, NULL);
        free(json);
        json_int_t have = json_integer_value(json_object_get(rec, "_version"));
        json_decref(rec);
        if (have > 0 && (uint64_t)have != op->expected_version) {
            char detail[400];
            snprintf(detail, sizeof detail,
                     "version: op %zu: %.64s/%.64s is at version %lld, expected %llu", i, op->type,
                     op->key, (long long)have, (unsigned long long)op->expected_version);
            done(req, 412,
                 problem(412, "version", "The record's version is not the expected one", detail,
                         NULL),
                 NULL);
            return true;
        }
    }
    return false;
}

/* The bytes `t` adds to its batch's entry (batch_tx_size). */
static size_t ptx_size(const struct driver_ptx *t)
{
    struct batch_tx bt = {.idempotency_key = t->idem, .ops = t->ops, .n_ops = t->n_ops};
    memcpy(bt.id, t->id, sizeof bt.id);
    return batch_tx_size(&bt);
}

/* Answers 413 for a tx that would not fit in a batch even alone. */
static void too_large(struct driver *d, const struct driver_ptx *t, size_t size, void *req,
                      api_done_fn done)
{
    size_t body = t->gov.kind ? t->gov.schema_len : 0;
    for (size_t i = 0; i < t->n_ops; i++)
        body += t->ops[i].body_len;
    char detail[400];
    snprintf(detail, sizeof detail,
             "the tx encodes to %zu bytes (%zu of them %s) and its batch to up to %zu; a batch "
             "is at most batch.max_bytes, %u bytes on this node",
             size, body, t->gov.kind ? "the schema" : "op bodies", size + BATCH_ENTRY_OVERHEAD,
             config_batch_max_bytes(&d->cfg));
    done(req, 413, problem(413, "too-large", "The tx is too large for a batch", detail, NULL),
         NULL);
}

static void on_batch_timer(uv_timer_t *t)
{
    struct driver *d = t->data;
    if (d->persisting && d->role == RAFT_LEADER) {
        /* Group commit: the leader's own batch keeps collecting txs until the Ready being
         * persisted is done (up to batch.max_txs): fewer, larger batches to sign and check.
         * Cutting it at once, to propose it early, measured no clear gain. */
        d->flush_after_persist = true;
        return;
    }
    driver__batch_flush(d);
}

static void backend_submit(void *ctx, json_t *tx, void *req, api_done_fn done,
                           api_record_done_fn done_record)
{
    struct driver *d = ctx;
    if (d->stopping) {
        done(req, 503, problem(503, "unavailable", "The node is stopping", NULL, NULL), NULL);
        return;
    }
    if (d->n_waiters >= d->cfg.max_pending_writes || d->n_flights >= DRIVER_MAX_FLIGHTS) {
        done(req, 503,
             problem(503, "overloaded", "Too many writes in flight",
                     "the node holds its maximum of pending writes; retry later", NULL),
             NULL);
        return;
    }
    if (grow((void **)&d->waiters, &d->cap_waiters, d->n_waiters + 1, sizeof *d->waiters)) {
        done(req, 503, problem(503, "overloaded", "Out of memory", NULL, NULL), NULL);
        return;
    }
    json_t *gov_doc = json_object_get(tx, "governance");
    const char *action = json_string_value(json_object_get(gov_doc, "action"));
    if (action && strcmp(action, "schema") == 0 &&
        json_is_object(json_object_get(gov_doc, "schema"))) {
        json_t *refused = driver__schema_precheck(d, json_object_get(gov_doc, "schema"));
        if (refused) {
            done(req, (int)json_integer_value(json_object_get(refused, "status")), refused, NULL);
            return;
        }
    }
    struct driver_ptx t;
    const char *why = ptx_from_json(tx, &t);
    if (why) {
        ptx_free(&t);
        done(req, 400, problem(400, "bad-tx", "The tx is malformed", why, NULL), NULL);
        return;
    }
    bool no_wait = !t.gov.kind && json_is_string(json_object_get(tx, "wait")) &&
                   strcmp(json_string_value(json_object_get(tx, "wait")), "none") == 0;
    if (no_wait && stale_version(d, &t, req, done)) {
        ptx_free(&t);
        return;
    }
    bool gov = t.gov.kind != 0;
    size_t size = gov ? batch_governance_tx_size(t.id, &t.gov) : ptx_size(&t);
    size_t room = config_batch_max_bytes(&d->cfg) - BATCH_ENTRY_OVERHEAD;
    if (size > room) {
        too_large(d, &t, size, req, done);
        ptx_free(&t);
        return;
    }
    if (gov || d->open_bytes + size > room)
        driver__batch_flush(d); /* a governance tx travels alone in its batch */
    struct driver_waiter *w = &d->waiters[d->n_waiters++];
    memset(w, 0, sizeof *w);
    memcpy(w->tx_id, t.id, sizeof w->tx_id);
    if (gov) {
        bool proposal = t.gov.kind == BATCH_GOV_ADD_ORG || t.gov.kind == BATCH_GOV_REMOVE_ORG ||
                        t.gov.kind == BATCH_GOV_SCHEMA;
        w->op = proposal ? DRIVER_WAIT_GOV_PROPOSE : DRIVER_WAIT_GOV_OTHER;
    } else {
        w->op = t.ops[0].kind;
        tr_str_copy(w->type, sizeof w->type, t.ops[0].type);
        tr_str_copy(w->key, sizeof w->key, t.ops[0].key);
    }
    w->req = no_wait ? NULL : req;
    w->done = no_wait ? NULL : done; /* nobody waits: the outcome is only counted */
    w->done_record = no_wait ? NULL : done_record;
    w->submit_ns = uv_hrtime();
    if (grow((void **)&d->open, &d->cap_open, d->n_open + 1, sizeof *d->open)) {
        ptx_free(&t);
        d->n_waiters--;
        done(req, 503, problem(503, "overloaded", "Out of memory", NULL, NULL), NULL);
        return;
    }
    d->open[d->n_open] = t;
    d->open_bytes += size;
    if (d->n_open++ == 0)
        d->open_since_ms = driver__now_ms(d);
    char id[33];
    memcpy(id, t.id, sizeof id);
    if (gov || d->n_open >= d->cfg.batch_max_txs)
        driver__batch_flush(d);
    else if (!uv_is_active((uv_handle_t *)&d->batch_timer))
        uv_timer_start(&d->batch_timer, on_batch_timer, d->cfg.batch_max_delay_ms, 0);
    if (no_wait)
        done(req, 202, json_pack("{s:s, s:s}", "tx", id, "status", "pending"), NULL);
}

/* The wall clock in µs, raised above the last sequence number this process used and the last
 * one the ledger applied for our org: a clock stepped back, also across a restart, must not make
 * our batches look like replays (the ledger refuses a seq not above the org's last). */
uint64_t driver__next_seq(struct driver *d)
{
    uint64_t seq = driver__wall_us(), applied = 0;
    MDB_txn *rtxn = NULL;
    if (store_read_begin(d->store, &rtxn) == TR_OK) {
        if (ledger_org_seq(d->ledger, rtxn, d->cfg.org, &applied) != TR_OK)
            applied = 0;
        store_read_end(d->store, rtxn);
    }
    if (seq <= applied)
        seq = applied + 1;
    if (seq <= d->last_seq)
        seq = d->last_seq + 1;
    d->last_seq = seq;
    return seq;
}

/* Signs the flight's txs as a batch with a fresh sequence number and orders it. TR_OK, or why
 * the batch could not be built (out of memory: ptx_from_json refuses what else could fail). */
static int flight_send(struct driver *d, struct driver_flight *f)
{
    uint64_t seq = driver__next_seq(d);
    struct batch_tx *txs = tr_calloc(f->n_txs, sizeof *txs);
    if (!txs)
        return TR_ENOMEM;
    size_t n = 0;
    for (size_t i = 0; i < f->n_txs; i++) {
        if (!f->txs[i].id[0])
            continue; /* already applied */
        memcpy(txs[n].id, f->txs[i].id, sizeof txs[n].id);
        txs[n].idempotency_key = f->txs[i].idem;
        txs[n].ops = f->txs[i].ops;
        txs[n].n_ops = f->txs[i].n_ops;
        n++;
    }
    uint8_t *entry = NULL;
    size_t len = 0;
    int rc;
    if (f->n_txs == 1 && f->txs[0].gov.kind) {
        /* gov.public_key points into the tx's own gov_pk, and the tx was copied since it was
         * made (from the submitter's stack into the open batch): point it at this copy's key,
         * or a resend would sign whatever now lies where the first copy was. */
        struct batch_gov gov = f->txs[0].gov;
        if (gov.public_key)
            gov.public_key = f->txs[0].gov_pk;
        rc = batch_build_governance_entry(d->genesis->network_id, genesis_batch_sig(d->genesis),
                                          d->cfg.org, seq, d->id.sk, f->txs[0].id, &gov, &entry,
                                          &len);
    } else
        rc = batch_build_entry(d->genesis->network_id, genesis_batch_sig(d->genesis), d->cfg.org,
                               seq, d->id.sk, txs, n, &entry, &len);
    tr_free(txs);
    if (rc != TR_OK) {
        tr_log(TR_LOG_WARN, "batch_build_failed", "err=%s", tr_strerror(rc));
        return rc;
    }
    f->seq = seq;
    f->sent_ms = driver__now_ms(d);
    driver__order(d, entry, len);
    tr_free(entry);
    return TR_OK;
}

static void flight_remove(struct driver *d, size_t i)
{
    struct driver_flight *f = &d->flights[i];
    for (size_t k = 0; k < f->n_txs; k++)
        ptx_free(&f->txs[k]);
    tr_free(f->txs);
    d->flights[i] = d->flights[--d->n_flights];
}

/* Flight i's batch could not be built: its waiters are answered and it is dropped, instead of
 * being tried again at every check while its clients wait. */
static void flight_fail(struct driver *d, size_t i, int rc)
{
    struct driver_flight *f = &d->flights[i];
    char detail[200];
    snprintf(detail, sizeof detail,
             "signing its batch failed: %s; if the write was sent before, GET /v1/tx/{id} says "
             "whether it committed",
             tr_strerror(rc));
    for (size_t k = 0; k < f->n_txs; k++) {
        for (size_t j = 0; f->txs[k].id[0] && j < d->n_waiters; j++) {
            if (strcmp(d->waiters[j].tx_id, f->txs[k].id) != 0)
                continue;
            struct driver_waiter w = d->waiters[j];
            d->waiters[j] = d->waiters[--d->n_waiters];
            if (w.done)
                w.done(w.req, 500,
                       problem(500, "internal", "The write could not be signed", detail, w.tx_id),
                       NULL);
            break;
        }
    }
    flight_remove(d, i);
}

void driver__batch_flush(struct driver *d)
{
    uv_timer_stop(&d->batch_timer);
    if (d->n_open == 0)
        return;
    if (grow((void **)&d->flights, &d->cap_flights, d->n_flights + 1, sizeof *d->flights)) {
        driver__batch_fail_all(d, 503, "out of memory");
        return;
    }
    struct driver_flight *f = &d->flights[d->n_flights++];
    memset(f, 0, sizeof *f);
    f->txs = d->open;
    f->n_txs = d->n_open;
    driver__metrics_batch(d, f->n_txs);
    d->open = NULL;
    d->n_open = d->cap_open = d->open_bytes = 0;
    int rc = flight_send(d, f);
    if (rc != TR_OK)
        flight_fail(d, d->n_flights - 1, rc);
}

void driver__flights_check(struct driver *d, bool leader_changed)
{
    if (d->leader == RAFT_NONE)
        return;
    uint64_t now = driver__now_ms(d);
    uint64_t overdue = 2u * d->genesis->election_ms;
    for (size_t i = 0; i < d->n_flights;) {
        struct driver_flight *f = &d->flights[i];
        int rc = leader_changed || now - f->sent_ms > overdue ? flight_send(d, f) : TR_OK;
        if (rc != TR_OK)
            flight_fail(d, i, rc); /* the last flight moves to i */
        else
            i++;
    }
}

void driver__batch_on_outcome(struct driver *d, struct ledger_tx_outcome *o)
{
    if (strcmp(o->org, d->cfg.org) != 0)
        return;
    for (size_t i = 0; i < d->n_flights; i++) {
        struct driver_flight *f = &d->flights[i];
        bool hit = false;
        for (size_t k = 0; k < f->n_txs; k++) {
            if (f->txs[k].id[0] && strcmp(f->txs[k].id, o->tx_id) == 0) {
                ptx_free(&f->txs[k]); /* clears the id: done */
                f->n_done++;
                hit = true;
                break;
            }
        }
        if (hit) {
            if (f->n_done == f->n_txs)
                flight_remove(d, i);
            break;
        }
    }
    for (size_t i = 0; i < d->n_waiters; i++) {
        if (strcmp(d->waiters[i].tx_id, o->tx_id) == 0) {
            struct driver_waiter w = d->waiters[i];
            d->waiters[i] = d->waiters[--d->n_waiters];
            if (o->committed)
                driver__metrics_committed(d, w.submit_ns);
            FAILPOINT(ANSWER_CLIENT);
            if (w.done)
                answer(d, &w, o);
            return;
        }
    }
}

void driver__batch_fail_all(struct driver *d, int status, const char *detail)
{
    while (d->n_waiters > 0) {
        struct driver_waiter w = d->waiters[--d->n_waiters];
        if (!w.done)
            continue; /* Prefer: wait=none: the client polls GET /v1/tx/{id} */
        w.done(w.req, status,
               problem(status, "unavailable", "The write's outcome is unknown", detail, w.tx_id),
               NULL);
    }
}

void driver__writes_expire(struct driver *d)
{
    uint64_t now = uv_hrtime(), limit = (uint64_t)d->cfg.write_timeout_ms * 1000000u;
    char detail[300];
    snprintf(detail, sizeof detail,
             "not committed within %" PRIu32
             " ms (limits.write_timeout_ms); it is still queued and may commit: GET /v1/tx/{id} "
             "says whether it did, and a retry with the same Idempotency-Key answers the first "
             "write's outcome",
             d->cfg.write_timeout_ms);
    for (size_t i = 0; i < d->n_waiters; i++) {
        struct driver_waiter *w = &d->waiters[i];
        if (!w->done || now - w->submit_ns < limit)
            continue;
        api_done_fn done = w->done;
        void *req = w->req;
        w->done = NULL, w->done_record = NULL, w->req = NULL;
        done(
            req, 503,
            problem(503, "commit-timeout", "The write was not committed in time", detail, w->tx_id),
            NULL);
    }
}

void driver__batch_close(struct driver *d)
{
    for (size_t i = 0; i < d->n_open; i++)
        ptx_free(&d->open[i]);
    tr_free(d->open);
    while (d->n_flights > 0)
        flight_remove(d, d->n_flights - 1);
    tr_free(d->flights);
    tr_free(d->waiters);
    d->open = NULL;
    d->flights = NULL;
    d->waiters = NULL;
    d->n_open = d->n_waiters = d->open_bytes = 0;
}

void driver__forward_received(struct driver *d, const uint8_t *entry, size_t len)
{
    if (d->role != RAFT_LEADER)
        return; /* the sender resends to whoever leads */
    if (len > d->cfg.frame_max_bytes - CONFIG_FRAME_OVERHEAD_BYTES) {
        /* From a node whose frames are larger than ours: our appends could not carry it. */
        tr_log(TR_LOG_WARN, "forward_too_large", "len=%zu frame_max_bytes=%u", len,
               d->cfg.frame_max_bytes);
        return;
    }
    driver__order(d, entry, len);
}

int driver__inject_entry(struct driver *d, const uint8_t *entry, size_t len)
{
    struct batch_peek pk;
    int rc = batch_entry_peek(entry, len, &pk);
    if (rc != TR_OK)
        return rc;
    batch_peek_free(&pk);
    driver__order(d, entry, len);
    return TR_OK;
}

/* ---------------------------------------------------------------------------------------------
 * Reads
 * ------------------------------------------------------------------------------------------- */

static int backend_record_get(void *ctx, const char *type, const char *key, uint64_t version,
                              char **json)
{
    return read_record(ctx, type, key, version, json);
}

static json_t *hex_json(const uint8_t *b, size_t n)
{
    char buf[129];
    tr_hex_encode(b, n, buf);
    return json_string(buf);
}

static int backend_head(void *ctx, json_t **out)
{
    struct driver *d = ctx;
    MDB_txn *rtxn = NULL;
    struct ledger_head h;
    int rc = store_read_begin(d->store, &rtxn);
    if (rc != TR_OK)
        return rc;
    rc = ledger_head(d->ledger, rtxn, &h);
    store_read_end(d->store, rtxn);
    if (rc != TR_OK)
        return rc;
    struct raft_status st;
    raft_status_get(d->raft, &st);
    json_t *node = json_pack("{s:s, s:I, s:s, s:I, s:I, s:I, s:I}", "org", d->cfg.org, "id",
                             (json_int_t)d->self_id, "role", raft_role_name(st.role), "leader",
                             (json_int_t)st.leader, "term", (json_int_t)st.term, "commit",
                             (json_int_t)st.commit, "applied", (json_int_t)d->applied);
    json_object_set_new(node, "voter", json_boolean(raft_conf_is_voter(&st.conf, d->self_id)));
    json_t *j = json_pack("{s:I, s:I, s:I, s:o, s:o, s:I, s:o}", "height", (json_int_t)h.height,
                          "term", (json_int_t)h.term, "timestamp_us", (json_int_t)h.timestamp_us,
                          "block_hash", hex_json(h.block_hash, 32), "root", hex_json(h.root, 32),
                          "tree_size", (json_int_t)h.tree_size, "node", node);
    if (!j)
        return TR_ENOMEM;
    *out = j;
    return TR_OK;
}

static int backend_members(void *ctx, json_t **out)
{
    struct driver *d = ctx;
    MDB_txn *rtxn = NULL;
    struct ledger_member *m = NULL;
    size_t n = 0;
    int rc = store_read_begin(d->store, &rtxn);
    if (rc != TR_OK)
        return rc;
    rc = ledger_members(d->ledger, rtxn, &m, &n);
    store_read_end(d->store, rtxn);
    if (rc != TR_OK)
        return rc;
    struct raft_status st;
    raft_status_get(d->raft, &st);
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++) {
        const char *role = raft_conf_is_voter(&st.conf, m[i].node_id)     ? "voter"
                           : raft_conf_is_learner(&st.conf, m[i].node_id) ? "learner"
                                                                          : "pending";
        json_array_append_new(arr,
                              json_pack("{s:s, s:o, s:I, s:s, s:s}", "org", m[i].org, "public_key",
                                        hex_json(m[i].public_key, 32), "node_id",
                                        (json_int_t)m[i].node_id, "peer", m[i].peer, "raft", role));
    }
    tr_free(m);
    *out = json_pack("{s:o}", "members", arr);
    return *out ? TR_OK : TR_ENOMEM;
}

static int backend_block_get(void *ctx, uint64_t height, json_t **out)
{
    struct driver *d = ctx;
    MDB_txn *rtxn = NULL;
    int rc = store_read_begin(d->store, &rtxn);
    if (rc != TR_OK)
        return rc;
    rc = ledger_block_get(d->ledger, rtxn, height, out);
    store_read_end(d->store, rtxn);
    return rc;
}

static int backend_checkpoint_latest(void *ctx, json_t **out)
{
    struct driver *d = ctx;
    MDB_txn *rtxn = NULL;
    int rc = store_read_begin(d->store, &rtxn);
    if (rc != TR_OK)
        return rc;
    rc = ledger_checkpoint_latest(d->ledger, rtxn, out);
    store_read_end(d->store, rtxn);
    return rc;
}

static int backend_history(void *ctx, const char *type, const char *key, uint64_t after_version,
                           uint32_t limit, json_t **out)
{
    struct driver *d = ctx;
    MDB_txn *rtxn = NULL;
    int rc = store_read_begin(d->store, &rtxn);
    if (rc != TR_OK)
        return rc;
    rc = ledger_record_history(d->ledger, rtxn, type, key, after_version, limit, out);
    store_read_end(d->store, rtxn);
    return rc;
}

static int backend_list(void *ctx, const char *type, const struct api_list_query *aq, json_t **out)
{
    struct driver *d = ctx;
    MDB_txn *rtxn = NULL;
    struct ledger_list_query q = {aq->field,   aq->eq,   aq->lo,     aq->hi,   aq->lo_incl,
                                  aq->hi_incl, aq->desc, aq->cursor, aq->limit};
    int rc = store_read_begin(d->store, &rtxn);
    if (rc != TR_OK)
        return rc;
    char *plain = NULL;
    if (aq->cursor && (rc = driver__cursor_open(d, aq->cursor, &plain)) != TR_OK) {
        store_read_end(d->store, rtxn);
        return rc;
    }
    q.cursor = plain;
    rc = ledger_record_list(d->ledger, rtxn, type, &q, out);
    store_read_end(d->store, rtxn);
    tr_free(plain);
    const char *next = rc == TR_OK ? json_string_value(json_object_get(*out, "next_cursor")) : NULL;
    char *sealed = next ? driver__cursor_seal(d, next) : NULL;
    if (next && (!sealed || json_object_set_new(*out, "next_cursor", json_string(sealed)) != 0)) {
        json_decref(*out);
        *out = NULL;
        rc = TR_ENOMEM;
    }
    tr_free(sealed);
    return rc;
}

static int backend_test_entry(void *ctx, const char *entry_b64)
{
    size_t n = strlen(entry_b64), len = 0;
    uint8_t *bin = tr_malloc(n + 1);
    if (!bin)
        return TR_ENOMEM;
    int rc = TR_EINVAL;
    if (sodium_base642bin(bin, n + 1, entry_b64, n, NULL, &len, NULL,
                          sodium_base64_VARIANT_ORIGINAL) == 0)
        rc = driver__inject_entry(ctx, bin, len);
    tr_free(bin);
    return rc == TR_OK ? TR_OK : TR_EINVAL;
}

const struct api_backend driver__test_backend_template = {
    .submit = backend_submit,
    .record_get = backend_record_get,
    .head = backend_head,
    .tx_get = driver__backend_tx_get,
    .members = backend_members,
    .block_get = backend_block_get,
    .checkpoint_latest = backend_checkpoint_latest,
    .test_entry = backend_test_entry,
    .history = backend_history,
    .list = backend_list,
    .proof_inclusion = driver__backend_proof_inclusion,
    .proof_consistency = driver__backend_proof_consistency,
    .read_barrier = driver__backend_read_barrier,
    .authenticate = driver__authenticate,
    .node_stats = driver__node_stats,
    .changes = driver__changes,
    .export_range = driver__export_range,
    .export_next = driver__export_next,
};

const struct api_backend driver__backend_template = {
    .ctx = NULL,
    .submit = backend_submit,
    .record_get = backend_record_get,
    .head = backend_head,
    .tx_get = driver__backend_tx_get,
    .members = backend_members,
    .block_get = backend_block_get,
    .checkpoint_latest = backend_checkpoint_latest,
    .history = backend_history,
    .list = backend_list,
    .proof_inclusion = driver__backend_proof_inclusion,
    .proof_consistency = driver__backend_proof_consistency,
    .read_barrier = driver__backend_read_barrier,
    .authenticate = driver__authenticate,
    .node_stats = driver__node_stats,
    .changes = driver__changes,
    .export_range = driver__export_range,
    .export_next = driver__export_next,
};
