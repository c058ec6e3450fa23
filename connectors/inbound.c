/* inbound.c — what the inbound jobs of every kind share: their state besides the job (struct
 * conn__in: cursor, read in flight, backoff), setup and status, when a read may go and its
 * backoff, the ledger write of one record (with its Idempotency-Key), a failed write (retry or
 * dead letter), the held marks of a page in flight and its commit, and a failed page commit.
 * The kinds keep their own reading (queries, cursors, paging, auth), the order of their writes
 * and what a page stores. Called by the *_in.c jobs. */
#include "connectors/conn_int.h"

#include <stdio.h>
#include <string.h>

#include "common/alloc.h"
#include "common/bytes.h"
#include "common/err.h"

int conn__in_init(struct conn__job *j, struct conn__in *in, const struct conn__job_ops *ops,
                  struct conn_runner *rt, size_t ci)
{
    j->ops = ops, j->rt = rt, j->cfg = &rt->cfg->connectors[ci];
    j->conn_index = ci;
    snprintf(j->state, sizeof j->state, "starting");
    char key[256];
    conn__key(key, sizeof key, j, "cursor", "inbound");
    int rc = rt->store->get(rt->store->ctx, key, &in->cursor);
    if (rc == TR_ENOTFOUND)
        rc = 0;
    if (rc == 0 && !(in->marks = json_object()))
        rc = TR_ENOMEM;
    if (rc < 0)
        conn__in_close(in);
    return rc;
}

void conn__in_close(struct conn__in *in)
{
    tr_free(in->cursor);
    in->cursor = NULL;
    json_decref(in->marks);
    in->marks = NULL;
}

enum conn__step conn__in_gate(const struct conn__in *in, uint64_t now, uint64_t also_ms,
                              uint64_t *until_ms)
{
    uint64_t at = in->wait_until_ms > also_ms ? in->wait_until_ms : also_ms;
    if (at > now) {
        *until_ms = at;
        return CONN__WAIT;
    }
    return in->reading ? CONN__IDLE : CONN__SEND;
}

enum conn__step conn__in_read(struct conn__job *j, struct conn__in *in, const char *state,
                              struct conn__req *r, struct conn__req **req)
{
    snprintf(j->state, sizeof j->state, "%s", state);
    *req = r;
    in->reading = r != NULL;
    return r ? CONN__SEND : CONN__IDLE;
}

void conn__in_backoff(struct conn__job *j, struct conn__in *in, uint64_t now,
                      int64_t retry_after_ms)
{
    in->wait_until_ms = now + conn__backoff(j, ++in->attempt, retry_after_ms);
    snprintf(j->state, sizeof j->state, "backoff");
}

bool conn__in_data(struct conn__job *j, struct conn__req *req, const char *buf, size_t len)
{
    (void)j, (void)req, (void)buf, (void)len;
    return false; /* inbound jobs read no streamed answers */
}

void conn__in_status(const struct conn__in *in, json_t *out, size_t page_records)
{
    json_object_set_new(out, "cursor", in->cursor ? json_string(in->cursor) : json_null());
    json_object_set_new(out, "page_records", json_integer((json_int_t)page_records));
}

void conn__in_caught_up(struct conn__job *j, struct conn__in *in, uint64_t now)
{
    j->caught_up_ms = now;
    in->wait_until_ms = now + j->cfg->poll_interval_ms;
    snprintf(j->state, sizeof j->state, "idle");
}

