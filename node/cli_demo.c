/* cli_demo.c — `treaty demo`: a network of three orgs (acme, globex, initech) on loopback, made
 * with this binary's own commands (init, network create, apikey create, node), then a tour of
 * what it does (demo_tour.c), a summary, and the network left running until Ctrl-C unless
 * --exit-after-tour; with --connector a last step syncs with a SaaS test double (demo_connect.c).
 * Whatever happens, every process it started is stopped before it exits and a temporary work
 * directory is removed. Exit 0 done, 2 usage, 3 a step failed (named). */
#define _XOPEN_SOURCE 700 /* realpath */
#include "cli.h"
#include "node/demo.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define DEMO_DEFAULT_BASE_PORT 8401
#define DEMO_LEADER_TIMEOUT_MS 20000
#define DEMO_STOP_TIMEOUT_MS   20000

static const char cli_demo_help[] =
    "usage: treaty demo [--dir DIR] [--base-port P] [--schema FILE] [--exit-after-tour]\n"
    "                   [--connector [--doubles DIR]]\n"
    "\n"
    "Starts a network of three organizations on 127.0.0.1 — acme (a shipper), globex (its\n"
    "carrier) and initech (the insurer) — as three 'treaty node' processes of this binary,\n"
    "prints their API URLs and API keys, and tours it: shipments and an invoice written by\n"
    "different orgs through different nodes and read back on another, a write the schema's\n"
    "access rules refuse (403), a record the schema rejects (422, every violation), the change\n"
    "stream (GET /v1/events), the leader killed with SIGKILL while writes continue, its restart\n"
    "and catch-up, and a check of the ledger (identical heads and hash chain, the latest\n"
    "checkpoint cosigned by all three orgs, Merkle inclusion and consistency proofs against\n"
    "its root). Then it prints a summary and keeps the network running until Ctrl-C, when it\n"
    "stops every node and removes a temporary work directory.\n"
    "\n"
    "  --dir DIR          work directory (must not exist or be empty; kept at exit);\n"
    "                     default: a new temporary directory, removed at exit\n"
    "  --base-port P      the APIs listen on P, P+1, P+2 and the peers on P+3..P+5\n"
    "                     (default 8401)\n"
    "  --schema FILE      the network schema (default: the sample supply-chain schema built\n"
    "                     into this binary); the tour needs its Shipment and Invoice types\n"
    "  --exit-after-tour  stop the network and exit once the tour is done\n"
    "  --connector        one more step: starts the HubSpot test double of treaty's source\n"
    "                     tree (tests/doubles/hubspot.py; needs python3 on PATH) on a port\n"
    "                     the kernel picks, and 'treaty connect' syncing acme's shipments\n"
    "                     with it both ways (its status server on P+6); shows a record made\n"
    "                     in the double on every node, one written through the API in the\n"
    "                     double, and GET /v1/connectors\n"
    "  --doubles DIR      where hubspot.py is (default: ./tests/doubles, as scripts/demo.sh\n"
    "                     runs from the repository's root, else tests/doubles in a directory\n"
    "                     above this binary)\n"
    "\n"
    "Exit codes: 0 done, 2 usage or an unusable --dir, --schema or --doubles, 3 a step failed\n"
    "(the step and the reason are printed) or a port is taken. Nothing is left running either\n"
    "way.\n";

volatile sig_atomic_t demo_signal;

static const char *const demo_orgs[DEMO_ORGS] = {"acme", "globex", "initech"};

struct demo_opts {
    const char *dir, *schema, *doubles;
    unsigned base_port;
    bool exit_after_tour, connector;
};

uint64_t demo_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

void demo_say(const char *fmt, ...)
{
    va_list ap;
    fputs("  ", stdout);
    va_start(ap, fmt);
    vfprintf(stdout, fmt, ap);
    va_end(ap);
    fputc('\n', stdout);
    fflush(stdout);
}

int demo_fail(struct demo *d, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(d->why, sizeof d->why, fmt, ap);
    va_end(ap);
    return -1;
}

bool demo_sleep_ms(unsigned ms)
{
    struct timespec ts = {(time_t)(ms / 1000u), (long)(ms % 1000u) * 1000000L};
    if (!demo_signal)
        nanosleep(&ts, NULL); /* a signal cuts it short */
    return demo_signal == 0;
}

