/* demo_connect.c — the optional last step of `treaty demo` (--connector): the repository's HubSpot
 * test double (tests/doubles/hubspot.py, run with python3) on a port the kernel picks, and
 * `treaty connect --config FILE` of this binary syncing acme's Shipments with it in both
 * directions. Shows a record made in the double reaching every node, a record written through
 * the API reaching the double, and the connector's status. Both children are recorded in
 * d->conn like the nodes, so the demo always stops them. Called by cli_demo.c. */
#define _XOPEN_SOURCE 700 /* realpath */
#include "node/demo.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define DOUBLE_FILE        "hubspot.py"
#define DOUBLE_TOKEN       "pat-na1-treaty-demo"
#define DOUBLE_START_MS    10000u
#define KEY_ACCEPT_MS      5000u
#define STATUS_UP_MS       15000u
#define SYNC_TIMEOUT_MS    30000u
#define ACME               0
#define INBOUND_KEY        "SHP-000500"
#define OUTBOUND_KEY       "SHP-000501"
#define DOUBLE_OBJECT      "p_shipments"
#define DOUBLE_ID_PROPERTY "shipment_id"

/* True when `dir`/hubspot.py is a regular file. */
static bool has_double(const char *dir)
{
    char path[DEMO_PATH_MAX + 32];
    struct stat st;
    snprintf(path, sizeof path, "%s/%s", dir, DOUBLE_FILE);
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* The default: ./tests/doubles (scripts/demo.sh runs from the repository's root), else
 * tests/doubles in one of the four directories above this binary (build/<type>/node/treaty). */
static bool default_doubles(const struct demo *d, char *out, size_t size)
{
    if (has_double("tests/doubles")) {
        snprintf(out, size, "tests/doubles");
        return true;
    }
    char dir[DEMO_PATH_MAX];
    snprintf(dir, sizeof dir, "%s", d->exe);
    for (int up = 0; up < 5; up++) {
        char *slash = strrchr(dir, '/');
        if (!slash || slash == dir)
            return false;
        *slash = '\0';
        if (up > 0 && (size_t)snprintf(out, size, "%s/tests/doubles", dir) < size &&
            has_double(out))
            return true;
    }
    return false;
}

int demo_connect_setup(struct demo *d, const char *opt)
{
    struct demo_conn *c = &d->conn;
    char found[DEMO_PATH_MAX], abs[PATH_MAX];
    if (!opt && !default_doubles(d, found, sizeof found))
        return demo_fail(d,
                         "--connector: no tests/doubles/%s in the current directory or above "
                         "this binary; name the directory with --doubles DIR",
                         DOUBLE_FILE);
    const char *dir = opt ? opt : found;
    if (!realpath(dir, abs))
        return demo_fail(d, "--doubles %s: %s", dir, strerror(errno));
    if (strlen(abs) >= sizeof c->doubles)
        return demo_fail(d, "--doubles %s: path too long", dir);
    if (!has_double(abs))
        return demo_fail(d, "--doubles %s: no %s in it (the repository's tests/doubles)", dir,
                         DOUBLE_FILE);
    memcpy(c->doubles, abs, strlen(abs) + 1);
    c->status_port = (uint16_t)(d->base_port + 2 * DEMO_ORGS);
    c->saas.org = "the HubSpot double";
    c->connect.org = "the connector";
    return 0;
}

/* A struct demo_node for a local HTTP endpoint without an API key. */
static struct demo_node endpoint(const char *name, uint16_t port)
{
    struct demo_node e;
    memset(&e, 0, sizeof e);
    e.org = name;
    snprintf(e.url, sizeof e.url, "http://127.0.0.1:%u", port);
    return e;
}

/* Fails the step when the double or the connector has exited, naming its exit and last line. */
static int children_alive(struct demo *d)
{
    struct demo_node *kids[] = {&d->conn.saas, &d->conn.connect};
    for (size_t i = 0; i < 2; i++) {
        struct demo_node *k = kids[i];
        if (!k->log[0] || demo_node_alive(k))
            continue;
        char last[512];
        demo_log_last(k, last, sizeof last);
        return demo_fail(d, "%s exited with %d: %s (log %s)", k->org, k->exit_code, last, k->log);
    }
    return 0;
}

/* Reads "port=N" from the double's stdout within DOUBLE_START_MS. */
static int double_port_read(struct demo *d, int fd)
{
    char buf[128];
    size_t len = 0;
    uint64_t deadline = demo_now_ms() + DOUBLE_START_MS;
    while (!memchr(buf, '\n', len)) {
        uint64_t now = demo_now_ms();
        if (demo_signal)
            return demo_fail(d, "interrupted");
        if (now >= deadline)
            return demo_fail(d, "the HubSpot double printed no port within %u ms (log %s)",
                             DOUBLE_START_MS, d->conn.saas.log);
        struct pollfd p = {fd, POLLIN, 0};
        int r = poll(&p, 1, (int)(deadline - now));
        if (r <= 0)
            continue; /* a timeout or a signal: the checks above decide */
        ssize_t n = read(fd, buf + len, sizeof buf - 1 - len);
        if (n <= 0 || (len += (size_t)n) >= sizeof buf - 1)
            break;
    }
    buf[len] = '\0';
    unsigned port = 0;
    if (sscanf(buf, "port=%u", &port) == 1 && port > 0 && port <= 65535) {
        d->conn.double_port = (uint16_t)port;
        return 0;
    }
    for (int i = 0; i < 40 && demo_node_alive(&d->conn.saas); i++)
        demo_sleep_ms(50); /* it closed its output: let it exit, to tell why */
    if (d->conn.saas.pid == 0 && d->conn.saas.exit_code == 127)
        return demo_fail(d, "cannot run python3 (the connector step needs it on PATH)");
    if (children_alive(d) != 0)
        return -1;
    return demo_fail(d, "the HubSpot double printed '%.60s', not its port (log %s)", buf,
                     d->conn.saas.log);
}

static int double_start(struct demo *d)
{
    struct demo_conn *c = &d->conn;
    char script[DEMO_PATH_MAX + 32];
    snprintf(script, sizeof script, "%s/%s", c->doubles, DOUBLE_FILE);
    snprintf(c->saas.log, sizeof c->saas.log, "%s/hubspot.log", c->dir);
    const char *args[] = {script, "--port", "0", "--token", DOUBLE_TOKEN, NULL};
    int p[2];
    if (pipe(p) != 0) /* the children close every descriptor above stderr they do not use */
        return demo_fail(d, "pipe: %s", strerror(errno));
    int rc = demo_spawn(d, &c->saas, "python3", args, p[1]);
    close(p[1]);
    if (rc == 0)
        rc = double_port_read(d, p[0]);
    close(p[0]);
    if (rc == 0)
        demo_say("$ python3 %s --port 0 --token ...   (pid %ld, http://127.0.0.1:%u, log %s)",
                 script, (long)c->saas.pid, c->double_port, c->saas.log);
    return rc;
}

/* Writes `text` and a newline to a new file of mode 0600. */
static int secret_write(struct demo *d, const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        return demo_fail(d, "%s: %s", path, strerror(errno));
    size_t len = strlen(text);
    bool ok = write(fd, text, len) == (ssize_t)len && write(fd, "\n", 1) == 1;
    ok = close(fd) == 0 && ok;
    return ok ? 0 : demo_fail(d, "%s: cannot write it", path);
}

/* A writer key of acme for the connector, once acme's node accepts it (it reloads its keys). */
static int connector_key(struct demo *d, const char *path)
{
    struct demo_node *acme = &d->nodes[ACME];
    char out[4096];
    const char *args[] = {"apikey", "create", "--dir",     acme->dir, "--role",
                          "writer", "--name", "connector", NULL};
    demo_say("$ treaty apikey create --dir %s --role writer --name connector > %s", acme->dir,
             path);
    int code = demo_run(d, out, sizeof out, args);
    if (code != 0)
        return code > 0 ? demo_fail(d, "treaty apikey create exited %d: %s", code, out) : -1;
    struct demo_node as = *acme;
    size_t len = strcspn(out, " \r\n");
    if (strncmp(out, "trk_", 4) != 0 || len >= sizeof as.key)
        return demo_fail(d, "treaty apikey create printed no key: %s", out);
    snprintf(as.key, sizeof as.key, "%.*s", (int)len, out);
    if (secret_write(d, path, as.key) != 0)
        return -1;
    uint64_t deadline = demo_now_ms() + KEY_ACCEPT_MS;
    for (;;) {
        struct demo_resp r;
        if (demo_http(d, &as, "GET", "/v1/data/Shipment?limit=1", NULL, NULL, 2000, &r) != 0)
            return -1;
        long st = r.status;
        demo_resp_free(&r);
        if (st == 200)
            return 0;
        if (demo_now_ms() >= deadline || !demo_sleep_ms(100))
            return demo_fail(d, "acme's node answers %ld to the new key, not 200, after %u ms", st,
                             KEY_ACCEPT_MS);
    }
}

static json_t *field(const char *ledger, const char *saas)
{
    return json_pack("{s:s, s:s}", "ledger", ledger, "saas", saas);
}

/* The connector config: acme's Shipments <-> the double's p_shipments, both directions. */
static int config_write(struct demo *d, const char *cfg, const char *key, const char *token)
{
    struct demo_conn *c = &d->conn;
    char state[DEMO_PATH_MAX + 16], base[40], listen[32];
    snprintf(state, sizeof state, "%s/state", c->dir);
    snprintf(base, sizeof base, "http://127.0.0.1:%u", c->double_port);
    snprintf(listen, sizeof listen, "127.0.0.1:%u", c->status_port);
    json_t *fields =
        json_pack("[o, o, o, o, o, {s:s, s:s, s:s}]", field("shipmentId", DOUBLE_ID_PROPERTY),
                  field("origin", "origin"), field("destination", "destination"),
                  field("status", "status"), field("carrier", "carrier"), "ledger", "weightKg",
                  "saas", "weight", "transform", "number_string");
    json_t *doc = json_pack(
        "{s:{s:s, s:{s:s}}, s:s, s:s, s:{s:i, s:i}, s:[{s:s, s:s, s:s, s:s, s:s, s:s, s:i, "
        "s:{s:s, s:{s:s}}, s:o}]}",
        "node", "url", d->nodes[ACME].url, "api_key", "file", key, "state_dir", state,
        "status_listen", listen, "limits", "backoff_base_ms", 100, "backoff_max_ms", 2000,
        "connectors", "name", "hubspot", "kind", "hubspot", "direction", "both", "ledger_type",
        "Shipment", "object", DOUBLE_OBJECT, "external_id", DOUBLE_ID_PROPERTY, "poll_interval_ms",
        250, "hubspot", "base_url", base, "token", "file", token, "fields", fields);
    if (!doc || json_dump_file(doc, cfg, JSON_INDENT(2)) != 0) {
        json_decref(doc);
        return demo_fail(d, "%s: cannot write the connector config", cfg);
    }
    json_decref(doc);
    demo_say("%s: acme's Shipment <-> the double's %s by %s, direction both, poll 250 ms, "
             "secrets from files",
             cfg, DOUBLE_OBJECT, DOUBLE_ID_PROPERTY);
    return 0;
}

/* Starts `treaty connect` and waits until its status server answers. */
static int connect_start(struct demo *d, const char *cfg)
{
    struct demo_conn *c = &d->conn;
    snprintf(c->connect.log, sizeof c->connect.log, "%s/connect.log", c->dir);
    const char *args[] = {"connect", "--config", cfg, NULL};
    if (demo_spawn(d, &c->connect, d->exe, args, -1) != 0)
        return -1;
    demo_say("$ treaty connect --config %s   (pid %ld, log %s)", cfg, (long)c->connect.pid,
             c->connect.log);
    struct demo_node st = endpoint("status", c->status_port);
    uint64_t deadline = demo_now_ms() + STATUS_UP_MS;
    char keep[sizeof d->why];
    for (;;) {
        if (children_alive(d) != 0)
            return -1;
        struct demo_resp r;
        memcpy(keep, d->why, sizeof keep); /* refused while it starts: not a failure yet */
        long code =
            demo_http(d, &st, "GET", "/v1/connectors", NULL, NULL, 2000, &r) == 0 ? r.status : 0;
        memcpy(d->why, keep, sizeof keep);
        if (code)
            demo_resp_free(&r);
        if (code == 200)
            return 0;
        if (demo_now_ms() >= deadline || !demo_sleep_ms(100))
            return demo_fail(d, "the connector's status server (%s) did not answer within %u ms",
                             st.url, STATUS_UP_MS);
    }
}

/* GET `path` on `n` until `pick` finds in the answer what it waits for (a new reference, which
 * is printed). 0, or -1 naming `what`. */
static int poll_until(struct demo *d, const struct demo_node *n, const char *path,
                      json_t *(*pick)(const json_t *body, long status), const char *what)
{
    uint64_t deadline = demo_now_ms() + SYNC_TIMEOUT_MS;
    for (;;) {
        if (children_alive(d) != 0)
            return -1;
        struct demo_resp r;
        if (demo_http(d, n, "GET", path, NULL, NULL, 2000, &r) != 0)
            return -1;
        json_t *got = pick(r.body, r.status);
        bool ok = got != NULL;
        if (ok) {
            demo_say("%s -> GET %s%s", n->org, n->url, path);
            demo_say("   <- %ld %s", r.status, demo_json_line(got, 150));
            json_decref(got);
        }
        long st = r.status;
        demo_resp_free(&r);
        if (ok)
            return 0;
        if (demo_now_ms() >= deadline || !demo_sleep_ms(100))
            return demo_fail(d, "%s within %u ms (GET %s on %s answers %ld)", what, SYNC_TIMEOUT_MS,
                             path, n->org, st);
    }
}

/* The ledger record once it holds the double's values: its fields and owner, without the other
 * metadata. */
static json_t *inbound_arrived(const json_t *b, long status)
{
    const char *o = json_string_value(json_object_get(b, "origin"));
    if (status != 200 || !o || strcmp(o, "Osaka") != 0 ||
        json_number_value(json_object_get(b, "weightKg")) != 812.5)
        return NULL;
    json_t *shown = json_object();
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)(uintptr_t)b, k, v) if (k[0] != '_' || strcmp(k, "_owner") == 0)
        json_object_set(shown, k, v);
    return shown;
}

