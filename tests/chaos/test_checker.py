"""test_checker.py — the checker must catch what it claims to catch: made-up histories with one
known fault each (a lost acknowledged write, a duplicate, a phantom record, a stale read, a
read of a value the final state does not hold) against a fake cluster; and a plan is a function
of its seed. No node runs here."""
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import checker  # noqa: E402
import scheduler  # noqa: E402
from workload import Op  # noqa: E402


class FakeNode:
    def __init__(self, org, records):
        self.org = org
        self.records = records  # key -> list of (tx, version)

    def http(self, method, path, body=None, headers=None, timeout=10.0):
        items = [{"shipmentId": k, "_tx": tx, "_version": ver}
                 for k, vs in sorted(self.records.items()) for (tx, ver) in vs]
        return 200, {}, {"items": items}


class FakeCluster:
    def __init__(self, *states):
        self.nodes = [FakeNode("org%d" % i, s) for i, s in enumerate(states)]


def op(kind, key, start, end, status, tx=None):
    o = Op(kind, "org0", key)
    o.start, o.end, o.status, o.tx = start, end, status, tx
    return o


class CheckerTest(unittest.TestCase):
    def test_clean_history_passes(self):
        ops = [op("write", "SHP-0001", 1, 2, 201, "t1"), op("read", "SHP-0001", 3, 4, 200, "t1"),
               op("read", "SHP-0002", 0.5, 1, 404), op("write", "SHP-0002", 1, 9, "timeout")]
        state = {"SHP-0001": [("t1", 1)]}
        final, v = checker.writes(FakeCluster(state, dict(state)), ops)
        self.assertEqual(v, [])
        checked, rv = checker.reads(ops, final)
        self.assertEqual((checked, rv), (2, []))

    def test_lost_acknowledged_write(self):
        ops = [op("write", "SHP-0001", 1, 2, 201, "t1")]
        _, v = checker.writes(FakeCluster({"SHP-0001": [("t1", 1)]}, {}), ops)
        whats = " ".join(x["what"] for x in v)
        self.assertIn("org1: acknowledged write of SHP-0001 is missing", whats)
        self.assertIn("differ", whats)

    def test_duplicate_and_phantom(self):
        ops = [op("write", "SHP-0001", 1, 2, 201, "t1")]
        state = {"SHP-0001": [("t1", 1), ("t1", 1)], "SHP-0777": [("tx", 1)]}
        _, v = checker.writes(FakeCluster(state), ops)
        whats = " ".join(x["what"] for x in v)
        self.assertIn("SHP-0001 listed as", whats)
        self.assertIn("SHP-0777 exists but was never written", whats)

    def test_second_version_is_a_double_apply(self):
        ops = [op("write", "SHP-0001", 1, 2, 201, "t1")]
        _, v = checker.writes(FakeCluster({"SHP-0001": [("t9", 2)]}), ops)
        self.assertEqual(len(v), 2)  # not version 1, and not the acknowledged tx

    def test_stale_reads(self):
        ops = [op("write", "SHP-0001", 1, 2, 201, "t1"), op("read", "SHP-0001", 2.5, 3, 404),
               op("write", "SHP-0002", 1, 9, 202), op("read", "SHP-0002", 3, 4, 200, "t2"),
               op("read", "SHP-0002", 5, 6, 404),
               # overlapping the acknowledgement: may miss it
               op("read", "SHP-0001", 1.5, 3, 404)]
        final = {"SHP-0001": [("t1", 1)], "SHP-0002": [("t2", 1)]}
        checked, v = checker.reads(ops, final)
        self.assertEqual(checked, 4)
        self.assertEqual(len(v), 2, v)
        self.assertTrue(all("stale read" in x["what"] for x in v))

    def test_read_of_a_value_not_in_the_final_state(self):
        ops = [op("write", "SHP-0003", 1, 9, "conn"), op("read", "SHP-0003", 3, 4, 200, "t3")]
        _, v = checker.reads(ops, {})
        self.assertEqual(len(v), 1)
        self.assertIn("not in the final state", v[0]["what"])
        _, v = checker.reads(ops, {"SHP-0003": [("other", 1)]})
        self.assertIn("final state has other", v[0]["what"])

    def test_plan_replays_from_its_seed(self):
        a = scheduler.plan(42, 5, 300)
        self.assertEqual(a, scheduler.plan(42, 5, 300))
        self.assertNotEqual(a, scheduler.plan(43, 5, 300))
        self.assertEqual({f["kind"] for f in a}, set(scheduler.KINDS) | {"membership"})
        for f in a:
            self.assertTrue(4.0 <= f["dur"] <= 12.0)
            self.assertLessEqual(f["at"] + f["dur"], 298)
            for (x, y) in f.get("links", []):
                self.assertTrue(0 <= x < 5 and 0 <= y < 5 and x != y)


if __name__ == "__main__":
    unittest.main()