static void on_signal(int sig)
{
    demo_signal = sig;
}

/* SIGINT/SIGTERM/SIGHUP end the demo through its normal cleanup; SIGPIPE (stdout closed) does
 * not kill it before its nodes are stopped. No SA_RESTART: a wait is cut short. */
static void signals_install(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
}

static int demo_parse(int argc, char **argv, struct demo_opts *o)
{
    static const char cmd[] = "demo";
    memset(o, 0, sizeof *o);
    o->base_port = DEMO_DEFAULT_BASE_PORT;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        bool *flag = strcmp(a, "--exit-after-tour") == 0 ? &o->exit_after_tour
                     : strcmp(a, "--connector") == 0     ? &o->connector
                                                         : NULL;
        if (flag) {
            *flag = true;
            continue;
        }
        bool port = strcmp(a, "--base-port") == 0;
        const char **slot = strcmp(a, "--dir") == 0       ? &o->dir
                            : strcmp(a, "--schema") == 0  ? &o->schema
                            : strcmp(a, "--doubles") == 0 ? &o->doubles
                                                          : NULL;
        if (!slot && !port)
            return cli_usage_error(
                cmd, a[0] == '-' ? "unknown option '%s'" : "unexpected argument '%s'", a);
        if (i + 1 >= argc || !argv[i + 1][0])
            return cli_usage_error(cmd, "%s expects a value", a);
        const char *v = argv[++i];
        if (slot) {
            *slot = v;
            continue;
        }
        char *end;
        errno = 0;
        unsigned long p = strtoul(v, &end, 10);
        if (errno || *end || v[0] < '0' || v[0] > '9' || p < 1 || p > 65535 - 2 * DEMO_ORGS + 1)
            return cli_usage_error(cmd, "--base-port expects a port from 1 to %d, got '%s'",
                                   65535 - 2 * DEMO_ORGS + 1, v);
        o->base_port = (unsigned)p;
    }
    if (o->doubles && !o->connector)
        return cli_usage_error(cmd, "--doubles is for the connector step: add --connector");
    if (o->connector && o->base_port > 65535 - 2 * DEMO_ORGS)
        return cli_usage_error(cmd,
                               "--base-port %u leaves no port P+6 for the connector's "
                               "status server",
                               o->base_port);
    return CLI_EXIT_OK;
}

