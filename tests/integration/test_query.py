"""test_query.py — multi-process tests of the query and write options of the API on a real
3-org loopback network (harness.py):

  python3 test_query.py TREATY_BINARY SCHEMA [test names...]

Covers: Prefer: wait=none on every kind of write (202 + Location, the tx later committed and the
record there; a stale If-Match refused synchronously with 412); range filters and order_by on an
indexed number field (numeric order, not text order), on a string field, descending order, and
cursor paging that neither repeats nor skips while records are written between pages; the
inclusion proof of GET /v1/tx/{id} and the proof routes; linearizable reads on a follower right
after a write on another node, and a linearizable read on a minority answering 503 within its
timeout while a local read still answers, and one read more than limits.max_pending_reads
refused at once.
"""
import hashlib
import json
import os
import sys
import tempfile
import threading
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
        cls.net = harness.Network(TREATY, QSCHEMA, ORGS,
                                  node_json={"limits": {"read_index_timeout_ms": 3000}})
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

    def test_tx_inclusion_proofs(self):
        a, g = self.acme, self.globex
        txs = []
        for i in range(5):
            st, _, b = a.http("POST", "/v1/data/Shipment", shipment(700001 + i))
            self.assertEqual(st, 201, b)
            txs.append(b["_tx"])
        self.net.wait_converged()
        for node in (a, g):
            for tx in txs:
                st, _, t = node.http("GET", "/v1/tx/" + tx)
                self.assertEqual(st, 200, t)
                self.assertEqual(t["status"], "committed")
                proof = [bytes.fromhex(h) for h in t["inclusion_proof"]]
                self.assertTrue(verify_inclusion(bytes.fromhex(t["leaf_hash"]), t["leaf_index"],
                                                 t["tree_size"], proof,
                                                 bytes.fromhex(t["root"])))
                self.assertFalse(verify_inclusion(bytes.fromhex(t["leaf_hash"]),
                                                  t["leaf_index"] ^ 1, t["tree_size"], proof,
                                                  bytes.fromhex(t["root"])))
        head = a.head()
        st, _, t = a.http("GET", "/v1/tx/" + txs[0])
        # the proof route against an older tree, whose root the block of that size carries
        size = t["leaf_index"] + 1
        st, _, p = a.http("GET", "/v1/ledger/proofs/inclusion?tx=%s&tree_size=%d" % (txs[0], size))
        self.assertEqual(st, 200, p)
        self.assertEqual(p["tree_size"], size)
        leaf = bytes.fromhex(p["leaf"])
        self.assertEqual(hashlib.sha256(b"\x00" + leaf).hexdigest(), p["leaf_hash"])
        self.assertTrue(verify_inclusion(bytes.fromhex(p["leaf_hash"]), p["leaf_index"], size,
                                         [bytes.fromhex(h) for h in p["proof"]],
                                         bytes.fromhex(p["root"])))
        st, _, blk = a.http("GET", "/v1/ledger/blocks/%d" % t["height"])
        self.assertEqual(st, 200, blk)
        self.assertEqual(blk["tree_size"], size)
        self.assertEqual(blk["root"], p["root"])
        # consistency from that tree to the head's
        st, _, c = a.http("GET", "/v1/ledger/proofs/consistency?first=%d&second=%d"
                          % (size, head["tree_size"]))
        self.assertEqual(st, 200, c)
        self.assertEqual(c["root2"], head["root"])
        self.assertTrue(verify_consistency(size, head["tree_size"],
                                           [bytes.fromhex(h) for h in c["proof"]],
                                           bytes.fromhex(c["root1"]), bytes.fromhex(c["root2"])))
        # errors
        st, _, b = a.http("GET", "/v1/tx/" + "f" * 32)
        self.assertEqual(st, 404, b)
        st, _, b = a.http("GET", "/v1/ledger/proofs/inclusion?tx=" + "f" * 32)
        self.assertEqual(st, 404, b)
        for q in ("inclusion?tx=%s&tree_size=%d" % (txs[0], size - 1),
                  "inclusion?tx=%s&tree_size=%d" % (txs[0], head["tree_size"] + 1000),
                  "consistency?first=%d&second=%d" % (head["tree_size"], head["tree_size"] + 1000),
                  "consistency?first=3&second=2", "consistency?first=0"):
            st, hdr, b = a.http("GET", "/v1/ledger/proofs/" + q)
            self.assertEqual(st, 400, (q, b))
            self.assertEqual(hdr["content-type"], "application/problem+json")

    def test_linearizable_reads_on_followers(self):
        # only acme creates Shipments; it writes, each other node (a follower at least one of
        # them, maybe the leader) reads at once
        lead = self.net.wait_leader()
        writer = self.acme
        readers = [self.globex, self.initech]
        self.assertTrue(any(r is not lead for r in readers))
        for k, reader in enumerate(readers):
            for i in range(50):
                n = 600000 + i + 100 * k
                st, _, b = writer.http("POST", "/v1/data/Shipment", shipment(n, weight=12))
                self.assertEqual(st, 201, b)
                path = "/v1/data/Shipment/SHP-%06d?consistency=linearizable" % n
                st, _, rec = reader.http("GET", path)
                self.assertEqual(st, 200, (i, rec))
                self.assertEqual(rec["_tx"], b["_tx"])
            st, _, b = writer.http("PATCH", "/v1/data/Shipment/SHP-%06d" % n,
                                   {"status": "lost"})
            self.assertEqual(st, 200, b)
            st, _, h = reader.http("GET", "/v1/data/Shipment/SHP-%06d/history"
                                   "?consistency=linearizable" % n)
            self.assertEqual(st, 200, h)
            self.assertEqual([v["_version"] for v in h["versions"]], [1, 2])
            st, _, lst = reader.http("GET", "/v1/data/Shipment?status=lost&consistency="
                                     "linearizable&limit=1000")
            self.assertEqual(st, 200, lst)
            self.assertIn("SHP-%06d" % n, [r["shipmentId"] for r in lst["items"]])
        # local is the default and still answers; other values are refused
        st, _, rec = self.initech.http("GET", "/v1/data/Shipment/SHP-600000?consistency=local")
        self.assertEqual(st, 200, rec)
        st, hdr, b = self.initech.http("GET", "/v1/data/Shipment?consistency=strong")
        self.assertEqual(st, 400, b)
        self.assertIn("local", b["detail"])


