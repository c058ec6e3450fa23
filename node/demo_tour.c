/* demo_tour.c — the steps of `treaty demo` once the network runs, on the sample schema: acme
 * creates Shipments (its schema ACL: create acme; update owner or globex), globex creates
 * Invoices (create globex; read owner or acme). Each step prints the requests it makes and what
 * came back, checks what it shows (a step that cannot fail shows nothing), and returns 0 or -1
 * with d->why. Every wait is bounded. Called in order by cli_demo.c. */
#include "node/demo.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#define ACME                       0
#define GLOBEX                     1
#define INITECH                    2
#define WRITE_TIMEOUT_MS           10000L
#define FAILOVER_WRITE_DEADLINE_MS 30000u
#define CONVERGE_TIMEOUT_MS        30000u
#define CHECKPOINT_TIMEOUT_MS      30000u
#define CHAIN_BLOCKS_MAX           64

static json_t *shipment(unsigned n, const char *status)
{
    char id[32], value[32];
    snprintf(id, sizeof id, "SHP-%06u", n);
    snprintf(value, sizeof value, "%u.00", 25000 + n);
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:i, s:{s:s, s:s}}", "shipmentId", id, "origin",
                     "Rotterdam", "destination", "Chicago", "carrier", "globex", "status", status,
                     "weightKg", 1200 + (int)n, "declaredValue", "amount", value, "currency",
                     "EUR");
}

static json_t *invoice(unsigned n, unsigned ship)
{
    char id[32], sid[32], amount[32];
    snprintf(id, sizeof id, "INV-%04u", n);
    snprintf(sid, sizeof sid, "SHP-%06u", ship);
    snprintf(amount, sizeof amount, "%u.50", 1000 + n);
    return json_pack("{s:s, s:s, s:{s:s, s:s}, s:b}", "invoiceId", id, "shipmentId", sid, "total",
                     "amount", amount, "currency", "EUR", "paid", 0);
}

static const char *str(const json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s ? s : "?";
}

static json_int_t num(const json_t *o, const char *k)
{
    return json_integer_value(json_object_get(o, k));
}

/* Prints the answer of a request on one line. */
static void show_answer(const struct demo_resp *r)
{
    const json_t *b = r->body;
    if (r->status >= 200 && r->status < 300 && json_object_get(b, "_version"))
        demo_say("   <- %ld: version %" JSON_INTEGER_FORMAT ", height %" JSON_INTEGER_FORMAT
                 ", tx %.12s...",
                 r->status, num(b, "_version"), num(b, "_height"), str(b, "_tx"));
    else if (r->status >= 400 && json_is_string(json_object_get(b, "detail")))
        demo_say("   <- %ld %s: %s", r->status, str(b, "title"), str(b, "detail"));
    else
        demo_say("   <- %ld %s", r->status, demo_json_line(b, 160));
}

/* One request from org `n` through its node, printed with its answer. 0 or -1 (transport). */
static int call(struct demo *d, const struct demo_node *n, const char *method, const char *path,
                json_t *body, const char *hdr, struct demo_resp *r)
{
    demo_say("%s -> %s %s%s%s%s", n->org, method, n->url, path, body ? " " : "",
             body ? demo_json_line(body, 90) : "");
    int rc = demo_http(d, n, method, path, body, hdr, WRITE_TIMEOUT_MS, r);
    json_decref(body);
    if (rc == 0)
        show_answer(r);
    return rc;
}

/* A write that must be answered `want`; counted in the tallies. */
static int must_write(struct demo *d, const struct demo_node *n, const char *method,
                      const char *path, json_t *body, const char *hdr, long want)
{
    struct demo_resp r;
    if (call(d, n, method, path, body, hdr, &r) != 0)
        return -1;
    long got = r.status;
    if (got != want)
        demo_fail(d, "%s %s answered %ld, expected %ld: %s", method, path, got, want,
                  demo_json_line(r.body, 300));
    if (got == want && !d->first_tx[0]) /* the first write: its proofs are checked at the end */
        snprintf(d->first_tx, sizeof d->first_tx, "%s", str(r.body, "_tx"));
    demo_resp_free(&r);
    if (got != want)
        return -1;
    d->writes_acked++;
    d->records++;
    return 0;
}

