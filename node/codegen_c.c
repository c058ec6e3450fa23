/* codegen_c.c — `treaty codegen c`: writes treaty_client.h and treaty_client.c, a client of the
 * node API in C (libcurl + jansson) for one network schema. Per record type a struct whose scalar
 * top-level properties (string, integer, number, boolean, as the 2020-12 rendering of the schema
 * says after following $refs) are typed members and the others json_t *, its to/from-JSON
 * functions, and the type's operations (codegen_c_ops.c); the rest is fixed (codegen_c_runtime.c).
 * Called by cli_codegen.c. */
#include "codegen.h"
#include "codegen_c_int.h"

#include "cli.h"
#include "common/alloc.h"
#include "common/err.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CG_SCHEMAS "#/components/schemas/"

enum cg_kind { CG_STRING, CG_INTEGER, CG_NUMBER, CG_BOOLEAN, CG_JSON };

struct cg_field {
    const char *json; /* property name, borrowed from the described schemas */
    char ident[128];  /* C member name */
    enum cg_kind kind;
    bool required;
};

struct cg_type {
    const struct schema_type *t;
    char ident[80];
    struct cg_field *fields;
    size_t n_fields;
};

static const char *const c_keywords[] = {
    "auto", "break", "case", "char", "const", "continue", "default", "do", "double", "else", "enum",
    "extern", "float", "for", "goto", "if", "inline", "int", "long", "register", "restrict",
    "return", "short", "signed", "sizeof", "static", "struct", "switch", "typedef", "union",
    "unsigned", "void", "volatile", "while", "bool", "true", "false", "meta", "extra", "_Bool",
    "_Complex", "_Imaginary", "_Alignas", "_Alignof", "_Atomic", "_Noreturn", "_Static_assert",
    "_Thread_local",
    /* C++ keywords, so that the header compiles as C++ too */
    "class", "new", "delete", "this", "private", "public", "protected", "template", "typename",
    "namespace", "operator", "virtual", "friend", "try", "catch", "throw", "using", "explicit",
    "mutable", "nullptr", NULL};

/* A C identifier for `name`: [A-Za-z0-9_], not starting with a digit or '_', not a C or C++
 * keyword or a member the struct already has ("meta", "extra"); unique among `taken` (n of
 * them), their has_* flags included. */
