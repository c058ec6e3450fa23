"""test_batch_limits.py — a batch's bytes against the peer frame limit, on a real 3-org loopback
network (harness.py) with small frames:

  python3 test_batch_limits.py TREATY_BINARY SCHEMA [test names...]

Frames are 64 KiB, request bodies up to 64 KiB and batches up to 40,000 bytes (batch.max_bytes).
Covers: concurrent writes of about 35 KB each, at the shipper (acme) and at the carrier (globex),
one of which forwards its batches to the leader, are all committed, each batch cut before it
outgrows a frame, and every node ends with the same head and the same records (before this limit,
one batch larger than a frame stalled the network for good); a tx that alone would make a batch
larger than batch.max_bytes (a record, or a schema proposal) is answered 413 naming the limit and
changes nothing; a node.json whose batch.max_bytes leaves no room in a frame is refused at start
with the reason; an Idempotency-Key of 128 bytes, the most a batch carries, is taken, and one of
129 is refused while writes beside it complete; with 32 MiB frames, a batch of two 9 MB records
commits (the Raft core's proposal limit follows the frame limit).
"""
import json
import os
import subprocess
import sys
import threading
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

TREATY = SCHEMA = None
ORGS = ["acme", "globex", "initech"]
BATCH_MAX = 40000
LIMITS = {"frame_max_bytes": 65536, "http_body_max_bytes": 65536}
WRITES = 8


def shipment(i, checkpoints, status="created"):
    """A Shipment whose checkpoints make its body about 245 bytes per checkpoint."""
    return {"shipmentId": "SHP-%06d" % i, "origin": "Rotterdam", "destination": "Hamburg",
            "status": status, "carrier": "globex",
            "checkpoints": [{"at": "2026-01-01T00:00:00Z", "location": "L%03d" % k + "x" * 196}
                            for k in range(checkpoints)]}


