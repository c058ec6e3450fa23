/* jsts.c — runs the JSON-Schema-Test-Suite draft-07 cases against schema_compile and
 * schema_validate. Every case must pass unless skip.txt lists it with a reason; a skip entry
 * that matches nothing is an error too, so the list cannot go stale. Each case is validated
 * twice, verdict-only and collecting errors, and the two must agree. Registered with ctest. */
#include "schema/schema.h"
#include "common/err.h"

#include <dirent.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The formats treaty asserts that have a file in optional/format/ (schema.h). */
static const char *const format_files[] = {
    "date-time", "date", "time",          "email", "hostname",     "ipv4",
    "ipv6",      "uri",  "uri-reference", "regex", "json-pointer", "uuid",
};

struct skip {
    char *file, *group, *test, *reason;
    size_t used;
};

struct run {
    struct skip *skips;
    size_t skips_len;
    size_t passed, failed, skipped;
};

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\n' || s[n - 1] == '\r'))
        s[--n] = '\0';
    return s;
}

static char *dup_str(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (!d) {
        fprintf(stderr, "out of memory\n");
        exit(2);
    }
    return memcpy(d, s, n);
}

/* Reads skip.txt: "file | group | test or * | reason" per line, '#' comments. */
static int skips_load(const char *path, struct run *r)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "cannot open skip list %s\n", path);
        return -1;
    }
    char line[2048];
    int lineno = 0, rc = 0;
    while (fgets(line, sizeof line, f)) {
        lineno++;
        char *s = trim(line);
        if (!*s || *s == '#')
            continue;
        /* The reason is the rest of the line: it may contain '|' itself. */
        char *parts[4];
        size_t n = 0;
        while (n < 3 && s) {
            char *bar = strchr(s, '|');
            if (bar)
                *bar = '\0';
            parts[n++] = trim(s);
            s = bar ? bar + 1 : NULL;
        }
        if (s)
            parts[n++] = trim(s);
        if (n != 4 || !*parts[3]) {
            fprintf(stderr, "%s:%d: want file | group | test | reason\n", path, lineno);
            rc = -1;
            continue;
        }
        r->skips = realloc(r->skips, (r->skips_len + 1) * sizeof *r->skips);
        if (!r->skips)
            exit(2);
        r->skips[r->skips_len++] = (struct skip){dup_str(parts[0]), dup_str(parts[1]),
                                                 dup_str(parts[2]), dup_str(parts[3]), 0};
    }
    fclose(f);
    return rc;
}

static const struct skip *skip_find(struct run *r, const char *file, const char *group,
                                    const char *test)
{
    for (size_t i = 0; i < r->skips_len; i++) {
        struct skip *k = &r->skips[i];
        if (strcmp(k->file, file) == 0 &&
            (strcmp(k->group, "*") == 0 || strcmp(k->group, group) == 0) &&
            (strcmp(k->test, "*") == 0 || strcmp(k->test, test) == 0)) {
            k->used++;
            return k;
        }
    }
    return NULL;
}

static const char *str_field(const json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s ? s : "";
}

/* One test case: 1 pass, 0 fail (printed). */
static int run_case(const struct schema *s, const json_t *t, const char *file, const char *group)
{
    const json_t *data = json_object_get(t, "data");
    bool want = json_is_true(json_object_get(t, "valid"));
    struct schema_errors errs;
    schema_errors_init(&errs, 0);
    int fast = schema_validate(s, schema_root(s), data, NULL);
    int full = schema_validate(s, schema_root(s), data, &errs);
    bool got = fast == TR_OK;
    int ok = (fast == TR_OK || fast == TR_EINVALID) && fast == full && got == want &&
             (errs.len == 0) == got;
    if (!ok) {
        printf("FAIL %s | %s | %s: expected %s, got %s / %s (%zu errors%s%s)\n", file, group,
               str_field(t, "description"), want ? "valid" : "invalid", tr_err_name(fast),
               tr_err_name(full), errs.len, errs.len ? ", first: " : "",
               errs.len ? errs.v[0].message : "");
    }
    schema_errors_free(&errs);
    return ok;
}