static void c_ident(const char *name, char *out, size_t cap, const struct cg_field *taken, size_t n)
{
    size_t o = 0;
    if (!((name[0] >= 'A' && name[0] <= 'Z') || (name[0] >= 'a' && name[0] <= 'z')))
        out[o++] = 'f';
    for (size_t i = 0; name[i] && o + 8 < cap; i++) {
        char ch = name[i];
        bool ok = (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
                  (ch >= '0' && ch <= '9') || ch == '_';
        out[o++] = ok ? ch : '_';
    }
    out[o] = '\0';
    for (size_t i = 0; c_keywords[i]; i++)
        if (strcmp(out, c_keywords[i]) == 0 && o + 1 < cap) {
            out[o++] = '_';
            out[o] = '\0';
        }
    char base[128];
    snprintf(base, sizeof base, "%s", out);
    for (unsigned k = 2;; k++) {
        bool clash = false;
        for (size_t i = 0; i < n && !clash; i++)
            clash =
                strcmp(taken[i].ident, out) == 0 ||
                (strncmp(out, "has_", 4) == 0 && strcmp(taken[i].ident, out + 4) == 0) ||
                (strncmp(taken[i].ident, "has_", 4) == 0 && strcmp(taken[i].ident + 4, out) == 0);
        if (!clash)
            return;
        snprintf(out, cap, "%.100s_%u", base, k);
    }
}

/* Follows whole-component $refs in the described schemas. */
static const json_t *deref(const json_t *schemas, const json_t *s)
{
    for (int i = 0; i < 64 && json_is_object(s); i++) {
        const char *r = json_string_value(json_object_get(s, "$ref"));
        if (!r)
            return s;
        if (strncmp(r, CG_SCHEMAS, strlen(CG_SCHEMAS)) != 0)
            return NULL;
        s = json_object_get(schemas, r + strlen(CG_SCHEMAS));
    }
    return NULL;
}

static enum cg_kind field_kind(const json_t *schemas, const json_t *prop)
{
    const char *ty = json_string_value(json_object_get(deref(schemas, prop), "type"));
    static const char *const names[] = {"string", "integer", "number", "boolean"};
    for (int i = 0; ty && i < 4; i++)
        if (strcmp(ty, names[i]) == 0)
            return (enum cg_kind)i;
    return CG_JSON;
}

static bool is_required(const json_t *rec, const char *name)
{
    size_t i;
    const json_t *v;
    json_array_foreach(json_object_get(rec, "required"), i, v)
    {
        if (json_is_string(v) && strcmp(json_string_value(v), name) == 0)
            return true;
    }
    return false;
}

static int cg_type_model(const json_t *schemas, const struct schema_type *t, struct cg_type *ct,
                         const struct cg_type *others, size_t n_others)
{
    ct->t = t;
    c_ident(t->name, ct->ident, sizeof ct->ident, NULL, 0);
    for (unsigned k = 2;; k++) { /* "a-b" and "a_b" are both type names */
        bool clash = false;
        for (size_t i = 0; i < n_others && !clash; i++)
            clash = strcmp(others[i].ident, ct->ident) == 0;
        if (!clash)
            break;
        char base[80];
        snprintf(base, sizeof base, "%.60s", t->name);
        for (char *c = base; *c; c++)
            *c = *c == '-' ? '_' : *c;
        snprintf(ct->ident, sizeof ct->ident, "%.60s_%u", base, k);
    }
    const json_t *rec = deref(schemas, json_object_get(schemas, t->name));
    const json_t *props = json_object_get(rec, "properties");
    ct->fields = tr_calloc(json_object_size(props) + 1, sizeof *ct->fields);
    if (!ct->fields)
        return TR_ENOMEM;
    const char *k;
    const json_t *v;
    json_object_foreach((json_t *)props, k, v)
    {
        struct cg_field *f = &ct->fields[ct->n_fields];
        f->json = k;
        f->kind = field_kind(schemas, v);
        f->required = is_required(rec, k);
        c_ident(k, f->ident, sizeof f->ident, ct->fields, ct->n_fields);
        ct->n_fields++;
    }
    return TR_OK;
}

/* Writes `s` as the body of a C string literal. */
static void c_string(FILE *f, const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(f, "\\%c", *p);
        else if (*p < 0x20 || *p >= 0x7f || *p == '?')
            fprintf(f, "\\%03o", *p);
        else
            fputc(*p, f);
    }
}

/* Writes a template with @T@ and @N@ filled in. */
static void put_template(FILE *f, const char *const *tpl, const struct cg_type *ct)
{
    for (; *tpl; tpl++)
        for (const char *p = *tpl; *p; p++) {
            if (ct && strncmp(p, "@T@", 3) == 0) {
                fputs(ct->ident, f);
                p += 2;
            } else if (ct && strncmp(p, "@N@", 3) == 0) {
                fputs(ct->t->name, f);
                p += 2;
            } else {
                fputc(*p, f);
            }
        }
}

static const char *const c_types[] = {"char *", "int64_t ", "double ", "bool ", "json_t *"};

static void put_struct(FILE *h, const struct cg_type *ct)
{
    fprintf(h, "/* A %s record (key field %s; indexed:", ct->t->name, ct->t->key_field);
    for (size_t i = 0; i < ct->t->index_count; i++)
        fprintf(h, " %s", ct->t->indexes[i]);
    fprintf(h, "%s).\n * Members are owned; NULL or has_* false when absent. */\n",
            ct->t->index_count ? "" : " none");
    fprintf(h, "struct treaty_%s {\n", ct->ident);
    for (size_t i = 0; i < ct->n_fields; i++) {
        const struct cg_field *f = &ct->fields[i];
        fprintf(h, "    %s%s;%s%s\n", c_types[f->kind], f->ident, f->required ? " /* required" : "",
                f->required ? " */" : "");
        if (!f->required && f->kind != CG_STRING && f->kind != CG_JSON)
            fprintf(h, "    bool has_%s;\n", f->ident);
    }
    fprintf(h, "    json_t *extra;           /* other members (nullable) */\n"
               "    struct treaty_meta meta; /* filled by reads */\n};\n\n");
}