/* The double's object once it holds the values written through the API. */
static json_t *outbound_arrived(const json_t *b, long status)
{
    json_t *rec = json_object_get(json_object_get(b, "records"), OUTBOUND_KEY);
    const char *dst = json_string_value(json_object_get(rec, "destination"));
    const char *w = json_string_value(json_object_get(rec, "weight"));
    bool ok = status == 200 && dst && strcmp(dst, "Valencia") == 0 && w && strtod(w, NULL) == 640.0;
    return ok ? json_pack("{s:O}", "records." OUTBOUND_KEY, rec) : NULL;
}

/* A record made in the double (a user's edit there) reaches the ledger of every node. */
static int show_inbound(struct demo *d)
{
    struct demo_node dbl = endpoint("hubspot", d->conn.double_port);
    json_t *edit = json_pack("{s:{s:s, s:{s:s, s:s, s:s, s:s, s:s}}}", "modify", "key", INBOUND_KEY,
                             "properties", "origin", "Osaka", "destination", "Oslo", "status",
                             "created", "carrier", "globex", "weight", "812.5");
    demo_say("a user creates %s in HubSpot:", INBOUND_KEY);
    demo_say("hubspot -> POST %s/_control %s", dbl.url, demo_json_line(edit, 150));
    struct demo_resp r;
    int rc = demo_http(d, &dbl, "POST", "/_control", edit, NULL, 5000, &r);
    json_decref(edit);
    if (rc != 0)
        return -1;
    long st = r.status;
    demo_resp_free(&r);
    if (st != 200)
        return demo_fail(d, "the HubSpot double answered %ld to the new object", st);
    for (int i = 0; i < DEMO_ORGS; i++)
        if (poll_until(d, &d->nodes[i], "/v1/data/Shipment/" INBOUND_KEY, inbound_arrived,
                       INBOUND_KEY " (made in the HubSpot double) did not reach the ledger") != 0)
            return -1;
    demo_say("   %s, made in HubSpot, is in the ledger on all three nodes (weight \"812.5\" -> "
             "812.5 by number_string)",
             INBOUND_KEY);
    return 0;
}