static void run_group(struct run *r, const json_t *g, const char *file)
{
    const char *group = str_field(g, "description");
    const json_t *tests = json_object_get(g, "tests");
    struct schema *s = NULL;
    char msg[512] = "";
    int crc = TR_EINTERNAL;
    for (size_t i = 0; i < json_array_size(tests); i++) {
        const json_t *t = json_array_get(tests, i);
        if (skip_find(r, file, group, str_field(t, "description"))) {
            r->skipped++;
            continue;
        }
        if (!s && crc == TR_EINTERNAL)
            crc = schema_compile(json_object_get(g, "schema"), NULL, &s, msg, sizeof msg);
        if (crc != TR_OK) {
            printf("FAIL %s | %s | %s: schema_compile: %s: %s\n", file, group,
                   str_field(t, "description"), tr_err_name(crc), msg);
            r->failed++;
        } else if (run_case(s, t, file, group)) {
            r->passed++;
        } else {
            r->failed++;
        }
    }
    schema_destroy(s);
}

static int run_file(struct run *r, const char *dir, const char *file)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    json_error_t jerr;
    /* The suite's own files may hold "\u0000" in strings; load them with jansson directly. */
    json_t *doc = json_load_file(path, JSON_ALLOW_NUL | JSON_DECODE_ANY, &jerr);
    if (!json_is_array(doc)) {
        fprintf(stderr, "%s: cannot load: %s\n", path, jerr.text);
        json_decref(doc);
        return -1;
    }
    for (size_t i = 0; i < json_array_size(doc); i++)
        run_group(r, json_array_get(doc, i), file);
    json_decref(doc);
    return 0;
}

static int name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The *.json files of `dir`, sorted; NULL if the folder cannot be read. */
static char **list_files(const char *dir, size_t *len)
{
    DIR *d = opendir(dir);
    if (!d)
        return NULL;
    char **v = NULL;
    *len = 0;
    for (struct dirent *e; (e = readdir(d));) {
        size_t n = strlen(e->d_name);
        if (n > 5 && strcmp(e->d_name + n - 5, ".json") == 0) {
            v = realloc(v, (*len + 1) * sizeof *v);
            if (!v)
                exit(2);
            v[(*len)++] = dup_str(e->d_name);
        }
    }
    closedir(d);
    if (*len)
        qsort(v, *len, sizeof *v, name_cmp);
    return v;
}

static int run_all(struct run *r, const char *dir)
{
    size_t n = 0;
    char **files = list_files(dir, &n);
    if (!files || n == 0) {
        fprintf(stderr,
                "draft7 conformance: no test files in %s (install json-schema-test-suite "
                "or set TREATY_JSTS_DIR)\n",
                dir);
        return -1;
    }
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        if (run_file(r, dir, files[i]) != 0)
            rc = -1;
        free(files[i]);
    }
    free(files);
    for (size_t i = 0; i < sizeof format_files / sizeof format_files[0]; i++) {
        char rel[128], path[4096];
        snprintf(rel, sizeof rel, "optional/format/%s.json", format_files[i]);
        snprintf(path, sizeof path, "%s/%s", dir, rel);
        FILE *f = fopen(path, "r");
        if (!f)
            continue; /* this suite version has no file for the format (uuid in 2.0.0) */
        fclose(f);
        if (run_file(r, dir, rel) != 0)
            rc = -1;
    }
    return rc;
}

int main(int argc, char **argv)
{
    const char *dir = argc > 1 ? argv[1] : TREATY_JSTS_DIR;
    const char *skip_path = argc > 2 ? argv[2] : TREATY_CONFORMANCE_SKIP;
    struct run r = {0};
    int rc = skips_load(skip_path, &r) == 0 ? 0 : 1;
    if (rc == 0 && run_all(&r, dir) != 0)
        rc = 1;
    for (size_t i = 0; i < r.skips_len; i++) {
        if (rc == 0 && r.skips[i].used == 0) {
            printf("STALE skip entry: %s | %s | %s\n", r.skips[i].file, r.skips[i].group,
                   r.skips[i].test);
            rc = 1;
        }
        free(r.skips[i].file);
        free(r.skips[i].group);
        free(r.skips[i].test);
        free(r.skips[i].reason);
    }
    free(r.skips);
    printf("draft7 conformance: %zu passed, %zu failed, %zu skipped\n", r.passed, r.failed,
           r.skipped);
    return rc != 0 || r.failed > 0 || r.passed == 0 ? 1 : 0;
}
