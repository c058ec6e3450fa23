/* cli_network.c — `treaty network create`: writes a network's genesis file from a schema file and
 * the founding members' keys and addresses, after checking it exactly as a node will read it
 * (genesis_parse), and prints the network id every member will derive. Never overwrites --out. */
#include "cli.h"
#include "common/err.h"
#include "node/config.h"
#include "node/genesis.h"
#include "node/identity.h"
#include "schema/schema.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char cli_network_help[] =
    "usage: treaty network create --name NAME --schema FILE --member ORG=PUBHEX@HOST:PORT ...\n"
    "                             --out FILE [timing options]\n"
    "\n"
    "create  writes the genesis file of a new network: its name, its schema (inline), its\n"
    "        founding members and its timing, then prints network_id=<hex>, the SHA-256 of the\n"
    "        canonical genesis that every member derives. Never overwrites --out.\n"
    "\n"
    "  --name NAME              network name, ^[a-z][a-z0-9-]{0,62}$\n"
    "  --schema FILE            network schema (see 'treaty schema check')\n"
    "  --member ORG=PUBHEX@HOST:PORT\n"
    "                           a founding member: org name, public key printed by 'treaty init',\n"
    "                           peer address; repeat for each member (at most 32)\n"
    "  --out FILE               the genesis file to create\n"
    "  --tick-ms N              Raft tick (default 10, 1..1000)\n"
    "  --heartbeat-ms N         leader heartbeat (default 100), a multiple of the tick\n"
    "  --election-ms N          election timeout (default 1000), a multiple of the tick and\n"
    "                           above the heartbeat\n"
    "  --checkpoint-blocks N    checkpoint every N blocks (default 64)\n"
    "  --checkpoint-ms N        or every N ms (default 5000)\n"
    "\n"
    "Exit 0 written, 2 usage or unusable input, 3 the file could not be written.\n";

static const char cli_create[] = "network create";

struct cli_network_opts {
    const char *name, *schema, *out;
    const char *members[GENESIS_MAX_MEMBERS];
    size_t n_members;
    uint32_t tick_ms, heartbeat_ms, election_ms, ckpt_blocks, ckpt_ms;
};

static int cli_network_u32(const char *opt, const char *val, uint32_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(val, &end, 10);
    if (errno || *end || val[0] < '0' || val[0] > '9' || v == 0 || v > UINT32_MAX)
        return cli_usage_error(cli_create, "%s expects a positive integer, got '%s'", opt, val);
    *out = (uint32_t)v;
    return CLI_EXIT_OK;
}

/* The option's uint32 slot, or NULL when `a` is not a numeric option. */
static uint32_t *cli_network_num(struct cli_network_opts *o, const char *a)
{
    return strcmp(a, "--tick-ms") == 0             ? &o->tick_ms
           : strcmp(a, "--heartbeat-ms") == 0      ? &o->heartbeat_ms
           : strcmp(a, "--election-ms") == 0       ? &o->election_ms
           : strcmp(a, "--checkpoint-blocks") == 0 ? &o->ckpt_blocks
           : strcmp(a, "--checkpoint-ms") == 0     ? &o->ckpt_ms
                                                   : NULL;
}