int demo_step_write(struct demo *d)
{
    for (unsigned i = 1; i <= 3; i++)
        if (must_write(d, &d->nodes[ACME], "POST", "/v1/data/Shipment", shipment(i, "created"),
                       NULL, 201) != 0)
            return -1;
    if (must_write(d, &d->nodes[GLOBEX], "POST", "/v1/data/Invoice", invoice(1, 1), NULL, 201) != 0)
        return -1;
    demo_say("globex, the carrier, may update acme's shipment (a merge patch of its status); "
             "If-Match makes it conditional:");
    return must_write(d, &d->nodes[GLOBEX], "PATCH", "/v1/data/Shipment/SHP-000001",
                      json_pack("{s:s}", "status", "picked_up"), "If-Match: \"1\"", 200);
}

/* Polls GET `path` on `n` until it answers 200 with _version >= `version`; prints the record
 * and returns it (a new reference), or NULL (d->why). */
static json_t *read_until(struct demo *d, const struct demo_node *n, const char *path,
                          json_int_t version)
{
    uint64_t deadline = demo_now_ms() + 10000;
    for (;;) {
        struct demo_resp r;
        if (demo_http(d, n, "GET", path, NULL, NULL, 2000, &r) != 0)
            return NULL;
        json_t *rec =
            r.status == 200 && num(r.body, "_version") >= version ? json_incref(r.body) : NULL;
        if (rec) {
            demo_say("%s -> GET %s%s", n->org, n->url, path);
            demo_say("   <- 200 %s", demo_json_line(r.body, 150));
        } else if (demo_now_ms() >= deadline || !demo_sleep_ms(50)) {
            demo_fail(
                d, "GET %s on %s's node: %ld %s (not version %" JSON_INTEGER_FORMAT " within 10 s)",
                path, n->org, r.status, demo_json_line(r.body, 200), version);
        }
        demo_resp_free(&r);
        if (rec || d->why[0])
            return rec;
    }
}

/* Field read ACLs: initech (the insurer) sees the shipment's declaredValue, globex (the carrier)
 * gets the same record without it. */
static int read_redacted(struct demo *d, const json_t *at_initech)
{
    json_t *rec = read_until(d, &d->nodes[GLOBEX], "/v1/data/Shipment/SHP-000001", 2);
    if (!rec)
        return -1;
    bool globex_sees = json_object_get(rec, "declaredValue") != NULL;
    json_decref(rec);
    if (!json_object_get(at_initech, "declaredValue") || globex_sees)
        return demo_fail(d, "declaredValue (read: owner, initech) %s initech and %s globex",
                         json_object_get(at_initech, "declaredValue") ? "reaches"
                                                                      : "is hidden from",
                         globex_sees ? "reaches" : "is hidden from");
    demo_say("   declaredValue (field read rule [owner, initech]) reaches initech, not globex");
    return 0;
}

int demo_step_read(struct demo *d)
{
    struct demo_node *initech = &d->nodes[INITECH];
    json_t *rec = read_until(d, initech, "/v1/data/Shipment/SHP-000001", 2);
    if (!rec)
        return -1;
    int rc = read_redacted(d, rec);
    json_decref(rec);
    if (rc != 0)
        return -1;
    struct demo_resp r;
    if (call(d, initech, "GET", "/v1/data/Shipment?carrier=globex", NULL, NULL, &r) != 0)
        return -1;
    size_t n = json_array_size(json_object_get(r.body, "items"));
    demo_resp_free(&r);
    if (n != 3)
        return demo_fail(d, "initech's node lists %zu shipments carried by globex, not 3", n);
    demo_say("   (3 shipments carried by globex, from initech's own copy)");
    demo_say("the invoice's read rule is [owner, acme]: acme reads it on its own node:");
    rec = read_until(d, &d->nodes[ACME], "/v1/data/Invoice/INV-0001", 1);
    json_decref(rec);
    return rec ? 0 : -1;
}

