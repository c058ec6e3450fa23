// client.test.ts — node --test: the typed client (client.ts) creates and reads a record on a
// running network (TREATY_URL, TREATY_API_KEY from the environment). typeChecks() is never run:
// it only has to compile, and each @ts-expect-error line must really be a type error.
import { test } from "node:test";
import assert from "node:assert/strict";
import { ApiError, TreatyClient } from "./client.js";

const url = process.env["TREATY_URL"];
const key = process.env["TREATY_API_KEY"] || undefined;

test("create and read a Shipment through the generated types", async () => {
  assert.ok(url, "TREATY_URL is not set");
  const c = new TreatyClient(url, key);
  const id = `SHP-${String(Date.now() % 1e10).padStart(10, "0")}`;
  const created = await c.create("/v1/data/Shipment", {
    shipmentId: id,
    origin: "Rotterdam",
    destination: "Chicago",
    carrier: "globex",
    status: "created",
    weightKg: 4.5,
  });
  assert.equal(created.shipmentId, id);
  assert.equal(created._version, 1);
  const read = await c.get("/v1/data/Shipment", id);
  assert.equal(read.status, "created");
  assert.equal(read.weightKg, 4.5);
  assert.equal(read._owner, "acme");
  assert.match(read._tx, /^[0-9a-f]{32}$/);
  const page = await c.list("/v1/data/Shipment", { status: "created" });
  assert.ok(page.items.some((r) => r.shipmentId === id));
});

test("a schema violation is a 422 problem listing each violation", async () => {
  assert.ok(url, "TREATY_URL is not set");
  const c = new TreatyClient(url, key);
  await assert.rejects(
    c.create("/v1/data/Shipment", {
      shipmentId: "not-an-id",
      origin: "R",
      destination: "Chicago",
      carrier: "globex",
      status: "created",
    }),
    (e: unknown) => {
      assert.ok(e instanceof ApiError);
      assert.equal(e.status, 422);
      const paths = (e.problem.errors ?? []).map((v) => v.instancePath).sort();
      assert.deepEqual(paths, ["/origin", "/shipmentId"]);
      return true;
    },
  );
});

export function typeChecks(c: TreatyClient): void {
  void c.create("/v1/data/Shipment", {
    shipmentId: "SHP-0001",
    origin: "ab",
    destination: "cd",
    carrier: "x",
    // @ts-expect-error status must be one of the schema's enum values
    status: "teleported",
  });
  // @ts-expect-error an Invoice needs total and paid
  void c.create("/v1/data/Invoice", { invoiceId: "I-1", shipmentId: "SHP-0001" });
  // @ts-expect-error no such record type
  void c.get("/v1/data/Parcel", "x");
  void c.get("/v1/data/Invoice", "I-1").then((inv) => {
    // @ts-expect-error paid is a boolean
    const n: number = inv.paid;
    return n;
  });
}