static void demo_heading(const struct demo *d, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void demo_heading(const struct demo *d, const char *fmt, ...)
{
    va_list ap;
    fputs(d->color ? "\n\033[1m== " : "\n== ", stdout);
    va_start(ap, fmt);
    vfprintf(stdout, fmt, ap);
    va_end(ap);
    fputs(d->color ? "\033[0m\n" : "\n", stdout);
    fflush(stdout);
}

/* The value of the line "name=value" in `out`, copied into `val`; false when absent. */
static bool output_value(const char *out, const char *name, char *val, size_t size)
{
    size_t n = strlen(name);
    for (const char *p = out; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
        if (strncmp(p, name, n) == 0 && p[n] == '=') {
            size_t len = strcspn(p + n + 1, "\r\n");
            snprintf(val, size, "%.*s", (int)len, p + n + 1);
            return true;
        }
    }
    return false;
}

/* Runs a subcommand whose failure fails the step, its output in `out`. */
static int demo_must(struct demo *d, char *out, size_t size, const char *const *args)
{
    int code = demo_run(d, out, size, args);
    if (code == 0)
        return 0;
    if (code > 0)
        demo_fail(d, "treaty %s exited %d: %s", args[0], code, out);
    return -1;
}

/* One admin API key per org with `treaty apikey create`, stored in the node's directory; every
 * other use of the keys is in demo_http.c's request options. */
static int demo_keys_create(struct demo *d)
{
    char out[4096];
    for (int i = 0; i < DEMO_ORGS; i++) {
        struct demo_node *n = &d->nodes[i];
        const char *args[] = {"apikey", "create", "--dir", n->dir, "--role",
                              "admin",  "--name", "demo",  NULL};
        demo_say("$ treaty apikey create --dir %s --role admin --name demo", n->dir);
        if (demo_must(d, out, sizeof out, args) != 0)
            return -1;
        const char *k = strstr(out, "trk_");
        size_t len = k ? strcspn(k, " \r\n") : 0;
        if (!k || len >= sizeof n->key)
            return demo_fail(d, "treaty apikey create printed no key: %s", out);
        snprintf(n->key, sizeof n->key, "%.*s", (int)len, k);
    }
    return 0;
}

static int step_network(struct demo *d)
{
    char out[8192], members[DEMO_ORGS][160], pk[80];
    for (int i = 0; i < DEMO_ORGS; i++) {
        struct demo_node *n = &d->nodes[i];
        char peer[32], api[32];
        snprintf(peer, sizeof peer, "127.0.0.1:%u", n->peer_port);
        snprintf(api, sizeof api, "127.0.0.1:%u", n->api_port);
        const char *args[] = {"init",   "--org", n->org,  "--dir", n->dir,
                              "--peer", peer,    "--api", api,     NULL};
        demo_say("$ treaty init --org %s --dir %s --peer %s --api %s", n->org, n->dir, peer, api);
        if (demo_must(d, out, sizeof out, args) != 0)
            return -1;
        if (!output_value(out, "public_key", pk, sizeof pk))
            return demo_fail(d, "treaty init printed no public_key= line: %s", out);
        demo_say("  %s's Ed25519 public key %.16s...", n->org, pk);
        snprintf(members[i], sizeof members[i], "%s=%s@%s", n->org, pk, peer);
    }
    const char *args[] = {"network",
                          "create",
                          "--name",
                          "supply-chain",
                          "--schema",
                          d->schema,
                          "--out",
                          d->genesis,
                          "--heartbeat-ms",
                          "50",
                          "--election-ms",
                          "500",
                          "--checkpoint-ms",
                          "1000",
                          "--member",
                          members[0],
                          "--member",
                          members[1],
                          "--member",
                          members[2],
                          NULL};
    demo_say("$ treaty network create --name supply-chain --schema %s --out %s --member "
             "acme=... --member globex=... --member initech=...",
             d->schema, d->genesis);
    if (demo_must(d, out, sizeof out, args) != 0)
        return -1;
    char id[80];
    if (output_value(out, "network_id", id, sizeof id))
        demo_say("  network id %.16s... (every member derives it from the genesis)", id);
    return demo_keys_create(d);
}

static int step_start(struct demo *d)
{
    for (int i = 0; i < DEMO_ORGS; i++) {
        struct demo_node *n = &d->nodes[i];
        if (demo_node_start(d, n) != 0)
            return -1;
        demo_say("$ treaty node --dir %s --genesis %s   (pid %ld, log %s/node.log)", n->dir,
                 d->genesis, (long)n->pid, n->dir);
    }
    uint64_t t0 = demo_now_ms();
    int l = demo_wait_leader(d, DEMO_LEADER_TIMEOUT_MS);
    if (l < 0)
        return -1;
    demo_say("leader elected: %s's node (after %.1f s)", d->nodes[l].org,
             (double)(demo_now_ms() - t0) / 1000.0);
    fputc('\n', stdout);
    for (int i = 0; i < DEMO_ORGS; i++) {
        const struct demo_node *n = &d->nodes[i];
        demo_say("%-8s %s   API key: %s", n->org, n->url, n->key);
    }
    return 0;
}

struct demo_step {
    const char *name, *title;
    int (*fn)(struct demo *d);
};

static const struct demo_step demo_steps[] = {
    {"network", "three orgs, one genesis: treaty init and treaty network create", step_network},
    {"start", "one treaty node per org; a leader is elected", step_start},
    {"write", "acme writes shipments through its node, globex an invoice through its own",
     demo_step_write},
    {"read", "the records read back on the other nodes", demo_step_read},
    {"acl", "a write the schema's access rules forbid is refused (403)", demo_step_acl},
    {"validation", "a record that violates the schema is refused (422, every violation)",
     demo_step_validation},
    {"events", "the stream of committed changes (GET /v1/events)", demo_step_events},
    {"failover", "the leader is killed (SIGKILL); writes continue through the others",
     demo_step_failover},
    {"catch-up", "the killed node restarts and catches up", demo_step_catchup},
    {"verify", "the ledger: identical heads, hash chain, cosigned checkpoint, Merkle proofs",
     demo_step_verify},
    {"connector", "treaty connect syncs the ledger with a HubSpot test double, both ways",
     demo_step_connector}, /* last: only with --connector */
};

#define DEMO_STEPS (sizeof demo_steps / sizeof demo_steps[0])

static void demo_summary(struct demo *d)
{
    demo_heading(d, "summary");
    demo_say("writes acknowledged  %u", d->writes_acked);
    demo_say("leader changes       %u", d->leader_changes);
    demo_say("verified head        height %" PRIu64 ", block %.16s..., identical on all three "
             "nodes",
             d->verified_height, d->verified_hash);
    demo_say("time                 %.1f s", (double)(demo_now_ms() - d->start_ms) / 1000.0);
}

/* Runs the tour; the index of the failed step, or -1 when every step passed. */
static int demo_tour(struct demo *d)
{
    size_t steps = d->conn.on ? DEMO_STEPS : DEMO_STEPS - 1;
    for (size_t i = 0; i < steps; i++) {
        demo_heading(d, "[%zu/%zu] %s: %s", i + 1, steps, demo_steps[i].name, demo_steps[i].title);
        d->why[0] = '\0';
        if (demo_signal) {
            demo_fail(d, "interrupted");
            return (int)i;
        }
        if (demo_steps[i].fn(d) != 0)
            return (int)i;
    }
    return -1;
}

/* After the tour: the network runs until a signal; a node that exits meanwhile is reported. */
static void demo_serve(struct demo *d)
{
    demo_heading(d, "the network keeps running");
    for (int i = 0; i < DEMO_ORGS; i++)
        demo_say("%-8s %s", d->nodes[i].org, d->nodes[i].url);
    const struct demo_node *a = &d->nodes[0];
    demo_connect_serve_hint(d);
    demo_say("try: curl -H 'Authorization: Bearer %s' %s/v1/data/Shipment", a->key, a->url);
    demo_say("Press Ctrl-C to stop the nodes%s.",
             d->temp_root ? " and remove the work directory" : "");
    while (!demo_signal) {
        for (int i = 0; i < DEMO_ORGS; i++) {
            struct demo_node *n = &d->nodes[i];
            if (n->pid > 0 && !demo_node_alive(n))
                demo_say("note: %s's node exited (%d); see %s/node.log", n->org, n->exit_code,
                         n->dir);
        }
        demo_connect_check(d);
        demo_sleep_ms(250);
    }
    fputc('\n', stdout);
}

/* Writes the embedded sample schema into the work directory, unless --schema named one. */
static int demo_schema_file(struct demo *d)
{
    if (d->schema[0])
        return 0;
    snprintf(d->schema, sizeof d->schema, "%s/supply-chain.json", d->root);
    FILE *f = fopen(d->schema, "wx");
    bool ok = f && fwrite(demo_schema_json, 1, demo_schema_json_len, f) == demo_schema_json_len;
    if (f && fclose(f) != 0)
        ok = false;
    return ok ? 0 : demo_fail(d, "%s: cannot write the sample schema", d->schema);
}

/* Everything before the first step; returns a CLI exit code. Nothing is created when an
 * option is unusable or a port is taken. */
static int demo_setup(struct demo *d, const struct demo_opts *o)
{
    ssize_t len = readlink("/proc/self/exe", d->exe, sizeof d->exe - 1);
    if (len <= 0) {
        demo_fail(d, "cannot find this binary (/proc/self/exe): %s", strerror(errno));
        return CLI_EXIT_RUNTIME;
    }
    d->exe[len] = '\0';
    d->base_port = (uint16_t)o->base_port;
    d->leader = d->killed = -1;
    d->color = isatty(STDOUT_FILENO) == 1;
    if (o->schema) {
        char abs[PATH_MAX];
        const char *bad = realpath(o->schema, abs) ? NULL : strerror(errno);
        if (!bad && strlen(abs) >= sizeof d->schema)
            bad = "path too long";
        if (bad) {
            demo_fail(d, "--schema %s: %s", o->schema, bad);
            return CLI_EXIT_USAGE;
        }
        memcpy(d->schema, abs, strlen(abs) + 1);
    }
    d->conn.on = o->connector;
    if (d->conn.on && demo_connect_setup(d, o->doubles) != 0)
        return CLI_EXIT_USAGE;
    if (demo_ports_free(d) != 0 || demo_http_init(d) != 0)
        return CLI_EXIT_RUNTIME;
    snprintf(d->root, sizeof d->root, "%s", o->dir ? o->dir : "");
    if (demo_root_create(d) != 0)
        return o->dir ? CLI_EXIT_USAGE : CLI_EXIT_RUNTIME; /* the --dir given is unusable */
    snprintf(d->genesis, sizeof d->genesis, "%s/genesis.json", d->root);
    for (int i = 0; i < DEMO_ORGS; i++) {
        struct demo_node *n = &d->nodes[i];
        n->org = demo_orgs[i];
        snprintf(n->dir, sizeof n->dir, "%s/%s", d->root, n->org);
        n->api_port = (uint16_t)(d->base_port + i);
        n->peer_port = (uint16_t)(d->base_port + DEMO_ORGS + i);
        snprintf(n->url, sizeof n->url, "http://127.0.0.1:%u", n->api_port);
    }
    return demo_schema_file(d) == 0 ? CLI_EXIT_OK : CLI_EXIT_RUNTIME;
}

/* Reports how stopping `what` went (`bad` processes did not stop cleanly, d->why says which);
 * the exit code. */
static int stop_report(struct demo *d, int bad, const char *what, const char *done, int code)
{
    if (bad == 0) {
        printf("%s\n", done);
        return code;
    }
    char why[sizeof d->why];
    memcpy(why, d->why, sizeof why);
    cli_errorf("demo: stopping %s: %s", what, why);
    return CLI_EXIT_RUNTIME;
}

/* Stops the connector's children and the nodes and removes a temporary work directory; the
 * final exit code. */
static int demo_teardown(struct demo *d, int code)
{
    bool any = false, kids = d->conn.connect.pid > 0 || d->conn.saas.pid > 0;
    for (int i = 0; i < DEMO_ORGS; i++)
        any |= d->nodes[i].pid > 0;
    if (kids) /* first: the connector writes through the nodes */
        code = stop_report(d, demo_connect_stop(d, DEMO_STOP_TIMEOUT_MS), "the connector",
                           "connector and HubSpot double stopped", code);
    if (any)
        code = stop_report(d, demo_stop_all(d, DEMO_STOP_TIMEOUT_MS), "the nodes",
                           "all nodes stopped", code);
    demo_http_close(d);
    if (d->temp_root && d->root[0]) {
        if (demo_rmtree(d->root) != 0)
            cli_errorf("demo: could not remove the work directory %s", d->root);
        else if (any)
            printf("work directory %s removed\n", d->root);
    }
    fflush(stdout);
    return code;
}

int cli_cmd_demo(int argc, char **argv)
{
    if (cli_wants_help(argc, argv)) {
        fputs(cli_demo_help, stdout);
        return CLI_EXIT_OK;
    }
    struct demo_opts o;
    int rc = demo_parse(argc, argv, &o);
    if (rc != CLI_EXIT_OK)
        return rc;
    struct demo *d = calloc(1, sizeof *d);
    if (!d) {
        cli_errorf("demo: out of memory");
        return CLI_EXIT_RUNTIME;
    }
    signals_install();
    d->start_ms = demo_now_ms();
    rc = demo_setup(d, &o);
    if (rc != CLI_EXIT_OK) {
        cli_errorf("demo: %s", d->why);
        rc = demo_teardown(d, rc);
        free(d);
        return rc;
    }
    printf("treaty demo: work directory %s%s\n", d->root,
           d->temp_root ? " (removed at exit)" : " (kept)");
    int failed = demo_tour(d);
    if (failed >= 0 && demo_signal) {
        fflush(stdout);
        cli_errorf("demo: interrupted during step '%s'; stopping", demo_steps[failed].name);
        rc = CLI_EXIT_RUNTIME;
    } else if (failed >= 0) {
        fflush(stdout);
        for (int i = 0; i < DEMO_ORGS; i++)
            if (d->nodes[i].pid > 0 || d->nodes[i].exit_code != 0)
                demo_log_tail(&d->nodes[i], 6);
        if (d->conn.connect.log[0])
            demo_log_tail(&d->conn.connect, 6);
        cli_errorf("demo: step '%s' failed: %s", demo_steps[failed].name, d->why);
        rc = CLI_EXIT_RUNTIME;
    } else {
        demo_summary(d);
        if (!o.exit_after_tour)
            demo_serve(d);
    }
    rc = demo_teardown(d, rc);
    free(d);
    return rc;
}