/* A GET on `n` that must be refused with `want`; prints the answer. */
static int must_refuse(struct demo *d, const struct demo_node *n, const char *path, long want)
{
    struct demo_resp r;
    if (call(d, n, "GET", path, NULL, NULL, &r) != 0)
        return -1;
    long st = r.status;
    if (st != want)
        demo_fail(d, "GET %s answered %ld, expected %ld: %s", path, st, want,
                  demo_json_line(r.body, 300));
    demo_resp_free(&r);
    return st == want ? 0 : -1;
}

/* A request without an API key is 401, and the invoice's read rule refuses initech. */
static int acl_keys(struct demo *d)
{
    struct demo_node anon = d->nodes[INITECH];
    anon.key[0] = '\0';
    anon.org = "(no key)";
    demo_say("a request without an API key:");
    if (must_refuse(d, &anon, "/v1/data/Shipment/SHP-000001", 401) != 0)
        return -1;
    demo_say("initech may not read invoices (read rule [owner, acme]), even on its own node:");
    return must_refuse(d, &d->nodes[INITECH], "/v1/data/Invoice/INV-0001", 403);
}

int demo_step_acl(struct demo *d)
{
    demo_say("initech, the insurer, tries to create a shipment (the schema lets only acme):");
    struct demo_resp r;
    if (call(d, &d->nodes[INITECH], "POST", "/v1/data/Shipment", shipment(99, "created"), NULL,
             &r) != 0)
        return -1;
    long st = r.status;
    if (st != 403)
        demo_fail(d, "expected 403, got %ld: %s", st, demo_json_line(r.body, 300));
    demo_resp_free(&r);
    if (st != 403)
        return -1;
    if (demo_http(d, &d->nodes[ACME], "GET", "/v1/data/Shipment/SHP-000099", NULL, NULL, 2000,
                  &r) != 0)
        return -1;
    st = r.status;
    demo_resp_free(&r);
    if (st != 404)
        return demo_fail(d, "the refused shipment reads %ld on acme's node, not 404", st);
    demo_say("   nothing was written: GET /v1/data/Shipment/SHP-000099 on acme's node is 404");
    return acl_keys(d);
}

int demo_step_validation(struct demo *d)
{
    demo_say("acme sends a shipment with a bad id, an unknown status, a negative weight and no "
             "destination:");
    json_t *bad =
        json_pack("{s:s, s:s, s:s, s:s, s:i}", "shipmentId", "SHP-12", "origin", "Rotterdam",
                  "carrier", "globex", "status", "teleported", "weightKg", -5);
    struct demo_resp r;
    if (call(d, &d->nodes[ACME], "POST", "/v1/data/Shipment", bad, NULL, &r) != 0)
        return -1;
    json_t *errs = json_object_get(r.body, "errors");
    size_t n = json_array_size(errs);
    if (r.status != 422 || n == 0) {
        demo_fail(d, "expected 422 with an errors array, got %ld: %s", r.status,
                  demo_json_line(r.body, 300));
        demo_resp_free(&r);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        const json_t *e = json_array_get(errs, i);
        demo_say("   errors[%zu]: %-14s %s   (%s)", i,
                 str(e, "instancePath")[0] ? str(e, "instancePath") : "(record)", str(e, "message"),
                 str(e, "schemaPath"));
    }
    demo_resp_free(&r);
    return 0;
}

int demo_step_events(struct demo *d)
{
    demo_say("acme -> GET %s/v1/events?from=0 (text/event-stream), until %u changes arrived",
             d->nodes[ACME].url, d->records);
    int n = demo_events(d, &d->nodes[ACME], d->records, 5000);
    if (n < 0)
        return -1;
    if ((unsigned)n < d->records)
        return demo_fail(d, "%d of the %u committed changes arrived within 5 s", n, d->records);
    demo_say("   %d events, one per change committed so far", n);
    return 0;
}

/* Writes record `i` through `n` (a shipment from acme, else an invoice from globex) until it is
 * acknowledged, retrying with the same Idempotency-Key across the leader change. */
