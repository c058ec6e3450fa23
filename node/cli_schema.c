/* cli_schema.c — `treaty schema check|validate|diff`: the schema tools of DESIGN §4.
 * Exit codes: 0 valid / compatible, 1 invalid / breaking, 2 usage or unusable input (unreadable
 * file, not JSON, schema refused when it is the input rather than the thing checked). */
#include "cli.h"
#include "common/err.h"
#include "schema/schema.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct cli_schema_opts {
    const char *pos[2]; /* positional arguments */
    int npos;
    const char *type;
    bool json;
    struct schema_limits limits;
};

static const char cli_schema_help[] =
    "usage: treaty schema check FILE [--json]\n"
    "       treaty schema validate SCHEMA INSTANCE [--type NAME] [--json] [limits]\n"
    "       treaty schema diff OLD NEW [--json]\n"
    "\n"
    "check     loads a network schema (record types, keys, indexes, ACLs) and reports its types.\n"
    "          Exit 0 usable, 1 refused (the reason names the JSON pointer), 2 unreadable input.\n"
    "validate  validates INSTANCE against SCHEMA: a plain draft-07 schema, or with --type NAME a\n"
    "          record type of a network schema. Violations go to stdout, one per line, as\n"
    "          'instancePath: message (schemaPath)'. Exit 0 valid, 1 invalid, 2 unusable input.\n"
    "diff      classifies every change from OLD to NEW as compatible or breaking.\n"
    "          Exit 0 if nothing breaks, 1 if anything does, 2 unusable input.\n"
    "\n"
    "limits:   --max-errors N (default 100)  --max-depth N (default 512)\n"
    "          --max-bytes N (document size, default 16777216)\n"
    "--json    machine-readable output on stdout.\n";

static int cli_parse_size(const char *cmd, const char *opt, const char *val, size_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = val ? strtoull(val, &end, 10) : 0;
    if (!val || errno || *end || val[0] == '-' || v == 0)
        return cli_usage_error(cmd, "%s expects a positive integer, got '%s'", opt,
                               val ? val : "nothing");
    *out = (size_t)v;
    return CLI_EXIT_OK;
}

/* Parses argv after the subcommand word. Returns CLI_EXIT_OK or CLI_EXIT_USAGE (reported). */
static int cli_schema_parse(const char *cmd, int argc, char **argv, int want_pos,
                            struct cli_schema_opts *o)
{
    memset(o, 0, sizeof *o);
    schema_limits_default(&o->limits);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        int rc = CLI_EXIT_OK;
        if (strcmp(a, "--json") == 0) {
            o->json = true;
            continue;
        }
        if (strcmp(a, "--type") == 0 && strcmp(cmd, "schema validate") == 0) {
            if (!v)
                return cli_usage_error(cmd, "--type expects a type name");
            o->type = v;
        } else if (strcmp(a, "--max-errors") == 0) {
            rc = cli_parse_size(cmd, a, v, &o->limits.max_errors);
        } else if (strcmp(a, "--max-depth") == 0) {
            rc = cli_parse_size(cmd, a, v, &o->limits.max_depth);
        } else if (strcmp(a, "--max-bytes") == 0) {
            rc = cli_parse_size(cmd, a, v, &o->limits.max_doc_bytes);
        } else if (a[0] == '-' && a[1] != '\0') {
            return cli_usage_error(cmd, "unknown option '%s'", a);
        } else {
            if (o->npos == want_pos)
                return cli_usage_error(cmd, "unexpected argument '%s'", a);
            o->pos[o->npos++] = a;
            continue;
        }
        if (rc)
            return rc;
        i++; /* the option's value */
    }
    if (o->npos < want_pos)
        return cli_usage_error(cmd, "expects %d file argument%s", want_pos,
                               want_pos > 1 ? "s" : "");
    return CLI_EXIT_OK;
}

/* Loads a JSON file; on failure prints the reason and returns NULL. */
static json_t *cli_load(const char *path, const struct schema_limits *l)
{
    char err[512];
    json_t *doc = NULL;
    if (schema_json_load_file(path, l, &doc, err, sizeof err) != TR_OK) {
        cli_errorf("%s", err);
        return NULL;
    }
    return doc;
}

/* Loads a network schema file. Returns CLI_EXIT_OK, or the exit code for the failure:
 * `refused_exit` when the JSON is fine but the schema is refused. */
static int cli_load_network(const char *path, const struct schema_limits *l, int refused_exit,
                            struct schema_network **out)
{
    json_t *doc = cli_load(path, l);
    if (!doc)
        return CLI_EXIT_USAGE;
    char err[512];
    int rc = schema_network_load(doc, l, out, err, sizeof err);
    json_decref(doc);
    if (rc == TR_OK)
        return CLI_EXIT_OK;
    cli_errorf("%s: %s", path, err);
    return rc == TR_ENOMEM ? CLI_EXIT_RUNTIME : refused_exit;
}