static int cli_network_parse(int argc, char **argv, struct cli_network_opts *o)
{
    memset(o, 0, sizeof *o);
    o->tick_ms = GENESIS_DEFAULT_TICK_MS;
    o->heartbeat_ms = GENESIS_DEFAULT_HEARTBEAT_MS;
    o->election_ms = GENESIS_DEFAULT_ELECTION_MS;
    o->ckpt_blocks = GENESIS_DEFAULT_CKPT_BLOCKS;
    o->ckpt_ms = GENESIS_DEFAULT_CKPT_MS;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        uint32_t *num = cli_network_num(o, a);
        const char **slot = strcmp(a, "--name") == 0     ? &o->name
                            : strcmp(a, "--schema") == 0 ? &o->schema
                            : strcmp(a, "--out") == 0    ? &o->out
                                                         : NULL;
        bool member = strcmp(a, "--member") == 0;
        if (!num && !slot && !member)
            return cli_usage_error(
                cli_create, a[0] == '-' ? "unknown option '%s'" : "unexpected argument '%s'", a);
        if (!v)
            return cli_usage_error(cli_create, "%s expects a value", a);
        i++;
        if (num && cli_network_u32(a, v, num) != CLI_EXIT_OK)
            return CLI_EXIT_USAGE;
        if (slot)
            *slot = v;
        if (member && o->n_members == GENESIS_MAX_MEMBERS)
            return cli_usage_error(cli_create, "at most %d --member options", GENESIS_MAX_MEMBERS);
        if (member)
            o->members[o->n_members++] = v;
    }
    if (!o->name || !o->schema || !o->out || o->n_members == 0)
        return cli_usage_error(cli_create, "--name, --schema, --out and at least one --member "
                                           "are required");
    if (!identity_name_valid(o->name))
        return cli_usage_error(cli_create,
                               "--name '%s' is not a valid name: expected ^[a-z][a-z0-9-]{0,62}$",
                               o->name);
    return CLI_EXIT_OK;
}

/* Parses ORG=PUBHEX@HOST:PORT into a genesis member object (new reference in *out). */
static int cli_network_member(const char *spec, json_t **out)
{
    char org[64], why[320], host[256];
    uint8_t pk[32];
    uint16_t port;
    const char *eq = strchr(spec, '='), *at = eq ? strchr(eq, '@') : NULL;
    if (!eq || !at)
        return cli_usage_error(cli_create, "--member '%s': expected ORG=PUBHEX@HOST:PORT", spec);
    size_t olen = (size_t)(eq - spec), klen = (size_t)(at - eq - 1);
    char key[65];
    if (olen >= sizeof org)
        olen = sizeof org - 1; /* too long for a name: still refused below */
    memcpy(org, spec, olen);
    org[olen] = '\0';
    if (!identity_name_valid(org) || (size_t)(eq - spec) != olen)
        return cli_usage_error(cli_create,
                               "--member '%s': org is not a valid name: expected "
                               "^[a-z][a-z0-9-]{0,62}$",
                               spec);
    if (klen == 64) {
        memcpy(key, eq + 1, 64);
        key[64] = '\0';
    }
    if (klen != 64 || hex_decode(key, pk, 32) != TR_OK || !crypto_core_ed25519_is_valid_point(pk))
        return cli_usage_error(cli_create,
                               "--member '%s': the public key must be 64 lowercase hex digits "
                               "of an Ed25519 public key",
                               spec);
    if (config_parse_hostport(at + 1, host, sizeof host, &port, why, sizeof why) != TR_OK)
        return cli_usage_error(cli_create, "--member '%s': peer %s", spec, why);
    *out = json_pack("{s:s, s:s, s:s}", "org", org, "public_key", key, "peer", at + 1);
    if (!*out) {
        cli_errorf("%s: out of memory", cli_create);
        return CLI_EXIT_RUNTIME;
    }
    return CLI_EXIT_OK;
}

/* The genesis document (new reference in *out) from the options and the loaded schema. */
static int cli_network_doc(const struct cli_network_opts *o, json_t *schema, json_t **out)
{
    json_t *members = json_array();
    int rc = members ? CLI_EXIT_OK : CLI_EXIT_RUNTIME;
    for (size_t i = 0; rc == CLI_EXIT_OK && i < o->n_members; i++) {
        json_t *m = NULL;
        rc = cli_network_member(o->members[i], &m);
        if (rc == CLI_EXIT_OK && json_array_append_new(members, m) != 0)
            rc = CLI_EXIT_RUNTIME;
    }
    if (rc != CLI_EXIT_OK) {
        json_decref(members);
        return rc;
    }
    *out =
        json_pack("{s:i, s:s, s:O, s:o, s:{s:I, s:I, s:I}, s:{s:I, s:I}}", "treaty_genesis",
                  GENESIS_VERSION, "name", o->name, "schema", schema, "members", members, "timing",
                  "tick_ms", (json_int_t)o->tick_ms, "heartbeat_ms", (json_int_t)o->heartbeat_ms,
                  "election_ms", (json_int_t)o->election_ms, "checkpoint", "every_blocks",
                  (json_int_t)o->ckpt_blocks, "every_ms", (json_int_t)o->ckpt_ms);
    if (!*out) {
        cli_errorf("%s: out of memory", cli_create);
        return CLI_EXIT_RUNTIME;
    }
    return CLI_EXIT_OK;
}