static int failover_write(struct demo *d, const struct demo_node *n, unsigned i)
{
    bool acme = n == &d->nodes[ACME];
    char key[64], path[64];
    snprintf(path, sizeof path, "/v1/data/%s", acme ? "Shipment" : "Invoice");
    uint64_t t0 = demo_now_ms(), deadline = t0 + FAILOVER_WRITE_DEADLINE_MS;
    unsigned tries = 0;
    for (;;) {
        json_t *body = acme ? shipment(100 + i, "created") : invoice(100 + i, 1);
        const char *id = str(body, acme ? "shipmentId" : "invoiceId");
        char label[32];
        snprintf(label, sizeof label, "%s", id);
        snprintf(key, sizeof key, "Idempotency-Key: demo-%s", label);
        struct demo_resp r;
        int rc = demo_http(d, n, "POST", path, body, key, WRITE_TIMEOUT_MS, &r);
        json_decref(body);
        tries++;
        long st = rc == 0 ? r.status : 0;
        if (rc == 0)
            demo_resp_free(&r);
        if (st == 201) {
            demo_say("%s -> POST %s %s: 201 in %" PRIu64 " ms%s", n->org, path, label,
                     demo_now_ms() - t0, tries > 1 ? " (retried while the leader changed)" : "");
            d->writes_acked++;
            d->records++;
            return 0;
        }
        if ((st >= 400 && st < 500) || demo_now_ms() >= deadline || !demo_sleep_ms(100))
            return st ? demo_fail(d, "POST %s %s answered %ld", path, label, st) : -1;
    }
}

int demo_step_failover(struct demo *d)
{
    int l = demo_wait_leader(d, 20000);
    if (l < 0)
        return -1;
    /* Shipments are acme's to create and invoices globex's: the writer is one that survives. */
    struct demo_node *w = &d->nodes[l == ACME ? GLOBEX : ACME];
    demo_say("%s's node leads; %s writes through its own node", d->nodes[l].org, w->org);
    for (unsigned i = 1; i <= 4; i++)
        if (failover_write(d, w, i) != 0)
            return -1;
    demo_say("kill -9 %ld   (%s's node, the leader)", (long)d->nodes[l].pid, d->nodes[l].org);
    demo_node_kill(&d->nodes[l]);
    d->killed = l;
    uint64_t t_kill = demo_now_ms();
    for (unsigned i = 5; i <= 12; i++)
        if (failover_write(d, w, i) != 0)
            return -1;
    int nl = demo_wait_leader(d, 20000);
    if (nl < 0)
        return -1;
    if (nl == l)
        return demo_fail(d, "the killed node still leads");
    json_t *h = demo_head(d, &d->nodes[nl]);
    demo_say("new leader: %s's node (term %" JSON_INTEGER_FORMAT "); 12 of 12 writes "
             "acknowledged, the last 8 in %.1f s after the kill",
             d->nodes[nl].org, num(json_object_get(h, "node"), "term"),
             (double)(demo_now_ms() - t_kill) / 1000.0);
    json_decref(h);
    return 0;
}

/* Waits until every node answers the same head (height, block hash, root); copies it in *out
 * (a new reference). */
static int converge(struct demo *d, unsigned timeout_ms, json_t **out)
{
    uint64_t deadline = demo_now_ms() + timeout_ms;
    json_t *heads[DEMO_ORGS] = {NULL};
    for (;;) {
        bool same = true;
        for (int i = 0; i < DEMO_ORGS; i++) {
            json_decref(heads[i]);
            heads[i] = demo_head(d, &d->nodes[i]);
            same = same && heads[i] && num(heads[i], "height") == num(heads[0], "height") &&
                   strcmp(str(heads[i], "block_hash"), str(heads[0], "block_hash")) == 0 &&
                   strcmp(str(heads[i], "root"), str(heads[0], "root")) == 0;
        }
        if (same) {
            *out = json_incref(heads[0]);
            for (int i = 0; i < DEMO_ORGS; i++)
                json_decref(heads[i]);
            return 0;
        }
        if (demo_now_ms() >= deadline || !demo_sleep_ms(100)) {
            char line[3][96];
            for (int i = 0; i < DEMO_ORGS; i++) {
                snprintf(line[i], sizeof line[i], "%s %s%" JSON_INTEGER_FORMAT " %.12s",
                         d->nodes[i].org, heads[i] ? "height " : "(no answer)",
                         heads[i] ? num(heads[i], "height") : 0,
                         heads[i] ? str(heads[i], "block_hash") : "");
                json_decref(heads[i]);
            }
            return demo_fail(d, "the heads differ after %u ms: %s; %s; %s", timeout_ms, line[0],
                             line[1], line[2]);
        }
    }
}