struct conn__req *conn__in_write_req(struct conn__job *j, enum conn__in_op op, const char *key,
                                     const char *idem, const json_t *body, int tag, size_t index)
{
    char bounded[CONN__IDEM_KEY_MAX + 1];
    if (strlen(idem) > CONN__IDEM_KEY_MAX) {
        /* The node takes keys of up to 128 bytes: a longer one (a long source key) is sent as
         * its SHA-256, the same for every retry of the same write. */
        uint8_t h[32];
        char hex[65];
        j->rt->crypto->sha256((const uint8_t *)idem, strlen(idem), h);
        tr_hex_encode(h, sizeof h, hex);
        snprintf(bounded, sizeof bounded, "treaty-connect/sha256/%s", hex);
        idem = bounded;
    }
    char *ek = conn__urlencode(key), path[1200];
    if (!ek)
        return NULL;
    if (op == CONN__IN_CREATE)
        snprintf(path, sizeof path, "/v1/data/%s", j->cfg->ledger_type);
    else
        snprintf(path, sizeof path, "/v1/data/%s/%s", j->cfg->ledger_type, ek);
    tr_free(ek);
    const char *method = op == CONN__IN_CREATE ? "POST" : op == CONN__IN_PUT ? "PUT" : "DELETE";
    struct conn__req *r = conn__node_req(j, method, path, tag);
    if (r && conn__req_header(r, "Idempotency-Key: %s", idem) < 0) {
        conn__req_free(r);
        return NULL;
    }
    if (r && body)
        conn__req_body_json(r, body);
    if (r)
        r->index = index;
    return r;
}

enum conn__step conn__in_retry_page(struct conn__job *j, struct conn__in *in, uint64_t now,
                                    uint64_t *until_ms)
{
    in->wait_until_ms = now + conn__backoff(j, ++in->attempt, -1);
    *until_ms = in->wait_until_ms;
    return CONN__WAIT;
}

bool conn__in_write_failed(struct conn__job *j, const struct conn__req *req, uint64_t now,
                           uint32_t *attempt, uint64_t *retry_at_ms, const char *what,
                           const char *id, const json_t *record, const char *reason)
{
    if (conn__transient(req->status)) {
        *retry_at_ms = now + conn__backoff(j, ++*attempt, req->retry_after_ms);
        conn__job_error(j, now, "%s %s: %s; retrying", what, id, reason);
        return true;
    }
    conn__dead_letter(j, id, reason, record);
    return false;
}

void conn__in_ledger_reason(const struct conn__req *req, char *buf, size_t size)
{
    json_t *doc = req->resp ? json_loads(req->resp, 0, NULL) : NULL;
    json_t *e0 = json_array_get(json_object_get(doc, "errors"), 0);
    const char *detail = json_string_value(json_object_get(doc, "detail"));
    const char *where = json_string_value(json_object_get(e0, "instancePath"));
    const char *what = json_string_value(json_object_get(e0, "message"));
    snprintf(buf, size, "ledger answered HTTP %ld: %s%s%s%s%s", req->status,
             req->status ? (detail ? detail : "") : req->err, what ? ": " : "", where ? where : "",
             where ? ": " : "", what ? what : "");
    json_decref(doc);
}

/* An echo is not announced: the outbound job would take the change as this page's write, skip it
 * and remove the delivery's pending mark with it (outbound.c advance), and the check of the
 * record that follows would no longer recognise the echo and write it again. */
void conn__in_announce(struct conn__job *j, struct conn__in *in, const char *key, const char *hash)
{
    if (conn__synced(j, key, hash)) {
        /* its commit still removes a mark an earlier run left for the key */
        if (!json_object_get(in->marks, key))
            json_object_set_new(in->marks, key, json_null());
        return;
    }
    json_object_set_new(j->rt->shared[j->conn_index].pending_in, key, json_string(hash));
    json_object_set_new(in->marks, key, json_string(hash));
    in->marks_stored = false;
}

/* Held marks: "held/<connector>/<key>" -> up to HELD_MAX hashes, space-separated, newest last.
 * More than one when a crash left a write of the key unconfirmed and the record changed in the
 * SaaS system before it was read again: the outbound job must recognise both versions. */
enum { HELD_MAX = 4, HELD_VALUE = HELD_MAX * 65 };

/* The value of key's held mark once hash is added to what the store holds (old, may be NULL). */
static void held_value(const char *old, const char *hash, char out[HELD_VALUE])
{
    const char *kept[HELD_MAX];
    size_t n = 0, o = 0;
    for (const char *p = old; p && *p; p += p[64] == ' ' ? 65 : 64) {
        if (strlen(p) < 64 || (p[64] != ' ' && p[64] != '\0'))
            break; /* not a list of hashes: start again */
        if (strncmp(p, hash, 64) != 0)
            kept[n++ % HELD_MAX] = p;
    }
    size_t first = n >= HELD_MAX ? n - (HELD_MAX - 1) : 0;
    for (size_t i = first; i < n; i++, o += 65)
        memcpy(out + o, kept[i % HELD_MAX], 64), out[o + 64] = ' ';
    memcpy(out + o, hash, 64);
    out[o + 64] = '\0';
}