static void put_from_json(FILE *c, const struct cg_type *ct)
{
    fprintf(c,
            "int treaty_%s_from_json(const json_t *j, struct treaty_%s *out)\n{\n"
            "    memset(out, 0, sizeof *out);\n    const json_t *v;\n",
            ct->ident, ct->ident);
    for (size_t i = 0; i < ct->n_fields; i++) {
        const struct cg_field *f = &ct->fields[i];
        fputs("    v = json_object_get(j, \"", c);
        c_string(c, f->json);
        fputs("\");\n", c);
        const char *has = !f->required && f->kind != CG_STRING && f->kind != CG_JSON ? "1" : NULL;
        switch (f->kind) {
        case CG_STRING:
            fprintf(
                c,
                "    if (json_is_string(v) && !(out->%s = treaty__strdup(json_string_value(v))))"
                "\n        goto fail;\n",
                f->ident);
            break;
        case CG_INTEGER:
            fprintf(c,
                    "    if (json_is_integer(v)) {\n        out->%s = "
                    "(int64_t)json_integer_value(v);\n",
                    f->ident);
            break;
        case CG_NUMBER:
            fprintf(c, "    if (json_is_number(v)) {\n        out->%s = json_number_value(v);\n",
                    f->ident);
            break;
        case CG_BOOLEAN:
            fprintf(c, "    if (json_is_boolean(v)) {\n        out->%s = json_is_true(v);\n",
                    f->ident);
            break;
        case CG_JSON:
            fprintf(c,
                    "    if (v && !json_is_null(v) && !(out->%s = json_deep_copy(v)))\n"
                    "        goto fail;\n",
                    f->ident);
            break;
        }
        if (f->kind == CG_INTEGER || f->kind == CG_NUMBER || f->kind == CG_BOOLEAN)
            fputs("    }\n", c);
        if (has)
            fprintf(c, "    out->has_%s = json_is_%s(v);\n", f->ident,
                    f->kind == CG_INTEGER  ? "integer"
                    : f->kind == CG_NUMBER ? "number"
                                           : "boolean");
    }
    fputs("    const char *k;\n    json_t *m;\n"
          "    json_object_foreach((json_t *)j, k, m)\n    {\n"
          "        if (k[0] == '_'",
          c);
    for (size_t i = 0; i < ct->n_fields; i++) {
        fputs(" || !strcmp(k, \"", c);
        c_string(c, ct->fields[i].json);
        fputs("\")", c);
    }
    fprintf(c,
            ")\n            continue;\n"
            "        if ((!out->extra && !(out->extra = json_object())) ||\n"
            "            json_object_set_new(out->extra, k, json_deep_copy(m)) != 0)\n"
            "            goto fail;\n    }\n"
            "    if (treaty__meta_from_json(j, &out->meta) != 0)\n        goto fail;\n"
            "    return 0;\nfail:\n    treaty_%s_free(out);\n    return -1;\n}\n\n",
            ct->ident);
}

static void put_to_json(FILE *c, const struct cg_type *ct)
{
    fprintf(c,
            "json_t *treaty_%s_to_json(const struct treaty_%s *r)\n{\n"
            "    json_t *o = json_object();\n    int bad = !o;\n",
            ct->ident, ct->ident);
    static const char *const ctor[] = {"json_string", "json_integer", "json_real", "json_boolean",
                                       "json_deep_copy"};
    for (size_t i = 0; i < ct->n_fields; i++) {
        const struct cg_field *f = &ct->fields[i];
        if (f->kind == CG_STRING || f->kind == CG_JSON)
            fprintf(c, "    if (!bad && r->%s)\n", f->ident);
        else if (!f->required)
            fprintf(c, "    if (!bad && r->has_%s)\n", f->ident);
        else
            fputs("    if (!bad)\n", c);
        fputs("        bad = json_object_set_new(o, \"", c);
        c_string(c, f->json);
        fprintf(c, "\", %s(%sr->%s)) != 0;\n", ctor[f->kind],
                f->kind == CG_INTEGER ? "(json_int_t)" : "", f->ident);
    }
    fputs("    if (!bad && r->extra)\n        bad = json_object_update_missing(o, r->extra) != 0;\n"
          "    if (bad) {\n        json_decref(o);\n        return NULL;\n    }\n    return "
          "o;\n}\n\n",
          c);
}

