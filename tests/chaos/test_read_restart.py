"""test_read_restart.py — a linearizable read on a restarted node is never answered with a read
index the leader computed for the node's previous run.
  python3 test_read_restart.py TREATY_BINARY

Regression test for the stale read the fault harness found (seed 10 of the short schedule): a
follower asks the leader for a read index with a ReadIndexReq frame carrying a read id, and the
leader queues its answer on the link to the follower. That queue outlives a restart of the
follower; read ids restarted at 1 with every process, so an answer computed for the previous
run — before a write it must see — matched the first read of the new run, which then missed an
acknowledged write. Here the links into the follower go through a proxy (tests/chaos/proxy.py):
 1. block every link into the follower; its first linearizable read makes the leader queue
    answers for read id 1 with the commit index of that moment; the read times out (503);
 2. kill -9 the follower; write K through the leader (acknowledged by the other two);
 3. restart the follower, start a linearizable read of K there, then unblock the links: the
    leader's queue (the stale answers first) reaches the new run.
The read must find K (200), or fail with 503, never answer 404.
"""
import os
import shutil
import sys
import tempfile
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import cluster as cl  # noqa: E402
import proxy  # noqa: E402

TREATY = None
SCHEMA = os.path.join(HERE, "chaos-schema.json")


class ReadAfterRestart(unittest.TestCase):
    def setUp(self):
        self.root = tempfile.mkdtemp(prefix="treaty-readrestart-")
        self.c = cl.Cluster(os.path.abspath(TREATY), SCHEMA, 3, "loopback", self.root, 16)
        self.c.init()
        self.p = proxy.ProxySet(self.c.proxy_nodes(), 1)
        self.p.start()
        for n in self.c.nodes:
            n.start()

    def tearDown(self):
        codes = self.c.teardown()
        self.p.stop()
        if any(c not in (0, None) for c in codes.values()) or getattr(self, "failed", False):
            for n in self.c.nodes:
                with open(n.log_path, errors="replace") as f:
                    print("--- %s ---\n%s" % (n.org, f.read()[-6000:]), file=sys.stderr)
        shutil.rmtree(self.root, ignore_errors=True)

    def wait_up(self, node, timeout):
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                if node.head(timeout=1.0) is not None:
                    return True
            except OSError:
                pass
            time.sleep(0.05)
        return False

    def test_first_read_after_restart(self):
        self.failed = True
        lead = self.c.wait_leader(60.0)
        self.assertIsNotNone(lead, "no leader within 60 s")
        f = [n for n in self.c.nodes if n is not lead][0]
        # the follower's first linearizable read (its run's first read id) is the blocked one
        self.p.set_link("*", f.slot, blocked=True)
        st, _, body = f.http("GET", "/v1/data/Shipment/SHP-0001?consistency=linearizable",
                             timeout=15)
        self.assertEqual(st, 503, "the read should time out while the leader cannot answer: %s"
                         % (body,))
        f.kill9()
        key = "SHP-%d" % (int(time.time() * 1000) % 10**12)
        st, _, body = lead.http("POST", "/v1/data/Shipment", {
            "shipmentId": key, "origin": "here", "destination": "there", "status": "created"})
        self.assertIn(st, (200, 201), body)

        f.start()
        self.assertTrue(self.wait_up(f, 30.0), "the follower did not restart")
        got = {}

        def read():
            got["r"] = f.http("GET", "/v1/data/Shipment/%s?consistency=linearizable" % key,
                              timeout=15)

        t = threading.Thread(target=read)
        t.start()
        time.sleep(0.3)  # the read is registered, its id taken, before the queue can flush
        self.p.set_link("*", f.slot, blocked=False)
        t.join(20)
        self.assertFalse(t.is_alive(), "the read got no answer within 20 s")
        st, _, body = got["r"]
        self.assertNotEqual(st, 404, "stale read: %s was acknowledged before the read began" % key)
        self.assertIn(st, (200, 503), body)
        # and once the links are open the read is served
        deadline = time.time() + 20
        while time.time() < deadline:
            st, _, body = f.http("GET", "/v1/data/Shipment/%s?consistency=linearizable" % key)
            if st == 200:
                break
            time.sleep(0.2)
        self.assertEqual(st, 200, body)
        self.failed = False


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: test_read_restart.py TREATY_BINARY")
    TREATY = sys.argv.pop(1)
    unittest.main(verbosity=2)
