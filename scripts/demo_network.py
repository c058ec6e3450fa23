#!/usr/bin/env python3
"""demo_network.py — the network part of the demo: three orgs on loopback, real `treaty node`
processes, shown step by step with the HTTP calls a user would make.

  python3 scripts/demo_network.py TREATY_BINARY [SCHEMA]

acme (shipper), globex (carrier) and initech (insurer) each get a directory from `treaty init`;
`treaty network create` makes the genesis; each node starts from it. The demo writes at acme,
reads at initech, lets the carrier update, shows a write the schema's ACL forbids being refused
by every node, kills the leader with SIGKILL mid-stream, and shows that every node ends with
the same hash-chained head. Every wait is bounded; every process it starts is stopped.
"""
import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
import harness  # noqa: E402

BOLD = "\033[1m" if sys.stdout.isatty() else ""
PLAIN = "\033[0m" if sys.stdout.isatty() else ""


def step(title):
    print("\n%s== %s%s" % (BOLD, title, PLAIN), flush=True)


def call(node, method, path, body=None, headers=None, show=True):
    st, hdr, b = node.http(method, path, body, headers)
    if show:
        print("$ %s %s   (%s's node)" % (method, path, node.org))
        if body is not None:
            print("  > %s" % json.dumps(body))
        etag = "  ETag: %s" % hdr["etag"] if "etag" in hdr else ""
        print("  < %d%s" % (st, etag))
        print("  < %s" % json.dumps(b)[:400])
    return st, b


def shipment(n, status="created"):
    return {"shipmentId": "SHP-%06d" % n, "origin": "Rotterdam", "destination": "Chicago",
            "carrier": "globex", "status": status, "weightKg": 1200}


def wait(fn, timeout, what):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = fn()
        if v:
            return v
        time.sleep(0.05)
    raise SystemExit("demo: %s did not happen within %.0fs" % (what, timeout))


def main():
    treaty = os.path.abspath(sys.argv[1])
    schema = os.path.abspath(sys.argv[2] if len(sys.argv) > 2 else
                             os.path.join(HERE, "..", "examples", "supply-chain.json"))
    step("Three organizations: treaty init (an Ed25519 key each), treaty network create (genesis)")
    net = harness.Network(treaty, schema, ["acme", "globex", "initech"], heartbeat_ms=50,
                          election_ms=500, name="supply-chain")
    try:
        for n in net.nodes:
            print("  %-8s public key %s…  peer 127.0.0.1:%d  api 127.0.0.1:%d" % (
                n.org, n.public_key[:16], n.peer_port, n.api_port))
            print("  %-8s admin API key %s (treaty apikey create --dir %s --role admin)" % (
                "", n.api_key, n.dir))
        with open(net.genesis) as f:
            g = json.load(f)
        print("  genesis: network %r, %d members, heartbeat %d ms, election timeout %d ms" % (
            g["name"], len(g["members"]), g["timing"]["heartbeat_ms"],
            g["timing"]["election_ms"]))

        step("Start one node per org (treaty node --dir DIR --genesis genesis.json)")
        net.start()
        leader = net.wait_leader()
        print("  leader elected: %s's node" % leader.org)
        acme, globex, initech = net.nodes

        step("acme (the shipper) creates a shipment; initech reads it from its own copy")
        call(acme, "POST", "/v1/data/Shipment", shipment(1))
        wait(lambda: initech.http("GET", "/v1/data/Shipment/SHP-000001")[0] == 200, 10,
             "replication to initech")
        call(initech, "GET", "/v1/data/Shipment/SHP-000001")

        step("globex (the carrier) may update it; If-Match makes the write conditional")
        call(globex, "PUT", "/v1/data/Shipment/SHP-000001", shipment(1, "picked_up"),
             {"If-Match": '"1"'})
        call(globex, "PUT", "/v1/data/Shipment/SHP-000001", shipment(1, "lost"),
             {"If-Match": '"1"'})

        step("globex may not create shipments (schema ACL): every node records the rejection")
        st, b = call(globex, "POST", "/v1/data/Shipment", shipment(2))
        if st == 403:
            wait(lambda: initech.http("GET", "/v1/tx/" + b["tx"])[0] == 200, 10, "tx result")
            call(initech, "GET", "/v1/tx/" + b["tx"])

        step("Every /v1 call carries an org's API key; field ACLs hide declaredValue from globex")
        call(initech, "GET", "/v1/data/Shipment/SHP-000001", headers={"Authorization": None})
        call(acme, "PATCH", "/v1/data/Shipment/SHP-000001",
             {"declaredValue": {"amount": "25000.00", "currency": "EUR"}})
        wait(lambda: globex.http("GET", "/v1/data/Shipment/SHP-000001")[2].get("_version", 0) >= 3,
             10, "replication to globex")
        call(globex, "GET", "/v1/data/Shipment/SHP-000001")

        step("A stream of writes at acme; the leader is killed with SIGKILL halfway")
        leader = net.wait_leader()
        written = 0
        killed_at = None
        for i in range(100, 160):
            if i == 130:
                if leader is acme:
                    print("  (acme leads; killing globex's node instead, a follower)")
                    victim = globex
                else:
                    victim = leader
                print("  kill -9 %s's node" % victim.org)
                victim.kill9()
                killed_at = time.time()
            try:
                st, _, _ = acme.http("POST", "/v1/data/Shipment", shipment(i), timeout=10)
            except OSError:
                st = 0
            if st == 201:
                written += 1
            else:
                time.sleep(0.1)
        now = net.wait_leader()
        print("  %d of 60 writes acknowledged; leader now %s's node (%.1fs after the kill)" % (
            written, now.org, time.time() - killed_at))
        victim.start()
        print("  %s's node restarted; it catches up from the others" % victim.org)

        step("Every node ends with the same head: height, block hash, Merkle root")
        head = net.wait_converged(timeout=30)
        for n in net.nodes:
            h = n.head()
            print("  %-8s height %d  block %s…  root %s…  leaves %d  role %s" % (
                n.org, h["height"], h["block_hash"][:16], h["root"][:16], h["tree_size"],
                h["node"]["role"]))
        print("  identical: %s" % (len({(n.head()["block_hash"]) for n in net.nodes}) == 1))
        cp = initech.http("GET", "/v1/ledger/checkpoints/latest")
        if cp[0] == 200:
            print("  latest checkpoint: height %d, cosigned by %s" % (
                cp[2]["height"], ", ".join(c["org"] for c in cp[2]["cosigners"])))
        del head
    finally:
        net.close()
    print("\nAll nodes stopped.")


if __name__ == "__main__":
    main()
