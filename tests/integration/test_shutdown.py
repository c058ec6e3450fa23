#!/usr/bin/env python3
"""A node stopped by SIGTERM while it still owes a client an answer exits 0: the pending write
is answered 503 during shutdown, and the connection that carries that answer closes cleanly
(it once aborted on libuv's double-close assertion, found by `treaty demo` stopped mid-tour).

  python3 test_shutdown.py TREATY_BINARY SCHEMA
"""
import os
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

TREATY = ""
SCHEMA = ""


class TestShutdown(unittest.TestCase):
    def setUp(self):
        self.net = harness.Network(TREATY, SCHEMA, ["acme", "globex", "initech"])
        self.net.start()

    def tearDown(self):
        if harness.failed(self):
            print(self.net.logs())
        self.net.close()

    def test_sigterm_with_a_write_waiting(self):
        acme, globex, initech = self.net.nodes
        globex.kill9()
        initech.kill9()  # acme alone: no majority, so its write waits
        answer = {}

        def write():
            try:
                answer["status"], _, answer["body"] = acme.http(
                    "POST", "/v1/data/Shipment",
                    {"shipmentId": "SHP-0001", "origin": "Rotterdam", "destination": "Chicago",
                     "carrier": "globex", "status": "created"}, timeout=30)
            except OSError as e:  # the connection closed before an answer
                answer["error"] = e

        t = threading.Thread(target=write)
        t.start()
        time.sleep(0.5)
        self.assertTrue(t.is_alive(), "the write should wait for a majority: %r" % answer)
        rc = acme.stop()
        t.join(30)
        self.assertEqual(rc, 0, acme.log_tail())
        self.assertNotIn("Assertion", acme.log_tail())
        if "status" in answer:
            self.assertEqual(answer["status"], 503, answer)


if __name__ == "__main__":
    TREATY = os.path.abspath(sys.argv[1])
    SCHEMA = os.path.abspath(sys.argv[2])
    del sys.argv[1:3]
    unittest.main(verbosity=2)
