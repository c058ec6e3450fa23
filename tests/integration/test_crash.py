"""test_crash.py — no acknowledged write is lost when nodes are killed (SIGKILL) under load.

  python3 test_crash.py TREATY_BINARY SCHEMA [test names...]

A 3-org network takes Shipment creates through acme from 16 client threads while, four times,
a node is killed with SIGKILL — the leader in rounds 0 and 2, a follower otherwise — and started
again two seconds later. Afterwards every node must converge and serve every record whose create
was answered 201 (the write path persists on a worker thread and sends the leader's appends in
parallel with its own persist: docs/performance.md "Write path").
"""
import os
import random
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

TREATY = SCHEMA = None
ROUNDS = int(os.environ.get("CRASH_ROUNDS", "4"))


def shipment(i):
    return {"shipmentId": "SHP-%07d" % i, "origin": "Rotterdam", "destination": "Chicago",
            "carrier": "globex", "status": "created", "weightKg": 3}


class Crash(unittest.TestCase):
    def setUp(self):
        self.net = harness.Network(TREATY, SCHEMA, ["acme", "globex", "initech"])
        self.net.start()

    def tearDown(self):
        self.net.close(keep=harness.failed(self))

    def test_kill9_loses_no_acknowledged_write(self):
        acme = self.net.nodes[0]
        acked, lock, stop = set(), threading.Lock(), threading.Event()
        counter = iter(range(10 ** 9))

        def worker():
            while not stop.is_set():
                with lock:
                    i = next(counter)
                try:
                    st, _, _ = acme.http("POST", "/v1/data/Shipment", shipment(i), timeout=10)
                except (OSError, harness.HttpError, harness.httpc.HTTPException):
                    time.sleep(0.05)
                    continue
                if st == 201:
                    with lock:
                        acked.add(i)

        threads = [threading.Thread(target=worker) for _ in range(16)]
        for t in threads:
            t.start()
        rng = random.Random(int(os.environ.get("CRASH_SEED", "1")))
        try:
            for rnd in range(ROUNDS):
                time.sleep(3)
                lead = self.net.leader()
                victim = lead if lead is not None and rnd % 2 == 0 else rng.choice(
                    self.net.nodes[1:])
                victim.kill9()
                time.sleep(2)
                victim.start()
                self.net.wait_leader(30)
            time.sleep(2)
        finally:
            stop.set()
            for t in threads:
                t.join()
        self.assertGreater(len(acked), 0, "no write was acknowledged")
        self.net.wait_converged(timeout=60)
        for n in self.net.nodes:
            lost = [i for i in sorted(acked)
                    if n.http("GET", "/v1/data/Shipment/SHP-%07d" % i)[0] != 200]
            self.assertEqual(lost, [], "%s lost %d of %d acknowledged writes" % (
                n.org, len(lost), len(acked)))


if __name__ == "__main__":
    TREATY, SCHEMA = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    unittest.main(argv=[sys.argv[0]] + sys.argv[3:], verbosity=2)
