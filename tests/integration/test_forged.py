"""test_forged.py — forged batches reach the leader and are rejected by every node alike.

  python3 test_forged.py TREATY_BINARY SCHEMA

A member's node can propose any bytes it likes (a compromised node is the threat here), so the
test gives acme's node a test hook (node.json "test_hooks": true, POST /v1/_test/entry) that
orders a raw ledger entry as if acme's driver had built it. `treaty-forge` (built beside
`treaty`) builds the entries: signed with a key that is not the org's, signed by the org's real
key with an old sequence number (a replay), and the same signed batch twice. Every node must
record the same rejection for each tx and no record may appear.
"""
import base64
import json
import os
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

TREATY = SCHEMA = None
FORGE = os.environ.get("TREATY_FORGE")


def shipment(i):
    return {"shipmentId": "SHP-%06d" % i, "origin": "Rotterdam", "destination": "Chicago",
            "carrier": "globex", "status": "created", "weightKg": 12}


class ForgedBatches(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if not FORGE or not os.access(FORGE, os.X_OK):
            raise RuntimeError("TREATY_FORGE must name the treaty-forge binary (got %r)" % FORGE)
        cls.net = harness.Network(TREATY, SCHEMA, ["acme", "globex", "initech"],
                                  node_json={"test_hooks": True})
        cls.net.start()
        cls.acme = cls.net.nodes[0]
        st, _, body = cls.acme.http("POST", "/v1/data/Shipment", shipment(1))
        assert st == 201, body

    @classmethod
    def tearDownClass(cls):
        cls.net.close()

    def forge(self, *args):
        p = subprocess.run([FORGE, "--genesis", self.net.genesis] + list(args),
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(p.returncode, 0, p.stderr)
        out = dict(line.split("=", 1) for line in p.stdout.split())
        return out["entry"], out["tx"]

    def inject(self, entry_b64):
        st, _, body = self.acme.http("POST", "/v1/_test/entry", {"entry": entry_b64})
        self.assertEqual(st, 202, body)

    def rejected_everywhere(self, tx, word):
        reasons = set()
        for n in self.net.nodes:
            deadline = time.time() + 10
            while True:
                st, _, b = n.http("GET", "/v1/tx/" + tx)
                if st == 200 or time.time() > deadline:
                    break
                time.sleep(0.05)
            self.assertEqual(st, 200, "%s has no result for tx %s: %r" % (n.org, tx, b))
            self.assertEqual(b["status"], "rejected", b)
            self.assertTrue(b["reason"].startswith(word + ":"), b["reason"])
            reasons.add(b["reason"])
        self.assertEqual(len(reasons), 1, reasons)
        return reasons.pop()

    def test_wrong_key(self):
        entry, tx = self.forge("--org", "acme", "--random-key", "--seq", str(2 ** 62),
                               "--create", json.dumps(shipment(501)))
        self.inject(entry)
        reason = self.rejected_everywhere(tx, "invalid")
        self.assertIn("signature", reason)
        for n in self.net.nodes:
            self.assertEqual(n.http("GET", "/v1/data/Shipment/SHP-000501")[0], 404)

    def test_replayed_sequence(self):
        key = os.path.join(self.acme.dir, "node.key")
        entry, tx = self.forge("--org", "acme", "--key", key, "--seq", "1",
                               "--create", json.dumps(shipment(502)))
        self.inject(entry)
        self.rejected_everywhere(tx, "duplicate")
        for n in self.net.nodes:
            self.assertEqual(n.http("GET", "/v1/data/Shipment/SHP-000502")[0], 404)

    def test_same_batch_twice(self):
        key = os.path.join(self.acme.dir, "node.key")
        entry, tx = self.forge("--org", "acme", "--key", key, "--seq", str(2 ** 62 + 5),
                               "--create", json.dumps(shipment(503)))
        self.inject(entry)
        for n in self.net.nodes:
            deadline = time.time() + 10
            while n.http("GET", "/v1/data/Shipment/SHP-000503")[0] != 200:
                self.assertLess(time.time(), deadline, "first copy not applied at " + n.org)
                time.sleep(0.05)
        self.inject(entry)
        # The first copy committed; the second is recorded rejected under its own block, and the
        # tx id keeps its first result.
        self.net.wait_converged()
        for n in self.net.nodes:
            st, _, b = n.http("GET", "/v1/tx/" + tx)
            self.assertEqual((st, b["status"]), (200, "committed"), b)
            st, _, r = n.http("GET", "/v1/data/Shipment/SHP-000503")
            self.assertEqual(r["_version"], 1)

    def test_hook_off_by_default(self):
        plain = harness.Network(TREATY, SCHEMA, ["acme"])
        try:
            plain.start()
            st, _, _ = plain.nodes[0].http("POST", "/v1/_test/entry", {"entry": "AA=="})
            self.assertEqual(st, 404)
        finally:
            plain.close()


if __name__ == "__main__":
    TREATY, SCHEMA = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    unittest.main(argv=[sys.argv[0]] + sys.argv[3:], verbosity=2)
