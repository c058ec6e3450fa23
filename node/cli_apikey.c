/* cli_apikey.c — `treaty apikey create|list|revoke --dir DIR`: the API keys of this org's node in
 * DIR/apikeys.json (node/apikeys.h). create prints the new key once, alone on stdout; the file
 * keeps only its SHA-256. A running node picks every change up within about a second. */
#include "cli.h"
#include "common/err.h"
#include "node/apikeys.h"

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

static void apikey_help(FILE *out)
{
    fprintf(
        out,
        "usage: treaty apikey create --dir DIR --role reader|writer|admin [--name LABEL]\n"
        "       treaty apikey list --dir DIR\n"
        "       treaty apikey revoke --dir DIR --id ID\n\n"
        "API keys let applications of this org call its node's HTTP API with\n"
        "\"Authorization: Bearer <key>\". Roles: reader (every GET under /v1), writer (reader\n"
        "+ record writes and POST /v1/tx), admin (writer + membership and schema governance).\n\n"
        "create   prints the new key on stdout, once: store it now, it cannot be shown again\n"
        "         (DIR/apikeys.json keeps its id, role, name, creation time and SHA-256).\n"
        "list     prints one line per key: id, role, created, state, name.\n"
        "revoke   marks key ID revoked; a running node refuses it within about a second.\n\n"
        "Exit codes: 0 done, 1 no key with that id (or already revoked), 2 usage or an\n"
        "unusable DIR or key file, 3 the key file could not be written.\n");
}

struct apikey_opts {
    const char *dir, *role, *name, *id;
};