/* Loads and checks the schema file; new reference in *out. */
static int cli_network_schema(const char *path, json_t **out)
{
    char err[1024];
    struct schema_network *net = NULL;
    int rc = schema_json_load_file(path, NULL, out, err, sizeof err);
    if (rc != TR_OK) {
        cli_errorf("%s: %s", cli_create, err);
        return rc == TR_ENOMEM ? CLI_EXIT_RUNTIME : CLI_EXIT_USAGE;
    }
    rc = schema_network_load(*out, NULL, &net, err, sizeof err);
    schema_network_destroy(net);
    if (rc != TR_OK) {
        cli_errorf("%s: %s: %s", cli_create, path, err);
        json_decref(*out);
        *out = NULL;
        return rc == TR_ENOMEM ? CLI_EXIT_RUNTIME : CLI_EXIT_USAGE;
    }
    return CLI_EXIT_OK;
}

/* Creates `path` exclusively and writes text and a newline; nothing is left on failure. */
static int cli_network_write(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (fd < 0) {
        int e = errno;
        cli_errorf("%s: %s: %s", cli_create, path,
                   e == EEXIST ? "already exists; refusing to overwrite" : strerror(e));
        return e == EEXIST ? CLI_EXIT_USAGE : CLI_EXIT_RUNTIME;
    }
    size_t len = strlen(text);
    int bad = write(fd, text, len) != (ssize_t)len || write(fd, "\n", 1) != 1 || fsync(fd) != 0;
    int e = errno;
    bad |= close(fd) != 0;
    if (bad) {
        unlink(path);
        cli_errorf("%s: %s: cannot write: %s", cli_create, path, strerror(e));
        return CLI_EXIT_RUNTIME;
    }
    return CLI_EXIT_OK;
}

static int cli_network_create(int argc, char **argv)
{
    struct cli_network_opts o;
    json_t *schema = NULL, *doc = NULL;
    char *text = NULL, err[1024];
    struct genesis *g = NULL;
    int rc = cli_network_parse(argc, argv, &o);
    if (rc == CLI_EXIT_OK)
        rc = cli_network_schema(o.schema, &schema);
    if (rc == CLI_EXIT_OK)
        rc = cli_network_doc(&o, schema, &doc);
    if (rc != CLI_EXIT_OK)
        goto done;
    text = json_dumps(doc, JSON_INDENT(2));
    if (!text) {
        cli_errorf("%s: out of memory", cli_create);
        rc = CLI_EXIT_RUNTIME;
        goto done;
    }
    /* Checked exactly as a node will read it before anything is written. */
    int grc = genesis_parse(text, strlen(text), &g, err, sizeof err);
    if (grc != TR_OK) {
        cli_errorf("%s: %s", cli_create, err);
        rc = grc == TR_ENOMEM ? CLI_EXIT_RUNTIME : CLI_EXIT_USAGE;
        goto done;
    }
    rc = cli_network_write(o.out, text);
    if (rc == CLI_EXIT_OK) {
        char hex[65];
        tr_hex_encode(g->network_id, sizeof g->network_id, hex);
        printf("network_id=%s\n", hex);
    }
done:
    genesis_destroy(g);
    free(text);
    json_decref(doc);
    json_decref(schema);
    return rc;
}

int cli_cmd_network(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        fputs(cli_network_help, argc < 2 ? stderr : stdout);
        return argc < 2 ? CLI_EXIT_USAGE : CLI_EXIT_OK;
    }
    if (cli_wants_help(argc - 1, argv + 1)) {
        fputs(cli_network_help, stdout);
        return CLI_EXIT_OK;
    }
    if (strcmp(argv[1], "create") == 0)
        return cli_network_create(argc - 1, argv + 1);
    return cli_usage_error("network", "unknown subcommand '%s' (expected create)", argv[1]);
}