/* A record written through acme's API reaches the double. */
static int show_outbound(struct demo *d)
{
    struct demo_node dbl = endpoint("hubspot", d->conn.double_port);
    struct demo_node *acme = &d->nodes[ACME];
    json_t *rec = json_pack("{s:s, s:s, s:s, s:s, s:s, s:i}", "shipmentId", OUTBOUND_KEY, "origin",
                            "Genoa", "destination", "Valencia", "status", "created", "carrier",
                            "globex", "weightKg", 640);
    demo_say("acme -> POST %s/v1/data/Shipment %s", acme->url, demo_json_line(rec, 120));
    struct demo_resp r;
    int rc = demo_http(d, acme, "POST", "/v1/data/Shipment", rec, NULL, 10000, &r);
    json_decref(rec);
    if (rc != 0)
        return -1;
    long st = r.status;
    demo_say("   <- %ld %s", st, demo_json_line(r.body, 120));
    demo_resp_free(&r);
    if (st != 201)
        return demo_fail(d, "POST /v1/data/Shipment %s answered %ld, expected 201", OUTBOUND_KEY,
                         st);
    d->writes_acked++;
    if (poll_until(d, &dbl, "/_control", outbound_arrived,
                   OUTBOUND_KEY " (written through the API) did not reach the HubSpot double") != 0)
        return -1;
    demo_say("   %s, written through acme's API, is an object in HubSpot (batch upsert by %s)",
             OUTBOUND_KEY, DOUBLE_ID_PROPERTY);
    return 0;
}