static void cli_print_acl(const char *op, const struct schema_acl_list *a)
{
    if (!a->present)
        return;
    printf(" %s=", op);
    if (a->len == 0)
        printf("nobody");
    for (size_t i = 0; i < a->len; i++)
        printf("%s%s", i ? "," : "", a->orgs[i]);
}

static void cli_print_type(const struct schema_type *t)
{
    printf("  %s: key %s (%s)", t->name, t->key_field,
           t->key_kind == SCHEMA_KEY_STRING ? "string" : "integer");
    if (t->index_count) {
        printf(", indexes ");
        for (size_t i = 0; i < t->index_count; i++)
            printf("%s%s", i ? "," : "", t->indexes[i]);
    }
    printf(", acl");
    cli_print_acl("read", &t->acl.read);
    cli_print_acl("create", &t->acl.create);
    cli_print_acl("update", &t->acl.update);
    cli_print_acl("delete", &t->acl.delete_);
    if (t->acl.field_count)
        printf(" (+%zu field rules)", t->acl.field_count);
    printf("\n");
}

static int cli_schema_check(int argc, char **argv)
{
    struct cli_schema_opts o;
    int rc = cli_schema_parse("schema check", argc, argv, 1, &o);
    if (rc)
        return rc;
    struct schema_network *net = NULL;
    rc = cli_load_network(o.pos[0], &o.limits, CLI_EXIT_FALSE, &net);
    if (rc)
        return rc;
    size_t n = schema_network_type_count(net);
    if (o.json) {
        json_t *types = json_array();
        for (size_t i = 0; i < n; i++)
            json_array_append_new(types, json_string(schema_network_type_at(net, i)->name));
        json_t *out = json_pack("{s:s, s:b, s:o}", "file", o.pos[0], "ok", 1, "types", types);
        json_dumpf(out, stdout, JSON_INDENT(2));
        printf("\n");
        json_decref(out);
    } else {
        printf("%s: ok, %zu record type%s\n", o.pos[0], n, n == 1 ? "" : "s");
        for (size_t i = 0; i < n; i++)
            cli_print_type(schema_network_type_at(net, i));
    }
    schema_network_destroy(net);
    return CLI_EXIT_OK;
}

static void cli_print_errors(const char *path, const struct schema_errors *errs, bool json)
{
    if (json) {
        json_t *arr = schema_errors_to_json(errs);
        json_t *out = json_pack("{s:s, s:b, s:o, s:b}", "instance", path, "valid", errs->len == 0,
                                "errors", arr, "truncated", errs->truncated);
        json_dumpf(out, stdout, JSON_INDENT(2));
        printf("\n");
        json_decref(out);
        return;
    }
    if (errs->len == 0) {
        printf("%s: valid\n", path);
        return;
    }
    for (size_t i = 0; i < errs->len; i++) {
        const struct schema_error *e = &errs->v[i];
        printf("%s: %s (%s)\n", e->instance_path[0] ? e->instance_path : "/", e->message,
               e->schema_path[0] ? e->schema_path : "/");
    }
    printf("%s: invalid, %zu violation%s%s\n", path, errs->len, errs->len == 1 ? "" : "s",
           errs->truncated ? " (more not shown: limit reached)" : "");
}

/* Validates against a plain draft-07 schema document. */
static int cli_validate_plain(json_t *sdoc, const json_t *inst, const struct cli_schema_opts *o,
                              struct schema_errors *errs)
{
    struct schema *s = NULL;
    char err[512];
    int rc = schema_compile(sdoc, &o->limits, &s, err, sizeof err);
    if (rc != TR_OK) {
        cli_errorf("%s: %s", o->pos[0], err);
        return rc == TR_ENOMEM ? CLI_EXIT_RUNTIME : CLI_EXIT_USAGE;
    }
    rc = schema_validate(s, schema_root(s), inst, errs);
    schema_destroy(s);
    return rc;
}

static int cli_validate_typed(const struct cli_schema_opts *o, const json_t *inst,
                              struct schema_errors *errs)
{
    struct schema_network *net = NULL;
    int rc = cli_load_network(o->pos[0], &o->limits, CLI_EXIT_USAGE, &net);
    if (rc)
        return rc;
    const struct schema_type *t = schema_network_type_find(net, o->type);
    if (!t) {
        cli_errorf("%s: no record type named '%s'", o->pos[0], o->type);
        schema_network_destroy(net);
        return CLI_EXIT_USAGE;
    }
    rc = schema_network_validate(net, t, inst, errs);
    schema_network_destroy(net);
    return rc;
}

