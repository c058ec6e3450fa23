// events.test.mjs — GET /v1/events with the `eventsource` npm client (a standard EventSource)
// against a running node: TREATY_URL (the node's API), TREATY_API_KEY (optional bearer key).
// The stream goes through a local TCP proxy that cuts the first connection after a few events,
// so the client reconnects on its own with Last-Event-ID; every change must arrive exactly once,
// in order, across the cut, including writes made after the reconnect.
import { test } from "node:test";
import assert from "node:assert/strict";
import net from "node:net";
import { EventSource } from "eventsource";

const base = process.env.TREATY_URL;
const key = process.env.TREATY_API_KEY || "";
const auth = key ? { Authorization: `Bearer ${key}` } : {};

async function createShipment(i) {
  const body = {
    shipmentId: `SHP-${String(i).padStart(6, "0")}`, origin: "Rotterdam",
    destination: "Chicago", carrier: "globex", status: "created",
  };
  const res = await fetch(`${base}/v1/data/Shipment`, {
    method: "POST", headers: { "Content-Type": "application/json", ...auth },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  assert.equal(res.status, 201, text);
  return JSON.parse(text);
}

// A proxy to the node that closes the first connection once `cutAfter` events went through;
// records the request head of every connection.
function cuttingProxy(target, cutAfter) {
  const heads = [];
  const server = net.createServer((client) => {
    const index = heads.length;
    heads.push("");
    const upstream = net.connect(target.port, target.hostname);
    let down = "";
    client.on("data", (d) => { heads[index] += d.toString(); upstream.write(d); });
    upstream.on("data", (d) => {
      if (index !== 0) {
        client.write(d);
        return;
      }
      // Forward up to a few bytes into event number `cutAfter` (so it arrives incomplete), then cut.
      const text = d.toString("latin1");
      let at = -1;
      for (let n = down.split("event: change").length - 1, from = 0; n < cutAfter; n++) {
        at = text.indexOf("event: change", from);
        if (at < 0) break;
        from = at + 1;
      }
      down += text;
      if (at < 0) {
        client.write(d);
        return;
      }
      client.write(d.subarray(0, at + 10), () => { client.destroy(); upstream.destroy(); });
    });
    const end = () => { client.destroy(); upstream.destroy(); };
    client.on("error", end); upstream.on("error", end);
    client.on("close", end); upstream.on("close", end);
  });
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve({ server, heads })));
}

const idKey = (id) => id.split(".").map(Number);
const idLess = (a, b) => { const [x, y] = idKey(a), [u, v] = idKey(b); return x < u || (x === u && y < v); };

test("eventsource: every change once and in order across a reconnect with Last-Event-ID", { timeout: 60000 }, async () => {
  assert.ok(base, "TREATY_URL is required");
  const written = [];
  for (let i = 1; i <= 6; i++) written.push(await createShipment(i));
  const { server, heads } = await cuttingProxy(new URL(base), 3);
  const url = `http://127.0.0.1:${server.address().port}/v1/events?from=0`;
  const got = [];
  let errors = 0;
  const es = new EventSource(url, {
    fetch: (input, init) => fetch(input, { ...init, headers: { ...init.headers, ...auth } }),
  });
  es.onerror = () => { errors++; };
  const done = new Promise((resolve, reject) => {
    es.addEventListener("change", async (ev) => {
      got.push({ id: ev.lastEventId, data: JSON.parse(ev.data) });
      // Once the client came back after the cut and caught up, write more: they arrive live.
      if (got.length === 6) for (let i = 7; i <= 9; i++) written.push(await createShipment(i));
      if (got.length === 9) resolve();
    });
    const timer = setTimeout(() => reject(new Error(`only ${got.length} events: ${JSON.stringify(got.map((g) => g.id))}`)), 50000);
    timer.unref();
  });
  try {
    await done;
    await new Promise((r) => setTimeout(r, 500)); // nothing more may follow
  } finally {
    es.close();
    server.close();
  }
  assert.equal(got.length, 9, "no duplicate after the reconnect");
  assert.ok(heads.length >= 2, "the client reconnected");
  assert.ok(errors >= 1, "the cut was seen as an error");
  const m = /last-event-id: *([0-9.]+)/i.exec(heads[1]);
  assert.ok(m, `the reconnect sent Last-Event-ID: ${heads[1]}`);
  assert.ok(got.some((g) => g.id === m[1]), "Last-Event-ID is an id the client had received");
  for (let i = 1; i < got.length; i++) assert.ok(idLess(got[i - 1].id, got[i].id), "ids increase");
  for (const g of got) {
    const [h, x] = idKey(g.id);
    assert.equal(g.data.height, h);
    assert.equal(g.data.index, x);
    assert.equal(g.data.type, "Shipment");
    assert.equal(g.data.op, "create");
  }
  assert.deepEqual(got.map((g) => g.data.tx), written.map((w) => w._tx), "every write once, in order");
  assert.deepEqual(got.map((g) => g.data.record.shipmentId), written.map((w) => w.shipmentId));
});