static const char *jstr(const json_t *o, const char *k, const char *none)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s ? s : none;
}

/* Prints one job of the status document; false when it lacks what the tour just showed. */
static bool job_show(const json_t *j)
{
    bool in = strcmp(jstr(j, "direction", ""), "inbound") == 0;
    const char *pos = jstr(j, in ? "cursor" : "offset", NULL);
    json_int_t records = json_integer_value(json_object_get(j, "records"));
    demo_say("   %-8s state %-8s records %-4" JSON_INTEGER_FORMAT " skipped %-4" JSON_INTEGER_FORMAT
             " lag %" JSON_INTEGER_FORMAT " ms  %s %s",
             jstr(j, "direction", "?"), jstr(j, "state", "?"), records,
             json_integer_value(json_object_get(j, "skipped")),
             json_integer_value(json_object_get(j, "lag_ms")), in ? "cursor" : "offset",
             pos ? pos : "(none)");
    if (json_is_string(json_object_get(j, "last_error")))
        demo_say("            last_error: %s", jstr(j, "last_error", ""));
    return pos && records >= 1;
}

/* true when the status document's outbound job has nothing queued or in flight. */
static bool outbound_idle(const json_t *body)
{
    const json_t *c = json_array_get(json_object_get(body, "connectors"), 0);
    const json_t *jobs = json_object_get(c, "jobs");
    for (size_t i = 0; i < json_array_size(jobs); i++) {
        const json_t *j = json_array_get(jobs, i);
        if (strcmp(jstr(j, "direction", ""), "outbound") == 0)
            return strcmp(jstr(j, "state", ""), "idle") == 0;
    }
    return false;
}