class MinorityTest(unittest.TestCase):
    def test_linearizable_read_on_a_minority_times_out(self):
        net = harness.Network(TREATY, QSCHEMA, ORGS,
                              node_json={"limits": {"read_index_timeout_ms": 1500,
                                                    "max_pending_reads": 1}})
        try:
            net.start()
            lead = net.wait_leader()
            st, _, b = net.nodes[0].http("POST", "/v1/data/Shipment", shipment(500001))
            self.assertEqual(st, 201, b)
            net.wait_converged()
            alone = [n for n in net.nodes if n is not lead][0]
            st, _, _ = alone.http("GET", "/v1/data/Shipment/SHP-500001?consistency=linearizable")
            self.assertEqual(st, 200)
            for n in net.nodes:
                if n is not alone:
                    n.kill9()
            for _ in range(3):
                t0 = time.time()
                st, hdr, b = alone.http("GET", "/v1/data/Shipment/SHP-500001"
                                        "?consistency=linearizable")
                took = time.time() - t0
                self.assertEqual(st, 503, b)
                self.assertEqual(hdr["content-type"], "application/problem+json")
                self.assertIn("linearizable", b["detail"])
                self.assertGreater(took, 1.0)
                self.assertLess(took, 3.5)
                st, _, rec = alone.http("GET", "/v1/data/Shipment/SHP-500001")
                self.assertEqual(st, 200, rec)
                st, _, lst = alone.http("GET", "/v1/data/Shipment?consistency=linearizable")
                self.assertEqual(st, 503, lst)
            # limits.max_pending_reads = 1: a second waiting read is refused at once
            first = {}
            t = threading.Thread(target=lambda: first.update(r=alone.http(
                "GET", "/v1/data/Shipment/SHP-500001?consistency=linearizable")))
            t.start()
            time.sleep(0.3)
            t0 = time.time()
            st, _, b = alone.http("GET", "/v1/data/Shipment/SHP-500001?consistency=linearizable")
            self.assertEqual(st, 503, b)
            self.assertIn("busy", b["detail"])
            self.assertLess(time.time() - t0, 0.5)
            t.join(timeout=10)
            self.assertEqual(first["r"][0], 503)
            self.assertIn("did not come in time", first["r"][2]["detail"])
        except Exception:
            print(net.logs(), file=sys.stderr)
            raise
        finally:
            net.close()


