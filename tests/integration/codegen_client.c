/* codegen_client.c — drives a running network through the C client that `treaty codegen c`
 * writes for examples/supply-chain.json (test_codegen_c.py compiles it with that client):
 * create, get, merge-patch, a stale If-Match (412), lists by an indexed field (equality, a range
 * in descending order), a schema violation (422 with its violations), a missing record (404),
 * history, delete. Prints one line per step; exits 0 when every step gave what it should, else 1
 * (after running the others).
 *
 *   codegen_client BASE_URL [API_KEY]        (the key may also be empty) */
#include "treaty_client.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int failures;

static void check(int ok, const char *what, const struct treaty_error *err)
{
    printf("%s %s", ok ? "ok  " : "FAIL", what);
    if (!ok && err)
        printf(" (status %d: %s)", err->status, err->detail);
    printf("\n");
    if (!ok)
        failures++;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: codegen_client BASE_URL [API_KEY]\n");
        return 2;
    }
    struct treaty_client c;
    const char *key = argc > 2 && argv[2][0] ? argv[2] : NULL;
    if (treaty_client_init(&c, argv[1], key) != 0)
        return 2;
    struct treaty_error err = {0};
    char id[32];
    snprintf(id, sizeof id, "SHP-%08ld", (long)(strtoul(argc > 3 ? argv[3] : "1", NULL, 10)));

    struct treaty_Shipment s = {0}, got = {0};
    s.shipmentId = id;
    s.origin = "Rotterdam";
    s.destination = "Chicago";
    s.carrier = "globex";
    s.status = "created";
    s.weightKg = 12.5;
    s.has_weightKg = true;
    struct treaty_write_opts idem = {.idempotency_key = id};
    int rc = treaty_Shipment_create(&c, &s, &idem, &got, &err);
    check(rc == 201 && got.meta.version == 1 && got.has_weightKg && got.weightKg == 12.5 &&
              got.meta.owner && strcmp(got.meta.owner, "acme") == 0,
          "create: 201, version 1, owner acme, weightKg 12.5", &err);
    treaty_Shipment_free(&got);

    rc = treaty_Shipment_get(&c, id, 0, &got, &err);
    check(rc == 200 && got.status && strcmp(got.status, "created") == 0 &&
              strcmp(got.destination, "Chicago") == 0 && got.meta.tx && strlen(got.meta.tx) == 32,
          "get: 200 with typed members and metadata", &err);
    treaty_Shipment_free(&got);

    json_t *patch = json_pack("{s:s}", "status", "in_transit");
    struct treaty_write_opts at1 = {.if_match = 1};
    rc = treaty_Shipment_patch(&c, id, patch, &at1, &got, &err);
    check(rc == 200 && got.meta.version == 2 && strcmp(got.status, "in_transit") == 0,
          "patch (If-Match 1): 200, version 2, status in_transit", &err);
    treaty_Shipment_free(&got);
    rc = treaty_Shipment_patch(&c, id, patch, &at1, &got, &err);
    check(rc == -1 && err.status == 412, "patch with a stale If-Match: 412", NULL);
    json_decref(patch);

    struct treaty_param q[] = {{"status", "in_transit"}, {"limit", "1000"}};
    struct treaty_Shipment_page page = {0};
    rc = treaty_Shipment_list(&c, q, 2, &page, &err);
    int found = 0;
    for (size_t i = 0; rc == 200 && i < page.len; i++)
        found |= strcmp(page.items[i].shipmentId, id) == 0 &&
                 strcmp(page.items[i].status, "in_transit") == 0;
    check(rc == 200 && found, "list ?status=in_transit: has it", &err);
    treaty_Shipment_page_free(&page);

    struct treaty_param r[] = {{"status.gte", "in"}, {"order_by", "-status"}};
    rc = treaty_Shipment_list(&c, r, 2, &page, &err);
    found = 0;
    int ordered = 1;
    for (size_t i = 0; rc == 200 && i < page.len; i++) {
        found |= strcmp(page.items[i].shipmentId, id) == 0;
        ordered &= i == 0 || strcmp(page.items[i - 1].status, page.items[i].status) >= 0;
        ordered &= strcmp(page.items[i].status, "in") >= 0;
    }
    check(rc == 200 && found && ordered,
          "list ?status.gte=in&order_by=-status: in range, descending", &err);
    treaty_Shipment_page_free(&page);

    struct treaty_Shipment bad = s;
    bad.status = "teleported";
    bad.weightKg = -1;
    rc = treaty_Shipment_create(&c, &bad, NULL, &got, &err);
    json_t *errors = json_object_get(err.problem, "errors");
    check(rc == -1 && err.status == 422 && json_array_size(errors) == 2,
          "create an invalid record: 422 listing both violations", &err);
    for (size_t i = 0; i < json_array_size(errors); i++)
        printf("     %s: %s\n",
               json_string_value(json_object_get(json_array_get(errors, i), "instancePath")),
               json_string_value(json_object_get(json_array_get(errors, i), "message")));

    rc = treaty_Shipment_get(&c, "SHP-99999999999", 0, &got, &err);
    check(rc == -1 && err.status == 404 && err.problem, "get a missing record: 404 problem", NULL);

    json_t *hist = NULL;
    rc = treaty_Shipment_history(&c, id, NULL, 0, &hist, &err);
    check(rc == 200 && json_array_size(json_object_get(hist, "versions")) == 2,
          "history: 2 versions", &err);
    json_decref(hist);

    struct treaty_write_opts at2 = {.if_match = 2};
    rc = treaty_Shipment_delete(&c, id, &at2, &err);
    check(rc == 200, "delete (If-Match 2): 200", &err);
    rc = treaty_Shipment_get(&c, id, 0, &got, &err);
    check(rc == -1 && err.status == 404, "get after delete: 404", NULL);

    json_t *head = NULL;
    rc = treaty_ledger_head(&c, &head, &err);
    check(rc == 200 && json_integer_value(json_object_get(head, "height")) > 0, "ledger head",
          &err);
    json_decref(head);

    treaty_error_clear(&err);
    treaty_client_close(&c);
    printf("%d failed\n", failures);
    return failures ? 1 : 0;
}