static void show_heads(struct demo *d)
{
    for (int i = 0; i < DEMO_ORGS; i++) {
        json_t *h = demo_head(d, &d->nodes[i]);
        demo_say("%-8s height %-4" JSON_INTEGER_FORMAT " block %.16s...  root %.16s...  %s",
                 d->nodes[i].org, num(h, "height"), str(h, "block_hash"), str(h, "root"),
                 str(json_object_get(h, "node"), "role"));
        json_decref(h);
    }
}

int demo_step_catchup(struct demo *d)
{
    if (d->killed < 0)
        return demo_fail(d, "no node was killed");
    struct demo_node *k = &d->nodes[d->killed];
    json_t *h = demo_head(d, &d->nodes[(d->killed + 1) % DEMO_ORGS]);
    json_int_t others = num(h, "height");
    json_decref(h);
    if (demo_node_start(d, k) != 0)
        return -1;
    demo_say("$ treaty node --dir %s   (pid %ld; the others are at height %" JSON_INTEGER_FORMAT
             ")",
             k->dir, (long)k->pid, others);
    uint64_t t0 = demo_now_ms();
    json_t *head = NULL;
    if (converge(d, CONVERGE_TIMEOUT_MS, &head) != 0)
        return -1;
    demo_say("%s's node caught up in %.1f s: the same head on all three nodes", k->org,
             (double)(demo_now_ms() - t0) / 1000.0);
    json_decref(head);
    show_heads(d);
    return 0;
}

/* The latest checkpoint of every node when all are the same and cosigned by all three orgs
 * (a new reference), else NULL. */
static json_t *checkpoint_agreed(struct demo *d)
{
    json_t *first = NULL;
    for (int i = 0; i < DEMO_ORGS; i++) {
        struct demo_resp r;
        if (demo_http(d, &d->nodes[i], "GET", "/v1/ledger/checkpoints/latest", NULL, NULL, 2000,
                      &r) != 0)
            break;
        json_t *cs = json_object_get(r.body, "cosigners");
        bool ok = r.status == 200 && json_array_size(cs) >= DEMO_ORGS;
        for (int o = 0; ok && o < DEMO_ORGS; o++) {
            bool found = false;
            for (size_t j = 0; j < json_array_size(cs); j++)
                found |= strcmp(str(json_array_get(cs, j), "org"), d->nodes[o].org) == 0;
            ok = found;
        }
        ok = ok && (!first || (num(first, "height") == num(r.body, "height") &&
                               strcmp(str(first, "root"), str(r.body, "root")) == 0));
        if (ok && !first)
            first = json_incref(r.body);
        demo_resp_free(&r);
        if (!ok) {
            json_decref(first);
            return NULL;
        }
    }
    return first;
}

/* GET /v1/ledger/blocks/{h} on n; a new reference or NULL (d->why). */
static json_t *block_get(struct demo *d, const struct demo_node *n, json_int_t h)
{
    char path[64];
    struct demo_resp r;
    snprintf(path, sizeof path, "/v1/ledger/blocks/%" JSON_INTEGER_FORMAT, h);
    if (demo_http(d, n, "GET", path, NULL, NULL, 2000, &r) != 0)
        return NULL;
    json_t *b = r.status == 200 ? json_incref(r.body) : NULL;
    if (!b)
        demo_fail(d, "GET %s on %s's node: %ld", path, n->org, r.status);
    demo_resp_free(&r);
    return b;
}

/* On node n: each block from `from` to `to` names the previous one's hash, block `to` is the
 * head's, and block `from` holds the checkpoint's hash and root. */
