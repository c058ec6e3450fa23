/* bench_schema.c — treaty-bench-schema: throughput of draft-07 validation on
 * one thread for the sample network's Shipment record (~1 KB, with checkpoints,
 * declaredValue, eta): validation of a pre-parsed json_t (the verdict-only fast
 * path and the collecting path), parse + validate from text, and an invalid
 * record with its errors collected. Prints a table and one JSON line; it
 * asserts no timing. Usage: treaty-bench-schema [SCHEMA_FILE] [--count N]. */
#include "common/err.h"
#include "schema/schema.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct bench_target {
    struct schema_network *network; /* when the network loader accepted the file */
    struct schema *compiled;        /* otherwise the plain compiled document */
    const struct schema *s;
    const struct schema_node *node;
};

struct bench_result {
    const char *name;
    unsigned long count;
    double seconds;     /* wall time, CLOCK_MONOTONIC: the figure reported */
    double cpu_seconds; /* process CPU time: tells a busy machine from a slow validator */
};

static double clock_s(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void timer_start(struct bench_result *r)
{
    r->seconds = clock_s(CLOCK_MONOTONIC);
    r->cpu_seconds = clock_s(CLOCK_PROCESS_CPUTIME_ID);
}

static void timer_stop(struct bench_result *r, unsigned long count)
{
    r->count = count;
    r->seconds = clock_s(CLOCK_MONOTONIC) - r->seconds;
    r->cpu_seconds = clock_s(CLOCK_PROCESS_CPUTIME_ID) - r->cpu_seconds;
}

/* Shipment through schema_network_load; if that refuses the file, the compiled
 * document's /properties/Shipment/items. */
static int load_target(const char *path, struct bench_target *t)
{
    char errmsg[512] = "";
    json_t *doc = NULL;
    int rc = schema_json_load_file(path, NULL, &doc, errmsg, sizeof errmsg);
    if (rc != TR_OK)
        goto fail;
    if (schema_network_load(doc, NULL, &t->network, errmsg, sizeof errmsg) == TR_OK) {
        const struct schema_type *type = schema_network_type_find(t->network, "Shipment");
        if (type != NULL) {
            t->s = schema_network_compiled(t->network);
            t->node = type->node;
            json_decref(doc);
            return TR_OK;
        }
    }
    fprintf(stderr, "network loader unavailable for %s (%s); compiling the document\n", path,
            errmsg);
    rc = schema_compile(doc, NULL, &t->compiled, errmsg, sizeof errmsg);
    if (rc != TR_OK)
        goto fail;
    t->s = t->compiled;
    t->node = schema_node_at(t->s, "/properties/Shipment/items");
    json_decref(doc);
    return t->node != NULL ? TR_OK : TR_ENOTFOUND;
fail:
    fprintf(stderr, "%s: %s\n", path, errmsg);
    json_decref(doc);
    return rc;
}

/* A realistic valid Shipment of about 1 KB: the required fields, weight, money,
 * eta and eight checkpoints with timestamps in several offsets. */
static json_t *make_record(void)
{
    static const char *const places[] = {"Rotterdam Europoort", "North Sea",  "English Channel",
                                         "Atlantic Ocean",      "Halifax",    "Montreal",
                                         "Detroit rail yard",   "Chicago hub"};
    json_t *cps = json_array();
    for (int i = 0; i < 8; i++) {
        char at[40];
        snprintf(at, sizeof at, "2024-03-%02dT%02d:15:30.250%s", 1 + 2 * i, 6 + i,
                 i % 2 ? "Z" : "-05:00");
        json_array_append_new(cps, json_pack("{s:s, s:s, s:f}", "at", at, "location", places[i],
                                             "temperatureC", 4.0 + 0.5 * i));
    }
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:f, s:{s:s, s:s}, s:s, s:o}", "shipmentId",
                     "SHP-0000123456", "origin", "Rotterdam, Netherlands (NLRTM), terminal 4",
                     "destination", "Chicago, Illinois, USA (USCHI), rail ramp 2", "carrier",
                     "globex", "status", "in_transit", "weightKg", 18250.75, "declaredValue",
                     "amount", "1250000.50", "currency", "EUR", "eta", "2024-03-21T17:45:00+01:00",
                     "checkpoints", cps);
}

/* The same record broken in five places: pattern, enum, bound, format, unknown
 * property. */
static json_t *make_invalid(const json_t *valid)
{
    json_t *r = json_deep_copy(valid);
    json_object_set_new(r, "shipmentId", json_string("shp-12"));
    json_object_set_new(r, "status", json_string("sunk"));
    json_object_set_new(r, "weightKg", json_real(-1.0));
    json_object_set_new(r, "eta", json_string("2024-02-30T10:00:00Z"));
    json_object_set_new(r, "color", json_string("red"));
    return r;
}