class MinorityWriteTest(unittest.TestCase):
    def test_write_on_a_minority_times_out(self):
        """limits.write_timeout_ms: a write its node cannot commit (the other two are down) is
        answered 503 commit-timeout with its tx id after about the limit, not held until the
        client gives up; the tx stays queued and commits once the others are back, and a retry
        with the same Idempotency-Key then answers that first write."""
        net = harness.Network(TREATY, QSCHEMA, ORGS,
                              node_json={"limits": {"write_timeout_ms": 1000}})
        try:
            net.start()
            net.wait_leader()
            alone, others = net.nodes[0], net.nodes[1:]
            st, _, b = alone.http("POST", "/v1/data/Shipment", shipment(500101))
            self.assertEqual(st, 201, b)
            for n in others:
                n.kill9()
            key = {"Idempotency-Key": "minority-write-500102"}
            t0 = time.time()
            st, hdr, b = alone.http("POST", "/v1/data/Shipment", shipment(500102), headers=key)
            took = time.time() - t0
            self.assertEqual(st, 503, b)
            self.assertEqual(hdr["content-type"], "application/problem+json")
            self.assertTrue(b["type"].endswith("/commit-timeout"), b)
            self.assertIn("limits.write_timeout_ms", b["detail"])
            self.assertRegex(b["tx"], "^[0-9a-f]{32}$")
            self.assertGreater(took, 0.95)
            self.assertLess(took, 3.0)
            tx = b["tx"]
            st, _, _ = alone.http("GET", "/v1/tx/%s" % tx)
            self.assertEqual(st, 404)  # in no block yet
            for n in others:
                n.start()
            wait_for(lambda: alone.http("GET", "/v1/tx/%s" % tx)[0] == 200, 60,
                     "the queued tx committed once the others were back")
            st, _, r = alone.http("GET", "/v1/tx/%s" % tx)
            self.assertEqual(r["status"], "committed", r)
            st, _, again = alone.http("POST", "/v1/data/Shipment", shipment(500102),
                                      headers=key)
            self.assertEqual(st, 201, again)
            self.assertEqual(again["_tx"], tx)
            st, _, rec = alone.http("GET", "/v1/data/Shipment/SHP-500102")
            self.assertEqual((st, rec["_version"], rec["_tx"]), (200, 1, tx))
        except Exception:
            print(net.logs(), file=sys.stderr)
            raise
        finally:
            net.close()


def _node(l, r):
    return hashlib.sha256(b"\x01" + l + r).digest()


def verify_inclusion(leaf_hash, index, size, proof, root):
    """RFC 9162 §2.1.3.2."""
    if index >= size:
        return False
    fn, sn, r = index, size - 1, leaf_hash
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = _node(p, r)
            if not fn & 1:
                while True:
                    fn >>= 1
                    sn >>= 1
                    if fn & 1 or fn == 0:
                        break
        else:
            r = _node(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def verify_consistency(first, second, proof, root1, root2):
    """RFC 9162 §2.1.4.2."""
    if first == second:
        return not proof and root1 == root2
    if first == 0 or first > second or not proof:
        return False
    if first & (first - 1) == 0:
        proof = [root1] + proof
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = proof[0]
    for c in proof[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr, sr = _node(c, fr), _node(c, sr)
            if not fn & 1:
                while True:
                    fn >>= 1
                    sn >>= 1
                    if fn & 1 or fn == 0:
                        break
        else:
            sr = _node(sr, c)
        fn >>= 1
        sn >>= 1
    return sn == 0 and fr == root1 and sr == root2


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