static int parse_opts(const char *cmd, int argc, char **argv, struct apikey_opts *o)
{
    memset(o, 0, sizeof *o);
    for (int i = 2; i < argc; i++) {
        const char **dst = strcmp(argv[i], "--dir") == 0    ? &o->dir
                           : strcmp(argv[i], "--role") == 0 ? &o->role
                           : strcmp(argv[i], "--name") == 0 ? &o->name
                           : strcmp(argv[i], "--id") == 0   ? &o->id
                                                            : NULL;
        if (!dst || i + 1 >= argc)
            return cli_usage_error(cmd, "unknown option or missing value '%s'", argv[i]);
        *dst = argv[++i];
    }
    if (!o->dir)
        return cli_usage_error(cmd, "--dir is required");
    struct stat st;
    if (stat(o->dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        cli_errorf("%s: not a directory (make it with treaty init)", o->dir);
        return CLI_EXIT_USAGE;
    }
    return CLI_EXIT_OK;
}

/* Loads the key file under the lock (a missing file is an empty list). */
static int load_locked(const char *dir, struct apikeys *k, int *lock)
{
    char err[4400];
    *lock = apikeys_lock(dir, err, sizeof err);
    if (*lock < 0) {
        cli_errorf("%s", err);
        return CLI_EXIT_RUNTIME;
    }
    int rc = apikeys_load(dir, k, err, sizeof err);
    if (rc != TR_OK && rc != TR_ENOTFOUND) {
        apikeys_unlock(*lock);
        cli_errorf("%s", err);
        return CLI_EXIT_USAGE;
    }
    return CLI_EXIT_OK;
}

static int save(const char *dir, const struct apikeys *k)
{
    char err[4400];
    if (apikeys_save(dir, k, err, sizeof err) != TR_OK) {
        cli_errorf("%s", err);
        return CLI_EXIT_RUNTIME;
    }
    return CLI_EXIT_OK;
}

static int cmd_create(const struct apikey_opts *o)
{
    enum api_role role = api_role_parse(o->role);
    if (!o->role)
        return cli_usage_error("apikey create", "--role is required (reader, writer or admin)");
    if (role == API_ROLE_NONE)
        return cli_usage_error("apikey create", "--role must be reader, writer or admin, not '%s'",
                               o->role);
    if (o->id)
        return cli_usage_error("apikey create", "--id is for revoke");
    struct apikeys k = {0};
    int lock, ex = load_locked(o->dir, &k, &lock);
    if (ex != CLI_EXIT_OK)
        return ex;
    char now[32], key[APIKEY_TEXT_BYTES + 1];
    apikeys_now(now, sizeof now);
    int rc = apikeys_add(&k, role, o->name, now, key);
    if (rc == TR_EINVAL)
        ex = cli_usage_error("apikey create", "--name must be at most %d printable ASCII bytes",
                             APIKEY_NAME_MAX);
    else if (rc != TR_OK)
        cli_errorf("%s/%s: cannot add a key: %s", o->dir, APIKEYS_FILE, tr_strerror(rc));
    else
        ex = save(o->dir, &k);
    if (rc != TR_OK && rc != TR_EINVAL)
        ex = CLI_EXIT_RUNTIME;
    apikeys_unlock(lock);
    apikeys_free(&k);
    if (ex == CLI_EXIT_OK)
        printf("%s\n", key);
    return ex;
}

static int cmd_list(const struct apikey_opts *o)
{
    if (o->role || o->name || o->id)
        return cli_usage_error("apikey list", "list takes only --dir");
    struct apikeys k = {0};
    int lock, ex = load_locked(o->dir, &k, &lock);
    if (ex != CLI_EXIT_OK)
        return ex;
    apikeys_unlock(lock);
    for (size_t i = 0; i < k.n; i++) {
        const struct apikey *e = &k.v[i];
        printf("%s  %-6s  %s  %s%s  %s\n", e->id, api_role_name(e->role), e->created,
               e->revoked[0] ? "revoked " : "active", e->revoked, e->name);
    }
    if (k.n == 0)
        fprintf(stderr, "no API keys in %s/%s; make one with treaty apikey create\n", o->dir,
                APIKEYS_FILE);
    apikeys_free(&k);
    return CLI_EXIT_OK;
}

static int cmd_revoke(const struct apikey_opts *o)
{
    if (!o->id)
        return cli_usage_error("apikey revoke", "--id is required (see treaty apikey list)");
    if (o->role || o->name)
        return cli_usage_error("apikey revoke", "revoke takes --dir and --id only");
    struct apikeys k = {0};
    int lock, ex = load_locked(o->dir, &k, &lock);
    if (ex != CLI_EXIT_OK)
        return ex;
    char now[32];
    apikeys_now(now, sizeof now);
    int rc = apikeys_revoke(&k, o->id, now);
    if (rc == TR_ENOTFOUND) {
        cli_errorf("%s/%s: no key with id %s", o->dir, APIKEYS_FILE, o->id);
        ex = CLI_EXIT_FALSE;
    } else if (rc == TR_EEXISTS) {
        cli_errorf("%s/%s: key %s is already revoked", o->dir, APIKEYS_FILE, o->id);
        ex = CLI_EXIT_FALSE;
    } else {
        ex = save(o->dir, &k);
    }
    apikeys_unlock(lock);
    apikeys_free(&k);
    if (ex == CLI_EXIT_OK)
        printf("revoked %s\n", o->id);
    return ex;
}

int cli_cmd_apikey(int argc, char **argv)
{
    if (cli_wants_help(argc, argv)) {
        apikey_help(stdout);
        return CLI_EXIT_OK;
    }
    if (argc < 2)
        return cli_usage_error("apikey", "expected a subcommand: create, list or revoke");
    const char *sub = argv[1];
    const char *cmd = strcmp(sub, "create") == 0   ? "apikey create"
                      : strcmp(sub, "list") == 0   ? "apikey list"
                      : strcmp(sub, "revoke") == 0 ? "apikey revoke"
                                                   : NULL;
    if (!cmd)
        return cli_usage_error("apikey", "unknown subcommand '%s' (create, list or revoke)", sub);
    struct apikey_opts o;
    int ex = parse_opts(cmd, argc, argv, &o);
    if (ex != CLI_EXIT_OK)
        return ex;
    if (strcmp(sub, "create") == 0)
        return cmd_create(&o);
    if (strcmp(sub, "list") == 0)
        return cmd_list(&o);
    return cmd_revoke(&o);
}