def concurrently(calls):
    """Runs each (node, method, path, body) at once; returns their statuses in order."""
    out = [None] * len(calls)

    def one(k, node, method, path, body):
        try:
            out[k] = node.http(method, path, body, timeout=20)[0]
        except Exception as e:  # noqa: BLE001 - reported as the result
            out[k] = repr(e)

    threads = [threading.Thread(target=one, args=(k,) + c) for k, c in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    return out


class BatchLimitsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.net = harness.Network(TREATY, SCHEMA, ORGS, batch={"max_delay_ms": 50,
                                                                "max_bytes": BATCH_MAX},
                                  node_json={"limits": LIMITS})
        cls.net.start()
        cls.acme, cls.globex, cls.initech = cls.net.nodes

    @classmethod
    def tearDownClass(cls):
        cls.net.close()

    def tearDown(self):
        if harness.failed(self):
            print(self.net.logs(), file=sys.stderr)

    def test_1_large_writes_are_cut_into_batches_that_fit(self):
        before = self.acme.head()["height"]
        size = len(json.dumps(shipment(1, 140), separators=(",", ":")))
        self.assertGreater(2 * size, BATCH_MAX)  # two do not fit in one batch
        self.assertLess(size, BATCH_MAX - 1000)  # one does
        creates = [(self.acme, "POST", "/v1/data/Shipment", shipment(i, 140))
                   for i in range(1, WRITES + 1)]
        self.assertEqual(concurrently(creates), [201] * WRITES)
        # The carrier replaces them all at once (update: owner or globex).
        replaces = [(self.globex, "PUT", "/v1/data/Shipment/SHP-%06d" % i,
                     shipment(i, 140, "picked_up")) for i in range(1, WRITES + 1)]
        self.assertEqual(concurrently(replaces), [200] * WRITES)
        self.net.wait_converged()
        heads = [n.head() for n in self.net.nodes]
        self.assertEqual(len({(h["height"], h["block_hash"]) for h in heads}), 1, heads)
        # Two ~35 KB txs do not fit in 40,000 bytes: every tx had a batch, so a block, of its own.
        self.assertGreaterEqual(heads[0]["height"] - before, 2 * WRITES)
        for n in self.net.nodes:
            for i in range(1, WRITES + 1):
                st, _, rec = n.http("GET", "/v1/data/Shipment/SHP-%06d" % i)
                self.assertEqual(st, 200, rec)
                self.assertEqual((rec["status"], rec["_version"], len(rec["checkpoints"])),
                                 ("picked_up", 2, 140))

    def test_2_tx_larger_than_a_batch_is_refused(self):
        before = [n.head() for n in self.net.nodes]
        body = shipment(100, 170)
        size = len(json.dumps(body, separators=(",", ":")))
        self.assertGreater(size, BATCH_MAX)
        self.assertLess(size, LIMITS["http_body_max_bytes"])
        for node in (self.acme, self.globex):
            st, hdr, p = node.http("POST", "/v1/data/Shipment", body)
            self.assertEqual(st, 413, p)
            self.assertEqual(hdr.get("content-type"), "application/problem+json")
            self.assertEqual(p["type"], "https://treaty.dev/problems/too-large")
            self.assertIn("batch.max_bytes, %d bytes on this node" % BATCH_MAX, p["detail"])
            self.assertIn("of them op bodies", p["detail"])
        after = [n.head() for n in self.net.nodes]
        self.assertEqual([(h["height"], h["block_hash"]) for h in before],
                         [(h["height"], h["block_hash"]) for h in after])
        self.assertEqual(self.acme.http("GET", "/v1/data/Shipment/SHP-000100")[0], 404)
        # A schema proposal too large for a batch, likewise.
        st, _, schema = self.acme.http("GET", "/v1/schema")
        self.assertEqual(st, 200, schema)
        schema["description"] = "d" * (BATCH_MAX + 1000)
        st, hdr, p = self.acme.http("POST", "/v1/schema/proposals", {"schema": schema})
        self.assertEqual(st, 413, p)
        self.assertEqual(p["type"], "https://treaty.dev/problems/too-large")
        self.assertIn("of them the schema", p["detail"])
        self.assertEqual([(h["height"], h["block_hash"]) for h in before],
                         [(h["height"], h["block_hash"]) for h in
                          (n.head() for n in self.net.nodes)])
        # Just under the limit still goes through.
        st, _, rec = self.acme.http("POST", "/v1/data/Shipment", shipment(101, 150))
        self.assertEqual(st, 201, rec)

    def test_4_idempotency_key_at_the_ledgers_limit(self):
        """128 bytes, the most a batch carries, is taken and answers its retry; 129 is refused
        at once (it used to be taken, and then no batch holding it could be signed: that write
        and the others in its batch never completed)."""
        key = "k" * 128
        first = self.acme.http("POST", "/v1/data/Shipment", shipment(200, 1),
                               {"Idempotency-Key": key})
        self.assertEqual(first[0], 201, first[2])
        again = self.acme.http("POST", "/v1/data/Shipment", shipment(200, 1),
                               {"Idempotency-Key": key})
        self.assertEqual((again[0], again[2]["_tx"]), (201, first[2]["_tx"]))
        calls = [(self.acme, "POST", "/v1/data/Shipment", shipment(201, 1)),
                 (self.acme, "POST", "/v1/data/Shipment", shipment(202, 1))]
        out = [None]

        def long_key():
            out[0] = self.acme.http("POST", "/v1/data/Shipment", shipment(203, 1),
                                    {"Idempotency-Key": key + "k"})

        t = threading.Thread(target=long_key)
        t.start()
        self.assertEqual(concurrently(calls), [201, 201])
        t.join(timeout=30)
        st, _, p = out[0]
        self.assertEqual(st, 400, p)
        self.assertIn("1 to 128 printable ASCII characters", p["detail"])
        self.assertEqual(self.acme.http("GET", "/v1/data/Shipment/SHP-000203")[0], 404)

    def test_3_batch_bytes_must_leave_room_in_a_frame(self):
        with open(os.path.join(self.initech.dir, "node.json")) as f:
            cfg = json.load(f)
        bad_dir = os.path.join(self.net.root, "bad-config")
        os.makedirs(bad_dir)
        with open(os.path.join(bad_dir, "node.json"), "w") as f:
            json.dump(dict(cfg, batch={"max_bytes": 64513}), f)
        p = subprocess.run([TREATY, "node", "--dir", bad_dir], capture_output=True, text=True,
                           timeout=30)
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn("batch.max_bytes: 64513 leaves no room in a frame: it must be at most "
                      "limits.frame_max_bytes (65536) less 1024, so 64512", p.stderr)


class LargeFramesTest(unittest.TestCase):
    """Frames of 32 MiB, batches of up to 24 MiB and bodies of up to 20 MiB: two records of 9 MB
    in one batch make an entry larger than the Raft core's default proposal limit (16 MiB), which
    now follows the frame limit (it used to refuse the proposal, and the writes never
    completed); one record of 17 MB is taken (the JSON parser's default 16 MiB refused it)."""

    def test_batch_larger_than_16_mib(self):
        mib = 1 << 20
        net = harness.Network(TREATY, SCHEMA, ORGS,
                              batch={"max_bytes": 24 * mib, "max_delay_ms": 1000},
                              node_json={"limits": {"frame_max_bytes": 32 * mib,
                                                    "http_body_max_bytes": 20 * mib}})
        try:
            net.start()
            acme = net.nodes[0]
            big = []
            for i in (300, 301):
                body = shipment(i, 0)
                body["checkpoints"] = [{"at": "2026-01-01T00:00:00Z",
                                        "location": "x" * 18000}] * 500
                big.append(body)
            self.assertGreater(len(json.dumps(big[0], separators=(",", ":"))), 9000000)
            calls = [(acme, "POST", "/v1/data/Shipment", b) for b in big]
            self.assertEqual(concurrently(calls), [201, 201])
            net.wait_converged(timeout=60)
            heights = set()
            for n in net.nodes:
                for i in (300, 301):
                    st, _, rec = n.http("GET", "/v1/data/Shipment/SHP-%06d" % i, timeout=60)
                    self.assertEqual((st, len(rec["checkpoints"])), (200, 500))
                    st, _, tx = n.http("GET", "/v1/tx/" + rec["_tx"], timeout=60)
                    heights.add(tx["height"])
            self.assertEqual(len(heights), 1, "the two records were not in one batch: %r"
                             % heights)
            # one record over 16 MiB: the request body limit, not the parser's default, bounds it
            body = shipment(302, 0)
            body["checkpoints"] = [{"at": "2026-01-01T00:00:00Z", "location": "x" * 34000}] * 500
            self.assertGreater(len(json.dumps(body, separators=(",", ":"))), 16 * mib)
            st, _, rec = acme.http("POST", "/v1/data/Shipment", body, timeout=60)
            self.assertEqual(st, 201, str(rec)[:300])
        except Exception:
            print(net.logs(), file=sys.stderr)
            raise
        finally:
            net.close()

if __name__ == "__main__":
    TREATY, SCHEMA = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    unittest.main(argv=[sys.argv[0]] + sys.argv[3:], verbosity=2)
