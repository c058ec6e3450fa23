#!/usr/bin/env python3
"""bench_connect.py — inbound throughput of `treaty connect`: records per second from the
Salesforce test double (tests/doubles/salesforce.py) serving 2,000-record pages into a 3-org
network on loopback, until every record is committed in the ledger. Prints figures; asserts
nothing about speed.

  python3 bench/bench_connect.py TREATY_BINARY SCHEMA [--records N] [--inflight K]
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "doubles"))
import harness  # noqa: E402
import salesforce  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("treaty")
    ap.add_argument("schema")
    ap.add_argument("--records", type=int, default=10000)
    ap.add_argument("--inflight", type=int, default=64)
    a = ap.parse_args()
    net = harness.Network(a.treaty, a.schema, ["acme", "globex", "initech"])
    sf = salesforce.serve(fields=["Origin__c", "Destination__c", "Status__c", "Weight__c"])
    proc = None
    try:
        net.start()
        acme = net.nodes[0]
        d = tempfile.mkdtemp(prefix="treaty-bench-connect-")
        status = harness.free_port()
        cfg = {"node": {"url": "http://127.0.0.1:%d" % acme.api_port,
                        "api_key": {"env": "BENCH_KEY"}},
               "state_dir": os.path.join(d, "state"),
               "status_listen": "127.0.0.1:%d" % status,
               "limits": {"page_size": 2000, "max_inflight": a.inflight},
               "connectors": [{
                   "name": "sf", "kind": "salesforce", "direction": "inbound",
                   "ledger_type": "Shipment", "object": "Shipment__c",
                   "external_id": "External_Id__c", "poll_interval_ms": 100,
                   "salesforce": {"login_url": "http://127.0.0.1:%d" % sf.server_address[1],
                                  "client_id": {"env": "BENCH_ID"},
                                  "client_secret": {"env": "BENCH_SECRET"}},
                   "fields": [{"ledger": "shipmentId", "saas": "External_Id__c"},
                              {"ledger": "origin", "saas": "Origin__c"},
                              {"ledger": "destination", "saas": "Destination__c"},
                              {"ledger": "status", "saas": "Status__c"},
                              {"ledger": "weightKg", "saas": "Weight__c",
                               "transform": "number_string"},
                              {"ledger": "carrier", "constant": "acme"}]}]}
        path = os.path.join(d, "connect.json")
        with open(path, "w") as f:
            json.dump(cfg, f)
        harness.http(sf.server_address[1], "POST", "/_control",
                     {"seed": {"count": a.records, "ties": 1}})
        env = dict(os.environ, BENCH_KEY=acme.apikey("writer"), BENCH_ID="cid",
                   BENCH_SECRET="csecret")
        t0 = time.time()
        proc = subprocess.Popen([a.treaty, "connect", "--config", path], env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = t0 + 600
        done = 0
        while time.time() < deadline:
            try:
                st, _, body = harness.http(status, "GET", "/v1/connectors", timeout=2)
            except OSError:
                st = 0
            if st == 200:
                job = body["connectors"][0]["jobs"][0]
                done = job["records"]
                if done >= a.records and job["page_records"] == 0:
                    break
            time.sleep(0.05)
        secs = time.time() - t0
        print("connect inbound: %d records, pages of 2000, max_inflight %d: %.2f s, %.0f records/s"
              % (done, a.inflight, secs, done / secs))
    finally:
        if proc:
            proc.kill()
            proc.wait()
        sf.shutdown()
        sf.server_close()
        net.close()


if __name__ == "__main__":
    main()
