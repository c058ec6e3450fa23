"""test_connect_replay.py — a connector that lost its state writes nothing twice.

  python3 test_connect_replay.py TREATY_BINARY SCHEMA
  CONNECT_ALL_RECORDS=N (default 200) records are seeded in each double.

One `treaty connect` with an inbound connector of every kind (Salesforce, HubSpot, Dynamics 365,
SAP) syncs N records from each double into a 3-org network. Then it is killed with SIGKILL and
its state directory is removed: every cursor and synced hash is gone. That is what a crash leaves
for the page in flight (its cursor and hashes are stored only once the whole page is committed),
here for every page at once. Restarted, each job reads every record again and writes it again with
the same Idempotency-Key (a create included: its first attempt was a PUT the node answered 404,
then a POST); the node answers each from the first write. So every record stays at version 1, and
each job's `records` counter shows the N writes were sent and answered.
"""
import os
import shutil
import signal
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import wait_for  # noqa: E402
import test_connect_all as all_kinds  # noqa: E402
from connect_common import ConnectCase  # noqa: E402


class ConnectReplayTest(all_kinds.AllKinds):
    DIRECTION, HOOK = "inbound", False

    def inbound_records(self):
        """Each connector's inbound `records` counter, or None while the status is unreadable."""
        s = self.status()
        if not s:
            return None
        return {c["name"]: sum(j["records"] for j in c["jobs"]) for c in s["connectors"]}

    def test_replay_without_state(self):
        n = all_kinds.N
        keys = self.seed(0)
        self.start_connect()
        wait_for(lambda: len(self.ledger_all()) >= len(keys), 120 + len(keys) / 10,
                 "every record inbound")
        self.wait_settled(180 + len(keys) / 5, "the first sync")
        self.assert_all_version_1(keys)
        first = self.inbound_records()
        self.assertEqual(first, {s: n for s in all_kinds.SYSTEMS}, "each record written once")

        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)
        shutil.rmtree(self.cfg["state_dir"])
        self.start_connect()
        wait_for(lambda: (self.inbound_records() or {}) == first, 120 + len(keys) / 10,
                 "every record read and written again after the state was lost")
        self.wait_settled(180 + len(keys) / 5, "the replay")
        self.assert_all_version_1(keys)
        s = self.status()
        for c in s["connectors"]:
            for j in c["jobs"]:
                self.assertEqual(j["dead_letters"], 0, (c["name"], j))
        self.proc.send_signal(signal.SIGTERM)
        self.assertEqual(self.proc.wait(timeout=20), 0)


if __name__ == "__main__":
    ConnectCase.TREATY, all_kinds.SCHEMA = sys.argv[1], sys.argv[2]
    unittest.main(argv=[sys.argv[0]] + sys.argv[3:], verbosity=2, failfast=True)