static int show_status(struct demo *d)
{
    struct demo_node st = endpoint("status", d->conn.status_port);
    demo_say("-> GET %s/v1/connectors", st.url);
    struct demo_resp r;
    /* The double holds SHP-000501 once it has taken the batch; the connector counts the batch
     * when it has read the answer: wait (briefly) until the outbound job has nothing in flight,
     * so the counts shown include it. */
    uint64_t deadline = demo_now_ms() + 5000;
    for (;;) {
        if (demo_http(d, &st, "GET", "/v1/connectors", NULL, NULL, 5000, &r) != 0)
            return -1;
        if (r.status != 200 || outbound_idle(r.body) || demo_now_ms() >= deadline ||
            !demo_sleep_ms(100))
            break;
        demo_resp_free(&r);
    }
    const json_t *c = json_array_get(json_object_get(r.body, "connectors"), 0);
    const json_t *jobs = json_object_get(c, "jobs");
    int rc = r.status == 200 && json_array_size(jobs) == 2
                 ? 0
                 : demo_fail(d, "GET /v1/connectors answered %ld %s", r.status,
                             demo_json_line(r.body, 300));
    if (rc == 0)
        demo_say("   <- 200: connector %s (%s, %s), dead letters %zu", jstr(c, "name", "?"),
                 jstr(c, "kind", "?"), jstr(c, "ledger_type", "?"),
                 json_array_size(json_object_get(c, "dead_letters")));
    for (size_t i = 0; rc == 0 && i < 2; i++)
        if (!job_show(json_array_get(jobs, i)))
            rc = demo_fail(d, "the %s job shows no record synced and no position: %s",
                           jstr(json_array_get(jobs, i), "direction", "?"),
                           demo_json_line(json_array_get(jobs, i), 300));
    demo_resp_free(&r);
    if (rc == 0)
        demo_say("   (skipped: the connector's own writes coming back from the other side, "
                 "recognised by their synced hash: no echo loop)");
    return rc;
}

