/* cli_init.c — `treaty init`: creates an org's node directory, its Ed25519 key (DIR/node.key,
 * 0600, never overwritten) and its configuration DIR/node.json. Prints org=, public_key= and dir=
 * lines for the operator to pass on to whoever writes the genesis. */
#include "cli.h"
#include "common/err.h"
#include "node/config.h"
#include "node/identity.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char cli_init_help[] =
    "usage: treaty init --org NAME --dir DIR [--peer HOST:PORT] [--api HOST:PORT]\n"
    "\n"
    "Creates DIR (0700) with a new Ed25519 key for org NAME in DIR/node.key (mode 0600) and the\n"
    "node's configuration DIR/node.json. Never overwrites an existing key or configuration.\n"
    "\n"
    "  --org NAME         the organization, ^[a-z][a-z0-9-]{0,62}$\n"
    "  --dir DIR          the node's directory\n"
    "  --peer HOST:PORT   address other members reach this node on (default 127.0.0.1:7401)\n"
    "  --api HOST:PORT    address of the HTTP API (default 127.0.0.1:8401)\n"
    "\n"
    "Prints org=NAME, public_key=<hex> and dir=DIR. Exit 0 done, 2 usage or an existing key,\n"
    "3 the files could not be written.\n";

struct cli_init_opts {
    const char *org, *dir, *peer, *api;
};

static int cli_init_parse(int argc, char **argv, struct cli_init_opts *o)
{
    static const char cmd[] = "init";
    memset(o, 0, sizeof *o);
    o->peer = "127.0.0.1:7401";
    o->api = "127.0.0.1:8401";
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char **slot = strcmp(a, "--org") == 0    ? &o->org
                            : strcmp(a, "--dir") == 0  ? &o->dir
                            : strcmp(a, "--peer") == 0 ? &o->peer
                            : strcmp(a, "--api") == 0  ? &o->api
                                                       : NULL;
        if (!slot && a[0] == '-')
            return cli_usage_error(cmd, "unknown option '%s'", a);
        if (!slot)
            return cli_usage_error(cmd, "unexpected argument '%s'", a);
        if (i + 1 >= argc)
            return cli_usage_error(cmd, "%s expects a value", a);
        *slot = argv[++i];
    }
    if (!o->org)
        return cli_usage_error(cmd, "--org NAME is required");
    if (!o->dir || !o->dir[0])
        return cli_usage_error(cmd, "--dir DIR is required");
    if (!identity_name_valid(o->org))
        return cli_usage_error(
            cmd, "--org '%s' is not a valid name: expected ^[a-z][a-z0-9-]{0,62}$", o->org);
    return CLI_EXIT_OK;
}

/* Fills the configuration from the options; reports a bad address. */
static int cli_init_config(const struct cli_init_opts *o, struct node_config *c)
{
    char why[320];
    config_defaults(c);
    snprintf(c->org, sizeof c->org, "%s", o->org);
    if (config_parse_hostport(o->peer, c->peer_host, sizeof c->peer_host, &c->peer_port, why,
                              sizeof why) != TR_OK)
        return cli_usage_error("init", "--peer %s", why);
    if (config_parse_hostport(o->api, c->api_host, sizeof c->api_host, &c->api_port, why,
                              sizeof why) != TR_OK)
        return cli_usage_error("init", "--api %s", why);
    return CLI_EXIT_OK;
}

static int cli_init_exit(int rc)
{
    return rc == TR_EEXISTS || rc == TR_EINVAL ? CLI_EXIT_USAGE : CLI_EXIT_RUNTIME;
}

int cli_cmd_init(int argc, char **argv)
{
    if (cli_wants_help(argc, argv)) {
        fputs(cli_init_help, stdout);
        return CLI_EXIT_OK;
    }
    struct cli_init_opts o;
    struct node_config cfg;
    int rc = cli_init_parse(argc, argv, &o);
    if (rc == CLI_EXIT_OK)
        rc = cli_init_config(&o, &cfg);
    if (rc != CLI_EXIT_OK)
        return rc;
    char path[4200], err[4400];
    struct stat st;
    static const char *const files[] = {IDENTITY_KEY_FILE, CONFIG_FILE};
    for (int i = 0; i < 2; i++) { /* both checked first: a refused init changes nothing */
        snprintf(path, sizeof path, "%s/%s", o.dir, files[i]);
        if (lstat(path, &st) == 0) {
            cli_errorf("init: %s: already exists; refusing to overwrite", path);
            return CLI_EXIT_USAGE;
        }
    }
    struct identity id;
    rc = identity_create(o.dir, o.org, &id, err, sizeof err);
    if (rc != TR_OK) {
        cli_errorf("init: %s", err);
        return cli_init_exit(rc);
    }
    rc = config_write(o.dir, &cfg, err, sizeof err);
    if (rc != TR_OK) {
        snprintf(path, sizeof path, "%s/%s", o.dir, IDENTITY_KEY_FILE);
        unlink(path); /* no half-initialized directory: a retry must succeed */
        identity_wipe(&id);
        cli_errorf("init: %s", err);
        return cli_init_exit(rc);
    }
    char pkhex[65];
    tr_hex_encode(id.pk, sizeof id.pk, pkhex);
    identity_wipe(&id);
    printf("org=%s\npublic_key=%s\ndir=%s\n", o.org, pkhex, o.dir);
    return CLI_EXIT_OK;
}