int conn__in_hold(struct conn__job *j, struct conn__in *in)
{
    const struct conn_store *st = j->rt->store;
    if (in->marks_stored)
        return 0;
    size_t n = 0, cap = json_object_size(in->marks);
    struct conn_kv *kv = tr_calloc(cap ? cap : 1, sizeof *kv);
    char(*keys)[512] = tr_calloc(cap ? cap : 1, sizeof *keys);
    char(*vals)[HELD_VALUE] = tr_calloc(cap ? cap : 1, sizeof *vals);
    int rc = TR_ENOMEM;
    const char *key;
    json_t *h;
    if (!kv || !keys || !vals)
        goto out;
    rc = 0;
    json_object_foreach(in->marks, key, h)
    {
        const char *hash = json_string_value(h);
        char *old = NULL;
        if (!hash || strlen(hash) != 64)
            continue;
        conn__key(keys[n], sizeof keys[n], j, "held", key);
        if ((rc = st->get(st->ctx, keys[n], &old)) < 0 && rc != TR_ENOTFOUND)
            goto out;
        held_value(rc == 0 ? old : NULL, hash, vals[n]);
        tr_free(old);
        kv[n].key = keys[n], kv[n].val = vals[n], n++;
    }
    rc = n ? st->put(st->ctx, kv, n) : 0;
out:
    tr_free(kv);
    tr_free(keys);
    tr_free(vals);
    if (rc < 0)
        conn__job_error(j, conn__now_ms(j->rt), "storing the page's held marks failed");
    else
        in->marks_stored = true;
    return rc < 0 ? rc : 0;
}

enum conn__step conn__in_hold_gate(struct conn__job *j, struct conn__in *in, uint64_t now,
                                   uint64_t *until_ms)
{
    if (in->marks_stored)
        return CONN__SEND;
    if (in->wait_until_ms > now) {
        *until_ms = in->wait_until_ms;
        return CONN__WAIT;
    }
    if (conn__in_hold(j, in) == 0)
        return CONN__SEND;
    return conn__in_retry_page(j, in, now, until_ms);
}

int conn__in_commit(struct conn__job *j, struct conn__in *in, const struct conn_kv *kv, size_t n)
{
    const struct conn_store *st = j->rt->store;
    size_t m = n, extra = json_object_size(in->marks);
    if (!n && !extra)
        return 0;
    struct conn_kv *all = tr_calloc(n + extra, sizeof *all);
    char(*keys)[512] = tr_calloc(extra ? extra : 1, sizeof *keys);
    int rc = TR_ENOMEM;
    if (all && keys) {
        const char *key;
        json_t *h;
        size_t k = 0;
        memcpy(all, kv, n * sizeof *kv);
        json_object_foreach(in->marks, key, h)
        {
            conn__key(keys[k], sizeof keys[k], j, "held", key);
            all[m++] = (struct conn_kv){keys[k++], NULL};
        }
        rc = st->put(st->ctx, all, m);
    }
    tr_free(all);
    tr_free(keys);
    if (rc == 0) {
        json_object_clear(in->marks);
        in->marks_stored = false;
    }
    return rc;
}

bool conn__in_held(struct conn__job *j, const char *key, const char *hash)
{
    const struct conn_store *st = j->rt->store;
    char skey[640], *got = NULL;
    conn__key(skey, sizeof skey, j, "held", key);
    if (st->get(st->ctx, skey, &got) != 0)
        return false;
    bool found = false;
    for (const char *p = got; !found && strlen(p) >= 64; p += 65) {
        found = strncmp(p, hash, 64) == 0;
        if (p[64] != ' ')
            break;
    }
    tr_free(got);
    return found;
}