static int cli_schema_validate(int argc, char **argv)
{
    struct cli_schema_opts o;
    int rc = cli_schema_parse("schema validate", argc, argv, 2, &o);
    if (rc)
        return rc;
    json_t *inst = cli_load(o.pos[1], &o.limits);
    if (!inst)
        return CLI_EXIT_USAGE;
    struct schema_errors errs;
    schema_errors_init(&errs, o.limits.max_errors);
    if (o.type) {
        rc = cli_validate_typed(&o, inst, &errs);
    } else {
        json_t *sdoc = cli_load(o.pos[0], &o.limits);
        rc = sdoc ? cli_validate_plain(sdoc, inst, &o, &errs) : CLI_EXIT_USAGE;
        json_decref(sdoc);
    }
    json_decref(inst);
    int exit_code;
    if (rc == TR_OK || rc == TR_EINVALID || rc == TR_ELIMIT) {
        cli_print_errors(o.pos[1], &errs, o.json);
        exit_code = errs.len == 0 && rc == TR_OK ? CLI_EXIT_OK : CLI_EXIT_FALSE;
    } else if (rc < 0) {
        cli_errorf("%s: %s", o.pos[1], tr_strerror(rc));
        exit_code = CLI_EXIT_RUNTIME;
    } else {
        exit_code = rc; /* already a reported CLI exit code */
    }
    schema_errors_free(&errs);
    return exit_code;
}

static void cli_print_changes(const struct schema_changes *c, bool json)
{
    if (json) {
        json_t *arr = json_array();
        for (size_t i = 0; i < c->len; i++)
            json_array_append_new(
                arr,
                json_pack("{s:s, s:s, s:s, s:s}", "kind",
                          c->v[i].kind == SCHEMA_CHANGE_BREAKING ? "breaking" : "compatible",
                          "path", c->v[i].path, "rule", c->v[i].rule, "message", c->v[i].message));
        json_t *out =
            json_pack("{s:b, s:o}", "breaking", schema_changes_breaking(c), "changes", arr);
        json_dumpf(out, stdout, JSON_INDENT(2));
        printf("\n");
        json_decref(out);
        return;
    }
    size_t breaking = 0;
    for (size_t i = 0; i < c->len; i++) {
        const struct schema_change *ch = &c->v[i];
        breaking += ch->kind == SCHEMA_CHANGE_BREAKING;
        printf("%-10s %s: %s: %s\n", ch->kind == SCHEMA_CHANGE_BREAKING ? "breaking" : "compatible",
               ch->path[0] ? ch->path : "/", ch->rule, ch->message);
    }
    printf("%zu change%s, %zu breaking\n", c->len, c->len == 1 ? "" : "s", breaking);
}

static int cli_schema_diff(int argc, char **argv)
{
    struct cli_schema_opts o;
    int rc = cli_schema_parse("schema diff", argc, argv, 2, &o);
    if (rc)
        return rc;
    struct schema_network *old_net = NULL, *new_net = NULL;
    rc = cli_load_network(o.pos[0], &o.limits, CLI_EXIT_USAGE, &old_net);
    if (rc == CLI_EXIT_OK)
        rc = cli_load_network(o.pos[1], &o.limits, CLI_EXIT_USAGE, &new_net);
    if (rc == CLI_EXIT_OK) {
        struct schema_changes changes = {0};
        if (schema_diff(old_net, new_net, &changes) != TR_OK) {
            cli_errorf("schema diff: out of memory");
            rc = CLI_EXIT_RUNTIME;
        } else {
            cli_print_changes(&changes, o.json);
            rc = schema_changes_breaking(&changes) ? CLI_EXIT_FALSE : CLI_EXIT_OK;
        }
        schema_changes_free(&changes);
    }
    schema_network_destroy(old_net);
    schema_network_destroy(new_net);
    return rc;
}

int cli_cmd_schema(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        fputs(cli_schema_help, argc < 2 ? stderr : stdout);
        return argc < 2 ? CLI_EXIT_USAGE : CLI_EXIT_OK;
    }
    if (cli_wants_help(argc - 1, argv + 1)) {
        fputs(cli_schema_help, stdout);
        return CLI_EXIT_OK;
    }
    const char *sub = argv[1];
    if (strcmp(sub, "check") == 0)
        return cli_schema_check(argc - 1, argv + 1);
    if (strcmp(sub, "validate") == 0)
        return cli_schema_validate(argc - 1, argv + 1);
    if (strcmp(sub, "diff") == 0)
        return cli_schema_diff(argc - 1, argv + 1);
    return cli_usage_error("schema", "unknown subcommand '%s' (expected check, validate or diff)",
                           sub);
}