int demo_step_connector(struct demo *d)
{
    struct demo_conn *c = &d->conn;
    char cfg[DEMO_PATH_MAX + 32], key[DEMO_PATH_MAX + 32], token[DEMO_PATH_MAX + 32];
    snprintf(c->dir, sizeof c->dir, "%s/connect", d->root);
    if (mkdir(c->dir, 0700) != 0)
        return demo_fail(d, "%s: %s", c->dir, strerror(errno));
    snprintf(cfg, sizeof cfg, "%s/connect.json", c->dir);
    snprintf(key, sizeof key, "%s/connector.key", c->dir);
    snprintf(token, sizeof token, "%s/hubspot.token", c->dir);
    if (double_start(d) != 0 || connector_key(d, key) != 0 ||
        secret_write(d, token, DOUBLE_TOKEN) != 0 || config_write(d, cfg, key, token) != 0 ||
        connect_start(d, cfg) != 0)
        return -1;
    if (show_inbound(d) != 0 || show_outbound(d) != 0)
        return -1;
    return show_status(d);
}

void demo_connect_serve_hint(const struct demo *d)
{
    const struct demo_conn *c = &d->conn;
    if (!c->on || c->connect.pid <= 0)
        return;
    demo_say("connector  http://127.0.0.1:%u/v1/connectors   HubSpot double "
             "http://127.0.0.1:%u/_control",
             c->status_port, c->double_port);
}

void demo_connect_check(struct demo *d)
{
    struct demo_node *kids[] = {&d->conn.saas, &d->conn.connect};
    for (size_t i = 0; i < 2; i++)
        if (kids[i]->pid > 0 && !demo_node_alive(kids[i]))
            demo_say("note: %s exited (%d); see %s", kids[i]->org, kids[i]->exit_code,
                     kids[i]->log);
}

/* SIGTERM, a bounded wait, then SIGKILL; what went wrong into `what` ("" when it stopped). */
static void child_stop(struct demo_node *n, unsigned timeout_ms, char *what, size_t size)
{
    what[0] = '\0';
    if (n->pid <= 0)
        return;
    kill(n->pid, SIGTERM);
    uint64_t deadline = demo_now_ms() + timeout_ms;
    while (demo_node_alive(n) && demo_now_ms() < deadline) {
        struct timespec ts = {0, 20 * 1000 * 1000};
        nanosleep(&ts, NULL); /* not demo_sleep_ms: a second Ctrl-C must not skip this */
    }
    if (n->pid > 0) {
        demo_node_kill(n);
        snprintf(what, size, "did not stop within %u ms (killed)", timeout_ms);
    } else if (n->exit_code != 0 && n->exit_code != -SIGTERM) {
        snprintf(what, size, "exited with %d on SIGTERM", n->exit_code);
    }
}

int demo_connect_stop(struct demo *d, unsigned timeout_ms)
{
    struct demo_node *kids[] = {&d->conn.connect, &d->conn.saas}; /* the connector first */
    int bad = 0;
    size_t off = 0;
    for (size_t i = 0; i < 2; i++) {
        char what[96];
        child_stop(kids[i], timeout_ms, what, sizeof what);
        if (what[0] && off < sizeof d->why) {
            off += (size_t)snprintf(d->why + off, sizeof d->why - off, "%s%s %s (see %s)",
                                    bad ? "; " : "", kids[i]->org, what, kids[i]->log);
            bad++;
        }
    }
    return bad;
}