static void put_free(FILE *c, const struct cg_type *ct)
{
    fprintf(c, "void treaty_%s_free(struct treaty_%s *r)\n{\n", ct->ident, ct->ident);
    for (size_t i = 0; i < ct->n_fields; i++) {
        const struct cg_field *f = &ct->fields[i];
        if (f->kind == CG_STRING)
            fprintf(c, "    free(r->%s);\n", f->ident);
        else if (f->kind == CG_JSON)
            fprintf(c, "    json_decref(r->%s);\n", f->ident);
    }
    fputs("    json_decref(r->extra);\n    treaty_meta_free(&r->meta);\n"
          "    memset(r, 0, sizeof *r);\n}\n\n",
          c);
}

static void put_files(FILE *h, FILE *c, const struct cg_type *types, size_t n)
{
    fputs("/* treaty_client.h — a client of a treaty node's API, written by `treaty codegen c`\n"
          " * from the network schema; regenerate rather than edit. Needs libcurl and jansson. */\n"
          "#ifndef TREATY_CLIENT_H\n#define TREATY_CLIENT_H\n\n",
          h);
    put_template(h, codegen_c_runtime_h, NULL);
    fputs("\n", h);
    for (size_t i = 0; i < n; i++) {
        put_struct(h, &types[i]);
        put_template(h, codegen_c_ops_h, &types[i]);
    }
    fputs("#endif\n", h);
    fputs("/* treaty_client.c — written by `treaty codegen c`; see treaty_client.h. */\n"
          "#include \"treaty_client.h\"\n\n",
          c);
    put_template(c, codegen_c_runtime_c, NULL);
    fputs("\n", c);
    for (size_t i = 0; i < n; i++) {
        put_free(c, &types[i]);
        put_from_json(c, &types[i]);
        put_to_json(c, &types[i]);
        put_template(c, codegen_c_ops_c, &types[i]);
    }
}

static FILE *open_out(const char *dir, const char *name)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    if (!f)
        cli_errorf("%s: %s", path, strerror(errno));
    return f;
}

static int close_out(FILE *f, const char *dir, const char *name)
{
    int bad = ferror(f);
    if (fclose(f) != 0 || bad) {
        cli_errorf("%s/%s: write failed", dir, name);
        return CLI_EXIT_RUNTIME;
    }
    return CLI_EXIT_OK;
}

int codegen_c(const struct schema_network *n, const char *dir)
{
    char err[512];
    json_t *schemas = NULL;
    int rc = schema_network_describe(n, CG_SCHEMAS, NULL, &schemas, err, sizeof err);
    if (rc != TR_OK) {
        cli_errorf("codegen c: %s", err);
        return CLI_EXIT_RUNTIME;
    }
    size_t nt = schema_network_type_count(n);
    struct cg_type *types = tr_calloc(nt + 1, sizeof *types);
    int ex = types ? CLI_EXIT_OK : CLI_EXIT_RUNTIME;
    for (size_t i = 0; ex == CLI_EXIT_OK && i < nt; i++)
        if (cg_type_model(schemas, schema_network_type_at(n, i), &types[i], types, i) != TR_OK)
            ex = CLI_EXIT_RUNTIME;
    FILE *h = ex == CLI_EXIT_OK ? open_out(dir, "treaty_client.h") : NULL;
    FILE *c = h ? open_out(dir, "treaty_client.c") : NULL;
    if (h && c)
        put_files(h, c, types, nt);
    if (h)
        ex = close_out(h, dir, "treaty_client.h");
    if (c && close_out(c, dir, "treaty_client.c") != CLI_EXIT_OK)
        ex = CLI_EXIT_RUNTIME;
    if (!h || !c)
        ex = CLI_EXIT_RUNTIME;
    for (size_t i = 0; types && i < nt; i++)
        tr_free(types[i].fields);
    tr_free(types);
    json_decref(schemas);
    if (ex == CLI_EXIT_OK)
        printf("wrote %s/treaty_client.h and %s/treaty_client.c\n", dir, dir);
    return ex;
}
