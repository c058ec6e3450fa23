#!/usr/bin/env python3
"""bench_connect_sap.py — inbound throughput of `treaty connect` with an SAP connector: entities
per second from the OData V2 double (tests/doubles/sap.py) answering 2,000 entities per page
($top 2000, server page 2000) into a 3-org network on loopback, until every entity is committed
in the ledger. Prints the figure; asserts nothing about speed.

  python3 bench/bench_connect_sap.py TREATY_BINARY SCHEMA [--records N] [--inflight K]
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
for sub in (("tests", "integration"), ("tests", "doubles")):
    sys.path.insert(0, os.path.join(HERE, "..", *sub))
import harness  # noqa: E402
import sap  # noqa: E402

FIELDS = {"shipmentId": "BusinessPartner", "origin": "SearchTerm1",
          "destination": "BusinessPartnerFullName", "status": "YY1_Status_bus"}


def config(node_port, sap_port, status_port, state_dir, inflight):
    fields = [{"ledger": k, "saas": v} for k, v in FIELDS.items()]
    fields += [{"ledger": "weightKg", "saas": "YY1_WeightKg_bus", "transform": "number_string"},
               {"ledger": "carrier", "constant": "acme"}]
    return {"node": {"url": "http://127.0.0.1:%d" % node_port, "api_key": {"env": "BENCH_KEY"}},
            "state_dir": state_dir, "status_listen": "127.0.0.1:%d" % status_port,
            "limits": {"page_size": 2000, "max_inflight": inflight},
            "connectors": [{"name": "s4", "kind": "sap", "direction": "inbound",
                            "ledger_type": "Shipment", "poll_interval_ms": 100,
                            "sap": {"base_url": "http://127.0.0.1:%d" % sap_port,
                                    "user": {"env": "BENCH_USER"},
                                    "password": {"env": "BENCH_PASSWORD"}},
                            "fields": fields}]}


def inbound_done(status_port, want):
    try:
        st, _, body = harness.http(status_port, "GET", "/v1/connectors", timeout=2)
    except OSError:
        return None
    job = body["connectors"][0]["jobs"][0] if st == 200 else None
    return job if job and job["records"] >= want and job["page_records"] == 0 else None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("treaty")
    ap.add_argument("schema")
    ap.add_argument("--records", type=int, default=10000)
    ap.add_argument("--inflight", type=int, default=64)
    a = ap.parse_args()
    net = harness.Network(a.treaty, a.schema, ["acme", "globex", "initech"])
    double = sap.serve(fields=list(FIELDS.values())[1:] + ["YY1_WeightKg_bus", "YY1_ETA_bus"],
                       users={"BENCH": "bench-pw"})
    proc = None
    try:
        net.start()
        acme = net.nodes[0]
        work = tempfile.mkdtemp(prefix="treaty-bench-sap-")
        status_port = harness.free_port()
        path = os.path.join(work, "connect.json")
        with open(path, "w") as f:
            json.dump(config(acme.api_port, double.server_address[1], status_port,
                             os.path.join(work, "state"), a.inflight), f)
        harness.http(double.server_address[1], "POST", "/_control",
                     {"seed": {"count": a.records, "ties": 1}, "server_page": 2000})
        env = dict(os.environ, BENCH_KEY=acme.apikey("writer"), BENCH_USER="BENCH",
                   BENCH_PASSWORD="bench-pw")
        started = time.time()
        proc = subprocess.Popen([a.treaty, "connect", "--config", path], env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        job = harness.wait_for(lambda: inbound_done(status_port, a.records), 600,
                               "every entity inbound")
        secs = time.time() - started
        print("connect sap inbound: %d entities, pages of 2000, max_inflight %d: %.2f s, "
              "%.0f entities/s" % (job["records"], a.inflight, secs, job["records"] / secs))
    finally:
        if proc:
            proc.kill()
            proc.wait()
        double.shutdown()
        double.server_close()
        net.close()


if __name__ == "__main__":
    main()