static int run_validate(const struct bench_target *t, const json_t *rec, unsigned long n,
                        struct schema_errors *errs, int want, struct bench_result *out)
{
    timer_start(out);
    for (unsigned long i = 0; i < n; i++) {
        if (errs != NULL)
            schema_errors_clear(errs);
        if (schema_validate(t->s, t->node, rec, errs) != want)
            return TR_EINTERNAL;
    }
    timer_stop(out, n);
    return TR_OK;
}

static int run_parse_validate(const struct bench_target *t, const char *text, unsigned long n,
                              struct bench_result *out)
{
    size_t len = strlen(text);
    char errmsg[256];
    timer_start(out);
    for (unsigned long i = 0; i < n; i++) {
        json_t *rec = NULL;
        if (schema_json_load_buffer(text, len, "record", NULL, &rec, errmsg, sizeof errmsg) !=
            TR_OK)
            return TR_EPARSE;
        int rc = schema_validate(t->s, t->node, rec, NULL);
        json_decref(rec);
        if (rc != TR_OK)
            return TR_EINTERNAL;
    }
    timer_stop(out, n);
    return TR_OK;
}

static void print_results(const struct bench_result *r, size_t nr, size_t record_bytes,
                          size_t invalid_errors)
{
    printf("%-22s %10s %9s %12s %10s %10s\n", "benchmark", "records", "seconds", "records/s",
           "ns/record", "cpu ns/rec");
    for (size_t i = 0; i < nr; i++) {
        double n = (double)r[i].count;
        printf("%-22s %10lu %9.3f %12.0f %10.1f %10.1f\n", r[i].name, r[i].count, r[i].seconds,
               n / r[i].seconds, r[i].seconds * 1e9 / n, r[i].cpu_seconds * 1e9 / n);
    }
    printf("{\"bench\":\"schema\",\"record_bytes\":%zu,\"invalid_errors\":%zu", record_bytes,
           invalid_errors);
    for (size_t i = 0; i < nr; i++) {
        double n = (double)r[i].count;
        printf(",\"%s\":{\"count\":%lu,\"per_s\":%.0f,\"ns\":%.1f,\"cpu_ns\":%.1f}", r[i].name,
               r[i].count, n / r[i].seconds, r[i].seconds * 1e9 / n, r[i].cpu_seconds * 1e9 / n);
    }
    printf("}\n");
}

static int parse_args(int argc, char **argv, const char **path, unsigned long *count)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--count") == 0 && i + 1 < argc) {
            char *end = NULL;
            *count = strtoul(argv[++i], &end, 10);
            if (*end != '\0' || *count == 0)
                return -1;
        } else if (argv[i][0] != '-') {
            *path = argv[i];
        } else {
            return -1;
        }
    }
    return 0;
}

static int run_all(const struct bench_target *t, unsigned long n)
{
    json_t *rec = make_record();
    json_t *bad = make_invalid(rec);
    char *text = json_dumps(rec, JSON_COMPACT);
    struct schema_errors errs;
    schema_errors_init(&errs, 0);
    struct bench_result r[4] = {{.name = "validate_fast"},
                                {.name = "validate_collecting"},
                                {.name = "parse_and_validate"},
                                {.name = "invalid_with_errors"}};
    int rc = run_validate(t, rec, n, NULL, TR_OK, &r[0]);
    if (rc == TR_OK)
        rc = run_validate(t, rec, n, &errs, TR_OK, &r[1]);
    if (rc == TR_OK)
        rc = run_parse_validate(t, text, n, &r[2]);
    if (rc == TR_OK)
        rc = run_validate(t, bad, n, &errs, TR_EINVALID, &r[3]);
    if (rc == TR_OK)
        print_results(r, 4, strlen(text), errs.len);
    else
        fprintf(stderr, "unexpected verdict: %s\n", tr_strerror(rc));
    schema_errors_free(&errs);
    free(text); /* json_dumps allocates with jansson's allocator, libc's here */
    json_decref(bad);
    json_decref(rec);
    return rc;
}

int main(int argc, char **argv)
{
    const char *path = "examples/supply-chain.json";
    unsigned long count = 1000000;
    if (parse_args(argc, argv, &path, &count) != 0) {
        fprintf(stderr, "usage: %s [SCHEMA_FILE] [--count N]\n", argv[0]);
        return 2;
    }
    struct bench_target t = {0};
    if (load_target(path, &t) != TR_OK)
        return 1;
    int rc = run_all(&t, count);
    schema_network_destroy(t.network);
    schema_destroy(t.compiled);
    return rc == TR_OK ? 0 : 1;
}