static int chain_check(struct demo *d, const struct demo_node *n, const json_t *cp,
                       const json_t *head)
{
    json_int_t from = num(cp, "height"), to = num(head, "height");
    json_t *prev = block_get(d, n, from);
    if (!prev)
        return -1;
    int rc = 0;
    if (strcmp(str(prev, "hash"), str(cp, "block_hash")) != 0 ||
        strcmp(str(prev, "root"), str(cp, "root")) != 0)
        rc = demo_fail(d, "%s's block %" JSON_INTEGER_FORMAT " is not the checkpoint's", n->org,
                       from);
    for (json_int_t h = from + 1; rc == 0 && h <= to; h++) {
        json_t *b = block_get(d, n, h);
        if (!b)
            rc = -1;
        else if (strcmp(str(b, "prev_hash"), str(prev, "hash")) != 0)
            rc = demo_fail(d,
                           "%s's block %" JSON_INTEGER_FORMAT
                           " does not chain to block %" JSON_INTEGER_FORMAT,
                           n->org, h, h - 1);
        json_decref(prev);
        prev = b;
    }
    if (rc == 0 && strcmp(str(prev, "hash"), str(head, "block_hash")) != 0)
        rc = demo_fail(d, "%s's block %" JSON_INTEGER_FORMAT " is not its head", n->org, to);
    json_decref(prev);
    return rc;
}

/* Waits for a checkpoint every node holds cosigned by all three orgs. Cosignatures are best
 * effort (a node down at a checkpoint never signs it), so a write now and then makes the next
 * checkpoint (every_ms after the last one) that all three sign. */
static json_t *checkpoint_wait(struct demo *d)
{
    uint64_t t0 = demo_now_ms(), nudge = t0 + 1500;
    unsigned extra = 0;
    for (;;) {
        json_t *cp = checkpoint_agreed(d);
        if (cp)
            return cp;
        if (demo_now_ms() >= t0 + CHECKPOINT_TIMEOUT_MS || !demo_sleep_ms(100)) {
            demo_fail(d, "no checkpoint cosigned by all three orgs within %u ms",
                      CHECKPOINT_TIMEOUT_MS);
            return NULL;
        }
        if (demo_now_ms() >= nudge) {
            nudge = demo_now_ms() + 1500;
            demo_say("(the latest checkpoint lacks a cosignature: one more write makes the next)");
            if (failover_write(d, &d->nodes[ACME], 200 + extra++) != 0)
                return NULL;
        }
    }
}

int demo_step_verify(struct demo *d)
{
    json_t *cp = checkpoint_wait(d), *head = NULL;
    if (!cp || converge(d, CONVERGE_TIMEOUT_MS, &head) != 0) {
        json_decref(cp);
        return -1;
    }
    demo_say("every node's head: height %" JSON_INTEGER_FORMAT ", block %.16s..., root %.16s..., "
             "%" JSON_INTEGER_FORMAT " leaves",
             num(head, "height"), str(head, "block_hash"), str(head, "root"),
             num(head, "tree_size"));
    json_t *cs = json_object_get(cp, "cosigners");
    demo_say("latest checkpoint: height %" JSON_INTEGER_FORMAT ", root %.16s..., cosigned by "
             "%s, %s and %s",
             num(cp, "height"), str(cp, "root"), str(json_array_get(cs, 0), "org"),
             str(json_array_get(cs, 1), "org"), str(json_array_get(cs, 2), "org"));
    int rc = 0;
    if (num(head, "height") - num(cp, "height") > CHAIN_BLOCKS_MAX)
        rc = demo_fail(d, "the head is more than %d blocks past the checkpoint", CHAIN_BLOCKS_MAX);
    for (int i = 0; rc == 0 && i < DEMO_ORGS; i++)
        rc = chain_check(d, &d->nodes[i], cp, head);
    if (rc == 0)
        demo_say("hash chain from the checkpoint (height %" JSON_INTEGER_FORMAT
                 ") to the head checked on each node",
                 num(cp, "height"));
    if (rc == 0)
        rc = demo_verify_proofs(d, &d->nodes[INITECH], cp, head);
    d->verified_height = (uint64_t)num(head, "height");
    snprintf(d->verified_hash, sizeof d->verified_hash, "%s", str(head, "block_hash"));
    json_decref(cp);
    json_decref(head);
    return rc;
}
