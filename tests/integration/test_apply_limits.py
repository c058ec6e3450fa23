"""test_apply_limits.py — the apply queue's bound (store.apply_max_entries, store.apply_max_bytes)
at its edge, on a real 3-org loopback network (harness.py):

  python3 test_apply_limits.py TREATY_BINARY SCHEMA [test names...]

initech applies at most 4 blocks at a time, globex at most 1,024 bytes of them (the least
allowed; every block of this test is larger, so each is applied alone). Each in turn is stopped
while acme commits 40 blocks of about 1.3 KB one by one, and started again: it catches up, its
log writes taking many blocks at once (the leader's appends), its applies as many as its bound
allows. Covers: no apply of initech took more than 4 blocks and some took more than 2 (the
bound, not a lack of queued blocks, limited them); globex applied every block larger than its
bound alone although its log writes took several at once (only the few small blocks that are
not records, a new term's first entry or a checkpoint, may share an apply); the blocks applied are exactly those the applied index
moved by (none twice, none skipped); both end with the same head and records as acme; a value
below a bound's range is refused at start with the key named and starts nothing.
"""
import json
import os
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import wait_for  # noqa: E402

TREATY = SCHEMA = None
ORGS = ["acme", "globex", "initech"]
BLOCKS = 40
MAX_ENTRIES = 4  # initech; a bucket bound of treaty_apply_entries (1, 2, 4, 8, ...)
MAX_BYTES = 1024  # globex; CONFIG_APPLY_MAX_BYTES_MIN


def shipment(i):
    """A Shipment whose block (the signed batch of its one tx) is well above MAX_BYTES."""
    return {"shipmentId": "SHP-%06d" % i, "origin": "Rotterdam", "destination": "Hamburg",
            "status": "created", "carrier": "globex",
            "checkpoints": [{"at": "2026-01-01T00:00:00Z", "location": "L" + "x" * 1000}]}


def set_store(node, **values):
    path = os.path.join(node.dir, "node.json")
    with open(path) as f:
        cfg = json.load(f)
    cfg.setdefault("store", {}).update(values)
    with open(path, "w") as f:
        json.dump(cfg, f)


class ApplyLimitsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.net = harness.Network(TREATY, SCHEMA, ORGS)
        cls.acme, cls.globex, cls.initech = cls.net.nodes
        set_store(cls.initech, apply_max_entries=MAX_ENTRIES)
        set_store(cls.globex, apply_max_bytes=MAX_BYTES)
        cls.net.start()
        cls.next_id = 0

    @classmethod
    def tearDownClass(cls):
        cls.net.close()

    def tearDown(self):
        if harness.failed(self):
            print(self.net.logs(), file=sys.stderr)

    def scrape(self, node):
        """node's /metrics as {series with labels: value}, the apply, log write and Raft ones
        (what a failure prints)."""
        st, _, text = node.http("GET", "/metrics")
        self.assertEqual(st, 200, text)
        return {name: v for name, v in harness.metric_values(text).items()
                if name.startswith(("treaty_apply_", "treaty_persist_entries", "treaty_raft_"))}

    def applied(self, node):
        return self.scrape(node)["treaty_raft_applied_index"]

    def catch_up(self, node):
        """Stops node, commits BLOCKS blocks at acme, starts node and waits until it has applied
        them all; returns (its applied index before the stop, its scrape after the catch-up)."""
        wait_for(lambda: self.applied(node) == node.head()["height"], 10,
                 "%s applied its head" % node.org)
        before = self.applied(node)
        self.assertEqual(node.stop(), 0, node.log_tail())
        for _ in range(BLOCKS):
            i = ApplyLimitsTest.next_id
            ApplyLimitsTest.next_id += 1
            st, _, body = self.acme.http("POST", "/v1/data/Shipment", shipment(i), timeout=20)
            self.assertEqual(st, 201, body)
        node.start()
        head = self.net.wait_converged(timeout=60)
        self.assertGreaterEqual(head["height"], before + BLOCKS)
        wait_for(lambda: self.applied(node) == head["height"], 10,
                 "%s applied the head %d" % (node.org, head["height"]))
        st, _, rec = node.http("GET", "/v1/data/Shipment/SHP-%06d" % (ApplyLimitsTest.next_id - 1))
        self.assertEqual(st, 200, rec)
        return before, self.scrape(node)

    def bucket(self, m, series, le):
        return m['%s_bucket{le="%s"}' % (series, le)]

    def test_1_entries_bound(self):
        before, m = self.catch_up(self.initech)
        count = m["treaty_apply_entries_count"]
        blocks = m["treaty_raft_applied_index"] - before
        self.assertGreaterEqual(blocks, BLOCKS)
        self.assertEqual(m["treaty_apply_entries_sum"], blocks, m)  # each block once
        self.assertEqual(self.bucket(m, "treaty_apply_entries", MAX_ENTRIES), count, m)
        self.assertLess(self.bucket(m, "treaty_apply_entries", 2), count, m)
        self.assertGreaterEqual(count, blocks / MAX_ENTRIES)

    def test_2_bytes_bound(self):
        block = len(json.dumps(shipment(0), separators=(",", ":")))
        self.assertGreater(block, MAX_BYTES)  # a block, which holds the record, is larger still
        before, m = self.catch_up(self.globex)
        count = m["treaty_apply_entries_count"]
        blocks = m["treaty_raft_applied_index"] - before
        self.assertGreaterEqual(blocks, BLOCKS)
        self.assertEqual(m["treaty_apply_entries_sum"], blocks, m)
        # A block of a record was applied alone: the blocks applied in company are at most the
        # few small ones that are not records (a new term's first entry, a checkpoint), which
        # may share an apply.
        alone = self.bucket(m, "treaty_apply_entries", 1)
        self.assertLessEqual(m["treaty_apply_entries_sum"] - alone, blocks - BLOCKS, m)
        self.assertGreaterEqual(alone, BLOCKS, m)
        # ... although blocks reached it several at once
        self.assertLess(self.bucket(m, "treaty_persist_entries", 1),
                        m["treaty_persist_entries_count"], m)

    def test_3_out_of_range_refused_at_start(self):
        node = self.globex
        wait_for(lambda: self.applied(node) == node.head()["height"], 10, "globex applied")
        self.assertEqual(node.stop(), 0, node.log_tail())
        for key, bad, good in (("apply_max_bytes", MAX_BYTES - 1, MAX_BYTES),
                               ("apply_max_entries", 0, 256)):
            set_store(node, **{key: bad})
            p = subprocess.run([TREATY, "node", "--dir", node.dir], capture_output=True,
                               text=True, timeout=30)
            self.assertNotEqual(p.returncode, 0, p.stdout + p.stderr)
            self.assertIn("store." + key, p.stdout + p.stderr)
            set_store(node, **{key: good})
        node.start()
        self.net.wait_converged(timeout=60)


if __name__ == "__main__":
    TREATY, SCHEMA = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    unittest.main(argv=[sys.argv[0]] + sys.argv[3:], verbosity=2)
